/*
 * SAT (Jin et al. 2019, "Towards Efficient Training for Neural Network
 * Quantization"): weights go through TanhClamp -> DoReFa -> ScaleAdjust,
 * activations through CG-PACT after each Relu (qat.h, docs/qat.md).
 * Where PTQ quantizes a signed value (graph input and output, the branches
 * of an Add, an affine output not followed by a Relu), CG-PACT, which is
 * unsigned, does not apply: insert_activ_quantizers puts learned LSQ
 * quantizers there (8 bits at the graph input and output), so that
 * post_training_transform maps every grid onto the integer network.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/qat_ops.h"
#include "qat/qat_internal.h"

static int is_op(const nq_node *n, const char *op)
{
    return n != NULL && strcmp(n->op_type, op) == 0;
}

static int is_gain(const nq_node *p)
{
    return p->op == NQ_OP_Mul && strcmp(nq_node_attr_string(p, NQ_ATTR_QAT_ROLE, ""), "gain") == 0;
}

/* Sets the custom domain and op id of a node just inserted. */
static nq_status own_op(nq_node *n, int op, nq_error *err)
{
    free(n->domain);
    n->domain = malloc(sizeof NQ_DOMAIN);
    if (n->domain == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    memcpy(n->domain, NQ_DOMAIN, sizeof NQ_DOMAIN);
    n->op = op;
    return NQ_OK;
}

/* Gives n its second output ("scaling"), a fresh value. */
static nq_status add_scaling_output(nq_graph *g, nq_node *n, nq_error *err)
{
    char base[160];
    snprintf(base, sizeof base, "%s_scaling", n->name);
    char *name = nq_graph_unique_name(g, base);
    int v = name ? nq_graph_add_value(g, name, err) : -1;
    free(name);
    int *outs = v >= 0 ? realloc(n->outputs, sizeof(int) * 2) : NULL;
    if (outs == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    n->outputs = outs;
    n->outputs[1] = v;
    n->n_outputs = 2;
    g->values[v]->producer = n;
    return NQ_OK;
}

/* A node of `op` on the weight edge (input 1) of affine node n. */
static nq_node *on_weight_edge(nq_graph *g, nq_node *n, const char *op, int id, nq_error *err)
{
    char base[160];
    snprintf(base, sizeof base, "%s_%s", g->values[n->inputs[1]]->name, op);
    char *name = nq_graph_unique_name(g, base);
    nq_node *q = name ? nq_graph_insert_on_edge(g, n, 1, op, name, 0, NULL, err) : NULL;
    free(name);
    if (q == NULL || own_op(q, id, err) != NQ_OK) return NULL;
    return q;
}

/* 1 if affine node n reads a weight computed from a constant through the
 * SAT weight chain (or the constant itself). */
static int has_param_weight(const nq_graph *g, const nq_node *n)
{
    if (nq_ptq_kind_of(n) != NQ_PTQ_AFFINE || n->n_inputs < 2 || n->inputs[1] < 0) return 0;
    const nq_value *v = g->values[n->inputs[1]];
    while (v->producer != NULL) {
        const nq_node *p = v->producer;
        if (!is_op(p, "TanhClamp") && !is_op(p, "DoReFa") && !is_op(p, "ScaleAdjust") && !is_gain(p)) return 0;
        v = g->values[p->inputs[0]];
    }
    return v->init != NULL && v->init->dtype == NQ_DTYPE_FLOAT32;
}

/* Snapshot of the node list (the passes insert while they walk). */
static nq_node **snapshot(const nq_graph *g, int *count, nq_error *err)
{
    *count = g->n_nodes;
    nq_node **nodes = malloc(sizeof(nq_node *) * (size_t)(g->n_nodes + 1));
    if (nodes == NULL) nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    else memcpy(nodes, g->nodes, sizeof(nq_node *) * (size_t)g->n_nodes);
    return nodes;
}

nq_status nq_sat_insert_param_clamping(nq_graph *g, nq_error *err)
{
    int count;
    nq_status s = nq_ops_resolve(g, err);
    nq_node **nodes = s == NQ_OK ? snapshot(g, &count, err) : NULL;
    if (nodes == NULL) return s == NQ_OK ? NQ_ERR_NOMEM : s;
    for (int i = 0; i < count && s == NQ_OK; i++) {
        if (!nq_qat_is_affine(g, nodes[i])) continue; /* a constant weight, not yet clamped */
        nq_node *q = on_weight_edge(g, nodes[i], "TanhClamp", NQ_OP_TanhClamp, err);
        s = q ? add_scaling_output(g, q, err) : (err ? err->code : NQ_ERR_NOMEM);
    }
    free(nodes);
    return s;
}

nq_status nq_sat_insert_param_scaling_adjust(nq_graph *g, int use_batchnorms, nq_error *err)
{
    int count;
    nq_status s = nq_ops_resolve(g, err);
    nq_node **nodes = s == NQ_OK ? snapshot(g, &count, err) : NULL;
    if (nodes == NULL) return s == NQ_OK ? NQ_ERR_NOMEM : s;
    for (int i = 0; i < count && s == NQ_OK; i++) {
        nq_node *n = nodes[i];
        if (!has_param_weight(g, n) || is_op(g->values[n->inputs[1]]->producer, "ScaleAdjust")) continue;
        nq_node *c = nq_ptq_single_consumer(g, n->outputs[0]);
        if (use_batchnorms && c != NULL && c->op == NQ_OP_BatchNormalization) continue;
        nq_node *q = on_weight_edge(g, n, "ScaleAdjust", NQ_OP_ScaleAdjust, err);
        s = q ? add_scaling_output(g, q, err) : (err ? err->code : NQ_ERR_NOMEM);
    }
    free(nodes);
    return s;
}

nq_status nq_sat_insert_sat_nodes(nq_graph *g, int use_batchnorms, nq_error *err)
{
    nq_status s = nq_sat_insert_param_clamping(g, err);
    return s == NQ_OK ? nq_sat_insert_param_scaling_adjust(g, use_batchnorms, err) : s;
}

nq_status nq_sat_insert_param_quantizers(nq_graph *g, int nb_bits, nq_dorefa_mode mode, nq_error *err)
{
    if (nb_bits < 2 || nb_bits > 8)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "SAT: nb_bits %d out of range (2..8)", nb_bits);
    int count;
    nq_node **nodes = snapshot(g, &count, err);
    if (nodes == NULL) return NQ_ERR_NOMEM;
    nq_status s = NQ_OK;
    for (int i = 0; i < count && s == NQ_OK; i++) {
        nq_node *t = nodes[i];
        if (!is_op(t, "TanhClamp")) continue;
        char base[160];
        snprintf(base, sizeof base, "%s_dorefa", t->name);
        char *name = nq_graph_unique_name(g, base);
        nq_node *q = name ? nq_graph_insert_after(g, t->outputs[0], "DoReFa", name, 0, NULL, err) : NULL;
        free(name);
        if (q == NULL || own_op(q, NQ_OP_DoReFa, err) != NQ_OK) {
            s = err ? err->code : NQ_ERR_NOMEM;
            break;
        }
        if (nq_node_set_int(q, "range", (1 << nb_bits) - 1) != NQ_OK ||
            nq_node_set_string(q, "mode", mode == NQ_DOREFA_SYMMETRIC ? "symmetric" : "default") != NQ_OK)
            s = nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    }
    free(nodes);
    return s;
}

/* The SAT weight chain of an affine node: TanhClamp, DoReFa, ScaleAdjust
 * and the gain Mul (any may be absent). */
typedef struct sat_chain {
    nq_node *clamp, *dorefa, *adjust, *gain;
} sat_chain;


static sat_chain chain_of(const nq_graph *g, const nq_node *n)
{
    sat_chain c = {NULL, NULL, NULL, NULL};
    for (nq_node *p = g->values[n->inputs[1]]->producer; p != NULL; p = g->values[p->inputs[0]]->producer) {
        if (is_op(p, "TanhClamp")) c.clamp = p;
        else if (is_op(p, "DoReFa")) c.dorefa = p;
        else if (is_op(p, "ScaleAdjust")) c.adjust = p;
        else if (is_gain(p)) c.gain = p;
        else break;
    }
    return c;
}

/* The weights the chain produces from its constant w: w_eff = step * k,
 * k integers in [-levels, levels] (with DoReFa; without it, k = the
 * clamped floats and levels = 1). Returns step; k has numel(w) floats. */
static double chain_eval(const nq_graph *g, const sat_chain *c, const nq_tensor *w, float *k, double *levels)
{
    int64_t count = nq_tensor_numel(w), range = c->dorefa ? nq_node_attr_int(c->dorefa, "range", 255) : 1;
    int sym = c->dorefa && strcmp(nq_node_attr_string(c->dorefa, "mode", "default"), "symmetric") == 0;
    *levels = !c->dorefa ? 1.0 : sym ? floor((double)range / 2.0) : (double)range;
    const float *wd = w->data;
    float m = 0.0f;
    for (int64_t i = 0; i < count; i++) m = fmaxf(m, fabsf(tanhf(wd[i])));
    if (!(m > 0.0f)) m = 1.0f;
    double mean = 0, var = 0;
    for (int64_t i = 0; i < count; i++) {
        float t = tanhf(wd[i]) / m;
        float q = c->dorefa ? nq_dorefa_fwd(t, (float)range, sym ? NQ_DOREFA_SYMMETRIC : NQ_DOREFA_DEFAULT) : t;
        k[i] = c->dorefa ? (float)nearbyint(q * *levels) : q;
        mean += q;
    }
    mean /= (double)(count ? count : 1);
    for (int64_t i = 0; i < count; i++) var += (k[i] / *levels - mean) * (k[i] / *levels - mean);
    var /= (double)(count ? count : 1);
    double adj = 1.0, gain = 1.0;
    if (c->adjust != NULL && var > 0) { /* ScaleAdjust: 1 / sqrt(n_out Var) */
        double fan = w->ndim > 0 ? (double)w->dims[0] : 1.0;
        for (int d = 2; d < w->ndim; d++) fan *= (double)w->dims[d];
        adj = 1.0 / sqrt(fan * var);
    }
    if (c->gain != NULL) gain = nq_tensor_get(g->values[c->gain->inputs[1]]->init, 0);
    return gain * adj / *levels;
}

/* The weight chain of affine node n -> its trained integers. */
static nq_status fold_weight_chain(nq_graph *g, nq_node *n, nq_error *err)
{
    sat_chain c = chain_of(g, n);
    if (c.clamp == NULL) return NQ_OK;
    if (c.dorefa == NULL)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "node '%s': weights clamped but not quantized: run "
                            "insert_param_quantizers (phase 2) first", n->name);
    const nq_tensor *w = g->values[c.clamp->inputs[0]]->init;
    if (w == NULL) return nq_error_set(err, NQ_ERR_UNSUPPORTED, "node '%s': the TanhClamp does not read a constant", n->name);
    float *k = malloc(sizeof(float) * (size_t)(nq_tensor_numel(w) + 1));
    if (k == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    double levels, step = chain_eval(g, &c, w, k, &levels);
    nq_node *order[4] = {c.gain, c.adjust, c.dorefa, c.clamp};
    nq_status s = NQ_OK;
    for (int j = 0; j < 4 && s == NQ_OK; j++)
        if (order[j]) s = nq_graph_remove_node(g, order[j], err);
    if (s == NQ_OK) s = nq_qat_set_int_weights(g, n, k, (float)step, (int)levels, err);
    free(k);
    return s;
}

nq_status nq_sat_preserve_gains(nq_graph *g, nq_error *err)
{
    int count;
    nq_status s = nq_ops_resolve(g, err);
    nq_node **nodes = s == NQ_OK ? snapshot(g, &count, err) : NULL;
    if (nodes == NULL) return s == NQ_OK ? NQ_ERR_NOMEM : s;
    for (int i = 0; i < count && s == NQ_OK; i++) {
        nq_node *n = nodes[i];
        if (!has_param_weight(g, n)) continue;
        sat_chain c = chain_of(g, n);
        if (c.clamp == NULL || c.gain != NULL) continue;
        const nq_tensor *w = g->values[c.clamp->inputs[0]]->init;
        int64_t count_w = nq_tensor_numel(w);
        float *k = malloc(sizeof(float) * (size_t)(count_w + 1));
        if (k == NULL) {
            s = nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
            break;
        }
        double levels, step = chain_eval(g, &c, w, k, &levels), num = 0, den = 0;
        for (int64_t j = 0; j < count_w; j++) {
            num += (double)((const float *)w->data)[j] * k[j] * step;
            den += (double)k[j] * step * k[j] * step;
        }
        free(k);
        int gv = nq_qat_add_scalar(g, "sat_gain", den > 0 && num > 0 ? (float)(num / den) : 1.0f, err);
        char base[160];
        snprintf(base, sizeof base, "%s_gain", g->values[n->inputs[1]]->name);
        char *name = gv >= 0 ? nq_graph_unique_name(g, base) : NULL;
        nq_node *m = name ? nq_graph_insert_on_edge(g, n, 1, "Mul", name, 1, &gv, err) : NULL;
        free(name);
        if (m == NULL) {
            s = err ? err->code : NQ_ERR_NOMEM;
            break;
        }
        m->op = NQ_OP_Mul;
        if (nq_node_set_string(m, NQ_ATTR_QAT_ROLE, "gain") != NQ_OK) s = nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    }
    free(nodes);
    return s;
}

/* A fixed scalar: the output of a Constant node, not an initializer, so
 * that the trainer does not take it for a parameter. Value index or -1. */
static int constant_value(nq_graph *g, float c, nq_error *err)
{
    char *name = nq_graph_unique_name(g, "sat_const");
    int out = name ? nq_graph_add_value(g, name, err) : -1;
    nq_node *k = out >= 0 ? nq_graph_add_node(g, "Constant", name, 0, NULL, 1, &out, err) : NULL;
    free(name);
    if (k == NULL) return -1;
    k->op = NQ_OP_Constant;
    if (nq_node_set_float(k, "value_float", c) != NQ_OK) {
        nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        return -1;
    }
    return out;
}

/* out = Mul(a, b) (b = -1: the constant c instead); value index or -1. */
static int mul_value(nq_graph *g, int a, int b, float c, nq_error *err)
{
    if (b < 0 && (b = constant_value(g, c, err)) < 0) return -1;
    char *name = nq_graph_unique_name(g, "sat_bias_step");
    int out = name ? nq_graph_add_value(g, name, err) : -1;
    int ins[2] = {a, b};
    nq_node *m = out >= 0 ? nq_graph_add_node(g, "Mul", name, 2, ins, 1, &out, err) : NULL;
    free(name);
    if (m == NULL) return -1;
    m->op = NQ_OP_Mul;
    return out;
}

/* The bias of an affine node on its accumulator grid s_x * s_w, as
 * lsq.c does: s_x the step of the input's quantizer (LSQ step, or CG-PACT
 * alpha / R), s_w = c / levels (c the ScaleAdjust factor, 1 without one). */
static nq_status sat_bias(nq_graph *g, nq_node *n, nq_error *err)
{
    if (n->n_inputs < 3 || n->inputs[2] < 0 || g->values[n->inputs[2]]->init == NULL) return NQ_OK;
    nq_node *c = nq_ptq_single_consumer(g, n->outputs[0]);
    if (c != NULL && c->op == NQ_OP_BatchNormalization) return NQ_OK; /* folded later: no grid yet */
    nq_node *xq = g->values[n->inputs[0]]->producer;
    while (xq != NULL && !is_op(xq, "LSQ") && !is_op(xq, "CGPACT") && nq_ptq_kind_of(xq) == NQ_PTQ_PASS)
        xq = g->values[xq->inputs[0]]->producer;
    sat_chain ch = chain_of(g, n);
    nq_node *sa = ch.adjust, *dq = ch.dorefa;
    if (xq == NULL || (!is_op(xq, "LSQ") && !is_op(xq, "CGPACT")) || dq == NULL) return NQ_OK;
    int64_t range = nq_node_attr_int(dq, "range", 255);
    double levels = strcmp(nq_node_attr_string(dq, "mode", "default"), "symmetric") == 0 ? floor(range / 2.0) : (double)range;
    int sx = is_op(xq, "LSQ") ? xq->inputs[1]
                              : mul_value(g, xq->inputs[1], -1, 1.0f / (float)nq_node_attr_int(xq, "range", 255), err);
    int sw = sx < 0 ? -1
             : sa   ? mul_value(g, sa->outputs[1], -1, (float)(1.0 / levels), err)
                    : constant_value(g, (float)(1.0 / levels), err);
    if (sw >= 0 && ch.gain != NULL) sw = mul_value(g, sw, ch.gain->inputs[1], 0.0f, err);
    int step = sw < 0 ? -1 : mul_value(g, sx, sw, 0.0f, err);
    if (step < 0) return err ? err->code : NQ_ERR_NOMEM;
    char base[160];
    snprintf(base, sizeof base, "%s_lsq", g->values[n->inputs[2]]->name);
    char *name = nq_graph_unique_name(g, base);
    nq_node *q = name ? nq_graph_insert_on_edge(g, n, 2, "LSQ", name, 1, &step, err) : NULL;
    free(name);
    if (q == NULL || own_op(q, NQ_OP_LSQ, err) != NQ_OK) return err ? err->code : NQ_ERR_NOMEM;
    int64_t r[2] = {-(1 << 24), 1 << 24};
    if (nq_node_set_ints(q, "range", 2, r) != NQ_OK || nq_node_set_int(q, "weight", 1) != NQ_OK ||
        nq_node_set_string(q, NQ_ATTR_QAT_ROLE, "bias") != NQ_OK)
        return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    return NQ_OK;
}

nq_status nq_sat_insert_activ_quantizers(nq_graph *g, int nb_bits, float init_alpha, nq_error *err)
{
    if (nb_bits < 2 || nb_bits > 8)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "SAT: nb_bits %d out of range (2..8)", nb_bits);
    if (!(init_alpha > 0.0f) || isinf(init_alpha))
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "SAT: init_alpha %g must be positive", (double)init_alpha);
    int count;
    nq_status s = nq_ops_resolve(g, err);
    nq_node **nodes = s == NQ_OK ? snapshot(g, &count, err) : NULL;
    if (nodes == NULL) return s == NQ_OK ? NQ_ERR_NOMEM : s;
    /* the signed points first (they look for Relus after the points) */
    s = nq_qat_lsq_points(g, nb_bits, 0, err);
    for (int i = 0; i < count && s == NQ_OK; i++) {
        nq_node *r = nodes[i];
        if (r->op != NQ_OP_Relu) continue;
        int a = nq_qat_add_scalar(g, "cgpact_alpha", init_alpha, err);
        char base[160];
        snprintf(base, sizeof base, "%s_cgpact", r->name);
        char *name = a >= 0 ? nq_graph_unique_name(g, base) : NULL;
        nq_node *q = name ? nq_graph_insert_after(g, r->outputs[0], "CGPACT", name, 1, &a, err) : NULL;
        free(name);
        if (q == NULL || own_op(q, NQ_OP_CGPACT, err) != NQ_OK) {
            s = err ? err->code : NQ_ERR_NOMEM;
            break;
        }
        if (nq_node_set_int(q, "range", (1 << nb_bits) - 1) != NQ_OK) s = nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < count && s == NQ_OK; i++)
        if (has_param_weight(g, nodes[i])) s = sat_bias(g, nodes[i], err);
    free(nodes);
    if (s == NQ_OK) s = nq_graph_toposort(g, err);
    return s;
}

