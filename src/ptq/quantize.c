/* quantize_normalized_network and perform_dequantization. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptq/ptq_internal.h"

#define NQ_ATTR_UNIT "quantization.ptq.unit"
#define NQ_ATTR_DEQUANT "quantization.ptq.dequant"
#define NQ_ATTR_DTYPE "quantization.ptq.dtype"

static nq_dtype unsigned_of(nq_dtype t)
{
    return t == NQ_DTYPE_INT8 ? NQ_DTYPE_UINT8 : t == NQ_DTYPE_INT4 ? NQ_DTYPE_UINT4 : NQ_DTYPE_UNDEFINED;
}

static const nq_node *join_consumer(const nq_graph *g, int v)
{
    nq_node *c[16];
    int n = nq_graph_consumers(g, v, c, 16);
    for (int i = 0; i < n && i < 16; i++)
        if (nq_ptq_kind_of(c[i]) == NQ_PTQ_JOIN) return c[i];
    return NULL;
}

static nq_status set_quantizer(nq_node *q, int round, double lo, double hi, nq_dtype t)
{
    if (nq_node_set_int(q, "round", round) != NQ_OK || nq_node_set_float(q, "clip_min", (float)lo) != NQ_OK ||
        nq_node_set_float(q, "clip_max", (float)hi) != NQ_OK ||
        nq_node_set_string(q, NQ_ATTR_DTYPE, nq_dtype_name(t)) != NQ_OK)
        return NQ_ERR_NOMEM;
    return NQ_OK;
}

/* A Quantizer that neither rounds nor clips, to float32. */
static nq_status set_float(nq_node *q)
{
    nq_status s = set_quantizer(q, 0, 0, 0, NQ_DTYPE_FLOAT32);
    (void)nq_node_remove_attr(q, "clip_min");
    (void)nq_node_remove_attr(q, "clip_max");
    return s;
}

static nq_status quantize_scaling(nq_graph *g, nq_node *q, const nq_ranges *r, int no_quant, int optimize_signs,
                                  double *f)
{
    int x = q->inputs[0], y = q->outputs[0];
    const nq_node *join = join_consumer(g, y);
    nq_dtype t = nq_ptq_precision(join ? join : q, NQ_DTYPE_INT8);
    if (nq_dtype_is_float(t)) { /* kept in float: a plain rescaling */
        f[y] = f[x];
        return NQ_OK;
    }
    int non_negative = (y < r->n && r->valid[y] && r->min[y] >= 0) || nq_ptq_consumers_all(g, y, "Relu");
    int is_unsigned = optimize_signs && join == NULL && unsigned_of(t) != NQ_DTYPE_UNDEFINED && non_negative;
    double qa = nq_ptq_qmax(t, is_unsigned);
    nq_ptq_scale_mul(g, q, qa / f[x]);
    f[y] = qa;
    float unit = nq_node_attr_float(q, NQ_ATTR_UNIT, 1.0f);
    if (nq_node_set_float(q, NQ_ATTR_DEQUANT, (float)(unit / qa)) != NQ_OK) return NQ_ERR_NOMEM;
    return set_quantizer(q, !no_quant, is_unsigned ? 0 : -qa, qa, is_unsigned ? unsigned_of(t) : t);
}

/* The island before a float node: integers (factor f) to real values,
 * unrounded float32 (its scale holds the unit from normalize_activations). */
static nq_status quantize_island(nq_graph *g, nq_node *q, double *f)
{
    nq_ptq_scale_mul(g, q, 1.0 / f[q->inputs[0]]);
    f[q->outputs[0]] = 1.0;
    nq_status s = set_float(q);
    if (s == NQ_OK && (nq_node_set_string(q, "to", "float32") != NQ_OK ||
                       nq_node_set_string(q, NQ_ATTR_PRECISION, "float32") != NQ_OK))
        s = NQ_ERR_NOMEM;
    return s;
}

