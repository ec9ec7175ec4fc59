/* check_architecture, auto_assign_node_precision, prepare_network. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_internal.h"
#include "nnquant/run.h"
#include "ptq/ptq_internal.h"

nq_status nq_check_architecture(const nq_graph *g, nq_error *err)
{
    nq_report_entry *e = calloc((size_t)g->n_nodes + 1, sizeof *e);
    if (e == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    int bad = nq_quantizability_report(g, e);
    char list[400] = "";
    size_t len = 0;
    for (int i = 0, shown = 0; i < g->n_nodes && shown < 8 && len < sizeof list; i++)
        if (e[i].support == NQ_PTQ_SUPPORT_NONE)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s'%s' (%s)", shown++ ? ", " : "",
                                    e[i].node->name, e[i].node->op_type);
    free(e);
    if (bad == 0) return NQ_OK;
    return nq_error_set(err, NQ_ERR_UNSUPPORTED, "%d node%s cannot be quantized: %s%s", bad,
                        bad > 1 ? "s" : "", list, bad > 8 ? ", ..." : "");
}

/* The node whose user-given precision a PTQ quantizer follows: a scaling
 * node follows the node it rescales, a weight quantizer the affine node it
 * feeds (so "--precision conv1=int4" makes that layer int4 throughout).
 * An affine node kept in float (a float island) has float weights and bias
 * and its output is quantized again at the activation precision. */
static const nq_node *precision_owner(const nq_graph *g, const nq_node *q)
{
    const char *role = nq_ptq_role(q);
    if (role == NULL || q->n_inputs < 1 || q->inputs[0] < 0) return NULL;
    if (strcmp(role, NQ_ROLE_SCALING) == 0) {
        const nq_node *p = g->values[q->inputs[0]]->producer;
        return p && nq_ptq_is_float_island(p) ? NULL : p;
    }
    const nq_node *c = nq_ptq_single_consumer(g, q->outputs[0]);
    if (strcmp(role, NQ_ROLE_WEIGHT) == 0) return c;
    if (strcmp(role, NQ_ROLE_BIAS) == 0) return c && nq_ptq_is_float_island(c) ? c : NULL;
    return NULL;
}

/* Only affine nodes can be kept in float: other nodes run exactly on
 * integers, or have no integer form at all. */
static nq_status check_float_tags(const nq_graph *g, nq_error *err)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const nq_node *n = g->nodes[i];
        nq_ptq_kind k = nq_ptq_kind_of(n);
        if (k == NQ_PTQ_QUANTIZER || k == NQ_PTQ_AFFINE || !nq_node_attr(n, NQ_ATTR_PRECISION)) continue;
        if (nq_dtype_is_float(nq_ptq_precision(n, NQ_DTYPE_INT8)))
            return nq_error_set(err, NQ_ERR_UNSUPPORTED,
                                "node '%s' (%s) is tagged %s: only Conv, Gemm and MatMul nodes can be "
                                "kept in float", n->name, n->op_type, nq_node_attr_string(n, NQ_ATTR_PRECISION, ""));
    }
    return NQ_OK;
}

nq_status nq_auto_assign_node_precision(nq_graph *g, nq_dtype act, nq_dtype weight, nq_dtype bias,
                                        nq_error *err)
{
    nq_status st = check_float_tags(g, err);
    if (st != NQ_OK) return st;
    /* first the quantizers of nodes the user tagged, before any default tag */
    for (int i = 0; i < g->n_nodes; i++) {
        nq_node *n = g->nodes[i];
        const nq_node *o = nq_node_attr(n, NQ_ATTR_PRECISION) ? NULL : precision_owner(g, n);
        const char *t = o ? nq_node_attr_string(o, NQ_ATTR_PRECISION, NULL) : NULL;
        if (t != NULL && nq_node_set_string(n, NQ_ATTR_PRECISION, t) != NQ_OK)
            return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < g->n_nodes; i++) {
        nq_node *n = g->nodes[i];
        const char *role = nq_ptq_role(n);
        nq_dtype t = act;
        if (role && strcmp(role, NQ_ROLE_WEIGHT) == 0) t = weight;
        else if (role && strcmp(role, NQ_ROLE_BIAS) == 0) t = bias;
        if (nq_node_attr(n, NQ_ATTR_PRECISION) == NULL &&
            nq_node_set_string(n, NQ_ATTR_PRECISION, nq_dtype_name(t)) != NQ_OK)
            return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        nq_ptq_kind k = nq_ptq_kind_of(n);
        if ((k == NQ_PTQ_AFFINE || k == NQ_PTQ_SUM) && nq_node_attr(n, NQ_ATTR_ACC_PRECISION) == NULL &&
            nq_node_set_string(n, NQ_ATTR_ACC_PRECISION, nq_dtype_name(bias)) != NQ_OK)
            return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    }
    return NQ_OK;
}