/* ---- post_training_transform -------------------------------------------- */

/* CG-PACT -> learned Quantizer (step alpha / R, range [0, R]), moved before
 * the Relu it follows: Q(relu(x)) = relu(Q(x)) for an unsigned grid, and
 * PTQ quantizes the affine output. */
static nq_status convert_cgpact(nq_graph *g, nq_node *q, nq_error *err)
{
    const nq_tensor *a = q->n_inputs > 1 && q->inputs[1] >= 0 ? g->values[q->inputs[1]]->init : NULL;
    if (a == NULL) return nq_error_set(err, NQ_ERR_UNSUPPORTED, "CGPACT node '%s': alpha is not a constant", q->name);
    int64_t range = nq_node_attr_int(q, "range", 255);
    float alpha = *(const float *)a->data;
    if (!(alpha > 0)) return nq_error_set(err, NQ_ERR_DATA, "CGPACT node '%s': alpha %g", q->name, (double)alpha);
    nq_status s = nq_qat_to_quantizer(g, q, NQ_ROLE_SCALING, alpha / (float)range, 0, (int)range, err);
    nq_node *r = g->values[q->inputs[0]]->producer;
    if (s != NQ_OK || r == NULL || r->op != NQ_OP_Relu || nq_ptq_single_consumer(g, r->outputs[0]) != q) return s;
    int x = r->inputs[0], ro = r->outputs[0], qo = q->outputs[0];
    nq_graph_replace_uses(g, qo, ro);
    nq_node_set_input(g, q, 0, x);
    nq_node_set_input(g, r, 0, qo);
    return NQ_OK;
}

