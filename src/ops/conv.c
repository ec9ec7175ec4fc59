/* Conv (opset 1..22 forms), float32, 1-D/2-D/3-D, groups.
 * X [N, C, in...], W [M, C/group, k...], B [M] -> Y [N, M, out...].
 * Kernels, by shape:
 *  - 2-D depthwise (one input channel per group): a direct loop per
 *    output plane (kernels/depthwise.h);
 *  - 1x1 stride-1 unpadded: nq_sgemm on X itself (no im2col);
 *  - otherwise, on CPUs with AVX2: 3x3 stride-1 undilated 2-D convs with
 *    at least CONV_WINO_MIN_CH channels in and out per group by Winograd
 *    F(2x2, 3x3) (kernels/winograd.h), the others by the fused im2col +
 *    GEMM kernel (kernels/conv_gemm.h); weights transformed/packed once
 *    per call;
 *  - otherwise: im2col (in tiles of output rows) + nq_sgemm.
 * With several threads, images are spread over threads (each with its
 * scratch slice, GEMMs single-threaded); fewer images than threads run the
 * im2col + nq_sgemm path, nq_sgemm splitting each GEMM over the threads.
 * Fused nodes (c->epi: BatchNormalization, Relu, Clip, ... the runtime
 * appended) run on each image (depthwise: each plane) as soon as it is done. */
#include <string.h>

#include "kernels/conv_gemm.h"
#include "kernels/depthwise.h"
#include "kernels/winograd.h"
#include "kernels/window3.h"
#include "nnquant/kernels.h"
#include "ops/int_ops.h"
#include "ops/window.h"

#ifdef NQ_HAVE_OPENMP
#include <omp.h>
#endif

/* Column matrices are built in tiles of whole output rows of about this
 * many bytes (at least one row), which bounds the scratch for large images.
 * On the ConvNet shapes (28x28, 14x14), tiles of 128 KiB..1 MiB and several
 * small images per GEMM measured no faster than one whole image per GEMM. */
enum { CONV_TILE_BYTES = 1 << 20, CONV_FUSED_MIN_K = 32, CONV_WINO_MIN_CH = 16 };

typedef struct conv_plan {
    nq_conv_shape s;
    int depthwise;  /* 2-D, one input channel per group: direct loop */
    int64_t rows, row_len; /* output rows (all spatial dims but the last) and their length */
    int64_t tile;   /* output rows per im2col tile */
    int fused;      /* use nq_conv_gemm_f32 (or Winograd) with `isa` */
    int wino;       /* fused by Winograd F(2x2, 3x3) */
    nq_f32_isa isa;
    size_t packed_w; /* scratch bytes of the packed weights (fused), rounded to 64 */
    int threads;    /* parallel workers (each with its scratch slice) */
    size_t slice;   /* scratch bytes per worker, rounded to 64 */
} conv_plan;

static nq_status check_f32(const nq_kctx *c, const nq_tensor *t, const char *what)
{
    if (t->dtype != NQ_DTYPE_FLOAT32)
        return nq_kctx_fail(c, NQ_ERR_UNSUPPORTED, "%s has dtype %s; only float32 is supported",
                            what, nq_dtype_name(t->dtype));
    return NQ_OK;
}

static nq_status conv_plan_make(const nq_kctx *c, conv_plan *p)
{
    memset(p, 0, sizeof *p);
    if (c->n_in < 2 || !c->in[0] || !c->in[1])
        return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "needs inputs X and W");
    const nq_tensor *x = c->in[0], *w = c->in[1], *b = c->n_in > 2 ? c->in[2] : NULL;
    nq_status st;
    if ((st = check_f32(c, x, "input X")) || (st = check_f32(c, w, "weight W"))) return st;
    if (b && (st = check_f32(c, b, "bias B"))) return st;
    if ((st = nq_conv_shape_read(c, x, w, b, &p->s)) != NQ_OK) return st;
    p->row_len = p->s.g.out[p->s.g.nsp - 1];
    p->rows = p->s.out_plane / (p->row_len ? p->row_len : 1);
    const int64_t row_floats = p->s.K * p->row_len > 0 ? p->s.K * p->row_len : 1;
    p->tile = CONV_TILE_BYTES / (int64_t)sizeof(float) / row_floats;
    if (p->tile < 1) p->tile = 1;
    if (p->tile > p->rows) p->tile = p->rows;
    p->depthwise = p->s.Cg == 1 && p->s.group > 1 && p->s.g.nsp == 2;
    int threads = c->num_threads < 1 ? 1 : c->num_threads;
#ifndef NQ_HAVE_OPENMP
    threads = 1;
