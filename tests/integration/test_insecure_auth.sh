#!/usr/bin/env bash
# Credentials go over plain http:// to a loopback address only, unless the stack says
# allow_insecure_auth = true. The test re-runs itself in a network namespace of its own,
# where the registry listens on 10.77.0.1 (a non-loopback address on the namespace's lo),
# so nothing leaves the machine: without the setting, one line, exit 2 and not a request in
# the registry's log; with it, a warning and the run goes ahead.
set -euo pipefail
if [[ -z ${RS_IN_NETNS:-} ]]; then
	unshare --net true 2>/dev/null || {
		echo "FAIL: cannot make a network namespace (unshare --net needs root)" >&2
		exit 1
	}
	exec unshare --net env RS_IN_NETNS=1 bash "$0" "$@"
fi
ip link set lo up
ip addr add 10.77.0.1/32 dev lo
export REG_HOST=10.77.0.1
. "$(dirname "$0")/lib.sh"

reg_start
trap reg_stop EXIT
"$RS_SEED" "$REG_URL" >/dev/null <<'SPEC'
image far/app a1 2024-01-01T00:00:00Z
image far/app a2 2024-01-02T00:00:00Z
image far/app a3 2024-01-03T00:00:00Z
SPEC
pw="Pw-$(openssl rand -hex 12)"
htpasswd_add "$REG_DIR/htpasswd" ci "$pw"
printf '%s\n' "$pw" >"$REG_DIR/ci.pass"
chmod 600 "$REG_DIR/ci.pass"
reg_restart_with --htpasswd "$REG_DIR/htpasswd"
[[ $REG_URL == http://10.77.0.1:* ]] || fail "registry URL $REG_URL is not the non-loopback one"

# mkstack FILE EXTRA: keep_last 2 as user ci over plain http, EXTRA in the registry group.
mkstack() {
	cat >"$1" <<STACK
registry = { url = "$REG_URL"; $2
  auth = { username = "ci"; password_file = "$REG_DIR/ci.pass"; }; };
policy = ( { module = "keep_last"; control = "required"; args = { count = 2; }; } );
STACK
}

mkstack "$REG_DIR/refused.stack" ""
requests=$(grep -c '"regsweep/' "$REG_LOG" || true)
expect_rc 2 "$REG_DIR/refused" "$REGSWEEP" run -c "$REG_DIR/refused.stack"
assert_eq "regsweep: error: refusing to send credentials over plain http:// to ${REG_URL#http://} (allow_insecure_auth = true allows it)" \
	"$(errtext "$REG_DIR/refused.err")" "refusal"
assert_eq "$requests" "$(grep -c '"regsweep/' "$REG_LOG" || true)" "requests sent after the refusal"

mkstack "$REG_DIR/allowed.stack" "allow_insecure_auth = true;"
expect_rc 0 "$REG_DIR/allowed" "$REGSWEEP" run -c "$REG_DIR/allowed.stack" --journal "$REG_DIR/j"
assert_contains "$(cat "$REG_DIR/allowed.err")" \
	"regsweep: warning: sending credentials over plain http:// to ${REG_URL#http://} (allow_insecure_auth)" \
	"warning when allowed"
! grep -qF "$pw" "$REG_DIR/allowed.out" "$REG_DIR/allowed.err" || fail "the password shows"
assert_eq 1 "$(grep -c '"DELETE /v2/far/app/manifests/' "$REG_LOG")" "DELETEs in all"
reg_restart_with # without auth, to read the tags
assert_eq "a2 a3" "$(tags_line far/app)" "tags after the allowed run"
echo "PASS: insecure auth"
