/* Depthwise convolution of one output plane, float and integer
 * (depthwise.h). */
#include <string.h>

#include "kernels/depthwise.h"

/* ---- float ---- */

/* 2-D (depth 1) planes, as conv.c sends them. */
NQ_INT_ALWAYS_INLINE void dw_f32(const nq_window3 *g, const float *x, const float *w, float bias,
                                 float *y)
{
    const int64_t OW = g->out[2], s = g->s[2];
    for (int64_t i = 0; i < g->out[1] * OW; i++) y[i] = bias;
    for (int64_t kh = 0; kh < g->k[1]; kh++)
        for (int64_t kw = 0; kw < g->k[2]; kw++) {
            const float wv = w[kh * g->k[2] + kw];
            const int64_t off_w = kw * g->d[2] - g->pb[2];
            int64_t lo, hi;
            nq_window_row_range(OW, g->in[2], s, off_w, &lo, &hi);
            NQ_WINDOW3_TAP_ROWS(g, 0, kh, xo, yo,
                const float *restrict xr = x + xo + off_w;
                float *restrict yr = y + yo;
                if (s == 1)
                    for (int64_t o = lo; o < hi; o++) yr[o] += wv * xr[o];
                else
                    for (int64_t o = lo; o < hi; o++) yr[o] += wv * xr[o * s];)
        }
}

static void dw_f32_generic(const nq_window3 *g, const float *x, const float *w, float bias, float *y)
{
    dw_f32(g, x, w, bias, y);
}
#if NQ_INT_X86
/* avx2 alone: no FMA, so no contraction of the product and the sum */
NQ_INT_TARGET_AVX2 static void dw_f32_avx2(const nq_window3 *g, const float *x, const float *w,
                                           float bias, float *y)
{
    dw_f32(g, x, w, bias, y);
}
#endif

void nq_dw_f32_plane(nq_f32_isa isa, const nq_window3 *w, const float *x, const float *wts,
                     float bias, float *y)
{
#if NQ_INT_X86
    if (isa == NQ_F32_ISA_AVX2 && nq_f32_isa_available(isa)) {
        dw_f32_avx2(w, x, wts, bias, y);
        return;
    }
#endif
    (void)isa;
    dw_f32_generic(w, x, wts, bias, y);
}

/* ---- integer ---- */

typedef void (*dw_fn)(const nq_window3 *w, const void *x, const void *wt, int64_t bias,
                      void *y);

/* Small 1-D and 2-D planes, whose rows are too short for vectors (a 7 x 7
 * plane: 7 lanes): the padded input is split into stride phases, phase
 * (a, b) holding the padded elements (r*sh + a, c*sw + b), so that every
 * tap reads one phase at unit stride; with the output rows as wide as a
 * phase row (the extra columns computed and dropped), each tap is then one
 * loop over the whole plane. Adding the padding's zeros instead of
 * skipping them leaves integer sums unchanged. Returns 0 (nothing done)
 * where the plane does not fit DW_FLAT_BYTES of stack per buffer, and for
 * int64 sums: with 8 lanes a vector the rows are not too short, and the
 * dropped columns and the phase copies made mobilenet's W16A16 depthwise
 * layers 10-20% slower than the row loops (while its W8A8 ones got 27%
 * faster). The tap loops run over whole blocks of DW_FLAT_BLOCK outputs
 * (the extra ones read zeros past the phases and are dropped): a 14 x 15
 * or 7 x 8 plane otherwise spends half its time in the scalar remainder.
 * The phase copy computes where each phase starts once per plane, not a
 * division per element. */
