/*
 * bench_postings.c - the terms stage alone: cutting normalized text into
 * grams and words and building each batch's sorted postings (index/), the
 * work a pipeline worker does between matching and compression.
 *
 * Input: normalized documents, one per line (bench_extract --text writes
 * them for a corpus), or with --quick / no --text a seeded generated text
 * of tender-like Chinese with Latin model names and numbers.  Documents are
 * cut into batches of --batch-mb of text (16; the pipeline sizes its
 * batches from --memory, about 10 MB by default); each batch is added document by document
 * (tdx_gram_add_text) and emitted once (tdx_gram_emit).  One warm-up pass,
 * then --runs timed passes; median and best MB/s of text by the thread's
 * CPU time, with the add and emit parts apart.  The checksum covers every
 * emitted term, document and payload byte, so the work cannot be skipped
 * and two builds can be compared for identical output.
 *
 * Usage: bench_postings [--quick] [--text FILE] [--mb N] [--batch-mb N]
 *                       [--runs N] [--seed N]
 * Output: one line
 *   POSTINGS mb= docs= batches= runs= mbps_median= mbps_best= add_s= emit_s=
 *            terms= entries= checksum=
 */
#include "benchutil.h"
#include "common/alloc.h"
#include "common/postings.h"
#include "index/index.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *msg)
{
    fprintf(stderr, "bench_postings: %s\n", msg);
    exit(1);
}

static const char *const words[] = {
    "采购项目", "中标公告", "招标文件", "服务器",   "人工智能", "计算平台", "预算金额",
    "万元",     "供应商",   "合同",     "联系人",   "地址",     "项目编号", "采购需求",
    "技术参数", "评标结果", "公示期",   "响应文件", "数据中心", "的",       "和",
    "本项目",   "采购人",   "代理机构", "成交金额", "质量保证", "大学",     "实验室",
    "h100",     "a100",     "nvidia",   "2023",     "年",       "月",       "日",
};

/* Seeded tender-like text: documents of 2-8 KB, one per line. */
static char *generate(size_t bytes, uint64_t seed, size_t *out_len)
{
    char *t = tdx_malloc(bytes + 16384);
    if (t == NULL)
        die("out of memory");
    size_t n = 0;
    uint64_t st = seed;
    while (n < bytes) {
        size_t doc = 2048 + bu_below(&st, 6144);
        size_t start = n;
        while (n - start < doc) {
            const char *w = words[bu_below(&st, sizeof words / sizeof *words)];
            size_t l = strlen(w);
            memcpy(t + n, w, l);
            n += l;
            if (bu_below(&st, 8) == 0) {
                n += (size_t)snprintf(t + n, 32, " %u ", (unsigned)bu_below(&st, 100000));
            } else if (bu_below(&st, 6) == 0) {
                memcpy(t + n, "，", 3);
                n += 3;
            }
        }
        t[n++] = '\n';
    }
    *out_len = n;
    return t;
}

