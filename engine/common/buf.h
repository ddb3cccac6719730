/*
 * buf.h - growable byte buffer and small span/vector helpers.
 *
 * A tdx_buf owns its bytes; it grows by doubling and is reused across
 * documents with tdx_buf_reset(), so hot loops do not allocate once warm
 * (the FTS5 Fts5Buffer pattern).  The bytes are always followed by one NUL
 * that is not counted in len, so text buffers can be passed to C string
 * functions when they hold no embedded NUL.
 */
#ifndef TDX_COMMON_BUF_H
#define TDX_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "varint.h"

/** A borrowed byte range (cf. MDB_val). */
typedef struct tdx_span {
    const uint8_t *p;
    size_t len;
} tdx_span;

typedef struct tdx_buf {
    uint8_t *p;
    size_t len;
    size_t cap;
} tdx_buf;

#define TDX_BUF_INIT {NULL, 0, 0}

/** Make room for at least `extra` more bytes (+1 NUL).  0 or TDX_ENOMEM. */
int tdx_buf_grow(tdx_buf *b, size_t extra);
int tdx_buf_append(tdx_buf *b, const void *p, size_t n);
int tdx_buf_putc_slow(tdx_buf *b, uint8_t c);
int tdx_buf_put_varint_slow(tdx_buf *b, uint64_t v);
int tdx_buf_puts(tdx_buf *b, const char *s);
int tdx_buf_printf(tdx_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** Append v as 4 big-endian bytes. */
int tdx_buf_put_be32(tdx_buf *b, uint32_t v);
/** Append a varint length followed by the bytes. */
int tdx_buf_put_lenbytes(tdx_buf *b, const void *p, size_t n);

static inline void tdx_buf_reset(tdx_buf *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = 0;
}

/* The two appends of the hot loops (postings, records) stay inline while
 * there is room; growing is out of line. */
static inline int tdx_buf_putc(tdx_buf *b, uint8_t c)
{
    if (b->len + 1 >= b->cap)
        return tdx_buf_putc_slow(b, c);
    b->p[b->len++] = c;
    b->p[b->len] = 0;
    return 0;
}

/** Append the unsigned LEB128 encoding of v. */
static inline int tdx_buf_put_varint(tdx_buf *b, uint64_t v)
{
    if (b->len + TDX_VARINT_MAX + 1 > b->cap)
        return tdx_buf_put_varint_slow(b, v);
    b->len += tdx_varint_put(b->p + b->len, v);
    b->p[b->len] = 0;
    return 0;
}

/** Give up the memory; the buffer is empty and reusable afterwards. */
void tdx_buf_free(tdx_buf *b);

/** Take ownership of the bytes (NUL-terminated); b becomes empty. */
uint8_t *tdx_buf_steal(tdx_buf *b, size_t *out_len);

static inline tdx_span tdx_buf_span(const tdx_buf *b)
{
    tdx_span s = {b->p, b->len};
    return s;
}

#endif
