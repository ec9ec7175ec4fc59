/*
 * Clip, Identity, Dropout: element-wise operators that accept more dtypes
 * than the float32 activations of unary.c.
 *
 * Clip: bounds are attributes `min`/`max` before opset 11 (float32), optional
 * scalar inputs from opset 11 (same dtype as x: float32, float64, int8,
 * uint8, int16, int32, int64, and int2/int3/int4/uint4 in their storage). y = min(max(x, lo), hi), so lo > hi gives hi
 * everywhere (as the ONNX spec says); NaN stays NaN.
 * Identity: any dtype, a copy. Dropout: inference only, a copy; the optional
 * mask output is all ones (bool from opset 10, x's dtype before). A
 * training_mode input known to be true is NQ_ERR_UNSUPPORTED; ratio and
 * seed are ignored, and so is the legacy is_test attribute (opset < 7).
 */
#include <float.h>
#include <string.h>

#include "ops/elemwise.h"

/* ---- Clip ---- */
typedef void (*clip_fn)(const void *x, void *y, int64_t n, const void *lo, const void *hi);

#define CLIP_KERNEL(name, T, TMIN, TMAX)                                                   \
    static void name(const void *px, void *py, int64_t n, const void *plo, const void *phi) \
    {                                                                                      \
        const T *x = px;                                                                   \
        T *y = py;                                                                         \
        const T lo = plo ? *(const T *)plo : TMIN;                                         \
        const T hi = phi ? *(const T *)phi : TMAX;                                         \
        for (int64_t i = 0; i < n; i++) {                                                  \
            T v = x[i] < lo ? lo : x[i];                                                   \
            y[i] = v > hi ? hi : v;                                                        \
        }                                                                                  \
    }
CLIP_KERNEL(clip_f32, float, -FLT_MAX, FLT_MAX)
CLIP_KERNEL(clip_f64, double, -DBL_MAX, DBL_MAX)
CLIP_KERNEL(clip_i8, int8_t, INT8_MIN, INT8_MAX)
CLIP_KERNEL(clip_u8, uint8_t, 0, UINT8_MAX)
CLIP_KERNEL(clip_i16, int16_t, INT16_MIN, INT16_MAX)
CLIP_KERNEL(clip_i32, int32_t, INT32_MIN, INT32_MAX)
CLIP_KERNEL(clip_i64, int64_t, INT64_MIN, INT64_MAX)

static const clip_fn clip_kernels[NQ_DTYPE_COUNT] = {
    [NQ_DTYPE_FLOAT32] = clip_f32, [NQ_DTYPE_FLOAT64] = clip_f64, [NQ_DTYPE_INT8] = clip_i8,
    [NQ_DTYPE_UINT8] = clip_u8,    [NQ_DTYPE_INT16] = clip_i16,   [NQ_DTYPE_INT32] = clip_i32,
    [NQ_DTYPE_INT64] = clip_i64,
    /* sub-byte types in their int8_t / uint8_t storage */
    [NQ_DTYPE_INT2] = clip_i8,     [NQ_DTYPE_INT3] = clip_i8,     [NQ_DTYPE_INT4] = clip_i8,
    [NQ_DTYPE_UINT4] = clip_u8,
};

static nq_status clip_infer(nq_kctx *c)
{
    int legacy = c->opset < 11;
    nq_status s = nq_elem_check_io(c, 1, legacy ? 1 : 3);
    if (s != NQ_OK) return s;
    nq_dtype dt = c->in[0]->dtype;
    if (dt <= NQ_DTYPE_UNDEFINED || dt >= NQ_DTYPE_COUNT || clip_kernels[dt] == NULL ||
        (legacy && dt != NQ_DTYPE_FLOAT32))
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED, "unsupported input dtype %s",
                            nq_dtype_name(dt));
    for (int i = 1; i < c->n_in; i++) {
        const nq_tensor *b = c->in[i];
        if (b == NULL) continue;
        if (b->dtype != dt)
            return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "%s has dtype %s, input has %s",
                                i == 1 ? "min" : "max", nq_dtype_name(b->dtype),
                                nq_dtype_name(dt));
        if (nq_tensor_numel(b) != 1)
            return nq_kctx_fail(c, NQ_ERR_SHAPE, "%s must be a scalar, has %lld elements",
                                i == 1 ? "min" : "max", (long long)nq_tensor_numel(b));
    }
    nq_elem_same_shape(c, 0, dt);
    return NQ_OK;
}

