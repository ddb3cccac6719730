/*
 * cmd_admin.c - `tenderidx stats`, `dump` and `check`: looking at an index
 * as a whole.
 */
#include "cli.h"

#include "../store/store.h"

#include <getopt.h>
#include <inttypes.h>
#include <string.h>

/* Parse "-i INDEX [--json]" style options shared by the three commands. */
static int parse_common(const char *cmd, int argc, char **argv, const char **index, int *json,
                        void (*help)(void))
{
    static const struct option opts[] = {
        {"index", required_argument, NULL, 'i'},
        {"json", no_argument, NULL, 'J'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "i:h", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            *index = optarg;
            break;
        case 'J':
            if (json == NULL)
                return cli_usage_error(cmd, "--json is not an option of '%s'", cmd);
            *json = 1;
            break;
        case 'h':
            help();
            return -1;
        default:
            return cli_usage_error(cmd, "invalid option");
        }
    }
    if (optind != argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
    if (*index == NULL)
        return cli_usage_error(cmd, "no index given (-i INDEX)");
    return 0;
}

static int open_read(const char *cmd, const char *path, tdx_store **s, tdx_rtxn **t)
{
    tdx_err err = {0};
    tdx_store_opts o = {1, 0, 0, 0, 0};
    int rc = tdx_store_open(path, &o, s, &err);
    if (rc == 0) {
        rc = tdx_store_read_begin(*s, t, &err);
        if (rc)
            tdx_store_close(*s);
    }
    return rc ? cli_fail(cmd, rc, &err) : 0;
}

static void stats_help(void)
{
    printf("usage: tenderidx stats -i INDEX [--json]\n\n"
           "Counts and sizes of an index: documents, text bytes, watch-list patterns,\n"
           "entities and categories, hits, duplicates, rejects, index size on disk, the\n"
           "normalizer and the profile it was built with.\n\n"
           "Options:\n"
           "  -i, --index DIR  the index\n"
           "      --json       one JSON object instead of a table\n"
           "  -h, --help       show this help\n\n"
           "Exit codes: 0 ok, 2 usage error, 3 the index cannot be read.\n");
}

int cmd_stats(int argc, char **argv)
{
    const char *index = NULL;
    int json = 0;
    int rc = parse_common("stats", argc, argv, &index, &json, stats_help);
    if (rc)
        return rc < 0 ? TDX_EXIT_OK : rc;
    tdx_store *s;
    tdx_rtxn *t;
    if ((rc = open_read("stats", index, &s, &t)) != 0)
        return rc;
    tdx_store_info in;
    tdx_err err = {0};
    rc = tdx_store_get_info(t, &in, &err);
    tdx_store_read_end(t);
    tdx_store_close(s);
    if (rc)
        return cli_fail("stats", rc, &err);
    double ratio = in.bytes ? (double)in.file_bytes / (double)in.bytes : 0;
    if (json) {
        printf("{\"documents\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"patterns\":%" PRIu64
               ",\"entities\":%" PRIu64 ",\"categories\":%" PRIu64 ",\"hits\":%" PRIu64
               ",\"duplicates\":%" PRIu64 ",\"deleted\":%" PRIu64 ",\"rejects\":%" PRIu64
               ",\"index_bytes\":%" PRIu64 ",\"size_ratio\":%.3f,\"segments\":%" PRIu64
               ",\"merging\":%s,\"deferred\":%" PRIu64
               ",\"profile\":\"%s\",\"trigrams\":%s,\"format\":%u,\"normalizer\":",
               in.docs, in.bytes, in.npatterns, in.nentities, in.ncategories, in.hits,
               in.duplicates, in.deleted, in.rejects, in.file_bytes, ratio, in.segments,
               in.merging ? "true" : "false", in.deferred, in.grams ? "full" : "entity-only",
               in.trigrams ? "true" : "false", in.format);
        cli_json_str(stdout, in.normalizer, strlen(in.normalizer));
        printf(",\"watchlist\":");
        cli_json_str(stdout, in.wl_source, strlen(in.wl_source));
        printf("}\n");
        return TDX_EXIT_OK;
    }
    printf("index        %s\n", index);
    printf("documents    %s\n", cli_num(in.docs));
    printf("text         %s\n", cli_bytes(in.bytes));
    printf("patterns     %s (%s entities, %s categories)\n", cli_num(in.npatterns),
           cli_num(in.nentities), cli_num(in.ncategories));
    printf("hits         %s\n", cli_num(in.hits));
    printf("duplicates   %s\n", cli_num(in.duplicates));
    printf("replaced     %s\n", cli_num(in.deleted));
    printf("rejected     %s\n", cli_num(in.rejects));
    printf("index size   %s (%.2f x text)\n", cli_bytes(in.file_bytes), ratio);
    printf("profile      %s\n", !in.grams     ? "entity-only"
                                : in.trigrams ? "full (gram index: any substring)"
                                              : "full (gram index: any substring; built before "
                                                "Latin and digit trigrams, so such fragments go "
                                                "through the word list: rebuild for speed)");
    if (in.format == 2)
        printf("format       %u (phrases beside common words are faster in format %d: rebuild "
               "for speed)\n",
               in.format, TDX_STORE_FORMAT);
    else
        printf("format       %u\n", in.format);
    printf("segments     %s unmerged%s\n", cli_num(in.segments),
           in.merging ? " (a merge stopped part-way: 'tenderidx index -i INDEX --merge' "
                        "or the next run finishes it)"
                      : "");
    if (in.deferred)
        printf("deferred     the ids and content hashes of the last %s documents are in their\n"
               "             records only (an interrupted run): queries find them; the next\n"
               "             'tenderidx index' run files them in the lookup tables\n",
               cli_num(in.deferred));
    printf("watch list   %s\n", in.wl_source);
    printf("normalizer   %s\n", in.normalizer);
    return TDX_EXIT_OK;
}

static int print_line(void *ctx, const char *line, size_t len)
{
    FILE *f = ctx;
    fwrite(line, 1, len, f);
    fputc('\n', f);
    return ferror(f) ? -1 : 0;
}

static void dump_help(void)
{
    printf("usage: tenderidx dump -i INDEX\n\n"
           "Print the logical content of an index in a stable text form: settings,\n"
           "watch list, every document (record, text, hits), keys, inputs and every\n"
           "postings list.  The form does not depend on how the index was built (batch\n"
           "sizes, threads, interruptions), so two dumps can be compared with diff.\n\n"
           "Exit codes: 0 ok, 2 usage error, 3 the index cannot be read.\n");
}

int cmd_dump(int argc, char **argv)
{
    const char *index = NULL;
    int rc = parse_common("dump", argc, argv, &index, NULL, dump_help);
    if (rc)
        return rc < 0 ? TDX_EXIT_OK : rc;
    tdx_store *s;
    tdx_rtxn *t;
    if ((rc = open_read("dump", index, &s, &t)) != 0)
        return rc;
    tdx_err err = {0};
    rc = tdx_store_dump(t, print_line, stdout, &err);
    tdx_store_read_end(t);
    tdx_store_close(s);
    return rc ? cli_fail("dump", rc, &err) : TDX_EXIT_OK;
}

static void check_help(void)
{
    printf("usage: tenderidx check -i INDEX\n\n"
           "Verify the integrity of every structure of an index: document records,\n"
           "stored text (decompressed, lengths), hit lists, keys and content hashes,\n"
           "tombstones, counts, every postings list (order, bounds, and agreement of\n"
           "entity, category and pattern postings with the documents' hits), every\n"
           "postings block's key and size (main tree and pending segments), and the\n"
           "list of indexed words.  Each problem is printed on its own line.\n\n"
           "Exit codes: 0 no problem, 2 usage error, 3 problems found or unreadable.\n");
}

int cmd_check(int argc, char **argv)
{
    const char *index = NULL;
    int rc = parse_common("check", argc, argv, &index, NULL, check_help);
    if (rc)
        return rc < 0 ? TDX_EXIT_OK : rc;
    tdx_store *s;
    tdx_rtxn *t;
    if ((rc = open_read("check", index, &s, &t)) != 0)
        return rc;
    tdx_err err = {0};
    uint64_t problems = 0;
    tdx_store_info in;
    rc = tdx_store_get_info(t, &in, &err);
    if (rc == 0)
        rc = tdx_store_check(t, print_line, stdout, &problems, &err);
    tdx_store_read_end(t);
    tdx_store_close(s);
    if (rc)
        return cli_fail("check", rc, &err);
    if (problems) {
        printf("%s: %s problems\n", index, cli_num(problems));
        return TDX_EXIT_FATAL;
    }
    printf("%s: ok (%s documents, %s hits)\n", index, cli_num(in.docs), cli_num(in.hits));
    return TDX_EXIT_OK;
}
