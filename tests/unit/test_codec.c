/* The raw-sample block codec (store/codec.c): every value comes back as it
 * went in, absent stays absent, a minute of steady readings costs a few
 * bytes, and damaged data is refused with a reason, never read past. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gp_cmocka.h"
#include "store/codec.h"
#include "util/common.h"

#define BASE_MS 1800000000000LL

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint64_t next_random(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void assert_same_block(const struct store_codec_block *a, const struct store_codec_block *b)
{
    assert_int_equal(a->rows, b->rows);
    for (size_t r = 0; r < a->rows; r++) {
        assert_int_equal(a->t_ms[r], b->t_ms[r]);
        for (size_t c = 0; c < a->cols && c < b->cols; c++) {
            size_t i = r * a->cols + c;
            size_t j = r * b->cols + c;
            assert_int_equal(a->present[i], b->present[j]);
            if (a->present[i]) {
                assert_int_equal(a->v[i], b->v[j]);
            }
        }
    }
}

static void roundtrip(const struct store_codec_block *b, size_t *len_out)
{
    size_t len = 0;
    uint8_t *data = store_codec_encode(b, BASE_MS, &len);
    assert_non_null(data);
    struct store_codec_block back;
    store_codec_init(&back, b->cols);
    const char *why = NULL;
    assert_int_equal(store_codec_decode(data, len, BASE_MS, &back, &why), 0);
    assert_same_block(b, &back);
    store_codec_free(&back);
    free(data);
    if (len_out) {
        *len_out = len;
    }
}

/* Columns of every shape a GPU has: constants, a counter, noise, a
 * sometimes-absent reading, a never-read one, the extremes of int64_t. */
static void fill(struct store_codec_block *b, size_t rows, int64_t step_ms, uint64_t jitter_ms)
{
    int64_t t = BASE_MS + 3;
    int64_t energy = 123456789;
    for (size_t k = 0; k < rows; k++) {
        long r = store_codec_row(b, t);
        assert_true(r >= 0);
        size_t i = (size_t)r;
        int64_t power = 300000 + (int64_t)(next_random() % 50000);
        energy += power;
        store_codec_set(b, i, 0, 0);
        store_codec_set(b, i, 1, energy);
        store_codec_set(b, i, 2, power);
        if (next_random() % 3 != 0) {
            store_codec_set(b, i, 3, (int64_t)(next_random() % 101));
        }
        store_codec_set(b, i, 5, k % 2 ? INT64_MIN : INT64_MAX);
        store_codec_set(b, i, 6, -(int64_t)(next_random() % 1000));
        t += step_ms + (int64_t)(jitter_ms ? next_random() % jitter_ms : 0);
    }
}

static void every_value_comes_back(void **state)
{
    (void)state;
    static const struct {
        size_t rows;
        int64_t step_ms;
        uint64_t jitter_ms;
    } shapes[] = {
        { 1, 1000, 0 }, { 60, 1000, 0 }, { 60, 990, 20 }, { 600, 100, 3 }, { 7, 7000, 500 }
    };
    for (size_t s = 0; s < GP_ARRAY_LEN(shapes); s++) {
        struct store_codec_block b;
        store_codec_init(&b, 8);
        fill(&b, shapes[s].rows, shapes[s].step_ms, shapes[s].jitter_ms);
        roundtrip(&b, NULL);
        store_codec_free(&b);
    }
}

static void rows_keep_time_order_and_a_time_is_written_once(void **state)
{
    static const int64_t times[] = { 5000, 1000, 3000, 3000, 60000 };
    struct store_codec_block b = { 0 };
    (void)state;
    store_codec_init(&b, 2);
    for (size_t k = 0; k < GP_ARRAY_LEN(times); k++) {
        long r = store_codec_row(&b, BASE_MS + times[k]);
        store_codec_set(&b, (size_t)r, 0, (int64_t)k);
    }
    assert_int_equal(b.rows, 4);
    assert_int_equal(b.t_ms[0], BASE_MS + 1000);
    assert_int_equal(b.t_ms[1], BASE_MS + 3000);
    assert_int_equal(b.v[1 * b.cols], 3); /* the later write of 3000 replaced the first */
    assert_int_equal(b.present[1 * b.cols + 1], 0);
    assert_int_equal(b.t_ms[3], BASE_MS + 60000);
    roundtrip(&b, NULL);
    store_codec_free(&b);
}

