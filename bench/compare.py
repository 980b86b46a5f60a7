#!/usr/bin/env python3
"""Run the ringo benchmarks against their Go twins and tabulate the result.

Usage:
    python3 bench/compare.py --ringo-dir build/bench --go-dir build/bench-go \
        [--runs 5] [--only spawn,wake] [--out bench/results.md] \
        [--build-type release]

Every benchmark binary prints optional "# ..." detail lines and, as its last
line, "name: value unit". Both sides of a benchmark get the same worker count
(RINGO_WORKERS and GOMAXPROCS), one discarded warm-up run each, and then
--runs measured runs each, interleaved ringo, Go, ringo, Go, ... so that slow
drift of the machine (thermal, noisy neighbours) hits both sides alike.

Beside the medians the table shows ringo on one worker (same interleaving;
a second worker must never make a program slower) and each side's peak RSS
(the median of the runs' maximum resident set, from /usr/bin/time).

The Markdown report (machine record + table) goes to stdout and, with --out,
to a file. Progress and failures go to stderr. The exit status is non-zero if
any program failed, timed out or printed an unexpected result line.

The server benchmarks (bench/servers.py: the example servers against
their Go twins under a shared load generator) run after these, unless --only
leaves them out, and add a "Servers" section to the report.

Standard library only: CI has nothing but Debian's python3.
"""

import argparse
import datetime
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile

import servers

# name, workers (RINGO_WORKERS = GOMAXPROCS), lower is better, what "better"
# means for the winner column.
BENCHMARKS = [
    ("spawn", 2, True, "faster"),
    ("yield", 1, True, "faster"),
    ("wake", 2, True, "faster"),
    ("parked_rss", 2, True, "better"),
    ("pingpong", 1, True, "faster"),
    ("pingpong_x", 2, True, "faster"),
    ("buffered_1x1", 2, True, "faster"),
    ("buffered_4x4", 2, True, "faster"),
    ("select4", 2, True, "faster"),
    ("after_loop", 1, True, "faster"),
    ("skynet", 2, True, "faster"),
    ("mutex", 2, True, "faster"),
    ("rwmutex", 2, True, "faster"),
    ("waitgroup", 2, True, "faster"),
    ("ctx_cancel", 2, True, "faster"),
    ("syncmap", 2, True, "faster"),
    ("lockedmap", 2, True, "faster"),
    ("workerpool", 2, True, "faster"),
    ("pipeline", 2, True, "faster"),
    ("fanin", 2, True, "faster"),
]

RUN_TIMEOUT_S = 300

RESULT_RE = re.compile(r"^(\S+): (\S+) (\S.*)$")


class BenchError(Exception):
    pass


