/*
 * index.c - term extraction and per-batch postings building (index.h).
 *
 * Sits in the workers: after a document is normalized and matched, its
 * normalized text is cut into terms here, and at the end of the batch the
 * builder hands the writer one tdx_postings sorted by term bytes.
 *
 * Grams (most of the work: one unigram and one bigram per CJK character)
 * take a fast path built for memory locality:
 *   - each distinct character of the batch gets a dense rank on first
 *     sight (a direct table for the BMP); unigram repeats within a
 *     document are dropped with a last-document array indexed by rank;
 *   - a bigram is the 32-bit key (rank1 << 16 | rank2); every occurrence is
 *     appended as (key, doc, position);
 *   - at emit time ranks are renumbered in code-point order and the
 *     triples radix-sorted by key in two 16-bit passes, the renumbering
 *     done by the first (its counts are kept while adding); the sort is
 *     stable, so within a key documents and positions stay in order and a
 *     run of equal (key, doc) is that document's position list; unigrams
 *     take one such pass.
 * Trigrams of ASCII words take a path of their own: a word byte is one of
 * 62 symbols, so a trigram is a code below 62^3, numbered in byte order;
 * a last-document table per code keeps one (code, doc) pair per document,
 * and emit counting-sorts the pairs by code (stable: docs stay in order).
 * Everything else (words, fields, entity/category/pattern ids, and grams
 * of characters beyond 65535 distinct ones in a batch) goes through a
 * general path: an open-addressing table from term bytes to a dense id,
 * each id with its entries (every occurrence for positional words, one per
 * document for the rest), then a counting sort by id, and the ids in
 * term byte order by a radix sort on an 8-byte prefix (sort_terms).  The
 * two sorted streams are merged by term bytes when emitting.
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
    uint32_t str_off; /* offset of the term bytes in strs */
    uint32_t str_len;
    uint32_t last_doc;
    uint32_t nent; /* entries: occurrences (positional) or documents */
} term_rec;

/* A general-path term id with the first 8 bytes of its term, big-endian,
 * zero-padded: ordering by key never contradicts the order of the terms
 * (a term sorts before its extensions, as if padded with zeros). */
typedef struct term_key {
    uint64_t key;
    uint32_t id;
} term_key;

typedef struct pair {
    uint32_t term; /* rank */
    uint32_t doc;
} pair;

typedef struct triple {
    uint32_t term; /* bigram key, or general-path term id */
    uint32_t doc;
    uint32_t pos; /* character offset; NO_POS for non-positional terms */
} triple;

/* Trigram codes: 62 symbols ('0'-'9', 'A'-'Z', 'a'-'z', in byte order). */
#define TRI_SYMS  62u
#define TRI_CODES (TRI_SYMS * TRI_SYMS * TRI_SYMS)
static const char tri_sym_byte[TRI_SYMS + 1] = TDX_WORD_BYTES;

#define MAX_RANKS 65535u
#define NO_RANK UINT32_MAX
#define NO_POS UINT32_MAX

struct tdx_gram_builder {
    /* general path */
    uint32_t *tab; /* slot -> term id + 1 (0 = empty) */
    size_t tab_mask;
    term_rec *terms;
    size_t nterms, cap_terms;
    triple *gen;   /* (id, doc, pos) in arrival order */
    size_t ngen, cap_gen;
    tdx_buf strs;
    /* gram path */
    uint32_t *rank_bmp;   /* [65536] code point -> rank + 1 (0: none yet) */
    uint64_t *astral;     /* open addressing: (cp << 32 | rank) + 1 for cp > 0xFFFF */
    size_t astral_mask, nastral;
    uint32_t *rank_cp;    /* [MAX_RANKS] rank -> code point */
    uint32_t *uni_last;   /* [MAX_RANKS] rank -> last doc */
    uint32_t *uni_cnt;    /* [MAX_RANKS] rank -> unigram entries */
    uint32_t *bi_cnt;     /* [MAX_RANKS] rank -> bigrams ending with it */
    size_t nranks;
    pair *uni;            /* (rank, doc), no repeats */
    size_t nuni, cap_uni;
    triple *bi;           /* (rank1 << 16 | rank2, doc, pos): every occurrence */
    size_t nbi, cap_bi;
    /* trigram path */
    int tri_on;
    size_t tri_max;       /* pairs a batch keeps at most (0: no bound) */
    uint32_t tri_cut;     /* last doc + 1 listed under TDX_TRIGRAM_CUT */
    uint8_t tri_sym[256]; /* word byte -> symbol */
    uint32_t *tri_last;   /* [TRI_CODES] code -> last doc + 1; after the sort, run starts */
    uint32_t *tri_cnt;    /* [TRI_CODES] code -> entries */
    pair *tri;            /* (code, doc), one per document; sorted by code once emitted */
    pair *tri_sorted;
    size_t ntri, cap_tri, cap_tri_sorted;
    /* emit scratch */
    triple *tmp; /* radix scratch; after the sort, the sorted unigrams (as pairs) */
    size_t cap_tmp;
    uint32_t *ord;        /* rank -> position in code-point order */
    uint32_t *ord_cp;     /* position -> code point */
    uint32_t *order;
    size_t cap_order;
    uint32_t *start;
    size_t cap_start;
    triple *sorted_gen;
    size_t cap_sorted;
    uint32_t *docbuf;
    size_t cap_docbuf;
    struct term_key *tkey; /* [2 * cap_tkey]: general-path ids by prefix, and scratch */
    size_t cap_tkey;
    int emitted;          /* ranks renumbered and pairs sorted by the last emit */
    size_t emitted_terms;
};

