"""Summaries, targets and the outputs: report.md, runs.csv, summary.csv and
the chart drawn from summary.csv (comparison.png, by charts.py).

Kept apart from the runner so the numbers are computed in one place and the
Markdown and CSV files always agree.
"""

from __future__ import annotations

import csv
import statistics
import sys
from dataclasses import dataclass, field
from pathlib import Path

MB = 1_000_000  # targets say MB: decimal megabytes (10 MB = 10,000,000 bytes)
PUBLIC = "(crates.io)"  # how the public ssmm peer's tool name ends (tools.public_ssmm_tool)


def is_public(tool: str) -> bool:
    return tool.endswith(PUBLIC)


@dataclass
class Run:
    """One measured (or warm-up) execution of one tool on one scenario."""

    round: int  # 0 = warm-up (not counted)
    scenario: str
    tool: str
    strategy: str
    argv: list[str]
    wall_s: float
    cpu_s: float
    max_rss_kib: int
    exit_code: int
    calls: dict[str, int]
    upstream_errors: int
    min_calls: int
    vars: int | None
    expected_vars: int
    error: str = ""
    service_ms: dict[str, float] = field(default_factory=dict)  # moto's median time per op in this run

    @property
    def calls_total(self) -> int:
        return sum(self.calls.values())

    @property
    def complete(self) -> bool:
        return self.vars == self.expected_vars

    @property
    def ok(self) -> bool:
        """A run counts as a success only if it exited 0 and wrote what a
        complete read of the scenario writes."""
        return self.exit_code == 0 and self.complete


@dataclass
class Summary:
    scenario: str
    tool: str
    strategy: str
    note: str
    runs: int
    failures: int
    median_s: float | None
    min_s: float | None
    max_s: float | None
    p25_s: float | None
    p75_s: float | None
    ratio_to_ssmm: float | None
    calls_median: float | None
    calls_per_op: str
    min_calls: int
    min_detail: str
    calls_at_min: bool
    chain: int
    chain_detail: str
    bound_s: float | None
    ratio_to_bound: float | None
    bound_inrun_s: float | None
    ratio_to_bound_inrun: float | None
    rss_median_kib: float | None
    rss_max_kib: int | None
    vars_ok: bool
    reference: bool = False
    failed_errors: list[str] = field(default_factory=list)


def quartiles(xs: list[float]) -> tuple[float, float]:
    if len(xs) < 2:
        return xs[0], xs[0]
    q = statistics.quantiles(xs, n=4, method="inclusive")
    return q[0], q[2]


def fmt_calls(calls: dict[str, int]) -> str:
    return ", ".join(f"{op} {n}" for op, n in sorted(calls.items())) or "none"


