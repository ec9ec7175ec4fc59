/* The plan of a C export: the integer part of a quantized graph as a list
 * of kernel calls (steps), one per node, with their parameters resolved at
 * export time (geometry, requantization factors, clip ranges). One planner
 * per operator, in a table. Geometry and axes are read by the same helpers
 * as nnquant's own operators (ops/window.h, ops/elemwise.h), so both agree. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "export/c_internal.h"
#include "nnquant/ops.h"
#include "nnquant/ptq.h"
#include "nnquant/run.h"
#include "ops/elemwise.h"
#include "ops/window.h"

/* ---- storage types ----------------------------------------------------- */

typedef struct cx_store {
    const char *ctype, *suffix;
    int64_t min, max;
} cx_store;

static const cx_store st_s8 = {"int8_t", "s8", INT8_MIN, INT8_MAX};
static const cx_store st_u8 = {"uint8_t", "u8", 0, UINT8_MAX};
static const cx_store st_s16 = {"int16_t", "s16", INT16_MIN, INT16_MAX};
static const cx_store st_s32 = {"int32_t", "s32", INT32_MIN, INT32_MAX};

static const cx_store *const stores[NQ_DTYPE_COUNT] = {
    [NQ_DTYPE_INT2] = &st_s8,   [NQ_DTYPE_INT3] = &st_s8,  [NQ_DTYPE_INT4] = &st_s8,
    [NQ_DTYPE_INT8] = &st_s8,   [NQ_DTYPE_UINT4] = &st_u8, [NQ_DTYPE_UINT8] = &st_u8,
    [NQ_DTYPE_INT16] = &st_s16, [NQ_DTYPE_INT32] = &st_s32,
};

static const cx_store *store_of(nq_dtype t)
{
    return (unsigned)t < NQ_DTYPE_COUNT ? stores[t] : NULL;
}

const char *cx_ctype(nq_dtype t)
{
    const cx_store *s = store_of(t);
    return s ? s->ctype : NULL;
}

const char *cx_suffix(nq_dtype t)
{
    const cx_store *s = store_of(t);
    return s ? s->suffix : NULL;
}

int64_t cx_numel(const nq_value *v)
{
    int64_t n = 1;
    for (int i = 0; i < v->ndim; i++) n *= v->dims[i];
    return n;
}

/* ---- node context, as the operators see it ------------------------------ */

typedef struct cx_ctx {
    cx_plan *p;
    cx_step *s;
    const nq_node *n;
    nq_tensor t[4];
    const nq_tensor *in[4];
    nq_kctx k;
} cx_ctx;

static void ctx_init(cx_ctx *c, cx_plan *p, cx_step *s, const nq_node *n, nq_error *err)
{
    memset(c, 0, sizeof *c);
    c->p = p;
    c->s = s;
    c->n = n;
    int nin = n->n_inputs < 4 ? n->n_inputs : 4;
    for (int i = 0; i < nin; i++) {
        int v = n->inputs[i];
        if (v < 0) continue;
        const nq_value *val = p->g->values[v];
        c->t[i].dtype = val->dtype;
        c->t[i].ndim = val->ndim < 0 ? 0 : val->ndim;
        memcpy(c->t[i].dims, val->dims, sizeof val->dims);
        c->t[i].data = val->init ? val->init->data : NULL;
        c->in[i] = &c->t[i];
    }
    c->k.node = n;
    c->k.opset = nq_graph_opset(p->g, n->domain ? n->domain : "");
    if (c->k.opset == 0) c->k.opset = nq_graph_opset(p->g, "");
    c->k.n_in = nin;
    c->k.in = c->in;
    c->k.err = err;
}

static const nq_value *val(const cx_ctx *c, int i)
{
    return i < c->n->n_inputs && c->n->inputs[i] >= 0 ? c->p->g->values[c->n->inputs[i]] : NULL;
}

static const nq_value *yval(const cx_ctx *c)
{
    return c->p->g->values[c->n->outputs[0]];
}

/* Input i must be a constant of one of the dtypes accepted by ok(). */
static int is_const(const nq_value *v) { return v != NULL && v->init != NULL; }

