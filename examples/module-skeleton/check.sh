#!/bin/sh
# check.sh REGSWEEP MODULE_DIR - the module's offline test, for `make check` and ctest:
# runs skeleton.stack over images.json with `regsweep decide` (no registry) loading
# skeleton.so from MODULE_DIR, and compares every tag's verdict with expected.txt. Also
# checks that the module exports nothing but `regsweep_module`.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
regsweep=${1:?usage: check.sh REGSWEEP MODULE_DIR}
moddir=${2:?usage: check.sh REGSWEEP MODULE_DIR}

if ! command -v "$regsweep" >/dev/null 2>&1; then
	echo "check.sh: regsweep not found as '$regsweep': put it on PATH or name it" \
		"(make check REGSWEEP=/path/to/regsweep, cmake -DREGSWEEP_EXECUTABLE=...)" >&2
	exit 1
fi
if command -v nm >/dev/null 2>&1; then
	syms=$(nm -D --defined-only "$moddir/skeleton.so" | awk '{ print $NF }')
	if [ "$syms" != regsweep_module ]; then
		echo "FAIL: skeleton.so must export regsweep_module alone, exports:" "$syms" >&2
		exit 1
	fi
fi

out=$("$regsweep" decide -c "$here/skeleton.stack" --images "$here/images.json" \
	--module-dir "$moddir")
got=$(printf '%s\n' "$out" | awk '$1 == "keep" || $1 == "delete" { print $1, $2 }' |
	LC_ALL=C sort)
want=$(grep -v '^#' "$here/expected.txt" | awk 'NF' | LC_ALL=C sort)
if [ "$got" != "$want" ]; then
	printf '%s\n' "$out" >&2
	printf 'FAIL: verdicts differ from expected.txt\n--- expected\n%s\n--- got\n%s\n' \
		"$want" "$got" >&2
	exit 1
fi
echo "ok: $(printf '%s\n' "$want" | wc -l | tr -d ' ') verdicts as expected"
