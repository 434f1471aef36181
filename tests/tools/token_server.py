#!/usr/bin/python3
"""token_server.py - a token server for distribution's `auth: token` mode, for tests only.

Run it with Debian's /usr/bin/python3 (it needs python3-cryptography, nothing else beyond
the standard library).  It binds 127.0.0.1 on a free port, prints that port on the first
line of standard output and serves until it is killed (stop it by its PID).

At start it makes an RSA key and a self-signed certificate for it and writes the
certificate (PEM) to --cert-out: that file is the registry's `auth.token.rootcertbundle`.
Tokens are RS256 JWTs whose header carries that certificate in `x5c`, with the claims
iss, sub, aud, exp, nbf, iat, jti and access.

Who may do what comes from --users FILE, one user a line (blank lines and # comments are
ignored):

    USER PASSWORD GRANT...
    ci      s3cret   repository:*:pull,delete  registry:catalog:*
    reader  r3ader   repository:*:pull         registry:catalog:*

A GRANT is TYPE:NAME:ACTIONS; NAME is a shell-style pattern (fnmatch, so * also matches /),
ACTIONS a comma list or *.  A request's scopes (`scope=repository:foo/bar:pull,delete`,
possibly several) get only the requested actions some grant of the user allows; a scope
with none left is left out of the token.  So a user without `delete` gets a token the
registry will refuse a DELETE with (401 insufficient_scope).

Requests:
  GET  /token?service=S&scope=...   credentials as HTTP basic auth; none: anonymous, a token
                                    with no access at all
  POST /token (form)                OAuth2 style: grant_type=password (username, password)
                                    or grant_type=refresh_token (refresh_token, see
                                    --refresh-token); scope is space separated
Wrong credentials answer 401, a `service` other than --service answers 400.

Every request is logged to --log as one tab-separated line:
    EPOCH_SECONDS  METHOD  USER(- anonymous, ? refused)  STATUS  REQUESTED  GRANTED
with the scopes of REQUESTED and GRANTED joined by a space (- when none).  Every token
issued is appended to --tokens-out, one a line, so a test can look for it in output it
must not appear in.
"""

import argparse
import base64
import datetime
import fnmatch
import http.server
import json
import os
import secrets
import ssl
import sys
import threading
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def parse_scope(s):
    """'repository:a/b:pull,delete' -> ('repository', 'a/b', ['pull', 'delete']).
    The type ends at the first colon, the actions start after the last one."""
    first = s.find(":")
    last = s.rfind(":")
    if first <= 0 or last <= first:
        return None
    actions = [a for a in s[last + 1:].split(",") if a]
    return s[:first], s[first + 1:last], actions


def load_users(path):
    users = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            fields = line.split()
            if len(fields) < 2:
                raise SystemExit(f"{path}:{n}: want USER PASSWORD GRANT...")
            grants = []
            for g in fields[2:]:
                p = parse_scope(g)
                if not p:
                    raise SystemExit(f"{path}:{n}: bad grant {g!r} (TYPE:NAME:ACTIONS)")
                grants.append(p)
            users[fields[0]] = (fields[1], grants)
    return users


