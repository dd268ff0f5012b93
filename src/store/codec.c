/* The raw-sample block codec: our transform (delta-of-delta times,
 * per-column constant / delta / delta-of-delta values, presence bitmaps,
 * zigzag varints), zlib for the entropy stage. Arithmetic on values is
 * done in uint64_t, which wraps, so any int64_t round-trips. */
#include "store/codec.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "util/xalloc.h"

/* The first byte: the format version, with DEFLATED set when a zlib
 * stream (after the payload's length) follows instead of the payload. */
#define FORMAT_1 0x01
#define DEFLATED 0x80

/* A column's mode byte: a kind, with BITMAP set when a presence bitmap
 * (a bit per row, least significant first) precedes the values. */
enum kind {
    KIND_ABSENT = 0,   /* no value in any row; no bitmap */
    KIND_CONSTANT = 1, /* one value, that of every present row */
    KIND_DELTA = 2,    /* the first value, then each one's difference to the last */
    KIND_DELTA2 = 3,   /* the first value, the first difference, then their differences */
};
#define BITMAP 0x10

/* Blocks whose payload is shorter are not worth deflating. */
#define DEFLATE_MIN_BYTES 32

void store_codec_init(struct store_codec_block *b, size_t cols)
{
    *b = (struct store_codec_block){ .cols = cols };
}

void store_codec_free(struct store_codec_block *b)
{
    free(b->t_ms);
    free(b->v);
    free(b->present);
    *b = (struct store_codec_block){ .cols = b->cols };
}

static void reserve(struct store_codec_block *b, size_t rows)
{
    if (rows <= b->cap) {
        return;
    }
    size_t cap = b->cap ? b->cap * 2 : 64;
    cap = cap < rows ? rows : cap;
    size_t cols = b->cols ? b->cols : 1;
    b->t_ms = xrealloc(b->t_ms, cap * sizeof(*b->t_ms));
    b->v = xrealloc(b->v, cap * cols * sizeof(*b->v));
    b->present = xrealloc(b->present, cap * cols);
    b->cap = cap;
}

long store_codec_row(struct store_codec_block *b, int64_t t_ms)
{
    /* Rows arrive in time order nearly always: search from the end. */
    size_t i = b->rows;
    while (i > 0 && b->t_ms[i - 1] > t_ms) {
        i--;
    }
    size_t cols = b->cols;
    if (i == 0 || b->t_ms[i - 1] != t_ms) {
        if (b->rows >= STORE_CODEC_MAX_ROWS) {
            return -1;
        }
        reserve(b, b->rows + 1);
        size_t after = b->rows - i;
        memmove(b->t_ms + i + 1, b->t_ms + i, after * sizeof(*b->t_ms));
        memmove(b->v + (i + 1) * cols, b->v + i * cols, after * cols * sizeof(*b->v));
        memmove(b->present + (i + 1) * cols, b->present + i * cols, after * cols);
        b->t_ms[i] = t_ms;
        b->rows++;
    } else {
        i--;
    }
    memset(b->v + i * cols, 0, cols * sizeof(*b->v));
    memset(b->present + i * cols, 0, cols);
    return (long)i;
}

void store_codec_set(struct store_codec_block *b, size_t r, size_t c, int64_t v)
{
    b->v[r * b->cols + c] = v;
    b->present[r * b->cols + c] = 1;
}

static uint64_t zigzag(uint64_t d)
{
    return (d << 1) ^ (uint64_t) - (int64_t)(d >> 63);
}

static uint64_t unzigzag(uint64_t z)
{
    return (z >> 1) ^ (uint64_t) - (int64_t)(z & 1);
}

static uint8_t *put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* A column's present values, in row order, into out; returns how many. */
static size_t gather(const struct store_codec_block *b, size_t c, uint64_t *out)
{
    size_t n = 0;
    for (size_t r = 0; r < b->rows; r++) {
        if (b->present[r * b->cols + c]) {
            out[n++] = (uint64_t)b->v[r * b->cols + c];
        }
    }
    return n;
}

/* Writes n values as the kind (DELTA or DELTA2), or returns its length
 * when p is NULL. */
static size_t put_values(uint8_t *p, const uint64_t *x, size_t n, enum kind kind)
{
    size_t len = 0;
    uint64_t prev = 0;
    uint64_t prev_d = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t d = x[i] - prev;
        uint64_t z = zigzag(kind == KIND_DELTA2 && i >= 2 ? d - prev_d : d);
        if (i == 0) {
            z = zigzag(x[0]);
        }
        if (p) {
            p = put_varint(p, z);
        }
        len += varint_len(z);
        prev = x[i];
        prev_d = d;
    }
    return len;
}

