#!/usr/bin/env python3
"""to-cos benchmarks against the same s3s-fs (S3 API) and tansu (Kafka API) servers, baselines in the same run.

batch: to-cos turning a ~6 MB single-partition trigger event into one object, vs boto3 `put_object` of the very
  bytes to-cos wrote (warm client in this process: the limit of a Python function that already has its bytes).
  to-cos twice: as one process per run (`invoke`, cold start and event file read included), and warm, as a
  deployed function runs: one process serving invocations from the SCF runtime API (scripts/fixtures/scf_runtime_api.py),
  timed by the function (decode + encode + upload) and by the runtime API (next -> response, event transfer
  included). Runs interleaved where they can be; medians.
drain: the scheduled mode draining a topic from tansu into s3s-fs (one `to-cos invoke` of a timer event), vs the
  KafkaToCosConsumer template's logic (kafka-python consumer per partition, values + "\\n" into a local file,
  put_object at the end; one process per partition, as the template's schedule function fans out). Every
  object is read back and its bytes counted against what was produced.
Prints one JSON object.

usage: python -m bench.cos.py --endpoint URL --access-key AK --secret-key SK --broker HOST:PORT --to-cos BIN
                    --event EVENT [--runs 5] [--drain-mb 100] [--partitions 4]
"""
import argparse
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time

from fixtures.scf_harness import answers, start_api  # noqa: E402

from .child import TIMER, child  # noqa: E402

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--endpoint", required=True)
p.add_argument("--access-key", required=True)
p.add_argument("--secret-key", required=True)
p.add_argument("--broker", required=True)
p.add_argument("--to-cos", required=True)
p.add_argument("--event", required=True)
p.add_argument("--runs", type=int, default=5)
p.add_argument("--drain-mb", type=int, default=100)
p.add_argument("--partitions", type=int, default=4)
a = p.parse_args()



def s3_client():
    return boto3.client("s3", endpoint_url=a.endpoint, aws_access_key_id=a.access_key,
                        aws_secret_access_key=a.secret_key, region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}, request_checksum_calculation="when_required",
                                      response_checksum_validation="when_required"))


s3 = s3_client()


def new_bucket(name):
    bucket = f"bench-{os.getpid()}-{name}"
    s3.create_bucket(Bucket=bucket)
    return bucket


def stored(bucket, prefix=""):
    """key -> size of every object under prefix (checkpoints excluded)."""
    sizes, token = {}, None
    while True:
        # EncodingType given explicitly so botocore does not url-decode the keys: s3s-fs returns them raw, and
        # decoding would turn the `+` of to-cos keys into spaces.
        kw = {"Bucket": bucket, "Prefix": prefix, "EncodingType": "url",
              **({"ContinuationToken": token} if token else {})}
        page = s3.list_objects_v2(**kw)
        for o in page.get("Contents", []):
            if "/.ckafka-dump/" not in "/" + o["Key"]:
                sizes[o["Key"]] = o["Size"]
        token = page.get("NextContinuationToken")
        if not token:
            return sizes


def to_cos_env(bucket, **extra):
    return {**os.environ, "bucket_address": f"s3://{bucket}/", "endpoint_url": a.endpoint,
            "AWS_ACCESS_KEY_ID": a.access_key, "AWS_SECRET_ACCESS_KEY": a.secret_key, **extra}


def median(xs):
    return statistics.median(xs)


def shifted_event(path, shift, directory):
    """The event with every offset moved by `shift`: records no delivery wrote yet (to-cos skips offsets it holds)."""
    with open(path) as f:
        event = json.load(f)
    for record in event["Records"]:
        record["Ckafka"]["offset"] += shift
    out = os.path.join(directory, f"event-{shift}.json")
    with open(out, "w") as f:
        json.dump(event, f)
    return out


# ---- batch: one 6 MB trigger event -> one object ----
# Every run writes records no earlier run wrote: a bucket of its own (cold runs), or the event moved to new
# offsets (the warm process), since a re-delivery of written offsets writes nothing.
bucket = new_bucket("batch")
child([a.to_cos, "invoke", "--event", a.event], env=to_cos_env(bucket))
(key, size), = stored(bucket).items()
body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
batch = {"to-cos": {"wall": [], "cpu": []}, "boto3 put_object": {"wall": [], "cpu": []}}
for i in range(a.runs):
    run_bucket = new_bucket(f"batch-{i}")
    wall, cpu = child([a.to_cos, "invoke", "--event", a.event], env=to_cos_env(run_bucket))
    batch["to-cos"]["wall"].append(wall)
    batch["to-cos"]["cpu"].append(cpu)
    w, c = time.perf_counter(), time.process_time()
    s3.put_object(Bucket=bucket, Key=f"boto3/{i}", Body=body, ContentType="text/plain; charset=utf-8")
    batch["boto3 put_object"]["wall"].append(time.perf_counter() - w)
    batch["boto3 put_object"]["cpu"].append(time.process_time() - c)
    if stored(run_bucket) != {key: size}:
        sys.exit(f"to-cos run {i} stored {stored(run_bucket)}, expected {key}: {size} bytes")