int tdx_gram_builder_create(tdx_gram_builder **out_b, tdx_err *err)
{
    tdx_gram_builder *b = tdx_calloc(1, sizeof *b);
    if (b == NULL)
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    b->tab_mask = (1u << 12) - 1;
    b->astral_mask = (1u << 8) - 1;
    b->tab = tdx_calloc(b->tab_mask + 1, sizeof *b->tab);
    b->astral = tdx_calloc(b->astral_mask + 1, sizeof *b->astral);
    b->rank_bmp = tdx_calloc(65536, sizeof *b->rank_bmp);
    b->rank_cp = tdx_calloc(MAX_RANKS, sizeof *b->rank_cp);
    b->uni_last = tdx_calloc(MAX_RANKS, sizeof *b->uni_last);
    b->uni_cnt = tdx_calloc(MAX_RANKS, sizeof *b->uni_cnt);
    b->bi_cnt = tdx_calloc(MAX_RANKS, sizeof *b->bi_cnt);
    b->ord = tdx_calloc(MAX_RANKS, sizeof *b->ord);
    b->ord_cp = tdx_calloc(MAX_RANKS, sizeof *b->ord_cp);
    b->tri_last = tdx_calloc(TRI_CODES, sizeof *b->tri_last);
    b->tri_cnt = tdx_calloc(TRI_CODES, sizeof *b->tri_cnt);
    if (!b->tab || !b->astral || !b->rank_bmp || !b->rank_cp || !b->uni_last || !b->uni_cnt ||
        !b->bi_cnt || !b->ord || !b->ord_cp || !b->tri_last || !b->tri_cnt) {
        tdx_gram_builder_free(b);
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    }
    for (uint32_t i = 0; i < TRI_SYMS; i++)
        b->tri_sym[(uint8_t)tri_sym_byte[i]] = (uint8_t)i;
    b->tri_on = 1;
    tdx_gram_builder_reset(b);
    *out_b = b;
    return 0;
}

void tdx_gram_builder_free(tdx_gram_builder *b)
{
    if (b == NULL)
        return;
    tdx_free(b->tab);
    tdx_free(b->terms);
    tdx_free(b->gen);
    tdx_buf_free(&b->strs);
    tdx_free(b->rank_bmp);
    tdx_free(b->astral);
    tdx_free(b->rank_cp);
    tdx_free(b->uni_last);
    tdx_free(b->uni_cnt);
    tdx_free(b->bi_cnt);
    tdx_free(b->uni);
    tdx_free(b->bi);
    tdx_free(b->tmp);
    tdx_free(b->ord);
    tdx_free(b->ord_cp);
    tdx_free(b->order);
    tdx_free(b->start);
    tdx_free(b->sorted_gen);
    tdx_free(b->docbuf);
    tdx_free(b->tkey);
    tdx_free(b->tri_last);
    tdx_free(b->tri_cnt);
    tdx_free(b->tri);
    tdx_free(b->tri_sorted);
    tdx_free(b);
}

void tdx_gram_builder_reset(tdx_gram_builder *b)
{
    memset(b->tab, 0, (b->tab_mask + 1) * sizeof *b->tab);
    b->nterms = 0;
    b->ngen = 0;
    tdx_buf_reset(&b->strs);
    /* Clear only the ranks in use: the BMP table is 256 KB. */
    for (size_t r = 0; r < b->nranks; r++)
        if (b->rank_cp[r] < 0x10000)
            b->rank_bmp[b->rank_cp[r]] = 0;
    memset(b->astral, 0, (b->astral_mask + 1) * sizeof *b->astral);
    b->nastral = 0;
    b->nranks = 0;
    b->nuni = 0;
    b->nbi = 0;
    /* Clear only the codes in use (the tables are 930 KB each); an emit
     * has used all of tri_last for the sort. */
    if (b->emitted && b->ntri)
        memset(b->tri_last, 0, TRI_CODES * sizeof *b->tri_last);
    for (size_t i = 0; i < b->ntri; i++) {
        b->tri_last[b->tri[i].term] = 0;
        b->tri_cnt[b->tri[i].term] = 0;
    }
    b->ntri = 0;
    b->tri_cut = 0;
    b->emitted = 0;
    b->emitted_terms = 0;
}

void tdx_gram_builder_set_trigrams(tdx_gram_builder *b, int on, size_t max_pairs)
{
    b->tri_on = on;
    b->tri_max = max_pairs;
}

size_t tdx_gram_nterms(const tdx_gram_builder *b)
{
    return b->emitted_terms;
}

size_t tdx_gram_builder_bytes(const tdx_gram_builder *b)
{
    size_t nt = b->nterms;
    size_t big = b->nbi > b->nuni ? b->nbi : b->nuni;
    return nt * (sizeof(term_rec) + 2 * sizeof(term_key) + 2 * sizeof(uint32_t)) +
           (b->tab_mask + 1) * sizeof *b->tab + b->strs.len + b->ngen * 2 * sizeof(triple) +
           b->nuni * sizeof(pair) + (b->nbi + big) * sizeof(triple) + b->ntri * 2 * sizeof(pair);
}

static int grow_tab(tdx_gram_builder *b)
{
    size_t nsize = (b->tab_mask + 1) * 2;
    uint32_t *t = tdx_calloc(nsize, sizeof *t);
    if (t == NULL)
        return TDX_ENOMEM;
    size_t mask = nsize - 1;
    for (size_t i = 0; i < b->nterms; i++) {
        size_t h = (size_t)b->terms[i].code & mask;
        while (t[h])
            h = (h + 1) & mask;
        t[h] = (uint32_t)i + 1;
    }
    tdx_free(b->tab);
    b->tab = t;
    b->tab_mask = mask;
    return 0;
}