/* Conv/Gemm -> BatchNormalization: W[c] *= g/sqrt(v+eps), b = (b-m)*g/sqrt(v+eps) + beta. */
static nq_status fold_batchnorm(nq_graph *g, nq_node *bn, int *folded, nq_error *err)
{
    *folded = 0;
    int x = bn->inputs[0];
    nq_node *a = g->values[x]->producer;
    if (a == NULL || (a->op != NQ_OP_Conv && a->op != NQ_OP_Gemm) || nq_ptq_single_consumer(g, x) != bn)
        return NQ_OK;
    for (int k = 1; k < 5; k++)
        if (bn->n_inputs <= k || bn->inputs[k] < 0 || g->values[bn->inputs[k]]->init == NULL) return NQ_OK;
    nq_affine_params p;
    nq_status s = nq_ptq_affine_params(g, a, &p, err);
    if (s != NQ_OK) return s;
    const float *gamma = g->values[bn->inputs[1]]->init->data, *beta = g->values[bn->inputs[2]]->init->data;
    const float *mean = g->values[bn->inputs[3]]->init->data, *var = g->values[bn->inputs[4]]->init->data;
    if (nq_tensor_numel(g->values[bn->inputs[1]]->init) != p.channels) return NQ_OK;
    float eps = nq_node_attr_float(bn, "epsilon", 1e-5f);
    nq_tensor *w = nq_ptq_param(g, a, 1, err);
    if (w == NULL) return NQ_ERR_NOMEM;
    nq_tensor *b = NULL;
    if (p.b != NULL) {
        if ((b = nq_ptq_param(g, a, 2, err)) == NULL) return NQ_ERR_NOMEM;
    } else { /* give the node a zero bias */
        nq_tensor t;
        if ((s = nq_tensor_alloc(&t, NQ_DTYPE_FLOAT32, 1, &p.channels, err)) != NQ_OK) return s;
        char *name = nq_graph_unique_name(g, "bias");
        int bv = name ? nq_graph_add_initializer(g, name, &t, err) : -1;
        free(name);
        if (bv < 0) {
            nq_tensor_free(&t);
            return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        }
        const int ins[3] = {a->inputs[0], a->inputs[1], bv};
        if ((s = nq_node_set_inputs(g, a, 3, ins, err)) != NQ_OK) return s;
        b = g->values[bv]->init;
    }
    for (int64_t c = 0; c < p.channels; c++) {
        double f = gamma[c] / sqrt((double)var[c] + eps);
        float *wd = w->data, *bd = b->data;
        for (int64_t k = 0; k < p.per; k++) wd[c * p.stride + k * p.cstride] = (float)(wd[c * p.stride + k * p.cstride] * f);
        bd[c] = (float)((bd[c] - mean[c]) * f + beta[c]);
    }
    for (int k = 1; k < bn->n_outputs; k++)
        if (bn->outputs[k] >= 0 && (nq_graph_consumers(g, bn->outputs[k], NULL, 0) > 0 || g->values[bn->outputs[k]]->is_output))
            return NQ_OK; /* training outputs in use: leave it */
    s = nq_graph_remove_node(g, bn, err);
    if (s == NQ_OK) *folded = 1;
    return s;
}

/* GlobalAveragePool(x) -> ReduceSum(x, axes [2..], keepdims) then a scaling
 * Quantizer of 1/(H*W): the sum runs in integers, the mean is a rescaling. */
