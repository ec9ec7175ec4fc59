/*
 * Starting QAT from a PTQ result (qat.h): nq_qat_from_quantized turns a
 * quantized model into the float graph it computes (through its QDQ form:
 * every DequantizeLinear of a constant becomes the dequantized float
 * constant, every [Clip ->] QuantizeLinear -> DequantizeLinear chain on an
 * activation is dropped) and keeps the range each chain clipped to;
 * nq_qat_init_from_ranges starts the trained quantizers on those ranges.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core_internal.h"
#include "nnquant/qdq.h"
#include "qat/qat_internal.h"

typedef struct range_entry {
    char *name;  /* the float value (activation) or weight initializer */
    float range; /* real value of the largest integer level */
} range_entry;

struct nq_qat_ranges {
    range_entry *e;
    int n, cap;
};

void nq_qat_ranges_free(nq_qat_ranges *r)
{
    if (r == NULL) return;
    for (int i = 0; i < r->n; i++) free(r->e[i].name);
    free(r->e);
    free(r);
}

int nq_qat_ranges_count(const nq_qat_ranges *r)
{
    return r ? r->n : 0;
}

static nq_status ranges_add(nq_qat_ranges *r, const char *name, float range, nq_error *err)
{
    if (!(range > 0) || !isfinite(range)) return NQ_OK; /* a dead tensor: nothing to start from */
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 32;
        range_entry *e = realloc(r->e, sizeof *e * (size_t)cap);
        if (e == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        r->e = e;
        r->cap = cap;
    }
    size_t len = strlen(name) + 1;
    char *c = malloc(len);
    if (c == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    memcpy(c, name, len);
    r->e[r->n].name = c;
    r->e[r->n++].range = range;
    return NQ_OK;
}

static float ranges_find(const nq_qat_ranges *r, const char *name)
{
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->e[i].name, name) == 0) return r->e[i].range;
    return 0.0f;
}

static int is_std(const nq_node *n, const char *op)
{
    return (n->domain[0] == '\0' || strcmp(n->domain, "ai.onnx") == 0) && strcmp(n->op_type, op) == 0;
}

static const nq_tensor *const_in(const nq_graph *g, const nq_node *n, int i)
{
    return i < n->n_inputs && n->inputs[i] >= 0 ? g->values[n->inputs[i]]->init : NULL;
}

/* DequantizeLinear(q, scale[, zp]) of a constant -> a float initializer
 * read in its place; a per-tensor weight records scale * max|q - zp|. */
static nq_status dequantize_const(nq_graph *g, nq_node *dq, nq_qat_ranges *r, nq_error *err)
{
    const nq_tensor *q = const_in(g, dq, 0), *sc = const_in(g, dq, 1), *zp = const_in(g, dq, 2);
    int64_t ns = sc ? nq_tensor_numel(sc) : 0, n = nq_tensor_numel(q);
    if (sc == NULL || sc->dtype != NQ_DTYPE_FLOAT32 || ns < 1 || (zp && nq_tensor_numel(zp) != ns))
        return nq_error_set(err, NQ_ERR_UNSUPPORTED, "DequantizeLinear '%s': constant float scale needed", dq->name);
    int64_t axis = nq_node_attr_int(dq, "axis", 1), inner = 1, chans = 1;
    if (ns > 1) {
        if (q->ndim == 1) axis = 0; /* a bias: its only axis */
        if (axis < 0) axis += q->ndim;
        if (axis < 0 || axis >= q->ndim || q->dims[axis] != ns)
            return nq_error_set(err, NQ_ERR_INVALID_ARG, "DequantizeLinear '%s': %lld scales for axis %lld",
                                dq->name, (long long)ns, (long long)axis);
        for (int d = (int)axis + 1; d < q->ndim; d++) inner *= q->dims[d];
        chans = ns;
    }
    nq_tensor f = {0};
    if (nq_tensor_alloc(&f, NQ_DTYPE_FLOAT32, q->ndim, q->dims, err) != NQ_OK) return err ? err->code : NQ_ERR_NOMEM;
    float *fd = f.data;
    const float *s = sc->data;
    double qmax = 0;
    for (int64_t i = 0; i < n; i++) {
        int64_t c = (i / inner) % chans;
        double v = nq_tensor_get(q, i) - (zp ? nq_tensor_get(zp, c) : 0.0);
        fd[i] = (float)(v * s[c]);
        if (fabs(v) > qmax) qmax = fabs(v);
    }
    const char *base = g->values[dq->inputs[0]]->name;
    char *name = nq_graph_unique_name(g, base);
    int id = name ? nq_graph_add_initializer(g, name, &f, err) : -1;
    nq_status st = id >= 0 && ns == 1 ? ranges_add(r, name, (float)(qmax * s[0]), err) : NQ_OK;
    free(name);
    nq_tensor_free(&f);
    if (id < 0) return name ? (err ? err->code : NQ_ERR_NOMEM) : nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    nq_graph_replace_uses(g, dq->outputs[0], id);
    return st;
}

