/* Winograd F(2x2, 3x3) float32 convolution (see winograd.h).
 *
 * Per image: the zero-padded input is split once into even and odd columns
 * (xe, xo), so that the input transform of every tile of a tile row is a
 * set of unit-stride vector operations. Tiles are processed in bands of
 * tile rows: transform the band's inputs into V[16][C][tiles], run the 16
 * GEMMs M_e = U_e[M][C] * V_e[C][tiles] with the micro-kernel, stored
 * channel-contiguous (M[e][tile][m]), then the output transform (vector
 * over m) writes the 2x2 tiles plus bias into Y. The transforms are plain
 * C loops shaped for the auto-vectorizer, compiled twice: baseline and,
 * on x86-64, with AVX2 enabled (picked with the micro-kernel's variant).
 *
 *   U = G w G^T, V = B^T d B, Y = A^T M A with
 *   G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1], A^T = [1 1 1 0; 0 1 -1 -1]. */
#include <string.h>

#include "kernels/winograd.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define NQ_WINO_X86 1
#define NQ_TARGET_AVX2 __attribute__((target("avx2,fma")))
#else
#define NQ_WINO_X86 0
#endif
#if defined(__GNUC__) || defined(__clang__)
#define NQ_INLINE static inline __attribute__((always_inline))
#else
#define NQ_INLINE static inline
#endif

enum {
    MR = NQ_F32_MR,
    NR = NQ_F32_NR,
    BAND_BYTES = 512 * 1024 /* V and M of one band: about L2-resident */
};

int nq_winograd_applies(const nq_conv_geom *g)
{
    return g->nsp == 2 && g->kernel[0] == 3 && g->kernel[1] == 3 && g->stride[0] == 1 &&
           g->stride[1] == 1 && g->dilation[0] == 1 && g->dilation[1] == 1;
}

size_t nq_winograd_pack_w_floats(int64_t M, int64_t C) { return 16 * nq_f32_pack_a_floats(M, C); }

void nq_winograd_pack_w(int64_t M, int64_t C, const float *w, float *packed)
{
    const size_t per_e = nq_f32_pack_a_floats(M, C);
    memset(packed, 0, 16 * per_e * sizeof *packed);
    for (int64_t m = 0; m < M; m++)
        for (int64_t c = 0; c < C; c++) {
            const float *g = w + (m * C + c) * 9;
            float t[4][3], u[4][4]; /* t = G g, u = t G^T */
            for (int j = 0; j < 3; j++) {
                t[0][j] = g[j];
                t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
                t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
                t[3][j] = g[6 + j];
            }
            for (int i = 0; i < 4; i++) {
                u[i][0] = t[i][0];
                u[i][1] = 0.5f * (t[i][0] + t[i][1] + t[i][2]);
                u[i][2] = 0.5f * (t[i][0] - t[i][1] + t[i][2]);
                u[i][3] = t[i][2];
            }
            /* nq_f32_pack_a layout: panel m / 16, row c, lane m % 16 */
            const size_t at = (size_t)((m / MR) * C * MR + c * MR + m % MR);
            for (int e = 0; e < 16; e++) packed[(size_t)e * per_e + at] = u[e / 4][e % 4];
        }
}

typedef struct wplan {
    int64_t H, W, OH, OW, TH, TW, R, L, pb_h, pb_w;
    int64_t band;   /* tile rows per band */
    int64_t ldv;    /* row stride of V (tiles of a band, rounded up to NR) */
    int64_t Mp;     /* M rounded up to 16: the row stride of M[e][tile] */
    size_t x_floats, v_floats, m_floats, t_floats;
} wplan;

static int64_t round_nr(int64_t n) { return (n + NR - 1) / NR * NR; }
static size_t round16(size_t n) { return (n + 15) / 16 * 16; }

