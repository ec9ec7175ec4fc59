/* Backward of element-wise activations: Relu, LeakyRelu, Clip (ReLU6),
 * Sigmoid, Tanh. Relu passes the gradient where the output is > 0 (x > 0);
 * Clip where min <= x <= max (torch.clamp's convention); the bounds are
 * never trained (inputs 1 and 2 are no_grad). */
#include <float.h>

#include "train/grad_internal.h"

static nq_status act_check(nq_gctx *c, const float **g, float **d, int64_t *n)
{
    *g = nq_gd_dout(c, 0);
    *d = nq_gd_din(c, 0);
    *n = c->din[0] ? nq_tensor_numel(c->din[0]) : 0;
    if (*g && *d && c->in[0]->dtype != NQ_DTYPE_FLOAT32)
        return nq_grad_fail(c, NQ_ERR_UNSUPPORTED, "input dtype %s (float32 only)",
                            nq_dtype_name(c->in[0]->dtype));
    return NQ_OK;
}

/* d += g where y > 0 (separate arrays, unconditional loads: vectorizes). */
static void relu_mask_add(const float *restrict g, const float *restrict y, float *restrict d,
                          int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        const float gi = g[i];
        d[i] += y[i] > 0.0f ? gi : 0.0f;
    }
}

static nq_status relu_backward(nq_gctx *c)
{
    const float *g, *y = c->out[0]->data;
    float *d;
    int64_t n;
    nq_status s = act_check(c, &g, &d, &n);
    if (s != NQ_OK || !g || !d) return s;
    relu_mask_add(g, y, d, n);
    return NQ_OK;
}

static nq_status leaky_backward(nq_gctx *c)
{
    const float *g, *x = c->in[0]->data;
    float *d;
    int64_t n;
    nq_status s = act_check(c, &g, &d, &n);
    if (s != NQ_OK || !g || !d) return s;
    const float alpha = nq_node_attr_float(c->node, "alpha", 0.01f);
    for (int64_t i = 0; i < n; i++) {
        const float gi = g[i];
        d[i] += x[i] > 0.0f ? gi : alpha * gi;
    }
    return NQ_OK;
}

/* Clip bounds: attributes before opset 11, optional inputs 1 and 2 from it. */
static nq_status clip_bounds(const nq_gctx *c, float *lo, float *hi)
{
    *lo = -FLT_MAX;
    *hi = FLT_MAX;
    if (c->opset < 11) {
        *lo = nq_node_attr_float(c->node, "min", -FLT_MAX);
        *hi = nq_node_attr_float(c->node, "max", FLT_MAX);
        return NQ_OK;
    }
    for (int i = 1; i <= 2 && i < c->n_in; i++) {
        const nq_tensor *t = c->in[i];
        if (t == NULL) continue;
        if (t->dtype != NQ_DTYPE_FLOAT32 || nq_tensor_numel(t) != 1 || t->data == NULL)
            return nq_grad_fail(c, NQ_ERR_UNSUPPORTED, "bound %d is not a float32 scalar", i);
        *(i == 1 ? lo : hi) = *(const float *)t->data;
    }
    return NQ_OK;
}

static nq_status clip_backward(nq_gctx *c)
{
    const float *g, *x = c->in[0]->data;
    float *d, lo, hi;
    int64_t n;
    nq_status s = act_check(c, &g, &d, &n);
    if (s != NQ_OK || !g || !d) return s;
    if ((s = clip_bounds(c, &lo, &hi)) != NQ_OK) return s;
    for (int64_t i = 0; i < n; i++) {
        const float gi = g[i];
        d[i] += (x[i] >= lo && x[i] <= hi) ? gi : 0.0f;
    }
    return NQ_OK;
}

static nq_status sigmoid_backward(nq_gctx *c)
{
    const float *g, *y = c->out[0]->data;
    float *d;
    int64_t n;
    nq_status s = act_check(c, &g, &d, &n);
    if (s != NQ_OK || !g || !d) return s;
    for (int64_t i = 0; i < n; i++) d[i] += g[i] * y[i] * (1.0f - y[i]);
    return NQ_OK;
}

static nq_status tanh_backward(nq_gctx *c)
{
    const float *g, *y = c->out[0]->data;
    float *d;
    int64_t n;
    nq_status s = act_check(c, &g, &d, &n);
    if (s != NQ_OK || !g || !d) return s;
    for (int64_t i = 0; i < n; i++) d[i] += g[i] * (1.0f - y[i] * y[i]);
    return NQ_OK;
}

const nq_grad_def nq_grad_Relu = {.backward = relu_backward};
const nq_grad_def nq_grad_LeakyRelu = {.backward = leaky_backward};
const nq_grad_def nq_grad_Clip = {.backward = clip_backward, .no_grad = (1u << 1) | (1u << 2)};
const nq_grad_def nq_grad_Sigmoid = {.backward = sigmoid_backward};
const nq_grad_def nq_grad_Tanh = {.backward = tanh_backward};
