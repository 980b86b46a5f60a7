// Command pipeline is the Go twin of bench/pipeline.c: a source, four
// stages and a sink joined by unbuffered channels.
//
// The source sends 0..N-1 on link 0 and closes it; stage k ranges over
// link k-1, sends each value plus one on link k, and closes link k. Main is
// the sink: it ranges over link 4, counting and summing. The count must be
// N and the sum N*(N-1)/2 + 4N. Reported: wall time (start to the sink's
// last receive) / N. Run with GOMAXPROCS=2.
package main

import (
	"fmt"
	"time"

	"ringo/bench"
)

const prog bench.Program = "pipeline"

const stages = 4

func main() {
	n := prog.N(500000)
	var links [stages + 1]chan int64
	for k := range links {
		links[k] = make(chan int64)
	}
	var count, sum int64

	t0 := time.Now()
	for k := 1; k <= stages; k++ {
		go func(in <-chan int64, out chan<- int64) {
			for v := range in {
				out <- v + 1
			}
			close(out)
		}(links[k-1], links[k])
	}
	go func() {
		for i := int64(0); i < n; i++ {
			links[0] <- i
		}
		close(links[0])
	}()
	for v := range links[stages] {
		count++
		sum += v
	}
	elapsed := time.Since(t0)

	if count != n {
		prog.Failf("sink received %d items, want %d", count, n)
	}
	prog.CheckSum(sum, bench.Triangle(n)+stages*n)
	fmt.Printf("# items %d, stages %d, total %.1f ms\n", n, stages, bench.Ms(elapsed))
	prog.Resultf("%.1f ns/item", bench.Per(elapsed, n))
}
