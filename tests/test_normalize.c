/*
 * test_normalize.c - the normalizer against ICU's direct call chain
 * (tdx_norm_run_reference): golden spellings, every code point alone and
 * between neighbours, long seeded random strings for every step set, the
 * offset map's properties, invalid UTF-8, each step switch, idempotence on
 * real text, error paths and an out-of-memory loop.
 */
#include "tassert.h"
#include <criterion/parameterized.h>
#include <dirent.h>
#include <pthread.h>
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
        cr_assert(found, "output char U+%04X at %zu: source [%zu,%zu) normalizes to '%s'", cp, off,
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
    cr_assert(eq(
        int,
        tdx_norm_str(n, "ＮＶＩＤＩＡ　Ａ１００", strlen("ＮＶＩＤＩＡ　Ａ１００"), &s, &l, &err),
        0));
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
    cr_assert(eq(sz, x.o.text.len, rl), "steps %s: batch lengths differ",
              tdx_norm_steps_name(steps));
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
    static unsigned steps[3] = {TDX_NORM_ALL, TDX_NORM_NFKC_CF | TDX_NORM_SPACE, TDX_NORM_T2S};
    return cr_make_param_array(unsigned, steps, 3);
}

ParameterizedTest(unsigned *steps, normalize, every_code_point_between_neighbours, .timeout = 120)
{
    every_code_point(*steps, 1);
}

/* ---- random differential ------------------------------------------------------ */

static const char simp[] =
    "深圳大学之江实验室国家超级计算中心亚马逊云科技采购项目招标公告中标结果公示"
    "服务器一下不了人中国合同金额万元单位名称地址联系电话";
static const char trad[] =
    "亞馬遜雲科技深圳大學之江實驗室國家超級計算中心採購項目招標結果公示伺服器"
    "關係這裡餘甚麼乾坤乾燥後髮發臺灣單幹內裡著名計畫規畫";
static const uint32_t spaces[] = {' ', '\t', '\n', 0x3000, 0x00A0, 0x2003, 0x0085, 0x202F};
static const uint32_t compat[] = {0x3231, 0x2460, 0xFB01, 0xFDFA, 0x00A8,  0x2474,  0x337B,
                                  0x2F00, 0xF900, 0x00DF, 0x0130, 0x03A3,  0x1E9E,  0x2026,
                                  0xFF61, 0x309B, 0x00BD, 0x2163, 0x1D400, 0x2F800, 0x2F8A6};
static const uint32_t ignorable[] = {0x200B, 0x200D, 0xFE0F, 0x00AD, 0x2060, 0xE0041, 0x034F};
static const char *const invalid[] = {
    "\x80", "\xC0\xAF", "\xE4\xB8", "\xED\xA0\x80", "\xF4\x90\x80\x80",
    "\xFF", "\xF0\x9F", "\xE0\x80", "\xC2",         "\xF5\x80"};

static uint32_t pick_utf8(uint64_t *st, const char *s)
{
    /* a random character of a UTF-8 string of 3-byte characters */
    size_t n = strlen(s) / 3;
    size_t i = tu_rand(st) % n;
    const uint8_t *p = (const uint8_t *)s + i * 3;
    size_t l;
    return (uint32_t)tdx_utf8_decode(p, p + 3, &l);
}

/*
 * Random text.  mix 0: mostly CJK with everything else sprinkled in;
 * mix 1: hardly any plain character, so the general path sees long
 * stretches (rule keys, spaces, marks, compatibility characters,
 * ignorables, ill-formed bytes) and has to cut them into windows.
 */
