/* The activity graph: GitHub's geometry and palettes, drawn from the
 * activity resource (report/activity.h). */
#include "report/svg.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "report/activity.h"
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
    const char *no_data; /* the outline of a day without data (not idle: unknown) */
};

/* GitHub's contribution palettes. */
static const struct palette palettes[] = {
    [REPORT_SVG_LIGHT] = { "#ffffff",
                           "#57606a",
                           { "#ebedf0", "#9be9a8", "#40c463", "#30a14e", "#216e39" },
                           "#d0d7de" },
    [REPORT_SVG_DARK] = { "#0d1117",
                          "#8b949e",
                          { "#161b22", "#0e4429", "#006d32", "#26a641", "#39d353" },
                          "#30363d" },
};

/* The graph's frame: sizes that depend on the number of weeks. */
struct layout {
    const struct palette *pal;
    int weeks;
    int width;
    int height;
    int grid_bottom;
    bool narrow; /* the footer stacks instead of sharing a line */
};

static void layout_init(struct layout *l, enum report_svg_theme theme, int weeks)
{
    l->pal = &palettes[theme == REPORT_SVG_DARK ? REPORT_SVG_DARK : REPORT_SVG_LIGHT];
    l->weeks = weeks;
    int grid_w = weeks * PITCH - (PITCH - CELL);
    l->width = LEFT + grid_w + RIGHT;
    l->narrow = l->width < 420;
    if (l->width < MIN_WIDTH) {
        l->width = MIN_WIDTH;
    }
    l->grid_bottom = TOP + 7 * PITCH;
    int footer_lines = l->narrow ? 4 : 1;
    l->height = l->grid_bottom + 8 + footer_lines * LINE + 4;
}

/* Appends host text as XML character data: valid UTF-8, no control
 * characters (XML 1.0 has no way to write most of them), markup escaped. */
static void add_xml_text(struct dynbuf *out, const char *text)
{
    char clean[3 * 256 + 1];
    text_sanitize(clean, sizeof(clean), text);
    for (const char *p = clean; *p; p++) {
        switch (*p) {
        case '&':
            dynbuf_adds(out, "&amp;");
            break;
        case '<':
            dynbuf_adds(out, "&lt;");
            break;
        case '>':
            dynbuf_adds(out, "&gt;");
            break;
        case '"':
            dynbuf_adds(out, "&quot;");
            break;
        case '\'':
            dynbuf_adds(out, "&apos;");
            break;
        default:
            dynbuf_add(out, p, 1);
            break;
        }
    }
}

static void header(const struct layout *l, const char *host, const char *gpu, struct dynbuf *out)
{
    dynbuf_printf(out,
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                  "viewBox=\"0 0 %d %d\" role=\"img\" font-family=\"-apple-system, "
                  "BlinkMacSystemFont, 'Segoe UI', Helvetica, Arial, sans-serif\" "
                  "font-size=\"9\">\n<title>GPU activity",
                  l->width, l->height, l->width, l->height);
    if (host && *host) {
        dynbuf_adds(out, " on ");
        add_xml_text(out, host);
    }
    if (gpu && strcmp(gpu, "all") != 0) {
        dynbuf_adds(out, ", GPU ");
        add_xml_text(out, gpu);
    }
    dynbuf_printf(out,
                  "</title>\n<rect width=\"%d\" height=\"%d\" rx=\"6\" fill=\"%s\"/>\n"
                  "<g fill=\"%s\">\n",
                  l->width, l->height, l->pal->background, l->pal->text);
}

static const char *const month_names[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };

/* Day labels, as GitHub: Mon, Wed, Fri; and month labels over the first
 * column of each month, unless too close to the previous label to be read. */
static void labels(const struct layout *l, int64_t first_day, struct dynbuf *out)
{
    static const struct {
        int row;
        const char *name;
    } day_labels[] = { { 1, "Mon" }, { 3, "Wed" }, { 5, "Fri" } };
    for (size_t i = 0; i < GP_ARRAY_LEN(day_labels); i++) {
        dynbuf_printf(out, "<text x=\"4\" y=\"%d\">%s</text>\n",
                      TOP + day_labels[i].row * PITCH + 8, day_labels[i].name);
    }
    int last_label_col = -10;
    int last_month = -1;
    int64_t week_start = first_day;
    for (int col = 0; col < l->weeks; col++) {
        char date[16];
        clock_local_date(week_start, date, sizeof(date));
        int month = (date[5] - '0') * 10 + (date[6] - '0') - 1;
        if (month != last_month) {
            if (col - last_label_col >= 3 && (col > 0 || l->weeks < 3 || date[8] <= '1')) {
                dynbuf_printf(out, "<text x=\"%d\" y=\"%d\">%s</text>\n", LEFT + col * PITCH,
                              TOP - 8, month_names[month < 0 || month > 11 ? 0 : month]);
                last_label_col = col;
            }
            last_month = month;
        }
        for (int d = 0; d < 7; d++) {
            week_start = clock_local_day_next(week_start);
        }
    }
    dynbuf_adds(out, "</g>\n<g>\n");
}

/* The rows of one series (the machine or one GPU), by day. */
struct days {
    const struct store_activity_row *rows;
    size_t n;
    size_t next;
};

/* The active minutes of a day, or -1 when nothing was observed that day
 * (no agent ran, the GPU was lost): unknown, not idle. */
static int64_t minutes_on(struct days *d, int64_t day_ms)
{
    while (d->next < d->n && d->rows[d->next].day_ms < day_ms) {
        d->next++;
    }
    if (d->next < d->n && d->rows[d->next].day_ms == day_ms) {
        return d->rows[d->next].active_minutes;
    }
    return -1;
}

