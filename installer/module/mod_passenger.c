/*
 * mod_passenger for passenger-rs: Apache 2.4 serves apps through the passenger-rs core.
 *
 * What this module owns: the directives (parsed and checked at configuration time),
 * starting the core when Apache starts and keeping it across graceful restarts,
 * deciding per request whether Apache serves a file or the app gets the request,
 * streaming app requests to the core over its unix socket and the answer back, and,
 * under the event MPM, serving kept-alive client connections in one worker (so that a
 * graceful restart loses no request on them).
 * What it does not own: anything about apps. The core builds and validates each app
 * from the options this module sends with every request (reserved `!~` headers,
 * authenticated by a per-instance secret), creates its group, spawns and restarts.
 *
 * Threads: directive handlers and post_config run single-threaded in the master;
 * after that the module's globals are only read, except each child's app detection
 * results (`detections`), which its threads share under a mutex. Every request uses
 * memory from its own pool and a socket of its own, so the event, worker and prefork
 * MPMs all work.
 *
 * Built by `passenger-install-apache2-module` with
 *   apxs -c -DPASSENGER_BINARY='"/path/to/passenger"' mod_passenger.c   (or unquoted once)
 */

#include "httpd.h"
#include "http_config.h"
#include "http_connection.h"
#include "http_core.h"
#include "http_log.h"
#include "http_protocol.h"
#include "http_request.h"
#include "ap_mpm.h"
#include "scoreboard.h"
#include "unixd.h"
#include "apr_strings.h"
#include "apr_tables.h"
#include "apr_thread_proc.h"
#include "apr_general.h"
#include "apr_allocator.h"
#include "apr_hash.h"
#include "apr_thread_mutex.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef PASSENGER_BINARY
#define PASSENGER_BINARY "passenger"
#endif

/* apxs passes its -D options through a shell, so `-DPASSENGER_BINARY="/x/passenger"` arrives
 * without its quotes unless they were quoted once more ('"/x/passenger"'). Either way works:
 * the macro is turned into text here and surrounding quotes are dropped at startup. (The
 * predefined `linux`/`unix` macros would otherwise rewrite such words of an unquoted path.) */
#undef linux
#undef unix
#define PR_STR2(x) #x
#define PR_STR(x) PR_STR2(x)
static const char binary_text[] = PR_STR(PASSENGER_BINARY);
/* Read through a volatile pointer so the compiler keeps binary_text whole in the object:
 * `passenger-config validate-install --validate-apache2` looks for the path in the .so. */
static const char *volatile binary_text_ref = binary_text;
static char binary_path[4096];

static const char *passenger_binary(void)
{
    if (!binary_path[0]) {
        const char *t = binary_text_ref;
        size_t len = strlen(t);
        if (len >= 2 && t[0] == '"' && t[len - 1] == '"') {
            t++;
            len -= 2;
        }
        if (len >= sizeof(binary_path)) len = sizeof(binary_path) - 1;
        memcpy(binary_path, t, len);
        binary_path[len] = '\0';
    }
    return binary_path;
}

#define HANDLER_NAME "passenger-rs"
#define IO_BUF (32 * 1024)
#define MAX_HEAD (64 * 1024)
#define CONNECT_RETRY_MS 5000
#define FRESH_RETRIES 3 /* resends of a bodiless GET/HEAD/OPTIONS a new connection dropped */
#define STOP_WAIT_MS 15000
#define STATE_KEY "passenger_rs_core_state"

module AP_MODULE_DECLARE_DATA passenger_module;

/* ------------------------------------------------------------------------- */
/* Per-directory configuration                                               */
/* ------------------------------------------------------------------------- */

/* String options, sent to the core under these config keys. */
enum {
    S_APP_ROOT, S_APP_ENV, S_APP_TYPE, S_STARTUP_FILE, S_START_COMMAND, S_GROUP_NAME,
    S_RESTART_DIR, S_SPAWN_METHOD, S_RUBY, S_PYTHON, S_NODEJS, S_USER, S_GROUP, S_COUNT
};
static const char *const s_keys[S_COUNT] = {
    "root", "environment", "app_type", "startup_file", "app_start_command", "name",
    "restart_dir", "spawn_method", "ruby", "python", "nodejs", "user", "group"
};

/* Whole-number options, with the smallest value each accepts. */
enum {
    I_MIN_INSTANCES, I_MAX_REQUESTS, I_QUEUE_SIZE, I_START_TIMEOUT, I_PRELOADER_IDLE,
    I_FORCE_CONCURRENCY, I_COUNT
};
static const char *const i_keys[I_COUNT] = {
    "min_instances", "max_requests", "max_request_queue_size", "start_timeout",
    "max_preloader_idle_time", "force_max_concurrent_requests_per_process"
};
static const long i_min[I_COUNT] = { 0, 0, 0, 1, 0, -1 };
#define I_UNSET LONG_MIN

/* on/off options. */
enum {
    F_ENABLED, F_FRIENDLY_ERROR_PAGES, F_BUFFER_RESPONSE, F_BUFFER_UPLOAD,
    F_HIGH_PERFORMANCE, F_ERROR_OVERRIDE, F_ALLOW_ENCODED_SLASHES, F_LOAD_SHELL_ENVVARS,
    F_STICKY_SESSIONS, F_COUNT
};
#define F_UNSET (-1)

typedef struct {
    const char *s[S_COUNT];
    long i[I_COUNT];
    int f[F_COUNT];
    apr_array_header_t *base_uris; /* const char * */
} dir_conf;

static void *create_dir_conf(apr_pool_t *p, char *dir)
{
    dir_conf *c = apr_pcalloc(p, sizeof(*c));
    int k;
    (void)dir;
    for (k = 0; k < I_COUNT; k++) c->i[k] = I_UNSET;
    for (k = 0; k < F_COUNT; k++) c->f[k] = F_UNSET;
    c->base_uris = apr_array_make(p, 2, sizeof(const char *));
    return c;
}

static void *merge_dir_conf(apr_pool_t *p, void *basev, void *addv)
{
    dir_conf *base = basev, *add = addv, *c = apr_pcalloc(p, sizeof(*c));
    int k;
    for (k = 0; k < S_COUNT; k++) c->s[k] = add->s[k] ? add->s[k] : base->s[k];
    for (k = 0; k < I_COUNT; k++) c->i[k] = add->i[k] != I_UNSET ? add->i[k] : base->i[k];
    for (k = 0; k < F_COUNT; k++) c->f[k] = add->f[k] != F_UNSET ? add->f[k] : base->f[k];
    c->base_uris = apr_array_append(p, base->base_uris, add->base_uris);
    return c;
}

/* ------------------------------------------------------------------------- */
/* Global configuration (reset in pre_config; read-only once requests run)   */
/* ------------------------------------------------------------------------- */

typedef struct {
    const char *root;
    const char *default_ruby;
    const char *log_file;
    const char *instance_registry_dir;
    const char *default_user;
    const char *default_group;
    long max_pool_size;
    long max_instances_per_app;
    long pool_idle_time;
    long log_level;
    long stat_throttle_rate;
    int user_switching;
    int show_version_in_header;
    apr_array_header_t *warnings; /* const char *, logged once the error log is open */
    apr_array_header_t *prestart_urls; /* const char *, PassengerPreStart */
    /* Set by post_config: */
    int core_ok;
    const char *core_problem;
    const char *socket_path;
    const char *secret;
} global_conf;

static global_conf g;

static void reset_globals(apr_pool_t *p)
{
    memset(&g, 0, sizeof(g));
    g.max_pool_size = 6;
    g.max_instances_per_app = 0;
    g.pool_idle_time = 300;
    g.log_level = 3;
    g.stat_throttle_rate = 10;
    g.user_switching = 1;
    g.show_version_in_header = 1;
    g.warnings = apr_array_make(p, 4, sizeof(const char *));
    g.prestart_urls = apr_array_make(p, 2, sizeof(const char *));
    g.core_problem = "the passenger-rs core is not running";
}

static void warn_later(cmd_parms *cmd, const char *text)
{
    const char *where = cmd->directive && cmd->directive->filename
        ? apr_psprintf(cmd->pool, " (%s:%d)", cmd->directive->filename,
                       cmd->directive->line_num)
        : "";
    APR_ARRAY_PUSH(g.warnings, const char *) = apr_pstrcat(cmd->pool, text, where, NULL);
}

/* ------------------------------------------------------------------------- */
/* Directive handlers                                                        */
/* ------------------------------------------------------------------------- */

static const char *parse_long(cmd_parms *cmd, const char *arg, long min, long max, long *out)
{
    char *end = NULL;
    long v;
    errno = 0;
    v = strtol(arg, &end, 10);
    if (errno || end == arg || *end != '\0') {
        return apr_psprintf(cmd->pool, "%s must be a whole number, got '%s'.",
                            cmd->cmd->name, arg);
    }
    if (v < min) {
        return apr_psprintf(cmd->pool, "%s must be at least %ld.", cmd->cmd->name, min);
    }
    if (v > max) {
        return apr_psprintf(cmd->pool, "%s must be at most %ld.", cmd->cmd->name, max);
    }
    *out = v;
    return NULL;
}

static const char *set_dir_string(cmd_parms *cmd, void *cfg, const char *arg)
{
    dir_conf *c = cfg;
    int k = (int)(intptr_t)cmd->info;
    if (*arg == '\0') {
        return apr_psprintf(cmd->pool, "%s must not be empty.", cmd->cmd->name);
    }
    c->s[k] = arg;
    return NULL;
}

static const char *set_dir_long(cmd_parms *cmd, void *cfg, const char *arg)
{
    dir_conf *c = cfg;
    int k = (int)(intptr_t)cmd->info;
    return parse_long(cmd, arg, i_min[k], 0x7fffffffL, &c->i[k]);
}

