/* Depthwise convolution of one output plane, float and integer
 * (depthwise.h). */
#include <string.h>

#include "kernels/depthwise.h"

/* ---- the phase form of small planes ----
 *
 * Small 2-D planes have rows too short for vectors (a 7 x 7 plane: 7
 * lanes). The phase form copies the padded input into stride phases,
 * phase (a, b) holding the padded elements (r*sh + a, c*sw + b), so that
 * every tap reads one phase at unit stride; with the output rows as wide
 * as a phase row (the extra columns computed and dropped), each tap is
 * then one loop over the whole plane, in whole blocks of DW_FLAT_BLOCK
 * outputs (the extra ones read zeros past the phases and are dropped: a
 * 14 x 15 or 7 x 8 plane otherwise spends half its time in the scalar
 * remainder). Integer sums add the padding's zeros (the sums do not
 * change); float sums skip them by a mask, so that every output gets the
 * same operations in the same order as in the row loops (a zero added
 * would turn a -0 sum into +0, and Inf x 0 into NaN). Each buffer takes
 * at most DW_FLAT_BYTES of stack; larger planes use the row loops. */
enum { DW_FLAT_BYTES = 16384, DW_FLAT_MAX_STRIDE = 8, DW_FLAT_BLOCK = 32 };

typedef struct dw_phases {
    int64_t sh, sw, OH, OW, Hp, Wq, plane; /* Hp: padded rows read; plane: elements of one phase */
    int64_t n;                          /* outputs computed: OH * Wq, whole blocks */
    /* the same for every row: phase b holds inputs iw0[b], iw0[b] + sw, ...
       (cnt[b] of them) from column c0[b] on */
    int64_t iw0[DW_FLAT_MAX_STRIDE], c0[DW_FLAT_MAX_STRIDE], cnt[DW_FLAT_MAX_STRIDE];
} dw_phases;

/* The layout of w's plane with xsize-byte inputs and ysize-byte sums; 0
 * where the plane is not 2-D or does not fit. */
static inline int dw_phases_make(const nq_window3 *w, int64_t xsize, int64_t ysize, dw_phases *p)
{
    p->sh = w->s[1], p->sw = w->s[2], p->OH = w->out[1], p->OW = w->out[2];
    const int64_t Hp = p->Hp = (p->OH - 1) * p->sh + (w->k[1] - 1) * w->d[1] + 1;
    const int64_t Wp = (p->OW - 1) * p->sw + (w->k[2] - 1) * w->d[2] + 1;
    p->Wq = (Wp + p->sw - 1) / p->sw, p->plane = ((Hp + p->sh - 1) / p->sh + 1) * p->Wq;
    p->n = (p->OH * p->Wq + DW_FLAT_BLOCK - 1) / DW_FLAT_BLOCK * DW_FLAT_BLOCK;
    if (w->out[0] != 1 || w->k[0] != 1 || w->in[0] != 1 || p->sw > DW_FLAT_MAX_STRIDE ||
        p->n > DW_FLAT_BYTES / ysize || p->sh * p->sw * p->plane + DW_FLAT_BLOCK > DW_FLAT_BYTES / xsize)
        return 0;
    const int64_t nw = w->in[2] < Wp - w->pb[2] ? w->in[2] : Wp - w->pb[2];
    for (int64_t b = 0; b < p->sw; b++) {
        p->iw0[b] = ((b - w->pb[2]) % p->sw + p->sw) % p->sw;
        p->c0[b] = (p->iw0[b] + w->pb[2]) / p->sw;
        p->cnt[b] = nw > p->iw0[b] ? (nw - p->iw0[b] + p->sw - 1) / p->sw : 0;
    }
    return 1;
}

/* Where tap (kh, kw) reads in the phase buffer. */
static inline int64_t dw_phases_tap(const dw_phases *p, const nq_window3 *w, int64_t kh, int64_t kw)
{
    const int64_t ph = kh * w->d[1], pw = kw * w->d[2];
    return (ph % p->sh * p->sw + pw % p->sw) * p->plane + ph / p->sh * p->Wq + pw / p->sw;
}

/* NAME(p, w, x, xq): the phases of plane x in xq, zero elsewhere (and in
 * the DW_FLAT_BLOCK elements after them); each element written is
 * LOAD(src, i), src the input row. */
