// Command spawn is the Go twin of bench/spawn.c: the cost of creating,
// scheduling and finishing a goroutine.
//
// Main starts N goroutines back to back (no yield inside the loop, so the
// spawn path itself is measured), then calls runtime.Gosched until all have
// run. Each goroutine adds its index to a shared sum so the result can be
// checked. Reported: wall time / N. Run with GOMAXPROCS=2.
package main

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"ringo/bench"
)

const prog bench.Program = "spawn"

func main() {
	n := prog.N(1000000)
	var sum, done int64

	t0 := time.Now()
	for i := int64(0); i < n; i++ {
		go func(i int64) {
			atomic.AddInt64(&sum, i)
			atomic.AddInt64(&done, 1)
		}(i)
	}
	// Same wait as the C side: yield, do not block, so the main goroutine
	// keeps competing for a P exactly like the ringo main fiber does.
	for atomic.LoadInt64(&done) != n {
		runtime.Gosched()
	}
	elapsed := time.Since(t0)

	prog.CheckSum(atomic.LoadInt64(&sum), bench.Triangle(n))
	fmt.Printf("# fibers %d, total %.1f ms\n", n, bench.Ms(elapsed))
	prog.Resultf("%.1f ns/fiber", bench.Per(elapsed, n))
}
