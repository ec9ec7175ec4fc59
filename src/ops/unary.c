/*
 * Element-wise float32 activations: Relu, LeakyRelu, Sigmoid, Tanh,
 * HardSigmoid, HardSwish, Sqrt, Erf. Clip, Identity and Dropout (which
 * accept more dtypes) are in unary_misc.c.
 *
 * One table row per operator: the row kernel and, for operators with
 * alpha/beta attributes, their defaults. Input and output may be the same
 * buffer (every kernel reads x[i] before writing y[i]).
 *
 * NaN propagates through every op (Relu(NaN) = NaN, as numpy's maximum).
 * Relu on integer dtypes: unary_int.c.
 */
#include <math.h>
#include <string.h>

#include "ops/elemwise.h"
#include "ops/int_ops.h"

typedef struct unary_params {
    float alpha, beta;
} unary_params;

typedef void (*unary_fn)(const float *x, float *y, int64_t n, unary_params p);

static void relu_f32(const float *x, float *y, int64_t n, unary_params p)
{
    for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? 0.0f : x[i];
}

static void leaky_relu_f32(const float *x, float *y, int64_t n, unary_params p)
{
    for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0.0f ? p.alpha * x[i] : x[i];
}

/* 1 / (1 + e^-x), written so that exp never overflows. */
static void sigmoid_f32(const float *x, float *y, int64_t n, unary_params p)
{
    for (int64_t i = 0; i < n; i++) {
        float v = x[i];
        if (v >= 0.0f) {
            y[i] = 1.0f / (1.0f + expf(-v));
        } else {
            float e = expf(v);
            y[i] = e / (1.0f + e);
        }
    }
}

static void tanh_f32(const float *x, float *y, int64_t n, unary_params p)
{
    for (int64_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
}

static inline float clamp01(float v) { return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v; }

/* max(0, min(1, alpha * x + beta)) */
static void hard_sigmoid_f32(const float *x, float *y, int64_t n, unary_params p)
{
    for (int64_t i = 0; i < n; i++) y[i] = clamp01(p.alpha * x[i] + p.beta);
}

/* x * max(0, min(1, x / 6 + 1 / 2)) */
static void hard_swish_f32(const float *x, float *y, int64_t n, unary_params p)
{
    for (int64_t i = 0; i < n; i++) y[i] = x[i] * clamp01(x[i] * (1.0f / 6.0f) + 0.5f);
}

static void sqrt_f32(const float *x, float *y, int64_t n, unary_params p)
{
    for (int64_t i = 0; i < n; i++) y[i] = sqrtf(x[i]);
}

static void erf_f32(const float *x, float *y, int64_t n, unary_params p)
{
    for (int64_t i = 0; i < n; i++) y[i] = erff(x[i]);
}

typedef struct unary_op {
    unary_fn fn;
    int has_alpha, has_beta;   /* read from attributes "alpha" / "beta" */
    unary_params dflt;         /* attribute defaults */
} unary_op;

enum { U_RELU, U_LEAKY_RELU, U_SIGMOID, U_TANH, U_HARD_SIGMOID, U_HARD_SWISH, U_SQRT, U_ERF,
       U_COUNT };

static const unary_op unary_ops[U_COUNT] = {
    [U_RELU] = {relu_f32, 0, 0, {0, 0}},
    [U_LEAKY_RELU] = {leaky_relu_f32, 1, 0, {0.01f, 0}},
    [U_SIGMOID] = {sigmoid_f32, 0, 0, {0, 0}},
    [U_TANH] = {tanh_f32, 0, 0, {0, 0}},
    [U_HARD_SIGMOID] = {hard_sigmoid_f32, 1, 1, {0.2f, 0.5f}},
    [U_HARD_SWISH] = {hard_swish_f32, 0, 0, {0, 0}},
    [U_SQRT] = {sqrt_f32, 0, 0, {0, 0}},
    [U_ERF] = {erf_f32, 0, 0, {0, 0}},
};

static nq_status unary_infer(nq_kctx *c, const unary_op *op)
{
    if (op->fn == relu_f32 && nq_iop_int_input(c)) return nq_relu_int_infer(c); /* unary_int.c */
    nq_status s = nq_elem_check_io(c, 1, 1);
    if (s != NQ_OK) return s;
    if (c->in[0]->dtype != NQ_DTYPE_FLOAT32)
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED, "unsupported input dtype %s (float32 only)",
                            nq_dtype_name(c->in[0]->dtype));
    nq_elem_same_shape(c, 0, NQ_DTYPE_FLOAT32);
    return NQ_OK;
}

