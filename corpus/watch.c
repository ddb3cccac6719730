/*
 * watch.c - the watch list as corpus/gen sees it, and the reference matcher
 * the ground truth is held to.
 *
 * Where: loaded once at start-up; the generator asks it (a) whether a
 * phrase of filler text contains an alias (such phrases are dropped), (b)
 * whether an alias could form across the junction of two pieces of text
 * (a separator is put there instead), and (c) what tenderidx must report
 * for a planted alias, in every rendering (the ground truth).  --verify
 * runs it over whole normalized documents.
 *
 * Data: every matchable string -- a normalized literal, or one expansion
 * of a regex -- is a key; every prefix of a key (at character boundaries)
 * is an entry of one open-addressing hash table, so a scan walks forward
 * from each start and stops at the first prefix that no key has.  Each full
 * key chains the rows it belongs to.  Regexes are expanded into the finite
 * set of strings they match (groups, alternation, '?', classes, {m,n});
 * a regex with '*', '+', '.' or anchors cannot be, and is reported as
 * unchecked.  Semantics copied from engine/match/match.h: a regex hit
 * keeps only the leftmost start per end offset (Hyperscan's
 * SOM_LEFTMOST), then every hit not flagged "substring" obeys the ASCII
 * boundary rule on its first and last character.
 *
 * Threading: single-threaded; variants are memoized on first use.
 */
#include "gen.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "common/alloc.h"
#include "common/hash.h"

#define FNV_BASIS       1469598103934665603ULL
#define FNV_PRIME       1099511628211ULL
#define NO_INST         UINT32_MAX
#define MAX_EXPANSIONS  4096
#define PAIR_BLOOM_BITS (1u << 20)

static inline uint32_t pair_bit(uint64_t k)
{
    return (uint32_t)((k * 0x9E3779B97F4A7C15ULL) >> 44) & (PAIR_BLOOM_BITS - 1);
}

typedef struct dent {
    uint64_t h;
    uint32_t off, len; /* key bytes in w->keys */
    uint32_t inst;     /* first instance (row) of a full key, NO_INST for a prefix */
} dent;

struct watch {
    wrow *rows;
    size_t nrows;
    wentity *ents;
    size_t nents;
    char **cats;
    size_t ncats;
    gen_strmap ent_map; /* name -> entity */

    tdx_buf keys;
    dent *tab;
    size_t tab_cap, tab_n;
    uint32_t *inst_row, *inst_next;
    size_t ninst, inst_cap;
    size_t maxlen;
    size_t unchecked;
    int single_char_keys; /* some key is one character long */

    uint64_t *pairs; /* set of (cp << 32 | cp), 0 = empty */
    size_t pair_cap, pair_n;
    uint64_t bloom[PAIR_BLOOM_BITS / 64]; /* most junctions are cleared here */

    variant ***memo; /* per row: VAR_COMBOS variants, built on demand */
    tdx_buf tmp[4];
    ghits scratch;
};

/* ---- hash table of key prefixes ------------------------------------------ */

static inline uint64_t fnv_step(uint64_t h, uint8_t c)
{
    return (h ^ c) * FNV_PRIME;
}

static const dent *tab_find(const watch *w, uint64_t h, const uint8_t *p, size_t len)
{
    size_t mask = w->tab_cap - 1;
    for (size_t i = tdx_mix64(h) & mask;; i = (i + 1) & mask) {
        const dent *e = &w->tab[i];
        if (e->len == 0)
            return NULL;
        if (e->h == h && e->len == len && memcmp(w->keys.p + e->off, p, len) == 0)
            return e;
    }
}

static void tab_grow(watch *w)
{
    size_t ncap = w->tab_cap ? w->tab_cap * 2 : 1024;
    dent *nt = gen_alloc(ncap * sizeof *nt);
    for (size_t i = 0; i < w->tab_cap; i++) {
        dent *e = &w->tab[i];
        if (e->len == 0)
            continue;
        size_t j = tdx_mix64(e->h) & (ncap - 1);
        while (nt[j].len)
            j = (j + 1) & (ncap - 1);
        nt[j] = *e;
    }
    tdx_free(w->tab);
    w->tab = nt;
    w->tab_cap = ncap;
}

