#!/usr/bin/env bash
# Referrers pushed without a tag (OCI 1.1: a manifest with a subject, found only through
# GET /v2/<name>/referrers/<digest>) go with their subject. distribution 2.8 has no
# referrers API, so regsweep probes once (one request, answered 404) and goes on; the fault
# proxy then plays the API from the registry's own manifests, and the untagged signature
# and attestation of a deleted image are deleted after it, journaled, and put back by undo,
# while the referrer of a kept image stays.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

reg_start
trap 'proxy_stop; reg_stop' EXIT

"$RS_SEED" "$REG_URL" >"$REG_DIR/seed.txt" <<'SPEC'
image ref/app r1 2024-01-01T00:00:00Z oci
image ref/app r2 2024-01-02T00:00:00Z oci
image ref/app r3 2024-01-03T00:00:00Z oci
sign ref/app r1 sig subject untagged
sign ref/app r1 att subject untagged
sign ref/app r3 sig subject untagged
SPEC
d1=$(reg_digest ref/app r1)
d3=$(reg_digest ref/app r3)
mapfile -t refs < <(awk '$2 == "-" { print $3 }' "$REG_DIR/seed.txt")
assert_eq 3 "${#refs[@]}" "untagged referrers pushed"
s1=${refs[0]} a1=${refs[1]} s3=${refs[2]}
assert_eq "r1 r2 r3" "$(tags_line ref/app)" "no tag for the referrers"

stack() {
	cat >"$1" <<STACK
registry = { url = "$2"; };
guards = { max_delete_percent = 100; };
policy = ( { module = "keep_last"; control = "required"; args = { count = 2; }; } );
STACK
}

# Straight to the registry: one probe, answered 404, and nothing more is asked.
stack "$REG_DIR/direct.stack" "$REG_URL"
"$REGSWEEP" plan -c "$REG_DIR/direct.stack" -v >"$REG_DIR/direct.txt"
assert_eq 1 "$(grep -c '"GET /v2/ref/app/referrers/' "$REG_LOG")" "referrers requests without the API"
assert_contains "$(cat "$REG_DIR/direct.txt")" "total: 1 repositories, 3 tags, 2 kept, 1 to delete, 1 manifests to delete" \
	"plan without the API"

# descriptor DIGEST: an OCI descriptor of the manifest DIGEST as the registry holds it.
descriptor() {
	local size
	size=$(reg_manifest ref/app "$1" | wc -c)
	printf '{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "%s", "size": %d}' "$1" "$size"
}
index() { printf '{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [%s]}' "$1"; }
cat >"$REG_DIR/referrers.json" <<JSON
{"rules": [
  {"name": "of-r1", "method": "GET", "path": "/v2/ref/app/referrers/$d1\$", "count": -1, "status": 200,
   "content_type": "application/vnd.oci.image.index.v1+json",
   "body": $(index "$(descriptor "$s1"), $(descriptor "$a1")")},
  {"name": "of-r3", "method": "GET", "path": "/v2/ref/app/referrers/$d3\$", "count": -1, "status": 200,
   "content_type": "application/vnd.oci.image.index.v1+json", "body": $(index "$(descriptor "$s3")")},
  {"name": "none", "method": "GET", "path": "/referrers/", "count": -1, "status": 200,
   "content_type": "application/vnd.oci.image.index.v1+json", "body": $(index "")}
]}
JSON
proxy_start "$REG_DIR/referrers.json"
stack "$REG_DIR/api.stack" "$PROXY_URL"

"$REGSWEEP" plan -c "$REG_DIR/api.stack" -v >"$REG_DIR/plan.txt"
plan=$(cat "$REG_DIR/plan.txt")
assert_contains "$plan" "total: 1 repositories, 3 tags, 2 kept, 1 to delete, 3 manifests to delete" \
	"plan with the API"
assert_contains "$plan" "  delete ref/app@$s1  referrer of $d1 (referrers API)" "signature of r1"
assert_contains "$plan" "  delete ref/app@$a1  referrer of $d1 (referrers API)" "attestation of r1"
[[ $plan != *"$s3"* ]] || fail "the referrer of kept r3 is in the plan"

"$REGSWEEP" run -c "$REG_DIR/api.stack" --journal "$REG_DIR/j" >"$REG_DIR/run.txt"
assert_contains "$(cat "$REG_DIR/run.txt")" "deleted 3 of 3 manifests (1 tags)" "run"
for d in "$d1" "$s1" "$a1"; do
	assert_eq 404 "$(reg_status ref/app "$d")" "deleted $d"
done
assert_eq 200 "$(reg_status ref/app "$s3")" "referrer of the kept image"
assert_eq "r2 r3" "$(tags_line ref/app)" "tags after run"
# The subject first, its referrers in the next round.
order=$(grep -oE '"DELETE /v2/ref/app/manifests/sha256:[0-9a-f]+' "$REG_LOG" | sed 's/.*manifests\///')
assert_eq "$d1" "$(head -n 1 <<<"$order")" "first DELETE"
# a1 and s1 go in one round, in either order.
assert_eq "$(printf '%s\n' "$a1" "$s1" | LC_ALL=C sort)" "$(tail -n 2 <<<"$order" | LC_ALL=C sort)" \
	"then the referrers"

"$REGSWEEP" undo "$REG_DIR/j" >"$REG_DIR/undo.txt"
assert_eq "restored 3 manifests (1 tags) from $REG_DIR/j" "$(cat "$REG_DIR/undo.txt")" "undo"
for d in "$d1" "$s1" "$a1"; do
	assert_eq 200 "$(reg_status ref/app "$d")" "restored $d"
done
assert_eq "$d1" "$(reg_digest ref/app r1)" "r1 back on its digest"
echo "PASS: referrers api"
