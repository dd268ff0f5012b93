/* The sampler-to-writer queue: bounded, drops the oldest when full and
 * counts it, hands snapshots over in order, and wakes the writer on close. */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "agent/queue.h"
#include "gp_cmocka.h"
#include "util/xalloc.h"

static struct gpu_snapshot *snap_at(int64_t t)
{
    struct gpu_snapshot *s = xcalloc(1, sizeof(*s));
    s->time_ms = t;
    return s;
}

static void full_queue_drops_oldest(void **state)
{
    (void)state;
    struct agent_queue q;
    agent_queue_init(&q, 3, 0);
    for (int64_t t = 1; t <= 5; t++) {
        agent_queue_push(&q, snap_at(t));
    }
    uint64_t pushed = 0;
    uint64_t dropped = 0;
    agent_queue_counters(&q, &pushed, &dropped);
    assert_int_equal(pushed, 5);
    assert_int_equal(dropped, 2);
    struct gpu_snapshot *out[8];
    assert_int_equal(agent_queue_take(&q, out, 8, NULL), 3);
    assert_int_equal(out[0]->time_ms, 3);
    assert_int_equal(out[2]->time_ms, 5);
    for (int i = 0; i < 3; i++) {
        agent_snapshot_free(out[i]);
    }
    assert_int_equal(agent_queue_take(&q, out, 8, NULL), 0);
    agent_queue_push(&q, snap_at(6)); /* left queued: fini frees it */
    agent_queue_fini(&q);
}

static void *closer(void *arg)
{
    struct timespec pause = { .tv_nsec = 50000000 };
    nanosleep(&pause, NULL);
    agent_queue_close(arg);
    return NULL;
}

static void close_wakes_a_waiting_writer(void **state)
{
    (void)state;
    struct agent_queue q;
    agent_queue_init(&q, 4, 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, closer, &q), 0);
    struct timespec start = { 0 };
    clock_gettime(CLOCK_MONOTONIC, &start);
    struct timespec deadline = start;
    deadline.tv_sec += 10;
    agent_queue_wait(&q, &deadline);
    struct timespec end = { 0 };
    clock_gettime(CLOCK_MONOTONIC, &end);
    assert_true(end.tv_sec - start.tv_sec < 5); /* woken by close, not the deadline */
    assert_true(agent_queue_finished(&q));
    pthread_join(t, NULL);
    agent_queue_fini(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_queue_drops_oldest),
        cmocka_unit_test(close_wakes_a_waiting_writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
