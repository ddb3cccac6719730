/*
 * memfind.h - first occurrence of a short byte string in a long one.
 *
 * The word list (store.c) is scanned whole for a fragment such as "385"
 * on every fragment query: megabytes per query, where glibc's memmem
 * (two-way) runs at about 1-2 GB/s.  This compares the needle's first and
 * last bytes against 16 positions at once (SSE2, always present on
 * x86-64) and checks the rest only where both agree, which in text is a
 * few positions in a hundred.  Same contract as memmem.
 */
#ifndef TDX_COMMON_MEMFIND_H
#define TDX_COMMON_MEMFIND_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

static inline const uint8_t *tdx_memfind(const uint8_t *h, size_t n, const uint8_t *nd, size_t m)
{
    if (m == 0)
        return h;
    if (m > n)
        return NULL;
    if (m == 1)
        return memchr(h, nd[0], n);
    size_t i = 0;
#if defined(__SSE2__)
    const __m128i first = _mm_set1_epi8((char)nd[0]), last = _mm_set1_epi8((char)nd[m - 1]);
    for (; i + m - 1 + 16 <= n; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(h + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(h + i + m - 1));
        unsigned mask = (unsigned)_mm_movemask_epi8(
            _mm_and_si128(_mm_cmpeq_epi8(a, first), _mm_cmpeq_epi8(b, last)));
        while (mask) {
            unsigned bit = (unsigned)__builtin_ctz(mask);
            const uint8_t *c = h + i + bit;
            /* Needles are short: compare inline rather than call memcmp. */
            size_t k = 1;
            while (k < m - 1 && c[k] == nd[k])
                k++;
            if (k >= m - 1)
                return c;
            mask &= mask - 1;
        }
    }
#endif
    for (; i + m <= n; i++)
        if (h[i] == nd[0] && h[i + m - 1] == nd[m - 1] && memcmp(h + i + 1, nd + 1, m - 2) == 0)
            return h + i;
    return NULL;
}

#endif
