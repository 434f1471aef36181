#!/usr/bin/env bash
# regsweep check and decide: a stack and a policy tried without a registry. Good stacks
# pass, broken ones name file:line and exit 2; decide gives the verdicts a plan would, for
# images described in a file, including push times and untagged manifests.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# Nothing listens on port 9: a command that tried the network would fail or hang here.
cat >"$dir/good.stack" <<'STACK'
registry = { url = "http://127.0.0.1:9"; };
policies = (
  { repositories = [ "pr/.*" ];
    policy = ( { module = "keep_last"; control = "required"; args = { count = 1; }; } ); }
);
policy = (
  { module = "regex";     control = "requisite"; args = { keep = [ "release-.*" ]; }; },
  { module = "keep_last"; control = "required";  args = { count = 3; }; }
);
STACK
expect_rc 0 "$dir/check" "$REGSWEEP" check -c "$dir/good.stack"
assert_eq "$dir/good.stack: ok: 2 policies, 3 policy entries, 0 after-steps" \
	"$(cat "$dir/check.out")" "check of a good stack"

# broken NAME LINE EXPECTED STACK-TEXT: check refuses with one line naming file:line.
broken() {
	printf '%s\n' "$4" >"$dir/$1.stack"
	expect_rc 2 "$dir/$1" "$REGSWEEP" check -c "$dir/$1.stack"
	assert_eq 1 "$(wc -l <"$dir/$1.err")" "$1: one line"
	assert_contains "$(cat "$dir/$1.err")" "regsweep: error: $dir/$1.stack:$2: " "$1: where"
	assert_contains "$(cat "$dir/$1.err")" "$3" "$1: what"
}
broken unknown 2 'module "no_such" not found' 'policy = (
  { module = "no_such"; control = "required"; }
);'
broken arg 2 'module "keep_last" has no argument "cout"' 'policy = (
  { module = "keep_last"; control = "required"; args = { cout = 2; }; }
);'
broken pushed 2 'module "keep_last" needs push times, which only a push-time source gives' 'policy = (
  { module = "keep_last"; control = "required"; args = { count = 2; order = "pushed"; }; }
);'
broken untagged 1 'module "untagged" needs' 'policy = ( { module = "untagged"; control = "required"; } );'
# A storage_root that is not distribution's storage here: check warns (the stack may be
# meant for the registry's machine), plan refuses it before any request.
printf 'registry = { url = "http://127.0.0.1:9"; storage_root = "%s"; };\n%s\n' "$dir" \
	'policy = ( { module = "age"; control = "required"; args = { older_than = "1d"; by = "pushed"; }; } );' \
	>"$dir/root.stack"
expect_rc 0 "$dir/root-check" "$REGSWEEP" check -c "$dir/root.stack"
assert_contains "$(cat "$dir/root-check.err")" \
	"warning: $dir/root.stack:1: storage_root \"$dir\" is not distribution's filesystem storage" \
	"check warns about a storage_root not here"
expect_rc 2 "$dir/root-plan" "$REGSWEEP" plan -c "$dir/root.stack"
assert_eq "regsweep: error: $dir/root.stack:1: storage_root \"$dir\" is not distribution's filesystem storage: no docker/registry/v2 under it" \
	"$(errtext "$dir/root-plan.err")" "plan refuses it"
broken policies 2 'a policies entry needs "repositories" and "policy"' 'policies = (
  { policy = ( { module = "age"; control = "required"; args = { older_than = "1d"; }; } ); }
);'
broken duration 2 'expected duration such as "90m", "12h", "30d", "2w" or "1d12h"' 'policy = (
  { module = "age"; control = "required"; args = { older_than = "1d12"; }; }
);'

