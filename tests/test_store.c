/*
 * test_store.c - the LMDB index (store/): everything written is read back
 * and compared with an in-test model of the index (doc ids, keys, content
 * hashes, tombstones, counts, and a term -> doc ids map built from the
 * batches' postings); dedupe and replace; merge and batch-boundary
 * independence of the dump; map growth; snapshots; damaged values written
 * straight into the LMDB environment; schema checks; error paths.
 */
#include "tassert.h"
#include <errno.h>
#include <jemalloc/jemalloc.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/hash.h"
#include "common/varint.h"
#include "index/index.h"
#include "store/hashset.h"
#include "store/store.h"
#include "testutil.h"

static void setup(void)
{
    tu_tmpdir();
}

static void teardown(void)
{
    tu_tmpdir_remove();
}

TestSuite(store, .init = setup, .fini = teardown);

/* ---- the schema every test index is set up with ---------------------------------- */

#define NPAT 6
#define NENT 3
#define NCAT 2

static const tdx_store_pattern patterns[NPAT] = {
    {0, 0, 0, 1, "深圳大学", "深圳大学"}, {0, 0, 0, 2, "深圳大學", "深圳大学"},
    {1, 1, 1, 3, "A100", "a100"},         {1, 1, 2, 4, "/h[0-9]+/", "h[0-9]+"},
    {2, 0, 0, 5, "招标", "招标"},         {2, 0, 0, 6, "tab\there", "tab\there"},
};
static const char *const entities[NENT] = {"深圳大学", "NVIDIA A100", "招标\\公司"};
static const uint32_t entity_category[NENT] = {0, 1, 0};
static const char *const categories[NCAT] = {"university", "chip\nmodel"};

static tdx_store_schema schema(void)
{
    tdx_store_schema s = {"test-normalizer 1", 7,        1,          0x0123456789abcdefULL,
                          "/lists/watch.tsv",  patterns, NPAT,       entities,
                          entity_category,     NENT,     categories, NCAT};
    return s;
}

/* The format of the indexes a test creates: 0 (the current one) or 2. */
static int new_format;

static tdx_store *open_store(const char *dir, int readonly, size_t map_size)
{
    tdx_store_opts o = {readonly, !readonly, map_size, 0, new_format};
    tdx_store *s = NULL;
    tdx_err err = {0};
    int rc = tdx_store_open(dir, &o, &s, &err);
    cr_assert(eq(int, rc, 0), "open '%s': %s", dir, err.msg);
    return s;
}

static tdx_store *new_index(const char *dir)
{
    tdx_store *s = open_store(dir, 0, 0);
    tdx_store_schema sc = schema();
    tdx_err err = {0};
    cr_assert(eq(int, tdx_store_setup(s, &sc, &err), 0), "%s", err.msg);
    return s;
}

/* ---- documents --------------------------------------------------------------------- */

typedef struct sdoc {
    char key[600];
    char source[64], title[64], url[64], date[16];
    const char *format, *encoding;
    uint64_t line, offset, invalid;
    uint32_t date_ymd;
    char *text; /* owned, valid UTF-8 */
    size_t text_len;
    uint64_t hash[2];
    char mk[3][16], mv[3][32];
    tdx_store_kv meta[3];
    size_t nmeta;
    tdx_store_hit hits[6];
    size_t nhits;
} sdoc;

static size_t rnd(uint64_t *r, size_t n)
{
    return (size_t)(tu_rand(r) % n);
}

static void gen_text(uint64_t *r, char *out, size_t cap, size_t ntok)
{
    static const char *const cjk[] = {"中", "国", "大", "学", "采", "购"};
    static const char *const words[] = {"a", "ab", "abc", "h100", "a100", "x", "bcd", "zz"};
    size_t len = 0;
    out[0] = 0;
    for (size_t k = 0; k < ntok; k++) {
        const char *t = rnd(r, 2) ? cjk[rnd(r, 6)] : words[rnd(r, 8)];
        const char *sep = rnd(r, 3) ? "" : " ";
        if (len + strlen(t) + 2 >= cap)
            break;
        len += (size_t)snprintf(out + len, cap - len, "%s%s", t, sep);
    }
}

/* Content from the text: the same text always gives the same hash. */
static void set_text(sdoc *d, const char *text)
{
    free(d->text);
    d->text = strdup(text);
    d->text_len = strlen(text);
    tdx_hash128(d->text, d->text_len, d->hash);
    /* Hits: sorted by (nstart, nend, pattern), offsets inside the text; the
     * original offsets grow with the normalized ones, as the normalizer's
     * offset map does. */
    d->nhits = d->text_len ? (size_t)(d->hash[1] % 4) : 0;
    uint32_t at = 0;
    for (size_t i = 0; i < d->nhits; i++) {
        tdx_store_hit *h = &d->hits[i];
        uint64_t x = d->hash[0] >> (i * 8);
        at += (uint32_t)(x % 3);
        if (at > d->text_len)
            at = (uint32_t)d->text_len;
        h->pattern = (uint32_t)((x >> 3) % NPAT);
        h->nstart = at;
        h->nend = at + (uint32_t)((x >> 6) % 3);
        if (h->nend > d->text_len)
            h->nend = (uint32_t)d->text_len;
        h->ostart = h->nstart * 3 / 4;
        h->oend = h->nend * 3 / 4;
    }
    for (size_t i = 1; i < d->nhits; i++)
        for (size_t j = i; j > 0; j--) {
            tdx_store_hit *a = &d->hits[j - 1], *b = &d->hits[j];
            if (a->nstart < b->nstart || (a->nstart == b->nstart && a->nend < b->nend) ||
                (a->nstart == b->nstart && a->nend == b->nend && a->pattern <= b->pattern))
                break;
            tdx_store_hit t = *a;
            *a = *b;
            *b = t;
        }
}

static void gen_doc(sdoc *d, uint64_t *r, const char *key, const char *text)
{
    memset(d, 0, sizeof *d);
    snprintf(d->key, sizeof d->key, "%s", key);
    snprintf(d->source, sizeof d->source, "in/file%zu.jsonl", rnd(r, 4));
    snprintf(d->title, sizeof d->title, "标题 %zu\t\"x\"", rnd(r, 1000));
    snprintf(d->url, sizeof d->url, "https://example.org/%zu", rnd(r, 1000));
    if (rnd(r, 3)) {
        d->date_ymd = 20230101 + (uint32_t)rnd(r, 12) * 100 + (uint32_t)rnd(r, 28);
        snprintf(d->date, sizeof d->date, "%u", d->date_ymd);
    }
    d->format = rnd(r, 2) ? "jsonl" : NULL;
    d->encoding = "utf-8";
    d->line = rnd(r, 100000);
    d->offset = tu_rand(r) >> 20;
    d->invalid = rnd(r, 5) ? 0 : rnd(r, 9);
    d->nmeta = rnd(r, 4);
    for (size_t i = 0; i < d->nmeta; i++) {
        snprintf(d->mk[i], sizeof d->mk[i], "%s", i == 0 ? "buyer" : i == 1 ? "区" : "k\x1f");
        snprintf(d->mv[i], sizeof d->mv[i], "v%zu 值", rnd(r, 3));
        d->meta[i].key = d->mk[i];
        d->meta[i].val = d->mv[i];
    }
    char buf[512];
    if (text == NULL) {
        gen_text(r, buf, sizeof buf, 1 + rnd(r, 30));
        text = buf;
    }
    set_text(d, text);
}

/* ---- batches ----------------------------------------------------------------------- */

typedef struct sbatch {
    tdx_store_doc *docs;
    tdx_buf *z;
    size_t n;
    tdx_postings post;
    tdx_store_input inputs[2];
    size_t ninputs;
    uint64_t rejects;
} sbatch;

static void add_term5(tdx_gram_builder *gb, uint32_t doc, uint8_t cls, uint32_t id)
{
    uint8_t t[5] = {cls, (uint8_t)(id >> 24), (uint8_t)(id >> 16), (uint8_t)(id >> 8), (uint8_t)id};
    cr_assert(eq(int, tdx_gram_add_term(gb, doc, t, 5), 0));
}

/* Batch of docs as the pipeline hands it over: compressed text, terms of
 * the text, of the hits and of the metadata. */
static void sbatch_make(sbatch *b, sdoc *const *docs, size_t n)
{
    memset(b, 0, sizeof *b);
    b->n = n;
    b->docs = calloc(n + 1, sizeof *b->docs);
    b->z = calloc(n + 1, sizeof *b->z);
    tdx_postings_init(&b->post);
    tdx_store_zctx *z = NULL;
    cr_assert(eq(int, tdx_store_zctx_create(NULL, &z), 0));
    tdx_gram_builder *gb = NULL;
    cr_assert(eq(int, tdx_gram_builder_create(&gb, NULL), 0));
    for (size_t i = 0; i < n; i++) {
        const sdoc *d = docs[i];
        cr_assert(eq(
            int, tdx_store_compress(z, (const uint8_t *)d->text, d->text_len, &b->z[i], NULL), 0));
        b->docs[i] = (tdx_store_doc){.key = d->key,
                                     .source = d->source,
                                     .title = d->title,
                                     .date = d->date,
                                     .url = d->url,
                                     .format = d->format,
                                     .encoding = d->encoding,
                                     .line = d->line,
                                     .offset = d->offset,
                                     .date_ymd = d->date_ymd,
                                     .text_len = d->text_len,
                                     .invalid = d->invalid,
                                     .hash = {d->hash[0], d->hash[1]},
                                     .meta = d->meta,
                                     .nmeta = d->nmeta,
                                     .hits = d->hits,
                                     .nhits = d->nhits,
                                     .ztext = b->z[i].p,
                                     .ztext_len = b->z[i].len};
        uint32_t doc = (uint32_t)i;
        cr_assert(eq(int, tdx_gram_add_text(gb, doc, (const uint8_t *)d->text, d->text_len), 0));
        for (size_t h = 0; h < d->nhits; h++) {
            const tdx_store_pattern *p = &patterns[d->hits[h].pattern];
            add_term5(gb, doc, 'p', d->hits[h].pattern);
            add_term5(gb, doc, 'e', p->entity);
            add_term5(gb, doc, 'c', p->category);
        }
        for (size_t k = 0; k < d->nmeta; k++) {
            char t[80];
            int tl = snprintf(t, sizeof t, "f%s\x1f%s", d->mk[k], d->mv[k]);
            cr_assert(eq(int, tdx_gram_add_term(gb, doc, (const uint8_t *)t, (size_t)tl), 0));
        }
    }
    cr_assert(eq(int, tdx_gram_emit(gb, &b->post, NULL), 0));
    tdx_gram_builder_free(gb);
    tdx_store_zctx_free(z);
}

static void sbatch_free(sbatch *b)
{
    for (size_t i = 0; i < b->n; i++)
        tdx_buf_free(&b->z[i]);
    free(b->z);
    free(b->docs);
    tdx_postings_free(&b->post);
}

static tdx_store_batch as_batch(const sbatch *b)
{
    tdx_store_batch sb = {b->docs, b->n, &b->post, b->inputs, b->ninputs, b->rejects, NULL};
    return sb;
}

static void write_ok(tdx_store *s, const sbatch *b, int replace, tdx_store_batch_stats *st)
{
    tdx_store_batch sb = as_batch(b);
    tdx_err err = {0};
    int rc = tdx_store_write_batch(s, &sb, replace, st, &err);
    cr_assert(eq(int, rc, 0), "write_batch: %s", err.msg);
}

/* ---- the model ------------------------------------------------------------------- */

typedef struct mkey {
    const char *key;
    uint32_t id;
    int dup;
} mkey;

typedef struct mpost {
    uint8_t term[96];
    size_t len;
    uint32_t id;
} mpost;

typedef struct model {
    const sdoc **byid; /* [id], id >= 1 */
    const char **reckey; /* [id]: the key in the doc's record (changes on hand-over) */
    uint8_t *deleted;
    size_t next, cap;
    mkey *keys;
    size_t nkeys, capk;
    mpost *post;
    size_t npost, capp;
    uint64_t docs, ndeleted, duplicates, bytes, hits, rejects;
    int sorted;
} model;

static void model_init(model *m)
{
    memset(m, 0, sizeof *m);
    m->next = 1;
}

static void model_free(model *m)
{
    free(m->byid);
    free(m->reckey);
    free(m->deleted);
    free(m->keys);
    free(m->post);
}

static mkey *model_key(model *m, const char *key)
{
    for (size_t i = 0; i < m->nkeys; i++)
        if (strcmp(m->keys[i].key, key) == 0)
            return &m->keys[i];
    return NULL;
}

static void model_set_key(model *m, const char *key, uint32_t id, int dup)
{
    mkey *k = model_key(m, key);
    if (k == NULL) {
        if (m->nkeys == m->capk) {
            m->capk = m->capk ? m->capk * 2 : 64;
            m->keys = realloc(m->keys, m->capk * sizeof *m->keys);
        }
        k = &m->keys[m->nkeys++];
        k->key = key;
    }
    k->id = id;
    k->dup = dup;
}

static int same_hash(const sdoc *a, const sdoc *b)
{
    return a->hash[0] == b->hash[0] && a->hash[1] == b->hash[1];
}

/* The live document with this content, 0 if none. */
static uint32_t model_live_hash(const model *m, const sdoc *d)
{
    for (size_t id = 1; id < m->next; id++)
        if (!m->deleted[id] && same_hash(m->byid[id], d))
            return (uint32_t)id;
    return 0;
}

/*
 * What write_batch must do, from store.h: a known key with the same content
 * is left alone; with other content it is kept (or, replacing, the old
 * document becomes a tombstone); content already indexed under another key
 * makes the key a duplicate; anything else is a new document.
 */
static void model_apply(model *m, const sbatch *b, sdoc *const *docs, int replace,
                        tdx_store_batch_stats *want)
{
    memset(want, 0, sizeof *want);
    uint32_t *remap = calloc(b->n + 1, sizeof *remap);
    for (size_t i = 0; i < b->n; i++) {
        const sdoc *d = docs[i];
        mkey *k = model_key(m, d->key);
        if (k) {
            if (same_hash(m->byid[k->id], d)) {
                want->existing++;
                continue;
            }
            if (!replace) {
                want->changed++;
                continue;
            }
            if (!k->dup) {
                /* The document goes to its duplicate key that sorts first,
                 * if any; else it becomes a tombstone. */
                mkey *heir = NULL;
                for (size_t j = 0; j < m->nkeys; j++) {
                    mkey *o = &m->keys[j];
                    if (o->dup && o->id == k->id && (heir == NULL || strcmp(o->key, heir->key) < 0))
                        heir = o;
                }
                if (heir) {
                    heir->dup = 0;
                    m->reckey[k->id] = heir->key;
                    m->duplicates--;
                } else {
                    const sdoc *old = m->byid[k->id];
                    m->deleted[k->id] = 1;
                    m->ndeleted++;
                    m->docs--;
                    m->bytes -= old->text_len;
                    m->hits -= old->nhits;
                }
            } else {
                m->duplicates--;
            }
            want->replaced++;
        }
        uint32_t live = model_live_hash(m, d);
        if (live) {
            model_set_key(m, d->key, live, 1);
            m->duplicates++;
            want->duplicates++;
            continue;
        }
        if (m->next + 1 >= m->cap) {
            m->cap = m->cap ? m->cap * 2 : 256;
            m->byid = realloc(m->byid, m->cap * sizeof *m->byid);
            m->reckey = realloc(m->reckey, m->cap * sizeof *m->reckey);
            m->deleted = realloc(m->deleted, m->cap);
        }
        uint32_t id = (uint32_t)m->next++;
        m->byid[id] = d;
        m->reckey[id] = d->key;
        m->deleted[id] = 0;
        remap[i] = id;
        model_set_key(m, d->key, id, 0);
        m->docs++;
        m->bytes += d->text_len;
        m->hits += d->nhits;
        want->added++;
        want->hits += d->nhits;
        want->bytes += d->text_len;
    }
    for (size_t t = 0; t < b->post.nterms; t++) {
        tdx_span sp = tdx_postings_term(&b->post, t);
        for (size_t e = tdx_postings_ent_begin(&b->post, t); e < b->post.ent_end[t]; e++) {
            uint32_t id = remap[b->post.docs[e]];
            if (id == 0)
                continue;
            if (m->npost == m->capp) {
                m->capp = m->capp ? m->capp * 2 : 1024;
                m->post = realloc(m->post, m->capp * sizeof *m->post);
            }
            mpost *p = &m->post[m->npost++];
            cr_assert(le(sz, sp.len, sizeof p->term));
            memcpy(p->term, sp.p, sp.len);
            p->len = sp.len;
            p->id = id;
        }
    }
    m->rejects += b->rejects;
    m->sorted = 0;
    free(remap);
}

/* Write a batch and check its stats against the model's. */
static void write_both(tdx_store *s, model *m, sdoc *const *docs, size_t n, int replace)
{
    sbatch b;
    sbatch_make(&b, docs, n);
    tdx_store_batch_stats got, want;
    model_apply(m, &b, docs, replace, &want);
    write_ok(s, &b, replace, &got);
    cr_assert(eq(sz, got.added, want.added));
    cr_assert(eq(sz, got.existing, want.existing));
    cr_assert(eq(sz, got.duplicates, want.duplicates));
    cr_assert(eq(sz, got.replaced, want.replaced));
    cr_assert(eq(sz, got.changed, want.changed));
    cr_assert(eq(u64, got.hits, want.hits));
    cr_assert(eq(u64, got.bytes, want.bytes));
    sbatch_free(&b);
}

static int cmp_bytes(const uint8_t *a, size_t la, const uint8_t *b, size_t lb)
{
    int c = memcmp(a, b, la < lb ? la : lb);
    return c ? c : (la < lb ? -1 : la > lb);
}

static int cmp_mpost(const void *x, const void *y)
{
    const mpost *a = x, *b = y;
    int c = cmp_bytes(a->term, a->len, b->term, b->len);
    return c ? c : (a->id < b->id ? -1 : a->id > b->id);
}

/* ---- reading everything back ----------------------------------------------------- */

typedef struct termlist {
    mpost *v;
    size_t n, cap;
} termlist;

static int collect_term(void *ctx, const uint8_t *term, size_t len)
{
    termlist *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 64;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
    }
    cr_assert(le(sz, len, sizeof l->v->term));
    memcpy(l->v[l->n].term, term, len);
    l->v[l->n++].len = len;
    return 0;
}

static void expect_span(const char *got, size_t glen, const char *want, const char *what,
                        uint32_t id)
{
    const char *w = want ? want : "";
    cr_assert(eq(sz, glen, strlen(w)), "doc %u %s length", id, what);
    cr_assert(eq(int, memcmp(got, w, glen), 0), "doc %u %s", id, what);
}

