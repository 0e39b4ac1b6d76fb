#!/usr/bin/env python3
"""Checks a packaged to-cos zip as SCF would run it: unpacks it with the zip's mode bits, starts its bootstrap
against scripts/fixtures/scf_runtime_api.py with two trigger events and a timer event (no Kafka configured, so that one
must come back as an invocation error), writing to a file:// bucket; then checks the answers and the objects.

usage: smoke_package.py dist/to-cos-x86_64.zip
"""
import os
import subprocess
import sys
import tempfile

from fixtures.scf_harness import answers, start_api, unpack

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
events = ["events/scf-ckafka.json", "events/aws-msk.json", "events/timer/scf-timer.json"]

with tempfile.TemporaryDirectory() as tmp:
    bootstrap = unpack(sys.argv[1], tmp)
    record, out = os.path.join(tmp, "record.jsonl"), os.path.join(tmp, "bucket")
    api, port = start_api(record, [os.path.join(root, e) for e in events])
    function = subprocess.Popen([bootstrap], env={"PATH": os.environ["PATH"], "SCF_RUNTIME_API": "127.0.0.1",
                                                  "SCF_RUNTIME_API_PORT": port, "bucket_address": f"file://{out}"},
                                stderr=subprocess.DEVNULL)
    replies = answers(record, len(events), 30)
    function.kill()
    api.kill()
    paths = [x["path"].rsplit("/", 1)[1] for x in replies]
    if paths != ["response", "response", "error"] or "kafka_address" not in replies[2]["body"]:
        sys.exit(f"unexpected answers: {replies}")
    files = sorted(os.path.relpath(os.path.join(d, f), out) for d, _, fs in os.walk(out) for f in fs
                   if ".uploads" not in d)
    data = [f for f in files if not f.startswith(".ckafka-dump/")]
    if len(data) != 3 or ".ckafka-dump/kafka/test-topic/1.dates.json" not in files:
        sys.exit(f"expected 3 objects and the SCF partition's dating ledger, found {files}")
    print(f"{sys.argv[1]}: 2 trigger events -> {len(files)} objects, timer without Kafka -> clear error")
