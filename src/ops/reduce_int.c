/* ReduceSum on integers (int_ops.h): X int8/uint8/int16/int32 (int2..int4
 * and uint4 in their storage) -> Y int32, X int64 -> Y int64; the sum is
 * exact, modulo 2^32 (2^64) beyond (quantization checks it fits). Axes as
 * in the float ReduceSum (reduce.c): attribute `axes` before opset 13,
 * optional int64 input 1 from it, known at plan time; no axes reduces
 * every axis unless noop_with_empty_axes=1 (then Y = X, widened);
 * keepdims (default 1).
 *
 * As the float reduction, the input shape is collapsed into alternating
 * kept/reduced groups and every contiguous input row of the innermost
 * group is folded in: into one output element when that group is reduced,
 * element-wise into an output row when it is kept. */
#include <string.h>

#include "ops/elemwise.h"
#include "ops/int_ops.h"

static nq_status ired_check(const nq_kctx *c, nq_reduce_axes *ra)
{
    nq_status s = nq_elem_check_io(c, 1, 2);
    if (s != NQ_OK) return s;
    return nq_reduce_read_axes(c, 13, ra); /* ReduceSum: axes input since opset 13 */
}

nq_status nq_reducesum_int_infer(nq_kctx *c)
{
    nq_reduce_axes ra;
    nq_status s = ired_check(c, &ra);
    if (s != NQ_OK) return s;
    const nq_tensor *x = c->in[0];
    int64_t dims[NQ_MAX_DIMS];
    int nd = 0;
    const int keep = nq_node_attr_int(c->node, "keepdims", 1) != 0;
    for (int d = 0; d < x->ndim; d++) {
        if (!ra.red[d]) dims[nd++] = x->dims[d];
        else if (keep) dims[nd++] = 1;
    }
    const nq_dtype out = x->dtype == NQ_DTYPE_INT64 ? NQ_DTYPE_INT64 : NQ_DTYPE_INT32;
    return nq_tensor_init(c->out[0], out, nd, dims, c->err);
}

/* Row kernels: fold n inputs into *acc, or add them element-wise into y.
 * Sums in UT (uint32_t or uint64_t), exact modulo 2^32 / 2^64. */
typedef void (*ired_fold_fn)(const void *x, int64_t n, void *acc);
typedef void (*ired_accum_fn)(const void *x, int64_t n, void *y);

#define DEFINE_IRED(SFX, T, UT)                                                                 \
    static void fold_##SFX(const void *xv, int64_t n, void *accv)                              \
    {                                                                                          \
        const T *x = xv;                                                                       \
        UT s = *(UT *)accv;                                                                    \
        for (int64_t i = 0; i < n; i++) s += (UT)x[i];                                         \
        *(UT *)accv = s;                                                                       \
    }                                                                                          \
    static void accum_##SFX(const void *xv, int64_t n, void *yv)                               \
    {                                                                                          \
        const T *x = xv;                                                                       \
        UT *y = yv;                                                                            \
        for (int64_t i = 0; i < n; i++) y[i] += (UT)x[i];                                      \
    }

DEFINE_IRED(s8, int8_t, uint32_t)
DEFINE_IRED(u8, uint8_t, uint32_t)
DEFINE_IRED(s16, int16_t, uint32_t)
DEFINE_IRED(s32, int32_t, uint32_t)
DEFINE_IRED(s64, int64_t, uint64_t)

static const struct {
    ired_fold_fn fold;
    ired_accum_fn accum;
} ired_fns[] = {
    [NQ_ISTORE_S8] = {fold_s8, accum_s8},    [NQ_ISTORE_U8] = {fold_u8, accum_u8},
    [NQ_ISTORE_S16] = {fold_s16, accum_s16}, [NQ_ISTORE_S32] = {fold_s32, accum_s32},
    [NQ_ISTORE_S64] = {fold_s64, accum_s64}};

nq_status nq_reducesum_int_forward(nq_kctx *c)
{
    nq_reduce_axes ra;
    nq_status s = ired_check(c, &ra);
    if (s != NQ_OK) return s;
    const nq_tensor *x = c->in[0];
    nq_tensor *y = c->out[0];
    const int64_t nx = nq_tensor_numel(x), ny = nq_tensor_numel(y);
    const size_t xes = nq_dtype_size(x->dtype), yes = nq_dtype_size(y->dtype);
    if (ny == 0) return NQ_OK;
    if ((nx > 0 && x->data == NULL) || y->data == NULL)
        return nq_kctx_fail(c, NQ_ERR_INTERNAL, "tensor data missing");
    memset(y->data, 0, (size_t)ny * yes);
    if (nx == 0) return NQ_OK;
    const nq_istore st = nq_istore_of(x->dtype); /* a no-op keeps every dim: Y = X */
    /* collapse into groups of kept / reduced dims (size-1 dims dropped) */
    int k = 0, red[NQ_MAX_DIMS];
    int64_t dims[NQ_MAX_DIMS], ostride[NQ_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) {
        if (x->dims[d] == 1) continue;
        if (k > 0 && red[k - 1] == ra.red[d]) {
            dims[k - 1] *= x->dims[d];
            continue;
        }
        dims[k] = x->dims[d];
        red[k++] = ra.red[d];
    }
    if (k == 0) dims[k] = 1, red[k++] = 0;
    int64_t step = 1;
    for (int g = k - 1; g >= 0; g--) {
        ostride[g] = red[g] ? 0 : step;
        if (!red[g]) step *= dims[g];
    }
    const int last = k - 1;
    const int64_t n = dims[last];
    int64_t idx[NQ_MAX_DIMS] = {0}, oo = 0;
    const char *xd = x->data;
    char *yd = y->data;
    for (int64_t r = 0; r < nx / n; r++) {
        const char *xr = xd + (size_t)(r * n) * xes;
        if (red[last]) ired_fns[st].fold(xr, n, yd + (size_t)oo * yes);
        else ired_fns[st].accum(xr, n, yd + (size_t)oo * yes);
        for (int g = last - 1; g >= 0; g--) {
            oo += ostride[g];
            if (++idx[g] < dims[g]) break;
            oo -= ostride[g] * dims[g];
            idx[g] = 0;
        }
    }
    return NQ_OK;
}
