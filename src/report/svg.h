/* The GitHub-style activity graph of GPU use as a standalone SVG: one cell
 * per local day, weeks as columns, Sunday-first rows, five levels in
 * GitHub's light or dark palette. Served at /gpu-activity.svg and written
 * by `gpulse svg`, both through report_svg_activity. */
#ifndef GPULSE_REPORT_SVG_H
#define GPULSE_REPORT_SVG_H

#include <stdint.h>

#include "store/store.h"
#include "util/common.h"
#include "util/dynbuf.h"

enum report_svg_theme {
    REPORT_SVG_LIGHT,
    REPORT_SVG_DARK,
};

struct report_svg_options {
    enum report_svg_theme theme;
    int weeks;       /* 1 to REPORT_ACTIVITY_MAX_WEEKS (report/activity.h) */
    const char *gpu; /* NULL or "all": the machine; else an index or a UUID */
};

/* Reads the daily activity of the weeks ending today (now_ms) from s and
 * appends the graph to out. Returns 0, a negative code with err set when
 * the database cannot be read, or -E2BIG when out's cap is reached. */
GP_NODISCARD int report_svg_activity(struct store *s, const struct report_svg_options *opts,
                                     int64_t now_ms, struct dynbuf *out, struct gp_err *err);

#endif
