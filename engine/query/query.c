/*
 * query.c - parsing, planning and evaluating queries (query.h).
 *
 * Where it sits: `tenderidx query`, `hits` and the benchmarks open a
 * tdx_qctx (a read snapshot of the index plus the normalizer it was built
 * with), parse a query into a tree of qnodes, and evaluate it.
 *
 * Evaluation works on two sorted doc sets per node, S ⊆ answer ⊆ P (see
 * query.h).  Leaves read postings; AND children are evaluated, then
 * intersected smallest first with galloping search; a substring's terms
 * are intersected rarest first and the intersection stops once few
 * candidates remain, since they are verified anyway.  Verification loads a
 * doc's stored text once, normalizes it, and evaluates the whole tree on
 * it (eval_doc), answering exact leaves from their S sets.
 *
 * Threading: none; a tdx_qctx belongs to one thread.
 */
#include "query.h"

#include "../common/alloc.h"
#include "../common/memfind.h"
#include "../common/utf8.h"
#include "../common/varint.h"
#include "../index/index.h"
#include "../match/match.h"
#include "../normalize/normalize.h"
#include "../store/store.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define QUERY_MAX_BYTES 65536
#define QUERY_MAX_DEPTH 64
#define QUERY_MAX_NODES 4096
#define QTERMS_MAX 256

enum {
    N_SUB,   /* substring of normalized text */
    N_ENT,   /* entity ids */
    N_CAT,   /* category ids */
    N_PAT,   /* pattern ids */
    N_FIELD, /* 'f' term */
    N_DATE,  /* date range */
    N_REGEX,
    N_NEAR,
    N_AND,
    N_OR,
    N_NOT,
};

typedef struct qnode {
    int kind;
    struct qnode **kids;
    size_t nkids;
    uint32_t near_n;
    char *str; /* N_SUB: normalized text; N_FIELD: term bytes */
    size_t len;
    char *display; /* the leaf as written */
    uint32_t *ids;
    size_t nids;
    uint32_t date_from, date_to;
    tdx_watchlist *rwl;
    tdx_matcher *rm;
    tdx_match_scratch *rs;
    struct qnode *pre; /* N_REGEX: substrings its matches need (an AND / OR tree), or NULL */
    /* evaluation */
    tdx_docset S, P;
    size_t s_at, p_at; /* where eval_doc's last lookups in S and P ended */
    int exact; /* S == P */
    int evaluated;
    /* substrings proved by positions (eval_substring): one group per query
     * term, each the cursors of the indexed terms it stands for */
    struct qpos *qp;
    size_t nqp;
    /* a walk (walk_conj): cursors of the terms positions do not need,
     * which still narrow the walk */
    tdx_poscur **xcur;
    size_t nxcur;
} qnode;

/* One query term for positional proof: its offset in the query and the
 * indexed terms standing for it, each with the shift from the indexed
 * term's position to the query term's (a fragment at the end of a word). */
typedef struct qpos {
    uint32_t off;
    tdx_poscur **cur;
    uint32_t *shift;
    size_t n;
    uint32_t *buf; /* this doc's positions of the group, merged */
    size_t nbuf, cap;
    const uint32_t *v; /* this doc's positions: buf, or one cursor's own */
    size_t nv;
    int shared; /* cur[0] belongs to an earlier group with the same term */
} qpos;

struct tdx_query {
    qnode *root;
    size_t nnodes;
};

struct tdx_qctx {
    tdx_store *s;
    tdx_rtxn *t;
    tdx_store_info info;
    tdx_store_schema_view sv;
    tdx_norm *norm;
    tdx_norm_ctx *nctx;
    tdx_docset deleted;
    tdx_docset live;
    int live_loaded;
    uint32_t *dates; /* [next_doc], index by id */
    int dates_loaded;
    char **ent_norm; /* normalized entity names, lazily */
    /* the doc being verified */
    uint32_t vdoc;
    int vtext, vnorm;
    tdx_buf text;
    tdx_norm_out nout;
    tdx_store_hit *hits;
    size_t nh, caph;
    uint32_t hits_doc;
    tdx_hits rhits;
    tdx_store_docinfo di;
    uint64_t trigram_frags; /* of the running query: tdx_qstats.trigram_frags */
    tdx_docset near_a, near_b; /* a NEAR's operands' starts in the doc being verified */
    uint64_t near_positions;   /* of the running query: tdx_qstats.near_positions */
};

/* ---- context ---- */

int tdx_qctx_open(const char *index_path, tdx_qctx **out_q, tdx_err *err)
{
    tdx_qctx *q = tdx_calloc(1, sizeof *q);
    if (q == NULL)
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    tdx_norm_out_init(&q->nout);
    tdx_store_opts so = {1, 0, 0, 0, 0};
    int rc = tdx_store_open(index_path, &so, &q->s, err);
    if (rc == 0)
        rc = tdx_store_read_begin(q->s, &q->t, err);
    if (rc == 0)
        rc = tdx_store_get_info(q->t, &q->info, err);
    if (rc == 0 && q->info.normalizer[0] == 0)
        rc = tdx_err_set(err, TDX_ENOTFOUND, "index '%s' is empty (never indexed)", index_path);
    if (rc == 0)
        rc = tdx_store_get_schema(q->t, &q->sv, err);
    if (rc == 0)
        rc = tdx_norm_create_cached(q->info.norm_steps, NULL, q->info.normalizer, &q->norm, err);
    if (rc == 0 && strcmp(tdx_norm_identity(q->norm), q->info.normalizer) != 0)
        rc = tdx_err_set(err, TDX_EFORMAT,
                         "index '%s' was built with normalizer '%s', but this build normalizes "
                         "as '%s' (another ICU version?): queries could miss; rebuild the index "
                         "with this build",
                         index_path, q->info.normalizer, tdx_norm_identity(q->norm));
    if (rc == 0)
        rc = tdx_norm_ctx_create(q->norm, &q->nctx, err);
    if (rc == 0)
        rc = tdx_store_deleted(q->t, &q->deleted, err);
    if (rc) {
        tdx_qctx_close(q);
        return rc;
    }
    *out_q = q;
    return 0;
}

void tdx_qctx_close(tdx_qctx *q)
{
    if (q == NULL)
        return;
    if (q->ent_norm) {
        for (size_t i = 0; i < q->sv.nentities; i++)
            tdx_free(q->ent_norm[i]);
        tdx_free(q->ent_norm);
    }
    tdx_store_schema_view_free(&q->sv);
    tdx_store_read_end(q->t);
    tdx_store_close(q->s);
    tdx_norm_ctx_free(q->nctx);
    tdx_norm_free(q->norm);
    tdx_docset_free(&q->deleted);
    tdx_docset_free(&q->live);
    tdx_free(q->dates);
    tdx_buf_free(&q->text);
    tdx_norm_out_free(&q->nout);
    tdx_free(q->hits);
    tdx_hits_free(&q->rhits);
    tdx_docset_free(&q->near_a);
    tdx_docset_free(&q->near_b);
    tdx_free(q);
}

static int load_live(tdx_qctx *q, tdx_err *err)
{
    if (q->live_loaded)
        return 0;
    q->live.n = 0;
    uint64_t n = q->info.next_doc;
    if (tdx_docset_reserve(&q->live, (size_t)n))
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    size_t j = 0;
    for (uint64_t id = 1; id < n; id++) {
        while (j < q->deleted.n && q->deleted.v[j] < id)
            j++;
        if (j < q->deleted.n && q->deleted.v[j] == id)
            continue;
        q->live.v[q->live.n++] = (uint32_t)id;
    }
    q->live_loaded = 1;
    return 0;
}

int tdx_qctx_dates(tdx_qctx *q, const uint32_t **out_dates, size_t *out_n, tdx_err *err)
{
    if (!q->dates_loaded) {
        size_t n = (size_t)q->info.next_doc;
        if (q->dates == NULL) /* else left by a failed load: reuse it */
            q->dates = tdx_calloc(n + 1, sizeof *q->dates);
        if (q->dates == NULL)
            return tdx_err_set(err, TDX_ENOMEM, "out of memory");
        int rc = n > 1 ? tdx_store_dates(q->t, q->dates + 1, n - 1, err) : 0;
        if (rc)
            return rc;
        q->dates_loaded = 1;
    }
    *out_dates = q->dates;
    *out_n = (size_t)q->info.next_doc;
    return 0;
}

const char *tdx_qctx_entity_name(tdx_qctx *q, uint32_t e)
{
    return e < q->sv.nentities ? q->sv.entities[e] : "?";
}

const char *tdx_qctx_category_name(tdx_qctx *q, uint32_t c)
{
    return c < q->sv.ncategories ? q->sv.categories[c] : "?";
}

const char *tdx_qctx_pattern_text(tdx_qctx *q, uint32_t p)
{
    return p < q->sv.npatterns ? q->sv.patterns[p].text : "?";
}

size_t tdx_qctx_nentities(tdx_qctx *q)
{
    return q->sv.nentities;
}

size_t tdx_qctx_ncategories(tdx_qctx *q)
{
    return q->sv.ncategories;
}

int tdx_qctx_doc(tdx_qctx *q, uint32_t id, tdx_qdoc *out, tdx_err *err)
{
    int rc = tdx_store_get_doc(q->t, id, &q->di, err);
    if (rc)
        return rc;
    out->id = id;
    out->key = q->di.key;
    out->key_len = q->di.key_len;
    out->title = q->di.title;
    out->title_len = q->di.title_len;
    out->date = q->di.date;
    out->date_len = q->di.date_len;
    out->url = q->di.url;
    out->url_len = q->di.url_len;
    out->source = q->di.source;
    out->source_len = q->di.source_len;
    out->date_ymd = q->di.date_ymd;
    return 0;
}

int tdx_qctx_find_key(tdx_qctx *q, const char *key, size_t len, uint32_t *out_id, tdx_err *err)
{
    return tdx_store_find_key(q->t, key, len, out_id, err);
}

int tdx_qctx_hits(tdx_qctx *q, uint32_t id, tdx_qhit **hits, size_t *n, size_t *cap,
                  tdx_err *err)
{
    size_t nh = 0;
    int rc = tdx_store_get_hits(q->t, id, &q->hits, &nh, &q->caph, err);
    if (rc)
        return rc;
    if (nh > *cap) {
        tdx_qhit *h = tdx_reallocarray(*hits, nh, sizeof *h);
        if (h == NULL)
            return tdx_err_set(err, TDX_ENOMEM, "out of memory");
        *hits = h;
        *cap = nh;
    }
    for (size_t i = 0; i < nh; i++) {
        const tdx_store_hit *s = &q->hits[i];
        tdx_qhit *h = &(*hits)[i];
        h->pattern = s->pattern;
        h->entity = s->pattern < q->sv.npatterns ? q->sv.patterns[s->pattern].entity : 0;
        h->category = s->pattern < q->sv.npatterns ? q->sv.patterns[s->pattern].category : 0;
        h->ostart = s->ostart;
        h->oend = s->oend;
        h->nstart = s->nstart;
        h->nend = s->nend;
    }
    q->hits_doc = 0; /* q->hits was reused */
    *n = nh;
    return 0;
}

int tdx_qctx_text(tdx_qctx *q, uint32_t id, tdx_buf *out, tdx_err *err)
{
    return tdx_store_get_text(q->t, id, out, err);
}

/* ---- nodes ---- */

static void qpos_free(qpos *g, size_t n)
{
    for (size_t i = 0; g && i < n; i++) {
        for (size_t k = 0; k < g[i].n && !g[i].shared; k++)
            tdx_store_poscur_close(g[i].cur[k]);
        tdx_free(g[i].cur);
        tdx_free(g[i].shift);
        tdx_free(g[i].buf);
    }
    tdx_free(g);
}

static void xcur_free(qnode *n)
{
    for (size_t i = 0; i < n->nxcur; i++)
        tdx_store_poscur_close(n->xcur[i]);
    tdx_free(n->xcur);
    n->xcur = NULL;
    n->nxcur = 0;
}

/* Close n's positions cursors and a walk's filter cursors. */
static void cursors_free(qnode *n)
{
    qpos_free(n->qp, n->nqp);
    n->qp = NULL;
    n->nqp = 0;
    xcur_free(n);
}

/* Forget what evaluating n and its kids left (sets, cursors, where
 * lookups ended): a cursor only goes forward, so a second evaluation of
 * the same query (a run, then --explain's leaf counts) needs new ones. */
static void node_reset(qnode *n)
{
    if (n == NULL)
        return;
    cursors_free(n);
    n->S.n = n->P.n = 0;
    n->s_at = n->p_at = 0;
    n->exact = n->evaluated = 0;
    node_reset(n->pre);
    for (size_t i = 0; i < n->nkids; i++)
        node_reset(n->kids[i]);
}

static void node_free(qnode *n)
{
    if (n == NULL)
        return;
    qpos_free(n->qp, n->nqp);
    xcur_free(n);
    for (size_t i = 0; i < n->nkids; i++)
        node_free(n->kids[i]);
    tdx_free(n->kids);
    tdx_free(n->str);
    tdx_free(n->display);
    tdx_free(n->ids);
    tdx_match_scratch_free(n->rs);
    tdx_match_free(n->rm);
    tdx_watchlist_free(n->rwl);
    node_free(n->pre);
    tdx_docset_free(&n->S);
    tdx_docset_free(&n->P);
    tdx_free(n);
}

void tdx_query_free(tdx_query *query)
{
    if (query == NULL)
        return;
    node_free(query->root);
    tdx_free(query);
}

/* ---- lexer and parser ---- */

enum {
    T_END,
    T_LP,
    T_RP,
    T_COMMA,
    T_AND,
    T_OR,
    T_NOT,
    T_NEAR,
    T_WORD,   /* bare word */
    T_QUOTED, /* "..." */
    T_REGEX,  /* /.../ */
    T_PREFIXED, /* name:value */
};

typedef struct token {
    int type;
    size_t pos, end; /* byte range in the query */
    char *val;       /* unescaped value (words, quoted, regex, prefixed value) */
    char prefix[64]; /* T_PREFIXED */
    int value_quoted;
} token;

typedef struct parser {
    tdx_qctx *q;
    const char *s;
    size_t len, pos;
    token tok;
    int near_args; /* ',' is a token inside NEAR( ) */
    size_t nnodes;
    int depth;
    tdx_err *err;
    size_t err_pos;
    int failed;
} parser;

/* Characters of UTF-8 text s[0..len): the bytes that start one. */
static size_t utf8_chars(const char *s, size_t len)
{
    size_t c = 0;
    for (size_t i = 0; i < len; i++)
        c += ((uint8_t)s[i] & 0xC0) != 0x80;
    return c;
}

static size_t col_of(const char *s, size_t pos)
{
    return 1 + utf8_chars(s, pos);
}

