#!/usr/bin/env bash
# The policy semantics of issue 9 against a real registry, one repository per case:
#   1. regex requisite keep release-.* then keep_last count 3: every release, the tags on a
#      release's digest and the 3 newest OTHER images stay (the releases are the newest
#      images, so ranking them alongside the builds would leave fewer builds);
#   2. keep_last counts images, not tags: latest and build-9 on one digest take one place;
#   3. age: a created time of 1970 (reproducible builds) is unknown, and so kept;
#   4. keep_last order = "pushed" reads push times from registry.storage_root and
#      disagrees with created; without storage_root the stack is refused, nothing sent;
#   5. per-repository policies: each group by its own rule in one run, a repository no
#      policy is for is left alone, the plan names each repository's policy by file:line;
#   6. the default min_keep guard refuses a plan deleting every tag of a repository.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

reg_start
trap reg_stop EXIT

now_minus() { date -u -d "$1 ago" +%Y-%m-%dT%H:%M:%SZ; }

"$RS_SEED" "$REG_URL" >"$REG_DIR/seeded" <<SPEC
image sem/rel build-1 2024-01-01T00:00:00Z
image sem/rel build-2 2024-01-02T00:00:00Z
image sem/rel build-3 2024-01-03T00:00:00Z
image sem/rel build-4 2024-01-04T00:00:00Z
image sem/rel build-5 2024-01-05T00:00:00Z
image sem/rel build-6 2024-01-06T00:00:00Z
image sem/rel release-1 2024-03-01T00:00:00Z
image sem/rel release-2 2024-04-01T00:00:00Z
tag sem/rel stable release-1
image sem/twin build-7 2024-01-07T00:00:00Z
image sem/twin build-8 2024-01-08T00:00:00Z
image sem/twin build-9 2024-01-09T00:00:00Z
tag sem/twin latest build-9
image sem/age repro 1970-01-01T00:00:00Z
image sem/age old 2020-01-01T00:00:00Z
image sem/age fresh $(now_minus 1day)
image sem/pushed p1 2024-01-01T00:00:00Z
image sem/pushed p2 2024-01-02T00:00:00Z
image sem/pushed p3 2024-01-03T00:00:00Z
image sem/pushed p4 2024-01-04T00:00:00Z
image releases/app r1 2024-01-01T00:00:00Z
image releases/app r2 2024-01-02T00:00:00Z
image releases/app r3 2024-01-03T00:00:00Z
image releases/app r4 2024-01-04T00:00:00Z
image releases/lib l1 2024-01-01T00:00:00Z
image releases/lib l2 2024-01-02T00:00:00Z
image releases/lib l3 2024-01-03T00:00:00Z
image pr/x x1 2024-01-01T00:00:00Z
image pr/x x2 2024-01-02T00:00:00Z
image pr/x x3 2024-01-03T00:00:00Z
image other/y y1 2024-01-01T00:00:00Z
image other/y y2 2024-01-02T00:00:00Z
image sem/all a1 2024-01-01T00:00:00Z
image sem/all a2 2024-01-02T00:00:00Z
SPEC
assert_eq "$(reg_digest sem/rel release-1)" "$(reg_digest sem/rel stable)" "stable is release-1's twin"
assert_eq "$(reg_digest sem/twin build-9)" "$(reg_digest sem/twin latest)" "latest is build-9's twin"

# deletes_since N: the manifest DELETEs sent since the count was N.
deletes_since() { echo $(($(reg_delete_count) - $1)); }

# --- 1. the releases are not counted against keep_last's places -------------------------
cat >"$REG_DIR/rel.stack" <<STACK
registry = { url = "$REG_URL"; };
repositories = { include = [ "^sem/rel\$" ]; };
policy = (
  { module = "regex";     control = "requisite"; args = { keep = [ "release-.*" ]; }; },
  { module = "keep_last"; control = "required";  args = { count = 3; }; }
);
STACK
n=$(reg_delete_count)
expect_rc 0 "$REG_DIR/rel" "$REGSWEEP" run -c "$REG_DIR/rel.stack"
# ranked with the releases (the 3 newest images are release-2, release-1/stable, build-6)
# only build-6 would stay
assert_eq "build-4 build-5 build-6 release-1 release-2 stable" "$(tags_line sem/rel)" \
	"1: tags left in sem/rel"
