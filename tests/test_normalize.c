/*
 * test_normalize.c - the normalizer against ICU's direct call chain
 * (tdx_norm_run_reference): golden spellings, every code point alone and
 * between neighbours, long seeded random strings for every step set, the
 * offset map's properties, invalid UTF-8, each step switch, idempotence on
 * real text, error paths and an out-of-memory loop.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/uchar.h>
#include <unicode/ucpmap.h>
#include <unicode/unorm2.h>
#include <unicode/uscript.h>

#include "common/alloc.h"
#include "common/utf8.h"
#include "normalize/norm_int.h"
#include "normalize/normalize.h"
#include "testutil.h"

/* ---- helpers --------------------------------------------------------------- */

typedef struct nx {
    tdx_norm *n;
    tdx_norm_ctx *c;
    tdx_norm_out o;
} nx;

static void nx_open(nx *x, unsigned steps, unsigned xflags)
{
    tdx_err err = {0};
    int rc = tdx_norm_create_ex(steps, xflags, &x->n, &err);
    cr_assert(eq(int, rc, 0), "create: %s", err.msg);
    rc = tdx_norm_ctx_create(x->n, &x->c, &err);
    cr_assert(eq(int, rc, 0), "ctx: %s", err.msg);
    tdx_norm_out_init(&x->o);
}

static void nx_close(nx *x)
{
    tdx_norm_out_free(&x->o);
    tdx_norm_ctx_free(x->c);
    tdx_norm_free(x->n);
}

/* Normalize with the fast path; returns the text (valid until next call). */
static const char *fast(nx *x, const void *s, size_t len)
{
    tdx_err err = {0};
    int rc = tdx_norm_run(x->n, x->c, s, len, &x->o, &err);
    cr_assert(eq(int, rc, 0), "run: %s", err.msg);
    return (const char *)x->o.text.p;
}

/* Reference text into an owned buffer. */
static char *ref(nx *x, const void *s, size_t len, size_t *out_len, size_t *out_invalid)
{
    tdx_err err = {0};
    tdx_norm_out o;
    tdx_norm_out_init(&o);
    int rc = tdx_norm_run_reference(x->n, x->c, s, len, &o, &err);
    cr_assert(eq(int, rc, 0), "reference: %s", err.msg);
    size_t l;
    char *p = (char *)tdx_buf_steal(&o.text, &l);
    if (out_len)
        *out_len = l;
    if (out_invalid)
        *out_invalid = o.invalid;
    tdx_norm_out_free(&o);
    return p;
}

static size_t put(uint8_t *p, uint32_t cp)
{
    return tdx_utf8_encode(p, cp);
}

static void hexdump(char *dst, size_t cap, const uint8_t *s, size_t len)
{
    size_t k = 0;
    for (size_t i = 0; i < len && k + 4 < cap; i++)
        k += (size_t)snprintf(dst + k, cap - k, "%02x", s[i]);
    dst[k] = 0;
}

/*
 * Offset map properties: units tile source and output in order, map_start
 * and map_end are monotone and in bounds, and the source range of every
 * output character normalizes (alone) to something containing it.
 */
