#!/usr/bin/env bash
# The recipes in conf/examples/ translate other tools' cleanup policies (docs/recipes.md).
# For each, decide on tests/recipes/<name>.json, a data set built so the tool's subtleties
# show, must give tag by tag the verdict the tool's own documentation or source gives. The
# few places where regsweep cannot do what the tool does are listed apart ("~" below), with
# the reason, and must differ exactly there. Every recipe passes check, and the GitLab one
# also runs against a real registry.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

src=$(cd "$(dirname "$0")/../.." && pwd)
dir=$(mktemp -d)
trap 'reg_stop; rm -rf "$dir"' EXIT

# compare.py PLAN EXPECT: EXPECT lines are "ITEM TOOL_VERDICT [~REGSWEEP_VERDICT WHY]", ITEM
# being repo:tag or repo@digest (an untagged manifest; kept = not among the deletions).
# Every tag of the plan must be listed; "~" marks a known difference.
cat >"$dir/compare.py" <<'PY'
import json, sys

plan = json.load(open(sys.argv[1]))
got, untagged = {}, set()
for r in plan["repositories"]:
    for t in r["tags"]:
        got["%s:%s" % (r["name"], t["tag"])] = t["verdict"]
    for d in r.get("deletions", []):
        if not d["tags"]:
            untagged.add("%s@%s" % (r["name"], d["digest"]))
errors, listed = [], set()
for line in open(sys.argv[2]):
    line = line.split("#", 1)[0].strip()
    if not line:
        continue
    item, tool, rest = (line.split(None, 2) + [""])[:3]
    listed.add(item)
    if "@" in item:
        verdict = "delete" if item in untagged else "keep"
    else:
        verdict = got.get(item, "missing from the plan")
    if rest.startswith("~"):
        want, why = (rest[1:].split(None, 1) + [""])[:2]
        if want == tool:
            errors.append("%s: a known difference must differ" % item)
        elif verdict != want:
            errors.append("%s: known difference gone: the tool says %s, regsweep now %s"
                          % (item, tool, verdict))
        else:
            print("  known difference: %s: the tool would %s, regsweep does %s: %s"
                  % (item, tool, verdict, why))
    elif verdict != tool:
        errors.append("%s: the tool would %s, regsweep says %s" % (item, tool, verdict))
for item in sorted(set(got) - listed):
    errors.append("%s: in the plan but not expected" % item)
for item in sorted(untagged - listed):
    errors.append("%s: deleted but not expected" % item)
for e in errors:
    print("  " + e)
sys.exit(1 if errors else 0)
PY

# recipe NAME < EXPECT: check passes (a storage_root that is not here only warns) and
# decide, which takes push times from the file, gives the expected verdicts.
recipe() {
	local name=$1 stack=$src/conf/examples/$1.stack
	cat >"$dir/$name.expect"
	expect_rc 0 "$dir/$name.check" "$REGSWEEP" check -c "$stack"
	assert_contains "$(cat "$dir/$name.check.out")" "$stack: ok: " "check $name"
	expect_rc 0 "$dir/$name.decide" "$REGSWEEP" decide -c "$stack" \
		--images "$src/tests/recipes/$name.json" --format json
	echo "$name:"
	python3 "$dir/compare.py" "$dir/$name.decide.out" "$dir/$name.expect" ||
		fail "$name: verdicts differ from the tool's (above)"
}

# keep_n 5, older_than 30d, name_regex .*, name_regex_keep (?:main|stable|v\d+\.\d+\.\d+).
# Candidates by created date: build-119 (unknown: now), 120, 118, 117, 116 | 115, 114, ...
recipe gitlab-cleanup <<'EXPECT'
app:latest keep            # never a candidate
app:main keep              # name_regex_keep
app:build-120 keep         # candidate 2 of keep_n; counts though main keeps its image
app:build-119 keep         # no created date: sorted as now (1st), never older_than
app:build-118 keep         # 3rd
app:build-117 keep         # 4th; counts though v1.4.0 keeps its image
app:v1.4.0 keep
app:build-116 keep         # 5th
app:build-115 keep         # 6th, but newer than 30 days
app:build-114 delete       # 7th and 40 days old (5th if kept images' candidates did not count)
app:build-113 delete       # created 80 days ago; GitLab goes by created, not the recent push
app:build-112 delete       # 90 days, both tags of the image
app:build-112-debug delete
app:v1.3.0 keep            # name_regex_keep
app:v1.2.0-rc1 delete      # name_regex_keep is anchored: an rc is not a release
app:latest-old delete      # only the tag named latest is spared
app:build-99 delete ~keep GitLab removes the tag alone; v1.1.0 keeps its image and distribution deletes whole images
app:v1.1.0 keep
app:stable keep
app@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa keep  # cleanup policies never touch untagged manifests
EXPECT

