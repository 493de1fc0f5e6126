# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_passenger_config_global_optspecs
    string join \n root V/version h/help
end

function __fish_passenger_config_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_passenger_config_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_passenger_config_using_subcommand
    set -l cmd (__fish_passenger_config_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c passenger-config -n "__fish_passenger_config_needs_command" -l root -d 'Print the directory holding this installation\'s resources (loaders, man pages)'
complete -c passenger-config -n "__fish_passenger_config_needs_command" -s V -l version -d 'Print the version number'
complete -c passenger-config -n "__fish_passenger_config_needs_command" -s h -l help -d 'Print help'
complete -c passenger-config -n "__fish_passenger_config_needs_command" -f -a "detach-process" -d 'Detach an application process from the process pool'
complete -c passenger-config -n "__fish_passenger_config_needs_command" -f -a "restart-app" -d 'Restart an application'
complete -c passenger-config -n "__fish_passenger_config_needs_command" -f -a "reopen-logs" -d 'Instruct passenger-rs to reopen its log file'
complete -c passenger-config -n "__fish_passenger_config_needs_command" -f -a "api-call" -d 'Make an API call to a passenger-rs instance'
complete -c passenger-config -n "__fish_passenger_config_needs_command" -f -a "list-instances" -d 'List running passenger-rs instances'
complete -c passenger-config -n "__fish_passenger_config_needs_command" -f -a "about" -d 'Show information about this passenger-rs installation'
complete -c passenger-config -n "__fish_passenger_config_needs_command" -f -a "validate-install" -d 'Validate this passenger-rs installation'
complete -c passenger-config -n "__fish_passenger_config_needs_command" -f -a "system-metrics" -d 'Display system metrics (CPU, memory)'
complete -c passenger-config -n "__fish_passenger_config_needs_command" -f -a "upgrade-core" -d 'Replace the core with one from the passenger binary on disk, on the same sockets, without refusing a connection (same as SIGUSR2 to the watchdog)'
complete -c passenger-config -n "__fish_passenger_config_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand detach-process" -l instance -d 'The passenger-rs instance to select: its name or a unique prefix' -r
complete -c passenger-config -n "__fish_passenger_config_using_subcommand detach-process" -l ignore-nonexistent-pid -d 'Exit successfully even if no process has this PID'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand detach-process" -s h -l help -d 'Print help'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand restart-app" -l name -d 'Restart exactly the app group with this name' -r
complete -c passenger-config -n "__fish_passenger_config_using_subcommand restart-app" -l instance -d 'The passenger-rs instance to select: its name or a unique prefix' -r
complete -c passenger-config -n "__fish_passenger_config_using_subcommand restart-app" -l all -d 'Restart every matching app without asking'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand restart-app" -l rolling-restart -d 'Replace processes one by one, keeping the app serving (the default is a blocking restart)'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand restart-app" -l ignore-app-not-running -d 'Exit successfully if the specified application is not running'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand restart-app" -l ignore-passenger-not-running -d 'Exit successfully if passenger-rs is not running'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand restart-app" -s h -l help -d 'Print help'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand reopen-logs" -l instance -d 'The passenger-rs instance to select: its name or a unique prefix' -r
complete -c passenger-config -n "__fish_passenger_config_using_subcommand reopen-logs" -s h -l help -d 'Print help'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand api-call" -s d -l data -d 'The HTTP request body' -r
complete -c passenger-config -n "__fish_passenger_config_using_subcommand api-call" -s f -l data-file -d 'Read the request body from a file' -r -F
complete -c passenger-config -n "__fish_passenger_config_using_subcommand api-call" -s S -l socket -d 'Send to this unix socket instead of the selected instance\'s core_api socket' -r -F
complete -c passenger-config -n "__fish_passenger_config_using_subcommand api-call" -l instance -d 'The passenger-rs instance to select: its name or a unique prefix' -r
complete -c passenger-config -n "__fish_passenger_config_using_subcommand api-call" -s i -l stdin -d 'Read the request body from stdin'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand api-call" -l show-headers -d 'Show the HTTP response status line and headers'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand api-call" -l ignore-response-code -d 'Exit successfully even if a non-2xx response was returned'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand api-call" -s h -l help -d 'Print help'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand list-instances" -l json -d 'Print a JSON array: each instance\'s properties.json plus `instance_dir.path` and `core_pid`'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand list-instances" -s q -l quiet -d 'Print nothing when no instance is running'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand list-instances" -s h -l help -d 'Print help'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand about" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand validate-install" -l apxs2-path -d 'The Apache installation to validate, by its apxs (default: $APXS2, then apxs2 and apxs in PATH)' -r -F
complete -c passenger-config -n "__fish_passenger_config_using_subcommand validate-install" -l auto -d 'Run non-interactively (accepted for compatibility; the checks never ask)'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand validate-install" -l no-colors -d 'Never output colors'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand validate-install" -l no-summary -d 'Do not display a summary'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand validate-install" -l validate-apache2 -d 'Also check Apache: that it is installed, and that its configuration loads a mod_passenger.so built for this passenger binary'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand validate-install" -s h -l help -d 'Print help'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand system-metrics" -s h -l help -d 'Print help'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand upgrade-core" -l instance -d 'The passenger-rs instance to select: its name or a unique prefix' -r
complete -c passenger-config -n "__fish_passenger_config_using_subcommand upgrade-core" -s h -l help -d 'Print help'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand help; and not __fish_seen_subcommand_from detach-process restart-app reopen-logs api-call list-instances about validate-install system-metrics upgrade-core help" -f -a "detach-process" -d 'Detach an application process from the process pool'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand help; and not __fish_seen_subcommand_from detach-process restart-app reopen-logs api-call list-instances about validate-install system-metrics upgrade-core help" -f -a "restart-app" -d 'Restart an application'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand help; and not __fish_seen_subcommand_from detach-process restart-app reopen-logs api-call list-instances about validate-install system-metrics upgrade-core help" -f -a "reopen-logs" -d 'Instruct passenger-rs to reopen its log file'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand help; and not __fish_seen_subcommand_from detach-process restart-app reopen-logs api-call list-instances about validate-install system-metrics upgrade-core help" -f -a "api-call" -d 'Make an API call to a passenger-rs instance'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand help; and not __fish_seen_subcommand_from detach-process restart-app reopen-logs api-call list-instances about validate-install system-metrics upgrade-core help" -f -a "list-instances" -d 'List running passenger-rs instances'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand help; and not __fish_seen_subcommand_from detach-process restart-app reopen-logs api-call list-instances about validate-install system-metrics upgrade-core help" -f -a "about" -d 'Show information about this passenger-rs installation'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand help; and not __fish_seen_subcommand_from detach-process restart-app reopen-logs api-call list-instances about validate-install system-metrics upgrade-core help" -f -a "validate-install" -d 'Validate this passenger-rs installation'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand help; and not __fish_seen_subcommand_from detach-process restart-app reopen-logs api-call list-instances about validate-install system-metrics upgrade-core help" -f -a "system-metrics" -d 'Display system metrics (CPU, memory)'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand help; and not __fish_seen_subcommand_from detach-process restart-app reopen-logs api-call list-instances about validate-install system-metrics upgrade-core help" -f -a "upgrade-core" -d 'Replace the core with one from the passenger binary on disk, on the same sockets, without refusing a connection (same as SIGUSR2 to the watchdog)'
complete -c passenger-config -n "__fish_passenger_config_using_subcommand help; and not __fish_seen_subcommand_from detach-process restart-app reopen-logs api-call list-instances about validate-install system-metrics upgrade-core help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