static nq_status need_int_input(cx_ctx *c, const cx_store **st)
{
    const nq_value *x = val(c, 0);
    *st = x ? store_of(x->dtype) : NULL;
    if (*st == NULL)
        return nq_kctx_fail(&c->k, NQ_ERR_UNSUPPORTED,
                            "input of dtype %s: the C export runs integer tensors only "
                            "(int8, uint8, int16, int32 and the sub-byte types)",
                            x ? nq_dtype_name(x->dtype) : "none");
    if (is_const(x))
        return nq_kctx_fail(&c->k, NQ_ERR_UNSUPPORTED, "constant data input (fold constants first)");
    return NQ_OK;
}

static nq_status need_acc32(cx_ctx *c)
{
    const char *a = nq_node_attr_string(c->n, NQ_ATTR_ACC_PRECISION, "int32");
    if (strcmp(a, "int32") != 0)
        return nq_kctx_fail(&c->k, NQ_ERR_UNSUPPORTED,
                            "%s = %s: the C export accumulates in int32 only",
                            NQ_ATTR_ACC_PRECISION, a);
    if (yval(c)->dtype != NQ_DTYPE_INT32)
        return nq_kctx_fail(&c->k, NQ_ERR_UNSUPPORTED, "output dtype %s, expected int32",
                            nq_dtype_name(yval(c)->dtype));
    return NQ_OK;
}

/* Weights (input wi) and bias (input bi, may be absent): constants of the
 * supported types. */
static nq_status affine_consts(cx_ctx *c, int wi, int bi, int64_t nbias)
{
    const nq_value *w = val(c, wi), *b = bi >= 0 ? val(c, bi) : NULL;
    if (!is_const(w))
        return nq_kctx_fail(&c->k, NQ_ERR_UNSUPPORTED, "weights must be a constant");
    switch (w->dtype) {
    case NQ_DTYPE_INT2: case NQ_DTYPE_INT3: case NQ_DTYPE_INT8: c->s->wkind = CX_W8; break;
    case NQ_DTYPE_INT4: c->s->wkind = CX_W4; break;
    case NQ_DTYPE_INT16: c->s->wkind = CX_W16; break;
    default:
        return nq_kctx_fail(&c->k, NQ_ERR_UNSUPPORTED,
                            "weights of dtype %s (int2, int3, int4, int8 or int16)",
                            nq_dtype_name(w->dtype));
    }
    const int64_t nw = nq_tensor_numel(w->init);
    static const size_t num[] = {[CX_W8] = 2, [CX_W4] = 1, [CX_W16] = 4}; /* nibbles */
    c->s->w = c->n->inputs[wi];
    c->s->weight_bytes = (size_t)(nw * (int64_t)num[c->s->wkind] + 1) / 2;
    if (b != NULL) {
        if (!is_const(b) || b->dtype != NQ_DTYPE_INT32 || nq_tensor_numel(b->init) != nbias)
            return nq_kctx_fail(&c->k, NQ_ERR_UNSUPPORTED,
                                "bias must be an int32 constant of %lld values",
                                (long long)nbias);
        c->s->bias = c->n->inputs[bi];
        c->s->weight_bytes += (size_t)nbias * 4;
    }
    c->s->macs = nq_node_macs(c->p->g, c->n);
    return NQ_OK;
}

static void params(cx_step *s, int n, const int64_t *v)
{
    for (int i = 0; i < n; i++) s->p[i] = (int32_t)v[i];
    s->np = n;
}

/* ---- planners --------------------------------------------------------- */

typedef nq_status (*cx_planner)(cx_ctx *c);

