/*
 * nnquant integer graph -> QDQ ONNX (include/nnquant/qdq.h, docs/qdq.md).
 *
 * Every integer activation t of the source graph becomes, in the QDQ
 * graph, a float tensor carrying its real value q * r(t) (qdq_scales.c
 * computes r). Where t fits int8 or uint8 (its dtype, narrowed by the
 * clip range of the Quantizer producing it), the float tensor goes through
 * QuantizeLinear (output: t's name and dtype) and DequantizeLinear
 * ("<t>_dq"), which the consumers read: the canonical QDQ pattern that
 * ONNX Runtime fuses into integer kernels. Wider integers (int32 residual
 * branches, compensation products) stay float.
 *
 * Nodes: an input Quantizer becomes QuantizeLinear; a requantizing one
 * QuantizeLinear of its input's float value; a dequantizing one
 * DequantizeLinear; Conv/Gemm/MatMul read DequantizeLinear'd int8 weights
 * (scale r(acc) / r(x), per output channel when the requantization is)
 * and an int32 bias of scale r(acc); a compensation Mul disappears (it
 * does not change real values); every other node is copied with float
 * inputs (integer Clip bounds become float bounds). A node that has no
 * float meaning on integers fails, named.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export/qdq_export_internal.h"
#include "nnquant/onnx.h"
#include "nnquant/run.h"

#define NQ_ATTR_DEQUANT "quantization.ptq.dequant"

typedef struct xp {
    nq_graph *src;      /* folded clone of the input graph, with dtypes */
    nq_graph *dst;
    nq_qdq_scales sc;
    int *acc_q;         /* accumulator value -> its requantizing Quantizer (node index) or -1 */
    int *vf, *vq, *vd;  /* dst ids: float carrier, QuantizeLinear output, DequantizeLinear output */
    int *cmap;          /* src constant -> dst copy */
    nq_error *err;
} xp;

/* Operators whose integer inputs and outputs share one scale. */
static const char *const pass_ops[] = {
    "Relu",    "MaxPool", "GlobalMaxPool", "Flatten", "Reshape", "Transpose", "Squeeze",
    "Unsqueeze", "Identity", "Dropout", "Slice", "Pad", "Clip", "Split", "Concat",
    "Add",     "Sub",     "ReduceSum",     "ReduceMax", "Gather",
};

static int is_pass(const nq_node *n)
{
    if (n->domain[0] != '\0' && strcmp(n->domain, "ai.onnx") != 0) return 0;
    for (size_t i = 0; i < sizeof pass_ops / sizeof *pass_ops; i++)
        if (strcmp(n->op_type, pass_ops[i]) == 0) return 1;
    return 0;
}

static int is_affine(const nq_node *n)
{
    return n->domain[0] == '\0' && (strcmp(n->op_type, "Conv") == 0 ||
                                    strcmp(n->op_type, "Gemm") == 0 ||
                                    strcmp(n->op_type, "MatMul") == 0);
}

static int is_quantizer(const nq_node *n)
{
    return strcmp(n->op_type, "Quantizer") == 0 && strcmp(n->domain, NQ_DOMAIN) == 0;
}

static int is_int_dtype(nq_dtype t)
{
    return t != NQ_DTYPE_UNDEFINED && t != NQ_DTYPE_BOOL && !nq_dtype_is_float(t);
}

/* A non-constant integer tensor (int64 ones are indices and shapes,
 * passed through like float tensors). */
static int is_int_act(const nq_graph *g, int v)
{
    return v >= 0 && g->values[v]->init == NULL && is_int_dtype(g->values[v]->dtype) &&
           g->values[v]->dtype != NQ_DTYPE_INT64;
}

static int first_int_input(const nq_graph *g, const nq_node *n)
{
    for (int i = 0; i < n->n_inputs; i++)
        if (is_int_act(g, n->inputs[i])) return n->inputs[i];
    return -1;
}

static nq_status fail(xp *x, const nq_node *n, nq_status code, const char *what)
{
    return nq_error_set(x->err, code, "QDQ export: node '%s' (%s): %s", n->name, n->op_type, what);
}