static int perr(parser *p, size_t pos, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int perr(parser *p, size_t pos, int code, const char *fmt, ...)
{
    if (p->failed)
        return code;
    p->failed = 1;
    p->err_pos = pos;
    va_list ap;
    va_start(ap, fmt);
    tdx_err_vset(p->err, code, fmt, ap);
    va_end(ap);
    return code;
}

/* The code of the error perr recorded (a step that failed has called it). */
static int failed_code(const parser *p)
{
    return p->err && p->err->code ? p->err->code : TDX_ENOMEM;
}

static int is_space_at(const char *s, size_t len, size_t i, size_t *adv)
{
    unsigned char c = (unsigned char)s[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
        *adv = 1;
        return 1;
    }
    /* U+3000 ideographic space, typed by CJK input methods. */
    if (c == 0xE3 && i + 2 < len + 0 && (unsigned char)s[i + 1] == 0x80 &&
        (unsigned char)s[i + 2] == 0x80) {
        *adv = 3;
        return 1;
    }
    return 0;
}

static int is_delim(parser *p, size_t i)
{
    size_t adv;
    char c = p->s[i];
    return is_space_at(p->s, p->len, i, &adv) || c == '(' || c == ')' || c == '"' ||
           (p->near_args && c == ',');
}

static void tok_clear(token *t)
{
    tdx_free(t->val);
    memset(t, 0, sizeof *t);
}

/* Read a "..." string starting at p->pos (on the quote); returns the end. */
static int lex_quoted(parser *p, size_t start, char **out, size_t *out_end)
{
    tdx_buf b = TDX_BUF_INIT;
    size_t i = start + 1;
    int rc = 0;
    while (i < p->len && p->s[i] != '"') {
        if (p->s[i] == '\\' && i + 1 < p->len && (p->s[i + 1] == '"' || p->s[i + 1] == '\\'))
            i++;
        rc |= tdx_buf_putc(&b, (uint8_t)p->s[i]);
        i++;
    }
    if (i >= p->len) {
        tdx_buf_free(&b);
        return perr(p, start, TDX_ESYNTAX, "unterminated quote: expected a closing '\"'");
    }
    /* Appending nothing still writes the NUL an empty value needs. */
    if (rc || tdx_buf_append(&b, "", 0)) {
        tdx_buf_free(&b);
        return perr(p, start, TDX_ENOMEM, "out of memory");
    }
    *out = (char *)tdx_buf_steal(&b, NULL);
    *out_end = i + 1;
    return 0;
}

static int next_token(parser *p)
{
    tok_clear(&p->tok);
    size_t adv;
    while (p->pos < p->len && is_space_at(p->s, p->len, p->pos, &adv))
        p->pos += adv;
    token *t = &p->tok;
    t->pos = p->pos;
    if (p->pos >= p->len) {
        t->type = T_END;
        t->end = p->pos;
        return 0;
    }
    char c = p->s[p->pos];
    if (c == '(' || c == ')' || (c == ',' && p->near_args)) {
        t->type = c == '(' ? T_LP : c == ')' ? T_RP : T_COMMA;
        p->pos++;
        t->end = p->pos;
        return 0;
    }
    if (c == '"') {
        int rc = lex_quoted(p, p->pos, &t->val, &t->end);
        if (rc)
            return rc;
        t->type = T_QUOTED;
        p->pos = t->end;
        return 0;
    }
    if (c == '/') {
        tdx_buf b = TDX_BUF_INIT;
        size_t i = p->pos + 1;
        int rc = 0;
        while (i < p->len && p->s[i] != '/') {
            if (p->s[i] == '\\' && i + 1 < p->len && p->s[i + 1] == '/')
                i++;
            else if (p->s[i] == '\\' && i + 1 < p->len) {
                rc |= tdx_buf_putc(&b, '\\');
                i++;
            }
            rc |= tdx_buf_putc(&b, (uint8_t)p->s[i]);
            i++;
        }
        if (i >= p->len) {
            tdx_buf_free(&b);
            return perr(p, p->pos, TDX_ESYNTAX, "unterminated regex: expected a closing '/'");
        }
        if (rc == 0)
            rc = tdx_buf_append(&b, "", 0);
        t->val = rc ? NULL : (char *)tdx_buf_steal(&b, NULL);
        if (t->val == NULL) {
            tdx_buf_free(&b);
            return perr(p, p->pos, TDX_ENOMEM, "out of memory");
        }
        t->type = T_REGEX;
        t->end = i + 1;
        p->pos = t->end;
        return 0;
    }
    size_t i = p->pos;
    while (i < p->len && !is_delim(p, i))
        i++;
    size_t wl = i - p->pos;
    const char *w = p->s + p->pos;
    if (wl == 4 && memcmp(w, "NEAR", 4) == 0 && i < p->len && p->s[i] == '(') {
        t->type = T_NEAR;
        t->end = p->pos = i;
        return 0;
    }
    if ((wl == 3 && memcmp(w, "AND", 3) == 0) || (wl == 2 && memcmp(w, "OR", 2) == 0) ||
        (wl == 3 && memcmp(w, "NOT", 3) == 0)) {
        t->type = w[0] == 'A' ? T_AND : w[0] == 'O' ? T_OR : T_NOT;
        t->end = p->pos = i;
        return 0;
    }
    /* name:value, name an ASCII identifier. */
    size_t k = 0;
    while (k < wl && k < sizeof t->prefix - 1 &&
           (isalnum((unsigned char)w[k]) || w[k] == '_' || w[k] == '-' || w[k] == '.'))
        k++;
    if (k > 0 && k < wl && w[k] == ':' && isalpha((unsigned char)w[0])) {
        memcpy(t->prefix, w, k);
        t->prefix[k] = 0;
        t->type = T_PREFIXED;
        if (k + 1 == wl && i < p->len && p->s[i] == '"') {
            int rc = lex_quoted(p, i, &t->val, &t->end);
            if (rc)
                return rc;
            t->value_quoted = 1;
            p->pos = t->end;
            return 0;
        }
        t->val = tdx_strndup(w + k + 1, wl - k - 1);
        if (t->val == NULL)
            return perr(p, p->pos, TDX_ENOMEM, "out of memory");
        t->end = p->pos = i;
        return 0;
    }
    t->val = tdx_strndup(w, wl);
    if (t->val == NULL)
        return perr(p, p->pos, TDX_ENOMEM, "out of memory");
    t->type = T_WORD;
    t->end = p->pos = i;
    return 0;
}

static qnode *new_node(parser *p, int kind)
{
    if (++p->nnodes > QUERY_MAX_NODES) {
        perr(p, p->tok.pos, TDX_ELIMIT, "query too large (more than %d terms)", QUERY_MAX_NODES);
        return NULL;
    }
    qnode *n = tdx_calloc(1, sizeof *n);
    if (n == NULL)
        perr(p, p->tok.pos, TDX_ENOMEM, "out of memory");
    else
        n->kind = kind;
    return n;
}

static int add_kid(parser *p, qnode *n, qnode *k)
{
    qnode **nk = tdx_reallocarray(n->kids, n->nkids + 1, sizeof *nk);
    if (nk == NULL) {
        node_free(k);
        return perr(p, p->tok.pos, TDX_ENOMEM, "out of memory");
    }
    n->kids = nk;
    n->kids[n->nkids++] = k;
    return 0;
}

static int norm_text(parser *p, const char *s, size_t len, char **out, size_t *out_len)
{
    tdx_err e = {0};
    int rc = tdx_norm_run(p->q->norm, p->q->nctx, (const uint8_t *)s, len, &p->q->nout, &e);
    if (rc)
        return perr(p, p->tok.pos, rc, "%s", e.msg);
    *out = tdx_strndup((const char *)p->q->nout.text.p, p->q->nout.text.len);
    if (*out == NULL)
        return perr(p, p->tok.pos, TDX_ENOMEM, "out of memory");
    *out_len = p->q->nout.text.len;
    p->q->vdoc = 0; /* nout no longer holds a document */
    return 0;
}

/* Edit distance over bytes, bounded: enough to rank suggestions. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 200 || lb > 200)
        return SIZE_MAX;
    size_t prev[201], cur[201];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t sub = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
            cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
        }
        memcpy(prev, cur, (lb + 1) * sizeof *cur);
    }
    return prev[lb];
}

/* "did you mean" over names (normalized forms in `norms` when given). */
static void suggest(char *out, size_t cap, const char *want, const char *const *names,
                    char *const *norms, size_t n)
{
    size_t best[3] = {SIZE_MAX, SIZE_MAX, SIZE_MAX}, bi[3] = {0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        const char *cand = norms ? norms[i] : names[i];
        size_t d = edit_distance(want, cand);
        if (strstr(cand, want) || strstr(want, cand))
            d = d / 4;
        for (int k = 0; k < 3; k++)
            if (d < best[k]) {
                for (int m = 2; m > k; m--) {
                    best[m] = best[m - 1];
                    bi[m] = bi[m - 1];
                }
                best[k] = d;
                bi[k] = i;
                break;
            }
    }
    size_t o = 0;
    out[0] = 0;
    size_t wl = strlen(want);
    for (int k = 0; k < 3; k++) {
        if (best[k] == SIZE_MAX || best[k] > wl / 2 + 3)
            continue;
        int w = snprintf(out + o, cap - o, "%s'%s'", o ? ", " : "", names[bi[k]]);
        if (w < 0 || (size_t)w >= cap - o)
            break;
        o += (size_t)w;
    }
}

static int load_entity_norms(parser *p)
{
    tdx_qctx *q = p->q;
    if (q->ent_norm)
        return 0;
    q->ent_norm = tdx_calloc(q->sv.nentities + 1, sizeof *q->ent_norm);
    if (q->ent_norm == NULL)
        return perr(p, p->tok.pos, TDX_ENOMEM, "out of memory");
    for (size_t i = 0; i < q->sv.nentities; i++) {
        size_t l;
        int rc = norm_text(p, q->sv.entities[i], strlen(q->sv.entities[i]), &q->ent_norm[i], &l);
        if (rc) {
            /* A half-built table would pass for a loaded one next time. */
            for (size_t k = 0; k < i; k++)
                tdx_free(q->ent_norm[k]);
            tdx_free(q->ent_norm);
            q->ent_norm = NULL;
            return rc;
        }
    }
    return 0;
}

static int push_id(parser *p, qnode *n, uint32_t id)
{
    uint32_t *v = tdx_reallocarray(n->ids, n->nids + 1, sizeof *v);
    if (v == NULL)
        return perr(p, p->tok.pos, TDX_ENOMEM, "out of memory");
    n->ids = v;
    n->ids[n->nids++] = id;
    return 0;
}

static int parse_date_end(const char *s, size_t len, int upper, uint32_t *out)
{
    /* YYYY, YYYY-MM, YYYY-MM-DD (also / or . separators, or YYYYMMDD). */
    char d[16];
    size_t k = 0;
    for (size_t i = 0; i < len && k < sizeof d - 1; i++) {
        if (isdigit((unsigned char)s[i]))
            d[k++] = s[i];
        else if (s[i] != '-' && s[i] != '/' && s[i] != '.')
            return -1;
    }
    d[k] = 0;
    if (k != 4 && k != 6 && k != 8)
        return -1;
    unsigned y = 0, m = upper ? 99 : 0, dd = upper ? 99 : 0;
    sscanf(d, "%4u", &y);
    if (k >= 6) {
        sscanf(d + 4, "%2u", &m);
        if (m < 1 || m > 12)
            return -1;
    }
    if (k == 8) {
        sscanf(d + 6, "%2u", &dd);
        if (dd < 1 || dd > 31)
            return -1;
    }
    *out = y * 10000 + m * 100 + dd;
    return 0;
}

static qnode *parse_leaf(parser *p);
static qnode *parse_or(parser *p);

static qnode *leaf_substring(parser *p, const char *val, size_t vlen)
{
    qnode *n = new_node(p, N_SUB);
    if (n == NULL)
        return NULL;
    n->display = tdx_strndup(p->s + p->tok.pos, p->tok.end - p->tok.pos);
    if (n->display == NULL || norm_text(p, val, vlen, &n->str, &n->len)) {
        perr(p, p->tok.pos, TDX_ENOMEM, "out of memory");
        node_free(n);
        return NULL;
    }
    if (n->len == 0 || (n->len == 1 && n->str[0] == ' ')) {
        perr(p, p->tok.pos, TDX_ESYNTAX, "'%s' normalizes to nothing: expected a search term",
             n->display);
        node_free(n);
        return NULL;
    }
    return n;
}

static qnode *leaf_prefixed(parser *p)
{
    tdx_qctx *q = p->q;
    token *t = &p->tok;
    const char *pre = t->prefix, *val = t->val;
    size_t vlen = strlen(val);
    char sugg[400];
    if (vlen == 0) {
        perr(p, t->pos + strlen(pre) + 1, TDX_ESYNTAX, "expected a value after '%s:'", pre);
        return NULL;
    }
    qnode *n = NULL;
    if (strcmp(pre, "entity") == 0) {
        if ((n = new_node(p, N_ENT)) == NULL)
            return NULL;
        for (size_t i = 0; i < q->sv.nentities; i++)
            if (strcmp(q->sv.entities[i], val) == 0 && push_id(p, n, (uint32_t)i))
                goto fail;
        if (n->nids == 0) {
            char *nv;
            size_t nl;
            if (load_entity_norms(p) || norm_text(p, val, vlen, &nv, &nl))
                goto fail;
            for (size_t i = 0; i < q->sv.nentities; i++)
                if (strcmp(q->ent_norm[i], nv) == 0 && push_id(p, n, (uint32_t)i)) {
                    tdx_free(nv);
                    goto fail;
                }
            if (n->nids == 0) {
                suggest(sugg, sizeof sugg, nv, (const char *const *)q->sv.entities, q->ent_norm,
                        q->sv.nentities);
                perr(p, t->pos, TDX_ENOTFOUND, "unknown entity '%s'%s%s", val,
                     sugg[0] ? "; did you mean " : " (see the watch list)", sugg);
            }
            tdx_free(nv);
            if (n->nids == 0)
                goto fail;
        }
    } else if (strcmp(pre, "cat") == 0 || strcmp(pre, "category") == 0) {
        if ((n = new_node(p, N_CAT)) == NULL)
            return NULL;
        for (size_t i = 0; i < q->sv.ncategories; i++)
            if (strcasecmp(q->sv.categories[i], val) == 0 && push_id(p, n, (uint32_t)i))
                goto fail;
        if (n->nids == 0) {
            suggest(sugg, sizeof sugg, val, (const char *const *)q->sv.categories, NULL,
                    q->sv.ncategories);
            char all[400] = "";
            size_t o = 0;
            for (size_t i = 0; i < q->sv.ncategories && o < sizeof all - 64; i++)
                o += (size_t)snprintf(all + o, sizeof all - o, "%s%s", i ? ", " : "",
                                      q->sv.categories[i]);
            perr(p, t->pos, TDX_ENOTFOUND, "unknown category '%s'%s%s (categories: %s)", val,
                 sugg[0] ? "; did you mean " : "", sugg, all);
            goto fail;
        }
    } else if (strcmp(pre, "pattern") == 0 || strcmp(pre, "alias") == 0) {
        if ((n = new_node(p, N_PAT)) == NULL)
            return NULL;
        char *nv;
        size_t nl;
        if (norm_text(p, val, vlen, &nv, &nl))
            goto fail;
        for (size_t i = 0; i < q->sv.npatterns; i++) {
            const tdx_store_pattern *sp = &q->sv.patterns[i];
            if ((strcmp(sp->text, val) == 0 || strcmp(sp->norm, nv) == 0) &&
                push_id(p, n, (uint32_t)i)) {
                tdx_free(nv);
                goto fail;
            }
        }
        if (n->nids == 0) {
            const char **texts = tdx_calloc(q->sv.npatterns + 1, sizeof *texts);
            if (texts) {
                for (size_t i = 0; i < q->sv.npatterns; i++)
                    texts[i] = q->sv.patterns[i].text;
                suggest(sugg, sizeof sugg, val, texts, NULL, q->sv.npatterns);
                tdx_free(texts);
            } else {
                sugg[0] = 0;
            }
            perr(p, t->pos, TDX_ENOTFOUND, "no watch-list pattern '%s'%s%s", val,
                 sugg[0] ? "; did you mean " : "", sugg);
        }
        tdx_free(nv);
        if (n->nids == 0)
            goto fail;
    } else if (strcmp(pre, "date") == 0) {
        if ((n = new_node(p, N_DATE)) == NULL)
            return NULL;
        const char *dots = strstr(val, "..");
        int bad;
        if (dots) {
            n->date_from = 0;
            n->date_to = 99999999;
            bad = (dots > val && parse_date_end(val, (size_t)(dots - val), 0, &n->date_from)) ||
                  (dots[2] && parse_date_end(dots + 2, strlen(dots + 2), 1, &n->date_to)) ||
                  (dots == val && !dots[2]);
        } else {
            bad = parse_date_end(val, vlen, 0, &n->date_from) ||
                  parse_date_end(val, vlen, 1, &n->date_to);
        }
        if (bad) {
            perr(p, t->pos + 5, TDX_ESYNTAX,
                 "expected a date or range after 'date:' (2023, 2023-03, 2023-03-15, "
                 "2023-01..2023-06, 2023.., ..2022), not '%s'",
                 val);
            goto fail;
        }
    } else {
        if ((n = new_node(p, N_FIELD)) == NULL)
            return NULL;
        char *nv;
        size_t nl;
        if (norm_text(p, val, vlen, &nv, &nl))
            goto fail;
        /* Built exactly as the pipeline indexes it. */
        uint8_t term[TDX_FIELD_TERM_MAX + 8];
        size_t tl = tdx_field_term(pre, (const uint8_t *)nv, nl, term);
        tdx_free(nv);
        if (tl == 0) {
            perr(p, t->pos, TDX_ESYNTAX, "'%s:%s' names no field value that can be indexed",
                 pre, val);
            goto fail;
        }
        n->str = tdx_strndup((const char *)term, tl);
        if (n->str == NULL) {
            perr(p, t->pos, TDX_ENOMEM, "out of memory");
            goto fail;
        }
        n->len = tl;
    }
    n->display = tdx_strndup(p->s + t->pos, t->end - t->pos);
    if (n->display == NULL) {
        perr(p, t->pos, TDX_ENOMEM, "out of memory");
        goto fail;
    }
    return n;
fail:
    node_free(n);
    return NULL;
}

/*
 * Index of the last byte of the regex escape that starts at re[i] ('\\'),
 * argument included (\x41, \x{5927}, \p{Han}, \pL, \cA, \o{17}, \12) and
 * a whole UTF-8 character after the backslash: no part of an escape may be
 * taken for text the regex requires.
 */
static size_t escape_end(const char *re, size_t i)
{
    size_t k = i + 1;
    unsigned char e = (unsigned char)re[k];
    if (e >= 0x80) {
        while (((unsigned char)re[k + 1] & 0xC0) == 0x80)
            k++;
    } else if (strchr("xopPNgk", e) && re[k + 1] == '{') {
        k += 2;
        while (re[k] && re[k] != '}')
            k++;
        if (re[k] == 0)
            k--;
    } else if (e == 'x') {
        while (k - i < 3 && isxdigit((unsigned char)re[k + 1]))
            k++;
    } else if ((e == 'p' || e == 'P' || e == 'c') && re[k + 1]) {
        k++;
    } else if (isdigit(e)) {
        while (isdigit((unsigned char)re[k + 1]))
            k++;
    }
    return k;
}

/* (?x) makes spaces and '#' comments in the pattern no text at all. */
static int extended_mode(const char *re)
{
    for (const char *g = strstr(re, "(?"); g; g = strstr(g + 2, "(?")) {
        const char *f = g + 2;
        while (isalpha((unsigned char)*f) || *f == '-') {
            if (*f == 'x')
                return 1;
            f++;
        }
    }
    return 0;
}

/* ---- regex prefilter ---- */

/*
 * The text a regex's matches need, for candidates from the gram index: the
 * regex is cut into its top-level branches, each branch into runs of
 * literal characters, small classes ([18], \d) and groups of plain
 * branches ((a|h)), and each run expands to the strings it may match
 * (h[18]00: h100, h800).  The candidates are the documents holding, for
 * some branch, one string of each of its runs: an OR over branches of an
 * AND over runs of an OR over strings, evaluated like any query
 * (/a100|h100/, /[ah]100/ and /nvidia.{0,20}a100/ no longer read every
 * document).  Anything else in the regex (., other groups, other escapes,
 * anchors) ends a run, an atom a quantifier may leave out ends it before
 * itself, and one it repeats ends a run after its first copy and starts
 * the next with its last: the strings stay required.  A branch without a
 * run of 2 bytes or more leaves the regex without candidates (every
 * document is read).
 */
#define RX_CLASS_MAX    10 /* characters of a class, or branches of a group, expanded */
#define RX_ATOM_MAX     16 /* bytes of one of them */
#define RX_EXPAND_MAX   32 /* strings a run expands to */
#define RX_STR_MAX      64 /* bytes of one */
#define RX_RUNS_MAX     4  /* runs kept per branch, longest first */
#define RX_BRANCHES_MAX 16

typedef struct rx_atom {
    char c[RX_CLASS_MAX][RX_ATOM_MAX];
    uint8_t l[RX_CLASS_MAX];
    size_t n;
} rx_atom;

typedef struct rx_run {
    char s[RX_EXPAND_MAX][RX_STR_MAX];
    uint8_t l[RX_EXPAND_MAX];
    size_t n;
    size_t minlen; /* bytes of its shortest string */
} rx_run;

/* One character at re[i] if it is plain text (a letter, a digit, or a
 * non-ASCII character): its bytes, else 0. */
static size_t rx_plain(const char *re, size_t i)
{
    unsigned char c = (unsigned char)re[i];
    if (c < 0x80)
        return isalnum(c) ? 1 : 0;
    size_t k = 1;
    while (k < 4 && ((unsigned char)re[i + k] & 0xC0) == 0x80)
        k++;
    return k;
}

static int rx_atom_add(rx_atom *a, const char *c, size_t l)
{
    for (size_t i = 0; i < a->n; i++)
        if (a->l[i] == l && memcmp(a->c[i], c, l) == 0)
            return 0;
    if (a->n == RX_CLASS_MAX)
        return -1;
    memcpy(a->c[a->n], c, l);
    a->l[a->n++] = (uint8_t)l;
    return 0;
}

/* A class at re[i] == '[' as the characters it may be: returns the index
 * of its ']' with *a filled, or with a->n = 0 when it is not small and
 * plain (negated, escapes, wide ranges). */
static size_t rx_class(const char *re, size_t i, rx_atom *a)
{
    a->n = 0;
    size_t k = i + 1;
    int ok = re[k] != '^';
    if (re[k] == '^')
        k++;
    if (re[k] == ']')
        k++, ok = 0;
    while (re[k] && re[k] != ']') {
        if (re[k] == '\\' && re[k + 1]) {
            ok = 0;
            k = escape_end(re, k) + 1;
            continue;
        }
        size_t l = rx_plain(re, k);
        if (l == 1 && re[k + 1] == '-' && re[k + 2] && re[k + 2] != ']') {
            char lo = re[k], hi = re[k + 2];
            int same = (isdigit((unsigned char)lo) && isdigit((unsigned char)hi)) ||
                       (islower((unsigned char)lo) && islower((unsigned char)hi)) ||
                       (isupper((unsigned char)lo) && isupper((unsigned char)hi));
            if (!same || hi < lo)
                ok = 0;
            for (char c = lo; ok && c <= hi; c++)
                if (rx_atom_add(a, &c, 1))
                    ok = 0;
            k += 3;
            continue;
        }
        if (l == 0 || rx_atom_add(a, re + k, l))
            ok = 0;
        k += l ? l : 1;
    }
    if (!ok || !re[k])
        a->n = 0;
    return re[k] ? k : k - 1;
}

/*
 * Step over the syntax at re[i]: an escape or a class whole, one byte
 * else, a parenthesis counted in *depth (a ')' with none open counts
 * nothing).  Returns the index of the last byte stepped over: i itself
 * for one byte, so a '|' there is syntax, not an escaped or class one.
 */
static size_t rx_step(const char *re, size_t i, size_t *depth)
{
    if (re[i] == '\\' && re[i + 1])
        return escape_end(re, i);
    if (re[i] == '[') {
        rx_atom a;
        return rx_class(re, i, &a);
    }
    if (re[i] == '(')
        ++*depth;
    else if (re[i] == ')' && *depth)
        --*depth;
    return i;
}

/* The end of a group starting at re[i] == '(': the index of its ')', or
 * of the terminating NUL. */
static size_t rx_group_end(const char *re, size_t i)
{
    size_t depth = 0;
    for (; re[i]; i++) {
        size_t was = depth;
        i = rx_step(re, i, &depth);
        if (depth < was && depth == 0)
            return i;
    }
    return i;
}

/* A group at re[i] == '(' whose branches are plain text ((a|h), (?:nvidia|
 * 英伟达)) as the strings it may match: returns the index of its ')' with
 * *a filled, or with a->n = 0 when it is anything else. */
static size_t rx_group(const char *re, size_t i, rx_atom *a)
{
    size_t end = rx_group_end(re, i), k = i + 1;
    a->n = 0;
    if (re[k] == '?' && re[k + 1] == ':')
        k += 2;
    else if (re[k] == '?')
        return end; /* a lookaround, flags, a named group */
    int ok = re[end] == ')';
    while (ok && k <= end) {
        size_t s = k, l;
        while (k < end && (l = rx_plain(re, k)) != 0)
            k += l;
        if (k == s || k - s > RX_ATOM_MAX || (re[k] != '|' && k != end) ||
            rx_atom_add(a, re + s, k - s))
            ok = 0;
        k++;
    }
    if (!ok)
        a->n = 0;
    return end;
}

/* A quantifier at re[i]: 0 none, else its length, with *optional set when
 * it allows no repeat at all. */
static size_t rx_quant(const char *re, size_t i, int *optional)
{
    size_t k = i;
    *optional = 0;
    if (re[k] == '?' || re[k] == '*') {
        *optional = 1;
        k++;
    } else if (re[k] == '+') {
        k++;
    } else if (re[k] == '{' && isdigit((unsigned char)re[k + 1])) {
        size_t j = k + 1;
        unsigned long m = strtoul(re + j, NULL, 10);
        while (isdigit((unsigned char)re[j]) || re[j] == ',')
            j++;
        if (re[j] != '}')
            return 0;
        *optional = m == 0;
        k = j + 1;
    } else {
        return 0;
    }
    if (re[k] == '?' || re[k] == '+') /* lazy, possessive */
        k++;
    return k - i;
}

/* Append atom a to run r (every string times every character): 0, or -1
 * when the run would pass its bounds (it is left as it was). */
static int rx_extend(rx_run *r, const rx_atom *a)
{
    if (r->n * a->n > RX_EXPAND_MAX)
        return -1;
    for (size_t i = 0; i < r->n; i++)
        if (r->l[i] + RX_ATOM_MAX > RX_STR_MAX)
            return -1;
    size_t n = r->n;
    for (size_t j = a->n; j-- > 0;)
        for (size_t i = 0; i < n; i++) {
            size_t d = j * n + i;
            if (d != i) {
                memcpy(r->s[d], r->s[i], r->l[i]);
                r->l[d] = r->l[i];
            }
            memcpy(r->s[d] + r->l[d], a->c[j], a->l[j]);
            r->l[d] = (uint8_t)(r->l[d] + a->l[j]);
        }
    r->n = n * a->n;
    return 0;
}

/* Keep run r (when it has at least 2 bytes in each string) among a
 * branch's longest RX_RUNS_MAX, and start an empty one. */
static void rx_keep(rx_run *runs, size_t *nruns, rx_run *r)
{
    size_t m = r->n ? RX_STR_MAX : 0;
    for (size_t i = 0; i < r->n; i++)
        if (r->l[i] < m)
            m = r->l[i];
    r->minlen = m;
    if (m >= 2) {
        size_t at = *nruns < RX_RUNS_MAX ? (*nruns)++ : RX_RUNS_MAX;
        if (at == RX_RUNS_MAX) { /* full: replace the shortest, if shorter */
            size_t w = 0;
            for (size_t i = 1; i < RX_RUNS_MAX; i++)
                if (runs[i].minlen < runs[w].minlen)
                    w = i;
            at = runs[w].minlen < m ? w : RX_RUNS_MAX;
        }
        if (at < RX_RUNS_MAX)
            runs[at] = *r;
    }
    r->n = 1;
    r->l[0] = 0;
}

/* The runs of branch re[a .. b). */
static size_t rx_branch_runs(const char *re, size_t a, size_t b, rx_run *runs)
{
    size_t nruns = 0;
    rx_run *r = tdx_malloc(sizeof *r);
    if (r == NULL)
        return SIZE_MAX;
    r->n = 1;
    r->l[0] = 0;
    for (size_t i = a; i < b;) {
        rx_atom at;
        at.n = 0;
        size_t next, l;
        if (re[i] == '\\' && re[i + 1] == 'd') {
            for (char c = '0'; c <= '9'; c++)
                rx_atom_add(&at, &c, 1);
            next = i + 2;
        } else if (re[i] == '\\' && re[i + 1]) {
            next = escape_end(re, i) + 1;
        } else if (re[i] == '[') {
            next = rx_class(re, i, &at) + 1;
        } else if (re[i] == '(') {
            next = rx_group(re, i, &at) + 1;
        } else if ((l = rx_plain(re, i)) != 0) {
            rx_atom_add(&at, re + i, l);
            next = i + l;
        } else {
            next = i + 1;
        }
        if (next > b)
            next = b;
        int optional = 0;
        size_t ql = next < b ? rx_quant(re, next, &optional) : 0;
        if (at.n && !optional && rx_extend(r, &at) != 0) {
            rx_keep(runs, &nruns, r); /* too long or too many: a new run */
            rx_extend(r, &at);
        }
        if (at.n == 0 || optional || ql)
            rx_keep(runs, &nruns, r); /* a repeat or a gap ends the run */
        /* The last of the repeats is next to what follows: a run again. */
        if (at.n && !optional && ql)
            rx_extend(r, &at);
        i = next + ql;
    }
    rx_keep(runs, &nruns, r);
    tdx_free(r);
    return nruns;
}

/* Run r as a node: one substring, or an OR of them (normalized; strings
 * that normalize alike are one). */
static int rx_run_node(parser *p, const rx_run *r, qnode **out)
{
    qnode *o = r->n > 1 ? new_node(p, N_OR) : NULL;
    if (r->n > 1 && o == NULL)
        return failed_code(p);
    for (size_t i = 0; i < r->n; i++) {
        qnode *k = new_node(p, N_SUB);
        if (k == NULL || norm_text(p, r->s[i], r->l[i], &k->str, &k->len)) {
            node_free(k);
            node_free(o);
            return failed_code(p);
        }
        int dup = 0;
        for (size_t j = 0; o && j < o->nkids && !dup; j++)
            dup = o->kids[j]->len == k->len && memcmp(o->kids[j]->str, k->str, k->len) == 0;
        if (dup || k->len == 0) {
            node_free(k);
            continue;
        }
        if (o == NULL) {
            *out = k;
            return 0;
        }
        if (add_kid(p, o, k)) {
            node_free(o);
            return failed_code(p);
        }
    }
    if (o && o->nkids == 0) {
        node_free(o);
        o = NULL;
    }
    *out = o;
    return 0;
}

/* *out = the candidates' query of regex re (see above), or NULL. */
static int regex_prefilter(parser *p, const char *re, qnode **out)
{
    *out = NULL;
    size_t bounds[RX_BRANCHES_MAX + 1], nb = 0, depth = 0;
    bounds[nb++] = 0;
    size_t i = 0;
    for (; re[i]; i++) {
        size_t at = i;
        i = rx_step(re, i, &depth);
        if (i == at && re[i] == '|' && depth == 0) {
            if (nb == RX_BRANCHES_MAX)
                return 0;
            bounds[nb++] = i + 1;
        }
    }
    rx_run *runs = tdx_malloc(RX_RUNS_MAX * sizeof *runs);
    qnode *any = new_node(p, N_OR);
    if (runs == NULL || any == NULL) {
        tdx_free(runs);
        node_free(any);
        return runs ? failed_code(p) : perr(p, p->tok.pos, TDX_ENOMEM, "out of memory");
    }
    int rc = 0, whole = 1;
    for (size_t k = 0; rc == 0 && whole && k < nb; k++) {
        size_t b = k + 1 < nb ? bounds[k + 1] - 1 : i;
        size_t nr = rx_branch_runs(re, bounds[k], b, runs);
        if (nr == SIZE_MAX) {
            rc = perr(p, p->tok.pos, TDX_ENOMEM, "out of memory");
            break;
        }
        /* Runs of 3 bytes or more when the branch has them: two-byte
         * fragments stand for many documents. */
        size_t best = 0;
        for (size_t j = 0; j < nr; j++)
            best = runs[j].minlen > best ? runs[j].minlen : best;
        qnode *all = new_node(p, N_AND);
        if (all == NULL) {
            rc = failed_code(p);
            break;
        }
        for (size_t j = 0; rc == 0 && j < nr; j++) {
            if (runs[j].minlen < 3 && best >= 3)
                continue;
            qnode *rn = NULL;
            rc = rx_run_node(p, &runs[j], &rn);
            if (rc == 0 && rn)
                rc = add_kid(p, all, rn);
        }
        if (rc == 0 && all->nkids == 0)
            whole = 0; /* a branch that needs no text: every document */
        if (rc == 0 && whole && all->nkids == 1 && all->kids[0]->kind == N_OR) {
            /* One run of several strings: they join the OR of branches. */
            qnode * or = all->kids[0];
            for (size_t j = 0; rc == 0 && j < or->nkids; j++) {
                rc = add_kid(p, any, or->kids[j]);
                or->kids[j] = NULL;
            }
            node_free(all);
        } else if (rc == 0 && whole && all->nkids == 1) {
            qnode *only = all->kids[0];
            all->nkids = 0;
            node_free(all);
            rc = add_kid(p, any, only);
        } else if (rc == 0 && whole) {
            rc = add_kid(p, any, all);
        } else {
            node_free(all);
        }
    }
    tdx_free(runs);
    if (rc || !whole || any->nkids == 0) {
        node_free(any);
        return rc;
    }
    if (any->nkids == 1) {
        *out = any->kids[0];
        any->nkids = 0;
        node_free(any);
    } else {
        *out = any;
    }
    return 0;
}

static qnode *leaf_regex(parser *p)
{
    token *t = &p->tok;
    if (t->val[0] == 0) {
        perr(p, t->pos, TDX_ESYNTAX, "empty regex: expected a pattern between the slashes");
        return NULL;
    }
    if (strpbrk(t->val, "\t\n\r")) {
        perr(p, t->pos, TDX_EPATTERN, "a regex may not contain tabs or line breaks");
        return NULL;
    }
    qnode *n = new_node(p, N_REGEX);
    if (n == NULL)
        return NULL;
    tdx_buf row = TDX_BUF_INIT;
    tdx_buf_printf(&row, "query\tquery\t/%s/\tsubstring\n", t->val);
    tdx_err e = {0};
    int rc = row.p ? tdx_watchlist_parse("query", (const char *)row.p, row.len, p->q->norm,
                                         &n->rwl, &e)
                   : TDX_ENOMEM;
    tdx_buf_free(&row);
    if (rc == 0) {
        tdx_match_opts mo = {""};
        rc = tdx_match_compile(n->rwl, &mo, &n->rm, &e);
    }
    if (rc == 0)
        rc = tdx_match_scratch_create(n->rm, &n->rs, &e);
    if (rc) {
        /* Drop the "query:1:COL: " prefix of the watch-list message. */
        const char *m = e.msg;
        for (int k = 0; k < 3; k++) {
            const char *c = strchr(m, ':');
            if (c == NULL)
                break;
            m = c + 1;
        }
        while (*m == ' ')
            m++;
        if (!*m)
            m = e.msg;
        /* The watch-list messages name the regex already. */
        if (strstr(m, "regex /"))
            perr(p, t->pos, rc == TDX_ENOMEM ? rc : TDX_EPATTERN, "%s", m);
        else
            perr(p, t->pos, rc == TDX_ENOMEM ? rc : TDX_EPATTERN, "invalid regex /%s/: %s",
                 t->val, m);
        node_free(n);
        return NULL;
    }
    n->display = tdx_strndup(p->s + t->pos, t->end - t->pos);
    if (n->display == NULL) {
        node_free(n);
        perr(p, t->pos, TDX_ENOMEM, "out of memory");
        return NULL;
    }
    /* (?x) makes spaces no text, and \Q..\E makes classes and groups text:
     * the regex is then left to every document. */
    if (!extended_mode(t->val) && !strstr(t->val, "\\Q") && regex_prefilter(p, t->val, &n->pre)) {
        node_free(n);
        return NULL;
    }
    return n;
}

static qnode *parse_leaf(parser *p)
{
    token *t = &p->tok;
    qnode *n = NULL;
    switch (t->type) {
    case T_WORD:
    case T_QUOTED:
        n = leaf_substring(p, t->val, strlen(t->val));
        break;
    case T_PREFIXED:
        n = leaf_prefixed(p);
        break;
    case T_REGEX:
        n = leaf_regex(p);
        break;
    case T_END:
        perr(p, t->pos, TDX_ESYNTAX, "unexpected end of query: expected a term");
        return NULL;
    case T_RP:
        perr(p, t->pos, TDX_ESYNTAX, "unexpected ')': expected a term");
        return NULL;
    case T_COMMA:
        perr(p, t->pos, TDX_ESYNTAX, "unexpected ',': expected a term");
        return NULL;
    default:
        perr(p, t->pos, TDX_ESYNTAX, "unexpected '%.*s': expected a term",
             (int)(t->end - t->pos), p->s + t->pos);
        return NULL;
    }
    if (n && next_token(p)) {
        node_free(n);
        return NULL;
    }
    return n;
}

static qnode *parse_primary(parser *p)
{
    token *t = &p->tok;
    if (++p->depth > QUERY_MAX_DEPTH) {
        perr(p, t->pos, TDX_ELIMIT, "query nested too deeply (more than %d levels)",
             QUERY_MAX_DEPTH);
        return NULL;
    }
    qnode *n = NULL;
    if (t->type == T_NOT) {
        if (next_token(p))
            return NULL;
        qnode *k = parse_primary(p);
        if (k == NULL)
            return NULL;
        n = new_node(p, N_NOT);
        if (n == NULL || add_kid(p, n, k)) {
            node_free(n ? n : k);
            return NULL;
        }
    } else if (t->type == T_LP) {
        size_t open = t->pos;
        int saved = p->near_args;
        p->near_args = 0;
        if (next_token(p))
            return NULL;
        n = parse_or(p);
        p->near_args = saved;
        if (n == NULL)
            return NULL;
        if (p->tok.type != T_RP) {
            perr(p, p->tok.pos, TDX_ESYNTAX, "expected ')' to close the '(' at column %zu",
                 col_of(p->s, open));
            node_free(n);
            return NULL;
        }
        if (next_token(p)) {
            node_free(n);
            return NULL;
        }
    } else if (t->type == T_NEAR) {
        n = new_node(p, N_NEAR);
        if (n == NULL)
            return NULL;
        n->display = tdx_strdup("NEAR");
        int saved = p->near_args;
        p->near_args = 1;
        if (next_token(p) || next_token(p)) /* NEAR, ( */
            goto near_fail;
        for (int k = 0; k < 2; k++) {
            int tt = p->tok.type;
            if (tt != T_WORD && tt != T_QUOTED && tt != T_PREFIXED) {
                perr(p, p->tok.pos, TDX_ESYNTAX,
                     "NEAR(a, b, N): expected a term (word, \"phrase\", entity:, cat: or "
                     "pattern:) as argument %d",
                     k + 1);
                goto near_fail;
            }
            size_t arg_pos = p->tok.pos;
            qnode *leaf = parse_leaf(p);
            if (leaf == NULL)
                goto near_fail;
            if (leaf->kind == N_DATE || leaf->kind == N_FIELD) {
                perr(p, arg_pos, TDX_ESYNTAX,
                     "NEAR(a, b, N): dates and fields have no position in the text");
                node_free(leaf);
                goto near_fail;
            }
            if (add_kid(p, n, leaf))
                goto near_fail;
            if (p->tok.type != T_COMMA) {
                perr(p, p->tok.pos, TDX_ESYNTAX, "NEAR(a, b, N): expected ','");
                goto near_fail;
            }
            if (next_token(p))
                goto near_fail;
        }
        uint64_t dist = 0;
        if (p->tok.type != T_WORD || p->tok.val[0] < '0' || p->tok.val[0] > '9' ||
            strlen(p->tok.val) > 9 || (dist = strtoull(p->tok.val, NULL, 10), 0) ||
            strspn(p->tok.val, "0123456789") != strlen(p->tok.val)) {
            perr(p, p->tok.pos, TDX_ESYNTAX,
                 "NEAR(a, b, N): expected a distance in characters as N");
            goto near_fail;
        }
        n->near_n = (uint32_t)dist;
        if (next_token(p))
            goto near_fail;
        if (p->tok.type != T_RP) {
            perr(p, p->tok.pos, TDX_ESYNTAX, "NEAR(a, b, N): expected ')'");
            goto near_fail;
        }
        p->near_args = saved;
        if (next_token(p)) {
            node_free(n);
            return NULL;
        }
    } else {
        n = parse_leaf(p);
    }
    p->depth--;
    return n;
near_fail:
    node_free(n);
    return NULL;
}

static int starts_unary(int type)
{
    return type == T_NOT || type == T_LP || type == T_NEAR || type == T_WORD ||
           type == T_QUOTED || type == T_REGEX || type == T_PREFIXED;
}

static qnode *parse_and(parser *p)
{
    qnode *first = parse_primary(p);
    if (first == NULL)
        return NULL;
    if (p->tok.type != T_AND && !starts_unary(p->tok.type))
        return first;
    qnode *n = new_node(p, N_AND);
    if (n == NULL || add_kid(p, n, first)) {
        node_free(n ? n : first);
        return NULL;
    }
    while (p->tok.type == T_AND || starts_unary(p->tok.type)) {
        if (p->tok.type == T_AND && next_token(p))
            goto fail;
        qnode *k = parse_primary(p);
        if (k == NULL || add_kid(p, n, k))
            goto fail;
    }
    return n;
fail:
    node_free(n);
    return NULL;
}

static qnode *parse_or(parser *p)
{
    qnode *first = parse_and(p);
    if (first == NULL)
        return NULL;
    if (p->tok.type != T_OR)
        return first;
    qnode *n = new_node(p, N_OR);
    if (n == NULL || add_kid(p, n, first)) {
        node_free(n ? n : first);
        return NULL;
    }
    while (p->tok.type == T_OR) {
        if (next_token(p))
            goto fail;
        qnode *k = parse_and(p);
        if (k == NULL || add_kid(p, n, k))
            goto fail;
    }
    return n;
fail:
    node_free(n);
    return NULL;
}

int tdx_query_parse(tdx_qctx *q, const char *text, tdx_query **out_query, size_t *out_col,
                    tdx_err *err)
{
    parser P;
    memset(&P, 0, sizeof P);
    P.q = q;
    P.s = text;
    P.len = strlen(text);
    P.err = err;
    if (out_col)
        *out_col = 0;
    if (P.len > QUERY_MAX_BYTES)
        return tdx_err_set(err, TDX_ELIMIT, "query longer than %d bytes", QUERY_MAX_BYTES);
    if (!tdx_utf8_valid((const uint8_t *)text, P.len))
        return tdx_err_set(err, TDX_ESYNTAX, "query is not valid UTF-8");
    qnode *root = NULL;
    if (next_token(&P) == 0) {
        if (P.tok.type == T_END)
            perr(&P, 0, TDX_ESYNTAX, "empty query: expected a term");
        else
            root = parse_or(&P);
    }
    if (root && P.tok.type != T_END) {
        if (P.tok.type == T_RP)
            perr(&P, P.tok.pos, TDX_ESYNTAX, "unexpected ')' with no '(' to close");
        else
            perr(&P, P.tok.pos, TDX_ESYNTAX, "unexpected '%.*s': expected AND, OR or the end",
                 (int)(P.tok.end - P.tok.pos), P.s + P.tok.pos);
        node_free(root);
        root = NULL;
    }
    tok_clear(&P.tok);
    if (root == NULL) {
        if (out_col)
            *out_col = col_of(text, P.err_pos);
        return err && err->code ? err->code : TDX_ESYNTAX;
    }
    tdx_query *query = tdx_calloc(1, sizeof *query);
    if (query == NULL) {
        node_free(root);
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    }
    query->root = root;
    query->nnodes = P.nnodes;
    *out_query = query;
    return 0;
}

static int has_text_leaf(const qnode *n)
{
    if (n->kind == N_SUB || n->kind == N_REGEX)
        return 1;
    for (size_t i = 0; i < n->nkids; i++)
        if (has_text_leaf(n->kids[i]))
            return 1;
    return 0;
}

int tdx_query_scans_all(const tdx_qctx *q, const tdx_query *query)
{
    return !q->info.grams && has_text_leaf(query->root);
}

/* ---- evaluation: sets ---- */

static int drop_deleted(tdx_qctx *q, tdx_docset *d)
{
    if (q->deleted.n == 0 || d->n == 0)
        return 0;
    tdx_docset out = {0};
    int rc = tdx_docset_sub(d, &q->deleted, &out);
    if (rc)
        return rc;
    tdx_docset_free(d);
    *d = out;
    return 0;
}

static int union_into(tdx_docset *acc, const tdx_docset *add)
{
    if (acc->n == 0)
        return tdx_docset_copy(acc, add);
    tdx_docset out = {0};
    int rc = tdx_docset_or(acc, add, &out);
    if (rc)
        return rc;
    tdx_docset_free(acc);
    *acc = out;
    return 0;
}

static int and_into(tdx_docset *acc, const tdx_docset *with)
{
    tdx_docset out = {0};
    int rc = tdx_docset_and(acc, with, &out);
    if (rc)
        return rc;
    tdx_docset_free(acc);
    *acc = out;
    return 0;
}

static int id_postings(tdx_qctx *q, uint8_t cls, const uint32_t *ids, size_t n, tdx_docset *out,
                       tdx_err *err)
{
    out->n = 0;
    uint8_t term[5];
    term[0] = cls;
    if (n == 1) {
        tdx_be32_put(term + 1, ids[0]);
        return tdx_store_postings(q->t, term, 5, out, err);
    }
    tdx_docbits bits;
    if (tdx_docbits_init(&bits, (uint32_t)q->info.next_doc))
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        tdx_be32_put(term + 1, ids[i]);
        rc = tdx_store_postings(q->t, term, 5, out, err);
        if (rc == 0 && tdx_docbits_add(&bits, out))
            rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
    }
    if (rc == 0 && tdx_docbits_take(&bits, out))
        rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
    tdx_docbits_free(&bits);
    return rc;
}

