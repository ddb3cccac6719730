/*
 * norm_run.c - normalizing one text: the table-driven fast path and the
 * general path it hands difficult stretches to.
 *
 * Pipeline position: called by workers for every document (and through
 * tdx_norm_str for watch-list literals and queries).
 *
 * Fast path: one loop over the UTF-8 source that decodes a character,
 * loads its fast entry (norm_int.h) and, when the entry is a plain one,
 * writes the tabled output.  It looks one character ahead, because two
 * things depend on the next character: composition (the next character has
 * no nfkc_cf boundary before it) and t2s rules (this character starts a
 * rule and the pair with the next one is a rule prefix).  Runs of
 * three-byte characters take a tight inner loop (branch-free pair filter
 * and unit records); ASCII goes eight bytes at a time; plain white-space
 * runs and rule keys on inert characters are handled inline.
 *
 * The fast path stops at a position a where everything before a is final
 * and the three steps start afresh: a is an nfkc_cf boundary, no t2s rule
 * covers a, and no white space is pending.  The general path then takes a
 * window [a, b) ending before the first character z that is plain, outside
 * S (the characters of multi-character t2s rules) and not followed by a
 * character without a boundary - so b is again such a fresh position (a
 * long window may also end before a special character that keeps b fresh,
 * see soft_end_class) - and
 * runs the steps one after the other on code point arrays (ctx scratch):
 *   1. decode (U+FFFD per maximal ill-formed subpart), nfkc_cf per
 *      segment: the table for a lone character, unorm2_normalize for a
 *      character followed by characters without a boundary before them;
 *   2. t2s: longest rule key at each position (see norm_build.c for why
 *      that is ICU's behaviour), else the one-character table; or, in the
 *      fallback, ICU on each run of two or more S characters;
 *   3. the whitespace rule, with the class of the output before a and of z
 *      after b, and the output with its offset units.
 * Each code point carries the source range it came from (a character, an
 * nfkc_cf segment, a rule match); ranges are merged when a step combines
 * them, so units stay monotone.
 *
 * Offset units: a stretch gets a unit unless it is one output character
 * of the same byte length as its source, or byte-identical to it.
 *
 * Threading: reads the shared tdx_norm; writes only the caller's out and
 * ctx.
 */
#include "norm_int.h"

#include "../common/alloc.h"
#include "../common/utf8.h"

#include <string.h>
#include <unicode/ustring.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define le32(x) __builtin_bswap32(x)
#else
#define le32(x) (x)
#endif

typedef struct run {
    const tdx_norm *n;
    tdx_norm_ctx *c;
    const uint8_t *src;
    size_t len;
    tdx_norm_out *out;
    tdx_err *err;
    const uint8_t *cls;
} run;

static int oom(run *r)
{
    return tdx_err_set(r->err, TDX_ENOMEM, "out of memory");
}

/* Room for extra more output bytes plus slack for word stores. */
static int out_reserve(run *r, size_t extra)
{
    tdx_buf *t = &r->out->text;
    if (t->len + extra + 17 <= t->cap)
        return 0;
    if (t->len + extra > UINT32_MAX)
        return tdx_err_set(r->err, TDX_ELIMIT, "normalized text exceeds 4 GiB");
    if (tdx_buf_grow(t, extra + 16) != 0)
        return oom(r);
    return 0;
}

static int grow_units(run *r, size_t extra)
{
    tdx_norm_out *o = r->out;
    size_t cap = o->cap_units ? o->cap_units : 64;
    while (cap - o->nunits < extra)
        cap *= 2;
    if (cap == o->cap_units)
        return 0;
    tdx_norm_unit *u = tdx_reallocarray(o->units, cap, sizeof *u);
    if (u == NULL)
        return oom(r);
    o->units = u;
    o->cap_units = cap;
    return 0;
}

static int push_unit(run *r, size_t oo, size_t ol, size_t so, size_t sl)
{
    tdx_norm_out *o = r->out;
    if (ol == 0 && o->nunits > 0) {
        tdx_norm_unit *u = &o->units[o->nunits - 1];
        if (u->out_len == 0 && u->out_off == oo && (size_t)u->src_off + u->src_len == so) {
            u->src_len += (uint32_t)sl;
            return 0;
        }
    }
    if (o->nunits == o->cap_units) {
        int rc = grow_units(r, 1);
        if (rc)
            return rc;
    }
    o->units[o->nunits++] = (tdx_norm_unit){(uint32_t)oo, (uint32_t)ol, (uint32_t)so, (uint32_t)sl};
    return 0;
}

