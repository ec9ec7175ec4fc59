/* Backward of Add, Sub, Mul, Div with numpy broadcasting: the gradient of
 * a broadcast input is the output gradient summed over the dimensions it
 * was broadcast along (nq_grad_reduce_broadcast).
 *   Add: dA = dY, dB = dY        Sub: dA = dY, dB = -dY
 *   Mul: dA = dY * B, dB = dY * A
 *   Div: dA = dY / B, dB = -dY * Y / B
 * Scratch: two output-sized float buffers (the broadcast operand and the
 * product before reduction). */
#include <string.h>

#include "train/grad_internal.h"

static int same_shape(const nq_tensor *a, const nq_tensor *b)
{
    if (a->ndim != b->ndim) return 0;
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i]) return 0;
    return 1;
}

static size_t binary_scratch(const nq_gctx *c)
{
    return c->out[0] ? 2 * (size_t)nq_tensor_numel(c->out[0]) * sizeof(float) : 0;
}

/* din[i] += reduce(g * scale) onto input i's shape. */
static void reduce_into(const nq_gctx *c, int i, const float *g, float scale)
{
    float *d = nq_gd_din(c, i);
    if (d == NULL) return;
    const nq_tensor *y = c->out[0], *x = c->in[i];
    if (same_shape(x, y)) {
        const int64_t n = nq_tensor_numel(y);
        for (int64_t k = 0; k < n; k++) d[k] += g[k] * scale;
    } else {
        nq_grad_reduce_broadcast(g, y->ndim, y->dims, scale, d, x->ndim, x->dims);
    }
}

static nq_status check(const nq_gctx *c)
{
    for (int i = 0; i < 2; i++)
        if (c->din[i] && c->in[i]->dtype != NQ_DTYPE_FLOAT32)
            return nq_grad_fail(c, NQ_ERR_UNSUPPORTED, "input %d dtype %s (float32 only)", i,
                                nq_dtype_name(c->in[i]->dtype));
    return NQ_OK;
}

static nq_status add_sub(nq_gctx *c, float sign_b)
{
    const float *g = nq_gd_dout(c, 0);
    nq_status s = check(c);
    if (s != NQ_OK || g == NULL) return s;
    reduce_into(c, 0, g, 1.0f);
    reduce_into(c, 1, g, sign_b);
    return NQ_OK;
}

static nq_status add_backward(nq_gctx *c) { return add_sub(c, 1.0f); }
static nq_status sub_backward(nq_gctx *c) { return add_sub(c, -1.0f); }

/* tmp = input `i` broadcast to the output shape (a view when no broadcast). */
static const float *expanded(const nq_gctx *c, int i, float *tmp)
{
    const nq_tensor *y = c->out[0], *x = c->in[i];
    if (same_shape(x, y)) return x->data;
    memset(tmp, 0, (size_t)nq_tensor_numel(y) * sizeof(float));
    nq_grad_expand_add(x->data, x->ndim, x->dims, 1.0f, tmp, y->ndim, y->dims);
    return tmp;
}

static nq_status mul_backward(nq_gctx *c)
{
    const float *g = nq_gd_dout(c, 0);
    nq_status s = check(c);
    if (s != NQ_OK || g == NULL) return s;
    const int64_t n = nq_tensor_numel(c->out[0]);
    float *bufa = c->scratch, *bufb = bufa + n;
    for (int i = 0; i < 2; i++) {
        if (!c->din[i]) continue;
        const float *other = expanded(c, 1 - i, bufa);
        for (int64_t k = 0; k < n; k++) bufb[k] = g[k] * other[k];
        reduce_into(c, i, bufb, 1.0f);
    }
    return NQ_OK;
}

static nq_status div_backward(nq_gctx *c)
{
    const float *g = nq_gd_dout(c, 0), *y = c->out[0]->data;
    nq_status s = check(c);
    if (s != NQ_OK || g == NULL) return s;
    const int64_t n = nq_tensor_numel(c->out[0]);
    float *bufa = c->scratch, *bufb = bufa + n;
    const float *b = expanded(c, 1, bufa);
    if (c->din[0]) {
        for (int64_t k = 0; k < n; k++) bufb[k] = g[k] / b[k];
        reduce_into(c, 0, bufb, 1.0f);
    }
    if (c->din[1]) {
        for (int64_t k = 0; k < n; k++) bufb[k] = -g[k] * y[k] / b[k];
        reduce_into(c, 1, bufb, 1.0f);
    }
    return NQ_OK;
}

const nq_grad_def nq_grad_Add = {.backward = add_backward};
const nq_grad_def nq_grad_Sub = {.backward = sub_backward};
const nq_grad_def nq_grad_Mul = {.backward = mul_backward, .scratch = binary_scratch};
const nq_grad_def nq_grad_Div = {.backward = div_backward, .scratch = binary_scratch};
