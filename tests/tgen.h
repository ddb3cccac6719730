/*
 * tgen.h - seeded generator of tender-like corpora and watch lists for the
 * query and pipeline suites (header-only: tests/meson.build links each
 * suite with testutil.c alone).
 *
 * A corpus is a watch list (hand-made entities in Simplified, Traditional,
 * English and regex spellings, plus generated agencies) and documents whose
 * text mixes Simplified and Traditional filler, full-width and ASCII words,
 * CJK text with spaces between the characters, planted aliases in every
 * spelling (some glued to letters, to exercise the boundary rule), long
 * ASCII runs, and metadata fields and dates in the formats the reader
 * accepts.  Everything the reader should find is kept (text, date, fields),
 * so a test can compare the index against what was written.
 */
#ifndef TDX_TGEN_H
#define TDX_TGEN_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jemalloc/jemalloc.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/utf8.h"
#include "testutil.h"

typedef struct tg_pat {
    char *entity, *category, *text; /* text as written; a regex without its slashes */
    int regex, substring;
} tg_pat;

typedef struct tg_meta {
    char *key, *val; /* val: a JSON string, or the text of a JSON number */
    int number;
} tg_meta;

typedef struct tg_doc {
    char *key, *title, *url; /* NULL: field left out */
    char *date;              /* as written; NULL: no date field */
    uint32_t ymd;            /* what the reader should parse it to; 0 none */
    char *text;
    size_t len;
    tg_meta meta[5];
    int nmeta;
    int identity; /* lower-case ASCII words and single spaces: normalizes to itself */
} tg_doc;

typedef struct tg_corpus {
    tg_pat *pats;
    size_t npats, cap_pats;
    tg_doc *docs;
    size_t ndocs;
} tg_corpus;

/* Filler, and the Traditional form of the characters that have one. */
#define TG_FILLER                                                                                                                             \
    "采购项目招标公告中标结果服务器设备数据中心云计算网络安全技术有限公司人民政府教育局医院信息" \
    "化建设系统集成软件开发维护合同金额预算单位地址联系人电话时间评审专家供应商投标文件开标地点" \
    "资格要求国家实验室学院广东北京上海华东区域门户开放关键长期义务维修"
static const char *const tg_s2t[][2] = {
    {"学", "學"}, {"国", "國"}, {"华", "華"}, {"东", "東"}, {"电", "電"}, {"网", "網"},
    {"云", "雲"}, {"计", "計"}, {"术", "術"}, {"机", "機"}, {"构", "構"}, {"发", "發"},
    {"区", "區"}, {"业", "業"}, {"门", "門"}, {"开", "開"}, {"关", "關"}, {"长", "長"},
    {"广", "廣"}, {"义", "義"}, {"维", "維"}, {"数", "數"}, {"据", "據"}, {"软", "軟"},
    {"设", "設"}, {"备", "備"}, {"务", "務"}, {"购", "購"}, {"项", "項"}, {"标", "標"},
    {"实", "實"}, {"验", "驗"}, {"话", "話"}, {"时", "時"}, {"间", "間"}, {"预", "預"},
    {"单", "單"}, {"医", "醫"}, {"统", "統"}, {"护", "護"}, {"额", "額"}, {"专", "專"},
    {"资", "資"}, {"应", "應"}, {"评", "評"}, {"审", "審"}, {"报", "報"}, {"为", "為"},
    {"腾", "騰"}, {"伟", "偉"}, {"达", "達"}, {"阳", "陽"}, {"汉", "漢"}, {"连", "連"},
    {"系", "係"}, {"圳", "圳"}, {"清", "清"}, {"里", "裡"}, {"书", "書"}, {"厅", "廳"},
};
static const char *const tg_words[] = {
    "server", "gpu",  "GPUs",  "cloud", "Data",   "CENTER", "x86",  "rack", "node", "h800x",
    "ai",     "AIDC", "model", "Linux", "oracle", "ip",     "v100", "lab",  "nas",  "san",
};
static const char *const tg_places[] = {"深圳", "北京", "上海", "广州", "杭州", "南京",
                                        "武汉", "成都", "西安", "天津", "重庆", "苏州"};
