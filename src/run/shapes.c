/* Static shape inference and constant folding on the graph itself. */
#include <stdlib.h>
#include <string.h>

#include "run/run_internal.h"

/* Plans g for the given batch size (no arena). */
static nq_status plan_for_batch(const nq_graph *g, int64_t batch, nq_plan **p, nq_error *err)
{
    nq_status s = NQ_OK;
    nq_tensor *in = calloc((size_t)(g->n_inputs + 1), sizeof(nq_tensor));
    if (in == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    for (int i = 0; i < g->n_inputs && s == NQ_OK; i++) {
        const nq_value *v = g->values[g->inputs[i]];
        int64_t dims[NQ_MAX_DIMS];
        if (v->ndim < 0 || v->dtype == NQ_DTYPE_UNDEFINED) {
            s = nq_error_set(err, NQ_ERR_SHAPE, "input '%s' has no declared type and shape", v->name);
            break;
        }
        for (int d = 0; d < v->ndim; d++) {
            dims[d] = v->dims[d] >= 0 ? v->dims[d] : (d == 0 ? batch : -1);
            if (dims[d] < 0)
                s = nq_error_set(err, NQ_ERR_SHAPE,
                                 "input '%s': dimension %d is dynamic; only the batch dimension may be",
                                 v->name, d);
        }
        if (s == NQ_OK) s = nq_tensor_init(&in[i], v->dtype, v->ndim, dims, err);
        if (s == NQ_OK && nq_input_is_small_int(&in[i]))
            s = nq_error_set(err, NQ_ERR_UNSUPPORTED,
                             "input '%s' is a small integer tensor: shapes depend on its values",
                             v->name);
    }
    if (s == NQ_OK) s = nq_plan_build(g, in, g->n_inputs, 1, 0, 0, p, err);
    free(in);
    return s;
}

nq_status nq_graph_infer_shapes(nq_graph *g, int64_t batch, nq_error *err)
{
    nq_status s = nq_ops_resolve(g, err);
    if (s != NQ_OK) return s;
    /* batch 0: plan for batch sizes 1 and 2; a dimension that differs is dynamic */
    nq_plan *p = NULL, *p2 = NULL;
    s = plan_for_batch(g, batch > 0 ? batch : 1, &p, err);
    if (s == NQ_OK && batch <= 0) s = plan_for_batch(g, 2, &p2, err);
    for (int v = 0; s == NQ_OK && v < g->n_values; v++) {
        const nq_slot *sl = &p->slots[v];
        nq_value *val = g->values[v];
        if (sl->kind == NQ_SLOT_UNUSED || (val->is_input && batch <= 0)) continue;
        val->dtype = sl->t.dtype;
        val->ndim = sl->t.ndim;
        memcpy(val->dims, sl->t.dims, sizeof sl->t.dims);
        if (p2 != NULL && p2->slots[v].t.ndim == sl->t.ndim)
            for (int d = 0; d < sl->t.ndim; d++)
                if (p2->slots[v].t.dims[d] != sl->t.dims[d]) val->dims[d] = -1;
    }
    nq_plan_free(p);
    nq_plan_free(p2);
    return s;
}

/* A node is folded when every input it has is an initializer. */
static int all_inputs_constant(const nq_graph *g, const nq_node *n)
{
    for (int k = 0; k < n->n_inputs; k++)
        if (n->inputs[k] >= 0 && g->values[n->inputs[k]]->init == NULL) return 0;
    return 1;
}

nq_status nq_graph_fold_constants(nq_graph *g, nq_error *err)
{
    nq_status s = nq_ops_resolve(g, err);
    if (s != NQ_OK) return s;
    for (int i = 0; i < g->n_nodes;) {
        nq_node *n = g->nodes[i];
        if (!all_inputs_constant(g, n)) {
            i++;
            continue;
        }
        const nq_tensor *in[64] = {0};
        nq_tensor res[16];
        nq_tensor *out[16] = {0};
        if (n->n_inputs > 64 || n->n_outputs > 16) {
            i++;
            continue;
        }
        memset(res, 0, sizeof res);
        for (int k = 0; k < n->n_inputs; k++)
            in[k] = n->inputs[k] >= 0 ? g->values[n->inputs[k]]->init : NULL;
        for (int k = 0; k < n->n_outputs; k++) out[k] = n->outputs[k] >= 0 ? &res[k] : NULL;
        s = nq_exec_node(g, n, in, out, 1, 1, err);
        if (s != NQ_OK) {
            for (int k = 0; k < n->n_outputs; k++) nq_tensor_free(&res[k]);
            return s;
        }
        int outs[16], n_out = n->n_outputs;
        memcpy(outs, n->outputs, sizeof(int) * (size_t)n_out);
        nq_graph_delete_node(g, n);
        for (int k = 0; k < n_out; k++) {
            if (outs[k] < 0) continue;
            nq_value *v = g->values[outs[k]];
            v->init = nq_tensor_new();
            if (v->init == NULL) {
                for (int j = k; j < n_out; j++) nq_tensor_free(&res[j]);
                return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
            }
            *v->init = res[k];
            v->dtype = res[k].dtype;
            v->ndim = res[k].ndim;
            memcpy(v->dims, res[k].dims, sizeof v->dims);
        }
    }
    return NQ_OK;
}