static const char *set_dir_flag(cmd_parms *cmd, void *cfg, int on)
{
    dir_conf *c = cfg;
    c->f[(int)(intptr_t)cmd->info] = on ? 1 : 0;
    return NULL;
}

static const char *set_app_env(cmd_parms *cmd, void *cfg, const char *arg)
{
    dir_conf *c = cfg;
    (void)cmd;
    c->s[S_APP_ENV] = arg;
    return NULL;
}

static const char *set_app_type(cmd_parms *cmd, void *cfg, const char *arg)
{
    dir_conf *c = cfg;
    static const char *const types[] = { "ruby", "rack", "python", "wsgi", "nodejs", "node",
                                         "generic", "meteor", NULL };
    int k;
    for (k = 0; types[k]; k++) {
        if (strcasecmp(arg, types[k]) == 0) {
            if (strcmp(types[k], "meteor") == 0) {
                return "PassengerAppType meteor is not supported by passenger-rs.";
            }
            c->s[S_APP_TYPE] = types[k];
            return NULL;
        }
    }
    (void)cmd;
    return "PassengerAppType may only be 'ruby', 'python', 'nodejs' or 'generic'.";
}

static const char *set_spawn_method(cmd_parms *cmd, void *cfg, const char *arg)
{
    dir_conf *c = cfg;
    (void)cmd;
    if (strcasecmp(arg, "smart") == 0 || strcasecmp(arg, "smart-lv2") == 0) {
        c->s[S_SPAWN_METHOD] = "smart";
    } else if (strcasecmp(arg, "direct") == 0 || strcasecmp(arg, "conservative") == 0) {
        c->s[S_SPAWN_METHOD] = "direct";
    } else {
        return "PassengerSpawnMethod may only be 'smart', 'direct'.";
    }
    return NULL;
}

static const char *add_base_uri(cmd_parms *cmd, void *cfg, const char *arg)
{
    dir_conf *c = cfg;
    size_t len = strlen(arg);
    if (len == 0 || arg[0] != '/') {
        return apr_psprintf(cmd->pool, "%s must start with a slash (/)", cmd->cmd->name);
    }
    if (len > 1 && arg[len - 1] == '/') {
        return apr_psprintf(cmd->pool, "%s must not end with a slash (/)", cmd->cmd->name);
    }
    APR_ARRAY_PUSH(c->base_uris, const char *) = arg;
    return NULL;
}

/* A global directive: in a VirtualHost it only warns, and the last one wins. */
static void check_global(cmd_parms *cmd)
{
    if (cmd->server && cmd->server->is_virtual) {
        warn_later(cmd, apr_psprintf(cmd->pool,
            "%s is a global setting; in a VirtualHost it applies to the whole server",
            cmd->cmd->name));
    }
}

static const char *set_global_string(cmd_parms *cmd, void *cfg, const char *arg)
{
    const char **slot = (const char **)((char *)&g + (size_t)(intptr_t)cmd->info);
    (void)cfg;
    check_global(cmd);
    if (*arg == '\0') {
        return apr_psprintf(cmd->pool, "%s must not be empty.", cmd->cmd->name);
    }
    *slot = arg;
    return NULL;
}

static const char *set_global_long(cmd_parms *cmd, void *cfg, const char *arg)
{
    long *slot = (long *)((char *)&g + (size_t)(intptr_t)cmd->info);
    long min = 0, max = 0x7fffffffL;
    (void)cfg;
    check_global(cmd);
    if (slot == &g.max_pool_size) min = 1;
    if (slot == &g.log_level) max = 7;
    return parse_long(cmd, arg, min, max, slot);
}

static const char *set_global_flag(cmd_parms *cmd, void *cfg, int on)
{
    int *slot = (int *)((char *)&g + (size_t)(intptr_t)cmd->info);
    (void)cfg;
    check_global(cmd);
    *slot = on ? 1 : 0;
    return NULL;
}

static const char *set_obsolete(cmd_parms *cmd, void *cfg, const char *args)
{
    (void)cfg;
    (void)args;
    warn_later(cmd, apr_psprintf(cmd->pool,
        "%s is obsolete and has no effect in passenger-rs; it can be removed",
        cmd->cmd->name));
    return NULL;
}

static const char *set_no_effect(cmd_parms *cmd, void *cfg, const char *args)
{
    (void)cfg;
    (void)args;
    warn_later(cmd, apr_psprintf(cmd->pool, "%s is accepted but changes nothing in passenger-rs",
                                 cmd->cmd->name));
    return NULL;
}

/* PassengerPreStart URL: the core requests it once it is up, so the app starts before the
 * first visitor. Only http:// with a host; https:// is skipped with a warning (the core
 * asks Apache's plain port of the URL, 80 unless it names one). */
static const char *add_prestart_url(cmd_parms *cmd, void *cfg, const char *arg)
{
    const char *host;
    size_t host_len;
    (void)cfg;
    if (strncasecmp(arg, "https://", 8) == 0) {
        warn_later(cmd, apr_psprintf(cmd->pool, "%s %s: https:// URLs are not pre-started; "
                                     "use the http:// URL of the same app", cmd->cmd->name, arg));
        return NULL;
    }
    if (strncasecmp(arg, "http://", 7) != 0) {
        return apr_psprintf(cmd->pool, "%s needs an http:// URL, got '%s'.", cmd->cmd->name, arg);
    }
    host = arg + 7;
    host_len = strcspn(host, "/?#");
    if (host_len == 0 || host[0] == ':' || strcspn(host, " \t\r\n") < strlen(host)) {
        return apr_psprintf(cmd->pool, "%s needs a URL with a host name, got '%s'.",
                            cmd->cmd->name, arg);
    }
    APR_ARRAY_PUSH(g.prestart_urls, const char *) = arg;
    return NULL;
}

static const char *set_enterprise(cmd_parms *cmd, void *cfg, const char *args)
{
    (void)cfg;
    (void)args;
    return apr_psprintf(cmd->pool, "%s is a Passenger Enterprise option, not available here.",
                        cmd->cmd->name);
}

#define GOFF(field) ((void *)(intptr_t)offsetof(global_conf, field))
#define DIRX (RSRC_CONF | ACCESS_CONF)
#define DIRH (RSRC_CONF | ACCESS_CONF | OR_OPTIONS)
#define DIRL (RSRC_CONF | ACCESS_CONF | OR_LIMIT)
#define DIRA (RSRC_CONF | ACCESS_CONF | OR_ALL)
#define S(name, k, where, help) AP_INIT_TAKE1(name, set_dir_string, (void *)(intptr_t)(k), where, help)
#define I(name, k, where, help) AP_INIT_TAKE1(name, set_dir_long, (void *)(intptr_t)(k), where, help)
#define F(name, k, where, help) AP_INIT_FLAG(name, set_dir_flag, (void *)(intptr_t)(k), where, help)
#define GS(name, field, help) AP_INIT_TAKE1(name, set_global_string, GOFF(field), RSRC_CONF, help)
#define GL(name, field, help) AP_INIT_TAKE1(name, set_global_long, GOFF(field), RSRC_CONF, help)
#define GF(name, field, help) AP_INIT_FLAG(name, set_global_flag, GOFF(field), RSRC_CONF, help)
#define OBSOLETE(name) AP_INIT_RAW_ARGS(name, set_obsolete, NULL, DIRA, "obsolete; ignored")
#define NO_EFFECT(name, where) AP_INIT_RAW_ARGS(name, set_no_effect, NULL, where, "accepted; no effect")
#define ENTERPRISE(name) AP_INIT_RAW_ARGS(name, set_enterprise, NULL, DIRA, "Enterprise only")