class Signer:
    def __init__(self, cert_out):
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "regsweep test token signer")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        tmp = cert_out + ".tmp"
        with open(tmp, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        os.replace(tmp, cert_out)
        self.x5c = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode("ascii")

    def token(self, claims):
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        signing_input = (
            b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        sig = self.key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + b64url(sig)


class State:
    def __init__(self, args):
        self.args = args
        self.users = load_users(args.users)
        self.refresh = {}
        for r in args.refresh_token:
            user, _, tok = r.partition("=")
            if not tok or user not in self.users:
                raise SystemExit(f"--refresh-token {r!r}: want USER=TOKEN with a known USER")
            self.refresh[tok] = user
        self.signer = Signer(args.cert_out)
        self.lock = threading.Lock()
        self.issued = 0
        self.log = open(args.log, "a", encoding="utf-8")
        self.tokens = open(args.tokens_out, "a", encoding="utf-8") if args.tokens_out else None

    def grant(self, user, scopes):
        granted = []
        grants = self.users[user][1] if user else []
        for s in scopes:
            p = parse_scope(s)
            if not p:
                continue
            typ, name, want = p
            allowed = set()
            for gtyp, gname, gactions in grants:
                if gtyp == typ and fnmatch.fnmatchcase(name, gname):
                    allowed.update(want if "*" in gactions else [a for a in want if a in gactions])
            actions = [a for a in want if a in allowed]
            if actions:
                granted.append({"type": typ, "name": name, "actions": actions})
        return granted

    def issue(self, user, service, access):
        a = self.args
        with self.lock:
            self.issued += 1
            expired = self.issued <= a.expired_first
        now = int(time.time())
        if expired:  # the registry refuses it: exp is far past its 60 s leeway
            iat, exp = now - 7200, now - 3600
        else:
            iat, exp = now, now + a.expires_in
        claims = {
            "iss": a.issuer,
            "sub": user or "",
            "aud": service,
            "exp": exp,
            "nbf": iat - 5,
            "iat": iat,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        tok = self.signer.token(claims)
        if self.tokens:
            with self.lock:
                self.tokens.write(tok + "\n")
                self.tokens.flush()
        return tok

    def record(self, method, user, status, requested, granted):
        line = "%.6f\t%s\t%s\t%d\t%s\t%s\n" % (
            time.time(),
            method,
            user,
            status,
            " ".join(requested) or "-",
            " ".join(
                "%s:%s:%s" % (g["type"], g["name"], ",".join(g["actions"])) for g in granted
            )
            or "-",
        )
        with self.lock:
            self.log.write(line)
            self.log.flush()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "rs-token-server"

    def log_message(self, fmt, *args):  # the request log is ours, not stderr
        pass

    def reply(self, status, obj, extra=None):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def basic_user(self):
        """(user, ok): user None when no credentials were sent."""
        h = self.headers.get("Authorization")
        if not h:
            return None, True
        kind, _, val = h.partition(" ")
        if kind.lower() != "basic":
            return "?", False
        try:
            user, _, pw = base64.b64decode(val.strip()).decode("utf-8").partition(":")
        except (ValueError, UnicodeDecodeError):
            return "?", False
        ok = user in self.server.state.users and secrets.compare_digest(
            self.server.state.users[user][0], pw)
        return user, ok

    def finish_token(self, method, user, service, scopes, oauth):
        st = self.server.state
        if service != st.args.service:
            st.record(method, user or "-", 400, scopes, [])
            self.reply(400, {"errors": [{"code": "UNSUPPORTED", "message": "unknown service"}]})
            return
        access = st.grant(user, scopes)
        tok = st.issue(user, service, access)
        st.record(method, user or "-", 200, scopes, access)
        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {"token": tok, "access_token": tok, "expires_in": st.args.expires_in,
                "issued_at": now}
        if oauth:
            body["scope"] = " ".join(scopes)
        self.reply(200, body)

    def do_GET(self):
        st = self.server.state
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        scopes = []
        for s in q.get("scope", []):
            scopes.extend(s.split(" "))
        if url.path != "/token":
            st.record("GET", "-", 404, scopes, [])
            self.reply(404, {"errors": [{"code": "NOT_FOUND"}]})
            return
        user, ok = self.basic_user()
        if not ok:
            st.record("GET", "?", 401, scopes, [])
            self.reply(401, {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]},
                       {"WWW-Authenticate": 'Basic realm="rs-token-server"'})
            return
        self.finish_token("GET", user, q.get("service", [""])[0], scopes, False)

    def do_POST(self):
        st = self.server.state
        n = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(n).decode("utf-8", "replace"))
        get = lambda k: form.get(k, [""])[0]  # noqa: E731
        scopes = [s for s in get("scope").split(" ") if s]
        if urllib.parse.urlsplit(self.path).path != "/token":
            st.record("POST", "-", 404, scopes, [])
            self.reply(404, {"errors": [{"code": "NOT_FOUND"}]})
            return
        user = None
        if get("grant_type") == "password":
            user = get("username")
            ok = user in st.users and secrets.compare_digest(st.users[user][0], get("password"))
        elif get("grant_type") == "refresh_token":
            user = st.refresh.get(get("refresh_token"))
            ok = user is not None
        else:
            ok = False
        if not ok:
            st.record("POST", "?", 401, scopes, [])
            self.reply(401, {"error": "invalid_grant"})
            return
        self.finish_token("POST", user, get("service"), scopes, True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--users", required=True, help="USER PASSWORD GRANT... per line")
    p.add_argument("--cert-out", required=True, help="write the signing certificate (PEM) here")
    p.add_argument("--log", required=True, help="append one line per request here")
    p.add_argument("--tokens-out", help="append every token issued here")
    p.add_argument("--issuer", default="rs-token-server")
    p.add_argument("--service", default="regsweep-test-registry")
    p.add_argument("--expires-in", type=int, default=300, help="token lifetime, seconds")
    p.add_argument("--expired-first", type=int, default=0,
                   help="the first N tokens are already expired (the registry refuses them)")
    p.add_argument("--refresh-token", action="append", default=[], metavar="USER=TOKEN",
                   help="a refresh (identity) token accepted by POST for USER")
    p.add_argument("--tls-cert", help="serve https with this certificate (PEM)")
    p.add_argument("--tls-key", help="and this key")
    args = p.parse_args()

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.state = State(args)
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    print(server.server_address[1], flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