enum { DW_FLAT_BYTES = 16384, DW_FLAT_MAX_STRIDE = 8, DW_FLAT_BLOCK = 32 };
#define DEFINE_DW_FLAT(NAME, XT, WT, PT, UT)                                                    \
    NQ_INT_ALWAYS_INLINE int NAME(const nq_window3 *w, const XT *x, const WT *wt, int64_t bias, \
                                  UT *y)                                                       \
    {                                                                                          \
        const int64_t sh = w->s[1], sw = w->s[2], OH = w->out[1], OW = w->out[2];              \
        const int64_t Hp = (OH - 1) * sh + (w->k[1] - 1) * w->d[1] + 1;                        \
        const int64_t Wp = (OW - 1) * sw + (w->k[2] - 1) * w->d[2] + 1;                        \
        const int64_t Wq = (Wp + sw - 1) / sw, plane = ((Hp + sh - 1) / sh + 1) * Wq;          \
        if (sizeof(UT) == 8 || w->out[0] != 1 || w->k[0] != 1 || w->in[0] != 1 ||               \
            sw > DW_FLAT_MAX_STRIDE ||                                                         \
            OH * Wq + DW_FLAT_BLOCK > DW_FLAT_BYTES / (int64_t)sizeof(UT) ||                   \
            sh * sw * plane + DW_FLAT_BLOCK > DW_FLAT_BYTES / (int64_t)sizeof(XT))             \
            return 0;                                                                          \
        XT xq[DW_FLAT_BYTES / sizeof(XT)];                                                     \
        UT yf[DW_FLAT_BYTES / sizeof(UT)];                                                     \
        memset(xq, 0, sizeof(XT) * (size_t)(sh * sw * plane + DW_FLAT_BLOCK));                 \
        /* the same for every row: phase b holds inputs iw0[b], iw0[b] + sw, ... (cnt[b] of  \
           them) from column c0[b] on */                                                       \
        const int64_t nw = w->in[2] < Wp - w->pb[2] ? w->in[2] : Wp - w->pb[2];                \
        int64_t iw0[DW_FLAT_MAX_STRIDE], c0[DW_FLAT_MAX_STRIDE], cnt[DW_FLAT_MAX_STRIDE];      \
        for (int64_t b = 0; b < sw; b++) {                                                     \
            iw0[b] = ((b - w->pb[2]) % sw + sw) % sw;                                          \
            c0[b] = (iw0[b] + w->pb[2]) / sw;                                                  \
            cnt[b] = nw > iw0[b] ? (nw - iw0[b] + sw - 1) / sw : 0;                            \
        }                                                                                      \
        int64_t pr = w->pb[1] % sh, pq = w->pb[1] / sh; /* padded row ih + pb = pq*sh + pr */  \
        for (int64_t ih = 0; ih < w->in[1] && ih + w->pb[1] < Hp; ih++) {                      \
            XT *row = xq + pr * sw * plane + pq * Wq;                                          \
            const XT *restrict src = x + ih * w->in[2];                                        \
            if (sw == 1)                                                                       \
                memcpy(row + w->pb[2], src, sizeof(XT) * (size_t)(nw > 0 ? nw : 0));           \
            else if (sw == 2) /* constant stride: the loads vectorize */                       \
                for (int64_t b = 0; b < 2; b++) {                                              \
                    XT *restrict dst = row + b * plane + c0[b];                                \
                    const XT *restrict sb = src + iw0[b];                                      \
                    int64_t c = 0;                                                             \
                    for (; c + 8 <= cnt[b]; c += 8) /* blocks of 8: vectorized even for short rows */ \
                        for (int64_t j = c; j < c + 8; j++) dst[j] = sb[2 * j];                \
                    for (; c < cnt[b]; c++) dst[c] = sb[2 * c];                                \
                }                                                                              \
            else                                                                               \
                for (int64_t b = 0; b < sw; b++) {                                             \
                    XT *restrict dst = row + b * plane + c0[b];                                \
                    const XT *restrict sb = src + iw0[b];                                      \
                    for (int64_t c = 0; c < cnt[b]; c++) dst[c] = sb[c * sw];                  \
                }                                                                              \
            if (++pr == sh) {                                                                  \
                pr = 0;                                                                        \
                pq++;                                                                          \
            }                                                                                  \
        }                                                                                      \
        const int64_t n = (OH * Wq + DW_FLAT_BLOCK - 1) / DW_FLAT_BLOCK * DW_FLAT_BLOCK;        \
        for (int64_t i = 0; i < n; i++) yf[i] = (UT)bias;                                      \
        for (int64_t kh = 0; kh < w->k[1]; kh++)                                               \
            for (int64_t kw = 0; kw < w->k[2]; kw++) {                                         \
                const PT wk = (PT)wt[kh * w->k[2] + kw];                                       \
                const int64_t ph = kh * w->d[1], pw = kw * w->d[2];                            \
                const XT *restrict src =                                                       \
                    xq + (ph % sh * sw + pw % sw) * plane + ph / sh * Wq + pw / sw;            \
                if (wk != 0)                                                                   \
                    for (int64_t i = 0; i < n; i += DW_FLAT_BLOCK)                             \
                        for (int64_t j = i; j < i + DW_FLAT_BLOCK; j++)                        \
                            yf[j] += (UT)(PT)(wk * src[j]);                                    \
            }                                                                                  \
        for (int64_t oh = 0; oh < OH; oh++)                                                    \
            memcpy(y + oh * OW, yf + oh * Wq, sizeof(UT) * (size_t)OW);                        \
        return 1;                                                                              \
    }

