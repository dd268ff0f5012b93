/* Making text from the host (process command lines, user names, GPU names)
 * safe to print: valid UTF-8 for JSON, and no control characters for a
 * terminal, where an escape sequence in a process's arguments could
 * otherwise rewrite the screen. */
#ifndef GPULSE_UTIL_TEXT_H
#define GPULSE_UTIL_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Copies src into dst (size bytes, always NUL-terminated, cut at a whole
 * character), replacing each invalid UTF-8 byte with U+FFFD and, when
 * no_controls is set, each control character (C0, DEL, C1) with '?'.
 * Returns dst. */
char *text_sanitize(char *dst, size_t size, const char *src, bool no_controls);

/* Writes minutes as "45 min", "2 h" or "2 h 10 min". */
void text_format_minutes(int64_t minutes, char *buf, size_t size);

#endif
