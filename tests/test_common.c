/*
 * test_common.c - varint, buffer, UTF-8, queue and budget behaviour; the
 * cache directory's files: last-used time, listing, pruning.
 */
#include "tassert.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/alloc.h"
#include "common/buf.h"
#include "common/cachefile.h"
#include "common/docset.h"
#include "common/err.h"
#include "common/memfind.h"
#include "common/queue.h"
#include "common/utf8.h"
#include "common/varint.h"
#include "testutil.h"

Test(common, varint_round_trips_seeded_random_values)
{
    uint64_t seed = tu_seed("varint"), st = seed;
    uint8_t buf[TDX_VARINT_MAX * 1000];
    uint64_t vals[1000];
    for (int round = 0; round < 50; round++) {
        size_t off = 0;
        for (int i = 0; i < 1000; i++) {
            uint64_t r = tu_rand(&st);
            vals[i] = r >> (r % 64);
            off += tdx_varint_put(buf + off, vals[i]);
        }
        const uint8_t *p = buf, *end = buf + off;
        for (int i = 0; i < 1000; i++) {
            uint64_t v;
            size_t n = tdx_varint_get(p, end, &v);
            cr_assert(n > 0, "seed %llu: decode failed at %d", (unsigned long long)seed, i);
            cr_assert(eq(u64, v, vals[i]), "seed %llu", (unsigned long long)seed);
            cr_assert(eq(sz, n, tdx_varint_len(vals[i])));
            p += n;
        }
        cr_assert(eq(ptr, (void *)p, (void *)end));
    }
}

Test(common, varint_skip_agrees_with_decoding_one_by_one)
{
    uint64_t seed = tu_seed("varint_skip"), st = seed;
    uint8_t buf[TDX_VARINT_MAX * 300];
    size_t ends[301];
    for (int round = 0; round < 200; round++) {
        size_t nv = 1 + tu_rand(&st) % 300, off = 0;
        ends[0] = 0;
        for (size_t i = 0; i < nv; i++) {
            /* Half of one or two bytes, as positions are: many ends per word. */
            uint64_t r = tu_rand(&st);
            off += tdx_varint_put(buf + off, round % 2 ? r % 300 : r >> (r % 64));
            ends[i + 1] = off;
        }
        /* Skip m from any varint start, within the data and past its end;
         * half of the runs end inside the first eight bytes or so. */
        for (int k = 0; k < 40; k++) {
            size_t from = tu_rand(&st) % nv;
            size_t m = 1 + tu_rand(&st) % (k % 2 ? 9 : nv - from + 2);
            size_t want = from + m <= nv ? ends[from + m] - ends[from] : 0;
            cr_assert(eq(sz, tdx_varint_skip(buf + ends[from], buf + off, m), want),
                      "seed %llu: skip %zu from %zu of %zu", (unsigned long long)seed, m, from,
                      nv);
        }
    }
}

/* The obvious search: every start, byte by byte. */
static const uint8_t *naive_find(const uint8_t *h, size_t n, const uint8_t *nd, size_t m)
{
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(h + i, nd, m) == 0)
            return h + i;
    return NULL;
}

Test(common, memfind_agrees_with_the_obvious_search)
{
    uint64_t seed = tu_seed("memfind"), st = seed;
    uint8_t h[600], nd[40];
    for (int round = 0; round < 20000; round++) {
        /* Small alphabets make partial matches (first and last byte equal)
         * common; needles are often cut from the haystack. */
        unsigned alpha = 1 + (unsigned)(tu_rand(&st) % 5);
        size_t n = tu_rand(&st) % sizeof h, m = tu_rand(&st) % 20;
        for (size_t i = 0; i < n; i++)
            h[i] = (uint8_t)('0' + tu_rand(&st) % alpha);
        if (n && m && m <= n && tu_rand(&st) % 2) {
            memcpy(nd, h + tu_rand(&st) % (n - m + 1), m);
        } else {
            for (size_t i = 0; i < m; i++)
                nd[i] = (uint8_t)('0' + tu_rand(&st) % (alpha + 1));
        }
        /* Any start, so loads run up to the haystack's very end. */
        size_t from = n ? tu_rand(&st) % n : 0;
        cr_assert(eq(ptr, (void *)tdx_memfind(h + from, n - from, nd, m),
                     (void *)naive_find(h + from, n - from, nd, m)),
                  "seed %llu round %d: n %zu m %zu", (unsigned long long)seed, round, n - from,
                  m);
    }
}

