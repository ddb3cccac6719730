/*
 * norm_build.c - builds a normalizer's tables by asking ICU about every
 * code point once (tdx_norm_create).
 *
 * Pipeline position: runs once per process and step set, before any
 * document is normalized; the result is shared read-only by all workers.
 *
 * Main data structures (see norm_int.h):
 *   nf     nfkc_cf of each character alone (unorm2_normalize, called only
 *          for the ~12k code points that are not unorm2_isInert);
 *   t1     Traditional-Simplified of each character alone (utrans, called
 *          only for the transliterator's source set, ~3.5k characters);
 *   fast   the composition of the enabled steps for each character, with
 *          the flags the hot loop needs (fast_bmp is its BMP part as a
 *          direct array);
 *   phrases / pairs  the multi-character t2s rules, indexed by their first
 *          two characters.
 *
 * The t2s rules come from utrans_toRules().  Every rule is of the plain form
 * "LHS > RHS;" (no context, no cursor, no variables, no filter): they are
 * parsed, and each one is checked against ICU itself (transliterating LHS
 * alone must give RHS; the characters of all LHS together must equal the
 * transliterator's source set).  If any of that fails - a future ICU with
 * other rule syntax - the normalizer falls back to running ICU on every run
 * of two or more source-set characters (t2s_icu), which is exact without
 * knowing the rules but slower.
 *
 * Why rule-level knowledge is exact: ICU tries the rules at the cursor in
 * order and applies the first that matches; it rejects rule sets in which
 * an earlier rule masks a later one (U_RULE_MASK_ERROR), so of two keys
 * matching at the same position the longer must come first: first match is
 * longest match.  After a replacement the cursor moves past the replaced
 * text.  Hence the output is: scanning left to right, at each position the
 * longest rule key that matches (else the one-character rule, else the
 * character itself).  A multi-character key consists of S characters only,
 * so no match crosses a character outside S, and a match can start at a
 * position only if the first two characters there are the first two of
 * some key (the pair index).
 *
 * Threading: build-time only; the finished tdx_norm is immutable.
 */
#include "norm_int.h"

#include "../common/alloc.h"
#include "../common/hash.h"
#include "../common/utf8.h"

#include <stdio.h>
#include <string.h>
#include <unicode/uchar.h>
#include <unicode/uset.h>
#include <unicode/ustring.h>
#include <unicode/uversion.h>

#define NBLK   0x1100
#define MAXSTR 64

typedef struct tabb {
    cptab *t;
    size_t cap;
    uint32_t slots[8192]; /* block id + 1, by block hash */
} tabb;

typedef struct rule {
    uint32_t lhs, rhs; /* pool offsets */
} rule;

typedef struct builder {
    tdx_norm *n;
    tdx_err *err;
    UTransliterator *tr;
    USet *src; /* transliterator source set */
    USet *S;   /* characters of multi-character rule keys */
    USet *F;   /* first characters of multi-character rule keys */
    USet *F2;  /* second characters of multi-character rule keys */
    size_t cap_pool, cap_bpool;
    rule *rules;
    size_t nrules, cap_rules;
    tabb *tb;           /* scratch for one table at a time */
    uint8_t *srcbits;   /* src as a bitmap over all code points */
    const uint8_t *cls; /* the class table */
    uint32_t empty_str; /* pool offset of the empty string */
} builder;

static int oom(builder *b)
{
    return tdx_err_set(b->err, TDX_ENOMEM, "out of memory");
}

static int icu_fail(builder *b, const char *what, UErrorCode st)
{
    return norm_icu_err(b->err, what, st);
}

static int pool_add(builder *b, const uint32_t *cps, uint32_t len, uint32_t *out_off)
{
    tdx_norm *n = b->n;
    if (n->npool + len + 1 > b->cap_pool) {
        size_t cap = b->cap_pool ? b->cap_pool * 2 : 4096;
        while (cap < n->npool + len + 1)
            cap *= 2;
        uint32_t *p = tdx_reallocarray(n->pool, cap, sizeof *p);
        if (p == NULL)
            return oom(b);
        n->pool = p;
        b->cap_pool = cap;
    }
    if (n->npool + len + 1 > MAP_VAL_MASK)
        return tdx_err_set(b->err, TDX_EINTERNAL, "normalization string pool overflow");
    *out_off = (uint32_t)n->npool;
    n->pool[n->npool++] = len;
    if (len)
        memcpy(n->pool + n->npool, cps, len * sizeof *cps);
    n->npool += len;
    return 0;
}

