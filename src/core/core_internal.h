/* Private helpers of the core layer (also usable by other layers). */
#ifndef NQ_CORE_INTERNAL_H
#define NQ_CORE_INTERNAL_H
#include <stddef.h>

/* strdup that accepts NULL (returns NULL) and is C11. */
char *nq_strdup(const char *s);
/* Grows *arr (element size `elem`) so that it can hold `need` elements. */
int nq_grow(void **arr, int *cap, int need, size_t elem);
/* Seconds on a monotonic clock (for differences only). */
double nq_now_seconds(void);

#include "nnquant/core.h"
/* Frees a node and everything it owns (does not touch the graph). */
void nq_node_free_internal(nq_node *n);
#endif
