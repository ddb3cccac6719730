/*
 * cachefile.c - cache directory, sealed cache files (cachefile.h).
 */
#include "cachefile.h"

#include "alloc.h"
#include "hash.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEAD_BYTES (8 + 4 + 16)
#define SUM_BYTES  8

void tdx_cache_dir(const char *opt, char *out, size_t cap)
{
    const char *env;
    int n = 0;
    if (opt)
        n = snprintf(out, cap, "%s", opt);
    else if ((env = getenv("TENDERIDX_CACHE_DIR")) != NULL)
        n = snprintf(out, cap, "%s", env);
    else if ((env = getenv("XDG_CACHE_HOME")) != NULL && env[0])
        n = snprintf(out, cap, "%s/tenderidx", env);
    else if ((env = getenv("HOME")) != NULL && env[0])
        n = snprintf(out, cap, "%s/.cache/tenderidx", env);
    if (n <= 0 || (size_t)n >= cap) /* none, or a path too long to use whole */
        out[0] = '\0';
}

/* mkdir -p; 0 when the directory exists afterwards. */
static int make_dirs(char *path)
{
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int r = mkdir(path, 0777);
        *p = '/';
        if (r != 0 && errno != EEXIST)
            return -1;
    }
    return mkdir(path, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void key_bytes(const uint64_t key[2], uint8_t out[16])
{
    for (int i = 0; i < 16; i++)
        out[i] = (uint8_t)(key[i / 8] >> (56 - 8 * (i % 8)));
}

int tdx_cache_begin(tdx_buf *b, const char magic[8], uint32_t format, const uint64_t key[2])
{
    uint8_t k[16];
    key_bytes(key, k);
    tdx_buf_reset(b);
    int rc = tdx_buf_append(b, magic, 8);
    rc = rc ? rc : tdx_buf_put_be32(b, format);
    return rc ? rc : tdx_buf_append(b, k, sizeof k);
}

int tdx_cache_store(tdx_buf *b, const char *dir, const char *path)
{
    uint64_t sum = tdx_hash64(b->p, b->len);
    if (tdx_buf_put_be32(b, (uint32_t)(sum >> 32)) || tdx_buf_put_be32(b, (uint32_t)sum))
        return -1;
    char d[4096], tmp[4200];
    if (snprintf(d, sizeof d, "%s", dir) >= (int)sizeof d || make_dirs(d) != 0 ||
        snprintf(tmp, sizeof tmp, "%s/.cache-XXXXXX", dir) >= (int)sizeof tmp)
        return -1;
    int fd = mkstemp(tmp);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < b->len) {
        ssize_t w = write(fd, b->p + off, b->len - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    if (close(fd) != 0 || off != b->len || rename(tmp, path) != 0) {
        unlink(tmp);
        return -1;
    }
    return 0;
}

static int read_whole(const char *path, uint8_t **out, size_t *out_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    uint8_t *p = NULL;
    size_t got = 0;
    if (fstat(fd, &st) == 0 && st.st_size > 0 && (uint64_t)st.st_size < ((uint64_t)1 << 32) &&
        (p = tdx_malloc((size_t)st.st_size)) != NULL) {
        while (got < (size_t)st.st_size) {
            ssize_t n = read(fd, p + got, (size_t)st.st_size - got);
            if (n <= 0)
                break;
            got += (size_t)n;
        }
    }
    close(fd);
    if (p == NULL || got != (size_t)st.st_size) {
        tdx_free(p);
        return -1;
    }
    *out = p;
    *out_len = got;
    return 0;
}

int tdx_cache_load(const char *path, const char magic[8], uint32_t format, const uint64_t key[2],
                   uint8_t **out_file, const uint8_t **out_body, size_t *out_body_len)
{
    uint8_t *f = NULL;
    size_t len = 0;
    if (read_whole(path, &f, &len) != 0)
        return -1;
    uint8_t k[16];
    key_bytes(key, k);
    uint64_t stored = 0;
    if (len >= HEAD_BYTES + SUM_BYTES)
        for (int i = 0; i < SUM_BYTES; i++)
            stored = stored << 8 | f[len - SUM_BYTES + i];
    if (len < HEAD_BYTES + SUM_BYTES || memcmp(f, magic, 8) != 0 || get_be32(f + 8) != format ||
        memcmp(f + 12, k, 16) != 0 || tdx_hash64(f, len - SUM_BYTES) != stored) {
        tdx_free(f);
        return -1;
    }
    *out_file = f;
    *out_body = f + HEAD_BYTES;
    *out_body_len = len - HEAD_BYTES - SUM_BYTES;
    return 0;
}
