/*
 * Pad: pads as an attribute ('paddings' in opset 1, 'pads' in 2..10) or
 * input 1 (opset >= 11, known at plan time), optional axes input 3
 * (opset >= 18); modes constant (value attribute or constant_value input 2),
 * reflect, edge and wrap. Negative pads crop (applied before padding, as
 * the ONNX reference does). Reflect and wrap repeat periodically when the
 * pad is wider than the axis, as numpy.pad does.
 */
#include <string.h>

#include "movement.h"

typedef enum pad_mode { PAD_CONSTANT, PAD_REFLECT, PAD_EDGE, PAD_WRAP } pad_mode;

typedef struct pad_plan {
    pad_mode mode;
    int r;
    int64_t out[NQ_MAX_DIMS];  /* output dims */
    int64_t before[NQ_MAX_DIMS]; /* pad before (>= 0) */
    int64_t cs[NQ_MAX_DIMS], cn[NQ_MAX_DIMS]; /* kept input range: start, length */
} pad_plan;

static nq_status pad_make_plan(const nq_kctx *c, const nq_tensor *x, pad_plan *p)
{
    const char *mode = nq_node_attr_string(c->node, "mode", "constant");
    if (strcmp(mode, "constant") == 0) p->mode = PAD_CONSTANT;
    else if (strcmp(mode, "reflect") == 0) p->mode = PAD_REFLECT;
    else if (strcmp(mode, "edge") == 0) p->mode = PAD_EDGE;
    else if (strcmp(mode, "wrap") == 0) p->mode = PAD_WRAP;
    else return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED, "unsupported mode '%s'", mode);

    int r = p->r = x->ndim, n = 0, na = -1;
    int64_t pads[2 * NQ_MAX_DIMS], axes[NQ_MAX_DIMS];
    nq_status s;
    if (c->opset < 11) {
        const int64_t *v;
        const char *name = nq_node_attr(c->node, "pads") ? "pads" : "paddings";
        if (nq_node_attr(c->node, name) == NULL)
            return nq_kctx_fail(c, NQ_ERR_SHAPE, "missing attribute 'pads'");
        n = nq_node_attr_ints(c->node, name, &v);
        if (n > 2 * NQ_MAX_DIMS)
            return nq_kctx_fail(c, NQ_ERR_SHAPE, "'pads' has %d values", n);
        for (int i = 0; i < n; i++) pads[i] = v[i];
    } else {
        if ((s = nq_mv_read_ints(c, 1, "pads", pads, 2 * NQ_MAX_DIMS, &n)) != NQ_OK) return s;
        if (c->opset >= 18 && nq_mv_in(c, 3) != NULL &&
            (s = nq_mv_read_ints(c, 3, "axes", axes, NQ_MAX_DIMS, &na)) != NQ_OK)
            return s;
    }
    int k = na >= 0 ? na : r;
    if (n != 2 * k)
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "'pads' has %d values, %d expected", n, 2 * k);
    int64_t pb[NQ_MAX_DIMS] = {0}, pe[NQ_MAX_DIMS] = {0};
    int seen[NQ_MAX_DIMS] = {0};
    for (int i = 0; i < k; i++) {
        int a = na >= 0 ? nq_norm_axis(axes[i], r) : i;
        if (a < 0)
            return nq_kctx_fail(c, NQ_ERR_SHAPE, "axis %lld out of range for rank %d",
                                (long long)axes[i], r);
        if (seen[a]) return nq_kctx_fail(c, NQ_ERR_SHAPE, "axis %d repeated", a);
        seen[a] = 1;
        pb[a] = pads[i];
        pe[a] = pads[i + k];
    }
    for (int a = 0; a < r; a++) {
        int64_t d = x->dims[a];
        int64_t cut_b = pb[a] < 0 ? -pb[a] : 0, cut_e = pe[a] < 0 ? -pe[a] : 0;
        if (cut_b > d || cut_e > d - cut_b)
            return nq_kctx_fail(c, NQ_ERR_SHAPE, "negative pads crop more than axis %d (size %lld)",
                                a, (long long)d);
        p->cs[a] = cut_b;
        p->cn[a] = d - cut_b - cut_e;
        p->before[a] = pb[a] > 0 ? pb[a] : 0;
        p->out[a] = p->cn[a] + p->before[a] + (pe[a] > 0 ? pe[a] : 0);
        if (p->cn[a] == 0 && p->out[a] > 0 && p->mode != PAD_CONSTANT)
            return nq_kctx_fail(c, NQ_ERR_SHAPE, "mode '%s' cannot pad the empty axis %d", mode, a);
    }
    return NQ_OK;
}