Test(common, docset_bits_union_and_cursor_lookups_agree_with_the_obvious)
{
    uint64_t seed = tu_seed("docbits"), st = seed;
    enum { U = 5000 };
    static uint8_t in[U + 2000];
    for (int round = 0; round < 100; round++) {
        memset(in, 0, sizeof in);
        tdx_docbits bits;
        cr_assert(eq(int, tdx_docbits_init(&bits, (uint32_t)(tu_rand(&st) % U)), 0));
        size_t nsets = 1 + tu_rand(&st) % 20;
        tdx_docset d = {0};
        for (size_t k = 0; k < nsets; k++) {
            d.n = 0;
            size_t density = 1 + tu_rand(&st) % 300; /* ids past the universe too */
            for (uint32_t id = 1; id < U + 2000; id++)
                if (tu_rand(&st) % density == 0) {
                    cr_assert(eq(int, tdx_docset_push(&d, id), 0));
                    in[id] = 1;
                }
            cr_assert(eq(int, tdx_docbits_add(&bits, &d), 0));
        }
        cr_assert(eq(int, tdx_docbits_take(&bits, &d), 0));
        size_t j = 0;
        for (uint32_t id = 0; id < U + 2000; id++)
            if (in[id]) {
                cr_assert(lt(sz, j, d.n), "seed %llu", (unsigned long long)seed);
                cr_assert(eq(u32, d.v[j], id), "seed %llu", (unsigned long long)seed);
                j++;
            }
        cr_assert(eq(sz, j, d.n));
        /* Lookups from a cursor: increasing with gaps, then any order. */
        size_t at = 0;
        for (uint32_t id = (uint32_t)(tu_rand(&st) % 7); id < U + 2100;
             id += 1 + (uint32_t)(tu_rand(&st) % 40))
            cr_assert(eq(int, tdx_docset_has_from(&d, &at, id), id < U + 2000 && in[id]),
                      "seed %llu id %u", (unsigned long long)seed, id);
        for (int k = 0; k < 500; k++) {
            uint32_t id = (uint32_t)(tu_rand(&st) % (U + 2000));
            cr_assert(eq(int, tdx_docset_has_from(&d, &at, id), in[id]));
            cr_assert(eq(int, tdx_docset_has(&d, id), in[id]));
        }
        tdx_docset_free(&d);
    }
}

Test(common, gallop_agrees_with_a_linear_scan_from_every_start)
{
    uint64_t seed = tu_seed("gallop"), st = seed;
    uint32_t v[300];
    /* Ids from 0, across 2^31 (the vector compare is signed) and up to
     * the top of the range. */
    const uint32_t bases[3] = {0, 0x7FFFFF80u, 0xFFFFFA00u};
    for (int round = 0; round < 300; round++) {
        size_t n = tu_rand(&st) % 300;
        uint32_t base = bases[round % 3], x = base;
        for (size_t i = 0; i < n; i++) {
            x += (uint32_t)(tu_rand(&st) % 4); /* repeats as well as gaps */
            v[i] = x;
        }
        for (size_t lo = 0; lo <= n; lo++)
            for (int k = 0; k < 8; k++) {
                uint32_t want = base + (uint32_t)(tu_rand(&st) % (x - base + 3));
                size_t slow = lo;
                while (slow < n && v[slow] < want)
                    slow++;
                cr_assert(eq(sz, tdx_u32_gallop(v, n, lo, want), slow),
                          "seed %llu: n %zu lo %zu x %u", (unsigned long long)seed, n, lo, want);
            }
    }
}

Test(common, varint_truncated_and_overlong_are_rejected)
{
    uint8_t b[12];
    size_t n = tdx_varint_put(b, UINT64_MAX);
    cr_assert(eq(sz, n, 10));
    uint64_t v;
    for (size_t cut = 0; cut < n; cut++)
        cr_assert(eq(sz, tdx_varint_get(b, b + cut, &v), 0), "cut %zu", cut);
    memset(b, 0xff, sizeof b);
    cr_assert(eq(sz, tdx_varint_get(b, b + sizeof b, &v), 0));
    uint32_t v32;
    n = tdx_varint_put(b, (uint64_t)UINT32_MAX + 1);
    cr_assert(eq(sz, tdx_varint_get32(b, b + n, &v32), 0));
}