static size_t u16_to_cps(const UChar *u, int32_t len, uint32_t *out)
{
    size_t n = 0;
    int32_t i = 0;
    while (i < len) {
        UChar32 c;
        U16_NEXT(u, i, len, c);
        out[n++] = (uint32_t)c;
    }
    return n;
}

/* ---- two-stage tables ---------------------------------------------------- */

static int tab_add(builder *b, size_t blk, const uint32_t vals[256])
{
    tabb *tb = b->tb;
    cptab *t = tb->t;
    uint64_t h = tdx_hash64(vals, 256 * sizeof(uint32_t));
    size_t mask = sizeof tb->slots / sizeof tb->slots[0] - 1;
    size_t i = (size_t)h & mask;
    while (tb->slots[i]) {
        uint32_t id = tb->slots[i] - 1;
        if (memcmp(t->blocks + ((size_t)id << 8), vals, 256 * sizeof(uint32_t)) == 0) {
            t->idx[blk] = (uint16_t)id;
            return 0;
        }
        i = (i + 1) & mask;
    }
    if (t->nblocks == tb->cap) {
        size_t cap = tb->cap ? tb->cap * 2 : 64;
        uint32_t *p = tdx_reallocarray(t->blocks, cap, 256 * sizeof(uint32_t));
        if (p == NULL)
            return oom(b);
        t->blocks = p;
        tb->cap = cap;
    }
    memcpy(t->blocks + (t->nblocks << 8), vals, 256 * sizeof(uint32_t));
    t->idx[blk] = (uint16_t)t->nblocks;
    tb->slots[i] = (uint32_t)++t->nblocks;
    return 0;
}

/* Build table t from fn(b, cp) over all code points. */
static int tab_build(builder *b, cptab *t, int (*fn)(builder *, uint32_t, uint32_t *))
{
    memset(b->tb, 0, sizeof *b->tb);
    b->tb->t = t;
    uint32_t vals[256];
    for (size_t blk = 0; blk < NBLK; blk++) {
        for (uint32_t i = 0; i < 256; i++) {
            int rc = fn(b, (uint32_t)(blk << 8) | i, &vals[i]);
            if (rc)
                return rc;
        }
        int rc = tab_add(b, blk, vals);
        if (rc)
            return rc;
    }
    return 0;
}

static int is_surrogate(uint32_t cp)
{
    return cp >= 0xD800 && cp <= 0xDFFF;
}

/* ---- nfkc_cf ------------------------------------------------------------- */

static int nf_entry(builder *b, uint32_t cp, uint32_t *out)
{
    tdx_norm *n = b->n;
    *out = 0;
    if (!(n->steps & TDX_NORM_NFKC_CF) || is_surrogate(cp) ||
        unorm2_isInert(n->nfkc_cf, (UChar32)cp))
        return 0;
    uint32_t nb = unorm2_hasBoundaryBefore(n->nfkc_cf, (UChar32)cp) ? 0 : MAP_NB;
    UChar in[2], o[MAXSTR];
    int32_t l = 0;
    U16_APPEND_UNSAFE(in, l, cp);
    UErrorCode st = U_ZERO_ERROR;
    int32_t ol = unorm2_normalize(n->nfkc_cf, in, l, o, MAXSTR, &st);
    if (U_FAILURE(st))
        return icu_fail(b, "normalize", st);
    uint32_t cps[MAXSTR];
    size_t nc = u16_to_cps(o, ol, cps);
    if (nc == 1 && cps[0] == cp) {
        *out = nb;
        return 0;
    }
    if (nc == 1 && cps[0] != 0) {
        *out = cps[0] | nb;
        return 0;
    }
    if (nc == 0) {
        *out = MAP_STR | b->empty_str | nb;
        return 0;
    }
    uint32_t off;
    int rc = pool_add(b, cps, (uint32_t)nc, &off);
    if (rc)
        return rc;
    *out = MAP_STR | off | nb;
    return 0;
}

