#!/usr/bin/env python3
"""Run the ringo benchmarks against their Go twins and report the result.

Usage (scripts/bench.sh passes the folders; its options are these):
    python3 bench/compare.py --ringo-dir build/bench --go-dir build/bench-go \\
        [--runs 5] [--only spawn,wake] [--workers N | --sweep 1,2,4] \\
        [--quick] [--backend uring|epoll|both] \\
        [--baseline-dir OLD/build --baseline-commit SHA] \\
        [--out report.md] [--json results.json] [--note TEXT]

Every benchmark binary prints optional "# ..." detail lines and, as its last
line, "name: value unit". Both sides of a benchmark get the same worker count
(RINGO_WORKERS and GOMAXPROCS), one discarded warm-up run each, and then
--runs measured runs each, interleaved ringo, Go, ringo, Go, ... so that slow
drift of the machine (thermal, noisy neighbours) hits both sides alike.

Beside the medians the table shows ringo on one worker (same interleaving;
a second worker must never make a program slower) and each side's peak RSS
(the median of the runs' maximum resident set, from /usr/bin/time).

The sides of a run:
  ringo           ringo, once per backend with --backend both (RINGO_BACKEND)
  go              the Go twin; left out with --baseline
  baseline        ringo built from an older commit (--baseline-dir): the
                  report is then ringo against ringo, for regressions
  ringo_1worker   ringo on one worker, when the benchmark uses more

--workers N runs every benchmark on N workers instead of its own count;
--sweep 1,2,4 runs each at every count (the scaling curve). --quick runs
each program once at a small size (RINGO_BENCH_QUICK=1: bench/bench.h and
bench/go/bench.go divide the default size by 1000) with no warm-up: every
program must exit 0 with its result checked, and nothing is timed for real.

The server benchmarks (bench/servers.py: the example servers against
their Go twins under a shared load generator) run after these, unless --only
leaves them out.

Output: the Markdown report (machine record + tables) on stdout and, with
--out, in a file; with --json, every run of every benchmark, for
bench/chart.py and for anyone's own analysis:
  {"schema": 1, "machine": {...}, "settings": {...},
   "benchmarks": [{"name", "group": "micro"|"servers", "title", "workers",
                   "metrics": [{"key", "unit", "lower_is_better", "word"}],
                   "runs": [{"side", "backend", "workers", "run",
                             "values": {key: v}, "peak_rss_kib"}],
                   "error"?: "...", "skipped"?: "..."}]}
Micro benchmarks have one metric, key "value". Progress and failures go to
stderr. The exit status is non-zero if any program failed, timed out or
printed an unexpected result line.

Standard library only: CI has nothing but Debian's python3.
"""

import argparse
import datetime
import json
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

SERVER_WORKERS = 2
RUN_TIMEOUT_S = 300

RESULT_RE = re.compile(r"^(\S+): (\S+) (\S.*)$")


class BenchError(Exception):
    pass


class Side:
    """One contender: key (ringo, go, baseline, ringo_1worker), backend
    (for ringo and baseline), its folders, its environment, and a worker
    count that overrides the benchmark's (ringo_1worker)."""

    def __init__(self, key, backend, bench_dir, servers_dir, env, workers=None):
        self.key = key
        self.backend = backend
        self.bench_dir = bench_dir
        self.servers_dir = servers_dir
        self.env = env
        self.workers = workers

    @property
    def label(self):
        """Unique among the sides of a run: ringo, ringo[epoll], go, ..."""
        if self.backend and self.backend != "default" and self.key != "go":
            return f"{self.key}[{self.backend}]"
        return self.key


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


def side_env(side, workers, quick):
    w = str(side.workers or workers)
    env = dict(os.environ, RINGO_WORKERS=w, GOMAXPROCS=w, **side.env)
    if quick:
        env["RINGO_BENCH_QUICK"] = "1"
    return env


