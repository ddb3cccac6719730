/*
 * cmd_normalize.c - `tenderidx normalize`: stdin lines -> normalized lines,
 * optionally with the offset map (--offsets) or the text after each step
 * (--show-steps).  The tool a user reaches for when a name does not match.
 */
#include "cli.h"

#include "../common/alloc.h"
#include "../common/utf8.h"
#include "../normalize/normalize.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void help(void)
{
    printf(
        "usage: tenderidx normalize [--normalize LIST] [--offsets | --show-steps] [--reference]\n\n"
        "Read UTF-8 lines on standard input and write each line normalized, exactly as\n"
        "tenderidx normalizes documents, watch-list literals and queries.  Use it when a\n"
        "name does not match: normalize both spellings and compare.\n\n"
        "Options:\n"
        "  -n, --normalize LIST  steps to apply, comma-separated: nfkc_cf (NFKC case\n"
        "                        folding, full-width to ASCII), t2s (Traditional to\n"
        "                        Simplified), space (drop spaces between CJK characters,\n"
        "                        collapse other runs); 'all' (default) or 'none'\n"
        "  -o, --offsets         instead of the text, print the offset map as TSV: one row\n"
        "                        per output character with its output byte range and the\n"
        "                        source byte range (within the line) it came from; source\n"
        "                        bytes that produced nothing (removed spaces, ignorable\n"
        "                        characters) get a row with an empty output range\n"
        "  -s, --show-steps      print the text after each step: input, nfkc_cf, t2s,\n"
        "                        space (those selected), one 'step<TAB>text' row each\n"
        "  -r, --reference       use the direct ICU call chain instead of the fast path\n"
        "                        (slow; the two must agree)\n"
        "  -h, --help            show this help\n\n"
        "Invalid UTF-8 becomes U+FFFD (one per maximal ill-formed sequence), with a\n"
        "warning naming the line.  In TSV output, tab, newline, carriage return and\n"
        "backslash are written as \\t, \\n, \\r and \\\\.\n\n"
        "Examples:\n"
        "  printf '深 圳 大 學\\nＮＶＩＤＩＡ　Ａ１００\\n' | tenderidx normalize\n"
        "  深圳大学\n"
        "  nvidia a100\n\n"
        "  printf 'Ａ１ 深 圳\\n' | tenderidx normalize --offsets\n"
        "  line\tout\tout_end\tsrc\tsrc_end\tchar\tsource\n"
        "  1\t0\t1\t0\t3\ta\tＡ\n"
        "  1\t1\t2\t3\t6\t1\t１\n"
        "  1\t2\t3\t6\t7\t \t \n"
        "  1\t3\t6\t7\t10\t深\t深\n"
        "  1\t6\t6\t10\t11\t\t \n"
        "  1\t6\t9\t11\t14\t圳\t圳\n");
}

/* A TSV field: the bytes with tab, newline, CR and backslash escaped. */
static void put_field(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (p[i]) {
        case '\t':
            fputs("\\t", stdout);
            break;
        case '\n':
            fputs("\\n", stdout);
            break;
        case '\r':
            fputs("\\r", stdout);
            break;
        case '\\':
            fputs("\\\\", stdout);
            break;
        default:
            putchar(p[i]);
        }
    }
}

static void put_row(unsigned long line, size_t o0, size_t o1, size_t s0, size_t s1,
                    const tdx_norm_out *out, const uint8_t *src)
{
    printf("%lu\t%zu\t%zu\t%zu\t%zu\t", line, o0, o1, s0, s1);
    put_field(out->text.p + o0, o1 - o0);
    putchar('\t');
    put_field(src + s0, s1 - s0);
    putchar('\n');
}

/* One row per output character, plus rows for source that produced nothing. */
static void print_offsets(unsigned long line, const tdx_norm_out *out, const uint8_t *src)
{
    size_t off = 0, seen = 0, len = out->text.len;
    while (off < len) {
        size_t cl;
        if (tdx_utf8_decode(out->text.p + off, out->text.p + len, &cl) < 0)
            cl = 1;
        size_t s0 = tdx_norm_map_start(out, off), s1 = tdx_norm_map_end(out, off + cl);
        if (s0 > seen)
            put_row(line, off, off, seen, s0, out, src);
        put_row(line, off, off + cl, s0, s1, out, src);
        if (s1 > seen)
            seen = s1;
        off += cl;
    }
    if (out->src_len > seen)
        put_row(line, len, len, seen, out->src_len, out, src);
}

typedef struct stage {
    const char *name;
    tdx_norm *norm;
} stage;