#endif
    int64_t par = p->depthwise ? p->s.N * p->s.M : p->s.N; /* independent pieces */
    p->threads = par < threads ? (int)(par > 0 ? par : 1) : threads;
    p->isa = nq_f32_isa_best();
    /* below CONV_FUSED_MIN_K the micro-kernel's write-back dominates */
    p->fused = !p->depthwise && !p->s.pointwise && p->isa != NQ_F32_ISA_GENERIC &&
               p->s.K >= CONV_FUSED_MIN_K && (p->s.N >= threads || threads == 1);
    p->wino = p->fused && nq_winograd_applies(&p->s.g) && p->s.Cg >= CONV_WINO_MIN_CH &&
              p->s.Mg >= CONV_WINO_MIN_CH;
    if (p->fused) {
        size_t per_group = (p->wino ? nq_winograd_pack_w_floats(p->s.Mg, p->s.Cg)
                                    : nq_f32_pack_a_floats(p->s.Mg, p->s.K)) * sizeof(float);
        p->packed_w = ((size_t)p->s.group * per_group + 63) / 64 * 64;
        p->slice = p->wino ? nq_winograd_scratch(&p->s.g, p->s.Cg, p->s.Mg)
                           : nq_conv_gemm_scratch(&p->s.g, p->s.Cg, p->s.Mg);
    } else {
        size_t floats = p->depthwise || p->s.pointwise ? 0 : (size_t)(p->s.K * p->tile * p->row_len);
        p->slice = (floats * sizeof(float) + 63) / 64 * 64;
    }
    return NQ_OK;
}

static nq_status conv_infer(nq_kctx *c)
{
    if (nq_iop_int_input(c)) return nq_conv_int_infer(c); /* conv_int.c */
    conv_plan p;
    nq_status st = conv_plan_make(c, &p);
    if (st) return st;
    if (c->n_out < 1 || !c->out[0]) return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "needs output Y");
    int64_t dims[2 + NQ_MAX_SPATIAL] = {p.s.N, p.s.M};
    for (int i = 0; i < p.s.g.nsp; i++) dims[2 + i] = p.s.g.out[i];
    return nq_tensor_init(c->out[0], NQ_DTYPE_FLOAT32, 2 + p.s.g.nsp, dims, c->err);
}

static size_t conv_scratch(const nq_kctx *c)
{
    if (nq_iop_int_input(c)) return nq_conv_int_scratch(c);
    conv_plan p;
    if (conv_plan_make(c, &p) != NQ_OK) return 0;
    return p.packed_w + p.slice * (size_t)p.threads;
}

/* y[m][0:P] = bias[m] (or 0) for rows m of one image/group. */
static void fill_bias(float *y, const float *bias, int64_t rows, int64_t P)
{
    for (int64_t m = 0; m < rows; m++) {
        float v = bias ? bias[m] : 0.0f;
        for (int64_t i = 0; i < P; i++) y[m * P + i] = v;
    }
}

/* Floats of one group's packed (or Winograd-transformed) weights. */
static size_t pw_group_floats(const conv_plan *p)
{
    return p->wino ? nq_winograd_pack_w_floats(p->s.Mg, p->s.Cg) : nq_f32_pack_a_floats(p->s.Mg, p->s.K);
}

/* Image n through the fused kernels; pw: the packed weights of every group. */
static void conv_image_fused(const conv_plan *p, const float *x, const float *pw,
                             const float *bias, float *y, int64_t n, void *scratch)
{
    const size_t pw_group = pw_group_floats(p);
    for (int64_t gi = 0; gi < p->s.group; gi++) {
        const float *pwg = pw + (size_t)gi * pw_group, *bg = bias ? bias + gi * p->s.Mg : NULL;
        const float *xg = x + (n * p->s.C + gi * p->s.Cg) * p->s.in_plane;
        float *yg = y + (n * p->s.M + gi * p->s.Mg) * p->s.out_plane;
        if (p->wino)
            nq_winograd_f32(p->isa, &p->s.g, p->s.Cg, p->s.Mg, pwg, xg, bg, yg, p->s.out_plane, scratch);
        else
            nq_conv_gemm_f32(p->isa, &p->s.g, p->s.Cg, p->s.Mg, pwg, xg, bg, yg, p->s.out_plane, scratch);
    }
}

/* Image n through im2col + GEMM; scratch is this worker's slice. */
static void conv_image(const conv_plan *p, const float *x, const float *w, const float *bias,
                       float *y, int64_t n, float *scratch, int gemm_threads)
{
    const int64_t P = p->s.out_plane;
    for (int64_t gi = 0; gi < p->s.group; gi++) {
        const float *xg = x + (n * p->s.C + gi * p->s.Cg) * p->s.in_plane;
        const float *wg = w + gi * p->s.Mg * p->s.K;
        float *yg = y + (n * p->s.M + gi * p->s.Mg) * P;
        const float beta = bias ? 1.0f : 0.0f;
        if (bias) fill_bias(yg, bias + gi * p->s.Mg, p->s.Mg, P);
        if (p->s.pointwise) {
            nq_sgemm(0, 0, p->s.Mg, P, p->s.K, 1.0f, wg, p->s.K, xg, P, beta, yg, P, gemm_threads);
            continue;
        }
        for (int64_t r0 = 0; r0 < p->rows; r0 += p->tile) {
            const int64_t r1 = r0 + p->tile < p->rows ? r0 + p->tile : p->rows;
            const int64_t cols = (r1 - r0) * p->row_len;
            nq_im2col_f32_rows(&p->s.g, p->s.Cg, xg, scratch, cols, r0, r1);
            nq_sgemm(0, 0, p->s.Mg, cols, p->s.K, 1.0f, wg, p->s.K, scratch, cols, beta,
                     yg + r0 * p->row_len, P, gemm_threads);
        }
    }
}

