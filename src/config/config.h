/* gpulse's configuration: one JSON file, every key overridable from the
 * command line. The native layout and the one operators already have from
 * the GPU Monitor tool (collection.*, database.file, logging.*, server.*)
 * are both accepted. An unknown key, a wrong type, an out-of-range value or
 * an empty string is an error that names the key; JSON null leaves an
 * optional string key (timezone, log.file, nvml_lib, database_group,
 * hub.*) unset, which is how config_write_json() writes an unset one. */
#ifndef GPULSE_CONFIG_CONFIG_H
#define GPULSE_CONFIG_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/common.h"
#include "util/log.h"

/* Where the configuration is looked for when --config is not given. */
#define CONFIG_DEFAULT_PATH "/etc/gpulse/config.json"
#define CONFIG_LOCAL_PATH   "config.json"
/* Configuration files larger than this are refused rather than read. */
#define CONFIG_MAX_BYTES ((size_t)1024 * 1024)

struct config {
    uint64_t interval_ms;          /* sampling period */
    uint64_t flush_interval_ms;    /* one database transaction per this */
    char database[512];            /* SQLite file */
    char database_group[64];       /* group (name or number) of the files; "" = the agent's */
    uint64_t retention_samples_ms; /* 0 everywhere below means "keep forever" */
    uint64_t retention_process_samples_ms;
    uint64_t retention_minute_ms;
    uint64_t retention_hour_ms;
    uint64_t retention_day_ms;
    uint64_t retention_processes_ms;
    double activity_threshold_pct; /* a minute counts as active above this */
    char timezone[64];             /* IANA name for day cuts; "" (unset) = the host's */
    enum log_level log_level;
    char log_file[512];               /* "" = standard error */
    char nvml_lib[512];               /* "" = $GPULSE_NVML_LIB, else libnvidia-ml.so.1 */
    char proc_root[256];              /* the host's /proc */
    bool pcie;                        /* read PCIe throughput (the driver spends 2 x 20 ms a GPU) */
    char http_listen[80];             /* "HOST:PORT" of the HTTP server, "off": none */
    char http_allowed_hosts[512];     /* comma-separated Host names also served; "" = none */
    char http_token[128];             /* bearer token for all but /health; "" = none */
    char http_token_file[512];        /* a file holding it instead; "" = none */
    char http_tls_cert[512];          /* PEM certificate (chain) file; "" = plain HTTP */
    char http_tls_key[512];           /* its PEM private key file */
    uint64_t aggregation_interval_ms; /* push period to the hub */
    char server_url[512];             /* the hub; "" = no pushing */
    char contract_number[128];        /* reported with each push */
    char source[512];                 /* the file read, "" when only defaults */
};

/* A bearer token (http.token, the first line of http.token_file) is at
 * least this many characters of letters, digits and -._~+/=: it travels
 * in a header, a cookie and a URL. */
#define CONFIG_TOKEN_MIN_CHARS 16

/* Whether token is a well-formed bearer token (CONFIG_TOKEN_MIN_CHARS). */
bool config_token_well_formed(const char *token);

/* Fills cfg with the defaults. */
void config_defaults(struct config *cfg);

/* Loads the defaults, then the file at path; with path NULL, the first of
 * CONFIG_DEFAULT_PATH and CONFIG_LOCAL_PATH that exists (none is fine).
 * Returns 0; -ENOENT for a named file that does not exist; -EINVAL for a
 * file that is not valid JSON or holds a bad key, with err naming the file,
 * the line or the key, and what is wrong. */
GP_NODISCARD int config_load(struct config *cfg, const char *path, struct gp_err *err);

/* Loads a configuration from JSON text; name stands for the file in
 * messages. Returns 0 or -EINVAL as config_load. */
GP_NODISCARD int config_parse(struct config *cfg, const char *text, size_t len, const char *name,
                              struct gp_err *err);

/* Sets one key from command-line text ("interval", "30s"), as a flag or
 * --set KEY=VALUE does. Returns 0, or -EINVAL with err naming the key. */
GP_NODISCARD int config_set(struct config *cfg, const char *key, const char *value,
                            struct gp_err *err);

/* Writes the effective configuration as JSON in the native layout, one key
 * per line; returns 0 or -EIO. */
GP_NODISCARD int config_write_json(const struct config *cfg, FILE *out);

#endif
