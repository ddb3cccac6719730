/*
 * test_index.c - term extraction, the per-batch postings builder and the
 * query-side term cut (index/), each against a slow obvious model:
 *
 *   - random texts are generated as a list of characters (ASCII byte,
 *     non-ASCII code point, or an ill-formed sequence), and the terms a
 *     document must get are computed from that list, never by re-reading
 *     the bytes; the builder's postings must equal them term for term, and
 *     the positions in their payloads the model's;
 *   - tdx_query_terms is checked over a naive index of random documents:
 *     every document containing the query as a substring must satisfy all
 *     returned terms (soundness), and when the cut claims to be exact the
 *     documents satisfying the terms are exactly those containing the query.
 */
#include "tassert.h"
#include <jemalloc/jemalloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/postings.h"
#include "common/varint.h"
#include "index/index.h"
#include "testutil.h"

static void setup(void)
{
    tu_tmpdir();
}

static void teardown(void)
{
    tu_tmpdir_remove();
}

TestSuite(index, .init = setup, .fini = teardown);

/* ---- random texts as character lists ------------------------------------------ */

enum { K_ASCII, K_WIDE, K_BAD };

typedef struct tchar {
    uint32_t off, len;
    int kind;
} tchar;

typedef struct ttext {
    uint8_t *p;
    size_t len, cap;
    tchar *c;
    size_t n, capc;
} ttext;

static void tt_bytes(ttext *t, const void *b, size_t n, int kind)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->p = realloc(t->p, t->cap);
    }
    if (t->n == t->capc) {
        t->capc = t->capc ? t->capc * 2 : 64;
        t->c = realloc(t->c, t->capc * sizeof *t->c);
    }
    t->c[t->n++] = (tchar){(uint32_t)t->len, (uint32_t)n, kind};
    memcpy(t->p + t->len, b, n);
    t->len += n;
    t->p[t->len] = 0;
}

/* Written out from the table in RFC 3629, section 3. */
static size_t enc_utf8(uint32_t cp, uint8_t *o)
{
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xC0 + cp / 64);
        o[1] = (uint8_t)(0x80 + cp % 64);
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xE0 + cp / 4096);
        o[1] = (uint8_t)(0x80 + cp / 64 % 64);
        o[2] = (uint8_t)(0x80 + cp % 64);
        return 3;
    }
    o[0] = (uint8_t)(0xF0 + cp / 262144);
    o[1] = (uint8_t)(0x80 + cp / 4096 % 64);
    o[2] = (uint8_t)(0x80 + cp / 64 % 64);
    o[3] = (uint8_t)(0x80 + cp % 64);
    return 4;
}

static void tt_cp(ttext *t, uint32_t cp)
{
    uint8_t b[4];
    size_t n = enc_utf8(cp, b);
    tt_bytes(t, b, n, cp < 0x80 ? K_ASCII : K_WIDE);
}

static void tt_free(ttext *t)
{
    free(t->p);
    free(t->c);
    memset(t, 0, sizeof *t);
}

static const uint32_t cjk[] = {0x4E2D, 0x56FD, 0x5927, 0x5B66, 0x91C7, 0x8D2D,
                               0x516C, 0x53F8, 0x62DB, 0x6807, 0x6DF1, 0x5733};
/* Latin-1, Greek, a dash, the ideographic space, full-width A, an emoji, the
 * last scalar value: two-, three- and four-byte sequences. */
static const uint32_t other_cp[] = {0xE9, 0xFC, 0x3B1, 0x2014, 0x3000, 0xFF21, 0x1F600, 0x10FFFF};
/* Each of these decodes as one ill-formed subpart whatever follows it in a
 * generated text (nothing generated starts with a continuation byte). */
static const char *const bad_seq[] = {"\xFF", "\xC0", "\xE4\xB8", "\xF0\x9F"};

typedef struct genopts {
    const char *alpha; /* word characters */
    size_t ncjk;       /* how many of cjk[] to use */
    int bad;           /* emit ill-formed sequences */
    char **pool;       /* long words to reuse */
    size_t npool;
} genopts;

static size_t rnd(uint64_t *r, size_t n)
{
    return (size_t)(tu_rand(r) % n);
}

static size_t word_len(uint64_t *r)
{
    size_t x = rnd(r, 100);
    if (x < 70)
        return 1 + rnd(r, 8);
    if (x < 80)
        return 28 + rnd(r, 10); /* around half a window */
    if (x < 88)
        return 60 + rnd(r, 10); /* around a window */
    return 65 + rnd(r, 150);    /* several windows */
}

static void gen_tokens(ttext *t, uint64_t *r, size_t ntok, const genopts *o)
{
    size_t na = strlen(o->alpha);
    for (size_t k = 0; k < ntok; k++) {
        size_t x = rnd(r, 100);
        if (x < 33) {
            for (size_t i = word_len(r); i > 0; i--)
                tt_cp(t, (uint8_t)o->alpha[rnd(r, na)]);
        } else if (x < 40 && o->npool) {
            const char *w = o->pool[rnd(r, o->npool)];
            size_t wl = strlen(w), b = 0, e = wl;
            if (rnd(r, 2))
                b = rnd(r, wl / 2);
            if (rnd(r, 2))
                e = wl - rnd(r, wl / 2);
            for (size_t i = b; i < e; i++)
                tt_cp(t, (uint8_t)w[i]);
        } else if (x < 65) {
            for (size_t i = 1 + rnd(r, 6); i > 0; i--)
                tt_cp(t, cjk[rnd(r, o->ncjk)]);
        } else if (x < 72) {
            for (size_t i = 1 + rnd(r, 3); i > 0; i--)
                tt_cp(t, other_cp[rnd(r, sizeof other_cp / sizeof *other_cp)]);
        } else if (x < 96 || !o->bad) {
            static const char sep[] = " ,.-/()\n\t\x01\x7f_";
            for (size_t i = 1 + rnd(r, 3); i > 0; i--)
                tt_cp(t, (uint8_t)sep[rnd(r, sizeof sep - 1)]);
        } else {
            const char *b = bad_seq[rnd(r, 4)];
            tt_bytes(t, b, strlen(b), K_BAD);
        }
    }
}

/* ---- the obvious term model ----------------------------------------------------- */

typedef struct tpair {
    uint8_t *t;
    size_t len;
    uint32_t doc;
    uint32_t pos; /* the occurrence's position (0 for non-positional terms) */
} tpair;

typedef struct tlist {
    tpair *v;
    size_t n, cap;
} tlist;

static void tl_add_at(tlist *l, const void *t, size_t len, uint32_t doc, uint32_t pos)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
    }
    tpair *p = &l->v[l->n++];
    p->t = malloc(len ? len : 1);
    memcpy(p->t, t, len);
    p->len = len;
    p->doc = doc;
    p->pos = pos;
}

static void tl_add(tlist *l, const void *t, size_t len, uint32_t doc)
{
    tl_add_at(l, t, len, doc, 0);
}

static void tl_free(tlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].t);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int cmp_bytes(const uint8_t *a, size_t la, const uint8_t *b, size_t lb)
{
    for (size_t i = 0; i < la && i < lb; i++)
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    return la < lb ? -1 : la > lb;
}

static int cmp_pair(const void *x, const void *y)
{
    const tpair *a = x, *b = y;
    int c = cmp_bytes(a->t, a->len, b->t, b->len);
    return c ? c : (a->doc < b->doc ? -1 : a->doc > b->doc);
}