static void check_map(nx *x, const uint8_t *src, size_t len, int per_char)
{
    const tdx_norm_out *o = &x->o;
    size_t olen = o->text.len;
    size_t oe = 0, se = 0;
    for (size_t i = 0; i < o->nunits; i++) {
        const tdx_norm_unit *u = &o->units[i];
        cr_assert(u->out_off >= oe && u->src_off >= se, "unit %zu out of order", i);
        cr_assert(eq(sz, u->out_off - oe, u->src_off - se), "unit %zu: gap differs", i);
        oe = (size_t)u->out_off + u->out_len;
        se = (size_t)u->src_off + u->src_len;
        cr_assert(oe <= olen && se <= len, "unit %zu out of bounds", i);
        cr_assert(u->out_len > 0 || u->src_len > 0, "empty unit %zu", i);
    }
    cr_assert(eq(sz, olen - oe, len - se), "tail gap differs");
    size_t prev_s = 0, prev_e = 0;
    for (size_t off = 0; off <= olen; off++) {
        size_t ms = tdx_norm_map_start(o, off), me = tdx_norm_map_end(o, off);
        cr_assert(ms >= prev_s && me >= prev_e, "map not monotone at %zu", off);
        cr_assert(ms <= len && me <= len);
        prev_s = ms;
        prev_e = me;
    }
    if (!per_char)
        return;
    /* Copy the output and units: normalizing the pieces reuses x->o. */
    size_t ol = olen;
    uint8_t *out = malloc(ol + 1);
    memcpy(out, o->text.p, ol);
    tdx_norm_out save = *o;
    tdx_norm_unit *units = malloc((o->nunits + 1) * sizeof *units);
    memcpy(units, o->units, o->nunits * sizeof *units);
    save.units = units;
    save.text.p = out;
    size_t off = 0;
    while (off < ol) {
        size_t cl;
        int32_t cp = tdx_utf8_decode(out + off, out + ol, &cl);
        cr_assert(cp >= 0, "output not UTF-8 at %zu", off);
        size_t s0 = tdx_norm_map_start(&save, off), s1 = tdx_norm_map_end(&save, off + cl);
        cr_assert(s0 < s1, "output char at %zu has no source", off);
        const char *piece = fast(x, src + s0, s1 - s0);
        uint8_t enc[4];
        size_t el = put(enc, (uint32_t)cp);
        /* A rule that leaves its key unchanged (著名 > 著名) maps each
         * character to itself, though alone it would change (著 > 着). */
        int found = memmem(piece, strlen(piece), enc, el) != NULL ||
                    (el == s1 - s0 && memcmp(enc, src + s0, el) == 0);
        cr_assert(found,
                  "output char U+%04X at %zu: source [%zu,%zu) normalizes to '%s'", cp, off,
                  s0, s1, piece);
        off += cl;
    }
    free(out);
    free(units);
}

/* ---- golden cases ---------------------------------------------------------- */

typedef struct golden {
    const char *in, *want, *why;
} golden;

/*
 * Expected values come from the issue (the spellings a watch list must
 * match) and from the Unicode / ICU data named in "why"; each is also
 * checked against the reference chain.
 */
static const golden goldens[] = {
    {"亞馬遜雲科技", "亚马逊云科技", "issue: Traditional -> Simplified"},
    {"深圳大學", "深圳大学", "issue"},
    {"之江實驗室", "之江实验室", "issue"},
    {"國家超級計算中心", "国家超级计算中心", "issue"},
    {"ＡＷＳ", "aws", "issue: full-width Latin -> ASCII, case folded"},
    {"Ｈ１００", "h100", "issue: full-width digits"},
    {"ＮＶＩＤＩＡ　Ａ１００", "nvidia a100", "ideographic space between Latin -> one space"},
    {"Amazon  Web Services", "amazon web services", "issue: a run of spaces -> one"},
    {"深 圳 大 学", "深圳大学", "issue: spaces between CJK removed"},
    {"深\u3000圳\t大\n学", "深圳大学", "any White_Space run between CJK"},
    {"  深圳 ", " 深圳 ", "leading/trailing runs -> one space"},
    {"深圳 A100", "深圳 a100", "space between CJK and Latin kept"},
    {"\u3231", "(株)", "U+3231 <compat> ( 682A )"},
    {"\u2460", "1", "U+2460 <circle> 0031"},
    {"\uFB01", "fi", "U+FB01 <compat> 0066 0069"},
    {"Stra\u00DFe", "strasse", "case folding of sharp s"},
    {"\u212B", "\u00E5", "Angstrom sign: canonical, then folded"},
    {"e\u0301", "\u00E9", "composition of a combining sequence"},
    {"a\u200Bb", "ab", "default ignorable removed"},
    {"甚麼", "什么", "ICU rule 甚麼 > 什么"},
    {"甚", "甚", "甚 alone has no rule"},
    {"乾坤", "乾坤", "ICU rule 乾坤 > 乾坤"},
    {"乾燥", "干燥", "no rule for 乾燥: 乾 > 干"},
    {"關係", "关系", "ICU rule 關係 > 关系"},
    {"「中標」", "“中标”", "ICU rules 「 > “, 」 > ”"},
};

