#!/usr/bin/env bash
# The Debian package: builds regsweep_<version>_<arch>.deb from a fresh copy of the project
# (cpack -G DEB, prefix /usr, in a build dir of its own), installs it with dpkg -i, checks
# that /usr/bin/regsweep finds the packaged modules and plans against a real registry, that
# the SDK is found by pkg-config, then removes it with dpkg -r.
# Needs root and dpkg; skips (exit 0) otherwise, and when a regsweep package or an
# unpackaged /usr/bin/regsweep is there already, which it would clobber. The package is
# removed again however the test ends.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

skip() {
	echo "SKIP: test_deb: $*"
	exit 0
}
[[ $(id -u) == 0 ]] || skip "not root (dpkg -i needs it)"
command -v dpkg >/dev/null || skip "no dpkg"
command -v cpack >/dev/null || skip "no cpack"
if dpkg -s regsweep >/dev/null 2>&1; then
	skip "a regsweep package is installed already ($(dpkg-query -W -f='${Version} ${db:Status-Abbrev}' regsweep)); not touching it"
fi
[[ ! -e /usr/bin/regsweep ]] || skip "/usr/bin/regsweep exists outside any package; not touching it"
[[ -n ${RS_SEED:-} && -x $RS_SEED ]] || fail "RS_SEED (the rs-seed tool) not set; run through ctest"

src=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d -t regsweep-deb.XXXXXX)
tmp=$(cd "$tmp" && pwd -P)
installed=0
cleanup() {
	local rc=$?
	if ((installed)); then
		dpkg -r regsweep >"$tmp/cleanup.log" 2>&1 ||
			{ cat "$tmp/cleanup.log" >&2; echo "test_deb: dpkg -r regsweep failed" >&2; rc=1; }
	fi
	reg_stop
	rm -rf -- "$tmp"
	exit "$rc"
}
trap cleanup EXIT
unset REGSWEEP_MODULE_PATH MAKEFLAGS MFLAGS MAKELEVEL PKG_CONFIG_PATH

# run LOG CMD...: runs CMD with its output to $tmp/LOG, shown when it fails.
run() { local log=$tmp/$1; shift; run_logged "$log" "$@"; }

# --- the package --------------------------------------------------------------------------
run configure.log cmake -S "$src" -B "$tmp/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DRS_TESTS=OFF -DRS_FUZZ=OFF -DCMAKE_INSTALL_PREFIX=/usr
run build.log cmake --build "$tmp/build" -j2
cpack_deb() (
	cd "$1" && cpack -G DEB
)
run cpack.log cpack_deb "$tmp/build"
debs=("$tmp"/build/regsweep_*.deb)
[[ ${#debs[@]} == 1 && -f ${debs[0]} ]] || fail "cpack made no single regsweep_*.deb: ${debs[*]}"
deb=${debs[0]}
# GNUInstallDirs gives the multiarch libdir for /usr on Debian.
libdir=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:[A-Z]*=//p' "$tmp/build/CMakeCache.txt")
moddir=/usr/$libdir/regsweep

info=$(dpkg-deb -f "$deb" Package Depends Maintainer)
assert_contains "$info" "Package: regsweep" "package name"
for dep in libc6 libcurl4 libconfig9 libcjson1 libpcre2-8-0 libssl3; do
	assert_contains "$info" "$dep" "Depends"
done
contents=$(dpkg-deb -c "$deb" | awk '{ print $1, $NF }')
for f in usr/bin/regsweep "${moddir#/}/keep_last.so" "${moddir#/}/gc_distribution.so" \
	usr/include/regsweep/module.h "usr/$libdir/pkgconfig/regsweep.pc" \
	"usr/$libdir/cmake/regsweep/regsweepConfig.cmake"; do
	assert_contains "$contents" " ./$f" "in the package: /$f"
done
# The loader refuses modules in a directory others can write to: none in the package.
assert_eq "" "$(awk '$1 ~ /^d/ && ($1 ~ /^d....w/ || $1 ~ /^d.......w/)' <<<"$contents")" \
	"group- or world-writable directories in the package"

# --- installed ----------------------------------------------------------------------------
installed=1
run dpkg-i.log dpkg -i "$deb"
[[ -x /usr/bin/regsweep ]] || fail "dpkg -i installed no /usr/bin/regsweep"

/usr/bin/regsweep modules --format json >"$tmp/modules.json" || fail "regsweep modules failed"
got=$("$RS_PYTHON" -c '
import json, os, sys
for m in json.load(open(sys.argv[1]))["modules"]:
    print(m["name"], os.path.normpath(m["path"]))' "$tmp/modules.json" | LC_ALL=C sort)
assert_eq "age $moddir/age.so
gc_distribution $moddir/gc_distribution.so
keep_last $moddir/keep_last.so
regex $moddir/regex.so
untagged $moddir/untagged.so" "$got" "modules of the package"
assert_eq "$moddir" "$(pkg-config --variable=moduledir regsweep)" "pkg-config moduledir"

reg_start
"$RS_SEED" "$REG_URL" >/dev/null <<'SPEC'
image team/app b1 2024-01-01T00:00:00Z
image team/app b2 2024-02-01T00:00:00Z
image team/app b3 2024-03-01T00:00:00Z
image team/app release-1 2023-01-01T00:00:00Z
SPEC
cat >"$tmp/deb.stack" <<STACK
registry = { url = "$REG_URL"; };
policy = (
  { module = "regex";     control = "requisite"; args = { keep = [ "release-.*" ]; }; },
  { module = "keep_last"; control = "required";  args = { count = 2; }; }
);
STACK
expect_rc 0 "$tmp/plan" /usr/bin/regsweep plan -c "$tmp/deb.stack" -v
assert_eq "delete team/app:b1
keep team/app:b2
keep team/app:b3
keep team/app:release-1" \
	"$(awk '$1 == "keep" || $1 == "delete" { print $1, $2 }' "$tmp/plan.out" | LC_ALL=C sort)" \
	"plan of the installed package"
assert_contains "$(cat "$tmp/plan.out")" "delete team/app:b1  keep_last: b1 rank 3 of 3 images" \
	"keep_last ranks the builds"
assert_eq 0 "$(reg_delete_count)" "DELETE requests after plan"

# --- removed ------------------------------------------------------------------------------
run dpkg-r.log dpkg -r regsweep
installed=0
[[ ! -e /usr/bin/regsweep ]] || fail "/usr/bin/regsweep still there after dpkg -r"
[[ ! -e $moddir ]] || fail "$moddir still there after dpkg -r"
if dpkg -s regsweep >/dev/null 2>&1; then
	fail "dpkg still knows regsweep after dpkg -r: $(dpkg-query -W -f='${db:Status-Abbrev}' regsweep)"
fi
echo "ok: $(basename "$deb") built, installed, planned against a registry, removed"
