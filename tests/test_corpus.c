/*
 * test_corpus.c - corpus/gen: deterministic per seed, exact ground truth,
 * watch-list generator, and its error paths.
 *
 * The truth is checked here with an implementation of its own, simpler
 * than the generator's: the test reads the bundled watch list itself,
 * normalizes every notice with the tdx normalizer and finds each literal
 * alias with strstr, holding hits to the boundary rule; the findings must
 * equal the truth rows, entity by entity in text order.  Regex rows are
 * left out here (their entities only hold regexes); gen --verify covers
 * them.
 */
#include "tassert.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utf8.h"
#include "normalize/normalize.h"
#include "testutil.h"

static void setup(void)
{
    tu_tmpdir();
}

static void teardown(void)
{
    tu_tmpdir_remove();
}

static const char *gen_path(void)
{
    const char *p = getenv("TENDERIDX_GEN");
    return p ? p : TDX_BUILD_ROOT "/corpus/gen";
}

static int run_gen(const char *args, char **err)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %s", gen_path(), args);
    return tu_run(cmd, NULL, err);
}

/* gen OPTS -o TMPDIR/NAME, which must succeed. */
static void gen_ok(const char *opts, const char *name)
{
    char args[2048];
    snprintf(args, sizeof args, "%s -o '%s'", opts, tu_path(name));
    cr_assert(eq(int, run_gen(args, NULL), 0), "gen %s", args);
}

/* ---- a small JSON Lines reader: the fields the test needs -------------- */

static void put_utf8(char **o, unsigned cp)
{
    unsigned char *p = (unsigned char *)*o;
    if (cp < 0x80) {
        *p++ = (unsigned char)cp;
    } else if (cp < 0x800) {
        *p++ = (unsigned char)(0xC0 | (cp >> 6));
        *p++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *p++ = (unsigned char)(0xE0 | (cp >> 12));
        *p++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        *p++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else {
        *p++ = (unsigned char)(0xF0 | (cp >> 18));
        *p++ = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
        *p++ = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        *p++ = (unsigned char)(0x80 | (cp & 0x3F));
    }
    *o = (char *)p;
}

/* Value of string field `key` in one JSON object line; malloc'd, NULL if absent. */
static char *json_get(const char *line, const char *key, size_t *out_len)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(line, pat);
    if (p == NULL)
        return NULL;
    p += strlen(pat);
    char *out = malloc(strlen(p) + 1), *o = out;
    while (*p && *p != '"') {
        if (*p != '\\') {
            *o++ = *p++;
            continue;
        }
        p++;
        switch (*p) {
        case 'n':
            *o++ = '\n';
            break;
        case 't':
            *o++ = '\t';
            break;
        case 'r':
            *o++ = '\r';
            break;
        case 'u': {
            unsigned cp = (unsigned)strtoul((char[]){p[1], p[2], p[3], p[4], 0}, NULL, 16);
            p += 4;
            put_utf8(&o, cp);
            break;
        }
        default:
            *o++ = *p;
            break;
        }
        p++;
    }
    *o = 0;
    if (out_len)
        *out_len = (size_t)(o - out);
    return out;
}

/* ---- the watch list, read independently ---------------------------------- */

typedef struct alias {
    char entity[256];
    char *norm;
    size_t len;
    int substring;
} alias;

typedef struct wl {
    alias *a;
    size_t n;
    char regex_entities[64][256];
    size_t nregex;
} wl;