static const command_rec passenger_cmds[] = {
    /* Global. */
    GS("PassengerRoot", root, "the passenger-rs resources directory (passenger-config --root)"),
    GS("PassengerDefaultRuby", default_ruby, "the Ruby interpreter apps use by default"),
    GS("PassengerLogFile", log_file, "the core's log file (default: Apache's error log)"),
    GS("PassengerDebugLogFile", log_file, "old name of PassengerLogFile"),
    GS("PassengerInstanceRegistryDir", instance_registry_dir, "where the instance directory goes"),
    GS("PassengerDefaultUser", default_user, "user for apps when user switching gives none"),
    GS("RailsDefaultUser", default_user, "old name of PassengerDefaultUser"),
    GS("PassengerDefaultGroup", default_group, "group for apps when user switching gives none"),
    GL("PassengerMaxPoolSize", max_pool_size, "app processes in total (default 6)"),
    GL("PassengerMaxInstancesPerApp", max_instances_per_app, "processes per app (0 = no limit)"),
    GL("PassengerPoolIdleTime", pool_idle_time, "seconds an idle process lives (default 300)"),
    GL("PassengerLogLevel", log_level, "log level 0-7 (default 3)"),
    GL("PassengerStatThrottleRate", stat_throttle_rate, "seconds between restart.txt checks (default 10)"),
    GF("PassengerUserSwitching", user_switching, "run apps as their startup file's owner"),
    GF("RailsUserSwitching", user_switching, "old name of PassengerUserSwitching"),
    GF("PassengerShowVersionInHeader", show_version_in_header, "name the version in X-Powered-By"),
    NO_EFFECT("PassengerDisableSecurityUpdateCheck", RSRC_CONF),
    NO_EFFECT("PassengerDisableAnonymousTelemetry", RSRC_CONF),
    NO_EFFECT("PassengerDataBufferDir", RSRC_CONF),
    NO_EFFECT("PassengerSocketBacklog", RSRC_CONF),
    AP_INIT_TAKE1("PassengerPreStart", add_prestart_url, NULL, RSRC_CONF,
                  "an http:// URL requested once the core is up, so its app starts early"),
    /* Per app. */
    S("PassengerAppRoot", S_APP_ROOT, DIRH, "the app's directory (default: the parent of DocumentRoot)"),
    AP_INIT_TAKE1("PassengerAppEnv", set_app_env, NULL, DIRH, "the app's environment (default production)"),
    AP_INIT_TAKE1("RailsEnv", set_app_env, NULL, DIRH, "old name of PassengerAppEnv"),
    AP_INIT_TAKE1("RackEnv", set_app_env, NULL, DIRH, "old name of PassengerAppEnv"),
    AP_INIT_TAKE1("PassengerAppType", set_app_type, NULL, DIRX, "ruby, python, nodejs or generic"),
    S("PassengerStartupFile", S_STARTUP_FILE, DIRX, "the startup file, relative to the app root"),
    S("PassengerAppStartCommand", S_START_COMMAND, DIRX, "a command that listens on $PORT"),
    S("PassengerAppGroupName", S_GROUP_NAME, DIRX, "the app's group name"),
    S("PassengerRestartDir", S_RESTART_DIR, DIRH, "where restart.txt is (default tmp)"),
    AP_INIT_TAKE1("PassengerSpawnMethod", set_spawn_method, NULL, DIRX, "smart or direct"),
    AP_INIT_TAKE1("RailsSpawnMethod", set_spawn_method, NULL, DIRX, "old name of PassengerSpawnMethod"),
    S("PassengerRuby", S_RUBY, DIRX, "the Ruby interpreter of this app"),
    S("RailsRuby", S_RUBY, DIRX, "old name of PassengerRuby"),
    S("PassengerPython", S_PYTHON, DIRX, "the Python interpreter (default python3)"),
    S("PassengerNodejs", S_NODEJS, DIRX, "the Node interpreter (default node)"),
    S("PassengerUser", S_USER, DIRX, "the user the app runs as"),
    S("PassengerGroup", S_GROUP, DIRX, "the group the app runs as"),
    I("PassengerMinInstances", I_MIN_INSTANCES, DIRL, "processes kept per app (default 1)"),
    I("PassengerMaxRequests", I_MAX_REQUESTS, DIRL, "requests before a process is replaced (0 = never)"),
    I("PassengerMaxRequestQueueSize", I_QUEUE_SIZE, DIRX, "requests waiting per app (default 100)"),
    I("PassengerStartTimeout", I_START_TIMEOUT, DIRX, "seconds a process may take to start (default 90)"),
    I("PassengerMaxPreloaderIdleTime", I_PRELOADER_IDLE, DIRX, "seconds an unused preloader lives (default 300)"),
    I("RailsAppSpawnerIdleTime", I_PRELOADER_IDLE, DIRX, "old name of PassengerMaxPreloaderIdleTime"),
    I("PassengerForceMaxConcurrentRequestsPerProcess", I_FORCE_CONCURRENCY, DIRX, "concurrency per process"),
    AP_INIT_TAKE1("PassengerBaseURI", add_base_uri, NULL, DIRH, "a sub-URI an app is mounted on"),
    AP_INIT_TAKE1("RailsBaseURI", add_base_uri, NULL, DIRH, "old name of PassengerBaseURI"),
    AP_INIT_TAKE1("RackBaseURI", add_base_uri, NULL, DIRH, "old name of PassengerBaseURI"),
    F("PassengerEnabled", F_ENABLED, DIRA, "serve apps in this location (default on)"),
    F("PassengerFriendlyErrorPages", F_FRIENDLY_ERROR_PAGES, DIRH, "detailed spawn error pages"),
    F("PassengerBufferResponse", F_BUFFER_RESPONSE, DIRA, "buffer app responses in the core (default: buffered, so a slow client holds no app process)"),
    F("PassengerBufferUpload", F_BUFFER_UPLOAD, DIRA, "read uploads whole in the core before an app process is taken (default on)"),
    F("PassengerHighPerformance", F_HIGH_PERFORMANCE, DIRA, "decide app requests before the directory walk (server/vhost); <Directory>, .htaccess and per-directory mod_rewrite do not apply to them"),
    F("PassengerErrorOverride", F_ERROR_OVERRIDE, DIRA, "let ErrorDocument handle app errors"),
    F("PassengerAllowEncodedSlashes", F_ALLOW_ENCODED_SLASHES, DIRH, "send the URI as the client wrote it (%2f kept; mod_rewrite [PT] not seen)"),
    F("PassengerLoadShellEnvvars", F_LOAD_SHELL_ENVVARS, DIRX, "accepted; use SetEnv"),
    F("PassengerStickySessions", F_STICKY_SESSIONS, DIRA, "accepted; not implemented"),
    /* Obsolete: accepted with a warning, so old configs still start. */
    OBSOLETE("RailsAutoDetect"), OBSOLETE("RackAutoDetect"), OBSOLETE("WsgiAutoDetect"),
    OBSOLETE("PassengerUseGlobalQueue"), OBSOLETE("PassengerTempDir"),
    OBSOLETE("RailsAllowModRewrite"), OBSOLETE("RailsFrameworkSpawnerIdleTime"),
    OBSOLETE("PassengerUploadBufferDir"), OBSOLETE("PassengerResolveSymlinksInDocumentRoot"),
    OBSOLETE("PassengerMaxInstances"),
    /* Enterprise. */
    ENTERPRISE("PassengerMemoryLimit"), ENTERPRISE("PassengerRollingRestarts"),
    ENTERPRISE("PassengerMaxRequestTime"), ENTERPRISE("PassengerFlyWith"),
    ENTERPRISE("PassengerResistDeploymentErrors"), ENTERPRISE("PassengerConcurrencyModel"),
    ENTERPRISE("PassengerThreadCount"),
    { .name = NULL }
};

/* ------------------------------------------------------------------------- */
/* The core process                                                          */
/* ------------------------------------------------------------------------- */

/* Lives in the process pool: survives configuration passes and generations. */
typedef struct {
    pid_t master_pid;
    pid_t watchdog_pid;
    apr_proc_t proc;
    unsigned generation;
    char dir[512];
    char socket_path[108];
    char secret_file[600];
    char secret[65];
    char fingerprint[4096];
} core_state;

static core_state *get_state(server_rec *s)
{
    void *data = NULL;
    apr_pool_t *pp = s->process->pool;
    apr_pool_userdata_get(&data, STATE_KEY, pp);
    if (!data) {
        data = apr_pcalloc(pp, sizeof(core_state));
        apr_pool_userdata_set(data, STATE_KEY, apr_pool_cleanup_null, pp);
    }
    return data;
}

static int alive(pid_t pid)
{
    return pid > 0 && kill(pid, 0) == 0;
}

/* Apache tells the master about its other children here (death, restart). */
static void watchdog_maintenance(int reason, void *data, int status)
{
    core_state *st = data;
    (void)status;
    if (reason == APR_OC_REASON_DEATH || reason == APR_OC_REASON_LOST) {
        st->watchdog_pid = 0;
    }
}

static void cleanup_files(core_state *st)
{
    if (st->socket_path[0]) unlink(st->socket_path);
    if (st->secret_file[0]) unlink(st->secret_file);
}

/* Stops the core gracefully (SIGTERM to its watchdog) and waits for it, bounded. */
static void stop_core(core_state *st, pid_t pid)
{
    int waited = 0;
    if (pid <= 0) return;
    kill(pid, SIGTERM);
    while (waited < STOP_WAIT_MS) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD && !alive(pid))) return;
        usleep(20 * 1000);
        waited += 20;
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    (void)st;
}

/* Config-pool cleanup: stops the core when the master exits, not on a restart.
 * (A process-pool cleanup would run after this DSO is unloaded.) */
static apr_status_t on_config_destroy(void *data)
{
    core_state *st = data;
    if (getpid() != st->master_pid) return APR_SUCCESS;
    if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_EXITING) return APR_SUCCESS;
    if (st->watchdog_pid > 0) {
        stop_core(st, st->watchdog_pid);
        st->watchdog_pid = 0;
    }
    cleanup_files(st);
    if (st->dir[0]) rmdir(st->dir);
    return APR_SUCCESS;
}

static const char *global_fingerprint(apr_pool_t *p)
{
    return apr_psprintf(p, "%s|%ld|%ld|%ld|%s|%s|%d|%d|%s|%s|%s", g.root, g.max_pool_size,
                        g.pool_idle_time, g.log_level, g.log_file ? g.log_file : "",
                        g.instance_registry_dir ? g.instance_registry_dir : "",
                        g.show_version_in_header, g.user_switching,
                        g.default_user ? g.default_user : "",
                        g.default_group ? g.default_group : "", passenger_binary());
}

static int write_secret(core_state *st, server_rec *s)
{
    unsigned char raw[24];
    static const char hex[] = "0123456789abcdef";
    int fd, k;
    if (apr_generate_random_bytes(raw, sizeof(raw)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "passenger-rs: no random bytes for the secret");
        return -1;
    }
    for (k = 0; k < (int)sizeof(raw); k++) {
        st->secret[2 * k] = hex[raw[k] >> 4];
        st->secret[2 * k + 1] = hex[raw[k] & 15];
    }
    st->secret[2 * sizeof(raw)] = '\0';
    unlink(st->secret_file);
    fd = open(st->secret_file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || write(fd, st->secret, strlen(st->secret)) != (ssize_t)strlen(st->secret)) {
        ap_log_error(APLOG_MARK, APLOG_ERR, errno, s, "passenger-rs: cannot write %s",
                     st->secret_file);
        if (fd >= 0) close(fd);
        return -1;
    }
    close(fd);
    return 0;
}

