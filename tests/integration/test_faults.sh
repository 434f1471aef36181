#!/usr/bin/env bash
# Through tests/tools/fault_proxy.py: 429 with Retry-After on tag lists and a DELETE, a 503
# on the catalog, connection resets on manifests, slow blobs, a 503 burst on DELETEs, and
# DELETEs the registry carried out but whose answer was lost (reset, 502): the run still
# leaves exactly the right tags, waits as long as Retry-After says, never sends a DELETE
# again once one was answered, counts a 404 after such a retry as done, and exits 0. A tag
# list that keeps failing is tried exactly 1 + retries times and its repository left alone
# (exit 1). max_requests_per_second holds.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

trap 'proxy_stop; reg_stop' EXIT
reg_start

{
	for r in a b c d e; do
		for i in 1 2 3 4 5; do
			echo "image f/$r e$i 2024-01-0${i}T00:00:00Z"
		done
	done
	for i in 1 2 3; do echo "image f/y y$i 2024-02-0${i}T00:00:00Z"; done
	for i in 1 2 3 4; do echo "image f/z z$i 2024-03-0${i}T00:00:00Z"; done
} | "$RS_SEED" "$REG_URL" >/dev/null

RS=(timeout 300 "$REGSWEEP")

# mkstack FILE INCLUDE 'MORE REGISTRY SETTINGS': keep_last 2 by created, through the proxy.
mkstack() {
	cat >"$1" <<STACK
registry = { url = "$PROXY_URL"; concurrency = 4; timeout = "20s"; $3 };
repositories = { include = [ "$2" ]; };
policy = (
  { module = "keep_last"; control = "required"; args = { count = 2; order = "created"; }; }
);
STACK
}

# The proxy's log sorted by arrival: EPOCH CONN METHOD PATH RULE UPSTREAM ANSWER.
plog() { LC_ALL=C sort -t$'\t' -k1,1n "$PROXY_LOG"; }

# --- every kind of fault, all recoverable ----------------------------------------------------

cat >"$REG_DIR/faults.json" <<'JSON'
{"rules": [
  {"name": "catalog-503", "method": "GET", "path": "^/v2/_catalog", "count": 1, "status": 503},
  {"name": "tags-429", "method": "GET", "path": "/tags/list", "per_path": true, "count": 1,
   "status": 429, "retry_after": "1"},
  {"name": "manifest-reset", "method": "GET|HEAD", "path": "/manifests/", "count": 3, "reset": true},
  {"name": "blob-slow", "method": "GET", "path": "/blobs/", "count": 5, "delay": 0.3},
  {"name": "delete-503", "method": "DELETE", "count": 3, "status": 503},
  {"name": "delete-done-reset", "method": "DELETE", "skip": 3, "count": 2, "forward": true,
   "reset": true},
  {"name": "delete-done-502", "method": "DELETE", "skip": 5, "count": 1, "forward": true,
   "status": 502},
  {"name": "delete-429", "method": "DELETE", "skip": 6, "count": 1, "status": 429,
   "retry_after": "2"}
]}
JSON
proxy_start "$REG_DIR/faults.json"
s=$REG_DIR/faults.stack
mkstack "$s" '^f/[a-e]$' 'retries = 4;'
expect_rc 0 "$REG_DIR/run" "${RS[@]}" run -c "$s"
assert_contains "$(cat "$REG_DIR/run.out")" "deleted 15 of 15 manifests" "run's summary"

# every fault was met
for rule in catalog-503 tags-429 manifest-reset delete-503 delete-done-reset delete-done-502 delete-429; do
	[[ $(awk -F'\t' -v r="$rule" '$5 == r && $7 != $6' "$PROXY_LOG" | wc -l) -gt 0 ]] ||
		fail "fault $rule never fired; the test is void"
done
assert_eq 5 "$(awk -F'\t' '$5 == "tags-429"' "$PROXY_LOG" | wc -l)" "429s on tag lists"

# A DELETE the client got an answer to (202 or 404) is never sent again; one is sent again
# only when the registry's answer was lost on the way (reset, 502).
plog | awk -F'\t' '$3 == "DELETE" && $6 != "-" {
	if ($4 in answered) { print "DELETE " $4 " sent again after the client got " answered[$4]; bad = 1 }
	if ($7 == $6) answered[$4] = $6
} END { exit bad }' || fail "a DELETE was repeated after it had been answered (above)"
assert_eq "" "$(reg_delete_202_per_digest | awk '$1 > 1')" "digests the registry deleted twice"
assert_eq 15 "$(reg_delete_status_count 202)" "DELETEs answered 202"
assert_eq 3 "$(reg_delete_status_count 404)" "DELETEs answered 404 (the retries of the 3 lost answers)"
assert_eq 18 "$(reg_delete_count)" "DELETE requests the registry saw"

