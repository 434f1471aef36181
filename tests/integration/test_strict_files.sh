#!/usr/bin/env bash
# Code and secrets regsweep reads must be the invoking user's or root's and writable by
# nobody else (OpenSSH's StrictModes): a module file or directory others could write, or a
# module owned by another user, is refused before dlopen runs any of its code (also by
# `regsweep modules`); so is such a password file, and a FIFO in its place cannot hang the run
# (nor, elsewhere, swallow the first SIGTERM).
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[[ $(id -u) == 0 ]] || { echo "SKIP: needs root to give files to another user"; exit 0; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
chmod 755 "$dir"

# A module whose constructor leaves a mark: proof that dlopen ran its code.
cat >"$dir/marker.c" <<'C'
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
__attribute__((constructor)) static void mark(void)
{
	const char *p = getenv("RS_MARK");
	if (p)
		close(open(p, O_CREAT | O_WRONLY, 0600));
}
C
mkdir -m 755 "$dir/ok" "$dir/open"
cc -shared -fPIC -o "$dir/ok/marker.so" "$dir/marker.c"
chmod 755 "$dir/ok/marker.so"
export RS_MARK=$dir/mark

# The control: from a trusted directory the file is opened (and then refused: no descriptor;
# the build's own modules are listed, so the exit code says nothing here).
expect_rc "0|2" "$dir/trusted" "$REGSWEEP" modules --module-dir "$dir/ok"
[[ -e $RS_MARK ]] || fail "the control did not dlopen the module: the test proves nothing"
rm -f "$RS_MARK"

# case NAME SETUP-DESCRIPTION: regsweep modules lists no module from there and never ran it.
refused() {
	expect_rc "0|2" "$dir/$1" "$REGSWEEP" modules --module-dir "$2"
	assert_contains "$(cat "$dir/$1.err")" "$3" "$1: the reason"
	[[ ! -e $RS_MARK ]] || fail "$1: the module's code ran"
}
cp "$dir/ok/marker.so" "$dir/open/marker.so"
chmod 775 "$dir/open"
refused group-dir "$dir/open" "$dir/open/marker.so: refused: $dir/open is writable by group or others"
chmod 755 "$dir/open"
chmod 757 "$dir/open/marker.so"
refused other-file "$dir/open" "$dir/open/marker.so: refused: $dir/open/marker.so is writable by group or others"
chmod 755 "$dir/open/marker.so"
chown nobody "$dir/open/marker.so"
refused owner "$dir/open" "$dir/open/marker.so: refused: $dir/open/marker.so is owned by another user"

# The same check when a stack names the module, by name or by path: exit 2, file:line.
printf 'policy = ( { module = "%s"; control = "required"; } );\n' "$dir/open/marker.so" \
	>"$dir/path.stack"
expect_rc 2 "$dir/path" "$REGSWEEP" check -c "$dir/path.stack"
assert_contains "$(cat "$dir/path.err")" \
	"$dir/path.stack:1: $dir/open/marker.so: refused: $dir/open/marker.so is owned by another user" \
	"a stack naming the module"
[[ ! -e $RS_MARK ]] || fail "check ran the module's code"

# Password files: another user's, or writable by others, or a FIFO, are refused at once.
stack=$dir/auth.stack
printf 'registry = { url = "http://127.0.0.1:9"; auth = { username = "ci"; password_file = "%s"; }; };\n%s\n' \
	"$dir/pw" 'policy = ( { module = "age"; control = "required"; args = { older_than = "1d"; }; } );' \
	>"$stack"
printf 'secret\n' >"$dir/pw"
chmod 620 "$dir/pw"
expect_rc 2 "$dir/pw-group" "$REGSWEEP" plan -c "$stack"
assert_contains "$(cat "$dir/pw-group.err")" "$dir/pw: password file is writable by group or others" \
	"a group-writable password file"
chmod 600 "$dir/pw"
chown nobody "$dir/pw"
expect_rc 2 "$dir/pw-owner" "$REGSWEEP" plan -c "$stack"
assert_contains "$(cat "$dir/pw-owner.err")" "$dir/pw: password file is owned by another user" \
	"another user's password file"
rm -f "$dir/pw"
mkfifo -m 600 "$dir/pw"
expect_rc 2 "$dir/pw-fifo" timeout 20 "$REGSWEEP" plan -c "$stack"
assert_contains "$(cat "$dir/pw-fifo.err")" "$dir/pw: password file is not a regular file" \
	"a FIFO does not hang the run"
# A first SIGTERM while regsweep is blocked in the kernel (opening a FIFO where its docker
# config should be) ends the run: with SA_RESTART the open went on waiting and only a second
# signal got through.
mkfifo -m 600 "$dir/config.json"
printf 'registry = { url = "http://127.0.0.1:9"; docker_config = "%s"; };\n%s\n' \
	"$dir/config.json" 'policy = ( { module = "age"; control = "required"; args = { older_than = "1d"; }; } );' \
	>"$dir/fifo.stack"
"$REGSWEEP" plan -c "$dir/fifo.stack" >"$dir/fifo.out" 2>"$dir/fifo.err" &
pid=$!
sleep 1
kill -0 "$pid" 2>/dev/null || fail "regsweep did not block on the FIFO: the test proves nothing"
kill -TERM "$pid"
for ((i = 0; i < 50; i++)); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
	kill -KILL "$pid"
	fail "the first SIGTERM was swallowed: regsweep still runs"
fi
rc=0
wait "$pid" || rc=$?
[[ $rc != 0 ]] || fail "an interrupted run exited 0"
assert_contains "$(cat "$dir/fifo.err")" "$dir/config.json: cannot read docker config: Interrupted system call" \
	"what was interrupted"
echo "PASS: strict files"
