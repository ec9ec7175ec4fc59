/* MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool (opset 1..22 forms),
 * 1-D/2-D/3-D, X [N, C, spatial...]. Float32 pools run row by row (one
 * pass per kernel offset over a contiguous output row, like the depthwise
 * conv); MaxPool with the Indices output (float32, int8, uint8) runs a
 * plain per-window loop. Empty windows (padding only) give -inf (max) or 0
 * (avg). Integer MaxPool and GlobalMaxPool otherwise: pool_int.c. */
#include <math.h>
#include <string.h>

#include "kernels/window3.h"
#include "ops/int_ops.h"
#include "ops/window.h"

typedef struct pool_plan {
    nq_conv_geom g;
    nq_window3 w;
    int64_t planes, in_plane, out_plane; /* planes = N * C */
    int threads;
} pool_plan;

static nq_status pool_plan_make(const nq_kctx *c, int is_max, pool_plan *p)
{
    memset(p, 0, sizeof *p);
    if (c->n_in < 1 || !c->in[0]) return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "needs input X");
    if (c->n_out < 1 || !c->out[0]) return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "needs output Y");
    const nq_tensor *x = c->in[0];
    nq_dtype dt = x->dtype;
    if (!(dt == NQ_DTYPE_FLOAT32 || (is_max && (dt == NQ_DTYPE_INT8 || dt == NQ_DTYPE_UINT8))))
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED, "input dtype %s is not supported",
                            nq_dtype_name(dt));
    if (x->ndim < 3)
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "input X has rank %d; expected [N, C, spatial...]",
                            x->ndim);
    nq_auto_pad ap;
    nq_status st = nq_window_read(c, x->ndim - 2, x->dims + 2, NULL, &p->g, &ap);
    if (st) return st;
    int ceil_mode = nq_node_attr_int(c->node, "ceil_mode", 0) != 0;
    if ((st = nq_window_out(c, &p->g, ap, ceil_mode))) return st;
    nq_window3_from_geom(&p->g, &p->w);
    p->planes = x->dims[0] * x->dims[1];
    p->in_plane = p->w.in[0] * p->w.in[1] * p->w.in[2];
    p->out_plane = p->w.out[0] * p->w.out[1] * p->w.out[2];
    p->threads = c->num_threads < 1 ? 1 : c->num_threads;
    if (p->planes < p->threads) p->threads = p->planes > 0 ? (int)p->planes : 1;
    return NQ_OK;
}

static nq_status pool_infer_common(nq_kctx *c, int is_max)
{
    pool_plan p;
    nq_status st = pool_plan_make(c, is_max, &p);
    if (st) return st;
    const nq_tensor *x = c->in[0];
    int64_t dims[2 + NQ_MAX_SPATIAL] = {x->dims[0], x->dims[1]};
    for (int i = 0; i < p.g.nsp; i++) dims[2 + i] = p.g.out[i];
    if ((st = nq_tensor_init(c->out[0], x->dtype, x->ndim, dims, c->err))) return st;
    if (c->n_out > 1 && c->out[1]) {
        if (!is_max) return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "has a second output");
        int64_t so = nq_node_attr_int(c->node, "storage_order", 0);
        if (so != 0 && so != 1)
            return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "storage_order %lld is not 0 or 1",
                                (long long)so);
        return nq_tensor_init(c->out[1], NQ_DTYPE_INT64, x->ndim, dims, c->err);
    }
    return NQ_OK;
}

/* Number of window taps k in [0, K) with lo <= o*s - pb + k*d < hi. */
static int64_t axis_count(int64_t o, int64_t K, int64_t s, int64_t d, int64_t pb, int64_t lo,
                          int64_t hi)
{
    int64_t base = o * s - pb, n = 0;
    for (int64_t k = 0; k < K; k++) {
        int64_t p = base + k * d;
        n += p >= lo && p < hi;
    }
    return n;
}

/* 2x2 max, stride 2, no padding or dilation (the common CNN pool). */
static void maxpool_2x2s2(const nq_window3 *w, const float *x, float *y)
{
    const int64_t W = w->in[2], OW = w->out[2];
    for (int64_t oh = 0; oh < w->out[1]; oh++, y += OW) {
        const float *r0 = x + 2 * oh * W, *r1 = r0 + W;
        for (int64_t ow = 0; ow < OW; ow++) {
            float a = r0[2 * ow] > r0[2 * ow + 1] ? r0[2 * ow] : r0[2 * ow + 1];
            float b = r1[2 * ow] > r1[2 * ow + 1] ? r1[2 * ow] : r1[2 * ow + 1];
            y[ow] = a > b ? a : b;
        }
    }
}

static int is_2x2s2(const nq_window3 *w)
{
    return w->out[0] == 1 && w->in[0] == 1 && w->k[1] == 2 && w->k[2] == 2 && w->s[1] == 2 &&
           w->s[2] == 2 && w->d[1] == 1 && w->d[2] == 1 && w->pb[1] == 0 && w->pb[2] == 0 &&
           2 * w->out[1] <= w->in[1] && 2 * w->out[2] <= w->in[2];
}