typedef struct word_match {
    tdx_qctx *q;
    tdx_docbits acc;
    tdx_docset tmp;
    tdx_err *err;
    int rc;
} word_match;

/* A word holding the fragment (tdx_store_words): its docs join the union. */
static int word_visit(void *ctx, const uint8_t *term, size_t len)
{
    word_match *w = ctx;
    w->rc = tdx_store_postings(w->q->t, term, len, &w->tmp, w->err);
    if (w->rc == 0 && tdx_docbits_add(&w->acc, &w->tmp))
        w->rc = tdx_err_set(w->err, TDX_ENOMEM, "out of memory");
    return w->rc != 0;
}

/* ---- trigrams of word fragments ---- */

static int doc_norm(tdx_qctx *q, uint32_t id, tdx_err *err);

/* Does text hold fragment f as `part` asks (TDX_PART_*): anywhere in a
 * word, at a word's start, at its end, or as the whole word? */
static int frag_in_text(const uint8_t *text, size_t tlen, const uint8_t *f, size_t flen, int part)
{
    const uint8_t *p = text, *end = text + tlen, *hit;
    while ((hit = tdx_memfind(p, (size_t)(end - p), f, flen)) != NULL) {
        int starts = hit == text || !tdx_is_word_byte(hit[-1]);
        int ends = hit + flen == end || !tdx_is_word_byte(hit[flen]);
        if ((part != TDX_PART_PREFIX && part != TDX_PART_EXACT) || starts)
            if ((part != TDX_PART_SUFFIX && part != TDX_PART_EXACT) || ends)
                return 1;
        p = hit + 1;
    }
    return 0;
}

