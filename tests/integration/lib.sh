# lib.sh - helpers for integration tests: a throwaway local registry, queries against it, asserts.
# shellcheck shell=bash
#
# Source it, then:
#   trap reg_stop EXIT
#   reg_start
#   rs-seed "$REG_URL" spec.txt
#   assert_eq 2 "$(reg_tags t/app-1 | wc -l)" "tags kept"
# Call reg_start in the test's own shell, not in $(...): it sets variables and
# the registry must stay a child of that shell for reg_stop to reap it. fail
# (and so every assert) exits the shell it runs in: inside $(...) that is only
# the subshell. The registry's directory comes from mktemp, so TMPDIR picks
# where its storage lives. Needs bash, curl, coreutils, sed, awk, grep and
# distribution's registry (REG_BIN, default docker-registry). All traffic goes
# to 127.0.0.1 only, or to REG_HOST, the address the registry listens on, for a
# test that runs in a network namespace of its own.
REG_HOST=${REG_HOST:-127.0.0.1}

# Every Accept type a registry may answer a manifest request with; with fewer,
# it may pick a child manifest or a rewritten one and so another digest.
REG_ACCEPT='application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json'

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

assert_eq() {
	[[ "$1" == "$2" ]] || fail "$3: expected '$1', got '$2'"
}

assert_contains() {
	[[ "$1" == *"$2"* ]] || fail "$3: '$2' not found in '$1'"
}

# curl bounded in time and kept off any proxy the environment names.
_reg_curl() {
	curl --silent --noproxy '*' --connect-timeout 5 --max-time 30 "$@"
}

# reg_start [EXTRA_YAML_LINE ...]: starts a registry on a free loopback port.
# Extra lines are appended to the config at top level (e.g. 'auth:', '  ...').
# Exports REG_URL REG_PID REG_DIR REG_LOG REG_ROOT REG_CONFIG.
reg_start() {
	reg_start_with -- "$@"
}

# reg_stop: stops the registry this shell started, by its PID, and removes its
# directory unless KEEP_TMP=1. Safe to call twice (explicitly and from the
# EXIT trap) or before reg_start; never touches a registry it did not start.
reg_stop() {
	local pid=${_reg_owned_pid:-} i

	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			kill -9 "$pid" 2>/dev/null || true
		fi
	fi
	if [[ -n $pid ]]; then
		wait "$pid" 2>/dev/null || true
	fi
	_reg_owned_pid=
	if [[ -n ${_reg_owned_dir:-} && -d $_reg_owned_dir ]]; then
		if [[ ${KEEP_TMP:-} == 1 ]]; then
			echo "reg_stop: kept $_reg_owned_dir" >&2
		else
			rm -rf -- "$_reg_owned_dir"
		fi
	fi
	_reg_owned_dir=
	return 0
}

# reg_delete_count: manifest DELETE requests the registry has answered so far,
# whatever their status, counted from its access log. A line looks like
#   127.0.0.1 - - [27/Nov/2026:17:43:56 +0000] "DELETE /v2/a/b/manifests/sha256:2cf2... HTTP/1.1" 202 0 "" "curl/7.88.1"
# (the registry writes it before the response reaches the client).
reg_delete_count() {
	grep -cE '^[^ ]+ - [^ ]+ \[[^]]+\] "DELETE /v2/[^ "]+/manifests/[^ "/]+ HTTP/[0-9.]+" [0-9]{3} ' \
		"$REG_LOG" || true
}

