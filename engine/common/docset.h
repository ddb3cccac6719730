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

typedef struct tdx_docset {
    uint32_t *v;
    size_t n, cap;
} tdx_docset;

void tdx_docset_free(tdx_docset *d);
int tdx_docset_push(tdx_docset *d, uint32_t id);
int tdx_docset_reserve(tdx_docset *d, size_t extra);
int tdx_docset_copy(tdx_docset *dst, const tdx_docset *src);
/** out = a ∩ b (out may alias neither input). */
int tdx_docset_and(const tdx_docset *a, const tdx_docset *b, tdx_docset *out);
/** out = a ∪ b. */
int tdx_docset_or(const tdx_docset *a, const tdx_docset *b, tdx_docset *out);
/** out = a − b. */
int tdx_docset_sub(const tdx_docset *a, const tdx_docset *b, tdx_docset *out);
/** 1 if id is in d (binary search). */
int tdx_docset_has(const tdx_docset *d, uint32_t id);
/** Sort and remove repeats in place. */
void tdx_docset_normalize(tdx_docset *d);

#endif
