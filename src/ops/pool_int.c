/* MaxPool and GlobalMaxPool on integers (int_ops.h): X [N, C, spatial...]
 * of any integer dtype (int2..int4 and uint4 in their int8/uint8 storage,
 * int8, uint8, int16, int32, int64) -> Y of the same dtype. The geometry is
 * the float MaxPool's (kernel_shape, strides, pads, dilations, auto_pad,
 * ceil_mode, 1-D/2-D/3-D). Windows start at the minimum of the dtype, so
 * padding never wins, and a window lying wholly in the padding gives that
 * minimum. The Indices output stays with pool.c. Planes run row by row
 * (one pass per kernel tap over a contiguous output row) with a direct
 * loop for the common 2x2 stride-2 window; threads split the planes. */
#include <string.h>

#include "kernels/window3.h"
#include "ops/int_ops.h"
#include "ops/window.h"

typedef struct ipool_plan {
    nq_conv_geom g;
    nq_window3 w;
    int64_t planes, in_plane, out_plane;
    int64_t tmin; /* the dtype's minimum */
    nq_istore st;
    int threads;
} ipool_plan;

static nq_status ipool_plan_make(const nq_kctx *c, ipool_plan *p)
{
    memset(p, 0, sizeof *p);
    if (c->n_out < 1 || !c->out[0]) return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "needs output Y");
    const nq_tensor *x = c->in[0];
    p->st = nq_istore_of(x->dtype);
    nq_dtype_int_range(x->dtype, &p->tmin, NULL);
    if (x->ndim < 3)
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "input X has rank %d; expected [N, C, spatial...]",
                            x->ndim);
    nq_auto_pad ap;
    nq_status st = nq_window_read(c, x->ndim - 2, x->dims + 2, NULL, &p->g, &ap);
    if (st) return st;
    const int ceil_mode = nq_node_attr_int(c->node, "ceil_mode", 0) != 0;
    if ((st = nq_window_out(c, &p->g, ap, ceil_mode))) return st;
    nq_window3_from_geom(&p->g, &p->w);
    p->planes = x->dims[0] * x->dims[1];
    p->in_plane = p->w.in[0] * p->w.in[1] * p->w.in[2];
    p->out_plane = p->w.out[0] * p->w.out[1] * p->w.out[2];
    p->threads = c->num_threads < 1 ? 1 : c->num_threads;
    if (p->planes < p->threads) p->threads = p->planes > 0 ? (int)p->planes : 1;
    return NQ_OK;
}

nq_status nq_maxpool_int_infer(nq_kctx *c)
{
    ipool_plan p;
    nq_status st = ipool_plan_make(c, &p);
    if (st) return st;
    const nq_tensor *x = c->in[0];
    int64_t dims[2 + NQ_MAX_SPATIAL] = {x->dims[0], x->dims[1]};
    for (int i = 0; i < p.g.nsp; i++) dims[2 + i] = p.g.out[i];
    return nq_tensor_init(c->out[0], x->dtype, x->ndim, dims, c->err);
}

static int is_2x2s2(const nq_window3 *w)
{
    return w->out[0] == 1 && w->in[0] == 1 && w->k[1] == 2 && w->k[2] == 2 && w->s[1] == 2 &&
           w->s[2] == 2 && w->d[1] == 1 && w->d[2] == 1 && w->pb[1] == 0 && w->pb[2] == 0 &&
           2 * w->out[1] <= w->in[1] && 2 * w->out[2] <= w->in[2];
}

typedef void (*ipool_fn)(const ipool_plan *p, const void *x, void *y);

#define DEFINE_MAXPOOL(NAME, T)                                                                 \
    static void NAME(const ipool_plan *p, const void *xv, void *yv)                            \
    {                                                                                          \
        const nq_window3 *w = &p->w;                                                           \
        const T *x = xv;                                                                       \
        T *y = yv;                                                                             \
        const int64_t OW = w->out[2], IW = w->in[2], s = w->s[2];                              \
        if (is_2x2s2(w)) {                                                                     \
            for (int64_t oh = 0; oh < w->out[1]; oh++, y += OW) {                              \
                const T *r0 = x + 2 * oh * IW, *r1 = r0 + IW;                                  \
                for (int64_t ow = 0; ow < OW; ow++) {                                          \
                    T a = r0[2 * ow] > r0[2 * ow + 1] ? r0[2 * ow] : r0[2 * ow + 1];           \
                    T b = r1[2 * ow] > r1[2 * ow + 1] ? r1[2 * ow] : r1[2 * ow + 1];           \
                    y[ow] = a > b ? a : b;                                                     \
                }                                                                              \
            }                                                                                  \
            return;                                                                            \
        }                                                                                      \
        for (int64_t i = 0; i < p->out_plane; i++) y[i] = (T)p->tmin;                          \
        for (int64_t kd = 0; kd < w->k[0]; kd++)                                               \
            for (int64_t kh = 0; kh < w->k[1]; kh++)                                           \
                for (int64_t kw = 0; kw < w->k[2]; kw++) {                                     \
                    const int64_t off_w = kw * w->d[2] - w->pb[2];                             \
                    int64_t lo, hi;                                                            \
                    nq_window_row_range(OW, IW, s, off_w, &lo, &hi);                           \
                    NQ_WINDOW3_TAP_ROWS(w, kd, kh, xo, yo,                                     \
                        const T *xr = x + xo + off_w;                                          \
                        T *yr = y + yo;                                                        \
                        for (int64_t o = lo; o < hi; o++) {                                    \
                            T v = xr[o * s];                                                   \
                            yr[o] = v > yr[o] ? v : yr[o];                                     \
                        })                                                                     \
                }                                                                              \
    }