# The images of the stack-format docs' example, with a release newer than every build.
cat >"$dir/images.json" <<'JSON'
{ "now": "2024-06-01T00:00:00Z",
  "repositories": [
    { "name": "team/app", "images": [
      { "tags": [ "release-1", "stable" ], "created": "2024-05-30T00:00:00Z" },
      { "tags": [ "release-2" ], "created": "2024-05-31T00:00:00Z" },
      { "tags": [ "b1" ], "created": "2024-05-01T00:00:00Z" },
      { "tags": [ "b2" ], "created": "2024-05-02T00:00:00Z" },
      { "tags": [ "b3", "latest" ], "created": "2024-05-03T00:00:00Z" },
      { "tags": [ "b4" ], "created": "2024-05-04T00:00:00Z" },
      { "tags": [ "repro" ], "created": "1970-01-01T00:00:00Z" } ] },
    { "name": "pr/x", "images": [
      { "tags": [ "pr-1" ], "created": "2024-05-01T00:00:00Z" },
      { "tags": [ "pr-2" ], "created": "2024-05-02T00:00:00Z" } ] },
    { "name": "other", "images": [ { "tags": [ "o1" ] } ] } ] }
JSON
expect_rc 0 "$dir/decide" "$REGSWEEP" decide -c "$dir/good.stack" --images "$dir/images.json" \
	--format json
# verdicts FILE: "repo:tag verdict" per tag, sorted.
verdicts() {
	python3 -c 'import json, sys
for r in json.load(open(sys.argv[1]))["repositories"]:
    for t in r["tags"]:
        print("%s:%s %s" % (r["name"], t["tag"], t["verdict"]))' "$1" | LC_ALL=C sort | tr '\n' ' '
}
# Releases and their twin end at regex; of the other images (repro's created is unknown, so
# it ranks newest) keep_last keeps 3, the image of b3 and latest counting once.
assert_eq "other:o1 keep pr/x:pr-1 delete pr/x:pr-2 keep team/app:b1 delete team/app:b2 delete team/app:b3 keep team/app:b4 keep team/app:latest keep team/app:release-1 keep team/app:release-2 keep team/app:repro keep team/app:stable keep " \
	"$(verdicts "$dir/decide.out")" "decide's verdicts"
# Without the fallback, a repository no policy is for is left out, untouched.
sed '/^policy = (/,$d' "$dir/good.stack" >"$dir/pr-only.stack"
expect_rc 0 "$dir/pr-only" "$REGSWEEP" decide -c "$dir/pr-only.stack" --images "$dir/images.json" \
	--format json
assert_eq "pr/x:pr-1 delete pr/x:pr-2 keep " "$(verdicts "$dir/pr-only.out")" \
	"only the repositories a policy is for"
assert_eq "$dir/good.stack:6" "$(python3 -c 'import json, sys
print([r["policy"] for r in json.load(open(sys.argv[1]))["repositories"] if r["name"] == "team/app"][0])' \
	"$dir/decide.out")" "the policy that decided team/app"
expect_rc 0 "$dir/decide-text" "$REGSWEEP" decide -c "$dir/good.stack" --images "$dir/images.json"
assert_contains "$(cat "$dir/decide-text.out")" \
	"delete team/app:b2  keep_last: b2 rank 4 of 5 images by created; keeps 3" "text reason"

# Push times and untagged manifests come from the file: no storage_root needed offline.
cat >"$dir/pushed.stack" <<'STACK'
policy = (
  { module = "untagged";  control = "sufficient"; },
  { module = "keep_last"; control = "required"; args = { count = 1; order = "pushed"; }; }
);
STACK
cat >"$dir/pushed.json" <<'JSON'
{ "repository": "team/app", "now": "2024-06-01T12:00:00Z", "images": [
  { "tags": [ "new-by-created" ], "created": "2024-05-31T00:00:00Z", "pushed": "2024-05-01T00:00:00Z" },
  { "tags": [ { "name": "old-by-created", "pushed": "2024-05-30T00:00:00Z" } ], "created": "2024-01-01T00:00:00Z" },
  { "digest": "sha256:1111111111111111111111111111111111111111111111111111111111111111", "pushed": "2024-06-01T08:00:00Z" },
  { "digest": "sha256:2222222222222222222222222222222222222222222222222222222222222222", "pushed": "2024-06-01T11:30:00Z" } ] }
