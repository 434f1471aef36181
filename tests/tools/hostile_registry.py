#!/usr/bin/python3
"""hostile_registry.py - a registry v2 API that is broken or hostile on purpose, for tests.

Run it with /usr/bin/python3 (standard library only):

    hostile_registry.py --scenario NAME [--other URL] [--log FILE] [--lifetime SECONDS]
                        [--user USER --password-file FILE]

It binds 127.0.0.1 on a free port, prints that port on the first line of standard output
and serves until it is killed (stop it by its PID) or --lifetime seconds have passed
(default 600).  Every scenario serves a small registry from memory: `_catalog`, tags/list,
manifests (GET, HEAD, DELETE by digest: 202, and the digest's tags are gone) and config
blobs of synthetic OCI images whose config `created` dates order them.  Repository "ok/app"
is always there and always sane: tags ok1 < ok2 < ok3 by created.

Scenarios (what is hostile; URL is --other, a second instance on another port, which is
another origin):

  pagination   tags/list of loop/ab: Link A -> B -> A; loop/self: Link to itself with a
               query that changes every time, the same tags on every page; loop/endless:
               `last=` that never ends, one new tag per page; loop/big: the same with
               5,000 new tags per page
  catalog-loop _catalog links A -> B -> A
  catalog-endless  _catalog's `last=` never ends, one new repository per page
  flip         tags/list of flip/app is sane the first time it is read, a Link loop after
  offsite      tags/list of off/link links to URL; of off/redirect answers 307 to URL;
               a DELETE in off/delete answers 307 to URL (which answers it 202)
  catalog-redirect  _catalog answers 302 to URL
  catalog-link     _catalog's first page links to URL for the next
  auth-offsite Basic auth (--user, --password-file) on every request; a config blob GET
               answers 302 to URL, which answers 401 with a Bearer realm on URL
  realm-switch Bearer auth with this server's own /token (Basic --user/--password-file
               there); tags/list of evil/app answers 401 with a Bearer realm on URL
  tags         bad/names: tags "old" and "../x" on the oldest image, "mid", "new", and
               "ctl\\x1b[31m" alone on an image older than "new"; bad/gone: g1, g2 and
               "../ghost", whose manifest answers 404; dup/app: a, b, a on page 1, b, c on
               page 2; nonstr/app: "a", 5, null, {"t": "x"}, ["b"], "b"
  other        the other origin: answers tags/list and _catalog with entries of its own,
               DELETE with 202, blob GETs with 401 and a Bearer realm on itself, and its
               /token with a token

--log FILE gets one tab-separated line per request, written just before it is answered:
    EPOCH  METHOD  PATH  AUTH  STATUS
AUTH is the scheme of the Authorization header ("Basic", "Bearer") or "-" when there was
none; the credential itself is never written.
"""

import argparse
import base64
import hashlib
import http.server
import json
import os
import socket
import sys
import threading
import time
import urllib.parse

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"


class Image:
    def __init__(self, created):
        self.config = json.dumps({
            "architecture": "amd64", "os": "linux", "created": created,
            "config": {}, "rootfs": {"type": "layers", "diff_ids": []},
        }, separators=(",", ":")).encode()
        self.config_digest = "sha256:" + hashlib.sha256(self.config).hexdigest()
        self.manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": self.config_digest,
                       "size": len(self.config)},
            "layers": [],
        }, separators=(",", ":")).encode()
        self.digest = "sha256:" + hashlib.sha256(self.manifest).hexdigest()


class Repo:
    """Tags in list order, each naming an Image; `listed` is what tags/list shows (it may
    hold repeats and entries that are not strings)."""

    def __init__(self, tags, listed=None):
        self.tags = dict(tags)
        self.listed = listed
        self.gone = set()  # tags a DELETE removed

    def tag_list(self):
        if self.listed is not None:
            return [t for t in self.listed if not isinstance(t, str) or t not in self.gone]
        return list(self.tags)


def day(n, hour=0):
    return "2024-01-%02dT%02d:00:00Z" % (n, hour)