# Warm: one to-cos process serving runs+1 invocations through the SCF runtime API, each of new offsets.
with tempfile.TemporaryDirectory() as tmp:
    record = os.path.join(tmp, "record.jsonl")
    events = [shifted_event(a.event, n * 1_000_000, tmp) for n in range(1, a.runs + 2)]
    api, port = start_api(record, [f"{e}@60000" for e in events])
    function = subprocess.Popen([a.to_cos], env={**to_cos_env(bucket), "SCF_RUNTIME_API": f"127.0.0.1:{port}"},
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    replies = answers(record, a.runs + 1, 120)
    function.kill()
    api.kill()
    if len(replies) < a.runs + 1 or any(x["path"] != "/runtime/invocation/response" for x in replies):
        sys.exit(f"warm to-cos: {replies}")
    warm = replies[1:]
    batch["to-cos warm (function's ms)"] = {"wall": [json.loads(x["body"])["ms"] / 1e3 for x in warm], "cpu": []}
    batch["to-cos warm (runtime API's ms)"] = {"wall": [x["ms"] / 1e3 for x in warm], "cpu": []}

# ---- drain: scheduled mode vs the template's consumer ----
from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

value = (b"x" * 1000)
count = a.drain_mb * 1_000_000 // len(value)


def fill_topic(name, partitions):
    admin = AdminClient({"bootstrap.servers": a.broker})
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result()
    producer = Producer({"bootstrap.servers": a.broker, "linger.ms": 50, "batch.size": 1_000_000,
                         "compression.type": "none"})
    for i in range(count):
        while True:
            try:
                producer.produce(name, value=value[:990] + b"%010d" % i, partition=i % partitions)
                break
            except BufferError:
                producer.poll(0.1)
    if producer.flush(120) != 0:
        sys.exit("producer did not flush")


def template_partition(args):
    """KafkaToCosConsumer's loop for one partition: consume until idle, write value + "\\n" to a file, upload."""
    topic, partition, bucket = args
    from kafka import KafkaConsumer, TopicPartition
    t = time.process_time()
    consumer = KafkaConsumer(bootstrap_servers=a.broker, enable_auto_commit=False, consumer_timeout_ms=3000,
                             max_partition_fetch_bytes=8 * 1024 * 1024, fetch_max_bytes=8 * 1024 * 1024)
    tp = TopicPartition(topic, partition)
    consumer.assign([tp])
    consumer.seek_to_beginning(tp)
    with tempfile.NamedTemporaryFile() as f:
        for msg in consumer:
            f.write(msg.value)
            f.write(b"\n")
        f.flush()
        s3_client().upload_file(f.name, bucket, f"template/{topic}/{partition}/{int(time.time() * 1000)}")
    consumer.close()
    return time.process_time() - t


drain = {}
topic = f"bench-drain-{os.getpid()}"
fill_topic(topic, a.partitions)
expected_bytes = count * (len(value) + 1)



def drain_to_cos(topic, bucket):
    """One timer invocation draining `topic` into `bucket`; checks the stored bytes."""
    rss_file = os.path.join(tempfile.gettempdir(), f"ckd-bench-cos-rss-{os.getpid()}")
    wall, cpu = child(["/usr/bin/time", "-f", "%M", "-o", rss_file, a.to_cos, "invoke", "--event", TIMER],
                      env=to_cos_env(bucket, kafka_address=a.broker, topic_name=topic, consumer_timeout_ms="3000"))
    sizes = stored(bucket)
    if sum(sizes.values()) != expected_bytes:
        sys.exit(f"to-cos drain of {topic} stored {sum(sizes.values())} bytes, expected {expected_bytes}")
    return {"wall_s": wall, "cpu_s": cpu, "objects": len(sizes), "largest_object_mb": max(sizes.values()) / 1e6,
            "peak_rss_mb": int(open(rss_file).read().split()[-1]) / 1024}


drain["to-cos"] = drain_to_cos(topic, new_bucket("drain-to-cos"))
# The same bytes on one partition: one 100 MB object, to show memory follows the part size, not the object's.
single = f"{topic}-1p"
fill_topic(single, 1)
drain["to-cos, one partition"] = drain_to_cos(single, new_bucket("drain-one-partition"))

bucket = new_bucket("drain-template")
t = time.perf_counter()
with multiprocessing.get_context("fork").Pool(a.partitions) as pool:
    cpus = pool.map(template_partition, [(topic, n, bucket) for n in range(a.partitions)])
wall = time.perf_counter() - t
got = sum(stored(bucket).values())
if got != expected_bytes:
    sys.exit(f"template drain stored {got} bytes, expected {expected_bytes}")
drain["template (kafka-python + boto3)"] = {"wall_s": wall, "cpu_s": sum(cpus), "objects": len(stored(bucket))}

print(json.dumps({
    "batch": {"event_bytes": os.path.getsize(a.event), "object_bytes": size, "runs": a.runs,
              **{name: {"median_wall_s": median(r["wall"]), "median_cpu_s": median(r["cpu"]) if r["cpu"] else None}
                 for name, r in batch.items()}},
    "drain": {"mb": expected_bytes / 1e6, "records": count, "partitions": a.partitions, **drain},
}))
