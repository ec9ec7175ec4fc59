/* cross_layer_equalization: Nagel et al. 2019, "Data-Free Quantization
 * Through Weight Equalization and Bias Correction", section 4.1.
 *
 * For two affine layers A1 -> [positive-homogeneous ops] -> A2 (each value
 * in between read by one node only), f(x / s) = f(x) / s for s > 0, so
 * dividing output channel c of A1 (weights and bias) by s[c] and
 * multiplying input channel c of A2 by s[c] leaves the network's function
 * unchanged. With r1[c] = max |W1 output channel c| and
 * r2[c] = max |W2 input channel c|, s[c] = sqrt(r1[c] / r2[c]) makes both
 * ranges sqrt(r1[c] r2[c]). A layer in the middle of a chain belongs to two
 * pairs, so the pairs are visited again until no range changes by more
 * than target_delta (relative), at most CLE_MAX_ITER times.
 *
 * Positive-homogeneous ops crossed: Relu, MaxPool, GlobalMaxPool, Identity,
 * Dropout (mask unused) and Flatten (axis 1). Clip (ReLU6) is not: its
 * bound does not scale, so the chain ends there, as at any other op.
 *
 * Pairs handled (A2 reads the chain's value at input 0):
 *   Conv -> Conv                 A2 with group = 1 (A1 may be grouped or
 *                                depthwise: only its output channels move).
 *                                A2 grouped or depthwise: pair skipped.
 *   Gemm/MatMul -> Gemm/MatMul   Gemm transB = 1 ([out, in]) or 0 ([in, out]),
 *                                MatMul with constant weights [in, out]
 *   Conv -> ... -> Flatten -> Gemm/MatMul
 *                                NCHW flatten: conv channel c is the H*W
 *                                consecutive columns c*HW .. c*HW+HW-1 (the
 *                                max is taken over all of them, all scaled).
 * Channels where r1 or r2 is 0 keep their scale.
 *
 * Like the reference, CLE applies to single-branch networks only: if the
 * graph has a joining node (Add, Concat) or a non-constant value read by
 * more than one node, nothing is changed and *pairs is 0.
 *
 * The scales are accumulated in double against the original weights and
 * applied once at the end, so each weight is rounded to float once.
 * Runs on the float graph after prepare_network (which records the shapes
 * Flatten needs) and before insert_scaling_nodes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ptq/ptq_internal.h"

#define CLE_MAX_ITER 100

typedef struct cle_layer {
    nq_node *n;
    float *w, *b;                    /* private weights and bias (b may be NULL) */
    int64_t channels, per, stride, cstride; /* output-channel layout (nq_affine_params) */
    int64_t in, inner;               /* input channels of the weight; per = in * inner */
    double *sout;                    /* [channels]: output channel o is divided by sout[o] */
    double *sin;                     /* [in]: input channel j is multiplied by sin[j] */
} cle_layer;

typedef struct cle_pair {
    int a, b;         /* layer indices: a feeds b */
    int64_t c, blk;   /* channels; A2 input columns per channel (Flatten) */
} cle_pair;

/* Channel layout of the value flowing between A1 and A2. */
typedef struct cle_layout {
    int ax1;      /* the channel axis is axis 1 */
    int last;     /* the channel axis is the last axis */
    int64_t blk;  /* consecutive entries per channel along that axis */
} cle_layout;

/* 1 if n reads v at input 0 and nowhere else. */
static int reads_only_at0(const nq_node *n, int v)
{
    if (n->n_inputs < 1 || n->inputs[0] != v) return 0;
    for (int k = 1; k < n->n_inputs; k++)
        if (n->inputs[k] == v) return 0;
    return 1;
}

/* 1 if outputs 1.. of n are absent or unused. */
static int extra_outputs_unused(const nq_graph *g, const nq_node *n)
{
    for (int k = 1; k < n->n_outputs; k++) {
        int o = n->outputs[k];
        if (o >= 0 && (g->values[o]->is_output || nq_graph_consumers(g, o, NULL, 0) > 0)) return 0;
    }
    return 1;
}

static int is_multi_branch(const nq_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (nq_ptq_kind_of(g->nodes[i]) == NQ_PTQ_JOIN) return 1;
    for (int v = 0; v < g->n_values; v++) {
        const nq_value *x = g->values[v];
        if (x->init != NULL || (x->producer != NULL && x->producer->n_inputs == 0)) continue; /* constants */
        if (nq_graph_consumers(g, v, NULL, 0) > 1) return 1;
    }
    return 0;
}

/* Input channels of an affine node's weight (and the weights per input
 * channel and output channel), or 0 if the layout is not handled. */
