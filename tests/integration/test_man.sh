#!/usr/bin/env bash
# docs/man: every page renders without a groff warning; regsweep.1 documents every command
# and, per command, exactly the options `regsweep help COMMAND` lists; regsweep-modules.7
# documents every shipped module and each of its arguments; and every example stack in the
# pages passes `regsweep check`.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

man_dir=$(cd "$(dirname "$0")/../../docs/man" && pwd)
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT

if command -v groff >/dev/null; then
	for page in "$man_dir"/*.[157]; do
		groff -man -ww -z "$page" >"$work/groff.out" 2>&1 ||
			fail "groff -man -ww -z $page: $(cat "$work/groff.out")"
		[[ ! -s $work/groff.out ]] || fail "groff warns about $page: $(cat "$work/groff.out")"
	done
else
	echo "SKIP: rendering: groff is not installed"
fi

# Per command, the options regsweep lists (the short spelling where there is one, -h left
# out) against regsweep.1's "Options:" paragraph of that command.
for cmd in plan apply run undo report modules check decide; do
	"$REGSWEEP" help "$cmd" | sed -n '/^options:/,/^$/p' |
		grep -oE '^ {2,}(-[a-zA-Z], )?--[a-z][a-z-]*' | awk '{ print $1 }' | tr -d ',' |
		grep -vx -- -h | LC_ALL=C sort >"$work/$cmd.help"
	[[ -s $work/$cmd.help ]] || fail "no options in: regsweep help $cmd"
done
"$RS_PYTHON" - "$man_dir/regsweep.1" "$work" <<'PY' || fail "regsweep.1 and regsweep help disagree (above)"
import re, sys
page, work = open(sys.argv[1]).read(), sys.argv[2]
commands = section = None
bad = 0
# .TP, then the command's first word in .B/.BI/.BR, ..., .IP Options:, .BR -x , lines.
for m in re.finditer(r'^\.TP\n\.B[IR]? "?(\w+)[^\n]*\n(.*?)(?=^\.TP|^\.SH)', page, re.M | re.S):
    cmd, body = m.group(1), m.group(2)
    opts = re.search(r'^Options:\n((?:\.BR \S+ [,.]\n)+)', body, re.M)
    if cmd == "help" or not opts:
        continue
    got = sorted(l.split()[1].replace("\\-", "-") for l in opts.group(1).splitlines())
    want = open(f"{work}/{cmd}.help").read().split()
    if got != want:
        print(f"regsweep.1, {cmd}: options {got}, regsweep help {cmd}: {want}")
        bad = 1
    open(f"{work}/{cmd}.man", "w").write("")
for cmd in ("plan", "apply", "run", "undo", "report", "modules", "check", "decide"):
    try:
        open(f"{work}/{cmd}.man")
    except OSError:
        print(f"regsweep.1 has no Options: paragraph for {cmd}")
        bad = 1
    for opt in open(f"{work}/{cmd}.help").read().split():
        if "\\-" + opt[1:].replace("-", "\\-") not in page:
            print(f"regsweep.1 does not mention {opt}")
            bad = 1
sys.exit(bad)
PY

# Every module the build ships, and each of its arguments.
"$REGSWEEP" modules --format json >"$work/modules.json"
"$RS_PYTHON" - "$man_dir/regsweep-modules.7" "$work/modules.json" \
	"$(dirname "$REGSWEEP")/modules/" <<'PY' || fail "regsweep-modules.7 lacks modules or arguments (above)"
import json, sys
page = open(sys.argv[1]).read().splitlines()
mods = [m for m in json.load(open(sys.argv[2]))["modules"] if m["path"].startswith(sys.argv[3])]
bad = 0 if mods else 1
for m in mods:
    if f".SS {m['name']}" not in page:
        print(f"no section for module {m['name']}")
        bad = 1
        continue
    section = page[page.index(f".SS {m['name']}") + 1:]
    section = section[:next((i for i, l in enumerate(section) if l.startswith((".SS", ".SH"))),
                            len(section))]
    for a in m["args"]:
        if not any(l.startswith(f'.BR {a["name"]} "') for l in section):
            print(f"module {m['name']}: argument {a['name']} is not documented")
            bad = 1
sys.exit(bad)
PY

# The example stacks (and stack fragments) of the pages, through regsweep check.
"$RS_PYTHON" - "$man_dir" "$work" <<'PY'
import re, sys
man, work = sys.argv[1], sys.argv[2]
n = 0
for name in ("regsweep.stack.5", "regsweep-modules.7", "regsweep.1"):
    for m in re.finditer(r"^\.EX\n(.*?)^\.EE\n", open(f"{man}/{name}").read(), re.S | re.M):
        text = m.group(1).replace("\\-", "-").replace("\\e", "\\").replace("\\(dq", '"')
        if text.lstrip().startswith("{ module"):  # policy entries
            text = "policy = (\n" + text.rstrip().rstrip(",") + "\n);\n"
        elif "policy = (" not in text and "policies = (" not in text:
            if not re.match(r"\s*(registry|after|maintenance) = ", text):
                continue
            text += 'policy = ( { module = "age"; control = "required"; ' \
                    'args = { older_than = "1d"; }; } );\n'
        if "[ ... ]" in text:
            continue
        n += 1
        open(f"{work}/example-{n}.stack", "w").write(f"# {name}\n" + text)
open(f"{work}/releases.policy", "w").write(
    'policy = ( { module = "keep_last"; control = "required"; args = { count = 20; }; } );\n')
PY
count=0
for stack in "$work"/example-*.stack; do
	expect_rc 0 "$work/check" "$REGSWEEP" check -c "$stack"
	count=$((count + 1))
done
((count >= 8)) || fail "only $count example stacks found in the pages"

echo "test_man: ok ($count example stacks)"
