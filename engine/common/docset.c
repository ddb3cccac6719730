/*
 * docset.c - sorted doc-id sets (see docset.h).
 */
#include "docset.h"

#include "alloc.h"
#include "err.h"

#include <stdlib.h>
#include <string.h>

void tdx_docset_free(tdx_docset *d)
{
    tdx_free(d->v);
    d->v = NULL;
    d->n = d->cap = 0;
}

int tdx_docset_reserve(tdx_docset *d, size_t extra)
{
    return tdx_grow((void **)&d->v, &d->cap, d->n + extra, sizeof *d->v, 64);
}

int tdx_docset_copy(tdx_docset *dst, const tdx_docset *src)
{
    dst->n = 0;
    if (tdx_docset_reserve(dst, src->n))
        return TDX_ENOMEM;
    if (src->n)
        memcpy(dst->v, src->v, src->n * sizeof *src->v);
    dst->n = src->n;
    return 0;
}

int tdx_docset_and(const tdx_docset *a, const tdx_docset *b, tdx_docset *out)
{
    if (a->n > b->n) {
        const tdx_docset *t = a;
        a = b;
        b = t;
    }
    out->n = 0;
    if (tdx_docset_reserve(out, a->n))
        return TDX_ENOMEM;
    size_t j = 0;
    for (size_t i = 0; i < a->n && j < b->n; i++) {
        j = tdx_u32_gallop(b->v, b->n, j, a->v[i]);
        if (j < b->n && b->v[j] == a->v[i])
            out->v[out->n++] = a->v[i];
    }
    return 0;
}

int tdx_docset_or(const tdx_docset *a, const tdx_docset *b, tdx_docset *out)
{
    out->n = 0;
    if (tdx_docset_reserve(out, a->n + b->n))
        return TDX_ENOMEM;
    size_t i = 0, j = 0;
    while (i < a->n && j < b->n) {
        if (a->v[i] < b->v[j])
            out->v[out->n++] = a->v[i++];
        else if (a->v[i] > b->v[j])
            out->v[out->n++] = b->v[j++];
        else {
            out->v[out->n++] = a->v[i++];
            j++;
        }
    }
    while (i < a->n)
        out->v[out->n++] = a->v[i++];
    while (j < b->n)
        out->v[out->n++] = b->v[j++];
    return 0;
}

int tdx_docset_sub(const tdx_docset *a, const tdx_docset *b, tdx_docset *out)
{
    out->n = 0;
    if (tdx_docset_reserve(out, a->n))
        return TDX_ENOMEM;
    size_t j = 0;
    for (size_t i = 0; i < a->n; i++) {
        j = tdx_u32_gallop(b->v, b->n, j, a->v[i]);
        if (!(j < b->n && b->v[j] == a->v[i]))
            out->v[out->n++] = a->v[i];
    }
    return 0;
}

int tdx_docset_has(const tdx_docset *d, uint32_t id)
{
    size_t i = tdx_u32_gallop(d->v, d->n, 0, id);
    return i < d->n && d->v[i] == id;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

void tdx_docset_normalize(tdx_docset *d)
{
    if (d->n < 2)
        return;
    qsort(d->v, d->n, sizeof *d->v, cmp_u32);
    size_t w = 1;
    for (size_t i = 1; i < d->n; i++)
        if (d->v[i] != d->v[w - 1])
            d->v[w++] = d->v[i];
    d->n = w;
}

int tdx_docbits_init(tdx_docbits *b, uint32_t universe)
{
    b->nw = (size_t)universe / 64 + 1;
    b->w = tdx_calloc(b->nw, sizeof *b->w);
    if (b->w == NULL) {
        b->nw = 0;
        return TDX_ENOMEM;
    }
    return 0;
}

int tdx_docbits_add(tdx_docbits *b, const tdx_docset *d)
{
    if (d->n == 0)
        return 0;
    size_t need = (size_t)d->v[d->n - 1] / 64 + 1; /* d is sorted: the last id is the largest */
    if (need > b->nw) {
        size_t nw = b->nw * 2 > need ? b->nw * 2 : need;
        uint64_t *w = tdx_reallocarray(b->w, nw, sizeof *w);
        if (w == NULL)
            return TDX_ENOMEM;
        memset(w + b->nw, 0, (nw - b->nw) * sizeof *w);
        b->w = w;
        b->nw = nw;
    }
    for (size_t i = 0; i < d->n; i++)
        b->w[d->v[i] >> 6] |= (uint64_t)1 << (d->v[i] & 63);
    return 0;
}

int tdx_docbits_take(tdx_docbits *b, tdx_docset *out)
{
    size_t count = 0;
    for (size_t i = 0; i < b->nw; i++)
        count += (size_t)__builtin_popcountll(b->w[i]);
    out->n = 0;
    int rc = tdx_docset_reserve(out, count);
    if (rc == 0) {
        for (size_t i = 0; i < b->nw; i++) {
            uint64_t x = b->w[i];
            while (x) {
                out->v[out->n++] = (uint32_t)(i * 64 + (size_t)__builtin_ctzll(x));
                x &= x - 1;
            }
        }
    }
    tdx_docbits_free(b);
    return rc;
}

void tdx_docbits_free(tdx_docbits *b)
{
    tdx_free(b->w);
    b->w = NULL;
    b->nw = 0;
}
