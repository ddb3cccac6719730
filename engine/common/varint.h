/*
 * varint.h - unsigned LEB128 and big-endian fixed-width integers.
 *
 * Postings, document records and hit lists are sequences of varints: 7 bits
 * per byte, least significant group first, high bit set on every byte but
 * the last.  Decoding is bounds-checked: a truncated or over-long varint is
 * reported (return 0), never read past the end, so corrupt LMDB values turn
 * into TDX_ECORRUPT instead of crashes.
 */
#ifndef TDX_COMMON_VARINT_H
#define TDX_COMMON_VARINT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define TDX_VARINT_MAX 10

/** Write v at p (room for TDX_VARINT_MAX bytes); returns bytes written. */
static inline size_t tdx_varint_put(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/** Bytes tdx_varint_put would write for v. */
static inline size_t tdx_varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/**
 * Read a varint from [p, end).  Returns the number of bytes consumed, or 0
 * if the input is truncated or the value does not fit in 64 bits.
 */
static inline size_t tdx_varint_get(const uint8_t *p, const uint8_t *end, uint64_t *out)
{
    /* Most values in postings (doc deltas, positions) take one or two bytes. */
    if (end - p >= 2) {
        if (p[0] < 0x80) {
            *out = p[0];
            return 1;
        }
        if (p[1] < 0x80) {
            *out = (uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7;
            return 2;
        }
    }
    uint64_t v = 0;
    unsigned shift = 0;
    const uint8_t *q = p;
    while (q < end) {
        uint8_t c = *q++;
        if (shift == 63 && c > 1)
            return 0;
        v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *out = v;
            return (size_t)(q - p);
        }
        shift += 7;
        if (shift > 63)
            return 0;
    }
    return 0;
}

/**
 * Step over m varints in [p, end), eight bytes at a time (a varint ends at
 * each byte whose high bit is clear).  Returns the bytes they take, or 0
 * when fewer than m end before `end`.  Lengths are not checked here: the
 * values are checked when they are decoded.
 */
static inline size_t tdx_varint_skip(const uint8_t *p, const uint8_t *end, uint64_t m)
{
    const uint8_t *q = p;
    while (m && end - q >= 8) {
        uint64_t w;
        memcpy(&w, q, 8);
        /* A 1 in each byte whose high bit is clear (a terminator); the
         * multiply leaves in byte j the terminators in bytes 0..j (at most
         * 8, so no carries), in the top byte the word's count. */
        uint64_t pre = ((~w & 0x8080808080808080ULL) >> 7) * 0x0101010101010101ULL;
        uint64_t k = pre >> 56;
        if (k >= m) {
            /* The first byte whose count reaches m ends the run: its
             * high bit survives the subtraction. */
            uint64_t ge =
                ((pre | 0x8080808080808080ULL) - m * 0x0101010101010101ULL) & 0x8080808080808080ULL;
            return (size_t)(q - p) + ((unsigned)__builtin_ctzll(ge) >> 3) + 1;
        }
        m -= k;
        q += 8;
    }
    for (; m && q < end; q++)
        m -= !(*q & 0x80);
    return m ? 0 : (size_t)(q - p);
}

/** Same as tdx_varint_get, for values that must fit in 32 bits. */
static inline size_t tdx_varint_get32(const uint8_t *p, const uint8_t *end, uint32_t *out)
{
    uint64_t v;
    size_t n = tdx_varint_get(p, end, &v);
    if (n == 0 || v > UINT32_MAX)
        return 0;
    *out = (uint32_t)v;
    return n;
}

static inline void tdx_be16_put(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline uint16_t tdx_be16_get(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

static inline void tdx_be32_put(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline uint32_t tdx_be32_get(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static inline void tdx_be64_put(uint8_t *p, uint64_t v)
{
    tdx_be32_put(p, (uint32_t)(v >> 32));
    tdx_be32_put(p + 4, (uint32_t)v);
}

static inline uint64_t tdx_be64_get(const uint8_t *p)
{
    return ((uint64_t)tdx_be32_get(p) << 32) | tdx_be32_get(p + 4);
}

#endif