/* The hash code of a general-path term.  A term of up to SHORT_TERM bytes
 * (most words; entity, category and pattern ids) is mixed from a word
 * holding all its bytes by a bijection, so for one length equal codes are
 * equal terms and no byte comparison is needed. */
#define SHORT_TERM 8

static inline uint64_t term_code(const uint8_t *s, size_t len)
{
    if (len > SHORT_TERM)
        return tdx_hash64(s, len);
    uint64_t w;
    if (len >= 4) {
        uint32_t a, z;
        memcpy(&a, s, 4);
        memcpy(&z, s + len - 4, 4);
        w = (uint64_t)z << 32 | a;
    } else {
        w = (uint64_t)s[0] | (uint64_t)s[len / 2] << 8 | (uint64_t)s[len - 1] << 16;
    }
    return tdx_mix64(w ^ (uint64_t)len << 56);
}

/* General path: find or create the term with these bytes. */
static int lookup(tdx_gram_builder *b, const uint8_t *s, size_t len, uint32_t *out_id)
{
    if ((b->nterms + 1) * 2 > b->tab_mask + 1) {
        int rc = grow_tab(b);
        if (rc)
            return rc;
    }
    uint64_t code = term_code(s, len);
    size_t h = (size_t)code & b->tab_mask;
    for (;;) {
        uint32_t v = b->tab[h];
        if (v == 0)
            break;
        term_rec *r = &b->terms[v - 1];
        if (r->code == code && r->str_len == len &&
            (len <= SHORT_TERM || memcmp(b->strs.p + r->str_off, s, len) == 0)) {
            *out_id = v - 1;
            return 0;
        }
        h = (h + 1) & b->tab_mask;
    }
    int rc = tdx_grow((void **)&b->terms, &b->cap_terms, b->nterms + 1, sizeof *b->terms, 1024);
    if (rc)
        return rc;
    if (b->nterms >= UINT32_MAX - 1 || b->strs.len + len > UINT32_MAX)
        return TDX_ELIMIT;
    term_rec *r = &b->terms[b->nterms];
    r->code = code;
    r->str_off = (uint32_t)b->strs.len;
    r->str_len = (uint32_t)len;
    r->last_doc = UINT32_MAX;
    r->nent = 0;
    rc = tdx_buf_append(&b->strs, s, len);
    if (rc)
        return rc;
    b->tab[h] = (uint32_t)b->nterms + 1;
    *out_id = (uint32_t)b->nterms++;
    return 0;
}

/* General path: one entry.  Positional terms keep every occurrence, the
 * others one entry per document. */
static int add_general(tdx_gram_builder *b, uint32_t doc, const uint8_t *term, size_t len,
                       uint32_t pos)
{
    if (len == 0 || len > TDX_FIELD_TERM_MAX + 8 || b->emitted)
        return TDX_EINVAL;
    uint32_t id;
    int rc = lookup(b, term, len, &id);
    if (rc)
        return rc;
    term_rec *r = &b->terms[id];
    int positional = tdx_term_positional(term[0]);
    if (!positional && r->last_doc == doc)
        return 0;
    if (b->ngen == b->cap_gen &&
        tdx_grow((void **)&b->gen, &b->cap_gen, b->ngen + 1, sizeof *b->gen, 4096))
        return TDX_ENOMEM;
    /* Counted only once the entry is stored: emit sizes each run by nent. */
    r->last_doc = doc;
    r->nent++;
    b->gen[b->ngen].term = id;
    b->gen[b->ngen].doc = doc;
    b->gen[b->ngen].pos = positional ? pos : NO_POS;
    b->ngen++;
    return 0;
}

int tdx_gram_add_term(tdx_gram_builder *b, uint32_t doc, const uint8_t *term, size_t len)
{
    /* Explicit terms have no position in the text (0 if positional). */
    return add_general(b, doc, term, len, 0);
}

/* Long ASCII runs are indexed as 64-byte windows every 32 bytes (the last
 * aligned to the end of the run), so any fragment of up to 32 bytes lies
 * whole inside some indexed window; a window's position is where it starts. */
static int add_word(tdx_gram_builder *b, uint32_t doc, const uint8_t *w, size_t len, uint32_t pos)
{
    uint8_t term[TDX_WORD_MAX + 1];
    term[0] = TDX_TERM_WORD;
    if (len <= TDX_WORD_MAX) {
        memcpy(term + 1, w, len);
        return add_general(b, doc, term, len + 1, pos);
    }
    for (size_t off = 0;; off += TDX_WORD_MAX / 2) {
        if (off + TDX_WORD_MAX > len)
            off = len - TDX_WORD_MAX;
        memcpy(term + 1, w + off, TDX_WORD_MAX);
        int rc = add_general(b, doc, term, TDX_WORD_MAX + 1, pos + (uint32_t)off);
        if (rc || off + TDX_WORD_MAX == len)
            return rc;
    }
}

static int add_general(tdx_gram_builder *b, uint32_t doc, const uint8_t *term, size_t len,
                       uint32_t pos);

/* The trigrams of word w[0..len), len >= 3: one pair per code and document;
 * past the batch's bound, the document under TDX_TRIGRAM_CUT instead. */
