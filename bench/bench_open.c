/* Times opening a database as the CLI's queries do (read-only: no page
 * check) and as the agent and `db prune`/`db rebuild` do (read-write: the
 * quick_check of every page before anything is written), medians over
 * rounds on the same file, warm in the page cache after the first. Prints
 * figures; asserts nothing. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "store/store.h"
#include "util/strparse.h"

static uint64_t now_ns(void)
{
    struct timespec ts = { 0 };
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The median time of rounds opens (and closes) in mode, in ns, as the
 * agent after a clean stop opens when marked (no page check); 0 when an
 * open fails (said on stderr). */
static uint64_t median_open_ns(const char *path, enum store_mode mode, bool marked, size_t rounds)
{
    uint64_t *t = calloc(rounds, sizeof(*t));
    if (!t) {
        return 0;
    }
    uint64_t median = 0;
    for (size_t i = 0; i < rounds; i++) {
        struct store *s = NULL;
        struct gp_err err = { 0 };
        uint64_t t0 = now_ns();
        int rc = store_open_private(path, mode, NULL, marked, &s, &err);
        store_close(s);
        t[i] = now_ns() - t0;
        if (rc) {
            fprintf(stderr, "bench_open: %s\n", err.msg);
            goto out;
        }
    }
    qsort(t, rounds, sizeof(*t), cmp_u64);
    median = t[rounds / 2];
out:
    free(t);
    return median;
}

int main(int argc, char **argv)
{
    uint64_t rounds = 5;
    if (argc < 2 || (argc > 2 && (strparse_u64(argv[2], 1000, &rounds) != 0 || rounds == 0))) {
        fprintf(stderr, "usage: bench_open DATABASE [ROUNDS]\n");
        return 2;
    }
    struct stat st;
    if (stat(argv[1], &st) != 0) {
        perror(argv[1]);
        return 1;
    }
    /* one open first, so every round finds the file in the page cache */
    uint64_t first = median_open_ns(argv[1], STORE_READ_WRITE, false, 1);
    uint64_t ro = median_open_ns(argv[1], STORE_READ_ONLY, false, (size_t)rounds);
    uint64_t rw = median_open_ns(argv[1], STORE_READ_WRITE, false, (size_t)rounds);
    uint64_t marked = median_open_ns(argv[1], STORE_READ_WRITE, true, (size_t)rounds);
    if (!first || !ro || !rw || !marked) {
        return 1;
    }
    double mib = (double)st.st_size / 1048576.0;
    printf("file: %.0f MiB\n", mib);
    printf("first read-write open (page cache as found): %.3f s\n", (double)first / 1e9);
    printf("read-only open (queries; no check), median of %llu: %.2f ms\n",
           (unsigned long long)rounds, (double)ro / 1e6);
    printf("read-write open (quick_check), median of %llu: %.3f s (%.2f s per GiB), %.0fx the "
           "read-only open\n",
           (unsigned long long)rounds, (double)rw / 1e9, (double)rw / 1e9 / (mib / 1024.0),
           (double)rw / (double)ro);
    printf("read-write open after a clean stop (the mark; no check), median of %llu: %.2f ms, "
           "%.1fx the read-only open\n",
           (unsigned long long)rounds, (double)marked / 1e6, (double)marked / (double)ro);
    return 0;
}
