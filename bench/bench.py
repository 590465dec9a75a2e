#!/usr/bin/env python3
"""ssmm benchmark runner (started by bench/run, which prepares the venvs).

Starts moto and the latency proxy, seeds the scenarios, runs every tool on
every scenario in interleaved rounds (A B C A B C ...) so that drift of the
machine over time spreads evenly over the tools, measures each run (wall
time, peak RSS via wait4, API calls via the proxy, exit code, output
completeness) and writes report.md, runs.csv and summary.csv.

Nothing here talks to AWS: every tool gets AWS_ENDPOINT_URL pointing at the
proxy on 127.0.0.1, dummy credentials, IMDS disabled and an empty HOME.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import report
import tools as T
from proxy import LatencyProxy
from seed import SCENARIOS, TAG, seed

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MUSL_BIN = "x86_64-unknown-linux-musl/release/ssmm"
DEFAULT_SSMM = REPO / "target" / MUSL_BIN


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


# --- moto -----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Moto:
    """moto_server in its own process (its own venv), on a free port."""

    def __init__(self, venv: Path, logfile: Path):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = open(logfile, "wb")
        self.proc = subprocess.Popen(
            [str(venv / "bin" / "moto_server"), "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"bench: moto_server exited with {self.proc.returncode}; see {logfile}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise SystemExit(f"bench: moto_server did not listen on {self.port} within 60 s")
                time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def sdk_client(endpoint: str):
    """A boto3 SSM client with the bench's dummy identity, for seeding and
    the service-time probe (never the tools' own clients). Imported here so
    that `--help` works before the bench venv exists."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "ssm", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
        aws_secret_access_key="bench", config=Config(retries={"max_attempts": 10, "mode": "standard"},
                                                     max_pool_connections=16),
    )


def measure_service(proxy: LatencyProxy, scenarios) -> dict:
    """moto's own time per call, per scenario and operation: 5 calls each,
    one at a time, through the proxy with the added latency set to 0 (the
    proxy times the upstream exchange). moto scans every stored parameter
    on each GetParametersByPath / DescribeParameters call, so this depends
    on the store's size, and the round-trip bounds use it."""
    client = sdk_client(proxy.url)
    saved = proxy.latency_s
    proxy.latency_s = 0
    out = {}
    try:
        for s in scenarios:
            names = [p[0] for p in s.parameters() if p[0].startswith(s.app_path + "/")][:10]
            proxy.counters.reset()
            for _ in range(5):
                client.get_parameters_by_path(Path=s.app_path, Recursive=False, WithDecryption=True, MaxResults=10)
                client.describe_parameters(ParameterFilters=[
                    {"Key": "Path", "Option": "OneLevel", "Values": [s.app_path]}])
                client.get_parameters(Names=names, WithDecryption=True)
            out[s.name] = proxy.counters.snapshot()["service_ms"]
    finally:
        proxy.latency_s = saved
        proxy.counters.reset()
    return out


# --- running one tool -------------------------------------------------------------


