/*
 * utf8x.c - UTF-8 validation and repair for the reader stage.
 *
 * Every JSON Lines record and every text or HTML document passes through
 * tdx_reader_utf8_check() before anything else looks at it, so this is on
 * the reader's hot path.  Notices are mostly CJK (three-byte sequences), so
 * an ASCII skip alone does not help; on AVX2 machines the check classifies
 * 32 bytes at a time with the "lookup" method of Keiser and Lemire
 * ("Validating UTF-8 In Less Than One Instruction Per Byte", 2021): three
 * 16-entry nibble tables give, for every byte and its predecessor, the set
 * of errors the pair could be part of; the sets are intersected, and the
 * bytes that must be the second or third continuation of a 3- or 4-byte
 * sequence are checked separately.  Vectors only say "some error in this
 * block": the exact offset, which rejects and repairs report, comes from
 * the scalar decoder (common/utf8.h) restarted at the last character
 * boundary before the block, so every path gives the same answer.
 *
 * Threading: pure functions.
 */
#include "reader_int.h"

#include "../common/utf8.h"

#include <immintrin.h>
#include <string.h>

/* Error classes of a (previous byte, byte) pair; see the paper's Table 4. */
#define TOO_SHORT    (1 << 0) /* lead byte followed by a non-continuation */
#define TOO_LONG     (1 << 1) /* ASCII followed by a continuation */
#define OVERLONG_3   (1 << 2) /* E0 followed by 80..9F */
#define TOO_LARGE    (1 << 3) /* above U+10FFFF */
#define SURROGATE    (1 << 4) /* ED followed by A0..BF */
#define OVERLONG_2   (1 << 5) /* C0, C1 */
#define TOO_LARGE_1K (1 << 6) /* F5.. followed by 80..8F */
#define OVERLONG_4   (1 << 6) /* F0 followed by 80..8F */
#define TWO_CONTS    (1 << 7) /* continuation after continuation: checked against must23 */
#define CARRY        (TOO_SHORT | TOO_LONG | TWO_CONTS)

__attribute__((target("avx2"))) static inline __m256i prev_n(__m256i in, __m256i prev, int n)
{
    /* Bytes of `in` shifted right by n across the 128-bit lanes, filled from `prev`. */
    __m256i cross = _mm256_permute2x128_si256(prev, in, 0x21);
    switch (n) {
    case 1:
        return _mm256_alignr_epi8(in, cross, 15);
    case 2:
        return _mm256_alignr_epi8(in, cross, 14);
    default:
        return _mm256_alignr_epi8(in, cross, 13);
    }
}

/* clang-format off */
/* By the high nibble of the previous byte. */
static const uint8_t tab_prev_hi[16] = {
    TOO_LONG,  TOO_LONG,  TOO_LONG,  TOO_LONG,
    TOO_LONG,  TOO_LONG,  TOO_LONG,  TOO_LONG,
    TWO_CONTS, TWO_CONTS, TWO_CONTS, TWO_CONTS,
    TOO_SHORT | OVERLONG_2,
    TOO_SHORT,
    TOO_SHORT | OVERLONG_3 | SURROGATE,
    TOO_SHORT | TOO_LARGE | TOO_LARGE_1K | OVERLONG_4,
};
/* By the low nibble of the previous byte. */
static const uint8_t tab_prev_lo[16] = {
    CARRY | OVERLONG_3 | OVERLONG_2 | OVERLONG_4,
    CARRY | OVERLONG_2,
    CARRY,
    CARRY,
    CARRY | TOO_LARGE,
    CARRY | TOO_LARGE | TOO_LARGE_1K,
    CARRY | TOO_LARGE | TOO_LARGE_1K,
    CARRY | TOO_LARGE | TOO_LARGE_1K,
    CARRY | TOO_LARGE | TOO_LARGE_1K,
    CARRY | TOO_LARGE | TOO_LARGE_1K,
    CARRY | TOO_LARGE | TOO_LARGE_1K,
    CARRY | TOO_LARGE | TOO_LARGE_1K,
    CARRY | TOO_LARGE | TOO_LARGE_1K,
    CARRY | TOO_LARGE | TOO_LARGE_1K | SURROGATE,
    CARRY | TOO_LARGE | TOO_LARGE_1K,
    CARRY | TOO_LARGE | TOO_LARGE_1K,
};
/* By the high nibble of the byte itself. */
static const uint8_t tab_cur_hi[16] = {
    TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT,
    TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT,
    TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE_1K | OVERLONG_4,
    TOO_LONG | OVERLONG_2 | TWO_CONTS | OVERLONG_3 | TOO_LARGE,
    TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE,
    TOO_LONG | OVERLONG_2 | TWO_CONTS | SURROGATE | TOO_LARGE,
    TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT,
};
/* clang-format on */

