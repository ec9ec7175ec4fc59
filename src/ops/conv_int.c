/* Conv on integers (int_ops.h; docs/numerics.md, "Integer operators"):
 * X [N, C, in...] int8/uint8/int16 family, W [M, C/group, k...] int8 (int2..int4
 * in int8) or int16, B [M] int32 (int64 too with an int64 accumulator)
 * -> Y [N, M, out...] int32 (int64), exact. The geometry is the float
 * Conv's (1-D/2-D/3-D, groups, strides, pads, dilations, auto_pad).
 * Kernels, by shape:
 *  - one input channel per group (depthwise, any channel multiplier): a
 *    direct loop per output plane, row by row as the float depthwise
 *    (kernels/depthwise.h);
 *  - otherwise conv-as-GEMM with the weights as A: Y_g[Mg, P] = W_g[Mg, K]
 *    * cols[K, P] + B_g, cols the im2col of X (X itself for a 1x1,
 *    stride-1, unpadded kernel), built in tiles of output rows in scratch;
 *    an 8-bit operand of an int16 (or int64-accumulating) GEMM is widened
 *    to int16 (weights once per call, column tiles as they are built);
 *    int8 weights of an 8-bit GEMM are packed once per call where the CPU
 *    has the kernel for packed weights (nq_gemm_s8_pack_a).
 * Threads share out (image, tile) pieces (depthwise: output planes), each
 * with its own scratch slice; the integer GEMMs are single-threaded. */
#include <string.h>

#include "kernels/depthwise.h"
#include "kernels/int_internal.h"
#include "kernels/window3.h"
#include "nnquant/kernels.h"
#include "ops/int_ops.h"
#include "ops/window.h"

#ifdef NQ_HAVE_OPENMP
#include <omp.h>
#endif

/* Column tiles hold whole output rows, about this many bytes (at least one
 * row): a 28x28 image of 288 taps in int8 is one 221 KiB tile. */
enum { CONVI_TILE_BYTES = 1 << 19 };

typedef struct conv_iplan {
    nq_conv_shape s;
    nq_iaffine a;
    int depthwise;
    int64_t rows, row_len, tile, ntiles; /* output rows, their length, rows per tile */
    size_t xes, yes;    /* element bytes of X (as stored) and Y */
    size_t wide_w;      /* widened weights, rounded to 64 */
    size_t packed_g;    /* one group's packed int8 weights, rounded to 64 (0: none) */
    size_t shared;      /* widened or packed weights and bias, rounded to 64 */
    size_t col_bytes;   /* im2col tile (X's element size), rounded to 64 */
    size_t slice;       /* per worker: im2col tile + widened tile, rounded to 64 */
    int threads;
} conv_iplan;

static size_t round64(size_t n) { return (n + 63) / 64 * 64; }

static size_t istore_size(nq_istore s)
{
    static const size_t sz[] = {[NQ_ISTORE_S8] = 1, [NQ_ISTORE_U8] = 1, [NQ_ISTORE_S16] = 2,
                                [NQ_ISTORE_S32] = 4, [NQ_ISTORE_S64] = 8};
    return sz[s];
}

