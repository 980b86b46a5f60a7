#!/usr/bin/env bash
# The benchmark command: installs what is missing, builds ringo (release) and
# the Go twins, and runs every benchmark beside its twin, interleaved: the
# micro-benchmarks, then the servers (examples/echo_server and http_server
# against bench/go/echo_server and http_server, loaded by bench/go/loadgen,
# wrk and hey; see bench/servers.py).
#   scripts/bench.sh [--runs N] [--only name,...]   (extra args go to compare.py)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh

dir=build-release
if [[ -d $dir ]]; then
  meson setup --reconfigure "$dir" -Dbuildtype=release -Dtests=disabled >/dev/null
else
  meson setup "$dir" -Dbuildtype=release -Dtests=disabled >/dev/null
fi
ninja -C "$dir"

mkdir -p "$dir/bench-go"
# Every folder is a program: the twins, their servers, and loadgen.
for d in bench/go/*/; do
  name=$(basename "$d")
  (cd bench/go && go build -o "../../$dir/bench-go/$name" "./$name")
done

python3 bench/compare.py --ringo-dir "$dir/bench" --go-dir "$dir/bench-go" \
  --build-type release --out bench/results.md "$@"
