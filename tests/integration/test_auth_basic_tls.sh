#!/usr/bin/env bash
# A registry behind TLS with a private CA and htpasswd basic auth: run and plan+apply delete
# exactly what keep_last says over https; the password (file or variable) never shows in
# output, also with -v, nor in the plan file; a password file others may read, a wrong
# password, an unknown CA, a wrong CA and an unreachable port each give one line and no
# DELETE; verify = false works and warns once; mutual TLS needs the client certificate; the
# requests go over HTTP/2.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

trap 'reg_stop' EXIT
reg_start

"$RS_SEED" "$REG_URL" >/dev/null <<'SPEC'
image sec/app b1 2024-01-01T00:00:00Z
image sec/app b2 2024-01-02T00:00:00Z
image sec/app b3 2024-01-03T00:00:00Z
image sec/app b4 2024-01-04T00:00:00Z
image sec/app b5 2024-01-05T00:00:00Z
image sec/web w1 2024-02-01T00:00:00Z
image sec/web w2 2024-02-02T00:00:00Z
image sec/web w3 2024-02-03T00:00:00Z
image sec/web w4 2024-02-04T00:00:00Z
image sec/tmp t1 2024-03-01T00:00:00Z
image sec/tmp t2 2024-03-02T00:00:00Z
image sec/tmp t3 2024-03-03T00:00:00Z
SPEC

pki=$REG_DIR/pki
tls_make_ca "$pki"
pw="Pw-$(openssl rand -hex 12)"
b64=$(printf 'ci:%s' "$pw" | base64 -w0)
htpasswd_add "$REG_DIR/htpasswd" ci "$pw"
pass=$REG_DIR/ci.pass
printf '%s\n' "$pw" >"$pass"
chmod 600 "$pass"
bad=$REG_DIR/bad.pass
printf '%s\n' "wrong-$pw" >"$bad"
chmod 600 "$bad"