/* Trigrams read at most per fragment, rarest first. */
#define TRI_MAX 16
/* A trigram list is read while it is at most this many times as long as
 * the candidates left: a document in a list costs a few nanoseconds, a
 * candidate checked in its text 10-15 us. */
#define TRI_SKIP_RATIO 1000

typedef struct tri_plan {
    uint8_t term[TRI_MAX][4];
    uint64_t count[TRI_MAX];
    size_t n;
    int exact; /* the one list is the answer: 3 bytes anywhere in a word */
} tri_plan;

/* The trigrams of word fragment f[0..len) (len >= 3) with their counts,
 * rarest first. */
static int tri_plan_make(tdx_qctx *q, const uint8_t *f, size_t len, int part, tri_plan *pl,
                         tdx_err *err)
{
    int rc = 0;
    pl->n = 0;
    /* Spread over the fragment when it has more trigrams than are read. */
    size_t ntri = len - 2, step = (ntri + TRI_MAX - 1) / TRI_MAX;
    for (size_t i = 0; rc == 0 && i < ntri && pl->n < TRI_MAX; i += step) {
        size_t at = i + step >= ntri ? ntri - 1 : i; /* the last one read ends the fragment */
        uint8_t t[4] = {TDX_TERM_TRIGRAM, f[at], f[at + 1], f[at + 2]};
        uint64_t c = 0;
        rc = tdx_store_postings_count(q->t, t, 4, &c, err);
        size_t k = pl->n++; /* inserted by count */
        for (; k > 0 && pl->count[k - 1] > c; k--) {
            pl->count[k] = pl->count[k - 1];
            memcpy(pl->term[k], pl->term[k - 1], 4);
        }
        pl->count[k] = c;
        memcpy(pl->term[k], t, 4);
    }
    pl->exact = len == 3 && part == TDX_PART_INFIX;
    return rc;
}

/* Docs of trigram lists read at most for one fragment (about 1.5 ms),
 * past its first list. */
#define TRI_READ_DOCS 262144

/*
 * Docs up to `upto` holding the plan's trigrams: the candidates of its
 * fragment.  After the first, a list is read while its share of docs up to
 * `upto` is not many times as many as the candidates left, and the docs
 * read stay within TRI_READ_DOCS.
 */
static int tri_read(tdx_qctx *q, const tri_plan *pl, uint32_t upto, tdx_docset *out, tdx_err *err)
{
    tdx_docset tmp = {0};
    int rc = 0;
    double part = upto >= q->info.next_doc ? 1.0 : (double)upto / (double)q->info.next_doc;
    double read = (double)pl->count[0] * part;
    out->n = 0;
    for (size_t i = 0; rc == 0 && i < pl->n; i++) {
        double more = (double)pl->count[i] * part;
        if (i && (out->n == 0 || more > TRI_SKIP_RATIO * (double)out->n ||
                  (read += more) > TRI_READ_DOCS))
            break;
        rc = tdx_store_postings_upto(q->t, pl->term[i], 4, upto, i ? &tmp : out, err);
        if (rc == 0 && i && and_into(out, &tmp))
            rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
    }
    tdx_docset_free(&tmp);
    return rc;
}

/* The documents whose trigrams a batch's bound cut short (term "t"): a
 * candidate of every fragment. */
static int trigram_cut(tdx_qctx *q, tdx_docset *cut, tdx_err *err)
{
    return tdx_store_postings(q->t, (const uint8_t *)TDX_TRIGRAM_CUT, 1, cut, err);
}

/* Candidates a fragment's words are checked for in the text, at most,
 * before its dictionary path is taken instead (10-15 us a document, against
 * a scan of the word list: 4 ms for 2.6M words). */
#define TRI_CHECK_DOCS 256

/*
 * out = the docs of cand whose text holds word fragment f as `part` asks:
 * all of them checked, or (exact: cand is the answer but for the
 * documents whose trigrams were cut short) only those.  Returns 1 when
 * there are more than TRI_CHECK_DOCS to check.  cand is consumed.
 */
static int tri_finish(tdx_qctx *q, tdx_docset *cand, int exact, const uint8_t *f, size_t flen,
                      int part, tdx_docset *out, tdx_err *err)
{
    tdx_docset cut = {0};
    int rc = trigram_cut(q, &cut, err);
    if (rc == 0 && exact && cut.n == 0) {
        tdx_docset_free(out);
        *out = *cand;
        *cand = (tdx_docset){0};
        goto done;
    }
    if (rc == 0 && (union_into(cand, &cut) || drop_deleted(q, cand) || drop_deleted(q, &cut)))
        rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
    if (rc == 0 && (exact ? cut.n : cand->n) > TRI_CHECK_DOCS)
        rc = 1;
    size_t at = 0;
    for (size_t i = 0; rc == 0 && i < cand->n; i++) {
        uint32_t id = cand->v[i];
        int in = 1;
        if (!exact || tdx_docset_has_from(&cut, &at, id)) {
            rc = doc_norm(q, id, err);
            in = rc == 0 && frag_in_text(q->nout.text.p, q->nout.text.len, f, flen, part);
        }
        if (rc == 0 && in && tdx_docset_push(out, id))
            rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
    }
done:
    q->trigram_frags += rc == 0;
    tdx_docset_free(&cut);
    tdx_docset_free(cand);
    return rc;
}

/*
 * Docs with a word holding two bytes f: a word of three bytes or more holds
 * them exactly when one of its trigrams starts or ends with them, and the
 * only shorter one is the word f itself.  The union of up to 125 lists
 * ("10" in 908,824 of 1M notices: 60 ms through the 2.6M-word list).
 */
static int pair_postings(tdx_qctx *q, const uint8_t *f, tdx_docset *out, tdx_err *err)
{
    static const char sym[] = TDX_WORD_BYTES;
    tdx_docbits acc = {0};
    tdx_docset tmp = {0};
    if (tdx_docbits_init(&acc, (uint32_t)q->info.next_doc))
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    uint8_t w[3] = {TDX_TERM_WORD, f[0], f[1]};
    int rc = tdx_store_postings(q->t, w, 3, &tmp, err);
    if (rc == 0 && tdx_docbits_add(&acc, &tmp))
        rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < 2 * (sizeof sym - 1); i++) {
        uint8_t c = (uint8_t)sym[i / 2];
        uint8_t t3[4] = {TDX_TERM_TRIGRAM, f[0], f[1], c};
        if (i % 2) {
            t3[1] = c;
            t3[2] = f[0];
            t3[3] = f[1];
        }
        rc = tdx_store_postings(q->t, t3, 4, &tmp, err);
        if (rc == 0 && tdx_docbits_add(&acc, &tmp))
            rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
    }
    if (rc == 0 && tdx_docbits_take(&acc, &tmp))
        rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
    tdx_docbits_free(&acc);
    if (rc == 0)
        return tri_finish(q, &tmp, 1, f, 2, TDX_PART_INFIX, out, err);
    tdx_docset_free(&tmp);
    return rc;
}

/*
 * Word fragment t through its trigrams when that is cheap: their list when
 * it is the answer, or the candidates' text checked.  Returns 1 (out
 * untouched) when the dictionary must answer.
 */
