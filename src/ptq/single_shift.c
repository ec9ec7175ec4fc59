/*
 * Single-shift quantization: insert_compensation_nodes and
 * perform_single_shift_approximation (reference: the "Single Shift" part of
 * the Aidge PTQ), plus the helpers cast_quantized_network uses for them.
 *
 * After quantize_normalized_network every rescaling of integers is a
 * scaling Quantizer (role scaling or branch) with a float scale s. Single
 * shift makes each of them a power of two p = 2^ceil(log2 s), so that the
 * integer graph rescales by pure shifts, and compensates the ratio
 * r = s / p, in (0.5, 1], upstream in integers:
 *
 *  - a scaling node after an affine node A (Conv, Gemm, MatMul): A's
 *    integer weights and bias become W' = round(W_int * r_c),
 *    b' = round(b_int * r_c) (r_c per output channel when the scale is per
 *    channel). The new integers are stored in A's weight and bias
 *    constants and their Quantizers get scale 1, so the constants stay
 *    behind their weight/bias Quantizers (which now only round and clip an
 *    integer: the identity) and fold_producer_quantizers folds them into
 *    integer constants as before. Since r <= 1, W' stays in [-qw, qw].
 *
 *  - any other scaling node with integer input (after ReduceSum, Add,
 *    Concat, on the branches of a joining node): there are no weights, so
 *    insert_compensation_nodes puts a compensation `Mul` by an integer
 *    coefficient c (qw = 2^(n-1)-1 of the weight precision, 127 for int8,
 *    as in the reference; fewer bits if c times the largest input could
 *    pass int32) before the Quantizer and divides its scale by c. Single
 *    shift then treats the Mul like an affine node: c' = round(c * r).
 *    The rescaling becomes an integer multiplication by c' in [c/2, c]
 *    followed by a shift, with a relative error <= 1/c. The Mul is a
 *    standard ONNX node tagged quantization.ptq.role = "compensation"; once
 *    cast it computes in int32 (cast widens a narrower input first with a
 *    Quantizer of scale 1 = 2^0, an exact single shift).
 *
 *  - the input Quantizer is left alone: it turns the float input into
 *    integers (x * s, rounded), a float multiplication that happens in any
 *    case, so its scale stays as computed. Dequantizing output Quantizers
 *    (integer -> float) are no rescaling of integers either.
 *
 * Rounding is round half to even (nearbyint), as everywhere in nnquant;
 * with no_quant nothing is rounded (W' = W_int * r, c' = c * r, c = 1).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnquant/kernels.h"
#include "nnquant/run.h"
#include "ptq/ptq_internal.h"

#define NQ_ATTR_DTYPE "quantization.ptq.dtype"

int nq_ptq_is_compensation(const nq_node *n)
{
    if (strcmp(n->op_type, "Mul") != 0 || (n->domain != NULL && n->domain[0] != '\0')) return 0;
    const char *r = nq_node_attr_string(n, NQ_ATTR_ROLE, NULL);
    return r != NULL && strcmp(r, NQ_ROLE_COMPENSATION) == 0;
}

/* Target dtype recorded by quantize_normalized_network, or UNDEFINED. */
static nq_dtype target_dtype(const nq_node *n)
{
    const char *name = nq_node_attr_string(n, NQ_ATTR_DTYPE, NULL);
    return name ? nq_dtype_from_name(name) : NQ_DTYPE_UNDEFINED;
}

/* 1 for a Quantizer that rescales integers once the graph is cast: a
 * scaling or branch Quantizer with an integer target. */
static int is_requantizer(const nq_node *q)
{
    const char *r = nq_ptq_role(q);
    if (r == NULL || (strcmp(r, NQ_ROLE_SCALING) != 0 && strcmp(r, NQ_ROLE_BRANCH) != 0)) return 0;
    nq_dtype t = target_dtype(q);
    return t != NQ_DTYPE_UNDEFINED && !nq_dtype_is_float(t);
}

