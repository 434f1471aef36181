#!/usr/bin/env bash
# The storage path (maintenance = { delete = "storage"; }): the registry is stopped, the
# planned tag and revision links are removed in its storage, the garbage collector runs in
# the same window, the registry comes back and what was kept is validated through the API.
# Run on one copy of the data, and the API path (DELETE, then the collector) on another,
# the two storage trees after GC are identical, names and contents (tags, shared digests,
# indexes with children, signatures, untagged manifests). Without a window it is refused.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

REG2_PID=
# The registries the windows started: the one recorded, and the one in the pid file, which
# a failure before the recording would otherwise leave running.
stop_reg2() {
	_rs_stop_pid "$REG2_PID"
	[[ ! -s ${REG_DIR:-}/reg2.pid ]] || _rs_stop_pid "$(cat "$REG_DIR/reg2.pid")"
}
trap 'stop_reg2; reg_stop' EXIT
reg_start

spec=""
for i in $(seq -w 1 12); do
	spec+="image sp/app b$i 2024-01-$i""T00:00:00Z"$'\n'
done
"$RS_SEED" "$REG_URL" >/dev/null <<SPEC
$spec
tag sp/app stable b03
sign sp/app b03 sig subject
sign sp/app b01 sig
image sp/app a 2024-02-01T00:00:00Z
image sp/app a 2024-02-02T00:00:00Z
index sp/multi old 2024-01-01T00:00:00Z 2024-01-02T00:00:00Z
index sp/multi mid 2024-01-03T00:00:00Z 2024-01-04T00:00:00Z docker
index sp/multi new 2024-03-01T00:00:00Z 2024-03-02T00:00:00Z
index sp/multi gone 2023-01-01T00:00:00Z 2023-01-02T00:00:00Z untagged
SPEC
# Every manifest was pushed long enough ago for the untagged module's grace period.
find "$REG_ROOT/docker/registry/v2/repositories" -name link -path '*/_manifests/revisions/*' \
	-exec touch -d '3 hours ago' {} +

