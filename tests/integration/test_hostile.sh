#!/usr/bin/env bash
# Against tests/tools/hostile_registry.py, a registry that is broken or hostile on purpose
# (issue 10), every run ends in bounded time with exact outcomes:
#  - lists whose Link headers never end (A -> B -> A, a self link with a changing query,
#    an endless `last=`, a million entries) leave that repository untouched with the
#    reason, in the scan, in apply's re-read and for the catalog (the run then fails);
#  - a Link or a 3xx to another origin, on tag lists and the catalog, is not followed and
#    nothing reaches that origin; a 307 on a DELETE to another origin is no deletion;
#  - after a blob redirected to another origin, a 401 there with a Bearer realm there gets
#    no credentials, and a registry naming a second realm gets none sent to it;
#  - a tag named outside the tag grammar keeps its image and every tag on it (never
#    planned, never journaled), warned once per repository; one whose manifest cannot be
#    read leaves its repository untouched; repeated tags count once, entries that are not
#    strings are dropped, each with a warning.
# The second instance of the tool, on another port, is "another origin".
set -euo pipefail
. "$(dirname "$0")/lib.sh"

T=$(mktemp -d -t regsweep-hostile.XXXXXX) || fail "mktemp failed"
_hostile_pids=()
hostile_stop() {
	local pid
	for pid in "${_hostile_pids[@]}"; do
		_rs_stop_pid "$pid"
	done
	_hostile_pids=()
}
cleanup() {
	hostile_stop
	if [[ ${KEEP_TMP:-} == 1 ]]; then
		echo "kept $T" >&2
	else
		rm -rf -- "$T"
	fi
}
trap cleanup EXIT
# Default journals land with the test, not in the home directory.
export XDG_STATE_HOME=$T/state

# hostile_start NAME SCENARIO [OPTION...]: starts hostile_registry.py; sets H_URL and
# H_LOG (one line per request: EPOCH METHOD PATH AUTH STATUS).
hostile_start() {
	local name=$1
	shift
	H_LOG=$T/$name.log
	: >"$H_LOG"
	_rs_helper_start "$T/$name.out" "$RS_PYTHON" "$RS_TOOLS_DIR/hostile_registry.py" \
		--log "$H_LOG" --lifetime 600 --scenario "$@"
	_hostile_pids+=("$_rs_helper_pid")
	H_URL=http://127.0.0.1:$_rs_helper_port
}

# other_start: the other origin; sets O_URL and O_LOG.
other_start() {
	hostile_start "other-$1" other
	O_URL=$H_URL O_LOG=$H_LOG
}

# mkstack FILE URL [MORE REGISTRY SETTINGS]: keep_last 1 by created.
mkstack() {
	cat >"$1" <<STACK
registry = { url = "$2"; concurrency = 4; timeout = "20s"; retries = 1; ${3:-} };
policy = (
  { module = "keep_last"; control = "required"; args = { count = 1; order = "created"; }; }
);
STACK
}

# A hostile run that never ends is a failure, not a hang: 124 is nobody's expected code.
RS=(timeout 120 "$REGSWEEP")

# tags_of URL REPO [CURL OPTION...]: the tags the hostile registry lists now, sorted, space
# separated.
tags_of() {
	_reg_curl "${@:3}" "$1/v2/$2/tags/list" | "$RS_PYTHON" -c '
import json, sys
print(" ".join(sorted(t for t in json.load(sys.stdin)["tags"] if isinstance(t, str))))'
}

# has_tags URL REPO TAG...: fails unless each tag's manifest answers 200 (for a repository
# whose tags/list is hostile).
has_tags() {
	local url=$1 repo=$2 tag
	shift 2
	for tag in "$@"; do
		assert_eq 200 "$(_reg_curl -o /dev/null -w '%{http_code}' "$url/v2/$repo/manifests/$tag")" "$repo:$tag"
	done
}

# deletes_in LOG [REPO]: DELETE requests in LOG (of REPO).
deletes_in() {
	awk -F'\t' -v p="/v2/${2:-}" '$2 == "DELETE" && index($3, p) == 1' "$1" | wc -l
}

# took START LIMIT WHAT: fails when more than LIMIT seconds passed since START.
took() {
	(($(date +%s) - $1 <= $2)) || fail "$3 took $(($(date +%s) - $1)) s, more than $2 s"
}

# ok_app_cleaned URL WHAT [CURL OPTION...]: the sane repository lost ok1 and ok2, by two
# DELETEs the registry answered 202, and lists ok3 alone (not asked when URL is "": its
# tags/list then needs a token).
ok_app_cleaned() {
	local url=$1 what=$2
	shift 2
	assert_eq 2 "$(deletes_in "$H_LOG" ok/app)" "DELETEs in ok/app ($what)"
	assert_eq 2 "$(awk -F'\t' '$2 == "DELETE" && index($3, "/v2/ok/app/") == 1 && $5 == 202' "$H_LOG" |
		cut -f3 | sort -u | wc -l)" "distinct DELETEs of ok/app answered 202 ($what)"
	if [[ -n $url ]]; then
		assert_eq "ok3" "$(tags_of "$url" ok/app "$@")" "ok/app after $what"
	fi
}

