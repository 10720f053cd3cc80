# bash completion for nestbox(1), the client of nestboxd.
#
# The commands, their actions and their options are read from nestbox's own
# --help, so what tools/nestbox.c declares completes with no change here:
#  - a new option: nothing to add here (its --help line is enough); when its
#    value can be completed, one line in _nestbox_option_value;
#  - a new command or action: nothing to add for its name (its line in the
#    help's "Commands:" list is enough); one line in _nestbox_argument for
#    what its arguments complete to.
# Task ids and machine names come from the daemon (`nestbox --json list`,
# `nestbox --json machines`), asked with the --socket, --url and
# --token-file the command line already has.

# nestbox with the connection options typed so far; its output only.
_nestbox_run()
{
    LC_ALL=C "${words[0]}" "${_nestbox_connection[@]}" "$@" 2>/dev/null
}

# Fills the caller's `options` (each long option, "--long=" when it takes a
# value) and `long_of` (-s and --long -> --long) from `nestbox ARGS --help`.
_nestbox_load_options()
{
    local line
    options=()
    long_of=()
    while IFS= read -r line; do
        [[ $line =~ ^[[:space:]]+(-([A-Za-z0-9]),[[:space:]]+)?(--[a-z][a-z0-9-]*)(=?) ]] ||
            continue
        options+=("${BASH_REMATCH[3]}${BASH_REMATCH[4]}")
        long_of[${BASH_REMATCH[3]}]=${BASH_REMATCH[3]}
        [[ ${BASH_REMATCH[2]} ]] && long_of[-${BASH_REMATCH[2]}]=${BASH_REMATCH[3]}
    done < <(_nestbox_run "$@" --help)
}

# Whether WORD ($1) is an option, of those loaded, whose value is the next word.
_nestbox_takes_next()
{
    local long=${long_of[$1]-}
    [[ $long && " ${options[*]} " == *" $long= "* ]]
}

# The commands (no argument), or the actions of command $1, from --help.
_nestbox_commands()
{
    local line in_list=
    while IFS= read -r line; do
        if [[ $line == Commands:* ]]; then
            in_list=1
        elif [[ $in_list && -z $line ]]; then
            break
        elif [[ $in_list && $# == 0 && $line =~ ^\ \ ([a-z][a-z-]*) ]]; then
            printf '%s\n' "${BASH_REMATCH[1]}"
        elif [[ $in_list && $# == 1 && $line =~ ^\ \ $1\ ([a-z][a-z-]*) ]]; then
            printf '%s\n' "${BASH_REMATCH[1]}"
        fi
    done < <(_nestbox_run --help) | sort -u
}

# The values of "KEY" in the daemon's JSON answer to `nestbox --json ARGS`.
_nestbox_json_values()
{
    local key=$1
    shift
    _nestbox_run --json "$@" |
        sed -n 's/.*"'"$key"'"[[:space:]]*:[[:space:]]*"\{0,1\}\([^",]*\)"\{0,1\}.*/\1/p'
}

_nestbox_machines() { _nestbox_json_values name machines; }

# The tasks that can still be cancelled.
_nestbox_live_tasks()
{
    _nestbox_json_values id list --state queued
    _nestbox_json_values id list --state running
}

_nestbox_reply() { mapfile -t COMPREPLY < <(compgen -W "$*" -- "$cur"); }

# What the value of option $2 (its long name) of command $1 completes to.
_nestbox_option_value()
{
    case $1:$2 in
        *:--socket | *:--token-file | snapshot:--output) _filedir ;;
        submit:--machine | snapshot:--machine) _nestbox_reply "$(_nestbox_machines)" ;;
        list:--state) _nestbox_reply queued running reported failed cancelled ;;
        submit:--route) _nestbox_reply none drop internet sinkhole vpn ;;
        submit:--package) _nestbox_reply exe shell python dll ;;
        *) COMPREPLY=() ;; # a value nothing here can guess
    esac
}

# What positional argument $2 of command $1 completes to; for machine and
# snapshot, argument 1 is the action and $3 names it once it is typed.
_nestbox_argument()
{
    case $1:$2:$3 in
        submit:1:) _filedir ;;
        status:1:) _nestbox_reply "$(_nestbox_json_values id list)" ;;
        cancel:1:) _nestbox_reply "$(_nestbox_live_tasks)" ;;
        machine:1: | snapshot:1:) _nestbox_reply "$(_nestbox_commands "$1")" ;;
        machine:2:enable | machine:2:disable) _nestbox_reply "$(_nestbox_machines)" ;;
        snapshot:2:begin | snapshot:2:copy | snapshot:2:commit | snapshot:2:rollback | \
            snapshot:2:export) _nestbox_reply "$(_nestbox_machines)" ;;
        snapshot:*:copy | snapshot:2:import) _filedir ;;
        *) COMPREPLY=() ;;
    esac
}

_nestbox()
{
    local cur prev words cword split
    _init_completion -s || return

    local -a options=() _nestbox_connection=()
    local -A long_of=()
    local i word long command= command_at=0 action= n=0

    # The command: the first word that is neither an option nor its value.
    _nestbox_load_options
    for ((i = 1; i < cword; i++)); do
        word=${words[i]}
        if [[ $word != -* ]]; then
            command=$word command_at=$i
            break
        fi
        _nestbox_takes_next "$word" && ((i++))
    done
    [[ $command ]] && _nestbox_load_options "$command"

    # The connection options (they may follow the command), and the
    # positional arguments before the cursor.
    for ((i = 1; i < cword; i++)); do
        word=${words[i]}
        if [[ $word == -* ]]; then
            long=${long_of[${word%%=*}]-}
            if [[ $long == --socket || $long == --url || $long == --token-file ]]; then
                [[ $word == *=* ]] && _nestbox_connection+=("$word") ||
                    _nestbox_connection+=("$long" "${words[i + 1]-}")
            fi
            _nestbox_takes_next "$word" && ((i++))
        elif ((i > command_at)); then
            ((n++))
            ((n == 1)) && action=$word
        fi
    done
    [[ $command == machine || $command == snapshot ]] || action=

    if [[ $split == true ]] || { [[ $prev == -* ]] && _nestbox_takes_next "$prev"; }; then
        _nestbox_option_value "$command" "${long_of[$prev]-$prev}"
    elif [[ $cur == -* ]]; then
        _nestbox_reply "${options[*]}"
        [[ ${COMPREPLY-} == *= ]] && compopt -o nospace
    elif [[ -z $command ]]; then
        _nestbox_reply "$(_nestbox_commands)"
    else
        _nestbox_argument "$command" $((n + 1)) "$action"
    fi
} &&
    complete -F _nestbox nestbox