/* The scale of a Quantizer: a float32 constant. */
static const nq_tensor *q_scale(xp *x, const nq_node *n)
{
    const nq_tensor *s = nq_qdq_const_input(x->src, n, 1);
    if (s == NULL || s->dtype != NQ_DTYPE_FLOAT32) {
        fail(x, n, NQ_ERR_UNSUPPORTED, "scale is not a float32 constant");
        return NULL;
    }
    return s;
}

/* ---- pass 1: scale relations -------------------------------------------- */

static void find_accumulators(xp *x)
{
    nq_graph *g = x->src;
    for (int i = 0; i < g->n_values; i++) x->acc_q[i] = -1;
    for (int i = 0; i < g->n_nodes; i++) {
        const nq_node *n = g->nodes[i];
        if (!is_affine(n) || !is_int_act(g, n->inputs[0])) continue;
        int acc = n->outputs[0];
        nq_node *c[2];
        if (g->values[acc]->is_output || nq_graph_consumers(g, acc, c, 2) != 1) continue;
        if (is_quantizer(c[0]) && is_int_dtype(g->values[c[0]->outputs[0]]->dtype))
            x->acc_q[acc] = nq_graph_node_index(g, c[0]);
    }
}

static nq_status relate_quantizer(xp *x, const nq_node *n)
{
    nq_graph *g = x->src;
    int in = n->inputs[0], out = n->outputs[0];
    const nq_tensor *s = q_scale(x, n);
    if (s == NULL) return x->err ? x->err->code : NQ_ERR_UNSUPPORTED;
    int fin = !is_int_dtype(g->values[in]->dtype), fout = !is_int_dtype(g->values[out]->dtype);
    int scalar = nq_tensor_numel(s) == 1;
    double s0 = ((const float *)s->data)[0];
    if (fin && fout)
        return fail(x, n, NQ_ERR_UNSUPPORTED,
                    "a float-to-float Quantizer (fake quantization) has no QDQ form; quantize "
                    "without --fake-quantize");
    if (!fin && !fout && x->acc_q[in] == nq_graph_node_index(g, n)) {
        /* the accumulator's scale is derived from this one at emission */
    } else if (!scalar) {
        return fail(x, n, NQ_ERR_UNSUPPORTED,
                    "a per-channel scale on an activation has no QDQ form (QuantizeLinear of "
                    "activations is per tensor)");
    } else if (fin) {
        nq_status st = nq_qdq_scales_anchor(&x->sc, out, 1.0 / s0, 1, n, x->err);
        if (st != NQ_OK) return st;
    } else if (fout) {
        nq_status st = nq_qdq_scales_anchor(&x->sc, in, s0, 1, n, x->err);
        if (st != NQ_OK) return st;
    } else {
        nq_status st = nq_qdq_scales_relate(&x->sc, in, out, s0, n, x->err);
        if (st != NQ_OK) return st;
    }
    const nq_attr *d = nq_node_attr(n, NQ_ATTR_DEQUANT);
    if (!fout && d != NULL && d->type == NQ_ATTR_FLOAT && d->f > 0)
        return nq_qdq_scales_anchor(&x->sc, out, d->f, 0, n, x->err);
    return NQ_OK;
}