# tree DIR: every directory and file under DIR, with the file's SHA-256 (no mtimes).
tree() {
	(cd "$1" && find . -type d | LC_ALL=C sort &&
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
}

# stack FILE [MAINTENANCE]: untagged, then keep_last 4, then the collector.
stack() {
	cat >"$1" <<STACK
registry = { url = "$REG_URL"; storage_root = "$REG_ROOT"; };
policy = (
  { module = "untagged";  control = "sufficient"; args = { older_than = "1h"; }; },
  { module = "keep_last"; control = "required";   args = { count = 4; }; }
);
after = ( { module = "gc_distribution";
            args = { command = [ "docker-registry", "garbage-collect", "$REG_CONFIG" ]; }; } );
${2:-}
STACK
}

reg_halt
cp -a "$REG_ROOT" "$REG_DIR/pristine"
reg_restart_with

# The API path, on the first copy.
stack "$REG_DIR/api.stack"
expect_rc 0 "$REG_DIR/api" "$REGSWEEP" run -c "$REG_DIR/api.stack" -o "$REG_DIR/api-plan.json"
api_deletes=$(reg_delete_count)
((api_deletes > 10)) || fail "the API path deleted only $api_deletes manifests: the test is void"
tree "$REG_ROOT" >"$REG_DIR/api.tree"

# The storage path, on the second copy. The window's commands stop this registry and start
# it again on the same address (its config), waiting until it answers.
reg_halt
rm -rf "$REG_ROOT"
cp -a "$REG_DIR/pristine" "$REG_ROOT"
reg_restart_with
before_log=$(reg_delete_count)
stack "$REG_DIR/storage.stack" "maintenance = {
  before = [ \"sh\", \"-c\", \"kill \$(cat '$REG_DIR/reg.pid'); for i in \$(seq 100); do kill -0 \$(cat '$REG_DIR/reg.pid') 2>/dev/null || exit 0; sleep 0.1; done; exit 1\" ];
  after = [ \"sh\", \"-c\", \"${REG_BIN:-docker-registry} serve '$REG_CONFIG' >>'$REG_DIR/reg2.log' 2>&1 & echo \$! >'$REG_DIR/reg2.pid'; for i in \$(seq 100); do curl -sf --noproxy '*' '$REG_URL/v2/' >/dev/null && exit 0; sleep 0.1; done; exit 1\" ];
  delete = \"storage\";
};"
echo "$_reg_owned_pid" >"$REG_DIR/reg.pid"
expect_rc 0 "$REG_DIR/storage" "$REGSWEEP" run -c "$REG_DIR/storage.stack" -v -o "$REG_DIR/storage-plan.json"
REG2_PID=$(cat "$REG_DIR/reg2.pid")
_reg_owned_pid= # stopped by the window; the one it started is REG2_PID
assert_eq "$before_log" "$(reg_delete_count)" "DELETEs through the API on the storage path"
err=$(cat "$REG_DIR/storage.err")
assert_contains "$err" "gc_distribution: gc: " "the collector ran in the window"
assert_contains "$err" "kept tags: manifests, children and blobs all answer" \
	"what was kept is validated once the registry is back"
assert_contains "$(cat "$REG_DIR/storage.out")" "deleted $api_deletes of $api_deletes manifests" \
	"the same deletions as the API path"
"$RS_PYTHON" - "$REG_DIR/api-plan.json" "$REG_DIR/storage-plan.json" <<'PY' || fail "the plans differ"
import json, sys
def deletions(path):
    return sorted((r["name"], d["digest"]) for r in json.load(open(path))["repositories"]
                  for d in r["deletions"])
a, b = deletions(sys.argv[1]), deletions(sys.argv[2])
assert a == b and a, (a, b)
PY
tree "$REG_ROOT" >"$REG_DIR/storage.tree"
diff "$REG_DIR/api.tree" "$REG_DIR/storage.tree" >"$REG_DIR/tree.diff" ||
	fail "the storage trees differ after GC: $(head -n 20 "$REG_DIR/tree.diff")"
assert_eq "a b10 b11 b12" "$(tags_line sp/app | sed 's/ sha256-[^ ]*//g')" "sp/app after both"

# Without a collector in the window, undo puts back what the storage path deleted, through
# the API, once the registry is back: the journal was written first, as on the API path.
# Through plan and apply: apply's re-read, before the window stops the registry, reads the
# manifests' bytes for the journal too; it cannot read them once the registry is stopped.
"$RS_SEED" "$REG_URL" >/dev/null <<'SPEC'
image sp/undo u1 2024-01-01T00:00:00Z
image sp/undo u2 2024-01-02T00:00:00Z
index sp/undo u3 2024-01-03T00:00:00Z 2024-01-04T00:00:00Z
SPEC
undo_before=$(for t in u1 u2 u3; do echo "$t $(reg_digest sp/undo "$t")"; done)
sed -e '/^after = /,/^            args = /d' -e 's/count = 4/count = 1/' "$REG_DIR/storage.stack" >"$REG_DIR/undo.stack"
echo "$REG2_PID" >"$REG_DIR/reg.pid"
expect_rc 0 "$REG_DIR/undo-plan" "$REGSWEEP" plan -c "$REG_DIR/undo.stack" -o "$REG_DIR/undo-plan.json"
expect_rc 0 "$REG_DIR/undo-run" "$REGSWEEP" apply "$REG_DIR/undo-plan.json" -c "$REG_DIR/undo.stack" \
	--journal "$REG_DIR/undo.jsonl"
REG2_PID=$(cat "$REG_DIR/reg2.pid")
assert_eq "u3" "$(tags_line sp/undo)" "sp/undo after the storage path"
expect_rc 0 "$REG_DIR/undo" "$REGSWEEP" undo "$REG_DIR/undo.jsonl"
assert_eq "$undo_before" "$(for t in u1 u2 u3; do echo "$t $(reg_digest sp/undo "$t")"; done)" \
	"every tag back on its digest after undo"

# No window, no storage path: a stack error before anything is sent.
printf 'registry = { url = "%s"; storage_root = "%s"; };\nmaintenance = { delete = "storage"; };\n%s\n' \
	"$REG_URL" "$REG_ROOT" \
	'policy = ( { module = "keep_last"; control = "required"; args = { count = 1; }; } );' \
	>"$REG_DIR/nowindow.stack"
expect_rc 2 "$REG_DIR/nowindow" "$REGSWEEP" run -c "$REG_DIR/nowindow.stack"
assert_contains "$(cat "$REG_DIR/nowindow.err")" \
	"$REG_DIR/nowindow.stack:2: maintenance needs \"before\" (stop the registry or make it read-only) and \"after\" (bring it back)" \
	"refused without a window"
printf 'registry = { url = "%s"; };\nmaintenance = { before = [ "true" ]; after = [ "true" ]; delete = "storage"; };\n%s\n' \
	"$REG_URL" 'policy = ( { module = "keep_last"; control = "required"; args = { count = 1; }; } );' \
	>"$REG_DIR/noroot.stack"
expect_rc 2 "$REG_DIR/noroot" "$REGSWEEP" run -c "$REG_DIR/noroot.stack"
assert_contains "$(cat "$REG_DIR/noroot.err")" \
	'maintenance.delete = "storage" needs registry.storage_root' "refused without storage_root"
assert_eq "a b10 b11 b12" "$(tags_line sp/app | sed 's/ sha256-[^ ]*//g')" "nothing more deleted"
echo "PASS: storage path"