def summarize(runs: list[Run], tools, scenarios, latency_s: float, service_ms: dict) -> list[Summary]:
    """One Summary per (scenario, tool) that was run. `service_ms` is
    {scenario: {op: median ms}} measured with one call at a time."""
    out: list[Summary] = []
    for s in scenarios:
        ref_median = None
        rows = []
        for t in tools:
            if s.name not in t.scenarios:
                continue
            rs = [r for r in runs if r.round > 0 and r.scenario == s.name and r.tool == t.name]
            if not rs:
                continue
            good = [r for r in rs if r.ok]
            walls = sorted(r.wall_s for r in good)
            cost = t.cost(s)
            svc = service_ms.get(s.name, {})
            chain, bound = cost.critical(latency_s, svc)
            # The same bound with moto's times as observed during these runs
            # (moto shares the CPUs with the tool and anything else running).
            inrun_svc = {}
            for op in {op for r in good for op in r.service_ms}:
                vals = [r.service_ms[op] for r in good if op in r.service_ms]
                inrun_svc[op] = statistics.median(vals)
            _, bound_inrun = cost.critical(latency_s, inrun_svc) if good else (None, 0.0)
            if t.concurrency:
                # never less than total calls / concurrency round trips
                waves = -(-cost.total // t.concurrency)
                bound = max(bound, waves * latency_s)
                bound_inrun = max(bound_inrun, waves * latency_s)
            med = statistics.median(walls) if walls else None
            p25, p75 = quartiles(walls) if walls else (None, None)
            calls_med = statistics.median([r.calls_total for r in rs]) if rs else None
            # per op, the most common per-run breakdown
            per_op = statistics.mode([fmt_calls(r.calls) for r in rs])
            rows.append(
                Summary(
                    scenario=s.name, tool=t.name, strategy=t.strategy, note=t.note, runs=len(rs),
                    failures=len(rs) - len(good), median_s=med, min_s=walls[0] if walls else None,
                    max_s=walls[-1] if walls else None, p25_s=p25, p75_s=p75, ratio_to_ssmm=None,
                    calls_median=calls_med, calls_per_op=per_op, min_calls=cost.total,
                    min_detail=cost.describe(),
                    calls_at_min=all(r.calls_total == cost.total for r in rs),
                    chain=sum(chain.values()), chain_detail=fmt_calls(chain),
                    bound_s=bound if bound > 0 else None,
                    ratio_to_bound=(med / bound) if (med is not None and bound > 0) else None,
                    bound_inrun_s=bound_inrun or None,
                    ratio_to_bound_inrun=(med / bound_inrun) if (med is not None and bound_inrun) else None,
                    rss_median_kib=statistics.median([r.max_rss_kib for r in rs]),
                    rss_max_kib=max(r.max_rss_kib for r in rs),
                    vars_ok=all(r.complete for r in rs), reference=t.reference,
                    failed_errors=[f"round {r.round}: exit {r.exit_code}, vars {r.vars}/{r.expected_vars}: {r.error}"
                                   for r in rs if not r.ok],
                )
            )
            if t.reference:
                ref_median = med
        for row in rows:
            if ref_median and row.median_s is not None:
                row.ratio_to_ssmm = row.median_s / ref_median
        out.extend(rows)
    return out


# --- targets ------------------------------------------------------------------


@dataclass
class Target:
    name: str
    met: bool | None  # None: could not be evaluated
    detail: str


def evaluate_targets(summaries: list[Summary], latency_ms: float, binary: dict, version_stats: dict,
                     public_version: str) -> list[Target]:
    """The issue's targets. Timing targets are defined on team-1000 at 20 ms;
    at another latency they are still computed but marked informational."""
    targets: list[Target] = []
    info = "" if latency_ms == 20 else f" (defined at 20 ms; this run used {latency_ms:g} ms: informational)"

    def find(scenario, pred):
        return next((x for x in summaries if x.scenario == scenario and pred(x)), None)

    ref = find("team-1000", lambda x: x.reference)
    pub = find("team-1000", lambda x: is_public(x.tool))
    kick = find("team-1000", lambda x: x.tool.startswith("kickstart"))

    def ratio_target(label, other, limit):
        if not ref or not other or ref.median_s is None or other.median_s is None:
            targets.append(Target(label, None, "not measured (a tool was skipped or every run failed)" + info))
            return
        r = ref.median_s / other.median_s
        targets.append(Target(label, r <= limit,
                              f"{ref.tool} {ref.median_s:.3f} s / {other.tool} {other.median_s:.3f} s = {r:.2f}× "
                              f"(target ≤ {limit}×){info}"))

    ratio_target(f"team-1000: ssmm ≤ 0.5× public ssmm {public_version}", pub, 0.5)
    ratio_target("team-1000: ssmm ≤ 0.1× boto3 kickstart", kick, 0.1)

    for x in summaries:
        if x.scenario == "team-1000" and x.tool.startswith("ssmm") and not is_public(x.tool):
            if x.ratio_to_bound is None:
                targets.append(Target(f"team-1000: {x.tool} ≤ 1.1× its round-trip bound", None, "no successful run"))
            else:
                targets.append(Target(
                    f"team-1000: {x.tool} ≤ 1.1× its round-trip bound", x.ratio_to_bound <= 1.1,
                    f"median {x.median_s:.3f} s vs bound {x.bound_s:.3f} s ({x.chain} serial calls: {x.chain_detail}) "
                    f"= {x.ratio_to_bound:.2f}× (with moto's service times as observed during the runs: bound "
                    f"{f3(x.bound_inrun_s)} s, {f2(x.ratio_to_bound_inrun)}×){info}"))

    ours = [x for x in summaries if x.tool.startswith("ssmm") and not is_public(x.tool)]
    off = [x for x in ours if not x.calls_at_min]
    targets.append(Target(
        "ssmm API calls = minimum (every scenario, every run)", not off and bool(ours),
        "all at the minimum" if not off else
        "; ".join(f"{x.scenario} {x.tool}: made {x.calls_per_op} (median {x.calls_median:g}), minimum {x.min_calls} "
                  f"({x.min_detail})" for x in off)))

    if ours:
        worst = max(ours, key=lambda x: x.rss_max_kib or 0)
        kib = worst.rss_max_kib or 0
        targets.append(Target("ssmm peak RSS ≤ 10 MB", kib * 1024 <= 10 * MB,
                              f"highest {kib} KiB = {kib * 1024 / MB:.2f} MB ({worst.scenario}, {worst.tool})"))

    v = version_stats.get("wall_ms")
    if v is not None:
        targets.append(Target("`ssmm --version` ≤ 2 ms", v <= 2.0,
                              f"median {v:.2f} ms wall over {version_stats['n']} runs (fork to reap; "
                              f"`/bin/true` measured the same way: {version_stats['true_ms']:.2f} ms)"))
    size = binary.get("size")
    if size is not None:
        targets.append(Target("static binary ≤ 8 MB", size <= 8 * MB and binary.get("static", False),
                              f"{size} bytes = {size / MB:.2f} MB, {'statically linked' if binary.get('static') else 'NOT static'}"))
    return targets


# --- output ---------------------------------------------------------------------


def f3(x):
    return "—" if x is None else f"{x:.3f}"


def f2(x):
    return "—" if x is None else f"{x:.2f}"


def render_markdown(meta: dict, summaries: list[Summary], targets: list[Target], runs: list[Run]) -> str:
    L: list[str] = []
    L.append(f"# ssmm benchmark — {meta['date']}")
    L.append("")
    L.append(f"- Machine: {meta['nproc']} CPUs, {meta['cpu']}, Linux {meta['kernel']}; "
             f"1-min load average {meta['load']}")
    L.append(f"- Latency: {meta['latency_ms']:g} ms added to every request by the proxy; moto {meta['moto_version']} "
             f"on 127.0.0.1")
    L.append(f"- Rounds: 1 warm-up (not counted) + {meta['rounds']} counted, tools interleaved within each round")
    L.append(f"- ssmm binary: `{meta['ssmm_path']}` ({meta['binary']['size']} bytes, "
             f"{'static' if meta['binary'].get('static') else 'NOT static'}, built {meta['binary']['mtime']})")
    L.append("")
    L.append("Tool versions:")
    L.append("")
    for name, version in meta["versions"].items():
        L.append(f"- {name}: {version}")
    L.append("")
    L.append("moto service time per call, measured one call at a time without added latency (median of 5, ms):")
    L.append("")
    ops = sorted({op for svc in meta["service_ms"].values() for op in svc})
    L.append("| scenario | " + " | ".join(ops) + " |")
    L.append("|---|" + "---|" * len(ops))
    for sc, svc in meta["service_ms"].items():
        L.append(f"| {sc} | " + " | ".join(f2(svc.get(op)) for op in ops) + " |")
    L.append("")

    L.append("## Results")
    L.append("")
    L.append("Wall time in seconds: median and min–max over the counted runs (IQR in summary.csv). "
             "× ssmm: median / the ssmm default strategy's median. Calls: API calls per run as counted by the proxy "
             "(the most common breakdown); min: the fewest the tool's strategy can make against moto (README). "
             "Bound: the round-trip bound of the tool's critical path (serial calls × (latency + moto service time "
             "measured one call at a time)); in-run: the same with moto's median service times observed during "
             "the tool's own runs. "
             f"RSS: peak resident set of the process (median over runs), MiB, measured with {meta['rss_via']}.")
    if meta.get("chart"):
        L.append("")
        L.append(f"![Median wall time, API calls and peak RSS per scenario and tool]({meta['chart']})")
    for sc in meta["scenario_order"]:
        rows = [x for x in summaries if x.scenario == sc]
        if not rows:
            continue
        L.append("")
        L.append(f"### {sc}")
        L.append("")
        L.append(meta["scenario_desc"][sc])
        L.append("")
        L.append("| tool | ok/runs | median s | min–max s | × ssmm | calls | min | = min | bound s | × bound "
                 "| × in-run bound | RSS MiB | note |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for x in rows:
            ok = f"{x.runs - x.failures}/{x.runs}"
            spread = "—" if x.min_s is None else f"{x.min_s:.3f}–{x.max_s:.3f}"
            L.append(
                f"| {x.tool} | {ok} | {f3(x.median_s)} | {spread} | {f2(x.ratio_to_ssmm)} | {x.calls_per_op} | "
                f"{x.min_calls} | {'yes' if x.calls_at_min else 'NO'} | {f3(x.bound_s)} | {f2(x.ratio_to_bound)} | "
                f"{f2(x.ratio_to_bound_inrun)} | "
                f"{(x.rss_median_kib or 0) / 1024:.1f} | {x.note} |")
    L.append("")
    L.append("## ssmm binary")
    L.append("")
    vs = meta["version_stats"]
    L.append(f"- Size: {meta['binary']['size']} bytes ({meta['binary']['size'] / MB:.2f} MB); "
             f"`ldd`: {meta['binary']['ldd']}")
    L.append(f"- `ssmm --version`: median {vs['wall_ms']:.2f} ms wall (min {vs['min_ms']:.2f}), "
             f"{vs['cpu_ms']:.2f} ms CPU, over {vs['n']} runs, fork to reap (timed by {vs['via']}); "
             f"`/bin/true` timed the same way: {vs['true_ms']:.2f} ms (the floor of fork + exec + reap)")
    L.append("")
    L.append("## Targets")
    L.append("")
    for t in targets:
        mark = "MET" if t.met else ("NOT EVALUATED" if t.met is None else "MISSED")
        L.append(f"- **{mark}** — {t.name}: {t.detail}")
    L.append("")
    failures = [x for x in summaries if x.failures]
    L.append("## Failures")
    L.append("")
    if not failures:
        L.append("None: every counted run exited 0 and wrote every expected variable.")
    for x in failures:
        L.append(f"- {x.scenario} / {x.tool}: {x.failures} of {x.runs} runs failed")
        for e in x.failed_errors[:5]:
            L.append(f"  - {e}")
    warm_fail = [r for r in runs if r.round == 0 and not r.ok]
    for r in warm_fail:
        L.append(f"- warm-up {r.scenario} / {r.tool}: exit {r.exit_code}, vars {r.vars}/{r.expected_vars}: {r.error}")
    L.append("")
    L.append("## Minimum API calls, as computed")
    L.append("")
    L.append("moto pages GetParametersByPath and DescribeParameters by 10 and returns a NextToken with every *full* "
             "page, so reading n parameters costs n // 10 + 1 calls (one extra empty page when n is a multiple "
             "of 10); GetParameters takes 10 names: ceil(n / 10). Per tool and scenario:")
    L.append("")
    L.append("| scenario | tool | minimum | critical path |")
    L.append("|---|---|---|---|")
    for x in summaries:
        L.append(f"| {x.scenario} | {x.tool} | {x.min_calls} = {x.min_detail} | {x.chain} = {x.chain_detail} |")
    L.append("")
    return "\n".join(L)


def write_csv(out_dir: Path, runs: list[Run], summaries: list[Summary]) -> None:
    with open(out_dir / "runs.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["round", "counted", "scenario", "tool", "strategy", "wall_s", "cpu_s", "max_rss_kib",
                    "exit_code", "ok", "calls_total", "calls", "min_calls", "upstream_errors", "vars",
                    "expected_vars", "moto_service_ms", "error", "argv"])
        for r in runs:
            w.writerow([r.round, int(r.round > 0), r.scenario, r.tool, r.strategy, f"{r.wall_s:.4f}",
                        f"{r.cpu_s:.4f}", r.max_rss_kib, r.exit_code, int(r.ok), r.calls_total,
                        ";".join(f"{k}={v}" for k, v in sorted(r.calls.items())), r.min_calls, r.upstream_errors,
                        "" if r.vars is None else r.vars, r.expected_vars,
                        ";".join(f"{k}={v:.2f}" for k, v in sorted(r.service_ms.items())), r.error, " ".join(r.argv)])
    with open(out_dir / "summary.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scenario", "tool", "strategy", "runs", "failures", "median_s", "min_s", "max_s", "p25_s",
                    "p75_s", "ratio_to_ssmm", "calls_median", "calls_per_op", "min_calls", "min_calls_detail",
                    "calls_at_min", "critical_path_calls", "bound_s", "ratio_to_bound", "bound_inrun_s",
                    "ratio_to_bound_inrun", "rss_median_kib",
                    "rss_max_kib", "vars_complete", "note"])

        def g(x, fmt="{:.4f}"):
            return "" if x is None else fmt.format(x)

        for x in summaries:
            w.writerow([x.scenario, x.tool, x.strategy, x.runs, x.failures, g(x.median_s), g(x.min_s), g(x.max_s),
                        g(x.p25_s), g(x.p75_s), g(x.ratio_to_ssmm, "{:.3f}"), g(x.calls_median, "{:g}"),
                        x.calls_per_op, x.min_calls, x.min_detail, int(x.calls_at_min), x.chain, g(x.bound_s),
                        g(x.ratio_to_bound, "{:.3f}"), g(x.bound_inrun_s), g(x.ratio_to_bound_inrun, "{:.3f}"),
                        g(x.rss_median_kib, "{:g}"), g(x.rss_max_kib, "{}"),
                        int(x.vars_ok), x.note])


def write_chart(out_dir: Path, title: str) -> str | None:
    """comparison.png next to summary.csv (see charts.compare); None, with
    the reason on stderr, when it cannot be drawn (no matplotlib)."""
    import charts

    try:
        return charts.compare(out_dir / "summary.csv", out_dir / "comparison.png", title).name
    except SystemExit as e:
        print(f"bench: no chart: {e}", file=sys.stderr)
        return None
