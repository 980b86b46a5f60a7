// Command workerpool is the Go twin of bench/workerpool.c: a producer, a
// pool of 8 workers and a collector joined by unbuffered channels.
//
// One producer goroutine sends the jobs 0..N-1 on an unbuffered jobs
// channel and closes it. Eight workers range over jobs, send 2*job+1 on an
// unbuffered results channel for each, and end (WaitGroup Done). Main
// receives N results, summing them; the sum must be N*N. Reported: wall
// time (start to the workers' end) / N. Run with GOMAXPROCS=2.
package main

import (
	"fmt"
	"sync"
	"time"

	"ringo/bench"
)

const prog bench.Program = "workerpool"

const workers = 8

func main() {
	n := prog.N(1000000)
	jobs := make(chan int64)
	results := make(chan int64)
	var wg sync.WaitGroup
	var sum int64

	t0 := time.Now()
	wg.Add(workers)
	for w := 0; w < workers; w++ {
		go func() {
			for j := range jobs {
				results <- 2*j + 1
			}
			wg.Done()
		}()
	}
	go func() {
		for i := int64(0); i < n; i++ {
			jobs <- i
		}
		close(jobs)
	}()
	for i := int64(0); i < n; i++ {
		sum += <-results
	}
	wg.Wait()
	elapsed := time.Since(t0)

	prog.CheckSum(sum, n*n)
	fmt.Printf("# jobs %d, workers %d, total %.1f ms\n", n, workers, bench.Ms(elapsed))
	prog.Resultf("%.1f ns/job", bench.Per(elapsed, n))
}
