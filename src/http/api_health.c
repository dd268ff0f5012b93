/* GET /health: whether sampling and storage work, and what fails. */
#include <stdbool.h>
#include <stddef.h>

#include "http/http_int.h"
#include "report/format.h"
#include "util/clock.h"

/* The parts that fail, into failing; the lost GPUs into lost[0], those
 * not responding into lost[1]. Before the first tick, the sampler is not
 * failing but starting, and NVML fails when a try to open it has. */
static bool check(const struct http_server *srv, const struct agent_live_frame *f,
                  const struct agent_live_store_state *st,
                  const struct agent_live_starting *starting, int64_t age_ms, json_t *failing,
                  size_t lost[2])
{
    /* Sampling works when a tick came within three periods (5 s at least). */
    int64_t max_age = 3 * (int64_t)srv->cfg->interval_ms;
    max_age = max_age < 5 * CLOCK_SECOND_MS ? 5 * CLOCK_SECOND_MS : max_age;
    if (f && age_ms > max_age) {
        json_array_append_new(failing, json_string("sampler"));
    }
    size_t seen = f ? f->snap.gpu_count : 0;
    lost[0] = lost[1] = 0;
    for (size_t i = 0; i < seen; i++) {
        lost[0] += f->snap.gpus[i].state == GPU_STATE_LOST;
        lost[1] += f->snap.gpus[i].state == GPU_STATE_NOT_RESPONDING;
    }
    bool nvml_ok = f && seen > lost[0] + lost[1];
    if (f ? !nvml_ok : starting->error[0] != '\0') {
        json_array_append_new(failing, json_string("nvml"));
    }
    if (st->failing) {
        json_array_append_new(failing, json_string("database"));
    }
    return nvml_ok;
}

/* "nvml": its state, the library, and before the first tick how opening
 * it goes. */
static json_t *nvml_json(const struct agent_live_frame *f, bool nvml_ok, bool some_not_responding,
                         const struct agent_live_starting *st)
{
    return json_pack("{s:s, s:o, s:o, s:I, s:o}", "state",
                     !f                    ? "starting"
                     : nvml_ok             ? "ok"
                     : some_not_responding ? "no GPU answers"
                                           : "all GPUs lost",
                     "library", report_json_text(f ? f->snap.system.lib_path : ""), "error",
                     !f && st->error[0] ? report_json_text(st->error) : json_null(), "tries",
                     (json_int_t)st->tries, "next_try",
                     !f && st->retry_at_ms ? report_json_time(st->retry_at_ms) : json_null());
}

void http_api_health(struct http_request *req, struct http_reply *reply)
{
    if (http_check_params(req, reply, http_no_params) != 0) {
        return;
    }
    struct http_server *srv = req->srv;
    int64_t now = clock_realtime_ms();
    const struct agent_live_frame *f = agent_live_acquire(srv->live);
    struct agent_live_store_state st;
    agent_live_store_state(srv->live, &st);
    struct agent_live_starting starting;
    agent_live_starting(srv->live, &starting);
    json_t *failing = json_array();
    int64_t age = f ? now - f->snap.time_ms : -1;
    size_t lost[2] = { 0, 0 };
    bool nvml_ok = check(srv, f, &st, &starting, age, failing, lost);
    bool ok = json_array_size(failing) == 0 && f;
    /* Before the first tick the agent is starting, not failing, and says
     * why: a health checker waits (503) and a person reads the reason. */
    char reason[640] = "";
    if (!f) {
        agent_live_starting_reason(&starting, now, reason, sizeof(reason));
    }
    json_t *sampler =
        json_pack("{s:o, s:o, s:o, s:I, s:I}", "last_sample",
                  report_json_time(f ? f->snap.time_ms : 0), "last_sample_age_s",
                  f ? report_json_real((double)age / 1000.0, REPORT_DECIMALS_SECONDS) : json_null(),
                  "interval_s",
                  report_json_real((double)srv->cfg->interval_ms / 1000.0, REPORT_DECIMALS_SECONDS),
                  "ticks", (json_int_t)(f ? f->counters.ticks : 0), "missed_ticks",
                  (json_int_t)(f ? f->counters.missed_ticks : 0));
    json_t *db = json_pack("{s:s, s:o, s:o, s:o}", "state", st.failing ? "failing" : "ok", "path",
                           report_json_text(srv->cfg->database), "last_write",
                           report_json_time(st.last_ok_ms), "error",
                           st.failing ? report_json_text(st.error) : json_null());
    json_t *root =
        json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:{s:I, s:I, s:I}, s:{s:I}}", "status",
                  !f   ? "starting"
                  : ok ? "ok"
                       : "failing",
                  "reason", f ? json_null() : report_json_text(reason), "failing", failing,
                  "sampler", sampler, "nvml", nvml_json(f, nvml_ok, lost[1] > 0, &starting),
                  "database", db, "gpus", "seen", (json_int_t)(f ? f->snap.gpu_count : 0), "lost",
                  (json_int_t)lost[0], "not_responding", (json_int_t)lost[1], "queue", "dropped",
                  (json_int_t)(f ? f->counters.queue_dropped : 0));
    agent_live_release(f);
    reply->status = ok ? 200 : 503;
    http_reply_json(reply, root);
}

bool http_reply_if_starting(struct http_server *srv, struct http_reply *reply)
{
    const struct agent_live_frame *f = agent_live_acquire(srv->live);
    agent_live_release(f);
    if (f) {
        return false;
    }
    struct agent_live_starting starting;
    agent_live_starting(srv->live, &starting);
    char reason[640];
    agent_live_starting_reason(&starting, clock_realtime_ms(), reason, sizeof(reason));
    http_reply_error(reply, 503, NULL, "no sample yet: %s", reason);
    return true;
}
