// Command pingpong_x is the Go twin of bench/pingpong.c built as pingpong_x:
// pingpong across Ps. It is the same program as bench/go/pingpong (the body
// is bench.Pingpong, bench/go/pingpong.go), run with GOMAXPROCS=2; Go's
// scheduler may well keep both goroutines on one P anyway.
package main

import "ringo/bench"

func main() { bench.Pingpong("pingpong_x") }