static int add_trigrams(tdx_gram_builder *b, uint32_t doc, const uint8_t *w, size_t len)
{
    if (b->tri_max && b->ntri + len - 2 > b->tri_max) {
        if (b->tri_cut == doc + 1)
            return 0;
        b->tri_cut = doc + 1;
        return add_general(b, doc, (const uint8_t *)TDX_TRIGRAM_CUT, 1, NO_POS);
    }
    if (tdx_grow((void **)&b->tri, &b->cap_tri, b->ntri + len, sizeof *b->tri, 4096))
        return TDX_ENOMEM;
    pair *out = b->tri + b->ntri;
    uint32_t *last = b->tri_last, *cnt = b->tri_cnt, mark = doc + 1;
    uint32_t s0 = b->tri_sym[w[0]], s1 = b->tri_sym[w[1]];
    for (size_t i = 2; i < len; i++) {
        uint32_t s2 = b->tri_sym[w[i]], code = (s0 * TRI_SYMS + s1) * TRI_SYMS + s2;
        s0 = s1;
        s1 = s2;
        /* Branch-free as for unigrams: the entry is written always and kept
         * on the document's first sight of the code. */
        uint32_t first = last[code] != mark;
        last[code] = mark;
        cnt[code] += first;
        out->term = code;
        out->doc = doc;
        out += first;
    }
    b->ntri = (size_t)(out - b->tri);
    return 0;
}

/* Rank of a code point, assigned on first sight; NO_RANK when the batch
 * already has MAX_RANKS distinct characters. */
static inline uint32_t rank_of(tdx_gram_builder *b, uint32_t cp)
{
    if (cp < 0x10000) {
        uint32_t v = b->rank_bmp[cp];
        if (v)
            return v - 1;
        if (b->nranks >= MAX_RANKS)
            return NO_RANK;
        uint32_t r = (uint32_t)b->nranks++;
        b->rank_cp[r] = cp;
        b->uni_last[r] = UINT32_MAX;
        b->uni_cnt[r] = 0;
        b->bi_cnt[r] = 0;
        b->rank_bmp[cp] = r + 1;
        return r;
    }
    size_t h = (cp * 2654435761u) & b->astral_mask;
    while (b->astral[h]) {
        uint64_t e = b->astral[h] - 1;
        if ((uint32_t)(e >> 32) == cp)
            return (uint32_t)e;
        h = (h + 1) & b->astral_mask;
    }
    /* A full table sends new characters down the general path (rare). */
    if (b->nranks >= MAX_RANKS || (b->nastral + 1) * 2 > b->astral_mask + 1)
        return NO_RANK;
    uint32_t r = (uint32_t)b->nranks++;
    b->rank_cp[r] = cp;
    b->uni_last[r] = UINT32_MAX;
    b->uni_cnt[r] = 0;
    b->bi_cnt[r] = 0;
    b->astral[h] = (((uint64_t)cp << 32) | r) + 1;
    b->nastral++;
    return r;
}

/* Grams the fast path cannot take, through the general path: the bigram
 * (prev_cp, cp) at pos - 1 when prev_cp >= 0, and cp's unigram when
 * `unigram`. */
static int add_gram_slow(tdx_gram_builder *b, uint32_t doc, int32_t prev_cp, uint32_t cp,
                         uint32_t pos, int unigram)
{
    uint8_t t[9];
    size_t n;
    int rc = 0;
    if (unigram) {
        t[0] = TDX_TERM_UNIGRAM;
        n = 1 + tdx_utf8_encode(t + 1, cp);
        rc = add_general(b, doc, t, n, NO_POS);
    }
    if (rc || prev_cp < 0)
        return rc;
    t[0] = TDX_TERM_BIGRAM;
    n = 1 + tdx_utf8_encode(t + 1, (uint32_t)prev_cp);
    n += tdx_utf8_encode(t + n, cp);
    return add_general(b, doc, t, n, pos - 1);
}

int tdx_gram_builder_reserve(tdx_gram_builder *b, size_t text_bytes)
{
    /* A CJK character is 3 bytes and gives at most one unigram and one
     * bigram entry; ASCII gives fewer. */
    size_t n = text_bytes / 3 + 1024;
    if (tdx_grow((void **)&b->uni, &b->cap_uni, b->nuni + n, sizeof *b->uni, 65536) ||
        tdx_grow((void **)&b->bi, &b->cap_bi, b->nbi + n, sizeof *b->bi, 65536))
        return TDX_ENOMEM;
    return 0;
}