static dent *tab_insert(watch *w, uint64_t h, const uint8_t *p, size_t len)
{
    if ((w->tab_n + 1) * 4 > w->tab_cap * 3)
        tab_grow(w);
    size_t mask = w->tab_cap - 1;
    size_t i = tdx_mix64(h) & mask;
    for (;; i = (i + 1) & mask) {
        dent *e = &w->tab[i];
        if (e->len == 0)
            break;
        if (e->h == h && e->len == len && memcmp(w->keys.p + e->off, p, len) == 0)
            return e;
    }
    dent *e = &w->tab[i];
    e->h = h;
    e->off = (uint32_t)w->keys.len;
    e->len = (uint32_t)len;
    e->inst = NO_INST;
    gen_put(&w->keys, p, len);
    w->tab_n++;
    return e;
}

static void pair_add(watch *w, uint64_t k)
{
    w->bloom[pair_bit(k) / 64] |= 1ULL << (pair_bit(k) % 64);
    if ((w->pair_n + 1) * 2 > w->pair_cap) {
        size_t ncap = w->pair_cap ? w->pair_cap * 2 : 1024;
        uint64_t *np = gen_alloc(ncap * sizeof *np);
        for (size_t i = 0; i < w->pair_cap; i++) {
            if (w->pairs[i] == 0)
                continue;
            size_t j = tdx_mix64(w->pairs[i]) & (ncap - 1);
            while (np[j])
                j = (j + 1) & (ncap - 1);
            np[j] = w->pairs[i];
        }
        tdx_free(w->pairs);
        w->pairs = np;
        w->pair_cap = ncap;
    }
    size_t mask = w->pair_cap - 1;
    for (size_t i = tdx_mix64(k) & mask;; i = (i + 1) & mask) {
        if (w->pairs[i] == k)
            return;
        if (w->pairs[i] == 0) {
            w->pairs[i] = k;
            w->pair_n++;
            return;
        }
    }
}

int watch_pair(const watch *w, uint32_t a, uint32_t b)
{
    uint64_t k = (uint64_t)a << 32 | b;
    if (w->pair_cap == 0 || k == 0 || !(w->bloom[pair_bit(k) / 64] >> (pair_bit(k) % 64) & 1))
        return 0;
    size_t mask = w->pair_cap - 1;
    for (size_t i = tdx_mix64(k) & mask;; i = (i + 1) & mask) {
        if (w->pairs[i] == k)
            return 1;
        if (w->pairs[i] == 0)
            return 0;
    }
}

/* Add key p[0..len) for row: its prefixes, its chain entry, its code-point pairs. */
static void add_key(watch *w, uint32_t row, const uint8_t *p, size_t len)
{
    uint64_t h = FNV_BASIS;
    dent *e = NULL;
    for (size_t i = 0; i < len; i++) {
        h = fnv_step(h, p[i]);
        if (i + 1 == len || (p[i + 1] & 0xC0) != 0x80)
            e = tab_insert(w, h, p, i + 1);
    }
    for (uint32_t k = e->inst; k != NO_INST; k = w->inst_next[k])
        if (w->inst_row[k] == row)
            return;
    if (w->ninst == w->inst_cap) {
        w->inst_cap = w->inst_cap ? w->inst_cap * 2 : 1024;
        w->inst_row = gen_realloc(w->inst_row, w->inst_cap * sizeof *w->inst_row);
        w->inst_next = gen_realloc(w->inst_next, w->inst_cap * sizeof *w->inst_next);
    }
    w->inst_row[w->ninst] = row;
    w->inst_next[w->ninst] = e->inst;
    e->inst = (uint32_t)w->ninst++;
    if (len > w->maxlen)
        w->maxlen = len;
    size_t l0;
    gen_cp(p, p + len, &l0);
    if (l0 == len)
        w->single_char_keys = 1;
    const uint8_t *q = p, *end = p + len;
    uint32_t prev = 0;
    while (q < end) {
        size_t l;
        uint32_t c = gen_cp(q, end, &l);
        if (prev)
            pair_add(w, (uint64_t)prev << 32 | c);
        prev = c;
        q += l;
    }
}