def run_proc(path, env):
    """Run path to its end; return (status, stdout, stderr, peak RSS in KiB).
    The peak comes from /usr/bin/time: a child's ru_maxrss also counts the
    memory of whoever forked it (the kernel keeps the pre-exec high-water
    mark), so forking from this Python process would inflate it."""
    with tempfile.NamedTemporaryFile(mode="r") as rss_file:
        # A process group of its own, so a timeout kills the benchmark too.
        proc = subprocess.Popen(
            ["/usr/bin/time", "-f", "%M", "-o", rss_file.name, path],
            env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            stdout, stderr = proc.communicate(timeout=RUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise BenchError(f"{path}: timed out after {RUN_TIMEOUT_S} s")
        lines = rss_file.read().strip().splitlines()
    # time writes "Command exited with non-zero status N" before the value.
    if proc.returncode == 127 and not lines:
        raise BenchError(f"{path}: not found or not executable")
    try:
        rss = int(lines[-1])
    except (IndexError, ValueError):
        rss = 0
    return proc.returncode, stdout, stderr, rss


def run_once(path, name, env):
    """Run one benchmark binary; return (value, unit, peak RSS KiB) from its
    last line and its rusage."""
    status, stdout, stderr, rss = run_proc(path, env)
    if status != 0:
        raise BenchError(f"{path}: exit status {status}\n"
                         + tail(stderr) + tail(stdout))
    lines = stdout.strip().splitlines()
    last = lines[-1] if lines else ""
    m = RESULT_RE.match(last)
    if not m or m.group(1) != name:
        raise BenchError(f"{path}: expected last line '{name}: VALUE UNIT', "
                         f"got {last!r}")
    try:
        value = float(m.group(2))
    except ValueError:
        raise BenchError(f"{path}: value {m.group(2)!r} is not a number")
    return value, m.group(3), rss


def tail(text, n=20):
    lines = text.strip().splitlines()[-n:]
    return "".join(f"    {l}\n" for l in lines)


def run_benchmark(name, workers, ringo_bin, go_bin, runs):
    """Warm up, then run both sides interleaved, and ringo on one worker too
    when workers > 1. Returns (ringo, go, ringo1, rss, unit): value lists
    and {side: [peak RSS KiB]}; ringo1 is None for one-worker benchmarks."""
    env = dict(os.environ, RINGO_WORKERS=str(workers), GOMAXPROCS=str(workers))
    env1 = dict(os.environ, RINGO_WORKERS="1", GOMAXPROCS="1")
    sides = [("ringo", ringo_bin, env), ("Go", go_bin, env)]
    if workers > 1:
        sides.append(("ringo/1", ringo_bin, env1))
    # Warm-ups fill the page cache and CPU frequency governors; their numbers
    # are thrown away, but a failing warm-up is still a failure.
    for _, path, e in sides:
        run_once(path, name, e)
    acc = {side: [] for side, _, _ in sides}
    rss = {side: [] for side, _, _ in sides}
    units = set()
    for i in range(runs):
        for side, path, e in sides:
            value, unit, kib = run_once(path, name, e)
            print(f"  {name} {side} run {i + 1}/{runs}: {value:g} {unit}, "
                  f"peak RSS {kib} KiB", file=sys.stderr)
            acc[side].append(value)
            rss[side].append(kib)
            units.add(unit)
    if len(units) != 1:
        raise BenchError(f"{name}: ringo and Go report different units: "
                         f"{sorted(units)}")
    return acc["ringo"], acc["Go"], acc.get("ringo/1"), rss, units.pop()


def fmt(v):
    """A few significant digits without going to exponent notation."""
    a = abs(v)
    if a >= 1000:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def fmt_rss(kib_values):
    """Median peak RSS in MiB."""
    return f"{statistics.median(kib_values) / 1024:.1f}"


def summary(values):
    return (fmt(statistics.median(values)),
            f"{fmt(min(values))}–{fmt(max(values))}")


def verdict(ringo_med, go_med, lower_better, word):
    """Honest winner column: who wins, by the ratio of medians."""
    if ringo_med <= 0 or go_med <= 0:
        # A ratio of non-positive figures (e.g. RSS growth below page
        # granularity in a smoke run) means nothing.
        return "n/a (non-positive median)"
    ratio = max(ringo_med, go_med) / min(ringo_med, go_med)
    if ratio < 1.005:
        # Would print as 1.00×; naming a winner there would be noise.
        return "tie (1.00×)"
    ringo_wins = (ringo_med < go_med) == lower_better
    return f"{'ringo' if ringo_wins else 'Go'} {ratio:.2f}× {word}"


def command_output(args, cwd=None):
    try:
        out = subprocess.run(args, cwd=cwd, capture_output=True, text=True,
                             timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ringo_commit():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    rev = command_output(["git", "rev-parse", "--short", "HEAD"], cwd=repo)
    if rev is None:
        return "unknown"
    # Numbers from uncommitted sources must not pass for the commit's.
    dirty = command_output(["git", "status", "--porcelain",
                            "--untracked-files=no"], cwd=repo)
    return rev + (" (dirty)" if dirty else "")


def machine_record(args):
    now = datetime.datetime.now(datetime.timezone.utc)
    lines = [
        "## Machine",
        "",
        f"- Date: {now.strftime('%Y-%m-%d %H:%M UTC')}",
        f"- CPU: {cpu_model()}",
        f"- Cores: {os.cpu_count()}",
        f"- Kernel: {platform.release()}",
        f"- Go: {command_output(['go', 'version']) or 'unknown'}",
        f"- ringo commit: {ringo_commit()}",
        f"- Build type: {args.build_type}",
        f"- Runs per side: {args.runs} (after one warm-up each), "
        "interleaved; median and [min–max] shown",
    ]
    if os.environ.get("BENCH_N"):
        lines.append(f"- BENCH_N={os.environ['BENCH_N']} "
                     "(reduced size: smoke run, not a real measurement)")
    return lines


def main():
    ap = argparse.ArgumentParser(
        description="Compare ringo benchmarks with their Go twins.")
    ap.add_argument("--ringo-dir", required=True,
                    help="folder with the ringo benchmark binaries")
    ap.add_argument("--go-dir", required=True,
                    help="folder with the Go twin binaries")
    ap.add_argument("--runs", type=int, default=5,
                    help="measured runs per side (default 5)")
    ap.add_argument("--only", default="",
                    help="comma-separated subset of benchmarks")
    ap.add_argument("--out", help="also write the Markdown report here")
    ap.add_argument("--build-type", default="release",
                    help="recorded in the report (default release)")
    ap.add_argument("--servers-dir",
                    help="folder with ringo's example servers "
                         "(default: RINGO_DIR/../examples)")
    ap.add_argument("--server-seconds", type=int,
                    help="length of each server load (default 5; 1 with BENCH_N)")
    ap.add_argument("--idle-conns", type=int,
                    help="connections of the idle benchmarks "
                         "(default 10000; 500 with BENCH_N)")
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be at least 1")

    known = [b[0] for b in BENCHMARKS] + servers.NAMES
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in only if s not in known]
    if unknown:
        ap.error(f"unknown benchmark(s) {', '.join(unknown)}; "
                 f"known: {', '.join(known)}")
    selected = [b for b in BENCHMARKS if not only or b[0] in only]
    selected_servers = [n for n in servers.NAMES if not only or n in only]

    rows, failed = [], False
    for name, workers, lower_better, word in selected:
        print(f"{name} (workers {workers})", file=sys.stderr)
        ringo_bin = os.path.join(args.ringo_dir, name)
        go_bin = os.path.join(args.go_dir, name)
        try:
            ringo, go, ringo1, rss, unit = run_benchmark(
                name, workers, ringo_bin, go_bin, args.runs)
        except BenchError as e:
            print(f"FAILED: {e}", file=sys.stderr)
            failed = True
            rows.append(f"| {name} | {workers} | FAILED | | FAILED | | | "
                        "see stderr | | | |")
            continue
        rm, rr = summary(ringo)
        gm, gr = summary(go)
        rows.append(f"| {name} | {workers} | {rm} | {rr} | {gm} | {gr} | "
                    f"{unit} | "
                    f"{verdict(statistics.median(ringo), statistics.median(go), lower_better, word)} | "
                    f"{fmt(statistics.median(ringo1)) if ringo1 else '='} | "
                    f"{fmt_rss(rss['ringo'])} | {fmt_rss(rss['Go'])} |")

    report = machine_record(args)
    if selected:
        report += [
            "",
            "## Results",
            "",
            "| Benchmark | Workers | ringo median | ringo [min–max] "
            "| Go median | Go [min–max] | Unit | Result "
            "| ringo 1 worker | ringo peak RSS MiB | Go peak RSS MiB |",
            "|---|---:|---:|---:|---:|---:|---|---|---:|---:|---:|",
        ] + rows
    if selected_servers:
        settings = servers.Settings(
            seconds=args.server_seconds or (1 if os.environ.get("BENCH_N") else 5),
            idle_conns=args.idle_conns or (500 if os.environ.get("BENCH_N") else 10000),
            workers=2)
        servers_dir = args.servers_dir or os.path.join(
            os.path.dirname(os.path.abspath(args.ringo_dir)), "examples")
        lines, server_failed = servers.run_all(
            selected_servers, args.runs, settings, servers_dir, args.go_dir,
            fmt, verdict)
        report += [""] + lines
        failed = failed or server_failed
    text = "\n".join(report) + "\n"
    sys.stdout.write(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