static void verify_postings(tdx_rtxn *t, model *m)
{
    if (!m->sorted) {
        qsort(m->post, m->npost, sizeof *m->post, cmp_mpost);
        m->sorted = 1;
    }
    tdx_err err = {0};
    tdx_docset got = {0};
    /* Every class: the dictionary is the model's distinct terms. */
    size_t i = 0;
    for (const char *cls = "bcefptuw"; *cls; cls++) {
        termlist tl = {0};
        cr_assert(eq(int, tdx_store_terms(t, (uint8_t)*cls, NULL, 0, collect_term, &tl, &err), 0),
                  "%s", err.msg);
        const mpost *terms = tl.v;
        for (size_t k = 0; k < tl.n; k++) {
            cr_assert(lt(sz, i, m->npost), "class %c: extra term", *cls);
            size_t j = i;
            while (j < m->npost &&
                   cmp_bytes(m->post[j].term, m->post[j].len, m->post[i].term, m->post[i].len) == 0)
                j++;
            cr_assert(
                eq(int, cmp_bytes(terms[k].term, terms[k].len, m->post[i].term, m->post[i].len), 0),
                "class %c: term %zu differs", *cls, k);
            cr_assert(eq(int, tdx_store_postings(t, terms[k].term, terms[k].len, &got, &err), 0),
                      "%s", err.msg);
            cr_assert(eq(sz, got.n, j - i), "class %c term %zu: %zu docs, want %zu", *cls, k, got.n,
                      j - i);
            for (size_t x = 0; x < got.n; x++)
                cr_assert(eq(u32, got.v[x], m->post[i + x].id));
            /* The key after it, absent (unless the next term is that), has
             * no docs: a term found in a shared value is that term. */
            uint8_t after[600];
            size_t al = terms[k].len;
            memcpy(after, terms[k].term, al);
            after[al++] = 1;
            if (!(j < m->npost && cmp_bytes(m->post[j].term, m->post[j].len, after, al) == 0)) {
                cr_assert(eq(int, tdx_store_postings(t, after, al, &got, &err), 0), "%s", err.msg);
                cr_assert(eq(sz, got.n, 0), "class %c term %zu + 0x01: %zu docs", *cls, k, got.n);
            }
            cr_assert(eq(int, tdx_store_postings(t, terms[k].term, terms[k].len, &got, &err), 0));
            /* Up to a doc: the prefix, whatever blocks and segments hold it. */
            for (size_t x = 0; x <= got.n && x < 4; x++) {
                size_t at = x == 3 ? got.n : (got.n * x) / 3;
                uint32_t upto = at < got.n ? m->post[i + at].id - (x & 1) : UINT32_MAX - 1;
                tdx_docset pre = {0};
                cr_assert(
                    eq(int,
                       tdx_store_postings_upto(t, terms[k].term, terms[k].len, upto, &pre, &err),
                       0),
                    "%s", err.msg);
                size_t want = 0;
                while (want < j - i && m->post[i + want].id <= upto)
                    want++;
                cr_assert(eq(sz, pre.n, want), "class %c term %zu up to %u: %zu docs, want %zu",
                          *cls, k, upto, pre.n, want);
                for (size_t y = 0; y < pre.n; y++)
                    cr_assert(eq(u32, pre.v[y], m->post[i + y].id));
                tdx_docset_free(&pre);
            }
            uint64_t cnt = 0;
            cr_assert(
                eq(int, tdx_store_postings_count(t, terms[k].term, terms[k].len, &cnt, &err), 0));
            cr_assert(eq(u64, cnt, j - i));
            i = j;
        }
        cr_assert(i == m->npost || m->post[i].term[0] != (uint8_t)*cls,
                  "class %c: store misses terms", *cls);
        free(tl.v);
    }
    cr_assert(eq(sz, i, m->npost));
    /* A prefix walk returns exactly the dictionary words with that prefix. */
    termlist tl = {0};
    cr_assert(
        eq(int, tdx_store_terms(t, 'w', (const uint8_t *)"a", 1, collect_term, &tl, &err), 0));
    const mpost *terms = tl.v;
    size_t want = 0, k = 0;
    for (size_t x = 0; x < m->npost; x++) {
        if (m->post[x].len < 2 || memcmp(m->post[x].term, "wa", 2) != 0)
            continue;
        if (x && cmp_bytes(m->post[x - 1].term, m->post[x - 1].len, m->post[x].term,
                           m->post[x].len) == 0)
            continue;
        want++;
        cr_assert(lt(sz, k, tl.n));
        cr_assert(
            eq(int, cmp_bytes(terms[k].term, terms[k].len, m->post[x].term, m->post[x].len), 0));
        k++;
    }
    cr_assert(eq(sz, k, want));
    cr_assert(eq(sz, tl.n, want));
    free(tl.v);
    /* Unknown terms are empty, not errors. */
    cr_assert(eq(int, tdx_store_postings(t, (const uint8_t *)"wnosuchword", 11, &got, &err), 0));
    cr_assert(eq(sz, got.n, 0));
    tdx_docset_free(&got);
}

typedef struct lines {
    char *p;
    size_t len, n;
} lines;

static int line_fn(void *ctx, const char *line, size_t len)
{
    lines *l = ctx;
    l->p = realloc(l->p, l->len + len + 2);
    if (len)
        memcpy(l->p + l->len, line, len);
    l->len += len;
    l->p[l->len++] = '\n';
    l->p[l->len] = 0;
    l->n++;
    return 0;
}

static uint64_t check_problems(tdx_store *s, lines *out)
{
    tdx_rtxn *t = NULL;
    tdx_err err = {0};
    cr_assert(eq(int, tdx_store_read_begin(s, &t, &err), 0));
    uint64_t problems = 99999;
    lines l = {0};
    cr_assert(eq(int, tdx_store_check(t, line_fn, &l, &problems, &err), 0), "%s", err.msg);
    tdx_store_read_end(t);
    cr_assert(eq(u64, problems, l.n));
    if (out)
        *out = l;
    else
        free(l.p);
    return problems;
}

/* check_problems on the index in dir, opened read-only for it. */
static uint64_t check_problems_at(const char *dir, lines *out)
{
    tdx_store *s = open_store(dir, 1, 0);
    uint64_t n = check_problems(s, out);
    tdx_store_close(s);
    return n;
}

static void expect_clean(tdx_store *s)
{
    lines l = {0};
    uint64_t n = check_problems(s, &l);
    cr_assert(eq(u64, n, 0), "check: %s", l.p);
    free(l.p);
}

static char *dump(tdx_store *s)
{
    tdx_rtxn *t = NULL;
    tdx_err err = {0};
    cr_assert(eq(int, tdx_store_read_begin(s, &t, &err), 0));
    lines l = {0};
    cr_assert(eq(int, tdx_store_dump(t, line_fn, &l, &err), 0), "%s", err.msg);
    tdx_store_read_end(t);
    return l.p;
}

static void verify(tdx_store *s, model *m)
{
    tdx_rtxn *t = NULL;
    tdx_err err = {0};
    cr_assert(eq(int, tdx_store_read_begin(s, &t, &err), 0));
    tdx_store_info in;
    cr_assert(eq(int, tdx_store_get_info(t, &in, &err), 0));
    cr_assert(eq(u32, in.format, new_format ? (uint32_t)new_format : TDX_STORE_FORMAT));
    cr_assert(eq(str, in.normalizer, "test-normalizer 1"));
    cr_assert(eq(u32, in.norm_steps, 7));
    cr_assert(eq(int, in.grams, 1));
    cr_assert(eq(u64, in.wl_hash, 0x0123456789abcdefULL));
    cr_assert(eq(str, in.wl_source, "/lists/watch.tsv"));
    cr_assert(eq(u64, in.next_doc, m->next));
    cr_assert(eq(u64, in.docs, m->docs));
    cr_assert(eq(u64, in.deleted, m->ndeleted));
    cr_assert(eq(u64, in.duplicates, m->duplicates));
    cr_assert(eq(u64, in.bytes, m->bytes));
    cr_assert(eq(u64, in.hits, m->hits));
    cr_assert(eq(u64, in.rejects, m->rejects));
    cr_assert(eq(u64, in.npatterns, NPAT));
    cr_assert(eq(u64, in.nentities, NENT));
    cr_assert(eq(u64, in.ncategories, NCAT));

    tdx_buf text = TDX_BUF_INIT;
    tdx_store_hit *hits = NULL;
    size_t nh = 0, caph = 0;
    uint32_t *dates = calloc(m->next + 1, sizeof *dates);
    cr_assert(eq(int, tdx_store_dates(t, dates, m->next - 1, &err), 0));
    for (uint32_t id = 1; id < m->next; id++) {
        const sdoc *d = m->byid[id];
        tdx_store_docinfo di;
        cr_assert(eq(int, tdx_store_get_doc(t, id, &di, &err), 0), "%s", err.msg);
        cr_assert(eq(u32, di.id, id));
        expect_span(di.key, di.key_len, m->reckey[id], "key", id);
        expect_span(di.source, di.source_len, d->source, "source", id);
        expect_span(di.title, di.title_len, d->title, "title", id);
        expect_span(di.date, di.date_len, d->date, "date", id);
        expect_span(di.url, di.url_len, d->url, "url", id);
        expect_span(di.format, di.format_len, d->format, "format", id);
        expect_span(di.encoding, di.encoding_len, d->encoding, "encoding", id);
        cr_assert(eq(u64, di.line, d->line));
        cr_assert(eq(u64, di.offset, d->offset));
        cr_assert(eq(u64, di.text_len, d->text_len));
        cr_assert(eq(u64, di.invalid, d->invalid));
        cr_assert(eq(u64, di.hash[0], d->hash[0]));
        cr_assert(eq(u64, di.hash[1], d->hash[1]));
        cr_assert(eq(u32, di.date_ymd, d->date_ymd));
        cr_assert(eq(u32, di.nhits, (uint32_t)d->nhits));
        cr_assert(eq(int, di.deleted, m->deleted[id]), "doc %u tombstone", id);
        cr_assert(eq(sz, di.nmeta, d->nmeta));
        const uint8_t *pos = di.meta;
        tdx_span k, v;
        size_t nm = 0;
        while (tdx_store_meta_next(&di, &pos, &k, &v)) {
            cr_assert(lt(sz, nm, d->nmeta));
            expect_span((const char *)k.p, k.len, d->mk[nm], "meta key", id);
            expect_span((const char *)v.p, v.len, d->mv[nm], "meta value", id);
            nm++;
        }
        cr_assert(eq(sz, nm, d->nmeta));
        cr_assert(eq(int, tdx_store_get_text(t, id, &text, &err), 0), "%s", err.msg);
        expect_span((const char *)text.p, text.len, d->text, "text", id);
        cr_assert(eq(int, tdx_store_get_hits(t, id, &hits, &nh, &caph, &err), 0));
        cr_assert(eq(sz, nh, d->nhits));
        for (size_t i = 0; i < nh; i++)
            cr_assert(eq(int, memcmp(&hits[i], &d->hits[i], sizeof hits[i]), 0), "doc %u hit %zu",
                      id, i);
        cr_assert(eq(u32, dates[id - 1], d->date_ymd));
    }
    free(dates);
    free(hits);
    tdx_buf_free(&text);
    for (size_t i = 0; i < m->nkeys; i++) {
        uint32_t id = 0;
        cr_assert(
            eq(int, tdx_store_find_key(t, m->keys[i].key, strlen(m->keys[i].key), &id, &err), 0));
        cr_assert(eq(u32, id, m->keys[i].id), "key %s", m->keys[i].key);
    }
    tdx_docset del = {0};
    cr_assert(eq(int, tdx_store_deleted(t, &del, &err), 0));
    size_t nd = 0;
    for (uint32_t id = 1; id < m->next; id++)
        if (m->deleted[id]) {
            cr_assert(lt(sz, nd, del.n));
            cr_assert(eq(u32, del.v[nd], id));
            nd++;
        }
    cr_assert(eq(sz, nd, del.n));
    tdx_docset_free(&del);
    verify_postings(t, m);
    tdx_store_read_end(t);
    expect_clean(s);
}

static size_t pending(tdx_store *s)
{
    size_t n = 999;
    cr_assert(eq(int, tdx_store_pending_segments(s, &n, NULL), 0));
    return n;
}

static void merge_ok(tdx_store *s)
{
    tdx_err err = {0};
    cr_assert(eq(int, tdx_store_merge(s, &err), 0), "merge: %s", err.msg);
    cr_assert(eq(sz, pending(s), 0));
}

/* The model holds before and after folding the segments into main postings. */
static void verify_merge_verify(tdx_store *s, model *m)
{
    verify(s, m);
    merge_ok(s);
    verify(s, m);
}

/* ---- a random corpus with repeated keys and contents ------------------------------ */

typedef struct corpus {
    sdoc *docs;
    sdoc **ptr;
    size_t n;
} corpus;

static void corpus_make(corpus *c, uint64_t *r, size_t n)
{
    c->n = n;
    c->docs = calloc(n, sizeof *c->docs);
    c->ptr = calloc(n, sizeof *c->ptr);
    for (size_t i = 0; i < n; i++) {
        char key[600];
        size_t x = rnd(r, 10);
        /* Mostly new keys; some repeat a key (same or other content), some
         * repeat content under a new key. */
        if (x < 2 && i > 0)
            snprintf(key, sizeof key, "%s", c->docs[rnd(r, i)].key);
        else
            snprintf(key, sizeof key, "doc-%zu", i);
        const char *text = NULL;
        if ((x == 1 || x == 2) && i > 0)
            text = c->docs[rnd(r, i)].text;
        gen_doc(&c->docs[i], r, key, text);
        c->ptr[i] = &c->docs[i];
    }
}

static void corpus_free(corpus *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->docs[i].text);
    free(c->docs);
    free(c->ptr);
}

/* Write the corpus in batches of `size` (0: random sizes). */
static void write_corpus(tdx_store *s, model *m, const corpus *c, size_t size, int replace,
                         uint64_t *r)
{
    for (size_t i = 0; i < c->n;) {
        size_t n = size ? size : 1 + rnd(r, 20);
        if (n > c->n - i)
            n = c->n - i;
        write_both(s, m, c->ptr + i, n, replace);
        i += n;
    }
}

/* ---- round trip ------------------------------------------------------------------- */

Test(store, round_trip_before_and_after_merge)
{
    uint64_t seed = tu_seed("store.round_trip"), r = seed;
    for (int replace = 0; replace < 2; replace++) {
        char dir[64];
        snprintf(dir, sizeof dir, "idx%d", replace);
        tdx_store *s = new_index(tu_path(dir));
        corpus c;
        corpus_make(&c, &r, 160);
        model m;
        model_init(&m);
        write_corpus(s, &m, &c, 0, replace, &r);
        cr_assert(gt(sz, pending(s), 3));
        verify_merge_verify(s, &m);
        /* More batches on top of merged postings, merged again (b -> a). */
        corpus c2;
        corpus_make(&c2, &r, 40);
        write_corpus(s, &m, &c2, 0, replace, &r);
        verify_merge_verify(s, &m);
        merge_ok(s); /* nothing pending: a no-op */
        verify(s, &m);
        if (replace)
            cr_assert(gt(u64, m.ndeleted, 0), "seed %llu: replace exercised",
                      (unsigned long long)seed);
        cr_assert(gt(u64, m.duplicates, 0));
        tdx_store_close(s);
        /* Reopened read-only, the same content. */
        s = open_store(tu_path(dir), 1, 0);
        verify(s, &m);
        tdx_store_close(s);
        model_free(&m);
        corpus_free(&c);
        corpus_free(&c2);
    }
}

Test(store, text_compression_round_trip)
{
    tdx_store_zctx *z = NULL;
    cr_assert(eq(int, tdx_store_zctx_create(NULL, &z), 0));
    tdx_store *s = new_index(tu_path("idx"));
    /* Empty, tiny, NUL bytes, and texts over zstd's block size. */
    size_t lens[] = {0, 1, 5, 4096, 400000};
    uint64_t r = 99;
    sdoc docs[5];
    sdoc *ptr[5];
    for (int i = 0; i < 5; i++) {
        char key[16];
        snprintf(key, sizeof key, "t%d", i);
        gen_doc(&docs[i], &r, key, "");
        free(docs[i].text);
        docs[i].text = malloc(lens[i] + 1);
        for (size_t k = 0; k < lens[i]; k++)
            docs[i].text[k] = (char)(i == 2 ? (k % 2 ? 0 : 'a') : 32 + rnd(&r, 16));
        docs[i].text[lens[i]] = 0;
        docs[i].text_len = lens[i];
        docs[i].nhits = 0;
        tdx_hash128(docs[i].text, lens[i], docs[i].hash);
        docs[i].hash[0] ^= (uint64_t)i; /* distinct content */
        ptr[i] = &docs[i];
    }
    model m;
    model_init(&m);
    write_both(s, &m, ptr, 5, 0);
    tdx_rtxn *t = NULL;
    cr_assert(eq(int, tdx_store_read_begin(s, &t, NULL), 0));
    tdx_buf out = TDX_BUF_INIT;
    for (uint32_t id = 1; id <= 5; id++) {
        cr_assert(eq(int, tdx_store_get_text(t, id, &out, NULL), 0));
        cr_assert(eq(sz, out.len, lens[id - 1]));
        cr_assert(eq(int, memcmp(out.p, docs[id - 1].text, out.len), 0));
    }
    tdx_buf_free(&out);
    tdx_store_read_end(t);
    tdx_store_zctx_free(z);
    tdx_store_zctx_free(NULL);
    expect_clean(s);
    tdx_store_close(s);
    model_free(&m);
    for (int i = 0; i < 5; i++)
        free(docs[i].text);
}

Test(store, inputs_and_rejects_are_recorded)
{
    tdx_store *s = new_index(tu_path("idx"));
    uint64_t r = 5;
    sdoc d;
    gen_doc(&d, &r, "k", "abc 中国");
    sdoc *p = &d;
    sbatch b;
    sbatch_make(&b, &p, 1);
    char longpath[700];
    memset(longpath, 'x', sizeof longpath - 1);
    longpath[sizeof longpath - 1] = 0;
    b.inputs[0] = (tdx_store_input){"in/a.jsonl", 1234, -5, 17, 0};
    b.inputs[1] = (tdx_store_input){longpath, 1, 1, 1, 1};
    b.ninputs = 2;
    b.rejects = 3;
    write_ok(s, &b, 0, NULL);
    b.inputs[0] = (tdx_store_input){"in/a.jsonl", 1234, -5, 40, 1};
    b.ninputs = 1;
    b.rejects = 2;
    write_ok(s, &b, 0, NULL); /* the doc again: existing, progress recorded */
    tdx_rtxn *t = NULL;
    cr_assert(eq(int, tdx_store_read_begin(s, &t, NULL), 0));
    tdx_store_input in;
    cr_assert(eq(int, tdx_store_get_input(t, "in/a.jsonl", &in, NULL), 0));
    cr_assert(eq(u64, in.size, 1234));
    cr_assert(eq(i64, in.mtime, -5));
    cr_assert(eq(u64, in.records, 40));
    cr_assert(eq(int, in.complete, 1));
    cr_assert(eq(int, tdx_store_get_input(t, "in/b.jsonl", &in, NULL), TDX_ENOTFOUND));
    /* Paths beyond LMDB's key limit are not recorded (re-read next time). */
    cr_assert(eq(int, tdx_store_get_input(t, longpath, &in, NULL), TDX_ENOTFOUND));
    cr_assert(eq(int, tdx_store_get_input(t, "", &in, NULL), TDX_ENOTFOUND));
    tdx_store_info info;
    cr_assert(eq(int, tdx_store_get_info(t, &info, NULL), 0));
    cr_assert(eq(u64, info.rejects, 5));
    cr_assert(eq(u64, info.docs, 1));
    tdx_store_read_end(t);
    sbatch_free(&b);
    free(d.text);
    tdx_store_close(s);
}

/* ---- dedupe --------------------------------------------------------------------- */

static uint32_t key_id(tdx_store *s, const char *key)
{
    tdx_rtxn *t = NULL;
    cr_assert(eq(int, tdx_store_read_begin(s, &t, NULL), 0));
    uint32_t id = 0;
    cr_assert(eq(int, tdx_store_find_key(t, key, strlen(key), &id, NULL), 0));
    tdx_store_read_end(t);
    return id;
}

static int term_has(tdx_store *s, const char *term, uint32_t id)
{
    tdx_rtxn *t = NULL;
    cr_assert(eq(int, tdx_store_read_begin(s, &t, NULL), 0));
    tdx_docset d = {0};
    cr_assert(eq(int, tdx_store_postings(t, (const uint8_t *)term, strlen(term), &d, NULL), 0));
    int has = tdx_docset_has(&d, id);
    tdx_docset_free(&d);
    tdx_store_read_end(t);
    return has;
}

Test(store, dedupe_by_key_and_content_and_replace)
{
    tdx_store *s = new_index(tu_path("idx"));
    uint64_t r = 77;
    sdoc d[10];
    gen_doc(&d[0], &r, "k1", "alpha 中国");
    gen_doc(&d[1], &r, "k2", "beta 大学");
    gen_doc(&d[2], &r, "k1", "alpha 中国"); /* same key, same content */
    gen_doc(&d[3], &r, "k3", "alpha 中国"); /* new key, same content as k1 */
    gen_doc(&d[4], &r, "k2", "gamma 采购"); /* same key, other content */
    gen_doc(&d[5], &r, "k4", "beta 大学");  /* content of k2's old doc */
    gen_doc(&d[6], &r, "k3", "delta 招标"); /* replace a duplicate key */
    gen_doc(&d[7], &r, "k5", "gamma 采购"); /* content of k2's new doc */
    model m;
    model_init(&m);
    sdoc *p[10];
    for (int i = 0; i < 8; i++)
        p[i] = &d[i];

    write_both(s, &m, p, 2, 0); /* k1 -> 1, k2 -> 2 */
    write_both(s, &m, p + 2, 3, 0);
    cr_assert(eq(u32, key_id(s, "k3"), 1), "duplicate key points at the original");
    cr_assert(eq(u32, key_id(s, "k2"), 2), "changed content is kept, not replaced");
    cr_assert(eq(int, term_has(s, "wgamma", 2), 0));
    verify(s, &m);

    /* Replace mode: k2 gets a new doc, the old one becomes a tombstone and
     * its content hash is forgotten, so k4 with that content is new. */
    write_both(s, &m, p + 4, 2, 1);
    uint32_t k2 = key_id(s, "k2");
    cr_assert(eq(u32, k2, 3));
    cr_assert(eq(int, term_has(s, "wgamma", k2), 1), "queries see the new doc");
    cr_assert(eq(u32, key_id(s, "k4"), 4));
    cr_assert(eq(int, m.deleted[2], 1));
    verify(s, &m);

    /* Replacing a duplicate key: no tombstone, one duplicate less. */
    uint64_t dups = m.duplicates, del = m.ndeleted;
    write_both(s, &m, p + 6, 2, 1);
    cr_assert(eq(u64, m.duplicates, dups)); /* k3 no longer, k5 now */
    cr_assert(eq(u64, m.ndeleted, del));
    cr_assert(eq(u32, key_id(s, "k3"), 5));
    cr_assert(eq(u32, key_id(s, "k5"), 3));
    verify_merge_verify(s, &m);
    tdx_store_close(s);
    model_free(&m);
    for (int i = 0; i < 8; i++)
        free(d[i].text);
}

