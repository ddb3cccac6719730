/*
 * bench_query.c - query latency per query class, in process, on one index.
 *
 * Where it sits: scripts/bench.sh builds an index of the generated corpus
 * (or of the user's data) and runs this program on it; peer_fts5 then runs
 * the very same query set (written with --emit) against SQLite FTS5.
 *
 * Query set: drawn with a seed from the index itself (unless --queries
 * gives a file):
 *   entity    entity:"NAME", an entity of the watch list, uniformly; full answer
 *   cat       cat:NAME, every category in turn; full answer
 *   and2      "a" AND "b": two 3-4 character substrings of one document
 *   sub20     "s": a 2-8 character substring of a document, first 20 results
 *   subcount  the same substrings, the whole answer counted (--count)
 *   facet     --facet month over every document of the index
 * Substrings are runs of Han characters (or of ASCII letters and digits) of
 * a random document's normalized text, so each has at least one answer.
 * Each query also gets its SQL form for FTS5 (empty when not expressible:
 * regex aliases, categories with more than 200 aliases).
 *
 * Method: one tdx_qctx (a read snapshot), single thread.  One warm-up pass
 * over the whole set (warm cache), then --runs timed passes; a query's time
 * is parse + evaluation (+ facet counting).  --budget bounds the time per
 * class: once a class's warm-up has taken budget/(runs+1) seconds, its
 * remaining queries are left out (the output says how many ran).  Per class and pass: p50, p95,
 * p99 (nearest rank), max, mean; printed as the median over passes, with
 * the best pass's p99 beside it.  A checksum over every answer's doc ids
 * keeps the work honest.
 *
 * Output: a table on stderr and one line per class on stdout:
 *   QUERY engine=tenderidx class=C queries=N runs=R p50_ms= p95_ms= p99_ms=
 *         max_ms= mean_ms= p99_best_ms= results= checksum=
 */
#include "benchutil.h"

#include "common/alloc.h"
#include "common/docset.h"
#include "common/utf8.h"
#include "match/match.h"
#include "normalize/normalize.h"
#include "query/query.h"

#include <errno.h>

enum { C_ENTITY, C_CAT, C_AND2, C_SUB20, C_SUBCOUNT, C_FACET, NCLASS = BU_NCLASS };

#define FTS_MAX_ALIASES 200

typedef struct bq {
    int cls;
    size_t limit;
    char *text; /* tenderidx query ("" for facet) */
    char *sql;  /* SQLite FTS5 form, "" when not expressible */
} bq;

typedef struct bqset {
    bq *v;
    size_t n, cap;
} bqset;

static void die(const char *what, const tdx_err *err)
{
    fprintf(stderr, "bench_query: %s: %s\n", what, err && err->msg[0] ? err->msg : "failed");
    exit(3);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = tdx_realloc(p, n);
    if (q == NULL) {
        fprintf(stderr, "bench_query: out of memory\n");
        exit(3);
    }
    return q;
}

static char *xstrdup(const char *s)
{
    char *d = tdx_strdup(s);
    if (d == NULL) {
        fprintf(stderr, "bench_query: out of memory\n");
        exit(3);
    }
    return d;
}

static void set_add(bqset *s, int cls, size_t limit, const char *text, const char *sql)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 256;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = (bq){cls, limit, xstrdup(text), xstrdup(sql)};
}

static void set_free(bqset *s)
{
    for (size_t i = 0; i < s->n; i++) {
        tdx_free(s->v[i].text);
        tdx_free(s->v[i].sql);
    }
    tdx_free(s->v);
}

/* ---- building query strings ---- */

static void buf_putc_or_die(tdx_buf *b, char c)
{
    if (tdx_buf_putc(b, (uint8_t)c)) {
        fprintf(stderr, "bench_query: out of memory\n");
        exit(3);
    }
}

static void buf_put_or_die(tdx_buf *b, const char *s, size_t n)
{
    if (tdx_buf_append(b, s, n)) {
        fprintf(stderr, "bench_query: out of memory\n");
        exit(3);
    }
}

/* "text" in the tenderidx query language: backslash escapes " and \. */
static void put_tdx_quoted(tdx_buf *b, const char *s, size_t n)
{
    buf_putc_or_die(b, '"');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\')
            buf_putc_or_die(b, '\\');
        buf_putc_or_die(b, s[i]);
    }
    buf_putc_or_die(b, '"');
}

