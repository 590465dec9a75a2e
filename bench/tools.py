"""The tools under test: how to run each on a scenario, what a correct run
must produce, and the fewest API calls its strategy can make.

The minimum-API-call model
--------------------------
A paginated SSM read must follow NextToken until it is absent. moto 5.2.5
pages GetParametersByPath by MaxResults (10 at most) and DescribeParameters
by a fixed 10 (it ignores MaxResults), and it returns a NextToken with
*every* full page, so a path holding exactly 10k parameters costs one extra,
empty page. Against this server the fewest calls are therefore

    pages(n) = n // 10 + 1          (moto; n = 0 still costs one call)

where real SSM would need max(1, ceil(n / 10)) for GetParametersByPath and
max(1, ceil(n / 50)) for DescribeParameters with MaxResults=50. GetParameters
takes 10 names per call: ceil(n / 10), no extra call.

A strategy reads a set of *walks* (path + recursion). Per walk:
  by-path:   pages(n) GetParametersByPath, all in series (token chain);
  describe:  pages(n) DescribeParameters in series, then ceil(n / 10)
             GetParameters that can all run at once: chain = pages(n) + 1.
A tool that runs its walks concurrently has a critical path (the longest
serial chain of calls) equal to the longest walk; one that runs them one
after the other has the sum. The round-trip bound of a run is
    sum over the calls of the critical path of (latency + moto service time)
and, with a concurrency limit C, never less than ceil(total calls / C) round
trips.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from seed import TAG, Scenario

HERE = Path(__file__).resolve().parent
MOTO_PAGE = 10  # moto's page size for both GetParametersByPath and DescribeParameters


def pages(n: int, size: int = MOTO_PAGE) -> int:
    """Calls needed to read n items from moto: a token comes with every full
    page, so n // size + 1 (see the module docstring)."""
    return n // size + 1


def batches(n: int, size: int = 10) -> int:
    return math.ceil(n / size)