/* ---- t2s ------------------------------------------------------------------- */

static int translit(builder *b, const uint32_t *cps, uint32_t len, uint32_t *out, size_t *out_len)
{
    UChar u[MAXSTR * 2];
    int32_t ul = 0;
    for (uint32_t i = 0; i < len; i++) {
        if (ul + 2 > MAXSTR)
            return tdx_err_set(b->err, TDX_EINTERNAL, "t2s rule too long");
        U16_APPEND_UNSAFE(u, ul, cps[i]);
    }
    UErrorCode st = U_ZERO_ERROR;
    int32_t limit = ul;
    utrans_transUChars(b->tr, u, &ul, MAXSTR * 2, 0, &limit, &st);
    if (U_FAILURE(st))
        return icu_fail(b, "transliterate", st);
    *out_len = u16_to_cps(u, ul, out);
    return 0;
}

static int t1_entry(builder *b, uint32_t cp, uint32_t *out)
{
    tdx_norm *n = b->n;
    *out = 0;
    if (!(n->steps & TDX_NORM_T2S) || is_surrogate(cp) || !(b->srcbits[cp >> 3] >> (cp & 7) & 1))
        return 0;
    uint32_t o[MAXSTR];
    size_t ol = 0;
    int rc = translit(b, &cp, 1, o, &ol);
    if (rc)
        return rc;
    uint32_t e = 0;
    if (ol == 1 && o[0] == cp)
        e = 0;
    else if (ol == 1 && o[0] != 0)
        e = o[0];
    else if (ol == 0)
        e = MAP_STR | b->empty_str;
    else {
        uint32_t off;
        if ((rc = pool_add(b, o, (uint32_t)ol, &off)) != 0)
            return rc;
        e = MAP_STR | off;
    }
    if (uset_contains(b->S, (UChar32)cp))
        e |= MAP_S;
    if (uset_contains(b->F, (UChar32)cp))
        e |= MAP_FIRST;
    *out = e;
    return 0;
}

static int is_rule_char(uint32_t c)
{
    /* ASCII is where rule syntax lives (quotes, escapes, operators); the
     * alternative operators are arrows and U+2206. */
    return c >= 0x80 && !u_hasBinaryProperty((UChar32)c, UCHAR_PATTERN_WHITE_SPACE) &&
           c != 0x2190 && c != 0x2192 && c != 0x2194 && c != 0x2206;
}

/*
 * Parse utrans_toRules() output into b->rules.  Returns 1 when every
 * statement has the plain form, 0 when not (fallback), <0 on error.
 */
