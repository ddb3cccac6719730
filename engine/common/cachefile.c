/*
 * cachefile.c - cache directory, sealed cache files, and looking after the
 * directory: listing what tenderidx wrote there, pruning what is old
 * (cachefile.h).
 */
#include "cachefile.h"

#include "alloc.h"
#include "hash.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define HEAD_BYTES (8 + 4 + 16)
#define SUM_BYTES  8
#define TMP_PREFIX ".cache-" /* then mkstemp's six letters or digits */

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
        snprintf(tmp, sizeof tmp, "%s/" TMP_PREFIX "XXXXXX", dir) >= (int)sizeof tmp)
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
    /* A hit makes the file young again, so pruning by age spares what is
     * still used.  A directory we may read but not write keeps the old
     * time: the file then ages as if unused, and costs one rebuild. */
    (void)utimensat(AT_FDCWD, path, NULL, 0);
    *out_file = f;
    *out_body = f + HEAD_BYTES;
    *out_body_len = len - HEAD_BYTES - SUM_BYTES;
    return 0;
}

/* ---- looking after the directory ------------------------------------------ */

/* The sealed files tenderidx writes: name and magic (cachefile.h). */
static const struct {
    const char *prefix, *suffix;
    char magic[8];
    tdx_cache_kind kind;
} sealed[] = {
    {"match-", ".hsdb", TDX_CACHE_MAGIC_WATCHLIST, TDX_CACHE_WATCHLIST},
    {"norm-", ".tab", TDX_CACHE_MAGIC_NORMALIZER, TDX_CACHE_NORMALIZER},
};

int tdx_cache_path(const char *dir, tdx_cache_kind kind, const uint64_t key[2], char *out,
                   size_t cap)
{
    for (size_t i = 0; i < sizeof sealed / sizeof sealed[0]; i++)
        if (sealed[i].kind == kind) {
            int n =
                snprintf(out, cap, "%s/%s%016llx%016llx%s", dir, sealed[i].prefix,
                         (unsigned long long)key[0], (unsigned long long)key[1], sealed[i].suffix);
            return n > 0 && (size_t)n < cap ? 0 : -1;
        }
    return -1;
}

static int has_affixes(const char *name, const char *prefix, const char *suffix)
{
    size_t n = strlen(name), p = strlen(prefix), s = strlen(suffix);
    return n >= p + s && memcmp(name, prefix, p) == 0 && memcmp(name + n - s, suffix, s) == 0;
}

/* ".cache-" and six of mkstemp's characters (ASCII letters and digits). */
static int is_tmp_name(const char *name)
{
    size_t p = strlen(TMP_PREFIX);
    if (strncmp(name, TMP_PREFIX, p) != 0 || strlen(name) != p + 6)
        return 0;
    for (const char *c = name + p; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')))
            return 0;
    return 1;
}

/* Fill *e and return 1 when name in the directory dfd is one of ours. */
static int classify(int dfd, const char *name, tdx_cache_entry *e)
{
    struct stat st;
    if (is_tmp_name(name)) {
        /* Any content, even none: the writer may have got no further. */
        if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode))
            return 0;
        e->kind = TDX_CACHE_PARTIAL;
    } else {
        size_t i = 0;
        while (i < sizeof sealed / sizeof sealed[0] &&
               !has_affixes(name, sealed[i].prefix, sealed[i].suffix))
            i++;
        if (i == sizeof sealed / sizeof sealed[0])
            return 0;
        /* O_NONBLOCK: a FIFO with our name must not hang the listing. */
        int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
            return 0;
        char m[8];
        int ours = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && pread(fd, m, 8, 0) == 8 &&
                   memcmp(m, sealed[i].magic, 8) == 0;
        close(fd);
        if (!ours)
            return 0;
        e->kind = sealed[i].kind;
    }
    snprintf(e->name, sizeof e->name, "%s", name);
    e->bytes = (uint64_t)st.st_size;
    e->mtime_s = (int64_t)st.st_mtim.tv_sec;
    return 1;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const tdx_cache_entry *)a)->name, ((const tdx_cache_entry *)b)->name);
}

int tdx_cache_list(const char *dir, tdx_cache_entry **out_entries, size_t *out_n, tdx_err *err)
{
    if (dir == NULL || out_entries == NULL || out_n == NULL)
        return tdx_err_set(err, TDX_EINVAL, "tdx_cache_list: NULL argument");
    DIR *d = opendir(dir);
    if (d == NULL && errno == ENOENT) {
        *out_entries = NULL;
        *out_n = 0;
        return 0;
    }
    if (d == NULL)
        return tdx_err_set(err, tdx_err_from_errno(errno), "cannot read cache directory '%s': %s",
                           dir, strerror(errno));
    tdx_cache_entry *e = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    for (;;) {
        errno = 0;
        struct dirent *de = readdir(d);
        if (de == NULL) {
            if (errno != 0)
                rc = tdx_err_set(err, tdx_err_from_errno(errno),
                                 "cannot read cache directory '%s': %s", dir, strerror(errno));
            break;
        }
        if (strlen(de->d_name) >= sizeof e->name)
            continue; /* longer than any name of ours */
        if ((rc = tdx_grow((void **)&e, &cap, n + 1, sizeof *e, 16)) != 0) {
            tdx_err_set(err, rc, "cannot list cache directory '%s': %s", dir, tdx_strerror(rc));
            break;
        }
        n += classify(dirfd(d), de->d_name, &e[n]);
    }
    closedir(d);
    if (rc != 0) {
        tdx_free(e);
        return rc;
    }
    if (n > 1)
        qsort(e, n, sizeof *e, by_name);
    if (n == 0) {
        tdx_free(e);
        e = NULL;
    }
    *out_entries = e;
    *out_n = n;
    return 0;
}

int tdx_cache_prune(const char *dir, uint64_t older_than_s, unsigned flags,
                    tdx_cache_prune_fn on_file, void *ctx, tdx_cache_prune_result *out_result,
                    tdx_err *err)
{
    if (out_result == NULL)
        return tdx_err_set(err, TDX_EINVAL, "tdx_cache_prune: NULL argument");
    tdx_cache_entry *e;
    size_t n;
    int rc = tdx_cache_list(dir, &e, &n, err);
    if (rc != 0)
        return rc;
    int64_t now = (int64_t)time(NULL);
    tdx_cache_prune_result r = {0};
    for (size_t i = 0; i < n; i++) {
        /* Ages as unsigned: a file dated in the future is young, not huge. */
        uint64_t age = e[i].mtime_s < now ? (uint64_t)(now - e[i].mtime_s) : 0;
        uint64_t limit =
            e[i].kind == TDX_CACHE_PARTIAL ? TDX_CACHE_PARTIAL_MAX_AGE_S : older_than_s;
        if (!(flags & TDX_CACHE_PRUNE_ALL) && age <= limit) {
            r.kept++;
            r.kept_bytes += e[i].bytes;
            continue;
        }
        int errnum = 0;
        if (!(flags & TDX_CACHE_PRUNE_DRY_RUN)) {
            char path[4096 + sizeof e[i].name];
            if (snprintf(path, sizeof path, "%s/%s", dir, e[i].name) >= (int)sizeof path)
                errnum = ENAMETOOLONG;
            else if (unlink(path) != 0 && errno != ENOENT)
                errnum = errno;
        }
        if (errnum) {
            r.failed++;
            r.failed_bytes += e[i].bytes;
        } else {
            r.removed++;
            r.removed_bytes += e[i].bytes;
        }
        if (on_file)
            on_file(ctx, &e[i], errnum);
    }
    tdx_free(e);
    *out_result = r;
    return 0;
}