static int bind_socket(core_state *st, server_rec *s)
{
    struct sockaddr_un addr;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    apr_cpystrn(addr.sun_path, st->socket_path, sizeof(addr.sun_path));
    unlink(st->socket_path);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(fd, 2048) != 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, errno, s, "passenger-rs: cannot listen on %s",
                     st->socket_path);
        close(fd);
        return -1;
    }
    /* Only Apache's workers (its User) and root may connect. */
    if (geteuid() == 0 && chown(st->socket_path, ap_unixd_config.user_id, (gid_t)-1) != 0) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, errno, s, "passenger-rs: cannot chown %s",
                     st->socket_path);
    }
    chmod(st->socket_path, 0600);
    return fd;
}

static void add_arg(apr_array_header_t *argv, const char *a)
{
    APR_ARRAY_PUSH(argv, const char *) = a;
}

/* Starts `passenger start --integration-mode apache` as a child of the master. */
static int start_core(core_state *st, apr_pool_t *p, server_rec *s)
{
    apr_array_header_t *argv = apr_array_make(p, 24, sizeof(const char *));
    pid_t master = getpid(), pid;
    const char *binary;
    int fd, sig, k;

    st->generation++;
    apr_snprintf(st->socket_path, sizeof(st->socket_path), "%s/core.%u.sock", st->dir,
                 st->generation);
    apr_snprintf(st->secret_file, sizeof(st->secret_file), "%s/secret.%u", st->dir,
                 st->generation);
    if (strlen(st->dir) + 20 >= sizeof(st->socket_path)) {
        g.core_problem = apr_psprintf(p, "the runtime directory %s is too long for a unix socket",
                                      st->dir);
        return -1;
    }
    if (write_secret(st, s) != 0) return -1;
    fd = bind_socket(st, s);
    if (fd < 0) return -1;

    add_arg(argv, "passenger");
    add_arg(argv, "start");
    add_arg(argv, "--integration-mode");
    add_arg(argv, "apache");
    add_arg(argv, "--web-server-secret-file");
    add_arg(argv, st->secret_file);
    add_arg(argv, "--max-pool-size");
    add_arg(argv, apr_ltoa(p, g.max_pool_size));
    add_arg(argv, "--pool-idle-time");
    add_arg(argv, apr_ltoa(p, g.pool_idle_time));
    add_arg(argv, "--log-level");
    add_arg(argv, apr_ltoa(p, g.log_level));
    if (g.log_file) {
        add_arg(argv, "--log-file");
        add_arg(argv, ap_server_root_relative(p, g.log_file));
    }
    if (g.instance_registry_dir) {
        add_arg(argv, "--instance-registry-dir");
        add_arg(argv, g.instance_registry_dir);
    }
    if (!g.show_version_in_header) add_arg(argv, "--no-show-version-in-header");
    /* User switching is the core's: who an app runs as is decided where it is spawned. */
    if (!g.user_switching) add_arg(argv, "--no-user-switching");
    if (g.default_user) {
        add_arg(argv, "--default-user");
        add_arg(argv, g.default_user);
    }
    if (g.default_group) {
        add_arg(argv, "--default-group");
        add_arg(argv, g.default_group);
    }
    for (k = 0; k < g.prestart_urls->nelts; k++) {
        add_arg(argv, "--prestart-url");
        add_arg(argv, APR_ARRAY_IDX(g.prestart_urls, k, const char *));
    }
    APR_ARRAY_PUSH(argv, const char *) = NULL;

    binary = passenger_binary();
    pid = fork();
    if (pid < 0) {
        close(fd);
        ap_log_error(APLOG_MARK, APLOG_ERR, errno, s, "passenger-rs: cannot fork the core");
        return -1;
    }
    if (pid == 0) {
        /* Child: only async-signal-safe calls until exec. */
        char pidbuf[32], rootbuf[4096];
        sigset_t all;
        int devnull, k;
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != master) _exit(1);
        setsid();
        sigemptyset(&all);
        sigprocmask(SIG_SETMASK, &all, NULL);
        for (sig = 1; sig < NSIG; sig++) {
            if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
        }
        if (fd != 3) {
            dup2(fd, 3);
        } else {
            fcntl(3, F_SETFD, 0);
        }
        devnull = open("/dev/null", O_RDWR);
        if (devnull >= 0) {
            dup2(devnull, 0);
            dup2(devnull, 1);
        }
        for (k = 4; k < 1024; k++) close(k);
        apr_snprintf(pidbuf, sizeof(pidbuf), "%ld", (long)getpid());
        setenv("LISTEN_FDS", "1", 1);
        setenv("LISTEN_PID", pidbuf, 1);
        apr_cpystrn(rootbuf, g.root, sizeof(rootbuf));
        setenv("PASSENGER_RESOURCES_DIR", rootbuf, 1);
        if (chdir("/") != 0) _exit(1);
        execv(binary, (char *const *)argv->elts);
        _exit(127);
    }
    close(fd);
    st->watchdog_pid = pid;
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                 "passenger-rs: started the core (watchdog PID %ld) on %s", (long)pid,
                 st->socket_path);
    return 0;
}

static int root_problem(apr_pool_t *p)
{
    struct stat sb;
    const char *scripts;
    if (!g.root) {
        g.core_problem = "PassengerRoot is not set; add PassengerRoot with what "
                         "`passenger-config --root` prints";
        return 1;
    }
    scripts = apr_pstrcat(p, g.root, "/helper-scripts", NULL);
    if (stat(scripts, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        g.core_problem = apr_psprintf(p, "PassengerRoot %s is not a passenger-rs resources "
                                      "directory (it has no helper-scripts/); set it to what "
                                      "`passenger-config --root` prints", g.root);
        return 1;
    }
    if (access(passenger_binary(), X_OK) != 0) {
        g.core_problem = apr_psprintf(p, "the passenger executable %s this module was built "
                                      "for is missing; rebuild it with "
                                      "passenger-install-apache2-module", passenger_binary());
        return 1;
    }
    return 0;
}

static int passenger_pre_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp)
{
    (void)plog;
    (void)ptemp;
    reset_globals(pconf);
    return OK;
}

/* Whether this configuration pass is for serving: config tests and dumps (-t, -M, -S)
 * start and change nothing, nor does the preflight pass. */
static int serving_run(void)
{
    return ap_state_query(AP_SQ_RUN_MODE) == AP_SQ_RM_NORMAL
        && ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG;
}

static int passenger_post_config(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                                 server_rec *s)
{
    core_state *st;
    const char *fp;
    int k;
    (void)plog;
    (void)ptemp;
    if (!serving_run()) return OK;

    for (k = 0; k < g.warnings->nelts; k++) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "passenger-rs: %s",
                     APR_ARRAY_IDX(g.warnings, k, const char *));
    }
    st = get_state(s);
    st->master_pid = getpid();
    /* Registered on this generation's pool: this DSO may be reloaded elsewhere. */
    apr_pool_cleanup_register(pconf, st, on_config_destroy, apr_pool_cleanup_null);
    if (root_problem(pconf)) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     "passenger-rs: cannot start the core: %s. App URLs will answer 503.",
                     g.core_problem);
        return OK;
    }
    if (!st->dir[0]) {
        const char *dir = ap_runtime_dir_relative(pconf, apr_psprintf(pconf, "passenger-rs.%ld",
                                                                       (long)getpid()));
        apr_cpystrn(st->dir, dir, sizeof(st->dir));
        if (mkdir(st->dir, 0711) != 0 && errno != EEXIST) {
            g.core_problem = apr_psprintf(pconf, "cannot create %s: %s", st->dir,
                                          strerror(errno));
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "passenger-rs: %s. App URLs will answer 503.",
                         g.core_problem);
            st->dir[0] = '\0';
            return OK;
        }
        chmod(st->dir, 0711);
    }
    fp = global_fingerprint(pconf);
    if (alive(st->watchdog_pid) && strcmp(fp, st->fingerprint) == 0) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, s,
                     "passenger-rs: keeping the core (watchdog PID %ld) across the restart",
                     (long)st->watchdog_pid);
    } else {
        pid_t old = alive(st->watchdog_pid) ? st->watchdog_pid : 0;
        char old_socket[108], old_secret[600];
        apr_cpystrn(old_socket, st->socket_path, sizeof(old_socket));
        apr_cpystrn(old_secret, st->secret_file, sizeof(old_secret));
        if (start_core(st, pconf, s) != 0) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                         "passenger-rs: cannot start the core: %s. App URLs will answer 503.",
                         g.core_problem);
            return OK;
        }
        if (old) {
            /* Global settings changed: the old core drains its requests and stops. */
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                         "passenger-rs: global settings changed; replacing the core (old watchdog PID %ld)",
                         (long)old);
            kill(old, SIGTERM);
            unlink(old_socket);
            unlink(old_secret);
        }
        apr_cpystrn(st->fingerprint, fp, sizeof(st->fingerprint));
    }
    st->proc.pid = st->watchdog_pid;
    st->proc.in = st->proc.out = st->proc.err = NULL;
    apr_proc_other_child_register(&st->proc, watchdog_maintenance, st, NULL, pconf);
    g.socket_path = st->socket_path;
    g.secret = st->secret;
    g.core_ok = 1;
    return OK;
}

/* Apache's master replaces the old generation's children as it reaps them, but it looks
 * for exited children only between one-second sleeps (ap_wait_or_timeout). After a
 * graceful restart that leaves the port with nobody accepting for up to a second, every
 * time the old children exit just after the master's last look. A SIGCHLD handler that
 * does nothing ends that sleep (select() returns EINTR) as soon as a child exits, and the
 * master starts the new generation at once. Only the master keeps it: children drop it in
 * child_init. It is restored before this generation's pool goes away, because the pool's
 * end unloads this DSO and with it the handler's code. */
static void wake_on_child_exit(int sig)
{
    (void)sig;
}

static void set_sigchld(void (*handler)(int))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = handler;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGCHLD, &sa, NULL);
}

static apr_status_t restore_sigchld(void *data)
{
    (void)data;
    set_sigchld(SIG_DFL);
    return APR_SUCCESS;
}

