complete -c passenger-install-apache2-module -l auto -d 'Run non-interactively (accepted for scripts; nothing asks yet)'
complete -c passenger-install-apache2-module -s h -l help -d 'Print help'
complete -c passenger-install-apache2-module -s V -l version -d 'Print version'
