// Command buffered_1x1 is the Go twin of bench/buffered_1x1.c: throughput
// of a buffered channel between one producer and one consumer.
//
// The channel carries int64 and has capacity 1024. The producer sends the
// values 0..N-1 and then tells main on pdone how many it sent. The consumer
// ranges over the channel and sends its sum on results. Main receives the
// producer's count, closes the channel and receives the sum, which must be
// N*(N-1)/2 (and the count N). No sync.WaitGroup: completion goes over
// channels, as on the C side (the same program as bench/go/buffered_4x4 with
// producers = consumers = 1).
// Reported: wall time (spawn to sum) / N. Run with GOMAXPROCS=2.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

const (
	producers = 1
	consumers = 1
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
		fmt.Fprintf(os.Stderr, "buffered_1x1: bad BENCH_N %q\n", s)
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
		fmt.Fprintf(os.Stderr, "buffered_1x1: producers sent %d, want %d\n", sent, n)
		os.Exit(1)
	}
	if want := n * (n - 1) / 2; sum != want {
		fmt.Fprintf(os.Stderr, "buffered_1x1: sum %d, want %d\n", sum, want)
		os.Exit(1)
	}
	fmt.Printf("# messages %d, producers %d, consumers %d, capacity %d, total %.1f ms\n",
		n, producers, consumers, capacity, float64(elapsed.Nanoseconds())/1e6)
	fmt.Printf("buffered_1x1: %.1f ns/msg\n", float64(elapsed.Nanoseconds())/float64(n))
}
