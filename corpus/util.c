/*
 * util.c - small helpers of corpus/gen: fatal errors, allocation that
 * cannot fail, UTF-8 edges, and the text transforms (normalize with the
 * tdx normalizer, Simplified -> Traditional with ICU, full-width folding).
 *
 * Single-threaded: the generator runs on one thread; a gen_norm holds the
 * normalizer state and is reused for every call.
 */
#include "gen.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/ustring.h>
#include <unicode/utrans.h>

#include "common/alloc.h"
#include "common/hash.h"
#include "common/utf8.h"

static void say(const char *prefix, const char *fmt, va_list ap)
{
    fputs(prefix, stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
}

void gen_die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say("gen: ", fmt, ap);
    va_end(ap);
    exit(GEN_EXIT_FATAL);
}

void gen_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    say("gen: warning: ", fmt, ap);
    va_end(ap);
}

void *gen_alloc(size_t n)
{
    void *p = tdx_calloc(1, n ? n : 1);
    if (p == NULL)
        gen_die("out of memory");
    return p;
}

void *gen_realloc(void *p, size_t n)
{
    void *q = tdx_realloc(p, n ? n : 1);
    if (q == NULL)
        gen_die("out of memory");
    return q;
}

char *gen_strndup(const char *s, size_t n)
{
    char *p = gen_alloc(n + 1);
    memcpy(p, s, n);
    return p;
}

void gen_put(tdx_buf *b, const void *p, size_t n)
{
    if (tdx_buf_append(b, p, n) != 0)
        gen_die("out of memory");
}

static size_t strmap_slot(const gen_strmap *m, const char *key)
{
    size_t mask = m->cap - 1, i = tdx_hash64(key, strlen(key)) & mask;
    while (m->keys[i] && strcmp(m->keys[i], key) != 0)
        i = (i + 1) & mask;
    return i;
}

uint32_t gen_strmap_get(const gen_strmap *m, const char *key)
{
    if (m->cap == 0)
        return UINT32_MAX;
    size_t i = strmap_slot(m, key);
    return m->keys[i] ? m->vals[i] : UINT32_MAX;
}

uint32_t gen_strmap_put(gen_strmap *m, const char *key, uint32_t val)
{
    if ((m->n + 1) * 2 > m->cap) {
        gen_strmap old = *m;
        m->cap = old.cap ? old.cap * 2 : 1024;
        m->keys = gen_alloc(m->cap * sizeof *m->keys);
        m->vals = gen_alloc(m->cap * sizeof *m->vals);
        for (size_t i = 0; i < old.cap; i++) {
            if (old.keys[i] == NULL)
                continue;
            size_t j = strmap_slot(m, old.keys[i]);
            m->keys[j] = old.keys[i];
            m->vals[j] = old.vals[i];
        }
        tdx_free(old.keys);
        tdx_free(old.vals);
    }
    size_t i = strmap_slot(m, key);
    if (m->keys[i])
        return m->vals[i];
    m->keys[i] = gen_strndup(key, strlen(key));
    m->vals[i] = val;
    m->n++;
    return val;
}

void gen_strmap_free(gen_strmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        tdx_free(m->keys[i]);
    tdx_free(m->keys);
    tdx_free(m->vals);
    memset(m, 0, sizeof *m);
}

uint32_t gen_cp(const uint8_t *p, const uint8_t *end, size_t *out_len)
{
    int32_t c = tdx_utf8_decode(p, end, out_len);
    return c < 0 ? p[0] : (uint32_t)c;
}

uint32_t gen_last_cp(const uint8_t *start, const uint8_t *end)
{
    if (end <= start)
        return 0;
    const uint8_t *p = end - 1;
    while (p > start && (*p & 0xC0) == 0x80 && end - p < 4)
        p--;
    size_t l;
    return gen_cp(p, end, &l);
}

int gen_is_cjk(uint32_t cp)
{
    if (cp < 0x80)
        return 0;
    return tdx_norm_char_class(cp) == TDX_CC_CJK;
}

void gen_norm_open(gen_norm *gn)
{
    tdx_err err = {0};
    memset(gn, 0, sizeof *gn);
    if (tdx_norm_create(TDX_NORM_ALL, &gn->norm, &err) != 0 ||
        tdx_norm_ctx_create(gn->norm, &gn->ctx, &err) != 0)
        gen_die("cannot create the normalizer: %s", err.msg);
    tdx_norm_out_init(&gn->out);
    UErrorCode st = U_ZERO_ERROR;
    UChar id[32];
    u_uastrcpy(id, "Simplified-Traditional");
    gn->s2t = utrans_openU(id, -1, UTRANS_FORWARD, NULL, 0, NULL, &st);
    if (U_FAILURE(st))
        gen_die("ICU Simplified-Traditional: %s", u_errorName(st));
}

void gen_norm_close(gen_norm *gn)
{
    tdx_norm_out_free(&gn->out);
    tdx_norm_ctx_free(gn->ctx);
    tdx_norm_free(gn->norm);
    if (gn->s2t)
        utrans_close(gn->s2t);
    memset(gn, 0, sizeof *gn);
}

