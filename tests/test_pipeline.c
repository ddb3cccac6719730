/*
 * test_pipeline.c - the indexing run end to end, through the tenderidx
 * binary ($TENDERIDX) and the library: the index does not depend on the
 * number of workers or the batch size; a run killed (SIGKILL) at random
 * points or interrupted (SIGINT) and run again ends identical to one built
 * without interruption; indexing A then B equals indexing A and B; bad
 * records are counted and the rest indexed; --memory bounds what is in
 * flight; the CLI's stats and query outputs parse and agree with the
 * library.  Indexes are compared with `tenderidx dump` and every step ends
 * with `tenderidx check`.
 */
#include "tassert.h"
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/docset.h"
#include "common/utf8.h"
#include "pipeline/pipeline.h"
#include "query/query.h"
#include "testutil.h"
#include "tgen.h"

static tg_corpus C;
static void setup(void)
{
    tu_tmpdir();
}

static void teardown(void)
{
    tg_paths_free();
    tg_free(&C);
    tu_tmpdir_remove();
}

TestSuite(pipeline, .init = setup, .fini = teardown);

/* ---- running the binary ----------------------------------------------------- */

/* Run a shell command line; returns the exit status, output in *out (owned). */
static int sh(char **out, char **err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int sh(char **out, char **err, const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return tu_run(cmd, out, err);
}

static char *dump(const char *idx)
{
    char *out = NULL, *err = NULL;
    int rc = sh(&out, &err, "'%s' dump -i '%s'", tu_tenderidx(), idx);
    cr_assert(eq(int, rc, 0), "dump %s: %s", idx, err);
    free(err);
    return out;
}

static void check(const char *idx)
{
    char *out = NULL, *err = NULL;
    int rc = sh(&out, &err, "'%s' check -i '%s'", tu_tenderidx(), idx);
    cr_assert(eq(int, rc, 0), "check %s failed:\n%s%s", idx, out, err);
    cr_assert(strstr(out, ": ok (") != NULL, "%s", out);
    free(out);
    free(err);
}

/* Two dumps must be equal; on failure name the first line that differs. */
static void same_dump(const char *a, const char *b, const char *what)
{
    if (strcmp(a, b) == 0)
        return;
    size_t line = 1, i = 0;
    while (a[i] && a[i] == b[i]) {
        line += a[i] == '\n';
        i++;
    }
    size_t s = i;
    while (s > 0 && a[s - 1] != '\n')
        s--;
    int la = (int)strcspn(a + s, "\n"), lb = (int)strcspn(b + s, "\n");
    cr_assert(0, "%s: dumps differ at line %zu:\n  %.*s\n  %.*s", what, line, la < 300 ? la : 300,
              a + s, lb < 300 ? lb : 300, b + s);
}

/* The index command's fixed options, for an argv. */
typedef struct argv_b {
    char *v[64];
    int n;
} argv_b;

static void arg(argv_b *a, const char *s)
{
    cr_assert(a->n < 63);
    a->v[a->n++] = tg_strdup(s);
    a->v[a->n] = NULL;
}

static void args_free(argv_b *a)
{
    for (int i = 0; i < a->n; i++)
        free(a->v[i]);
    a->n = 0;
}

static void index_args(argv_b *a, const char *idx, const char *wl)
{
    arg(a, tu_tenderidx());
    arg(a, "index");
    arg(a, "-i");
    arg(a, idx);
    arg(a, "-p");
    arg(a, wl);
    arg(a, "--no-cache");
}

static uint64_t json_u64(const char *line, const char *key)
{
    char k[64];
    snprintf(k, sizeof k, "\"%s\":", key);
    const char *p = strstr(line, k);
    return p ? strtoull(p + strlen(k), NULL, 10) : 0;
}

/*
 * Run the index command with --progress json and read its progress lines;
 * once a line shows at least `after` documents committed, send `sig`
 * (never when after is UINT64_MAX).  Returns the exit status, or 128 plus
 * the signal that ended the process.  Output goes to *out and *err when
 * given (owned).
 */
static int kill_in_merge; /* run_index: send sig at the first merge step instead */

static int run_index(argv_b *a, uint64_t after, int sig, char **out, char **err)
{
    int ep[2], op[2];
    cr_assert(eq(int, pipe(ep), 0));
    cr_assert(eq(int, pipe(op), 0));
    arg(a, "--progress");
    arg(a, "json");
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        dup2(ep[1], 2);
        dup2(op[1], 1);
        close(ep[0]);
        close(ep[1]);
        close(op[0]);
        close(op[1]);
        execv(a->v[0], a->v);
        _exit(127);
    }
    close(ep[1]);
    close(op[1]);
    a->n -= 2;
    free(a->v[a->n]);
    free(a->v[a->n + 1]);
    a->v[a->n] = NULL;
    /* stdout is one short summary line: read it after stderr is closed. */
    FILE *ef = fdopen(ep[0], "r");
    tdx_buf eb = TDX_BUF_INIT;
    char *line = NULL;
    size_t cap = 0;
    int sent = 0;
    while (getline(&line, &cap, ef) > 0) {
        if (line[0] == '{') {
            int due = kill_in_merge ? json_u64(line, "merge_done") > 0
                                    : after != UINT64_MAX && json_u64(line, "docs_added") >= after;
            if (!sent && due && strstr(line, "\"final\":false")) {
                kill(pid, sig);
                sent = 1;
            }
        } else {
            tdx_buf_puts(&eb, line);
        }
    }
    fclose(ef);
    free(line);
    FILE *of = fdopen(op[0], "r");
    tdx_buf ob = TDX_BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, of)) > 0)
        tdx_buf_append(&ob, chunk, n);
    fclose(of);
    int st;
    cr_assert(eq(int, waitpid(pid, &st, 0), pid));
    if (out)
        *out = tg_strdup(ob.p ? (const char *)ob.p : "");
    if (err)
        *err = tg_strdup(eb.p ? (const char *)eb.p : "");
    tdx_buf_free(&ob);
    tdx_buf_free(&eb);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void write_buf(const char *path, tdx_buf *b)
{
    tu_write_file(path, b->p ? (const char *)b->p : "", b->len);
    tdx_buf_free(b);
}

/*
 * A corpus in three files under dir (a.jsonl, b.jsonl, c.jsonl); the
 * middle one also holds records the reader rejects (malformed JSON, no
 * text), so resuming must count those exactly once too.
 */
static void write_corpus_dir(const char *dir, size_t nbad)
{
    mkdir(dir, 0755);
    size_t cut1 = C.ndocs / 3, cut2 = 2 * C.ndocs / 3;
    char path[4096];
    snprintf(path, sizeof path, "%s/a.jsonl", dir);
    tg_write_jsonl(&C, path, 0, cut1);
    tdx_buf b = TDX_BUF_INIT;
    size_t every = nbad ? (cut2 - cut1) / (nbad + 1) : SIZE_MAX;
    for (size_t i = cut1; i < cut2; i++) {
        tg_json_doc(&b, &C.docs[i]);
        if (nbad && (i - cut1) % every == every - 1)
            tdx_buf_puts(&b, (i & 1) ? "{\"id\":\"bad\",\"text\":\"unterminated\n"
                                     : "{\"id\":\"notext\",\"title\":\"no body\"}\n");
    }
    snprintf(path, sizeof path, "%s/b.jsonl", dir);
    write_buf(path, &b);
    snprintf(path, sizeof path, "%s/c.jsonl", dir);
    tg_write_jsonl(&C, path, cut2, C.ndocs);
}

/* A generated corpus in watch.tsv and d.jsonl. */
static void one_file_corpus(const char *what, size_t ndocs, size_t avg_len, const char **wl,
                            const char **in)
{
    tg_make(&C, tu_seed(what), ndocs, avg_len);
    *wl = tg_path("watch.tsv");
    *in = tg_path("d.jsonl");
    tg_write_watchlist(&C, *wl);
    tg_write_jsonl(&C, *in, 0, C.ndocs);
}

/* ---- determinism ---------------------------------------------------------------- */

Test(pipeline, dump_is_the_same_with_1_2_4_workers_and_any_batch_size, .timeout = 300)
{
    tg_make(&C, tu_seed("pipeline/determinism"), 2000, 500);
    const char *in = tg_path("in");
    const char *wl = tg_path("watch.tsv");
    tg_write_watchlist(&C, wl);
    write_corpus_dir(in, 4);
    static const char *const runs[][2] = {
        {"1", "64K"}, {"2", "64K"}, {"4", "64K"}, {"2", "200K"}, {"3", "16M"},
    };
    char *first = NULL;
    for (size_t r = 0; r < sizeof runs / sizeof *runs; r++) {
        char idx[64];
        snprintf(idx, sizeof idx, "idx%zu", r);
        argv_b a = {{0}, 0};
        index_args(&a, tu_path(idx), wl);
        arg(&a, "-j");
        arg(&a, runs[r][0]);
        arg(&a, "--batch");
        arg(&a, runs[r][1]);
        arg(&a, in);
        char *err = NULL;
        int rc = run_index(&a, UINT64_MAX, 0, NULL, &err);
        cr_assert(eq(int, rc, 1), "-j %s --batch %s: exit %d (4 bad records): %s", runs[r][0],
                  runs[r][1], rc, err);
        free(err);
        args_free(&a);
        check(tu_path(idx));
        char *d = dump(tu_path(idx));
        cr_assert(strstr(d, "counts docs=2000 ") != NULL, "%.300s", d);
        if (first == NULL) {
            first = d;
            continue;
        }
        char what[128];
        snprintf(what, sizeof what, "-j %s --batch %s vs -j 1 --batch 64K", runs[r][0], runs[r][1]);
        same_dump(first, d, what);
        free(d);
    }
    free(first);
}

