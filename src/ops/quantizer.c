/*
 * Quantizer (domain ai.nnquant, opset 1): nnquant's one custom operator,
 * specified in docs/quantizer.md, with the integer semantics of
 * docs/numerics.md. Y = Quantizer(X, scale) scales by the multiplier
 * `scale` (y = x * s), optionally rounds, clips and casts to `to`:
 *
 *   float -> float  : y = x * s; nearbyintf(y) if round; clip if given;
 *                     with round, an integral x within int32 requantizes
 *                     as integer -> int does (then clip)
 *   float -> integer: y = clamp(nearbyintf(x * s), lo, hi)     (round = 1)
 *   integer -> int  : y = nq_requant_apply(x, r, lo, hi)         (round = 1)
 *                     r = nq_requant_from_scale(s), or nq_requant_from_shift(-log2 s)
 *                     when single_shift = 1 (every s a power of two)
 *   integer -> float: y = (float)x * s; clip if given          (round = 0)
 *
 * `scale` is a float32 constant known at plan time: one value (per-tensor,
 * a scalar or a [1] tensor) or a 1-D tensor of dims[axis] values
 * (per-channel). X is float32 or an integer type (int8, uint8, int16,
 * int32, int64; int2/int3/int4 in int8 storage, uint4 in uint8); Y is
 * float32 or int2/int3/int4/uint4/int8/uint8/int16/int32.
 *
 * For an integer Y, [lo, hi] is the type's range intersected with the
 * integers inside [clip_min, clip_max] (ceil(clip_min), floor(clip_max)).
 * A float X that is NaN quantizes to clamp(0) (nq_quantize_f32_*); with a
 * float Y, NaN stays NaN. The `round` attribute defaults to 1, except for
 * integer X with float Y (dequantization), where it defaults to 0.
 *
 * The loops are the kernels of kernels.h, called per row of one channel
 * (X viewed as [outer, channels, inner]); narrow integer inputs (int8,
 * uint8, int16 storage) are widened to int32 in stack chunks before
 * requantization. Per-channel requantization factors go to scratch.
 */
#include <float.h>
#include <math.h>
#include <string.h>

#include "nnquant/kernels.h"
#include "ops/elemwise.h"

/* ---- per-storage-type kernels ------------------------------------------ */

typedef void (*qz_quant_fn)(const float *x, int64_t n, float s, int64_t lo, int64_t hi, void *y);
typedef void (*qz_rq32_fn)(const int32_t *x, int64_t n, nq_requant r, int32_t lo, int32_t hi,
                           void *y);
typedef void (*qz_rq64_fn)(const int64_t *x, int64_t n, nq_requant r, int32_t lo, int32_t hi,
                           void *y);
typedef void (*qz_dequant_fn)(const void *q, int64_t n, float s, float *y);
typedef void (*qz_widen_fn)(const void *x, int64_t n, int32_t *y);

/* Adapters giving the typed kernels of kernels.h one signature per role. */
#define QZ_OUT_FNS(S, T)                                                                        \
    static void quant_##S(const float *x, int64_t n, float s, int64_t lo, int64_t hi, void *y)  \
    {                                                                                           \
        nq_quantize_f32_##S(x, n, s, (int32_t)lo, (int32_t)hi, (T *)y);                         \
    }                                                                                           \
    static void rq32_##S(const int32_t *x, int64_t n, nq_requant r, int32_t lo, int32_t hi,     \
                         void *y)                                                               \
    {                                                                                           \
        nq_requant_s32_to_##S(x, n, r, lo, hi, (T *)y);                                         \
    }                                                                                           \
    static void rq64_##S(const int64_t *x, int64_t n, nq_requant r, int32_t lo, int32_t hi,     \
                         void *y)                                                               \
    {                                                                                           \
        nq_requant_s64_to_##S(x, n, r, lo, hi, (T *)y);                                         \
    }                                                                                           \
    static void dequant_##S(const void *q, int64_t n, float s, float *y)                        \
    {                                                                                           \
        nq_dequantize_##S##_f32((const T *)q, n, s, y);                                         \
    }