static int is_ws_byte(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

void gen_normalize(gen_norm *gn, const char *s, size_t len, tdx_buf *out, int *lead_ws,
                   int *trail_ws)
{
    tdx_err err = {0};
    if (lead_ws)
        *lead_ws = len > 0 && is_ws_byte((uint8_t)s[0]);
    if (trail_ws)
        *trail_ws = len > 0 && is_ws_byte((uint8_t)s[len - 1]);
    /* Printable ASCII only folds case and collapses white space (NFKC_CF
     * and Traditional-Simplified leave it alone); skip ICU for it. */
    size_t i = 0;
    while (i < len &&
           (((uint8_t)s[i] >= 0x20 && (uint8_t)s[i] < 0x7F) || is_ws_byte((uint8_t)s[i])))
        i++;
    if (i == len) {
        tdx_buf_reset(out);
        if (tdx_buf_grow(out, len + 1) != 0)
            gen_die("out of memory");
        size_t o = 0;
        for (i = 0; i < len; i++) {
            uint8_t c = (uint8_t)s[i];
            if (is_ws_byte(c)) {
                if (o > 0 && out->p[o - 1] != ' ')
                    out->p[o++] = ' ';
                continue;
            }
            out->p[o++] = (uint8_t)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        }
        while (o > 0 && out->p[o - 1] == ' ')
            o--;
        out->len = o;
        out->p[o] = 0;
        return;
    }
    if (tdx_norm_run(gn->norm, gn->ctx, (const uint8_t *)s, len, &gn->out, &err) != 0)
        gen_die("normalize: %s", err.msg);
    const uint8_t *p = gn->out.text.p, *e = p + gn->out.text.len;
    while (p < e && *p == ' ')
        p++;
    while (e > p && e[-1] == ' ')
        e--;
    tdx_buf_reset(out);
    gen_put(out, p, (size_t)(e - p));
}

void gen_to_trad(gen_norm *gn, const char *s, size_t len, tdx_buf *out)
{
    UErrorCode st = U_ZERO_ERROR;
    int32_t ulen = 0;
    u_strFromUTF8(NULL, 0, &ulen, s, (int32_t)len, &st);
    st = U_ZERO_ERROR;
    int32_t cap = ulen * 2 + 16;
    UChar *u = gen_alloc((size_t)cap * sizeof(UChar));
    u_strFromUTF8(u, cap, &ulen, s, (int32_t)len, &st);
    int32_t limit = ulen;
    if (U_SUCCESS(st))
        utrans_transUChars(gn->s2t, u, &ulen, cap, 0, &limit, &st);
    if (U_FAILURE(st))
        gen_die("ICU Simplified-Traditional: %s", u_errorName(st));
    int32_t blen = 0;
    st = U_ZERO_ERROR;
    u_strToUTF8(NULL, 0, &blen, u, ulen, &st);
    tdx_buf_reset(out);
    if (tdx_buf_grow(out, (size_t)blen + 1) != 0)
        gen_die("out of memory");
    st = U_ZERO_ERROR;
    u_strToUTF8((char *)out->p, blen + 1, &blen, u, ulen, &st);
    if (U_FAILURE(st))
        gen_die("ICU UTF-8: %s", u_errorName(st));
    out->len = (size_t)blen;
    out->p[blen] = 0;
    tdx_free(u);
}

void gen_to_fullwidth(const char *s, size_t len, tdx_buf *out)
{
    tdx_buf_reset(out);
    for (size_t i = 0; i < len; i++) {
        uint8_t c = (uint8_t)s[i];
        if (gen_is_alnum(c)) {
            /* U+FF01..U+FF5E mirror U+0021..U+007E */
            uint32_t cp = 0xFF01 + (c - 0x21u);
            uint8_t b[3] = {(uint8_t)(0xE0 | (cp >> 12)), (uint8_t)(0x80 | ((cp >> 6) & 0x3F)),
                            (uint8_t)(0x80 | (cp & 0x3F))};
            gen_put(out, b, 3);
        } else {
            gen_put(out, &c, 1);
        }
    }
}

int gen_parse_size(const char *s, uint64_t *out)
{
    char *e;
    errno = 0;
    double v = strtod(s, &e);
    if (errno || v < 0 || e == s)
        return -1;
    switch (*e) {
    case 'k':
    case 'K':
        v *= 1e3;
        e++;
        break;
    case 'm':
    case 'M':
        v *= 1e6;
        e++;
        break;
    case 'g':
    case 'G':
        v *= 1e9;
        e++;
        break;
    default:
        break;
    }
    if (*e == 'B' || *e == 'b')
        e++;
    if (*e)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

int gen_parse_u64(const char *s, uint64_t *out)
{
    char *e;
    errno = 0;
    unsigned long long v = strtoull(s, &e, 0);
    if (errno || *e || e == s || *s == '-')
        return -1;
    *out = v;
    return 0;
}

void gen_ymd(int32_t day, int *y, int *m, int *dd)
{
    /* days since 1970-01-01 -> civil date (Howard Hinnant's algorithm) */
    int32_t z = day + 719468;
    int32_t era = (z >= 0 ? z : z - 146096) / 146097;
    uint32_t doe = (uint32_t)(z - era * 146097);
    uint32_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int32_t yy = (int32_t)yoe + era * 400;
    uint32_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    uint32_t mp = (5 * doy + 2) / 153;
    *dd = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yy + (*m <= 2);
}

int32_t gen_days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int32_t era = (y >= 0 ? y : y - 399) / 400;
    uint32_t yoe = (uint32_t)(y - era * 400);
    uint32_t doy = (uint32_t)((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1);
    uint32_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int32_t)doe - 719468;
}