static void wl_load(wl *w, const char *path, const tdx_norm *norm)
{
    memset(w, 0, sizeof *w);
    FILE *f = fopen(path, "r");
    cr_assert(f != NULL, "cannot read %s", path);
    char line[4096];
    tdx_err err = {0};
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (line[0] == '#' || line[0] == 0)
            continue;
        char *ent = strtok(line, "\t"), *cat = strtok(NULL, "\t"), *pat = strtok(NULL, "\t"),
             *flags = strtok(NULL, "\t");
        cr_assert(ent && cat && pat, "bad watch-list line");
        size_t pl = strlen(pat);
        if (pl >= 2 && pat[0] == '/' && pat[pl - 1] == '/') {
            cr_assert(w->nregex < 64);
            snprintf(w->regex_entities[w->nregex++], 256, "%s", ent);
            continue;
        }
        w->a = realloc(w->a, (w->n + 1) * sizeof *w->a);
        alias *a = &w->a[w->n++];
        snprintf(a->entity, sizeof a->entity, "%s", ent);
        cr_assert(eq(int, tdx_norm_str(norm, pat, pl, &a->norm, &a->len, &err), 0));
        while (a->len && a->norm[a->len - 1] == ' ')
            a->norm[--a->len] = 0;
        a->substring = flags && strstr(flags, "substring") != NULL;
    }
    fclose(f);
}

static int is_regex_entity(const wl *w, const char *e)
{
    for (size_t i = 0; i < w->nregex; i++)
        if (strcmp(w->regex_entities[i], e) == 0)
            return 1;
    return 0;
}

static int alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

typedef struct found {
    const char *entity;
    size_t start, end;
} found;

static int cmp_found(const void *a, const void *b)
{
    const found *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return strcmp(x->entity, y->entity);
}

/* Every literal alias in normalized text t, by strstr and the boundary rule. */
static size_t naive_find(const wl *w, const char *t, size_t tlen, found *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = 0; i < w->n; i++) {
        const alias *a = &w->a[i];
        for (const char *p = strstr(t, a->norm); p; p = strstr(p + 1, a->norm)) {
            size_t s = (size_t)(p - t), e = s + a->len;
            if (!a->substring) {
                if (alnum((unsigned char)a->norm[0]) && s > 0 && alnum((unsigned char)t[s - 1]))
                    continue;
                if (alnum((unsigned char)a->norm[a->len - 1]) && e < tlen &&
                    alnum((unsigned char)t[e]))
                    continue;
            }
            int dup = 0;
            for (size_t k = 0; k < n; k++)
                dup |=
                    out[k].start == s && out[k].end == e && strcmp(out[k].entity, a->entity) == 0;
            if (!dup && n < cap)
                out[n++] = (found){a->entity, s, e};
        }
    }
    qsort(out, n, sizeof *out, cmp_found);
    return n;
}

/* ---- tests ------------------------------------------------------------------ */

Test(corpus, same_seed_same_bytes_other_seed_other_bytes, .init = setup, .fini = teardown)
{
    char args[2048];
    const char *common = "-n 300 --plant 0.8 --trad 0.4 --fullwidth 0.2 --variants 0.5 --dup 0.1 "
                         "--date-formats mix -q";
    snprintf(args, sizeof args, "%s -s 7 -o '%s' -t '%s'", common, tu_path("a.jsonl"),
             tu_path("a.tsv"));
    cr_assert(eq(int, run_gen(args, NULL), 0));
    snprintf(args, sizeof args, "%s -s 7 -o '%s' -t '%s'", common, tu_path("b.jsonl"),
             tu_path("b.tsv"));
    cr_assert(eq(int, run_gen(args, NULL), 0));
    snprintf(args, sizeof args, "%s -s 8 -o '%s' -t '%s'", common, tu_path("c.jsonl"),
             tu_path("c.tsv"));
    cr_assert(eq(int, run_gen(args, NULL), 0));
    size_t la, lb, lc, ta, tb;
    char *a = tu_read_file(tu_path("a.jsonl"), &la), *b = tu_read_file(tu_path("b.jsonl"), &lb);
    char *c = tu_read_file(tu_path("c.jsonl"), &lc);
    char *x = tu_read_file(tu_path("a.tsv"), &ta), *y = tu_read_file(tu_path("b.tsv"), &tb);
    cr_assert(la > 100000 && la == lb && memcmp(a, b, la) == 0, "same seed, different output");
    cr_assert(ta > 0 && ta == tb && memcmp(x, y, ta) == 0, "same seed, different truth");
    cr_assert(la != lc || memcmp(a, c, la) != 0, "another seed gave the same output");
    free(a);
    free(b);
    free(c);
    free(x);
    free(y);
}

