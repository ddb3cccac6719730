/*
 * cmd_index.c - `tenderidx index`: run the indexing pipeline and report.
 */
#include "cli.h"

#include "../common/alloc.h"
#include "../pipeline/pipeline.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_flag;

static void on_sigint(int sig)
{
    (void)sig;
    if (stop_flag) /* second Ctrl-C: leave now; the index stays valid at its last commit */
        _exit(130);
    stop_flag = 1;
}

static void help(void)
{
    printf(
        "usage: tenderidx index -i INDEX -p WATCHLIST [OPTIONS] INPUT...\n"
        "       tenderidx index -i INDEX --merge\n\n"
        "Read documents from INPUTs (files, directories walked recursively, '-' for\n"
        "stdin, archives), normalize them, find every watch-list name and add them to\n"
        "INDEX (created if missing).  Running the same command again adds nothing;\n"
        "after an interruption (Ctrl-C, kill, crash) it resumes where the last commit\n"
        "stopped.  New inputs are appended to an existing index.\n\n"
        "Inputs:\n"
        "  JSON Lines (.jsonl)  one notice per line: id, title, date, url, text; other\n"
        "                       scalar fields are kept as metadata (field:value queries)\n"
        "  HTML (.html, .htm)   visible text, <title> as title\n"
        "  text (.txt, other)   one document per file, key = path\n"
        "  UTF-8, GB18030/GBK/GB2312, Big5/Big5-HKSCS; tar, zip, 7z, gz, bz2, xz, zst\n\n"
        "Options:\n"
        "  -i, --index DIR        the index (an LMDB directory)\n"
        "  -p, --watchlist FILE   watch list (TSV: entity, category, pattern[, flags]);\n"
        "                         an existing index must be given the same list\n"
        "  -j, --threads N        worker threads (default: one per core but one, which\n"
        "                         the reader and the writer share)\n"
        "      --memory SIZE      bound on data in flight, e.g. 256M, 2G (default 512M)\n"
        "      --normalize LIST   new index only: steps nfkc_cf,t2s,space | all | none\n"
        "      --no-grams         new index only: entity-only profile (no substring\n"
        "                         search; smaller and faster)\n"
        "      --replace          re-index documents whose key exists with new content\n"
        "      --format F         jsonl | html | text (default: by name and content)\n"
        "      --encoding E       input encoding (default: BOM, <meta charset>, detection)\n"
        "      --field MAP        JSON field names, e.g. text=content,id=notice_id,\n"
        "                         date=publish_time,title=name\n"
        "      --max-doc-bytes N  reject documents larger than N (default 64M)\n"
        "      --rejects FILE     write every rejected record as a JSON line to FILE\n"
        "      --stats-json FILE  write the run's figures (per stage) as JSON to FILE\n"
        "      --progress MODE    auto (a live line on a terminal), json (one object\n"
        "                         per line on stderr: files, bytes_read, total_bytes,\n"
        "                         docs_read, docs_added, rejects, merge_done,\n"
        "                         merge_total), none\n"
        "  -q, --quiet            no progress, no per-reject lines (summary only)\n"
        "      --cache-dir DIR    where compiled watch lists and normalizer tables are\n"
        "                         kept (default $TENDERIDX_CACHE_DIR, else\n"
        "                         $XDG_CACHE_HOME/tenderidx, else ~/.cache/tenderidx;\n"
        "                         'tenderidx cache' lists and prunes it)\n"
        "      --no-cache         compile the watch list and build the tables every time\n"
        "      --merge            fold new postings into the main tree now, however few\n"
        "      --no-merge         leave new postings as segments (faster run)\n"
        "  -h, --help             show this help\n\n"
        "New postings are written as segments and folded into the main postings at\n"
        "the end of the run.  Folding rewrites the whole tree, so a run that adds\n"
        "less than a sixteenth of the index leaves its segments pending: queries read\n"
        "them, and a later run folds them in once they add up (or over 64 of them).\n"
        "A merge shows its own progress line; Ctrl-C stops it between two of its\n"
        "steps, and the next run finishes it first.\n"
        "With --merge and no input, the pending segments are folded in and nothing\n"
        "is read (no watch list needed).\n\n"
        "Output: one summary line on stdout: documents added, bytes, hits, rejects,\n"
        "duplicates, seconds.  Rejected input is reported on stderr as\n"
        "  tenderidx index: rejected FILE:LINE (byte OFFSET): REASON\n\n"
        "Exit codes: 0 all input indexed; 1 partial (some input rejected, or the run\n"
        "was interrupted: run it again to resume); 2 usage error; 3 fatal error (the\n"
        "index stays valid at its last commit).\n\n"
        "Example:\n"
        "  tenderidx index -i tenders.tdx -p watchlist.tsv archive/2023/ notices.jsonl.gz\n");
}