/* Sort by (term, doc) and drop repeated pairs. */
static void tl_finish(tlist *l)
{
    qsort(l->v, l->n, sizeof *l->v, cmp_pair);
    size_t w = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (w && cmp_pair(&l->v[w - 1], &l->v[i]) == 0) {
            free(l->v[i].t);
            continue;
        }
        l->v[w++] = l->v[i];
    }
    l->n = w;
}

static int is_alnum(uint8_t c)
{
    return c && strchr("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", c);
}

/*
 * The terms of a text: 'u' per non-ASCII character, 'b' per adjacent pair
 * of them, 'w' per maximal alphanumeric ASCII run -- whole when it has at
 * most 64 bytes, else every 64-byte window starting at a multiple of 32
 * plus the window ending at the end of the run.  Bigrams and words carry
 * their positions (in characters; a window's is where it starts).
 */
static void model_text_terms(const ttext *t, uint32_t doc, tlist *out)
{
    uint8_t buf[300];
    for (size_t i = 0; i < t->n; i++) {
        const tchar *c = &t->c[i];
        if (c->kind != K_WIDE)
            continue;
        buf[0] = 'u';
        memcpy(buf + 1, t->p + c->off, c->len);
        tl_add(out, buf, 1 + c->len, doc);
        if (i > 0 && t->c[i - 1].kind == K_WIDE) {
            const tchar *a = &t->c[i - 1];
            buf[0] = 'b';
            memcpy(buf + 1, t->p + a->off, a->len);
            memcpy(buf + 1 + a->len, t->p + c->off, c->len);
            tl_add_at(out, buf, 1 + a->len + c->len, doc, (uint32_t)i - 1);
        }
    }
    for (size_t i = 0; i < t->n;) {
        if (t->c[i].kind != K_ASCII || !is_alnum(t->p[t->c[i].off])) {
            i++;
            continue;
        }
        size_t s = i;
        while (i < t->n && t->c[i].kind == K_ASCII && is_alnum(t->p[t->c[i].off]))
            i++;
        const uint8_t *w = t->p + t->c[s].off;
        size_t L = i - s;
        /* Every 3 bytes of the run, once per document. */
        for (size_t k = 0; k + 3 <= L; k++) {
            buf[0] = 't';
            memcpy(buf + 1, w + k, 3);
            tl_add(out, buf, 4, doc);
        }
        buf[0] = 'w';
        if (L <= 64) {
            memcpy(buf + 1, w, L);
            tl_add_at(out, buf, 1 + L, doc, (uint32_t)s);
            continue;
        }
        for (size_t off = 0; off + 64 <= L; off += 32) {
            memcpy(buf + 1, w + off, 64);
            tl_add_at(out, buf, 65, doc, (uint32_t)(s + off));
        }
        if ((L - 64) % 32 == 0)
            continue; /* the last window is one of those */
        memcpy(buf + 1, w + L - 64, 64);
        tl_add_at(out, buf, 65, doc, (uint32_t)(s + L - 64));
    }
}

static const char *show(const uint8_t *p, size_t n)
{
    static char s[4][1200];
    static int k;
    char *o = s[k++ & 3];
    size_t j = 0;
    for (size_t i = 0; i < n && j + 5 < sizeof s[0]; i++) {
        if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\')
            o[j++] = (char)p[i];
        else
            j += (size_t)snprintf(o + j, 5, "\\x%02x", p[i]);
    }
    o[j] = 0;
    return o;
}

/* Postings must equal the sorted, deduplicated model list term for term. */
static void expect_postings(const tdx_postings *p, const tlist *l, uint64_t seed)
{
    size_t term = 0;
    for (size_t i = 0; i < l->n;) {
        size_t j = i;
        while (j < l->n && cmp_bytes(l->v[j].t, l->v[j].len, l->v[i].t, l->v[i].len) == 0)
            j++;
        cr_assert(lt(sz, term, p->nterms), "seed %llu: postings end before term '%s'",
                  (unsigned long long)seed, show(l->v[i].t, l->v[i].len));
        tdx_span sp = tdx_postings_term(p, term);
        cr_assert(eq(int, cmp_bytes(sp.p, sp.len, l->v[i].t, l->v[i].len), 0),
                  "seed %llu: term %zu is '%s', want '%s'", (unsigned long long)seed, term,
                  show(sp.p, sp.len), show(l->v[i].t, l->v[i].len));
        size_t e0 = tdx_postings_ent_begin(p, term), e1 = p->ent_end[term];
        cr_assert(eq(sz, e1 - e0, j - i), "seed %llu: term '%s' has %zu docs, want %zu",
                  (unsigned long long)seed, show(sp.p, sp.len), e1 - e0, j - i);
        for (size_t k = 0; k < j - i; k++)
            cr_assert(eq(u32, p->docs[e0 + k], l->v[i + k].doc), "seed %llu: term '%s' doc %zu",
                      (unsigned long long)seed, show(sp.p, sp.len), k);
        term++;
        i = j;
    }
    cr_assert(eq(sz, term, p->nterms), "seed %llu: postings have extra terms",
              (unsigned long long)seed);
}

/* Invariants of any tdx_postings, checked without a model. */
static void expect_well_formed(const tdx_postings *p)
{
    for (size_t t = 0; t < p->nterms; t++) {
        tdx_span sp = tdx_postings_term(p, t);
        cr_assert(gt(sz, sp.len, 0));
        if (t) {
            tdx_span pr = tdx_postings_term(p, t - 1);
            cr_assert(lt(int, cmp_bytes(pr.p, pr.len, sp.p, sp.len), 0),
                      "terms %zu and %zu out of order", t - 1, t);
        }
        size_t e0 = tdx_postings_ent_begin(p, t), e1 = p->ent_end[t];
        cr_assert(gt(sz, e1, e0), "term %zu has no docs", t);
        for (size_t e = e0 + 1; e < e1; e++)
            cr_assert(lt(u32, p->docs[e - 1], p->docs[e]), "term %zu docs not increasing", t);
    }
}

/* ---- builder vs model ------------------------------------------------------------ */

/* A batch document: its text and its explicit terms. */
typedef struct bdoc {
    ttext text;
    int has_text;
    tlist explicit_terms;
} bdoc;

static void gen_explicit(bdoc *d, uint64_t *r)
{
    uint8_t t[300];
    size_t n = rnd(r, 6);
    for (size_t i = 0; i < n; i++) {
        size_t x = rnd(r, 5), len;
        if (x < 3) {
            /* 'e', 'c', 'p' ids: small ones share bytes, zero bytes included */
            t[0] = "ecp"[x];
            uint32_t id = rnd(r, 4) ? (uint32_t)rnd(r, 20) : (uint32_t)tu_rand(r);
            t[1] = (uint8_t)(id >> 24);
            t[2] = (uint8_t)(id >> 16);
            t[3] = (uint8_t)(id >> 8);
            t[4] = (uint8_t)id;
            len = 5;
        } else if (x == 3) {
            static const char *const names[] = {"format", "encoding", "buyer", "b"};
            const char *nm = names[rnd(r, 4)];
            len = (size_t)snprintf((char *)t, sizeof t, "f%s\x1f", nm);
            size_t vl = rnd(r, 4) ? rnd(r, 6) : rnd(r, TDX_FIELD_TERM_MAX + 9 - len);
            static const char *const vch[] = {"a", "b", " ", "\xe4\xb8\xad"};
            for (size_t k = 0; k < vl && len + 3 <= TDX_FIELD_TERM_MAX + 8; k++) {
                const char *ch = vch[rnd(r, 4)];
                memcpy(t + len, ch, strlen(ch));
                len += strlen(ch);
            }
        } else {
            /* An explicit word, the same term as a word of some text. */
            t[0] = 'w';
            len = 1 + 1 + rnd(r, 3);
            for (size_t k = 1; k < len; k++)
                t[k] = (uint8_t) "abc"[rnd(r, 3)];
        }
        tl_add(&d->explicit_terms, t, len, 0);
    }
}

