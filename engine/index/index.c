/*
 * index.c - term extraction and per-batch postings building (index.h).
 *
 * Sits in the workers: after a document is normalized and matched, its
 * normalized text is cut into terms here, and at the end of the batch the
 * builder hands the writer one tdx_postings sorted by term bytes.
 *
 * Data structures, all reused batch after batch:
 *   tab      open-addressing hash (linear probing) from a 64-bit term code
 *            to a dense term id.  Grams have exact codes (class, cp1, cp2);
 *            string terms (words, fields, ids) are interned in `strs` and
 *            their code is a hash, confirmed by comparing bytes.
 *   terms    per term id: code, string offset/length, last document seen
 *            (drops repeats within a document without a per-document set)
 *            and number of documents.
 *   pairs    (term id, doc) in arrival order, i.e. sorted by doc; emitting
 *            is a counting sort by term id followed by ordering the terms
 *            by their key bytes.
 *
 * Threading: one builder per worker; no shared state.
 */
#include "index.h"

#include "../common/alloc.h"
#include "../common/hash.h"
#include "../common/utf8.h"

#include <stdlib.h>
#include <string.h>

typedef struct term_rec {
    uint64_t code;
    uint32_t str_off; /* string terms: offset into strs; grams: 0 */
    uint32_t str_len; /* 0 for grams */
    uint32_t last_doc;
    uint32_t ndocs;
} term_rec;

typedef struct pair {
    uint32_t term;
    uint32_t doc;
} pair;

struct tdx_gram_builder {
    uint32_t *tab; /* slot -> term id + 1 (0 = empty) */
    size_t tab_mask;
    term_rec *terms;
    size_t nterms, cap_terms;
    pair *pairs;
    size_t npairs, cap_pairs;
    tdx_buf strs;
    /* emit scratch */
    uint32_t *order;
    size_t cap_order;
    uint32_t *start;
    uint32_t *sorted_docs;
    size_t cap_sorted;
};

#define GRAM_CODE(cls, a, b) (((uint64_t)(cls) << 56) | ((uint64_t)(a) << 21) | (uint64_t)(b))
#define STR_CODE_FLAG (1ULL << 63)

int tdx_gram_builder_create(tdx_gram_builder **out_b, tdx_err *err)
{
    tdx_gram_builder *b = tdx_calloc(1, sizeof *b);
    if (b == NULL)
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    b->tab_mask = (1u << 16) - 1;
    b->tab = tdx_calloc(b->tab_mask + 1, sizeof *b->tab);
    if (b->tab == NULL) {
        tdx_free(b);
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    }
    *out_b = b;
    return 0;
}

void tdx_gram_builder_free(tdx_gram_builder *b)
{
    if (b == NULL)
        return;
    tdx_free(b->tab);
    tdx_free(b->terms);
    tdx_free(b->pairs);
    tdx_buf_free(&b->strs);
    tdx_free(b->order);
    tdx_free(b->start);
    tdx_free(b->sorted_docs);
    tdx_free(b);
}

void tdx_gram_builder_reset(tdx_gram_builder *b)
{
    memset(b->tab, 0, (b->tab_mask + 1) * sizeof *b->tab);
    b->nterms = 0;
    b->npairs = 0;
    tdx_buf_reset(&b->strs);
}

size_t tdx_gram_nterms(const tdx_gram_builder *b)
{
    return b->nterms;
}

static int grow_tab(tdx_gram_builder *b)
{
    size_t nsize = (b->tab_mask + 1) * 2;
    uint32_t *t = tdx_calloc(nsize, sizeof *t);
    if (t == NULL)
        return TDX_ENOMEM;
    size_t mask = nsize - 1;
    for (size_t i = 0; i < b->nterms; i++) {
        size_t h = (size_t)tdx_mix64(b->terms[i].code) & mask;
        while (t[h])
            h = (h + 1) & mask;
        t[h] = (uint32_t)i + 1;
    }
    tdx_free(b->tab);
    b->tab = t;
    b->tab_mask = mask;
    return 0;
}

