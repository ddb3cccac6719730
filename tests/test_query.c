/*
 * test_query.c - the query language: every leaf and operator, syntax errors
 * with their columns, suggestions for unknown names, precedence, and a
 * differential test of tdx_query_run against a brute-force evaluator over
 * each document's stored text; facets and highlights against brute-force
 * counts and spans.
 *
 * Each test builds its own index with tdx_pipeline_run from a generated
 * corpus (tgen.h).  The oracle reads every document back (stored text,
 * record, hits), normalizes the text with a normalizer made from the same
 * steps, and cross-checks the stored hits against a naive search for the
 * watch-list aliases with the boundary rule (a small handwritten matcher
 * for the watch list's simple regexes).
 */
#include "tassert.h"
#include <ctype.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/alloc.h"
#include "common/docset.h"
#include "normalize/normalize.h"
#include "pipeline/pipeline.h"
#include "index/index.h"
#include "query/query.h"
#include "store/store.h"
#include "testutil.h"
#include "tgen.h"

/* ---- a matcher for the simple regexes of the tests ---------------------------- */

/*
 * Supported: literal characters (ASCII compared caselessly, as the query
 * and watch-list regexes are compiled), [set] of ASCII characters with
 * ranges, \d, \s, \xHH, \x{H..}, \p{Han}, a '?' or '{n}' after an atom,
 * and '|' between alternatives at the top level.
 */
enum { RA_CP, RA_SET, RA_DIGIT, RA_SPACE, RA_HAN };

typedef struct ratom {
    int kind, opt;
    uint32_t cp;
    uint8_t set[128];
} ratom;

typedef struct rseq {
    ratom a[48];
    int n;
} rseq;

typedef struct rx {
    rseq alt[4];
    int nalt;
} rx;

static uint32_t lower_ascii(uint32_t c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int rx_parse(const char *re, rx *out)
{
    memset(out, 0, sizeof *out);
    out->nalt = 1;
    rseq *cur = &out->alt[0];
    const char *p = re;
    while (*p) {
        if (cur->n >= 40)
            return -1;
        ratom *a = &cur->a[cur->n];
        char c = *p;
        if (c == '|') {
            if (out->nalt == 4)
                return -1;
            cur = &out->alt[out->nalt++];
            p++;
            continue;
        }
        if (c == '?' && cur->n) {
            cur->a[cur->n - 1].opt = 1;
            p++;
            continue;
        }
        if (c == '{' && cur->n) {
            char *e;
            unsigned long k = strtoul(p + 1, &e, 10);
            if (*e != '}' || k == 0 || k > 8)
                return -1;
            for (unsigned long i = 1; i < k; i++, cur->n++)
                cur->a[cur->n] = cur->a[cur->n - 1];
            p = e + 1;
            continue;
        }
        memset(a, 0, sizeof *a);
        if (c == '[') {
            a->kind = RA_SET;
            p++;
            while (*p && *p != ']') {
                unsigned char lo = (unsigned char)*p, hi = lo;
                if (p[1] == '-' && p[2] && p[2] != ']') {
                    hi = (unsigned char)p[2];
                    p += 2;
                }
                for (unsigned x = lo; x <= hi && x < 128; x++) {
                    a->set[x] = 1;
                    a->set[lower_ascii(x)] = 1;
                }
                p++;
            }
            if (*p != ']')
                return -1;
            p++;
        } else if (c == '\\') {
            p++;
            if (*p == 'd') {
                a->kind = RA_DIGIT;
                p++;
            } else if (*p == 's') {
                a->kind = RA_SPACE;
                p++;
            } else if (*p == 'x') {
                a->kind = RA_CP;
                p++;
                char *e;
                if (*p == '{') {
                    a->cp = (uint32_t)strtoul(p + 1, &e, 16);
                    if (*e != '}')
                        return -1;
                    p = e + 1;
                } else {
                    char h[3] = {p[0], p[0] ? p[1] : 0, 0};
                    a->cp = (uint32_t)strtoul(h, &e, 16);
                    p += 2;
                }
            } else if (strncmp(p, "p{Han}", 6) == 0) {
                a->kind = RA_HAN;
                p += 6;
            } else if (*p && !isalnum((unsigned char)*p)) {
                a->kind = RA_CP;
                a->cp = (unsigned char)*p++;
            } else {
                return -1;
            }
        } else {
            size_t l;
            int32_t cp = tdx_utf8_decode((const uint8_t *)p, (const uint8_t *)p + strlen(p), &l);
            if (cp < 0 || strchr(".*+()^$]}", c))
                return -1;
            a->kind = RA_CP;
            a->cp = (uint32_t)cp;
            p += l;
        }
        cur->n++;
    }
    return 0;
}

static int is_han(uint32_t c)
{
    return (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x20000 && c <= 0x3134F) || c == 0x3005 ||
           c == 0x3007 || (c >= 0x3021 && c <= 0x3029);
}

static int atom_ok(const ratom *a, uint32_t c)
{
    switch (a->kind) {
    case RA_CP:
        return c == a->cp || (c < 128 && a->cp < 128 && lower_ascii(c) == lower_ascii(a->cp));
    case RA_SET:
        return c < 128 && a->set[c];
    case RA_DIGIT:
        return c >= '0' && c <= '9';
    case RA_SPACE:
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
    case RA_HAN:
        return is_han(c);
    }
    return 0;
}

/* Call fn(ctx, end) for every end of a match of s[i..] starting at pos. */
static void rx_ends(const rseq *s, int i, const uint8_t *t, size_t len, size_t pos,
                    void (*fn)(void *, size_t), void *ctx)
{
    if (i == s->n) {
        fn(ctx, pos);
        return;
    }
    const ratom *a = &s->a[i];
    if (a->opt)
        rx_ends(s, i + 1, t, len, pos, fn, ctx);
    if (pos >= len)
        return;
    size_t l;
    int32_t c = tdx_utf8_decode(t + pos, t + len, &l);
    if (c >= 0 && atom_ok(a, (uint32_t)c))
        rx_ends(s, i + 1, t, len, pos + l, fn, ctx);
}

typedef struct end_acc {
    int64_t *first; /* per end offset: leftmost start, -1 none */
    size_t start;
    int any;
} end_acc;

static void note_end(void *ctx, size_t e)
{
    end_acc *a = ctx;
    a->any = 1;
    if (a->first && a->first[e] < 0)
        a->first[e] = (int64_t)a->start;
}

/* 1 if re matches somewhere in t. */
static int rx_search(const rx *re, const uint8_t *t, size_t len)
{
    end_acc acc = {NULL, 0, 0};
    for (size_t s = 0; s <= len && !acc.any; s++) {
        if (s < len && (t[s] & 0xC0) == 0x80)
            continue;
        for (int k = 0; k < re->nalt && !acc.any; k++)
            rx_ends(&re->alt[k], 0, t, len, s, note_end, &acc);
    }
    return acc.any;
}

typedef struct span {
    uint32_t s, e;
} span;

/* Matches as Hyperscan reports them: per end offset, the leftmost start. */
static size_t rx_matches(const rx *re, const uint8_t *t, size_t len, span **out)
{
    end_acc acc = {malloc((len + 1) * sizeof(int64_t)), 0, 0};
    for (size_t i = 0; i <= len; i++)
        acc.first[i] = -1;
    for (size_t s = 0; s < len; s++) {
        if ((t[s] & 0xC0) == 0x80)
            continue;
        acc.start = s;
        for (int k = 0; k < re->nalt; k++)
            rx_ends(&re->alt[k], 0, t, len, s, note_end, &acc);
    }
    size_t n = 0;
    *out = malloc((len + 1) * sizeof **out);
    for (size_t e = 1; e <= len; e++)
        if (acc.first[e] >= 0 && (size_t)acc.first[e] < e)
            (*out)[n++] = (span){(uint32_t)acc.first[e], (uint32_t)e};
    free(acc.first);
    return n;
}

/* ---- the index under test and the oracle's view of it ------------------------- */

typedef struct ohit {
    uint32_t pat, s, e;
} ohit;

typedef struct odoc {
    char *norm; /* normalized stored text */
    size_t nlen;
    uint32_t *cpos; /* cpos[b]: characters before byte b */
    ohit *hits;     /* naive hits, sorted by (s, e, pat) */
    size_t nhits;
    char *fkey[5]; /* per metadata field: the value as a field term holds it */
} odoc;

typedef struct opat {
    char *norm; /* normalized, trimmed literal; the regex text for regexes */
    size_t nlen;
    rx re;
    uint32_t entity, category;
} opat;

static tdx_norm *norm;
static tdx_norm_ctx *nctx;
static tdx_norm_out nout;
static tg_corpus C;
static tdx_qctx *Q;
static odoc *O; /* O[id - 1] */
static size_t nO;
static opat *OP; /* per pattern id */
static char **ents, **cats;
static size_t nents, ncats;
static uint8_t *deleted; /* deleted[id - 1]: replaced by a later document */

static void setup(void)
{
    tu_tmpdir();
    tdx_err err = {0};
    cr_assert(eq(int, tdx_norm_create(TDX_NORM_ALL, &norm, &err), 0), "%s", err.msg);
    cr_assert(eq(int, tdx_norm_ctx_create(norm, &nctx, &err), 0), "%s", err.msg);
    tdx_norm_out_init(&nout);
}

/* Forget the oracle's view, to load it again after the index changed. */
static void oracle_reset(void)
{
    for (size_t i = 0; O && i < nO; i++) {
        free(O[i].norm);
        free(O[i].cpos);
        free(O[i].hits);
        for (int k = 0; k < 5; k++)
            free(O[i].fkey[k]);
    }
    for (size_t i = 0; OP && i < C.npats; i++)
        free(OP[i].norm);
    free(O);
    free(OP);
    free(ents);
    free(cats);
    O = NULL;
    OP = NULL;
    ents = cats = NULL;
    nents = ncats = 0;
}

static void teardown(void)
{
    oracle_reset();
    free(deleted);
    deleted = NULL;
    tg_paths_free();
    tdx_qctx_close(Q);
    Q = NULL;
    tg_free(&C);
    tdx_norm_out_free(&nout);
    tdx_norm_ctx_free(nctx);
    tdx_norm_free(norm);
    tu_tmpdir_remove();
}

TestSuite(query, .init = setup, .fini = teardown);

/* Normalized copy of s (malloc'd, NUL-terminated). */
static char *nstr(const char *s, size_t len, size_t *out_len)
{
    tdx_err err = {0};
    cr_assert(eq(int, tdx_norm_run(norm, nctx, (const uint8_t *)s, len, &nout, &err), 0), "%s",
              err.msg);
    char *r = malloc(nout.text.len + 1);
    memcpy(r, nout.text.p, nout.text.len);
    r[nout.text.len] = 0;
    if (out_len)
        *out_len = nout.text.len;
    return r;
}

/* Normalized, without the spaces the whitespace rule leaves at the ends. */
static char *nstr_trim(const char *s, size_t *out_len)
{
    size_t l;
    char *r = nstr(s, strlen(s), &l);
    size_t a = 0;
    while (a < l && r[a] == ' ')
        a++;
    while (l > a && r[l - 1] == ' ')
        l--;
    memmove(r, r + a, l - a);
    r[l - a] = 0;
    *out_len = l - a;
    return r;
}

static int is_word(uint8_t c)
{
    return isalnum(c) && c < 0x80;
}

static int cmp_ohit(const void *a, const void *b)
{
    const ohit *x = a, *y = b;
    if (x->s != y->s)
        return x->s < y->s ? -1 : 1;
    if (x->e != y->e)
        return x->e < y->e ? -1 : 1;
    return x->pat < y->pat ? -1 : x->pat > y->pat;
}

/* Every alias of the watch list in the normalized text, with the boundary rule. */
static void naive_hits(odoc *d)
{
    size_t cap = 16;
    d->hits = malloc(cap * sizeof *d->hits);
    d->nhits = 0;
    const uint8_t *t = (const uint8_t *)d->norm;
    for (size_t p = 0; p < C.npats; p++) {
        span *m = NULL;
        size_t nm = 0;
        if (C.pats[p].regex) {
            nm = rx_matches(&OP[p].re, t, d->nlen, &m);
        } else {
            m = malloc((d->nlen + 1) * sizeof *m);
            for (const char *f = d->norm; (f = strstr(f, OP[p].norm)) != NULL; f++)
                m[nm++] = (span){(uint32_t)(f - d->norm), (uint32_t)(f - d->norm + OP[p].nlen)};
        }
        for (size_t k = 0; k < nm; k++) {
            uint32_t s = m[k].s, e = m[k].e;
            if (!C.pats[p].substring && ((s > 0 && is_word(t[s]) && is_word(t[s - 1])) ||
                                         (e < d->nlen && is_word(t[e - 1]) && is_word(t[e]))))
                continue;
            if (d->nhits == cap)
                d->hits = realloc(d->hits, (cap *= 2) * sizeof *d->hits);
            d->hits[d->nhits++] = (ohit){(uint32_t)p, s, e};
        }
        free(m);
    }
    qsort(d->hits, d->nhits, sizeof *d->hits, cmp_ohit);
}

static uint32_t intern(char ***names, size_t *n, const char *s)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*names)[i], s) == 0)
            return (uint32_t)i;
    *names = realloc(*names, (*n + 1) * sizeof **names);
    (*names)[*n] = (char *)s;
    return (uint32_t)(*n)++;
}

static char *field_key(const char *v);

