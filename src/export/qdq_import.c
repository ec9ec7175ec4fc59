/*
 * QDQ ONNX -> nnquant's quantized form (include/nnquant/qdq.h, docs/qdq.md).
 *
 * Walks the QDQ graph in topological order and builds a new graph in which
 * every QuantizeLinear output is an integer tensor (int8/uint8) with the
 * real scale y_scale, and every supported float operator whose inputs come
 * from DequantizeLinear runs on those integers:
 *  - Conv/Gemm/MatMul(DQ(x), DQ(W int8), DQ(b int32) or float b) -> the
 *    integer op: an int32 accumulator of scale s_x * s_w (per channel
 *    when W's scale is);
 *  - Relu, MaxPool, Flatten, Reshape, ... (scale-preserving) -> the op on
 *    integers, same scale; Clip with its bounds divided by the scale;
 *  - Add/Sub(DQ(a), DQ(b)) -> int32 widening Quantizers to a common scale,
 *    the integer Add;
 *  - ReduceSum(DQ(x)) -> integer ReduceSum (int32);
 *  - QuantizeLinear(y) of such a result -> Quantizer(int, s_in / y_scale).
 * A QuantizeLinear of a float tensor becomes Quantizer(x, 1 / y_scale); a
 * DequantizeLinear read by a graph output becomes a dequantizing Quantizer.
 * Float operators on float tensors are copied. Anything else that reads a
 * DequantizeLinear output fails, naming the node.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export/qdq_internal.h"
#include "ptq/ptq_internal.h"
#include "nnquant/run.h"

typedef struct ip {
    const nq_graph *src;
    nq_graph *dst;
    int *ival;          /* src value -> dst integer value (Q outputs, integer op results) */
    double **iscale;    /* its real scale: 1 value, or one per channel */
    int *nscale;
    int *fval;          /* src value -> dst float value */
    const nq_node **dq; /* src value -> the DequantizeLinear producing it (NULL if none) */
    nq_graph *shapes;   /* a copy of src with inferred shapes (NULL if inference failed) */
    nq_error *err;
} ip;

static const char *const int_pass_ops[] = {
    "Relu", "MaxPool", "GlobalMaxPool", "Flatten", "Reshape", "Transpose", "Squeeze",
    "Unsqueeze", "Identity", "Dropout", "Slice", "Split", "ReduceMax",
};

static int in_list(const char *op, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(op, list[i]) == 0) return 1;
    return 0;
}

static nq_status ifail(ip *x, const nq_node *n, nq_status code, const char *what)
{
    return nq_error_set(x->err, code, "QDQ import: node '%s' (%s): %s", n->name, n->op_type, what);
}

static int is_default_domain(const nq_node *n)
{
    return n->domain[0] == '\0' || strcmp(n->domain, "ai.onnx") == 0;
}

/* Scale (float32 constant, > 0, 1 or C values) and zero point (absent or
 * all 0) of a QuantizeLinear/DequantizeLinear; *qt the integer type. */
static nq_status qdq_params(ip *x, const nq_node *n, const nq_tensor **scale, nq_dtype *qt)
{
    if (n->n_inputs < 1 || n->inputs[0] < 0) return ifail(x, n, NQ_ERR_INVALID_ARG, "missing data input");
    if (n->n_outputs < 1 || n->outputs[0] < 0) return ifail(x, n, NQ_ERR_INVALID_ARG, "missing output");
    if (n->n_inputs < 2 || n->inputs[1] < 0) return ifail(x, n, NQ_ERR_INVALID_ARG, "missing scale input");
    const nq_tensor *s = nq_qdq_const_input(x->src, n, 1);
    if (s == NULL)
        return ifail(x, n, NQ_ERR_UNSUPPORTED, "scale is not a constant (initializer)");
    if (s->dtype != NQ_DTYPE_FLOAT32) return ifail(x, n, NQ_ERR_UNSUPPORTED, "scale is not float32");
    if (nq_tensor_numel(s) < 1) return ifail(x, n, NQ_ERR_INVALID_ARG, "scale is empty");
    for (int64_t i = 0; i < nq_tensor_numel(s); i++) {
        float v = ((const float *)s->data)[i];
        if (!(v > 0) || !isfinite(v)) return ifail(x, n, NQ_ERR_DATA, "scale is not a positive finite number");
    }
    *qt = NQ_DTYPE_UINT8; /* ONNX default without a zero point */
    if (n->n_inputs > 2 && n->inputs[2] >= 0) {
        const nq_tensor *z = nq_qdq_const_input(x->src, n, 2);
        if (z == NULL) return ifail(x, n, NQ_ERR_UNSUPPORTED, "zero point is not a constant");
        for (int64_t i = 0; i < nq_tensor_numel(z); i++)
            if (nq_tensor_get(z, i) != 0.0) {
                char msg[160];
                snprintf(msg, sizeof msg,
                         "zero point %g is not 0: nnquant quantization is symmetric (zero points 0)",
                         nq_tensor_get(z, i));
                return ifail(x, n, NQ_ERR_UNSUPPORTED, msg);
            }
        *qt = z->dtype;
    } else if (strcmp(n->op_type, "DequantizeLinear") == 0) {
        *qt = x->src->values[n->inputs[0]]->dtype;
    }
    *scale = s;
    return NQ_OK;
}

