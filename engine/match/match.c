/*
 * match.c - the Hyperscan matcher: compile a parsed watch list into
 * databases, scan normalized text, turn raw matches into exact hits.
 *
 * Where: compiled once per run (tenderidx index/rescan, watchlist check);
 * each pipeline worker scans every normalized document with its own
 * tdx_match_scratch, right after normalization.
 *
 * Data: distinct normalized literals (aliases of several entities that
 * normalize alike share one, m->lits; its rows chain through m->next) are
 * not handed to Hyperscan whole.  Hyperscan's matcher finds the last 8
 * bytes of a long literal and then confirms every literal sharing them one
 * by one; watch-list names share their endings (thousands end in 有限公司),
 * so a plain literal database spends its time confirming (5 MB/s with 10,000
 * company names).  Instead each literal is represented by an anchor: the
 * whole literal when it has at most ANCHOR_BYTES bytes, else the 8-byte
 * window of it that the fewest other literals contain (a proxy for how rare
 * it is in text: the core of a name, not its suffix).  Literals with equal
 * anchors chain through lit.next; the anchor's Hyperscan id is the index
 * of the first literal of its chain.  After the scan a literal is confirmed
 * against the text around its anchor.
 * A literal needs no start-of-match tracking: start = anchor end - offset.
 * Regexes go into databases grouped by their Hyperscan flags: those whose
 * matches all have one byte length (hs_expression_info min_width ==
 * max_width) need no start-of-match either; the others are compiled with
 * HS_FLAG_SOM_LEFTMOST.  A regex's Hyperscan id is its pattern id.
 *
 * The Hyperscan callbacks only append (id, end) or (id, start, end) to the
 * scratch's arrays, which grow by doubling and are reused, so a warm scratch
 * does not allocate.  The boundary rule and the expansion of shared
 * literals to their rows run after the scan, over those arrays; the result
 * is sorted by (start, end, pattern).  Hits arrive ordered by end, which is
 * nearly the wanted order, so an insertion sort with a move budget does the
 * sorting (qsort when the budget runs out).
 *
 * Cache: the serialized databases of a watch list are kept in one file,
 * <cache dir>/match-<key>.hsdb, where key = XXH3-128 of the watch-list
 * hash, a hash of every expression as it is compiled (anchors, flags,
 * ids), the normalizer identity, hs_version() and the CPU platform
 * (hs_populate_platform).  File layout, integers big-endian:
 *     "TDXHSDB\0"  magic (8 bytes)
 *     u32          CACHE_FORMAT
 *     16 bytes     the key
 *     u32          number of databases that follow
 *     per database: u32 kind, u32 expressions, u32 bytes, then the
 *                   hs_serialize_database() bytes
 *     8 bytes      XXH3-64 of everything before
 * A file is used only when every field matches what this watch list and
 * this machine would compile and Hyperscan accepts each database
 * (hs_serialized_database_info, hs_deserialize_database); anything else is
 * a miss, and the databases are compiled and the file rewritten (temporary
 * file + rename, so readers never see half a file).
 *
 * Threading: tdx_match_compile compiles the literal database on a helper
 * thread, joined before it returns.  A tdx_matcher is immutable after
 * tdx_match_compile and shared;
 * a tdx_match_scratch (cloned from the matcher's prototype Hyperscan
 * scratch) belongs to one thread.
 */
#include "match.h"

#include "../common/alloc.h"
#include "../common/buf.h"
#include "../common/cachefile.h"
#include "../common/clock.h"
#include "../common/hash.h"

#include <hs/hs.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX

/* Boundary checks a row asks for. */
enum { CHECK_LEFT = 1, CHECK_RIGHT = 2 };

/*
 * A distinct normalized literal, laid out for the scan in 32 bytes, so that
 * one prefetched cache line holds it: confirming a window match reads this
 * struct and the text, and touches the literal's bytes (m->lit_bytes) only
 * for literals longer than 16 bytes whose first and last 8 bytes match.
 */
typedef struct lit {
    uint64_t head, tail; /* first and last 8 bytes (literals longer than 8) */
    uint32_t off_end;    /* the anchor is bytes [off_end - anchor length, off_end) */
    uint16_t len;        /* at most TDX_MATCH_MAX_PATTERN_BYTES */
    uint8_t check;       /* union of the CHECK_* bits of its rows */
    uint8_t one_row;     /* `first` is its only row: m->next and m->check need no look */
    uint32_t next;       /* next literal with the same anchor, or NONE */
    uint32_t first;      /* first row with this normalized literal; more through m->next */
} lit;
_Static_assert(sizeof(lit) == 32, "a literal's scan data fills half a cache line");
_Static_assert(TDX_MATCH_MAX_PATTERN_BYTES <= UINT16_MAX, "lit.len is 16 bits");

/* Hyperscan's short-literal length: longer literals are matched by a window. */
#define ANCHOR_BYTES 8

