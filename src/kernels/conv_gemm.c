/* Float32 convolution GEMM with im2col fused in (see conv_gemm.h).
 *
 * The 16x6 micro-kernel (micro_f32.h) reads, for each k (channel, kernel
 * tap), 6 consecutive column values at b + off[k]. Two drivers feed it:
 *
 *  - direct (strides 1 along H and W, 1-D/2-D): the image is copied once
 *    into a zero-padded layout whose rows are W + max(pad_left, pad_right)
 *    long; then the column value of tap k at position q = oh*Wp + ow is
 *    xp[off[k] + q] for every q: no im2col at all. The Wp - OW positions at
 *    the end of each row are junk: computed, then skipped by the stores.
 *  - tiled (everything else): blocks of whole output rows (or parts of one
 *    long row) and of at most KC_MAX rows of K; each block's column tile is
 *    built by im2col, about L2-sized, and read in place (off[k] = k*ldb).
 *
 * The first K block starts from the bias; later ones add to Y. */
#include <string.h>

#include "kernels/conv_gemm.h"
#include "kernels/micro_f32.h"
#include "kernels/window3.h"

enum {
    MR = NQ_F32_MR,
    NR = NQ_F32_NR,
    KC_MAX = 384,         /* tiled: K block (bounds the column tile) */
    KC_DIRECT = 2048,     /* direct: K block (no tile; one block is fastest) */
    B_BYTES = 512 * 1024, /* tiled: column tile, about L2-resident */
    Y_BYTES = 64 * 1024   /* direct: output rows per block (as if stored densely) */
};

/* ---- geometry of the two drivers ---- */

typedef struct plan_t {
    nq_window3 w;
    int64_t C, M, K, kc, P, row_len, kprod;
    int direct;
    /* tiled */
    int64_t cols;     /* columns per block (at most) */
    int whole_rows;   /* blocks are whole output rows, else parts of one row */
    /* direct */
    int64_t Wp, rows_p, plane_p, lead, xp_floats, block_rows;
} plan_t;

static void plan(const nq_conv_geom *g, int64_t channels, int64_t M, plan_t *p)
{
    memset(p, 0, sizeof *p);
    nq_window3 *w = &p->w;
    nq_window3_from_geom(g, w);
    p->C = channels;
    p->M = M;
    p->kprod = w->k[0] * w->k[1] * w->k[2];
    p->K = channels * p->kprod;
    p->row_len = w->out[2];
    p->P = w->out[0] * w->out[1] * w->out[2];
    const int64_t pb = w->pb[2], pe = g->pad_end[g->nsp - 1];
    const int64_t span_w = (w->k[2] - 1) * w->d[2] + 1;
    p->Wp = w->in[2] + (pb > pe ? pb : pe);
    p->direct = w->k[0] == 1 && w->out[0] == 1 && w->in[0] == 1 && w->s[1] == 1 &&
                w->s[2] == 1 && w->out[2] <= p->Wp;
    const int64_t kc_max = p->direct ? KC_DIRECT : KC_MAX;
    const int64_t nk = (p->K + kc_max - 1) / kc_max;
    p->kc = nk > 0 ? (p->K + nk - 1) / nk : 1;
    if (p->direct) {
        const int64_t pe_h = g->nsp >= 2 ? g->pad_end[g->nsp - 2] : 0;
        p->rows_p = w->pb[1] + w->in[1] + pe_h;
        p->plane_p = p->rows_p * p->Wp;
        p->lead = pb;
        /* junk positions of the last row may read up to span_w + NR past the end */
        p->xp_floats = p->lead + channels * p->plane_p + p->Wp + span_w + NR;
        int64_t m16 = (M + MR - 1) / MR * MR;
        p->block_rows = Y_BYTES / (int64_t)sizeof(float) / m16 / p->Wp;
        if (p->block_rows < 1) p->block_rows = 1;
        if (p->block_rows > w->out[1]) p->block_rows = w->out[1];
    } else {
        int64_t target = B_BYTES / (int64_t)sizeof(float) / p->kc / NR * NR;
        if (target < NR) target = NR;
        p->whole_rows = p->row_len <= target;
        p->cols = p->whole_rows ? target / p->row_len * p->row_len : target;
    }
}

