/* normalize_parameters and normalize_activations. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ptq/ptq_internal.h"

#define NQ_ATTR_UNIT "quantization.ptq.unit"

/* The scaling Quantizer reading value v (its single consumer), or NULL. */
static nq_node *scaling_after(const nq_graph *g, int v)
{
    nq_node *c = nq_ptq_single_consumer(g, v);
    return c != NULL && nq_ptq_is_scaling(c) ? c : NULL;
}

nq_status nq_normalize_parameters(nq_graph *g, int channel_wise, nq_error *err)
{
    for (int i = 0; i < g->n_nodes; i++) {
        nq_node *n = g->nodes[i];
        if (nq_ptq_kind_of(n) != NQ_PTQ_AFFINE) continue;
        nq_affine_params p;
        nq_status s = nq_ptq_affine_params(g, n, &p, err);
        if (s != NQ_OK) return s;
        nq_node *sc = scaling_after(g, n->outputs[0]);
        if (sc == NULL)
            return nq_error_set(err, NQ_ERR_INVALID_ARG,
                                "node '%s' (%s) has no scaling node after it: run insert_scaling_nodes first",
                                n->name, n->op_type);
        nq_tensor *w = nq_ptq_param(g, n, 1, err), *b = p.b ? nq_ptq_param(g, n, 2, err) : NULL;
        if (w == NULL || (p.b != NULL && b == NULL)) return NQ_ERR_NOMEM;
        float *wd = w->data, *bd = b ? b->data : NULL;
        double global = 0;
        for (int64_t k = 0; k < nq_tensor_numel(w); k++) global = fmax(global, fabs(wd[k]));
        nq_tensor *scale = channel_wise ? nq_ptq_scale_per_channel(g, sc, p.channels, err) : NULL;
        if (channel_wise && scale == NULL) return NQ_ERR_NOMEM;
        for (int64_t c = 0; c < p.channels; c++) {
            double m = global;
            if (channel_wise) {
                m = 0;
                for (int64_t k = 0; k < p.per; k++) m = fmax(m, fabs(wd[c * p.stride + k * p.cstride]));
            }
            if (m <= 0) m = 1; /* an all-zero channel stays as it is */
            for (int64_t k = 0; k < p.per; k++) wd[c * p.stride + k * p.cstride] = (float)(wd[c * p.stride + k * p.cstride] / m);
            if (bd) bd[c] = (float)(bd[c] / m);
            if (channel_wise) ((float *)scale->data)[c] = (float)(((float *)scale->data)[c] * m);
        }
        if (!channel_wise) nq_ptq_scale_mul(g, sc, global > 0 ? global : 1);
    }
    return NQ_OK;
}

/* The unit a joining node's inputs share: the largest range among them. */
static double join_unit(const nq_graph *g, const nq_node *j, const nq_ranges *r)
{
    double u = 0;
    for (int k = 0; k < j->n_inputs; k++) {
        int v = j->inputs[k];
        if (v >= 0 && v < r->n && r->valid[v]) u = fmax(u, r->max_abs[v]);
    }
    return u > 0 ? u : 1;
}

/* Divides a Clip's bounds (inputs 1, 2, or attributes before opset 11) by u. */
static nq_status scale_clip(nq_graph *g, nq_node *n, double u, nq_error *err)
{
    for (int k = 1; k <= 2 && k < n->n_inputs; k++) {
        if (n->inputs[k] < 0) continue;
        nq_tensor *t = nq_ptq_private_init(g, n, k, err);
        if (t == NULL) return NQ_ERR_UNSUPPORTED;
        nq_tensor_set(t, 0, nq_tensor_get(t, 0) / u);
    }
    const char *names[2] = {"min", "max"};
    for (int k = 0; k < 2; k++) {
        const nq_attr *a = nq_node_attr(n, names[k]);
        if (a != NULL && a->type == NQ_ATTR_FLOAT && nq_node_set_float(n, names[k], (float)(a->f / u)) != NQ_OK)
            return NQ_ERR_NOMEM;
    }
    return NQ_OK;
}

nq_status nq_normalize_activations(nq_graph *g, const nq_ranges *ranges, nq_error *err)
{
    double *unit = malloc(sizeof(double) * (size_t)(g->n_values + 1));
    if (unit == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    for (int v = 0; v < g->n_values; v++) unit[v] = 1.0;
    nq_status s = NQ_OK;
    for (int i = 0; i < g->n_nodes && s == NQ_OK; i++) {
        nq_node *n = g->nodes[i];
        int x = n->n_inputs > 0 ? n->inputs[0] : -1, y = n->n_outputs > 0 ? n->outputs[0] : -1;
        double ux = x >= 0 ? unit[x] : 1.0;
        switch (nq_ptq_kind_of(n)) {
        case NQ_PTQ_QUANTIZER: {
            if (nq_ptq_is_island(n)) { /* before a float node: back to real values */
                nq_ptq_scale_mul(g, n, ux);
                unit[y] = 1.0;
                break;
            }
            if (!nq_ptq_is_scaling(n)) break; /* weight/bias quantizers: constants */
            if (y >= ranges->n || !ranges->valid[y]) {
                s = nq_error_set(err, NQ_ERR_INVALID_ARG, "scaling node '%s' has no range: run compute_ranges first",
                                 n->name);
                break;
            }
            nq_node *c = nq_ptq_single_consumer(g, y);
            double target = c != NULL && nq_ptq_kind_of(c) == NQ_PTQ_JOIN ? join_unit(g, c, ranges)
                                                                           : ranges->max_abs[y];
            if (!(target > 0)) target = 1;
            nq_ptq_scale_mul(g, n, ux / target);
            if (nq_node_set_float(n, NQ_ATTR_UNIT, (float)target) != NQ_OK) s = NQ_ERR_NOMEM;
            unit[y] = target;
            break;
        }
        case NQ_PTQ_AFFINE: {
            nq_affine_params p;
            if ((s = nq_ptq_affine_params(g, n, &p, err)) != NQ_OK) break;
            if (p.b != NULL) {
                nq_tensor *b = nq_ptq_param(g, n, 2, err);
                if (b == NULL) {
                    s = NQ_ERR_NOMEM;
                    break;
                }
                for (int64_t c = 0; c < p.channels; c++) ((float *)b->data)[c] = (float)(((float *)b->data)[c] / ux);
            }
            unit[y] = ux;
            break;
        }
        case NQ_PTQ_CLIP:
            s = scale_clip(g, n, ux, err);
            unit[y] = ux;
            break;
        case NQ_PTQ_SUM:
        case NQ_PTQ_JOIN:
        case NQ_PTQ_PASS:
        case NQ_PTQ_FLOAT: /* real values in, real values out */
            for (int k = 0; k < n->n_outputs; k++)
                if (n->outputs[k] >= 0) unit[n->outputs[k]] = ux;
            break;
        case NQ_PTQ_UNSUPPORTED:
            s = nq_error_set(err, NQ_ERR_UNSUPPORTED, "node '%s' (%s) cannot be quantized", n->name, n->op_type);
            break;
        }
    }
    free(unit);
    return s;
}