/* Last of the post_config hooks, so that nothing another module forks from the master
 * while configuring inherits the handler. */
static int passenger_post_config_last(apr_pool_t *pconf, apr_pool_t *plog, apr_pool_t *ptemp,
                                      server_rec *s)
{
    (void)plog;
    (void)ptemp;
    (void)s;
    if (!serving_run()) return OK;
    /* Registered after mod_so's unload cleanup on the same pool, so it runs before it. */
    apr_pool_cleanup_register(pconf, NULL, restore_sigchld, apr_pool_cleanup_null);
    set_sigchld(wake_on_child_exit);
    return OK;
}

/* App detection results of this child process, so that PassengerStatThrottleRate bounds
 * the startup-file stat() calls as the guide says (at most one round per app root every
 * that many seconds; 0 = every request). Worker threads share it under `lock`; without it
 * (the master, a failed child_init) every request looks. */
typedef struct {
    apr_time_t checked;
    int is_app;
} detection;

static struct {
    apr_thread_mutex_t *lock;
    apr_pool_t *pool; /* the keys and entries; cleared when the table is full */
    apr_hash_t *roots;
} detections;

/* Roots remembered before the table starts over (mass virtual hosting has many). */
#define DETECTIONS_MAX 1024

static apr_status_t forget_detections(void *data)
{
    (void)data;
    detections.lock = NULL;
    return APR_SUCCESS;
}

/* Under an async MPM (event), how many worker threads each child has; 0 otherwise. */
static int async_threads;
/* This child's scoreboard slot once found, else -1. */
static volatile int my_slot = -1;
/* This child's configuration generation (AP_SQ_CONFIG_GEN), as the `!~generation` value. */
static const char *generation_text = "0";

static void passenger_child_init(apr_pool_t *p, server_rec *s)
{
    apr_allocator_t *allocator;
    int async = 0;
    (void)s;
    restore_sigchld(NULL);
    my_slot = -1;
    generation_text = apr_itoa(p, ap_state_query(AP_SQ_CONFIG_GEN));
    async_threads = 0;
    if (ap_mpm_query(AP_MPMQ_IS_ASYNC, &async) == APR_SUCCESS && async &&
        ap_mpm_query(AP_MPMQ_MAX_THREADS, &async_threads) != APR_SUCCESS) {
        async_threads = 0;
    }
    detections.lock = NULL;
    /* An allocator of its own: the child pool's is used by Apache's threads without this
     * module's lock (and without one of its own), so a subpool sharing it would race. */
    if (apr_allocator_create(&allocator) != APR_SUCCESS) return;
    if (apr_pool_create_ex(&detections.pool, p, NULL, allocator) != APR_SUCCESS) {
        apr_allocator_destroy(allocator);
        return;
    }
    apr_allocator_owner_set(allocator, detections.pool);
    detections.roots = apr_hash_make(detections.pool);
    if (apr_thread_mutex_create(&detections.lock, APR_THREAD_MUTEX_DEFAULT, p) != APR_SUCCESS) {
        detections.lock = NULL;
        return;
    }
    apr_pool_cleanup_register(p, NULL, forget_detections, apr_pool_cleanup_null);
}

/* ------------------------------------------------------------------------- */
/* Request path                                                              */
/* ------------------------------------------------------------------------- */

/* Between two requests the event MPM hands a kept-alive connection back to its listener
 * thread, and the next request to whichever worker is idle: an epoll re-arm and a worker
 * wake-up (futexes) per request, about a quarter of Apache's CPU per app request. (The
 * original Passenger's workers often skip that hop by accident: they finish so long after
 * writing the answer that the client's next request has arrived.) A connection marked
 * clogging is served by one worker from request to request instead, as under the worker
 * MPM, and that worker waits for the client's next request for up to KeepAliveTimeout.
 *
 * Held connections are also what lets a graceful restart lose no request: the event MPM's
 * listener closes the idle kept-alive connections it holds when its child stops, and a
 * client whose next request was already on its way gets nothing, while a held connection
 * is answered by passenger_process_connection below. So a connection is marked when it is
 * accepted (marked at its first app request, it would sit with the listener once, between
 * its first and second request), and the handler marks those accepted when the child was
 * busy.
 *
 * A connection is held only while more than a quarter of this child's workers are idle:
 * idle kept-alive clients never tie up the last quarter of a child's threads, which keep
 * answering new clients at once; connections beyond go the event MPM's way. (With half as
 * the bound, a child that took more than its share of a busy client's connections left
 * some with the listener, and about one graceful in ten lost a request.) */

/* The mark this module leaves on a connection it holds (its conn_config slot), so that
 * passenger_process_connection serves only connections this module marked, never one that
 * another module (mod_ssl) made clogging for reasons of its own. */
static char held_mark;

static void keep_connection_in_worker(conn_rec *c)
{
    int slot = my_slot, k, idle = 0, limit;
    if (async_threads <= 0 || c->clogging_input_filters || !ap_scoreboard_image) return;
    if (slot < 0) {
        pid_t me = getpid();
        if (ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &limit) != APR_SUCCESS) return;
        for (k = 0; k < limit; k++) {
            process_score *ps = ap_get_scoreboard_process(k);
            if (ps && ps->pid == me) break;
        }
        if (k == limit) return; /* not in the scoreboard yet */
        my_slot = slot = k;
    }
    for (k = 0; k < async_threads; k++) {
        worker_score *ws = ap_get_scoreboard_worker_from_indexes(slot, k);
        if (ws && ws->status == SERVER_READY) idle++;
    }
    if (idle * 4 > async_threads) {
        c->clogging_input_filters = 1;
        ap_set_module_config(c->conn_config, &passenger_module, &held_mark);
    }
}

static int passenger_pre_connection(conn_rec *c, void *csd)
{
    dir_conf *dc;
    (void)csd;
    /* Not HTTP/2 streams or mod_proxy's connections to backends, and not on servers where
     * Passenger is off, which keep the event MPM's way. */
    if (c->master || c->outgoing || !g.core_ok) return OK;
    dc = ap_get_module_config(c->base_server->lookup_defaults, &passenger_module);
    if (!(dc && dc->f[F_ENABLED] == 0)) keep_connection_in_worker(c);
    return OK;
}

/* How long an old worker waits for a held client's next request after a graceful. */
#define NEXT_REQUEST_AFTER_GRACEFUL apr_time_from_sec(1)

/* Serves a connection this module holds in a worker, request after request, as Apache's
 * own loop for such connections does, with one difference: Apache's loop closes the
 * connection when a graceful restart lands just after an answer that promised the client
 * keep-alive, and a client that has already sent its next request gets nothing. This loop
 * waits for that request instead (NEXT_REQUEST_AFTER_GRACEFUL) and answers it; as the MPM
 * is stopping, that answer says `Connection: close`, so the client reconnects, to a new
 * child, having lost nothing. */
static int passenger_process_connection(conn_rec *c)
{
    request_rec *r;
    apr_socket_t *csd;
    apr_interval_time_t wait;
    int state;
    if (!c->clogging_input_filters ||
        ap_get_module_config(c->conn_config, &passenger_module) != &held_mark) {
        return DECLINED;
    }
    csd = ap_get_conn_socket(c);
    ap_update_child_status_from_conn(c->sbh, SERVER_BUSY_READ, c);
    while ((r = ap_read_request(c)) != NULL) {
        wait = r->server->keep_alive_timeout_set ? r->server->keep_alive_timeout
                                                 : c->base_server->keep_alive_timeout;
        if (r->status == HTTP_OK) {
            if (c->cs) c->cs->state = CONN_STATE_HANDLER;
            ap_update_child_status(c->sbh, SERVER_BUSY_WRITE, r);
            ap_process_request(r); /* destroys r's pool */
        }
        if (c->keepalive != AP_CONN_KEEPALIVE || c->aborted) break;
        ap_update_child_status(c->sbh, SERVER_BUSY_KEEPALIVE, NULL);
        if (ap_mpm_query(AP_MPMQ_MPM_STATE, &state) != APR_SUCCESS) break;
        if (state == AP_MPMQ_STOPPING && wait > NEXT_REQUEST_AFTER_GRACEFUL) {
            wait = NEXT_REQUEST_AFTER_GRACEFUL;
        }
        apr_socket_opt_set(csd, APR_INCOMPLETE_READ, 1);
        apr_socket_timeout_set(csd, wait);
    }
    if (c->cs) c->cs->state = CONN_STATE_LINGER;
    return OK;
}

typedef struct {
    dir_conf *dc;
    const char *app_root;
    const char *base_uri; /* NULL for / */
} app_match;

static int is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int has_startup_file(apr_pool_t *p, const char *root)
{
    return is_file(apr_pstrcat(p, root, "/config.ru", NULL))
        || is_file(apr_pstrcat(p, root, "/passenger_wsgi.py", NULL))
        || is_file(apr_pstrcat(p, root, "/app.js", NULL))
        || is_file(apr_pstrcat(p, root, "/Passengerfile.json", NULL));
}

static int looks_like_app(apr_pool_t *p, dir_conf *dc, const char *root)
{
    apr_time_t now;
    detection *d;
    int is_app = -1;
    if (dc->s[S_APP_TYPE] || dc->s[S_START_COMMAND] || dc->s[S_STARTUP_FILE]) return 1;
    if (g.stat_throttle_rate <= 0 || !detections.lock) return has_startup_file(p, root);
    now = apr_time_now();
    apr_thread_mutex_lock(detections.lock);
    d = apr_hash_get(detections.roots, root, APR_HASH_KEY_STRING);
    if (d && now - d->checked < apr_time_from_sec(g.stat_throttle_rate)) is_app = d->is_app;
    apr_thread_mutex_unlock(detections.lock);
    if (is_app >= 0) return is_app;

    is_app = has_startup_file(p, root);
    apr_thread_mutex_lock(detections.lock);
    d = apr_hash_get(detections.roots, root, APR_HASH_KEY_STRING);
    if (!d) {
        if (apr_hash_count(detections.roots) >= DETECTIONS_MAX) {
            apr_pool_clear(detections.pool);
            detections.roots = apr_hash_make(detections.pool);
        }
        d = apr_palloc(detections.pool, sizeof(*d));
        apr_hash_set(detections.roots, apr_pstrdup(detections.pool, root), APR_HASH_KEY_STRING, d);
    }
    d->checked = now;
    d->is_app = is_app;
    apr_thread_mutex_unlock(detections.lock);
    return is_app;
}