typedef struct clip_job {
    clip_fn fn;
    const char *x;
    char *y;
    size_t esize;
    const void *lo, *hi;
} clip_job;

static void clip_range(void *ctx, int64_t b, int64_t e)
{
    const clip_job *j = ctx;
    j->fn(j->x + (size_t)b * j->esize, j->y + (size_t)b * j->esize, e - b, j->lo, j->hi);
}

/* The bounds: attributes before opset 11 (stored in *lo, *hi), else the
 * optional inputs; NULL for an absent bound. */
static nq_status clip_bounds(const nq_kctx *c, float *lo, float *hi, const void **plo,
                             const void **phi)
{
    *plo = *phi = NULL;
    if (c->opset < 11) {
        *lo = nq_node_attr_float(c->node, "min", -FLT_MAX);
        *hi = nq_node_attr_float(c->node, "max", FLT_MAX);
        *plo = lo;
        *phi = hi;
        return NQ_OK;
    }
    for (int i = 1; i < c->n_in; i++) {
        if (c->in[i] == NULL) continue;
        if (c->in[i]->data == NULL) return nq_kctx_fail(c, NQ_ERR_INTERNAL, "bound data missing");
        if (i == 1) *plo = c->in[i]->data;
        else *phi = c->in[i]->data;
    }
    return NQ_OK;
}

static nq_status clip_forward(nq_kctx *c)
{
    nq_status s = clip_infer(c);
    if (s != NQ_OK) return s;
    const nq_tensor *x = c->in[0];
    float lo, hi;
    clip_job j = {clip_kernels[x->dtype], x->data, c->out[0]->data, nq_dtype_size(x->dtype),
                  NULL, NULL};
    if ((s = clip_bounds(c, &lo, &hi, &j.lo, &j.hi)) != NQ_OK) return s;
    int64_t n = nq_tensor_numel(x);
    if (n > 0 && (j.x == NULL || j.y == NULL))
        return nq_kctx_fail(c, NQ_ERR_INTERNAL, "tensor data missing");
    nq_par_range(n, NQ_PAR_GRAIN, c->num_threads, clip_range, &j);
    return NQ_OK;
}

/* Fused after a Conv: float32, with bounds known at plan time. */
static int clip_fusable(const nq_kctx *c)
{
    float lo, hi;
    const void *plo, *phi;
    return c->in[0]->dtype == NQ_DTYPE_FLOAT32 && clip_bounds(c, &lo, &hi, &plo, &phi) == NQ_OK;
}

static void clip_apply(const nq_kctx *c, float *y, int64_t p0, int64_t p1)
{
    float lo, hi;
    const void *plo, *phi;
    clip_bounds(c, &lo, &hi, &plo, &phi);
    const int64_t plane = nq_plane_size(c->in[0]);
    clip_f32(y + p0 * plane, y + p0 * plane, (p1 - p0) * plane, plo, phi);
}

static const nq_epilogue_def clip_epilogue = {clip_fusable, clip_apply};

const nq_op_def nq_def_Clip = {.name = "Clip", .infer = clip_infer, .forward = clip_forward,
                               .epilogue = &clip_epilogue};