/* ---- interruptions ---------------------------------------------------------------- */

/* An uninterrupted build of dir into idx; returns its dump. */
static char *reference_build(const char *idx, const char *wl, const char *dir)
{
    argv_b a = {{0}, 0};
    index_args(&a, idx, wl);
    arg(&a, "--batch");
    arg(&a, "64K");
    arg(&a, "--memory");
    arg(&a, "16M");
    arg(&a, dir);
    int rc = run_index(&a, UINT64_MAX, 0, NULL, NULL);
    args_free(&a);
    cr_assert(eq(int, rc, 1), "reference build: exit %d", rc);
    check(idx);
    return dump(idx);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/*
 * The corpus for the interruption tests, written to dir, and its reference
 * build.  Progress lines come about five times a second, so the run must
 * last a second or more for them to offer kill points: on a machine fast
 * enough to index it sooner the corpus grows until it does.
 */
static char *interruption_corpus(uint64_t seed, size_t nbad, const char *dir, const char *wl,
                                 const char *ref)
{
    for (size_t ndocs = 4000;; ndocs *= 2) {
        tg_free(&C);
        tg_make(&C, seed, ndocs, 500);
        cr_assert(eq(int, sh(NULL, NULL, "rm -rf '%s' '%s'", dir, ref), 0));
        tg_write_watchlist(&C, wl);
        write_corpus_dir(dir, nbad);
        double t0 = now_s();
        char *d = reference_build(ref, wl, dir);
        if (now_s() - t0 >= 1.0 || ndocs >= 64000)
            return d;
        free(d);
    }
}

Test(pipeline, sigkill_at_random_points_then_rerun_equals_an_uninterrupted_build, .timeout = 300)
{
    uint64_t seed = tu_seed("pipeline/sigkill");
    uint64_t rs = seed;
    const char *in = tg_path("in");
    const char *wl = tg_path("watch.tsv");
    const char *ref = tg_path("ref");
    const char *idx = tg_path("idx");
    char *want = interruption_corpus(seed, 6, in, wl, ref);

    /* The same command killed a few times, each time after a random number
     * of documents committed, then run to completion. */
    int kills = 0, runs = 0, rc;
    do {
        argv_b a = {{0}, 0};
        index_args(&a, idx, wl);
        arg(&a, "--batch");
        arg(&a, "64K");
        arg(&a, "--memory");
        arg(&a, "16M");
        arg(&a, "-j");
        arg(&a, tg_chance(&rs, 50) ? "2" : "3");
        arg(&a, in);
        uint64_t after = runs < 4 ? tg_below(&rs, (uint32_t)C.ndocs / 5) : UINT64_MAX;
        rc = run_index(&a, after, SIGKILL, NULL, NULL);
        args_free(&a);
        runs++;
        if (rc == 128 + SIGKILL) {
            kills++;
        } else {
            /* 1 while the rejected records are read; they may all be behind it. */
            cr_assert(rc == 0 || rc == 1, "seed %llu: run %d exit %d", (unsigned long long)seed,
                      runs, rc);
        }
        check(idx);
    } while (rc == 128 + SIGKILL && runs < 10);
    cr_assert(kills >= 2, "seed %llu: only %d runs were killed", (unsigned long long)seed, kills);
    /* The run that completed filed every id and content hash the killed
     * ones left in their records only. */
    char *st = NULL;
    cr_assert(eq(int, sh(&st, NULL, "'%s' stats -i '%s' --json", tu_tenderidx(), idx), 0));
    cr_assert(eq(u64, json_u64(st, "deferred"), 0), "%s", st);
    free(st);
    char *got = dump(idx);
    char what[96];
    snprintf(what, sizeof what, "seed %llu: after %d kills", (unsigned long long)seed, kills);
    same_dump(want, got, what);
    free(got);
    free(want);
}

Test(pipeline, sigint_stops_at_a_commit_and_a_rerun_completes, .timeout = 300)
{
    uint64_t seed = tu_seed("pipeline/sigint");
    const char *in = tg_path("in");
    const char *wl = tg_path("watch.tsv");
    const char *ref = tg_path("ref");
    const char *idx = tg_path("idx");
    char *want = interruption_corpus(seed, 2, in, wl, ref);

    argv_b a = {{0}, 0};
    index_args(&a, idx, wl);
    arg(&a, "--batch");
    arg(&a, "64K");
    arg(&a, "--memory");
    arg(&a, "16M");
    arg(&a, in);
    char *out = NULL, *err = NULL;
    uint64_t stop_after = C.ndocs / 10;
    int rc = run_index(&a, stop_after, SIGINT, &out, &err);
    cr_assert(eq(int, rc, 1), "interrupted run: exit %d: %s", rc, err);
    cr_assert(strstr(err, "interrupted") != NULL, "%s", err);
    cr_assert(strstr(out, "indexed ") != NULL, "%s", out);
    uint64_t added = 0; /* "indexed 1,234 documents" */
    for (const char *d = out + strlen("indexed "); *d == ',' || (*d >= '0' && *d <= '9'); d++)
        if (*d != ',')
            added = added * 10 + (uint64_t)(*d - '0');
    cr_assert(added >= stop_after && added < C.ndocs, "%" PRIu64 " documents before the stop",
              added);
    free(out);
    free(err);
    check(idx);
    char *part = dump(idx);
    char docs[64];
    snprintf(docs, sizeof docs, "counts docs=%" PRIu64 " ", added);
    cr_assert(strstr(part, docs) != NULL, "the index holds what the run reported");
    free(part);

    /* The rerun starts after the last commit: bad records the first run
     * already read are not read (nor reported) again, so its exit code is 1
     * only when a bad record lies after the stop.  The index counts each
     * bad record exactly once either way: as many as an uninterrupted run. */
    rc = run_index(&a, UINT64_MAX, 0, &out, &err);
    cr_assert(rc == 0 || rc == 1, "rerun: exit %d: %s", rc, err);
    free(out);
    free(err);
    args_free(&a);
    check(idx);
    cr_assert(eq(int, sh(&out, NULL, "'%s' stats -i '%s' --json", tu_tenderidx(), idx), 0));
    char *refstats = NULL;
    cr_assert(eq(int, sh(&refstats, NULL, "'%s' stats -i '%s' --json", tu_tenderidx(), ref), 0));
    cr_assert(gt(u64, json_u64(refstats, "rejects"), 0));
    cr_assert(eq(u64, json_u64(out, "rejects"), json_u64(refstats, "rejects")),
              "interrupted and resumed: %s\nuninterrupted: %s", out, refstats);
    cr_assert(eq(u64, json_u64(out, "deferred"), 0), "%s", out);
    free(refstats);
    free(out);
    char *got = dump(idx);
    same_dump(want, got, "interrupted, then run again");
    free(got);
    free(want);
}

/*
 * Ctrl-C during the merge that ends a run, then during `--merge` alone:
 * the merge stops between two of its steps (each a commit), the index
 * answers the same meanwhile, and the next run finishes the merge first.
 */
Test(pipeline, sigint_during_the_final_merge_stops_between_its_steps, .timeout = 300)
{
    tg_make(&C, tu_seed("pipeline/sigint-merge"), 800, 400);
    const char *in = tg_path("in");
    const char *wl = tg_path("watch.tsv");
    const char *ref = tg_path("ref");
    const char *idx = tg_path("idx");
    tg_write_watchlist(&C, wl);
    write_corpus_dir(in, 1); /* one bad record: exit 1 whatever happens */
    char *want = reference_build(ref, wl, in);

    argv_b a = {{0}, 0};
    index_args(&a, idx, wl);
    arg(&a, in);
    /* Steps of 8 KB: a merge of a few hundred steps. */
    cr_assert(eq(int, setenv("TENDERIDX_MERGE_CHUNK", "8192", 1), 0));
    kill_in_merge = 1;
    char *out = NULL, *err = NULL;
    int rc = run_index(&a, 0, SIGINT, &out, &err);
    kill_in_merge = 0;
    unsetenv("TENDERIDX_MERGE_CHUNK");
    cr_assert(eq(int, rc, 1), "interrupted merge: exit %d: %s", rc, err);
    cr_assert(strstr(err, "interrupted") != NULL, "%s", err);
    cr_assert(strstr(out, "postings segments pending") != NULL, "%s", out);
    free(out);
    free(err);
    char *got = dump(idx);
    same_dump(want, got, "a merge stopped half-way");
    free(got);
    check(idx);
    cr_assert(eq(int, sh(&out, NULL, "'%s' stats -i '%s'", tu_tenderidx(), idx), 0));
    cr_assert(strstr(out, "a merge stopped part-way") != NULL, "%s", out);
    free(out);

    /* --merge alone goes on with it, and stops the same way. */
    argv_b m = {{0}, 0};
    arg(&m, tu_tenderidx());
    arg(&m, "index");
    arg(&m, "-i");
    arg(&m, idx);
    arg(&m, "--merge");
    cr_assert(eq(int, setenv("TENDERIDX_MERGE_CHUNK", "8192", 1), 0));
    kill_in_merge = 1;
    rc = run_index(&m, 0, SIGINT, &out, &err);
    kill_in_merge = 0;
    unsetenv("TENDERIDX_MERGE_CHUNK");
    args_free(&m);
    cr_assert(eq(int, rc, 1), "interrupted --merge: exit %d: %s", rc, err);
    cr_assert(strstr(err, "interrupted") != NULL, "%s", err);
    cr_assert(strstr(out, "postings segments pending") != NULL, "%s", out);
    free(out);
    free(err);
    got = dump(idx);
    same_dump(want, got, "a merge stopped twice");
    free(got);
    check(idx);

    /* The next run finishes it before reading anything. */
    rc = run_index(&a, UINT64_MAX, 0, &out, &err);
    cr_assert(rc == 0 || rc == 1, "rerun: exit %d: %s", rc, err);
    cr_assert(strstr(out, "pending") == NULL, "%s", out);
    free(out);
    free(err);
    args_free(&a);
    cr_assert(eq(int, sh(&out, NULL, "'%s' stats -i '%s'", tu_tenderidx(), idx), 0));
    cr_assert(strstr(out, " 0 unmerged\n") != NULL, "%s", out);
    free(out);
    got = dump(idx);
    same_dump(want, got, "the merge finished by the next run");
    free(got);
    free(want);
    check(idx);
}

/* ---- incremental ------------------------------------------------------------------ */

Test(pipeline, indexing_a_then_b_equals_indexing_both_and_reruns_add_nothing, .timeout = 120)
{
    tg_make(&C, tu_seed("pipeline/incremental"), 900, 400);
    const char *a_path = tg_path("a.jsonl");
    const char *b_path = tg_path("b.jsonl");
    const char *wl = tg_path("watch.tsv");
    const char *one = tg_path("one");
    const char *two = tg_path("two");
    tg_write_watchlist(&C, wl);
    tg_write_jsonl(&C, a_path, 0, 500);
    tg_write_jsonl(&C, b_path, 500, C.ndocs);
    const char *T = tu_tenderidx();
    char *out = NULL, *err = NULL;
    cr_assert(eq(int,
                 sh(NULL, NULL, "'%s' index -q --no-cache -i '%s' -p '%s' '%s' '%s'", T, one, wl,
                    a_path, b_path),
                 0));
    cr_assert(
        eq(int, sh(NULL, NULL, "'%s' index -q --no-cache -i '%s' -p '%s' '%s'", T, two, wl, a_path),
           0));
    check(two);
    cr_assert(
        eq(int, sh(&out, NULL, "'%s' index -q --no-cache -i '%s' -p '%s' '%s'", T, two, wl, b_path),
           0));
    cr_assert(strstr(out, "indexed 400 documents") != NULL, "%s", out);
    free(out);
    check(one);
    check(two);
    char *d1 = dump(one), *d2 = dump(two);
    same_dump(d1, d2, "A+B vs A then B");
    free(d2);

    /* The same inputs again: nothing new, both files skipped. */
    cr_assert(eq(int,
                 sh(&out, &err, "'%s' index --no-cache -i '%s' -p '%s' '%s' '%s'", T, two, wl,
                    a_path, b_path),
                 0));
    cr_assert(strstr(out, "indexed 0 documents") != NULL, "%s", out);
    cr_assert(strstr(out, "2 files skipped (already indexed)") != NULL, "%s", out);
    cr_assert(strstr(err, "nothing new") != NULL, "%s", err);
    free(out);
    free(err);
    /* Another copy of A under a new name: every document is already there. */
    const char *a2 = tg_path("a-copy.jsonl");
    tg_write_jsonl(&C, a2, 0, 500);
    cr_assert(eq(
        int, sh(&out, NULL, "'%s' index -q --no-cache -i '%s' -p '%s' '%s'", T, two, wl, a2), 0));
    cr_assert(strstr(out, "indexed 0 documents") != NULL, "%s", out);
    cr_assert(strstr(out, "500 already indexed") != NULL, "%s", out);
    free(out);
    check(two);
    d2 = dump(two);
    cr_assert(strstr(d2, "counts docs=900 ") != NULL, "%.300s", d2);
    free(d1);
    free(d2);
}

/* The answers of a few substring queries, counted and listed. */
static char *answers(const char *idx)
{
    static const char *const qs[] = {"采购",   "公告", "项目",         "大学",
                                     "服务器", "20",   "招标 AND 采购"};
    tdx_buf all = TDX_BUF_INIT;
    for (size_t i = 0; i < sizeof qs / sizeof *qs; i++) {
        char *out = NULL;
        cr_assert(eq(
            int, sh(&out, NULL, "'%s' query -i '%s' --csv '%s'", tu_tenderidx(), idx, qs[i]), 0));
        cr_assert(eq(int, tdx_buf_append(&all, out, strlen(out)), 0));
        free(out);
    }
    cr_assert(eq(int, tdx_buf_append(&all, "", 1), 0));
    return (char *)all.p;
}

/* Index one file into idx with extra options opt; the summary names
 * `pending` ("N postings segments pending"), or no pending segment when
 * pending is NULL. */
static void index_part(const char *idx, const char *wl, const char *opt, const char *path,
                       const char *pending)
{
    char *out = NULL;
    cr_assert(eq(int,
                 sh(&out, NULL, "'%s' index -q --no-cache %s -i '%s' -p '%s' '%s'", tu_tenderidx(),
                    opt, idx, wl, path),
                 0));
    if (pending)
        cr_assert(strstr(out, pending) != NULL, "%s: %s", path, out);
    else
        cr_assert(strstr(out, "pending") == NULL, "%s: %s", path, out);
    free(out);
}

static void same_index(const char *ref, const char *idx, const char *what)
{
    check(idx);
    char *d1 = dump(ref), *d2 = dump(idx);
    same_dump(d1, d2, what);
    free(d1);
    free(d2);
}

/*
 * A run that adds little to a large index leaves its postings as segments
 * (a merge would rewrite the whole tree); queries answer the same as on a
 * one-shot build; a run that adds enough, or --merge, folds them in.
 */
Test(pipeline, small_runs_leave_segments_until_they_add_up, .timeout = 120)
{
    tg_make(&C, tu_seed("pipeline/tiers"), 2000, 400);
    const char *wl = tg_path("watch.tsv");
    const char *parts[5] = {tg_path("a.jsonl"), tg_path("b.jsonl"), tg_path("c.jsonl"),
                            tg_path("d.jsonl"), tg_path("e.jsonl")};
    size_t ends[6] = {0, 1600, 1604, 1608, 1612, 2000};
    tg_write_watchlist(&C, wl);
    for (int i = 0; i < 5; i++)
        tg_write_jsonl(&C, parts[i], ends[i], ends[i + 1]);
    const char *T = tu_tenderidx();
    const char *inc = tg_path("inc");
    const char *ref = tg_path("ref");
    index_part(inc, wl, "", parts[0], NULL); /* a new index is merged */
    /* 4 documents: a quarter of a percent of the index, left as a segment. */
    index_part(inc, wl, "", parts[1], "1 postings segments pending");
    char *out = NULL;
    cr_assert(eq(int, sh(&out, NULL, "'%s' stats -i '%s'", T, inc), 0));
    cr_assert(strstr(out, "1 unmerged") != NULL, "%s", out);
    free(out);
    cr_assert(eq(int,
                 sh(NULL, NULL, "'%s' index -q --no-cache -i '%s' -p '%s' '%s' '%s'", T, ref, wl,
                    parts[0], parts[1]),
                 0));
    same_index(ref, inc, "A then a small B vs A+B");
    char *a1 = answers(ref), *a2 = answers(inc);
    cr_assert(eq(str, a2, a1), "queries over a pending segment");
    free(a1);
    free(a2);
    /* Another small one: two segments now, folded by --merge alone; a third
     * with --merge is folded at once; a run that adds a fifth of the index
     * merges by itself. */
    index_part(inc, wl, "", parts[2], "2 postings segments pending");
    /* --merge without inputs folds them in, and then has nothing to do. */
    cr_assert(eq(int, sh(&out, NULL, "'%s' index -i '%s' --merge", T, inc), 0));
    cr_assert(strstr(out, "merged 2 postings segments") != NULL, "%s", out);
    free(out);
    cr_assert(eq(int, sh(&out, NULL, "'%s' stats -i '%s'", T, inc), 0));
    cr_assert(strstr(out, " 0 unmerged") != NULL, "%s", out);
    free(out);
    cr_assert(eq(int, sh(&out, NULL, "'%s' index -i '%s' --merge", T, inc), 0));
    cr_assert(strstr(out, "nothing to merge") != NULL, "%s", out);
    free(out);
    cr_assert(eq(
        int, sh(NULL, NULL, "'%s' index -q --no-cache -i '%s' -p '%s' '%s'", T, ref, wl, parts[2]),
        0));
    same_index(ref, inc, "merged alone vs pending");
    a1 = answers(ref);
    a2 = answers(inc);
    cr_assert(eq(str, a2, a1), "queries after a merge alone");
    free(a1);
    free(a2);
    index_part(inc, wl, "--merge", parts[3], NULL);
    index_part(inc, wl, "", parts[4], NULL);
    cr_assert(eq(int,
                 sh(NULL, NULL, "'%s' index -q --no-cache -i '%s' -p '%s' '%s' '%s'", T, ref, wl,
                    parts[3], parts[4]),
                 0));
    same_index(ref, inc, "five runs vs three");
}

/* ---- bad input ------------------------------------------------------------------------ */

Test(pipeline, bad_records_are_counted_exactly_and_good_ones_indexed)
{
    tg_make(&C, tu_seed("pipeline/rejects"), 40, 300);
    const char *wl = tg_path("watch.tsv");
    const char *idx = tg_path("idx");
    const char *good = tg_path("good.jsonl");
    const char *bad = tg_path("mixed.jsonl");
    const char *empty = tg_path("empty.jsonl");
    const char *missing = tg_path("missing.jsonl");
    const char *rej = tg_path("rejects.jsonl");
    tg_write_watchlist(&C, wl);
    tg_write_jsonl(&C, good, 0, 20);
    /* 20 good records, 4 rejected ones, one repaired (invalid UTF-8), a blank line. */
    tdx_buf b = TDX_BUF_INIT;
    for (size_t i = 20; i < 40; i++) {
        tg_json_doc(&b, &C.docs[i]);
        if (i == 22)
            tdx_buf_puts(&b, "{\"id\":\"x1\",\"text\":\"no closing brace\"\n");
        if (i == 25)
            tdx_buf_puts(&b, "not json at all\n");
        if (i == 30)
            tdx_buf_puts(&b, "{\"id\":\"x2\",\"title\":\"no text field\"}\n");
        if (i == 31)
            tdx_buf_puts(&b, "\n");
        if (i == 33)
            tdx_buf_puts(&b, "[1,2,3]\n");
        if (i == 35)
            tdx_buf_puts(&b, "{\"id\":\"x3\",\"text\":\"bad \xff byte\"}\n");
    }
    write_buf(bad, &b);
    tu_write_str(empty, "");
    char *out = NULL, *err = NULL;
    int rc = sh(&out, &err,
                "'%s' index --no-cache -i '%s' -p '%s' --rejects '%s' --stats-json - '%s' '%s' "
                "'%s' '%s'",
                tu_tenderidx(), idx, wl, rej, good, bad, empty, missing);
    cr_assert(eq(int, rc, 1), "exit %d: %s", rc, err);
    cr_assert(strstr(out, "indexed 41 documents") != NULL, "%s", out);
    cr_assert(strstr(out, " 6 rejected") != NULL, "%s", out);
    cr_assert(strstr(out, "1 repaired") != NULL, "%s", out);
    const char *js = strstr(out, "{\"docs_read\"");
    cr_assert(js != NULL, "%s", out);
    cr_assert(eq(u64, json_u64(js, "rejects"), 6));
    cr_assert(eq(u64, json_u64(js, "warnings"), 1));
    cr_assert(eq(u64, json_u64(js, "added"), 41));
    /* One stderr line per problem, naming file and line. */
    cr_assert(strstr(err, "mixed.jsonl:4 ") != NULL, "%s", err);
    cr_assert(strstr(err, "missing.jsonl") != NULL, "%s", err);
    cr_assert(strstr(err, "empty.jsonl") != NULL, "%s", err);
    free(out);
    free(err);
    char *r = tu_read_file(rej, NULL);
    size_t lines = 0, kept = 0;
    for (const char *p = r; (p = strchr(p, '\n')) != NULL; p++)
        lines++;
    for (const char *p = r; (p = strstr(p, "\"kept\":true")) != NULL; p++)
        kept++;
    cr_assert(eq(sz, lines, 7), "%s", r);
    cr_assert(eq(sz, kept, 1), "%s", r);
    free(r);
    check(idx);
    cr_assert(eq(int, sh(&out, NULL, "'%s' stats -i '%s' --json", tu_tenderidx(), idx), 0));
    cr_assert(eq(u64, json_u64(out, "documents"), 41), "%s", out);
    cr_assert(eq(u64, json_u64(out, "rejects"), 6), "%s", out);
    free(out);
}

/* ---- memory ------------------------------------------------------------------------- */

/* Largest RssAnon (kB) of pid seen while it runs. */
static long anon_rss_kb(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "RssAnon:", 8) == 0)
            kb = strtol(line + 8, NULL, 10);
    fclose(f);
    return kb;
}