static nq_status relate_node(xp *x, const nq_node *n)
{
    nq_graph *g = x->src;
    if (is_quantizer(n)) return relate_quantizer(x, n);
    int first = first_int_input(g, n);
    if (first < 0) {
        for (int i = 0; i < n->n_outputs; i++)
            if (is_int_act(g, n->outputs[i]))
                return fail(x, n, NQ_ERR_UNSUPPORTED,
                            "produces integers from float inputs (no QDQ form)");
        return NQ_OK; /* a float node: copied as it is */
    }
    if (is_affine(n)) {
        if (first != n->inputs[0]) return fail(x, n, NQ_ERR_UNSUPPORTED, "integer weights must be constant");
        if (x->acc_q[n->outputs[0]] >= 0) return NQ_OK;
        return nq_qdq_scales_relate(&x->sc, n->outputs[0], first, 1.0, n, x->err);
    }
    if (strcmp(n->op_type, "Mul") == 0 && n->n_inputs == 2) {
        const nq_tensor *c = nq_qdq_const_input(g, n, first == n->inputs[0] ? 1 : 0);
        if (c == NULL || nq_tensor_numel(c) != 1 || !is_int_dtype(c->dtype))
            return fail(x, n, NQ_ERR_UNSUPPORTED,
                        "an integer Mul must be a compensation Mul by one integer constant");
        double k = nq_tensor_get(c, 0);
        if (!(k > 0)) return fail(x, n, NQ_ERR_UNSUPPORTED, "compensation coefficient is not positive");
        return nq_qdq_scales_relate(&x->sc, n->outputs[0], first, 1.0 / k, n, x->err);
    }
    if (!is_pass(n)) return fail(x, n, NQ_ERR_UNSUPPORTED, "this operator on integers has no QDQ form");
    for (int i = 0; i < n->n_inputs; i++)
        if (is_int_act(g, n->inputs[i])) {
            nq_status s = nq_qdq_scales_relate(&x->sc, n->inputs[i], first, 1.0, n, x->err);
            if (s != NQ_OK) return s;
        }
    for (int i = 0; i < n->n_outputs; i++)
        if (is_int_act(g, n->outputs[i])) {
            nq_status s = nq_qdq_scales_relate(&x->sc, n->outputs[i], first, 1.0, n, x->err);
            if (s != NQ_OK) return s;
        }
    return NQ_OK;
}

/* ---- pass 2: emission ---------------------------------------------------- */

/* The QuantizeLinear type of integer value v (int8, uint8, or UNDEFINED
 * when it does not fit) and its integer range. */
static nq_dtype q_type(const xp *x, int v, int64_t *lo, int64_t *hi)
{
    const nq_value *val = x->src->values[v];
    nq_dtype_int_range(val->dtype, lo, hi);
    const nq_node *p = val->producer;
    if (p != NULL && is_quantizer(p)) {
        const nq_attr *a = nq_node_attr(p, "clip_min"), *b = nq_node_attr(p, "clip_max");
        if (a != NULL) *lo = (int64_t)fmax((double)*lo, ceil(a->type == NQ_ATTR_INT ? (double)a->i : a->f));
        if (b != NULL) *hi = (int64_t)fmin((double)*hi, floor(b->type == NQ_ATTR_INT ? (double)b->i : b->f));
    }
    if (*lo >= -128 && *hi <= 127) return NQ_DTYPE_INT8;
    if (*lo >= 0 && *hi <= 255) return NQ_DTYPE_UINT8;
    return NQ_DTYPE_UNDEFINED;
}

static char *suffixed(const char *name, const char *suffix)
{
    size_t len = strlen(name) + strlen(suffix) + 1;
    char *s = malloc(len);
    if (s != NULL) snprintf(s, len, "%s%s", name, suffix);
    return s;
}

static int new_value(xp *x, const char *name, const char *suffix)
{
    char *base = suffixed(name, suffix);
    if (base == NULL) {
        nq_error_set(x->err, NQ_ERR_NOMEM, "out of memory");
        return -1;
    }
    int id = nq_graph_find_value(x->dst, base) < 0 ? nq_graph_add_value(x->dst, base, x->err)
                                                  : nq_qdq_new_value(x->dst, base, x->err);
    free(base);
    return id;
}

/* Float carrier for the new value of src value v (its name, or "<v>_f"
 * when QuantizeLinear will take the name). */
static int carrier(xp *x, int v)
{
    int64_t lo, hi;
    int quant = is_int_act(x->src, v) && q_type(x, v, &lo, &hi) != NQ_DTYPE_UNDEFINED;
    return new_value(x, x->src->values[v]->name, quant ? "_f" : "");
}

/* QuantizeLinear + DequantizeLinear of integer value v, whose real value is
 * carried by dst value f. */
