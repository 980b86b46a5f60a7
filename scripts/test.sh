#!/usr/bin/env bash
# The test command: installs what is missing, builds ringo three ways and
# runs the whole cmocka suite in each, then once more under Valgrind, then
# each build again on the epoll backend (where io_uring is refused):
#   release   -O2, assertions on (debugoptimized)
#   tsan      -fsanitize=thread     (ringo's `go test -race`)
#   asan      -fsanitize=address,undefined (LeakSanitizer included)
#   valgrind  the release build under memcheck (meson test --setup valgrind)
#   release-epoll, tsan-epoll, asan-epoll: the same builds with
#             RINGO_BACKEND=epoll (meson test --setup epoll), stress loops
#             shorter than on io_uring to keep CI's time in bounds
# Ends with one line "N passed, N failed, N skipped" summed over all passes
# from meson's testlog*.json, and fails if anything failed or nothing ran.
#   scripts/test.sh [release|tsan|asan|valgrind|release-epoll|tsan-epoll|asan-epoll ...]
#   (default: all seven); each pass prints its time
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh || exit 1

builds=("$@")
((${#builds[@]})) || builds=(release tsan asan valgrind release-epoll tsan-epoll asan-epoll)

status=0
logs=()
for b in "${builds[@]}"; do
  dir="build-test-${b%-epoll}"
  setup=()
  [[ $b == *-epoll ]] && setup=(--setup epoll)
  case "${b%-epoll}" in
    valgrind) dir=build-test-release setup=(--setup valgrind)
              opts=(-Dbuildtype=debugoptimized) ; iters=1 ;;
    release) opts=(-Dbuildtype=debugoptimized) ; iters=100 ;;
    tsan)    opts=(-Dbuildtype=debugoptimized -Db_sanitize=thread -Db_lundef=false) ; iters=10 ;;
    asan)    opts=(-Dbuildtype=debugoptimized -Db_sanitize=address,undefined -Db_lundef=false) ; iters=10 ;;
    *) echo "unknown build '$b' (release, tsan, asan, valgrind, release-epoll, tsan-epoll, asan-epoll)"; exit 2 ;;
  esac
  if [[ $b == *-epoll ]]; then
    case "$b" in
      release-epoll) iters=50 ;;
      *) iters=5 ;;
    esac
  fi
  start=$SECONDS
  echo "=== $b ==="
  if [[ -d $dir ]]; then
    meson setup --reconfigure "$dir" "${opts[@]}" -Dbenchmarks=false >/dev/null || { status=1; continue; }
  else
    meson setup "$dir" "${opts[@]}" -Dbenchmarks=false >/dev/null || { status=1; continue; }
  fi
  ninja -C "$dir" || { status=1; continue; }
  log="$dir/meson-logs/testlog${setup:+-${setup[1]}}.json"
  rm -f "$log"
  # Sanitizers: fail loudly, report with fiber-aware stacks; halt_on_error
  # makes a report a test failure.
  RINGO_TEST_ITERS=$iters \
  TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
  ASAN_OPTIONS="detect_leaks=1 halt_on_error=1 abort_on_error=0" \
  UBSAN_OPTIONS="halt_on_error=1 print_stacktrace=1" \
    meson test -C "$dir" "${setup[@]}" --print-errorlogs --num-processes 1 || status=1
  logs+=("$log")
  echo "=== $b: $((SECONDS - start)) s ==="
done

# The install check: what `meson install` ships (headers, libringo.so,
# ringo.pc) builds and runs a program through pkg-config, as a user would.
extra_pass=0 extra_fail=0
if [[ -d build-test-release ]]; then
  echo "=== install ==="
  dest=$(mktemp -d)
  if meson install -C build-test-release --destdir "$dest" --quiet >/dev/null &&
     pc=$(find "$dest" -name ringo.pc -printf '%h\n' | head -1) && [[ -n $pc ]] &&
     flags=$(PKG_CONFIG_PATH=$pc pkg-config --define-variable=prefix="$dest/usr/local" --cflags --libs ringo) &&
     cc -std=gnu11 -Wall -Werror examples/goroutines.c $flags -o "$dest/app" &&
     LD_LIBRARY_PATH=$(dirname "$(find "$dest" -name 'libringo.so' | head -1)") "$dest/app" >/dev/null; then
    echo "install: OK (pkg-config --cflags --libs ringo: $flags)"
    extra_pass=1
  else
    echo "install: FAIL"
    extra_fail=1
  fi
  rm -rf "$dest"
fi

EXTRA_PASS=$extra_pass EXTRA_FAIL=$extra_fail python3 - "${logs[@]}" <<'PY'
import json, os, sys
passed = int(os.environ.get("EXTRA_PASS", 0))
failed = int(os.environ.get("EXTRA_FAIL", 0))
skipped = 0
for path in sys.argv[1:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        failed += 1
        continue
    for line in lines:
        if not line.strip():
            continue
        r = json.loads(line).get("result", "")
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed or passed == 0 else 0)
PY
rc=$?
((status == 0 && rc == 0))