QZ_OUT_FNS(s8, int8_t)
QZ_OUT_FNS(u8, uint8_t)
QZ_OUT_FNS(s16, int16_t)
QZ_OUT_FNS(s32, int32_t)

#define QZ_WIDEN_FN(S, T)                                                                       \
    static void widen_##S(const void *px, int64_t n, int32_t *y)                                \
    {                                                                                           \
        const T *x = px;                                                                        \
        for (int64_t i = 0; i < n; i++) y[i] = x[i];                                            \
    }
QZ_WIDEN_FN(s8, int8_t)
QZ_WIDEN_FN(u8, uint8_t)
QZ_WIDEN_FN(s16, int16_t)

/* float -> int64 (biases of int64 accumulators): the same formula, the
 * product in float32 and the clamp in double (int64 bounds as doubles). */
static void quant_s64(const float *x, int64_t n, float s, int64_t lo, int64_t hi, void *py)
{
    int64_t *y = py;
    for (int64_t i = 0; i < n; i++) {
        double v = nearbyintf(x[i] * s);
        y[i] = v <= (double)lo ? lo : v >= (double)hi ? hi : (int64_t)v;
    }
}

/* int64 -> float (kernels.h has no int64 dequantizer): same formula. */
static void dequant_s64(const void *pq, int64_t n, float s, float *y)
{
    const int64_t *q = pq;
    for (int64_t i = 0; i < n; i++) y[i] = (float)q[i] * s;
}

/* How requantization reads an integer X. */
typedef enum qz_acc { QZ_ACC_WIDEN = 0, QZ_ACC_S32, QZ_ACC_S64 } qz_acc;

/* One entry per storage type. As an output: quant and rq32/rq64 write it
 * (NULL: not an output type). As an input: dequant reads it, and acc says
 * which requantization loop takes it (widen first for narrow types). */
typedef struct qz_store {
    qz_quant_fn quant;
    qz_rq32_fn rq32;
    qz_rq64_fn rq64;
    qz_dequant_fn dequant;
    qz_acc acc;
    qz_widen_fn widen;
} qz_store;

static const qz_store store_s8 = {quant_s8, rq32_s8, rq64_s8, dequant_s8, QZ_ACC_WIDEN, widen_s8};
static const qz_store store_u8 = {quant_u8, rq32_u8, rq64_u8, dequant_u8, QZ_ACC_WIDEN, widen_u8};
static const qz_store store_s16 = {quant_s16, rq32_s16, rq64_s16, dequant_s16, QZ_ACC_WIDEN,
                                   widen_s16};
static const qz_store store_s32 = {quant_s32, rq32_s32, rq64_s32, dequant_s32, QZ_ACC_S32, NULL};
static const qz_store store_s64 = {quant_s64, NULL, NULL, dequant_s64, QZ_ACC_S64, NULL};

/* Integer dtypes by storage; the range of the dtype itself comes from
 * nq_dtype_int_range (int4: [-8, 7] in an int8_t). */
static const qz_store *const qz_stores[NQ_DTYPE_COUNT] = {
    [NQ_DTYPE_INT2] = &store_s8,   [NQ_DTYPE_INT3] = &store_s8,  [NQ_DTYPE_INT4] = &store_s8,
    [NQ_DTYPE_INT8] = &store_s8,   [NQ_DTYPE_UINT4] = &store_u8, [NQ_DTYPE_UINT8] = &store_u8,
    [NQ_DTYPE_INT16] = &store_s16, [NQ_DTYPE_INT32] = &store_s32, [NQ_DTYPE_INT64] = &store_s64,
};

static const qz_store *qz_store_of(nq_dtype t)
{
    return (unsigned)t < NQ_DTYPE_COUNT ? qz_stores[t] : NULL;
}

/* ---- attributes and inputs, checked once for infer/scratch/forward ------ */

/* The four rows of the semantics table. */
typedef enum qz_kind { QZ_F2F = 0, QZ_F2I, QZ_I2I, QZ_I2F, QZ_KIND_COUNT } qz_kind;

