#!/usr/bin/env bash
# Fail closed: a repository whose images cannot all be read (here an index whose child
# manifest is gone, as GC --delete-untagged leaves it) is left untouched and the plan says
# why; the other repositories are still cleaned, and the run ends with exit code 1.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

reg_start
trap reg_stop EXIT

"$RS_SEED" "$REG_URL" >/dev/null <<'SPEC'
image broken/app old 2020-01-01T00:00:00Z
image broken/app new 2024-01-01T00:00:00Z
index broken/app multi 2021-01-01T00:00:00Z 2021-01-02T00:00:00Z
image fine/app old 2020-01-01T00:00:00Z
image fine/app new 2024-01-01T00:00:00Z
SPEC

# Delete one child of the index behind regsweep's back.
child=$(curl -fsS -H "Accept: $REG_ACCEPT" "$REG_URL/v2/broken/app/manifests/multi" |
	grep -o 'sha256:[0-9a-f]\{64\}' | head -n 1)
curl -fsS -o /dev/null -X DELETE "$REG_URL/v2/broken/app/manifests/$child"

cat >"$REG_DIR/s.stack" <<STACK
registry = { url = "$REG_URL"; };
policy = ( { module = "keep_last"; control = "required"; args = { count = 1; }; } );
STACK

rc=0
"$REGSWEEP" run -c "$REG_DIR/s.stack" >"$REG_DIR/out" 2>"$REG_DIR/err" || rc=$?
assert_eq 1 "$rc" "exit code when a repository could not be scanned"
assert_contains "$(cat "$REG_DIR/out")" "  untouched: " "plan names the untouched repository"
assert_contains "$(cat "$REG_DIR/out")" "$child" "the reason names the missing manifest"
assert_contains "$(cat "$REG_DIR/err")" \
	"1 of 2 repositories left untouched: they could not be scanned" "summary line"
assert_eq "multi new old" "$(reg_tags broken/app | tr '\n' ' ' | sed 's/ $//')" "broken/app tags"
assert_eq "new" "$(reg_tags fine/app)" "fine/app tags"
assert_eq 2 "$(reg_delete_count)" "DELETEs: the child by hand, fine/app:old by regsweep"
# A module that fails in decide: its repositories are kept whole, whatever the rest says.
cat >"$REG_DIR/fail.stack" <<STACK
registry = { url = "$REG_URL"; };
repositories = { include = [ "^fine/" ]; };
policy = (
  { module = "stub_verdict"; control = "optional"; args = { verdict = "delete"; }; },
  { module = "stub_verdict"; control = "required"; args = { verdict = "pass"; fail = true; }; }
);
STACK
rc=0
"$REGSWEEP" run -c "$REG_DIR/fail.stack" --module-dir "$RS_TEST_MODULE_DIR" >"$REG_DIR/out" \
	2>"$REG_DIR/err" || rc=$?
assert_eq 1 "$rc" "exit code when a module fails"
assert_contains "$(cat "$REG_DIR/out")" \
	"  untouched: module stub_verdict ($REG_DIR/fail.stack:5) failed" "plan names the module"
assert_eq "new" "$(reg_tags fine/app)" "fine/app after a failing module"
assert_eq 2 "$(reg_delete_count)" "DELETEs after a failing module"
echo "PASS: untouched"