static nq_status set_scale(ip *x, int v, const double *s, int n)
{
    free(x->iscale[v]);
    x->iscale[v] = malloc(sizeof(double) * (size_t)n);
    if (x->iscale[v] == NULL) return nq_error_set(x->err, NQ_ERR_NOMEM, "out of memory");
    memcpy(x->iscale[v], s, sizeof(double) * (size_t)n);
    x->nscale[v] = n;
    return NQ_OK;
}

/* The integer source behind src value v: v itself if integer, or the
 * input of the DequantizeLinear producing v. -1 if none. */
static int int_src(ip *x, int v)
{
    if (v < 0) return -1;
    if (x->ival[v] >= 0) return v;
    if (x->dq[v] != NULL) {
        int p = x->dq[v]->inputs[0];
        if (x->ival[p] >= 0) return p;
    }
    return -1;
}

static nq_node *quantizer(ip *x, const char *base, int in, const double *s, int ns, int axis,
                          nq_dtype to, int out)
{
    int sv = nq_qdq_const(x->dst, "scale", NQ_DTYPE_FLOAT32, ns, ns > 1, s, x->err);
    if (sv < 0) return NULL;
    int ins[2] = {in, sv};
    nq_node *q = nq_qdq_node(x->dst, "Quantizer", base, 2, ins, 1, &out, x->err);
    if (q == NULL) return NULL;
    if (nq_qdq_set_string(&q->domain, NQ_DOMAIN, x->err) != NQ_OK) return NULL;
    if (nq_node_set_string(q, "to", nq_dtype_name(to)) != NQ_OK ||
        nq_node_set_int(q, "round", nq_dtype_is_float(to) ? 0 : 1) != NQ_OK ||
        (ns > 1 && nq_node_set_int(q, "axis", axis) != NQ_OK)) {
        nq_error_set(x->err, NQ_ERR_NOMEM, "out of memory");
        return NULL;
    }
    x->dst->values[out]->dtype = to;
    return q;
}

static int dst_value(ip *x, const char *name)
{
    return nq_graph_find_value(x->dst, name) < 0 ? nq_graph_add_value(x->dst, name, x->err)
                                                 : nq_qdq_new_value(x->dst, name, x->err);
}

/* Float dst value for src value v (a dequantizing Quantizer on demand). */
static int float_of(ip *x, int v)
{
    if (x->fval[v] >= 0) return x->fval[v];
    const nq_value *sv = x->src->values[v];
    if (sv->init != NULL) {
        nq_tensor t = {0};
        if (nq_tensor_copy(&t, sv->init, x->err) != NQ_OK) return -1;
        x->fval[v] = nq_graph_add_initializer(x->dst, sv->name, &t, x->err);
        nq_tensor_free(&t);
        return x->fval[v];
    }
    int p = int_src(x, v);
    if (p < 0 || x->nscale[p] != 1) {
        nq_error_set(x->err, NQ_ERR_INTERNAL, "QDQ import: value '%s' has no float form", sv->name);
        return -1;
    }
    int o = dst_value(x, sv->name);
    if (o < 0 || !quantizer(x, sv->name, x->ival[p], x->iscale[p], 1, 1, NQ_DTYPE_FLOAT32, o)) return -1;
    x->fval[v] = o;
    return o;
}

