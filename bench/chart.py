#!/usr/bin/python3
"""Draw the benchmark chart from the JSON that bench/compare.py writes.

Usage: /usr/bin/python3 bench/chart.py RESULTS.json OUT.svg [OUT.png ...]
(the format follows each file's extension). Debian's python3-matplotlib,
installed by scripts/deps.sh; call /usr/bin/python3, not a python3 that
may come first in PATH without it.

One run against Go or a baseline: two panels side by side, each a bar per
benchmark (per metric for the servers) showing ringo's advantage, the ratio
of medians oriented so that > 1 means ringo is better (faster, cheaper,
smaller) and < 1 means it loses, on a log scale centred on a line at 1x.
Left: time, throughput, latency and CPU. Right: memory (peak RSS of every
program, and the per-connection and per-fiber figures). Each bar's whisker
is the min-max spread: from ringo's worst run against the other side's
best to ringo's best against the other's worst; a bar is pale when that
spread crosses 1x (the runs disagree on who wins). Winning bars are green and
point right, losing ones red and point left; each panel is sorted, best on
top. With two backends each row has a bar per backend.

A --sweep run: small multiples, one per benchmark: ringo's and Go's speed
against the worker count, both relative to Go on the fewest workers, so
ringo's line above Go's is ringo winning, and each line's slope is how
that side scales.
"""

import math
import statistics
import sys
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend choice)
from matplotlib.ticker import FixedLocator, NullLocator  # noqa: E402

WIN, LOSE, TIE = "#2a9d6f", "#d1495b", "#9a9a9a"
TIE_BAND = 1.02          # within 2% either way: drawn grey, called a tie
HATCH = {0: "", 1: "////"}


def is_memory(unit):
    u = unit.lower()
    return "rss" in u or "byte" in u or u in ("kib", "mib")


def med(v):
    return statistics.median(v) if v else None


def side_values(rec, side, backend, key):
    return [r["values"][key] for r in rec["runs"]
            if r["side"] == side and key in r["values"]
            and (backend is None or r.get("backend") == backend)]


def side_peaks(rec, side, backend):
    return [r["peak_rss_kib"] for r in rec["runs"] if r["side"] == side
            and r.get("peak_rss_kib") and (backend is None or r.get("backend") == backend)]


def advantage(ringo, ref, lower_better):
    """(ratio of medians, worst, best), oriented so > 1 favours ringo; None
    when a side is missing or a figure is not positive."""
    if not ringo or not ref or min(ringo) <= 0 or min(ref) <= 0:
        return None
    if lower_better:
        return (med(ref) / med(ringo), min(ref) / max(ringo), max(ref) / min(ringo))
    return (med(ringo) / med(ref), min(ringo) / max(ref), max(ringo) / min(ref))


def short_unit(unit):
    return unit.replace(" (closed loop)", "").replace("requests/s achieved",
                                                      "req/s achieved")


def collect(data):
    """Rows for the two panels: (label, [(backend, (adv, lo, hi)) ...])."""
    settings = data["settings"]
    ref = settings.get("reference", "go")
    backends = settings.get("backends") or ["default"]
    # A baseline exists per backend; Go once.
    ref_backend = (lambda b: b) if ref == "baseline" else (lambda b: None)
    speed, memory = [], []
    for rec in data["benchmarks"]:
        if "error" in rec or "skipped" in rec or not rec["runs"]:
            continue
        name = rec["name"]
        servers = rec["group"] == "servers"
        for m in rec["metrics"]:
            bars = []
            for b in backends:
                a = advantage(side_values(rec, "ringo", b, m["key"]),
                              side_values(rec, ref, ref_backend(b), m["key"]),
                              m["lower_is_better"])
                if a:
                    bars.append((b, a))
            if not bars:
                continue
            label = f"{name}: {short_unit(m['unit'])}" if servers else f"{name} ({m['unit']})"
            (memory if is_memory(m["unit"]) else speed).append((label, bars))
        bars = []
        for b in backends:
            a = advantage(side_peaks(rec, "ringo", b),
                          side_peaks(rec, ref, ref_backend(b)), True)
            if a:
                bars.append((b, a))
        if bars:
            memory.append((f"{name}: peak RSS", bars))
    return speed, memory


def ratio_text(adv, ref_name, me):
    if adv >= TIE_BAND:
        return f"{me} {adv:.2f}×"
    if adv <= 1 / TIE_BAND:
        return f"{ref_name} {1 / adv:.2f}×"
    return "tie"


def colour(adv):
    return WIN if adv >= TIE_BAND else LOSE if adv <= 1 / TIE_BAND else TIE


def log_ticks(ax, limit, lo=None, hi=None, axis="x"):
    """Ticks at powers of 2 within ±limit (or lo..hi), in log2, written as
    1/4×, 2×."""
    lo = -limit if lo is None else lo
    hi = limit if hi is None else hi
    k = max(1, math.ceil(limit))
    step = 1 if hi - lo <= 9 else 2     # about nine ticks at most
    powers = [i for i in range(-k, k + 1) if i % step == 0 and lo <= i <= hi]
    ticks = [2.0 ** i for i in powers]
    labels = [f"1/{int(2 ** -i)}×" if i < 0 else f"{int(2 ** i)}×" for i in powers]
    loc = FixedLocator(ticks)
    if axis == "x":
        ax.xaxis.set_major_locator(loc)
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels(labels)
    else:
        ax.yaxis.set_major_locator(loc)
        ax.yaxis.set_minor_locator(NullLocator())
        ax.set_yticklabels(labels)