typedef struct qz_plan {
    qz_kind kind;
    nq_dtype src, dst;
    int round, single_shift;
    int per_channel;
    int64_t n, outer, channels, inner; /* X as [outer, channels, inner] */
    float fmin, fmax;                  /* float output clip (+-inf when absent) */
    int64_t lo, hi;                    /* integer output range */
    const float *scale;                /* channels values (1 per-tensor) */
} qz_plan;

static nq_status attr_int01(const nq_kctx *c, const char *name, int dflt, int *out)
{
    const nq_attr *a = nq_node_attr(c->node, name);
    *out = dflt;
    if (a == NULL) return NQ_OK;
    if (a->type != NQ_ATTR_INT || (a->i != 0 && a->i != 1))
        return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "attribute '%s' must be the integer 0 or 1",
                            name);
    *out = (int)a->i;
    return NQ_OK;
}

/* clip_min / clip_max: a float (an integer is accepted too); *v stays as
 * given when absent. */
static nq_status attr_clip(const nq_kctx *c, const char *name, int *present, double *v)
{
    const nq_attr *a = nq_node_attr(c->node, name);
    *present = a != NULL;
    if (a == NULL) return NQ_OK;
    if (a->type == NQ_ATTR_FLOAT) *v = a->f;
    else if (a->type == NQ_ATTR_INT) *v = (double)a->i;
    else return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "attribute '%s' must be a float", name);
    if (isnan(*v))
        return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "attribute '%s' is NaN", name);
    return NQ_OK;
}

static nq_status qz_check_dtypes(const nq_kctx *c, qz_plan *p)
{
    p->src = c->in[0]->dtype;
    if (p->src != NQ_DTYPE_FLOAT32 && qz_store_of(p->src) == NULL)
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED,
                            "input X of dtype %s is not supported (float32 or an integer type)",
                            nq_dtype_name(p->src));
    const nq_attr *to = nq_node_attr(c->node, "to");
    p->dst = NQ_DTYPE_FLOAT32;
    if (to != NULL) {
        if (to->type != NQ_ATTR_STRING || to->s == NULL)
            return nq_kctx_fail(c, NQ_ERR_INVALID_ARG,
                                "attribute 'to' must be a dtype name (\"int8\", ...)");
        p->dst = nq_dtype_from_name(to->s);
        if (p->dst == NQ_DTYPE_UNDEFINED)
            return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "unknown dtype name to=\"%s\"", to->s);
    }
    const qz_store *d = qz_store_of(p->dst);
    if (p->dst != NQ_DTYPE_FLOAT32 && (d == NULL || d->quant == NULL))
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED,
                            "output dtype %s is not supported (float32, int2, int3, int4, "
                            "uint4, int8, uint8, int16, int32 or int64)",
                            nq_dtype_name(p->dst));
    if (p->src != NQ_DTYPE_FLOAT32 && d != NULL && d->rq32 == NULL)
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED, "output dtype %s from integers is not supported "
                            "(only a float input quantizes to it)", nq_dtype_name(p->dst));
    int fin = p->src == NQ_DTYPE_FLOAT32, fout = p->dst == NQ_DTYPE_FLOAT32;
    p->kind = fin ? (fout ? QZ_F2F : QZ_F2I) : (fout ? QZ_I2F : QZ_I2I);
    return NQ_OK;
}

