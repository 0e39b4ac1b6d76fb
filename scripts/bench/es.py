#!/usr/bin/env python3
"""to-es vs the Tencent template's logic (elasticsearch-py helpers.bulk, warm, in this process) vs curl posting
the exact NDJSON to-es sends (the server's own limit), on one ES-API server, in one run. Runs are interleaved
(to-es, template, curl, to-es, ...) and every run writes a fresh index that is deleted afterwards, so server
drift and index growth hit all three alike. Prints one JSON object with medians.

usage: python -m bench.es.py --es URL --event EVENT --to-es BIN --bulk-body BIN [--runs 5] [--flavor opensearch]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request

p = argparse.ArgumentParser()
p.add_argument("--es", required=True)
p.add_argument("--event", required=True)
p.add_argument("--to-es", required=True)
p.add_argument("--bulk-body", required=True)
p.add_argument("--runs", type=int, default=5)
p.add_argument("--flavor", choices=["elasticsearch", "opensearch"], default="elasticsearch")
a = p.parse_args()

from . import es_template as template  # noqa: E402
from .child import child  # noqa: E402

template.connect(a.es, a.flavor)
event_text = open(a.event, encoding="utf-8").read()
PLACEHOLDER = "benchplaceholder"
ndjson = subprocess.run([a.bulk_body, a.event], check=True, capture_output=True,
                        env={**os.environ, "ES_Address": a.es, "ES_Index_KeyWord": PLACEHOLDER}).stdout


def delete(pattern):
    req = urllib.request.Request(f"{a.es}/{pattern}", method="DELETE")
    try:
        urllib.request.urlopen(req).read()
    except Exception:
        pass


def count(pattern):
    urllib.request.urlopen(urllib.request.Request(f"{a.es}/{pattern}/_refresh", method="POST")).read()
    return json.load(urllib.request.urlopen(f"{a.es}/{pattern}/_count"))["count"]


def run_to_es(keyword):
    return child([a.to_es, "invoke", "--event", a.event],
                 env={**os.environ, "ES_Address": a.es, "ES_Index_KeyWord": keyword})


def run_template(keyword):
    template.ES_Index_KeyWord = keyword
    w, c = time.perf_counter(), time.process_time()
    template.main_handler(event_text)
    return time.perf_counter() - w, time.process_time() - c


def run_curl(keyword):
    path = f"/tmp/ckd-bench-{keyword}.ndjson"
    with open(path, "wb") as f:
        f.write(ndjson.replace(PLACEHOLDER.encode(), keyword.encode()))
    try:
        return child(["curl", "-s", "-f", "-o", "/dev/null", "-XPOST", f"{a.es}/_bulk",
                      "-H", "content-type: application/x-ndjson", "--data-binary", f"@{path}"])
    finally:
        os.remove(path)


tools = {"to-es": run_to_es, "template (helpers.bulk)": run_template, "curl (same NDJSON)": run_curl}
results = {name: {"wall": [], "cpu": []} for name in tools}
records = event_text.count('"Ckafka"')
for i in range(a.runs):
    for name, fn in tools.items():
        keyword = f"bench{i}{name.split()[0].replace('-', '')}"
        delete(f"{keyword}-*")
        wall, cpu = fn(keyword)
        landed = count(f"{keyword}-*")
        if landed != records:
            sys.exit(f"{name} run {i}: {landed} documents landed, expected {records}")
        delete(f"{keyword}-*")
        results[name]["wall"].append(wall)
        results[name]["cpu"].append(cpu)

print(json.dumps({name: {"median_wall_s": statistics.median(r["wall"]), "median_cpu_s": statistics.median(r["cpu"]),
                         "runs": a.runs} for name, r in results.items()}))