assert_eq 3 "$(deletes_since "$n")" "1: DELETEs (build-1..3)"

# --- 2. one image, one place --------------------------------------------------------------
cat >"$REG_DIR/twin.stack" <<STACK
registry = { url = "$REG_URL"; };
repositories = { include = [ "^sem/twin\$" ]; };
policy = ( { module = "keep_last"; control = "required"; args = { count = 2; }; } );
STACK
n=$(reg_delete_count)
build9=$(reg_digest sem/twin build-9)
expect_rc 0 "$REG_DIR/twin" "$REGSWEEP" run -c "$REG_DIR/twin.stack"
assert_eq "build-8 build-9 latest" "$(tags_line sem/twin)" "2: tags left in sem/twin"
assert_eq "$build9" "$(reg_digest sem/twin latest)" "2: latest still names build-9's image"
assert_eq 1 "$(deletes_since "$n")" "2: DELETEs (build-7)"

# --- 3. created 1970 is unknown: kept by age ------------------------------------------
cat >"$REG_DIR/age.stack" <<STACK
registry = { url = "$REG_URL"; };
repositories = { include = [ "^sem/age\$" ]; };
policy = ( { module = "age"; control = "required"; args = { older_than = "7d"; }; } );
STACK
n=$(reg_delete_count)
old=$(reg_digest sem/age old)
expect_rc 0 "$REG_DIR/age" "$REGSWEEP" run -c "$REG_DIR/age.stack"
assert_eq "fresh repro" "$(tags_line sem/age)" "3: tags left in sem/age"
assert_eq 1 "$(deletes_since "$n")" "3: DELETEs (old)"
assert_eq 404 "$(reg_status sem/age "$old")" "3: the 2020 image"

# --- 4. order = "pushed" --------------------------------------------------------------
# Pushed in the reverse of created order: p1 last, p4 first.
reg_set_pushed sem/pushed p1 '2025-01-04 00:00:00 UTC'
reg_set_pushed sem/pushed p2 '2025-01-03 00:00:00 UTC'
reg_set_pushed sem/pushed p3 '2025-01-02 00:00:00 UTC'
reg_set_pushed sem/pushed p4 '2025-01-01 00:00:00 UTC'
# Without storage_root: refused with the entry's file:line, before any request.
cat >"$REG_DIR/nopush.stack" <<STACK
registry = { url = "$REG_URL"; };
repositories = { include = [ "^sem/pushed\$" ]; };
policy = (
  { module = "keep_last"; control = "required"; args = { count = 2; order = "pushed"; }; }
);
STACK
n=$(reg_delete_count)
for cmd in plan run; do
	expect_rc 2 "$REG_DIR/nopush-$cmd" "$REGSWEEP" "$cmd" -c "$REG_DIR/nopush.stack"
	assert_contains "$(cat "$REG_DIR/nopush-$cmd.err")" \
		"regsweep: error: $REG_DIR/nopush.stack:4: module \"keep_last\" needs push times" \
		"4: $cmd without storage_root"
done
assert_eq 0 "$(deletes_since "$n")" "4: DELETEs without storage_root"
assert_eq "p1 p2 p3 p4" "$(tags_line sem/pushed)" "4: tags after the refusals"

cat >"$REG_DIR/pushed.stack" <<STACK
registry = { url = "$REG_URL"; storage_root = "$REG_ROOT"; };
repositories = { include = [ "^sem/pushed\$" ]; };
policy = (
  { module = "keep_last"; control = "required"; args = { count = 2; order = "pushed"; }; }
);
STACK
expect_rc 0 "$REG_DIR/pushed" "$REGSWEEP" run -c "$REG_DIR/pushed.stack"
assert_eq "p1 p2" "$(tags_line sem/pushed)" "4: tags left by order = pushed (created would keep p3 p4)"
assert_eq 2 "$(deletes_since "$n")" "4: DELETEs (p3, p4)"