/* Read every document back and check it against what was written. */
static void oracle_load(void)
{
    tdx_err err = {0};
    OP = calloc(C.npats, sizeof *OP);
    for (size_t p = 0; p < C.npats; p++) {
        const tg_pat *tp = &C.pats[p];
        cr_assert(eq(str, (char *)tdx_qctx_pattern_text(Q, (uint32_t)p), tp->text));
        OP[p].entity = intern(&ents, &nents, tp->entity);
        OP[p].category = intern(&cats, &ncats, tp->category);
        if (tp->regex) {
            OP[p].norm = tg_strdup(tp->text);
            OP[p].nlen = strlen(tp->text);
            cr_assert(eq(int, rx_parse(tp->text, &OP[p].re), 0), "regex %s", tp->text);
        } else {
            OP[p].norm = nstr_trim(tp->text, &OP[p].nlen);
        }
    }
    cr_assert(eq(sz, tdx_qctx_nentities(Q), nents));
    cr_assert(eq(sz, tdx_qctx_ncategories(Q), ncats));
    for (size_t i = 0; i < nents; i++)
        cr_assert(eq(str, (char *)tdx_qctx_entity_name(Q, (uint32_t)i), ents[i]));
    for (size_t i = 0; i < ncats; i++)
        cr_assert(eq(str, (char *)tdx_qctx_category_name(Q, (uint32_t)i), cats[i]));

    O = calloc(C.ndocs, sizeof *O);
    nO = C.ndocs;
    tdx_buf text = TDX_BUF_INIT;
    tdx_qhit *hits = NULL;
    size_t nh = 0, caph = 0;
    for (size_t i = 0; i < C.ndocs; i++) {
        uint32_t id = (uint32_t)i + 1;
        const tg_doc *g = &C.docs[i];
        cr_assert(eq(int, tdx_qctx_text(Q, id, &text, &err), 0), "%s", err.msg);
        cr_assert(eq(sz, text.len, g->len), "doc %u: stored text length", id);
        cr_assert(eq(int, memcmp(text.p, g->text, g->len), 0), "doc %u: stored text", id);
        tdx_qdoc qd;
        cr_assert(eq(int, tdx_qctx_doc(Q, id, &qd, &err), 0), "%s", err.msg);
        cr_assert(eq(sz, qd.key_len, strlen(g->key)));
        cr_assert(eq(int, memcmp(qd.key, g->key, qd.key_len), 0));
        cr_assert(eq(u32, qd.date_ymd, g->ymd), "doc %u: date '%s'", id, g->date);
        odoc *d = &O[i];
        d->norm = nstr((const char *)text.p, text.len, &d->nlen);
        d->cpos = malloc((d->nlen + 1) * sizeof *d->cpos);
        uint32_t c = 0;
        for (size_t b = 0; b <= d->nlen; b++) {
            d->cpos[b] = c;
            if (b < d->nlen && ((uint8_t)d->norm[b] & 0xC0) != 0x80)
                c++;
        }
        naive_hits(d);
        for (int k = 0; k < g->nmeta; k++)
            d->fkey[k] = field_key(g->meta[k].val);
        /* The stored hits are exactly the naive ones. */
        int rc = tdx_qctx_hits(Q, id, &hits, &nh, &caph, &err);
        if (rc == TDX_ENOTFOUND)
            nh = 0;
        else
            cr_assert(eq(int, rc, 0), "%s", err.msg);
        cr_assert(eq(sz, nh, d->nhits), "doc %u: %zu hits stored, %zu found naively", id, nh,
                  d->nhits);
        for (size_t h = 0; h < nh; h++) {
            const tdx_qhit *x = &hits[h];
            const ohit *y = &d->hits[h];
            cr_assert(x->pattern == y->pat && x->nstart == y->s && x->nend == y->e,
                      "doc %u hit %zu: stored (%u, %u-%u), naive (%u, %u-%u)", id, h, x->pattern,
                      x->nstart, x->nend, y->pat, y->s, y->e);
            cr_assert(eq(u32, x->entity, OP[x->pattern].entity));
            cr_assert(eq(u32, x->category, OP[x->pattern].category));
            /* The original bytes of a literal hit normalize to text holding the alias. */
            cr_assert(x->ostart <= x->oend && x->oend <= g->len);
            if (!C.pats[x->pattern].regex) {
                char *o = nstr(g->text + x->ostart, x->oend - x->ostart, NULL);
                cr_assert(strstr(o, OP[x->pattern].norm) != NULL,
                          "doc %u: original bytes %u-%u of a hit of '%s'", id, x->ostart, x->oend,
                          C.pats[x->pattern].text);
                free(o);
            }
        }
    }
    tdx_buf_free(&text);
    tdx_free(hits);
}

enum { IX_REPLACE = 1, IX_NO_GRAMS = 2, IX_FORMAT2 = 4 };

/* Index one file into idx.  IX_REPLACE: re-index changed keys and leave the
 * segments unmerged; IX_NO_GRAMS: the entity-only profile; IX_FORMAT2: a new
 * index of format 2 (positional blocks without checkpoints). */
static void index_file(const char *idx, const char *wl, const char *in, int flags,
                       tdx_run_stats *st)
{
    const char *inputs[] = {in};
    tdx_pipeline_opts o;
    memset(&o, 0, sizeof o);
    o.index_path = idx;
    o.watchlist_path = wl;
    o.inputs = inputs;
    o.ninputs = 1;
    o.threads = 2;
    o.batch_bytes = 64 << 10;
    o.replace = (flags & IX_REPLACE) != 0;
    o.no_merge = o.replace; /* then queries read unmerged segments too */
    o.no_grams = (flags & IX_NO_GRAMS) != 0;
    o.store_format = flags & IX_FORMAT2 ? 2 : 0;
    o.cache_dir = "";
    tdx_err err = {0};
    cr_assert(eq(int, tdx_pipeline_run(&o, st, &err), 0), "%s", err.msg);
}

/* Index a generated corpus with the pipeline and open it. */
static void build_with(uint64_t seed, size_t ndocs, size_t avg_len, int flags)
{
    tg_make(&C, seed, ndocs, avg_len);
    const char *wl = tg_path("watch.tsv");
    const char *in = tg_path("docs.jsonl");
    const char *idx = tg_path("idx");
    tg_write_watchlist(&C, wl);
    tg_write_jsonl(&C, in, 0, C.ndocs);
    tdx_run_stats st;
    index_file(idx, wl, in, flags, &st);
    cr_assert(eq(u64, st.added, ndocs));
    cr_assert(eq(u64, st.rejects, 0));
    tdx_err err = {0};
    cr_assert(eq(int, tdx_qctx_open(idx, &Q, &err), 0), "%s", err.msg);
    oracle_load();
}

static void build(uint64_t seed, size_t ndocs, size_t avg_len)
{
    build_with(seed, ndocs, avg_len, 0);
}

/* Index texts[from .. to) (ids "t<i>") into tg_path("idx") with watch list
 * wl, then (re)open Q on it. */
static void index_texts(const char *wl, char *const *texts, size_t from, size_t to, int flags)
{
    const char *in = tg_path("texts.jsonl"), *idx = tg_path("idx");
    FILE *f = fopen(in, "w");
    cr_assert(f != NULL);
    for (size_t i = from; i < to; i++)
        fprintf(f, "{\"id\":\"t%zu\",\"text\":\"%s\"}\n", i, texts[i]);
    fclose(f);
    tdx_run_stats st;
    index_file(idx, wl, in, flags, &st);
    cr_assert(eq(u64, st.added, to - from));
    if (Q)
        tdx_qctx_close(Q);
    Q = NULL;
    tdx_err err = {0};
    cr_assert(eq(int, tdx_qctx_open(idx, &Q, &err), 0), "%s", err.msg);
}

/* ---- queries as trees, written out as text and evaluated by brute force ------- */

enum { Q_SUB, Q_ENT, Q_CAT, Q_PAT, Q_FIELD, Q_DATE, Q_REGEX, Q_NEAR, Q_AND, Q_OR, Q_NOT };

typedef struct qn {
    int kind;
    struct qn *k[3];
    int nk;
    int implicit; /* Q_AND: written without AND */
    char *text;   /* leaves and NEAR: as written */
    char *sub;    /* Q_SUB: normalized */
    size_t sublen;
    uint8_t *sel; /* Q_ENT, Q_CAT, Q_PAT: patterns whose hits count */
    const char *field;
    char *fval; /* Q_FIELD: normalized, trimmed, cut value */
    uint32_t lo, hi, near;
    rx re;
} qn;

static void qn_free(qn *n)
{
    if (n == NULL)
        return;
    for (int i = 0; i < n->nk; i++)
        qn_free(n->k[i]);
    free(n->text);
    free(n->sub);
    free(n->sel);
    free(n->fval);
    free(n);
}

static qn *qn_new(int kind)
{
    qn *n = calloc(1, sizeof *n);
    n->kind = kind;
    return n;
}

/* Write a value bare when the lexer would read it back as one word, else quoted. */
static char *word_or_quoted(const char *prefix, const char *v)
{
    int bare = *v && *v != '/' && strstr(v, "\xE3\x80\x80") == NULL && strcmp(v, "AND") != 0 &&
               strcmp(v, "OR") != 0 && strcmp(v, "NOT") != 0 && (prefix[0] || !strchr(v, ':'));
    for (const char *p = v; *p && bare; p++)
        bare = !strchr(" \t\n\r\f\v()\",", *p);
    if (bare)
        return tg_printf("%s%s", prefix, v);
    tdx_buf b = TDX_BUF_INIT;
    tdx_buf_printf(&b, "%s\"", prefix);
    for (const char *p = v; *p; p++) {
        if (*p == '"' || *p == '\\')
            tdx_buf_putc(&b, '\\');
        tdx_buf_putc(&b, (uint8_t)*p);
    }
    tdx_buf_putc(&b, '"');
    char *r = tg_strdup((const char *)b.p);
    tdx_buf_free(&b);
    return r;
}

/*
 * A near miss for the gram index: "xBy" where xB and By both occur in one
 * document's normalized text (around two occurrences of B) but most often
 * not together.  NULL when the document has no repeated non-ASCII character.
 */
static char *spliced_piece(uint64_t *rs)
{
    const odoc *d = &O[tg_below(rs, (uint32_t)C.ndocs)];
    for (int tries = 0; tries < 20; tries++) {
        const char *b1 = tg_char_at(d->norm, tg_below(rs, d->cpos[d->nlen]));
        size_t l = tg_clen(b1);
        if (l == 1 || b1 == d->norm)
            continue;
        const char *b2 = NULL;
        for (const char *f = d->norm; (f = memmem(f, d->nlen - (size_t)(f - d->norm), b1, l));
             f += l)
            if (f != b1 && f[l] && (b2 == NULL || tg_chance(rs, 50)))
                b2 = f;
        if (b2 == NULL)
            continue;
        const char *x = b1 - 1;
        while ((*x & 0xC0) == 0x80)
            x--;
        return tg_printf("%.*s%.*s", (int)(b1 + l - x), x, (int)tg_clen(b2 + l), b2 + l);
    }
    return NULL;
}

/* n characters of t from character i (control characters as spaces). */
static char *piece_at(const char *t, size_t i, size_t n)
{
    tdx_buf b = TDX_BUF_INIT;
    const char *s = tg_char_at(t, i);
    for (size_t k = 0; k < n && *s; k++) {
        size_t l = tg_clen(s);
        if (l == 1 && (unsigned char)*s < 0x20)
            tdx_buf_putc(&b, ' ');
        else
            tdx_buf_append(&b, s, l);
        s += l;
    }
    char *r = tg_strdup(b.p ? (const char *)b.p : "");
    tdx_buf_free(&b);
    return r;
}

/* A random piece of some document's original text, or random characters. */
static char *random_piece(uint64_t *rs)
{
    tdx_buf b = TDX_BUF_INIT;
    char *spliced = tg_chance(rs, 15) ? spliced_piece(rs) : NULL;
    if (spliced)
        return spliced;
    if (tg_chance(rs, 80)) {
        const char *t = C.docs[tg_below(rs, (uint32_t)C.ndocs)].text;
        size_t nc = tg_nchars(t);
        uint32_t r = tg_below(rs, 10);
        size_t want = r < 6   ? 1 + tg_below(rs, 6)
                      : r < 9 ? 7 + tg_below(rs, 8)
                              : 15 + tg_below(rs, 30);
        tdx_buf_free(&b);
        return piece_at(t, tg_below(rs, (uint32_t)nc), want);
    } else if (tg_chance(rs, 50)) {
        tg_filler(&b, rs, 1 + tg_below(rs, 3), tg_chance(rs, 30), 0);
    } else {
        for (uint32_t i = 0, n = 2 + tg_below(rs, 4); i < n; i++)
            tdx_buf_putc(&b, (uint8_t)('a' + tg_below(rs, 26)));
    }
    char *r = tg_strdup(b.p ? (const char *)b.p : "");
    tdx_buf_free(&b);
    return r;
}

/* A substring leaf for piece v (taken), or NULL when v normalizes to
 * nothing worth asking. */
static qn *sub_of(char *v)
{
    size_t nl;
    char *nv = nstr(v, strlen(v), &nl);
    if (nl == 0 || (nl == 1 && nv[0] == ' ')) {
        free(v);
        free(nv);
        return NULL;
    }
    qn *n = qn_new(Q_SUB);
    n->sub = nv;
    n->sublen = nl;
    n->text = word_or_quoted("", v);
    free(v);
    return n;
}

static qn *gen_sub(uint64_t *rs)
{
    for (;;) {
        qn *n = sub_of(random_piece(rs));
        if (n)
            return n;
    }
}

/* Two pieces of 2-4 characters from one document, the second starting up
 * to 40 characters after the first: a NEAR that holds somewhere, and that
 * positions decide when both are CJK. */
static int gen_near_pair(uint64_t *rs, qn **a, qn **b)
{
    const char *t = C.docs[tg_below(rs, (uint32_t)C.ndocs)].text;
    size_t nc = tg_nchars(t);
    if (nc < 50)
        return 0;
    size_t i = tg_below(rs, (uint32_t)(nc - 48)), j = i + 1 + tg_below(rs, 40);
    *a = sub_of(piece_at(t, i, 2 + tg_below(rs, 3)));
    *b = sub_of(piece_at(t, j, 2 + tg_below(rs, 3)));
    if (*a && *b)
        return 1;
    qn_free(*a);
    qn_free(*b);
    return 0;
}

/* Entities whose name is v, else whose normalized name is v normalized. */
static uint8_t *entity_sel(const char *v)
{
    uint8_t *es = calloc(nents, 1);
    int any = 0;
    for (size_t e = 0; e < nents; e++)
        any |= es[e] = strcmp(ents[e], v) == 0;
    if (!any) {
        char *nv = nstr(v, strlen(v), NULL);
        for (size_t e = 0; e < nents; e++) {
            char *ne = nstr(ents[e], strlen(ents[e]), NULL);
            any |= es[e] = strcmp(ne, nv) == 0;
            free(ne);
        }
        free(nv);
    }
    uint8_t *sel = calloc(C.npats, 1);
    for (size_t p = 0; p < C.npats; p++)
        sel[p] = es[OP[p].entity];
    free(es);
    return any ? sel : (free(sel), NULL);
}

static char *variant(uint64_t *rs, const char *s)
{
    tdx_buf b = TDX_BUF_INIT;
    tg_put_variant(&b, rs, s, tg_chance(rs, 50), tg_chance(rs, 30), 0);
    char *r = tg_strdup((const char *)b.p);
    tdx_buf_free(&b);
    return r;
}

/* An entity, category or pattern leaf for value v, written after prefix. */
static qn *named_leaf(int kind, const char *prefix, const char *v)
{
    qn *n = qn_new(kind);
    if (kind == Q_ENT) {
        n->sel = entity_sel(v);
        cr_assert(n->sel != NULL, "entity '%s' should resolve", v);
    } else if (kind == Q_CAT) {
        n->sel = calloc(C.npats, 1);
        for (size_t p = 0; p < C.npats; p++)
            n->sel[p] = strcasecmp(cats[OP[p].category], v) == 0;
    } else {
        char *nv = nstr(v, strlen(v), NULL);
        n->sel = calloc(C.npats, 1);
        for (size_t p = 0; p < C.npats; p++)
            n->sel[p] = strcmp(C.pats[p].text, v) == 0 || strcmp(OP[p].norm, nv) == 0;
        free(nv);
    }
    n->text = word_or_quoted(prefix, v);
    return n;
}

