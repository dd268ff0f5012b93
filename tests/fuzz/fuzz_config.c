/* libFuzzer target: the configuration as an operator gives it, a JSON file
 * (either layout) and then command-line overrides (--set KEY=VALUE, which
 * every flag goes through). The input is the file's text, then, after each
 * NUL byte, one "KEY=VALUE" override. Every input is loaded or refused
 * with a message naming what is wrong; a loaded one, written out as
 * `gpulse config` writes it, must load again to the same configuration
 * (what the agent was told is what it would be told again). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* cfg written as JSON into a malloc'd string; NULL when it cannot be. */
static char *written(const struct config *cfg, size_t *len)
{
    char *text = NULL;
    FILE *f = open_memstream(&text, len);
    if (!f) {
        return NULL;
    }
    int rc = config_write_json(cfg, f);
    if (fclose(f) != 0 || rc != 0) {
        free(text);
        return NULL;
    }
    return text;
}

static void refused_with_a_message(int rc, const struct gp_err *err)
{
    if (rc != 0 && err->msg[0] == '\0') {
        fprintf(stderr, "fuzz_config: refused (%d) without a message\n", rc);
        __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    const char *nul = memchr(text, '\0', size);
    size_t json_len = nul ? (size_t)(nul - text) : size;

    struct config cfg;
    config_defaults(&cfg);
    struct gp_err err = { 0 };
    int rc = config_parse(&cfg, text, json_len, "fuzz.json", &err);
    refused_with_a_message(rc, &err);
    if (rc != 0) {
        return 0;
    }
    /* The overrides, each a NUL-terminated "KEY=VALUE" (the last one may
     * end with the input). */
    size_t i = json_len + 1;
    while (i < size) {
        const char *end = memchr(text + i, '\0', size - i);
        size_t len = end ? (size_t)(end - (text + i)) : size - i;
        char *kv = malloc(len + 1);
        if (!kv) {
            return 0;
        }
        memcpy(kv, text + i, len);
        kv[len] = '\0';
        char *eq = strchr(kv, '=');
        if (eq) {
            *eq = '\0';
            err = (struct gp_err){ 0 };
            rc = config_set(&cfg, kv, eq + 1, &err);
            refused_with_a_message(rc, &err);
        }
        free(kv);
        i += len + 1;
    }

    size_t len1 = 0;
    char *once = written(&cfg, &len1);
    if (!once) {
        __builtin_trap();
    }
    struct config again;
    config_defaults(&again);
    err = (struct gp_err){ 0 };
    if (config_parse(&again, once, len1, "written.json", &err) != 0) {
        fprintf(stderr, "fuzz_config: the written configuration does not load: %s\n%s\n", err.msg,
                once);
        __builtin_trap();
    }
    size_t len2 = 0;
    char *twice = written(&again, &len2);
    if (!twice || len1 != len2 || memcmp(once, twice, len1) != 0) {
        fprintf(stderr, "fuzz_config: it loads as another configuration:\n%s\n%s\n", once,
                twice ? twice : "(none)");
        __builtin_trap();
    }
    free(once);
    free(twice);
    return 0;
}