static nq_status do_quantize(ip *x, const nq_node *n)
{
    const nq_tensor *s;
    nq_dtype qt;
    nq_status st = qdq_params(x, n, &s, &qt);
    if (st != NQ_OK) return st;
    if (qt != NQ_DTYPE_INT8 && qt != NQ_DTYPE_UINT8)
        return ifail(x, n, NQ_ERR_UNSUPPORTED, "output type must be int8 or uint8");
    if (nq_tensor_numel(s) != 1)
        return ifail(x, n, NQ_ERR_UNSUPPORTED, "per-axis QuantizeLinear of an activation is not supported");
    double ys = ((const float *)s->data)[0];
    int in = n->inputs[0], out = n->outputs[0];
    /* nnquant's export lowers a single-shift Q's scale by 2^-20 so that
     * ties round up in float; the DequantizeLinear keeps the exact one */
    nq_node *cons[8];
    int nc = nq_graph_consumers(x->src, out, cons, 8);
    for (int i = 0; i < nc && i < 8; i++) {
        const nq_tensor *ds = strcmp(cons[i]->op_type, "DequantizeLinear") == 0
                                  ? nq_qdq_const_input(x->src, cons[i], 1) : NULL;
        if (ds != NULL && ds->dtype == NQ_DTYPE_FLOAT32 && nq_tensor_numel(ds) == 1 &&
            fabs(((const float *)ds->data)[0] - ys) <= 1e-5 * ys) {
            ys = ((const float *)ds->data)[0];
            break;
        }
    }
    int p = int_src(x, in);
    if (p >= 0 && x->nscale[p] == 1 && x->iscale[p][0] == ys && !x->src->values[out]->is_output &&
        x->dst->values[x->ival[p]]->dtype == qt) { /* Q(DQ(q)) with q's own scale: q itself */
        x->ival[out] = x->ival[p];
        return set_scale(x, out, &ys, 1);
    }
    int o = dst_value(x, x->src->values[out]->name);
    if (o < 0) return x->err->code;
    if (p >= 0) { /* requantization of an integer result */
        int ns = x->nscale[p];
        double *m = malloc(sizeof(double) * (size_t)ns);
        if (m == NULL) return nq_error_set(x->err, NQ_ERR_NOMEM, "out of memory");
        for (int c = 0; c < ns; c++) m[c] = x->iscale[p][c] / ys;
        const nq_value *pv = x->dst->values[x->ival[p]];
        int axis = pv->producer && strcmp(pv->producer->op_type, "MatMul") == 0 ? -1 : 1;
        nq_node *q = quantizer(x, n->name, x->ival[p], m, ns, axis, qt, o);
        free(m);
        if (q == NULL) return x->err->code;
    } else {
        int f = float_of(x, in);
        double inv = 1.0 / ys;
        if (f < 0 || !quantizer(x, n->name, f, &inv, 1, 1, qt, o)) return x->err->code;
    }
    x->ival[out] = o;
    return set_scale(x, out, &ys, 1);
}

/* An integer copy of a DequantizeLinear'd constant, and its scale. */
static int dq_const(ip *x, const nq_node *n, int v, nq_dtype want, const nq_tensor **scale, int *axis)
{
    const nq_node *d = v >= 0 ? x->dq[v] : NULL;
    const nq_tensor *c = d ? nq_qdq_const_input(x->src, d, 0) : NULL;
    nq_dtype qt;
    if (c == NULL) {
        ifail(x, n, NQ_ERR_UNSUPPORTED, "weights/bias must come from DequantizeLinear of a constant");
        return -1;
    }
    if (qdq_params(x, d, scale, &qt) != NQ_OK) return -1;
    if (c->dtype != want) {
        char msg[128];
        snprintf(msg, sizeof msg, "constant '%s' is %s, expected %s", x->src->values[d->inputs[0]]->name,
                 nq_dtype_name(c->dtype), nq_dtype_name(want));
        ifail(x, n, NQ_ERR_UNSUPPORTED, msg);
        return -1;
    }
    *axis = (int)nq_node_attr_int(d, "axis", 1);
    nq_tensor t = {0};
    if (nq_tensor_copy(&t, c, x->err) != NQ_OK) return -1;
    char *name = nq_graph_unique_name(x->dst, x->src->values[d->inputs[0]]->name);
    int id = name ? nq_graph_add_initializer(x->dst, name, &t, x->err) : -1;
    free(name);
    nq_tensor_free(&t);
    return id;
}