static int64_t round_nr(int64_t n) { return (n + NR - 1) / NR * NR; }

size_t nq_conv_gemm_scratch(const nq_conv_geom *g, int64_t channels, int64_t M)
{
    plan_t p;
    plan(g, channels, M, &p);
    size_t floats, offs = (size_t)p.K;
    if (p.direct) floats = (size_t)p.xp_floats;
    else floats = (size_t)(p.kc * round_nr(p.cols));
    return ((floats + 16) * sizeof(float) + offs * sizeof(int64_t) + 63) / 64 * 64;
}

/* ---- tiled driver ---- */

/* Columns [n0, n1) of tap (kd, kh, kw) of one channel image into dst. */
static void tap_cols(const nq_window3 *w, const plan_t *b, const float *img, int64_t kd,
                     int64_t kh, int64_t kw, int64_t n0, int64_t n1, float *dst)
{
    if (b->whole_rows) {
        nq_im2col_tap_f32(w, img, kd, kh, kw, n0 / b->row_len, n1 / b->row_len, dst);
        return;
    }
    /* part of one output row r: positions [a, a + n) */
    const int64_t r = n0 / b->row_len, a = n0 - r * b->row_len, n = n1 - n0;
    const int64_t od = r / w->out[1], oh = r % w->out[1];
    const int64_t id = od * w->s[0] - w->pb[0] + kd * w->d[0];
    const int64_t ih = oh * w->s[1] - w->pb[1] + kh * w->d[1];
    const int64_t off = kw * w->d[2] - w->pb[2];
    int64_t lo, hi;
    nq_window_row_range(b->row_len, w->in[2], w->s[2], off, &lo, &hi);
    if (id < 0 || id >= w->in[0] || ih < 0 || ih >= w->in[1]) {
        memset(dst, 0, (size_t)n * sizeof *dst);
        return;
    }
    const float *src = img + (id * w->in[1] + ih) * w->in[2];
    for (int64_t i = 0; i < n; i++) {
        int64_t o = a + i;
        dst[i] = o >= lo && o < hi ? src[o * w->s[2] + off] : 0.0f;
    }
}

/* Rows [k0, k0 + kk) of the column block [n0, n1) into bt (row stride
 * ldb >= n1 - n0, a multiple of NR; the padding columns are zeroed). */
static void build_tile(const plan_t *b, const float *x, int64_t k0, int64_t kk, int64_t n0,
                       int64_t n1, float *bt, int64_t ldb)
{
    const nq_window3 *w = &b->w;
    const int64_t in_plane = w->in[0] * w->in[1] * w->in[2], ncols = n1 - n0;
    for (int64_t i = 0; i < kk; i++) {
        int64_t k = k0 + i, c = k / b->kprod, t = k % b->kprod;
        int64_t kd = t / (w->k[1] * w->k[2]), kh = t / w->k[2] % w->k[1], kw = t % w->k[2];
        float *row = bt + i * ldb;
        tap_cols(w, b, x + c * in_plane, kd, kh, kw, n0, n1, row);
        for (int64_t j = ncols; j < ldb; j++) row[j] = 0.0f;
    }
}

static void run_tiled(const plan_t *b, nq_f32_micro_fn micro, const float *packed_w,
                      const float *x, const float *bias, float *y, int64_t ldy, float *bt,
                      int64_t *off)
{
    for (int64_t n0 = 0, n1; n0 < b->P; n0 = n1) {
        if (b->whole_rows) {
            n1 = n0 + b->cols < b->P ? n0 + b->cols : b->P;
        } else {
            int64_t row_end = (n0 / b->row_len + 1) * b->row_len;
            n1 = n0 + b->cols < row_end ? n0 + b->cols : row_end;
        }
        const int64_t ncols = n1 - n0, ldb = round_nr(ncols);
        for (int64_t i = 0; i < b->kc; i++) off[i] = i * ldb;
        for (int64_t k0 = 0; k0 < b->K; k0 += b->kc) {
            const int64_t kk = b->K - k0 < b->kc ? b->K - k0 : b->kc;
            build_tile(b, x, k0, kk, n0, n1, bt, ldb);
            for (int64_t m0 = 0; m0 < b->M; m0 += MR) {
                const float *ap = packed_w + m0 * b->K + k0 * MR;
                const int64_t mr = b->M - m0 < MR ? b->M - m0 : MR;
                const nq_f32_out o = {.y = y + m0 * ldy + n0, .ldy = ldy, .wp = ncols,
                                      .ow = ncols, .bias = bias ? bias + m0 : NULL,
                                      .first = k0 == 0};
                for (int64_t j = 0; j < ncols; j += NR)
                    micro(kk, ap, bt + j, off, &o, j, mr, ncols - j < NR ? ncols - j : NR);
            }
        }
    }
}