def run_benchmark(record, sides, runs, warm_up, quick):
    """Warm up, then run the sides interleaved, appending to record["runs"].
    The sides' units must agree."""
    name, workers = record["name"], record["workers"]
    plan = [(s, os.path.join(s.bench_dir, name), side_env(s, workers, quick))
            for s in sides]
    # Warm-ups fill the page cache and CPU frequency governors; their numbers
    # are thrown away, but a failing warm-up is still a failure.
    if warm_up:
        for _, path, env in plan:
            run_once(path, name, env)
    units = set()
    for i in range(runs):
        for side, path, env in plan:
            value, unit, kib = run_once(path, name, env)
            print(f"  {name} {side.label} run {i + 1}/{runs}: {value:g} {unit}, "
                  f"peak RSS {kib} KiB", file=sys.stderr)
            record["runs"].append({
                "side": side.key, "backend": side.backend, "run": i + 1,
                "workers": side.workers or workers,
                "values": {"value": value}, "peak_rss_kib": kib})
            units.add(unit)
    if len(units) != 1:
        raise BenchError(f"{name}: the sides report different units: "
                         f"{sorted(units)}")
    record["metrics"][0]["unit"] = units.pop()


# ---------------------------------------------------------------- report

def fmt(v):
    """A few significant digits without going to exponent notation."""
    a = abs(v)
    if a >= 1000:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def verdict(ringo_med, ref_med, lower_better, word, ref_name="Go",
            ringo_name="ringo"):
    """Honest winner column: who wins, by the ratio of medians."""
    if ringo_med <= 0 or ref_med <= 0:
        # A ratio of non-positive figures (e.g. RSS growth below page
        # granularity in a smoke run) means nothing.
        return "n/a (non-positive median)"
    ratio = max(ringo_med, ref_med) / min(ringo_med, ref_med)
    if ratio < 1.005:
        # Would print as 1.00×; naming a winner there would be noise.
        return "tie (1.00×)"
    ringo_wins = (ringo_med < ref_med) == lower_better
    return f"{ringo_name if ringo_wins else ref_name} {ratio:.2f}× {word}"


def values(record, side, backend, key):
    return [r["values"][key] for r in record["runs"]
            if r["side"] == side and (backend is None or r["backend"] == backend)
            and key in r["values"]]


def peaks(record, side, backend):
    return [r["peak_rss_kib"] for r in record["runs"]
            if r["side"] == side and (backend is None or r["backend"] == backend)]


def med_range(v):
    if not v:
        return "", ""
    return fmt(statistics.median(v)), f"{fmt(min(v))}–{fmt(max(v))}"


def mib(kib_values):
    return f"{statistics.median(kib_values) / 1024:.1f}" if kib_values else ""


def table(records, backends, ref, ref_name, show_1worker, quick):
    """Markdown rows for records of one group: one row per metric (per
    workers count when sweeping); a column pair per backend. Against a
    baseline, ringo is "this tree"."""
    multi = len(backends) > 1
    me = "this tree" if ref == "baseline" else "ringo"
    head = ["Benchmark", "Workers", "Metric"]
    for b in backends:
        tag = f" {b}" if multi else ""
        head += [f"{me}{tag} median", f"{me}{tag} [min–max]"]
    head += [f"{ref_name} median", f"{ref_name} [min–max]"]
    head += [f"Result{f' {b}' if multi else ''}" for b in backends]
    if show_1worker:
        head.append("ringo 1 worker")
    head += [f"{me}{f' {backends[0]}' if multi else ''} peak RSS MiB",
             f"{ref_name} peak RSS MiB"]
    align = ["---", "---:", "---"] + ["---:"] * (2 * len(backends) + 2) \
        + ["---"] * len(backends) + ["---:"] * (len(head) - 5 - 3 * len(backends))
    rows = ["| " + " | ".join(head) + " |", "|" + "|".join(align) + "|"]
    for rec in records:
        title = rec["name"] if rec["group"] == "micro" else rec["title"]
        if "skipped" in rec:
            rows.append(f"| {title} | {rec['workers']} | skipped: {rec['skipped']} |"
                        + " |" * (len(head) - 3))
            continue
        if "error" in rec:
            rows.append(f"| {title} | {rec['workers']} | FAILED (see stderr) |"
                        + " |" * (len(head) - 3))
            continue
        for i, m in enumerate(rec["metrics"]):
            cells = [title if i == 0 else "", str(rec["workers"]), m["unit"]]
            ref_v = values(rec, ref, None, m["key"])   # every backend's
            results = []
            for b in backends:
                rv = values(rec, "ringo", b, m["key"])
                cells += list(med_range(rv))
                ref_b = values(rec, ref, b if ref == "baseline" else None, m["key"])
                if quick:
                    results.append("ok (quick: not timed)")
                elif rv and ref_b:
                    results.append(verdict(statistics.median(rv),
                                           statistics.median(ref_b),
                                           m["lower_is_better"], m["word"],
                                           ref_name, me))
                else:
                    results.append("")
            cells += list(med_range(ref_v))
            cells += results
            if show_1worker:
                one = values(rec, "ringo_1worker", None, m["key"])
                cells.append(fmt(statistics.median(one)) if one else "=")
            if i == 0:
                cells += [mib(peaks(rec, "ringo", backends[0])), mib(peaks(rec, ref, None))]
            else:
                cells += ["", ""]
            rows.append("| " + " | ".join(cells) + " |")
    return rows