static nq_status plan_conv(cx_ctx *c)
{
    const cx_store *xs;
    nq_status st = need_int_input(c, &xs);
    if (st == NQ_OK) st = need_acc32(c);
    if (st) return st;
    nq_conv_shape s;
    if ((st = nq_conv_shape_read(&c->k, c->in[0], c->in[1], c->k.n_in > 2 ? c->in[2] : NULL, &s)))
        return st;
    if (s.g.nsp != 2 || s.N != 1)
        return nq_kctx_fail(&c->k, NQ_ERR_UNSUPPORTED,
                            "the C export supports 2-D convolutions of one sample");
    if (xs == &st_s32)
        return nq_kctx_fail(&c->k, NQ_ERR_UNSUPPORTED, "int32 input to a Conv");
    const int64_t v[] = {s.C, s.g.in[0], s.g.in[1], s.M, s.g.out[0], s.g.out[1],
                         s.g.kernel[0], s.g.kernel[1], s.g.stride[0], s.g.stride[1],
                         s.g.dilation[0], s.g.dilation[1], s.g.pad_begin[0], s.g.pad_begin[1],
                         s.group};
    params(c->s, 15, v);
    c->s->kind = CX_CONV;
    c->s->scratch_bytes = s.g.out[1] * 4;
    return affine_consts(c, 1, 2, s.M);
}

static nq_status plan_gemm_common(cx_ctx *c, int64_t M, int64_t N, int64_t K, int trans_b,
                                  int bias_in)
{
    const cx_store *xs;
    nq_status st = need_int_input(c, &xs);
    if (st == NQ_OK) st = need_acc32(c);
    if (st) return st;
    if (xs == &st_s32)
        return nq_kctx_fail(&c->k, NQ_ERR_UNSUPPORTED, "int32 input to an affine node");
    const int64_t v[] = {M, N, K, trans_b};
    params(c->s, 4, v);
    c->s->kind = CX_GEMM;
    return affine_consts(c, 1, bias_in, N);
}

static nq_status plan_gemm(cx_ctx *c)
{
    const nq_value *x = val(c, 0), *w = val(c, 1);
    if (nq_node_attr_float(c->n, "alpha", 1.0f) != 1.0f ||
        nq_node_attr_float(c->n, "beta", 1.0f) != 1.0f || nq_node_attr_int(c->n, "transA", 0))
        return nq_kctx_fail(&c->k, NQ_ERR_UNSUPPORTED, "needs alpha = beta = 1 and transA = 0");
    if (x == NULL || w == NULL || x->ndim != 2 || w->ndim != 2)
        return nq_kctx_fail(&c->k, NQ_ERR_UNSUPPORTED, "needs 2-D input and weights");
    const int tb = nq_node_attr_int(c->n, "transB", 0) != 0;
    const int64_t N = tb ? w->dims[0] : w->dims[1], K = x->dims[1];
    if ((tb ? w->dims[1] : w->dims[0]) != K)
        return nq_kctx_fail(&c->k, NQ_ERR_SHAPE, "weights do not fit the input");
    return plan_gemm_common(c, x->dims[0], N, K, tb, 2);
}

static nq_status plan_matmul(cx_ctx *c)
{
    const nq_value *x = val(c, 0), *w = val(c, 1);
    if (x == NULL || w == NULL || x->ndim < 1 || w->ndim != 2 || x->dims[x->ndim - 1] != w->dims[0])
        return nq_kctx_fail(&c->k, NQ_ERR_UNSUPPORTED, "needs constant 2-D weights [K, N]");
    const int64_t K = w->dims[0];
    return plan_gemm_common(c, cx_numel(x) / (K ? K : 1), w->dims[1], K, 0, -1);
}