@dataclass
class Cost:
    """Minimum API calls of a run, and its critical path.

    `calls`: op -> count over the whole run. `chains`: the serial chains of
    calls that run side by side (op -> count each); the run cannot finish
    before the slowest of them, whichever that is once each op's service
    time is known, so all are kept."""

    calls: dict[str, int] = field(default_factory=dict)
    chains: list[dict[str, int]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def describe(self) -> str:
        return " + ".join(f"{n} {op}" for op, n in sorted(self.calls.items()))

    def critical(self, latency_s: float, service_ms: dict[str, float]) -> tuple[dict[str, int], float]:
        """The chain that takes longest at this latency, and its time."""
        def t(chain):
            return sum(n * (latency_s + service_ms.get(op, 0.0) / 1000) for op, n in chain.items())

        if not self.chains:
            return {}, 0.0
        worst = max(self.chains, key=lambda c: (t(c), sum(c.values())))
        return worst, t(worst)


def walk_cost(n: int, strategy: str) -> Cost:
    if strategy == "by-path":
        p = pages(n)
        return Cost({"GetParametersByPath": p}, [{"GetParametersByPath": p}])
    if strategy == "describe":
        d, g = pages(n), batches(n)
        calls, chain = {"DescribeParameters": d}, {"DescribeParameters": d}
        if g:
            calls["GetParameters"] = g
            chain["GetParameters"] = 1
        return Cost(calls, [chain])
    raise ValueError(strategy)


def combine(costs: list[Cost], concurrent: bool) -> Cost:
    """Costs run side by side (concurrent) or one after the other."""
    calls: dict[str, int] = {}
    for c in costs:
        for op, n in c.calls.items():
            calls[op] = calls.get(op, 0) + n
    if concurrent:
        chains = [dict(ch) for c in costs for ch in c.chains]
    else:
        chains = [{}]
        for c in costs:
            chains = [_add(a, b) for a in chains for b in (c.chains or [{}])]
    return Cost(calls, chains)


def _add(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    out = dict(a)
    for op, n in b.items():
        out[op] = out.get(op, 0) + n
    return out


# --- the tools --------------------------------------------------------------


@dataclass
class Tool:
    """One command line under test.

    `argv(scenario, rundir)` builds the command; `expected(scenario)` is the
    number of variables a complete run writes; `count(rundir, stdout)`
    counts what it wrote; `cost(scenario)` is the minimum-API-call model;
    `strategy` names it for the report; `note` says what the tool does not
    do (e.g. no tag overlay)."""

    name: str
    version: str
    scenarios: set[str]
    argv: Callable[[Scenario, Path], list[str]]
    expected: Callable[[Scenario], int]
    count: Callable[[Path, Path], int | None]
    cost: Callable[[Scenario], Cost]
    strategy: str
    concurrency: int = 1
    note: str = ""
    reference: bool = False  # the ssmm default strategy: ratios are to it


def count_env_file(path: Path) -> int | None:
    """Variables in an env file: lines that start a KEY=... assignment.
    (Values are single-line in the bench data.)"""
    try:
        text = path.read_text()
    except OSError:
        return None
    n = 0
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("export "):
            line = line[7:]
        if re.match(r"^[A-Za-z_][A-Za-z0-9_.-]*=", line):
            n += 1
    return n


def count_json_params(path: Path) -> int | None:
    import json

    try:
        return len(json.loads(path.read_text())["Parameters"])
    except (OSError, ValueError, KeyError):
        return None


def run_quiet(argv: list[str], env: dict | None = None) -> str:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
        return (p.stdout + p.stderr).strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unavailable ({e})"


# ssmm (this repo) ------------------------------------------------------------


def ssmm_strategies(binary: str) -> tuple[list[str], str | None]:
    """The values of `--fetch-strategy` if ssmm has that option (global or on
    sync), with the default; ([], None) otherwise."""
    text = run_quiet([binary, "--help"]) + "\n" + run_quiet([binary, "sync", "--help"])
    m = re.search(r"--fetch-strategy\b(.*?)(?=\n\s*(?:-\w, )?--[a-z]|\Z)", text, re.S)
    if not m:
        return [], None
    block = m.group(1)
    values = re.search(r"\[possible values: ([^\]]+)\]", block)
    found = [v.strip() for v in values.group(1).split(",")] if values else []
    if not found:
        # Long help lists values as "- name: text" lines.
        found = re.findall(r"^\s*-\s*([a-z][a-z-]*):", block, re.M)
    default = re.search(r"\[default: ([^\]]+)\]", block)
    wanted = [v for v in ("by-path", "describe") if v in found] or found or ["by-path", "describe"]
    return wanted, (default.group(1).strip() if default else None)


def ssmm_tools(binary: str) -> list[Tool]:
    version = run_quiet([binary, "--version"])
    strategies, default = ssmm_strategies(binary)

    def make(strategy: str | None) -> Tool:
        model = strategy or "by-path"
        extra = ["--fetch-strategy", strategy] if strategy else []

        def argv(s: Scenario, rundir: Path) -> list[str]:
            if s.layout == "team":
                return [binary, "--prefix", s.prefix, "sync", "--app", s.app, "--include-tag", f"{TAG[0]}={TAG[1]}",
                        "--out", str(rundir / "out.env"), "--no-files", *extra]
            return [binary, "--layout", "ecs", "--cluster", s.cluster, "--app", s.app, "sync",
                    "--out", str(rundir / "out.env"), "--root", str(rundir / "root"), *extra]

        def cost(s: Scenario) -> Cost:
            if s.layout == "team":
                # shared and app are read without files (--no-files): one
                # one-level walk each; the tag overlay is always describe +
                # GetParameters; all three layers run concurrently.
                walks = [walk_cost(s.shared_n, model), walk_cost(s.app_n, model), walk_cost(s.tagged_n, "describe")]
            else:
                # cluster: environment (one level) and files/ (recursive,
                # none seeded); app: one recursive walk of /<cluster>/<app>
                # covers environment/ and files/ (the cheapest cover).
                walks = [walk_cost(s.shared_n, model), walk_cost(0, model), walk_cost(s.app_n + len(s.files), model)]
            return combine(walks, concurrent=True)

        def expected(s: Scenario) -> int:
            return s.shared_n + s.app_n + (s.tagged_n if s.layout == "team" else 0)

        name = f"ssmm({strategy})" if strategy else "ssmm"
        return Tool(
            name=name, version=version, scenarios={"team-10", "team-100", "team-1000", "ecs"}, argv=argv,
            expected=expected, count=lambda rundir, _out: count_env_file(rundir / "out.env"), cost=cost,
            strategy=model, concurrency=10, reference=(strategy is None or strategy == (default or strategies[0])),
        )

    if strategies:
        return [make(s) for s in strategies]
    return [make(None)]


# the public ssmm crate -------------------------------------------------------------


def public_ssmm_tool(binary: str, version: str) -> Tool:
    """The crates.io `ssmm` crate (0.9.0 as bench/run installs it): a
    different program that shares the name. Its sync reads `/<prefix>/<app>`
    and `/<prefix>/shared` with recursive GetParametersByPath walks and, with
    --include-tag, DescribeParameters (Path=<prefix> Recursive + tag filter)
    — the three concurrently — then GetParameters for the tagged names in
    batches of 10 *after* all of them finish (0.9.0 reads as 0.8.0 did; its
    sync flags are the same). No files, no ecs layout. It uses the SDK's
    default chain, so AWS_ENDPOINT_URL reaches the proxy."""
    version_text = run_quiet([binary, "--version"])

    def argv(s: Scenario, rundir: Path) -> list[str]:
        return [binary, "--prefix", s.prefix, "sync", "--app", s.app, "--include-tag", f"{TAG[0]}={TAG[1]}",
                "--out", str(rundir / "out.env")]

    def cost(s: Scenario) -> Cost:
        first = combine([walk_cost(s.shared_n, "by-path"), walk_cost(s.app_n, "by-path"),
                         Cost({"DescribeParameters": pages(s.tagged_n)}, [{"DescribeParameters": pages(s.tagged_n)}])],
                        concurrent=True)
        g = batches(s.tagged_n)
        then = Cost({"GetParameters": g} if g else {}, [{"GetParameters": 1}] if g else [])
        return combine([first, then], concurrent=False)

    return Tool(
        name=f"ssmm {version} (crates.io)",
        version=version_text,
        scenarios={"team-10", "team-100", "team-1000"},
        argv=argv,
        expected=lambda s: s.shared_n + s.app_n + s.tagged_n,
        count=lambda rundir, _out: count_env_file(rundir / "out.env"),
        cost=cost,
        strategy="by-path",
        concurrency=10,
        note="tag overlay's GetParameters wait for the walks",
    )


# kickstart.py -------------------------------------------------------------------


def kickstart_tool(python: str) -> Tool:
    import boto3

    def argv(s: Scenario, rundir: Path) -> list[str]:
        return [python, str(HERE / "kickstart.py"), "--path", s.shared_path, "--path", s.app_path,
                "--out", str(rundir / "out.env"), "--", "true"]

    return Tool(
        name="kickstart.py (boto3)",
        version=f"boto3 {boto3.__version__}, Python {sys.version.split()[0]}",
        scenarios={"team-10", "team-100", "team-1000", "ecs"},
        argv=argv,
        expected=lambda s: s.shared_n + s.app_n,
        count=lambda rundir, _out: count_env_file(rundir / "out.env"),
        cost=lambda s: combine([walk_cost(s.shared_n, "by-path"), walk_cost(s.app_n, "by-path")], concurrent=False),
        strategy="by-path",
        note="serial; no tag overlay, no files",
    )


# awscli -------------------------------------------------------------------------


def awscli_tool(aws: str) -> Tool:
    def argv(s: Scenario, rundir: Path) -> list[str]:
        return [aws, "ssm", "get-parameters-by-path", "--path", s.app_path, "--recursive", "--with-decryption",
                "--output", "json"]

    return Tool(
        name="aws ssm get-parameters-by-path",
        version=run_quiet([aws, "--version"]),
        scenarios={"team-10", "team-100", "team-1000"},
        argv=argv,
        expected=lambda s: s.app_n,
        count=lambda _rundir, stdout: count_json_params(stdout),
        cost=lambda s: walk_cost(s.app_n, "by-path"),
        strategy="by-path",
        note="app path only, JSON to stdout",
    )


def which(name: str, *dirs: str) -> str | None:
    for d in dirs:
        p = Path(d) / name
        if p.exists() and os.access(p, os.X_OK):
            return str(p)
    return shutil.which(name)