static void wplan_make(const nq_conv_geom *g, int64_t C, int64_t M, wplan *p)
{
    p->H = g->in[0], p->W = g->in[1], p->OH = g->out[0], p->OW = g->out[1];
    p->pb_h = g->pad_begin[0], p->pb_w = g->pad_begin[1];
    p->TH = (p->OH + 1) / 2, p->TW = (p->OW + 1) / 2;
    p->R = 2 * p->TH + 2; /* padded input rows read by the tiles */
    p->L = p->TW + 1;     /* even (odd) columns read by the tiles */
    p->Mp = (M + MR - 1) / MR * MR;
    int64_t tiles = BAND_BYTES / (int64_t)sizeof(float) / 16 / (C + p->Mp);
    p->band = tiles / p->TW;
    if (p->band < 1) p->band = 1;
    if (p->band > p->TH) p->band = p->TH;
    p->ldv = round_nr(p->band * p->TW);
    p->x_floats = (size_t)(2 * C * p->R * p->L);
    p->v_floats = (size_t)(16 * C * p->ldv);
    p->m_floats = (size_t)(16 * p->ldv * p->Mp);
    p->t_floats = (size_t)(5 * p->Mp);
}

/* Floats before the offsets table (a 64-byte multiple). */
static size_t wfloats(const wplan *p)
{
    return round16(p->x_floats + p->v_floats + p->m_floats + p->t_floats);
}

size_t nq_winograd_scratch(const nq_conv_geom *g, int64_t C, int64_t M)
{
    wplan p;
    wplan_make(g, C, M, &p);
    return (wfloats(&p) * sizeof(float) + (size_t)C * sizeof(int64_t) + 63) / 64 * 64;
}

/* xe[c][r][t] = xpad[r][2t], xo[c][r][t] = xpad[r][2t + 1] (xpad: x with
 * pb_h rows and pb_w columns of zeros before, zeros after). */
static void split_input(const wplan *p, int64_t C, const float *x, float *xe, float *xo)
{
    for (int64_t c = 0; c < C; c++)
        for (int64_t r = 0; r < p->R; r++) {
            float *e = xe + (c * p->R + r) * p->L, *o = xo + (c * p->R + r) * p->L;
            const int64_t ih = r - p->pb_h;
            if (ih < 0 || ih >= p->H) {
                memset(e, 0, (size_t)p->L * sizeof *e);
                memset(o, 0, (size_t)p->L * sizeof *o);
                continue;
            }
            const float *row = x + (c * p->H + ih) * p->W;
            for (int64_t t = 0; t < p->L; t++) {
                const int64_t iw = 2 * t - p->pb_w;
                e[t] = iw >= 0 && iw < p->W ? row[iw] : 0.0f;
                o[t] = iw + 1 >= 0 && iw + 1 < p->W ? row[iw + 1] : 0.0f;
            }
        }
}

/* One tile row of one channel: d_e[t] = (B^T d B)[e] of tile t. Every
 * stream gets its own restrict parameter so that the loop vectorizes. */
#define WR float *restrict
NQ_INLINE void input_row(const float *restrict E0, const float *restrict E1,
                         const float *restrict E2, const float *restrict E3,
                         const float *restrict O0, const float *restrict O1,
                         const float *restrict O2, const float *restrict O3, WR d0, WR d1, WR d2,
                         WR d3, WR d4, WR d5, WR d6, WR d7, WR d8, WR d9, WR d10, WR d11, WR d12,
                         WR d13, WR d14, WR d15, int64_t n)
{
    for (int64_t t = 0; t < n; t++) {
        /* row r of the tile times B: (e - e', o + e', e' - o, o - o') */
        const float a00 = E0[t] - E0[t + 1], a01 = O0[t] + E0[t + 1];
        const float a02 = E0[t + 1] - O0[t], a03 = O0[t] - O0[t + 1];
        const float a10 = E1[t] - E1[t + 1], a11 = O1[t] + E1[t + 1];
        const float a12 = E1[t + 1] - O1[t], a13 = O1[t] - O1[t + 1];
        const float a20 = E2[t] - E2[t + 1], a21 = O2[t] + E2[t + 1];
        const float a22 = E2[t + 1] - O2[t], a23 = O2[t] - O2[t + 1];
        const float a30 = E3[t] - E3[t + 1], a31 = O3[t] + E3[t + 1];
        const float a32 = E3[t + 1] - O3[t], a33 = O3[t] - O3[t + 1];
        /* then B^T on the left: rows (r0 - r2, r1 + r2, r2 - r1, r1 - r3) */
        d0[t] = a00 - a20, d1[t] = a01 - a21, d2[t] = a02 - a22, d3[t] = a03 - a23;
        d4[t] = a10 + a20, d5[t] = a11 + a21, d6[t] = a12 + a22, d7[t] = a13 + a23;
        d8[t] = a20 - a10, d9[t] = a21 - a11, d10[t] = a22 - a12, d11[t] = a23 - a13;
        d12[t] = a10 - a30, d13[t] = a11 - a31, d14[t] = a12 - a32, d15[t] = a13 - a33;
    }
}

