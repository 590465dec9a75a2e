"""Reads env files with the real docker CLI, for the round-trip and property tests.

Usage: python3 docker_env.py FILE...
`docker create --env-file FILE` parses the file in the CLI, then sends the
resulting Env list to the daemon. No daemon is needed: this script serves a
minimal fake Engine API on a private unix socket, captures the create request
and answers it. Prints {"version": ..., "files": [{"env": [...]} or
{"error": "..."}]} as JSON.
"""

import http.server
import json
import os
import shutil
import socketserver
import subprocess
import sys
import tempfile
import threading


class FakeEngine(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def address_string(self):
        return "unix"

    def reply(self, code, body=b"{}"):
        self.send_response(code)
        self.send_header("Api-Version", "1.43")
        self.send_header("OSType", "linux")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self):
        self.reply(200, b"")

    def do_GET(self):
        self.reply(200 if self.path.endswith("/_ping") else 404, b"OK")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if "/containers/create" in self.path:
            self.server.captured = json.loads(body).get("Env") or []
            self.reply(201, b'{"Id":"0123456789ab","Warnings":[]}')
        else:
            self.reply(404, b'{"message":"not faked"}')


class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def main():
    workdir = tempfile.mkdtemp(prefix="ssmm-docker-")
    try:
        run_all(workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def run_all(workdir):
    sock = os.path.join(workdir, "engine.sock")
    server = Server(sock, FakeEngine)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCKER_")}
    env["DOCKER_CONFIG"] = workdir  # never read or write the user's ~/.docker
    try:
        version = subprocess.run(
            ["docker", "--version"], capture_output=True, text=True, env=env
        ).stdout.strip()
    except FileNotFoundError:
        sys.stderr.write("the docker CLI is not on PATH (no daemon is needed)\n")
        sys.exit(3)
    results = []
    for path in sys.argv[1:]:
        server.captured = None
        run = subprocess.run(
            ["docker", "-H", "unix://" + sock, "create", "--env-file", path, "img"],
            capture_output=True,
            env=env,
            timeout=120,
        )
        if run.returncode == 0 and server.captured is not None:
            results.append({"env": server.captured})
        else:
            results.append({"error": run.stderr.decode("utf-8", "replace").strip()})
    server.shutdown()
    json.dump({"version": version, "files": results}, sys.stdout)


main()
