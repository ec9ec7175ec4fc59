/* Backward of Softmax and LogSoftmax over the axis rules of the opset
 * (before 13: the input is coerced to 2-D at `axis`, default 1; from 13:
 * one axis, default -1).
 *   Softmax:    dx = y * (dy - sum(dy * y))
 *   LogSoftmax: dx = dy - exp(y) * sum(dy)
 * with the sums over the softmax axis (or coerced trailing block). */
#include <math.h>

#include "train/grad_internal.h"

static nq_status geometry(const nq_gctx *c, int64_t *outer, int64_t *len, int64_t *inner)
{
    const nq_tensor *x = c->in[0];
    int64_t axis = nq_softmax_split(c->node, c->opset, x, outer, len, inner);
    if (axis < 0 || axis >= x->ndim)
        return nq_grad_fail(c, NQ_ERR_INVALID_ARG, "axis %lld out of range for rank %d",
                            (long long)axis, x->ndim);
    return NQ_OK;
}

static nq_status softmax_common(nq_gctx *c, int log)
{
    const float *g = nq_gd_dout(c, 0), *y = c->out[0]->data;
    float *d = nq_gd_din(c, 0);
    if (!g || !d) return NQ_OK;
    int64_t outer, len, inner;
    nq_status s = geometry(c, &outer, &len, &inner);
    if (s != NQ_OK) return s;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            const int64_t base = o * len * inner + in;
            double acc = 0.0;
            for (int64_t k = 0; k < len; k++) {
                const int64_t i = base + k * inner;
                acc += log ? (double)g[i] : (double)g[i] * y[i];
            }
            const float sum = (float)acc;
            for (int64_t k = 0; k < len; k++) {
                const int64_t i = base + k * inner;
                d[i] += log ? g[i] - expf(y[i]) * sum : y[i] * (g[i] - sum);
            }
        }
    return NQ_OK;
}

static nq_status softmax_backward(nq_gctx *c) { return softmax_common(c, 0); }
static nq_status log_softmax_backward(nq_gctx *c) { return softmax_common(c, 1); }

const nq_grad_def nq_grad_Softmax = {.backward = softmax_backward};
const nq_grad_def nq_grad_LogSoftmax = {.backward = log_softmax_backward};