static int parse_rules(builder *b)
{
    UErrorCode st = U_ZERO_ERROR;
    int32_t len = utrans_toRules(b->tr, 0, NULL, 0, &st);
    if (st != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(st))
        return icu_fail(b, "toRules", st);
    UChar *r = tdx_reallocarray(NULL, (size_t)len + 1, sizeof *r);
    uint32_t *cps = tdx_reallocarray(NULL, (size_t)len + 1, sizeof *cps);
    int rc = 1;
    if (r == NULL || cps == NULL) {
        rc = oom(b);
        goto done;
    }
    st = U_ZERO_ERROR;
    utrans_toRules(b->tr, 0, r, len + 1, &st);
    if (U_FAILURE(st)) {
        rc = icu_fail(b, "toRules", st);
        goto done;
    }
    size_t nc = u16_to_cps(r, len, cps), i = 0;
    while (i < nc && rc == 1) {
        while (i < nc && (cps[i] == ' ' || cps[i] == '\n' || cps[i] == '\r' || cps[i] == '\t'))
            i++;
        if (i == nc)
            break;
        /* LHS ' > ' RHS ';' */
        size_t l0 = i;
        while (i < nc && is_rule_char(cps[i]))
            i++;
        size_t l1 = i;
        if (l1 == l0 || nc - i < 3 || cps[i] != ' ' || cps[i + 1] != '>' || cps[i + 2] != ' ') {
            rc = 0;
            break;
        }
        i += 3;
        size_t r0 = i;
        while (i < nc && is_rule_char(cps[i]))
            i++;
        size_t r1 = i;
        if (r1 == r0 || i == nc || cps[i] != ';' || l1 - l0 > MAXSTR / 2 || r1 - r0 > MAXSTR / 2) {
            rc = 0;
            break;
        }
        i++;
        if (b->nrules == b->cap_rules) {
            size_t cap = b->cap_rules ? b->cap_rules * 2 : 1024;
            rule *p = tdx_reallocarray(b->rules, cap, sizeof *p);
            if (p == NULL) {
                rc = oom(b);
                break;
            }
            b->rules = p;
            b->cap_rules = cap;
        }
        rule *ru = &b->rules[b->nrules];
        int e = pool_add(b, cps + l0, (uint32_t)(l1 - l0), &ru->lhs);
        if (e == 0)
            e = pool_add(b, cps + r0, (uint32_t)(r1 - r0), &ru->rhs);
        if (e) {
            rc = e;
            break;
        }
        b->nrules++;
    }
done:
    tdx_free(r);
    tdx_free(cps);
    return rc;
}

/* Append the UTF-8 of a pool string to the byte pool. */
static int bpool_add(builder *b, uint32_t str, uint32_t *out_off, uint32_t *out_len)
{
    tdx_norm *n = b->n;
    uint32_t len;
    const uint32_t *cps = norm_pool_str(n, str, &len);
    if (n->nbpool + (size_t)len * 4 > b->cap_bpool) {
        size_t cap = b->cap_bpool ? b->cap_bpool * 2 : 16384;
        while (cap < n->nbpool + (size_t)len * 4)
            cap *= 2;
        uint8_t *q = tdx_realloc(n->bpool, cap);
        if (q == NULL)
            return oom(b);
        n->bpool = q;
        b->cap_bpool = cap;
    }
    uint8_t *p = n->bpool;
    *out_off = (uint32_t)n->nbpool;
    for (uint32_t i = 0; i < len; i++)
        n->nbpool += tdx_utf8_encode(p + n->nbpool, cps[i]);
    *out_len = (uint32_t)(n->nbpool - *out_off);
    return 0;
}

/*
 * UTF-8 of every phrase, and whether the fast path may match keys on the
 * source bytes: that needs every character of S to be inert under nfkc_cf
 * (unchanged, a boundary on both sides), so that the t2s input is the
 * source itself.
 */
static int phrase_bytes(builder *b)
{
    tdx_norm *n = b->n;
    for (size_t i = 0; i < n->nphrases; i++) {
        norm_phrase *ph = &n->phrases[i];
        int rc = bpool_add(b, ph->lhs, &ph->lhs8, &ph->lhs8_len);
        if (rc == 0)
            rc = bpool_add(b, ph->rhs, &ph->rhs8, &ph->rhs8_len);
        if (rc)
            return rc;
    }
    int ok = 1;
    int32_t nitems = uset_getItemCount(b->S);
    for (int32_t i = 0; i < nitems && ok; i++) {
        UErrorCode st = U_ZERO_ERROR;
        UChar32 lo, hi;
        uset_getItem(b->S, i, &lo, &hi, NULL, 0, &st);
        for (UChar32 c = lo; c <= hi && ok; c++)
            if ((n->steps & TDX_NORM_NFKC_CF) && !unorm2_isInert(n->nfkc_cf, c))
                ok = 0;
    }
    n->phrase_inline = ok;
    return 1;
}

/*
 * Check the parsed rules against ICU and build S, F and the phrase index.
 * Returns 1 when the rules can be used natively, 0 for the fallback.
 */
