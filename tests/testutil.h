/*
 * testutil.h - helpers shared by the Criterion suites: private temporary
 * directories, running the tenderidx binary, reading files, seeded RNG.
 */
#ifndef TDX_TESTUTIL_H
#define TDX_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

/** Make a fresh private directory under $TMPDIR; returns a static path. */
const char *tu_tmpdir(void);
/** Remove the directory made by tu_tmpdir() and everything below it. */
void tu_tmpdir_remove(void);
/** Path inside the temp dir (static buffer rotated among 8 slots). */
const char *tu_path(const char *name);

/** Write a file; aborts the test on failure. */
void tu_write_file(const char *path, const void *data, size_t len);
void tu_write_str(const char *path, const char *s);
/** Read a whole file into an owned NUL-terminated buffer (free()). */
char *tu_read_file(const char *path, size_t *out_len);

/**
 * Run a shell command; capture stdout (and stderr) into owned buffers when
 * the pointers are non-NULL.  Returns the exit status (or 128+signal).
 */
int tu_run(const char *cmd, char **out_stdout, char **out_stderr);
/** Path of the tenderidx binary under test ($TENDERIDX). */
const char *tu_tenderidx(void);

/** splitmix64: small, seedable, good enough for test data. */
static inline uint64_t tu_rand(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
/** Seed from $TDX_TEST_SEED if set, else from the clock; printed to stderr. */
uint64_t tu_seed(const char *what);

#endif
