/*
 * hash.h - the project's one hash function: XXH3 (libxxhash).
 *
 * Used for content hashes of normalized documents, watch-list hashes (cache
 * keys) and in-memory hash tables.  XXH3 is stable across versions and
 * platforms, so hashes stored in an index stay valid.
 */
#ifndef TDX_COMMON_HASH_H
#define TDX_COMMON_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <xxhash.h>

static inline uint64_t tdx_hash64(const void *p, size_t n)
{
    return XXH3_64bits(p, n);
}

static inline uint64_t tdx_hash64_seed(const void *p, size_t n, uint64_t seed)
{
    return XXH3_64bits_withSeed(p, n, seed);
}

/** 128-bit content hash, as two 64-bit halves (high first). */
static inline void tdx_hash128(const void *p, size_t n, uint64_t out[2])
{
    XXH128_hash_t h = XXH3_128bits(p, n);
    out[0] = h.high64;
    out[1] = h.low64;
}

/** Cheap integer mixer for hash tables keyed by integers. */
static inline uint64_t tdx_mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb33fa185fe53ULL;
    x ^= x >> 33;
    return x;
}

#endif
