#!/usr/bin/env python3
"""restore against kcat (the floor), producing the same records to the same broker in the same run.

Setup: a 4-partition topic of --records JSON values (about --value-bytes each, text keys) produced with kcat, and
  to-cos's scheduled dump of it (gzip JSON lines, objects of --object-mb) into a local directory (file://).
Rounds (interleaved, each into a fresh 4-partition topic whose record count is checked with kcat -C):
  - restore run (release binary, one process: listing, reading, decompressing, producing, progress saves), with
    its default provenance headers, and with provenance_headers=false;
  - kcat -P of the same keys and values from a file (librdkafka of the confluent-kafka wheel).
  MB/s is key + value bytes produced per second of wall time; CPU is user+sys of the child process.
Memory: a restore of one partition whose backup is a single object of --big-mb, under /usr/bin/time: peak RSS.
Prints one JSON object with medians.

usage: python -m bench.restore --broker HOST:PORT --to-cos BIN --restore BIN --rdkafka-dir DIR [--runs 3]
"""
import argparse
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile

from kafka.admin import KafkaAdminClient, NewTopic

from .child import TIMER, child

p = argparse.ArgumentParser()
p.add_argument("--broker", required=True)
p.add_argument("--to-cos", required=True)
p.add_argument("--restore", required=True)
p.add_argument("--rdkafka-dir", required=True, help="directory with librdkafka.so.1 for kcat")
p.add_argument("--runs", type=int, default=3)
p.add_argument("--records", type=int, default=100_000)
p.add_argument("--value-bytes", type=int, default=400)
p.add_argument("--object-mb", type=int, default=16)
p.add_argument("--big-mb", type=int, default=100)
a = p.parse_args()

kcat_env = {**os.environ, "LD_LIBRARY_PATH": a.rdkafka_dir}
admin = KafkaAdminClient(bootstrap_servers=a.broker)
work = tempfile.mkdtemp(prefix="ckd-bench-restore-")


def topic(name, partitions=4):
    name = f"bench-restore-{os.getpid()}-{name}"
    admin.create_topics([NewTopic(name, partitions, 1)])
    return name


def count(name):
    out = subprocess.run(["kcat", "-C", "-b", a.broker, "-t", name, "-e", "-q", "-f", "%o\n"],
                         check=True, capture_output=True, env=kcat_env).stdout
    return len(out.splitlines())


def records_file(path, count, value_bytes):
    size = 0
    with open(path, "w", encoding="utf-8") as f:
        for i in range(count):
            key = f"customer-{i % 1000}"
            value = json.dumps({"n": i, "pad": "x" * max(0, value_bytes - 20)})
            f.write(f"{key}\t{value}\n")
            size += len(key) + len(value)
    return size


def kcat_produce(path, name):
    return child(["kcat", "-P", "-b", a.broker, "-t", name, "-K", "\t", "-l", path], env=kcat_env)


def backup(source, directory, object_mb):
    env = {**os.environ, "bucket_address": f"file://{directory}/", "content_format": "json", "compression_type": "gzip",
           "kafka_address": a.broker, "topic_name": source, "consumer_timeout_ms": "1000",
           "partition_max_to_cos_bytes": str(object_mb << 20)}
    for _ in range(20):
        out = subprocess.run([a.to_cos, "invoke", "--event", TIMER], env=env, check=True, capture_output=True).stdout
        if json.loads(out)["records"] == 0:
            return
    sys.exit("the dump did not finish in 20 runs")


def restore_env(directory, source, target, extra=()):
    return {**os.environ, "bucket_address": f"file://{directory}/", "kafka_address": a.broker, "topic_name": source,
            "kafka_topic_name": target, "RUST_LOG": "warn", **dict(extra)}


messages = os.path.join(work, "records.txt")
payload = records_file(messages, a.records, a.value_bytes)
source = topic("source")
kcat_produce(messages, source)
if count(source) != a.records:
    sys.exit("the source topic did not get every record")
directory = os.path.join(work, "backup")
backup(source, directory, a.object_mb)
objects = glob.glob(f"{directory}/**/*.jsonl.gz", recursive=True)
stored = sum(os.path.getsize(o) for o in objects)

cases = {
    "restore": lambda target: child([a.restore, "run"], env=restore_env(directory, source, target)),
    "restore, provenance_headers=false": lambda target: child(
        [a.restore, "run"], env=restore_env(directory, source, target, [("provenance_headers", "false")])),
    "kcat -P (librdkafka)": lambda target: kcat_produce(messages, target),
}
results = {name: {"wall": [], "cpu": []} for name in cases}
for run in range(a.runs):
    for n, (name, fn) in enumerate(cases.items()):
        target = topic(f"{run}-{n}")
        wall, cpu = fn(target)
        landed = count(target)
        if landed != a.records:
            sys.exit(f"{name} run {run}: {landed} records landed, expected {a.records}")
        results[name]["wall"].append(wall)
        results[name]["cpu"].append(cpu)

# Memory whatever the object's size: one partition, one object of --big-mb.
big_records = (a.big_mb << 20) // (a.value_bytes + 20)
big_messages = os.path.join(work, "big.txt")
big_payload = records_file(big_messages, big_records, a.value_bytes)
big_source = topic("big-source", 1)
kcat_produce(big_messages, big_source)
big_directory = os.path.join(work, "big-backup")
backup(big_source, big_directory, 2 * a.big_mb)
big_objects = glob.glob(f"{big_directory}/**/*.jsonl.gz", recursive=True)
big_target = topic("big-target", 1)
timed = subprocess.run(["/usr/bin/time", "-f", "%M", a.restore, "run"], env=restore_env(big_directory, big_source, big_target),
                       check=True, capture_output=True, text=True)
if count(big_target) != big_records:
    sys.exit("the big restore did not produce every record")

summary = {name: {"median_wall_s": statistics.median(r["wall"]), "median_cpu_s": statistics.median(r["cpu"]),
                  "mb_per_s": payload / 1e6 / statistics.median(r["wall"]), "runs": a.runs}
           for name, r in results.items()}
print(json.dumps({
    "records": a.records, "payload_mb": payload / 1e6, "objects": len(objects), "stored_mb": stored / 1e6,
    "cases": summary,
    "big": {"records": big_records, "payload_mb": big_payload / 1e6, "objects": len(big_objects),
            "object_mb": sum(os.path.getsize(o) for o in big_objects) / 1e6,
            "uncompressed_mb": big_payload / 1e6, "peak_rss_mb": int(timed.stderr.strip().splitlines()[-1]) / 1024},
}))