static qn *gen_named(uint64_t *rs, int kind)
{
    char *v;
    const char *prefix;
    if (kind == Q_ENT) {
        const char *name = ents[tg_below(rs, (uint32_t)nents)];
        v = tg_chance(rs, 70) ? tg_strdup(name) : variant(rs, name);
        prefix = "entity:";
    } else if (kind == Q_CAT) {
        v = tg_strdup(cats[tg_below(rs, (uint32_t)ncats)]);
        if (tg_chance(rs, 30))
            for (char *p = v; *p; p++)
                *p = (char)toupper((unsigned char)*p);
        prefix = tg_chance(rs, 80) ? "cat:" : "category:";
    } else {
        const tg_pat *tp = &C.pats[tg_below(rs, (uint32_t)C.npats)];
        v = tp->regex || tg_chance(rs, 70) ? tg_strdup(tp->text) : variant(rs, tp->text);
        prefix = tg_chance(rs, 80) ? "pattern:" : "alias:";
    }
    qn *n = named_leaf(kind, prefix, v);
    free(v);
    return n;
}

/* The pipeline indexes a field value's first 200 bytes (cut on a character). */
static char *field_key(const char *v)
{
    size_t l;
    char *r = nstr_trim(v, &l);
    if (l > 200) {
        l = 200;
        while (l && ((uint8_t)r[l] & 0xC0) == 0x80)
            l--;
        r[l] = 0;
    }
    return r;
}

static qn *gen_field(uint64_t *rs)
{
    static const char *const names[] = {"buyer", "region", "amount", "kind", "note", "nosuch"};
    qn *n = qn_new(Q_FIELD);
    n->field = names[tg_below(rs, 6)];
    char *v = NULL;
    const tg_doc *d = &C.docs[tg_below(rs, (uint32_t)C.ndocs)];
    for (int k = 0; k < d->nmeta && !v; k++)
        if (strcmp(d->meta[k].key, n->field) == 0)
            v = tg_chance(rs, 60) ? tg_strdup(d->meta[k].val) : variant(rs, d->meta[k].val);
    if (v && strcmp(n->field, "note") == 0 && tg_chance(rs, 50)) {
        /* Same first 200 bytes, another ending. */
        char *w = tg_printf("%.*s中心", 201, v);
        free(v);
        v = w;
    }
    if (v == NULL)
        v = tg_chance(rs, 50) ? tg_strdup(tg_buyers[tg_below(rs, 7)]) : random_piece(rs);
    size_t l;
    free(nstr_trim(v, &l));
    if (l == 0) {
        free(v);
        v = tg_strdup("x");
    }
    n->fval = field_key(v);
    char *prefix = tg_printf("%s:", n->field);
    n->text = word_or_quoted(prefix, v);
    free(prefix);
    free(v);
    return n;
}

static void date_end(uint64_t *rs, tdx_buf *b, uint32_t *lo, uint32_t *hi)
{
    unsigned y = 2018 + tg_below(rs, 8), m = 1 + tg_below(rs, 12), d = 1 + tg_below(rs, 28);
    const char *sep = tg_chance(rs, 80) ? "-" : "/";
    switch (tg_below(rs, 3)) {
    case 0:
        tdx_buf_printf(b, "%u", y);
        *lo = y * 10000;
        *hi = y * 10000 + 9999;
        break;
    case 1:
        tdx_buf_printf(b, "%u%s%02u", y, sep, m);
        *lo = y * 10000 + m * 100;
        *hi = y * 10000 + m * 100 + 99;
        break;
    default:
        tdx_buf_printf(b, "%u%s%02u%s%02u", y, sep, m, sep, d);
        *lo = *hi = y * 10000 + m * 100 + d;
    }
}

static qn *gen_date(uint64_t *rs)
{
    qn *n = qn_new(Q_DATE);
    tdx_buf b = TDX_BUF_INIT;
    tdx_buf_puts(&b, "date:");
    uint32_t unused, r = tg_below(rs, 4);
    if (r == 0) {
        date_end(rs, &b, &n->lo, &n->hi);
    } else {
        /* A range; r == 2 leaves the start open, r == 3 the end. */
        n->lo = 0;
        n->hi = 99999999;
        if (r != 2)
            date_end(rs, &b, &n->lo, &unused);
        tdx_buf_puts(&b, "..");
        if (r != 3)
            date_end(rs, &b, &unused, &n->hi);
    }
    n->text = tg_strdup((const char *)b.p);
    tdx_buf_free(&b);
    return n;
}

/* A regex made from a piece of some normalized text, with classes and escapes. */
static qn *gen_regex(uint64_t *rs)
{
    qn *n = qn_new(Q_REGEX);
    tdx_buf b = TDX_BUF_INIT;
    int alts = tg_chance(rs, 12) ? 2 : 1;
    for (int a = 0; a < alts; a++) {
        if (a)
            tdx_buf_putc(&b, '|');
        const odoc *d = &O[tg_below(rs, (uint32_t)C.ndocs)];
        const char *s = tg_char_at(d->norm, tg_below(rs, (uint32_t)d->cpos[d->nlen]));
        size_t want = 2 + tg_below(rs, 4), got = 0, required = 0;
        while (got < want && *s) {
            size_t l = tg_clen(s);
            unsigned char c = (unsigned char)*s;
            if (l == 1 && !isalnum(c))
                break;
            uint32_t r = tg_below(rs, 100);
            if (l == 1 && isdigit(c) && r < 30)
                tdx_buf_puts(&b, "\\d");
            else if (l == 1 && isdigit(c) && r < 50)
                tdx_buf_printf(&b, "[%c%c]", c, '0' + (c - '0' + 3) % 10);
            else if (l == 1 && isalpha(c) && r < 30)
                tdx_buf_putc(&b, (uint8_t)toupper(c));
            else if (l == 1 && isalpha(c) && r < 40)
                tdx_buf_printf(&b, "\\x%02x", c);
            else if (l == 1 && isalpha(c) && r < 55)
                tdx_buf_printf(&b, "[%c-%c]", c, c + 1 <= 'z' ? c + 1 : c);
            else if (l == 3 && r < 15)
                tdx_buf_puts(&b, "\\p{Han}");
            else
                tdx_buf_append(&b, s, l);
            if (tg_chance(rs, 12) && got + 1 < want)
                tdx_buf_putc(&b, '?');
            else
                required++;
            got++;
            s += l;
        }
        if (required == 0)
            tdx_buf_puts(&b, "\\d");
    }
    n->text = tg_printf("/%s/", b.p);
    cr_assert(eq(int, rx_parse((const char *)b.p, &n->re), 0), "test regex %s", b.p);
    tdx_buf_free(&b);
    return n;
}

static qn *gen_positional(uint64_t *rs)
{
    uint32_t r = tg_below(rs, 10);
    return r < 6 ? gen_sub(rs) : gen_named(rs, r < 8 ? Q_ENT : r < 9 ? Q_CAT : Q_PAT);
}

/* A NEAR; in pair_pct% of them, of two pieces of one document. */
static qn *gen_near(uint64_t *rs, uint32_t pair_pct)
{
    qn *n = qn_new(Q_NEAR);
    n->nk = 2;
    if (!tg_chance(rs, pair_pct) || !gen_near_pair(rs, &n->k[0], &n->k[1])) {
        n->k[0] = gen_positional(rs);
        n->k[1] = gen_positional(rs);
    }
    n->near = tg_below(rs, 4) ? tg_below(rs, 12) : tg_below(rs, 200);
    n->text = tg_printf("NEAR(%s,%s%s, %u)", n->k[0]->text, tg_chance(rs, 50) ? " " : "",
                        n->k[1]->text, n->near);
    return n;
}

static qn *gen_leaf(uint64_t *rs)
{
    uint32_t r = tg_below(rs, 100);
    if (r < 36)
        return gen_sub(rs);
    if (r < 50)
        return gen_named(rs, Q_ENT);
    if (r < 58)
        return gen_named(rs, Q_CAT);
    if (r < 66)
        return gen_named(rs, Q_PAT);
    if (r < 76)
        return gen_field(rs);
    if (r < 86)
        return gen_date(rs);
    if (r < 94)
        return gen_regex(rs);
    return gen_near(rs, 50);
}

static qn *gen_tree(uint64_t *rs, int depth)
{
    if (depth == 0 || tg_chance(rs, 30))
        return gen_leaf(rs);
    uint32_t r = tg_below(rs, 10);
    qn *n = qn_new(r < 4 ? Q_AND : r < 7 ? Q_OR : Q_NOT);
    n->nk = n->kind == Q_NOT ? 1 : 2 + (int)tg_chance(rs, 25);
    n->implicit = tg_chance(rs, 40);
    for (int i = 0; i < n->nk; i++)
        n->k[i] = gen_tree(rs, depth - 1);
    return n;
}

static int prec(const qn *n)
{
    return n->kind == Q_OR ? 1 : n->kind == Q_AND ? 2 : n->kind == Q_NOT ? 3 : 4;
}

static void sep(tdx_buf *b, uint64_t *rs)
{
    static const char *const s[] = {" ", " ", " ", "  ", "\t", "\xE3\x80\x80"};
    tdx_buf_puts(b, s[tg_below(rs, 6)]);
}

/* Write n, parenthesized when its precedence is below min (or at random). */
static void write_query(tdx_buf *b, uint64_t *rs, const qn *n, int min)
{
    if (n->nk == 0 || n->kind == Q_NEAR) {
        tdx_buf_puts(b, n->text);
        return;
    }
    int paren = prec(n) < min || tg_chance(rs, 10);
    if (paren)
        tdx_buf_puts(b, tg_chance(rs, 50) ? "(" : "( ");
    if (n->kind == Q_NOT) {
        tdx_buf_puts(b, "NOT");
        sep(b, rs);
        write_query(b, rs, n->k[0], 3);
    } else {
        for (int i = 0; i < n->nk; i++) {
            if (i) {
                sep(b, rs);
                if (n->kind == Q_OR || !n->implicit) {
                    tdx_buf_puts(b, n->kind == Q_OR ? "OR" : "AND");
                    sep(b, rs);
                }
            }
            write_query(b, rs, n->k[i], n->kind == Q_OR ? 1 : 2);
        }
    }
    if (paren)
        tdx_buf_puts(b, tg_chance(rs, 50) ? ")" : " )");
}

/* Where a positional leaf occurs in doc d (normalized byte ranges). */
static size_t occurrences(const qn *n, const odoc *d, span **out)
{
    size_t k = 0;
    *out = malloc((d->nlen + d->nhits + 1) * sizeof **out);
    if (n->kind == Q_SUB) {
        for (const char *f = d->norm;
             (f = memmem(f, d->nlen - (size_t)(f - d->norm), n->sub, n->sublen)) != NULL; f++)
            (*out)[k++] = (span){(uint32_t)(f - d->norm), (uint32_t)(f - d->norm + n->sublen)};
    } else if (n->kind == Q_REGEX) {
        free(*out);
        return rx_matches(&n->re, (const uint8_t *)d->norm, d->nlen, out);
    } else {
        for (size_t h = 0; h < d->nhits; h++)
            if (n->sel[d->hits[h].pat])
                (*out)[k++] = (span){d->hits[h].s, d->hits[h].e};
    }
    return k;
}

static const tg_meta *meta_of(const tg_doc *g, const char *field)
{
    for (int k = 0; k < g->nmeta; k++)
        if (strcmp(g->meta[k].key, field) == 0)
            return &g->meta[k];
    return NULL;
}

static int bf_eval(const qn *n, size_t i)
{
    const odoc *d = &O[i];
    const tg_doc *g = &C.docs[i];
    switch (n->kind) {
    case Q_SUB:
        return memmem(d->norm, d->nlen, n->sub, n->sublen) != NULL;
    case Q_ENT:
    case Q_CAT:
    case Q_PAT:
        for (size_t h = 0; h < d->nhits; h++)
            if (n->sel[d->hits[h].pat])
                return 1;
        return 0;
    case Q_FIELD:
        for (int k = 0; k < g->nmeta; k++)
            if (strcmp(g->meta[k].key, n->field) == 0)
                return d->fkey[k][0] && strcmp(d->fkey[k], n->fval) == 0;
        return 0;
    case Q_DATE:
        return g->ymd && g->ymd >= n->lo && g->ymd <= n->hi;
    case Q_REGEX:
        return rx_search(&n->re, (const uint8_t *)d->norm, d->nlen);
    case Q_NEAR: {
        span *a, *b;
        size_t na = occurrences(n->k[0], d, &a), nb = occurrences(n->k[1], d, &b);
        int ok = 0;
        for (size_t x = 0; x < na && !ok; x++)
            for (size_t y = 0; y < nb && !ok; y++) {
                span p = a[x], q = b[y];
                if (q.s < p.s) {
                    span t = p;
                    p = q;
                    q = t;
                }
                uint32_t gap = q.s <= p.e ? 0 : d->cpos[q.s] - d->cpos[p.e];
                ok = gap <= n->near;
            }
        free(a);
        free(b);
        return ok;
    }
    case Q_AND:
        for (int k = 0; k < n->nk; k++)
            if (!bf_eval(n->k[k], i))
                return 0;
        return 1;
    case Q_OR:
        for (int k = 0; k < n->nk; k++)
            if (bf_eval(n->k[k], i))
                return 1;
        return 0;
    case Q_NOT:
        return !bf_eval(n->k[0], i);
    }
    return 0;
}

static void bf_answer(const qn *n, tdx_docset *out)
{
    out->n = 0;
    for (size_t i = 0; i < C.ndocs; i++)
        if (!(deleted && deleted[i]) && bf_eval(n, i))
            tdx_docset_push(out, (uint32_t)i + 1);
}

/* Parse and run; fails the test on any error. */
static void run_query(const char *text, size_t limit, tdx_docset *out, tdx_qstats *st)
{
    tdx_query *query = NULL;
    tdx_err err = {0};
    size_t col = 0;
    int rc = tdx_query_parse(Q, text, &query, &col, &err);
    cr_assert(eq(int, rc, 0), "query [%s]: parse error %d at column %zu: %s", text, rc, col,
              err.msg);
    rc = tdx_query_run(Q, query, limit, out, st, &err);
    cr_assert(eq(int, rc, 0), "query [%s]: %s", text, err.msg);
    tdx_query_free(query);
}

static void expect_same(const char *what, const tdx_docset *got, const tdx_docset *want,
                        uint64_t seed)
{
    size_t i = 0;
    while (i < got->n && i < want->n && got->v[i] == want->v[i])
        i++;
    if (i == got->n && i == want->n)
        return;
    uint32_t g = i < got->n ? got->v[i] : 0, w = i < want->n ? want->v[i] : 0;
    uint32_t doc = g && (!w || g < w) ? g : w;
    cr_assert(0,
              "seed %llu: query [%s]: %zu docs, brute force %zu; first difference: doc %u "
              "%s (normalized text: %s)",
              (unsigned long long)seed, what, got->n, want->n, doc,
              doc == g ? "returned but should not be" : "missing",
              doc && doc <= nO ? O[doc - 1].norm : "(not a generated document)");
}