static nq_status pad_infer(nq_kctx *c)
{
    const nq_tensor *x;
    nq_status s = nq_mv_need_in(c, 0, "data", &x);
    if (s != NQ_OK) return s;
    pad_plan p;
    if ((s = pad_make_plan(c, x, &p)) != NQ_OK) return s;
    const nq_tensor *v = c->opset >= 11 ? nq_mv_in(c, 2) : NULL;
    if (v != NULL && (v->dtype != x->dtype || nq_tensor_numel(v) != 1))
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "constant_value must be one %s value",
                            nq_dtype_name(x->dtype));
    return nq_mv_set_out(c, 0, x->dtype, x->ndim, p.out);
}

/* Input index for output coordinate o on axis a, or -1 for the constant. */
static int64_t pad_map(const pad_plan *p, int a, int64_t o)
{
    int64_t i = o - p->before[a], n = p->cn[a];
    if (i < 0 || i >= n) {
        switch (p->mode) {
        case PAD_CONSTANT: return -1;
        case PAD_EDGE: i = i < 0 ? 0 : n - 1; break;
        case PAD_WRAP: i = ((i % n) + n) % n; break;
        case PAD_REFLECT:
            if (n == 1) {
                i = 0;
            } else {
                int64_t period = 2 * (n - 1);
                i = ((i % period) + period) % period;
                if (i >= n) i = period - i;
            }
            break;
        }
    }
    return p->cs[a] + i;
}

static void fill(char *dst, const unsigned char *val, size_t esize, int64_t n)
{
    for (int64_t k = 0; k < n; k++) memcpy(dst + (size_t)k * esize, val, esize);
}

static nq_status pad_forward(nq_kctx *c)
{
    const nq_tensor *x = c->in[0];
    nq_tensor *y = c->out[0];
    pad_plan p;
    nq_status s = pad_make_plan(c, x, &p);
    if (s != NQ_OK) return s;
    size_t esize = nq_dtype_size(x->dtype);
    if (nq_tensor_numel(y) == 0) return NQ_OK;

    unsigned char val[16] = {0};
    const nq_tensor *v = c->opset >= 11 ? nq_mv_in(c, 2) : NULL;
    if (v != NULL) {
        memcpy(val, v->data, esize);
    } else if (c->opset < 11) {
        nq_tensor tv = {.dtype = x->dtype, .ndim = 0, .data = val};
        nq_tensor_set(&tv, 0, nq_node_attr_float(c->node, "value", 0.0f));
    }
    int r = p.r;
    if (r == 0) {
        nq_mv_copy(y->data, x->data, esize);
        return NQ_OK;
    }
    int64_t istr[NQ_MAX_DIMS];
    istr[r - 1] = 1;
    for (int a = r - 2; a >= 0; a--) istr[a] = istr[a + 1] * x->dims[a + 1];
    /* Output rows (all axes but the last), then the last axis in three parts. */
    int last = r - 1;
    int64_t W = p.out[last], lo = p.before[last] < W ? p.before[last] : W;
    int64_t hi = p.before[last] + p.cn[last] < W ? p.before[last] + p.cn[last] : W;
    nq_mv_odo it = {.n = r - 1};
    for (int a = 0; a < r - 1; a++) it.dims[a] = p.out[a];
    char *o = (char *)y->data;
    const char *in = (const char *)x->data;
    do {
        int64_t off = 0;
        int constant_row = 0;
        for (int a = 0; a < r - 1 && !constant_row; a++) {
            int64_t i = pad_map(&p, a, it.idx[a]);
            if (i < 0) constant_row = 1;
            off += i * istr[a];
        }
        if (constant_row) {
            fill(o, val, esize, W);
        } else {
            const char *row = p.cn[last] > 0 ? in + off * (int64_t)esize : NULL;
            for (int64_t j = 0; j < W; j++) {
                if (j == lo && hi > lo) {
                    memcpy(o + j * (int64_t)esize, row + pad_map(&p, last, j) * (int64_t)esize,
                           (size_t)(hi - lo) * esize);
                    j = hi - 1;
                    continue;
                }
                int64_t i = pad_map(&p, last, j);
                memcpy(o + j * (int64_t)esize, i < 0 ? (const char *)val : row + i * (int64_t)esize,
                       esize);
            }
        }
        o += W * (int64_t)esize;
    } while (nq_mv_odo_next(&it));
    return NQ_OK;
}

const nq_op_def nq_def_Pad = {.name = "Pad", .infer = pad_infer, .forward = pad_forward};
