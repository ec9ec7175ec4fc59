/* Helpers shared by the data-movement operators (see movement.h). */
#include "movement.h"

nq_status nq_mv_need_in(const nq_kctx *c, int i, const char *what, const nq_tensor **t)
{
    *t = nq_mv_in(c, i);
    if (*t == NULL) return nq_kctx_fail(c, NQ_ERR_SHAPE, "missing input %d ('%s')", i, what);
    return NQ_OK;
}

nq_status nq_mv_set_out(const nq_kctx *c, int i, nq_dtype dtype, int ndim, const int64_t *dims)
{
    nq_tensor *t = nq_mv_out(c, i);
    if (t == NULL) return NQ_OK;
    if (ndim < 0 || ndim > NQ_MAX_DIMS)
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED, "output %d has rank %d (at most %d supported)",
                            i, ndim, NQ_MAX_DIMS);
    for (int k = 0; k < ndim; k++)
        if (dims[k] < 0)
            return nq_kctx_fail(c, NQ_ERR_SHAPE, "output %d would have negative dim %lld", i,
                                (long long)dims[k]);
    t->dtype = dtype;
    t->ndim = ndim;
    for (int k = 0; k < ndim; k++) t->dims[k] = dims[k];
    for (int k = ndim; k < NQ_MAX_DIMS; k++) t->dims[k] = 0;
    return NQ_OK;
}

int64_t nq_mv_i64_at(const nq_tensor *t, int64_t i)
{
    if (t->dtype == NQ_DTYPE_INT32) return ((const int32_t *)t->data)[i];
    return ((const int64_t *)t->data)[i];
}

nq_status nq_mv_read_ints(const nq_kctx *c, int i, const char *what, int64_t *out, int max,
                          int *n)
{
    const nq_tensor *t;
    nq_status s = nq_mv_need_in(c, i, what, &t);
    if (s != NQ_OK) return s;
    if (t->dtype != NQ_DTYPE_INT64 && t->dtype != NQ_DTYPE_INT32)
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED, "input '%s' has dtype %s (int64 expected)",
                            what, nq_dtype_name(t->dtype));
    if (t->ndim > 1)
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "input '%s' must be 1-D, has rank %d", what,
                            t->ndim);
    int64_t count = nq_tensor_numel(t);
    if (count > max)
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "input '%s' has %lld values (at most %d supported)",
                            what, (long long)count, max);
    if (count > 0 && t->data == NULL)
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED,
                            "input '%s' must be known at plan time (a constant or initializer)",
                            what);
    for (int64_t k = 0; k < count; k++) out[k] = nq_mv_i64_at(t, k);
    *n = (int)count;
    return NQ_OK;
}

int64_t nq_mv_prod(const int64_t *dims, int from, int to)
{
    int64_t p = 1;
    for (int i = from; i < to; i++) p *= dims[i];
    return p;
}

#define NQ_MV_DEF_GATHER(NAME, T)                                                     \
    static void NAME(void *dst, const void *src, int64_t n, int64_t stride)          \
    {                                                                                 \
        T *o = (T *)dst;                                                              \
        const T *x = (const T *)src;                                                  \
        for (int64_t k = 0; k < n; k++) o[k] = x[k * stride];                         \
    }
NQ_MV_DEF_GATHER(gather_u8, uint8_t)
NQ_MV_DEF_GATHER(gather_u16, uint16_t)
NQ_MV_DEF_GATHER(gather_u32, uint32_t)
NQ_MV_DEF_GATHER(gather_u64, uint64_t)

static void gather_row(void *dst, const void *src, size_t esize, int64_t n, int64_t stride)
{
    if (stride == 1) {
        nq_mv_copy(dst, src, (size_t)n * esize);
        return;
    }
    switch (esize) {
    case 1: gather_u8(dst, src, n, stride); break;
    case 2: gather_u16(dst, src, n, stride); break;
    case 4: gather_u32(dst, src, n, stride); break;
    case 8: gather_u64(dst, src, n, stride); break;
    default:
        for (int64_t k = 0; k < n; k++)
            memcpy((char *)dst + (size_t)k * esize, (const char *)src + k * stride * (int64_t)esize,
                   esize);
    }
}

void nq_mv_strided_copy(void *dst, const void *src, size_t esize, int r, const int64_t *dims,
                        const int64_t *istr)
{
    int64_t d[NQ_MAX_DIMS], s[NQ_MAX_DIMS];
    int k = 0;
    for (int i = 0; i < r; i++) {
        if (dims[i] == 0) return;
        if (dims[i] == 1) continue;
        if (k > 0 && s[k - 1] == istr[i] * dims[i]) {
            d[k - 1] *= dims[i];
            s[k - 1] = istr[i];
        } else {
            d[k] = dims[i];
            s[k] = istr[i];
            k++;
        }
    }
    if (k == 0) {
        nq_mv_copy(dst, src, esize);
        return;
    }
    nq_mv_odo it = {.n = k - 1};
    int64_t ostride = d[k - 1];
    for (int i = k - 2; i >= 0; i--) {
        it.dims[i] = d[i];
        it.is[i] = s[i];
        it.os[i] = ostride;
        ostride *= d[i];
    }
    const int64_t es = (int64_t)esize;
    do {
        gather_row((char *)dst + it.ooff * es, (const char *)src + it.ioff * es, esize, d[k - 1],
                   s[k - 1]);
    } while (nq_mv_odo_next(&it));
}
