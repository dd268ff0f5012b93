/* The users resource: one query per period, merged per user. */
#include "report/users.h"

#include <stdio.h>

#include "report/format.h"
#include "util/clock.h"
#include "util/text.h"

#define JSON_SCHEMA "gpulse.users.v1"
#define PERIODS     3

static const char *const period_names[PERIODS] = { "today", "week", "month" };

/* The user's entry in users (keyed by the name made valid UTF-8, as
 * jansson keys must be), made with zeros when new. */
static json_t *user_entry(json_t *users, const char *name)
{
    char clean[3 * 256 + 1];
    text_sanitize(clean, sizeof(clean), name);
    json_t *u = json_object_get(users, clean);
    if (!u) {
        u = json_pack("{s:s, s:f, s:f, s:f, s:I}", "user", clean, "today_gpu_hours", 0.0,
                      "week_gpu_hours", 0.0, "month_gpu_hours", 0.0, "processes", 0);
        json_object_set_new(users, clean, u);
    }
    return u;
}

/* Adds one period's usage to users. */
static int add_period(struct store *s, size_t p, int64_t from_ms, int64_t now_ms, json_t *users,
                      struct gp_err *err)
{
    struct store_user_usage *rows = NULL;
    size_t n = 0;
    int rc = store_query_user_usage(s, from_ms, now_ms + 1, &rows, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        json_t *u = user_entry(users, rows[i].user);
        char field[32];
        snprintf(field, sizeof(field), "%s_gpu_hours", period_names[p]);
        json_object_set_new(u, field, report_json_real(rows[i].gpu_seconds / 3600.0, 3));
        if (p == PERIODS - 1) { /* the month holds the others */
            json_object_set_new(u, "processes", json_integer(rows[i].processes));
        }
    }
    store_user_usage_free(rows, n);
    return rc;
}

int report_users_json(struct store *s, int64_t now_ms, json_t **out, struct gp_err *err)
{
    int64_t today = clock_local_day_start(now_ms);
    const int64_t starts[PERIODS] = { today, clock_local_monday_start(today),
                                      clock_local_month_start(today) };
    json_t *users = json_object();
    json_t *periods = json_object();
    int rc = 0;
    for (size_t p = 0; rc == 0 && p < PERIODS; p++) {
        json_object_set_new(periods, period_names[p],
                            json_pack("{s:o, s:o}", "from", report_json_time(starts[p]), "to",
                                      report_json_time(now_ms)));
        rc = add_period(s, p, starts[p], now_ms, users, err);
    }
    if (rc) {
        json_decref(users);
        json_decref(periods);
        return rc;
    }
    json_t *arr = json_array();
    const char *key = NULL;
    json_t *v = NULL;
    json_object_foreach(users, key, v)
    {
        json_array_append(arr, v);
    }
    json_decref(users);
    *out = json_pack("{s:s, s:o, s:o}", "schema", JSON_SCHEMA, "periods", periods, "users", arr);
    return 0;
}
