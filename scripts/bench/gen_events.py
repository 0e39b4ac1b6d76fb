#!/usr/bin/env python3
"""Generates large trigger events for benchmarks: N records of JSON log lines, about SIZE bytes in all.

usage: gen_events.py {msk|scf} [--records 10000] [--bytes 6000000] [--topic bench] [--partitions 4] > event.json
msk: AWS Lambda Kafka (MSK) event, base64 key/value, one header per record.
scf: Tencent SCF CKafka event, the same messages as msgBody strings (JSON-escaped, as the trigger sends them).
Deterministic: the same arguments give the same bytes.
"""
import argparse
import base64
import json
import random

p = argparse.ArgumentParser()
p.add_argument("format", choices=["msk", "scf"])
p.add_argument("--records", type=int, default=10000)
p.add_argument("--bytes", type=int, default=6_000_000)
p.add_argument("--topic", default="bench")
p.add_argument("--partitions", type=int, default=4)
p.add_argument("--start-ms", type=int, default=1763712000000)
a = p.parse_args()

rng = random.Random(42)
# Per-record overhead differs by format (base64 grows values by 4/3); size the message so the event lands
# near --bytes.
overhead = 185 if a.format == "msk" else 55
per_record = max(a.bytes // a.records - overhead, 40)
message_len = per_record * 3 // 4 if a.format == "msk" else per_record * 9 // 10
words = ["alpha", "beta", "gamma", "delta", "kafka", "ckafka", "dump", "order", "user", "ok", "error", "中文"]


def message(i):
    doc = {"log_id": f"{a.topic}-{i}", "level": rng.choice(["INFO", "WARN", "ERROR"]), "seq": i,
           "time": a.start_ms + i, "msg": ""}
    base = len(json.dumps(doc, ensure_ascii=False).encode())
    text = []
    while base + len(" ".join(text).encode()) < message_len:
        text.append(rng.choice(words))
    doc["msg"] = " ".join(text)
    return json.dumps(doc, ensure_ascii=False).encode()


if a.format == "msk":
    records = {}
    for i in range(a.records):
        part = i % a.partitions
        value = message(i)
        records.setdefault(f"{a.topic}-{part}", []).append({
            "topic": a.topic, "partition": part, "offset": i // a.partitions, "timestamp": a.start_ms + i,
            "timestampType": "CREATE_TIME", "key": base64.b64encode(f"key-{i % 97}".encode()).decode(),
            "value": base64.b64encode(value).decode(),
            "headers": [{"trace-id": [b - 256 if b > 127 else b for b in f"trace-{i}-é".encode()]}]})
    event = {"eventSource": "aws:kafka", "eventSourceArn": "arn:aws:kafka:us-east-1:123456789012:cluster/bench/1",
             "bootstrapServers": "b-1.bench:9092", "records": records}
else:
    event = {"Records": [{"Ckafka": {"topic": a.topic, "partition": i % a.partitions, "offset": i // a.partitions,
                                     "msgKey": f"key-{i % 97}", "msgBody": message(i).decode()}}
                         for i in range(a.records)]}

print(json.dumps(event, ensure_ascii=False, separators=(",", ":")))