/* The node producing q's input when q is its only consumer, or NULL. */
static nq_node *sole_producer(const nq_graph *g, const nq_node *q)
{
    if (q->n_inputs < 1 || q->inputs[0] < 0) return NULL;
    nq_node *p = g->values[q->inputs[0]]->producer;
    return p != NULL && nq_ptq_single_consumer(g, q->inputs[0]) == q ? p : NULL;
}

static nq_node *affine_before(const nq_graph *g, const nq_node *q)
{
    nq_node *p = sole_producer(g, q);
    return p != NULL && nq_ptq_kind_of(p) == NQ_PTQ_AFFINE ? p : NULL;
}

static nq_node *compensation_before(const nq_graph *g, const nq_node *q)
{
    nq_node *p = sole_producer(g, q);
    return p != NULL && nq_ptq_is_compensation(p) ? p : NULL;
}

/* ---- bounds of integer values (to size the compensation coefficient) -- */

/* Largest |value| that v can hold once the graph is cast, from the clip
 * ranges of the Quantizers it comes from; +inf when unknown. */
static double value_bound(const nq_graph *g, int v, int depth)
{
    const nq_node *p = v >= 0 ? g->values[v]->producer : NULL;
    if (p == NULL || depth > 64) return INFINITY;
    if (strcmp(p->op_type, "Quantizer") == 0) {
        const nq_attr *lo = nq_node_attr(p, "clip_min"), *hi = nq_node_attr(p, "clip_max");
        double b = INFINITY;
        if (lo != NULL && hi != NULL && lo->type == NQ_ATTR_FLOAT && hi->type == NQ_ATTR_FLOAT)
            b = fmax(fabs(lo->f), fabs(hi->f));
        int64_t tmin, tmax;
        nq_dtype t = target_dtype(p);
        if (t != NQ_DTYPE_UNDEFINED && nq_dtype_int_range(t, &tmin, &tmax))
            b = fmin(b, fmax(-(double)tmin, (double)tmax));
        return b;
    }
    int x = p->n_inputs > 0 ? p->inputs[0] : -1;
    switch (nq_ptq_kind_of(p)) {
    case NQ_PTQ_PASS:
    case NQ_PTQ_CLIP: /* Relu, pools, reshapes: never larger; Clip narrows */
        return value_bound(g, x, depth + 1);
    case NQ_PTQ_JOIN: {
        int add = p->op == NQ_OP_Add || strcmp(p->op_type, "Add") == 0;
        double b = 0;
        for (int k = 0; k < p->n_inputs; k++) {
            if (p->inputs[k] < 0) continue;
            double bk = value_bound(g, p->inputs[k], depth + 1);
            b = add ? b + bk : fmax(b, bk);
        }
        return b;
    }
    case NQ_PTQ_SUM: { /* ReduceSum: count of summed elements from the shapes */
        const nq_value *in = g->values[x], *out = g->values[p->outputs[0]];
        if (in->ndim < 1 || out->ndim < 0) return INFINITY;
        double nin = 1, nout = 1;
        for (int i = 0; i < in->ndim; i++) {
            if (in->dims[i] > 0) nin *= (double)in->dims[i];
            else if (i != 0) return INFINITY; /* only the batch may be unknown */
        }
        for (int i = 0; i < out->ndim; i++) {
            if (out->dims[i] > 0) nout *= (double)out->dims[i];
            else if (i != 0) return INFINITY;
        }
        if ((in->dims[0] > 0) != (out->ndim > 0 && out->dims[0] > 0)) return INFINITY;
        return nin / nout * value_bound(g, x, depth + 1);
    }
    default:
        return INFINITY;
    }
}

/* qmax of the graph's weight precision (the first weight Quantizer's), 127
 * by default: the precision of the compensation coefficients. */
static double coefficient_qmax(const nq_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const char *r = nq_ptq_role(g->nodes[i]);
        if (r == NULL || strcmp(r, NQ_ROLE_WEIGHT) != 0) continue;
        nq_dtype t = nq_ptq_precision(g->nodes[i], NQ_DTYPE_INT8);
        if (!nq_dtype_is_float(t) && nq_ptq_qmax(t, 0) >= 1) return nq_ptq_qmax(t, 0);
        break;
    }
    return 127.0;
}

