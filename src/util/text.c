#include "util/text.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static const char replacement[] = "\xEF\xBF\xBD"; /* U+FFFD */

/* Length of the valid UTF-8 sequence at s (1-4), or 0 if it is not one.
 * Rejects overlong forms, surrogates and code points above U+10FFFF. */
static size_t utf8_sequence(const unsigned char *s)
{
    if (s[0] < 0x80) {
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
    return n;
}

static bool is_control(const unsigned char *s, size_t n)
{
    if (n == 1) {
        return s[0] < 0x20 || s[0] == 0x7F;
    }
    return n == 2 && s[0] == 0xC2 && s[1] >= 0x80 && s[1] <= 0x9F; /* C1 */
}

char *text_sanitize(char *dst, size_t size, const char *src, bool no_controls)
{
    if (size == 0) {
        return dst;
    }
    size_t out = 0;
    const unsigned char *s = (const unsigned char *)src;
    while (*s) {
        size_t n = utf8_sequence(s);
        const char *piece = (const char *)s;
        size_t piece_len = n;
        if (n == 0) {
            piece = replacement;
            piece_len = sizeof(replacement) - 1;
            n = 1;
        } else if (no_controls && is_control(s, n)) {
            piece = "?";
            piece_len = 1;
        }
        if (out + piece_len >= size) {
            break;
        }
        memcpy(dst + out, piece, piece_len);
        out += piece_len;
        s += n;
    }
    dst[out] = '\0';
    return dst;
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
