/*
 * cmd_cache.c - `tenderidx cache [list]` and `tenderidx cache prune`: what
 * the cache directory holds (common/cachefile.h), and removing what runs
 * no longer use.
 */
#include "cli.h"

#include "../common/alloc.h"
#include "../common/cachefile.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define DAY_S        (24 * 3600)
#define MAX_DAYS     36500 /* a hundred years; more is a typo */
#define DEFAULT_DAYS "30"

static void help(void)
{
    printf("usage: tenderidx cache [list] [--cache-dir DIR] [--json]\n"
           "       tenderidx cache prune [--cache-dir DIR] [--older-than DAYS | --all]\n"
           "                             [--dry-run] [-q]\n\n"
           "Show what tenderidx keeps in its cache directory, and remove what is no\n"
           "longer used.  The cache holds only what tenderidx can always make again,\n"
           "to save time:\n"
           "  watch list  match-KEY.hsdb: a compiled watch list (10,000 names take\n"
           "              1-2 s to compile)\n"
           "  normalizer  norm-KEY.tab: the normalizer's tables (0.1 s to build)\n"
           "  partial     .cache-XXXXXX: a file being written, or one whose writer was\n"
           "              killed before it could finish\n"
           "KEY is a hash of everything the file was made from, so a new watch list,\n"
           "ICU or tenderidx writes a new file and never reads an old one; the old\n"
           "ones stay until they are pruned.  Removing any of them, or the whole\n"
           "directory, is always safe: the next run that needs a file makes it again.\n\n"
           "A file's time is when it was last written or used: every run that loads\n"
           "it sets it to now.  Only files tenderidx wrote are listed or removed (known\n"
           "by name and first bytes); anything else in the directory is left alone.\n\n"
           "list (the default) prints the directory, one line per file (kind, size,\n"
           "last used in local time, name; the most recently used first) and the\n"
           "total.\n\n"
           "prune removes watch lists and normalizer tables not used for more than\n"
           "DAYS days, and partial files older than an hour (a younger one may be\n"
           "a running command's); --all removes every file tenderidx wrote.  It\n"
           "prints one line per file removed, then a summary such as\n"
           "  removed 3 files (12.4 MB), kept 2 (2.3 MB)\n\n"
           "Options:\n"
           "      --cache-dir DIR    the cache directory (default $TENDERIDX_CACHE_DIR,\n"
           "                         else $XDG_CACHE_HOME/tenderidx, else\n"
           "                         ~/.cache/tenderidx; empty: caching is off)\n"
           "      --json             list: one JSON object per file and line instead of\n"
           "                         a table: name, kind (watchlist, normalizer,\n"
           "                         partial), bytes, last_used (ISO 8601, UTC)\n"
           "      --older-than DAYS  prune: files not used for more than DAYS days\n"
           "                         (a whole number, default " DEFAULT_DAYS ")\n"
           "      --all              prune: every file tenderidx wrote, however recent\n"
           "      --dry-run          prune: say what would be removed, remove nothing\n"
           "  -q, --quiet            prune: no line per file (summary and errors only)\n"
           "  -h, --help             show this help\n\n"
           "Examples:\n"
           "  tenderidx cache\n"
           "  tenderidx cache prune --older-than 7\n"
           "  tenderidx cache prune --all --dry-run\n"
           "  tenderidx cache --json | jq -r 'select(.kind == \"watchlist\") | .name'\n\n"
           "Exit codes: 0 ok (also when caching is off or nothing is cached); 1 some\n"
           "files could not be removed (each is named on stderr); 2 usage error; 3 the\n"
           "directory cannot be read.\n");
}

/* Why tdx_cache_dir gave "" (caching is off), for the message saying so. */
static const char *off_reason(const char *opt)
{
    const char *too_long = "the directory's path is too long", *env;
    if (opt)
        return opt[0] ? too_long : "--cache-dir is empty";
    if ((env = getenv("TENDERIDX_CACHE_DIR")) != NULL)
        return env[0] ? too_long : "TENDERIDX_CACHE_DIR is set and empty";
    if (((env = getenv("XDG_CACHE_HOME")) != NULL && env[0]) ||
        ((env = getenv("HOME")) != NULL && env[0]))
        return too_long;
    return "neither TENDERIDX_CACHE_DIR, XDG_CACHE_HOME nor HOME is set";
}

