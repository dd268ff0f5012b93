#include "http/svg.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/clock.h"
#include "util/text.h"

/* GitHub's geometry: 10 px cells on a 13 px pitch. */
#define CELL      10
#define PITCH     13
#define LEFT      32 /* room for Mon / Wed / Fri */
#define TOP       22 /* room for month labels */
#define RIGHT     10
#define MIN_WIDTH 150 /* the footer's width, when few weeks are shown */
#define LINE      15

struct palette {
    const char *background;
    const char *text;
    const char *level[5];
};

/* GitHub's contribution palettes. */
static const struct palette palettes[] = {
    [HTTP_SVG_LIGHT] = { "#ffffff",
                         "#57606a",
                         { "#ebedf0", "#9be9a8", "#40c463", "#30a14e", "#216e39" } },
    [HTTP_SVG_DARK] = { "#0d1117",
                        "#8b949e",
                        { "#161b22", "#0e4429", "#006d32", "#26a641", "#39d353" } },
};

int http_svg_level(int64_t active_minutes)
{
    return active_minutes <= 0    ? 0
           : active_minutes < 60  ? 1
           : active_minutes < 180 ? 2
           : active_minutes < 360 ? 3
                                  : 4;
}

/* Appends host text as XML character data: valid UTF-8, no control
 * characters (XML 1.0 has no way to write most of them), markup escaped. */
static int add_xml_text(struct dynbuf *out, const char *text)
{
    char clean[3 * 256 + 1];
    text_sanitize(clean, sizeof(clean), text, true);
    int rc = 0;
    for (const char *p = clean; rc == 0 && *p; p++) {
        switch (*p) {
        case '&':
            rc = dynbuf_adds(out, "&amp;");
            break;
        case '<':
            rc = dynbuf_adds(out, "&lt;");
            break;
        case '>':
            rc = dynbuf_adds(out, "&gt;");
            break;
        case '"':
            rc = dynbuf_adds(out, "&quot;");
            break;
        case '\'':
            rc = dynbuf_adds(out, "&apos;");
            break;
        default:
            rc = dynbuf_add(out, p, 1);
            break;
        }
    }
    return rc;
}

