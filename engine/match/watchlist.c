/*
 * watchlist.c - watch-list parsing: TSV rows -> patterns, entities,
 * categories and diagnostics.
 *
 * Where: runs once before indexing (tenderidx index/rescan/watchlist check);
 * its output feeds tdx_match_compile (match.c) and the index's patterns
 * table.
 *
 * Data: the watch list keeps one private copy of the file in which every
 * cell is cut out in place (NUL-terminated), so entity, category and pattern
 * strings are borrowed from that copy; normalized literals and diagnostic
 * messages live in two growing byte buffers and are addressed by offset
 * while parsing, turned into pointers once the buffers stop moving.  Entities,
 * categories and normalized patterns are interned through small
 * open-addressing tables of ids (hash + id, key bytes looked up by id).
 *
 * Threading: parsing is single-threaded; the finished tdx_watchlist is
 * immutable and may be read by any number of threads.
 */
#include "match.h"

#include "../common/alloc.h"
#include "../common/buf.h"
#include "../common/hash.h"
#include "../common/utf8.h"

#include <errno.h>
#include <hs/hs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A diagnostic while parsing: message by offset into wl->msgs. */
typedef struct pdiag {
    uint32_t line, col;
    int code; /* 0: warning; TDX_EPATTERN / TDX_ELIMIT: error */
    size_t msg_off;
} pdiag;

/* An interning table: ids of items whose key bytes the owner can produce. */
typedef struct itab {
    uint64_t *hash;
    uint32_t *id; /* UINT32_MAX: empty slot */
    size_t cap, n;
} itab;

typedef struct entity_row {
    size_t name_off; /* offset of the name in wl->data */
    uint32_t category;
    uint32_t line; /* first row, for messages */
} entity_row;

struct tdx_watchlist {
    char *name;
    char *norm_identity;
    char *data; /* the file, cells cut out in place */
    size_t len;
    tdx_buf strs; /* normalized literals, NUL-separated */
    tdx_buf msgs; /* diagnostic messages, NUL-separated (apart from strs: a message
                     may quote a normalized literal while it is being written) */

    tdx_pattern *pats;
    size_t npats, cap_pats;
    size_t *norm_off; /* per pattern: offset in strs (literal), SIZE_MAX (regex) */

    entity_row *ents;
    size_t nents, cap_ents;
    const char **ent_names;
    size_t *cat_off; /* category names: offsets in data */
    const char **cat_names;
    size_t ncats, cap_cats;

    pdiag *pd;
    size_t npd, cap_pd, nerrors;
    tdx_diag *diags;

    uint64_t hash;
};

/* ---- interning ------------------------------------------------------------ */

typedef int (*key_eq_fn)(const tdx_watchlist *wl, uint32_t id, const char *k, size_t klen);

static int itab_grow(itab *t)
{
    size_t cap = t->cap ? t->cap * 2 : 64;
    uint64_t *h = tdx_reallocarray(NULL, cap, sizeof *h);
    uint32_t *id = tdx_reallocarray(NULL, cap, sizeof *id);
    if (h == NULL || id == NULL) {
        tdx_free(h);
        tdx_free(id);
        return TDX_ENOMEM;
    }
    memset(id, 0xff, cap * sizeof *id);
    for (size_t i = 0; i < t->cap; i++) {
        if (t->id[i] == UINT32_MAX)
            continue;
        size_t j = t->hash[i] & (cap - 1);
        while (id[j] != UINT32_MAX)
            j = (j + 1) & (cap - 1);
        h[j] = t->hash[i];
        id[j] = t->id[i];
    }
    tdx_free(t->hash);
    tdx_free(t->id);
    t->hash = h;
    t->id = id;
    t->cap = cap;
    return 0;
}

static void itab_free(itab *t)
{
    tdx_free(t->hash);
    tdx_free(t->id);
    memset(t, 0, sizeof *t);
}

/*
 * Find the key; when absent, insert new_id (unless it is UINT32_MAX) and
 * return UINT32_MAX.  *out_rc is TDX_ENOMEM when the table could not grow.
 */