static nq_status do_affine(ip *x, const nq_node *n, int p)
{
    const nq_tensor *ws = NULL, *bs = NULL;
    int waxis = 0;
    nq_dtype bt;
    if (x->nscale[p] != 1) return ifail(x, n, NQ_ERR_UNSUPPORTED, "input has a per-channel scale");
    int w = n->n_inputs > 1 ? dq_const(x, n, n->inputs[1], NQ_DTYPE_INT8, &ws, &waxis) : -1;
    if (w < 0) return n->n_inputs > 1 ? x->err->code : ifail(x, n, NQ_ERR_INVALID_ARG, "missing weights");
    const nq_tensor *wt = x->dst->values[w]->init;
    int ns = (int)nq_tensor_numel(ws);
    int want_axis = nq_qdq_weight_axis(n);
    if (waxis < 0) waxis += wt->ndim;
    if (ns > 1 && (waxis != want_axis || wt->dims[waxis] != ns))
        return ifail(x, n, NQ_ERR_UNSUPPORTED, "weight scale is not per output channel");
    double *acc = malloc(sizeof(double) * (size_t)ns);
    if (acc == NULL) return nq_error_set(x->err, NQ_ERR_NOMEM, "out of memory");
    for (int c = 0; c < ns; c++) acc[c] = x->iscale[p][0] * ((const float *)ws->data)[c];
    int ins[3] = {x->ival[p], w, -1};
    nq_status st = NQ_OK;
    int has_b = n->n_inputs > 2 && n->inputs[2] >= 0;
    if (has_b) { /* int32 bias in accumulator units */
        int bv = n->inputs[2];
        const nq_tensor *bf = x->src->values[bv]->init;
        const nq_tensor *bq = x->dq[bv] ? nq_qdq_const_input(x->src, x->dq[bv], 0) : NULL;
        if (bq != NULL && qdq_params(x, x->dq[bv], &bs, &bt) == NQ_OK) {
            bf = NULL;
        } else if (bf == NULL || bf->dtype != NQ_DTYPE_FLOAT32) {
            st = ifail(x, n, NQ_ERR_UNSUPPORTED, "bias must be a float constant or DequantizeLinear of an int32 constant");
        }
        const nq_tensor *src = bq ? bq : bf;
        int64_t nb = src ? nq_tensor_numel(src) : 0;
        nq_tensor t = {0};
        if (st == NQ_OK && nq_tensor_alloc(&t, NQ_DTYPE_INT32, 1, &nb, x->err) != NQ_OK) st = x->err->code;
        for (int64_t i = 0; st == NQ_OK && i < nb; i++) {
            double a = acc[ns > 1 ? i : 0];
            double real = bq ? nq_tensor_get(bq, i) * ((const float *)bs->data)[nq_tensor_numel(bs) > 1 ? i : 0]
                             : ((const float *)bf->data)[i];
            double q = bq && fabs(((const float *)bs->data)[nq_tensor_numel(bs) > 1 ? i : 0] - a) <= 1e-6 * a
                           ? nq_tensor_get(bq, i)
                           : nearbyint(real / a);
            nq_tensor_set(&t, i, q);
        }
        if (st == NQ_OK) {
            char *name = nq_graph_unique_name(x->dst, x->src->values[bv]->name);
            ins[2] = name ? nq_graph_add_initializer(x->dst, name, &t, x->err) : -1;
            free(name);
            if (ins[2] < 0) st = x->err->code;
        }
        nq_tensor_free(&t);
    }
    int out = n->outputs[0];
    int o = st == NQ_OK ? dst_value(x, x->src->values[out]->name) : -1;
    nq_node *d = o >= 0 ? nq_graph_add_node(x->dst, n->op_type, n->name, has_b ? 3 : 2, ins, 1, &o, x->err) : NULL;
    if (st == NQ_OK && (d == NULL || nq_qdq_copy_attrs(d, n, x->err) != NQ_OK)) st = x->err->code;
    if (st == NQ_OK) {
        x->dst->values[o]->dtype = NQ_DTYPE_INT32;
        x->ival[out] = o;
        st = set_scale(x, out, acc, ns);
    }
    free(acc);
    return st;
}

/* Integer bound of a float Clip bound (rounded inward), as X's dtype. */
static int clip_bound(ip *x, const nq_node *n, int i, double s, nq_dtype dt, int upper)
{
    const nq_tensor *b = nq_qdq_const_input(x->src, n, i);
    if (b == NULL || nq_tensor_numel(b) != 1) {
        ifail(x, n, NQ_ERR_UNSUPPORTED, "Clip bounds must be constants with one value");
        return -1;
    }
    double v = nq_tensor_get(b, 0) / s;
    /* a bound exported as c * s comes back within float error of c */
    v = fabs(v - nearbyint(v)) <= 1e-4 * fmax(1.0, fabs(v)) ? nearbyint(v) : upper ? floor(v) : ceil(v);
    return nq_qdq_const(x->dst, x->src->values[n->inputs[i]]->name, dt, 1, 0, &v, x->err);
}

