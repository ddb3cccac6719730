/*
 * bench_reader.c - reader throughput, its parts and its peers side by side.
 *
 * Corpus: seeded, generated here: tender-like JSON Lines records (id,
 * title, date, url, metadata, and a 1-4 KB mostly-CJK text with escaped
 * line breaks and quotes), written to a temp file (page cache, so disk
 * speed does not enter).  Contenders, all over the same bytes:
 *   read+split     read() into 1 MiB and memchr for '\n': the floor
 *   utf8-scalar    common/utf8.h tdx_utf8_first_invalid over the corpus
 *   utf8-avx2      tdx_reader_utf8_check (the reader's check)
 *   json-parse     tdx_reader_json_parse, line by line, in memory
 *   jansson        json_loadb line by line (libjansson loaded at run time,
 *                  if present): a DOM parser, for scale
 *   reader-jsonl   tdx_reader_next over the file: split, check, parse, map
 *   reader-zst     the same records as .jsonl.zst (decompression included)
 *   reader-gb18030 the same records re-encoded in GB18030 (ICU converter)
 *   reader-html    a tar of HTML pages of the same texts (gumbo)
 * One warm-up run, then several timed runs; MB/s at the median and at the
 * minimum wall time, and at the median thread CPU time (steadier when other
 * processes share the cores), of the uncompressed UTF-8 JSON Lines (of the
 * file itself for the GB18030 and HTML inputs, which differ in size).  A
 * checksum over what each contender saw keeps the work from being optimized
 * away.
 *
 * Usage: bench_reader [--quick] [--mb N] [--runs N] [--seed N] [--only NAME]
 */
#include "benchutil.h"
#include "common/alloc.h"
#include "common/hash.h"
#include "common/utf8.h"
#include "reader/reader.h"
#include "reader/reader_int.h"

#include <archive.h>
#include <archive_entry.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unicode/ucnv.h>
#include <unistd.h>


static const char *const words[] = {
    "深圳大学",   "国家超级计算中心",
    "采购项目",   "中标公告",
    "招标文件",   "服务器",
    "人工智能",   "计算平台",
    "预算金额",   "万元",
    "供应商",     "合同",
    "联系人",     "地址",
    "项目编号",   "采购需求",
    "技术参数",   "评标结果",
    "公示期",     "响应文件",
    "图形处理器", "数据中心",
    "的",         "和",
    "为",         "本项目",
    "采购人",     "代理机构",
    "成交金额",   "质量保证",
    "，",         "。",
    "、",         "：",
    "（",         "）",
    "A100",       "H800",
    "2023",       "NVIDIA",
    "8x",         "1,200,000",
    "GB",         " ",
};

#define PICK(a, s) a[bu_rand(s) % (sizeof a / sizeof a[0])]

typedef struct corpus {
    char *p; /* JSON Lines, UTF-8 */
    size_t n;
    size_t lines;
    char **texts; /* decoded texts, for the HTML pages */
    size_t ntexts;
} corpus;

static void gen(corpus *c, size_t bytes, uint64_t seed)
{
    size_t cap = bytes + 65536;
    c->p = malloc(cap);
    c->n = 0;
    c->texts = NULL;
    c->ntexts = 0;
    size_t tcap = 0;
    uint64_t s = seed;
    char text[8192], esc[16384];
    while (c->n + 20000 < bytes) {
        size_t tl = 0, target = 1000 + bu_rand(&s) % 3000;
        while (tl < target) {
            const char *w = PICK(words, &s);
            size_t wl = strlen(w);
            memcpy(text + tl, w, wl);
            tl += wl;
            if (bu_rand(&s) % 40 == 0)
                text[tl++] = '\n';
            if (bu_rand(&s) % 200 == 0)
                text[tl++] = '"';
        }
        text[tl] = 0;
        size_t el = 0;
        for (size_t i = 0; i < tl; i++) {
            if (text[i] == '\n') {
                esc[el++] = '\\';
                esc[el++] = 'n';
            } else if (text[i] == '"') {
                esc[el++] = '\\';
                esc[el++] = '"';
            } else {
                esc[el++] = text[i];
            }
        }
        esc[el] = 0;
        c->n += (size_t)sprintf(
            c->p + c->n,
            "{\"id\":\"ZB-%zu\",\"title\":\"%s%s公告\",\"date\":\"2023-%02d-%02d "
            "10:00:00\",\"url\":\"http://ccgp.example/n/%zu.html\","
            "\"budget\":%llu,\"region\":\"广东\",\"text\":\"%s\"}\n",
            c->lines, PICK(words, &s), PICK(words, &s), (int)(1 + bu_rand(&s) % 12),
            (int)(1 + bu_rand(&s) % 28), c->lines, (unsigned long long)(bu_rand(&s) % 100000000), esc);
        if (c->ntexts == tcap) {
            tcap = tcap ? tcap * 2 : 1024;
            c->texts = realloc(c->texts, tcap * sizeof *c->texts);
        }
        c->texts[c->ntexts++] = strdup(text);
        c->lines++;
    }
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(p, 1, n, f) != n) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
    fclose(f);
}