/* ---- regex expansion ------------------------------------------------------- */

/* A set of strings, as offsets into one buffer. */
typedef struct sset {
    tdx_buf bytes;
    uint32_t *off, *len;
    size_t n, cap;
    int overflow;
} sset;

static void sset_add(sset *s, const uint8_t *p, size_t len)
{
    if (s->n >= MAX_EXPANSIONS) {
        s->overflow = 1;
        return;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->off = gen_realloc(s->off, s->cap * sizeof *s->off);
        s->len = gen_realloc(s->len, s->cap * sizeof *s->len);
    }
    s->off[s->n] = (uint32_t)s->bytes.len;
    s->len[s->n] = (uint32_t)len;
    s->n++;
    gen_put(&s->bytes, p, len);
}

static void sset_free(sset *s)
{
    tdx_buf_free(&s->bytes);
    tdx_free(s->off);
    tdx_free(s->len);
    memset(s, 0, sizeof *s);
}

static const uint8_t *sset_str(const sset *s, size_t i)
{
    return s->bytes.p + s->off[i];
}

/* a := a x b (every string of a followed by every string of b). */
static void sset_concat(sset *a, const sset *b)
{
    sset r = {0};
    r.overflow = a->overflow || b->overflow;
    tdx_buf t = TDX_BUF_INIT;
    for (size_t i = 0; i < a->n && !r.overflow; i++)
        for (size_t j = 0; j < b->n && !r.overflow; j++) {
            tdx_buf_reset(&t);
            gen_put(&t, sset_str(a, i), a->len[i]);
            gen_put(&t, sset_str(b, j), b->len[j]);
            sset_add(&r, t.p, t.len);
        }
    tdx_buf_free(&t);
    sset_free(a);
    *a = r;
}

static void sset_union(sset *a, const sset *b)
{
    for (size_t j = 0; j < b->n; j++)
        sset_add(a, sset_str(b, j), b->len[j]);
    a->overflow |= b->overflow;
}

typedef struct rx {
    const uint8_t *p, *end;
    int bad;
} rx;

static void rx_alt(rx *x, sset *out);

static void add_char(sset *s, uint32_t c)
{
    uint8_t b[4];
    size_t n;
    if (c < 0x80) {
        b[0] = (uint8_t)tolower((int)c);
        n = 1;
    } else {
        n = 0;
        if (c < 0x800) {
            b[n++] = (uint8_t)(0xC0 | (c >> 6));
        } else if (c < 0x10000) {
            b[n++] = (uint8_t)(0xE0 | (c >> 12));
            b[n++] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
        } else {
            b[n++] = (uint8_t)(0xF0 | (c >> 18));
            b[n++] = (uint8_t)(0x80 | ((c >> 12) & 0x3F));
            b[n++] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
        }
        b[n++] = (uint8_t)(0x80 | (c & 0x3F));
    }
    sset_add(s, b, n);
}

static void rx_class(rx *x, sset *out)
{
    /* x->p is just after '[' */
    if (x->p < x->end && *x->p == '^') {
        x->bad = 1;
        return;
    }
    while (x->p < x->end && *x->p != ']') {
        size_t l;
        uint32_t a = gen_cp(x->p, x->end, &l);
        x->p += l;
        if (a == '\\') {
            if (x->p >= x->end) {
                x->bad = 1;
                return;
            }
            if (*x->p == 'd') {
                x->p++;
                for (uint32_t c = '0'; c <= '9'; c++)
                    add_char(out, c);
                continue;
            }
            if (isalnum(*x->p)) {
                x->bad = 1;
                return;
            }
            a = gen_cp(x->p, x->end, &l);
            x->p += l;
        }
        uint32_t b = a;
        if (x->p + 1 < x->end && *x->p == '-' && x->p[1] != ']') {
            x->p++;
            b = gen_cp(x->p, x->end, &l);
            x->p += l;
        }
        if (b < a || b - a > 256) {
            x->bad = 1;
            return;
        }
        for (uint32_t c = a; c <= b; c++)
            add_char(out, c);
    }
    if (x->p >= x->end)
        x->bad = 1;
    else
        x->p++;
}