/* Float32 plane, row by row: max or sum over taps, then the average divide. */
static void pool_plane_f32(const pool_plan *p, const float *x, float *y, int is_max,
                           int include_pad)
{
    const nq_window3 *w = &p->w;
    if (is_max && is_2x2s2(w)) {
        maxpool_2x2s2(w, x, y);
        return;
    }
    const int64_t OW = w->out[2], IW = w->in[2];
    const float init = is_max ? -INFINITY : 0.0f;
    for (int64_t i = 0; i < p->out_plane; i++) y[i] = init;
    for (int64_t kd = 0; kd < w->k[0]; kd++)
        for (int64_t kh = 0; kh < w->k[1]; kh++)
            for (int64_t kw = 0; kw < w->k[2]; kw++) {
                const int64_t off_w = kw * w->d[2] - w->pb[2];
                int64_t lo, hi;
                nq_window_row_range(OW, IW, w->s[2], off_w, &lo, &hi);
                const int64_t s = w->s[2];
                NQ_WINDOW3_TAP_ROWS(w, kd, kh, xo, yo,
                    const float *xr = x + xo + off_w;
                    float *yr = y + yo;
                    if (is_max)
                        for (int64_t o = lo; o < hi; o++) {
                            float v = xr[o * s];
                            yr[o] = v > yr[o] ? v : yr[o];
                        }
                    else
                        for (int64_t o = lo; o < hi; o++) yr[o] += xr[o * s];)
            }
    if (is_max) return;
    int64_t lo3[3], hi3[3];
    for (int i = 0; i < 3; i++) {
        int a = i - (3 - p->g.nsp); /* index into g (pad_end lives there) */
        int64_t pe = a >= 0 ? p->g.pad_end[a] : 0;
        lo3[i] = include_pad ? -w->pb[i] : 0;
        hi3[i] = include_pad ? w->in[i] + pe : w->in[i];
    }
    for (int64_t od = 0; od < w->out[0]; od++) {
        int64_t cd = axis_count(od, w->k[0], w->s[0], w->d[0], w->pb[0], lo3[0], hi3[0]);
        for (int64_t oh = 0; oh < w->out[1]; oh++) {
            int64_t ch = cd * axis_count(oh, w->k[1], w->s[1], w->d[1], w->pb[1], lo3[1], hi3[1]);
            float *yr = y + (od * w->out[1] + oh) * OW;
            for (int64_t ow = 0; ow < OW; ow++) {
                int64_t n =
                    ch * axis_count(ow, w->k[2], w->s[2], w->d[2], w->pb[2], lo3[2], hi3[2]);
                yr[ow] = n > 0 ? yr[ow] / (float)n : 0.0f;
            }
        }
    }
}

static double load(nq_dtype dt, const void *base, int64_t i)
{
    switch (dt) {
    case NQ_DTYPE_INT8: return ((const int8_t *)base)[i];
    case NQ_DTYPE_UINT8: return ((const uint8_t *)base)[i];
    default: return ((const float *)base)[i];
    }
}

static void store(nq_dtype dt, void *base, int64_t i, double v)
{
    switch (dt) {
    case NQ_DTYPE_INT8: ((int8_t *)base)[i] = (int8_t)v; break;
    case NQ_DTYPE_UINT8: ((uint8_t *)base)[i] = (uint8_t)v; break;
    default: ((float *)base)[i] = (float)v; break;
    }
}

/* Any dtype, one window at a time, with optional argmax indices. */
static void maxpool_plane_generic(const pool_plan *p, nq_dtype dt, const void *x, int64_t plane,
                                  void *y, int64_t *ind, int col_major)
{
    const nq_window3 *w = &p->w;
    int64_t o = plane * p->out_plane;
    for (int64_t od = 0; od < w->out[0]; od++)
        for (int64_t oh = 0; oh < w->out[1]; oh++)
            for (int64_t ow = 0; ow < w->out[2]; ow++, o++) {
                double best = -INFINITY;
                int64_t arg = -1;
                for (int64_t kd = 0; kd < w->k[0]; kd++) {
                    int64_t id = od * w->s[0] - w->pb[0] + kd * w->d[0];
                    if (id < 0 || id >= w->in[0]) continue;
                    for (int64_t kh = 0; kh < w->k[1]; kh++) {
                        int64_t ih = oh * w->s[1] - w->pb[1] + kh * w->d[1];
                        if (ih < 0 || ih >= w->in[1]) continue;
                        for (int64_t kw = 0; kw < w->k[2]; kw++) {
                            int64_t iw = ow * w->s[2] - w->pb[2] + kw * w->d[2];
                            if (iw < 0 || iw >= w->in[2]) continue;
                            int64_t at = (id * w->in[1] + ih) * w->in[2] + iw;
                            double v = load(dt, x, plane * p->in_plane + at);
                            if (arg < 0 || v > best) {
                                best = v;
                                arg = col_major ? id + w->in[0] * (ih + w->in[1] * iw) : at;
                            }
                        }
                    }
                }
                store(dt, y, o, best);
                if (ind) ind[o] = arg < 0 ? -1 : plane * p->in_plane + arg;
            }
}