static nq_status plan_make(const nq_kctx *c, conv_iplan *p)
{
    memset(p, 0, sizeof *p);
    nq_status st = nq_iaffine_make(c, 2, &p->a);
    if (st) return st;
    const nq_tensor *x = c->in[0], *w = c->in[1], *b = c->n_in > 2 ? c->in[2] : NULL;
    if ((st = nq_conv_shape_read(c, x, w, b, &p->s)) != NQ_OK) return st;
    p->depthwise = p->s.Cg == 1 && p->s.group > 1;
    p->xes = istore_size(p->a.x);
    p->yes = p->a.acc64 ? 8 : 4;
    p->row_len = p->s.g.out[p->s.g.nsp - 1];
    p->rows = p->s.out_plane / (p->row_len ? p->row_len : 1);
    int threads = c->num_threads < 1 ? 1 : c->num_threads;
#ifndef NQ_HAVE_OPENMP
    threads = 1;
#endif
    if (p->depthwise) { /* reads every operand type as it is: no scratch */
        int64_t planes = p->s.N * p->s.M;
        p->threads = planes < threads ? (int)(planes > 0 ? planes : 1) : threads;
        return NQ_OK;
    }
    p->wide_w = round64(p->a.widen_w ? (size_t)(p->s.M * p->s.K) * 2 : 0);
    if (p->a.kind == NQ_IGEMM_S8S8 || p->a.kind == NQ_IGEMM_S8U8)
        p->packed_g = round64(nq_gemm_s8_packed_a_bytes(p->s.Mg, p->s.K));
    p->shared = p->wide_w + (size_t)p->s.group * p->packed_g +
                round64(p->a.widen_b ? (size_t)p->s.M * 8 : 0);
    /* bytes of one output row in the column tiles */
    const size_t col_row = p->s.pointwise ? 0 : (size_t)(p->s.K * p->row_len) * p->xes;
    const size_t wide_row = p->a.widen_x ? (size_t)(p->s.K * p->row_len) * 2 : 0;
    p->tile = p->rows;
    if (col_row + wide_row > 0) {
        int64_t t = CONVI_TILE_BYTES / (int64_t)(col_row + wide_row);
        if (t < p->tile) p->tile = t < 1 ? 1 : t;
    }
    if (p->s.N < threads && p->rows > 1) { /* split images so that every thread gets work */
        int64_t parts = (threads + p->s.N - 1) / (p->s.N > 0 ? p->s.N : 1);
        int64_t t = (p->rows + parts - 1) / parts;
        if (t < p->tile) p->tile = t;
    }
    if (p->tile < 1) p->tile = 1;
    p->ntiles = p->rows > 0 ? (p->rows + p->tile - 1) / p->tile : 0;
    int64_t pieces = p->s.N * p->ntiles;
    p->threads = pieces < threads ? (int)(pieces > 0 ? pieces : 1) : threads;
    p->col_bytes = round64(col_row * (size_t)p->tile);
    p->slice = p->col_bytes + round64(wide_row * (size_t)p->tile);
    return NQ_OK;
}

nq_status nq_conv_int_infer(nq_kctx *c)
{
    conv_iplan p;
    nq_status st = plan_make(c, &p);
    if (st) return st;
    if (c->n_out < 1 || !c->out[0]) return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "needs output Y");
    int64_t dims[2 + NQ_MAX_SPATIAL] = {p.s.N, p.s.M};
    for (int i = 0; i < p.s.g.nsp; i++) dims[2 + i] = p.s.g.out[i];
    return nq_tensor_init(c->out[0], p.a.out, 2 + p.s.g.nsp, dims, c->err);
}

size_t nq_conv_int_scratch(const nq_kctx *c)
{
    conv_iplan p;
    if (plan_make(c, &p) != NQ_OK) return 0;
    return p.shared + p.slice * (size_t)p.threads;
}

/* ---- depthwise: one output plane per call (nq_dw_int_plane) ---- */

static int64_t bias_at(const nq_tensor *b, int64_t i)
{
    if (b == NULL) return 0;
    return b->dtype == NQ_DTYPE_INT64 ? ((const int64_t *)b->data)[i]
                                      : ((const int32_t *)b->data)[i];
}

static void conv_depthwise(const conv_iplan *p, const nq_tensor *x, const nq_tensor *w,
                           const nq_tensor *b, void *y)
{
    nq_window3 g;
    nq_window3_from_geom(&p->s.g, &g);
    const nq_dw_int_type xt = p->a.x == NQ_ISTORE_S16  ? NQ_DW_INT_S16
                             : p->a.x == NQ_ISTORE_U8 ? NQ_DW_INT_U8
                                                      : NQ_DW_INT_S8;
    const nq_dw_int_type wt = p->a.w == NQ_ISTORE_S16 ? NQ_DW_INT_S16 : NQ_DW_INT_S8;
    const nq_int_isa isa = nq_int_isa_best();
    const size_t wes = istore_size(p->a.w);
    const int64_t planes = p->s.N * p->s.M;
#ifdef NQ_HAVE_OPENMP
#pragma omp parallel for num_threads(p->threads) schedule(static) if (p->threads > 1)
#endif
    for (int64_t i = 0; i < planes; i++) {
        const int64_t n = i / p->s.M, oc = i % p->s.M, ic = oc / p->s.Mg;
        nq_dw_int_plane(isa, p->a.acc64, xt, wt, &g,
                        (const char *)x->data + (size_t)((n * p->s.C + ic) * p->s.in_plane) * p->xes,
                        (const char *)w->data + (size_t)(oc * p->s.kprod) * wes, bias_at(b, oc),
                        (char *)y + (size_t)(i * p->s.out_plane) * p->yes);
    }
}

/* ---- conv-as-GEMM ---- */