int tdx_gram_add_text(tdx_gram_builder *b, uint32_t doc, const uint8_t *text, size_t len)
{
    const uint8_t *p = text, *end = text + len;
    if (b->emitted)
        return TDX_EINVAL;
    if (len > UINT32_MAX / 2)
        return TDX_ELIMIT;
    /* Room for every character of this text up front: no checks per char. */
    if (tdx_grow((void **)&b->uni, &b->cap_uni, b->nuni + len / 2 + 1, sizeof *b->uni, 65536) ||
        tdx_grow((void **)&b->bi, &b->cap_bi, b->nbi + len / 2 + 1, sizeof *b->bi, 65536))
        return TDX_ENOMEM;
    pair *uni = b->uni + b->nuni;
    triple *bi = b->bi + b->nbi;
    uint32_t prev = NO_RANK; /* rank of the previous character if adjacent non-ASCII */
    int32_t prev_cp = -1;
    uint32_t pos = 0; /* characters so far */
    int rc = 0;
    while (p < end && rc == 0) {
        uint8_t c = *p;
        if (c < 0x80) {
            prev = NO_RANK;
            prev_cp = -1;
            if (tdx_is_word_byte(c)) {
                const uint8_t *w = p;
                while (p < end && tdx_is_word_byte(*p))
                    p++;
                rc = add_word(b, doc, w, (size_t)(p - w), pos);
                if (rc == 0 && b->tri_on && p - w >= 3)
                    rc = add_trigrams(b, doc, w, (size_t)(p - w));
                pos += (uint32_t)(p - w);
            } else {
                p++;
                pos++;
            }
            continue;
        }
        uint32_t cp;
        /* Normalized text is well-formed UTF-8; decode the hot 3-byte (CJK)
         * form inline, the strict decoder for everything else. */
        if ((c & 0xF0) == 0xE0 && end - p >= 3 && (p[1] & 0xC0) == 0x80 &&
            (p[2] & 0xC0) == 0x80 &&
            (cp = ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F)) >=
                0x800 &&
            (cp < 0xD800 || cp > 0xDFFF)) {
            p += 3;
        } else {
            size_t l;
            int32_t d = tdx_utf8_decode(p, end, &l);
            p += l;
            if (d < 0) {
                prev = NO_RANK;
                prev_cp = -1;
                pos++;
                continue;
            }
            cp = (uint32_t)d;
        }
        uint32_t r = rank_of(b, cp);
        if (r == NO_RANK) {
            /* A character beyond the batch's rank table: both its grams go
             * the general way (and so will every gram it is part of). */
            rc = add_gram_slow(b, doc, prev_cp, cp, pos, 1);
        } else {
            /* Written always, kept on a document's first sight of r
             * (branch-free: which it is does not follow a pattern). */
            uint32_t first = b->uni_last[r] != doc;
            b->uni_last[r] = doc;
            b->uni_cnt[r] += first;
            uni->term = r;
            uni->doc = doc;
            uni += first;
            if (prev != NO_RANK) {
                b->bi_cnt[r]++;
                bi->term = (prev << 16) | r;
                bi->doc = doc;
                bi->pos = pos - 1;
                bi++;
            } else if (prev_cp >= 0) {
                rc = add_gram_slow(b, doc, prev_cp, cp, pos, 0);
            }
        }
        prev = r;
        prev_cp = (int32_t)cp;
        pos++;
    }
    b->nuni = (size_t)(uni - b->uni);
    b->nbi = (size_t)(bi - b->bi);
    return rc;
}

size_t tdx_field_term(const char *name, const uint8_t *v, size_t l, uint8_t *out)
{
    size_t nl = strlen(name);
    if (nl == 0 || nl > TDX_FIELD_NAME_MAX)
        return 0;
    /* The single spaces the whitespace rule may leave at the ends go. */
    while (l && v[0] == ' ') {
        v++;
        l--;
    }
    while (l && v[l - 1] == ' ')
        l--;
    if (l == 0)
        return 0;
    if (l > TDX_FIELD_VALUE_MAX) {
        l = TDX_FIELD_VALUE_MAX;
        while (l && (v[l] & 0xC0) == 0x80)
            l--;
    }
    size_t n = 0;
    out[n++] = TDX_TERM_FIELD;
    memcpy(out + n, name, nl);
    n += nl;
    out[n++] = 0x1f;
    for (size_t i = 0; i < l; i++)
        out[n++] = v[i] == 0 ? ' ' : v[i];
    return n;
}

/* ---- emitting ---- */

static int cmp_cp(const void *x, const void *y, void *ctx)
{
    const uint32_t *cp = ctx;
    uint32_t a = cp[*(const uint32_t *)x], c = cp[*(const uint32_t *)y];
    return a < c ? -1 : a > c;
}

/*
 * Both gram arrays sorted by term, the ranks renumbered in code-point order
 * (ord) on the way; stable, so documents and positions stay in order.
 * Bigrams: an LSD radix sort over the two 16-bit halves, back into bi; the
 * first pass renumbers as it moves (the low halves were counted per rank
 * while adding) and counts the high halves for the second.  Unigrams: one
 * pass, into tmp (as pairs).  Only the U ranks in use are buckets.
 */
/* at[o]: where rank order[o]'s entries start, from their counts per rank. */
static void starts_in_order(uint32_t *at, const uint32_t *count, const uint32_t *order, size_t U)
{
    uint32_t acc = 0;
    for (size_t o = 0; o < U; o++) {
        at[o] = acc;
        acc += count[order[o]];
    }
}

/* The unigrams sorted by sort_grams: tmp, as pairs. */
static inline const pair *sorted_uni(const tdx_gram_builder *b)
{
    return (const pair *)b->tmp;
}

static void sort_grams(tdx_gram_builder *b)
{
    size_t U = b->nranks;
    const uint32_t *ord = b->ord, *order = b->order;
    uint32_t *lo_at = b->start, *hi_at = b->start + 65536;
    starts_in_order(lo_at, b->bi_cnt, order, U);
    memset(hi_at, 0, U * sizeof *hi_at);
    triple *bi = b->bi, *tmp = b->tmp;
    size_t nbi = b->nbi;
    for (size_t i = 0; i < nbi; i++) {
        triple e = bi[i];
        uint32_t hi = ord[e.term >> 16], lo = ord[e.term & 0xFFFF];
        e.term = hi << 16 | lo;
        tmp[lo_at[lo]++] = e;
        hi_at[hi]++;
    }
    uint32_t acc = 0;
    for (size_t o = 0; o < U; o++) {
        uint32_t n = hi_at[o];
        hi_at[o] = acc;
        acc += n;
    }
    for (size_t i = 0; i < nbi; i++)
        bi[hi_at[tmp[i].term >> 16]++] = tmp[i];
    const pair *uni = b->uni;
    pair *us = (pair *)b->tmp;
    size_t nuni = b->nuni;
    starts_in_order(lo_at, b->uni_cnt, order, U);
    for (size_t i = 0; i < nuni; i++) {
        pair e = uni[i];
        e.term = ord[e.term];
        us[lo_at[e.term]++] = e;
    }
}

