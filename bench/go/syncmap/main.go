// Command syncmap is the Go twin of bench/syncmap.c built as syncmap: a
// read-mostly sync.Map shared by four goroutines.
//
// The map holds 1,000 string keys, "k0000000".."k0000999", preloaded before
// the clock starts with int64 value k+1 for key k. Four goroutines do N
// operations between them, goroutine f the operations [N*f/4, N*(f+1)/4)
// of 0..N-1. Each draws r from its own splitmix64 stream (seeded with f+1);
// key k = (r >> 32) % 1000; a store if r % 100 == 0 (1%), else a load.
// Operation j stores (k+1) + 1024*(j+1). Completion goes through a
// sync.WaitGroup. Checks (bench.MapCheck): loads + stores == N, every load
// hit and returned a value tagged with its key, and the map afterwards
// holds exactly the 1,000 keys with well-tagged values. Reported: wall time
// (first start to Wait returning) / N. Run with GOMAXPROCS=2.
package main

import (
	"sync"
	"time"

	"ringo/bench"
)

const prog bench.Program = "syncmap"

func main() {
	n := prog.N(20000000)
	keys := bench.MapKeyNames()
	var m sync.Map
	for k, key := range keys {
		m.Store(key, int64(k+1))
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
					m.Store(keys[k], (k+1)+bench.MapTag*(j+1))
					t.Stores++
				} else {
					t.Loads++
					if v, ok := m.Load(keys[k]); ok {
						t.Hit(k, v.(int64))
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
	m.Range(func(key, value any) bool {
		entries++
		if bench.MapEntryBad(keys, key.(string), value.(int64)) {
			bad++
		}
		return true
	})
	prog.MapFinish(tallies[:], n, entries, bad, elapsed)
}
