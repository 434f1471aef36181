#!/usr/bin/env bash
# A tag that shares its digest with a kept tag survives, and the plan says why.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

reg_start
trap reg_stop EXIT

"$RS_SEED" "$REG_URL" >"$REG_DIR/seeded" <<'SPEC'
image shop/web b1 2024-01-01T00:00:00Z
image shop/web b2 2024-01-02T00:00:00Z
image shop/web b3 2024-01-03T00:00:00Z
tag shop/web stable b1
SPEC
b1=$(reg_digest shop/web b1)
assert_eq "$b1" "$(reg_digest shop/web stable)" "stable and b1 share a digest"

# keep_last ranks only b* tags: it keeps b3 and deletes b2; the image of b1 also carries
# "stable", which it does not rank, so it passes that image: no module decides, and the
# image is kept with both its tags.
stack=$REG_DIR/shared.stack
cat >"$stack" <<STACK
registry = { url = "$REG_URL"; };
policy = (
  { module = "keep_last"; control = "required"; args = { count = 1; match = [ "b[0-9]+" ]; }; }
);
STACK

"$REGSWEEP" plan -c "$stack" --format json >"$REG_DIR/plan.json"
"$REGSWEEP" plan -c "$stack" -v >"$REG_DIR/plan.txt"
why="no module decided; keep_last passed: b1 rank 3 of 3 images by created; keeps 1; not ranked: stable"
assert_contains "$(cat "$REG_DIR/plan.txt")" "keep   shop/web:b1  $why" \
	"text plan explains the survivor"
assert_contains "$(cat "$REG_DIR/plan.txt")" "keep   shop/web:stable  $why" \
	"its twin has the same reason"
assert_contains "$(tr -d ' \t\n' <"$REG_DIR/plan.json")" \
	'"tag":"b1","digest":"'"$b1"'","media_type":"application/vnd.docker.distribution.manifest.v2+json","created":"2024-01-01T00:00:00Z","verdict":"keep","reason":"'"${why// /}"'"' \
	"json plan explains the survivor"

"$REGSWEEP" run -c "$stack" >/dev/null
assert_eq "b1 b3 stable" "$(reg_tags shop/web | tr '\n' ' ' | sed 's/ $//')" "tags left"
assert_eq 1 "$(reg_delete_count)" "DELETE requests (b2 only)"
echo "PASS: shared digest"
