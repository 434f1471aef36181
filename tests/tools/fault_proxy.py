#!/usr/bin/python3
"""fault_proxy.py - an HTTP/1.1 proxy in front of a registry that injects faults, for tests.

Run it with /usr/bin/python3 (standard library only):

    fault_proxy.py --upstream http://127.0.0.1:PORT --scenario FILE --log FILE

It binds 127.0.0.1 on a free port, prints that port on the first line of standard output
and serves until it is killed (stop it by its PID).  Connections are kept alive on both
sides: each client connection gets its own upstream connection, reused request after
request.

The scenario is a JSON file {"rules": [RULE, ...]}.  A RULE:

    {"name": "tags-429",          a name for the log (default: rule-<index>)
     "method": "GET|HEAD",        regex, must match the whole method (default: any)
     "path": "/tags/list",        regex, searched in the path with its query (default: any)
     "skip": 0,                   let the first SKIP matching requests through untouched
     "count": 2,                  then fault the next COUNT (default 1; -1: every one)
     "per_path": false,           count separately for every distinct path
     "delay": 0.0,                sleep this many seconds first (a slow response)
     "forward": false,            send the request to the registry first (so the registry
                                  did the work), then give the client the fault instead
     "status": 429,               answer this status (with a small JSON error body), or
     "reset": true,               close the connection without an answer (TCP RST)
     "retry_after": "2",          add a Retry-After header with this value
     "body": {...},               with status: answer this JSON instead of an error body
     "content_type": "..."}       with body: its Content-Type (default application/json)
A rule with only "delay" (no status, no reset) forwards normally after the delay. With
"body" the proxy plays an API the registry lacks (such as OCI 1.1 referrers).

Every rule sees every request and counts its own matches; the first rule (in file order)
whose window [skip, skip+count) the request falls in applies.

Every request is logged to --log as one tab-separated line, written when it is answered:
    EPOCH_ARRIVED  CONN  METHOD  PATH  RULE(-)  UPSTREAM_STATUS(-)  ANSWER(status|reset)
UPSTREAM_STATUS is what the registry answered when the request reached it, `-` when it
did not; ANSWER is what the client got.
"""

import argparse
import http.client
import itertools
import json
import os
import re
import socket
import struct
import sys
import threading
import time
import urllib.parse
import http.server

HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
    "trailer", "trailers", "transfer-encoding", "upgrade", "content-length",
}


class Rule:
    def __init__(self, i, d):
        self.name = str(d.get("name", "rule-%d" % i))
        self.method = re.compile(d.get("method", ".*"))
        self.path = re.compile(d.get("path", ""))
        self.skip = int(d.get("skip", 0))
        self.count = int(d.get("count", 1))
        self.per_path = bool(d.get("per_path", False))
        self.delay = float(d.get("delay", 0))
        self.forward = bool(d.get("forward", False))
        self.status = d.get("status")
        self.reset = bool(d.get("reset", False))
        self.retry_after = d.get("retry_after")
        self.body = d.get("body")
        self.content_type = d.get("content_type", "application/json")
        if self.status is not None and self.reset:
            raise SystemExit("rule %s: give status or reset, not both" % self.name)
        self.seen = {}

    def hit(self, method, path):
        """Counts the request; True when it falls in this rule's fault window."""
        if not self.method.fullmatch(method) or not self.path.search(path):
            return False
        key = path if self.per_path else ""
        n = self.seen.get(key, 0)
        self.seen[key] = n + 1
        return n >= self.skip and (self.count < 0 or n < self.skip + self.count)


