#include "config/config.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/netaddr.h"
#include "util/strparse.h"

enum key_type {
    KEY_DURATION,  /* "30s", "500ms", "30d", or a number of seconds */
    KEY_RETENTION, /* a duration, or "forever" (0) */
    KEY_SECONDS,   /* a number of seconds (GPU Monitor's *_seconds) */
    KEY_HOURS,     /* a number of hours (GPU Monitor's *_hours) */
    KEY_PERCENT,   /* a number in [0, 100] */
    KEY_STRING,    /* never empty (no string key means anything when empty) */
    KEY_PATH,      /* a string that names a file or directory: never empty */
    KEY_TIMEZONE,  /* an IANA zone name the host knows */
    KEY_LOG_LEVEL, /* debug, info, warning, error, critical */
    KEY_LISTEN,    /* "HOST:PORT", or "off" */
    KEY_BOOL,      /* true or false */
    KEY_SECRET,    /* a bearer token (config_token_well_formed), never printed back */
    KEY_HOSTS,     /* host names or addresses, separated by commas or spaces */
};

struct key_spec {
    const char *name; /* dotted path in the file, and the --set name */
    size_t offset;    /* of the value in struct config */
    size_t size;      /* strings: buffer size */
    uint64_t min_ms;  /* durations */
    uint64_t max_ms;
    const char *alias_of; /* GPU Monitor layout: the native key it sets */
    enum key_type type;
    /* Strings that may be left unset ("" in struct config, null in the
     * file) for a default decided elsewhere; an empty string is still
     * refused, since "" in a file is more likely a slip than a choice. */
    bool optional;
};

#define AT(field)  offsetof(struct config, field)
#define LEN(field) sizeof(((struct config *)0)->field)
#define MS_HOUR    3600000ULL
#define MS_DAY     (24 * MS_HOUR)
#define MS_YEAR    (365 * MS_DAY)

#define DURATION(key, field, lo, hi)                                                             \
    {                                                                                            \
        .name = (key), .type = KEY_DURATION, .offset = AT(field), .min_ms = (lo), .max_ms = (hi) \
    }
#define RETENTION(key, field)                                                         \
    {                                                                                 \
        .name = (key), .type = KEY_RETENTION, .offset = AT(field), .min_ms = MS_HOUR, \
        .max_ms = 100 * MS_YEAR                                                       \
    }
#define TEXT(key, field, kind)                                                 \
    {                                                                          \
        .name = (key), .type = (kind), .offset = AT(field), .size = LEN(field) \
    }
#define OPTIONAL_TEXT(key, field, kind)                                                          \
    {                                                                                            \
        .name = (key), .type = (kind), .offset = AT(field), .size = LEN(field), .optional = true \
    }
#define ALIAS(key, kind, field, lo, hi, native)                                                 \
    {                                                                                           \
        .name = (key), .type = (kind), .offset = AT(field), .size = LEN(field), .min_ms = (lo), \
        .max_ms = (hi), .alias_of = (native)                                                    \
    }

static const struct key_spec keys[] = {
    DURATION("interval", interval_ms, 100, MS_HOUR),
    DURATION("flush_interval", flush_interval_ms, 100, 10 * 60000ULL),
    TEXT("database", database, KEY_PATH),
    RETENTION("retention.samples", retention_samples_ms),
    RETENTION("retention.process_samples", retention_process_samples_ms),
    RETENTION("retention.minute", retention_minute_ms),
    RETENTION("retention.hour", retention_hour_ms),
    RETENTION("retention.day", retention_day_ms),
    RETENTION("retention.processes", retention_processes_ms),
    { .name = "activity_threshold_pct", .type = KEY_PERCENT, .offset = AT(activity_threshold_pct) },
    OPTIONAL_TEXT("database_group", database_group, KEY_STRING),
    OPTIONAL_TEXT("timezone", timezone, KEY_TIMEZONE),
    { .name = "log.level", .type = KEY_LOG_LEVEL, .offset = AT(log_level) },
    OPTIONAL_TEXT("log.file", log_file, KEY_PATH),
    OPTIONAL_TEXT("nvml_lib", nvml_lib, KEY_PATH),
    TEXT("proc_root", proc_root, KEY_PATH),
    { .name = "pcie", .type = KEY_BOOL, .offset = AT(pcie) },
    TEXT("http.listen", http_listen, KEY_LISTEN),
    OPTIONAL_TEXT("http.allowed_hosts", http_allowed_hosts, KEY_HOSTS),
    OPTIONAL_TEXT("http.token", http_token, KEY_SECRET),
    OPTIONAL_TEXT("http.token_file", http_token_file, KEY_PATH),
    OPTIONAL_TEXT("http.tls_cert", http_tls_cert, KEY_PATH),
    OPTIONAL_TEXT("http.tls_key", http_tls_key, KEY_PATH),
    OPTIONAL_TEXT("hub.url", server_url, KEY_STRING),
    OPTIONAL_TEXT("hub.contract_number", contract_number, KEY_STRING),
    DURATION("hub.push_interval", aggregation_interval_ms, 60000, 7 * MS_DAY),
    /* The layout of the GPU Monitor tool's configuration file. */
    ALIAS("collection.interval_seconds", KEY_SECONDS, interval_ms, 100, MS_HOUR, "interval"),
    ALIAS("collection.aggregation_interval_hours", KEY_HOURS, aggregation_interval_ms, 60000,
          7 * MS_DAY, "hub.push_interval"),
    ALIAS("database.file", KEY_PATH, database, 0, 0, "database"),
    ALIAS("logging.file", KEY_PATH, log_file, 0, 0, "log.file"),
    ALIAS("logging.level", KEY_LOG_LEVEL, log_level, 0, 0, "log.level"),
    ALIAS("server.url", KEY_STRING, server_url, 0, 0, "hub.url"),
    ALIAS("server.contract_number", KEY_STRING, contract_number, 0, 0, "hub.contract_number"),
};

