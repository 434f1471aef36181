#!/usr/bin/env bash
# regsweep report: per repository the tags, distinct manifests (an index counts with its
# children), total and unique bytes, ranked by unique bytes.  The byte figures must equal
# what a separate walk of the registry's manifests (Python, below) adds up: a layer shared
# by the tags of one repository counts once, a layer mounted into another repository makes
# it nobody's unique bytes.  Read-only, --top, JSON, a repository that cannot be scanned,
# and the exit codes.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

reg_start
trap reg_stop EXIT

"$RS_SEED" "$REG_URL" >/dev/null <<'SPEC'
image team/api v1 2023-01-02T03:04:05Z
image team/api v2 2023-06-01T00:00:00Z
tag team/api latest v2
index team/api multi 2023-03-01T00:00:00Z 2023-08-01T12:00:00Z
image team/web w1 2023-02-01T00:00:00Z oci
bulk team/bulk 2 3 2023-04-01T00:00:00Z 3600
image team/broken ok 2023-01-01T00:00:00Z
index team/broken multi 2023-01-01T00:00:00Z 2023-01-02T00:00:00Z
image other/x a 2023-01-01T00:00:00Z
SPEC

# registry.py push-sharing SRC TAG DST DTAG: an image in DST with its own config and SRC:TAG's
# layers, mounted across repositories.
# registry.py expect REPO...: what the report must say of these repositories, as JSON, from
# the registry's own manifests: tags, manifests, total and unique bytes (each blob and
# manifest once per repository; unique: held by no other of these repositories), the
# ranking, and the distinct bytes of them all.
cat >"$REG_DIR/registry.py" <<'PY'
import hashlib, json, os, sys, urllib.request

base = os.environ["REG_URL"]
accept = os.environ["REG_ACCEPT"]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(method, path, body=None, headers=None):
    url = path if path.startswith("http") else base + path
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    with opener.open(req, timeout=30) as r:
        return r.status, r.headers, r.read()


def manifest(repo, ref):
    return call("GET", f"/v2/{repo}/manifests/{ref}", headers={"Accept": accept})[2]


def push_blob(repo, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    _, h, _ = call("POST", f"/v2/{repo}/blobs/uploads/", b"")
    loc = h["Location"]
    loc = (loc if loc.startswith("http") else base + loc)
    loc += ("&" if "?" in loc else "?") + "digest=" + digest
    call("PUT", loc, data, {"Content-Type": "application/octet-stream"})
    return digest


def push_sharing(src, tag, dst, dtag):
    m = json.loads(manifest(src, tag))
    for layer in m["layers"]:
        status, _, _ = call("POST", f"/v2/{dst}/blobs/uploads/?mount={layer['digest']}"
                            f"&from={src}", b"")
        assert status == 201, f"mount of {layer['digest']}: HTTP {status}"
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "created": "2023-09-01T00:00:00Z",
                         "config": {"Labels": {"copy-of": f"{src}:{tag}"}},
                         "rootfs": {"type": "layers", "diff_ids": []}}).encode()
    m["config"] = dict(m["config"], digest=push_blob(dst, config), size=len(config))
    call("PUT", f"/v2/{dst}/manifests/{dtag}", json.dumps(m).encode(),
         {"Content-Type": m["mediaType"]})


def holdings(repo):
    """Tags, and every digest the repository's graph holds with its size."""
    tags = json.loads(call("GET", f"/v2/{repo}/tags/list?n=10000")[2])["tags"] or []
    nodes, held = set(), {}

    def visit(ref):
        body = manifest(repo, ref)
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        if digest in nodes:
            return
        nodes.add(digest)
        held[digest] = len(body)
        m = json.loads(body)
        for d in ([m["config"]] if "config" in m else []) + m.get("layers", []):
            held[d["digest"]] = d["size"]
        for child in m.get("manifests", []):
            visit(child["digest"])

    for t in tags:
        visit(t)
    return len(tags), len(nodes), held