enum db_kind { DB_LITERAL, DB_REGEX_SOM, DB_REGEX_FIXED, NKINDS };

typedef struct mdb {
    enum db_kind kind;
    hs_database_t *db;
    uint32_t n;    /* expressions */
    uint32_t *ids; /* Hyperscan id of each expression: see the top of the file */
} mdb;

struct tdx_matcher {
    const tdx_watchlist *wl;
    lit *lits;
    const char **lit_bytes; /* per literal: its normalized bytes (the watch list's) */
    uint32_t nlits;
    uint32_t nanchors;
    uint32_t *next;  /* per pattern: next row of the same literal, or NONE */
    uint8_t *check;  /* per pattern: CHECK_* bits */
    uint32_t *width; /* per pattern: byte width of a fixed-width regex */
    mdb dbs[NKINDS];
    size_t ndbs;
    hs_scratch_t *proto;
    tdx_match_info info;
};

typedef struct raw_end {
    uint32_t id, end;
} raw_end;

struct tdx_match_scratch {
    hs_scratch_t *hs;
    raw_end *lit;
    size_t nlit, cap_lit;
    tdx_hit *rx;
    size_t nrx, cap_rx;
    const tdx_matcher *m; /* set for the duration of one scan */
    int oom;
};

/* ASCII letters and digits: the characters the boundary rule looks at. */
static const uint8_t is_word[256] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
    ['8'] = 1, ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
    ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1,
    ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1,
    ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1,
    ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1,
    ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1,
    ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

#define REGEX_FLAGS (HS_FLAG_CASELESS | HS_FLAG_UTF8 | HS_FLAG_UCP)

void tdx_match_free(tdx_matcher *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->ndbs; i++) {
        hs_free_database(m->dbs[i].db);
        tdx_free(m->dbs[i].ids);
    }
    hs_free_scratch(m->proto);
    tdx_free(m->lits);
    tdx_free(m->lit_bytes);
    tdx_free(m->next);
    tdx_free(m->check);
    tdx_free(m->width);
    tdx_free(m);
}

/* ---- layout: which pattern goes to which database ------------------------ */

/* A window of a literal, and how many literals contain its bytes. */
typedef struct window {
    uint64_t key; /* the 8 bytes */
    uint32_t lit, off;
} window;

/*
 * Sort windows by key, keeping literal order among equal keys: an LSD radix
 * sort, one pass per key byte that is not the same in every window.  (A
 * 50,000-name list has about 600,000 windows; qsort took most of a cache
 * hit's time.)  tmp has room for n windows.
 */
static void sort_windows(window *w, window *tmp, size_t n)
{
    size_t count[8][256] = {{0}};
    if (n == 0)
        return;
    for (size_t i = 0; i < n; i++)
        for (int b = 0; b < 8; b++)
            count[b][(w[i].key >> (8 * b)) & 0xFF]++;
    window *src = w, *dst = tmp;
    for (int b = 0; b < 8; b++) {
        if (count[b][(src[0].key >> (8 * b)) & 0xFF] == n)
            continue;
        size_t pos[256], sum = 0;
        for (int d = 0; d < 256; d++) {
            pos[d] = sum;
            sum += count[b][d];
        }
        for (size_t i = 0; i < n; i++)
            dst[pos[(src[i].key >> (8 * b)) & 0xFF]++] = src[i];
        window *t = src;
        src = dst;
        dst = t;
    }
    if (src != w)
        memcpy(w, src, n * sizeof *w);
}

/* An anchor candidate: its bytes (zero-padded), length and literal. */
typedef struct anchor_key {
    uint64_t key;
    uint32_t len, lit;
} anchor_key;

static int anchor_key_cmp(const void *a, const void *b)
{
    const anchor_key *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->lit < y->lit ? -1 : x->lit > y->lit;
}

static uint32_t anchor_len(const lit *l)
{
    return l->len < ANCHOR_BYTES ? l->len : ANCHOR_BYTES;
}

static uint64_t load_key(const void *p, size_t n)
{
    uint64_t k = 0;
    memcpy(&k, p, n);
    return k;
}

/*
 * Give every literal an anchor (see the top of the file) and merge equal
 * anchors.  The counts are of literals, not of windows: a name that repeats
 * a window inside itself does not make that window look common.
 */