Test(corpus, a_notice_does_not_depend_on_the_range, .init = setup, .fini = teardown)
{
    char args[2048];
    snprintf(args, sizeof args, "-n 60 -s 3 -q -o '%s'", tu_path("all.jsonl"));
    cr_assert(eq(int, run_gen(args, NULL), 0));
    snprintf(args, sizeof args, "--first 40 -n 20 -s 3 -q -o '%s'", tu_path("tail.jsonl"));
    cr_assert(eq(int, run_gen(args, NULL), 0));
    char *all = tu_read_file(tu_path("all.jsonl"), NULL);
    char *tail = tu_read_file(tu_path("tail.jsonl"), NULL);
    const char *p = all;
    for (int i = 0; i < 40; i++)
        p = strchr(p, '\n') + 1;
    cr_assert(eq(str, (char *)p, tail));
    free(all);
    free(tail);
}

Test(corpus, truth_equals_a_naive_search_of_the_normalized_text, .init = setup, .fini = teardown,
     .timeout = 120)
{
    uint64_t seed = tu_seed("corpus truth") % 1000000;
    char args[2048];
    snprintf(args, sizeof args,
             "-n 400 -s %llu --plant 0.9 --trad 0.4 --fullwidth 0.25 --variants 0.6 "
             "--date-formats mix -q -o '%s' -t '%s'",
             (unsigned long long)seed, tu_path("d.jsonl"), tu_path("d.tsv"));
    cr_assert(eq(int, run_gen(args, NULL), 0));

    tdx_norm *norm = NULL;
    tdx_norm_ctx *ctx = NULL;
    tdx_err err = {0};
    cr_assert(eq(int, tdx_norm_create(TDX_NORM_ALL, &norm, &err), 0));
    cr_assert(eq(int, tdx_norm_ctx_create(norm, &ctx, &err), 0));
    wl w;
    wl_load(&w, TDX_SOURCE_ROOT "/corpus/watchlist.tsv", norm);
    cr_assert(w.n > 200 && w.nregex > 0);

    /* truth rows, grouped by notice id (the file is in notice order) */
    FILE *tf = fopen(tu_path("d.tsv"), "r");
    FILE *df = fopen(tu_path("d.jsonl"), "r");
    cr_assert(tf && df);
    char *line = NULL, tline[8192];
    size_t cap = 0;
    long pos = 0;
    size_t ndocs = 0, nhits = 0;
    tdx_norm_out out;
    tdx_norm_out_init(&out);
    found *got = calloc(4096, sizeof *got), *want = calloc(4096, sizeof *want);
    char(*want_ent)[256] = calloc(4096, 256);
    while (getline(&line, &cap, df) > 0) {
        size_t tlen;
        char *id = json_get(line, "id", NULL), *text = json_get(line, "text", &tlen);
        cr_assert(id && text);
        /* this notice's truth rows */
        size_t nw = 0;
        fseek(tf, pos, SEEK_SET);
        while (fgets(tline, sizeof tline, tf)) {
            size_t idl = strlen(id);
            if (strncmp(tline, id, idl) != 0 || tline[idl] != '\t')
                break;
            pos = ftell(tf);
            tline[strcspn(tline, "\n")] = 0;
            char *f[6];
            char *sp = tline;
            for (int k = 0; k < 6; k++) {
                f[k] = sp;
                sp = strchr(sp, '\t');
                if (k < 5) {
                    cr_assert(sp != NULL, "truth row with fewer than 6 columns");
                    *sp++ = 0;
                }
            }
            size_t s = strtoul(f[4], NULL, 10), e = strtoul(f[5], NULL, 10);
            cr_assert(s < e && e <= tlen, "%s: truth offsets out of range", id);
            cr_assert(eq(int, memcmp(text + s, f[3], e - s), 0),
                      "%s: truth slice is not the alias as written", id);
            cr_assert(strlen(f[3]) == e - s);
            if (is_regex_entity(&w, f[1]))
                continue;
            snprintf(want_ent[nw], 256, "%s", f[1]);
            want[nw] = (found){want_ent[nw], s, e};
            nw++;
        }
        qsort(want, nw, sizeof *want, cmp_found);
        cr_assert(eq(int, tdx_norm_run(norm, ctx, (const uint8_t *)text, tlen, &out, &err), 0));
        size_t ng = naive_find(&w, (const char *)out.text.p, out.text.len, got, 4096);
        cr_assert(eq(sz, ng, nw), "seed %llu, %s: naive search finds %zu names, truth has %zu",
                  (unsigned long long)seed, id, ng, nw);
        for (size_t k = 0; k < ng; k++) {
            cr_assert(eq(str, (char *)got[k].entity, (char *)want[k].entity), "seed %llu, %s",
                      (unsigned long long)seed, id);
            /* the truth slice normalizes to what the search found (with a
             * little left context: Traditional-Simplified looks at neighbours) */
            size_t hl = got[k].end - got[k].start, from = want[k].start;
            for (int back = 0; back < 8 && from > 0; back++)
                do
                    from--;
                while (from > 0 && (text[from] & 0xC0) == 0x80);
            char *ns = NULL, *nc = NULL;
            size_t nl = 0, ncl = 0;
            cr_assert(eq(int,
                         tdx_norm_str(norm, text + want[k].start, want[k].end - want[k].start, &ns,
                                      &nl, &err),
                         0));
            cr_assert(
                eq(int, tdx_norm_str(norm, text + from, want[k].end - from, &nc, &ncl, &err), 0));
            while (ncl > 0 && nc[ncl - 1] == ' ')
                ncl--;
            const char *h = (const char *)out.text.p + got[k].start;
            int same = (nl == hl && memcmp(ns, h, hl) == 0) ||
                       (ncl >= hl && memcmp(nc + ncl - hl, h, hl) == 0);
            cr_assert(same, "seed %llu, %s: truth slice and hit differ", (unsigned long long)seed,
                      id);
            free(ns);
            free(nc);
        }
        nhits += ng;
        ndocs++;
        free(id);
        free(text);
    }
    cr_assert(eq(sz, ndocs, 400));
    cr_assert(nhits > 300, "too few planted names to prove anything: %zu", nhits);
    free(line);
    free(got);
    free(want);
    free(want_ent);
    fclose(tf);
    fclose(df);
    for (size_t i = 0; i < w.n; i++)
        free(w.a[i].norm);
    free(w.a);
    tdx_norm_out_free(&out);
    tdx_norm_ctx_free(ctx);
    tdx_norm_free(norm);
}

