#!/usr/bin/env bash
# A child manifest that two deleted indexes list waits for both: when one index's DELETE
# fails, the index stays in the registry and so does the child it needs, while the other
# index and its own child go. The plan records both dependencies (follows, also_follows).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

reg_start
trap 'proxy_stop; reg_stop' EXIT

"$RS_SEED" "$REG_URL" >/dev/null <<'SPEC'
index sc/app old 2024-01-01T00:00:00Z 2024-01-02T00:00:00Z
image sc/app new 2024-03-01T00:00:00Z
SPEC
# old-part: an index over old's first child alone.
reg_index_part sc/app old old-part
old=$(reg_digest sc/app old)
part=$(reg_digest sc/app old-part)
mapfile -t kids < <(reg_manifest sc/app old | "$RS_PYTHON" -c '
import json, sys
for m in json.load(sys.stdin)["manifests"]: print(m["digest"])')
shared=${kids[0]} own=${kids[1]}

cat >"$REG_DIR/faults.json" <<JSON
{"rules": [{"name": "part-fails", "method": "DELETE", "path": "/manifests/$part\$", "count": -1,
            "status": 500}]}
JSON
proxy_start "$REG_DIR/faults.json"
cat >"$REG_DIR/stack" <<STACK
registry = { url = "$PROXY_URL"; };
guards = { max_delete_percent = 100; };
policy = ( { module = "keep_last"; control = "required"; args = { count = 1; }; } );
STACK

"$REGSWEEP" plan -c "$REG_DIR/stack" --format json >"$REG_DIR/plan.json"
deps=$("$RS_PYTHON" -c 'import json, sys
for r in json.load(open(sys.argv[1]))["repositories"]:
    for d in r["deletions"]:
        if d["digest"] == sys.argv[2]:
            print(" ".join(sorted([d["follows"]] + d.get("also_follows", []))))' \
	"$REG_DIR/plan.json" "$shared")
assert_eq "$(printf '%s\n' "$old" "$part" | LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')" "$deps" \
	"the shared child waits for both indexes"

expect_rc 1 "$REG_DIR/run" "$REGSWEEP" run -c "$REG_DIR/stack" --journal "$REG_DIR/j"
assert_eq 404 "$(reg_status sc/app "$old")" "old, deleted"
assert_eq 404 "$(reg_status sc/app "$own")" "old's own child, deleted"
assert_eq 200 "$(reg_status sc/app "$part")" "old-part, whose DELETE failed"
assert_eq 200 "$(reg_status sc/app "$shared")" "the child old-part still lists"
assert_eq "new old-part" "$(tags_line sc/app)" "tags left"
assert_eq 0 "$(grep -c "\"DELETE /v2/sc/app/manifests/$shared " "$REG_LOG" || true)" \
	"DELETEs of the shared child sent to the registry"
assert_contains "$(cat "$REG_DIR/run.err")" \
	"regsweep: warning: sc/app@$shared skipped: $part, which it follows, was not deleted" \
	"why the shared child stayed"
assert_contains "$(cat "$REG_DIR/run.out")" "deleted 2 of 4 manifests (1 tags); 1 failed; 1 skipped" \
	"run summary"
echo "PASS: shared child"