Test(normalize, golden_spellings)
{
    nx x;
    nx_open(&x, TDX_NORM_ALL, 0);
    for (size_t i = 0; i < sizeof goldens / sizeof goldens[0]; i++) {
        const golden *g = &goldens[i];
        size_t rl;
        char *r = ref(&x, g->in, strlen(g->in), &rl, NULL);
        cr_expect(eq(str, r, (char *)g->want), "reference on '%s' (%s)", g->in, g->why);
        const char *f = fast(&x, g->in, strlen(g->in));
        cr_expect(eq(str, (char *)f, (char *)g->want), "fast on '%s' (%s)", g->in, g->why);
        check_map(&x, (const uint8_t *)g->in, strlen(g->in), 1);
        free(r);
    }
    nx_close(&x);
}

Test(normalize, str_convenience)
{
    tdx_norm *n;
    tdx_err err = {0};
    cr_assert(eq(int, tdx_norm_create(TDX_NORM_ALL, &n, &err), 0));
    char *s;
    size_t l;
    cr_assert(eq(int, tdx_norm_str(n, "ＮＶＩＤＩＡ　Ａ１００", strlen("ＮＶＩＤＩＡ　Ａ１００"), &s, &l, &err), 0));
    cr_assert(eq(str, s, "nvidia a100"));
    cr_assert(eq(sz, l, 11));
    tdx_free(s);
    cr_assert(eq(int, tdx_norm_str(n, "", 0, &s, NULL, &err), 0));
    cr_assert(eq(str, s, ""));
    tdx_free(s);
    tdx_norm_free(n);
}

/* ---- every code point ------------------------------------------------------- */

/*
 * U+0001 separates the pieces of one long reference run: it is inert for
 * nfkc_cf (a boundary on both sides, unchanged), not in the transliterator's
 * source set, not white space and not CJK, so each piece normalizes as if
 * alone.  Running ICU once per code point would take minutes.
 */
static void check_separator(nx *x)
{
    UErrorCode st = U_ZERO_ERROR;
    const UNormalizer2 *nf = unorm2_getNFKCCasefoldInstance(&st);
    cr_assert(unorm2_isInert(nf, 1));
    cr_assert(eq(int, tdx_norm_char_class(1), TDX_CC_OTHER));
    cr_assert(eq(u32, cptab_get(&x->n->t1, 1), 0));
}

static void every_code_point(unsigned steps, int neighbours)
{
    nx x;
    nx_open(&x, steps, 0);
    check_separator(&x);
    size_t cap = 0x110000 * 12, len = 0;
    uint8_t *batch = malloc(cap);
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        if (neighbours)
            batch[len++] = 'a';
        len += put(batch + len, cp);
        if (neighbours)
            len += put(batch + len, 0x4E2D); /* 中 */
        batch[len++] = 1;
    }
    size_t rl;
    char *r = ref(&x, batch, len, &rl, NULL);
    /* Whole batch through the fast path too. */
    const char *f = fast(&x, batch, len);
    cr_assert(eq(sz, x.o.text.len, rl), "steps %s: batch lengths differ", tdx_norm_steps_name(steps));
    cr_assert(memcmp(f, r, rl) == 0, "steps %s: batch differs", tdx_norm_steps_name(steps));
    /* And each piece alone. */
    const uint8_t *p = batch;
    const char *rp = r;
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        const uint8_t *e = memchr(p, 1, (size_t)(batch + len - p));
        const char *re = memchr(rp, 1, (size_t)(r + rl - rp));
        cr_assert(e && re);
        const char *fp = fast(&x, p, (size_t)(e - p));
        size_t want = (size_t)(re - rp);
        if (x.o.text.len != want || memcmp(fp, rp, want) != 0) {
            char h1[64], h2[64];
            hexdump(h1, sizeof h1, (const uint8_t *)fp, x.o.text.len);
            hexdump(h2, sizeof h2, (const uint8_t *)rp, want);
            cr_assert(0, "steps %s U+%04X%s: fast %s, ICU %s", tdx_norm_steps_name(steps), cp,
                      neighbours ? " between a and 中" : "", h1, h2);
        }
        p = e + 1;
        rp = re + 1;
    }
    free(r);
    free(batch);
    nx_close(&x);
}