static uint32_t itab_intern(itab *t, const tdx_watchlist *wl, key_eq_fn eq, const char *k,
                            size_t klen, uint32_t new_id, int *out_rc)
{
    *out_rc = 0;
    if ((t->n + 1) * 4 > t->cap * 3 && (*out_rc = itab_grow(t)) != 0)
        return UINT32_MAX;
    uint64_t h = tdx_hash64(k, klen);
    size_t j = h & (t->cap - 1);
    while (t->id[j] != UINT32_MAX) {
        if (t->hash[j] == h && eq(wl, t->id[j], k, klen))
            return t->id[j];
        j = (j + 1) & (t->cap - 1);
    }
    if (new_id != UINT32_MAX) {
        t->hash[j] = h;
        t->id[j] = new_id;
        t->n++;
    }
    return UINT32_MAX;
}

static int entity_eq(const tdx_watchlist *wl, uint32_t id, const char *k, size_t klen)
{
    const char *s = wl->data + wl->ents[id].name_off;
    return strncmp(s, k, klen) == 0 && s[klen] == '\0';
}

static int category_eq(const tdx_watchlist *wl, uint32_t id, const char *k, size_t klen)
{
    const char *s = wl->data + wl->cat_off[id];
    return strncmp(s, k, klen) == 0 && s[klen] == '\0';
}

/* Pattern keys: regexes and literals live in separate namespaces. */
static const char *pattern_norm(const tdx_watchlist *wl, uint32_t id)
{
    return wl->norm_off[id] == SIZE_MAX ? wl->pats[id].text
                                        : (const char *)wl->strs.p + wl->norm_off[id];
}

static int pattern_eq(const tdx_watchlist *wl, uint32_t id, const char *k, size_t klen)
{
    const tdx_pattern *p = &wl->pats[id];
    int is_regex = (p->flags & TDX_PAT_REGEX) != 0;
    /* The first key byte tells the kind: 'r' regex, 'l' literal. */
    if ((k[0] == 'r') != is_regex || p->norm_len != klen - 1)
        return 0;
    return memcmp(pattern_norm(wl, id), k + 1, klen - 1) == 0;
}

/* ---- diagnostics ---------------------------------------------------------- */

typedef struct parser {
    tdx_watchlist *wl;
    const tdx_norm *norm;
    tdx_norm_ctx *ctx;
    tdx_norm_out nout;
    tdx_buf key;
    itab ents, cats, pats;
    tdx_err *err;
    int stop; /* too many errors or patterns: read no further */
} parser;

#define MAX_ERRORS 1000

