#!/usr/bin/env bash
# Files regsweep writes, and plans it reads, on a machine others may share: a --journal that
# is not a journal or is a symlink is refused before any DELETE; a symlink planted where the
# plan's temporary file used to go redirects nothing; -o naming a pipe writes through it; a
# plan file that cannot be written fails before the registry is asked anything; a plan dated
# in the future is refused.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

reg_start
trap reg_stop EXIT

"$RS_SEED" "$REG_URL" >/dev/null <<'SPEC'
image files/app a1 2024-01-01T00:00:00Z
image files/app a2 2024-01-02T00:00:00Z
image files/app a3 2024-01-03T00:00:00Z
SPEC
stack=$REG_DIR/files.stack
cat >"$stack" <<STACK
registry = { url = "$REG_URL"; };
policy = ( { module = "keep_last"; control = "required"; args = { count = 1; }; } );
STACK

# requests: how many requests the registry's access log has so far.
requests() { grep -cE '^[^ ]+ - [^ ]+ \[[^]]+\] "[A-Z]+ /v2/' "$REG_LOG" || true; }

# A non-empty file that is not a journal is not appended to (undo could not read it back).
echo "my notes" >"$REG_DIR/notes.txt"
expect_rc 2 "$REG_DIR/notes" "$REGSWEEP" run -c "$stack" --journal "$REG_DIR/notes.txt"
assert_contains "$(cat "$REG_DIR/notes.err")" \
	"$REG_DIR/notes.txt: not a regsweep journal (" "a file that is not a journal"
assert_eq "my notes" "$(cat "$REG_DIR/notes.txt")" "the file is left as it was"
assert_eq 0 "$(reg_delete_count)" "no DELETE"

# A symlink where the journal goes is not followed.
echo "precious" >"$REG_DIR/victim"
ln -s "$REG_DIR/victim" "$REG_DIR/link.jsonl"
expect_rc 2 "$REG_DIR/link" "$REGSWEEP" run -c "$stack" --journal "$REG_DIR/link.jsonl"
assert_contains "$(cat "$REG_DIR/link.err")" \
	"$REG_DIR/link.jsonl: a symbolic link: give --journal a regular file" "a symlinked journal"
assert_eq "precious" "$(cat "$REG_DIR/victim")" "the link's target is left as it was"
assert_eq 0 "$(reg_delete_count)" "no DELETE"

# plan -o wrote P.tmp with fopen("w"): a symlink planted there was followed.
ln -s "$REG_DIR/victim" "$REG_DIR/plan.json.tmp"
expect_rc 0 "$REG_DIR/plan" "$REGSWEEP" plan -c "$stack" -o "$REG_DIR/plan.json"
assert_eq "precious" "$(cat "$REG_DIR/victim")" "a planted symlink redirects nothing"
[[ -f $REG_DIR/plan.json && ! -L $REG_DIR/plan.json ]] || fail "the plan is a regular file"
"$RS_PYTHON" -c 'import json, sys; json.load(open(sys.argv[1]))' "$REG_DIR/plan.json" ||
	fail "the plan file is not JSON"
assert_eq "" "$(find "$REG_DIR" -maxdepth 1 -name '.plan.json.*')" "no temporary file left"

# -o naming a pipe (or /dev/stdout, a terminal) writes through it: renaming a new file over
# it would replace the pipe, the device or the link itself.
mkfifo "$REG_DIR/plan.fifo"
# bounded: if the pipe were replaced, nothing would ever open it for writing
timeout 60 cat "$REG_DIR/plan.fifo" >"$REG_DIR/from-fifo.json" &
reader=$!
expect_rc 0 "$REG_DIR/fifo" "$REGSWEEP" plan -c "$stack" -o "$REG_DIR/plan.fifo"
[[ -p $REG_DIR/plan.fifo ]] || fail "the pipe was replaced by a file"
wait "$reader" || fail "nothing was written through the pipe"
"$RS_PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["summary"]["tags_deleted"])' \
	"$REG_DIR/from-fifo.json" >"$REG_DIR/fifo.deleted" || fail "what came through the pipe is not JSON"
assert_eq 2 "$(cat "$REG_DIR/fifo.deleted")" "the plan came through the pipe"

# A plan file that cannot be written fails first: no request at all.
before=$(requests)
[[ $before -gt 0 ]] || fail "the access log shows no request: the count below proves nothing"
expect_rc 2 "$REG_DIR/nodir" "$REGSWEEP" plan -c "$stack" -o "$REG_DIR/missing/p.json"
assert_eq "regsweep: error: $REG_DIR/missing/p.json: cannot write there: No such file or directory" \
	"$(errtext "$REG_DIR/nodir.err")" "an unwritable plan file"
assert_eq "$before" "$(requests)" "requests before failing"

# A plan dated in the future (clock or forgery) is refused, sealed or not.
"$RS_PYTHON" - "$REG_DIR/plan.json" "$REG_DIR/future.json" <<'PY'
import hashlib, json, sys
plan = json.load(open(sys.argv[1]))
del plan["plan_sha256"]
plan["created"] = "2999-01-01T00:00:00Z"
compact = json.dumps(plan, separators=(",", ":"), ensure_ascii=False)
plan["plan_sha256"] = "sha256:" + hashlib.sha256(compact.encode()).hexdigest()
json.dump(plan, open(sys.argv[2], "w"), indent="\t")
PY
expect_rc 3 "$REG_DIR/future" "$REGSWEEP" apply "$REG_DIR/future.json"
assert_contains "$(cat "$REG_DIR/future.err")" "$REG_DIR/future.json: the plan is dated " \
	"a plan from the future"
assert_eq 0 "$(reg_delete_count)" "no DELETE"
assert_eq "a1 a2 a3" "$(tags_line files/app)" "every tag still there"
echo "PASS: local files"
