#!/usr/bin/env python3
"""The Tencent CkafkaToElasticsearch template's logic (scf-demo-repo Python2.7-CkafkaToElasticsearch/index.py)
ported to Python 3 and elasticsearch-py 8, as the benchmark baseline for to-es. Runs the handler warm (client
built once, as in a warm SCF instance) and prints one JSON line: {"median_wall_s", "median_cpu_s", "runs"}.
The event is parsed inside the timed part, as the SCF runtime does before calling the handler.

usage: python -m bench.es_template.py EVENT_FILE --es URL --index KEYWORD [--runs 5] [--flavor elasticsearch|opensearch]
"""
import argparse
import datetime
import json
import statistics
import time


ES_Index_KeyWord = "log"
ES_Log_IgnoreWord = None
ES_Index_TimeFormat = "%Y-%m-%d"
es = None
bulk = None


def connect(url, flavor="elasticsearch"):
    """elasticsearch-py 8 for the ES API; opensearch-py (same helpers.bulk) for OpenSearch, which refuses
    elasticsearch-py 8's compatibility content type."""
    global es, bulk
    if flavor == "opensearch":
        from opensearchpy import OpenSearch, helpers
        es, bulk = OpenSearch([url], timeout=60), helpers.bulk
    else:
        from elasticsearch import Elasticsearch, helpers
        es, bulk = Elasticsearch([url], request_timeout=60), helpers.bulk


def deallog(log):
    if ES_Log_IgnoreWord:
        for key in ES_Log_IgnoreWord.split(","):
            log.pop(key, None)
    log["time"] = datetime.datetime.now().isoformat()
    return log


def gendata(records):
    for record in records:
        msg_body = record["Ckafka"]["msgBody"]
        try:
            log = msg_body
            while type(log) != dict:
                log = json.loads(log)
            if "message" in log and type(log["message"]) == str:
                message = json.loads(log.pop("message"))
                log.update(message)
            log = deallog(log)
        except Exception:
            log = {"msg_body": msg_body}
        log["_index"] = ES_Index_KeyWord + "-" + datetime.datetime.now().strftime(ES_Index_TimeFormat)
        if "log_id" in log:
            log["_id"] = log["log_id"]
        yield log


def main_handler(event_text):
    event = json.loads(event_text)
    bulk(es, gendata(event["Records"]))


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("event")
    p.add_argument("--es", required=True)
    p.add_argument("--index", required=True)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--flavor", choices=["elasticsearch", "opensearch"], default="elasticsearch")
    a = p.parse_args()
    connect(a.es, a.flavor)
    ES_Index_KeyWord = a.index
    text = open(a.event, encoding="utf-8").read()
    walls, cpus = [], []
    for _ in range(a.runs):
        w, c = time.perf_counter(), time.process_time()
        main_handler(text)
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    print(json.dumps({"median_wall_s": statistics.median(walls), "median_cpu_s": statistics.median(cpus), "runs": a.runs}))