/* Quantizer integer -> integer: the factors of src/ops/quantizer.c. */
static nq_status plan_requant(cx_ctx *c)
{
    const cx_store *xs;
    nq_status st = need_int_input(c, &xs);
    if (st) return st;
    const nq_value *x = val(c, 0), *sc = val(c, 1), *y = yval(c);
    const cx_store *ys = store_of(y->dtype);
    if (ys == NULL)
        return nq_kctx_fail(&c->k, NQ_ERR_UNSUPPORTED,
                            "integer -> %s Quantizer inside the graph: the layers after it run "
                            "in float (a Sigmoid, Softmax, ... or a node tagged float32), which "
                            "integer C cannot hold (dequantization is exported only at the outputs)",
                            nq_dtype_name(y->dtype));
    if (!is_const(sc) || sc->dtype != NQ_DTYPE_FLOAT32 || sc->ndim > 1)
        return nq_kctx_fail(&c->k, NQ_ERR_UNSUPPORTED, "scale must be a float32 constant");
    const int64_t ns = nq_tensor_numel(sc->init);
    int64_t outer = 1, inner = cx_numel(x);
    if (ns != 1) {
        int a = nq_norm_axis(nq_node_attr_int(c->n, "axis", 1), x->ndim);
        if (a < 0 || x->dims[a] != ns)
            return nq_kctx_fail(&c->k, NQ_ERR_SHAPE, "per-channel scale does not fit the input");
        outer = 1;
        inner = 1;
        for (int i = 0; i < a; i++) outer *= x->dims[i];
        for (int i = a + 1; i < x->ndim; i++) inner *= x->dims[i];
    }
    /* [lo, hi]: the type's range and the integers inside [clip_min, clip_max] */
    int64_t tmin, tmax;
    nq_dtype_int_range(y->dtype, &tmin, &tmax);
    double lo = (double)tmin, hi = (double)tmax;
    const nq_attr *cmin = nq_node_attr(c->n, "clip_min"), *cmax = nq_node_attr(c->n, "clip_max");
    if (cmin) lo = fmax(ceil(cmin->type == NQ_ATTR_INT ? (double)cmin->i : cmin->f), lo);
    if (cmax) hi = fmin(floor(cmax->type == NQ_ATTR_INT ? (double)cmax->i : cmax->f), hi);
    if (!(lo <= hi)) return nq_kctx_fail(&c->k, NQ_ERR_INVALID_ARG, "empty clip range");
    c->s->lo = (int32_t)fmax(lo, (double)ys->min);
    c->s->hi = (int32_t)fmin(hi, (double)ys->max);
    c->s->rq = calloc((size_t)ns, sizeof *c->s->rq);
    if (c->s->rq == NULL) return nq_error_set(c->k.err, NQ_ERR_NOMEM, "out of memory");
    const int single = nq_node_attr_int(c->n, "single_shift", 0) != 0;
    const float *s = sc->init->data;
    for (int64_t k = 0; k < ns; k++) {
        if (!(s[k] > 0.0f) || isinf(s[k]))
            return nq_kctx_fail(&c->k, NQ_ERR_INVALID_ARG, "scale[%lld] = %g is not positive",
                                (long long)k, (double)s[k]);
        if (single) {
            int e = 0;
            if (frexpf(s[k], &e) != 0.5f)
                return nq_kctx_fail(&c->k, NQ_ERR_INVALID_ARG,
                                    "single_shift=1 but scale[%lld] is not a power of two",
                                    (long long)k);
            c->s->rq[k] = nq_requant_from_shift(1 - e);
        } else if (nq_requant_from_scale_checked(s[k], &c->s->rq[k]) == NQ_REQUANT_OVERFLOW) {
            return nq_kctx_fail(&c->k, NQ_ERR_UNSUPPORTED, "scale[%lld] = %g is too large",
                                (long long)k, (double)s[k]);
        }
    }
    const int64_t v[] = {outer, ns, inner};
    params(c->s, 3, v);
    memcpy(c->s->rq_dims, v, sizeof v);
    c->s->kind = CX_REQUANT;
    c->s->weight_bytes = (size_t)ns * 8;
    return NQ_OK;
}

static nq_status plan_alias(cx_ctx *c)
{
    const nq_value *x = val(c, 0), *y = yval(c);
    if (x == NULL || store_of(x->dtype) == NULL || x->dtype != y->dtype ||
        cx_numel(x) != cx_numel(y))
        return nq_kctx_fail(&c->k, NQ_ERR_UNSUPPORTED, "layout op on %s data",
                            x ? nq_dtype_name(x->dtype) : "no");
    for (int i = 1; i < c->n->n_outputs; i++)
        if (c->n->outputs[i] >= 0 &&
            (nq_graph_consumers(c->p->g, c->n->outputs[i], NULL, 0) > 0 ||
             c->p->g->values[c->n->outputs[i]]->is_output))
            return nq_kctx_fail(&c->k, NQ_ERR_UNSUPPORTED, "second output is used");
    c->s->kind = CX_ALIAS;
    return NQ_OK;
}

