/*
 * Real scales of the integer tensors of an nnquant graph, for the QDQ
 * export: r(t) such that the float value of t is q * r(t).
 *
 * Nodes relate scales multiplicatively: a requantizing Quantizer of scale
 * m gives r(in) = m * r(out), a compensation Mul by c gives
 * r(out) = r(in) / c, and every scale-preserving node (Relu, MaxPool,
 * Clip, Add, Concat, ReduceSum, shape ops) makes its integer inputs and
 * outputs share one scale. A weighted union-find keeps, for each value,
 * its ratio to the root of its class. A class gets its absolute scale
 * from a hard anchor (an input Quantizer: r = 1/s; a dequantizing one:
 * r(in) = s), else from the "quantization.ptq.dequant" attribute PTQ
 * leaves on its Quantizers, else 1. Accumulators (outputs of Conv, Gemm,
 * MatMul read by one requantizing Quantizer) stay out of the classes:
 * their per-channel scale is m * r(out), and the weights' scale follows.
 */
#include <math.h>
#include <stdlib.h>

#include "export/qdq_export_internal.h"

nq_status nq_qdq_scales_init(nq_qdq_scales *s, int n, nq_error *err)
{
    s->n = n;
    s->parent = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    s->ratio = malloc(sizeof(double) * (size_t)(n > 0 ? n : 1));
    s->anchor = calloc((size_t)(n > 0 ? n : 1), sizeof(double));
    s->anchor_kind = calloc((size_t)(n > 0 ? n : 1), sizeof(int));
    if (!s->parent || !s->ratio || !s->anchor || !s->anchor_kind) {
        nq_qdq_scales_free(s);
        return nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        s->parent[i] = i;
        s->ratio[i] = 1.0;
    }
    return NQ_OK;
}

void nq_qdq_scales_free(nq_qdq_scales *s)
{
    free(s->parent);
    free(s->ratio);
    free(s->anchor);
    free(s->anchor_kind);
    s->parent = NULL;
    s->ratio = s->anchor = NULL;
    s->anchor_kind = NULL;
}

/* Root of v; *f receives r(v) / r(root). Compresses the path. */
static int find(nq_qdq_scales *s, int v, double *f)
{
    double acc = 1.0;
    int r = v;
    while (s->parent[r] != r) {
        acc *= s->ratio[r];
        r = s->parent[r];
    }
    /* compress: every node on the path points at the root */
    double rem = acc;
    for (int u = v; s->parent[u] != u;) {
        int next = s->parent[u];
        double ru = s->ratio[u];
        s->parent[u] = r;
        s->ratio[u] = rem;
        rem /= ru;
        u = next;
    }
    *f = acc;
    return r;
}

static int close_enough(double a, double b)
{
    return fabs(a - b) <= 1e-3 * fmax(fabs(a), fabs(b));
}

nq_status nq_qdq_scales_relate(nq_qdq_scales *s, int a, int b, double k, const nq_node *n,
                               nq_error *err)
{
    double fa, fb;
    int ra = find(s, a, &fa), rb = find(s, b, &fb);
    if (!(k > 0) || !isfinite(k))
        return nq_error_set(err, NQ_ERR_UNSUPPORTED,
                            "node '%s' (%s): scale ratio %g is not a positive number", n->name,
                            n->op_type, k);
    if (ra == rb) {
        if (!close_enough(fa, k * fb))
            return nq_error_set(err, NQ_ERR_UNSUPPORTED,
                                "node '%s' (%s): its integer inputs have different scales "
                                "(ratio %g, expected %g); QDQ needs one scale here",
                                n->name, n->op_type, fa / fb, k);
        return NQ_OK;
    }
    /* r(ra) = (k * fb / fa) r(rb); move ra's anchor to rb */
    double w = k * fb / fa;
    s->parent[ra] = rb;
    s->ratio[ra] = w;
    if (s->anchor_kind[ra] > s->anchor_kind[rb]) {
        s->anchor[rb] = s->anchor[ra] / w;
        s->anchor_kind[rb] = s->anchor_kind[ra];
    } else if (s->anchor_kind[ra] == 2 && s->anchor_kind[rb] == 2 &&
               !close_enough(s->anchor[ra] / w, s->anchor[rb])) {
        return nq_error_set(err, NQ_ERR_UNSUPPORTED,
                            "node '%s' (%s): joins two tensors whose fixed scales disagree",
                            n->name, n->op_type);
    }
    return NQ_OK;
}

nq_status nq_qdq_scales_anchor(nq_qdq_scales *s, int v, double r, int hard, const nq_node *n,
                               nq_error *err)
{
    double f;
    int root = find(s, v, &f);
    int kind = hard ? 2 : 1;
    if (!(r > 0) || !isfinite(r))
        return nq_error_set(err, NQ_ERR_UNSUPPORTED, "node '%s' (%s): scale %g is not positive",
                            n->name, n->op_type, r);
    if (s->anchor_kind[root] == 2 && kind == 2 && !close_enough(s->anchor[root], r / f))
        return nq_error_set(err, NQ_ERR_UNSUPPORTED,
                            "node '%s' (%s): scale %g disagrees with the scale fixed upstream",
                            n->name, n->op_type, r);
    if (kind > s->anchor_kind[root]) {
        s->anchor[root] = r / f;
        s->anchor_kind[root] = kind;
    }
    return NQ_OK;
}

double nq_qdq_scales_get(nq_qdq_scales *s, int v)
{
    double f;
    int root = find(s, v, &f);
    return f * (s->anchor_kind[root] ? s->anchor[root] : 1.0);
}
