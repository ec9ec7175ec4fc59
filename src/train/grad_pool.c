/* Backward of MaxPool, AveragePool (1-D/2-D/3-D, pads, strides, dilations,
 * ceil_mode, count_include_pad) and GlobalAveragePool, float32.
 * MaxPool routes each output gradient to the first input of its window (in
 * kernel-tap order) equal to the output, the tap the forward kept. The
 * optional Indices output carries no gradient.
 * AveragePool spreads dY / n over the in-bounds taps, n being the divisor
 * of the forward (taps inside the input, or inside the padded input with
 * count_include_pad). */
#include <string.h>

#include "kernels/window3.h"
#include "ops/window.h"
#include "train/grad_internal.h"

typedef struct pool_geom {
    nq_window3 w;
    int64_t planes, in_plane, out_plane;
    int64_t lo[3], hi[3]; /* AveragePool divisor bounds per (3-D) axis */
} pool_geom;

static nq_status pool_geom_make(const nq_gctx *c, pool_geom *p)
{
    memset(p, 0, sizeof *p);
    const nq_tensor *x = c->in[0];
    if (x->dtype != NQ_DTYPE_FLOAT32 || x->ndim < 3)
        return nq_grad_fail(c, NQ_ERR_UNSUPPORTED, "input must be float32 [N, C, spatial...]");
    nq_kctx k = nq_gctx_kctx(c);
    nq_conv_geom g;
    nq_auto_pad ap;
    nq_status st = nq_window_read(&k, x->ndim - 2, x->dims + 2, NULL, &g, &ap);
    if (st) return st;
    if ((st = nq_window_out(&k, &g, ap, nq_node_attr_int(c->node, "ceil_mode", 0) != 0)))
        return st;
    nq_window3_from_geom(&g, &p->w);
    p->planes = x->dims[0] * x->dims[1];
    p->in_plane = p->w.in[0] * p->w.in[1] * p->w.in[2];
    p->out_plane = p->w.out[0] * p->w.out[1] * p->w.out[2];
    const int include_pad = nq_node_attr_int(c->node, "count_include_pad", 0) != 0;
    for (int i = 0; i < 3; i++) {
        int a = i - (3 - g.nsp);
        int64_t pe = a >= 0 ? g.pad_end[a] : 0;
        p->lo[i] = include_pad ? -p->w.pb[i] : 0;
        p->hi[i] = include_pad ? p->w.in[i] + pe : p->w.in[i];
    }
    return NQ_OK;
}

/* Input offset of tap (kd,kh,kw) of output (od,oh,ow); -1 if in padding. */
static inline int64_t tap_index(const nq_window3 *w, const int64_t *o, const int64_t *k)
{
    int64_t idx = 0;
    for (int i = 0; i < 3; i++) {
        int64_t p = o[i] * w->s[i] - w->pb[i] + k[i] * w->d[i];
        if (p < 0 || p >= w->in[i]) return -1;
        idx = idx * w->in[i] + p;
    }
    return idx;
}

/* 2-D 2x2 window, stride 2, no padding or dilation (the common CNN pool). */
static int is_2x2s2(const nq_window3 *w)
{
    return w->k[0] == 1 && w->k[1] == 2 && w->k[2] == 2 && w->s[1] == 2 && w->s[2] == 2 &&
           w->d[1] == 1 && w->d[2] == 1 && w->pb[1] == 0 && w->pb[2] == 0 && w->in[0] == 1 &&
           2 * w->out[1] <= w->in[1] && 2 * w->out[2] <= w->in[2];
}

static void maxpool_2x2s2_backward(const pool_geom *p, const float *x, const float *y,
                                   const float *g, float *d)
{
    const int64_t IW = p->w.in[2], OH = p->w.out[1], OW = p->w.out[2];
    for (int64_t pl = 0; pl < p->planes; pl++) {
        const float *xp = x + pl * p->in_plane, *yp = y + pl * p->out_plane;
        const float *gp = g + pl * p->out_plane;
        float *dp = d + pl * p->in_plane;
        for (int64_t oh = 0; oh < OH; oh++)
            for (int64_t ow = 0; ow < OW; ow++) {
                const int64_t i0 = 2 * oh * IW + 2 * ow, o = oh * OW + ow;
                const float m = yp[o];
                /* first tap equal to the max, in kernel order */
                const int64_t t = xp[i0] == m ? i0 : xp[i0 + 1] == m ? i0 + 1
                                : xp[i0 + IW] == m ? i0 + IW : i0 + IW + 1;
                dp[t] += gp[o];
            }
    }
}