static uint8_t *put_column(uint8_t *p, const struct store_codec_block *b, size_t c, uint64_t *x)
{
    size_t n = gather(b, c, x);
    if (n == 0) {
        *p++ = KIND_ABSENT;
        return p;
    }
    bool constant = true;
    for (size_t i = 1; i < n && constant; i++) {
        constant = x[i] == x[0];
    }
    enum kind kind = KIND_CONSTANT;
    if (!constant) {
        kind = put_values(NULL, x, n, KIND_DELTA2) < put_values(NULL, x, n, KIND_DELTA)
                   ? KIND_DELTA2
                   : KIND_DELTA;
    }
    *p++ = (uint8_t)(kind | (n < b->rows ? BITMAP : 0));
    if (n < b->rows) {
        size_t bytes = (b->rows + 7) / 8;
        memset(p, 0, bytes);
        for (size_t r = 0; r < b->rows; r++) {
            p[r / 8] |= (uint8_t)(b->present[r * b->cols + c] << (r % 8));
        }
        p += bytes;
    }
    if (kind == KIND_CONSTANT) {
        return put_varint(p, zigzag(x[0]));
    }
    put_values(p, x, n, kind);
    return p + put_values(NULL, x, n, kind);
}

/* One deflate stream per thread, reset for each block: compress2() sets up
 * and tears down 256 KiB of state per call, about 330 us against 2.4 us
 * for a reset on a block of a few hundred bytes (measured on the 2-core dev
 * VM), which made converting a file of sparse blocks take minutes. */
static pthread_key_t deflater_key;
static pthread_once_t deflater_once = PTHREAD_ONCE_INIT;

static void deflater_free(void *p)
{
    z_stream *z = p;
    deflateEnd(z);
    free(z);
}

static void deflater_key_make(void)
{
    if (pthread_key_create(&deflater_key, deflater_free) != 0) {
        abort();
    }
}

static z_stream *deflater(void)
{
    pthread_once(&deflater_once, deflater_key_make);
    z_stream *z = pthread_getspecific(deflater_key);
    if (z) {
        return deflateReset(z) == Z_OK ? z : NULL;
    }
    z = xcalloc(1, sizeof(*z));
    if (deflateInit(z, Z_BEST_COMPRESSION) != Z_OK) {
        free(z);
        return NULL;
    }
    if (pthread_setspecific(deflater_key, z) != 0) {
        deflater_free(z);
        return NULL;
    }
    return z;
}

/* Deflates len bytes of in into out (room for *out_len bytes, at least
 * compressBound(len)); false when it cannot (out of memory), and the block
 * is then stored plain. */
static bool deflate_block(uint8_t *out, uLongf *out_len, const uint8_t *in, size_t len)
{
    z_stream *z = deflater();
    if (!z) {
        return false;
    }
    z->next_in = (Bytef *)(uintptr_t)in;
    z->avail_in = (uInt)len;
    z->next_out = out;
    z->avail_out = (uInt)*out_len;
    if (deflate(z, Z_FINISH) != Z_STREAM_END) {
        return false;
    }
    *out_len = z->total_out;
    return true;
}

uint8_t *store_codec_encode(const struct store_codec_block *b, int64_t base_ms, size_t *len)
{
    if (b->rows == 0) {
        return NULL;
    }
    /* Room for the worst case: every varint at its longest. */
    const size_t varint_max = 10;
    size_t bound =
        (2 + b->rows) * varint_max + b->cols * (1 + (b->rows + 7) / 8 + b->rows * varint_max);
    uint8_t *payload = xmalloc(bound);
    uint64_t *x = xmalloc(b->rows * sizeof(*x));
    uint8_t *p = put_varint(payload, b->rows);
    p = put_varint(p, b->cols);
    for (size_t r = 0; r < b->rows; r++) {
        x[r] = (uint64_t)b->t_ms[r] - (uint64_t)base_ms;
    }
    p += put_values(p, x, b->rows, KIND_DELTA2);
    for (size_t c = 0; c < b->cols; c++) {
        p = put_column(p, b, c, x);
    }
    free(x);
    size_t plen = (size_t)(p - payload);

    uLongf zlen = compressBound((uLong)plen);
    uint8_t *out = xmalloc(1 + 10 + zlen);
    if (plen >= DEFLATE_MIN_BYTES &&
        deflate_block(out + 1 + varint_len(plen), &zlen, payload, plen) &&
        1 + varint_len(plen) + zlen < 1 + plen) {
        out[0] = FORMAT_1 | DEFLATED;
        put_varint(out + 1, plen);
        *len = 1 + varint_len(plen) + zlen;
    } else {
        out[0] = FORMAT_1;
        memcpy(out + 1, payload, plen);
        *len = 1 + plen;
    }
    free(payload);
    return out;
}

/* A bounded reader of the payload. */
struct cursor {
    const uint8_t *p;
    const uint8_t *end;
    const char *why; /* set at the first problem; reads then return 0 */
};

static void fail(struct cursor *c, const char *why)
{
    if (!c->why) {
        c->why = why;
    }
    c->p = c->end;
}

static uint64_t get_varint(struct cursor *c)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (c->p >= c->end) {
            fail(c, "truncated");
            return 0;
        }
        uint8_t byte = *c->p++;
        v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80)) {
            return v;
        }
    }
    fail(c, "a number longer than 64 bits");
    return 0;
}

