#!/usr/bin/env python3
"""Fault tests of the function binaries against the real servers of scripts/services.sh (run by scripts/test.sh):

secrets:   every function run with its secrets set, once with the right ones (success) and once with wrong ones
           (refused), at log level trace: no secret appears in stdout (the result), stderr (logs, errors).
deadlines: every function pointed at a stalled target (a listener that accepts and never answers) with a 3 s
           time limit returns an error naming the deadline before the limit.

usage: fault_tests.py BIN_DIR    (the servers' addresses come from .services/env variables)
"""
import os
import socket
import subprocess
import sys
import threading
import time

from test_settings import setting

bin_dir = sys.argv[1]
root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
event = os.path.join(root, "events/aws-msk.json")
env = os.environ
failures = []


def run(function, extra, *args):
    t = time.perf_counter()
    p = subprocess.run([os.path.join(bin_dir, function), "invoke", "--event", event, *args], capture_output=True,
                       text=True, env={"PATH": env["PATH"], "RUST_LOG": "trace", **extra}, timeout=120)
    return p, time.perf_counter() - t


def check(name, condition, detail=""):
    print(f"{'ok  ' if condition else 'FAIL'} {name}")
    if not condition:
        failures.append(f"{name}: {detail}")


# ---- secrets ----
topic = f"faults-{os.getpid()}"
from kafka.admin import KafkaAdminClient, NewTopic  # noqa: E402

scram = setting("CKD_KAFKA_SCRAM_BOOTSTRAP")
scram_user = setting("CKD_SCRAM512_USER")
scram_password = setting("CKD_SCRAM512_PASSWORD")
KafkaAdminClient(bootstrap_servers=scram, security_protocol="SASL_PLAINTEXT", sasl_mechanism="SCRAM-SHA-512",
                 sasl_plain_username=scram_user, sasl_plain_password=scram_password
                 ).create_topics([NewTopic(topic, 1, 1)])
s3_secret = setting("CKD_S3_SECRET_KEY")
es_password = setting("CKD_ES_AUTH_PASSWORD")
wrong = "wrong-secret-7f3a9c"
bucket = f"faults-{os.getpid()}"
import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

boto3.client("s3", endpoint_url=setting("CKD_S3_ENDPOINT"), aws_access_key_id=setting("CKD_S3_ACCESS_KEY"),
             aws_secret_access_key=s3_secret, region_name="us-east-1",
             config=Config(s3={"addressing_style": "path"})).create_bucket(Bucket=bucket)

pg_url = setting("CKD_PG_URL")
pg_password = pg_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
my_url = setting("CKD_MYSQL_URL")
my_user, my_password = my_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)
my_host = my_url.split("@", 1)[1].split("/", 1)[0]
sql_table = f"faults_{os.getpid()}"
cases = {
    "to-es": (lambda secret: {"ES_Address": setting("CKD_ES_AUTH_URL"), "ES_Index_KeyWord": topic,
                              "ES_User": setting("CKD_ES_AUTH_USER"), "ES_Password": secret},
              es_password),
    "to-kafka": (lambda secret: {"kafka_address": scram, "kafka_topic_name": topic, "produce_timeout_ms": "3000",
                                 "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
                                 "sasl_plain_username": scram_user, "sasl_plain_password": secret},
                 scram_password),
    "to-cos": (lambda secret: {"bucket_address": f"s3://{bucket}/", "endpoint_url": setting("CKD_S3_ENDPOINT"),
                               "TENCENTCLOUD_SECRETID": setting("CKD_S3_ACCESS_KEY"), "TENCENTCLOUD_SECRETKEY": secret,
                               "TENCENTCLOUD_SESSIONTOKEN": "session-token-5d1e"},
               s3_secret),
    "to-sql": (lambda secret: {"db_url": pg_url.replace(pg_password, secret), "db_table": sql_table,
                               "auto_create_table": "true"},
               pg_password),
    # The MySQL template's variables, the password in dbpwd.
    "to-sql (MySQL template)": (lambda secret: {"dbhost": my_host, "dbuser": my_user, "dbpwd": secret, "dbdatabase": "ckd",
                                "dbtable": sql_table, "auto_create_table": "true"},
                my_password),
}
for case, (settings, right) in cases.items():
    function = case.split()[0]
    good, _ = run(function, settings(right))
    check(f"{case}: the right secret is accepted", good.returncode == 0, good.stderr[-2000:])
    bad, _ = run(function, settings(wrong))
    check(f"{case}: a wrong secret is refused", bad.returncode != 0, bad.stdout[-2000:])
    for label, p, secret in [("right", good, right), ("wrong", bad, wrong), ("right", good, "session-token-5d1e")]:
        leaked = secret in p.stdout or secret in p.stderr
        check(f"{case}: the {label} secret appears nowhere in {len(p.stdout) + len(p.stderr)} bytes of output",
              not leaked, "leaked")

# ---- deadlines ----
stalled = socket.socket()
stalled.bind(("127.0.0.1", 0))
stalled.listen(64)
held = []
threading.Thread(target=lambda: [held.append(stalled.accept()) for _ in iter(int, 1)], daemon=True).start()
address = f"127.0.0.1:{stalled.getsockname()[1]}"
stalled_targets = {
    "to-es": {"ES_Address": f"http://{address}", "ES_Index_KeyWord": "stalled"},
    "to-kafka": {"kafka_address": address, "kafka_topic_name": "stalled"},
    "to-cos": {"bucket_address": "s3://stalled/", "endpoint_url": f"http://{address}",
               "AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "sk"},
    "to-sql": {"db_url": f"postgres://u:p@{address}/db?sslmode=disable", "db_table": "stalled"},
}
for function, settings in stalled_targets.items():
    p, took = run(function, settings, "--time-limit-ms", "3000")
    check(f"{function}: a stalled target fails the invocation before the 3 s limit ({took:.2f} s)",
          p.returncode != 0 and took < 3.0 and ("deadline" in p.stderr or "timed out" in p.stderr), p.stderr[-1500:])

if failures:
    sys.exit("\n".join(failures))
