#include "proc/procinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/clock.h"
#include "util/fileio.h"
#include "util/strparse.h"
#include "util/xalloc.h"

/* Bounds for the files we read: anything longer is cut, never grown. */
enum {
    BUF_MAX = 16384
};

struct proc_cache_entry {
    uint32_t pid;
    uint64_t start_ticks;
    uint64_t seen_generation; /* last sweep round it was read in */
    uint64_t read_at_ms;      /* monotonic time its files were last read */
    int stat_fd;              /* /proc/PID/stat kept open: re-read with pread */
    struct proc_info info;
};

static void close_entry(struct proc_cache_entry *e)
{
    if (e->stat_fd >= 0) {
        close(e->stat_fd);
        e->stat_fd = -1;
    }
}

int proc_stat_start_ticks(const char *stat_text, uint64_t *ticks)
{
    const char *p = strrchr(stat_text, ')');
    if (!p) {
        return -EINVAL;
    }
    p++;
    /* After ')' come fields 3.. separated by single spaces; we want field 22. */
    for (int field = 3; field <= 22; field++) {
        while (*p == ' ') {
            p++;
        }
        if (!*p) {
            return -EINVAL;
        }
        if (field == 22) {
            char num[32] = { 0 };
            size_t n = strcspn(p, " \n");
            if (n == 0 || n >= sizeof(num)) {
                return -EINVAL;
            }
            memcpy(num, p, n);
            return strparse_u64(num, UINT64_MAX, ticks);
        }
        p += strcspn(p, " \n");
    }
    return -EINVAL;
}

/* The first whitespace-separated number after "key" at the start of a line. */
static int keyed_number(const char *text, const char *key, uint64_t max, uint64_t *out)
{
    size_t kl = strlen(key);
    for (const char *line = text; line && *line;) {
        if (strncmp(line, key, kl) == 0) {
            const char *p = line + kl;
            while (*p == ' ' || *p == '\t') {
                p++;
            }
            char num[32] = { 0 };
            size_t n = strcspn(p, " \t\n");
            if (n == 0 || n >= sizeof(num)) {
                return -EINVAL;
            }
            memcpy(num, p, n);
            return strparse_u64(num, max, out);
        }
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    return -EINVAL;
}

int proc_status_uid(const char *status_text, uint32_t *uid)
{
    uint64_t v = 0;
    int rc = keyed_number(status_text, "Uid:", UINT32_MAX, &v);
    if (rc == 0) {
        *uid = (uint32_t)v;
    }
    return rc;
}

int proc_boot_time(const char *stat_text, int64_t *btime_s)
{
    uint64_t v = 0;
    int rc = keyed_number(stat_text, "btime", INT64_MAX, &v);
    if (rc == 0) {
        *btime_s = (int64_t)v;
    }
    return rc;
}

static void lookup_user(uint32_t uid, char *out, size_t size)
{
    struct passwd pw = { 0 };
    struct passwd *found = NULL;
    char buf[4096];
    if (getpwuid_r((uid_t)uid, &pw, buf, sizeof(buf), &found) == 0 && found) {
        snprintf(out, size, "%s", found->pw_name);
    } else {
        snprintf(out, size, "%u", uid);
    }
}

/* /proc/PID/cmdline holds NUL-separated arguments; show them space-joined. */
static void read_cmdline(const char *dir, char *out, size_t size)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/cmdline", dir);
    int truncated = 0;
    long n = fileio_read_capped(path, out, size - 1, &truncated);
    if (n <= 0) {
        out[0] = '\0';
        return;
    }
    while (n > 0 && out[n - 1] == '\0') {
        n--;
    }
    for (long i = 0; i < n; i++) {
        if (out[i] == '\0' || out[i] == '\n') {
            out[i] = ' ';
        }
    }
    out[n] = '\0';
}

static void read_comm(const char *dir, char *out, size_t size)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/comm", dir);
    long n = fileio_read_capped(path, out, size - 1, NULL);
    if (n < 0) {
        out[0] = '\0';
        return;
    }
    out[strcspn(out, "\n")] = '\0';
}

int proc_reader_init(struct proc_reader *r, const char *root, struct gp_err *err)
{
    *r = (struct proc_reader){ .ticks_per_s = sysconf(_SC_CLK_TCK) };
    snprintf(r->root, sizeof(r->root), "%s", root ? root : PROC_DEFAULT_ROOT);
    r->buf = malloc(BUF_MAX + 1);
    if (!r->buf) {
        return gp_err_set(err, -ENOMEM, "out of memory");
    }
    char path[300];
    snprintf(path, sizeof(path), "%s/stat", r->root);
    long n = fileio_read_capped(path, r->buf, BUF_MAX, NULL);
    if (n < 0) {
        int rc = gp_err_set(err, (int)n, "cannot read process information from '%s': %s", r->root,
                            strerror((int)-n));
        proc_reader_fini(r);
        return rc;
    }
    if (proc_boot_time(r->buf, &r->btime_s) != 0) {
        r->btime_s = 0;
    }
    return 0;
}