static int64_t weight_inputs(const nq_node *n, const nq_affine_params *p, int64_t *inner)
{
    int64_t in = n->op == NQ_OP_Conv ? (p->w->ndim >= 2 ? p->w->dims[1] : 0) : p->per;
    if (in <= 0 || p->per % in != 0) return 0;
    *inner = p->per / in;
    return in;
}

/* Follows the single-consumer chain after affine node a1; returns the
 * affine node that ends it (filling the pair's c and blk) or NULL. */
static nq_node *chain_end(const nq_graph *g, const nq_node *a1, const nq_affine_params *p1, cle_pair *pr)
{
    int v = a1->outputs[0];
    if (v < 0) return NULL;
    cle_layout l = {1, 0, 1};
    if (a1->op != NQ_OP_Conv) { /* Gemm [N, C]; MatMul [..., C] */
        int rank = a1->op == NQ_OP_Gemm ? 2 : g->values[v]->ndim;
        l.ax1 = rank == 2;
        l.last = 1;
    }
    for (int steps = 0; steps < g->n_nodes; steps++) {
        nq_node *c = nq_ptq_single_consumer(g, v);
        if (c == NULL || !reads_only_at0(c, v)) return NULL;
        switch (c->op) {
        case NQ_OP_Relu:
        case NQ_OP_Identity:
            break;
        case NQ_OP_Dropout:
            if (!extra_outputs_unused(g, c)) return NULL;
            break;
        case NQ_OP_MaxPool:
        case NQ_OP_GlobalMaxPool:
            if (!l.ax1 || l.last || l.blk != 1 || !extra_outputs_unused(g, c)) return NULL;
            break;
        case NQ_OP_Flatten: {
            const nq_value *x = g->values[v];
            int64_t axis = nq_node_attr_int(c, "axis", 1);
            if (axis < 0 && x->ndim > 0) axis += x->ndim;
            if (axis != 1 || !l.ax1) return NULL;
            if (!l.last) { /* [N, C, d2, ...] -> [N, C * d2 * ...] */
                if (x->ndim < 3) return NULL;
                int64_t hw = 1;
                for (int d = 2; d < x->ndim; d++) {
                    if (x->dims[d] <= 0) return NULL;
                    hw *= x->dims[d];
                }
                l.blk *= hw;
                l.last = 1;
            }
            break;
        }
        case NQ_OP_Conv:
        case NQ_OP_Gemm:
        case NQ_OP_MatMul: {
            nq_affine_params p2;
            int64_t inner, in;
            if (nq_ptq_affine_params(g, c, &p2, NULL) != NQ_OK || (in = weight_inputs(c, &p2, &inner)) == 0)
                return NULL;
            if (c->op == NQ_OP_Conv) {
                if (!l.ax1 || l.last || l.blk != 1 || nq_node_attr_int(c, "group", 1) != 1) return NULL;
            } else if (!l.last) { /* Gemm, MatMul: the last axis is contracted */
                return NULL;
            }
            if (in != p1->channels * l.blk) return NULL;
            pr->c = p1->channels;
            pr->blk = l.blk;
            return c;
        }
        default:
            return NULL;
        }
        if (c->n_outputs < 1 || c->outputs[0] < 0) return NULL;
        v = c->outputs[0];
    }
    return NULL;
}

/* Index of node n in the layer list, adding it (with private parameters) if new; -1 on error. */
static int layer_of(nq_graph *g, nq_node *n, cle_layer **layers, int *n_layers, nq_error *err)
{
    for (int i = 0; i < *n_layers; i++)
        if ((*layers)[i].n == n) return i;
    nq_affine_params p;
    if (nq_ptq_affine_params(g, n, &p, err) != NQ_OK) return -1;
    cle_layer l;
    memset(&l, 0, sizeof l);
    l.n = n;
    l.channels = p.channels;
    l.per = p.per;
    l.stride = p.stride;
    l.cstride = p.cstride;
    l.in = weight_inputs(n, &p, &l.inner);
    nq_tensor *w = nq_ptq_param(g, n, 1, err);
    nq_tensor *b = p.b ? nq_ptq_param(g, n, 2, err) : NULL;
    if (w == NULL || (p.b != NULL && b == NULL)) return -1;
    l.w = w->data;
    l.b = b ? b->data : NULL;
    l.sout = malloc(sizeof(double) * (size_t)l.channels);
    l.sin = malloc(sizeof(double) * (size_t)l.in);
    cle_layer *grown = realloc(*layers, sizeof(cle_layer) * (size_t)(*n_layers + 1));
    if (l.sout == NULL || l.sin == NULL || grown == NULL) {
        free(l.sout);
        free(l.sin);
        if (grown != NULL) *layers = grown;
        nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        return -1;
    }
    for (int64_t o = 0; o < l.channels; o++) l.sout[o] = 1.0;
    for (int64_t j = 0; j < l.in; j++) l.sin[j] = 1.0;
    *layers = grown;
    (*layers)[*n_layers] = l;
    return (*n_layers)++;
}