#define DW_LOAD_ELEM(src, i) (src)[i]
#define DW_LOAD_ONES(src, i) ((void)(src), (void)(i), -1)
#define DEFINE_DW_PHASE_COPY(NAME, XT, T, LOAD)                                                  \
    NQ_INT_ALWAYS_INLINE void NAME(const dw_phases *p, const nq_window3 *w, const XT *x, T *xq) \
    {                                                                                          \
        const int64_t sh = p->sh, sw = p->sw, Hp = p->Hp;                                      \
        memset(xq, 0, sizeof(T) * (size_t)(sh * sw * p->plane + DW_FLAT_BLOCK));               \
        int64_t pr = w->pb[1] % sh, pq = w->pb[1] / sh; /* padded row ih + pb = pq*sh + pr */  \
        for (int64_t ih = 0; ih < w->in[1] && ih + w->pb[1] < Hp; ih++) {                      \
            T *row = xq + pr * sw * p->plane + pq * p->Wq;                                     \
            const XT *restrict src = x + ih * w->in[2];                                        \
            for (int64_t b = 0; b < sw; b++) {                                                 \
                T *restrict dst = row + b * p->plane + p->c0[b];                               \
                const XT *restrict sb = src + p->iw0[b];                                       \
                int64_t c = 0;                                                                 \
                if (sw == 1)                                                                   \
                    for (; c < p->cnt[b]; c++) dst[c] = (T)LOAD(sb, c);                        \
                else if (sw == 2) { /* constant stride, blocks of 8: vectorized */             \
                    for (; c + 8 <= p->cnt[b]; c += 8)                                         \
                        for (int64_t j = c; j < c + 8; j++) dst[j] = (T)LOAD(sb, 2 * j);       \
                    for (; c < p->cnt[b]; c++) dst[c] = (T)LOAD(sb, 2 * c);                    \
                } else                                                                         \
                    for (; c < p->cnt[b]; c++) dst[c] = (T)LOAD(sb, c * sw);                   \
            }                                                                                  \
            if (++pr == sh) {                                                                  \
                pr = 0;                                                                        \
                pq++;                                                                          \
            }                                                                                  \
        }                                                                                      \
    }
DEFINE_DW_PHASE_COPY(dw_copy_s8, int8_t, int8_t, DW_LOAD_ELEM)
DEFINE_DW_PHASE_COPY(dw_copy_u8, uint8_t, uint8_t, DW_LOAD_ELEM)
DEFINE_DW_PHASE_COPY(dw_copy_s16, int16_t, int16_t, DW_LOAD_ELEM)
DEFINE_DW_PHASE_COPY(dw_copy_f32, float, float, DW_LOAD_ELEM)
DEFINE_DW_PHASE_COPY(dw_mask_f32, float, int32_t, DW_LOAD_ONES)

/* The OW valid columns of each output row of yf (rows Wq apart) to y. */
static inline void dw_phases_store(const dw_phases *p, const void *yf, void *y, size_t size)
{
    for (int64_t oh = 0; oh < p->OH; oh++)
        memcpy((char *)y + (size_t)(oh * p->OW) * size, (const char *)yf + (size_t)(oh * p->Wq) * size,
               size * (size_t)p->OW);
}

/* ---- float ---- */

/* One plane from its phases xq and the padding mask mq (dw_phases_make). */
NQ_INT_ALWAYS_INLINE void dw_f32_flat(const dw_phases *p, const nq_window3 *w, const float *xq,
                                      const int32_t *mq, const float *wt, float bias, float *y)
{
    float yf[DW_FLAT_BYTES / sizeof(float)];
    for (int64_t i = 0; i < p->n; i++) yf[i] = bias;
    for (int64_t kh = 0; kh < w->k[1]; kh++)
        for (int64_t kw = 0; kw < w->k[2]; kw++) {
            const float wv = wt[kh * w->k[2] + kw];
            const int64_t off = dw_phases_tap(p, w, kh, kw);
            const float *restrict src = xq + off;
            const int32_t *restrict m = mq + off;
            for (int64_t i = 0; i < p->n; i += DW_FLAT_BLOCK)
                for (int64_t j = i; j < i + DW_FLAT_BLOCK; j++) {
                    /* the sum where the mask is all ones, else yf[j]: a select
                       by bits (a conditional float sum does not vectorize) */
                    const float r = yf[j] + wv * src[j];
                    uint32_t rb, yb;
                    memcpy(&rb, &r, sizeof rb);
                    memcpy(&yb, &yf[j], sizeof yb);
                    yb = (rb & (uint32_t)m[j]) | (yb & ~(uint32_t)m[j]);
                    memcpy(&yf[j], &yb, sizeof yb);
                }
        }
    dw_phases_store(p, yf, y, sizeof(float));
}

