"""Reads .env files with python-dotenv, for tests/encode_roundtrip.rs.

Usage: python python_dotenv.py FILE...
Prints {"version": ..., "files": [dotenv_values(FILE), ...]} as JSON: one
process for many files keeps the round-trip tests fast. Exit 3 when
python-dotenv is not importable, so the test can say how to install it.
"""

import json
import sys
from importlib import metadata

try:
    from dotenv import dotenv_values
except ImportError as err:
    sys.stderr.write(f"python-dotenv is not importable: {err}\n")
    sys.exit(3)

json.dump(
    {
        "version": metadata.version("python-dotenv"),
        # The default call, as applications use it: interpolate=True.
        "files": [dict(dotenv_values(path)) for path in sys.argv[1:]],
    },
    sys.stdout,
)