static nq_status maxpool_backward(nq_gctx *c)
{
    const float *g = nq_gd_dout(c, 0);
    float *d = nq_gd_din(c, 0);
    if (g == NULL || d == NULL) return NQ_OK;
    pool_geom p;
    nq_status st = pool_geom_make(c, &p);
    if (st) return st;
    const nq_window3 *w = &p.w;
    const float *x = c->in[0]->data, *y = c->out[0]->data;
    if (is_2x2s2(w)) {
        maxpool_2x2s2_backward(&p, x, y, g, d);
        return NQ_OK;
    }
    for (int64_t pl = 0; pl < p.planes; pl++) {
        const float *xp = x + pl * p.in_plane;
        float *dp = d + pl * p.in_plane;
        int64_t o[3], oi = pl * p.out_plane;
        for (o[0] = 0; o[0] < w->out[0]; o[0]++)
            for (o[1] = 0; o[1] < w->out[1]; o[1]++)
                for (o[2] = 0; o[2] < w->out[2]; o[2]++, oi++) {
                    int64_t k[3], best = -1;
                    for (k[0] = 0; best < 0 && k[0] < w->k[0]; k[0]++)
                        for (k[1] = 0; best < 0 && k[1] < w->k[1]; k[1]++)
                            for (k[2] = 0; best < 0 && k[2] < w->k[2]; k[2]++) {
                                int64_t t = tap_index(w, o, k);
                                if (t >= 0 && xp[t] == y[oi]) best = t;
                            }
                    if (best >= 0) dp[best] += g[oi];
                }
    }
    return NQ_OK;
}

/* Taps of output position o along axis i that fall in [lo, hi). */
static int64_t axis_count(const pool_geom *p, int i, int64_t o)
{
    const nq_window3 *w = &p->w;
    int64_t n = 0;
    for (int64_t k = 0; k < w->k[i]; k++) {
        int64_t q = o * w->s[i] - w->pb[i] + k * w->d[i];
        n += q >= p->lo[i] && q < p->hi[i];
    }
    return n;
}

static nq_status avgpool_backward(nq_gctx *c)
{
    const float *g = nq_gd_dout(c, 0);
    float *d = nq_gd_din(c, 0);
    if (g == NULL || d == NULL) return NQ_OK;
    pool_geom p;
    nq_status st = pool_geom_make(c, &p);
    if (st) return st;
    const nq_window3 *w = &p.w;
    for (int64_t pl = 0; pl < p.planes; pl++) {
        float *dp = d + pl * p.in_plane;
        int64_t o[3], oi = pl * p.out_plane;
        for (o[0] = 0; o[0] < w->out[0]; o[0]++)
            for (o[1] = 0; o[1] < w->out[1]; o[1]++)
                for (o[2] = 0; o[2] < w->out[2]; o[2]++, oi++) {
                    int64_t n = axis_count(&p, 0, o[0]) * axis_count(&p, 1, o[1]) *
                                axis_count(&p, 2, o[2]);
                    if (n <= 0) continue;
                    const float v = g[oi] / (float)n;
                    int64_t k[3];
                    for (k[0] = 0; k[0] < w->k[0]; k[0]++)
                        for (k[1] = 0; k[1] < w->k[1]; k[1]++)
                            for (k[2] = 0; k[2] < w->k[2]; k[2]++) {
                                int64_t t = tap_index(w, o, k);
                                if (t >= 0) dp[t] += v;
                            }
                }
    }
    return NQ_OK;
}

static nq_status gap_backward(nq_gctx *c)
{
    const float *g = nq_gd_dout(c, 0);
    float *d = nq_gd_din(c, 0);
    if (g == NULL || d == NULL) return NQ_OK;
    const nq_tensor *x = c->in[0];
    if (x->ndim < 2) return nq_grad_fail(c, NQ_ERR_SHAPE, "input rank %d < 2", x->ndim);
    const int64_t planes = x->dims[0] * x->dims[1];
    const int64_t plane = planes ? nq_tensor_numel(x) / planes : 0;
    for (int64_t pl = 0; pl < planes; pl++) {
        const float v = g[pl] / (float)plane;
        float *dp = d + pl * plane;
        for (int64_t i = 0; i < plane; i++) dp[i] += v;
    }
    return NQ_OK;
}

const nq_grad_def nq_grad_MaxPool = {.backward = maxpool_backward};
const nq_grad_def nq_grad_AveragePool = {.backward = avgpool_backward};
const nq_grad_def nq_grad_GlobalAveragePool = {.backward = gap_backward};