static int choose_anchors(tdx_matcher *m, uint32_t *heads)
{
    size_t nwin = 0;
    for (uint32_t i = 0; i < m->nlits; i++)
        if (m->lits[i].len > ANCHOR_BYTES)
            nwin += m->lits[i].len - ANCHOR_BYTES + 1;
    window *w = tdx_reallocarray(NULL, nwin ? nwin : 1, sizeof *w);
    window *tmp = tdx_reallocarray(NULL, nwin ? nwin : 1, sizeof *tmp);
    anchor_key *ak = tdx_reallocarray(NULL, m->nlits ? m->nlits : 1, sizeof *ak);
    uint32_t *best = tdx_reallocarray(NULL, m->nlits ? m->nlits : 1, sizeof *best);
    int rc = TDX_ENOMEM;
    if (w == NULL || tmp == NULL || ak == NULL || best == NULL)
        goto done;
    size_t k = 0;
    for (uint32_t i = 0; i < m->nlits; i++) {
        lit *l = &m->lits[i];
        const char *bytes = m->lit_bytes[i];
        l->off_end = l->len;
        l->next = NONE;
        best[i] = UINT32_MAX;
        if (l->len <= ANCHOR_BYTES)
            continue;
        l->head = load_key(bytes, 8);
        l->tail = load_key(bytes + l->len - 8, 8);
        /* Windows start on a character: as good, and a third as many to
         * sort for CJK text. */
        for (uint32_t off = 0; off + ANCHOR_BYTES <= l->len; off++)
            if (((uint8_t)bytes[off] & 0xC0) != 0x80)
                w[k++] = (window){load_key(bytes + off, ANCHOR_BYTES), i, off};
    }
    nwin = k;
    sort_windows(w, tmp, nwin);
    /* Per run of equal keys: how many literals share it; then each
     * literal keeps its window with the fewest sharers, then the earliest. */
    for (size_t a = 0, b; a < nwin; a = b) {
        uint32_t distinct = 0;
        for (b = a; b < nwin && w[b].key == w[a].key; b++)
            distinct += b == a || w[b].lit != w[b - 1].lit;
        for (size_t j = a; j < b; j++) {
            lit *l = &m->lits[w[j].lit];
            uint32_t off_end = w[j].off + ANCHOR_BYTES;
            if (distinct < best[w[j].lit] || (distinct == best[w[j].lit] && off_end < l->off_end)) {
                best[w[j].lit] = distinct;
                l->off_end = off_end;
            }
        }
    }
    for (uint32_t i = 0; i < m->nlits; i++) {
        const lit *l = &m->lits[i];
        uint32_t alen = anchor_len(l);
        ak[i] = (anchor_key){load_key(m->lit_bytes[i] + l->off_end - alen, alen), alen, i};
    }
    qsort(ak, m->nlits, sizeof *ak, anchor_key_cmp);
    /* Chains keep literal order, so equal input gives equal databases. */
    uint32_t tail = NONE;
    for (uint32_t i = 0; i < m->nlits; i++) {
        if (i == 0 || ak[i].key != ak[i - 1].key || ak[i].len != ak[i - 1].len)
            heads[m->nanchors++] = ak[i].lit;
        else
            m->lits[tail].next = ak[i].lit;
        tail = ak[i].lit;
    }
    rc = 0;
done:
    tdx_free(w);
    tdx_free(tmp);
    tdx_free(ak);
    tdx_free(best);
    return rc;
}

static int layout(tdx_matcher *m, tdx_err *err)
{
    const tdx_watchlist *wl = m->wl;
    uint32_t np = (uint32_t)tdx_watchlist_npatterns(wl);
    m->next = tdx_reallocarray(NULL, np ? np : 1, sizeof *m->next);
    m->check = tdx_calloc(np ? np : 1, 1);
    m->width = tdx_calloc(np ? np : 1, sizeof *m->width);
    m->lits = tdx_reallocarray(NULL, np ? np : 1, sizeof *m->lits);
    m->lit_bytes = tdx_reallocarray(NULL, np ? np : 1, sizeof *m->lit_bytes);
    uint32_t *lit_of = tdx_reallocarray(NULL, np ? np : 1, sizeof *lit_of);
    uint32_t *tail = tdx_reallocarray(NULL, np ? np : 1, sizeof *tail);
    int rc = TDX_ENOMEM;
    if (!m->next || !m->check || !m->width || !m->lits || !m->lit_bytes || !lit_of || !tail)
        goto done;

    uint32_t nsom = 0, nfixed = 0;
    for (uint32_t i = 0; i < np; i++) {
        const tdx_pattern *p = tdx_watchlist_pattern(wl, i);
        m->next[i] = NONE;
        int rule = !(p->flags & TDX_PAT_SUBSTRING);
        if (p->flags & TDX_PAT_REGEX) {
            m->check[i] = rule ? CHECK_LEFT | CHECK_RIGHT : 0;
            if (p->min_width == p->max_width) {
                m->width[i] = p->min_width;
                nfixed++;
            } else {
                nsom++;
            }
            continue;
        }
        const uint8_t *s = (const uint8_t *)p->norm;
        uint8_t c = 0;
        if (rule && is_word[s[0]])
            c |= CHECK_LEFT;
        if (rule && is_word[s[p->norm_len - 1]])
            c |= CHECK_RIGHT;
        m->check[i] = c;
        if (p->dup_of == i) {
            lit_of[i] = m->nlits;
            tail[m->nlits] = i;
            m->lit_bytes[m->nlits] = p->norm;
            m->lits[m->nlits++] =
                (lit){.len = (uint16_t)p->norm_len, .first = i, .check = c, .one_row = 1};
        } else {
            uint32_t l = lit_of[p->dup_of];
            lit_of[i] = l;
            m->next[tail[l]] = i;
            tail[l] = i;
            m->lits[l].check |= c;
            m->lits[l].one_row = 0;
        }
    }
    mdb *lits = &m->dbs[DB_LITERAL];
    mdb *som = &m->dbs[DB_REGEX_SOM], *fixed = &m->dbs[DB_REGEX_FIXED];
    m->ndbs = NKINDS;
    for (size_t k = 0; k < NKINDS; k++)
        m->dbs[k].kind = (enum db_kind)k;
    lits->ids = tdx_reallocarray(NULL, m->nlits + 1, sizeof *lits->ids);
    som->ids = tdx_reallocarray(NULL, nsom + 1, sizeof *som->ids);
    fixed->ids = tdx_reallocarray(NULL, nfixed + 1, sizeof *fixed->ids);
    if (!lits->ids || !som->ids || !fixed->ids)
        goto done;
    if ((rc = choose_anchors(m, lits->ids)) != 0)
        goto done;
    rc = TDX_ENOMEM;
    lits->n = m->nanchors;
    for (uint32_t i = 0; i < np; i++) {
        if (!(tdx_watchlist_pattern(wl, i)->flags & TDX_PAT_REGEX))
            continue;
        mdb *g = m->width[i] ? fixed : som;
        g->ids[g->n++] = i;
    }
    m->info.nliterals = m->nlits;
    m->info.nregexes = nsom + nfixed;
    rc = 0;
done:
    tdx_free(lit_of);
    tdx_free(tail);
    if (rc)
        tdx_err_set(err, rc, "out of memory while compiling watch list");
    return rc;
}