Test(common, buf_grows_and_stays_nul_terminated)
{
    tdx_buf b = TDX_BUF_INIT;
    for (int i = 0; i < 10000; i++)
        cr_assert(eq(int, tdx_buf_putc(&b, (uint8_t)('a' + i % 26)), 0));
    cr_assert(eq(sz, b.len, 10000));
    cr_assert(eq(int, b.p[b.len], 0));
    cr_assert(eq(int, tdx_buf_printf(&b, "%d-%s", 42, "x"), 0));
    cr_assert(eq(str, (char *)b.p + 10000, "42-x"));
    tdx_buf_reset(&b);
    cr_assert(eq(sz, b.len, 0));
    tdx_buf_free(&b);
    cr_assert(eq(ptr, b.p, NULL));
}

Test(common, buf_reports_enomem_and_keeps_contents)
{
    tdx_buf b = TDX_BUF_INIT;
    cr_assert(eq(int, tdx_buf_puts(&b, "abc"), 0));
    tdx_alloc_fail_after(0);
    char big[1000] = {0};
    int rc = tdx_buf_append(&b, big, sizeof big);
    tdx_alloc_fail_after(-1);
    cr_assert(eq(int, rc, TDX_ENOMEM));
    cr_assert(eq(sz, b.len, 3));
    cr_assert(eq(str, (char *)b.p, "abc"));
    tdx_buf_free(&b);
}

/* Slow, obvious classification of one sequence, straight from the table in
 * Unicode 15 section 3.9 (well-formed byte sequences). */
static int naive_valid_seq(const uint8_t *p, size_t n)
{
    if (n == 1)
        return p[0] < 0x80;
    if (n == 2)
        return p[0] >= 0xC2 && p[0] <= 0xDF && p[1] >= 0x80 && p[1] <= 0xBF;
    if (n == 3) {
        int ok1 = (p[0] == 0xE0 && p[1] >= 0xA0 && p[1] <= 0xBF) ||
                  (p[0] >= 0xE1 && p[0] <= 0xEC && p[1] >= 0x80 && p[1] <= 0xBF) ||
                  (p[0] == 0xED && p[1] >= 0x80 && p[1] <= 0x9F) ||
                  (p[0] >= 0xEE && p[0] <= 0xEF && p[1] >= 0x80 && p[1] <= 0xBF);
        return ok1 && p[2] >= 0x80 && p[2] <= 0xBF;
    }
    if (n == 4) {
        int ok1 = (p[0] == 0xF0 && p[1] >= 0x90 && p[1] <= 0xBF) ||
                  (p[0] >= 0xF1 && p[0] <= 0xF3 && p[1] >= 0x80 && p[1] <= 0xBF) ||
                  (p[0] == 0xF4 && p[1] >= 0x80 && p[1] <= 0x8F);
        return ok1 && p[2] >= 0x80 && p[2] <= 0xBF && p[3] >= 0x80 && p[3] <= 0xBF;
    }
    return 0;
}

Test(common, utf8_decode_agrees_with_the_unicode_table_on_every_code_point)
{
    for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
        if (cp >= 0xD800 && cp <= 0xDFFF)
            continue;
        uint8_t b[4];
        size_t n = tdx_utf8_encode(b, cp), l;
        cr_assert(naive_valid_seq(b, n), "U+%04X", cp);
        cr_assert(eq(i32, tdx_utf8_decode(b, b + n, &l), (int32_t)cp));
        cr_assert(eq(sz, l, n));
    }
}

Test(common, utf8_decode_rejects_every_ill_formed_short_sequence)
{
    /* Every 1- and 2-byte sequence, and every 3-byte sequence whose lead is
     * E0, ED, EF or F0/F4-prefixed: the decoder must accept exactly the
     * well-formed ones and never consume past the end. */
    for (unsigned a = 0; a < 256; a++) {
        uint8_t b1[1] = {(uint8_t)a};
        size_t l;
        int32_t cp = tdx_utf8_decode(b1, b1 + 1, &l);
        cr_assert(eq(int, cp >= 0, naive_valid_seq(b1, 1)), "%02X", a);
        cr_assert(eq(sz, l, 1));
        for (unsigned c = 0; c < 256; c++) {
            uint8_t b2[2] = {(uint8_t)a, (uint8_t)c};
            cp = tdx_utf8_decode(b2, b2 + 2, &l);
            cr_assert(l >= 1 && l <= 2);
            /* A 2-byte call decodes a complete character only when the pair
             * is well-formed; a well-formed lead of a longer sequence with
             * no room left is an ill-formed subpart. */
            if (naive_valid_seq(b2, 2))
                cr_assert(eq(i32, cp, ((int32_t)(a & 0x1F) << 6) | (c & 0x3F)), "%02X %02X", a, c);
            else if (a < 0x80)
                cr_assert(eq(sz, l, 1));
            else
                cr_assert(eq(i32, cp, TDX_UTF8_INVALID), "%02X %02X", a, c);
        }
    }
    cr_assert(eq(sz, tdx_utf8_first_invalid((const uint8_t *)"ab\xe4\xb8", 4), 2));
    cr_assert(eq(sz, tdx_utf8_first_invalid((const uint8_t *)"\xe4\xb8\xad\xed\xa0\x80", 6), 3));
    cr_assert(tdx_utf8_valid((const uint8_t *)"\xe4\xb8\xad\xe6\x96\x87 ok", 9));
}