nq_status nq_sat_post_training_transform(nq_graph *g, int true_integers, nq_error *err)
{
    nq_status s = nq_qat_convert_lsq(g, err);
    if (s == NQ_OK) s = nq_graph_compact(g, err); /* the bias-step Muls */
    int count = 0;
    nq_node **nodes = s == NQ_OK ? snapshot(g, &count, err) : NULL; /* the chains' nodes go away */
    if (s == NQ_OK && nodes == NULL) s = NQ_ERR_NOMEM;
    for (int i = 0; s == NQ_OK && i < count; i++)
        if (nq_ptq_kind_of(nodes[i]) == NQ_PTQ_AFFINE) s = fold_weight_chain(g, nodes[i], err);
    free(nodes);
    for (int i = 0; s == NQ_OK && i < g->n_nodes; i++)
        if (is_op(g->nodes[i], "CGPACT")) s = convert_cgpact(g, g->nodes[i], err);
    if (s == NQ_OK) s = nq_graph_compact(g, err);
    if (s == NQ_OK) s = nq_graph_toposort(g, err);
    if (s == NQ_OK) s = nq_qat_finish(g, true_integers, err);
    if (s == NQ_OK) s = nq_graph_set_meta(g, "nnquant.qat.method", "sat", err);
    return s;
}
