/*
 * test_diskfull.c - a full disk is a clear error, not a crash, and leaves
 * the index valid at its last commit.  The index lives on a small tmpfs
 * mounted for the test (skipped where mounting is not allowed).
 */
#include "tassert.h"
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

static char mnt[1200];
static int mounted;

static void setup(void)
{
    tu_tmpdir();
    snprintf(mnt, sizeof mnt, "%s", tu_path("small"));
    mkdir(mnt, 0755);
    mounted = mount("tmpfs", mnt, "tmpfs", 0, "size=3m") == 0;
}

static void teardown(void)
{
    if (mounted)
        umount(mnt);
    tu_tmpdir_remove();
}

Test(diskfull, a_full_disk_stops_the_run_with_a_clear_error_and_a_valid_index, .init = setup,
     .fini = teardown, .timeout = 120)
{
    if (!mounted)
        cr_skip_test("cannot mount a tmpfs here (needs root): skipped");
    const char *gen = getenv("TENDERIDX_GEN");
    cr_assert(gen != NULL);
    char cmd[8192], *out = NULL, *err = NULL;
    /* 12 MB of notices cannot fit in 3 MB, whatever the compression. */
    snprintf(cmd, sizeof cmd, "'%s' --docs 5000 --seed 9 -o '%s' -q", gen,
             tu_path("notices.jsonl"));
    cr_assert(eq(int, tu_run(cmd, NULL, NULL), 0));
    snprintf(cmd, sizeof cmd,
             "'%s' index -i '%s/idx' -p '%s/corpus/watchlist.tsv' --batch 256K --memory 16M "
             "--no-cache '%s'",
             tu_tenderidx(), mnt, TDX_SOURCE_ROOT, tu_path("notices.jsonl"));
    int st = tu_run(cmd, &out, &err);
    cr_assert(eq(int, st, 3), "exit %d: %s %s", st, out, err);
    cr_assert(strstr(err, "no space left on device") != NULL, "%s", err);
    cr_assert(strstr(err, "Segmentation") == NULL && strstr(err, "Bus error") == NULL, "%s", err);
    /* "N documents were committed before the error" (none: no such line):
     * exactly what the index holds. */
    const char *c = strstr(err, " documents were committed");
    uint64_t said = 0;
    while (c && c > err && (c[-1] == ',' || (c[-1] >= '0' && c[-1] <= '9')))
        c--;
    for (; c && (*c == ',' || (*c >= '0' && *c <= '9')); c++)
        if (*c != ',')
            said = said * 10 + (uint64_t)(*c - '0');
    free(out);
    free(err);
    snprintf(cmd, sizeof cmd, "'%s' stats --json -i '%s/idx'", tu_tenderidx(), mnt);
    cr_assert(eq(int, tu_run(cmd, &out, &err), 0), "%s", err);
    const char *d = strstr(out, "\"documents\":");
    cr_assert(d != NULL, "%s", out);
    cr_assert(eq(u64, (uint64_t)strtoull(d + strlen("\"documents\":"), NULL, 10), said), "%s", out);
    free(out);
    free(err);
    /* What was committed is intact and readable. */
    snprintf(cmd, sizeof cmd, "'%s' check -i '%s/idx'", tu_tenderidx(), mnt);
    st = tu_run(cmd, &out, &err);
    cr_assert(eq(int, st, 0), "check after a full disk: %s %s", out, err);
    free(out);
    free(err);
    snprintf(cmd, sizeof cmd, "'%s' query -i '%s/idx' --count cat:chip", tu_tenderidx(), mnt);
    st = tu_run(cmd, &out, &err);
    cr_assert(eq(int, st, 0), "query after a full disk: %s", err);
    free(out);
    free(err);
}
