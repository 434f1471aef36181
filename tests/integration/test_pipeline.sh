#!/usr/bin/env bash
# The stack from the stack-format docs end to end: repository filters, regex requisite,
# keep_last and age, an OCI index counted as one image (created = newest child's);
# plan -o, run --dry-run, then apply of the saved plan deletes exactly what was planned.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

reg_start
trap reg_stop EXIT

ago() { days_ago "$1"; }

"$RS_SEED" "$REG_URL" >/dev/null <<SPEC
image team/api latest $(ago 1)
image team/api v1.0 $(ago 400)
image team/api b1 $(ago 100)
image team/api b2 $(ago 90)
image team/api b3 $(ago 80)
image team/api b4 $(ago 60)
image team/api b5 $(ago 10)
index team/api multi $(ago 200) $(ago 50)
index team/api fresh-multi $(ago 300) $(ago 5) docker
image team/web w1 $(ago 200) oci
image team/web w2 $(ago 100)
image team/web w3 $(ago 40)
image base/os old $(ago 900)
image base/os older $(ago 1000)
SPEC

stack=$REG_DIR/pipeline.stack
cat >"$stack" <<STACK
registry = { url = "$REG_URL"; concurrency = 4; };
repositories = { include = [ "^team.*", "^base/" ]; exclude = [ "^base/" ]; };
policy = (
  { module = "regex";     control = "requisite"; args = { keep = [ "latest", "v[0-9]+\\\\..*" ]; }; },
  { module = "keep_last"; control = "required";  args = { count = 2; order = "created"; }; },
  { module = "age";       control = "required";  args = { older_than = "30d"; }; }
);
STACK

"$REGSWEEP" plan -c "$stack" -o "$REG_DIR/plan.json" -v >"$REG_DIR/plan.txt"
assert_eq 0 "$(reg_delete_count)" "DELETE requests after plan"
plan=$(cat "$REG_DIR/plan.txt")
# The old index takes its two untagged children with it: 6 tags, 8 manifests.
assert_contains "$plan" "total: 2 repositories, 12 tags, 6 kept, 6 to delete, 8 manifests to delete" \
	"plan totals"
multi=$(reg_digest team/api multi)
assert_eq 2 "$(grep -c "^  delete team/api@sha256:[0-9a-f]*  child of deleted index $multi\$" \
	"$REG_DIR/plan.txt")" "children of the deleted index in the plan"
children=$(python3 -c 'import json,sys
for r in json.load(open(sys.argv[1]))["repositories"]:
    for d in r["deletions"]:
        if d.get("follows"): print(d["digest"])' "$REG_DIR/plan.json")
assert_contains "$plan" "keep   team/api:latest  regex: " "regex decides latest"
assert_contains "$plan" "keep   team/api:fresh-multi  keep_last: " "index ranks by newest child"
# latest and v1.0 end their walk at regex: keep_last ranks the 7 others.
assert_contains "$plan" "delete team/api:multi  keep_last: multi rank 3 of 7 images by created" \
	"old index is deleted"
assert_contains "$plan" "keep   team/api:b5  keep_last: b5 rank 2 of 7 images by created" \
	"regex's keeps take no place"

"$REGSWEEP" run -c "$stack" --dry-run >"$REG_DIR/dry.txt"
assert_eq 0 "$(reg_delete_count)" "DELETE requests after run --dry-run"
assert_contains "$(cat "$REG_DIR/dry.txt")" "8 manifests to delete" "dry run shows the plan"

"$REGSWEEP" apply "$REG_DIR/plan.json" >"$REG_DIR/apply.txt"
assert_contains "$(cat "$REG_DIR/apply.txt")" "deleted 8 of 8 manifests (6 tags)" "apply summary"
assert_contains "$(cat "$REG_DIR/apply.txt")" \
	"$(printf '%-40s %7d %7d %7d %9d %7d %7d %6d' team/api 9 4 5 7 7 0 0)" "apply's table row"
assert_eq 8 "$(reg_delete_count)" "DELETE requests after apply"
for c in $children; do
	assert_eq 404 "$(reg_status team/api "$c")" "deleted child $c"
done
assert_eq "b5 fresh-multi latest v1.0" "$(reg_tags team/api | tr '\n' ' ' | sed 's/ $//')" \
	"team/api tags left"
assert_eq "w2 w3" "$(reg_tags team/web | tr '\n' ' ' | sed 's/ $//')" "team/web tags left"
assert_eq "old older" "$(reg_tags base/os | tr '\n' ' ' | sed 's/ $//')" "excluded repository"

# Applying the same plan again: every manifest is already gone, which counts as done.
"$REGSWEEP" apply "$REG_DIR/plan.json" >"$REG_DIR/apply2.txt"
assert_contains "$(cat "$REG_DIR/apply2.txt")" "deleted 8 of 8 manifests" "second apply"
echo "PASS: pipeline"
