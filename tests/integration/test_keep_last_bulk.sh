#!/usr/bin/env bash
# 9 repositories x 300 tags, and one of 1,100 (two pages of tags, more manifests than the scan
# queues at once), whose list order is not age order: keep_last count = 2 by created leaves
# exactly the two newest images in every repository, `plan` deletes nothing, and `apply`
# journals every manifest it deletes. No guards setting: deleting 298 of 300 tags is what
# the default guards allow.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

reg_start
trap reg_stop EXIT

# build-i is created at base + i hours: build-299 and build-300 are the newest.
printf 'bulk bulk/app 9 300 2023-11-14T22:13:20Z 3600\nbulk wide/app 1 1100 2023-11-14T22:13:20Z 60\n' |
	"$RS_SEED" "$REG_URL" >"$REG_DIR/seeded"
assert_eq 3800 "$(wc -l <"$REG_DIR/seeded")" "seeded tags"

# The trap the naive script falls into: the last two tags in list order are not the newest.
naive=$(curl -fsS "$REG_URL/v2/bulk/app-1/tags/list?n=1000" |
	tr -d '[]{}"' | sed 's/.*tags://' | tr ',' '\n' | tail -n 2 | sort | tr '\n' ' ')
[ "$naive" != "build-299 build-300 " ] || fail "tags/list came back in age order; test is void"

stack=$REG_DIR/keep-last.stack
cat >"$stack" <<STACK
registry = { url = "$REG_URL"; concurrency = 8; };
policy = (
  { module = "keep_last"; control = "required"; args = { count = 2; order = "created"; }; }
);
STACK

expect_rc 0 "$REG_DIR/plan" "$REGSWEEP" plan -c "$stack" -o "$REG_DIR/plan.json"
assert_eq 0 "$(reg_delete_count)" "DELETE requests after plan"
assert_contains "$(cat "$REG_DIR/plan.out")" \
	"total: 10 repositories, 3800 tags, 20 kept, 3780 to delete, 3780 manifests to delete" \
	"plan total line"
assert_eq 300 "$(reg_tags bulk/app-5 | wc -l)" "tags left after plan"

# apply reads the manifests' bytes for the journal a chunk of 2,048 at a time: wide/app-1
# and the rest make two chunks of the one round.
expect_rc 0 "$REG_DIR/apply" "$REGSWEEP" apply "$REG_DIR/plan.json" -c "$stack" \
	--journal "$REG_DIR/bulk.jsonl"
assert_eq 3780 "$(reg_delete_count)" "DELETE requests after apply"
"$RS_PYTHON" - "$REG_DIR/bulk.jsonl" <<'PY' || fail "the journal does not hold every manifest"
import json, sys
entries = [json.loads(line) for line in open(sys.argv[1])]
assert len(entries) == 3780, len(entries)
assert len({e["digest"] for e in entries}) == 3780
assert all(e["manifest"] and e["tags"] for e in entries)
PY
for i in $(seq 1 9); do
	assert_eq "build-299 build-300" "$(reg_tags "bulk/app-$i" | tr '\n' ' ' | sed 's/ $//')" \
		"tags left in bulk/app-$i"
done
assert_eq "build-1099 build-1100" "$(reg_tags wide/app-1 | tr '\n' ' ' | sed 's/ $//')" \
	"tags left in wide/app-1"
echo "PASS: keep_last bulk"
