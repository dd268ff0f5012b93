#include "proc/procinfo.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
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
    bool pidfd;               /* fd is a pidfd in the reader's epoll set, else /proc/PID */
    bool exited;              /* its pidfd said so: read afresh if listed again */
    uint64_t seen_generation; /* last sweep round it was read in */
    uint64_t read_at_ms;      /* monotonic time its files were last read */
    int fd;                   /* what tells this lifetime from a later one with its PID */
    struct proc_info *info;   /* one reference */
};

const struct proc_info proc_info_none = { 0 };

struct proc_info *proc_info_new(void)
{
    struct proc_info *pi = xcalloc(1, sizeof(*pi));
    atomic_init(&pi->refs, 1);
    return pi;
}

const struct proc_info *proc_info_hold(const struct proc_info *pi)
{
    /* The count is the one field that changes in a shared proc_info. */
    struct proc_info *m = (struct proc_info *)(uintptr_t)pi;
    if (m && atomic_load_explicit(&m->refs, memory_order_relaxed) != 0) {
        atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    }
    return pi;
}

void proc_info_release(const struct proc_info *pi)
{
    struct proc_info *m = (struct proc_info *)(uintptr_t)pi;
    if (m && atomic_load_explicit(&m->refs, memory_order_relaxed) != 0 &&
        atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) == 1) {
        free(m);
    }
}

const struct proc_info *proc_info_or_none(const struct proc_info *pi)
{
    return pi ? pi : &proc_info_none;
}

/* Same attribution, the count aside (both zeroed when made, padding too). */
static bool same_info(const struct proc_info *a, const struct proc_info *b)
{
    size_t from = offsetof(struct proc_info, found);
    return memcmp((const char *)a + from, (const char *)b + from, sizeof(*a) - from) == 0;
}

static void close_entry(struct proc_cache_entry *e)
{
    if (e->fd >= 0) {
        close(e->fd); /* a pidfd leaves the epoll set as it closes */
        e->fd = -1;
    }
    proc_info_release(e->info);
    e->info = NULL;
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

/* Skips the rest of a line fgets cut short, so that its tail is not read
 * as a line of its own. */
static void skip_rest_of_line(FILE *f, const char *line)
{
    if (strchr(line, '\n')) {
        return;
    }
    int c = 0;
    while ((c = fgetc(f)) != EOF && c != '\n') {
    }
}

/* The name of uid in the passwd(5) file at path, into out. Returns false
 * when the file cannot be read or has no entry for uid. */
static bool passwd_file_name(const char *path, uint32_t uid, char *out, size_t size)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        return false;
    }
    char line[1024];
    bool found = false;
    while (!found && fgets(line, sizeof(line), f)) {
        bool whole = strchr(line, '\n') != NULL || feof(f);
        skip_rest_of_line(f, line);
        /* name:password:uid:... ; a line cut short is not trusted */
        char *name_end = strchr(line, ':');
        char *uid_at = name_end ? strchr(name_end + 1, ':') : NULL;
        char *uid_end = uid_at ? strchr(uid_at + 1, ':') : NULL;
        if (!whole || !uid_end || name_end == line) {
            continue;
        }
        *uid_end = '\0';
        uint64_t v = 0;
        if (strparse_u64(uid_at + 1, UINT32_MAX, &v) == 0 && v == uid) {
            snprintf(out, size, "%.*s", (int)(name_end - line), line);
            found = true;
        }
    }
    fclose(f);
    return found;
}

/* The user name of uid: from the host's user database. Under our own
 * /proc that is ours (getpwuid_r, NSS included); under another root (the
 * host's /proc mounted in a container) it is the host's /etc/passwd, seen
 * through its init's root directory (r->passwd), as the container's own
 * names for the same uids belong to other people. The uid as digits when
 * neither has a name for it. */
