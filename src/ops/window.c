/* Attributes and output sizes shared by Conv, ConvTranspose and the pools. */
#include <string.h>

#include "ops/window.h"

nq_status nq_window_auto_pad(const nq_kctx *c, nq_auto_pad *ap)
{
    const char *s = nq_node_attr_string(c->node, "auto_pad", "NOTSET");
    if (s[0] == '\0' || strcmp(s, "NOTSET") == 0) *ap = NQ_AUTO_PAD_NOTSET;
    else if (strcmp(s, "SAME_UPPER") == 0) *ap = NQ_AUTO_PAD_SAME_UPPER;
    else if (strcmp(s, "SAME_LOWER") == 0) *ap = NQ_AUTO_PAD_SAME_LOWER;
    else if (strcmp(s, "VALID") == 0) *ap = NQ_AUTO_PAD_VALID;
    else return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "unknown auto_pad '%s'", s);
    return NQ_OK;
}

/* Reads an INTS attribute of `want` values, each >= min_val, into out;
 * leaves out untouched when the attribute is absent. */
static nq_status read_ints(const nq_kctx *c, const char *name, int want, int64_t min_val,
                           int64_t *out)
{
    const int64_t *v;
    int n = nq_node_attr_ints(c->node, name, &v);
    if (n == 0) return NQ_OK; /* absent or empty: defaults */
    if (n != want)
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "attribute %s has %d values, expected %d", name, n,
                            want);
    for (int i = 0; i < n; i++) {
        if (v[i] < min_val)
            return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "attribute %s[%d] = %lld is below %lld",
                                name, i, (long long)v[i], (long long)min_val);
        out[i] = v[i];
    }
    return NQ_OK;
}

nq_status nq_window_read(const nq_kctx *c, int nsp, const int64_t *in, const int64_t *wkernel,
                         nq_conv_geom *g, nq_auto_pad *ap)
{
    memset(g, 0, sizeof *g);
    if (nsp < 1 || nsp > NQ_MAX_SPATIAL)
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED,
                            "%d spatial dims (input rank %d); 1 to %d are supported", nsp, nsp + 2,
                            NQ_MAX_SPATIAL);
    g->nsp = nsp;
    for (int i = 0; i < nsp; i++) {
        g->in[i] = in[i];
        g->kernel[i] = wkernel ? wkernel[i] : -1;
        g->stride[i] = 1;
        g->dilation[i] = 1;
    }
    int64_t attr_k[NQ_MAX_SPATIAL] = {-1, -1, -1}, pads[2 * NQ_MAX_SPATIAL] = {0};
    nq_status st;
    if ((st = read_ints(c, "kernel_shape", nsp, 1, attr_k)) != NQ_OK) return st;
    if ((st = read_ints(c, "strides", nsp, 1, g->stride)) != NQ_OK) return st;
    if ((st = read_ints(c, "dilations", nsp, 1, g->dilation)) != NQ_OK) return st;
    if ((st = read_ints(c, "pads", 2 * nsp, 0, pads)) != NQ_OK) return st;
    for (int i = 0; i < nsp; i++) {
        if (attr_k[i] >= 1 && wkernel && attr_k[i] != wkernel[i])
            return nq_kctx_fail(c, NQ_ERR_SHAPE,
                                "kernel_shape[%d] = %lld does not match the weight (%lld)", i,
                                (long long)attr_k[i], (long long)wkernel[i]);
        if (attr_k[i] >= 1) g->kernel[i] = attr_k[i];
        if (g->kernel[i] < 1)
            return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "missing or empty kernel_shape");
        g->pad_begin[i] = pads[i];
        g->pad_end[i] = pads[nsp + i];
    }
    return nq_window_auto_pad(c, ap);
}

static int64_t div_ceil(int64_t a, int64_t b) { return a >= 0 ? (a + b - 1) / b : -((-a) / b); }