void config_defaults(struct config *cfg)
{
    *cfg = (struct config){
        .interval_ms = 1000,
        .flush_interval_ms = 10000,
        .retention_samples_ms = 30 * MS_DAY,
        .retention_process_samples_ms = 30 * MS_DAY,
        .retention_minute_ms = 90 * MS_DAY,
        .retention_hour_ms = 2 * MS_YEAR,
        .retention_day_ms = 0,
        .retention_processes_ms = 0,
        .activity_threshold_pct = 1.0,
        .log_level = LOG_LEVEL_WARNING,
        .aggregation_interval_ms = MS_HOUR,
    };
    snprintf(cfg->database, sizeof(cfg->database), "/var/lib/gpulse/gpulse.db");
    snprintf(cfg->proc_root, sizeof(cfg->proc_root), "/proc");
    snprintf(cfg->http_listen, sizeof(cfg->http_listen), "127.0.0.1:8080");
}

static const struct key_spec *find_key(const char *name)
{
    for (size_t i = 0; i < GP_ARRAY_LEN(keys); i++) {
        if (strcmp(keys[i].name, name) == 0) {
            return &keys[i];
        }
    }
    return NULL;
}

/* A zone is valid when the host's tz database has it (or it is UTC). */
static bool timezone_known(const char *tz)
{
    if (strcmp(tz, "UTC") == 0) {
        return true;
    }
    if (!*tz || tz[0] == '/' || strstr(tz, "..")) {
        return false;
    }
    char path[256];
    snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", tz);
    return access(path, R_OK) == 0;
}

bool config_token_well_formed(const char *token)
{
    if (strlen(token) < CONFIG_TOKEN_MIN_CHARS) {
        return false;
    }
    for (const char *p = token; *p; p++) {
        if (!isalnum((unsigned char)*p) && !strchr("-._~+/=", *p)) {
            return false;
        }
    }
    return true;
}

static int bad(struct gp_err *err, const char *source, const struct key_spec *k, const char *what)
{
    return gp_err_set(err, -EINVAL, "%s%s'%s': %s", source ? source : "",
                      source ? ": key " : "key ", k->name, what);
}

static void format_duration(uint64_t ms, char *buf, size_t size);

static void describe_range(const struct key_spec *k, char *buf, size_t size)
{
    char lo[32];
    char hi[32];
    format_duration(k->min_ms, lo, sizeof(lo));
    format_duration(k->max_ms, hi, sizeof(hi));
    snprintf(buf, size, "must be a duration between %s and %s (e.g. \"1s\", \"30d\")", lo, hi);
}

/* A number of seconds or hours (GPU Monitor's keys), stored as ms. */
static int set_units(char *dst, const struct key_spec *k, const char *text, const char *source,
                     struct gp_err *err)
{
    double unit = k->type == KEY_SECONDS ? 1000.0 : 3600000.0;
    double v = 0;
    if (strparse_double(text, (double)k->min_ms / unit, (double)k->max_ms / unit, &v) != 0) {
        char why[128];
        snprintf(why, sizeof(why), "must be a number of %s between %g and %g",
                 k->type == KEY_SECONDS ? "seconds" : "hours", (double)k->min_ms / unit,
                 (double)k->max_ms / unit);
        return bad(err, source, k, why);
    }
    uint64_t ms = (uint64_t)(v * unit + 0.5);
    memcpy(dst, &ms, sizeof(ms));
    return 0;
}