static void rx_atom(rx *x, sset *out)
{
    size_t l;
    uint32_t c = gen_cp(x->p, x->end, &l);
    x->p += l;
    if (c == '(') {
        if (x->end - x->p >= 2 && x->p[0] == '?' && x->p[1] == ':')
            x->p += 2;
        else if (x->p < x->end && *x->p == '?')
            x->bad = 1;
        rx_alt(x, out);
        if (x->p < x->end && *x->p == ')')
            x->p++;
        else
            x->bad = 1;
    } else if (c == '[') {
        rx_class(x, out);
    } else if (c == '\\') {
        if (x->p >= x->end) {
            x->bad = 1;
            return;
        }
        uint8_t e = *x->p++;
        if (e == 'd') {
            for (uint32_t d = '0'; d <= '9'; d++)
                add_char(out, d);
        } else if (e == 's') {
            add_char(out, ' '); /* normalized text has only single spaces */
        } else if (isalnum(e)) {
            x->bad = 1;
        } else {
            add_char(out, e);
        }
    } else if (c == '.' || c == '*' || c == '+' || c == '^' || c == '$' || c == '{' || c == '?') {
        x->bad = 1;
    } else {
        add_char(out, c);
    }
}

static void rx_seq(rx *x, sset *out)
{
    sset_add(out, (const uint8_t *)"", 0);
    while (x->p < x->end && *x->p != '|' && *x->p != ')' && !x->bad && !out->overflow) {
        sset atom = {0};
        rx_atom(x, &atom);
        unsigned lo = 1, hi = 1;
        if (x->p < x->end && *x->p == '?') {
            lo = 0;
            x->p++;
        } else if (x->p < x->end && *x->p == '{') {
            char *e;
            lo = hi = (unsigned)strtoul((const char *)x->p + 1, &e, 10);
            if (*e == ',')
                hi = (unsigned)strtoul(e + 1, &e, 10);
            if (*e != '}' || hi < lo || hi > 8)
                x->bad = 1;
            else
                x->p = (const uint8_t *)e + 1;
        }
        if (x->p < x->end && (*x->p == '*' || *x->p == '+' || *x->p == '?'))
            x->bad = 1;
        /* atom{lo,hi} = union over k of atom^k */
        sset rep = {0}, acc = {0};
        sset_add(&acc, (const uint8_t *)"", 0);
        for (unsigned k = 0; k <= hi && !x->bad; k++) {
            if (k >= lo)
                sset_union(&rep, &acc);
            if (k < hi)
                sset_concat(&acc, &atom);
        }
        sset_concat(out, &rep);
        sset_free(&rep);
        sset_free(&acc);
        sset_free(&atom);
    }
}

static void rx_alt(rx *x, sset *out)
{
    rx_seq(x, out);
    while (x->p < x->end && *x->p == '|' && !x->bad) {
        x->p++;
        sset b = {0};
        rx_seq(x, &b);
        sset_union(out, &b);
        sset_free(&b);
    }
}

/* Expand a regex into the strings it matches; 0 when it cannot be done. */
static int expand_regex(const char *re, sset *out)
{
    rx x = {(const uint8_t *)re, (const uint8_t *)re + strlen(re), 0};
    rx_alt(&x, out);
    if (x.bad || x.p != x.end || out->overflow)
        return 0;
    for (size_t i = 0; i < out->n; i++)
        if (out->len[i] == 0)
            return 0;
    return 1;
}

