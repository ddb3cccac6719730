/*
 * test_e2e.c - the whole job, end to end: generate a corpus with the bundled
 * generator, index it with the bundled watch list through the tenderidx
 * binary, and check query answers against the generator's ground truth and
 * against brute force over the stored text.
 */
#include "tassert.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/docset.h"
#include "normalize/normalize.h"
#include "query/query.h"
#include "testutil.h"

static void setup(void)
{
    tu_tmpdir();
}

static void teardown(void)
{
    tu_tmpdir_remove();
}

/* Ground truth: doc key -> set of entities (one row per planted name). */
typedef struct truth_row {
    char *key, *entity, *category;
} truth_row;

typedef struct truth {
    truth_row *v;
    size_t n, cap;
} truth;

static void truth_load(truth *t, const char *path)
{
    size_t len;
    char *data = tu_read_file(path, &len);
    cr_assert(data != NULL, "cannot read %s", path);
    char *save = NULL;
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#')
            continue;
        char *f[6] = {0};
        int k = 0;
        for (char *c = line; k < 6; k++) {
            f[k] = c;
            c = strchr(c, '\t');
            if (c == NULL)
                break;
            *c++ = 0;
        }
        cr_assert(f[2] != NULL, "bad truth line");
        if (t->n == t->cap) {
            t->cap = t->cap ? t->cap * 2 : 256;
            t->v = realloc(t->v, t->cap * sizeof *t->v);
        }
        t->v[t->n].key = strdup(f[0]);
        t->v[t->n].entity = strdup(f[1]);
        t->v[t->n].category = strdup(f[2]);
        t->n++;
    }
    free(data);
}

static void truth_free(truth *t)
{
    for (size_t i = 0; i < t->n; i++) {
        free(t->v[i].key);
        free(t->v[i].entity);
        free(t->v[i].category);
    }
    free(t->v);
}