/*
 * One alias or substring inside an SQL string literal: as an FTS5 phrase
 * ('"' doubled) or as a plain string; SQL doubles '\''.
 */
static void put_sql_term(tdx_buf *b, const char *s, size_t n, int phrase)
{
    if (phrase)
        buf_putc_or_die(b, '"');
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\'')
            buf_putc_or_die(b, '\'');
        if (phrase && s[i] == '"')
            buf_putc_or_die(b, '"');
        buf_putc_or_die(b, s[i]);
    }
    if (phrase)
        buf_putc_or_die(b, '"');
}

static size_t nchars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xc0) != 0x80;
    return c;
}

/*
 * SQL answering "any of these strings" over table f(text): one FTS5 MATCH
 * of OR'ed phrases when every string has >= 3 characters (the trigram
 * tokenizer's minimum), else OR'ed instr() tests, a scan of every row,
 * which is what FTS5 itself falls back to for shorter strings (SQLite
 * 3.40's trigram LIKE answers a 2-character CJK pattern with no rows at
 * all, so LIKE cannot be used).  count: SELECT count(*).
 */
static void sql_any(tdx_buf *b, const char *const *strs, const size_t *lens, size_t n, int count,
                    size_t limit)
{
    int scan = 0;
    for (size_t i = 0; i < n; i++)
        if (nchars(strs[i], lens[i]) < 3)
            scan = 1;
    tdx_buf_reset(b);
    const char *head = count ? "SELECT count(*) FROM f WHERE " : "SELECT rowid FROM f WHERE ";
    buf_put_or_die(b, head, strlen(head));
    if (!scan)
        buf_put_or_die(b, "f MATCH '", 9);
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_put_or_die(b, " OR ", 4);
        if (scan)
            buf_put_or_die(b, "instr(text, '", 13);
        put_sql_term(b, strs[i], lens[i], !scan);
        if (scan)
            buf_put_or_die(b, "') > 0", 6);
    }
    if (!scan)
        buf_putc_or_die(b, '\'');
    if (limit && tdx_buf_printf(b, " LIMIT %zu", limit)) {
        fprintf(stderr, "bench_query: out of memory\n");
        exit(3);
    }
}

/* ---- drawing substrings from documents ---- */

static int is_han(int32_t cp)
{
    return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf);
}

static int is_alnum_ascii(int32_t cp)
{
    return (cp >= 'a' && cp <= 'z') || (cp >= '0' && cp <= '9');
}

typedef struct sampler {
    tdx_qctx *q;
    tdx_norm *norm;
    tdx_norm_ctx *nctx;
    tdx_norm_out out;
    tdx_buf orig;
    uint32_t ndocs;
    uint64_t rng;
    size_t *offs;  /* byte offset of each character of out.text, and one past */
    uint8_t *kind; /* 1 Han, 2 ASCII letter/digit, 0 other */
    size_t cap;
    uint32_t doc; /* document currently loaded (0: none) */
    size_t nch;
} sampler;

static void sampler_load(sampler *s, uint32_t id)
{
    tdx_err err = {0};
    if (tdx_qctx_text(s->q, id, &s->orig, &err))
        die("reading a document's text", &err);
    if (tdx_norm_run(s->norm, s->nctx, s->orig.p, s->orig.len, &s->out, &err))
        die("normalizing a document", &err);
    const uint8_t *p = s->out.text.p, *end = p + s->out.text.len;
    size_t n = 0;
    while (p < end) {
        if (n + 2 > s->cap) {
            s->cap = s->cap ? 2 * s->cap : 4096;
            s->offs = xrealloc(s->offs, s->cap * sizeof *s->offs);
            s->kind = xrealloc(s->kind, s->cap);
        }
        size_t l;
        int32_t cp = tdx_utf8_decode(p, end, &l);
        if (l == 0)
            l = 1;
        s->offs[n] = (size_t)(p - s->out.text.p);
        s->kind[n] = is_han(cp) ? 1 : is_alnum_ascii(cp) ? 2 : 0;
        n++;
        p += l;
    }
    if (n + 1 > s->cap) {
        s->cap = n + 1;
        s->offs = xrealloc(s->offs, s->cap * sizeof *s->offs);
        s->kind = xrealloc(s->kind, s->cap);
    }
    s->offs[n] = s->out.text.len;
    s->nch = n;
    s->doc = id;
}

