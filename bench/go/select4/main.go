// Command select4 is the Go twin of bench/select4.c: the cost of a receiving
// select over four buffered channels fed by four producers.
//
// Four chan int64 of capacity 128; producer p sends the values
// [p*N/4, (p+1)*N/4) on its own channel p, so together they send 0..N-1
// once each. Main loops a four-case select until it has received N values,
// counting per channel and summing. A producer whose range is done simply
// stops sending, so nothing is closed. The counts must match the ranges and
// the sum must be N*(N-1)/2.
// Reported: wall time (spawn to last value) / N. Run with GOMAXPROCS=2.
package main

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

const (
	channels = 4
	capacity = 128
)

// benchN returns BENCH_N if set (for quick smoke runs), else def.
func benchN(def int64) int64 {
	s := os.Getenv("BENCH_N")
	if s == "" {
		return def
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		fmt.Fprintf(os.Stderr, "select4: bad BENCH_N %q\n", s)
		os.Exit(2)
	}
	return v
}

func main() {
	n := benchN(4000000)
	var chans [channels]chan int64
	for c := range chans {
		chans[c] = make(chan int64, capacity)
	}
	c0, c1, c2, c3 := chans[0], chans[1], chans[2], chans[3]
	var count [channels]int64
	var sum int64

	t0 := time.Now()
	for p := int64(0); p < channels; p++ {
		go func(ch chan<- int64, lo, hi int64) {
			for i := lo; i < hi; i++ {
				ch <- i
			}
		}(chans[p], n*p/channels, n*(p+1)/channels)
	}
	for i := int64(0); i < n; i++ {
		var v int64
		select {
		case v = <-c0:
			count[0]++
		case v = <-c1:
			count[1]++
		case v = <-c2:
			count[2]++
		case v = <-c3:
			count[3]++
		}
		sum += v
	}
	elapsed := time.Since(t0)

	for c := int64(0); c < channels; c++ {
		if want := n*(c+1)/channels - n*c/channels; count[c] != want {
			fmt.Fprintf(os.Stderr, "select4: channel %d delivered %d, want %d\n", c, count[c], want)
			os.Exit(1)
		}
	}
	if want := n * (n - 1) / 2; sum != want {
		fmt.Fprintf(os.Stderr, "select4: sum %d, want %d\n", sum, want)
		os.Exit(1)
	}
	fmt.Printf("# selects %d over %d channels of capacity %d, total %.1f ms\n",
		n, channels, capacity, float64(elapsed.Nanoseconds())/1e6)
	fmt.Printf("select4: %.1f ns/select\n", float64(elapsed.Nanoseconds())/float64(n))
}
