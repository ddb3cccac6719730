/*
 * postings.h - the hand-off format between the postings builders (index/,
 * run by the workers) and the LMDB writer (store/).
 *
 * A tdx_postings holds the postings of one batch: terms in strictly
 * increasing byte order, each with a strictly increasing list of
 * batch-local document numbers, and for every (term, document) entry a
 * payload: opaque bytes, empty for most terms, the encoded positions of the
 * term in that document for positional terms (see index/index.h).
 * Batch-local numbers are turned into global doc ids by the writer, which
 * alone knows which documents were kept; the mapping is monotone, so lists
 * stay sorted and are appended without re-sorting.
 *
 * Memory: growable arrays, reset and reused batch after batch.
 */
#ifndef TDX_COMMON_POSTINGS_H
#define TDX_COMMON_POSTINGS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

typedef struct tdx_postings {
    tdx_buf terms;      /* concatenated term bytes */
    uint32_t *term_end; /* [nterms]: end offset of term i in terms (start = end of i-1) */
    uint32_t *ent_end;  /* [nterms]: end index of term i's entries (start = end of i-1) */
    size_t nterms, cap_terms;
    uint32_t *docs;     /* [nentries]: batch-local document numbers */
    uint32_t *pay_end;  /* [nentries]: end offset of entry e's payload */
    size_t nentries, cap_entries;
    tdx_buf payload;    /* concatenated payloads */
} tdx_postings;

void tdx_postings_init(tdx_postings *p);
void tdx_postings_reset(tdx_postings *p);
void tdx_postings_free(tdx_postings *p);

/** Bytes the postings hold (what is in use, not what is reserved). */
size_t tdx_postings_bytes(const tdx_postings *p);
/** Make room for nterms terms and nentries entries in all. */
int tdx_postings_reserve(tdx_postings *p, size_t nterms, size_t nentries);
/** Start a new term (must sort after the previous one).  0 or TDX_ENOMEM. */
int tdx_postings_add_term(tdx_postings *p, const void *term, size_t len);
/**
 * Append an entry to the current term (doc greater than the previous one)
 * with payload[0..len); or, with payload NULL and len 0, with the bytes the
 * caller wrote at the end of p->payload since the previous entry.
 */
int tdx_postings_add_doc(tdx_postings *p, uint32_t doc, const void *payload, size_t len);
/** Append n entries with empty payloads to the current term (ascending docs). */
int tdx_postings_add_docs(tdx_postings *p, const uint32_t *docs, size_t n);

/*
 * Positional terms are bigrams ('b') and words ('w'): their payload is the
 * term's positions in the document, in characters of the normalized text:
 *     vint (first << 1 | more)   first position; more = 1 when there are others
 *     if more: vint m, then m x vint (position - previous), each >= 1
 * Most terms occur once in a document, so most payloads are one varint.
 * Every other class has an empty payload.
 */
static inline int tdx_term_positional(uint8_t cls)
{
    return cls == 'b' || cls == 'w';
}

static inline tdx_span tdx_postings_term(const tdx_postings *p, size_t i)
{
    uint32_t s = i ? p->term_end[i - 1] : 0;
    tdx_span sp = {p->terms.p + s, p->term_end[i] - s};
    return sp;
}

static inline size_t tdx_postings_ent_begin(const tdx_postings *p, size_t i)
{
    return i ? p->ent_end[i - 1] : 0;
}

static inline tdx_span tdx_postings_payload(const tdx_postings *p, size_t e)
{
    uint32_t s = e ? p->pay_end[e - 1] : 0;
    tdx_span sp = {p->payload.p + s, p->pay_end[e] - s};
    return sp;
}

#endif