static nq_status rewrite_gap(nq_graph *g, nq_node *n, nq_error *err)
{
    const nq_value *x = g->values[n->inputs[0]];
    if (x->ndim < 3) return nq_error_set(err, NQ_ERR_SHAPE, "node '%s' (GlobalAveragePool): input rank unknown", n->name);
    int64_t count = 1, axes[NQ_MAX_DIMS], n_axes = x->ndim - 2;
    for (int d = 2; d < x->ndim; d++) {
        if (x->dims[d] < 0)
            return nq_error_set(err, NQ_ERR_SHAPE, "node '%s' (GlobalAveragePool): spatial size unknown", n->name);
        count *= x->dims[d];
        axes[d - 2] = d;
    }
    nq_tensor t;
    nq_status s = nq_tensor_alloc(&t, NQ_DTYPE_INT64, 1, &n_axes, err);
    if (s != NQ_OK) return s;
    memcpy(t.data, axes, sizeof(int64_t) * (size_t)n_axes);
    char *name = nq_graph_unique_name(g, "gap_axes");
    int av = name ? nq_graph_add_initializer(g, name, &t, err) : -1;
    free(name);
    if (av < 0) {
        nq_tensor_free(&t);
        return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    }
    int ins[2] = {n->inputs[0], av}, out = n->outputs[0], idx = nq_graph_node_index(g, n);
    char *nname = nq_graph_unique_name(g, n->name);
    nq_graph_delete_node(g, n);
    nq_node *r = nq_graph_add_node(g, "ReduceSum", nname, 2, ins, 1, &out, err);
    free(nname);
    if (r == NULL) return err ? err->code : NQ_ERR_NOMEM;
    /* keep the topological order: move the new node to the old one's place */
    memmove(&g->nodes[idx + 1], &g->nodes[idx], sizeof(nq_node *) * (size_t)(g->n_nodes - 1 - idx));
    g->nodes[idx] = r;
    r->pos = idx;
    r->op = NQ_OP_ReduceSum;
    if (nq_node_set_int(r, "keepdims", 1) != NQ_OK) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    if (nq_graph_opset(g, "") < 13 && nq_graph_set_opset(g, "", 13, err) != NQ_OK) return NQ_ERR_NOMEM;
    nq_node *q = nq_ptq_insert_quantizer(g, out, NQ_ROLE_SCALING, (float)(1.0 / (double)count), err);
    if (q == NULL) return err ? err->code : NQ_ERR_NOMEM;
    /* the mean keeps the pool's output name (and stays the quantizer's source) */
    nq_graph_swap_value_names(g, out, q->outputs[0]);
    return NQ_OK;
}

nq_status nq_prepare_network(nq_graph *g, nq_error *err)
{
    nq_status s = nq_graph_fold_constants(g, err);
    if (s == NQ_OK) s = nq_graph_infer_shapes(g, 0, err);
    for (int i = 0; s == NQ_OK && i < g->n_nodes;) {
        nq_node *n = g->nodes[i];
        int removed = 0;
        if (n->op == NQ_OP_BatchNormalization) s = fold_batchnorm(g, n, &removed, err);
        else if (n->op == NQ_OP_Identity || n->op == NQ_OP_Dropout) {
            int extra_used = 0;
            for (int k = 1; k < n->n_outputs; k++)
                if (n->outputs[k] >= 0 && nq_graph_consumers(g, n->outputs[k], NULL, 0) > 0) extra_used = 1;
            if (!extra_used && !g->values[n->inputs[0]]->is_input) {
                s = nq_graph_remove_node(g, n, err);
                removed = s == NQ_OK;
            }
        } else if (n->op == NQ_OP_GlobalAveragePool) {
            s = rewrite_gap(g, n, err);
        }
        if (!removed) i++;
    }
    for (int i = 0; s == NQ_OK && i < g->n_nodes; i++)
        if (g->nodes[i]->op == NQ_OP_BatchNormalization)
            s = nq_error_set(err, NQ_ERR_UNSUPPORTED,
                             "node '%s' (BatchNormalization) does not follow a Conv or Gemm and cannot be folded",
                             g->nodes[i]->name);
    if (s == NQ_OK) s = nq_graph_compact(g, err);
    if (s == NQ_OK) s = nq_ops_resolve(g, err);
    return s;
}