static const char *const month_names[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* The rows of one series (the machine or one GPU), by day. */
struct days {
    const struct store_activity_row *rows;
    size_t n;
    size_t next;
};

static int64_t minutes_on(struct days *d, int64_t day_ms)
{
    while (d->next < d->n && d->rows[d->next].day_ms < day_ms) {
        d->next++;
    }
    if (d->next < d->n && d->rows[d->next].day_ms == day_ms) {
        return d->rows[d->next].active_minutes;
    }
    return 0;
}

static int render(const struct http_svg_options *o, const char *host,
                  const struct store_activity_row *rows, size_t n,
                  const struct store_activity_summary *sum, int64_t first_day, int64_t today,
                  struct dynbuf *out)
{
    const struct palette *pal = &palettes[o->theme == HTTP_SVG_DARK ? 1 : 0];
    int grid_w = o->weeks * PITCH - (PITCH - CELL);
    int width = LEFT + grid_w + RIGHT;
    bool narrow = width < 420; /* the footer stacks instead of sharing a line */
    if (width < MIN_WIDTH) {
        width = MIN_WIDTH;
    }
    int grid_bottom = TOP + 7 * PITCH;
    int footer_lines = narrow ? 4 : 1;
    int height = grid_bottom + 8 + footer_lines * LINE + 4;

    int rc = dynbuf_printf(out,
                           "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                           "viewBox=\"0 0 %d %d\" role=\"img\" font-family=\"-apple-system, "
                           "BlinkMacSystemFont, 'Segoe UI', Helvetica, Arial, sans-serif\" "
                           "font-size=\"9\">\n<title>GPU activity",
                           width, height, width, height);
    if (rc == 0 && host && *host) {
        rc = dynbuf_adds(out, " on ");
        rc = rc ? rc : add_xml_text(out, host);
    }
    if (rc == 0 && o->gpu && strcmp(o->gpu, "all") != 0) {
        rc = dynbuf_adds(out, ", GPU ");
        rc = rc ? rc : add_xml_text(out, o->gpu);
    }
    rc = rc ? rc
            : dynbuf_printf(out,
                            "</title>\n<rect width=\"%d\" height=\"%d\" rx=\"6\" fill=\"%s\"/>\n"
                            "<g fill=\"%s\">\n",
                            width, height, pal->background, pal->text);
    /* Day labels, as GitHub: Mon, Wed, Fri. */
    static const struct {
        int row;
        const char *name;
    } day_labels[] = { { 1, "Mon" }, { 3, "Wed" }, { 5, "Fri" } };
    for (size_t i = 0; rc == 0 && i < GP_ARRAY_LEN(day_labels); i++) {
        rc = dynbuf_printf(out, "<text x=\"4\" y=\"%d\">%s</text>\n",
                           TOP + day_labels[i].row * PITCH + 8, day_labels[i].name);
    }
    /* Month labels over the first column of each month, unless too close
     * to the previous label to be read. */
    int last_label_col = -10;
    int last_month = -1;
    int64_t week_start = first_day;
    for (int col = 0; rc == 0 && col < o->weeks; col++) {
        char date[16];
        clock_local_date(week_start, date, sizeof(date));
        int month = (date[5] - '0') * 10 + (date[6] - '0') - 1;
        if (month != last_month) {
            if (col - last_label_col >= 3 && (col > 0 || o->weeks < 3 || date[8] <= '1')) {
                rc = dynbuf_printf(out, "<text x=\"%d\" y=\"%d\">%s</text>\n", LEFT + col * PITCH,
                                   TOP - 8, month_names[month < 0 || month > 11 ? 0 : month]);
                last_label_col = col;
            }
            last_month = month;
        }
        for (int d = 0; d < 7; d++) {
            week_start = clock_local_day_next(week_start);
        }
    }
    rc = rc ? rc : dynbuf_adds(out, "</g>\n<g>\n");

    /* The cells: every day from first_day to today, none after. */
    struct days days = { .rows = rows, .n = n };
    int64_t day = first_day;
    for (int col = 0; rc == 0 && col < o->weeks; col++) {
        for (int row = 0; rc == 0 && row < 7 && day <= today; row++) {
            int64_t minutes = minutes_on(&days, day);
            int level = http_svg_level(minutes);
            char date[16];
            clock_local_date(day, date, sizeof(date));
            char what[48];
            text_format_minutes(minutes, what, sizeof(what));
            rc = dynbuf_printf(out,
                               "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"2\" "
                               "fill=\"%s\" data-date=\"%s\" data-level=\"%d\"><title>",
                               LEFT + col * PITCH, TOP + row * PITCH, CELL, CELL, pal->level[level],
                               date, level);
            if (rc == 0 && minutes > 0) {
                rc = dynbuf_printf(out, "%s of GPU activity on %s", what, date);
            } else if (rc == 0) {
                rc = dynbuf_printf(out, "No GPU activity on %s", date);
            }
            rc = rc ? rc : dynbuf_adds(out, "</title></rect>\n");
            day = clock_local_day_next(day);
        }
    }
    rc = rc ? rc : dynbuf_adds(out, "</g>\n");

    /* The footer: active days, current streak, total hours; the legend. */
    char total[48];
    text_format_minutes(sum->active_minutes, total, sizeof(total));
    char items[3][96];
    snprintf(items[0], sizeof(items[0]), "%lld active day%s in %d week%s",
             (long long)sum->active_days, sum->active_days == 1 ? "" : "s", o->weeks,
             o->weeks == 1 ? "" : "s");
    snprintf(items[1], sizeof(items[1]), "current streak %lld day%s",
             (long long)sum->current_streak, sum->current_streak == 1 ? "" : "s");
    snprintf(items[2], sizeof(items[2]), "%s of GPU activity", total);
    int y = grid_bottom + 8 + 9;
    rc = rc ? rc : dynbuf_printf(out, "<g fill=\"%s\">\n", pal->text);
    if (narrow) {
        for (int i = 0; rc == 0 && i < 3; i++) {
            rc = dynbuf_printf(out, "<text x=\"4\" y=\"%d\">%s</text>\n", y + i * LINE, items[i]);
        }
    } else {
        rc = rc ? rc
                : dynbuf_printf(out, "<text x=\"%d\" y=\"%d\">%s · %s · %s</text>\n", LEFT, y,
                                items[0], items[1], items[2]);
    }
    /* The legend sits at the right edge (on its own line when narrow). */
    int legend_w = 24 + 5 * PITCH + 28;
    int lx = width - RIGHT - legend_w;
    int ly = narrow ? y + 3 * LINE : y;
    if (lx < 4) {
        lx = 4;
    }
    rc = rc ? rc : dynbuf_printf(out, "<text x=\"%d\" y=\"%d\">Less</text>\n", lx, ly);
    rc = rc ? rc : dynbuf_adds(out, "</g>\n<g>\n");
    for (int level = 0; rc == 0 && level < 5; level++) {
        rc = dynbuf_printf(out,
                           "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"2\" "
                           "fill=\"%s\"/>\n",
                           lx + 24 + level * PITCH, ly - 8, CELL, CELL, pal->level[level]);
    }
    rc = rc ? rc
            : dynbuf_printf(out, "</g>\n<text x=\"%d\" y=\"%d\" fill=\"%s\">More</text>\n",
                            lx + 24 + 5 * PITCH + 2, ly, pal->text);
    return rc ? rc : dynbuf_adds(out, "</svg>\n");
}

int http_svg_activity(struct store *s, const struct http_svg_options *opts, int64_t now_ms,
                      struct dynbuf *out, struct gp_err *err)
{
    int64_t today = clock_local_day_start(now_ms);
    int64_t first = clock_local_weeks_start(today, opts->weeks);
    /* "all" is the machine, where a minute is active when any GPU is. */
    const char *gpu = opts->gpu && strcmp(opts->gpu, "all") != 0 ? opts->gpu : NULL;
    struct store_activity_row *rows = NULL;
    size_t n = 0;
    int rc = store_query_activity(s, gpu, first, clock_local_day_next(today), &rows, &n, err);
    if (rc) {
        return rc;
    }
    struct store_activity_summary sum;
    store_activity_summarize(rows, n, first, today, &sum);
    char host[256] = "";
    if (store_get_meta(s, "host", host, sizeof(host)) != 0) {
        host[0] = '\0';
    }
    rc = render(opts, host, rows, n, &sum, first, today, out);
    free(rows);
    if (rc) {
        return gp_err_set(err, rc, "the activity graph is larger than %zu bytes", out->max_len);
    }
    return 0;
}