typedef struct {
    tdx_queue *q;
    int n;
} prod_arg;

static void *producer(void *arg)
{
    prod_arg *a = arg;
    for (intptr_t i = 1; i <= a->n; i++)
        if (tdx_queue_push(a->q, (void *)i) != 0)
            break;
    return NULL;
}

Test(common, queue_delivers_every_item_in_order_through_a_tiny_ring)
{
    tdx_queue *q;
    cr_assert(eq(int, tdx_queue_create(3, &q), 0));
    prod_arg a = {q, 100000};
    pthread_t t;
    pthread_create(&t, NULL, producer, &a);
    intptr_t want = 1;
    void *item;
    while (want <= a.n && tdx_queue_pop(q, &item)) {
        cr_assert(eq(i64, (intptr_t)item, want));
        want++;
    }
    pthread_join(t, NULL);
    tdx_queue_close(q);
    cr_assert(eq(int, tdx_queue_pop(q, &item), 0));
    cr_assert(eq(int, tdx_queue_push(q, (void *)1), TDX_ECANCELED));
    tdx_queue_free(q);
    cr_assert(eq(int, tdx_queue_create(0, &q), TDX_EINVAL));
}

Test(common, closed_queue_drains_before_end_of_stream)
{
    tdx_queue *q;
    cr_assert(eq(int, tdx_queue_create(4, &q), 0));
    tdx_queue_push(q, (void *)7);
    tdx_queue_push(q, (void *)8);
    tdx_queue_close(q);
    void *item;
    cr_assert(eq(int, tdx_queue_pop(q, &item), 1));
    cr_assert(eq(ptr, item, (void *)7));
    cr_assert(eq(int, tdx_queue_pop(q, &item), 1));
    cr_assert(eq(ptr, item, (void *)8));
    cr_assert(eq(int, tdx_queue_pop(q, &item), 0));
    tdx_queue_free(q);
}

Test(common, budget_grants_oversized_request_only_when_idle)
{
    tdx_budget b;
    cr_assert(eq(int, tdx_budget_init(&b, 100), 0));
    cr_assert(eq(int, tdx_budget_acquire(&b, 500), 0));
    cr_assert(eq(sz, tdx_budget_peak(&b), 500));
    tdx_budget_release(&b, 500);
    cr_assert(eq(int, tdx_budget_acquire(&b, 60), 0));
    tdx_budget_close(&b);
    cr_assert(eq(int, tdx_budget_acquire(&b, 60), TDX_ECANCELED));
    tdx_budget_destroy(&b);
}

Test(common, budget_counts_taken_and_held_bytes_without_waiting)
{
    tdx_budget b;
    cr_assert(eq(int, tdx_budget_init(&b, 100), 0));
    cr_assert(eq(int, tdx_budget_acquire(&b, 90), 0));
    /* A batch found larger than its estimate: counted now, past the limit
     * (a take that waited would hang here: nothing else releases). */
    tdx_budget_take(&b, 50);
    cr_assert(eq(sz, tdx_budget_peak(&b), 140));
    tdx_budget_hold(&b, 80);
    cr_assert(eq(sz, tdx_budget_peak(&b), 220));
    tdx_budget_release(&b, 140);
    /* Held bytes count against the limit, but with no batch in flight a
     * request is granted still: the run slows, it never stops. */
    cr_assert(eq(int, tdx_budget_acquire(&b, 60), 0));
    cr_assert(eq(sz, tdx_budget_peak(&b), 220));
    tdx_budget_release(&b, 60);
    cr_assert(eq(int, tdx_budget_acquire(&b, 10), 0));
    tdx_budget_take(&b, 200);
    cr_assert(eq(sz, tdx_budget_peak(&b), 290));
    tdx_budget_close(&b);
    cr_assert(eq(int, tdx_budget_acquire(&b, 1), TDX_ECANCELED));
    tdx_budget_destroy(&b);
}

