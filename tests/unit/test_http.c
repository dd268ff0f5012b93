/* The HTTP subsystem's pure parts: bounded buffers, listen addresses, the
 * metrics exposition (escaping, absent fields, lost GPUs), the answers
 * cache. The server itself is tested end to end. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent/live.h"
#include "gp_cmocka.h"
#include "http/http.h"
#include "http/http_int.h"
#include "http/metrics.h"
#include "util/dynbuf.h"
#include "util/netaddr.h"
#include "util/xalloc.h"

static void test_dynbuf_cap(void **state)
{
    (void)state;
    struct dynbuf b;
    dynbuf_init(&b, 10);
    assert_int_equal(dynbuf_adds(&b, "hello"), 0);
    assert_int_equal(dynbuf_printf(&b, "%d", 12345), 0);
    assert_int_equal(b.len, 10);
    assert_int_equal(dynbuf_adds(&b, "x"), -E2BIG);
    assert_string_equal(b.data, "hello12345");
    dynbuf_reset(&b);
    assert_int_equal(dynbuf_printf(&b, "%s", "a longer text than ten"), -E2BIG);
    assert_int_equal(b.len, 0);
    size_t len = 0;
    char *s = dynbuf_take(&b, &len);
    assert_string_equal(s, "");
    free(s);
    dynbuf_fini(&b);
}

static void test_netaddr(void **state)
{
    (void)state;
    struct netaddr a;
    struct gp_err err = { 0 };
    char buf[64];
    assert_int_equal(netaddr_parse("127.0.0.1:8080", &a, &err), 0);
    assert_true(netaddr_is_loopback(&a));
    netaddr_format(&a, 8080, buf, sizeof(buf));
    assert_string_equal(buf, "127.0.0.1:8080");
    assert_int_equal(netaddr_parse("[::1]:0", &a, &err), 0);
    assert_true(a.ipv6 && netaddr_is_loopback(&a));
    assert_int_equal(netaddr_parse("0.0.0.0:9400", &a, &err), 0);
    assert_false(netaddr_is_loopback(&a));
    assert_int_equal(netaddr_parse("localhost:1", &a, &err), 0);
    assert_true(netaddr_is_loopback(&a));
    static const char *const bad[] = {
        "",         "8080",    ":8080",           "127.0.0.1:",   "127.0.0.1:65536", "127.0.0.1:-1",
        "1.2.3:80", "[::1:80", "host.example:80", "127.0.0.1:80x"
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err = (struct gp_err){ 0 };
        assert_int_equal(netaddr_parse(bad[i], &a, &err), -EINVAL);
        assert_true(strlen(err.msg) > 0);
    }
}

/* A frame of three GPUs: one read with a hostile process, one lost, one
 * whose utilization is unreadable and whose process list the driver
 * refuses. */
static struct agent_live *live_with_frame(void)
{
    struct gpu_snapshot snap = { .time_ms = 1795000000000, .gpu_count = 3 };
    snprintf(snap.system.driver_version, sizeof(snap.system.driver_version), "550.54.15");
    snap.gpus = xcalloc(3, sizeof(*snap.gpus));
    struct gpu_reading *g = &snap.gpus[0];
    snprintf(g->id.uuid, sizeof(g->id.uuid), "GPU-a");
    snprintf(g->id.name, sizeof(g->id.name), "Card \"X\"\\1");
    gpu_values_set(&g->values, GPU_FIELD_UTIL_GPU_PCT, 63);
    gpu_values_set(&g->values, GPU_FIELD_POWER_MW, 412500);
    g->busy =
        (struct gpu_busy){ .source = GPU_BUSY_SAMPLES, .busy_us = 500000, .window_us = 1000000 };
    g->process_count = 1;
    g->processes = xcalloc(1, sizeof(*g->processes));
    g->processes[0] =
        (struct gpu_process){ .pid = 42, .has_used_memory = true, .used_memory_bytes = 1024 };
    struct proc_info *pi = proc_info_new(); /* the snapshot's reference */
    pi->found = true;
    snprintf(pi->user, sizeof(pi->user), "eve");
    snprintf(pi->comm, sizeof(pi->comm), "a\"b\\c\nd\xff");
    g->processes[0].proc = pi;
    snap.gpus[1].state = GPU_STATE_LOST;
    snap.gpus[1].id.index = 1;
    snprintf(snap.gpus[1].id.uuid, sizeof(snap.gpus[1].id.uuid), "GPU-b");
    snap.gpus[2].id.index = 2;
    snprintf(snap.gpus[2].id.uuid, sizeof(snap.gpus[2].id.uuid), "GPU-c");
    snprintf(snap.gpus[2].processes_error, sizeof(snap.gpus[2].processes_error),
             "nvmlDeviceGetComputeRunningProcesses_v3: Insufficient Permissions");
    struct agent_live *l = agent_live_new(1000);
    agent_live_publish(l, &snap, 0, 0);
    agent_live_publish(l, &snap, 2, 0);
    gpu_snapshot_fini(&snap);
    return l;
}