typedef struct unary_job {
    unary_fn fn;
    unary_params p;
    const float *x;
    float *y;
} unary_job;

static void unary_range(void *ctx, int64_t b, int64_t e)
{
    const unary_job *j = ctx;
    j->fn(j->x + b, j->y + b, e - b, j->p);
}

static unary_params unary_read_params(const nq_kctx *c, const unary_op *op)
{
    unary_params p = op->dflt;
    if (op->has_alpha) p.alpha = nq_node_attr_float(c->node, "alpha", op->dflt.alpha);
    if (op->has_beta) p.beta = nq_node_attr_float(c->node, "beta", op->dflt.beta);
    return p;
}

static nq_status unary_forward(nq_kctx *c, const unary_op *op)
{
    if (op->fn == relu_f32 && nq_iop_int_input(c)) return nq_relu_int_forward(c);
    nq_status s = unary_infer(c, op);
    if (s != NQ_OK) return s;
    unary_job j = {op->fn, unary_read_params(c, op), c->in[0]->data, c->out[0]->data};
    int64_t n = nq_tensor_numel(c->in[0]);
    if (n > 0 && (j.x == NULL || j.y == NULL))
        return nq_kctx_fail(c, NQ_ERR_INTERNAL, "tensor data missing");
    nq_par_range(n, NQ_PAR_GRAIN, c->num_threads, unary_range, &j);
    return NQ_OK;
}

/* Fused after a Conv: every kernel is element-wise, so a range of planes
 * is a range of elements. */
static int unary_fusable(const nq_kctx *c) { return c->in[0]->dtype == NQ_DTYPE_FLOAT32; }

static void unary_apply(const nq_kctx *c, const unary_op *op, float *y, int64_t p0, int64_t p1)
{
    const int64_t plane = nq_plane_size(c->in[0]);
    op->fn(y + p0 * plane, y + p0 * plane, (p1 - p0) * plane, unary_read_params(c, op));
}

#define UNARY_DEF(Op, idx)                                                                 \
    static nq_status Op##_infer(nq_kctx *c) { return unary_infer(c, &unary_ops[idx]); }   \
    static nq_status Op##_forward(nq_kctx *c) { return unary_forward(c, &unary_ops[idx]); } \
    static void Op##_apply(const nq_kctx *c, float *y, int64_t p0, int64_t p1)             \
    {                                                                                      \
        unary_apply(c, &unary_ops[idx], y, p0, p1);                                        \
    }                                                                                      \
    static const nq_epilogue_def Op##_epilogue = {unary_fusable, Op##_apply};              \
    const nq_op_def nq_def_##Op = {.name = #Op, .infer = Op##_infer, .forward = Op##_forward, \
                                   .epilogue = &Op##_epilogue};

UNARY_DEF(Relu, U_RELU)
UNARY_DEF(LeakyRelu, U_LEAKY_RELU)
UNARY_DEF(Sigmoid, U_SIGMOID)
UNARY_DEF(Tanh, U_TANH)
UNARY_DEF(HardSigmoid, U_HARD_SIGMOID)
UNARY_DEF(HardSwish, U_HARD_SWISH)
UNARY_DEF(Sqrt, U_SQRT)
UNARY_DEF(Erf, U_ERF)
