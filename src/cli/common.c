#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "report/activity.h"
#include "report/now.h"
#include "util/clock.h"
#include "util/log.h"
#include "util/strparse.h"

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "gpulse %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\nTry 'gpulse %s --help'.\n", cmd);
    va_end(ap);
    return GP_EXIT_USAGE;
}

int cli_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "gpulse: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return GP_EXIT_FAILURE;
}

int cli_config_add_set(const char *cmd, struct cli_config_args *a, const char *kv)
{
    if (!strchr(kv, '=')) {
        return cli_usage_error(cmd, "--set: '%s' is not KEY=VALUE", kv);
    }
    if (a->set_count == sizeof(a->sets) / sizeof(a->sets[0])) {
        return cli_usage_error(cmd, "--set: more than %zu settings",
                               sizeof(a->sets) / sizeof(a->sets[0]));
    }
    a->sets[a->set_count++] = kv;
    return 0;
}

int cli_config_load(const char *cmd, const struct cli_config_args *a, struct config *cfg)
{
    struct gp_err err = { 0 };
    if (config_load(cfg, a->path, &err) != 0) {
        fprintf(stderr, "gpulse %s: %s\n", cmd, err.msg);
        return GP_EXIT_USAGE;
    }
    for (size_t i = 0; i < a->set_count; i++) {
        char key[128];
        const char *eq = strchr(a->sets[i], '=');
        size_t n = (size_t)(eq - a->sets[i]);
        if (n >= sizeof(key)) {
            n = sizeof(key) - 1;
        }
        memcpy(key, a->sets[i], n);
        key[n] = '\0';
        if (config_set(cfg, key, eq + 1, &err) != 0) {
            fprintf(stderr, "gpulse %s: --set: %s\n", cmd, err.msg);
            return GP_EXIT_USAGE;
        }
    }
    for (size_t i = 0; i < a->flag_count; i++) {
        const struct cli_flag_key *f = a->flags[i];
        if (config_set(cfg, f->key, a->flag_values[i], &err) != 0) {
            return cli_usage_error(cmd, "%s '%s': %s", f->name, a->flag_values[i], err.msg);
        }
    }
    return 0;
}

int cli_db_open(const char *cmd, const struct cli_db_args *a, enum store_mode mode,
                struct config *cfg, struct store **out)
{
    int rc = cli_config_load(cmd, &a->config, cfg);
    if (rc) {
        return rc;
    }
    const char *path = a->database ? a->database : cfg->database;
    struct gp_err err = { 0 };
    clock_use_timezone(cfg->timezone);
    /* Commands that write (prune) must not create a database either. */
    if (mode == STORE_READ_WRITE && access(path, F_OK) != 0) {
        return cli_fail("database '%s' does not exist (has the agent run?)", path);
    }
    if (store_open(path, mode, out, &err) != 0) {
        return cli_fail("%s", err.msg);
    }
    store_set_activity_threshold(*out, cfg->activity_threshold_pct);
    return 0;
}

void cli_log_threshold(const struct config *cfg, int verbose)
{
    log_threshold = cfg->log_level;
    if (verbose) {
        log_threshold = verbose > 1 ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO;
    }
}

int cli_parse_weeks(const char *cmd, const char *arg, int *out)
{
    uint64_t weeks = 0;
    if (strparse_u64(arg, REPORT_ACTIVITY_MAX_WEEKS, &weeks) != 0 || weeks == 0) {
        return cli_usage_error(cmd, "--weeks: '%s' is not a number from 1 to %d", arg,
                               REPORT_ACTIVITY_MAX_WEEKS);
    }
    *out = (int)weeks;
    return 0;
}

int cli_parse_format(const char *cmd, const char *arg, enum report_format *out)
{
    static const char *const names[] = { "table", "json", "csv" };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(arg, names[i]) == 0) {
            *out = (enum report_format)i;
            return 0;
        }
    }
    return cli_usage_error(cmd, "--format: '%s' is not one of table, json, csv", arg);
}

/* Takes the options every configurable command shares; true when opt was
 * one of them (p->exit_code is set when it was wrong). */
static bool take_shared_option(struct cli_opts *p, int opt)
{
    if (p->config && opt == 'c') {
        p->config->path = optarg;
        return true;
    }
    if (p->config && opt == CLI_OPT_SET) {
        p->exit_code = cli_config_add_set(p->cmd, p->config, optarg);
        return true;
    }
    if (p->database && opt == 'd') {
        if (optarg[0] == '\0') { /* as the key database refuses it */
            p->exit_code = cli_usage_error(
                p->cmd, "--database: key 'database': must name a file, not be empty");
        }
        *p->database = optarg;
        return true;
    }
    struct cli_config_args *c = p->config;
    for (const struct cli_flag_key *f = c ? p->flag_keys : NULL; f && f->opt; f++) {
        if (f->opt != opt) {
            continue;
        }
        if (c->flag_count == GP_ARRAY_LEN(c->flags)) {
            p->exit_code = cli_usage_error(p->cmd, "%s: too many options", f->name);
            return true;
        }
        c->flags[c->flag_count] = f;
        c->flag_values[c->flag_count++] = f->value ? f->value : optarg;
        return true;
    }
    return false;
}

/* The next option the command handles itself, 0 when the options are
 * done, -1 when parsing stops (p->exit_code says how). */
static int next_option(struct cli_opts *p)
{
    for (;;) {
        int opt = getopt_long(p->argc, p->argv, p->shortopts, p->longopts, NULL);
        if (opt == -1) {
            break;
        }
        if (take_shared_option(p, opt)) {
            if (p->exit_code != GP_EXIT_OK) {
                return -1;
            }
            continue;
        }
        switch (opt) {
        case 'h':
            p->usage(stdout);
            p->exit_code = GP_EXIT_OK;
            return -1;
        case ':':
            p->exit_code =
                cli_usage_error(p->cmd, "option '%s' needs a value", p->argv[optind - 1]);
            return -1;
        case '?':
            p->exit_code = cli_usage_error(p->cmd, "unknown option '%s'", p->argv[optind - 1]);
            return -1;
        default:
            return opt;
        }
    }
    if (p->argc - optind > p->max_operands) {
        p->exit_code =
            cli_usage_error(p->cmd, "unexpected argument '%s'", p->argv[optind + p->max_operands]);
        return -1;
    }
    return 0;
}

struct cli_opts cli_opts_make(const char *cmd, int argc, char **argv, const char *shortopts,
                              const struct option *longopts, void (*usage)(FILE *out))
{
    return (struct cli_opts){ .cmd = cmd,
                              .argc = argc,
                              .argv = argv,
                              .shortopts = shortopts,
                              .longopts = longopts,
                              .usage = usage };
}

int cli_opts_parse(struct cli_opts *p)
{
    optind = 1;
    opterr = 0; /* the messages are ours */
    p->exit_code = GP_EXIT_OK;
    int opt = 0;
    while ((opt = next_option(p)) > 0) {
        int rc = p->take ? p->take(opt, optarg, p->ctx) : 0;
        if (rc != 0) {
            p->exit_code = rc;
            return -1;
        }
    }
    return opt < 0 ? -1 : 0;
}

int cli_opts_parse_config(struct cli_opts *p, struct config *cfg, const int *verbose)
{
    if (cli_opts_parse(p) != 0) {
        return -1;
    }
    p->exit_code = cli_config_load(p->cmd, p->config, cfg);
    if (p->exit_code != 0) {
        return -1;
    }
    cli_log_threshold(cfg, *verbose);
    return 0;
}