# Rules: 1 prod* x9999, 2 prefix v x3, 3 untagged 1 day, 4 any 30 days; by pushed_at_time.
# Rule 2 counts by push: v1.5.0 (1d), v1.3.0 (10d, claimed by rule 1), v1.4.0, v1.2.0, v0.9.0.
recipe ecr-lifecycle <<'EXPECT'
app:v1.5.0 keep            # rule 2, 1st
app:v1.3.0 keep            # rule 1 claims it; rule 2 still counts it (2nd)
app:prod-2024-05 keep
app:v1.4.0 keep            # rule 2, 3rd
app:v1.2.0 delete          # rule 2, 4th (3rd by created, or without the prod image)
app:v0.9.0 keep            # rule 2 marks it, but it matches rule 1, of higher priority
app:prod-hotfix keep
app:feature-x keep         # rule 4: pushed 2 days ago, though created 200 days ago
app:feature-old delete     # rule 4: 45 days
app:prod-2023-12 keep      # rule 1
app:nightly keep           # rule 4: 10 days
app:build-7 delete ~keep ECR ages an image by its first push (60 days); regsweep by its newest tag push (qa-passed, 1 day)
app:qa-passed delete ~keep the same image
app@sha256:1111111111111111111111111111111111111111111111111111111111111111 delete  # rule 3: 3 days
app@sha256:2222222222222222222222222222222222222222222222222222222222222222 keep    # rule 3: 4 hours
EXPECT

# Rules (OR): 1 latest 3 pushed of release-*, 2 pushed within 14 days, 3 always
# {latest,stable}; untagged not included. An artifact's push time is its newest tag push.
# Rule 1 ranks: release-1.6 (1d), release-1.4 (20d, hotfix-1.4), release-candidate (30d),
# release-1.5 (40d), release-1.3, release-1.2.
recipe harbor-retention <<'EXPECT'
app:release-1.6 keep       # rules 1 and 2
app:release-1.5 keep       # 4th in rule 1, but rule 3 retains stable, and so the artifact
app:stable keep
app:release-1.4 keep       # 2nd in rule 1: pushed 60 days ago, its hotfix-1.4 tag 20 days ago
app:hotfix-1.4 keep
app:release-candidate keep # release-* matches it: 3rd in rule 1
app:release-1.3 delete     # 5th, 80 days
app:release-1.2 delete     # 6th; old-alias goes with its artifact
app:old-alias delete
app:feature-a keep         # rule 2: 5 days
app:feature-b delete       # 20 days, no rule retains it
app:feature-c keep         # rule 2 by push, though created 500 days ago
app:latest keep            # rule 3
app:nightly-99 keep        # retained with its artifact
app@sha256:3333333333333333333333333333333333333333333333333333333333333333 delete  # no rule includes untagged artifacts
EXPECT

# --filter 'app:-dev' --filter 'app:^pr-' --ago 7d --keep 2 --untagged. Eligible (matching,
# older than 7 days), newest first: pr-10, pr-9 | feature-dev, pr-7, pr-7-dev, pr-6, my-dev-box.
recipe acr-purge <<'EXPECT'
app:pr-12 keep             # 2 days: not eligible
app:pr-13 keep             # pushed 1 day ago (created 300 days ago): lastUpdateTime counts
app:pr-11 keep             # 6 days
app:pr-10 keep             # 1st of --keep 2; counts though stable shares its image
app:stable keep            # no filter matches it
app:pr-9 keep              # 2nd of --keep 2
app:feature-dev delete     # '-dev' matches anywhere; 3rd; untagged, then deleted by --untagged
app:pr-7 delete
app:pr-7-dev delete
app:devel keep             # '-dev' does not match devel
app:pr-6 delete ~keep acr purge untags pr-6 alone; v2.0 keeps its image and distribution deletes whole images
app:v2.0 keep
app:prod-1 keep            # '^pr-' does not match prod-1
app:my-dev-box delete      # '-dev' matches inside the name
app@sha256:4444444444444444444444444444444444444444444444444444444444444444 delete  # --untagged, 30 days
EXPECT

