/*
 * bench_normalize.c - normalizer throughput, side by side with its peers.
 *
 * Corpus: seeded, generated here: tender-like documents (2-8 KB) mixing
 * Simplified and Traditional phrases, full-width Latin and digits, Chinese
 * punctuation, ASCII numbers, line breaks and PDF-style spaces between CJK
 * characters.  Every contender normalizes the same documents one call per
 * document:
 *   fast       tdx_norm_run (all steps, offsets recorded)
 *   icu-chain  the direct ICU calls: u_strFromUTF8WithSub, unorm2_normalize
 *              (nfkc_cf), utrans_transUChars (Traditional-Simplified),
 *              u_strToUTF8 - the chain the fast path reproduces, without
 *              the whitespace rule
 *   reference  tdx_norm_run_reference (the ICU chain plus the whitespace
 *              rule, as the tests use it)
 *   opencc     OpenCC's t2s.json (libopencc, loaded at run time when
 *              present): a different Traditional->Simplified converter,
 *              for scale only
 * One warm-up run, then several timed runs; median and minimum MB/s of
 * source bytes, by the thread's CPU time (the machine may be shared: CPU
 * time is what one thread costs) and, for comparison, by wall time.  A checksum over each
 * contender's output keeps the work from being optimized away (fast and reference must agree).
 *
 * Usage: bench_normalize [--quick] [--mb N] [--runs N] [--seed N] [--fast-only]
 * (--fast-only skips the peers, for profiling the fast path)
 */
#include "benchutil.h"
#include "common/alloc.h"
#include "common/hash.h"
#include "normalize/norm_int.h"
#include "normalize/normalize.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unicode/ustring.h>
#include <unicode/utrans.h>



static const char *const simp[] = {
    "深圳大学",     "国家超级计算中心",
    "采购项目",     "中标公告",
    "招标文件",     "服务器",
    "人工智能",     "计算平台",
    "预算金额",     "万元",
    "供应商",       "合同",
    "联系人",       "地址",
    "项目编号",     "采购需求",
    "技术参数",     "评标结果",
    "公示期",       "响应文件",
    "亚马逊云科技", "之江实验室",
    "图形处理器",   "数据中心",
    "的",           "和",
    "为",           "本项目",
    "采购人",       "代理机构",
    "成交金额",     "质量保证",
};
static const char *const trad[] = {
    "深圳大學", "之江實驗室", "亞馬遜雲科技", "國家超級計算中心",
    "採購項目", "中標公告",   "招標文件",     "伺服器",
    "人工智慧", "運算平臺",   "預算金額",     "萬元",
    "供應商",   "合約",       "聯絡人",       "專案編號",
    "關係",     "這裡",       "資料中心",     "圖形處理器",
    "廠商",     "設備",       "於",           "與",
    "為",       "計畫",       "規格",         "價格",
    "檢驗",     "據點",
};
static const char *const wide[] = {
    "ＮＶＩＤＩＡ　Ａ１００",
    "Ｈ１００",
    "ＡＷＳ",
    "（２０２３）",
    "ＧＰＵ",
    "Ｈ８００",
    "８０ＧＢ",
    "ＩＮＴＥＬ",
    "ＣＰＵ",
};
static const char *const ascii[] = {
    "A100", "H800", "2023-06-01", "NVIDIA", "HGX", "No. 17", "8x", "1,200,000", "GB",
};
static const char *const punct[] = {"，", "。", "、", "：", "；", "（", "）", "“", "”"};

#define PICK(a, s) a[bu_rand(s) % (sizeof a / sizeof a[0])]

static void add(char **p, const char *s)
{
    size_t l = strlen(s);
    memcpy(*p, s, l);
    *p += l;
}

/* One document of about target bytes. */
static size_t gen_doc(uint64_t *s, char *buf, size_t target)
{
    char *p = buf;
    while ((size_t)(p - buf) < target) {
        unsigned k = (unsigned)(bu_rand(s) % 100);
        if (k < 38)
            add(&p, PICK(simp, s));
        else if (k < 66)
            add(&p, PICK(trad, s));
        else if (k < 74)
            add(&p, PICK(wide, s));
        else if (k < 80)
            add(&p, PICK(ascii, s));
        else if (k < 94)
            add(&p, PICK(punct, s));
        else if (k < 96)
            add(&p, "\n");
        else if (k < 98)
            add(&p, " ");
        else {
            /* PDF extraction: spaces between the characters of a name */
            const char *w = PICK(trad, s);
            size_t l = strlen(w);
            for (size_t i = 0; i < l; i += 3) {
                memcpy(p, w + i, 3);
                p += 3;
                if (i + 3 < l)
                    *p++ = ' ';
            }
        }
    }
    return (size_t)(p - buf);
}