static nq_status emit_q(xp *x, int v, int f)
{
    int64_t lo, hi;
    nq_dtype qt = q_type(x, v, &lo, &hi);
    x->vf[v] = f;
    if (qt == NQ_DTYPE_UNDEFINED) return NQ_OK;
    const char *name = x->src->values[v]->name;
    double r = nq_qdq_scales_get(&x->sc, v);
    int64_t tmin = qt == NQ_DTYPE_INT8 ? -128 : 0, tmax = qt == NQ_DTYPE_INT8 ? 127 : 255;
    if (lo > tmin + 1 || hi < tmax) { /* narrower than the type (int4...): clip first */
        double b[2] = {(double)lo * r, (double)hi * r};
        int cmin = nq_qdq_const(x->dst, "clip_min", NQ_DTYPE_FLOAT32, 1, 0, &b[0], x->err);
        int cmax = nq_qdq_const(x->dst, "clip_max", NQ_DTYPE_FLOAT32, 1, 0, &b[1], x->err);
        int c = new_value(x, name, "_clip");
        if (cmin < 0 || cmax < 0 || c < 0) return x->err->code;
        int in[3] = {f, cmin, cmax};
        if (!nq_qdq_node(x->dst, "Clip", name, 3, in, 1, &c, x->err)) return x->err->code;
        f = c;
    }
    /* A single-shift Quantizer rescales by a power of two and rounds half
     * up: exact ties are frequent. QuantizeLinear rounds half to even, and
     * float error in s_x * s_w / y_scale breaks ties at random; a scale
     * smaller by 2^-20 makes every positive tie round up, as nnquant does
     * (a value within 2^-n of a tie is never moved across it while
     * |x| * 2^-20 < 2^-n, that is for shifts n < 13 in the int8 range). */
    const nq_node *p = x->src->values[v]->producer;
    double rq = r;
    if (p != NULL && is_quantizer(p) && nq_node_attr_int(p, "single_shift", 0) &&
        is_int_dtype(x->src->values[p->inputs[0]]->dtype))
        rq = r * (1.0 - ldexp(1.0, -20));
    int sv = nq_qdq_const(x->dst, "scale", NQ_DTYPE_FLOAT32, 1, 0, &r, x->err);
    int sq = rq == r ? sv : nq_qdq_const(x->dst, "scale", NQ_DTYPE_FLOAT32, 1, 0, &rq, x->err);
    int zv = nq_qdq_const(x->dst, "zero_point", qt, 1, 0, NULL, x->err);
    int q = nq_graph_find_value(x->dst, name) < 0 ? nq_graph_add_value(x->dst, name, x->err)
                                                  : new_value(x, name, "_q");
    int d = new_value(x, name, "_dq");
    if (sv < 0 || sq < 0 || zv < 0 || q < 0 || d < 0) return x->err->code;
    int qin[3] = {f, sq, zv}, din[3] = {q, sv, zv};
    if (!nq_qdq_node(x->dst, "QuantizeLinear", name, 3, qin, 1, &q, x->err) ||
        !nq_qdq_node(x->dst, "DequantizeLinear", name, 3, din, 1, &d, x->err))
        return x->err->code;
    x->dst->values[q]->dtype = qt;
    x->vq[v] = q;
    x->vd[v] = d;
    return NQ_OK;
}

/* The dst value a float consumer reads for src value v. */
static int use(xp *x, int v)
{
    const nq_value *val = x->src->values[v];
    if (val->init != NULL) {
        if (x->cmap[v] < 0) {
            nq_tensor t = {0};
            if (nq_tensor_copy(&t, val->init, x->err) != NQ_OK) return -1;
            x->cmap[v] = nq_graph_add_initializer(x->dst, val->name, &t, x->err);
            nq_tensor_free(&t);
        }
        return x->cmap[v];
    }
    int id = x->vd[v] >= 0 ? x->vd[v] : x->vf[v];
    if (id < 0) nq_error_set(x->err, NQ_ERR_INTERNAL, "QDQ export: value '%s' used before it is defined", val->name);
    return id;
}

/* An integer constant read by a float op next to integer data of scale r:
 * the float constant c * r. */
static int scaled_const(xp *x, int v, double r)
{
    const nq_tensor *c = x->src->values[v]->init;
    nq_tensor t = {0};
    if (nq_tensor_alloc(&t, NQ_DTYPE_FLOAT32, c->ndim, c->dims, x->err) != NQ_OK) return -1;
    for (int64_t i = 0; i < nq_tensor_numel(c); i++) ((float *)t.data)[i] = (float)(nq_tensor_get(c, i) * r);
    char *name = nq_graph_unique_name(x->dst, x->src->values[v]->name);
    int id = name ? nq_graph_add_initializer(x->dst, name, &t, x->err) : -1;
    free(name);
    nq_tensor_free(&t);
    return id;
}