static int new_term(tdx_gram_builder *b, uint64_t code, const uint8_t *s, size_t len,
                    uint32_t *out_id)
{
    if (b->nterms == b->cap_terms) {
        size_t cap = b->cap_terms ? b->cap_terms * 2 : 4096;
        term_rec *t = tdx_reallocarray(b->terms, cap, sizeof *t);
        if (t == NULL)
            return TDX_ENOMEM;
        b->terms = t;
        b->cap_terms = cap;
    }
    if (b->nterms >= UINT32_MAX - 1 || b->strs.len + len > UINT32_MAX)
        return TDX_ELIMIT;
    term_rec *r = &b->terms[b->nterms];
    r->code = code;
    r->str_off = (uint32_t)b->strs.len;
    r->str_len = (uint32_t)len;
    r->last_doc = UINT32_MAX;
    r->ndocs = 0;
    if (len) {
        int rc = tdx_buf_append(&b->strs, s, len);
        if (rc)
            return rc;
    }
    *out_id = (uint32_t)b->nterms++;
    return 0;
}

/* Find or create the term; s/len are the string for string terms. */
static int lookup(tdx_gram_builder *b, uint64_t code, const uint8_t *s, size_t len,
                  uint32_t *out_id)
{
    if ((b->nterms + 1) * 2 > b->tab_mask + 1) {
        int rc = grow_tab(b);
        if (rc)
            return rc;
    }
    size_t h = (size_t)tdx_mix64(code) & b->tab_mask;
    for (;;) {
        uint32_t v = b->tab[h];
        if (v == 0)
            break;
        term_rec *r = &b->terms[v - 1];
        if (r->code == code &&
            (len == 0 || (r->str_len == len && memcmp(b->strs.p + r->str_off, s, len) == 0))) {
            *out_id = v - 1;
            return 0;
        }
        h = (h + 1) & b->tab_mask;
    }
    uint32_t id;
    int rc = new_term(b, code, s, len, &id);
    if (rc)
        return rc;
    b->tab[h] = id + 1;
    *out_id = id;
    return 0;
}

static int add_pair(tdx_gram_builder *b, uint32_t term, uint32_t doc)
{
    term_rec *r = &b->terms[term];
    if (r->last_doc == doc)
        return 0;
    if (b->npairs == b->cap_pairs) {
        size_t cap = b->cap_pairs ? b->cap_pairs * 2 : 65536;
        pair *p = tdx_reallocarray(b->pairs, cap, sizeof *p);
        if (p == NULL)
            return TDX_ENOMEM;
        b->pairs = p;
        b->cap_pairs = cap;
    }
    /* Counted only once the pair is stored: emit sizes each run by ndocs. */
    r->last_doc = doc;
    r->ndocs++;
    b->pairs[b->npairs].term = term;
    b->pairs[b->npairs].doc = doc;
    b->npairs++;
    return 0;
}

static int add_code(tdx_gram_builder *b, uint32_t doc, uint64_t code)
{
    uint32_t id;
    int rc = lookup(b, code, NULL, 0, &id);
    return rc ? rc : add_pair(b, id, doc);
}

int tdx_gram_add_term(tdx_gram_builder *b, uint32_t doc, const uint8_t *term, size_t len)
{
    if (len == 0 || len > TDX_FIELD_TERM_MAX + 8)
        return TDX_EINVAL;
    uint64_t code = tdx_hash64(term, len) | STR_CODE_FLAG;
    uint32_t id;
    int rc = lookup(b, code, term, len, &id);
    return rc ? rc : add_pair(b, id, doc);
}

/* Long ASCII runs are indexed as 64-byte windows every 32 bytes (the last
 * aligned to the end of the run), so any fragment of up to 32 bytes lies
 * whole inside some indexed window. */
static int add_word(tdx_gram_builder *b, uint32_t doc, const uint8_t *w, size_t len)
{
    uint8_t term[TDX_WORD_MAX + 1];
    term[0] = TDX_TERM_WORD;
    if (len <= TDX_WORD_MAX) {
        memcpy(term + 1, w, len);
        return tdx_gram_add_term(b, doc, term, len + 1);
    }
    for (size_t off = 0;; off += TDX_WORD_MAX / 2) {
        if (off + TDX_WORD_MAX > len)
            off = len - TDX_WORD_MAX;
        memcpy(term + 1, w + off, TDX_WORD_MAX);
        int rc = tdx_gram_add_term(b, doc, term, TDX_WORD_MAX + 1);
        if (rc || off + TDX_WORD_MAX == len)
            return rc;
    }
}

