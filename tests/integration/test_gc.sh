#!/usr/bin/env bash
# `run` chains the gc_distribution after-step: the registry's own garbage collector runs
# after the deletions, its "eligible for deletion" lines are counted and the storage
# shrinks; a dry run skips it; --delete-untagged is refused before anything is sent. The
# before and after commands run around the collector in that order, after also when the
# collector failed, and a failing one fails the step by name. The post-GC validation
# fails the step when a kept image lost a blob; verify = false skips it.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

reg_start
trap reg_stop EXIT

echo "bulk gc/app 2 20 2023-11-14T22:13:20Z 3600" | "$RS_SEED" "$REG_URL" >/dev/null
before=$(du -sb "$REG_ROOT" | cut -f1)
blob_count() { find "$REG_ROOT/docker/registry/v2/blobs" -name data -type f | wc -l; }
blobs_before=$(blob_count)

# gc_stack FILE ARGS [ENTRY]: keep_last 3, then gc_distribution (at line 4) with the settings
# ARGS, and ENTRY in its entry (always = true).
gc_stack() {
	cat >"$1" <<STACK
registry = { url = "$REG_URL"; };
policy = ( { module = "keep_last"; control = "required"; args = { count = 3; }; } );
after = (
  { module = "gc_distribution"; ${3:-}
    args = { $2 storage_root = "$REG_ROOT"; }; }
);
STACK
}

gc_stack "$REG_DIR/untagged.stack" \
	"command = [ \"docker-registry\", \"garbage-collect\", \"--delete-untagged\", \"$REG_CONFIG\" ];"
expect_rc 2 "$REG_DIR/untagged" "$REGSWEEP" run -c "$REG_DIR/untagged.stack"
assert_contains "$(cat "$REG_DIR/untagged.err")" "$REG_DIR/untagged.stack:4: gc_distribution: " \
	"refusal names the stack line"
assert_eq 0 "$(reg_delete_count)" "DELETE requests after the refusal"

gc_stack "$REG_DIR/gc.stack" "command = [ \"docker-registry\", \"garbage-collect\", \"$REG_CONFIG\" ];"
"$REGSWEEP" run -c "$REG_DIR/gc.stack" --dry-run >"$REG_DIR/dry.txt" 2>&1
assert_eq 0 "$(reg_delete_count)" "DELETE requests after a dry run"
[ "$(du -sb "$REG_ROOT" | cut -f1)" -eq "$before" ] || fail "dry run changed the storage"

"$REGSWEEP" run -c "$REG_DIR/gc.stack" --metrics "$REG_DIR/regsweep.prom" >"$REG_DIR/run.txt" 2>&1
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

# metrics FILE NAME: the value of regsweep_NAME{registry=...} in a node_exporter textfile,
# after checking the whole file against the text exposition format (promtool too, if here).
metrics() {
	if command -v promtool >/dev/null; then
		promtool check metrics <"$1" >/dev/null || fail "promtool rejects $1"
	fi
	"$RS_PYTHON" - "$@" <<'PY'
import re, sys
path, want = sys.argv[1], "regsweep_" + sys.argv[2]
name = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
value = r"(?:[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?|NaN|[-+]Inf)"
labels = r'\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*\}'
sample = re.compile(r"^(%s)(%s)? (%s)$" % (name, labels, value))
typed, seen, got = {}, set(), None
for n, line in enumerate(open(path).read().split("\n")[:-1], 1):
    m = re.match(r"^# (HELP|TYPE) (%s) (.+)$" % name, line)
    if m:
        if m.group(1) == "TYPE":
            assert m.group(3) in ("gauge", "counter"), "line %d: type" % n
            assert m.group(2) not in typed, "line %d: TYPE twice" % n
            typed[m.group(2)] = m.group(3)
        continue
    m = sample.match(line)
    assert m, "line %d is not a sample: %r" % (n, line)
    assert m.group(1) in typed, "line %d: sample before its TYPE" % n
    key = m.group(1) + (m.group(2) or "")
    assert key not in seen, "line %d: duplicate series" % n
    seen.add(key)
    if m.group(1) == want and "repository=" not in (m.group(2) or ""):
        got = m.group(3)
assert got is not None, want + " missing"
print(got)
PY
}
m=$REG_DIR/regsweep.prom
assert_eq 1 "$(metrics "$m" last_run_success)" "metrics: success"
assert_eq 34 "$(metrics "$m" manifests_deleted)" "metrics: manifests deleted"
assert_eq 34 "$(metrics "$m" tags_deleted)" "metrics: tags deleted"
assert_eq 0 "$(metrics "$m" manifests_failed)" "metrics: failed"
[[ $(metrics "$m" reclaimed_bytes) -gt 0 ]] || fail "metrics: reclaimed bytes not measured"
[[ $(metrics "$m" reclaimable_bytes) -gt 0 ]] || fail "metrics: no estimate"
grep -q '^regsweep_repository_manifests_deleted{registry="'"$REG_URL"'",repository="gc/app-1"} 17$' "$m" ||
	fail "metrics: per repository: $(cat "$m")"
assert_contains "$(cat "$REG_DIR/run.txt")" "kept tags: manifests, children and blobs all answer" \
	"post-GC validation by default"