static nq_status qz_check_attrs(const nq_kctx *c, qz_plan *p)
{
    nq_status s = attr_int01(c, "round", p->kind == QZ_I2F ? 0 : 1, &p->round);
    if (s == NQ_OK) s = attr_int01(c, "single_shift", 0, &p->single_shift);
    if (s != NQ_OK) return s;
    if (!p->round && (p->kind == QZ_F2I || p->kind == QZ_I2I))
        return nq_kctx_fail(c, NQ_ERR_INVALID_ARG,
                            "round=0 with integer output %s: an integer output is always rounded",
                            nq_dtype_name(p->dst));
    if (p->round && p->kind == QZ_I2F)
        return nq_kctx_fail(c, NQ_ERR_INVALID_ARG,
                            "round=1 with integer input %s and float32 output: dequantization "
                            "does not round (set round=0)",
                            nq_dtype_name(p->src));
    int has_min, has_max;
    double cmin = -INFINITY, cmax = INFINITY;
    s = attr_clip(c, "clip_min", &has_min, &cmin);
    if (s == NQ_OK) s = attr_clip(c, "clip_max", &has_max, &cmax);
    if (s != NQ_OK) return s;
    if (cmin > cmax)
        return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "clip_min %g > clip_max %g", cmin, cmax);
    if (p->dst == NQ_DTYPE_FLOAT32) {
        p->fmin = (float)cmin;
        p->fmax = (float)cmax;
        p->lo = p->hi = 0;
        return NQ_OK;
    }
    int64_t tmin, tmax;
    nq_dtype_int_range(p->dst, &tmin, &tmax);
    double lo = fmax(ceil(cmin), (double)tmin), hi = fmin(floor(cmax), (double)tmax);
    if (lo > hi)
        return nq_kctx_fail(c, NQ_ERR_INVALID_ARG,
                            "clip range [%g, %g] holds no value of %s ([%lld, %lld])", cmin, cmax,
                            nq_dtype_name(p->dst), (long long)tmin, (long long)tmax);
    p->lo = lo <= (double)tmin ? tmin : (int64_t)lo;
    p->hi = hi >= (double)tmax ? tmax : (int64_t)hi;
    p->fmin = -INFINITY;
    p->fmax = INFINITY;
    return NQ_OK;
}

/* Shape of the scale (per-tensor or per-channel along axis) and X's view
 * as [outer, channels, inner]. */
static nq_status qz_check_scale_shape(const nq_kctx *c, qz_plan *p)
{
    const nq_tensor *x = c->in[0], *sc = c->in[1];
    const nq_attr *ax = nq_node_attr(c->node, "axis");
    if (ax != NULL && ax->type != NQ_ATTR_INT)
        return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "attribute 'axis' must be an integer");
    if (sc->dtype != NQ_DTYPE_FLOAT32)
        return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "scale must be float32, has dtype %s",
                            nq_dtype_name(sc->dtype));
    if (sc->ndim > 1)
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "scale must be a scalar or 1-D, has rank %d",
                            sc->ndim);
    p->n = nq_tensor_numel(x);
    int64_t ns = nq_tensor_numel(sc);
    p->per_channel = ns != 1;
    if (!p->per_channel) {
        p->outer = 1;
        p->channels = 1;
        p->inner = p->n;
        return NQ_OK;
    }
    int64_t axis = ax ? ax->i : 1;
    int a = nq_norm_axis(axis, x->ndim);
    if (a < 0)
        return nq_kctx_fail(c, NQ_ERR_INVALID_ARG,
                            "axis %lld is out of range for input of rank %d (per-channel scale)",
                            (long long)axis, x->ndim);
    if (x->dims[a] != ns)
        return nq_kctx_fail(c, NQ_ERR_SHAPE,
                            "per-channel scale has %lld values, input has %lld along axis %d",
                            (long long)ns, (long long)x->dims[a], a);
    p->outer = 1;
    p->inner = 1;
    for (int i = 0; i < a; i++) p->outer *= x->dims[i];
    for (int i = a + 1; i < x->ndim; i++) p->inner *= x->dims[i];
    p->channels = ns;
    return NQ_OK;
}

/* Every scale positive and finite; a power of two with single_shift; a
 * factor the fixed-point requantization can represent for integer X. */
