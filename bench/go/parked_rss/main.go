// Command parked_rss is the Go twin of bench/parked_rss.c: resident memory
// per blocked goroutine.
//
// Main records RSS, starts N goroutines that each bump a counter and then
// sleep for an hour, waits (sleeping 1 ms at a time) until all N have
// started, and records RSS again. Reported: (after - before) / N. Main then
// returns, which ends the process with the sleepers still parked.
// Run with GOMAXPROCS=2.
package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
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
		fmt.Fprintf(os.Stderr, "parked_rss: bad BENCH_N %q\n", s)
		os.Exit(2)
	}
	return v
}

// rssBytes reads the resident set from /proc/self/statm (second field, in
// pages), the same source the C side uses.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		fmt.Fprintf(os.Stderr, "parked_rss: %v\n", err)
		os.Exit(1)
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		fmt.Fprintf(os.Stderr, "parked_rss: malformed statm %q\n", b)
		os.Exit(1)
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		fmt.Fprintf(os.Stderr, "parked_rss: malformed statm %q\n", b)
		os.Exit(1)
	}
	return pages * int64(os.Getpagesize())
}

func main() {
	n := benchN(1000000)
	var started int64

	before := rssBytes()
	for i := int64(0); i < n; i++ {
		go func() {
			atomic.AddInt64(&started, 1)
			time.Sleep(time.Hour)
		}()
	}
	for atomic.LoadInt64(&started) != n {
		time.Sleep(time.Millisecond)
	}
	after := rssBytes()

	const mib = 1 << 20
	fmt.Printf("# fibers %d, rss before %.1f MiB, after %.1f MiB\n",
		n, float64(before)/mib, float64(after)/mib)
	fmt.Printf("parked_rss: %.0f bytes/fiber\n", float64(after-before)/float64(n))
}