# --- item 10: lists that do not end --------------------------------------------------------

hostile_start pag pagination
mkstack "$T/pag.stack" "$H_URL"
t0=$(date +%s)
expect_rc 1 "$T/pag" "${RS[@]}" run -c "$T/pag.stack"
took "$t0" 60 "the run against endless lists"
out=$(cat "$T/pag.out")
assert_contains "$out" 'untouched: loop/ab: GET /v2/loop/ab/tags/list?n=1000&last=ab1: Link rel="next" leads back to a page already read' "A -> B -> A"
assert_contains "$out" 'untouched: loop/self: GET /v2/loop/self/tags/list?n=1000&r=5: Link rel="next" keeps leading to pages without new entries' "self link, changing query"
assert_contains "$out" 'untouched: loop/endless: GET /v2/loop/endless/tags/list?n=1000&last=t9998: more than 10000 pages: the list is not read to its end' "endless last="
assert_contains "$out" 'untouched: loop/big: GET /v2/loop/big/tags/list?n=1000&last=t995000: more than 1000000 entries: the list is not read to its end' "a million entries"
assert_contains "$(cat "$T/pag.err")" "4 of 5 repositories left untouched" "run's error"
assert_contains "$out" "deleted 2 of 2 manifests" "run's summary"
ok_app_cleaned "$H_URL" "the pagination run"
assert_eq 2 "$(deletes_in "$H_LOG")" "DELETEs in all (none in the looping repositories)"
# The bounds hold exactly: 10,000 pages of loop/endless, 201 of loop/big (1 + 200 x 5,000).
assert_eq 10000 "$(grep -c $'\t/v2/loop/endless/tags/list' "$H_LOG")" "pages of loop/endless"
assert_eq 201 "$(grep -c $'\t/v2/loop/big/tags/list' "$H_LOG")" "pages of loop/big"
assert_eq 2 "$(grep -c $'\t/v2/loop/ab/tags/list' "$H_LOG")" "pages of loop/ab (A, B; A again is not asked)"
assert_eq 6 "$(grep -c $'\t/v2/loop/self/tags/list' "$H_LOG")" "pages of loop/self"
hostile_stop

# The catalog: the run fails as a whole, nothing deleted.
hostile_start cat catalog-loop
mkstack "$T/cat.stack" "$H_URL"
expect_rc 1 "$T/cat" "${RS[@]}" run -c "$T/cat.stack"
assert_contains "$(cat "$T/cat.err")" 'GET /v2/_catalog?n=1000&last=ok/app: Link rel="next" leads back to a page already read' "catalog A -> B -> A"
assert_eq 0 "$(deletes_in "$H_LOG")" "DELETEs after a looping catalog"
hostile_stop

hostile_start cate catalog-endless
mkstack "$T/cate.stack" "$H_URL"
t0=$(date +%s)
expect_rc 1 "$T/cate" "${RS[@]}" plan -c "$T/cate.stack"
took "$t0" 60 "the plan against an endless catalog"
assert_contains "$(cat "$T/cate.err")" 'GET /v2/_catalog?n=1000&last=r9998: more than 10000 pages: the list is not read to its end' "endless catalog"
assert_eq 10000 "$(grep -c $'\t/v2/_catalog' "$H_LOG")" "catalog pages asked"
hostile_stop

# apply's re-read: flip/app reads sane for the plan, loops when apply reads it again. Its
# deletions are skipped, ok/app's go ahead.
hostile_start flip flip
mkstack "$T/flip.stack" "$H_URL"
expect_rc 0 "$T/flip-plan" "${RS[@]}" plan -c "$T/flip.stack" -o "$T/flip.plan"
t0=$(date +%s)
expect_rc 3 "$T/flip-apply" "${RS[@]}" apply "$T/flip.plan" -c "$T/flip.stack"
took "$t0" 60 "apply against a list that loops on the re-read"
assert_contains "$(cat "$T/flip-apply.err")" 'flip/app: its 2 deletions skipped: could not re-resolve tags: flip/app: GET /v2/flip/app/tags/list?n=1000&last=f1: Link rel="next" leads back to a page already read' "apply's re-read"
assert_eq 0 "$(deletes_in "$H_LOG" flip/app)" "DELETEs in flip/app"
has_tags "$H_URL" flip/app f1 f2 f3 # its tags/list loops now
ok_app_cleaned "$H_URL" "apply"
hostile_stop