Test(common, first_error_wins)
{
    tdx_err e = {0};
    cr_assert(eq(int, tdx_err_set(&e, TDX_EIO, "cannot read '%s'", "a.txt"), TDX_EIO));
    cr_assert(eq(int, tdx_err_set(&e, TDX_ENOMEM, "later"), TDX_ENOMEM));
    cr_assert(eq(int, e.code, TDX_EIO));
    cr_assert(eq(str, e.msg, "cannot read 'a.txt'"));
    cr_assert(eq(str, (char *)tdx_errname(TDX_ECORRUPT), "TDX_ECORRUPT"));
    cr_assert(eq(str, (char *)tdx_strerror(12345), "unknown error"));
    tdx_err_clear(&e);
    cr_assert(eq(int, e.code, 0));
}

/* ---- the cache directory -------------------------------------------------- */

static void tmp_setup(void)
{
    tu_tmpdir();
}

static void tmp_teardown(void)
{
    tu_tmpdir_remove();
}

/* A sealed cache file dir/name with body_len bytes of body; its size. */
static uint64_t put_cache_file(const char *dir, const char *name, const char magic[8],
                               size_t body_len)
{
    const uint64_t key[2] = {0x0123456789abcdefULL, 0xfedcba9876543210ULL};
    tdx_buf b = TDX_BUF_INIT;
    cr_assert(eq(int, tdx_cache_begin(&b, magic, 1, key), 0));
    for (size_t i = 0; i < body_len; i++)
        cr_assert(eq(int, tdx_buf_putc(&b, (uint8_t)i), 0));
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cr_assert(eq(int, tdx_cache_store(&b, dir, path), 0));
    tdx_buf_free(&b);
    struct stat st;
    cr_assert(eq(int, stat(path, &st), 0));
    return (uint64_t)st.st_size;
}

/* Set both times of path (a link itself, not its target) to `ago` seconds
 * before now. */
static void set_age(const char *path, int64_t ago)
{
    struct timespec t[2];
    t[0].tv_sec = t[1].tv_sec = time(NULL) - ago;
    t[0].tv_nsec = t[1].tv_nsec = 0;
    cr_assert(eq(int, utimensat(AT_FDCWD, path, t, AT_SYMLINK_NOFOLLOW), 0), "utimensat %s", path);
}

static int64_t mtime_of(const char *path)
{
    struct stat st;
    cr_assert(eq(int, stat(path, &st), 0), "stat %s", path);
    return (int64_t)st.st_mtim.tv_sec;
}

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

#define DAY (24 * 3600)

Test(common, cache_hit_moves_mtime_forward_and_a_miss_does_not, .init = tmp_setup,
     .fini = tmp_teardown)
{
    const char *dir = tu_path("cache");
    const char *path = tu_path("cache/match-1.hsdb");
    put_cache_file(dir, "match-1.hsdb", "TDXHSDB", 100);
    set_age(path, 40 * DAY);
    int64_t old = mtime_of(path);
    const uint64_t key[2] = {0x0123456789abcdefULL, 0xfedcba9876543210ULL};
    const uint64_t other[2] = {1, 2};
    uint8_t *f = NULL;
    const uint8_t *body;
    size_t len;
    /* A miss (another key) is not a use. */
    cr_assert(eq(int, tdx_cache_load(path, "TDXHSDB", 1, other, &f, &body, &len), -1));
    cr_assert(eq(i64, mtime_of(path), old));
    int64_t before = (int64_t)time(NULL);
    cr_assert(eq(int, tdx_cache_load(path, "TDXHSDB", 1, key, &f, &body, &len), 0));
    cr_assert(eq(sz, len, 100));
    tdx_free(f);
    cr_assert(ge(i64, mtime_of(path), before), "mtime %lld, load at %lld",
              (long long)mtime_of(path), (long long)before);
}

/* The directory of the listing and pruning tests: ours and foreign files. */
typedef struct cache_fixture {
    const char *dir;
    uint64_t match_bytes, norm_bytes, old_match_bytes;
} cache_fixture;

static const char *const foreign[] = {
    "norm-x.tab",          /* right name, a watch list's magic */
    "match-y.hsdb",        /* right name, too short for a magic */
    "notes.txt",           /* a magic, but not our name */
    "match-sub.hsdb/keep", /* a directory with our name */
    "sub/norm-z.tab",      /* one of ours, but in a subdirectory */
    ".cache-ab",           /* temporary names that mkstemp does not make */
    ".cache-abc12!",       /* */
    ".cache-dir123",       /* a directory with a temporary name */
    "norm-link.tab",       /* a link to one of ours */
};