/* DequantizeLinear of an integer constant with a scale of n values (axis
 * used when n > 1); int2..int4 weights are widened to int8. */
static int dq_const(xp *x, const nq_node *n, int v, const double *scale, int64_t ns, int axis)
{
    const nq_tensor *c = x->src->values[v]->init;
    nq_dtype st = c->dtype;
    nq_dtype dt = st == NQ_DTYPE_INT2 || st == NQ_DTYPE_INT3 || st == NQ_DTYPE_INT4 ? NQ_DTYPE_INT8
                  : st == NQ_DTYPE_UINT4                                            ? NQ_DTYPE_UINT8
                                                                                    : st;
    if (dt != NQ_DTYPE_INT8 && dt != NQ_DTYPE_UINT8 && dt != NQ_DTYPE_INT32) {
        fail(x, n, NQ_ERR_UNSUPPORTED, "constant of this dtype has no DequantizeLinear form "
                                       "(int8, uint8 or int32; int2..int4 are widened)");
        return -1;
    }
    if (ns > 1 && (axis >= c->ndim || c->dims[axis] != ns)) {
        fail(x, n, NQ_ERR_SHAPE, "per-channel scale does not match the constant's channels");
        return -1;
    }
    nq_tensor t = {0};
    if (nq_tensor_alloc(&t, dt, c->ndim, c->dims, x->err) != NQ_OK) return -1;
    for (int64_t i = 0; i < nq_tensor_numel(c); i++) nq_tensor_set(&t, i, nq_tensor_get(c, i));
    int q = nq_graph_add_initializer(x->dst, x->src->values[v]->name, &t, x->err);
    nq_tensor_free(&t);
    int sv = nq_qdq_const(x->dst, "scale", NQ_DTYPE_FLOAT32, ns, ns > 1, scale, x->err);
    int zv = dt == NQ_DTYPE_INT32 ? -2 : nq_qdq_const(x->dst, "zero_point", dt, ns, ns > 1, NULL, x->err);
    int d = new_value(x, x->src->values[v]->name, "_dq");
    if (q < 0 || sv < 0 || zv == -1 || d < 0) return -1;
    int in[3] = {q, sv, zv};
    nq_node *dq = nq_qdq_node(x->dst, "DequantizeLinear", x->src->values[v]->name, zv >= 0 ? 3 : 2,
                              in, 1, &d, x->err);
    if (dq == NULL || (ns > 1 && nq_node_set_int(dq, "axis", axis) != NQ_OK)) return -1;
    return d;
}

static nq_status emit_quantizer(xp *x, const nq_node *n)
{
    nq_graph *g = x->src;
    int in = n->inputs[0], out = n->outputs[0];
    if (!is_int_dtype(g->values[out]->dtype)) { /* dequantization */
        int o = new_value(x, g->values[out]->name, "");
        if (o < 0) return x->err->code;
        x->vf[out] = o;
        if (x->vq[in] >= 0) {
            const nq_node *dn = x->dst->values[x->vd[in]]->producer;
            int din[3] = {x->vq[in], dn->inputs[1], dn->inputs[2]};
            return nq_qdq_node(x->dst, "DequantizeLinear", n->name, 3, din, 1, &o, x->err) ? NQ_OK
                                                                                           : x->err->code;
        }
        int u = use(x, in);
        return u >= 0 && nq_qdq_node(x->dst, "Identity", n->name, 1, &u, 1, &o, x->err) ? NQ_OK
                                                                                     : x->err->code;
    }
    int f = x->acc_q[in] >= 0 ? x->vf[in] : use(x, in);
    if (f < 0) return x->err->code;
    return emit_q(x, out, f);
}

