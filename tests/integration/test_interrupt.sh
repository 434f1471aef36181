#!/usr/bin/env bash
# SIGINT in the middle of the deletions: no new request is sent, those in flight finish,
# the summary counts exactly what the registry deleted, and the exit code is 1.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

reg_start
trap reg_stop EXIT

echo "bulk sig/app 1 300 2023-11-14T22:13:20Z 3600" | "$RS_SEED" "$REG_URL" >/dev/null
# Paced to 100 requests a second so the deletions take seconds, not milliseconds.
cat >"$REG_DIR/s.stack" <<STACK
registry = { url = "$REG_URL"; concurrency = 2; max_requests_per_second = 100; };
guards = { max_delete_percent = 100; };
policy = ( { module = "keep_last"; control = "required"; args = { count = 2; }; } );
STACK

"$REGSWEEP" run -c "$REG_DIR/s.stack" >"$REG_DIR/out" 2>"$REG_DIR/err" &
pid=$!
for ((i = 0; i < 600 && $(reg_delete_count) < 10; i++)); do
	sleep 0.1
done
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?

assert_eq 1 "$rc" "exit code after SIGINT"
deleted=$(reg_delete_count)
[ "$deleted" -ge 10 ] && [ "$deleted" -lt 298 ] || fail "interrupt came too late: $deleted deleted"
assert_contains "$(cat "$REG_DIR/out")" \
	"deleted $deleted of 298 manifests ($deleted tags); $((298 - deleted)) not sent" \
	"summary counts exactly what the registry deleted"
assert_contains "$(cat "$REG_DIR/err")" "interrupted: requests not yet sent were not sent" \
	"interrupt line"
assert_eq $((300 - deleted)) "$(reg_tags sig/app-1 | wc -l)" "tags left"
assert_eq 2 "$(reg_tags sig/app-1 | grep -cxE 'build-(299|300)')" "the two newest survive"
echo "PASS: interrupt"
