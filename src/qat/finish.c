/*
 * nq_qat_finish: the end shared by the LSQ and SAT post-training
 * transforms. The learned grids are handed to the PTQ pipeline's own steps
 * (include/nnquant/ptq.h) so that the result has exactly the form of
 * `nnquant quantize` output:
 *  - weights: PTQ normalizes each affine node's weights to [-1, 1] and its
 *    quantize step multiplies them by qmax(dtype); here the normalized
 *    weights are k / qmax, k the trained integers, and the factor
 *    w / k (per output channel once BatchNorm is folded) moves into the
 *    following scaling Quantizer, as normalize_parameters does;
 *  - activations: the range of a learned quantizer is step * qa, qa the
 *    qmax PTQ will use for its dtype, so that PTQ's grid is x / step; its
 *    clip is then set to the learned integer range [lo, hi].
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qat/qat_internal.h"

static int is_learned(const nq_node *n)
{
    return strcmp(n->op_type, "Quantizer") == 0 && nq_node_attr(n, NQ_ATTR_QAT_STEP) != NULL;
}

/* The smallest signed type whose symmetric range [-qmax, qmax] holds hi
 * (unsigned grids: [0, hi] with the unsigned variant PTQ picks). */
static nq_dtype grid_dtype(int64_t hi, int is_unsigned)
{
    static const struct { int64_t s, u; nq_dtype t; } table[] = {
        {1, 1, NQ_DTYPE_INT2}, {3, 3, NQ_DTYPE_INT3}, {7, 15, NQ_DTYPE_INT4}, {127, 255, NQ_DTYPE_INT8}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
        if (hi <= (is_unsigned ? table[i].u : table[i].s)) return table[i].t;
    return NQ_DTYPE_INT16;
}

/* The join (Add, Concat) reading v, or NULL. */
static nq_node *join_consumer(const nq_graph *g, int v)
{
    nq_node *c[16];
    int n = nq_graph_consumers(g, v, c, 16);
    for (int i = 0; i < n && i < 16; i++)
        if (nq_ptq_kind_of(c[i]) == NQ_PTQ_JOIN) return c[i];
    return NULL;
}

/* prepare_network turns GlobalAveragePool into ReduceSum + a scaling
 * Quantizer of 1/(H*W); a learned quantizer right after it absorbs it. */
static nq_status merge_prepared_scalings(nq_graph *g, nq_error *err)
{
    for (int i = 0; i < g->n_nodes; i++) {
        nq_node *q = g->nodes[i];
        if (!is_learned(q)) continue;
        nq_node *p = g->values[q->inputs[0]]->producer;
        if (p == NULL || !nq_ptq_is_scaling(p) || is_learned(p) || nq_ptq_single_consumer(g, p->outputs[0]) != q)
            continue;
        const nq_tensor *ps = nq_ptq_scale(g, p);
        if (ps == NULL || nq_tensor_numel(ps) != 1) continue;
        nq_ptq_scale_mul(g, q, *(const float *)ps->data);
        nq_status s = nq_graph_remove_node(g, p, err);
        if (s != NQ_OK) return s;
        i = -1; /* the list changed: start over */
    }
    return NQ_OK;
}

/* Integer weights k on the learned grid, the factor w / k into the scaling node. */
static nq_status normalize_learned_weights(nq_graph *g, nq_node *n, nq_error *err)
{
    const nq_attr *ka = nq_node_attr(n, NQ_ATTR_QAT_WINT);
    int64_t wmax = nq_node_attr_int(n, NQ_ATTR_QAT_WMAX, 0);
    nq_affine_params p;
    nq_status s = nq_ptq_affine_params(g, n, &p, err);
    if (s != NQ_OK) return s;
    nq_node *sc = nq_ptq_single_consumer(g, n->outputs[0]), *wq = nq_ptq_param_quantizer(g, n, 1);
    if (sc == NULL || !nq_ptq_is_scaling(sc) || wq == NULL)
        return nq_error_set(err, NQ_ERR_INTERNAL, "node '%s' (%s): no scaling or weight quantizer around it",
                            n->name, n->op_type);
    nq_dtype t = grid_dtype(wmax, 0);
    if (nq_node_set_string(wq, NQ_ATTR_PRECISION, nq_dtype_name(t)) != NQ_OK)
        return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    double qw = nq_ptq_qmax(t, 0);
    nq_tensor *w = nq_ptq_param(g, n, 1, err), *b = p.b ? nq_ptq_param(g, n, 2, err) : NULL;
    if (w == NULL || (p.b && b == NULL)) return err ? err->code : NQ_ERR_NOMEM;
    if (ka == NULL || ka->t == NULL || nq_tensor_numel(ka->t) != nq_tensor_numel(w))
        return nq_error_set(err, NQ_ERR_INTERNAL, "node '%s': integer weights do not match", n->name);
    const float *k = ka->t->data;
    float *wd = w->data, *bd = b ? b->data : NULL;
    double *m = malloc(sizeof(double) * (size_t)(p.channels + 1));
    if (m == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    int uniform = 1;
    for (int64_t c = 0; c < p.channels; c++) {
        double num = 0, den = 0;
        for (int64_t j = 0; j < p.per; j++) {
            int64_t i = c * p.stride + j * p.cstride;
            num += (double)wd[i] * k[i];
            den += (double)k[i] * k[i];
        }
        m[c] = den > 0 && num != 0 ? num / den : 1.0;
        if (fabs(m[c] - m[0]) > 1e-6 * fabs(m[0])) uniform = 0;
        for (int64_t j = 0; j < p.per; j++) {
            int64_t i = c * p.stride + j * p.cstride;
            wd[i] = (float)(k[i] / qw);
        }
        if (bd) bd[c] = (float)(bd[c] / (m[c] * qw));
    }
    if (uniform) {
        nq_ptq_scale_mul(g, sc, m[0] * qw);
    } else {
        nq_tensor *st = nq_ptq_scale_per_channel(g, sc, p.channels, err);
        if (st == NULL) {
            free(m);
            return err ? err->code : NQ_ERR_NOMEM;
        }
        for (int64_t c = 0; c < p.channels; c++) ((float *)st->data)[c] = (float)(((float *)st->data)[c] * m[c] * qw);
    }
    free(m);
    return NQ_OK;
}

/* Learned ranges: step * qa (qa as quantize_normalized_network will pick it). */
static nq_status learned_ranges(nq_graph *g, nq_ranges *r, nq_error *err)
{
    r->n = g->n_values;
    r->max_abs = calloc((size_t)r->n + 1, sizeof(double));
    r->min = calloc((size_t)r->n + 1, sizeof(double));
    r->max = calloc((size_t)r->n + 1, sizeof(double));
    r->valid = calloc((size_t)r->n + 1, 1);
    if (!r->max_abs || !r->min || !r->max || !r->valid) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    for (int i = 0; i < g->n_nodes; i++) {
        nq_node *q = g->nodes[i];
        if (!nq_ptq_is_scaling(q)) continue;
        if (!is_learned(q))
            return nq_error_set(err, NQ_ERR_UNSUPPORTED,
                                "node '%s': a quantization point without a learned quantizer", q->name);
        int64_t lo = nq_node_attr_int(q, NQ_ATTR_QAT_LO, 0), hi = nq_node_attr_int(q, NQ_ATTR_QAT_HI, 0);
        double step = nq_node_attr_float(q, NQ_ATTR_QAT_STEP, 0.0f);
        int y = q->outputs[0], uns = lo >= 0;
        if (!(step > 0) || hi <= 0)
            return nq_error_set(err, NQ_ERR_INVALID_ARG, "node '%s': step size %g not initialized (train first)",
                                q->name, step);
        nq_dtype t = grid_dtype(hi, uns);
        nq_node *join = join_consumer(g, y);
        /* quantize_normalized_network takes the precision of a join's
         * inputs from the join node */
        if (nq_node_set_string(q, NQ_ATTR_PRECISION, nq_dtype_name(t)) != NQ_OK ||
            (join != NULL && nq_node_set_string(join, NQ_ATTR_PRECISION, nq_dtype_name(t)) != NQ_OK))
            return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        int ptq_uns = (uns || nq_qat_feeds_relu_only(g, y)) && join == NULL &&
                      (t == NQ_DTYPE_INT4 || t == NQ_DTYPE_INT8);
        double qa = nq_ptq_qmax(t, ptq_uns);
        r->max_abs[y] = step * qa;
        r->max[y] = step * qa;
        r->min[y] = uns ? 0.0 : -step * qa;
        r->valid[y] = 1;
    }
    return NQ_OK;
}

/* The learned integer range as the clip of each learned quantizer. */
static nq_status learned_clips(nq_graph *g, nq_error *err)
{
    for (int i = 0; i < g->n_nodes; i++) {
        nq_node *q = g->nodes[i];
        if (!is_learned(q)) continue;
        double lo = (double)nq_node_attr_int(q, NQ_ATTR_QAT_LO, 0), hi = (double)nq_node_attr_int(q, NQ_ATTR_QAT_HI, 0);
        double cmin = nq_node_attr_float(q, "clip_min", -INFINITY), cmax = nq_node_attr_float(q, "clip_max", INFINITY);
        if (nq_node_set_float(q, "clip_min", (float)fmax(lo, cmin)) != NQ_OK ||
            nq_node_set_float(q, "clip_max", (float)fmin(hi, cmax)) != NQ_OK)
            return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    }
    return NQ_OK;
}

static void remove_qat_attrs(nq_graph *g)
{
    static const char *const names[] = {NQ_ATTR_QAT_STEP, NQ_ATTR_QAT_LO, NQ_ATTR_QAT_HI, NQ_ATTR_QAT_WINT,
                                        NQ_ATTR_QAT_WMAX, NQ_ATTR_QAT_ROLE};
    for (int i = 0; i < g->n_nodes; i++)
        for (size_t k = 0; k < sizeof names / sizeof names[0]; k++)
            if (nq_node_attr(g->nodes[i], names[k])) nq_node_remove_attr(g->nodes[i], names[k]);
}

nq_status nq_qat_finish(nq_graph *g, int true_integers, nq_error *err)
{
    nq_ranges r = {0};
    nq_status s = nq_graph_compact(g, err); /* e.g. the Muls of removed bias quantizers */
    if (s == NQ_OK) s = nq_ops_resolve(g, err);
    if (s == NQ_OK) s = nq_check_architecture(g, err);
    if (s == NQ_OK) s = nq_prepare_network(g, err);
    if (s == NQ_OK) s = merge_prepared_scalings(g, err);
    if (s == NQ_OK) s = nq_insert_scaling_nodes(g, 0, err);
    for (int i = 0; s == NQ_OK && i < g->n_nodes; i++) {
        nq_node *n = g->nodes[i];
        if (nq_ptq_kind_of(n) != NQ_PTQ_AFFINE) continue;
        if (nq_node_attr(n, NQ_ATTR_QAT_WINT) == NULL)
            s = nq_error_set(err, NQ_ERR_UNSUPPORTED, "node '%s' (%s) has no trained weight quantizer", n->name,
                             n->op_type);
        else s = normalize_learned_weights(g, n, err);
    }
    if (s == NQ_OK) s = learned_ranges(g, &r, err);
    if (s == NQ_OK) s = nq_auto_assign_node_precision(g, NQ_DTYPE_INT8, NQ_DTYPE_INT8, NQ_DTYPE_INT32, err);
    if (s == NQ_OK) s = nq_normalize_activations(g, &r, err);
    if (s == NQ_OK) s = nq_quantize_normalized_network(g, &r, 0, 1, err);
    if (s == NQ_OK) s = learned_clips(g, err);
    if (s == NQ_OK && true_integers) s = nq_cast_quantized_network(g, 0, err);
    if (s == NQ_OK) s = nq_fold_producer_quantizers(g, err);
    if (s == NQ_OK) remove_qat_attrs(g);
    if (s == NQ_OK) s = nq_graph_compact(g, err);
    nq_ranges_free(&r);
    return s;
}