/* ---- loading ---------------------------------------------------------------- */

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    char *e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\r'))
        *--e = 0;
    return s;
}

static uint32_t entity_id(watch *w, const char *name, uint32_t cat)
{
    uint32_t e = gen_strmap_get(&w->ent_map, name);
    if (e != UINT32_MAX)
        return e;
    if ((w->nents & (w->nents - 1)) == 0)
        w->ents = gen_realloc(w->ents, (w->nents ? 2 * w->nents : 1) * sizeof *w->ents);
    wentity *we = &w->ents[w->nents];
    memset(we, 0, sizeof *we);
    we->name = gen_strndup(name, strlen(name));
    we->category = cat;
    return gen_strmap_put(&w->ent_map, name, (uint32_t)w->nents++);
}

static uint32_t category_id(watch *w, const char *name)
{
    for (size_t i = 0; i < w->ncats; i++)
        if (strcmp(w->cats[i], name) == 0)
            return (uint32_t)i;
    w->cats = gen_realloc(w->cats, (w->ncats + 1) * sizeof *w->cats);
    w->cats[w->ncats] = gen_strndup(name, strlen(name));
    return (uint32_t)w->ncats++;
}

watch *watch_load(const char *path, gen_norm *gn)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        gen_die("cannot read watch list '%s'", path);
    watch *w = gen_alloc(sizeof *w);
    char *line = NULL;
    size_t cap = 0;
    ssize_t got;
    uint32_t lineno = 0;
    tdx_buf norm = TDX_BUF_INIT;
    while ((got = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
            line[--got] = 0;
        char *s = line;
        if (lineno == 1 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
            s += 3;
        char *t = trim(s);
        if (*t == 0 || *t == '#')
            continue;
        char *cols[4] = {0};
        int n = 0;
        for (char *p = s; n < 4;) {
            cols[n++] = p;
            char *tab = strchr(p, '\t');
            if (tab == NULL)
                break;
            *tab = 0;
            p = tab + 1;
        }
        if (n < 3)
            gen_die("%s:%u: expected entity<TAB>category<TAB>pattern", path, lineno);
        const char *ent = trim(cols[0]), *cat = trim(cols[1]);
        char *pat = trim(cols[2]);
        if (!*ent || !*cat || !*pat)
            gen_die("%s:%u: empty column", path, lineno);
        unsigned flags = 0;
        if (n == 4) {
            char *fl = trim(cols[3]), *save = NULL;
            for (char *tok = strtok_r(fl, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
                tok = trim(tok);
                if (strcmp(tok, "substring") == 0)
                    flags |= ROW_SUBSTRING;
                else if (*tok)
                    gen_die("%s:%u: unknown flag '%s'", path, lineno, tok);
            }
        }
        size_t plen = strlen(pat);
        if (plen >= 2 && pat[0] == '/' && pat[plen - 1] == '/') {
            flags |= ROW_REGEX;
            pat[plen - 1] = 0;
            pat++;
        }
        uint32_t c = category_id(w, cat);
        uint32_t e = entity_id(w, ent, c);
        uint32_t row = (uint32_t)w->nrows;
        if ((row & (row - 1)) == 0) /* grow at powers of two */
            w->rows = gen_realloc(w->rows, (row ? 2 * (size_t)row : 1) * sizeof *w->rows);
        w->rows[row] = (wrow){e, lineno, flags, gen_strndup(pat, strlen(pat))};
        w->nrows++;
        if (flags & ROW_REGEX) {
            sset ex = {0};
            if (expand_regex(pat, &ex)) {
                for (size_t i = 0; i < ex.n; i++)
                    add_key(w, row, sset_str(&ex, i), ex.len[i]);
            } else {
                w->rows[row].flags |= ROW_UNCHECKED;
                w->unchecked++;
                gen_warn("%s:%u: regex /%s/ matches an unbounded set of strings; the ground "
                         "truth does not account for it",
                         path, lineno, pat);
            }
            sset_free(&ex);
        } else {
            gen_normalize(gn, pat, strlen(pat), &norm, NULL, NULL);
            if (norm.len == 0)
                gen_die("%s:%u: pattern normalizes to nothing", path, lineno);
            add_key(w, row, norm.p, norm.len);
            wentity *we = &w->ents[e];
            we->lits = gen_realloc(we->lits, (we->nlits + 1) * sizeof *we->lits);
            we->lits[we->nlits++] = row;
        }
    }
    free(line);
    fclose(f);
    tdx_buf_free(&norm);
    if (w->nrows == 0)
        gen_die("watch list '%s' has no rows", path);
    w->memo = gen_alloc(w->nrows * sizeof *w->memo);
    return w;
}

void watch_free(watch *w)
{
    if (w == NULL)
        return;
    for (size_t i = 0; i < w->nrows; i++) {
        tdx_free(w->rows[i].text);
        if (w->memo[i] == NULL)
            continue;
        for (int k = 0; k < VAR_COMBOS; k++) {
            variant *v = w->memo[i][k];
            if (v == NULL)
                continue;
            tdx_free(v->text);
            tdx_free(v->norm);
            tdx_free(v->sub);
            tdx_free(v);
        }
        tdx_free(w->memo[i]);
    }
    for (size_t i = 0; i < w->nents; i++) {
        tdx_free(w->ents[i].name);
        tdx_free(w->ents[i].lits);
    }
    for (size_t i = 0; i < w->ncats; i++)
        tdx_free(w->cats[i]);
    for (int i = 0; i < 4; i++)
        tdx_buf_free(&w->tmp[i]);
    tdx_free(w->scratch.v);
    tdx_free(w->memo);
    tdx_free(w->rows);
    tdx_free(w->ents);
    tdx_free(w->cats);
    gen_strmap_free(&w->ent_map);
    tdx_buf_free(&w->keys);
    tdx_free(w->tab);
    tdx_free(w->inst_row);
    tdx_free(w->inst_next);
    tdx_free(w->pairs);
    tdx_free(w);
}

size_t watch_nrows(const watch *w)
{
    return w->nrows;
}
const wrow *watch_row(const watch *w, uint32_t row)
{
    return &w->rows[row];
}
size_t watch_nentities(const watch *w)
{
    return w->nents;
}
const wentity *watch_entity(const watch *w, uint32_t e)
{
    return &w->ents[e];
}
const char *watch_category(const watch *w, uint32_t c)
{
    return w->cats[c];
}
size_t watch_unchecked(const watch *w)
{
    return w->unchecked;
}
size_t watch_maxlen(const watch *w)
{
    return w->maxlen;
}

/* ---- scanning ---------------------------------------------------------------- */

void ghits_push(ghits *h, uint32_t start, uint32_t end, uint32_t row)
{
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->v = gen_realloc(h->v, h->cap * sizeof *h->v);
    }
    h->v[h->n++] = (ghit){start, end, row};
}

void watch_scan_raw(const watch *w, const uint8_t *t, size_t len, size_t from, size_t to,
                    ghits *out)
{
    if (w->tab_cap == 0)
        return;
    if (to > len)
        to = len;
    for (size_t s = from; s < to; s++) {
        if ((t[s] & 0xC0) == 0x80)
            continue;
        uint64_t h = FNV_BASIS;
        size_t lim = len - s < w->maxlen ? len - s : w->maxlen;
        for (size_t i = 0; i < lim; i++) {
            h = fnv_step(h, t[s + i]);
            if (s + i + 1 < len && (t[s + i + 1] & 0xC0) == 0x80)
                continue;
            const dent *e = tab_find(w, h, t + s, i + 1);
            if (e == NULL)
                break;
            for (uint32_t k = e->inst; k != NO_INST; k = w->inst_next[k])
                ghits_push(out, (uint32_t)s, (uint32_t)(s + i + 1), w->inst_row[k]);
        }
    }
}

int watch_may_hold(const watch *w, const uint8_t *t, size_t len)
{
    if (w->single_char_keys)
        return 1;
    const uint8_t *p = t, *end = t + len;
    uint32_t prev = 0;
    while (p < end) {
        size_t l;
        uint32_t c = gen_cp(p, end, &l);
        if (prev && watch_pair(w, prev, c))
            return 1;
        prev = c;
        p += l;
    }
    return 0;
}

static int boundary_ok(const watch *w, const uint8_t *t, size_t len, const ghit *h)
{
    if (w->rows[h->row].flags & ROW_SUBSTRING)
        return 1;
    if (gen_is_alnum(t[h->start]) && h->start > 0 && gen_is_alnum(t[h->start - 1]))
        return 0;
    if (gen_is_alnum(t[h->end - 1]) && h->end < len && gen_is_alnum(t[h->end]))
        return 0;
    return 1;
}

static int cmp_row_end_start(const void *a, const void *b)
{
    const ghit *x = a, *y = b;
    if (x->row != y->row)
        return x->row < y->row ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return (x->start > y->start) - (x->start < y->start);
}

static int cmp_start_end_row(const void *a, const void *b)
{
    const ghit *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->end != y->end)
        return x->end < y->end ? -1 : 1;
    return (x->row > y->row) - (x->row < y->row);
}

