#!/usr/bin/env bash
# A registry with `auth: token` and tests/tools/token_server.py as its realm: run deletes
# exactly what keep_last says, asking ONE merged scope repository:<name>:pull,delete per
# repository (plan asks pull only) and reusing that token for every request of the
# repository; a user whose token lacks delete deletes nothing and exits 1; a wrong password
# gives one line and no DELETE; the token never shows in -v output or the plan file; a token
# the registry refuses is fetched again once and the run goes on.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

trap 'token_stop; reg_stop' EXIT
reg_start

"$RS_SEED" "$REG_URL" >/dev/null <<'SPEC'
image tok/app a1 2024-01-01T00:00:00Z
image tok/app a2 2024-01-02T00:00:00Z
image tok/app a3 2024-01-03T00:00:00Z
image tok/app a4 2024-01-04T00:00:00Z
image tok/lib l1 2024-02-01T00:00:00Z
image tok/lib l2 2024-02-02T00:00:00Z
image tok/lib l3 2024-02-03T00:00:00Z
image tok/keep k1 2024-03-01T00:00:00Z
image tok/keep k2 2024-03-02T00:00:00Z
SPEC
repos="tok/app tok/keep tok/lib"

pw_ci="ci-$(openssl rand -hex 12)"
pw_reader="rd-$(openssl rand -hex 12)"
users=$REG_DIR/users
cat >"$users" <<USERS
ci     $pw_ci      repository:*:pull,push,delete  registry:catalog:*
reader $pw_reader  repository:*:pull         registry:catalog:*
USERS
for u in ci reader wrong; do
	case $u in
	ci) p=$pw_ci ;;
	reader) p=$pw_reader ;;
	wrong) p="x$pw_ci" ;;
	esac
	printf '%s\n' "$p" >"$REG_DIR/$u.pass"
	chmod 600 "$REG_DIR/$u.pass"
done

token_start "$REG_DIR/tok1" "$users"
reg_restart_token_auth

RS=(timeout 300 "$REGSWEEP")

# mkstack FILE USER: keep_last 2 by created, as USER (password file USER.pass).
mkstack() {
	local user=$2
	[[ $user == wrong ]] && user=ci
	cat >"$1" <<STACK
registry = { url = "$REG_URL"; concurrency = 8;
  auth = { username = "$user"; password_file = "$REG_DIR/$2.pass"; }; };
policy = (
  { module = "keep_last"; control = "required"; args = { count = 2; order = "created"; }; }
);
STACK
}

# no_secret FILE...: no token issued so far (nor its signature), no password in them.
no_secret() {
	local f
	awk 'NF' "$TOKEN_TOKENS" >"$REG_DIR/secrets"
	awk -F. 'NF == 3 { print $3 }' "$TOKEN_TOKENS" >>"$REG_DIR/secrets"
	printf '%s\n' "$pw_ci" "$pw_reader" >>"$REG_DIR/secrets"
	for f in "$@"; do
		! grep -qF -f "$REG_DIR/secrets" "$f" || fail "a token or password shows in ${f##*/}"
	done
}

# token_lines_since N: the token server's log lines after the first N.
token_lines_since() { tail -n "+$(($1 + 1))" "$TOKEN_LOG"; }

# scopes_for SINCE REPO: every scope asked for REPO since line SINCE, one per line, sorted.
scopes_for() {
	token_lines_since "$1" | awk -F'\t' '{ print $5 }' | tr ' ' '\n' |
		grep -F "repository:$2:" | LC_ALL=C sort || true
}

# --- a user whose token cannot delete -----------------------------------------------------

s=$REG_DIR/reader.stack
mkstack "$s" reader
t0=$(wc -l <"$TOKEN_LOG")
expect_rc 1 "$REG_DIR/reader" "${RS[@]}" run -c "$s"
no_secret "$REG_DIR/reader.out" "$REG_DIR/reader.err"
grep -qiE 'denied|insufficient|unauthori[sz]ed|401|scope|permission|forbidden' "$REG_DIR/reader.err" ||
	fail "reader run: no clear error on stderr: $(head -c 1000 "$REG_DIR/reader.err")"
assert_eq 0 "$(reg_delete_status_count 202)" "DELETEs answered 202 for a user without delete"
reader_deletes=$(reg_delete_count)
((reader_deletes <= 6)) ||
	fail "reader run: $reader_deletes DELETEs for 3 digests (one try and one after a refresh each at most)"
assert_eq "repository:tok/app:pull,delete" "$(scopes_for "$t0" tok/app | sort -u)" \
	"scope the reader's run asks for tok/app"

# --- a wrong password: one line, no DELETE ---------------------------------------------------

s=$REG_DIR/wrong.stack
mkstack "$s" wrong
expect_rc '1|2' "$REG_DIR/wrong" "${RS[@]}" run -c "$s"
assert_eq 1 "$(wc -l <"$REG_DIR/wrong.err")" "stderr lines with a wrong password ($(cat "$REG_DIR/wrong.err"))"
! grep -qF "x$pw_ci" "$REG_DIR/wrong.out" "$REG_DIR/wrong.err" || fail "the wrong password shows"
assert_eq "$reader_deletes" "$(reg_delete_count)" "DELETE requests after a wrong password"

