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
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"time"
)

// benchN returns BENCH_N if set (for quick smoke runs), else def.
func benchN(def int64) int64 {
	s := os.Getenv("BENCH_N")
	if s == "" {
		return def
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		fmt.Fprintf(os.Stderr, "yield: bad BENCH_N %q\n", s)
		os.Exit(2)
	}
	return v
}

func main() {
	m := benchN(5000000)
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
		fmt.Fprintf(os.Stderr, "yield: main counted %d, child %d, want %d each\n",
			mainCount, childCount, m)
		os.Exit(1)
	}
	fmt.Printf("# yields %d per side, total %.1f ms\n", m, float64(elapsed.Nanoseconds())/1e6)
	fmt.Printf("yield: %.1f ns/switch\n", float64(elapsed.Nanoseconds())/float64(2*m))
}