typedef struct corpus {
    char *text;
    size_t *off; /* ndocs + 1 */
    size_t ndocs, bytes;
} corpus;

static void gen_corpus(corpus *c, size_t bytes, uint64_t seed)
{
    c->text = malloc(bytes + 16384);
    c->off = malloc((bytes / 1024 + 2) * sizeof *c->off);
    uint64_t s = seed;
    size_t len = 0, n = 0;
    while (len < bytes) {
        c->off[n++] = len;
        len += gen_doc(&s, c->text + len, 2048 + bu_rand(&s) % 6144);
    }
    c->off[n] = len;
    c->ndocs = n;
    c->bytes = len;
}

typedef struct contender {
    const char *name;
    int (*run)(void *st, const char *s, size_t len, uint64_t *sum);
    void *st;
    double mbps[32], wall[32];
    int runs;
    uint64_t sum;
} contender;

/* ---- contenders ------------------------------------------------------------- */

typedef struct fast_st {
    tdx_norm *n;
    tdx_norm_ctx *c;
    tdx_norm_out o;
    int reference;
} fast_st;

static int run_fast(void *st, const char *s, size_t len, uint64_t *sum)
{
    fast_st *f = st;
    tdx_err err = {0};
    int rc = f->reference ? tdx_norm_run_reference(f->n, f->c, (const uint8_t *)s, len, &f->o, &err)
                          : tdx_norm_run(f->n, f->c, (const uint8_t *)s, len, &f->o, &err);
    if (rc) {
        fprintf(stderr, "bench_normalize: %s\n", err.msg);
        return rc;
    }
    *sum += tdx_hash64(f->o.text.p, f->o.text.len);
    return 0;
}

typedef struct icu_st {
    const UNormalizer2 *nf;
    UTransliterator *tr;
    UChar *u, *v;
    char *out;
    size_t cap;
} icu_st;

static int run_icu(void *st, const char *s, size_t len, uint64_t *sum)
{
    icu_st *x = st;
    if (len * 2 + 16 > x->cap) {
        x->cap = len * 2 + 16;
        x->u = realloc(x->u, x->cap * sizeof(UChar));
        x->v = realloc(x->v, x->cap * sizeof(UChar));
        x->out = realloc(x->out, x->cap * 3);
    }
    UErrorCode e = U_ZERO_ERROR;
    int32_t ul, vl, ol;
    u_strFromUTF8WithSub(x->u, (int32_t)x->cap, &ul, s, (int32_t)len, 0xFFFD, NULL, &e);
    vl = unorm2_normalize(x->nf, x->u, ul, x->v, (int32_t)x->cap, &e);
    int32_t limit = vl;
    utrans_transUChars(x->tr, x->v, &vl, (int32_t)x->cap, 0, &limit, &e);
    u_strToUTF8(x->out, (int32_t)x->cap * 3, &ol, x->v, vl, &e);
    if (U_FAILURE(e)) {
        fprintf(stderr, "bench_normalize: ICU %s\n", u_errorName(e));
        return -1;
    }
    *sum += tdx_hash64(x->out, (size_t)ol);
    return 0;
}

typedef struct occ_st {
    void *h;
    void *(*open)(const char *);
    size_t (*conv)(void *, const char *, size_t, char *);
    int (*close)(void *);
    char *out;
    size_t cap;
} occ_st;