def expect(repos):
    got = {r: holdings(r) for r in repos}
    owners = {}
    for r, (_, _, held) in got.items():
        for d in held:
            owners.setdefault(d, set()).add(r)
    out, everything = {}, {}
    for r, (tags, nodes, held) in got.items():
        everything.update(held)
        out[r] = {"tags": tags, "manifests": nodes, "total_bytes": sum(held.values()),
                  "unique_bytes": sum(s for d, s in held.items() if len(owners[d]) == 1)}
    order = sorted(repos, key=lambda r: (-out[r]["unique_bytes"], r))
    print(json.dumps({"repos": out, "order": order,
                      "total_bytes": sum(everything.values())}))


if sys.argv[1] == "push-sharing":
    push_sharing(*sys.argv[2:6])
else:
    expect(sys.argv[2:])
PY
py() { REG_ACCEPT=$REG_ACCEPT "$RS_PYTHON" "$REG_DIR/registry.py" "$@"; }
# json FILE EXPR: a Python expression over the JSON document j in FILE.
json() { "$RS_PYTHON" -c 'import json, sys; j = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$@"; }

py push-sharing team/web w1 team/copy c1

# A child of team/broken's index gone behind regsweep's back: the repository cannot be
# scanned whole.
child=$(curl -fsS --noproxy '*' -H "Accept: $REG_ACCEPT" "$REG_URL/v2/team/broken/manifests/multi" |
	grep -o 'sha256:[0-9a-f]\{64\}' | head -n 1)
curl -fsS --noproxy '*' -o /dev/null -X DELETE "$REG_URL/v2/team/broken/manifests/$child"

stack=$REG_DIR/report.stack
cat >"$stack" <<STACK
registry = { url = "$REG_URL"; concurrency = 4; };
repositories = { include = [ "^team/" ]; exclude = [ "^team/broken\$" ]; };
policy = ( { module = "keep_last"; control = "required"; args = { count = 1; }; } );
STACK

repos="team/api team/bulk-1 team/bulk-2 team/copy team/web"
# shellcheck disable=SC2086 # one argument per repository
py expect $repos >"$REG_DIR/expect.json"
"$REGSWEEP" report -c "$stack" --format json >"$REG_DIR/report.json"
"$REGSWEEP" report -c "$stack" >"$REG_DIR/report.txt"

# Counts seeded: v2 and latest share a manifest; the index brings its two children; the
# bulk images share one layer per repository.
assert_eq "team/api 4 5|team/bulk-1 3 3|team/bulk-2 3 3|team/copy 1 1|team/web 1 1" \
	"$(json "$REG_DIR/report.json" "'|'.join('%s %d %d' % (r['name'], r['tags'], r['manifests'])
		for r in sorted(j['repositories'], key=lambda r: r['name']))")" "tags and manifests"
assert_eq "$(json "$REG_DIR/expect.json" "' '.join(j['order'])")" \
	"$(json "$REG_DIR/report.json" "' '.join(r['name'] for r in j['repositories'])")" \
	"ranked by unique bytes, ties by name"
for r in $repos; do
	for k in tags manifests total_bytes unique_bytes; do
		assert_eq "$(json "$REG_DIR/expect.json" "j['repos']['$r']['$k']")" \
			"$(json "$REG_DIR/report.json" "[x for x in j['repositories'] if x['name'] == '$r'][0]['$k']")" \
			"$r $k"
	done
done
# the mounted layer belongs to both copies, so neither frees all it holds
assert_eq True "$(json "$REG_DIR/report.json" "all(r['unique_bytes'] < r['total_bytes']
	for r in j['repositories'] if r['name'] in ('team/web', 'team/copy'))")" "shared layer"
assert_eq "5 0 12 13 $(json "$REG_DIR/expect.json" "j['total_bytes']")" \
	"$(json "$REG_DIR/report.json" "' '.join(str(j['summary'][k]) for k in
		('repositories', 'not_scanned', 'tags', 'manifests', 'total_bytes'))")" "summary"
assert_eq "2023-01-02T03:04:05Z 2023-08-01T12:00:00Z" \
	"$(json "$REG_DIR/report.json" "' '.join([r for r in j['repositories']
		if r['name'] == 'team/api'][0][k] for k in ('oldest', 'newest'))")" "oldest and newest"
assert_eq "$REG_URL" "$(json "$REG_DIR/report.json" "j['registry']")" "registry"

# The table: same order, one row each, the days, and the total line.
assert_eq "$(json "$REG_DIR/report.json" "' '.join(r['name'] for r in j['repositories'])")" \
	"$(awk 'NR > 1 && $1 != "total:" { printf "%s%s", sep, $1; sep = " " }' "$REG_DIR/report.txt")" \
	"table order"
assert_eq "REPOSITORY TAGS MANIFESTS TOTAL UNIQUE OLDEST NEWEST" \
	"$(head -n 1 "$REG_DIR/report.txt" | tr -s ' ')" "table header"
assert_contains "$(grep '^team/api ' "$REG_DIR/report.txt" | tr -s ' ')" \
	" 4 5 " "team/api row"
assert_contains "$(grep '^team/api ' "$REG_DIR/report.txt")" "2023-01-02 2023-08-01" \
	"team/api days"
assert_contains "$(tail -n 1 "$REG_DIR/report.txt")" \
	"total: 5 repositories, 12 tags, 13 manifests, " "total line"
assert_eq 1 "$(reg_delete_count)" "DELETE requests: the one by hand only"

# --top: the first N of the ranking, the rest summed in one line; the summary covers all.
"$REGSWEEP" report -c "$stack" --top 2 >"$REG_DIR/top.txt"
assert_eq 5 "$(wc -l <"$REG_DIR/top.txt")" "header, two rows, the rest, total"
assert_contains "$(sed -n 4p "$REG_DIR/top.txt")" "... 3 more repositories, " "the rest"
"$REGSWEEP" report -c "$stack" --top 1 --format json >"$REG_DIR/top.json"
assert_eq "$(json "$REG_DIR/expect.json" "j['order'][0]") 5" \
	"$(json "$REG_DIR/top.json" "'%s %d' % (' '.join(r['name'] for r in j['repositories']),
		j['summary']['repositories'])")" "json --top 1"

# A repository that cannot be scanned is listed with its error, counts in no sum, and the
# exit code is 1.
stack=$REG_DIR/all.stack
cat >"$stack" <<STACK
registry = { url = "$REG_URL"; concurrency = 4; };
repositories = { include = [ "^team/" ]; };
policy = ( { module = "keep_last"; control = "required"; args = { count = 1; }; } );
STACK
expect_rc 1 "$REG_DIR/broken" "$REGSWEEP" report -c "$stack" --top 1
assert_contains "$(cat "$REG_DIR/broken.out")" "  not scanned: " "the error line"
assert_contains "$(grep -A1 '^team/broken ' "$REG_DIR/broken.out")" "$child" \
	"the error names the missing manifest"
assert_contains "$(tail -n 1 "$REG_DIR/broken.out")" \
	"total: 6 repositories, 12 tags, 13 manifests, " "failed repository counts nowhere"
assert_contains "$(tail -n 1 "$REG_DIR/broken.out")" "; 1 not scanned" "total says so"
assert_contains "$(cat "$REG_DIR/broken.err")" "1 of 6 repositories could not be scanned" \
	"stderr says so"
expect_rc 1 "$REG_DIR/broken-json" "$REGSWEEP" report -c "$stack" --format json
assert_eq "True None 1 $(json "$REG_DIR/expect.json" "j['total_bytes']")" \
	"$(json "$REG_DIR/broken-json.out" "' '.join(str(x) for x in ([r for r in j['repositories']
		if r['name'] == 'team/broken'][0]['error'].find('$child') >= 0,
		[r for r in j['repositories'] if r['name'] == 'team/broken'][0]['total_bytes'],
		j['summary']['not_scanned'], j['summary']['total_bytes']))")" "json error"

# Exit codes: an unreachable registry, and usage errors.
expect_rc 1 "$REG_DIR/down" "$REGSWEEP" report -c "$stack" --registry http://127.0.0.1:1
expect_rc 2 "$REG_DIR/usage" "$REGSWEEP" report -c "$stack" --top 0
assert_contains "$(cat "$REG_DIR/usage.err")" "--top must be a positive number" "--top 0"
expect_rc 2 "$REG_DIR/usage" "$REGSWEEP" report -c "$stack" -o "$REG_DIR/x.json"
expect_rc 2 "$REG_DIR/usage" "$REGSWEEP" report
expect_rc 2 "$REG_DIR/usage" "$REGSWEEP" report -c "$REG_DIR/missing.stack"
assert_eq 1 "$(reg_delete_count)" "DELETE requests at the end"
echo "PASS: report"
