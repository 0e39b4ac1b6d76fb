#!/usr/bin/env python3
"""A Tencent SCF custom-runtime API for tests: exactly the four documented endpoints and headers.

  POST /runtime/init/ready          init done (recorded)
  GET  /runtime/invocation/next     long poll; returns the next queued event with headers
                                    request_id, memory_limit_in_mb, time_limit_in_ms; blocks when none is left
  POST /runtime/invocation/response result of the current invocation (first push is final)
  POST /runtime/invocation/error    error of the current invocation (first push is final)

usage: scf_runtime_api.py --record FILE [--port P] EVENT_FILE[@TIME_LIMIT_MS] ...
Prints "listening http://127.0.0.1:PORT" once ready; appends one JSON line per POST to FILE:
{"path", "request_id", "body", "ms"} where ms is the time since that invocation's `next` returned.
"""
import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, default=0)
parser.add_argument("--record", required=True)
parser.add_argument("events", nargs="*")
args = parser.parse_args()

queue = []
for n, spec in enumerate(args.events):
    path, _, limit = spec.partition("@")
    with open(path, "rb") as f:
        queue.append({"id": f"req-{n}", "body": f.read(), "limit": int(limit or 3000)})

lock = threading.Lock()
state = {"current": None, "handed_at": 0.0, "answered": set()}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path != "/runtime/invocation/next":
            return self.reply(404)
        with lock:
            event = queue.pop(0) if queue else None
            if event:
                state["current"], state["handed_at"] = event["id"], time.monotonic()
        if event is None:  # nothing left: hold the long poll until the client goes away
            while True:
                time.sleep(3600)
        self.reply(200, event["body"], [("request_id", event["id"]), ("memory_limit_in_mb", "128"),
                                        ("time_limit_in_ms", str(event["limit"])),
                                        ("Content-Type", "application/json")])

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path not in ("/runtime/init/ready", "/runtime/invocation/response", "/runtime/invocation/error"):
            return self.reply(404)
        with lock:
            request_id = None if self.path == "/runtime/init/ready" else state["current"]
            final = self.path == "/runtime/init/ready" or request_id not in state["answered"]
            if request_id:
                state["answered"].add(request_id)
            if final:
                ms = (time.monotonic() - state["handed_at"]) * 1000 if request_id else 0
                with open(args.record, "a") as f:
                    f.write(json.dumps({"path": self.path, "request_id": request_id,
                                        "body": body.decode("utf-8", "replace"), "ms": round(ms, 1)}) + "\n")
        self.reply(200, b"{}")


server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
server.daemon_threads = True
print(f"listening http://127.0.0.1:{server.server_address[1]}", flush=True)
server.serve_forever()