/* ---- Identity ---- */
static nq_status copy_data(nq_kctx *c)
{
    const nq_tensor *x = c->in[0];
    nq_tensor *y = c->out[0];
    size_t nb = nq_tensor_nbytes(x);
    if (nb == 0 || x->data == y->data) return NQ_OK;
    if (x->data == NULL || y->data == NULL)
        return nq_kctx_fail(c, NQ_ERR_INTERNAL, "tensor data missing");
    memcpy(y->data, x->data, nb);
    return NQ_OK;
}

static nq_status identity_infer(nq_kctx *c)
{
    nq_status s = nq_elem_check_io(c, 1, 1);
    if (s != NQ_OK) return s;
    if (c->in[0]->dtype <= NQ_DTYPE_UNDEFINED || c->in[0]->dtype >= NQ_DTYPE_COUNT)
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED, "unsupported input dtype");
    nq_elem_same_shape(c, 0, c->in[0]->dtype);
    return NQ_OK;
}

static nq_status identity_forward(nq_kctx *c)
{
    nq_status s = identity_infer(c);
    return s != NQ_OK ? s : copy_data(c);
}

const nq_op_def nq_def_Identity = {.name = "Identity", .infer = identity_infer, .forward = identity_forward};

/* ---- Dropout ---- */
static nq_dtype dropout_mask_dtype(const nq_kctx *c)
{
    return c->opset >= 10 ? NQ_DTYPE_BOOL : c->in[0]->dtype;
}

/* Checks training_mode (input 2) when its value is known. */
static nq_status dropout_check_mode(const nq_kctx *c)
{
    const nq_tensor *t = c->n_in > 2 ? c->in[2] : NULL;
    if (t == NULL) return NQ_OK;
    if (t->dtype != NQ_DTYPE_BOOL || nq_tensor_numel(t) != 1)
        return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "training_mode must be a bool scalar");
    if (t->data != NULL && *(const uint8_t *)t->data != 0)
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED, "training_mode=true is not supported");
    return NQ_OK;
}

static nq_status dropout_infer(nq_kctx *c)
{
    nq_status s = nq_elem_check_io(c, 1, 3);
    if (s != NQ_OK) return s;
    nq_dtype dt = c->in[0]->dtype;
    if (dt <= NQ_DTYPE_UNDEFINED || dt >= NQ_DTYPE_COUNT)
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED, "unsupported input dtype");
    s = dropout_check_mode(c);
    if (s != NQ_OK) return s;
    nq_elem_same_shape(c, 0, dt);
    if (c->n_out > 1 && c->out[1] != NULL) {
        nq_dtype mdt = dropout_mask_dtype(c);
        if (mdt != NQ_DTYPE_BOOL && mdt != NQ_DTYPE_FLOAT32 && mdt != NQ_DTYPE_FLOAT64)
            return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED, "mask of dtype %s", nq_dtype_name(mdt));
        nq_elem_same_shape(c, 1, mdt);
    }
    return NQ_OK;
}

static nq_status dropout_forward(nq_kctx *c)
{
    nq_status s = dropout_infer(c);
    if (s != NQ_OK) return s;
    s = copy_data(c);
    if (s != NQ_OK || c->n_out < 2 || c->out[1] == NULL) return s;
    nq_tensor *m = c->out[1];
    int64_t n = nq_tensor_numel(m);
    if (n == 0) return NQ_OK;
    if (m->data == NULL) return nq_kctx_fail(c, NQ_ERR_INTERNAL, "mask data missing");
    if (m->dtype == NQ_DTYPE_BOOL) {
        memset(m->data, 1, (size_t)n);
    } else if (m->dtype == NQ_DTYPE_FLOAT32) {
        for (int64_t i = 0; i < n; i++) ((float *)m->data)[i] = 1.0f;
    } else {
        for (int64_t i = 0; i < n; i++) ((double *)m->data)[i] = 1.0;
    }
    return NQ_OK;
}

const nq_op_def nq_def_Dropout = {.name = "Dropout", .infer = dropout_infer, .forward = dropout_forward};