/* Run query q with a limit (0: none) and compare its answer with the
 * first `limit` docs of want; `what` gets the query, limit and tag. */
static void expect_limited(const char *q, size_t limit, const tdx_docset *want, const char *tag,
                           uint64_t seed, tdx_docset *got, tdx_qstats *qst, char *what,
                           size_t what_cap)
{
    run_query(q, limit, got, qst);
    tdx_docset part = *want;
    if (limit && part.n > limit)
        part.n = limit;
    snprintf(what, what_cap, "%s limit %zu%s", q, limit, tag);
    expect_same(what, got, &part, seed);
}

typedef struct leaf_counts {
    uint64_t v[64];
    size_t n;
} leaf_counts;

static void on_leaf(void *ctx, const char *leaf, uint64_t docs, int exact)
{
    (void)leaf;
    (void)exact;
    leaf_counts *c = ctx;
    if (c->n < 64)
        c->v[c->n] = docs;
    c->n++;
}

static void bf_leaf_counts(const qn *n, leaf_counts *c)
{
    if (n->nk && n->kind != Q_NEAR) {
        for (int k = 0; k < n->nk; k++)
            bf_leaf_counts(n->k[k], c);
        return;
    }
    uint64_t cnt = 0;
    for (size_t i = 0; i < C.ndocs; i++)
        cnt += (uint64_t)(!(deleted && deleted[i]) && bf_eval(n, i));
    if (c->n < 64)
        c->v[c->n] = cnt;
    c->n++;
}

/* ---- parsing ------------------------------------------------------------------ */

Test(query, every_leaf_and_operator_parses_and_runs)
{
    build(tu_seed("query/parse"), 60, 300);
    static const char *const ok[] = {
        "深圳",
        "深",
        "gpu",
        "\"Amazon Web Services\"",
        "\"say \\\"hi\\\" \\\\ back\"",
        "entity:深圳大学",
        "entity:\"深圳大学\"",
        "entity:ＮＶＩＤＩＡ",
        "cat:chip",
        "cat:CHIP",
        "category:cloud",
        "pattern:H100",
        "pattern:\"Ascend 910B\"",
        "alias:英偉達",
        "buyer:深圳大学",
        "buyer:\" 北京市教育局 \"",
        "date:2023",
        "date:2023-03",
        "date:2023-03-15",
        "date:2023/03/15",
        "date:20230315",
        "date:2021..2023-06",
        "date:2022..",
        "date:..2021",
        "/h[18]00/",
        "/\\x41\\d/",
        "/a\\/b/",
        "NEAR(深圳, gpu, 10)",
        "NEAR(entity:NVIDIA, cat:chip, 0)",
        "NEAR(\"Web Services\",pattern:AWS,5)",
        "a AND b",
        "a OR b",
        "NOT a",
        "a b",
        "(a OR b) c",
        "a\xE3\x80\x80"
        "b",
        "NOT NOT (a OR (b AND NOT c)) OR d",
        "NEAR",
        "NEAR (a)",
        "and or not",
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        tdx_docset d = {0};
        run_query(ok[i], 0, &d, NULL);
        tdx_docset_free(&d);
    }
    /* With the gram index no query has to read every document. */
    tdx_query *query;
    cr_assert(eq(int, tdx_query_parse(Q, "gpu OR /h[18]00/", &query, NULL, NULL), 0));
    cr_expect(eq(int, tdx_query_scans_all(Q, query), 0));
    tdx_query_free(query);
}

typedef struct bad_query {
    const char *q;
    int code;
    size_t col;
    const char *msg;
} bad_query;