/*
 * Write about mb MB of generated notices to path: a dozen words with
 * numbers (the vocabulary of a tender corpus), or (diverse) random ASCII
 * tokens and CJK words that are nearly all new, whose postings take
 * several times the memory per byte of text that notices do.
 */
static void write_corpus(uint64_t *rs, const char *path, size_t mb, int diverse)
{
    FILE *f = fopen(path, "w");
    cr_assert(f != NULL);
    static const char *const w[] = {"server",  "rack",   "gpu",  "h100",   "cloud", "storage",
                                    "network", "nvidia", "data", "center", "lab",   "node"};
    static const char sym[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    size_t bytes = 0;
    for (int d = 0; bytes < (mb << 20); d++) {
        int n = fprintf(f, "{\"id\":\"m%d\",\"text\":\"no%d", d, d);
        for (uint32_t k = 0, nw = 100 + tg_below(rs, 400); k < nw; k++) {
            if (!diverse) {
                n += fprintf(f, " %s%u", w[tg_below(rs, 12)], tg_below(rs, 50));
                continue;
            }
            char tok[64];
            size_t l = 0;
            tok[l++] = ' ';
            if (tg_below(rs, 2)) {
                for (uint32_t i = 0, m = 3 + tg_below(rs, 8); i < m; i++)
                    tok[l++] = sym[tg_below(rs, 36)];
            } else {
                for (uint32_t i = 0, m = 2 + tg_below(rs, 5); i < m; i++)
                    l += tdx_utf8_encode((uint8_t *)tok + l, 0x4E00 + tg_below(rs, 0x51A5));
            }
            n += (int)fwrite(tok, 1, l, f);
        }
        n += fprintf(f, "\"}\n");
        bytes += (size_t)n;
    }
    fclose(f);
}

/* The files of a memory test: a two-line watch list, the corpus (named
 * in), the index and its stats. */
typedef struct memrun {
    const char *wl, *in, *idx, *st;
} memrun;

static memrun memrun_setup(const char *in)
{
    memrun r = {tg_path("watch.tsv"), tg_path(in), tg_path("idx"), tg_path("stats.json")};
    tu_write_str(r.wl, "H100\tchip\tH100\nNVIDIA\tvendor\tNVIDIA\n");
    return r;
}

/*
 * Index r->in with --memory limit and 2 workers into a fresh index at
 * r->idx (its stats at r->st): the largest anonymous RSS seen, in kB.
 */
static long bounded_run(const memrun *r, const char *limit, int small_pages)
{
    cr_assert(eq(int, sh(NULL, NULL, "rm -rf '%s'", r->idx), 0));
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int dn = open("/dev/null", O_WRONLY);
        dup2(dn, 1);
        dup2(dn, 2);
        if (small_pages)
            setenv("MALLOC_CONF", "thp:never", 1);
        execl(tu_tenderidx(), tu_tenderidx(), "index", "-q", "--no-cache", "-i", r->idx, "-p",
              r->wl, "--normalize", "none", "--memory", limit, "-j", "2", "--stats-json", r->st,
              r->in, (char *)NULL);
        _exit(127);
    }
    /* Sample the process's anonymous memory while it runs. */
    long peak = 0;
    int status;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        long kb = anon_rss_kb(pid);
        peak = kb > peak ? kb : peak;
        usleep(5000);
    }
    int exited_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    cr_assert(exited_ok, "status %d", status);
    check(r->idx);
    return peak;
}