def tool_env(home: Path, endpoint: str) -> dict:
    """A clean environment: nothing inherited but PATH and the locale, so no
    profile, SSMM_* or real AWS setting can leak into a run."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_CONFIG_FILE": str(home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
    }


def build_rss_exec(cache: Path) -> Path | None:
    """Compile rss_exec.c (see its header for why) into the cache, static
    with musl when possible so its own footprint stays tiny. None if no C
    compiler works: RSS then falls back to wait4 from Python (inflated)."""
    src = HERE / "rss_exec.c"
    dst = cache / "bench-bin" / "rss-exec"
    if dst.exists() and dst.stat().st_mtime >= src.stat().st_mtime:
        return dst
    dst.parent.mkdir(parents=True, exist_ok=True)
    for cc in (["musl-gcc", "-static"], ["cc", "-static"], ["cc"]):
        if shutil.which(cc[0]) and subprocess.run([*cc, "-O2", "-o", str(dst), str(src)],
                                                  capture_output=True).returncode == 0:
            return dst
    return None


class Spawner:
    """Runs a command to completion and measures it.

    With rss-exec (the normal case) the command is a grandchild of the
    harness: rss-exec forks it, wait4()s it and reports exit code, peak RSS,
    CPU and wall time (its own monotonic clock, fork to reap). Without it,
    Popen + os.wait4 here, whose ru_maxrss includes the harness's own RSS.
    The command runs in its own session so a timeout kills the whole group."""

    def __init__(self, rss_exec: Path | None):
        self.rss_exec = rss_exec

    def run(self, argv, env, cwd: Path, stdout: Path, stderr: Path, timeout: float):
        """-> (wall_s, exit_code, cpu_s, max_rss_kib)"""
        report_file = Path(tempfile.mktemp(prefix="rss-", dir=cwd))
        full = [str(self.rss_exec), str(report_file), *argv] if self.rss_exec else list(argv)
        with open(stdout, "wb") as out, open(stderr, "wb") as err:
            started = time.perf_counter()
            proc = subprocess.Popen(full, env=env, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
            timer = threading.Timer(timeout, _kill_group, (proc.pid,))
            timer.start()
            try:
                _, status, ru = os.wait4(proc.pid, 0)
            finally:
                timer.cancel()
            wall = time.perf_counter() - started
        proc.returncode = code = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        if not self.rss_exec:
            return wall, code, ru.ru_utime + ru.ru_stime, ru.ru_maxrss
        try:
            fields = report_file.read_text().split()
            report_file.unlink()
            code, rss, user, sys_, wall = int(fields[0]), int(fields[1]), *map(float, fields[2:5])
            return wall, code, user + sys_, rss
        except (OSError, ValueError, IndexError):
            # killed by the watchdog before writing, or rss-exec failed
            return wall, code if code else -9, 0.0, 0


def _kill_group(pid: int) -> None:
    """Timeout: kill the process group of a child this harness started."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run_one(tool, scenario, rnd: int, proxy: LatencyProxy, work: Path, timeout: float,
            spawner: Spawner) -> report.Run:
    rundir = Path(tempfile.mkdtemp(prefix=f"r{rnd}-", dir=work))
    home = rundir / "home"
    home.mkdir()
    (rundir / "root").mkdir()
    argv = tool.argv(scenario, rundir)
    proxy.counters.reset()
    error = ""
    try:
        wall, code, cpu, rss = spawner.run(argv, tool_env(home, proxy.url), rundir, rundir / "stdout",
                                           rundir / "stderr", timeout)
    except OSError as e:
        wall, code, cpu, rss, error = 0.0, 127, 0.0, 0, f"could not start: {e}"
    snap = proxy.counters.snapshot()
    vars_ = tool.count(rundir, rundir / "stdout")
    expected = tool.expected(scenario)
    if not error and (code != 0 or vars_ != expected):
        tail = (rundir / "stderr").read_text(errors="replace").strip().splitlines()[-3:]
        error = " | ".join(tail)[:400]
    run = report.Run(
        round=rnd, scenario=scenario.name, tool=tool.name, strategy=tool.strategy, argv=argv, wall_s=wall,
        cpu_s=cpu, max_rss_kib=rss, exit_code=code, calls=snap["calls"], upstream_errors=snap["errors"],
        min_calls=tool.cost(scenario).total, vars=vars_, expected_vars=expected, error=error,
        service_ms=snap["service_ms"],
    )
    if run.ok:
        shutil.rmtree(rundir, ignore_errors=True)  # keep failed runs' files for inspection
    return run


# --- the ssmm binary ---------------------------------------------------------------


def find_ssmm(flag: str | None) -> Path:
    """--ssmm, else target/static-bin-path (written by scripts/build-static),
    else target/x86_64-unknown-linux-musl/release/ssmm, else build it with
    scripts/build-static."""
    if flag:
        return Path(flag).resolve()
    marker = REPO / "target" / "static-bin-path"
    if marker.exists():
        p = Path(marker.read_text().strip())
        if p.exists():
            return p
    if DEFAULT_SSMM.exists():
        return DEFAULT_SSMM
    log("no static ssmm binary found: running scripts/build-static (about 5 minutes on 2 cores)")
    subprocess.run([str(REPO / "scripts" / "build-static")], cwd=REPO, check=True)
    if marker.exists():
        return Path(marker.read_text().strip())
    raise SystemExit("bench: no static ssmm binary (scripts/build-static skipped the build; see its message)")