static int tri_postings(tdx_qctx *q, const tdx_qterm *t, tdx_docset *out, tdx_err *err)
{
    const uint8_t *f = t->term + 1;
    size_t flen = (size_t)t->len - 1;
    if (q->info.trigrams && flen == 2 && t->part == TDX_PART_INFIX)
        return pair_postings(q, f, out, err);
    if (!q->info.trigrams || flen < 3)
        return 1;
    tdx_docset cand = {0};
    tri_plan pl;
    int rc = tri_plan_make(q, f, flen, t->part, &pl, err);
    if (rc)
        return rc;
    /* Candidates too many to check even in the rarest list: the word list. */
    if (!pl.exact && pl.count[0] > TRI_READ_DOCS)
        return 1;
    rc = tri_read(q, &pl, UINT32_MAX, &cand, err);
    if (rc == 0)
        return tri_finish(q, &cand, pl.exact, f, flen, t->part, out, err);
    tdx_docset_free(&cand);
    return rc;
}

/* Docs containing a word term: exact match, through trigrams, or through
 * the dictionary. */
static int word_postings(tdx_qctx *q, const tdx_qterm *t, tdx_docset *out, tdx_err *err)
{
    out->n = 0;
    if (t->part == TDX_PART_EXACT)
        return tdx_store_postings(q->t, t->term, t->len, out, err);
    int rc = tri_postings(q, t, out, err);
    if (rc <= 0)
        return rc;
    out->n = 0;
    word_match w = {q, {0}, {0}, err, 0};
    if (tdx_docbits_init(&w.acc, (uint32_t)q->info.next_doc))
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    rc = tdx_store_words(q->t, t->term + 1, (size_t)t->len - 1, t->part == TDX_PART_PREFIX,
                         t->part == TDX_PART_SUFFIX, word_visit, &w, err);
    tdx_docset_free(&w.tmp);
    rc = rc ? rc : w.rc;
    if (rc == 0 && tdx_docbits_take(&w.acc, out))
        rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
    tdx_docbits_free(&w.acc);
    return rc;
}

/* Dictionary words a fragment stands for, for positional proof. */
typedef struct word_list {
    tdx_buf terms; /* each: u8 length, bytes */
    size_t n;
    int too_many;  /* more than is worth a cursor each, or a possible window */
} word_list;

#define QPOS_MAX_WORDS 64

static int word_list_visit(void *ctx, const uint8_t *term, size_t len)
{
    word_list *w = ctx;
    size_t wl = len - 1;
    /* A 64-byte term may be a window of a longer run, not a word: its ends
     * are not word ends, so positions cannot prove the match. */
    if (wl >= TDX_WORD_MAX || ++w->n > QPOS_MAX_WORDS) {
        w->too_many = 1;
        return 1;
    }
    uint8_t l = (uint8_t)len;
    if (tdx_buf_putc(&w->terms, l) || tdx_buf_append(&w->terms, term, len)) {
        w->too_many = 1; /* out of memory: fall back to reading the text */
        return 1;
    }
    return 0;
}

/*
 * The terms positions need: a run of m adjacent bigrams (m+1 characters)
 * is proved by every second one and the last, since each character is
 * then held by one of them at its offset; words are all kept.  "文件时间"
 * needs 文件 and 时间, not 件时.
 */
static size_t cover_terms(const tdx_qterm *t, size_t nt, tdx_qterm *out, tdx_qterm *rest,
                          size_t *nrest)
{
    size_t n = 0, nr = 0;
    for (size_t i = 0; i < nt;) {
        if (t[i].term[0] != TDX_TERM_BIGRAM) {
            out[n++] = t[i++];
            continue;
        }
        size_t j = i + 1;
        while (j < nt && t[j].term[0] == TDX_TERM_BIGRAM && t[j].off == t[j - 1].off + 1)
            j++;
        for (size_t k = i; k < j; k++) {
            if ((k - i) % 2 == 0 || k == j - 1)
                out[n++] = t[k];
            else if (rest)
                rest[nr++] = t[k];
        }
        i = j;
    }
    if (nrest)
        *nrest = nr;
    return n;
}

/* Index of the first of v[0..n) equal to t (bytes and part), or n. */
static size_t qterm_first(const tdx_qterm *v, size_t n, const tdx_qterm *t)
{
    size_t j = 0;
    while (j < n && !(v[j].len == t->len && v[j].part == t->part &&
                      memcmp(v[j].term, t->term, t->len) == 0))
        j++;
    return j;
}

/*
 * Cursors for proving a substring by positions: every term of the query at
 * its offset.  Leaves n->qp NULL (text verification) when a fragment stands
 * for too many words or for something that may not be a word.
 */
static int setup_positions(tdx_qctx *q, qnode *n, const tdx_qterm *all, size_t nall,
                           tdx_err *err)
{
    tdx_qterm terms[QTERMS_MAX];
    size_t nt = cover_terms(all, nall < QTERMS_MAX ? nall : QTERMS_MAX, terms, NULL, NULL);
    qpos *g = tdx_calloc(nt, sizeof *g);
    if (g == NULL)
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    int rc = 0, give_up = 0;
    for (size_t i = 0; rc == 0 && !give_up && i < nt; i++) {
        const tdx_qterm *t = &terms[i];
        g[i].off = t->off;
        word_list wl = {TDX_BUF_INIT, 0, 0};
        size_t flen = (size_t)t->len - 1; /* the fragment: the term without its class */
        if (t->term[0] == TDX_TERM_WORD && t->part != TDX_PART_EXACT) {
            rc = tdx_store_words(q->t, t->term + 1, flen, t->part == TDX_PART_PREFIX,
                                 t->part == TDX_PART_SUFFIX, word_list_visit, &wl, err);
            if (rc == 0 && wl.too_many)
                give_up = 1;
        } else {
            /* A term the query repeats ("采购项目采购项目") is read once: the
             * later group asks the earlier one's cursor, at its own offset
             * (the same term and part took this branch: one cursor, no shift). */
            size_t j = qterm_first(terms, i, t);
            if (j < i) {
                g[i].cur = tdx_calloc(1, sizeof *g[i].cur);
                g[i].shift = tdx_calloc(1, sizeof *g[i].shift);
                if (!g[i].cur || !g[i].shift) {
                    rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
                } else {
                    g[i].cur[0] = g[j].cur[0];
                    g[i].n = 1;
                    g[i].shared = 1;
                }
                tdx_buf_free(&wl.terms);
                continue;
            }
            rc = tdx_buf_putc(&wl.terms, t->len) || tdx_buf_append(&wl.terms, t->term, t->len)
                     ? tdx_err_set(err, TDX_ENOMEM, "out of memory")
                     : 0;
            wl.n = 1;
        }
        if (rc == 0 && !give_up && wl.n) {
            g[i].cur = tdx_calloc(wl.n, sizeof *g[i].cur);
            g[i].shift = tdx_calloc(wl.n, sizeof *g[i].shift);
            if (!g[i].cur || !g[i].shift)
                rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
            const uint8_t *pp = wl.terms.p;
            for (size_t k = 0; rc == 0 && k < wl.n; k++) {
                size_t l = *pp++;
                rc = tdx_store_poscur_open(q->t, pp, l, &g[i].cur[k], err);
                /* A suffix fragment sits at the end of its word. */
                g[i].shift[k] = t->part == TDX_PART_SUFFIX ? (uint32_t)(l - 1 - flen) : 0;
                g[i].n = k + 1;
                pp += l;
            }
        }
        tdx_buf_free(&wl.terms);
    }
    if (rc || give_up) {
        qpos_free(g, nt);
        return rc;
    }
    n->qp = g;
    n->nqp = nt;
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/*
 * Does doc id hold every term of substring n at its offset from one start?
 * With `starts`, every such start (a character offset) is pushed there in
 * ascending order; without, the first ends the search.
 */
static int positions_match(qnode *n, uint32_t id, tdx_docset *starts, int *out, tdx_err *err)
{
    *out = 0;
    size_t anchor = 0;
    for (size_t i = 0; i < n->nqp; i++) {
        qpos *g = &n->qp[i];
        g->nbuf = 0;
        if (g->n == 1 && g->shift[0] == 0) {
            /* One cursor (a bigram, a whole word): its positions as they are. */
            int got = tdx_store_poscur_get(g->cur[0], id, &g->v, &g->nv, err);
            if (got <= 0)
                return got;
        } else {
            for (size_t k = 0; k < g->n; k++) {
                const uint32_t *pos;
                size_t np;
                int got = tdx_store_poscur_get(g->cur[k], id, &pos, &np, err);
                if (got < 0)
                    return got;
                if (got == 0)
                    continue;
                if (tdx_grow((void **)&g->buf, &g->cap, g->nbuf + np, sizeof *g->buf, 64))
                    return tdx_err_set(err, TDX_ENOMEM, "out of memory");
                for (size_t j = 0; j < np; j++)
                    g->buf[g->nbuf++] = pos[j] + g->shift[k];
            }
            if (g->nbuf == 0)
                return 0; /* a term missing from this doc */
            if (g->n > 1)
                qsort(g->buf, g->nbuf, sizeof *g->buf, cmp_u32);
            g->v = g->buf;
            g->nv = g->nbuf;
        }
        if (i == 0 || g->nv < n->qp[anchor].nv)
            anchor = i;
    }
    /* Every start the rarest term allows, checked against the others. */
    const uint32_t *pos[QTERMS_MAX];
    size_t np[QTERMS_MAX], at[QTERMS_MAX];
    uint32_t off[QTERMS_MAX];
    for (size_t i = 0; i < n->nqp; i++) {
        pos[i] = n->qp[i].v;
        np[i] = n->qp[i].nv;
        off[i] = n->qp[i].off;
        at[i] = 0;
    }
    size_t j = 0;
    uint32_t start;
    while (tdx_phrase_next(pos, np, off, n->nqp, anchor, &j, at, &start)) {
        *out = 1;
        if (starts == NULL)
            return 0;
        if (tdx_docset_push(starts, start))
            return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    }
    return 0;
}

static int positions_hold(qnode *n, uint32_t id, int *out, tdx_err *err)
{
    return positions_match(n, id, NULL, out, err);
}

typedef struct qt_plan {
    tdx_qterm t;
    uint64_t count;
    tdx_docset set; /* filled for dictionary terms */
    int have_set;
} qt_plan;

static int cmp_plan(const void *a, const void *b)
{
    const qt_plan *x = a, *y = b;
    return x->count < y->count ? -1 : x->count > y->count;
}

#ifndef SKIP_RATIO
#define SKIP_RATIO 8
#endif

static int eval_substring(tdx_qctx *q, qnode *n, tdx_err *err)
{
    tdx_qterm terms[QTERMS_MAX];
    size_t nt = 0;
    int exact = 0, posexact = 0;
    int rc = tdx_query_terms((const uint8_t *)n->str, n->len, terms, QTERMS_MAX, &nt, &exact,
                             &posexact);
    if (rc == TDX_ELIMIT) {
        nt = QTERMS_MAX; /* use the first terms as a filter; verification decides */
        exact = 0;
        posexact = 0;
    } else if (rc) {
        return tdx_err_set(err, rc, "cannot cut the query into terms");
    }
    if (nt == 0 || !q->info.grams) {
        n->exact = 0;
        rc = load_live(q, err);
        return rc ? rc : (tdx_docset_copy(&n->P, &q->live) ? TDX_ENOMEM : 0);
    }
    qt_plan *plan = tdx_calloc(nt, sizeof *plan);
    if (plan == NULL)
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    for (size_t i = 0; rc == 0 && i < nt; i++) {
        plan[i].t = terms[i];
        if (terms[i].term[0] == TDX_TERM_WORD && terms[i].part != TDX_PART_EXACT) {
            rc = word_postings(q, &terms[i], &plan[i].set, err);
            plan[i].have_set = 1;
            plan[i].count = plan[i].set.n;
        } else {
            rc = tdx_store_postings_count(q->t, terms[i].term, terms[i].len, &plan[i].count, err);
        }
    }
    if (rc == 0)
        qsort(plan, nt, sizeof *plan, cmp_plan);
    tdx_docset tmp = {0};
    for (size_t i = 0; rc == 0 && i < nt; i++) {
        tdx_docset *cur = &tmp;
        if (plan[i].have_set)
            cur = &plan[i].set;
        else
            rc = tdx_store_postings(q->t, plan[i].t.term, plan[i].t.len, &tmp, err);
        if (rc)
            break;
        if (i == 0)
            rc = tdx_docset_copy(&n->P, cur);
        else
            rc = and_into(&n->P, cur);
        if (rc) {
            rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
            break;
        }
        /* Few candidates left: verifying them beats reading more postings,
         * unless every term is needed to make the answer exact. */
        if (!exact && n->P.n <= 32)
            break;
        if (n->P.n == 0)
            break;
        /* Reading a term many times as common as the candidates costs
         * more than the false candidates it would remove: positions or
         * the text reject those one by one. */
        if (!exact && i + 1 < nt && plan[i + 1].count > SKIP_RATIO * n->P.n)
            break;
    }
    tdx_docset_free(&tmp);
    for (size_t i = 0; i < nt; i++)
        tdx_docset_free(&plan[i].set);
    tdx_free(plan);
    if (rc)
        return rc;
    if (drop_deleted(q, &n->P))
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    n->exact = exact;
    /* Candidates are then proved by positions when the query allows it,
     * which reads postings instead of documents. */
    if (!exact && posexact && n->P.n)
        return setup_positions(q, n, terms, nt, err);
    return 0;
}

static int eval_node(tdx_qctx *q, qnode *n, tdx_err *err);
static int near_setup(tdx_qctx *q, qnode *n, tdx_err *err);

static int set_exact(qnode *n)
{
    n->exact = 1;
    return tdx_docset_copy(&n->S, &n->P) ? TDX_ENOMEM : 0;
}

static int cmp_kid_size(const void *a, const void *b)
{
    const qnode *x = *(qnode *const *)a, *y = *(qnode *const *)b;
    return x->P.n < y->P.n ? -1 : x->P.n > y->P.n;
}

static int eval_node(tdx_qctx *q, qnode *n, tdx_err *err)
{
    if (n->evaluated)
        return 0;
    int rc = 0;
    n->S.n = n->P.n = 0;
    switch (n->kind) {
    case N_SUB:
        rc = eval_substring(q, n, err);
        if (rc == 0 && n->exact && set_exact(n))
            rc = TDX_ENOMEM;
        break;
    case N_ENT:
    case N_CAT:
    case N_PAT: {
        uint8_t cls = n->kind == N_ENT   ? TDX_TERM_ENTITY
                      : n->kind == N_CAT ? TDX_TERM_CATEGORY
                                         : TDX_TERM_PATTERN;
        rc = id_postings(q, cls, n->ids, n->nids, &n->P, err);
        if (rc == 0 && (drop_deleted(q, &n->P) || set_exact(n)))
            rc = TDX_ENOMEM;
        break;
    }
    case N_FIELD:
        rc = tdx_store_postings(q->t, (const uint8_t *)n->str, n->len, &n->P, err);
        if (rc == 0 && (drop_deleted(q, &n->P) || set_exact(n)))
            rc = TDX_ENOMEM;
        break;
    case N_DATE: {
        const uint32_t *dates;
        size_t nd;
        rc = tdx_qctx_dates(q, &dates, &nd, err);
        if (rc == 0)
            rc = load_live(q, err);
        for (size_t i = 0; rc == 0 && i < q->live.n; i++) {
            uint32_t id = q->live.v[i], d = dates[id];
            if (d && d >= n->date_from && d <= n->date_to && tdx_docset_push(&n->P, id))
                rc = TDX_ENOMEM;
        }
        if (rc == 0 && set_exact(n))
            rc = TDX_ENOMEM;
        break;
    }
    case N_REGEX:
        if (n->pre && q->info.grams) {
            /* Only the candidates are wanted: the regex decides on the text. */
            rc = eval_node(q, n->pre, err);
            if (rc == 0 && tdx_docset_copy(&n->P, &n->pre->P))
                rc = TDX_ENOMEM;
        } else {
            rc = load_live(q, err);
            if (rc == 0 && tdx_docset_copy(&n->P, &q->live))
                rc = TDX_ENOMEM;
        }
        n->exact = 0;
        break;
    case N_NEAR:
        rc = eval_node(q, n->kids[0], err);
        rc = rc ? rc : eval_node(q, n->kids[1], err);
        if (rc == 0 && tdx_docset_and(&n->kids[0]->P, &n->kids[1]->P, &n->P))
            rc = TDX_ENOMEM;
        n->exact = 0;
        if (rc == 0 && n->P.n)
            rc = near_setup(q, n, err);
        break;
    case N_AND:
    case N_OR: {
        for (size_t i = 0; rc == 0 && i < n->nkids; i++)
            rc = eval_node(q, n->kids[i], err);
        if (rc)
            break;
        qnode **kids = tdx_reallocarray(NULL, n->nkids, sizeof *kids);
        if (kids == NULL) {
            rc = TDX_ENOMEM;
            break;
        }
        memcpy(kids, n->kids, n->nkids * sizeof *kids);
        if (n->kind == N_AND)
            qsort(kids, n->nkids, sizeof *kids, cmp_kid_size); /* smallest first */
        int exact = 1;
        for (size_t i = 0; rc == 0 && i < n->nkids; i++) {
            qnode *k = kids[i];
            exact &= k->exact;
            if (i == 0) {
                if (tdx_docset_copy(&n->P, &k->P) || tdx_docset_copy(&n->S, &k->S))
                    rc = TDX_ENOMEM;
            } else if (n->kind == N_AND) {
                if (and_into(&n->P, &k->P) || and_into(&n->S, &k->S))
                    rc = TDX_ENOMEM;
            } else {
                if (union_into(&n->P, &k->P) || union_into(&n->S, &k->S))
                    rc = TDX_ENOMEM;
            }
        }
        tdx_free(kids);
        n->exact = exact;
        break;
    }
    case N_NOT: {
        qnode *k = n->kids[0];
        rc = eval_node(q, k, err);
        rc = rc ? rc : load_live(q, err);
        if (rc == 0 && (tdx_docset_sub(&q->live, &k->P, &n->S) ||
                        tdx_docset_sub(&q->live, &k->S, &n->P)))
            rc = TDX_ENOMEM;
        n->exact = k->exact;
        break;
    }
    }
    if (rc == TDX_ENOMEM && !(err && err->code))
        rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
    if (rc == 0)
        n->evaluated = 1;
    return rc;
}

/* ---- evaluation: one document ---- */

static int doc_norm(tdx_qctx *q, uint32_t id, tdx_err *err)
{
    if (q->vdoc == id && q->vnorm)
        return 0;
    q->vdoc = id;
    q->vnorm = 0;
    int rc = tdx_store_get_text(q->t, id, &q->text, err);
    if (rc == 0)
        rc = tdx_norm_run(q->norm, q->nctx, q->text.p, q->text.len, &q->nout, err);
    if (rc == 0)
        q->vnorm = 1;
    return rc;
}

static int doc_hits(tdx_qctx *q, uint32_t id, tdx_err *err)
{
    if (q->hits_doc == id)
        return 0;
    int rc = tdx_store_get_hits(q->t, id, &q->hits, &q->nh, &q->caph, err);
    if (rc == TDX_ENOTFOUND) {
        q->nh = 0;
        tdx_err_clear(err);
        rc = 0;
    }
    if (rc == 0)
        q->hits_doc = id;
    return rc;
}

static int id_in(const uint32_t *ids, size_t n, uint32_t x)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == x)
            return 1;
    return 0;
}

