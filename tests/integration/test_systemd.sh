#!/usr/bin/env bash
# contrib/systemd: regsweep@.service and regsweep@.timer pass `systemd-analyze verify` without a
# word (a copy whose ExecStart names the regsweep under test, since verify wants it to exist),
# and say what the README promises: a oneshot `regsweep run` of /etc/regsweep/NAME.stack with
# metrics, the state directory, and a daily, persistent, randomized timer.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

src=$(cd "$(dirname "$0")/../../contrib/systemd" && pwd)
service=$src/regsweep@.service timer=$src/regsweep@.timer

has() { # FILE LINE: the unit has exactly this line
	grep -qxF -- "$2" "$1" || fail "$(basename "$1") lacks the line: $2"
}
has "$service" "Type=oneshot"
has "$service" "ExecStart=/usr/bin/regsweep run -c /etc/regsweep/%i.stack --metrics /var/lib/prometheus/node-exporter/regsweep-%i.prom"
has "$service" "StateDirectory=regsweep"
has "$service" "Environment=XDG_STATE_HOME=%S"
has "$service" "NoNewPrivileges=yes"
has "$service" "ProtectSystem=strict"
has "$service" "ReadWritePaths=-/var/lib/prometheus/node-exporter"
has "$service" "PrivateTmp=yes"
has "$timer" "OnCalendar=daily"
has "$timer" "Persistent=true"
has "$timer" "RandomizedDelaySec=1h"

if ! command -v systemd-analyze >/dev/null; then
	echo "SKIP: systemd-analyze verify: systemd-analyze is not installed"
	exit 0
fi
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
cp "$service" "$timer" "$work/"
binary=$(realpath "$REGSWEEP") # systemd wants an absolute path
sed -i "s#^ExecStart=/usr/bin/regsweep #ExecStart=$binary #" "$work/regsweep@.service"
grep -qF "ExecStart=$binary run" "$work/regsweep@.service" || fail "ExecStart not rewritten"
rc=0
(cd "$work" && systemd-analyze verify --man=no ./regsweep@test.service ./regsweep@test.timer) \
	>"$work/verify.out" 2>&1 || rc=$?
[[ $rc == 0 && ! -s $work/verify.out ]] ||
	fail "systemd-analyze verify (exit $rc): $(cat "$work/verify.out")"

echo "test_systemd: ok"