static void test_metrics_exposition(void **state)
{
    (void)state;
    struct agent_live *l = live_with_frame();
    const struct agent_live_frame *f = agent_live_acquire(l);
    assert_non_null(f);
    assert_int_equal(f->seq, 2);
    struct dynbuf out;
    dynbuf_init(&out, 1 << 20);
    struct http_metrics_extra extra = { .host = "h", .database_bytes = 4096 };
    assert_int_equal(http_metrics_render(f, &extra, &out), 0);
    const char *t = out.data;
    /* Values in dcgm-exporter's units: W from mW. */
    assert_non_null(strstr(t, "DCGM_FI_DEV_POWER_USAGE{gpu=\"0\""));
    assert_non_null(strstr(t, "} 412.5\n"));
    /* Label values escape quote, backslash and newline; bad UTF-8 becomes U+FFFD. */
    assert_non_null(strstr(t, "modelName=\"Card \\\"X\\\"\\\\1\""));
    assert_non_null(strstr(t, "command=\"a\\\"b\\\\c?d\xef\xbf\xbd\""));
    /* The lost GPU has no reading series, but says it is lost. */
    assert_null(strstr(t, "DCGM_FI_DEV_GPU_UTIL{gpu=\"1\""));
    assert_non_null(strstr(t, "gpulse_gpu_lost{gpu=\"1\",UUID=\"GPU-b\""));
    /* Unsupported fields have no series at all. */
    assert_null(strstr(t, "DCGM_FI_DEV_FAN_SPEED"));
    /* Busy time adds up over ticks: two reads of 0.5 s. */
    assert_non_null(strstr(t, "gpulse_gpu_busy_seconds_total{gpu=\"0\",UUID=\"GPU-a\","));
    assert_non_null(strstr(t, "nvidia0\"} 1\n"));
    /* Unknown is no sample, never 0: busy time never read (the lost GPU,
     * the one without utilization), a process list refused or not read. */
    assert_null(strstr(t, "gpulse_gpu_busy_seconds_total{gpu=\"1\""));
    assert_null(strstr(t, "gpulse_gpu_busy_seconds_total{gpu=\"2\""));
    assert_non_null(strstr(t, "gpulse_gpu_processes{gpu=\"0\",UUID=\"GPU-a\""));
    assert_null(strstr(t, "gpulse_gpu_processes{gpu=\"1\""));
    assert_null(strstr(t, "gpulse_gpu_processes{gpu=\"2\""));
    assert_non_null(strstr(t, "gpulse_gpu_processes_unknown{gpu=\"2\",UUID=\"GPU-c\","
                              "pci_bus_id=\"\",device=\"nvidia2\"} 1\n"));
    assert_non_null(strstr(t, "gpulse_gpu_processes_unknown{gpu=\"0\",UUID=\"GPU-a\","
                              "pci_bus_id=\"\",device=\"nvidia0\"} 0\n"));
    /* eve's process has memory but no SM utilization: no SM sample, not 0. */
    assert_non_null(strstr(t, "gpulse_user_memory_bytes{user=\"eve\"} 1024\n"));
    assert_null(strstr(t, "gpulse_user_sm_utilization_pct{user="));
    assert_non_null(strstr(t, "gpulse_agent_missed_ticks_total 2\n"));
    assert_non_null(strstr(t, "gpulse_agent_sample_duration_seconds_count 2\n"));
    assert_non_null(strstr(t, "gpulse_database_size_bytes 4096\n"));
    /* A cap too small is an error, not a cut exposition. */
    struct dynbuf small;
    dynbuf_init(&small, 100);
    assert_int_equal(http_metrics_render(f, &extra, &small), -E2BIG);
    dynbuf_fini(&small);
    dynbuf_fini(&out);
    agent_live_release(f);
    agent_live_free(l);
}