# --- item 11: lists and DELETEs sent to another origin --------------------------------------

other_start off
hostile_start off offsite --other "$O_URL"
mkstack "$T/off.stack" "$H_URL"
expect_rc 1 "$T/off" "${RS[@]}" run -c "$T/off.stack"
out=$(cat "$T/off.out")
assert_contains "$out" "untouched: off/link: GET /v2/off/link/tags/list?n=1000: Link rel=\"next\" leads to another origin, $O_URL: not followed" "Link to another origin"
assert_contains "$out" "untouched: off/redirect: GET /v2/off/redirect/tags/list?n=1000: a redirect to another origin, $O_URL, not followed (HTTP 307)" "307 to another origin on tags/list"
assert_contains "$(cat "$T/off.err")" "a redirect to another origin, $O_URL, not followed (HTTP 307)" "DELETE's failure"
assert_contains "$out" "deleted 2 of 4 manifests" "run's summary: the redirected DELETEs are not counted"
assert_eq "o1 o2 o3" "$(tags_of "$H_URL" off/link)" "off/link untouched"
has_tags "$H_URL" off/redirect o1 o2 o3
assert_eq "o1 o2 o3" "$(tags_of "$H_URL" off/delete)" "off/delete: nothing deleted"
assert_eq 2 "$(deletes_in "$H_LOG" off/delete)" "DELETEs the registry answered 307"
ok_app_cleaned "$H_URL" "the offsite run"
assert_eq "" "$(cat "$O_LOG")" "requests that reached the other origin"
hostile_stop

for sc in catalog-redirect catalog-link; do
	other_start "$sc"
	hostile_start "$sc" "$sc" --other "$O_URL"
	mkstack "$T/$sc.stack" "$H_URL"
	expect_rc 1 "$T/$sc" "${RS[@]}" plan -c "$T/$sc.stack"
	case $sc in
	catalog-redirect) want="GET /v2/_catalog?n=1000: a redirect to another origin, $O_URL, not followed (HTTP 302)" ;;
	catalog-link) want="GET /v2/_catalog?n=1000: Link rel=\"next\" leads to another origin, $O_URL: not followed" ;;
	esac
	assert_contains "$(cat "$T/$sc.err")" "$want" "$sc"
	assert_eq "" "$(cat "$O_LOG")" "requests that reached the other origin ($sc)"
	hostile_stop
done

# --- item 5: credentials only to the registry and its first realm --------------------------

pw="pw-$(openssl rand -hex 12)"
printf '%s\n' "$pw" >"$T/ci.pass"
chmod 600 "$T/ci.pass"
auth="auth = { username = \"ci\"; password_file = \"$T/ci.pass\"; };"

# A config blob of evil/app redirected to the other origin, which answers 401 with a
# Bearer realm of its own: followed without credentials, and the 401 is the answer.
other_start auth
hostile_start auth auth-offsite --other "$O_URL" --user ci --password-file "$T/ci.pass"
mkstack "$T/auth.stack" "$H_URL" "$auth"
expect_rc 1 "$T/auth" "${RS[@]}" run -c "$T/auth.stack"
assert_contains "$(cat "$T/auth.out")" "untouched: evil/app: GET /v2/evil/app/blobs/sha256:" "evil/app untouched"
assert_contains "$(cat "$T/auth.out")" "answered 401; credentials go only to $H_URL (HTTP 401)" "evil/app's reason"
ok_app_cleaned "$H_URL" "the Basic-auth run" -u "ci:$pw"
assert_eq "" "$(awk -F'\t' '$4 != "-"' "$O_LOG")" "requests with credentials at the other origin"
assert_eq "" "$(awk -F'\t' '$3 ~ /^\/token/' "$O_LOG")" "token requests at the other origin"
# One or two: once the first answer has left evil/app untouched, nothing more is sent for
# it, so the second config GET goes out only if it was submitted before that answer came.
n=$(awk -F'\t' '$3 ~ /^\/v2\/evil\/app\/blobs\//' "$O_LOG" | wc -l)
[ "$n" -ge 1 ] && [ "$n" -le 2 ] || fail "blob GETs that went there, without credentials: expected 1 or 2, got $n"
! grep -qF "$pw" "$T/auth.out" "$T/auth.err" "$O_LOG" "$H_LOG" || fail "the password shows in the output or a log"
hostile_stop

# The registry's realm is its own /token; a later challenge names the other origin's.
other_start realm
hostile_start realm realm-switch --other "$O_URL" --user ci --password-file "$T/ci.pass"
mkstack "$T/realm.stack" "$H_URL" "$auth"
expect_rc 1 "$T/realm" "${RS[@]}" run -c "$T/realm.stack"
assert_contains "$(cat "$T/realm.out")" "untouched: evil/app: GET /v2/evil/app/tags/list?n=1000: registry $H_URL: a Bearer challenge names the realm $O_URL/token, not $H_URL/token as first announced; credentials go to that one only (HTTP 401)" "a second realm"
ok_app_cleaned "" "the token-auth run"
assert_eq "" "$(cat "$O_LOG")" "requests that reached the other origin's realm"
hostile_stop