/*
 * A run of len characters of one kind (all Han, or all ASCII letters and
 * digits) at a random place of document doc (0: a random document).  The
 * ASCII kind must not cut a word, so the boundary rule of neither engine
 * matters.  Returns 0 and the bytes, or -1 after many misses.
 */
static int sample_sub(sampler *s, uint32_t doc, size_t len, const char **out_p, size_t *out_n)
{
    for (int attempt = 0; attempt < 64; attempt++) {
        uint32_t id = doc ? doc : 1 + (uint32_t)bu_below(&s->rng, s->ndocs);
        if (id != s->doc)
            sampler_load(s, id);
        if (s->nch < len)
            continue;
        size_t start = bu_below(&s->rng, s->nch - len + 1);
        uint8_t k = s->kind[start];
        if (k == 0)
            continue;
        size_t j = 1;
        while (j < len && s->kind[start + j] == k)
            j++;
        if (j < len)
            continue;
        if (k == 2 && ((start > 0 && s->kind[start - 1] == 2) ||
                       (start + len < s->nch && s->kind[start + len] == 2)))
            continue;
        *out_p = (const char *)s->out.text.p + s->offs[start];
        *out_n = s->offs[start + len] - s->offs[start];
        return 0;
    }
    return -1;
}

/* ---- the query set ---- */

typedef struct names {
    /* per entity / category: its literal aliases (normalized), or regex */
    const char ***alias;
    size_t **alias_len;
    size_t *nalias;
    int *has_regex;
    size_t n;
} names;

static void names_add(names *nm, size_t i, const char *s, size_t len)
{
    nm->alias[i] = xrealloc(nm->alias[i], (nm->nalias[i] + 1) * sizeof *nm->alias[i]);
    nm->alias_len[i] = xrealloc(nm->alias_len[i], (nm->nalias[i] + 1) * sizeof *nm->alias_len[i]);
    nm->alias[i][nm->nalias[i]] = s;
    nm->alias_len[i][nm->nalias[i]] = len;
    nm->nalias[i]++;
}

static void names_init(names *nm, size_t n)
{
    nm->n = n;
    nm->alias = xrealloc(NULL, (n + 1) * sizeof *nm->alias);
    nm->alias_len = xrealloc(NULL, (n + 1) * sizeof *nm->alias_len);
    nm->nalias = xrealloc(NULL, (n + 1) * sizeof *nm->nalias);
    nm->has_regex = xrealloc(NULL, (n + 1) * sizeof *nm->has_regex);
    memset(nm->alias, 0, (n + 1) * sizeof *nm->alias);
    memset(nm->alias_len, 0, (n + 1) * sizeof *nm->alias_len);
    memset(nm->nalias, 0, (n + 1) * sizeof *nm->nalias);
    memset(nm->has_regex, 0, (n + 1) * sizeof *nm->has_regex);
}

static void names_free(names *nm)
{
    for (size_t i = 0; i < nm->n; i++) {
        tdx_free(nm->alias[i]);
        tdx_free(nm->alias_len[i]);
    }
    tdx_free(nm->alias);
    tdx_free(nm->alias_len);
    tdx_free(nm->nalias);
    tdx_free(nm->has_regex);
}

/* Fill the SQL of an entity or category lookup from its aliases. */
static void sql_names(tdx_buf *sql, const names *nm, size_t i)
{
    tdx_buf_reset(sql);
    if (nm == NULL || i >= nm->n || nm->has_regex[i] || nm->nalias[i] == 0 ||
        nm->nalias[i] > FTS_MAX_ALIASES)
        return;
    sql_any(sql, nm->alias[i], nm->alias_len[i], nm->nalias[i], 0, 0);
}

/* tdx_buf keeps its bytes NUL-terminated. */
static const char *buf_str(const tdx_buf *b)
{
    return b->p ? (const char *)b->p : "";
}

