/*
 * buf.c - growable byte buffer (see buf.h).
 */
#include "buf.h"

#include "alloc.h"
#include "err.h"
#include "varint.h"

#include <stdarg.h>
#include <stdio.h>

int tdx_buf_grow(tdx_buf *b, size_t extra)
{
    if (extra > SIZE_MAX / 2 - b->len)
        return TDX_ENOMEM;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    uint8_t *p = tdx_realloc(b->p, cap);
    if (p == NULL)
        return TDX_ENOMEM;
    b->p = p;
    b->cap = cap;
    b->p[b->len] = 0; /* the promised NUL, also for a buffer never written */
    return 0;
}

int tdx_buf_append(tdx_buf *b, const void *p, size_t n)
{
    int rc = tdx_buf_grow(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->p + b->len, p, n);
    b->len += n;
    b->p[b->len] = 0;
    return 0;
}

int tdx_buf_putc_slow(tdx_buf *b, uint8_t c)
{
    if (b->len + 1 >= b->cap) {
        int rc = tdx_buf_grow(b, 1);
        if (rc)
            return rc;
    }
    b->p[b->len++] = c;
    b->p[b->len] = 0;
    return 0;
}

int tdx_buf_puts(tdx_buf *b, const char *s)
{
    return tdx_buf_append(b, s, strlen(s));
}

int tdx_buf_printf(tdx_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return TDX_EINVAL;
    int rc = tdx_buf_grow(b, (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

int tdx_buf_put_varint_slow(tdx_buf *b, uint64_t v)
{
    int rc = tdx_buf_grow(b, TDX_VARINT_MAX);
    if (rc)
        return rc;
    b->len += tdx_varint_put(b->p + b->len, v);
    b->p[b->len] = 0;
    return 0;
}

int tdx_buf_put_be32(tdx_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    return tdx_buf_append(b, x, 4);
}

int tdx_buf_put_lenbytes(tdx_buf *b, const void *p, size_t n)
{
    int rc = tdx_buf_put_varint(b, n);
    return rc ? rc : tdx_buf_append(b, p, n);
}

void tdx_buf_free(tdx_buf *b)
{
    tdx_free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

uint8_t *tdx_buf_steal(tdx_buf *b, size_t *out_len)
{
    if (b->p == NULL && tdx_buf_grow(b, 0) != 0)
        return NULL;
    uint8_t *p = b->p;
    if (out_len)
        *out_len = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}
