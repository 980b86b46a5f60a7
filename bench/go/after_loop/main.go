// Command after_loop is the Go twin of bench/after_loop.c: the cost of
// creating and abandoning a time.After timer in every iteration of a select
// loop, on a single P.
//
// Each iteration main sends the iteration number into a channel of capacity
// 1 (empty at that point, so the send never blocks), then runs
//
//	select { case v := <-ch: ...; case <-time.After(time.Second): }
//
// The channel case is always ready and the timer is a second away, so the
// select takes the value at once: what is measured is the timer's creation
// and abandonment (plus one buffered send, receive and select). Go keeps
// every abandoned time.After timer until it fires. The sum of the received
// values must be N*(N-1)/2; a timer case that fires (a one-second stall) is
// a failure. Reported: wall time / N. Run with GOMAXPROCS=1.
package main

import (
	"fmt"
	"time"

	"ringo/bench"
)

const prog bench.Program = "after_loop"

func main() {
	n := prog.N(1000000)
	ch := make(chan int64, 1)
	var sum int64
	timedOutAt := int64(-1)

	t0 := time.Now()
loop:
	for i := int64(0); i < n; i++ {
		ch <- i
		select {
		case v := <-ch:
			sum += v
		case <-time.After(time.Second):
			timedOutAt = i
			break loop
		}
	}
	elapsed := time.Since(t0)

	if timedOutAt >= 0 {
		prog.Failf("iteration %d: the 1 s timer fired before "+
			"the ready channel was taken", timedOutAt)
	}
	prog.CheckSum(sum, bench.Triangle(n))
	fmt.Printf("# iterations %d, total %.1f ms\n", n, bench.Ms(elapsed))
	prog.Resultf("%.1f ns/iter", bench.Per(elapsed, n))
}
