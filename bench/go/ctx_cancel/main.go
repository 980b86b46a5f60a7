// Command ctx_cancel is the Go twin of bench/ctx_cancel.c: how long
// cancelling the root of a large context tree takes to reach 100,000
// goroutines blocked on its leaves.
//
// Main builds a 10-ary tree of context.WithCancel contexts five levels deep
// under a root (WithCancel of Background), 111,111 contexts with 100,000
// leaves, in heap order (node i's parent is (i-1)/10, the leaves are the
// last 100,000). It starts one goroutine per leaf, which takes the leaf's
// Done channel, signals "ready" on a sync.WaitGroup and blocks in
// <-ctx.Done(); once woken it checks ctx.Err() == context.Canceled, counts
// itself (sync/atomic) and calls Done on a second WaitGroup. Main waits for
// every "ready" and sleeps 10 ms so the last few are parked too. Then,
// timed: the root's cancel func and the second Wait. Check: all 100,000
// observed the cancellation. Reported: that time in ms; the build time and
// the teardown (each remaining cancel func called once) are detail lines.
// Run with GOMAXPROCS=2.
package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"ringo/bench"
)

const prog bench.Program = "ctx_cancel"

const (
	div       = 10
	maxLeaves = 10000000
)

func main() {
	n := prog.N(100000)
	var nodes int64
	depth := 0
	for p := int64(1); ; p *= div {
		nodes += p
		if p == n {
			break
		}
		if p > n/div || p >= maxLeaves {
			fmt.Fprintf(os.Stderr, "%s: BENCH_N %d is not a power of %d up to %d\n",
				prog, n, div, maxLeaves)
			os.Exit(2)
		}
		depth++
	}

	ctxs := make([]context.Context, nodes)
	cancels := make([]context.CancelFunc, nodes)
	t0 := time.Now()
	ctxs[0], cancels[0] = context.WithCancel(context.Background())
	for i := int64(1); i < nodes; i++ {
		ctxs[i], cancels[i] = context.WithCancel(ctxs[(i-1)/div])
	}
	build := time.Since(t0)

	var ready, wg sync.WaitGroup
	var observed int64
	ready.Add(int(n))
	wg.Add(int(n))
	for _, leaf := range ctxs[nodes-n:] {
		go func(ctx context.Context) {
			done := ctx.Done()
			ready.Done()
			<-done
			if ctx.Err() == context.Canceled {
				atomic.AddInt64(&observed, 1)
			}
			wg.Done()
		}(leaf)
	}
	ready.Wait()
	time.Sleep(10 * time.Millisecond)

	t0 = time.Now()
	cancels[0]()
	wg.Wait()
	elapsed := time.Since(t0)

	// The root's cancel was the timed one.
	t0 = time.Now()
	for i := nodes - 1; i >= 1; i-- {
		cancels[i]()
	}
	teardown := time.Since(t0)

	if got := atomic.LoadInt64(&observed); got != n {
		prog.Failf("%d goroutines observed the cancellation, want %d", got, n)
	}
	fmt.Printf("# contexts %d (%d-ary, depth %d), waiting fibers %d\n", nodes, div, depth, n)
	fmt.Printf("# build %.1f ms, teardown %.1f ms, cancel-to-all-woken %.1f ns/fiber\n",
		bench.Ms(build), bench.Ms(teardown), bench.Per(elapsed, n))
	prog.Resultf("%.1f ms", bench.Ms(elapsed))
}