/* Does hit h belong to leaf n (entity / category / pattern)? */
static int hit_of(tdx_qctx *q, const qnode *n, const tdx_store_hit *h)
{
    if (h->pattern >= q->sv.npatterns)
        return 0;
    const tdx_store_pattern *p = &q->sv.patterns[h->pattern];
    switch (n->kind) {
    case N_ENT:
        return id_in(n->ids, n->nids, p->entity);
    case N_CAT:
        return id_in(n->ids, n->nids, p->category);
    case N_PAT:
        return id_in(n->ids, n->nids, h->pattern);
    }
    return 0;
}

typedef struct occ {
    uint32_t s, e; /* normalized byte range */
} occ;

typedef struct occvec {
    occ *v;
    size_t n, cap;
} occvec;

static int occ_push(occvec *o, uint32_t s, uint32_t e)
{
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 16;
        occ *v = tdx_reallocarray(o->v, cap, sizeof *v);
        if (v == NULL)
            return TDX_ENOMEM;
        o->v = v;
        o->cap = cap;
    }
    o->v[o->n].s = s;
    o->v[o->n].e = e;
    o->n++;
    return 0;
}

/* Occurrences of a positional leaf in the normalized text of the current doc. */
static int leaf_occurrences(tdx_qctx *q, const qnode *n, uint32_t id, occvec *out, tdx_err *err)
{
    out->n = 0;
    int rc;
    if (n->kind == N_SUB) {
        rc = doc_norm(q, id, err);
        if (rc)
            return rc;
        const uint8_t *t = q->nout.text.p, *end = t + q->nout.text.len, *p = t;
        while (p < end) {
            const uint8_t *f = memmem(p, (size_t)(end - p), n->str, n->len);
            if (f == NULL)
                break;
            if (occ_push(out, (uint32_t)(f - t), (uint32_t)(f - t + n->len)))
                return tdx_err_set(err, TDX_ENOMEM, "out of memory");
            /* Next occurrence may overlap: advance one character. */
            p = f + 1;
            while (p < end && (*p & 0xC0) == 0x80)
                p++;
        }
        return 0;
    }
    if (n->kind == N_REGEX) {
        rc = doc_norm(q, id, err);
        if (rc)
            return rc;
        rc = tdx_match_scan(n->rm, n->rs, q->nout.text.p, q->nout.text.len, &q->rhits, err);
        for (size_t i = 0; rc == 0 && i < q->rhits.n; i++)
            if (occ_push(out, q->rhits.v[i].start, q->rhits.v[i].end))
                rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
        return rc;
    }
    rc = doc_hits(q, id, err);
    for (size_t i = 0; rc == 0 && i < q->nh; i++)
        if (hit_of(q, n, &q->hits[i]) && occ_push(out, q->hits[i].nstart, q->hits[i].nend))
            rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
    return rc;
}

/* Characters of normalized text between byte offsets a <= b. */
static size_t chars_between(tdx_qctx *q, uint32_t a, uint32_t b)
{
    size_t end = b < q->nout.text.len ? b : q->nout.text.len;
    return a < end ? utf8_chars((const char *)q->nout.text.p + a, end - a) : 0;
}

/*
 * NEAR of two substrings that positions prove (near_setup): each one's
 * starts in doc id, in characters, and its length give its occurrences
 * without reading the text (NEAR(采购, 公告, 10) on 1M notices: 566,805
 * documents, each a read and a normalization of its text before).
 */
static int near_by_positions(tdx_qctx *q, qnode *n, uint32_t id, int *out, tdx_err *err)
{
    qnode *a = n->kids[0], *b = n->kids[1];
    tdx_docset *sa = &q->near_a, *sb = &q->near_b;
    int in = 0;
    sa->n = sb->n = 0;
    *out = 0;
    int rc = positions_match(a, id, sa, &in, err);
    if (rc == 0 && in)
        rc = positions_match(b, id, sb, &in, err);
    q->near_positions += rc == 0;
    if (rc || !in)
        return rc;
    /* Occurrences x of a, y of b are near when neither starts more than
     * near_n characters after the other ends: for each x in turn, the
     * first y ending late enough (those before it end too early for every
     * later x too) is the only one to try. */
    uint64_t la = utf8_chars(a->str, a->len), lb = utf8_chars(b->str, b->len), d = n->near_n;
    size_t j = 0;
    for (size_t i = 0; i < sa->n; i++) {
        uint64_t xs = sa->v[i];
        while (j < sb->n && sb->v[j] + lb + d < xs)
            j++;
        if (j == sb->n)
            break;
        if (sb->v[j] <= xs + la + d) {
            *out = 1;
            break;
        }
    }
    return 0;
}

/* Is operand k of a NEAR a substring positions prove? */
static int near_positional(const qnode *k)
{
    return k->kind == N_SUB && k->qp != NULL;
}

/*
 * Cursors for a NEAR's operands that are one indexed term (a bigram, a
 * whole word), whose answer is their list and which have none: with them
 * and those of the substrings proved by positions, near_holds needs no
 * text.
 */
static int near_setup(tdx_qctx *q, qnode *n, tdx_err *err)
{
    for (size_t i = 0; i < 2; i++) {
        const qnode *k = n->kids[i];
        if (k->kind != N_SUB || (k->qp == NULL && !k->exact))
            return 0;
    }
    for (size_t i = 0; i < 2; i++) {
        qnode *k = n->kids[i];
        tdx_qterm t[2];
        size_t nt = 0;
        int exact = 0, posexact = 0;
        if (k->qp != NULL)
            continue;
        /* A word fragment's positions are its words' starts, not its own
         * (NEAR(件商同, 2ace, 4) met "2ace" inside a word 28 characters
         * away): its occurrences come from the text. */
        if (tdx_query_terms((const uint8_t *)k->str, k->len, t, 2, &nt, &exact, &posexact) ||
            nt != 1 || !exact || !tdx_term_positional(t[0].term[0]) ||
            (t[0].term[0] == TDX_TERM_WORD && t[0].part != TDX_PART_EXACT))
            return 0;
        int rc = setup_positions(q, k, t, nt, err);
        if (rc)
            return rc;
    }
    return 0;
}

static int near_holds(tdx_qctx *q, qnode *n, uint32_t id, int *out, tdx_err *err)
{
    if (near_positional(n->kids[0]) && near_positional(n->kids[1]))
        return near_by_positions(q, n, id, out, err);
    occvec a = {0}, b = {0};
    int rc = leaf_occurrences(q, n->kids[0], id, &a, err);
    rc = rc ? rc : leaf_occurrences(q, n->kids[1], id, &b, err);
    if (rc == 0 && (a.n && b.n))
        rc = doc_norm(q, id, err); /* distances are counted in the normalized text */
    *out = 0;
    for (size_t i = 0; rc == 0 && i < a.n && !*out; i++)
        for (size_t j = 0; j < b.n && !*out; j++) {
            const occ *x = &a.v[i], *y = &b.v[j];
            if (x->s > y->s) {
                const occ *t = x;
                x = y;
                y = t;
            }
            size_t gap = y->s <= x->e ? 0 : chars_between(q, x->e, y->s);
            *out = gap <= n->near_n;
        }
    tdx_free(a.v);
    tdx_free(b.v);
    return rc;
}

/* Does doc id's normalized text hold substring n? */
static int text_holds(tdx_qctx *q, const qnode *n, uint32_t id, int *out, tdx_err *err)
{
    int rc = doc_norm(q, id, err);
    *out = rc == 0 && memmem(q->nout.text.p, q->nout.text.len, n->str, n->len) != NULL;
    return rc;
}

static int eval_doc(tdx_qctx *q, qnode *n, uint32_t id, int *out, tdx_err *err)
{
    if (n->exact) {
        *out = tdx_docset_has_from(&n->S, &n->s_at, id);
        return 0;
    }
    if (!tdx_docset_has_from(&n->P, &n->p_at, id)) {
        *out = 0;
        return 0;
    }
    if (tdx_docset_has_from(&n->S, &n->s_at, id)) {
        *out = 1;
        return 0;
    }
    int rc = 0;
    switch (n->kind) {
    case N_SUB:
        return n->qp ? positions_hold(n, id, out, err) : text_holds(q, n, id, out, err);
    case N_REGEX: {
        occvec o = {0};
        rc = leaf_occurrences(q, n, id, &o, err);
        *out = o.n > 0;
        tdx_free(o.v);
        return rc;
    }
    case N_NEAR:
        return near_holds(q, n, id, out, err);
    case N_AND:
        for (size_t i = 0; i < n->nkids; i++) {
            rc = eval_doc(q, n->kids[i], id, out, err);
            if (rc || !*out)
                return rc;
        }
        return 0;
    case N_OR:
        for (size_t i = 0; i < n->nkids; i++) {
            rc = eval_doc(q, n->kids[i], id, out, err);
            if (rc || *out)
                return rc;
        }
        return 0;
    case N_NOT:
        rc = eval_doc(q, n->kids[0], id, out, err);
        *out = !*out;
        return rc;
    }
    *out = 0;
    return 0;
}

/* Cursors for walking a substring: 0 with n->qp set, 1 when the query
 * needs the set path (dictionary walks for word fragments, terms without
 * positions, text verification). */
static int walk_setup(tdx_qctx *q, qnode *n, int *out_exact, tdx_err *err)
{
    tdx_qterm terms[QTERMS_MAX];
    size_t nt = 0;
    int exact = 0, posexact = 0;
    if (tdx_query_terms((const uint8_t *)n->str, n->len, terms, QTERMS_MAX, &nt, &exact,
                        &posexact) ||
        nt == 0)
        return 1;
    for (size_t i = 0; i < nt; i++)
        if (terms[i].term[0] == TDX_TERM_WORD && terms[i].part != TDX_PART_EXACT)
            return 2;
    if (!(exact || posexact))
        return 1;
    for (size_t i = 0; i < nt; i++)
        if (!tdx_term_positional(terms[i].term[0]))
            return 1;
    int rc = setup_positions(q, n, terms, nt, err);
    if (rc || n->qp == NULL)
        return rc ? rc : 1;
    /* The bigrams positions skip still narrow the walk: in 工程学院项目,
     * 程学 and 院项 are far rarer than 工程, 学院 and 项目. */
    tdx_qterm cover[QTERMS_MAX], rest[QTERMS_MAX];
    size_t nrest = 0;
    cover_terms(terms, nt, cover, rest, &nrest);
    if (nrest) {
        n->xcur = tdx_calloc(nrest, sizeof *n->xcur);
        if (n->xcur == NULL)
            return tdx_err_set(err, TDX_ENOMEM, "out of memory");
        for (size_t i = 0; rc == 0 && i < nrest; i++) {
            /* A filter the query repeats narrows nothing the first did not. */
            if (qterm_first(rest, i, &rest[i]) < i)
                continue;
            rc = tdx_store_poscur_open(q->t, rest[i].term, rest[i].len, &n->xcur[n->nxcur], err);
            n->nxcur += rc == 0;
        }
    }
    *out_exact = exact;
    return rc;
}

/* One input of a walk: a term's cursor, or a node's candidate set. */
typedef struct walk_src {
    tdx_poscur *pc;
    const tdx_docset *set;
    size_t at;
    int filter;     /* a bigram positions skip: it only narrows the walk */
    double density; /* estimated share of the docs it holds */
    uint64_t asked, moved; /* times asked; times it moved the walk on */
} walk_src;

static int cmp_density(const void *a, const void *b)
{
    const walk_src *x = a, *y = b;
    return x->density < y->density ? -1 : x->density > y->density;
}

/* Filters that do not narrow the walk leave it by the store's rule
 * (TDX_WALK_FILTER_CHECK, tdx_walk_filter_narrows); one found in more
 * than this share of the docs leaves at once. */
#define FILTER_DENSE 0.5

/* Make group g of operand k, and its own groups that share g's cursor,
 * ask an earlier walked operand's cursor for the same term, if there is
 * one, and close g's. */
static void share_cursor(qnode **kids, const int *walked, size_t k, qpos *g)
{
    if (g->shared || g->n != 1 || g->shift[0] != 0)
        return;
    size_t len;
    tdx_poscur *own = g->cur[0];
    const uint8_t *term = tdx_store_poscur_term(own, &len);
    for (size_t e = 0; e < k; e++)
        for (size_t j = 0; walked[e] > 0 && j < kids[e]->nqp; j++) {
            const qpos *o = &kids[e]->qp[j];
            size_t olen;
            if (o->shared || o->n != 1 || o->shift[0] != 0)
                continue;
            const uint8_t *oterm = tdx_store_poscur_term(o->cur[0], &olen);
            if (olen != len || memcmp(oterm, term, len) != 0)
                continue;
            for (size_t i = 0; i < kids[k]->nqp; i++)
                if (kids[k]->qp[i].n == 1 && kids[k]->qp[i].cur[0] == own) {
                    kids[k]->qp[i].cur[0] = o->cur[0];
                    kids[k]->qp[i].shared = 1;
                }
            tdx_store_poscur_close(own);
            return;
        }
}

/* A walk checks a fragment operand in the text of the docs it finds
 * (each a read and a normalization, 10-15 us; reading every word that
 * holds a digit fragment takes 5-15 ms on 1M notices) when its rarest term
 * is in at most TEXT_CHECK_DOCS docs, and reads the fragment's words after
 * all if it has checked four times that many. */
#define TEXT_CHECK_DOCS 256

static int fragment_plan(tdx_qctx *q, const qnode *n, tri_plan *pl, tdx_err *err);

/* Text checks a walk may expect before a fragment beside it is read as a
 * set at once: the docs the walk may find (its rarest cursor's estimate)
 * times the share of docs in the fragment's rarest trigram list.  The
 * estimate runs high (a phrase is rarer than its rarest bigram), so it
 * lets through up to 8 times what the walk will check; on the 72 bench
 * ANDs with a Latin or digit fragment, without it the lists read and the
 * checks made before giving up cost 7% more than no trigram path. */
#define TEXT_CHECK_EST (TEXT_CHECK_DOCS * 8)

/*
 * A fragment operand of a walk ("2020" AND "阳市气象") through its trigram
 * lists instead of every word holding it (7-10 ms for "2020" on 445,711
 * notices): 0 with *cand the docs that may hold it, which the walk checks
 * in their text when it reaches them; 2 when the one list is its exact
 * answer (n is then evaluated); 1 when the lists cannot serve (no trigram
 * plan, a list too long to read, or more checks to expect than
 * TEXT_CHECK_EST when the walk finds `found` docs).  The walk takes the
 * words after all when its text checks are bound to cost more
 * (text_pace_lost).
 */
static int frag_walk_set(tdx_qctx *q, qnode *n, double found, tdx_docset *cand, tdx_err *err)
{
    tri_plan pl;
    int rc = fragment_plan(q, n, &pl, err);
    if (rc)
        return rc;
    if (pl.count[0] > TRI_READ_DOCS ||
        found * (double)pl.count[0] > TEXT_CHECK_EST * (double)q->info.next_doc)
        return 1;
    tdx_docset cut = {0};
    rc = tri_read(q, &pl, UINT32_MAX, cand, err);
    rc = rc ? rc : trigram_cut(q, &cut, err);
    if (rc == 0 && pl.exact && cut.n == 0) {
        tdx_docset was = n->P;
        n->P = *cand;
        *cand = was;
        if (drop_deleted(q, &n->P) || set_exact(n))
            rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
        n->evaluated = rc == 0;
        rc = rc ? rc : 2;
    } else if (rc == 0 && union_into(cand, &cut)) {
        rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
    }
    q->trigram_frags += rc == 0 || rc == 2;
    tdx_docset_free(&cut);
    return rc;
}

/* Checks at least made before the pace of a walk's text checks is judged,
 * and the most it may be bound to make: at 8-10 us a check, about what
 * reading a rare fragment's words costs (3-4 ms).  On 445,711 notices,
 * "6348" AND "况视频监" made 898 checks (8.7 ms) where the words took
 * 3.7 ms. */
#define TEXT_PACE_MIN (TEXT_CHECK_DOCS / 4)
#define TEXT_PACE_MAX (TEXT_CHECK_DOCS * 3 / 2)

