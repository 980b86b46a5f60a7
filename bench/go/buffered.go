package bench

import (
	"fmt"
	"time"
)

// Buffered is the body of bench/go/buffered_1x1 and bench/go/buffered_4x4,
// the Go twins of bench/buffered.c: throughput of one buffered channel
// between producers producers and consumers consumers.
//
// The channel carries int64 and has capacity 1024. Producer p sends the
// values [p*N/producers, (p+1)*N/producers), so together they send 0..N-1
// once each, and then tells main on pdone how many it sent. Each consumer
// ranges over the channel and sends its (partial) sum on results. Main
// receives the producer counts, closes the channel, and adds up the
// consumer sums, which must come to N*(N-1)/2 (and the counts to N). No
// sync.WaitGroup: completion goes over channels, as on the C side.
// Reported: wall time (spawn to last sum) / N.
func Buffered(prog Program, producers, consumers int) {
	const capacity = 1024
	n := prog.N(10000000)
	ch := make(chan int64, capacity)
	pdone := make(chan int64, producers)
	results := make(chan int64, consumers)

	t0 := time.Now()
	// Consumers first, as on the C side.
	for c := 0; c < consumers; c++ {
		go func() {
			var s int64
			for v := range ch {
				s += v
			}
			results <- s
		}()
	}
	np := int64(producers)
	for p := int64(0); p < np; p++ {
		go func(lo, hi int64) {
			var count int64
			for i := lo; i < hi; i++ {
				ch <- i
				count++
			}
			pdone <- count
		}(n*p/np, n*(p+1)/np)
	}
	var sent, sum int64
	for p := 0; p < producers; p++ {
		sent += <-pdone
	}
	close(ch)
	for c := 0; c < consumers; c++ {
		sum += <-results
	}
	elapsed := time.Since(t0)

	if sent != n {
		prog.Failf("producers sent %d, want %d", sent, n)
	}
	prog.CheckSum(sum, Triangle(n))
	fmt.Printf("# messages %d, producers %d, consumers %d, capacity %d, total %.1f ms\n",
		n, producers, consumers, capacity, Ms(elapsed))
	prog.Resultf("%.1f ns/msg", Per(elapsed, n))
}