static int cmp_terms(const void *x, const void *y, void *ctx)
{
    const tdx_gram_builder *b = ctx;
    const term_rec *r = &b->terms[*(const uint32_t *)x], *s = &b->terms[*(const uint32_t *)y];
    size_t la = r->str_len, lb = s->str_len;
    int c = memcmp(b->strs.p + r->str_off, b->strs.p + s->str_off, la < lb ? la : lb);
    return c ? c : (la < lb ? -1 : la > lb);
}

/*
 * The general path's term ids in byte order of their terms, into order[].
 * An LSD radix sort on the 8-byte prefix (a byte every key shares costs no
 * pass: the class byte, usually), then each run of equal prefixes by the
 * full comparison.  A comparison sort of the ids through the term bytes
 * took 19 ms of a 10 MB batch's emit (69k terms; bench_postings: stage
 * 113 -> 142 MB/s), a few percent of a whole run.
 */
static int sort_terms(tdx_gram_builder *b, size_t nt, uint32_t *order)
{
    if (nt == 0)
        return 0;
    if (tdx_grow((void **)&b->tkey, &b->cap_tkey, 2 * nt, sizeof *b->tkey, 1024))
        return TDX_ENOMEM;
    term_key *a = b->tkey, *tmp = b->tkey + nt;
    uint32_t count[8][256]; /* per byte of the key: a histogram (16 KB, one pass) */
    memset(count, 0, sizeof count);
    for (size_t i = 0; i < nt; i++) {
        const term_rec *r = &b->terms[i];
        uint8_t k8[8] = {0};
        memcpy(k8, b->strs.p + r->str_off, r->str_len < 8 ? r->str_len : 8);
        uint64_t key = 0;
        for (int j = 0; j < 8; j++) {
            key = key << 8 | k8[j];
            count[j][k8[j]]++;
        }
        a[i].key = key;
        a[i].id = (uint32_t)i;
    }
    for (int j = 7; j >= 0; j--) {
        uint32_t *c = count[j], acc = 0;
        int shift = (7 - j) * 8;
        if (c[(a[0].key >> shift) & 0xFF] == nt)
            continue; /* every key has this byte */
        for (size_t v = 0; v < 256; v++) {
            uint32_t n = c[v];
            c[v] = acc;
            acc += n;
        }
        for (size_t i = 0; i < nt; i++)
            tmp[c[(a[i].key >> shift) & 0xFF]++] = a[i];
        term_key *t = a;
        a = tmp;
        tmp = t;
    }
    for (size_t i = 0; i < nt; i++)
        order[i] = a[i].id;
    for (size_t i = 0, j; i < nt; i = j) {
        for (j = i + 1; j < nt && a[j].key == a[i].key; j++)
            ;
        if (j - i > 1)
            qsort_r(order + i, j - i, sizeof *order, cmp_terms, b);
    }
    return 0;
}

/*
 * Entries [i, j) of one term, in (doc, pos) order, into out: one entry per
 * document, with the positions as payload when the term is positional.
 */
static int emit_entries(tdx_gram_builder *b, const triple *e, size_t n, int positional,
                        tdx_postings *out)
{
    if (!positional) {
        if (tdx_grow((void **)&b->docbuf, &b->cap_docbuf, n + 1, sizeof *b->docbuf, 1024))
            return TDX_ENOMEM;
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (k == 0 || b->docbuf[k - 1] != e[i].doc)
                b->docbuf[k++] = e[i].doc;
        return tdx_postings_add_docs(out, b->docbuf, k);
    }
    /* Positions go straight into the output's payload buffer (at most two
     * varints per entry plus one per further occurrence) and entries
     * straight into its arrays: this loop runs once per (bigram, doc). */
    if (tdx_buf_grow(&out->payload, n * 2 * TDX_VARINT_MAX) ||
        out->payload.len + n * 2 * TDX_VARINT_MAX > UINT32_MAX ||
        (out->nentries + n > out->cap_entries && tdx_postings_reserve(out, 0, out->nentries + n)))
        return TDX_ENOMEM;
    if (out->nentries + n >= UINT32_MAX)
        return TDX_ELIMIT;
    uint8_t *w = out->payload.p + out->payload.len;
    size_t ne = out->nentries;
    size_t i = 0;
    while (i < n) {
        size_t j = i + 1;
        while (j < n && e[j].doc == e[i].doc)
            j++;
        w += tdx_varint_put(w, ((uint64_t)e[i].pos << 1) | (j - i > 1));
        if (j - i > 1)
            w += tdx_varint_put(w, j - i - 1);
        for (size_t k = i + 1; k < j; k++)
            w += tdx_varint_put(w, e[k].pos - e[k - 1].pos);
        out->docs[ne] = e[i].doc;
        out->pay_end[ne] = (uint32_t)(w - out->payload.p);
        ne++;
        i = j;
    }
    out->payload.len = (size_t)(w - out->payload.p);
    out->nentries = ne;
    out->ent_end[out->nterms - 1] = (uint32_t)ne;
    out->payload.p[out->payload.len] = 0;
    return 0;
}

/* Trigram pairs sorted by code: a counting sort, stable, through tri_last
 * (no longer needed for adding) as the run starts. */
static void sort_trigrams(tdx_gram_builder *b)
{
    uint32_t acc = 0, *at = b->tri_last;
    for (uint32_t c = 0; c < TRI_CODES; c++) {
        at[c] = acc;
        acc += b->tri_cnt[c];
    }
    for (size_t i = 0; i < b->ntri; i++)
        b->tri_sorted[at[b->tri[i].term]++] = b->tri[i];
}

