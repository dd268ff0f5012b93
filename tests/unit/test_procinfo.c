/* /proc parsing: stat with hostile command names, status, boot time, and a
 * whole fixture process tree as well as this very process. */
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gp_cmocka.h"
#include "proc/procinfo.h"

static void stat_start_ticks_with_parens_and_spaces(void **state)
{
    (void)state;
    uint64_t ticks = 0;
    assert_int_equal(proc_stat_start_ticks("42 (a) (b c)) S 1 42 42 0 -1 0 0 0 0 0 0 0 0 0 20 0 "
                                           "1 0 987654 0 0",
                                           &ticks),
                     0);
    assert_int_equal(ticks, 987654);
}

static void stat_truncated_or_garbage(void **state)
{
    (void)state;
    uint64_t ticks = 0;
    assert_int_not_equal(proc_stat_start_ticks("42 (a) S 1 2 3", &ticks), 0);
    assert_int_not_equal(proc_stat_start_ticks("no paren at all", &ticks), 0);
    assert_int_not_equal(
        proc_stat_start_ticks("1 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 -5 0", &ticks), 0);
}

static void status_uid_and_btime(void **state)
{
    (void)state;
    uint32_t uid = 0;
    assert_int_equal(proc_status_uid("Name:\tx\nUid:\t1000\t1000\t1000\t1000\n", &uid), 0);
    assert_int_equal(uid, 1000);
    assert_int_not_equal(proc_status_uid("Name:\tx\n", &uid), 0);
    assert_int_not_equal(proc_status_uid("Uid:\tabc\n", &uid), 0);
    int64_t btime = 0;
    assert_int_equal(proc_boot_time("cpu 1 2\nbtime 1795000000\n", &btime), 0);
    assert_int_equal(btime, 1795000000);
}

static void fixture_process(void **state)
{
    (void)state;
    struct proc_reader r;
    struct gp_err err = { 0 };
    assert_int_equal(proc_reader_init(&r, FIXTURES "/proc", &err), 0);
    assert_int_equal(r.btime_s, 1795000000);
    const struct proc_info *pi = proc_reader_take(&r, 4242);
    assert_true(pi->found);
    assert_true(pi->has_uid);
    assert_int_equal(pi->uid, 65534);
    assert_string_equal(pi->comm, "python3");
    assert_string_equal(pi->cmdline, "python3 train.py --epochs 90");
    assert_int_equal(pi->start_ticks, 250000);
    long hz = sysconf(_SC_CLK_TCK);
    assert_int_equal(pi->start_time_ms, 1795000000LL * 1000 + 250000LL * 1000 / hz);
    assert_string_equal(pi->container.runtime, "docker");
    proc_info_release(pi);

    pi = proc_reader_take(&r, 4343);
    assert_string_equal(pi->user, "root");
    assert_string_equal(pi->container.slurm_job, "77231");
    proc_info_release(pi);

    pi = proc_reader_take(&r, 999999);
    assert_false(pi->found);
    assert_false(pi->has_uid);
    proc_info_release(pi);
    proc_reader_fini(&r);
}

static void this_process(void **state)
{
    (void)state;
    struct proc_reader r;
    assert_int_equal(proc_reader_init(&r, NULL, NULL), 0);
    const struct proc_info *pi = proc_reader_take(&r, (uint32_t)getpid());
    assert_true(pi->found);
    assert_int_equal(pi->uid, getuid());
    assert_string_equal(pi->comm, "test_procinfo");
    /* started within the last hour, by the wall clock */
    int64_t now_ms = (int64_t)time(NULL) * 1000;
    assert_true(pi->start_time_ms <= now_ms + 2000);
    assert_true(pi->start_time_ms > now_ms - 3600 * 1000);
    /* what a snapshot holds stays valid after the reader is gone */
    proc_reader_fini(&r);
    assert_string_equal(pi->comm, "test_procinfo");
    proc_info_release(pi);
}

static void missing_root_is_an_error(void **state)
{
    (void)state;
    struct proc_reader r;
    struct gp_err err = { 0 };
    assert_int_not_equal(proc_reader_init(&r, "/nonexistent/proc", &err), 0);
    assert_non_null(strstr(err.msg, "/nonexistent/proc"));
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A fixture process 77: its directory with stat and cmdline. */
static void fixture_pid(const char *root, const char *stat, const char *cmdline)
{
    char path[96];
    snprintf(path, sizeof(path), "%s/77", root);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/77/stat", root);
    write_file(path, stat);
    snprintf(path, sizeof(path), "%s/77/cmdline", root);
    write_file(path, cmdline);
}

/* A /proc at root (a mkdtemp template, filled in): the boot time, and
 * process 77 started at tick 1000 with cmdline. */
static void fixture_root(char *root, const char *cmdline)
{
    assert_non_null(mkdtemp(root));
    char path[96];
    snprintf(path, sizeof(path), "%s/stat", root);
    write_file(path, "btime 1795000000\n");
    fixture_pid(root, "77 (a) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1000 0 0\n", cmdline);
}

static void remove_tree(const char *path)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    assert_int_equal(system(cmd), 0);
}