static void generate(tdx_qctx *q, const char *watchlist, size_t nper, uint64_t seed, bqset *set)
{
    tdx_err err = {0};
    sampler s = {0};
    s.q = q;
    s.rng = seed;
    const uint32_t *dates;
    size_t next;
    if (tdx_qctx_dates(q, &dates, &next, &err))
        die("reading dates", &err);
    s.ndocs = next > 1 ? (uint32_t)(next - 1) : 0;
    if (s.ndocs == 0) {
        fprintf(stderr, "bench_query: the index has no documents\n");
        exit(3);
    }
    if (tdx_norm_create(TDX_NORM_ALL, &s.norm, &err) || tdx_norm_ctx_create(s.norm, &s.nctx, &err))
        die("creating the normalizer", &err);
    tdx_norm_out_init(&s.out);

    /* Entities and categories: from the watch list when given (their
     * aliases make the SQL side), else by name from the index. */
    tdx_watchlist *wl = NULL;
    names ent = {0}, cat = {0};
    size_t nent, ncat;
    if (watchlist) {
        if (tdx_watchlist_load(watchlist, s.norm, &wl, &err))
            die(watchlist, &err);
        nent = tdx_watchlist_nentities(wl);
        ncat = tdx_watchlist_ncategories(wl);
        names_init(&ent, nent);
        names_init(&cat, ncat);
        for (uint32_t i = 0; i < tdx_watchlist_npatterns(wl); i++) {
            const tdx_pattern *p = tdx_watchlist_pattern(wl, i);
            if (p->flags & TDX_PAT_REGEX) {
                ent.has_regex[p->entity] = cat.has_regex[p->category] = 1;
                continue;
            }
            if (p->dup_of != p->id)
                continue;
            names_add(&ent, p->entity, p->norm, p->norm_len);
            names_add(&cat, p->category, p->norm, p->norm_len);
        }
    } else {
        nent = tdx_qctx_nentities(q);
        ncat = tdx_qctx_ncategories(q);
    }

    tdx_buf text = TDX_BUF_INIT, sql = TDX_BUF_INIT;
    for (size_t i = 0; nent && i < nper; i++) {
        size_t e = bu_below(&s.rng, nent);
        const char *name =
            wl ? tdx_watchlist_entity(wl, (uint32_t)e) : tdx_qctx_entity_name(q, (uint32_t)e);
        tdx_buf_reset(&text);
        buf_put_or_die(&text, "entity:", 7);
        put_tdx_quoted(&text, name, strlen(name));
        sql_names(&sql, wl ? &ent : NULL, e);
        set_add(set, C_ENTITY, 0, buf_str(&text), buf_str(&sql));
    }
    /* Categories in turn, starting at a random one. */
    size_t c0 = ncat ? bu_below(&s.rng, ncat) : 0;
    for (size_t i = 0; ncat && i < nper; i++) {
        size_t c = (c0 + i) % ncat;
        const char *name =
            wl ? tdx_watchlist_category(wl, (uint32_t)c) : tdx_qctx_category_name(q, (uint32_t)c);
        tdx_buf_reset(&text);
        buf_put_or_die(&text, "cat:", 4);
        put_tdx_quoted(&text, name, strlen(name));
        sql_names(&sql, wl ? &cat : NULL, c);
        set_add(set, C_CAT, 0, buf_str(&text), buf_str(&sql));
    }
    for (size_t i = 0; i < nper; i++) {
        const char *a, *b;
        size_t an, bn;
        char *acopy = NULL;
        for (int tries = 0; tries < 64; tries++) {
            if (sample_sub(&s, 0, 3 + bu_below(&s.rng, 2), &a, &an))
                continue;
            acopy = tdx_strndup(a, an);
            if (acopy == NULL)
                die("copying", NULL);
            if (sample_sub(&s, s.doc, 3 + bu_below(&s.rng, 2), &b, &bn) == 0 &&
                !(an == bn && memcmp(acopy, b, an) == 0))
                break;
            tdx_free(acopy);
            acopy = NULL;
        }
        if (acopy == NULL)
            break;
        tdx_buf_reset(&text);
        put_tdx_quoted(&text, acopy, an);
        buf_put_or_die(&text, " AND ", 5);
        put_tdx_quoted(&text, b, bn);
        /* FTS5: both phrases in one MATCH (AND of trigram phrases). */
        tdx_buf_reset(&sql);
        const char *head = "SELECT rowid FROM f WHERE f MATCH '";
        buf_put_or_die(&sql, head, strlen(head));
        put_sql_term(&sql, acopy, an, 1);
        buf_put_or_die(&sql, " AND ", 5);
        put_sql_term(&sql, b, bn, 1);
        buf_putc_or_die(&sql, '\'');
        set_add(set, C_AND2, 0, buf_str(&text), buf_str(&sql));
        tdx_free(acopy);
    }
    size_t first_sub = set->n;
    for (size_t i = 0; i < nper; i++) {
        const char *a;
        size_t an;
        if (sample_sub(&s, 0, 2 + bu_below(&s.rng, 7), &a, &an))
            continue;
        tdx_buf_reset(&text);
        put_tdx_quoted(&text, a, an);
        const char *strs[1] = {a};
        size_t lens[1] = {an};
        sql_any(&sql, strs, lens, 1, 0, 20);
        set_add(set, C_SUB20, 20, buf_str(&text), buf_str(&sql));
    }
    size_t last_sub = set->n;
    for (size_t i = first_sub; i < last_sub; i++) {
        /* The same strings, counted. */
        const char *t = set->v[i].text;
        size_t tn = strlen(t);
        char *raw = tdx_strndup(t + 1, tn - 2); /* Han/ASCII runs carry no escapes */
        const char *strs[1] = {raw};
        size_t lens[1] = {tn - 2};
        if (raw == NULL)
            die("copying", NULL);
        sql_any(&sql, strs, lens, 1, 1, 0);
        set_add(set, C_SUBCOUNT, 0, t, buf_str(&sql));
        tdx_free(raw);
    }
    size_t nfacet = nper / 10 > 20 ? nper / 10 : 20;
    for (size_t i = 0; i < nfacet; i++)
        set_add(set, C_FACET, 0, "", "SELECT substr(date,1,7) AS m, count(*) FROM docs GROUP BY m");

    tdx_buf_free(&text);
    tdx_buf_free(&sql);
    tdx_buf_free(&s.orig);
    tdx_free(s.offs);
    tdx_free(s.kind);
    tdx_norm_out_free(&s.out);
    tdx_norm_ctx_free(s.nctx);
    tdx_norm_free(s.norm);
    if (wl) {
        names_free(&ent);
        names_free(&cat);
        tdx_watchlist_free(wl);
    }
}