static int diag_add(parser *ps, uint32_t line, uint32_t col, int code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* Returns 0 or TDX_ENOMEM (the only failure that stops parsing at once). */
static int diag_add(parser *ps, uint32_t line, uint32_t col, int code, const char *fmt, ...)
{
    tdx_watchlist *wl = ps->wl;
    if (wl->npd == wl->cap_pd) {
        size_t cap = wl->cap_pd ? wl->cap_pd * 2 : 16;
        pdiag *v = tdx_reallocarray(wl->pd, cap, sizeof *v);
        if (v == NULL)
            return TDX_ENOMEM;
        wl->pd = v;
        wl->cap_pd = cap;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    size_t off = wl->msgs.len;
    if (tdx_buf_grow(&wl->msgs, (size_t)n + 1) != 0)
        return TDX_ENOMEM;
    va_start(ap, fmt);
    vsnprintf((char *)wl->msgs.p + off, (size_t)n + 1, fmt, ap);
    va_end(ap);
    wl->msgs.len += (size_t)n + 1; /* keep the NUL: messages are read as C strings */
    wl->pd[wl->npd++] = (pdiag){line, col, code, off};
    /* == and not >=: the note below is itself an error and must not recurse. */
    if (code != 0 && ++wl->nerrors == MAX_ERRORS) {
        ps->stop = 1;
        return diag_add(ps, line, col, TDX_EPATTERN, "too many errors; stopped reading here");
    }
    return 0;
}

/* ---- cells ---------------------------------------------------------------- */

typedef struct cell {
    char *p;
    size_t len;
    uint32_t col;
} cell;

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* Trim ASCII white space (not tabs: they separate cells) and NUL-terminate. */
static void cell_trim(cell *c)
{
    size_t a = 0, b = c->len;
    while (a < b && is_blank(c->p[a]))
        a++;
    while (b > a && is_blank(c->p[b - 1]))
        b--;
    c->p[b] = '\0';
    if (a == b) { /* an empty cell is reported where it starts */
        c->len = 0;
        return;
    }
    c->p += a;
    c->col += (uint32_t)a;
    c->len = b - a;
}

static int cjk_single_char(const char *s, size_t len)
{
    size_t l;
    int32_t cp = tdx_utf8_decode((const uint8_t *)s, (const uint8_t *)s + len, &l);
    return cp >= 0 && l == len && tdx_norm_char_class((uint32_t)cp) == TDX_CC_CJK;
}

/* Hyperscan names the failing position as "... index N ..."; 0 if it does not. */
static uint32_t hs_message_index(const char *msg, int *found)
{
    const char *p = strstr(msg, "index ");
    *found = 0;
    if (p == NULL || p[6] < '0' || p[6] > '9')
        return 0;
    *found = 1;
    return (uint32_t)strtoul(p + 6, NULL, 10);
}

/*
 * Check a regex with Hyperscan's parser; adds an error diagnostic when bad,
 * else stores the byte widths of its matches.
 */
static int check_regex(parser *ps, uint32_t line, const cell *pat, uint32_t width[2])
{
    const unsigned flags = HS_FLAG_CASELESS | HS_FLAG_UTF8 | HS_FLAG_UCP | HS_FLAG_SOM_LEFTMOST;
    hs_expr_info_t *info = NULL;
    hs_compile_error_t *cerr = NULL;
    int rc = 0;
    if (hs_expression_info(pat->p, flags, &info, &cerr) != HS_SUCCESS) {
        int found;
        uint32_t idx = hs_message_index(cerr ? cerr->message : "", &found);
        rc = diag_add(ps, line, pat->col + 1 + (found ? idx : 0), TDX_EPATTERN,
                      "invalid regex /%s/: %s", pat->p,
                      cerr ? cerr->message : "rejected by Hyperscan");
    } else if (info->min_width == 0) {
        rc = diag_add(ps, line, pat->col, TDX_EPATTERN,
                      "regex /%s/ can match empty text (it would match everywhere)", pat->p);
    } else {
        width[0] = info->min_width;
        width[1] = info->max_width;
    }
    hs_free_compile_error(cerr);
    free(info); /* hs_expression_info allocates with Hyperscan's allocator: malloc */
    return rc;
}

/*
 * Regexes run on normalized text but are not normalized themselves (that
 * would turn \D into \d).  Warn about the first non-ASCII character that
 * normalized text never contains, e.g. 學 or full-width Ｈ.
 */
static int check_regex_chars(parser *ps, uint32_t line, const cell *pat)
{
    const uint8_t *p = (const uint8_t *)pat->p, *end = p + pat->len;
    while (p < end) {
        size_t l;
        int32_t cp = tdx_utf8_decode(p, end, &l);
        if (cp >= 0x80) {
            int rc = tdx_norm_run(ps->norm, ps->ctx, p, l, &ps->nout, NULL);
            if (rc)
                return rc;
            if (ps->nout.text.len != l || memcmp(ps->nout.text.p, p, l) != 0)
                return diag_add(ps, line, pat->col + 1 + (uint32_t)(p - (const uint8_t *)pat->p), 0,
                                "regex /%s/ contains '%.*s', which normalized text never has "
                                "(it becomes '%s'); write regexes in normalized form",
                                pat->p, (int)l, (const char *)p, (const char *)ps->nout.text.p);
        }
        p += l;
    }
    return 0;
}

static int flags_parse(parser *ps, uint32_t line, cell *c, unsigned *out_flags, int *bad)
{
    unsigned flags = 0;
    size_t i = 0;
    while (i < c->len) {
        size_t j = i;
        while (j < c->len && c->p[j] != ',')
            j++;
        size_t a = i, b = j;
        while (a < b && is_blank(c->p[a]))
            a++;
        while (b > a && is_blank(c->p[b - 1]))
            b--;
        if (b > a) {
            if (b - a == 9 && memcmp(c->p + a, "substring", 9) == 0) {
                flags |= TDX_PAT_SUBSTRING;
            } else {
                *bad = 1;
                int rc = diag_add(ps, line, c->col + (uint32_t)a, TDX_EPATTERN,
                                  "unknown flag '%.*s' (known flags: substring)", (int)(b - a),
                                  c->p + a);
                if (rc)
                    return rc;
            }
        }
        i = j + 1;
    }
    *out_flags = flags;
    return 0;
}

/* ---- tables --------------------------------------------------------------- */

static int category_intern(parser *ps, const cell *c, uint32_t *out_id)
{
    tdx_watchlist *wl = ps->wl;
    int rc;
    uint32_t id = itab_intern(&ps->cats, wl, category_eq, c->p, c->len, UINT32_MAX, &rc);
    if (rc)
        return rc;
    if (id != UINT32_MAX) {
        *out_id = id;
        return 0;
    }
    if (wl->ncats == wl->cap_cats) {
        size_t cap = wl->cap_cats ? wl->cap_cats * 2 : 16;
        size_t *v = tdx_reallocarray(wl->cat_off, cap, sizeof *v);
        if (v == NULL)
            return TDX_ENOMEM;
        wl->cat_off = v;
        wl->cap_cats = cap;
    }
    id = (uint32_t)wl->ncats;
    wl->cat_off[id] = (size_t)(c->p - wl->data);
    wl->ncats++;
    itab_intern(&ps->cats, wl, category_eq, c->p, c->len, id, &rc);
    *out_id = id;
    return 0;
}

/* Entity of the row; a second category for a known entity is a warning. */
static int entity_intern(parser *ps, uint32_t line, const cell *ent, const cell *cat,
                         uint32_t *out_id)
{
    tdx_watchlist *wl = ps->wl;
    int rc;
    uint32_t id = itab_intern(&ps->ents, wl, entity_eq, ent->p, ent->len, UINT32_MAX, &rc);
    if (rc)
        return rc;
    if (id != UINT32_MAX) {
        const char *have = wl->data + wl->cat_off[wl->ents[id].category];
        if (strcmp(have, cat->p) != 0)
            rc = diag_add(ps, line, cat->col, 0,
                          "entity '%s' already has category '%s' (line %u); category '%s' "
                          "ignored",
                          ent->p, have, wl->ents[id].line, cat->p);
        *out_id = id;
        return rc;
    }
    uint32_t cid;
    if ((rc = category_intern(ps, cat, &cid)) != 0)
        return rc;
    if (wl->nents == wl->cap_ents) {
        size_t cap = wl->cap_ents ? wl->cap_ents * 2 : 64;
        entity_row *v = tdx_reallocarray(wl->ents, cap, sizeof *v);
        if (v == NULL)
            return TDX_ENOMEM;
        wl->ents = v;
        wl->cap_ents = cap;
    }
    id = (uint32_t)wl->nents;
    wl->ents[id] = (entity_row){(size_t)(ent->p - wl->data), cid, line};
    wl->nents++;
    itab_intern(&ps->ents, wl, entity_eq, ent->p, ent->len, id, &rc);
    *out_id = id;
    return 0;
}

static int pattern_add(parser *ps, uint32_t line, const cell *ent, const cell *cat, const cell *pat,
                       unsigned flags, size_t norm_off, size_t norm_len, const uint32_t width[2])
{
    tdx_watchlist *wl = ps->wl;
    int rc;
    uint32_t eid;
    if ((rc = entity_intern(ps, line, ent, cat, &eid)) != 0)
        return rc;
    if (wl->npats == wl->cap_pats) {
        size_t cap = wl->cap_pats ? wl->cap_pats * 2 : 64;
        tdx_pattern *v = tdx_reallocarray(wl->pats, cap, sizeof *v);
        if (v == NULL)
            return TDX_ENOMEM;
        wl->pats = v;
        size_t *o = tdx_reallocarray(wl->norm_off, cap, sizeof *o);
        if (o == NULL)
            return TDX_ENOMEM;
        wl->norm_off = o;
        wl->cap_pats = cap;
    }
    uint32_t id = (uint32_t)wl->npats;
    wl->pats[id] = (tdx_pattern){
        .id = id,
        .entity = eid,
        .category = wl->ents[eid].category,
        .flags = flags,
        .line = line,
        .text = pat->p,
        .norm = NULL, /* set when the strings stop moving */
        .norm_len = norm_len,
        .col = pat->col,
        .dup_of = id,
        .min_width = width[0],
        .max_width = width[1],
    };
    wl->norm_off[id] = norm_off;
    wl->npats++;

    /* Duplicate detection on (kind, normalized form). */
    tdx_buf_reset(&ps->key);
    if ((rc = tdx_buf_putc(&ps->key, (flags & TDX_PAT_REGEX) ? 'r' : 'l')) != 0 ||
        (rc = tdx_buf_append(&ps->key, pattern_norm(wl, id), norm_len)) != 0)
        return rc;
    uint32_t first =
        itab_intern(&ps->pats, wl, pattern_eq, (const char *)ps->key.p, ps->key.len, id, &rc);
    if (rc)
        return rc;
    if (first != UINT32_MAX) {
        const tdx_pattern *f = &wl->pats[first];
        wl->pats[id].dup_of = first;
        const char *fent = wl->data + wl->ents[f->entity].name_off;
        if (flags & TDX_PAT_REGEX)
            rc = diag_add(ps, line, pat->col, 0,
                          "duplicate regex /%s/: already on line %u (entity '%s')", pat->p, f->line,
                          fent);
        else
            rc = diag_add(ps, line, pat->col, 0,
                          "duplicate alias '%s' (normalized '%s'): already on line %u "
                          "(entity '%s')",
                          pat->p, pattern_norm(wl, id), f->line, fent);
    }
    return rc;
}

/* Normalize a literal into wl->strs, trimmed; out_off and out_len locate it. */
static int literal_normalize(parser *ps, const cell *pat, size_t *out_off, size_t *out_len)
{
    tdx_watchlist *wl = ps->wl;
    int rc = tdx_norm_run(ps->norm, ps->ctx, (const uint8_t *)pat->p, pat->len, &ps->nout, NULL);
    if (rc)
        return rc;
    const char *s = (const char *)ps->nout.text.p;
    size_t n = ps->nout.text.len;
    /* White space around a name is never part of it (U+3000 and the like
     * survive the ASCII trim of the cell and become ' ' here). */
    while (n && s[0] == ' ') {
        s++;
        n--;
    }
    while (n && s[n - 1] == ' ')
        n--;
    *out_off = wl->strs.len;
    *out_len = n;
    if ((rc = tdx_buf_append(&wl->strs, s, n)) != 0 || (rc = tdx_buf_putc(&wl->strs, 0)) != 0)
        return rc;
    return 0;
}

/* ---- rows ----------------------------------------------------------------- */

static int parse_row(parser *ps, uint32_t line, char *p, size_t len)
{
    tdx_watchlist *wl = ps->wl;
    size_t bad = tdx_utf8_first_invalid((const uint8_t *)p, len);
    if (bad < len)
        return diag_add(ps, line, (uint32_t)bad + 1, TDX_EPATTERN,
                        "invalid UTF-8 (byte 0x%02X); save the file as UTF-8",
                        (unsigned)(uint8_t)p[bad]);
    const char *nul = memchr(p, '\0', len);
    if (nul)
        return diag_add(ps, line, (uint32_t)(nul - p) + 1, TDX_EPATTERN, "NUL byte in line");

    size_t i = 0;
    while (i < len && is_blank(p[i]))
        i++;
    if (i == len || p[i] == '#')
        return 0;

    cell c[5];
    size_t nc = 0, start = 0;
    for (size_t j = 0; j <= len && nc < 5; j++) {
        if (j == len || p[j] == '\t') {
            c[nc++] = (cell){p + start, j - start, (uint32_t)start + 1};
            start = j + 1;
        }
    }
    if (nc < 3) {
        const char *hint = memchr(p, ' ', len) && nc == 1
                               ? " (columns are separated by TAB characters, not spaces)"
                               : "";
        return diag_add(ps, line, (uint32_t)len + 1, TDX_EPATTERN,
                        "missing column: expected entity<TAB>category<TAB>pattern[<TAB>flags], "
                        "found %zu column%s%s",
                        nc, nc == 1 ? "" : "s", hint);
    }
    if (nc == 5)
        return diag_add(ps, line, c[4].col - 1, TDX_EPATTERN,
                        "too many columns: expected entity<TAB>category<TAB>pattern[<TAB>flags]");
    for (size_t k = 0; k < nc; k++)
        cell_trim(&c[k]);

    int rc = 0, bad_row = 0;
    if (c[0].len == 0) {
        bad_row = 1;
        if ((rc = diag_add(ps, line, c[0].col, TDX_EPATTERN, "empty entity name")) != 0)
            return rc;
    }
    if (c[1].len == 0) {
        bad_row = 1;
        if ((rc = diag_add(ps, line, c[1].col, TDX_EPATTERN, "empty category")) != 0)
            return rc;
    }
    unsigned flags = 0;
    if (nc == 4 && (rc = flags_parse(ps, line, &c[3], &flags, &bad_row)) != 0)
        return rc;

    cell *pat = &c[2];
    size_t norm_off = SIZE_MAX, norm_len;
    uint32_t width[2] = {0, 0};
    if (pat->len == 0) {
        return diag_add(ps, line, pat->col, TDX_EPATTERN, "empty pattern");
    } else if (pat->len >= 2 && pat->p[0] == '/' && pat->p[pat->len - 1] == '/') {
        flags |= TDX_PAT_REGEX;
        pat->p[pat->len - 1] = '\0';
        pat->p++;
        pat->len -= 2;
        norm_len = pat->len;
        if (pat->len == 0)
            return diag_add(ps, line, pat->col, TDX_EPATTERN, "empty regex //");
        if (pat->len > TDX_MATCH_MAX_PATTERN_BYTES)
            return diag_add(ps, line, pat->col, TDX_ELIMIT,
                            "regex of %zu bytes is longer than the limit of %u bytes", pat->len,
                            TDX_MATCH_MAX_PATTERN_BYTES);
        size_t nerr = wl->nerrors;
        if ((rc = check_regex(ps, line, pat, width)) != 0 || wl->nerrors > nerr)
            return rc;
        if ((rc = check_regex_chars(ps, line, pat)) != 0)
            return rc;
    } else {
        if ((rc = literal_normalize(ps, pat, &norm_off, &norm_len)) != 0)
            return rc;
        if (norm_len == 0)
            return diag_add(ps, line, pat->col, TDX_EPATTERN, "pattern '%s' normalizes to nothing",
                            pat->p);
        if (norm_len > TDX_MATCH_MAX_PATTERN_BYTES)
            return diag_add(ps, line, pat->col, TDX_ELIMIT,
                            "pattern of %zu bytes (normalized) is longer than the limit of %u "
                            "bytes",
                            norm_len, TDX_MATCH_MAX_PATTERN_BYTES);
        if (cjk_single_char((const char *)wl->strs.p + norm_off, norm_len) &&
            (rc = diag_add(ps, line, pat->col, 0,
                           "one-character literal '%s' will match very often", pat->p)) != 0)
            return rc;
    }
    if (bad_row)
        return 0;
    if (wl->npats >= TDX_MATCH_MAX_PATTERNS) {
        ps->stop = 1;
        return diag_add(ps, line, pat->col, TDX_ELIMIT,
                        "more than %u patterns; split the watch list", TDX_MATCH_MAX_PATTERNS);
    }
    if (!(flags & TDX_PAT_REGEX))
        width[0] = width[1] = (uint32_t)norm_len;
    return pattern_add(ps, line, &c[0], &c[1], pat, flags, norm_off, norm_len, width);
}

/* ---- finishing ------------------------------------------------------------ */

static int pdiag_cmp(const void *a, const void *b)
{
    const pdiag *x = a, *y = b;
    int ex = x->code != 0, ey = y->code != 0;
    if (ex != ey)
        return ey - ex;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    if (x->col != y->col)
        return x->col < y->col ? -1 : 1;
    return x->msg_off < y->msg_off ? -1 : x->msg_off > y->msg_off;
}

static uint64_t hash_str(uint64_t h, const char *s, size_t n)
{
    /* Length first, so that field boundaries cannot shift between rows. */
    uint64_t len = n;
    h = tdx_hash64_seed(&len, sizeof len, h);
    return tdx_hash64_seed(s, n, h);
}

static int finish(tdx_watchlist *wl)
{
    for (size_t i = 0; i < wl->npats; i++)
        wl->pats[i].norm = pattern_norm(wl, (uint32_t)i);
    wl->ent_names = tdx_reallocarray(NULL, wl->nents ? wl->nents : 1, sizeof *wl->ent_names);
    wl->cat_names = tdx_reallocarray(NULL, wl->ncats ? wl->ncats : 1, sizeof *wl->cat_names);
    wl->diags = tdx_calloc(wl->npd ? wl->npd : 1, sizeof *wl->diags);
    if (wl->ent_names == NULL || wl->cat_names == NULL || wl->diags == NULL)
        return TDX_ENOMEM;
    for (size_t i = 0; i < wl->nents; i++)
        wl->ent_names[i] = wl->data + wl->ents[i].name_off;
    for (size_t i = 0; i < wl->ncats; i++)
        wl->cat_names[i] = wl->data + wl->cat_off[i];
    if (wl->npd)
        qsort(wl->pd, wl->npd, sizeof *wl->pd, pdiag_cmp);
    for (size_t i = 0; i < wl->npd; i++)
        wl->diags[i] = (tdx_diag){wl->name, wl->pd[i].line, wl->pd[i].col, wl->pd[i].code != 0,
                                  (char *)wl->msgs.p + wl->pd[i].msg_off};

    uint64_t h = 0x7464787761746368ULL; /* "tdxwatch" */
    for (size_t i = 0; i < wl->npats; i++) {
        const tdx_pattern *p = &wl->pats[i];
        const char *ent = wl->ent_names[p->entity], *cat = wl->cat_names[p->category];
        uint64_t fl = p->flags;
        h = hash_str(h, ent, strlen(ent));
        h = hash_str(h, cat, strlen(cat));
        h = hash_str(h, (const char *)&fl, sizeof fl);
        h = hash_str(h, p->text, strlen(p->text));
        h = hash_str(h, p->norm, p->norm_len);
    }
    wl->hash = h;
    return 0;
}

void tdx_watchlist_free(tdx_watchlist *wl)
{
    if (wl == NULL)
        return;
    tdx_free(wl->name);
    tdx_free(wl->norm_identity);
    tdx_free(wl->data);
    tdx_buf_free(&wl->strs);
    tdx_buf_free(&wl->msgs);
    tdx_free(wl->pats);
    tdx_free(wl->norm_off);
    tdx_free(wl->ents);
    tdx_free(wl->ent_names);
    tdx_free(wl->cat_off);
    tdx_free(wl->cat_names);
    tdx_free(wl->pd);
    tdx_free(wl->diags);
    tdx_free(wl);
}

static int parse(const char *name, const char *data, size_t len, const tdx_norm *norm,
                 int keep_errors, tdx_watchlist **out_wl, tdx_err *err)
{
    if (name == NULL || (data == NULL && len) || norm == NULL || out_wl == NULL)
        return tdx_err_set(err, TDX_EINVAL, "tdx_watchlist_parse: NULL argument");
    if (len > TDX_MATCH_MAX_FILE_BYTES)
        return tdx_err_set(err, TDX_ELIMIT, "%s: watch list of %zu bytes exceeds the limit of %u",
                           name, len, TDX_MATCH_MAX_FILE_BYTES);
    parser ps = {.norm = norm, .err = err};
    tdx_norm_out_init(&ps.nout);
    int rc = TDX_ENOMEM;
    tdx_watchlist *wl = tdx_calloc(1, sizeof *wl);
    if (wl == NULL)
        goto fail;
    ps.wl = wl;
    wl->name = tdx_strdup(name);
    wl->norm_identity = tdx_strdup(tdx_norm_identity(norm));
    wl->data = tdx_malloc(len + 1);
    if (wl->name == NULL || wl->norm_identity == NULL || wl->data == NULL)
        goto fail;
    if (len)
        memcpy(wl->data, data, len);
    wl->data[len] = '\0';
    wl->len = len;
    if ((rc = tdx_norm_ctx_create(norm, &ps.ctx, NULL)) != 0)
        goto fail;

    char *p = wl->data, *end = wl->data + len;
    if (len >= 3 && memcmp(p, "\xEF\xBB\xBF", 3) == 0)
        p += 3;
    for (uint32_t line = 1; p < end && !ps.stop; line++) {
        char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            eol = end;
        char *le = eol;
        if (le > p && le[-1] == '\r')
            le--;
        *le = '\0';
        if ((rc = parse_row(&ps, line, p, (size_t)(le - p))) != 0)
            goto fail;
        p = eol + 1;
    }
    if ((rc = finish(wl)) != 0)
        goto fail;
    if (wl->nerrors && !keep_errors) {
        const tdx_diag *d = &wl->diags[0];
        rc = tdx_err_set(err, wl->pd[0].code, "%s:%u:%u: %s", d->file, d->line, d->col, d->msg);
        goto fail;
    }
    rc = 0;
    *out_wl = wl;
    wl = NULL;
fail:
    if (rc == TDX_ENOMEM)
        tdx_err_set(err, rc, "out of memory while reading watch list '%s'", name);
    else if (rc && rc != TDX_EPATTERN && rc != TDX_ELIMIT)
        tdx_err_set(err, rc, "cannot read watch list '%s': %s", name, tdx_strerror(rc));
    tdx_watchlist_free(wl);
    itab_free(&ps.ents);
    itab_free(&ps.cats);
    itab_free(&ps.pats);
    tdx_buf_free(&ps.key);
    tdx_norm_out_free(&ps.nout);
    tdx_norm_ctx_free(ps.ctx);
    return rc;
}

int tdx_watchlist_parse(const char *name, const char *data, size_t len, const tdx_norm *norm,
                        tdx_watchlist **out_wl, tdx_err *err)
{
    return parse(name, data, len, norm, 0, out_wl, err);
}

static int read_file(const char *path, char **out_data, size_t *out_len, tdx_err *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return tdx_err_set(err, TDX_EIO, "cannot open watch list '%s': %s", path, strerror(errno));
    tdx_buf b = TDX_BUF_INIT;
    int rc = 0;
    for (;;) {
        if (b.len > TDX_MATCH_MAX_FILE_BYTES) {
            rc =
                tdx_err_set(err, TDX_ELIMIT, "watch list '%s' is larger than the limit of %u bytes",
                            path, TDX_MATCH_MAX_FILE_BYTES);
            break;
        }
        if ((rc = tdx_buf_grow(&b, 1 << 16)) != 0) {
            rc = tdx_err_set(err, TDX_ENOMEM, "out of memory while reading '%s'", path);
            break;
        }
        size_t n = fread(b.p + b.len, 1, b.cap - b.len - 1, f);
        b.len += n;
        if (n == 0) {
            if (ferror(f))
                rc = tdx_err_set(err, TDX_EIO, "cannot read watch list '%s': %s", path,
                                 strerror(errno));
            break;
        }
    }
    fclose(f);
    if (rc) {
        tdx_buf_free(&b);
        return rc;
    }
    *out_len = b.len;
    *out_data = (char *)b.p;
    return 0;
}

static int load(const char *path, const tdx_norm *norm, int keep_errors, tdx_watchlist **out_wl,
                tdx_err *err)
{
    if (path == NULL || norm == NULL || out_wl == NULL)
        return tdx_err_set(err, TDX_EINVAL, "tdx_watchlist_load: NULL argument");
    char *data = NULL;
    size_t len = 0;
    int rc = read_file(path, &data, &len, err);
    if (rc == 0)
        rc = parse(path, data, len, norm, keep_errors, out_wl, err);
    tdx_free(data);
    return rc;
}

int tdx_watchlist_load(const char *path, const tdx_norm *norm, tdx_watchlist **out_wl, tdx_err *err)
{
    return load(path, norm, 0, out_wl, err);
}

int tdx_watchlist_check(const char *path, const tdx_norm *norm, tdx_watchlist **out_wl,
                        tdx_err *err)
{
    return load(path, norm, 1, out_wl, err);
}

/* ---- accessors ------------------------------------------------------------ */

size_t tdx_watchlist_ndiags(const tdx_watchlist *wl)
{
    return wl->npd;
}

const tdx_diag *tdx_watchlist_diag(const tdx_watchlist *wl, size_t i)
{
    return i < wl->npd ? &wl->diags[i] : NULL;
}

size_t tdx_watchlist_nerrors(const tdx_watchlist *wl)
{
    return wl->nerrors;
}

const char *tdx_watchlist_name(const tdx_watchlist *wl)
{
    return wl->name;
}

const char *tdx_watchlist_norm_identity(const tdx_watchlist *wl)
{
    return wl->norm_identity;
}

size_t tdx_watchlist_npatterns(const tdx_watchlist *wl)
{
    return wl->npats;
}

const tdx_pattern *tdx_watchlist_pattern(const tdx_watchlist *wl, uint32_t id)
{
    return id < wl->npats ? &wl->pats[id] : NULL;
}

size_t tdx_watchlist_nentities(const tdx_watchlist *wl)
{
    return wl->nents;
}

const char *tdx_watchlist_entity(const tdx_watchlist *wl, uint32_t entity)
{
    return entity < wl->nents ? wl->ent_names[entity] : NULL;
}

size_t tdx_watchlist_ncategories(const tdx_watchlist *wl)
{
    return wl->ncats;
}

const char *tdx_watchlist_category(const tdx_watchlist *wl, uint32_t category)
{
    return category < wl->ncats ? wl->cat_names[category] : NULL;
}

uint32_t tdx_watchlist_entity_category(const tdx_watchlist *wl, uint32_t entity)
{
    return entity < wl->nents ? wl->ents[entity].category : UINT32_MAX;
}

uint64_t tdx_watchlist_hash(const tdx_watchlist *wl)
{
    return wl->hash;
}
