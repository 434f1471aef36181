#!/usr/bin/env bash
# Bad input gets one clear line and loses nothing: a missing module, a module with a wrong
# ABI, an unknown argument, a broken stack, bad options and an unreachable registry all
# exit non-zero with file:line where there is one, and the registry sees no DELETE.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

reg_start
trap reg_stop EXIT

"$RS_SEED" "$REG_URL" >/dev/null <<'SPEC'
image keep/me old 2020-01-01T00:00:00Z
image keep/me new 2024-01-01T00:00:00Z
SPEC

# Runs regsweep expecting exit code $1 and one stderr line containing $2; the rest is argv.
expect_refusal() {
	local code=$1 want=$2 rc=0
	shift 2
	"$REGSWEEP" "$@" >"$REG_DIR/out" 2>"$REG_DIR/err" || rc=$?
	assert_eq "$code" "$rc" "exit code of: regsweep $*"
	assert_eq 1 "$(wc -l <"$REG_DIR/err")" "stderr lines of: regsweep $* ($(cat "$REG_DIR/err"))"
	assert_contains "$(cat "$REG_DIR/err")" "$want" "message of: regsweep $*"
}

# Writes a stack whose policy line 3 is $2, to file $1.
stack_with() {
	cat >"$1" <<STACK
registry = { url = "$REG_URL"; };
policy = (
  $2,
  { module = "age"; control = "required"; args = { older_than = "1d"; }; }
);
STACK
}

s=$REG_DIR/missing.stack
stack_with "$s" '{ module = "no_such_module"; control = "required"; }'
expect_refusal 2 "$s:3: module \"no_such_module\" not found" run -c "$s"

s=$REG_DIR/abi.stack
stack_with "$s" '{ module = "bad_abi"; control = "required"; }'
expect_refusal 2 "$s:3: " run -c "$s" --module-dir "$RS_TEST_MODULE_DIR"
assert_contains "$(cat "$REG_DIR/err")" "module ABI 3.0, but this regsweep speaks 2.0" "ABI"

s=$REG_DIR/unknown-arg.stack
stack_with "$s" '{ module = "keep_last"; control = "required"; args = { count = 1; cout = 2; }; }'
expect_refusal 2 "$s:3: module \"keep_last\" has no argument \"cout\"" run -c "$s"

s=$REG_DIR/bad-control.stack
stack_with "$s" '{ module = "keep_last"; control = "mandatory"; args = { count = 1; }; }'
expect_refusal 2 "$s:3: unknown control \"mandatory\"" run -c "$s"

s=$REG_DIR/syntax.stack
printf 'registry = { url = "%s" };\npolicy = ( { module = "age" ; } \n' "$REG_URL" >"$s"
expect_refusal 2 "$s:" run -c "$s"

expect_refusal 2 "unknown option --frobnicate" run -c "$s" --frobnicate
expect_refusal 2 "unknown command \"purge\"" purge
expect_refusal 2 "run needs -c STACK" run
expect_refusal 2 "--format must be text or json" plan -c "$s" --format yaml
expect_refusal 2 "/nonexistent.stack: cannot read the stack file" run -c /nonexistent.stack

# A valid stack aimed at a port where nothing listens: exit 1, one line, nothing deleted.
s=$REG_DIR/valid.stack
stack_with "$s" '{ module = "keep_last"; control = "required"; args = { count = 1; }; }'
expect_refusal 1 "cannot reach http://127.0.0.1:9/v2/" run -c "$s" --registry http://127.0.0.1:9

assert_eq 0 "$(reg_delete_count)" "DELETE requests after every refusal"
assert_eq "new old" "$(reg_tags keep/me | tr '\n' ' ' | sed 's/ $//')" "tags left"
echo "PASS: refusals"
