#!/usr/bin/env bash
# The untagged module against a real registry, with registry.storage_root: manifests left
# untagged by overwritten tags, and pushed (revision link mtime) longer ago than the grace
# period, are deleted, an untagged index with the children no kept index lists; a kept
# index's children stay, even one it shares with a deleted index; what was pushed within
# the grace period stays (an untagged index, children pushed before their index). The saved
# plan lists them and `apply` deletes them, `undo` puts them back, and after `run`,
# docker-registry garbage-collect WITHOUT --delete-untagged frees their blobs and no blob a
# kept image uses.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

reg_start
trap reg_stop EXIT

# a and b are pushed twice: their first images become untagged. m is an index pushed twice
# over the same amd64 child: the first index (untagged now) shares that child with the
# second. old and fresh are indexes pushed by digest only; pending is an image pushed by
# digest only, as a child is before its index.
"$RS_SEED" "$REG_URL" >"$REG_DIR/seeded" <<'SPEC'
image ut/app a 2024-01-01T00:00:00Z layer=a-old
image ut/app a 2024-02-01T00:00:00Z layer=a-new
image ut/app b 2024-01-02T00:00:00Z layer=b-old
image ut/app b 2024-03-01T00:00:00Z layer=b-new
image ut/app c 2024-01-05T00:00:00Z
index ut/multi m 2024-01-01T00:00:00Z 2024-01-02T00:00:00Z
index ut/multi m 2024-01-01T00:00:00Z 2024-03-02T00:00:00Z
index ut/multi old 2023-01-01T00:00:00Z 2023-01-02T00:00:00Z untagged
index ut/multi fresh 2024-05-01T00:00:00Z 2024-05-02T00:00:00Z untagged
image ut/multi pending 2024-05-03T00:00:00Z untagged
SPEC

# seeded N REPO: the digest of the Nth line rs-seed printed for REPO.
seeded() { awk -v r="$2" '$1 == r' "$REG_DIR/seeded" | sed -n "$1p" | awk '{ print $3 }'; }
A_OLD=$(seeded 1 ut/app) A=$(seeded 2 ut/app) B_OLD=$(seeded 3 ut/app) B=$(seeded 4 ut/app)
C=$(seeded 5 ut/app)
M_OLD=$(seeded 1 ut/multi) M=$(seeded 2 ut/multi) OLD=$(seeded 3 ut/multi)
FRESH=$(seeded 4 ut/multi) PENDING=$(seeded 5 ut/multi)
assert_eq "$A" "$(reg_digest ut/app a)" "a names its second image"
assert_eq "$B" "$(reg_digest ut/app b)" "b names its second image"
assert_eq "$M" "$(reg_digest ut/multi m)" "m names its second index"
assert_eq "a b c" "$(tags_line ut/app)" "ut/app tags"
assert_eq "m" "$(tags_line ut/multi)" "ut/multi tags"