static const char *const tg_suffixes[] = {"局", "中心", "研究院", "医院", "有限公司", "管理处"};
static const char *const tg_buyers[] = {
    "深圳大学",       "深圳大學",     "清华大学", "Shenzhen University",
    " 北京市教育局 ", "ＮＶＩＤＩＡ", "广州医院"};
static const char *const tg_regions[] = {"广东", "北京", "上海", "Shenzhen", "SHENZHEN", "廣東"};
static const char *const tg_kinds[] = {"招标公告", "中标公告", "合同公告", "更正公告"};

/* Hand-made entities: entity, category, pattern, flags ("r" regex, "s" substring). */
static const char *const tg_fixed[][4] = {
    {"深圳大学", "university", "深圳大学", ""},
    {"深圳大学", "university", "深圳大學", ""},
    {"深圳大学", "university", "Shenzhen University", ""},
    {"清华大学", "university", "清华大学", ""},
    {"清华大学", "university", "清華大學", ""},
    {"清华大学", "university", "Tsinghua University", ""},
    {"清华大学", "university", "THU", ""},
    {"NVIDIA", "vendor", "NVIDIA", ""},
    {"NVIDIA", "vendor", "英伟达", ""},
    {"NVIDIA", "vendor", "英偉達", ""},
    {"华为", "vendor", "华为", ""},
    {"华为", "vendor", "華為", ""},
    {"华为", "vendor", "Huawei", ""},
    {"H100", "chip", "H100", ""},
    {"H100", "chip", "h[18]00", "r"},
    {"A100", "chip", "A100", ""},
    {"A100", "chip", "A800", ""},
    {"昇腾910B", "chip", "昇腾910B", ""},
    {"昇腾910B", "chip", "昇騰910B", ""},
    {"昇腾910B", "chip", "Ascend 910B", ""},
    {"昇腾910B", "chip", "昇腾\\d{3}[bc]", "r"},
    {"GPU", "chip", "GPU", "s"},
    {"AWS", "cloud", "Amazon Web Services", ""},
    {"AWS", "cloud", "AWS", ""},
    {"阿里云", "cloud", "阿里云", ""},
    {"阿里云", "cloud", "阿里雲", ""},
    {"阿里云", "cloud", "Alibaba Cloud", ""},
    {"Azure", "cloud", "Azure", ""},
    {"Azure", "cloud", "azure\\s?stack", "r"},
};
/* Strings that the regex rows above match, for planting. */
static const char *const tg_regex_samples[][4] = {
    {"h[18]00", "H100", "h800", "Ｈ８００"},
    {"昇腾\\d{3}[bc]", "昇腾910B", "昇騰920c", "昇腾３１０ｂ"},
    {"azure\\s?stack", "Azure Stack", "azurestack", "AZURE　STACK"},
};

static inline uint32_t tg_below(uint64_t *rs, uint32_t n)
{
    return n ? (uint32_t)(tu_rand(rs) % n) : 0;
}

static inline int tg_chance(uint64_t *rs, unsigned percent)
{
    return tg_below(rs, 100) < percent;
}

static inline char *tg_strdup(const char *s)
{
    size_t n = strlen(s);
    char *d = malloc(n + 1);
    memcpy(d, s, n + 1);
    return d;
}