static nq_status do_pass(ip *x, const nq_node *n, int p)
{
    int is_clip = strcmp(n->op_type, "Clip") == 0;
    if (x->nscale[p] != 1 && strcmp(n->op_type, "Relu") != 0)
        return ifail(x, n, NQ_ERR_UNSUPPORTED, "per-channel scale before a shape operator (requantize first)");
    int *ins = malloc(sizeof(int) * (size_t)(n->n_inputs + n->n_outputs + 1));
    if (ins == NULL) return nq_error_set(x->err, NQ_ERR_NOMEM, "out of memory");
    int *outs = ins + n->n_inputs;
    nq_dtype dt = x->dst->values[x->ival[p]]->dtype;
    nq_status st = NQ_OK;
    for (int i = 0; i < n->n_inputs && st == NQ_OK; i++) {
        int v = n->inputs[i];
        if (i == 0) ins[i] = x->ival[p];
        else if (v < 0) ins[i] = -1;
        else if (is_clip) ins[i] = clip_bound(x, n, i, x->iscale[p][0], dt, i == 2);
        else if (int_src(x, v) >= 0) st = ifail(x, n, NQ_ERR_UNSUPPORTED, "more than one quantized input");
        else ins[i] = float_of(x, v);
        if (st == NQ_OK && v >= 0 && ins[i] < 0) st = x->err->code;
    }
    for (int i = 0; i < n->n_outputs && st == NQ_OK; i++) {
        int v = n->outputs[i];
        outs[i] = v < 0 ? -1 : dst_value(x, x->src->values[v]->name);
        if (v >= 0 && outs[i] < 0) st = x->err->code;
    }
    nq_node *d = st == NQ_OK ? nq_graph_add_node(x->dst, n->op_type, n->name, n->n_inputs, ins,
                                                 n->n_outputs, outs, x->err)
                             : NULL;
    if (st == NQ_OK && (d == NULL || nq_qdq_copy_attrs(d, n, x->err) != NQ_OK)) st = x->err->code;
    for (int i = 0; i < n->n_outputs && st == NQ_OK; i++) {
        if (outs[i] < 0) continue;
        x->dst->values[outs[i]]->dtype = strcmp(n->op_type, "ReduceSum") == 0 ? NQ_DTYPE_INT32 : dt;
        x->ival[n->outputs[i]] = outs[i];
        st = set_scale(x, n->outputs[i], x->iscale[p], x->nscale[p]);
    }
    free(ins);
    return st;
}

/* Add/Sub of two quantized tensors: both widened to int32 at a common
 * scale (the smaller one, or exactly theirs when they are equal). */
static nq_status do_join(ip *x, const nq_node *n, int pa, int pb)
{
    if (x->nscale[pa] != 1 || x->nscale[pb] != 1 || n->n_inputs != 2)
        return ifail(x, n, NQ_ERR_UNSUPPORTED, "inputs need per-tensor scales");
    double sa = x->iscale[pa][0], sb = x->iscale[pb][0];
    double u = fabs(sa - sb) <= 1e-6 * sa ? sa : fmin(sa, sb) / 256.0;
    int ins[2];
    const int ps[2] = {pa, pb};
    for (int k = 0; k < 2; k++) {
        int p = ps[k];
        double m = x->iscale[p][0] / u;
        if (x->dst->values[x->ival[p]]->dtype == NQ_DTYPE_INT32 && m == 1.0) {
            ins[k] = x->ival[p];
            continue;
        }
        ins[k] = nq_qdq_new_value(x->dst, x->src->values[p]->name, x->err);
        if (ins[k] < 0 || !quantizer(x, n->name, x->ival[p], &m, 1, 1, NQ_DTYPE_INT32, ins[k]))
            return x->err->code;
    }
    int out = n->outputs[0];
    int o = dst_value(x, x->src->values[out]->name);
    nq_node *d = o >= 0 ? nq_graph_add_node(x->dst, n->op_type, n->name, 2, ins, 1, &o, x->err) : NULL;
    if (d == NULL || nq_qdq_copy_attrs(d, n, x->err) != NQ_OK) return x->err->code;
    x->dst->values[o]->dtype = NQ_DTYPE_INT32;
    x->ival[out] = o;
    return set_scale(x, out, &u, 1);
}