void watch_scan(const watch *w, const uint8_t *t, size_t len, ghits *out)
{
    out->n = 0;
    watch_scan_raw(w, t, len, 0, len, out);
    if (out->n == 0)
        return;
    qsort(out->v, out->n, sizeof *out->v, cmp_row_end_start);
    size_t k = 0;
    for (size_t i = 0; i < out->n; i++) {
        const ghit *h = &out->v[i];
        /* Hyperscan reports one (leftmost) start per end offset of a regex. */
        if ((w->rows[h->row].flags & ROW_REGEX) && i > 0 && out->v[i - 1].row == h->row &&
            out->v[i - 1].end == h->end)
            continue;
        if (i > 0 && out->v[i - 1].row == h->row && out->v[i - 1].end == h->end &&
            out->v[i - 1].start == h->start)
            continue;
        out->v[k++] = *h;
    }
    size_t m = 0;
    for (size_t i = 0; i < k; i++)
        if (boundary_ok(w, t, len, &out->v[i]))
            out->v[m++] = out->v[i];
    out->n = m;
    qsort(out->v, out->n, sizeof *out->v, cmp_start_end_row);
}

int watch_crosses(const watch *w, const uint8_t *t, size_t len, size_t j_lo, size_t j_hi)
{
    ghits *h = &((watch *)w)->scratch;
    h->n = 0;
    size_t from = j_lo > w->maxlen ? j_lo - w->maxlen : 0;
    watch_scan_raw(w, t, len, from, j_lo, h);
    for (size_t i = 0; i < h->n; i++)
        if (h->v[i].end > j_hi && boundary_ok(w, t, len, &h->v[i]))
            return 1;
    return 0;
}