# --- 5. per-repository policies --------------------------------------------------------
# Each group on one line: the plan names it by that line (3 and 4).
cat >"$REG_DIR/groups.stack" <<STACK
registry = { url = "$REG_URL"; };
policies = (
  { repositories = [ "releases/.*" ]; policy = ( { module = "keep_last"; control = "required"; args = { count = 2; }; } ); },
  { repositories = [ "pr/.*" ]; policy = ( { module = "keep_last"; control = "required"; args = { count = 1; }; } ); }
);
STACK
before_other=$(tags_line other/y)
before_sem=$(for r in sem/rel sem/twin sem/age sem/pushed sem/all; do echo "$r: $(tags_line "$r")"; done)
expect_rc 0 "$REG_DIR/groups-plan" "$REGSWEEP" plan -c "$REG_DIR/groups.stack" --format json
assert_eq "pr/x $REG_DIR/groups.stack:4
releases/app $REG_DIR/groups.stack:3
releases/lib $REG_DIR/groups.stack:3" "$("$RS_PYTHON" -c '
import json, sys
for r in json.load(open(sys.argv[1]))["repositories"]:
    print(r["name"], r.get("policy"))' "$REG_DIR/groups-plan.out" | LC_ALL=C sort)" \
	"5: the repositories in the plan and the policy of each"
n=$(reg_delete_count)
expect_rc 0 "$REG_DIR/groups" "$REGSWEEP" run -c "$REG_DIR/groups.stack"
assert_eq "r3 r4" "$(tags_line releases/app)" "5: releases/app by keep 2"
assert_eq "l2 l3" "$(tags_line releases/lib)" "5: releases/lib by keep 2"
assert_eq "x3" "$(tags_line pr/x)" "5: pr/x by keep 1"
assert_eq 5 "$(deletes_since "$n")" "5: DELETEs (r1 r2 l1 x1 x2)"
assert_eq "$before_other" "$(tags_line other/y)" "5: other/y untouched"
assert_eq "y1 y2" "$before_other" "5: other/y as seeded"
assert_eq "$before_sem" \
	"$(for r in sem/rel sem/twin sem/age sem/pushed sem/all; do echo "$r: $(tags_line "$r")"; done)" \
	"5: the sem/ repositories untouched"
# Not even scanned: besides the catalog, no request of regsweep's names other/y.
assert_eq 0 "$(grep -cE '"[A-Z]+ /v2/other/y/[^"]*" [0-9]{3} [^"]*"[^"]*" "regsweep/' "$REG_LOG" || true)" \
	"5: regsweep's requests about other/y"
[[ $(grep -cE '"[A-Z]+ /v2/pr/x/[^"]*" [0-9]{3} [^"]*"[^"]*" "regsweep/' "$REG_LOG") -gt 0 ]] ||
	fail "5: no request of regsweep's about pr/x in the log: the check above is void"

# --- 6. min_keep by default: deleting every tag of a repository is refused ----------------
cat >"$REG_DIR/all.stack" <<STACK
registry = { url = "$REG_URL"; };
repositories = { include = [ "^sem/all\$" ]; };
policy = ( { module = "keep_last"; control = "required"; args = { count = 0; }; } );
STACK
n=$(reg_delete_count)
expect_rc 3 "$REG_DIR/all-plan" "$REGSWEEP" plan -c "$REG_DIR/all.stack"
expect_rc 3 "$REG_DIR/all-run" "$REGSWEEP" run -c "$REG_DIR/all.stack"
assert_contains "$(cat "$REG_DIR/all-run.out" "$REG_DIR/all-run.err")" \
	"refused by guard: would keep 0 tags, fewer than min_keep = 1" "6: why"
assert_eq 0 "$(deletes_since "$n")" "6: DELETEs"
assert_eq "a1 a2" "$(tags_line sem/all)" "6: tags after the refusal"
echo "PASS: policy semantics"