/* The 16 MB run's figures: the budget held, and the input read whole. */
static void expect_in_flight(const char *st, size_t mb)
{
    char *s = tu_read_file(st, NULL);
    cr_assert(s != NULL);
    uint64_t inflight = json_u64(s, "peak_inflight");
    cr_assert(inflight > 0 && inflight <= ((uint64_t)16 << 20), "peak in flight %" PRIu64,
              inflight);
    cr_assert(json_u64(s, "bytes_read") > ((uint64_t)(mb - mb / 6) << 20), "%s", s);
    free(s);
}

Test(pipeline, memory_limit_bounds_the_data_in_flight, .timeout = 300)
{
    /* 80 MB and then 160 MB of text, much more than the 16 MiB limit;
     * ASCII and no normalization steps keep it quick. */
    uint64_t rs = tu_seed("pipeline/memory");
    memrun r = memrun_setup("big.jsonl");
    write_corpus(&rs, r.in, 80, 0);
    long peak1 = bounded_run(&r, "16M", 0);
    expect_in_flight(r.st, 80);
    write_corpus(&rs, r.in, 160, 0);
    long peak2 = bounded_run(&r, "16M", 0);
    expect_in_flight(r.st, 160);
    /* The heap holds the budget plus a fixed overhead, not the corpus:
     * ICU, Hyperscan, the merge that ends the run (its steps are bounded;
     * measured: 44, 57 and 59 MB peaks on 40, 80 and 160 MB of text), and
     * the allocator, which takes memory in 2 MiB pages (about 40 MB more:
     * 82, 94 and 99 MB; MALLOC_CONF=thp:never gives it back).  Twice the
     * text, 80 MB more than the limit itself, adds a few MB at most. */
    cr_assert(peak1 < 16 * 1024 + 112 * 1024, "peak anonymous RSS %ld kB", peak1);
    cr_assert(peak2 < 16 * 1024 + 112 * 1024, "peak anonymous RSS %ld kB", peak2);
    cr_assert(peak2 < peak1 + 16 * 1024, "peak anonymous RSS %ld kB on 80 MB, %ld kB on 160 MB",
              peak1, peak2);
}

