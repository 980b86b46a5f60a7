// Command skynet is the Go twin of bench/skynet.c: the classic skynet
// benchmark (github.com/atemerev/skynet), a 10-ary tree of 1,111,111
// goroutines whose 1,000,000 leaves carry the numbers 0..999999 and whose
// inner nodes add up their children's sums.
//
// A node for [num, num+size) with size 1 sends num to its parent. Otherwise
// it makes one unbuffered channel shared by its 10 children, starts them for
// the tenths of its range, receives 10 values and sends the sum to its own
// parent. Main starts the root and receives the total, which must be
// 499999500000 (N*(N-1)/2). Reported: wall time from starting the root to
// receiving the total, in ms. Run with GOMAXPROCS=2.
package main

import (
	"fmt"
	"os"
	"time"

	"ringo/bench"
)

const prog bench.Program = "skynet"

const div = 10

func skynet(out chan<- int64, num, size int64) {
	if size == 1 {
		out <- num
		return
	}
	rc := make(chan int64)
	sub := size / div
	for i := int64(0); i < div; i++ {
		go skynet(rc, num+i*sub, sub)
	}
	var sum int64
	for i := 0; i < div; i++ {
		sum += <-rc
	}
	out <- sum
}

func main() {
	n := prog.N(1000000)
	var fibers int64
	for p := int64(1); ; p *= div {
		fibers += p
		if p == n {
			break
		}
		if p > n/div {
			fmt.Fprintf(os.Stderr, "%s: BENCH_N %d is not a power of %d\n", prog, n, div)
			os.Exit(2)
		}
	}
	root := make(chan int64)

	t0 := time.Now()
	go skynet(root, 0, n)
	total := <-root
	elapsed := time.Since(t0)

	prog.CheckSum(total, bench.Triangle(n))
	fmt.Printf("# leaves %d, fibers %d, %.1f ns/fiber\n", n, fibers,
		bench.Per(elapsed, fibers))
	prog.Resultf("%.1f ms", bench.Ms(elapsed))
}