/*
 * Decode one character for the fast path; ill-formed -> e_invalid.  The
 * common cases (ASCII, three-byte BMP) read one little-endian word.
 */
static inline void dec(const tdx_norm *n, const uint64_t *bmp, const uint8_t *p, const uint8_t *end,
                       uint32_t *cp, size_t *cl, uint64_t *e)
{
    if (end - p >= 4) {
        uint32_t w;
        memcpy(&w, p, 4);
        w = le32(w);
        if (!(w & 0x80)) {
            *cp = w & 0x7F;
            *cl = 1;
            *e = bmp[w & 0x7F];
            return;
        }
        if ((w & 0xC0C0F0) == 0x8080E0) {
            uint32_t c = ((w & 0x0F) << 12) | ((w >> 2) & 0xFC0) | ((w >> 16) & 0x3F);
            if (c >= 0x800 && (c & 0xF800) != 0xD800) {
                *cp = c;
                *cl = 3;
                *e = bmp[c];
                return;
            }
        }
    }
    size_t l;
    int32_t c = tdx_utf8_decode(p, end, &l);
    *cl = l;
    if (c < 0) {
        *cp = 0xFFFD;
        *e = n->e_invalid;
        return;
    }
    *cp = (uint32_t)c;
    *e = c < 0x10000 ? bmp[c] : cptab_get(&n->fast, (uint32_t)c);
}

/* Class of the character that ends at o (o > base). */
static int out_last_class(const uint8_t *base, const uint8_t *o, const uint8_t *cls)
{
    const uint8_t *q = o - 1;
    if (*q < 0x80)
        return cls[*q] & 3;
    while (q > base && (*q & 0xC0) == 0x80)
        q--;
    size_t l;
    int32_t cp = tdx_utf8_decode(q, o, &l);
    return cp < 0 ? TDX_CC_OTHER : (cls[cp] & 3);
}

#define H8 0x8080808080808080ULL
#define L8 0x0101010101010101ULL

/*
 * Copy eight printable ASCII bytes at a time.  A block qualifies when it is
 * followed by ASCII (which always has a boundary before it), holds no
 * control byte, and, with the space step, its spaces are single and inside
 * the block - a single space next to a printable ASCII character stays one
 * space whatever is on its other side.
 */
static inline size_t ascii_blocks(const tdx_norm *n, const uint8_t *p, const uint8_t *end,
                                  uint8_t *o, const uint8_t *olim)
{
    const uint8_t *p0 = p;
    int sp = (n->steps & TDX_NORM_SPACE) != 0, fold = (n->steps & TDX_NORM_NFKC_CF) != 0;
    while (end - p >= 9 && o <= olim - 8 && p[8] < 0x80) {
        uint64_t v;
        memcpy(&v, p, 8);
        if ((v & H8) || ((v + 0x60 * L8) & H8) != H8 || ((v + L8) & H8))
            break;
        if (sp) {
            uint64_t x = v ^ (0x20 * L8);
            uint64_t z = ~(((x & (0x7F * L8)) + 0x7F * L8) | x | (0x7F * L8));
            if ((z & 0x8000000000000080ULL) || (z & (z << 8)))
                break;
        }
        if (fold) {
            uint64_t ge_a = v + 0x3F * L8, gt_z = v + 0x25 * L8;
            v |= ((ge_a & ~gt_z) & H8) >> 2;
        }
        memcpy(o, &v, 8);
        o += 8;
        p += 8;
    }
    return (size_t)(p - p0);
}

/*
 * Longest t2s rule key at p (the pair (cp, next) is a key prefix), matched
 * on the source bytes: returns the phrase, or NULL when no key matches in
 * full (then the one-character rule applies).
 */
static const norm_phrase *phrase_at(const tdx_norm *n, const uint8_t *p, const uint8_t *end,
                                    uint32_t cp, uint32_t next)
{
    const norm_pair *pr = norm_pair_find(n, cp, next);
    if (pr == NULL)
        return NULL;
    for (uint32_t k = 0; k < pr->count; k++) {
        const norm_phrase *ph = &n->phrases[pr->first + k];
        if (ph->lhs8_len <= (size_t)(end - p) && memcmp(p, n->bpool + ph->lhs8, ph->lhs8_len) == 0)
            return ph;
    }
    return NULL;
}