Test(pipeline, memory_limit_holds_on_text_of_many_distinct_words, .timeout = 300)
{
    /* Text whose postings take twice the memory per byte that notices'
     * do: the budget is made good with the batches' real sizes, so what a
     * larger limit adds is about the limit's difference, not a multiple
     * of it.  The allocator's 2 MiB pages are turned off: they add 60 to
     * 90 MB that vary from run to run.  Measured on 20 MB, 2 workers: 87
     * and 178 MB at 32M and 128M; 105 and 258 MB before batches, builders
     * and commit groups were counted by their real sizes. */
    uint64_t rs = tu_seed("pipeline/memory-diverse");
    memrun r = memrun_setup("diverse.jsonl");
    write_corpus(&rs, r.in, 20, 1);
    long small = bounded_run(&r, "32M", 1);
    long large = bounded_run(&r, "128M", 1);
    cr_assert(large - small < 120 * 1024,
              "peak anonymous RSS %ld kB at --memory 32M, %ld kB at 128M: more than the "
              "96 MB between the limits and a quarter",
              small, large);
    cr_assert(large < (128 + 80) * 1024, "peak anonymous RSS %ld kB at --memory 128M", large);
}

/*
 * One document larger than a batch's whole share of the budget (the
 * budget over BATCH_MEM): its batch asks for all it needs once the
 * document is read.  It used to wait for the share it held itself, and
 * the run hung; the timeout turns a hang into a failure.
 */
Test(pipeline, a_document_larger_than_the_memory_limit_allows_is_indexed, .timeout = 120)
{
    memrun r = memrun_setup("huge.jsonl");
    FILE *f = fopen(r.in, "w");
    cr_assert(f != NULL);
    fputs("{\"id\":\"huge\",\"text\":\"", f);
    for (int i = 0; i < 400000; i++)
        fprintf(f, "服务器采购 H100 n%d ", i % 1000);
    fputs("\"}\n{\"id\":\"small\",\"text\":\"小文件 H100\"}\n", f);
    fclose(f);
    const char *T = tu_tenderidx();
    cr_assert(eq(int,
                 sh(NULL, NULL, "'%s' index -q --no-cache -i '%s' -p '%s' --memory 16M '%s'", T,
                    r.idx, r.wl, r.in),
                 0));
    char *out = NULL;
    cr_assert(eq(int, sh(&out, NULL, "'%s' query -i '%s' --count 'entity:H100'", T, r.idx), 0));
    cr_assert(eq(str, out, "2\n"));
    free(out);
    cr_assert(eq(int, sh(&out, NULL, "'%s' query -i '%s' --count 'n999 小文件'", T, r.idx), 0));
    cr_assert(eq(str, out, "0\n"));
    free(out);
    check(r.idx);
}

/* ---- the library directly -------------------------------------------------------------- */

/* Index inputs with the library; format: a new index's (0: the current one). */
static int lib_run_opts(const char *idx, const char *wl, const char *const *inputs, size_t n,
                        volatile sig_atomic_t *stop, int format, tdx_run_stats *st, tdx_err *err)
{
    tdx_pipeline_opts o;
    memset(&o, 0, sizeof o);
    o.index_path = idx;
    o.watchlist_path = wl;
    o.inputs = inputs;
    o.ninputs = n;
    o.threads = 2;
    o.batch_bytes = 64 << 10;
    o.cache_dir = "";
    o.stop = stop;
    o.store_format = format;
    return tdx_pipeline_run(&o, st, err);
}

static int lib_run(const char *idx, const char *wl, const char *const *inputs, size_t n,
                   volatile sig_atomic_t *stop, tdx_run_stats *st, tdx_err *err)
{
    return lib_run_opts(idx, wl, inputs, n, stop, 0, st, err);
}

/*
 * An index of format 2 (what a tenderidx before format 3 wrote: no
 * checkpoints in its positional blocks) is read, added to and merged as it
 * is: it stays format 2, `check` finds nothing, `stats` says a rebuild would
 * be faster, and its dump and answers are those of a format-4 index of the
 * same notices.
 */
Test(pipeline, a_format_2_index_is_read_and_added_to_as_it_is, .timeout = 120)
{
    tg_make(&C, tu_seed("pipeline/format2"), 602, 600);
    const char *wl = tg_path("watch.tsv");
    const char *a = tg_path("a.jsonl"), *b = tg_path("b.jsonl");
    tg_write_watchlist(&C, wl);
    tg_write_jsonl(&C, a, 0, 600);
    tg_write_jsonl(&C, b, 600, 602); /* a third of a percent: a segment */
    const char *old = tg_path("old"), *ref = tg_path("ref");
    const char *inputs[] = {a};
    tdx_run_stats st;
    tdx_err err = {0};
    cr_assert(eq(int, lib_run_opts(old, wl, inputs, 1, NULL, 2, &st, &err), 0), "%s", err.msg);
    const char *T = tu_tenderidx();
    /* Added to with the command line (a small run: a pending segment),
     * then merged. */
    index_part(old, wl, "", b, "1 postings segments pending");
    char *out = NULL;
    cr_assert(eq(int, sh(&out, NULL, "'%s' stats -i '%s'", T, old), 0));
    cr_assert(strstr(out, "format       2 (") && strstr(out, "rebuild"), "%s", out);
    free(out);
    char *pending = answers(old);
    cr_assert(eq(int, sh(NULL, NULL, "'%s' index -q -i '%s' --merge", T, old), 0));
    cr_assert(eq(int, sh(&out, NULL, "'%s' stats -i '%s' --json", T, old), 0));
    cr_assert(strstr(out, "\"format\":2,") != NULL, "%s", out);
    free(out);
    cr_assert(eq(
        int, sh(NULL, NULL, "'%s' index -q --no-cache -i '%s' -p '%s' '%s' '%s'", T, ref, wl, a, b),
        0));
    cr_assert(eq(int, sh(&out, NULL, "'%s' stats -i '%s'", T, ref), 0));
    cr_assert(strstr(out, "format       4\n") != NULL, "%s", out);
    free(out);
    /* The dumps' first line names the format; the rest is the same. */
    check(old);
    char *d3 = dump(ref), *d2 = dump(old);
    cr_assert(eq(int, strncmp(d3, "format 4\n", 9), 0), "%.40s", d3);
    cr_assert(eq(int, strncmp(d2, "format 2\n", 9), 0), "%.40s", d2);
    same_dump(d3 + 9, d2 + 9, "format 2 added to and merged vs format 4");
    free(d3);
    free(d2);
    char *want = answers(ref), *got = answers(old);
    cr_assert(eq(str, got, want), "answers of format 2 and 4");
    cr_assert(eq(str, pending, want), "answers of format 2 with a pending segment");
    free(want);
    free(got);
    free(pending);
}

Test(pipeline, long_field_names_and_values_are_indexed)
{
    const char *wl = tg_path("watch.tsv");
    const char *in = tg_path("d.jsonl");
    const char *idx = tg_path("idx");
    tu_write_str(wl, "H100\tchip\tH100\n");
    tdx_buf b = TDX_BUF_INIT;
    char name62[63], name64[65];
    memset(name62, 'k', 62);
    name62[62] = 0;
    memset(name64, 'k', 64);
    name64[64] = 0;
    char value[301];
    memset(value, 'v', 300);
    value[300] = 0;
    tdx_buf_printf(&b, "{\"id\":\"1\",\"text\":\"h100\",\"%s\":\"%s\",\"%s\":\"%s\"}\n", name62,
                   value, name64, value);
    write_buf(in, &b);
    const char *inputs[] = {in};
    tdx_run_stats st;
    tdx_err err = {0};
    cr_assert(eq(int, lib_run(idx, wl, inputs, 1, NULL, &st, &err), 0), "%s", err.msg);
    cr_assert(eq(u64, st.added, 1));
    tdx_qctx *q;
    cr_assert(eq(int, tdx_qctx_open(idx, &q, &err), 0), "%s", err.msg);
    tdx_query *query;
    char text[512];
    snprintf(text, sizeof text, "%s:%s", name62, value);
    cr_assert(eq(int, tdx_query_parse(q, text, &query, NULL, &err), 0), "%s", err.msg);
    tdx_docset d = {0};
    cr_assert(eq(int, tdx_query_run(q, query, 0, &d, NULL, &err), 0), "%s", err.msg);
    cr_assert(eq(sz, d.n, 1), "a 300-byte value is found by its first 200 bytes");
    tdx_docset_free(&d);
    tdx_query_free(query);
    tdx_qctx_close(q);
}