/* Reads n values of a kind into x. */
static void get_values(struct cursor *c, uint64_t *x, size_t n, unsigned kind)
{
    uint64_t d = 0;
    for (size_t i = 0; i < n && !c->why; i++) {
        if (kind == KIND_CONSTANT) {
            x[i] = i == 0 ? unzigzag(get_varint(c)) : x[0];
            continue;
        }
        uint64_t z = unzigzag(get_varint(c));
        if (i == 0) {
            x[0] = z;
            continue;
        }
        d = kind == KIND_DELTA2 && i >= 2 ? d + z : z;
        x[i] = x[i - 1] + d;
    }
}

/* Reads one column's values into column col of b (or nowhere when col is
 * beyond b's columns). */
static void get_column(struct cursor *c, struct store_codec_block *b, size_t col, uint64_t *x)
{
    if (c->p >= c->end) {
        fail(c, "truncated");
        return;
    }
    unsigned mode = *c->p++;
    unsigned kind = mode & ~(unsigned)BITMAP;
    if (kind > KIND_DELTA2 || mode == (KIND_ABSENT | BITMAP)) {
        fail(c, "an unknown column encoding");
        return;
    }
    if (kind == KIND_ABSENT) {
        return;
    }
    const uint8_t *bitmap = NULL;
    size_t n = b->rows;
    if (mode & BITMAP) {
        size_t bytes = (b->rows + 7) / 8;
        if ((size_t)(c->end - c->p) < bytes) {
            fail(c, "truncated");
            return;
        }
        bitmap = c->p;
        c->p += bytes;
        n = 0;
        for (size_t r = 0; r < b->rows; r++) {
            n += (bitmap[r / 8] >> (r % 8)) & 1;
        }
    }
    get_values(c, x, n, kind);
    size_t i = 0;
    for (size_t r = 0; r < b->rows && col < b->cols && !c->why; r++) {
        if (!bitmap || ((bitmap[r / 8] >> (r % 8)) & 1)) {
            store_codec_set(b, r, col, (int64_t)x[i++]);
        }
    }
}

static int decode_payload(struct cursor *c, int64_t base_ms, struct store_codec_block *b)
{
    uint64_t rows = get_varint(c);
    uint64_t cols = get_varint(c);
    if (!c->why && (rows == 0 || rows > STORE_CODEC_MAX_ROWS || cols > STORE_CODEC_MAX_COLS)) {
        fail(c, "an impossible number of rows or columns");
    }
    if (c->why) {
        return -EILSEQ;
    }
    reserve(b, rows);
    b->rows = rows;
    memset(b->present, 0, rows * b->cols);
    memset(b->v, 0, rows * b->cols * sizeof(*b->v));
    uint64_t *x = xmalloc(rows * sizeof(*x));
    get_values(c, x, rows, KIND_DELTA2);
    for (size_t r = 0; r < rows && !c->why; r++) {
        b->t_ms[r] = (int64_t)((uint64_t)base_ms + x[r]);
        if (r > 0 && b->t_ms[r] <= b->t_ms[r - 1]) {
            fail(c, "times out of order");
        }
    }
    for (size_t col = 0; col < cols && !c->why; col++) {
        get_column(c, b, col, x);
    }
    free(x);
    if (!c->why && c->p != c->end) {
        fail(c, "bytes after the last column");
    }
    return c->why ? -EILSEQ : 0;
}

int store_codec_decode(const uint8_t *data, size_t len, int64_t base_ms,
                       struct store_codec_block *b, const char **why)
{
    b->rows = 0;
    *why = NULL;
    if (len < 2 || (data[0] & ~DEFLATED) != FORMAT_1) {
        *why = len < 2 ? "too short" : "an unknown format";
        return -EILSEQ;
    }
    struct cursor c = { .p = data + 1, .end = data + len };
    uint8_t *inflated = NULL;
    if (data[0] & DEFLATED) {
        uint64_t plen = get_varint(&c);
        /* No payload is longer than the worst case of the largest block. */
        if (!c.why && (plen == 0 ||
                       plen > (uint64_t)STORE_CODEC_MAX_ROWS * 11 * (STORE_CODEC_MAX_COLS + 1))) {
            fail(&c, "an impossible length");
        }
        uLongf got = (uLongf)plen;
        if (!c.why) {
            inflated = xmalloc((size_t)plen);
            if (uncompress(inflated, &got, c.p, (uLong)(c.end - c.p)) != Z_OK || got != plen) {
                fail(&c, "a damaged zlib stream");
            }
        }
        if (c.why) {
            free(inflated);
            *why = c.why;
            return -EILSEQ;
        }
        c = (struct cursor){ .p = inflated, .end = inflated + plen };
    }
    int rc = decode_payload(&c, base_ms, b);
    free(inflated);
    if (rc) {
        b->rows = 0;
        *why = c.why;
    }
    return rc;
}