Test(query, syntax_errors_give_the_column_and_what_was_expected)
{
    build(tu_seed("query/errors"), 20, 200);
    static const bad_query bad[] = {
        {"", TDX_ESYNTAX, 1, "empty query"},
        {"   ", TDX_ESYNTAX, 1, "empty query"},
        {"(a", TDX_ESYNTAX, 3, "expected ')'"},
        {"(a OR (b c)", TDX_ESYNTAX, 12, "column 1"},
        {"a)", TDX_ESYNTAX, 2, "no '('"},
        {"()", TDX_ESYNTAX, 2, "expected a term"},
        {"a AND", TDX_ESYNTAX, 6, "expected a term"},
        {"a OR OR b", TDX_ESYNTAX, 6, "expected a term"},
        {"a AND OR b", TDX_ESYNTAX, 7, "expected a term"},
        {"NOT", TDX_ESYNTAX, 4, "expected a term"},
        {"深圳 AND", TDX_ESYNTAX, 7, "expected a term"},
        {"深圳大学 )", TDX_ESYNTAX, 6, "no '('"},
        {"\"abc", TDX_ESYNTAX, 1, "unterminated quote"},
        {"深圳 \"abc", TDX_ESYNTAX, 4, "unterminated quote"},
        {"entity:\"深圳", TDX_ESYNTAX, 8, "unterminated quote"},
        {"/ab", TDX_ESYNTAX, 1, "unterminated regex"},
        {"a /b\\/", TDX_ESYNTAX, 3, "unterminated regex"},
        {"//", TDX_ESYNTAX, 1, "empty regex"},
        {"\"\"", TDX_ESYNTAX, 1, "expected a search term"},
        {"\"  \"", TDX_ESYNTAX, 1, "expected a search term"},
        {"entity:\"\"", TDX_ESYNTAX, 8, "expected a value"},
        {"buyer:", TDX_ESYNTAX, 7, "expected a value"},
        {"NEAR(a, b)", TDX_ESYNTAX, 10, "expected ','"},
        {"NEAR(a b, c, 3)", TDX_ESYNTAX, 8, "expected ','"},
        {"NEAR(a, b, x)", TDX_ESYNTAX, 12, "distance"},
        {"NEAR(a, b, -1)", TDX_ESYNTAX, 12, "distance"},
        {"NEAR(a, b, 3", TDX_ESYNTAX, 13, "expected ')'"},
        {"NEAR(a, b, 3 4)", TDX_ESYNTAX, 14, "expected ')'"},
        {"NEAR(/x/, b, 3)", TDX_ESYNTAX, 6, "argument 1"},
        {"NEAR(a, (b), 3)", TDX_ESYNTAX, 9, "argument 2"},
        {"NEAR(date:2023, b, 3)", TDX_ESYNTAX, 6, "no position"},
        {"NEAR(a, buyer:x, 3)", TDX_ESYNTAX, 9, "no position"},
        {"NEAR()", TDX_ESYNTAX, 6, "argument 1"},
        {"date:2023-13", TDX_ESYNTAX, 6, "expected a date"},
        {"date:23", TDX_ESYNTAX, 6, "expected a date"},
        {"date:..", TDX_ESYNTAX, 6, "expected a date"},
        {"a date:2023-01-32", TDX_ESYNTAX, 8, "expected a date"},
        {"date:2023年", TDX_ESYNTAX, 6, "expected a date"},
        {"/a(/", TDX_EPATTERN, 1, "invalid regex"},
        {"x /[/", TDX_EPATTERN, 3, "invalid regex"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        tdx_query *query = NULL;
        tdx_err err = {0};
        size_t col = 99;
        int rc = tdx_query_parse(Q, bad[i].q, &query, &col, &err);
        cr_expect(eq(int, rc, bad[i].code), "[%s]: code %d (%s), want %d", bad[i].q, rc, err.msg,
                  bad[i].code);
        cr_expect(eq(sz, col, bad[i].col), "[%s]: column %zu, want %zu (%s)", bad[i].q, col,
                  bad[i].col, err.msg);
        cr_expect(strstr(err.msg, bad[i].msg) != NULL, "[%s]: message '%s' lacks '%s'", bad[i].q,
                  err.msg, bad[i].msg);
        cr_expect(query == NULL);
        const char *again = strstr(err.msg, bad[i].msg);
        cr_expect(again == NULL || strstr(again + 1, bad[i].msg) == NULL,
                  "[%s]: '%s' says it twice", bad[i].q, err.msg);
        tdx_query_free(query);
    }
}

Test(query, limits_on_length_depth_and_encoding)
{
    build(tu_seed("query/limits"), 10, 200);
    tdx_query *query = NULL;
    tdx_err err = {0};
    size_t col;
    tdx_buf b = TDX_BUF_INIT;
    for (int i = 0; i < 100; i++)
        tdx_buf_putc(&b, '(');
    tdx_buf_putc(&b, 'a');
    for (int i = 0; i < 100; i++)
        tdx_buf_putc(&b, ')');
    cr_expect(eq(int, tdx_query_parse(Q, (const char *)b.p, &query, &col, &err), TDX_ELIMIT));
    tdx_buf_reset(&b);
    for (int i = 0; i < 100; i++)
        tdx_buf_puts(&b, "NOT ");
    tdx_buf_putc(&b, 'a');
    memset(&err, 0, sizeof err);
    cr_expect(eq(int, tdx_query_parse(Q, (const char *)b.p, &query, &col, &err), TDX_ELIMIT));
    tdx_buf_reset(&b);
    for (int i = 0; i < 70000; i++)
        tdx_buf_putc(&b, 'a');
    memset(&err, 0, sizeof err);
    cr_expect(eq(int, tdx_query_parse(Q, (const char *)b.p, &query, &col, &err), TDX_ELIMIT));
    tdx_buf_reset(&b);
    for (int i = 0; i < 5000; i++)
        tdx_buf_puts(&b, "a ");
    memset(&err, 0, sizeof err);
    cr_expect(eq(int, tdx_query_parse(Q, (const char *)b.p, &query, &col, &err), TDX_ELIMIT));
    memset(&err, 0, sizeof err);
    cr_expect(eq(int, tdx_query_parse(Q, "ab\xC3(", &query, &col, &err), TDX_ESYNTAX));
    cr_expect(query == NULL);
    tdx_buf_free(&b);
}

Test(query, unknown_names_are_not_found_with_suggestions)
{
    build(tu_seed("query/suggest"), 10, 200);
    static const char *const cases[][2] = {
        {"entity:深圳大", "'深圳大学'"},
        {"entity:NVIDA", "'NVIDIA'"},
        {"gpu AND entity:清华大", "'清华大学'"},
        {"entity:阿里", "'阿里云'"},
        {"cat:univrsity", "'university'"},
        {"cat:clouds", "'cloud'"},
        {"pattern:H10", "'H100'"},
        {"alias:\"Alibaba Clod\"", "'Alibaba Cloud'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        tdx_query *query = NULL;
        tdx_err err = {0};
        size_t col = 0;
        int rc = tdx_query_parse(Q, cases[i][0], &query, &col, &err);
        cr_expect(eq(int, rc, TDX_ENOTFOUND), "[%s]: %d %s", cases[i][0], rc, err.msg);
        cr_expect(strstr(err.msg, cases[i][1]) != NULL, "[%s]: '%s' does not suggest %s",
                  cases[i][0], err.msg, cases[i][1]);
        cr_expect(col > 0);
    }
    /* A category error lists the categories there are. */
    tdx_query *query = NULL;
    tdx_err err = {0};
    size_t col;
    cr_expect(eq(int, tdx_query_parse(Q, "cat:zzzzzzzzzzzz", &query, &col, &err), TDX_ENOTFOUND));
    cr_expect(strstr(err.msg, "university") && strstr(err.msg, "agency"), "%s", err.msg);
}

/* All docs minus a. */
static void complement(const tdx_docset *a, tdx_docset *out)
{
    tdx_docset all = {0};
    for (size_t i = 1; i <= C.ndocs; i++)
        tdx_docset_push(&all, (uint32_t)i);
    tdx_docset_sub(&all, a, out);
    tdx_docset_free(&all);
}

Test(query, not_binds_tighter_than_and_and_and_than_or)
{
    build(tu_seed("query/precedence"), 200, 300);
    tdx_docset A = {0}, B = {0}, Cs = {0}, t1 = {0}, t2 = {0}, want = {0}, got = {0};
    run_query("gpu", 0, &A, NULL);
    run_query("server", 0, &B, NULL);
    run_query("entity:H100", 0, &Cs, NULL);
    cr_assert(A.n && B.n && Cs.n && A.n < C.ndocs && B.n < C.ndocs);

    tdx_docset_and(&B, &Cs, &t1);
    tdx_docset_or(&A, &t1, &want);
    run_query("gpu OR server entity:H100", 0, &got, NULL);
    expect_same("gpu OR server entity:H100", &got, &want, 0);
    run_query("gpu OR server AND entity:H100", 0, &got, NULL);
    expect_same("gpu OR server AND entity:H100", &got, &want, 0);

    tdx_docset_and(&A, &B, &t1);
    tdx_docset_or(&t1, &Cs, &want);
    run_query("gpu server OR entity:H100", 0, &got, NULL);
    expect_same("gpu server OR entity:H100", &got, &want, 0);

    complement(&A, &t1);
    tdx_docset_and(&t1, &B, &want);
    run_query("NOT gpu server", 0, &got, NULL);
    expect_same("NOT gpu server", &got, &want, 0);
    tdx_docset_or(&t1, &B, &want);
    run_query("NOT gpu OR server", 0, &got, NULL);
    expect_same("NOT gpu OR server", &got, &want, 0);

    complement(&B, &t1);
    tdx_docset_and(&A, &t1, &t2);
    tdx_docset_or(&t2, &Cs, &want);
    run_query("gpu AND NOT server OR entity:H100", 0, &got, NULL);
    expect_same("gpu AND NOT server OR entity:H100", &got, &want, 0);

    tdx_docset_or(&A, &B, &t1);
    complement(&t1, &want);
    run_query("NOT (gpu OR server)", 0, &got, NULL);
    expect_same("NOT (gpu OR server)", &got, &want, 0);
    run_query("NOT NOT gpu", 0, &got, NULL);
    expect_same("NOT NOT gpu", &got, &A, 0);

    tdx_docset *all[] = {&A, &B, &Cs, &t1, &t2, &want, &got};
    for (size_t i = 0; i < 7; i++)
        tdx_docset_free(all[i]);
}

/* ---- the differential test ------------------------------------------------- */

static qn *regex_leaf(const char *re);

/* Random queries: tdx_query_run against brute force, with and without a limit. */
/* Returns the docs whose NEAR positions decided (tdx_qstats.near_positions). */
static uint64_t differential(uint64_t seed, int nqueries)
{
    uint64_t rs = seed ^ 0x5eed;
    tdx_docset got = {0}, want = {0}, lim = {0};
    size_t nonempty = 0, inexact = 0;
    uint64_t near_pos = 0;
    for (int i = 0; i < nqueries; i++) {
        /* One query in ten a lone NEAR, mostly of two pieces of a document,
         * so that some are decided by positions whatever the seed. */
        qn *n = i % 10 == 5 ? gen_near(&rs, 90) : gen_tree(&rs, 1 + (int)tg_below(&rs, 4));
        tdx_buf b = TDX_BUF_INIT;
        write_query(&b, &rs, n, 1);
        const char *text = (const char *)b.p;
        bf_answer(n, &want);
        tdx_qstats st;
        run_query(text, 0, &got, &st);
        expect_same(text, &got, &want, seed);
        nonempty += got.n > 0;
        inexact += st.candidates > 0;
        near_pos += st.near_positions;
        /* A limit only shortens the answer. */
        size_t limit = 1 + tg_below(&rs, 6);
        run_query(text, limit, &lim, NULL);
        cr_assert(eq(sz, lim.n, want.n < limit ? want.n : limit), "seed %llu: [%s] limit %zu",
                  (unsigned long long)seed, text, limit);
        cr_assert(lim.n == 0 || memcmp(lim.v, want.v, lim.n * sizeof *lim.v) == 0,
                  "seed %llu: [%s] limit %zu is not a prefix of the answer",
                  (unsigned long long)seed, text, limit);
        /* Per-leaf counts, as `query --explain` shows them: after the
         * same query object has run twice, with the same answer. */
        if (i % 10 == 0) {
            tdx_query *query;
            tdx_err err = {0};
            cr_assert(eq(int, tdx_query_parse(Q, text, &query, NULL, &err), 0));
            for (int again = 0; again < 2; again++) {
                cr_assert(eq(int, tdx_query_run(Q, query, 0, &lim, NULL, &err), 0), "%s", err.msg);
                expect_same(text, &lim, &want, seed);
            }
            leaf_counts lc = {{0}, 0}, bc = {{0}, 0};
            cr_assert(eq(int, tdx_query_leaves(Q, query, on_leaf, &lc, &err), 0), "%s", err.msg);
            bf_leaf_counts(n, &bc);
            cr_assert(eq(sz, lc.n, bc.n), "seed %llu: [%s] leaves", (unsigned long long)seed, text);
            for (size_t k = 0; k < lc.n && k < 64; k++)
                cr_assert(eq(u64, lc.v[k], bc.v[k]), "seed %llu: [%s] leaf %zu",
                          (unsigned long long)seed, text, k);
            tdx_query_free(query);
        }
        tdx_buf_free(&b);
        qn_free(n);
    }
    /* The generator must produce answers worth comparing. */
    cr_expect(nonempty > (size_t)nqueries / 3, "only %zu non-empty answers", nonempty);
    cr_expect(inexact > (size_t)nqueries / 10, "only %zu queries verified candidates", inexact);
    tdx_docset_free(&got);
    tdx_docset_free(&want);
    tdx_docset_free(&lim);
    return near_pos;
}

/* Bare substrings with a limit: the first docs, found by walking term
 * cursors when the query allows it, are the brute-force answer's prefix. */
static void substring_limits(uint64_t seed, int nqueries, int merged)
{
    uint64_t rs = seed ^ 0x11417;
    tdx_docset want = {0}, lim = {0};
    size_t streamed = 0, scanned = 0;
    for (int i = 0; i < nqueries; i++) {
        qn *n = gen_sub(&rs);
        bf_answer(n, &want);
        size_t limit = 1 + tg_below(&rs, i % 2 ? 5 : 60);
        tdx_qstats st;
        run_query(n->text, limit, &lim, &st);
        streamed += st.streamed;
        scanned += st.scanned;
        cr_assert(eq(sz, lim.n, want.n < limit ? want.n : limit), "seed %llu: [%s] limit %zu",
                  (unsigned long long)seed, n->text, limit);
        cr_assert(lim.n == 0 || memcmp(lim.v, want.v, lim.n * sizeof *lim.v) == 0,
                  "seed %llu: [%s] limit %zu is not a prefix of the answer",
                  (unsigned long long)seed, n->text, limit);
        qn_free(n);
    }
    /* Common Latin fragments with a limit are found in the first texts. */
    cr_expect(gt(sz, scanned, 0), "no answer came from the first documents' text");
    /* Many substrings of CJK text are bigram walks, segments merged or not
     * (measured: 36-68 of 150 with segments pending over 60 seeds, 126-145
     * of 400 merged over 12; a quarter failed about one seed in fifty). */
    cr_expect(streamed > (size_t)nqueries / 6, "only %zu of %d walked (%s)", streamed, nqueries,
              merged ? "merged" : "segments pending");
    tdx_docset_free(&want);
    tdx_docset_free(&lim);
}

/* A long walk over a common phrase: bigram filters as common as the terms
 * that prove positions leave the walk, rare ones stay, and every answer
 * still equals the texts holding the phrase. */
Test(query, walks_drop_filters_that_never_narrow_them_and_stay_exact, .timeout = 120)
{
    uint64_t rs = tu_seed("query/walk-filters");
    const char *wl = tg_path("watch.tsv");
    tu_write_str(wl, "NVIDIA A100\tchip\tA100\n");
    /* Pieces: the phrase, its bigrams apart (all of 采购 代理 机构 without
     * 采购代理机构), and a rare run 工程学院项目 among common 工程 学院 项目. */
    static const char *const pieces[] = {"采购代理机构", "采购人", "代理费", "机构名称", "工程",
                                         "学院",         "项目",   "工程学院项目", "公告"};
    enum { N = 3000 };
    char **texts = calloc(N, sizeof *texts);
    cr_assert(texts != NULL);
    for (size_t i = 0; i < N; i++) {
        tdx_buf t = TDX_BUF_INIT;
        size_t np = 6 + tg_below(&rs, 10);
        for (size_t k = 0; k < np; k++) {
            size_t p = tg_below(&rs, 9);
            if (p == 7 && tg_below(&rs, 40) != 0)
                p = 6; /* the rare run stays rare */
            cr_assert(eq(int, tdx_buf_puts(&t, pieces[p]), 0));
        }
        /* No two texts alike (six pieces of nine collide within 3,000
         * documents about one seed in twelve). */
        char no[24];
        snprintf(no, sizeof no, " n%zu", i);
        cr_assert(eq(int, tdx_buf_puts(&t, no), 0));
        texts[i] = (char *)t.p;
    }
    index_texts(wl, texts, 0, N, 0);
    /* The last two repeat a bigram (项目, 工程): one cursor serves both. */
    static const char *const qs[] = {"采购代理机构", "工程学院项目", "项目工程项目", "工程工程"};
    for (size_t k = 0; k < 4; k++) {
        tdx_docset want = {0}, got = {0};
        for (size_t i = 0; i < N; i++)
            if (strstr(texts[i], qs[k]))
                cr_assert(eq(int, tdx_docset_push(&want, (uint32_t)i + 1), 0));
        tdx_qstats qst;
        run_query(qs[k], 0, &got, &qst);
        expect_same(qs[k], &got, &want, rs);
        cr_assert(qst.streamed, "%s was not walked", qs[k]);
        if (k == 0) /* 购代 and 理机 sit wherever 采购, 代理 and 机构 do */
            cr_assert(gt(int, qst.filters_dropped, 0), "no filter left the walk");
        else if (k == 1) /* 程学 and 院项 are what makes the walk short */
            cr_assert(eq(int, qst.filters_dropped, 0), "a narrowing filter left the walk");
        cr_assert(gt(sz, want.n, 0), "%s: nothing to compare", qs[k]);
        tdx_docset_free(&want);
        tdx_docset_free(&got);
    }
    for (size_t i = 0; i < N; i++)
        free(texts[i]);
    free(texts);
}

/* Text of doc i for the fragment test: a digit word holding "153" in two
 * docs of three, a common phrase in all, a rare one in few (or, in the
 * second part, in all). */
static char *fragment_text(size_t i, int rare_everywhere)
{
    tdx_buf t = TDX_BUF_INIT;
    char w[64];
    snprintf(w, sizeof w, "常见短语 编号 a%zu%s%zub ", i * 7, i % 3 ? "153" : "", i % 10);
    cr_assert(eq(int, tdx_buf_puts(&t, w), 0));
    if (rare_everywhere || i % 200 == 7)
        cr_assert(eq(int, tdx_buf_puts(&t, "稀有短语 "), 0));
    snprintf(w, sizeof w, "采购公告 n%zu", i);
    cr_assert(eq(int, tdx_buf_puts(&t, w), 0));
    return (char *)t.p;
}

/*
 * An AND of a phrase and a digit fragment ("153" stands for every word
 * holding it): when the phrase is rare the walk checks the fragment in the
 * text of the few docs it finds, when it is common the fragment's words
 * are read, and when the phrase's first block said rare but the walk keeps
 * finding docs (its other docs in segments not yet merged) the words are
 * read after all.  Every answer equals brute force.
 */
Test(query, fragments_beside_a_phrase_are_checked_in_the_text_only_when_that_is_cheap,
     .timeout = 120)
{
    enum { N1 = 600, N2 = 1500 };
    const char *wl = tg_path("watch.tsv");
    tu_write_str(wl, "none\tnone\tzzzzqqqq\n");
    char *texts[N1 + N2];
    for (int part = 0; part < 2; part++) {
        for (size_t i = part ? N1 : 0; i < (part ? N1 + N2 : N1); i++)
            texts[i] = fragment_text(i, part);
        /* The second part stays in segments: the phrase's first block is
         * the main tree's, with its few docs. */
        index_texts(wl, texts, part ? N1 : 0, part ? N1 + N2 : N1, part ? IX_REPLACE : 0);
        size_t n = part ? N1 + N2 : N1;
        static const char *const phrases[] = {"稀有短语", "常见短语"};
        for (int c = 0; c < 2; c++) {
            char q[64];
            snprintf(q, sizeof q, "\"%s\" AND 153", phrases[c]);
            tdx_docset want = {0}, got = {0};
            for (size_t i = 0; i < n; i++)
                if (strstr(texts[i], phrases[c]) && strstr(texts[i], "153"))
                    cr_assert(eq(int, tdx_docset_push(&want, (uint32_t)i + 1), 0));
            tdx_qstats qst;
            run_query(q, 0, &got, &qst);
            expect_same(q, &got, &want, 0);
            cr_assert(gt(sz, want.n, 0), "%s: nothing to compare", q);
            cr_assert(qst.streamed, "%s was not walked", q);
            if (c == 1) {
                cr_assert(eq(u64, qst.text_checked, 0), "%s: a common phrase's docs were read", q);
            } else if (part == 0) {
                cr_assert(gt(u64, qst.text_checked, 0), "%s: the fragment's words were read", q);
                cr_assert(le(u64, qst.text_checked, 3));
                cr_assert(eq(int, qst.text_gave_up, 0));
            } else {
                cr_assert(eq(int, qst.text_gave_up, 1), "%s: %llu docs read, never gave up", q,
                          (unsigned long long)qst.text_checked);
            }
            tdx_docset_free(&want);
            tdx_docset_free(&got);
        }
    }
    for (size_t i = 0; i < N1 + N2; i++)
        free(texts[i]);
}

/*
 * A Latin fragment beside a common phrase, which the walk cannot leave to
 * the text of a few docs: its trigram lists narrow the walk and the docs
 * found are checked in the text ("yzw3", 1 doc in 10); a fragment in every
 * doc gives up on the text at once by the pace of its checks ("xyzw"); a
 * three-letter one is its list ("zw3").  Every answer, whole and limited,
 * equals brute force.
 */
Test(query, fragments_beside_a_common_phrase_are_narrowed_by_their_trigrams, .timeout = 120)
{
    enum { N = 1500 };
    const char *wl = tg_path("watch.tsv");
    tu_write_str(wl, "none\tnone\tzzzzqqqq\n");
    char *texts[N];
    for (size_t i = 0; i < N; i++) {
        char w[128];
        snprintf(w, sizeof w, "常见短语 k%zu 编号 xyzw%zu v%zu%s", i * 13, i % 10, i,
                 i % 97 == 5 ? " 稀有短语" : "");
        texts[i] = strdup(w);
    }
    index_texts(wl, texts, 0, N, 0);
    static const struct {
        const char *phrase, *frag;
        int checks; /* 0: none; 1: some, all through; 2: gave up */
    } cases[] = {
        {"常见短语", "yzw3", 1},
        {"常见短语", "xyzw", 2},
        {"常见短语", "zw3", 0},
        {"稀有短语", "yzw5", 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        char q[64];
        snprintf(q, sizeof q, "\"%s\" AND \"%s\"", cases[c].phrase, cases[c].frag);
        tdx_docset want = {0}, got = {0};
        for (size_t i = 0; i < N; i++)
            if (strstr(texts[i], cases[c].phrase) && strstr(texts[i], cases[c].frag))
                cr_assert(eq(int, tdx_docset_push(&want, (uint32_t)i + 1), 0));
        cr_assert(gt(sz, want.n, 0), "%s: nothing to compare", q);
        static const size_t limits[] = {0, 1, 7, 20};
        for (size_t li = 0; li < 4; li++) {
            tdx_qstats qst;
            char what[96];
            expect_limited(q, limits[li], &want, "", 0, &got, &qst, what, sizeof what);
            cr_assert(qst.streamed, "%s was not walked", what);
            if (limits[li])
                continue;
            if (c < 3)
                cr_assert(gt(u64, qst.trigram_frags, 0), "%s: its words were read", what);
            if (cases[c].checks == 0)
                cr_assert(eq(u64, qst.text_checked, 0), "%s: docs read for an exact list", what);
            else
                cr_assert(gt(u64, qst.text_checked, 0), "%s: no doc checked", what);
            cr_assert(eq(int, qst.text_gave_up, cases[c].checks == 2),
                      "%s: %llu docs checked in the text", what,
                      (unsigned long long)qst.text_checked);
            if (cases[c].checks == 2)
                cr_assert(lt(u64, qst.text_checked, 4 * 256), "%s: the pace went unseen", what);
        }
        tdx_docset_free(&want);
        tdx_docset_free(&got);
    }
    /* One bigram's list, wanted whole, is read as a list; a walk stops at
     * a limit. */
    tdx_docset all = {0}, got = {0};
    for (size_t i = 0; i < N; i++)
        cr_assert(eq(int, tdx_docset_push(&all, (uint32_t)i + 1), 0));
    for (size_t limit = 0; limit < 10; limit += 7) {
        tdx_qstats qst;
        char what[64];
        expect_limited("常见", limit, &all, "", 0, &got, &qst, what, sizeof what);
        cr_assert(eq(int, qst.streamed, limit > 0), "%s: walked %d", what, qst.streamed);
    }
    tdx_docset_free(&all);
    tdx_docset_free(&got);
    for (size_t i = 0; i < N; i++)
        free(texts[i]);
}

/*
 * NEAR of phrases and bigrams decided by positions: texts of a few dense
 * pieces put each operand many times in a document, at every distance and
 * in both orders, overlapping too; every distance from 0 to 8 against
 * brute force over character offsets.
 */
Test(query, near_by_positions_equals_brute_force_at_every_distance, .timeout = 120)
{
    enum { N = 600 };
    static const char *const pieces[] = {"采购", "公告", "项目", "大学", "甲", "乙", "丙"};
    static const char *const ops[] = {"采购",         "公告",         "甲乙",      "购公",
                                      "\"采购公告\"", "\"项目大学\"", "\"丙采购\""};
    uint64_t rs = tu_seed("query/near-positions");
    const char *wl = tg_path("watch.tsv");
    tu_write_str(wl, "none\tnone\tzzzzqqqq\n");
    char *texts[N];
    for (size_t i = 0; i < N; i++) {
        tdx_buf t = TDX_BUF_INIT;
        size_t np = 4 + tg_below(&rs, 40);
        for (size_t k = 0; k < np; k++)
            cr_assert(eq(int, tdx_buf_puts(&t, pieces[tg_below(&rs, 7)]), 0));
        /* No two texts alike (short ones collide): a number after the
         * characters, which leaves their offsets as they are. */
        char no[24];
        snprintf(no, sizeof no, " n%zu", i);
        cr_assert(eq(int, tdx_buf_puts(&t, no), 0));
        texts[i] = (char *)t.p;
    }
    index_texts(wl, texts, 0, N, 0);
    uint64_t decided = 0;
    tdx_docset want = {0}, got = {0};
    for (size_t a = 0; a < 7; a++)
        for (size_t b = 0; b < 7; b++)
            for (unsigned d = 0; d <= 8; d += 1 + (a + b) % 2) {
                /* Operands without quotes, as brute force finds them; every
                 * character is three bytes. */
                char x[16], y[16], q[64];
                snprintf(x, sizeof x, "%s", ops[a] + (ops[a][0] == '"'));
                snprintf(y, sizeof y, "%s", ops[b] + (ops[b][0] == '"'));
                x[strcspn(x, "\"")] = 0;
                y[strcspn(y, "\"")] = 0;
                size_t lx = strlen(x) / 3, ly = strlen(y) / 3;
                want.n = 0;
                for (size_t i = 0; i < N; i++) {
                    const char *t = texts[i];
                    int near = 0;
                    for (const char *p = strstr(t, x); p && !near; p = strstr(p + 3, x))
                        for (const char *r = strstr(t, y); r && !near; r = strstr(r + 3, y)) {
                            long xs = (p - t) / 3, ys = (r - t) / 3;
                            long gap = xs <= ys ? ys - (xs + (long)lx) : xs - (ys + (long)ly);
                            near = gap <= (long)d;
                        }
                    if (near)
                        cr_assert(eq(int, tdx_docset_push(&want, (uint32_t)i + 1), 0));
                }
                snprintf(q, sizeof q, "NEAR(%s, %s, %u)", ops[a], ops[b], d);
                tdx_qstats st;
                run_query(q, 0, &got, &st);
                expect_same(q, &got, &want, 0);
                decided += st.near_positions;
                cr_assert(eq(u64, st.verified, st.near_positions), "%s: %llu docs read", q,
                          (unsigned long long)(st.verified - st.near_positions));
            }
    cr_assert(gt(u64, decided, 1000), "%llu docs decided by positions",
              (unsigned long long)decided);
    tdx_docset_free(&want);
    tdx_docset_free(&got);
    for (size_t i = 0; i < N; i++)
        free(texts[i]);
}

/* Characters of UTF-8 text t before p. */
static long chars_before(const char *t, const char *p)
{
    long n = 0;
    for (; t < p; t++)
        n += ((unsigned char)*t & 0xC0) != 0x80;
    return n;
}

/*
 * NEAR of a phrase and an ASCII fragment that sits inside longer words, at
 * its start, in its middle and at its end: a word's position is where the
 * word starts, so the fragment's occurrences must come from the text.
 * Every distance from 0 to 40 against brute force over character offsets.
 */
Test(query, near_of_a_word_fragment_counts_from_the_fragment)
{
    static const char *const texts[] = {
        "编号1 件商同维 serverfdabdd7adfbef6bdaaea2acecfe2bf 建要",
        "编号2 件商同 2ace 建要",
        "编号3 2acex 件商同 建要",
        "编号4 件商同 xx2ace 建要 yy2aceyy 件商同",
        "编号5 件商同"
        " abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmn2ace",
        "编号6 件商供同 2ace",
    };
    enum { N = sizeof texts / sizeof *texts };
    const char *wl = tg_path("watch.tsv");
    tu_write_str(wl, "none\tnone\tzzzzqqqq\n");
    char *t[N];
    for (size_t i = 0; i < N; i++)
        t[i] = (char *)texts[i];
    index_texts(wl, t, 0, N, 0);
    static const char *const frags[] = {"2ace", "server", "2acecfe2bf", "yy"};
    tdx_docset want = {0}, got = {0};
    for (size_t f = 0; f < sizeof frags / sizeof *frags; f++)
        for (unsigned d = 0; d <= 40; d++) {
            const char *x = "件商同", *y = frags[f];
            long lx = 3, ly = (long)strlen(y);
            want.n = 0;
            for (size_t i = 0; i < N; i++) {
                int near = 0;
                for (const char *p = strstr(t[i], x); p && !near; p = strstr(p + 1, x))
                    for (const char *r = strstr(t[i], y); r && !near; r = strstr(r + 1, y)) {
                        long xs = chars_before(t[i], p), ys = chars_before(t[i], r);
                        near = (xs <= ys ? ys - (xs + lx) : xs - (ys + ly)) <= (long)d;
                    }
                if (near)
                    cr_assert(eq(int, tdx_docset_push(&want, (uint32_t)i + 1), 0));
            }
            char q[64];
            snprintf(q, sizeof q, "NEAR(件商同, %s, %u)", y, d);
            run_query(q, 0, &got, NULL);
            expect_same(q, &got, &want, 0);
        }
    tdx_docset_free(&want);
    tdx_docset_free(&got);
}

/* Words over a six-symbol alphabet between 中, 国, 中国 and spaces: any fragment
 * of three or more symbols is in many words, at their starts, ends and
 * middles. */
static char *trigram_text(uint64_t *r)
{
    tdx_buf t = TDX_BUF_INIT;
    size_t nw = 3 + tu_rand(r) % 25;
    for (size_t w = 0; w < nw; w++) {
        static const char *const sep[] = {" ", "中", "国", "中国"};
        cr_assert(eq(int, tdx_buf_puts(&t, sep[tu_rand(r) % 4]), 0));
        size_t len = 1 + tu_rand(r) % 10;
        for (size_t k = 0; k < len; k++)
            cr_assert(eq(int, tdx_buf_putc(&t, "0123ab"[tu_rand(r) % 6]), 0));
    }
    return (char *)t.p;
}

/* A text of random word bytes, words of 1-40: a trigram a byte or so, so
 * that a batch's bound on them cuts such documents short.  Digits and
 * lower-case letters only, which normalizing leaves as they are (brute
 * force reads the text as written). */
static char *random_word_text(uint64_t *r)
{
    tdx_buf t = TDX_BUF_INIT;
    size_t len = 1000 + tu_rand(r) % 1000;
    while (t.len < len) {
        size_t wl = 1 + tu_rand(r) % 40;
        for (size_t k = 0; k < wl; k++) {
            size_t c = tu_rand(r) % 36;
            cr_assert(eq(int, tdx_buf_putc(&t, TDX_WORD_BYTES[c < 10 ? c : c + 26]), 0));
        }
        cr_assert(eq(int, tdx_buf_putc(&t, ' '), 0));
    }
    return (char *)t.p;
}

/* Documents listed as having their trigrams cut short. */
static size_t trigram_cut_docs(const char *idx)
{
    tdx_store_opts so = {1, 0, 0, 0, 0};
    tdx_store *st = NULL;
    tdx_rtxn *t = NULL;
    tdx_docset d = {0};
    tdx_err err = {0};
    cr_assert(eq(int, tdx_store_open(idx, &so, &st, &err), 0), "%s", err.msg);
    cr_assert(eq(int, tdx_store_read_begin(st, &t, &err), 0), "%s", err.msg);
    cr_assert(eq(int, tdx_store_postings(t, (const uint8_t *)TDX_TRIGRAM_CUT, 1, &d, &err), 0));
    size_t n = d.n;
    tdx_docset_free(&d);
    tdx_store_read_end(t);
    tdx_store_close(st);
    return n;
}

/* Remove meta "trigrams", as an index written before them lacks it. */
static void forget_trigrams(const char *idx)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    cr_assert(eq(int, mdb_env_create(&env), 0));
    cr_assert(eq(int, mdb_env_set_maxdbs(env, 64), 0));
    cr_assert(eq(int, mdb_env_set_mapsize(env, (size_t)1 << 30), 0));
    cr_assert(eq(int, mdb_env_open(env, idx, 0, 0644), 0));
    cr_assert(eq(int, mdb_txn_begin(env, NULL, 0, &txn), 0));
    cr_assert(eq(int, mdb_dbi_open(txn, "meta", 0, &dbi), 0));
    MDB_val k = {8, (void *)"trigrams"};
    cr_assert(eq(int, mdb_del(txn, dbi, &k, NULL), 0));
    cr_assert(eq(int, mdb_txn_commit(txn), 0));
    mdb_env_close(env);
}

/*
 * Latin and digit fragments ("0755" in "10755a") through their trigrams:
 * a lone fragment of two (the trigrams that start or end with it, and the
 * word itself) or more, at a word's start (中0a1), end (0a1国)
 * or whole (中0a1国), counted and with limits, equal brute force; with
 * documents added in segments not yet merged, a third of them random
 * Latin text whose trigrams the batches' bound cuts short (those are
 * checked in their text); then on the index as one
 * written before trigrams (no meta record: the word list answers), and
 * after documents are added to it (they get no trigrams).
 */
Test(query, word_fragments_through_trigrams_equal_brute_force, .timeout = 120)
{
    enum { NQ = 120 };
    static const size_t upto[] = {1500, 2100, 2100, 2400};
    uint64_t seed = tu_seed("query/trigrams"), r = seed;
    const char *wl = tg_path("watch.tsv"), *idx = tg_path("idx");
    tu_write_str(wl, "none\tnone\tzzzzqqqq\n");
    char *texts[2400];
    size_t frag_walks = 0; /* ANDs whose fragment narrowed the walk */
    for (int stage = 0; stage < 4; stage++) {
        size_t from = stage ? upto[stage - 1] : 0, n = upto[stage];
        if (Q) {
            tdx_qctx_close(Q);
            Q = NULL;
        }
        if (stage == 2)
            forget_trigrams(idx);
        if (n > from) {
            const char *in = tg_path("t.jsonl");
            FILE *f = fopen(in, "w");
            cr_assert(f != NULL);
            for (size_t i = from; i < n; i++) {
                texts[i] = stage == 1 && i % 3 == 0 ? random_word_text(&r) : trigram_text(&r);
                fprintf(f, "{\"id\":\"t%zu\",\"text\":\"%s\"}\n", i, texts[i]);
            }
            fclose(f);
            tdx_run_stats st;
            index_file(idx, wl, in, stage == 1 ? IX_REPLACE : 0, &st);
            cr_assert(eq(u64, st.added, n - from));
        }
        if (stage == 1)
            cr_assert(gt(sz, trigram_cut_docs(idx), 0), "no document had its trigrams cut");
        tdx_err err = {0};
        cr_assert(eq(int, tdx_qctx_open(idx, &Q, &err), 0), "%s", err.msg);
        int tri = stage < 2;
        char stage_tag[16];
        snprintf(stage_tag, sizeof stage_tag, " stage %d", stage);
        uint64_t qr = seed ^ 0x7219a;
        for (size_t k = 0; k < NQ; k++) {
            char frag[16], q[80], want_s[64];
            size_t fl = 1 + tu_rand(&qr) % 7;
            for (size_t i = 0; i < fl; i++)
                frag[i] = "0123ab"[tu_rand(&qr) % 6];
            /* Every third query after the random documents came: a piece of
             * a word of one of them, found in few others if any. */
            if (n > upto[0] && k % 3 == 0) {
                const char *src = texts[upto[0] + 3 * (tu_rand(&qr) % ((upto[1] - upto[0]) / 3))];
                size_t at = tu_rand(&qr) % strlen(src), l = 0;
                while (l < 3 + k % 5 && isalnum((unsigned char)src[at + l]))
                    l++;
                memcpy(frag, src + at, l);
                fl = l ? l : 1;
                if (!l)
                    frag[0] = '0';
            }
            frag[fl] = 0;
            unsigned form = (unsigned)(tu_rand(&qr) % 4);
            snprintf(want_s, sizeof want_s, "%s%s%s", form & 1 ? "中" : "", frag,
                     form & 2 ? "国" : "");
            snprintf(q, sizeof q, "\"%s\"", want_s);
            tdx_docset want = {0}, got = {0};
            for (size_t i = 0; i < n; i++)
                if (strstr(texts[i], want_s))
                    cr_assert(eq(int, tdx_docset_push(&want, (uint32_t)i + 1), 0));
            static const size_t limits[] = {0, 1, 7, 20};
            for (size_t li = 0; li < 4; li++) {
                tdx_qstats qst;
                char what[160];
                expect_limited(q, limits[li], &want, stage_tag, seed, &got, &qst, what,
                               sizeof what);
                if (!tri)
                    cr_assert(eq(u64, qst.trigram_frags, 0), "%s: trigrams read", what);
                else if (form == 0 && (fl == 2 || fl == 3) && limits[li] == 0)
                    cr_assert(gt(u64, qst.trigram_frags, 0), "%s: the word list was read", what);
            }
            /* Beside a bigram in most documents, which a walk reads:
             * the fragment narrows it by its trigrams' candidates, whose
             * false ones the text removes. */
            char qa[96];
            snprintf(qa, sizeof qa, "%s AND 中国", q);
            tdx_docset wand = {0};
            for (size_t i = 0; i < n; i++)
                if (strstr(texts[i], want_s) && strstr(texts[i], "中国"))
                    cr_assert(eq(int, tdx_docset_push(&wand, (uint32_t)i + 1), 0));
            for (size_t li = 0; li < 4; li += 3) {
                tdx_qstats qst;
                char what[160];
                expect_limited(qa, limits[li], &wand, stage_tag, seed, &got, &qst, what,
                               sizeof what);
                frag_walks += tri && form == 0 && fl > 3 && qst.trigram_frags && qst.text_checked;
            }
            tdx_docset_free(&wand);
            tdx_docset_free(&want);
            tdx_docset_free(&got);
        }
    }
    cr_assert(gt(sz, frag_walks, 10), "fragments narrowed %zu walks", frag_walks);
    for (size_t i = 0; i < 2400; i++)
        free(texts[i]);
}

Test(query, random_queries_equal_brute_force_over_stored_text, .timeout = 240)
{
    uint64_t seed = tu_seed("query/differential");
    build(seed, 700, 360);
    /* Some NEARs were decided by positions, the rest in the text. */
    cr_expect(gt(u64, differential(seed, 400), 0), "no NEAR was decided by positions");
    substring_limits(seed, 400, 1);
}

Test(query, replaced_documents_are_never_found, .timeout = 120)
{
    uint64_t seed = tu_seed("query/replace");
    build(seed, 150, 300);
    /* Every fifth document again under its key, with new text. */
    uint64_t rs = seed ^ 0x7e91ace;
    size_t n0 = C.ndocs, nrep = n0 / 5;
    C.docs = realloc(C.docs, (n0 + nrep) * sizeof *C.docs);
    deleted = calloc(n0 + nrep, 1);
    for (size_t k = 0; k < nrep; k++) {
        const tg_doc *old = &C.docs[5 * k];
        tg_doc *d = &C.docs[n0 + k];
        memset(d, 0, sizeof *d);
        d->key = tg_strdup(old->key);
        d->title = old->title ? tg_strdup(old->title) : NULL;
        d->date = old->date ? tg_strdup(old->date) : NULL;
        d->ymd = old->ymd;
        for (int m = 0; m < old->nmeta; m++) {
            d->meta[m] = old->meta[m];
            d->meta[m].key = tg_strdup(old->meta[m].key);
            d->meta[m].val = tg_strdup(old->meta[m].val);
        }
        d->nmeta = old->nmeta;
        tdx_buf b = TDX_BUF_INIT;
        tg_text(&C, &b, &rs, 300, 1000 + k);
        d->len = b.len;
        d->text = (char *)tdx_buf_steal(&b, NULL);
        deleted[5 * k] = 1;
    }
    C.ndocs = n0 + nrep;
    const char *in = tg_path("again.jsonl");
    const char *wl = tg_path("watch.tsv");
    const char *idx = tg_path("idx");
    tg_write_jsonl(&C, in, n0, C.ndocs);
    tdx_qctx_close(Q);
    Q = NULL;
    tdx_run_stats st;
    index_file(idx, wl, in, IX_REPLACE, &st);
    cr_assert(eq(u64, st.replaced, nrep));
    tdx_err err = {0};
    cr_assert(eq(int, tdx_qctx_open(idx, &Q, &err), 0), "%s", err.msg);
    oracle_reset();
    oracle_load();
    differential(seed, 150);
    substring_limits(seed, 150, 0);
}

Test(query, regexes_whose_required_text_is_hard_to_see_find_every_match)
{
    uint64_t seed = tu_seed("query/regex");
    build(seed, 200, 300);
    /* Escapes, counted repetitions and optional characters around the
     * literal text a regex needs: candidates from the gram index must not
     * lose a document that matches. */
    static const char *const res[] = {
        "\\d{3}",          "\\d{2}0",       "h\\d{2}",     "\\x68\\x31\\x30",
        "\\x{6df1}圳",     "\\p{Han}{2}学", "深圳?大",     "gp?u",
        "ab?c|gpu",        "\\x41\\d",      "\\p{Han}\\d", "[0-9]{2}a",
        "server[s]?\\s?r", "编号\\d{2}",    "h[18]0{2}",
    };
    tdx_docset got = {0}, want = {0};
    size_t found = 0;
    for (size_t i = 0; i < sizeof res / sizeof *res; i++) {
        qn *n = regex_leaf(res[i]);
        bf_answer(n, &want);
        run_query(n->text, 0, &got, NULL);
        expect_same(n->text, &got, &want, seed);
        found += got.n > 0;
        qn_free(n);
    }
    cr_expect(found > 10, "only %zu of the regexes match anything", found);
    /* Branches, classes and \d expand to the strings a match needs: the
     * candidates are the documents holding them (fewer than all), and a
     * branch that needs no text leaves every document to the regex. */
    static const struct {
        const char *re;
        int narrowed;
    } alts[] = {
        {"h[18]00", 1},
        {"a100|h100", 1},
        {"[ah]100", 1},
        {"h\\d00", 1},
        {"gpu|深圳", 1},
        {"H100", 1},
        {"h[18]{2}0", 1},
        {"[ah]1\\d0|h100", 1},
        {"h[1-8]00|gpu", 1},
        {"[a-c1]00", 1},
        {"h[18]0?0", 1},
        {"gpu|\\d", 0},
        {"\\d{2}00|深圳?大学", 1},
        {"g?p?u|gpu", 0},
    };
    size_t live = C.ndocs;
    found = 0;
    for (size_t i = 0; i < sizeof alts / sizeof *alts; i++) {
        qn *n = regex_leaf(alts[i].re);
        bf_answer(n, &want);
        tdx_qstats st;
        run_query(n->text, 0, &got, &st);
        expect_same(n->text, &got, &want, seed);
        found += got.n > 0;
        if (alts[i].narrowed)
            cr_expect(lt(u64, st.verified, live), "%s: every document read", n->text);
        else
            cr_expect(eq(u64, st.verified, live), "%s: candidates without a string", n->text);
        qn_free(n);
    }
    cr_expect(found > 8, "only %zu of the branched regexes match anything", found);
    /* Groups of plain branches expand too (the brute-force matcher has no
     * groups: each equals a regex it can check). */
    static const char *const groups[][2] = {
        {"(a|h)100", "a100|h100"},
        {"h(1|8)00", "h100|h800"},
        {"(?:gpu|深圳)", "gpu|深圳"},
        {"(gpu|深圳)?大学", "大学"},
    };
    for (size_t i = 0; i < sizeof groups / sizeof *groups; i++) {
        qn *n = regex_leaf(groups[i][1]);
        bf_answer(n, &want);
        char text[64];
        snprintf(text, sizeof text, "/%s/", groups[i][0]);
        tdx_qstats st;
        run_query(text, 0, &got, &st);
        expect_same(text, &got, &want, seed);
        cr_expect(lt(u64, st.verified, live), "%s: every document read", text);
        qn_free(n);
    }
    tdx_docset_free(&got);
    tdx_docset_free(&want);
}

static void on_regex(void *ctx, const char *regex, const char *needs)
{
    (void)regex;
    snprintf(ctx, 256, "%s", needs ? needs : "(every document)");
}

/* What each regex's candidates must hold, as `query --explain` says it. */
Test(query, regex_candidates_are_explained)
{
    build(tu_seed("query/regex-explain"), 20, 100);
    static const char *const cases[][2] = {
        {"/h[18]00/", "h100 | h800"},
        {"/H100/", "h100"},
        {"/nvidia.{0,20}(a|h)100/", "nvidia + (a100 | h100)"},
        {"/gpu+s|[深浅]圳?大学/", "gpu | ((深 | 浅) + 大学)"},
        {"/ab?c|gpu/", "(every document)"},
        {"/\\d+号/", "0号 | 1号 | 2号 | 3号 | 4号 | 5号 | 6号 | 7号 | 8号 | 9号"},
        {"/x{2}yz/", "xyz"},
        {"/a[0-9]+bc/", "0bc | 1bc | 2bc | 3bc | 4bc | 5bc | 6bc | 7bc | 8bc | 9bc"},
        {"/(?i)h100|(?:ab|cd)ef/", "h100 | abef | cdef"},
        {"/h1\\s/", "h1"},
        {"/[a-c]{2}/", "(every document)"},
        {"/(?x) h 1 0 0/", "(every document)"},
        {"/\\Q[ab]100\\E/", "(every document)"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        tdx_query *query = NULL;
        tdx_err err = {0};
        cr_assert(eq(int, tdx_query_parse(Q, cases[i][0], &query, NULL, &err), 0), "%s: %s",
                  cases[i][0], err.msg);
        char got[256] = "";
        cr_assert(eq(int, tdx_query_regexes(query, on_regex, got), 0));
        cr_expect(eq(str, got, (char *)cases[i][1]), "%s", cases[i][0]);
        tdx_query_free(query);
    }
}

Test(query, an_entity_only_index_answers_every_query_from_the_text, .timeout = 120)
{
    uint64_t seed = tu_seed("query/no-grams");
    build_with(seed, 200, 300, IX_NO_GRAMS);
    static const char *const scans[] = {"gpu", "entity:H100 OR 深圳", "NOT /h[18]00/",
                                        "NEAR(gpu, cat:chip, 5)"};
    static const char *const exact[] = {"entity:H100", "cat:chip date:2020..", "buyer:深圳大学"};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < (k ? 3 : 4); i++) {
            const char *text = k ? exact[i] : scans[i];
            tdx_query *query;
            tdx_err err = {0};
            cr_assert(eq(int, tdx_query_parse(Q, text, &query, NULL, &err), 0), "%s", err.msg);
            cr_expect(eq(int, tdx_query_scans_all(Q, query), !k), "[%s]", text);
            tdx_query_free(query);
        }
    differential(seed, 120);
}

/* ---- facets ------------------------------------------------------------------- */

typedef struct fcount {
    char *value;
    uint64_t count;
} fcount;

static int cmp_fcount(const void *a, const void *b)
{
    const fcount *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->value, y->value);
}

/* Time facets come in time order, "unknown" last (query.h). */
static int cmp_ftime(const void *a, const void *b)
{
    const fcount *x = a, *y = b;
    int ux = strcmp(x->value, "unknown") == 0, uy = strcmp(y->value, "unknown") == 0;
    if (ux != uy)
        return ux - uy;
    return strcmp(x->value, y->value);
}

static void fc_add(fcount **v, size_t *n, const char *val)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp((*v)[i].value, val) == 0) {
            (*v)[i].count++;
            return;
        }
    *v = realloc(*v, (*n + 1) * sizeof **v);
    (*v)[*n].value = tg_strdup(val);
    (*v)[*n].count = 1;
    (*n)++;
}

