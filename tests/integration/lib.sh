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
# to 127.0.0.1 only.

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

# Writes the config for port $1 plus the caller's extra top-level YAML lines.
# No http.debug section: the debug server would need a second free port, and
# REGISTRY_* variables are stripped at start so none can switch it on.
_reg_write_config() {
	local port=$1 line
	shift
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
		echo "  addr: 127.0.0.1:$port"
		echo '  secret: regsweep-integration-test'
		echo 'catalog:'
		echo '  maxentries: 4'
		for line in "$@"; do
			echo "$line"
		done
	} >"$REG_CONFIG"
}

# reg_start [EXTRA_YAML_LINE ...]: starts a registry on a free loopback port.
# Extra lines are appended to the config at top level (e.g. 'auth:', '  ...').
# Exports REG_URL REG_PID REG_DIR REG_LOG REG_ROOT REG_CONFIG.
reg_start() {
	local bin=${REG_BIN:-docker-registry} try port code var deadline
	local -a unset_env=()

	command -v "$bin" >/dev/null || fail "reg_start: '$bin' not found (Debian package docker-registry)"
	# distribution lets REGISTRY_<SECTION>_<KEY> override any config key
	for var in $(compgen -e); do
		if [[ $var == REGISTRY_* ]]; then
			unset_env+=(-u "$var")
		fi
	done
	REG_DIR=$(mktemp -d -t regsweep-reg.XXXXXX) || fail "reg_start: mktemp failed"
	_reg_owned_dir=$REG_DIR
	REG_ROOT=$REG_DIR/storage
	REG_CONFIG=$REG_DIR/config.yml
	REG_LOG=$REG_DIR/registry.log
	export REG_DIR REG_ROOT REG_CONFIG REG_LOG
	for ((try = 0; try < 10; try++)); do
		# below the kernel's ephemeral range, so outgoing connections never hold it
		port=$((10000 + (RANDOM % 22000)))
		# something already answers there: do not even try
		_reg_curl --max-time 1 -o /dev/null "http://127.0.0.1:$port/" && continue
		_reg_write_config "$port" "$@"
		env "${unset_env[@]}" "$bin" serve "$REG_CONFIG" >"$REG_LOG" 2>&1 &
		REG_PID=$!
		_reg_owned_pid=$REG_PID
		REG_URL=http://127.0.0.1:$port
		export REG_PID REG_URL
		deadline=$((SECONDS + 15))
		while ((SECONDS < deadline)); do
			if ! kill -0 "$REG_PID" 2>/dev/null; then
				wait "$REG_PID" 2>/dev/null || true
				grep -q 'address already in use' "$REG_LOG" && continue 2
				cat "$REG_LOG" >&2
				reg_stop
				fail "reg_start: registry exited at start (log above)"
			fi
			# only once our registry has bound the port can a 200 be its own
			if grep -q "listening on 127.0.0.1:$port" "$REG_LOG"; then
				code=$(_reg_curl --max-time 1 -o /dev/null -w '%{http_code}' "$REG_URL/v2/") || true
				[[ $code == 200 ]] && return 0
			fi
			sleep 0.1
		done
		cat "$REG_LOG" >&2
		reg_stop
		fail "reg_start: no 200 from $REG_URL/v2/ within 15s (log above)"
	done
	reg_stop
	fail "reg_start: no free port after 10 tries"
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
