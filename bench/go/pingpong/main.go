// Command pingpong is the Go twin of bench/pingpong.c: one round trip
// between two goroutines over two unbuffered channels, on a single P. The
// program body is bench.Pingpong (bench/go/pingpong.go), shared with
// bench/go/pingpong_x. Run with GOMAXPROCS=1.
package main

import "ringo/bench"

func main() { bench.Pingpong("pingpong") }