static nq_status quantize_affine(nq_graph *g, nq_node *n, int no_quant, double *f, nq_error *err)
{
    nq_affine_params p;
    nq_status s = nq_ptq_affine_params(g, n, &p, err);
    if (s != NQ_OK) return s;
    double fx = f[n->inputs[0]];
    nq_node *wq = nq_ptq_param_quantizer(g, n, 1), *bq = nq_ptq_param_quantizer(g, n, 2);
    if (wq == NULL)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "node '%s' (%s) has no weight quantizer: run insert_scaling_nodes",
                            n->name, n->op_type);
    nq_dtype tw = nq_ptq_precision(wq, NQ_DTYPE_INT8);
    int island = nq_dtype_is_float(tw); /* float weights and bias, float sums */
    double qw = island ? 1.0 : nq_ptq_qmax(tw, 0);
    nq_ptq_scale_mul(g, wq, qw);
    if ((s = set_quantizer(wq, !no_quant && !island, -qw, qw, tw)) != NQ_OK) return s;
    double bmax = 0;
    if (bq != NULL && island) {
        nq_ptq_scale_mul(g, bq, qw * fx);
        if ((s = set_float(bq)) != NQ_OK) return s;
    } else if (bq != NULL) {
        nq_dtype tb = nq_ptq_precision(bq, NQ_DTYPE_INT32);
        int64_t lo = 0, hi = 0;
        nq_dtype_int_range(tb, &lo, &hi);
        nq_ptq_scale_mul(g, bq, qw * fx);
        if ((s = set_quantizer(bq, !no_quant, (double)-hi, (double)hi, tb)) != NQ_OK) return s;
        for (int64_t c = 0; c < p.channels; c++) bmax = fmax(bmax, fabs(((float *)p.b->data)[c]) * qw * fx);
        if (bmax > (double)hi)
            return nq_error_set(err, NQ_ERR_DATA, "node '%s' (%s): a bias needs %.3g, beyond %s", n->name,
                                n->op_type, bmax, nq_dtype_name(tb));
    }
    /* worst case of the accumulator: every product at its maximum */
    double bound = (double)p.per * qw * fx + bmax;
    nq_dtype acc = nq_dtype_from_name(nq_node_attr_string(n, NQ_ATTR_ACC_PRECISION, "int32"));
    int64_t alo = 0, ahi = 0;
    if (!island && nq_dtype_int_range(acc, &alo, &ahi) && bound > (double)ahi)
        return nq_error_set(err, NQ_ERR_DATA,
                            "node '%s' (%s): the accumulator can reach %.3g, beyond %s (%lld products of %g x %g); "
                            "use narrower weights/activations or %s=int64",
                            n->name, n->op_type, bound, nq_dtype_name(acc), (long long)p.per, qw, fx,
                            NQ_ATTR_ACC_PRECISION);
    f[n->outputs[0]] = qw * fx;
    return NQ_OK;
}

/* Multiplies a Clip's bounds by f (rounded to integers when quantizing). */
static nq_status quantize_clip(nq_graph *g, nq_node *n, double f, int no_quant, nq_error *err)
{
    for (int k = 1; k <= 2 && k < n->n_inputs; k++) {
        if (n->inputs[k] < 0) continue;
        nq_tensor *t = nq_ptq_private_init(g, n, k, err);
        if (t == NULL) return NQ_ERR_UNSUPPORTED;
        double v = nq_tensor_get(t, 0) * f;
        nq_tensor_set(t, 0, no_quant ? v : nearbyint(v));
    }
    return NQ_OK;
}

/* Every rescaling factor must be a positive float32: one that rounds to 0
 * or overflows comes from ranges along the network that differ by more
 * than float32 spans, e.g. a tensor whose calibration values
 * underflow to zero after layers that shrink them. Said here, by name,
 * rather than when the model is first run. */
static nq_status check_scales(const nq_graph *g, nq_error *err)
{
    for (int i = 0; i < g->n_nodes; i++) {
        const nq_node *n = g->nodes[i];
        if (nq_ptq_kind_of(n) != NQ_PTQ_QUANTIZER || !nq_ptq_is_scaling(n) || n->n_inputs < 2 ||
            n->inputs[1] < 0 || g->values[n->inputs[1]]->init == NULL)
            continue;
        const nq_tensor *t = g->values[n->inputs[1]]->init;
        const nq_value *x = g->values[n->inputs[0]];
        for (int64_t k = 0; k < nq_tensor_numel(t); k++) {
            const float v = ((const float *)t->data)[k];
            if (!(v > 0.0f) || isinf(v))
                return nq_error_set(err, NQ_ERR_DATA,
                                    "the rescaling after '%s' (node '%s') is %g, outside float32: "
                                    "the calibration ranges of the tensors before it differ by more "
                                    "than float32 can represent (is its output all zeros, or nearly, "
                                    "on the calibration data?)",
                                    x->producer ? x->producer->name : x->name, n->name, (double)v);
        }
    }
    return NQ_OK;
}

