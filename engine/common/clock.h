/*
 * clock.h - the monotonic clock, in seconds.
 *
 * Stage timings (pipeline), the watch list's compile time (match) and the
 * writer's commit interval (store) all read it; wall-clock time would jump
 * with the system clock.
 */
#ifndef TDX_COMMON_CLOCK_H
#define TDX_COMMON_CLOCK_H

#include <time.h>

static inline double tdx_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