/* TSV: class, limit, tenderidx query, SQL.  The format --emit writes. */
static void load_set(const char *path, bqset *set)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "bench_query: cannot read '%s': %s\n", path, strerror(errno));
        exit(2);
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        char *cols[4];
        if (!bu_split_line(line, n, cols, 4))
            continue;
        int c = cols[2] ? bu_class_of(cols[0]) : -1;
        if (c < 0) {
            fprintf(stderr, "bench_query: %s:%zu: expected CLASS<TAB>LIMIT<TAB>QUERY[<TAB>SQL]\n",
                    path, lineno);
            exit(2);
        }
        set_add(set, c, strtoul(cols[1], NULL, 10), cols[2], cols[3] ? cols[3] : "");
    }
    free(line);
    fclose(f);
}

static void emit_set(const char *path, const bqset *set)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "bench_query: cannot write '%s': %s\n", path, strerror(errno));
        exit(2);
    }
    fprintf(f, "# class\tlimit\ttenderidx query\tSQLite FTS5 form (empty: not expressible)\n");
    for (size_t i = 0; i < set->n; i++)
        fprintf(f, "%s\t%zu\t%s\t%s\n", bu_class_name(set->v[i].cls), set->v[i].limit,
                set->v[i].text, set->v[i].sql);
    if (fclose(f)) {
        fprintf(stderr, "bench_query: cannot write '%s'\n", path);
        exit(3);
    }
}

/* ---- running ---- */

typedef struct runner {
    tdx_qctx *q;
    tdx_docset all; /* every doc id, for the facet */
    tdx_docset out;
} runner;

/* One query: parse, evaluate (or facet), return the answer's size. */
static uint64_t run_one(runner *r, const bq *b, uint64_t *sum)
{
    tdx_err err = {0};
    if (b->cls == C_FACET) {
        tdx_facet *f;
        size_t n;
        if (tdx_query_facet(r->q, &r->all, "month", &f, &n, &err))
            die("facet", &err);
        for (size_t i = 0; i < n; i++)
            *sum = bu_mix(*sum, f[i].count);
        tdx_facets_free(f, n);
        return n;
    }
    tdx_query *qq;
    size_t col = 0;
    if (tdx_query_parse(r->q, b->text, &qq, &col, &err)) {
        fprintf(stderr, "bench_query: cannot parse '%s' (column %zu): %s\n", b->text, col, err.msg);
        exit(3);
    }
    r->out.n = 0;
    if (tdx_query_run(r->q, qq, b->limit, &r->out, NULL, &err))
        die(b->text, &err);
    tdx_query_free(qq);
    (void)sum; /* the answer is in r->out: checksummed by the caller, untimed */
    return r->out.n;
}

