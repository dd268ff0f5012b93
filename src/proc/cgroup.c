#include "proc/cgroup.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* Container ids are 64 lower-case hex digits for every runtime we know. */
enum {
    CONTAINER_ID_LEN = 64
};

static bool is_hex_run(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

static bool starts_with(const char *s, size_t n, const char *prefix)
{
    size_t pl = strlen(prefix);
    return n >= pl && memcmp(s, prefix, pl) == 0;
}

static void copy_span(char *dst, size_t size, const char *src, size_t n)
{
    if (n >= size) {
        n = size - 1;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* A "<prefix><64 hex>.scope" segment, as systemd names container scopes. */
static bool scope_id(const char *seg, size_t n, const char *prefix, const char **id)
{
    size_t pl = strlen(prefix);
    if (n != pl + CONTAINER_ID_LEN + strlen(".scope") || !starts_with(seg, n, prefix)) {
        return false;
    }
    if (!is_hex_run(seg + pl, CONTAINER_ID_LEN) ||
        memcmp(seg + pl + CONTAINER_ID_LEN, ".scope", 6) != 0) {
        return false;
    }
    *id = seg + pl;
    return true;
}

static void set_container(struct proc_container *out, const char *runtime, const char *id)
{
    snprintf(out->runtime, sizeof(out->runtime), "%s", runtime);
    copy_span(out->id, sizeof(out->id), id, CONTAINER_ID_LEN);
}

/* "pod<uid>" (cgroupfs) or "kubepods-<qos>-pod<uid_with_underscores>.slice"
 * (systemd). The UID comes back in its usual dashed form. */
static void parse_pod_segment(const char *seg, size_t n, struct proc_container *out)
{
    const char *p = NULL;
    for (size_t i = 0; i + 3 <= n; i++) {
        if (memcmp(seg + i, "pod", 3) == 0 && (i == 0 || seg[i - 1] == '-')) {
            p = seg + i + 3;
        }
    }
    if (!p) {
        return;
    }
    size_t len = (size_t)(seg + n - p);
    if (len > 6 && memcmp(p + len - 6, ".slice", 6) == 0) {
        len -= 6;
    }
    if (len != 36) {
        return;
    }
    char uid[37] = { 0 };
    for (size_t i = 0; i < len; i++) {
        char c = p[i] == '_' ? '-' : p[i];
        if (!(isxdigit((unsigned char)c) || c == '-')) {
            return;
        }
        uid[i] = c;
    }
    snprintf(out->pod_uid, sizeof(out->pod_uid), "%s", uid);
}

static void parse_segment(const char *seg, size_t n, const char *prev, size_t prev_n,
                          bool in_kubepods, struct proc_container *out)
{
    const char *id = NULL;
    if (scope_id(seg, n, "docker-", &id)) {
        set_container(out, "docker", id);
    } else if (scope_id(seg, n, "cri-containerd-", &id)) {
        set_container(out, "containerd", id);
    } else if (scope_id(seg, n, "crio-", &id)) {
        set_container(out, "cri-o", id);
    } else if (scope_id(seg, n, "libpod-", &id)) {
        set_container(out, "podman", id);
    } else if (n == CONTAINER_ID_LEN && is_hex_run(seg, n)) {
        /* cgroupfs driver: "/docker/<id>" or "/kubepods/<qos>/pod<uid>/<id>". */
        if (prev_n == 6 && memcmp(prev, "docker", 6) == 0) {
            set_container(out, "docker", seg);
        } else if (in_kubepods) {
            set_container(out, "cri", seg);
        }
    } else if (starts_with(seg, n, "job_")) {
        size_t digits = n - 4;
        if (digits > 0 && digits < sizeof(out->slurm_job)) {
            bool all_digits = true;
            for (size_t i = 4; i < n; i++) {
                all_digits = all_digits && isdigit((unsigned char)seg[i]);
            }
            if (all_digits) {
                copy_span(out->slurm_job, sizeof(out->slurm_job), seg + 4, digits);
            }
        }
    }
    if (in_kubepods) {
        parse_pod_segment(seg, n, out);
    }
}

static void parse_path(const char *path, size_t len, struct proc_container *out)
{
    bool in_kubepods = false;
    const char *prev = "";
    size_t prev_n = 0;
    size_t i = 0;
    while (i < len) {
        while (i < len && path[i] == '/') {
            i++;
        }
        size_t start = i;
        while (i < len && path[i] != '/') {
            i++;
        }
        size_t n = i - start;
        if (n == 0) {
            break;
        }
        const char *seg = path + start;
        if (starts_with(seg, n, "kubepods")) {
            in_kubepods = true;
        }
        parse_segment(seg, n, prev, prev_n, in_kubepods, out);
        prev = seg;
        prev_n = n;
    }
}

void proc_cgroup_parse(const char *text, struct proc_container *out)
{
    *out = (struct proc_container){ 0 };
    const char *line = text;
    while (line && *line) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        /* "hierarchy-id:controllers:path"; the path may itself hold ':' */
        const char *c1 = memchr(line, ':', len);
        const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;
        if (c2) {
            const char *path = c2 + 1;
            parse_path(path, len - (size_t)(path - line), out);
        }
        line = eol ? eol + 1 : NULL;
    }
}

bool proc_container_is_set(const struct proc_container *c)
{
    return c->id[0] || c->pod_uid[0] || c->slurm_job[0];
}

void proc_container_label(const struct proc_container *c, char *buf, size_t size)
{
    if (c->slurm_job[0]) {
        snprintf(buf, size, "slurm:%s", c->slurm_job);
    } else if (c->pod_uid[0]) {
        snprintf(buf, size, "k8s:%s", c->pod_uid);
    } else if (c->id[0]) {
        snprintf(buf, size, "%s:%.12s", c->runtime, c->id);
    } else if (size) {
        buf[0] = '\0';
    }
}
