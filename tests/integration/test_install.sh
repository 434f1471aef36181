#!/usr/bin/env bash
# An install works anywhere: configures, builds and installs a fresh copy of the project
# (its own build dir, `cmake --install --prefix P` into a temporary prefix that is not the
# configured one, with Debian's multiarch libdir when the compiler has one, under umask
# 002), then P/bin/regsweep finds P's modules with no --module-dir, and the SDK builds
# examples/module-skeleton out of tree twice, with its Makefile (pkg-config) and with
# CMake (find_package), each module loading in P/bin/regsweep with the expected verdicts.
# Last, the whole prefix is moved and still finds its modules.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

src=$(cd "$(dirname "$0")/../.." && pwd)
for tool in cmake make pkg-config "${CC:-cc}"; do
	command -v "$tool" >/dev/null || fail "$tool not found"
done
tmp=$(mktemp -d -t regsweep-install.XXXXXX)
trap 'rm -rf -- "$tmp"' EXIT
tmp=$(cd "$tmp" && pwd -P) # as /proc/self/exe names it, without symbolic links
# Nothing from the caller's environment may point at modules or at another SDK, nor a make
# jobserver of an outer make.
unset REGSWEEP_MODULE_PATH MAKEFLAGS MFLAGS MAKELEVEL PKG_CONFIG_PATH CMAKE_PREFIX_PATH

ma=$("${CC:-cc}" -print-multiarch 2>/dev/null || true)
libdir=${RS_INSTALL_LIBDIR:-lib${ma:+/$ma}}
P=$tmp/prefix

# run LOG CMD...: runs CMD with its output to $tmp/LOG, shown when it fails.
run() { local log=$tmp/$1; shift; run_logged "$log" "$@"; }

# verdicts FILE: "VERDICT REPO:TAG" for each tag of a decide output, sorted.
verdicts() {
	awk '$1 == "keep" || $1 == "delete" { print $1, $2 }' "$1" | LC_ALL=C sort
}

# --- the install ------------------------------------------------------------------------
# The configured prefix is never created: every module found below comes from P.
run configure.log cmake -S "$src" -B "$tmp/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DRS_TESTS=OFF -DRS_FUZZ=OFF -DCMAKE_INSTALL_PREFIX="$tmp/configured" \
	-DCMAKE_INSTALL_LIBDIR="$libdir"
run build.log cmake --build "$tmp/build" -j2
# umask 002 (user private groups): the directories made must still not be group-writable,
# or the loader would refuse every module in them.
install_umask_002() (
	umask 002
	cmake --install "$1" --prefix "$2"
)
run install.log install_umask_002 "$tmp/build" "$P"
[[ ! -e $tmp/configured ]] || fail "install wrote into the configured prefix"
for f in bin/regsweep include/regsweep/module.h "$libdir/pkgconfig/regsweep.pc" \
	"$libdir/cmake/regsweep/regsweepConfig.cmake" \
	"$libdir/cmake/regsweep/regsweepConfigVersion.cmake"; do
	[[ -f $P/$f ]] || fail "not installed: $f"
done
assert_eq "" "$(find "$P" -type d -perm /022)" "group- or world-writable directories"

# modules: every installed module, found in P/<libdir>/regsweep without --module-dir.
# (modules_of DIR BIN: "NAME PATH" per module BIN lists, with DIR written as P.)
modules_of() {
	"$2" modules --format json >"$tmp/modules.json" || fail "$2 modules failed"
	"$RS_PYTHON" - "$tmp/modules.json" "$1" <<'PY'
import json, os, sys
doc = json.load(open(sys.argv[1]))
for m in doc["modules"]:
    path = os.path.normpath(m["path"])
    print(m["name"], path.replace(sys.argv[2] + "/", "P/", 1))
PY
}
want_modules="age P/$libdir/regsweep/age.so
gc_distribution P/$libdir/regsweep/gc_distribution.so
keep_last P/$libdir/regsweep/keep_last.so
regex P/$libdir/regsweep/regex.so
untagged P/$libdir/regsweep/untagged.so"
assert_eq "$want_modules" "$(modules_of "$P" "$P/bin/regsweep" | LC_ALL=C sort)" "regsweep modules from P"

# decide: a stack of three installed modules, loaded by name, no --module-dir.
cat >"$tmp/three.stack" <<'STACK'
policy = (
  { module = "regex";     control = "requisite"; args = { keep = [ "release-.*" ]; }; },
  { module = "keep_last"; control = "required";  args = { count = 1; }; },
  { module = "age";       control = "required";  args = { older_than = "30d"; }; }
);
STACK
cat >"$tmp/three.json" <<'JSON'
{ "repository": "team/app", "now": "2024-06-01T00:00:00Z",
  "images": [
    { "tags": ["release-1"], "created": "2024-01-01T00:00:00Z" },
    { "tags": ["b1"], "created": "2024-05-31T00:00:00Z" },
    { "tags": ["b2"], "created": "2024-05-20T00:00:00Z" },
    { "tags": ["b3"], "created": "2024-01-01T00:00:00Z" } ] }
JSON
expect_rc 0 "$tmp/three" "$P/bin/regsweep" decide -c "$tmp/three.stack" --images "$tmp/three.json"
assert_eq "delete team/app:b3
keep team/app:b1
keep team/app:b2
keep team/app:release-1" "$(verdicts "$tmp/three.out")" "installed modules' verdicts"
assert_contains "$(cat "$tmp/three.out")" \
	"total: 1 repositories, 4 tags, 3 kept, 1 to delete, 1 manifests to delete" "decide total"