static inline int is_word_byte(uint8_t c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int tdx_gram_add_text(tdx_gram_builder *b, uint32_t doc, const uint8_t *text, size_t len)
{
    const uint8_t *p = text, *end = text + len;
    int32_t prev = -1; /* previous non-ASCII code point, if adjacent */
    int rc = 0;
    while (p < end && rc == 0) {
        uint8_t c = *p;
        if (c < 0x80) {
            prev = -1;
            if (is_word_byte(c)) {
                const uint8_t *w = p;
                while (p < end && is_word_byte(*p))
                    p++;
                rc = add_word(b, doc, w, (size_t)(p - w));
            } else {
                p++;
            }
            continue;
        }
        size_t l;
        int32_t cp = tdx_utf8_decode(p, end, &l);
        p += l;
        if (cp < 0) {
            prev = -1;
            continue;
        }
        rc = add_code(b, doc, GRAM_CODE(TDX_TERM_UNIGRAM, 0, cp));
        if (rc == 0 && prev >= 0)
            rc = add_code(b, doc, GRAM_CODE(TDX_TERM_BIGRAM, prev, cp));
        prev = cp;
    }
    return rc;
}

/* Key bytes of a term: class byte + payload. */
static size_t term_key(const tdx_gram_builder *b, const term_rec *r, uint8_t *out)
{
    if (r->str_len) {
        memcpy(out, b->strs.p + r->str_off, r->str_len);
        return r->str_len;
    }
    uint8_t cls = (uint8_t)(r->code >> 56);
    uint32_t a = (uint32_t)(r->code >> 21) & 0x1FFFFF, c2 = (uint32_t)r->code & 0x1FFFFF;
    size_t n = 0;
    out[n++] = cls;
    if (cls == TDX_TERM_BIGRAM)
        n += tdx_utf8_encode(out + n, a);
    n += tdx_utf8_encode(out + n, c2);
    return n;
}

static int cmp_terms(const void *x, const void *y, void *ctx)
{
    const tdx_gram_builder *b = ctx;
    const term_rec *r = &b->terms[*(const uint32_t *)x], *s = &b->terms[*(const uint32_t *)y];
    /* Grams of one class compare by code: code order is UTF-8 byte order. */
    if (!r->str_len && !s->str_len && (r->code >> 56) == (s->code >> 56))
        return r->code < s->code ? -1 : r->code > s->code;
    uint8_t ka[TDX_FIELD_TERM_MAX + 16], kb[TDX_FIELD_TERM_MAX + 16];
    size_t la = term_key(b, r, ka), lb = term_key(b, s, kb);
    int c = memcmp(ka, kb, la < lb ? la : lb);
    return c ? c : (la < lb ? -1 : la > lb);
}

int tdx_gram_emit(tdx_gram_builder *b, tdx_postings *out, tdx_err *err)
{
    tdx_postings_reset(out);
    size_t n = b->nterms;
    if (n > b->cap_order) {
        uint32_t *o = tdx_reallocarray(b->order, n, sizeof *o);
        uint32_t *s = o ? tdx_reallocarray(b->start, n + 1, sizeof *s) : NULL;
        if (o)
            b->order = o;
        if (s)
            b->start = s;
        if (o == NULL || s == NULL)
            return tdx_err_set(err, TDX_ENOMEM, "out of memory");
        b->cap_order = n;
    }
    if (b->npairs > b->cap_sorted) {
        uint32_t *d = tdx_reallocarray(b->sorted_docs, b->npairs, sizeof *d);
        if (d == NULL)
            return tdx_err_set(err, TDX_ENOMEM, "out of memory");
        b->sorted_docs = d;
        b->cap_sorted = b->npairs;
    }
    /* Counting sort of the pairs by term id; arrival order keeps docs sorted. */
    uint32_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        b->start[i] = acc;
        acc += b->terms[i].ndocs;
    }
    for (size_t i = 0; i < b->npairs; i++)
        b->sorted_docs[b->start[b->pairs[i].term]++] = b->pairs[i].doc;
    /* start[i] now points past term i's run. */
    for (size_t i = 0; i < n; i++)
        b->order[i] = (uint32_t)i;
    if (n) /* order is still NULL when nothing was ever added */
        qsort_r(b->order, n, sizeof *b->order, cmp_terms, b);
    for (size_t k = 0; k < n; k++) {
        uint32_t id = b->order[k];
        uint8_t key[TDX_FIELD_TERM_MAX + 16];
        size_t kl = term_key(b, &b->terms[id], key);
        int rc = tdx_postings_add_term(out, key, kl);
        uint32_t end = b->start[id], beg = end - b->terms[id].ndocs;
        for (uint32_t j = beg; rc == 0 && j < end; j++)
            rc = tdx_postings_add_doc(out, b->sorted_docs[j], NULL, 0);
        if (rc)
            return tdx_err_set(err, rc, "out of memory building postings");
    }
    return 0;
}