static void test_frames_outlive_the_state(void **state)
{
    (void)state;
    struct agent_live *l = live_with_frame();
    const struct agent_live_frame *f = agent_live_acquire(l);
    agent_live_free(l); /* a reader still holds the frame */
    assert_int_equal(f->snap.gpu_count, 3);
    assert_string_equal(f->snap.gpus[0].processes[0].proc->user, "eve");
    agent_live_release(f);
}

/* A 200 reply whose body is len bytes of c. */
static void answer_of(struct http_reply *r, size_t len, char c)
{
    *r = (struct http_reply){ .status = 200, .content_type = "application/json" };
    dynbuf_init(&r->body, 64 << 20);
    for (size_t i = 0; i < len; i++) {
        dynbuf_add(&r->body, &c, 1);
    }
}

static bool cached(struct http_answers *c, struct agent_live *l, const char *key)
{
    struct http_reply r = { 0 };
    dynbuf_init(&r.body, 64 << 20);
    bool hit = http_answers_get(c, l, key, &r);
    dynbuf_fini(&r.body);
    return hit;
}

#define HOUR 3600000LL

/* Answers over closed periods outlive flushes of newer samples; those that
 * reach what a flush changed do not; retention drops all. */
static void test_answers_outlive_flushes_of_later_data(void **state)
{
    (void)state;
    struct agent_live *l = agent_live_new(1000);
    struct http_answers c;
    http_answers_init(&c, HTTP_ANSWERS_MAX_BYTES);
    struct http_reply r;
    answer_of(&r, 1000, 'a');
    uint64_t v = agent_live_data_version(l);
    http_answers_put(&c, l, "yesterday", v, 10 * HOUR, &r);
    http_answers_put(&c, l, "today", v, 20 * HOUR, &r);
    http_answers_put(&c, l, "svg", v, INT64_MAX, &r);
    assert_true(cached(&c, l, "yesterday") && cached(&c, l, "today") && cached(&c, l, "svg"));
    assert_false(cached(&c, l, "tomorrow"));

    /* a flush of samples from 12:00 on: what ends at 10:00 stays */
    agent_live_note_flush(l, 0, NULL, 0, 12 * HOUR);
    assert_true(cached(&c, l, "yesterday"));
    assert_false(cached(&c, l, "today"));
    assert_false(cached(&c, l, "svg"));
    /* an answer computed before that flush but put after it is stale */
    http_answers_put(&c, l, "today", v, 20 * HOUR, &r);
    assert_false(cached(&c, l, "today"));
    http_answers_put(&c, l, "today", agent_live_data_version(l), 20 * HOUR, &r);
    assert_true(cached(&c, l, "today"));
    /* a flush reaching back to the range's end itself: kept (it reads before 10:00) */
    agent_live_note_flush(l, 0, NULL, 0, 10 * HOUR);
    assert_true(cached(&c, l, "yesterday"));
    /* many flushes unseen by the cache: it cannot tell, so it forgets */
    for (int i = 0; i < AGENT_LIVE_CHANGES_KEPT + 1; i++) {
        agent_live_note_flush(l, 0, NULL, 0, 30 * HOUR);
    }
    assert_false(cached(&c, l, "yesterday"));
    /* retention */
    http_answers_put(&c, l, "yesterday", agent_live_data_version(l), 10 * HOUR, &r);
    assert_true(cached(&c, l, "yesterday"));
    agent_live_note_change(l);
    assert_false(cached(&c, l, "yesterday"));
    assert_int_equal(c.bytes, 0);
    dynbuf_fini(&r.body);
    http_answers_fini(&c);
    agent_live_free(l);
}

