/* A monotonic clock for timings and progress. */
#define _POSIX_C_SOURCE 200809L
#include <time.h>

#include "core/core_internal.h"

double nq_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
