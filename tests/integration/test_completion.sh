#!/usr/bin/env bash
# contrib/completion: both scripts parse (bash -n, and zsh -n when zsh is installed); the bash
# one, sourced, completes commands, each command's options, the values of --format, files
# and directories, with options before the command too; and both offer exactly the options
# `regsweep help COMMAND` lists.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

dir=$(cd "$(dirname "$0")/../../contrib/completion" && pwd)
bash -n "$dir/regsweep.bash" || fail "bash -n regsweep.bash"
if command -v zsh >/dev/null; then
	zsh -n "$dir/_regsweep" || fail "zsh -n _regsweep"
else
	echo "SKIP: zsh -n _regsweep: zsh is not installed"
fi

# complete LINE: what the bash completion offers with the cursor at the end of LINE, sorted,
# on one line; run as bash runs it, in a shell of its own that sourced the script.
complete() {
	bash --norc --noprofile -c '
		. "$1"
		COMP_LINE=$2 COMP_POINT=${#2}
		read -ra COMP_WORDS <<<"$2"
		[[ $2 == *" " ]] && COMP_WORDS+=("")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		_regsweep regsweep "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
		printf "%s\n" "${COMPREPLY[@]}" | LC_ALL=C sort | tr "\n" " " | sed "s/ $//"' \
		_ "$dir/regsweep.bash" "$1"
}

assert_eq "plan" "$(complete "regsweep pl")" "regsweep pl<TAB>"
assert_eq "--format" "$(complete "regsweep plan --fo")" "regsweep plan --fo<TAB>"
assert_eq "json text" "$(complete "regsweep plan --format ")" "values of --format"
assert_eq "json" "$(complete "regsweep report --format=j")" "--format=j<TAB>"
assert_eq "json text" "$(complete "regsweep check --log-format ")" "values of --log-format"
assert_eq "apply check decide help modules plan report run undo" "$(complete "regsweep ")" \
	"the commands"
assert_eq "plan" "$(complete "regsweep -v --registry http://127.0.0.1:5000 pl")" \
	"options before the command"
assert_eq "--dry-run" "$(complete "regsweep run -n --d")" "run's --dry-run"
assert_eq "" "$(complete "regsweep plan --d")" "plan takes no --dry-run"
assert_eq "--images" "$(complete "regsweep decide --im")" "decide's --images"
assert_eq "apply check decide modules plan report run undo" "$(complete "regsweep help ")" \
	"help's commands"
assert_eq "" "$(complete "regsweep help plan ")" "help takes one command"

# Files for the options that take one, directories for --module-dir.
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
mkdir "$work/mods"
touch "$work/a.stack" "$work/plan.json"
cd "$work"
for opt in -c --config -o --output --journal --images --metrics; do
	assert_eq "a.stack mods plan.json" "$(complete "regsweep run $opt ")" "files after $opt"
done
assert_eq "a.stack" "$(complete "regsweep plan --config=a")" "--config=a<TAB>"
assert_eq "mods" "$(complete "regsweep modules --module-dir ")" "directories after --module-dir"
assert_eq "plan.json" "$(complete "regsweep apply p")" "apply's plan file"
assert_eq "" "$(complete "regsweep apply plan.json p")" "apply takes one plan"

# Every command's options, as regsweep lists them, and only those.
for cmd in plan apply run undo report modules check decide; do
	want=$("$REGSWEEP" help "$cmd" | sed -n '/^options:/,/^$/p' |
		grep -oE '^ {2,}(-[a-zA-Z], )?--[a-z][a-z-]*' | tr -d ',' | tr ' ' '\n' | awk 'NF' |
		LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//')
	[[ -n $want ]] || fail "no options in: regsweep help $cmd"
	assert_eq "$want" "$(complete "regsweep $cmd -")" "bash: the options of $cmd"
	for o in $want; do
		[[ $o == --* ]] || continue
		grep -qe "${o}[=[}]" "$dir/_regsweep" || fail "zsh: $o is not in _regsweep"
	done
done

echo "test_completion: ok"