static cache_fixture make_fixture(void)
{
    cache_fixture fx;
    fx.dir = tu_tmpdir();
    fx.match_bytes =
        put_cache_file(fx.dir, "match-0123456789abcdef0123456789abcdef.hsdb", "TDXHSDB", 1000);
    fx.norm_bytes =
        put_cache_file(fx.dir, "norm-00000000000000000000000000000001.tab", "TDXNORM", 300);
    fx.old_match_bytes = put_cache_file(fx.dir, "match-old.hsdb", "TDXHSDB", 50);
    put_cache_file(fx.dir, "norm-x.tab", "TDXHSDB", 10);
    tu_write_str(tu_path("match-y.hsdb"), "TDX");
    tu_write_str(tu_path("notes.txt"), "TDXNORM\0 not ours either");
    cr_assert(eq(int, mkdir(tu_path("match-sub.hsdb"), 0777), 0));
    tu_write_str(tu_path("match-sub.hsdb/keep"), "x");
    put_cache_file(tu_path("sub"), "norm-z.tab", "TDXNORM", 10);
    tu_write_str(tu_path(".cache-ab"), "half");
    tu_write_str(tu_path(".cache-abc12!"), "half");
    cr_assert(eq(int, mkdir(tu_path(".cache-dir123"), 0777), 0));
    cr_assert(
        eq(int, symlink("norm-00000000000000000000000000000001.tab", tu_path("norm-link.tab")), 0));
    tu_write_str(tu_path(".cache-abc123"), "a live writer");
    tu_write_str(tu_path(".cache-Old999"), "a killed writer");
    /* Foreign files are old, so only their not being ours keeps them. */
    for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++)
        set_age(tu_path(foreign[i]), 400 * DAY);
    set_age(tu_path("match-old.hsdb"), 31 * DAY);
    set_age(tu_path("norm-00000000000000000000000000000001.tab"), 8 * DAY);
    set_age(tu_path(".cache-abc123"), 5 * 60);
    set_age(tu_path(".cache-Old999"), 2 * 3600);
    return fx;
}

static void expect_foreign_files_remain(void)
{
    for (size_t i = 0; i < sizeof foreign / sizeof foreign[0]; i++)
        cr_expect(exists(tu_path(foreign[i])), "%s was removed", foreign[i]);
}

Test(common, cache_list_reports_our_files_with_kind_size_and_time, .init = tmp_setup,
     .fini = tmp_teardown)
{
    cache_fixture fx = make_fixture();
    tdx_cache_entry *e = NULL;
    size_t n = 0;
    tdx_err err = {0};
    cr_assert(eq(int, tdx_cache_list(fx.dir, &e, &n, &err), 0), "%s", err.msg);
    static const struct {
        const char *name;
        tdx_cache_kind kind;
    } want[] = {
        {".cache-Old999", TDX_CACHE_PARTIAL},
        {".cache-abc123", TDX_CACHE_PARTIAL},
        {"match-0123456789abcdef0123456789abcdef.hsdb", TDX_CACHE_WATCHLIST},
        {"match-old.hsdb", TDX_CACHE_WATCHLIST},
        {"norm-00000000000000000000000000000001.tab", TDX_CACHE_NORMALIZER},
    };
    cr_assert(eq(sz, n, sizeof want / sizeof want[0]));
    for (size_t i = 0; i < n; i++) {
        cr_expect(eq(str, e[i].name, (char *)want[i].name));
        cr_expect(eq(int, e[i].kind, want[i].kind), "%s", e[i].name);
        struct stat st;
        cr_assert(eq(int, stat(tu_path(e[i].name), &st), 0));
        cr_expect(eq(u64, e[i].bytes, (uint64_t)st.st_size), "%s", e[i].name);
        cr_expect(eq(i64, e[i].mtime_s, (int64_t)st.st_mtim.tv_sec), "%s", e[i].name);
    }
    /* Sizes as written: header, body, checksum. */
    cr_expect(eq(u64, e[2].bytes, 8 + 4 + 16 + 1000 + 8));
    cr_expect(eq(u64, e[2].bytes, fx.match_bytes));
    cr_expect(eq(u64, e[4].bytes, fx.norm_bytes));
    cr_expect(eq(u64, e[0].bytes, strlen("a killed writer")));
    tdx_free(e);
}