typedef struct ctx {
    FILE *rejects;
    int quiet;
    int progress; /* 0 none, 1 tty line, 2 json */
    int line_shown;
    double last_shown;
    uint64_t merge_total; /* of the merge being shown, and when it began */
    double merge_t0;
} ctx;

static void on_reject(void *arg, const tdx_reject *r)
{
    ctx *c = arg;
    if (!c->quiet) {
        if (c->line_shown) {
            fputs("\r\033[K", stderr);
            c->line_shown = 0;
        }
        const char *what = r->kept ? "warning: repaired" : "rejected";
        if (r->line)
            fprintf(stderr, "tenderidx index: %s %s:%" PRIu64 " (byte %" PRIu64 "): %s\n", what,
                    r->source, r->line, r->offset, r->reason);
        else
            fprintf(stderr, "tenderidx index: %s %s (byte %" PRIu64 "): %s\n", what, r->source,
                    r->offset, r->reason);
    }
    if (c->rejects) {
        fputs("{\"source\":", c->rejects);
        cli_json_str(c->rejects, r->source, strlen(r->source));
        fprintf(c->rejects,
                ",\"line\":%" PRIu64 ",\"offset\":%" PRIu64 ",\"kept\":%s,\"reason\":",
                r->line, r->offset, r->kept ? "true" : "false");
        cli_json_str(c->rejects, r->reason, strlen(r->reason));
        fputs("}\n", c->rejects);
    }
}

static void fmt_dur(char *out, size_t cap, double s)
{
    unsigned long t = (unsigned long)(s + 0.5);
    snprintf(out, cap, "%lu:%02lu:%02lu", t / 3600, (t / 60) % 60, t % 60);
}

static void on_progress(void *arg, const tdx_progress *p)
{
    ctx *c = arg;
    if (c->progress == 2) {
        fprintf(stderr,
                "{\"elapsed\":%.2f,\"files\":%" PRIu64 ",\"bytes_read\":%" PRIu64
                ",\"total_bytes\":%" PRIu64 ",\"docs_read\":%" PRIu64 ",\"docs_added\":%" PRIu64
                ",\"rejects\":%" PRIu64 ",\"merge_done\":%" PRIu64 ",\"merge_total\":%" PRIu64
                ",\"final\":%s}\n",
                p->elapsed_s, p->files, p->bytes_read, p->total_bytes, p->docs_read, p->docs_added,
                p->rejects, p->merge_done, p->merge_total, p->final ? "true" : "false");
        return;
    }
    if (c->progress != 1)
        return;
    /* A terminal line: five updates a second are plenty. */
    if (!p->final && c->line_shown && p->elapsed_s - c->last_shown < 0.2)
        return;
    c->last_shown = p->elapsed_s;
    if (p->final) {
        if (c->line_shown)
            fputs("\r\033[K", stderr);
        c->line_shown = 0;
        return;
    }
    if (p->merge_total && p->merge_done < p->merge_total) {
        /* Folding postings segments in: its own line, with its own ETA. */
        if (c->merge_total != p->merge_total) {
            c->merge_total = p->merge_total;
            c->merge_t0 = p->elapsed_s;
        }
        double f = (double)p->merge_done / (double)p->merge_total,
               took = p->elapsed_s - c->merge_t0;
        char el[32], r[32] = "";
        fmt_dur(el, sizeof el, p->elapsed_s);
        if (f > 0.02)
            fmt_dur(r, sizeof r, took * (1 - f) / f);
        fprintf(stderr, "\r\033[K  merging postings (%s)  %.0f%%  %s%s%s",
                cli_bytes(p->merge_total), 100 * f, el, r[0] ? "  ETA " : "", r);
        c->line_shown = 1;
        return;
    }
    double mbs = p->elapsed_s > 0 ? (double)p->bytes_read / 1e6 / p->elapsed_s : 0;
    char el[32], eta[48] = "";
    fmt_dur(el, sizeof el, p->elapsed_s);
    if (p->total_bytes && p->bytes_read && p->bytes_read <= p->total_bytes) {
        double rest = p->elapsed_s * (double)(p->total_bytes - p->bytes_read) /
                      (double)p->bytes_read;
        char r[32];
        fmt_dur(r, sizeof r, rest);
        snprintf(eta, sizeof eta, "  %.0f%%  ETA %s",
                 100.0 * (double)p->bytes_read / (double)p->total_bytes, r);
    }
    fprintf(stderr, "\r\033[K  %s files  %s docs  %s read  %.1f MB/s  %s rejected  %s%s",
            cli_num(p->files), cli_num(p->docs_read), cli_bytes(p->bytes_read), mbs,
            cli_num(p->rejects), el, eta);
    c->line_shown = 1;
}

