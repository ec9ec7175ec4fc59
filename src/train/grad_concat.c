/* Backward of Concat: each input receives its slice of the output gradient
 * along the axis (views as [outer, size_along_axis * inner]). */
#include "train/grad_internal.h"

static nq_status concat_backward(nq_gctx *c)
{
    const float *g = nq_gd_dout(c, 0);
    if (g == NULL) return NQ_OK;
    const nq_tensor *y = c->out[0];
    const nq_attr *a = nq_node_attr(c->node, "axis");
    int axis = nq_norm_axis(a ? a->i : 1, y->ndim);
    if (axis < 0) return nq_grad_fail(c, NQ_ERR_INVALID_ARG, "axis out of range");
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++) outer *= y->dims[d];
    for (int d = axis + 1; d < y->ndim; d++) inner *= y->dims[d];
    const int64_t row = y->dims[axis] * inner;
    int64_t off = 0;
    for (int k = 0; k < c->n_in; k++) {
        const int64_t chunk = c->in[k]->dims[axis] * inner;
        float *d = nq_gd_din(c, k);
        if (d != NULL)
            for (int64_t o = 0; o < outer; o++) {
                const float *src = g + o * row + off;
                float *dst = d + o * chunk;
                for (int64_t i = 0; i < chunk; i++) dst[i] += src[i];
            }
        off += chunk;
    }
    return NQ_OK;
}

const nq_grad_def nq_grad_Concat = {.backward = concat_backward};