/* ---- direct driver ---- */

static void run_direct(const plan_t *p, nq_f32_micro_fn micro, const float *packed_w,
                       const float *x, const float *bias, float *y, int64_t ldy, float *xp,
                       int64_t *off)
{
    const nq_window3 *w = &p->w;
    const int64_t H = w->in[1], W = w->in[2], OH = w->out[1], OW = w->out[2], Wp = p->Wp;
    /* zero-padded copy: rows of Wp (data then zeros), pad rows above and below */
    memset(xp, 0, (size_t)p->xp_floats * sizeof *xp);
    for (int64_t c = 0; c < p->C; c++)
        for (int64_t h = 0; h < H; h++)
            memcpy(xp + p->lead + c * p->plane_p + (w->pb[1] + h) * Wp, x + (c * H + h) * W,
                   (size_t)W * sizeof *xp);
    for (int64_t k = 0; k < p->K; k++) {
        int64_t c = k / p->kprod, t = k % p->kprod, kh = t / w->k[2], kw = t % w->k[2];
        off[k] = p->lead + c * p->plane_p + kh * w->d[1] * Wp + kw * w->d[2] - w->pb[2];
    }
    for (int64_t r0 = 0; r0 < OH; r0 += p->block_rows) {
        const int64_t r1 = r0 + p->block_rows < OH ? r0 + p->block_rows : OH;
        const int64_t q0 = r0 * Wp, nq = (r1 - r0) * Wp - (Wp - OW);
        for (int64_t k0 = 0; k0 < p->K; k0 += p->kc) {
            const int64_t kk = p->K - k0 < p->kc ? p->K - k0 : p->kc;
            for (int64_t m0 = 0; m0 < p->M; m0 += MR) {
                const float *ap = packed_w + m0 * p->K + k0 * MR;
                const int64_t mr = p->M - m0 < MR ? p->M - m0 : MR;
                const nq_f32_out o = {.y = y + m0 * ldy + r0 * OW, .ldy = ldy, .wp = Wp,
                                      .ow = OW, .bias = bias ? bias + m0 : NULL,
                                      .first = k0 == 0};
                for (int64_t j = 0; j < nq; j += NR)
                    micro(kk, ap, xp + q0 + j, off + k0, &o, j, mr, nq - j < NR ? nq - j : NR);
            }
        }
    }
}

/* ---- entry ---- */

void nq_conv_gemm_f32(nq_f32_isa isa, const nq_conv_geom *g, int64_t channels, int64_t M,
                      const float *packed_w, const float *x, const float *bias, float *y,
                      int64_t ldy, void *scratch)
{
    const nq_f32_micro_fn micro = nq_f32_micro(isa);
    plan_t p;
    plan(g, channels, M, &p);
    if (M <= 0 || p.P <= 0) return;
    if (p.K == 0) {
        for (int64_t m = 0; m < M; m++)
            for (int64_t i = 0; i < p.P; i++) y[m * ldy + i] = bias ? bias[m] : 0.0f;
        return;
    }
    float *fs = scratch;
    size_t floats = p.direct ? (size_t)p.xp_floats : (size_t)(p.kc * round_nr(p.cols));
    int64_t *off = (int64_t *)(fs + (floats + 16) / 16 * 16);
    if (p.direct) run_direct(&p, micro, packed_w, x, bias, y, ldy, fs, off);
    else run_tiled(&p, micro, packed_w, x, bias, y, ldy, fs, off);
}
