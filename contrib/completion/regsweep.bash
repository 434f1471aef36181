# bash completion for regsweep(1)                                    -*- shell-script -*-
# Installed as <datadir>/bash-completion/completions/regsweep, or source it from ~/.bashrc.
# Completes the commands, each command's options, files for the options that take one
# (and for apply's plan and undo's journal), directories for --module-dir, and the values
# of --format and --log-format.  Options may come before the command, as regsweep allows.

# The options each command takes, as `regsweep help COMMAND` lists them.
_regsweep_options() {
	local common="--log-format -v --verbose -q --quiet -h --help"

	case $1 in
	plan) echo "-c --config -o --output -f --format -r --registry -m --module-dir" \
		"-j --concurrency $common" ;;
	apply) echo "-c --config -f --format -r --registry -m --module-dir -j --concurrency" \
		"--force --max-plan-age --journal --metrics $common" ;;
	run) echo "-c --config -o --output -f --format -r --registry -m --module-dir" \
		"-j --concurrency -n --dry-run --force --journal --metrics $common" ;;
	undo) echo "-c --config -r --registry -j --concurrency $common" ;;
	report) echo "-c --config -f --format -r --registry -m --module-dir -j --concurrency" \
		"--top $common" ;;
	modules) echo "-f --format -m --module-dir $common" ;;
	check) echo "-c --config -m --module-dir $common" ;;
	decide) echo "-c --config -f --format -m --module-dir --images --now $common" ;;
	help) ;;
	*) echo "-c --config -o --output -f --format -r --registry -m --module-dir" \
		"-j --concurrency -n --dry-run --force --max-plan-age --journal --top" \
		"--metrics --images --now $common --version" ;;
	esac
}

# Options whose value is the next word.
_regsweep_takes_value() {
	case $1 in
	-c | --config | -o | --output | -f | --format | -r | --registry | -m | --module-dir | \
		-j | --concurrency | --max-plan-age | --journal | --top | --images | --now | \
		--metrics | --log-format) return 0 ;;
	esac
	return 1
}

# Files (dirs: directories only) into COMPREPLY, with bash-completion's _filedir when it
# is there.
_regsweep_files() {
	local cur=$2

	if declare -F _filedir >/dev/null; then
		cur=$cur _filedir ${1:+-d}
		return
	fi
	compopt -o filenames 2>/dev/null
	if [[ -n $1 ]]; then
		mapfile -t COMPREPLY < <(compgen -d -- "$cur")
	else
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
	fi
}

_regsweep() {
	local commands="plan apply run undo report modules check decide help"
	local -a words
	local cur prev='' i word cmd='' args=0 n

	COMPREPLY=()
	# The words up to the cursor, split at blanks only: bash also splits at "=" and ":"
	# (COMP_WORDBREAKS), which would cut --format=json and http://host:5000 apart.
	if [[ -n ${COMP_LINE+set} && -n ${COMP_POINT+set} ]]; then
		read -ra words <<<"${COMP_LINE:0:COMP_POINT}"
		[[ ${COMP_LINE:0:COMP_POINT} =~ [[:blank:]]$ || ${#words[@]} -eq 0 ]] && words+=("")
	else
		words=("${COMP_WORDS[@]:0:COMP_CWORD+1}")
	fi
	n=${#words[@]}
	cur=${words[n - 1]}
	((n > 1)) && prev=${words[n - 2]}
	if [[ $cur == --*=* ]]; then # --opt=value: complete the value
		prev=${cur%%=*}
		cur=${cur#*=}
	fi

	# The command word, and how many positional arguments follow it.
	for ((i = 1; i < n - 1; i++)); do
		word=${words[i]}
		if [[ $word == -* ]]; then
			[[ $word != *=* ]] && _regsweep_takes_value "$word" && ((i++))
			continue
		fi
		if [[ -z $cmd ]]; then
			cmd=$word
		else
			((args++))
		fi
	done

	case $prev in
	-c | --config | -o | --output | --journal | --images | --metrics)
		_regsweep_files "" "$cur"
		return 0
		;;
	-m | --module-dir)
		_regsweep_files dirs "$cur"
		return 0
		;;
	-f | --format | --log-format)
		mapfile -t COMPREPLY < <(compgen -W "text json" -- "$cur")
		return 0
		;;
	-r | --registry)
		if [[ $cur != *:* ]]; then
			mapfile -t COMPREPLY < <(compgen -W "http:// https://" -- "$cur")
			compopt -o nospace 2>/dev/null
		fi
		return 0
		;;
	-j | --concurrency | --max-plan-age | --top | --now)
		return 0 # a number, a duration or a time: nothing to offer
		;;
	esac

	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$(_regsweep_options "$cmd")" -- "$cur")
		return 0
	fi
	case $cmd in
	"")
		mapfile -t COMPREPLY < <(compgen -W "$commands" -- "$cur")
		;;
	help)
		((args == 0)) && mapfile -t COMPREPLY < <(compgen -W "${commands% help}" -- "$cur")
		;;
	apply | undo) # the plan file, the journal
		((args == 0)) && _regsweep_files "" "$cur"
		;;
	esac
	return 0
}
complete -F _regsweep regsweep
