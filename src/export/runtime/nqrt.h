/*
 * nqrt.h: the integer kernels of code exported by `nnquant export --c`.
 *
 * Written once, in C99 with no dependency but <stdint.h>, and used twice:
 * nnquant embeds this file (and nq_requant_core.h, the library's own
 * requantization core) at build time and copies it verbatim into every
 * generated project; nnquant's tests compile it directly. Integer
 * semantics are those of docs/numerics.md:
 *  - affine sums (Conv, Gemm) and Add/Mul/ReduceSum wrap modulo 2^32
 *    (computed in uint32_t: never undefined behaviour);
 *  - requantization is nq_rq_apply (rounding half up, exact in 64 bits);
 *  - MaxPool starts every window at the minimum of the type (init).
 *
 * Each kernel is a template: NQRT_DEFINE_<OP>(NAME, types...) defines the
 * function NAME, NQRT_<OP>_PROTO(NAME, types...) declares it. A generated
 * kernels.c instantiates only the kernels its model needs. Tensors are
 * dense, row-major, one sample ([C, H, W] for images); weights are read
 * through a reader macro: NQRT_W8 (one value per element, any signed
 * type) or NQRT_W4 (int4, two per byte, low nibble first).
 * Sizes are int32_t: every tensor holds fewer than 2^31 elements.
 */
#ifndef NQRT_H
#define NQRT_H

#include <stdint.h>

/* The requantization core (nnquant's src/kernels/requant_core.h, copied as
 * nq_requant_core.h); an includer that already has it may skip the file. */
#ifndef NQ_REQUANT_CORE_H
#include "nq_requant_core.h"
#endif

/* uint32_t -> int32_t modulo 2^32 without implementation-defined casts. */
static inline int32_t nqrt_s32(uint32_t v)
{
    return v <= (uint32_t)INT32_MAX ? (int32_t)v : -(int32_t)(~v) - 1;
}

/* Weight readers: element i of a weight array. */
#define NQRT_W8(w, i) ((int32_t)(w)[i])
static inline int32_t nqrt_w4(const uint8_t *w, int32_t i)
{
    const int32_t v = (w[i >> 1] >> ((i & 1) * 4)) & 15;
    return v - ((v & 8) << 1);
}
#define NQRT_W4(w, i) nqrt_w4((w), (i))

/* First and one-past-last tap k in [0, K) with 0 <= o*S - P + k*D < N. */
static inline void nqrt_taps(int32_t o, int32_t S, int32_t P, int32_t D, int32_t K, int32_t N,
                             int32_t *k0, int32_t *k1)
{
    const int32_t i0 = o * S - P;
    int32_t a = 0, b = K;
    while (a < b && i0 + a * D < 0) a++;
    while (b > a && i0 + (b - 1) * D >= N) b--;
    *k0 = a;
    *k1 = b;
}

/* Outputs o in [0, OW) with 0 <= o*S + off < N, as [*o0, *o1). */
static inline void nqrt_span(int32_t off, int32_t S, int32_t N, int32_t OW, int32_t *o0,
                             int32_t *o1)
{
    const int32_t a = off >= 0 ? 0 : (-off + S - 1) / S;
    int32_t b = N - 1 - off < 0 ? 0 : (N - 1 - off) / S + 1;
    *o0 = a;
    *o1 = b > OW ? OW : b;
}

/* ---- Requantization parameters (nnquant's Quantizer, integer -> integer)
 * x viewed as [outer, channels, inner]; channel c uses mult[c], shift[c]
 * (channels = 1: per-tensor). lo, hi: the output range. */
typedef struct nqrt_rq {
    int32_t outer, channels, inner;
    const int32_t *mult, *shift;
    int32_t lo, hi;
} nqrt_rq;

/* Requantized value of the int32 accumulator a (wrapped) of channel ch. */
#define NQRT_RQ(q, ch, a)                                                                     \
    nq_rq_apply((int64_t)nqrt_s32(a), (q)->mult[(q)->channels > 1 ? (ch) : 0],                \
                (q)->shift[(q)->channels > 1 ? (ch) : 0], (q)->lo, (q)->hi)