ParameterizedTestParameters(normalize, every_code_point_alone)
{
    static unsigned steps[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    return cr_make_param_array(unsigned, steps, 8);
}

ParameterizedTest(unsigned *steps, normalize, every_code_point_alone, .timeout = 120)
{
    every_code_point(*steps, 0);
}

ParameterizedTestParameters(normalize, every_code_point_between_neighbours)
{
    static unsigned steps[3] = {TDX_NORM_ALL, TDX_NORM_NFKC_CF | TDX_NORM_SPACE,
                                TDX_NORM_T2S};
    return cr_make_param_array(unsigned, steps, 3);
}

ParameterizedTest(unsigned *steps, normalize, every_code_point_between_neighbours,
                  .timeout = 120)
{
    every_code_point(*steps, 1);
}

/* ---- random differential ------------------------------------------------------ */

static const char simp[] = "深圳大学之江实验室国家超级计算中心亚马逊云科技采购项目招标公告中标结果公示"
                           "服务器一下不了人中国合同金额万元单位名称地址联系电话";
static const char trad[] = "亞馬遜雲科技深圳大學之江實驗室國家超級計算中心採購項目招標結果公示伺服器"
                           "關係這裡餘甚麼乾坤乾燥後髮發臺灣單幹內裡著名計畫規畫";
static const uint32_t spaces[] = {' ', '\t', '\n', 0x3000, 0x00A0, 0x2003, 0x0085, 0x202F};
static const uint32_t compat[] = {0x3231, 0x2460, 0xFB01, 0xFDFA, 0x00A8, 0x2474, 0x337B,
                                  0x2F00, 0xF900, 0x00DF, 0x0130, 0x03A3, 0x1E9E, 0x2026,
                                  0xFF61, 0x309B, 0x00BD, 0x2163, 0x1D400, 0x2F800, 0x2F8A6};
static const uint32_t ignorable[] = {0x200B, 0x200D, 0xFE0F, 0x00AD, 0x2060, 0xE0041, 0x034F};
static const char *const invalid[] = {"\x80", "\xC0\xAF", "\xE4\xB8", "\xED\xA0\x80",
                                      "\xF4\x90\x80\x80", "\xFF", "\xF0\x9F", "\xE0\x80",
                                      "\xC2", "\xF5\x80"};

static uint32_t pick_utf8(uint64_t *st, const char *s)
{
    /* a random character of a UTF-8 string of 3-byte characters */
    size_t n = strlen(s) / 3;
    size_t i = tu_rand(st) % n;
    const uint8_t *p = (const uint8_t *)s + i * 3;
    size_t l;
    return (uint32_t)tdx_utf8_decode(p, p + 3, &l);
}

static size_t gen(const tdx_norm *n, uint64_t *st, uint8_t *buf, size_t nchars)
{
    size_t len = 0;
    for (size_t i = 0; i < nchars; i++) {
        unsigned k = (unsigned)(tu_rand(st) % 100);
        uint32_t cp;
        if (k < 20) {
            cp = pick_utf8(st, simp);
        } else if (k < 40) {
            cp = pick_utf8(st, trad);
        } else if (k < 48 && n->nphrases) {
            /* a rule key or a prefix of one */
            const norm_phrase *ph = &n->phrases[tu_rand(st) % n->nphrases];
            uint32_t ll;
            const uint32_t *lhs = norm_pool_str(n, ph->lhs, &ll);
            uint32_t take = 1 + (uint32_t)(tu_rand(st) % ll);
            for (uint32_t j = 0; j < take; j++)
                len += put(buf + len, lhs[j]);
            continue;
        } else if (k < 56) {
            cp = spaces[tu_rand(st) % (sizeof spaces / sizeof spaces[0])];
        } else if (k < 62) {
            cp = 0xFF01 + (uint32_t)(tu_rand(st) % 0x5E); /* full-width ASCII */
        } else if (k < 70) {
            static const char ascii[] = "abcXYZ019 .,-()/&:AaZz";
            cp = (uint8_t)ascii[tu_rand(st) % (sizeof ascii - 1)];
        } else if (k < 74) {
            static const uint32_t marks[] = {0x0300, 0x0301, 0x0308, 0x0323, 0x3099,
                                             0x309A, 0x20D0, 0xFF9E, 0x0345, 0x05B0};
            cp = marks[tu_rand(st) % (sizeof marks / sizeof marks[0])];
        } else if (k < 78) {
            uint32_t r = (uint32_t)(tu_rand(st) % 4);
            cp = r == 0   ? 0x1100 + (uint32_t)(tu_rand(st) % 19)
                 : r == 1 ? 0x1161 + (uint32_t)(tu_rand(st) % 21)
                 : r == 2 ? 0x11A8 + (uint32_t)(tu_rand(st) % 27)
                          : 0xAC00 + (uint32_t)(tu_rand(st) % 11172);
        } else if (k < 82) {
            cp = compat[tu_rand(st) % (sizeof compat / sizeof compat[0])];
        } else if (k < 85) {
            cp = ignorable[tu_rand(st) % (sizeof ignorable / sizeof ignorable[0])];
        } else if (k < 88) {
            uint32_t r = (uint32_t)(tu_rand(st) % 3);
            cp = r == 0 ? 0x20000 + (uint32_t)(tu_rand(st) % 0xA6E0)
                 : r == 1 ? 0x2F800 + (uint32_t)(tu_rand(st) % 0x21E)
                          : 0x1F600 + (uint32_t)(tu_rand(st) % 0x50);
        } else if (k < 91) {
            const char *b = invalid[tu_rand(st) % (sizeof invalid / sizeof invalid[0])];
            memcpy(buf + len, b, strlen(b));
            len += strlen(b);
            continue;
        } else if (k < 94) {
            static const uint32_t kana[] = {0x304B, 0x30AB, 0xFF76, 0x30A6, 0x3046, 0x309D};
            cp = kana[tu_rand(st) % (sizeof kana / sizeof kana[0])];
        } else {
            do
                cp = (uint32_t)(tu_rand(st) % 0x110000);
            while (cp >= 0xD800 && cp <= 0xDFFF);
        }
        len += put(buf + len, cp);
    }
    return len;
}

static void differential(unsigned steps, unsigned xflags, int rounds, size_t nchars)
{
    nx x;
    nx_open(&x, steps, xflags);
    uint64_t seed = tu_seed("normalize differential"), st = seed;
    uint8_t *buf = malloc(nchars * 16 + 16);
    for (int round = 0; round < rounds; round++) {
        size_t len = gen(x.n, &st, buf, nchars);
        size_t rl, rinv;
        char *r = ref(&x, buf, len, &rl, &rinv);
        const char *f = fast(&x, buf, len);
        if (x.o.text.len != rl || memcmp(f, r, rl) != 0) {
            size_t d = 0;
            while (d < rl && d < x.o.text.len && f[d] == r[d])
                d++;
            char hin[1024];
            hexdump(hin, sizeof hin, buf, len < 400 ? len : 400);
            cr_assert(0, "seed %llu round %d steps %s flags %u: differs at output byte %zu "
                         "(fast '%.40s' ICU '%.40s'); input %s",
                      (unsigned long long)seed, round, tdx_norm_steps_name(steps), xflags, d,
                      f + (d > 8 ? d - 8 : 0), r + (d > 8 ? d - 8 : 0), hin);
        }
        cr_assert(eq(sz, x.o.invalid, rinv), "seed %llu round %d: invalid count",
                  (unsigned long long)seed, round);
        check_map(&x, buf, len, round < 3);
        free(r);
    }
    free(buf);
    nx_close(&x);
}

ParameterizedTestParameters(normalize, random_strings_match_icu_chain)
{
    static unsigned steps[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    return cr_make_param_array(unsigned, steps, 8);
}

ParameterizedTest(unsigned *steps, normalize, random_strings_match_icu_chain, .timeout = 120)
{
    differential(*steps, 0, 60, 3000);
}

Test(normalize, random_strings_general_path_only, .timeout = 120)
{
    differential(TDX_NORM_ALL, TDX_NORM_X_NO_FAST, 30, 3000);
}

Test(normalize, random_strings_icu_t2s_fallback, .timeout = 120)
{
    differential(TDX_NORM_ALL, TDX_NORM_X_ICU_T2S, 30, 3000);
    differential(TDX_NORM_T2S | TDX_NORM_SPACE, TDX_NORM_X_ICU_T2S, 10, 3000);
}

Test(normalize, short_random_strings_match_icu_chain, .timeout = 120)
{
    /* Short texts put every special case at the start and the end. */
    for (unsigned steps = 0; steps < 8; steps++)
        differential(steps, 0, 400, 6);
}