/* ---- compiling ----------------------------------------------------------- */

static int compile_error(const tdx_matcher *m, const mdb *g, hs_compile_error_t *cerr, tdx_err *err)
{
    const tdx_watchlist *wl = m->wl;
    const char *msg = cerr && cerr->message ? cerr->message : "unknown Hyperscan error";
    int rc = TDX_EPATTERN;
    if (cerr == NULL || cerr->expression < 0 || (uint32_t)cerr->expression >= g->n) {
        rc = tdx_err_set(err, TDX_EPATTERN, "%s: cannot compile the watch list: %s",
                         tdx_watchlist_name(wl), msg);
    } else {
        uint32_t id = g->kind == DB_LITERAL ? m->lits[g->ids[cerr->expression]].first
                                            : g->ids[cerr->expression];
        const tdx_pattern *p = tdx_watchlist_pattern(wl, id);
        if (p->flags & TDX_PAT_REGEX)
            rc = tdx_err_set(err, TDX_EPATTERN, "%s:%u:%u: cannot compile regex /%s/: %s",
                             tdx_watchlist_name(wl), p->line, p->col, p->text, msg);
        else
            rc = tdx_err_set(err, TDX_EPATTERN, "%s:%u:%u: cannot compile literal '%s': %s",
                             tdx_watchlist_name(wl), p->line, p->col, p->text, msg);
    }
    hs_free_compile_error(cerr);
    return rc;
}

/* The i-th expression of a database, as Hyperscan gets it. */
static void expression(const tdx_matcher *m, const mdb *g, uint32_t i, const char **out_expr,
                       size_t *out_len, unsigned *out_flags, unsigned *out_id)
{
    *out_id = g->ids[i];
    if (g->kind == DB_LITERAL) {
        const lit *l = &m->lits[g->ids[i]];
        *out_len = anchor_len(l);
        *out_expr = m->lit_bytes[g->ids[i]] + l->off_end - *out_len;
        *out_flags = 0;
        return;
    }
    const tdx_pattern *p = tdx_watchlist_pattern(m->wl, g->ids[i]);
    *out_expr = p->norm;
    *out_len = p->norm_len;
    *out_flags = g->kind == DB_REGEX_SOM ? REGEX_FLAGS | HS_FLAG_SOM_LEFTMOST : REGEX_FLAGS;
}

static int compile_db(tdx_matcher *m, mdb *g, tdx_err *err)
{
    if (g->n == 0)
        return 0;
    const char **expr = tdx_reallocarray(NULL, g->n, sizeof *expr);
    unsigned *flags = tdx_reallocarray(NULL, g->n, sizeof *flags);
    unsigned *ids = tdx_reallocarray(NULL, g->n, sizeof *ids);
    size_t *lens = tdx_reallocarray(NULL, g->n, sizeof *lens);
    int rc = TDX_ENOMEM;
    if (expr == NULL || flags == NULL || ids == NULL || lens == NULL) {
        tdx_err_set(err, rc, "out of memory while compiling watch list");
        goto done;
    }
    for (uint32_t i = 0; i < g->n; i++)
        expression(m, g, i, &expr[i], &lens[i], &flags[i], &ids[i]);
    hs_compile_error_t *cerr = NULL;
    hs_error_t hr;
    if (g->kind == DB_LITERAL)
        hr = hs_compile_lit_multi(expr, flags, ids, lens, g->n, HS_MODE_BLOCK, NULL, &g->db, &cerr);
    else
        hr = hs_compile_multi(expr, flags, ids, g->n, HS_MODE_BLOCK, NULL, &g->db, &cerr);
    rc = hr == HS_SUCCESS ? 0 : compile_error(m, g, cerr, err);
done:
    tdx_free(expr);
    tdx_free(flags);
    tdx_free(ids);
    tdx_free(lens);
    return rc;
}