static void bf_facet(const tdx_docset *docs, const char *by, fcount **v, size_t *n)
{
    *v = NULL;
    *n = 0;
    for (size_t i = 0; i < docs->n; i++) {
        size_t di = docs->v[i] - 1;
        const tg_doc *g = &C.docs[di];
        char s[32];
        if (strcmp(by, "entity") == 0 || strcmp(by, "cat") == 0) {
            int ent = by[0] == 'e';
            size_t ng = ent ? nents : ncats;
            uint8_t *seen = calloc(ng, 1);
            for (size_t h = 0; h < O[di].nhits; h++) {
                const opat *p = &OP[O[di].hits[h].pat];
                uint32_t gid = ent ? p->entity : p->category;
                if (!seen[gid]) {
                    seen[gid] = 1;
                    fc_add(v, n, ent ? ents[gid] : cats[gid]);
                }
            }
            free(seen);
        } else if (strcmp(by, "year") == 0 || strcmp(by, "month") == 0 || strcmp(by, "day") == 0) {
            if (g->ymd == 0)
                snprintf(s, sizeof s, "unknown");
            else if (by[0] == 'y')
                snprintf(s, sizeof s, "%04u", g->ymd / 10000);
            else if (by[0] == 'm')
                snprintf(s, sizeof s, "%04u-%02u", g->ymd / 10000, g->ymd / 100 % 100);
            else
                snprintf(s, sizeof s, "%04u-%02u-%02u", g->ymd / 10000, g->ymd / 100 % 100,
                         g->ymd % 100);
            fc_add(v, n, s);
        } else {
            const tg_meta *m = meta_of(g, by);
            fc_add(v, n, m ? m->val : "(none)");
        }
    }
    int by_time = strcmp(by, "year") == 0 || strcmp(by, "month") == 0 || strcmp(by, "day") == 0;
    if (*n)
        qsort(*v, *n, sizeof **v, by_time ? cmp_ftime : cmp_fcount);
}

