/*
 * utf8x.c - UTF-8 validation and repair for the reader stage.
 *
 * Every JSON Lines record and every text or HTML document passes through
 * tdx_reader_utf8_check() before anything else looks at it, so this is on
 * the reader's hot path.  The checker is the common scalar decoder
 * (common/utf8.h) with an ASCII skip; the answer (offset of the first
 * ill-formed byte) is the same on every path.  Repair replaces maximal
 * ill-formed subparts with U+FFFD, as ICU's converters do.
 *
 * Threading: pure functions.
 */
#include "reader_int.h"

#include "../common/utf8.h"

#include <string.h>

size_t tdx_reader_utf8_check(const uint8_t *p, size_t n)
{
    return tdx_utf8_first_invalid(p, n);
}

long tdx_reader_utf8_repair(const uint8_t *p, size_t n, tdx_buf *out)
{
    static const uint8_t fffd[3] = {0xEF, 0xBF, 0xBD};
    const uint8_t *s = p, *end = p + n;
    long bad = 0;
    while (s < end) {
        size_t ok = tdx_reader_utf8_check(s, (size_t)(end - s));
        if (tdx_buf_append(out, s, ok) != 0)
            return TDX_ENOMEM;
        s += ok;
        if (s >= end)
            break;
        size_t len;
        tdx_utf8_decode(s, end, &len);
        s += len;
        bad++;
        if (tdx_buf_append(out, fffd, 3) != 0)
            return TDX_ENOMEM;
    }
    return bad;
}