/* V[e][c][(th - th0) * TW + t] for the tiles of rows [th0, th1). */
NQ_INLINE void input_transform_body(const wplan *p, int64_t C, const float *xe, const float *xo,
                                    int64_t th0, int64_t th1, float *v)
{
    const int64_t R = p->R, L = p->L;
    for (int64_t c = 0; c < C; c++)
        for (int64_t th = th0; th < th1; th++) {
            const float *e = xe + (c * R + 2 * th) * L, *o = xo + (c * R + 2 * th) * L;
            float *d = v + c * p->ldv + (th - th0) * p->TW;
            const int64_t es = C * p->ldv;
            input_row(e, e + L, e + 2 * L, e + 3 * L, o, o + L, o + 2 * L, o + 3 * L, d, d + es,
                      d + 2 * es, d + 3 * es, d + 4 * es, d + 5 * es, d + 6 * es, d + 7 * es,
                      d + 8 * es, d + 9 * es, d + 10 * es, d + 11 * es, d + 12 * es, d + 13 * es,
                      d + 14 * es, d + 15 * es, p->TW);
        }
}

/* One tile: y_ij[m] = (A^T M A)[i][j] + bias[m] for m < n. */
#define RR const float *restrict
NQ_INLINE void output_tile(RR s0, RR s1, RR s2, RR s3, RR s4, RR s5, RR s6, RR s7, RR s8, RR s9,
                           RR s10, RR s11, RR s12, RR s13, RR s14, RR s15,
                           const float *restrict bias, WR y00, WR y01, WR y10, WR y11, int64_t n)
{
    for (int64_t m = 0; m < n; m++) {
        /* A^T on the left: (q0 + q1 + q2, q1 - q2 - q3) per column */
        const float u00 = s0[m] + s4[m] + s8[m], u01 = s1[m] + s5[m] + s9[m];
        const float u02 = s2[m] + s6[m] + s10[m], u03 = s3[m] + s7[m] + s11[m];
        const float u10 = s4[m] - s8[m] - s12[m], u11 = s5[m] - s9[m] - s13[m];
        const float u12 = s6[m] - s10[m] - s14[m], u13 = s7[m] - s11[m] - s15[m];
        y00[m] = bias[m] + u00 + u01 + u02;
        y01[m] = bias[m] + u01 - u02 - u03;
        y10[m] = bias[m] + u10 + u11 + u12;
        y11[m] = bias[m] + u11 - u12 - u13;
    }
}

/* Y tiles of rows [th0, th1) from M[e][tile][m] plus bias (b: Mp floats,
 * zeros without bias): vector over m into tmp, then stored to the 2x2
 * positions of each output channel. */
NQ_INLINE void output_transform_body(const wplan *p, int64_t M, const float *mb, const float *b,
                                     int64_t th0, int64_t th1, float *y, int64_t ldy,
                                     float *tmp)
{
    const int64_t TW = p->TW, Mp = p->Mp, es = p->ldv * Mp;
    float *y00 = tmp, *y01 = tmp + Mp, *y10 = tmp + 2 * Mp, *y11 = tmp + 3 * Mp;
    for (int64_t th = th0; th < th1; th++)
        for (int64_t t = 0; t < TW; t++) {
            const float *s = mb + ((th - th0) * TW + t) * Mp;
            output_tile(s, s + es, s + 2 * es, s + 3 * es, s + 4 * es, s + 5 * es, s + 6 * es,
                        s + 7 * es, s + 8 * es, s + 9 * es, s + 10 * es, s + 11 * es, s + 12 * es,
                        s + 13 * es, s + 14 * es, s + 15 * es, b, y00, y01, y10, y11, M);
            const int64_t oh = 2 * th, ow = 2 * t;
            const int col1 = ow + 1 < p->OW, row1 = oh + 1 < p->OH;
            float *d = y + oh * p->OW + ow;
            for (int64_t m = 0; m < M; m++, d += ldy) {
                d[0] = y00[m];
                if (col1) d[1] = y01[m];
                if (row1) {
                    d[p->OW] = y10[m];
                    if (col1) d[p->OW + 1] = y11[m];
                }
            }
        }
}