def build_repos(scenario):
    repos = {"ok/app": Repo([("ok1", Image(day(1))), ("ok2", Image(day(2))),
                             ("ok3", Image(day(3)))])}
    if scenario == "pagination":
        for name in ("loop/ab", "loop/self", "loop/endless", "loop/big"):
            repos[name] = Repo([(name[5:] + "1", Image(day(4))),
                                (name[5:] + "2", Image(day(5)))])
    elif scenario == "flip":
        repos["flip/app"] = Repo([("f1", Image(day(6))), ("f2", Image(day(7))),
                                  ("f3", Image(day(8)))])
    elif scenario == "offsite":
        for name in ("off/link", "off/redirect", "off/delete"):
            repos[name] = Repo([("o1", Image(day(9))), ("o2", Image(day(10))),
                                ("o3", Image(day(11)))])
    elif scenario in ("auth-offsite", "realm-switch"):
        repos["evil/app"] = Repo([("e1", Image(day(12))), ("e2", Image(day(13)))])
    elif scenario == "tags":
        old, mid, new, ctl = Image(day(14)), Image(day(16)), Image(day(18)), Image(day(15))
        repos["bad/names"] = Repo([("old", old), ("../x", old), ("mid", mid), ("new", new),
                                   ("ctl\x1b[31m", ctl)])
        g1, g2 = Image(day(19)), Image(day(20))
        repos["bad/gone"] = Repo([("g1", g1), ("g2", g2)],
                                 listed=["g1", "g2", "../ghost"])
        a, b, c = Image(day(21)), Image(day(22)), Image(day(23))
        repos["dup/app"] = Repo([("a", a), ("b", b), ("c", c)])
        n1, n2, n3 = Image(day(24)), Image(day(25)), Image(day(26))
        repos["nonstr/app"] = Repo([("a", n1), ("b", n2), ("c", n3)],
                                   listed=["a", 5, None, {"t": "x"}, ["b"], "b", "c"])
    return repos


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, args):
        super().__init__(("127.0.0.1", 0), Handler)
        self.scenario = args.scenario
        self.other = args.other.rstrip("/") if args.other else None
        self.repos = build_repos(args.scenario)
        self.lock = threading.Lock()
        self.log = open(args.log, "a", encoding="utf-8") if args.log else None
        self.reads = {}  # repository -> first pages of its tags/list served
        self.basic = None
        if args.user:
            with open(args.password_file, encoding="utf-8") as f:
                pw = f.read().strip()
            self.basic = "Basic " + base64.b64encode(
                ("%s:%s" % (args.user, pw)).encode()).decode()
        self.tokens = set()
        if self.scenario in ("offsite", "catalog-redirect", "catalog-link", "auth-offsite",
                             "realm-switch") and not self.other:
            raise SystemExit("scenario %s needs --other URL" % self.scenario)

    def me(self):
        return "http://127.0.0.1:%d" % self.server_address[1]

    def record(self, method, path, auth, status):
        if not self.log:
            return
        scheme = auth.split(" ", 1)[0] if auth else "-"
        # A hostile path may hold anything: keep the line one line.
        path = path.encode("unicode_escape").decode("ascii").replace("\t", "\\t")
        with self.lock:
            self.log.write("%.6f\t%s\t%s\t%s\t%s\n" % (time.time(), method, path, scheme,
                                                         status))
            self.log.flush()