reg_restart_with --tls "$pki" --htpasswd "$REG_DIR/htpasswd"
[[ $REG_URL == https://127.0.0.1:* ]] || fail "REG_URL is not https: $REG_URL"

RS=(timeout 300 "$REGSWEEP")
auth="auth = { username = \"ci\"; password_file = \"$pass\"; };"
tls="tls = { ca_file = \"$REG_CA\"; };"

# mkstack FILE 'REGISTRY SETTINGS' [INCLUDE_REGEX]: keep_last 2 by created.
mkstack() {
	local include=${3:-^sec/}
	cat >"$1" <<STACK
registry = { url = "$REG_URL"; concurrency = 8; $2 };
repositories = { include = [ "$include" ]; };
policy = (
  { module = "keep_last"; control = "required"; args = { count = 2; order = "created"; }; }
);
STACK
}

# one_line PREFIX WHAT: PREFIX.err is exactly one line, and no secret is in it or PREFIX.out.
one_line() {
	assert_eq 1 "$(wc -l <"$1.err")" "stderr lines of $2 ($(head -c 1000 "$1.err"))"
	no_secret "$1.out" "$1.err"
}

# no_secret FILE...: neither the password nor its base64 basic credentials are in them.
no_secret() {
	local f
	for f in "$@"; do
		! grep -qF -e "$pw" -e "$b64" "$f" || fail "the password shows in ${f##*/}"
	done
}

logged() { wc -l <"$REG_LOG"; }

# --- refusals: one line, no DELETE ------------------------------------------------------

s=$REG_DIR/open.stack
chmod 644 "$pass"
mkstack "$s" "$auth $tls"
before=$(logged)
expect_rc 2 "$REG_DIR/open" "${RS[@]}" run -c "$s"
one_line "$REG_DIR/open" "run with a password file others may read"
assert_eq "$before" "$(logged)" "registry log lines after a refused password file (no request)"
chmod 600 "$pass"

s=$REG_DIR/wrong.stack
mkstack "$s" "auth = { username = \"ci\"; password_file = \"$bad\"; }; $tls"
expect_rc '1|2' "$REG_DIR/wrong" "${RS[@]}" run -c "$s"
one_line "$REG_DIR/wrong" "run with a wrong password"
! grep -qF "wrong-$pw" "$REG_DIR/wrong.out" "$REG_DIR/wrong.err" || fail "the wrong password shows"
assert_eq 0 "$(reg_delete_count)" "DELETE requests after a wrong password"

s=$REG_DIR/noca.stack
mkstack "$s" "$auth"
expect_rc 1 "$REG_DIR/noca" "${RS[@]}" run -c "$s"
one_line "$REG_DIR/noca" "run without the private CA"
assert_contains "$(cat "$REG_DIR/noca.err")" "${REG_URL#https://}" "error names the registry"

s=$REG_DIR/otherca.stack
mkstack "$s" "$auth tls = { ca_file = \"$pki/other-ca.pem\"; };"
expect_rc 1 "$REG_DIR/otherca" "${RS[@]}" run -c "$s"
one_line "$REG_DIR/otherca" "run with the wrong CA"

s=$REG_DIR/ok.stack
mkstack "$s" "$auth $tls"
expect_rc 1 "$REG_DIR/unreach" "${RS[@]}" run -c "$s" --registry https://127.0.0.1:9
one_line "$REG_DIR/unreach" "run against a port where nothing listens"
assert_contains "$(cat "$REG_DIR/unreach.err")" "cannot reach https://127.0.0.1:9/v2/" "unreachable"
assert_eq 0 "$(reg_delete_count)" "DELETE requests after every refusal"

# --- -v plan: works, and no secret anywhere ------------------------------------------------

expect_rc 0 "$REG_DIR/vplan" "${RS[@]}" plan -v -c "$s" -o "$REG_DIR/plan-all.json"
no_secret "$REG_DIR/vplan.out" "$REG_DIR/vplan.err" "$REG_DIR/plan-all.json"
assert_contains "$(cat "$REG_DIR/vplan.out")" \
	"total: 3 repositories, 12 tags, 6 kept, 6 to delete, 6 manifests to delete" "plan over TLS"

s_env=$REG_DIR/env.stack
mkstack "$s_env" "auth = { username = \"ci\"; password_env = \"REGSWEEP_PASSWORD\"; }; $tls"
REGSWEEP_PASSWORD=$pw expect_rc 0 "$REG_DIR/envplan" "${RS[@]}" plan -v -c "$s_env" \
	-o "$REG_DIR/plan-env.json"
no_secret "$REG_DIR/envplan.out" "$REG_DIR/envplan.err" "$REG_DIR/plan-env.json"
assert_contains "$(cat "$REG_DIR/envplan.out")" "6 to delete" "plan with password_env"
assert_eq 0 "$(reg_delete_count)" "DELETE requests after the plans"

# --- run, and plan + apply with the connection settings from the stack ----------------------

s_app=$REG_DIR/app.stack
mkstack "$s_app" "$auth $tls" '^sec/app$'
expect_rc 0 "$REG_DIR/run" "${RS[@]}" run -v -c "$s_app"
no_secret "$REG_DIR/run.out" "$REG_DIR/run.err"
assert_eq 3 "$(reg_delete_count)" "DELETE requests after run on sec/app"

s_web=$REG_DIR/web.stack
mkstack "$s_web" "$auth $tls" '^sec/web$'
expect_rc 0 "$REG_DIR/webplan" "${RS[@]}" plan -c "$s_web" -o "$REG_DIR/web.json"
no_secret "$REG_DIR/web.json"
assert_eq 3 "$(reg_delete_count)" "DELETE requests after plan on sec/web"
expect_rc 0 "$REG_DIR/apply" "${RS[@]}" apply "$REG_DIR/web.json" -c "$s_web" -v
no_secret "$REG_DIR/apply.out" "$REG_DIR/apply.err"
assert_eq 5 "$(reg_delete_count)" "DELETE requests after apply on sec/web"

# HTTP/2 over TLS: every request regsweep sent so far (the registry's access log names the
# protocol of each)
protos=$(reg_request_protocols regsweep/ | tr '\n' ' ')
[[ $protos == *HTTP/2.0* && $protos != *HTTP/1.1* ]] ||
	fail "regsweep's requests over TLS: expected HTTP/2.0 only, got '$protos'"

# --- verify = false without ca_file: works, warns once --------------------------------------

s_nv=$REG_DIR/noverify.stack
mkstack "$s_nv" "$auth tls = { verify = false; };" '^sec/tmp$'
expect_rc 0 "$REG_DIR/nv" "${RS[@]}" run -c "$s_nv"
no_secret "$REG_DIR/nv.out" "$REG_DIR/nv.err"
assert_eq 1 "$(wc -l <"$REG_DIR/nv.err")" "stderr lines with verify = false ($(cat "$REG_DIR/nv.err"))"
assert_eq 1 "$(grep -ci 'verif' "$REG_DIR/nv.err")" "one warning about verification is off"
assert_eq 6 "$(reg_delete_count)" "DELETE requests after run with verify = false"

# --- mutual TLS ------------------------------------------------------------------------------

reg_restart_with --mtls "$pki" --htpasswd "$REG_DIR/htpasswd"
s=$REG_DIR/nocert.stack
mkstack "$s" "$auth $tls"
expect_rc 1 "$REG_DIR/nocert" "${RS[@]}" plan -c "$s"
one_line "$REG_DIR/nocert" "plan without the client certificate"
s=$REG_DIR/cert.stack
mkstack "$s" "$auth tls = { ca_file = \"$REG_CA\"; client_cert = \"$pki/client.pem\"; client_key = \"$pki/client.key\"; };"
expect_rc 0 "$REG_DIR/cert" "${RS[@]}" plan -c "$s"
assert_contains "$(cat "$REG_DIR/cert.out")" \
	"total: 3 repositories, 6 tags, 6 kept, 0 to delete, 0 manifests to delete" "plan with mTLS"

# --- what is left ----------------------------------------------------------------------------

reg_restart_with
assert_eq "b4 b5" "$(tags_line sec/app)" "tags left in sec/app"
assert_eq "w3 w4" "$(tags_line sec/web)" "tags left in sec/web"
assert_eq "t2 t3" "$(tags_line sec/tmp)" "tags left in sec/tmp"
assert_eq 6 "$(reg_delete_status_count 202)" "DELETEs answered 202"
assert_eq 6 "$(reg_delete_count)" "DELETE requests in all"
echo "PASS: auth basic + TLS"