# children REPO REF: the digests an index lists, in order.
children() {
	reg_manifest "$1" "$2" | "$RS_PYTHON" -c '
import json, sys
for d in json.load(sys.stdin).get("manifests", []):
    print(d["digest"])'
}
# blobs REPO REF: what the storage holds for the manifest as blobs: "manifest DIGEST" for
# itself, then "blob DIGEST" for its config and layers (an image) or, recursively, its
# children's lines (an index).
blobs() {
	local kind d
	while read -r kind d; do
		case $kind in
		child) blobs "$1" "$d" ;;
		*) echo "$kind $d" ;;
		esac
	done < <(reg_manifest "$1" "$2" | "$RS_PYTHON" -c '
import hashlib, json, sys
raw = sys.stdin.buffer.read()
m = json.loads(raw)
print("manifest", "sha256:" + hashlib.sha256(raw).hexdigest())
for d in m.get("manifests", []):
    print("child", d["digest"])
for d in ([m["config"]] if "config" in m else []) + m.get("layers", []):
    print("blob", d["digest"])')
}
# kids INDEX: sets AMD and ARM to the two children of ut/multi's INDEX.
kids() {
	local k
	mapfile -t k < <(children ut/multi "$1")
	[[ ${#k[@]} == 2 ]] || fail "index $1 lists ${#k[@]} children, not 2"
	AMD=${k[0]} ARM=${k[1]}
}
kids "$M" && M_AMD=$AMD M_ARM=$ARM
kids "$M_OLD" && M_OLD_AMD=$AMD M_OLD_ARM=$ARM
kids "$OLD" && OLD_AMD=$AMD OLD_ARM=$ARM
kids "$FRESH" && FRESH_AMD=$AMD FRESH_ARM=$ARM
assert_eq "$M_AMD" "$M_OLD_AMD" "m's two indexes share their amd64 child"
[[ $M_ARM != "$M_OLD_ARM" ]] || fail "m's two indexes share their arm64 child too"

# repo:digest of what the untagged module must delete (roots, then the children that only
# they list) and of every manifest that must stay.
GONE="ut/app:$A_OLD ut/app:$B_OLD ut/multi:$M_OLD ut/multi:$OLD ut/multi:$M_OLD_ARM
ut/multi:$OLD_AMD ut/multi:$OLD_ARM"
KEPT="ut/app:$A ut/app:$B ut/app:$C ut/multi:$M ut/multi:$M_AMD ut/multi:$M_ARM
ut/multi:$FRESH ut/multi:$FRESH_AMD ut/multi:$FRESH_ARM ut/multi:$PENDING"

# statuses LIST: "repo@digest STATUS" per manifest of LIST, one per line.
statuses() {
	local rd
	for rd in $1; do
		echo "${rd%%:*}@${rd#*:} $(reg_status "${rd%%:*}" "${rd#*:}")"
	done
}
# expect_statuses LIST STATUS WHAT: every manifest of LIST answers STATUS.
expect_statuses() {
	local rd want=
	for rd in $1; do
		want+="${rd%%:*}@${rd#*:} $2"$'\n'
	done
	assert_eq "${want%$'\n'}" "$(statuses "$1")" "$3"
}
expect_statuses "$GONE $KEPT" 200 "every manifest after seeding"

# Pushed 2 hours ago, beyond the 1h grace period: every manifest of the repositories,
# except the fresh index and the pending image, pushed just now. fresh's children are old
# too: the index that lists them is what counts.
backdate() {
	local rd
	for rd in $GONE $KEPT; do
		case ${rd#*:} in
		"$FRESH" | "$PENDING") ;;
		*) reg_set_revision_pushed "${rd%%:*}" "${rd#*:}" '2 hours ago' ;;
		esac
	done
}
backdate

cat >"$REG_DIR/untagged.stack" <<STACK
registry = { url = "$REG_URL"; storage_root = "$REG_ROOT"; };
policy = (
  { module = "untagged";  control = "sufficient"; args = { older_than = "1h"; }; },
  { module = "keep_last"; control = "required";   args = { count = 10; }; }
);
STACK

# --- the plan lists the untagged deletions; apply of the saved plan deletes them ---------
expect_rc 0 "$REG_DIR/plan" "$REGSWEEP" plan -v -c "$REG_DIR/untagged.stack" -o "$REG_DIR/plan.json"
plan_text=$(cat "$REG_DIR/plan.out")
for rd in "ut/app@$A_OLD" "ut/app@$B_OLD" "ut/multi@$M_OLD" "ut/multi@$OLD"; do
	[[ $plan_text =~ "delete $rd  untagged: "[^$'\n']*"pushed "[^$'\n']*", older than 1h" ]] ||
		fail "plan text: no untagged deletion of $rd in: $plan_text"
done
assert_contains "$plan_text" "delete ut/multi@$M_OLD_ARM  child of deleted index $M_OLD" \
	"plan text: m's old arm64 child"
assert_contains "$plan_text" "delete ut/multi@$OLD_AMD  child of deleted index $OLD" \
	"plan text: old's amd64 child"
assert_contains "$plan_text" "delete ut/multi@$OLD_ARM  child of deleted index $OLD" \
	"plan text: old's arm64 child"
# The plan file: exactly these deletions, and no tag is deleted.
plan_deletions() {
	"$RS_PYTHON" -c '
import json, sys
p = json.load(open(sys.argv[1]))
for r in p["repositories"]:
    for d in r.get("deletions", []):
        print("%s:%s" % (r["name"], d["digest"]))
    for t in r["tags"]:
        if t["verdict"] != "keep":
            print("tag deleted:", r["name"], t["tag"])' "$1" | LC_ALL=C sort
}
assert_eq "$(tr -s ' \n' '\n' <<<"$GONE" | LC_ALL=C sort)" "$(plan_deletions "$REG_DIR/plan.json")" \
	"deletions in the plan file"
assert_eq 0 "$(reg_delete_count)" "DELETEs after plan"

J=$REG_DIR/apply.jsonl
expect_rc 0 "$REG_DIR/apply" "$REGSWEEP" apply "$REG_DIR/plan.json" --journal "$J"
assert_eq 7 "$(reg_delete_count)" "DELETEs by apply"
assert_eq 7 "$(reg_delete_status_count 202)" "DELETEs by apply answered 202"
expect_statuses "$GONE" 404 "deleted by apply"
expect_statuses "$KEPT" 200 "kept by apply"
assert_eq "a b c" "$(tags_line ut/app)" "ut/app tags after apply"
assert_eq "m" "$(tags_line ut/multi)" "ut/multi tags after apply"

# --- undo puts them back, by digest ---------------------------------------------------
expect_rc 0 "$REG_DIR/undo" "$REGSWEEP" undo "$J"
assert_eq "restored 7 manifests (0 tags) from $J" "$(cat "$REG_DIR/undo.out")" "undo summary"
expect_statuses "$GONE $KEPT" 200 "every manifest after undo"
assert_eq "a b c" "$(tags_line ut/app)" "ut/app tags after undo"
assert_eq "m" "$(tags_line ut/multi)" "ut/multi tags after undo"
assert_eq "$M_OLD_AMD $M_OLD_ARM" "$(children ut/multi "$M_OLD" | tr '\n' ' ' | sed 's/ $//')" \
	"m's old index, put back, lists its children"

# --- run, then the garbage collector without --delete-untagged --------------------------
# undo pushed them again just now: back beyond the grace period.
backdate
# "REPO KIND DIGEST" for everything the storage holds for the manifests of a list.
blob_lines() {
	local rd
	for rd in $1; do
		blobs "${rd%%:*}" "${rd#*:}" | sed "s|^|${rd%%:*} |"
	done | LC_ALL=C sort -u
}
gone_lines=$(blob_lines "$GONE")
kept_lines=$(blob_lines "$KEPT")
mapfile -t kept_blobs < <(awk '{ print $3 }' <<<"$kept_lines" | sort -u)
# blob_on_disk DIGEST: 0 when the registry's storage still holds the blob's data.
blob_on_disk() {
	local hex=${1#sha256:}
	[[ -e $REG_ROOT/docker/registry/v2/blobs/sha256/${hex:0:2}/$hex/data ]]
}
# What only deleted manifests use, as "REPO KIND DIGEST": 7 manifests, the configs of the
# 5 images among them and the layers of 4 (m's old arm64 child shares its layer with the
# new one).
freed_lines=$(awk 'NR == FNR { kept[$3] = 1; next } !($3 in kept)' <(echo "$kept_lines") \
	<(echo "$gone_lines"))
assert_eq "9 blob 7 manifest" "$(awk '{ print $2 }' <<<"$freed_lines" | LC_ALL=C sort | uniq -c |
	awk '{ print $1, $2 }' | paste -sd ' ')" "what only deleted manifests use"
mapfile -t freed < <(awk '{ print $3 }' <<<"$freed_lines")
for d in "${freed[@]}" "${kept_blobs[@]}"; do
	blob_on_disk "$d" || fail "blob $d not on disk before GC"
done

n=$(reg_delete_count)
expect_rc 0 "$REG_DIR/run" "$REGSWEEP" run -c "$REG_DIR/untagged.stack"
assert_eq 7 "$(($(reg_delete_count) - n))" "DELETEs by run"
expect_statuses "$GONE" 404 "deleted by run"
expect_statuses "$KEPT" 200 "kept by run"

# distribution wants the registry stopped (or read-only) while it collects.
reg_halt
"${REG_BIN:-docker-registry}" garbage-collect "$REG_CONFIG" >"$REG_DIR/gc.out" 2>&1 ||
	fail "garbage-collect failed: $(tail -n 20 "$REG_DIR/gc.out")"
reg_restart_with
for d in "${freed[@]}"; do
	! blob_on_disk "$d" || fail "blob $d: only deleted manifests used it, but GC left it on disk"
done
while read -r repo kind d; do
	if [[ $kind == blob ]]; then
		assert_eq 404 "$(reg_blob_status "$repo" "$d")" "freed blob $repo@$d"
	fi
done <<<"$freed_lines"
for d in "${kept_blobs[@]}"; do
	blob_on_disk "$d" || fail "blob $d of a kept manifest is gone from disk after GC"
done
expect_statuses "$GONE" 404 "deleted manifests after GC"
expect_statuses "$KEPT" 200 "kept manifests after GC"
while read -r repo kind d; do
	if [[ $kind == blob ]]; then
		assert_eq 200 "$(reg_blob_status "$repo" "$d")" "kept blob $repo@$d"
	fi
done <<<"$kept_lines"
assert_eq "$kept_lines" "$(blob_lines "$KEPT")" "what the kept manifests use, read again after GC"
assert_eq "a b c" "$(tags_line ut/app)" "ut/app tags after GC"
assert_eq "m" "$(tags_line ut/multi)" "ut/multi tags after GC"

# A repository that only ever received untagged manifests: distribution lists it and answers
# its tags/list 404 NAME_UNKNOWN. It is an empty repository, not one that could not be
# scanned (exit 1 on every run before); with storage_root its old manifest goes too.
echo "image ut/none x 2024-01-01T00:00:00Z untagged" | "$RS_SEED" "$REG_URL" >"$REG_DIR/none"
NONE=$(awk '{ print $3 }' "$REG_DIR/none")
assert_eq 404 "$(_reg_curl -o /dev/null -w '%{http_code}' "$REG_URL/v2/ut/none/tags/list")" \
	"tags/list of a repository without tags"
reg_set_revision_pushed ut/none "$NONE" '3 hours ago'
printf 'registry = { url = "%s"; };\n%s\n' "$REG_URL" \
	'policy = ( { module = "keep_last"; control = "required"; args = { count = 1; }; } );' \
	>"$REG_DIR/plain.stack"
expect_rc 0 "$REG_DIR/none-plan" "$REGSWEEP" plan -c "$REG_DIR/plain.stack" -v
assert_contains "$(cat "$REG_DIR/none-plan.err")" \
	"ut/none: no tags (the registry knows no such repository): nothing to do" "the note with -v"
assert_eq 200 "$(reg_status ut/none "$NONE")" "its manifest is there"
expect_rc 0 "$REG_DIR/none-run" "$REGSWEEP" run -c "$REG_DIR/untagged.stack" --registry "$REG_URL"
assert_eq 404 "$(reg_status ut/none "$NONE")" "its old untagged manifest is deleted"
echo "PASS: untagged"
