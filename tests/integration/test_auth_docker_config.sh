#!/usr/bin/env bash
# docker_config: credentials from a docker config.json - auths.<host:port>.auth, a
# credential helper named by credHelpers or credsStore (docker-credential-<name> on PATH),
# and an identitytoken traded at the token realm (OAuth2 POST, grant_type=refresh_token).
# Each works against the matching registry (TLS + htpasswd, or token auth); a wrong auth
# gives one line and no DELETE; no secret shows in -v output or the plan file.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

trap 'token_stop; reg_stop' EXIT
reg_start

"$RS_SEED" "$REG_URL" >/dev/null <<'SPEC'
image dc/app d1 2024-01-01T00:00:00Z
image dc/app d2 2024-01-02T00:00:00Z
image dc/app d3 2024-01-03T00:00:00Z
image dc/app d4 2024-01-04T00:00:00Z
image dc/lib e1 2024-02-01T00:00:00Z
image dc/lib e2 2024-02-02T00:00:00Z
image dc/lib e3 2024-02-03T00:00:00Z
SPEC

pki=$REG_DIR/pki
tls_make_ca "$pki"
pw="Pw-$(openssl rand -hex 12)"
idtok="rt-$(openssl rand -hex 16)"
htpasswd_add "$REG_DIR/htpasswd" ci "$pw"
RS=(timeout 300 "$REGSWEEP")

reg_restart_with --tls "$pki" --htpasswd "$REG_DIR/htpasswd"
hostport=${REG_URL#https://}

# mkstack FILE CONFIG_JSON [INCLUDE]: keep_last 2 by created with docker_config.
mkstack() {
	cat >"$1" <<STACK
registry = { url = "$REG_URL"; concurrency = 4; docker_config = "$2";
  tls = { ca_file = "$pki/ca.pem"; }; };
repositories = { include = [ "${3:-^dc/}" ]; };
policy = (
  { module = "keep_last"; control = "required"; args = { count = 2; order = "created"; }; }
);
STACK
}

# no_secret FILE...: neither the password, its base64 form, the identity token nor any
# access token issued is in them.
no_secret() {
	local f
	{
		printf '%s\n' "$pw" "$(printf 'ci:%s' "$pw" | base64 -w0)" "$idtok"
		[[ -n ${TOKEN_TOKENS:-} && -f $TOKEN_TOKENS ]] && awk 'NF' "$TOKEN_TOKENS"
	} >"$REG_DIR/secrets"
	for f in "$@"; do
		! grep -qF -f "$REG_DIR/secrets" "$f" || fail "a secret shows in ${f##*/}"
	done
}

# --- auths.<host:port>.auth ----------------------------------------------------------------

cfg=$REG_DIR/auths.json
printf '{ "auths": { "%s": { "auth": "%s" } } }\n' "$hostport" "$(printf 'ci:%s' "$pw" | base64 -w0)" >"$cfg"
chmod 600 "$cfg"
s=$REG_DIR/auths.stack
mkstack "$s" "$cfg"
expect_rc 0 "$REG_DIR/auths" "${RS[@]}" plan -v -c "$s" -o "$REG_DIR/plan.json"
assert_contains "$(cat "$REG_DIR/auths.out")" \
	"total: 2 repositories, 7 tags, 4 kept, 3 to delete, 3 manifests to delete" "plan with auths"
no_secret "$REG_DIR/auths.out" "$REG_DIR/auths.err" "$REG_DIR/plan.json"

bad=$REG_DIR/bad.json
printf '{ "auths": { "%s": { "auth": "%s" } } }\n' "$hostport" "$(printf 'ci:x%s' "$pw" | base64 -w0)" >"$bad"
chmod 600 "$bad"
mkstack "$s" "$bad"
expect_rc '1|2' "$REG_DIR/bad" "${RS[@]}" run -c "$s"
assert_eq 1 "$(wc -l <"$REG_DIR/bad.err")" "stderr lines with a wrong auth ($(cat "$REG_DIR/bad.err"))"
assert_eq 0 "$(reg_delete_count)" "DELETE requests after a wrong auth"

# --- credential helpers ------------------------------------------------------------------------

mkdir -p "$REG_DIR/bin"
helper=$REG_DIR/bin/docker-credential-rstest
cat >"$helper" <<HELPER
#!/bin/sh
# a docker credential helper for this test: get reads the server on stdin
echo "\$1" >>"$REG_DIR/helper.log"
[ "\$1" = get ] || exit 1
read -r server
echo "server \$server" >>"$REG_DIR/helper.log"
case "\$server" in
*"$hostport"*) printf '{"ServerURL":"%s","Username":"ci","Secret":"%s"}\n' "\$server" "$pw" ;;
*) echo "credentials not found in native keychain"; exit 1 ;;
esac
HELPER
chmod 700 "$helper"