/* However many distinct answers are asked for, of whatever size, the
 * bodies kept stay within the bound; the most recently used stay. */
static void test_answers_stay_within_their_bytes(void **state)
{
    (void)state;
    struct agent_live *l = agent_live_new(1000);
    struct http_answers c;
    http_answers_init(&c, HTTP_ANSWERS_MAX_BYTES);
    uint64_t v = agent_live_data_version(l);
    struct http_reply big;
    answer_of(&big, HTTP_ANSWERS_MAX_BYTES / HTTP_ANSWERS_MIN_KEPT, 'b');
    struct http_reply too_big;
    answer_of(&too_big, HTTP_ANSWERS_MAX_BYTES / HTTP_ANSWERS_MIN_KEPT + 1, 'c');
    struct http_reply small;
    answer_of(&small, 100, 's');
    char key[64];
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "hostile|%d", i);
        http_answers_put(&c, l, key, v, 0, i % 3 ? &big : &small);
        assert_true(c.bytes <= HTTP_ANSWERS_MAX_BYTES);
        http_answers_put(&c, l, "too big", v, 0, &too_big);
        assert_true(c.bytes <= HTTP_ANSWERS_MAX_BYTES);
    }
    assert_false(cached(&c, l, "too big"));
    assert_true(cached(&c, l, "hostile|999"));
    assert_false(cached(&c, l, "hostile|0"));
    size_t sum = 0;
    for (size_t i = 0; i < HTTP_ANSWERS_ENTRIES; i++) {
        sum += c.entries[i].body ? c.entries[i].len : 0;
    }
    assert_int_equal(sum, c.bytes);
    /* the same key again replaces its answer, not adds one */
    http_answers_put(&c, l, "hostile|999", v, 0, &small);
    http_answers_put(&c, l, "hostile|999", v, 0, &small);
    size_t copies = 0;
    for (size_t i = 0; i < HTTP_ANSWERS_ENTRIES; i++) {
        copies += c.entries[i].body && strcmp(c.entries[i].key, "hostile|999") == 0;
    }
    assert_int_equal(copies, 1);
    /* an answer used recently outlives newer ones that were not */
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "fresh|%d", i);
        http_answers_put(&c, l, key, v, 0, &big);
        assert_true(cached(&c, l, "hostile|999"));
    }
    dynbuf_fini(&big.body);
    dynbuf_fini(&too_big.body);
    dynbuf_fini(&small.body);
    http_answers_fini(&c);
    agent_live_free(l);
}

/* An access policy for a server on listen with allowed hosts and a token
 * ("" for none). */
/* The history gate: two answers at once; a third waits a bounded time and
 * is told no (its handler answers 503) instead of holding a worker. */
static void test_heavy_gate_turns_away_instead_of_waiting(void **state)
{
    (void)state;
    struct http_server srv = { 0 };
    pthread_condattr_t monotonic;
    pthread_condattr_init(&monotonic);
    pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
    pthread_mutex_init(&srv.heavy_lock, NULL);
    pthread_cond_init(&srv.heavy_done, &monotonic);
    pthread_condattr_destroy(&monotonic);
    for (int i = 0; i < HTTP_HEAVY_AT_ONCE; i++) {
        assert_true(http_heavy_enter(&srv));
    }
    assert_false(http_heavy_enter(&srv)); /* after HTTP_HEAVY_WAIT_MS */
    assert_int_equal(srv.heavy_running, HTTP_HEAVY_AT_ONCE);
    http_heavy_leave(&srv);
    assert_true(http_heavy_enter(&srv)); /* a slot freed: taken at once */
    for (int i = 0; i < HTTP_HEAVY_AT_ONCE; i++) {
        http_heavy_leave(&srv);
    }
    assert_int_equal(srv.heavy_running, 0);
    pthread_cond_destroy(&srv.heavy_done);
    pthread_mutex_destroy(&srv.heavy_lock);
}