static nq_status plan_relu(cx_ctx *c)
{
    const cx_store *xs;
    nq_status st = need_int_input(c, &xs);
    if (st) return st;
    if (xs->min == 0) return plan_alias(c); /* the identity on unsigned types */
    const int64_t v[] = {cx_numel(val(c, 0))};
    params(c->s, 1, v);
    c->s->kind = CX_RELU;
    return NQ_OK;
}

static nq_status plan_clip(cx_ctx *c)
{
    const cx_store *xs;
    nq_status st = need_int_input(c, &xs);
    if (st) return st;
    int64_t b[2] = {xs->min, xs->max}, tmin, tmax;
    nq_dtype_int_range(val(c, 0)->dtype, &tmin, &tmax);
    for (int i = 1; i <= 2; i++) {
        const nq_value *v = val(c, i);
        if (v == NULL) continue;
        if (!is_const(v) || nq_tensor_numel(v->init) != 1)
            return nq_kctx_fail(&c->k, NQ_ERR_UNSUPPORTED, "bounds must be scalar constants");
        b[i - 1] = (int64_t)nq_tensor_get(v->init, 0);
    }
    c->s->lo = (int32_t)b[0];
    c->s->hi = (int32_t)b[1];
    const int64_t v[] = {cx_numel(val(c, 0))};
    params(c->s, 1, v);
    c->s->kind = CX_CLIP;
    return NQ_OK;
}

static nq_status plan_maxpool(cx_ctx *c)
{
    const cx_store *xs;
    nq_status st = need_int_input(c, &xs);
    if (st) return st;
    const nq_value *x = val(c, 0);
    if (x->ndim != 4 || x->dims[0] != 1)
        return nq_kctx_fail(&c->k, NQ_ERR_UNSUPPORTED, "2-D pooling of one sample only");
    if (c->n->n_outputs > 1 && c->n->outputs[1] >= 0)
        return nq_kctx_fail(&c->k, NQ_ERR_UNSUPPORTED, "the Indices output");
    nq_conv_geom g;
    nq_auto_pad ap;
    if ((st = nq_window_read(&c->k, 2, x->dims + 2, NULL, &g, &ap))) return st;
    if ((st = nq_window_out(&c->k, &g, ap, nq_node_attr_int(c->n, "ceil_mode", 0) != 0)))
        return st;
    int64_t tmin, tmax;
    nq_dtype_int_range(x->dtype, &tmin, &tmax);
    const int64_t v[] = {x->dims[1],    x->dims[2],    x->dims[3],     g.out[0],    g.out[1],
                         g.kernel[0],   g.kernel[1],   g.stride[0],    g.stride[1], g.dilation[0],
                         g.dilation[1], g.pad_begin[0], g.pad_begin[1], tmin};
    params(c->s, 14, v);
    c->s->kind = CX_MAXPOOL;
    return NQ_OK;
}

/* Add, Mul: int32 operands of y's size or single values (may be constants). */
static nq_status plan_binary(cx_ctx *c)
{
    const nq_value *a = val(c, 0), *b = val(c, 1), *y = yval(c);
    const int64_t n = cx_numel(y);
    if (a == NULL || b == NULL || a->dtype != NQ_DTYPE_INT32 || b->dtype != NQ_DTYPE_INT32)
        return nq_kctx_fail(&c->k, NQ_ERR_UNSUPPORTED, "int32 operands only (have %s, %s)",
                            a ? nq_dtype_name(a->dtype) : "none",
                            b ? nq_dtype_name(b->dtype) : "none");
    const int64_t na = cx_numel(a), nb = cx_numel(b);
    if ((na != n && na != 1) || (nb != n && nb != 1) || (is_const(a) && is_const(b)))
        return nq_kctx_fail(&c->k, NQ_ERR_UNSUPPORTED,
                            "operands must have the output's size or one value");
    c->s->x = c->n->inputs[0];
    c->s->b2 = c->n->inputs[1];
    c->s->weight_bytes = (size_t)((is_const(a) ? na : 0) + (is_const(b) ? nb : 0)) * 4;
    const int64_t v[] = {n, na == n, nb == n};
    params(c->s, 3, v);
    c->s->kind = c->n->op == NQ_OP_Add ? CX_ADD : CX_MUL;
    return NQ_OK;
}