Test(corpus, verify_passes_and_can_fail, .init = setup, .fini = teardown, .timeout = 120)
{
    char *err = NULL;
    cr_assert(eq(int, run_gen("-n 400 --plant 0.9 --variants 0.5 --verify -o /dev/null", &err), 0),
              "%s", err);
    cr_assert(strstr(err, "0 mismatched") != NULL, "%s", err);
    free(err);
    /* without the junction separators the reference matcher disagrees */
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "TDX_GEN_FAULT=nosep '%s' -n 1500 --plant 0.9 --variants 0.5 --verify -o /dev/null",
             gen_path());
    cr_assert(eq(int, tu_run(cmd, NULL, &err), 1), "%s", err);
    cr_assert(strstr(err, "mismatched") != NULL);
    free(err);
}

Test(corpus, bad_usage_and_hopeless_watch_lists_are_refused, .init = setup, .fini = teardown)
{
    char *err = NULL;
    cr_assert(eq(int, run_gen("--trad 1.5", &err), 2));
    cr_assert(strstr(err, "--trad") != NULL, "%s", err);
    free(err);
    cr_assert(eq(int, run_gen("--no-such-option", NULL), 2));
    cr_assert(eq(int, run_gen("-n 1 -w /nonexistent/wl.tsv", &err), 3));
    cr_assert(strstr(err, "/nonexistent/wl.tsv") != NULL, "%s", err);
    free(err);
    /* an alias every filler alternative contains cannot give exact truth */
    tu_write_str(tu_path("generic.tsv"), "Generic\tcompany\t公司\n");
    char args[1024];
    snprintf(args, sizeof args, "-n 1 -o /dev/null -w '%s'", tu_path("generic.tsv"));
    cr_assert(eq(int, run_gen(args, &err), 3));
    cr_assert(strstr(err, "contains an alias") != NULL, "%s", err);
    free(err);
    tu_write_str(tu_path("bad.tsv"), "X\tchip\n");
    snprintf(args, sizeof args, "-n 1 -o /dev/null -w '%s'", tu_path("bad.tsv"));
    cr_assert(eq(int, run_gen(args, &err), 3));
    cr_assert(strstr(err, "bad.tsv:1:") != NULL, "%s", err);
    free(err);
}

