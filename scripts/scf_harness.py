#!/usr/bin/env python3
"""What the scripts that drive a function through scripts/scf_runtime_api.py share: unpacking a package the way
the platforms do, starting the runtime API test server, and waiting for the function's answers.

As a command: `scf_harness.py unpack ZIP DIR` unpacks a package and checks its bootstrap is executable.
"""
import json
import os
import subprocess
import sys
import time
import zipfile

SCRIPTS = os.path.dirname(os.path.abspath(__file__))


def unpack(package, directory):
    """Extracts with the mode bits stored in the zip (what Lambda and SCF apply); returns the bootstrap's path."""
    with zipfile.ZipFile(package) as z:
        for info in z.infolist():
            z.extract(info, directory)
            os.chmod(os.path.join(directory, info.filename), info.external_attr >> 16)
    bootstrap = os.path.join(directory, "bootstrap")
    if not os.access(bootstrap, os.X_OK):
        sys.exit(f"{package}: bootstrap is not executable")
    return bootstrap


def start_api(record, events):
    """scf_runtime_api.py serving `events` (paths, optionally @TIME_LIMIT_MS); returns (process, port)."""
    api = subprocess.Popen([sys.executable, os.path.join(SCRIPTS, "scf_runtime_api.py"), "--record", record, *events],
                           stdout=subprocess.PIPE, text=True)
    return api, api.stdout.readline().strip().rsplit(":", 1)[1]


def answers(record, count, timeout_s):
    """The function's first `count` answers (responses and errors, init/ready left out), or fewer at the timeout."""
    got, deadline = [], time.time() + timeout_s
    while len(got) < count and time.time() < deadline:
        time.sleep(0.1)
        lines = open(record).read().splitlines() if os.path.exists(record) else []
        got = [x for x in map(json.loads, lines) if x["path"] != "/runtime/init/ready"]
    return got


if __name__ == "__main__" and sys.argv[1:2] == ["unpack"]:
    unpack(sys.argv[2], sys.argv[3])