Test(pipeline, errors_name_their_cause)
{
    const char *wl = tg_path("watch.tsv");
    const char *badwl = tg_path("bad.tsv");
    const char *otherwl = tg_path("other.tsv");
    const char *in = tg_path("d.jsonl");
    const char *idx = tg_path("idx");
    tu_write_str(wl, "H100\tchip\tH100\n");
    tu_write_str(badwl, "H100\tchip\t/h(00/\n");
    tu_write_str(otherwl, "A100\tchip\tA100\n");
    tu_write_str(in, "{\"id\":\"1\",\"text\":\"h100 a100\"}\n");
    const char *inputs[] = {in};
    tdx_run_stats st;
    tdx_err err = {0};
    cr_expect(eq(int, lib_run(NULL, wl, inputs, 1, NULL, &st, &err), TDX_EINVAL));
    memset(&err, 0, sizeof err);
    cr_expect(eq(int, lib_run(idx, badwl, inputs, 1, NULL, &st, &err), TDX_EPATTERN));
    cr_expect(strstr(err.msg, "bad.tsv:1:") != NULL, "%s", err.msg);
    memset(&err, 0, sizeof err);
    cr_expect(ne(int, lib_run(idx, tu_path("nosuch.tsv"), inputs, 1, NULL, &st, &err), 0));
    cr_expect(strstr(err.msg, "nosuch.tsv") != NULL, "%s", err.msg);
    memset(&err, 0, sizeof err);
    cr_assert(eq(int, lib_run(idx, wl, inputs, 1, NULL, &st, &err), 0), "%s", err.msg);
    /* An existing index keeps its watch list and profile. */
    memset(&err, 0, sizeof err);
    cr_expect(eq(int, lib_run(idx, otherwl, inputs, 1, NULL, &st, &err), TDX_EFORMAT));
    char *out = NULL, *e2 = NULL;
    cr_expect(eq(int,
                 sh(&out, &e2, "'%s' index -q --no-cache --no-grams -i '%s' -p '%s' '%s'",
                    tu_tenderidx(), idx, wl, in),
                 3));
    cr_expect(strstr(e2, "--no-grams") != NULL, "%s", e2);
    free(out);
    free(e2);
    cr_expect(eq(int, sh(NULL, &e2, "'%s' index -i '%s' '%s'", tu_tenderidx(), idx, in), 2));
    free(e2);
    check(idx);
}

Test(pipeline, an_entity_only_index_says_when_a_query_reads_every_text)
{
    const char *wl, *in, *idx = tg_path("idx");
    one_file_corpus("pipeline/no-grams", 30, 300, &wl, &in);
    const char *T = tu_tenderidx();
    cr_assert(eq(
        int,
        sh(NULL, NULL, "'%s' index -q --no-cache --no-grams -i '%s' -p '%s' '%s'", T, idx, wl, in),
        0));
    char *out = NULL, *err = NULL;
    cr_assert(
        eq(int, sh(&out, &err, "'%s' query -i '%s' --count 'entity:H100 OR gpu'", T, idx), 0));
    cr_expect(strstr(err, "entity-only") != NULL, "%s", err);
    free(out);
    free(err);
    cr_assert(eq(int, sh(&out, &err, "'%s' query -i '%s' --count 'entity:H100'", T, idx), 0));
    cr_expect(eq(str, err, ""));
    free(out);
    free(err);
}

Test(pipeline, a_stop_requested_before_the_run_commits_nothing_new)
{
    const char *wl, *in, *idx = tg_path("idx");
    one_file_corpus("pipeline/stop", 50, 300, &wl, &in);
    const char *inputs[] = {in};
    volatile sig_atomic_t stop = 1;
    tdx_run_stats st;
    tdx_err err = {0};
    cr_assert(eq(int, lib_run(idx, wl, inputs, 1, &stop, &st, &err), 0), "%s", err.msg);
    cr_assert(eq(int, st.interrupted, 1));
    cr_assert(eq(u64, st.added, 0));
    check(idx);
    stop = 0;
    cr_assert(eq(int, lib_run(idx, wl, inputs, 1, &stop, &st, &err), 0), "%s", err.msg);
    cr_assert(eq(int, st.interrupted, 0));
    cr_assert(eq(u64, st.added, 50));
    check(idx);
}

/* ---- the CLI's machine-readable outputs -------------------------------------------- */

/* A small JSON reader: enough to check that output parses and to pick values. */
typedef struct jv {
    int t; /* 'o' object, 'a' array, 's' string, 'n' number, 'b' true/false, '0' null */
    char *s;
    double num;
    struct jv *kid;
    char **key;
    size_t n;
} jv;

static void jv_free(jv *v)
{
    for (size_t i = 0; i < v->n; i++) {
        jv_free(&v->kid[i]);
        if (v->key)
            free(v->key[i]);
    }
    free(v->kid);
    free(v->key);
    free(v->s);
}

static const char *ws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
        p++;
    return p;
}

static const char *jparse(const char *p, jv *v);

static const char *jstring(const char *p, char **out)
{
    tdx_buf b = TDX_BUF_INIT;
    if (*p != '"')
        return NULL;
    for (p++; *p && *p != '"'; p++) {
        if ((unsigned char)*p < 0x20)
            goto bad;
        if (*p != '\\') {
            tdx_buf_putc(&b, (uint8_t)*p);
            continue;
        }
        p++;
        const char *esc = strchr("\"\\/bfnrt", *p);
        if (esc && *p) {
            static const char rep[] = "\"\\/\b\f\n\r\t";
            tdx_buf_putc(&b, (uint8_t)rep[esc - "\"\\/bfnrt"]);
        } else if (*p == 'u') {
            unsigned cp;
            if (sscanf(p + 1, "%4x", &cp) != 1)
                goto bad;
            p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && p[1] == '\\' && p[2] == 'u') {
                unsigned lo;
                if (sscanf(p + 3, "%4x", &lo) != 1)
                    goto bad;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            }
            uint8_t u[4];
            tdx_buf_append(&b, u, tdx_utf8_encode(u, cp));
        } else {
            goto bad;
        }
    }
    if (*p != '"')
        goto bad;
    *out = tg_strdup(b.p ? (const char *)b.p : "");
    tdx_buf_free(&b);
    return p + 1;
bad:
    tdx_buf_free(&b);
    return NULL;
}

static const char *jparse(const char *p, jv *v)
{
    memset(v, 0, sizeof *v);
    p = ws(p);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        v->t = *p == '{' ? 'o' : 'a';
        p = ws(p + 1);
        if (*p == close)
            return p + 1;
        for (;;) {
            v->kid = realloc(v->kid, (v->n + 1) * sizeof *v->kid);
            v->key = realloc(v->key, (v->n + 1) * sizeof *v->key);
            v->key[v->n] = NULL;
            memset(&v->kid[v->n], 0, sizeof *v->kid);
            if (v->t == 'o') {
                p = jstring(ws(p), &v->key[v->n]);
                if (p == NULL || *(p = ws(p)) != ':')
                    return (v->n++, NULL);
                p++;
            }
            p = jparse(p, &v->kid[v->n++]);
            if (p == NULL)
                return NULL;
            p = ws(p);
            if (*p == ',') {
                p++;
                continue;
            }
            return *p == close ? p + 1 : NULL;
        }
    }
    if (*p == '"') {
        v->t = 's';
        return jstring(p, &v->s);
    }
    if (strncmp(p, "true", 4) == 0 || strncmp(p, "false", 5) == 0) {
        v->t = 'b';
        v->num = *p == 't';
        return p + (*p == 't' ? 4 : 5);
    }
    if (strncmp(p, "null", 4) == 0) {
        v->t = '0';
        return p + 4;
    }
    char *e;
    v->t = 'n';
    v->num = strtod(p, &e);
    return e == p ? NULL : e;
}

/* Parse exactly one JSON value from s (trailing white space allowed). */
static void jparse_all(const char *s, jv *v)
{
    const char *e = jparse(s, v);
    cr_assert(e != NULL && *ws(e) == 0, "not one JSON value: %.300s", s);
}

static const jv *jget(const jv *o, const char *key)
{
    for (size_t i = 0; o->t == 'o' && i < o->n; i++)
        if (strcmp(o->key[i], key) == 0)
            return &o->kid[i];
    cr_assert(0, "no member '%s'", key);
    return NULL;
}

/* RFC 4180: CRLF-terminated records of fields; quoted fields may hold commas,
 * quotes and line breaks. */
typedef struct csv {
    char **f;
    size_t *nf; /* fields per record */
    size_t nrec, nfields;
} csv;