static int set_bool(char *dst, const struct key_spec *k, const char *text, const char *source,
                    struct gp_err *err)
{
    bool on = strcmp(text, "true") == 0;
    if (!on && strcmp(text, "false") != 0) {
        return bad(err, source, k, "must be true or false");
    }
    memcpy(dst, &on, sizeof(on));
    return 0;
}

/* Why "" is refused: every string key means something only when set. */
static const char *empty_why(const struct key_spec *k)
{
    if (k->optional) {
        return "must not be empty (leave the key out, or null in the file, for the default)";
    }
    return k->type == KEY_PATH ? "must name a file or directory, not be empty"
                               : "must not be empty";
}

/* Stores a value given as text, as on the command line. */
static int set_text(struct config *cfg, const struct key_spec *k, const char *text,
                    const char *source, struct gp_err *err)
{
    char *dst = (char *)cfg + k->offset;
    char why[256];
    if (text[0] == '\0' && (k->type == KEY_STRING || k->type == KEY_PATH ||
                            k->type == KEY_TIMEZONE || k->type == KEY_SECRET)) {
        return bad(err, source, k, empty_why(k));
    }
    switch (k->type) {
    case KEY_RETENTION:
        if (strcmp(text, "forever") == 0 || strcmp(text, "0") == 0) {
            memset(dst, 0, sizeof(uint64_t));
            return 0;
        }
        GP_FALLTHROUGH;
    case KEY_DURATION: {
        uint64_t ms = 0;
        if (strparse_duration_ms(text, k->min_ms, k->max_ms, &ms) != 0) {
            describe_range(k, why, sizeof(why));
            if (k->type == KEY_RETENTION) {
                snprintf(why + strlen(why), sizeof(why) - strlen(why), ", or \"forever\"");
            }
            return bad(err, source, k, why);
        }
        memcpy(dst, &ms, sizeof(ms));
        return 0;
    }
    case KEY_SECONDS:
    case KEY_HOURS:
        return set_units(dst, k, text, source, err);
    case KEY_PERCENT: {
        double v = 0;
        if (strparse_double(text, 0.0, 100.0, &v) != 0) {
            return bad(err, source, k, "must be a number between 0 and 100");
        }
        memcpy(dst, &v, sizeof(v));
        return 0;
    }
    case KEY_LOG_LEVEL: {
        enum log_level level = LOG_LEVEL_WARNING;
        if (log_level_parse(text, &level) != 0) {
            return bad(err, source, k, "must be one of debug, info, warning, error, critical");
        }
        memcpy(dst, &level, sizeof(level));
        return 0;
    }
    case KEY_BOOL:
        return set_bool(dst, k, text, source, err);
    case KEY_LISTEN:
        if (strcmp(text, "off") != 0) {
            struct netaddr addr;
            struct gp_err aerr = { 0 };
            if (netaddr_parse(text, &addr, &aerr) != 0) {
                snprintf(why, sizeof(why), "%.200s, or \"off\"", aerr.msg);
                return bad(err, source, k, why);
            }
        }
        break;
    case KEY_SECRET:
        if (!config_token_well_formed(text)) {
            snprintf(why, sizeof(why),
                     "a token is at least %d characters of letters, digits and -._~+/= (e.g. "
                     "from `openssl rand -hex 32`)",
                     CONFIG_TOKEN_MIN_CHARS);
            return bad(err, source, k, why);
        }
        break;
    case KEY_HOSTS:
        if (text[strspn(text, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
                              ".-_:[], ")] != '\0') {
            return bad(err, source, k,
                       "must be host names or addresses separated by commas (e.g. "
                       "\"gpu1.example.org, 10.0.0.5\")");
        }
        break;
    case KEY_TIMEZONE:
        if (!timezone_known(text)) {
            snprintf(why, sizeof(why),
                     "'%.60s' is not a time zone this host knows (e.g. \"Europe/Berlin\", \"UTC\")",
                     text);
            return bad(err, source, k, why);
        }
        break;
    case KEY_PATH:
    case KEY_STRING:
    default:
        break;
    }
    /* `gpulse config` writes what is set as JSON, and a file could not
     * hold anything else: a --set value must be UTF-8 too. */
    json_t *as_json = json_string(text);
    if (!as_json) {
        return bad(err, source, k, "must be UTF-8 text");
    }
    json_decref(as_json);
    if (strlen(text) >= k->size) {
        snprintf(why, sizeof(why), "longer than %zu characters", k->size - 1);
        return bad(err, source, k, why);
    }
    memcpy(dst, text, strlen(text) + 1);
    return 0;
}

