/*
 * postings.c - batch postings hand-off structure (see postings.h).
 */
#include "postings.h"

#include "alloc.h"
#include "err.h"

#include <string.h>

void tdx_postings_init(tdx_postings *p, int with_payload)
{
    memset(p, 0, sizeof *p);
    p->with_payload = with_payload;
}

void tdx_postings_reset(tdx_postings *p)
{
    tdx_buf_reset(&p->terms);
    tdx_buf_reset(&p->payload);
    p->nterms = 0;
    p->nentries = 0;
}

void tdx_postings_free(tdx_postings *p)
{
    tdx_buf_free(&p->terms);
    tdx_buf_free(&p->payload);
    tdx_free(p->term_end);
    tdx_free(p->ent_end);
    tdx_free(p->docs);
    tdx_free(p->pay_end);
    int wp = p->with_payload;
    memset(p, 0, sizeof *p);
    p->with_payload = wp;
}

int tdx_postings_reserve(tdx_postings *p, size_t nterms, size_t nentries)
{
    if (nterms > p->cap_terms) {
        uint32_t *te = tdx_reallocarray(p->term_end, nterms, sizeof *te);
        if (te == NULL)
            return TDX_ENOMEM;
        p->term_end = te;
        uint32_t *ee = tdx_reallocarray(p->ent_end, nterms, sizeof *ee);
        if (ee == NULL)
            return TDX_ENOMEM;
        p->ent_end = ee;
        p->cap_terms = nterms;
    }
    if (nentries > p->cap_entries) {
        uint32_t *d = tdx_reallocarray(p->docs, nentries, sizeof *d);
        if (d == NULL)
            return TDX_ENOMEM;
        p->docs = d;
        if (p->with_payload) {
            uint32_t *pe = tdx_reallocarray(p->pay_end, nentries, sizeof *pe);
            if (pe == NULL)
                return TDX_ENOMEM;
            p->pay_end = pe;
        }
        p->cap_entries = nentries;
    }
    return tdx_buf_grow(&p->terms, nterms * 4);
}

int tdx_postings_add_term(tdx_postings *p, const void *term, size_t len)
{
    if (p->nterms == p->cap_terms) {
        size_t cap = p->cap_terms ? p->cap_terms * 2 : 1024;
        uint32_t *te = tdx_reallocarray(p->term_end, cap, sizeof *te);
        if (te == NULL)
            return TDX_ENOMEM;
        p->term_end = te;
        uint32_t *ee = tdx_reallocarray(p->ent_end, cap, sizeof *ee);
        if (ee == NULL)
            return TDX_ENOMEM;
        p->ent_end = ee;
        p->cap_terms = cap;
    }
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

int tdx_postings_add_docs(tdx_postings *p, const uint32_t *docs, size_t n)
{
    if (p->with_payload)
        return TDX_EINVAL;
    if (p->nentries + n > p->cap_entries) {
        size_t cap = p->cap_entries ? p->cap_entries : 4096;
        while (cap < p->nentries + n)
            cap *= 2;
        uint32_t *d = tdx_reallocarray(p->docs, cap, sizeof *d);
        if (d == NULL)
            return TDX_ENOMEM;
        p->docs = d;
        p->cap_entries = cap;
    }
    if (p->nentries + n >= UINT32_MAX)
        return TDX_ELIMIT;
    memcpy(p->docs + p->nentries, docs, n * sizeof *docs);
    p->nentries += n;
    p->ent_end[p->nterms - 1] = (uint32_t)p->nentries;
    return 0;
}

int tdx_postings_add_doc(tdx_postings *p, uint32_t doc, const void *payload, size_t len)
{
    if (p->nentries == p->cap_entries) {
        size_t cap = p->cap_entries ? p->cap_entries * 2 : 4096;
        uint32_t *d = tdx_reallocarray(p->docs, cap, sizeof *d);
        if (d == NULL)
            return TDX_ENOMEM;
        p->docs = d;
        if (p->with_payload) {
            uint32_t *pe = tdx_reallocarray(p->pay_end, cap, sizeof *pe);
            if (pe == NULL)
                return TDX_ENOMEM;
            p->pay_end = pe;
        }
        p->cap_entries = cap;
    }
    if (p->nentries >= UINT32_MAX)
        return TDX_ELIMIT;
    if (p->with_payload) {
        if (p->payload.len + len > UINT32_MAX)
            return TDX_ELIMIT;
        int rc = tdx_buf_append(&p->payload, payload, len);
        if (rc)
            return rc;
        p->pay_end[p->nentries] = (uint32_t)p->payload.len;
    }
    p->docs[p->nentries++] = doc;
    p->ent_end[p->nterms - 1] = (uint32_t)p->nentries;
    return 0;
}