static nq_status emit_affine(xp *x, const nq_node *n)
{
    nq_graph *g = x->src;
    int in = n->inputs[0], acc = n->outputs[0];
    double rx = nq_qdq_scales_get(&x->sc, in);
    int64_t nc = 1;
    double *racc = NULL;
    if (x->acc_q[acc] >= 0) {
        const nq_node *q = g->nodes[x->acc_q[acc]];
        const nq_tensor *m = q_scale(x, q);
        if (m == NULL) return x->err->code;
        nc = nq_tensor_numel(m);
        double rout = nq_qdq_scales_get(&x->sc, q->outputs[0]);
        racc = malloc(sizeof(double) * (size_t)nc * 2);
        if (racc == NULL) return nq_error_set(x->err, NQ_ERR_NOMEM, "out of memory");
        for (int64_t c = 0; c < nc; c++) racc[c] = (double)((const float *)m->data)[c] * rout;
    } else {
        racc = malloc(sizeof(double) * 2);
        if (racc == NULL) return nq_error_set(x->err, NQ_ERR_NOMEM, "out of memory");
        racc[0] = rx; /* r(W) = 1 */
    }
    double *rw = racc + nc;
    for (int64_t c = 0; c < nc; c++) rw[c] = racc[c] / rx;
    nq_status s = NQ_OK;
    int ins[3] = {-1, -1, -1};
    ins[0] = use(x, in);
    if (n->n_inputs < 2 || g->values[n->inputs[1]]->init == NULL)
        s = fail(x, n, NQ_ERR_UNSUPPORTED, "weights are not constant");
    else if ((ins[1] = dq_const(x, n, n->inputs[1], rw, nc, nq_qdq_weight_axis(n))) < 0)
        s = x->err->code;
    if (s == NQ_OK && n->n_inputs > 2 && n->inputs[2] >= 0) {
        const nq_value *b = g->values[n->inputs[2]];
        if (b->init == NULL) s = fail(x, n, NQ_ERR_UNSUPPORTED, "bias is not constant");
        else if (b->init->dtype == NQ_DTYPE_INT32)
            ins[2] = dq_const(x, n, n->inputs[2], racc, nc, 0);
        else if (is_int_dtype(b->init->dtype) && nc == 1)
            ins[2] = scaled_const(x, n->inputs[2], racc[0]);
        else s = fail(x, n, NQ_ERR_UNSUPPORTED, "bias must be int32 (or a per-tensor integer)");
        if (s == NQ_OK && ins[2] < 0) s = x->err->code;
    }
    free(racc);
    if (s != NQ_OK) return s;
    if (ins[0] < 0) return x->err->code;
    int o = carrier(x, acc);
    nq_node *d = o >= 0 ? nq_graph_add_node(x->dst, n->op_type, n->name, n->n_inputs, ins, 1, &o, x->err) : NULL;
    if (d == NULL || nq_qdq_copy_attrs(d, n, x->err) != NQ_OK) return x->err->code;
    if (x->acc_q[acc] >= 0) {
        x->vf[acc] = o;
        return NQ_OK;
    }
    return emit_q(x, acc, o);
}