__attribute__((target("avx2"))) static inline __m256i table(const uint8_t t[16])
{
    return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)t));
}

__attribute__((target("avx2"))) static inline __m256i block_errors(__m256i in, __m256i prev)
{
    const __m256i t1 = table(tab_prev_hi), t2 = table(tab_prev_lo), t3 = table(tab_cur_hi);
    const __m256i lo4 = _mm256_set1_epi8(0x0F);
    __m256i p1 = prev_n(in, prev, 1);
    __m256i b1h = _mm256_shuffle_epi8(t1, _mm256_and_si256(_mm256_srli_epi16(p1, 4), lo4));
    __m256i b1l = _mm256_shuffle_epi8(t2, _mm256_and_si256(p1, lo4));
    __m256i b2h = _mm256_shuffle_epi8(t3, _mm256_and_si256(_mm256_srli_epi16(in, 4), lo4));
    __m256i special = _mm256_and_si256(_mm256_and_si256(b1h, b1l), b2h);
    /* Bytes that must be a 2nd or 3rd continuation: 2 after E0..FF, 3 after F0..FF. */
    __m256i p2 = prev_n(in, prev, 2), p3 = prev_n(in, prev, 3);
    __m256i third = _mm256_subs_epu8(p2, _mm256_set1_epi8((char)(0xE0 - 0x80)));
    __m256i fourth = _mm256_subs_epu8(p3, _mm256_set1_epi8((char)(0xF0 - 0x80)));
    __m256i must23 = _mm256_and_si256(_mm256_or_si256(third, fourth), _mm256_set1_epi8((char)0x80));
    return _mm256_xor_si256(must23, special);
}

/*
 * First error in [0, n) when [0, from) is known to hold no error that
 * involves only its own bytes: restart the scalar decoder at the lead byte
 * of a sequence that runs past `from`, if there is one.
 */
static size_t scalar_from(const uint8_t *p, size_t n, size_t from)
{
    size_t s = from;
    for (size_t k = 1; k <= 3 && k <= from; k++) {
        uint8_t c = p[from - k];
        if (c < 0x80)
            break;
        if (c >= 0xC0) {
            size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            if (k < need)
                s = from - k;
            break;
        }
    }
    return s + tdx_utf8_first_invalid(p + s, n - s);
}

__attribute__((target("avx2"))) static size_t check_avx2(const uint8_t *p, size_t n)
{
    /* A block whose last three bytes are above these leaves a sequence open. */
    const __m256i max_tail = _mm256_setr_epi8(
        -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
        -1, -1, -1, -1, -1, -1, (char)(0xF0 - 1), (char)(0xE0 - 1), (char)(0xC0 - 1));
    __m256i prev = _mm256_setzero_si256();
    size_t i = 0;
    while (i + 64 <= n) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(p + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(p + i + 32));
        __m256i open = _mm256_subs_epu8(prev, max_tail);
        if (_mm256_movemask_epi8(_mm256_or_si256(a, b)) == 0 && _mm256_testz_si256(open, open)) {
            /* All ASCII, and nothing left open by the previous block. */
            prev = b;
            i += 64;
            continue;
        }
        __m256i err = _mm256_or_si256(block_errors(a, prev), block_errors(b, a));
        if (!_mm256_testz_si256(err, err))
            return scalar_from(p, n, i);
        prev = b;
        i += 64;
    }
    return scalar_from(p, n, i);
}

size_t tdx_reader_utf8_check(const uint8_t *p, size_t n)
{
    if (n >= 64 && __builtin_cpu_supports("avx2"))
        return check_avx2(p, n);
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