static int check_rules(builder *b)
{
    tdx_norm *n = b->n;
    USet *keys = uset_openEmpty();
    if (keys == NULL)
        return oom(b);
    int ok = 1;
    size_t nmulti = 0;
    for (size_t i = 0; i < b->nrules && ok == 1; i++) {
        uint32_t ll, rl;
        const uint32_t *lhs = norm_pool_str(n, b->rules[i].lhs, &ll);
        const uint32_t *rhs = norm_pool_str(n, b->rules[i].rhs, &rl);
        for (uint32_t k = 0; k < ll; k++)
            uset_add(keys, (UChar32)lhs[k]);
        if (ll > 1) {
            nmulti++;
            for (uint32_t k = 0; k < ll; k++)
                uset_add(b->S, (UChar32)lhs[k]);
            uset_add(b->F, (UChar32)lhs[0]);
            uset_add(b->F2, (UChar32)lhs[1]);
        }
        uint32_t o[MAXSTR];
        size_t ol = 0;
        int rc = translit(b, lhs, ll, o, &ol);
        if (rc) {
            ok = rc;
            break;
        }
        if (ol != rl || memcmp(o, rhs, rl * sizeof *o) != 0)
            ok = 0;
    }
    if (ok == 1 && !uset_equals(keys, b->src))
        ok = 0;
    uset_close(keys);
    if (ok != 1)
        return ok;

    /* Phrases grouped by their first two characters, longest first. */
    n->phrases = tdx_reallocarray(NULL, nmulti ? nmulti : 1, sizeof *n->phrases);
    if (n->phrases == NULL)
        return oom(b);
    size_t cap = 16;
    while (cap < nmulti * 2)
        cap *= 2;
    n->pairs = tdx_calloc(cap, sizeof *n->pairs);
    if (n->pairs == NULL)
        return oom(b);
    n->npairs_cap = cap;
    /* Insertion into per-pair groups: collect the multi rules in pair order
     * with a simple counting pass over the pair table. */
    for (size_t i = 0; i < b->nrules; i++) {
        uint32_t ll;
        const uint32_t *lhs = norm_pool_str(n, b->rules[i].lhs, &ll);
        if (ll < 2)
            continue;
        uint64_t key = (((uint64_t)lhs[0] << 21) | lhs[1]) + 1;
        size_t j = (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 40) & (cap - 1);
        while (n->pairs[j].key != 0 && n->pairs[j].key != key)
            j = (j + 1) & (cap - 1);
        n->pairs[j].key = key;
        n->pairs[j].count++;
    }
    uint32_t next = 0;
    for (size_t j = 0; j < cap; j++) {
        if (n->pairs[j].key == 0)
            continue;
        n->pairs[j].first = next;
        next += n->pairs[j].count;
        n->pairs[j].count = 0;
    }
    for (size_t i = 0; i < b->nrules; i++) {
        uint32_t ll;
        const uint32_t *lhs = norm_pool_str(n, b->rules[i].lhs, &ll);
        if (ll < 2)
            continue;
        norm_pair *p = (norm_pair *)norm_pair_find(n, lhs[0], lhs[1]);
        /* insertion sort within the group: longest key first */
        norm_phrase ph = {b->rules[i].lhs, b->rules[i].rhs, 0, 0, 0, 0};
        uint32_t k = p->first + p->count++;
        while (k > p->first) {
            uint32_t pl;
            norm_pool_str(n, n->phrases[k - 1].lhs, &pl);
            if (pl >= ll)
                break;
            n->phrases[k] = n->phrases[k - 1];
            k--;
        }
        n->phrases[k] = ph;
    }
    n->nphrases = nmulti;
    return phrase_bytes(b);
}

