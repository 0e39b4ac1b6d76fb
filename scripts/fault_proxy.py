#!/usr/bin/env python3
"""An HTTP reverse proxy that injects faults in front of a real test server (s3s-fs, noida-db), for the fault tests.

usage: fault_proxy.py --upstream http://127.0.0.1:19400 [--port P]
Prints "listening http://127.0.0.1:PORT" once ready. Requests are forwarded as they are (headers included, so
SigV4 signatures still verify), except while a fault is armed. Control endpoints (never forwarded):

  POST /__fault/fail    {"match": REGEX, "status": 503}   answer every request whose "METHOD path?query" matches
                                                          REGEX with that status (an S3-style XML error)
  POST /__fault/reject  {"every": K, "requests": N}       the next N `_bulk` requests: every K-th item (from the
                                                          first) is not forwarded and answers 429
                                                          es_rejected_execution_exception, as a busy node does
  POST /__fault/off                                       forward everything again
  GET  /__fault/seen    {"upload_ids": [...], "rejected_items": n, "failed_requests": n, "bulk_requests": n,
                         "upstream_errors": n}
                        upload ids of CreateMultipartUpload answers that passed through, `_bulk` requests
                        forwarded, requests the upstream could not answer (answered 502: it was down)
"""
import argparse
import http.client
import json
import re
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

p = argparse.ArgumentParser()
p.add_argument("--upstream", required=True)
p.add_argument("--port", type=int, default=0)
args = p.parse_args()
upstream = urllib.parse.urlsplit(args.upstream)

lock = threading.Lock()
state = {"fail": None, "reject": None, "upload_ids": [], "rejected_items": 0, "failed_requests": 0,
         "bulk_requests": 0, "upstream_errors": 0}
SEEN = ("upload_ids", "rejected_items", "failed_requests", "bulk_requests", "upstream_errors")


def bulk_items(body):
    """NDJSON bulk body -> [(action line, source line)]; to-es only sends index/create actions."""
    lines = body.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [(lines[i], lines[i + 1]) for i in range(0, len(lines), 2)]


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        pass

    def reply(self, status, body, content_type="application/json", headers=()):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def control(self, body):
        with lock:
            if self.command == "GET":
                seen = {k: state[k] for k in SEEN}
                return self.reply(200, json.dumps(seen).encode())
            what = self.path.rsplit("/", 1)[1]
            if what == "fail":
                state["fail"] = json.loads(body)
            elif what == "reject":
                state["reject"] = json.loads(body)
            else:
                state["fail"] = state["reject"] = None
        self.reply(200, b"{}")

    def forward(self, body, headers=None):
        connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
        sent = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "transfer-encoding")}
        if headers:
            sent.update(headers)
        connection.request(self.command, self.path, body=body, headers=sent)
        response = connection.getresponse()
        data = response.read()
        kept = [(k, v) for k, v in response.getheaders()
                if k.lower() not in ("connection", "transfer-encoding", "content-length", "content-type")]
        connection.close()
        return response.status, response.getheader("Content-Type", "application/octet-stream"), kept, data

    def handle_any(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        if self.path.startswith("/__fault/"):
            return self.control(body)
        request = f"{self.command} {self.path}"
        with lock:
            fail = state["fail"]
            reject = state["reject"] if self.path.split("?")[0].endswith("/_bulk") else None
            if fail and re.search(fail["match"], request):
                state["failed_requests"] += 1
            else:
                fail = None
            if reject:
                reject["requests"] -= 1
                if reject["requests"] <= 0:
                    state["reject"] = None
        if fail:
            xml = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>ServiceUnavailable</Code>"
                   f"<Message>injected by fault_proxy</Message></Error>").encode()
            return self.reply(fail["status"], xml, "application/xml")
        if reject:
            return self.bulk_with_rejections(body, reject["every"])
        try:
            status, content_type, headers, data = self.forward(body)
        except OSError as e:
            with lock:
                state["upstream_errors"] += 1
            return self.reply(502, json.dumps({"error": f"upstream down: {e}"}).encode())
        if self.path.split("?")[0].endswith("/_bulk"):
            with lock:
                state["bulk_requests"] += 1
        if self.command == "POST" and "uploads" in self.path and status == 200:
            with lock:
                state["upload_ids"] += re.findall(r"<UploadId>([^<]+)</UploadId>", data.decode("utf-8", "replace"))
        self.reply(status, data, content_type, headers)

    def bulk_with_rejections(self, body, every):
        items = bulk_items(body)
        rejected = set(range(0, len(items), every))
        kept = [item for i, item in enumerate(items) if i not in rejected]
        answers = []
        if kept:
            forwarded = b"".join(a + b"\n" + s + b"\n" for a, s in kept)
            status, _, _, data = self.forward(forwarded, {"Content-Length": str(len(forwarded))})
            if status != 200:
                return self.reply(status, data)
            answers = json.loads(data)["items"]
        merged, passed = [], iter(answers)
        for i, (action, _) in enumerate(items):
            if i in rejected:
                op, meta = next(iter(json.loads(action).items()))
                merged.append({op: {"_index": meta.get("_index"), "_id": meta.get("_id"), "status": 429,
                                    "error": {"type": "es_rejected_execution_exception",
                                              "reason": "rejected execution (injected by fault_proxy)"}}})
            else:
                merged.append(next(passed))
        with lock:
            state["rejected_items"] += len(rejected)
        self.reply(200, json.dumps({"took": 1, "errors": True, "items": merged}).encode())

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any


server = ThreadingHTTPServer(("127.0.0.1", args.port), Proxy)
server.daemon_threads = True
print(f"listening http://127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