class Proxy(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, args, rules):
        super().__init__(("127.0.0.1", 0), Handler)
        up = urllib.parse.urlsplit(args.upstream)
        if up.scheme != "http" or not up.hostname:
            raise SystemExit("--upstream must be http://HOST:PORT")
        self.up_host, self.up_port = up.hostname, up.port or 80
        self.rules = rules
        self.lock = threading.Lock()
        self.log = open(args.log, "a", encoding="utf-8")
        self.conn_ids = itertools.count(1)

    def pick(self, method, path):
        with self.lock:
            chosen = None
            for r in self.rules:
                if r.hit(method, path) and chosen is None:
                    chosen = r
            return chosen

    def record(self, t, conn, method, path, rule, upstream, answer):
        line = "%.6f\t%d\t%s\t%s\t%s\t%s\t%s\n" % (
            t, conn, method, path, rule.name if rule else "-",
            "-" if upstream is None else upstream, answer)
        with self.lock:
            self.log.write(line)
            self.log.flush()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "rs-fault-proxy"

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        self.conn_id = next(self.server.conn_ids)
        self.upstream = None

    def finish(self):
        try:
            super().finish()
        finally:
            if self.upstream:
                self.upstream.close()

    def reset(self):
        """Closes the client connection with a TCP RST and no answer."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
            os.close(self.connection.detach())
        except OSError:
            pass

    def forward(self, body):
        """Sends the request upstream; returns (status, headers, body) or raises OSError."""
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        if body:
            headers["Content-Length"] = str(len(body))
        for attempt in range(2):
            reused = self.upstream is not None
            if not reused:
                self.upstream = http.client.HTTPConnection(
                    self.server.up_host, self.server.up_port, timeout=120)
            try:
                self.upstream.request(self.command, self.path, body=body or None,
                                      headers=headers)
                resp = self.upstream.getresponse()
                data = resp.read()
                if resp.will_close:
                    self.upstream.close()
                    self.upstream = None
                return resp.status, resp.getheaders(), data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # an idle kept-alive connection the registry had closed: once more on a
                # fresh one; a fresh connection failing is a real error
                self.upstream.close()
                self.upstream = None
                if not reused or attempt:
                    raise
        raise OSError("unreachable")

    def answer(self, status, headers, data):
        self.send_response(status)
        n = None
        for k, v in headers:
            if k.lower() == "content-length":
                n = v
                continue
            if k.lower() in HOP_BY_HOP:
                continue
            self.send_header(k, v)
        if self.command == "HEAD":
            if n is not None:
                self.send_header("Content-Length", n)
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)

    def handle_any(self):
        t = time.time()
        srv = self.server
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n > 0 else b""
        rule = srv.pick(self.command, self.path)
        upstream = None
        if rule and rule.delay > 0:
            time.sleep(rule.delay)
        fault = rule is not None and (rule.status is not None or rule.reset)
        if not fault or rule.forward:
            try:
                upstream, headers, data = self.forward(body)
            except OSError as e:
                msg = json.dumps({"errors": [{"code": "PROXY", "message": str(e)}]}).encode()
                self.answer(502, [("Content-Type", "application/json")], msg)
                srv.record(t, self.conn_id, self.command, self.path, rule, "error", 502)
                return
        if not fault:
            self.answer(upstream, headers, data)
            srv.record(t, self.conn_id, self.command, self.path, rule, upstream, upstream)
            return
        if rule.reset:
            srv.record(t, self.conn_id, self.command, self.path, rule, upstream, "reset")
            self.reset()
            return
        hdrs = [("Content-Type", rule.content_type if rule.body is not None else "application/json")]
        if rule.retry_after is not None:
            hdrs.append(("Retry-After", str(rule.retry_after)))
        msg = json.dumps(rule.body if rule.body is not None else
                         {"errors": [{"code": "FAULT", "message": "injected by " + rule.name}]})
        self.answer(int(rule.status), hdrs, msg.encode())
        srv.record(t, self.conn_id, self.command, self.path, rule, upstream, rule.status)

    do_GET = do_HEAD = do_DELETE = do_PUT = do_POST = do_PATCH = handle_any


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--upstream", required=True, help="http://HOST:PORT of the registry")
    p.add_argument("--scenario", help="JSON rules; none: a plain proxy")
    p.add_argument("--log", required=True, help="append one line per request here")
    args = p.parse_args()
    rules = []
    if args.scenario:
        with open(args.scenario, encoding="utf-8") as f:
            rules = [Rule(i, d) for i, d in enumerate(json.load(f).get("rules", []))]
    server = Proxy(args, rules)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