/* One plane in the row loops. */
NQ_INT_ALWAYS_INLINE void dw_f32_rows(const nq_window3 *g, const float *x, const float *w, float bias,
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

/* 2-D (depth 1) planes, as conv.c sends them (nq_dw_f32_planes). The
 * phase form builds the padding mask once for all of them, and the phases
 * of an input plane once for its mg outputs. */
NQ_INT_ALWAYS_INLINE void dw_f32(const nq_window3 *g, const nq_dw_f32_run *r)
{
    dw_phases p;
    if (!dw_phases_make(g, (int64_t)sizeof(float), (int64_t)sizeof(float), &p)) {
        for (int64_t j = 0; j < r->n; j++)
            dw_f32_rows(g, r->x + j / r->mg * r->x_plane, r->w + j * r->w_plane,
                        r->bias ? r->bias[j] : 0.0f, r->y + j * r->y_plane);
        return;
    }
    float xq[DW_FLAT_BYTES / sizeof(float)];
    int32_t mq[DW_FLAT_BYTES / sizeof(int32_t)];
    dw_mask_f32(&p, g, r->x, mq);
    for (int64_t j = 0; j < r->n; j++) {
        if (j % r->mg == 0) dw_copy_f32(&p, g, r->x + j / r->mg * r->x_plane, xq);
        dw_f32_flat(&p, g, xq, mq, r->w + j * r->w_plane, r->bias ? r->bias[j] : 0.0f,
                    r->y + j * r->y_plane);
    }
}

static void dw_f32_generic(const nq_window3 *g, const nq_dw_f32_run *r) { dw_f32(g, r); }
#if NQ_INT_X86
/* avx2 alone: no FMA, so no contraction of the product and the sum */
NQ_INT_TARGET_AVX2 static void dw_f32_avx2(const nq_window3 *g, const nq_dw_f32_run *r)
{
    dw_f32(g, r);
}
#endif

void nq_dw_f32_planes(nq_f32_isa isa, const nq_window3 *w, const nq_dw_f32_run *r)
{
    if (r->n <= 0) return;
#if NQ_INT_X86
    if (isa == NQ_F32_ISA_AVX2 && nq_f32_isa_available(isa)) {
        dw_f32_avx2(w, r);
        return;
    }
#endif
    (void)isa;
    dw_f32_generic(w, r);
}

/* ---- integer ---- */

typedef void (*dw_fn)(const nq_window3 *w, const void *x, const void *wt, int64_t bias,
                      void *y);

/* The phase form (above) for every input type and both sums. (Without
 * whole blocks and with a division per element in the phase copy, it made
 * mobilenet's W16A16 depthwise layers, int64 sums, 10-20% slower than the
 * row loops; with them, its W16A16 eval takes a third less time.) */
#define DEFINE_DW_FLAT(NAME, XT, WT, PT, UT, COPY)                                              \
    NQ_INT_ALWAYS_INLINE int NAME(const nq_window3 *w, const XT *x, const WT *wt, int64_t bias, \
                                  UT *y)                                                       \
    {                                                                                          \
        dw_phases p;                                                                           \
        if (!dw_phases_make(w, (int64_t)sizeof(XT), (int64_t)sizeof(UT), &p)) return 0;       \
        XT xq[DW_FLAT_BYTES / sizeof(XT)];                                                     \
        UT yf[DW_FLAT_BYTES / sizeof(UT)];                                                     \
        COPY(&p, w, x, xq);                                                                    \
        for (int64_t i = 0; i < p.n; i++) yf[i] = (UT)bias;                                    \
        for (int64_t kh = 0; kh < w->k[1]; kh++)                                               \
            for (int64_t kw = 0; kw < w->k[2]; kw++) {                                         \
                const PT wk = (PT)wt[kh * w->k[2] + kw];                                       \
                const XT *restrict src = xq + dw_phases_tap(&p, w, kh, kw);                    \
                if (wk != 0)                                                                   \
                    for (int64_t i = 0; i < p.n; i += DW_FLAT_BLOCK)                           \
                        for (int64_t j = i; j < i + DW_FLAT_BLOCK; j++)                        \
                            yf[j] += (UT)(PT)(wk * src[j]);                                    \
            }                                                                                  \
        dw_phases_store(&p, yf, y, sizeof(UT));                                                \
        return 1;                                                                              \
    }

/* Products in PT (exact: int16_t for 8-bit x 8-bit, which vectorizes to
 * 16-bit multiplies, else int32_t), sums in UT (uint32_t or uint64_t):
 * exact modulo 2^32 / 2^64. The body is compiled once per integer ISA
 * level (kernels/int_internal.h), the widest the CPU runs picked per call:
 * the sign extensions of the baseline (SSE2) cost more than the sums. */
#define DEFINE_DW_BODY(NAME, XT, WT, PT, UT, COPY)                                              \
    DEFINE_DW_FLAT(NAME##_flat, XT, WT, PT, UT, COPY)                                          \
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
    DEFINE_DW_BODY(dw_##XN##_##WN##_32, XT, WT, PT, uint32_t, dw_copy_##XN)                    \
    DEFINE_DW_BODY(dw_##XN##_##WN##_64, XT, WT, PT, uint64_t, dw_copy_##XN)
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
