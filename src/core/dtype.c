/* Data type traits: one table indexed by nq_dtype. */
#include <string.h>

#include "nnquant/core.h"

typedef struct dtype_traits {
    const char *name;
    size_t size;
    int is_float;
    int64_t min, max; /* integer range (unused for floats) */
} dtype_traits;

static const dtype_traits traits[NQ_DTYPE_COUNT] = {
    [NQ_DTYPE_UNDEFINED] = {"undefined", 0, 0, 0, 0},
    [NQ_DTYPE_FLOAT32] = {"float32", 4, 1, 0, 0},
    [NQ_DTYPE_INT2] = {"int2", 1, 0, -2, 1},
    [NQ_DTYPE_INT3] = {"int3", 1, 0, -4, 3},
    [NQ_DTYPE_INT4] = {"int4", 1, 0, -8, 7},
    [NQ_DTYPE_UINT4] = {"uint4", 1, 0, 0, 15},
    [NQ_DTYPE_INT8] = {"int8", 1, 0, INT8_MIN, INT8_MAX},
    [NQ_DTYPE_UINT8] = {"uint8", 1, 0, 0, UINT8_MAX},
    [NQ_DTYPE_INT16] = {"int16", 2, 0, INT16_MIN, INT16_MAX},
    [NQ_DTYPE_INT32] = {"int32", 4, 0, INT32_MIN, INT32_MAX},
    [NQ_DTYPE_INT64] = {"int64", 8, 0, INT64_MIN, INT64_MAX},
    [NQ_DTYPE_BOOL] = {"bool", 1, 0, 0, 1},
    [NQ_DTYPE_FLOAT64] = {"float64", 8, 1, 0, 0},
};

static const dtype_traits *get(nq_dtype t)
{
    return (unsigned)t < NQ_DTYPE_COUNT ? &traits[t] : &traits[NQ_DTYPE_UNDEFINED];
}

size_t nq_dtype_size(nq_dtype t) { return get(t)->size; }
const char *nq_dtype_name(nq_dtype t) { return get(t)->name; }
int nq_dtype_is_float(nq_dtype t) { return get(t)->is_float; }

nq_dtype nq_dtype_from_name(const char *name)
{
    if (name == NULL) return NQ_DTYPE_UNDEFINED;
    for (int i = 1; i < NQ_DTYPE_COUNT; i++)
        if (strcmp(traits[i].name, name) == 0) return (nq_dtype)i;
    if (strcmp(name, "float") == 0) return NQ_DTYPE_FLOAT32;
    return NQ_DTYPE_UNDEFINED;
}

int nq_dtype_int_range(nq_dtype t, int64_t *min, int64_t *max)
{
    const dtype_traits *d = get(t);
    if (d->is_float || d->size == 0) return 0;
    if (min) *min = d->min;
    if (max) *max = d->max;
    return 1;
}