static nq_status emit_generic(xp *x, const nq_node *n)
{
    nq_graph *g = x->src;
    int first = first_int_input(g, n);
    double r = first >= 0 ? nq_qdq_scales_get(&x->sc, first) : 1.0;
    if (first >= 0 && strcmp(n->op_type, "Mul") == 0) { /* compensation: real values unchanged */
        int u = use(x, first);
        return u >= 0 ? emit_q(x, n->outputs[0], u) : x->err->code;
    }
    int *ins = malloc(sizeof(int) * (size_t)(n->n_inputs + n->n_outputs + 1));
    if (ins == NULL) return nq_error_set(x->err, NQ_ERR_NOMEM, "out of memory");
    int *outs = ins + n->n_inputs;
    nq_status s = NQ_OK;
    for (int i = 0; i < n->n_inputs && s == NQ_OK; i++) {
        int v = n->inputs[i];
        const nq_value *val = v >= 0 ? g->values[v] : NULL;
        if (v < 0) ins[i] = -1;
        else if (first >= 0 && val->init != NULL && is_int_dtype(val->dtype) && val->dtype != NQ_DTYPE_INT64)
            ins[i] = scaled_const(x, v, r);
        else ins[i] = use(x, v);
        if (v >= 0 && ins[i] < 0) s = x->err->code;
    }
    for (int i = 0; i < n->n_outputs && s == NQ_OK; i++) {
        outs[i] = n->outputs[i] < 0 ? -1 : carrier(x, n->outputs[i]);
        if (n->outputs[i] >= 0 && outs[i] < 0) s = x->err->code;
        if (s == NQ_OK && n->outputs[i] >= 0) x->vf[n->outputs[i]] = outs[i];
    }
    nq_node *d = NULL;
    if (s == NQ_OK) {
        d = nq_graph_add_node(x->dst, n->op_type, n->name, n->n_inputs, ins, n->n_outputs, outs, x->err);
        if (d == NULL || nq_qdq_copy_attrs(d, n, x->err) != NQ_OK) s = x->err->code;
        if (d != NULL && s == NQ_OK && n->domain[0] != '\0')
            s = nq_qdq_set_string(&d->domain, n->domain, x->err);
    }
    for (int i = 0; i < n->n_outputs && s == NQ_OK; i++)
        if (is_int_act(g, n->outputs[i])) s = emit_q(x, n->outputs[i], outs[i]);
    free(ins);
    return s;
}

static nq_status emit_io(xp *x)
{
    nq_graph *g = x->src;
    for (int i = 0; i < g->n_inputs; i++) {
        const nq_value *v = g->values[g->inputs[i]];
        if (is_int_dtype(v->dtype))
            return nq_error_set(x->err, NQ_ERR_UNSUPPORTED,
                                "QDQ export: graph input '%s' is %s; QDQ models take float inputs",
                                v->name, nq_dtype_name(v->dtype));
        int id = nq_qdq_add_input_like(x->dst, v, x->err);
        if (id < 0) return x->err->code;
        x->vf[g->inputs[i]] = id;
    }
    return NQ_OK;
}

static nq_status emit_outputs(xp *x, const nq_graph *orig)
{
    nq_graph *g = x->src;
    for (int i = 0; i < g->n_outputs; i++) {
        int v = g->outputs[i];
        const nq_value *sv = g->values[v];
        int id = x->vq[v] >= 0 ? x->vq[v] : x->vf[v];
        if (id < 0) return nq_error_set(x->err, NQ_ERR_INTERNAL, "QDQ export: output '%s' not produced", sv->name);
        if (strcmp(x->dst->values[id]->name, sv->name) != 0) { /* an alias: name it */
            int o = nq_graph_add_value(x->dst, sv->name, x->err);
            if (o < 0 || !nq_qdq_node(x->dst, "Identity", sv->name, 1, &id, 1, &o, x->err)) return x->err->code;
            id = o;
        }
        nq_value *d = x->dst->values[id];
        if (x->vq[v] < 0) d->dtype = is_int_dtype(sv->dtype) ? NQ_DTYPE_FLOAT32 : sv->dtype;
        /* the declared shape of the original output (dynamic batch kept) */
        int ov = nq_graph_find_value(orig, sv->name);
        const nq_value *src = ov >= 0 ? orig->values[ov] : sv;
        d->ndim = src->ndim >= 0 ? src->ndim : sv->ndim;
        memcpy(d->dims, src->ndim >= 0 ? src->dims : sv->dims, sizeof d->dims);
        if (nq_graph_add_output(x->dst, id, x->err) != NQ_OK) return x->err->code;
    }
    return NQ_OK;
}

static nq_status set_header(xp *x)
{
    nq_graph *g = x->src, *d = x->dst;
    int64_t ver = nq_graph_opset(g, "");
    if (ver == 0) ver = 13;
    if (ver < 13)
        return nq_error_set(x->err, NQ_ERR_UNSUPPORTED,
                            "QDQ export: the model has opset %lld; per-channel QDQ needs opset >= 13",
                            (long long)ver);
    nq_status s = nq_graph_set_opset(d, "", ver, x->err);
    for (int i = 0; i < g->n_opsets && s == NQ_OK; i++) {
        const char *dom = g->opsets[i].domain;
        if (dom[0] == '\0' || strcmp(dom, "ai.onnx") == 0 || strcmp(dom, NQ_DOMAIN) == 0) continue;
        s = nq_graph_set_opset(d, dom, g->opsets[i].version, x->err);
    }
    d->ir_version = g->ir_version > 7 ? g->ir_version : 7;
    for (int i = 0; i < g->n_meta && s == NQ_OK; i++)
        s = nq_graph_set_meta(d, g->meta_keys[i], g->meta_values[i], x->err);
    return s;
}