# ---------------------------------------------------------------- machine

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


def load_average():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "unknown"


def ringo_commit():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    rev = command_output(["git", "rev-parse", "--short", "HEAD"], cwd=repo)
    if rev is None:
        return "unknown"
    # Numbers from uncommitted sources must not pass for the commit's; the
    # reports this script writes itself do not count.
    dirty = command_output(["git", "status", "--porcelain",
                            "--untracked-files=no", "--", ".",
                            ":(exclude)bench/results"], cwd=repo)
    return rev + (" (dirty)" if dirty else "")


def machine(args):
    now = datetime.datetime.now(datetime.timezone.utc)
    return {
        "date": now.strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "kernel": platform.release(),
        "go": command_output(["go", "version"]) or "unknown",
        "commit": ringo_commit(),
        "build_type": args.build_type,
        "load_average_start": load_average(),
    }


def machine_lines(m, settings):
    lines = [
        "## Machine",
        "",
        f"- Date: {m['date']}",
        f"- CPU: {m['cpu']}",
        f"- Cores: {m['cores']}",
        f"- Kernel: {m['kernel']}",
        f"- Go: {m['go']}",
        f"- ringo commit: {m['commit']}",
        f"- Build type: {m['build_type']}",
        f"- Load average (1, 5, 15 min) at start: {m['load_average_start']}; "
        f"at end: {m.get('load_average_end', '?')}",
    ]
    if settings["quick"]:
        lines.append("- Quick pass (RINGO_BENCH_QUICK=1): small sizes, one run, "
                     "no warm-up; every result checked, nothing timed for real")
    else:
        lines.append(f"- Runs per side: {settings['runs']} (after one warm-up "
                     "each), interleaved; median and [min–max] shown")
    if settings["baseline"]:
        lines.append(f"- This tree against ringo at {settings['baseline']} "
                     "(baseline), not Go: Result says which build wins; a "
                     "ratio inside both min–max ranges is noise")
    if settings["backends"] != ["default"]:
        lines.append(f"- RINGO_BACKEND: {', '.join(settings['backends'])}")
    if os.environ.get("BENCH_N"):
        lines.append(f"- BENCH_N={os.environ['BENCH_N']} "
                     "(reduced size: smoke run, not a real measurement)")
    if settings.get("note"):
        lines.append(f"- Note: {settings['note']}")
    return lines


# ---------------------------------------------------------------- main

def parse_counts(text, ap, what):
    try:
        counts = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        ap.error(f"{what}: expected comma-separated worker counts, got {text!r}")
    if not counts or any(c < 1 for c in counts):
        ap.error(f"{what}: worker counts must be at least 1")
    return counts