/* A day without data: an outline, not the colour of an idle day. */
static void no_data_cell(const struct layout *l, int col, int row, const char *date,
                         struct dynbuf *out)
{
    dynbuf_printf(out,
                  "<rect x=\"%d.5\" y=\"%d.5\" width=\"%d\" height=\"%d\" rx=\"2\" "
                  "fill=\"%s\" stroke=\"%s\" data-date=\"%s\" data-level=\"none\">"
                  "<title>No data on %s</title></rect>\n",
                  LEFT + col * PITCH, TOP + row * PITCH, CELL - 1, CELL - 1, l->pal->background,
                  l->pal->no_data, date, date);
}

/* The cells: every day from the first to today, none after. */
static void cells(const struct layout *l, const struct report_activity *a, struct dynbuf *out)
{
    struct days days = { .rows = a->rows, .n = a->count };
    int64_t day = a->first_day_ms;
    for (int col = 0; col < l->weeks; col++) {
        for (int row = 0; row < 7 && day <= a->today_ms; row++) {
            int64_t minutes = minutes_on(&days, day);
            int level = report_activity_level(minutes);
            char date[16];
            clock_local_date(day, date, sizeof(date));
            if (minutes < 0) {
                no_data_cell(l, col, row, date, out);
                day = clock_local_day_next(day);
                continue;
            }
            char what[48];
            text_format_minutes(minutes, what, sizeof(what));
            dynbuf_printf(out,
                          "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"2\" "
                          "fill=\"%s\" data-date=\"%s\" data-level=\"%d\"><title>",
                          LEFT + col * PITCH, TOP + row * PITCH, CELL, CELL, l->pal->level[level],
                          date, level);
            if (minutes > 0) {
                dynbuf_printf(out, "%s of GPU activity on %s", what, date);
            } else {
                dynbuf_printf(out, "No GPU activity on %s", date);
            }
            dynbuf_adds(out, "</title></rect>\n");
            day = clock_local_day_next(day);
        }
    }
    dynbuf_adds(out, "</g>\n");
}

/* The footer: active days, current streak, total time; the legend at the
 * right edge (on its own line when narrow). */
static void footer(const struct layout *l, const struct store_activity_summary *sum,
                   struct dynbuf *out)
{
    char total[48];
    text_format_minutes(sum->active_minutes, total, sizeof(total));
    char items[3][96];
    snprintf(items[0], sizeof(items[0]), "%lld active day%s in %d week%s",
             (long long)sum->active_days, sum->active_days == 1 ? "" : "s", l->weeks,
             l->weeks == 1 ? "" : "s");
    snprintf(items[1], sizeof(items[1]), "current streak %lld day%s",
             (long long)sum->current_streak, sum->current_streak == 1 ? "" : "s");
    snprintf(items[2], sizeof(items[2]), "%s of GPU activity", total);
    int y = l->grid_bottom + 8 + 9;
    dynbuf_printf(out, "<g fill=\"%s\">\n", l->pal->text);
    if (l->narrow) {
        for (int i = 0; i < 3; i++) {
            dynbuf_printf(out, "<text x=\"4\" y=\"%d\">%s</text>\n", y + i * LINE, items[i]);
        }
    } else {
        dynbuf_printf(out, "<text x=\"%d\" y=\"%d\">%s · %s · %s</text>\n", LEFT, y, items[0],
                      items[1], items[2]);
    }
    int legend_w = 24 + 5 * PITCH + 28;
    int lx = l->width - RIGHT - legend_w;
    lx = lx < 4 ? 4 : lx;
    int ly = l->narrow ? y + 3 * LINE : y;
    dynbuf_printf(out, "<text x=\"%d\" y=\"%d\">Less</text>\n", lx, ly);
    dynbuf_adds(out, "</g>\n<g>\n");
    for (int level = 0; level < 5; level++) {
        dynbuf_printf(out,
                      "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" rx=\"2\" "
                      "fill=\"%s\"/>\n",
                      lx + 24 + level * PITCH, ly - 8, CELL, CELL, l->pal->level[level]);
    }
    dynbuf_printf(out, "</g>\n<text x=\"%d\" y=\"%d\" fill=\"%s\">More</text>\n",
                  lx + 24 + 5 * PITCH + 2, ly, l->pal->text);
}

int report_svg_activity(struct store *s, const struct report_svg_options *opts, int64_t now_ms,
                        struct dynbuf *out, struct gp_err *err)
{
    /* "all" is the machine, where a minute is active when any GPU is. */
    struct report_activity_query q = {
        .gpu = opts->gpu && strcmp(opts->gpu, "all") != 0 ? opts->gpu : NULL,
        .weeks = opts->weeks,
        .now_ms = now_ms,
    };
    struct report_activity a;
    int rc = report_activity_load(s, &q, &a, err);
    if (rc) {
        return rc;
    }
    char host[256] = "";
    if (store_get_meta(s, "host", host, sizeof(host)) != 0) {
        host[0] = '\0';
    }
    struct layout l;
    layout_init(&l, opts->theme, opts->weeks);
    header(&l, host, opts->gpu, out);
    labels(&l, a.first_day_ms, out);
    cells(&l, &a, out);
    footer(&l, &a.summary, out);
    dynbuf_adds(out, "</svg>\n");
    report_activity_fini(&a);
    rc = dynbuf_error(out);
    if (rc) {
        return gp_err_set(err, rc, "the activity graph is larger than %zu bytes", out->max_len);
    }
    return 0;
}