DEFINE_MAXPOOL(maxpool_s8, int8_t)
DEFINE_MAXPOOL(maxpool_u8, uint8_t)
DEFINE_MAXPOOL(maxpool_s16, int16_t)
DEFINE_MAXPOOL(maxpool_s32, int32_t)
DEFINE_MAXPOOL(maxpool_s64, int64_t)

static const ipool_fn maxpool_fns[] = {
    [NQ_ISTORE_S8] = maxpool_s8,   [NQ_ISTORE_U8] = maxpool_u8,  [NQ_ISTORE_S16] = maxpool_s16,
    [NQ_ISTORE_S32] = maxpool_s32, [NQ_ISTORE_S64] = maxpool_s64};
static const size_t istore_bytes[] = {[NQ_ISTORE_S8] = 1, [NQ_ISTORE_U8] = 1, [NQ_ISTORE_S16] = 2,
                                      [NQ_ISTORE_S32] = 4, [NQ_ISTORE_S64] = 8};

nq_status nq_maxpool_int_forward(nq_kctx *c)
{
    ipool_plan p;
    nq_status st = ipool_plan_make(c, &p);
    if (st) return st;
    const ipool_fn fn = maxpool_fns[p.st];
    const size_t es = istore_bytes[p.st];
    const char *x = c->in[0]->data;
    char *y = c->out[0]->data;
#ifdef NQ_HAVE_OPENMP
#pragma omp parallel for num_threads(p.threads) schedule(static) if (p.threads > 1)
#endif
    for (int64_t i = 0; i < p.planes; i++)
        fn(&p, x + (size_t)(i * p.in_plane) * es, y + (size_t)(i * p.out_plane) * es);
    return NQ_OK;
}

/* ---- GlobalMaxPool ---- */

nq_status nq_gmaxpool_int_infer(nq_kctx *c)
{
    if (c->n_out < 1 || !c->out[0]) return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "needs output Y");
    const nq_tensor *x = c->in[0];
    if (x->ndim < 3)
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "input X has rank %d; expected [N, C, spatial...]",
                            x->ndim);
    int64_t dims[NQ_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) dims[i] = i < 2 ? x->dims[i] : 1;
    return nq_tensor_init(c->out[0], x->dtype, x->ndim, dims, c->err);
}

#define DEFINE_GMAX(NAME, T)                                                                    \
    static void NAME(const void *xv, int64_t planes, int64_t n, int64_t tmin, void *yv)         \
    {                                                                                          \
        const T *x = xv;                                                                       \
        T *y = yv;                                                                             \
        for (int64_t i = 0; i < planes; i++, x += n) {                                         \
            T m = (T)tmin;                                                                     \
            for (int64_t j = 0; j < n; j++) m = x[j] > m ? x[j] : m;                           \
            y[i] = m;                                                                          \
        }                                                                                      \
    }

DEFINE_GMAX(gmax_s8, int8_t)
DEFINE_GMAX(gmax_u8, uint8_t)
DEFINE_GMAX(gmax_s16, int16_t)
DEFINE_GMAX(gmax_s32, int32_t)
DEFINE_GMAX(gmax_s64, int64_t)

typedef void (*gmax_fn)(const void *x, int64_t planes, int64_t n, int64_t tmin, void *y);
static const gmax_fn gmax_fns[] = {[NQ_ISTORE_S8] = gmax_s8,   [NQ_ISTORE_U8] = gmax_u8,
                                   [NQ_ISTORE_S16] = gmax_s16, [NQ_ISTORE_S32] = gmax_s32,
                                   [NQ_ISTORE_S64] = gmax_s64};

nq_status nq_gmaxpool_int_forward(nq_kctx *c)
{
    const nq_tensor *x = c->in[0];
    if (x->ndim < 3 || c->n_out < 1 || !c->out[0])
        return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "needs input X [N, C, spatial...] and output Y");
    const int64_t planes = x->dims[0] * x->dims[1];
    const int64_t n = planes ? nq_tensor_numel(x) / planes : 0;
    int64_t tmin = 0;
    nq_dtype_int_range(x->dtype, &tmin, NULL);
    gmax_fns[nq_istore_of(x->dtype)](x->data, planes, n, tmin, c->out[0]->data);
    return NQ_OK;
}