static nq_status plan_reducesum(cx_ctx *c)
{
    const cx_store *xs;
    nq_status st = need_int_input(c, &xs);
    if (st == NQ_OK) st = need_acc32(c);
    if (st) return st;
    nq_reduce_axes ra;
    if ((st = nq_reduce_read_axes(&c->k, 13, &ra))) return st;
    const nq_value *x = val(c, 0);
    int first = -1, last = -1;
    for (int d = 0; d < x->ndim; d++)
        if (ra.noop ? 0 : ra.red[d]) {
            if (first < 0) first = d;
            else if (last != d - 1)
                return nq_kctx_fail(&c->k, NQ_ERR_UNSUPPORTED, "reduced axes must be adjacent");
            last = d;
        }
    int64_t outer = 1, red = 1, inner = 1;
    for (int d = 0; d < x->ndim; d++) {
        if (first < 0 || d < first) outer *= x->dims[d];
        else if (d <= last) red *= x->dims[d];
        else inner *= x->dims[d];
    }
    const int64_t v[] = {outer, red, inner};
    params(c->s, 3, v);
    c->s->kind = CX_REDUCESUM;
    return NQ_OK;
}

static const cx_planner planners[NQ_OP_COUNT] = {
    [NQ_OP_Conv] = plan_conv,         [NQ_OP_Gemm] = plan_gemm,
    [NQ_OP_MatMul] = plan_matmul,     [NQ_OP_Quantizer] = plan_requant,
    [NQ_OP_Relu] = plan_relu,         [NQ_OP_Clip] = plan_clip,
    [NQ_OP_MaxPool] = plan_maxpool,   [NQ_OP_Add] = plan_binary,
    [NQ_OP_Mul] = plan_binary,        [NQ_OP_ReduceSum] = plan_reducesum,
    [NQ_OP_Flatten] = plan_alias,     [NQ_OP_Reshape] = plan_alias,
    [NQ_OP_Squeeze] = plan_alias,     [NQ_OP_Unsqueeze] = plan_alias,
    [NQ_OP_Identity] = plan_alias,    [NQ_OP_Dropout] = plan_alias,
};

/* ---- input and outputs ------------------------------------------------ */

static int is_float_quantizer(const nq_graph *g, const nq_node *n, int float_in)
{
    if (n->op != NQ_OP_Quantizer || n->n_inputs < 1 || n->inputs[0] < 0 || n->n_outputs < 1)
        return 0;
    const nq_value *x = g->values[n->inputs[0]], *y = g->values[n->outputs[0]];
    return float_in ? x->dtype == NQ_DTYPE_FLOAT32 && store_of(y->dtype) != NULL
                    : store_of(x->dtype) != NULL && y->dtype == NQ_DTYPE_FLOAT32;
}

static nq_status find_input(cx_plan *p, nq_error *err)
{
    nq_graph *g = p->g;
    if (g->n_inputs != 1)
        return nq_error_set(err, NQ_ERR_UNSUPPORTED,
                            "the C export takes models with one input (this one has %d)",
                            g->n_inputs);
    p->graph_in = g->inputs[0];
    const nq_value *in = g->values[p->graph_in];
    if (store_of(in->dtype) != NULL) { /* already integer */
        p->in_value = p->graph_in;
        return NQ_OK;
    }
    nq_node *cons[4];
    int nc = nq_graph_consumers(g, p->graph_in, cons, 4);
    if (nc != 1 || !is_float_quantizer(g, cons[0], 1))
        return nq_error_set(err, NQ_ERR_UNSUPPORTED,
                            "input '%s' (%s) must feed exactly one float -> integer Quantizer "
                            "(quantize the model first: nnquant quantize)",
                            in->name, nq_dtype_name(in->dtype));
    const nq_node *q = cons[0];
    const nq_value *sc = q->n_inputs > 1 && q->inputs[1] >= 0 ? g->values[q->inputs[1]] : NULL;
    if (sc == NULL || sc->init == NULL || sc->init->dtype != NQ_DTYPE_FLOAT32 ||
        nq_tensor_numel(sc->init) != 1)
        return nq_error_set(err, NQ_ERR_UNSUPPORTED,
                            "input Quantizer '%s' needs a constant per-tensor scale", q->name);
    p->has_in_quant = 1;
    p->in_value = q->outputs[0];
    p->in_scale = ((const float *)sc->init->data)[0];
    const nq_value *y = g->values[p->in_value];
    int64_t tmin, tmax;
    nq_dtype_int_range(y->dtype, &tmin, &tmax);
    double lo = (double)tmin, hi = (double)tmax;
    const nq_attr *cmin = nq_node_attr(q, "clip_min"), *cmax = nq_node_attr(q, "clip_max");
    if (cmin) lo = fmax(ceil(cmin->type == NQ_ATTR_INT ? (double)cmin->i : cmin->f), lo);
    if (cmax) hi = fmin(floor(cmax->type == NQ_ATTR_INT ? (double)cmax->i : cmax->f), hi);
    p->in_lo = (int32_t)lo;
    p->in_hi = (int32_t)hi;
    return NQ_OK;
}