static void write_stats_json(FILE *f, const tdx_run_stats *s)
{
    double mb = (double)s->bytes_read / 1e6;
    fprintf(f,
            "{\"docs_read\":%" PRIu64 ",\"added\":%" PRIu64 ",\"existing\":%" PRIu64
            ",\"duplicates\":%" PRIu64 ",\"changed\":%" PRIu64 ",\"replaced\":%" PRIu64
            ",\"rejects\":%" PRIu64 ",\"warnings\":%" PRIu64 ",\"invalid_utf8\":%" PRIu64 ",\"dates_unparsed\":%" PRIu64
            ",\"skipped_files\":%" PRIu64 ",\"skipped_records\":%" PRIu64
            ",\"bytes_read\":%" PRIu64 ",\"bytes_added\":%" PRIu64 ",\"hits\":%" PRIu64
            ",\"batches\":%" PRIu64 ",\"threads\":%d,\"seconds\":%.4f,\"mb_per_s\":%.2f"
            ",\"docs_per_s\":%.1f,\"peak_rss\":%zu,\"peak_inflight\":%zu,\"patterns\":%zu"
            ",\"entities\":%zu,\"compile_ms\":%.2f,\"compile_from_cache\":%s,"
            "\"normalizer_from_cache\":%s,\"interrupted\":%s,\"segments_pending\":%zu,\"stages\":{\"read\":%.4f,\"normalize\":%.4f,\"match\":%.4f,"
            "\"terms\":%.4f,\"compress\":%.4f,\"write\":%.4f,\"merge\":%.4f}}\n",
            s->docs_read, s->added, s->existing, s->duplicates, s->changed, s->replaced,
            s->rejects, s->warnings, s->invalid, s->dates_unparsed, s->skipped_files, s->skipped_records,
            s->bytes_read, s->bytes, s->hits, s->batches, s->threads, s->seconds,
            s->seconds > 0 ? mb / s->seconds : 0,
            s->seconds > 0 ? (double)s->docs_read / s->seconds : 0, s->peak_rss,
            s->peak_inflight, s->npatterns, s->nentities, s->compile_ms,
            s->from_cache ? "true" : "false", s->norm_from_cache ? "true" : "false",
            s->interrupted ? "true" : "false",
            s->segments_left, s->stages.read, s->stages.normalize, s->stages.match, s->stages.terms,
            s->stages.compress, s->stages.write, s->stages.merge);
}

static int write_stats_file(const char *path, const tdx_run_stats *st)
{
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (f == NULL) {
        cli_error("index", "cannot write '%s': %s", path, strerror(errno));
        return TDX_EXIT_FATAL;
    }
    write_stats_json(f, st);
    if (f != stdout)
        fclose(f);
    return TDX_EXIT_OK;
}

/* `index -i INDEX --merge` without inputs: fold the pending segments in. */
static int merge_alone(const tdx_pipeline_opts *po, const char *stats_path)
{
    tdx_run_stats st;
    tdx_err err = {0};
    int rc = tdx_pipeline_merge(po, &st, &err);
    if (rc)
        return cli_fail("index", rc, &err);
    if (st.segments_merged || st.interrupted)
        printf("merged %s postings segments into the main postings in %.2f s",
               cli_num(st.segments_merged), st.seconds);
    else
        printf("nothing to merge: no postings segments pending in '%s'", po->index_path);
    if (st.segments_left)
        printf(", %s postings segments pending", cli_num(st.segments_left));
    putchar('\n');
    int status = TDX_EXIT_OK;
    if (st.interrupted) {
        fprintf(stderr, "tenderidx index: interrupted; the merge resumes with the next run or "
                        "--merge.\n");
        status = TDX_EXIT_PARTIAL;
    }
    if (stats_path && write_stats_file(stats_path, &st))
        return TDX_EXIT_FATAL;
    return status;
}