/* A process seen again is served from the cache, the very same shared
 * attribution; once its /proc directory is gone, the same PID is a new
 * process, read afresh (as /proc makes a new directory for the process
 * that reuses a PID); sweeps drop the dead. */
static void cache_follows_process_lifetimes(void **state)
{
    (void)state;
    char root[] = "/tmp/gpulse-proc-XXXXXX";
    fixture_root(root, "first");
    char path[96];

    struct proc_reader r;
    assert_int_equal(proc_reader_init(&r, root, NULL), 0);
    assert_int_equal(r.epoll_fd, -1); /* not our own /proc: a directory per lifetime */
    const struct proc_info *first = proc_reader_take(&r, 77);
    assert_string_equal(first->cmdline, "first");
    proc_reader_sweep(&r);

    /* same lifetime: the cached attribution stands, shared */
    snprintf(path, sizeof(path), "%s/77/cmdline", root);
    write_file(path, "second");
    const struct proc_info *again = proc_reader_take(&r, 77);
    assert_ptr_equal(again, first);
    assert_string_equal(again->cmdline, "first");
    assert_int_equal(r.cache_len, 1);
    proc_info_release(again);
    proc_reader_sweep(&r);

    /* the process exited while the driver still lists it: what was learnt
     * of that lifetime stands, round after round */
    snprintf(path, sizeof(path), "%s/77", root);
    remove_tree(path);
    for (int round = 0; round < 2; round++) {
        const struct proc_info *gone = proc_reader_take(&r, 77);
        assert_ptr_equal(gone, first);
        assert_true(gone->found);
        assert_string_equal(gone->cmdline, "first");
        assert_int_equal(gone->start_ticks, 1000);
        proc_info_release(gone);
        proc_reader_sweep(&r);
    }

    /* the PID was reused: a new process, read afresh */
    fixture_pid(root, "77 (b) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 2000 0 0\n", "third");
    const struct proc_info *reused = proc_reader_take(&r, 77);
    assert_string_equal(reused->cmdline, "third");
    assert_int_equal(reused->start_ticks, 2000);
    assert_int_equal(r.cache_len, 1);
    proc_reader_sweep(&r);
    /* what an older snapshot holds is untouched */
    assert_string_equal(first->cmdline, "first");
    assert_int_equal(first->start_ticks, 1000);

    /* not read in a round: forgotten, and once gone, nothing is known */
    proc_reader_sweep(&r);
    assert_int_equal(r.cache_len, 0);
    remove_tree(path);
    const struct proc_info *unknown = proc_reader_take(&r, 77);
    assert_false(unknown->found);
    proc_info_release(unknown);
    proc_reader_sweep(&r);
    proc_reader_fini(&r);
    assert_string_equal(reused->cmdline, "third");
    proc_info_release(reused);
    proc_info_release(first);
    remove_tree(root);
}

/* Starts `sleep SECONDS` and returns once it runs sleep (its cmdline says
 * so), or -1. */