static nq_status pool_forward_common(nq_kctx *c, int is_max)
{
    pool_plan p;
    nq_status st = pool_plan_make(c, is_max, &p);
    if (st) return st;
    const nq_tensor *x = c->in[0];
    void *y = c->out[0]->data;
    int64_t *ind = c->n_out > 1 && c->out[1] ? c->out[1]->data : NULL;
    int include_pad = !is_max && nq_node_attr_int(c->node, "count_include_pad", 0) != 0;
    int col_major = nq_node_attr_int(c->node, "storage_order", 0) == 1;
    int generic = x->dtype != NQ_DTYPE_FLOAT32 || ind != NULL;
#ifdef NQ_HAVE_OPENMP
#pragma omp parallel for num_threads(p.threads) schedule(static) if (p.threads > 1)
#endif
    for (int64_t i = 0; i < p.planes; i++) {
        if (generic)
            maxpool_plane_generic(&p, x->dtype, x->data, i, y, ind, col_major);
        else
            pool_plane_f32(&p, (const float *)x->data + i * p.in_plane,
                           (float *)y + i * p.out_plane, is_max, include_pad);
    }
    return NQ_OK;
}

/* Integer MaxPool without Indices runs in pool_int.c. */
static int int_maxpool(const nq_kctx *c)
{
    return nq_iop_int_input(c) && !(c->n_out > 1 && c->out[1]);
}
static nq_status maxpool_infer(nq_kctx *c)
{
    return int_maxpool(c) ? nq_maxpool_int_infer(c) : pool_infer_common(c, 1);
}
static nq_status maxpool_forward(nq_kctx *c)
{
    return int_maxpool(c) ? nq_maxpool_int_forward(c) : pool_forward_common(c, 1);
}
static nq_status avgpool_infer(nq_kctx *c) { return pool_infer_common(c, 0); }
static nq_status avgpool_forward(nq_kctx *c) { return pool_forward_common(c, 0); }

const nq_op_def nq_def_MaxPool = {.name = "MaxPool", .infer = maxpool_infer,
                                  .forward = maxpool_forward};
const nq_op_def nq_def_AveragePool = {.name = "AveragePool", .infer = avgpool_infer,
                                      .forward = avgpool_forward};

/* ---- global pools ---- */

static nq_status global_infer(nq_kctx *c)
{
    if (c->n_in < 1 || !c->in[0] || c->n_out < 1 || !c->out[0])
        return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "needs input X and output Y");
    const nq_tensor *x = c->in[0];
    if (x->dtype != NQ_DTYPE_FLOAT32)
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED, "input dtype %s is not supported",
                            nq_dtype_name(x->dtype));
    if (x->ndim < 3)
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "input X has rank %d; expected [N, C, spatial...]",
                            x->ndim);
    int64_t dims[NQ_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) dims[i] = i < 2 ? x->dims[i] : 1;
    return nq_tensor_init(c->out[0], NQ_DTYPE_FLOAT32, x->ndim, dims, c->err);
}

static nq_status global_forward(nq_kctx *c, int is_max)
{
    const nq_tensor *x = c->in[0];
    int64_t planes = x->dims[0] * x->dims[1], n = nq_tensor_numel(x) / (planes ? planes : 1);
    const float *xv = x->data;
    float *y = c->out[0]->data;
    for (int64_t i = 0; i < planes; i++) {
        const float *s = xv + i * n;
        if (is_max) {
            float m = -INFINITY;
            for (int64_t j = 0; j < n; j++) m = s[j] > m ? s[j] : m;
            y[i] = m;
        } else {
            double acc = 0.0;
            for (int64_t j = 0; j < n; j++) acc += s[j];
            y[i] = n > 0 ? (float)(acc / (double)n) : 0.0f;
        }
    }
    return NQ_OK;
}

static nq_status gavg_forward(nq_kctx *c) { return global_forward(c, 0); }
static nq_status gmax_infer(nq_kctx *c)
{
    return nq_iop_int_input(c) ? nq_gmaxpool_int_infer(c) : global_infer(c);
}
static nq_status gmax_forward(nq_kctx *c)
{
    return nq_iop_int_input(c) ? nq_gmaxpool_int_forward(c) : global_forward(c, 1);
}

const nq_op_def nq_def_GlobalAveragePool = {.name = "GlobalAveragePool", .infer = global_infer,
                                            .forward = gavg_forward};
const nq_op_def nq_def_GlobalMaxPool = {.name = "GlobalMaxPool", .infer = gmax_infer,
                                        .forward = gmax_forward};
