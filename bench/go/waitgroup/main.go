// Command waitgroup is the Go twin of bench/waitgroup.c: fan-out / fan-in
// with a sync.WaitGroup.
//
// N goroutines in rounds of 10,000 (100 rounds by default; a last, smaller
// round if N is not a multiple). Each round main adds the round's size to
// one WaitGroup, starts that many goroutines, each of which bumps a shared
// atomic counter and calls Done, and then waits. The same WaitGroup serves
// every round. Check: after each Wait the counter must equal the number of
// goroutines started so far. Reported: wall time (first start to last Wait
// returning) / N. Run with GOMAXPROCS=2.
package main

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"ringo/bench"
)

const prog bench.Program = "waitgroup"

const round = 10000

func main() {
	n := prog.N(1000000)
	var wg sync.WaitGroup
	var ran int64
	var rounds int64

	t0 := time.Now()
	for base := int64(0); base < n; base += round {
		size := n - base
		if size > round {
			size = round
		}
		wg.Add(int(size))
		for i := int64(0); i < size; i++ {
			go func() {
				atomic.AddInt64(&ran, 1)
				wg.Done()
			}()
		}
		wg.Wait()
		if got := atomic.LoadInt64(&ran); got != base+size {
			prog.Failf("round %d: Wait returned after %d goroutines, want %d",
				rounds, got, base+size)
		}
		rounds++
	}
	elapsed := time.Since(t0)

	if got := atomic.LoadInt64(&ran); got != n {
		prog.Failf("%d goroutines ran, want %d", got, n)
	}
	fmt.Printf("# fibers %d in %d rounds of up to %d, total %.1f ms\n", n, rounds, round,
		bench.Ms(elapsed))
	prog.Resultf("%.1f ns/fiber", bench.Per(elapsed, n))
}