static char *slurp(const char *path, size_t limit, size_t *out_len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        die("cannot open the --text file");
    size_t cap = 1 << 20, n = 0;
    char *t = tdx_malloc(cap);
    if (t == NULL)
        die("out of memory");
    for (;;) {
        if (n == cap) {
            cap *= 2;
            t = tdx_realloc(t, cap);
            if (t == NULL)
                die("out of memory");
        }
        size_t want = cap - n;
        if (limit && n + want > limit)
            want = limit - n;
        size_t got = want ? fread(t + n, 1, want, f) : 0;
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    /* Whole lines only. */
    while (n && t[n - 1] != '\n')
        n--;
    *out_len = n;
    return t;
}

typedef struct span {
    size_t off, len;
} span;

static uint64_t sum_postings(uint64_t h, const tdx_postings *p)
{
    h = bu_mix(h, p->nterms);
    h = bu_mix(h, p->nentries);
    for (size_t i = 0; i < p->nterms; i++) {
        tdx_span t = tdx_postings_term(p, i);
        for (size_t k = 0; k < t.len; k++)
            h = (h ^ t.p[k]) * 0x100000001b3ULL;
    }
    for (size_t e = 0; e < p->nentries; e++)
        h = bu_mix(h, ((uint64_t)p->docs[e] << 32) | p->pay_end[e]);
    for (size_t k = 0; k < p->payload.len; k++)
        h = (h ^ p->payload.p[k]) * 0x100000001b3ULL;
    return h;
}

int main(int argc, char **argv)
{
    const char *text_path = NULL;
    size_t mb = 64, batch_mb = 16;
    int runs = 5;
    uint64_t seed = 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            mb = 8;
            runs = 2;
        } else if (strcmp(argv[i], "--text") == 0 && i + 1 < argc) {
            text_path = argv[++i];
        } else if (strcmp(argv[i], "--mb") == 0 && i + 1 < argc) {
            mb = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--batch-mb") == 0 && i + 1 < argc) {
            batch_mb = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            runs = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 0);
        } else {
            fprintf(stderr, "usage: bench_postings [--quick] [--text FILE] [--mb N] "
                            "[--batch-mb N] [--runs N] [--seed N]\n"
                            "The terms stage (grams, words, sorted batch postings) alone.\n");
            return 2;
        }
    }
    if (mb == 0 || batch_mb == 0 || runs < 1)
        die("--mb, --batch-mb and --runs must be positive");
    size_t len;
    char *text = text_path ? slurp(text_path, mb << 20, &len) : generate(mb << 20, seed, &len);
    /* Documents (lines) and batch boundaries. */
    size_t ndocs = 0, cap = 1024;
    span *docs = tdx_malloc(cap * sizeof *docs);
    if (docs == NULL)
        die("out of memory");
    for (size_t at = 0; at < len;) {
        char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len;
        if (ndocs == cap) {
            cap *= 2;
            docs = tdx_realloc(docs, cap * sizeof *docs);
            if (docs == NULL)
                die("out of memory");
        }
        docs[ndocs].off = at;
        docs[ndocs].len = end - at;
        ndocs++;
        at = end + 1;
    }
    tdx_err err = {0};
    tdx_gram_builder *gb;
    if (tdx_gram_builder_create(&gb, &err))
        die("cannot create the builder");
    tdx_postings post;
    tdx_postings_init(&post);
    double *mbps = tdx_malloc((size_t)runs * sizeof *mbps);
    double add_s = 0, emit_s = 0, best_add = 0, best_emit = 0;
    uint64_t sum = 0, terms = 0, entries = 0;
    size_t batches = 0;
    for (int run = -1; run < runs; run++) {
        uint64_t h = BU_FNV_INIT;
        double ta = 0, te = 0;
        terms = entries = 0;
        batches = 0;
        for (size_t d0 = 0; d0 < ndocs;) {
            size_t d1 = d0, bytes = 0;
            while (d1 < ndocs && (d1 == d0 || bytes + docs[d1].len <= batch_mb << 20))
                bytes += docs[d1++].len;
            double t0 = bu_clock(CLOCK_THREAD_CPUTIME_ID);
            tdx_gram_builder_reset(gb);
            if (tdx_gram_builder_reserve(gb, bytes))
                die("out of memory");
            for (size_t d = d0; d < d1; d++)
                if (tdx_gram_add_text(gb, (uint32_t)(d - d0), (const uint8_t *)text + docs[d].off,
                                      docs[d].len))
                    die("add_text failed");
            double t1 = bu_clock(CLOCK_THREAD_CPUTIME_ID);
            if (tdx_gram_emit(gb, &post, &err))
                die("emit failed");
            double t2 = bu_clock(CLOCK_THREAD_CPUTIME_ID);
            ta += t1 - t0;
            te += t2 - t1;
            h = sum_postings(h, &post);
            terms += post.nterms;
            entries += post.nentries;
            batches++;
            d0 = d1;
        }
        if (run >= 0) {
            mbps[run] = (double)len / 1048576.0 / (ta + te);
            if (run == 0 || ta + te < best_add + best_emit) {
                best_add = ta;
                best_emit = te;
            }
            add_s += ta;
            emit_s += te;
        }
        if (run > 0 && h != sum)
            die("runs disagree: the output is not deterministic");
        sum = h;
    }
    double best = mbps[0];
    for (int r = 1; r < runs; r++)
        best = mbps[r] > best ? mbps[r] : best;
    printf("POSTINGS mb=%.1f docs=%zu batches=%zu runs=%d mbps_median=%.1f mbps_best=%.1f "
           "add_s=%.3f emit_s=%.3f terms=%" PRIu64 " entries=%" PRIu64 " checksum=%016" PRIx64
           "\n",
           (double)len / 1048576.0, ndocs, batches, runs, bu_median(mbps, (size_t)runs), best,
           best_add, best_emit, terms, entries, sum);
    tdx_postings_free(&post);
    tdx_gram_builder_free(gb);
    tdx_free(mbps);
    tdx_free(docs);
    tdx_free(text);
    return 0;
}