nq_status nq_window_out(const nq_kctx *c, nq_conv_geom *g, nq_auto_pad ap, int ceil_mode)
{
    for (int i = 0; i < g->nsp; i++) {
        const int64_t in = g->in[i], s = g->stride[i];
        const int64_t span = (g->kernel[i] - 1) * g->dilation[i] + 1; /* dilated window */
        if (ap == NQ_AUTO_PAD_SAME_UPPER || ap == NQ_AUTO_PAD_SAME_LOWER) {
            int64_t out = div_ceil(in, s);
            int64_t total = (out - 1) * s + span - in;
            if (total < 0) total = 0;
            g->pad_begin[i] = ap == NQ_AUTO_PAD_SAME_UPPER ? total / 2 : total - total / 2;
            g->pad_end[i] = total - g->pad_begin[i];
            g->out[i] = out;
        } else {
            if (ap == NQ_AUTO_PAD_VALID) g->pad_begin[i] = g->pad_end[i] = 0;
            int64_t room = in + g->pad_begin[i] + g->pad_end[i] - span;
            if (room < 0)
                return nq_kctx_fail(c, NQ_ERR_SHAPE,
                                    "window %lld (kernel %lld, dilation %lld) is larger than the "
                                    "padded input %lld along spatial axis %d",
                                    (long long)span, (long long)g->kernel[i],
                                    (long long)g->dilation[i],
                                    (long long)(in + g->pad_begin[i] + g->pad_end[i]), i);
            int64_t out = (ceil_mode ? div_ceil(room, s) : room / s) + 1;
            /* ceil mode: the last window must start inside the input or the
             * begin padding (as PyTorch and ONNX Runtime do). */
            if (ceil_mode && (out - 1) * s >= in + g->pad_begin[i]) out--;
            g->out[i] = out;
        }
        if (g->out[i] < 1)
            return nq_kctx_fail(c, NQ_ERR_SHAPE, "empty output along spatial axis %d", i);
    }
    return NQ_OK;
}

nq_status nq_conv_shape_read(const nq_kctx *c, const nq_tensor *x, const nq_tensor *w,
                             const nq_tensor *b, nq_conv_shape *s)
{
    if (x->ndim < 3)
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "input X has rank %d; expected [N, C, spatial...]",
                            x->ndim);
    if (w->ndim != x->ndim)
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "weight W has rank %d, input X rank %d", w->ndim,
                            x->ndim);
    s->N = x->dims[0];
    s->C = x->dims[1];
    s->M = w->dims[0];
    s->group = nq_node_attr_int(c->node, "group", 1);
    if (s->group < 1 || s->C % s->group != 0 || s->M % s->group != 0)
        return nq_kctx_fail(c, NQ_ERR_SHAPE,
                            "group %lld must divide input channels %lld and output channels %lld",
                            (long long)s->group, (long long)s->C, (long long)s->M);
    s->Cg = s->C / s->group;
    s->Mg = s->M / s->group;
    if (w->dims[1] != s->Cg)
        return nq_kctx_fail(c, NQ_ERR_SHAPE,
                            "channel mismatch: input has %lld channels, weight expects %lld x "
                            "group %lld",
                            (long long)s->C, (long long)w->dims[1], (long long)s->group);
    if (b && (b->ndim != 1 || b->dims[0] != s->M))
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "bias B must have shape [%lld]", (long long)s->M);
    nq_auto_pad ap;
    nq_status st;
    if ((st = nq_window_read(c, x->ndim - 2, x->dims + 2, w->dims + 2, &s->g, &ap)) ||
        (st = nq_window_out(c, &s->g, ap, 0)))
        return st;
    s->kprod = s->in_plane = s->out_plane = 1;
    s->pointwise = 1;
    for (int i = 0; i < s->g.nsp; i++) {
        s->kprod *= s->g.kernel[i];
        s->in_plane *= s->g.in[i];
        s->out_plane *= s->g.out[i];
        if (s->g.kernel[i] != 1 || s->g.stride[i] != 1 || s->g.pad_begin[i] || s->g.pad_end[i])
            s->pointwise = 0;
    }
    s->K = s->Cg * s->kprod;
    return NQ_OK;
}