static nq_status find_outputs(cx_plan *p, nq_error *err)
{
    nq_graph *g = p->g;
    if (g->n_outputs < 1 || g->n_outputs > CX_MAX_OUTPUTS)
        return nq_error_set(err, NQ_ERR_UNSUPPORTED, "the C export takes 1 to %d outputs",
                            CX_MAX_OUTPUTS);
    p->n_out = g->n_outputs;
    for (int k = 0; k < g->n_outputs; k++) {
        int v = g->outputs[k];
        const nq_node *prod = g->values[v]->producer;
        p->graph_out[k] = v;
        p->out_deq[k] = NULL;
        p->out_value[k] = v;
        if (prod && is_float_quantizer(g, prod, 0) &&
            nq_graph_consumers(g, v, NULL, 0) == 0) {
            p->out_deq[k] = prod;
            p->out_value[k] = prod->inputs[0];
        }
        const nq_value *o = g->values[p->out_value[k]];
        if (store_of(o->dtype) == NULL)
            return nq_error_set(err, NQ_ERR_UNSUPPORTED,
                                "output '%s' is %s: the C export writes integer outputs "
                                "(or dequantizes them in model_float.c)",
                                g->values[v]->name, nq_dtype_name(o->dtype));
        if (o->init != NULL)
            return nq_error_set(err, NQ_ERR_UNSUPPORTED, "output '%s' is a constant", o->name);
    }
    return NQ_OK;
}

static int skipped(const cx_plan *p, const nq_node *n)
{
    if (p->has_in_quant && n->n_outputs > 0 && n->outputs[0] == p->in_value) return 1;
    for (int k = 0; k < p->n_out; k++)
        if (p->out_deq[k] == n) return 1;
    return 0;
}

/* ---- buffers ---------------------------------------------------------- */

static nq_status assign_locations(cx_plan *p, nq_error *err)
{
    const int nv = p->g->n_values;
    p->loc = calloc((size_t)nv, sizeof *p->loc);
    p->root = malloc((size_t)nv * sizeof *p->root);
    p->offset = calloc((size_t)nv, sizeof *p->offset);
    if (!p->loc || !p->root || !p->offset) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    for (int v = 0; v < nv; v++) {
        p->root[v] = v;
        if (p->g->values[v]->init) p->loc[v] = CX_LOC_CONST;
    }
    p->loc[p->in_value] = CX_LOC_INPUT;
    for (int i = 0; i < p->n_steps; i++) {
        const cx_step *s = &p->steps[i];
        if (s->kind == CX_ALIAS) {
            p->root[s->y] = p->root[s->x];
            p->loc[s->y] = p->loc[p->root[s->x]];
        } else {
            p->loc[s->y] = CX_LOC_ARENA;
        }
    }
    for (int k = 0; k < p->n_out; k++)
        if (p->loc[p->out_value[k]] == CX_LOC_NONE)
            return nq_error_set(err, NQ_ERR_UNSUPPORTED, "output '%s' is not computed",
                                p->g->values[p->out_value[k]]->name);
    return cx_arena_assign(p, err);
}