# hook_stack FILE BEFORE_RC GC_RC AFTER_RC [MORE_ARGS] [ENTRY]: before, the collector and
# after each append their name to $REG_DIR/order and print it, then exit with their RC; the
# collector runs the real one when its RC is 0. Nothing is left to delete: the step runs
# only with always = true (ENTRY, by default).
hook_stack() {
	local note="tee -a '$REG_DIR/order'"
	gc_stack "$1" "before = [ \"sh\", \"-c\", \"echo before | $note; exit $2\" ];
             command = [ \"sh\", \"-c\", \"echo gc | $note; [ $3 = 0 ] || exit $3;
                         exec docker-registry garbage-collect '$REG_CONFIG'\" ];
             after = [ \"sh\", \"-c\", \"echo after | $note; exit $4\" ]; ${5:-}" \
		"${6-always = true;}"
}

# hook_case NAME RC ORDER BEFORE_RC GC_RC AFTER_RC [MORE_ARGS] [ENTRY]: runs that stack (-v,
# so the commands' output is logged), expects exit code RC and ORDER (the names in
# $REG_DIR/order, space separated).
hook_case() {
	hook_stack "$REG_DIR/$1.stack" "$4" "$5" "$6" "${7:-}" "${8-always = true;}"
	rm -f "$REG_DIR/order"
	touch "$REG_DIR/order"
	expect_rc "$2" "$REG_DIR/$1" "$REGSWEEP" run -v -c "$REG_DIR/$1.stack"
	assert_eq "$3" "$(tr '\n' ' ' <"$REG_DIR/order" | sed 's/ $//')" "$1: commands run"
}

# A run that deleted nothing runs no after-step: no collection, no registry stopped for it.
hook_case nothing 0 "" 0 0 0 "" ""
assert_contains "$(cat "$REG_DIR/nothing.err")" \
	"$REG_DIR/nothing.stack:4: gc_distribution skipped: nothing was deleted (always = true runs it anyway)" \
	"the skip is said"

hook_case hooks 0 "before gc after" 0 0 0 "verify = false;"
out=$(cat "$REG_DIR/hooks.out" "$REG_DIR/hooks.err")
assert_contains "$out" "gc_distribution: before: before" "before's output, logged"
assert_contains "$out" "gc_distribution: after: after" "after's output, logged"
assert_contains "$out" "gc: 0 blobs eligible for deletion; storage " "gc summary between hooks"
[[ $out != *"kept tags: manifests, children"* ]] || fail "verify = false still validated: $out"

hook_case before-fails 1 "before" 3 0 0
assert_contains "$(cat "$REG_DIR/before-fails.err")" \
	"$REG_DIR/before-fails.stack:4: gc_distribution: before command exited with status 3" \
	"failing before command"

hook_case gc-fails 1 "before gc after" 0 5 0
assert_contains "$(cat "$REG_DIR/gc-fails.err")" \
	"gc_distribution: garbage-collect exited with status 5" "failing collector"

hook_case after-fails 1 "before gc after" 0 0 4
assert_contains "$(cat "$REG_DIR/after-fails.err")" \
	"gc_distribution: after command exited with status 4" "failing after command"

# A blob a kept image needs vanishes (here the after command removes it): the post-GC
# validation names it and fails the step.
layer=$(reg_manifest gc/app-1 build-20 |
	"$RS_PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["layers"][0]["digest"])')
hex=${layer#sha256:}
gc_stack "$REG_DIR/lost.stack" "command = [ \"docker-registry\", \"garbage-collect\", \"$REG_CONFIG\" ];
             after = [ \"rm\", \"$REG_ROOT/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data\" ];" \
	"always = true;"
expect_rc 1 "$REG_DIR/lost" "$REGSWEEP" run -c "$REG_DIR/lost.stack" --metrics "$m"
assert_eq 0 "$(metrics "$m" last_run_success)" "metrics of a failed run: success"
assert_eq 1 "$(metrics "$m" last_run_exit_code)" "metrics of a failed run: exit code"
assert_contains "$(cat "$REG_DIR/lost.err")" \
	"$REG_DIR/lost.stack:4: gc_distribution: post-GC validation failed: " "lost blob"
assert_contains "$(cat "$REG_DIR/lost.err")" "$layer" "the lost blob named"
# apply -c STACK runs the stack's after-steps once the saved plan is applied.
echo "bulk gc/apply 1 5 2024-01-01T00:00:00Z 3600" | "$RS_SEED" "$REG_URL" >/dev/null
# (gc/app-1 lost a blob above on purpose: only gc/apply is in this plan.)
gc_stack "$REG_DIR/apply.stack" "command = [ \"docker-registry\", \"garbage-collect\", \"$REG_CONFIG\" ];"
sed -i '1a repositories = { include = [ "^gc/apply-1$" ]; };' "$REG_DIR/apply.stack"
"$REGSWEEP" plan -c "$REG_DIR/apply.stack" -o "$REG_DIR/apply.json" >/dev/null
expect_rc 0 "$REG_DIR/apply" "$REGSWEEP" apply "$REG_DIR/apply.json" -c "$REG_DIR/apply.stack"
assert_contains "$(cat "$REG_DIR/apply.out")" "deleted 2 of 2 manifests (2 tags)" "apply deleted"
assert_contains "$(cat "$REG_DIR/apply.err")" "gc_distribution: gc: " "apply ran the collector"
assert_contains "$(cat "$REG_DIR/apply.err")" "kept tags: manifests, children and blobs all answer" \
	"and validated what it kept"
echo "PASS: gc"
