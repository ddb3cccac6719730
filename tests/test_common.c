/*
 * test_common.c - varint, buffer, UTF-8, queue and budget behaviour.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <pthread.h>
#include <string.h>

#include "common/alloc.h"
#include "common/buf.h"
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
    for (int round = 0; round < 200; round++) {
        size_t n = tu_rand(&st) % 300;
        uint32_t x = 0;
        for (size_t i = 0; i < n; i++) {
            x += (uint32_t)(tu_rand(&st) % 4); /* repeats as well as gaps */
            v[i] = x;
        }
        for (size_t lo = 0; lo <= n; lo++)
            for (int k = 0; k < 8; k++) {
                uint32_t want = (uint32_t)(tu_rand(&st) % (x + 3));
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
