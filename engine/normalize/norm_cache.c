/*
 * norm_cache.c - a normalizer's tables kept in the cache directory
 * (tdx_norm_create_cached).
 *
 * Building the tables asks ICU about every code point and opens ICU's
 * Traditional-Simplified transliterator: about 490M instructions, 0.1 s on
 * the machines measured, which was most of a `tenderidx query` and a step
 * every index run took alone before its reader started.  Loading them is a
 * read of about 3 MB.
 *
 * The tables depend only on the steps, the ICU and Unicode versions and
 * the code that builds them; the file's key is made of exactly those (the
 * code as a hash of the normalizer's sources taken at build time, see
 * meson.build), so a file is only ever loaded by a build that would compute
 * the same tables.  The identity stored with them is the one the building
 * run computed, and it is checked against an index's record exactly as a
 * freshly built normalizer's would be.  The class table (a process-wide
 * table the tokenizers share) is in the file too: it is installed when the
 * process has none yet, and a file whose class table differs from the one
 * the process already has is a miss.
 *
 * File: the sealed layout of common/cachefile.h, magic "TDXNORM", with
 * this body in the machine's own byte order and sizes (a cache file
 * belongs to one machine, and the key names the layout that wrote it):
 *     char identity[192]
 *     u32 steps, t2s_icu, phrase_inline, ascii_block
 *     u64 e_invalid, table_bytes, npairmask, npool, nphrases, nbpool, npairs_cap
 *     u64 fast_bmp[0x10000], pairmask[npairmask]
 *     fast, nf, t1: each u16 idx[0x1100], u64 nblocks, u32 blocks[nblocks * 256]
 *     u32 pool[npool], norm_phrase phrases[nphrases], u8 bpool[nbpool],
 *     norm_pair pairs[npairs_cap]
 *     u8 class table[0x110000]
 *
 * Threading: as tdx_norm_create.
 */
#include "norm_int.h"

#include "normalize/norm_src_hash.h"

#include "../common/alloc.h"
#include "../common/cachefile.h"
#include "../common/hash.h"

#include <stdio.h>
#include <string.h>
#include <unicode/uchar.h>

#define NORM_CACHE_FORMAT 1u
#define NORM_CACHE_MAGIC  TDX_CACHE_MAGIC_NORMALIZER
#define NCLASS            0x110000

static int cache_key(unsigned steps, uint64_t out[2])
{
    char uni[U_MAX_VERSION_STRING_LENGTH];
    UVersionInfo uv;
    u_getUnicodeVersion(uv);
    u_versionToString(uv, uni);
    const uint32_t order = 0x01020304;
    char k[512];
    int n = snprintf(
        k, sizeof k,
        "tenderidx normalizer cache %u\nsteps %u\nicu %s\nunicode %s\nsources %016llx\n"
        "layout %zu %zu %zu %zu %u\n",
        NORM_CACHE_FORMAT, steps, tdx_norm_icu_version(), uni,
        (unsigned long long)TDX_NORM_SRC_HASH, sizeof(tdx_norm), sizeof(cptab), sizeof(norm_phrase),
        sizeof(norm_pair), (unsigned)*(const uint8_t *)&order); /* 4: little-endian */
    if (n <= 0 || (size_t)n >= sizeof k)
        return -1;
    tdx_hash128(k, (size_t)n, out);
    return 0;
}

/* ---- writing ----------------------------------------------------------------- */

static int put_u64(tdx_buf *b, uint64_t v)
{
    return tdx_buf_append(b, &v, sizeof v);
}

static int put_tab(tdx_buf *b, const cptab *t)
{
    int rc = tdx_buf_append(b, t->idx, sizeof t->idx);
    rc = rc ? rc : put_u64(b, t->nblocks);
    return rc ? rc : tdx_buf_append(b, t->blocks, t->nblocks * 256 * sizeof(uint32_t));
}

static void cache_save(const tdx_norm *n, const char *dir, const char *path, const uint64_t key[2])
{
    const uint8_t *cls = norm_class_table();
    tdx_buf b = TDX_BUF_INIT;
    uint32_t w[4] = {n->steps, (uint32_t)n->t2s_icu, (uint32_t)n->phrase_inline,
                     (uint32_t)n->ascii_block};
    uint64_t c[7] = {n->e_invalid, n->table_bytes, n->npairmask, n->npool,
                     n->nphrases,  n->nbpool,      n->npairs_cap};
    int rc = cls ? tdx_cache_begin(&b, NORM_CACHE_MAGIC, NORM_CACHE_FORMAT, key) : -1;
    rc = rc ? rc : tdx_buf_append(&b, n->identity, sizeof n->identity);
    rc = rc ? rc : tdx_buf_append(&b, w, sizeof w);
    rc = rc ? rc : tdx_buf_append(&b, c, sizeof c);
    rc = rc ? rc : tdx_buf_append(&b, n->fast_bmp, 0x10000 * sizeof *n->fast_bmp);
    rc = rc ? rc : tdx_buf_append(&b, n->pairmask, n->npairmask * sizeof *n->pairmask);
    rc = rc ? rc : put_tab(&b, &n->fast);
    rc = rc ? rc : put_tab(&b, &n->nf);
    rc = rc ? rc : put_tab(&b, &n->t1);
    rc = rc ? rc : tdx_buf_append(&b, n->pool, n->npool * sizeof *n->pool);
    rc = rc ? rc : tdx_buf_append(&b, n->phrases, n->nphrases * sizeof *n->phrases);
    rc = rc ? rc : tdx_buf_append(&b, n->bpool, n->nbpool);
    rc = rc ? rc : tdx_buf_append(&b, n->pairs, n->npairs_cap * sizeof *n->pairs);
    rc = rc ? rc : tdx_buf_append(&b, cls, NCLASS);
    if (rc == 0)
        tdx_cache_store(&b, dir, path);
    tdx_buf_free(&b);
}

