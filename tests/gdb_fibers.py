#!/usr/bin/env python3
"""tests/gdb_fibers.py - gdb's ringo extension on a live process and a core file.

    gdb_fibers.py TARGET GDB [SANITIZERS]

Starts TARGET (gdb_fibers_target.c: 1,000 parked fibers in four functions
on two workers, one running fiber), attaches gdb in batch mode, checks
`info fibers`, `fiber N bt`, `fiber N` + `bt` and `fiber apply all bt`, and
has gdb write a core file with gcore; then ends the program and checks the
same on the core file (not in sanitizer builds, SANITIZERS other than
"none": gcore there copies the sanitizer's shadow mappings, terabytes of
address space, for minutes; the live checks run). The extension is not sourced: gdb must load it from
the program's .debug_gdb_scripts section, as users get it, once the program
is in its auto-load safe-path.

Exit status: 0 pass, 1 fail, 77 skip (gdb missing, or ptrace refused).
"""
import os
import re
import select
import shutil
import subprocess
import sys
import tempfile

KINDS = {
    # function: (wait reason, frames its backtrace must name, innermost first)
    "park_on_chan": ("chan receive", ["ringo_chan_recv", "receive_one", "park_on_chan"]),
    "park_on_mutex": ("sync.Mutex.Lock", ["ringo_mutex_lock", "park_on_mutex"]),
    "park_in_sleep": ("sleep", ["ringo_sleep", "park_in_sleep"]),
    "park_in_select": ("select", ["ringo_select", "park_in_select"]),
}
PER_KIND = 250
ROW = re.compile(r"^\*?\s*(\d+)\s+(waiting|running|runnable)\s+(.*?)\s+(-|\d+ \(LWP \d+\))"
                 r"\s+(\S+)\s+(\S+)$")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what)
    return cond


def skip(why):
    print("SKIP: " + why)
    sys.exit(77)


def gdb_cmd(gdb, target, *args, commands):
    cmd = [gdb, "-nx", "-batch",
           "-iex", "set debuginfod enabled off",
           "-iex", "add-auto-load-safe-path " + target,
           "-iex", "set width 0", "-iex", "set height 0"]
    cmd += list(args)
    for c in commands:
        cmd += ["-ex", c]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True, timeout=240)
    return r.stdout


def sections(out, marker):
    """Splits gdb's output at the echo markers: {name: text}."""
    parts = {}
    for chunk in out.split("@@" + marker + " ")[1:]:
        name, _, text = chunk.partition("\n")
        parts[name.strip()] = text
    return parts


def check_info(text, where, ids):
    rows = [ROW.match(line) for line in text.splitlines()]
    rows = [m.groups() for m in rows if m]
    check(re.search(r"^1002 fibers$", text, re.M), where + ": info fibers counts 1002 fibers")
    check(len(rows) == 1002, "%s: info fibers lists 1002 rows (got %d)" % (where, len(rows)))
    by_fn = {}
    for fid, state, reason, worker, fn, created in rows:
        by_fn.setdefault(fn, []).append((int(fid), state, reason, worker, created))
    for fn, (reason, _) in KINDS.items():
        got = by_fn.get(fn, [])
        check(len(got) == PER_KIND, "%s: %d fibers in %s (got %d)" % (where, PER_KIND, fn, len(got)))
        check(all(s == "waiting" and r == reason and w == "-" for _, s, r, w, _ in got),
              "%s: every %s fiber waiting on %s, on no worker" % (where, fn, reason))
        check(all(c.startswith("../tests/gdb_fibers_target.c:") or
                  c.endswith("gdb_fibers_target.c:" + c.rsplit(":", 1)[-1]) for *_, c in got),
              "%s: %s fibers created at gdb_fibers_target.c:LINE" % (where, fn))
    spin = by_fn.get("spin_until_told", [])
    check(len(spin) == 1 and spin[0][1] == "running" and spin[0][3] != "-"
          and spin[0][0] == ids["spin"],
          "%s: the spinner is listed running on a worker: %r" % (where, spin))
    main = [r for r in rows if r[5] == "ringo_run"]
    # It parks in a read right after saying it is ready: gdb may come first.
    check(len(main) == 1 and main[0][4] == "main_fiber" and main[0][1] in ("waiting", "running"),
          "%s: the main fiber is listed, created by ringo_run: %r" % (where, main))
    return rows


def check_bt(text, frames, where):
    names = re.findall(r"^#\d+\s+(?:0x[0-9a-f]+ in )?(\S+)", text, re.M)
    ok = check(names, where + ": a backtrace")
    pos = [names.index(f) if f in names else -1 for f in frames]
    ok = ok and check(-1 not in pos and pos == sorted(pos),
                      "%s: backtrace names %s in order (got %s)" % (where, frames, names))
    ok = ok and check("fiber_entry" in names, where + ": backtrace reaches fiber_entry")
    check("corrupt stack" not in text and "Backtrace stopped" not in text,
          where + ": backtrace ends cleanly")
    return ok


def check_all(out, where, rows, ids):
    parts = re.split(r"^Fiber (\d+) \(", out, flags=re.M)
    bts = {int(parts[i]): parts[i + 1] for i in range(1, len(parts) - 1, 2)}
    check(len(bts) == 1002, "%s: fiber apply all bt covers 1002 fibers (got %d)" % (where, len(bts)))
    fn_of = {int(r[0]): r[4] for r in rows}
    bad = 0
    for fid, text in bts.items():
        fn = fn_of.get(fid)
        if fn in KINDS:
            frames = KINDS[fn][1]
        elif fn == "spin_until_told":
            frames = ["spin_until_told"]
        else:
            frames = ["main_fiber"]
        names = re.findall(r"^#\d+\s+(?:0x[0-9a-f]+ in )?(\S+)", text, re.M)
        if not all(f in names for f in frames) or "corrupt stack" in text:
            bad += 1
            if bad <= 3:
                print("%s: fiber %d (%s) bt lacks %s:\n%s" % (where, fid, fn, frames, text))
    check(bad == 0, "%s: every fiber's backtrace names its functions (%d do not)" % (where, bad))


