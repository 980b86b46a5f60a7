// Command fanin is the Go twin of bench/fanin.c: a receiving select over
// four unbuffered channels, each fed by its own sending goroutine.
//
// Producer p sends the values [p*N/4, (p+1)*N/4) on its own unbuffered
// chan int64 p, so together they send 0..N-1 once each. Main loops a
// four-case select until it has received N values, counting per channel
// and summing. The counts must match the ranges and the sum must be
// N*(N-1)/2. Reported: wall time (start to last value) / N. Run with
// GOMAXPROCS=2.
package main

import (
	"fmt"
	"time"

	"ringo/bench"
)

const prog bench.Program = "fanin"

const channels = 4

func main() {
	n := prog.N(1000000)
	var chans [channels]chan int64
	for c := range chans {
		chans[c] = make(chan int64)
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
			prog.Failf("channel %d delivered %d, want %d", c, count[c], want)
		}
	}
	prog.CheckSum(sum, bench.Triangle(n))
	fmt.Printf("# selects %d over %d unbuffered channels, total %.1f ms\n",
		n, channels, bench.Ms(elapsed))
	prog.Resultf("%.1f ns/select", bench.Per(elapsed, n))
}
