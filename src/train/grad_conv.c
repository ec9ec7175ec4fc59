/* Backward of Conv (float32, 1-D/2-D/3-D, groups incl. depthwise, strides,
 * pads, dilations, auto_pad), per image and group with G = dY_g [Mg, P]:
 *   dW_g += G col^T          (col = im2col(X_g) [K, P]; X_g itself for 1x1)
 *   dcol  = W_g^T G,  dX_g += col2im(dcol)
 *   dB[m] += sum of G row m
 * 3x3 stride-1 undilated convolutions with pads <= 2 and at least
 * WINO_MIN_CH channels in and out per group (on CPUs with AVX2) compute dX
 * instead as the convolution of G with the flipped, transposed kernel,
 * W'[c, m, i, j] = W[m, c, 2-i, 2-j], padded 2 - pad, by the forward's
 * Winograd kernel (kernels/winograd.h): 2.25x fewer products, no col2im.
 * The forward in training is the inference kernel (src/ops/conv.c).
 * Scratch: the column matrix and its gradient, 2 * K * P floats (plus the
 * transformed kernels and one image gradient on the Winograd path). */
#include <string.h>

#include "kernels/winograd.h"
#include "nnquant/kernels.h"
#include "ops/window.h"
#include "train/grad_internal.h"

static nq_status shape_of(const nq_gctx *c, nq_conv_shape *s)
{
    if (c->n_in < 2 || !c->in[0] || !c->in[1])
        return nq_grad_fail(c, NQ_ERR_INVALID_ARG, "needs inputs X and W");
    for (int i = 0; i < c->n_in && i < 3; i++)
        if (c->in[i] && c->in[i]->dtype != NQ_DTYPE_FLOAT32)
            return nq_grad_fail(c, NQ_ERR_UNSUPPORTED, "input %d dtype %s (float32 only)", i,
                                nq_dtype_name(c->in[i]->dtype));
    nq_kctx k = nq_gctx_kctx(c);
    return nq_conv_shape_read(&k, c->in[0], c->in[1], c->n_in > 2 ? c->in[2] : NULL, s);
}

enum { WINO_MIN_CH = 16 };

/* The Winograd input-gradient path: geometry of dX = conv(G, W') and the
 * scratch layout (floats: flipped kernels, their transform for every
 * group, one image-group gradient, then the kernel's own scratch). */
typedef struct wino_dx {
    int on;
    nq_f32_isa isa;
    nq_conv_geom g;      /* input G [Mg, out...], output [Cg, in...] */
    size_t flip, packed, img, kscratch; /* bytes, 64-byte multiples */
} wino_dx;

static size_t up64(size_t n) { return (n + 63) / 64 * 64; }

static void wino_dx_plan(const nq_conv_shape *s, wino_dx *w)
{
    memset(w, 0, sizeof *w);
    w->isa = nq_f32_isa_best();
    if (w->isa == NQ_F32_ISA_GENERIC || !nq_winograd_applies(&s->g) || s->Cg < WINO_MIN_CH ||
        s->Mg < WINO_MIN_CH)
        return;
    for (int i = 0; i < 2; i++)
        if (s->g.pad_begin[i] > 2 || s->g.pad_end[i] > 2) return;
    w->g = s->g;
    for (int i = 0; i < 2; i++) {
        w->g.in[i] = s->g.out[i];
        w->g.out[i] = s->g.in[i];
        w->g.pad_begin[i] = 2 - s->g.pad_begin[i];
        /* the last input rows a strided-away window never read get no gradient:
         * with stride 1 every input row is read, so out' = in exactly */
        w->g.pad_end[i] = s->g.in[i] + 2 - s->g.out[i] - w->g.pad_begin[i];
        if (w->g.pad_end[i] < 0) return;
    }
    w->flip = up64((size_t)(s->Cg * s->Mg * 9) * sizeof(float));
    w->packed = up64((size_t)s->group * nq_winograd_pack_w_floats(s->Cg, s->Mg) * sizeof(float));
    w->img = up64((size_t)(s->Cg * s->in_plane) * sizeof(float));
    w->kscratch = nq_winograd_scratch(&w->g, s->Mg, s->Cg);
    w->on = 1;
}

static size_t conv_grad_scratch(const nq_gctx *c)
{
    nq_conv_shape s;
    if (shape_of(c, &s) != NQ_OK) return 0;
    size_t gemm = up64(2 * (size_t)(s.K * s.out_plane) * sizeof(float));
    wino_dx w;
    wino_dx_plan(&s, &w);
    return gemm + (w.on ? w.flip + w.packed + w.img + w.kscratch : 0);
}

