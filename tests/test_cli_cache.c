/*
 * test_cli_cache.c - `tenderidx cache` and `tenderidx cache prune` on a
 * cache directory filled by the real writers (`watchlist check`) plus
 * files that are not tenderidx's: the table, JSON lines, pruning by age
 * and --all, exit codes and usage errors.
 */
#include "tassert.h"
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "testutil.h"

static void setup(void)
{
    tu_tmpdir();
}

static void teardown(void)
{
    tu_tmpdir_remove();
}

TestSuite(cli_cache, .init = setup, .fini = teardown);

static int run(const char *args, char **out, char **err)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "'%s' cache %s", tu_tenderidx(), args);
    return tu_run(cmd, out, err);
}

/* The cache directory of these tests, as made by fill_cache. */
static const char *cache_dir(void)
{
    return tu_path("cache");
}

/* The name of the one file of dir that starts with prefix, into out. */
static void find_name(const char *dir, const char *prefix, char *out, size_t cap)
{
    DIR *d = opendir(dir);
    cr_assert(d != NULL, "opendir %s", dir);
    out[0] = '\0';
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0) {
            cr_assert(eq(str, out, ""), "two files %s*", prefix);
            snprintf(out, cap, "%s", de->d_name);
        }
    closedir(d);
    cr_assert(out[0] != '\0', "no %s* in %s", prefix, dir);
}

/* Every name in dir, sorted and joined with spaces. */
static char *names_in(const char *dir)
{
    struct dirent **list;
    int n = scandir(dir, &list, NULL, alphasort);
    cr_assert(n >= 0, "scandir %s", dir);
    char *s = calloc(1, 8192);
    for (int i = 0; i < n; i++) {
        if (strcmp(list[i]->d_name, ".") != 0 && strcmp(list[i]->d_name, "..") != 0) {
            strcat(s, s[0] ? " " : "");
            strcat(s, list[i]->d_name);
        }
        free(list[i]);
    }
    free(list);
    return s;
}

static void set_time(const char *path, time_t t)
{
    struct timespec ts[2] = {{t, 0}, {t, 0}};
    cr_assert(eq(int, utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0), "utimensat %s", path);
}

static const char *in_cache(const char *name)
{
    static char bufs[4][4096];
    static int next;
    char *p = bufs[next++ & 3];
    snprintf(p, 4096, "%s/%s", cache_dir(), name);
    return p;
}

/*
 * A cache directory as runs leave it: a compiled watch list and
 * normalizer tables written by `watchlist check`, a live writer's and a
 * killed writer's temporary file, and files that are not tenderidx's
 * (old, so only that keeps them).  Names of ours into match and norm.
 */
static void fill_cache(char match[256], char norm[256])
{
    const char *wl = tu_path("wl.tsv");
    tu_write_str(wl, "深圳大学\tuniversity\t深圳大学\nNVIDIA H20\tchip\tH20\n");
    char cmd[8192], *err = NULL;
    snprintf(cmd, sizeof cmd, "TENDERIDX_CACHE_DIR='%s' '%s' watchlist check '%s'", cache_dir(),
             tu_tenderidx(), wl);
    cr_assert(eq(int, tu_run(cmd, NULL, &err), 0), "%s", err);
    free(err);
    find_name(cache_dir(), "match-", match, 256);
    find_name(cache_dir(), "norm-", norm, 256);
    tu_write_str(in_cache(".cache-abc123"), "a live writer");
    tu_write_str(in_cache(".cache-Old999"), "a killed writer");
    set_time(in_cache(".cache-Old999"), time(NULL) - 2 * 3600);
    tu_write_str(in_cache("notes.txt"), "mine");
    tu_write_str(in_cache("norm-x.tab"), "TDXHSDB\0 a watch list's magic");
    cr_assert(eq(int, mkdir(in_cache("sub"), 0777), 0));
    tu_write_str(in_cache("sub/match-1.hsdb"), "TDXHSDB");
    time_t old = time(NULL) - 400 * 24 * 3600;
    set_time(in_cache("notes.txt"), old);
    set_time(in_cache("norm-x.tab"), old);
    set_time(in_cache("sub"), old);
}

Test(cli_cache, prune_all_leaves_only_foreign_files)
{
    char match[256], norm[256];
    fill_cache(match, norm);
    char args[4200], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "prune --all --cache-dir '%s'", cache_dir());
    cr_assert(eq(int, run(args, &out, &err), 0), "%s", err);
    char want[512];
    snprintf(want, sizeof want, "removed %s (watch list, ", match);
    cr_expect(strstr(out, want) != NULL, "%s", out);
    snprintf(want, sizeof want, "removed %s (normalizer, ", norm);
    cr_expect(strstr(out, want) != NULL, "%s", out);
    cr_expect(strstr(out, "removed .cache-abc123 (partial, 13 B, ") != NULL, "%s", out);
    cr_expect(strstr(out, "removed 4 files (") != NULL, "%s", out);
    cr_expect(strstr(out, "), kept 0 (0 B)\n") != NULL, "%s", out);
    char *left = names_in(cache_dir());
    cr_expect(eq(str, left, "norm-x.tab notes.txt sub"));
    free(left);
    left = names_in(in_cache("sub"));
    cr_expect(eq(str, left, "match-1.hsdb"));
    free(left);
    free(out);
    free(err);
}