/* ---- reading ----------------------------------------------------------------- */

typedef struct reader {
    const uint8_t *p, *end;
    int bad;
} reader;

static void take(reader *r, void *dst, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        return;
    }
    memcpy(dst, r->p, n);
    r->p += n;
}

/* A copy of the next count x size bytes in its own allocation (NULL for
 * none); an oversized count marks r bad. */
static void *take_array(reader *r, uint64_t count, size_t size)
{
    if (r->bad || count > (uint64_t)(r->end - r->p) / size) {
        r->bad = 1;
        return NULL;
    }
    if (count == 0)
        return NULL;
    void *a = tdx_malloc((size_t)count * size);
    if (a == NULL) {
        r->bad = 1;
        return NULL;
    }
    take(r, a, (size_t)count * size);
    return a;
}

static void take_tab(reader *r, cptab *t)
{
    uint64_t nb = 0;
    take(r, t->idx, sizeof t->idx);
    take(r, &nb, sizeof nb);
    if (nb > 0x1100) /* more blocks than index entries: not a table */
        r->bad = 1;
    t->blocks = take_array(r, nb * 256, sizeof(uint32_t));
    t->nblocks = (size_t)nb;
    /* Every block index must name a block. */
    for (size_t i = 0; !r->bad && i < 0x1100; i++)
        if (t->idx[i] >= nb)
            r->bad = 1;
}

/* The tables of n from the file's body; 0, or -1 (what was read stays in
 * n, for tdx_norm_free). */
static int cache_read(tdx_norm *n, unsigned steps, const uint8_t *body, size_t len)
{
    reader r = {body, body + len, 0};
    uint32_t w[4] = {0};
    uint64_t c[7] = {0};
    take(&r, n->identity, sizeof n->identity);
    take(&r, w, sizeof w);
    take(&r, c, sizeof c);
    n->fast_bmp = take_array(&r, 0x10000, sizeof *n->fast_bmp);
    n->pairmask = take_array(&r, c[2], sizeof *n->pairmask);
    take_tab(&r, &n->fast);
    take_tab(&r, &n->nf);
    take_tab(&r, &n->t1);
    n->pool = take_array(&r, c[3], sizeof *n->pool);
    n->phrases = take_array(&r, c[4], sizeof *n->phrases);
    n->bpool = take_array(&r, c[5], 1);
    n->pairs = take_array(&r, c[6], sizeof *n->pairs);
    const uint8_t *cls = r.p;
    if (!r.bad && (size_t)(r.end - r.p) != NCLASS)
        r.bad = 1;
    n->npairmask = (size_t)c[2];
    n->npool = (size_t)c[3];
    n->nphrases = (size_t)c[4];
    n->nbpool = (size_t)c[5];
    n->npairs_cap = (size_t)c[6];
    /* The hot loop trusts the pair table's size (a power of two), the
     * identity's termination and the class table; the checksum vouches
     * for the rest. */
    if (r.bad || w[0] != steps || n->pairmask == NULL ||
        (n->npairs_cap & (n->npairs_cap - 1)) != 0 ||
        memchr(n->identity, '\0', sizeof n->identity) == NULL || norm_class_install(cls) != 0)
        return -1;
    n->t2s_icu = (int)w[1];
    n->phrase_inline = (int)w[2];
    n->ascii_block = (int)w[3];
    n->e_invalid = c[0];
    n->table_bytes = (size_t)c[1];
    return 0;
}

int tdx_norm_create_cached(unsigned steps, const char *cache_dir, const char *expect,
                           tdx_norm **out_norm, tdx_err *err)
{
    char dir[4096], path[4200];
    uint64_t key[2];
    tdx_cache_dir(cache_dir, dir, sizeof dir);
    if (dir[0] == '\0' || (steps & ~(unsigned)TDX_NORM_ALL) || out_norm == NULL ||
        cache_key(steps, key) != 0 ||
        tdx_cache_path(dir, TDX_CACHE_NORMALIZER, key, path, sizeof path) != 0)
        return tdx_norm_create(steps, out_norm, err);

    uint8_t *file = NULL;
    const uint8_t *body;
    size_t len;
    if (tdx_cache_load(path, NORM_CACHE_MAGIC, NORM_CACHE_FORMAT, key, &file, &body, &len) == 0) {
        tdx_norm *n = tdx_calloc(1, sizeof *n);
        UErrorCode st = U_ZERO_ERROR;
        int ok = n != NULL && cache_read(n, steps, body, len) == 0;
        tdx_free(file);
        if (ok)
            n->nfkc_cf = unorm2_getNFKCCasefoldInstance(&st);
        if (ok && U_SUCCESS(st) && (expect == NULL || strcmp(n->identity, expect) == 0)) {
            n->steps = steps;
            n->from_cache = 1;
            *out_norm = n;
            return 0;
        }
        tdx_norm_free(n);
    }
    int rc = tdx_norm_create(steps, out_norm, err);
    if (rc == 0)
        cache_save(*out_norm, dir, path, key);
    return rc;
}

int tdx_norm_from_cache(const tdx_norm *n)
{
    return n ? n->from_cache : 0;
}