/* A block written with more columns than the reader knows, or fewer. */
static void columns_added_later_read_as_absent(void **state)
{
    (void)state;
    struct store_codec_block b;
    store_codec_init(&b, 8);
    fill(&b, 60, 1000, 0);
    size_t len = 0;
    uint8_t *data = store_codec_encode(&b, BASE_MS, &len);
    const char *why = NULL;
    struct store_codec_block fewer;
    store_codec_init(&fewer, 3);
    assert_int_equal(store_codec_decode(data, len, BASE_MS, &fewer, &why), 0);
    assert_same_block(&b, &fewer);
    struct store_codec_block more;
    store_codec_init(&more, 12);
    assert_int_equal(store_codec_decode(data, len, BASE_MS, &more, &why), 0);
    assert_same_block(&b, &more);
    for (size_t r = 0; r < more.rows; r++) {
        assert_int_equal(more.present[r * more.cols + 10], 0);
    }
    store_codec_free(&fewer);
    store_codec_free(&more);
    store_codec_free(&b);
    free(data);
}

/* A GPU at rest for a minute at 1 s: 31 columns, mostly constant. */
static void a_steady_minute_costs_a_few_bytes(void **state)
{
    (void)state;
    struct store_codec_block b;
    store_codec_init(&b, 31);
    for (int k = 0; k < 60; k++) {
        long r = store_codec_row(&b, BASE_MS + k * 1000 + 2);
        for (size_t c = 0; c < 25; c++) {
            store_codec_set(&b, (size_t)r, c, (int64_t)(c * 1000 + 7));
        }
        store_codec_set(&b, (size_t)r, 25, 1000000 + k * 60000); /* energy at 60 W */
    }
    size_t len = 0;
    roundtrip(&b, &len);
    /* under 3 bytes a row, where schema 3 took about 100 (a row of its
     * samples table) */
    assert_true(len < 180);
    store_codec_free(&b);
}

/* Every cut and many flipped bytes of valid blocks: refused with a
 * reason, or (a flip that still makes a block) decoded; never a read
 * outside the data (the sanitizers watch). */
static void damage_is_refused_with_a_reason(void **state)
{
    (void)state;
    for (int variant = 0; variant < 2; variant++) {
        struct store_codec_block b;
        store_codec_init(&b, 8);
        fill(&b, variant ? 60 : 3, 1000, 5);
        size_t len = 0;
        uint8_t *data = store_codec_encode(&b, BASE_MS, &len);
        struct store_codec_block out;
        store_codec_init(&out, 8);
        const char *why = NULL;
        for (size_t cut = 0; cut < len; cut++) {
            uint8_t *copy = malloc(cut ? cut : 1);
            memcpy(copy, data, cut);
            assert_int_equal(store_codec_decode(copy, cut, BASE_MS, &out, &why), -EILSEQ);
            assert_non_null(why);
            assert_int_equal(out.rows, 0);
            free(copy);
        }
        for (int k = 0; k < 2000; k++) {
            uint8_t *copy = malloc(len);
            memcpy(copy, data, len);
            copy[next_random() % len] ^= (uint8_t)(1 + next_random() % 255);
            int rc = store_codec_decode(copy, len, BASE_MS, &out, &why);
            assert_true(rc == 0 || (rc == -EILSEQ && why && out.rows == 0));
            free(copy);
        }
        store_codec_free(&out);
        store_codec_free(&b);
        free(data);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_value_comes_back),
        cmocka_unit_test(rows_keep_time_order_and_a_time_is_written_once),
        cmocka_unit_test(columns_added_later_read_as_absent),
        cmocka_unit_test(a_steady_minute_costs_a_few_bytes),
        cmocka_unit_test(damage_is_refused_with_a_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