static void input_transform(const wplan *p, int64_t C, const float *xe, const float *xo,
                            int64_t th0, int64_t th1, float *v)
{
    input_transform_body(p, C, xe, xo, th0, th1, v);
}

static void output_transform(const wplan *p, int64_t M, const float *mb, const float *b,
                             int64_t th0, int64_t th1, float *y, int64_t ldy, float *tmp)
{
    output_transform_body(p, M, mb, b, th0, th1, y, ldy, tmp);
}

#if NQ_WINO_X86
NQ_TARGET_AVX2 static void input_transform_avx2(const wplan *p, int64_t C, const float *xe,
                                                const float *xo, int64_t th0, int64_t th1,
                                                float *v)
{
    input_transform_body(p, C, xe, xo, th0, th1, v);
}

NQ_TARGET_AVX2 static void output_transform_avx2(const wplan *p, int64_t M, const float *mb,
                                                 const float *b, int64_t th0, int64_t th1,
                                                 float *y, int64_t ldy, float *tmp)
{
    output_transform_body(p, M, mb, b, th0, th1, y, ldy, tmp);
}
#endif

void nq_winograd_f32(nq_f32_isa isa, const nq_conv_geom *g, int64_t C, int64_t M,
                     const float *packed_u, const float *x, const float *bias, float *y,
                     int64_t ldy, void *scratch)
{
    const nq_f32_micro_fn micro = nq_f32_micro(isa);
    int avx2 = 0;
#if NQ_WINO_X86
    avx2 = isa == NQ_F32_ISA_AVX2 && nq_f32_isa_available(isa);
#endif
    wplan p;
    wplan_make(g, C, M, &p);
    if (M <= 0 || p.OH <= 0 || p.OW <= 0) return;
    float *xe = scratch, *xo = xe + p.x_floats / 2;
    float *v = xe + p.x_floats, *mb = v + p.v_floats;
    float *tmp = mb + p.m_floats, *bz = tmp + 4 * p.Mp; /* bz: bias, or zeros */
    int64_t *off = (int64_t *)(xe + wfloats(&p));
    const size_t per_e = nq_f32_pack_a_floats(M, C);
    split_input(&p, C, x, xe, xo);
    for (int64_t m = 0; m < M; m++) bz[m] = bias ? bias[m] : 0.0f;
    for (int64_t c = 0; c < C; c++) off[c] = c * p.ldv;
    for (int64_t th0 = 0; th0 < p.TH; th0 += p.band) {
        const int64_t th1 = th0 + p.band < p.TH ? th0 + p.band : p.TH;
        const int64_t nt = (th1 - th0) * p.TW;
#if NQ_WINO_X86
        if (avx2) input_transform_avx2(&p, C, xe, xo, th0, th1, v);
        else
#endif
            input_transform(&p, C, xe, xo, th0, th1, v);
        for (int64_t row = 0; row < 16 * C; row++) /* columns the last tile reads past nt */
            memset(v + row * p.ldv + nt, 0, (size_t)(p.ldv - nt) * sizeof *v);
        for (int e = 0; e < 16; e++)
            for (int64_t m0 = 0; m0 < M; m0 += MR) {
                const nq_f32_out o = {.y = mb + e * p.ldv * p.Mp + m0, .ldy = p.Mp,
                                      .wp = p.ldv, .ow = p.ldv, .first = 1, .trans = 1};
                const float *a = packed_u + (size_t)e * per_e + (size_t)(m0 * C);
                const int64_t mr = M - m0 < MR ? M - m0 : MR;
                for (int64_t j = 0; j < nt; j += NR)
                    micro(C, a, v + e * C * p.ldv + j, off, &o, j, mr, nt - j < NR ? nt - j : NR);
            }
#if NQ_WINO_X86
        if (avx2) output_transform_avx2(&p, M, mb, bz, th0, th1, y, ldy, tmp);
        else
#endif
            output_transform(&p, M, mb, bz, th0, th1, y, ldy, tmp);
    }
}
