/*
 * test_bench.c - scripts/bench.sh --quick still runs end to end, on a tiny
 * generated corpus, with this build.
 *
 * No timing is asserted: benchmarks never run in the test suite, and a
 * figure measured here would mean nothing.  What is checked is that every
 * part of the suite ran and produced its figures, that the peers that are
 * installed answered the same queries with the same answer sizes where the
 * semantics agree (substrings: tenderidx, SQLite FTS5, ripgrep and GNU grep
 * all count documents containing a string of normalized text), and that a
 * quick run leaves bench/RESULTS.md alone.  Peers that are not installed
 * are skipped by bench.sh, which says so; the test then checks that it
 * said so.  It takes 15 s on the two-core development machine when it is
 * quiet, and took up to 110 s while other builds kept its load near 12.
 */
#include "tassert.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static void setup(void)
{
    tu_tmpdir();
}

static void teardown(void)
{
    tu_tmpdir_remove();
}

TestSuite(bench, .init = setup, .fini = teardown, .timeout = 600);

/* Value of KEY in results.tsv ("key<TAB>value" lines), or NULL; owned. */
static char *tsv_get(const char *tsv, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = tsv; p && *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (len > kl && strncmp(p, key, kl) == 0 && p[kl] == '\t') {
            char *v = strndup(p + kl + 1, len - kl - 1);
            cr_assert(v != NULL);
            return v;
        }
        p = eol ? eol + 1 : NULL;
    }
    return NULL;
}

static void expect_key(const char *tsv, const char *key)
{
    char *v = tsv_get(tsv, key);
    cr_expect(v != NULL && v[0] != 0, "results.tsv has no value for %s", key);
    free(v);
}

/* Both keys present and equal (e.g. answers that agree out of answers compared). */
static void expect_equal_keys(const char *tsv, const char *a, const char *b)
{
    char *va = tsv_get(tsv, a), *vb = tsv_get(tsv, b);
    cr_expect(va != NULL && vb != NULL, "missing %s or %s", a, b);
    if (va && vb)
        cr_expect(eq(str, va, vb), "%s = %s but %s = %s", a, va, b, vb);
    free(va);
    free(vb);
}

static int installed(const char *tool)
{
    char cmd[256];
    snprintf(cmd, sizeof cmd, "command -v %s", tool);
    return tu_run(cmd, NULL, NULL) == 0;
}

Test(bench, quick_suite_runs_end_to_end)
{
    const char *root = TDX_SOURCE_ROOT, *build = TDX_BUILD_ROOT;
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "cksum '%s/bench/RESULTS.md' 2>/dev/null || echo none", root);
    char *before = NULL;
    tu_run(cmd, &before, NULL);

    const char *outdir = tu_path("out");
    snprintf(cmd, sizeof cmd,
             "cd '%s' && scripts/bench.sh --quick --builddir '%s' --out '%s' --ingest-size 120k "
             "--query-docs 100 --runs 1 --nq 8 --budget 2 --stages-mb 0.1 --names 200",
             root, build, outdir);
    char *out = NULL, *err = NULL;
    int rc = tu_run(cmd, &out, &err);
    cr_assert(eq(int, rc, 0), "bench.sh exited %d\nstderr:\n%s", rc, err);

    char path[4200];
    snprintf(path, sizeof path, "%s/RESULTS.md", outdir);
    char *md = tu_read_file(path, NULL);
    cr_assert(md != NULL, "no RESULTS.md in %s", outdir);
    const char *sections[] = {"## Targets",
                              "## Ratios",
                              "## Ingest",
                              "## Query latency",
                              "## Stages beside the bare libraries",
                              "| machine |",
                              "| commit |"};
    for (size_t i = 0; i < sizeof sections / sizeof *sections; i++)
        cr_expect(strstr(md, sections[i]) != NULL, "RESULTS.md lacks '%s'", sections[i]);
    cr_expect(strstr(out, "comparison (ratio > 1: tenderidx ahead)") != NULL,
              "no ratio table on stdout:\n%s", out);

    snprintf(path, sizeof path, "%s/results.tsv", outdir);
    char *tsv = tu_read_file(path, NULL);
    cr_assert(tsv != NULL);
    const char *keys[] = {
        "ingest.full.1.mbps_med",
        "ingest.entity.1.mbps_med",
        "ingest.full.1.stage.normalize",
        "ingest.full.1.size_ratio",
        "ingest.full.1.rss_mib",
        "qall.entity.p99_ms",
        "qall.cat.p99_ms",
        "qall.and2.p99_ms",
        "qall.sub20.p99_ms",
        "qall.subcount.p99_ms",
        "qall.facet.p99_ms",
        "stage.normalize.tenderidx.mbps_med",
        "stage.normalize.icu.mbps_med",
        "stage.match.tenderidx.mbps_med",
        "stage.match.hyperscan.mbps_med",
        "stage.compress.tenderidx.mbps_med",
        "stage.compress.zstd.mbps_med",
        "noise.start.spread",
    };
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++)
        expect_key(tsv, keys[i]);

    /* The query index holds parts A and B; its doc count is what was asked. */
    char *qdocs = tsv_get(tsv, "qindex.docs");
    cr_expect(qdocs != NULL && strcmp(qdocs, "100") == 0, "query index has %s documents",
              qdocs ? qdocs : "no");
    free(qdocs);

    /* Peers: measured when installed, and the skip said when not. */
    snprintf(path, sizeof path, "%s/bench/peer_fts5", build);
    FILE *f = fopen(path, "r");
    if (f) {
        fclose(f);
        expect_key(tsv, "fts5.docs_s");
        expect_equal_keys(tsv, "cmp.sub20.agree", "cmp.sub20.n");
        expect_equal_keys(tsv, "cmp.subcount.agree", "cmp.subcount.n");
        expect_equal_keys(tsv, "cmp.and2.agree", "cmp.and2.n");
        expect_equal_keys(tsv, "cmp.facet.agree", "cmp.facet.n");
    } else {
        cr_expect(strstr(err, "skipped: SQLite FTS5") != NULL, "%s", err);
    }
    const char *tools[] = {"rg", "grep"};
    for (size_t i = 0; i < 2; i++) {
        char key[64], key2[64];
        if (!installed(tools[i])) {
            cr_expect(strstr(md, "not installed") != NULL);
            continue;
        }
        snprintf(key, sizeof key, "scan.%s.mbps", tools[i]);
        expect_key(tsv, key);
        snprintf(key, sizeof key, "sub.%s.agree", tools[i]);
        snprintf(key2, sizeof key2, "sub.%s.n", tools[i]);
        expect_equal_keys(tsv, key, key2);
    }

    snprintf(cmd, sizeof cmd, "cksum '%s/bench/RESULTS.md' 2>/dev/null || echo none", root);
    char *after = NULL;
    tu_run(cmd, &after, NULL);
    cr_expect(eq(str, before, after), "a quick run changed bench/RESULTS.md");
    free(before);
    free(after);
    free(tsv);
    free(md);
    free(out);
    free(err);
}