# --- items 2 and 12: tag names and list entries ----------------------------------------------

hostile_start tags tags
mkstack "$T/tags.stack" "$H_URL"
expect_rc 1 "$T/tags" "${RS[@]}" run -c "$T/tags.stack" -o "$T/tags.plan" --journal "$T/tags.journal"
err=$(cat "$T/tags.err")
assert_eq 1 "$(grep -c 'bad/names: 2 tags outside the tag grammar (the first: "\.\./x"): kept, with the images they name' <<<"$err")" "one warning for bad/names"
assert_eq 1 "$(grep -c 'bad/names' <<<"$err")" "warnings naming bad/names"
assert_eq 1 "$(grep -c 'dup/app: 2 entries of the tags list listed again: counted once' <<<"$err")" "repeated tags warned"
assert_eq 1 "$(grep -c 'nonstr/app: 4 entries of the tags list not a string: ignored' <<<"$err")" "entries that are not strings warned"
assert_contains "$(cat "$T/tags.out")" "untouched: bad/gone: GET /v2/bad/gone/manifests/%2E.%2Fghost: a tag named outside the tag grammar names no manifest the registry serves, so its image cannot be kept" "bad/gone untouched"
assert_contains "$(cat "$T/tags.out")" "deleted 7 of 7 manifests (7 tags)" "run's summary"
# bad/names: only "mid" goes; "old" shares its image with "../x", "ctl..." is kept alone.
assert_eq $'../x\nctl\e[31m\nnew\nold' "$(_reg_curl "$H_URL/v2/bad/names/tags/list" | "$RS_PYTHON" -c '
import json, sys
print("\n".join(sorted(json.load(sys.stdin)["tags"])))')" "bad/names after the run"
assert_eq "../ghost g1 g2" "$(tags_of "$H_URL" bad/gone)" "bad/gone untouched"
has_tags "$H_URL" dup/app c
assert_eq "404 404" "$(for t in a b; do _reg_curl -o /dev/null -w '%{http_code} ' "$H_URL/v2/dup/app/manifests/$t"; done | sed 's/ $//')" "dup/app:a and :b after the run"
assert_eq "c" "$(tags_of "$H_URL" nonstr/app)" "nonstr/app after the run"
assert_eq 1 "$(deletes_in "$H_LOG" bad/names)" "DELETEs in bad/names"
assert_eq 0 "$(deletes_in "$H_LOG" bad/gone)" "DELETEs in bad/gone"
"$RS_PYTHON" - "$T/tags.plan" "$T/tags.journal" <<'PY' || fail "plan or journal (above)"
import json, sys
plan = json.load(open(sys.argv[1]))
repos = {r["name"]: r for r in plan["repositories"]}
bad = 0
def want(cond, what):
    global bad
    if not cond:
        print(what)
        bad = 1
names = {t["tag"]: t for t in repos["bad/names"]["tags"]}
for tag, reason in (("../x", "invalid tag name: kept"),
                    ("ctl\x1b[31m", "invalid tag name: kept"),
                    ("old", "shares its image with a tag of invalid name: kept")):
    t = names.get(tag, {})
    want(t.get("verdict") == "keep" and t.get("reason") == reason,
         "bad/names %r: %r" % (tag, t))
want([d["tags"] for d in repos["bad/names"]["deletions"]] == [["mid"]],
     "bad/names deletions: %r" % repos["bad/names"]["deletions"])
for r in ("dup/app", "nonstr/app"):
    tags = [t["tag"] for t in repos[r]["tags"]]
    want(sorted(tags) == ["a", "b", "c"], "%s tags in the plan: %r" % (r, tags))
journal = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
journaled = [t for e in journal for t in e.get("tags", [])]
want(sorted(journaled) == ["a", "a", "b", "b", "mid", "ok1", "ok2"],
     "tags journaled: %r" % journaled)
sys.exit(bad)
PY
# Item 7: what a registry names reaches a terminal escaped: no ESC, no forged line.
expect_rc "0|1" "$T/tags-v" "${RS[@]}" plan -v -c "$T/tags.stack"
if grep -q $'\e' "$T/tags-v.out" "$T/tags-v.err"; then
	fail "a raw ESC byte reached the output"
fi
assert_contains "$(cat "$T/tags-v.out")" 'keep   bad/names:ctl\x1b[31m  invalid tag name: kept' \
	"the escape sequence, escaped"
hostile_stop

echo "test_hostile: ok"