# --- plan asks pull only ---------------------------------------------------------------------

s=$REG_DIR/ci.stack
mkstack "$s" ci
t0=$(wc -l <"$TOKEN_LOG")
expect_rc 0 "$REG_DIR/plan" "${RS[@]}" plan -v -c "$s" -o "$REG_DIR/plan.json"
assert_contains "$(cat "$REG_DIR/plan.out")" \
	"total: 3 repositories, 9 tags, 6 kept, 3 to delete, 3 manifests to delete" "plan with tokens"
for r in $repos; do
	assert_eq "repository:$r:pull" "$(scopes_for "$t0" "$r")" "plan's token requests for $r"
done
plan_n=$(token_lines_since "$t0" | wc -l)
no_secret "$REG_DIR/plan.out" "$REG_DIR/plan.err" "$REG_DIR/plan.json"
assert_eq "$reader_deletes" "$(reg_delete_count)" "DELETE requests after plan"

# --- run: one merged scope per repository, one token request each ----------------------------

t0=$(wc -l <"$TOKEN_LOG")
expect_rc 0 "$REG_DIR/run" "${RS[@]}" run -v -c "$s" --journal "$REG_DIR/run.jsonl"
for r in $repos; do
	assert_eq "repository:$r:pull,delete" "$(scopes_for "$t0" "$r")" "run's token requests for $r"
done
n=$(token_lines_since "$t0" | wc -l)
((n <= 5)) || fail "run: $n token requests for 3 repositories (want one per repository, plus catalog)"
assert_eq 0 "$(token_lines_since "$t0" | awk -F'\t' '$4 != 200' | wc -l)" "refused token requests in run"
no_secret "$REG_DIR/run.out" "$REG_DIR/run.err"
assert_eq 3 "$(reg_delete_status_count 202)" "DELETEs answered 202"
assert_eq $((reader_deletes + 3)) "$(reg_delete_count)" "DELETE requests after run"

# --- undo asks for push on the repositories it puts manifests back into ----------------------

t0=$(wc -l <"$TOKEN_LOG")
expect_rc 0 "$REG_DIR/undo" "${RS[@]}" undo "$REG_DIR/run.jsonl" -c "$s"
assert_eq "restored 3 manifests (3 tags) from $REG_DIR/run.jsonl" "$(cat "$REG_DIR/undo.out")" \
	"undo with tokens"
for r in tok/app tok/lib; do
	assert_eq "repository:$r:pull,push" "$(scopes_for "$t0" "$r" | sort -u)" "undo's scope for $r"
done
no_secret "$REG_DIR/undo.out" "$REG_DIR/undo.err"
# The same three manifests are back, so the same run deletes them again.
expect_rc 0 "$REG_DIR/rerun" "${RS[@]}" run -c "$s" --journal "$REG_DIR/rerun.jsonl"
assert_eq 6 "$(reg_delete_status_count 202)" "DELETEs answered 202 after the second run"

# --- a token the registry refuses is fetched again, once -------------------------------------

token_stop
token_start "$REG_DIR/tok2" "$users" --expired-first 1
reg_restart_token_auth
mkstack "$s" ci
expect_rc 0 "$REG_DIR/refresh" "${RS[@]}" plan -c "$s"
assert_contains "$(cat "$REG_DIR/refresh.out")" \
	"total: 3 repositories, 6 tags, 6 kept, 0 to delete, 0 manifests to delete" \
	"plan after the first token was refused"
assert_eq $((plan_n + 1)) "$(wc -l <"$TOKEN_LOG")" \
	"token requests of a plan whose first token was refused (the first plan's plus one)"
no_secret "$REG_DIR/refresh.out" "$REG_DIR/refresh.err"

# --- every token refused: one refresh, then a clear failure, no loop -------------------------

token_stop
token_start "$REG_DIR/tok3" "$users" --expired-first 1000000
reg_restart_token_auth
mkstack "$s" ci
d0=$(reg_delete_count)
expect_rc 1 "$REG_DIR/refused" "${RS[@]}" run -c "$s"
[[ -s $REG_DIR/refused.err ]] || fail "every token refused: nothing said on stderr"
no_secret "$REG_DIR/refused.out" "$REG_DIR/refused.err"
n=$(wc -l <"$TOKEN_LOG")
((n >= 2 && n <= 10)) || fail "every token refused: $n token requests (want a fetch and one refresh per scope tried)"
assert_eq "$d0" "$(reg_delete_count)" "DELETE requests when every token is refused"

# --- what is left ----------------------------------------------------------------------------

token_stop
reg_restart_with
assert_eq "a3 a4" "$(tags_line tok/app)" "tags left in tok/app"
assert_eq "l2 l3" "$(tags_line tok/lib)" "tags left in tok/lib"
assert_eq "k1 k2" "$(tags_line tok/keep)" "tags left in tok/keep"
assert_eq 6 "$(reg_delete_status_count 202)" "DELETEs answered 202 in all (run, and run again after undo)"
echo "PASS: auth token"
