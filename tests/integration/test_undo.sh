#!/usr/bin/env bash
# `run --journal` records each manifest before its DELETE and `undo` puts every one back:
# afterwards each tag names exactly the digest it named before, shared tags and both kinds
# of index included, and every index child answers again; `apply --journal` likewise. A
# dry run journals nothing; a journal edited after the fact, or missing, is refused (exit 2)
# with nothing sent. A PUT answered 503, or cut off, is sent again with its body. A tag
# pushed again since the deletion is left on its new image. A journal that cannot be
# written stops apply before the DELETEs it should have recorded.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

reg_start
trap 'proxy_stop; reg_stop' EXIT

"$RS_SEED" "$REG_URL" >/dev/null <<'SPEC'
image undo/app a1 2024-01-01T00:00:00Z
image undo/app a2 2024-01-02T00:00:00Z
image undo/app a3 2024-01-03T00:00:00Z oci
image undo/app a4 2024-01-04T00:00:00Z
image undo/app a5 2024-01-05T00:00:00Z
tag undo/app a1-alias a1
index undo/multi i1 2024-02-01T00:00:00Z 2024-02-01T01:00:00Z
index undo/multi i2 2024-02-02T00:00:00Z 2024-02-02T01:00:00Z docker
index undo/multi i3 2024-02-03T00:00:00Z 2024-02-03T01:00:00Z
index undo/multi i4 2024-02-04T00:00:00Z 2024-02-04T01:00:00Z docker
SPEC

listing() { reg_listing undo/app undo/multi; }

# The digests an index lists, one per line.
children() {
	curl --silent --noproxy '*' --max-time 30 -H "Accept: $REG_ACCEPT" \
		"$REG_URL/v2/undo/multi/manifests/$1" |
		grep -oE '"digest": *"sha256:[0-9a-f]{64}"' | grep -oE 'sha256:[0-9a-f]{64}'
}

before=$(listing)
assert_eq 10 "$(wc -l <<<"$before")" "tags seeded"
kids=$(for i in i1 i2 i3; do children "$(reg_digest undo/multi "$i")"; done)
assert_eq 6 "$(wc -l <<<"$kids")" "children of the indexes that go"

cat >"$REG_DIR/undo.stack" <<STACK
registry = { url = "$REG_URL"; };
repositories = { include = [ "^undo/" ]; };
policy = ( { module = "keep_last"; control = "required"; args = { count = 1; }; } );
guards = { max_delete_percent = 100; min_keep = 1; };
STACK

J=$REG_DIR/deleted.jsonl
"$REGSWEEP" run -c "$REG_DIR/undo.stack" --dry-run --journal "$J" >/dev/null
[[ ! -e $J ]] || fail "a dry run wrote a journal"

"$REGSWEEP" run -c "$REG_DIR/undo.stack" --journal "$J" >"$REG_DIR/run.out" 2>"$REG_DIR/run.err"
assert_contains "$(cat "$REG_DIR/run.out")" \
	"journal: $J (regsweep undo $J restores what was deleted until the garbage collector runs)" \
	"run names the journal"
assert_eq "a5" "$(tags_line undo/app)" "undo/app after run"
assert_eq "i4" "$(tags_line undo/multi)" "undo/multi after run"
assert_eq 600 "$(stat -c %a "$J")" "journal mode"
for d in $kids; do
	assert_eq 404 "$(reg_status undo/multi "$d")" "child $d after run"
done

# Refused before anything is sent: a journal none of whose manifests hash to their digests
# any more, a missing journal.
sed 's/schemaVersion/schemaVersioN/' "$J" >"$REG_DIR/edited.jsonl"
expect_rc 2 "$REG_DIR/edited" "$REGSWEEP" undo "$REG_DIR/edited.jsonl"
assert_contains "$(cat "$REG_DIR/edited.err")" \
	"$REG_DIR/edited.jsonl: not one entry can be restored (see the warnings above); nothing was sent" \
	"an edited journal"
assert_contains "$(cat "$REG_DIR/edited.err")" "$REG_DIR/edited.jsonl:1: " "edited line named"
assert_contains "$(cat "$REG_DIR/edited.err")" "the manifest's bytes hash to" "edited: why"
expect_rc 2 "$REG_DIR/missing" "$REGSWEEP" undo "$REG_DIR/no-such.jsonl"
assert_eq "a5" "$(tags_line undo/app)" "undo/app after refused undos"

