/* libFuzzer target: the raw-sample block decoder (store/codec.c) on
 * arbitrary bytes, as a damaged disk could present them: each input is
 * refused with a reason or decoded into a block in time order, and
 * whatever decodes encodes again to the same rows. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "store/codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const int64_t base_ms = 1800000000000LL;
    struct store_codec_block b;
    store_codec_init(&b, 31);
    const char *why = NULL;
    if (store_codec_decode(data, size, base_ms, &b, &why) != 0) {
        if (!why || b.rows != 0) {
            __builtin_trap();
        }
        store_codec_free(&b);
        return 0;
    }
    for (size_t r = 1; r < b.rows; r++) {
        if (b.t_ms[r] <= b.t_ms[r - 1]) {
            __builtin_trap();
        }
    }
    size_t len = 0;
    uint8_t *again = store_codec_encode(&b, base_ms, &len);
    struct store_codec_block c;
    store_codec_init(&c, 31);
    if (!again || store_codec_decode(again, len, base_ms, &c, &why) != 0 || c.rows != b.rows) {
        __builtin_trap();
    }
    for (size_t i = 0; i < b.rows * b.cols; i++) {
        if (b.present[i] != c.present[i] || (b.present[i] && b.v[i] != c.v[i])) {
            __builtin_trap();
        }
    }
    free(again);
    store_codec_free(&c);
    store_codec_free(&b);
    return 0;
}
