# bash completion for einc (installed by meson into share/bash-completion/completions).
# Completes subcommands, options and their values, .npy and .einl files, and, after a
# model, its NAME=FILE words from the model's input and param declarations.

_einc()
{
    local cur prev words cword
    _init_completion -s 2>/dev/null || {
        cur=${COMP_WORDS[COMP_CWORD]}
        prev=${COMP_WORDS[COMP_CWORD-1]}
        words=("${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    }

    case $prev in
    --emit) COMPREPLY=($(compgen -W 'c header cuda llvm asm ptx obj' -- "$cur")); return ;;
    --dtype) COMPREPLY=($(compgen -W 'f32 f64' -- "$cur")); return ;;
    --reduce) COMPREPLY=($(compgen -W 'sum mean max min prod' -- "$cur")); return ;;
    --dialect) COMPREPLY=($(compgen -W 'auto numpy einops' -- "$cur")); return ;;
    --target) COMPREPLY=($(compgen -W 'auto cpu cuda interp' -- "$cur")); return ;;
    -o|--output) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --name|--params|--cpu|--march|--max-memory) return ;;
    esac

    if [[ $cur == --*=* ]]; then
        local opt=${cur%%=*} val=${cur#*=} vals=
        case $opt in
        --emit) vals='c header cuda llvm asm ptx obj' ;;
        --dtype) vals='f32 f64' ;;
        --reduce) vals='sum mean max min prod' ;;
        --dialect) vals='auto numpy einops' ;;
        --target) vals='auto cpu cuda interp' ;;
        esac
        COMPREPLY=($(compgen -P "$opt=" -W "$vals" -- "$val"))
        return
    fi

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W '--emit --name --params --cpu --march --dtype --reduce --dialect
            --target --max-memory --dot --output -o --help --version' -- "$cur"))
        return
    fi

    if ((cword == 1)); then
        COMPREPLY=($(compgen -W 'run explain bench cache help' -- "$cur"))
        COMPREPLY+=($(compgen -f -X '!*.einl' -- "$cur"))
        return
    fi

    # After a model: its declared names as NAME= words, then .npy files after the '='.
    local w model=
    for w in "${words[@]:1:cword-1}"; do
        [[ $w == *.einl && -r $w ]] && model=$w
    done
    if [[ $cur == *=* ]]; then
        compopt -o filenames 2>/dev/null
        COMPREPLY=($(compgen -P "${cur%%=*}=" -f -X '!*.npy' -- "${cur#*=}"))
        COMPREPLY+=($(compgen -P "${cur%%=*}=" -d -- "${cur#*=}"))
        return
    fi
    if [[ -n $model ]]; then
        local names
        names=$(sed -n 's/^[[:space:]]*\(input\|param\)[[:space:]]\+\([A-Za-z_][A-Za-z0-9_]*\).*/\2=/p' "$model")
        compopt -o nospace 2>/dev/null
        COMPREPLY=($(compgen -W "$names" -- "$cur"))
        return
    fi
    compopt -o filenames 2>/dev/null
    COMPREPLY=($(compgen -f -X '!*.@(npy|einl)' -- "$cur") $(compgen -d -- "$cur"))
}
complete -F _einc einc