static void access_for(struct http_access *a, const char *listen, const char *allowed,
                       const char *token)
{
    struct config cfg;
    config_defaults(&cfg);
    snprintf(cfg.http_allowed_hosts, sizeof(cfg.http_allowed_hosts), "%s", allowed);
    snprintf(cfg.http_token, sizeof(cfg.http_token), "%s", token);
    struct netaddr addr;
    struct gp_err err = { 0 };
    assert_int_equal(netaddr_parse(listen, &addr, &err), 0);
    assert_int_equal(http_access_init(a, &cfg, &addr, 8080, &err), 0);
}

static void test_host_header(void **state)
{
    (void)state;
    static const struct {
        const char *listen;
        const char *host; /* NULL: no Host header */
        unsigned status;
    } cases[] = {
        /* the loopback names, with or without the port */
        { "127.0.0.1:8080", "127.0.0.1:8080", 0 },
        { "127.0.0.1:8080", "localhost:8080", 0 },
        { "127.0.0.1:8080", "LOCALHOST", 0 },
        { "127.0.0.1:8080", "localhost.", 0 },
        { "127.0.0.1:8080", "[::1]:8080", 0 },
        /* names from http.allowed_hosts */
        { "127.0.0.1:8080", "gpus.example.org:8080", 0 },
        { "127.0.0.1:8080", "dash.lab", 0 },
        /* a rebinding page names its own host; another port is another server */
        { "127.0.0.1:8080", "evil.example.com:8080", 421 },
        { "127.0.0.1:8080", "gpus.example.org.evil.com", 421 },
        { "127.0.0.1:8080", "example.org", 421 },
        { "127.0.0.1:8080", "localhost:8081", 421 },
        { "127.0.0.1:8080", "10.0.0.1:8080", 421 },
        { "127.0.0.1:8080", "", 421 },
        /* absent on HTTP/1.1, or not a host[:port] */
        { "127.0.0.1:8080", NULL, 400 },
        { "127.0.0.1:8080", "::1", 400 },
        { "127.0.0.1:8080", "localhost:80:80", 400 },
        { "127.0.0.1:8080", "localhost:http", 400 },
        { "127.0.0.1:8080", "localhost:99999", 400 },
        { "127.0.0.1:8080", "[::1", 400 },
        /* a wildcard: any address of the machine, never a name not listed */
        { "0.0.0.0:8080", "192.0.2.7:8080", 0 },
        { "0.0.0.0:8080", "[2001:db8::1]:8080", 0 },
        { "0.0.0.0:8080", "localhost:8080", 0 },
        { "0.0.0.0:8080", "rebind.example.com:8080", 421 },
        /* one address beyond loopback: that address only */
        { "192.0.2.7:8080", "192.0.2.7:8080", 0 },
        { "192.0.2.7:8080", "192.0.2.8:8080", 421 },
        { "192.0.2.7:8080", "localhost:8080", 421 },
    };
    for (size_t i = 0; i < GP_ARRAY_LEN(cases); i++) {
        struct http_access a;
        access_for(&a, cases[i].listen, "gpus.example.org, dash.lab", "");
        char why[256] = "";
        unsigned status = http_access_check_host(&a, cases[i].host, true, why, sizeof(why));
        if (status != cases[i].status) {
            fail_msg("%s on %s: %u (%s), not %u", cases[i].host ? cases[i].host : "(none)",
                     cases[i].listen, status, why, cases[i].status);
        }
        assert_true(status == 0 || why[0] != '\0');
    }
    /* HTTP/1.0 had no Host header */
    struct http_access a;
    access_for(&a, "127.0.0.1:8080", "", "");
    char why[256];
    assert_int_equal(http_access_check_host(&a, NULL, false, why, sizeof(why)), 0);
}

