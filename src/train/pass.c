/* The per-batch passes of the trainer: a plan for the batch shape at hand
 * (shapes, values folded once, one buffer per activation kept through the
 * backward), forward in training mode, loss, backward in reverse order. */
#include <stdlib.h>
#include <string.h>

#include "train/train_internal.h"

static int64_t opset_of(const nq_trainer *t, const nq_node *n)
{
    return nq_graph_opset(t->g, n->domain);
}

/* Makes `own` hold dtype/shape `sh` with storage of at least its size. */
static nq_status ensure(nq_tensor *own, size_t *cap, const nq_tensor *sh, nq_error *err)
{
    size_t bytes = nq_tensor_nbytes(sh);
    if (bytes > *cap || own->data == NULL) {
        free(own->data);
        own->data = aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
        if (own->data == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory (%zu bytes)", bytes);
        *cap = bytes;
    }
    void *data = own->data;
    *own = *sh;
    own->data = data;
    own->owns_data = 1;
    return NQ_OK;
}

static nq_status grow_scratch(nq_trainer *t, size_t bytes, nq_error *err)
{
    if (bytes <= t->scratch_size) return NQ_OK;
    free(t->scratch);
    t->scratch = aligned_alloc(64, (bytes + 63) / 64 * 64);
    t->scratch_size = t->scratch ? bytes : 0;
    if (t->scratch == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory (scratch)");
    return NQ_OK;
}

static nq_gctx gctx_of(nq_trainer *t, tnode *tn, nq_error *err)
{
    nq_gctx c = {
        .node = tn->n,
        .opset = opset_of(t, tn->n),
        .n_in = tn->n->n_inputs,
        .in = tn->in,
        .n_out = tn->n->n_outputs,
        .out = tn->out,
        .state = &tn->state,
        .step = t->step,
        .scratch = t->scratch,
        .scratch_size = t->scratch_size,
        .num_threads = t->threads,
        .err = err,
    };
    return c;
}

/* Runs the forward of one node (training forward when it has one). */
static nq_status run_node(nq_trainer *t, tnode *tn, nq_error *err)
{
    nq_gctx c = gctx_of(t, tn, err);
    if (tn->gdef && tn->gdef->forward_train) return tn->gdef->forward_train(&c);
    nq_kctx k = nq_gctx_kctx(&c);
    return tn->def->forward(&k);
}

/* Plans node i: infer shapes (with only static values' data visible),
 * allocate outputs, size scratch; static nodes run now. */
static nq_status plan_node(nq_trainer *t, tnode *tn, nq_error *err)
{
    const nq_node *n = tn->n;
    nq_tensor shape_in[16], shape_out[16];
    const nq_tensor *inp[16] = {0};
    nq_tensor *outp[16] = {0};
    if (n->n_inputs > 16 || n->n_outputs > 16)
        return nq_error_set(err, NQ_ERR_UNSUPPORTED, "node '%s': too many inputs/outputs", n->name);
    int is_static = 1;
    for (int k = 0; k < n->n_inputs; k++) {
        int v = n->inputs[k];
        tn->in[k] = NULL;
        if (v < 0) continue;
        tvalue *tv = &t->v[v];
        if (tv->kind == TV_UNUSED)
            return nq_error_set(err, NQ_ERR_INVALID_ARG, "node '%s': input '%s' is not defined",
                                n->name, t->g->values[v]->name);
        tn->in[k] = tv->t;
        shape_in[k] = *tv->t;
        shape_in[k].owns_data = 0;
        /* trainable parameters are known (their data exists) but not static */
        if (!tv->is_static && tv->kind != TV_INIT) shape_in[k].data = NULL;
        if (!tv->is_static) is_static = 0;
        inp[k] = &shape_in[k];
    }
    if (tn->def->shape_only) is_static = 1;
    for (int k = 0; k < n->n_outputs; k++) {
        tn->out[k] = NULL;
        if (n->outputs[k] < 0) continue;
        memset(&shape_out[k], 0, sizeof shape_out[k]);
        outp[k] = &shape_out[k];
    }
    nq_kctx kc = {.node = n, .opset = opset_of(t, n), .n_in = n->n_inputs, .in = inp,
                  .n_out = n->n_outputs, .out = outp, .num_threads = t->threads, .err = err};
    nq_status s = tn->def->infer(&kc);
    if (s != NQ_OK) return s;
    for (int k = 0; k < n->n_outputs; k++) {
        int v = n->outputs[k];
        if (v < 0) continue;
        tvalue *tv = &t->v[v];
        if ((s = ensure(&tv->own, &tv->cap, &shape_out[k], err))) return s;
        tv->t = &tv->own;
        tv->is_static = is_static;
        tn->out[k] = tv->t;
    }
    tn->is_static = is_static;
    size_t need = tn->def->scratch ? tn->def->scratch(&kc) : 0;
    if (tn->gdef && tn->gdef->scratch) {
        nq_gctx gc = gctx_of(t, tn, err);
        size_t g2 = tn->gdef->scratch(&gc);
        if (g2 > need) need = g2;
    }
    if ((s = grow_scratch(t, need, err))) return s;
    if (is_static) {
        /* the inference forward: values that do not depend on the batch */
        nq_gctx c = gctx_of(t, tn, err);
        nq_kctx k = nq_gctx_kctx(&c);
        if ((s = tn->def->forward(&k)) != NQ_OK) return s;
    }
    return NQ_OK;
}

static nq_status plan_build(nq_trainer *t, const nq_tensor *x, nq_error *err)
{
    const nq_graph *g = t->g;
    const nq_value *iv = g->values[g->inputs[0]];
    char want[96], got[96];
    int ok = x->dtype == NQ_DTYPE_FLOAT32 && (iv->ndim < 0 || iv->ndim == x->ndim);
    for (int d = 1; ok && iv->ndim > 0 && d < iv->ndim; d++)
        if (iv->dims[d] >= 0 && iv->dims[d] != x->dims[d]) ok = 0;
    if (!ok)
        return nq_error_set(err, NQ_ERR_SHAPE, "input '%s': expected float32 %s, got %s %s",
                            iv->name, nq_shape_str(iv->ndim, iv->dims, want, sizeof want),
                            nq_dtype_name(x->dtype), nq_shape_str(x->ndim, x->dims, got, sizeof got));
    for (int v = 0; v < t->n_values; v++) {
        tvalue *tv = &t->v[v];
        tv->is_static = tv->kind == TV_INIT && !(tv->trainable && !tv->frozen);
    }
    tvalue *in = &t->v[g->inputs[0]];
    in->own = *x;
    in->own.owns_data = 0;
    in->t = &in->own;
    nq_status s = nq_train_grad_flags(t, err);
    for (int i = 0; s == NQ_OK && i < t->n_nodes; i++) s = plan_node(t, &t->nodes[i], err);
    if (s != NQ_OK) return s;
    const nq_tensor *y = t->v[g->outputs[0]].t;
    if (t->v[g->outputs[0]].kind != TV_ACT || y->dtype != NQ_DTYPE_FLOAT32 || y->ndim != 2 ||
        y->dims[0] != x->dims[0])
        return nq_error_set(err, NQ_ERR_UNSUPPORTED,
                            "output '%s' must be computed float32 logits [N, classes]",
                            g->values[g->outputs[0]]->name);
    /* gradient buffers and the backward's pointers */
    for (int v = 0; v < t->n_values; v++) {
        tvalue *tv = &t->v[v];
        if (!tv->needs_grad) continue;
        if (tv->t->dtype != NQ_DTYPE_FLOAT32)
            return nq_error_set(err, NQ_ERR_UNSUPPORTED, "value '%s' is %s; gradients are float32",
                                g->values[v]->name, nq_dtype_name(tv->t->dtype));
        if ((s = ensure(&tv->grad, &tv->grad_cap, tv->t, err))) return s;
    }
    for (int i = 0; i < t->n_nodes; i++) {
        tnode *tn = &t->nodes[i];
        const nq_node *n = tn->n;
        for (int k = 0; k < n->n_inputs; k++) {
            int v = n->inputs[k];
            int want_grad = v >= 0 && t->v[v].needs_grad && tn->gdef &&
                            !(tn->gdef->no_grad & (1u << k));
            tn->din[k] = want_grad ? &t->v[v].grad : NULL;
        }
        for (int k = 0; k < n->n_outputs; k++) {
            int v = n->outputs[k];
            tn->dout[k] = v >= 0 && t->v[v].needs_grad ? &t->v[v].grad : NULL;
        }
    }
    size_t dl = (size_t)nq_tensor_numel(y) * sizeof(float);
    if (dl > t->dlogits_cap) {
        free(t->dlogits);
        t->dlogits = malloc(dl);
        t->dlogits_cap = t->dlogits ? dl : 0;
        if (t->dlogits == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    }
    t->plan_ndim = x->ndim;
    memcpy(t->plan_dims, x->dims, sizeof(int64_t) * (size_t)x->ndim);
    t->planned = 1;
    return NQ_OK;
}

static int plan_matches(const nq_trainer *t, const nq_tensor *x)
{
    if (!t->planned || x->ndim != t->plan_ndim) return 0;
    for (int d = 0; d < x->ndim; d++)
        if (x->dims[d] != t->plan_dims[d]) return 0;
    return 1;
}

nq_status nq_trainer_compute_grads(nq_trainer *t, const nq_tensor *x, const int64_t *labels,
                                   nq_train_stats *st, nq_error *err)
{
    nq_status s;
    if (x->data == NULL) return nq_error_set(err, NQ_ERR_INVALID_ARG, "batch has no data");
    if (!plan_matches(t, x) && (s = plan_build(t, x, err)) != NQ_OK) {
        t->planned = 0;
        return s;
    }
    const nq_graph *g = t->g;
    t->v[g->inputs[0]].own.data = x->data;
    for (int i = 0; i < t->n_nodes; i++) {
        tnode *tn = &t->nodes[i];
        if (!tn->is_static && (s = run_node(t, tn, err)) != NQ_OK) return s;
    }
    const nq_tensor *y = t->v[g->outputs[0]].t;
    const int64_t N = y->dims[0], K = y->dims[1];
    nq_train_stats bs = {0, 0, N};
    if ((s = nq_train_xent(y->data, N, K, labels, t->dlogits, &bs.loss, &bs.correct, err)))
        return s;
    if (st) *st = bs;
    /* gradient buffers are zeroed lazily, just before the first backward
     * that adds into them (while they are about to be used: cache-warm) */
    for (int v = 0; v < t->n_values; v++) t->v[v].grad_zeroed = 0;
    tvalue *yv = &t->v[g->outputs[0]];
    if (!yv->needs_grad) return NQ_OK; /* nothing to train */
    memcpy(yv->grad.data, t->dlogits, (size_t)(N * K) * sizeof(float));
    yv->grad_zeroed = 1;
    for (int i = t->n_nodes - 1; i >= 0; i--) {
        tnode *tn = &t->nodes[i];
        if (tn->is_static || !tn->backward) continue;
        int any = 0;
        for (int k = 0; k < tn->n->n_outputs; k++) {
            int v = tn->n->outputs[k];
            if (tn->dout[k] == NULL) continue;
            if (!t->v[v].grad_zeroed) { /* no consumer sent a gradient: zero */
                memset(t->v[v].grad.data, 0, nq_tensor_nbytes(&t->v[v].grad));
                t->v[v].grad_zeroed = 1;
            }
            any = 1;
        }
        if (!any) continue;
        for (int k = 0; k < tn->n->n_inputs; k++) {
            int v = tn->n->inputs[k];
            if (tn->din[k] == NULL || t->v[v].grad_zeroed) continue;
            memset(t->v[v].grad.data, 0, nq_tensor_nbytes(&t->v[v].grad));
            t->v[v].grad_zeroed = 1;
        }
        nq_gctx c = gctx_of(t, tn, err);
        c.dout = tn->dout;
        c.din = tn->din;
        if ((s = tn->gdef->backward(&c)) != NQ_OK) return s;
    }
    /* parameters no backward reached (e.g. behind a zero-gradient path) */
    for (int p = 0; p < t->n_params; p++) {
        tvalue *tv = &t->v[t->params[p]];
        if (tv->needs_grad && !tv->grad_zeroed) {
            memset(tv->grad.data, 0, nq_tensor_nbytes(&tv->grad));
            tv->grad_zeroed = 1;
        }
    }
    return NQ_OK;
}

nq_status nq_trainer_step(nq_trainer *t, const nq_tensor *x, const int64_t *labels,
                          nq_train_stats *st, nq_error *err)
{
    nq_status s = nq_trainer_compute_grads(t, x, labels, st, err);
    if (s == NQ_OK) s = nq_train_optimize(t, err);
    if (s == NQ_OK) t->step++;
    return s;
}