/* ---- Conv (2-D, groups, strides, dilations, zero padding) -------------
 * Output rows are accumulated in acc (OW values, caller's scratch), tap by
 * tap, then stored: as int32 (NQRT_DEFINE_CONV), or requantized by q with
 * channel m (NQRT_DEFINE_CONV_RQ: the following Quantizer fused). */
typedef struct nqrt_conv {
    int32_t C, H, W;     /* input [C, H, W] */
    int32_t M, OH, OW;   /* output [M, OH, OW] */
    int32_t KH, KW, SH, SW, DH, DW, PT, PL, group;
} nqrt_conv;

#define NQRT_CONV_BODY(XT, WREAD, STORE)                                                      \
    {                                                                                         \
        const int32_t C = p->C, H = p->H, W = p->W, M = p->M, OH = p->OH, OW = p->OW;        \
        const int32_t KH = p->KH, KW = p->KW, SH = p->SH, SW = p->SW, DH = p->DH, DW = p->DW; \
        const int32_t PT = p->PT, PL = p->PL, Cg = C / p->group, Mg = M / p->group;           \
        const int32_t HW = H * W, KK = KH * KW;                                               \
        int32_t m, oy, ox, c, ky, kx;                                                         \
        for (m = 0; m < M; m++) {                                                             \
            const int32_t c0 = (m / Mg) * Cg;                                                 \
            const uint32_t b0 = bias ? (uint32_t)bias[m] : 0u;                                \
            for (oy = 0; oy < OH; oy++) {                                                     \
                int32_t ky0, ky1;                                                             \
                nqrt_taps(oy, SH, PT, DH, KH, H, &ky0, &ky1);                                 \
                for (ox = 0; ox < OW; ox++) acc[ox] = b0;                                     \
                for (c = 0; c < Cg;) {                                                        \
                    /* four input channels per pass over the row, one otherwise */            \
                    const int32_t nc = Cg - c >= 4 ? 4 : 1;                                   \
                    for (ky = ky0; ky < ky1; ky++) {                                          \
                        const XT *x0 = x + ((c0 + c) * H + oy * SH - PT + ky * DH) * W;       \
                        const int32_t wr = ((m * Cg + c) * KH + ky) * KW;                     \
                        for (kx = 0; kx < KW; kx++) {                                         \
                            const int32_t off = kx * DW - PL, w0 = WREAD(w, wr + kx);         \
                            int32_t o0, o1;                                                   \
                            nqrt_span(off, SW, W, OW, &o0, &o1);                              \
                            if (nc == 4) {                                                    \
                                const int32_t w1 = WREAD(w, wr + KK + kx);                    \
                                const int32_t w2 = WREAD(w, wr + 2 * KK + kx);                \
                                const int32_t w3 = WREAD(w, wr + 3 * KK + kx);                \
                                for (ox = o0; ox < o1; ox++) {                                \
                                    const int32_t i = ox * SW + off;                          \
                                    acc[ox] += (uint32_t)((int32_t)x0[i] * w0) +              \
                                               (uint32_t)((int32_t)x0[i + HW] * w1) +         \
                                               (uint32_t)((int32_t)x0[i + 2 * HW] * w2) +     \
                                               (uint32_t)((int32_t)x0[i + 3 * HW] * w3);      \
                                }                                                             \
                            } else {                                                          \
                                for (ox = o0; ox < o1; ox++)                                  \
                                    acc[ox] += (uint32_t)((int32_t)x0[ox * SW + off] * w0);   \
                            }                                                                 \
                        }                                                                     \
                    }                                                                         \
                    c += nc;                                                                  \
                }                                                                             \
                for (ox = 0; ox < OW; ox++) STORE((m * OH + oy) * OW + ox, m, acc[ox]);       \
            }                                                                                 \
        }                                                                                     \
    }

#define NQRT_STORE_S32(i, ch, a) y[i] = nqrt_s32(a)

#define NQRT_CONV_PROTO(NAME, XT, WT)                                                         \
    void NAME(const nqrt_conv *p, const XT *x, const WT *w, const int32_t *bias,              \
              uint32_t *restrict acc, int32_t *y)
#define NQRT_DEFINE_CONV(NAME, XT, WT, WREAD)                                                 \
    NQRT_CONV_PROTO(NAME, XT, WT) NQRT_CONV_BODY(XT, WREAD, NQRT_STORE_S32)

