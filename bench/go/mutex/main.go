// Command mutex is the Go twin of bench/mutex.c: the cost of a contended
// sync.Mutex, 1,000 goroutines.
//
// Main starts 1,000 goroutines; goroutine f does its share [N*f/1000,
// N*(f+1)/1000) of N Lock / counter++ / Unlock rounds on one mutex and then
// calls Done on a sync.WaitGroup, which main waits on. The counter must end
// at exactly N. Reported: wall time (first start to Wait returning) / N, one
// lock + increment + unlock. Run with GOMAXPROCS=2.
package main

import (
	"fmt"
	"sync"
	"time"

	"ringo/bench"
)

const prog bench.Program = "mutex"

const fibers = 1000

func main() {
	n := prog.N(10000000)
	var mu sync.Mutex
	var counter int64 // guarded by mu
	var wg sync.WaitGroup

	t0 := time.Now()
	wg.Add(fibers)
	for f := int64(0); f < fibers; f++ {
		go func(lo, hi int64) {
			for i := lo; i < hi; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
			wg.Done()
		}(n*f/fibers, n*(f+1)/fibers)
	}
	wg.Wait()
	elapsed := time.Since(t0)

	mu.Lock()
	final := counter
	mu.Unlock()
	if final != n {
		prog.Failf("counter %d, want %d", final, n)
	}
	fmt.Printf("# fibers %d, lock/unlock pairs %d, total %.1f ms\n", fibers, n,
		bench.Ms(elapsed))
	prog.Resultf("%.1f ns/lock", bench.Per(elapsed, n))
}
