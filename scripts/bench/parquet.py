#!/usr/bin/env python3
"""to-cos writing Parquet, against pyarrow (the C++ floor) in the same run.

batch: the 10,000-record (~6 MB) single-partition trigger event to one Parquet object (zstd) in a local directory,
  vs pyarrow reading the same values as JSON lines and writing them with the same compression
  (`pyarrow.json.read_json` + `pyarrow.parquet.write_table`). to-cos once without metadata columns (the same
  columns pyarrow writes) and once with its default metadata columns. CPU is user+sys of the to-cos process
  (start-up, event decode and all) and of the pyarrow calls in this process (all its threads); rounds
  interleaved, medians. File sizes side by side.
drain: the scheduled mode draining a one-partition topic of ~1 KB JSON records (--drain-mb) from the broker into
  one Parquet object, beside the same drain writing JSON lines; MB/s of record bytes, CPU, peak RSS. The Parquet
  object is read back by pyarrow and duckdb (row counts).
Prints one JSON object.

usage: python -m bench.parquet --broker HOST:PORT --to-cos BIN --event EVENT [--runs 5] [--drain-mb 100]
"""
import argparse
import glob
import json
import os
import statistics
import sys
import tempfile
import time

import duckdb
import pyarrow.json as pj
import pyarrow.parquet as pq

from .child import TIMER, child

p = argparse.ArgumentParser()
p.add_argument("--broker", required=True)
p.add_argument("--to-cos", required=True)
p.add_argument("--event", required=True)
p.add_argument("--runs", type=int, default=5)
p.add_argument("--drain-mb", type=int, default=100)
a = p.parse_args()



def to_cos(directory, extra=(), timed=child):
    env = {**os.environ, "bucket_address": f"file://{directory}", "content_format": "parquet", **dict(extra)}
    return timed([a.to_cos, "invoke", "--event", a.event], env=env)


def only_parquet(directory):
    files = glob.glob(f"{directory}/**/*.parquet", recursive=True)
    if len(files) != 1:
        sys.exit(f"expected one Parquet object under {directory}, found {files}")
    return files[0]


work = tempfile.mkdtemp(prefix="ckd-bench-parquet-")
with open(a.event) as f:
    values = [r["Ckafka"]["msgBody"] for r in json.load(f)["Records"]]
lines = os.path.join(work, "values.jsonl")
with open(lines, "w") as f:
    f.writelines(v + "\n" for v in values)
input_mb = os.path.getsize(lines) / 1e6

cases = {"to-cos (no metadata columns)": [("parquet_metadata_columns", "none")], "to-cos (default)": []}
batch = {name: {"wall": [], "cpu": [], "bytes": None} for name in [*cases, "pyarrow read_json + write_table"]}
for run in range(a.runs):
    for name, extra in cases.items():
        directory = os.path.join(work, f"{run}-{len(batch[name]['wall'])}-{name.split()[1]}")
        wall, cpu = to_cos(directory, extra)
        batch[name]["wall"].append(wall)
        batch[name]["cpu"].append(cpu)
        batch[name]["bytes"] = os.path.getsize(only_parquet(directory))
    name = "pyarrow read_json + write_table"
    out = os.path.join(work, f"pyarrow-{run}.parquet")
    w, c = time.perf_counter(), time.process_time()
    pq.write_table(pj.read_json(lines), out, compression="zstd")
    batch[name]["wall"].append(time.perf_counter() - w)
    batch[name]["cpu"].append(time.process_time() - c)
    batch[name]["bytes"] = os.path.getsize(out)
summary = {name: {"wall_ms": statistics.median(r["wall"]) * 1e3, "cpu_ms": statistics.median(r["cpu"]) * 1e3,
                  "bytes": r["bytes"], "runs": len(r["wall"])} for name, r in batch.items()}
floor = summary["pyarrow read_json + write_table"]
for name in cases:
    summary[name]["cpu_vs_pyarrow"] = summary[name]["cpu_ms"] / floor["cpu_ms"]
    summary[name]["bytes_vs_pyarrow"] = summary[name]["bytes"] / floor["bytes"]

# ---- drain: the scheduled mode into one Parquet object ----
from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

record = json.dumps({"log_id": "x" * 20, "level": "INFO", "seq": 0, "time": 1763712000000,
                     "msg": "y" * 900}).encode()
count = a.drain_mb * 1_000_000 // len(record)
topic = f"bench-parquet-{os.getpid()}"
admin = AdminClient({"bootstrap.servers": a.broker})
admin.create_topics([NewTopic(topic, 1, 1)])[topic].result()
producer = Producer({"bootstrap.servers": a.broker, "linger.ms": 50, "batch.size": 1_000_000})
produced_bytes = 0
for i in range(count):
    value = json.dumps({"log_id": f"bench-{i:012d}", "level": ("INFO", "WARN", "ERROR")[i % 3], "seq": i,
                        "time": 1763712000000 + i, "msg": f"{i:08d} " + "y" * 890}).encode()
    produced_bytes += len(value)
    while True:
        try:
            producer.produce(topic, value=value)
            break
        except BufferError:
            producer.poll(0.1)
if producer.flush(120) != 0:
    sys.exit("producer did not flush")

drain = {}
for name, fmt in [("json lines", "json"), ("parquet", "parquet")]:
    directory = os.path.join(work, f"drain-{fmt}")
    rss_file = os.path.join(work, f"rss-{fmt}")
    env = {**os.environ, "bucket_address": f"file://{directory}", "content_format": fmt, "kafka_address": a.broker,
           "topic_name": topic, "consumer_timeout_ms": "3000"}
    wall, cpu = child(["/usr/bin/time", "-f", "%M", "-o", rss_file, a.to_cos, "invoke", "--event", TIMER], env=env)
    stored = [f for f in glob.glob(f"{directory}/**/*", recursive=True) if os.path.isfile(f) and "/.ckafka-dump/" not in f]
    drain[name] = {"wall_s": wall, "cpu_s": cpu, "input_mb_per_s": produced_bytes / 1e6 / wall,
                   "peak_rss_mb": int(open(rss_file).read().split()[-1]) / 1024, "objects": len(stored),
                   "stored_mb": sum(os.path.getsize(f) for f in stored) / 1e6}
    if fmt == "parquet":
        (path,) = stored
        rows = pq.ParquetFile(path).metadata.num_rows
        duck = duckdb.connect().execute(f"select count(*), count(distinct seq) from read_parquet('{path}')").fetchone()
        if rows != count or duck != (count, count):
            sys.exit(f"the Parquet object holds {rows} rows (pyarrow), {duck} (duckdb); {count} were produced")
        drain[name]["row_groups"] = pq.ParquetFile(path).metadata.num_row_groups

json.dump({"batch": {"input_mb": input_mb, "records": len(values), **summary},
           "drain": {"records": count, "input_mb": produced_bytes / 1e6, **drain}}, sys.stdout, indent=1)