static void csv_parse(const char *s, csv *c)
{
    memset(c, 0, sizeof *c);
    tdx_buf b = TDX_BUF_INIT;
    size_t start = 0;
    const char *p = s;
    while (*p) {
        tdx_buf_reset(&b);
        if (*p == '"') {
            for (p++;; p++) {
                cr_assert(p[0] != 0, "unterminated quoted CSV field");
                if (*p == '"' && p[1] == '"')
                    tdx_buf_putc(&b, (uint8_t)*p++);
                else if (*p == '"')
                    break;
                else
                    tdx_buf_putc(&b, (uint8_t)*p);
            }
            p++;
        } else {
            while (*p && *p != ',' && *p != '\r' && *p != '\n') {
                cr_assert(p[0] != '"', "quote inside an unquoted CSV field");
                tdx_buf_putc(&b, (uint8_t)*p++);
            }
        }
        c->f = realloc(c->f, (c->nfields + 1) * sizeof *c->f);
        c->f[c->nfields++] = tg_strdup(b.p ? (const char *)b.p : "");
        if (*p == ',') {
            p++;
            continue;
        }
        cr_assert(p[0] == 0 || (p[0] == '\r' && p[1] == '\n'),
                  "CSV field followed by '%c' (records end with CRLF)", *p);
        p += *p ? 2 : 0;
        c->nf = realloc(c->nf, (c->nrec + 1) * sizeof *c->nf);
        c->nf[c->nrec++] = c->nfields - start;
        start = c->nfields;
    }
    tdx_buf_free(&b);
}

static void csv_free(csv *c)
{
    for (size_t i = 0; i < c->nfields; i++)
        free(c->f[i]);
    free(c->f);
    free(c->nf);
}

static void library_answer(tdx_qctx *q, const char *text, tdx_docset *out)
{
    tdx_query *query;
    tdx_err err = {0};
    cr_assert(eq(int, tdx_query_parse(q, text, &query, NULL, &err), 0), "%s", err.msg);
    cr_assert(eq(int, tdx_query_run(q, query, 0, out, NULL, &err), 0), "%s", err.msg);
    tdx_query_free(query);
}