/* ---- variants of aliases --------------------------------------------------------- */

/* The transforms of a variant chain through two buffers: result into a. */
static void take(tdx_buf *a, tdx_buf *b)
{
    tdx_buf t = *a;
    *a = *b;
    *b = t;
}

static void spaced(const char *s, size_t len, tdx_buf *out)
{
    const uint8_t *p = (const uint8_t *)s, *end = p + len;
    uint32_t prev = 0;
    tdx_buf_reset(out);
    while (p < end) {
        size_t l;
        uint32_t c = gen_cp(p, end, &l);
        if (prev && gen_is_cjk(prev) && gen_is_cjk(c))
            gen_put(out, " ", 1);
        gen_put(out, p, l);
        prev = c;
        p += l;
    }
}

static void toggle_case(const char *s, size_t len, tdx_buf *out)
{
    int has_lower = 0;
    for (size_t i = 0; i < len; i++)
        has_lower |= s[i] >= 'a' && s[i] <= 'z';
    tdx_buf_reset(out);
    gen_put(out, s, len);
    for (size_t i = 0; i < len; i++)
        out->p[i] = (uint8_t)(has_lower ? toupper(out->p[i]) : tolower(out->p[i]));
}

/*
 * Map a hit [ns, ne) of normalize(text) back to text's bytes by
 * normalizing growing prefixes: the hit starts with the character whose
 * inclusion first makes the output longer than ns, and ends with the one
 * whose inclusion first makes it reach ne.
 */
