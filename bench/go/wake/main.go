// Command wake is the Go twin of bench/wake.c: how long an idle P/M takes to
// pick up a newly started goroutine while the spawning goroutine keeps its
// own P busy.
//
// Each iteration main sleeps 200µs (so the other M runs out of work and parks
// in the kernel), takes t0, starts a goroutine that records the time it
// started running, and then spins without yielding until that timestamp
// appears. As main never gives up its P, the goroutine can only run if
// another M is woken and steals it. Latency = timestamp - t0.
// Run with GOMAXPROCS=2. Reported: the median over K iterations.
package main

import (
	"fmt"
	"sort"
	"sync/atomic"
	"time"

	"ringo/bench"
)

const prog bench.Program = "wake"

// A wake that takes this long means nobody was woken; fail instead of
// spinning until the harness timeout.
const giveUp = 2 * time.Second

// base makes monotonic timestamps expressible as a plain int64 (the C side
// uses ringo_now()). Since main runs well after base is set, no real
// timestamp is 0, which is the "not yet" value.
var base = time.Now()

func now() int64 { return time.Since(base).Nanoseconds() }

// pct returns the q-th percentile of sorted (nearest rank, same as wake.c).
func pct(sorted []int64, q int) int64 {
	i := len(sorted) * q / 100
	if i >= len(sorted) {
		i = len(sorted) - 1
	}
	return sorted[i]
}

func main() {
	k := prog.N(2000)
	lat := make([]int64, k)
	var wokeAt, ran int64

	for i := int64(0); i < k; i++ {
		time.Sleep(200 * time.Microsecond)
		atomic.StoreInt64(&wokeAt, 0)
		t0 := now()
		go func() {
			// Timestamp first: the counter update is bookkeeping and
			// must not be part of the measured latency. It precedes the
			// store so that main, once it sees the timestamp, also sees
			// the count.
			t := now()
			atomic.AddInt64(&ran, 1)
			atomic.StoreInt64(&wokeAt, t)
		}()
		var t int64
		for spins := 0; ; spins++ {
			if t = atomic.LoadInt64(&wokeAt); t != 0 {
				break
			}
			if spins&0xfff == 0xfff && now()-t0 > int64(giveUp) {
				prog.Failf("iteration %d: goroutine not started after %v", i, giveUp)
			}
		}
		lat[i] = t - t0
	}

	if got := atomic.LoadInt64(&ran); got != k {
		prog.Failf("%d goroutines ran, want %d", got, k)
	}
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	fmt.Printf("# iterations %d\n", k)
	fmt.Printf("# p50 %d p90 %d p99 %d max %d ns\n",
		pct(lat, 50), pct(lat, 90), pct(lat, 99), lat[k-1])
	prog.Resultf("%d ns", pct(lat, 50))
}