def main():
    ap = argparse.ArgumentParser(
        description="Compare ringo benchmarks with their Go twins.")
    ap.add_argument("--ringo-dir", required=True,
                    help="folder with the ringo benchmark binaries")
    ap.add_argument("--go-dir", required=True,
                    help="folder with the Go twin binaries (and loadgen)")
    ap.add_argument("--runs", type=int,
                    help="measured runs per side (default 5; 1 with --quick)")
    ap.add_argument("--only", default="",
                    help="comma-separated subset of benchmarks")
    ap.add_argument("--workers", type=int,
                    help="run every benchmark on this many workers")
    ap.add_argument("--sweep",
                    help="comma-separated worker counts: every benchmark at each")
    ap.add_argument("--quick", action="store_true",
                    help="small sizes, one run, no warm-up: a check, not a measurement")
    ap.add_argument("--backend", choices=["uring", "epoll", "both"],
                    help="RINGO_BACKEND for ringo's runs (default: ringo's choice)")
    ap.add_argument("--baseline-dir",
                    help="build folder of an older ringo: compare against it, not Go")
    ap.add_argument("--baseline-commit", default="baseline",
                    help="how the report names the baseline")
    ap.add_argument("--out", help="also write the Markdown report here")
    ap.add_argument("--json", help="write every run, as JSON, here")
    ap.add_argument("--note", help="a line for the machine record")
    ap.add_argument("--build-type", default="release",
                    help="recorded in the report (default release)")
    ap.add_argument("--servers-dir",
                    help="folder with ringo's example servers "
                         "(default: RINGO_DIR/../examples)")
    ap.add_argument("--server-seconds", type=int,
                    help="length of each server load (default 5; 1 with --quick)")
    ap.add_argument("--idle-conns", type=int,
                    help="connections of the idle benchmarks "
                         "(default 10000; 200 with --quick)")
    args = ap.parse_args()
    quick = args.quick or bool(os.environ.get("BENCH_N"))
    runs = args.runs if args.runs is not None else (1 if args.quick else 5)
    if runs < 1:
        ap.error("--runs must be at least 1")
    if args.workers is not None and args.sweep:
        ap.error("--workers and --sweep exclude each other")
    if args.workers is not None and args.workers < 1:
        ap.error("--workers must be at least 1")
    sweep = parse_counts(args.sweep, ap, "--sweep") if args.sweep else None

    known = [b[0] for b in BENCHMARKS] + servers.NAMES
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in only if s not in known]
    if unknown:
        ap.error(f"unknown benchmark(s) {', '.join(unknown)}; "
                 f"known: {', '.join(known)}")
    # A program built in bench/ but missing from BENCHMARKS would silently
    # never run: say so (the full report is where new benchmarks belong).
    if os.path.isdir(args.ringo_dir):
        names = {b[0] for b in BENCHMARKS}
        for f in sorted(os.listdir(args.ringo_dir)):
            path = os.path.join(args.ringo_dir, f)
            if (f not in names and os.path.isfile(path) and os.access(path, os.X_OK)
                    and os.path.exists(os.path.join(args.go_dir, f))):
                print(f"warning: {f} is built with a Go twin but not in "
                      f"compare.py's BENCHMARKS: not run", file=sys.stderr)
    selected = [b for b in BENCHMARKS if not only or b[0] in only]
    selected_servers = [n for n in servers.NAMES if not only or n in only]

    backends = (["uring", "epoll"] if args.backend == "both"
                else [args.backend] if args.backend else ["default"])
    ringo_servers = args.servers_dir or os.path.join(
        os.path.dirname(os.path.abspath(args.ringo_dir)), "examples")

    def env_for(b):
        return {} if b == "default" else {"RINGO_BACKEND": b}

    sides = [Side("ringo", b, args.ringo_dir, ringo_servers, env_for(b))
             for b in backends]
    if args.baseline_dir:
        ref, ref_name = "baseline", args.baseline_commit
        sides += [Side("baseline", b, os.path.join(args.baseline_dir, "bench"),
                       os.path.join(args.baseline_dir, "examples"), env_for(b))
                  for b in backends]
    else:
        ref, ref_name = "go", "Go"
        sides.append(Side("go", None, args.go_dir, args.go_dir, {}))
    # ringo on one worker beside its usual count: not in a sweep (which has
    # its own counts), a quick pass or a baseline comparison.
    one_worker = not (sweep or quick or args.baseline_dir)

    settings = {
        "runs": runs, "quick": quick, "only": only, "workers": args.workers,
        "sweep": sweep, "backends": backends,
        "baseline": args.baseline_commit if args.baseline_dir else None,
        "reference": ref, "note": args.note,
    }
    mach = machine(args)
    records, failed = [], False
    counts = sweep or [args.workers]
    for name, default_workers, lower_better, word in selected:
        for w in counts:
            workers = w or default_workers
            record = {"name": name, "group": "micro", "title": name,
                      "workers": workers,
                      "metrics": [{"key": "value", "unit": "",
                                   "lower_is_better": lower_better,
                                   "word": word}],
                      "runs": []}
            records.append(record)
            run_sides = list(sides)
            if args.baseline_dir and not os.path.exists(
                    os.path.join(args.baseline_dir, "bench", name)):
                record["skipped"] = f"not in {ref_name}"
                print(f"{name}: skipped, not in {ref_name}", file=sys.stderr)
                continue
            if one_worker and workers > 1:
                run_sides.append(Side("ringo_1worker", backends[0],
                                      args.ringo_dir, ringo_servers,
                                      env_for(backends[0]), workers=1))
            print(f"{name} (workers {workers})", file=sys.stderr)
            try:
                run_benchmark(record, run_sides, runs, not quick, quick)
            except BenchError as e:
                print(f"FAILED: {e}", file=sys.stderr)
                record["error"] = str(e)
                failed = True

    server_records = []
    if selected_servers:
        for w in counts:
            settings_s = servers.Settings(
                seconds=args.server_seconds or (1 if quick else 5),
                idle_conns=args.idle_conns or (200 if quick else 10000),
                workers=w or SERVER_WORKERS)
            present = [s for s in sides if s.key != "baseline" or
                       os.path.exists(os.path.join(s.servers_dir, "echo_server"))]
            if len(present) < len(sides):
                print(f"servers: skipped, {ref_name} has no example servers",
                      file=sys.stderr)
                break
            server_sides = {s.label: (s.servers_dir, s.env) for s in sides}
            recs, server_failed = servers.run_all(
                selected_servers, runs, settings_s, server_sides,
                os.path.join(args.go_dir, "loadgen"),
                reference=next(s.label for s in sides if s.key == ref),
                warm_up=not quick)
            # servers.py keys runs by label; keep key and backend apart.
            by_label = {s.label: s for s in sides}
            for rec in recs:
                for r in rec["runs"]:
                    s = by_label[r["side"]]
                    r["side"], r["backend"], r["workers"] = s.key, s.backend, rec["workers"]
            server_records += recs
            failed = failed or server_failed
        settings["server_seconds"] = settings_s.seconds
        settings["idle_conns"] = settings_s.idle_conns

    mach["load_average_end"] = load_average()
    report = machine_lines(mach, settings)
    if records:
        report += ["", "## Results", ""] + table(
            records, backends, ref, ref_name, one_worker, quick)
    if server_records:
        report += ["", "## Servers", "", servers.description(
            settings_s, "the Workers column" if sweep else None), ""]
        report += table(server_records, backends, ref, ref_name, False, quick)
        offered = [r for r in server_records if "offered_rate" in r]
        for r in offered:
            report += ["", f"- http_rate (workers {r['workers']}) offered "
                       f"{r['offered_rate']:,} requests/s (half of {ref_name}'s "
                       f"http_hello median)."]
    text = "\n".join(report) + "\n"
    sys.stdout.write(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"schema": 1, "machine": mach, "settings": settings,
                       "benchmarks": records + server_records}, f, indent=1,
                      ensure_ascii=False)
            f.write("\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