/* The kind as the table shows it (json 0) or as --json writes it. */
static const char *kind_name(tdx_cache_kind k, int json)
{
    switch (k) {
    case TDX_CACHE_WATCHLIST:
        return json ? "watchlist" : "watch list";
    case TDX_CACHE_NORMALIZER:
        return "normalizer";
    case TDX_CACHE_PARTIAL:
        break;
    }
    return "partial";
}

/* "YYYY-MM-DD HH:MM" in local time, or ISO 8601 UTC ("...T...Z"). */
static void fmt_time(int64_t t, int utc, char *out, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if ((utc ? gmtime_r(&tt, &tm) : localtime_r(&tt, &tm)) == NULL ||
        strftime(out, cap, utc ? "%Y-%m-%dT%H:%M:%SZ" : "%Y-%m-%d %H:%M", &tm) == 0)
        snprintf(out, cap, "?");
}

/* Most recently used first; the name settles ties, so the order is stable. */
static int by_use(const void *a, const void *b)
{
    const tdx_cache_entry *x = a, *y = b;
    if (x->mtime_s != y->mtime_s)
        return x->mtime_s > y->mtime_s ? -1 : 1;
    return strcmp(x->name, y->name);
}

static int list(const char *dir, int json)
{
    tdx_cache_entry *e;
    size_t n;
    tdx_err err = {0};
    int rc = tdx_cache_list(dir, &e, &n, &err);
    if (rc)
        return cli_fail("cache", rc, &err);
    if (n > 1)
        qsort(e, n, sizeof *e, by_use);
    char when[64];
    if (json) {
        for (size_t i = 0; i < n; i++) {
            fputs("{\"name\":", stdout);
            cli_json_str(stdout, e[i].name, strlen(e[i].name));
            fmt_time(e[i].mtime_s, 1, when, sizeof when);
            printf(",\"kind\":\"%s\",\"bytes\":%" PRIu64 ",\"last_used\":\"%s\"}\n",
                   kind_name(e[i].kind, 1), e[i].bytes, when);
        }
        tdx_free(e);
        return TDX_EXIT_OK;
    }
    struct stat st;
    printf("cache directory  %s%s\n", dir,
           n == 0 && stat(dir, &st) != 0 && errno == ENOENT ? " (not made yet)" : "");
    if (n == 0) {
        printf("no cache files\n");
        return TDX_EXIT_OK;
    }
    uint64_t total = 0;
    int wsize = (int)strlen("size");
    for (size_t i = 0; i < n; i++) {
        int w = (int)strlen(cli_bytes(e[i].bytes));
        wsize = w > wsize ? w : wsize;
        total += e[i].bytes;
    }
    int w = (int)strlen(cli_bytes(total));
    wsize = w > wsize ? w : wsize;
    printf("\n%-10s  %*s  %-16s  %s\n", "kind", wsize, "size", "last used", "name");
    for (size_t i = 0; i < n; i++) {
        fmt_time(e[i].mtime_s, 0, when, sizeof when);
        printf("%-10s  %*s  %-16s  %s\n", kind_name(e[i].kind, 0), wsize, cli_bytes(e[i].bytes),
               when, e[i].name);
    }
    printf("%-10s  %*s  %-16s  %zu file%s\n", "total", wsize, cli_bytes(total), "", n,
           n == 1 ? "" : "s");
    tdx_free(e);
    return TDX_EXIT_OK;
}

typedef struct prune_ctx {
    const char *dir;
    int quiet, dry_run;
} prune_ctx;

static void on_file(void *arg, const tdx_cache_entry *e, int errnum)
{
    const prune_ctx *c = arg;
    if (errnum) {
        cli_error("cache", "cannot remove '%s/%s': %s", c->dir, e->name, strerror(errnum));
        return;
    }
    if (c->quiet)
        return;
    char when[64];
    fmt_time(e->mtime_s, 0, when, sizeof when);
    printf("%s %s (%s, %s, last used %s)\n", c->dry_run ? "would remove" : "removed", e->name,
           kind_name(e->kind, 0), cli_bytes(e->bytes), when);
}

