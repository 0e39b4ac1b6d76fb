#!/usr/bin/env python3
"""Start-up and footprint of the three functions, side by side with Python 3 equivalents of the Tencent templates'
import-time initialisation. Prints one JSON object.

init: process start -> the first `GET .../invocation/next`, against a runtime API served by this script (the SCF
  custom-runtime path, and the AWS Lambda one), median of --runs starts after one warm-up; the process is killed
  once it asks. The Python baselines import what the template imports, build its client (no network), then ask
  for the next invocation the same way.
size: the stripped release binaries.
rss: peak RSS (/usr/bin/time) of each function decoding and delivering the 6 MB event: to-cos into a file://
  directory, to-es into the ES-API server, to-kafka into the Kafka broker, to-sql into PostgreSQL (a raw table).

usage: python -m bench.footprint.py --bin-dir target/release --python VENV_PYTHON --event EVENT --es URL --broker HOST:PORT
                          [--runs 20]
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

p = argparse.ArgumentParser()
p.add_argument("--bin-dir", required=True)
p.add_argument("--python", required=True)
p.add_argument("--event", required=True)
p.add_argument("--es", required=True)
p.add_argument("--broker", required=True)
p.add_argument("--pg-url", required=True)
p.add_argument("--runs", type=int, default=20)
a = p.parse_args()

asked = threading.Event()


class Api(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        pass

    def do_POST(self):  # SCF /runtime/init/ready
        self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self):  # .../invocation/next: note the time, never answer
        if self.path.endswith("/invocation/next"):
            asked.set()
        time.sleep(30)


server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
port = server.server_address[1]
api_env = {
    "scf": {"SCF_RUNTIME_API": "127.0.0.1", "SCF_RUNTIME_API_PORT": str(port)},
    "lambda": {"AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}", "AWS_LAMBDA_FUNCTION_NAME": "f",
               "AWS_LAMBDA_FUNCTION_VERSION": "1", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128"},
}
function_env = {
    "to-cos": {"bucket_address": "dump-1250000000.cos.ap-guangzhou.myqcloud.com",
               "TENCENTCLOUD_SECRETID": "AKID", "TENCENTCLOUD_SECRETKEY": "sk"},
    "to-es": {"ES_Address": "http://127.0.0.1:9", "ES_Index_KeyWord": "logs"},
    "to-kafka": {"kafka_address": "127.0.0.1:9", "kafka_topic_name": "t"},
    "to-sql": {"db_url": "postgres://u:p@127.0.0.1:9/db", "db_table": "t"},
}
# What each template does before it can take an invocation: its imports and its client.
python_init = {
    "to-cos": "import json, os, tempfile\nimport boto3\n"
              "boto3.client('s3', endpoint_url='https://cos.ap-guangzhou.myqcloud.com', aws_access_key_id='AKID', "
              "aws_secret_access_key='sk', region_name='ap-guangzhou')\n",
    "to-es": "import json, logging, datetime\nfrom elasticsearch import Elasticsearch, helpers\n"
             "Elasticsearch(['http://127.0.0.1:9'], basic_auth=('elastic', 'x'))\n",
    "to-kafka": "import json, logging\nfrom kafka import KafkaProducer\n",
    "to-sql": "import json, io, logging\nimport psycopg2\n",
}
ask_next = ("import urllib.request, os\n"
            "urllib.request.urlopen(f\"http://127.0.0.1:{os.environ['SCF_RUNTIME_API_PORT']}"
            "/runtime/invocation/next\")\n")


def time_to_next(cmd, env):
    asked.clear()
    t = time.perf_counter()
    process = subprocess.Popen(cmd, env={"PATH": os.environ["PATH"], **env},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not asked.wait(30):
        process.kill()
        sys.exit(f"{cmd} never asked for an invocation")
    elapsed = time.perf_counter() - t
    process.kill()
    process.wait()
    return elapsed


def median_of(cmd, env):
    time_to_next(cmd, env)  # warm-up: page cache, dynamic loader
    return statistics.median(time_to_next(cmd, env) for _ in range(a.runs))


init = {}
for function in ["to-cos", "to-es", "to-kafka", "to-sql"]:
    binary = os.path.join(a.bin_dir, function)
    for api, env in api_env.items():
        init[f"{function} ({api})"] = median_of([binary], {**function_env[function], **env})
    init[f"python template ({function})"] = median_of([a.python, "-c", python_init[function] + ask_next],
                                                      api_env["scf"])

size = {f: os.path.getsize(os.path.join(a.bin_dir, f)) for f in ["to-cos", "to-es", "to-kafka", "to-sql"]}


def peak_rss(function, env):
    with tempfile.NamedTemporaryFile() as out:
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", out.name, os.path.join(a.bin_dir, function), "invoke",
                        "--event", a.event], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env={**os.environ, **env})
        return int(open(out.name).read().split()[-1]) * 1024


topic = f"footprint-{os.getpid()}"
from kafka.admin import KafkaAdminClient, NewTopic  # noqa: E402

KafkaAdminClient(bootstrap_servers=a.broker).create_topics([NewTopic(topic, 4, 1)])
bucket = tempfile.mkdtemp()
rss = {
    "to-cos": peak_rss("to-cos", {"bucket_address": f"file://{bucket}"}),
    "to-es": peak_rss("to-es", {"ES_Address": a.es, "ES_Index_KeyWord": f"footprint-{os.getpid()}"}),
    "to-kafka": peak_rss("to-kafka", {"kafka_address": a.broker, "kafka_topic_name": topic}),
    "to-sql": peak_rss("to-sql", {"db_url": a.pg_url, "db_table": f"footprint_{os.getpid()}",
                                  "auto_create_table": "true"}),
}
shutil.rmtree(bucket)
print(json.dumps({"runs": a.runs, "init_s": init, "size_bytes": size, "rss_bytes": rss,
                  "event_bytes": os.path.getsize(a.event)}))