# reg_tags REPO: the repository's tags, sorted (C locale), one per line;
# nothing for an unknown repository (404 NAME_UNKNOWN) or "tags":null.
reg_tags() {
	local repo=$1 url="$REG_URL/v2/$1/tags/list" tmp code next i tags=

	tmp=$(mktemp -d) || fail "reg_tags: mktemp failed"
	# follows Link rel="next" pages, bounded
	for ((i = 0; i < 10000 && ${#url}; i++)); do
		code=$(_reg_curl -D "$tmp/headers" -o "$tmp/body" -w '%{http_code}' "$url") || true
		if [[ $code == 404 ]] && grep -q NAME_UNKNOWN "$tmp/body"; then
			break
		fi
		if [[ $code != 200 ]]; then
			rm -rf -- "$tmp"
			echo "reg_tags $repo: HTTP $code from $url" >&2
			return 1
		fi
		tags+=$(sed -n 's/.*"tags":\[\([^]]*\)\].*/\1/p' "$tmp/body" | tr ',' '\n' |
			sed 's/^"//; s/"$//')$'\n'
		next=$(tr -d '\r' <"$tmp/headers" | sed -n 's/^[Ll]ink: *<\([^>]*\)>.*rel="next".*/\1/p')
		url=${next:+$REG_URL$next}
	done
	rm -rf -- "$tmp"
	printf '%s' "$tags" | awk 'NF' | LC_ALL=C sort
}

# reg_digest REPO TAG: Docker-Content-Digest of a HEAD with every Accept type.
reg_digest() {
	local out digest

	out=$(_reg_curl --head -H "Accept: $REG_ACCEPT" -w 'HTTP_CODE=%{http_code}\n' \
		"$REG_URL/v2/$1/manifests/$2" | tr -d '\r') || true
	digest=$(awk 'tolower($1) == "docker-content-digest:" { print $2 }' <<<"$out")
	if [[ $out != *HTTP_CODE=200* || -z $digest ]]; then
		echo "reg_digest $1:$2: no digest (${out##*HTTP_CODE=})" >&2
		return 1
	fi
	echo "$digest"
}

# reg_status REPO REF: HTTP status of a HEAD on the manifest (000: no answer).
reg_status() {
	_reg_curl --head -o /dev/null -H "Accept: $REG_ACCEPT" -w '%{http_code}' \
		"$REG_URL/v2/$1/manifests/$2" || true
	echo
}

# reg_manifest REPO REF: the manifest's body, asked for with every Accept type; fails
# unless the registry answers 200.
reg_manifest() {
	_reg_curl --fail -H "Accept: $REG_ACCEPT" "$REG_URL/v2/$1/manifests/$2"
}

# reg_index_part REPO SRC NEW: pushes, tagged NEW, an OCI index over the first child of the
# index SRC names alone (what a rebuild of fewer platforms leaves behind); fails unless the
# registry takes it.
reg_index_part() {
	local code
	reg_manifest "$1" "$2" | "$RS_PYTHON" -c '
import json, sys
m = json.load(sys.stdin)
m["manifests"] = m["manifests"][:1]
sys.stdout.write(json.dumps(m, separators=(",", ":")))' >"$REG_DIR/$3.index.json" ||
		fail "reg_index_part: $1:$2 is not an index"
	code=$(_reg_curl -o /dev/null -w '%{http_code}' -X PUT \
		-H 'Content-Type: application/vnd.oci.image.index.v1+json' \
		--data-binary "@$REG_DIR/$3.index.json" "$REG_URL/v2/$1/manifests/$3") || true
	[[ $code == 201 ]] || fail "reg_index_part: PUT $1:$3 answered $code"
}

# reg_blob_status REPO DIGEST: HTTP status of a HEAD on the blob (000: no answer).
reg_blob_status() {
	_reg_curl --head -o /dev/null -w '%{http_code}' "$REG_URL/v2/$1/blobs/$2" || true
	echo
}

# ---------------------------------------------------------------------------------------
# TLS, authentication, restarts on the same storage, and the helper servers in tests/tools
# (a token server and a fault-injecting proxy, both Python run by /usr/bin/python3).
#
#   tls_make_ca "$REG_DIR/pki"
#   reg_start                                        # plain, so rs-seed can push
#   "$RS_SEED" "$REG_URL" <spec
#   htpasswd_add "$REG_DIR/htpasswd" ci "$pw"
#   reg_restart_with --tls "$REG_DIR/pki" --htpasswd "$REG_DIR/htpasswd"
#   ... regsweep against the https:// REG_URL ...
#   reg_restart_with                                 # plain again: reg_tags works
# reg_restart_with keeps the storage and appends to the same REG_LOG, so reg_delete_count
# counts across restarts. The port changes on every start: write stacks after it.

RS_TOOLS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/../tools" && pwd)
RS_PYTHON=${RS_PYTHON:-/usr/bin/python3}

# tls_make_ca DIR: with the openssl CLI, makes in DIR (created when missing)
#   ca.pem ca.key           a private CA
#   server.pem server.key   a server certificate for IP 127.0.0.1 and DNS localhost, by the CA
#   client.pem client.key   a client certificate (CN regsweep-test-client), by the CA
#   other-ca.pem            an unrelated CA: verifying the server against it must fail
tls_make_ca() {
	local dir=$1 name

	mkdir -p "$dir" || fail "tls_make_ca: cannot make $dir"
	for name in ca other-ca; do
		openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days 2 \
			-keyout "$dir/$name.key" -out "$dir/$name.pem" -subj "/CN=regsweep test $name" \
			-addext 'basicConstraints=critical,CA:TRUE' \
			-addext 'keyUsage=critical,keyCertSign,cRLSign' >/dev/null 2>&1 ||
			fail "tls_make_ca: openssl could not make $name"
	done
	printf '%s\n' 'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' \
		'extendedKeyUsage=serverAuth' 'subjectAltName=IP:127.0.0.1,DNS:localhost' >"$dir/server.ext"
	printf '%s\n' 'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' \
		'extendedKeyUsage=clientAuth' >"$dir/client.ext"
	for name in server client; do
		openssl req -newkey rsa:2048 -nodes -sha256 -keyout "$dir/$name.key" \
			-out "$dir/$name.csr" -subj "/CN=regsweep-test-$name" >/dev/null 2>&1 &&
			openssl x509 -req -sha256 -days 2 -in "$dir/$name.csr" -CA "$dir/ca.pem" \
				-CAkey "$dir/ca.key" -set_serial "0x$(openssl rand -hex 8)" \
				-extfile "$dir/$name.ext" -out "$dir/$name.pem" >/dev/null 2>&1 ||
			fail "tls_make_ca: openssl could not make the $name certificate"
	done
	chmod 600 "$dir"/*.key
}

# htpasswd_add FILE USER PASSWORD: adds a bcrypt entry (htpasswd -B, from apache2-utils),
# the only kind distribution's htpasswd auth accepts.
htpasswd_add() {
	command -v htpasswd >/dev/null || fail "htpasswd_add: htpasswd not found (apache2-utils)"
	htpasswd -Bbn -C 4 "$2" "$3" | awk 'NF' >>"$1" || fail "htpasswd_add: htpasswd failed"
}

# Writes the config for port $1 from _rsw_http (lines under http:) and _rsw_top (top-level
# lines). No http.debug section: the debug server would need a second free port, and
# REGISTRY_* variables are stripped at start so none can switch it on.
_reg_write_config_with() {
	local port=$1 line
	{
		echo 'version: 0.1'
		echo 'log:'
		echo '  level: info'
		echo '  formatter: text'
		echo '  accesslog:'
		echo '    disabled: false'
		echo 'storage:'
		echo '  filesystem:'
		echo "    rootdirectory: $REG_ROOT"
		echo '  delete:'
		echo '    enabled: true'
		echo '  maintenance:'
		echo '    uploadpurging:'
		echo '      enabled: false'
		echo 'http:'
		echo "  addr: $REG_HOST:$port"
		echo '  secret: regsweep-integration-test'
		for line in "${_rsw_http[@]}"; do
			echo "$line"
		done
		echo 'catalog:'
		echo '  maxentries: 4'
		for line in "${_rsw_top[@]}"; do
			echo "$line"
		done
	} >"$REG_CONFIG"
}

# Parses reg_start_with's options into _rsw_http, _rsw_top and _rsw_curl (what curl needs
# to ask /v2/), and REG_SCHEME / REG_CA.
_reg_parse_with() {
	_rsw_http=() _rsw_top=() _rsw_curl=()
	REG_SCHEME=http REG_CA=
	while (($#)); do
		case $1 in
		--tls | --mtls)
			[[ -f $2/server.pem ]] || fail "reg_start_with $1: no $2/server.pem (tls_make_ca)"
			_rsw_http+=('  tls:' "    certificate: $2/server.pem" "    key: $2/server.key")
			REG_SCHEME=https REG_CA=$2/ca.pem
			_rsw_curl+=(--cacert "$2/ca.pem")
			if [[ $1 == --mtls ]]; then
				_rsw_http+=('    clientcas:' "      - $2/ca.pem")
				_rsw_curl+=(--cert "$2/client.pem" --key "$2/client.key")
			fi
			shift 2
			;;
		--htpasswd)
			_rsw_top+=('auth:' '  htpasswd:' '    realm: regsweep-test' "    path: $2")
			shift 2
			;;
		--token) # REALM SERVICE ISSUER ROOTCERTBUNDLE
			_rsw_top+=('auth:' '  token:' "    realm: $2" "    service: $3" "    issuer: $4"
				"    rootcertbundle: $5")
			shift 5
			;;
		--http)
			_rsw_http+=("$2")
			shift 2
			;;
		--)
			shift
			_rsw_top+=("$@")
			break
			;;
		*)
			_rsw_top+=("$1")
			shift
			;;
		esac
	done
	export REG_SCHEME REG_CA
}

# Starts distribution on a free port with the config _reg_parse_with prepared, in REG_DIR,
# appending to REG_LOG; ready once it listens and /v2/ answers 200 or 401.
_reg_launch() {
	local bin=${REG_BIN:-docker-registry} try port code var deadline from
	local -a unset_env=()

	command -v "$bin" >/dev/null || fail "reg_start_with: '$bin' not found (Debian package docker-registry)"
	for var in $(compgen -e); do
		if [[ $var == REGISTRY_* ]]; then
			unset_env+=(-u "$var")
		fi
	done
	for ((try = 0; try < 10; try++)); do
		port=$((10000 + (RANDOM % 22000)))
		[[ $port == "${_rsw_last_port:-}" ]] && continue
		_reg_curl --max-time 1 -o /dev/null "http://$REG_HOST:$port/" && continue
		_reg_curl --max-time 1 -k -o /dev/null "https://$REG_HOST:$port/" && continue
		_reg_write_config_with "$port"
		touch "$REG_LOG"
		from=$(($(wc -l <"$REG_LOG") + 1))
		env "${unset_env[@]}" "$bin" serve "$REG_CONFIG" >>"$REG_LOG" 2>&1 &
		REG_PID=$!
		_reg_owned_pid=$REG_PID
		_rsw_last_port=$port
		REG_URL=$REG_SCHEME://$REG_HOST:$port
		export REG_PID REG_URL
		deadline=$((SECONDS + 15))
		while ((SECONDS < deadline)); do
			if ! kill -0 "$REG_PID" 2>/dev/null; then
				wait "$REG_PID" 2>/dev/null || true
				tail -n "+$from" "$REG_LOG" | grep -q 'address already in use' && continue 2
				tail -n "+$from" "$REG_LOG" >&2
				reg_stop
				fail "reg_start_with: registry exited at start (log above)"
			fi
			if tail -n "+$from" "$REG_LOG" | grep -q "listening on $REG_HOST:$port"; then
				code=$(_reg_curl --max-time 1 "${_rsw_curl[@]}" -o /dev/null -w '%{http_code}' \
					"$REG_URL/v2/") || true
				[[ $code == 200 || $code == 401 ]] && return 0
			fi
			sleep 0.1
		done
		tail -n "+$from" "$REG_LOG" >&2
		reg_stop
		fail "reg_start_with: no 200/401 from $REG_URL/v2/ within 15s (log above)"
	done
	reg_stop
	fail "reg_start_with: no free port after 10 tries"
}

# reg_start_with [OPTION ...] [--] [TOP_LEVEL_YAML_LINE ...]: reg_start with TLS and auth.
#   --tls DIR      serve https with DIR/server.pem (tls_make_ca); REG_URL is https://,
#                  REG_CA the CA file to verify it with
#   --mtls DIR     as --tls, and require a client certificate signed by DIR/ca.pem
#   --htpasswd F   auth: htpasswd with the bcrypt file F (htpasswd_add)
#   --token REALM SERVICE ISSUER ROOTCERTBUNDLE    auth: token (token_start)
#   --http LINE    one more line under http: (indent it by two spaces)
# Other arguments are top-level lines, as for reg_start. Exports what reg_start does plus
# REG_SCHEME and REG_CA; reg_stop stops it.
reg_start_with() {
	_reg_parse_with "$@"
	REG_DIR=$(mktemp -d -t regsweep-reg.XXXXXX) || fail "reg_start_with: mktemp failed"
	_reg_owned_dir=$REG_DIR
	REG_ROOT=$REG_DIR/storage
	REG_CONFIG=$REG_DIR/config.yml
	REG_LOG=$REG_DIR/registry.log
	# Default journals land with the test, not in the home directory.
	XDG_STATE_HOME=$REG_DIR/state
	export REG_DIR REG_ROOT REG_CONFIG REG_LOG XDG_STATE_HOME
	_reg_launch
}

# reg_restart_with [OPTION ...]: stops the running registry (by its PID), if one runs, and
# starts it again on a new port with these options (none: plain http, no auth), on the same storage, REG_DIR
# and REG_LOG. Call it in the test's own shell, like reg_start.
reg_restart_with() {
	[[ -n ${_reg_owned_dir:-} ]] || fail "reg_restart_with: no registry was started"
	reg_halt
	_reg_parse_with "$@"
	_reg_launch
}

# reg_halt: stops the registry process this shell started, by its PID, and keeps REG_DIR
# (storage, config, log), e.g. to copy or restore the storage; reg_restart_with starts it
# again. Safe when none runs.
reg_halt() {
	_rs_stop_pid "${_reg_owned_pid:-}"
	_reg_owned_pid=
}

# reg_delete_status_count STATUS: manifest DELETEs the registry answered with STATUS.
reg_delete_status_count() {
	grep -cE '^[^ ]+ - [^ ]+ \[[^]]+\] "DELETE /v2/[^ "]+/manifests/[^ "/]+ HTTP/[0-9.]+" '"$1"' ' \
		"$REG_LOG" || true
}

# reg_delete_202_per_digest: "COUNT DIGEST" for every digest the registry answered a
# DELETE with 202, most first.
reg_delete_202_per_digest() {
	sed -nE 's#^[^ ]+ - [^ ]+ \[[^]]+\] "DELETE /v2/[^ "]+/manifests/([^ "/]+) HTTP/[0-9.]+" 202 .*#\1#p' \
		"$REG_LOG" | sort | uniq -c | sort -rn | awk '{ print $1, $2 }'
}

# reg_request_protocols UA_PREFIX: the HTTP versions ("HTTP/1.1", "HTTP/2.0") of the
# requests whose User-Agent starts with UA_PREFIX, from the access log, "COUNT VERSION".
reg_request_protocols() {
	sed -nE 's#^[^ ]+ - [^ ]+ \[[^]]+\] "[A-Z]+ [^ "]+ (HTTP/[0-9.]+)" [0-9]{3} [^"]*"[^"]*" "'"$1"'.*#\1#p' \
		"$REG_LOG" | sort | uniq -c | awk '{ print $1, $2 }'
}

# Starts "$@" in the background, stdout to $1 (shifted off), and waits up to 10 s for the
# first line it prints: the port it bound. Sets _rs_helper_pid and _rs_helper_port.
_rs_helper_start() {
	local out=$1 i
	shift
	"$@" >"$out" 2>"$out.err" &
	_rs_helper_pid=$!
	_rs_helper_port=
	for ((i = 0; i < 100; i++)); do
		_rs_helper_port=$(head -n 1 "$out" 2>/dev/null || true) # not created yet: keep waiting
		[[ $_rs_helper_port =~ ^[0-9]+$ ]] && return 0
		kill -0 "$_rs_helper_pid" 2>/dev/null || break
		sleep 0.1
	done
	cat "$out.err" >&2
	_rs_stop_pid "$_rs_helper_pid"
	fail "helper did not start: $*"
}

# _rs_stop_pid PID: TERM, wait up to 5 s, KILL; reaps it. Empty PID: nothing.
_rs_stop_pid() {
	local pid=$1 i
	[[ -n $pid ]] || return 0
	if kill -0 "$pid" 2>/dev/null; then
		kill "$pid" 2>/dev/null || true
		for ((i = 0; i < 50; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null || true
	return 0
}

# token_start DIR USERS_FILE [token_server.py options...]: starts tests/tools/token_server.py
# (see its --help) with its files in DIR. Exports TOKEN_URL (the realm,
# http://127.0.0.1:PORT/token), TOKEN_PID, TOKEN_CERT (the rootcertbundle), TOKEN_LOG (one
# line per request: EPOCH METHOD USER STATUS REQUESTED GRANTED), TOKEN_TOKENS (every token
# issued), TOKEN_SERVICE and TOKEN_ISSUER. Pass --tls-cert/--tls-key for an https realm.
token_start() {
	local dir=$1 users=$2 scheme=http a
	shift 2
	mkdir -p "$dir"
	for a in "$@"; do
		[[ $a == --tls-cert ]] && scheme=https
	done
	TOKEN_CERT=$dir/token-signer.pem TOKEN_LOG=$dir/token.log TOKEN_TOKENS=$dir/tokens
	TOKEN_SERVICE=regsweep-test-registry TOKEN_ISSUER=rs-token-server
	: >"$TOKEN_LOG"
	: >"$TOKEN_TOKENS"
	_rs_helper_start "$dir/token.out" "$RS_PYTHON" "$RS_TOOLS_DIR/token_server.py" \
		--users "$users" --cert-out "$TOKEN_CERT" --log "$TOKEN_LOG" \
		--tokens-out "$TOKEN_TOKENS" --service "$TOKEN_SERVICE" --issuer "$TOKEN_ISSUER" "$@"
	TOKEN_PID=$_rs_helper_pid
	_token_owned_pid=$TOKEN_PID
	TOKEN_URL=$scheme://127.0.0.1:$_rs_helper_port/token
	export TOKEN_URL TOKEN_PID TOKEN_CERT TOKEN_LOG TOKEN_TOKENS TOKEN_SERVICE TOKEN_ISSUER
}

# token_stop: stops the token server this shell started, by its PID. Safe to call twice.
token_stop() {
	_rs_stop_pid "${_token_owned_pid:-}"
	_token_owned_pid=
}

# reg_restart_token_auth [OPTION ...]: reg_restart_with OPTIONs plus auth: token pointing
# at the running token_start server.
reg_restart_token_auth() {
	reg_restart_with --token "$TOKEN_URL" "$TOKEN_SERVICE" "$TOKEN_ISSUER" "$TOKEN_CERT" "$@"
}

# proxy_start SCENARIO_FILE|- [UPSTREAM_URL]: starts tests/tools/fault_proxy.py in front of
# the registry (default REG_URL, which must be http://); "-": no faults. Exports PROXY_URL,
# PROXY_PID and PROXY_LOG (one line per request: EPOCH CONN METHOD PATH RULE UPSTREAM
# ANSWER). Restart it after reg_restart_with: the registry's port changes.
proxy_start() {
	local scenario=$1 upstream=${2:-$REG_URL}
	local -a sc=()
	[[ $scenario != - ]] && sc=(--scenario "$scenario")
	PROXY_LOG=$REG_DIR/proxy.log
	_rs_helper_start "$REG_DIR/proxy.out" "$RS_PYTHON" "$RS_TOOLS_DIR/fault_proxy.py" \
		--upstream "$upstream" --log "$PROXY_LOG" "${sc[@]}"
	PROXY_PID=$_rs_helper_pid
	_proxy_owned_pid=$PROXY_PID
	PROXY_URL=http://127.0.0.1:$_rs_helper_port
	export PROXY_URL PROXY_PID PROXY_LOG
}

# proxy_stop: stops the proxy this shell started, by its PID. Safe to call twice.
proxy_stop() {
	_rs_stop_pid "${_proxy_owned_pid:-}"
	_proxy_owned_pid=
}

# tags_line REPO: reg_tags on one line, space separated.
tags_line() {
	reg_tags "$1" | tr '\n' ' ' | sed 's/ $//'
}

# days_ago N: the time N days ago, RFC 3339, for seeding images of a chosen age.
days_ago() { date -u -d "@$(($(date +%s) - $1 * 86400))" +%Y-%m-%dT%H:%M:%SZ; }

# run_logged LOG CMD...: runs CMD with its output to the file LOG, shown when it fails.
run_logged() {
	local log=$1
	shift
	"$@" >"$log" 2>&1 || {
		tail -n 60 "$log" >&2
		fail "$* failed (log above)"
	}
}

# reg_listing REPO...: "REPO TAG DIGEST" for every tag of each repository, to compare the
# whole state before and after.
reg_listing() {
	local repo tag
	for repo in "$@"; do
		for tag in $(reg_tags "$repo"); do
			echo "$repo $tag $(reg_digest "$repo" "$tag")"
		done
	done
}

# errtext FILE: regsweep's stderr without the time each line starts with when stderr is not
# a terminal ("2026-01-01T02:00:00Z regsweep: ..."), for comparing whole lines.
errtext() {
	sed -E 's/^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z //' "$1"
}

# expect_rc CODE OUT_PREFIX CMD...: runs CMD with stdout to OUT_PREFIX.out and stderr to
# OUT_PREFIX.err and fails unless it exits CODE ("1|2": either).
expect_rc() {
	local want=$1 prefix=$2 rc=0
	shift 2
	"$@" >"$prefix.out" 2>"$prefix.err" || rc=$?
	[[ "|$want|" == *"|$rc|"* ]] ||
		fail "exit code of: $*: expected $want, got $rc; stderr: $(head -c 2000 "$prefix.err")"
}

# reg_set_pushed REPO TAG DATE: sets when TAG was last pushed, as regsweep reads it with
# registry.storage_root: the mtime of the tag's current/link in the storage (DATE as
# `touch -d` takes it, e.g. '2024-01-02 03:04:05 UTC' or '2 hours ago').
reg_set_pushed() {
	local link=$REG_ROOT/docker/registry/v2/repositories/$1/_manifests/tags/$2/current/link
	[[ -f $link ]] || fail "reg_set_pushed: $1:$2 has no $link"
	touch -m -d "$3" "$link" || fail "reg_set_pushed: touch -d '$3' failed"
}

# reg_set_revision_pushed REPO DIGEST DATE: sets when the manifest DIGEST was first pushed
# into REPO (what regsweep reads for an untagged one): the mtime of its revision link.
reg_set_revision_pushed() {
	local link=$REG_ROOT/docker/registry/v2/repositories/$1/_manifests/revisions/sha256/${2#sha256:}/link
	[[ -f $link ]] || fail "reg_set_revision_pushed: $1@$2 has no $link"
	touch -m -d "$3" "$link" || fail "reg_set_revision_pushed: touch -d '$3' failed"
}
