"""Benchmark scenarios: what is stored in moto, and the seeding of it.

Each scenario lives under its own prefix so that scenarios never see each
other's parameters (moto's path matching is per segment, so `/bench/team-10`
does not match `/bench/team-100/...`). Values are small and deterministic;
the mix of String and SecureString exercises decryption like a real app.

The parameter counts per path are kept here, next to the seeding, because
the minimum-API-call model (tools.py) is computed from them.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

TAG = ("env", "bench")


@dataclass(frozen=True)
class Scenario:
    """One data set. `paths` maps an SSM path to the number of parameters
    that are *direct* children of it; `files` are parameters deeper down
    (`name -> value`); `tagged` is the number of tagged parameters under
    `tagged_path` (team layout only)."""

    name: str
    layout: str  # "team" or "ecs"
    prefix: str = ""  # team: /bench/<name>
    app: str = "api"
    cluster: str = ""  # ecs only
    shared_n: int = 0
    app_n: int = 0
    tagged_n: int = 0
    files: dict[str, str] = field(default_factory=dict)

    # --- paths, as the tools read them -----------------------------------
    @property
    def shared_path(self) -> str:
        return f"{self.prefix}/shared" if self.layout == "team" else f"/{self.cluster}/environment"

    @property
    def app_path(self) -> str:
        return f"{self.prefix}/{self.app}" if self.layout == "team" else f"/{self.cluster}/{self.app}/environment"

    @property
    def tagged_path(self) -> str:
        """Where the tagged parameters live: under the prefix, outside the
        shared and app paths, so only the tag overlay finds them."""
        return f"{self.prefix}/ops"

    @property
    def app_base(self) -> str:
        """ecs: the app's folder, holding environment/ and files/."""
        return f"/{self.cluster}/{self.app}"

    @property
    def cluster_files(self) -> str:
        return f"/{self.cluster}/files"

    @property
    def total(self) -> int:
        return self.shared_n + self.app_n + self.tagged_n + len(self.files)

    def parameters(self):
        """(name, value, type, tags) for every parameter of the scenario."""
        out = []
        for i in range(self.shared_n):
            out.append((f"{self.shared_path}/shared-key-{i:04d}", f"shared-value-{i}", "String", None))
        for i in range(self.app_n):
            kind = "SecureString" if i % 3 == 0 else "String"
            out.append((f"{self.app_path}/app-key-{i:04d}", f"app-value-{i}-" + "x" * 24, kind, None))
        for i in range(self.tagged_n):
            kind = "SecureString" if i % 2 == 0 else "String"
            out.append(
                (f"{self.tagged_path}/tagged-key-{i:04d}", f"tagged-value-{i}", kind, [{"Key": TAG[0], "Value": TAG[1]}])
            )
        for name, value in self.files.items():
            out.append((name, value, "String", None))
        return out


def team(n: int) -> Scenario:
    name = f"team-{n}"
    return Scenario(name=name, layout="team", prefix=f"/bench/{name}", shared_n=20, app_n=n, tagged_n=30)


def ecs() -> Scenario:
    cluster, app = "bench-ecs", "web"
    files = {
        f"/{cluster}/{app}/files/conf/app.conf": "listen = 8080\nworkers = 4\n",
        f"/{cluster}/{app}/files/conf/logging.ini": "[root]\nlevel = INFO\n",
        f"/{cluster}/{app}/files/tls/ca.pem": "-----BEGIN CERTIFICATE-----\nMIIBbench\n-----END CERTIFICATE-----\n",
        f"/{cluster}/{app}/files/motd.txt": "hello from the bench\n",
        f"/{cluster}/{app}/files/data/flags.json": '{"feature_x": true}\n',
    }
    return Scenario(name="ecs", layout="ecs", cluster=cluster, app=app, shared_n=50, app_n=50, files=files)


SCENARIOS = {s.name: s for s in (team(10), team(100), team(1000), ecs())}


def seed(client, scenarios, workers: int = 8) -> int:
    """Put every parameter of `scenarios` with a boto3 SSM `client` pointed at
    moto directly (not through the latency proxy: seeding is not measured).
    Several threads, because moto serves each connection on its own thread
    and 1,300 serial PutParameter calls take a while. Returns the count."""
    items = [p for s in scenarios for p in s.parameters()]

    def put(item):
        name, value, kind, tags = item
        kwargs = {"Name": name, "Value": value, "Type": kind}
        if tags:
            kwargs["Tags"] = tags
        client.put_parameter(**kwargs)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(put, items):
            pass
    return len(items)