static char *parent_dir(apr_pool_t *p, const char *path)
{
    char *copy = apr_pstrdup(p, path);
    size_t len = strlen(copy);
    char *slash;
    while (len > 1 && copy[len - 1] == '/') copy[--len] = '\0';
    slash = strrchr(copy, '/');
    if (!slash) return apr_pstrdup(p, ".");
    if (slash == copy) return apr_pstrdup(p, "/");
    *slash = '\0';
    return copy;
}

/* Which app (if any) this request belongs to, by the guide's rules. */
static int find_app(request_rec *r, dir_conf *dc, app_match *m)
{
    const char *docroot = ap_document_root(r);
    const char *uri = r->uri;
    int k;
    m->dc = dc;
    m->base_uri = NULL;
    m->app_root = NULL;
    for (k = 0; k < dc->base_uris->nelts; k++) {
        const char *base = APR_ARRAY_IDX(dc->base_uris, k, const char *);
        size_t len = strlen(base);
        if (strcmp(base, "/") == 0) break;
        if (strncmp(uri, base, len) == 0 && (uri[len] == '\0' || uri[len] == '/')) {
            m->base_uri = base;
            break;
        }
    }
    if (dc->s[S_APP_ROOT]) {
        m->app_root = dc->s[S_APP_ROOT];
        return 1;
    }
    if (m->base_uri) {
        /* docroot/<base> is a symlink to the app's public/. */
        char resolved[4096];
        const char *pub = apr_pstrcat(r->pool, docroot, m->base_uri, NULL);
        if (!realpath(pub, resolved)) return 0;
        m->app_root = parent_dir(r->pool, resolved);
    } else {
        m->app_root = parent_dir(r->pool, docroot);
    }
    return looks_like_app(r->pool, dc, m->app_root);
}

/* Whether `path` (or, for GET, its page-cache file) is a file Apache should serve. */
static int serves_file(request_rec *r, const char *path)
{
    size_t len = strlen(path);
    if (is_file(path)) return 1;
    if (r->method_number != M_GET || len == 0) return 0;
    if (path[len - 1] == '/') return is_file(apr_pstrcat(r->pool, path, "index.html", NULL));
    return is_file(apr_pstrcat(r->pool, path, ".html", NULL));
}

/* PassengerHighPerformance on (server or vhost): an app request is decided here, before
 * Apache's directory walk, and returning OK skips that walk, <Directory> sections,
 * .htaccess files and the per-directory hooks that follow from them. Files that exist
 * under the document root (and the page cache) still go the ordinary way. */
static int passenger_map_to_storage(request_rec *r)
{
    dir_conf *dc = ap_get_module_config(r->per_dir_config, &passenger_module);
    app_match *m;
    if (dc->f[F_HIGH_PERFORMANCE] != 1 || dc->f[F_ENABLED] == 0 || r->main) return DECLINED;
    if (!r->uri || r->uri[0] != '/' || strstr(r->uri, "/../") || strstr(r->uri, "/./")) {
        return DECLINED;
    }
    m = apr_pcalloc(r->pool, sizeof(*m));
    if (!find_app(r, dc, m)) return DECLINED;
    if (serves_file(r, apr_pstrcat(r->pool, ap_document_root(r), r->uri, NULL))) return DECLINED;
    r->filename = apr_pstrcat(r->pool, "passenger-rs:", r->uri, NULL);
    r->finfo.filetype = APR_NOFILE;
    r->handler = HANDLER_NAME;
    ap_set_module_config(r->request_config, &passenger_module, m);
    return OK;
}

static int passenger_fixups(request_rec *r)
{
    dir_conf *dc = ap_get_module_config(r->per_dir_config, &passenger_module);
    app_match *m;
    if (ap_get_module_config(r->request_config, &passenger_module)) {
        /* Decided in map_to_storage (PassengerHighPerformance). */
        r->handler = HANDLER_NAME;
        return OK;
    }
    if (dc->f[F_ENABLED] == 0) return DECLINED;
    if (r->main) return DECLINED; /* subrequests: let Apache answer */
    m = apr_pcalloc(r->pool, sizeof(*m));
    if (!find_app(r, dc, m)) return DECLINED;

    /* Apache serves existing files under public/ ... */
    if (r->finfo.filetype == APR_REG) return DECLINED;
    /* ... and the page cache, for GET only. */
    if (r->method_number == M_GET && r->filename) {
        const char *cached = NULL;
        size_t len = strlen(r->filename);
        if (r->finfo.filetype == APR_DIR) {
            if (r->uri[strlen(r->uri) - 1] == '/') {
                cached = apr_pstrcat(r->pool, r->filename,
                                     r->filename[len - 1] == '/' ? "" : "/", "index.html", NULL);
            }
        } else if (len > 0 && r->filename[len - 1] != '/') {
            cached = apr_pstrcat(r->pool, r->filename, ".html", NULL);
        }
        if (cached && (!r->path_info || !r->path_info[0]) && is_file(cached)) {
            r->filename = apr_pstrdup(r->pool, cached);
            apr_stat(&r->finfo, r->filename, APR_FINFO_MIN, r->pool);
            ap_set_content_type(r, "text/html");
            r->handler = NULL;
            return DECLINED;
        }
    }
    /* Everything else goes to the app: no mod_dir redirect, no listing. */
    r->finfo.filetype = APR_NOFILE;
    r->handler = HANDLER_NAME;
    ap_set_module_config(r->request_config, &passenger_module, m);
    return OK;
}

/* -------- socket I/O -------- */

typedef struct {
    int fd;
    int timeout_ms;
    int timed_out; /* set when a read waited timeout_ms for nothing */
    int wait_first; /* the request was just sent: its answer cannot be there yet */
    char *buf;
    size_t start, end;
} reader;

static int write_all(int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Apache's Timeout as poll()'s: 0 (none) waits forever, as SO_RCVTIMEO 0 does. */
static int poll_timeout(apr_interval_time_t timeout)
{
    apr_int64_t ms = apr_time_as_msec(timeout);
    if (ms <= 0) return -1;
    return ms > INT_MAX ? INT_MAX : (int)ms;
}

static int fill(reader *rd)
{
    ssize_t n;
    int waiting;
    if (rd->start > 0 && rd->start == rd->end) rd->start = rd->end = 0;
    if (rd->end == IO_BUF) {
        if (rd->start == 0) return -1;
        memmove(rd->buf, rd->buf + rd->start, rd->end - rd->start);
        rd->end -= rd->start;
        rd->start = 0;
    }
    /* Wait in poll(), not in a blocking recv(): the kernel wakes a task blocked in recv()
     * on a unix socket also when the peer consumes what it sent (write space), so every
     * request would cost an extra wake-up and context switch; poll() wakes only for input.
     * Right after the request went out its answer is not there yet, so that first read
     * starts in poll() rather than with a recv() that fails with EAGAIN. */
    waiting = rd->wait_first;
    rd->wait_first = 0;
    for (;;) {
        if (waiting) {
            struct pollfd pfd;
            int ready;
            pfd.fd = rd->fd;
            pfd.events = POLLIN;
            pfd.revents = 0;
            ready = poll(&pfd, 1, rd->timeout_ms);
            if (ready == 0) rd->timed_out = 1;
            if (ready == 0 || (ready < 0 && errno != EINTR)) return -1;
            if (ready < 0) continue;
        }
        n = recv(rd->fd, rd->buf + rd->end, IO_BUF - rd->end, MSG_DONTWAIT);
        if (n >= 0) break;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return -1;
        waiting = 1;
    }
    if (n == 0) return 0;
    rd->end += (size_t)n;
    return 1;
}

/* One line without its CRLF, copied into the pool; NULL on EOF or error. */
static char *read_line(reader *rd, apr_pool_t *p)
{
    for (;;) {
        char *nl = memchr(rd->buf + rd->start, '\n', rd->end - rd->start);
        if (nl) {
            size_t len = (size_t)(nl - (rd->buf + rd->start));
            char *line = apr_pstrmemdup(p, rd->buf + rd->start, len);
            rd->start += len + 1;
            if (len > 0 && line[len - 1] == '\r') line[len - 1] = '\0';
            return line;
        }
        if (fill(rd) <= 0) return NULL;
    }
}

static int connect_core(request_rec *r)
{
    struct sockaddr_un addr;
    int waited = 0;
    struct timeval tv;
    memset(&addr, 0, sizeof(addr));
    addr.sun_family = AF_UNIX;
    apr_cpystrn(addr.sun_path, g.socket_path, sizeof(addr.sun_path));
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return -1;
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
            /* Reads wait in poll() (fill); sends may block, up to Apache's Timeout. */
            tv.tv_sec = (time_t)apr_time_sec(r->server->timeout);
            tv.tv_usec = 0;
            setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
            return fd;
        }
        close(fd);
        if (waited >= CONNECT_RETRY_MS) return -1;
        usleep(100 * 1000);
        waited += 100;
    }
}

/* One idle keep-alive connection to the core per worker thread, with the socket path it
 * belongs to (the core may have been replaced since). Thread-local: no locking, and a
 * prefork child inherits only the master's, which never holds one. */