/* GlobalAveragePool(DQ(x)) -> ReduceSum over the spatial axes (int32),
 * scale s_x / (H * W): the spatial size comes from shape inference. */
static nq_status do_gap(ip *x, const nq_node *n, int p)
{
    const nq_value *sv = x->shapes ? x->shapes->values[n->inputs[0]] : NULL;
    if (x->nscale[p] != 1) return ifail(x, n, NQ_ERR_UNSUPPORTED, "input has a per-channel scale");
    if (sv == NULL || sv->ndim < 3)
        return ifail(x, n, NQ_ERR_UNSUPPORTED, "input shape unknown (needed for the spatial size)");
    double area = 1, axes[NQ_MAX_DIMS];
    for (int i = 2; i < sv->ndim; i++) {
        if (sv->dims[i] <= 0) return ifail(x, n, NQ_ERR_UNSUPPORTED, "spatial size is not static");
        area *= (double)sv->dims[i];
        axes[i - 2] = i;
    }
    int o = dst_value(x, x->src->values[n->outputs[0]]->name);
    if (o < 0) return x->err->code;
    int ins[2] = {x->ival[p], -1};
    int by_input = nq_graph_opset(x->src, "") >= 13;
    if (by_input && (ins[1] = nq_qdq_const(x->dst, "axes", NQ_DTYPE_INT64, sv->ndim - 2, 1, axes, x->err)) < 0)
        return x->err->code;
    nq_node *d = nq_graph_add_node(x->dst, "ReduceSum", n->name, by_input ? 2 : 1, ins, 1, &o, x->err);
    if (d == NULL || nq_node_set_int(d, "keepdims", 1) != NQ_OK) return x->err ? x->err->code : NQ_ERR_NOMEM;
    if (!by_input) {
        int64_t ax[NQ_MAX_DIMS];
        for (int i = 0; i < sv->ndim - 2; i++) ax[i] = (int64_t)axes[i];
        if (nq_node_set_ints(d, "axes", sv->ndim - 2, ax) != NQ_OK)
            return nq_error_set(x->err, NQ_ERR_NOMEM, "out of memory");
    }
    x->dst->values[o]->dtype = NQ_DTYPE_INT32;
    x->ival[n->outputs[0]] = o;
    double s = x->iscale[p][0] / area;
    return set_scale(x, n->outputs[0], &s, 1);
}

/* Concat of quantized tensors sharing one scale -> integer Concat. */
static nq_status do_concat(ip *x, const nq_node *n)
{
    int *ins = malloc(sizeof(int) * (size_t)(n->n_inputs + 1));
    if (ins == NULL) return nq_error_set(x->err, NQ_ERR_NOMEM, "out of memory");
    nq_status st = NQ_OK;
    double s0 = 0;
    nq_dtype dt = NQ_DTYPE_UNDEFINED;
    for (int i = 0; i < n->n_inputs && st == NQ_OK; i++) {
        int p = int_src(x, n->inputs[i]);
        if (p < 0 || x->nscale[p] != 1) {
            st = ifail(x, n, NQ_ERR_UNSUPPORTED, "every input must be a per-tensor quantized tensor");
            break;
        }
        double sp = x->iscale[p][0];
        nq_dtype t = x->dst->values[x->ival[p]]->dtype;
        if (i == 0) s0 = sp, dt = t;
        else if (fabs(sp - s0) > 1e-5 * s0 || t != dt)
            st = ifail(x, n, NQ_ERR_UNSUPPORTED, "inputs have different scales or types (requantize them first)");
        ins[i] = x->ival[p];
    }
    int o = st == NQ_OK ? dst_value(x, x->src->values[n->outputs[0]]->name) : -1;
    nq_node *d = o >= 0 ? nq_graph_add_node(x->dst, "Concat", n->name, n->n_inputs, ins, 1, &o, x->err) : NULL;
    free(ins);
    if (st != NQ_OK) return st;
    if (d == NULL || nq_qdq_copy_attrs(d, n, x->err) != NQ_OK) return x->err->code;
    x->dst->values[o]->dtype = dt;
    x->ival[n->outputs[0]] = o;
    return set_scale(x, n->outputs[0], &s0, 1);
}

