/*
 * alloc.c - allocation wrappers over the process allocator (jemalloc in the
 * tenderidx executables) with a fault-injection counter for tests.
 *
 * Threading: the fault counter is a single atomic; everything else is the
 * allocator's own thread safety.
 */
#include "alloc.h"
#include "err.h"

#include <jemalloc/jemalloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

/*
 * jemalloc settings, read when it starts:
 *   - keep freed pages for 30 s before giving them back.  Batches free and
 *     reallocate tens of MB every few hundred milliseconds; with quicker
 *     decay the pages went back to the kernel and came back as page faults
 *     (measured: the writer's time halved).  What is kept is bounded by the
 *     peak, which --memory bounds.
 *   - thp:always: jemalloc asks for transparent huge pages (MADV_HUGEPAGE)
 *     on the memory it maps, which Linux grants when THP is "always" or
 *     "madvise" (as on the machines measured).  A batch's gram arrays and
 *     term tables are tens of MB written in scattered order; with 4 KB pages
 *     such accesses miss the TLB, and each fresh page is a fault.  Measured
 *     on 217 MB, one worker, 5 pairs alternated: CPU -15% (full profile;
 *     user time fell most, system time too), about -10% entity-only; peak
 *     RSS +75 MB at the default --memory (memory comes in 2 MiB pages: the
 *     fixed overhead grows, the bound still does not depend on the corpus).
 *     Asking only for the largest blocks (madvise on the huge pages inside
 *     blocks of 8 MB and more) was slower than not asking at all.
 */
const char *malloc_conf = "dirty_decay_ms:30000,muzzy_decay_ms:30000,thp:always";

/* <0: disabled; otherwise the number of allocations still allowed. */
static _Atomic long fail_countdown = -1;
static _Atomic long refused;

static int should_fail(void)
{
    long v = atomic_load_explicit(&fail_countdown, memory_order_relaxed);
    if (v < 0)
        return 0;
    while (v > 0) {
        if (atomic_compare_exchange_weak(&fail_countdown, &v, v - 1))
            return 0;
        if (v < 0)
            return 0;
    }
    atomic_fetch_add_explicit(&refused, 1, memory_order_relaxed);
    return 1;
}

void tdx_alloc_fail_after(long n)
{
    atomic_store(&refused, 0);
    atomic_store(&fail_countdown, n < 0 ? -1 : n);
}

long tdx_alloc_refused(void)
{
    return atomic_load(&refused);
}

void *tdx_malloc(size_t n)
{
    if (should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *tdx_calloc(size_t count, size_t size)
{
    if (should_fail())
        return NULL;
    return calloc(count ? count : 1, size ? size : 1);
}

void *tdx_realloc(void *p, size_t n)
{
    if (should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

void *tdx_reallocarray(void *p, size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        return NULL;
    return tdx_realloc(p, count * size);
}

int tdx_grow_slow(void **p, size_t *cap, size_t need, size_t size, size_t first)
{
    size_t c = *cap ? *cap : first ? first : 1;
    while (c < need) {
        if (c > SIZE_MAX / 2)
            return TDX_ENOMEM;
        c *= 2;
    }
    void *np = tdx_reallocarray(*p, c, size);
    if (np == NULL)
        return TDX_ENOMEM;
    *p = np;
    *cap = c;
    return 0;
}

void tdx_free(void *p)
{
    free(p);
}

char *tdx_strndup(const char *s, size_t n)
{
    if (s == NULL)
        return NULL;
    char *d = tdx_malloc(n + 1);
    if (d == NULL)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *tdx_strdup(const char *s)
{
    return s ? tdx_strndup(s, strlen(s)) : NULL;
}

void tdx_alloc_stats(tdx_mem_stats *out)
{
    out->allocated = 0;
    out->resident = 0;
    uint64_t epoch = 1;
    size_t sz = sizeof epoch;
    /* jemalloc caches its statistics; advancing the epoch refreshes them. */
    if (mallctl("epoch", &epoch, &sz, &epoch, sz) != 0)
        return;
    sz = sizeof(size_t);
    mallctl("stats.allocated", &out->allocated, &sz, NULL, 0);
    sz = sizeof(size_t);
    mallctl("stats.resident", &out->resident, &sz, NULL, 0);
}

size_t tdx_peak_rss(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (size_t)ru.ru_maxrss * 1024;
}