"$REGSWEEP" undo "$J" >"$REG_DIR/undo.out" 2>"$REG_DIR/undo.err" ||
	fail "undo failed: $(cat "$REG_DIR/undo.err")"
assert_eq "restored 13 manifests (8 tags) from $J" "$(cat "$REG_DIR/undo.out")" "undo summary"
assert_eq "$before" "$(listing)" "every tag back on its digest"
for d in $kids; do
	assert_eq 200 "$(reg_status undo/multi "$d")" "child $d after undo"
done

# Again: nothing changes, nothing fails.
"$REGSWEEP" undo "$J" -c "$REG_DIR/undo.stack" >"$REG_DIR/again.out"
assert_eq "restored 13 manifests (8 tags) from $J" "$(cat "$REG_DIR/again.out")" "second undo"
assert_eq "$before" "$(listing)" "listing after a second undo"

# Deleted once more by plan and apply, and put back through a proxy that fails the first
# two PUTs.
cat >"$REG_DIR/faults.json" <<'JSON'
{"rules": [
  {"name": "put-503", "method": "PUT", "count": 1, "status": 503},
  {"name": "put-reset", "method": "PUT", "skip": 1, "count": 1, "reset": true}
]}
JSON
proxy_start "$REG_DIR/faults.json"
J2=$REG_DIR/proxied.jsonl
"$REGSWEEP" plan -c "$REG_DIR/undo.stack" --registry "$PROXY_URL" -o "$REG_DIR/plan.json" >/dev/null
"$REGSWEEP" apply "$REG_DIR/plan.json" --journal "$J2" --format json >"$REG_DIR/apply.out" \
	2>"$REG_DIR/apply.err"
assert_contains "$(cat "$REG_DIR/apply.err")" "journal: $J2 (regsweep undo $J2 restores" \
	"apply --format json names the journal on stderr"
"$RS_PYTHON" -m json.tool "$REG_DIR/apply.out" >/dev/null || fail "apply's stdout is not JSON"
assert_eq "a5" "$(tags_line undo/app)" "undo/app after the apply"
"$REGSWEEP" undo "$J2" >"$REG_DIR/proxied.out" 2>"$REG_DIR/proxied.err" ||
	fail "undo through the proxy failed: $(cat "$REG_DIR/proxied.err")"
for rule in put-503 put-reset; do
	[[ $(awk -F'\t' -v r="$rule" '$5 == r' "$PROXY_LOG" | wc -l) -eq 1 ]] ||
		fail "fault $rule did not fire once; the test is void"
done
assert_eq "restored 13 manifests (8 tags) from $J2" "$(cat "$REG_DIR/proxied.out")" \
	"undo summary through the proxy"
assert_eq "$before" "$(listing)" "every tag back after retried PUTs"

# A plan made against the registry, applied through the proxy with --registry: the journal
# names where the DELETEs went, and undo goes there, not to the plan's registry.
J4=$REG_DIR/retargeted.jsonl
"$REGSWEEP" plan -c "$REG_DIR/undo.stack" -o "$REG_DIR/direct.json" >/dev/null
# A stack for another registry lends its credentials only when --registry says where.
sed "s|$REG_URL|$PROXY_URL|" "$REG_DIR/undo.stack" >"$REG_DIR/proxy.stack"
expect_rc 2 "$REG_DIR/mismatch" "$REGSWEEP" apply "$REG_DIR/direct.json" -c "$REG_DIR/proxy.stack"
assert_contains "$(cat "$REG_DIR/mismatch.err")" \
	"$REG_DIR/direct.json: the plan is for $REG_URL, but $REG_DIR/proxy.stack is for $PROXY_URL: pass --registry URL" \
	"apply refuses a plan for another registry than the stack's"
assert_eq "$before" "$(listing)" "nothing deleted by the refused apply"
"$REGSWEEP" apply "$REG_DIR/direct.json" --registry "$PROXY_URL" --journal "$J4" >/dev/null \
	2>"$REG_DIR/retargeted.err"
assert_contains "$(cat "$REG_DIR/retargeted.err")" "applying $REG_DIR/direct.json to $PROXY_URL" \
	"apply names its target"
