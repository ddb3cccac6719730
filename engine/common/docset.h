/*
 * docset.h - sorted sets of doc ids and the set algebra queries run on them.
 *
 * A tdx_docset is a strictly increasing array of uint32 doc ids.
 * Intersections gallop (exponential then binary search in the longer list),
 * so AND of a rare and a common term costs O(small * log(large)).
 */
#ifndef TDX_COMMON_DOCSET_H
#define TDX_COMMON_DOCSET_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

typedef struct tdx_docset {
    uint32_t *v;
    size_t n, cap;
} tdx_docset;

void tdx_docset_free(tdx_docset *d);
int tdx_docset_reserve(tdx_docset *d, size_t extra);
/** Append id (greater than the last): 0 or TDX_ENOMEM.  Inline: walks push
 * every answer, hundreds of thousands a query. */
static inline int tdx_docset_push(tdx_docset *d, uint32_t id)
{
    if (d->n == d->cap && tdx_docset_reserve(d, 1))
        return TDX_ENOMEM;
    d->v[d->n++] = id;
    return 0;
}
int tdx_docset_copy(tdx_docset *dst, const tdx_docset *src);
/** out = a ∩ b (out may alias neither input). */
int tdx_docset_and(const tdx_docset *a, const tdx_docset *b, tdx_docset *out);
/** out = a ∪ b. */
int tdx_docset_or(const tdx_docset *a, const tdx_docset *b, tdx_docset *out);
/** out = a − b. */
int tdx_docset_sub(const tdx_docset *a, const tdx_docset *b, tdx_docset *out);
/**
 * First index i >= lo with v[i] >= x in ascending v[0..n), galloping from
 * lo.  Inline: walks and proofs call it per doc, and most calls end at lo
 * or one past it.
 */
static inline size_t tdx_u32_gallop(const uint32_t *v, size_t n, size_t lo, uint32_t x)
{
    if (lo >= n || v[lo] >= x)
        return lo;
#if defined(__SSE2__)
    /* The next 32 first, eight at a time: a walk's steps are mostly that
     * short, and a compare of eight costs less than the mispredicted
     * branches of a search.  Sorted, the ones below x are a prefix.
     * (SSE2 compares signed: both sides are offset by 2^31.) */
    {
        const __m128i bias = _mm_set1_epi32(INT32_MIN);
        const __m128i xv = _mm_set1_epi32((int32_t)(x ^ 0x80000000u));
        size_t i = lo + 1;
        for (int r = 0; r < 4 && i + 8 <= n; r++, i += 8) {
            __m128i a =
                _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)(v + i)), bias);
            __m128i b =
                _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)(v + i + 4)), bias);
            unsigned below = (unsigned)_mm_movemask_ps(_mm_castsi128_ps(_mm_cmplt_epi32(a, xv))) |
                             (unsigned)_mm_movemask_ps(_mm_castsi128_ps(_mm_cmplt_epi32(b, xv)))
                                 << 4;
            if (below != 0xFF)
                return i + (size_t)__builtin_ctz(~below);
        }
        lo = i - 1; /* v[lo] < x */
    }
#endif
    if (lo + 1 >= n || v[lo + 1] >= x)
        return lo + 1;
    size_t step = 2, hi = lo + 1;
    while (hi < n && v[hi] < x) {
        lo = hi + 1;
        hi += step;
        step *= 2;
    }
    if (hi > n)
        hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}
/*
 * Phrase matching over sorted position lists: term i's positions are
 * pos[i][0 .. np[i]) and its offset in the phrase off[i].  From the anchor
 * term's position *j on, the next start s (an anchor position minus
 * off[anchor]) at which every term i holds s + off[i]: 1 with *start set
 * and *j past it, 0 when there is none.  at[0 .. k) (zeroed before the first
 * call) carries each term's search on, since starts ascend.
 */
static inline int tdx_phrase_next(const uint32_t *const *pos, const size_t *np, const uint32_t *off,
                                  size_t k, size_t anchor, size_t *j, size_t *at, uint32_t *start)
{
    for (; *j < np[anchor]; (*j)++) {
        uint32_t p = pos[anchor][*j];
        if (p < off[anchor])
            continue;
        uint32_t s = p - off[anchor];
        size_t i;
        for (i = 0; i < k; i++) {
            if (i == anchor)
                continue;
            uint32_t want = s + off[i];
            at[i] = tdx_u32_gallop(pos[i], np[i], at[i], want);
            if (at[i] == np[i])
                return 0; /* no later start can hold term i */
            if (pos[i][at[i]] != want)
                break;
        }
        if (i == k) {
            (*j)++;
            *start = s;
            return 1;
        }
    }
    return 0;
}

/** 1 if id is in d (binary search). */
int tdx_docset_has(const tdx_docset *d, uint32_t id);
/**
 * 1 if id is in d, searching from *at (0 at first), which it moves past
 * the ids below id: asked in increasing order, a walk over d costs one
 * pass instead of a binary search per id.  Any order stays correct.
 * Inline: walks ask it per document, most often of an empty set (no
 * deleted documents).
 */
static inline int tdx_docset_has_from(const tdx_docset *d, size_t *at, uint32_t id)
{
    if (d->n == 0) {
        *at = 0;
        return 0;
    }
    size_t from = *at;
    if (from > d->n || (from > 0 && d->v[from - 1] >= id))
        from = 0; /* asked out of order: start over */
    size_t i = tdx_u32_gallop(d->v, d->n, from, id);
    *at = i;
    return i < d->n && d->v[i] == id;
}
/** Sort and remove repeats in place. */
void tdx_docset_normalize(tdx_docset *d);

/*
 * Union of many sets: a bitmap over the ids, read out in order at the end.
 * Adding k sets costs their total size plus universe/64 words to read out,
 * where merging them two at a time costs k times the size of the result.
 */
typedef struct tdx_docbits {
    uint64_t *w;
    size_t nw;
} tdx_docbits;

/** An empty union over ids below universe (it grows past that on demand). */
int tdx_docbits_init(tdx_docbits *b, uint32_t universe);
/** b ∪= d. */
int tdx_docbits_add(tdx_docbits *b, const tdx_docset *d);
/** out = the ids of b, in order; b is emptied and freed. */
int tdx_docbits_take(tdx_docbits *b, tdx_docset *out);
void tdx_docbits_free(tdx_docbits *b);

#endif