/*
 * Has a walk that checked `checked` docs in their text by doc id `doc`,
 * with `found` answers of the `limit` wanted (0: all), made
 * TEXT_CHECK_DOCS * 4 checks, or is it bound to pass TEXT_PACE_MAX at its
 * pace so far?
 */
static int text_pace_lost(uint64_t checked, uint32_t doc, uint64_t ndocs, size_t found,
                          size_t limit)
{
    if (checked >= TEXT_CHECK_DOCS * 4)
        return 1;
    if (checked < TEXT_PACE_MIN || doc == 0)
        return 0;
    double to_end = (double)checked * (double)ndocs / (double)doc;
    double to_limit =
        limit ? (double)checked * (double)limit / (double)(found ? found : 1) : to_end;
    return (to_end < to_limit ? to_end : to_limit) > TEXT_PACE_MAX;
}

/*
 * A conjunction of phrases proved by positions (or exact from their terms
 * alone), each term one cursor (no fragment, no set), wanted whole: the
 * store walks it in one loop (tdx_store_phrase_walk), without the general
 * walk's calls per cursor and doc.  Counting 取售价 (133,642 of 445,711
 * notices): 6.8 -> 4.1 ms.  Like the general walk, it lets go of filters
 * that do not narrow it.  First results stay with the general walk (first
 * 20 of the bench's substrings: p99 0.31-0.37 -> 0.52 ms through this
 * loop).
 */
static int phrase_walkable(qnode **kids, const int *walked, size_t nk, const walk_src *src,
                           size_t nsrc)
{
    for (size_t j = 0; j < nsrc; j++)
        if (src[j].set || src[j].pc == NULL)
            return 0;
    for (size_t k = 0; k < nk; k++) {
        if (walked[k] != 1 && walked[k] != 2)
            return 0;
        if (kids[k]->nqp == 0 || kids[k]->nqp > TDX_PHRASE_TERMS_MAX)
            return 0;
        for (size_t i = 0; walked[k] == 1 && i < kids[k]->nqp; i++)
            if (kids[k]->qp[i].n != 1 || kids[k]->qp[i].shift[0] != 0)
                return 0;
    }
    return 1;
}

static int phrase_walk(tdx_qctx *q, qnode **kids, const int *walked, size_t nk, const walk_src *src,
                       size_t nsrc, tdx_docset *out, tdx_qstats *st, tdx_err *err)
{
    tdx_poscur *c[TDX_WALK_CURSORS_MAX];
    unsigned char filter[TDX_WALK_CURSORS_MAX];
    if (nsrc > TDX_WALK_CURSORS_MAX)
        return tdx_err_set(err, TDX_ELIMIT, "too many terms");
    for (size_t j = 0; j < nsrc; j++) {
        c[j] = src[j].pc;
        filter[j] = (unsigned char)src[j].filter;
    }
    size_t nterms = 0;
    for (size_t k = 0; k < nk; k++)
        nterms += walked[k] == 1 ? kids[k]->nqp : 0;
    tdx_phrase *ph = tdx_calloc(nk, sizeof *ph);
    tdx_poscur **pc = tdx_calloc(nterms ? nterms : 1, sizeof *pc);
    uint32_t *off = tdx_calloc(nterms ? nterms : 1, sizeof *off);
    int rc = 0;
    if (ph == NULL || pc == NULL || off == NULL) {
        rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
        goto done;
    }
    size_t nph = 0, t = 0;
    for (size_t k = 0; k < nk; k++) {
        if (walked[k] != 1)
            continue;
        ph[nph] = (tdx_phrase){.pc = pc + t, .off = off + t, .k = kids[k]->nqp};
        for (size_t i = 0; i < kids[k]->nqp; i++, t++) {
            pc[t] = kids[k]->qp[i].cur[0];
            off[t] = kids[k]->qp[i].off;
        }
        nph++;
    }
    tdx_walk_stats ws = {0, 0};
    rc = tdx_store_phrase_walk(c, filter, nsrc, ph, nph, &q->deleted, 0, out, &ws, err);
    st->candidates += ws.checks;
    st->verified += ws.checks;
    st->filters_dropped += (int)ws.filters_dropped;
done:
    tdx_free(ph);
    tdx_free(pc);
    tdx_free(off);
    return rc;
}

/*
 * Docs of a conjunction (a bare substring, or an AND) found by walking:
 * the cursors of the substrings' terms and the sets of the other operands
 * leapfrog (each is asked for its first doc at or after the highest any
 * other has reached), and a doc all of them reach is proved by positions
 * and by the other operands.  The rarest are asked first and the common
 * ones only at docs every rarer one holds, so a common term's cursor skips
 * most of its blocks unread.  Each postings block is read at most once,
 * positions only for docs every term holds, and with a limit the work
 * stops with the answer.  Returns 1 (nothing written) when no operand can
 * be walked.
 */
static int walk_conj(tdx_qctx *q, qnode **kids, size_t nk, size_t limit, tdx_docset *out,
                     tdx_qstats *st, tdx_err *err)
{
    if (!q->info.grams)
        return 1;
    /* walked[k]: 0 a set, 1 proved by positions, 2 exact from its terms
     * alone, 3 a fragment checked in the text of each doc the walk finds */
    int *walked = tdx_calloc(nk, sizeof *walked);
    if (walked == NULL)
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    size_t nsrc = 0, nwalked = 0;
    tdx_docset *cands = NULL; /* fragments' trigram candidates, by operand */
    int rc = 0;
    for (size_t k = 0; rc == 0 && k < nk; k++) {
        qnode *n = kids[k];
        int exact = 0;
        if (n->kind != N_SUB || n->evaluated)
            continue;
        rc = walk_setup(q, n, &exact, err);
        if (rc == 0) {
            walked[k] = exact ? 2 : 1;
            nwalked++;
            nsrc += n->nqp + n->nxcur;
        } else if (rc > 0) {
            walked[k] = rc == 2 ? -1 : 0; /* -1: a fragment, maybe checked in the text */
            rc = 0;
        }
    }
    /* A term two operands share ("政府采购" AND "府采购") is read once: the
     * later group asks the earlier one's cursor, as groups of one operand do. */
    for (size_t k = 1; rc == 0 && k < nk; k++)
        for (size_t j = 0; walked[k] > 0 && j < kids[k]->nqp; j++)
            share_cursor(kids, walked, k, &kids[k]->qp[j]);
    walk_src *src = NULL;
    if (rc == 0 && nwalked) {
        src = tdx_calloc(nsrc + nk, sizeof *src);
        if (src == NULL)
            rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
    }
    if (rc || nwalked == 0)
        goto done;
    nsrc = 0;
    for (size_t k = 0; k < nk; k++)
        for (size_t j = 0; walked[k] > 0 && j < kids[k]->nqp + kids[k]->nxcur; j++) {
            if (j < kids[k]->nqp && kids[k]->qp[j].shared)
                continue; /* its cursor is walked once, by its first group */
            src[nsrc].filter = j >= kids[k]->nqp;
            src[nsrc++].pc = j < kids[k]->nqp ? kids[k]->qp[j].cur[0]
                                              : kids[k]->xcur[j - kids[k]->nqp];
        }
    st->streamed = 1;
    /* Each cursor's first doc, and from its first block an estimate of how
     * common it is: the walk asks the rarest first, since they move it
     * furthest, and the common ones only at docs all rarer ones hold.  A
     * filter in most docs narrows nothing worth a lookup: it leaves. */
    uint64_t ndocs = q->info.next_doc;
    size_t kept = 0;
    double rarest = 1.0;
    for (size_t j = 0; j < nsrc; j++) {
        walk_src w = src[j];
        uint32_t d;
        int got = tdx_store_poscur_next(w.pc, 1, &d, err);
        if (got < 0) {
            rc = got;
            goto done;
        }
        w.density = tdx_store_poscur_density(w.pc, ndocs);
        if (w.filter && w.density > FILTER_DENSE) {
            st->filters_dropped++;
            continue;
        }
        if (w.density < rarest)
            rarest = w.density;
        src[kept++] = w;
    }
    nsrc = kept;
    /* The other operands as sets - but a Latin or digit fragment stands for
     * every word holding it (reading them all takes milliseconds), so when
     * the walk will find few docs it is checked in their text instead. */
    for (size_t k = 0; k < nk; k++) {
        if (walked[k] > 0)
            continue;
        if (walked[k] < 0 && rarest * (double)ndocs <= TEXT_CHECK_DOCS) {
            walked[k] = 3;
            continue;
        }
        /* Its trigrams' candidates narrow the walk, and the docs found
         * are checked in the text. */
        if (walked[k] < 0) {
            if (cands == NULL && (cands = tdx_calloc(nk, sizeof *cands)) == NULL) {
                rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
                goto done;
            }
            rc = frag_walk_set(q, kids[k], rarest * (double)ndocs, &cands[k], err);
            if (rc < 0)
                goto done;
            if (rc == 0) {
                walked[k] = 3;
                src[nsrc].set = &cands[k];
                src[nsrc++].density = ndocs ? (double)cands[k].n / (double)ndocs : 1.0;
                continue;
            }
            rc = 0;
        }
        walked[k] = 0;
        if ((rc = eval_node(q, kids[k], err)) != 0)
            goto done;
        src[nsrc].set = &kids[k]->P;
        src[nsrc++].density = ndocs ? (double)kids[k]->P.n / (double)ndocs : 1.0;
    }
    qsort(src, nsrc, sizeof *src, cmp_density);
    if (limit == 0 && phrase_walkable(kids, walked, nk, src, nsrc)) {
        rc = phrase_walk(q, kids, walked, nk, src, nsrc, out, st, err);
        goto done;
    }
    uint32_t doc = 1;
    size_t i = 0, agree = 0, mover = SIZE_MAX, del_at = 0, nagreed = 0;
    while (!limit || out->n < limit) {
        uint32_t d;
        if (src[i].set) {
            const tdx_docset *set = src[i].set;
            if (!tdx_docset_has_from(set, &src[i].at, doc) && src[i].at == set->n)
                break;
            d = set->v[src[i].at];
        } else {
            int got = tdx_store_poscur_next(src[i].pc, doc, &d, err);
            if (got <= 0) {
                rc = got;
                break;
            }
        }
        src[i].asked++;
        if (d != doc) {
            /* Past doc: the rarer sources are asked again, from d. */
            doc = d;
            agree = 0;
            mover = i;
            src[i].moved++;
        }
        agree++;
        if (agree == nsrc) {
            int in = !tdx_docset_has_from(&q->deleted, &del_at, doc);
            for (size_t k = 0; rc == 0 && in && k < nk; k++) {
                if (walked[k] >= 2)
                    continue;
                st->candidates++;
                st->verified++;
                rc = walked[k] ? positions_hold(kids[k], doc, &in, err)
                               : eval_doc(q, kids[k], doc, &in, err);
            }
            /* Fragments last, in the text: the dearest check. */
            int texted = 0;
            for (size_t k = 0; rc == 0 && in && k < nk; k++)
                if (walked[k] == 3) {
                    texted = 1;
                    rc = text_holds(q, kids[k], doc, &in, err);
                }
            st->text_checked += (uint64_t)texted;
            /* Far more docs than the estimate, or bound to be at this
             * pace: the fragments' sets are cheaper now. */
            if (rc == 0 && texted && text_pace_lost(st->text_checked, doc, ndocs, out->n, limit)) {
                st->text_gave_up = 1;
                for (size_t k = 0; rc == 0 && k < nk; k++)
                    if (walked[k] == 3) {
                        rc = eval_node(q, kids[k], err);
                        walked[k] = 0;
                        /* Its answer narrows the walk instead of its candidates. */
                        for (size_t j = 0; rc == 0 && cands && j < nsrc; j++)
                            if (src[j].set == &cands[k]) {
                                src[j].set = &kids[k]->P;
                                src[j].at = 0;
                            }
                    }
            }
            if (rc)
                break;
            if (in && tdx_docset_push(out, doc)) {
                rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
                break;
            }
            if (doc == UINT32_MAX)
                break;
            doc++;
            agree = 0;
            mover = SIZE_MAX;
            i = 0;
            /* A filter that almost never moves the walk (a bigram as common
             * as the ones proving positions) only costs a lookup per doc:
             * it leaves the walk.  Filters do not take part in the proof. */
            if (++nagreed % TDX_WALK_FILTER_CHECK == 0) {
                kept = 0;
                for (size_t j = 0; j < nsrc; j++)
                    if (!src[j].filter || tdx_walk_filter_narrows(src[j].moved, src[j].asked)) {
                        src[kept] = src[j];
                        src[kept].asked = src[kept].moved = 0;
                        kept++;
                    }
                st->filters_dropped += (int)(nsrc - kept);
                nsrc = kept;
            }
            continue;
        }
        /* The next source: after a move the first (the rarest), then on
         * past the one that moved the walk, which is at doc already. */
        size_t nx = i == mover && i != 0 ? 0 : i + 1;
        if (nx == mover)
            nx++;
        i = nx < nsrc ? nx : 0;
    }
done:
    /* The cursors were for this walk; a later full evaluation makes its own. */
    for (size_t k = 0; k < nk; k++)
        if (walked[k] || kids[k]->xcur)
            cursors_free(kids[k]);
    for (size_t k = 0; cands && k < nk; k++)
        tdx_docset_free(&cands[k]);
    tdx_free(cands);
    tdx_free(src);
    tdx_free(walked);
    if (rc == 0 && nwalked == 0)
        return 1;
    return rc;
}

/* Documents scan_first reads before it leaves the query to the sets. */
#define SCAN_FIRST_DOCS 256

/*
 * The trigram plan of substring n when it is one word fragment of 3 bytes
 * or more ("0755", "xiangli"): 0 with *pl set, 1 when it is not one (or
 * the index has no trigrams).
 */
static int fragment_plan(tdx_qctx *q, const qnode *n, tri_plan *pl, tdx_err *err)
{
    tdx_qterm t[2];
    size_t nt = 0;
    int exact = 0, posexact = 0;
    if (!q->info.trigrams ||
        tdx_query_terms((const uint8_t *)n->str, n->len, t, 2, &nt, &exact, &posexact) || nt != 1 ||
        t[0].term[0] != TDX_TERM_WORD || t[0].part == TDX_PART_EXACT || t[0].len < 4)
        return 1;
    return tri_plan_make(q, t[0].term + 1, (size_t)t[0].len - 1, t[0].part, pl, err);
}

/* Check substring n in doc id's text for a scan: a hit joins out. */
static int scan_check(tdx_qctx *q, qnode *n, uint32_t id, tdx_docset *out, tdx_qstats *st,
                      tdx_err *err)
{
    int in, rc = text_holds(q, n, id, &in, err);
    if (rc)
        return rc;
    st->verified++;
    if (in && tdx_docset_push(out, id))
        return tdx_err_set(err, TDX_ENOMEM, "out of memory");
    return 0;
}

/*
 * The first `limit` docs of a substring the walk cannot take (a Latin or
 * digit fragment such as "20" stands for every word holding it, perhaps
 * hundreds of thousands), read from the first documents' text: a fragment
 * that common shows up in a few of them.  Docs are read in id order, so
 * the first `limit` found are the answer's first.  Returns 1 (nothing
 * written) when SCAN_FIRST_DOCS documents did not hold enough.
 */
static int scan_first_docs(tdx_qctx *q, qnode *n, size_t limit, tdx_docset *out, tdx_qstats *st,
                           tdx_err *err)
{
    size_t read = 0, del_at = 0;
    uint32_t id = 1;
    for (; id < q->info.next_doc && read < SCAN_FIRST_DOCS && out->n < limit; id++) {
        /* A quarter of the way, fewer than half the hits that pace needs:
         * the fragment is too rare for this, leave it to the sets. */
        if (read == SCAN_FIRST_DOCS / 4 && out->n * 8 < limit)
            return 1;
        if (tdx_docset_has_from(&q->deleted, &del_at, id))
            continue;
        int rc = scan_check(q, n, id, out, st, err);
        if (rc)
            return rc;
        read++;
    }
    if (out->n < limit && id < q->info.next_doc)
        return 1;
    st->scanned = 1;
    return 0;
}

/* The first window of a fragment's trigram lists a limited query reads
 * (in docs, at least): then 8 times as far each time until it is done. */
#define TRI_WINDOW_MIN 1024

/*
 * The first `limit` docs of a lone word fragment from its trigram lists,
 * read up to a growing doc id: where `limit` answers would be found, four
 * times over, if it were as common as its rarest trigram.  The candidates
 * of each window are checked in their text (none to check when the one
 * list is the answer).  Returns 1 when SCAN_FIRST_DOCS checks did not find
 * them.
 */
static int scan_trigrams(tdx_qctx *q, qnode *n, const tri_plan *pl, size_t limit, tdx_docset *out,
                         tdx_qstats *st, tdx_err *err)
{
    uint64_t ndocs = q->info.next_doc;
    uint64_t hi = pl->count[0] ? ndocs * 4 * limit / pl->count[0] : ndocs;
    if (hi < TRI_WINDOW_MIN)
        hi = TRI_WINDOW_MIN;
    uint32_t lo = 0; /* docs up to lo are done */
    size_t read = 0, del_at = 0, cut_at = 0;
    tdx_docset cand = {0}, cut = {0};
    /* Documents whose trigrams were cut short are candidates everywhere. */
    int rc = trigram_cut(q, &cut, err);
    while (rc == 0) {
        uint32_t upto = hi >= ndocs ? UINT32_MAX : (uint32_t)hi;
        rc = tri_read(q, pl, upto, &cand, err);
        /* The window's share of them: a prefix of the list, read in place. */
        tdx_docset win = {
            cut.v, upto == UINT32_MAX ? cut.n : tdx_u32_gallop(cut.v, cut.n, 0, upto + 1), 0};
        if (rc == 0 && win.n && union_into(&cand, &win))
            rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
        for (size_t i = 0; rc == 0 && i < cand.n && out->n < limit; i++) {
            uint32_t id = cand.v[i];
            if (id <= lo || tdx_docset_has_from(&q->deleted, &del_at, id))
                continue;
            if (pl->exact && !tdx_docset_has_from(&cut, &cut_at, id)) {
                if (tdx_docset_push(out, id))
                    rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
            } else if (read++ == SCAN_FIRST_DOCS) {
                rc = 1;
            } else {
                rc = scan_check(q, n, id, out, st, err);
            }
        }
        if (out->n >= limit || upto == UINT32_MAX)
            break;
        lo = upto;
        hi *= 8;
    }
    tdx_docset_free(&cand);
    tdx_docset_free(&cut);
    if (rc == 0) {
        st->scanned = 1;
        q->trigram_frags++;
    }
    return rc;
}