int cmd_normalize(int argc, char **argv)
{
    static const struct option opts[] = {
        {"normalize", required_argument, NULL, 'n'},
        {"offsets", no_argument, NULL, 'o'},
        {"show-steps", no_argument, NULL, 's'},
        {"reference", no_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *steps_arg = NULL;
    int offsets = 0, show_steps = 0, reference = 0, c;
    while ((c = getopt_long(argc, argv, "n:osrh", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            steps_arg = optarg;
            break;
        case 'o':
            offsets = 1;
            break;
        case 's':
            show_steps = 1;
            break;
        case 'r':
            reference = 1;
            break;
        case 'h':
            help();
            return TDX_EXIT_OK;
        default:
            return cli_usage_error("normalize", "invalid option");
        }
    }
    if (optind != argc)
        return cli_usage_error("normalize", "unexpected argument '%s'", argv[optind]);
    if (offsets && show_steps)
        return cli_usage_error("normalize", "--offsets and --show-steps do not combine");

    tdx_err err = {0};
    unsigned steps;
    if (tdx_norm_parse_steps(steps_arg, &steps, &err) != 0)
        return cli_usage_error("normalize", "%s", err.msg);

    /* With --show-steps, one normalizer per prefix of the chain. */
    static const struct {
        const char *name;
        unsigned bit;
    } chain[] = {{"nfkc_cf", TDX_NORM_NFKC_CF}, {"t2s", TDX_NORM_T2S}, {"space", TDX_NORM_SPACE}};
    stage stages[3] = {{0}};
    size_t nstages = 0;
    unsigned acc = 0;
    int rc = 0;
    if (show_steps) {
        for (size_t i = 0; i < 3 && rc == 0; i++) {
            if (!(steps & chain[i].bit))
                continue;
            acc |= chain[i].bit;
            stages[nstages].name = chain[i].name;
            rc = tdx_norm_create_cached(acc, NULL, NULL, &stages[nstages].norm, &err);
            nstages++;
        }
    }
    if (nstages == 0 && rc == 0) {
        stages[0].name = "output";
        rc = tdx_norm_create_cached(steps, NULL, NULL, &stages[0].norm, &err);
        nstages = 1;
    }
    tdx_norm_ctx *ctx = NULL;
    if (rc == 0)
        rc = tdx_norm_ctx_create(stages[nstages - 1].norm, &ctx, &err);
    if (rc != 0) {
        for (size_t i = 0; i < nstages; i++)
            tdx_norm_free(stages[i].norm);
        return cli_fail("normalize", rc, &err);
    }

    tdx_norm_out out;
    tdx_norm_out_init(&out);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned long lineno = 0;
    int status = TDX_EXIT_OK;
    if (offsets)
        printf("line\tout\tout_end\tsrc\tsrc_end\tchar\tsource\n");
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        size_t len = (size_t)n;
        lineno++;
        if (len && line[len - 1] == '\n')
            len--;
        if (show_steps) {
            printf("input\t");
            put_field((const uint8_t *)line, len);
            putchar('\n');
        }
        for (size_t i = 0; i < nstages; i++) {
            rc = reference
                     ? tdx_norm_run_reference(stages[i].norm, ctx, (const uint8_t *)line, len, &out,
                                              &err)
                     : tdx_norm_run(stages[i].norm, ctx, (const uint8_t *)line, len, &out, &err);
            if (rc != 0)
                break;
            if (show_steps) {
                printf("%s\t", stages[i].name);
                put_field(out.text.p, out.text.len);
                putchar('\n');
            }
        }
        if (rc != 0) {
            status = cli_fail("normalize", rc, &err);
            break;
        }
        if (out.invalid)
            cli_warn("normalize", "line %lu: %zu invalid UTF-8 sequence%s replaced by U+FFFD",
                     lineno, out.invalid, out.invalid == 1 ? "" : "s");
        if (offsets) {
            print_offsets(lineno, &out, (const uint8_t *)line);
        } else if (show_steps) {
            putchar('\n');
        } else {
            fwrite(out.text.p, 1, out.text.len, stdout);
            fputc('\n', stdout);
        }
    }
    free(line);
    tdx_norm_out_free(&out);
    tdx_norm_ctx_free(ctx);
    for (size_t i = 0; i < nstages; i++)
        tdx_norm_free(stages[i].norm);
    if (status == TDX_EXIT_OK && fflush(stdout) != 0) {
        cli_error("normalize", "cannot write standard output");
        status = TDX_EXIT_FATAL;
    }
    return status;
}