static void test_bearer_token(void **state)
{
    (void)state;
    struct http_access a;
    access_for(&a, "127.0.0.1:8080", "", "");
    assert_true(http_access_token_ok(&a, NULL, NULL)); /* none set: open */

    const char *token = "0123456789abcdef0123456789abcdef";
    access_for(&a, "0.0.0.0:8080", "", token);
    assert_true(http_access_token_ok(&a, "Bearer 0123456789abcdef0123456789abcdef", NULL));
    assert_true(http_access_token_ok(&a, "bearer  0123456789abcdef0123456789abcdef", NULL));
    assert_true(http_access_token_ok(
        &a, NULL, "theme=dark; gpulse_token=0123456789abcdef0123456789abcdef; x=1"));
    assert_false(http_access_token_ok(&a, NULL, NULL));
    assert_false(http_access_token_ok(&a, "Bearer 0123456789abcdef0123456789abcde", NULL));
    assert_false(http_access_token_ok(&a, "Bearer 0123456789abcdef0123456789abcdef0", NULL));
    assert_false(http_access_token_ok(&a, "Bearer ", NULL));
    assert_false(http_access_token_ok(&a, "Basic MDEyMzQ1Njc4OWFiY2RlZg==", NULL));
    assert_false(http_access_token_ok(&a, NULL, "gpulse_token=nope; other=0123456789abcdef"));
    assert_false(http_access_token_ok(&a, NULL, "xgpulse_token=0123456789abcdef0123456789abcdef"));
    /* a wrong Authorization is not rescued by a cookie: it says who asks */
    assert_false(
        http_access_token_ok(&a, "Bearer wrong", "gpulse_token=0123456789abcdef0123456789abcdef"));
    assert_true(http_access_secret_equal("abc", "abc"));
    assert_false(http_access_secret_equal("abd", "abc"));
    assert_false(http_access_secret_equal("ab", "abc"));
    assert_false(http_access_secret_equal("", "abc"));

    /* a token that cannot travel in a header, or too short to guess, is
     * refused naming the key; so are both keys at once */
    struct config cfg;
    config_defaults(&cfg);
    struct netaddr addr;
    struct gp_err err = { 0 };
    assert_int_equal(netaddr_parse("127.0.0.1:8080", &addr, &err), 0);
    snprintf(cfg.http_token, sizeof(cfg.http_token), "short");
    assert_int_equal(http_access_init(&a, &cfg, &addr, 8080, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "http.token"));
    snprintf(cfg.http_token, sizeof(cfg.http_token), "with a space in it, long enough");
    assert_int_equal(http_access_init(&a, &cfg, &addr, 8080, &err), -EINVAL);
    snprintf(cfg.http_token, sizeof(cfg.http_token), "%s", token);
    snprintf(cfg.http_token_file, sizeof(cfg.http_token_file), "/nonexistent/token");
    assert_int_equal(http_access_init(&a, &cfg, &addr, 8080, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "both"));
    cfg.http_token[0] = '\0';
    assert_int_equal(http_access_init(&a, &cfg, &addr, 8080, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "http.token_file"));
    assert_non_null(strstr(err.msg, "/nonexistent/token"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dynbuf_cap),
        cmocka_unit_test(test_netaddr),
        cmocka_unit_test(test_metrics_exposition),
        cmocka_unit_test(test_frames_outlive_the_state),
        cmocka_unit_test(test_answers_outlive_flushes_of_later_data),
        cmocka_unit_test(test_answers_stay_within_their_bytes),
        cmocka_unit_test(test_host_header),
        cmocka_unit_test(test_bearer_token),
        cmocka_unit_test(test_heavy_gate_turns_away_instead_of_waiting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
