#!/usr/bin/env python3
"""to-kafka vs the KafkaToKafkaConsumer template's logic (kafka-python, bench_kafka_template.py, in this process)
vs kcat with the librdkafka of the confluent-kafka wheel (the limit), producing the same 10,000 records (key and
value of each SCF record) to the same broker, in one run. Runs are interleaved; each writes a fresh 4-partition
topic whose record count is checked. Prints one JSON object with medians.

usage: python -m bench.kafka.py --broker HOST:PORT --event EVENT --to-kafka BIN --rdkafka-dir DIR [--runs 5]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

from kafka.admin import KafkaAdminClient, NewTopic

from . import kafka_template as template  # noqa: E402
from .child import child  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--broker", required=True)
p.add_argument("--event", required=True)
p.add_argument("--to-kafka", required=True)
p.add_argument("--rdkafka-dir", required=True, help="directory with librdkafka.so.1 for kcat")
p.add_argument("--runs", type=int, default=5)
a = p.parse_args()

event_text = open(a.event, encoding="utf-8").read()
records = json.loads(event_text)["Records"]
messages = "/tmp/ckd-bench-kafka-messages.txt"
with open(messages, "w", encoding="utf-8") as f:
    for r in records:
        f.write(f"{r['Ckafka']['msgKey']}\t{r['Ckafka']['msgBody']}\n")
kcat_env = {**os.environ, "LD_LIBRARY_PATH": a.rdkafka_dir}
admin = KafkaAdminClient(bootstrap_servers=a.broker)


def count(topic):
    out = subprocess.run(["kcat", "-C", "-b", a.broker, "-t", topic, "-e", "-q", "-f", "%o\n"],
                         check=True, capture_output=True, env=kcat_env).stdout
    return len(out.splitlines())


def run_to_kafka(topic):
    return child([a.to_kafka, "invoke", "--event", a.event],
                 env={**os.environ, "kafka_address": a.broker, "kafka_topic_name": topic})


def run_template(topic):
    w, c = time.perf_counter(), time.process_time()
    template.main_handler(event_text, a.broker, topic)
    return time.perf_counter() - w, time.process_time() - c


def run_kcat(topic):
    return child(["kcat", "-P", "-b", a.broker, "-t", topic, "-K", "\t", "-l", messages], env=kcat_env)


tools = {"to-kafka": run_to_kafka, "template (kafka-python)": run_template, "kcat (librdkafka)": run_kcat}
results = {name: {"wall": [], "cpu": []} for name in tools}
for i in range(a.runs):
    for name, fn in tools.items():
        topic = f"bench-{os.getpid()}-{i}-{name.split()[0]}"
        admin.create_topics([NewTopic(topic, 4, 1)])
        wall, cpu = fn(topic)
        landed = count(topic)
        if landed != len(records):
            sys.exit(f"{name} run {i}: {landed} records landed, expected {len(records)}")
        results[name]["wall"].append(wall)
        results[name]["cpu"].append(cpu)

print(json.dumps({name: {"median_wall_s": statistics.median(r["wall"]), "median_cpu_s": statistics.median(r["cpu"]),
                         "runs": a.runs} for name, r in results.items()}))