Test(common, cache_list_of_a_missing_directory_is_empty_and_of_a_file_an_error, .init = tmp_setup,
     .fini = tmp_teardown)
{
    tdx_cache_entry *e = (tdx_cache_entry *)1;
    size_t n = 99;
    tdx_err err = {0};
    cr_assert(eq(int, tdx_cache_list(tu_path("nowhere/cache"), &e, &n, &err), 0));
    cr_assert(eq(sz, n, 0));
    cr_assert(eq(ptr, e, NULL));
    /* Not a directory: an error naming it and the reason (also as root,
     * which a mode of 000 would not stop). */
    const char *file = tu_path("plain");
    tu_write_str(file, "x");
    n = 99;
    cr_assert(eq(int, tdx_cache_list(file, &e, &n, &err), TDX_EIO));
    cr_assert(eq(sz, n, 99), "out-parameters are written only on success");
    char want[4200];
    snprintf(want, sizeof want, "cannot read cache directory '%s': %s", file, strerror(ENOTDIR));
    cr_assert(eq(str, err.msg, want));
    tdx_err_clear(&err);
    cr_assert(eq(int, tdx_cache_list(NULL, &e, &n, &err), TDX_EINVAL));
    tdx_cache_prune_result r;
    cr_assert(eq(int, tdx_cache_prune(file, 0, 0, NULL, NULL, &r, NULL), TDX_EIO));
    cr_assert(eq(int, tdx_cache_prune(file, 0, 0, NULL, NULL, NULL, NULL), TDX_EINVAL));
}

Test(common, cache_list_out_of_memory_returns_enomem_and_leaves_no_list, .init = tmp_setup,
     .fini = tmp_teardown)
{
    cache_fixture fx = make_fixture();
    int rc = TDX_ENOMEM;
    long k;
    for (k = 0; rc != 0; k++) {
        tdx_cache_entry *e = NULL;
        size_t n = 99;
        tdx_err err = {0};
        tdx_alloc_fail_after(k);
        rc = tdx_cache_list(fx.dir, &e, &n, &err);
        tdx_alloc_fail_after(-1);
        if (rc) {
            cr_assert(eq(int, rc, TDX_ENOMEM), "allocation %ld: %s", k, err.msg);
            cr_assert(eq(sz, n, 99));
            cr_assert(eq(ptr, e, NULL));
        } else {
            cr_assert(eq(sz, n, 5));
            tdx_free(e);
        }
    }
    cr_assert(k > 1);
}

typedef struct seen {
    char names[16][256];
    int errnums[16];
    size_t n;
} seen;

static void note(void *ctx, const tdx_cache_entry *e, int errnum)
{
    seen *s = ctx;
    cr_assert(s->n < 16);
    snprintf(s->names[s->n], sizeof s->names[0], "%s", e->name);
    s->errnums[s->n++] = errnum;
}

static int saw(const seen *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0)
            return 1;
    return 0;
}

Test(common, cache_prune_by_age_removes_only_old_files_of_ours, .init = tmp_setup,
     .fini = tmp_teardown)
{
    cache_fixture fx = make_fixture();
    /* A dry run first: the same decisions, nothing removed. */
    seen dry = {0}, wet = {0};
    tdx_cache_prune_result d, r;
    tdx_err err = {0};
    cr_assert(eq(int,
                 tdx_cache_prune(fx.dir, 30 * DAY, TDX_CACHE_PRUNE_DRY_RUN, note, &dry, &d, &err),
                 0),
              "%s", err.msg);
    cr_assert(exists(tu_path("match-old.hsdb")));
    cr_assert(exists(tu_path(".cache-Old999")));
    cr_assert(eq(int, tdx_cache_prune(fx.dir, 30 * DAY, 0, note, &wet, &r, &err), 0), "%s",
              err.msg);
    /* Gone: the 31-day-old watch list and the 2-hour-old partial write. */
    uint64_t partial = strlen("a killed writer");
    for (int pass = 0; pass < 2; pass++) {
        const tdx_cache_prune_result *x = pass ? &r : &d;
        const seen *s = pass ? &wet : &dry;
        cr_expect(eq(sz, x->removed, 2), "pass %d", pass);
        cr_expect(eq(u64, x->removed_bytes, fx.old_match_bytes + partial), "pass %d", pass);
        cr_expect(eq(sz, x->kept, 3), "pass %d", pass);
        cr_expect(eq(u64, x->kept_bytes, fx.match_bytes + fx.norm_bytes + strlen("a live writer")),
                  "pass %d", pass);
        cr_expect(eq(sz, x->failed, 0));
        cr_expect(eq(sz, s->n, 2));
        cr_expect(saw(s, "match-old.hsdb") && saw(s, ".cache-Old999"), "pass %d", pass);
        cr_expect(eq(int, s->errnums[0] | s->errnums[1], 0));
    }
    cr_expect(exists(tu_path("match-old.hsdb")) == 0);
    cr_expect(exists(tu_path(".cache-Old999")) == 0);
    cr_expect(exists(tu_path("match-0123456789abcdef0123456789abcdef.hsdb")));
    cr_expect(exists(tu_path("norm-00000000000000000000000000000001.tab")));
    /* Five minutes old: maybe a live writer's, kept whatever the cutoff. */
    cr_expect(exists(tu_path(".cache-abc123")));
    expect_foreign_files_remain();

    /* A week: the 8-day-old tables go too; the fresh watch list and the
     * young partial write stay even with a cutoff of 0. */
    cr_assert(eq(int, tdx_cache_prune(fx.dir, 7 * DAY, 0, NULL, NULL, &r, &err), 0));
    cr_expect(eq(sz, r.removed, 1));
    cr_expect(exists(tu_path("norm-00000000000000000000000000000001.tab")) == 0);
    set_age(tu_path("match-0123456789abcdef0123456789abcdef.hsdb"), -3600);
    cr_assert(eq(int, tdx_cache_prune(fx.dir, 0, 0, NULL, NULL, &r, &err), 0));
    cr_expect(eq(sz, r.removed, 0), "a file dated in the future is young");
    cr_expect(eq(sz, r.kept, 2));
    expect_foreign_files_remain();
}

