/*
 * alloc.h - the one allocation interface of tenderidx.
 *
 * All engine allocations go through these wrappers.  Executables link
 * jemalloc, which replaces the system malloc; only alloc.c calls
 * jemalloc-specific functions (mallctl, for the memory figures the pipeline
 * reports).  Tests use tdx_alloc_fail_after() to make the n-th allocation
 * fail and check that every error path returns TDX_ENOMEM and leaks nothing.
 */
#ifndef TDX_COMMON_ALLOC_H
#define TDX_COMMON_ALLOC_H

#include <stddef.h>
#include <stdint.h>

void *tdx_malloc(size_t n);
void *tdx_calloc(size_t count, size_t size);
/** Like realloc, but on failure the old block is left untouched and NULL returned. */
void *tdx_realloc(void *p, size_t n);
/** realloc for arrays: fails (NULL) on count * size overflow. */
void *tdx_reallocarray(void *p, size_t count, size_t size);
/* tdx_grow's growing half, for when need > *cap. */
int tdx_grow_slow(void **p, size_t *cap, size_t need, size_t size, size_t first);
/**
 * Grow the array *p of *cap elements of `size` bytes to hold at least
 * `need`, doubling from `first` (or from *cap), so a warm array never
 * reallocates.  0, or TDX_ENOMEM with *p and *cap unchanged.  Inline: hot
 * loops call it per element, and it almost never grows.
 */
static inline int tdx_grow(void **p, size_t *cap, size_t need, size_t size, size_t first)
{
    return need <= *cap ? 0 : tdx_grow_slow(p, cap, need, size, first);
}
void tdx_free(void *p);
/** Owned copy of s (free with tdx_free); NULL on failure or when s is NULL. */
char *tdx_strdup(const char *s);
char *tdx_strndup(const char *s, size_t n);

/**
 * Fault injection for tests: after n more successful allocations, every
 * allocation fails until tdx_alloc_fail_after(-1) is called.  Counted across
 * all threads.  Never used by the engine itself.
 */
void tdx_alloc_fail_after(long n);
/** Allocations refused since the last tdx_alloc_fail_after(). */
long tdx_alloc_refused(void);

/** Memory figures from jemalloc, in bytes (0 when unavailable). */
typedef struct tdx_mem_stats {
    size_t allocated; /* bytes in live allocations */
    size_t resident;  /* bytes of physically resident allocator pages */
} tdx_mem_stats;
void tdx_alloc_stats(tdx_mem_stats *out);

/** Peak resident set size of this process in bytes (getrusage), 0 if unknown. */
size_t tdx_peak_rss(void);

#endif