Test(corpus, generated_watch_list_has_n_entities_and_no_shared_alias, .init = setup,
     .fini = teardown, .timeout = 120)
{
    char args[2048];
    snprintf(args, sizeof args, "watchlist --names 1000 --seed 5 -o '%s'", tu_path("w1.tsv"));
    cr_assert(eq(int, run_gen(args, NULL), 0));
    snprintf(args, sizeof args, "watchlist --names 1000 --seed 5 -o '%s'", tu_path("w2.tsv"));
    cr_assert(eq(int, run_gen(args, NULL), 0));
    char *a = tu_read_file(tu_path("w1.tsv"), NULL), *b = tu_read_file(tu_path("w2.tsv"), NULL);
    cr_assert(eq(str, a, b), "same seed, different watch list");
    free(b);

    tdx_norm *norm = NULL;
    tdx_err err = {0};
    cr_assert(eq(int, tdx_norm_create(TDX_NORM_ALL, &norm, &err), 0));
    /* entity of every normalized alias, by linear search: obviously right */
    size_t n = 0, nent = 0, cats[4] = {0};
    char **keys = calloc(8000, sizeof *keys), **owner = calloc(8000, sizeof *owner);
    char prev[512] = "";
    for (char *line = strtok(a, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#')
            continue;
        char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        cr_assert(t1 && t2, "bad row '%s'", line);
        *t1 = *t2 = 0;
        const char *ent = line, *cat = t1 + 1, *pat = t2 + 1;
        static const char *const names[] = {"company", "university", "lab", "intermediary"};
        int ci = -1;
        for (int k = 0; k < 4; k++)
            if (strcmp(cat, names[k]) == 0)
                ci = k;
        cr_assert(ci >= 0, "unexpected category '%s'", cat);
        if (strcmp(prev, ent) != 0) {
            nent++;
            cats[ci]++;
            snprintf(prev, sizeof prev, "%s", ent);
        }
        char *k = NULL;
        size_t kl = 0;
        cr_assert(eq(int, tdx_norm_str(norm, pat, strlen(pat), &k, &kl, &err), 0));
        for (size_t j = 0; j < n; j++)
            cr_assert(strcmp(keys[j], k) != 0, "alias '%s' of '%s' also belongs to '%s'", pat, ent,
                      owner[j]);
        cr_assert(n < 8000);
        keys[n] = k;
        owner[n++] = strdup(ent);
    }
    cr_assert(eq(sz, nent, 1000));
    cr_assert(n >= 2000, "expected several aliases per entity, got %zu rows", n);
    for (int k = 0; k < 4; k++)
        cr_assert(cats[k] >= 50, "category %d has only %zu entities", k, cats[k]);
    for (size_t j = 0; j < n; j++) {
        free(keys[j]);
        free(owner[j]);
    }
    free(keys);
    free(owner);
    free(a);
    tdx_norm_free(norm);

    /* and notices planting them keep an exact truth */
    char *errout = NULL;
    snprintf(args, sizeof args, "-w '%s' -n 300 --plant 0.9 --variants 0.5 --verify -o /dev/null",
             tu_path("w1.tsv"));
    cr_assert(eq(int, run_gen(args, &errout), 0), "%s", errout);
    cr_assert(strstr(errout, "0 mismatched") != NULL, "%s", errout);
    free(errout);
}

#include <unicode/ucnv.h>

/* Decode a notice file: UTF-8 when valid, else the first of GB18030 and Big5
 * that turns it back into `want`.  Returns the encoding used, or NULL. */
static const char *decode_as(const char *bytes, size_t n, const char *want)
{
    static const char *const encs[] = {"UTF-8", "GB18030", "Big5"};
    for (int i = 0; i < 3; i++) {
        UErrorCode st = U_ZERO_ERROR;
        char *out = calloc(n * 4 + 16, 1);
        int32_t m =
            ucnv_convert("UTF-8", encs[i], out, (int32_t)(n * 4 + 16), bytes, (int32_t)n, &st);
        int ok = U_SUCCESS(st) && (size_t)m == strlen(want) && memcmp(out, want, (size_t)m) == 0;
        free(out);
        if (ok)
            return encs[i];
    }
    return NULL;
}

Test(corpus, text_files_hold_the_notice_text_in_their_encoding, .init = setup, .fini = teardown)
{
    char args[2048];
    const char *common = "-n 120 -s 11 --trad 0.5 --plant 0.5 -q";
    snprintf(args, sizeof args, "%s -o '%s'", common, tu_path("n.jsonl"));
    cr_assert(eq(int, run_gen(args, NULL), 0));
    snprintf(args, sizeof args, "%s --format text --encoding-share gb18030=0.4,big5=0.6 -o '%s'",
             common, tu_path("txt"));
    cr_assert(eq(int, run_gen(args, NULL), 0));
    char *all = tu_read_file(tu_path("n.jsonl"), NULL);
    int seen[3] = {0};
    for (char *line = strtok(all, "\n"); line; line = strtok(NULL, "\n")) {
        char *id = json_get(line, "id", NULL), *text = json_get(line, "text", NULL);
        char name[512];
        snprintf(name, sizeof name, "txt/00000/%s.txt", id);
        size_t n;
        char *bytes = tu_read_file(tu_path(name), &n);
        cr_assert(bytes != NULL, "missing %s", name);
        const char *enc = decode_as(bytes, n, text);
        cr_assert(enc != NULL, "%s does not decode to the notice text", name);
        seen[enc[0] == 'U' ? 0 : enc[0] == 'G' ? 1 : 2]++;
        free(bytes);
        free(id);
        free(text);
    }
    cr_assert(seen[0] > 0 && seen[1] > 0 && seen[2] > 0, "encodings used: %d %d %d", seen[0],
              seen[1], seen[2]);
    free(all);
}

/* Visible text of a generated page: blocks end lines, tags go, entities decode. */
static char *page_text(const char *html)
{
    const char *body = strstr(html, "<body>");
    cr_assert(body != NULL);
    char *out = calloc(strlen(body) + 1, 1), *o = out;
    for (const char *p = body + 6; *p;) {
        if (*p == '<') {
            int block = strncmp(p, "</p>", 4) == 0 || strncmp(p, "</div>", 6) == 0 ||
                        strncmp(p, "</h1>", 5) == 0;
            p = strchr(p, '>') + 1;
            if (block && o > out && o[-1] != '\n')
                *o++ = '\n';
        } else if (*p == '\n') {
            p++;
        } else if (*p == '&') {
            static const char *const ent[][2] = {{"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}};
            int hit = 0;
            for (int k = 0; k < 3 && !hit; k++)
                if (strncmp(p, ent[k][0], strlen(ent[k][0])) == 0) {
                    *o++ = ent[k][1][0];
                    p += strlen(ent[k][0]);
                    hit = 1;
                }
            cr_assert(hit, "unexpected entity");
        } else {
            *o++ = *p++;
        }
    }
    return out;
}

Test(corpus, html_pages_show_the_notice_text_the_truth_points_into, .init = setup, .fini = teardown)
{
    char args[2048];
    snprintf(args, sizeof args, "-n 60 -s 4 --plant 0.9 --format html -q -o '%s' -t '%s'",
             tu_path("html"), tu_path("h.tsv"));
    cr_assert(eq(int, run_gen(args, NULL), 0));
    char *truth = tu_read_file(tu_path("h.tsv"), NULL);
    size_t rows = 0;
    for (char *line = strtok(truth, "\n"); line; line = strtok(NULL, "\n")) {
        char *f[6];
        for (int k = 0; k < 6; k++) {
            f[k] = line;
            line = strchr(line, '\t');
            if (k < 5)
                *line++ = 0;
        }
        char name[512];
        snprintf(name, sizeof name, "html/00000/%s.html", f[0]);
        char *page = tu_read_file(tu_path(name), NULL);
        cr_assert(page != NULL, "missing %s", name);
        char *text = page_text(page);
        size_t s = strtoul(f[4], NULL, 10), e = strtoul(f[5], NULL, 10);
        cr_assert(e <= strlen(text) && memcmp(text + s, f[3], e - s) == 0,
                  "%s: truth row '%s' [%zu, %zu) is not in the page's text", f[0], f[3], s, e);
        free(text);
        free(page);
        rows++;
    }
    cr_assert(rows > 20);
    free(truth);
}

Test(corpus, compressed_and_archived_output_unpacks_to_the_same_notices, .init = setup,
     .fini = teardown)
{
    char cmd[4096];
    gen_ok("-n 80 -s 2 -q", "p.jsonl");
    gen_ok("-n 80 -s 2 -q --compress gz", "p.jsonl.gz");
    gen_ok("-n 80 -s 2 -q --compress tar", "p.tar");
    gen_ok("-n 80 -s 2 -q --compress zst", "p.jsonl.zst");
    snprintf(cmd, sizeof cmd, "gzip -dc '%s' | cmp - '%s'", tu_path("p.jsonl.gz"),
             tu_path("p.jsonl"));
    cr_assert(eq(int, tu_run(cmd, NULL, NULL), 0), "gz stream differs");
    snprintf(cmd, sizeof cmd, "tar -xOf '%s' part-00000.jsonl | cmp - '%s'", tu_path("p.tar"),
             tu_path("p.jsonl"));
    cr_assert(eq(int, tu_run(cmd, NULL, NULL), 0), "tar member differs");
    size_t n;
    char *z = tu_read_file(tu_path("p.jsonl.zst"), &n);
    cr_assert(n > 4 && (unsigned char)z[0] == 0x28 && (unsigned char)z[1] == 0xB5 &&
                  (unsigned char)z[2] == 0x2F && (unsigned char)z[3] == 0xFD,
              "not a zstd frame");
    free(z);
}

/* ---- gen text ------------------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Distinct pairs of adjacent CJK characters in the "text" fields of a JSON
 * Lines file, counted by sorting: the yardstick of term diversity. */
static size_t distinct_cjk_bigrams(const char *jsonl)
{
    size_t n = 0, cap = 1 << 16;
    uint64_t *v = malloc(cap * sizeof *v);
    for (const char *line = jsonl; *line;) {
        const char *nl = strchr(line, '\n');
        char *text = json_get(line, "text", NULL);
        uint32_t prev = 0;
        const uint8_t *p = (const uint8_t *)text, *end = p + (text ? strlen(text) : 0);
        while (p < end) {
            size_t l;
            int32_t cp = tdx_utf8_decode(p, end, &l);
            p += l;
            int cjk = cp >= 0x4E00 && cp <= 0x9FFF;
            if (cjk && prev) {
                if (n == cap)
                    v = realloc(v, (cap *= 2) * sizeof *v);
                v[n++] = (uint64_t)prev << 32 | (uint32_t)cp;
            }
            prev = cjk ? (uint32_t)cp : 0;
        }
        free(text);
        line = nl ? nl + 1 : line + strlen(line);
    }
    qsort(v, n, sizeof *v, cmp_u64);
    size_t d = 0;
    for (size_t i = 0; i < n; i++)
        d += i == 0 || v[i] != v[i - 1];
    free(v);
    return d;
}

Test(corpus, gen_text_is_deterministic_prefix_stable_and_as_diverse_as_prose, .init = setup,
     .fini = teardown)
{
    gen_ok("text -n 200 -s 5", "a.jsonl");
    gen_ok("text -n 200 -s 5", "b.jsonl");
    gen_ok("text -n 120 -s 5", "p.jsonl");
    gen_ok("text -n 200 -s 6", "c.jsonl");
    size_t la, lb, lp, lc;
    char *a = tu_read_file(tu_path("a.jsonl"), &la), *b = tu_read_file(tu_path("b.jsonl"), &lb);
    char *p = tu_read_file(tu_path("p.jsonl"), &lp), *c = tu_read_file(tu_path("c.jsonl"), &lc);
    cr_assert(la > 100000 && la == lb && memcmp(a, b, la) == 0, "same seed, different output");
    cr_assert(lt(sz, lp, la));
    cr_assert(memcmp(a, p, lp) == 0, "a document depends on how many are asked for");
    cr_assert(la != lc || memcmp(a, c, la) != 0, "another seed gave the same output");

    /* Every line a document: id, a valid date, a title that opens the text. */
    size_t lines = 0;
    for (const char *line = a; *line; lines++) {
        char *id = json_get(line, "id", NULL), *date = json_get(line, "date", NULL);
        char *title = json_get(line, "title", NULL), *text = json_get(line, "text", NULL);
        cr_assert(id && date && title && text, "line %zu lacks a field", lines + 1);
        int y, m, d;
        cr_assert(eq(int, sscanf(date, "%4d-%2d-%2d", &y, &m, &d), 3));
        cr_assert(y >= 2019 && y <= 2026 && m >= 1 && m <= 12 && d >= 1 && d <= 31, "%s", date);
        cr_assert(gt(sz, strlen(title), 0));
        cr_assert(strncmp(text, title, strlen(title)) == 0, "the title does not open the text");
        free(id);
        free(date);
        free(title);
        free(text);
        line = strchr(line, '\n') + 1;
    }
    cr_assert(eq(sz, lines, 200));

    /* What it is for: far more distinct terms than notices of the same size. */
    char opts[64];
    snprintf(opts, sizeof opts, "-b %zu -s 5 -q", la);
    gen_ok(opts, "n.jsonl");
    char *notices = tu_read_file(tu_path("n.jsonl"), NULL);
    size_t dp = distinct_cjk_bigrams(a), dn = distinct_cjk_bigrams(notices);
    cr_assert(gt(sz, dp, 5 * dn), "prose %zu distinct bigrams, notices %zu", dp, dn);
    free(notices);
    free(a);
    free(b);
    free(p);
    free(c);

    /* --bytes stops after the document that reaches it. */
    gen_ok("text -b 50k -s 5", "s.jsonl");
    size_t ls;
    char *s = tu_read_file(tu_path("s.jsonl"), &ls);
    cr_assert(ls >= 50000 && ls < 50000 + 8000, "%zu bytes", ls);
    free(s);
    char *err = NULL;
    cr_assert(eq(int, run_gen("text --lexicon 0", &err), 2));
    cr_assert(strstr(err, "--lexicon") != NULL, "%s", err);
    free(err);
}