/* ---- contenders: each returns a checksum ---- */

static uint64_t run_read_split(const char *path, const corpus *c)
{
    (void)c;
    int fd = open(path, O_RDONLY);
    static char buf[1 << 20];
    uint64_t lines = 0;
    ssize_t k;
    while ((k = read(fd, buf, sizeof buf)) > 0) {
        const char *p = buf, *end = buf + k;
        while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
            lines++;
            p++;
        }
    }
    close(fd);
    return lines;
}

static uint64_t run_utf8_scalar(const char *path, const corpus *c)
{
    (void)path;
    return tdx_utf8_first_invalid((const uint8_t *)c->p, c->n);
}

static uint64_t run_utf8_avx2(const char *path, const corpus *c)
{
    (void)path;
    return tdx_reader_utf8_check((const uint8_t *)c->p, c->n);
}

static uint64_t run_json_parse(const char *path, const corpus *c)
{
    (void)path;
    static uint8_t *copy;
    static size_t cap;
    tdx_jparser jp = {0};
    uint64_t sum = 0;
    const char *p = c->p, *end = c->p + c->n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = (size_t)(nl - p);
        if (len + 1 + TDX_READER_SLACK > cap) {
            cap = (len + 1 + TDX_READER_SLACK) * 2;
            copy = realloc(copy, cap);
        }
        memcpy(copy, p, len);
        memset(copy + len, 0, 1 + TDX_READER_SLACK);
        if (tdx_reader_json_parse(&jp, copy, len) == 0)
            for (size_t i = 0; i < jp.n; i++)
                sum += jp.m[i].val_len;
        p = nl + 1;
    }
    tdx_reader_json_free(&jp);
    return sum;
}

typedef void *(*loadb_fn)(const char *, size_t, size_t, void *);
typedef void (*del_fn)(void *);
static loadb_fn j_loadb;
static del_fn j_del;

static uint64_t run_jansson(const char *path, const corpus *c)
{
    (void)path;
    char err[256];
    uint64_t ok = 0;
    const char *p = c->p, *end = c->p + c->n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        void *j = j_loadb(p, (size_t)(nl - p), 0, err);
        if (j) {
            ok++;
            /* A parsed root has refcount 1: json_delete frees the tree. */
            j_del(j);
        }
        p = nl + 1;
    }
    return ok;
}

static uint64_t run_reader(const char *path, const corpus *c)
{
    (void)c;
    tdx_reader *r;
    tdx_err e = {0};
    tdx_reader_opts o = {0};
    if (tdx_reader_open(&path, 1, &o, &r, &e) != 0) {
        fprintf(stderr, "open: %s\n", e.msg);
        exit(1);
    }
    tdx_doc d;
    uint64_t sum = 0;
    while (tdx_reader_next(r, &d, &e) == 1)
        sum += d.text_len + d.nmeta + (d.text_len ? d.text[d.text_len / 2] : 0);
    tdx_reader_free(r);
    return sum;
}

/* ---- derived inputs ---- */

static void write_gb18030(const char *path, const corpus *c)
{
    UErrorCode ec = U_ZERO_ERROR;
    size_t cap = c->n * 2;
    char *out = malloc(cap);
    int32_t n = ucnv_convert("gb18030", "UTF-8", out, (int32_t)cap, c->p, (int32_t)c->n, &ec);
    if (U_FAILURE(ec)) {
        fprintf(stderr, "GB18030 conversion failed: %s\n", u_errorName(ec));
        exit(1);
    }
    write_file(path, out, (size_t)n);
    free(out);
}

static void write_archive(const char *path, const corpus *c, int html)
{
    struct archive *a = archive_write_new();
    if (html) {
        archive_write_set_format_pax_restricted(a);
    } else {
        archive_write_add_filter_zstd(a);
        archive_write_set_format_raw(a);
    }
    archive_write_open_filename(a, path);
    char name[64], *page = malloc(16384);
    size_t count = html ? c->ntexts : 1;
    for (size_t i = 0; i < count; i++) {
        struct archive_entry *e = archive_entry_new();
        const char *data = c->p;
        size_t len = c->n;
        if (html) {
            len =
                (size_t)snprintf(page, 16384,
                                 "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>公告 "
                                 "%zu</title><style>p{margin:0}</style></head><body><div "
                                 "class=\"content\"><h1>采购公告</h1><p>%s</p></div></body></html>",
                                 i, c->texts[i]);
            data = page;
            snprintf(name, sizeof name, "pages/%06zu.html", i);
        } else {
            snprintf(name, sizeof name, "data");
        }
        archive_entry_set_pathname(e, name);
        archive_entry_set_size(e, (la_int64_t)len);
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_perm(e, 0644);
        archive_write_header(a, e);
        archive_write_data(a, data, len);
        archive_entry_free(e);
    }
    archive_write_close(a);
    archive_write_free(a);
    free(page);
}