def bar_panel(ax, rows, title, ref_name, me, backends):
    if not rows:
        ax.set_axis_off()
        ax.set_title(f"{title}\n(nothing measured)", fontsize=10)
        return
    # Best on top: barh puts row 0 at the bottom.
    rows = sorted(rows, key=lambda r: min(a[0] for _, a in r[1]))
    logs = [math.log2(v) for _, bars in rows for _, a in bars for v in a]
    # Each side reaches at least 2x, and further by a share of the width
    # for the labels beyond the whiskers.
    x_lo, x_hi = min(min(logs), -1.0), max(max(logs), 1.0)
    pad = 0.3 * (x_hi - x_lo)
    x_lo, x_hi = x_lo - pad, x_hi + pad
    n_b = len(backends)
    height = 0.75 / n_b
    for y, (label, bars) in enumerate(rows):
        for b, (adv, lo, hi) in bars:
            i = backends.index(b)
            yy = y + (i - (n_b - 1) / 2) * height
            c = colour(adv)
            # Pale when the spread crosses 1x: the runs disagree on who wins.
            clear = lo > 1 or hi < 1
            ax.barh(yy, adv - 1, left=1, height=height * 0.9, color=c,
                    alpha=1.0 if clear else 0.45, hatch=HATCH.get(i, ""),
                    edgecolor="white" if i else c, linewidth=0)
            ax.errorbar(adv, yy, xerr=[[adv - lo], [hi - adv]], fmt="none",
                        ecolor="#333333", elinewidth=0.9, capsize=2.5)
            right = adv >= 1
            x = (max(hi, adv) * 1.06) if right else (min(lo, adv) / 1.06)
            text = ratio_text(adv, ref_name, me) + (f" [{b}]" if n_b > 1 else "")
            ax.text(x, yy, text, va="center", ha="left" if right else "right",
                    fontsize=7.5, color=c if c != TIE else "#555555")
    ax.axvline(1, color="black", linewidth=1)
    ax.set_xscale("log", base=2)
    ax.set_xlim(2 ** x_lo, 2 ** x_hi)
    log_ticks(ax, max(-x_lo, x_hi), x_lo, x_hi)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r[0] for r in rows], fontsize=8)
    ax.set_ylim(-0.6, len(rows) - 0.4)
    ax.grid(axis="x", color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(f"← {ref_name} better        {me} better →", fontsize=9)
    for s in ("top", "right"):
        ax.spines[s].set_visible(False)


def headline(data):
    m, s = data["machine"], data["settings"]
    ref = s.get("baseline") or "Go"
    if s.get("quick"):
        what = "QUICK PASS: small sizes, one run; a correctness check, NOT a measurement"
    elif s.get("sweep"):
        what = f"ratio of medians of {s['runs']} interleaved runs a side at each worker count"
    else:
        what = (f"ratio of medians of {s['runs']} interleaved runs a side; "
                f"whisker = min–max spread; pale bar = the spread crosses 1×")
    me = "ringo (this tree)" if s.get("baseline") else "ringo"
    return (f"{me} against {ref}: {what}\n"
            f"{m['cores']}-core {m['cpu']}, Linux {m['kernel']}, {m['go']}, "
            f"ringo {m['commit']}, {m['date']}, load avg "
            f"{m.get('load_average_start', '?')}")


def bars_chart(data, paths):
    s = data["settings"]
    ref_name = s.get("baseline") or "Go"
    backends = s.get("backends") or ["default"]
    speed, memory = collect(data)
    n = max(len(speed), len(memory), 1)
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(14, max(3.6, 1.9 + 0.3 * n)),
        gridspec_kw={"width_ratios": [1.15, 1]})
    me = "this tree" if s.get("baseline") else "ringo"
    bar_panel(left, speed, "Time, throughput, latency, CPU", ref_name, me, backends)
    bar_panel(right, memory, "Memory", ref_name, me, backends)
    if len(backends) > 1:
        from matplotlib.patches import Patch
        fig.legend(handles=[Patch(facecolor="#777777", hatch=HATCH.get(i, ""),
                                  edgecolor="white", label=f"RINGO_BACKEND={b}")
                            for i, b in enumerate(backends)],
                   loc="lower center", ncol=len(backends), fontsize=8, frameon=False)
    fig.suptitle(headline(data), fontsize=9)
    fig.tight_layout(rect=(0, 0.03 if len(backends) > 1 else 0, 1, 1))
    for p in paths:
        fig.savefig(p)


