complete -c passenger-status -l instance -d 'Same as NAME' -r
complete -c passenger-status -l show -d 'What to show' -r -f -a "pool\t'The pool: groups and their processes (default)'
server\t'The server\'s state (`/server.json`)'
requests\t'The requests being handled: method, path, process and age of each'
backtraces\t'The core\'s threads and where each is waiting'
xml\t'The pool as XML (`/pool.xml`)'
json\t'The full pool state as JSON (`/pool.json`)'"
complete -c passenger-status -l no-header -d 'Do not display the header (version, date, instance)'
complete -c passenger-status -l force-colors -d 'Display colors even if stdout is not a TTY'
complete -c passenger-status -l pid-identifier -d 'Take NAME as the PID of the instance (watchdog or core) rather than its name'
complete -c passenger-status -s v -l verbose -d 'Show each process\'s direct URL (and, in XML, the secrets)'
complete -c passenger-status -s h -l help -d 'Print help (see more with \'--help\')'
complete -c passenger-status -s V -l version -d 'Print version'
