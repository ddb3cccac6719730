/*
 * cmd_watchlist.c - `tenderidx watchlist check FILE`: validate a watch list,
 * print every error and warning with file, line and column, the counts per
 * category, and what compiling it costs (time, database size).
 */
#include "cli.h"

#include "../common/alloc.h"
#include "../match/match.h"
#include "../normalize/normalize.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void help(void)
{
    printf("usage: tenderidx watchlist check FILE [--normalize LIST] [--json] [--no-cache]\n\n"
           "Validate a watch list the way 'tenderidx index' reads it: print every error and\n"
           "warning as FILE:LINE:COL: error|warning: reason, the number of patterns,\n"
           "entities, literals and regexes per category, and the time and memory it takes\n"
           "to compile.\n\n"
           "The watch list format (UTF-8 text, one alias per line):\n"
           "  entity<TAB>category<TAB>pattern[<TAB>flags]\n"
           "  - Rows with the same entity are aliases of one name; every hit reports the\n"
           "    entity and its category (the entity's first row decides the category).\n"
           "  - A pattern is a literal, normalized exactly like documents: case folded,\n"
           "    full-width to ASCII, Traditional to Simplified, spaces between CJK\n"
           "    characters dropped.  So one row for 深圳大学 also finds 深圳大學 and\n"
           "    '深 圳 大 学'.\n"
           "  - A pattern written /.../ is a regular expression (Hyperscan syntax, no\n"
           "    look-around or back-references) run on normalized text.  It always\n"
           "    matches case-insensitively and is not normalized itself: write it in\n"
           "    Simplified characters and half-width ASCII.  It may not match empty text.\n"
           "  - Boundary rule: a hit whose first (last) character is an ASCII letter or\n"
           "    digit counts only when the character before (after) it is not one: H20\n"
           "    is not found in H200, nor AWS in LAWS, but 英伟达H100显卡 has H100.  CJK\n"
           "    characters have no such rule.  Regex hits follow the same rule.\n"
           "  - Flags, comma-separated:\n"
           "      substring   no boundary rule for this row (find H20 inside H200)\n"
           "  - Lines whose first non-blank character is '#' are comments; blank lines\n"
           "    are ignored; CRLF line ends and a UTF-8 byte-order mark are accepted;\n"
           "    spaces around a cell are not part of it.\n\n"
           "Errors (nothing is indexed until they are fixed): missing or extra column,\n"
           "empty cell, unknown flag, invalid regex (with Hyperscan's reason), regex that\n"
           "matches empty text, literal that normalizes to nothing, invalid UTF-8, pattern\n"
           "longer than %u bytes.  Warnings: duplicate alias (two rows that normalize\n"
           "alike; the first is named), one-character CJK literal, entity given a second\n"
           "category, regex with a character that normalized text never has (學, Ｈ).\n\n"
           "Options:\n"
           "  -n, --normalize LIST  normalization steps (see 'tenderidx normalize --help');\n"
           "                        must match the index the list is used with (default all)\n"
           "      --json            one JSON object on standard output instead of text\n"
           "      --no-cache        compile even when the compiled databases are cached\n"
           "                        (the cache lives in $TENDERIDX_CACHE_DIR, else\n"
           "                        $XDG_CACHE_HOME/tenderidx, else ~/.cache/tenderidx)\n"
           "  -h, --help            show this help\n\n"
           "Example (columns separated by TAB characters):\n"
           "  # entity           category    pattern                 flags\n"
           "  深圳大学           university  深圳大学\n"
           "  深圳大学           university  Shenzhen University\n"
           "  深圳大学           university  SZU\n"
           "  NVIDIA H20         chip        H20\n"
           "  NVIDIA A100        chip        /a100[- ]?(pcie|sxm4?)/\n"
           "  阿里云             cloud       阿里云\n"
           "  阿里云             cloud       Alibaba Cloud\n"
           "  华为               company     华为                    substring\n\n"
           "  $ tenderidx watchlist check watchlist.tsv\n\n"
           "Exit codes:\n"
           "  0  the watch list is valid (warnings allowed)\n"
           "  2  usage error\n"
           "  3  the watch list has errors, or cannot be read or compiled\n",
           TDX_MATCH_MAX_PATTERN_BYTES);
}

