complete -c start_server -l port -d 'TCP port to listen on: PORT, HOST:PORT, [IPV6]:PORT, with =FD to put the socket on that fd number, and a u before the port for UDP (u8080). Without a host, binds 0.0.0.0. Repeatable' -r
complete -c start_server -l path -d 'Unix socket to listen on (mode 0777); removed at exit. Repeatable' -r -F
complete -c start_server -l interval -d 'Seconds a new server program must stay up to count as started (and the pause between failed attempts)' -r
complete -c start_server -l log-file -d 'Append stdout and stderr to this file, or "| COMMAND" to pipe them into a command' -r
complete -c start_server -l pid-file -d 'Write start_server\'s pid here (locked while it runs; read by --restart/--stop)' -r -F
complete -c start_server -l dir -d 'Working directory of the server program' -r -F
complete -c start_server -l signal-on-hup -d 'Signal sent to the old generation after a SIGHUP swap' -r
complete -c start_server -l signal-on-term -d 'Signal sent to the workers when start_server gets SIGTERM' -r
complete -c start_server -l backlog -d 'Listen backlog [default: SOMAXCONN]' -r
complete -c start_server -l envdir -d 'Directory of environment variables (one file each, first line is the value), re-read before every new generation: a changed file gives the new value, a removed file removes the variable. Env: ENVDIR' -r -F
complete -c start_server -l auto-restart-interval -d 'Seconds between automatic restarts [default: 360]. Env: AUTO_RESTART_INTERVAL' -r
complete -c start_server -l kill-old-delay -d 'Seconds to wait before signalling the old generation [default: 0, or 5 with auto restart]. Env: KILL_OLD_DELAY' -r
complete -c start_server -l status-file -d 'Keep "GENERATION:PID" lines of the live generations here' -r -F
complete -c start_server -l enable-auto-restart -d 'Start a new generation every --auto-restart-interval. Env: ENABLE_AUTO_RESTART'
complete -c start_server -l daemonize -d 'Run in the background (fork, setsid, fork); requires --log-file'
complete -c start_server -l restart -d 'Ask the running start_server (--pid-file) for a new generation and wait until the old ones are gone (--status-file)'
complete -c start_server -l stop -d 'Stop the running start_server (--pid-file) and wait until it has exited'
complete -c start_server -l version -d 'Print the version'
complete -c start_server -s h -l help -d 'Print help (see more with \'--help\')'
