#!/usr/bin/env bash
# `run` chains the gc_distribution after-step: the registry's own garbage collector runs
# after the deletions, its "eligible for deletion" lines are counted and the storage
# shrinks; a dry run skips it; --delete-untagged is refused before anything is sent.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

reg_start
trap reg_stop EXIT

echo "bulk gc/app 2 20 2023-11-14T22:13:20Z 3600" | "$RS_SEED" "$REG_URL" >/dev/null
before=$(du -sb "$REG_ROOT" | cut -f1)
blob_count() { find "$REG_ROOT/docker/registry/v2/blobs" -name data -type f | wc -l; }
blobs_before=$(blob_count)

gc_stack() {
	cat >"$1" <<STACK
registry = { url = "$REG_URL"; };
policy = ( { module = "keep_last"; control = "required"; args = { count = 3; }; } );
after = (
  { module = "gc_distribution";
    args = { command = [ "docker-registry", "garbage-collect", $2 "$REG_CONFIG" ];
             storage_root = "$REG_ROOT"; }; }
);
STACK
}

gc_stack "$REG_DIR/untagged.stack" '"--delete-untagged",'
rc=0
"$REGSWEEP" run -c "$REG_DIR/untagged.stack" >/dev/null 2>"$REG_DIR/err" || rc=$?
assert_eq 2 "$rc" "exit code with --delete-untagged"
assert_contains "$(cat "$REG_DIR/err")" "$REG_DIR/untagged.stack:4: gc_distribution: " \
	"refusal names the stack line"
assert_eq 0 "$(reg_delete_count)" "DELETE requests after the refusal"

gc_stack "$REG_DIR/gc.stack" ""
"$REGSWEEP" run -c "$REG_DIR/gc.stack" --dry-run >"$REG_DIR/dry.txt" 2>&1
assert_eq 0 "$(reg_delete_count)" "DELETE requests after a dry run"
[ "$(du -sb "$REG_ROOT" | cut -f1)" -eq "$before" ] || fail "dry run changed the storage"

"$REGSWEEP" run -c "$REG_DIR/gc.stack" >"$REG_DIR/run.txt" 2>&1
assert_eq 34 "$(reg_delete_count)" "DELETE requests (2 x 17)"
after=$(du -sb "$REG_ROOT" | cut -f1)
[ "$after" -lt "$before" ] || fail "storage did not shrink: $before -> $after bytes"
# The collector's count must be the number of blobs that really left the disk.
gone=$((blobs_before - $(blob_count)))
[ "$gone" -gt 34 ] || fail "only $gone blobs removed for 34 deleted manifests"
assert_contains "$(cat "$REG_DIR/run.txt")" "gc: $gone blobs eligible for deletion; storage " \
	"gc summary"
assert_contains "$(cat "$REG_DIR/run.txt")" "(reclaimed " "gc reclaimed bytes"
assert_eq "build-18 build-19 build-20" "$(reg_tags gc/app-1 | tr '\n' ' ' | sed 's/ $//')" \
	"tags left"
echo "PASS: gc"
