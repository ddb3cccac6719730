/*
 * peer_fts5.c - SQLite FTS5 with the trigram tokenizer, the peer of
 * tenderidx for index builds and substring queries.
 *
 * Where it sits: scripts/bench.sh runs it on the normalized text that
 * bench_extract wrote from the benchmark corpus (the same documents
 * tenderidx indexes, in the same order), then on the query set bench_query
 * drew, so both engines answer the same queries over the same documents.
 *
 * Schema: f(text) USING fts5(tokenize='trigram') holds each document's
 * normalized text (rowid = position in the file, from 1); docs(id, key,
 * date) holds the record, for the date facet.  SQLite gets its fastest
 * bulk settings (no journal, no fsync, 256 MiB page cache, one
 * transaction per --build); tenderidx commits durably.
 *
 *   peer_fts5 --db FILE --build TEXT META   append documents; FTS5BUILD line
 *   peer_fts5 --db FILE --optimize          merge all b-trees; FTS5OPT line
 *   peer_fts5 --db FILE --queries FILE      the query set's SQL forms
 *            [--runs R] [--budget S] [--lat FILE]
 *
 * Queries: the same method as bench_query (one warm-up pass, --runs timed
 * passes, p50/p95/p99 per class and pass, median over passes).  A class
 * gets at most --budget seconds of warm-up (default 30): queries after
 * that are left out and the count run is printed; a query running longer
 * than the budget is interrupted and counted as taking the budget.  --lat
 * writes each query's median latency and answer size (class, index in the
 * set, ms, count), the same form as bench_query's, so bench.sh compares the
 * engines query by query on the queries both ran.
 *
 * Output lines on stdout:
 *   FTS5BUILD docs= bytes= seconds=
 *   FTS5OPT seconds= db_bytes=
 *   QUERY engine=fts5 class=C queries=K of=N runs=R p50_ms= ... checksum=
 */
#include "benchutil.h"

#include <errno.h>
#include <sqlite3.h>
#include <sys/stat.h>

static void die(sqlite3 *db, const char *what)
{
    fprintf(stderr, "peer_fts5: %s: %s\n", what, db ? sqlite3_errmsg(db) : strerror(errno));
    exit(3);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL) {
        fprintf(stderr, "peer_fts5: out of memory\n");
        exit(3);
    }
    return q;
}

static void exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "peer_fts5: %s: %s\n", sql, msg ? msg : "failed");
        exit(3);
    }
}

