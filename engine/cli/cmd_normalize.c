/*
 * cmd_normalize.c - `tenderidx normalize`: stdin lines -> normalized lines.
 */
#include "cli.h"

#include "../common/alloc.h"
#include "../normalize/normalize.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void help(void)
{
    printf("usage: tenderidx normalize [--normalize LIST]\n\n"
           "Read UTF-8 lines on standard input and write each line normalized, exactly as\n"
           "tenderidx normalizes documents, watch-list literals and queries.  Use it when a\n"
           "name does not match: normalize both spellings and compare.\n\n"
           "Options:\n"
           "  -n, --normalize LIST  steps to apply, comma-separated: nfkc_cf (NFKC case\n"
           "                        folding, full-width to ASCII), t2s (Traditional to\n"
           "                        Simplified), space (drop spaces between CJK characters,\n"
           "                        collapse other runs); 'all' (default) or 'none'\n"
           "  -h, --help            show this help\n\n"
           "Example:\n"
           "  printf '深 圳 大 學\\nＮＶＩＤＩＡ　Ａ１００\\n' | tenderidx normalize\n"
           "  深圳大学\n"
           "  nvidia a100\n");
}

int cmd_normalize(int argc, char **argv)
{
    static const struct option opts[] = {
        {"normalize", required_argument, NULL, 'n'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *steps_arg = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            steps_arg = optarg;
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

    tdx_err err = {0};
    unsigned steps;
    if (tdx_norm_parse_steps(steps_arg, &steps, &err) != 0)
        return cli_usage_error("normalize", "%s", err.msg);
    tdx_norm *norm = NULL;
    tdx_norm_ctx *ctx = NULL;
    int rc = tdx_norm_create(steps, &norm, &err);
    if (rc == 0)
        rc = tdx_norm_ctx_create(norm, &ctx, &err);
    if (rc != 0) {
        tdx_norm_free(norm);
        return cli_fail("normalize", rc, &err);
    }
    tdx_norm_out out;
    tdx_norm_out_init(&out);
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int status = TDX_EXIT_OK;
    while ((n = getline(&line, &cap, stdin)) >= 0) {
        size_t len = (size_t)n;
        if (len && line[len - 1] == '\n')
            len--;
        rc = tdx_norm_run(norm, ctx, (const uint8_t *)line, len, &out, &err);
        if (rc != 0) {
            status = cli_fail("normalize", rc, &err);
            break;
        }
        fwrite(out.text.p, 1, out.text.len, stdout);
        fputc('\n', stdout);
    }
    free(line);
    tdx_norm_out_free(&out);
    tdx_norm_ctx_free(ctx);
    tdx_norm_free(norm);
    return status;
}
