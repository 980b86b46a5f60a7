"""The server benchmarks: ringo's example servers against their Go twins.

compare.py runs these after the micro-benchmarks. Each run starts a fresh
server (examples/echo_server or examples/http_server for ringo, the twin
from bench/go/ for Go) on 127.0.0.1:0 with RINGO_WORKERS = GOMAXPROCS =
workers, reads its port from its "listening on" line, loads it with the
same client for both sides, and stops it with SIGTERM: a server that does
not exit with status 0 fails the run. Sides alternate, ringo, Go, ringo,
Go, ..., after one discarded warm-up run each. Beside Go the sides can be
ringo on another backend (RINGO_BACKEND) or an older build of ringo
(--baseline): whatever compare.py passes as sides.

Clients:
  tcp_echo    bench/go/loadgen -mode echo: 100 connections, 64-byte
              round trips, every byte checked; round trips/s.
  tcp_stream  loadgen -mode stream: 4 connections each writing 16 KiB
              chunks and reading the echo back, every byte checked; MB/s.
  http_hello  wrk -t1 -c100 --latency: requests/s, and p99 latency
              (closed loop, so indicative only: it hides queueing).
  http_rate   hey -c 50 -q R/50 at R = half of Go's median requests/s in
              http_hello (measured on the spot if http_hello was not run):
              p99 latency at a fixed offered rate.
  idle_echo,  loadgen -mode idle: 10,000 connections, one exchange each,
  idle_http   then idle; the server's VmRSS growth per connection.
Beside each load, the server's CPU time (utime + stime from
/proc/<pid>/stat) per operation, and its peak RSS (VmHWM) at the end.

Before the HTTP loads, one GET is checked by hand (status, Content-Type,
Content-Length, body): wrk and hey count replies, not their content.
"""

import http.client
import os
import re
import resource
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time


class ServerError(Exception):
    pass


# name, server program, what the row says, metrics: (key, unit, lower
# better, winner word). The first metric is the headline.
SERVER_BENCHMARKS = [
    ("tcp_echo", "echo_server", "TCP echo, 100 conns, 64 B round trips",
     [("rate", "round trips/s", False, "faster"),
      ("cpu", "CPU µs/round trip", True, "cheaper")]),
    ("tcp_stream", "echo_server", "TCP stream echo, 4 conns, 16 KiB writes",
     [("rate", "MB/s", False, "faster"),
      ("cpu", "CPU ms/GB", True, "cheaper")]),
    ("http_hello", "http_server", "HTTP hello, wrk -t1 -c100",
     [("rate", "requests/s", False, "faster"),
      ("p99", "p99 ms (closed loop)", True, "lower"),
      ("cpu", "CPU µs/request", True, "cheaper")]),
    ("http_rate", "http_server", "HTTP hello, hey -c50 at half Go's max rate",
     [("p99", "p99 ms", True, "lower"),
      ("achieved", "requests/s achieved", False, "higher"),
      ("cpu", "CPU µs/request", True, "cheaper")]),
    ("idle_echo", "echo_server", "10,000 idle TCP echo conns",
     [("rss", "RSS bytes/conn", True, "smaller")]),
    ("idle_http", "http_server", "10,000 idle HTTP keep-alive conns",
     [("rss", "RSS bytes/conn", True, "smaller")]),
]

NAMES = [b[0] for b in SERVER_BENCHMARKS]

START_TIMEOUT_S = 30
STOP_TIMEOUT_S = 30


class Settings:
    def __init__(self, seconds, idle_conns, workers):
        self.seconds = seconds
        self.idle_conns = idle_conns
        self.workers = workers


