"""Runs moto's SSM emulator for one test process (started by moto.rs).

Prints the port it bound (port 0: the kernel picks a free one), then blocks
on stdin. The test process holds the other end of that pipe in a static, so
when it exits, however it exits, stdin reaches EOF and the server goes too:
no orphaned servers and no cleanup code to forget.
"""

import logging
import os
import sys

# werkzeug logs every request to stderr; nobody reads that, and a full pipe
# would eventually block the server.
logging.getLogger("werkzeug").setLevel(logging.ERROR)

from moto.server import ThreadedMotoServer  # noqa: E402

server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
_host, port = server.get_host_and_port()
print(port, flush=True)

sys.stdin.read()
# os._exit rather than server.stop(): stop() joins threads that may be stuck
# on a client connection, and the point is to be gone promptly.
os._exit(0)
