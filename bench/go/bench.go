// Package bench is what the Go twins of the ringo benchmarks share: the
// BENCH_N override, failure and result reporting (the same conventions as
// bench/bench.h on the C side), and the bodies of the programs that exist
// twice under two names (pingpong and pingpong_x, buffered_1x1 and
// buffered_4x4).
//
// It lives at the module root, not in a subdirectory: scripts/bench.sh
// builds every bench/go/*/ directory as a program, so each directory must be
// a main package, and the module root is the one place that loop never
// visits.
package bench

import (
	"fmt"
	"os"
	"strconv"
	"time"
)

// Program is a benchmark's name: the one compare.py runs it under and the
// one its messages and its last line ("name: VALUE UNIT") start with.
type Program string

// N returns the benchmark's size: BENCH_N if set; else def / 1000 (at least
// 1) when RINGO_BENCH_QUICK=1, the smoke pass of scripts/bench.sh --quick
// (a power of 10 stays one); else def. The same rule as bench_n in
// bench/bench.h. A bad BENCH_N exits 2.
func (p Program) N(def int64) int64 {
	s := os.Getenv("BENCH_N")
	if s == "" {
		if os.Getenv("RINGO_BENCH_QUICK") == "1" {
			if def/1000 > 0 {
				return def / 1000
			}
			return 1
		}
		return def
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		fmt.Fprintf(os.Stderr, "%s: bad BENCH_N %q\n", p, s)
		os.Exit(2)
	}
	return v
}

// Failf prints "name: message" on stderr and exits 1.
func (p Program) Failf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s: %s\n", p, fmt.Sprintf(format, args...))
	os.Exit(1)
}

// CheckSum fails unless got == want.
func (p Program) CheckSum(got, want int64) {
	if got != want {
		p.Failf("sum %d, want %d", got, want)
	}
}

// Resultf prints the result line, always last: "name: VALUE UNIT".
func (p Program) Resultf(format string, args ...any) {
	fmt.Printf("%s: %s\n", p, fmt.Sprintf(format, args...))
}

// Triangle returns n*(n-1)/2, the sum of 0..n-1.
func Triangle(n int64) int64 { return n * (n - 1) / 2 }

// Ms returns d in milliseconds, for the "# ... total X ms" detail lines.
func Ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// Per returns d in nanoseconds divided by n.
func Per(d time.Duration, n int64) float64 { return float64(d.Nanoseconds()) / float64(n) }
