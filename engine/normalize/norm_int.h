/*
 * norm_int.h - internals shared by the normalizer's source files (table
 * layout, per-thread scratch) and by its tests and benchmark.  Not part of
 * the engine's interface: other stages include normalize.h only.
 */
#ifndef TDX_NORM_INT_H
#define TDX_NORM_INT_H

#include "normalize.h"

#include <unicode/unorm2.h>
#include <unicode/utrans.h>

/*
 * Fast entry: one uint32 per code point, the answer of the whole step chain
 * for that character alone, plus what the hot loop must know about its
 * neighbours.
 *   bits 0-23  UTF-8 bytes of the single output character (when FE_LEN != 0)
 *   bits 24-25 output length in bytes; 0 = output is the input (identity;
 *              only in the two-stage table: fast_bmp spells identity out,
 *              so the hot loop stores without a branch)
 *   bits 26-27 character class of the output (TDX_CC_*); on a SPECIAL
 *              entry TDX_CC_SPACE marks plain white space (one white-space
 *              character out, boundary before) and 0 everything else
 *   bit 28     SPECIAL: the table alone cannot answer (no boundary before,
 *              deleted, several output characters, white space, ...)
 *   bit 29     NB: no nfkc_cf boundary before this character
 *   bit 30     PFIRST: first character of some multi-character t2s rule
 *   bit 31     INS: member of S, the characters of multi-character t2s rules
 * PFIRST and INS are only set when nfkc_cf leaves the character unchanged;
 * a character that nfkc_cf maps into S is SPECIAL instead.
 */
/*
 * fast_bmp holds 64-bit entries: the fast entry in the low half; in the
 * high half the character's index among the first characters of t2s rule
 * keys (bits 0-11, 0 = none) and a 6-bit hash of it as a second character
 * (bits 16-21; 63 = not a second character).  pairmask[first index] has bit
 * h set when some key starts with that first character and a second one of
 * hash h, so the hot loop filters "does a rule start here" with one load
 * from a 4 KB array and no branch on the common path; a hit is confirmed
 * exactly with the pair hash.
 */
#define FX_FIDX(x) ((uint32_t)((x) >> 32) & 0xFFFu)
#define FX_SH(x)   ((uint32_t)((x) >> 48) & 0x3Fu)
#define FX_MAXIDX  0xFFFu
#define FX_NOSH    63u

#define FE_LEN_SHIFT 24
#define FE_LEN(e)    (((e) >> FE_LEN_SHIFT) & 3u)
#define FE_CLS_SHIFT 26
#define FE_CLS(e)    (((e) >> FE_CLS_SHIFT) & 3u)
#define FE_SPECIAL   (1u << 28)
#define FE_NB        (1u << 29)
#define FE_PFIRST    (1u << 30)
#define FE_INS       (1u << 31)
/* SPECIAL, and not plain white space (which no t2s rule or composition
 * reaches across). */
#define FE_HARD(e) (((e)&FE_SPECIAL) && FE_CLS(e) != TDX_CC_SPACE)

/*
 * Map entry (nf and t1 tables): 0 = identity; otherwise bits 0-20 hold a
 * code point, or with MAP_STR the pool offset of a string [len, cp...].
 * t1 entries also carry S membership (MAP_S) and PFIRST (MAP_FIRST).
 */
#define MAP_VAL_MASK 0x1FFFFFu
#define MAP_STR      (1u << 21)
#define MAP_S        (1u << 22)
#define MAP_FIRST    (1u << 23)
#define MAP_NB       (1u << 24) /* nf entries: no nfkc_cf boundary before */

/* Two-stage table over all code points: 256-entry blocks, shared when equal. */
typedef struct cptab {
    uint16_t idx[0x1100];
    uint32_t *blocks;
    size_t nblocks;
} cptab;

static inline uint32_t cptab_get(const cptab *t, uint32_t cp)
{
    return t->blocks[((size_t)t->idx[cp >> 8] << 8) | (cp & 0xFF)];
}

/*
 * A multi-character t2s rule: lhs and rhs are pool strings (code points);
 * lhs8/rhs8 index the same strings in UTF-8 in the byte pool, so the fast
 * path can compare and copy bytes.
 */
typedef struct norm_phrase {
    uint32_t lhs, rhs;
    uint32_t lhs8, lhs8_len, rhs8, rhs8_len;
} norm_phrase;

/* Pair hash slot: the first two characters of a rule's left side. */
typedef struct norm_pair {
    uint64_t key;          /* (a << 21 | b) + 1; 0 = empty slot */
    uint32_t first, count; /* phrases[first .. first+count), longest first */
} norm_pair;

