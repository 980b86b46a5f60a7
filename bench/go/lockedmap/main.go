// Command lockedmap is the Go twin of bench/syncmap.c built as lockedmap: a
// read-mostly map[string]int64 behind a sync.RWMutex (RLock for loads, Lock
// for stores), shared by four goroutines.
//
// The same keys, preload, operation stream and checks as bench/go/syncmap:
// 1,000 keys "k0000000".."k0000999" preloaded with k+1; goroutine f does the
// operations [N*f/4, N*(f+1)/4) of 0..N-1, drawing r from splitmix64 seeded
// with f+1, key (r >> 32) % 1000, a store of (k+1) + 1024*(j+1) if
// r % 100 == 0, else a load. Reported: wall time (first start to Wait
// returning) / N. Run with GOMAXPROCS=2.
package main

import (
	"sync"
	"time"

	"ringo/bench"
)

const prog bench.Program = "lockedmap"

func main() {
	n := prog.N(20000000)
	keys := bench.MapKeyNames()
	var rw sync.RWMutex
	m := make(map[string]int64) // guarded by rw
	for k, key := range keys {
		m[key] = int64(k + 1)
	}
	var wg sync.WaitGroup
	var tallies [bench.MapFibers]bench.MapTally

	t0 := time.Now()
	wg.Add(bench.MapFibers)
	for f := int64(0); f < bench.MapFibers; f++ {
		go func(f, lo, hi int64) {
			var t bench.MapTally
			rng := uint64(f + 1)
			for j := lo; j < hi; j++ {
				r := bench.SplitMix64(&rng)
				k := int64((r >> 32) % bench.MapKeys)
				if r%bench.MapStoreEvery == 0 {
					rw.Lock()
					m[keys[k]] = (k + 1) + bench.MapTag*(j+1)
					rw.Unlock()
					t.Stores++
				} else {
					t.Loads++
					rw.RLock()
					v, ok := m[keys[k]]
					rw.RUnlock()
					if ok {
						t.Hit(k, v)
					}
				}
			}
			tallies[f] = t
			wg.Done()
		}(f, n*f/bench.MapFibers, n*(f+1)/bench.MapFibers)
	}
	wg.Wait()
	elapsed := time.Since(t0)

	var entries, bad int64
	rw.RLock()
	for key, value := range m {
		entries++
		if bench.MapEntryBad(keys, key, value) {
			bad++
		}
	}
	rw.RUnlock()
	prog.MapFinish(tallies[:], n, entries, bad, elapsed)
}
