/*
 * fuzz_query.c - libFuzzer target for the query language: any bytes as a
 * query against a small index built once at start-up.  What parses is
 * run (with and without a limit), explained leaf by leaf, faceted and
 * highlighted; what does not parse must say why.  Invariants that do not
 * hold end the process (__builtin_trap), so the fuzzer reports them like a
 * crash; AddressSanitizer reports memory errors and leaks.
 *
 * Built and run by scripts/fuzz.sh (clang, -fsanitize=fuzzer,address);
 * seed inputs are in tests/fuzz/corpus/.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/docset.h"
#include "pipeline/pipeline.h"
#include "query/query.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static tdx_qctx *Q;
static char dir[1024];

/* One alias per normalized form. */
static const char watchlist[] = "深圳大学\tuniversity\t深圳大学\n"
                                "深圳大学\tuniversity\tShenzhen University\n"
                                "NVIDIA\tvendor\tNVIDIA\n"
                                "NVIDIA\tvendor\t英伟达\n"
                                "H100\tchip\tH100\n"
                                "H100\tchip\t/h[18]00/\n"
                                "GPU\tchip\tGPU\tsubstring\n"
                                "AWS\tcloud\tAmazon Web Services\n"
                                "阿里云\tcloud\t阿里雲\n";

static const char *const texts[] = {
    "深圳大學采购ＮＶＩＤＩＡ Ｈ１００ GPU服务器 数据中心",
    "Shenzhen University buys h800 chips from Amazon Web Services",
    "阿里云 云计算 平台 采购项目 招标公告 2023",
    "深 圳 大 学 网络安全 设备 gpus rack server",
    "英伟达 A100 与 H800 显卡, 以及 存储 设备。",
    "nothing to see here, only plain words and numbers 12345",
};

static void cleanup(void)
{
    tdx_qctx_close(Q);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (dir[0] && system(cmd) != 0)
        fprintf(stderr, "fuzz_query: cannot remove %s\n", dir);
}

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        fprintf(stderr, "fuzz_query: cannot write %s\n", path);
        exit(1);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/tdxfuzz.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        perror("fuzz_query: mkdtemp");
        exit(1);
    }
    char wl[1100], in[1100], idx[1100], line[1024];
    snprintf(wl, sizeof wl, "%s/watch.tsv", dir);
    snprintf(in, sizeof in, "%s/docs.jsonl", dir);
    snprintf(idx, sizeof idx, "%s/idx", dir);
    write_file(wl, watchlist, strlen(watchlist));
    FILE *f = fopen(in, "w");
    for (int i = 0; f && i < 60; i++) {
        int n = snprintf(line, sizeof line,
                         "{\"id\":\"d%d\",\"title\":\"t%d\",\"date\":\"20%02d-%02d-%02d\","
                         "\"buyer\":\"%s\",\"text\":\"%s %d\"}\n",
                         i, i, 18 + i % 7, 1 + i % 12, 1 + i % 28, i % 3 ? "深圳大学" : "x",
                         texts[i % 6], i);
        fwrite(line, 1, (size_t)n, f);
    }
    if (f == NULL || fclose(f) != 0) {
        fprintf(stderr, "fuzz_query: cannot write %s\n", in);
        exit(1);
    }
    const char *inputs[] = {in};
    tdx_pipeline_opts o;
    memset(&o, 0, sizeof o);
    o.index_path = idx;
    o.watchlist_path = wl;
    o.inputs = inputs;
    o.ninputs = 1;
    o.threads = 1;
    o.cache_dir = "";
    tdx_run_stats st;
    tdx_err err = {0};
    if (tdx_pipeline_run(&o, &st, &err) != 0 || tdx_qctx_open(idx, &Q, &err) != 0) {
        fprintf(stderr, "fuzz_query: cannot build the index: %s\n", err.msg);
        exit(1);
    }
    atexit(cleanup);
    return 0;
}

static void on_leaf(void *ctx, const char *leaf, uint64_t docs, int exact)
{
    (void)exact;
    if (leaf == NULL || docs > *(uint64_t *)ctx)
        __builtin_trap();
}

static void exercise(tdx_query *query)
{
    tdx_err err = {0};
    tdx_docset all = {0}, some = {0};
    if (tdx_query_run(Q, query, 0, &all, NULL, &err) != 0)
        goto done;
    for (size_t i = 1; i < all.n; i++)
        if (all.v[i - 1] >= all.v[i])
            __builtin_trap();
    /* A limit gives the first documents of the answer. */
    if (tdx_query_run(Q, query, 2, &some, NULL, &err) != 0)
        goto done;
    if (some.n != (all.n < 2 ? all.n : 2) || memcmp(some.v, all.v, some.n * sizeof *some.v))
        __builtin_trap();
    uint64_t ndocs = 60;
    if (tdx_query_leaves(Q, query, on_leaf, &ndocs, &err) != 0)
        goto done;
    /* (Date facets are left out: each call clears a table of every month
     * of 10,000 years, which would dominate the time per input.) */
    static const char *const bys[] = {"entity", "cat", "buyer"};
    for (size_t b = 0; b < 3; b++) {
        tdx_facet *f = NULL;
        size_t nf = 0;
        if (tdx_query_facet(Q, &all, bys[b], &f, &nf, &err) != 0)
            goto done;
        uint64_t sum = 0;
        for (size_t i = 0; i < nf; i++)
            sum += f[i].count;
        /* Every document has one buyer value (or "(none)"). */
        if ((b == 2 && sum != all.n) || (b < 2 && nf && f[0].count > all.n))
            __builtin_trap();
        tdx_facets_free(f, nf);
    }
    tdx_span32 *sp = NULL;
    size_t ns = 0, cap = 0;
    for (size_t i = 0; i < all.n && i < 3; i++) {
        if (tdx_query_highlights(Q, query, all.v[i], &sp, &ns, &cap, &err) != 0)
            break;
        for (size_t k = 0; k < ns; k++)
            if (sp[k].start >= sp[k].end || (k && sp[k - 1].end >= sp[k].start))
                __builtin_trap();
    }
    tdx_free(sp);
done:
    tdx_docset_free(&all);
    tdx_docset_free(&some);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    tdx_query *query = NULL;
    tdx_err err = {0};
    size_t col = 0;
    int rc = tdx_query_parse(Q, text, &query, &col, &err);
    if (rc == 0) {
        if (query == NULL)
            __builtin_trap();
        exercise(query);
        tdx_query_free(query);
    } else {
        /* An error says what went wrong and points into the query. */
        size_t chars = 0;
        for (const char *p = text; *p; p++)
            chars += ((unsigned char)*p & 0xC0) != 0x80;
        if (query != NULL || err.code != rc || err.msg[0] == 0 || col > chars + 1)
            __builtin_trap();
    }
    free(text);
    return 0;
}