Test(common, cache_prune_all_removes_every_file_of_ours_and_nothing_else, .init = tmp_setup,
     .fini = tmp_teardown)
{
    cache_fixture fx = make_fixture();
    tdx_cache_prune_result d, r;
    tdx_err err = {0};
    unsigned all = TDX_CACHE_PRUNE_ALL;
    cr_assert(eq(
        int, tdx_cache_prune(fx.dir, 0, all | TDX_CACHE_PRUNE_DRY_RUN, NULL, NULL, &d, &err), 0));
    tdx_cache_entry *e;
    size_t n;
    cr_assert(eq(int, tdx_cache_list(fx.dir, &e, &n, &err), 0));
    cr_assert(eq(sz, n, 5), "a dry run removes nothing");
    tdx_free(e);
    cr_assert(eq(int, tdx_cache_prune(fx.dir, 0, all, NULL, NULL, &r, &err), 0));
    uint64_t bytes = fx.match_bytes + fx.norm_bytes + fx.old_match_bytes + strlen("a live writer") +
                     strlen("a killed writer");
    cr_expect(eq(sz, r.removed, 5));
    cr_expect(eq(u64, r.removed_bytes, bytes));
    cr_expect(eq(sz, r.kept, 0));
    cr_expect(eq(sz, d.removed, r.removed));
    cr_expect(eq(u64, d.removed_bytes, r.removed_bytes));
    cr_assert(eq(int, tdx_cache_list(fx.dir, &e, &n, &err), 0));
    cr_expect(eq(sz, n, 0));
    expect_foreign_files_remain();
}

Test(common, cache_prune_reports_a_file_it_cannot_remove_and_goes_on, .init = tmp_setup,
     .fini = tmp_teardown)
{
    /* Root may unlink from a read-only directory: nothing to see then. */
    if (geteuid() == 0)
        cr_skip_test("running as root");
    cache_fixture fx = make_fixture();
    cr_assert(eq(int, mkdir(tu_path("ro"), 0777), 0));
    uint64_t b = put_cache_file(tu_path("ro"), "norm-a.tab", "TDXNORM", 5);
    put_cache_file(tu_path("ro"), "norm-b.tab", "TDXNORM", 5);
    cr_assert(eq(int, chmod(tu_path("ro"), 0555), 0));
    seen s = {0};
    tdx_cache_prune_result r;
    tdx_err err = {0};
    int rc = tdx_cache_prune(tu_path("ro"), 0, TDX_CACHE_PRUNE_ALL, note, &s, &r, &err);
    chmod(tu_path("ro"), 0755);
    cr_assert(eq(int, rc, 0), "%s", err.msg);
    cr_expect(eq(sz, r.failed, 2));
    cr_expect(eq(u64, r.failed_bytes, 2 * b));
    cr_expect(eq(sz, r.removed, 0));
    cr_assert(eq(sz, s.n, 2));
    cr_expect(eq(int, s.errnums[0], EACCES));
    cr_expect(eq(int, s.errnums[1], EACCES));
    cr_expect(exists(tu_path("ro/norm-a.tab")));
    (void)fx;
}
