#!/usr/bin/env bash
# What stands between a reviewed plan and a wrong DELETE: a tag pushed onto a digest
# between plan and apply survives and apply reports it (exit 3); a tag moved meanwhile
# likewise; a plan deleting every tag of a repository is refused by the default guard
# (exit 3, nothing sent) unless --force; an edited plan and a stale plan are refused.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

reg_start
trap reg_stop EXIT

"$RS_SEED" "$REG_URL" >/dev/null <<'SPEC'
image race/app b1 2024-01-01T00:00:00Z
image race/app b2 2024-01-02T00:00:00Z
image race/app b3 2024-01-03T00:00:00Z
image race/app b4 2024-01-04T00:00:00Z
image race/app b5 2024-01-05T00:00:00Z
image all/app x1 2020-01-01T00:00:00Z
image all/app x2 2020-01-02T00:00:00Z
SPEC

cat >"$REG_DIR/race.stack" <<STACK
registry = { url = "$REG_URL"; };
repositories = { include = [ "^race/" ]; };
policy = ( { module = "keep_last"; control = "required"; args = { count = 2; }; } );
STACK
"$REGSWEEP" plan -c "$REG_DIR/race.stack" -o "$REG_DIR/plan.json" >/dev/null
b1=$(reg_digest race/app b1)

# Between plan and apply: someone tags b1's image "release", and moves b2 onto b5's image.
echo "tag race/app release b1" | "$RS_SEED" "$REG_URL" >/dev/null
echo "tag race/app b2 b5" | "$RS_SEED" "$REG_URL" >/dev/null

expect_rc 3 "$REG_DIR/apply" "$REGSWEEP" apply "$REG_DIR/plan.json"
assert_contains "$(cat "$REG_DIR/apply.out")" \
	"deleted 1 of 3 manifests (1 tags); 2 skipped (why: the warnings above)" \
	"apply summary"
assert_contains "$(cat "$REG_DIR/apply.err")" "race/app@$b1 skipped: digest gained tag release" \
	"gained tag reported"
assert_contains "$(cat "$REG_DIR/apply.err")" "skipped: tag b2 moved to " "moved tag reported"
assert_eq "b1 b2 b4 b5 release" "$(reg_tags race/app | tr '\n' ' ' | sed 's/ $//')" \
	"race/app tags left"
assert_eq "$b1" "$(reg_digest race/app release)" "the new tag still resolves"
assert_eq 1 "$(reg_delete_count)" "DELETEs: only b3"

# Every tag of all/app would go: the default guard (min_keep = 1) refuses.
cat >"$REG_DIR/all.stack" <<STACK
registry = { url = "$REG_URL"; };
repositories = { include = [ "^all/" ]; };
policy = ( { module = "age"; control = "required"; args = { older_than = "1d"; }; } );
STACK
expect_rc 3 "$REG_DIR/all" "$REGSWEEP" run -c "$REG_DIR/all.stack"
assert_contains "$(cat "$REG_DIR/all.out")" \
	"refused by guard: would keep 0 tags, fewer than min_keep = 1" "plan shows the guard"
assert_contains "$(cat "$REG_DIR/all.err")" \
	"plan refused by the guards: all/app would keep 0 tags, fewer than min_keep = 1; nothing was deleted; --force overrides" \
	"one-line refusal"
expect_rc 3 "$REG_DIR/all-plan" "$REGSWEEP" plan -c "$REG_DIR/all.stack" -o "$REG_DIR/all.json"
expect_rc 3 "$REG_DIR/all-apply" "$REGSWEEP" apply "$REG_DIR/all.json"
assert_eq 1 "$(reg_delete_count)" "DELETEs after the refusals"
assert_eq "x1 x2" "$(reg_tags all/app | tr '\n' ' ' | sed 's/ $//')" "all/app untouched"

# An edited plan is not the reviewed plan; a stale plan is not today's registry.
sed '0,/"verdict":\t"delete"/s//"verdict":\t"keep"/' "$REG_DIR/all.json" >"$REG_DIR/edited.json"
expect_rc 2 "$REG_DIR/edited" "$REGSWEEP" apply "$REG_DIR/edited.json"
assert_contains "$(cat "$REG_DIR/edited.err")" "plan_sha256 does not match" "edited plan message"
sleep 2
expect_rc 3 "$REG_DIR/stale" "$REGSWEEP" apply "$REG_DIR/all.json" --force --max-plan-age 1s
assert_contains "$(cat "$REG_DIR/stale.err")" "older than --max-plan-age 1s" "stale message"
assert_eq 1 "$(reg_delete_count)" "DELETEs after edited and stale plans"

# --force applies what the guard refused.
"$REGSWEEP" apply "$REG_DIR/all.json" --force >"$REG_DIR/forced.txt"
assert_contains "$(cat "$REG_DIR/forced.txt")" "deleted 2 of 2 manifests (2 tags)" "forced apply"
assert_eq "" "$(reg_tags all/app)" "all/app after --force"
echo "PASS: apply safety"