static size_t gen_mix(const tdx_norm *n, uint64_t *st, uint8_t *buf, size_t nchars, int mix)
{
    size_t len = 0;
    for (size_t i = 0; i < nchars; i++) {
        unsigned k = (unsigned)(tu_rand(st) % 100);
        if (mix == 1) {
            static const unsigned remap[] = {40, 48, 70, 78, 82, 85, 88, 91};
            k = remap[k % 8] + (unsigned)(tu_rand(st) % 3);
        }
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
            cp = r == 0   ? 0x20000 + (uint32_t)(tu_rand(st) % 0xA6E0)
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

static size_t gen(const tdx_norm *n, uint64_t *st, uint8_t *buf, size_t nchars)
{
    return gen_mix(n, st, buf, nchars, 0);
}

static void differential_mix(unsigned steps, unsigned xflags, int rounds, size_t nchars, int mix)
{
    nx x;
    nx_open(&x, steps, xflags);
    uint64_t seed = tu_seed("normalize differential"), st = seed;
    uint8_t *buf = malloc(nchars * 16 + 16);
    for (int round = 0; round < rounds; round++) {
        size_t len = gen_mix(x.n, &st, buf, nchars, mix);
        size_t rl, rinv;
        char *r = ref(&x, buf, len, &rl, &rinv);
        const char *f = fast(&x, buf, len);
        if (x.o.text.len != rl || memcmp(f, r, rl) != 0) {
            size_t d = 0;
            while (d < rl && d < x.o.text.len && f[d] == r[d])
                d++;
            char hin[1024];
            hexdump(hin, sizeof hin, buf, len < 400 ? len : 400);
            cr_assert(0,
                      "seed %llu round %d steps %s flags %u: differs at output byte %zu "
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

static void differential(unsigned steps, unsigned xflags, int rounds, size_t nchars)
{
    differential_mix(steps, xflags, rounds, nchars, 0);
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

Test(normalize, random_special_heavy_strings_match_icu_chain, .timeout = 120)
{
    for (unsigned steps = 0; steps < 8; steps++)
        differential_mix(steps, 0, 8, 3000, 1);
}

Test(normalize, short_random_strings_match_icu_chain, .timeout = 120)
{
    /* Short texts put every special case at the start and the end. */
    for (unsigned steps = 0; steps < 8; steps++)
        differential(steps, 0, 400, 6);
}

/* ---- idempotence ------------------------------------------------------------ */

/* Realistic text: the spellings of names and notices, with the noise that
 * extraction leaves (spaces between characters, full-width forms, breaks). */
static size_t gen_real(uint64_t *st, uint8_t *buf, size_t target)
{
    static const char *const words[] = {
        "深圳大学",
        "深圳大學",
        "之江實驗室",
        "之江实验室",
        "亞馬遜雲科技",
        "亚马逊云科技",
        "國家超級計算中心",
        "国家超级计算中心",
        "採購項目",
        "采购项目",
        "中標公告",
        "招标文件",
        "伺服器",
        "服务器",
        "人工智慧",
        "預算金額",
        "萬元",
        "供應商",
        "聯絡人",
        "關係",
        "這裡",
        "計畫",
        "ＮＶＩＤＩＡ　Ａ１００",
        "Ｈ１００",
        "ＡＷＳ",
        "（２０２３）",
        "A100",
        "H800",
        "Amazon  Web Services",
        "2023-06-01",
        "，",
        "。",
        "、",
        "：",
        "（",
        "）",
        "“",
        "”",
        "「",
        "」",
        "\n",
        " ",
        "　",
        "㈱",
        "①",
        "ﬁ",
        "…",
    };
    size_t len = 0;
    while (len < target) {
        const char *w = words[tu_rand(st) % (sizeof words / sizeof words[0])];
        size_t l = strlen(w);
        if (tu_rand(st) % 20 == 0 && l >= 6 && (uint8_t)w[0] >= 0xE0) {
            for (size_t i = 0; i < l; i += 3) { /* 深 圳 大 學 */
                memcpy(buf + len, w + i, 3);
                len += 3;
                buf[len++] = ' ';
            }
        } else {
            memcpy(buf + len, w, l);
            len += l;
        }
    }
    return len;
}

Test(normalize, idempotent_on_real_text)
{
    uint64_t seed = tu_seed("normalize idempotence"), st = seed;
    uint8_t *buf = malloc(70000);
    for (unsigned steps = 0; steps < 8; steps++) {
        nx x;
        nx_open(&x, steps, 0);
        for (int round = 0; round < 20; round++) {
            size_t len = gen_real(&st, buf, 60000);
            size_t l1;
            char *once = ref(&x, buf, len, &l1, NULL);
            cr_assert(eq(str, (char *)fast(&x, buf, len), once), "seed %llu",
                      (unsigned long long)seed);
            const char *twice = fast(&x, once, l1);
            cr_assert(eq(str, (char *)twice, once), "seed %llu steps %s round %d: not idempotent",
                      (unsigned long long)seed, tdx_norm_steps_name(steps), round);
            free(once);
        }
        nx_close(&x);
    }
    free(buf);
}

/*
 * Where ICU's chain itself is not idempotent, and why; the fast path must
 * follow it there too:
 *   - a few t2s rules keep a Traditional character whose own rule differs
 *     (顯著 > 显著, but 著 > 着 alone);
 *   - removing spaces between CJK characters happens after t2s and can form
 *     a rule key for the second pass (沈 寂 -> 沈寂, then 沈寂 > 沉寂);
 *   - one-character rules that form a cycle (U+82CE 苎 > 苧, U+82E7 苧 > 苎);
 *   - removing spaces between Hangul jamo forms a sequence nfkc_cf composes
 *     on the second pass (ᄀ ᅡ -> 가 -> 가).
 */
Test(normalize, not_idempotent_where_icu_is_not)
{
    static const char *const cases[][3] = {
        {"顯著", "显著", "显着"},
        {"沈 寂", "沈寂", "沉寂"},
        {"\u82CE", "\u82E7", "\u82CE"},
        {"\u1100 \u1161", "\u1100\u1161", "\uAC00"},
    };
    nx x;
    nx_open(&x, TDX_NORM_ALL, 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t l1, l2;
        char *once = ref(&x, cases[i][0], strlen(cases[i][0]), &l1, NULL);
        char *twice = ref(&x, once, l1, &l2, NULL);
        cr_expect(eq(str, once, (char *)cases[i][1]), "case %zu, ICU first pass", i);
        cr_expect(eq(str, twice, (char *)cases[i][2]), "case %zu, ICU second pass", i);
        cr_expect(eq(str, (char *)fast(&x, cases[i][0], strlen(cases[i][0])), once));
        cr_expect(eq(str, (char *)fast(&x, once, l1), twice));
        free(once);
        free(twice);
    }
    nx_close(&x);
}

/* ---- each step switch ------------------------------------------------------------ */

typedef struct step_case {
    unsigned steps;
    const char *in, *want;
} step_case;

Test(normalize, each_step_switches_alone)
{
    static const step_case cases[] = {
        /* none: only invalid UTF-8 is replaced */
        {0, "ＡＢ 臺灣  x\xff", "ＡＢ 臺灣  x\xEF\xBF\xBD"},
        /* nfkc_cf: full-width and ideographic space fold, no t2s, runs stay */
        {TDX_NORM_NFKC_CF, "ＡＢ臺灣　x  y", "ab臺灣 x  y"},
        /* t2s: Traditional -> Simplified, full-width and spaces untouched */
        {TDX_NORM_T2S, "ＡＢ臺灣 甚麼", "ＡＢ台湾 什么"},
        /* space: runs between CJK removed, others collapsed, nothing else */
        {TDX_NORM_SPACE, "深 圳\u3000大\t學  Ｘ", "深圳大學 Ｘ"},
        {TDX_NORM_NFKC_CF | TDX_NORM_SPACE, "深 圳 大 學 Ａ", "深圳大學 a"},
        {TDX_NORM_T2S | TDX_NORM_SPACE, "深 圳 大 學 Ａ", "深圳大学 Ａ"},
        {TDX_NORM_ALL, "深 圳 大 學 Ａ", "深圳大学 a"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        nx x;
        nx_open(&x, cases[i].steps, 0);
        const char *in = cases[i].in;
        cr_expect(eq(str, (char *)fast(&x, in, strlen(in)), (char *)cases[i].want), "steps %s",
                  tdx_norm_steps_name(cases[i].steps));
        char *r = ref(&x, in, strlen(in), NULL, NULL);
        cr_expect(eq(str, r, (char *)cases[i].want), "reference, steps %s",
                  tdx_norm_steps_name(cases[i].steps));
        free(r);
        nx_close(&x);
    }
}

Test(normalize, step_lists_parse_and_print)
{
    tdx_err err = {0};
    unsigned s;
    cr_assert(eq(int, tdx_norm_parse_steps("space,nfkc_cf", &s, &err), 0));
    cr_assert(eq(u32, s, TDX_NORM_SPACE | TDX_NORM_NFKC_CF));
    cr_assert(eq(str, (char *)tdx_norm_steps_name(s), "nfkc_cf,space"));
    cr_assert(eq(int, tdx_norm_parse_steps("all", &s, &err), 0));
    cr_assert(eq(u32, s, TDX_NORM_ALL));
    cr_assert(eq(int, tdx_norm_parse_steps(NULL, &s, &err), 0));
    cr_assert(eq(u32, s, TDX_NORM_ALL));
    cr_assert(eq(int, tdx_norm_parse_steps("none", &s, &err), 0));
    cr_assert(eq(u32, s, 0));
    cr_assert(eq(str, (char *)tdx_norm_steps_name(0), "none"));
    for (unsigned k = 1; k < 8; k++) {
        cr_assert(eq(int, tdx_norm_parse_steps(tdx_norm_steps_name(k), &s, &err), 0));
        cr_assert(eq(u32, s, k));
    }
    cr_assert(eq(int, tdx_norm_parse_steps("t2s,nfkc", &s, &err), TDX_EINVAL));
    cr_assert(strstr(err.msg, "'nfkc'") != NULL, "%s", err.msg);
    tdx_err_clear(&err);
    cr_assert(eq(int, tdx_norm_parse_steps("", &s, &err), TDX_EINVAL));
    tdx_err_clear(&err);
    cr_assert(eq(int, tdx_norm_parse_steps("t2s,", &s, &err), TDX_EINVAL));
}

/* ---- invalid UTF-8 ------------------------------------------------------------------ */

typedef struct bad_case {
    const char *in;
    size_t nfffd;      /* U+FFFD expected (= invalid count) */
    const char *parts; /* byte length of each maximal subpart, in order */
} bad_case;

Test(normalize, invalid_utf8_maximal_subparts)
{
    static const bad_case cases[] = {
        {"\x80", 1, "1"},      /* lone continuation byte */
        {"a\xE4\xB8", 1, "2"}, /* truncated three-byte sequence */
        {"\xE4\xB8"
         "a",
         1, "2"},
        {"\xC0\xAF", 2, "11"},           /* overlong two-byte */
        {"\xE0\x80\xAF", 3, "111"},      /* overlong three-byte */
        {"\xED\xA0\x80", 3, "111"},      /* surrogate U+D800 */
        {"\xF4\x90\x80\x80", 4, "1111"}, /* above U+10FFFF */
        {"\xF0\x9F\x98", 1, "3"},        /* truncated four-byte */
        {"\xF5\x80\x80\x80", 4, "1111"},
        {"\xFF\xFE", 2, "11"},
        {"中\x80\x80文", 2, "11"},
        {"深 \xE5\x9C 學", 1, "2"},
        {"\xE4\xB8\xE4\xB8\xAD", 1, "2"}, /* truncated, then 中 */
    };
    nx x;
    nx_open(&x, TDX_NORM_ALL, 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const bad_case *c = &cases[i];
        size_t len = strlen(c->in), rinv;
        char *r = ref(&x, c->in, len, NULL, &rinv);
        const char *f = fast(&x, c->in, len);
        cr_expect(eq(str, (char *)f, r), "case %zu", i);
        cr_expect(eq(sz, x.o.invalid, c->nfffd), "case %zu", i);
        cr_expect(eq(sz, rinv, c->nfffd), "case %zu", i);
        /* Each U+FFFD maps onto exactly its ill-formed bytes, in order. */
        size_t k = 0, off = 0;
        const uint8_t *o = x.o.text.p;
        while (off < x.o.text.len) {
            size_t cl;
            int32_t cp = tdx_utf8_decode(o + off, o + x.o.text.len, &cl);
            if (cp == 0xFFFD) {
                size_t s0 = tdx_norm_map_start(&x.o, off), s1 = tdx_norm_map_end(&x.o, off + cl);
                cr_expect(eq(sz, s1 - s0, (size_t)(c->parts[k] - '0')), "case %zu part %zu", i, k);
                size_t l;
                cr_expect(tdx_utf8_decode((const uint8_t *)c->in + s0, (const uint8_t *)c->in + len,
                                          &l) < 0);
                k++;
            }
            off += cl;
        }
        cr_expect(eq(sz, k, c->nfffd), "case %zu", i);
        check_map(&x, (const uint8_t *)c->in, len, 1); /* last: it reuses x.o */
        free(r);
    }
    nx_close(&x);
}

/* ---- offsets ---------------------------------------------------------------------- */

Test(normalize, offsets_point_at_source_characters)
{
    nx x;
    nx_open(&x, TDX_NORM_ALL, 0);
    /* Ａ１ 深 圳甚麼: bytes Ａ 0-3, １ 3-6, ' ' 6, 深 7-10, ' ' 10, 圳 11-14,
     * 甚麼 14-20 */
    const char *in = "Ａ１ 深 圳甚麼";
    cr_assert(eq(str, (char *)fast(&x, in, strlen(in)), "a1 深圳什么"));
    static const size_t want[][4] = {
        /* out range, source range */
        {0, 1, 0, 3},   {1, 2, 3, 6},    {2, 3, 6, 7},     {3, 6, 7, 10},
        {6, 9, 11, 14}, {9, 12, 14, 20}, {12, 15, 14, 20},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        cr_expect(eq(sz, tdx_norm_map_start(&x.o, want[i][0]), want[i][2]), "char %zu start", i);
        cr_expect(eq(sz, tdx_norm_map_end(&x.o, want[i][1]), want[i][3]), "char %zu end", i);
    }
    /* The removed space is a unit of its own with no output. */
    int found = 0;
    for (size_t i = 0; i < x.o.nunits; i++)
        if (x.o.units[i].out_len == 0 && x.o.units[i].src_off == 10 && x.o.units[i].src_len == 1)
            found = 1;
    cr_expect(found, "no empty unit for the removed space");
    /* Identity text needs no units at all. */
    fast(&x, "深圳大学abc", strlen("深圳大学abc"));
    cr_expect(eq(sz, x.o.nunits, 0));
    /* Out of range offsets clamp. */
    cr_expect(eq(sz, tdx_norm_map_start(&x.o, 1000), strlen("深圳大学abc")));
    cr_expect(eq(sz, tdx_norm_map_end(&x.o, 1000), strlen("深圳大学abc")));
    nx_close(&x);
}

/* ---- class and width tables ------------------------------------------------------------ */

Test(normalize, char_class_and_width_match_icu_properties)
{
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        int want;
        if (cp < 0x80 &&
            ((cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')))
            want = TDX_CC_WORD;
        else if (u_isUWhiteSpace((UChar32)cp))
            want = TDX_CC_SPACE;
        else {
            UErrorCode st = U_ZERO_ERROR;
            UScriptCode sc = uscript_getScript((UChar32)cp, &st);
            want = (sc == USCRIPT_HAN || sc == USCRIPT_HIRAGANA || sc == USCRIPT_KATAKANA ||
                    sc == USCRIPT_HANGUL || sc == USCRIPT_BOPOMOFO ||
                    ublock_getCode((UChar32)cp) == UBLOCK_CJK_SYMBOLS_AND_PUNCTUATION)
                       ? TDX_CC_CJK
                       : TDX_CC_OTHER;
        }
        if (cp < 0x80 && want != TDX_CC_WORD && !u_isUWhiteSpace((UChar32)cp))
            want = TDX_CC_OTHER;
        cr_assert(eq(int, tdx_norm_char_class(cp), want), "U+%04X", cp);
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        int ea = u_getIntPropertyValue((UChar32)cp, UCHAR_EAST_ASIAN_WIDTH);
        size_t w = (u_getCombiningClass((UChar32)cp) != 0 || cp == 0x200B) ? 0
                   : (ea == U_EA_WIDE || ea == U_EA_FULLWIDTH)             ? 2
                                                                           : 1;
        uint8_t b[4];
        size_t l = put(b, cp);
        cr_assert(eq(sz, tdx_text_width((const char *)b, l), w), "width of U+%04X", cp);
    }
    cr_assert(eq(int, tdx_norm_char_class(0x110000), TDX_CC_OTHER));
    cr_assert(eq(sz, tdx_text_width("深圳 ab", strlen("深圳 ab")), 7));
    cr_assert(eq(sz, tdx_text_width("\xff\xfe", 2), 2));
    cr_assert(eq(sz, tdx_text_width(NULL, 5), 0));
}

/* ---- identity ---------------------------------------------------------------------- */

Test(normalize, identity_names_steps_versions_and_table)
{
    tdx_norm *a, *b, *c;
    tdx_err err = {0};
    cr_assert(eq(int, tdx_norm_create(TDX_NORM_ALL, &a, &err), 0));
    cr_assert(eq(int, tdx_norm_create(TDX_NORM_ALL, &b, &err), 0));
    cr_assert(eq(int, tdx_norm_create(TDX_NORM_NFKC_CF, &c, &err), 0));
    const char *id = tdx_norm_identity(a);
    char want[64];
    snprintf(want, sizeof want, "steps=nfkc_cf,t2s,space;icu=%s;unicode=", tdx_norm_icu_version());
    cr_assert(eq(int, strncmp(id, want, strlen(want)), 0), "%s", id);
    const char *t = strstr(id, ";table=");
    cr_assert(t != NULL && strlen(t + 7) == 16 && strspn(t + 7, "0123456789abcdef") == 16, "%s",
              id);
    cr_assert(eq(str, (char *)id, (char *)tdx_norm_identity(b)));
    cr_assert(strcmp(tdx_norm_identity(c) + strlen("steps=nfkc_cf"), strstr(id, ";icu")) != 0);
    cr_assert(eq(u32, tdx_norm_steps(c), TDX_NORM_NFKC_CF));
    tdx_norm_free(a);
    tdx_norm_free(b);
    tdx_norm_free(c);
}

/* ---- errors ------------------------------------------------------------------------- */

Test(normalize, bad_arguments_are_rejected)
{
    tdx_err err = {0};
    tdx_norm *n = NULL;
    cr_assert(eq(int, tdx_norm_create(0x80, &n, &err), TDX_EINVAL));
    cr_assert(eq(ptr, n, NULL));
    tdx_err_clear(&err);
    cr_assert(eq(int, tdx_norm_create(TDX_NORM_ALL, NULL, &err), TDX_EINVAL));
    tdx_err_clear(&err);
    cr_assert(eq(int, tdx_norm_create(TDX_NORM_ALL, &n, &err), 0));
    tdx_norm_ctx *c = NULL;
    cr_assert(eq(int, tdx_norm_ctx_create(NULL, &c, &err), TDX_EINVAL));
    tdx_err_clear(&err);
    cr_assert(eq(int, tdx_norm_ctx_create(n, &c, &err), 0));
    tdx_norm_out o;
    tdx_norm_out_init(&o);
    cr_assert(eq(int, tdx_norm_run(n, NULL, (const uint8_t *)"a", 1, &o, &err), TDX_EINVAL));
    tdx_err_clear(&err);
    cr_assert(eq(int, tdx_norm_run(n, c, NULL, 1, &o, &err), TDX_EINVAL));
    tdx_err_clear(&err);
    cr_assert(eq(int, tdx_norm_run(NULL, c, (const uint8_t *)"a", 1, &o, &err), TDX_EINVAL));
    tdx_err_clear(&err);
    cr_assert(eq(int, tdx_norm_run(n, c, (const uint8_t *)"a", 1, NULL, &err), TDX_EINVAL));
    tdx_err_clear(&err);
    cr_assert(
        eq(int, tdx_norm_run_reference(n, NULL, (const uint8_t *)"a", 1, &o, &err), TDX_EINVAL));
    tdx_err_clear(&err);
    char *s = NULL;
    cr_assert(eq(int, tdx_norm_str(n, NULL, 3, &s, NULL, &err), TDX_EINVAL));
    tdx_err_clear(&err);
    cr_assert(eq(int, tdx_norm_str(NULL, "a", 1, &s, NULL, &err), TDX_EINVAL));
    /* empty input is fine, also with a NULL pointer */
    cr_assert(eq(int, tdx_norm_run(n, c, NULL, 0, &o, &err), 0));
    cr_assert(eq(sz, o.text.len, 0));
    cr_assert(eq(str, (char *)o.text.p, ""));
    tdx_norm_out_free(&o);
    tdx_norm_out_free(NULL);
    tdx_norm_ctx_free(c);
    tdx_norm_ctx_free(NULL);
    tdx_norm_free(n);
    tdx_norm_free(NULL);
}

/* A text that takes every path: blocks, CJK runs, rule keys, white space,
 * composition, invalid bytes, expansions, deletions, supplementary. */
static const char oom_text[] = "Amazon Web Services ＮＶＩＤＩＡ　Ａ１００ 深 圳 大 學 甚麼關係 "
                               "e\u0301\u0323 ᄀ\u1161 \xE4\xB8 a\u200Bb \uFDFA\u3231 \U00020000"
                               "国家超级计算中心，之江實驗室。";

Test(normalize, out_of_memory_fails_cleanly_everywhere, .timeout = 120)
{
    tdx_err err = {0};
    /* create */
    tdx_norm *n = NULL;
    int rc = TDX_ENOMEM;
    long k;
    for (k = 0; rc != 0; k++) {
        tdx_err_clear(&err);
        tdx_alloc_fail_after(k);
        rc = tdx_norm_create(TDX_NORM_ALL, &n, &err);
        tdx_alloc_fail_after(-1);
        if (rc)
            cr_assert(eq(int, rc, TDX_ENOMEM), "create, allocation %ld: %s", k, err.msg);
    }
    cr_assert(k > 1);
    /* context */
    tdx_norm_ctx *c = NULL;
    tdx_alloc_fail_after(0);
    rc = tdx_norm_ctx_create(n, &c, &err);
    tdx_alloc_fail_after(-1);
    cr_assert(eq(int, rc, TDX_ENOMEM));
    cr_assert(eq(int, tdx_norm_ctx_create(n, &c, &err), 0));
    /* run, from a cold context and result every time */
    size_t len = strlen(oom_text);
    for (k = 0, rc = TDX_ENOMEM; rc != 0; k++) {
        tdx_norm_ctx *c2 = NULL;
        cr_assert(eq(int, tdx_norm_ctx_create(n, &c2, &err), 0));
        tdx_norm_out o;
        tdx_norm_out_init(&o);
        tdx_err_clear(&err);
        tdx_alloc_fail_after(k);
        rc = tdx_norm_run(n, c2, (const uint8_t *)oom_text, len, &o, &err);
        tdx_alloc_fail_after(-1);
        if (rc) {
            cr_assert(eq(int, rc, TDX_ENOMEM), "run, allocation %ld: %s", k, err.msg);
            cr_assert(eq(sz, o.text.len, 0));
            cr_assert(eq(sz, o.nunits, 0));
        } else {
            tdx_norm_out r;
            tdx_norm_out_init(&r);
            cr_assert(eq(
                int, tdx_norm_run_reference(n, c2, (const uint8_t *)oom_text, len, &r, &err), 0));
            cr_assert(eq(str, (char *)o.text.p, (char *)r.text.p));
            tdx_norm_out_free(&r);
        }
        tdx_norm_out_free(&o);
        tdx_norm_ctx_free(c2);
    }
    cr_assert(k > 3);
    /* the convenience function */
    char *s = NULL;
    for (k = 0, rc = TDX_ENOMEM; rc != 0; k++) {
        tdx_err_clear(&err);
        tdx_alloc_fail_after(k);
        rc = tdx_norm_str(n, oom_text, len, &s, NULL, &err);
        tdx_alloc_fail_after(-1);
        if (rc)
            cr_assert(eq(int, rc, TDX_ENOMEM), "str, allocation %ld", k);
    }
    tdx_free(s);
    /* the reference */
    for (k = 0, rc = TDX_ENOMEM; rc != 0; k++) {
        tdx_norm_out o;
        tdx_norm_out_init(&o);
        tdx_err_clear(&err);
        tdx_alloc_fail_after(k);
        rc = tdx_norm_run_reference(n, c, (const uint8_t *)oom_text, len, &o, &err);
        tdx_alloc_fail_after(-1);
        if (rc)
            cr_assert(eq(int, rc, TDX_ENOMEM), "reference, allocation %ld", k);
        tdx_norm_out_free(&o);
    }
    tdx_norm_ctx_free(c);
    tdx_norm_free(n);
}

/* ---- threads ---------------------------------------------------------------------- */

typedef struct thr {
    const tdx_norm *n;
    const uint8_t *text;
    size_t len;
    uint64_t hash;
    int rc;
} thr;

static void *thr_main(void *arg)
{
    thr *t = arg;
    tdx_err err = {0};
    tdx_norm_ctx *c = NULL;
    tdx_norm_out o;
    tdx_norm_out_init(&o);
    t->rc = tdx_norm_ctx_create(t->n, &c, &err);
    for (int i = 0; i < 20 && t->rc == 0; i++) {
        t->rc = tdx_norm_run(t->n, c, t->text, t->len, &o, &err);
        t->hash = t->hash * 31 + o.text.len + o.nunits;
    }
    tdx_norm_out_free(&o);
    tdx_norm_ctx_free(c);
    return NULL;
}

Test(normalize, one_normalizer_shared_by_threads)
{
    nx x;
    nx_open(&x, TDX_NORM_ALL, 0);
    uint64_t seed = tu_seed("normalize threads"), st = seed;
    uint8_t *buf = malloc(200000);
    size_t len = gen(x.n, &st, buf, 10000);
    thr t[4];
    pthread_t id[4];
    for (int i = 0; i < 4; i++) {
        t[i] = (thr){x.n, buf, len, 0, 0};
        cr_assert(eq(int, pthread_create(&id[i], NULL, thr_main, &t[i]), 0));
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(id[i], NULL);
        cr_assert(eq(int, t[i].rc, 0));
        cr_assert(eq(u64, t[i].hash, t[0].hash));
    }
    free(buf);
    nx_close(&x);
}

/* ---- tables kept in the cache directory ------------------------------------------- */

static void tmp_setup(void)
{
    tu_tmpdir();
}

static void tmp_teardown(void)
{
    tu_tmpdir_remove();
}

/* The one norm-*.tab file in dir (its path in out); aborts unless exactly one. */
static void cache_file(const char *dir, char *out, size_t cap)
{
    DIR *d = opendir(dir);
    cr_assert(d != NULL, "no cache directory %s", dir);
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strncmp(e->d_name, "norm-", 5) != 0)
            continue;
        found++;
        snprintf(out, cap, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    cr_assert(eq(int, found, 1), "%d table files in %s", found, dir);
}

static tdx_norm *cached(unsigned steps, const char *dir, const char *expect, int want_from_cache)
{
    tdx_err err = {0};
    tdx_norm *n = NULL;
    int rc = tdx_norm_create_cached(steps, dir, expect, &n, &err);
    cr_assert(eq(int, rc, 0), "create_cached: %s", err.msg);
    cr_assert(eq(int, tdx_norm_from_cache(n), want_from_cache), "from cache (steps %s)",
              tdx_norm_steps_name(steps));
    return n;
}

static void same_tab(const cptab *a, const cptab *b, const char *what)
{
    cr_assert(eq(sz, a->nblocks, b->nblocks), "%s blocks", what);
    cr_assert(memcmp(a->idx, b->idx, sizeof a->idx) == 0, "%s index", what);
    cr_assert(memcmp(a->blocks, b->blocks, a->nblocks * 256 * sizeof(uint32_t)) == 0, "%s", what);
}

/* Every field the normalizer reads, and the output of random text with
 * offsets, equal between a built normalizer and one from the cache. */
static void same_normalizer(tdx_norm *built, tdx_norm *loaded)
{
    cr_assert(strcmp(tdx_norm_identity(built), tdx_norm_identity(loaded)) == 0,
              "identities differ");
    cr_assert(eq(u32, built->steps, loaded->steps));
    cr_assert(eq(int, built->t2s_icu, loaded->t2s_icu));
    cr_assert(eq(int, built->phrase_inline, loaded->phrase_inline));
    cr_assert(eq(int, built->ascii_block, loaded->ascii_block));
    cr_assert(eq(u64, built->e_invalid, loaded->e_invalid));
    cr_assert(eq(sz, tdx_norm_table_bytes(built), tdx_norm_table_bytes(loaded)));
    cr_assert(memcmp(built->fast_bmp, loaded->fast_bmp, 0x10000 * sizeof(uint64_t)) == 0);
    cr_assert(eq(sz, built->npairmask, loaded->npairmask));
    cr_assert(memcmp(built->pairmask, loaded->pairmask, built->npairmask * 8) == 0);
    same_tab(&built->fast, &loaded->fast, "fast");
    same_tab(&built->nf, &loaded->nf, "nf");
    same_tab(&built->t1, &loaded->t1, "t1");
    cr_assert(eq(sz, built->npool, loaded->npool));
    cr_assert(memcmp(built->pool, loaded->pool, built->npool * sizeof(uint32_t)) == 0);
    cr_assert(eq(sz, built->nphrases, loaded->nphrases));
    cr_assert(built->nphrases == 0 ||
              memcmp(built->phrases, loaded->phrases, built->nphrases * sizeof(norm_phrase)) == 0);
    cr_assert(eq(sz, built->nbpool, loaded->nbpool));
    cr_assert(built->nbpool == 0 || memcmp(built->bpool, loaded->bpool, built->nbpool) == 0);
    cr_assert(eq(sz, built->npairs_cap, loaded->npairs_cap));
    cr_assert(built->npairs_cap == 0 ||
              memcmp(built->pairs, loaded->pairs, built->npairs_cap * sizeof(norm_pair)) == 0);

    nx a = {.n = built}, b = {.n = loaded};
    tdx_err err = {0};
    cr_assert(eq(int, tdx_norm_ctx_create(built, &a.c, &err), 0), "%s", err.msg);
    cr_assert(eq(int, tdx_norm_ctx_create(loaded, &b.c, &err), 0), "%s", err.msg);
    uint64_t st = tu_seed("normalize cache");
    uint8_t *buf = malloc(2000 * 16 + 16);
    for (int round = 0; round < 20; round++) {
        size_t len = gen(built, &st, buf, 2000);
        const char *fa = fast(&a, buf, len);
        const char *fb = fast(&b, buf, len);
        cr_assert(eq(sz, a.o.text.len, b.o.text.len), "round %d: lengths", round);
        cr_assert(memcmp(fa, fb, a.o.text.len) == 0, "round %d: texts", round);
        cr_assert(eq(sz, a.o.nunits, b.o.nunits), "round %d: units", round);
        cr_assert(memcmp(a.o.units, b.o.units, a.o.nunits * sizeof *a.o.units) == 0,
                  "round %d: offsets", round);
    }
    free(buf);
    tdx_norm_out_free(&a.o);
    tdx_norm_out_free(&b.o);
    tdx_norm_ctx_free(a.c);
    tdx_norm_ctx_free(b.c);
}

ParameterizedTestParameters(normalize_cache, tables_loaded_equal_tables_built)
{
    static unsigned steps[] = {TDX_NORM_ALL, TDX_NORM_NFKC_CF | TDX_NORM_SPACE, TDX_NORM_T2S, 0};
    return cr_make_param_array(unsigned, steps, sizeof steps / sizeof steps[0]);
}

ParameterizedTest(unsigned *steps, normalize_cache, tables_loaded_equal_tables_built,
                  .init = tmp_setup, .fini = tmp_teardown, .timeout = 120)
{
    const char *dir = tu_path("cache/deeper");
    tdx_norm *built = cached(*steps, dir, NULL, 0); /* builds, and writes the file */
    char path[4096];
    cache_file(dir, path, sizeof path);
    tdx_norm *loaded = cached(*steps, dir, tdx_norm_identity(built), 1);
    same_normalizer(built, loaded);
    tdx_norm_free(loaded);
    tdx_norm_free(built);
}

Test(normalize_cache, a_damaged_or_foreign_file_is_a_miss_and_is_made_again, .init = tmp_setup,
     .fini = tmp_teardown, .timeout = 120)
{
    const char *dir = tu_path("cache");
    tdx_norm *ref = cached(TDX_NORM_ALL, dir, NULL, 0);
    char path[4096];
    cache_file(dir, path, sizeof path);
    size_t len;
    char *good = tu_read_file(path, &len);
    cr_assert(len > 0x110000);

    /* One byte changed (the checksum), the key changed (another build's
     * file under this name), the file cut short, an empty file. */
    for (int damage = 0; damage < 4; damage++) {
        char *bad = malloc(len);
        memcpy(bad, good, len);
        size_t blen = len;
        if (damage == 0)
            bad[28 + 192 + 16 + 56 + 4096] ^= 0x20; /* header, fields, then in fast_bmp */
        else if (damage == 1)
            bad[12] ^= 1;
        else if (damage == 2)
            blen = len - 0x1000;
        else
            blen = 0;
        tu_write_file(path, bad, blen);
        free(bad);
        tdx_norm *n = cached(TDX_NORM_ALL, dir, NULL, 0);
        cr_assert(strcmp(tdx_norm_identity(n), tdx_norm_identity(ref)) == 0, "damage %d", damage);
        tdx_norm_free(n);
        size_t again;
        char *now = tu_read_file(path, &again);
        cr_assert(again == len && memcmp(now, good, len) == 0, "damage %d: not rewritten", damage);
        free(now);
        n = cached(TDX_NORM_ALL, dir, NULL, 1);
        tdx_norm_free(n);
    }

    /* A caller that requires another identity (an index built elsewhere)
     * gets a built normalizer, so the cache never decides a mismatch. */
    tdx_norm *n = cached(TDX_NORM_ALL, dir, "steps=nfkc_cf,t2s,space;icu=0;unicode=0;table=0", 0);
    cr_assert(strcmp(tdx_norm_identity(n), tdx_norm_identity(ref)) == 0, "identities differ");
    tdx_norm_free(n);

    /* No cache ("" ), and a cache directory that cannot be made: built,
     * nothing written. */
    n = cached(TDX_NORM_ALL, "", NULL, 0);
    tdx_norm_free(n);
    tu_write_str(tu_path("file"), "x");
    n = cached(TDX_NORM_ALL, tu_path("file/sub"), NULL, 0);
    cr_assert(strcmp(tdx_norm_identity(n), tdx_norm_identity(ref)) == 0, "identities differ");
    tdx_norm_free(n);
    free(good);
    tdx_norm_free(ref);
}

/* ---- tenderidx normalize ------------------------------------------------------------ */

static int cli(const char *input, const char *args, char **out, char **err)
{
    char cmd[2048];
    tu_write_str(tu_path("in.txt"), input);
    snprintf(cmd, sizeof cmd, "'%s' normalize %s < '%s'", tu_tenderidx(), args, tu_path("in.txt"));
    return tu_run(cmd, out, err);
}

Test(normalize_cli, prints_normalized_lines, .init = tmp_setup, .fini = tmp_teardown)
{
    char *out, *err;
    int st = cli("深 圳 大 學\nＮＶＩＤＩＡ　Ａ１００\n", "", &out, &err);
    cr_assert(eq(int, st, 0), "%s", err);
    cr_assert(eq(str, out, "深圳大学\nnvidia a100\n"));
    free(out);
    free(err);
    st = cli("深 圳 大 學\n", "--normalize t2s", &out, &err);
    cr_assert(eq(str, out, "深 圳 大 学\n"));
    free(out);
    free(err);
}

Test(normalize_cli, offsets_as_tsv, .init = tmp_setup, .fini = tmp_teardown)
{
    char *out, *err;
    int st = cli("Ａ１ 深 圳\n", "--offsets", &out, &err);
    cr_assert(eq(int, st, 0), "%s", err);
    /* Ａ and １ fold to one byte each; the space between 1 and 深 stays,
     * the one between 深 and 圳 goes (a row with an empty output range). */
    cr_assert(eq(str, out,
                 "line\tout\tout_end\tsrc\tsrc_end\tchar\tsource\n"
                 "1\t0\t1\t0\t3\ta\tＡ\n"
                 "1\t1\t2\t3\t6\t1\t１\n"
                 "1\t2\t3\t6\t7\t \t \n"
                 "1\t3\t6\t7\t10\t深\t深\n"
                 "1\t6\t6\t10\t11\t\t \n"
                 "1\t6\t9\t11\t14\t圳\t圳\n"));
    free(out);
    free(err);
    st = cli("a\tb\n", "--offsets", &out, &err);
    cr_assert(eq(str, out,
                 "line\tout\tout_end\tsrc\tsrc_end\tchar\tsource\n"
                 "1\t0\t1\t0\t1\ta\ta\n"
                 "1\t1\t2\t1\t2\t \t\\t\n"
                 "1\t2\t3\t2\t3\tb\tb\n"));
    free(out);
    free(err);
}

Test(normalize_cli, show_steps, .init = tmp_setup, .fini = tmp_teardown)
{
    char *out, *err;
    int st = cli("深 圳 大 學 Ａ\n", "--show-steps", &out, &err);
    cr_assert(eq(int, st, 0), "%s", err);
    cr_assert(eq(str, out,
                 "input\t深 圳 大 學 Ａ\n"
                 "nfkc_cf\t深 圳 大 學 a\n"
                 "t2s\t深 圳 大 学 a\n"
                 "space\t深圳大学 a\n"
                 "\n"));
    free(out);
    free(err);
    st = cli("甚麼\n", "--show-steps --normalize t2s --reference", &out, &err);
    cr_assert(eq(str, out, "input\t甚麼\nt2s\t什么\n\n"));
    free(out);
    free(err);
}

Test(normalize_cli, invalid_utf8_warns_and_usage_errors, .init = tmp_setup, .fini = tmp_teardown)
{
    char *out, *err;
    int st = cli("a\xff"
                 "b\n",
                 "", &out, &err);
    cr_assert(eq(int, st, 0));
    cr_assert(eq(str, out,
                 "a\xEF\xBF\xBD"
                 "b\n"));
    cr_assert(strstr(err, "line 1: 1 invalid UTF-8 sequence replaced") != NULL, "%s", err);
    free(out);
    free(err);
    st = cli("x\n", "--offsets --show-steps", NULL, &err);
    cr_assert(eq(int, st, 2));
    free(err);
    st = cli("x\n", "--normalize nfkc", NULL, &err);
    cr_assert(eq(int, st, 2));
    cr_assert(strstr(err, "'nfkc'") != NULL, "%s", err);
    free(err);
}