/* Products in PT (exact: int16_t for 8-bit x 8-bit, which vectorizes to
 * 16-bit multiplies, else int32_t), sums in UT (uint32_t or uint64_t):
 * exact modulo 2^32 / 2^64. The body is compiled once per integer ISA
 * level (kernels/int_internal.h), the widest the CPU runs picked per call:
 * the sign extensions of the baseline (SSE2) cost more than the sums. */
#define DEFINE_DW_BODY(NAME, XT, WT, PT, UT)                                                    \
    DEFINE_DW_FLAT(NAME##_flat, XT, WT, PT, UT)                                                \
    NQ_INT_ALWAYS_INLINE void NAME(const nq_window3 *w, const void *xv, const void *wv,        \
                                   int64_t bias, void *yv)                                     \
    {                                                                                          \
        const XT *x = xv;                                                                      \
        const WT *wt = wv;                                                                     \
        UT *y = yv;                                                                            \
        if (NAME##_flat(w, x, wt, bias, y)) return;                                            \
        const int64_t OW = w->out[2], IW = w->in[2], s = w->s[2];                              \
        const int64_t n_out = w->out[0] * w->out[1] * OW;                                      \
        for (int64_t i = 0; i < n_out; i++) y[i] = (UT)bias;                                   \
        for (int64_t kd = 0; kd < w->k[0]; kd++)                                               \
            for (int64_t kh = 0; kh < w->k[1]; kh++)                                           \
                for (int64_t kw = 0; kw < w->k[2]; kw++) {                                     \
                    const PT wk = (PT)wt[(kd * w->k[1] + kh) * w->k[2] + kw];                  \
                    const int64_t off_w = kw * w->d[2] - w->pb[2];                             \
                    int64_t lo, hi;                                                            \
                    nq_window_row_range(OW, IW, s, off_w, &lo, &hi);                           \
                    if (wk == 0 || hi <= lo) continue;                                         \
                    NQ_WINDOW3_TAP_ROWS(w, kd, kh, xo, yo,                                     \
                        const XT *restrict xr = x + xo + off_w;                                \
                        UT *restrict yr = y + yo;                                              \
                        if (s == 1)                                                            \
                            for (int64_t o = lo; o < hi; o++) yr[o] += (UT)(PT)(wk * xr[o]);   \
                        else                                                                   \
                            for (int64_t o = lo; o < hi; o++) yr[o] += (UT)(PT)(wk * xr[o * s]);) \
                }                                                                              \
    }

/* Both accumulators of one operand pair. */
#define DEFINE_DW_ACCS(XN, WN, XT, WT, PT)                                                       \
    DEFINE_DW_BODY(dw_##XN##_##WN##_32, XT, WT, PT, uint32_t)                                  \
    DEFINE_DW_BODY(dw_##XN##_##WN##_64, XT, WT, PT, uint64_t)
DEFINE_DW_ACCS(s8, s8, int8_t, int8_t, int16_t)
DEFINE_DW_ACCS(u8, s8, uint8_t, int8_t, int16_t)
DEFINE_DW_ACCS(s16, s8, int16_t, int8_t, int32_t)
DEFINE_DW_ACCS(s8, s16, int8_t, int16_t, int32_t)
DEFINE_DW_ACCS(u8, s16, uint8_t, int16_t, int32_t)
DEFINE_DW_ACCS(s16, s16, int16_t, int16_t, int32_t)

/* One ISA's table, [acc64][X type][W type]. */
#define DW_PARAMS (const nq_window3 *w, const void *x, const void *wt, int64_t bias, void *y)
#define DEFINE_DW_ISA(SUFFIX, ATTR)                                                              \
    ATTR static void dw_s8_s8_32_##SUFFIX DW_PARAMS { dw_s8_s8_32(w, x, wt, bias, y); }         \
    ATTR static void dw_u8_s8_32_##SUFFIX DW_PARAMS { dw_u8_s8_32(w, x, wt, bias, y); }         \
    ATTR static void dw_s16_s8_32_##SUFFIX DW_PARAMS { dw_s16_s8_32(w, x, wt, bias, y); }       \
    ATTR static void dw_s8_s16_32_##SUFFIX DW_PARAMS { dw_s8_s16_32(w, x, wt, bias, y); }       \
    ATTR static void dw_u8_s16_32_##SUFFIX DW_PARAMS { dw_u8_s16_32(w, x, wt, bias, y); }       \
    ATTR static void dw_s16_s16_32_##SUFFIX DW_PARAMS { dw_s16_s16_32(w, x, wt, bias, y); }     \
    ATTR static void dw_s8_s8_64_##SUFFIX DW_PARAMS { dw_s8_s8_64(w, x, wt, bias, y); }         \
    ATTR static void dw_u8_s8_64_##SUFFIX DW_PARAMS { dw_u8_s8_64(w, x, wt, bias, y); }         \
    ATTR static void dw_s16_s8_64_##SUFFIX DW_PARAMS { dw_s16_s8_64(w, x, wt, bias, y); }       \
    ATTR static void dw_s8_s16_64_##SUFFIX DW_PARAMS { dw_s8_s16_64(w, x, wt, bias, y); }       \
    ATTR static void dw_u8_s16_64_##SUFFIX DW_PARAMS { dw_u8_s16_64(w, x, wt, bias, y); }       \
    ATTR static void dw_s16_s16_64_##SUFFIX DW_PARAMS { dw_s16_s16_64(w, x, wt, bias, y); }
#define DW_TABLE(SUFFIX)                                                                         \
    {{[NQ_DW_INT_S8] = {[NQ_DW_INT_S8] = dw_s8_s8_32_##SUFFIX,                                \
                        [NQ_DW_INT_S16] = dw_s8_s16_32_##SUFFIX},                              \
      [NQ_DW_INT_U8] = {[NQ_DW_INT_S8] = dw_u8_s8_32_##SUFFIX,                                \
                        [NQ_DW_INT_S16] = dw_u8_s16_32_##SUFFIX},                              \
      [NQ_DW_INT_S16] = {[NQ_DW_INT_S8] = dw_s16_s8_32_##SUFFIX,                              \
                         [NQ_DW_INT_S16] = dw_s16_s16_32_##SUFFIX}},                           \
     {[NQ_DW_INT_S8] = {[NQ_DW_INT_S8] = dw_s8_s8_64_##SUFFIX,                                \
                        [NQ_DW_INT_S16] = dw_s8_s16_64_##SUFFIX},                              \
      [NQ_DW_INT_U8] = {[NQ_DW_INT_S8] = dw_u8_s8_64_##SUFFIX,                                \
                        [NQ_DW_INT_S16] = dw_u8_s16_64_##SUFFIX},                              \
      [NQ_DW_INT_S16] = {[NQ_DW_INT_S8] = dw_s16_s8_64_##SUFFIX,                              \
                         [NQ_DW_INT_S16] = dw_s16_s16_64_##SUFFIX}}}

DEFINE_DW_ISA(generic, )
#if NQ_INT_X86
DEFINE_DW_ISA(avx2, NQ_INT_TARGET_AVX2)
DEFINE_DW_ISA(avx512vnni, NQ_INT_TARGET_AVX512VNNI)
#endif

/* [ISA][acc64][X type][W type] */
static const dw_fn dw_table[NQ_INT_ISA_COUNT][2][NQ_DW_INT_S16 + 1][NQ_DW_INT_S16 + 1] = {
    [NQ_INT_ISA_GENERIC] = DW_TABLE(generic),
#if NQ_INT_X86
    [NQ_INT_ISA_AVX2] = DW_TABLE(avx2),
    [NQ_INT_ISA_AVX512VNNI] = DW_TABLE(avx512vnni),
#endif
};

void nq_dw_int_plane(nq_int_isa isa, int acc64, nq_dw_int_type xt, nq_dw_int_type wt,
                     const nq_window3 *w, const void *x, const void *wts, int64_t bias, void *y)
{
    if (!nq_int_isa_available(isa)) isa = NQ_INT_ISA_GENERIC;
    dw_table[isa][acc64 != 0][xt][wt == NQ_DW_INT_S16 ? NQ_DW_INT_S16 : NQ_DW_INT_S8](w, x, wts,
                                                                                   bias, y);
}