static void lookup_user(const struct proc_reader *r, uint32_t uid, char *out, size_t size)
{
    if (r->passwd[0]) {
        if (!passwd_file_name(r->passwd, uid, out, size)) {
            snprintf(out, size, "%u", uid);
        }
        return;
    }
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
static void read_cmdline(int dir_fd, char *out, size_t size)
{
    int truncated = 0;
    long n = fileio_read_capped_at(dir_fd, "cmdline", out, size - 1, &truncated);
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

static void read_comm(int dir_fd, char *out, size_t size)
{
    long n = fileio_read_capped_at(dir_fd, "comm", out, size - 1, NULL);
    if (n < 0) {
        out[0] = '\0';
        return;
    }
    out[strcspn(out, "\n")] = '\0';
}

/* Whether root is the /proc of our own PID namespace, where NVML's PIDs
 * are ours too and a pidfd can watch them: its "self" is our PID. */
static bool root_is_ours(const char *root)
{
    char path[300];
    char self[32];
    snprintf(path, sizeof(path), "%s/self", root);
    ssize_t n = readlink(path, self, sizeof(self) - 1);
    if (n <= 0) {
        return false;
    }
    self[n] = '\0';
    uint64_t pid = 0;
    return strparse_u64(self, UINT32_MAX, &pid) == 0 && pid == (uint64_t)getpid();
}

/* Under our own /proc, exits are watched with pidfds (Linux 5.3); an older
 * kernel or another root falls back to a /proc/PID descriptor each. */
static int watch_exits(const char *root)
{
    if (!root_is_ours(root)) {
        return -1;
    }
    int self = pidfd_open(getpid(), 0);
    if (self < 0) {
        return -1;
    }
    close(self);
    return epoll_create1(EPOLL_CLOEXEC);
}

int proc_reader_init(struct proc_reader *r, const char *root, struct gp_err *err)
{
    *r = (struct proc_reader){ .ticks_per_s = sysconf(_SC_CLK_TCK), .epoll_fd = -1 };
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
    r->epoll_fd = watch_exits(r->root);
    if (!root_is_ours(r->root)) {
        snprintf(r->passwd, sizeof(r->passwd), "%s/1/root/etc/passwd", r->root);
    }
    return 0;
}

void proc_reader_fini(struct proc_reader *r)
{
    for (size_t i = 0; i < r->cache_len; i++) {
        close_entry(&r->cache[i]);
    }
    if (r->epoll_fd >= 0) {
        close(r->epoll_fd);
    }
    free(r->buf);
    free(r->cache);
    r->buf = NULL;
    r->cache = NULL;
    r->cache_len = r->cache_cap = 0;
    r->epoll_fd = -1;
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
    r->round_started = false;
}

/* Once per round: its time, and the processes whose pidfds say they
 * exited, with one epoll_wait for every watched process. */
static void start_round(struct proc_reader *r)
{
    if (r->round_started) {
        return;
    }
    r->round_started = true;
    r->round_ms = clock_monotonic_us() / 1000;
    if (r->epoll_fd < 0) {
        return;
    }
    struct epoll_event ev[64];
    int n = 0;
    do {
        n = epoll_wait(r->epoll_fd, ev, (int)GP_ARRAY_LEN(ev), 0);
        for (int i = 0; i < n; i++) {
            struct proc_cache_entry *e = cache_find(r, ev[i].data.u32);
            if (e && e->pidfd) {
                e->exited = true;
                /* Level-triggered: an exited pidfd stays ready until closed. */
                epoll_ctl(r->epoll_fd, EPOLL_CTL_DEL, e->fd, NULL);
            }
        }
    } while (n == (int)GP_ARRAY_LEN(ev));
}

/* Whether the lifetime e was learnt from still runs: no system call under
 * our own /proc, one path lookup under its /proc/PID descriptor otherwise. */
static bool entry_alive(const struct proc_cache_entry *e)
{
    if (e->pidfd || e->fd < 0) {
        return !e->exited && e->fd >= 0;
    }
    return faccessat(e->fd, "stat", F_OK, AT_EACCESS) == 0;
}

/* Reads the files that say who runs the process (all but stat). */
static void read_identity(struct proc_reader *r, int dir_fd, struct proc_info *out)
{
    if (fileio_read_capped_at(dir_fd, "status", r->buf, BUF_MAX, NULL) > 0 &&
        proc_status_uid(r->buf, &out->uid) == 0) {
        out->has_uid = true;
        lookup_user(r, out->uid, out->user, sizeof(out->user));
    }
    read_comm(dir_fd, out->comm, sizeof(out->comm));
    read_cmdline(dir_fd, out->cmdline, sizeof(out->cmdline));
    if (fileio_read_capped_at(dir_fd, "cgroup", r->buf, BUF_MAX, NULL) > 0) {
        proc_cgroup_parse(r->buf, &out->container);
    }
}

/* Reads every file of pid's through one descriptor of its /proc directory,
 * so they all describe the same process. NULL when it is gone or hidden. */
static struct proc_info *read_files(struct proc_reader *r, uint32_t pid, int *dir_fd_out)
{
    char dir[300];
    snprintf(dir, sizeof(dir), "%s/%u", r->root, pid);
    int dir_fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    uint64_t ticks = 0;
    if (dir_fd < 0) {
        return NULL;
    }
    if (fileio_read_capped_at(dir_fd, "stat", r->buf, BUF_MAX, NULL) <= 0 ||
        proc_stat_start_ticks(r->buf, &ticks) != 0) {
        close(dir_fd);
        return NULL; /* gone, or hidden by hidepid */
    }
    struct proc_info *pi = proc_info_new();
    pi->found = true;
    pi->start_ticks = ticks;
    if (r->btime_s > 0 && r->ticks_per_s > 0) {
        pi->start_time_ms = r->btime_s * 1000 + (int64_t)(ticks * 1000 / (uint64_t)r->ticks_per_s);
    }
    read_identity(r, dir_fd, pi);
    *dir_fd_out = dir_fd;
    return pi;
}

/* True while the process behind pidfd has not exited. */
static bool pidfd_running(int pidfd)
{
    struct pollfd p = { .fd = pidfd, .events = POLLIN };
    return poll(&p, 1, 0) == 0;
}

/* What will tell this lifetime from a later one with the same PID, given
 * the descriptor its files were read through and, under our own /proc, a
 * pidfd opened before they were read: the pidfd when the process still
 * runs (so the files were its own) and epoll watches it, else the
 * directory. -1 when the process exited meanwhile. Takes both. */
static int lifetime_fd(struct proc_reader *r, uint32_t pid, int pidfd, int dir_fd, bool *is_pidfd)
{
    *is_pidfd = false;
    if (pidfd < 0) {
        return dir_fd;
    }
    if (!pidfd_running(pidfd)) {
        close(pidfd);
        close(dir_fd);
        return -1;
    }
    struct epoll_event ev = { .events = EPOLLIN, .data.u32 = pid };
    if (epoll_ctl(r->epoll_fd, EPOLL_CTL_ADD, pidfd, &ev) != 0) {
        close(pidfd);
        return dir_fd;
    }
    close(dir_fd);
    *is_pidfd = true;
    return pidfd;
}

/* What to say about pid when /proc no longer shows it. The driver goes on
 * listing a process for a few seconds after it exits: while it does, that
 * is still the lifetime e was learnt from (a new process with the PID
 * would be in /proc), so its attribution stands, and the lifetime is not
 * split into a second one charged to nobody. Without e, nothing is known. */
static const struct proc_info *gone(struct proc_reader *r, struct proc_cache_entry *e)
{
    if (!e) {
        return &proc_info_none;
    }
    if (e->fd >= 0) {
        close(e->fd); /* nothing left to watch */
        e->fd = -1;
    }
    e->pidfd = false;
    e->exited = true;
    e->seen_generation = r->generation;
    return proc_info_hold(e->info);
}

/* Reads pid afresh: new, reused, exited and listed again, or due for a
 * refresh. Keeps e's shared attribution when nothing changed, and when
 * the process is gone (gone()). */
static const struct proc_info *read_fresh(struct proc_reader *r, uint32_t pid,
                                          struct proc_cache_entry *e, uint64_t now_ms)
{
    int pidfd = -1;
    if (r->epoll_fd >= 0) {
        pidfd = pidfd_open((pid_t)pid, 0);
        if (pidfd < 0 && errno == ESRCH) {
            return gone(r, e);
        }
    }
    int dir_fd = -1;
    struct proc_info *pi = read_files(r, pid, &dir_fd);
    if (!pi) {
        if (pidfd >= 0) {
            close(pidfd);
        }
        return gone(r, e);
    }
    bool is_pidfd = false;
    int fd = lifetime_fd(r, pid, pidfd, dir_fd, &is_pidfd);
    if (fd < 0) {
        proc_info_release(pi);
        return gone(r, e);
    }
    if (e && same_info(e->info, pi)) {
        /* The same attribution: the entry keeps the one snapshots share. */
        proc_info_release(pi);
        if (e->fd >= 0 && e->fd != fd) {
            close(e->fd);
        }
        e->fd = fd;
        e->pidfd = is_pidfd;
        e->exited = false;
        e->seen_generation = r->generation;
        e->read_at_ms = now_ms;
        return proc_info_hold(e->info);
    }
    if (!e) {
        if (r->cache_len == r->cache_cap) {
            r->cache_cap = r->cache_cap ? r->cache_cap * 2 : 16;
            r->cache = xrealloc(r->cache, r->cache_cap * sizeof(*r->cache));
        }
        e = &r->cache[r->cache_len++];
        *e = (struct proc_cache_entry){ .fd = -1 };
    }
    close_entry(e);
    *e = (struct proc_cache_entry){ .pid = pid,
                                    .pidfd = is_pidfd,
                                    .seen_generation = r->generation,
                                    .read_at_ms = now_ms,
                                    .fd = fd,
                                    .info = (struct proc_info *)(uintptr_t)proc_info_hold(pi) };
    return pi;
}

const struct proc_info *proc_reader_take(struct proc_reader *r, uint32_t pid)
{
    start_round(r);
    struct proc_cache_entry *e = cache_find(r, pid);
    if (e && entry_alive(e) && r->round_ms - e->read_at_ms < PROC_CACHE_REFRESH_MS) {
        e->seen_generation = r->generation;
        return proc_info_hold(e->info);
    }
    return read_fresh(r, pid, e, r->round_ms);
}
