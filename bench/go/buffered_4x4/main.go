// Command buffered_4x4 is the Go twin of bench/buffered.c built as
// buffered_4x4: throughput of one buffered channel shared by 4 producers
// and 4 consumers. The body is bench.Buffered (bench/go/buffered.go), shared
// with bench/go/buffered_1x1. Run with GOMAXPROCS=2.
package main

import "ringo/bench"

func main() { bench.Buffered("buffered_4x4", 4, 4) }