/* The checksum of the answer run_one left, outside the timed region (as
 * peer_fts5 does with its rowids): hashing is not the engine's work. */
static void answer_sum(const runner *r, const bq *b, uint64_t *sum)
{
    if (b->cls == C_FACET)
        return;
    for (size_t i = 0; i < r->out.n; i++)
        *sum = bu_mix(*sum, r->out.v[i]);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_query -i INDEX [-p WATCHLIST] [--n N] [--runs R] [--seed S]\n"
               "                   [--budget S] [--emit FILE | --queries FILE] [--lat FILE]\n"
               "                   [--quick]\n"
               "\n"
               "Latency of tenderidx queries per class, in process, warm cache, one thread.\n"
               "  -i INDEX        the index\n"
               "  -p WATCHLIST    the watch list the index was built with (entity and category\n"
               "                  aliases for the SQLite form of those queries)\n"
               "  --n N           queries per class (default 1000; --quick 60)\n"
               "  --runs R        timed passes after the warm-up (default 3; --quick 2)\n"
               "  --seed S        seed of the query draw (default 1)\n"
               "  --budget S      seconds per class (default 60; --quick 6): the warm-up\n"
               "                  pass stops drawing on a class after S/(R+1) seconds\n"
               "  --emit FILE     write the drawn query set (for peer_fts5)\n"
               "  --queries FILE  run this query set instead of drawing one\n"
               "  --lat FILE      write each query's median latency and answer size\n"
               "                  (class, index in the set, ms, count)\n");
}