Test(store, replacing_a_key_hands_its_document_to_a_duplicate_key)
{
    tdx_store *s = new_index(tu_path("idx"));
    uint64_t r = 78;
    sdoc d[4];
    gen_doc(&d[0], &r, "k1", "alpha 中国");
    gen_doc(&d[1], &r, "k9", "alpha 中国"); /* re-published under k9 */
    gen_doc(&d[2], &r, "k1", "omega 采购"); /* k1 changes */
    gen_doc(&d[3], &r, "k9", "psi 大学");   /* then k9 changes too */
    sdoc *p[4] = {&d[0], &d[1], &d[2], &d[3]};
    model m;
    model_init(&m);
    write_both(s, &m, p, 2, 0);
    cr_assert(eq(u32, key_id(s, "k9"), 1));
    /* k1 gets new content: the old text still is k9's, so doc 1 stays,
     * now under k9, and stays findable. */
    write_both(s, &m, p + 2, 1, 1);
    cr_assert(eq(u32, key_id(s, "k1"), 2));
    cr_assert(eq(u32, key_id(s, "k9"), 1));
    cr_assert(eq(int, m.deleted[1], 0));
    cr_assert(eq(int, term_has(s, "walpha", 1), 1));
    cr_assert(eq(u64, m.duplicates, 0));
    verify(s, &m);
    /* Now k9 is doc 1's own key: replacing it leaves a tombstone. */
    write_both(s, &m, p + 3, 1, 1);
    cr_assert(eq(int, m.deleted[1], 1));
    cr_assert(eq(u32, key_id(s, "k9"), 3));
    verify_merge_verify(s, &m);
    tdx_store_close(s);
    model_free(&m);
    for (int i = 0; i < 4; i++)
        free(d[i].text);
}

Test(store, repeats_inside_one_batch)
{
    /* The same key twice in one batch, with and without replace. */
    for (int replace = 0; replace < 2; replace++) {
        char dir[16];
        snprintf(dir, sizeof dir, "idx%d", replace);
        tdx_store *s = new_index(tu_path(dir));
        uint64_t r = 3;
        sdoc d[4];
        gen_doc(&d[0], &r, "a", "one 中");
        gen_doc(&d[1], &r, "a", "two 国");
        gen_doc(&d[2], &r, "b", "one 中");
        gen_doc(&d[3], &r, "a", "one 中");
        sdoc *p[4] = {&d[0], &d[1], &d[2], &d[3]};
        model m;
        model_init(&m);
        write_both(s, &m, p, 4, replace);
        verify_merge_verify(s, &m);
        tdx_store_close(s);
        model_free(&m);
        for (int i = 0; i < 4; i++)
            free(d[i].text);
    }
}

/* ---- dump: independent of batch boundaries and merges ----------------------------- */

Test(store, dump_does_not_depend_on_batches_or_merges)
{
    uint64_t seed = tu_seed("store.dump"), r = seed;
    corpus c;
    corpus_make(&c, &r, 120);
    char *ref = NULL;
    static const size_t sizes[] = {1, 7, 120, 0};
    for (int replace = 0; replace < 2; replace++) {
        free(ref);
        ref = NULL;
        for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
            char dir[32];
            snprintf(dir, sizeof dir, "idx%d-%zu", replace, k);
            tdx_store *s = new_index(tu_path(dir));
            model m;
            model_init(&m);
            if (k == 3) {
                /* Random batches with merges in between. */
                for (size_t i = 0; i < c.n;) {
                    size_t n = 1 + rnd(&r, 30);
                    if (n > c.n - i)
                        n = c.n - i;
                    write_both(s, &m, c.ptr + i, n, replace);
                    i += n;
                    if (rnd(&r, 3) == 0)
                        merge_ok(s);
                }
            } else {
                write_corpus(s, &m, &c, sizes[k], replace, &r);
            }
            char *before = dump(s);
            merge_ok(s);
            char *after = dump(s);
            cr_assert(eq(str, after, before), "seed %llu: merge changed the dump",
                      (unsigned long long)seed);
            if (ref == NULL)
                ref = strdup(after);
            else
                cr_assert(eq(str, after, ref), "seed %llu: batches of %zu give another dump",
                          (unsigned long long)seed, sizes[k]);
            verify(s, &m);
            free(before);
            free(after);
            model_free(&m);
            tdx_store_close(s);
        }
    }
    free(ref);
    corpus_free(&c);
}

/* ---- direct access to the LMDB environment ----------------------------------------- */

static MDB_env *raw_open(const char *dir)
{
    MDB_env *env;
    cr_assert(eq(int, mdb_env_create(&env), 0));
    mdb_env_set_maxdbs(env, 32);
    mdb_env_set_mapsize(env, (size_t)1 << 30);
    int rc = mdb_env_open(env, dir, 0, 0664);
    cr_assert(eq(int, rc, 0), "mdb_env_open %s: %s", dir, mdb_strerror(rc));
    return env;
}

/* A read cursor over table db of the index in dir (no tdx_store open on it). */
typedef struct raw_cur {
    MDB_env *env;
    MDB_txn *txn;
    MDB_cursor *cur;
} raw_cur;

static raw_cur raw_cursor(const char *dir, const char *db)
{
    raw_cur rc;
    MDB_dbi dbi;
    rc.env = raw_open(dir);
    cr_assert(eq(int, mdb_txn_begin(rc.env, NULL, MDB_RDONLY, &rc.txn), 0));
    cr_assert(eq(int, mdb_dbi_open(rc.txn, db, 0, &dbi), 0));
    cr_assert(eq(int, mdb_cursor_open(rc.txn, dbi, &rc.cur), 0));
    return rc;
}

static void raw_cursor_close(raw_cur *rc)
{
    mdb_cursor_close(rc->cur);
    mdb_txn_abort(rc->txn);
    mdb_env_close(rc->env);
}

/* Put (val != NULL) or delete (val == NULL) one record of table db. */
static void raw_set(const char *dir, const char *db, const void *key, size_t klen, const void *val,
                    size_t vlen)
{
    MDB_env *env = raw_open(dir);
    MDB_txn *txn;
    MDB_dbi dbi;
    cr_assert(eq(int, mdb_txn_begin(env, NULL, 0, &txn), 0));
    cr_assert(eq(int, mdb_dbi_open(txn, db, MDB_CREATE, &dbi), 0));
    MDB_val k = {klen, (void *)key}, v = {vlen, (void *)val};
    int rc = val ? mdb_put(txn, dbi, &k, &v, 0) : mdb_del(txn, dbi, &k, NULL);
    cr_assert(eq(int, rc, 0), "%s: %s", db, mdb_strerror(rc));
    cr_assert(eq(int, mdb_txn_commit(txn), 0));
    mdb_env_close(env);
}

/* LEB128, byte by byte: the test's own reading of the format. */
static uint64_t leb(const uint8_t **p, const uint8_t *end)
{
    uint64_t v = 0;
    for (int sh = 0;; sh += 7) {
        cr_assert(lt(ptr, (void *)*p, (void *)end), "a varint runs past the block");
        uint8_t b = *(*p)++;
        v |= (uint64_t)(b & 0x7f) << sh;
        if (!(b & 0x80))
            return v;
    }
}

/* A shared value, read by the test's own reading of the grammar: its
 * entries (the next at p, entries end at end), its restarts' offsets. */
typedef struct shared_rd {
    const uint8_t *base, *p, *end, *rst;
    size_t nr, i; /* restarts; the next entry's number */
    uint8_t term[600];
    size_t tlen;
} shared_rd;

static void shared_open(shared_rd *r, const uint8_t *key_term, size_t ktl, const void *v,
                        size_t vlen)
{
    const uint8_t *b = v;
    cr_assert(ge(sz, vlen, 4), "a shared value of %zu bytes", vlen);
    r->nr = (size_t)(b[vlen - 2] << 8 | b[vlen - 1]);
    cr_assert(gt(sz, r->nr, 0), "a shared value has a restart");
    cr_assert(le(sz, 2 * r->nr + 2, vlen));
    r->base = r->p = b;
    r->end = r->rst = b + vlen - 2 - 2 * r->nr;
    r->i = 0;
    memcpy(r->term, key_term, ktl);
    r->tlen = ktl;
}

/*
 * The postings blocks of table (keys: pre bytes, term, 0x00, be32 first
 * doc) in key order, read raw: a segment's shared values (key [be32 seg]
 * term 0x00 be32(0)) opened by the grammar at the top of store.c, each
 * entry given under the key it would have alone.  On the way it asserts
 * what the writer promises of shared values: at most 1900 bytes, entries'
 * terms ascending from the key's, each one block of at most 16 docs and
 * 512 bytes.
 */
typedef struct raw_blocks {
    raw_cur rc;
    size_t pre;
    int started, in_shared;
    shared_rd sr; /* the shared value in hand */
    uint32_t seg;
    uint8_t kb[600];
    size_t groups, entries; /* shared values and their entries seen */
} raw_blocks;

static raw_blocks raw_blocks_open(const char *dir, const char *table, size_t pre)
{
    raw_blocks rb;
    memset(&rb, 0, sizeof rb);
    rb.rc = raw_cursor(dir, table);
    rb.pre = pre;
    return rb;
}

static void raw_blocks_close(raw_blocks *rb)
{
    raw_cursor_close(&rb->rc);
}

/* Is key k (in a table whose keys have pre bytes before the term) a shared value's? */
static int is_shared_key(const uint8_t *k, size_t kl, size_t pre)
{
    return pre && kl >= 10 && k[kl - 5] == 0 && tdx_be32_get(k + kl - 4) == 0;
}

/* The next entry (its term in r->term, its first doc less the segment id,
 * its block): 1, or 0 at the end.  On the way: the first entry is the
 * key's term, each later one's is past the one before, every 16th names
 * its term in full at its restart's offset, there are as many restarts as
 * that, and each entry is one block of at most 16 docs and 512 bytes. */
static int shared_next(shared_rd *r, uint64_t *fd, MDB_val *blk)
{
    if (r->p == r->end) {
        cr_assert(gt(sz, r->i, 0), "a shared value holds an entry");
        cr_assert(eq(sz, r->nr, (r->i + 15) / 16), "restarts of %zu entries", r->i);
        return 0;
    }
    int restart = r->i % 16 == 0;
    if (restart)
        cr_assert(eq(sz, (size_t)(r->rst[2 * (r->i / 16)] << 8 | r->rst[2 * (r->i / 16) + 1]),
                     (size_t)(r->p - r->base)),
                  "restart %zu", r->i / 16);
    uint8_t prev[600];
    size_t pl = r->tlen;
    memcpy(prev, r->term, pl);
    const uint8_t **p = &r->p, *end = r->end;
    uint64_t shared = leb(p, end), slen = leb(p, end);
    if (r->i == 0) {
        cr_assert(eq(u64, shared, r->tlen), "the first entry is the key's term");
        cr_assert(eq(u64, slen, 0));
    } else {
        cr_assert(le(u64, shared, restart ? 0 : r->tlen), "entry %zu shares %" PRIu64, r->i,
                  shared);
    }
    cr_assert(le(u64, slen, (uint64_t)(end - *p)));
    memcpy(r->term + shared, *p, slen);
    *p += slen;
    r->tlen = shared + slen;
    if (r->i)
        cr_assert(lt(int, cmp_bytes(prev, pl, r->term, r->tlen), 0), "entries' terms ascend");
    *fd = leb(p, end);
    uint64_t blen = leb(p, end);
    cr_assert(le(u64, blen, (uint64_t)(end - *p)));
    cr_assert(le(u64, blen, 512), "a shared value's entry of %" PRIu64 " bytes", blen);
    const uint8_t *q = *p;
    cr_assert(le(u64, leb(&q, *p + blen), 16), "a shared value's entry of over 16 docs");
    *blk = (MDB_val){(size_t)blen, (void *)*p};
    *p += blen;
    r->i++;
    return 1;
}

static int raw_blocks_next(raw_blocks *rb, MDB_val *k, MDB_val *v)
{
    for (;;) {
        uint64_t fd;
        if (rb->in_shared && shared_next(&rb->sr, &fd, v)) {
            uint8_t *term = rb->kb + 4;
            size_t tl = rb->sr.tlen;
            memcpy(term, rb->sr.term, tl);
            term[tl] = 0;
            tdx_be32_put(term + tl + 1, rb->seg + (uint32_t)fd);
            *k = (MDB_val){tl + 9, rb->kb};
            rb->entries++;
            return 1;
        }
        rb->in_shared = 0;
        MDB_val rk, rv;
        int rc = mdb_cursor_get(rb->rc.cur, &rk, &rv, rb->started ? MDB_NEXT : MDB_FIRST);
        rb->started = 1;
        if (rc == MDB_NOTFOUND)
            return 0;
        cr_assert(eq(int, rc, 0));
        const uint8_t *kp = rk.mv_data;
        if (!is_shared_key(kp, rk.mv_size, rb->pre)) {
            *k = rk;
            *v = rv;
            return 1;
        }
        cr_assert(le(sz, rv.mv_size, 1900), "a shared value of %zu bytes", rv.mv_size);
        rb->groups++;
        rb->seg = tdx_be32_get(kp);
        memcpy(rb->kb, kp, 4);
        shared_open(&rb->sr, kp + 4, rk.mv_size - 9, rv.mv_data, rv.mv_size);
        rb->in_shared = 1;
    }
}

/* A shared value of one entry into out: term (tlen bytes), block blk at
 * the segment's first doc, one restart.  Its length. */
static size_t shared_of_one(uint8_t *out, size_t tlen, const void *blk, size_t blen)
{
    size_t n = 0;
    n += tdx_varint_put(out + n, tlen); /* shares the key's term */
    n += tdx_varint_put(out + n, 0);
    n += tdx_varint_put(out + n, 0);
    n += tdx_varint_put(out + n, blen);
    memcpy(out + n, blk, blen);
    n += blen;
    memcpy(out + n, "\x00\x00\x00\x01", 4); /* restart 0 at 0; one restart */
    return n + 4;
}

/* Copy of the first record of table db (whose key starts with prefix). */
static size_t raw_first(const char *dir, const char *db, const void *prefix, size_t plen,
                        uint8_t *key, size_t *klen, uint8_t *val, size_t vcap)
{
    raw_cur rc0 = raw_cursor(dir, db);
    MDB_cursor *cur = rc0.cur;
    MDB_val k = {plen, (void *)prefix}, v;
    int rc = mdb_cursor_get(cur, &k, &v, plen ? MDB_SET_RANGE : MDB_FIRST);
    cr_assert(eq(int, rc, 0), "%s is empty", db);
    memcpy(key, k.mv_data, k.mv_size);
    *klen = k.mv_size;
    size_t n = v.mv_size < vcap ? v.mv_size : vcap;
    memcpy(val, v.mv_data, n);
    raw_cursor_close(&rc0);
    return v.mv_size;
}

static const char *main_table(const char *dir)
{
    uint8_t k[16], v[16];
    size_t kl;
    size_t vl = raw_first(dir, "meta", "post", 4, k, &kl, v, sizeof v);
    cr_assert(eq(sz, kl, 4));
    cr_assert(eq(sz, vl, 1));
    return v[0] == 'b' ? "post.b" : "post.a";
}

Test(store, merge_in_small_steps_can_stop_anywhere_and_resume)
{
    uint64_t seed = tu_seed("store.merge_steps"), r = seed;
    corpus c;
    corpus_make(&c, &r, 150);
    const char *dir = tu_path("steps");
    tdx_store *s = new_index(dir);
    model m;
    model_init(&m);
    write_corpus(s, &m, &c, 9, 0, &r);
    char *ref = dump(s);
    tdx_store_close(s);
    /* A chunk of a few bytes: every step merges about one term. */
    tdx_store_opts o = {0, 0, 0, 64, 0};
    tdx_err err = {0};
    cr_assert(eq(int, tdx_store_open(dir, &o, &s, &err), 0), "%s", err.msg);
    int done = 0, pending = 0;
    size_t steps = 0;
    while (!done) {
        cr_assert(eq(int, tdx_store_merge_step(s, &done, &err), 0), "step %zu: %s", steps,
                  err.msg);
        steps++;
        cr_assert(eq(int, tdx_store_merge_pending(s, &pending, &err), 0));
        cr_assert(eq(int, pending, !done), "step %zu", steps);
        /* Half-merged, the index answers exactly as before. */
        if (steps % 7 == 1 || done) {
            char *now = dump(s);
            cr_assert(eq(str, now, ref), "seed %llu: the dump changed after step %zu",
                      (unsigned long long)seed, steps);
            free(now);
            verify(s, &m);
            expect_clean(s); /* segments' shared values cut by a step included */
        }
        /* Stopping between steps is what a crash does: reopen and go on. */
        if (steps % 11 == 0) {
            tdx_store_close(s);
            cr_assert(eq(int, tdx_store_open(dir, &o, &s, &err), 0), "%s", err.msg);
        }
    }
    cr_assert(gt(sz, steps, 20), "only %zu steps: the chunk option had no effect", steps);
    tdx_rtxn *t;
    tdx_store_info in;
    cr_assert(eq(int, tdx_store_read_begin(s, &t, &err), 0));
    cr_assert(eq(int, tdx_store_get_info(t, &in, &err), 0));
    cr_assert(eq(u64, in.segments, 0));
    uint64_t problems = 99;
    cr_assert(eq(int, tdx_store_check(t, NULL, NULL, &problems, &err), 0), "%s", err.msg);
    cr_assert(eq(u64, problems, 0));
    tdx_store_read_end(t);
    /* A merge with nothing to do is done at once. */
    cr_assert(eq(int, tdx_store_merge_step(s, &done, &err), 0));
    cr_assert(eq(int, done, 1));
    free(ref);
    model_free(&m);
    tdx_store_close(s);
    corpus_free(&c);
}

Test(store, a_merge_prepared_ahead_gives_the_same_index_used_or_not)
{
    /* tdx_store_merge_prepare starts the merge thread on a step that the
     * writer takes later, after other writes (the keys and hashes kept in
     * memory): the step must be the one the index then stands at, at the
     * start of a merge or inside one, and a store closed with a prepared
     * step unused must leave the index as it was. */
    uint64_t seed = tu_seed("store.merge_prepare"), r = seed;
    corpus c;
    corpus_make(&c, &r, 150);
    tdx_store *s = new_index(tu_path("prepref"));
    model m;
    model_init(&m);
    write_corpus(s, &m, &c, 9, 0, &r);
    char *ref = dump(s);
    tdx_store_close(s);
    model_free(&m);
    /* The same documents, and merge steps of about one term each. */
    const char *dir = tu_path("prep");
    tdx_store_opts o = {0, 1, 0, 64, 0};
    tdx_err err = {0};
    cr_assert(eq(int, tdx_store_open(dir, &o, &s, &err), 0), "%s", err.msg);
    tdx_store_schema sc = schema();
    cr_assert(eq(int, tdx_store_setup(s, &sc, &err), 0), "%s", err.msg);
    model_init(&m);
    write_corpus(s, &m, &c, 9, 0, &r);
    /* The new documents' keys and hashes are in memory until the commit. */
    cr_assert(gt(sz, tdx_store_deferred_bytes(s), 0));
    cr_assert(eq(int, tdx_store_merge_prepare(s, &err), 0), "%s", err.msg);
    cr_assert(eq(int, tdx_store_commit(s, &err), 0), "%s", err.msg);
    cr_assert(eq(sz, tdx_store_deferred_bytes(s), 0));
    int done = 0, pending = 0;
    size_t steps = 0;
    while (!done) {
        cr_assert(eq(int, tdx_store_merge_step(s, &done, &err), 0), "step %zu: %s", steps, err.msg);
        steps++;
        if (steps % 5 == 0 && !done) {
            /* Prepared inside the merge, then dropped unused, then again. */
            cr_assert(eq(int, tdx_store_merge_prepare(s, &err), 0), "%s", err.msg);
            if (steps % 10 == 0) {
                tdx_store_close(s);
                cr_assert(eq(int, tdx_store_open(dir, &o, &s, &err), 0), "%s", err.msg);
                cr_assert(eq(int, tdx_store_merge_pending(s, &pending, &err), 0));
                cr_assert(eq(int, pending, 1), "step %zu", steps);
                char *now = dump(s);
                cr_assert(eq(str, now, ref), "seed %llu: the dump changed at step %zu",
                          (unsigned long long)seed, steps);
                free(now);
                cr_assert(eq(int, tdx_store_merge_prepare(s, &err), 0), "%s", err.msg);
            }
        }
    }
    cr_assert(gt(sz, steps, 20), "only %zu steps: the chunk option had no effect", steps);
    char *after = dump(s);
    cr_assert(eq(str, after, ref), "seed %llu: a prepared merge changed the dump",
              (unsigned long long)seed);
    verify(s, &m);
    tdx_rtxn *t;
    uint64_t problems = 99;
    cr_assert(eq(int, tdx_store_read_begin(s, &t, &err), 0));
    cr_assert(eq(int, tdx_store_check(t, NULL, NULL, &problems, &err), 0), "%s", err.msg);
    cr_assert(eq(u64, problems, 0));
    tdx_store_read_end(t);
    /* Nothing left: preparing does nothing, and the merge is done at once. */
    cr_assert(eq(int, tdx_store_merge_prepare(s, &err), 0), "%s", err.msg);
    cr_assert(eq(int, tdx_store_merge_step(s, &done, &err), 0));
    cr_assert(eq(int, done, 1));
    free(after);
    free(ref);
    model_free(&m);
    tdx_store_close(s);
    corpus_free(&c);
}