def binary_facts(path: Path) -> dict:
    st = path.stat()
    ldd = subprocess.run(["ldd", str(path)], capture_output=True, text=True)
    ldd_text = (ldd.stdout + ldd.stderr).strip().splitlines()[0] if (ldd.stdout + ldd.stderr).strip() else ""
    return {
        "size": st.st_size,
        "mtime": datetime.fromtimestamp(st.st_mtime, timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "ldd": ldd_text,
        "static": "not a dynamic executable" in ldd_text or "statically linked" in ldd_text,
    }


def version_timing(binary: Path, spawner: Spawner, work: Path, n: int = 20) -> dict:
    """`ssmm --version` n times (after 3 unmeasured), and /bin/true the same
    way to show what fork + exec + reap cost by themselves."""
    env = {"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"}

    def times(argv):
        walls, cpus = [], []
        for i in range(n + 3):
            wall, code, cpu, _ = spawner.run(argv, env, work, Path(os.devnull), Path(os.devnull), 30)
            if code != 0:
                raise SystemExit(f"bench: {argv} exited {code}")
            if i >= 3:
                walls.append(wall * 1000)
                cpus.append(cpu * 1000)
        return walls, cpus

    walls, cpus = times([str(binary), "--version"])
    true_walls, _ = times(["/bin/true"])
    return {"n": n, "wall_ms": statistics.median(walls), "min_ms": min(walls), "cpu_ms": statistics.median(cpus),
            "true_ms": statistics.median(true_walls), "via": "rss-exec" if spawner.rss_exec else "python"}


# --- machine -----------------------------------------------------------------------


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release()}


def loadavg() -> str:
    """The 1-minute load average: other work on the machine skews timings,
    so the report shows it at the start and at the end."""
    try:
        return Path("/proc/loadavg").read_text().split()[0]
    except OSError:
        return "?"