/* Transforms the flipped, transposed kernels of every group into `packed`. */
static void wino_dx_pack(const nq_conv_shape *s, const wino_dx *w, const float *wt, char *buf)
{
    float *flip = (float *)buf, *packed = (float *)(buf + w->flip);
    const size_t per_group = nq_winograd_pack_w_floats(s->Cg, s->Mg);
    for (int64_t gi = 0; gi < s->group; gi++) {
        const float *wg = wt + gi * s->Mg * s->K;
        for (int64_t m = 0; m < s->Mg; m++)
            for (int64_t ch = 0; ch < s->Cg; ch++)
                for (int k = 0; k < 9; k++)
                    flip[(ch * s->Mg + m) * 9 + k] = wg[(m * s->Cg + ch) * 9 + (8 - k)];
        nq_winograd_pack_w(s->Cg, s->Mg, flip, packed + (size_t)gi * per_group);
    }
}

/* Sum of a row, in 8 independent partial sums (vectorizable). */
static float row_sum(const float *r, int64_t n)
{
    float acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) acc[k] += r[i + k];
    float s = 0.0f;
    for (; i < n; i++) s += r[i];
    for (int k = 0; k < 8; k++) s += acc[k];
    return s;
}

static nq_status conv_backward(nq_gctx *c)
{
    const float *g = nq_gd_dout(c, 0);
    if (g == NULL) return NQ_OK;
    nq_conv_shape s;
    nq_status st = shape_of(c, &s);
    if (st) return st;
    float *dx = nq_gd_din(c, 0), *dw = nq_gd_din(c, 1), *db = nq_gd_din(c, 2);
    const float *x = c->in[0]->data, *w = c->in[1]->data;
    const int64_t P = s.out_plane, K = s.K;
    if (conv_grad_scratch(c) > c->scratch_size)
        return nq_grad_fail(c, NQ_ERR_INTERNAL, "scratch of %zu bytes, %zu needed",
                            c->scratch_size, conv_grad_scratch(c));
    float *col = c->scratch, *dcol = col + K * P;
    const int th = c->num_threads;
    wino_dx wd;
    wino_dx_plan(&s, &wd);
    char *wbuf = (char *)c->scratch + up64(2 * (size_t)(K * P) * sizeof(float));
    if (wd.on && dx != NULL) wino_dx_pack(&s, &wd, w, wbuf);
    const float *wpacked = (const float *)(wbuf + wd.flip);
    float *wimg = (float *)(wbuf + wd.flip + wd.packed);
    void *wscratch = wbuf + wd.flip + wd.packed + wd.img;
    const size_t wpg = wd.on ? nq_winograd_pack_w_floats(s.Cg, s.Mg) : 0;
    for (int64_t n = 0; n < s.N; n++)
        for (int64_t gi = 0; gi < s.group; gi++) {
            const float *xg = x + (n * s.C + gi * s.Cg) * s.in_plane;
            const float *gg = g + (n * s.M + gi * s.Mg) * P;
            const float *wg = w + gi * s.Mg * K;
            if (db != NULL)
                for (int64_t m = 0; m < s.Mg; m++) db[gi * s.Mg + m] += row_sum(gg + m * P, P);
            if (dw != NULL) {
                const float *cm = xg;
                if (!s.pointwise) {
                    nq_im2col_f32(&s.g, s.Cg, xg, col);
                    cm = col;
                }
                nq_sgemm(0, 1, s.Mg, K, P, 1.0f, gg, P, cm, P, 1.0f, dw + gi * s.Mg * K, K, th);
            }
            if (dx != NULL) {
                float *dxg = dx + (n * s.C + gi * s.Cg) * s.in_plane;
                if (wd.on) {
                    nq_winograd_f32(wd.isa, &wd.g, s.Mg, s.Cg, wpacked + (size_t)gi * wpg, gg,
                                    NULL, wimg, s.in_plane, wscratch);
                    const int64_t ni = s.Cg * s.in_plane;
                    for (int64_t i = 0; i < ni; i++) dxg[i] += wimg[i];
                } else if (s.pointwise) {
                    nq_sgemm(1, 0, K, P, s.Mg, 1.0f, wg, K, gg, P, 1.0f, dxg, P, th);
                } else {
                    nq_sgemm(1, 0, K, P, s.Mg, 1.0f, wg, K, gg, P, 0.0f, dcol, P, th);
                    nq_col2im_add_f32(&s.g, s.Cg, dcol, dxg);
                }
            }
        }
    return NQ_OK;
}

const nq_grad_def nq_grad_Conv = {.backward = conv_backward, .scratch = conv_grad_scratch};