/* n docs keyed pfx0, pfx1 …, doc i's text written by text_of (no metadata);
 * docs[0] is the array to free (sdocs_free). */
typedef void (*text_fn)(size_t i, uint64_t *r, char *buf, size_t cap);

static sdoc **sdocs_make(size_t n, uint64_t *r, const char *pfx, text_fn text_of)
{
    sdoc *docs = calloc(n, sizeof *docs);
    sdoc **ptr = calloc(n, sizeof *ptr);
    cr_assert(docs && ptr);
    for (size_t i = 0; i < n; i++) {
        char key[32], text[256];
        snprintf(key, sizeof key, "%s%zu", pfx, i);
        text_of(i, r, text, sizeof text);
        gen_doc(&docs[i], r, key, text);
        docs[i].nmeta = 0;
        ptr[i] = &docs[i];
    }
    return ptr;
}

static void sdocs_free(sdoc **ptr, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(ptr[i]->text);
    free(ptr[0]);
    free(ptr);
}

/* Every word term, through the dictionary walk: the obvious answer. */
typedef struct wlist {
    char **v;
    size_t n;
} wlist;

static int wlist_add(void *ctx, const uint8_t *term, size_t len)
{
    wlist *l = ctx;
    cr_assert(gt(sz, len, 1));
    cr_assert(eq(u8, term[0], 'w'));
    l->v = realloc(l->v, (l->n + 1) * sizeof *l->v);
    l->v[l->n] = strndup((const char *)term + 1, len - 1);
    l->n++;
    return 0;
}