/* ---- insert_compensation_nodes ----------------------------------------- */

/* A constant filled with v, shaped to multiply q's input: a scalar for a
 * per-tensor scale, [C, 1, ...] along q's axis for a per-channel one. */
static int coefficient_init(nq_graph *g, const nq_node *q, double v, nq_error *err)
{
    const nq_tensor *scale = nq_ptq_scale(g, q);
    int64_t c = scale ? nq_tensor_numel(scale) : 1;
    int64_t dims[NQ_MAX_DIMS];
    int ndim = 0;
    if (c != 1) {
        const nq_value *x = g->values[q->inputs[0]];
        int64_t axis = nq_node_attr_int(q, "axis", 1);
        if (x->ndim < 1 || axis < -x->ndim || axis >= x->ndim) {
            nq_error_set(err, NQ_ERR_SHAPE, "quantizer '%s': per-channel scale on an input of unknown rank",
                         q->name);
            return -1;
        }
        if (axis < 0) axis += x->ndim;
        dims[ndim++] = c;
        for (int64_t i = axis + 1; i < x->ndim; i++) dims[ndim++] = 1;
    }
    nq_tensor t;
    if (nq_tensor_alloc(&t, NQ_DTYPE_FLOAT32, ndim, dims, err) != NQ_OK) return -1;
    for (int64_t i = 0; i < c; i++) ((float *)t.data)[i] = (float)v;
    size_t len = strlen(q->name) + 16;
    char *base = malloc(len);
    char *name = NULL;
    if (base != NULL) {
        snprintf(base, len, "%s_coef", q->name);
        name = nq_graph_unique_name(g, base);
        free(base);
    }
    int id = name ? nq_graph_add_initializer(g, name, &t, err) : -1;
    if (name == NULL) nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    free(name);
    if (id < 0) nq_tensor_free(&t);
    return id;
}