JSON
expect_rc 0 "$dir/pushed" "$REGSWEEP" decide -c "$dir/pushed.stack" --images "$dir/pushed.json"
out=$(cat "$dir/pushed.out")
assert_contains "$out" "delete team/app:new-by-created  keep_last: new-by-created rank 2 of 2 images by pushed" \
	"pushed order, not created"
assert_contains "$out" "keep   team/app:old-by-created  keep_last: " "the last pushed stays"
assert_contains "$out" "delete team/app@sha256:1111111111111111111111111111111111111111111111111111111111111111  untagged: pushed 2024-06-01T08:00:00Z, older than 1h" \
	"an old untagged manifest goes"
[[ $out != *"sha256:2222"* ]] || fail "an untagged manifest within the grace period is kept"

# Guards hold offline too: deleting every image of a repository is refused.
printf 'policy = ( { module = "keep_last"; control = "required"; args = { count = 0; }; } );\n' \
	>"$dir/all.stack"
expect_rc 3 "$dir/all" "$REGSWEEP" decide -c "$dir/all.stack" --images "$dir/pushed.json"
assert_contains "$(cat "$dir/all.err")" "team/app would keep 0 tags, fewer than min_keep = 1" \
	"min_keep refuses"

# A module written in C++ loads through the same SDK header.
printf 'policy = ( { module = "cpp_prefix"; control = "required"; args = { prefix = "pr-"; }; } );\n' \
	>"$dir/cpp.stack"
echo '[ { "tags": [ "pr-1" ] }, { "tags": [ "pr-2", "main" ] }, { "tags": [ "pr-3", "pr-4" ] } ]' \
	>"$dir/cpp.json"
expect_rc 0 "$dir/cpp" "$REGSWEEP" decide -c "$dir/cpp.stack" --images "$dir/cpp.json" \
	--module-dir "$RS_TEST_MODULE_DIR" --format json
assert_eq "decide:main keep decide:pr-1 delete decide:pr-2 keep decide:pr-3 delete decide:pr-4 delete " \
	"$(verdicts "$dir/cpp.out")" "the C++ module's verdicts"

# A pattern that fails at match time (PCRE2's match limit) is no answer: before, it counted
# as "no match", so `keep` failed open and others = delete deleted the tag. The repository
# is left untouched with the reason, exit 1.
printf '%s\n' 'policy = ( { module = "regex"; control = "required"; args = { keep = [ "(a|a)*b|.*" ]; others = "delete"; }; } );' \
	>"$dir/limit.stack"
long=$(printf 'a%.0s' {1..60})
echo "[ { \"tags\": [ \"$long\" ] }, { \"tags\": [ \"x\" ] } ]" >"$dir/limit.json"
expect_rc 1 "$dir/limit" "$REGSWEEP" decide -c "$dir/limit.stack" --images "$dir/limit.json" \
	--format json
assert_eq "decide:$long keep decide:x keep " "$(verdicts "$dir/limit.out")" "nothing deleted"
assert_contains "$(cat "$dir/limit.err")" \
	"decide: module regex ($dir/limit.stack:1): pattern \"(a|a)*b|.*\" on \"$long\": match limit exceeded" \
	"the reason"

# Broken images files: one line, exit 2.
echo '{ "images": [ { "tags": [ "a" ], "created": "yesterday" } ] }' >"$dir/bad.json"
expect_rc 2 "$dir/bad" "$REGSWEEP" decide -c "$dir/good.stack" --images "$dir/bad.json"
assert_contains "$(cat "$dir/bad.err")" \
	"$dir/bad.json: repository \"decide\", image 1: \"created\" and \"pushed\" must be RFC 3339 times" \
	"bad time"