int config_set(struct config *cfg, const char *key, const char *value, struct gp_err *err)
{
    const struct key_spec *k = find_key(key);
    if (!k) {
        return gp_err_set(err, -EINVAL, "unknown configuration key '%s'", key);
    }
    return set_text(cfg, k, value, NULL, err);
}

/* Stores a value from the file: numbers and strings as the key's type wants. */
static int set_json(struct config *cfg, const struct key_spec *k, json_t *v, const char *source,
                    struct gp_err *err)
{
    char text[64];
    if (json_is_null(v) && k->optional) {
        memset((char *)cfg + k->offset, 0, k->size); /* unset: the default */
        return 0;
    }
    switch (k->type) {
    case KEY_DURATION:
    case KEY_RETENTION:
        if (json_is_number(v)) { /* a bare number is seconds */
            snprintf(text, sizeof(text), "%.17g", json_number_value(v));
            return set_text(cfg, k, text, source, err);
        }
        if (!json_is_string(v)) {
            return bad(err, source, k, "must be a duration string such as \"30s\" or seconds");
        }
        return set_text(cfg, k, json_string_value(v), source, err);
    case KEY_SECONDS:
    case KEY_HOURS:
    case KEY_PERCENT:
        if (!json_is_number(v)) {
            return bad(err, source, k, "must be a number");
        }
        snprintf(text, sizeof(text), "%.17g", json_number_value(v));
        return set_text(cfg, k, text, source, err);
    case KEY_BOOL:
        if (!json_is_boolean(v)) {
            return bad(err, source, k, "must be true or false");
        }
        return set_text(cfg, k, json_is_true(v) ? "true" : "false", source, err);
    case KEY_LOG_LEVEL:
    case KEY_TIMEZONE:
    case KEY_LISTEN:
    case KEY_PATH:
    case KEY_STRING:
    default:
        if (!json_is_string(v)) {
            return bad(err, source, k, "must be a string");
        }
        return set_text(cfg, k, json_string_value(v), source, err);
    }
}

static int walk(struct config *cfg, json_t *obj, const char *prefix, const char *source,
                struct gp_err *err)
{
    const char *name = NULL;
    json_t *v = NULL;
    json_object_foreach(obj, name, v)
    {
        char path[160];
        snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "." : "", name);
        const struct key_spec *k = find_key(path);
        /* No key holds an object: an object is a section ("log", or the GPU
         * Monitor's "database": {"file": ...} beside our "database" path). */
        if (json_is_object(v)) {
            int rc = walk(cfg, v, path, source, err);
            if (rc) {
                return rc;
            }
            continue;
        }
        if (!k) {
            return gp_err_set(err, -EINVAL, "%s: unknown key '%s'", source, path);
        }
        int rc = set_json(cfg, k, v, source, err);
        if (rc) {
            return rc;
        }
    }
    return 0;
}

int config_parse(struct config *cfg, const char *text, size_t len, const char *name,
                 struct gp_err *err)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        return gp_err_set(err, -EINVAL, "%s: line %d, column %d: %s", name, jerr.line, jerr.column,
                          jerr.text);
    }
    int rc = 0;
    if (!json_is_object(root)) {
        rc = gp_err_set(err, -EINVAL, "%s: must be a JSON object of settings", name);
    } else {
        rc = walk(cfg, root, "", name, err);
    }
    json_decref(root);
    if (rc == 0) {
        snprintf(cfg->source, sizeof(cfg->source), "%s", name);
    }
    return rc;
}

/* Whether ./config.json, found without being named, may be used: a file
 * in whatever directory a command runs in names the library gpulse loads
 * (nvml_lib) and the files it writes, so one planted where root runs
 * `gpulse now` must not be read. Trusted: a regular file owned by us or
 * root that no one else may write. */