static __thread int idle_fd = -1;
static __thread char idle_path[108];

/* Whether an idle connection is still open with nothing unread on it. */
static int still_open(int fd)
{
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* This thread's idle connection, if it belongs to the current core. A request with a body
 * cannot be sent twice, so it takes the connection only if it is verifiably open; a
 * bodyless one skips that check (a closed connection fails its write or answers nothing,
 * and the request goes again on a new one). */
static int take_idle(int must_be_open)
{
    int fd = idle_fd;
    idle_fd = -1;
    if (fd < 0) return -1;
    if (strcmp(idle_path, g.socket_path) != 0 || (must_be_open && !still_open(fd))) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Keeps `fd` for this thread's next request when `keep`, else closes it. */
static void release(int fd, int keep)
{
    if (!keep) {
        close(fd);
        return;
    }
    if (idle_fd >= 0) close(idle_fd);
    idle_fd = fd;
    apr_cpystrn(idle_path, g.socket_path, sizeof(idle_path));
}

/* Percent-encodes bytes that may not appear in a header value (and `%`). */
static const char *pct(apr_pool_t *p, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t len = strlen(s), k, o = 0;
    char *out = apr_palloc(p, len * 3 + 1);
    for (k = 0; k < len; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c <= 0x20 || c >= 0x7f || c == '%') {
            out[o++] = '%';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
    return out;
}

static int header_value_ok(const char *v)
{
    for (; *v; v++) {
        if (*v == '\r' || *v == '\n') return 0;
    }
    return 1;
}

typedef struct {
    apr_pool_t *p;
    char *buf;
    size_t len, cap;
} strbuf;

static void sb_add(strbuf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->len + n + 1 > b->cap) {
        size_t cap = (b->cap + n + 1) * 2;
        char *nb = apr_palloc(b->p, cap);
        memcpy(nb, b->buf, b->len);
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

static void sb_header(strbuf *b, const char *name, const char *value)
{
    if (!value || !header_value_ok(value)) return;
    sb_add(b, name);
    sb_add(b, ": ");
    sb_add(b, value);
    sb_add(b, "\r\n");
}

typedef struct {
    strbuf *b;
    int reserved;
} header_ctx;

static int copy_client_header(void *data, const char *key, const char *value)
{
    header_ctx *ctx = data;
    if (strncmp(key, "!~", 2) == 0) {
        ctx->reserved = 1;
        return 0;
    }
    if (!strcasecmp(key, "Connection") || !strcasecmp(key, "Keep-Alive")
        || !strcasecmp(key, "Transfer-Encoding") || !strcasecmp(key, "Content-Length")
        || !strcasecmp(key, "Proxy-Connection") || !strcasecmp(key, "TE")
        || !strcasecmp(key, "Upgrade") || !strcasecmp(key, "Trailer")
        || !strcasecmp(key, "Expect")) {
        return 1;
    }
    sb_header(ctx->b, key, value);
    return 1;
}

typedef struct {
    apr_pool_t *p;
    strbuf *env;
} env_ctx;

static int collect_env(void *data, const char *key, const char *value)
{
    env_ctx *ctx = data;
    if (!value || strchr(key, '=') || strchr(key, '\n') || strchr(value, '\n')) return 1;
    sb_add(ctx->env, key);
    sb_add(ctx->env, "=");
    sb_add(ctx->env, value);
    sb_add(ctx->env, "\n");
    return 1;
}

static int unavailable(request_rec *r, const char *why)
{
    ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "passenger-rs: 503 for %s: %s", r->uri, why);
    r->status = HTTP_SERVICE_UNAVAILABLE;
    ap_set_content_type(r, "text/html; charset=UTF-8");
    apr_table_setn(r->err_headers_out, "Retry-After", "10");
    ap_rputs("<!DOCTYPE html>\n<html><head><title>Service unavailable</title></head><body>"
             "<h1>Service unavailable</h1><p>The application server is not running. The "
             "web server's error log says why.</p></body></html>\n", r);
    return OK;
}

static int is_hop_by_hop(const char *name)
{
    return !strcasecmp(name, "Connection") || !strcasecmp(name, "Keep-Alive")
        || !strcasecmp(name, "Transfer-Encoding") || !strcasecmp(name, "Status")
        || !strcasecmp(name, "Proxy-Connection") || !strcasecmp(name, "Trailer")
        || !strcasecmp(name, "Upgrade");
}

/* Hands one block to Apache's filters. `last`: it ends the body, so EOS goes with it
 * (one write for a small response); otherwise `flush` pushes it to the client now. */
static apr_status_t pass_data(request_rec *r, apr_bucket_brigade *bb, const char *data,
                              size_t len, int flush, int last)
{
    apr_status_t rv;
    APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_transient_create(data, len,
                                                           r->connection->bucket_alloc));
    if (last) {
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(r->connection->bucket_alloc));
    } else if (flush) {
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_flush_create(r->connection->bucket_alloc));
    }
    rv = ap_pass_brigade(r->output_filters, bb);
    apr_brigade_cleanup(bb);
    return rv;
}

/* The answer to a response head the core did not finish (the connection is closed here):
 * 504 when Apache's Timeout passed, else 502, with a log line saying which. */
static int broken_head(request_rec *r, reader *rd)
{
    close(rd->fd);
    if (rd->timed_out) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "passenger-rs: no response from the app within Timeout (%d ms)",
                      rd->timeout_ms);
        return HTTP_GATEWAY_TIME_OUT;
    }
    if (rd->start == 0 && rd->end == IO_BUF) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "passenger-rs: a response header line from the app is longer than %d bytes",
                      IO_BUF);
    } else {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "passenger-rs: no complete response head from the core");
    }
    return HTTP_BAD_GATEWAY;
}

static int passenger_handler(request_rec *r)
{
    app_match *m;
    dir_conf *dc;
    strbuf head;
    header_ctx hctx;
    env_ctx ectx;
    strbuf env;
    const char *cl, *te, *line, *ruby;
    int fd, chunked_up = 0, chunked_down = 0, k, flush, close_delimited = 1, last = 0;
    int has_body, reused, body_ok = 1, keep = 1, idempotent, fresh_tries = 0;
    apr_off_t remaining = 0;
    reader rd;
    apr_bucket_brigade *bb;
    char *body_buf;

    if (!r->handler || strcmp(r->handler, HANDLER_NAME) != 0) return DECLINED;
    m = ap_get_module_config(r->request_config, &passenger_module);
    if (!m) return DECLINED;
    dc = m->dc;
    if (!g.core_ok) return unavailable(r, g.core_problem);
    keep_connection_in_worker(r->connection);

    memset(&head, 0, sizeof(head));
    head.p = r->pool;
    memset(&env, 0, sizeof(env));
    env.p = r->pool;
    hctx.b = &head;
    hctx.reserved = 0;

    sb_add(&head, r->method);
    sb_add(&head, " ");
    if (dc->f[F_ALLOW_ENCODED_SLASHES] == 1) {
        /* As the client sent it: `%2f` stays one segment (needs Apache's own
         * AllowEncodedSlashes), but a mod_rewrite passthrough ([PT]) is not seen. */
        sb_add(&head, r->unparsed_uri);
    } else {
        /* The URI after Apache's translation (mod_rewrite [PT] included), re-encoded. */
        sb_add(&head, ap_escape_uri(r->pool, r->uri));
        if (r->args) {
            sb_add(&head, "?");
            sb_add(&head, r->args);
        }
    }
    sb_add(&head, " HTTP/1.1\r\n");
    sb_header(&head, "!~secret", g.secret);
    sb_header(&head, "!~root", m->app_root);
    sb_header(&head, "!~environment", dc->s[S_APP_ENV] ? dc->s[S_APP_ENV] : "production");
    if (m->base_uri) sb_header(&head, "!~base_uri", m->base_uri);
    for (k = 0; k < S_COUNT; k++) {
        if (k == S_APP_ROOT || k == S_APP_ENV || !dc->s[k]) continue;
        sb_header(&head, apr_pstrcat(r->pool, "!~", s_keys[k], NULL), dc->s[k]);
    }
    ruby = dc->s[S_RUBY] ? NULL : g.default_ruby;
    if (ruby) sb_header(&head, "!~ruby", ruby);
    for (k = 0; k < I_COUNT; k++) {
        if (dc->i[k] == I_UNSET) continue;
        sb_header(&head, apr_pstrcat(r->pool, "!~", i_keys[k], NULL), apr_ltoa(r->pool, dc->i[k]));
    }
    if (g.max_instances_per_app > 0) {
        sb_header(&head, "!~max_instances_per_app", apr_ltoa(r->pool, g.max_instances_per_app));
    }
    sb_header(&head, "!~stat_throttle_rate", apr_ltoa(r->pool, g.stat_throttle_rate));
    if (dc->f[F_FRIENDLY_ERROR_PAGES] != F_UNSET) {
        sb_header(&head, "!~friendly_error_pages", dc->f[F_FRIENDLY_ERROR_PAGES] ? "on" : "off");
    }
    if (dc->f[F_BUFFER_RESPONSE] != F_UNSET) {
        sb_header(&head, "!~buffer_response", dc->f[F_BUFFER_RESPONSE] ? "on" : "off");
    }
    if (dc->f[F_BUFFER_UPLOAD] != F_UNSET) {
        sb_header(&head, "!~buffer_upload", dc->f[F_BUFFER_UPLOAD] ? "on" : "off");
    }
    ectx.p = r->pool;
    ectx.env = &env;
    apr_table_do(collect_env, &ectx, r->subprocess_env, NULL);
    if (env.len > 0) sb_header(&head, "!~env", pct(r->pool, env.buf));
    sb_header(&head, "!~remote_addr", r->useragent_ip);
    if (r->useragent_addr) {
        sb_header(&head, "!~remote_port", apr_itoa(r->pool, r->useragent_addr->port));
    }
    if (r->user) sb_header(&head, "!~remote_user", r->user);
    if (strcmp(ap_http_scheme(r), "https") == 0) sb_header(&head, "!~https", "on");
    /* Which configuration these options come from: after a graceful restart, a kept-alive
     * client's next request may still be served by an old worker with the old options,
     * and the core must not take them for a change. */
    sb_header(&head, "!~generation", generation_text);

    apr_table_do(copy_client_header, &hctx, r->headers_in, NULL);
    if (hctx.reserved) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      "passenger-rs: refused a request carrying reserved (!~) headers");
        return HTTP_BAD_REQUEST;
    }
    if (ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK) != OK) return HTTP_BAD_REQUEST;
    cl = apr_table_get(r->headers_in, "Content-Length");
    te = apr_table_get(r->headers_in, "Transfer-Encoding");
    if (te && ap_should_client_block(r)) {
        chunked_up = 1;
        sb_header(&head, "Transfer-Encoding", "chunked");
    } else if (cl) {
        sb_header(&head, "Content-Length", cl);
    }
    sb_add(&head, "\r\n");

    /* A kept-alive connection, or a new one. A bodyless request whose kept connection
     * turns out closed (the core closed it while idle) is sent again on a new one. */
    has_body = ap_should_client_block(r);
    idempotent = r->method_number == M_GET || r->method_number == M_OPTIONS;
    fd = take_idle(has_body);
    reused = fd >= 0;
    if (!reused) fd = connect_core(r);
    if (fd < 0) return unavailable(r, "cannot connect to the passenger-rs core");
    rd.buf = apr_palloc(r->pool, IO_BUF);
