/* Backward of ReduceSum and ReduceMean (float32): the output gradient,
 * seen with the reduced dims kept as 1, is broadcast back over the input
 * (divided by the number of reduced elements for the mean). The axes input
 * (int64) never gets a gradient. */
#include "ops/elemwise.h"
#include "train/grad_internal.h"

static nq_status reduce_backward(nq_gctx *c, int64_t axes_input_since, int mean)
{
    const float *g = nq_gd_dout(c, 0);
    float *d = nq_gd_din(c, 0);
    if (g == NULL || d == NULL) return NQ_OK;
    nq_kctx k = nq_gctx_kctx(c);
    nq_reduce_axes ra;
    nq_status s = nq_reduce_read_axes(&k, axes_input_since, &ra);
    if (s != NQ_OK) return s;
    const nq_tensor *x = c->in[0];
    int64_t kept[NQ_MAX_DIMS], count = 1;
    for (int i = 0; i < x->ndim; i++) {
        int red = !ra.noop && ra.red[i];
        kept[i] = red ? 1 : x->dims[i];
        if (red) count *= x->dims[i];
    }
    const float scale = mean && count > 0 ? 1.0f / (float)count : 1.0f;
    nq_grad_expand_add(g, x->ndim, kept, scale, d, x->ndim, x->dims);
    return NQ_OK;
}

/* the opsets from which axes is an input, as in src/ops/reduce.c */
static nq_status sum_backward(nq_gctx *c) { return reduce_backward(c, 13, 0); }
static nq_status mean_backward(nq_gctx *c) { return reduce_backward(c, 18, 1); }

const nq_grad_def nq_grad_ReduceSum = {.backward = sum_backward, .no_grad = 1u << 1};
const nq_grad_def nq_grad_ReduceMean = {.backward = mean_backward, .no_grad = 1u << 1};
