/* GET /health: whether sampling and storage work, and what fails. */
#include <stdbool.h>
#include <stddef.h>

#include "http/http_int.h"
#include "report/format.h"
#include "util/clock.h"

/* The parts that fail, into failing; the lost GPUs into lost[0], those
 * not responding into lost[1]. */
static bool check(const struct http_server *srv, const struct agent_live_frame *f,
                  const struct agent_live_store_state *st, int64_t age_ms, json_t *failing,
                  size_t lost[2])
{
    /* Sampling works when a tick came within three periods (5 s at least). */
    int64_t max_age = 3 * (int64_t)srv->cfg->interval_ms;
    max_age = max_age < 5 * CLOCK_SECOND_MS ? 5 * CLOCK_SECOND_MS : max_age;
    if (!f || age_ms > max_age) {
        json_array_append_new(failing, json_string("sampler"));
    }
    size_t seen = f ? f->snap.gpu_count : 0;
    lost[0] = lost[1] = 0;
    for (size_t i = 0; i < seen; i++) {
        lost[0] += f->snap.gpus[i].state == GPU_STATE_LOST;
        lost[1] += f->snap.gpus[i].state == GPU_STATE_NOT_RESPONDING;
    }
    bool nvml_ok = f && seen > lost[0] + lost[1];
    if (f && !nvml_ok) {
        json_array_append_new(failing, json_string("nvml"));
    }
    if (st->failing) {
        json_array_append_new(failing, json_string("database"));
    }
    return nvml_ok;
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
    json_t *failing = json_array();
    int64_t age = f ? now - f->snap.time_ms : -1;
    size_t lost[2] = { 0, 0 };
    bool nvml_ok = check(srv, f, &st, age, failing, lost);
    bool ok = json_array_size(failing) == 0;
    json_t *sampler =
        json_pack("{s:o, s:o, s:o, s:I, s:I}", "last_sample",
                  report_json_time(f ? f->snap.time_ms : 0), "last_sample_age_s",
                  f ? report_json_real((double)age / 1000.0, REPORT_DECIMALS_SECONDS) : json_null(),
                  "interval_s",
                  report_json_real((double)srv->cfg->interval_ms / 1000.0, REPORT_DECIMALS_SECONDS),
                  "ticks", (json_int_t)(f ? f->counters.ticks : 0), "missed_ticks",
                  (json_int_t)(f ? f->counters.missed_ticks : 0));
    json_t *nvml = json_pack("{s:s, s:o}", "state",
                             !f        ? "starting"
                             : nvml_ok ? "ok"
                             : lost[1] ? "no GPU answers"
                                       : "all GPUs lost",
                             "library", report_json_text(f ? f->snap.system.lib_path : ""));
    json_t *db = json_pack("{s:s, s:o, s:o, s:o}", "state", st.failing ? "failing" : "ok", "path",
                           report_json_text(srv->cfg->database), "last_write",
                           report_json_time(st.last_ok_ms), "error",
                           st.failing ? report_json_text(st.error) : json_null());
    json_t *root = json_pack(
        "{s:s, s:o, s:o, s:o, s:o, s:{s:I, s:I, s:I}, s:{s:I}}", "status", ok ? "ok" : "failing",
        "failing", failing, "sampler", sampler, "nvml", nvml, "database", db, "gpus", "seen",
        (json_int_t)(f ? f->snap.gpu_count : 0), "lost", (json_int_t)lost[0], "not_responding",
        (json_int_t)lost[1], "queue", "dropped", (json_int_t)(f ? f->counters.queue_dropped : 0));
    agent_live_release(f);
    reply->status = ok ? 200 : 503;
    http_reply_json(reply, root);
}
