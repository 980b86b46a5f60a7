package bench

import (
	"fmt"
	"time"
)

// Pingpong is the body of bench/go/pingpong and bench/go/pingpong_x, the Go
// twins of bench/pingpong.c: one round trip between two goroutines over two
// unbuffered channels (the two programs differ only in GOMAXPROCS, 1 and 2).
//
// Main starts one child, then sends an int64 counter on ping and waits for
// it to come back on pong; the child receives it, adds one and sends it
// back. The child does exactly N round trips and returns, so nobody closes
// anything. After N round trips the counter must be N.
// Reported: wall time / N.
func Pingpong(p Program) {
	n := p.N(1000000)
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
		p.Failf("counter %d, want %d", v, n)
	}
	fmt.Printf("# round trips %d, total %.1f ms\n", n, Ms(elapsed))
	p.Resultf("%.1f ns/roundtrip", Per(elapsed, n))
}