static int t2s_setup(builder *b)
{
    tdx_norm *n = b->n;
    UErrorCode st = U_ZERO_ERROR;
    int rc = norm_open_t2s(&b->tr, b->err);
    if (rc)
        return rc;
    b->src = uset_openEmpty();
    b->S = uset_openEmpty();
    b->F = uset_openEmpty();
    b->F2 = uset_openEmpty();
    if (b->src == NULL || b->S == NULL || b->F == NULL || b->F2 == NULL)
        return oom(b);
    utrans_getSourceSet(b->tr, 0, b->src, &st);
    if (U_FAILURE(st))
        return icu_fail(b, "transliterator source set", st);
    /* A bitmap, so the pass over all code points does not search the set. */
    b->srcbits = tdx_calloc(0x110000 / 8, 1);
    if (b->srcbits == NULL)
        return oom(b);
    int32_t nitems = uset_getItemCount(b->src);
    for (int32_t i = 0; i < nitems; i++) {
        UChar32 lo, hi;
        if (uset_getItem(b->src, i, &lo, &hi, NULL, 0, &st) != 0 || U_FAILURE(st))
            return icu_fail(b, "transliterator source set", st);
        for (UChar32 c = lo; c <= hi; c++)
            b->srcbits[c >> 3] |= (uint8_t)(1u << (c & 7));
    }
    int ok = (n->flags & TDX_NORM_X_ICU_T2S) ? 0 : parse_rules(b);
    if (ok == 1)
        ok = check_rules(b);
    if (ok < 0)
        return ok;
    if (ok == 0) {
        /* Fallback: every source-set character may take part in a rule. */
        n->t2s_icu = 1;
        uset_clear(b->S);
        uset_addAll(b->S, b->src);
        uset_clear(b->F);
        uset_addAll(b->F, b->src);
        uset_clear(b->F2);
        uset_addAll(b->F2, b->src);
        tdx_free(n->phrases);
        tdx_free(n->pairs);
        tdx_free(n->bpool);
        n->phrases = NULL;
        n->pairs = NULL;
        n->bpool = NULL;
        n->nbpool = 0;
        n->phrase_inline = 0;
        n->nphrases = 0;
        n->npairs_cap = 0;
    }
    return 0;
}

/* ---- fast entries ------------------------------------------------------------ */

static uint32_t utf8_entry(uint32_t c, uint32_t *out_len)
{
    uint8_t u[4] = {0};
    size_t l;
    if (c < 0x80) {
        u[0] = (uint8_t)c;
        l = 1;
    } else if (c < 0x800) {
        u[0] = (uint8_t)(0xC0 | (c >> 6));
        u[1] = (uint8_t)(0x80 | (c & 0x3F));
        l = 2;
    } else {
        u[0] = (uint8_t)(0xE0 | (c >> 12));
        u[1] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
        u[2] = (uint8_t)(0x80 | (c & 0x3F));
        l = 3;
    }
    *out_len = (uint32_t)l;
    /* Byte order as in memory, so the hot loop can store the word. */
    uint32_t w;
    memcpy(&w, u, 4);
    return w & 0xFFFFFF;
}

static int fast_entry(builder *b, uint32_t cp, uint32_t *out)
{
    tdx_norm *n = b->n;
    const uint8_t *cls = b->cls;
    int t2s = (n->steps & TDX_NORM_T2S) != 0;
    if (is_surrogate(cp)) {
        *out = FE_SPECIAL;
        return 0;
    }
    uint32_t nfe = cptab_get(&n->nf, cp);
    uint32_t nb = (nfe & MAP_NB) ? FE_NB : 0;
    uint32_t buf[1];
    const uint32_t *d;
    uint32_t dl = norm_map_apply(n, nfe, cp, buf, &d);
    if (nb || dl != 1) {
        *out = FE_SPECIAL | nb;
        return 0;
    }
    uint32_t dd = d[0], flags = 0;
    uint32_t t1e = t2s ? cptab_get(&n->t1, dd) : 0;
    if (t2s) {
        if (dd != cp && (t1e & MAP_S)) {
            *out = FE_SPECIAL;
            return 0;
        }
        if (t1e & MAP_FIRST)
            flags |= FE_PFIRST;
        if (t1e & MAP_S)
            flags |= FE_INS;
        /* Pair indexes exist for the BMP only (fast_bmp). */
        if (cp >= 0x10000 && (t1e & MAP_S)) {
            *out = FE_SPECIAL;
            return 0;
        }
    }
    uint32_t buf2[1];
    const uint32_t *f;
    uint32_t fl = t2s ? norm_map_apply(n, t1e, dd, buf2, &f) : (buf2[0] = dd, f = buf2, 1);
    if (fl != 1 || f[0] >= 0x10000) {
        *out = FE_SPECIAL;
        return 0;
    }
    uint32_t c = cls[f[0]] & 3;
    if ((n->steps & TDX_NORM_SPACE) && c == TDX_CC_SPACE) {
        *out = FE_SPECIAL | ((uint32_t)TDX_CC_SPACE << FE_CLS_SHIFT);
        return 0;
    }
    uint32_t e = flags | (c << FE_CLS_SHIFT);
    if (f[0] != cp) {
        uint32_t l;
        e |= utf8_entry(f[0], &l) | (l << FE_LEN_SHIFT);
    }
    *out = e;
    return 0;
}