static nq_status prepare(const nq_graph *g, nq_graph **out, nq_error *err)
{
    nq_graph *c = NULL;
    nq_status s = nq_graph_clone(g, &c, err);
    if (s == NQ_OK) s = nq_graph_fold_constants(c, err); /* unfolded weight quantizers */
    if (s == NQ_OK) s = nq_graph_toposort(c, err);
    if (s == NQ_OK) s = nq_graph_infer_shapes(c, 0, err);
    if (s != NQ_OK) {
        nq_graph_free(c);
        return s;
    }
    int quantized = 0;
    for (int i = 0; i < c->n_nodes; i++) quantized |= is_quantizer(c->nodes[i]);
    if (!quantized) {
        nq_graph_free(c);
        return nq_error_set(err, NQ_ERR_INVALID_ARG,
                            "QDQ export: the model has no Quantizer node (quantize it first)");
    }
    *out = c;
    return NQ_OK;
}

nq_status nq_graph_to_qdq(const nq_graph *g, nq_graph **out, nq_error *err)
{
    nq_error local = {0};
    if (err == NULL) err = &local;
    *out = NULL;
    xp x = {0};
    x.err = err;
    nq_status s = prepare(g, &x.src, err);
    if (s != NQ_OK) return s;
    int nv = x.src->n_values;
    x.acc_q = malloc(sizeof(int) * (size_t)nv * 5 + 1);
    x.dst = nq_graph_create(g->name ? g->name : "qdq");
    if (x.acc_q == NULL || x.dst == NULL) s = nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    if (s == NQ_OK) {
        x.vf = x.acc_q + nv;
        x.vq = x.vf + nv;
        x.vd = x.vq + nv;
        x.cmap = x.vd + nv;
        for (int i = 0; i < nv * 4; i++) x.vf[i] = -1;
        s = nq_qdq_scales_init(&x.sc, nv, err);
    }
    if (s == NQ_OK) {
        find_accumulators(&x);
        for (int i = 0; i < x.src->n_nodes && s == NQ_OK; i++) s = relate_node(&x, x.src->nodes[i]);
    }
    if (s == NQ_OK) s = set_header(&x);
    if (s == NQ_OK) s = emit_io(&x);
    for (int i = 0; i < x.src->n_nodes && s == NQ_OK; i++) {
        const nq_node *n = x.src->nodes[i];
        if (is_quantizer(n)) s = emit_quantizer(&x, n);
        else if (is_affine(n) && is_int_act(x.src, n->inputs[0])) s = emit_affine(&x, n);
        else s = emit_generic(&x, n);
    }
    if (s == NQ_OK) s = emit_outputs(&x, g);
    if (s == NQ_OK) s = nq_qdq_set_string(&x.dst->producer_name, "nnquant", err);
    nq_qdq_scales_free(&x.sc);
    free(x.acc_q);
    nq_graph_free(x.src);
    if (s != NQ_OK) {
        nq_graph_free(x.dst);
        return s;
    }
    *out = x.dst;
    return NQ_OK;
}

nq_status nq_export_qdq(const nq_graph *g, const char *path, nq_error *err)
{
    nq_graph *q = NULL;
    nq_status s = nq_graph_to_qdq(g, &q, err);
    if (s == NQ_OK) s = nq_onnx_save(q, path, err);
    nq_graph_free(q);
    return s;
}

int nq_graph_is_qdq(const nq_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const nq_node *n = g->nodes[i];
        if ((n->domain[0] == '\0' || strcmp(n->domain, "ai.onnx") == 0) &&
            (strcmp(n->op_type, "QuantizeLinear") == 0 || strcmp(n->op_type, "DequantizeLinear") == 0))
            return 1;
    }
    return 0;
}