static bool local_config_trusted(void)
{
    struct stat st;
    if (lstat(CONFIG_LOCAL_PATH, &st) != 0) {
        return false;
    }
    bool trusted = S_ISREG(st.st_mode) && (st.st_uid == geteuid() || st.st_uid == 0) &&
                   (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
    if (!trusted) {
        log_warn("config",
                 "ignoring ./%s: not a regular file owned by this user (uid %lu) or root that "
                 "only its owner may write; name it with --config to use it",
                 CONFIG_LOCAL_PATH, (unsigned long)geteuid());
    }
    return trusted;
}

int config_load(struct config *cfg, const char *path, struct gp_err *err)
{
    config_defaults(cfg);
    if (!path) {
        if (access(CONFIG_DEFAULT_PATH, F_OK) == 0) {
            path = CONFIG_DEFAULT_PATH;
        } else if (local_config_trusted()) {
            path = CONFIG_LOCAL_PATH;
        } else {
            return 0;
        }
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        return gp_err_set(err, e == ENOENT ? -ENOENT : -EINVAL,
                          "cannot read configuration '%s': %s", path, strerror(e));
    }
    char *text = malloc(CONFIG_MAX_BYTES + 1);
    size_t len = text ? fread(text, 1, CONFIG_MAX_BYTES + 1, f) : 0;
    bool failed = !text || ferror(f);
    fclose(f);
    int rc = 0;
    if (failed) {
        rc = gp_err_set(err, -EINVAL, "cannot read configuration '%s'", path);
    } else if (len > CONFIG_MAX_BYTES) {
        rc = gp_err_set(err, -EINVAL, "configuration '%s' is larger than %zu bytes", path,
                        CONFIG_MAX_BYTES);
    } else {
        rc = config_parse(cfg, text, len, path, err);
    }
    free(text);
    return rc;
}

/* "30d", "2h", "1500ms": the largest unit that divides the value. */
static void format_duration(uint64_t ms, char *buf, size_t size)
{
    static const struct {
        uint64_t ms;
        const char *unit;
    } units[] = { { 86400000ULL, "d" }, { 3600000ULL, "h" }, { 60000ULL, "m" }, { 1000ULL, "s" } };
    for (size_t i = 0; i < GP_ARRAY_LEN(units); i++) {
        if (ms > 0 && ms % units[i].ms == 0) {
            snprintf(buf, size, "%llu%s", (unsigned long long)(ms / units[i].ms), units[i].unit);
            return;
        }
    }
    snprintf(buf, size, "%llums", (unsigned long long)ms);
}

int config_write_json(const struct config *cfg, FILE *out)
{
    static const char *const level_names[] = { "debug", "info", "warning", "error", "critical" };
    json_t *root = json_object();
    for (size_t i = 0; i < GP_ARRAY_LEN(keys); i++) {
        const struct key_spec *k = &keys[i];
        if (k->alias_of) {
            continue;
        }
        const char *src = (const char *)cfg + k->offset;
        json_t *v = NULL;
        char text[64];
        uint64_t ms = 0;
        double d = 0;
        enum log_level level = LOG_LEVEL_WARNING;
        bool on = false;
        switch (k->type) {
        case KEY_DURATION:
        case KEY_RETENTION:
            memcpy(&ms, src, sizeof(ms));
            if (k->type == KEY_RETENTION && ms == 0) {
                v = json_string("forever");
            } else {
                format_duration(ms, text, sizeof(text));
                v = json_string(text);
            }
            break;
        case KEY_PERCENT:
            memcpy(&d, src, sizeof(d));
            v = json_real(d);
            break;
        case KEY_BOOL:
            memcpy(&on, src, sizeof(on));
            v = json_boolean(on);
            break;
        case KEY_LOG_LEVEL:
            memcpy(&level, src, sizeof(level));
            v = json_string(level_names[(unsigned)level < 5 ? level : 2]);
            break;
        case KEY_SECRET:
            v = src[0] ? json_string("(hidden)") : json_null();
            break;
        default:
            v = k->optional && !src[0] ? json_null() : json_string(src);
            break;
        }
        /* Dotted names become nested objects, as in the file. */
        char path[160];
        snprintf(path, sizeof(path), "%s", k->name);
        json_t *parent = root;
        char *dot = strchr(path, '.');
        const char *leaf = path;
        if (dot) {
            *dot = '\0';
            json_t *child = json_object_get(root, path);
            if (!child) {
                child = json_object();
                json_object_set_new(root, path, child);
            }
            parent = child;
            leaf = dot + 1;
        }
        json_object_set_new(parent, leaf, v ? v : json_null());
    }
    int rc = json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0 ? 0 : -EIO;
    if (rc == 0 && fputc('\n', out) == EOF) {
        rc = -EIO;
    }
    json_decref(root);
    return rc;
}
