/*
 * utf8.c - UTF-8 validation with an ASCII fast path (see utf8.h).
 */
#include "utf8.h"

#include <string.h>

size_t tdx_utf8_first_invalid(const uint8_t *p, size_t n)
{
    const uint8_t *s = p, *end = p + n;
    while (s < end) {
        /* Skip ASCII eight bytes at a time: most markup and metadata is ASCII. */
        while (end - s >= 8) {
            uint64_t w;
            memcpy(&w, s, 8);
            if (w & 0x8080808080808080ULL)
                break;
            s += 8;
        }
        if (s >= end)
            break;
        if (*s < 0x80) {
            s++;
            continue;
        }
        size_t len;
        if (tdx_utf8_decode(s, end, &len) == TDX_UTF8_INVALID)
            return (size_t)(s - p);
        s += len;
    }
    return n;
}

int tdx_utf8_valid(const uint8_t *p, size_t n)
{
    return tdx_utf8_first_invalid(p, n) == n;
}