assert_contains "$(cat "$tmp/three.out")" "keep   team/app:b2  age: created 2024-05-20T00:00:00Z, within 30d" \
	"age decides b2"

# --- the skeleton, out of tree ----------------------------------------------------------
skeleton_verdicts="delete team/app:tmp-a
delete team/app:tmp-b
delete team/app:tmp-old
keep team/app:tmp-new
keep team/app:tmp-rc
keep team/app:tmp-repro
keep team/app:v1.0
keep team/app:v2.0"
skeleton=$src/examples/module-skeleton

# decide_skeleton NAME DIR: P/bin/regsweep runs skeleton.stack with skeleton.so from DIR.
decide_skeleton() {
	expect_rc 0 "$tmp/$1" "$P/bin/regsweep" decide -c "$skeleton/skeleton.stack" \
		--images "$skeleton/images.json" --module-dir "$2"
	assert_eq "$skeleton_verdicts" "$(verdicts "$tmp/$1.out")" "$1: skeleton verdicts"
	assert_contains "$(cat "$tmp/$1.out")" \
		"delete team/app:tmp-old  skeleton: tmp-old created 2024-05-01T00:00:00Z, older than 7d" \
		"$1: skeleton's reason"
	assert_contains "$(cat "$tmp/$1.out")" \
		"keep   team/app:tmp-repro  skeleton: tmp-repro: created time unknown" \
		"$1: unknown time keeps"
}

# With its Makefile, in a copy (it builds in place), the SDK found by pkg-config.
cp -R "$skeleton" "$tmp/mk"
rm -f "$tmp/mk/skeleton.so"
export PKG_CONFIG_PATH=$P/$libdir/pkgconfig
assert_eq "$P/$libdir/regsweep" "$(pkg-config --variable=moduledir regsweep)" \
	"pkg-config moduledir"
assert_eq "-I$P/include" "$(pkg-config --cflags regsweep | sed 's/ *$//')" "pkg-config cflags"
run make.log make -C "$tmp/mk" check REGSWEEP="$P/bin/regsweep"
assert_contains "$(cat "$tmp/make.log")" "ok: 8 verdicts as expected" "make check"
decide_skeleton make "$tmp/mk"
unset PKG_CONFIG_PATH

# With CMake, from the source dir into a build dir of its own, the SDK found by
# find_package; ctest runs the same check with the REGSWEEP_EXECUTABLE the package found.
run cm-configure.log cmake -S "$skeleton" -B "$tmp/cm" -DCMAKE_PREFIX_PATH="$P"
assert_contains "$(grep '^regsweep_DIR:' "$tmp/cm/CMakeCache.txt")" "$P/$libdir/cmake/regsweep" \
	"find_package found P's package"
assert_eq "REGSWEEP_EXECUTABLE:FILEPATH=$P/bin/regsweep" \
	"$(grep '^REGSWEEP_EXECUTABLE:' "$tmp/cm/CMakeCache.txt")" "the package's regsweep"
run cm-build.log cmake --build "$tmp/cm"
[[ -f $tmp/cm/skeleton.so && ! -e $tmp/cm/libskeleton.so ]] || fail "cmake built no skeleton.so"
run cm-ctest.log ctest --test-dir "$tmp/cm" --output-on-failure
assert_contains "$(cat "$tmp/cm-ctest.log")" "100% tests passed" "ctest of the skeleton"
decide_skeleton cmake "$tmp/cm"

# cmake --install puts it where P/bin/regsweep looks: found by name, no --module-dir.
run cm-install.log cmake --install "$tmp/cm"
[[ -f $P/$libdir/regsweep/skeleton.so ]] || fail "skeleton.so not installed into P's module dir"
want_all=$(printf '%s\nskeleton P/%s/regsweep/skeleton.so\n' "$want_modules" "$libdir" | LC_ALL=C sort)
assert_eq "$want_all" "$(modules_of "$P" "$P/bin/regsweep" | LC_ALL=C sort)" \
	"regsweep modules with the skeleton installed"
expect_rc 0 "$tmp/installed" "$P/bin/regsweep" decide -c "$skeleton/skeleton.stack" \
	--images "$skeleton/images.json"
assert_eq "$skeleton_verdicts" "$(verdicts "$tmp/installed.out")" "installed skeleton's verdicts"

# --- relocated ---------------------------------------------------------------------------
mv "$P" "$tmp/moved"
assert_eq "$want_all" \
	"$(modules_of "$tmp/moved" "$tmp/moved/bin/regsweep" | LC_ALL=C sort)" \
	"regsweep modules after the prefix moved"
expect_rc 0 "$tmp/moved-three" "$tmp/moved/bin/regsweep" decide -c "$tmp/three.stack" \
	--images "$tmp/three.json"
assert_eq "$(verdicts "$tmp/three.out")" "$(verdicts "$tmp/moved-three.out")" \
	"verdicts after the prefix moved"
# --- installed where configured ------------------------------------------------------------
# Then the module dir beside the binary and the configured one are one directory: each
# module is listed once, not a second time as shadowed by itself.
run install-configured.log cmake --install "$tmp/build"
assert_eq "$want_modules" "$(modules_of "$tmp/configured" "$tmp/configured/bin/regsweep" |
	LC_ALL=C sort)" "regsweep modules installed where configured"
echo "ok: installed into a prefix ($libdir), modules found without --module-dir, skeleton built with make and cmake"