/*
 * Run the fast path from *io_pos; stop at the end or at a fresh position
 * the general path must handle.  Besides plain characters it handles two
 * frequent cases inline: runs of plain white space followed by a plain
 * character (the whitespace rule needs only the classes of the last output
 * character and of that one), and t2s rule keys on inert characters.
 */
static int fast_loop(run *r, size_t *io_pos)
{
    const tdx_norm *n = r->n;
    const uint64_t *bmp = n->fast_bmp;
    const uint64_t *pairmask = n->pairmask;
    const uint8_t *cls = r->cls;
    const uint8_t *s = r->src, *end = s + r->len, *p = s + *io_pos;
    tdx_buf *t = &r->out->text;
    const int sp = (n->steps & TDX_NORM_SPACE) != 0, ablk = n->ascii_block;
    const int inl = n->phrase_inline && !n->t2s_icu;
    uint8_t *base = t->p, *o = t->p + t->len;
    uint8_t *olim = t->p + t->cap - 17;
    uint32_t cp;
    uint64_t e;
    size_t cl;
    int rc = 0;
    if (p >= end)
        return 0;
    dec(n, bmp, p, end, &cp, &cl, &e);
    for (;;) {
        if (__builtin_expect(o > olim, 0)) {
            t->len = (size_t)(o - base);
            if ((rc = out_reserve(r, 64)) != 0)
                break;
            base = t->p;
            o = base + t->len;
            olim = base + t->cap - 17;
        }
        if (__builtin_expect(e & FE_SPECIAL, 0)) {
            if (!sp || FE_CLS(e) != TDX_CC_SPACE)
                break;
            /* A run of plain white space: one space, or nothing between two
             * CJK characters. */
            const uint8_t *q = p + cl;
            uint32_t zcp = 0;
            uint64_t ze = 0;
            size_t zl = 0;
            while (q < end) {
                dec(n, bmp, q, end, &zcp, &zl, &ze);
                if (!(ze & FE_SPECIAL) || FE_CLS(ze) != TDX_CC_SPACE)
                    break;
                q += zl;
            }
            if (q < end && (ze & FE_SPECIAL))
                break;
            size_t rl = (size_t)(q - p);
            if (q < end && FE_CLS(ze) == TDX_CC_CJK && o > base &&
                out_last_class(base, o, cls) == TDX_CC_CJK) {
                rc = push_unit(r, (size_t)(o - base), 0, (size_t)(p - s), rl);
            } else {
                *o++ = ' ';
                if (rl != 1)
                    rc = push_unit(r, (size_t)(o - base) - 1, 1, (size_t)(p - s), rl);
            }
            if (rc)
                break;
            p = q;
            if (p >= end)
                break;
            cp = zcp;
            cl = zl;
            e = ze;
            continue;
        }
        if (cl == 3) {
            /* Runs of three-byte characters (CJK text): the hot loop.  Each
             * step reads the next character, checks what the current one
             * depends on (the pair filter: may a t2s rule key start here), and
             * stores the current output word.  A unit record is written
             * every time and kept only when the length changed, so neither
             * the pair test nor the unit costs a branch that mispredicts. */
            tdx_norm_out *out = r->out;
            if (out->cap_units - out->nunits < 1024) {
                if ((rc = grow_units(r, 1024)) != 0)
                    break;
            }
            tdx_norm_unit *u = out->units + out->nunits;
            const uint8_t *pend = end - 7;
            size_t room = (size_t)(olim - o);
            size_t uroom = 3 * (out->cap_units - out->nunits - 1);
            if (room > uroom)
                room = uroom;
            if (pend > p && (size_t)(pend - p) > room)
                pend = p + room;
            while (p < pend) {
                uint32_t w;
                memcpy(&w, p + 3, 4);
                w = le32(w);
                if ((w & 0xC0C0F0) != 0x8080E0)
                    break;
                uint32_t nc = ((w & 0x0F) << 12) | ((w >> 2) & 0xFC0) | ((w >> 16) & 0x3F);
                /* Well-formed: not overlong (< U+0800), not a surrogate;
                 * bit k of the mask: block k of 2048 code points is valid. */
                if (!((0xF7FFFFFEu >> (nc >> 11)) & 1))
                    break;
                uint64_t nx = bmp[nc];
                if (__builtin_expect(nx & (FE_NB | FE_SPECIAL), 0)) {
                    if ((nx & FE_NB) || ((e & FE_PFIRST) && FE_HARD(nx)))
                        break;
                }
                if (__builtin_expect((pairmask[FX_FIDX(e)] >> FX_SH(nx)) & 1, 0)) {
                    if (!inl || norm_pair_find(n, cp, nc) != NULL)
                        break;
                }
                uint32_t ww = le32((uint32_t)e), ol = FE_LEN(e);
                memcpy(o, &ww, 4);
                *u = (tdx_norm_unit){(uint32_t)(o - base), ol, (uint32_t)(p - s), 3};
                u += ol != 3;
                o += ol;
                p += 3;
                cp = nc;
                e = nx;
                if (e & FE_SPECIAL)
                    break;
            }
            out->nunits = (size_t)(u - out->units);
            if (e & FE_SPECIAL)
                continue;
        }
        if (cp < 0x80 && ablk) {
            size_t adv = ascii_blocks(n, p, end, o, olim);
            if (adv) {
                p += adv;
                o += adv;
                if (p >= end)
                    break;
                dec(n, bmp, p, end, &cp, &cl, &e);
                continue;
            }
        }
        const uint8_t *q = p + cl;
        uint32_t ncp = 0;
        uint64_t ne = 0;
        size_t ncl = 0;
        if (q < end)
            dec(n, bmp, q, end, &ncp, &ncl, &ne);
        if (__builtin_expect(ne & FE_NB, 0))
            break;
        if (__builtin_expect((e & FE_PFIRST) && (FE_HARD(ne) || (ne & FE_INS)), 0)) {
            if (FE_HARD(ne) || !inl)
                break;
            const norm_phrase *ph = phrase_at(n, p, end, cp, ncp);
            if (ph) {
                /* The key's characters are inert; the one after it must
                 * have a boundary before it. */
                const uint8_t *pe = p + ph->lhs8_len;
                if (pe < end) {
                    dec(n, bmp, pe, end, &ncp, &ncl, &ne);
                    if (ne & FE_NB)
                        break;
                }
                if ((size_t)(olim - o) < ph->rhs8_len) {
                    t->len = (size_t)(o - base);
                    if ((rc = out_reserve(r, ph->rhs8_len + 64)) != 0)
                        break;
                    base = t->p;
                    o = base + t->len;
                    olim = base + t->cap - 17;
                }
                memcpy(o, n->bpool + ph->rhs8, ph->rhs8_len);
                if (ph->rhs8_len != ph->lhs8_len || memcmp(o, p, ph->lhs8_len) != 0)
                    rc = push_unit(r, (size_t)(o - base), ph->rhs8_len, (size_t)(p - s),
                                   ph->lhs8_len);
                o += ph->rhs8_len;
                if (rc)
                    break;
                p = pe;
                if (p >= end)
                    break;
                cp = ncp;
                cl = ncl;
                e = ne;
                continue;
            }
        }
        uint32_t ol = FE_LEN(e);
        if (__builtin_expect(ol != 0, 1)) {
            uint32_t w = le32((uint32_t)e);
            memcpy(o, &w, 4);
            o += ol;
            if (__builtin_expect(ol != cl, 0)) {
                if ((rc = push_unit(r, (size_t)(o - base) - ol, ol, (size_t)(p - s), cl)) != 0)
                    break;
            }
        } else {
            memcpy(o, p, cl);
            o += cl;
        }
        p = q;
        if (p >= end)
            break;
        cp = ncp;
        cl = ncl;
        e = ne;
    }
    t->len = (size_t)(o - base);
    t->p[t->len] = 0;
    *io_pos = (size_t)(p - s);
    return rc;
}