/* Cursor over the sorted gram entries (bigrams, trigrams, unigrams: the
 * order of their class bytes). */
enum { STAGE_BI, STAGE_TRI, STAGE_UNI, STAGE_DONE };

typedef struct gram_cursor {
    const tdx_gram_builder *b;
    size_t i;     /* position in the current array */
    int stage;    /* STAGE_* */
    uint8_t key[12];
    size_t klen;
    size_t run_end; /* end of the current run of equal terms */
} gram_cursor;

/* The entries of a stage, and the sorted pairs of a pair stage (trigrams
 * or unigrams). */
static size_t stage_len(const tdx_gram_builder *b, int stage)
{
    return stage == STAGE_BI ? b->nbi : stage == STAGE_TRI ? b->ntri : b->nuni;
}

static const pair *stage_pairs(const tdx_gram_builder *b, int stage)
{
    return stage == STAGE_TRI ? b->tri_sorted : sorted_uni(b);
}

static void gram_cursor_fill(gram_cursor *g)
{
    const tdx_gram_builder *b = g->b;
    for (;;) {
        if (g->stage >= STAGE_DONE)
            return;
        size_t n = stage_len(b, g->stage);
        const pair *ps = stage_pairs(b, g->stage);
        if (g->i >= n) {
            g->stage++;
            g->i = 0;
            continue;
        }
        uint32_t t = g->stage == STAGE_BI ? b->bi[g->i].term : ps[g->i].term;
        size_t j = g->i + 1;
        if (g->stage == STAGE_BI)
            while (j < n && b->bi[j].term == t)
                j++;
        else
            while (j < n && ps[j].term == t)
                j++;
        g->run_end = j;
        g->klen = 0;
        if (g->stage == STAGE_BI) {
            g->key[g->klen++] = TDX_TERM_BIGRAM;
            g->klen += tdx_utf8_encode(g->key + g->klen, b->ord_cp[t >> 16]);
            g->klen += tdx_utf8_encode(g->key + g->klen, b->ord_cp[t & 0xFFFF]);
        } else if (g->stage == STAGE_TRI) {
            g->key[g->klen++] = TDX_TERM_TRIGRAM;
            g->key[g->klen++] = (uint8_t)tri_sym_byte[t / (TRI_SYMS * TRI_SYMS)];
            g->key[g->klen++] = (uint8_t)tri_sym_byte[t / TRI_SYMS % TRI_SYMS];
            g->key[g->klen++] = (uint8_t)tri_sym_byte[t % TRI_SYMS];
        } else {
            g->key[g->klen++] = TDX_TERM_UNIGRAM;
            g->klen += tdx_utf8_encode(g->key + g->klen, b->ord_cp[t]);
        }
        return;
    }
}

static int emit_gram_run(tdx_gram_builder *b, gram_cursor *g, tdx_postings *out)
{
    int rc = tdx_postings_add_term(out, g->key, g->klen);
    if (rc)
        return rc;
    size_t n = g->run_end - g->i;
    if (g->stage == STAGE_BI) {
        rc = emit_entries(b, b->bi + g->i, n, 1, out);
    } else {
        /* Unigrams and trigrams arrive once per document: their docs as
         * they are. */
        if (tdx_grow((void **)&b->docbuf, &b->cap_docbuf, n + 1, sizeof *b->docbuf, 1024))
            return TDX_ENOMEM;
        const pair *ps = stage_pairs(b, g->stage);
        for (size_t j = 0; j < n; j++)
            b->docbuf[j] = ps[g->i + j].doc;
        rc = tdx_postings_add_docs(out, b->docbuf, n);
    }
    g->i = g->run_end;
    gram_cursor_fill(g);
    return rc;
}

