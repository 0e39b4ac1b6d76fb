#!/usr/bin/env python3
"""The Tencent KafkaToKafkaConsumer template's logic (scf-demo-repo Python2.7-KafkaToKafkaConsumer/index.py) ported
to Python 3 with kafka-python, as the benchmark baseline for to-kafka: a producer created and closed per
invocation (retries=10, max_in_flight_requests_per_connection=1), one async send per record with callbacks
counting successes, then flush. Imported by bench_kafka.py."""
import json

from kafka import KafkaProducer

count = 0


def main_handler(event_text, kafka_address, kafka_topic_name):
    global count
    count = 0
    event = json.loads(event_text)
    producer = KafkaProducer(bootstrap_servers=[kafka_address], retries=10, max_in_flight_requests_per_connection=1,
                             request_timeout_ms=30000, max_block_ms=60000)

    def on_send_success(record_metadata):
        global count
        count += 1

    def on_send_error(excp):
        print("failed to send message", excp)

    for record in event["Records"]:
        key = record["Ckafka"]["msgKey"]
        key = None if key in ("", "None") else key.encode()
        value = record["Ckafka"]["msgBody"].encode()
        producer.send(kafka_topic_name, key=key, value=value).add_callback(on_send_success).add_errback(on_send_error)
    producer.flush()
    producer.close()
    return f"{count} messages delivered"