/* ---- general path ------------------------------------------------------------ */

static int push_cp(run *r, norm_cp **arr, size_t *cap, size_t *cnt, uint32_t cp, size_t s0,
                   size_t s1)
{
    if (*cnt == *cap) {
        size_t nc = *cap ? *cap * 2 : 256;
        norm_cp *p = tdx_reallocarray(*arr, nc, sizeof *p);
        if (p == NULL)
            return oom(r);
        *arr = p;
        *cap = nc;
    }
    (*arr)[(*cnt)++] = (norm_cp){cp, (uint32_t)s0, (uint32_t)s1};
    return 0;
}

/*
 * Append to stream b.  Entries are grouped by source range; when a new
 * range overlaps the ranges of the last groups without being the same (a
 * step combined parts of several sources), those groups merge into one
 * with the union.  Groups are a stack, each merged away at most once, so
 * this is linear however long a group grows; step_t2s writes the ranges
 * into the entries at the end.
 */
static int push_b(run *r, size_t *nb, uint32_t cp, uint32_t s0, uint32_t s1)
{
    tdx_norm_ctx *c = r->c;
    if (c->ng == 0 || c->g[c->ng - 1].s0 != s0 || c->g[c->ng - 1].s1 != s1) {
        size_t first = *nb;
        while (c->ng > 0 && c->g[c->ng - 1].s1 > s0) {
            norm_grp *t = &c->g[--c->ng];
            s0 = t->s0 < s0 ? t->s0 : s0;
            s1 = t->s1 > s1 ? t->s1 : s1;
            first = t->first;
        }
        if (c->ng == c->cap_g) {
            size_t cap = c->cap_g ? c->cap_g * 2 : 256;
            norm_grp *g = tdx_reallocarray(c->g, cap, sizeof *g);
            if (g == NULL)
                return oom(r);
            c->g = g;
            c->cap_g = cap;
        }
        c->g[c->ng++] = (norm_grp){first, s0, s1};
    }
    return push_cp(r, &c->b, &c->cap_b, nb, cp, s0, s1);
}

