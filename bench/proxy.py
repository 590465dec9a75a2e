"""A latency-injecting, request-counting HTTP proxy in front of moto.

Why: on localhost an SSM call costs well under a millisecond of network, so
every tool looks equally fast and the benchmark would only measure process
start-up and moto. Real SSM is tens of milliseconds away; what separates the
tools is how many round trips they make *in series*. The proxy delays every
request by a fixed time (like one network round trip) and counts requests by
SSM operation, so each run reports both its wall time and its API calls.

Design notes:
- Threaded: one thread per client connection, so a client's concurrent
  connections are delayed concurrently (as on a real network), not queued.
- HTTP/1.1 keep-alive towards the client: SDKs reuse connections, and
  closing them after each request would add a TCP handshake per call that
  real SSM (also keep-alive) does not have.
- moto's server answers with `Connection: close`, so the proxy opens one
  upstream connection per request (cheap on localhost) and reads the whole
  answer; towards the client it re-frames the answer with Content-Length and
  keeps the client connection open.
- TCP_NODELAY on both sockets: without it Nagle's algorithm holds the second
  small segment of a response until the peer's delayed ACK (~40 ms on
  Linux), which would swamp a 20 ms latency setting.
- Runs inside the bench process (a daemon thread), so the counters are plain
  in-process objects: `reset()` before a run, `snapshot()` after it.

Stdlib only.
"""

from __future__ import annotations

import http.client
import socket
import statistics
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Hop-by-hop headers (RFC 9110 §7.6.1) are never forwarded.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}


def operation_of(target: str | None) -> str:
    """`AmazonSSM.GetParametersByPath` -> `GetParametersByPath`.

    Requests without the header (should not happen with SSM's JSON protocol)
    are counted under `other` so they still show up in the totals."""
    if not target:
        return "other"
    return target.rsplit(".", 1)[-1] or "other"


class Counters:
    """Requests per operation and upstream (moto) service times, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: Counter[str] = Counter()
        self._service: dict[str, list[float]] = {}
        self._errors = 0

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
            self._service.clear()
            self._errors = 0

    def record(self, op: str, service_s: float, ok: bool) -> None:
        with self._lock:
            self._calls[op] += 1
            self._service.setdefault(op, []).append(service_s)
            if not ok:
                self._errors += 1

    def snapshot(self) -> dict:
        """{'calls': {op: n}, 'total': n, 'errors': n (HTTP >= 400 from moto or
        proxy failures), 'service_ms': {op: median upstream time}}."""
        with self._lock:
            return {
                "calls": dict(self._calls),
                "total": sum(self._calls.values()),
                "errors": self._errors,
                "service_ms": {
                    op: statistics.median(ts) * 1000 for op, ts in self._service.items()
                },
            }


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 so BaseHTTPRequestHandler keeps the client connection open
    # between requests (it loops in handle() until close_connection).
    protocol_version = "HTTP/1.1"
    server: "LatencyProxy"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib name
        pass  # quiet: the bench prints its own summary

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    # trailers until the empty line
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # CRLF after the chunk
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _proxy(self) -> None:
        body = self._read_body()
        op = operation_of(self.headers.get("X-Amz-Target"))
        latency = self.server.latency_s
        if latency > 0:
            time.sleep(latency)
        started = time.perf_counter()
        ok = True
        try:
            status, reason, headers, payload = self._forward(body)
        except OSError as e:  # moto down or reset: answer 502, count the call
            ok = False
            status, reason, headers = 502, "Bad Gateway", [("Content-Type", "text/plain")]
            payload = f"bench proxy: upstream error: {e}\n".encode()
        service = time.perf_counter() - started
        self.server.counters.record(op, service, ok and status < 400)

        # One write for the whole answer (with TCP_NODELAY this is one or a
        # few segments sent at once, never a small tail held back by Nagle).
        lines = [f"HTTP/1.1 {status} {reason}"]
        lines += [f"{k}: {v}" for k, v in headers if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"]
        lines.append(f"Content-Length: {len(payload)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + payload)

    def _forward(self, body: bytes):
        """Send the request to moto on a fresh connection and read it all."""
        up = http.client.HTTPConnection(self.server.upstream_host, self.server.upstream_port, timeout=60)
        try:
            up.connect()
            up.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            up.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
            for k, v in self.headers.items():
                if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                    up.putheader(k, v)  # Host is kept: the client signed it
            up.putheader("Content-Length", str(len(body)))
            up.putheader("Connection", "close")
            # endheaders(body) sends headers and a bytes body in one send().
            up.endheaders(body)
            resp = up.getresponse()
            payload = resp.read()
            return resp.status, resp.reason, resp.getheaders(), payload
        finally:
            up.close()

    do_POST = _proxy
    do_GET = _proxy
    do_PUT = _proxy
    do_DELETE = _proxy
    do_HEAD = _proxy


class LatencyProxy(ThreadingHTTPServer):
    """`LatencyProxy(('127.0.0.1', 0), upstream_port, latency_ms)`; `.url`,
    `.counters`, `.latency_s` (mutable between runs), `.start()`, `.stop()`."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, upstream_port: int, latency_ms: float, upstream_host: str = "127.0.0.1"):
        super().__init__(addr, _Handler)
        self.upstream_host = upstream_host
        self.upstream_port = upstream_port
        self.latency_s = latency_ms / 1000.0
        self.counters = Counters()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "LatencyProxy":
        self._thread = threading.Thread(target=self.serve_forever, name="latency-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