assert_eq "$PROXY_URL" "$("$RS_PYTHON" -c 'import json, sys
print(json.loads(open(sys.argv[1]).readline())["registry"])' "$J4")" "the journal names the registry written"
expect_rc 2 "$REG_DIR/elsewhere" "$REGSWEEP" undo "$J4" -c "$REG_DIR/undo.stack"
assert_contains "$(cat "$REG_DIR/elsewhere.err")" \
	"$J4: its entries were deleted from $PROXY_URL, but $REG_DIR/undo.stack is for $REG_URL" \
	"undo refuses a stack for another registry"
assert_eq "a5" "$(tags_line undo/app)" "nothing restored by the refused undo"
"$REGSWEEP" undo "$J4" --registry "$PROXY_URL" >"$REG_DIR/retargeted.out"
assert_eq "restored 13 manifests (8 tags) from $J4" "$(cat "$REG_DIR/retargeted.out")" \
	"undo restores where the DELETEs went"
assert_eq "$before" "$(listing)" "every tag back after the retargeted apply"
proxy_stop

# A tag pushed again after the deletion keeps its new image; the rest comes back.
J3=$REG_DIR/repushed.jsonl
"$REGSWEEP" run -c "$REG_DIR/undo.stack" --journal "$J3" >/dev/null
echo "image undo/app a1 2025-01-01T00:00:00Z" | "$RS_SEED" "$REG_URL" >/dev/null
new_a1=$(reg_digest undo/app a1)
"$REGSWEEP" undo "$J3" >"$REG_DIR/repushed.out" 2>"$REG_DIR/repushed.err"
assert_contains "$(cat "$REG_DIR/repushed.err")" \
	"undo/app:a1 names $new_a1 now, pushed since the deletion: left as it is" "moved tag reported"
assert_eq "restored 13 manifests (7 tags) from $J3" "$(cat "$REG_DIR/repushed.out")" \
	"undo summary with a re-pushed tag"
assert_eq "$(sed "s|^undo/app a1 .*|undo/app a1 $new_a1|" <<<"$before")" "$(listing)" \
	"every tag back but the re-pushed one"
# One damaged line does not cost the others: undo restores every entry whose bytes prove
# themselves, names the line it could not read and exits 1.
J5=$REG_DIR/damaged.jsonl
"$REGSWEEP" run -c "$REG_DIR/undo.stack" --journal "$J5" >/dev/null
first=$("$RS_PYTHON" -c 'import json, sys
e = json.loads(open(sys.argv[1]).readline())
print(e["repository"] + "@" + e["digest"])' "$J5")
sed '1s/schemaVersion/schemaVersioN/' "$J5" >"$REG_DIR/damaged-1.jsonl"
expect_rc 1 "$REG_DIR/damaged" "$REGSWEEP" undo "$REG_DIR/damaged-1.jsonl"
assert_contains "$(cat "$REG_DIR/damaged.err")" "$REG_DIR/damaged-1.jsonl:1: " "the damaged line named"
assert_contains "$(cat "$REG_DIR/damaged.out")" "; 1 lines could not be read (see the warnings)" \
	"the summary counts it"
assert_eq 404 "$(reg_status "${first%@*}" "${first#*@}")" "the damaged entry's manifest stays deleted"
n=$(($(wc -l <"$J5") - 1))
assert_contains "$(cat "$REG_DIR/damaged.out")" "restored $n manifests" "every other entry restored"

# A journal that cannot be written (here a file size limit, the signal ignored so that the
# write fails) stops the apply before any DELETE it would have recorded: exit 1.
listing >"$REG_DIR/full-before"
deletes=$(reg_delete_count)
"$REGSWEEP" plan -c "$REG_DIR/undo.stack" -o "$REG_DIR/full-plan.json" >/dev/null
"$RS_PYTHON" -c 'import json, sys
sys.exit(not any(r["deletions"] for r in json.load(open(sys.argv[1]))["repositories"]))' \
	"$REG_DIR/full-plan.json" || fail "nothing to delete: the check is void"
expect_rc 1 "$REG_DIR/full" bash -c 'trap "" XFSZ; ulimit -f 1; exec "$@"' _ \
	"$REGSWEEP" apply "$REG_DIR/full-plan.json" -c "$REG_DIR/undo.stack" --journal "$REG_DIR/full.jsonl"
assert_contains "$(cat "$REG_DIR/full.err")" ": nothing more is deleted" "the journal failure named"
assert_eq "$deletes" "$(reg_delete_count)" "DELETEs after the journal failed"
assert_eq "$(cat "$REG_DIR/full-before")" "$(listing)" "every tag where it was"
echo "PASS: undo"