static nq_status qz_check_scale_values(const nq_kctx *c, qz_plan *p)
{
    p->scale = c->in[1]->data;
    if (p->scale == NULL)
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED,
                            "scale must be a constant known at plan time (an initializer)");
    for (int64_t i = 0; i < p->channels; i++) {
        float s = p->scale[i];
        if (!(s > 0.0f) || isinf(s))
            return nq_kctx_fail(c, NQ_ERR_INVALID_ARG,
                                "scale[%lld] = %g is not a positive finite number", (long long)i,
                                (double)s);
        int e = 0;
        const float mant = frexpf(s, &e); /* s = mant * 2^e, mant in [0.5, 1) */
        if (p->single_shift && mant != 0.5f)
            return nq_kctx_fail(c, NQ_ERR_INVALID_ARG,
                                "single_shift=1 but scale[%lld] = %g is not a power of two",
                                (long long)i, (double)s);
        if (p->kind != QZ_I2I) continue;
        if (p->single_shift) {
            int shift = 1 - e; /* s = 2^(e-1) = 2^-shift */
            if (shift < NQ_REQUANT_SHIFT_MIN || shift > NQ_REQUANT_SHIFT_MAX)
                return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED,
                                    "scale[%lld] = 2^%d is beyond a shift in [%d, %d]",
                                    (long long)i, -shift, NQ_REQUANT_SHIFT_MIN,
                                    NQ_REQUANT_SHIFT_MAX);
        } else {
            nq_requant r;
            if (nq_requant_from_scale_checked(s, &r) == NQ_REQUANT_OVERFLOW)
                return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED,
                                    "scale[%lld] = %g is too large to requantize (must be < 2^30)",
                                    (long long)i, (double)s);
        }
    }
    return NQ_OK;
}

static nq_status qz_check(const nq_kctx *c, qz_plan *p)
{
    memset(p, 0, sizeof *p);
    nq_status s = nq_elem_check_io(c, 2, 2);
    if (s == NQ_OK) s = qz_check_dtypes(c, p);
    if (s == NQ_OK) s = qz_check_attrs(c, p);
    if (s == NQ_OK) s = qz_check_scale_shape(c, p);
    if (s == NQ_OK) s = qz_check_scale_values(c, p);
    return s;
}

static nq_status qz_infer(nq_kctx *c)
{
    qz_plan p;
    nq_status s = qz_check(c, &p);
    if (s != NQ_OK) return s;
    nq_elem_same_shape(c, 0, p.dst);
    return NQ_OK;
}

/* Whether the kind requantizes (integer input, or the integral values of a
 * rounding float -> float Quantizer). */
static int qz_requantizes(const qz_plan *p) { return p->kind == QZ_I2I || (p->kind == QZ_F2F && p->round); }

/* Per-channel requantization factors, computed once per run. */
static size_t qz_scratch(const nq_kctx *c)
{
    qz_plan p;
    if (qz_check(c, &p) != NQ_OK || !qz_requantizes(&p) || !p.per_channel) return 0;
    return (size_t)p.channels * sizeof(nq_requant);
}

/* ---- forward ---------------------------------------------------------- */

typedef struct qz_job qz_job;
/* Computes n elements of one channel ch from x into y. */
typedef void (*qz_row_fn)(const qz_job *j, const void *x, void *y, int64_t n, int64_t ch);

struct qz_job {
    const qz_plan *p;
    const qz_store *src, *dst; /* NULL for float32 */
    const nq_requant *rq;      /* integer -> integer: one per channel */
    qz_row_fn row;
    const char *x;
    char *y;
    size_t xsize, ysize;
};

static inline float clampf(float v, float lo, float hi)
{
    v = v < lo ? lo : v;
    return v > hi ? hi : v;
}

static void clip_f32(float *y, int64_t n, float lo, float hi)
{
    for (int64_t i = 0; i < n; i++) y[i] = clampf(y[i], lo, hi);
}

#define QZ_CHUNK 256

/* The float product, rounded (half to even; half up with single_shift, as
 * the integer shift rounds) and clipped. */
static void f2f_float(const float *x, float *y, int64_t n, float s, float lo, float hi, int round, int half_up)
{
    if (round && !half_up && lo == floorf(lo) && hi == floorf(hi) && lo >= -0x1p22f && hi <= 0x1p22f) {
        nq_fake_quantize_f32(x, n, s, lo, hi, y); /* clamping first is the same, and vectorizes */
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] * s;
        if (round) v = half_up ? floorf(v + 0.5f) : nearbyintf(v);
        y[i] = clampf(v, lo, hi);
    }
}

/* Rounding float -> float with requantization factor r, chunk by chunk:
 * an element that is an integer within int32 is requantized exactly as
 * the integer -> integer path does (so that a fake-quantized network
 * computes what its integer cast computes, ties included), then clipped;
 * any other takes the float product. */
