#!/usr/bin/env bash
# Installs what building, testing and benchmarking ringo needs, from Debian's
# packages, skipping what is already there. Run as root (CI is root).
set -euo pipefail

pkgs=(
  build-essential meson ninja-build pkg-config python3
  liburing-dev libhwloc-dev       # the library
  libcmocka-dev libseccomp-dev    # the tests
  valgrind                        # the memcheck pass (and valgrind.h)
  golang-go                       # the Go twins of the benchmarks
  time                            # /usr/bin/time for peak RSS
  node-llhttp                     # llhttp's C sources, for examples/http_server
  wrk hey                         # HTTP load generators of the server benchmarks
  gdb                             # tests/gdb_fibers.py: the gdb extension on live and core files
  groff-base                      # lints the man pages (tests/check_man.py), and man shows them
  python3-matplotlib              # bench/chart.py draws the benchmark chart (SVG)
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