/* ---- build ------------------------------------------------------------------- */

static size_t tab_bytes(const cptab *t)
{
    return sizeof t->idx + t->nblocks * 256 * sizeof(uint32_t);
}

static void hash_tab(XXH3_state_t *h, const cptab *t)
{
    XXH3_64bits_update(h, t->idx, sizeof t->idx);
    XXH3_64bits_update(h, t->blocks, t->nblocks * 256 * sizeof(uint32_t));
}

static int finish(builder *b)
{
    tdx_norm *n = b->n;
    n->fast_bmp = tdx_reallocarray(NULL, 0x10000, sizeof *n->fast_bmp);
    if (n->fast_bmp == NULL)
        return oom(b);
    /* Pair filter: in the fallback every S character has first index 1 and
     * second hash 0, and pairmask[1] has bit 0, so any two S characters in
     * a row leave the hot loop. */
    int32_t nf = b->F ? uset_size(b->F) : 0;
    if (n->t2s_icu)
        nf = 1;
    if ((uint32_t)nf > FX_MAXIDX)
        return tdx_err_set(b->err, TDX_EINTERNAL, "too many t2s rule prefixes");
    n->pairmask = tdx_calloc((size_t)nf + 1, sizeof *n->pairmask);
    if (n->pairmask == NULL)
        return oom(b);
    n->npairmask = (size_t)nf + 1;
    if (n->t2s_icu)
        n->pairmask[1] = 1;
    for (size_t i = 0; i < n->nphrases; i++) {
        uint32_t ll;
        const uint32_t *lhs = norm_pool_str(n, n->phrases[i].lhs, &ll);
        n->pairmask[uset_indexOf(b->F, (UChar32)lhs[0]) + 1] |= 1ULL << norm_second_hash(lhs[1]);
    }
    for (uint32_t cp = 0; cp < 0x10000; cp++) {
        uint32_t e = cptab_get(&n->fast, cp), l;
        uint64_t hi = (uint64_t)FX_NOSH << 16;
        if (!(e & FE_SPECIAL) && FE_LEN(e) == 0)
            e |= utf8_entry(cp, &l) | (l << FE_LEN_SHIFT);
        if ((e & FE_PFIRST) && b->F)
            hi |= n->t2s_icu ? 1u : (uint32_t)(uset_indexOf(b->F, (UChar32)cp) + 1);
        if ((e & FE_INS) && b->F2 && (n->t2s_icu || uset_contains(b->F2, (UChar32)cp)))
            hi = (hi & 0xFFFF) | (uint64_t)(n->t2s_icu ? 0 : norm_second_hash(cp)) << 16;
        n->fast_bmp[cp] = e | hi << 32;
    }
    n->e_invalid = cptab_get(&n->fast, 0xFFFD) | FE_SPECIAL;

    /* 8-byte ASCII blocks: every printable character maps to itself (or,
     * with nfkc_cf, A-Z to a-z), none has a context flag, and no ASCII
     * character lacks a boundary before it. */
    int ok = 1;
    for (uint32_t c = 0; c < 0x80; c++) {
        uint32_t e = (uint32_t)n->fast_bmp[c];
        if (e & (FE_NB | FE_PFIRST | FE_INS))
            ok = 0;
        if (c < 0x20 || c == 0x7F)
            continue;
        if (c == ' ' && (n->steps & TDX_NORM_SPACE))
            continue;
        uint32_t want_len = 0, want = 0;
        if ((n->steps & TDX_NORM_NFKC_CF) && c >= 'A' && c <= 'Z') {
            want_len = 1;
            want = c + 0x20;
        }
        if (e & FE_SPECIAL)
            ok = 0;
        else if (FE_LEN(e) != want_len || (want_len && (e & 0xFFFFFF) != want))
            ok = 0;
    }
    n->ascii_block = ok;

    n->table_bytes = 0x10000 * sizeof(uint64_t) + ((size_t)nf + 1) * sizeof(uint64_t) +
                     tab_bytes(&n->fast) + tab_bytes(&n->nf) + tab_bytes(&n->t1) +
                     n->npool * sizeof(uint32_t) + n->nphrases * sizeof(norm_phrase) +
                     n->npairs_cap * sizeof(norm_pair) + n->nbpool;

    XXH3_state_t *h = XXH3_createState();
    if (h == NULL)
        return oom(b);
    XXH3_64bits_reset(h);
    uint32_t hdr[3] = {n->steps, (uint32_t)n->t2s_icu, (uint32_t)n->npool};
    XXH3_64bits_update(h, hdr, sizeof hdr);
    hash_tab(h, &n->fast);
    hash_tab(h, &n->nf);
    hash_tab(h, &n->t1);
    XXH3_64bits_update(h, n->pool, n->npool * sizeof(uint32_t));
    if (n->nphrases)
        XXH3_64bits_update(h, n->phrases, n->nphrases * sizeof(norm_phrase));
    if (n->nbpool)
        XXH3_64bits_update(h, n->bpool, n->nbpool);
    XXH3_64bits_update(h, norm_class_table(), 0x110000);
    uint64_t hv = XXH3_64bits_digest(h);
    XXH3_freeState(h);

    char uni[U_MAX_VERSION_STRING_LENGTH];
    UVersionInfo uv;
    u_getUnicodeVersion(uv);
    u_versionToString(uv, uni);
    snprintf(n->identity, sizeof n->identity, "steps=%s;icu=%s;unicode=%s;table=%016llx",
             tdx_norm_steps_name(n->steps), tdx_norm_icu_version(), uni, (unsigned long long)hv);
    return 0;
}

