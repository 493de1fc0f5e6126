_passenger__install__apache2__module() {
    local i cur prev opts cmd
    COMPREPLY=()
    if [[ "${BASH_VERSINFO[0]}" -ge 4 ]]; then
        cur="$2"
    else
        cur="${COMP_WORDS[COMP_CWORD]}"
    fi
    prev="$3"
    cmd=""
    opts=""

    for i in "${COMP_WORDS[@]:0:COMP_CWORD}"
    do
        case "${cmd},${i}" in
            ",$1")
                cmd="passenger__install__apache2__module"
                ;;
            *)
                ;;
        esac
    done

    case "${cmd}" in
        passenger__install__apache2__module)
            opts="-a -h -V --auto --apxs2-path --apr-config-path --languages --no-compile --snippet --force-colors --module-dir --update-config --hook-after-install-prerequisites --help --version"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 1 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --apxs2-path)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --apr-config-path)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --languages)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --module-dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --hook-after-install-prerequisites)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
    esac
}

if [[ "${BASH_VERSINFO[0]}" -eq 4 && "${BASH_VERSINFO[1]}" -ge 4 || "${BASH_VERSINFO[0]}" -gt 4 ]]; then
    complete -F _passenger__install__apache2__module -o nosort -o bashdefault -o default passenger-install-apache2-module
else
    complete -F _passenger__install__apache2__module -o bashdefault -o default passenger-install-apache2-module
fi