static void f2f_requant(const float *x, float *y, int64_t n, nq_requant r, float s, float lo, float hi,
                        int half_up)
{
    int32_t a[QZ_CHUNK], q[QZ_CHUNK];
    float f[QZ_CHUNK];
    for (int64_t k = 0; k < n; k += QZ_CHUNK) {
        int64_t m = n - k < QZ_CHUNK ? n - k : QZ_CHUNK, ints = 0;
        for (int64_t i = 0; i < m; i++) {
            float v = x[k + i];
            a[i] = v >= -2147483648.0f && v < 2147483648.0f ? (int32_t)v : 0;
            ints += v == (float)a[i];
        }
        if (ints < m) f2f_float(x + k, f, m, s, lo, hi, 1, half_up);
        if (ints > 0) nq_requant_s32_to_s32(a, m, r, INT32_MIN, INT32_MAX, q);
        for (int64_t i = 0; ints > 0 && i < m; i++)
            if (x[k + i] == (float)a[i]) f[i] = clampf((float)q[i], lo, hi);
        memcpy(y + k, f, sizeof(float) * (size_t)m);
    }
}

static void row_f2f(const qz_job *j, const void *px, void *py, int64_t n, int64_t ch)
{
    const float s = j->p->scale[ch], lo = j->p->fmin, hi = j->p->fmax;
    if (j->p->round && j->rq != NULL && j->rq[ch].mult != 0)
        f2f_requant(px, py, n, j->rq[ch], s, lo, hi, j->p->single_shift);
    else
        f2f_float(px, py, n, s, lo, hi, j->p->round, j->p->single_shift);
}

static void row_f2i(const qz_job *j, const void *x, void *y, int64_t n, int64_t ch)
{
    j->dst->quant(x, n, j->p->scale[ch], j->p->lo, j->p->hi, y);
}

static void row_i2i(const qz_job *j, const void *x, void *y, int64_t n, int64_t ch)
{
    const nq_requant r = j->rq[ch];
    const int32_t lo = (int32_t)j->p->lo, hi = (int32_t)j->p->hi; /* int64 output: refused */
    if (j->src->acc == QZ_ACC_S32) {
        j->dst->rq32(x, n, r, lo, hi, y);
    } else if (j->src->acc == QZ_ACC_S64) {
        j->dst->rq64(x, n, r, lo, hi, y);
    } else {
        int32_t buf[QZ_CHUNK];
        for (int64_t k = 0; k < n; k += QZ_CHUNK) {
            int64_t m = n - k < QZ_CHUNK ? n - k : QZ_CHUNK;
            j->src->widen((const char *)x + (size_t)k * j->xsize, m, buf);
            j->dst->rq32(buf, m, r, lo, hi, (char *)y + (size_t)k * j->ysize);
        }
    }
}

static void row_i2f(const qz_job *j, const void *x, void *y, int64_t n, int64_t ch)
{
    j->src->dequant(x, n, j->p->scale[ch], y);
    if (j->p->fmin > -INFINITY || j->p->fmax < INFINITY) clip_f32(y, n, j->p->fmin, j->p->fmax);
}

static const qz_row_fn qz_rows[QZ_KIND_COUNT] = {
    [QZ_F2F] = row_f2f, [QZ_F2I] = row_f2i, [QZ_I2I] = row_i2i, [QZ_I2F] = row_i2f};

/* Integer to integer with the channel axis last (inner == 1: a fully
 * connected layer's [batch, features] output): rows of one element would
 * cost a call each, so the elements are requantized one by one with their
 * channel's factor (the scalar reference), QZ_CHUNK at a time, and stored
 * in the output dtype by one vector pass of the identity factor (2^30 /
 * 2^30: exact on the clamped values). */
