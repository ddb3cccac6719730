/*
 * postings.c - batch postings hand-off structure (see postings.h).
 */
#include "postings.h"

#include "alloc.h"
#include "err.h"

#include <string.h>

void tdx_postings_init(tdx_postings *p)
{
    memset(p, 0, sizeof *p);
}

void tdx_postings_reset(tdx_postings *p)
{
    tdx_buf_reset(&p->terms);
    tdx_buf_reset(&p->payload);
    p->nterms = 0;
    p->nentries = 0;
}

size_t tdx_postings_bytes(const tdx_postings *p)
{
    return p->terms.len + p->payload.len + p->nterms * 2 * sizeof(uint32_t) +
           p->nentries * 2 * sizeof(uint32_t);
}

void tdx_postings_free(tdx_postings *p)
{
    tdx_buf_free(&p->terms);
    tdx_buf_free(&p->payload);
    tdx_free(p->term_end);
    tdx_free(p->ent_end);
    tdx_free(p->docs);
    tdx_free(p->pay_end);
    memset(p, 0, sizeof *p);
}

static int reserve_terms(tdx_postings *p, size_t n)
{
    if (n <= p->cap_terms)
        return 0;
    uint32_t *te = tdx_reallocarray(p->term_end, n, sizeof *te);
    if (te == NULL)
        return TDX_ENOMEM;
    p->term_end = te;
    uint32_t *ee = tdx_reallocarray(p->ent_end, n, sizeof *ee);
    if (ee == NULL)
        return TDX_ENOMEM;
    p->ent_end = ee;
    p->cap_terms = n;
    return 0;
}

static int reserve_entries(tdx_postings *p, size_t n)
{
    if (n <= p->cap_entries)
        return 0;
    uint32_t *d = tdx_reallocarray(p->docs, n, sizeof *d);
    if (d == NULL)
        return TDX_ENOMEM;
    p->docs = d;
    uint32_t *pe = tdx_reallocarray(p->pay_end, n, sizeof *pe);
    if (pe == NULL)
        return TDX_ENOMEM;
    p->pay_end = pe;
    p->cap_entries = n;
    return 0;
}

int tdx_postings_reserve(tdx_postings *p, size_t nterms, size_t nentries)
{
    int rc = reserve_terms(p, nterms);
    rc = rc ? rc : reserve_entries(p, nentries);
    return rc ? rc : tdx_buf_grow(&p->terms, nterms * 4);
}

int tdx_postings_add_term(tdx_postings *p, const void *term, size_t len)
{
    if (p->nterms == p->cap_terms &&
        reserve_terms(p, p->cap_terms ? p->cap_terms * 2 : 1024))
        return TDX_ENOMEM;
    if (p->terms.len + len > UINT32_MAX)
        return TDX_ELIMIT;
    int rc = tdx_buf_append(&p->terms, term, len);
    if (rc)
        return rc;
    p->term_end[p->nterms] = (uint32_t)p->terms.len;
    p->ent_end[p->nterms] = (uint32_t)p->nentries;
    p->nterms++;
    return 0;
}

/* The payload of the entry may already sit at the end of p->payload (the
 * builder writes positions there directly): then payload is NULL and len 0,
 * and the entry takes everything written since the previous entry. */
int tdx_postings_add_doc(tdx_postings *p, uint32_t doc, const void *payload, size_t len)
{
    if (p->nentries == p->cap_entries &&
        reserve_entries(p, p->cap_entries ? p->cap_entries * 2 : 4096))
        return TDX_ENOMEM;
    if (p->nentries >= UINT32_MAX || p->payload.len + len > UINT32_MAX)
        return TDX_ELIMIT;
    if (len) {
        int rc = tdx_buf_append(&p->payload, payload, len);
        if (rc)
            return rc;
    }
    p->pay_end[p->nentries] = (uint32_t)p->payload.len;
    p->docs[p->nentries++] = doc;
    p->ent_end[p->nterms - 1] = (uint32_t)p->nentries;
    return 0;
}

int tdx_postings_add_docs(tdx_postings *p, const uint32_t *docs, size_t n)
{
    if (p->nentries + n > p->cap_entries) {
        size_t cap = p->cap_entries ? p->cap_entries : 4096;
        while (cap < p->nentries + n)
            cap *= 2;
        if (reserve_entries(p, cap))
            return TDX_ENOMEM;
    }
    if (p->nentries + n >= UINT32_MAX)
        return TDX_ELIMIT;
    memcpy(p->docs + p->nentries, docs, n * sizeof *docs);
    uint32_t end = (uint32_t)p->payload.len;
    for (size_t i = 0; i < n; i++)
        p->pay_end[p->nentries + i] = end;
    p->nentries += n;
    p->ent_end[p->nterms - 1] = (uint32_t)p->nentries;
    return 0;
}