/* Write each group's range into its entries. */
static void group_ranges(run *r, size_t nb)
{
    tdx_norm_ctx *c = r->c;
    for (size_t k = 0; k < c->ng; k++) {
        size_t end = k + 1 < c->ng ? c->g[k + 1].first : nb;
        for (size_t i = c->g[k].first; i < end; i++) {
            c->b[i].s0 = c->g[k].s0;
            c->b[i].s1 = c->g[k].s1;
        }
    }
}

static int reserve_u16(run *r, UChar **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 256;
    while (nc < need)
        nc *= 2;
    if (nc > INT32_MAX)
        return tdx_err_set(r->err, TDX_ELIMIT, "text stretch too long for ICU");
    UChar *p = tdx_reallocarray(*buf, nc, sizeof *p);
    if (p == NULL)
        return oom(r);
    *buf = p;
    *cap = nc;
    return 0;
}

/* nfkc_cf of the segment [q, e) by ICU, appended to stream a. */
static int nf_segment(run *r, size_t q, size_t e, size_t *na)
{
    tdx_norm_ctx *c = r->c;
    int rc = reserve_u16(r, &c->u16, &c->cap_u16, e - q + 2);
    if (rc)
        return rc;
    int32_t ul = 0;
    const uint8_t *p = r->src + q, *end = r->src + e;
    while (p < end) {
        size_t l;
        int32_t cp = tdx_utf8_decode(p, end, &l);
        p += l;
        U16_APPEND_UNSAFE(c->u16, ul, cp < 0 ? 0xFFFD : cp);
    }
    if ((rc = reserve_u16(r, &c->v16, &c->cap_v16, (size_t)ul * 3 + 16)) != 0)
        return rc;
    UErrorCode st = U_ZERO_ERROR;
    int32_t vl = unorm2_normalize(r->n->nfkc_cf, c->u16, ul, c->v16, (int32_t)c->cap_v16, &st);
    if (st == U_BUFFER_OVERFLOW_ERROR) {
        if ((rc = reserve_u16(r, &c->v16, &c->cap_v16, (size_t)vl + 1)) != 0)
            return rc;
        st = U_ZERO_ERROR;
        vl = unorm2_normalize(r->n->nfkc_cf, c->u16, ul, c->v16, (int32_t)c->cap_v16, &st);
    }
    if (U_FAILURE(st))
        return norm_icu_err(r->err, "normalize", st);
    int32_t i = 0;
    while (i < vl) {
        UChar32 x;
        U16_NEXT(c->v16, i, vl, x);
        if ((rc = push_cp(r, &c->a, &c->cap_a, na, (uint32_t)x, q, e)) != 0)
            return rc;
    }
    return 0;
}