int norm_build(tdx_norm *n, tdx_err *err)
{
    builder b = {.n = n, .err = err, .cls = norm_class_table()};
    int rc = 0;
    UErrorCode st = U_ZERO_ERROR;
    n->nfkc_cf = unorm2_getNFKCCasefoldInstance(&st);
    if (U_FAILURE(st)) {
        rc = icu_fail(&b, "nfkc_cf", st);
        goto done;
    }
    b.tb = tdx_malloc(sizeof *b.tb);
    if (b.tb == NULL) {
        rc = oom(&b);
        goto done;
    }
    if ((rc = pool_add(&b, NULL, 0, &b.empty_str)) != 0)
        goto done;
    if (n->steps & TDX_NORM_T2S) {
        if ((rc = t2s_setup(&b)) != 0)
            goto done;
    }
    if ((rc = tab_build(&b, &n->nf, nf_entry)) != 0)
        goto done;
    if ((rc = tab_build(&b, &n->t1, t1_entry)) != 0)
        goto done;
    if ((rc = tab_build(&b, &n->fast, fast_entry)) != 0)
        goto done;
    rc = finish(&b);
done:
    if (b.tr)
        utrans_close(b.tr);
    if (b.src)
        uset_close(b.src);
    if (b.S)
        uset_close(b.S);
    if (b.F)
        uset_close(b.F);
    if (b.F2)
        uset_close(b.F2);
    tdx_free(b.rules);
    tdx_free(b.tb);
    tdx_free(b.srcbits);
    return rc;
}

void norm_build_free(tdx_norm *n)
{
    tdx_free(n->fast_bmp);
    tdx_free(n->pairmask);
    tdx_free(n->fast.blocks);
    tdx_free(n->nf.blocks);
    tdx_free(n->t1.blocks);
    tdx_free(n->pool);
    tdx_free(n->phrases);
    tdx_free(n->pairs);
    tdx_free(n->bpool);
}