static nq_status conv_forward(nq_kctx *c)
{
    if (nq_iop_int_input(c)) {
        if (c->n_epi > 0) return nq_kctx_fail(c, NQ_ERR_INTERNAL, "fused nodes on an integer Conv");
        return nq_conv_int_forward(c);
    }
    conv_plan p;
    nq_status st = conv_plan_make(c, &p);
    if (st) return st;
    const size_t need = p.packed_w + p.slice * (size_t)p.threads;
    if (need > c->scratch_size)
        return nq_kctx_fail(c, NQ_ERR_INTERNAL, "scratch of %zu bytes, %zu needed",
                            c->scratch_size, need);
    const float *x = c->in[0]->data, *w = c->in[1]->data;
    const float *bias = c->n_in > 2 && c->in[2] ? c->in[2]->data : NULL;
    float *y = c->out[0]->data;
    if (p.depthwise) {
        /* blocks of planes: whole images when there are enough for the threads */
        const int64_t blk = p.s.N >= p.threads && p.s.M > 0 ? p.s.M : 1, blocks = p.s.N * p.s.M / blk;
        nq_window3 g;
        nq_window3_from_geom(&p.s.g, &g);
#ifdef NQ_HAVE_OPENMP
#pragma omp parallel for num_threads(p.threads) schedule(static) if (p.threads > 1)
#endif
        for (int64_t bi = 0; bi < blocks; bi++) {
            /* a whole image, or one plane: oc0 is 0 or the block has one plane */
            const int64_t i0 = bi * blk, n = i0 / p.s.M, oc0 = i0 % p.s.M;
            const nq_dw_f32_run r = {.n = blk, .mg = p.s.Mg,
                                     .x = x + (n * p.s.C + oc0 / p.s.Mg) * p.s.in_plane,
                                     .x_plane = p.s.in_plane, .w = w + oc0 * p.s.kprod,
                                     .w_plane = p.s.kprod, .bias = bias ? bias + oc0 : NULL,
                                     .y = y + i0 * p.s.out_plane, .y_plane = p.s.out_plane};
            nq_dw_f32_planes(p.isa, &g, &r);
            nq_kctx_epilogues(c, y, i0, i0 + blk);
        }
        return NQ_OK;
    }
    char *scratch = c->scratch;
    if (p.fused) {
        float *pw = c->scratch;
        const size_t pw_group = pw_group_floats(&p);
        for (int64_t gi = 0; gi < p.s.group; gi++) {
            const float *wg = w + gi * p.s.Mg * p.s.K;
            if (p.wino) nq_winograd_pack_w(p.s.Mg, p.s.Cg, wg, pw + (size_t)gi * pw_group);
            else nq_f32_pack_a(p.s.Mg, p.s.K, wg, p.s.K, pw + (size_t)gi * pw_group);
        }
        char *slices = scratch + p.packed_w;
#ifdef NQ_HAVE_OPENMP
#pragma omp parallel for num_threads(p.threads) schedule(static) if (p.threads > 1)
        for (int64_t n = 0; n < p.s.N; n++) {
            conv_image_fused(&p, x, pw, bias, y, n,
                             slices + p.slice * (size_t)omp_get_thread_num());
            nq_kctx_epilogues(c, y, n * p.s.M, (n + 1) * p.s.M);
        }
#else
        for (int64_t n = 0; n < p.s.N; n++) {
            conv_image_fused(&p, x, pw, bias, y, n, slices);
            nq_kctx_epilogues(c, y, n * p.s.M, (n + 1) * p.s.M);
        }
#endif
        return NQ_OK;
    }
    if (p.threads <= 1) {
        for (int64_t n = 0; n < p.s.N; n++) {
            conv_image(&p, x, w, bias, y, n, (float *)scratch, c->num_threads);
            nq_kctx_epilogues(c, y, n * p.s.M, (n + 1) * p.s.M);
        }
        return NQ_OK;
    }
#ifdef NQ_HAVE_OPENMP
#pragma omp parallel for num_threads(p.threads) schedule(static)
    for (int64_t n = 0; n < p.s.N; n++) {
        conv_image(&p, x, w, bias, y, n,
                   (float *)(scratch + p.slice * (size_t)omp_get_thread_num()), 1);
        nq_kctx_epilogues(c, y, n * p.s.M, (n + 1) * p.s.M);
    }
#endif
    return NQ_OK;
}

const nq_op_def nq_def_Conv = {.name = "Conv", .infer = conv_infer, .forward = conv_forward,
                               .scratch = conv_scratch, .takes_epilogues = 1};