/* ---- fusion: Conv/Gemm + the Quantizer that rescales its accumulator --- */

/* The int32 accumulators then never reach the arena: step i requantizes
 * each value as it is computed (same integers, one pass, less RAM). */
static int fusable(const cx_plan *p, const cx_step *a, const cx_step *q)
{
    if (q->kind != CX_REQUANT || q->x != a->y) return 0;
    if (nq_graph_consumers(p->g, a->y, NULL, 0) != 1) return 0;
    for (int k = 0; k < p->n_out; k++)
        if (p->out_value[k] == a->y) return 0;
    const int64_t *d = q->rq_dims;
    if (d[1] == 1) return 1;
    if (a->kind == CX_CONV) return d[0] == 1 && d[1] == a->p[3]; /* channels = M */
    return d[1] == a->p[1] && d[2] == 1;                        /* channels = N */
}

static void fuse_requant(cx_plan *p)
{
    for (int i = 0; i < p->n_steps; i++) {
        cx_step *a = &p->steps[i];
        if (a->kind != CX_CONV && a->kind != CX_GEMM) continue;
        for (int j = i + 1; j < p->n_steps; j++) {
            cx_step *q = &p->steps[j];
            if (!fusable(p, a, q)) continue;
            a->rq = q->rq;
            q->rq = NULL;
            memcpy(a->rq_dims, q->rq_dims, sizeof a->rq_dims);
            a->lo = q->lo;
            a->hi = q->hi;
            a->y = q->y;
            a->fused = q->node;
            a->weight_bytes += q->weight_bytes;
            memmove(q, q + 1, (size_t)(p->n_steps - j - 1) * sizeof *q);
            p->n_steps--;
            break;
        }
    }
}

/* ---- the plan --------------------------------------------------------- */

nq_status cx_plan_build(const nq_graph *g0, cx_plan *p, nq_error *err)
{
    memset(p, 0, sizeof *p);
    nq_status st = nq_graph_clone(g0, &p->g, err);
    if (st == NQ_OK) st = nq_ops_resolve(p->g, err);
    if (st == NQ_OK) st = nq_graph_fold_constants(p->g, err);
    if (st == NQ_OK) st = nq_graph_toposort(p->g, err);
    if (st == NQ_OK) st = nq_graph_infer_shapes(p->g, 1, err);
    if (st == NQ_OK) st = find_input(p, err);
    if (st == NQ_OK) st = find_outputs(p, err);
    if (st) return st;
    nq_graph *g = p->g;
    p->steps = calloc((size_t)g->n_nodes + 1, sizeof *p->steps);
    if (p->steps == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    for (int i = 0; i < g->n_nodes; i++) {
        const nq_node *n = g->nodes[i];
        if (skipped(p, n)) continue;
        cx_step *s = &p->steps[p->n_steps];
        memset(s, 0, sizeof *s);
        s->node = n;
        s->x = n->n_inputs > 0 ? n->inputs[0] : -1;
        s->b2 = s->w = s->bias = -1;
        s->y = n->n_outputs > 0 ? n->outputs[0] : -1;
        cx_ctx c;
        ctx_init(&c, p, s, n, err);
        cx_planner fn = n->op >= 0 && n->op < NQ_OP_COUNT ? planners[n->op] : NULL;
        if (fn == NULL || s->y < 0)
            return nq_kctx_fail(&c.k, NQ_ERR_UNSUPPORTED,
                                "operator not supported by the C export (see docs/export.md)");
        if ((st = fn(&c))) return st;
        p->n_steps++;
        p->macs += s->macs;
        p->weight_bytes += s->weight_bytes;
    }
    fuse_requant(p);
    return assign_locations(p, err);
}

void cx_plan_free(cx_plan *p)
{
    if (p == NULL) return;
    for (int i = 0; i < p->n_steps; i++) free(p->steps[i].rq);
    free(p->steps);
    free(p->loc);
    free(p->root);
    free(p->offset);
    nq_graph_free(p->g);
    memset(p, 0, sizeof *p);
}