struct tdx_norm {
    unsigned steps;
    unsigned flags; /* TDX_NORM_X_* */
    int t2s_icu;    /* t2s runs of S characters through ICU (rules not understood) */
    const UNormalizer2 *nfkc_cf;
    uint64_t *fast_bmp; /* 0x10000 fast entries with pair indexes, direct */
    uint64_t *pairmask; /* per first-character index: hashes of its second characters */
    size_t npairmask;
    cptab fast;         /* fast entries for every code point */
    cptab nf;           /* nfkc_cf of one character */
    cptab t1;           /* t2s of one character (+ MAP_S, MAP_FIRST) */
    uint32_t *pool;     /* strings: length, then code points */
    size_t npool;
    norm_phrase *phrases;
    size_t nphrases;
    uint8_t *bpool; /* UTF-8 of phrase keys and replacements */
    size_t nbpool;
    int phrase_inline; /* rule keys are inert under nfkc_cf: fast path may match them */
    norm_pair *pairs;  /* open addressing, npairs_cap a power of two */
    size_t npairs_cap;
    uint64_t e_invalid; /* fast entry used for an ill-formed sequence */
    int ascii_block;    /* 8-byte ASCII blocks may be copied (and case folded) */
    size_t table_bytes;
    char identity[192];
    int from_cache; /* the tables were loaded from the cache directory */
};

/* Code point with the source byte range it came from. */
typedef struct norm_cp {
    uint32_t cp;
    uint32_t s0, s1;
} norm_cp;

/* A run of t2s output entries sharing one source range (see push_b). */
typedef struct norm_grp {
    size_t first;
    uint32_t s0, s1;
} norm_grp;

struct tdx_norm_ctx {
    UTransliterator *t2s; /* opened on first need */
    norm_cp *a, *b;
    size_t cap_a, cap_b;
    norm_grp *g;
    size_t cap_g, ng;
    UChar *u16, *v16;
    size_t cap_u16, cap_v16;
};

/* Internal creation flags, for tests. */
enum {
    TDX_NORM_X_ICU_T2S = 1u << 0, /* take the ICU fallback for t2s runs */
    TDX_NORM_X_NO_FAST = 1u << 1, /* general path only (one window per text) */
};

int tdx_norm_create_ex(unsigned steps, unsigned xflags, tdx_norm **out_norm, tdx_err *err);

/* Size of the tables of n in bytes. */
size_t tdx_norm_table_bytes(const tdx_norm *n);

/* The class byte table (class bits 0-1, width bits 2-3), NULL if ICU failed. */
const uint8_t *norm_class_table(void);

/*
 * Make tab (0x110000 bytes) the process's class table unless one is set
 * already; 0 when the process's table equals tab afterwards, -1 otherwise
 * (a cached table that disagrees with this process's ICU must not be used).
 */
int norm_class_install(const uint8_t *tab);

/* Build the tables of n (n->steps, n->flags set); norm_build.c. */
int norm_build(tdx_norm *n, tdx_err *err);
void norm_build_free(tdx_norm *n);

/* Pool string at off: length in *out_len, code points returned. */
static inline const uint32_t *norm_pool_str(const tdx_norm *n, uint32_t off, uint32_t *out_len)
{
    *out_len = n->pool[off];
    return n->pool + off + 1;
}

/*
 * Apply a map entry (nf or t1) of cp: returns the number of code points and
 * points *out at them (buf, one slot, holds a single code point).
 */
static inline uint32_t norm_map_apply(const tdx_norm *n, uint32_t e, uint32_t cp, uint32_t *buf,
                                      const uint32_t **out)
{
    if ((e & (MAP_VAL_MASK | MAP_STR)) == 0) {
        buf[0] = cp;
        *out = buf;
        return 1;
    }
    if (e & MAP_STR) {
        uint32_t len;
        *out = norm_pool_str(n, e & MAP_VAL_MASK, &len);
        return len;
    }
    buf[0] = e & MAP_VAL_MASK;
    *out = buf;
    return 1;
}

/* Fast entry of a scalar value. */
static inline uint32_t norm_fast(const tdx_norm *n, uint32_t cp)
{
    return cp < 0x10000 ? (uint32_t)n->fast_bmp[cp] : cptab_get(&n->fast, cp);
}

/* Hash of a second character of a rule key, 0..62. */
static inline uint32_t norm_second_hash(uint32_t cp)
{
    return ((cp * 2654435761u) >> 16) % 63u;
}

/* Phrases starting with the pair (a, b), or NULL. */
static inline const norm_pair *norm_pair_find(const tdx_norm *n, uint32_t a, uint32_t b)
{
    if (n->npairs_cap == 0)
        return NULL;
    uint64_t key = (((uint64_t)a << 21) | b) + 1;
    size_t mask = n->npairs_cap - 1;
    size_t i = (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 40) & mask;
    while (n->pairs[i].key != 0) {
        if (n->pairs[i].key == key)
            return &n->pairs[i];
        i = (i + 1) & mask;
    }
    return NULL;
}

/* Open the context's transliterator if it is not open yet. */
int norm_ctx_t2s(tdx_norm_ctx *c, tdx_err *err);

/* Open ICU's Traditional-Simplified transliterator (owned: utrans_close). */
int norm_open_t2s(UTransliterator **out, tdx_err *err);

/* Record an ICU failure: TDX_ENOMEM for allocation errors, else TDX_EINTERNAL. */
int norm_icu_err(tdx_err *err, const char *what, UErrorCode st);

#endif