/* Image n, output rows [r0, r1), every group; slice: this worker's scratch. */
static void conv_piece(const conv_iplan *p, const void *x, const void *w, const void *bias,
                       void *y, int64_t n, int64_t r0, int64_t r1, char *slice)
{
    const int64_t P = p->s.out_plane, cols = (r1 - r0) * p->row_len;
    void *colbuf = slice;
    int16_t *wide = (int16_t *)(void *)(slice + p->col_bytes);
    for (int64_t gi = 0; gi < p->s.group; gi++) {
        const char *xg =
            (const char *)x + (size_t)((n * p->s.C + gi * p->s.Cg) * p->s.in_plane) * p->xes;
        const void *B;
        int64_t ldb;
        if (p->s.pointwise) {
            B = xg + (size_t)(r0 * p->row_len) * p->xes;
            ldb = P;
        } else {
            nq_im2col_bytes_rows(&p->s.g, p->s.Cg, p->xes, xg, colbuf, cols, r0, r1);
            B = colbuf;
            ldb = cols;
        }
        if (p->a.widen_x) {
            for (int64_t k = 0; k < p->s.K; k++)
                nq_iop_widen_s16(p->a.x, (const char *)B + (size_t)(k * ldb) * p->xes, cols,
                                 wide + k * cols);
            B = wide;
            ldb = cols;
        }
        const void *bg = bias ? (const char *)bias + (size_t)(gi * p->s.Mg) * p->yes : NULL;
        void *yg = (char *)y + (size_t)((n * p->s.M + gi * p->s.Mg) * P + r0 * p->row_len) * p->yes;
        if (p->packed_g) { /* w: the packed weights of every group */
            const void *pg = (const char *)w + (size_t)gi * p->packed_g;
            if (p->a.kind == NQ_IGEMM_S8S8)
                nq_gemm_s8s8s32_packed(p->s.Mg, cols, p->s.K, pg, B, ldb, bg, yg, P);
            else
                nq_gemm_s8u8s32_packed(p->s.Mg, cols, p->s.K, pg, B, ldb, bg, yg, P);
            continue;
        }
        const void *wg = (const char *)w + (size_t)(gi * p->s.Mg * p->s.K) * p->a.wk;
        nq_iaffine_gemm(&p->a, 0, p->s.Mg, cols, p->s.K, wg, p->s.K, B, ldb, bg, yg, P);
    }
}

nq_status nq_conv_int_forward(nq_kctx *c)
{
    conv_iplan p;
    nq_status st = plan_make(c, &p);
    if (st) return st;
    const size_t need = p.shared + p.slice * (size_t)p.threads;
    if (need > c->scratch_size)
        return nq_kctx_fail(c, NQ_ERR_INTERNAL, "scratch of %zu bytes, %zu needed",
                            c->scratch_size, need);
    const nq_tensor *x = c->in[0], *w = c->in[1], *b = c->n_in > 2 ? c->in[2] : NULL;
    void *y = c->out[0]->data;
    if (nq_tensor_numel(c->out[0]) == 0) return NQ_OK;
    if (p.depthwise) {
        conv_depthwise(&p, x, w, b, y);
        return NQ_OK;
    }
    char *scratch = c->scratch;
    const void *wk = w->data, *bias = b ? b->data : NULL;
    if (p.a.widen_w) {
        nq_iop_widen_s16(p.a.w, w->data, p.s.M * p.s.K, (int16_t *)(void *)scratch);
        wk = scratch;
    }
    if (p.packed_g) { /* every group's weights packed once, shared by all pieces */
        for (int64_t gi = 0; gi < p.s.group; gi++)
            nq_gemm_s8_pack_a(p.s.Mg, p.s.K, (const int8_t *)w->data + gi * p.s.Mg * p.s.K,
                              p.s.K, scratch + p.wide_w + (size_t)gi * p.packed_g);
        wk = scratch + p.wide_w;
    }
    if (p.a.widen_b) {
        int64_t *wb = (int64_t *)(void *)(scratch + p.wide_w + (size_t)p.s.group * p.packed_g);
        for (int64_t i = 0; i < p.s.M; i++) wb[i] = ((const int32_t *)b->data)[i];
        bias = wb;
    }
    char *slices = scratch + p.shared;
    const int64_t pieces = p.s.N * p.ntiles;
#ifdef NQ_HAVE_OPENMP
#pragma omp parallel for num_threads(p.threads) schedule(static) if (p.threads > 1)
#endif
    for (int64_t i = 0; i < pieces; i++) {
        const int64_t n = i / p.ntiles, r0 = i % p.ntiles * p.tile;
        const int64_t r1 = r0 + p.tile < p.rows ? r0 + p.tile : p.rows;
#ifdef NQ_HAVE_OPENMP
        char *slice = slices + p.slice * (size_t)omp_get_thread_num();
#else
        char *slice = slices;
#endif
        conv_piece(&p, x->data, wk, bias, y, n, r0, r1, slice);
    }
    return NQ_OK;
}