int tdx_gram_emit(tdx_gram_builder *b, tdx_postings *out, tdx_err *err)
{
    tdx_postings_reset(out);
    int rc = 0;
    size_t U = b->nranks, nt = b->nterms;
    size_t need = b->nbi > b->nuni ? b->nbi : b->nuni;
    if (tdx_grow((void **)&b->order, &b->cap_order, (U > nt ? U : nt) + 1, sizeof *b->order,
                 1024) ||
        tdx_grow((void **)&b->tmp, &b->cap_tmp, need + 1, sizeof *b->tmp, 65536) ||
        tdx_grow((void **)&b->start, &b->cap_start, (nt > 2 * 65536 ? nt : 2 * 65536) + 1,
                 sizeof *b->start, 65536) ||
        tdx_grow((void **)&b->sorted_gen, &b->cap_sorted, b->ngen + 1, sizeof *b->sorted_gen,
                 4096) ||
        tdx_grow((void **)&b->tri_sorted, &b->cap_tri_sorted, b->ntri + 1, sizeof *b->tri_sorted,
                 4096))
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    if (!b->emitted) {
        /* 1. Ranks renumbered in code-point order: key order is byte order. */
        for (size_t r = 0; r < U; r++)
            b->order[r] = (uint32_t)r;
        qsort_r(b->order, U, sizeof *b->order, cmp_cp, b->rank_cp);
        for (size_t o = 0; o < U; o++) {
            b->ord[b->order[o]] = (uint32_t)o;
            b->ord_cp[o] = b->rank_cp[b->order[o]];
        }
        /* 2. The arrays sorted by term (bigrams in bi, unigrams in tmp,
         * trigrams in tri_sorted). */
        sort_grams(b);
        sort_trigrams(b);
        b->emitted = 1;
    }
    /* The output holds at most every entry: reserve once. */
    if (tdx_postings_reserve(out, U + nt + b->nbi + b->ntri, b->nuni + b->nbi + b->ngen + b->ntri))
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    /* 3. General-path terms: counting sort of entries by id, ids by bytes. */
    uint32_t *tstart = b->start;
    triple *tent = b->sorted_gen;
    uint32_t acc = 0;
    for (size_t i = 0; i < nt; i++) {
        tstart[i] = acc;
        acc += b->terms[i].nent;
    }
    for (size_t i = 0; i < b->ngen; i++)
        tent[tstart[b->gen[i].term]++] = b->gen[i];
    if (sort_terms(b, nt, b->order))
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    /* 4. Merge the two sorted streams by term bytes. */
    gram_cursor g = {b, 0, 0, {0}, 0, 0};
    gram_cursor_fill(&g);
    size_t k = 0;
    while (rc == 0 && (g.stage < STAGE_DONE || k < nt)) {
        int take_gram;
        if (g.stage >= STAGE_DONE) {
            take_gram = 0;
        } else if (k >= nt) {
            take_gram = 1;
        } else {
            const term_rec *r = &b->terms[b->order[k]];
            size_t l = r->str_len < g.klen ? r->str_len : g.klen;
            int c = memcmp(g.key, b->strs.p + r->str_off, l);
            /* Equal bytes cannot happen: a character's grams go one way for
             * the whole batch (ranked or not).  Equal prefixes: shorter first. */
            take_gram = c < 0 || (c == 0 && g.klen < r->str_len);
        }
        if (take_gram) {
            rc = emit_gram_run(b, &g, out);
        } else {
            uint32_t id = b->order[k++];
            const term_rec *r = &b->terms[id];
            if (r->nent == 0)
                continue; /* its add ran out of memory after the lookup */
            const uint8_t *t = b->strs.p + r->str_off;
            rc = tdx_postings_add_term(out, t, r->str_len);
            uint32_t end = tstart[id], beg = end - r->nent;
            if (rc == 0)
                rc = emit_entries(b, tent + beg, end - beg, tdx_term_positional(t[0]), out);
        }
    }
    if (rc)
        return tdx_err_set(err, rc, "out of memory building postings");
    b->emitted_terms = out->nterms;
    return 0;
}

/* ---- query side ---- */

static int push_qterm(tdx_qterm *out, size_t cap, size_t *n, uint8_t cls, const uint8_t *s,
                      size_t len, uint8_t part, size_t off)
{
    if (*n >= cap)
        return TDX_ELIMIT;
    if (off > UINT16_MAX)
        return TDX_ELIMIT;
    tdx_qterm *t = &out[(*n)++];
    t->term[0] = cls;
    memcpy(t->term + 1, s, len);
    t->len = (uint8_t)(len + 1);
    t->part = part;
    t->off = (uint16_t)off;
    return 0;
}

int tdx_query_terms(const uint8_t *q, size_t len, tdx_qterm *out, size_t cap, size_t *out_n,
                    int *out_exact, int *out_posexact)
{
    size_t n = 0, nonascii = 0, words = 0, other = 0, lone = 0, long_frags = 0;
    const uint8_t *p = q, *end = q + len;
    const uint8_t *prev = NULL; /* start of previous adjacent non-ASCII char */
    size_t prev_len = 0;
    size_t pos = 0; /* characters so far */
    int rc = 0;
    while (p < end && rc == 0) {
        uint8_t c = *p;
        if (c < 0x80) {
            prev = NULL;
            if (tdx_is_word_byte(c)) {
                const uint8_t *w = p;
                while (p < end && tdx_is_word_byte(*p))
                    p++;
                size_t wl = (size_t)(p - w);
                uint8_t part = (uint8_t)((w == q ? TDX_PART_SUFFIX : 0) |
                                         (p == end ? TDX_PART_PREFIX : 0));
                words++;
                /* A fragment longer than half a window may straddle two
                 * windows of a long indexed word: leave it to verification. */
                if (wl <= TDX_WORD_MAX / 2)
                    rc = push_qterm(out, cap, &n, TDX_TERM_WORD, w, wl, part, pos);
                else
                    long_frags++;
                pos += wl;
            } else {
                other++;
                p++;
                pos++;
            }
            continue;
        }
        size_t l;
        int32_t cp = tdx_utf8_decode(p, end, &l);
        if (cp < 0) {
            other++;
            prev = NULL;
            p += l;
            pos++;
            continue;
        }
        nonascii++;
        if (prev) {
            uint8_t bg[8];
            memcpy(bg, prev, prev_len);
            memcpy(bg + prev_len, p, l);
            rc = push_qterm(out, cap, &n, TDX_TERM_BIGRAM, bg, prev_len + l, TDX_PART_EXACT,
                            pos - 1);
        } else if (p + l >= end || p[l] < 0x80) {
            /* A lone non-ASCII character: its unigram (no positions). */
            rc = push_qterm(out, cap, &n, TDX_TERM_UNIGRAM, p, l, TDX_PART_EXACT, pos);
            lone++;
        }
        prev = p;
        prev_len = l;
        p += l;
        pos++;
    }
    if (rc)
        return rc;
    *out_n = n;
    /* Exact without verification: the whole query is one or two non-ASCII
     * characters, or one ASCII word fragment found through the dictionary. */
    *out_exact = (other == 0 && words == 0 && (nonascii == 1 || nonascii == 2)) ||
                 (other == 0 && nonascii == 0 && words == 1 && n == 1);
    /* Proved by positions: every character of the query is covered by a
     * positional term at its offset. */
    *out_posexact = n > 0 && other == 0 && lone == 0 && long_frags == 0;
    return 0;
}