/* ---- driver ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct contender {
    const char *name;
    uint64_t (*fn)(const char *, const corpus *);
    const char *input; /* file the contender reads */
    int own_size;      /* 1: MB/s of the input file's size, 0: of the UTF-8 JSON Lines */
} contender;

int main(int argc, char **argv)
{
    size_t mb = 256;
    int runs = 5;
    uint64_t seed = 42;
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            mb = 32;
            runs = 3;
        } else if (strcmp(argv[i], "--mb") == 0 && i + 1 < argc) {
            mb = strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc) {
            runs = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            seed = strtoull(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else {
            fprintf(stderr, "usage: bench_reader [--quick] [--mb N] [--runs N] [--seed N] "
                            "[--only NAME]\n");
            return 2;
        }
    }
    if (runs < 1)
        runs = 1;
    corpus c = {0};
    gen(&c, mb << 20, seed);
    const char *tmp = getenv("TMPDIR");
    char dir[512], f_jsonl[600], f_zst[600], f_gb[600], f_html[600];
    snprintf(dir, sizeof dir, "%s/bench_reader.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(f_jsonl, sizeof f_jsonl, "%s/corpus.jsonl", dir);
    snprintf(f_zst, sizeof f_zst, "%s/corpus.jsonl.zst", dir);
    snprintf(f_gb, sizeof f_gb, "%s/corpus-gb18030.jsonl", dir);
    snprintf(f_html, sizeof f_html, "%s/pages.tar", dir);
    write_file(f_jsonl, c.p, c.n);
    write_archive(f_zst, &c, 0);
    write_gb18030(f_gb, &c);
    write_archive(f_html, &c, 1);
    void *jh = dlopen("libjansson.so.4", RTLD_NOW);
    if (jh) {
        *(void **)&j_loadb = dlsym(jh, "json_loadb");
        *(void **)&j_del = dlsym(jh, "json_delete");
    }
    printf("corpus: %zu records, %.1f MB of JSON Lines (seed %llu), %d runs\n", c.lines,
           (double)c.n / 1e6, (unsigned long long)seed, runs);
    printf("%-16s %10s %10s %10s %9s  %s\n", "contender", "median", "min-time", "cpu-median",
           "docs/s", "checksum");
    const contender cs[] = {
        {"read+split", run_read_split, f_jsonl, 0}, {"utf8-scalar", run_utf8_scalar, NULL, 0},
        {"utf8-avx2", run_utf8_avx2, NULL, 0},      {"json-parse", run_json_parse, NULL, 0},
        {"jansson", run_jansson, NULL, 0},          {"reader-jsonl", run_reader, f_jsonl, 0},
        {"reader-zst", run_reader, f_zst, 0},       {"reader-gb18030", run_reader, f_gb, 1},
        {"reader-html", run_reader, f_html, 1},
    };
    for (size_t k = 0; k < sizeof cs / sizeof cs[0]; k++) {
        if (only && strcmp(only, cs[k].name) != 0)
            continue;
        if (cs[k].fn == run_jansson && (j_loadb == NULL || j_del == NULL)) {
            printf("%-16s (libjansson not found)\n", cs[k].name);
            continue;
        }
        uint64_t check = cs[k].fn(cs[k].input, &c); /* warm-up */
        double *t = malloc(sizeof(double) * (size_t)runs);
        double *cpu = malloc(sizeof(double) * (size_t)runs);
        for (int i = 0; i < runs; i++) {
            double t0 = bu_clock(CLOCK_MONOTONIC), c0 = bu_clock(CLOCK_THREAD_CPUTIME_ID);
            uint64_t v = cs[k].fn(cs[k].input, &c);
            t[i] = bu_clock(CLOCK_MONOTONIC) - t0;
            cpu[i] = bu_clock(CLOCK_THREAD_CPUTIME_ID) - c0;
            if (v != check) {
                fprintf(stderr, "%s: checksum changed between runs\n", cs[k].name);
                return 1;
            }
        }
        qsort(t, (size_t)runs, sizeof *t, cmp_double);
        qsort(cpu, (size_t)runs, sizeof *cpu, cmp_double);
        double med = t[runs / 2], best = t[0], mbytes = (double)c.n / 1e6;
        if (cs[k].own_size) {
            struct stat st;
            if (stat(cs[k].input, &st) == 0)
                mbytes = (double)st.st_size / 1e6;
        }
        printf("%-16s %7.0f MB/s %6.0f MB/s %6.0f MB/s %9.0f  %016llx\n", cs[k].name, mbytes / med,
               mbytes / best, mbytes / cpu[runs / 2], (double)c.lines / med,
               (unsigned long long)check);
        free(t);
        free(cpu);
    }
    unlink(f_jsonl);
    unlink(f_zst);
    unlink(f_gb);
    unlink(f_html);
    rmdir(dir);
    for (size_t i = 0; i < c.ntexts; i++)
        free(c.texts[i]);
    free(c.texts);
    free(c.p);
    return 0;
}