# Retry-After honoured: the retry of a 429 came at least that many seconds later.
plog | awk -F'\t' 'BEGIN { ra["tags-429"] = 1; ra["delete-429"] = 2 }
{
	key = $3 " " $4
	if (key in since) {
		gap = $1 - since[key]
		if (gap < need[key] - 0.02) {
			printf "%s retried %.3fs after a 429 with Retry-After: %d\n", key, gap, need[key]
			bad = 1
		}
		delete since[key]
	}
	if (($5 in ra) && $7 == 429) { since[key] = $1; need[key] = ra[$5] }
} END {
	for (k in since) { print "never retried after its 429: " k; bad = 1 }
	exit bad
}' || fail "Retry-After not honoured (above)"

# Resets and 503s were retried until answered, and every request stayed within 1 + retries.
plog | awk -F'\t' '{
	key = $3 " " $4
	n[key]++
	if ($7 == "reset" || $7 == 503 || $7 == 502) open[key] = $7
	else if ($7 ~ /^[0-9]+$/ && $7 < 500 && $7 != 429) delete open[key]
} END {
	for (k in open) { print "no answer after " open[k] ": " k; bad = 1 }
	for (k in n) if (n[k] > 5) { print n[k] " attempts (retries = 4): " k; bad = 1 }
	exit bad
}' || fail "a fault was not retried, or retried too often (above)"
proxy_stop

# --- a tag list that keeps failing: 1 + retries attempts, repository left alone ------------

cat >"$REG_DIR/stuck.json" <<'JSON'
{"rules": [
  {"name": "stuck", "method": "GET", "path": "^/v2/f/y/tags/list", "count": -1, "status": 503}
]}
JSON
mv "$PROXY_LOG" "$REG_DIR/proxy-faults.log" # kept for a look with KEEP_TMP=1
proxy_start "$REG_DIR/stuck.json"
s=$REG_DIR/stuck.stack
mkstack "$s" '^f/[yz]$' 'retries = 2;'
expect_rc 1 "$REG_DIR/stuck" "${RS[@]}" run -c "$s"
assert_contains "$(cat "$REG_DIR/stuck.out" "$REG_DIR/stuck.err")" "f/y" "the failed repository is named"
assert_eq 3 "$(awk -F'\t' '$5 == "stuck"' "$PROXY_LOG" | wc -l)" "attempts of f/y's tag list with retries = 2"
assert_eq 20 "$(reg_delete_count)" "DELETE requests after the stuck run (f/z's two)"
proxy_stop

# --- max_requests_per_second -------------------------------------------------------------------

mv "$PROXY_LOG" "$REG_DIR/proxy-stuck.log"
proxy_start -
s=$REG_DIR/paced.stack
mkstack "$s" '^f/[a-e]$' 'max_requests_per_second = 8;'
expect_rc 0 "$REG_DIR/paced" "${RS[@]}" plan -c "$s"
assert_contains "$(cat "$REG_DIR/paced.out")" "total: 5 repositories, 10 tags, 10 kept, 0 to delete" "paced plan"
n=$(wc -l <"$PROXY_LOG")
((n >= 20)) || fail "paced plan: only $n requests; the test is void"
plog | awk -F'\t' '{ t[NR] = $1 } END {
	j = 1
	for (i = 1; i <= NR; i++) {
		while (t[i] - t[j] >= 1.0) j++
		if (i - j + 1 > max) max = i - j + 1
	}
	if (max > 9) { printf "%d requests within one second, max_requests_per_second = 8\n", max; exit 1 }
}' || fail "max_requests_per_second not held (above)"
proxy_stop

# --- apply's re-read fails for a whole repository ----------------------------------------------

# A plan for f/y through a clean proxy, applied through one where f/y's tag list fails: every
# deletion is skipped, and a warning says why (the summary points at the warnings).
proxy_start -
s=$REG_DIR/reread.stack
mkstack "$s" '^f/y$' 'retries = 0;'
expect_rc 0 "$REG_DIR/reread-plan" "${RS[@]}" plan -c "$s" -o "$REG_DIR/reread.json"
proxy_stop
cat >"$REG_DIR/reread-faults.json" <<'JSON'
{"rules": [{"name": "tags-500", "method": "GET", "path": "^/v2/f/y/tags/list", "count": -1, "status": 500}]}
JSON
mv "$PROXY_LOG" "$REG_DIR/proxy-reread-plan.log"
proxy_start "$REG_DIR/reread-faults.json"
expect_rc 3 "$REG_DIR/reread" "${RS[@]}" apply "$REG_DIR/reread.json" -c "$s" --registry "$PROXY_URL"
assert_contains "$(cat "$REG_DIR/reread.err")" \
	"warning: f/y: its 1 deletions skipped: could not re-resolve tags: f/y: GET /v2/f/y/tags/list?n=1000: HTTP 500" \
	"a warning for the skipped repository"
assert_contains "$(cat "$REG_DIR/reread.out")" "1 skipped (why: the warnings above)" "the summary"
proxy_stop

# --- what is left ----------------------------------------------------------------------------

for r in a b c d e; do
	assert_eq "e4 e5" "$(tags_line "f/$r")" "tags left in f/$r"
done
assert_eq "y1 y2 y3" "$(tags_line f/y)" "tags left in f/y (its tag list never answered)"
assert_eq "z3 z4" "$(tags_line f/z)" "tags left in f/z"
assert_eq 17 "$(reg_delete_status_count 202)" "DELETEs answered 202 in all"
echo "PASS: faults"
