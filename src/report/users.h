/* The users resource: GPU-hours per user today, this week (from Monday)
 * and this month, in the configured time zone. JSON, schema
 * gpulse.users.v1 (docs/json.md); served at /api/v1/users. */
#ifndef GPULSE_REPORT_USERS_H
#define GPULSE_REPORT_USERS_H

#include <jansson.h>
#include <stdint.h>

#include "store/store.h"
#include "util/common.h"

/* Reads the three periods ending at now_ms from s and builds the document
 * into *out (the caller owns it). Returns 0 or a negative code with err set. */
GP_NODISCARD int report_users_json(struct store *s, int64_t now_ms, json_t **out,
                                   struct gp_err *err);

#endif