/* Step 1: decode [a, b) and apply nfkc_cf into stream a. */
static int step_nfkc(run *r, size_t a, size_t b, size_t *na)
{
    const tdx_norm *n = r->n;
    tdx_norm_ctx *c = r->c;
    const int nfkc = (n->steps & TDX_NORM_NFKC_CF) != 0;
    const uint8_t *end = r->src + b;
    size_t q = a;
    int rc;
    while (q < b) {
        size_t l;
        int32_t cp = tdx_utf8_decode(r->src + q, end, &l);
        if (cp < 0) {
            cp = 0xFFFD;
            r->out->invalid++;
        }
        if (nfkc) {
            size_t e = q + l;
            while (e < b) {
                size_t l2;
                int32_t c2 = tdx_utf8_decode(r->src + e, end, &l2);
                if (c2 < 0 || !(norm_fast(n, (uint32_t)c2) & FE_NB))
                    break;
                e += l2;
            }
            if (e > q + l) {
                if ((rc = nf_segment(r, q, e, na)) != 0)
                    return rc;
                q = e;
                continue;
            }
        }
        uint32_t buf[1];
        const uint32_t *d;
        uint32_t dl =
            nfkc ? norm_map_apply(n, cptab_get(&n->nf, (uint32_t)cp), (uint32_t)cp, buf, &d)
                 : (buf[0] = (uint32_t)cp, d = buf, 1);
        for (uint32_t k = 0; k < dl; k++)
            if ((rc = push_cp(r, &c->a, &c->cap_a, na, d[k], q, q + l)) != 0)
                return rc;
        q += l;
    }
    return 0;
}

/* ICU fallback for t2s: transliterate a[i..j) as one run. */
static int t2s_icu_run(run *r, size_t i, size_t j, size_t *nb)
{
    tdx_norm_ctx *c = r->c;
    int rc = norm_ctx_t2s(c, r->err);
    if (rc)
        return rc;
    size_t cap = (j - i) * 8 + 64;
    for (int attempt = 0; attempt < 4; attempt++, cap *= 4) {
        if ((rc = reserve_u16(r, &c->u16, &c->cap_u16, cap)) != 0)
            return rc;
        int32_t ul = 0;
        for (size_t k = i; k < j; k++)
            U16_APPEND_UNSAFE(c->u16, ul, c->a[k].cp);
        int32_t limit = ul;
        UErrorCode st = U_ZERO_ERROR;
        utrans_transUChars(c->t2s, c->u16, &ul, (int32_t)c->cap_u16, 0, &limit, &st);
        if (st == U_BUFFER_OVERFLOW_ERROR)
            continue;
        if (U_FAILURE(st))
            return norm_icu_err(r->err, "transliterate", st);
        int32_t k = 0;
        while (k < ul) {
            UChar32 x;
            U16_NEXT(c->u16, k, ul, x);
            if ((rc = push_b(r, nb, (uint32_t)x, c->a[i].s0, c->a[j - 1].s1)) != 0)
                return rc;
        }
        return 0;
    }
    return tdx_err_set(r->err, TDX_EINTERNAL, "ICU transliterate: output too long");
}

/* Step 2: t2s from stream a into stream b. */
static int step_t2s(run *r, size_t na, size_t *nb)
{
    const tdx_norm *n = r->n;
    const norm_cp *a = r->c->a;
    size_t i = 0;
    int rc;
    r->c->ng = 0;
    while (i < na) {
        uint32_t x = a[i].cp;
        uint32_t te = cptab_get(&n->t1, x);
        if ((te & MAP_FIRST) && i + 1 < na && (cptab_get(&n->t1, a[i + 1].cp) & MAP_S)) {
            if (n->t2s_icu) {
                size_t j = i + 2;
                while (j < na && (cptab_get(&n->t1, a[j].cp) & MAP_S))
                    j++;
                if ((rc = t2s_icu_run(r, i, j, nb)) != 0)
                    return rc;
                a = r->c->a;
                i = j;
                continue;
            }
            const norm_pair *pr = norm_pair_find(n, x, a[i + 1].cp);
            size_t matched = 0;
            for (uint32_t k = 0; pr && k < pr->count && !matched; k++) {
                const norm_phrase *ph = &n->phrases[pr->first + k];
                uint32_t ll, rl;
                const uint32_t *lhs = norm_pool_str(n, ph->lhs, &ll);
                if (ll > na - i)
                    continue;
                uint32_t m = 0;
                while (m < ll && a[i + m].cp == lhs[m])
                    m++;
                if (m < ll)
                    continue;
                const uint32_t *rhs = norm_pool_str(n, ph->rhs, &rl);
                for (uint32_t k2 = 0; k2 < rl; k2++)
                    if ((rc = push_b(r, nb, rhs[k2], a[i].s0, a[i + ll - 1].s1)) != 0)
                        return rc;
                matched = ll;
            }
            if (matched) {
                i += matched;
                continue;
            }
        }
        uint32_t buf[1];
        const uint32_t *d;
        uint32_t dl = norm_map_apply(n, te, x, buf, &d);
        for (uint32_t k = 0; k < dl; k++)
            if ((rc = push_b(r, nb, d[k], a[i].s0, a[i].s1)) != 0)
                return rc;
        i++;
    }
    group_ranges(r, *nb);
    return 0;
}