static void json_str(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", stdout);
        else if (*p == '\t')
            fputs("\\t", stdout);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

typedef struct cat_count {
    size_t patterns, entities, literals, regexes;
} cat_count;

/* Per-category counts; owned array of ncategories entries. */
static cat_count *count_categories(const tdx_watchlist *wl)
{
    size_t nc = tdx_watchlist_ncategories(wl);
    cat_count *c = tdx_calloc(nc ? nc : 1, sizeof *c);
    if (c == NULL)
        return NULL;
    for (uint32_t e = 0; e < tdx_watchlist_nentities(wl); e++)
        c[tdx_watchlist_entity_category(wl, e)].entities++;
    for (uint32_t i = 0; i < tdx_watchlist_npatterns(wl); i++) {
        const tdx_pattern *p = tdx_watchlist_pattern(wl, i);
        c[p->category].patterns++;
        if (p->flags & TDX_PAT_REGEX)
            c[p->category].regexes++;
        else
            c[p->category].literals++;
    }
    return c;
}

static void print_diags(const tdx_watchlist *wl, int json)
{
    for (size_t i = 0; i < tdx_watchlist_ndiags(wl); i++) {
        const tdx_diag *d = tdx_watchlist_diag(wl, i);
        const char *sev = d->is_error ? "error" : "warning";
        if (!json) {
            printf("%s:%u:%u: %s: %s\n", d->file, d->line, d->col, sev, d->msg);
            continue;
        }
        printf("%s{\"line\":%u,\"col\":%u,\"severity\":\"%s\",\"message\":", i ? "," : "", d->line,
               d->col, sev);
        json_str(d->msg);
        putchar('}');
    }
}

static void print_text(const char *path, const tdx_watchlist *wl, const cat_count *cc,
                       const tdx_match_info *info)
{
    size_t nerr = tdx_watchlist_nerrors(wl), nwarn = tdx_watchlist_ndiags(wl) - nerr;
    size_t lits = 0, rxs = 0;
    for (size_t c = 0; c < tdx_watchlist_ncategories(wl); c++) {
        lits += cc[c].literals;
        rxs += cc[c].regexes;
    }
    printf("%s: %s, %zu error%s, %zu warning%s\n", path, nerr ? "INVALID" : "valid", nerr,
           nerr == 1 ? "" : "s", nwarn, nwarn == 1 ? "" : "s");
    size_t w = strlen("category");
    for (uint32_t c = 0; c < tdx_watchlist_ncategories(wl); c++) {
        const char *name = tdx_watchlist_category(wl, c);
        size_t cw = tdx_text_width(name, strlen(name));
        w = cw > w ? cw : w;
    }
    printf("\n  %-*s  %9s  %9s  %9s  %9s\n", (int)w, "category", "patterns", "entities", "literals",
           "regexes");
    for (uint32_t c = 0; c < tdx_watchlist_ncategories(wl); c++) {
        const char *name = tdx_watchlist_category(wl, c);
        /* Pad by display width: CJK names take two columns per character. */
        printf("  %s%*s  %9zu  %9zu  %9zu  %9zu\n", name,
               (int)(w - tdx_text_width(name, strlen(name))), "", cc[c].patterns, cc[c].entities,
               cc[c].literals, cc[c].regexes);
    }
    printf("  %-*s  %9zu  %9zu  %9zu  %9zu\n", (int)w, "total", tdx_watchlist_npatterns(wl),
           tdx_watchlist_nentities(wl), lits, rxs);
    if (info)
        printf("\n%s in %.1f ms: %zu distinct literal%s, %zu regex%s, %zu database%s, "
               "%.2f MiB\n",
               info->from_cache ? "loaded from cache" : "compiled", info->compile_ms,
               info->nliterals, info->nliterals == 1 ? "" : "s", info->nregexes,
               info->nregexes == 1 ? "" : "es", info->ndatabases, info->ndatabases == 1 ? "" : "s",
               (double)info->db_bytes / (1024.0 * 1024.0));
}

static void print_json(const char *path, const tdx_watchlist *wl, const cat_count *cc,
                       const tdx_match_info *info)
{
    size_t nerr = tdx_watchlist_nerrors(wl);
    printf("{\"file\":");
    json_str(path);
    printf(",\"valid\":%s,\"errors\":%zu,\"warnings\":%zu,\"diagnostics\":[",
           nerr ? "false" : "true", nerr, tdx_watchlist_ndiags(wl) - nerr);
    print_diags(wl, 1);
    printf("],\"patterns\":%zu,\"entities\":%zu,\"categories\":[", tdx_watchlist_npatterns(wl),
           tdx_watchlist_nentities(wl));
    for (uint32_t c = 0; c < tdx_watchlist_ncategories(wl); c++) {
        printf("%s{\"name\":", c ? "," : "");
        json_str(tdx_watchlist_category(wl, c));
        printf(",\"patterns\":%zu,\"entities\":%zu,\"literals\":%zu,\"regexes\":%zu}",
               cc[c].patterns, cc[c].entities, cc[c].literals, cc[c].regexes);
    }
    printf("]");
    if (info)
        printf(",\"compile_ms\":%.3f,\"from_cache\":%s,\"distinct_literals\":%zu,"
               "\"regexes\":%zu,\"databases\":%zu,\"db_bytes\":%zu",
               info->compile_ms, info->from_cache ? "true" : "false", info->nliterals,
               info->nregexes, info->ndatabases, info->db_bytes);
    printf("}\n");
}

static int check(const char *path, const char *steps_arg, int json, int no_cache)
{
    tdx_err err = {0};
    unsigned steps;
    if (tdx_norm_parse_steps(steps_arg, &steps, &err) != 0)
        return cli_usage_error("watchlist", "%s", err.msg);
    tdx_norm *norm = NULL;
    tdx_watchlist *wl = NULL;
    tdx_matcher *m = NULL;
    cat_count *cc = NULL;
    int status = TDX_EXIT_FATAL;
    int rc = tdx_norm_create_cached(steps, no_cache ? "" : NULL, NULL, &norm, &err);
    if (rc == 0)
        rc = tdx_watchlist_check(path, norm, &wl, &err);
    if (rc != 0) {
        cli_fail("watchlist", rc, &err);
        goto done;
    }
    if ((cc = count_categories(wl)) == NULL) {
        cli_fail("watchlist", TDX_ENOMEM, NULL);
        goto done;
    }
    tdx_match_info info, *pinfo = NULL;
    if (tdx_watchlist_nerrors(wl) == 0) {
        tdx_match_opts opts = {.cache_dir = no_cache ? "" : NULL};
        rc = tdx_match_compile(wl, &opts, &m, &err);
        if (rc != 0) {
            /* Errors only Hyperscan's compiler finds (a regex too large). */
            if (json) {
                printf("{\"file\":");
                json_str(path);
                printf(",\"valid\":false,\"errors\":1,\"message\":");
                json_str(err.msg);
                printf("}\n");
            } else if (rc == TDX_EPATTERN && strncmp(err.msg, path, strlen(path)) == 0) {
                /* "FILE:LINE:COL: reason", printed like the parser's errors. */
                const char *p = err.msg + strlen(path);
                size_t n = strspn(p, ":0123456789");
                if (n > 0 && p[n] == ' ')
                    printf("%.*s%.*s error:%s\n", (int)strlen(path), err.msg, (int)n, p, p + n);
                else
                    printf("%s\n", err.msg);
            } else {
                cli_fail("watchlist", rc, &err);
            }
            goto done;
        }
        tdx_match_get_info(m, &info);
        pinfo = &info;
    }
    if (json) {
        print_json(path, wl, cc, pinfo);
    } else {
        print_diags(wl, 0);
        if (tdx_watchlist_ndiags(wl))
            putchar('\n');
        print_text(path, wl, cc, pinfo);
    }
    status = tdx_watchlist_nerrors(wl) ? TDX_EXIT_FATAL : TDX_EXIT_OK;
done:
    tdx_free(cc);
    tdx_match_free(m);
    tdx_watchlist_free(wl);
    tdx_norm_free(norm);
    return status;
}

int cmd_watchlist(int argc, char **argv)
{
    static const struct option opts[] = {
        {"normalize", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},
        {"no-cache", no_argument, NULL, 'C'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *steps_arg = NULL;
    int json = 0, no_cache = 0, c;
    while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            steps_arg = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 'C':
            no_cache = 1;
            break;
        case 'h':
            help();
            return TDX_EXIT_OK;
        default:
            return cli_usage_error("watchlist", "invalid option");
        }
    }
    if (optind >= argc)
        return cli_usage_error("watchlist", "missing subcommand (try 'check FILE')");
    if (strcmp(argv[optind], "check") != 0)
        return cli_usage_error("watchlist", "unknown subcommand '%s' (try 'check FILE')",
                               argv[optind]);
    if (argc - optind != 2)
        return cli_usage_error("watchlist", "'check' takes exactly one FILE");
    return check(argv[optind + 1], steps_arg, json, no_cache);
}