/* The integer range [lo, hi] of QuantizeLinear q's output: its dtype's,
 * narrowed by a Clip of constant bounds in front (*x: the Clip's input). */
static nq_status act_range(const nq_graph *g, const nq_node *q, float scale, int *x, double *lo, double *hi,
                           nq_error *err)
{
    const nq_tensor *zp = const_in(g, q, 2);
    int64_t mn = 0, mx = 255; /* no zero point: uint8 */
    if (zp != NULL && (!nq_dtype_int_range(zp->dtype, &mn, &mx) || nq_tensor_get(zp, 0) != 0.0))
        return nq_error_set(err, NQ_ERR_UNSUPPORTED, "QuantizeLinear '%s': zero point must be 0", q->name);
    *lo = (double)mn, *hi = (double)mx;
    *x = q->inputs[0];
    const nq_node *c = g->values[*x]->producer;
    if (c != NULL && is_std(c, "Clip") && const_in(g, c, 1) && const_in(g, c, 2)) {
        double cl = nq_tensor_get(const_in(g, c, 1), 0) / scale, ch = nq_tensor_get(const_in(g, c, 2), 0) / scale;
        if (cl > *lo) *lo = cl;
        if (ch < *hi) *hi = ch;
        *x = c->inputs[0];
    }
    return NQ_OK;
}

/* [Clip ->] QuantizeLinear -> DequantizeLinear... on an activation: the
 * readers of the DequantizeLinears read the float input instead (a graph
 * output keeps its name); records the clip range. */
static nq_status drop_act_chain(nq_graph *g, nq_node *q, nq_qat_ranges *r, nq_error *err)
{
    const nq_tensor *sc = const_in(g, q, 1);
    if (sc == NULL || sc->dtype != NQ_DTYPE_FLOAT32 || nq_tensor_numel(sc) != 1)
        return nq_error_set(err, NQ_ERR_UNSUPPORTED, "QuantizeLinear '%s': a constant per-tensor scale is needed",
                            q->name);
    float scale = *(const float *)sc->data;
    int x = -1;
    double lo = 0, hi = 0;
    nq_status s = act_range(g, q, scale, &x, &lo, &hi, err);
    if (s != NQ_OK) return s;
    nq_node *cons[64];
    int nc = nq_graph_consumers(g, q->outputs[0], cons, 64);
    if (nc > 64) return nq_error_set(err, NQ_ERR_UNSUPPORTED, "QuantizeLinear '%s': too many readers", q->name);
    for (int i = 0; i < nc; i++)
        if (!is_std(cons[i], "DequantizeLinear"))
            return nq_error_set(err, NQ_ERR_UNSUPPORTED, "QuantizeLinear '%s' feeds '%s' (%s), not a DequantizeLinear",
                                q->name, cons[i]->name, cons[i]->op_type);
    /* an integer graph output becomes x too: QAT trains on float logits */
    for (int i = -1; i < nc; i++) {
        int y = i < 0 ? q->outputs[0] : cons[i]->outputs[0];
        if (g->values[y]->is_output) nq_graph_swap_value_names(g, y, x); /* x takes the output's name */
        nq_graph_replace_uses(g, y, x);
    }
    double m = fabs(lo) > fabs(hi) ? fabs(lo) : fabs(hi);
    return ranges_add(r, g->values[x]->name, (float)(m * scale), err);
}