static void map_back(gen_norm *gn, const char *text, size_t len, uint32_t ns, uint32_t ne,
                     uint32_t *out_s, uint32_t *out_e, tdx_buf *tmp)
{
    const uint8_t *p = (const uint8_t *)text, *end = p + len;
    size_t b = 0;
    int have_s = 0;
    *out_s = 0;
    *out_e = (uint32_t)len;
    while (b < len) {
        size_t l;
        gen_cp(p + b, end, &l);
        gen_normalize(gn, text, b + l, tmp, NULL, NULL);
        if (!have_s && tmp->len > ns) {
            *out_s = (uint32_t)b;
            have_s = 1;
        }
        b += l;
        if (tmp->len >= ne) {
            *out_e = (uint32_t)b;
            return;
        }
    }
}

const variant *watch_variant(watch *w, gen_norm *gn, uint32_t row, unsigned combo)
{
    combo &= VAR_COMBOS - 1;
    if (w->memo[row] == NULL)
        w->memo[row] = gen_alloc(VAR_COMBOS * sizeof **w->memo);
    if (w->memo[row][combo])
        return w->memo[row][combo];
    variant *v = gen_alloc(sizeof *v);
    tdx_buf *a = &w->tmp[0], *b = &w->tmp[1];
    const char *src = w->rows[row].text;
    tdx_buf_reset(a);
    gen_put(a, src, strlen(src));
    if (combo & VAR_TRAD) {
        gen_to_trad(gn, (const char *)a->p, a->len, b);
        take(a, b);
    }
    if (combo & VAR_CASE) {
        toggle_case((const char *)a->p, a->len, b);
        take(a, b);
    }
    if (combo & VAR_SPACED) {
        spaced((const char *)a->p, a->len, b);
        take(a, b);
    }
    if (combo & VAR_FW) {
        gen_to_fullwidth((const char *)a->p, a->len, b);
        take(a, b);
    }
    v->text = gen_strndup((const char *)a->p, a->len);
    v->len = (uint32_t)a->len;
    gen_normalize(gn, v->text, v->len, b, NULL, NULL);
    v->norm = gen_strndup((const char *)b->p, b->len);
    v->nlen = (uint32_t)b->len;
    if (v->nlen) {
        size_t l;
        v->first = gen_cp(b->p, b->p + b->len, &l);
        v->last = gen_last_cp(b->p, b->p + b->len);
    }
    ghits hits = {0};
    watch_scan(w, (const uint8_t *)v->norm, v->nlen, &hits);
    v->sub = gen_alloc((hits.n + 1) * sizeof *v->sub);
    for (size_t i = 0; i < hits.n; i++) {
        uint32_t ent = w->rows[hits.v[i].row].entity, s, e;
        if (hits.v[i].start == 0 && hits.v[i].end == v->nlen) {
            s = 0;
            e = v->len;
        } else {
            map_back(gn, v->text, v->len, hits.v[i].start, hits.v[i].end, &s, &e, &w->tmp[2]);
        }
        int dup = 0;
        for (uint32_t k = 0; k < v->nsub; k++)
            dup |= v->sub[k].entity == ent && v->sub[k].start == s && v->sub[k].end == e;
        if (!dup)
            v->sub[v->nsub++] = (subhit){ent, s, e};
        if (ent == w->rows[row].entity)
            v->ok = 1;
    }
    tdx_free(hits.v);
    w->memo[row][combo] = v;
    return v;
}