static int make_proto_scratch(tdx_matcher *m, tdx_err *err)
{
    for (size_t i = 0; i < m->ndbs; i++) {
        if (m->dbs[i].db == NULL)
            continue;
        size_t sz = 0;
        hs_database_size(m->dbs[i].db, &sz);
        m->info.db_bytes += sz;
        m->info.ndatabases++;
        hs_error_t hr = hs_alloc_scratch(m->dbs[i].db, &m->proto);
        if (hr != HS_SUCCESS)
            return tdx_err_set(err, hr == HS_NOMEM ? TDX_ENOMEM : TDX_EINTERNAL,
                               "cannot allocate Hyperscan scratch (error %d)", hr);
    }
    return 0;
}

typedef struct compile_job {
    tdx_matcher *m;
    int rc;
    tdx_err err;
} compile_job;

static void *compile_literals(void *arg)
{
    compile_job *j = arg;
    j->rc = compile_db(j->m, &j->m->dbs[DB_LITERAL], &j->err);
    return NULL;
}

/*
 * Compile every database.  Hyperscan compiles each database on one core,
 * and 200 regexes cost about as much as 50,000 literals, so the literal
 * database is compiled on a second thread (joined before returning) while
 * this one does the regexes.
 */
static int compile_all(tdx_matcher *m, tdx_err *err)
{
    compile_job job = {.m = m};
    pthread_t th;
    int threaded = m->dbs[DB_LITERAL].n > 0 && m->info.nregexes > 0 &&
                   pthread_create(&th, NULL, compile_literals, &job) == 0;
    if (!threaded)
        compile_literals(&job);
    int rc = 0;
    tdx_err rx_err = {0};
    for (size_t i = 0; i < m->ndbs; i++)
        if (i != DB_LITERAL && rc == 0)
            rc = compile_db(m, &m->dbs[i], &rx_err);
    if (threaded)
        pthread_join(th, NULL);
    /* Report in database order: the literals' error first. */
    if (job.rc)
        return tdx_err_set(err, job.rc, "%s", job.err.msg);
    if (rc)
        return tdx_err_set(err, rc, "%s", rx_err.msg);
    return 0;
}

/* ---- the cache ------------------------------------------------------------ */

#define CACHE_FORMAT 3u
#define CACHE_MAGIC  TDX_CACHE_MAGIC_WATCHLIST