static pid_t start_sleep(const char *seconds)
{
    pid_t pid = fork();
    if (pid == 0) {
        execlp("sleep", "sleep", seconds, (char *)NULL);
        _exit(127);
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
    for (int i = 0; pid > 0 && i < 1000; i++) {
        char buf[64] = "";
        FILE *f = fopen(path, "r");
        size_t n = f ? fread(buf, 1, sizeof(buf) - 1, f) : 0;
        if (f) {
            fclose(f);
        }
        if (n > 6 && strcmp(buf, "sleep") == 0) {
            return pid;
        }
        struct timespec ms = { 0, 1000000 };
        nanosleep(&ms, NULL);
    }
    return -1;
}

static void stop(pid_t pid)
{
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

/* Starts `sleep SECONDS` with PID pid, by setting the kernel's last PID
 * (root only) and retrying while other processes take it first; -1 when it
 * cannot. */
static pid_t start_sleep_as(pid_t pid, const char *seconds)
{
    for (int attempt = 0; attempt < 200; attempt++) {
        FILE *f = fopen("/proc/sys/kernel/ns_last_pid", "w");
        if (!f) {
            return -1;
        }
        fprintf(f, "%d", (int)pid - 1);
        if (fclose(f) != 0) {
            return -1;
        }
        pid_t got = start_sleep(seconds);
        if (got == pid) {
            return got;
        }
        if (got > 0) {
            stop(got);
        }
    }
    return -1;
}

/* Real processes: one that exits is no longer found, and a new process
 * given its PID is read afresh, whichever way the reader watches lifetimes
 * (pidfds under our own /proc, a /proc/PID descriptor under another root). */
static void real_process_exit_and_pid_reuse(bool pidfds)
{
    struct proc_reader r;
    assert_int_equal(proc_reader_init(&r, NULL, NULL), 0);
    if (!pidfds && r.epoll_fd >= 0) {
        /* as under a host's /proc mounted in a container */
        close(r.epoll_fd);
        r.epoll_fd = -1;
    }
    if (pidfds && r.epoll_fd < 0) {
        proc_reader_fini(&r);
        skip(); /* a kernel without pidfd_open (before 5.3) */
    }
    pid_t a = start_sleep("300");
    assert_true(a > 0);
    const struct proc_info *first = proc_reader_take(&r, (uint32_t)a);
    assert_true(first->found);
    assert_string_equal(first->cmdline, "sleep 300");
    proc_reader_sweep(&r);

    /* exited, still asked about (as the driver lists it): the same */
    stop(a);
    const struct proc_info *gone = proc_reader_take(&r, (uint32_t)a);
    assert_ptr_equal(gone, first);
    assert_string_equal(gone->cmdline, "sleep 300");
    proc_info_release(gone);
    proc_reader_sweep(&r);

    pid_t b = start_sleep_as(a, "301");
    if (b < 0) {
        proc_info_release(first);
        proc_reader_fini(&r);
        skip(); /* needs root to choose a PID */
    }
    const struct proc_info *second = proc_reader_take(&r, (uint32_t)b);
    assert_true(second->found);
    assert_string_equal(second->cmdline, "sleep 301");
    assert_true(second->start_ticks >= first->start_ticks);
    proc_reader_sweep(&r);
    stop(b);
    proc_info_release(second);
    proc_info_release(first);
    proc_reader_fini(&r);
}

static void pid_reuse_under_our_proc(void **state)
{
    (void)state;
    real_process_exit_and_pid_reuse(true);
}

static void pid_reuse_under_another_root(void **state)
{
    (void)state;
    real_process_exit_and_pid_reuse(false);
}

/* Under another root (the host's /proc in a container), user names come
 * from the host's passwd, reached through the root's PID 1, not from ours;
 * the uid as digits when that cannot be read. */
static void user_names_from_the_roots_host(void **state)
{
    (void)state;
    char root[] = "/tmp/gpulse-proc-XXXXXX";
    fixture_root(root, "job");
    char path[160];
    snprintf(path, sizeof(path), "%s/77/status", root);
    write_file(path, "Name:\ta\nUid:\t0\t0\t0\t0\n");

    /* no passwd there: uid 0 is "0", though ours calls it root */
    struct proc_reader r;
    assert_int_equal(proc_reader_init(&r, root, NULL), 0);
    const struct proc_info *pi = proc_reader_take(&r, 77);
    assert_true(pi->has_uid);
    assert_string_equal(pi->user, "0");
    proc_info_release(pi);
    proc_reader_fini(&r);

    /* the host's passwd names uid 0 differently; a line too long to read
     * whole is skipped, and its tail is not taken for an entry */
    snprintf(path, sizeof(path), "%s/1", root);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/1/root", root);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/1/root/etc", root);
    assert_int_equal(mkdir(path, 0755), 0);
    char passwd[4096];
    char gecos[2000];
    memset(gecos, 'g', sizeof(gecos) - 1);
    gecos[sizeof(gecos) - 1] = '\0';
    snprintf(passwd, sizeof(passwd),
             "daemon:x:1:1::/:/bin/false\nlong:x:5:5:%s\nforged:x:0:0:/:/bin/sh\n"
             "hostadmin:x:0:0:admin:/root:/bin/bash\n",
             gecos);
    /* the forged line sits after the long one's cut: make it part of it */
    char *forged = strstr(passwd, "\nforged");
    memmove(forged, forged + 1, strlen(forged + 1) + 1);
    snprintf(path, sizeof(path), "%s/1/root/etc/passwd", root);
    write_file(path, passwd);
    assert_int_equal(proc_reader_init(&r, root, NULL), 0);
    pi = proc_reader_take(&r, 77);
    assert_string_equal(pi->user, "hostadmin");
    assert_int_equal(pi->uid, 0);
    proc_info_release(pi);
    proc_reader_fini(&r);
    remove_tree(root);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stat_start_ticks_with_parens_and_spaces),
        cmocka_unit_test(stat_truncated_or_garbage),
        cmocka_unit_test(status_uid_and_btime),
        cmocka_unit_test(fixture_process),
        cmocka_unit_test(this_process),
        cmocka_unit_test(missing_root_is_an_error),
        cmocka_unit_test(cache_follows_process_lifetimes),
        cmocka_unit_test(pid_reuse_under_our_proc),
        cmocka_unit_test(pid_reuse_under_another_root),
        cmocka_unit_test(user_names_from_the_roots_host),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
