/* Stub of mod_passenger for the installer's build and tests. The real module
 * replaces this file; it keeps the same name so that <IfModule mod_passenger.c>
 * works. */
#include "httpd.h"
#include "http_config.h"

#ifndef PASSENGER_BINARY
#error "PASSENGER_BINARY must be defined by the installer"
#endif

static const char passenger_binary[] = PASSENGER_BINARY;

static const char *set_global(cmd_parms *cmd, void *cfg, const char *arg)
{
    (void)cmd;
    (void)cfg;
    (void)arg;
    (void)passenger_binary;
    return NULL;
}

static const command_rec passenger_commands[] = {
    AP_INIT_TAKE1("PassengerRoot", set_global, NULL, RSRC_CONF,
                  "The passenger-rs installation root."),
    AP_INIT_TAKE1("PassengerDefaultRuby", set_global, NULL, RSRC_CONF,
                  "The default Ruby interpreter."),
    { NULL }
};

module AP_MODULE_DECLARE_DATA passenger_module = {
    STANDARD20_MODULE_STUFF,
    NULL, NULL, NULL, NULL,
    passenger_commands,
    NULL,
    0
};
