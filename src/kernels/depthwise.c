/* Depthwise convolution of one output plane, float and integer
 * (depthwise.h). */
#include "kernels/depthwise.h"

/* ---- float ---- */

NQ_INT_ALWAYS_INLINE void dw_f32(const nq_window3 *g, const float *x, const float *w, float bias,
                                 float *y)
{
    const int64_t IH = g->in[1], IW = g->in[2], OH = g->out[1], OW = g->out[2];
    for (int64_t i = 0; i < OH * OW; i++) y[i] = bias;
    for (int64_t kh = 0; kh < g->k[1]; kh++) {
        for (int64_t kw = 0; kw < g->k[2]; kw++) {
            const float wv = w[kh * g->k[2] + kw];
            const int64_t off_w = kw * g->d[2] - g->pb[2];
            int64_t lo, hi;
            nq_window_row_range(OW, IW, g->s[2], off_w, &lo, &hi);
            for (int64_t oh = 0; oh < OH; oh++) {
                const int64_t ih = oh * g->s[1] - g->pb[1] + kh * g->d[1];
                if (ih < 0 || ih >= IH) continue;
                const float *restrict xr = x + ih * IW + off_w;
                float *restrict yr = y + oh * OW;
                if (g->s[2] == 1)
                    for (int64_t ow = lo; ow < hi; ow++) yr[ow] += wv * xr[ow];
                else
                    for (int64_t ow = lo; ow < hi; ow++) yr[ow] += wv * xr[ow * g->s[2]];
            }
        }
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

/* Products in PT (exact: int16_t for 8-bit x 8-bit, which vectorizes to
 * 16-bit multiplies, else int32_t), sums in UT (uint32_t or uint64_t):
 * exact modulo 2^32 / 2^64. The body is compiled once per integer ISA
 * level (kernels/int_internal.h), the widest the CPU runs picked per call:
 * the sign extensions of the baseline (SSE2) cost more than the sums. */
#define DEFINE_DW_BODY(NAME, XT, WT, PT, UT)                                                    \
    NQ_INT_ALWAYS_INLINE void NAME(const nq_window3 *w, const void *xv, const void *wv,        \
                                   int64_t bias, void *yv)                                     \
    {                                                                                          \
        const XT *x = xv;                                                                      \
        const WT *wt = wv;                                                                     \
        UT *y = yv;                                                                            \
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
                    for (int64_t od = 0; od < w->out[0]; od++) {                               \
                        const int64_t id = od * w->s[0] - w->pb[0] + kd * w->d[0];             \
                        if (id < 0 || id >= w->in[0]) continue;                                \
                        for (int64_t oh = 0; oh < w->out[1]; oh++) {                           \
                            const int64_t ih = oh * w->s[1] - w->pb[1] + kh * w->d[1];         \
                            if (ih < 0 || ih >= w->in[1]) continue;                            \
                            const XT *restrict xr = x + (id * w->in[1] + ih) * IW + off_w;     \
                            UT *restrict yr = y + (od * w->out[1] + oh) * OW;                  \
                            if (s == 1)                                                        \
                                for (int64_t o = lo; o < hi; o++) yr[o] += (UT)(PT)(wk * xr[o]); \
                            else                                                               \
                                for (int64_t o = lo; o < hi; o++)                              \
                                    yr[o] += (UT)(PT)(wk * xr[o * s]);                         \
                        }                                                                      \
                    }                                                                          \
                }                                                                              \
    }

DEFINE_DW_BODY(dw_s8_s8_32, int8_t, int8_t, int16_t, uint32_t)
DEFINE_DW_BODY(dw_u8_s8_32, uint8_t, int8_t, int16_t, uint32_t)
DEFINE_DW_BODY(dw_s16_s8_32, int16_t, int8_t, int32_t, uint32_t)
DEFINE_DW_BODY(dw_s8_s16_32, int8_t, int16_t, int32_t, uint32_t)
DEFINE_DW_BODY(dw_u8_s16_32, uint8_t, int16_t, int32_t, uint32_t)
DEFINE_DW_BODY(dw_s16_s16_32, int16_t, int16_t, int32_t, uint32_t)
DEFINE_DW_BODY(dw_s8_s8_64, int8_t, int8_t, int16_t, uint64_t)
DEFINE_DW_BODY(dw_u8_s8_64, uint8_t, int8_t, int16_t, uint64_t)
DEFINE_DW_BODY(dw_s16_s8_64, int16_t, int8_t, int32_t, uint64_t)
DEFINE_DW_BODY(dw_s8_s16_64, int8_t, int16_t, int32_t, uint64_t)
DEFINE_DW_BODY(dw_u8_s16_64, uint8_t, int16_t, int32_t, uint64_t)
DEFINE_DW_BODY(dw_s16_s16_64, int16_t, int16_t, int32_t, uint64_t)

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