/*
 * The first `limit` docs of a substring the walk cannot take: from its
 * trigram lists when it is a lone word fragment of 3 bytes or more and the
 * index has them, else from the first documents.  Returns 1 (nothing
 * written) when that did not find them: the sets then answer.
 */
static int scan_first(tdx_qctx *q, qnode *n, size_t limit, tdx_docset *out, tdx_qstats *st,
                      tdx_err *err)
{
    if (limit > SCAN_FIRST_DOCS / 4)
        return 1;
    tri_plan pl;
    int rc = fragment_plan(q, n, &pl, err);
    if (rc == 0)
        return scan_trigrams(q, n, &pl, limit, out, st, err);
    return rc < 0 ? rc : scan_first_docs(q, n, limit, out, st, err);
}

static int query_run(tdx_qctx *q, tdx_query *query, size_t limit, tdx_docset *out, tdx_qstats *st,
                     tdx_err *err);

/* Is substring n's answer the list of one term (a bigram, a whole word)? */
static int sub_one_list(const qnode *n)
{
    tdx_qterm t[2];
    size_t nt = 0;
    int exact = 0, posexact = 0;
    return tdx_query_terms((const uint8_t *)n->str, n->len, t, 2, &nt, &exact, &posexact) == 0 &&
           nt == 1 && exact;
}

int tdx_query_run(tdx_qctx *q, tdx_query *query, size_t limit, tdx_docset *out,
                  tdx_qstats *st, tdx_err *err)
{
    tdx_qstats local;
    if (st == NULL)
        st = &local;
    memset(st, 0, sizeof *st);
    out->n = 0;
    q->trigram_frags = q->near_positions = 0;
    node_reset(query->root);
    int rc = query_run(q, query, limit, out, st, err);
    st->trigram_frags = q->trigram_frags;
    st->near_positions = q->near_positions;
    return rc;
}

static int query_run(tdx_qctx *q, tdx_query *query, size_t limit, tdx_docset *out, tdx_qstats *st,
                     tdx_err *err)
{
    qnode *root = query->root;
    /* A substring that is one list, wanted whole, is read as a list: a
     * walk would ask its cursor doc by doc (信息 in 360k of 445,711 notices:
     * 5.8 ms walked, 0.8 ms read). */
    if (!root->evaluated &&
        (root->kind == N_AND || (root->kind == N_SUB && (limit || !sub_one_list(root))))) {
        int rc = root->kind == N_SUB ? walk_conj(q, &root, 1, limit, out, st, err)
                                     : walk_conj(q, root->kids, root->nkids, limit, out, st, err);
        if (rc <= 0)
            return rc;
        out->n = 0;
    }
    if (limit && root->kind == N_SUB && !root->evaluated) {
        int rc = scan_first(q, root, limit, out, st, err);
        if (rc <= 0)
            return rc;
        out->n = 0;
    }
    int rc = eval_node(q, root, err);
    if (rc)
        return rc;
    st->sure = root->S.n;
    if (root->exact) {
        size_t n = limit && limit < root->S.n ? limit : root->S.n;
        if (tdx_docset_reserve(out, n))
            return tdx_err_set(err, TDX_ENOMEM, "out of memory");
        if (n) /* both may be NULL then */
            memcpy(out->v, root->S.v, n * sizeof *out->v);
        out->n = n;
        return 0;
    }
    /* Walk P in doc order: S members are in, the rest are verified. */
    size_t j = 0;
    for (size_t i = 0; i < root->P.n; i++) {
        uint32_t id = root->P.v[i];
        while (j < root->S.n && root->S.v[j] < id)
            j++;
        int in = j < root->S.n && root->S.v[j] == id;
        if (!in) {
            st->candidates++;
            st->verified++;
            rc = eval_doc(q, root, id, &in, err);
            if (rc)
                return rc;
        }
        if (in && tdx_docset_push(out, id))
            return tdx_err_set(err, TDX_ENOMEM, "out of memory");
        if (limit && out->n >= limit)
            break;
    }
    return 0;
}

static int leaves_walk(tdx_qctx *q, qnode *n, tdx_leaf_fn fn, void *ctx, tdx_err *err)
{
    if (n->nkids && n->kind != N_NEAR) {
        for (size_t i = 0; i < n->nkids; i++) {
            int rc = leaves_walk(q, n->kids[i], fn, ctx, err);
            if (rc)
                return rc;
        }
        return 0;
    }
    int rc = eval_node(q, n, err);
    if (rc)
        return rc;
    uint64_t count = n->S.n;
    if (!n->exact) {
        /* Verify the candidates of this leaf alone. */
        count = 0;
        for (size_t i = 0; i < n->P.n; i++) {
            int in = 0;
            rc = eval_doc(q, n, n->P.v[i], &in, err);
            if (rc)
                return rc;
            count += in;
        }
    }
    fn(ctx, n->display ? n->display : "?", count, n->exact);
    return 0;
}

int tdx_query_leaves(tdx_qctx *q, tdx_query *query, tdx_leaf_fn fn, void *ctx, tdx_err *err)
{
    node_reset(query->root);
    return leaves_walk(q, query->root, fn, ctx, err);
}

/* The prefilter tree n as text: leaves as they are, | between an OR's
 * kids, + between an AND's, nested ones in parentheses. */
static int pre_text(const qnode *n, tdx_buf *b, int nested)
{
    if (n->kind == N_SUB)
        return tdx_buf_append(b, n->str, n->len);
    int rc = nested ? tdx_buf_putc(b, '(') : 0;
    for (size_t i = 0; rc == 0 && i < n->nkids; i++) {
        if (i)
            rc = tdx_buf_puts(b, n->kind == N_OR ? " | " : " + ");
        rc = rc ? rc : pre_text(n->kids[i], b, 1);
    }
    return rc ? rc : nested ? tdx_buf_putc(b, ')') : 0;
}

static int regexes_walk(const qnode *n, tdx_regex_fn fn, void *ctx)
{
    for (size_t i = 0; i < n->nkids; i++) {
        int rc = regexes_walk(n->kids[i], fn, ctx);
        if (rc)
            return rc;
    }
    if (n->kind != N_REGEX)
        return 0;
    tdx_buf b = TDX_BUF_INIT;
    if (n->pre && (pre_text(n->pre, &b, 0) || tdx_buf_putc(&b, 0))) {
        tdx_buf_free(&b);
        return TDX_ENOMEM;
    }
    fn(ctx, n->display ? n->display : "?", n->pre ? (const char *)b.p : NULL);
    tdx_buf_free(&b);
    return 0;
}

int tdx_query_regexes(const tdx_query *query, tdx_regex_fn fn, void *ctx)
{
    return regexes_walk(query->root, fn, ctx);
}

/* ---- highlights ---- */

static int cmp_span(const void *a, const void *b)
{
    const tdx_span32 *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int collect_spans(tdx_qctx *q, const qnode *n, int negated, uint32_t id, tdx_span32 **spans,
                         size_t *ns, size_t *cap, tdx_err *err)
{
    if (n->kind == N_NOT)
        return collect_spans(q, n->kids[0], !negated, id, spans, ns, cap, err);
    if (n->kind == N_AND || n->kind == N_OR || n->kind == N_NEAR) {
        for (size_t i = 0; i < n->nkids; i++) {
            int rc = collect_spans(q, n->kids[i], negated, id, spans, ns, cap, err);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (negated || n->kind == N_DATE || n->kind == N_FIELD)
        return 0;
    occvec o = {0};
    int rc = leaf_occurrences(q, n, id, &o, err);
    if (rc == 0 && o.n)
        rc = doc_norm(q, id, err);
    for (size_t i = 0; rc == 0 && i < o.n; i++) {
        if (*ns == *cap) {
            size_t c = *cap ? *cap * 2 : 16;
            tdx_span32 *v = tdx_reallocarray(*spans, c, sizeof *v);
            if (v == NULL) {
                rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
                break;
            }
            *spans = v;
            *cap = c;
        }
        (*spans)[*ns].start = (uint32_t)tdx_norm_map_start(&q->nout, o.v[i].s);
        (*spans)[*ns].end = (uint32_t)tdx_norm_map_end(&q->nout, o.v[i].e);
        (*ns)++;
    }
    tdx_free(o.v);
    return rc;
}

int tdx_query_highlights(tdx_qctx *q, tdx_query *query, uint32_t id, tdx_span32 **spans,
                         size_t *n, size_t *cap, tdx_err *err)
{
    *n = 0;
    int rc = collect_spans(q, query->root, 0, id, spans, n, cap, err);
    if (rc || *n == 0)
        return rc;
    qsort(*spans, *n, sizeof **spans, cmp_span);
    size_t w = 0;
    for (size_t i = 0; i < *n; i++) {
        if (w && (*spans)[i].start <= (*spans)[w - 1].end) {
            if ((*spans)[i].end > (*spans)[w - 1].end)
                (*spans)[w - 1].end = (*spans)[i].end;
        } else {
            (*spans)[w++] = (*spans)[i];
        }
    }
    *n = w;
    return 0;
}

/* ---- facets ---- */

void tdx_facets_free(tdx_facet *f, size_t n)
{
    for (size_t i = 0; f && i < n; i++)
        tdx_free(f[i].value);
    tdx_free(f);
}

static int cmp_facet(const void *a, const void *b)
{
    const tdx_facet *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->value, y->value);
}

static int cmp_facet_value(const void *a, const void *b)
{
    /* "unknown" sorts after every date. */
    const tdx_facet *x = a, *y = b;
    int ux = strcmp(x->value, "unknown") == 0, uy = strcmp(y->value, "unknown") == 0;
    if (ux != uy)
        return ux - uy;
    return strcmp(x->value, y->value);
}

typedef struct facet_acc {
    tdx_facet *v;
    size_t n, cap;
} facet_acc;

static int facet_add(facet_acc *a, const char *val, size_t len, uint64_t count)
{
    for (size_t i = 0; i < a->n; i++)
        if (strlen(a->v[i].value) == len && memcmp(a->v[i].value, val, len) == 0) {
            a->v[i].count += count;
            return 0;
        }
    if (a->n == a->cap) {
        size_t c = a->cap ? a->cap * 2 : 32;
        tdx_facet *v = tdx_reallocarray(a->v, c, sizeof *v);
        if (v == NULL)
            return TDX_ENOMEM;
        a->v = v;
        a->cap = c;
    }
    a->v[a->n].value = tdx_strndup(val, len);
    if (a->v[a->n].value == NULL)
        return TDX_ENOMEM;
    a->v[a->n].count = count;
    a->n++;
    return 0;
}

int tdx_query_facet(tdx_qctx *q, const tdx_docset *docs, const char *by, tdx_facet **out,
                    size_t *n, tdx_err *err)
{
    facet_acc a = {0};
    int rc = 0;
    *out = NULL;
    *n = 0;
    if (strcmp(by, "year") == 0 || strcmp(by, "month") == 0 || strcmp(by, "day") == 0) {
        const uint32_t *dates;
        size_t nd;
        rc = tdx_qctx_dates(q, &dates, &nd, err);
        if (rc)
            return rc;
        /* Counts per yyyymm in a flat array, then names for the non-zero ones. */
        int month = strcmp(by, "month") == 0, day = strcmp(by, "day") == 0;
        if (day) {
            for (size_t i = 0; rc == 0 && i < docs->n; i++) {
                uint32_t d = docs->v[i] < nd ? dates[docs->v[i]] : 0;
                char s[16];
                int l = d ? snprintf(s, sizeof s, "%04u-%02u-%02u", d / 10000, d / 100 % 100,
                                     d % 100)
                          : snprintf(s, sizeof s, "unknown");
                rc = facet_add(&a, s, (size_t)l, 1);
            }
        } else {
            /* Count into a table spanning only the years the docs carry. */
            uint32_t ylo = UINT32_MAX, yhi = 0;
            uint64_t unknown = 0;
            for (size_t i = 0; i < docs->n; i++) {
                uint32_t d = docs->v[i] < nd ? dates[docs->v[i]] : 0;
                uint32_t y = d / 10000, m = d / 100 % 100;
                if (d == 0 || y >= 10000 || m > 12)
                    continue;
                ylo = y < ylo ? y : ylo;
                yhi = y > yhi ? y : yhi;
            }
            size_t span = ylo <= yhi ? (size_t)(yhi - ylo + 1) * 13 : 0;
            uint64_t *cnt = tdx_calloc(span ? span : 1, sizeof *cnt);
            if (cnt == NULL)
                return tdx_err_set(err, TDX_ENOMEM, "out of memory");
            for (size_t i = 0; i < docs->n; i++) {
                uint32_t d = docs->v[i] < nd ? dates[docs->v[i]] : 0;
                uint32_t y = d / 10000, m = d / 100 % 100;
                if (d == 0 || y >= 10000 || m > 12)
                    unknown++;
                else
                    cnt[(size_t)(y - ylo) * 13 + (month ? m : 0)]++;
            }
            for (size_t k = 0; rc == 0 && k < span; k++) {
                if (!cnt[k])
                    continue;
                char s[16];
                size_t y = ylo + k / 13;
                int l = month ? snprintf(s, sizeof s, "%04zu-%02zu", y, k % 13)
                              : snprintf(s, sizeof s, "%04zu", y);
                rc = facet_add(&a, s, (size_t)l, cnt[k]);
            }
            if (rc == 0 && unknown)
                rc = facet_add(&a, "unknown", 7, unknown);
            tdx_free(cnt);
        }
    } else if (strcmp(by, "entity") == 0 || strcmp(by, "cat") == 0 ||
               strcmp(by, "category") == 0) {
        int ent = strcmp(by, "entity") == 0;
        size_t ng = ent ? q->sv.nentities : q->sv.ncategories;
        uint64_t *cnt = tdx_calloc(ng + 1, sizeof *cnt);
        uint8_t *seen = tdx_calloc(ng + 1, 1);
        if (cnt == NULL || seen == NULL) {
            tdx_free(cnt);
            tdx_free(seen);
            return tdx_err_set(err, TDX_ENOMEM, "out of memory");
        }
        if (docs->n < 4 * ng + 1000) {
            /* Few docs: read their hit lists. */
            for (size_t i = 0; rc == 0 && i < docs->n; i++) {
                rc = doc_hits(q, docs->v[i], err);
                memset(seen, 0, ng);
                for (size_t h = 0; rc == 0 && h < q->nh; h++) {
                    uint32_t pat = q->hits[h].pattern;
                    if (pat >= q->sv.npatterns)
                        continue;
                    uint32_t g = ent ? q->sv.patterns[pat].entity : q->sv.patterns[pat].category;
                    if (g < ng && !seen[g]) {
                        seen[g] = 1;
                        cnt[g]++;
                    }
                }
            }
        } else {
            /* Many docs: intersect each group's postings with them. */
            tdx_docset post = {0}, both = {0};
            for (size_t g = 0; rc == 0 && g < ng; g++) {
                uint8_t term[5];
                term[0] = ent ? TDX_TERM_ENTITY : TDX_TERM_CATEGORY;
                tdx_be32_put(term + 1, (uint32_t)g);
                rc = tdx_store_postings(q->t, term, 5, &post, err);
                if (rc == 0 && tdx_docset_and(&post, docs, &both))
                    rc = tdx_err_set(err, TDX_ENOMEM, "out of memory");
                cnt[g] = both.n;
            }
            tdx_docset_free(&post);
            tdx_docset_free(&both);
        }
        for (size_t g = 0; rc == 0 && g < ng; g++)
            if (cnt[g]) {
                const char *name = ent ? q->sv.entities[g] : q->sv.categories[g];
                rc = facet_add(&a, name, strlen(name), cnt[g]);
            }
        tdx_free(cnt);
        tdx_free(seen);
    } else {
        /* A metadata field: read the records of the docs. */
        size_t bl = strlen(by);
        for (size_t i = 0; rc == 0 && i < docs->n; i++) {
            tdx_store_docinfo d;
            rc = tdx_store_get_doc(q->t, docs->v[i], &d, err);
            const uint8_t *pos = d.meta;
            tdx_span k, v;
            int found = 0;
            while (rc == 0 && tdx_store_meta_next(&d, &pos, &k, &v)) {
                if (k.len == bl && memcmp(k.p, by, bl) == 0) {
                    rc = facet_add(&a, (const char *)v.p, v.len, 1);
                    found = 1;
                    break;
                }
            }
            if (rc == 0 && !found)
                rc = facet_add(&a, "(none)", 6, 1);
        }
    }
    if (rc) {
        tdx_facets_free(a.v, a.n);
        if (!(err && err->code))
            tdx_err_set(err, rc, "out of memory");
        return rc;
    }
    /* Time facets read best in time order; the others by count. */
    int by_time = strcmp(by, "year") == 0 || strcmp(by, "month") == 0 || strcmp(by, "day") == 0;
    if (a.n) /* a.v may be NULL then */
        qsort(a.v, a.n, sizeof *a.v, by_time ? cmp_facet_value : cmp_facet);
    *out = a.v;
    *n = a.n;
    return 0;
}