for kind in credHelpers credsStore; do
	cfg=$REG_DIR/$kind.json
	if [[ $kind == credHelpers ]]; then
		printf '{ "credHelpers": { "%s": "rstest" } }\n' "$hostport" >"$cfg"
	else
		printf '{ "auths": { "%s": {} }, "credsStore": "rstest" }\n' "$hostport" >"$cfg"
	fi
	chmod 600 "$cfg"
	: >"$REG_DIR/helper.log"
	mkstack "$s" "$cfg"
	PATH=$REG_DIR/bin:$PATH expect_rc 0 "$REG_DIR/$kind" "${RS[@]}" plan -v -c "$s"
	assert_contains "$(cat "$REG_DIR/$kind.out")" "3 to delete" "plan with $kind"
	no_secret "$REG_DIR/$kind.out" "$REG_DIR/$kind.err"
	grep -qx get "$REG_DIR/helper.log" || fail "$kind: the helper was not asked to get"
	grep -q "^server .*$hostport" "$REG_DIR/helper.log" || fail "$kind: the helper was not asked for $hostport"
done

# run with the helper: deletes dc/app's two oldest
mkstack "$s" "$REG_DIR/credHelpers.json" '^dc/app$'
PATH=$REG_DIR/bin:$PATH expect_rc 0 "$REG_DIR/run" "${RS[@]}" run -v -c "$s"
no_secret "$REG_DIR/run.out" "$REG_DIR/run.err"
assert_eq 2 "$(reg_delete_count)" "DELETE requests after run with a credential helper"

# --- identitytoken at a token realm ------------------------------------------------------------

printf 'ci %s repository:*:pull,delete registry:catalog:*\n' "$pw" >"$REG_DIR/users"
token_start "$REG_DIR/tok" "$REG_DIR/users" --refresh-token "ci=$idtok"
reg_restart_token_auth
hostport=${REG_URL#http://}
cfg=$REG_DIR/idtoken.json
printf '{ "auths": { "%s": { "auth": "%s", "identitytoken": "%s" } } }\n' "$hostport" \
	"$(printf '<token>:' | base64 -w0)" "$idtok" >"$cfg"
chmod 600 "$cfg"
cat >"$s" <<STACK
registry = { url = "$REG_URL"; concurrency = 4; docker_config = "$cfg"; };
repositories = { include = [ "^dc/lib$" ]; };
policy = (
  { module = "keep_last"; control = "required"; args = { count = 2; order = "created"; }; }
);
STACK
expect_rc 0 "$REG_DIR/idtok" "${RS[@]}" run -v -c "$s"
no_secret "$REG_DIR/idtok.out" "$REG_DIR/idtok.err"
assert_eq "repository:dc/lib:pull,delete" \
	"$(awk -F'\t' '$2 == "POST" && $3 == "ci" && $4 == 200 { print $5 }' "$TOKEN_LOG" | tr ' ' '\n' | grep '^repository:' | sort -u)" \
	"scopes traded for the identity token"
assert_eq 3 "$(reg_delete_count)" "DELETE requests after run with an identity token"

token_stop
reg_restart_with
assert_eq "d3 d4" "$(tags_line dc/app)" "tags left in dc/app"
assert_eq "e2 e3" "$(tags_line dc/lib)" "tags left in dc/lib"
assert_eq 3 "$(reg_delete_status_count 202)" "DELETEs answered 202"
echo "PASS: auth docker_config"
