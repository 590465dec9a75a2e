"""Reads .env files with python-dotenv, for the round-trip and property tests.

Usage: python python_dotenv.py
Prints python-dotenv's version as a JSON line, then for each file path read
on stdin (one a line) dotenv_values(PATH) as one JSON line: one process for
every file keeps the tests fast. Exit 3 when python-dotenv is not
importable, so the test can say how to install it.
"""

import json
import sys
from importlib import metadata

try:
    from dotenv import dotenv_values
except ImportError as err:
    sys.stderr.write(f"python-dotenv is not importable: {err}\n")
    sys.exit(3)

print(json.dumps(metadata.version("python-dotenv")), flush=True)
for line in sys.stdin:
    # The default call, as applications use it: interpolate=True.
    print(json.dumps(dict(dotenv_values(line.rstrip("\n")))), flush=True)
