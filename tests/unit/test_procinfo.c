/* /proc parsing: stat with hostile command names, status, boot time, and a
 * whole fixture process tree as well as this very process. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
    struct proc_info pi;
    proc_reader_read(&r, 4242, &pi);
    assert_true(pi.found);
    assert_true(pi.has_uid);
    assert_int_equal(pi.uid, 65534);
    assert_string_equal(pi.comm, "python3");
    assert_string_equal(pi.cmdline, "python3 train.py --epochs 90");
    assert_int_equal(pi.start_ticks, 250000);
    long hz = sysconf(_SC_CLK_TCK);
    assert_int_equal(pi.start_time_ms, 1795000000LL * 1000 + 250000LL * 1000 / hz);
    assert_string_equal(pi.container.runtime, "docker");

    proc_reader_read(&r, 4343, &pi);
    assert_string_equal(pi.user, "root");
    assert_string_equal(pi.container.slurm_job, "77231");

    proc_reader_read(&r, 999999, &pi);
    assert_false(pi.found);
    assert_false(pi.has_uid);
    proc_reader_fini(&r);
}

static void this_process(void **state)
{
    (void)state;
    struct proc_reader r;
    assert_int_equal(proc_reader_init(&r, NULL, NULL), 0);
    struct proc_info pi;
    proc_reader_read(&r, (uint32_t)getpid(), &pi);
    assert_true(pi.found);
    assert_int_equal(pi.uid, getuid());
    assert_string_equal(pi.comm, "test_procinfo");
    /* started within the last hour, by the wall clock */
    int64_t now_ms = (int64_t)time(NULL) * 1000;
    assert_true(pi.start_time_ms <= now_ms + 2000);
    assert_true(pi.start_time_ms > now_ms - 3600 * 1000);
    proc_reader_fini(&r);
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

/* A process seen again is served from the cache; the same PID with another
 * start time is a new process and is read afresh; sweeps drop the dead. */
static void cache_follows_process_lifetimes(void **state)
{
    (void)state;
    char root[] = "/tmp/gpulse-proc-XXXXXX";
    assert_non_null(mkdtemp(root));
    char dir[64], path[96];
    snprintf(dir, sizeof(dir), "%s/77", root);
    assert_int_equal(mkdir(dir, 0755), 0);
    snprintf(path, sizeof(path), "%s/stat", root);
    write_file(path, "btime 1795000000\n");
    const char *stat_a = "77 (a) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 1000 0 0\n";
    const char *stat_b = "77 (b) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 2000 0 0\n";
    snprintf(path, sizeof(path), "%s/stat", dir);
    write_file(path, stat_a);
    snprintf(path, sizeof(path), "%s/cmdline", dir);
    write_file(path, "first");

    struct proc_reader r;
    assert_int_equal(proc_reader_init(&r, root, NULL), 0);
    struct proc_info pi;
    proc_reader_read(&r, 77, &pi);
    assert_string_equal(pi.cmdline, "first");
    proc_reader_sweep(&r);

    /* same lifetime: the cached attribution stands */
    write_file(path, "second");
    proc_reader_read(&r, 77, &pi);
    assert_string_equal(pi.cmdline, "first");
    assert_int_equal(r.cache_len, 1);
    proc_reader_sweep(&r);

    /* the PID was reused: a new process, read afresh */
    snprintf(path, sizeof(path), "%s/stat", dir);
    write_file(path, stat_b);
    proc_reader_read(&r, 77, &pi);
    assert_string_equal(pi.cmdline, "second");
    assert_int_equal(pi.start_ticks, 2000);
    assert_int_equal(r.cache_len, 1);
    proc_reader_sweep(&r);

    /* not read in a round: forgotten */
    proc_reader_sweep(&r);
    assert_int_equal(r.cache_len, 0);
    proc_reader_fini(&r);

    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