static nq_status insert_one(nq_graph *g, nq_node *q, int no_quant, double qmax, nq_error *err)
{
    double c = 1.0;
    if (!no_quant) {
        double bound = value_bound(g, q->inputs[0], 0);
        if (!isfinite(bound))
            return nq_error_set(err, NQ_ERR_UNSUPPORTED,
                                "quantizer '%s': the range of its integer input is unknown, so no compensation "
                                "coefficient can be sized for it",
                                q->name);
        /* c' <= c after approximation: c * bound must fit int32 */
        c = qmax;
        while (c > 1 && c * fmax(bound, 1.0) > (double)INT32_MAX) c = floor(c / 2);
        if (c * fmax(bound, 1.0) > (double)INT32_MAX)
            return nq_error_set(err, NQ_ERR_DATA,
                                "quantizer '%s': its input can reach %.3g, too large for an int32 compensation",
                                q->name, bound);
    }
    int cv = coefficient_init(g, q, c, err);
    if (cv < 0) return err ? err->code : NQ_ERR_NOMEM;
    size_t len = strlen(q->name) + 16;
    char *base = malloc(len);
    char *name = NULL;
    if (base != NULL) {
        snprintf(base, len, "%s_compensation", q->name);
        name = nq_graph_unique_name(g, base);
        free(base);
    }
    if (name == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    nq_node *m = nq_graph_insert_on_edge(g, q, 0, "Mul", name, 1, &cv, err);
    free(name);
    if (m == NULL) return err ? err->code : NQ_ERR_NOMEM;
    m->op = nq_op_find("", "Mul");
    if (nq_node_set_string(m, NQ_ATTR_ROLE, NQ_ROLE_COMPENSATION) != NQ_OK ||
        nq_node_set_string(m, NQ_ATTR_DTYPE, no_quant ? "float32" : "int32") != NQ_OK)
        return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    if (c != 1.0) nq_ptq_scale_mul(g, q, 1.0 / c);
    return NQ_OK;
}

nq_status nq_insert_compensation_nodes(nq_graph *g, int no_quant, nq_error *err)
{
    /* shapes: ranks for per-channel coefficients, sizes of ReduceSum */
    nq_status s = nq_graph_infer_shapes(g, 0, err);
    if (s != NQ_OK) return s;
    double qmax = coefficient_qmax(g);
    int count = g->n_nodes;
    nq_node **nodes = malloc(sizeof(nq_node *) * (size_t)(count + 1));
    if (nodes == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    memcpy(nodes, g->nodes, sizeof(nq_node *) * (size_t)count);
    for (int i = 0; i < count && s == NQ_OK; i++) {
        nq_node *q = nodes[i];
        if (!is_requantizer(q) || affine_before(g, q) != NULL || compensation_before(g, q) != NULL) continue;
        s = insert_one(g, q, no_quant, qmax, err);
    }
    free(nodes);
    return s;
}

/* ---- perform_single_shift_approximation -------------------------------- */

/* Multiplies input `input` of affine node a (weights or bias) as its
 * Quantizer produces it by r[c] per output channel c (r[0] when n_r is 1),
 * rounding when the Quantizer rounds; stores the result in the constant and
 * sets the Quantizer's scale to 1. Layout: element k of channel c is at
 * c * stride + k * cstride, k < per. */
static nq_status compensate_param(nq_graph *g, nq_node *a, int input, const double *r, int64_t n_r,
                                  int64_t channels, int64_t per, int64_t stride, int64_t cstride, nq_error *err)
{
    nq_node *pq = nq_ptq_param_quantizer(g, a, input);
    if (pq == NULL)
        return nq_error_set(err, NQ_ERR_INVALID_ARG,
                            "node '%s' (%s): input %d has no quantizer: single shift runs after "
                            "quantize_normalized_network and before fold_producer_quantizers",
                            a->name, a->op_type, input);
    nq_tensor *w = nq_ptq_param(g, a, input, err);
    nq_tensor *ps = w ? nq_ptq_private_init(g, pq, 1, err) : NULL;
    if (w == NULL || ps == NULL) return err ? err->code : NQ_ERR_NOMEM;
    if (w->dtype != NQ_DTYPE_FLOAT32 || ps->dtype != NQ_DTYPE_FLOAT32 || nq_tensor_numel(ps) != 1)
        return nq_error_set(err, NQ_ERR_UNSUPPORTED,
                            "quantizer '%s': single shift needs float32 parameters and one scale", pq->name);
    const float s = *(const float *)ps->data;
    const int round = (int)nq_node_attr_int(pq, "round", 1);
    const float lo = nq_node_attr_float(pq, "clip_min", -INFINITY);
    const float hi = nq_node_attr_float(pq, "clip_max", INFINITY);
    float *d = w->data;
    for (int64_t c = 0; c < channels; c++) {
        const double rc = r[n_r == 1 ? 0 : c];
        for (int64_t k = 0; k < per; k++) {
            float *e = &d[c * stride + k * cstride];
            float v = *e * s; /* exactly what the Quantizer computes */
            if (round) v = nearbyintf(v);
            v = v < lo ? lo : v > hi ? hi : v;
            double out = (double)v * rc;
            *e = (float)(round ? nearbyint(out) : out);
        }
    }
    *(float *)ps->data = 1.0f;
    return NQ_OK;
}

static nq_status compensate_affine(nq_graph *g, nq_node *a, const double *r, int64_t n_r, nq_error *err)
{
    nq_affine_params p;
    nq_status s = nq_ptq_affine_params(g, a, &p, err);
    if (s != NQ_OK) return s;
    if (n_r != 1 && n_r != p.channels)
        return nq_error_set(err, NQ_ERR_INTERNAL, "node '%s' (%s): %lld scales for %lld output channels", a->name,
                            a->op_type, (long long)n_r, (long long)p.channels);
    s = compensate_param(g, a, 1, r, n_r, p.channels, p.per, p.stride, p.cstride, err);
    if (s == NQ_OK && p.b != NULL) s = compensate_param(g, a, 2, r, n_r, p.channels, 1, 1, 1, err);
    return s;
}

static nq_status compensate_mul(nq_graph *g, nq_node *m, const double *r, int64_t n_r, nq_error *err)
{
    nq_tensor *c = nq_ptq_private_init(g, m, 1, err);
    if (c == NULL) return err ? err->code : NQ_ERR_NOMEM;
    if (c->dtype != NQ_DTYPE_FLOAT32 || nq_tensor_numel(c) != n_r)
        return nq_error_set(err, NQ_ERR_INTERNAL,
                            "compensation node '%s': coefficient has %lld values for %lld scales", m->name,
                            (long long)nq_tensor_numel(c), (long long)n_r);
    nq_dtype t = target_dtype(m);
    int round = t != NQ_DTYPE_UNDEFINED && !nq_dtype_is_float(t);
    for (int64_t i = 0; i < n_r; i++) {
        double v = (double)((float *)c->data)[i] * r[i];
        ((float *)c->data)[i] = (float)(round ? nearbyint(v) : v);
    }
    return NQ_OK;
}

nq_status nq_perform_single_shift_approximation(nq_graph *g, nq_error *err)
{
    /* check first, so that a graph it does not fit is left as it was */
    for (int i = 0; i < g->n_nodes; i++) {
        nq_node *q = g->nodes[i], *a = affine_before(g, q);
        if (!is_requantizer(q)) continue;
        if (a == NULL && compensation_before(g, q) == NULL)
            return nq_error_set(err, NQ_ERR_INVALID_ARG,
                                "scaling node '%s' follows neither an affine node nor a compensation node: "
                                "run insert_compensation_nodes first",
                                q->name);
        for (int k = 1; a != NULL && k <= 2 && k < a->n_inputs; k++)
            if (a->inputs[k] >= 0 && nq_ptq_param_quantizer(g, a, k) == NULL)
                return nq_error_set(err, NQ_ERR_INVALID_ARG,
                                    "node '%s' (%s): input %d has no quantizer: single shift runs after "
                                    "quantize_normalized_network and before fold_producer_quantizers",
                                    a->name, a->op_type, k);
    }
    nq_status s = NQ_OK;
    double *r = NULL;
    for (int i = 0; i < g->n_nodes && s == NQ_OK; i++) {
        nq_node *q = g->nodes[i];
        if (!is_requantizer(q)) continue;
        nq_node *a = affine_before(g, q), *m = a ? NULL : compensation_before(g, q);
        nq_tensor *sc = nq_ptq_private_init(g, q, 1, err);
        if (sc == NULL) {
            s = err ? err->code : NQ_ERR_NOMEM;
            break;
        }
        int64_t n = nq_tensor_numel(sc);
        free(r);
        r = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
        if (r == NULL) {
            s = nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
            break;
        }
        float *sv = sc->data;
        for (int64_t c = 0; c < n && s == NQ_OK; c++) {
            double v = (double)sv[c];
            int e = 0;
            double f = frexp(v, &e); /* v = f * 2^e, f in [0.5, 1) */
            int k = f == 0.5 ? e - 1 : e; /* p = 2^k = 2^ceil(log2 v) */
            if (!(v > 0) || !isfinite(v))
                s = nq_error_set(err, NQ_ERR_DATA, "scaling node '%s': scale[%lld] = %g is not positive and finite",
                                 q->name, (long long)c, v);
            else if (k > -NQ_REQUANT_SHIFT_MIN || k < -NQ_REQUANT_SHIFT_MAX)
                s = nq_error_set(err, NQ_ERR_UNSUPPORTED,
                                 "scaling node '%s': scale[%lld] = %g needs a shift beyond [%d, %d]", q->name,
                                 (long long)c, v, NQ_REQUANT_SHIFT_MIN, NQ_REQUANT_SHIFT_MAX);
            if (s != NQ_OK) break;
            double p = ldexp(1.0, k);
            r[c] = v / p; /* exact: p is a power of two */
        }
        if (s != NQ_OK) break;
        s = a ? compensate_affine(g, a, r, n, err) : compensate_mul(g, m, r, n, err);
        if (s != NQ_OK) break;
        for (int64_t c = 0; c < n; c++) sv[c] = (float)((double)sv[c] / r[c]);
        if (nq_node_set_int(q, "single_shift", 1) != NQ_OK) s = nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    }
    free(r);
    return s;
}

/* ---- used by cast_quantized_network ------------------------------------ */

nq_status nq_ptq_require_single_shift(nq_graph *g, nq_node *q, nq_error *err)
{
    const nq_tensor *sc = nq_ptq_scale(g, q);
    if (sc == NULL || sc->dtype != NQ_DTYPE_FLOAT32)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "quantizer '%s' has no float32 scale", q->name);
    for (int64_t i = 0; i < nq_tensor_numel(sc); i++) {
        float v = ((const float *)sc->data)[i];
        int e = 0;
        if (!(v > 0) || isinf(v) || frexpf(v, &e) != 0.5f)
            return nq_error_set(err, NQ_ERR_INVALID_ARG,
                                "quantizer '%s': scale[%lld] = %g is not a power of two: run "
                                "perform_single_shift_approximation before casting with single_shift",
                                q->name, (long long)i, (double)v);
    }
    if (nq_node_set_int(q, "single_shift", 1) != NQ_OK) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    return NQ_OK;
}

/* Makes compensation node m compute in int32: integer coefficient, and an
 * input widened to int32 by a Quantizer of scale 1 when it is narrower. */
static nq_status cast_one(nq_graph *g, nq_node *m, nq_dtype tx, nq_error *err)
{
    nq_tensor *c = nq_ptq_private_init(g, m, 1, err);
    if (c == NULL) return err ? err->code : NQ_ERR_NOMEM;
    if (c->dtype != NQ_DTYPE_INT32) {
        nq_tensor t;
        nq_status s = nq_tensor_alloc(&t, NQ_DTYPE_INT32, c->ndim, c->dims, err);
        if (s != NQ_OK) return s;
        for (int64_t i = 0; i < nq_tensor_numel(c); i++) {
            double v = nq_tensor_get(c, i);
            if (v != nearbyint(v) || fabs(v) > (double)INT32_MAX) {
                nq_tensor_free(&t);
                return nq_error_set(err, NQ_ERR_INVALID_ARG,
                                    "compensation node '%s': coefficient %g is not an int32 (inserted with no_quant?)",
                                    m->name, v);
            }
            nq_tensor_set(&t, i, v);
        }
        nq_tensor_free(c);
        *c = t;
        g->values[m->inputs[1]]->dtype = NQ_DTYPE_INT32;
    }
    if (tx == NQ_DTYPE_INT32) return NQ_OK;
    nq_node *w = nq_ptq_insert_quantizer_on(g, m->inputs[0], m, 0, NQ_ROLE_WIDEN, 1.0f, err);
    if (w == NULL) return err ? err->code : NQ_ERR_NOMEM;
    if (nq_node_set_int(w, "round", 1) != NQ_OK || nq_node_set_int(w, "single_shift", 1) != NQ_OK ||
        nq_node_set_string(w, "to", "int32") != NQ_OK || nq_node_set_string(w, NQ_ATTR_DTYPE, "int32") != NQ_OK)
        return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    return NQ_OK;
}

nq_status nq_ptq_cast_compensation(nq_graph *g, const nq_dtype *dt, int n_dt, nq_error *err)
{
    int count = g->n_nodes;
    nq_node **nodes = malloc(sizeof(nq_node *) * (size_t)(count + 1));
    if (nodes == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    memcpy(nodes, g->nodes, sizeof(nq_node *) * (size_t)count);
    nq_status s = NQ_OK;
    for (int i = 0; i < count && s == NQ_OK; i++) {
        nq_node *m = nodes[i];
        if (!nq_ptq_is_compensation(m) || m->n_inputs < 2 || m->inputs[0] < 0) continue;
        int x = m->inputs[0];
        nq_dtype tx = x < n_dt ? dt[x] : g->values[x]->dtype;
        if (tx == NQ_DTYPE_UNDEFINED || nq_dtype_is_float(tx)) continue; /* stays float */
        if (tx == NQ_DTYPE_INT64)
            s = nq_error_set(err, NQ_ERR_UNSUPPORTED, "compensation node '%s': int64 input", m->name);
        else
            s = cast_one(g, m, tx, err);
    }
    free(nodes);
    return s;
}