static void check_facets(const char *query, const tdx_docset *docs, uint64_t seed)
{
    static const char *const bys[] = {"entity", "cat",  "year",   "month", "day",
                                      "buyer",  "kind", "amount", "format"};
    for (size_t b = 0; b < sizeof bys / sizeof *bys; b++) {
        tdx_facet *f = NULL;
        size_t nf = 0;
        tdx_err err = {0};
        cr_assert(eq(int, tdx_query_facet(Q, docs, bys[b], &f, &nf, &err), 0), "%s", err.msg);
        fcount *w;
        size_t nw;
        bf_facet(docs, bys[b], &w, &nw);
        cr_assert(eq(sz, nf, nw), "seed %llu: [%s] --facet %s: %zu values, brute force %zu",
                  (unsigned long long)seed, query, bys[b], nf, nw);
        for (size_t i = 0; i < nf; i++) {
            cr_assert(eq(str, f[i].value, w[i].value), "seed %llu: [%s] --facet %s, row %zu",
                      (unsigned long long)seed, query, bys[b], i);
            cr_assert(eq(u64, f[i].count, w[i].count), "seed %llu: [%s] --facet %s '%s'",
                      (unsigned long long)seed, query, bys[b], w[i].value);
        }
        for (size_t i = 0; i < nw; i++)
            free(w[i].value);
        free(w);
        tdx_facets_free(f, nf);
    }
}

Test(query, facets_equal_brute_force_counts, .timeout = 120)
{
    uint64_t seed = tu_seed("query/facets");
    build(seed, 1200, 200);
    /* The whole index (counted from postings), then smaller answers (from hits). */
    static const char *const fixed[] = {"NOT zzzzqqqq", "cat:chip", "gpu OR entity:深圳大学",
                                        "date:2021..2022", "buyer:深圳大学"};
    tdx_docset d = {0};
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        run_query(fixed[i], 0, &d, NULL);
        check_facets(fixed[i], &d, seed);
    }
    uint64_t rs = seed ^ 0xface;
    for (int i = 0; i < 25; i++) {
        qn *n = gen_tree(&rs, 2);
        tdx_buf b = TDX_BUF_INIT;
        write_query(&b, &rs, n, 1);
        run_query((const char *)b.p, 0, &d, NULL);
        check_facets((const char *)b.p, &d, seed);
        tdx_buf_free(&b);
        qn_free(n);
    }
    tdx_docset_free(&d);
}

/* ---- highlights ---------------------------------------------------------------- */

/* Positive leaves (not under an odd number of NOTs), NEAR arguments included. */
static void positive_leaves(const qn *n, int negated, const qn **out, size_t *k)
{
    if (n->kind == Q_NOT) {
        positive_leaves(n->k[0], !negated, out, k);
    } else if (n->nk) {
        for (int i = 0; i < n->nk; i++)
            positive_leaves(n->k[i], negated, out, k);
    } else if (!negated && n->kind != Q_DATE && n->kind != Q_FIELD && *k < 32) {
        out[(*k)++] = n;
    }
}

/* Does some occurrence of leaf n lie inside normalized text t? */
static int leaf_in(const qn *n, const char *t, size_t len)
{
    if (n->kind == Q_SUB)
        return memmem(t, len, n->sub, n->sublen) != NULL;
    if (n->kind == Q_REGEX)
        return rx_search(&n->re, (const uint8_t *)t, len);
    for (size_t p = 0; p < C.npats; p++)
        if (n->sel[p] && (C.pats[p].regex ? rx_search(&OP[p].re, (const uint8_t *)t, len)
                                          : memmem(t, len, OP[p].norm, OP[p].nlen) != NULL))
            return 1;
    return 0;
}

static int cmp_span(const void *a, const void *b)
{
    const span *x = a, *y = b;
    return x->s != y->s ? (x->s < y->s ? -1 : 1) : (x->e < y->e ? -1 : x->e > y->e);
}

static size_t identity_checked;