int main(int argc, char **argv)
{
    const char *index = NULL, *watchlist = NULL, *emit = NULL, *queries = NULL, *lat_path = NULL;
    size_t nper = 1000;
    int runs = 3, quick = 0;
    double budget = 60;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quick") == 0) {
            quick = 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (v == NULL) {
            usage(stderr);
            return 2;
        } else if (strcmp(a, "-i") == 0) {
            index = argv[++i];
        } else if (strcmp(a, "-p") == 0) {
            watchlist = argv[++i];
        } else if (strcmp(a, "--n") == 0) {
            nper = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(a, "--runs") == 0) {
            runs = atoi(argv[++i]);
        } else if (strcmp(a, "--budget") == 0) {
            budget = atof(argv[++i]);
        } else if (strcmp(a, "--seed") == 0) {
            seed = strtoull(argv[++i], NULL, 0);
        } else if (strcmp(a, "--emit") == 0) {
            emit = argv[++i];
        } else if (strcmp(a, "--queries") == 0) {
            queries = argv[++i];
        } else if (strcmp(a, "--lat") == 0) {
            lat_path = argv[++i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (quick) {
        nper = nper == 1000 ? 60 : nper;
        runs = runs == 3 ? 2 : runs;
        budget = budget == 60 ? 6 : budget;
    }
    if (index == NULL || runs < 1 || nper < 1 || budget <= 0) {
        usage(stderr);
        return 2;
    }

    tdx_err err = {0};
    runner r = {0};
    if (tdx_qctx_open(index, &r.q, &err))
        die(index, &err);
    bqset set = {0};
    double t0 = bu_now();
    if (queries)
        load_set(queries, &set);
    else
        generate(r.q, watchlist, nper, seed, &set);
    fprintf(stderr, "bench_query: %zu queries %s in %.1f s\n", set.n, queries ? "read" : "drawn",
            bu_now() - t0);
    if (emit)
        emit_set(emit, &set);

    const uint32_t *dates;
    size_t next;
    if (tdx_qctx_dates(r.q, &dates, &next, &err))
        die("reading dates", &err);
    if (tdx_docset_reserve(&r.all, next))
        die("out of memory", NULL);
    for (uint32_t id = 1; id < next; id++)
        tdx_docset_push(&r.all, id);

    /* Warm-up: every query once (its answer size is the one reported), as
     * long as its class has spent less than its share of the budget; the
     * queries after that are left out of the timed passes. */
    uint64_t *answer = xrealloc(NULL, (set.n + 1) * sizeof *answer);
    uint8_t *keep = xrealloc(NULL, set.n + 1);
    double spent[NCLASS] = {0};
    size_t total[NCLASS] = {0};
    uint64_t warm_sum = BU_FNV_INIT;
    t0 = bu_now();
    for (size_t i = 0; i < set.n; i++) {
        int c = set.v[i].cls;
        total[c]++;
        keep[i] = spent[c] < budget / (runs + 1);
        if (!keep[i])
            continue;
        double s0 = bu_now();
        answer[i] = run_one(&r, &set.v[i], &warm_sum);
        spent[c] += bu_now() - s0;
        answer_sum(&r, &set.v[i], &warm_sum);
    }
    fprintf(stderr, "bench_query: warm-up pass %.1f s\n", bu_now() - t0);
    /* Timed passes: per class, per pass, the latency of each query. */
    double *lat = xrealloc(NULL, (set.n + 1) * (size_t)runs * sizeof *lat);
    double *v = xrealloc(NULL, (set.n + 1) * sizeof *v);
    double *pc[NCLASS][BU_NSTAT];
    size_t ncls[NCLASS] = {0};
    for (size_t i = 0; i < set.n; i++)
        ncls[set.v[i].cls] += keep[i];
    for (int c = 0; c < NCLASS; c++)
        for (int k = 0; k < BU_NSTAT; k++)
            pc[c][k] = xrealloc(NULL, (size_t)runs * sizeof(double));
    uint64_t sum[NCLASS];
    for (int c = 0; c < NCLASS; c++)
        sum[c] = BU_FNV_INIT;
    for (int run = 0; run < runs; run++) {
        for (size_t i = 0; i < set.n; i++) {
            if (!keep[i])
                continue;
            double s0 = bu_now();
            run_one(&r, &set.v[i], &sum[set.v[i].cls]);
            lat[i * (size_t)runs + (size_t)run] = (bu_now() - s0) * 1e3;
            answer_sum(&r, &set.v[i], &sum[set.v[i].cls]);
        }
        for (int c = 0; c < NCLASS; c++) {
            size_t m = 0;
            for (size_t i = 0; i < set.n; i++)
                if (keep[i] && set.v[i].cls == c)
                    v[m++] = lat[i * (size_t)runs + (size_t)run];
            bu_summarize(v, m, pc[c], run);
        }
    }
    if (lat_path) {
        FILE *f = fopen(lat_path, "w");
        if (f == NULL) {
            fprintf(stderr, "bench_query: cannot write '%s'\n", lat_path);
            return 3;
        }
        for (size_t i = 0; i < set.n; i++)
            if (keep[i])
                fprintf(f, "%s\t%zu\t%.4f\t%llu\n", bu_class_name(set.v[i].cls), i,
                        bu_median(lat + i * (size_t)runs, (size_t)runs),
                        (unsigned long long)answer[i]);
        fclose(f);
    }

    fprintf(stderr, "\n%-9s %11s %9s %9s %9s %9s %9s %12s\n", "class", "queries", "p50 ms",
            "p95 ms", "p99 ms", "max ms", "mean ms", "results");
    for (int c = 0; c < NCLASS; c++) {
        if (total[c] == 0)
            continue;
        uint64_t results = 0;
        for (size_t i = 0; i < set.n; i++)
            if (keep[i] && set.v[i].cls == c)
                results += answer[i];
        double best99 = bu_min(pc[c][2], (size_t)runs);
        double med[BU_NSTAT];
        for (int k = 0; k < BU_NSTAT; k++)
            med[k] = bu_median(pc[c][k], (size_t)runs);
        fprintf(stderr, "%-9s %5zu/%-5zu %9.3f %9.3f %9.3f %9.3f %9.3f %12llu\n", bu_class_name(c),
                ncls[c], total[c], med[0], med[1], med[2], med[3], med[4],
                (unsigned long long)results);
        printf("QUERY engine=tenderidx class=%s queries=%zu of=%zu runs=%d p50_ms=%.4f "
               "p95_ms=%.4f p99_ms=%.4f max_ms=%.4f mean_ms=%.4f p99_best_ms=%.4f results=%llu "
               "checksum=%016llx\n",
               bu_class_name(c), ncls[c], total[c], runs, med[0], med[1], med[2], med[3], med[4],
               best99, (unsigned long long)results, (unsigned long long)sum[c]);
    }
    for (int c = 0; c < NCLASS; c++)
        for (int k = 0; k < BU_NSTAT; k++)
            tdx_free(pc[c][k]);
    tdx_free(lat);
    tdx_free(v);
    tdx_free(answer);
    tdx_free(keep);
    tdx_docset_free(&r.all);
    tdx_docset_free(&r.out);
    set_free(&set);
    tdx_qctx_close(r.q);
    return 0;
}