nq_status nq_quantize_normalized_network(nq_graph *g, const nq_ranges *ranges, int no_quant,
                                         int optimize_signs, nq_error *err)
{
    double *f = malloc(sizeof(double) * (size_t)(g->n_values + 1));
    if (f == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    for (int v = 0; v < g->n_values; v++) f[v] = 1.0;
    nq_status s = NQ_OK;
    for (int i = 0; i < g->n_nodes && s == NQ_OK; i++) {
        nq_node *n = g->nodes[i];
        int x = n->n_inputs > 0 ? n->inputs[0] : -1;
        switch (nq_ptq_kind_of(n)) {
        case NQ_PTQ_QUANTIZER:
            if (nq_ptq_is_scaling(n)) s = quantize_scaling(g, n, ranges, no_quant, optimize_signs, f);
            else if (nq_ptq_is_island(n)) s = quantize_island(g, n, f);
            break;
        case NQ_PTQ_AFFINE:
            s = quantize_affine(g, n, no_quant, f, err);
            break;
        case NQ_PTQ_JOIN:
            for (int k = 1; k < n->n_inputs; k++)
                if (n->inputs[k] >= 0 && fabs(f[n->inputs[k]] - f[x]) > 1e-6 * f[x])
                    s = nq_error_set(err, NQ_ERR_INTERNAL, "node '%s' (%s): inputs have different scales (%g, %g)",
                                     n->name, n->op_type, f[x], f[n->inputs[k]]);
            /* fall through */
        case NQ_PTQ_SUM:
        case NQ_PTQ_PASS:
        case NQ_PTQ_FLOAT:
            for (int k = 0; k < n->n_outputs; k++)
                if (n->outputs[k] >= 0) f[n->outputs[k]] = f[x];
            break;
        case NQ_PTQ_CLIP:
            s = quantize_clip(g, n, f[x], no_quant, err);
            f[n->outputs[0]] = f[x];
            break;
        case NQ_PTQ_UNSUPPORTED:
            s = nq_error_set(err, NQ_ERR_UNSUPPORTED, "node '%s' (%s) cannot be quantized", n->name, n->op_type);
            break;
        }
    }
    free(f);
    return s == NQ_OK ? check_scales(g, err) : s;
}

/* The node whose output reaches value v through scale-equivariant nodes
 * (Relu, Flatten, Clip, ...), or NULL. */
static const nq_node *source_upstream(const nq_graph *g, int v)
{
    for (const nq_node *p = g->values[v]->producer; p != NULL; p = g->values[p->inputs[0]]->producer) {
        nq_ptq_kind k = nq_ptq_kind_of(p);
        if (k != NQ_PTQ_PASS && k != NQ_PTQ_CLIP) return p;
        if (p->n_inputs < 1 || p->inputs[0] < 0) return NULL;
    }
    return NULL;
}

nq_status nq_perform_dequantization(nq_graph *g, nq_error *err)
{
    for (int i = 0; i < g->n_outputs; i++) {
        int v = g->outputs[i];
        const nq_node *s = source_upstream(g, v);
        if (s != NULL && nq_ptq_kind_of(s) == NQ_PTQ_FLOAT) continue; /* already float */
        if (s == NULL || !nq_ptq_is_scaling(s) || nq_node_attr(s, NQ_ATTR_DEQUANT) == NULL)
            return nq_error_set(err, NQ_ERR_INVALID_ARG,
                                "output '%s' does not come from a quantized node: run quantize_normalized_network first",
                                g->values[v]->name);
        float scale = nq_node_attr_float(s, NQ_ATTR_DEQUANT, 1.0f);
        nq_node *q = nq_ptq_insert_quantizer(g, v, NQ_ROLE_OUTPUT, scale, err);
        if (q == NULL) return err ? err->code : NQ_ERR_NOMEM;
        if (nq_node_set_string(q, NQ_ATTR_PRECISION, "float32") != NQ_OK ||
            nq_node_set_string(q, NQ_ATTR_DTYPE, "float32") != NQ_OK)
            return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    }
    return NQ_OK;
}
