#!/usr/bin/env python3
"""The Docker "kickstart" pattern, as a baseline for the benchmark.

Many images start with a small boto3 script as ENTRYPOINT: read the
cluster's and the app's parameters with GetParametersByPath (paginated,
decrypted), write an env file, then exec the real command. This is that
script, written the usual way: one path after the other, later paths
winning, no tag overlay, no files.

Usage: kickstart.py --path P [--path P ...] --out FILE [-- CMD ARGS...]

It reads the endpoint, region and credentials from the environment
(AWS_ENDPOINT_URL is honoured by boto3 >= 1.28.57), like any SDK client.
"""

from __future__ import annotations

import argparse
import os
import sys

import boto3


def fetch(client, path: str) -> dict[str, str]:
    """Every direct child of `path`, decrypted, as {VAR: value}."""
    out: dict[str, str] = {}
    paginator = client.get_paginator("get_parameters_by_path")
    for page in paginator.paginate(Path=path, Recursive=False, WithDecryption=True):
        for p in page["Parameters"]:
            key = p["Name"].rsplit("/", 1)[-1].upper().replace("-", "_").replace(".", "_")
            out[key] = p["Value"]
    return out


def quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("\n", "\\n") + '"'


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--path", action="append", required=True, help="SSM path, lowest precedence first")
    ap.add_argument("--out", required=True, help="env file to write")
    ap.add_argument("cmd", nargs=argparse.REMAINDER, help="command to exec after writing (after --)")
    args = ap.parse_args(argv)

    client = boto3.client("ssm")
    env: dict[str, str] = {}
    for path in args.path:
        env.update(fetch(client, path))

    tmp = args.out + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        for k, v in env.items():
            f.write(f"{k}={quote(v)}\n")
    os.replace(tmp, args.out)

    cmd = [c for c in args.cmd if c != "--"] if args.cmd else []
    if cmd:
        os.environ.update(env)
        os.execvp(cmd[0], cmd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
