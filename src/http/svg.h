/* The GitHub-style activity graph of GPU use as a standalone SVG: one cell
 * per local day, weeks as columns, Sunday-first rows, five levels in
 * GitHub's light or dark palette. Served at /gpu-activity.svg and written
 * by `gpulse svg`. */
#ifndef GPULSE_HTTP_SVG_H
#define GPULSE_HTTP_SVG_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"
#include "util/common.h"
#include "util/dynbuf.h"

#define HTTP_SVG_MAX_WEEKS 53

enum http_svg_theme {
    HTTP_SVG_LIGHT,
    HTTP_SVG_DARK,
};

struct http_svg_options {
    enum http_svg_theme theme;
    int weeks;       /* 1 to HTTP_SVG_MAX_WEEKS */
    const char *gpu; /* NULL or "all": the machine; else an index or a UUID */
};

/* The level (0 to 4) of a day with that many active minutes: 0 none,
 * 1 under 1 h, 2 under 3 h, 3 under 6 h, 4 from 6 h. */
int http_svg_level(int64_t active_minutes);

/* Reads the daily activity of the weeks ending today (now_ms) from s and
 * appends the graph to out. Returns 0, a negative code with err set when
 * the database cannot be read, or -E2BIG when out's cap is reached. */
GP_NODISCARD int http_svg_activity(struct store *s, const struct http_svg_options *opts,
                                   int64_t now_ms, struct dynbuf *out, struct gp_err *err);

#endif
