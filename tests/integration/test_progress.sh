#!/usr/bin/env bash
# The operator's view: on a terminal, a progress line per phase (scan, delete) that is
# redrawn in place and cleared; not a byte of it when stderr is a pipe; and after a run, the
# per-repository table with deleted / skipped / failed manifests and the bytes reclaimable.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

reg_start
trap reg_stop EXIT

echo "bulk p/app 2 30 2023-11-14T22:13:20Z 3600" | "$RS_SEED" "$REG_URL" >/dev/null
cat >"$REG_DIR/stack" <<STACK
registry = { url = "$REG_URL"; };
policy = ( { module = "keep_last"; control = "required"; args = { count = 5; }; } );
STACK

# script(1) gives the command a terminal; its output is what the terminal showed.
script -qec "'$REGSWEEP' run -c '$REG_DIR/stack' --journal '$REG_DIR/j1'" /dev/null \
	>"$REG_DIR/tty.txt"
tty=$(tr '\r' '\n' <"$REG_DIR/tty.txt")
assert_contains "$tty" "scan: 60/60" "scan progress reaches the total"
assert_contains "$tty" "delete: 50/50" "delete progress reaches the total"
assert_contains "$tty" $'\e[K' "the line is redrawn in place"

echo "bulk q/app 1 30 2023-11-14T22:13:20Z 3600" | "$RS_SEED" "$REG_URL" >/dev/null
"$REGSWEEP" run -c "$REG_DIR/stack" --journal "$REG_DIR/j2" >"$REG_DIR/out.txt" \
	2>"$REG_DIR/err.txt"
if grep -q $'\r\|scan: \|delete: ' "$REG_DIR/err.txt"; then
	fail "progress written to a pipe: $(cat -v "$REG_DIR/err.txt")"
fi
out=$(cat "$REG_DIR/out.txt")
assert_contains "$out" "REPOSITORY                                  TAGS    KEEP  DELETE MANIFESTS DELETED SKIPPED FAILED    RECLAIM" \
	"summary table header"
assert_contains "$out" "$(printf '%-40s %7d %7d %7d %9d %7d %7d %6d' q/app-1 30 5 25 25 25 0 0)" \
	"summary row of the repository swept"
assert_contains "$out" "$(printf '%-40s %7d %7d %7d %9d %7d %7d %6d %10s' p/app-1 5 5 0 0 0 0 0 '0 B')" \
	"summary row of a repository already clean"
assert_contains "$out" "reclaimable by the registry's garbage collector: " "estimate line"
echo "PASS: progress"