static int cache_key(const tdx_matcher *m, uint64_t out[2])
{
    hs_platform_info_t plat;
    if (hs_populate_platform(&plat) != HS_SUCCESS)
        return -1;
    /* Every expression exactly as it would be compiled, so that a change
     * in how databases are laid out can never load a stale file. */
    uint64_t layout = 0;
    for (size_t d = 0; d < m->ndbs; d++) {
        const mdb *g = &m->dbs[d];
        for (uint32_t i = 0; i < g->n; i++) {
            const char *e;
            size_t n;
            unsigned v[3] = {g->kind, 0, 0};
            expression(m, g, i, &e, &n, &v[1], &v[2]);
            layout = tdx_hash64_seed(v, sizeof v, layout);
            layout = tdx_hash64_seed(e, n, layout);
        }
    }
    tdx_buf b = TDX_BUF_INIT;
    int rc = tdx_buf_printf(&b, "tenderidx match cache %u\n%016llx\n%016llx\n%s\n%s\n%u %llx\n",
                            CACHE_FORMAT, (unsigned long long)tdx_watchlist_hash(m->wl),
                            (unsigned long long)layout, tdx_watchlist_norm_identity(m->wl),
                            hs_version(), plat.tune, (unsigned long long)plat.cpu_features);
    if (rc == 0)
        tdx_hash128(b.p, b.len, out);
    tdx_buf_free(&b);
    return rc ? -1 : 0;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Load every database from the file; 0 on a hit, -1 on any mismatch. */
static int cache_load(tdx_matcher *m, const char *path, const uint64_t key[2])
{
    uint8_t *f = NULL;
    const uint8_t *p, *end;
    size_t len;
    if (tdx_cache_load(path, CACHE_MAGIC, CACHE_FORMAT, key, &f, &p, &len) != 0)
        return -1;
    int ok = 0;
    end = p + len;
    size_t ndb = 0;
    for (size_t i = 0; i < m->ndbs; i++)
        ndb += m->dbs[i].n > 0;
    if (len < 4 || get_be32(p) != ndb)
        goto done;
    p += 4;
    for (size_t i = 0; i < m->ndbs; i++) {
        mdb *g = &m->dbs[i];
        if (g->n == 0)
            continue;
        if (end - p < 12 || get_be32(p) != (uint32_t)g->kind || get_be32(p + 4) != g->n)
            goto done;
        size_t n = get_be32(p + 8);
        p += 12;
        if ((size_t)(end - p) < n)
            goto done;
        char *info = NULL;
        if (hs_serialized_database_info((const char *)p, n, &info) != HS_SUCCESS)
            goto done;
        free(info); /* Hyperscan's misc allocator: malloc */
        if (hs_deserialize_database((const char *)p, n, &g->db) != HS_SUCCESS) {
            g->db = NULL;
            goto done;
        }
        p += n;
    }
    ok = p == end;
done:
    tdx_free(f);
    if (!ok) {
        for (size_t i = 0; i < m->ndbs; i++) {
            hs_free_database(m->dbs[i].db);
            m->dbs[i].db = NULL;
        }
    }
    return ok ? 0 : -1;
}

/* Best effort: a cache that cannot be written only costs the next run time. */
static void cache_store(const tdx_matcher *m, const char *dir, const char *path,
                        const uint64_t key[2])
{
    tdx_buf b = TDX_BUF_INIT;
    int rc = tdx_cache_begin(&b, CACHE_MAGIC, CACHE_FORMAT, key);
    size_t ndb = 0;
    for (size_t i = 0; i < m->ndbs; i++)
        ndb += m->dbs[i].db != NULL;
    rc = rc ? rc : tdx_buf_put_be32(&b, (uint32_t)ndb);
    for (size_t i = 0; i < m->ndbs && rc == 0; i++) {
        const mdb *g = &m->dbs[i];
        if (g->db == NULL)
            continue;
        char *bytes = NULL;
        size_t n = 0;
        if (hs_serialize_database(g->db, &bytes, &n) != HS_SUCCESS || n > UINT32_MAX) {
            free(bytes);
            rc = -1;
            break;
        }
        rc = tdx_buf_put_be32(&b, (uint32_t)g->kind);
        rc = rc ? rc : tdx_buf_put_be32(&b, g->n);
        rc = rc ? rc : tdx_buf_put_be32(&b, (uint32_t)n);
        rc = rc ? rc : tdx_buf_append(&b, bytes, n);
        free(bytes); /* Hyperscan's misc allocator: malloc */
    }
    if (rc == 0)
        tdx_cache_store(&b, dir, path);
    tdx_buf_free(&b);
}

int tdx_match_compile(const tdx_watchlist *wl, const tdx_match_opts *opts, tdx_matcher **out_m,
                      tdx_err *err)
{
    if (wl == NULL || out_m == NULL)
        return tdx_err_set(err, TDX_EINVAL, "tdx_match_compile: NULL argument");
    if (tdx_watchlist_nerrors(wl)) {
        const tdx_diag *d = tdx_watchlist_diag(wl, 0);
        return tdx_err_set(err, TDX_EPATTERN, "%s:%u:%u: %s", d->file, d->line, d->col, d->msg);
    }
    double t0 = tdx_now();
    tdx_matcher *m = tdx_calloc(1, sizeof *m);
    if (m == NULL)
        return tdx_err_set(err, TDX_ENOMEM, "out of memory while compiling watch list");
    m->wl = wl;
    int rc = layout(m, err);
    char dir[4096], path[4200] = "";
    uint64_t key[2];
    tdx_cache_dir(opts ? opts->cache_dir : NULL, dir, sizeof dir);
    if (rc == 0 && dir[0] && cache_key(m, key) == 0 &&
        tdx_cache_path(dir, TDX_CACHE_WATCHLIST, key, path, sizeof path) == 0)
        m->info.from_cache = cache_load(m, path, key) == 0;
    else
        path[0] = '\0';
    if (rc == 0 && !m->info.from_cache)
        rc = compile_all(m, err);
    if (rc == 0 && path[0] && !m->info.from_cache)
        cache_store(m, dir, path, key);
    if (rc == 0)
        rc = make_proto_scratch(m, err);
    if (rc) {
        tdx_match_free(m);
        return rc;
    }
    m->info.compile_ms = (tdx_now() - t0) * 1e3;
    *out_m = m;
    return 0;
}

void tdx_match_get_info(const tdx_matcher *m, tdx_match_info *out)
{
    *out = m->info;
}

/* ---- scanning ------------------------------------------------------------ */

int tdx_match_scratch_create(const tdx_matcher *m, tdx_match_scratch **out_s, tdx_err *err)
{
    if (m == NULL || out_s == NULL)
        return tdx_err_set(err, TDX_EINVAL, "tdx_match_scratch_create: NULL argument");
    tdx_match_scratch *s = tdx_calloc(1, sizeof *s);
    if (s == NULL)
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    if (m->proto) {
        hs_error_t hr = hs_clone_scratch(m->proto, &s->hs);
        if (hr != HS_SUCCESS) {
            tdx_free(s);
            return tdx_err_set(err, hr == HS_NOMEM ? TDX_ENOMEM : TDX_EINTERNAL,
                               "cannot allocate Hyperscan scratch (error %d)", hr);
        }
    }
    *out_s = s;
    return 0;
}

void tdx_match_scratch_free(tdx_match_scratch *s)
{
    if (s == NULL)
        return;
    hs_free_scratch(s->hs);
    tdx_free(s->lit);
    tdx_free(s->rx);
    tdx_free(s);
}

void tdx_hits_free(tdx_hits *h)
{
    if (h == NULL)
        return;
    tdx_free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}

static int on_literal(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
                      void *ctx)
{
    (void)from;
    (void)flags;
    tdx_match_scratch *s = ctx;
    if (s->nlit == s->cap_lit &&
        tdx_grow((void **)&s->lit, &s->cap_lit, s->nlit + 1, sizeof *s->lit, 256) != 0) {
        s->oom = 1;
        return 1;
    }
    s->lit[s->nlit++] = (raw_end){id, (uint32_t)to};
    return 0;
}

static int on_regex(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
                    void *ctx)
{
    (void)flags;
    tdx_match_scratch *s = ctx;
    if (s->nrx == s->cap_rx &&
        tdx_grow((void **)&s->rx, &s->cap_rx, s->nrx + 1, sizeof *s->rx, 256) != 0) {
        s->oom = 1;
        return 1;
    }
    s->rx[s->nrx++] = (tdx_hit){id, (uint32_t)from, (uint32_t)to};
    return 0;
}

static int on_regex_fixed(unsigned id, unsigned long long from, unsigned long long to,
                          unsigned flags, void *ctx)
{
    tdx_match_scratch *s = ctx;
    return on_regex(id, to - s->m->width[id], to, flags, ctx);
}

static inline int hit_less(const tdx_hit *a, const tdx_hit *b)
{
    uint64_t ka = (uint64_t)a->start << 32 | a->end, kb = (uint64_t)b->start << 32 | b->end;
    return ka < kb || (ka == kb && a->pattern < b->pattern);
}

static int hit_cmp(const void *a, const void *b)
{
    return hit_less(a, b) ? -1 : hit_less(b, a);
}

/*
 * Hits come ordered by end; ordering by start moves a hit back only past
 * hits that end inside it, which are few.  So insertion sort, with a budget
 * of moves that a pathological case (a long regex match spanning many
 * others) exhausts before it costs quadratic time.
 */
static void sort_hits(tdx_hit *v, size_t n)
{
    size_t moves = 0, budget = 8 * n + 64;
    for (size_t i = 1; i < n; i++) {
        if (!hit_less(&v[i], &v[i - 1]))
            continue;
        tdx_hit x = v[i];
        size_t j = i;
        while (j > 0 && hit_less(&x, &v[j - 1])) {
            v[j] = v[j - 1];
            j--;
            moves++;
        }
        v[j] = x;
        if (moves > budget) {
            qsort(v, n, sizeof *v, hit_cmp);
            return;
        }
    }
}

/*
 * Confirm each anchor match as the literals it stands for, expand them to
 * their rows and keep those that pass the boundary rule.
 */
static int literal_hits(const tdx_matcher *m, const tdx_match_scratch *s, const uint8_t *text,
                        size_t len, tdx_hits *out)
{
    size_t n = 0;
    for (size_t i = 0; i < s->nlit; i++) {
        /* The literal table is larger than L2 for big watch lists: ask for
         * the entries of later matches while this one is confirmed. */
        if (i + 8 < s->nlit)
            __builtin_prefetch(&m->lits[s->lit[i + 8].id]);
        uint32_t aend = s->lit[i].end;
        for (uint32_t a = s->lit[i].id; a != NONE; a = m->lits[a].next) {
            const lit *l = &m->lits[a];
            if (aend < l->off_end)
                continue;
            uint32_t start = aend - l->off_end, end = start + l->len;
            /* A literal longer than its anchor: the anchor matched a window
             * only.  Both 8-byte ends first; they decide up to 16 bytes. */
            if (l->len > ANCHOR_BYTES) {
                const uint8_t *t = text + start;
                if (end > len || load_key(t, 8) != l->head ||
                    load_key(t + l->len - 8, 8) != l->tail)
                    continue;
                if (l->len > 16 && memcmp(t + 8, m->lit_bytes[a] + 8, l->len - 16u) != 0)
                    continue;
            }
            unsigned fail = 0;
            if (l->check) {
                if ((l->check & CHECK_LEFT) && start > 0 && is_word[text[start - 1]])
                    fail |= CHECK_LEFT;
                if ((l->check & CHECK_RIGHT) && end < len && is_word[text[end]])
                    fail |= CHECK_RIGHT;
            }
            if (l->one_row) {
                if (fail)
                    continue;
                if (n == out->cap &&
                    tdx_grow((void **)&out->v, &out->cap, n + 1, sizeof *out->v, 256) != 0)
                    return TDX_ENOMEM;
                out->v[n++] = (tdx_hit){l->first, start, end};
                continue;
            }
            for (uint32_t p = l->first; p != NONE; p = m->next[p]) {
                if (m->check[p] & fail)
                    continue;
                if (n == out->cap &&
                    tdx_grow((void **)&out->v, &out->cap, n + 1, sizeof *out->v, 256) != 0)
                    return TDX_ENOMEM;
                out->v[n++] = (tdx_hit){p, start, end};
            }
        }
    }
    out->n = n;
    return 0;
}

/* Boundary rule for regex hits, judged on the text each one matched. */
static size_t regex_filter(const tdx_matcher *m, tdx_hit *v, size_t n, const uint8_t *text,
                           size_t len)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const tdx_hit *h = &v[i];
        if (m->check[h->pattern]) {
            if (h->start > 0 && is_word[text[h->start]] && is_word[text[h->start - 1]])
                continue;
            if (h->end < len && is_word[text[h->end - 1]] && is_word[text[h->end]])
                continue;
        }
        v[k++] = *h;
    }
    return k;
}