# --delete --num 3 --keep-tags-like stable '^release-' --order-by-date. Tags by created,
# newest first: build-9, build-9-debug, release-2.0 | build-12, build-11, build-10, ...
recipe registry-cli <<'EXPECT'
app:build-9 keep           # newest by date, though lowest by name
app:build-9-debug keep     # its second tag takes the 2nd of the 3 places
app:release-2.0 keep       # 3rd place; --keep-tags-like too
app:build-12 delete        # 4th: the kept release-2.0 counted among the 3
app:build-11 delete
app:build-10 delete
app:stable keep            # --keep-tags-like
app:build-7 keep           # its digest is stable's: skipped
app:build-6 delete
app:prerelease-3 delete    # '^release-' does not match it
app:build-5 delete         # created 100 days ago; its recent push does not count
app:old-stable-2 keep      # 'stable' matches anywhere
EXPECT

# -day 30 -latest 3 -tag '^build-' -ntag '-keep'. Matching tags by created, newest first:
# build-50 (2d, too young, counts), build-48, build-47 | build-46, build-45, build-44, ...,
# build-49 (created 1970: the oldest for deckschrubber).
recipe deckschrubber <<'EXPECT'
app:build-50 keep          # too young; counts towards -latest
app:build-49 delete ~keep created 1970: deckschrubber sorts it oldest and past the deadline; regsweep reads a pre-1980 date as unknown, ranks it newest and never finds it older
app:build-48 keep          # 2nd of -latest
app:build-47 keep ~delete 3rd of -latest for deckschrubber; regsweep gives build-49 the 1st place, so build-47 is 4th and 45 days old
app:build-46 delete        # 4th: the young build-50 counted
app:build-45 keep          # latest does not match -tag and keeps the digest
app:latest keep
app:release-1 keep         # -tag does not match
app:build-44 delete        # both tags of the image deletable
app:build-44-b delete
app:build-43 keep          # build-43-keep (-ntag) keeps the digest
app:build-43-keep keep
app:rebuild-1 keep         # '^build-' does not match
EXPECT

# The GitLab recipe against a real registry: regsweep run, with times relative to now.
reg_start
ago() { days_ago "$1"; }
"$RS_SEED" "$REG_URL" >/dev/null <<SPEC
image gl/app build-120 $(ago 1)
tag gl/app main build-120
tag gl/app latest build-120
image gl/app build-119 $(ago 2)
image gl/app build-118 $(ago 3)
image gl/app build-117 $(ago 5)
tag gl/app v1.4.0 build-117
image gl/app build-116 $(ago 7)
image gl/app build-115 $(ago 20)
image gl/app build-114 $(ago 40)
image gl/app build-112 $(ago 90)
tag gl/app build-112-debug build-112
image gl/app v1.3.0 $(ago 100)
image gl/app v1.2.0-rc1 $(ago 110)
image gl/app latest-old $(ago 120)
image gl/app build-99 $(ago 150)
tag gl/app v1.1.0 build-99
image gl/app stable $(ago 200)
SPEC
expect_rc 0 "$dir/run" "$REGSWEEP" run -c "$src/conf/examples/gitlab-cleanup.stack" \
	--registry "$REG_URL"
# GitLab would also remove build-99 alone; here v1.1.0 keeps its image (docs/recipes.md).
assert_eq "build-115 build-116 build-117 build-118 build-119 build-120 build-99 latest main stable v1.1.0 v1.3.0 v1.4.0" \
	"$(tags_line gl/app)" "tags left by the GitLab recipe"
# build-114, build-112 (with build-112-debug), v1.2.0-rc1 and latest-old: one DELETE each.
assert_eq 4 "$(reg_delete_count)" "manifest DELETEs"
echo "PASS: recipes"