void proc_reader_fini(struct proc_reader *r)
{
    for (size_t i = 0; i < r->cache_len; i++) {
        close_entry(&r->cache[i]);
    }
    free(r->buf);
    free(r->cache);
    r->buf = NULL;
    r->cache = NULL;
    r->cache_len = r->cache_cap = 0;
}

static struct proc_cache_entry *cache_find(struct proc_reader *r, uint32_t pid)
{
    for (size_t i = 0; i < r->cache_len; i++) {
        if (r->cache[i].pid == pid) {
            return &r->cache[i];
        }
    }
    return NULL;
}

void proc_reader_sweep(struct proc_reader *r)
{
    size_t kept = 0;
    for (size_t i = 0; i < r->cache_len; i++) {
        if (r->cache[i].seen_generation == r->generation) {
            r->cache[kept++] = r->cache[i];
        } else {
            close_entry(&r->cache[i]);
        }
    }
    r->cache_len = kept;
    r->generation++;
}

/* Reads the files that say who runs the process (all but stat). */
static void read_identity(struct proc_reader *r, const char *dir, struct proc_info *out)
{
    char path[320];
    snprintf(path, sizeof(path), "%s/status", dir);
    if (fileio_read_capped(path, r->buf, BUF_MAX, NULL) > 0 &&
        proc_status_uid(r->buf, &out->uid) == 0) {
        out->has_uid = true;
        lookup_user(out->uid, out->user, sizeof(out->user));
    }
    read_comm(dir, out->comm, sizeof(out->comm));
    read_cmdline(dir, out->cmdline, sizeof(out->cmdline));

    snprintf(path, sizeof(path), "%s/cgroup", dir);
    if (fileio_read_capped(path, r->buf, BUF_MAX, NULL) > 0) {
        proc_cgroup_parse(r->buf, &out->container);
    }
}

/* Reads /proc/PID/stat, through the descriptor kept open for a known
 * process: a pread costs no path walk, no open, no close. The descriptor of
 * a process that has exited fails to read (even if its PID was reused), so
 * then the path is opened afresh. Returns the bytes read, or <= 0. */
static long read_stat(struct proc_reader *r, struct proc_cache_entry *e, const char *path,
                      int *fd_out)
{
    *fd_out = -1;
    if (e && e->stat_fd >= 0) {
        ssize_t n = pread(e->stat_fd, r->buf, BUF_MAX, 0);
        if (n > 0) {
            r->buf[n] = '\0';
            *fd_out = e->stat_fd;
            return (long)n;
        }
        close_entry(e);
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return -1;
    }
    ssize_t n = pread(fd, r->buf, BUF_MAX, 0);
    if (n <= 0) {
        close(fd);
        return -1;
    }
    r->buf[n] = '\0';
    *fd_out = fd;
    return (long)n;
}

void proc_reader_read(struct proc_reader *r, uint32_t pid, struct proc_info *out)
{
    *out = (struct proc_info){ 0 };
    char dir[300];
    char path[320];
    snprintf(dir, sizeof(dir), "%s/%u", r->root, pid);
    snprintf(path, sizeof(path), "%s/stat", dir);

    struct proc_cache_entry *e = cache_find(r, pid);
    int fd = -1;
    uint64_t ticks = 0;
    if (read_stat(r, e, path, &fd) <= 0 || proc_stat_start_ticks(r->buf, &ticks) != 0) {
        if (fd >= 0 && (!e || fd != e->stat_fd)) {
            close(fd);
        }
        return; /* gone, or hidden by hidepid */
    }
    uint64_t now_ms = clock_monotonic_us() / 1000;
    if (e && e->start_ticks == ticks && now_ms - e->read_at_ms < PROC_CACHE_REFRESH_MS) {
        e->seen_generation = r->generation;
        e->stat_fd = fd;
        *out = e->info;
        return;
    }

    out->found = true;
    out->start_ticks = ticks;
    if (r->btime_s > 0 && r->ticks_per_s > 0) {
        out->start_time_ms = r->btime_s * 1000 + (int64_t)(ticks * 1000 / (uint64_t)r->ticks_per_s);
    }
    read_identity(r, dir, out);

    /* A new PID, a reused one (other start time), or a stale entry. */
    if (!e) {
        if (r->cache_len == r->cache_cap) {
            r->cache_cap = r->cache_cap ? r->cache_cap * 2 : 16;
            r->cache = xrealloc(r->cache, r->cache_cap * sizeof(*r->cache));
        }
        e = &r->cache[r->cache_len++];
        e->stat_fd = -1;
    }
    if (e->stat_fd >= 0 && e->stat_fd != fd) {
        close(e->stat_fd);
    }
    *e = (struct proc_cache_entry){ .pid = pid,
                                    .start_ticks = ticks,
                                    .seen_generation = r->generation,
                                    .read_at_ms = now_ms,
                                    .stat_fd = fd,
                                    .info = *out };
}