int cmd_index(int argc, char **argv)
{
    enum {
        O_NORMALIZE = 256, O_NO_GRAMS, O_MEMORY, O_REPLACE, O_FORMAT, O_ENCODING, O_FIELD,
        O_MAXDOC, O_REJECTS, O_STATS, O_PROGRESS, O_CACHE, O_NOCACHE, O_NOMERGE, O_MERGE, O_BATCH,
    };
    static const struct option opts[] = {
        {"index", required_argument, NULL, 'i'},
        {"watchlist", required_argument, NULL, 'p'},
        {"threads", required_argument, NULL, 'j'},
        {"memory", required_argument, NULL, O_MEMORY},
        {"normalize", required_argument, NULL, O_NORMALIZE},
        {"no-grams", no_argument, NULL, O_NO_GRAMS},
        {"replace", no_argument, NULL, O_REPLACE},
        {"format", required_argument, NULL, O_FORMAT},
        {"encoding", required_argument, NULL, O_ENCODING},
        {"field", required_argument, NULL, O_FIELD},
        {"max-doc-bytes", required_argument, NULL, O_MAXDOC},
        {"rejects", required_argument, NULL, O_REJECTS},
        {"stats-json", required_argument, NULL, O_STATS},
        {"progress", required_argument, NULL, O_PROGRESS},
        {"quiet", no_argument, NULL, 'q'},
        {"cache-dir", required_argument, NULL, O_CACHE},
        {"no-cache", no_argument, NULL, O_NOCACHE},
        {"no-merge", no_argument, NULL, O_NOMERGE},
        {"merge", no_argument, NULL, O_MERGE},
        {"batch", required_argument, NULL, O_BATCH},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    tdx_pipeline_opts po;
    memset(&po, 0, sizeof po);
    ctx c = {NULL, 0, -1, 0, 0, 0, 0};
    const char *rejects_path = NULL, *stats_path = NULL;
    int opt;
    uint64_t u;
    size_t sz;
    while ((opt = getopt_long(argc, argv, "i:p:j:qh", opts, NULL)) != -1) {
        switch (opt) {
        case 'i':
            po.index_path = optarg;
            break;
        case 'p':
            po.watchlist_path = optarg;
            break;
        case 'j':
            if (cli_parse_uint(optarg, 256, &u) || u == 0)
                return cli_usage_error("index", "--threads wants a number from 1 to 256, not '%s'",
                                       optarg);
            po.threads = (int)u;
            break;
        case O_MEMORY:
            if (cli_parse_size(optarg, &sz) || sz < ((size_t)16 << 20))
                return cli_usage_error("index", "--memory wants a size of at least 16M, not '%s'",
                                       optarg);
            po.memory_limit = sz;
            break;
        case O_BATCH:
            if (cli_parse_size(optarg, &sz) || sz == 0)
                return cli_usage_error("index", "--batch wants a size, not '%s'", optarg);
            po.batch_bytes = sz;
            break;
        case O_NORMALIZE:
            po.normalize = optarg;
            break;
        case O_NO_GRAMS:
            po.no_grams = 1;
            break;
        case O_REPLACE:
            po.replace = 1;
            break;
        case O_FORMAT:
            po.reader.format = optarg;
            break;
        case O_ENCODING:
            po.reader.encoding = optarg;
            break;
        case O_FIELD:
            po.reader.fields = optarg;
            break;
        case O_MAXDOC:
            if (cli_parse_size(optarg, &sz) || sz == 0)
                return cli_usage_error("index", "--max-doc-bytes wants a size, not '%s'", optarg);
            po.reader.max_doc_bytes = sz;
            break;
        case O_REJECTS:
            rejects_path = optarg;
            break;
        case O_STATS:
            stats_path = optarg;
            break;
        case O_PROGRESS:
            if (strcmp(optarg, "auto") == 0)
                c.progress = -1;
            else if (strcmp(optarg, "json") == 0)
                c.progress = 2;
            else if (strcmp(optarg, "none") == 0)
                c.progress = 0;
            else
                return cli_usage_error("index", "--progress wants auto, json or none, not '%s'",
                                       optarg);
            break;
        case 'q':
            c.quiet = 1;
            break;
        case O_CACHE:
            po.cache_dir = optarg;
            break;
        case O_NOCACHE:
            po.cache_dir = "";
            break;
        case O_MERGE:
            po.merge = 1;
            break;
        case O_NOMERGE:
            po.no_merge = 1;
            break;
        case 'h':
            help();
            return TDX_EXIT_OK;
        default:
            return cli_usage_error("index", "invalid option");
        }
    }
    if (po.index_path == NULL)
        return cli_usage_error("index", "no index given (-i INDEX)");
    int merge_only = po.merge && optind == argc;
    if (merge_only && po.no_merge)
        return cli_usage_error("index", "--merge and --no-merge contradict each other");
    if (po.watchlist_path == NULL && !merge_only)
        return cli_usage_error("index", "no watch list given (-p WATCHLIST)");
    if (optind == argc && !merge_only)
        return cli_usage_error("index", "no input given (files, directories or '-')");
    if (c.progress == -1)
        c.progress = (!c.quiet && isatty(STDERR_FILENO)) ? 1 : 0;
    if (c.quiet && c.progress == 1)
        c.progress = 0;
    if (rejects_path) {
        c.rejects = fopen(rejects_path, "w");
        if (c.rejects == NULL) {
            cli_error("index", "cannot write '%s': %s", rejects_path, strerror(errno));
            return TDX_EXIT_FATAL;
        }
    }
    po.inputs = (const char *const *)(argv + optind);
    po.ninputs = (size_t)(argc - optind);
    po.reader.on_reject = on_reject;
    po.reader.ctx = &c;
    po.on_progress = on_progress;
    po.ctx = &c;
    po.stop = &stop_flag;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    tdx_run_stats st;
    tdx_err err = {0};
    if (merge_only)
        return merge_alone(&po, stats_path);
    int rc = tdx_pipeline_run(&po, &st, &err);
    int status = TDX_EXIT_OK;
    if (c.rejects && fclose(c.rejects) != 0) {
        cli_error("index", "cannot write '%s': %s", rejects_path, strerror(errno));
        status = TDX_EXIT_FATAL;
    }
    if (rc) {
        cli_error("index", "%s", err.msg[0] ? err.msg : tdx_strerror(rc));
        if (st.committed)
            fprintf(stderr, "tenderidx index: %s documents were committed before the error; "
                            "the index is valid\n", cli_num(st.committed));
        return TDX_EXIT_FATAL;
    }
    double mbs = st.seconds > 0 ? (double)st.bytes_read / 1e6 / st.seconds : 0;
    printf("indexed %s documents (%s) in %.2f s, %.1f MB/s: %s hits, %s rejected, "
           "%s duplicates, %s already indexed",
           cli_num(st.added), cli_bytes(st.bytes), st.seconds, mbs, cli_num(st.hits),
           cli_num(st.rejects), cli_num(st.duplicates), cli_num(st.existing));
    if (st.changed)
        printf(", %s changed but kept (use --replace)", cli_num(st.changed));
    if (st.warnings)
        printf(", %s repaired (invalid bytes replaced)", cli_num(st.warnings));
    if (st.replaced)
        printf(", %s replaced", cli_num(st.replaced));
    if (st.skipped_files)
        printf(", %s files skipped (already indexed)", cli_num(st.skipped_files));
    if (st.segments_left)
        printf(", %s postings segments pending", cli_num(st.segments_left));
    putchar('\n');
    if (st.docs_read == 0 && st.skipped_files && st.added == 0 && !c.quiet)
        fprintf(stderr, "tenderidx index: nothing new: every input is already in '%s'\n",
                po.index_path);
    if (st.interrupted) {
        fprintf(stderr, "tenderidx index: interrupted; everything read so far is committed. "
                        "Run the same command again to resume.\n");
        status = TDX_EXIT_PARTIAL;
    }
    if (st.rejects && status == TDX_EXIT_OK)
        status = TDX_EXIT_PARTIAL;
    if (stats_path && write_stats_file(stats_path, &st))
        return TDX_EXIT_FATAL;
    return status;
}
