// Command yield is the Go twin of bench/yield.c: the cost of one context
// switch between two goroutines on a single P.
//
// Main starts one child; both call runtime.Gosched M times, so with
// GOMAXPROCS=1 they alternate and every Gosched is one switch. The child sets
// a done flag at the end; main, once through its own M yields, keeps yielding
// until the flag is set. Reported: wall time / (2*M).
package main

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"ringo/bench"
)

const prog bench.Program = "yield"

func main() {
	m := prog.N(5000000)
	var childDone int32
	var childCount, mainCount int64

	t0 := time.Now()
	go func() {
		var c int64
		for i := int64(0); i < m; i++ {
			runtime.Gosched()
			c++
		}
		childCount = c // published by the atomic store below
		atomic.StoreInt32(&childDone, 1)
	}()
	for i := int64(0); i < m; i++ {
		runtime.Gosched()
		mainCount++
	}
	for atomic.LoadInt32(&childDone) == 0 {
		runtime.Gosched()
	}
	elapsed := time.Since(t0)

	if mainCount != m || childCount != m {
		prog.Failf("main counted %d, child %d, want %d each",
			mainCount, childCount, m)
	}
	fmt.Printf("# yields %d per side, total %.1f ms\n", m, bench.Ms(elapsed))
	prog.Resultf("%.1f ns/switch", bench.Per(elapsed, 2*m))
}
