// Command rwmutex is the Go twin of bench/rwmutex.c: the cost of a
// read-mostly sync.RWMutex, 1,000 goroutines.
//
// Shared state: an array of 16 int64, all zero. Main starts 1,000
// goroutines; goroutine f does the operations [N*f/1000, N*(f+1)/1000) of
// 0..N-1, where operation j is a write if j % 10 == 0 and a read otherwise
// (90% reads). A read takes RLock, sums the 16 values and checks that they
// are all equal, then RUnlocks; a write takes Lock and increments all 16.
// Completion goes through a sync.WaitGroup. Checks: every slot ends at the
// number of writes W = ceil(N/10), the goroutines did N - W reads, and no
// read saw a half-done write. Reported: wall time (first start to Wait
// returning) / N. Run with GOMAXPROCS=2.
package main

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"ringo/bench"
)

const prog bench.Program = "rwmutex"

const (
	fibers     = 1000
	slots      = 16
	writeEvery = 10
)

func main() {
	n := prog.N(10000000)
	var rw sync.RWMutex
	var data [slots]int64 // guarded by rw
	var wg sync.WaitGroup
	var reads, torn, readSum int64

	t0 := time.Now()
	wg.Add(fibers)
	for f := int64(0); f < fibers; f++ {
		go func(lo, hi int64) {
			var myReads, myTorn, mySum int64
			for j := lo; j < hi; j++ {
				if j%writeEvery == 0 {
					rw.Lock()
					for s := range data {
						data[s]++
					}
					rw.Unlock()
				} else {
					rw.RLock()
					first, sum, bad := data[0], int64(0), int64(0)
					for _, v := range data {
						sum += v
						if v != first {
							bad = 1
						}
					}
					rw.RUnlock()
					mySum += sum
					myTorn += bad
					myReads++
				}
			}
			atomic.AddInt64(&reads, myReads)
			atomic.AddInt64(&torn, myTorn)
			atomic.AddInt64(&readSum, mySum)
			wg.Done()
		}(n*f/fibers, n*(f+1)/fibers)
	}
	wg.Wait()
	elapsed := time.Since(t0)

	rw.RLock()
	final := data
	rw.RUnlock()
	writes := (n + writeEvery - 1) / writeEvery
	for s, v := range final {
		if v != writes {
			prog.Failf("slot %d is %d, want %d writes", s, v, writes)
		}
	}
	if r := atomic.LoadInt64(&reads); r != n-writes {
		prog.Failf("%d reads, want %d", r, n-writes)
	}
	if t := atomic.LoadInt64(&torn); t != 0 {
		prog.Failf("%d reads saw a write half done", t)
	}
	fmt.Printf("# fibers %d, ops %d (reads %d, writes %d) on %d slots, total %.1f ms\n",
		fibers, n, n-writes, writes, slots, bench.Ms(elapsed))
	prog.Resultf("%.1f ns/op", bench.Per(elapsed, n))
}