static void check_highlights(const qn *n, const char *text, uint64_t seed)
{
    tdx_query *query;
    tdx_err err = {0};
    cr_assert(eq(int, tdx_query_parse(Q, text, &query, NULL, &err), 0), "[%s] %s", text, err.msg);
    tdx_docset docs = {0};
    cr_assert(eq(int, tdx_query_run(Q, query, 0, &docs, NULL, &err), 0), "%s", err.msg);
    const qn *leaves[32];
    size_t nl = 0;
    positive_leaves(n, 0, leaves, &nl);
    tdx_span32 *sp = NULL;
    size_t ns = 0, cap = 0;
    for (size_t i = 0; i < docs.n; i++) {
        uint32_t id = docs.v[i];
        const tg_doc *g = &C.docs[id - 1];
        cr_assert(eq(int, tdx_query_highlights(Q, query, id, &sp, &ns, &cap, &err), 0), "%s",
                  err.msg);
        for (size_t k = 0; k < ns; k++) {
            cr_assert(sp[k].start < sp[k].end && sp[k].end <= g->len,
                      "seed %llu: [%s] doc %u: span %u-%u", (unsigned long long)seed, text, id,
                      sp[k].start, sp[k].end);
            cr_assert(k == 0 || sp[k - 1].end < sp[k].start, "spans are sorted and merged");
            size_t l;
            char *t = nstr(g->text + sp[k].start, sp[k].end - sp[k].start, &l);
            int found = 0;
            for (size_t j = 0; j < nl && !found; j++)
                found = leaf_in(leaves[j], t, l);
            cr_assert(found, "seed %llu: [%s] doc %u: highlight %u-%u ('%s') holds no term",
                      (unsigned long long)seed, text, id, sp[k].start, sp[k].end, t);
            free(t);
        }
        /* Where the text normalizes to itself, offsets are exact: the spans are
         * the merged occurrences of the positive terms. */
        if (g->identity) {
            identity_checked += ns > 0;
            span *all = NULL;
            size_t na = 0;
            for (size_t j = 0; j < nl; j++) {
                span *o;
                size_t no = occurrences(leaves[j], &O[id - 1], &o);
                all = realloc(all, (na + no + 1) * sizeof *all);
                memcpy(all + na, o, no * sizeof *o);
                na += no;
                free(o);
            }
            if (na)
                qsort(all, na, sizeof *all, cmp_span);
            size_t w = 0;
            for (size_t k = 0; k < na; k++) {
                if (w && all[k].s <= all[w - 1].e) {
                    if (all[k].e > all[w - 1].e)
                        all[w - 1].e = all[k].e;
                } else {
                    all[w++] = all[k];
                }
            }
            cr_assert(eq(sz, ns, w), "seed %llu: [%s] doc %u: %zu spans, %zu expected",
                      (unsigned long long)seed, text, id, ns, w);
            for (size_t k = 0; k < w; k++)
                cr_assert(sp[k].start == all[k].s && sp[k].end == all[k].e,
                          "seed %llu: [%s] doc %u: span %zu is %u-%u, expected %u-%u",
                          (unsigned long long)seed, text, id, k, sp[k].start, sp[k].end, all[k].s,
                          all[k].e);
            free(all);
        }
    }
    tdx_free(sp);
    tdx_docset_free(&docs);
    tdx_query_free(query);
}

static qn *sub_leaf(const char *v)
{
    qn *n = qn_new(Q_SUB);
    n->sub = nstr(v, strlen(v), &n->sublen);
    n->text = word_or_quoted("", v);
    return n;
}

static qn *regex_leaf(const char *re)
{
    qn *n = qn_new(Q_REGEX);
    cr_assert(eq(int, rx_parse(re, &n->re), 0));
    n->text = tg_printf("/%s/", re);
    return n;
}

static qn *op(int kind, qn *a, qn *b)
{
    qn *n = qn_new(kind);
    n->k[n->nk++] = a;
    if (b)
        n->k[n->nk++] = b;
    if (kind == Q_NEAR) {
        n->near = 3;
        n->text = tg_printf("NEAR(%s, %s, %u)", a->text, b->text, n->near);
    }
    return n;
}

Test(query, highlights_cover_the_matched_original_bytes, .timeout = 120)
{
    uint64_t seed = tu_seed("query/highlights");
    build(seed, 300, 300);
    uint64_t rs = seed ^ 0x4417;
    /* Terms of the texts that normalize to themselves, whose offsets are exact. */
    qn *fixed[] = {
        sub_leaf("gpu"),
        sub_leaf("ud h"),
        named_leaf(Q_ENT, "entity:", "H100"),
        named_leaf(Q_CAT, "cat:", "cloud"),
        named_leaf(Q_PAT, "pattern:", "azure\\s?stack"),
        regex_leaf("h[18]00"),
        regex_leaf("a\\d|rv"),
        op(Q_NEAR, sub_leaf("gpu"), named_leaf(Q_ENT, "entity:", "AWS")),
        op(Q_OR, sub_leaf("aws"), named_leaf(Q_PAT, "alias:", "THU")),
        op(Q_AND, sub_leaf("rack"), op(Q_NOT, sub_leaf("nvidia"), NULL)),
    };
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++) {
        tdx_buf b = TDX_BUF_INIT;
        write_query(&b, &rs, fixed[i], 1);
        check_highlights(fixed[i], (const char *)b.p, seed);
        tdx_buf_free(&b);
        qn_free(fixed[i]);
    }
    for (int i = 0; i < 60; i++) {
        qn *n = gen_tree(&rs, (int)tg_below(&rs, 3));
        tdx_buf b = TDX_BUF_INIT;
        write_query(&b, &rs, n, 1);
        check_highlights(n, (const char *)b.p, seed);
        tdx_buf_free(&b);
        qn_free(n);
    }
    cr_expect(identity_checked > 20, "only %zu exact highlight checks", identity_checked);
}

/* ---- out of memory --------------------------------------------------------------- */

/* Parse, run, facet and highlight one query; the first error is returned. */
static int query_work(const char *text, tdx_err *err)
{
    tdx_query *query = NULL;
    tdx_docset docs = {0};
    tdx_facet *f = NULL;
    size_t nf = 0, ns = 0, cap = 0;
    tdx_span32 *sp = NULL;
    int rc = tdx_query_parse(Q, text, &query, NULL, err);
    if (rc == 0)
        rc = tdx_query_run(Q, query, 0, &docs, NULL, err);
    if (rc == 0)
        rc = tdx_query_facet(Q, &docs, "entity", &f, &nf, err);
    tdx_facets_free(f, nf);
    f = NULL;
    if (rc == 0)
        rc = tdx_query_facet(Q, &docs, "buyer", &f, &nf, err);
    tdx_facets_free(f, nf);
    for (size_t i = 0; rc == 0 && i < docs.n && i < 3; i++)
        rc = tdx_query_highlights(Q, query, docs.v[i], &sp, &ns, &cap, err);
    tdx_free(sp);
    tdx_docset_free(&docs);
    tdx_query_free(query);
    return rc;
}

Test(query, out_of_memory_at_any_allocation_fails_cleanly, .timeout = 120)
{
    build(tu_seed("query/oom"), 60, 300);
    const char *text = "(entity:深圳大学 OR gpu OR \"Web Services\") NOT NEAR(server, cat:chip, 5) "
                       "/h[18]00|rack/ OR buyer:深圳大学 date:2020.. OR 数据中心 OR gp "
                       "OR NEAR(数据, 中心, 3)";
    /* Warm up: the context loads its tables and grows its buffers once. */
    tdx_err err = {0};
    cr_assert(eq(int, query_work(text, &err), 0), "%s", err.msg);
    size_t before = tg_live_bytes();
    int rc = TDX_ENOMEM;
    long n;
    for (n = 0; n < 100000 && rc == TDX_ENOMEM; n++) {
        memset(&err, 0, sizeof err);
        tdx_alloc_fail_after(n);
        rc = query_work(text, &err);
        tdx_alloc_fail_after(-1);
        if (rc) {
            cr_assert(eq(int, rc, TDX_ENOMEM), "allocation %ld: %d %s", n, rc, err.msg);
            cr_assert(eq(int, err.code, TDX_ENOMEM), "allocation %ld: %s", n, err.msg);
            cr_assert(eq(sz, tg_live_bytes(), before), "allocation %ld leaks", n);
        }
    }
    cr_assert(eq(int, rc, 0), "%s", err.msg);
    cr_assert(gt(long, n, 20), "the loop reached the allocations");
    cr_assert(eq(sz, tg_live_bytes(), before));
}

Test(query, out_of_memory_while_loading_tables_leaves_the_context_usable, .timeout = 120)
{
    build(tu_seed("query/oom-cold"), 60, 300);
    /* A name that resolves through the normalized entity names, dates,
     * a negation (all live documents) and a regex: every lazy table. */
    const char *text = "entity:ＮＶＩＤＩＡ OR (gpu date:2020..) NOT /h[18]00/";
    tdx_docset want = {0}, got = {0};
    tdx_qctx *fresh;
    tdx_err err = {0};
    cr_assert(eq(int, tdx_qctx_open(tg_path("idx"), &fresh, &err), 0), "%s", err.msg);
    tdx_qctx *keep = Q;
    Q = fresh;
    run_query(text, 0, &want, NULL);
    Q = keep;
    tdx_qctx_close(fresh);
    /* Allocation n fails on a context that has loaded nothing yet; it keeps
     * what earlier iterations loaded. */
    int rc = TDX_ENOMEM;
    long n;
    for (n = 0; n < 100000 && rc == TDX_ENOMEM; n++) {
        memset(&err, 0, sizeof err);
        tdx_alloc_fail_after(n);
        rc = query_work(text, &err);
        tdx_alloc_fail_after(-1);
        cr_assert(rc == 0 || rc == TDX_ENOMEM, "allocation %ld: %d %s", n, rc, err.msg);
    }
    cr_assert(eq(int, rc, 0), "%s", err.msg);
    run_query(text, 0, &got, NULL);
    expect_same(text, &got, &want, 0);
    tdx_docset_free(&want);
    tdx_docset_free(&got);
}

/* ---- phrases over a tiny alphabet: near misses everywhere ------------------------ */

/*
 * Documents written with four characters only, so every bigram occurs many
 * times in a document and most phrases have near misses (their bigrams
 * present, one position off).  Substrings of 2 to 9 characters, drawn at
 * random, alone and two ANDed (operands that share bigrams), must find
 * exactly the documents holding them, counted and with a limit, with the
 * postings merged and with some of them still in segments, in both formats
 * (format 3's lookups start at a checkpoint inside a block).
 */
static void tiny_alphabet(int flags)
{
    static const char *const alpha[] = {"甲", "乙", "丙", "丁"};
    uint64_t seed = tu_seed("query tiny alphabet"), st = seed;
    enum { NDOCS = 300 };
    char *texts[NDOCS];
    FILE *f = fopen(tg_path("tiny.jsonl"), "w");
    cr_assert(f != NULL);
    for (int i = 0; i < NDOCS; i++) {
        size_t n = 20 + tu_rand(&st) % 300;
        texts[i] = malloc(n * 3 + 1);
        size_t l = 0;
        /* Runs of one or two characters make repeats and near misses. */
        unsigned mode = (unsigned)(tu_rand(&st) % 3);
        for (size_t k = 0; k < n; k++) {
            unsigned c = mode == 0   ? (unsigned)(tu_rand(&st) % 4)
                         : mode == 1 ? (unsigned)(tu_rand(&st) % 2)
                                     : (unsigned)((k / (1 + tu_rand(&st) % 3)) % 4);
            memcpy(texts[i] + l, alpha[c], 3);
            l += 3;
        }
        texts[i][l] = '\0';
        fprintf(f, "{\"id\":\"t%d\",\"text\":\"%s\"}\n", i, texts[i]);
    }
    fclose(f);
    tu_write_str(tg_path("tiny.tsv"), "none\tnone\tzzzzqqqq\n");
    tdx_run_stats rs;
    index_file(tg_path("tiny.idx"), tg_path("tiny.tsv"), tg_path("tiny.jsonl"), flags, &rs);
    cr_assert(eq(u64, rs.added, NDOCS));
    tdx_err err = {0};
    cr_assert(eq(int, tdx_qctx_open(tg_path("tiny.idx"), &Q, &err), 0), "%s", err.msg);
    for (int round = 0; round < 300; round++) {
        /* A phrase, and the AND of two: their operands share bigrams. */
        char needle[2][32], q[96];
        for (int w = 0; w < 2; w++) {
            size_t len = 2 + tu_rand(&st) % 8, l = 0;
            unsigned two = (unsigned)(tu_rand(&st) % 2);
            for (size_t k = 0; k < len; k++) {
                memcpy(needle[w] + l, alpha[two ? tu_rand(&st) % 2 : tu_rand(&st) % 4], 3);
                l += 3;
            }
            needle[w][l] = '\0';
        }
        for (int both = 0; both < 2; both++) {
            if (both)
                snprintf(q, sizeof q, "\"%s\" AND \"%s\"", needle[0], needle[1]);
            else
                snprintf(q, sizeof q, "\"%s\"", needle[0]);
            tdx_docset want = {0};
            for (int i = 0; i < NDOCS; i++)
                if (strstr(texts[i], needle[0]) && (!both || strstr(texts[i], needle[1])))
                    tdx_docset_push(&want, (uint32_t)i + 1);
            for (int limited = 0; limited < 2; limited++) {
                tdx_query *query;
                size_t col;
                tdx_docset got = {0};
                cr_assert(eq(int, tdx_query_parse(Q, q, &query, &col, &err), 0), "%s", err.msg);
                size_t limit = limited ? 5 : 0;
                cr_assert(eq(int, tdx_query_run(Q, query, limit, &got, NULL, &err), 0), "%s",
                          err.msg);
                tdx_query_free(query);
                size_t n = limited && want.n > limit ? limit : want.n;
                cr_assert(eq(sz, got.n, n), "%s (limit %zu): %zu docs, brute force %zu (seed %llu)",
                          q, limit, got.n, want.n, (unsigned long long)seed);
                for (size_t k = 0; k < n; k++)
                    cr_assert(eq(u32, got.v[k], want.v[k]), "%s: doc %zu (seed %llu)", q, k,
                              (unsigned long long)seed);
                tdx_docset_free(&got);
            }
            tdx_docset_free(&want);
        }
    }
    for (int i = 0; i < NDOCS; i++)
        free(texts[i]);
}

Test(query, phrases_over_a_tiny_alphabet_equal_brute_force, .timeout = 120)
{
    tiny_alphabet(0);
}

Test(query, phrases_over_a_tiny_alphabet_equal_brute_force_in_segments, .timeout = 120)
{
    tiny_alphabet(IX_REPLACE);
}

/* The same in an index of format 2, which has no checkpoints to start from. */
Test(query, phrases_over_a_tiny_alphabet_equal_brute_force_in_format_2, .timeout = 120)
{
    tiny_alphabet(IX_FORMAT2);
}