static void build(sqlite3 *db, const char *text_path, const char *meta_path)
{
    FILE *tf = fopen(text_path, "r");
    FILE *mf = fopen(meta_path, "r");
    if (tf == NULL || mf == NULL)
        die(NULL, tf == NULL ? text_path : meta_path);
    double t0 = bu_now();
    exec(db, "CREATE VIRTUAL TABLE IF NOT EXISTS f USING fts5(text, tokenize='trigram');"
             "CREATE TABLE IF NOT EXISTS docs(id INTEGER PRIMARY KEY, key TEXT, date TEXT);"
             "BEGIN");
    sqlite3_stmt *next, *ins_f, *ins_d;
    if (sqlite3_prepare_v2(db, "SELECT coalesce(max(id), 0) FROM docs", -1, &next, NULL) ||
        sqlite3_prepare_v2(db, "INSERT INTO f(rowid, text) VALUES (?, ?)", -1, &ins_f, NULL) ||
        sqlite3_prepare_v2(db, "INSERT INTO docs(id, key, date) VALUES (?, ?, ?)", -1, &ins_d,
                           NULL))
        die(db, "prepare");
    sqlite3_int64 id = 0;
    if (sqlite3_step(next) == SQLITE_ROW)
        id = sqlite3_column_int64(next, 0);
    sqlite3_finalize(next);
    char *line = NULL, *meta = NULL;
    size_t cap = 0, mcap = 0;
    ssize_t n;
    uint64_t docs = 0, bytes = 0;
    while ((n = getline(&line, &cap, tf)) >= 0) {
        if (n > 0 && line[n - 1] == '\n')
            line[--n] = 0;
        ssize_t mn = getline(&meta, &mcap, mf);
        const char *key = "", *date = "";
        if (mn > 0) {
            if (meta[mn - 1] == '\n')
                meta[--mn] = 0;
            char *tab = strchr(meta, '\t');
            key = meta;
            if (tab) {
                *tab = 0;
                date = tab + 1;
            }
        }
        id++;
        sqlite3_bind_int64(ins_f, 1, id);
        sqlite3_bind_text(ins_f, 2, line, (int)n, SQLITE_STATIC);
        sqlite3_bind_int64(ins_d, 1, id);
        sqlite3_bind_text(ins_d, 2, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(ins_d, 3, date, -1, SQLITE_STATIC);
        if (sqlite3_step(ins_f) != SQLITE_DONE || sqlite3_step(ins_d) != SQLITE_DONE)
            die(db, "insert");
        sqlite3_reset(ins_f);
        sqlite3_reset(ins_d);
        docs++;
        bytes += (uint64_t)n;
    }
    sqlite3_finalize(ins_f);
    sqlite3_finalize(ins_d);
    exec(db, "COMMIT");
    free(line);
    free(meta);
    fclose(tf);
    fclose(mf);
    printf("FTS5BUILD docs=%llu bytes=%llu seconds=%.3f\n", (unsigned long long)docs,
           (unsigned long long)bytes, bu_now() - t0);
    fflush(stdout);
}

/* ---- queries ---- */

enum { NCLASS = BU_NCLASS };

typedef struct fq {
    int cls;
    char *sql;
    int run;    /* left in after the warm-up budget */
    double *ms; /* per timed pass */
    uint64_t count;
} fq;

static double deadline;

static int progress(void *ctx)
{
    return bu_now() > deadline;
}

/* Run one query; its answer size (rows, or the value of count(*)). */
/* The rowids (or the count) of the last run_sql, kept in memory like
 * tenderidx's answer, so both sides are timed to the same point. */
static struct {
    uint64_t *v;
    size_t n, cap;
} answer;

static void answer_sum(uint64_t *sum)
{
    for (size_t i = 0; i < answer.n; i++)
        *sum = bu_mix(*sum, answer.v[i]);
}

static uint64_t run_sql(sqlite3 *db, const fq *q, double budget, uint64_t *sum, int *timed_out)
{
    sqlite3_stmt *st;
    deadline = bu_now() + budget;
    if (sqlite3_prepare_v2(db, q->sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "peer_fts5: %s\n", q->sql);
        die(db, "prepare");
    }
    uint64_t rows = 0, value = 0;
    int rc;
    answer.n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        rows++;
        sqlite3_int64 v = sqlite3_column_int64(st, sqlite3_column_count(st) - 1);
        value = (uint64_t)v;
        if (answer.n == answer.cap) {
            answer.cap = answer.cap ? answer.cap * 2 : 4096;
            answer.v = xrealloc(answer.v, answer.cap * sizeof *answer.v);
        }
        answer.v[answer.n++] = value;
    }
    (void)sum; /* checksummed by the caller (answer_sum), outside the timing */
    *timed_out = rc == SQLITE_INTERRUPT;
    if (rc != SQLITE_DONE && rc != SQLITE_INTERRUPT) {
        fprintf(stderr, "peer_fts5: %s\n", q->sql);
        die(db, "step");
    }
    sqlite3_finalize(st);
    return strncmp(q->sql, "SELECT count(*)", 15) == 0 ? value : rows;
}

