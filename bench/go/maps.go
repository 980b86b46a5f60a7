package bench

import (
	"fmt"
	"time"
)

// What bench/go/syncmap and bench/go/lockedmap, the Go twins of
// bench/syncmap.c, share: the keys, the random stream, the operation mix
// and the checks. Each program keeps its own loop so that its map
// operations are direct calls, as on the C side.

const (
	// MapKeys is the number of keys, "k0000000".."k0000999".
	MapKeys = 1000
	// MapFibers is the number of goroutines sharing the map.
	MapFibers = 4
	// MapTag: every value stored under key k is (k+1) + MapTag*m.
	MapTag = 1024
	// MapStoreEvery: an operation is a store when r % MapStoreEvery == 0.
	MapStoreEvery = 100
)

// MapKeyNames returns the 1,000 keys, 8 bytes each.
func MapKeyNames() []string {
	keys := make([]string, MapKeys)
	for k := range keys {
		keys[k] = fmt.Sprintf("k%07d", k)
	}
	return keys
}

// SplitMix64 advances *state and returns the next number of the stream,
// the same generator as bench/syncmap.c's.
func SplitMix64(state *uint64) uint64 {
	*state += 0x9e3779b97f4a7c15
	z := *state
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// MapTally is one goroutine's counts, added up by MapCheck.
type MapTally struct {
	Loads, Hits, Stores, BadTags, LoadSum int64
}

// Add adds t's counts to s.
func (s *MapTally) Add(t MapTally) {
	s.Loads += t.Loads
	s.Hits += t.Hits
	s.Stores += t.Stores
	s.BadTags += t.BadTags
	s.LoadSum += t.LoadSum
}

// Hit counts a load of key k that found v.
func (s *MapTally) Hit(k, v int64) {
	tag := v % MapTag
	s.Hits++
	if tag != k+1 {
		s.BadTags++
	}
	s.LoadSum += tag
}

// MapEntryBad tells whether value is not a well-tagged value of key.
func MapEntryBad(keys []string, key string, value int64) bool {
	tag := value % MapTag
	return tag == 0 || tag > MapKeys || key != keys[tag-1]
}

// MapFinish adds up the goroutines' tallies, checks them and the map's
// final contents (MapCheck), and prints the detail and result lines.
func (p Program) MapFinish(tallies []MapTally, n, entries, badEntries int64, elapsed time.Duration) {
	var total MapTally
	for _, t := range tallies {
		total.Add(t)
	}
	p.MapCheck(total, n, entries, badEntries)
	fmt.Printf("# fibers %d, keys %d, ops %d (loads %d, stores %d), total %.1f ms\n",
		MapFibers, MapKeys, n, total.Loads, total.Stores, Ms(elapsed))
	p.Resultf("%.1f ns/op", Per(elapsed, n))
}

// MapCheck fails unless the tallies add up: loads + stores == n, every load
// hit, no load returned another key's value, and the map afterwards held
// exactly MapKeys entries (entries), none of them bad (badEntries).
func (p Program) MapCheck(t MapTally, n, entries, badEntries int64) {
	if t.Loads+t.Stores != n {
		p.Failf("%d loads + %d stores, want %d ops", t.Loads, t.Stores, n)
	}
	if t.Hits != t.Loads {
		p.Failf("%d of %d loads hit, want all", t.Hits, t.Loads)
	}
	if t.BadTags != 0 {
		p.Failf("%d loads returned another key's value", t.BadTags)
	}
	if entries != MapKeys || badEntries != 0 {
		p.Failf("map holds %d entries (%d bad) afterwards, want %d", entries, badEntries,
			MapKeys)
	}
}