# --- main --------------------------------------------------------------------------


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="bench/run", description="Benchmark ssmm against other SSM readers on moto.")
    ap.add_argument("--rounds", type=int, default=7, help="counted rounds (default 7; at least 5 for the report's "
                                                           "claims), after 1 warm-up round")
    ap.add_argument("--latency-ms", type=float, default=20.0, help="delay added to every request (default 20; 0 ok)")
    ap.add_argument("--out", type=Path, help="output folder (default bench/results/<UTC timestamp>/)")
    ap.add_argument("--ssmm", help="the ssmm binary (default: target/static-bin-path, else "
                                   f"{DEFAULT_SSMM})")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS),
                    help=f"comma-separated subset of {','.join(SCENARIOS)}")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds before a run is killed (default 300)")
    ap.add_argument("--public-version", default="0.9.0",
                    help="the public crates.io ssmm to compare with (bench/run installs it; default 0.9.0)")
    ap.add_argument("--cache", type=Path, default=Path(os.environ.get("SSMM_CACHE_DIR",
                                                                      Path.home() / ".cache" / "ssmm")))
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    if args.latency_ms < 0:
        ap.error("--latency-ms must be >= 0")
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    started = datetime.now(timezone.utc)
    load_start = loadavg()
    out_dir = args.out or HERE / "results" / started.strftime("%Y%m%dT%H%M%SZ")
    out_dir.mkdir(parents=True, exist_ok=True)
    scenarios = [SCENARIOS[n] for n in args.scenarios.split(",") if n]
    if args.rounds < 5:
        log(f"--rounds {args.rounds}: fewer than 5 counted rounds, treat the numbers as a smoke test")

    # The tools.
    ssmm_path = find_ssmm(args.ssmm)
    tools = T.ssmm_tools(str(ssmm_path))
    versions = {"ssmm (this repo)": tools[0].version}
    pub = args.cache / f"ssmm-{args.public_version}" / "bin" / "ssmm"
    if pub.exists():
        tools.append(T.public_ssmm_tool(str(pub), args.public_version))
        versions["ssmm (crates.io)"] = tools[-1].version
    else:
        log(f"public ssmm {args.public_version} not found at {pub}: skipped (bench/run installs it with cargo)")
    tools.append(T.kickstart_tool(sys.executable))
    versions["kickstart.py"] = tools[-1].version
    aws = T.which("aws", str(Path(sys.executable).parent))
    if aws:
        tools.append(T.awscli_tool(aws))
        versions["awscli"] = tools[-1].version
    else:
        log("aws CLI not found: skipped")
    moto_venv = args.cache / "moto-venv"
    moto_version = subprocess.run([str(moto_venv / "bin" / "python"), "-c", "import moto; print(moto.__version__)"],
                                  capture_output=True, text=True).stdout.strip() or "unknown"
    versions["moto"] = moto_version
    versions["Python (harness)"] = sys.version.split()[0]

    log(f"ssmm: {ssmm_path}; tools: {', '.join(t.name for t in tools)}")
    rss_exec = build_rss_exec(args.cache)
    if not rss_exec:
        log("no C compiler: peak RSS is measured from Python and includes the harness's own ~50 MB")
    spawner = Spawner(rss_exec)
    work = Path(tempfile.mkdtemp(prefix="ssmm-bench-"))
    binary = binary_facts(ssmm_path)
    vstats = version_timing(ssmm_path, spawner, work)
    moto = Moto(moto_venv, out_dir / "moto.log")
    proxy = LatencyProxy(("127.0.0.1", 0), moto.port, args.latency_ms).start()
    runs: list[report.Run] = []
    try:
        direct = sdk_client(moto.url)
        t0 = time.perf_counter()
        direct.get_parameters_by_path(Path="/warm-up")  # moto's first SSM call is slow (~0.7 s)
        log(f"moto {moto_version} up on {moto.url} (first call {time.perf_counter() - t0:.2f} s); "
            f"proxy {proxy.url}, latency {args.latency_ms:g} ms")
        t0 = time.perf_counter()
        n = seed(direct, scenarios)
        log(f"seeded {n} parameters in {time.perf_counter() - t0:.1f} s")
        service = measure_service(proxy, scenarios)

        total = (args.rounds + 1) * sum(1 for s in scenarios for t in tools if s.name in t.scenarios)
        done = 0
        for rnd in range(args.rounds + 1):
            for s in scenarios:
                for t in tools:
                    if s.name not in t.scenarios:
                        continue
                    r = run_one(t, s, rnd, proxy, work, args.timeout, spawner)
                    runs.append(r)
                    done += 1
                    status = "ok" if r.ok else f"FAILED (exit {r.exit_code}, vars {r.vars}/{r.expected_vars})"
                    log(f"[{done}/{total}] {'warm-up' if rnd == 0 else f'round {rnd}'} {s.name} {t.name}: "
                        f"{r.wall_s:.3f} s, {r.calls_total} calls, {r.max_rss_kib} KiB, {status}")
    finally:
        proxy.stop()
        moto.stop()

    summaries = report.summarize(runs, tools, scenarios, args.latency_ms / 1000, service)
    targets = report.evaluate_targets(summaries, args.latency_ms, binary, vstats, args.public_version)
    meta = {
        "date": started.strftime("%Y-%m-%d %H:%M UTC"), **machine(),
        "load": f"{load_start} at start, {loadavg()} at end", "latency_ms": args.latency_ms,
        "rounds": args.rounds, "moto_version": moto_version, "ssmm_path": str(ssmm_path), "binary": binary,
        "versions": versions, "rss_via": "rss-exec" if rss_exec else "python wait4 (inflated)", "service_ms": service, "version_stats": vstats,
        "scenario_order": [s.name for s in scenarios],
        "scenario_desc": {s.name: describe(s) for s in scenarios},
    }
    report.write_csv(out_dir, runs, summaries)
    meta["chart"] = report.write_chart(
        out_dir, f"ssmm benchmark, {meta['date']}: {args.latency_ms:g} ms per request, {args.rounds} counted rounds, "
                 f"{meta['nproc']} CPUs, load {meta['load']}")
    md = report.render_markdown(meta, summaries, targets, runs)
    (out_dir / "report.md").write_text(md)
    print(md)
    log(f"wrote {out_dir}/report.md, runs.csv, summary.csv{', ' + meta['chart'] if meta['chart'] else ''}")
    if any(not r.ok for r in runs):
        log(f"some runs failed; their files are kept under {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def describe(s) -> str:
    if s.layout == "team":
        return (f"`{s.shared_path}/*` {s.shared_n}, `{s.app_path}/*` {s.app_n} (⅓ SecureString), "
                f"`{s.tagged_path}/*` {s.tagged_n} tagged `{TAG[0]}={TAG[1]}`.")
    return (f"`{s.shared_path}/*` {s.shared_n}, `{s.app_path}/*` {s.app_n} (⅓ SecureString), "
            f"{len(s.files)} files under `{s.app_base}/files/`, none under `{s.cluster_files}/`.")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
