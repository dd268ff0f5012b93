#include "util/gzip.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>

#include "util/xalloc.h"

int gzip_compress(const void *in, size_t len, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    z_stream zs = { 0 };
    /* 15 window bits + 16: a gzip wrapper; level 6, zlib's default. */
    if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        return -EIO;
    }
    size_t cap = deflateBound(&zs, (uLong)len) + 32;
    char *buf = xmalloc(cap);
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)len;
    zs.next_out = (Bytef *)buf;
    zs.avail_out = (uInt)cap;
    int rc = deflate(&zs, Z_FINISH);
    size_t n = cap - zs.avail_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        free(buf);
        return -EIO;
    }
    *out = buf;
    *out_len = n;
    return 0;
}