static void gen_batch(bdoc *docs, size_t n, uint64_t *r, const genopts *o)
{
    for (size_t i = 0; i < n; i++) {
        memset(&docs[i], 0, sizeof docs[i]);
        docs[i].has_text = rnd(r, 8) != 0;
        if (docs[i].has_text)
            gen_tokens(&docs[i].text, r, rnd(r, 40), o);
        gen_explicit(&docs[i], r);
    }
}

static void free_batch(bdoc *docs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        tt_free(&docs[i].text);
        tl_free(&docs[i].explicit_terms);
    }
}

static void model_batch(const bdoc *docs, size_t n, tlist *out)
{
    for (size_t i = 0; i < n; i++) {
        if (docs[i].has_text)
            model_text_terms(&docs[i].text, (uint32_t)i, out);
        for (size_t k = 0; k < docs[i].explicit_terms.n; k++)
            tl_add(out, docs[i].explicit_terms.v[k].t, docs[i].explicit_terms.v[k].len,
                   (uint32_t)i);
    }
    tl_finish(out);
}

/* Feed a batch; explicit terms go before or after the text at random. */
static int feed_batch(tdx_gram_builder *b, const bdoc *docs, size_t n, uint64_t *r)
{
    for (size_t i = 0; i < n; i++) {
        const bdoc *d = &docs[i];
        size_t split = d->explicit_terms.n ? rnd(r, d->explicit_terms.n + 1) : 0;
        for (size_t k = 0; k < split; k++) {
            int rc = tdx_gram_add_term(b, (uint32_t)i, d->explicit_terms.v[k].t,
                                       d->explicit_terms.v[k].len);
            if (rc)
                return rc;
        }
        if (d->has_text) {
            int rc = tdx_gram_add_text(b, (uint32_t)i, d->text.p, d->text.len);
            if (rc)
                return rc;
        }
        for (size_t k = split; k < d->explicit_terms.n; k++) {
            int rc = tdx_gram_add_term(b, (uint32_t)i, d->explicit_terms.v[k].t,
                                       d->explicit_terms.v[k].len);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static int cmp_occ(const void *x, const void *y)
{
    const tpair *a = x, *b = y;
    int c = cmp_pair(a, b);
    return c ? c : (a->pos < b->pos ? -1 : a->pos > b->pos);
}

static int cmp_u32(const void *x, const void *y)
{
    uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
    return a < b ? -1 : a > b;
}

/*
 * The payloads of the positional terms must hold the model's positions:
 * each entry's positions, decoded and sorted, are the occurrences of its
 * term in its document (an explicit word occurs at 0).
 */
static void expect_positions(const tdx_postings *p, const bdoc *docs, size_t n, uint64_t seed)
{
    tlist occ = {0};
    for (size_t i = 0; i < n; i++) {
        if (docs[i].has_text)
            model_text_terms(&docs[i].text, (uint32_t)i, &occ);
        for (size_t k = 0; k < docs[i].explicit_terms.n; k++)
            tl_add(&occ, docs[i].explicit_terms.v[k].t, docs[i].explicit_terms.v[k].len,
                   (uint32_t)i);
    }
    size_t w = 0;
    for (size_t i = 0; i < occ.n; i++) {
        if (tdx_term_positional(occ.v[i].t[0]))
            occ.v[w++] = occ.v[i];
        else
            free(occ.v[i].t);
    }
    occ.n = w;
    qsort(occ.v, occ.n, sizeof *occ.v, cmp_occ);
    size_t m = 0;
    for (size_t t = 0; t < p->nterms; t++) {
        tdx_span sp = tdx_postings_term(p, t);
        if (!tdx_term_positional(sp.p[0]))
            continue;
        for (size_t e = tdx_postings_ent_begin(p, t); e < p->ent_end[t]; e++) {
            tdx_span pl = tdx_postings_payload(p, e);
            const uint8_t *q = pl.p, *end = pl.p + pl.len;
            uint64_t first = 0, more = 0, d = 0;
            size_t l = tdx_varint_get(q, end, &first);
            cr_assert(gt(sz, l, 0), "seed %llu: term '%s' has no position",
                      (unsigned long long)seed, show(sp.p, sp.len));
            q += l;
            if (first & 1)
                q += tdx_varint_get(q, end, &more);
            uint32_t *v = malloc((1 + more) * sizeof *v);
            v[0] = (uint32_t)(first >> 1);
            for (size_t k = 1; k <= more; k++) {
                q += tdx_varint_get(q, end, &d);
                v[k] = v[k - 1] + (uint32_t)d; /* explicit words may step back */
            }
            cr_assert(eq(ptr, (void *)q, (void *)end), "seed %llu: term '%s' payload size",
                      (unsigned long long)seed, show(sp.p, sp.len));
            qsort(v, 1 + more, sizeof *v, cmp_u32);
            for (size_t k = 0; k <= more; k++, m++) {
                cr_assert(lt(sz, m, occ.n), "seed %llu: extra position of '%s'",
                          (unsigned long long)seed, show(sp.p, sp.len));
                const tpair *o = &occ.v[m];
                cr_assert(eq(int, cmp_bytes(sp.p, sp.len, o->t, o->len), 0),
                          "seed %llu: '%s' in doc %u at %u, want '%s' in doc %u at %u",
                          (unsigned long long)seed, show(sp.p, sp.len), p->docs[e], v[k],
                          show(o->t, o->len), o->doc, o->pos);
                cr_assert(eq(u32, p->docs[e], o->doc), "seed %llu: '%s' doc",
                          (unsigned long long)seed, show(sp.p, sp.len));
                cr_assert(eq(u32, v[k], o->pos), "seed %llu: '%s' in doc %u position",
                          (unsigned long long)seed, show(sp.p, sp.len), o->doc);
            }
            free(v);
        }
    }
    cr_assert(eq(sz, m, occ.n), "seed %llu: positions missing", (unsigned long long)seed);
    tl_free(&occ);
}

static size_t distinct_terms(const tlist *l)
{
    size_t n = 0;
    for (size_t i = 0; i < l->n; i++)
        n += i == 0 || cmp_bytes(l->v[i - 1].t, l->v[i - 1].len, l->v[i].t, l->v[i].len) != 0;
    return n;
}

Test(index, builder_postings_equal_the_model_over_random_batches)
{
    uint64_t seed0 = tu_seed("index.builder");
    tdx_gram_builder *b = NULL;
    tdx_err err = {0};
    cr_assert(eq(int, tdx_gram_builder_create(&b, &err), 0));
    tdx_postings post;
    tdx_postings_init(&post);
    /* One builder for every round: reset must forget everything. */
    for (int round = 0; round < 40; round++) {
        uint64_t seed = seed0 + (uint64_t)round, r = seed;
        genopts o = {round % 2 ? "abcdefghij0123456789" : "ab1ABZ", sizeof cjk / sizeof *cjk, 1,
                     NULL, 0};
        size_t n = 1 + rnd(&r, round % 8 == 7 ? 400 : 60);
        bdoc *docs = calloc(n, sizeof *docs);
        gen_batch(docs, n, &r, &o);
        tlist want = {0};
        model_batch(docs, n, &want);
        tdx_gram_builder_reset(b);
        cr_assert(eq(int, feed_batch(b, docs, n, &r), 0), "seed %llu", (unsigned long long)seed);
        cr_assert(eq(int, tdx_gram_emit(b, &post, &err), 0), "seed %llu: %s",
                  (unsigned long long)seed, err.msg);
        cr_assert(eq(sz, tdx_gram_nterms(b), distinct_terms(&want)), "seed %llu",
                  (unsigned long long)seed);
        expect_well_formed(&post);
        expect_postings(&post, &want, seed);
        expect_positions(&post, docs, n, seed);
        /* Emitting twice gives the same postings. */
        cr_assert(eq(int, tdx_gram_emit(b, &post, &err), 0));
        expect_postings(&post, &want, seed);
        expect_positions(&post, docs, n, seed);
        tl_free(&want);
        free_batch(docs, n);
        free(docs);
    }
    tdx_postings_free(&post);
    tdx_gram_builder_free(b);
}

Test(index, grams_beyond_the_rank_table_take_the_general_path)
{
    /* More distinct characters than the rank table (65535) and the astral
     * table (128) hold: the later ones' grams go the general way, next to
     * ranked characters' in the same documents and terms. */
    uint64_t seed = tu_seed("index.ranks"), r = seed;
    size_t nl = 0;
    uint32_t *l = malloc(70000 * sizeof *l);
    for (uint32_t cp = 0x100; nl < 69700; cp++)
        if (cp < 0xD800 || cp > 0xDFFF)
            l[nl++] = cp;
    for (uint32_t cp = 0x20000; nl < 70000; cp += 7)
        l[nl++] = cp;
    enum { NDOCS = 6 };
    bdoc docs[NDOCS];
    memset(docs, 0, sizeof docs);
    for (size_t d = 0; d < NDOCS; d++) {
        docs[d].has_text = 1;
        ttext *t = &docs[d].text;
        /* Doc 1 has every character (in order, so the last ones overflow);
         * the others runs of random ones and of the common CJK. */
        size_t nch = d == 1 ? nl : 4000;
        for (size_t i = 0; i < nch;) {
            for (size_t run = 1 + rnd(&r, 6); run > 0 && i < nch; run--, i++) {
                if (d == 1)
                    tt_cp(t, l[i]);
                else if (rnd(&r, 3))
                    tt_cp(t, l[rnd(&r, rnd(&r, 2) ? nl : 300)]);
                else
                    tt_cp(t, cjk[rnd(&r, sizeof cjk / sizeof *cjk)]);
            }
            tt_cp(t, rnd(&r, 4) ? ' ' : 'a');
        }
    }
    tlist want = {0};
    model_batch(docs, NDOCS, &want);
    tdx_gram_builder *b = NULL;
    cr_assert(eq(int, tdx_gram_builder_create(&b, NULL), 0));
    for (uint32_t d = 0; d < NDOCS; d++)
        cr_assert(eq(int, tdx_gram_add_text(b, d, docs[d].text.p, docs[d].text.len), 0));
    tdx_postings post;
    tdx_postings_init(&post);
    cr_assert(eq(int, tdx_gram_emit(b, &post, NULL), 0));
    expect_well_formed(&post);
    expect_postings(&post, &want, seed);
    expect_positions(&post, docs, NDOCS, seed);
    tdx_postings_free(&post);
    tdx_gram_builder_free(b);
    tl_free(&want);
    free_batch(docs, NDOCS);
    free(l);
}

Test(index, long_runs_are_cut_into_overlapping_windows)
{
    /* Runs of 64, 65, 96, 97, 128 and 200 bytes: each byte position gets a
     * distinct letter pattern, so every window is a distinct term. */
    static const size_t lens[] = {1, 32, 63, 64, 65, 95, 96, 97, 128, 129, 200};
    tdx_gram_builder *b = NULL;
    cr_assert(eq(int, tdx_gram_builder_create(&b, NULL), 0));
    tdx_postings post;
    tdx_postings_init(&post);
    for (size_t i = 0; i < sizeof lens / sizeof *lens; i++) {
        ttext t = {0};
        tt_cp(&t, 0x4E2D);
        for (size_t k = 0; k < lens[i]; k++)
            tt_cp(&t, (uint8_t) "abcdefghijklmnopqrstuvwxyz0123456789"[(k * 7 + k / 36) % 36]);
        tt_cp(&t, ' ');
        tlist want = {0};
        model_text_terms(&t, 3, &want);
        tl_finish(&want);
        /* Expected window count: ceil((L - 64) / 32) + 1 for L > 64. */
        size_t nwin = lens[i] <= 64 ? 1 : (lens[i] - 64 + 31) / 32 + 1, nw = 0;
        for (size_t k = 0; k < want.n; k++)
            nw += want.v[k].t[0] == 'w';
        cr_assert(eq(sz, nw, nwin), "run of %zu", lens[i]);
        tdx_gram_builder_reset(b);
        cr_assert(eq(int, tdx_gram_add_text(b, 3, t.p, t.len), 0));
        cr_assert(eq(int, tdx_gram_emit(b, &post, NULL), 0));
        expect_postings(&post, &want, lens[i]);
        /* Every window is 64 bytes and the last one ends the run. */
        for (size_t k = 0; lens[i] > 64 && k < post.nterms; k++) {
            tdx_span sp = tdx_postings_term(&post, k);
            if (sp.p[0] == 'w')
                cr_assert(eq(sz, sp.len, 65));
        }
        tl_free(&want);
        tt_free(&t);
    }
    tdx_postings_free(&post);
    tdx_gram_builder_free(b);
}

Test(index, repeats_within_a_document_count_once)
{
    const char *text = "中国中国中国 abc abc ABC 国中";
    tdx_gram_builder *b = NULL;
    cr_assert(eq(int, tdx_gram_builder_create(&b, NULL), 0));
    for (uint32_t d = 0; d < 3; d++) {
        cr_assert(eq(int, tdx_gram_add_text(b, d * 2, (const uint8_t *)text, strlen(text)), 0));
        cr_assert(eq(int, tdx_gram_add_term(b, d * 2, (const uint8_t *)"wabc", 4), 0));
        cr_assert(eq(int, tdx_gram_add_text(b, d * 2, (const uint8_t *)text, strlen(text)), 0));
    }
    /* u中 u国 b中国 b国中 tabc tABC wabc wABC */
    tdx_postings post;
    tdx_postings_init(&post);
    cr_assert(eq(int, tdx_gram_emit(b, &post, NULL), 0));
    cr_assert(eq(sz, tdx_gram_nterms(b), 8));
    cr_assert(eq(sz, post.nterms, 8));
    cr_assert(eq(sz, post.nentries, 24));
    static const char *const want[] = {"b中国", "b国中", "tABC", "tabc",
                                       "u中",   "u国",   "wABC", "wabc"};
    for (size_t t = 0; t < 8; t++) {
        tdx_span sp = tdx_postings_term(&post, t);
        cr_assert(eq(int, cmp_bytes(sp.p, sp.len, (const uint8_t *)want[t], strlen(want[t])), 0),
                  "term %zu is '%s'", t, show(sp.p, sp.len));
        size_t e0 = tdx_postings_ent_begin(&post, t);
        for (uint32_t d = 0; d < 3; d++)
            cr_assert(eq(u32, post.docs[e0 + d], d * 2));
    }
    tdx_postings_free(&post);
    tdx_gram_builder_free(b);
}

Test(index, empty_inputs_and_term_length_limits)
{
    tdx_gram_builder *b = NULL;
    cr_assert(eq(int, tdx_gram_builder_create(&b, NULL), 0));
    tdx_postings post;
    tdx_postings_init(&post);
    cr_assert(eq(int, tdx_gram_emit(b, &post, NULL), 0));
    cr_assert(eq(sz, post.nterms, 0));
    tdx_gram_builder_reset(b); /* emitting ends a batch */
    /* Only punctuation and ill-formed bytes: no terms. */
    const char *junk = " ,.-\x01\xff\xc0\xe4\xb8 \x7f";
    cr_assert(eq(int, tdx_gram_add_text(b, 0, (const uint8_t *)junk, strlen(junk)), 0));
    cr_assert(eq(int, tdx_gram_add_text(b, 1, (const uint8_t *)"", 0), 0));
    uint8_t t[TDX_FIELD_TERM_MAX + 9];
    memset(t, 'x', sizeof t);
    t[0] = 'f';
    cr_assert(eq(int, tdx_gram_add_term(b, 2, t, 0), TDX_EINVAL));
    cr_assert(eq(int, tdx_gram_add_term(b, 2, t, TDX_FIELD_TERM_MAX + 9), TDX_EINVAL));
    cr_assert(eq(int, tdx_gram_add_term(b, 2, t, TDX_FIELD_TERM_MAX + 8), 0));
    cr_assert(eq(int, tdx_gram_emit(b, &post, NULL), 0));
    cr_assert(eq(sz, post.nterms, 1));
    cr_assert(eq(sz, tdx_postings_term(&post, 0).len, TDX_FIELD_TERM_MAX + 8));
    cr_assert(eq(u32, post.docs[0], 2));
    tdx_postings_free(&post);
    tdx_gram_builder_free(b);
    tdx_gram_builder_free(NULL);
}

Test(index, many_distinct_terms_grow_every_table)
{
    /* More than the initial hash table, term array and pair array hold. */
    tdx_gram_builder *b = NULL;
    cr_assert(eq(int, tdx_gram_builder_create(&b, NULL), 0));
    tlist want = {0};
    uint8_t t[5] = {'e'};
    for (uint32_t d = 0; d < 40; d++)
        for (uint32_t k = 0; k < 2000; k++) {
            uint32_t id = (k * 2654435761u + d * 977u) % 50000u;
            t[1] = (uint8_t)(id >> 24);
            t[2] = (uint8_t)(id >> 16);
            t[3] = (uint8_t)(id >> 8);
            t[4] = (uint8_t)id;
            cr_assert(eq(int, tdx_gram_add_term(b, d, t, 5), 0));
            tl_add(&want, t, 5, d);
        }
    tl_finish(&want);
    cr_assert(gt(sz, distinct_terms(&want), 32768));
    tdx_postings post;
    tdx_postings_init(&post);
    cr_assert(eq(int, tdx_gram_emit(b, &post, NULL), 0));
    expect_postings(&post, &want, 0);
    tl_free(&want);
    tdx_postings_free(&post);
    tdx_gram_builder_free(b);
}

Test(index, short_terms_of_every_length_stay_apart)
{
    /* Terms of up to 8 bytes are told apart by their hash code alone: all
     * short strings over a few bytes (zeros included), every length. */
    tdx_gram_builder *b = NULL;
    cr_assert(eq(int, tdx_gram_builder_create(&b, NULL), 0));
    static const uint8_t alpha[] = {0x00, 0x01, 'a', 0xFF};
    uint64_t seed = tu_seed("index.short"), r = seed;
    tlist want = {0};
    uint8_t t[10] = {'e'};
    for (uint32_t d = 0; d < 20; d++)
        for (size_t k = 0; k < 3000; k++) {
            size_t len = 1 + rnd(&r, 9);
            for (size_t i = 1; i < len; i++)
                t[i] = alpha[rnd(&r, sizeof alpha)];
            cr_assert(eq(int, tdx_gram_add_term(b, d, t, len), 0));
            tl_add(&want, t, len, d);
        }
    tl_finish(&want);
    tdx_postings post;
    tdx_postings_init(&post);
    cr_assert(eq(int, tdx_gram_emit(b, &post, NULL), 0));
    expect_well_formed(&post);
    expect_postings(&post, &want, seed);
    tl_free(&want);
    tdx_postings_free(&post);
    tdx_gram_builder_free(b);
}

static size_t live_bytes(void)
{
    mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
    tdx_mem_stats ms;
    tdx_alloc_stats(&ms);
    return ms.allocated;
}

/* Create, feed, emit, free; 0 or the first error. */
static int build_once(const bdoc *docs, size_t n, tdx_postings *post, tdx_err *err)
{
    tdx_gram_builder *b = NULL;
    int rc = tdx_gram_builder_create(&b, err);
    if (rc)
        return rc;
    uint64_t r = 7;
    rc = feed_batch(b, docs, n, &r);
    if (rc == 0)
        rc = tdx_gram_emit(b, post, err);
    tdx_gram_builder_free(b);
    return rc;
}

Test(index, builder_out_of_memory_at_every_allocation)
{
    uint64_t r = 12345;
    genopts o = {"abc01", sizeof cjk / sizeof *cjk, 1, NULL, 0};
    size_t n = 30;
    bdoc *docs = calloc(n, sizeof *docs);
    gen_batch(docs, n, &r, &o);
    /* A doc with enough distinct terms to grow the builder's tables too. */
    tlist many = {0};
    uint8_t t[5] = {'c', 0, 0, 0, 0};
    for (uint32_t k = 0; k < 70000; k++) {
        t[2] = (uint8_t)(k >> 16);
        t[3] = (uint8_t)(k >> 8);
        t[4] = (uint8_t)k;
        tl_add(&many, t, 5, 0);
    }
    tl_free(&docs[n - 1].explicit_terms);
    docs[n - 1].explicit_terms = many;
    tlist want = {0};
    model_batch(docs, n, &want);

    tdx_postings post;
    tdx_postings_init(&post);
    cr_assert(eq(int, build_once(docs, n, &post, NULL), 0));
    tdx_postings_free(&post);
    size_t before = live_bytes();
    int rc = TDX_ENOMEM;
    long k;
    for (k = 0; k < 1000 && rc; k++) {
        tdx_err err = {0};
        tdx_postings_init(&post);
        tdx_alloc_fail_after(k);
        rc = build_once(docs, n, &post, &err);
        tdx_alloc_fail_after(-1);
        if (rc) {
            cr_assert(eq(int, rc, TDX_ENOMEM), "allocation %ld", k);
            tdx_postings_free(&post);
            cr_assert(eq(sz, live_bytes(), before), "allocation %ld leaks", k);
        }
    }
    cr_assert(eq(int, rc, 0));
    cr_assert(gt(long, k, 8), "the loop reached the allocations");
    expect_postings(&post, &want, 12345);
    tdx_postings_free(&post);
    cr_assert(eq(sz, live_bytes(), before));

    /* A builder that ran out of memory is usable again after a reset. */
    for (k = 0; k < 12; k++) {
        tdx_gram_builder *b = NULL;
        cr_assert(eq(int, tdx_gram_builder_create(&b, NULL), 0));
        tdx_alloc_fail_after(k);
        uint64_t rr = 1;
        int frc = feed_batch(b, docs, n, &rr);
        tdx_alloc_fail_after(-1);
        tdx_gram_builder_reset(b);
        tdx_postings_init(&post);
        cr_assert(eq(int, feed_batch(b, docs, n, &rr), 0));
        cr_assert(eq(int, tdx_gram_emit(b, &post, NULL), 0));
        expect_postings(&post, &want, (uint64_t)k);
        tdx_postings_free(&post);
        tdx_gram_builder_free(b);
        if (frc == 0)
            break;
    }
    tl_free(&want);
    free_batch(docs, n);
    free(docs);
}

Test(index, builder_stays_consistent_after_running_out_of_memory)
{
    /* A failed add leaves that document partly indexed; every other
     * document's postings must still be exact and well formed.  The docs
     * have enough distinct terms and pairs to grow every array. */
    enum { N = 20 };
    bdoc docs[N];
    memset(docs, 0, sizeof docs);
    for (uint32_t i = 0; i < N; i++) {
        uint8_t t[5] = {'e', 0, 0, 0, 0};
        for (uint32_t k = 0; k < 4000; k++) {
            uint32_t id = i * 1000 + k; /* neighbours share terms */
            t[2] = (uint8_t)(id >> 16);
            t[3] = (uint8_t)(id >> 8);
            t[4] = (uint8_t)id;
            tl_add(&docs[i].explicit_terms, t, 5, 0);
        }
    }
    tlist want = {0};
    model_batch(docs, N, &want);
    int failures = 0;
    for (long k = 0; k < 25; k++) {
        tdx_gram_builder *b = NULL;
        cr_assert(eq(int, tdx_gram_builder_create(&b, NULL), 0));
        uint32_t failed = UINT32_MAX;
        tdx_alloc_fail_after(k);
        for (uint32_t i = 0; i < N; i++)
            for (size_t j = 0; j < docs[i].explicit_terms.n; j++) {
                const tpair *tp = &docs[i].explicit_terms.v[j];
                int rc = tdx_gram_add_term(b, i, tp->t, tp->len);
                if (rc) {
                    cr_assert(eq(int, rc, TDX_ENOMEM));
                    tdx_alloc_fail_after(-1);
                    failed = i;
                    break;
                }
            }
        tdx_alloc_fail_after(-1);
        tdx_postings post;
        tdx_postings_init(&post);
        cr_assert(eq(int, tdx_gram_emit(b, &post, NULL), 0));
        expect_well_formed(&post);
        failures += failed != UINT32_MAX;
        /* Compare with the model, the failed doc left out on both sides. */
        size_t t = 0;
        for (size_t i = 0; i < want.n;) {
            size_t j = i;
            while (j < want.n &&
                   cmp_bytes(want.v[j].t, want.v[j].len, want.v[i].t, want.v[i].len) == 0)
                j++;
            size_t nw = 0;
            for (size_t x = i; x < j; x++)
                nw += want.v[x].doc != failed;
            tdx_span sp = {NULL, 0};
            if (t < post.nterms)
                sp = tdx_postings_term(&post, t);
            if (sp.p && cmp_bytes(sp.p, sp.len, want.v[i].t, want.v[i].len) == 0) {
                size_t e = tdx_postings_ent_begin(&post, t), e1 = post.ent_end[t];
                for (size_t x = i; x < j; x++) {
                    if (e < e1 && post.docs[e] == failed)
                        e++;
                    if (want.v[x].doc == failed)
                        continue;
                    cr_assert(lt(sz, e, e1), "allocation %ld: term %zu misses docs", k, t);
                    cr_assert(eq(u32, post.docs[e], want.v[x].doc), "allocation %ld", k);
                    e++;
                }
                cr_assert(eq(sz, e, e1), "allocation %ld: term %zu has extra docs", k, t);
                t++;
            } else {
                cr_assert(eq(sz, nw, 0), "allocation %ld: term missing", k);
            }
            i = j;
        }
        cr_assert(eq(sz, t, post.nterms), "allocation %ld: extra terms", k);
        tdx_postings_free(&post);
        tdx_gram_builder_free(b);
    }
    cr_assert(gt(int, failures, 3));
    tl_free(&want);
    free_batch(docs, N);
}

/* ---- query terms vs a naive index ------------------------------------------------ */

typedef struct qcorpus {
    ttext *docs;
    tlist *terms; /* per doc, sorted and deduplicated */
    size_t n;
} qcorpus;

static int doc_has_term(const tlist *l, const uint8_t *t, size_t len)
{
    size_t lo = 0, hi = l->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = cmp_bytes(l->v[mid].t, l->v[mid].len, t, len);
        if (c == 0)
            return 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* Does some indexed word of the doc match the fragment the way part says? */
static int doc_has_word_part(const tlist *l, const uint8_t *f, size_t fl, int part)
{
    for (size_t i = 0; i < l->n; i++) {
        const uint8_t *w = l->v[i].t + 1;
        size_t wl = l->v[i].len - 1;
        if (l->v[i].t[0] != 'w' || wl < fl)
            continue;
        if (part == TDX_PART_PREFIX && memcmp(w, f, fl) == 0)
            return 1;
        if (part == TDX_PART_SUFFIX && memcmp(w + wl - fl, f, fl) == 0)
            return 1;
        if (part == TDX_PART_INFIX && memmem(w, wl, f, fl) != NULL)
            return 1;
        if (part == TDX_PART_EXACT && wl == fl && memcmp(w, f, fl) == 0)
            return 1;
    }
    return 0;
}

static void corpus_make(qcorpus *c, uint64_t *r, size_t n, const genopts *o)
{
    c->n = n;
    c->docs = calloc(n, sizeof *c->docs);
    c->terms = calloc(n, sizeof *c->terms);
    for (size_t i = 0; i < n; i++) {
        gen_tokens(&c->docs[i], r, 10 + rnd(r, 60), o);
        model_text_terms(&c->docs[i], (uint32_t)i, &c->terms[i]);
        tl_finish(&c->terms[i]);
    }
}

static void corpus_free(qcorpus *c)
{
    for (size_t i = 0; i < c->n; i++) {
        tt_free(&c->docs[i]);
        tl_free(&c->terms[i]);
    }
    free(c->docs);
    free(c->terms);
}

typedef struct qstats {
    size_t queries, exact, matched, narrowed;
} qstats;

/* The core property of substring search, for one query. */
static void check_query(const qcorpus *c, const uint8_t *q, size_t len, uint64_t seed, qstats *st)
{
    tdx_qterm terms[256];
    size_t nt = 9999;
    int exact = -1, posexact = -1;
    int rc = tdx_query_terms(q, len, terms, 256, &nt, &exact, &posexact);
    cr_assert(eq(int, rc, 0), "seed %llu: query '%s'", (unsigned long long)seed, show(q, len));
    cr_assert(le(sz, nt, 256));
    cr_assert(exact == 0 || exact == 1);
    for (size_t i = 0; i < nt; i++) {
        const tdx_qterm *t = &terms[i];
        cr_assert(t->len >= 2 && t->len <= sizeof t->term);
        cr_assert(t->term[0] == 'u' || t->term[0] == 'b' || t->term[0] == 'w',
                  "seed %llu: query '%s': term class %c", (unsigned long long)seed, show(q, len),
                  t->term[0]);
        cr_assert(t->term[0] == 'w' || t->part == TDX_PART_EXACT);
        cr_assert(t->part <= TDX_PART_INFIX);
        cr_assert(memmem(q, len, t->term + 1, t->len - 1u) != NULL,
                  "seed %llu: query '%s': term '%s' is not part of it", (unsigned long long)seed,
                  show(q, len), show(t->term, t->len));
    }
    size_t nmatch = 0, nsat = 0;
    for (size_t d = 0; d < c->n; d++) {
        int contains = len == 0 || memmem(c->docs[d].p, c->docs[d].len, q, len) != NULL;
        int sat = 1;
        for (size_t i = 0; i < nt && sat; i++) {
            const tdx_qterm *t = &terms[i];
            if (t->term[0] == 'w')
                sat = doc_has_word_part(&c->terms[d], t->term + 1, t->len - 1u, t->part);
            else
                sat = doc_has_term(&c->terms[d], t->term, t->len);
        }
        nmatch += contains;
        nsat += sat;
        if (contains && !sat) {
            char list[2000] = "";
            for (size_t i = 0; i < nt; i++) {
                strncat(list, show(terms[i].term, terms[i].len), 300);
                strcat(list, terms[i].part ? "~ " : " ");
            }
            cr_assert(sat, "seed %llu: doc %zu contains '%s' but misses its terms: %s",
                      (unsigned long long)seed, d, show(q, len), list);
        }
        int overclaimed = exact && sat && !contains;
        cr_assert(eq(int, overclaimed, 0),
                  "seed %llu: query '%s' claimed exact, but doc %zu has its terms without "
                  "containing it",
                  (unsigned long long)seed, show(q, len), d);
    }
    st->queries++;
    st->exact += exact;
    st->matched += nmatch > 0;
    st->narrowed += nsat < c->n;
}

/* A substring of doc d from character s, n characters long. */
static void doc_slice(const ttext *t, size_t s, size_t n, const uint8_t **out, size_t *out_len)
{
    if (s >= t->n)
        s = t->n ? t->n - 1 : 0;
    if (s + n > t->n)
        n = t->n - s;
    if (t->n == 0 || n == 0) {
        *out = t->p;
        *out_len = 0;
        return;
    }
    *out = t->p + t->c[s].off;
    *out_len = t->c[s + n - 1].off + t->c[s + n - 1].len - t->c[s].off;
}

static void random_word(uint64_t *r, char *w, size_t len, const char *alpha)
{
    size_t na = strlen(alpha);
    for (size_t i = 0; i < len; i++)
        w[i] = alpha[rnd(r, na)];
    w[len] = 0;
}

Test(index, query_terms_are_sound_and_exact_when_claimed)
{
    uint64_t seed0 = tu_seed("index.query_terms");
    qstats st = {0};
    for (int round = 0; round < 12; round++) {
        uint64_t seed = seed0 + (uint64_t)round * 1000003u, r = seed;
        /* A few long words shared between documents, so fragments of them
         * (cut at and around window boundaries) match several documents. */
        char *pool[4];
        for (int i = 0; i < 4; i++) {
            pool[i] = malloc(240);
            random_word(&r, pool[i], 40 + rnd(&r, 190), "ab");
        }
        genopts o = {round % 3 ? "abc" : "ab1", 4 + (size_t)(round % 3), 0, pool, 4};
        qcorpus c;
        corpus_make(&c, &r, 50, &o);
        /* Substrings of documents, cut at character boundaries. */
        for (int k = 0; k < 400; k++) {
            const ttext *t = &c.docs[rnd(&r, c.n)];
            size_t x = rnd(&r, 10);
            size_t n = x < 5 ? 1 + rnd(&r, 6) : x < 8 ? 1 + rnd(&r, 40) : 25 + rnd(&r, 120);
            const uint8_t *q;
            size_t ql;
            doc_slice(t, rnd(&r, t->n + 1), n, &q, &ql);
            check_query(&c, q, ql, seed, &st);
        }
        /* Fragments of the long words near half a window and a window. */
        for (int k = 0; k < 100; k++) {
            const char *w = pool[rnd(&r, 4)];
            size_t wl = strlen(w), fl = 28 + rnd(&r, 42);
            if (fl > wl)
                fl = wl;
            size_t off = rnd(&r, wl - fl + 1);
            char q[300];
            size_t ql = 0;
            int pre = (int)rnd(&r, 3), post = (int)rnd(&r, 3);
            if (pre == 1)
                q[ql++] = ' ';
            if (pre == 2)
                ql += enc_utf8(cjk[0], (uint8_t *)q + ql);
            memcpy(q + ql, w + off, fl);
            ql += fl;
            if (post == 1)
                q[ql++] = ' ';
            if (post == 2)
                ql += enc_utf8(cjk[1], (uint8_t *)q + ql);
            check_query(&c, (const uint8_t *)q, ql, seed, &st);
        }
        /* Short generated queries that need not occur anywhere. */
        for (int k = 0; k < 150; k++) {
            ttext q = {0};
            gen_tokens(&q, &r, 1 + rnd(&r, 4), &o);
            check_query(&c, q.p, q.len, seed, &st);
            tt_free(&q);
        }
        /* Every single character, pure punctuation, the empty query. */
        for (const char *a = "abc1 ,.-"; *a; a++)
            check_query(&c, (const uint8_t *)a, 1, seed, &st);
        for (size_t i = 0; i < o.ncjk; i++) {
            uint8_t q[4];
            check_query(&c, q, enc_utf8(cjk[i], q), seed, &st);
        }
        check_query(&c, (const uint8_t *)" , .", 4, seed, &st);
        check_query(&c, (const uint8_t *)"", 0, seed, &st);
        corpus_free(&c);
        for (int i = 0; i < 4; i++)
            free(pool[i]);
    }
    /* The property was tested on queries of every kind, not vacuously. */
    cr_assert(gt(sz, st.exact, st.queries / 20), "%zu of %zu exact", st.exact, st.queries);
    cr_assert(gt(sz, st.narrowed, st.queries / 2));
    cr_assert(gt(sz, st.matched, st.queries / 2));
    cr_assert(lt(sz, st.exact, st.queries));
}

/* Documented cuts of small queries, from the rules in index.h. */
typedef struct qcase {
    const char *q;
    int exact, posexact;
    const char *terms[4]; /* class byte + bytes, in the order of the query */
    int parts[4];
    int offs[4]; /* offsets in the query, in characters */
} qcase;

Test(index, query_terms_of_small_queries)
{
    static const qcase cases[] = {
        {"中", 1, 0, {"u中"}, {0}, {0}},
        {"中国", 1, 1, {"b中国"}, {0}, {0}},
        {"中国大", 0, 1, {"b中国", "b国大"}, {0, 0}, {0, 1}},
        {"中 国", 0, 0, {"u中", "u国"}, {0, 0}, {0, 2}},
        {"abc", 1, 1, {"wabc"}, {TDX_PART_INFIX}, {0}},
        {"abc ", 0, 0, {"wabc"}, {TDX_PART_SUFFIX}, {0}},
        {" abc", 0, 0, {"wabc"}, {TDX_PART_PREFIX}, {1}},
        {" abc ", 0, 0, {"wabc"}, {TDX_PART_EXACT}, {1}},
        {"ab cd", 0, 0, {"wab", "wcd"}, {TDX_PART_SUFFIX, TDX_PART_PREFIX}, {0, 3}},
        {"中abc国", 0, 0, {"u中", "wabc", "u国"}, {0, TDX_PART_EXACT, 0}, {0, 1, 4}},
        {"英伟达h100显卡", 0, 1, {"b英伟", "b伟达", "wh100", "b显卡"},
         {0, 0, TDX_PART_EXACT, 0}, {0, 1, 3, 7}},
        {"ab中国", 0, 1, {"wab", "b中国"}, {TDX_PART_SUFFIX, 0}, {0, 2}},
        {" , ", 0, 0, {NULL}, {0}, {0}},
        {"", 0, 0, {NULL}, {0}, {0}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const qcase *k = &cases[i];
        tdx_qterm t[8];
        size_t n = 0;
        int exact = -1, posexact = -1;
        cr_assert(eq(int,
                     tdx_query_terms((const uint8_t *)k->q, strlen(k->q), t, 8, &n, &exact,
                                     &posexact),
                     0));
        size_t want = 0;
        while (want < 4 && k->terms[want])
            want++;
        cr_assert(eq(sz, n, want), "query '%s'", k->q);
        cr_assert(eq(int, exact, k->exact), "query '%s'", k->q);
        cr_assert(eq(int, posexact, k->posexact), "query '%s'", k->q);
        for (size_t j = 0; j < n; j++) {
            cr_assert(eq(int,
                         cmp_bytes(t[j].term, t[j].len, (const uint8_t *)k->terms[j],
                                   strlen(k->terms[j])),
                         0),
                      "query '%s' term %zu", k->q, j);
            cr_assert(eq(int, t[j].part, k->parts[j]), "query '%s' term %zu", k->q, j);
            cr_assert(eq(int, t[j].off, k->offs[j]), "query '%s' term %zu", k->q, j);
        }
    }
}

Test(index, query_words_longer_than_half_a_window_are_left_to_verification)
{
    char q[80];
    memset(q, 'a', sizeof q);
    tdx_qterm t[4];
    size_t n = 9;
    int exact = -1, posexact = -1;
    cr_assert(eq(int, tdx_query_terms((const uint8_t *)q, 32, t, 4, &n, &exact, &posexact), 0));
    cr_assert(eq(sz, n, 1));
    cr_assert(eq(int, exact, 1));
    cr_assert(eq(int, tdx_query_terms((const uint8_t *)q, 33, t, 4, &n, &exact, &posexact), 0));
    cr_assert(eq(sz, n, 0));
    cr_assert(eq(int, exact, 0));
    cr_assert(eq(int, tdx_query_terms((const uint8_t *)q, 80, t, 4, &n, &exact, &posexact), 0));
    cr_assert(eq(sz, n, 0));
    cr_assert(eq(int, exact, 0));
}

Test(index, too_many_query_terms_is_elimit)
{
    /* 40 CJK characters: 39 bigrams. */
    uint8_t q[200];
    size_t len = 0;
    for (int i = 0; i < 40; i++)
        len += enc_utf8(cjk[i % 12], q + len);
    tdx_qterm t[64];
    size_t n = 12345;
    int exact = 7, posexact = 7;
    cr_assert(eq(int, tdx_query_terms(q, len, t, 38, &n, &exact, &posexact), TDX_ELIMIT));
    cr_assert(eq(sz, n, 12345), "no partial result");
    cr_assert(eq(int, exact, 7));
    cr_assert(eq(int, tdx_query_terms(q, len, t, 0, &n, &exact, &posexact), TDX_ELIMIT));
    cr_assert(eq(int, tdx_query_terms(q, len, t, 39, &n, &exact, &posexact), 0));
    cr_assert(eq(sz, n, 39));
    /* Many short words. */
    char w[400] = "";
    for (int i = 0; i < 100; i++)
        strcat(w, "ab ");
    cr_assert(
        eq(int, tdx_query_terms((const uint8_t *)w, strlen(w), t, 64, &n, &exact, &posexact), TDX_ELIMIT));
}

Test(index, trigrams_are_added_only_when_on)
{
    const char *text = "abcd 中国 xy a1b2";
    for (int on = 0; on < 2; on++) {
        tdx_gram_builder *b = NULL;
        cr_assert(eq(int, tdx_gram_builder_create(&b, NULL), 0));
        if (!on)
            tdx_gram_builder_set_trigrams(b, 0, 0);
        cr_assert(eq(int, tdx_gram_add_text(b, 0, (const uint8_t *)text, strlen(text)), 0));
        tdx_postings post;
        tdx_postings_init(&post);
        cr_assert(eq(int, tdx_gram_emit(b, &post, NULL), 0));
        /* abcd: abc bcd; a1b2: a1b 1b2; xy has none. */
        static const char *const tri[] = {"t1b2", "ta1b", "tabc", "tbcd"};
        size_t k = 0;
        for (size_t t = 0; t < post.nterms; t++) {
            tdx_span sp = tdx_postings_term(&post, t);
            if (sp.p[0] != 't')
                continue;
            cr_assert(lt(sz, k, 4), "extra trigram '%s'", show(sp.p, sp.len));
            cr_assert(eq(int, cmp_bytes(sp.p, sp.len, (const uint8_t *)tri[k], 4), 0),
                      "trigram %zu is '%s', want '%s'", k, show(sp.p, sp.len), tri[k]);
            k++;
        }
        cr_assert(eq(sz, k, on ? 4 : 0));
        tdx_postings_free(&post);
        tdx_gram_builder_free(b);
    }
}

/*
 * A batch's bound on trigram entries: past it a document keeps the
 * trigrams it has and is listed under TDX_TRIGRAM_CUT.  Every trigram of a
 * document's words is in its list or the document is listed as cut; no
 * more pairs than the bound are kept; documents under it are complete.
 */
Test(index, a_batch_bound_cuts_trigrams_and_lists_the_documents)
{
    enum { NDOC = 40, MAXP = 3000 };
    uint64_t r = tu_seed("index/trigram-cut");
    char *texts[NDOC];
    tdx_gram_builder *b = NULL;
    cr_assert(eq(int, tdx_gram_builder_create(&b, NULL), 0));
    tdx_gram_builder_set_trigrams(b, 1, MAXP);
    for (uint32_t d = 0; d < NDOC; d++) {
        /* Words of 1-40 random word bytes: up to one new trigram a byte. */
        size_t n = 0, len = 200 + tu_rand(&r) % 1200;
        texts[d] = malloc(len + 1);
        while (n < len) {
            size_t wl = 1 + tu_rand(&r) % 40;
            for (size_t k = 0; k < wl && n < len; k++)
                texts[d][n++] = TDX_WORD_BYTES[tu_rand(&r) % 62];
            if (n < len)
                texts[d][n++] = ' ';
        }
        texts[d][n] = 0;
        cr_assert(eq(int, tdx_gram_add_text(b, d, (const uint8_t *)texts[d], n), 0));
    }
    tdx_postings post;
    tdx_postings_init(&post);
    cr_assert(eq(int, tdx_gram_emit(b, &post, NULL), 0));
    int cut[NDOC] = {0};
    size_t pairs = 0, ncut = 0;
    for (size_t t = 0; t < post.nterms; t++) {
        tdx_span sp = tdx_postings_term(&post, t);
        size_t e0 = tdx_postings_ent_begin(&post, t), e1 = post.ent_end[t];
        if (sp.len == 1 && sp.p[0] == 't') {
            for (size_t e = e0; e < e1; e++)
                cut[post.docs[e]] = 1;
            ncut = e1 - e0;
        } else if (sp.p[0] == 't') {
            pairs += e1 - e0;
        }
    }
    cr_assert(le(sz, pairs, MAXP));
    cr_assert(gt(sz, ncut, 0), "the bound was never reached");
    cr_assert(lt(sz, ncut, NDOC), "the bound cut every document");
    for (uint32_t d = 0; d < NDOC; d++) {
        const char *s = texts[d];
        for (size_t i = 0; s[i] && s[i + 1] && s[i + 2]; i++) {
            if (s[i] == ' ' || s[i + 1] == ' ' || s[i + 2] == ' ')
                continue;
            uint8_t key[4] = {'t', (uint8_t)s[i], (uint8_t)s[i + 1], (uint8_t)s[i + 2]};
            int found = 0;
            for (size_t t = 0; t < post.nterms && !found; t++) {
                tdx_span sp = tdx_postings_term(&post, t);
                if (cmp_bytes(sp.p, sp.len, key, 4) != 0)
                    continue;
                for (size_t e = tdx_postings_ent_begin(&post, t); e < post.ent_end[t]; e++)
                    found |= post.docs[e] == d;
                break;
            }
            cr_assert(found || cut[d], "doc %u: trigram %.3s missing and the doc not cut", d,
                      s + i);
        }
        free(texts[d]);
    }
    tdx_postings_free(&post);
    tdx_gram_builder_free(b);
}
