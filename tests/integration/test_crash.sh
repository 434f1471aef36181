#!/usr/bin/env bash
# kill -9 in the middle of an apply, at several points (journal written but no DELETE
# answered yet, a few DELETEs in, most of them in), and then `undo` of its journal: every
# tag names the digest it named before, and every index child answers again. The journal
# is synced before each batch of DELETEs is sent, so nothing deleted is missing from it.
# Two runs at once on one registry: the second waits for nothing and exits 4.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

reg_start
trap 'proxy_stop; reg_stop' EXIT

spec=""
for i in $(seq -w 1 24); do
	spec+="image crash/app b$i 2024-01-$i""T00:00:00Z"$'\n'
done
"$RS_SEED" "$REG_URL" >/dev/null <<SPEC
$spec
index crash/multi i1 2024-02-01T00:00:00Z 2024-02-01T01:00:00Z
index crash/multi i2 2024-02-02T00:00:00Z 2024-02-02T01:00:00Z docker
index crash/multi i3 2024-02-03T00:00:00Z 2024-02-03T01:00:00Z
SPEC

listing() { reg_listing crash/app crash/multi; }
before=$(listing)
assert_eq 27 "$(wc -l <<<"$before")" "tags seeded"

# DELETEs are held up a little on their way, so the run can be killed among them.
cat >"$REG_DIR/slow.json" <<'JSON'
{"rules": [{"name": "slow-delete", "method": "DELETE", "count": -1, "delay": 0.25}]}
JSON
proxy_start "$REG_DIR/slow.json"
cat >"$REG_DIR/crash.stack" <<STACK
registry = { url = "$PROXY_URL"; concurrency = 2; };
policy = ( { module = "keep_last"; control = "required"; args = { count = 1; }; } );
STACK

# crash_at N: runs, kills -9 once N DELETEs have been answered by the registry (or, for 0,
# once the journal holds a line), then undoes the journal and checks every tag.
crash_at() {
	local n=$1 j=$REG_DIR/crash-$1.jsonl base pid i
	base=$(reg_delete_count)
	"$REGSWEEP" run -c "$REG_DIR/crash.stack" --journal "$j" >/dev/null 2>&1 &
	pid=$!
	for ((i = 0; i < 600; i++)); do
		if ((n == 0)); then
			[[ -s $j ]] && break
		else
			(($(reg_delete_count) - base >= n)) && break
		fi
		kill -0 "$pid" 2>/dev/null || fail "crash at $n: the run ended before the kill"
		sleep 0.02
	done
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null || true
	local done_now=$(($(reg_delete_count) - base))
	((done_now >= n)) || fail "crash at $n: only $done_now DELETEs when killed"
	[[ $(listing) != "$before" ]] || ((n == 0)) || fail "crash at $n: nothing was deleted"
	"$REGSWEEP" undo "$j" >"$REG_DIR/undo-$n.out" 2>"$REG_DIR/undo-$n.err" ||
		fail "crash at $n: undo failed: $(cat "$REG_DIR/undo-$n.err")"
	assert_eq "$before" "$(listing)" "crash at $n: every tag on its old digest after undo"
	echo "crash at $n: $(cat "$REG_DIR/undo-$n.out")"
}
crash_at 0
crash_at 3
crash_at 12

# Two overlapping runs on one registry (a nightly job that overran): the second exits 4 at
# once and deletes nothing; the first deletes each manifest once.
base=$(reg_delete_count)
"$REGSWEEP" run -c "$REG_DIR/crash.stack" --journal "$REG_DIR/first.jsonl" \
	>"$REG_DIR/first.out" 2>"$REG_DIR/first.err" &
pid=$!
for ((i = 0; i < 600 && $(reg_delete_count) == base; i++)); do
	sleep 0.02
done
expect_rc 4 "$REG_DIR/second" "$REGSWEEP" run -c "$REG_DIR/crash.stack"
assert_contains "$(cat "$REG_DIR/second.err")" \
	"another regsweep (pid $pid) is working on $PROXY_URL; nothing was done (lock " \
	"the second run names the first"
expect_rc 4 "$REG_DIR/second-undo" "$REGSWEEP" undo "$REG_DIR/crash-12.jsonl"
rc=0
wait "$pid" || rc=$?
assert_eq 0 "$rc" "the first run's exit code"
planned=$(sed -n 's/^deleted \([0-9]*\) of \([0-9]*\) manifests.*/\1 \2/p' "$REG_DIR/first.out")
[[ -n $planned && ${planned% *} == "${planned#* }" ]] || fail "the first run: $(cat "$REG_DIR/first.out")"
assert_eq "${planned% *}" "$(($(reg_delete_count) - base))" "DELETEs: each manifest once"
echo "PASS: crash"