def raise_fd_limit(want):
    """Soft RLIMIT_NOFILE up to the hard limit; children inherit it.
    Returns the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard == resource.RLIM_INFINITY else max(soft, hard)
    if want > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft


def proc_cpu_s(pid):
    """utime + stime of pid in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    ticks = int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def proc_status_kib(pid, field):
    """A "Field:  N kB" line of /proc/<pid>/status, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise ServerError(f"no {field} for pid {pid}")


def proc_rss_bytes(pid):
    return proc_status_kib(pid, "VmRSS") * 1024


class Server:
    """One server process, started on 127.0.0.1:0."""

    def __init__(self, path, workers, extra_env=None):
        if not os.access(path, os.X_OK):
            raise ServerError(f"{path}: not built")
        env = dict(os.environ, RINGO_WORKERS=str(workers),
                   GOMAXPROCS=str(workers))
        env.update(extra_env or {})
        self.path = path
        self.stderr = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(
            [path, "127.0.0.1:0"], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        line = self._first_line()
        m = re.match(r"^listening on (\S+):(\d+)$", line)
        if not m:
            self.kill()
            raise ServerError(f"{path}: expected 'listening on HOST:PORT', "
                              f"got {line!r}{self.stderr_tail()}")
        self.host, self.port = m.group(1), int(m.group(2))
        self.addr = f"{self.host}:{self.port}"
        self.pid = self.proc.pid

    def _first_line(self):
        ready, _, _ = select.select([self.proc.stdout], [], [], START_TIMEOUT_S)
        if not ready:
            self.kill()
            raise ServerError(f"{self.path}: no 'listening on' line in "
                              f"{START_TIMEOUT_S} s{self.stderr_tail()}")
        return self.proc.stdout.readline().strip()

    def stderr_tail(self):
        self.stderr.flush()
        self.stderr.seek(0)
        text = self.stderr.read().strip()
        return ("\n" + "\n".join("    " + l for l in text.splitlines()[-10:])
                if text else "")

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stderr.close()

    def stop(self):
        """SIGTERM; the server must exit 0 within STOP_TIMEOUT_S. Returns
        its peak RSS in KiB (VmHWM, read just before the signal)."""
        if self.proc.poll() is not None:
            tail = self.stderr_tail()
            self.kill()
            raise ServerError(f"{self.path}: died during the run "
                              f"(status {self.proc.returncode}){tail}")
        peak_kib = proc_status_kib(self.pid, "VmHWM")
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            tail = self.stderr_tail()
            self.kill()
            raise ServerError(f"{self.path}: still running {STOP_TIMEOUT_S} s "
                              f"after SIGTERM{tail}")
        tail = self.stderr_tail()
        self.stderr.close()
        if rc != 0:
            raise ServerError(f"{self.path}: exit status {rc} after SIGTERM{tail}")
        return peak_kib


def run_client(args, timeout):
    try:
        proc = subprocess.run(args, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise ServerError(f"{args[0]}: not found")
    except subprocess.TimeoutExpired:
        raise ServerError(f"{' '.join(args)}: timed out after {timeout} s")
    if proc.returncode != 0:
        raise ServerError(f"{' '.join(args)}: exit status {proc.returncode}\n"
                          + proc.stderr.strip()[-2000:])
    return proc.stdout


def check_hello(server):
    """One GET by hand: wrk and hey do not look at what they receive."""
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        conn.request("GET", "/")
        r = conn.getresponse()
        body = r.read()
        if (r.status != 200 or body != b"Hello, World!"
                or r.getheader("Content-Type") != "text/plain"
                or r.getheader("Content-Length") != "13"):
            raise ServerError(f"{server.path}: unexpected reply {r.status} "
                              f"{r.getheaders()} {body!r}")
    except OSError as e:
        raise ServerError(f"{server.path}: GET /: {e}")
    finally:
        conn.close()


def loadgen_ops(out):
    m = re.search(r"^# ops (\d+) seconds ([\d.]+)$", out, re.M)
    if not m:
        raise ServerError(f"loadgen: no '# ops' line in {out!r}")
    return int(m.group(1)), float(m.group(2))


def duration_ms(text):
    """wrk's '10.48ms', '812.00us', '1.02s' in milliseconds."""
    m = re.match(r"^([\d.]+)(us|ms|s|m)$", text)
    if not m:
        raise ServerError(f"wrk: cannot read latency {text!r}")
    v = float(m.group(1))
    return v * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}[m.group(2)]


