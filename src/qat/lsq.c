/*
 * LSQ (Esser et al. 2019, "Learned Step Size Quantization"):
 * nq_lsq_setup_quantizers and nq_lsq_post_training_transform (qat.h).
 * The activation quantizers sit where PTQ puts its scaling nodes
 * (ptq/scaling.c), so the trained grids map one to one onto the integer
 * network that nq_qat_finish (finish.c) builds with the PTQ steps.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnquant/run.h"
#include "ops/qat_ops.h"
#include "qat/qat_internal.h"

#define LSQ_IO_BITS 8 /* graph inputs and outputs: 8 bits, as in the paper */

static int is_lsq(const nq_node *n)
{
    return n != NULL && strcmp(n->op_type, "LSQ") == 0;
}

/* Adds LSQ(x, step) on value v: after it (consumer NULL: every use) or on
 * one edge. Sets range [lo, hi], the role and the weight flag. */
static nq_node *add_lsq(nq_graph *g, int v, nq_node *consumer, int input, int step, int lo, int hi,
                        const char *role, nq_error *err)
{
    char base[160];
    snprintf(base, sizeof base, "%s_lsq", g->values[v]->name);
    char *name = nq_graph_unique_name(g, base);
    if (name == NULL) {
        nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    nq_node *q = consumer ? nq_graph_insert_on_edge(g, consumer, input, "LSQ", name, 1, &step, err)
                          : nq_graph_insert_after(g, v, "LSQ", name, 1, &step, err);
    free(name);
    if (q == NULL) return NULL;
    free(q->domain);
    q->domain = malloc(sizeof NQ_DOMAIN);
    if (q->domain != NULL) memcpy(q->domain, NQ_DOMAIN, sizeof NQ_DOMAIN);
    q->op = NQ_OP_LSQ;
    int64_t range[2] = {lo, hi};
    if (q->domain == NULL || nq_node_set_ints(q, "range", 2, range) != NQ_OK ||
        nq_node_set_string(q, NQ_ATTR_QAT_ROLE, role) != NQ_OK ||
        (strcmp(role, "weight") == 0 && nq_node_set_int(q, "weight", 1) != NQ_OK)) {
        nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    return q;
}


/* Activation LSQ after value v: 8 bits at graph inputs/outputs, unsigned
 * when only Relus read it. */
static nq_status lsq_point(nq_graph *g, int v, int bits, const char *role, int relu, nq_error *err)
{
    if (g->values[v]->is_input || g->values[v]->is_output) bits = LSQ_IO_BITS;
    int uns = nq_qat_feeds_relu_only(g, v);
    if (uns && !relu) return NQ_OK;
    int hi = uns ? (1 << bits) - 1 : (1 << (bits - 1)) - 1, lo = uns ? 0 : -hi;
    int step = nq_qat_add_scalar(g, "lsq_step", 0.0f, err);
    if (step < 0 || add_lsq(g, v, NULL, 0, step, lo, hi, role, err) == NULL) return err ? err->code : NQ_ERR_NOMEM;
    return NQ_OK;
}

/* The value where node n's output is quantized: after the scaling
 * Quantizer that prepare_network put after it (the 1/(H*W) of a
 * GlobalAveragePool turned ReduceSum), or after the BatchNormalization
 * that follows it (SAT keeps them), if any. */
static int point_of(const nq_graph *g, const nq_node *n)
{
    int v = n->outputs[0];
    nq_node *c = nq_ptq_single_consumer(g, v);
    if (c != NULL && (nq_ptq_is_scaling(c) || c->op == NQ_OP_BatchNormalization) && !g->values[v]->is_output)
        return c->outputs[0];
    return v;
}

/* The LSQ quantizing the data input of n (through Relu, MaxPool, Flatten
 * and the other scale-equivariant nodes), or NULL. */
static nq_node *input_lsq(const nq_graph *g, const nq_node *n)
{
    nq_node *p = g->values[n->inputs[0]]->producer;
    while (p != NULL && !is_lsq(p) && nq_ptq_kind_of(p) == NQ_PTQ_PASS && p->n_inputs > 0 && p->inputs[0] >= 0)
        p = g->values[p->inputs[0]]->producer;
    return is_lsq(p) ? p : NULL;
}

/* The bias of an affine node quantized on the accumulator grid s_x * s_w
 * (the int32 bias of the integer network): LSQ(b, Mul(s_x, s_w)), a range
 * wide enough never to clip. */
static nq_status lsq_bias(nq_graph *g, nq_node *n, nq_error *err)
{
    if (n->n_inputs < 3 || n->inputs[2] < 0 || g->values[n->inputs[2]]->init == NULL) return NQ_OK;
    nq_node *xq = input_lsq(g, n), *wq = g->values[n->inputs[1]]->producer;
    if (xq == NULL || !is_lsq(wq)) return NQ_OK;
    char *name = nq_graph_unique_name(g, "lsq_bias_step");
    int out = name ? nq_graph_add_value(g, name, err) : -1;
    int ins[2] = {xq->inputs[1], wq->inputs[1]};
    nq_node *m = out >= 0 ? nq_graph_add_node(g, "Mul", name, 2, ins, 1, &out, err) : NULL;
    free(name);
    if (m == NULL) return err ? err->code : NQ_ERR_NOMEM;
    m->op = NQ_OP_Mul;
    nq_node *q = add_lsq(g, n->inputs[2], n, 2, out, -(1 << 24), 1 << 24, "bias", err);
    if (q == NULL) return err ? err->code : NQ_ERR_NOMEM;
    return nq_node_set_int(q, "weight", 1) == NQ_OK ? NQ_OK : nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
}

/* Every input of a join shares one step: inputs from an LSQ read only by
 * the join take it, the others get a branch LSQ on their edge. */
static nq_status lsq_join(nq_graph *g, nq_node *j, int bits, nq_error *err)
{
    int step = nq_qat_add_scalar(g, "lsq_step", 0.0f, err), hi = (1 << (bits - 1)) - 1;
    if (step < 0) return err ? err->code : NQ_ERR_NOMEM;
    for (int k = 0; k < j->n_inputs; k++) {
        int v = j->inputs[k];
        if (v < 0 || g->values[v]->init != NULL) continue;
        nq_node *p = g->values[v]->producer;
        if (is_lsq(p) && nq_ptq_single_consumer(g, v) == j) {
            nq_node_set_input(g, p, 1, step);
            int64_t range[2] = {-hi, hi};
            if (nq_node_set_ints(p, "range", 2, range) != NQ_OK) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        } else if (add_lsq(g, v, j, k, step, -hi, hi, "branch", err) == NULL) {
            return err ? err->code : NQ_ERR_NOMEM;
        }
    }
    return NQ_OK;
}

nq_status nq_lsq_setup_quantizers(nq_graph *g, int nb_bits, nq_error *err)
{
    return nq_qat_lsq_points(g, nb_bits, 1, err);
}

nq_status nq_qat_lsq_points(nq_graph *g, int nb_bits, int weights, nq_error *err)
{
    if (nb_bits < 2 || nb_bits > 8)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "LSQ: nb_bits %d out of range (2..8)", nb_bits);
    nq_status s = nq_ops_resolve(g, err);
    for (int i = 0; s == NQ_OK && i < g->n_nodes; i++)
        if (is_lsq(g->nodes[i])) return nq_error_set(err, NQ_ERR_INVALID_ARG, "LSQ: the graph already has LSQ nodes");
    /* LSQ folds BatchNorm first, as PTQ does: the trained weights are
     * those the integer network uses (SAT keeps them: its weight chain
     * must stay on the Conv) */
    if (s == NQ_OK && weights) s = nq_check_architecture(g, err);
    if (s == NQ_OK && weights) s = nq_prepare_network(g, err);
    if (s != NQ_OK) return s;
    int count = g->n_nodes;
    nq_node **nodes = malloc(sizeof(nq_node *) * (size_t)(count + 1));
    if (nodes == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    memcpy(nodes, g->nodes, sizeof(nq_node *) * (size_t)count);
    int relu = weights; /* SAT: the points before a Relu get CG-PACT instead */
    for (int i = 0; i < g->n_inputs && s == NQ_OK; i++)
        if (g->values[g->inputs[i]]->dtype == NQ_DTYPE_FLOAT32) s = lsq_point(g, g->inputs[i], nb_bits, "input", relu, err);
    for (int i = 0; i < count && s == NQ_OK; i++) {
        nq_node *n = nodes[i];
        if (weights ? nq_qat_is_affine(g, n) : nq_ptq_kind_of(n) == NQ_PTQ_AFFINE) {
            int hw = (1 << (nb_bits - 1)) - 1;
            int step = weights ? nq_qat_add_scalar(g, "lsq_step", 0.0f, err) : 0;
            if (step < 0 || (weights && add_lsq(g, n->inputs[1], n, 1, step, -hw, hw, "weight", err) == NULL))
                s = err ? err->code : NQ_ERR_NOMEM;
            if (s == NQ_OK) s = lsq_point(g, point_of(g, n), nb_bits, "scaling", relu, err);
        } else if (n->op == NQ_OP_Add || n->op == NQ_OP_Concat || n->op == NQ_OP_ReduceSum ||
                   n->op == NQ_OP_GlobalAveragePool) {
            s = lsq_point(g, point_of(g, n), nb_bits, "scaling", relu, err);
        } else if (nq_ptq_kind_of(n) == NQ_PTQ_FLOAT && nq_ptq_float_output_requantized(g, n)) {
            s = lsq_point(g, n->outputs[0], nb_bits, "input", relu, err); /* float again: as an input */
        }
    }
    for (int i = 0; i < count && s == NQ_OK; i++)
        if (nodes[i]->op == NQ_OP_Add || nodes[i]->op == NQ_OP_Concat) s = lsq_join(g, nodes[i], nb_bits, err);
    for (int i = 0; i < count && s == NQ_OK && weights; i++)
        if (nq_ptq_kind_of(nodes[i]) == NQ_PTQ_AFFINE) s = lsq_bias(g, nodes[i], err);
    free(nodes);
    if (s == NQ_OK) s = nq_graph_toposort(g, err);
    if (s == NQ_OK) s = nq_graph_compact(g, err); /* drops steps orphaned by joins */
    if (s == NQ_OK) s = nq_ops_resolve(g, err);
    return s;
}

/* Weight LSQ -> trained integers on the affine node that reads it. */
static nq_status lsq_weight_done(nq_graph *g, nq_node *q, nq_error *err)
{
    nq_node *a = nq_ptq_single_consumer(g, q->outputs[0]);
    const nq_tensor *w = g->values[q->inputs[0]]->init, *st = g->values[q->inputs[1]]->init;
    if (a == NULL || w == NULL || st == NULL || w->dtype != NQ_DTYPE_FLOAT32)
        return nq_error_set(err, NQ_ERR_UNSUPPORTED, "LSQ node '%s': not a weight quantizer of one layer", q->name);
    const int64_t *r = NULL;
    if (nq_node_attr_ints(q, "range", &r) != 2) return nq_error_set(err, NQ_ERR_INVALID_ARG, "LSQ node '%s': no range", q->name);
    int64_t n = nq_tensor_numel(w);
    const float *wd = w->data;
    float s = *(const float *)st->data;
    if (!(s > 0)) { /* never trained: initialize as the first forward would */
        double sum = 0;
        for (int64_t i = 0; i < n; i++) sum += fabs(wd[i]);
        s = (float)(2.0 * sum / (double)(n ? n : 1) / sqrt((double)r[1]));
        if (!(s > 0)) s = 1.0f;
    }
    float *k = malloc(sizeof(float) * (size_t)(n + 1));
    if (k == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n; i++) k[i] = nq_lsq_level(wd[i], 1.0f / s, (float)r[0], (float)r[1]);
    int64_t wmax = r[1] > -r[0] ? r[1] : -r[0];
    nq_status rs = nq_graph_remove_node(g, q, err);
    if (rs == NQ_OK) rs = nq_qat_set_int_weights(g, a, k, s, (int)wmax, err);
    free(k);
    return rs;
}

nq_status nq_lsq_post_training_transform(nq_graph *g, int true_integers, nq_error *err)
{
    nq_status s = nq_qat_convert_lsq(g, err);
    if (s == NQ_OK) s = nq_qat_finish(g, true_integers, err);
    if (s == NQ_OK) s = nq_graph_set_meta(g, "nnquant.qat.method", "lsq", err);
    return s;
}

nq_status nq_qat_convert_lsq(nq_graph *g, nq_error *err)
{
    nq_status s = nq_ops_resolve(g, err);
    for (int i = 0; s == NQ_OK && i < g->n_nodes; i++) {
        nq_node *q = g->nodes[i];
        if (!is_lsq(q)) continue;
        const char *role = nq_node_attr_string(q, NQ_ATTR_QAT_ROLE, "scaling");
        if (strcmp(role, "bias") == 0) { /* PTQ rounds the bias onto the same grid */
            s = nq_graph_remove_node(g, q, err);
            i--;
            continue;
        }
        if (nq_node_attr_int(q, "weight", 0)) {
            s = lsq_weight_done(g, q, err);
            i--;
            continue;
        }
        const nq_tensor *st = q->n_inputs > 1 && q->inputs[1] >= 0 ? g->values[q->inputs[1]]->init : NULL;
        const int64_t *r = NULL;
        if (st == NULL || nq_node_attr_ints(q, "range", &r) != 2)
            return nq_error_set(err, NQ_ERR_UNSUPPORTED, "LSQ node '%s': constant step size and range needed", q->name);
        float step = *(const float *)st->data;
        char rbuf[16];
        snprintf(rbuf, sizeof rbuf, "%s", strcmp(role, "input") == 0 ? NQ_ROLE_INPUT
                                        : strcmp(role, "branch") == 0 ? NQ_ROLE_BRANCH : NQ_ROLE_SCALING);
        s = nq_qat_to_quantizer(g, q, rbuf, step, (int)r[0], (int)r[1], err);
    }
    return s;
}
