// Command pingpong_x is the Go twin of bench/pingpong_x.c: pingpong across
// Ps. It is the same program as bench/go/pingpong, run with GOMAXPROCS=2;
// Go's scheduler may well keep both goroutines on one P anyway.
//
// Main starts one child, then sends an int64 counter on ping and waits for
// it to come back on pong; the child receives it, adds one and sends it
// back. The child does exactly N round trips and returns, so nobody closes
// anything. After N round trips the counter must be N.
// Reported: wall time / N. Run with GOMAXPROCS=2.
package main

import (
	"fmt"
	"os"
	"strconv"
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
		fmt.Fprintf(os.Stderr, "pingpong_x: bad BENCH_N %q\n", s)
		os.Exit(2)
	}
	return v
}

func main() {
	n := benchN(1000000)
	ping := make(chan int64)
	pong := make(chan int64)

	t0 := time.Now()
	go func() {
		for i := int64(0); i < n; i++ {
			v := <-ping
			pong <- v + 1
		}
	}()
	var v int64
	for i := int64(0); i < n; i++ {
		ping <- v
		v = <-pong
	}
	elapsed := time.Since(t0)

	if v != n {
		fmt.Fprintf(os.Stderr, "pingpong_x: counter %d, want %d\n", v, n)
		os.Exit(1)
	}
	fmt.Printf("# round trips %d, total %.1f ms\n", n, float64(elapsed.Nanoseconds())/1e6)
	fmt.Printf("pingpong_x: %.1f ns/roundtrip\n", float64(elapsed.Nanoseconds())/float64(n))
}