static void queries(sqlite3 *db, const char *path, int runs, double budget, const char *lat_path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        die(NULL, path);
    fq *v = NULL;
    size_t n = 0, cap = 0, total[NCLASS] = {0};
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        char *c[4];
        if (!bu_split_line(line, len, c, 4))
            continue;
        int cls = bu_class_of(c[0]);
        if (cls < 0) {
            fprintf(stderr, "peer_fts5: %s: unknown class '%s'\n", path, c[0]);
            exit(2);
        }
        if (n == cap) {
            cap = cap ? 2 * cap : 256;
            v = xrealloc(v, cap * sizeof *v);
        }
        total[cls]++;
        v[n] = (fq){cls, strdup(c[3] ? c[3] : ""), 0, xrealloc(NULL, (size_t)runs * sizeof(double)),
                    0};
        if (v[n].sql == NULL)
            die(NULL, "strdup");
        n++;
    }
    free(line);
    fclose(f);
    sqlite3_progress_handler(db, 10000, progress, NULL);

    /* Warm-up, within the budget per class. */
    double spent[NCLASS] = {0};
    size_t kept[NCLASS] = {0}, timeouts[NCLASS] = {0};
    uint64_t warm = BU_FNV_INIT;
    double warm_budget = budget / (runs + 1);
    for (size_t i = 0; i < n; i++) {
        fq *q = &v[i];
        if (q->sql[0] == 0 || spent[q->cls] >= warm_budget)
            continue;
        int to = 0;
        double t0 = bu_now();
        q->count = run_sql(db, q, budget, &warm, &to);
        spent[q->cls] += bu_now() - t0;
        answer_sum(&warm);
        q->run = 1;
        kept[q->cls]++;
        timeouts[q->cls] += (size_t)to;
    }
    uint64_t sum[NCLASS];
    for (int c = 0; c < NCLASS; c++)
        sum[c] = BU_FNV_INIT;
    double *pc[NCLASS][BU_NSTAT];
    for (int c = 0; c < NCLASS; c++)
        for (int k = 0; k < BU_NSTAT; k++)
            pc[c][k] = xrealloc(NULL, (size_t)runs * sizeof(double));
    double *lat = xrealloc(NULL, (n + 1) * sizeof *lat);
    for (int run = 0; run < runs; run++) {
        for (size_t i = 0; i < n; i++) {
            if (!v[i].run)
                continue;
            int to = 0;
            double t0 = bu_now();
            run_sql(db, &v[i], budget, &sum[v[i].cls], &to);
            v[i].ms[run] = (bu_now() - t0) * 1e3;
            answer_sum(&sum[v[i].cls]);
        }
        for (int c = 0; c < NCLASS; c++) {
            size_t m = 0;
            for (size_t i = 0; i < n; i++)
                if (v[i].run && v[i].cls == c) {
                    lat[m++] = v[i].ms[run];
                }
            bu_summarize(lat, m, pc[c], run);
        }
    }
    if (lat_path) {
        FILE *lf = fopen(lat_path, "w");
        if (lf == NULL)
            die(NULL, lat_path);
        for (size_t i = 0; i < n; i++)
            if (v[i].run)
                fprintf(lf, "%s\t%zu\t%.4f\t%llu\n", bu_class_name(v[i].cls), i,
                        bu_median(v[i].ms, (size_t)runs), (unsigned long long)v[i].count);
        fclose(lf);
    }
    fprintf(stderr, "\n%-9s %11s %9s %9s %9s %9s %9s\n", "class", "queries", "p50 ms", "p95 ms",
            "p99 ms", "max ms", "mean ms");
    for (int c = 0; c < NCLASS; c++) {
        if (total[c] == 0)
            continue;
        uint64_t results = 0;
        for (size_t i = 0; i < n; i++)
            if (v[i].run && v[i].cls == c)
                results += v[i].count;
        double med[BU_NSTAT];
        for (int k = 0; k < BU_NSTAT; k++)
            med[k] = kept[c] ? bu_median(pc[c][k], (size_t)runs) : 0;
        fprintf(stderr, "%-9s %5zu/%-5zu %9.3f %9.3f %9.3f %9.3f %9.3f%s\n", bu_class_name(c),
                kept[c], total[c], med[0], med[1], med[2], med[3], med[4],
                timeouts[c] ? "  (some interrupted)" : "");
        printf("QUERY engine=fts5 class=%s queries=%zu of=%zu runs=%d p50_ms=%.4f p95_ms=%.4f "
               "p99_ms=%.4f max_ms=%.4f mean_ms=%.4f p99_best_ms=%.4f results=%llu "
               "timeouts=%zu checksum=%016llx\n",
               bu_class_name(c), kept[c], total[c], runs, med[0], med[1], med[2], med[3], med[4],
               kept[c] ? bu_min(pc[c][2], (size_t)runs) : 0, (unsigned long long)results,
               timeouts[c], (unsigned long long)sum[c]);
    }
    for (int c = 0; c < NCLASS; c++)
        for (int k = 0; k < BU_NSTAT; k++)
            free(pc[c][k]);
    for (size_t i = 0; i < n; i++) {
        free(v[i].sql);
        free(v[i].ms);
    }
    free(v);
    free(lat);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: peer_fts5 --db FILE [--build TEXT META] [--optimize]\n"
               "                 [--queries FILE [--runs R] [--budget S] [--lat FILE]]\n");
}

int main(int argc, char **argv)
{
    const char *dbpath = NULL, *text = NULL, *meta = NULL, *qpath = NULL, *lat = NULL;
    int optimize = 0, runs = 3;
    double budget = 30;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(a, "--db") == 0 && has) {
            dbpath = argv[++i];
        } else if (strcmp(a, "--build") == 0 && i + 2 < argc) {
            text = argv[++i];
            meta = argv[++i];
        } else if (strcmp(a, "--optimize") == 0) {
            optimize = 1;
        } else if (strcmp(a, "--queries") == 0 && has) {
            qpath = argv[++i];
        } else if (strcmp(a, "--runs") == 0 && has) {
            runs = atoi(argv[++i]);
        } else if (strcmp(a, "--budget") == 0 && has) {
            budget = atof(argv[++i]);
        } else if (strcmp(a, "--lat") == 0 && has) {
            lat = argv[++i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (dbpath == NULL || runs < 1 || budget <= 0) {
        usage(stderr);
        return 2;
    }
    sqlite3 *db;
    if (sqlite3_open(dbpath, &db) != SQLITE_OK)
        die(db, dbpath);
    exec(db, "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-262144;"
             "PRAGMA temp_store=MEMORY; PRAGMA locking_mode=EXCLUSIVE");
    if (text)
        build(db, text, meta);
    if (optimize) {
        double t0 = bu_now();
        exec(db, "INSERT INTO f(f) VALUES ('optimize')");
        struct stat st;
        printf("FTS5OPT seconds=%.3f db_bytes=%lld\n", bu_now() - t0,
               stat(dbpath, &st) == 0 ? (long long)st.st_size : -1LL);
        fflush(stdout);
    }
    if (qpath)
        queries(db, qpath, runs, budget, lat);
    sqlite3_close(db);
    return 0;
}
