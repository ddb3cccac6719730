/*
 * utf8.h - minimal, strict UTF-8 decoding and encoding.
 *
 * Strict means what the Unicode standard calls well-formed: no overlong
 * forms, no surrogates, nothing above U+10FFFF.  The decoder reports the
 * length of a maximal ill-formed subpart (Unicode 3.9, "U+FFFD substitution
 * of maximal subparts"), which is also what ICU's converters do, so every
 * module replaces invalid input the same way.
 */
#ifndef TDX_COMMON_UTF8_H
#define TDX_COMMON_UTF8_H

#include <stddef.h>
#include <stdint.h>

#define TDX_UTF8_INVALID (-1)

/**
 * Decode one code point from [p, end) (p < end).  Returns the code point and
 * sets *out_len to the bytes consumed; on ill-formed input returns
 * TDX_UTF8_INVALID and sets *out_len to the length of the maximal ill-formed
 * subpart (at least 1).
 */
static inline int32_t tdx_utf8_decode(const uint8_t *p, const uint8_t *end, size_t *out_len)
{
    uint8_t c = p[0];
    size_t avail = (size_t)(end - p);
    if (c < 0x80) {
        *out_len = 1;
        return c;
    }
    if (c < 0xC2 || c > 0xF4) {
        *out_len = 1;
        return TDX_UTF8_INVALID;
    }
    if (c < 0xE0) {
        if (avail < 2 || (p[1] & 0xC0) != 0x80) {
            *out_len = 1;
            return TDX_UTF8_INVALID;
        }
        *out_len = 2;
        return ((int32_t)(c & 0x1F) << 6) | (p[1] & 0x3F);
    }
    if (c < 0xF0) {
        uint8_t lo = 0x80, hi = 0xBF;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
        if (avail < 2 || p[1] < lo || p[1] > hi) {
            *out_len = 1;
            return TDX_UTF8_INVALID;
        }
        if (avail < 3 || (p[2] & 0xC0) != 0x80) {
            *out_len = 2;
            return TDX_UTF8_INVALID;
        }
        *out_len = 3;
        return ((int32_t)(c & 0x0F) << 12) | ((int32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
    }
    {
        uint8_t lo = 0x80, hi = 0xBF;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
        if (avail < 2 || p[1] < lo || p[1] > hi) {
            *out_len = 1;
            return TDX_UTF8_INVALID;
        }
        if (avail < 3 || (p[2] & 0xC0) != 0x80) {
            *out_len = 2;
            return TDX_UTF8_INVALID;
        }
        if (avail < 4 || (p[3] & 0xC0) != 0x80) {
            *out_len = 3;
            return TDX_UTF8_INVALID;
        }
        *out_len = 4;
        return ((int32_t)(c & 0x07) << 18) | ((int32_t)(p[1] & 0x3F) << 12) |
               ((int32_t)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
    }
}

/** Encode cp (a scalar value) at p (room for 4 bytes); returns bytes written. */
static inline size_t tdx_utf8_encode(uint8_t *p, uint32_t cp)
{
    if (cp < 0x80) {
        p[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        p[0] = (uint8_t)(0xC0 | (cp >> 6));
        p[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        p[0] = (uint8_t)(0xE0 | (cp >> 12));
        p[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        p[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    p[0] = (uint8_t)(0xF0 | (cp >> 18));
    p[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    p[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    p[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/** 1 if [p, p+n) is entirely well-formed UTF-8. */
int tdx_utf8_valid(const uint8_t *p, size_t n);

/** Offset of the first ill-formed byte, or n when [p, p+n) is valid. */
size_t tdx_utf8_first_invalid(const uint8_t *p, size_t n);

#endif