/* ---- query side ---- */

static int push_qterm(tdx_qterm *out, size_t cap, size_t *n, uint8_t cls, const uint8_t *s,
                      size_t len, uint8_t part)
{
    if (*n >= cap)
        return TDX_ELIMIT;
    tdx_qterm *t = &out[(*n)++];
    t->term[0] = cls;
    memcpy(t->term + 1, s, len);
    t->len = (uint8_t)(len + 1);
    t->part = part;
    return 0;
}

int tdx_query_terms(const uint8_t *q, size_t len, tdx_qterm *out, size_t cap, size_t *out_n,
                    int *out_exact)
{
    size_t n = 0, nonascii = 0, words = 0, other = 0;
    const uint8_t *p = q, *end = q + len;
    const uint8_t *prev = NULL; /* start of previous adjacent non-ASCII char */
    size_t prev_len = 0;
    int rc = 0;
    while (p < end && rc == 0) {
        uint8_t c = *p;
        if (c < 0x80) {
            prev = NULL;
            if (is_word_byte(c)) {
                const uint8_t *w = p;
                while (p < end && is_word_byte(*p))
                    p++;
                size_t wl = (size_t)(p - w);
                uint8_t part = (uint8_t)((w == q ? TDX_PART_SUFFIX : 0) |
                                         (p == end ? TDX_PART_PREFIX : 0));
                words++;
                /* A fragment longer than half a window may straddle two
                 * windows of a long indexed word: leave it to verification. */
                if (wl <= TDX_WORD_MAX / 2)
                    rc = push_qterm(out, cap, &n, TDX_TERM_WORD, w, wl, part);
            } else {
                other++;
                p++;
            }
            continue;
        }
        size_t l;
        int32_t cp = tdx_utf8_decode(p, end, &l);
        if (cp < 0) {
            other++;
            prev = NULL;
            p += l;
            continue;
        }
        nonascii++;
        if (prev) {
            uint8_t bg[8];
            memcpy(bg, prev, prev_len);
            memcpy(bg + prev_len, p, l);
            rc = push_qterm(out, cap, &n, TDX_TERM_BIGRAM, bg, prev_len + l, TDX_PART_EXACT);
        } else if (p + l >= end || p[l] < 0x80) {
            /* A lone non-ASCII character: its unigram. */
            rc = push_qterm(out, cap, &n, TDX_TERM_UNIGRAM, p, l, TDX_PART_EXACT);
        }
        prev = p;
        prev_len = l;
        p += l;
    }
    if (rc)
        return rc;
    *out_n = n;
    /* Exact without verification: the whole query is one or two non-ASCII
     * characters, or one ASCII word fragment found through the dictionary. */
    *out_exact = (other == 0 && words == 0 && (nonascii == 1 || nonascii == 2)) ||
                 (other == 0 && nonascii == 0 && words == 1 && n == 1);
    return 0;
}