#define NQRT_CONV_RQ_PROTO(NAME, XT, WT, YT)                                                  \
    void NAME(const nqrt_conv *p, const nqrt_rq *q, const XT *x, const WT *w,                 \
              const int32_t *bias, uint32_t *restrict acc, YT *y)
#define NQRT_DEFINE_CONV_RQ(NAME, XT, WT, WREAD, YT)                                          \
    NQRT_CONV_RQ_PROTO(NAME, XT, WT, YT)                                                      \
    {                                                                                         \
        typedef YT nqrt_y_t;                                                                  \
        NQRT_CONV_BODY(XT, WREAD, NQRT_STORE_RQ_Y)                                            \
    }
#define NQRT_STORE_RQ_Y(i, ch, a) y[i] = (nqrt_y_t)NQRT_RQ(q, ch, a)

/* ---- Gemm: y[M, N] = x[M, K] * W (+ bias[N]) ---------------------------
 * W is [N, K] when trans_b (ONNX Gemm transB = 1), else [K, N]. Stored as
 * int32, or requantized by q with channel n (NQRT_DEFINE_GEMM_RQ). */
typedef struct nqrt_gemm {
    int32_t M, N, K, trans_b;
} nqrt_gemm;

#define NQRT_GEMM_BODY(XT, WREAD, STORE)                                                      \
    {                                                                                         \
        const int32_t M = p->M, N = p->N, K = p->K;                                           \
        const int32_t ks = p->trans_b ? 1 : N, ns = p->trans_b ? K : 1;                       \
        int32_t i, n, k;                                                                      \
        for (i = 0; i < M; i++) {                                                             \
            const XT *xr = x + i * K;                                                         \
            for (n = 0; n < N; n++) {                                                         \
                uint32_t a = bias ? (uint32_t)bias[n] : 0u;                                   \
                for (k = 0; k < K; k++)                                                       \
                    a += (uint32_t)((int32_t)xr[k] * WREAD(w, n * ns + k * ks));              \
                STORE(i * N + n, n, a);                                                       \
            }                                                                                 \
        }                                                                                     \
    }

#define NQRT_GEMM_PROTO(NAME, XT, WT) \
    void NAME(const nqrt_gemm *p, const XT *x, const WT *w, const int32_t *bias, int32_t *y)
#define NQRT_DEFINE_GEMM(NAME, XT, WT, WREAD) \
    NQRT_GEMM_PROTO(NAME, XT, WT) NQRT_GEMM_BODY(XT, WREAD, NQRT_STORE_S32)

#define NQRT_GEMM_RQ_PROTO(NAME, XT, WT, YT)                                                  \
    void NAME(const nqrt_gemm *p, const nqrt_rq *q, const XT *x, const WT *w,                 \
              const int32_t *bias, YT *y)
#define NQRT_DEFINE_GEMM_RQ(NAME, XT, WT, WREAD, YT)                                          \
    NQRT_GEMM_RQ_PROTO(NAME, XT, WT, YT)                                                      \
    {                                                                                         \
        typedef YT nqrt_y_t;                                                                  \
        NQRT_GEMM_BODY(XT, WREAD, NQRT_STORE_RQ_Y)                                            \
    }

/* ---- Requantization of a tensor ---------------------------------------- */
#define NQRT_REQUANT_PROTO(NAME, XT, YT) void NAME(const nqrt_rq *p, const XT *x, YT *y)
#define NQRT_DEFINE_REQUANT(NAME, XT, YT)                                                     \
    NQRT_REQUANT_PROTO(NAME, XT, YT)                                                          \
    {                                                                                         \
        int32_t o, c, i, k = 0;                                                               \
        for (o = 0; o < p->outer; o++)                                                        \
            for (c = 0; c < p->channels; c++) {                                               \
                const int32_t M = p->mult[c], S = p->shift[c];                                \
                for (i = 0; i < p->inner; i++, k++)                                           \
                    y[k] = (YT)nq_rq_apply((int64_t)x[k], M, S, p->lo, p->hi);                \
            }                                                                                 \
    }

/* ---- Element-wise: Relu (signed types), Clip -------------------------- */
#define NQRT_RELU_PROTO(NAME, T) void NAME(int32_t n, const T *x, T *y)
#define NQRT_DEFINE_RELU(NAME, T)                                                             \
    NQRT_RELU_PROTO(NAME, T)                                                                  \
    {                                                                                         \
        int32_t i;                                                                            \
        for (i = 0; i < n; i++) y[i] = x[i] < 0 ? (T)0 : x[i];                                \
    }