def split_route(rest):
    """'team/app/manifests/ref' -> ('team/app', 'manifests', 'ref'); None when no route."""
    for route in ("/manifests/", "/blobs/"):
        i = rest.rfind(route)
        if i > 0:
            return rest[:i], route.strip("/"), urllib.parse.unquote(rest[i + len(route):])
    if rest.endswith("/tags/list"):
        return rest[:-len("/tags/list")], "tags", None
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "rs-hostile-registry"

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        # Headers and body go in two writes: without this, Nagle and delayed ACKs make
        # every kept-alive request wait 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # --- answers ---

    def answer(self, status, body=b"", headers=(), content_type="application/json"):
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        # Logged before the answer leaves: a client that has its answer finds it logged.
        self.server.record(self.command, self.path, self.headers.get("Authorization"), status)
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        if body or self.command != "HEAD":
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def error(self, status, code, message, headers=()):
        self.answer(status, {"errors": [{"code": code, "message": message}]}, headers)

    def redirect(self, status, location):
        self.answer(status, b"", [("Location", location)])

    # --- dispatch ---

    def do_GET(self):
        self.handle_any()

    def do_HEAD(self):
        self.handle_any()

    def do_DELETE(self):
        self.handle_any()

    def handle_any(self):
        srv = self.server
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        path = url.path
        if srv.scenario == "other":
            return self.as_other(path)
        if path == "/token" and srv.scenario == "realm-switch":
            return self.token()
        if not self.authorized(path):
            return
        if path == "/v2/" or path == "/v2":
            return self.answer(200, {})
        if path == "/v2/_catalog":
            return self.catalog(query)
        if not path.startswith("/v2/"):
            return self.error(404, "NOT_FOUND", "no such route")
        route = split_route(path[4:])
        if not route:
            return self.error(404, "NOT_FOUND", "no such route")
        name, kind, ref = route
        repo = srv.repos.get(name)
        if repo is None:
            return self.error(404, "NAME_UNKNOWN", "repository name not known to registry")
        if kind == "tags":
            return self.tags(name, repo, query)
        if kind == "blobs":
            return self.blob(name, repo, ref)
        return self.manifest(name, repo, ref)

    # --- auth ---

    def authorized(self, path):
        srv = self.server
        got = self.headers.get("Authorization")
        if srv.scenario == "auth-offsite":
            if got != srv.basic:
                self.error(401, "UNAUTHORIZED", "authentication required",
                           [("WWW-Authenticate", 'Basic realm="hostile"')])
                return False
            return True
        if srv.scenario == "realm-switch":
            if path.endswith("/evil/app/tags/list"):
                realm = srv.other + "/token"
                self.error(401, "UNAUTHORIZED", "authentication required",
                           [("WWW-Authenticate",
                             'Bearer realm="%s",service="hostile",'
                             'scope="repository:evil/app:pull"' % realm)])
                return False
            token = got[7:] if got and got.startswith("Bearer ") else None
            if token not in srv.tokens:
                realm = srv.me() + "/token"
                self.error(401, "UNAUTHORIZED", "authentication required",
                           [("WWW-Authenticate",
                             'Bearer realm="%s",service="hostile"' % realm)])
                return False
        return True

    def token(self):
        srv = self.server
        if self.headers.get("Authorization") != srv.basic:
            return self.error(401, "UNAUTHORIZED", "bad credentials")
        with srv.lock:
            tok = "tok%d" % (len(srv.tokens) + 1)
            srv.tokens.add(tok)
        self.answer(200, {"token": tok, "expires_in": 300})

    # --- the other origin ---

    def as_other(self, path):
        srv = self.server
        if path == "/token":
            return self.answer(200, {"token": "stolen", "expires_in": 300})
        if self.command == "DELETE":
            return self.answer(202)
        if path == "/v2/_catalog":
            return self.answer(200, {"repositories": ["stolen/repo"]})
        if path.endswith("/tags/list"):
            return self.answer(200, {"name": path[4:-10], "tags": ["stolen1", "stolen2"]})
        if "/blobs/" in path:
            return self.error(401, "UNAUTHORIZED", "authentication required",
                              [("WWW-Authenticate",
                                'Bearer realm="%s/token",service="other"' % srv.me())])
        return self.error(404, "NOT_FOUND", "nothing here")

    # --- lists ---

    def catalog(self, query):
        srv = self.server
        names = sorted(srv.repos)
        last = query.get("last", [None])[0]
        link = None
        if srv.scenario == "catalog-loop":
            if last is None:
                names, link = names[:1], "/v2/_catalog?n=1000&last=" + names[0]
            else:
                names, link = names[1:], "/v2/_catalog?n=1000"
        elif srv.scenario == "catalog-endless":
            n = int(last[1:]) + 1 if last and last[1:].isdigit() else 1
            names = ["r%d" % n] if last else names
            link = "/v2/_catalog?n=1000&last=r%d" % (n if last else 0)
        elif srv.scenario == "catalog-redirect":
            return self.redirect(302, srv.other + self.path)
        elif srv.scenario == "catalog-link":
            if last is None:
                link = srv.other + "/v2/_catalog?n=1000&last=" + names[-1]
        headers = [("Link", '<%s>; rel="next"' % link)] if link else []
        self.answer(200, {"repositories": names}, headers)

    def tags(self, name, repo, query):
        srv = self.server
        tags = repo.tag_list()
        last = query.get("last", [None])[0]
        base = "/v2/%s/tags/list" % name
        link = None
        with srv.lock:
            if last is None:
                srv.reads[name] = srv.reads.get(name, 0) + 1
            reads = srv.reads.get(name, 0)
        if name == "loop/ab" or (name == "flip/app" and reads > 1):
            if last is None:
                tags, link = tags[:1], base + "?n=1000&last=" + tags[0]
            else:
                tags, link = tags[1:], base + "?n=1000"
        elif name == "loop/self":
            r = int(query.get("r", ["0"])[0]) + 1
            link = base + "?n=1000&r=%d" % r
        elif name in ("loop/endless", "loop/big"):
            per = 1 if name == "loop/endless" else 5000
            n = int(last[1:]) if last and last[1:].isdigit() else 0
            if last is not None:
                tags = ["t%d" % i for i in range(n + 1, n + per + 1)]
            link = base + "?n=1000&last=t%d" % (n + per if last is not None else 0)
        elif name == "dup/app":
            if last is None:
                tags, link = ["a", "b", "a"], base + "?n=1000&last=a"
            else:
                tags = ["b", "c"]
            tags = [t for t in tags if t not in repo.gone]
        elif name == "off/link":
            if last is None:
                link = srv.other + base + "?n=1000&last=" + tags[-1]
        elif name == "off/redirect":
            return self.redirect(307, srv.other + self.path)
        headers = [("Link", '<%s>; rel="next"' % link)] if link else []
        self.answer(200, {"name": name, "tags": tags}, headers)

    # --- manifests and blobs ---

    def manifest(self, name, repo, ref):
        srv = self.server
        if ref.startswith("sha256:"):
            img = next((i for i in repo.tags.values() if i.digest == ref), None)
        else:
            img = repo.tags.get(ref)
        if img is None:
            return self.error(404, "MANIFEST_UNKNOWN", "manifest unknown")
        if self.command == "DELETE":
            if name == "off/delete":
                return self.redirect(307, srv.other + self.path)
            with srv.lock:
                for t in [t for t, i in repo.tags.items() if i is img]:
                    del repo.tags[t]
                    repo.gone.add(t)
            return self.answer(202)
        self.answer(200, img.manifest, [("Docker-Content-Digest", img.digest)],
                    OCI_MANIFEST)

    def blob(self, name, repo, ref):
        srv = self.server
        img = next((i for i in repo.tags.values() if i.config_digest == ref), None)
        if img is None:
            return self.error(404, "BLOB_UNKNOWN", "blob unknown")
        if srv.scenario == "auth-offsite" and name == "evil/app":
            return self.redirect(302, srv.other + self.path)
        self.answer(200, img.config, [("Docker-Content-Digest", ref)], OCI_CONFIG)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--scenario", required=True,
                    choices=["pagination", "catalog-loop", "catalog-endless", "flip",
                             "offsite", "catalog-redirect", "catalog-link", "auth-offsite",
                             "realm-switch", "tags", "other"])
    ap.add_argument("--other", help="the other origin's URL, http://127.0.0.1:PORT")
    ap.add_argument("--log", help="append one line per request here")
    ap.add_argument("--lifetime", type=float, default=600,
                    help="exit after this many seconds (default 600)")
    ap.add_argument("--user")
    ap.add_argument("--password-file")
    args = ap.parse_args()
    if args.user and not args.password_file:
        ap.error("--user needs --password-file")
    srv = Server(args)
    print(srv.server_address[1], flush=True)
    # Bounded: a test that forgets to stop it does not leave it running for good.
    threading.Timer(args.lifetime, lambda: os._exit(0)).start()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
