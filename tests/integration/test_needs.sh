#!/usr/bin/env bash
# The core fetches only the image facts the stack's modules declare: a regex-only stack
# costs one manifest GET per tag (the image graph needs the bodies) and no config blob; a
# keep_last stack reads each distinct manifest and config blob once, however many tags
# share them.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

reg_start
trap reg_stop EXIT

"$RS_SEED" "$REG_URL" >/dev/null <<'SPEC'
image facts/app a 2024-01-01T00:00:00Z
image facts/app b 2024-01-02T00:00:00Z
image facts/app c 2024-01-03T00:00:00Z
tag facts/app c-alias c
tag facts/app c-alias2 c
SPEC

# Requests regsweep sent so far: method $1 on paths matching the regex $2.
requests() {
	grep -cE "\"$1 /v2/$2 HTTP/[0-9.]+\" [0-9]{3} .*\"regsweep/" "$REG_LOG" || true
}

cat >"$REG_DIR/regex.stack" <<STACK
registry = { url = "$REG_URL"; };
policy = ( { module = "regex"; control = "required"; args = { delete = [ "a" ]; }; } );
STACK
"$REGSWEEP" plan -c "$REG_DIR/regex.stack" >"$REG_DIR/regex.txt"
assert_contains "$(cat "$REG_DIR/regex.txt")" "total: 1 repositories, 5 tags, 4 kept, 1 to delete" \
	"regex plan"
assert_eq 0 "$(requests HEAD 'facts/app/manifests/[^ ]+')" "HEADs for a regex-only stack"
assert_eq 5 "$(requests GET 'facts/app/manifests/[^ ]+')" "manifest GETs for a regex-only stack"
assert_eq 0 "$(requests GET 'facts/app/blobs/[^ ]+')" "blob GETs for a regex-only stack"

cat >"$REG_DIR/created.stack" <<STACK
registry = { url = "$REG_URL"; };
policy = ( { module = "keep_last"; control = "required"; args = { count = 1; }; } );
STACK
"$REGSWEEP" plan -c "$REG_DIR/created.stack" >"$REG_DIR/created.txt"
assert_contains "$(cat "$REG_DIR/created.txt")" "total: 1 repositories, 5 tags, 3 kept, 2 to delete" \
	"keep_last plan"
# Three distinct images: three config blobs, whatever the five tags.
assert_eq 3 "$(requests GET 'facts/app/blobs/sha256:[0-9a-f]+')" "config blob GETs"
assert_eq 0 "$(reg_delete_count)" "DELETE requests"
echo "PASS: needs"
