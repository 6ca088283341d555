# bash completion for lockstep; installed as
# share/bash-completion/completions/lockstep.
#
# Commands and each command's options come from the lockstep on PATH
# (`lockstep --help`, `lockstep COMMAND --help`), so they never fall behind
# it.  Also completed: the values an option lists in its help
# (--format dot|mermaid, --output text|json), environment names for --env
# (environments/*.yaml beside the playbook), state names for --approve and
# --assume (from the playbook on the line, or for resume from the run's copy
# of it), STATE=ok|failed for --assume, run ids for resume, status and
# report (from --state-dir, $LOCKSTEP_STATE_DIR or ./.lockstep; with a
# --store, only the runs copied into the state dir), action
# names for `actions`, and files for the rest.

shopt -s extglob  # for the *.@(yaml|yml) file pattern (bash-completion sets it too)

# The command words of `lockstep --help`.
_lockstep_commands()
{
    "${1:-lockstep}" --help 2>/dev/null | sed -n '/^commands:$/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p'
}

# The state names of a playbook file: the keys under a block `states:`.
_lockstep_states()
{
    [[ -r $1 ]] || return
    awk '
        /^states:[ \t]*(#.*)?$/ { in_states = 1; next }
        in_states && /^[^ \t#]/ { in_states = 0 }
        in_states && match($0, /^  [A-Za-z_][A-Za-z0-9_]*[ \t]*:/) {
            name = substr($0, 3, RLENGTH - 3); sub(/[ \t]+$/, "", name); print name
        }' "$1"
}

_lockstep()
{
    local cur prev words cword
    if declare -F _init_completion >/dev/null 2>&1; then
        _init_completion -n = || return
    else
        cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
        words=("${COMP_WORDS[@]}") cword=$COMP_CWORD
    fi
    local bin=${words[0]:-lockstep}
    [[ $bin == */* || -n $(type -P "$bin" 2>/dev/null) ]] || bin=lockstep

    # The command, the first positional argument after it, and the state dir.
    local cmd="" arg="" statedir=${LOCKSTEP_STATE_DIR:-.lockstep} i w
    for ((i = 1; i < cword; i++)); do
        w=${words[i]}
        if [[ -z $cmd ]]; then
            [[ $w != -* ]] && cmd=$w
            continue
        fi
        case $w in
            --state-dir) statedir=${words[i + 1]}; ((i++)) ;;
            --state-dir=*) statedir=${w#--state-dir=} ;;
            --env | --values | --set | --approve | --assume | --output | --format | --store | --lease | --heartbeat) ((i++)) ;;
            -*) ;;
            *) [[ -z $arg ]] && arg=$w ;;
        esac
    done

    if [[ -z $cmd ]]; then
        COMPREPLY=($(compgen -W "$(_lockstep_commands "$bin") --help --version" -- "$cur"))
        return
    fi

    local help
    help=$("$bin" "$cmd" --help 2>/dev/null) || return

    # The option whose value is being completed: "--opt VALUE" or "--opt=VALUE".
    local opt=""
    if [[ $cur == --*=* ]]; then
        opt=${cur%%=*} cur=${cur#*=}
    elif [[ $prev == --* ]]; then
        opt=$prev
    fi
    local playbook=$arg
    if [[ $cmd == resume && -n $arg ]]; then
        playbook=$statedir/runs/$arg/playbook.yaml
    fi
    case $opt in
        --approve)
            COMPREPLY=($(compgen -W "$(_lockstep_states "$playbook")" -- "$cur"))
            return ;;
        --assume)
            if [[ $cur == *=* ]]; then
                COMPREPLY=($(compgen -P "${cur%%=*}=" -W "ok failed" -- "${cur#*=}"))
            else
                COMPREPLY=($(compgen -S = -W "$(_lockstep_states "$playbook")" -- "$cur"))
                compopt -o nospace 2>/dev/null
            fi
            return ;;
        --env)
            local f names=()
            for f in "$(dirname -- "${playbook:-.}")"/environments/*.yaml; do
                [[ -e $f ]] && names+=("$(basename -- "$f" .yaml)")
            done
            COMPREPLY=($(compgen -W "${names[*]}" -- "$cur"))
            return ;;
        --state-dir)
            COMPREPLY=($(compgen -d -- "$cur"))
            return ;;
        --values)
            COMPREPLY=($(compgen -f -- "$cur"))
            return ;;
        --set | --store | --lease | --heartbeat)
            return ;;  # free values: a URI, a duration
        --*)
            # The choices the help lists: "--format dot|mermaid".
            local choices
            choices=$(printf '%s\n' "$help" | grep -o -- "$opt [a-z]*\(|[a-z]*\)\+" | head -n 1)
            if [[ -n $choices ]]; then
                choices=${choices#"$opt "}
                COMPREPLY=($(compgen -W "${choices//|/ }" -- "$cur"))
                return
            fi ;;
    esac

    if [[ $cur == -* ]]; then
        local opts
        opts=$(printf '%s\n' "$help" | grep -o -- '--[a-z][a-z-]*' | sort -u)
        COMPREPLY=($(compgen -W "$opts --help" -- "$cur"))
        return
    fi
    if [[ -z $arg ]]; then
        case $cmd in
            resume | status | report)
                local d ids=()
                for d in "$statedir"/runs/*/; do
                    [[ -d $d ]] && ids+=("$(basename -- "$d")")
                done
                COMPREPLY=($(compgen -W "${ids[*]}" -- "$cur"))
                return ;;
            actions)
                COMPREPLY=($(compgen -W "$("$bin" actions 2>/dev/null | awk 'NF > 1 && $1 ~ /^[a-z]/ && $1 != "lockstep" {print $1}')" -- "$cur"))
                return ;;
        esac
    fi
    COMPREPLY=($(compgen -f -X '!*.@(yaml|yml)' -- "$cur") $(compgen -d -S / -- "$cur"))
    compopt -o filenames 2>/dev/null
    [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == */ ]] && compopt -o nospace 2>/dev/null
    return 0
}
complete -F _lockstep lockstep
