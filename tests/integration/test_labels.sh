#!/usr/bin/env bash
# A module that asks for labels (RS_NEED_LABELS) sees every image's config labels: also a
# tag that shares its image with another, an OCI image, and in every repository.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

reg_start
trap reg_stop EXIT

"$RS_SEED" "$REG_URL" >/dev/null <<'SPEC'
image lab/app a 2024-01-01T00:00:00Z label=team=old label=tier=web
tag lab/app a2 a
image lab/app b 2024-02-01T00:00:00Z label=team=new
image lab/app c 2024-03-01T00:00:00Z
image lab/app d 2024-04-01T00:00:00Z label=tier=db label=team=old oci
image lab/other x 2024-01-01T00:00:00Z label=team=old
image lab/other y 2024-01-02T00:00:00Z label=team=older
SPEC

cat >"$REG_DIR/labels.stack" <<STACK
registry = { url = "$REG_URL"; };
policy = (
  { module = "label_match"; control = "required"; args = { key = "team"; value = "old"; }; }
);
STACK

expect_rc 0 "$REG_DIR/run" "$REGSWEEP" run -v -c "$REG_DIR/labels.stack" \
	--module-dir "$RS_TEST_MODULE_DIR"
out=$(cat "$REG_DIR/run.out")
for t in lab/app:a lab/app:a2 lab/app:d lab/other:x; do
	assert_contains "$out" "delete $t  label_match: label team=old" "verdict on $t"
done
assert_eq "b c" "$(tags_line lab/app)" "lab/app keeps the images without team=old"
assert_eq "y" "$(tags_line lab/other)" "lab/other keeps team=older"
assert_eq 3 "$(reg_delete_count)" "one DELETE per image labelled team=old (a and a2 share one)"
echo "PASS: labels"