/* Class of the last character written so far, -1 when there is none. */
static int last_class(run *r)
{
    const tdx_buf *t = &r->out->text;
    if (t->len == 0)
        return -1;
    size_t i = t->len - 1;
    while (i > 0 && (t->p[i] & 0xC0) == 0x80)
        i--;
    size_t l;
    int32_t cp = tdx_utf8_decode(t->p + i, t->p + t->len, &l);
    return cp < 0 ? TDX_CC_OTHER : (r->cls[cp] & 3);
}

/* Close an output stretch: a unit unless it maps byte for byte. */
static int close_group(run *r, size_t s0, size_t o0, size_t s1, unsigned nchars)
{
    size_t o1 = r->out->text.len;
    if (s1 - s0 == o1 - o0 &&
        (s1 == s0 || nchars == 1 || memcmp(r->out->text.p + o0, r->src + s0, s1 - s0) == 0))
        return 0;
    return push_unit(r, o0, o1 - o0, s0, s1 - s0);
}

static int put_cp(run *r, uint32_t cp)
{
    int rc = out_reserve(r, 4);
    if (rc)
        return rc;
    tdx_buf *t = &r->out->text;
    t->len += tdx_utf8_encode(t->p + t->len, cp);
    t->p[t->len] = 0;
    return 0;
}

/* Step 3: the whitespace rule over stream b and the output with units. */
static int step_emit(run *r, const norm_cp *b, size_t nb, size_t a, size_t end, int next_cls)
{
    const int sp = (r->n->steps & TDX_NORM_SPACE) != 0;
    tdx_buf *t = &r->out->text;
    size_t g_s = a, g_o = t->len;
    unsigned g_n = 0;
    int pending = 0, ws_group = 0, last = last_class(r), rc;
    uint32_t cur0 = (uint32_t)a, cur1 = (uint32_t)a;
    for (size_t i = 0; i < nb; i++) {
        int first = i == 0 || b[i].s0 != cur0 || b[i].s1 != cur1;
        if (first) {
            if (!pending) {
                if ((rc = close_group(r, g_s, g_o, cur1, g_n)) != 0)
                    return rc;
                if (b[i].s0 > cur1 && (rc = push_unit(r, t->len, 0, cur1, b[i].s0 - cur1)) != 0)
                    return rc;
                g_s = b[i].s0;
                g_o = t->len;
                g_n = 0;
            }
            cur0 = b[i].s0;
            cur1 = b[i].s1;
        }
        int c = r->cls[b[i].cp] & 3;
        if (sp && c == TDX_CC_SPACE) {
            if (!pending) {
                pending = 1;
                ws_group = first && g_n == 0 && g_o == t->len && g_s == b[i].s0;
            }
            continue;
        }
        if (pending) {
            int drop = last == TDX_CC_CJK && c == TDX_CC_CJK;
            if (!drop) {
                if ((rc = put_cp(r, ' ')) != 0)
                    return rc;
                g_n++;
            }
            if (first && ws_group) {
                if ((rc = close_group(r, g_s, g_o, b[i].s0, g_n)) != 0)
                    return rc;
                g_s = b[i].s0;
                g_o = t->len;
                g_n = 0;
            }
            pending = 0;
            ws_group = 0;
        }
        if ((rc = put_cp(r, b[i].cp)) != 0)
            return rc;
        g_n++;
        last = c;
    }
    if (pending) {
        if (!(last == TDX_CC_CJK && next_cls == TDX_CC_CJK)) {
            if ((rc = put_cp(r, ' ')) != 0)
                return rc;
            g_n++;
        }
        return close_group(r, g_s, g_o, end, g_n);
    }
    if ((rc = close_group(r, g_s, g_o, cur1, g_n)) != 0)
        return rc;
    if (end > cur1)
        return push_unit(r, t->len, 0, cur1, end - cur1);
    return 0;
}

/*
 * Whether a window may end before the SPECIAL character cp (entry e), and
 * then the class of the first character it will produce: it must have a
 * boundary before it, produce output, and that output must start with a
 * character outside S (no t2s rule reaches back across the cut) that is not
 * white space (a pending run must not continue past the cut).  -1 if not.
 * Ill-formed sequences (U+FFFD) qualify, so runs of garbage or of
 * expansions are cut into bounded windows instead of one huge one.
 */
