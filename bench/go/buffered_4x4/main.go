// Command buffered_4x4 is the Go twin of bench/buffered_4x4.c: throughput of
// one buffered channel shared by 4 producers and 4 consumers.
//
// The channel carries int64 and has capacity 1024. Producer p sends the
// values [p*N/4, (p+1)*N/4), so together they send 0..N-1 once each, and
// then tells main on pdone how many it sent. Each consumer ranges over the
// channel and sends its partial sum on results. Main receives the 4
// producer counts, closes the channel, and adds up the 4 partial sums, which
// must come to N*(N-1)/2 (and the counts to N). No sync.WaitGroup:
// completion goes over channels, as on the C side.
// Reported: wall time (spawn to last sum) / N. Run with GOMAXPROCS=2.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

const (
	producers = 4
	consumers = 4
	capacity  = 1024
)

// benchN returns BENCH_N if set (for quick smoke runs), else def.
func benchN(def int64) int64 {
	s := os.Getenv("BENCH_N")
	if s == "" {
		return def
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		fmt.Fprintf(os.Stderr, "buffered_4x4: bad BENCH_N %q\n", s)
		os.Exit(2)
	}
	return v
}

func main() {
	n := benchN(10000000)
	ch := make(chan int64, capacity)
	pdone := make(chan int64, producers)
	results := make(chan int64, consumers)

	t0 := time.Now()
	// Consumers first, as on the C side.
	for c := 0; c < consumers; c++ {
		go func() {
			var s int64
			for v := range ch {
				s += v
			}
			results <- s
		}()
	}
	for p := int64(0); p < producers; p++ {
		go func(lo, hi int64) {
			var count int64
			for i := lo; i < hi; i++ {
				ch <- i
				count++
			}
			pdone <- count
		}(n*p/producers, n*(p+1)/producers)
	}
	var sent, sum int64
	for p := 0; p < producers; p++ {
		sent += <-pdone
	}
	close(ch)
	for c := 0; c < consumers; c++ {
		sum += <-results
	}
	elapsed := time.Since(t0)

	if sent != n {
		fmt.Fprintf(os.Stderr, "buffered_4x4: producers sent %d, want %d\n", sent, n)
		os.Exit(1)
	}
	if want := n * (n - 1) / 2; sum != want {
		fmt.Fprintf(os.Stderr, "buffered_4x4: sum %d, want %d\n", sum, want)
		os.Exit(1)
	}
	fmt.Printf("# messages %d, producers %d, consumers %d, capacity %d, total %.1f ms\n",
		n, producers, consumers, capacity, float64(elapsed.Nanoseconds())/1e6)
	fmt.Printf("buffered_4x4: %.1f ns/msg\n", float64(elapsed.Nanoseconds())/float64(n))
}
