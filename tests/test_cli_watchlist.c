/*
 * test_cli_watchlist.c - `tenderidx watchlist check`: diagnostics with
 * file:line:col, counts per category, JSON output, exit codes.
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

TestSuite(cli_watchlist, .init = setup, .fini = teardown);

static int run(const char *args, char **out, char **err)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' watchlist %s", tu_tenderidx(), args);
    return tu_run(cmd, out, err);
}

/* Write `text` to a file in the temp dir and run `watchlist check` on it. */
static int check_text(const char *name, const char *text, const char *opts, const char **out_path,
                      char **out, char **err)
{
    const char *path = tu_path(name);
    tu_write_str(path, text);
    char args[4200];
    snprintf(args, sizeof args, "check '%s' %s", path, opts);
    *out_path = path;
    return run(args, out, err);
}

/* Assert that out holds "PATH<rest>". */
static void expect_line(const char *out, const char *path, const char *rest)
{
    char want[4300];
    snprintf(want, sizeof want, "%s%s", path, rest);
    cr_assert(strstr(out, want) != NULL, "want '%s' in:\n%s", want, out);
}

static const char good[] = "# chips and schools\n"
                           "深圳大学\tuniversity\t深圳大学\n"
                           "深圳大学\tuniversity\tSZU\n"
                           "深圳大学\tuniversity\t深圳大學\n"
                           "NVIDIA H20\tchip\tH20\n"
                           "NVIDIA A100\tchip\t/a100[- ]?(pcie|sxm4?)/\n";

Test(cli_watchlist, valid_list_prints_warnings_counts_and_cost)
{
    const char *path;
    char *out = NULL, *err = NULL;
    cr_assert(eq(int, check_text("wl.tsv", good, "--no-cache", &path, &out, &err), 0), "stderr: %s",
              err);
    expect_line(out, path, ":4:25: warning: duplicate alias '深圳大學'");
    expect_line(out, path, ": valid, 0 errors, 1 warning");
    /* category, patterns, entities, literals, regexes */
    cr_assert(strstr(out, "university          3          1          3          0") != NULL, "%s",
              out);
    cr_assert(strstr(out, "chip                2          2          1          1") != NULL, "%s",
              out);
    cr_assert(strstr(out, "compiled in ") != NULL, "%s", out);
    cr_assert(strstr(out, "MiB") != NULL, "%s", out);
    free(out);
    free(err);
}

Test(cli_watchlist, errors_exit_3_with_file_line_column)
{
    const char *path;
    char *out = NULL, *err = NULL;
    cr_assert(eq(
        int, check_text("bad.tsv", "a\tb\t/ab(/\nc d\ne\tf\tg\tsubstrin\n", "", &path, &out, &err),
        3));
    expect_line(out, path, ":1:8: error: invalid regex /ab(/: Missing close parenthesis");
    expect_line(out, path, ":2:4: error: missing column");
    expect_line(out, path, ":3:7: error: unknown flag 'substrin'");
    expect_line(out, path, ": INVALID, 3 errors");
    free(out);
    free(err);
}

Test(cli_watchlist, compile_errors_are_reported_like_parse_errors)
{
    const char *path;
    char *out = NULL, *err = NULL;
    cr_assert(eq(
        int, check_text("big.tsv", "a\tb\tfoo\nwide\tx\t/a.{1000}b/\n", "", &path, &out, &err), 3));
    expect_line(out, path, ":2:8: error: cannot compile regex /a.{1000}b/");
    free(out);
    free(err);
}

Test(cli_watchlist, json_output)
{
    const char *path = tu_path("wl.tsv");
    tu_write_str(path, good);
    char *out = NULL, args[4200];
    snprintf(args, sizeof args, "check --json '%s'", path);
    cr_assert(eq(int, run(args, &out, NULL), 0));
    cr_assert(strstr(out, "\"valid\":true,\"errors\":0,\"warnings\":1") != NULL, "%s", out);
    cr_assert(strstr(out, "{\"name\":\"chip\",\"patterns\":2,\"entities\":2,\"literals\":1,"
                          "\"regexes\":1}") != NULL,
              "%s", out);
    cr_assert(strstr(out, "\"line\":4,\"col\":25,\"severity\":\"warning\"") != NULL, "%s", out);
    cr_assert(strstr(out, "\"db_bytes\":") != NULL, "%s", out);
    free(out);
}

Test(cli_watchlist, usage_errors_and_help)
{
    char *out = NULL, *err = NULL;
    cr_assert(eq(int, run("", NULL, &err), 2));
    free(err);
    cr_assert(eq(int, run("frobnicate x", NULL, &err), 2));
    cr_assert(strstr(err, "unknown subcommand 'frobnicate'") != NULL, "%s", err);
    free(err);
    cr_assert(eq(int, run("check a b", NULL, NULL), 2));
    cr_assert(eq(int, run("check --normalize bogus x", NULL, NULL), 2));
    cr_assert(eq(int, run("check /nonexistent/wl.tsv", NULL, &err), 3));
    cr_assert(strstr(err, "/nonexistent/wl.tsv") != NULL, "%s", err);
    free(err);
    cr_assert(eq(int, run("--help", &out, NULL), 0));
    cr_assert(strstr(out, "entity<TAB>category<TAB>pattern[<TAB>flags]") != NULL);
    cr_assert(strstr(out, "substring") != NULL);
    cr_assert(strstr(out, "Exit codes") != NULL);
    free(out);
}