static nq_status do_float(ip *x, const nq_node *n)
{
    int *ins = malloc(sizeof(int) * (size_t)(n->n_inputs + n->n_outputs + 1));
    if (ins == NULL) return nq_error_set(x->err, NQ_ERR_NOMEM, "out of memory");
    int *outs = ins + n->n_inputs;
    nq_status st = NQ_OK;
    for (int i = 0; i < n->n_inputs && st == NQ_OK; i++) {
        ins[i] = n->inputs[i] < 0 ? -1 : float_of(x, n->inputs[i]);
        if (n->inputs[i] >= 0 && ins[i] < 0) st = x->err->code;
    }
    for (int i = 0; i < n->n_outputs && st == NQ_OK; i++) {
        int v = n->outputs[i];
        outs[i] = v < 0 ? -1 : dst_value(x, x->src->values[v]->name);
        if (v >= 0 && outs[i] < 0) st = x->err->code;
        if (st == NQ_OK && v >= 0) x->fval[v] = outs[i];
    }
    nq_node *d = st == NQ_OK ? nq_graph_add_node(x->dst, n->op_type, n->name, n->n_inputs, ins,
                                                 n->n_outputs, outs, x->err)
                             : NULL;
    if (st == NQ_OK && (d == NULL || nq_qdq_copy_attrs(d, n, x->err) != NQ_OK)) st = x->err->code;
    if (st == NQ_OK && n->domain[0] != '\0') st = nq_qdq_set_string(&d->domain, n->domain, x->err);
    free(ins);
    return st;
}

static nq_status do_node(ip *x, const nq_node *n)
{
    const char *op = n->op_type;
    int dflt = is_default_domain(n);
    if (dflt && strcmp(op, "QuantizeLinear") == 0) return do_quantize(x, n);
    if (dflt && strcmp(op, "DequantizeLinear") == 0) {
        const nq_tensor *s;
        nq_dtype qt;
        nq_status st = qdq_params(x, n, &s, &qt);
        if (st != NQ_OK) return st;
        int in = n->inputs[0];
        if (x->src->values[in]->init == NULL && x->ival[in] < 0)
            return ifail(x, n, NQ_ERR_UNSUPPORTED, "input is neither a constant nor a QuantizeLinear output");
        if (x->ival[in] >= 0 && fabs(((const float *)s->data)[0] - x->iscale[in][0]) > 1e-5 * x->iscale[in][0])
            return ifail(x, n, NQ_ERR_UNSUPPORTED, "scale differs from its QuantizeLinear's scale");
        x->dq[n->outputs[0]] = n;
        return NQ_OK;
    }
    /* which inputs are quantized */
    int first = -1, second = -1, nq = 0;
    for (int i = 0; i < n->n_inputs; i++) {
        int p = int_src(x, n->inputs[i]);
        if (p < 0 || x->src->values[p]->init != NULL) continue;
        if (nq++ == 0) first = p;
        else second = p;
    }
    if (nq == 0) return do_float(x, n);
    if (n->n_outputs < 1 || n->outputs[0] < 0) return ifail(x, n, NQ_ERR_INVALID_ARG, "missing output");
    if (!dflt) return ifail(x, n, NQ_ERR_UNSUPPORTED, "custom-domain node on quantized inputs");
    if ((strcmp(op, "Conv") == 0 || strcmp(op, "Gemm") == 0 || strcmp(op, "MatMul") == 0) &&
        int_src(x, n->inputs[0]) == first && nq == 1)
        return do_affine(x, n, first);
    if ((strcmp(op, "Add") == 0 || strcmp(op, "Sub") == 0) && nq == 2) return do_join(x, n, first, second);
    if (strcmp(op, "Concat") == 0) return do_concat(x, n);
    if (strcmp(op, "GlobalAveragePool") == 0 && nq == 1 && int_src(x, n->inputs[0]) == first)
        return do_gap(x, n, first);
    if (nq == 1 && int_src(x, n->inputs[0]) == first &&
        (in_list(op, int_pass_ops, sizeof int_pass_ops / sizeof *int_pass_ops) || strcmp(op, "Clip") == 0 ||
         strcmp(op, "ReduceSum") == 0))
        return do_pass(x, n, first);
    /* Sigmoid, Softmax, ...: kept in float, as PTQ keeps them (docs/ptq.md) */
    if (nq_ptq_kind_of(n) == NQ_PTQ_FLOAT) return do_float(x, n);
    return ifail(x, n, NQ_ERR_UNSUPPORTED,
                 "no integer form for this operator on DequantizeLinear outputs in QDQ import "
                 "(supported: Conv, Gemm, MatMul, Add, Sub, Concat, Relu, Clip, MaxPool, "
                 "GlobalAveragePool, ReduceSum, shape ops; kept in float: Sigmoid, Tanh, Softmax, ...)");
}