echo '[ { "tags": [ "../x" ] } ]' >"$dir/badtag.json"
expect_rc 2 "$dir/badtag" "$REGSWEEP" decide -c "$dir/good.stack" --images "$dir/badtag.json"
assert_contains "$(cat "$dir/badtag.err")" "a tag is not a valid tag name" "bad tag"
echo '[ {' >"$dir/trunc.json"
expect_rc 2 "$dir/trunc" "$REGSWEEP" decide -c "$dir/good.stack" --images "$dir/trunc.json"
assert_contains "$(cat "$dir/trunc.err")" "$dir/trunc.json: not valid JSON" "truncated file"
expect_rc 2 "$dir/noimages" "$REGSWEEP" decide -c "$dir/good.stack"
assert_contains "$(cat "$dir/noimages.err")" "decide needs --images FILE.json" "no --images"
# An option a command does not take is named as typed, not by its value.
expect_rc 2 "$dir/opt" "$REGSWEEP" undo "$dir/j.jsonl" -o "$dir/x.json"
assert_eq "regsweep: error: undo does not take -o (usage: regsweep undo JOURNAL [-c STACK] [options]; see regsweep help undo)" \
	"$(errtext "$dir/opt.err")" "a short option"
expect_rc 2 "$dir/longopt" "$REGSWEEP" plan -c "$dir/good.stack" --journal "$dir/j.jsonl"
assert_contains "$(cat "$dir/longopt.err")" "plan does not take --journal (usage: " "a long option"
# Help, and options before the command word (as git and docker take them).
expect_rc 0 "$dir/help" "$REGSWEEP" -v help plan
assert_contains "$(cat "$dir/help.out")" "usage: regsweep plan -c STACK [-o PLAN.json] [options]" "help plan"
assert_contains "$(cat "$dir/help.out")" "  -o, --output PLAN.json      also write the plan file" "help describes options"
assert_contains "$(cat "$dir/help.out")" "example:" "help has an example"
expect_rc 0 "$dir/help2" "$REGSWEEP" decide --help
assert_contains "$(cat "$dir/help2.out")" "      --images FILE.json      the images to decide for" "COMMAND --help"
expect_rc 2 "$dir/help3" "$REGSWEEP" help nope
assert_contains "$(cat "$dir/help3.err")" 'no command "nope" (see regsweep help)' "help of no command"
expect_rc 0 "$dir/before" "$REGSWEEP" --format json -c "$dir/good.stack" --images "$dir/images.json" decide
assert_eq "other:o1 keep pr/x:pr-1 delete pr/x:pr-2 keep team/app:b1 delete team/app:b2 delete team/app:b3 keep team/app:b4 keep team/app:latest keep team/app:release-1 keep team/app:release-2 keep team/app:repro keep team/app:stable keep " \
	"$(verdicts "$dir/before.out")" "options before the command word"

# Diagnostics: off a terminal each line starts with the time; --log-format json makes them
# JSON lines; on the journal systemd gave (JOURNAL_STREAM names stderr) a syslog priority.
line=$(head -n 1 "$dir/opt.err")
[[ $line =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\ regsweep:\ error:\ undo\ does\ not ]] ||
	fail "a timestamped line off a terminal: $line"
expect_rc 2 "$dir/jsonlog" "$REGSWEEP" --log-format json check -c "$dir/missing.stack"
"$RS_PYTHON" - "$dir/jsonlog.err" "$dir/missing.stack" <<'PY' || fail "--log-format json: $(cat "$dir/jsonlog.err")"
import json, re, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == 1, lines
o = json.loads(lines[0])
assert sorted(o) == ["level", "message", "time"], o
assert o["level"] == "error" and o["message"] == sys.argv[2] + ": cannot read the stack file", o
assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", o["time"]), o
PY
stream=$(stat -c '%d:%i' "$dir/jsonlog.err")
JOURNAL_STREAM=$stream "$REGSWEEP" check -c "$dir/missing.stack" 2>"$dir/jsonlog.err" || true
assert_eq "<3>regsweep: error: $dir/missing.stack: cannot read the stack file" \
	"$(cat "$dir/jsonlog.err")" "a syslog priority for journald"
echo "PASS: offline check and decide"
