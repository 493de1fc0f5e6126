complete -c passenger-install-apache2-module -l apxs2-path -d 'The apxs to build with (wins over $APXS2, then apxs2 and apxs in PATH)' -r -F
complete -c passenger-install-apache2-module -l apr-config-path -d 'The apr-config to use (wins over $APR_CONFIG and apxs\'s APR_CONFIG)' -r -F
complete -c passenger-install-apache2-module -l languages -d 'Languages to check for, comma-separated: ruby, python, nodejs (default: those whose interpreter is in PATH; a menu on a terminal)' -r
complete -c passenger-install-apache2-module -l module-dir -d 'Where to install mod_passenger.so (default: `apxs -q LIBEXECDIR`)' -r -F
complete -c passenger-install-apache2-module -l hook-after-install-prerequisites -d 'Run CMD (through /bin/sh, at most 10 s) once every required piece of software is found, before anything is compiled: Passenger\'s `after_install_prerequisites` hook. A failing hook is reported, not fatal' -r
complete -c passenger-install-apache2-module -s a -l auto -d 'Never ask (implied when stdin is not a terminal): write no Apache configuration unless --update-config says so'
complete -c passenger-install-apache2-module -l no-compile -d 'Check the dependencies and print the snippet, but compile nothing'
complete -c passenger-install-apache2-module -l snippet -d 'Print only the Apache configuration snippet and exit'
complete -c passenger-install-apache2-module -l force-colors -d 'Use colors even when stdout is not a terminal'
complete -c passenger-install-apache2-module -l update-config -d 'On a Debian-style layout, write mods-available/passenger.load and passenger.conf and run `a2enmod passenger` without asking'
complete -c passenger-install-apache2-module -s h -l help -d 'Print help (see more with \'--help\')'
complete -c passenger-install-apache2-module -s V -l version -d 'Print version'