static void range_i2i_last(const qz_job *j, int64_t b, int64_t e)
{
    const nq_requant ident = {1 << 30, 30};
    const int32_t lo = (int32_t)j->p->lo, hi = (int32_t)j->p->hi;
    const int64_t C = j->p->channels;
    int32_t q[QZ_CHUNK];
    for (int64_t i = b; i < e; i += QZ_CHUNK) {
        const int64_t m = e - i < QZ_CHUNK ? e - i : QZ_CHUNK;
        const char *x = j->x + (size_t)i * j->xsize;
        if (j->src->acc == QZ_ACC_S64) {
            const int64_t *a = (const int64_t *)(const void *)x;
            for (int64_t t = 0; t < m; t++) q[t] = nq_requant_apply(a[t], j->rq[(i + t) % C], lo, hi);
        } else {
            int32_t w[QZ_CHUNK];
            const int32_t *a = (const int32_t *)(const void *)x;
            if (j->src->acc != QZ_ACC_S32) {
                j->src->widen(x, m, w);
                a = w;
            }
            for (int64_t t = 0; t < m; t++) q[t] = nq_requant_apply(a[t], j->rq[(i + t) % C], lo, hi);
        }
        j->dst->rq32(q, m, ident, lo, hi, j->y + (size_t)i * j->ysize);
    }
}

/* Elements [b, e) of the flat tensor, split at channel-row boundaries. */
static void qz_range(void *ctx, int64_t b, int64_t e)
{
    const qz_job *j = ctx;
    const int64_t inner = j->p->inner;
    if (inner == 1 && j->p->channels > 1 && j->p->kind == QZ_I2I) {
        range_i2i_last(j, b, e);
        return;
    }
    for (int64_t i = b; i < e;) {
        int64_t row = i / inner;
        int64_t end = (row + 1) * inner;
        if (end > e) end = e;
        j->row(j, j->x + (size_t)i * j->xsize, j->y + (size_t)i * j->ysize, end - i,
               row % j->p->channels);
        i = end;
    }
}

static nq_status qz_forward(nq_kctx *c)
{
    qz_plan p;
    nq_status s = qz_check(c, &p);
    if (s != NQ_OK) return s;
    if (p.n == 0) return NQ_OK;
    const nq_tensor *x = c->in[0];
    nq_tensor *y = c->out[0];
    if (x->data == NULL || y->data == NULL)
        return nq_kctx_fail(c, NQ_ERR_INTERNAL, "tensor data missing");
    if (y->dtype != p.dst || nq_tensor_numel(y) != p.n)
        return nq_kctx_fail(c, NQ_ERR_INTERNAL, "output is not %s of %lld elements",
                            nq_dtype_name(p.dst), (long long)p.n);
    qz_job j = {.p = &p,
                .src = qz_store_of(p.src),
                .dst = qz_store_of(p.dst),
                .rq = NULL,
                .row = qz_rows[p.kind],
                .x = x->data,
                .y = y->data,
                .xsize = nq_dtype_size(p.src),
                .ysize = nq_dtype_size(p.dst)};
    nq_requant one;
    if (qz_requantizes(&p)) {
        nq_requant *rq = &one;
        if (p.per_channel) {
            if (c->scratch == NULL || c->scratch_size < (size_t)p.channels * sizeof *rq)
                return nq_kctx_fail(c, NQ_ERR_INTERNAL, "scratch too small");
            rq = c->scratch;
        }
        for (int64_t k = 0; k < p.channels; k++) {
            int e = 0, exact = 1;
            (void)frexpf(p.scale[k], &e);
            if (p.single_shift) {
                rq[k] = nq_requant_from_shift(1 - e);
                exact = 1 - e >= NQ_REQUANT_SHIFT_MIN && 1 - e <= NQ_REQUANT_SHIFT_MAX;
            } else {
                exact = nq_requant_from_scale_checked(p.scale[k], &rq[k]) == NQ_REQUANT_EXACT;
            }
            /* float -> float: a factor the integer path would not use exactly leaves the float product */
            if (p.kind == QZ_F2F && !exact) rq[k].mult = 0;
        }
        j.rq = rq;
    }
    nq_par_range(p.n, NQ_PAR_GRAIN, c->num_threads, qz_range, &j);
    return NQ_OK;
}

const nq_op_def nq_def_Quantizer = {.name = "Quantizer",
                                    .infer = qz_infer,
                                    .forward = qz_forward,
                                    .scratch = qz_scratch,
                                    .domain = NQ_DOMAIN};
