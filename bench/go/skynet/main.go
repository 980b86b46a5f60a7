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
	"strconv"
	"time"
)

const div = 10

// benchN returns BENCH_N if set (for quick smoke runs), else def.
func benchN(def int64) int64 {
	s := os.Getenv("BENCH_N")
	if s == "" {
		return def
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		fmt.Fprintf(os.Stderr, "skynet: bad BENCH_N %q\n", s)
		os.Exit(2)
	}
	return v
}

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
	n := benchN(1000000)
	var fibers int64
	for p := int64(1); ; p *= div {
		fibers += p
		if p == n {
			break
		}
		if p > n/div {
			fmt.Fprintf(os.Stderr, "skynet: BENCH_N %d is not a power of %d\n", n, div)
			os.Exit(2)
		}
	}
	root := make(chan int64)

	t0 := time.Now()
	go skynet(root, 0, n)
	total := <-root
	elapsed := time.Since(t0)

	if want := n * (n - 1) / 2; total != want {
		fmt.Fprintf(os.Stderr, "skynet: sum %d, want %d\n", total, want)
		os.Exit(1)
	}
	fmt.Printf("# leaves %d, fibers %d, %.1f ns/fiber\n", n, fibers,
		float64(elapsed.Nanoseconds())/float64(fibers))
	fmt.Printf("skynet: %.1f ms\n", float64(elapsed.Nanoseconds())/1e6)
}
