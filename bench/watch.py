#!/usr/bin/env python3
"""The steady-state cost of `--watch`: SSM calls per check against the
calls of a start, and resident memory over many checks (see
bench/README.md, "Watching").

Runs `ssmm exec --init --watch` (and `ssmm sync --watch`) against moto
through the counting proxy with a short interval, samples the process's
VmRSS from /proc after 10, 100, ... checks, and reports the calls each
check made. A check must cost exactly the calls of a start: the layers'
pages, no credential or configuration lookups."""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench import Moto, find_ssmm, log, sdk_client, tool_env  # noqa: E402
from proxy import LatencyProxy  # noqa: E402

SHARED, APP = 20, 100


def seed(endpoint: str, prefix: str) -> None:
    client = sdk_client(endpoint)
    for layer, n in (("shared", SHARED), ("api", APP)):
        for i in range(n):
            client.put_parameter(Name=f"{prefix}/{layer}/key-{i:03d}", Value=f"value-{layer}-{i}",
                                 Type="SecureString" if i % 3 == 0 else "String", Overwrite=True)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def calls(proxy: LatencyProxy) -> int:
    return proxy.counters.snapshot()["total"]


def start_cost(binary: Path, proxy: LatencyProxy, work: Path) -> int:
    """The calls of one plain `sync`: what every check must cost."""
    proxy.counters.reset()
    subprocess.run([str(binary), "--prefix", "/bench-watch", "-q", "sync", "--app", "api",
                    "--out", str(work / "once.env")], env=tool_env(work, proxy.url), cwd=work,
                   check=True)
    return calls(proxy)


def watch_one(binary: Path, mode: str, proxy: LatencyProxy, work: Path, checks: int,
              interval_ms: int) -> dict:
    env = tool_env(work, proxy.url)
    prefix = "/bench-watch"
    argv = [str(binary), "--prefix", prefix, "-q"]
    if mode == "exec":
        argv += ["exec", "--init", "--app", "api", "--watch", f"{interval_ms}ms", "--splay", "0",
                 "--", "sleep", "100000"]
    else:
        argv += ["sync", "--app", "api", "--out", str(work / "app.env"), "--watch",
                 f"{interval_ms}ms", "--splay", "0"]
    per_start = start_cost(binary, proxy, work)
    proxy.counters.reset()
    proc = subprocess.Popen(argv, env=env, cwd=work, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    samples = []
    marks = [m for m in (10, 100, 1000, 10000) if m <= checks] + [checks]
    first_calls = None
    try:
        for mark in sorted(set(marks)):
            target = per_start * (mark + 1)
            deadline = time.monotonic() + 600
            while calls(proxy) < target:
                if proc.poll() is not None:
                    raise SystemExit(f"bench/watch: ssmm {mode} exited: {proc.stderr.read().decode()}")
                if time.monotonic() > deadline:
                    raise SystemExit(f"bench/watch: {mark} checks did not happen in 600 s")
                time.sleep(0.005)
            if first_calls is None:
                first_calls = calls(proxy)
            samples.append((mark, rss_kib(proc.pid), calls(proxy)))
    finally:
        proc.terminate()
        proc.wait(30)
    total_checks = samples[-1][0]
    return {
        "mode": mode,
        "per_start": per_start,
        "calls_per_check": (samples[-1][2] - per_start) / total_checks,
        "samples": samples,
    }


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--ssmm", help="the ssmm binary (default: as bench/run finds it)")
    ap.add_argument("--checks", type=int, default=1000)
    ap.add_argument("--interval-ms", type=int, default=20)
    args = ap.parse_args(argv)
    binary = find_ssmm(args.ssmm)
    with tempfile.TemporaryDirectory(prefix="ssmm-bench-watch-") as tmp:
        work = Path(tmp)
        moto = Moto(args.cache / "moto-venv", work / "moto.log")
        try:
            proxy = LatencyProxy(("127.0.0.1", 0), moto.port, 0).start()
            seed(moto.url, "/bench-watch")
            results = [watch_one(binary, mode, proxy, work, args.checks, args.interval_ms)
                       for mode in ("exec", "sync")]
            proxy.stop()
        finally:
            moto.stop()
    print(f"ssmm --watch steady state: {SHARED} shared + {APP} app parameters, "
          f"{args.checks} checks every {args.interval_ms} ms, binary {binary}")
    print()
    print("| mode | calls per start | calls per check | RSS after 10 / 100 / ... checks (KiB) |")
    print("|---|---|---|---|")
    for r in results:
        rss = " / ".join(f"{kib} ({mark})" for mark, kib, _ in r["samples"])
        print(f"| {r['mode']} | {r['per_start']} | {r['calls_per_check']:.2f} | {rss} |")
    bad = [r for r in results if abs(r["calls_per_check"] - r["per_start"]) > 0.05]
    if bad:
        print("\nbench/watch: a check cost more calls than a start", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