int tdx_match_scan(const tdx_matcher *m, tdx_match_scratch *s, const uint8_t *text, size_t len,
                   tdx_hits *out, tdx_err *err)
{
    if (m == NULL || s == NULL || out == NULL || (text == NULL && len))
        return tdx_err_set(err, TDX_EINVAL, "tdx_match_scan: NULL argument");
    if (len > UINT32_MAX)
        return tdx_err_set(err, TDX_EINVAL, "tdx_match_scan: text of %zu bytes is too long", len);
    out->n = 0;
    s->nlit = s->nrx = 0;
    s->oom = 0;
    s->m = m;
    if (len == 0 || s->hs == NULL)
        return 0;
    static match_event_handler const handler[] = {
        [DB_LITERAL] = on_literal,
        [DB_REGEX_SOM] = on_regex,
        [DB_REGEX_FIXED] = on_regex_fixed,
    };
    for (size_t i = 0; i < m->ndbs; i++) {
        const mdb *g = &m->dbs[i];
        if (g->db == NULL)
            continue;
        hs_error_t hr =
            hs_scan(g->db, (const char *)text, (unsigned)len, 0, s->hs, handler[g->kind], s);
        if (s->oom)
            return tdx_err_set(err, TDX_ENOMEM, "out of memory while matching");
        if (hr != HS_SUCCESS)
            return tdx_err_set(err, TDX_EINTERNAL, "Hyperscan scan failed (error %d)", hr);
    }
    if (literal_hits(m, s, text, len, out) != 0) {
        out->n = 0;
        return tdx_err_set(err, TDX_ENOMEM, "out of memory while matching");
    }
    sort_hits(out->v, out->n);
    size_t nrx = regex_filter(m, s->rx, s->nrx, text, len);
    if (nrx == 0)
        return 0;
    sort_hits(s->rx, nrx);
    size_t nl = out->n;
    if (tdx_grow((void **)&out->v, &out->cap, nl + nrx, sizeof *out->v, 256) != 0) {
        out->n = 0;
        return tdx_err_set(err, TDX_ENOMEM, "out of memory while matching");
    }
    /* Merge the two sorted runs from the back, in place. */
    size_t i = nl, j = nrx, k = nl + nrx;
    while (j > 0) {
        if (i > 0 && hit_less(&s->rx[j - 1], &out->v[i - 1]))
            out->v[--k] = out->v[--i];
        else
            out->v[--k] = s->rx[--j];
    }
    out->n = nl + nrx;
    return 0;
}

static int on_count(unsigned id, unsigned long long from, unsigned long long to, unsigned flags,
                    void *ctx)
{
    (void)id;
    (void)from;
    (void)to;
    (void)flags;
    (*(size_t *)ctx)++;
    return 0;
}

int tdx_match_count_raw(const tdx_matcher *m, tdx_match_scratch *s, const uint8_t *text, size_t len,
                        size_t *out_count, tdx_err *err)
{
    if (m == NULL || s == NULL || out_count == NULL || (text == NULL && len) || len > UINT32_MAX)
        return tdx_err_set(err, TDX_EINVAL, "tdx_match_count_raw: invalid argument");
    size_t n = 0;
    for (size_t i = 0; len && s->hs && i < m->ndbs; i++) {
        if (m->dbs[i].db == NULL)
            continue;
        hs_error_t hr =
            hs_scan(m->dbs[i].db, (const char *)text, (unsigned)len, 0, s->hs, on_count, &n);
        if (hr != HS_SUCCESS)
            return tdx_err_set(err, TDX_EINTERNAL, "Hyperscan scan failed (error %d)", hr);
    }
    *out_count = n;
    return 0;
}
