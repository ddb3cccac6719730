/*
 * gen.h - internals shared by the files of corpus/gen (not an engine
 * header): the seeded RNG, the watch list as the generator sees it, the
 * naive reference matcher, and the output sinks.
 *
 * The generator links the engine only for its normalizer, so "after
 * normalization" means exactly what tenderidx means by it.  Matching is a
 * deliberately simple reimplementation (a hash of every alias prefix,
 * walked from every character): it is the yardstick the ground truth is
 * checked against, so it must not share code with engine/match.
 */
#ifndef TDX_CORPUS_GEN_H
#define TDX_CORPUS_GEN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common/buf.h"
#include "normalize/normalize.h"

/* ---- RNG: splitmix64, one stream per document --------------------------- */

typedef struct rng {
    uint64_t s;
} rng;

static inline uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/** Uniform in [0, n); n > 0. */
static inline uint32_t rng_below(rng *r, uint32_t n)
{
    return (uint32_t)(((rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

/** Uniform in [lo, hi]. */
static inline int64_t rng_range(rng *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(rng_next(r) % (uint64_t)(hi - lo + 1));
}

/** Uniform in [0, 1). */
static inline double rng_unit(rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/** A stream for (seed, stream, index) that does not depend on other streams. */
static inline rng rng_for(uint64_t seed, uint64_t stream, uint64_t index)
{
    rng r = {seed * 0x9E3779B97F4A7C15ULL ^ (stream << 56) ^ index};
    rng_next(&r);
    r.s ^= rng_next(&r);
    return r;
}

/* ---- fatal errors (the generator is a program, not engine code) --------- */

#define GEN_EXIT_OK       0
#define GEN_EXIT_MISMATCH 1
#define GEN_EXIT_USAGE    2
#define GEN_EXIT_FATAL    3

/** Print "gen: message" and exit with GEN_EXIT_FATAL. */
_Noreturn void gen_die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** Print "gen: message" (a warning). */
void gen_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** Allocation that cannot fail (dies instead). */
void *gen_alloc(size_t n);
void *gen_realloc(void *p, size_t n);
char *gen_strndup(const char *s, size_t n);
/** tdx_buf append that dies on failure. */
void gen_put(tdx_buf *b, const void *p, size_t n);
/** A size with an optional k/M/G suffix (powers of 1000) and B: 0, or -1. */
int gen_parse_size(const char *s, uint64_t *out);
/** A non-negative integer (decimal, 0x hex): 0, or -1. */
int gen_parse_u64(const char *s, uint64_t *out);
/** Days since 1970-01-01 -> civil date, and back. */
void gen_ymd(int32_t day, int *y, int *m, int *dd);
int32_t gen_days_from_civil(int y, int m, int d);

/* ---- a string -> uint32 map (open addressing; keys copied) --------------- */

typedef struct gen_strmap {
    char **keys;
    uint32_t *vals;
    size_t cap, n;
} gen_strmap;

/** Value stored for key, or UINT32_MAX. */
uint32_t gen_strmap_get(const gen_strmap *m, const char *key);
/** Store key -> val unless key is present; returns the value stored for key. */
uint32_t gen_strmap_put(gen_strmap *m, const char *key, uint32_t val);
void gen_strmap_free(gen_strmap *m);

/* ---- text helpers -------------------------------------------------------- */

/** Decode one code point (invalid bytes decode as themselves, length 1). */
uint32_t gen_cp(const uint8_t *p, const uint8_t *end, size_t *out_len);
/** Code point that ends just before end (start given to bound the search). */
uint32_t gen_last_cp(const uint8_t *start, const uint8_t *end);
static inline int gen_is_alnum(uint32_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
int gen_is_cjk(uint32_t cp);

/* ---- normalizer ------------------------------------------------------------ */

typedef struct gen_norm {
    tdx_norm *norm;
    tdx_norm_ctx *ctx;
    tdx_norm_out out;
    void *s2t; /* ICU UTransliterator, Simplified-Traditional */
} gen_norm;

void gen_norm_open(gen_norm *gn);
void gen_norm_close(gen_norm *gn);
/**
 * Normalize s[0..len) into out (replaced), with leading and trailing
 * spaces stripped.  Sets *lead_ws / *trail_ws when the source began or
 * ended with white space (either may be NULL).
 */
void gen_normalize(gen_norm *gn, const char *s, size_t len, tdx_buf *out, int *lead_ws,
                   int *trail_ws);
/** Simplified -> Traditional with ICU (the once-per-phrase conversion). */
void gen_to_trad(gen_norm *gn, const char *s, size_t len, tdx_buf *out);
/** ASCII letters and digits -> full-width forms; everything else kept. */
void gen_to_fullwidth(const char *s, size_t len, tdx_buf *out);

/* ---- watch list and reference matcher ------------------------------------- */

enum { ROW_SUBSTRING = 1u << 0, ROW_REGEX = 1u << 1, ROW_UNCHECKED = 1u << 2 };

typedef struct wrow {
    uint32_t entity;
    uint32_t line;
    unsigned flags;
    char *text; /* as written (regex without slashes) */
} wrow;

typedef struct wentity {
    char *name;
    uint32_t category;
    uint32_t *lits; /* literal rows: the plantable aliases */
    uint32_t nlits;
} wentity;

/** A hit of the reference matcher: bytes [start, end) of row. */
typedef struct ghit {
    uint32_t start, end, row;
} ghit;

typedef struct ghits {
    ghit *v;
    size_t n, cap;
} ghits;

/** An entity found inside a planted alias: bytes [start, end) of its rendering. */
typedef struct subhit {
    uint32_t entity, start, end;
} subhit;

/** One rendering of an alias (Traditional, full-width, spaced, case ...). */
typedef struct variant {
    char *text;
    uint32_t len;
    char *norm; /* normalized, stripped */
    uint32_t nlen;
    uint32_t first, last; /* edge code points of norm */
    int ok;               /* the row's own entity is found in it */
    subhit *sub;          /* every entity it makes the matcher report */
    uint32_t nsub;
} variant;

enum { VAR_TRAD = 1, VAR_FW = 2, VAR_SPACED = 4, VAR_CASE = 8, VAR_COMBOS = 16 };

typedef struct watch watch;

/** Load a watch list (dies with FILE:LINE: reason on a bad row). */
watch *watch_load(const char *path, gen_norm *gn);
void watch_free(watch *w);
size_t watch_nrows(const watch *w);
const wrow *watch_row(const watch *w, uint32_t row);
size_t watch_nentities(const watch *w);
const wentity *watch_entity(const watch *w, uint32_t e);
const char *watch_category(const watch *w, uint32_t c);
/** Number of regex rows that could not be expanded (not checked exactly). */
size_t watch_unchecked(const watch *w);
/** Longest normalized key in bytes. */
size_t watch_maxlen(const watch *w);

/**
 * All hits in t[0..len) with start in [from, to): raw, before the rules
 * (boundary, leftmost start of a regex).  Appends to out.
 */
void watch_scan_raw(const watch *w, const uint8_t *t, size_t len, size_t from, size_t to,
                    ghits *out);
/**
 * The hits tenderidx must report in normalized text t: every row's
 * occurrences, regexes reduced to the leftmost start per end, then the
 * boundary rule; sorted by (start, end, row).  out is replaced.
 */
void watch_scan(const watch *w, const uint8_t *t, size_t len, ghits *out);
/** 1 when some alias could occur across position j of t (a junction). */
int watch_crosses(const watch *w, const uint8_t *t, size_t len, size_t j_lo, size_t j_hi);
/** 0 when t cannot hold any key (no adjacent pair of it occurs in one). */
int watch_may_hold(const watch *w, const uint8_t *t, size_t len);
/** 1 when the code-point pair (a, b) occurs in some normalized alias. */
int watch_pair(const watch *w, uint32_t a, uint32_t b);
/** The rendering of row with the VAR_* transforms in combo (memoized). */
const variant *watch_variant(watch *w, gen_norm *gn, uint32_t row, unsigned combo);

void ghits_push(ghits *h, uint32_t start, uint32_t end, uint32_t row);

#endif
