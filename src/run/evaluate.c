/* Top-1 evaluation over a dataset, and MAC counts. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

#include "nnquant/ops.h"
#include "core/core_internal.h"
#include "nnquant/run.h"

int64_t nq_argmax(const nq_tensor *t, int64_t offset, int64_t n)
{
    int64_t best = 0;
    double bv = nq_tensor_get(t, offset);
    for (int64_t i = 1; i < n; i++) {
        double v = nq_tensor_get(t, offset + i);
        if (v > bv) {
            bv = v;
            best = i;
        }
    }
    return best;
}

nq_status nq_evaluate(nq_session *s, const nq_graph *g, const nq_dataset *d, int64_t batch,
                      nq_progress_fn progress, void *user, nq_eval_result *r, nq_error *err)
{
    r->samples = r->correct = 0;
    r->top1 = r->seconds = 0;
    if (g->n_inputs != 1 || g->n_outputs < 1)
        return nq_error_set(err, NQ_ERR_UNSUPPORTED,
                            "evaluation needs a model with one input (this one has %d)", g->n_inputs);
    if (d->labels == NULL) return nq_error_set(err, NQ_ERR_INVALID_ARG, "evaluation needs labels");
    if (batch < 1) batch = 1;
    const nq_value *in = g->values[g->inputs[0]];
    for (int64_t start = 0; start < d->n; start += batch) {
        int64_t count = d->n - start < batch ? d->n - start : batch;
        nq_tensor x = {0}, y = {0};
        nq_status st = nq_dataset_batch(d, start, count, in->ndim, in->dims, &x, err);
        if (st != NQ_OK) return st;
        double t0 = nq_now_seconds();
        st = nq_session_run(s, &x, 1, &y, 1, err);
        r->seconds += nq_now_seconds() - t0;
        nq_tensor_free(&x);
        if (st != NQ_OK) return st;
        if (y.ndim != 2 || y.dims[0] != count || y.dtype == NQ_DTYPE_BOOL) {
            char buf[96];
            nq_tensor_free(&y);
            return nq_error_set(err, NQ_ERR_SHAPE,
                                "evaluation expects output [N, classes] (float or integer), got %s %s",
                                nq_dtype_name(y.dtype), nq_shape_str(y.ndim, y.dims, buf, sizeof buf));
        }
        for (int64_t i = 0; i < count; i++)
            if (nq_argmax(&y, i * y.dims[1], y.dims[1]) == d->labels[start + i]) r->correct++;
        nq_tensor_free(&y);
        r->samples += count;
        if (progress) progress(user, r->samples, d->n);
    }
    r->top1 = r->samples ? (double)r->correct / (double)r->samples : 0.0;
    return NQ_OK;
}

static int64_t prod(const nq_value *v, int from, int to)
{
    int64_t p = 1;
    for (int i = from; i < to; i++) p *= v->dims[i];
    return p;
}

static int known(const nq_value *v)
{
    if (v->ndim < 0) return 0;
    for (int i = 0; i < v->ndim; i++)
        if (v->dims[i] < 0) return 0;
    return 1;
}

int64_t nq_node_macs(const nq_graph *g, const nq_node *n)
{
    if (n->n_inputs < 2 || n->inputs[0] < 0 || n->inputs[1] < 0 || n->n_outputs < 1 || n->outputs[0] < 0)
        return 0;
    const nq_value *x = g->values[n->inputs[0]], *w = g->values[n->inputs[1]];
    const nq_value *y = g->values[n->outputs[0]];
    if (!known(x) || !known(w) || !known(y)) return 0;
    switch (n->op) {
    case NQ_OP_Conv: /* every output element: Cin/group * kernel MACs */
        return w->ndim >= 2 ? prod(y, 0, y->ndim) * prod(w, 1, w->ndim) : 0;
    case NQ_OP_ConvTranspose: /* every input element scatters Cout/group * kernel MACs */
        return w->ndim >= 2 ? prod(x, 0, x->ndim) * prod(w, 1, w->ndim) : 0;
    case NQ_OP_Gemm:
    case NQ_OP_MatMul: { /* output elements times the reduced dimension */
        int64_t k = x->ndim >= 1 ? x->dims[x->ndim - 1] : 1;
        if (n->op == NQ_OP_Gemm && nq_node_attr_int(n, "transA", 0) && x->ndim == 2) k = x->dims[0];
        return prod(y, 0, y->ndim) * k;
    }
    default: return 0;
    }
}
