/* Thread count policy: NQ_NUM_THREADS, else all online cores. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <unistd.h>

#include "nnquant/run.h"

int nq_default_num_threads(void)
{
    const char *env = getenv("NQ_NUM_THREADS");
    if (env != NULL && env[0] != '\0') {
        char *end = NULL;
        long n = strtol(env, &end, 10);
        if (end != env && *end == '\0' && n >= 1 && n <= 1024) return (int)n;
    }
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    return cores >= 1 ? (int)cores : 1;
}