/* Free a key list of answer_keys (its own copies). */
static void keys_free(char **keys, size_t n)
{
    for (size_t k = 0; k < n; k++)
        free(keys[k]);
    free(keys);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Re-published notices (same text, new id) are recorded as duplicates of
 * the first one, not indexed again: the truth's key for such a notice is
 * replaced by the key of the document the index keeps. */
static void truth_canonical(truth *t, tdx_qctx *q)
{
    tdx_err err = {0};
    for (size_t i = 0; i < t->n; i++) {
        uint32_t id;
        cr_assert(eq(int, tdx_qctx_find_key(q, t->v[i].key, strlen(t->v[i].key), &id, &err), 0),
                  "key %s of the truth is not in the index", t->v[i].key);
        tdx_qdoc d;
        cr_assert(eq(int, tdx_qctx_doc(q, id, &d, &err), 0));
        if (d.key_len != strlen(t->v[i].key) || memcmp(d.key, t->v[i].key, d.key_len) != 0) {
            free(t->v[i].key);
            t->v[i].key = strndup(d.key, d.key_len);
        }
    }
}

/* Sorted unique keys of truth rows matching entity (or category when cat). */
static size_t truth_keys(const truth *t, const char *name, int cat, char ***out)
{
    char **keys = malloc((t->n + 1) * sizeof *keys);
    size_t n = 0;
    for (size_t i = 0; i < t->n; i++)
        if (strcmp(cat ? t->v[i].category : t->v[i].entity, name) == 0)
            keys[n++] = t->v[i].key;
    qsort(keys, n, sizeof *keys, cmp_str);
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (w == 0 || strcmp(keys[w - 1], keys[i]) != 0)
            keys[w++] = keys[i];
    *out = keys;
    return w;
}

/* Sorted keys of a query answer. */
static size_t answer_keys(tdx_qctx *q, const char *text, char ***out)
{
    tdx_err err = {0};
    tdx_query *query;
    size_t col;
    int rc = tdx_query_parse(q, text, &query, &col, &err);
    cr_assert(eq(int, rc, 0), "parse '%s': %s", text, err.msg);
    tdx_docset d = {0};
    rc = tdx_query_run(q, query, 0, &d, NULL, &err);
    cr_assert(eq(int, rc, 0), "run '%s': %s", text, err.msg);
    char **keys = malloc((d.n + 1) * sizeof *keys);
    for (size_t i = 0; i < d.n; i++) {
        tdx_qdoc doc;
        cr_assert(eq(int, tdx_qctx_doc(q, d.v[i], &doc, &err), 0));
        keys[i] = strndup(doc.key, doc.key_len);
    }
    qsort(keys, d.n, sizeof *keys, cmp_str);
    size_t n = d.n;
    tdx_docset_free(&d);
    tdx_query_free(query);
    *out = keys;
    return n;
}

static void assert_same_keys(const char *what, char **a, size_t na, char **b, size_t nb)
{
    size_t i = 0, j = 0;
    while (i < na || j < nb) {
        int c = i == na ? 1 : j == nb ? -1 : strcmp(a[i], b[j]);
        cr_assert(c == 0, "%s: %s '%s' (index %zu of %zu, expected %zu)", what,
                  c < 0 ? "unexpected" : "missing", c < 0 ? a[i] : b[j], c < 0 ? i : j, na, nb);
        i++;
        j++;
    }
}

/* Generate notices.jsonl (and truth.tsv) with the bundled generator. */
static void gen_corpus(uint64_t seed, int docs)
{
    char cmd[8192];
    const char *gen = getenv("TENDERIDX_GEN");
    cr_assert(gen != NULL, "TENDERIDX_GEN not set");
    snprintf(cmd, sizeof cmd,
             "'%s' --docs %d --seed %llu --trad 0.3 --fullwidth 0.2 --plant 0.6 --variants 0.5 "
             "--dup 0.05 --watchlist '%s/corpus/watchlist.tsv' --truth '%s' -o '%s' -q",
             gen, docs, (unsigned long long)seed, TDX_SOURCE_ROOT, tu_path("truth.tsv"),
             tu_path("notices.jsonl"));
    char *out, *errs;
    int st = tu_run(cmd, &out, &errs);
    cr_assert(eq(int, st, 0), "gen failed: %s", errs);
    free(out);
    free(errs);
}

static void build_index(uint64_t seed, const char *idx, int docs)
{
    gen_corpus(seed, docs);
    char cmd[8192], *out, *errs;
    snprintf(cmd, sizeof cmd, "'%s' index -i '%s' -p '%s/corpus/watchlist.tsv' -j 2 -q '%s'",
             tu_tenderidx(), idx, TDX_SOURCE_ROOT, tu_path("notices.jsonl"));
    int st = tu_run(cmd, &out, &errs);
    cr_assert(eq(int, st, 0), "index failed (%d): %s %s", st, out, errs);
    free(out);
    free(errs);
    snprintf(cmd, sizeof cmd, "'%s' check -i '%s'", tu_tenderidx(), idx);
    st = tu_run(cmd, &out, &errs);
    cr_assert(eq(int, st, 0), "check failed: %s %s", out, errs);
    free(out);
    free(errs);
}

Test(e2e, entity_and_category_answers_equal_the_ground_truth, .init = setup, .fini = teardown,
     .timeout = 240)
{
    uint64_t seed = tu_seed("e2e") % 100000;
    const char *idx = tu_path("t.tdx");
    build_index(seed, idx, 1500);
    truth t = {0};
    truth_load(&t, tu_path("truth.tsv"));
    cr_assert(t.n > 100, "the generator planted too little (%zu)", t.n);
    tdx_err err = {0};
    tdx_qctx *q;
    cr_assert(eq(int, tdx_qctx_open(idx, &q, &err), 0), "%s", err.msg);
    truth_canonical(&t, q);
    /* Every entity and every category of the truth. */
    char **names = malloc(t.n * 2 * sizeof *names);
    size_t nn = 0;
    for (size_t i = 0; i < t.n; i++) {
        names[nn++] = t.v[i].entity;
    }
    qsort(names, nn, sizeof *names, cmp_str);
    size_t checked = 0;
    for (size_t i = 0; i < nn; i++) {
        if (i && strcmp(names[i], names[i - 1]) == 0)
            continue;
        char qt[512];
        snprintf(qt, sizeof qt, "entity:\"%s\"", names[i]);
        char **want, **got;
        size_t nw = truth_keys(&t, names[i], 0, &want);
        size_t ng = answer_keys(q, qt, &got);
        assert_same_keys(qt, got, ng, want, nw);
        keys_free(got, ng);
        free(want);
        checked++;
    }
    cr_assert(checked > 20, "only %zu entities were planted", checked);
    const char *cats[] = {"chip", "cloud", "university", "lab", "company", "intermediary"};
    for (size_t c = 0; c < sizeof cats / sizeof *cats; c++) {
        char qt[64], **want, **got;
        snprintf(qt, sizeof qt, "cat:%s", cats[c]);
        size_t nw = truth_keys(&t, cats[c], 1, &want);
        size_t ng = answer_keys(q, qt, &got);
        assert_same_keys(qt, got, ng, want, nw);
        keys_free(got, ng);
        free(want);
    }
    /* Boolean combinations, against set algebra on the truth. */
    char **chip, **cloud, **both, **either, **chip_not_cloud;
    size_t nchip = truth_keys(&t, "chip", 1, &chip), ncloud = truth_keys(&t, "cloud", 1, &cloud);
    size_t nb = answer_keys(q, "cat:chip AND cat:cloud", &both);
    size_t ne = answer_keys(q, "cat:chip OR cat:cloud", &either);
    size_t nx = answer_keys(q, "cat:chip NOT cat:cloud", &chip_not_cloud);
    size_t i = 0, j = 0, kb = 0, ke = 0, kx = 0;
    char **wb = malloc((nchip + ncloud + 1) * sizeof *wb), **we = malloc((nchip + ncloud + 1) * sizeof *we),
         **wx = malloc((nchip + 1) * sizeof *wx);
    while (i < nchip || j < ncloud) {
        int c = i == nchip ? 1 : j == ncloud ? -1 : strcmp(chip[i], cloud[j]);
        if (c == 0) {
            wb[kb++] = chip[i];
            we[ke++] = chip[i];
            i++;
            j++;
        } else if (c < 0) {
            we[ke++] = chip[i];
            wx[kx++] = chip[i];
            i++;
        } else {
            we[ke++] = cloud[j++];
        }
    }
    assert_same_keys("cat:chip AND cat:cloud", both, nb, wb, kb);
    assert_same_keys("cat:chip OR cat:cloud", either, ne, we, ke);
    assert_same_keys("cat:chip NOT cat:cloud", chip_not_cloud, nx, wx, kx);
    keys_free(both, nb);
    keys_free(either, ne);
    keys_free(chip_not_cloud, nx);
    free(chip);
    free(cloud);
    free(wb);
    free(we);
    free(wx);
    free(names);
    truth_free(&t);
    tdx_qctx_close(q);
}

Test(e2e, substring_answers_equal_brute_force_over_stored_text, .init = setup,
     .fini = teardown, .timeout = 240)
{
    uint64_t seed = tu_seed("e2e-substring") % 100000;
    const char *idx = tu_path("t.tdx");
    build_index(seed, idx, 600);
    tdx_err err = {0};
    tdx_qctx *q;
    cr_assert(eq(int, tdx_qctx_open(idx, &q, &err), 0), "%s", err.msg);
    tdx_norm *norm;
    tdx_norm_ctx *ctx;
    cr_assert(eq(int, tdx_norm_create(TDX_NORM_ALL, &norm, &err), 0));
    cr_assert(eq(int, tdx_norm_ctx_create(norm, &ctx, &err), 0));
    /* The corpus' own normalized texts, by doc id. */
    tdx_docset all = {0};
    tdx_query *query;
    size_t col;
    cr_assert(eq(int, tdx_query_parse(q, "date:..9999", &query, &col, &err), 0), "%s", err.msg);
    cr_assert(eq(int, tdx_query_run(q, query, 0, &all, NULL, &err), 0));
    tdx_query_free(query);
    cr_assert(all.n > 100);
    char **texts = calloc(all.n, sizeof *texts);
    tdx_buf raw = TDX_BUF_INIT;
    tdx_norm_out no;
    tdx_norm_out_init(&no);
    for (size_t i = 0; i < all.n; i++) {
        cr_assert(eq(int, tdx_qctx_text(q, all.v[i], &raw, &err), 0));
        cr_assert(eq(int, tdx_norm_run(norm, ctx, raw.p, raw.len, &no, &err), 0));
        texts[i] = strndup((const char *)no.text.p, no.text.len);
    }
    /* Queries: substrings of the texts themselves (1..8 characters, any
     * script), plus names as people type them. */
    uint64_t st = seed;
    const char *typed[] = {"深圳大學", "之江實驗室", "ＮＶＩＤＩＡ", "Ａ１００", "h100", "采购",
                           "亞馬遜", "服务器", "GPU", "国家超级计算", "元", "2023"};
    for (int round = 0; round < 60; round++) {
        char qbuf[128];
        if (round < (int)(sizeof typed / sizeof *typed)) {
            snprintf(qbuf, sizeof qbuf, "\"%s\"", typed[round]);
        } else {
            const char *t = texts[tu_rand(&st) % all.n];
            size_t tl = strlen(t);
            if (tl < 40)
                continue;
            size_t at = tu_rand(&st) % (tl - 32);
            while (at < tl && ((unsigned char)t[at] & 0xC0) == 0x80)
                at++;
            size_t nchars = 1 + tu_rand(&st) % 8, e = at;
            for (size_t k = 0; k < nchars && e < tl; k++) {
                e++;
                while (e < tl && ((unsigned char)t[e] & 0xC0) == 0x80)
                    e++;
            }
            char frag[96];
            size_t fl = 0;
            for (size_t k = at; k < e && fl < 90; k++)
                if (t[k] != '"' && t[k] != '\\')
                    frag[fl++] = t[k];
            frag[fl] = 0;
            if (fl == 0 || strspn(frag, " ") == fl)
                continue;
            snprintf(qbuf, sizeof qbuf, "\"%s\"", frag);
        }
        /* Brute force: normalize the query the same way, search every text. */
        char *nq;
        size_t nql;
        cr_assert(eq(int, tdx_norm_str(norm, qbuf + 1, strlen(qbuf) - 2, &nq, &nql, &err), 0));
        tdx_docset want = {0}, got = {0};
        for (size_t i = 0; i < all.n; i++)
            if (nql && memmem(texts[i], strlen(texts[i]), nq, nql))
                tdx_docset_push(&want, all.v[i]);
        cr_assert(eq(int, tdx_query_parse(q, qbuf, &query, &col, &err), 0), "%s: %s", qbuf,
                  err.msg);
        cr_assert(eq(int, tdx_query_run(q, query, 0, &got, NULL, &err), 0));
        cr_assert(eq(sz, got.n, want.n), "query %s: %zu docs, brute force %zu (seed %llu)", qbuf,
                  got.n, want.n, (unsigned long long)seed);
        for (size_t k = 0; k < got.n; k++)
            cr_assert(eq(u32, got.v[k], want.v[k]), "query %s differs at %zu", qbuf, k);
        tdx_query_free(query);
        tdx_docset_free(&want);
        tdx_docset_free(&got);
        tdx_free(nq);
    }
    for (size_t i = 0; i < all.n; i++)
        free(texts[i]);
    free(texts);
    tdx_buf_free(&raw);
    tdx_norm_out_free(&no);
    tdx_norm_ctx_free(ctx);
    tdx_norm_free(norm);
    tdx_docset_free(&all);
    tdx_qctx_close(q);
}

/* Run cmd (a shell command line) and return its standard output; asserts
 * that it succeeds. */
static char *run_ok(const char *cmd)
{
    char *out, *errs;
    int st = tu_run(cmd, &out, &errs);
    cr_assert(eq(int, st, 0), "%s failed (%d): %s", cmd, st, errs);
    free(errs);
    return out;
}

/* Index with the normalizer's tables (and the compiled watch list) taken
 * from a cache directory: the second run loads what the first one saved,
 * in a new process (so the class table is installed from the file, not
 * asked of ICU), and both indexes, and an index built without a cache,
 * have the same content; queries through the cached tables answer as
 * without them. */
Test(e2e, tables_from_the_cache_index_and_query_as_built_ones, .init = setup, .fini = teardown,
     .timeout = 240)
{
    gen_corpus(tu_seed("e2e-norm-cache") % 100000, 300);
    char cmd[8192];
    char cache[4096]; /* tu_path's buffers are reused */
    snprintf(cache, sizeof cache, "%s", tu_path("cache"));
    const char *caches[3] = {cache, cache, ""};
    const char *names[3] = {"a.tdx", "b.tdx", "c.tdx"};
    const char *want_cached[3] = {"false", "true", "false"};
    char *dumps[3];
    for (int i = 0; i < 3; i++) {
        snprintf(cmd, sizeof cmd,
                 "TENDERIDX_CACHE_DIR='%s' '%s' index -i '%s' -p '%s/corpus/watchlist.tsv' -q "
                 "--stats-json '%s' '%s'",
                 caches[i], tu_tenderidx(), tu_path(names[i]), TDX_SOURCE_ROOT,
                 tu_path("stats.json"), tu_path("notices.jsonl"));
        free(run_ok(cmd));
        char *stats = tu_read_file(tu_path("stats.json"), NULL);
        char want[64];
        snprintf(want, sizeof want, "\"normalizer_from_cache\":%s", want_cached[i]);
        cr_assert(strstr(stats, want) != NULL, "run %d: %s", i, stats);
        free(stats);
        snprintf(cmd, sizeof cmd, "'%s' dump -i '%s'", tu_tenderidx(), tu_path(names[i]));
        dumps[i] = run_ok(cmd);
        cr_assert(strlen(dumps[i]) > 1000);
    }
    cr_assert(strcmp(dumps[0], dumps[1]) == 0, "cached run's index differs");
    cr_assert(strcmp(dumps[0], dumps[2]) == 0, "uncached run's index differs");
    for (int i = 0; i < 3; i++)
        free(dumps[i]);

    /* The query normalizes its strings with the cached tables. */
    const char *queries[] = {"採購",         "項目",      "深圳大學",
                             "ＮＶＩＤＩＡ", "亞馬遜 雲", "Ａ１００ OR h100"};
    for (size_t k = 0; k < sizeof queries / sizeof *queries; k++) {
        char *ans[2];
        for (int i = 0; i < 2; i++) {
            snprintf(cmd, sizeof cmd, "TENDERIDX_CACHE_DIR='%s' '%s' query -i '%s' --json '%s'",
                     i ? "" : cache, tu_tenderidx(), tu_path("b.tdx"), queries[k]);
            ans[i] = run_ok(cmd);
        }
        cr_assert(strcmp(ans[0], ans[1]) == 0, "query %s: cached and built tables differ",
                  queries[k]);
        cr_assert(k >= 2 || strlen(ans[0]) > 0, "query %s: no answer", queries[k]);
        free(ans[0]);
        free(ans[1]);
    }
}

/* `query --explain` from the shell: every term of the query is listed
 * (phrases proved by positions during the run included), its counts line
 * up in display columns whatever the script, and a regex says what its
 * candidates must hold. */
Test(e2e, explain_lists_every_term_aligned_with_what_each_regex_needs, .init = setup,
     .fini = teardown, .timeout = 120)
{
    build_index(tu_seed("e2e-explain") % 100000, tu_path("x.tdx"), 300);
    static const char *const leaves[] = {"采购", "\"项目编号\"", "\"公告\"", "/h[18]00|gpu/"};
    char cmd[8192], *out, *errs;
    snprintf(cmd, sizeof cmd, "'%s' query -i '%s' --count --explain '(%s OR %s) AND %s AND %s'",
             tu_tenderidx(), tu_path("x.tdx"), leaves[0], leaves[1], leaves[2], leaves[3]);
    int st = tu_run(cmd, &out, &errs);
    cr_assert(eq(int, st, 0), "%s: %s", cmd, errs);
    size_t col = 0;
    for (size_t i = 0; i < sizeof leaves / sizeof *leaves; i++) {
        char want[64];
        snprintf(want, sizeof want, "\n  %s ", leaves[i]);
        const char *line = strstr(errs, want);
        cr_assert(line != NULL, "%s is not listed:\n%s", leaves[i], errs);
        line++;
        const char *docs = strstr(line, " documents");
        cr_assert(docs != NULL && memchr(line, '\n', (size_t)(docs - line)) == NULL, "%s", errs);
        const char *count = docs;
        while (count > line && count[-1] != ' ')
            count--;
        size_t w = tdx_text_width(line, (size_t)(count - line));
        if (i == 0)
            col = w;
        cr_expect(eq(sz, w, col), "the count of %s starts at column %zu, not %zu:\n%s", leaves[i],
                  w, col, errs);
    }
    cr_expect(strstr(errs, "/h[18]00|gpu/ is run over the documents holding h100 | h800 | gpu") !=
                  NULL,
              "%s", errs);
    free(out);
    free(errs);
}