def sweep_chart(data, paths):
    """Small multiples, one per benchmark (per headline metric): ringo's and
    the reference's speed against the worker count, both relative to the
    reference on its fewest workers, so the reference starts at 1x and the
    gap between the lines is ringo's advantage. Higher is better for every
    metric (a time is inverted). The panel's title gives the advantage at
    the most workers, green when ringo wins, red when it loses."""
    s = data["settings"]
    ref = s.get("reference", "go")
    ref_name = s.get("baseline") or "Go"
    me = "this tree" if s.get("baseline") else "ringo"
    b = (s.get("backends") or ["default"])[0]
    ref_b = b if ref == "baseline" else None
    series = {}   # label -> {workers: (ringo median, reference median, lower_better)}
    failed = {}   # label -> [workers where a run failed]
    for rec in data["benchmarks"]:
        m = rec["metrics"][0]
        label = rec["name"] if rec["group"] == "micro" else f"{rec['name']}: {short_unit(m['unit'])}"
        if "error" in rec:
            failed.setdefault(label, []).append(rec["workers"])
            series.setdefault(label, {})
            continue
        if "skipped" in rec or not rec["runs"]:
            continue
        rv = side_values(rec, "ringo", b, m["key"])
        fv = side_values(rec, ref, ref_b, m["key"])
        if rv and fv and min(rv) > 0 and min(fv) > 0:
            series.setdefault(label, {})[rec["workers"]] = (med(rv), med(fv), m["lower_is_better"])
    workers = sorted({w for pts in series.values() for w in pts}) or [1]
    cols = min(5, max(1, len(series)))
    rows = max(1, math.ceil(len(series) / cols))
    # Each panel its own scale: one benchmark far ahead would flatten the rest.
    fig, axes = plt.subplots(rows, cols, figsize=(2.9 * cols, 1.2 + 2.3 * rows),
                             squeeze=False, sharex=True)
    def final_advantage(item):
        pts = item[1]
        if not pts:
            return float("-inf")
        r, f, lower = pts[max(pts)]
        return f / r if lower else r / f
    # Best first, as in the bar chart.
    for ax, (label, pts) in zip(axes.flat, sorted(series.items(), key=final_advantage,
                                                  reverse=True)):
        ws = sorted(pts)
        if not ws:
            ax.set_title(f"{label}\nFAILED at {', '.join(map(str, failed[label]))} w",
                         fontsize=8, color=LOSE)
            continue
        first = pts[ws[0]]
        def speed(v, lower):
            # Relative to the reference on the fewest workers; > 1 is better.
            return first[1] / v if lower else v / first[1]
        ringo = [speed(pts[w][0], pts[w][2]) for w in ws]
        other = [speed(pts[w][1], pts[w][2]) for w in ws]
        extreme = max(1.0, *(abs(math.log2(v)) for v in ringo + other))
        lim = extreme * 1.15
        ax.set_yscale("log", base=2)
        ax.set_ylim(2 ** -lim, 2 ** lim)
        log_ticks(ax, lim, axis="y")
        ax.plot(ws, other, color="#4a6fa5", marker="o", markersize=3.5, linewidth=1.4,
                label=ref_name)
        ax.plot(ws, ringo, color="#e08a1e", marker="o", markersize=3.5, linewidth=1.8,
                label=me)
        last = ringo[-1] / other[-1]
        fail = (f"; FAILED at {', '.join(map(str, failed[label]))} w"
                if label in failed else "")
        ax.set_title(f"{label}\n{ratio_text(last, ref_name, me)} at {ws[-1]} w{fail}",
                     fontsize=8, color=LOSE if fail else
                     colour(last) if colour(last) != TIE else "#555555")
        ax.axhline(1, color="#999999", linewidth=0.8)
        ax.tick_params(labelbottom=True, labelsize=8)
        ax.grid(color="#e5e5e5", linewidth=0.6)
        for sp in ("top", "right"):
            ax.spines[sp].set_visible(False)
    for ax in list(axes.flat)[len(series):]:
        ax.set_axis_off()
    first_ax = axes.flat[0]
    first_ax.set_xscale("log", base=2)
    first_ax.set_xticks(workers)
    first_ax.set_xticklabels([str(w) for w in workers])
    first_ax.xaxis.set_minor_locator(NullLocator())
    for ax in list(axes.flat)[:len(series)]:
        ax.set_xlabel("workers", fontsize=8)
    for ax in axes[:, 0]:
        ax.set_ylabel(f"speed vs {ref_name} at {workers[0]}", fontsize=8)
    handles, labels = first_ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", ncol=2, fontsize=9, frameon=False)
    fig.suptitle(headline(data) + "\nspeed (each panel its own scale): higher is better (times inverted), "
                 f"relative to {ref_name} on {workers[0]} worker(s); "
                 f"workers = RINGO_WORKERS = GOMAXPROCS; the machine has "
                 f"{data['machine']['cores']} cores", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    for p in paths:
        fig.savefig(p)


def main():
    if len(sys.argv) < 3:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        data = json.load(f)
    plt.rcParams.update({"svg.fonttype": "none", "font.family": "DejaVu Sans",
                         "hatch.color": "white"})
    if data["settings"].get("sweep"):
        sweep_chart(data, sys.argv[2:])
    else:
        bars_chart(data, sys.argv[2:])
    return 0


if __name__ == "__main__":
    sys.exit(main())