Test(cli_cache, prune_by_age_and_dry_run)
{
    char match[256], norm[256];
    fill_cache(match, norm);
    set_time(in_cache(norm), time(NULL) - 10 * 24 * 3600);
    set_time(in_cache(match), time(NULL) - 1 * 24 * 3600);
    char args[4200], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "prune --older-than 7 --dry-run --cache-dir '%s'", cache_dir());
    cr_assert(eq(int, run(args, &out, &err), 0), "%s", err);
    char want[512];
    snprintf(want, sizeof want, "would remove %s (normalizer, ", norm);
    cr_expect(strstr(out, want) != NULL, "%s", out);
    cr_expect(strstr(out, "would remove .cache-Old999 (partial, 15 B, ") != NULL, "%s", out);
    cr_expect(strstr(out, "would remove 2 files (") != NULL, "%s", out);
    cr_expect(strstr(out, "), keep 2 (") != NULL, "%s", out);
    cr_expect(eq(int, access(in_cache(norm), F_OK), 0), "a dry run removed %s", norm);
    free(out);
    free(err);
    /* The same without --dry-run, quietly: only the summary. */
    snprintf(args, sizeof args, "prune -q --older-than 7 --cache-dir '%s'", cache_dir());
    cr_assert(eq(int, run(args, &out, &err), 0), "%s", err);
    cr_expect(strncmp(out, "removed 2 files (", strlen("removed 2 files (")) == 0, "%s", out);
    cr_expect(strstr(out, "), kept 2 (") != NULL, "%s", out);
    cr_expect(eq(sz, strlen(out), (size_t)(strchr(out, '\n') - out + 1)), "one line: %s", out);
    char *left = names_in(cache_dir());
    char expect[1024];
    snprintf(expect, sizeof expect, ".cache-abc123 %s norm-x.tab notes.txt sub", match);
    cr_expect(eq(str, left, expect));
    free(left);
    free(out);
    free(err);
}

Test(cli_cache, json_lines_name_kind_bytes_and_last_used)
{
    char match[256], norm[256];
    fill_cache(match, norm);
    /* 2021-03-04 05:06:07 UTC */
    struct tm tm = {
        .tm_year = 121, .tm_mon = 2, .tm_mday = 4, .tm_hour = 5, .tm_min = 6, .tm_sec = 7};
    set_time(in_cache(norm), timegm(&tm));
    char args[4200], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "--json --cache-dir '%s'", cache_dir());
    cr_assert(eq(int, run(args, &out, &err), 0), "%s", err);
    int seen_match = 0, seen_norm = 0, lines = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        char name[256], kind[32], when[64];
        unsigned long long bytes;
        int end = 0;
        cr_assert(eq(int,
                     sscanf(line,
                            "{\"name\":\"%255[^\"]\",\"kind\":\"%31[^\"]\",\"bytes\":%llu,"
                            "\"last_used\":\"%63[^\"]\"}%n",
                            name, kind, &bytes, when, &end),
                     4),
                  "%s", line);
        cr_assert(eq(sz, (size_t)end, strlen(line)), "%s", line);
        lines++;
        struct stat st;
        cr_assert(eq(int, stat(in_cache(name), &st), 0), "%s", name);
        cr_expect(eq(u64, bytes, (uint64_t)st.st_size), "%s", name);
        struct tm t = {0};
        char *rest = strptime(when, "%Y-%m-%dT%H:%M:%SZ", &t);
        cr_assert(rest != NULL && *rest == '\0', "%s", when);
        cr_expect(eq(i64, (int64_t)timegm(&t), (int64_t)st.st_mtim.tv_sec), "%s", line);
        if (strcmp(name, match) == 0) {
            seen_match = 1;
            cr_expect(eq(str, kind, "watchlist"));
        } else if (strcmp(name, norm) == 0) {
            seen_norm = 1;
            cr_expect(eq(str, kind, "normalizer"));
            cr_expect(eq(str, when, "2021-03-04T05:06:07Z"));
        } else {
            cr_expect(strncmp(name, ".cache-", 7) == 0, "%s", name);
            cr_expect(eq(str, kind, "partial"));
        }
    }
    cr_expect(eq(int, lines, 4));
    cr_expect(seen_match && seen_norm);
    free(out);
    free(err);
}