static inline char *tg_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline char *tg_printf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = malloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* Length of the UTF-8 character starting at s. */
static inline size_t tg_clen(const char *s)
{
    unsigned char c = (unsigned char)*s;
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* Number of characters of a UTF-8 string. */
static inline size_t tg_nchars(const char *s)
{
    size_t n = 0;
    for (; *s; s += tg_clen(s))
        n++;
    return n;
}

/* Pointer to the i-th character of s. */
static inline const char *tg_char_at(const char *s, size_t i)
{
    while (i-- && *s)
        s += tg_clen(s);
    return s;
}

/*
 * Append s to b in a random spelling: Traditional characters, full-width
 * ASCII (space as U+3000), changed letter case, spaces between CJK
 * characters.  Every variant normalizes to the same text as s, except
 * that spaces between CJK characters vanish (which the normalizer does).
 */
static inline void tg_put_variant(tdx_buf *b, uint64_t *rs, const char *s, int trad, int full,
                                  int spaced)
{
    int ucase = (int)tg_below(rs, 3); /* 0 keep, 1 upper, 2 lower */
    for (const char *p = s; *p;) {
        size_t l = tg_clen(p);
        if (l == 1) {
            char c = *p;
            if (ucase == 1 && c >= 'a' && c <= 'z')
                c = (char)(c - 32);
            else if (ucase == 2 && c >= 'A' && c <= 'Z')
                c = (char)(c + 32);
            if (full && c == ' ') {
                tdx_buf_puts(b, "\xE3\x80\x80");
            } else if (full && c > 0x20 && c < 0x7F) {
                uint8_t u[4];
                size_t ul = tdx_utf8_encode(u, 0xFF01 + (uint32_t)(c - 0x21));
                tdx_buf_append(b, u, ul);
            } else {
                tdx_buf_putc(b, (uint8_t)c);
            }
        } else {
            const char *out = NULL;
            for (size_t k = 0; trad && k < sizeof tg_s2t / sizeof *tg_s2t; k++)
                if (strlen(tg_s2t[k][0]) == l && memcmp(tg_s2t[k][0], p, l) == 0)
                    out = tg_s2t[k][1];
            if (out)
                tdx_buf_puts(b, out);
            else
                tdx_buf_append(b, p, l);
            if (spaced && p[l] && tg_clen(p + l) > 1)
                tdx_buf_putc(b, ' ');
        }
        p += l;
    }
}

static inline void tg_add_pat(tg_corpus *c, const char *e, const char *cat, const char *text,
                              int regex, int substring)
{
    if (c->npats == c->cap_pats) {
        c->cap_pats = c->cap_pats ? c->cap_pats * 2 : 64;
        c->pats = realloc(c->pats, c->cap_pats * sizeof *c->pats);
    }
    tg_pat *p = &c->pats[c->npats++];
    p->entity = tg_strdup(e);
    p->category = tg_strdup(cat);
    p->text = tg_strdup(text);
    p->regex = regex;
    p->substring = substring;
}

static inline void tg_filler(tdx_buf *b, uint64_t *rs, size_t nchars, int trad, int spaced)
{
    static const char pool[] = TG_FILLER;
    size_t npool = sizeof pool / 3; /* every filler character has 3 bytes */
    tdx_buf tmp = TDX_BUF_INIT;
    for (size_t i = 0; i < nchars; i++)
        tdx_buf_append(&tmp, pool + 3 * tg_below(rs, (uint32_t)npool), 3);
    tg_put_variant(b, rs, (const char *)tmp.p, trad, 0, spaced);
    tdx_buf_free(&tmp);
}

/* Plant a pattern's spelling (a literal variant, or a sample a regex matches). */
static inline void tg_plant(tdx_buf *b, uint64_t *rs, const tg_pat *p)
{
    if (p->regex) {
        for (size_t k = 0; k < sizeof tg_regex_samples / sizeof *tg_regex_samples; k++)
            if (strcmp(tg_regex_samples[k][0], p->text) == 0) {
                tdx_buf_puts(b, tg_regex_samples[k][1 + tg_below(rs, 3)]);
                return;
            }
        return;
    }
    tg_put_variant(b, rs, p->text, tg_chance(rs, 40), tg_chance(rs, 20), tg_chance(rs, 10));
}

static inline void tg_ascii_word(tdx_buf *b, uint64_t *rs)
{
    uint32_t r = tg_below(rs, 10);
    if (r < 6) {
        tdx_buf_puts(b, tg_words[tg_below(rs, sizeof tg_words / sizeof *tg_words)]);
        return;
    }
    /* Random lower-case words, now and then a run longer than a word window. */
    size_t n = r < 9 ? 2 + tg_below(rs, 7) : 40 + tg_below(rs, 80);
    for (size_t i = 0; i < n; i++)
        tdx_buf_putc(b, (uint8_t)(i % 7 == 6 ? '0' + tg_below(rs, 10) : 'a' + tg_below(rs, 6)));
}

static inline void tg_text(tg_corpus *c, tdx_buf *b, uint64_t *rs, size_t target, size_t no)
{
    int trad = tg_chance(rs, 30), full = tg_chance(rs, 20);
    tdx_buf_printf(b, "编号%zu ", no);
    while (b->len < target) {
        uint32_t r = tg_below(rs, 100);
        if (r < 35) {
            tg_filler(b, rs, 2 + tg_below(rs, 10), trad || tg_chance(rs, 10), tg_chance(rs, 6));
        } else if (r < 55) {
            tdx_buf w = TDX_BUF_INIT;
            tg_ascii_word(&w, rs);
            tg_put_variant(b, rs, (const char *)w.p, 0, full && tg_chance(rs, 50), 0);
            tdx_buf_free(&w);
        } else if (r < 62) {
            char num[32];
            snprintf(num, sizeof num, "%u", tg_below(rs, 100000));
            tg_put_variant(b, rs, num, 0, full && tg_chance(rs, 50), 0);
        } else if (r < 82) {
            /* Sometimes glued to a letter or digit: the boundary rule decides. */
            if (tg_chance(rs, 10))
                tdx_buf_putc(b, (uint8_t)('a' + tg_below(rs, 26)));
            tg_plant(b, rs, &c->pats[tg_below(rs, (uint32_t)c->npats)]);
            if (tg_chance(rs, 10))
                tdx_buf_putc(b, (uint8_t)('0' + tg_below(rs, 10)));
        } else {
            static const char *const punct[] = {"，", "。", "、", "：", "(",  ")",  "-",  "/",
                                                ",",  ".",  "\n", "\t", "  ", "《", "》", "　"};
            tdx_buf_puts(b, punct[tg_below(rs, sizeof punct / sizeof *punct)]);
        }
        if (tg_chance(rs, 30))
            tdx_buf_putc(b, ' ');
    }
}

/* Text that normalizes to itself: lower-case ASCII words, single spaces. */
static inline void tg_identity_text(tdx_buf *b, uint64_t *rs, size_t target, size_t no)
{
    tdx_buf_printf(b, "doc%zu", no);
    static const char *const w[] = {"gpu",    "server",     "h100",   "thu",  "aws",
                                    "azure",  "azurestack", "nvidia", "rack", "cloud",
                                    "huawei", "a800",       "lab"};
    while (b->len < target) {
        tdx_buf_putc(b, ' ');
        tdx_buf_puts(b, w[tg_below(rs, sizeof w / sizeof *w)]);
    }
}

static inline void tg_date(tg_doc *d, uint64_t *rs)
{
    uint32_t r = tg_below(rs, 100);
    if (r < 8)
        return;
    if (r < 12) {
        d->date = tg_strdup(r < 10 ? "待定" : "soon");
        return;
    }
    unsigned y = 2019 + tg_below(rs, 6), m = 1 + tg_below(rs, 12), dd = 1 + tg_below(rs, 28);
    d->ymd = y * 10000 + m * 100 + dd;
    switch (tg_below(rs, 5)) {
    case 0:
        d->date = tg_printf("%u/%u/%u", y, m, dd);
        break;
    case 1:
        d->date = tg_printf("%u年%u月%u日", y, m, dd);
        break;
    case 2:
        d->date = tg_printf("%04u-%02u-%02u 10:30:00", y, m, dd);
        break;
    default:
        d->date = tg_printf("%04u-%02u-%02u", y, m, dd);
    }
}

static inline void tg_add_meta(tg_doc *d, const char *k, char *v, int number)
{
    d->meta[d->nmeta].key = tg_strdup(k);
    d->meta[d->nmeta].val = v;
    d->meta[d->nmeta].number = number;
    d->nmeta++;
}

/* Bytes in live allocations, for leak checks around a call that failed. */
static inline size_t tg_live_bytes(void)
{
    mallctl("thread.tcache.flush", NULL, NULL, NULL, 0);
    tdx_mem_stats ms;
    tdx_alloc_stats(&ms);
    return ms.allocated;
}

/* Paths in the test's directory that stay valid until tg_paths_free()
 * (tu_path() reuses 8 buffers). */
static char *tg_paths[64];
static size_t tg_npaths;

static inline const char *tg_path(const char *name)
{
    if (tg_npaths == sizeof tg_paths / sizeof *tg_paths)
        abort();
    return tg_paths[tg_npaths++] = tg_strdup(tu_path(name));
}

static inline void tg_paths_free(void)
{
    while (tg_npaths)
        free(tg_paths[--tg_npaths]);
}

/*
 * Make a corpus: the watch list, then ndocs documents of about avg_len
 * bytes of text each (doc i has key "d<i>" and the text "编号<i>" first,
 * so every document is distinct).
 */
static inline void tg_make(tg_corpus *c, uint64_t seed, size_t ndocs, size_t avg_len)
{
    memset(c, 0, sizeof *c);
    uint64_t rs = seed;
    for (size_t i = 0; i < sizeof tg_fixed / sizeof *tg_fixed; i++)
        tg_add_pat(c, tg_fixed[i][0], tg_fixed[i][1], tg_fixed[i][2],
                   strchr(tg_fixed[i][3], 'r') != NULL, strchr(tg_fixed[i][3], 's') != NULL);
    /* Generated agencies, with a Traditional alias when the name has one. */
    for (int i = 0; i < 24; i++) {
        tdx_buf n = TDX_BUF_INIT, t = TDX_BUF_INIT;
        tdx_buf_puts(&n, tg_places[tg_below(&rs, sizeof tg_places / sizeof *tg_places)]);
        tg_filler(&n, &rs, 1 + tg_below(&rs, 3), 0, 0);
        tdx_buf_puts(&n, tg_suffixes[tg_below(&rs, sizeof tg_suffixes / sizeof *tg_suffixes)]);
        int dup = 0;
        for (size_t k = 0; k < c->npats; k++)
            dup |= strcmp(c->pats[k].entity, (const char *)n.p) == 0;
        if (!dup) {
            tg_add_pat(c, (const char *)n.p, "agency", (const char *)n.p, 0, 0);
            tg_put_variant(&t, &rs, (const char *)n.p, 1, 0, 0);
            if (strcmp((const char *)t.p, (const char *)n.p) != 0)
                tg_add_pat(c, (const char *)n.p, "agency", (const char *)t.p, 0, 0);
        }
        tdx_buf_free(&n);
        tdx_buf_free(&t);
    }
    c->ndocs = ndocs;
    c->docs = calloc(ndocs ? ndocs : 1, sizeof *c->docs);
    for (size_t i = 0; i < ndocs; i++) {
        tg_doc *d = &c->docs[i];
        d->key = tg_printf("d%zu", i);
        size_t target = avg_len / 2 + tg_below(&rs, (uint32_t)avg_len);
        tdx_buf b = TDX_BUF_INIT;
        d->identity = tg_chance(&rs, 6);
        if (d->identity)
            tg_identity_text(&b, &rs, target, i);
        else
            tg_text(c, &b, &rs, target, i);
        d->len = b.len;
        d->text = (char *)tdx_buf_steal(&b, NULL);
        if (tg_chance(&rs, 85)) {
            tdx_buf t = TDX_BUF_INIT;
            tg_filler(&t, &rs, 3 + tg_below(&rs, 8), 0, 0);
            d->title = (char *)tdx_buf_steal(&t, NULL);
        }
        if (tg_chance(&rs, 70))
            d->url = tg_printf("http://ggzy.example.gov.cn/n/%zu.html", i);
        tg_date(d, &rs);
        if (tg_chance(&rs, 70))
            tg_add_meta(d, "buyer",
                        tg_strdup(tg_buyers[tg_below(&rs, sizeof tg_buyers / sizeof *tg_buyers)]),
                        0);
        if (tg_chance(&rs, 50))
            tg_add_meta(
                d, "region",
                tg_strdup(tg_regions[tg_below(&rs, sizeof tg_regions / sizeof *tg_regions)]), 0);
        if (tg_chance(&rs, 40))
            tg_add_meta(d, "amount", tg_printf("%u", 1000 * (1 + tg_below(&rs, 20))), 1);
        if (tg_chance(&rs, 60))
            tg_add_meta(d, "kind",
                        tg_strdup(tg_kinds[tg_below(&rs, sizeof tg_kinds / sizeof *tg_kinds)]), 0);
        if (tg_chance(&rs, 3)) {
            /* Longer than the indexed prefix of a field value. */
            tdx_buf t = TDX_BUF_INIT;
            tg_filler(&t, &rs, 70 + tg_below(&rs, 3), 0, 0);
            tg_add_meta(d, "note", (char *)tdx_buf_steal(&t, NULL), 0);
        }
    }
}

static inline void tg_free(tg_corpus *c)
{
    for (size_t i = 0; i < c->npats; i++) {
        free(c->pats[i].entity);
        free(c->pats[i].category);
        free(c->pats[i].text);
    }
    for (size_t i = 0; i < c->ndocs; i++) {
        tg_doc *d = &c->docs[i];
        free(d->key);
        free(d->title);
        free(d->url);
        free(d->date);
        tdx_free(d->text);
        for (int k = 0; k < d->nmeta; k++) {
            free(d->meta[k].key);
            free(d->meta[k].val);
        }
    }
    free(c->pats);
    free(c->docs);
    memset(c, 0, sizeof *c);
}

static inline void tg_write_watchlist(const tg_corpus *c, const char *path)
{
    tdx_buf b = TDX_BUF_INIT;
    tdx_buf_puts(&b, "# generated watch list\n");
    for (size_t i = 0; i < c->npats; i++) {
        const tg_pat *p = &c->pats[i];
        tdx_buf_printf(&b, "%s\t%s\t%s%s%s%s\n", p->entity, p->category, p->regex ? "/" : "",
                       p->text, p->regex ? "/" : "", p->substring ? "\tsubstring" : "");
    }
    tu_write_file(path, b.p, b.len);
    tdx_buf_free(&b);
}

static inline void tg_json_str(tdx_buf *b, const char *s, size_t len)
{
    tdx_buf_putc(b, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\')
            tdx_buf_printf(b, "\\%c", ch);
        else if (ch == '\n')
            tdx_buf_puts(b, "\\n");
        else if (ch == '\t')
            tdx_buf_puts(b, "\\t");
        else if (ch < 0x20)
            tdx_buf_printf(b, "\\u%04x", ch);
        else
            tdx_buf_putc(b, ch);
    }
    tdx_buf_putc(b, '"');
}

/* One JSON Lines record for doc d. */
static inline void tg_json_doc(tdx_buf *b, const tg_doc *d)
{
    tdx_buf_puts(b, "{\"id\":");
    tg_json_str(b, d->key, strlen(d->key));
    if (d->title) {
        tdx_buf_puts(b, ",\"title\":");
        tg_json_str(b, d->title, strlen(d->title));
    }
    if (d->date) {
        tdx_buf_puts(b, ",\"date\":");
        tg_json_str(b, d->date, strlen(d->date));
    }
    if (d->url) {
        tdx_buf_puts(b, ",\"url\":");
        tg_json_str(b, d->url, strlen(d->url));
    }
    for (int k = 0; k < d->nmeta; k++) {
        tdx_buf_putc(b, ',');
        tg_json_str(b, d->meta[k].key, strlen(d->meta[k].key));
        tdx_buf_putc(b, ':');
        if (d->meta[k].number)
            tdx_buf_puts(b, d->meta[k].val);
        else
            tg_json_str(b, d->meta[k].val, strlen(d->meta[k].val));
    }
    tdx_buf_puts(b, ",\"text\":");
    tg_json_str(b, d->text, d->len);
    tdx_buf_puts(b, "}\n");
}

/* Write docs [from, to) as JSON Lines. */
static inline void tg_write_jsonl(const tg_corpus *c, const char *path, size_t from, size_t to)
{
    tdx_buf b = TDX_BUF_INIT;
    for (size_t i = from; i < to && i < c->ndocs; i++)
        tg_json_doc(&b, &c->docs[i]);
    tu_write_file(path, b.p ? (const char *)b.p : "", b.len);
    tdx_buf_free(&b);
}

#endif