nq_status nq_qat_from_quantized(const nq_graph *quant, nq_graph **out, nq_qat_ranges **ranges, nq_error *err)
{
    *out = NULL;
    *ranges = NULL;
    nq_graph *g = NULL;
    nq_status s = nq_graph_is_qdq(quant) ? nq_graph_clone(quant, &g, err) : nq_graph_to_qdq(quant, &g, err);
    if (s != NQ_OK)
        return nq_error_prefix(err, "starting QAT from a quantized model (the integer form `quantize` writes, or QDQ)");
    nq_qat_ranges *r = calloc(1, sizeof *r);
    if (r == NULL) s = nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    if (s == NQ_OK) s = nq_graph_toposort(g, err);
    for (int i = 0; s == NQ_OK && i < g->n_nodes; i++) {
        nq_node *n = g->nodes[i];
        if (is_std(n, "DequantizeLinear") && const_in(g, n, 0) != NULL)
            s = dequantize_const(g, n, r, err);
        else if (is_std(n, "QuantizeLinear") && g->values[n->inputs[0]]->init == NULL)
            s = drop_act_chain(g, n, r, err);
    }
    if (s == NQ_OK) s = nq_graph_compact(g, err); /* the Q/DQ/Clip chains are dead now */
    for (int i = 0; s == NQ_OK && i < g->n_nodes; i++)
        if (is_std(g->nodes[i], "QuantizeLinear") || is_std(g->nodes[i], "DequantizeLinear"))
            s = nq_error_set(err, NQ_ERR_UNSUPPORTED, "node '%s' (%s): not a weight or activation quantization",
                             g->nodes[i]->name, g->nodes[i]->op_type);
    if (s == NQ_OK) s = nq_ops_resolve(g, err);
    if (s != NQ_OK) {
        nq_graph_free(g);
        nq_qat_ranges_free(r);
        return s;
    }
    *out = g;
    *ranges = r;
    return NQ_OK;
}

/* The recorded range behind value v, looking through trained quantizers
 * (a branch LSQ reads another quantizer's output). */
static float range_of(const nq_graph *g, int v, const nq_qat_ranges *r)
{
    for (int hops = 0; v >= 0 && hops < 8; hops++) {
        float m = ranges_find(r, g->values[v]->name);
        if (m > 0) return m;
        const nq_node *p = g->values[v]->producer;
        if (p == NULL || (strcmp(p->op_type, "LSQ") != 0 && strcmp(p->op_type, "CGPACT") != 0)) break;
        v = p->inputs[0];
    }
    return 0.0f;
}

nq_status nq_qat_init_from_ranges(nq_graph *g, const nq_qat_ranges *r, int *n_set, int *n_total, nq_error *err)
{
    int set = 0, total = 0;
    /* a step shared by several LSQs (the inputs of a join) takes the
     * widest range: PTQ arbitrates joins by the coarsest scale too */
    for (int i = 0; i < g->n_nodes; i++) {
        nq_node *n = g->nodes[i];
        int lsq = strcmp(n->op_type, "LSQ") == 0, pact = strcmp(n->op_type, "CGPACT") == 0;
        if ((!lsq && !pact) || n->n_inputs < 2 || n->inputs[1] < 0) continue;
        if (lsq && strcmp(nq_node_attr_string(n, NQ_ATTR_QAT_ROLE, ""), "bias") == 0) continue;
        nq_tensor *p = g->values[n->inputs[1]]->init;
        if (p == NULL || p->dtype != NQ_DTYPE_FLOAT32 || nq_tensor_numel(p) != 1)
            return nq_error_set(err, NQ_ERR_UNSUPPORTED, "%s node '%s': parameter is not a float scalar constant",
                                n->op_type, n->name);
        total++;
        float m = range_of(g, n->inputs[0], r), v;
        if (!(m > 0)) m = ranges_find(r, g->values[n->outputs[0]]->name); /* a graph output keeps its name */
        v = m;
        if (lsq) {
            const int64_t *rg = NULL;
            if (nq_node_attr_ints(n, "range", &rg) != 2 || rg[1] < 1)
                return nq_error_set(err, NQ_ERR_INVALID_ARG, "LSQ node '%s': no range", n->op_type);
            v = m / (float)rg[1];
        }
        if (!(m > 0)) continue;
        float *d = p->data;
        if (!(d[0] > v) || pact) d[0] = v; /* LSQ steps start at 0: the largest wins */
        set++;
    }
    if (n_set) *n_set = set;
    if (n_total) *n_total = total;
    return NQ_OK;
}