def inspect(gdb, target, args, ids, where, extra=()):
    per_kind = [(k, ids[k.split("_")[-1]]) for k in KINDS]
    cmds = ["echo @@s info\\n", "info fibers"]
    for fn, fid in per_kind:
        cmds += ["echo @@s %s\\n" % fn, "fiber %d bt" % fid]
    cmds += ["echo @@s spin\\n", "fiber %d bt" % ids["spin"]]
    # Sticky selection: `fiber N`, then plain commands see its stack.
    cmds += ["echo @@s select\\n", "fiber %d" % ids["chan"], "bt", "fiber", "fiber none",
             "echo @@s after\\n", "fiber"]
    cmds += ["echo @@s all\\n", "fiber apply all bt"]
    cmds += list(extra)
    out = gdb_cmd(gdb, target, *args, commands=cmds)
    if re.search(r"ptrace: Operation not permitted|Could not attach to process", out):
        scope = "?"
        try:
            with open("/proc/sys/kernel/yama/ptrace_scope") as f:
                scope = f.read().strip()
        except OSError:
            pass
        skip("gdb may not attach (ptrace refused; kernel.yama.ptrace_scope=%s): %s"
             % (scope, out.strip().splitlines()[-1] if out.strip() else ""))
    s = sections(out, "s")
    if not check("info" in s and "Undefined info command" not in out,
                 where + ": the extension loaded by itself (info fibers exists)"):
        print(out[-3000:])
        return out
    rows = check_info(s["info"], where, ids)
    for fn, _ in per_kind:
        if not check_bt(s.get(fn, ""), KINDS[fn][1], "%s: fiber N bt (%s)" % (where, fn)):
            print(s.get(fn, ""))
    spin = s.get("spin", "")
    check(re.search(r"^#\d+ .*spin_until_told", spin, re.M),
          "%s: the running fiber's bt is its thread's: %s" % (where, spin[:500]))
    sel = s.get("select", "")
    check_bt(sel, KINDS["park_on_chan"][1], where + ": fiber N, then bt")
    check(re.search(r"^Fiber %d \(waiting: chan receive\) park_on_chan" % ids["chan"], sel, re.M),
          where + ": `fiber` names the selected fiber")
    check("No fiber selected." in s.get("after", ""), where + ": `fiber none` drops the selection")
    check_all(s.get("all", ""), where, rows, ids)
    return out


def start_target(target, env):
    proc = subprocess.Popen([target], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            universal_newlines=True, env=env)
    ready, _, _ = select.select([proc.stdout], [], [], 120)
    line = proc.stdout.readline() if ready else ""
    m = re.match(r"ready (\d+) chan=(\d+) mutex=(\d+) sleep=(\d+) select=(\d+) spin=(\d+)", line)
    if not m:
        proc.kill()
        proc.wait()
        print("the target did not get ready: %r" % line)
        sys.exit(1)
    ids = dict(zip(["chan", "mutex", "sleep", "select", "spin"], map(int, m.groups()[1:])))
    print("target pid %s, fibers %s" % (m.group(1), ids))
    return proc, int(m.group(1)), ids


def stop_target(proc, where):
    proc.stdin.close()
    rc = proc.wait(timeout=120)
    check(rc == 0, "%s: the target exits 0 after gdb detached (got %d)" % (where, rc))


def main():
    target, gdb = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else ""
    sanitizers = sys.argv[3] if len(sys.argv) > 3 else "none"
    if not gdb or not shutil.which(gdb):
        skip("gdb is not installed (scripts/deps.sh installs Debian's gdb)")
    target = os.path.abspath(target)
    tmp = tempfile.mkdtemp(prefix="ringo-gdb-")
    core = os.path.join(tmp, "core")
    procs = []
    try:
        # Live, with the stack guards the runtime picks.
        proc, pid, ids = start_target(target, os.environ)
        procs.append(proc)
        inspect(gdb, target, ["-p", str(pid)], ids, "live", extra=["detach"])
        stop_target(proc, "live")

        if sanitizers not in ("", "none"):
            print("core file checks skipped in this -Db_sanitize=%s build: gcore copies the "
                  "sanitizer's shadow mappings (terabytes of address space) and takes minutes"
                  % sanitizers)
            return finish()
        # A core file. gcore stops copying a mapping at the first page it
        # cannot read, and the guards MADV_GUARD_INSTALL puts inside the
        # stack chunks are such pages: the core is made with mprotect'ed
        # guards, which are mappings of their own that gcore skips.
        env = dict(os.environ, RINGO_STACK_GUARD="mprotect")
        proc, pid, ids = start_target(target, env)
        procs.append(proc)
        out = gdb_cmd(gdb, target, "-p", str(pid), commands=["gcore " + core, "detach"])
        stop_target(proc, "gcore")
        if check(os.path.exists(core), "gcore wrote a core file: " + out[-500:]):
            inspect(gdb, target, [target, core], ids, "core")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    return finish()


def finish():
    if failures:
        print("%d checks failed" % len(failures))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
