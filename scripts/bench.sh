#!/usr/bin/env bash
# The benchmark command: installs what is missing, builds ringo (release) and
# the Go twins, and runs every benchmark beside its twin, interleaved: the
# micro-benchmarks, then the servers (examples/echo_server and http_server
# against bench/go/echo_server and http_server, loaded by bench/go/loadgen,
# wrk and hey; see bench/servers.py). Writes the Markdown report, every run
# as JSON, and a chart (bench/chart.py, SVG):
#   bench/results/latest.{md,json,svg}     against Go
#   bench/results/sweep.{md,json,svg}      with --sweep
#   bench/results/baseline.{md,json,svg}   with --baseline
#   BUILD/bench-quick/quick.{md,json,svg}  with --quick (a check, not a result)
#
#   scripts/bench.sh [--only NAME,...] [--runs N] [--workers N | --sweep 1,2,4]
#                    [--quick] [--backend uring|epoll|both] [--baseline COMMIT]
#                    [--note TEXT]
# BENCH_BUILD_DIR picks the build folder (default build-release).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

quick=0 sweep=0 baseline=
pass=()
while (($#)); do
  case $1 in
    --quick) quick=1; pass+=("$1") ;;
    --baseline) (($# >= 2)) || usage; baseline=$2; shift ;;
    --baseline=*) baseline=${1#*=} ;;
    --sweep) (($# >= 2)) || usage; sweep=1; pass+=("$1" "$2"); shift ;;
    --sweep=*) sweep=1; pass+=("$1") ;;
    --only|--runs|--workers|--backend|--note)
      (($# >= 2)) || usage; pass+=("$1" "$2"); shift ;;
    --only=*|--runs=*|--workers=*|--backend=*|--note=*) pass+=("$1") ;;
    -h|--help) usage ;;
    *) echo "bench.sh: unknown option '$1'" >&2; usage ;;
  esac
  shift
done

bash scripts/deps.sh

dir=${BENCH_BUILD_DIR:-build-release}
setup() { # setup SRC BUILD: a release build of ringo, without the tests
  if [[ -d $2 ]]; then
    meson setup --reconfigure "$2" "$1" -Dbuildtype=release -Dtests=disabled >/dev/null
  else
    meson setup "$2" "$1" -Dbuildtype=release -Dtests=disabled >/dev/null
  fi
}
setup . "$dir"
nice -n 10 ninja -C "$dir"

mkdir -p "$dir/bench-go"
# Every folder is a program: the twins, their servers, and loadgen.
for d in bench/go/*/; do
  name=$(basename "$d")
  (cd bench/go && go build -o "../../$dir/bench-go/$name" "./$name")
done

if [[ -n $baseline ]]; then
  # The older commit, checked out and built beside this one; ringo against
  # ringo, so a regression shows before it lands. Benchmarks it lacks are
  # skipped.
  rev=$(git rev-parse --verify --quiet "$baseline^{commit}") ||
    { echo "bench.sh: --baseline: no commit '$baseline'" >&2; exit 2; }
  tmp=$(mktemp -d)
  cleanup() { git worktree remove --force "$tmp/src" 2>/dev/null || true; rm -rf "$tmp"; }
  trap cleanup EXIT
  git worktree add --detach --quiet "$tmp/src" "$rev"
  (cd "$tmp/src" &&
    { meson setup "$tmp/build" -Dbuildtype=release -Dtests=disabled >/dev/null 2>&1 ||
      meson setup "$tmp/build" -Dbuildtype=release >/dev/null; } &&
    nice -n 10 ninja -C "$tmp/build" >/dev/null)
  pass+=(--baseline-dir "$tmp/build" --baseline-commit "$(git rev-parse --short "$rev")")
fi

if ((quick)); then
  out=$dir/bench-quick/quick
  mkdir -p "$dir/bench-quick"
elif [[ -n $baseline ]]; then out=bench/results/baseline
elif ((sweep)); then out=bench/results/sweep
else out=bench/results/latest
fi
mkdir -p bench/results

status=0
python3 bench/compare.py --ringo-dir "$dir/bench" --go-dir "$dir/bench-go" \
  --build-type release --out "$out.md" --json "$out.json" "${pass[@]}" || status=$?
# The chart even when a benchmark failed: the others still count. Debian's
# python3 has matplotlib (deps.sh); a python3 first in PATH may not.
/usr/bin/python3 bench/chart.py "$out.json" "$out.svg" || status=1
echo "bench.sh: wrote $out.md, $out.json, $out.svg" >&2
exit "$status"
