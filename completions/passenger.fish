# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_passenger_global_optspecs
    string join \n h/help V/version
end

function __fish_passenger_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_passenger_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_passenger_using_subcommand
    set -l cmd (__fish_passenger_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c passenger -n "__fish_passenger_needs_command" -s h -l help -d 'Print help'
complete -c passenger -n "__fish_passenger_needs_command" -s V -l version -d 'Print version'
complete -c passenger -n "__fish_passenger_needs_command" -f -a "start" -d 'Start the app server for one app (APP_DIR) or several (--config)'
complete -c passenger -n "__fish_passenger_needs_command" -f -a "stop" -d 'Stop a running server gracefully'
complete -c passenger -n "__fish_passenger_needs_command" -f -a "start-server" -d 'Server::Starter-compatible superdaemon for hot deploys (also: start_server)'
complete -c passenger -n "__fish_passenger_needs_command" -f -a "__core" -d 'Internal: the core process run by the watchdog'
complete -c passenger -n "__fish_passenger_needs_command" -f -a "status" -d 'Show the status of a running instance (also: passenger-status)'
complete -c passenger -n "__fish_passenger_needs_command" -f -a "memory-stats" -d 'Show memory usage of Apache, Nginx and passenger-rs processes (also: passenger-memory-stats)'
complete -c passenger -n "__fish_passenger_needs_command" -f -a "config" -d 'Manage, control and inspect an instance or this installation (also: passenger-config)'
complete -c passenger -n "__fish_passenger_needs_command" -f -a "install-apache2-module" -d 'Build and install the Apache module (mod_passenger) and print the configuration that loads it (also: passenger-install-apache2-module)'
complete -c passenger -n "__fish_passenger_needs_command" -f -a "install-links" -d 'Create the passenger-status, passenger-config, ... links to this binary in DIR'
complete -c passenger -n "__fish_passenger_needs_command" -f -a "generate-docs" -d 'Write shell completions and man pages (for packaging and the docs test)'
complete -c passenger -n "__fish_passenger_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c passenger -n "__fish_passenger_using_subcommand start" -l config -d 'Serve the apps listed in this TOML file instead of APP_DIR' -r -F
complete -c passenger -n "__fish_passenger_using_subcommand start" -s a -l address -d 'Bind to the given address. Default: 0.0.0.0' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -s p -l port -d 'Use the given port number. Default: 3000' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -s S -l socket -d 'Bind to Unix domain socket instead of TCP socket' -r -F
complete -c passenger -n "__fish_passenger_using_subcommand start" -l user -d 'User to run apps as, instead of the owner of their startup file. Only used when running as root; `root` runs apps as root (with a warning)' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l group -d 'Group to run apps as. Default: the app user\'s primary group. Only used when running as root' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l default-user -d 'User for apps whose startup file root or an unknown user owns, and for every app without user switching. Default: nobody' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l default-group -d 'Group that goes with the default user. Default: the default user\'s primary group' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l core-user -d 'When started as root, the core (the process serving HTTP) runs as this user once its sockets are bound; a small root helper keeps starting apps as their users. Default: the core stays root' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l pid-file -d 'Where to store the PID file. Default: passenger.<port>.pid in the app directory' -r -F
complete -c passenger -n "__fish_passenger_using_subcommand start" -l instance-registry-dir -d 'Use the given instance registry directory. Default: $TMPDIR or /tmp' -r -F
complete -c passenger -n "__fish_passenger_using_subcommand start" -l shutdown-timeout -d 'Seconds a graceful stop waits for requests and app processes before killing them. Default: 60' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -s e -l environment -d 'Web framework environment. Default: development' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l ruby -d 'Executable to use for Ruby apps. Default: ruby' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l python -d 'Executable to use for Python apps. Default: python3' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l nodejs -d 'Executable to use for Node.js apps. Default: node' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l app-type -d 'Force the app to be detected as the given type. Default: autodetect from config.ru, passenger_wsgi.py, app.js' -r -f -a "ruby\t''
rack\t''
python\t''
wsgi\t''
nodejs\t''
node\t''
generic\t''"
complete -c passenger -n "__fish_passenger_using_subcommand start" -s R -l rackup -d 'Consider the app a Ruby app and use the given rackup file (relative to the current directory)' -r -F
complete -c passenger -n "__fish_passenger_using_subcommand start" -l startup-file -d 'Force the given startup file to be used (relative to the app directory)' -r -F
complete -c passenger -n "__fish_passenger_using_subcommand start" -l app-start-command -d 'Command that starts the app, which must listen on $PORT; makes the app a generic app unless --app-type says otherwise' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l spawn-method -d 'The spawn method: smart (Ruby and Python apps; others always start directly) or direct. Default: smart for Ruby apps, direct otherwise' -r -f -a "smart\t'Load the app once in a preloader and fork processes from it (Ruby and Python apps)'
direct\t'Load the app from scratch in every process'"
complete -c passenger -n "__fish_passenger_using_subcommand start" -l restart-dir -d 'Directory with restart.txt, relative to the app directory. Default: tmp' -r -F
complete -c passenger -n "__fish_passenger_using_subcommand start" -l envvar -d 'Pass an environment variable to the app; may be given more than once' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l max-pool-size -d 'Maximum number of application processes. Default: 6' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l min-instances -d 'Minimum number of processes per application. Default: 1' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l max-instances-per-app -d 'Maximum number of processes per application. Default: 0 (no limit)' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l pool-idle-time -d 'Maximum time that processes may be idle, in seconds. Default: 300' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l max-preloader-idle-time -d 'Maximum time that preloader processes may be idle, in seconds; 0 means they never time out. Default: 300' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l force-max-concurrent-requests-per-process -d 'Force Passenger to believe that an application process can handle the given number of concurrent requests' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l start-timeout -d 'The maximum time an application process may take to start up, in seconds. Default: 90' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l max-requests -d 'Restart application processes that have handled the given number of requests. Default: 0 (never)' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l max-request-queue-size -d 'Specify the request queue size; 0 means unlimited. Default: 100' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l max-request-body-size -d 'Answer 413 to a request whose body is larger than this many bytes (by its Content-Length up front, a chunked body once it passes the limit); 0 means no limit. Default: 1073741824 (1 GiB)' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l max-header-size -d 'Answer 431 to a request whose head (request line and headers) is larger than this many bytes; at least 8192. Default: 32768' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l max-request-line-size -d 'Answer 414 to a request whose request line is longer than this many bytes. Default: 8192' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l header-read-timeout -d 'Close a connection whose request head has not arrived whole this many seconds after its first byte (or after the connection opened); 0 means never. Default: 30' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l keep-alive-timeout -d 'Close a keep-alive connection idle this many seconds between two requests; 0 means never. Default: 60' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l max-request-time -d 'Answer 504 to a request whose app process has not begun its response this many seconds after getting it, and replace that process; 0 means no limit. Default: 0' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l memory-limit -d 'Replace an app process, after its current request, once its private dirty memory passes this many megabytes (checked every few seconds); 0 means no limit. Default: 0' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l stat-throttle-rate -d 'Check restart.txt at most once per this many seconds. Default: 10' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l response-buffer-high-watermark -d 'Bytes of one response the core buffers (128 KiB in memory, the rest in a file) before it stops reading from the app until the client catches up. Default: 134217728 (128 MiB)' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l data-buffer-dir -d 'Directory for buffer files (unlinked at once). Default: buffers/ in the instance directory' -r -F
complete -c passenger -n "__fish_passenger_using_subcommand start" -l log-level -d 'Log level to use, 0 (crit) to 7 (debug2). Default: 3' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l log-file -d 'Where to write log messages. Default: console, or passenger.<port>.log in the app directory when daemonized' -r -F
complete -c passenger -n "__fish_passenger_using_subcommand start" -l engine -d 'Underlying HTTP engine. Only builtin exists: passenger-rs serves HTTP itself; nginx is refused. Default: builtin' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l integration-mode -d 'Run as the core of a web server module (`apache`): no app is configured up front, each request names its app. Set by mod_passenger, not by people' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l web-server-secret-file -d 'The file holding the web server module\'s per-instance secret (0600)' -r -F
complete -c passenger -n "__fish_passenger_using_subcommand start" -l prestart-url -d 'A URL the core requests (HEAD) once it is up, so its app is started before the first visitor (`PassengerPreStart`). Repeatable. Set by mod_passenger' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l hook-before-watchdog-initialization -d 'Run CMD when the watchdog starts, before it opens its log' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l hook-after-watchdog-initialization -d 'Run CMD once the watchdog is set up, before the core and any app process start' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l hook-before-watchdog-shutdown -d 'Run CMD when the watchdog is asked to stop, before it stops the core' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l hook-after-watchdog-shutdown -d 'Run CMD after the core and its apps have stopped' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l hook-attached-process -d 'Run CMD when an app process joins the pool' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l hook-detached-process -d 'Run CMD when an app process leaves the pool' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l hook-spawn-failed -d 'Run CMD when an app process fails to start' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l hook-queue-full-error -d 'Run CMD when a request is refused because the request queue is full' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l hook-after-install-prerequisites -d 'Accepted for the Apache module installer (not built yet); passenger start never runs it' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l security-update-check-proxy -d 'Accepted for compatibility; passenger-rs never checks for security updates' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l anonymous-telemetry-proxy -d 'Accepted for compatibility; passenger-rs sends no telemetry' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l sticky-sessions-cookie-name -d 'Accepted for compatibility; sticky sessions are not implemented' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -l socket-backlog -d 'Accepted for compatibility; the listen backlog is 2048' -r
complete -c passenger -n "__fish_passenger_using_subcommand start" -s d -l daemonize -d 'Daemonize into the background'
complete -c passenger -n "__fish_passenger_using_subcommand start" -l user-switching -d 'When running as root, run each app as the owner of its startup file (config.ru, passenger_wsgi.py, app.js, or the app directory). Default: on'
complete -c passenger -n "__fish_passenger_using_subcommand start" -l no-user-switching -d 'When running as root, run every app as the default user'
complete -c passenger -n "__fish_passenger_using_subcommand start" -l friendly-error-pages -d 'Turn on friendly error pages. Default: on in the development environment'
complete -c passenger -n "__fish_passenger_using_subcommand start" -l no-friendly-error-pages -d 'Turn off friendly error pages'
complete -c passenger -n "__fish_passenger_using_subcommand start" -l request-pipelining -d 'Hand a busy Ruby process up to four more bodyless requests, started as soon as it is free; one kept waiting behind a slow request is taken back after 20 ms for the next free process. Default: on'
complete -c passenger -n "__fish_passenger_using_subcommand start" -l no-request-pipelining -d 'Turn off request pipelining'
complete -c passenger -n "__fish_passenger_using_subcommand start" -l buffer-response -d 'Buffer each app response in the core, so the process is free as soon as it has written it, however slowly the client reads. Not for text/event-stream, upgrades or responses with X-Accel-Buffering: no. Default: on'
complete -c passenger -n "__fish_passenger_using_subcommand start" -l no-buffer-response -d 'Stream responses to the client; the process stays busy until the client has read all of it'
complete -c passenger -n "__fish_passenger_using_subcommand start" -l buffer-upload -d 'Read each request body whole (in memory, then in a file) before a process is chosen, so slow uploads hold no process and broken bodies get 400. Default: on'
complete -c passenger -n "__fish_passenger_using_subcommand start" -l no-buffer-upload -d 'Stream request bodies to the app as they arrive'
complete -c passenger -n "__fish_passenger_using_subcommand start" -l show-version-in-header -d 'Add X-Powered-By with the version to every response. Default: on'
complete -c passenger -n "__fish_passenger_using_subcommand start" -l no-show-version-in-header -d 'Name no version in X-Powered-By'
complete -c passenger -n "__fish_passenger_using_subcommand start" -l disable-security-update-check -d 'Accepted for compatibility; passenger-rs never checks for security updates'
complete -c passenger -n "__fish_passenger_using_subcommand start" -l disable-anonymous-telemetry -d 'Accepted for compatibility; passenger-rs sends no telemetry'
complete -c passenger -n "__fish_passenger_using_subcommand start" -l load-shell-envvars -d 'Accepted for compatibility; apps do not load shell startup files (use --envvar)'
complete -c passenger -n "__fish_passenger_using_subcommand start" -l sticky-sessions -d 'Accepted for compatibility; sticky sessions are not implemented'
complete -c passenger -n "__fish_passenger_using_subcommand start" -l auto -d 'Accepted for compatibility; passenger-rs never asks questions at startup'
complete -c passenger -n "__fish_passenger_using_subcommand start" -l no-install-runtime -d 'Accepted for compatibility; there is no Standalone runtime to install'
complete -c passenger -n "__fish_passenger_using_subcommand start" -l no-compile-runtime -d 'Accepted for compatibility; there is no Standalone runtime to compile'
complete -c passenger -n "__fish_passenger_using_subcommand start" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c passenger -n "__fish_passenger_using_subcommand stop" -l pid-file -d 'The PID file of the server to stop' -r -F
complete -c passenger -n "__fish_passenger_using_subcommand stop" -s p -l port -d 'The port of the server to stop: uses `<APP_DIR>/passenger.<PORT>.pid`. Default: the Passengerfile.json\'s `port`, else 3000' -r
complete -c passenger -n "__fish_passenger_using_subcommand stop" -l instance -d 'The instance to stop, by name or unique prefix (see `passenger-config list-instances`), instead of a PID file' -r
complete -c passenger -n "__fish_passenger_using_subcommand stop" -l timeout -d 'Seconds to wait for the server to exit' -r
complete -c passenger -n "__fish_passenger_using_subcommand stop" -s h -l help -d 'Print help'
complete -c passenger -n "__fish_passenger_using_subcommand start-server" -l port -d 'TCP port to listen on: PORT, HOST:PORT, [IPV6]:PORT, with =FD to put the socket on that fd number, and a u before the port for UDP (u8080). Without a host, binds 0.0.0.0. Repeatable' -r
complete -c passenger -n "__fish_passenger_using_subcommand start-server" -l path -d 'Unix socket to listen on (mode 0777); removed at exit. Repeatable' -r -F
complete -c passenger -n "__fish_passenger_using_subcommand start-server" -l interval -d 'Seconds a new server program must stay up to count as started (and the pause between failed attempts)' -r
complete -c passenger -n "__fish_passenger_using_subcommand start-server" -l log-file -d 'Append stdout and stderr to this file, or "| COMMAND" to pipe them into a command' -r
complete -c passenger -n "__fish_passenger_using_subcommand start-server" -l pid-file -d 'Write start_server\'s pid here (locked while it runs; read by --restart/--stop)' -r -F
complete -c passenger -n "__fish_passenger_using_subcommand start-server" -l dir -d 'Working directory of the server program' -r -F
complete -c passenger -n "__fish_passenger_using_subcommand start-server" -l signal-on-hup -d 'Signal sent to the old generation after a SIGHUP swap' -r
complete -c passenger -n "__fish_passenger_using_subcommand start-server" -l signal-on-term -d 'Signal sent to the workers when start_server gets SIGTERM' -r
complete -c passenger -n "__fish_passenger_using_subcommand start-server" -l backlog -d 'Listen backlog [default: SOMAXCONN]' -r
complete -c passenger -n "__fish_passenger_using_subcommand start-server" -l envdir -d 'Directory of environment variables (one file each, first line is the value), re-read before every new generation: a changed file gives the new value, a removed file removes the variable. Env: ENVDIR' -r -F
complete -c passenger -n "__fish_passenger_using_subcommand start-server" -l auto-restart-interval -d 'Seconds between automatic restarts [default: 360]. Env: AUTO_RESTART_INTERVAL' -r
complete -c passenger -n "__fish_passenger_using_subcommand start-server" -l kill-old-delay -d 'Seconds to wait before signalling the old generation [default: 0, or 5 with auto restart]. Env: KILL_OLD_DELAY' -r
complete -c passenger -n "__fish_passenger_using_subcommand start-server" -l status-file -d 'Keep "GENERATION:PID" lines of the live generations here' -r -F
complete -c passenger -n "__fish_passenger_using_subcommand start-server" -l enable-auto-restart -d 'Start a new generation every --auto-restart-interval. Env: ENABLE_AUTO_RESTART'
complete -c passenger -n "__fish_passenger_using_subcommand start-server" -l daemonize -d 'Run in the background (fork, setsid, fork); requires --log-file'
complete -c passenger -n "__fish_passenger_using_subcommand start-server" -l restart -d 'Ask the running start_server (--pid-file) for a new generation and wait until the old ones are gone (--status-file)'
complete -c passenger -n "__fish_passenger_using_subcommand start-server" -l stop -d 'Stop the running start_server (--pid-file) and wait until it has exited'
complete -c passenger -n "__fish_passenger_using_subcommand start-server" -l version -d 'Print the version'
complete -c passenger -n "__fish_passenger_using_subcommand start-server" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l config -d 'Serve the apps listed in this TOML file instead of APP_DIR' -r -F
complete -c passenger -n "__fish_passenger_using_subcommand __core" -s a -l address -d 'Bind to the given address. Default: 0.0.0.0' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -s p -l port -d 'Use the given port number. Default: 3000' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -s S -l socket -d 'Bind to Unix domain socket instead of TCP socket' -r -F
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l user -d 'User to run apps as, instead of the owner of their startup file. Only used when running as root; `root` runs apps as root (with a warning)' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l group -d 'Group to run apps as. Default: the app user\'s primary group. Only used when running as root' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l default-user -d 'User for apps whose startup file root or an unknown user owns, and for every app without user switching. Default: nobody' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l default-group -d 'Group that goes with the default user. Default: the default user\'s primary group' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l core-user -d 'When started as root, the core (the process serving HTTP) runs as this user once its sockets are bound; a small root helper keeps starting apps as their users. Default: the core stays root' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l pid-file -d 'Where to store the PID file. Default: passenger.<port>.pid in the app directory' -r -F
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l instance-registry-dir -d 'Use the given instance registry directory. Default: $TMPDIR or /tmp' -r -F
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l shutdown-timeout -d 'Seconds a graceful stop waits for requests and app processes before killing them. Default: 60' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -s e -l environment -d 'Web framework environment. Default: development' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l ruby -d 'Executable to use for Ruby apps. Default: ruby' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l python -d 'Executable to use for Python apps. Default: python3' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l nodejs -d 'Executable to use for Node.js apps. Default: node' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l app-type -d 'Force the app to be detected as the given type. Default: autodetect from config.ru, passenger_wsgi.py, app.js' -r -f -a "ruby\t''
rack\t''
python\t''
wsgi\t''
nodejs\t''
node\t''
generic\t''"
complete -c passenger -n "__fish_passenger_using_subcommand __core" -s R -l rackup -d 'Consider the app a Ruby app and use the given rackup file (relative to the current directory)' -r -F
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l startup-file -d 'Force the given startup file to be used (relative to the app directory)' -r -F
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l app-start-command -d 'Command that starts the app, which must listen on $PORT; makes the app a generic app unless --app-type says otherwise' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l spawn-method -d 'The spawn method: smart (Ruby and Python apps; others always start directly) or direct. Default: smart for Ruby apps, direct otherwise' -r -f -a "smart\t'Load the app once in a preloader and fork processes from it (Ruby and Python apps)'
direct\t'Load the app from scratch in every process'"
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l restart-dir -d 'Directory with restart.txt, relative to the app directory. Default: tmp' -r -F
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l envvar -d 'Pass an environment variable to the app; may be given more than once' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l max-pool-size -d 'Maximum number of application processes. Default: 6' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l min-instances -d 'Minimum number of processes per application. Default: 1' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l max-instances-per-app -d 'Maximum number of processes per application. Default: 0 (no limit)' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l pool-idle-time -d 'Maximum time that processes may be idle, in seconds. Default: 300' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l max-preloader-idle-time -d 'Maximum time that preloader processes may be idle, in seconds; 0 means they never time out. Default: 300' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l force-max-concurrent-requests-per-process -d 'Force Passenger to believe that an application process can handle the given number of concurrent requests' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l start-timeout -d 'The maximum time an application process may take to start up, in seconds. Default: 90' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l max-requests -d 'Restart application processes that have handled the given number of requests. Default: 0 (never)' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l max-request-queue-size -d 'Specify the request queue size; 0 means unlimited. Default: 100' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l max-request-body-size -d 'Answer 413 to a request whose body is larger than this many bytes (by its Content-Length up front, a chunked body once it passes the limit); 0 means no limit. Default: 1073741824 (1 GiB)' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l max-header-size -d 'Answer 431 to a request whose head (request line and headers) is larger than this many bytes; at least 8192. Default: 32768' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l max-request-line-size -d 'Answer 414 to a request whose request line is longer than this many bytes. Default: 8192' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l header-read-timeout -d 'Close a connection whose request head has not arrived whole this many seconds after its first byte (or after the connection opened); 0 means never. Default: 30' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l keep-alive-timeout -d 'Close a keep-alive connection idle this many seconds between two requests; 0 means never. Default: 60' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l max-request-time -d 'Answer 504 to a request whose app process has not begun its response this many seconds after getting it, and replace that process; 0 means no limit. Default: 0' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l memory-limit -d 'Replace an app process, after its current request, once its private dirty memory passes this many megabytes (checked every few seconds); 0 means no limit. Default: 0' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l stat-throttle-rate -d 'Check restart.txt at most once per this many seconds. Default: 10' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l response-buffer-high-watermark -d 'Bytes of one response the core buffers (128 KiB in memory, the rest in a file) before it stops reading from the app until the client catches up. Default: 134217728 (128 MiB)' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l data-buffer-dir -d 'Directory for buffer files (unlinked at once). Default: buffers/ in the instance directory' -r -F
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l log-level -d 'Log level to use, 0 (crit) to 7 (debug2). Default: 3' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l log-file -d 'Where to write log messages. Default: console, or passenger.<port>.log in the app directory when daemonized' -r -F
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l engine -d 'Underlying HTTP engine. Only builtin exists: passenger-rs serves HTTP itself; nginx is refused. Default: builtin' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l integration-mode -d 'Run as the core of a web server module (`apache`): no app is configured up front, each request names its app. Set by mod_passenger, not by people' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l web-server-secret-file -d 'The file holding the web server module\'s per-instance secret (0600)' -r -F
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l prestart-url -d 'A URL the core requests (HEAD) once it is up, so its app is started before the first visitor (`PassengerPreStart`). Repeatable. Set by mod_passenger' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l hook-before-watchdog-initialization -d 'Run CMD when the watchdog starts, before it opens its log' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l hook-after-watchdog-initialization -d 'Run CMD once the watchdog is set up, before the core and any app process start' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l hook-before-watchdog-shutdown -d 'Run CMD when the watchdog is asked to stop, before it stops the core' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l hook-after-watchdog-shutdown -d 'Run CMD after the core and its apps have stopped' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l hook-attached-process -d 'Run CMD when an app process joins the pool' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l hook-detached-process -d 'Run CMD when an app process leaves the pool' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l hook-spawn-failed -d 'Run CMD when an app process fails to start' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l hook-queue-full-error -d 'Run CMD when a request is refused because the request queue is full' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l hook-after-install-prerequisites -d 'Accepted for the Apache module installer (not built yet); passenger start never runs it' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l security-update-check-proxy -d 'Accepted for compatibility; passenger-rs never checks for security updates' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l anonymous-telemetry-proxy -d 'Accepted for compatibility; passenger-rs sends no telemetry' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l sticky-sessions-cookie-name -d 'Accepted for compatibility; sticky sessions are not implemented' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l socket-backlog -d 'Accepted for compatibility; the listen backlog is 2048' -r
complete -c passenger -n "__fish_passenger_using_subcommand __core" -s d -l daemonize -d 'Daemonize into the background'
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l user-switching -d 'When running as root, run each app as the owner of its startup file (config.ru, passenger_wsgi.py, app.js, or the app directory). Default: on'
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l no-user-switching -d 'When running as root, run every app as the default user'
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l friendly-error-pages -d 'Turn on friendly error pages. Default: on in the development environment'
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l no-friendly-error-pages -d 'Turn off friendly error pages'
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l request-pipelining -d 'Hand a busy Ruby process up to four more bodyless requests, started as soon as it is free; one kept waiting behind a slow request is taken back after 20 ms for the next free process. Default: on'
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l no-request-pipelining -d 'Turn off request pipelining'
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l buffer-response -d 'Buffer each app response in the core, so the process is free as soon as it has written it, however slowly the client reads. Not for text/event-stream, upgrades or responses with X-Accel-Buffering: no. Default: on'
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l no-buffer-response -d 'Stream responses to the client; the process stays busy until the client has read all of it'
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l buffer-upload -d 'Read each request body whole (in memory, then in a file) before a process is chosen, so slow uploads hold no process and broken bodies get 400. Default: on'
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l no-buffer-upload -d 'Stream request bodies to the app as they arrive'
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l show-version-in-header -d 'Add X-Powered-By with the version to every response. Default: on'
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l no-show-version-in-header -d 'Name no version in X-Powered-By'
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l disable-security-update-check -d 'Accepted for compatibility; passenger-rs never checks for security updates'
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l disable-anonymous-telemetry -d 'Accepted for compatibility; passenger-rs sends no telemetry'
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l load-shell-envvars -d 'Accepted for compatibility; apps do not load shell startup files (use --envvar)'
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l sticky-sessions -d 'Accepted for compatibility; sticky sessions are not implemented'
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l auto -d 'Accepted for compatibility; passenger-rs never asks questions at startup'
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l no-install-runtime -d 'Accepted for compatibility; there is no Standalone runtime to install'
complete -c passenger -n "__fish_passenger_using_subcommand __core" -l no-compile-runtime -d 'Accepted for compatibility; there is no Standalone runtime to compile'
complete -c passenger -n "__fish_passenger_using_subcommand __core" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c passenger -n "__fish_passenger_using_subcommand status" -l instance -d 'Same as NAME' -r
complete -c passenger -n "__fish_passenger_using_subcommand status" -l show -d 'What to show' -r -f -a "pool\t'The pool: groups and their processes (default)'
server\t'The server\'s state (`/server.json`)'
requests\t'The requests being handled: method, path, process and age of each'
backtraces\t'The core\'s threads and where each is waiting'
xml\t'The pool as XML (`/pool.xml`)'
json\t'The full pool state as JSON (`/pool.json`)'"
complete -c passenger -n "__fish_passenger_using_subcommand status" -l no-header -d 'Do not display the header (version, date, instance)'
complete -c passenger -n "__fish_passenger_using_subcommand status" -l force-colors -d 'Display colors even if stdout is not a TTY'
complete -c passenger -n "__fish_passenger_using_subcommand status" -l pid-identifier -d 'Take NAME as the PID of the instance (watchdog or core) rather than its name'
complete -c passenger -n "__fish_passenger_using_subcommand status" -s v -l verbose -d 'Show each process\'s direct URL (and, in XML, the secrets)'
complete -c passenger -n "__fish_passenger_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c passenger -n "__fish_passenger_using_subcommand memory-stats" -l no-apache -d 'Do not display the Apache statistics'
complete -c passenger -n "__fish_passenger_using_subcommand memory-stats" -l no-nginx -d 'Do not display the Nginx statistics'
complete -c passenger -n "__fish_passenger_using_subcommand memory-stats" -l json -d 'Print every row and total as JSON instead of tables'
complete -c passenger -n "__fish_passenger_using_subcommand memory-stats" -s h -l help -d 'Print help'
complete -c passenger -n "__fish_passenger_using_subcommand config; and not __fish_seen_subcommand_from detach-process restart-app reopen-logs api-call list-instances about validate-install system-metrics upgrade-core help" -l root -d 'Print the directory holding this installation\'s resources (loaders, man pages)'
complete -c passenger -n "__fish_passenger_using_subcommand config; and not __fish_seen_subcommand_from detach-process restart-app reopen-logs api-call list-instances about validate-install system-metrics upgrade-core help" -s V -l version -d 'Print the version number'
complete -c passenger -n "__fish_passenger_using_subcommand config; and not __fish_seen_subcommand_from detach-process restart-app reopen-logs api-call list-instances about validate-install system-metrics upgrade-core help" -s h -l help -d 'Print help'
complete -c passenger -n "__fish_passenger_using_subcommand config; and not __fish_seen_subcommand_from detach-process restart-app reopen-logs api-call list-instances about validate-install system-metrics upgrade-core help" -f -a "detach-process" -d 'Detach an application process from the process pool'
complete -c passenger -n "__fish_passenger_using_subcommand config; and not __fish_seen_subcommand_from detach-process restart-app reopen-logs api-call list-instances about validate-install system-metrics upgrade-core help" -f -a "restart-app" -d 'Restart an application'
complete -c passenger -n "__fish_passenger_using_subcommand config; and not __fish_seen_subcommand_from detach-process restart-app reopen-logs api-call list-instances about validate-install system-metrics upgrade-core help" -f -a "reopen-logs" -d 'Instruct passenger-rs to reopen its log file'
complete -c passenger -n "__fish_passenger_using_subcommand config; and not __fish_seen_subcommand_from detach-process restart-app reopen-logs api-call list-instances about validate-install system-metrics upgrade-core help" -f -a "api-call" -d 'Make an API call to a passenger-rs instance'
complete -c passenger -n "__fish_passenger_using_subcommand config; and not __fish_seen_subcommand_from detach-process restart-app reopen-logs api-call list-instances about validate-install system-metrics upgrade-core help" -f -a "list-instances" -d 'List running passenger-rs instances'
complete -c passenger -n "__fish_passenger_using_subcommand config; and not __fish_seen_subcommand_from detach-process restart-app reopen-logs api-call list-instances about validate-install system-metrics upgrade-core help" -f -a "about" -d 'Show information about this passenger-rs installation'
complete -c passenger -n "__fish_passenger_using_subcommand config; and not __fish_seen_subcommand_from detach-process restart-app reopen-logs api-call list-instances about validate-install system-metrics upgrade-core help" -f -a "validate-install" -d 'Validate this passenger-rs installation'
complete -c passenger -n "__fish_passenger_using_subcommand config; and not __fish_seen_subcommand_from detach-process restart-app reopen-logs api-call list-instances about validate-install system-metrics upgrade-core help" -f -a "system-metrics" -d 'Display system metrics (CPU, memory)'
complete -c passenger -n "__fish_passenger_using_subcommand config; and not __fish_seen_subcommand_from detach-process restart-app reopen-logs api-call list-instances about validate-install system-metrics upgrade-core help" -f -a "upgrade-core" -d 'Replace the core with one from the passenger binary on disk, on the same sockets, without refusing a connection (same as SIGUSR2 to the watchdog)'
complete -c passenger -n "__fish_passenger_using_subcommand config; and not __fish_seen_subcommand_from detach-process restart-app reopen-logs api-call list-instances about validate-install system-metrics upgrade-core help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from detach-process" -l instance -d 'The passenger-rs instance to select: its name or a unique prefix' -r
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from detach-process" -l ignore-nonexistent-pid -d 'Exit successfully even if no process has this PID'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from detach-process" -s h -l help -d 'Print help'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from restart-app" -l name -d 'Restart exactly the app group with this name' -r
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from restart-app" -l instance -d 'The passenger-rs instance to select: its name or a unique prefix' -r
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from restart-app" -l all -d 'Restart every matching app without asking'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from restart-app" -l rolling-restart -d 'Replace processes one by one, keeping the app serving (the default is a blocking restart)'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from restart-app" -l ignore-app-not-running -d 'Exit successfully if the specified application is not running'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from restart-app" -l ignore-passenger-not-running -d 'Exit successfully if passenger-rs is not running'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from restart-app" -s h -l help -d 'Print help'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from reopen-logs" -l instance -d 'The passenger-rs instance to select: its name or a unique prefix' -r
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from reopen-logs" -s h -l help -d 'Print help'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from api-call" -s d -l data -d 'The HTTP request body' -r
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from api-call" -s f -l data-file -d 'Read the request body from a file' -r -F
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from api-call" -s S -l socket -d 'Send to this unix socket instead of the selected instance\'s core_api socket' -r -F
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from api-call" -l instance -d 'The passenger-rs instance to select: its name or a unique prefix' -r
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from api-call" -s i -l stdin -d 'Read the request body from stdin'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from api-call" -l show-headers -d 'Show the HTTP response status line and headers'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from api-call" -l ignore-response-code -d 'Exit successfully even if a non-2xx response was returned'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from api-call" -s h -l help -d 'Print help'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from list-instances" -l json -d 'Print a JSON array: each instance\'s properties.json plus `instance_dir.path` and `core_pid`'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from list-instances" -s q -l quiet -d 'Print nothing when no instance is running'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from list-instances" -s h -l help -d 'Print help'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from about" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from validate-install" -l apxs2-path -d 'The Apache installation to validate, by its apxs (default: $APXS2, then apxs2 and apxs in PATH)' -r -F
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from validate-install" -l auto -d 'Run non-interactively (accepted for compatibility; the checks never ask)'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from validate-install" -l no-colors -d 'Never output colors'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from validate-install" -l no-summary -d 'Do not display a summary'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from validate-install" -l validate-apache2 -d 'Also check Apache: that it is installed, and that its configuration loads a mod_passenger.so built for this passenger binary'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from validate-install" -s h -l help -d 'Print help'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from system-metrics" -s h -l help -d 'Print help'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from upgrade-core" -l instance -d 'The passenger-rs instance to select: its name or a unique prefix' -r
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from upgrade-core" -s h -l help -d 'Print help'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "detach-process" -d 'Detach an application process from the process pool'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "restart-app" -d 'Restart an application'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "reopen-logs" -d 'Instruct passenger-rs to reopen its log file'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "api-call" -d 'Make an API call to a passenger-rs instance'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "list-instances" -d 'List running passenger-rs instances'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "about" -d 'Show information about this passenger-rs installation'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "validate-install" -d 'Validate this passenger-rs installation'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "system-metrics" -d 'Display system metrics (CPU, memory)'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "upgrade-core" -d 'Replace the core with one from the passenger binary on disk, on the same sockets, without refusing a connection (same as SIGUSR2 to the watchdog)'
complete -c passenger -n "__fish_passenger_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c passenger -n "__fish_passenger_using_subcommand install-apache2-module" -l apxs2-path -d 'The apxs to build with (wins over $APXS2, then apxs2 and apxs in PATH)' -r -F
complete -c passenger -n "__fish_passenger_using_subcommand install-apache2-module" -l apr-config-path -d 'The apr-config to use (wins over $APR_CONFIG and apxs\'s APR_CONFIG)' -r -F
complete -c passenger -n "__fish_passenger_using_subcommand install-apache2-module" -l languages -d 'Languages to check for, comma-separated: ruby, python, nodejs (default: those whose interpreter is in PATH; a menu on a terminal)' -r
complete -c passenger -n "__fish_passenger_using_subcommand install-apache2-module" -l module-dir -d 'Where to install mod_passenger.so (default: `apxs -q LIBEXECDIR`)' -r -F
complete -c passenger -n "__fish_passenger_using_subcommand install-apache2-module" -l hook-after-install-prerequisites -d 'Run CMD (through /bin/sh, at most 10 s) once every required piece of software is found, before anything is compiled: Passenger\'s `after_install_prerequisites` hook. A failing hook is reported, not fatal' -r
complete -c passenger -n "__fish_passenger_using_subcommand install-apache2-module" -s a -l auto -d 'Never ask (implied when stdin is not a terminal): write no Apache configuration unless --update-config says so'
complete -c passenger -n "__fish_passenger_using_subcommand install-apache2-module" -l no-compile -d 'Check the dependencies and print the snippet, but compile nothing'
complete -c passenger -n "__fish_passenger_using_subcommand install-apache2-module" -l snippet -d 'Print only the Apache configuration snippet and exit'
complete -c passenger -n "__fish_passenger_using_subcommand install-apache2-module" -l force-colors -d 'Use colors even when stdout is not a terminal'
complete -c passenger -n "__fish_passenger_using_subcommand install-apache2-module" -l update-config -d 'On a Debian-style layout, write mods-available/passenger.load and passenger.conf and run `a2enmod passenger` without asking'
complete -c passenger -n "__fish_passenger_using_subcommand install-apache2-module" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c passenger -n "__fish_passenger_using_subcommand install-links" -s f -l force -d 'Replace existing files with these names'
complete -c passenger -n "__fish_passenger_using_subcommand install-links" -s h -l help -d 'Print help'
complete -c passenger -n "__fish_passenger_using_subcommand generate-docs" -s h -l help -d 'Print help'
complete -c passenger -n "__fish_passenger_using_subcommand help; and not __fish_seen_subcommand_from start stop start-server __core status memory-stats config install-apache2-module install-links generate-docs help" -f -a "start" -d 'Start the app server for one app (APP_DIR) or several (--config)'
complete -c passenger -n "__fish_passenger_using_subcommand help; and not __fish_seen_subcommand_from start stop start-server __core status memory-stats config install-apache2-module install-links generate-docs help" -f -a "stop" -d 'Stop a running server gracefully'
complete -c passenger -n "__fish_passenger_using_subcommand help; and not __fish_seen_subcommand_from start stop start-server __core status memory-stats config install-apache2-module install-links generate-docs help" -f -a "start-server" -d 'Server::Starter-compatible superdaemon for hot deploys (also: start_server)'
complete -c passenger -n "__fish_passenger_using_subcommand help; and not __fish_seen_subcommand_from start stop start-server __core status memory-stats config install-apache2-module install-links generate-docs help" -f -a "__core" -d 'Internal: the core process run by the watchdog'
complete -c passenger -n "__fish_passenger_using_subcommand help; and not __fish_seen_subcommand_from start stop start-server __core status memory-stats config install-apache2-module install-links generate-docs help" -f -a "status" -d 'Show the status of a running instance (also: passenger-status)'
complete -c passenger -n "__fish_passenger_using_subcommand help; and not __fish_seen_subcommand_from start stop start-server __core status memory-stats config install-apache2-module install-links generate-docs help" -f -a "memory-stats" -d 'Show memory usage of Apache, Nginx and passenger-rs processes (also: passenger-memory-stats)'
complete -c passenger -n "__fish_passenger_using_subcommand help; and not __fish_seen_subcommand_from start stop start-server __core status memory-stats config install-apache2-module install-links generate-docs help" -f -a "config" -d 'Manage, control and inspect an instance or this installation (also: passenger-config)'
complete -c passenger -n "__fish_passenger_using_subcommand help; and not __fish_seen_subcommand_from start stop start-server __core status memory-stats config install-apache2-module install-links generate-docs help" -f -a "install-apache2-module" -d 'Build and install the Apache module (mod_passenger) and print the configuration that loads it (also: passenger-install-apache2-module)'
complete -c passenger -n "__fish_passenger_using_subcommand help; and not __fish_seen_subcommand_from start stop start-server __core status memory-stats config install-apache2-module install-links generate-docs help" -f -a "install-links" -d 'Create the passenger-status, passenger-config, ... links to this binary in DIR'
complete -c passenger -n "__fish_passenger_using_subcommand help; and not __fish_seen_subcommand_from start stop start-server __core status memory-stats config install-apache2-module install-links generate-docs help" -f -a "generate-docs" -d 'Write shell completions and man pages (for packaging and the docs test)'
complete -c passenger -n "__fish_passenger_using_subcommand help; and not __fish_seen_subcommand_from start stop start-server __core status memory-stats config install-apache2-module install-links generate-docs help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c passenger -n "__fish_passenger_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "detach-process" -d 'Detach an application process from the process pool'
complete -c passenger -n "__fish_passenger_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "restart-app" -d 'Restart an application'
complete -c passenger -n "__fish_passenger_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "reopen-logs" -d 'Instruct passenger-rs to reopen its log file'
complete -c passenger -n "__fish_passenger_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "api-call" -d 'Make an API call to a passenger-rs instance'
complete -c passenger -n "__fish_passenger_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "list-instances" -d 'List running passenger-rs instances'
complete -c passenger -n "__fish_passenger_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "about" -d 'Show information about this passenger-rs installation'
complete -c passenger -n "__fish_passenger_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "validate-install" -d 'Validate this passenger-rs installation'
complete -c passenger -n "__fish_passenger_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "system-metrics" -d 'Display system metrics (CPU, memory)'
complete -c passenger -n "__fish_passenger_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "upgrade-core" -d 'Replace the core with one from the passenger binary on disk, on the same sockets, without refusing a connection (same as SIGUSR2 to the watchdog)'
