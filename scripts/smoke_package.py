#!/usr/bin/env python3
"""Checks a packaged to-cos zip as SCF would run it: unpacks it with the zip's mode bits, starts its bootstrap
against scripts/scf_runtime_api.py with two trigger events and a timer event (no Kafka configured, so that one
must come back as an invocation error), writing to a file:// bucket; then checks the answers and the objects.

usage: smoke_package.py dist/to-cos-x86_64.zip
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
events = ["events/scf-ckafka.json", "events/aws-msk.json", "events/timer/scf-timer.json"]

with tempfile.TemporaryDirectory() as tmp:
    with zipfile.ZipFile(sys.argv[1]) as z:
        for info in z.infolist():
            z.extract(info, tmp)
            os.chmod(os.path.join(tmp, info.filename), info.external_attr >> 16)
    bootstrap = os.path.join(tmp, "bootstrap")
    if not os.access(bootstrap, os.X_OK):
        sys.exit(f"{sys.argv[1]}: bootstrap is not executable")
    record, out = os.path.join(tmp, "record.jsonl"), os.path.join(tmp, "bucket")
    api = subprocess.Popen([sys.executable, os.path.join(root, "scripts/scf_runtime_api.py"), "--record", record,
                            *[os.path.join(root, e) for e in events]], stdout=subprocess.PIPE, text=True)
    port = api.stdout.readline().strip().rsplit(":", 1)[1]
    function = subprocess.Popen([bootstrap], env={"PATH": os.environ["PATH"], "SCF_RUNTIME_API": "127.0.0.1",
                                                  "SCF_RUNTIME_API_PORT": port, "bucket_address": f"file://{out}"},
                                stderr=subprocess.DEVNULL)
    answers, deadline = [], time.time() + 30
    while len(answers) < len(events) and time.time() < deadline:
        time.sleep(0.1)
        lines = open(record).read().splitlines() if os.path.exists(record) else []
        answers = [x for x in map(json.loads, lines) if x["path"] != "/runtime/init/ready"]
    function.kill()
    api.kill()
    paths = [x["path"].rsplit("/", 1)[1] for x in answers]
    if paths != ["response", "response", "error"] or "kafka_address" not in answers[2]["body"]:
        sys.exit(f"unexpected answers: {answers}")
    files = sorted(os.path.relpath(os.path.join(d, f), out) for d, _, fs in os.walk(out) for f in fs
                   if ".uploads" not in d)
    if len(files) != 3:
        sys.exit(f"expected 3 objects, found {files}")
    print(f"{sys.argv[1]}: 2 trigger events -> {len(files)} objects, timer without Kafka -> clear error")