Test(cli_cache, list_prints_a_table_and_a_total)
{
    char match[256], norm[256];
    fill_cache(match, norm);
    time_t t = time(NULL) - 3 * 24 * 3600;
    set_time(in_cache(match), t);
    char args[4200], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "list --cache-dir '%s'", cache_dir());
    cr_assert(eq(int, run(args, &out, &err), 0), "%s", err);
    char want[512], when[64];
    snprintf(want, sizeof want, "cache directory  %s\n", cache_dir());
    cr_expect(strstr(out, want) == out, "%s", out);
    struct tm tm;
    strftime(when, sizeof when, "%Y-%m-%d %H:%M", localtime_r(&t, &tm));
    snprintf(want, sizeof want, "  %s  %s\n", when, match);
    cr_expect(strstr(out, want) != NULL, "want '%s' in:\n%s", want, out);
    cr_expect(strstr(out, "\nwatch list  ") != NULL, "%s", out);
    cr_expect(strstr(out, "\nnormalizer  ") != NULL, "%s", out);
    cr_expect(strstr(out, "\ntotal  ") != NULL, "%s", out);
    cr_expect(strstr(out, "  4 files\n") != NULL, "%s", out);
    cr_expect(strstr(out, "notes.txt") == NULL, "%s", out);
    cr_expect(strstr(out, "norm-x.tab") == NULL, "%s", out);
    free(out);
    free(err);
    /* A directory that does not exist yet is empty, not an error. */
    snprintf(args, sizeof args, "--cache-dir '%s'", tu_path("nowhere"));
    cr_assert(eq(int, run(args, &out, &err), 0), "%s", err);
    cr_expect(strstr(out, "(not made yet)\nno cache files\n") != NULL, "%s", out);
    free(out);
    free(err);
}

Test(cli_cache, caching_off_unreadable_directory_and_usage_errors)
{
    char *out = NULL, *err = NULL;
    /* The test environment sets TENDERIDX_CACHE_DIR to "". */
    cr_assert(eq(int, run("", &out, NULL), 0));
    cr_expect(eq(str, out,
                 "caching is off (TENDERIDX_CACHE_DIR is set and empty): "
                 "nothing is cached\n"));
    free(out);
    cr_assert(eq(int, run("prune --cache-dir ''", &out, NULL), 0));
    cr_expect(strstr(out, "caching is off (--cache-dir is empty)") != NULL, "%s", out);
    free(out);

    const char *file = tu_path("plain");
    tu_write_str(file, "x");
    char args[4200], want[4400];
    snprintf(args, sizeof args, "--cache-dir '%s'", file);
    cr_assert(eq(int, run(args, NULL, &err), 3));
    snprintf(want, sizeof want,
             "tenderidx cache: cannot read cache directory '%s': Not a directory\n", file);
    cr_expect(eq(str, err, want));
    free(err);

    static const struct {
        const char *args, *msg;
    } usage[] = {
        {"prune --older-than x --cache-dir d", "invalid --older-than 'x'"},
        {"prune --older-than -1 --cache-dir d", "invalid --older-than '-1'"},
        {"prune --older-than 36501 --cache-dir d", "invalid --older-than '36501'"},
        {"prune --all --older-than 3 --cache-dir d", "--all and --older-than exclude each other"},
        {"--all --cache-dir d", "--all is an option of 'cache prune' only"},
        {"prune --json --cache-dir d", "--json is an option of 'cache list' only"},
        {"frobnicate", "unknown subcommand 'frobnicate'"},
        {"list extra", "unexpected argument 'extra'"},
    };
    for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++) {
        cr_expect(eq(int, run(usage[i].args, &out, &err), 2), "%s", usage[i].args);
        cr_expect(strstr(err, usage[i].msg) != NULL, "%s: %s", usage[i].args, err);
        cr_expect(strstr(err, "Try 'tenderidx cache --help'.") != NULL, "%s", err);
        cr_expect(eq(str, out, ""), "%s", usage[i].args);
        free(out);
        free(err);
    }

    cr_assert(eq(int, run("prune --help", &out, NULL), 0));
    cr_expect(strstr(out, "tenderidx cache prune --older-than 7") != NULL);
    cr_expect(strstr(out, "can always make again") != NULL);
    cr_expect(strstr(out, "Exit codes") != NULL);
    free(out);
}

Test(cli_cache, a_file_that_cannot_be_removed_exits_1)
{
    /* Root may unlink from a read-only directory: nothing to see then. */
    if (geteuid() == 0)
        cr_skip_test("running as root");
    char match[256], norm[256];
    fill_cache(match, norm);
    cr_assert(eq(int, chmod(cache_dir(), 0555), 0));
    char args[4200], *out = NULL, *err = NULL;
    snprintf(args, sizeof args, "prune --all --cache-dir '%s'", cache_dir());
    int rc = run(args, &out, &err);
    chmod(cache_dir(), 0755);
    cr_assert(eq(int, rc, 1), "%s", err);
    char want[4400];
    snprintf(want, sizeof want, "tenderidx cache: cannot remove '%s': Permission denied",
             in_cache(match));
    cr_expect(strstr(err, want) != NULL, "%s", err);
    cr_expect(strstr(out, "removed 0 files (0 B), kept 0 (0 B), 4 could not be removed (") != NULL,
              "%s", out);
    cr_expect(eq(int, access(in_cache(match), F_OK), 0));
    free(out);
    free(err);
}
