#!/usr/bin/env python3
"""Python baseline for decoding a trigger event, done as AWS Lambda Powertools does it (json.loads of the
event, then base64-decode key and value and turn each header's signed byte list into bytes), and for
SCF events the plain json.loads the Tencent templates use.

usage: python -m bench.decode_baseline.py EVENT_FILE [--runs 30]   prints one JSON line: {"median_s", "runs", "bytes"}
"""
import argparse
import base64
import json
import statistics
import time

p = argparse.ArgumentParser()
p.add_argument("event")
p.add_argument("--runs", type=int, default=30)
a = p.parse_args()
text = open(a.event, encoding="utf-8").read()


def decode(raw):
    event = json.loads(raw)
    out = []
    if "Records" in event:
        for r in event["Records"]:
            c = r["Ckafka"]
            key = c.get("msgKey")
            out.append((c["topic"], c.get("partition", c.get("Partition")), c["offset"],
                        None if key in (None, "", "None") else key.encode(), c["msgBody"].encode()))
        return out
    for records in event["records"].values():
        for r in records:
            key = base64.b64decode(r["key"]) if r.get("key") is not None else None
            value = base64.b64decode(r["value"]) if r.get("value") is not None else None
            headers = [(k, bytes((b + 256) % 256 for b in v)) for h in r.get("headers") or [] for k, v in h.items()]
            out.append((r["topic"], r["partition"], r["offset"], r.get("timestamp"), key, value, headers))
    return out


times = []
for _ in range(a.runs):
    t = time.perf_counter()
    decode(text)
    times.append(time.perf_counter() - t)
print(json.dumps({"median_s": statistics.median(times), "runs": a.runs, "bytes": len(text.encode())}))