static int run_opencc(void *st, const char *s, size_t len, uint64_t *sum)
{
    occ_st *x = st;
    if (len * 2 + 16 > x->cap) {
        x->cap = len * 2 + 16;
        x->out = realloc(x->out, x->cap);
    }
    size_t ol = x->conv(x->h, s, len, x->out);
    if (ol == (size_t)-1)
        return -1;
    *sum += tdx_hash64(x->out, ol);
    return 0;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(const double *v, int n)
{
    double t[32];
    memcpy(t, v, (size_t)n * sizeof *t);
    qsort(t, (size_t)n, sizeof *t, cmp_d);
    return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

static double minimum(const double *v, int n)
{
    double m = v[0];
    for (int i = 1; i < n; i++)
        m = v[i] < m ? v[i] : m;
    return m;
}

static int measure(contender *k, const corpus *c, int runs)
{
    for (int r = -1; r < runs; r++) {
        uint64_t sum = 0;
        double t0 = bu_now(), c0 = bu_clock(CLOCK_THREAD_CPUTIME_ID);
        for (size_t d = 0; d < c->ndocs; d++)
            if (k->run(k->st, c->text + c->off[d], c->off[d + 1] - c->off[d], &sum))
                return -1;
        double dt = bu_now() - t0, dc = bu_clock(CLOCK_THREAD_CPUTIME_ID) - c0;
        if (r >= 0) {
            k->wall[k->runs] = (double)c->bytes / 1e6 / dt;
            k->mbps[k->runs++] = (double)c->bytes / 1e6 / dc;
        }
        k->sum = sum;
    }
    return 0;
}

int main(int argc, char **argv)
{
    size_t mb = 64;
    int runs = 5, slow_runs = 3;
    uint64_t seed = 20240611;
    int fast_only = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            mb = 4;
            runs = 3;
            slow_runs = 1;
        } else if (strcmp(argv[i], "--mb") == 0 && i + 1 < argc) {
            mb = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            runs = atoi(argv[++i]);
            slow_runs = runs < 3 ? runs : 3;
        } else if (strcmp(argv[i], "--fast-only") == 0) {
            fast_only = 1;
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 0);
        } else {
            fprintf(stderr, "usage: bench_normalize [--quick] [--mb N] [--runs N] [--seed N] "
                            "[--fast-only]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > 31 || mb < 1)
        return 2;

    corpus c;
    gen_corpus(&c, mb << 20, seed);
    printf("corpus: %zu documents, %.1f MB, seed %llu\n", c.ndocs, (double)c.bytes / 1e6,
           (unsigned long long)seed);

    tdx_err err = {0};
    fast_st fs = {0}, rs = {0};
    double t0 = bu_now(), c0 = bu_clock(CLOCK_THREAD_CPUTIME_ID);
    if (tdx_norm_create(TDX_NORM_ALL, &fs.n, &err)) {
        fprintf(stderr, "bench_normalize: %s\n", err.msg);
        return 1;
    }
    double create_ms = (bu_now() - t0) * 1e3;
    double create_cpu_ms = (bu_clock(CLOCK_THREAD_CPUTIME_ID) - c0) * 1e3;
    /* A second normalizer: ICU has cached its transliterator rules by now,
     * so this is the cost of the table itself. */
    tdx_norm *again = NULL;
    c0 = bu_clock(CLOCK_THREAD_CPUTIME_ID);
    if (tdx_norm_create(TDX_NORM_ALL, &again, &err) || tdx_norm_ctx_create(fs.n, &fs.c, &err) ||
        tdx_norm_ctx_create(fs.n, &rs.c, &err)) {
        fprintf(stderr, "bench_normalize: %s\n", err.msg);
        return 1;
    }
    double again_cpu_ms = (bu_clock(CLOCK_THREAD_CPUTIME_ID) - c0) * 1e3;
    tdx_norm_free(again);
    rs.n = fs.n;
    rs.reference = 1;
    tdx_norm_out_init(&fs.o);
    tdx_norm_out_init(&rs.o);

    icu_st is = {0};
    UErrorCode e = U_ZERO_ERROR;
    is.nf = unorm2_getNFKCCasefoldInstance(&e);
    UChar id[32];
    u_uastrcpy(id, "Traditional-Simplified");
    is.tr = utrans_openU(id, -1, UTRANS_FORWARD, NULL, 0, NULL, &e);
    if (U_FAILURE(e)) {
        fprintf(stderr, "bench_normalize: ICU %s\n", u_errorName(e));
        return 1;
    }

    occ_st os = {0};
    void *lib = dlopen("libopencc.so.1.1", RTLD_NOW);
    if (lib) {
        /* POSIX guarantees dlsym results convert to function pointers;
         * ISO C does not, hence the copies. */
        void *sym = dlsym(lib, "opencc_open");
        memcpy(&os.open, &sym, sizeof sym);
        sym = dlsym(lib, "opencc_convert_utf8_to_buffer");
        memcpy(&os.conv, &sym, sizeof sym);
        sym = dlsym(lib, "opencc_close");
        memcpy(&os.close, &sym, sizeof sym);
        if (os.open && os.conv && os.close) {
            os.h = os.open("t2s.json");
            if (os.h == (void *)-1)
                os.h = NULL;
        }
    }

    contender ks[4] = {
        {"fast", run_fast, &fs, {0}, {0}, 0, 0},
        {"icu-chain", run_icu, &is, {0}, {0}, 0, 0},
        {"reference", run_fast, &rs, {0}, {0}, 0, 0},
        {"opencc-t2s", run_opencc, &os, {0}, {0}, 0, 0},
    };
    int nk = os.h ? 4 : 3;
    for (int i = 0; i < nk; i++)
        if ((i == 0 || !fast_only) && measure(&ks[i], &c, i == 0 ? runs : slow_runs))
            return 1;
    if (fast_only) {
        printf("fast: %.1f MB/s median (CPU time), %.1f min, %.1f median wall, checksum %016llx\n",
               median(ks[0].mbps, ks[0].runs), minimum(ks[0].mbps, ks[0].runs),
               median(ks[0].wall, ks[0].runs), (unsigned long long)ks[0].sum);
        return 0;
    }
    if (ks[0].sum != ks[2].sum) {
        fprintf(stderr, "bench_normalize: fast path and reference disagree\n");
        return 1;
    }

    printf("normalizer: %s\n", tdx_norm_identity(fs.n));
    printf("table: %.0f KiB; first create %.1f ms CPU (%.1f ms wall, includes ICU compiling "
           "its transliterator rules), second create %.1f ms CPU\n",
           (double)tdx_norm_table_bytes(fs.n) / 1024, create_cpu_ms, create_ms, again_cpu_ms);
    printf("\nMB/s of source text, one thread, one call per document\n");
    printf("%-12s %10s %10s %10s %10s %5s %18s\n", "contender", "cpu med", "cpu min", "wall med",
           "wall min", "runs", "checksum");
    for (int i = 0; i < nk; i++)
        printf("%-12s %10.1f %10.1f %10.1f %10.1f %5d %018llx\n", ks[i].name,
               median(ks[i].mbps, ks[i].runs), minimum(ks[i].mbps, ks[i].runs),
               median(ks[i].wall, ks[i].runs), minimum(ks[i].wall, ks[i].runs), ks[i].runs,
               (unsigned long long)ks[i].sum);
    double fm = median(ks[0].mbps, ks[0].runs), im = median(ks[1].mbps, ks[1].runs);
    double fw = median(ks[0].wall, ks[0].runs), iw = median(ks[1].wall, ks[1].runs);
    printf("\nfast / icu-chain: %.1fx (cpu), %.1fx (wall)   fast / reference: %.1fx (cpu)\n",
           fm / im, fw / iw, fm / median(ks[2].mbps, ks[2].runs));
    printf("BENCH normalize mb=%.1f fast_med=%.1f fast_min=%.1f fast_wall_med=%.1f icu_med=%.1f "
           "icu_min=%.1f icu_wall_med=%.1f ref_med=%.1f opencc_med=%.1f ratio_icu=%.1f "
           "ratio_icu_wall=%.1f create_cpu_ms=%.1f create2_cpu_ms=%.1f table_kib=%.0f\n",
           (double)c.bytes / 1e6, fm, minimum(ks[0].mbps, ks[0].runs), fw, im,
           minimum(ks[1].mbps, ks[1].runs), iw, median(ks[2].mbps, ks[2].runs),
           nk > 3 ? median(ks[3].mbps, ks[3].runs) : 0.0, fm / im, fw / iw, create_cpu_ms,
           again_cpu_ms, (double)tdx_norm_table_bytes(fs.n) / 1024);

    if (os.h)
        os.close(os.h);
    utrans_close(is.tr);
    free(is.u);
    free(is.v);
    free(is.out);
    free(os.out);
    tdx_norm_out_free(&fs.o);
    tdx_norm_out_free(&rs.o);
    tdx_norm_ctx_free(fs.c);
    tdx_norm_ctx_free(rs.c);
    tdx_norm_free(fs.n);
    free(c.text);
    free(c.off);
    return 0;
}
