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

	"ringo/bench"
)

const prog bench.Program = "parked_rss"

// rssBytes reads the resident set from /proc/self/statm (second field, in
// pages), the same source the C side uses.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		prog.Failf("%v", err)
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		prog.Failf("malformed statm %q", b)
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		prog.Failf("malformed statm %q", b)
	}
	return pages * int64(os.Getpagesize())
}

func main() {
	n := prog.N(1000000)
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
	prog.Resultf("%.0f bytes/fiber", float64(after-before)/float64(n))
}
