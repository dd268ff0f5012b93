#include "util/text.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <uniwidth.h>

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* Length of the valid UTF-8 sequence at s (1-4) with its code point in
 * *cp, or 0 if it is not one. Rejects overlong forms, surrogates and code
 * points above U+10FFFF. */
static size_t utf8_sequence(const unsigned char *s, uint32_t *cp_out)
{
    if (s[0] < 0x80) {
        *cp_out = s[0];
        return 1;
    }
    size_t n = 0;
    uint32_t cp = 0;
    if ((s[0] & 0xE0) == 0xC0) {
        n = 2;
        cp = s[0] & 0x1F;
    } else if ((s[0] & 0xF0) == 0xE0) {
        n = 3;
        cp = s[0] & 0x0F;
    } else if ((s[0] & 0xF8) == 0xF0) {
        n = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min_for_len[5] = { 0, 0, 0x80, 0x800, 0x10000 };
    if (cp < min_for_len[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return 0;
    }
    *cp_out = cp;
    return n;
}

/* Characters that act rather than show: controls, the line and paragraph
 * separators, and the bidirectional marks, embeddings, overrides and
 * isolates. */
static bool acts(uint32_t cp)
{
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x061C || cp == 0x200E ||
           cp == 0x200F || (cp >= 0x2028 && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

/* Walks text one character at a time, as it is shown: after each
 * shown_next(), piece and piece_len are the bytes to write for the
 * character (itself, U+FFFD for an invalid byte, '?' for one that acts)
 * and cp its code point. */
struct shown {
    const unsigned char *next; /* what is left of the text */
    const char *piece;
    size_t piece_len;
    uint32_t cp;
};

/* Steps to the next character; false at the end of the text. */
static bool shown_next(struct shown *it)
{
    const unsigned char *s = it->next;
    if (!*s) {
        return false;
    }
    size_t n = utf8_sequence(s, &it->cp);
    it->piece = (const char *)s;
    it->piece_len = n;
    if (n == 0) {
        it->piece = replacement;
        it->piece_len = sizeof(replacement) - 1;
        it->cp = 0xFFFD;
        n = 1;
    } else if (acts(it->cp)) {
        it->piece = "?";
        it->piece_len = 1;
        it->cp = '?';
    }
    it->next = s + n;
    return true;
}

/* Columns of one shown character: uc_width says -1 for none it knows,
 * which after shown_next are only unassigned ones: a terminal gives them 1. */
static size_t char_cols(uint32_t cp)
{
    int w = uc_width((ucs4_t)cp, "UTF-8");
    return w < 0 ? 1 : (size_t)w;
}

size_t text_width_cols(const char *clean)
{
    size_t cols = 0;
    for (struct shown it = { .next = (const unsigned char *)clean }; shown_next(&it);) {
        cols += char_cols(it.cp);
    }
    return cols;
}

char *text_fit(char *dst, size_t size, const char *src, size_t min_cols, size_t max_cols)
{
    if (size == 0) {
        return dst;
    }
    size_t out = 0;
    size_t cols = 0;
    for (struct shown it = { .next = (const unsigned char *)src }; shown_next(&it);) {
        /* neither cut nor padded (text_sanitize): no need to measure */
        size_t w = max_cols == SIZE_MAX && min_cols == 0 ? 0 : char_cols(it.cp);
        if (cols + w > max_cols || out + it.piece_len >= size) {
            break;
        }
        memcpy(dst + out, it.piece, it.piece_len);
        out += it.piece_len;
        cols += w;
    }
    for (; cols < min_cols && out + 1 < size; cols++) {
        dst[out++] = ' ';
    }
    dst[out] = '\0';
    return dst;
}

char *text_sanitize(char *dst, size_t size, const char *src)
{
    return text_fit(dst, size, src, 0, SIZE_MAX);
}

void text_csv_append(struct dynbuf *out, const char *src)
{
    bool quote = strpbrk(src, ",\"") != NULL;
    if (quote) {
        dynbuf_add(out, "\"", 1);
    }
    if (*src == '=' || *src == '+' || *src == '-' || *src == '@') {
        dynbuf_add(out, "'", 1);
    }
    for (struct shown it = { .next = (const unsigned char *)src }; shown_next(&it);) {
        if (it.cp == '"') {
            dynbuf_add(out, "\"", 1);
        }
        dynbuf_add(out, it.piece, it.piece_len);
    }
    if (quote) {
        dynbuf_add(out, "\"", 1);
    }
}

void text_format_minutes(int64_t minutes, char *buf, size_t size)
{
    if (minutes < 60) {
        snprintf(buf, size, "%lld min", (long long)minutes);
    } else if (minutes % 60 == 0) {
        snprintf(buf, size, "%lld h", (long long)(minutes / 60));
    } else {
        snprintf(buf, size, "%lld h %lld min", (long long)(minutes / 60),
                 (long long)(minutes % 60));
    }
}
