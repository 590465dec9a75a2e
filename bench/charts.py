#!/usr/bin/env python3
"""The bench's pictures: the side-by-side comparison and a fleet start.

Drawn with matplotlib (installed in the bench venv by bench/run): a fleet
start or a side-by-side table is easier to look at than to read.

    charts.py compare SUMMARY_CSV PNG [--title T]
        grouped bars per scenario and tool from a run's summary.csv: median
        wall time (min-max whiskers), API calls per run, peak RSS.
    charts.py fleet CSV PNG [--title T] [--tps 40]
        a fleet start over time from a CSV with the header
        t,requests,throttled,done (seconds since start; requests and
        throttled answers in that second; hosts done so far): requests and
        throttles per second against the TPS limit on one axis, hosts done
        on the other.

report.py calls `compare` after writing summary.csv; a fleet script can call
`fleet` (or the function of that name) the same way.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path

# Distinct, colour-blind-safe colours; ssmm's own strategies come first.
PALETTE = ["#0072B2", "#56B4E9", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#999999"]


def _pyplot():
    """matplotlib without a display (the bench runs headless)."""
    try:
        import matplotlib
    except ImportError:
        raise SystemExit("charts: matplotlib is not installed; bench/run installs it into the bench venv "
                         "(${SSMM_CACHE_DIR:-$HOME/.cache/ssmm}/bench-venv/bin/python)")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _num(text: str) -> float | None:
    return float(text) if text not in ("", None) else None


# --- the side-by-side comparison --------------------------------------------------


def compare(summary_csv: Path, png: Path, title: str = "") -> Path:
    """Three panels of grouped bars (one group per scenario, one bar per tool
    that ran it) from summary.csv: median wall time with min-max whiskers,
    median API calls per run, median peak RSS. Time and calls use a log
    scale: team-1000 is ten times team-10."""
    plt = _pyplot()
    with open(summary_csv, newline="") as f:
        rows = [r for r in csv.DictReader(f) if _num(r["median_s"]) is not None]
    if not rows:
        raise SystemExit(f"charts: no successful runs in {summary_csv}")
    scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
    tools = list(dict.fromkeys(r["tool"] for r in rows))
    colour = {t: PALETTE[i % len(PALETTE)] for i, t in enumerate(tools)}
    panels = [
        ("median wall time, s (whiskers: min–max; × ssmm)", "median_s", True, "{:.2f}"),
        ("API calls per run", "calls_median", True, "{:.0f}"),
        ("peak RSS, MiB", "rss_median_kib", False, "{:.1f}"),
    ]
    fig, axes = plt.subplots(len(panels), 1, figsize=(10, 10.5), sharex=True)
    width = 0.8 / len(tools)
    for ax, (label, key, log, fmt) in zip(axes, panels):
        for gi, sc in enumerate(scenarios):
            present = [r for r in rows if r["scenario"] == sc]
            for bi, r in enumerate(present):
                x = gi + (bi - (len(present) - 1) / 2) * width
                v = float(r[key]) / (1024 if key == "rss_median_kib" else 1)
                err, top, text = None, v, fmt.format(v)
                if key == "median_s":
                    top = float(r["max_s"])
                    err = [[v - float(r["min_s"])], [top - v]]
                    ratio = _num(r.get("ratio_to_ssmm", ""))
                    if ratio is not None:
                        text += f" ({ratio:.2f}×)"
                ax.bar(x, v, width * 0.92, color=colour[r["tool"]], yerr=err, capsize=2,
                       error_kw={"elinewidth": 0.8, "ecolor": "#333333"})
                ax.annotate(text, (x, top), xytext=(0, 3), textcoords="offset points", ha="center",
                            va="bottom", fontsize=7, rotation=90)
        ax.set_ylabel(label)
        if log:
            ax.set_yscale("log")
            # whole decades below the shortest bar, room for labels above the tallest
            low = min(float(r[key]) for r in rows)
            ax.set_ylim(10 ** math.floor(math.log10(low)), ax.get_ylim()[1] * 4)
        else:
            ax.margins(y=0.25)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    axes[-1].set_xticks(range(len(scenarios)), scenarios)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colour[t]) for t in tools]
    fig.legend(handles, tools, loc="upper center", ncol=min(len(tools), 3), fontsize=9, frameon=False,
               bbox_to_anchor=(0.5, 0.985))
    if title:
        fig.suptitle(title, y=0.995, fontsize=10, va="top")
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png


# --- a fleet start ------------------------------------------------------------------


def read_fleet(csv_path: Path) -> dict[str, list[float]]:
    """The columns of a fleet CSV (t,requests,throttled,done), checked."""
    cols = {"t": [], "requests": [], "throttled": [], "done": []}
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        missing = set(cols) - set(reader.fieldnames or [])
        if missing:
            raise SystemExit(f"charts: {csv_path}: header must be t,requests,throttled,done "
                             f"(missing {', '.join(sorted(missing))})")
        for n, row in enumerate(reader, start=2):
            try:
                for k in cols:
                    cols[k].append(float(row[k]))
            except (TypeError, ValueError):
                raise SystemExit(f"charts: {csv_path}:{n}: not a number in {row}")
    if not cols["t"]:
        raise SystemExit(f"charts: {csv_path}: no rows")
    return cols


def fleet(csv_path: Path, png: Path, title: str = "", tps: float = 40) -> Path:
    """Requests and throttled answers per second (steps, left axis) against a
    horizontal line at the TPS limit, and hosts done so far (right axis),
    over seconds since the start. `tps` 0 draws no limit line."""
    plt = _pyplot()
    c = read_fleet(csv_path)
    fig, ax = plt.subplots(figsize=(10, 5))
    ax.step(c["t"], c["requests"], where="post", color=PALETTE[0], label="requests / s")
    ax.fill_between(c["t"], c["requests"], step="post", color=PALETTE[0], alpha=0.15)
    ax.step(c["t"], c["throttled"], where="post", color=PALETTE[5], label="throttled / s")
    ax.fill_between(c["t"], c["throttled"], step="post", color=PALETTE[5], alpha=0.25)
    if tps:
        ax.axhline(tps, color="#333333", linestyle="--", linewidth=1, label=f"{tps:g} TPS limit")
    ax.set_xlabel("seconds since start")
    ax.set_ylabel("per second")
    ax.set_ylim(bottom=0, top=max([tps, *c["requests"]]) * 1.15 or 1)
    ax.set_xlim(left=min(c["t"]), right=max(c["t"]) + 1)
    ax.grid(alpha=0.3)
    done = ax.twinx()
    done.plot(c["t"], c["done"], color=PALETTE[3], linewidth=2, label="hosts done")
    done.set_ylabel("hosts done")
    done.set_ylim(bottom=0, top=max(c["done"]) * 1.1 or 1)
    lines = ax.get_legend_handles_labels()
    more = done.get_legend_handles_labels()
    done.legend(lines[0] + more[0], lines[1] + more[1], loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=4,
                fontsize=9, frameon=False)
    if title:
        ax.set_title(title, fontsize=11)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)
    plt.close(fig)
    return png


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="charts.py", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="mode", required=True)
    c = sub.add_parser("compare", help="grouped bars from a bench run's summary.csv")
    c.add_argument("csv", type=Path)
    c.add_argument("png", type=Path)
    c.add_argument("--title", default="")
    f = sub.add_parser("fleet", help="a fleet start over time from t,requests,throttled,done")
    f.add_argument("csv", type=Path)
    f.add_argument("png", type=Path)
    f.add_argument("--title", default="")
    f.add_argument("--tps", type=float, default=40, help="the limit line (default 40; 0: none)")
    args = ap.parse_args(argv)
    if args.mode == "compare":
        out = compare(args.csv, args.png, args.title)
    else:
        out = fleet(args.csv, args.png, args.title, args.tps)
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