send_again:
    if (write_all(fd, head.buf, head.len) != 0) {
        close(fd);
        if (reused || (idempotent && !has_body && fresh_tries < FRESH_RETRIES)) {
            if (!reused) fresh_tries++;
            reused = 0;
            fd = connect_core(r);
            if (fd >= 0) goto send_again;
        }
        return unavailable(r, "the passenger-rs core closed the connection");
    }

    body_buf = apr_palloc(r->pool, IO_BUF);
    if (has_body) {
        long n;
        while ((n = ap_get_client_block(r, body_buf, IO_BUF)) > 0) {
            if (chunked_up) {
                char size[32];
                apr_snprintf(size, sizeof(size), "%lx\r\n", n);
                if (write_all(fd, size, strlen(size)) != 0) break;
            }
            if (write_all(fd, body_buf, (size_t)n) != 0) break;
            if (chunked_up && write_all(fd, "\r\n", 2) != 0) break;
        }
        if (n != 0) body_ok = 0;
        if (n < 0) {
            close(fd);
            return HTTP_BAD_REQUEST;
        }
        if (chunked_up && write_all(fd, "0\r\n\r\n", 5) != 0) body_ok = 0;
    }

    /* The response head. */
    rd.fd = fd;
    rd.timeout_ms = poll_timeout(r->server->timeout);
    rd.timed_out = 0;
    rd.wait_first = 1;
    rd.start = rd.end = 0;
    line = read_line(&rd, r->pool);
    /* Closed without a byte: a kept connection the core had closed, or a new one the core
     * closed at once (it was being replaced, or restarting its listener). A bodyless
     * request that changes nothing is sent again, a few times at most. Not one that timed
     * out: the app is still at it, and it would run twice (broken_head answers 504). */
    if (!line && rd.end == 0 && !rd.timed_out && !has_body &&
        (reused || (idempotent && fresh_tries < FRESH_RETRIES))) {
        if (!reused) fresh_tries++;
        close(fd);
        reused = 0;
        fd = connect_core(r);
        if (fd < 0) return unavailable(r, "cannot connect to the passenger-rs core");
        goto send_again;
    }
    for (;;) {
        if (!line) return broken_head(r, &rd);
        if (strncmp(line, "HTTP/1.", 7) != 0 || strlen(line) < 12) {
            close(fd);
            ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                          "passenger-rs: a malformed status line from the core");
            return HTTP_BAD_GATEWAY;
        }
        r->status = atoi(line + 9);
        r->status_line = apr_pstrdup(r->pool, line + 9);
        if (r->status >= 200 || r->status < 100) break;
        /* An interim response (100 Continue): skip it and read the final one. */
        while ((line = read_line(&rd, r->pool)) && *line) {
        }
        line = line ? read_line(&rd, r->pool) : NULL;
    }
    for (;;) {
        char *h = read_line(&rd, r->pool), *colon, *value;
        if (!h) return broken_head(r, &rd);
        if (*h == '\0') break;
        colon = strchr(h, ':');
        if (!colon) continue;
        *colon = '\0';
        value = colon + 1;
        while (*value == ' ' || *value == '\t') value++;
        if (!strcasecmp(h, "Transfer-Encoding")) {
            if (ap_strcasestr(value, "chunked")) chunked_down = 1;
            continue;
        }
        if (!strcasecmp(h, "Content-Length")) {
            remaining = apr_atoi64(value);
            close_delimited = 0;
        }
        if (!strcasecmp(h, "Connection") && ap_strcasestr(value, "close")) keep = 0;
        if (is_hop_by_hop(h)) continue;
        if (!strcasecmp(h, "Content-Type")) {
            ap_set_content_type(r, apr_pstrdup(r->pool, value));
        } else {
            apr_table_add(r->headers_out, h, value);
        }
    }
    if (chunked_down) close_delimited = 0;
    if (r->status >= 400 && dc->f[F_ERROR_OVERRIDE] == 1) {
        int status = r->status;
        close(fd);
        r->status = HTTP_OK;
        r->status_line = NULL;
        return status;
    }
    keep = keep && body_ok;
    if (r->header_only || r->status == HTTP_NO_CONTENT || r->status == HTTP_NOT_MODIFIED) {
        release(fd, keep && !close_delimited && rd.start == rd.end);
        return OK;
    }

    /* The body, streamed. */
    flush = dc->f[F_BUFFER_RESPONSE] != 1;
    bb = apr_brigade_create(r->pool, r->connection->bucket_alloc);
    if (chunked_down) {
        for (;;) {
            char *size_line = read_line(&rd, r->pool);
            apr_off_t size;
            if (!size_line) goto broken;
            size = (apr_off_t)strtoll(size_line, NULL, 16);
            if (size <= 0) {
                while ((size_line = read_line(&rd, r->pool)) && *size_line) {
                }
                break;
            }
            while (size > 0) {
                size_t avail;
                if (rd.start == rd.end && fill(&rd) <= 0) goto broken;
                avail = rd.end - rd.start;
                if ((apr_off_t)avail > size) avail = (size_t)size;
                if (pass_data(r, bb, rd.buf + rd.start, avail, flush, 0) != APR_SUCCESS) goto aborted;
                rd.start += avail;
                size -= (apr_off_t)avail;
            }
            if (!read_line(&rd, r->pool)) goto broken;
        }
    } else {
        while (close_delimited || remaining > 0) {
            size_t avail;
            if (rd.start == rd.end) {
                int got = fill(&rd);
                if (got == 0 && close_delimited) break;
                if (got <= 0) goto broken;
            }
            avail = rd.end - rd.start;
            if (!close_delimited && (apr_off_t)avail > remaining) avail = (size_t)remaining;
            last = !close_delimited && (apr_off_t)avail == remaining;
            if (pass_data(r, bb, rd.buf + rd.start, avail, flush, last) != APR_SUCCESS) goto aborted;
            rd.start += avail;
            remaining -= (apr_off_t)avail;
        }
    }
    release(fd, keep && !close_delimited && rd.start == rd.end);
    if (!last) {
        APR_BRIGADE_INSERT_TAIL(bb, apr_bucket_eos_create(r->connection->bucket_alloc));
        ap_pass_brigade(r->output_filters, bb);
    }
    return OK;
broken:
    if (rd.timed_out) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "passenger-rs: no more of the app's response within Timeout (%d ms)",
                      rd.timeout_ms);
    } else {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "passenger-rs: the core's response ended early");
    }
    r->connection->aborted = 1;
aborted:
    close(fd);
    return OK;
}

static void passenger_register_hooks(apr_pool_t *p)
{
    (void)p;
    ap_hook_pre_config(passenger_pre_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(passenger_post_config, NULL, NULL, APR_HOOK_MIDDLE);
    ap_hook_post_config(passenger_post_config_last, NULL, NULL, APR_HOOK_REALLY_LAST);
    ap_hook_child_init(passenger_child_init, NULL, NULL, APR_HOOK_REALLY_FIRST);
    /* Before core's map_to_storage (the directory walk), for PassengerHighPerformance. */
    ap_hook_map_to_storage(passenger_map_to_storage, NULL, NULL, APR_HOOK_FIRST);
    /* Before mod_dir's fixups (its trailing-slash redirect) and mod_rewrite's. */
    ap_hook_fixups(passenger_fixups, NULL, NULL, APR_HOOK_FIRST);
    /* Before mod_autoindex and the default handler. */
    ap_hook_handler(passenger_handler, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_pre_connection(passenger_pre_connection, NULL, NULL, APR_HOOK_LAST);
    {
        /* After mod_http2's, which takes over connections that speak HTTP/2, and before
         * Apache's HTTP/1 loop (APR_HOOK_REALLY_LAST). */
        static const char *const after[] = {"mod_http2.c", NULL};
        ap_hook_process_connection(passenger_process_connection, after, NULL, APR_HOOK_LAST);
    }
}

AP_DECLARE_MODULE(passenger) = {
    STANDARD20_MODULE_STUFF,
    create_dir_conf,
    merge_dir_conf,
    NULL,
    NULL,
    passenger_cmds,
    passenger_register_hooks
#if AP_MODULE_MAGIC_AT_LEAST(20120211, 70)
    , 0
#endif
};