/* max |W| of output channel o of layer l, with the current scales. */
static double out_range(const cle_layer *l, int64_t o)
{
    double m = 0;
    const float *w = l->w + o * l->stride;
    for (int64_t k = 0; k < l->per; k++) m = fmax(m, fabs((double)w[k * l->cstride]) * l->sin[k / l->inner]);
    return m / l->sout[o];
}

/* max |W| over input channels [j0, j0 + blk) of layer l, with the current scales. */
static double in_range(const cle_layer *l, int64_t j0, int64_t blk)
{
    double m = 0;
    for (int64_t o = 0; o < l->channels; o++) {
        const float *w = l->w + o * l->stride;
        double mo = 0;
        for (int64_t j = j0; j < j0 + blk; j++) {
            double mj = 0;
            for (int64_t k = j * l->inner; k < (j + 1) * l->inner; k++) mj = fmax(mj, fabs((double)w[k * l->cstride]));
            mo = fmax(mo, mj * l->sin[j]);
        }
        m = fmax(m, mo / l->sout[o]);
    }
    return m;
}

nq_status nq_cross_layer_equalization(nq_graph *g, double target_delta, int *pairs, nq_error *err)
{
    if (pairs) *pairs = 0;
    if (g == NULL || !(target_delta >= 0))
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "cross_layer_equalization: target_delta must be >= 0");
    nq_status s = nq_ops_resolve(g, err);
    if (s != NQ_OK || is_multi_branch(g)) return s;

    cle_layer *layers = NULL;
    cle_pair *prs = NULL;
    int n_layers = 0, n_pairs = 0;
    for (int i = 0; i < g->n_nodes && s == NQ_OK; i++) {
        nq_node *a1 = g->nodes[i];
        nq_affine_params p1;
        if (nq_ptq_kind_of(a1) != NQ_PTQ_AFFINE || nq_ptq_affine_params(g, a1, &p1, NULL) != NQ_OK) continue;
        cle_pair pr;
        nq_node *a2 = chain_end(g, a1, &p1, &pr);
        if (a2 == NULL) continue;
        cle_pair *grown = realloc(prs, sizeof(cle_pair) * (size_t)(n_pairs + 1));
        if (grown == NULL) {
            s = nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
            break;
        }
        prs = grown;
        if ((pr.a = layer_of(g, a1, &layers, &n_layers, err)) < 0 ||
            (pr.b = layer_of(g, a2, &layers, &n_layers, err)) < 0) {
            s = err ? err->code : NQ_ERR_NOMEM;
            if (s == NQ_OK) s = NQ_ERR_NOMEM;
            break;
        }
        prs[n_pairs++] = pr;
    }

    for (int it = 0; s == NQ_OK && n_pairs > 0 && it < CLE_MAX_ITER; it++) {
        double delta = 0;
        for (int k = 0; k < n_pairs; k++) {
            const cle_pair *pr = &prs[k];
            cle_layer *a = &layers[pr->a], *b = &layers[pr->b];
            for (int64_t c = 0; c < pr->c; c++) {
                double r1 = out_range(a, c), r2 = in_range(b, c * pr->blk, pr->blk);
                if (!(r1 > 0) || !(r2 > 0) || !isfinite(r1) || !isfinite(r2)) continue;
                double sc = sqrt(r1 / r2);
                a->sout[c] *= sc;
                for (int64_t j = c * pr->blk; j < (c + 1) * pr->blk; j++) b->sin[j] *= sc;
                delta = fmax(delta, fmax(fabs(sc - 1), fabs(1 / sc - 1)));
            }
        }
        if (delta < target_delta) break;
    }

    if (s == NQ_OK) {
        for (int i = 0; i < n_layers; i++) {
            cle_layer *l = &layers[i];
            for (int64_t o = 0; o < l->channels; o++) {
                float *w = l->w + o * l->stride;
                for (int64_t k = 0; k < l->per; k++)
                    w[k * l->cstride] = (float)((double)w[k * l->cstride] * l->sin[k / l->inner] / l->sout[o]);
                if (l->b) l->b[o] = (float)((double)l->b[o] / l->sout[o]);
            }
        }
        if (pairs) *pairs = n_pairs;
    }
    for (int i = 0; i < n_layers; i++) {
        free(layers[i].sout);
        free(layers[i].sin);
    }
    free(layers);
    free(prs);
    return s;
}