static int prune(const char *dir, uint64_t days, int all, int dry_run, int quiet)
{
    prune_ctx c = {dir, quiet, dry_run};
    unsigned flags = (all ? TDX_CACHE_PRUNE_ALL : 0) | (dry_run ? TDX_CACHE_PRUNE_DRY_RUN : 0);
    tdx_cache_prune_result r;
    tdx_err err = {0};
    int rc = tdx_cache_prune(dir, days * DAY_S, flags, on_file, &c, &r, &err);
    if (rc)
        return cli_fail("cache", rc, &err);
    printf("%s %zu file%s (%s), %s %zu (%s)", dry_run ? "would remove" : "removed", r.removed,
           r.removed == 1 ? "" : "s", cli_bytes(r.removed_bytes), dry_run ? "keep" : "kept", r.kept,
           cli_bytes(r.kept_bytes));
    if (r.failed)
        printf(", %zu could not be removed (%s)", r.failed, cli_bytes(r.failed_bytes));
    putchar('\n');
    return r.failed ? TDX_EXIT_PARTIAL : TDX_EXIT_OK;
}

int cmd_cache(int argc, char **argv)
{
    enum { O_DIR = 256, O_JSON, O_OLDER, O_ALL, O_DRY };
    static const struct option opts[] = {
        {"cache-dir", required_argument, NULL, O_DIR},
        {"json", no_argument, NULL, O_JSON},
        {"older-than", required_argument, NULL, O_OLDER},
        {"all", no_argument, NULL, O_ALL},
        {"dry-run", no_argument, NULL, O_DRY},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *opt_dir = NULL, *older = NULL, *prune_opt = NULL;
    int json = 0, all = 0, dry_run = 0, quiet = 0, c;
    while ((c = getopt_long(argc, argv, "qh", opts, NULL)) != -1) {
        switch (c) {
        case O_DIR:
            opt_dir = optarg;
            break;
        case O_JSON:
            json = 1;
            break;
        case O_OLDER:
            older = optarg;
            prune_opt = "--older-than";
            break;
        case O_ALL:
            all = 1;
            prune_opt = "--all";
            break;
        case O_DRY:
            dry_run = 1;
            prune_opt = "--dry-run";
            break;
        case 'q':
            quiet = 1;
            prune_opt = "--quiet";
            break;
        case 'h':
            help();
            return TDX_EXIT_OK;
        default:
            return cli_usage_error("cache", "invalid option");
        }
    }
    int is_prune = 0;
    if (optind < argc) {
        if (strcmp(argv[optind], "prune") == 0)
            is_prune = 1;
        else if (strcmp(argv[optind], "list") != 0)
            return cli_usage_error("cache", "unknown subcommand '%s' (try 'list' or 'prune')",
                                   argv[optind]);
        if (optind + 1 < argc)
            return cli_usage_error("cache", "unexpected argument '%s'", argv[optind + 1]);
    }
    /* An option of the other subcommand is a mistake to show, not ignore. */
    if (!is_prune && prune_opt)
        return cli_usage_error("cache", "%s is an option of 'cache prune' only", prune_opt);
    if (is_prune && json)
        return cli_usage_error("cache", "--json is an option of 'cache list' only");
    uint64_t days = 0;
    if (cli_parse_uint(older ? older : DEFAULT_DAYS, MAX_DAYS, &days) != 0)
        return cli_usage_error("cache",
                               "invalid --older-than '%s': want a whole number of days, 0 to %d",
                               older, MAX_DAYS);
    if (all && older)
        return cli_usage_error("cache", "--all and --older-than exclude each other");
    char dir[4096];
    tdx_cache_dir(opt_dir, dir, sizeof dir);
    if (dir[0] == '\0') {
        /* Nothing is cached, so there is nothing to show or remove. */
        fprintf(json ? stderr : stdout, "caching is off (%s): nothing is cached\n",
                off_reason(opt_dir));
        return TDX_EXIT_OK;
    }
    return is_prune ? prune(dir, days, all, dry_run, quiet) : list(dir, json);
}