static void wlist_free(wlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

/* tdx_store_words against filtering the dictionary by hand, for random
 * fragments (pieces of indexed words and strings found nowhere). */
static void words_check(tdx_store *s, uint64_t *r)
{
    tdx_err err = {0};
    tdx_rtxn *t = NULL;
    cr_assert(eq(int, tdx_store_read_begin(s, &t, &err), 0));
    wlist all = {0};
    cr_assert(eq(int, tdx_store_terms(t, 'w', NULL, 0, wlist_add, &all, &err), 0));
    cr_assert(gt(sz, all.n, 100));
    for (int q = 0; q < 300; q++) {
        char frag[16];
        if (q % 5 == 0) {
            snprintf(frag, sizeof frag, "%c%c", "ab01z"[rnd(r, 5)], "ab01z"[rnd(r, 5)]);
        } else {
            const char *w = all.v[rnd(r, all.n)];
            size_t wl = strlen(w), a = rnd(r, wl), b = a + 1 + rnd(r, wl - a);
            snprintf(frag, sizeof frag, "%.*s", (int)(b - a), w + a);
        }
        size_t fl = strlen(frag);
        int at_start = (int)rnd(r, 2), at_end = (int)rnd(r, 2);
        wlist got = {0};
        cr_assert(eq(int,
                     tdx_store_words(t, (const uint8_t *)frag, fl, at_start, at_end, wlist_add,
                                     &got, &err),
                     0),
                  "%s", err.msg);
        size_t k = 0;
        for (size_t i = 0; i < all.n; i++) {
            const char *w = all.v[i];
            size_t wl = strlen(w);
            int holds = wl >= fl && (!at_start || strncmp(w, frag, fl) == 0) &&
                        (!at_end || strcmp(w + wl - fl, frag) == 0) &&
                        (at_start || at_end || strstr(w, frag) != NULL) &&
                        (!(at_start && at_end) || wl == fl);
            if (!holds)
                continue;
            cr_assert(lt(sz, k, got.n), "'%s' (%d,%d): '%s' missing", frag, at_start, at_end, w);
            cr_assert(eq(str, got.v[k], (char *)w), "'%s' (%d,%d): word %zu", frag, at_start,
                      at_end, k);
            k++;
        }
        cr_assert(eq(sz, k, got.n), "'%s' (%d,%d): %zu words, expected %zu", frag, at_start,
                  at_end, got.n, k);
        wlist_free(&got);
    }
    wlist_free(&all);
    tdx_store_read_end(t);
}

/* Six short words of a few letters and digits between CJK, and one of
 * the doc's own. */
static void words_text(size_t i, uint64_t *r, char *text, size_t cap)
{
    size_t len = 0;
    for (int k = 0; k < 6; k++) {
        len += (size_t)snprintf(text + len, cap - len, "中文 ");
        for (size_t c = 1 + rnd(r, 8); c > 0; c--)
            text[len++] = "ab01z"[rnd(r, 5)];
        text[len++] = ' ';
    }
    snprintf(text + len, cap - len, "doc%zu", i);
}

/* A read transaction keeps one cursor for postings lookups (and one per
 * pending segment) and steps on from the last term when the next is a few
 * keys further: lookups in key order, backwards, far apart, in random
 * order, and in order mixed with lookups that stop early (up to a doc:
 * some segments are not visited), absent terms and jumps back must all
 * give what a fresh transaction gives, on a merged index and on one whose
 * postings are twelve pending segments. */
Test(store, postings_lookups_in_any_order_equal_fresh_lookups)
{
    uint64_t r = tu_seed("store.seqcursor");
    enum { N = 600, BATCHES = 12 };
    sdoc **ptr = sdocs_make(N, &r, "q", words_text);
    for (int segs = 0; segs < 2; segs++) {
        const char *dir = tu_path(segs ? "seq-segs" : "seq");
        tdx_store *s = new_index(dir);
        model m;
        model_init(&m);
        if (segs) {
            for (size_t b = 0; b < BATCHES; b++)
                write_both(s, &m, ptr + b * (N / BATCHES), N / BATCHES, 0);
        } else {
            write_both(s, &m, ptr, N, 0);
            merge_ok(s);
        }
        tdx_rtxn *t;
        tdx_err err = {0};
        cr_assert(eq(int, tdx_store_read_begin(s, &t, &err), 0), "%s", err.msg);
        size_t pending = 0;
        cr_assert(eq(int, tdx_store_pending_segments(s, &pending, &err), 0), "%s", err.msg);
        cr_assert(eq(sz, pending, segs ? BATCHES : 0));
        termlist l = {NULL, 0, 0};
        cr_assert(eq(int, tdx_store_terms(t, 'w', NULL, 0, collect_term, &l, &err), 0), "%s",
                  err.msg);
        cr_assert(gt(sz, l.n, 100));
        tdx_docset want = {0}, got = {0};
        for (int pass = 0; pass < 5; pass++) {
            tdx_rtxn *kept;
            cr_assert(eq(int, tdx_store_read_begin(s, &kept, &err), 0), "%s", err.msg);
            size_t asc = 0;
            for (size_t j = 0; j < l.n; j++) {
                /* ascending, descending, every 37th (far apart), random,
                 * and the mix */
                size_t i = pass == 0   ? j
                           : pass == 1 ? l.n - 1 - j
                           : pass == 2 ? (j * 37) % l.n
                                       : rnd(&r, l.n);
                int op = pass == 4 ? (int)rnd(&r, 4) : 0;
                if (op == 1 || op == 2)
                    i = asc < l.n ? asc++ : l.n - 1;
                uint8_t term[600];
                size_t tl = l.v[i].len;
                memcpy(term, l.v[i].term, tl);
                if (op == 2)
                    term[tl++] = 1; /* absent */
                uint32_t upto = op == 1 ? (uint32_t)rnd(&r, N + 2) : UINT32_MAX;
                tdx_rtxn *fresh; /* a transaction used for nothing else */
                cr_assert(eq(int, tdx_store_read_begin(s, &fresh, &err), 0), "%s", err.msg);
                cr_assert(eq(int, tdx_store_postings_upto(fresh, term, tl, upto, &want, &err), 0));
                tdx_store_read_end(fresh);
                cr_assert(eq(int, tdx_store_postings_upto(kept, term, tl, upto, &got, &err), 0));
                cr_assert(eq(sz, got.n, want.n), "segments %d pass %d term %zu op %d", segs, pass,
                          i, op);
                cr_assert(op != 0 || got.n > 0);
                cr_assert(eq(int, memcmp(got.v, want.v, got.n * sizeof *got.v), 0));
            }
            tdx_store_read_end(kept);
        }
        tdx_docset_free(&want);
        tdx_docset_free(&got);
        free(l.v);
        tdx_store_read_end(t);
        model_free(&m);
        tdx_store_close(s);
    }
    sdocs_free(ptr, N);
}

Test(store, words_holding_a_fragment_equal_the_dictionary_filtered)
{
    const char *dir = tu_path("words");
    tdx_store *s = new_index(dir);
    uint64_t r = tu_seed("store.words");
    enum { N = 901 }; /* the last for a run after the words table was lost */
    sdoc **ptr = sdocs_make(N, &r, "w", words_text);
    model m;
    model_init(&m);
    write_both(s, &m, ptr, 400, 0);
    merge_ok(s); /* the words table lists the main tree */
    write_both(s, &m, ptr + 400, 300, 0);
    cr_assert(gt(sz, pending(s), 0));
    words_check(s, &r); /* the table, and the words of a pending segment */
    merge_ok(s);
    write_both(s, &m, ptr + 700, N - 701, 0);
    merge_ok(s);
    words_check(s, &r);
    expect_clean(s);
    tdx_store_close(s);

    /* An index from before the words table opens read-only and answers
     * through the dictionary. */
    {
        MDB_env *env = raw_open(dir);
        MDB_txn *txn;
        MDB_dbi dbi;
        cr_assert(eq(int, mdb_txn_begin(env, NULL, 0, &txn), 0));
        cr_assert(eq(int, mdb_dbi_open(txn, "words", 0, &dbi), 0));
        cr_assert(eq(int, mdb_drop(txn, dbi, 1), 0));
        cr_assert(eq(int, mdb_txn_commit(txn), 0));
        mdb_env_close(env);
        s = open_store(dir, 1, 0);
        words_check(s, &r);
        expect_clean(s);
        tdx_store_close(s);
        /* A writer creates the table; the next merge fills it. */
        s = open_store(dir, 0, 0);
        write_both(s, &m, ptr + N - 1, 1, 0);
        merge_ok(s);
        words_check(s, &r);
        expect_clean(s);
        tdx_store_close(s);
    }

    /* A damaged word list is found by check. */
    uint8_t k[8], v[64];
    size_t kl;
    const char *tree = main_table(dir);
    uint8_t pre = (uint8_t)tree[strlen(tree) - 1];
    size_t vl = raw_first(dir, "words", &pre, 1, k, &kl, v, sizeof v);
    cr_assert(eq(sz, kl, 5));
    cr_assert(eq(u8, k[0], pre));
    cr_assert(gt(sz, vl, 4));
    v[0] = v[0] == 'z' ? 'a' : 'z';
    raw_set(dir, "words", k, kl, v, vl < sizeof v ? vl : sizeof v);
    lines l = {0};
    cr_assert(gt(u64, check_problems_at(dir, &l), 0));
    cr_assert(not(eq(ptr, strstr(l.p, "word list"), NULL)), "%s", l.p);
    free(l.p);
    model_free(&m);
    sdocs_free(ptr, N);
}

Test(store, text_with_a_dictionary_round_trips)
{
    uint64_t seed = tu_seed("store.dict"), r = seed;
    /* Enough similar texts to train on: boilerplate with varying parts. */
    enum { N = 300 };
    char **texts = calloc(N, sizeof *texts);
    size_t *sizes = calloc(N, sizeof *sizes);
    tdx_buf all = TDX_BUF_INIT;
    for (size_t i = 0; i < N; i++) {
        tdx_buf t = TDX_BUF_INIT;
        for (int k = 0; k < 40; k++) {
            char piece[200];
            gen_text(&r, piece, sizeof piece, 8);
            tdx_buf_printf(&t, "一、项目基本情况 项目编号：ZB%zu-%d 采购需求：%s\n", i, k, piece);
        }
        sizes[i] = t.len;
        tdx_buf_append(&all, t.p, t.len);
        texts[i] = (char *)tdx_buf_steal(&t, NULL);
    }
    tdx_err err = {0};
    tdx_store_dict *d = NULL;
    cr_assert(eq(int, tdx_store_dict_train(all.p, sizes, N, &d, &err), 0), "%s", err.msg);
    /* Too little to learn from is a clean "no dictionary". */
    tdx_store_dict *none = NULL;
    cr_assert(eq(int, tdx_store_dict_train(all.p, sizes, 3, &none, NULL), TDX_ENOTFOUND));
    cr_assert(eq(ptr, none, NULL));
    tdx_store_zctx *zd = NULL, *z0 = NULL;
    cr_assert(eq(int, tdx_store_zctx_create(d, &zd), 0));
    cr_assert(eq(int, tdx_store_zctx_create(NULL, &z0), 0));
    tdx_buf a = TDX_BUF_INIT, b = TDX_BUF_INIT;
    size_t with = 0, without = 0;
    for (size_t i = 0; i < N; i++) {
        cr_assert(eq(int, tdx_store_compress(zd, (uint8_t *)texts[i], sizes[i], &a, NULL), 0));
        cr_assert(eq(int, tdx_store_compress(z0, (uint8_t *)texts[i], sizes[i], &b, NULL), 0));
        with += a.len;
        without += b.len;
    }
    cr_assert(lt(sz, with * 10, without * 9), "dictionary: %zu bytes, none: %zu", with, without);
    /* Stored with the batch, then read back in another process' view. */
    const char *dir = tu_path("dict");
    tdx_store *s = new_index(dir);
    sdoc docs[4];
    sdoc *ptrs[4];
    for (int i = 0; i < 4; i++) {
        gen_doc(&docs[i], &r, i == 0 ? "k0" : i == 1 ? "k1" : i == 2 ? "k2" : "k3", texts[i]);
        ptrs[i] = &docs[i];
    }
    sbatch sbt;
    sbatch_make(&sbt, ptrs, 4);
    tdx_buf zs[4] = {TDX_BUF_INIT, TDX_BUF_INIT, TDX_BUF_INIT, TDX_BUF_INIT};
    for (int i = 0; i < 4; i++) {
        cr_assert(eq(int, tdx_store_compress(zd, (uint8_t *)texts[i], sizes[i], &zs[i], NULL),
                     0));
        sbt.docs[i].ztext = zs[i].p;
        sbt.docs[i].ztext_len = zs[i].len;
    }
    tdx_store_batch sb = as_batch(&sbt);
    sb.dict = d;
    cr_assert(eq(int, tdx_store_write_batch(s, &sb, 0, NULL, &err), 0), "%s", err.msg);
    tdx_store_close(s);
    s = open_store(dir, 1, 0);
    tdx_store_dict *loaded = NULL;
    cr_assert(eq(int, tdx_store_dict_load(s, &loaded, &err), 0), "%s", err.msg);
    tdx_rtxn *t;
    cr_assert(eq(int, tdx_store_read_begin(s, &t, &err), 0));
    tdx_buf out = TDX_BUF_INIT;
    for (uint32_t id = 1; id <= 4; id++) {
        cr_assert(eq(int, tdx_store_get_text(t, id, &out, &err), 0), "%s", err.msg);
        cr_assert(eq(sz, out.len, sizes[id - 1]));
        cr_assert(eq(int, memcmp(out.p, texts[id - 1], out.len), 0));
    }
    tdx_store_read_end(t);
    tdx_store_close(s);
    /* A second dictionary for the same index is refused. */
    s = open_store(dir, 0, 0);
    sdoc extra;
    gen_doc(&extra, &r, "k9", NULL);
    sdoc *ep = &extra;
    sbatch sb2;
    sbatch_make(&sb2, &ep, 1);
    tdx_store_batch b2 = as_batch(&sb2);
    b2.dict = d;
    cr_assert(ne(int, tdx_store_write_batch(s, &b2, 0, NULL, NULL), 0));
    tdx_store_close(s);
    /* Without the dictionary its frames cannot be read: corrupt, not a crash. */
    raw_set(dir, "meta", "zdict", 5, NULL, 0);
    s = open_store(dir, 1, 0);
    cr_assert(eq(int, tdx_store_read_begin(s, &t, &err), 0));
    cr_assert(eq(int, tdx_store_get_text(t, 1, &out, NULL), TDX_ECORRUPT));
    tdx_store_read_end(t);
    tdx_store_close(s);
    sbatch_free(&sb2);
    free(extra.text);
    for (int i = 0; i < 4; i++) {
        tdx_buf_free(&zs[i]);
        free(docs[i].text);
    }
    sbatch_free(&sbt);
    tdx_buf_free(&out);
    tdx_buf_free(&a);
    tdx_buf_free(&b);
    tdx_buf_free(&all);
    tdx_store_zctx_free(zd);
    tdx_store_zctx_free(z0);
    tdx_store_dict_free(d);
    tdx_store_dict_free(loaded);
    for (size_t i = 0; i < N; i++)
        tdx_free(texts[i]);
    free(texts);
    free(sizes);
}

static void long_text(size_t i, uint64_t *r, char *text, size_t cap)
{
    snprintf(text, cap, "中 w%zu", i);
}

Test(store, long_postings_lists_span_full_blocks)
{
    /* 2600 docs share 'u中'; written and merged in three parts.  A merge
     * copies blocks of at least half the limits as they are and joins the
     * shorter ones: 1500 -> 1024 + 476; the 476 reopened with the next
     * 500 -> 976; the next 600 copied -> 1024, 976, 600. */
    const char *dir = tu_path("idx");
    tdx_store *s = new_index(dir);
    enum { N = 2600 };
    uint64_t r = 11;
    sdoc **ptr = sdocs_make(N, &r, "d", long_text);
    model m;
    model_init(&m);
    /* A first segment longer than a block, then shorter ones. */
    static const size_t sizes[] = {1500, 500, 600};
    for (size_t i = 0, k = 0; k < 3; i += sizes[k++]) {
        write_both(s, &m, ptr + i, sizes[k], 0);
        merge_ok(s);
    }
    verify(s, &m);
    tdx_store_close(s);

    raw_cur rc0 = raw_cursor(dir, main_table(dir));
    MDB_cursor *cur = rc0.cur;
    MDB_val k, v;
    uint8_t term[64] = {0};
    size_t tlen = 0, blocks = 0, prev_n = 0, total = 0, long_blocks = 0;
    uint32_t prev_first = 0;
    int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
    while (rc == 0) {
        cr_assert(ge(sz, k.mv_size, 6));
        size_t tl = k.mv_size - 5;
        const uint8_t *kp = k.mv_data;
        cr_assert(eq(u8, kp[tl], 0));
        uint32_t first = tdx_be32_get(kp + tl + 1);
        uint64_t n = 0;
        cr_assert(gt(sz, tdx_varint_get(v.mv_data, (uint8_t *)v.mv_data + v.mv_size, &n), 0));
        cr_assert(ge(u64, n, 1));
        cr_assert(le(u64, n, 1024), "block of %llu docs", (unsigned long long)n);
        if (tl == tlen && memcmp(term, kp, tl) == 0) {
            /* Another block of the same term: the one before was at
             * least half full (these terms have no positions). */
            cr_assert(ge(sz, prev_n, 512));
            cr_assert(gt(u32, first, prev_first));
            blocks++;
        } else {
            blocks = 1;
            memcpy(term, kp, tl < sizeof term ? tl : sizeof term);
            tlen = tl;
            total = 0;
        }
        total += n;
        if (tl == 4 && memcmp(kp, "u中", 4) == 0) {
            static const size_t want[] = {1024, 976, 600};
            cr_assert(le(sz, blocks, 3));
            cr_assert(eq(u64, n, want[blocks - 1]), "block %zu of u中", blocks);
            long_blocks = blocks;
        }
        prev_n = (size_t)n;
        prev_first = first;
        rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
    }
    cr_assert(eq(int, rc, MDB_NOTFOUND));
    cr_assert(eq(sz, long_blocks, 3), "2600 docs in blocks of 1024, 976, 600");
    raw_cursor_close(&rc0);
    model_free(&m);
    sdocs_free(ptr, N);
}

/*
 * A positions cursor asked in increasing order, about docs that have the
 * term and docs that do not, across many main blocks and a segment not yet
 * merged, answers exactly what the text says: doc i (id i+1) holds 中文 at
 * characters a + 3j for j < k when i % 4 != 1.
 */
/*
 * The phrase walk over b文乙 (the lead) and a filter: b中文 is in every doc
 * that b文乙 is in (i % 4 != 1), so it never moves the walk and leaves it
 * after TDX_WALK_FILTER_CHECK docs; b甲中 is missing from one doc in seven
 * of those (i % 7 == 0) and stays.  The answers are the docs all hold,
 * filters flagged or not.
 */
static void phrase_walk_filter_check(tdx_store *s, size_t n)
{
    static const char *const terms[] = {"b文乙", "b中文", "b甲中"};
    tdx_err err = {0};
    tdx_rtxn *t = NULL;
    cr_assert(eq(int, tdx_store_read_begin(s, &t, &err), 0));
    for (int second = 1; second <= 2; second++)
        for (int flagged = 0; flagged < 2; flagged++) {
            tdx_poscur *c[2];
            for (int k = 0; k < 2; k++) {
                const char *tm = terms[k ? second : 0];
                cr_assert(eq(int,
                             tdx_store_poscur_open(t, (const uint8_t *)tm, strlen(tm), &c[k], &err),
                             0));
            }
            static const unsigned char filter[] = {0, 1};
            tdx_docset got = {0}, skip = {0};
            tdx_walk_stats ws = {0, 0};
            cr_assert(eq(int,
                         tdx_store_phrase_walk(c, flagged ? filter : NULL, 2, NULL, 0, &skip, 0,
                                               &got, &ws, &err),
                         0),
                      "%s", err.msg);
            size_t k = 0;
            for (size_t i = 0; i < n; i++) {
                if (i % 4 == 1 || (second == 2 && i % 7 == 0))
                    continue;
                cr_assert(lt(sz, k, got.n), "%s: doc %zu missing", terms[second], i + 1);
                cr_assert(eq(u32, got.v[k], (uint32_t)i + 1), "%s: answer %zu", terms[second], k);
                k++;
            }
            cr_assert(eq(sz, k, got.n), "%s: extra docs", terms[second]);
            cr_assert(gt(sz, k, TDX_WALK_FILTER_CHECK));
            cr_assert(eq(u64, ws.filters_dropped, (uint64_t)(flagged && second == 1)),
                      "%s flagged %d", terms[second], flagged);
            cr_assert(eq(u64, ws.checks, 0));
            tdx_docset_free(&got);
            for (int j = 0; j < 2; j++)
                tdx_store_poscur_close(c[j]);
        }
    tdx_store_read_end(t);
}

static void poscur_walk_check(tdx_store *s, size_t n, uint64_t seed)
{
    static const uint8_t term[] = "b中文";
    tdx_err err = {0};
    tdx_rtxn *t = NULL;
    cr_assert(eq(int, tdx_store_read_begin(s, &t, &err), 0));
    uint64_t r = seed;
    for (int round = 0; round < 40; round++) {
        tdx_poscur *pc = NULL;
        cr_assert(eq(int, tdx_store_poscur_open(t, term, sizeof term - 1, &pc, &err), 0));
        /* Strides from 1 (every doc) to long jumps over whole blocks. */
        size_t stride = 1 + rnd(&r, round < 4 ? 1 : (size_t)1 << (round % 12));
        for (size_t id = 1 + rnd(&r, stride); id <= n + 5; id += 1 + rnd(&r, stride)) {
            size_t i = id - 1;
            const uint32_t *pos;
            size_t np;
            int got = tdx_store_poscur_get(pc, (uint32_t)id, &pos, &np, &err);
            int want = i < n && i % 4 != 1;
            cr_assert(eq(int, got, want), "doc %zu (stride %zu): %d (%s)", id, stride, got,
                      err.msg);
            if (!want)
                continue;
            size_t a = i % 7, k = 1 + i % 9;
            cr_assert(eq(sz, np, k), "doc %zu", id);
            for (size_t j = 0; j < k; j++)
                cr_assert(eq(u32, pos[j], (uint32_t)(a + 3 * j)), "doc %zu pos %zu", id, j);
        }
        tdx_store_poscur_close(pc);
    }
    /* next(): the first doc at or after a target, then its positions,
     * through main blocks and segments alike. */
    for (int round = 0; round < 40; round++) {
        tdx_poscur *pc = NULL;
        cr_assert(eq(int, tdx_store_poscur_open(t, term, sizeof term - 1, &pc, &err), 0));
        size_t stride = 1 + rnd(&r, (size_t)1 << (round % 12));
        for (size_t id = 1 + rnd(&r, stride); id <= n + 5; id += rnd(&r, stride)) {
            uint32_t got_id = 0;
            int got = tdx_store_poscur_next(pc, (uint32_t)id, &got_id, &err);
            size_t want = id - 1;
            while (want < n && want % 4 == 1)
                want++;
            cr_assert(eq(int, got, want < n), "next(%zu): %d (%s)", id, got, err.msg);
            if (want >= n)
                break;
            cr_assert(eq(u32, got_id, (uint32_t)(want + 1)), "next(%zu)", id);
            const uint32_t *pos;
            size_t np;
            if (rnd(&r, 2)) {
                cr_assert(eq(int, tdx_store_poscur_get(pc, got_id, &pos, &np, &err), 1));
                cr_assert(eq(sz, np, 1 + want % 9));
                cr_assert(eq(u32, pos[0], (uint32_t)(want % 7)));
            }
            id = got_id + 1;
        }
        tdx_store_poscur_close(pc);
    }
    tdx_store_read_end(t);
}

/*
 * Every block of postings table `table` (keys: pre bytes of segment id,
 * term, 0x00, be32 first doc) within the limits: 1 to 1024 docs, at most
 * 1900 bytes unless it holds a single doc, first docs ascending within a
 * term.  Returns the size of the largest block seen.
 */
static size_t expect_blocks_within_limits(const char *dir, const char *table, size_t pre)
{
    raw_blocks rb = raw_blocks_open(dir, table, pre);
    MDB_val k, v;
    uint8_t last[600];
    size_t last_len = 0, largest = 0;
    uint32_t last_first = 0;
    while (raw_blocks_next(&rb, &k, &v)) {
        cr_assert(ge(sz, k.mv_size, pre + 6));
        cr_assert(lt(sz, k.mv_size, sizeof last));
        const uint8_t *kp = k.mv_data;
        size_t tl = k.mv_size - 4; /* with the prefix and the 0x00 */
        cr_assert(eq(u8, kp[tl - 1], 0));
        uint32_t first = tdx_be32_get(kp + tl);
        uint64_t n = 0;
        cr_assert(gt(sz, tdx_varint_get(v.mv_data, (uint8_t *)v.mv_data + v.mv_size, &n), 0));
        cr_assert(ge(u64, n, 1));
        cr_assert(le(u64, n, 1024));
        if (n > 1)
            cr_assert(le(sz, v.mv_size, 1900), "%s: a block of %zu bytes", table, v.mv_size);
        if (last_len == tl && memcmp(last, kp, tl) == 0)
            cr_assert(gt(u32, first, last_first));
        memcpy(last, kp, tl);
        last_len = tl;
        last_first = first;
        if (v.mv_size > largest)
            largest = v.mv_size;
    }
    raw_blocks_close(&rb);
    return largest;
}

/*
 * Every positional block of table (keys: pre bytes, term, 0x00, be32) read
 * by the grammar at the top of store.c: n, n-1 deltas, from format 3 on (n-1)/16
 * checkpoints, n payloads that end the block; each checkpoint is the bytes
 * of its group's payloads.  Returns how many blocks hold checkpoints.
 */
static size_t expect_block_grammar(const char *dir, const char *table, size_t pre, int format,
                                   size_t *out_shared)
{
    raw_blocks rb = raw_blocks_open(dir, table, pre);
    MDB_val k, v;
    size_t with = 0;
    while (raw_blocks_next(&rb, &k, &v)) {
        uint8_t cls = ((const uint8_t *)k.mv_data)[pre];
        if (cls != 'b' && cls != 'w')
            continue;
        const uint8_t *p = v.mv_data, *end = p + v.mv_size;
        uint64_t n = leb(&p, end);
        for (uint64_t i = 1; i < n; i++)
            cr_assert(gt(u64, leb(&p, end), 0));
        uint64_t ck[64];
        size_t nck = format >= 3 ? (size_t)(n - 1) / 16 : 0;
        cr_assert(le(sz, nck, 64));
        for (size_t j = 0; j < nck; j++)
            ck[j] = leb(&p, end);
        with += nck > 0;
        const uint8_t *group = p;
        for (uint64_t i = 0; i < n; i++) {
            if (i && i % 16 == 0 && i / 16 <= nck) {
                cr_assert(eq(u64, ck[i / 16 - 1], (uint64_t)(p - group)),
                          "checkpoint %" PRIu64 " of a block of %" PRIu64, i / 16, n);
                group = p;
            }
            uint64_t h = leb(&p, end);
            uint64_t more = h & 1 ? leb(&p, end) : 0;
            for (uint64_t j = 0; j < more; j++)
                cr_assert(gt(u64, leb(&p, end), 0));
        }
        cr_assert(eq(ptr, (void *)p, (void *)end), "payloads end the block");
    }
    if (out_shared)
        *out_shared = rb.entries;
    raw_blocks_close(&rb);
    return with;
}

/* A checkpoint one byte off (b中文's first block): check reports the block. */
static void expect_bad_checkpoint_checked(const char *dir)
{
    static const uint8_t term[] = "b中文";
    uint8_t key[600], val[4096];
    size_t klen = 0;
    size_t vlen =
        raw_first(dir, main_table(dir), term, sizeof term - 1, key, &klen, val, sizeof val);
    const uint8_t *p = val, *end = val + vlen;
    uint64_t n = leb(&p, end);
    cr_assert(gt(u64, n, 16));
    for (uint64_t i = 1; i < n; i++)
        leb(&p, end);
    uint8_t *ck = val + (p - val);
    cr_assert(lt(u8, *ck, 0x7e), "a one-byte checkpoint");
    (*ck)++;
    raw_set(dir, main_table(dir), key, klen, val, vlen);
    lines l = {0};
    cr_assert(gt(u64, check_problems_at(dir, &l), 0));
    cr_assert(strstr(l.p, "checkpoints that do not fit") != NULL, "%s", l.p);
    free(l.p);
}

/*
 * A doc delta of 0 among one-byte deltas (b文乙's first block, where the
 * reader takes eight at a time): check reports the block; put back, the
 * index checks clean again.
 */
static void expect_zero_delta_checked(const char *dir)
{
    static const uint8_t term[] = "b文乙";
    uint8_t key[600], val[4096], was[4096];
    size_t klen = 0;
    size_t vlen =
        raw_first(dir, main_table(dir), term, sizeof term - 1, key, &klen, val, sizeof val);
    memcpy(was, val, vlen);
    const uint8_t *p = val, *end = val + vlen;
    uint64_t n = leb(&p, end);
    cr_assert(gt(u64, n, 12));
    for (size_t i = 0; i < 10; i++)
        cr_assert(lt(u8, p[i], 0x80), "one-byte deltas");
    val[(p - val) + 4] = 0;
    raw_set(dir, main_table(dir), key, klen, val, vlen);
    lines l = {0};
    cr_assert(gt(u64, check_problems_at(dir, &l), 0));
    cr_assert(strstr(l.p, "postings of a term are corrupt") != NULL, "%s", l.p);
    free(l.p);
    raw_set(dir, main_table(dir), key, klen, was, vlen);
    cr_assert(eq(u64, check_problems_at(dir, NULL), 0));
}

static void positions_text(size_t i, uint64_t *r, char *text, size_t cap)
{
    size_t len = 0;
    for (size_t a = 0; a < i % 7; a++)
        len += (size_t)snprintf(text + len, cap - len, "甲");
    if (i % 4 == 1)
        len += (size_t)snprintf(text + len, cap - len, "乙丙");
    else
        for (size_t j = 0; j < 1 + i % 9; j++)
            len += (size_t)snprintf(text + len, cap - len, "中文乙");
    snprintf(text + len, cap - len, " x%zu", i); /* no two texts alike */
}

/*
 * In both formats (4: positional blocks with checkpoints, short lists of a
 * segment in shared values; 2: neither, as an older tenderidx wrote them),
 * positions read alike whatever the strides; every block follows the
 * format's grammar, and format 4's blocks of more than 16 docs hold
 * checkpoints.
 */
Test(store, positions_cursor_steps_and_skips_through_blocks_and_segments)
{
    for (new_format = 2; new_format <= 4; new_format += 2) {
        const char *dir = tu_path(new_format == 2 ? "idx2" : "idx4");
        tdx_store *s = new_index(dir);
        enum { N = 3000 };
        uint64_t r = 5;
        sdoc **ptr = sdocs_make(N, &r, "p", positions_text);
        model m;
        model_init(&m);
        write_both(s, &m, ptr, 1200, 0);
        write_both(s, &m, ptr + 1200, 1000, 0);
        merge_ok(s);
        /* Segments: a long one, one doc without the term (2201 % 4 == 1: a
         * segment the term skips), single docs, then the rest. */
        write_both(s, &m, ptr + 2200, 1, 0);
        write_both(s, &m, ptr + 2201, 1, 0);
        write_both(s, &m, ptr + 2202, 1, 0);
        write_both(s, &m, ptr + 2203, 500, 0);
        write_both(s, &m, ptr + 2703, N - 2703, 0);
        cr_assert(eq(sz, pending(s), 5));
        poscur_walk_check(s, N, 1);
        verify(s, &m); /* doc lists through segments of several blocks a term */
        /* Half-merged (terms below the merge's split key in the new tree, the
         * rest in the old one, both with segments), step after step. */
        tdx_store_close(s);
        /* Segments are cut into blocks as the main tree is. */
        cr_assert(gt(sz, expect_blocks_within_limits(dir, "postseg", 4), 1500));
        size_t shared = 0;
        size_t with = expect_block_grammar(dir, "postseg", 4, new_format, &shared);
        cr_assert(new_format == 4 ? with > 0 : with == 0, "%zu blocks with checkpoints", with);
        /* Format 4 gathers short lists into shared values; format 2 cannot. */
        cr_assert(new_format == 4 ? shared > 100 : shared == 0, "%zu shared entries", shared);
        tdx_store_opts o = {0, 0, 0, 64, 0};
        tdx_err err = {0};
        cr_assert(eq(int, tdx_store_open(dir, &o, &s, &err), 0), "%s", err.msg);
        tdx_rtxn *t = NULL;
        tdx_store_info in;
        cr_assert(eq(int, tdx_store_read_begin(s, &t, &err), 0));
        cr_assert(eq(int, tdx_store_get_info(t, &in, &err), 0));
        cr_assert(eq(u32, in.format, (uint32_t)new_format));
        tdx_store_read_end(t);
        int done = 0;
        size_t steps = 0;
        while (!done) {
            cr_assert(eq(int, tdx_store_merge_step(s, &done, &err), 0), "%s", err.msg);
            if (steps++ % 4 == 0)
                poscur_walk_check(s, N, 10 + steps);
        }
        cr_assert(gt(sz, steps, 3), "only %zu merge steps", steps);
        poscur_walk_check(s, N, 2);
        phrase_walk_filter_check(s, N);
        verify(s, &m);
        expect_clean(s);
        tdx_store_close(s);
        cr_assert(gt(sz, expect_blocks_within_limits(dir, main_table(dir), 0), 1500));
        with = expect_block_grammar(dir, main_table(dir), 0, new_format, NULL);
        cr_assert(new_format == 4 ? with > 0 : with == 0, "%zu blocks with checkpoints", with);
        expect_zero_delta_checked(dir);
        if (new_format == 4)
            expect_bad_checkpoint_checked(dir);
        model_free(&m);
        sdocs_free(ptr, N);
    }
}

/* Sum of the value sizes of table db. */
static size_t table_bytes(const char *dir, const char *db)
{
    raw_cur rc0 = raw_cursor(dir, db);
    MDB_val k, v;
    size_t sum = 0;
    int rc = mdb_cursor_get(rc0.cur, &k, &v, MDB_FIRST);
    for (; rc == 0; rc = mdb_cursor_get(rc0.cur, &k, &v, MDB_NEXT))
        sum += v.mv_size;
    cr_assert(eq(int, rc, MDB_NOTFOUND));
    raw_cursor_close(&rc0);
    return sum;
}

/* positions_text, and a word every document holds. */
static void positions_word_text(size_t i, uint64_t *r, char *text, size_t cap)
{
    positions_text(i, r, text, cap);
    size_t len = strlen(text);
    snprintf(text + len, cap - len, " gpu");
}

/*
 * A merge step holds about a chunk whatever a term's size: a term whose
 * postings are many chunks long is cut inside (the merge state then names
 * the term and a doc), and the index half-merged there reads as before,
 * doc lists, positions and all; a word cut so is listed once.
 */
Test(store, merge_steps_cut_inside_a_term_larger_than_a_step)
{
    const char *dir = tu_path("idx");
    tdx_store *s = new_index(dir);
    enum { N = 6000, CHUNK = 2048 };
    uint64_t r = 11;
    sdoc **ptr = sdocs_make(N, &r, "p", positions_word_text);
    model m;
    model_init(&m);
    write_both(s, &m, ptr, 2000, 0);
    merge_ok(s);
    write_both(s, &m, ptr + 2000, 2500, 0);
    write_both(s, &m, ptr + 4500, N - 4500, 0);
    char *ref = dump(s);
    tdx_store_close(s);
    tdx_store_opts o = {0, 0, 0, CHUNK, 0};
    tdx_err err = {0};
    int done = 0;
    size_t steps = 0, in_term = 0, before = 0, most = 0;
    while (!done) {
        cr_assert(eq(int, tdx_store_open(dir, &o, &s, &err), 0), "%s", err.msg);
        cr_assert(eq(int, tdx_store_merge_step(s, &done, &err), 0), "%s", err.msg);
        steps++;
        if (steps % 8 == 0 || done) {
            char *now = dump(s);
            cr_assert(eq(str, now, ref), "the dump changed after step %zu", steps);
            free(now);
            poscur_walk_check(s, N, steps);
            expect_clean(s);
        }
        tdx_store_close(s);
        if (done)
            break;
        uint8_t k[16], v[600];
        size_t kl, vl = raw_first(dir, "meta", "merge", 5, k, &kl, v, sizeof v);
        cr_assert(eq(sz, kl, 5), "no merge state after step %zu", steps);
        cr_assert(memcmp(k, "merge", 5) == 0);
        cr_assert(ge(sz, vl, 5));
        if (v[0] == 'A' || v[0] == 'B') {
            /* term 0x00 be32(doc) */
            cr_assert(ge(sz, vl, 5 + 6));
            cr_assert(eq(u8, v[vl - 5], 0));
            cr_assert(gt(u32, tdx_be32_get(v + vl - 4), 0));
            in_term++;
        }
        /* What a step adds to the new tree: the chunk, one block past it,
         * and the short blocks it joined (one a stream at most). */
        const char *dst = v[0] == 'a' || v[0] == 'A' ? "post.a" : "post.b";
        size_t now = table_bytes(dir, dst), added = now - before;
        if (added > most)
            most = added;
        before = now;
    }
    cr_assert(le(sz, most, CHUNK + 4 * 1900), "a step added %zu bytes", most);
    cr_assert(ge(sz, in_term, 10), "the merge stopped inside a term %zu times", in_term);
    cr_assert(eq(int, tdx_store_open(dir, &o, &s, &err), 0), "%s", err.msg);
    verify(s, &m);
    expect_clean(s); /* the word list among the rest */
    tdx_store_close(s);
    expect_blocks_within_limits(dir, main_table(dir), 0);
    free(ref);
    model_free(&m);
    sdocs_free(ptr, N);
}

/* ---- map growth ---------------------------------------------------------------------- */

/* n docs of ~len bytes each: punctuation that zstd cannot squeeze much,
 * with a distinct word every 50 bytes or so (many terms for the postings). */
static void big_docs(sdoc *docs, sdoc **ptr, size_t n, size_t len, uint64_t *r, const char *pfx)
{
    static const char punct[] = " !\"#$%&'()*+,-./:;<=>?@[]^_`{|}~";
    for (size_t i = 0; i < n; i++) {
        char key[32];
        snprintf(key, sizeof key, "%s%zu", pfx, i);
        gen_doc(&docs[i], r, key, "");
        free(docs[i].text);
        docs[i].text = malloc(len + 1);
        for (size_t k = 0; k < len;) {
            if (rnd(r, 50) == 0 && k + 10 < len) {
                k += (size_t)snprintf(docs[i].text + k, 10, " x%06zx", rnd(r, 1 << 24));
                continue;
            }
            docs[i].text[k++] = punct[rnd(r, sizeof punct - 1)];
        }
        docs[i].text[len] = 0;
        docs[i].text_len = len;
        tdx_hash128(docs[i].text, len, docs[i].hash);
        docs[i].nhits = 0;
        ptr[i] = &docs[i];
    }
}

static void free_docs(sdoc *docs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(docs[i].text);
}

Test(store, map_grows_when_full_from_environment_setting)
{
    setenv("TENDERIDX_MAP_SIZE", "1048576", 1);
    const char *dir = tu_path("idx");
    tdx_store *s = new_index(dir);
    enum { N = 40 };
    sdoc docs[N];
    sdoc *ptr[N];
    uint64_t r = 1;
    big_docs(docs, ptr, N, 100000, &r, "big");
    model m;
    model_init(&m);
    /* 4 MB of text in one batch, then in several. */
    write_both(s, &m, ptr, N / 2, 0);
    for (size_t i = N / 2; i < N; i += 5)
        write_both(s, &m, ptr + i, 5, 0);
    tdx_rtxn *t = NULL;
    cr_assert(eq(int, tdx_store_read_begin(s, &t, NULL), 0));
    tdx_store_info info;
    cr_assert(eq(int, tdx_store_get_info(t, &info, NULL), 0));
    cr_assert(gt(u64, info.file_bytes, 1048576));
    tdx_store_read_end(t);
    verify(s, &m);
    tdx_store_close(s);
    /* Reopened with the tiny setting: the map is the file's size, and
     * merging (which copies every postings list) must grow it again. */
    struct stat st0, st1;
    cr_assert(eq(int, stat(tu_path("idx/data.mdb"), &st0), 0));
    s = open_store(dir, 0, 0);
    merge_ok(s);
    cr_assert(eq(int, stat(tu_path("idx/data.mdb"), &st1), 0));
    cr_assert(gt(i64, (int64_t)st1.st_size, (int64_t)st0.st_size), "the merge grew the map");
    verify(s, &m);
    tdx_store_close(s);
    unsetenv("TENDERIDX_MAP_SIZE");
    model_free(&m);
    free_docs(docs, N);
}

Test(store, map_grows_when_full_from_options)
{
    const char *dir = tu_path("idx");
    tdx_store *s = open_store(dir, 0, 1 << 20);
    tdx_store_schema sc = schema();
    cr_assert(eq(int, tdx_store_setup(s, &sc, NULL), 0));
    enum { N = 30 };
    sdoc docs[N];
    sdoc *ptr[N];
    uint64_t r = 2;
    big_docs(docs, ptr, N, 100000, &r, "o");
    model m;
    model_init(&m);
    /* A reader holds a snapshot while the writer grows the map. */
    tdx_rtxn *t = NULL;
    cr_assert(eq(int, tdx_store_read_begin(s, &t, NULL), 0));
    write_both(s, &m, ptr, N, 0);
    tdx_store_info info;
    cr_assert(eq(int, tdx_store_get_info(t, &info, NULL), 0));
    cr_assert(eq(u64, info.docs, 0));
    tdx_store_read_end(t);
    verify(s, &m);
    tdx_store_close(s);
    /* An explicit tiny map on an existing bigger index opens fine. */
    s = open_store(dir, 1, 1 << 20);
    verify(s, &m);
    tdx_store_close(s);
    model_free(&m);
    free_docs(docs, N);
}

Test(store, reader_adopts_a_map_grown_by_another_process)
{
    const char *dir = tu_path("idx");
    tdx_store *s = new_index(dir);
    tdx_store_close(s);
    s = open_store(dir, 1, 1 << 20);
    pid_t pid = fork();
    cr_assert(ge(int, pid, 0));
    if (pid == 0) {
        /* The child writes 3 MB, growing the map past the reader's. */
        tdx_store *w = NULL;
        tdx_store_opts o = {0, 0, 1 << 20, 0, 0};
        if (tdx_store_open(dir, &o, &w, NULL))
            _exit(2);
        enum { N = 30 };
        sdoc docs[N];
        sdoc *ptr[N];
        uint64_t r = 3;
        big_docs(docs, ptr, N, 100000, &r, "c");
        sbatch b;
        sbatch_make(&b, ptr, N);
        tdx_store_batch sb = as_batch(&b);
        int rc = tdx_store_write_batch(w, &sb, 0, NULL, NULL);
        tdx_store_close(w);
        _exit(rc ? 1 : 0);
    }
    int status = 0;
    cr_assert(eq(int, waitpid(pid, &status, 0), pid));
    int child_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    cr_assert(eq(int, child_ok, 1), "child status %d", status);
    tdx_rtxn *t = NULL;
    tdx_err err = {0};
    cr_assert(eq(int, tdx_store_read_begin(s, &t, &err), 0), "%s", err.msg);
    tdx_store_info info;
    cr_assert(eq(int, tdx_store_get_info(t, &info, NULL), 0));
    cr_assert(eq(u64, info.docs, 30));
    tdx_buf text = TDX_BUF_INIT;
    cr_assert(eq(int, tdx_store_get_text(t, 30, &text, NULL), 0));
    cr_assert(eq(sz, text.len, 100000));
    tdx_buf_free(&text);
    tdx_store_read_end(t);
    tdx_store_close(s);
}

/* ---- snapshots ------------------------------------------------------------------------ */

Test(store, a_read_transaction_is_a_snapshot)
{
    tdx_store *s = new_index(tu_path("idx"));
    uint64_t r = 8;
    sdoc d[3];
    gen_doc(&d[0], &r, "a", "first 中国");
    gen_doc(&d[1], &r, "b", "second 大学");
    gen_doc(&d[2], &r, "a", "third 采购");
    sdoc *p[3] = {&d[0], &d[1], &d[2]};
    model m;
    model_init(&m);
    write_both(s, &m, p, 1, 0);
    tdx_rtxn *old = NULL;
    cr_assert(eq(int, tdx_store_read_begin(s, &old, NULL), 0));
    write_both(s, &m, p + 1, 2, 1);
    merge_ok(s);
    tdx_store_info info;
    cr_assert(eq(int, tdx_store_get_info(old, &info, NULL), 0));
    cr_assert(eq(u64, info.docs, 1));
    cr_assert(eq(u64, info.next_doc, 2));
    cr_assert(eq(u64, info.segments, 1), "the snapshot still has its segment");
    tdx_store_docinfo di;
    cr_assert(eq(int, tdx_store_get_doc(old, 1, &di, NULL), 0));
    cr_assert(eq(int, di.deleted, 0));
    cr_assert(eq(int, tdx_store_get_doc(old, 2, &di, NULL), TDX_ENOTFOUND));
    tdx_docset ds = {0};
    cr_assert(eq(int, tdx_store_postings(old, (const uint8_t *)"wfirst", 6, &ds, NULL), 0));
    cr_assert(eq(sz, ds.n, 1));
    cr_assert(eq(int, tdx_store_postings(old, (const uint8_t *)"wthird", 6, &ds, NULL), 0));
    cr_assert(eq(sz, ds.n, 0));
    tdx_docset_free(&ds);
    uint32_t id = 0;
    cr_assert(eq(int, tdx_store_find_key(old, "b", 1, &id, NULL), TDX_ENOTFOUND));
    tdx_store_read_end(old);
    verify(s, &m);
    tdx_store_close(s);
    model_free(&m);
    for (int i = 0; i < 3; i++)
        free(d[i].text);
}

/* ---- damaged values --------------------------------------------------------------------- */

typedef struct damage {
    const char *name;
    const char *table; /* NULL: the main postings table */
    uint32_t id;       /* be32 key, or 0: the first record */
    const char *val;
    size_t vlen; /* 0 with val: truncate the existing value to half */
    /* In a segment, whose first key is a shared value, the damage is done
     * to its first entry's block, which becomes the value's one entry; or
     * else to the value itself: 1 cut to half, 2 emptied, 3 a byte short
     * (the term read is the last entry's for 1 and 3). */
    int whole;
} damage;

static void be32(uint8_t *p, uint32_t v)
{
    tdx_be32_put(p, v);
}

/* A small clean index, merged (merge = 1) or with segments pending;
 * returns the next doc id. */
static uint32_t small_index(const char *dir, int merge)
{
    uint64_t r = 4242;
    tdx_store *s = new_index(dir);
    corpus c;
    corpus_make(&c, &r, 30);
    model m;
    model_init(&m);
    write_corpus(s, &m, &c, 6, 0, &r);
    if (merge)
        merge_ok(s);
    tdx_err err = {0};
    cr_assert(eq(int, tdx_store_commit(s, &err), 0), "%s", err.msg); /* content hashes written */
    expect_clean(s);
    tdx_store_close(s);
    uint32_t next = (uint32_t)m.next;
    model_free(&m);
    corpus_free(&c);
    return next;
}

/* A copy of the index in `from` (no environment open on it). */
static void copy_index(const char *from, const char *to)
{
    char src[4200], dst[4200];
    snprintf(src, sizeof src, "%s/data.mdb", from);
    snprintf(dst, sizeof dst, "%s/data.mdb", to);
    size_t len = 0;
    char *data = tu_read_file(src, &len);
    cr_assert(data != NULL);
    cr_assert(eq(int, mkdir(to, 0777), 0));
    tu_write_file(dst, data, len);
    free(data);
}

/* Every reader that touches the damaged record reports TDX_ECORRUPT. */
static void expect_readers_see(tdx_store *s, const damage *dm, uint32_t id, const uint8_t *term,
                               size_t tlen)
{
    tdx_rtxn *t = NULL;
    cr_assert(eq(int, tdx_store_read_begin(s, &t, NULL), 0));
    tdx_err err = {0};
    int rc = 0;
    const char *tb = dm->table ? dm->table : "post";
    if (strcmp(tb, "docs") == 0) {
        tdx_store_docinfo di;
        rc = tdx_store_get_doc(t, id, &di, &err);
    } else if (strcmp(tb, "text") == 0) {
        tdx_buf b = TDX_BUF_INIT;
        rc = tdx_store_get_text(t, id, &b, &err);
        tdx_buf_free(&b);
    } else if (strcmp(tb, "hits") == 0) {
        tdx_store_hit *h = NULL;
        size_t n = 0, cap = 0;
        rc = tdx_store_get_hits(t, id, &h, &n, &cap, &err);
        free(h);
    } else if (strcmp(tb, "keys") == 0) {
        uint32_t got;
        rc = tdx_store_find_key(t, (const char *)term, tlen, &got, &err);
    } else if (strcmp(tb, "dates") == 0) {
        uint32_t dates[64];
        rc = tdx_store_dates(t, dates, 64, &err);
    } else if (strcmp(tb, "inputs") == 0) {
        tdx_store_input in;
        rc = tdx_store_get_input(t, "in/x", &in, &err);
    } else if (strcmp(tb, "patterns") == 0 || strcmp(tb, "entities") == 0) {
        tdx_store_schema_view v;
        rc = tdx_store_get_schema(t, &v, &err);
    } else if (strcmp(tb, "meta") == 0) {
        tdx_store_info in;
        rc = tdx_store_get_info(t, &in, &err);
    } else {
        tdx_docset d = {0};
        rc = tdx_store_postings(t, term, tlen, &d, &err);
        /* Doc lists are read without the positions stored after them
         * (blocks are columnar): damage there shows when positions are read. */
        if (rc == 0 && tdx_term_positional(term[0])) {
            tdx_poscur *pc = NULL;
            cr_assert(eq(int, tdx_store_poscur_open(t, term, tlen, &pc, &err), 0));
            for (size_t i = 0; rc == 0 && i < d.n; i++) {
                const uint32_t *pos;
                size_t np;
                int got = tdx_store_poscur_get(pc, d.v[i], &pos, &np, &err);
                rc = got < 0 ? got : 0;
            }
            tdx_store_poscur_close(pc);
        }
        tdx_docset_free(&d);
    }
    cr_assert(eq(int, rc, TDX_ECORRUPT), "%s: got %d (%s)", dm->name, rc, err.msg);
    cr_assert(eq(int, err.code, TDX_ECORRUPT));
    cr_assert(gt(sz, strlen(err.msg), 0));
    tdx_store_read_end(t);
}

Test(store, damaged_values_are_ecorrupt_and_checked)
{
    static const damage cases[] = {
        {"doc record truncated", "docs", 3, "", 0, 0},
        {"doc record garbage", "docs", 3, "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 11, 0},
        {"doc record version 2", "docs", 3, "\x02", 1, 0},
        {"doc record with trailing bytes", "docs", 3, NULL, 0, 0},
        {"text not zstd", "text", 3, "hello world", 11, 0},
        {"text frame truncated", "text", 3, "", 0, 0},
        {"hits count too large", "hits", 3, "\xff\xff\x03", 3, 0},
        {"hits truncated", "hits", 3, "\x02\x01\x01", 3, 0},
        {"hits trailing bytes", "hits", 3, "\x00\x00", 2, 0},
        {"key record short", "keys", 0, "\x00\x00\x01", 3, 0},
        {"dates block short", "dates", 0, "\x00\x00\x00\x01", 4, 0},
        {"input record garbage", "inputs", 0, "\xff", 1, 0},
        {"pattern record garbage", "patterns", 0, "\xff\xff", 2, 0},
        {"entity with unknown category", "entities", 0, "\x09x", 2, 0},
        {"counts garbage", "meta", 0, "\xff", 1, 0},
        {"postings block truncated", NULL, 0, "", 0, 0},
        {"postings block empty", NULL, 0, "\x00", 1, 0},
        {"postings block repeats a doc", NULL, 0, "\x02\x00", 2, 0},
        {"postings block too long", NULL, 0, "\x05\x01\x01", 3, 0},
        {"segment block truncated", "postseg", 0, "", 0, 0},
        {"segment block beyond ids", "postseg", 0, "\x02\xff\xff\xff\xff\x0f\x01", 7, 0},
        {"shared value truncated", "postseg", 0, "", 0, 1},
        {"shared value empty", "postseg", 0, "", 0, 2},
        {"shared value's last entry past its end", "postseg", 0, "", 0, 3},
    };
    /* Two clean indexes, copied for each case: segments pending, merged. */
    for (int merged = 0; merged < 2; merged++)
        small_index(tu_path(merged ? "base1" : "base0"), merged);
    for (size_t ci = 0; ci < sizeof cases / sizeof *cases; ci++) {
        const damage *dm = &cases[ci];
        char name[32];
        snprintf(name, sizeof name, "idx%zu", ci);
        const char *dir = tu_path(name);
        int segs = dm->table && strcmp(dm->table, "postseg") == 0;
        copy_index(tu_path(segs ? "base0" : "base1"), dir);
        const char *table = dm->table ? dm->table : main_table(dir);
        uint8_t key[600], val[4096];
        size_t klen = 0, vlen;
        uint8_t lterm[600]; /* a shared value's last entry's term */
        size_t ltlen = 0, wlen = 0;
        if (strcmp(table, "inputs") == 0) {
            memcpy(key, "in/x", 4);
            klen = 4;
            raw_set(dir, table, key, klen, dm->val, dm->vlen);
        } else {
            if (dm->id) {
                be32(key, dm->id);
                klen = 4;
                vlen = raw_first(dir, table, key, 4, key, &klen, val, sizeof val);
                cr_assert(eq(u32, tdx_be32_get(key), dm->id));
            } else if (strcmp(table, "meta") == 0) {
                vlen = raw_first(dir, table, "counts", 6, key, &klen, val, sizeof val);
            } else {
                vlen = raw_first(dir, table, NULL, 0, key, &klen, val, sizeof val);
            }
            /* A shared value: its entries read, the first's block kept. */
            uint8_t shared_val[sizeof val], whole_val[sizeof val];
            size_t nent = 0;
            int shared = segs && is_shared_key(key, klen, 4);
            if (shared) {
                cr_assert(lt(sz, vlen, sizeof val));
                memcpy(whole_val, val, vlen);
                wlen = vlen;
                ltlen = klen - 9;
                memcpy(lterm, key + 4, ltlen);
                shared_rd sr;
                shared_open(&sr, lterm, ltlen, whole_val, vlen);
                MDB_val blk;
                uint64_t fd;
                size_t blen0 = 0;
                for (; shared_next(&sr, &fd, &blk); nent++) {
                    if (nent == 0) {
                        memcpy(val, blk.mv_data, blk.mv_size);
                        blen0 = blk.mv_size;
                    }
                }
                memcpy(lterm, sr.term, sr.tlen);
                ltlen = sr.tlen;
                cr_assert(ge(sz, nent, 2), "a shared value of %zu entries", nent);
                vlen = blen0;
            }
            const void *nv = dm->val;
            size_t nl = dm->vlen;
            if (dm->val == NULL) {
                val[vlen] = 0; /* one byte more */
                nv = val;
                nl = vlen + 1;
            } else if (dm->vlen == 0) {
                nv = val;
                nl = vlen / 2;
            }
            if (shared && !dm->whole) {
                nl = shared_of_one(shared_val, klen - 9, nv, nl);
                nv = shared_val;
            } else if (shared) {
                nv = whole_val;
                nl = dm->whole == 1 ? wlen / 2 : dm->whole == 2 ? 0 : wlen - 1;
            }
            raw_set(dir, table, key, klen, nv, nl);
        }
        /* The term whose postings were damaged, for the postings reader. */
        const uint8_t *term = key;
        size_t tlen = klen;
        if (dm->table == NULL) {
            tlen = klen - 5;
        } else if (segs && (dm->whole == 1 || dm->whole == 3)) {
            term = lterm; /* the shared value's last entry */
            tlen = ltlen;
        } else if (segs) {
            term = key + 4; /* be32(seg) term 0x00 be32(first) */
            tlen = klen - 9;
        }
        tdx_store *s = open_store(dir, 1, 0);
        expect_readers_see(s, dm, dm->id, term, tlen);
        /* The integrity check names the damage (or cannot read the counts). */
        tdx_rtxn *t = NULL;
        cr_assert(eq(int, tdx_store_read_begin(s, &t, NULL), 0));
        lines l = {0};
        uint64_t problems = 0;
        tdx_err err = {0};
        int rc = tdx_store_check(t, line_fn, &l, &problems, &err);
        if (strcmp(table, "meta") == 0) {
            cr_assert(eq(int, rc, TDX_ECORRUPT), "%s", dm->name);
        } else if (strcmp(table, "dates") == 0 || strcmp(table, "inputs") == 0) {
            /* Dates and inputs are not part of the check. */
            cr_assert(eq(int, rc, 0));
        } else {
            cr_assert(eq(int, rc, 0), "%s: %s", dm->name, err.msg);
            cr_assert(gt(u64, problems, 0), "%s: check finds nothing", dm->name);
            cr_assert(eq(u64, problems, l.n));
        }
        free(l.p);
        /* Dump stops with the error instead of printing garbage. */
        l = (lines){0};
        tdx_err_clear(&err);
        rc = tdx_store_dump(t, line_fn, &l, &err);
        /* Dates are not dumped; keys and inputs are dumped as raw records. */
        if (strcmp(table, "dates") && strcmp(table, "inputs") && strcmp(table, "keys"))
            cr_assert(eq(int, rc, TDX_ECORRUPT), "%s: dump gives %d", dm->name, rc);
        free(l.p);
        tdx_store_read_end(t);
        tdx_store_close(s);
    }
}

Test(store, check_finds_inconsistent_tables)
{
    /* Each damage is well-formed on its own; only the cross-checks see it. */
    for (int k = 0; k < 7; k++) {
        char name[16];
        snprintf(name, sizeof name, "idx%d", k);
        const char *dir = tu_path(name);
        small_index(dir, k % 2 || k == 6);
        uint8_t key[600], val[600];
        size_t klen;
        switch (k) {
        case 0: /* a content hash forgotten */
            raw_first(dir, "hashes", NULL, 0, key, &klen, val, sizeof val);
            raw_set(dir, "hashes", key, klen, NULL, 0);
            break;
        case 1: /* a document record missing */
            be32(key, 2);
            raw_set(dir, "docs", key, 4, NULL, 0);
            break;
        case 2: /* a tombstone for a doc that does not exist */
            be32(key, 999);
            raw_set(dir, "deleted", key, 4, "", 0);
            break;
        case 3: /* a key pointing past the last doc */
            memcpy(val, "\x00\x00\x03\xe7\x00", 5);
            raw_set(dir, "keys", "ghost", 5, val, 5);
            break;
        case 4: /* pattern postings that disagree with the hit lists */
            key[0] = 'p';
            be32(key + 1, 0);
            key[5] = 0;
            be32(key + 6, 1);
            raw_set(dir, main_table(dir), key, 10, "\x01", 1);
            break;
        case 5: /* counts that disagree with the documents */
            memcpy(val, "\x20\x05\x00\x00\x01\x00\x00", 7);
            raw_set(dir, "meta", "counts", 6, val, 7);
            break;
        case 6: /* a trigram's first block gone: its words' docs are not listed */
            raw_first(dir, main_table(dir), "t", 1, key, &klen, val, sizeof val);
            cr_assert(gt(sz, klen, 2), "no trigram in the index");
            raw_set(dir, main_table(dir), key, klen, NULL, 0);
            break;
        }
        lines l = {0};
        cr_assert(gt(u64, check_problems_at(dir, &l), 0), "damage %d not found", k);
        /* The trigram damage is found by the trigram check, nothing else. */
        if (k == 6)
            cr_assert(strstr(l.p, "trigrams:") != NULL, "damage 6 found as: %s", l.p);
        free(l.p);
    }
}

Test(store, key_pointing_at_a_missing_doc_fails_the_write_as_corrupt)
{
    const char *dir = tu_path("idx");
    small_index(dir, 1);
    raw_set(dir, "keys", "ghost", 5, "\x00\x00\x03\xe7\x00", 5);
    tdx_store *s = open_store(dir, 0, 0);
    uint64_t r = 1;
    sdoc d;
    gen_doc(&d, &r, "ghost", "boo");
    sdoc *p = &d;
    sbatch b;
    sbatch_make(&b, &p, 1);
    tdx_store_batch sb = as_batch(&b);
    tdx_err err = {0};
    cr_assert(eq(int, tdx_store_write_batch(s, &sb, 0, NULL, &err), TDX_ECORRUPT), "%s", err.msg);
    sbatch_free(&b);
    free(d.text);
    tdx_store_close(s);
}

/* ---- opening, format, schema ------------------------------------------------------------ */

Test(store, other_format_version_is_eformat)
{
    const char *dir = tu_path("idx");
    tdx_store_close(new_index(dir));
    raw_set(dir, "meta", "format", 6, "5", 1);
    for (int ro = 0; ro < 2; ro++) {
        tdx_store_opts o = {ro, 0, 0, 0, 0};
        tdx_store *s = NULL;
        tdx_err err = {0};
        cr_assert(eq(int, tdx_store_open(dir, &o, &s, &err), TDX_EFORMAT));
        cr_assert(eq(ptr, s, NULL));
        cr_assert(strstr(err.msg, "format '5'") != NULL, "%s", err.msg);
    }
    /* Only formats 2 and 4 can be made. */
    tdx_store_opts o = {0, 1, 0, 0, 1};
    tdx_store *s = NULL;
    tdx_err err = {0};
    cr_assert(eq(int, tdx_store_open(tu_path("f1"), &o, &s, &err), TDX_EINVAL));
    cr_assert(eq(ptr, s, NULL));
}

/* A block past the limits still reads; only check finds it, in the main
 * tree and in a segment alike. */
Test(store, check_finds_postings_blocks_beyond_the_limits)
{
    for (int merged = 1; merged >= 0; merged--) {
        const char *dir = tu_path(merged ? "m" : "u");
        small_index(dir, merged);
        const char *table = merged ? main_table(dir) : "postseg";
        uint8_t key[600], val[4096];
        size_t klen = 0;
        raw_first(dir, table, NULL, 0, key, &klen, val, sizeof val);
        /* 1025 docs, one apart: more than a block may hold. */
        uint8_t big[2 + 1024];
        big[0] = 0x81;
        big[1] = 0x08;
        memset(big + 2, 1, 1024);
        if (is_shared_key(key, klen, merged ? 0 : 4)) {
            /* The segment's first key is a shared value: the block as its entry. */
            uint8_t one[sizeof big + 16];
            raw_set(dir, table, key, klen, one, shared_of_one(one, klen - 9, big, sizeof big));
        } else {
            raw_set(dir, table, key, klen, big, sizeof big);
        }
        lines l = {0};
        cr_assert(gt(u64, check_problems_at(dir, &l), 0));
        cr_assert(strstr(l.p, "a doc count out of range") != NULL, "%s", l.p);
        cr_assert(strstr(l.p, merged ? "of the main tree" : "of a segment") != NULL, "%s", l.p);
        free(l.p);
    }
}

/* Format 3 is format 4 without shared values in its segments: opened to
 * read it stays 3 and reads as before; opened to write it is marked 4 (its
 * next segments may hold shared values), and answers the same. */
Test(store, format_3_is_read_as_it_is_and_marked_4_when_written)
{
    const char *dir = tu_path("idx");
    small_index(dir, 1);
    raw_set(dir, "meta", "format", 6, "3", 1);
    for (int ro = 1; ro >= 0; ro--) {
        tdx_store *s = open_store(dir, ro, 0);
        tdx_rtxn *t = NULL;
        tdx_store_info in;
        tdx_err err = {0};
        cr_assert(eq(int, tdx_store_read_begin(s, &t, &err), 0));
        cr_assert(eq(int, tdx_store_get_info(t, &in, &err), 0), "%s", err.msg);
        cr_assert(eq(u32, in.format, ro ? 3u : 4u));
        tdx_store_read_end(t);
        expect_clean(s);
        tdx_store_close(s);
        char val[16];
        uint8_t key[16];
        size_t klen = 0;
        size_t vlen = raw_first(dir, "meta", "format", 6, key, &klen, (uint8_t *)val, sizeof val);
        cr_assert(eq(sz, vlen, 1));
        cr_assert(eq(chr, val[0], ro ? '3' : '4'));
    }
}

/* Format 1 differs only in its segments: an index of format 1 without
 * pending segments opens (and is marked 2 when opened to write); with
 * segments it is refused with the way out. */
Test(store, format_1_without_segments_is_read_and_upgraded)
{
    new_format = 2; /* format 1's blocks are format 2's */
    char val[16];
    uint8_t key[16];
    for (int merged = 0; merged < 2; merged++) {
        const char *dir = tu_path(merged ? "m" : "u");
        small_index(dir, merged);
        raw_set(dir, "meta", "format", 6, "1", 1);
        for (int ro = 1; ro >= 0; ro--) {
            tdx_store_opts o = {ro, 0, 0, 0, 0};
            tdx_store *s = NULL;
            tdx_err err = {0};
            int rc = tdx_store_open(dir, &o, &s, &err);
            size_t klen = 0;
            size_t vlen =
                raw_first(dir, "meta", "format", 6, key, &klen, (uint8_t *)val, sizeof val);
            if (!merged) {
                cr_assert(eq(int, rc, TDX_EFORMAT));
                cr_assert(strstr(err.msg, "format 1") && strstr(err.msg, "--merge"), "%s", err.msg);
                cr_assert(eq(sz, vlen, 1));
                cr_assert(eq(chr, val[0], '1'));
                continue;
            }
            cr_assert(eq(int, rc, 0), "%s", err.msg);
            cr_assert(eq(chr, val[0], ro ? '1' : '2'), "read-only opens leave it as it is");
            expect_clean(s);
            tdx_store_close(s);
        }
    }
}

Test(store, non_index_paths_are_clear_errors)
{
    tdx_store *s = NULL;
    tdx_err err = {0};
    tdx_store_opts ro = {1, 0, 0, 0, 0}, rw = {0, 0, 0, 0, 0};
    /* Nothing there. */
    cr_assert(eq(int, tdx_store_open(tu_path("none"), &ro, &s, &err), TDX_ENOTFOUND));
    cr_assert(strstr(err.msg, "none") != NULL, "%s", err.msg);
    tdx_err_clear(&err);
    cr_assert(eq(int, tdx_store_open(tu_path("none"), &rw, &s, &err), TDX_ENOTFOUND));
    /* A directory without an index. */
    mkdir(tu_path("empty"), 0777);
    tdx_err_clear(&err);
    cr_assert(eq(int, tdx_store_open(tu_path("empty"), &ro, &s, &err), TDX_ENOTFOUND));
    cr_assert(strstr(err.msg, "no index") != NULL, "%s", err.msg);
    /* A data.mdb that is not LMDB. */
    mkdir(tu_path("junk"), 0777);
    char junk[8192];
    memset(junk, 'j', sizeof junk);
    tu_write_file(tu_path("junk/data.mdb"), junk, sizeof junk);
    for (int k = 0; k < 2; k++) {
        tdx_err_clear(&err);
        int rc = tdx_store_open(tu_path("junk"), k ? &ro : &rw, &s, &err);
        cr_assert(eq(int, rc, TDX_EFORMAT), "%d %s", rc, err.msg);
        cr_assert(strstr(err.msg, "not a tenderidx index") != NULL, "%s", err.msg);
    }
    /* Another program's LMDB environment. */
    mkdir(tu_path("other"), 0777);
    raw_set(tu_path("other"), "accounts", "alice", 5, "42", 2);
    for (int k = 0; k < 2; k++) {
        tdx_err_clear(&err);
        int rc = tdx_store_open(tu_path("other"), k ? &ro : &rw, &s, &err);
        cr_assert(eq(int, rc, TDX_EFORMAT), "%s: %d %s", k ? "read-only" : "read-write", rc,
                  err.msg);
        cr_assert(strstr(err.msg, "not a tenderidx index") != NULL, "%s", err.msg);
    }
    /* A regular file. */
    tu_write_str(tu_path("file"), "x");
    tdx_err_clear(&err);
    cr_assert(lt(int, tdx_store_open(tu_path("file"), &ro, &s, &err), 0));
    tdx_err_clear(&err);
    cr_assert(lt(int, tdx_store_open(tu_path("file"), &rw, &s, &err), 0));
    cr_assert(eq(ptr, s, NULL));
    /* Bad arguments. */
    cr_assert(eq(int, tdx_store_open(NULL, &ro, &s, NULL), TDX_EINVAL));
    cr_assert(eq(int, tdx_store_open("", &ro, &s, NULL), TDX_EINVAL));
    tdx_store_close(NULL);
}

Test(store, opening_with_default_options_creates_nothing)
{
    tdx_store *s = NULL;
    cr_assert(eq(int, tdx_store_open(tu_path("x"), NULL, &s, NULL), TDX_ENOTFOUND));
    struct stat st;
    cr_assert(ne(int, stat(tu_path("x"), &st), 0));
}

Test(store, setup_records_the_schema_and_refuses_another)
{
    const char *dir = tu_path("idx");
    tdx_store *s = new_index(dir);
    tdx_store_schema sc = schema();
    tdx_err err = {0};
    cr_assert(eq(int, tdx_store_setup(s, &sc, &err), 0), "same schema again");
    tdx_store_schema other = sc;
    other.normalizer = "test-normalizer 2";
    cr_assert(eq(int, tdx_store_setup(s, &other, &err), TDX_EFORMAT));
    cr_assert(strstr(err.msg, "normalizer") != NULL, "%s", err.msg);
    other = sc;
    other.grams = 0;
    tdx_err_clear(&err);
    cr_assert(eq(int, tdx_store_setup(s, &other, &err), TDX_EFORMAT));
    cr_assert(strstr(err.msg, "--no-grams") != NULL, "%s", err.msg);
    other = sc;
    other.wl_hash ^= 1;
    tdx_err_clear(&err);
    cr_assert(eq(int, tdx_store_setup(s, &other, &err), TDX_EFORMAT));
    cr_assert(strstr(err.msg, "watch list") != NULL, "%s", err.msg);
    cr_assert(strstr(err.msg, "/lists/watch.tsv") != NULL, "%s", err.msg);
    /* The schema reads back as written. */
    tdx_rtxn *t = NULL;
    cr_assert(eq(int, tdx_store_read_begin(s, &t, NULL), 0));
    tdx_store_schema_view v;
    cr_assert(eq(int, tdx_store_get_schema(t, &v, NULL), 0));
    cr_assert(eq(sz, v.npatterns, NPAT));
    cr_assert(eq(sz, v.nentities, NENT));
    cr_assert(eq(sz, v.ncategories, NCAT));
    for (size_t i = 0; i < NPAT; i++) {
        cr_assert(eq(u32, v.patterns[i].entity, patterns[i].entity));
        cr_assert(eq(u32, v.patterns[i].category, patterns[i].category));
        cr_assert(eq(u32, v.patterns[i].flags, patterns[i].flags));
        cr_assert(eq(u32, v.patterns[i].line, patterns[i].line));
        cr_assert(eq(str, (char *)v.patterns[i].text, (char *)patterns[i].text));
        cr_assert(eq(str, (char *)v.patterns[i].norm, (char *)patterns[i].norm));
    }
    for (size_t i = 0; i < NENT; i++) {
        cr_assert(eq(str, (char *)v.entities[i], (char *)entities[i]));
        cr_assert(eq(u32, v.entity_category[i], entity_category[i]));
    }
    for (size_t i = 0; i < NCAT; i++)
        cr_assert(eq(str, (char *)v.categories[i], (char *)categories[i]));
    tdx_store_schema_view_free(&v);
    tdx_store_read_end(t);
    tdx_store_close(s);
    /* Read-only: no setup. */
    s = open_store(dir, 1, 0);
    tdx_err_clear(&err);
    cr_assert(eq(int, tdx_store_setup(s, &sc, &err), TDX_EINVAL));
    tdx_store_close(s);
}

/* ---- error paths ------------------------------------------------------------------------ */

Test(store, readers_report_missing_things_as_enotfound)
{
    const char *dir = tu_path("idx");
    uint32_t next = small_index(dir, 0);
    tdx_store *s = open_store(dir, 1, 0);
    tdx_rtxn *t = NULL;
    cr_assert(eq(int, tdx_store_read_begin(s, &t, NULL), 0));
    tdx_err err = {0};
    tdx_store_docinfo di;
    tdx_buf b = TDX_BUF_INIT;
    tdx_store_hit *h = NULL;
    size_t n = 0, cap = 0;
    uint32_t id;
    uint32_t bad[] = {0, next, UINT32_MAX};
    for (int i = 0; i < 3; i++) {
        cr_assert(eq(int, tdx_store_get_doc(t, bad[i], &di, &err), TDX_ENOTFOUND));
        cr_assert(eq(int, tdx_store_get_text(t, bad[i], &b, &err), TDX_ENOTFOUND));
        cr_assert(eq(int, tdx_store_get_hits(t, bad[i], &h, &n, &cap, &err), TDX_ENOTFOUND));
    }
    cr_assert(eq(int, tdx_store_find_key(t, "nope", 4, &id, &err), TDX_ENOTFOUND));
    cr_assert(eq(int, tdx_store_find_key(t, "", 0, &id, &err), TDX_ENOTFOUND));
    char big[600];
    memset(big, 'k', sizeof big);
    cr_assert(eq(int, tdx_store_find_key(t, big, sizeof big, &id, &err), TDX_ENOTFOUND));
    tdx_docset d = {0};
    cr_assert(eq(int, tdx_store_postings(t, (const uint8_t *)"", 0, &d, &err), 0));
    cr_assert(eq(sz, d.n, 0));
    uint8_t longterm[600];
    memset(longterm, 'w', sizeof longterm);
    cr_assert(eq(int, tdx_store_postings(t, longterm, sizeof longterm, &d, &err), 0));
    cr_assert(eq(sz, d.n, 0));
    uint64_t cnt = 7;
    cr_assert(eq(int, tdx_store_postings_count(t, longterm, sizeof longterm, &cnt, &err), 0));
    cr_assert(eq(u64, cnt, 0));
    tdx_docset_free(&d);
    tdx_buf_free(&b);
    free(h);
    tdx_store_read_end(t);
    tdx_store_read_end(NULL);
    /* A read-only store does not write. */
    uint64_t r = 1;
    sdoc sd;
    gen_doc(&sd, &r, "x", "x");
    sdoc *p = &sd;
    sbatch sb;
    sbatch_make(&sb, &p, 1);
    tdx_store_batch tb = as_batch(&sb);
    cr_assert(eq(int, tdx_store_write_batch(s, &tb, 0, NULL, &err), TDX_EINVAL));
    cr_assert(eq(int, tdx_store_merge(s, &err), TDX_EINVAL));
    sbatch_free(&sb);
    free(sd.text);
    tdx_store_close(s);
}

Test(store, bad_batches_are_refused_and_change_nothing)
{
    const char *dir = tu_path("idx");
    small_index(dir, 0);
    tdx_store *s = open_store(dir, 0, 0);
    char *before = dump(s);
    uint64_t r = 1;
    sdoc d[2];
    gen_doc(&d[0], &r, "fine", "fine text");
    gen_doc(&d[1], &r, "", "no key");
    sdoc *p[2] = {&d[0], &d[1]};
    sbatch b;
    sbatch_make(&b, p, 2);
    tdx_store_batch sb = as_batch(&b);
    tdx_err err = {0};
    /* An empty key, and a key beyond LMDB's limit: the batch is refused. */
    cr_assert(eq(int, tdx_store_write_batch(s, &sb, 0, NULL, &err), TDX_EINVAL), "%s", err.msg);
    memset(d[1].key, 'k', 520);
    d[1].key[520] = 0;
    tdx_err_clear(&err);
    cr_assert(eq(int, tdx_store_write_batch(s, &sb, 0, NULL, &err), TDX_EINVAL), "%s", err.msg);
    /* Postings naming a document the batch does not have. */
    tdx_postings bad;
    tdx_postings_init(&bad);
    cr_assert(eq(int, tdx_postings_add_term(&bad, "wfine", 5), 0));
    cr_assert(eq(int, tdx_postings_add_doc(&bad, 0, NULL, 0), 0));
    cr_assert(eq(int, tdx_postings_add_doc(&bad, 5, NULL, 0), 0));
    sb.ndocs = 1;
    sb.post = &bad;
    tdx_err_clear(&err);
    cr_assert(eq(int, tdx_store_write_batch(s, &sb, 0, NULL, &err), TDX_EINVAL), "%s", err.msg);
    tdx_postings_free(&bad);
    char *after = dump(s);
    cr_assert(eq(str, after, before));
    free(before);
    free(after);
    sbatch_free(&b);
    free(d[0].text);
    free(d[1].text);
    tdx_store_close(s);
}

Test(store, an_empty_batch_writes_no_segment)
{
    tdx_store *s = new_index(tu_path("idx"));
    tdx_store_batch sb = {NULL, 0, NULL, NULL, 0, 4, NULL};
    tdx_store_batch_stats st;
    cr_assert(eq(int, tdx_store_write_batch(s, &sb, 0, &st, NULL), 0));
    cr_assert(eq(sz, st.added, 0));
    cr_assert(eq(sz, pending(s), 0));
    merge_ok(s);
    tdx_rtxn *t = NULL;
    cr_assert(eq(int, tdx_store_read_begin(s, &t, NULL), 0));
    tdx_store_info in;
    cr_assert(eq(int, tdx_store_get_info(t, &in, NULL), 0));
    cr_assert(eq(u64, in.rejects, 4));
    cr_assert(eq(u64, in.next_doc, 1));
    tdx_store_read_end(t);
    expect_clean(s);
    tdx_store_close(s);
}

static size_t live_bytes(void)
{
    mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
    tdx_mem_stats ms;
    tdx_alloc_stats(&ms);
    return ms.allocated;
}

Test(store, out_of_memory_leaves_the_index_as_it_was)
{
    const char *dir = tu_path("idx");
    tdx_store *s = new_index(dir);
    uint64_t r = 21;
    corpus c;
    corpus_make(&c, &r, 60);
    model m;
    model_init(&m);
    /* More segments than the reader's first segment array holds. */
    for (size_t i = 0; i < 30; i += 1)
        write_both(s, &m, c.ptr + i, 1, 0);
    sbatch b;
    sbatch_make(&b, c.ptr + 30, 30);
    tdx_store_batch sb = as_batch(&b);
    char *before = dump(s);
    int rc = TDX_ENOMEM;
    long k;
    /* Warm up LMDB's page caches (it keeps the pages a transaction used
     * for the next one) with the failing attempt that gets furthest: at the
     * last allocation the write makes, counted on a copy of the index. */
    copy_index(dir, tu_path("idx-copy"));
    tdx_store *s2 = open_store(tu_path("idx-copy"), 0, 0);
    long need = 0;
    for (;; need++) {
        tdx_alloc_fail_after(need);
        int wrc = tdx_store_write_batch(s2, &sb, 0, NULL, NULL);
        tdx_alloc_fail_after(-1);
        if (wrc == 0)
            break;
    }
    tdx_store_close(s2);
    tdx_alloc_fail_after(need - 1);
    cr_assert(ne(int, tdx_store_write_batch(s, &sb, 0, NULL, NULL), 0));
    tdx_alloc_fail_after(-1);
    for (k = 0; k < 200 && rc; k++) {
        tdx_err err = {0};
        size_t live = live_bytes();
        tdx_alloc_fail_after(k);
        rc = tdx_store_write_batch(s, &sb, 0, NULL, &err);
        tdx_alloc_fail_after(-1);
        if (rc) {
            cr_assert(eq(int, rc, TDX_ENOMEM), "allocation %ld: %s", k, err.msg);
            cr_assert(eq(sz, live_bytes(), live), "allocation %ld leaks", k);
            char *now = dump(s);
            cr_assert(eq(str, now, before), "allocation %ld: a failed write changed the index", k);
            free(now);
        }
    }
    cr_assert(eq(int, rc, 0));
    cr_assert(gt(long, k, 2));
    tdx_store_batch_stats want;
    model_apply(&m, &b, c.ptr + 30, 0, &want);
    sbatch_free(&b);
    cr_assert(gt(sz, pending(s), 1));
    free(before);
    before = dump(s);
    rc = TDX_ENOMEM;
    tdx_alloc_fail_after(3);
    tdx_store_merge(s, NULL);
    tdx_alloc_fail_after(-1);
    for (k = 0; k < 200 && rc; k++) {
        tdx_err err = {0};
        size_t live = live_bytes();
        tdx_alloc_fail_after(k);
        rc = tdx_store_merge(s, &err);
        tdx_alloc_fail_after(-1);
        if (rc) {
            cr_assert(eq(int, rc, TDX_ENOMEM), "merge, allocation %ld: %s", k, err.msg);
            cr_assert(eq(sz, live_bytes(), live), "merge, allocation %ld leaks", k);
            cr_assert(gt(sz, pending(s), 1));
        }
    }
    cr_assert(eq(int, rc, 0));
    cr_assert(gt(long, k, 2));
    char *after = dump(s);
    cr_assert(eq(str, after, before));
    free(after);
    /* Readers: each failing run is TDX_ENOMEM, the last one succeeds. */
    rc = TDX_ENOMEM;
    for (k = 0; k < 500 && rc; k++) {
        tdx_rtxn *t = NULL;
        tdx_err err = {0};
        lines l = {0};
        size_t live = live_bytes();
        tdx_alloc_fail_after(k);
        rc = tdx_store_read_begin(s, &t, &err);
        if (rc == 0)
            rc = tdx_store_dump(t, line_fn, &l, &err);
        tdx_alloc_fail_after(-1);
        tdx_store_read_end(t);
        if (rc) {
            cr_assert(eq(int, rc, TDX_ENOMEM), "dump, allocation %ld: %s", k, err.msg);
        } else {
            cr_assert(eq(str, l.p, before));
        }
        free(l.p);
        cr_assert(eq(sz, live_bytes(), live), "dump, allocation %ld leaks", k);
    }
    cr_assert(eq(int, rc, 0));
    rc = TDX_ENOMEM;
    for (k = 0; k < 500 && rc; k++) {
        tdx_rtxn *t = NULL;
        tdx_err err = {0};
        uint64_t problems = 0;
        lines l = {0};
        size_t live = live_bytes();
        tdx_alloc_fail_after(k);
        rc = tdx_store_read_begin(s, &t, &err);
        if (rc == 0)
            rc = tdx_store_check(t, line_fn, &l, &problems, &err);
        tdx_alloc_fail_after(-1);
        tdx_store_read_end(t);
        if (rc)
            cr_assert(eq(int, rc, TDX_ENOMEM), "check, allocation %ld: %s", k, err.msg);
        else
            cr_assert(eq(u64, problems, 0), "check, allocation %ld: %s", k, l.p);
        free(l.p);
        cr_assert(eq(sz, live_bytes(), live), "check, allocation %ld leaks", k);
    }
    cr_assert(eq(int, rc, 0));
    free(before);
    verify(s, &m);
    tdx_store_close(s);
    model_free(&m);
    corpus_free(&c);
}

Test(store, an_open_that_runs_out_of_memory_leaves_no_empty_index_directory)
{
    /* The directory is made before anything is allocated; a failure then
     * must not leave a directory that later runs take for an index. */
    const char *dir = tu_path("oom-open");
    tdx_store_opts o = {0, 1, 0, 0, 0};
    tdx_store *s = NULL;
    tdx_err err = {0};
    tdx_alloc_fail_after(0);
    int rc = tdx_store_open(dir, &o, &s, &err);
    tdx_alloc_fail_after(-1);
    cr_assert(eq(int, rc, TDX_ENOMEM), "%d %s", rc, err.msg);
    struct stat st;
    cr_assert(ne(int, stat(dir, &st), 0), "'%s' was left behind", dir);
    /* The same open with memory succeeds. */
    s = open_store(dir, 0, 0);
    tdx_store_close(s);
}

static uint64_t committed_docs(tdx_store *s)
{
    tdx_rtxn *t = NULL;
    cr_assert(eq(int, tdx_store_read_begin(s, &t, NULL), 0));
    tdx_store_info info;
    cr_assert(eq(int, tdx_store_get_info(t, &info, NULL), 0));
    tdx_store_read_end(t);
    return info.docs;
}

/*
 * Batches sharing a commit: readers see nothing of a group until what its
 * batches put passes the bound; a batch that fills the map inside a group is written
 * again after the group's commit and a larger map; setup and merge commit
 * an open group first; closing without a commit drops only the open group.
 */
Test(store, grouped_batches_commit_together_grow_the_map_and_drop_only_the_open_group,
     .timeout = 60)
{
    const char *dir = tu_path("idx");
    tdx_store *s = open_store(dir, 0, 1 << 20);
    tdx_store_schema sc = schema();
    cr_assert(eq(int, tdx_store_setup(s, &sc, NULL), 0));
    enum { N = 24, LEN = 60000 };
    sdoc docs[N];
    sdoc *ptr[N];
    uint64_t r = 7;
    big_docs(docs, ptr, N, LEN, &r, "g");
    /* The first two documents keep big_docs' text, which puts little; the
     * rest get random CJK text, whose bigrams are nearly all its own, so
     * each puts several times its text. */
    for (size_t i = 2; i < N; i++)
        for (size_t k = 0; k + 3 <= LEN; k += 3) {
            uint32_t c = 0x4e00 + (uint32_t)rnd(&r, 0x5000);
            docs[i].text[k] = (char)(0xe0 | c >> 12);
            docs[i].text[k + 1] = (char)(0x80 | (c >> 6 & 0x3f));
            docs[i].text[k + 2] = (char)(0x80 | (c & 0x3f));
        }
    for (size_t i = 0; i < N; i++)
        tdx_hash128(docs[i].text, LEN, docs[i].hash);
    model m;
    model_init(&m);
    /* A group is committed once its batches have put four documents' text
     * (the map is grown ahead for twice that, within the 1 MB map): the
     * first two batches stay in it; three CJK documents in one batch then
     * put more than the map holds, inside the group, so the two are
     * committed, the map grows and the batch is written again (and, being
     * past the bound, committed); every later batch, one CJK document, is
     * committed on its own. */
    tdx_store_set_group(s, LEN * 4, 1e9);
    static const size_t nb[] = {1, 1, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    size_t at = 0;
    for (size_t i = 0; i < sizeof nb / sizeof *nb; i++) {
        write_both(s, &m, ptr + at, nb[i], 0);
        at += nb[i];
        uint64_t c = committed_docs(s);
        cr_assert(eq(u64, c, i < 2 ? 0 : at), "after batch %zu: %" PRIu64 " committed", i, c);
    }
    cr_assert(eq(sz, at, 18));
    tdx_rtxn *t = NULL;
    cr_assert(eq(int, tdx_store_read_begin(s, &t, NULL), 0));
    tdx_store_info info;
    cr_assert(eq(int, tdx_store_get_info(t, &info, NULL), 0));
    cr_assert(gt(u64, info.file_bytes, 1 << 20), "the map grew");
    tdx_store_read_end(t);
    tdx_err err = {0};
    cr_assert(eq(int, tdx_store_commit(s, &err), 0), "%s", err.msg);
    cr_assert(eq(u64, committed_docs(s), 18));
    cr_assert(eq(int, tdx_store_commit(s, &err), 0), "nothing open: %s", err.msg);
    /* From here a group holds every batch until something commits it. */
    tdx_store_set_group(s, (size_t)LEN * 100, 1e9);
    /* Open group, then a merge: committed first, nothing waits. */
    write_both(s, &m, ptr + 18, 1, 0);
    cr_assert(eq(u64, committed_docs(s), 18));
    merge_ok(s);
    cr_assert(eq(u64, committed_docs(s), 19));
    write_both(s, &m, ptr + 19, 1, 0);
    cr_assert(eq(int, tdx_store_commit(s, &err), 0), "%s", err.msg);
    verify(s, &m);
    /* Two batches never committed: gone after close, the rest stays. */
    for (size_t i = 20; i < 22; i++) {
        sbatch b;
        sbatch_make(&b, ptr + i, 1);
        tdx_store_batch_stats st;
        write_ok(s, &b, 0, &st);
        cr_assert(eq(sz, st.added, 1));
        sbatch_free(&b);
    }
    tdx_store_close(s);
    s = open_store(dir, 0, 0);
    cr_assert(eq(u64, committed_docs(s), 20));
    verify(s, &m);
    /* Without a group each batch is its own commit. */
    write_both(s, &m, ptr + 22, 2, 0);
    cr_assert(eq(u64, committed_docs(s), 22));
    verify_merge_verify(s, &m);
    tdx_store_close(s);
    model_free(&m);
    free_docs(docs, N);
}

/* ---- content hashes kept in memory ------------------------------------------------------ */

/* The set against a plain array, with hashes crowded onto a few home slots
 * (long clusters, wrap-around at the table's end, deletions inside them). */
Test(store, hashset_matches_a_plain_list)
{
    uint64_t seed = tu_seed("store.hashset"), r = seed;
    enum { KEYS = 3000 };
    static uint64_t h[KEYS][2];
    static uint32_t want[KEYS]; /* 0: not in the set */
    for (size_t i = 0; i < KEYS; i++) {
        h[i][0] = (uint64_t)rnd(&r, 1u << 30) << 20 | rnd(&r, 4); /* equal high halves too */
        h[i][1] = rnd(&r, 4) ? rnd(&r, 64) | (uint64_t)i << 40 : rnd(&r, 1u << 30);
        if (rnd(&r, 8) == 0)
            h[i][1] |= 1023; /* the last slot of the first table: wraps around */
    }
    tdx_hashset hs = {0};
    size_t n = 0;
    for (int round = 0; round < 40000; round++) {
        size_t i = rnd(&r, KEYS);
        switch (rnd(&r, 3)) {
        case 0:
            if (want[i] == 0) {
                want[i] = 1 + (uint32_t)rnd(&r, 1000000);
                cr_assert(eq(int, tdx_hashset_add(&hs, h[i], want[i]), 0));
                n++;
            }
            break;
        case 1: {
            /* Only the id recorded removes an entry. */
            uint32_t id = want[i] && rnd(&r, 4) ? want[i] : 1 + (uint32_t)rnd(&r, 1000000);
            int gone = tdx_hashset_del(&hs, h[i], id);
            cr_assert(eq(int, gone, want[i] != 0 && id == want[i]), "seed %llu round %d",
                      (unsigned long long)seed, round);
            if (gone) {
                want[i] = 0;
                n--;
            }
            break;
        }
        default:
            cr_assert(eq(u32, tdx_hashset_find(&hs, h[i]), want[i]), "seed %llu round %d",
                      (unsigned long long)seed, round);
        }
        cr_assert(eq(sz, hs.n, n));
        if (round % 4000 == 3999)
            for (size_t k = 0; k < KEYS; k++)
                cr_assert(eq(u32, tdx_hashset_find(&hs, h[k]), want[k]), "seed %llu",
                          (unsigned long long)seed);
    }
    /* Every entry once in the slots. */
    size_t seen = 0;
    for (size_t k = 0; hs.mask && k <= hs.mask; k++)
        seen += hs.slot[k].id != 0;
    cr_assert(eq(sz, seen, n));
    tdx_hashset_clear(&hs);
    cr_assert(eq(u32, tdx_hashset_find(&hs, h[0]), 0));
    tdx_hashset_free(&hs);
}

static size_t raw_count(const char *dir, const char *db)
{
    raw_cur c = raw_cursor(dir, db);
    MDB_stat ms;
    cr_assert(eq(int, mdb_stat(c.txn, mdb_cursor_dbi(c.cur), &ms), 0));
    raw_cursor_close(&c);
    return ms.ms_entries;
}

/* Meta "deferred" as a number, 0 when absent. */
static uint64_t raw_deferred(const char *dir)
{
    uint8_t k[600], v[64];
    size_t kl, vl = raw_first(dir, "meta", "deferred", 8, k, &kl, v, sizeof v);
    uint64_t mark = 0;
    if (kl == 8 && memcmp(k, "deferred", 8) == 0)
        cr_assert(gt(sz, tdx_varint_get(v, v + vl, &mark), 0));
    return mark;
}

/*
 * New documents' keys and content hashes wait in sets (a few entries here,
 * so they fill and are written into their tables often).  Duplicates and
 * replacements are found wherever the earlier document's key and hash are:
 * in the sets, in the tables, or in both (a flush cut short by a kill); an
 * index closed before its sets were written rebuilds them when opened
 * again, and readers find its keys; the model says what every batch must
 * report, and check and the dump agree with it.
 */
Test(store, content_hashes_in_memory_are_found_across_flushes_reopens_and_kills, .timeout = 120)
{
    uint64_t seed = tu_seed("store.hashes"), r = seed;
    const char *dir = tu_path("idx");
    tdx_store *s = new_index(dir);
    corpus c;
    corpus_make(&c, &r, 600);
    /* More keys repeating recent ones: those are the keys still in the set. */
    for (size_t i = 1; i < c.n; i++)
        if (rnd(&r, 5) == 0)
            memcpy(c.docs[i].key, c.docs[i - 1 - rnd(&r, i < 20 ? i : 20)].key,
                   sizeof c.docs[i].key);
    model m;
    model_init(&m);
    int reopened = 0, flushed = 0, cut = 0, marked = 0;
    size_t i = 0;
    while (i < c.n - 20) {
        size_t n = 1 + rnd(&r, 12);
        if (rnd(&r, 4) == 0)
            tdx_store_set_deferred(s, (1 + rnd(&r, 40)) * TDX_STORE_DEFERRED_BYTES_PER_DOC);
        write_both(s, &m, c.ptr + i, n, (int)rnd(&r, 2));
        i += n;
        tdx_err err = {0};
        switch (rnd(&r, 8)) {
        case 0:
            cr_assert(eq(int, tdx_store_commit(s, &err), 0), "%s", err.msg);
            cr_assert(eq(u64, raw_deferred(dir), 0), "a commit writes every hash");
            cr_assert(eq(sz, tdx_store_deferred_bytes(s), 0), "a commit empties the sets");
            flushed++;
            break;
        case 1:
        case 2: {
            /* Closed with the set unwritten (as by a kill); sometimes a
             * flush was cut short too: part of the set already in the
             * table, the mark still there. */
            tdx_store_close(s);
            uint64_t mark = raw_deferred(dir);
            marked += mark != 0;
            for (uint64_t id = mark; mark && id < m.next; id++) {
                if (m.deleted[id] || rnd(&r, 2))
                    continue;
                uint8_t hk[16], iv[5] = {0};
                tdx_be64_put(hk, m.byid[id]->hash[0]);
                tdx_be64_put(hk + 8, m.byid[id]->hash[1]);
                be32(iv, (uint32_t)id);
                raw_set(dir, "hashes", hk, 16, iv, 4);
                if (rnd(&r, 2))
                    raw_set(dir, "keys", m.reckey[id], strlen(m.reckey[id]), iv, 5);
                cut++;
            }
            s = open_store(dir, 0, 0);
            reopened++;
            break;
        }
        }
        if (rnd(&r, 10) == 0)
            expect_clean(s);
    }
    cr_assert(gt(u64, m.duplicates, 20), "seed %llu: duplicates exercised",
              (unsigned long long)seed);
    cr_assert(gt(u64, m.ndeleted, 10), "seed %llu: replacements exercised",
              (unsigned long long)seed);
    cr_assert(reopened && flushed && cut && marked,
              "seed %llu: reopened %d, flushed %d, cut %d, marked %d", (unsigned long long)seed,
              reopened, flushed, cut, marked);
    /* The last documents left unwritten (their keys are not in the table:
     * readers find them in the records), then written: the same dump, and
     * every key in the table. */
    size_t next0 = m.next;
    tdx_store_set_deferred(s, 1 << 20);
    write_both(s, &m, c.ptr + i, c.n - i, 0);
    cr_assert(gt(sz, m.next, next0), "seed %llu: new documents at the end",
              (unsigned long long)seed);
    verify(s, &m);
    tdx_store_close(s);
    uint64_t mark = raw_deferred(dir);
    cr_assert(gt(u64, mark, 0));
    s = open_store(dir, 0, 0);
    tdx_rtxn *t = NULL;
    tdx_store_info info;
    cr_assert(eq(int, tdx_store_read_begin(s, &t, NULL), 0));
    cr_assert(eq(int, tdx_store_get_info(t, &info, NULL), 0));
    cr_assert(eq(u64, info.deferred, m.next - mark));
    tdx_store_read_end(t);
    char *before = dump(s);
    tdx_err err = {0};
    cr_assert(eq(int, tdx_store_commit(s, &err), 0), "%s", err.msg);
    char *after = dump(s);
    cr_assert(eq(str, before, after));
    free(before);
    free(after);
    tdx_store_close(s);
    cr_assert(eq(u64, raw_deferred(dir), 0));
    cr_assert(eq(sz, raw_count(dir, "hashes"), m.docs), "one content hash per live document");
    cr_assert(eq(sz, raw_count(dir, "keys"), m.nkeys), "every key in its table");
    s = open_store(dir, 1, 0);
    verify(s, &m);
    tdx_store_close(s);
    model_free(&m);
    corpus_free(&c);
}

/* What check sees of a set left unwritten: a hash missing below the mark
 * is a problem, from the mark on it is not; a hash in the table naming a
 * document of other content is. */
Test(store, check_reads_content_hashes_up_to_the_mark)
{
    const char *dir = tu_path("idx");
    uint64_t r = 99;
    tdx_store *s = new_index(dir);
    corpus c;
    corpus_make(&c, &r, 60);
    model m;
    model_init(&m);
    write_corpus(s, &m, &c, 10, 0, &r);
    tdx_err err = {0};
    cr_assert(eq(int, tdx_store_commit(s, &err), 0), "%s", err.msg);
    corpus c2;
    corpus_make(&c2, &r, 30);
    write_corpus(s, &m, &c2, 10, 0, &r);
    tdx_store_close(s);
    uint64_t mark = raw_deferred(dir);
    cr_assert(gt(u64, mark, 1));
    cr_assert(lt(u64, mark, m.next));
    cr_assert(eq(sz, raw_count(dir, "hashes"), (size_t)mark - 1 - m.ndeleted));
    s = open_store(dir, 1, 0);
    expect_clean(s);
    tdx_store_close(s);
    /* A live document below the mark without its hash. */
    uint8_t key[600];
    size_t klen;
    uint32_t below = 1;
    while (m.deleted[below])
        below++;
    uint8_t hk[16], iv[4];
    tdx_be64_put(hk, m.byid[below]->hash[0]);
    tdx_be64_put(hk + 8, m.byid[below]->hash[1]);
    raw_set(dir, "hashes", hk, 16, NULL, 0);
    lines l = {0};
    cr_assert(eq(u64, check_problems_at(dir, &l), 1), "%s", l.p ? l.p : "");
    free(l.p);
    be32(iv, below);
    raw_set(dir, "hashes", hk, 16, iv, 4);
    /* Its key missing. */
    uint8_t kv[5];
    raw_first(dir, "keys", m.reckey[below], strlen(m.reckey[below]), key, &klen, kv, sizeof kv);
    raw_set(dir, "keys", m.reckey[below], strlen(m.reckey[below]), NULL, 0);
    l = (lines){0};
    cr_assert(eq(u64, check_problems_at(dir, &l), 1), "%s", l.p ? l.p : "");
    free(l.p);
    raw_set(dir, "keys", m.reckey[below], strlen(m.reckey[below]), kv, 5);
    /* The mark moved past the last document: its hashes are missing. */
    uint8_t v[TDX_VARINT_MAX];
    raw_set(dir, "meta", "deferred", 8, v, tdx_varint_put(v, m.next));
    cr_assert(gt(u64, check_problems_at(dir, NULL), 0), "hashes past the mark not seen missing");
    raw_set(dir, "meta", "deferred", 8, v, tdx_varint_put(v, mark));
    /* A hash naming a document of other content. */
    uint32_t other = below + 1;
    while (m.deleted[other])
        other++;
    be32(iv, other);
    raw_set(dir, "hashes", hk, 16, iv, 4);
    cr_assert(gt(u64, check_problems_at(dir, NULL), 0), "a hash naming another document not seen");
    model_free(&m);
    corpus_free(&c);
    corpus_free(&c2);
}
