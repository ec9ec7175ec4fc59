/* Dense tensors: shape, storage, element access. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnquant/core.h"

int64_t nq_tensor_numel(const nq_tensor *t)
{
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++) n *= t->dims[i];
    return n;
}

size_t nq_tensor_nbytes(const nq_tensor *t)
{
    return (size_t)nq_tensor_numel(t) * nq_dtype_size(t->dtype);
}

int nq_dims_bad(int ndim, const int64_t *dims, int *negative)
{
    int64_t nonzero = 1;
    for (int i = 0; i < ndim; i++) {
        *negative = dims[i] < 0;
        if (dims[i] < 0 || (dims[i] > 0 && nonzero > (INT64_MAX / 16) / dims[i])) return i;
        if (dims[i] > 0) nonzero *= dims[i];
    }
    return -1;
}

nq_status nq_tensor_init(nq_tensor *t, nq_dtype dtype, int ndim, const int64_t *dims,
                         nq_error *err)
{
    if (ndim < 0 || ndim > NQ_MAX_DIMS)
        return nq_error_set(err, NQ_ERR_UNSUPPORTED, "tensor rank %d (at most %d supported)",
                            ndim, NQ_MAX_DIMS);
    if ((unsigned)dtype >= NQ_DTYPE_COUNT || dtype == NQ_DTYPE_UNDEFINED)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "undefined tensor dtype");
    int negative = 0, bad = nq_dims_bad(ndim, dims, &negative);
    if (bad >= 0)
        return negative ? nq_error_set(err, NQ_ERR_SHAPE, "negative dimension %lld", (long long)dims[bad])
                        : nq_error_set(err, NQ_ERR_SHAPE, "tensor too large");
    memset(t, 0, sizeof *t);
    t->dtype = dtype;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->dims[i] = dims[i];
    return NQ_OK;
}

nq_status nq_tensor_alloc(nq_tensor *t, nq_dtype dtype, int ndim, const int64_t *dims,
                          nq_error *err)
{
    nq_status s = nq_tensor_init(t, dtype, ndim, dims, err);
    if (s != NQ_OK) return s;
    size_t bytes = nq_tensor_nbytes(t);
    t->data = calloc(bytes ? bytes : 1, 1);
    if (t->data == NULL)
        return nq_error_set(err, NQ_ERR_NOMEM, "cannot allocate %zu bytes for a tensor", bytes);
    t->owns_data = 1;
    return NQ_OK;
}

nq_status nq_tensor_copy(nq_tensor *dst, const nq_tensor *src, nq_error *err)
{
    nq_status s = nq_tensor_alloc(dst, src->dtype, src->ndim, src->dims, err);
    if (s != NQ_OK) return s;
    if (src->data != NULL) memcpy(dst->data, src->data, nq_tensor_nbytes(src));
    return NQ_OK;
}

void nq_tensor_free(nq_tensor *t)
{
    if (t == NULL) return;
    if (t->owns_data) free(t->data);
    memset(t, 0, sizeof *t);
    t->dtype = NQ_DTYPE_FLOAT32;
}

nq_tensor *nq_tensor_new(void)
{
    nq_tensor *t = calloc(1, sizeof *t);
    if (t != NULL) t->dtype = NQ_DTYPE_FLOAT32;
    return t;
}

void nq_tensor_delete(nq_tensor *t)
{
    if (t == NULL) return;
    nq_tensor_free(t);
    free(t);
}

int nq_tensor_same_shape(const nq_tensor *a, const nq_tensor *b)
{
    if (a->dtype != b->dtype || a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    return 1;
}

int nq_tensor_equal(const nq_tensor *a, const nq_tensor *b)
{
    if (!nq_tensor_same_shape(a, b)) return 0;
    size_t n = nq_tensor_nbytes(a);
    if (n == 0) return 1;
    if (a->data == NULL || b->data == NULL) return a->data == b->data;
    return memcmp(a->data, b->data, n) == 0;
}

/* Element access through a per-dtype table. */
typedef double (*get_fn)(const void *p, int64_t i);
typedef void (*set_fn)(void *p, int64_t i, double v);

#define NQ_ACCESS(tag, ctype)                                                           \
    static double get_##tag(const void *p, int64_t i) { return (double)((const ctype *)p)[i]; } \
    static void set_##tag(void *p, int64_t i, double v) { ((ctype *)p)[i] = (ctype)v; }
NQ_ACCESS(f32, float)
NQ_ACCESS(f64, double)
NQ_ACCESS(i8, int8_t)
NQ_ACCESS(u8, uint8_t)
NQ_ACCESS(i16, int16_t)
NQ_ACCESS(i32, int32_t)
NQ_ACCESS(i64, int64_t)
#undef NQ_ACCESS

static const struct { get_fn get; set_fn set; } access[NQ_DTYPE_COUNT] = {
    [NQ_DTYPE_FLOAT32] = {get_f32, set_f32}, [NQ_DTYPE_FLOAT64] = {get_f64, set_f64},
    [NQ_DTYPE_INT2] = {get_i8, set_i8},      [NQ_DTYPE_INT3] = {get_i8, set_i8},
    [NQ_DTYPE_INT4] = {get_i8, set_i8},      [NQ_DTYPE_UINT4] = {get_u8, set_u8},
    [NQ_DTYPE_INT8] = {get_i8, set_i8},      [NQ_DTYPE_UINT8] = {get_u8, set_u8},
    [NQ_DTYPE_INT16] = {get_i16, set_i16},   [NQ_DTYPE_INT32] = {get_i32, set_i32},
    [NQ_DTYPE_INT64] = {get_i64, set_i64},   [NQ_DTYPE_BOOL] = {get_u8, set_u8},
};

double nq_tensor_get(const nq_tensor *t, int64_t i)
{
    if ((unsigned)t->dtype >= NQ_DTYPE_COUNT || access[t->dtype].get == NULL) return 0.0;
    return access[t->dtype].get(t->data, i);
}

void nq_tensor_set(nq_tensor *t, int64_t i, double v)
{
    if ((unsigned)t->dtype >= NQ_DTYPE_COUNT || access[t->dtype].set == NULL) return;
    int64_t lo, hi;
    if (nq_dtype_int_range(t->dtype, &lo, &hi)) {
        if (isnan(v)) v = 0;
        v = round(v); /* ties away from zero */
        if (v < (double)lo) v = (double)lo;
        if (v > (double)hi) v = (double)hi;
        if (t->dtype == NQ_DTYPE_INT64) { /* avoid UB converting 2^63 */
            ((int64_t *)t->data)[i] = v >= 9.2233720368547758e18 ? INT64_MAX : (int64_t)v;
            return;
        }
    }
    access[t->dtype].set(t->data, i, v);
}

const char *nq_shape_str(int ndim, const int64_t *dims, char *buf, size_t size)
{
    size_t len = 0;
    if (size == 0) return buf;
    buf[0] = '\0';
    if (ndim < 0) {
        snprintf(buf, size, "[?]");
        return buf;
    }
    len += (size_t)snprintf(buf + len, size - len, "[");
    for (int i = 0; i < ndim && len < size; i++) {
        if (dims[i] < 0)
            len += (size_t)snprintf(buf + len, size - len, "%s?", i ? "," : "");
        else
            len += (size_t)snprintf(buf + len, size - len, "%s%lld", i ? "," : "", (long long)dims[i]);
    }
    if (len < size) snprintf(buf + len, size - len, "]");
    return buf;
}