def parse_wrk(out):
    rate = re.search(r"^Requests/sec:\s+([\d.]+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    count = re.search(r"^\s+(\d+) requests in", out, re.M)
    if not (rate and p99 and count):
        raise ServerError(f"wrk: unexpected output\n{out}")
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        raise ServerError(f"wrk: {bad.group(1)} replies were not 2xx\n{out}")
    return float(rate.group(1)), duration_ms(p99.group(1)), int(count.group(1))


def parse_hey(out):
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p99 = re.search(r"99% in ([\d.]+) secs", out)
    ok = re.search(r"\[200\]\s+(\d+) responses", out)
    if not (rate and p99 and ok):
        raise ServerError(f"hey: unexpected output\n{out}")
    if "Error distribution" in out or re.search(r"\[(?!200\])\d+\]\s+\d+ responses", out):
        raise ServerError(f"hey: errors or non-200 replies\n{out}")
    return float(rate.group(1)), float(p99.group(1)) * 1e3, int(ok.group(1))


class Runner:
    """sides: {key: (folder with the side's servers, extra environment)};
    reference: the side whose maximum rate sets http_rate's offered load."""

    def __init__(self, settings, sides, loadgen, reference):
        self.s = settings
        self.sides = sides
        self.loadgen = loadgen
        self.reference = reference
        self.ref_http_max = None    # the reference's median requests/s

    def server(self, side, program, extra_env=None):
        folder, env = self.sides[side]
        return Server(os.path.join(folder, program), self.s.workers,
                      dict(env, **(extra_env or {})))

    # Each run_* starts a server, loads it, stops it, returns {metric: value}.

    def load(self, side, program, client, timeout, check=None):
        """Starts program for side, runs the client command (a function of
        the server's address) against it, stops it. Returns the client's
        output, the server's CPU seconds over the load and its peak RSS (KiB).
        A server that fails on the way is killed."""
        srv = self.server(side, program)
        try:
            if check:
                check(srv)
            cpu0 = proc_cpu_s(srv.pid)
            out = run_client(client(srv.addr), timeout=timeout)
            cpu = proc_cpu_s(srv.pid) - cpu0
            peak = srv.stop()
        except BaseException:
            srv.kill()
            raise
        return out, cpu, peak

    def run_tcp(self, side, mode):
        out, cpu, peak = self.load(
            side, "echo_server",
            lambda addr: [self.loadgen, "-mode", mode, "-addr", addr,
                          "-duration", f"{self.s.seconds}s"],
            timeout=self.s.seconds + 120)
        ops, secs = loadgen_ops(out)
        if ops == 0:
            raise ServerError(f"loadgen {mode}: no operations completed")
        if mode == "echo":
            return {"rate": ops / secs, "cpu": cpu / ops * 1e6, "_peak_kib": peak}
        return {"rate": ops / secs / 1e6, "cpu": cpu / (ops / 1e9) * 1e3,
                "_peak_kib": peak}

    def run_wrk(self, side, seconds=None):
        secs = seconds or self.s.seconds
        out, cpu, peak = self.load(
            side, "http_server",
            lambda addr: ["wrk", "-t1", "-c100", f"-d{secs}s", "--latency", f"http://{addr}/"],
            timeout=secs + 60, check=check_hello)
        rate, p99, count = parse_wrk(out)
        return {"rate": rate, "p99": p99, "cpu": cpu / max(count, 1) * 1e6,
                "_peak_kib": peak}

    def rate_target(self):
        if self.ref_http_max is None:
            print(f"  http_rate: measuring {self.reference}'s max rate first (wrk)",
                  file=sys.stderr)
            self.ref_http_max = self.run_wrk(self.reference)["rate"]
        return self.ref_http_max / 2

    def run_hey(self, side):
        target = self.rate_target()
        conns = 50
        per_worker = max(1, round(target / conns))
        out, cpu, peak = self.load(
            side, "http_server",
            lambda addr: ["hey", "-z", f"{self.s.seconds}s", "-c", str(conns),
                          "-q", str(per_worker), f"http://{addr}/"],
            timeout=self.s.seconds + 60, check=check_hello)
        rate, p99, count = parse_hey(out)
        return {"p99": p99, "achieved": rate, "cpu": cpu / max(count, 1) * 1e6,
                "_target": per_worker * conns, "_peak_kib": peak}

    def run_idle(self, side, proto):
        program = "http_server" if proto == "http" else "echo_server"
        # The measurement must end long before the idle timeout closes them.
        srv = self.server(side, program, {"HTTP_IDLE_TIMEOUT_MS": "600000",
                                          "HTTP_HEADER_TIMEOUT_MS": "600000"})
        client = None
        try:
            before = proc_rss_bytes(srv.pid)
            client = subprocess.Popen(
                [self.loadgen, "-mode", "idle", "-proto", proto, "-addr", srv.addr,
                 "-conns", str(self.s.idle_conns)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, bufsize=0)
            # Raw reads: a buffered readline could swallow "# ready" into a
            # buffer that select() does not see.
            got, deadline = b"", time.monotonic() + 120
            while b"# ready" not in got:
                left = deadline - time.monotonic()
                ready, _, _ = select.select([client.stdout], [], [], max(left, 0))
                if not ready:
                    raise ServerError("loadgen idle: not ready after 120 s")
                chunk = os.read(client.stdout.fileno(), 4096)
                if not chunk:
                    client.wait()
                    raise ServerError("loadgen idle: ended before ready\n"
                                      + client.stderr.read().decode()[-2000:])
                got += chunk
            # Let the last connections' fibers or goroutines park.
            time.sleep(0.5)
            after = proc_rss_bytes(srv.pid)
            out, err = client.communicate(b"\n", timeout=60)
            if client.returncode != 0:
                raise ServerError(f"loadgen idle: exit status {client.returncode}\n"
                                  + err.decode()[-2000:])
            peak = srv.stop()
        except BaseException:
            if client is not None and client.poll() is None:
                client.kill()
                client.wait()
            srv.kill()
            raise
        return {"rss": (after - before) / self.s.idle_conns, "_peak_kib": peak}

    def run(self, name, side):
        if name == "tcp_echo":
            return self.run_tcp(side, "echo")
        if name == "tcp_stream":
            return self.run_tcp(side, "stream")
        if name == "http_hello":
            return self.run_wrk(side)
        if name == "http_rate":
            return self.run_hey(side)
        if name == "idle_echo":
            return self.run_idle(side, "echo")
        if name == "idle_http":
            return self.run_idle(side, "http")
        raise ServerError(f"unknown server benchmark {name}")


def run_all(names, runs, settings, sides, loadgen, reference, warm_up=True):
    """Runs the selected server benchmarks, sides interleaved (the order of
    sides: {key: (folder, extra env)}). Returns (records, failed): one
    record per benchmark, as compare.py keeps them (see its docstring)."""
    limit = raise_fd_limit(2 * settings.idle_conns + 1000)
    if limit < settings.idle_conns + 500:
        settings.idle_conns = max(100, limit - 500)
        print(f"servers: RLIMIT_NOFILE is {limit}: idle runs use "
              f"{settings.idle_conns} connections", file=sys.stderr)
    runner = Runner(settings, sides, loadgen, reference)
    records, failed = [], False
    for name, program, title, metrics in SERVER_BENCHMARKS:
        if name not in names:
            continue
        if name.startswith("idle_"):
            title = title.replace("10,000", f"{settings.idle_conns:,}")
        record = {
            "name": name, "group": "servers", "title": title,
            "workers": settings.workers,
            "metrics": [{"key": k, "unit": u, "lower_is_better": lb, "word": w}
                        for k, u, lb, w in metrics],
            "runs": [],
        }
        records.append(record)
        print(f"{name} (servers, workers {settings.workers})", file=sys.stderr)
        try:
            if warm_up:
                for side in sides:                  # discarded
                    runner.run(name, side)
            for i in range(runs):
                for side in sides:
                    r = runner.run(name, side)
                    shown = ", ".join(f"{k} {v:g}" for k, v in r.items()
                                      if not k.startswith("_"))
                    print(f"  {name} {side} run {i + 1}/{runs}: {shown}",
                          file=sys.stderr)
                    record["runs"].append({
                        "side": side, "run": i + 1,
                        "values": {k: v for k, v in r.items()
                                   if not k.startswith("_")},
                        "peak_rss_kib": r["_peak_kib"]})
                    if "_target" in r:
                        record["offered_rate"] = r["_target"]
        except (ServerError, OSError, subprocess.SubprocessError) as e:
            print(f"FAILED: {name}: {e}", file=sys.stderr)
            failed = True
            record["error"] = str(e)
            continue
        if name == "http_hello":
            runner.ref_http_max = statistics.median(
                r["values"]["rate"] for r in record["runs"]
                if r["side"] == reference)
    return records, failed


def description(settings, workers=None):
    """The paragraph the report puts above the server table; workers says
    the worker count when it is not settings.workers (a sweep)."""
    return (
        f"ringo's examples/echo_server and examples/http_server against their "
        f"Go twins (bench/go/echo_server: net; bench/go/http_server: "
        f"net/http), RINGO_WORKERS = GOMAXPROCS = {workers or settings.workers}, on "
        f"loopback. A fresh server per run; the same client for both "
        f"sides (bench/go/loadgen for TCP, checking every echoed byte; wrk "
        f"and hey for HTTP). Server and client share the machine's "
        f"{os.cpu_count()} cores, unpinned, so the client's CPU is part of "
        f"the picture. Loads of {settings.seconds} s. CPU is the server's "
        f"utime + stime over the load, per operation; peak RSS is the "
        f"server's VmHWM. p99 from wrk is closed-loop (it hides queueing): "
        f"indicative only; http_rate's p99 is at a fixed offered rate.")