#define NQRT_CLIP_PROTO(NAME, T) void NAME(int32_t n, int32_t lo, int32_t hi, const T *x, T *y)
#define NQRT_DEFINE_CLIP(NAME, T)                                                             \
    NQRT_CLIP_PROTO(NAME, T)                                                                  \
    {                                                                                         \
        int32_t i;                                                                            \
        for (i = 0; i < n; i++) {                                                             \
            int32_t v = (int32_t)x[i];                                                        \
            v = v < lo ? lo : v; /* then hi: lo > hi gives hi, as ONNX says */                \
            y[i] = (T)(v > hi ? hi : v);                                                      \
        }                                                                                     \
    }

/* ---- Add, Mul on int32 (modulo 2^32); sa / sb = 0 repeats element 0 --- */
#define NQRT_BINARY_PROTO(NAME) \
    void NAME(int32_t n, const int32_t *a, int32_t sa, const int32_t *b, int32_t sb, int32_t *y)
#define NQRT_DEFINE_BINARY(NAME, OP)                                                          \
    NQRT_BINARY_PROTO(NAME)                                                                   \
    {                                                                                         \
        int32_t i;                                                                            \
        for (i = 0; i < n; i++)                                                               \
            y[i] = nqrt_s32((uint32_t)a[i * sa] OP (uint32_t)b[i * sb]);                      \
    }

/* ---- MaxPool (2-D); windows start at init, the type's minimum -------- */
typedef struct nqrt_pool {
    int32_t C, H, W, OH, OW, KH, KW, SH, SW, DH, DW, PT, PL, init;
} nqrt_pool;

#define NQRT_MAXPOOL_PROTO(NAME, T) void NAME(const nqrt_pool *p, const T *x, T *y)
#define NQRT_DEFINE_MAXPOOL(NAME, T)                                                          \
    NQRT_MAXPOOL_PROTO(NAME, T)                                                               \
    {                                                                                         \
        int32_t c, oy, ox, ky, kx;                                                            \
        for (c = 0; c < p->C; c++)                                                            \
            for (oy = 0; oy < p->OH; oy++) {                                                  \
                int32_t ky0, ky1;                                                             \
                nqrt_taps(oy, p->SH, p->PT, p->DH, p->KH, p->H, &ky0, &ky1);                  \
                for (ox = 0; ox < p->OW; ox++) {                                              \
                    int32_t kx0, kx1, m = p->init;                                            \
                    nqrt_taps(ox, p->SW, p->PL, p->DW, p->KW, p->W, &kx0, &kx1);              \
                    for (ky = ky0; ky < ky1; ky++) {                                          \
                        const T *xr = x + (c * p->H + oy * p->SH - p->PT + ky * p->DH) * p->W + \
                                      ox * p->SW - p->PL;                                     \
                        for (kx = kx0; kx < kx1; kx++)                                        \
                            if ((int32_t)xr[kx * p->DW] > m) m = (int32_t)xr[kx * p->DW];     \
                    }                                                                         \
                    y[(c * p->OH + oy) * p->OW + ox] = (T)m;                                  \
                }                                                                             \
            }                                                                                 \
    }

/* ---- ReduceSum over contiguous axes: x [outer, red, inner] -> int32 -- */
#define NQRT_REDUCESUM_PROTO(NAME, XT) \
    void NAME(int32_t outer, int32_t red, int32_t inner, const XT *x, int32_t *y)
#define NQRT_DEFINE_REDUCESUM(NAME, XT)                                                       \
    NQRT_REDUCESUM_PROTO(NAME, XT)                                                            \
    {                                                                                         \
        int32_t o, r, i;                                                                      \
        for (o = 0; o < outer; o++)                                                           \
            for (i = 0; i < inner; i++) {                                                     \
                uint32_t acc = 0u;                                                            \
                for (r = 0; r < red; r++) acc += (uint32_t)(int32_t)x[(o * red + r) * inner + i]; \
                y[o * inner + i] = nqrt_s32(acc);                                             \
            }                                                                                 \
    }

#endif