static size_t lines_of(char *s, char ***out)
{
    size_t n = 0;
    *out = NULL;
    for (char *save = NULL, *l = strtok_r(s, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        *out = realloc(*out, (n + 1) * sizeof **out);
        (*out)[n++] = l;
    }
    return n;
}

Test(pipeline, cli_outputs_parse_and_agree_with_the_library, .timeout = 120)
{
    const char *wl, *in, *idx = tg_path("idx");
    one_file_corpus("pipeline/cli", 300, 400, &wl, &in);
    const char *T = tu_tenderidx();
    cr_assert(eq(
        int, sh(NULL, NULL, "'%s' index -q --no-cache -i '%s' -p '%s' '%s'", T, idx, wl, in), 0));
    tdx_qctx *q;
    tdx_err err = {0};
    cr_assert(eq(int, tdx_qctx_open(idx, &q, &err), 0), "%s", err.msg);

    /* stats --json */
    char *out = NULL;
    cr_assert(eq(int, sh(&out, NULL, "'%s' stats -i '%s' --json", T, idx), 0));
    jv v;
    jparse_all(out, &v);
    uint64_t hits = 0;
    tdx_qhit *h = NULL;
    size_t nh, caph = 0;
    for (uint32_t id = 1; id <= C.ndocs; id++)
        if (tdx_qctx_hits(q, id, &h, &nh, &caph, &err) == 0)
            hits += nh;
    cr_assert(eq(dbl, jget(&v, "documents")->num, (double)C.ndocs));
    cr_assert(eq(dbl, jget(&v, "patterns")->num, (double)C.npats));
    cr_assert(eq(dbl, jget(&v, "entities")->num, (double)tdx_qctx_nentities(q)));
    cr_assert(eq(dbl, jget(&v, "categories")->num, (double)tdx_qctx_ncategories(q)));
    cr_assert(eq(dbl, jget(&v, "hits")->num, (double)hits));
    cr_assert(eq(dbl, jget(&v, "rejects")->num, 0));
    cr_assert(eq(str, jget(&v, "profile")->s, "full"));
    cr_assert(jget(&v, "trigrams")->t == 'b' && jget(&v, "trigrams")->num == 1);
    cr_assert(jget(&v, "bytes")->num > 0 && jget(&v, "index_bytes")->num > 0);
    jv_free(&v);
    free(out);

    static const char *const queries[] = {"entity:深圳大学 OR /h[18]00/", "cat:chip NOT gpu",
                                          "NEAR(entity:NVIDIA, cat:chip, 20) OR 数据中心"};
    for (size_t k = 0; k < sizeof queries / sizeof *queries; k++) {
        const char *qt = queries[k];
        tdx_docset want = {0};
        library_answer(q, qt, &want);
        cr_assert(want.n > 0, "[%s] finds something", qt);
        char **lines;
        /* --json: one object per document, in doc order. */
        cr_assert(
            eq(int, sh(&out, NULL, "'%s' query -i '%s' --json --limit 0 '%s'", T, idx, qt), 0));
        size_t nl = lines_of(out, &lines);
        cr_assert(eq(sz, nl, want.n), "[%s] --json lines", qt);
        for (size_t i = 0; i < nl; i++) {
            jparse_all(lines[i], &v);
            uint32_t id = (uint32_t)jget(&v, "doc")->num;
            cr_assert(eq(u32, id, want.v[i]), "[%s] row %zu", qt, i);
            tdx_qdoc d;
            cr_assert(eq(int, tdx_qctx_doc(q, id, &d, &err), 0));
            cr_assert(eq(int, strncmp(jget(&v, "id")->s, d.key, d.key_len), 0));
            cr_assert(eq(sz, strlen(jget(&v, "title")->s), d.title_len));
            cr_assert(eq(int, memcmp(jget(&v, "title")->s, d.title, d.title_len), 0));
            cr_assert(eq(sz, strlen(jget(&v, "url")->s), d.url_len));
            cr_assert(eq(sz, strlen(jget(&v, "date")->s), d.date_len));
            const jv *ents = jget(&v, "entities");
            if (tdx_qctx_hits(q, id, &h, &nh, &caph, &err) != 0)
                nh = 0;
            cr_assert(eq(sz, ents->n, nh), "[%s] doc %u hits", qt, id);
            for (size_t e = 0; e < nh; e++) {
                const jv *o = &ents->kid[e];
                cr_assert(
                    eq(str, jget(o, "entity")->s, (char *)tdx_qctx_entity_name(q, h[e].entity)));
                cr_assert(eq(str, jget(o, "category")->s,
                             (char *)tdx_qctx_category_name(q, h[e].category)));
                cr_assert(
                    eq(str, jget(o, "pattern")->s, (char *)tdx_qctx_pattern_text(q, h[e].pattern)));
                cr_assert(eq(dbl, jget(o, "start")->num, h[e].ostart));
                cr_assert(eq(dbl, jget(o, "end")->num, h[e].oend));
            }
            jv_free(&v);
        }
        free(lines);
        free(out);
        /* --csv: a header, then one record of 6 fields per document. */
        cr_assert(
            eq(int, sh(&out, NULL, "'%s' query -i '%s' --csv --limit 0 '%s'", T, idx, qt), 0));
        csv c;
        csv_parse(out, &c);
        cr_assert(eq(sz, c.nrec, want.n + 1), "[%s] --csv records", qt);
        cr_assert(eq(str, c.f[0], "id"));
        cr_assert(eq(str, c.f[1], "doc"));
        for (size_t r = 0; r < c.nrec; r++)
            cr_assert(eq(sz, c.nf[r], 6), "[%s] --csv record %zu has %zu fields", qt, r, c.nf[r]);
        for (size_t r = 1; r < c.nrec; r++)
            cr_assert(eq(u32, (uint32_t)strtoul(c.f[6 * r + 1], NULL, 10), want.v[r - 1]));
        csv_free(&c);
        free(out);
        /* --count, and --limit only shortens the list. */
        cr_assert(eq(int, sh(&out, NULL, "'%s' query -i '%s' --count '%s'", T, idx, qt), 0));
        cr_assert(eq(u64, strtoull(out, NULL, 10), want.n), "[%s] --count", qt);
        free(out);
        cr_assert(
            eq(int, sh(&out, NULL, "'%s' query -i '%s' --json --limit 2 '%s'", T, idx, qt), 0));
        nl = lines_of(out, &lines);
        cr_assert(eq(sz, nl, want.n < 2 ? want.n : 2));
        free(lines);
        free(out);
        /* --facet, as JSON and CSV, equals tdx_query_facet. */
        static const char *const bys[] = {"entity", "month", "buyer"};
        for (size_t b = 0; b < 3; b++) {
            tdx_facet *f;
            size_t nf;
            cr_assert(eq(int, tdx_query_facet(q, &want, bys[b], &f, &nf, &err), 0));
            cr_assert(
                eq(int,
                   sh(&out, NULL, "'%s' query -i '%s' --json --facet %s '%s'", T, idx, bys[b], qt),
                   0));
            jparse_all(out, &v);
            cr_assert(eq(str, jget(&v, "facet")->s, (char *)bys[b]));
            const jv *counts = jget(&v, "counts");
            cr_assert(eq(sz, counts->n, nf), "[%s] --facet %s", qt, bys[b]);
            for (size_t i = 0; i < nf; i++) {
                cr_assert(eq(str, counts->key[i], f[i].value));
                cr_assert(eq(dbl, counts->kid[i].num, (double)f[i].count));
            }
            jv_free(&v);
            free(out);
            cr_assert(eq(
                int, sh(&out, NULL, "'%s' query -i '%s' --csv --facet %s '%s'", T, idx, bys[b], qt),
                0));
            csv_parse(out, &c);
            cr_assert(eq(sz, c.nrec, nf + 1));
            for (size_t i = 0; i < nf; i++) {
                cr_assert(eq(str, c.f[3 * (i + 1)], (char *)bys[b]));
                cr_assert(eq(str, c.f[3 * (i + 1) + 1], f[i].value));
                cr_assert(eq(u64, strtoull(c.f[3 * (i + 1) + 2], NULL, 10), f[i].count));
            }
            csv_free(&c);
            free(out);
            tdx_facets_free(f, nf);
        }
        tdx_docset_free(&want);
    }
    /* Options after the query are options, not query text; after "--"
     * a word starting with '-' is query text. */
    {
        char *o1 = NULL, *o2 = NULL, *o3 = NULL;
        const char *qt = "entity:H100 OR gpu";
        cr_assert(eq(int, sh(&o1, NULL, "'%s' query -i '%s' --count '%s'", T, idx, qt), 0));
        cr_assert(eq(int, sh(&o2, NULL, "'%s' query -i '%s' '%s' --count", T, idx, qt), 0));
        cr_assert(eq(str, o1, o2));
        cr_assert(strtoull(o1, NULL, 10) > 0, "%s", o1);
        cr_assert(eq(int, sh(&o3, NULL, "'%s' query -i '%s' --count -- gpu -x", T, idx), 0));
        free(o1);
        free(o2);
        free(o3);
    }
    /* A syntax error: exit 2, the query with a caret under the column. */
    char *e = NULL;
    cr_assert(eq(int, sh(NULL, &e, "'%s' query -i '%s' '深圳 AND (gpu'", T, idx), 2));
    cr_assert(strstr(e, "expected ')'") != NULL, "%s", e);
    cr_assert(strstr(e, "\n  深圳 AND (gpu\n               ^\n") != NULL, "%s", e);
    free(e);
    tdx_free(h);
    tdx_qctx_close(q);
}

Test(pipeline, the_map_grows_while_the_reader_looks_up_many_inputs, .timeout = 120)
{
    /* The reader looks each input file up in the index (a read transaction
     * in its thread) while the writer grows the map: a run over many files
     * into a map that starts at 1 MB gives the index a run with room gives. */
    const char *wl, *in, *dir = tg_path("files");
    one_file_corpus("pipeline/map-grow-corpus", 600, 400, &wl, &in);
    cr_assert(eq(int,
                 sh(NULL, NULL,
                    "mkdir -p '%s' && cd '%s' && split -l 2 -a 4 '%s' n_ && "
                    "for f in n_*; do mv \"$f\" \"$f.jsonl\"; done",
                    dir, dir, in),
                 0));
    const char *inputs[] = {dir};
    tdx_run_stats st;
    tdx_err err = {0};
    cr_assert(eq(int, lib_run(tg_path("ref"), wl, inputs, 1, NULL, &st, &err), 0), "%s", err.msg);
    cr_assert(eq(u64, st.added, 600));
    setenv("TENDERIDX_MAP_SIZE", "1048576", 1);
    int rc = lib_run(tg_path("idx"), wl, inputs, 1, NULL, &st, &err);
    unsetenv("TENDERIDX_MAP_SIZE");
    cr_assert(eq(int, rc, 0), "%s", err.msg);
    check(tg_path("idx"));
    char *want = dump(tg_path("ref")), *got = dump(tg_path("idx"));
    same_dump(want, got, "grown map");
    free(want);
    free(got);
}

/* How many allocations a run makes: the first count that lets it succeed. */
static long run_allocations(const char *wl, const char *const *inputs, const char *what)
{
    tdx_run_stats st;
    tdx_err err = {0};
    long lo = 0, hi = 1 << 20;
    while (lo < hi) {
        long mid = (lo + hi) / 2;
        char scratch[96];
        snprintf(scratch, sizeof scratch, "%s%ld", what, mid);
        tdx_alloc_fail_after(mid);
        int rc = lib_run(tg_path(scratch), wl, inputs, 1, NULL, &st, &err);
        tdx_alloc_fail_after(-1);
        memset(&err, 0, sizeof err);
        if (rc == 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* Index inputs into a fresh idx with allocation n refused: the run stops
 * with the error, leaks nothing and leaves a valid index, which the same
 * run then completes into the reference dump want.  How many allocations a
 * run makes varies a little with timing (a batch the writer has given back
 * is reused, or the reader makes a new one), so a run that happened to need
 * no more than n must succeed.  1 when an allocation was refused. */
static int refuse_then_complete(const char *idx, const char *wl, const char *const *inputs, long n,
                                const char *want, uint64_t seed)
{
    tdx_run_stats st;
    tdx_err err = {0};
    cr_assert(eq(int, sh(NULL, NULL, "rm -rf '%s'", idx), 0));
    size_t before = tg_live_bytes();
    tdx_alloc_fail_after(n);
    int rc = lib_run(idx, wl, inputs, 1, NULL, &st, &err);
    long refused = tdx_alloc_refused();
    tdx_alloc_fail_after(-1);
    if (refused == 0) {
        cr_assert(eq(int, rc, 0), "seed %llu: no allocation refused, yet %d %s",
                  (unsigned long long)seed, rc, err.msg);
        return 0;
    }
    cr_assert(eq(int, rc, TDX_ENOMEM), "seed %llu: allocation %ld: %d %s", (unsigned long long)seed,
              n, rc, err.msg);
    cr_assert(err.msg[0] != 0);
    cr_assert(eq(sz, tg_live_bytes(), before), "seed %llu: allocation %ld leaks",
              (unsigned long long)seed, n);
    struct stat sb;
    if (stat(idx, &sb) == 0)
        check(idx);
    cr_assert(eq(int, lib_run(idx, wl, inputs, 1, NULL, &st, &err), 0), "%s", err.msg);
    check(idx);
    char *got = dump(idx);
    char what[96];
    snprintf(what, sizeof what, "seed %llu: a run stopped at allocation %ld, then completed",
             (unsigned long long)seed, n);
    same_dump(want, got, what);
    free(got);
    return 1;
}

/* A corpus in one file (*in, with its watch list *wl) and the dump of an
 * index of it made without faults; the run also warms up what ICU and LMDB
 * keep for the process. */
static char *reference_dump(const char *what, size_t ndocs, const char **wl, const char **in)
{
    one_file_corpus(what, ndocs, 400, wl, in);
    const char *inputs[] = {*in}, *ref = tg_path("ref");
    tdx_run_stats st;
    tdx_err err = {0};
    cr_assert(eq(int, lib_run(ref, *wl, inputs, 1, NULL, &st, &err), 0), "%s", err.msg);
    return dump(ref);
}

Test(pipeline, out_of_memory_anywhere_stops_every_thread_and_leaves_a_valid_index, .timeout = 300)
{
    uint64_t seed = tu_seed("pipeline/oom");
    uint64_t rs = seed;
    const char *wl, *in;
    char *want = reference_dump("pipeline/oom-corpus", 800, &wl, &in);
    const char *inputs[] = {in};
    long lo = run_allocations(wl, inputs, "count");
    cr_assert(gt(long, lo, 100), "a run makes %ld allocations", lo);
    /* Fail at seeded points of a fresh index's run; most points must fault. */
    int faulted = 0;
    for (int k = 0; k < 8; k++)
        faulted += refuse_then_complete(tg_path("idx"), wl, inputs,
                                        (long)tg_below(&rs, (uint32_t)lo), want, seed);
    cr_assert(ge(int, faulted, 5), "seed %llu: only %d of 8 runs met a refused allocation",
              (unsigned long long)seed, faulted);
    free(want);
}

Test(pipeline, out_of_memory_in_setup_stops_the_reader_that_started_before_it, .timeout = 300)
{
    /* The reader starts once the watch list is loaded, and reads while the
     * watch list is compiled and the workers are made: a failure there
     * must stop it and free what it made. */
    uint64_t seed = tu_seed("pipeline/oom-setup");
    uint64_t rs = seed;
    const char *wl, *in;
    char *want = reference_dump("pipeline/oom-setup-corpus", 400, &wl, &in);
    const char *inputs[] = {in};
    /* A run without documents makes setup's allocations and little more. */
    const char *empty = tg_path("empty.jsonl");
    tu_write_str(empty, "");
    const char *none[] = {empty};
    long setup = run_allocations(wl, none, "setup");
    cr_assert(gt(long, setup, 50), "setup makes %ld allocations", setup);
    /* Points spread over setup (one in each of 16 slices, seeded), on the
     * run with documents: every one of them is refused. */
    int faulted = 0;
    for (long k = 0; k < 16; k++) {
        long n = setup * k / 16 + (long)tg_below(&rs, (uint32_t)(setup / 16));
        faulted += refuse_then_complete(tg_path("idx"), wl, inputs, n, want, seed);
    }
    cr_assert(eq(int, faulted, 16), "seed %llu: %d of 16 setup points refused",
              (unsigned long long)seed, faulted);
    free(want);
}
