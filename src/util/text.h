/* Text from the host (process command lines and names, user names,
 * container labels, GPU names, the host name) on its way out: the one rule
 * every output applies, whatever its format, and the cuts a table or a CSV
 * file needs on top.
 *
 * The rule (text_sanitize): valid UTF-8 only, each invalid byte replaced
 * with U+FFFD, and no character that could act rather than show: C0 and C1
 * controls and DEL (an escape sequence in a process's arguments would
 * rewrite a terminal; a tab or a line break would shift a table or split a
 * CSV record), the line and paragraph separators, and the bidirectional
 * overrides and isolates that reorder what follows them on screen
 * ("Trojan Source", CVE-2021-42574). Each of those becomes '?'. Every
 * renderer (table, CSV, JSON, metrics labels, SVG, and the dashboard
 * through the JSON) goes through it; each format's escaping (JSON
 * strings, XML entities, label quoting, CSV quoting) comes after it. */
#ifndef GPULSE_UTIL_TEXT_H
#define GPULSE_UTIL_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/dynbuf.h"

/* Copies src into dst (size bytes, always NUL-terminated, cut at a whole
 * character) made safe by the rule above. Returns dst. A dst of
 * 3 * strlen(src) + 1 bytes holds all of it. */
char *text_sanitize(char *dst, size_t size, const char *src);

/* The columns a terminal gives text made safe by text_sanitize: 2 for each
 * East Asian wide or fullwidth character and most emoji, 0 for combining
 * marks, 1 otherwise (libunistring's uc_width, Unicode's East Asian Width
 * and general categories). */
size_t text_width_cols(const char *clean);

/* Copies src made safe by text_sanitize into dst as a table cell: cut
 * after the last whole character that fits in max_cols columns, then
 * padded with spaces to min_cols columns. dst must hold
 * 3 * max_cols + min_cols + 1 bytes to never be cut short by its size
 * (a character wider than what is left is not split). Returns dst. */
char *text_fit(char *dst, size_t size, const char *src, size_t min_cols, size_t max_cols);

/* Appends src to out as one CSV field (no separator): made safe by
 * text_sanitize; with a single quote before it when it begins with '=',
 * '+', '-' or '@', so that a spreadsheet shows it rather than evaluating
 * it as a formula (OWASP "CSV Injection"); and quoted as RFC 4180 says
 * when it holds a comma or a double quote. Errors stick in out. */
void text_csv_append(struct dynbuf *out, const char *src);

/* Writes minutes as "45 min", "2 h" or "2 h 10 min". */
void text_format_minutes(int64_t minutes, char *buf, size_t size);

#endif