static nq_status do_io(ip *x)
{
    const nq_graph *g = x->src;
    for (int i = 0; i < g->n_inputs; i++) {
        const nq_value *v = g->values[g->inputs[i]];
        int id = nq_qdq_add_input_like(x->dst, v, x->err);
        if (id < 0) return x->err->code;
        x->fval[g->inputs[i]] = id;
    }
    return NQ_OK;
}

static nq_status do_outputs(ip *x)
{
    const nq_graph *g = x->src;
    for (int i = 0; i < g->n_outputs; i++) {
        int v = g->outputs[i];
        int id = x->fval[v] >= 0 ? x->fval[v] : x->ival[v] >= 0 ? x->ival[v] : float_of(x, v);
        if (id < 0) return x->err->code;
        nq_value *d = x->dst->values[id];
        if (strcmp(d->name, g->values[v]->name) != 0)
            return nq_error_set(x->err, NQ_ERR_INTERNAL, "QDQ import: output '%s' renamed", g->values[v]->name);
        d->ndim = g->values[v]->ndim;
        memcpy(d->dims, g->values[v]->dims, sizeof d->dims);
        if (nq_graph_add_output(x->dst, id, x->err) != NQ_OK) return x->err->code;
    }
    return NQ_OK;
}

static nq_status import_into(ip *x, nq_graph *g)
{
    nq_status s = nq_graph_set_opset(x->dst, "", nq_graph_opset(g, "") ? nq_graph_opset(g, "") : 13, x->err);
    if (s == NQ_OK) s = nq_graph_set_opset(x->dst, NQ_DOMAIN, 1, x->err);
    for (int i = 0; i < g->n_opsets && s == NQ_OK; i++) {
        const char *dom = g->opsets[i].domain;
        if (dom[0] == '\0' || strcmp(dom, "ai.onnx") == 0 || strcmp(dom, NQ_DOMAIN) == 0) continue;
        s = nq_graph_set_opset(x->dst, dom, g->opsets[i].version, x->err);
    }
    for (int i = 0; i < g->n_meta && s == NQ_OK; i++)
        s = nq_graph_set_meta(x->dst, g->meta_keys[i], g->meta_values[i], x->err);
    if (s == NQ_OK) s = do_io(x);
    for (int i = 0; i < g->n_nodes && s == NQ_OK; i++) s = do_node(x, g->nodes[i]);
    if (s == NQ_OK) s = do_outputs(x);
    if (s == NQ_OK) s = nq_graph_compact(x->dst, x->err);
    if (s == NQ_OK) s = nq_graph_validate(x->dst, x->err);
    return s;
}

nq_status nq_qdq_import(nq_graph *g, nq_error *err)
{
    nq_error local = {0};
    if (err == NULL) err = &local;
    if (g == NULL) return nq_error_set(err, NQ_ERR_INVALID_ARG, "QDQ import: no graph");
    nq_status s = nq_graph_toposort(g, err);
    if (s != NQ_OK) return s;
    ip x = {0};
    x.src = g;
    x.err = err;
    int nv = g->n_values;
    x.ival = malloc(sizeof(int) * (size_t)nv * 3 + 1);
    x.iscale = calloc((size_t)nv + 1, sizeof(double *));
    x.dq = calloc((size_t)nv + 1, sizeof(nq_node *));
    x.dst = nq_graph_create(g->name ? g->name : "qdq_import");
    if (!x.ival || !x.iscale || !x.dq || !x.dst) s = nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    if (s == NQ_OK && nq_graph_clone(g, &x.shapes, err) == NQ_OK &&
        nq_graph_infer_shapes(x.shapes, 0, NULL) != NQ_OK) {
        nq_graph_free(x.shapes); /* no shapes: only GlobalAveragePool needs them */
        x.shapes = NULL;
    }
    if (s == NQ_OK) {
        x.nscale = x.ival + nv;
        x.fval = x.nscale + nv;
        for (int i = 0; i < nv; i++) x.ival[i] = x.fval[i] = -1, x.nscale[i] = 0;
        s = import_into(&x, g);
    }
    if (s == NQ_OK) { /* swap the new graph into g */
        x.dst->ir_version = g->ir_version;
        nq_graph tmp = *g;
        *g = *x.dst;
        *x.dst = tmp;
    }
    nq_graph_free(x.dst);
    nq_graph_free(x.shapes);
    for (int i = 0; x.iscale && i < nv; i++) free(x.iscale[i]);
    free(x.iscale);
    free(x.ival);
    free((void *)x.dq);
    return s;
}
