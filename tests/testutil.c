/*
 * testutil.c - see testutil.h.
 */
#include "testutil.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tmpdir[1024];

const char *tu_tmpdir(void)
{
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/tdxtest.XXXXXX", base && *base ? base : "/tmp");
    if (mkdtemp(tmpdir) == NULL)
        cr_assert_fail("mkdtemp: %s", strerror(errno));
    return tmpdir;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(p);
    return 0;
}

void tu_tmpdir_remove(void)
{
    if (tmpdir[0] && getenv("TDX_TEST_KEEP") == NULL)
        nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    tmpdir[0] = 0;
}

const char *tu_path(const char *name)
{
    static char slots[8][4096];
    static int next;
    char *p = slots[next++ & 7];
    snprintf(p, 4096, "%s/%s", tmpdir, name);
    return p;
}

void tu_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        cr_assert_fail("cannot write %s: %s", path, strerror(errno));
    if (len && fwrite(data, 1, len, f) != len)
        cr_assert_fail("short write to %s", path);
    fclose(f);
}

void tu_write_str(const char *path, const char *s)
{
    tu_write_file(path, s, strlen(s));
}

char *tu_read_file(const char *path, size_t *out_len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len < 2) {
            cap *= 2;
            buf = realloc(buf, cap);
        }
    }
    fclose(f);
    buf[len] = 0;
    if (out_len)
        *out_len = len;
    return buf;
}

int tu_run(const char *cmd, char **out_stdout, char **out_stderr)
{
    char outp[1100], errp[1100], full[16384];
    snprintf(outp, sizeof outp, "%s/.run.out", tmpdir[0] ? tmpdir : "/tmp");
    snprintf(errp, sizeof errp, "%s/.run.err", tmpdir[0] ? tmpdir : "/tmp");
    snprintf(full, sizeof full, "( %s ) >'%s' 2>'%s' </dev/null", cmd, outp, errp);
    int st = system(full);
    if (out_stdout)
        *out_stdout = tu_read_file(outp, NULL);
    if (out_stderr)
        *out_stderr = tu_read_file(errp, NULL);
    unlink(outp);
    unlink(errp);
    if (st == -1)
        return -1;
    if (WIFEXITED(st))
        return WEXITSTATUS(st);
    return 128 + WTERMSIG(st);
}

const char *tu_tenderidx(void)
{
    const char *p = getenv("TENDERIDX");
    return p ? p : TDX_BUILD_ROOT "/tenderidx";
}

uint64_t tu_seed(const char *what)
{
    const char *s = getenv("TDX_TEST_SEED");
    uint64_t seed = s ? strtoull(s, NULL, 0) : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
    fprintf(stderr, "%s: seed %llu (TDX_TEST_SEED to repeat)\n", what, (unsigned long long)seed);
    return seed;
}
