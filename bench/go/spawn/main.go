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
		fmt.Fprintf(os.Stderr, "spawn: bad BENCH_N %q\n", s)
		os.Exit(2)
	}
	return v
}

func main() {
	n := benchN(1000000)
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

	if got, want := atomic.LoadInt64(&sum), n*(n-1)/2; got != want {
		fmt.Fprintf(os.Stderr, "spawn: sum %d, want %d\n", got, want)
		os.Exit(1)
	}
	fmt.Printf("# fibers %d, total %.1f ms\n", n, float64(elapsed.Nanoseconds())/1e6)
	fmt.Printf("spawn: %.1f ns/fiber\n", float64(elapsed.Nanoseconds())/float64(n))
}
