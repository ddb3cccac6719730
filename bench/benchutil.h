/*
 * benchutil.h - timing, seeded randomness and order statistics shared by
 * the programs scripts/bench.sh drives (bench_query, bench_extract,
 * peer_stages, peer_fts5).
 *
 * Header-only (static inline) so that each program is still one .c file
 * in bench/meson.build.  Figures are printed by the programs as single
 * lines "TAG key=value key=value ..." that bench.sh collects; every line
 * carries a checksum so no work can be optimized away.
 */
#ifndef TDX_BENCHUTIL_H
#define TDX_BENCHUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

/** Clock `id` (CLOCK_MONOTONIC, CLOCK_THREAD_CPUTIME_ID …) in seconds. */
static inline double bu_clock(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/** Monotonic clock in seconds. */
static inline double bu_now(void)
{
    return bu_clock(CLOCK_MONOTONIC);
}

/** splitmix64: the same generator as the corpus and the tests. */
static inline uint64_t bu_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/** Uniform in [0, n), n > 0. */
static inline size_t bu_below(uint64_t *state, size_t n)
{
    return (size_t)(bu_rand(state) % n);
}

static inline int bu_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/**
 * Nearest-rank percentile (p in [0, 100]) of v[0..n); sorts v in place.
 * 0 for an empty array.
 */
static inline double bu_percentile(double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, bu_cmp_double);
    size_t rank = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1];
}

static inline double bu_median(double *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, bu_cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static inline double bu_min(const double *v, size_t n)
{
    double m = n ? v[0] : 0;
    for (size_t i = 1; i < n; i++)
        m = v[i] < m ? v[i] : m;
    return m;
}

/*
 * One pass of a query class: out[k][run] for k = p50, p95, p99, max, mean
 * of the m latencies in v (sorted in place).
 */
enum { BU_P50, BU_P95, BU_P99, BU_MAX, BU_MEAN, BU_NSTAT };

static inline void bu_summarize(double *v, size_t m, double *out[BU_NSTAT], int run)
{
    double tot = 0;
    for (size_t i = 0; i < m; i++)
        tot += v[i];
    out[BU_P50][run] = bu_percentile(v, m, 50);
    out[BU_P95][run] = bu_percentile(v, m, 95);
    out[BU_P99][run] = bu_percentile(v, m, 99);
    out[BU_MAX][run] = m ? v[m - 1] : 0;
    out[BU_MEAN][run] = m ? tot / (double)m : 0;
}

/** FNV-1a step, for checksums over results. */
static inline uint64_t bu_mix(uint64_t h, uint64_t x)
{
    for (int i = 0; i < 8; i++) {
        h ^= (x >> (8 * i)) & 0xff;
        h *= 0x100000001b3ULL;
    }
    return h;
}

#define BU_FNV_INIT 0xcbf29ce484222325ULL

/*
 * The query set bench_query writes and peer_fts5 reads: one query per line,
 * CLASS<TAB>LIMIT<TAB>tenderidx query<TAB>SQL; '#' lines are comments.
 */
enum { BU_NCLASS = 6 };

static inline const char *bu_class_name(int c)
{
    static const char *const names[BU_NCLASS] = {"entity", "cat",      "and2",
                                                 "sub20",  "subcount", "facet"};
    return c >= 0 && c < BU_NCLASS ? names[c] : "?";
}

/** Class number of a name, -1 if unknown. */
static inline int bu_class_of(const char *name)
{
    for (int c = 0; c < BU_NCLASS; c++)
        if (strcmp(name, bu_class_name(c)) == 0)
            return c;
    return -1;
}

/**
 * Split a line of the query set in place: strips the line break, fills
 * cols[0..ncols) (NULL where the line has fewer cells).  Returns 0 for a
 * blank or comment line, 1 otherwise.
 */
static inline int bu_split_line(char *line, ssize_t len, char **cols, int ncols)
{
    if (len > 0 && line[len - 1] == '\n')
        line[--len] = 0;
    if (len == 0 || line[0] == '#')
        return 0;
    cols[0] = line;
    for (int k = 1; k < ncols; k++) {
        char *t = cols[k - 1] ? strchr(cols[k - 1], '\t') : NULL;
        if (t)
            *t = 0;
        cols[k] = t ? t + 1 : NULL;
    }
    return 1;
}

/** Parse a size such as 256M, 1G, 4096; 0 on a malformed value. */
static inline uint64_t bu_parse_size(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0)
        return 0;
    switch (*end) {
    case 'k':
    case 'K':
        v *= 1024.0;
        end++;
        break;
    case 'm':
    case 'M':
        v *= 1024.0 * 1024.0;
        end++;
        break;
    case 'g':
    case 'G':
        v *= 1024.0 * 1024.0 * 1024.0;
        end++;
        break;
    default:
        break;
    }
    return *end ? 0 : (uint64_t)v;
}

#endif
