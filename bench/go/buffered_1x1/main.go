// Command buffered_1x1 is the Go twin of bench/buffered.c built as
// buffered_1x1: throughput of a buffered channel between one producer and
// one consumer. The body is bench.Buffered (bench/go/buffered.go), shared
// with bench/go/buffered_4x4. Run with GOMAXPROCS=2.
package main

import "ringo/bench"

func main() { bench.Buffered("buffered_1x1", 1, 1) }
