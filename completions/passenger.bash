_passenger() {
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
                cmd="passenger"
                ;;
            passenger,__core)
                cmd="passenger__subcmd____core"
                ;;
            passenger,config)
                cmd="passenger__subcmd__config"
                ;;
            passenger,generate-docs)
                cmd="passenger__subcmd__generate__subcmd__docs"
                ;;
            passenger,help)
                cmd="passenger__subcmd__help"
                ;;
            passenger,install-apache2-module)
                cmd="passenger__subcmd__install__subcmd__apache2__subcmd__module"
                ;;
            passenger,install-links)
                cmd="passenger__subcmd__install__subcmd__links"
                ;;
            passenger,memory-stats)
                cmd="passenger__subcmd__memory__subcmd__stats"
                ;;
            passenger,start)
                cmd="passenger__subcmd__start"
                ;;
            passenger,start-server)
                cmd="passenger__subcmd__start__subcmd__server"
                ;;
            passenger,status)
                cmd="passenger__subcmd__status"
                ;;
            passenger,stop)
                cmd="passenger__subcmd__stop"
                ;;
            passenger__subcmd__config,about)
                cmd="passenger__subcmd__config__subcmd__about"
                ;;
            passenger__subcmd__config,api-call)
                cmd="passenger__subcmd__config__subcmd__api__subcmd__call"
                ;;
            passenger__subcmd__config,detach-process)
                cmd="passenger__subcmd__config__subcmd__detach__subcmd__process"
                ;;
            passenger__subcmd__config,help)
                cmd="passenger__subcmd__config__subcmd__help"
                ;;
            passenger__subcmd__config,list-instances)
                cmd="passenger__subcmd__config__subcmd__list__subcmd__instances"
                ;;
            passenger__subcmd__config,reopen-logs)
                cmd="passenger__subcmd__config__subcmd__reopen__subcmd__logs"
                ;;
            passenger__subcmd__config,restart-app)
                cmd="passenger__subcmd__config__subcmd__restart__subcmd__app"
                ;;
            passenger__subcmd__config,system-metrics)
                cmd="passenger__subcmd__config__subcmd__system__subcmd__metrics"
                ;;
            passenger__subcmd__config,upgrade-core)
                cmd="passenger__subcmd__config__subcmd__upgrade__subcmd__core"
                ;;
            passenger__subcmd__config,validate-install)
                cmd="passenger__subcmd__config__subcmd__validate__subcmd__install"
                ;;
            passenger__subcmd__config__subcmd__help,about)
                cmd="passenger__subcmd__config__subcmd__help__subcmd__about"
                ;;
            passenger__subcmd__config__subcmd__help,api-call)
                cmd="passenger__subcmd__config__subcmd__help__subcmd__api__subcmd__call"
                ;;
            passenger__subcmd__config__subcmd__help,detach-process)
                cmd="passenger__subcmd__config__subcmd__help__subcmd__detach__subcmd__process"
                ;;
            passenger__subcmd__config__subcmd__help,help)
                cmd="passenger__subcmd__config__subcmd__help__subcmd__help"
                ;;
            passenger__subcmd__config__subcmd__help,list-instances)
                cmd="passenger__subcmd__config__subcmd__help__subcmd__list__subcmd__instances"
                ;;
            passenger__subcmd__config__subcmd__help,reopen-logs)
                cmd="passenger__subcmd__config__subcmd__help__subcmd__reopen__subcmd__logs"
                ;;
            passenger__subcmd__config__subcmd__help,restart-app)
                cmd="passenger__subcmd__config__subcmd__help__subcmd__restart__subcmd__app"
                ;;
            passenger__subcmd__config__subcmd__help,system-metrics)
                cmd="passenger__subcmd__config__subcmd__help__subcmd__system__subcmd__metrics"
                ;;
            passenger__subcmd__config__subcmd__help,upgrade-core)
                cmd="passenger__subcmd__config__subcmd__help__subcmd__upgrade__subcmd__core"
                ;;
            passenger__subcmd__config__subcmd__help,validate-install)
                cmd="passenger__subcmd__config__subcmd__help__subcmd__validate__subcmd__install"
                ;;
            passenger__subcmd__help,__core)
                cmd="passenger__subcmd__help__subcmd____core"
                ;;
            passenger__subcmd__help,config)
                cmd="passenger__subcmd__help__subcmd__config"
                ;;
            passenger__subcmd__help,generate-docs)
                cmd="passenger__subcmd__help__subcmd__generate__subcmd__docs"
                ;;
            passenger__subcmd__help,help)
                cmd="passenger__subcmd__help__subcmd__help"
                ;;
            passenger__subcmd__help,install-apache2-module)
                cmd="passenger__subcmd__help__subcmd__install__subcmd__apache2__subcmd__module"
                ;;
            passenger__subcmd__help,install-links)
                cmd="passenger__subcmd__help__subcmd__install__subcmd__links"
                ;;
            passenger__subcmd__help,memory-stats)
                cmd="passenger__subcmd__help__subcmd__memory__subcmd__stats"
                ;;
            passenger__subcmd__help,start)
                cmd="passenger__subcmd__help__subcmd__start"
                ;;
            passenger__subcmd__help,start-server)
                cmd="passenger__subcmd__help__subcmd__start__subcmd__server"
                ;;
            passenger__subcmd__help,status)
                cmd="passenger__subcmd__help__subcmd__status"
                ;;
            passenger__subcmd__help,stop)
                cmd="passenger__subcmd__help__subcmd__stop"
                ;;
            passenger__subcmd__help__subcmd__config,about)
                cmd="passenger__subcmd__help__subcmd__config__subcmd__about"
                ;;
            passenger__subcmd__help__subcmd__config,api-call)
                cmd="passenger__subcmd__help__subcmd__config__subcmd__api__subcmd__call"
                ;;
            passenger__subcmd__help__subcmd__config,detach-process)
                cmd="passenger__subcmd__help__subcmd__config__subcmd__detach__subcmd__process"
                ;;
            passenger__subcmd__help__subcmd__config,list-instances)
                cmd="passenger__subcmd__help__subcmd__config__subcmd__list__subcmd__instances"
                ;;
            passenger__subcmd__help__subcmd__config,reopen-logs)
                cmd="passenger__subcmd__help__subcmd__config__subcmd__reopen__subcmd__logs"
                ;;
            passenger__subcmd__help__subcmd__config,restart-app)
                cmd="passenger__subcmd__help__subcmd__config__subcmd__restart__subcmd__app"
                ;;
            passenger__subcmd__help__subcmd__config,system-metrics)
                cmd="passenger__subcmd__help__subcmd__config__subcmd__system__subcmd__metrics"
                ;;
            passenger__subcmd__help__subcmd__config,upgrade-core)
                cmd="passenger__subcmd__help__subcmd__config__subcmd__upgrade__subcmd__core"
                ;;
            passenger__subcmd__help__subcmd__config,validate-install)
                cmd="passenger__subcmd__help__subcmd__config__subcmd__validate__subcmd__install"
                ;;
            *)
                ;;
        esac
    done

    case "${cmd}" in
        passenger)
            opts="-h -V --help --version start stop start-server __core status memory-stats config install-apache2-module install-links generate-docs help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 1 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd____core)
            opts="-a -p -S -d -e -R -h --config --address --port --socket --daemonize --user --group --user-switching --no-user-switching --default-user --default-group --core-user --pid-file --instance-registry-dir --shutdown-timeout --environment --ruby --python --nodejs --app-type --rackup --startup-file --app-start-command --spawn-method --restart-dir --envvar --friendly-error-pages --no-friendly-error-pages --max-pool-size --min-instances --max-instances-per-app --pool-idle-time --max-preloader-idle-time --force-max-concurrent-requests-per-process --start-timeout --max-requests --max-request-queue-size --max-request-body-size --max-header-size --max-request-line-size --header-read-timeout --keep-alive-timeout --max-request-time --memory-limit --stat-throttle-rate --request-pipelining --no-request-pipelining --buffer-response --no-buffer-response --buffer-upload --no-buffer-upload --response-buffer-high-watermark --data-buffer-dir --log-level --log-file --show-version-in-header --no-show-version-in-header --engine --integration-mode --web-server-secret-file --prestart-url --hook-before-watchdog-initialization --hook-after-watchdog-initialization --hook-before-watchdog-shutdown --hook-after-watchdog-shutdown --hook-attached-process --hook-detached-process --hook-spawn-failed --hook-queue-full-error --hook-after-install-prerequisites --disable-security-update-check --security-update-check-proxy --disable-anonymous-telemetry --anonymous-telemetry-proxy --load-shell-envvars --sticky-sessions --sticky-sessions-cookie-name --socket-backlog --auto --no-install-runtime --no-compile-runtime --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --config)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -a)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --port)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -p)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --socket)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -S)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --user)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --group)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --default-user)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --default-group)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --core-user)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --pid-file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --instance-registry-dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --shutdown-timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --environment)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -e)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --ruby)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --python)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --nodejs)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --app-type)
                    COMPREPLY=($(compgen -W "ruby rack python wsgi nodejs node generic" -- "${cur}"))
                    return 0
                    ;;
                --rackup)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -R)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --startup-file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --app-start-command)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --spawn-method)
                    COMPREPLY=($(compgen -W "smart direct" -- "${cur}"))
                    return 0
                    ;;
                --restart-dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --envvar)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-pool-size)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --min-instances)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-instances-per-app)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --pool-idle-time)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-preloader-idle-time)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --force-max-concurrent-requests-per-process)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --start-timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-requests)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-request-queue-size)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-request-body-size)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-header-size)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-request-line-size)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --header-read-timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --keep-alive-timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-request-time)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --memory-limit)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --stat-throttle-rate)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --response-buffer-high-watermark)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --data-buffer-dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log-level)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log-file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --engine)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --integration-mode)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --web-server-secret-file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --prestart-url)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --hook-before-watchdog-initialization)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --hook-after-watchdog-initialization)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --hook-before-watchdog-shutdown)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --hook-after-watchdog-shutdown)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --hook-attached-process)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --hook-detached-process)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --hook-spawn-failed)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --hook-queue-full-error)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --hook-after-install-prerequisites)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --security-update-check-proxy)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --anonymous-telemetry-proxy)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --sticky-sessions-cookie-name)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --socket-backlog)
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
        passenger__subcmd__config)
            opts="-V -h --root --version --help detach-process restart-app reopen-logs api-call list-instances about validate-install system-metrics upgrade-core help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__config__subcmd__about)
            opts="-h --help version root resourcesdir helper-scripts-dir bin"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__config__subcmd__api__subcmd__call)
            opts="-d -i -f -S -h --data --stdin --data-file --socket --show-headers --ignore-response-code --instance --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --data)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -d)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --data-file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -f)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --socket)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -S)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --instance)
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
        passenger__subcmd__config__subcmd__detach__subcmd__process)
            opts="-h --ignore-nonexistent-pid --instance --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --instance)
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
        passenger__subcmd__config__subcmd__help)
            opts="detach-process restart-app reopen-logs api-call list-instances about validate-install system-metrics upgrade-core help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__config__subcmd__help__subcmd__about)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__config__subcmd__help__subcmd__api__subcmd__call)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__config__subcmd__help__subcmd__detach__subcmd__process)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__config__subcmd__help__subcmd__help)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__config__subcmd__help__subcmd__list__subcmd__instances)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__config__subcmd__help__subcmd__reopen__subcmd__logs)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__config__subcmd__help__subcmd__restart__subcmd__app)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__config__subcmd__help__subcmd__system__subcmd__metrics)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__config__subcmd__help__subcmd__upgrade__subcmd__core)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__config__subcmd__help__subcmd__validate__subcmd__install)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__config__subcmd__list__subcmd__instances)
            opts="-q -h --json --quiet --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__config__subcmd__reopen__subcmd__logs)
            opts="-h --instance --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --instance)
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
        passenger__subcmd__config__subcmd__restart__subcmd__app)
            opts="-h --name --all --rolling-restart --ignore-app-not-running --ignore-passenger-not-running --instance --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --name)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --instance)
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
        passenger__subcmd__config__subcmd__system__subcmd__metrics)
            opts="-h --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__config__subcmd__upgrade__subcmd__core)
            opts="-h --instance --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --instance)
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
        passenger__subcmd__config__subcmd__validate__subcmd__install)
            opts="-h --auto --no-colors --no-summary --validate-apache2 --apxs2-path --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --apxs2-path)
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
        passenger__subcmd__generate__subcmd__docs)
            opts="-h --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__help)
            opts="start stop start-server __core status memory-stats config install-apache2-module install-links generate-docs help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__help__subcmd____core)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__help__subcmd__config)
            opts="detach-process restart-app reopen-logs api-call list-instances about validate-install system-metrics upgrade-core"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__help__subcmd__config__subcmd__about)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__help__subcmd__config__subcmd__api__subcmd__call)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__help__subcmd__config__subcmd__detach__subcmd__process)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__help__subcmd__config__subcmd__list__subcmd__instances)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__help__subcmd__config__subcmd__reopen__subcmd__logs)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__help__subcmd__config__subcmd__restart__subcmd__app)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__help__subcmd__config__subcmd__system__subcmd__metrics)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__help__subcmd__config__subcmd__upgrade__subcmd__core)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__help__subcmd__config__subcmd__validate__subcmd__install)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 4 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__help__subcmd__generate__subcmd__docs)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__help__subcmd__help)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__help__subcmd__install__subcmd__apache2__subcmd__module)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__help__subcmd__install__subcmd__links)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__help__subcmd__memory__subcmd__stats)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__help__subcmd__start)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__help__subcmd__start__subcmd__server)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__help__subcmd__status)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__help__subcmd__stop)
            opts=""
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 3 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__install__subcmd__apache2__subcmd__module)
            opts="-a -h --auto --apxs2-path --apr-config-path --languages --no-compile --snippet --force-colors --module-dir --update-config --hook-after-install-prerequisites --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
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
        passenger__subcmd__install__subcmd__links)
            opts="-f -h --force --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__memory__subcmd__stats)
            opts="-h --no-apache --no-nginx --json --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__start)
            opts="-a -p -S -d -e -R -h --config --address --port --socket --daemonize --user --group --user-switching --no-user-switching --default-user --default-group --core-user --pid-file --instance-registry-dir --shutdown-timeout --environment --ruby --python --nodejs --app-type --rackup --startup-file --app-start-command --spawn-method --restart-dir --envvar --friendly-error-pages --no-friendly-error-pages --max-pool-size --min-instances --max-instances-per-app --pool-idle-time --max-preloader-idle-time --force-max-concurrent-requests-per-process --start-timeout --max-requests --max-request-queue-size --max-request-body-size --max-header-size --max-request-line-size --header-read-timeout --keep-alive-timeout --max-request-time --memory-limit --stat-throttle-rate --request-pipelining --no-request-pipelining --buffer-response --no-buffer-response --buffer-upload --no-buffer-upload --response-buffer-high-watermark --data-buffer-dir --log-level --log-file --show-version-in-header --no-show-version-in-header --engine --integration-mode --web-server-secret-file --prestart-url --hook-before-watchdog-initialization --hook-after-watchdog-initialization --hook-before-watchdog-shutdown --hook-after-watchdog-shutdown --hook-attached-process --hook-detached-process --hook-spawn-failed --hook-queue-full-error --hook-after-install-prerequisites --disable-security-update-check --security-update-check-proxy --disable-anonymous-telemetry --anonymous-telemetry-proxy --load-shell-envvars --sticky-sessions --sticky-sessions-cookie-name --socket-backlog --auto --no-install-runtime --no-compile-runtime --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --config)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --address)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -a)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --port)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -p)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --socket)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -S)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --user)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --group)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --default-user)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --default-group)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --core-user)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --pid-file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --instance-registry-dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --shutdown-timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --environment)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -e)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --ruby)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --python)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --nodejs)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --app-type)
                    COMPREPLY=($(compgen -W "ruby rack python wsgi nodejs node generic" -- "${cur}"))
                    return 0
                    ;;
                --rackup)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -R)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --startup-file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --app-start-command)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --spawn-method)
                    COMPREPLY=($(compgen -W "smart direct" -- "${cur}"))
                    return 0
                    ;;
                --restart-dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --envvar)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-pool-size)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --min-instances)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-instances-per-app)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --pool-idle-time)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-preloader-idle-time)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --force-max-concurrent-requests-per-process)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --start-timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-requests)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-request-queue-size)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-request-body-size)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-header-size)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-request-line-size)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --header-read-timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --keep-alive-timeout)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --max-request-time)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --memory-limit)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --stat-throttle-rate)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --response-buffer-high-watermark)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --data-buffer-dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log-level)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log-file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --engine)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --integration-mode)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --web-server-secret-file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --prestart-url)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --hook-before-watchdog-initialization)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --hook-after-watchdog-initialization)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --hook-before-watchdog-shutdown)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --hook-after-watchdog-shutdown)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --hook-attached-process)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --hook-detached-process)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --hook-spawn-failed)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --hook-queue-full-error)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --hook-after-install-prerequisites)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --security-update-check-proxy)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --anonymous-telemetry-proxy)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --sticky-sessions-cookie-name)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --socket-backlog)
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
        passenger__subcmd__start__subcmd__server)
            opts="-h --port --path --interval --log-file --pid-file --dir --signal-on-hup --signal-on-term --backlog --envdir --enable-auto-restart --auto-restart-interval --kill-old-delay --status-file --daemonize --restart --stop --version --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --port)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --path)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --interval)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --log-file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --pid-file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --dir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --signal-on-hup)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --signal-on-term)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --backlog)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --envdir)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --auto-restart-interval)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --kill-old-delay)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --status-file)
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
        passenger__subcmd__status)
            opts="-v -h --instance --show --no-header --force-colors --pid-identifier --verbose --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --instance)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --show)
                    COMPREPLY=($(compgen -W "pool server requests backtraces xml json" -- "${cur}"))
                    return 0
                    ;;
                *)
                    COMPREPLY=()
                    ;;
            esac
            COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
            return 0
            ;;
        passenger__subcmd__stop)
            opts="-p -h --pid-file --port --instance --timeout --help"
            if [[ ${cur} == -* || ${COMP_CWORD} -eq 2 ]] ; then
                COMPREPLY=( $(compgen -W "${opts}" -- "${cur}") )
                return 0
            fi
            case "${prev}" in
                --pid-file)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --port)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                -p)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --instance)
                    COMPREPLY=($(compgen -f "${cur}"))
                    return 0
                    ;;
                --timeout)
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
    complete -F _passenger -o nosort -o bashdefault -o default passenger
else
    complete -F _passenger -o bashdefault -o default passenger
fi