static int soft_end_class(const run *r, uint32_t cp, uint64_t e)
{
    const tdx_norm *n = r->n;
    if (e & FE_NB)
        return -1;
    uint32_t b1[1], b2[1];
    const uint32_t *d, *f;
    uint32_t dl = 1;
    b1[0] = cp;
    d = b1;
    if (n->steps & TDX_NORM_NFKC_CF)
        dl = norm_map_apply(n, cptab_get(&n->nf, cp), cp, b1, &d);
    if (dl == 0)
        return -1;
    uint32_t te = (n->steps & TDX_NORM_T2S) ? cptab_get(&n->t1, d[0]) : 0;
    if (te & MAP_S)
        return -1;
    if (norm_map_apply(n, te, d[0], b2, &f) == 0)
        return -1;
    int c = r->cls[f[0]] & 3;
    if ((n->steps & TDX_NORM_SPACE) && c == TDX_CC_SPACE)
        return -1;
    return c;
}

/* Windows at least this long may also end before a SPECIAL character. */
#define SOFT_END_MIN 64

/*
 * General path from the fresh position a: choose the window end (all of
 * the text when whole is set), run the three steps, return the end.
 */
static int general(run *r, size_t a, int whole, size_t *out_end)
{
    const tdx_norm *n = r->n;
    const uint8_t *s = r->src, *end = s + r->len;
    size_t b = r->len;
    int next_cls = -1, rc;
    if (!whole) {
        uint32_t cp;
        uint64_t e;
        size_t cl;
        dec(n, n->fast_bmp, s + a, end, &cp, &cl, &e);
        size_t q = a + cl;
        while (q < r->len) {
            dec(n, n->fast_bmp, s + q, end, &cp, &cl, &e);
            int zc = -1;
            if (!(e & (FE_SPECIAL | FE_INS | FE_PFIRST)))
                zc = (int)FE_CLS(e);
            else if ((e & FE_SPECIAL) && q - a >= SOFT_END_MIN)
                zc = soft_end_class(r, cp, e);
            if (zc >= 0) {
                uint32_t ncp;
                uint64_t ne = 0;
                size_t ncl;
                if (q + cl < r->len)
                    dec(n, n->fast_bmp, s + q + cl, end, &ncp, &ncl, &ne);
                if (!(ne & FE_NB)) {
                    b = q;
                    next_cls = zc;
                    break;
                }
            }
            q += cl;
        }
    }
    size_t na = 0, nb = 0;
    if ((rc = step_nfkc(r, a, b, &na)) != 0)
        return rc;
    const norm_cp *stream = r->c->a;
    if (n->steps & TDX_NORM_T2S) {
        if ((rc = step_t2s(r, na, &nb)) != 0)
            return rc;
        stream = r->c->b;
    } else {
        nb = na;
    }
    if ((rc = step_emit(r, stream, nb, a, b, next_cls)) != 0)
        return rc;
    *out_end = b;
    return 0;
}

int tdx_norm_run(const tdx_norm *n, tdx_norm_ctx *ctx, const uint8_t *src, size_t len,
                 tdx_norm_out *out, tdx_err *err)
{
    if (n == NULL || out == NULL || (src == NULL && len > 0))
        return tdx_err_set(err, TDX_EINVAL, "tdx_norm_run: missing argument");
    if (ctx == NULL)
        return tdx_err_set(err, TDX_EINVAL, "tdx_norm_run: no tdx_norm_ctx given");
    tdx_buf_reset(&out->text);
    out->nunits = 0;
    out->invalid = 0;
    out->src_len = len;
    if (len > UINT32_MAX)
        return tdx_err_set(err, TDX_ELIMIT, "text of %zu bytes is too long to normalize", len);
    run r = {n, ctx, src, len, out, err, norm_class_table()};
    int rc = out_reserve(&r, len + 64);
    size_t pos = 0;
    if (rc == 0 && (n->flags & TDX_NORM_X_NO_FAST)) {
        rc = general(&r, 0, 1, &pos);
    } else {
        while (rc == 0 && pos < len) {
            if ((rc = fast_loop(&r, &pos)) != 0 || pos >= len)
                break;
            rc = general(&r, pos, 0, &pos);
        }
    }
    if (rc) {
        tdx_buf_reset(&out->text);
        out->nunits = 0;
        out->invalid = 0;
        return rc;
    }
    out->text.p[out->text.len] = 0;
    return 0;
}
