/* Requantization, quantization and dequantization: the one definition of
 * nnquant's integer rounding (docs/numerics.md). nq_requant_apply() is the
 * scalar reference, exact for any int64 accumulator; the vector loops
 * compute the same integers with a cheaper formula that is exact for
 * int32-range accumulators (and take the reference's exact path for int64
 * ones outside that range). The loops are compiled once per x86 ISA level
 * and picked at run time (int_internal.h); tests compare every variant
 * with nq_requant_apply. */
#include <float.h>
#include <math.h>

#include "kernels/int_internal.h"
#include "kernels/requant_core.h"
#include "nnquant/kernels.h"

/* ---- requant parameters --------------------------------------------- */

nq_requant_range nq_requant_from_scale_checked(double m, nq_requant *out)
{
    nq_requant r = {0, NQ_REQUANT_SHIFT_MAX};
    nq_requant_range range = NQ_REQUANT_INVALID;
    if (!(m > 0.0)) { /* m <= 0 or NaN */
        *out = r;
        return range;
    }
    if (isinf(m)) {
        r.mult = INT32_MAX;
        r.shift = 1;
        *out = r;
        return NQ_REQUANT_OVERFLOW;
    }
    int e;
    double f = frexp(m, &e);           /* m = f * 2^e, f in [0.5, 1) */
    double mf = round(ldexp(f, 31));   /* exact scaling; ties away from zero */
    if (mf >= 2147483648.0) {          /* rounded up to 2^31 */
        mf = 1073741824.0;
        e += 1;
    }
    int shift = 31 - e;
    if (shift < 1) {
        r.mult = INT32_MAX;
        r.shift = 1;
        range = NQ_REQUANT_OVERFLOW;
    } else if (shift > NQ_REQUANT_SHIFT_MAX) {
        /* m < 2^-32: keep the factor at the largest shift (mult < 2^30). */
        r.mult = (int32_t)round(ldexp(m, NQ_REQUANT_SHIFT_MAX));
        r.shift = NQ_REQUANT_SHIFT_MAX;
        range = NQ_REQUANT_UNDERFLOW;
    } else {
        r.mult = (int32_t)mf;
        r.shift = shift;
        range = NQ_REQUANT_EXACT;
    }
    *out = r;
    return range;
}

nq_requant nq_requant_from_scale(double m)
{
    nq_requant r;
    (void)nq_requant_from_scale_checked(m, &r);
    return r;
}

nq_requant nq_requant_from_shift(int shift)
{
    nq_requant r;
    r.mult = 1;
    r.shift = shift < NQ_REQUANT_SHIFT_MIN   ? NQ_REQUANT_SHIFT_MIN
              : shift > NQ_REQUANT_SHIFT_MAX ? NQ_REQUANT_SHIFT_MAX
                                             : shift;
    return r;
}

double nq_requant_to_double(nq_requant r)
{
    return ldexp((double)r.mult, -(int)r.shift);
}

/* ---- the reference: nq_requant_apply -------------------------------- */

/* The core lives in requant_core.h, shared word for word with the C
 * export; the limits must agree with kernels.h. */
_Static_assert(NQ_RQ_SHIFT_MIN == NQ_REQUANT_SHIFT_MIN && NQ_RQ_SHIFT_MAX == NQ_REQUANT_SHIFT_MAX,
               "requant_core.h and kernels.h disagree on the shift range");

/* The fields as the apply functions use them (see kernels.h). */
static inline nq_requant sanitize(nq_requant r)
{
    if (r.mult < 0) r.mult = 0;
    if (r.shift < NQ_REQUANT_SHIFT_MIN) r.shift = NQ_REQUANT_SHIFT_MIN;
    if (r.shift > NQ_REQUANT_SHIFT_MAX) r.shift = NQ_REQUANT_SHIFT_MAX;
    return r;
}

int32_t nq_requant_apply(int64_t acc, nq_requant r, int32_t qmin, int32_t qmax)
{
    return nq_rq_apply(acc, r.mult, r.shift, qmin, qmax);
}

/* ---- vector requantization ------------------------------------------ */

/* Precomputed form of one requant for int32 accumulators. With shift
 * n >= 1 and |acc| <= 2^31, acc * M lies in (-2^62, 2^62), so
 *   u = (uint64)(acc * M) + 2^62 + 2^(n-1)   (wraps to the exact value in [0, 2^64))
 *   y = (u >> n) - 2^(62-n)
 * is floor((acc * M + 2^(n-1)) / 2^n) with a logical shift only, which
 * vectorizes on every x86-64 level. With n <= 0, y = acc * M * 2^-n. */
typedef struct rq32 {
    int64_t mult;
    int shift;          /* right shift n >= 1, or 0 for the left-shift form */
    int lshift;         /* k = -shift >= 0 for the left-shift form */
    uint64_t add;       /* 2^62 + 2^(n-1) */
    int64_t sub;        /* 2^(62-n) */
    int64_t lo, hi;     /* [qmin, qmax] intersected with the output type */
} rq32;

static inline rq32 rq32_make(nq_requant r, int32_t qmin, int32_t qmax, int64_t tmin, int64_t tmax)
{
    rq32 q;
    r = sanitize(r);
    q.mult = r.mult;
    q.shift = r.shift >= 1 ? r.shift : 0;
    q.lshift = r.shift >= 1 ? 0 : -r.shift;
    q.add = q.shift ? ((uint64_t)1 << 62) + ((uint64_t)1 << (q.shift - 1)) : 0;
    q.sub = q.shift ? NQ_RQ_P2(62 - q.shift) : 0;
    q.lo = nq_rq_clamp64(qmin, tmin, tmax);
    q.hi = nq_rq_clamp64(qmax, tmin, tmax);
    return q;
}

/* The loops: one per (accumulator type, output type), compiled once per
 * ISA level (64-bit vector multiplies and compares need SSE4/AVX2) and
 * picked at run time. The right-shift loop is branch-free so that it
 * vectorizes; int64 accumulators go through it in chunks of RQ_CHUNK
 * whose values all lie within int32 (one vectorized range test per
 * chunk), and a chunk holding any other value takes the exact path
 * element by element. */
enum { RQ_CHUNK = 256 };
#define DEFINE_RQ_LOOP(SRC, SRCT, DST, DSTT)                                                     \
    NQ_INT_ALWAYS_INLINE void rq_loop_##SRC##_##DST(const SRCT *restrict acc, int64_t n,        \
                                                    const rq32 *q, DSTT *restrict out)          \
    {                                                                                           \
        if (!q->shift) {                                                                        \
            for (int64_t i = 0; i < n; i++)                                                     \
                out[i] = (DSTT)nq_rq_lshift_exact((int64_t)acc[i], q->mult, q->lshift, q->lo,   \
                                                  q->hi);                                       \
            return;                                                                             \
        }                                                                                       \
        const int32_t M = (int32_t)q->mult; /* a widening int32 x int32 product */              \
        const int64_t sub = q->sub, lo = q->lo, hi = q->hi;                                     \
        const uint64_t add = q->add;                                                            \
        const int sh = q->shift;                                                                \
        for (int64_t i0 = 0; i0 < n; i0 += RQ_CHUNK) {                                          \
            const int64_t m = n - i0 < RQ_CHUNK ? n - i0 : RQ_CHUNK;                            \
            const SRCT *restrict a = acc + i0;                                                  \
            DSTT *restrict o = out + i0;                                                        \
            uint64_t wide = 0; /* nonzero if some a[i] is outside int32 */                      \
            if (sizeof(SRCT) > 4)                                                               \
                for (int64_t i = 0; i < m; i++)                                                 \
                    wide |= ((uint64_t)(int64_t)a[i] + ((uint64_t)1 << 31)) >> 32;              \
            if (wide) {                                                                         \
                for (int64_t i = 0; i < m; i++)                                                 \
                    o[i] = (DSTT)nq_rq_rshift_exact((int64_t)a[i], M, sh, lo, hi);              \
                continue;                                                                       \
            }                                                                                   \
            for (int64_t i = 0; i < m; i++) {                                                   \
                uint64_t u = (uint64_t)((int64_t)(int32_t)a[i] * M) + add;                      \
                int64_t y = (int64_t)(u >> sh) - sub;                                           \
                y = y < lo ? lo : y;                                                            \
                y = y > hi ? hi : y;                                                            \
                o[i] = (DSTT)y;                                                                 \
            }                                                                                   \
        }                                                                                       \
    }

/* Per-tensor and per-channel entry points over a loop rq_<SRC>_<DST>(isa, ...). */
#define DEFINE_RQ_API(SRC, SRCT, DST, DSTT, TMIN, TMAX)                                          \
    void nq_requant_##SRC##_to_##DST(const SRCT *acc, int64_t n, nq_requant r, int32_t qmin,    \
                                     int32_t qmax, DSTT *out)                                   \
    {                                                                                           \
        rq32 q = rq32_make(r, qmin, qmax, TMIN, TMAX);                                          \
        rq_##SRC##_##DST(nq_int_isa_best(), acc, n, &q, out);                                   \
    }                                                                                           \
    void nq_requant_##SRC##_to_##DST##_per_channel(const SRCT *acc, int64_t batch,              \
                                                   int64_t channels, int64_t spatial,           \
                                                   const nq_requant *r, int32_t qmin,           \
                                                   int32_t qmax, DSTT *out)                     \
    {                                                                                           \
        if (spatial <= 0) return;                                                               \
        const nq_int_isa isa = nq_int_isa_best();                                               \
        for (int64_t b = 0; b < batch; b++)                                                     \
            for (int64_t c = 0; c < channels; c++) {                                            \
                rq32 q = rq32_make(r[c], qmin, qmax, TMIN, TMAX);                               \
                int64_t off = (b * channels + c) * spatial;                                     \
                rq_##SRC##_##DST(isa, acc + off, spatial, &q, out + off);                       \
            }                                                                                   \
    }

/* One (accumulator, output) pair: a variant per ISA level, the _isa
 * entry point and the public ones. */
#define DEFINE_REQUANT(SRC, SRCT, DST, DSTT, TMIN, TMAX)                                         \
    DEFINE_RQ_LOOP(SRC, SRCT, DST, DSTT)                                                        \
    static void rq_##SRC##_##DST##_generic(const SRCT *acc, int64_t n, const rq32 *q,           \
                                           DSTT *out)                                           \
    {                                                                                           \
        rq_loop_##SRC##_##DST(acc, n, q, out);                                                  \
    }                                                                                           \
    NQ_ISA_VARIANTS(static void rq_##SRC##_##DST,                                               \
                    (const SRCT *acc, int64_t n, const rq32 *q, DSTT *out),                     \
                    rq_loop_##SRC##_##DST(acc, n, q, out))                                      \
    static void rq_##SRC##_##DST(nq_int_isa isa, const SRCT *acc, int64_t n, const rq32 *q,     \
                                 DSTT *out)                                                     \
    {                                                                                           \
        NQ_ISA_DISPATCH(isa, rq_##SRC##_##DST, (acc, n, q, out));                               \
    }                                                                                           \
    void nq_requant_##SRC##_to_##DST##_isa(nq_int_isa isa, const SRCT *acc, int64_t n,          \
                                           nq_requant r, int32_t qmin, int32_t qmax,            \
                                           DSTT *out)                                           \
    {                                                                                           \
        rq32 q = rq32_make(r, qmin, qmax, TMIN, TMAX);                                          \
        rq_##SRC##_##DST(nq_int_isa_available(isa) ? isa : NQ_INT_ISA_GENERIC, acc, n, &q,     \
                         out);                                                                  \
    }                                                                                           \
    DEFINE_RQ_API(SRC, SRCT, DST, DSTT, TMIN, TMAX)

DEFINE_REQUANT(s32, int32_t, s8, int8_t, INT8_MIN, INT8_MAX)
DEFINE_REQUANT(s32, int32_t, u8, uint8_t, 0, UINT8_MAX)
DEFINE_REQUANT(s32, int32_t, s16, int16_t, INT16_MIN, INT16_MAX)
DEFINE_REQUANT(s32, int32_t, s32, int32_t, INT32_MIN, INT32_MAX)
DEFINE_REQUANT(s64, int64_t, s8, int8_t, INT8_MIN, INT8_MAX)
DEFINE_REQUANT(s64, int64_t, u8, uint8_t, 0, UINT8_MAX)
DEFINE_REQUANT(s64, int64_t, s16, int16_t, INT16_MIN, INT16_MAX)
DEFINE_REQUANT(s64, int64_t, s32, int32_t, INT32_MIN, INT32_MAX)

/* ---- float quantization ---------------------------------------------- */

/* round_half_even(v) for a v already clamped to integers within +-2^22
 * (every output range here but int32's): adding 1.5 * 2^23 moves v to
 * where float32's spacing is 1, so the addition itself rounds to nearest
 * even, exactly like nearbyintf in the default rounding mode, and it
 * vectorizes. Needs float arithmetic in float precision (FLT_EVAL_METHOD
 * 0); elsewhere nearbyintf is called. */
#if FLT_EVAL_METHOD == 0
static inline float round_even_small(float v)
{
    const float magic = 12582912.0f; /* 1.5 * 2^23 */
    return (v + magic) - magic;
}
#else
static inline float round_even_small(float v)
{
    return nearbyintf(v);
}
#endif

/* The clamp happens before rounding: [qmin, qmax] are integers, so
 * clamp(round(v)) == round(clamp(v)). NaN becomes 0 first. One variant
 * per ISA level, as for requantization. */
#define DEFINE_QUANTIZE_SMALL(DST, DSTT, TMIN, TMAX)                                             \
    NQ_INT_ALWAYS_INLINE void qz_loop_##DST(const float *restrict x, int64_t n, float scale,    \
                                            float lo, float hi, DSTT *restrict out)             \
    {                                                                                           \
        for (int64_t i = 0; i < n; i++) {                                                       \
            float v = x[i] * scale;                                                             \
            v = v == v ? v : 0.0f;                                                              \
            v = v < lo ? lo : v;                                                                \
            v = v > hi ? hi : v;                                                                \
            out[i] = (DSTT)(int32_t)round_even_small(v);                                        \
        }                                                                                       \
    }                                                                                           \
    static void qz_##DST##_generic(const float *x, int64_t n, float scale, float lo, float hi,  \
                                   DSTT *out)                                                   \
    {                                                                                           \
        qz_loop_##DST(x, n, scale, lo, hi, out);                                                \
    }                                                                                           \
    NQ_ISA_VARIANTS(static void qz_##DST,                                                       \
                    (const float *x, int64_t n, float scale, float lo, float hi, DSTT *out),    \
                    qz_loop_##DST(x, n, scale, lo, hi, out))                                    \
    static void qz_##DST(nq_int_isa isa, const float *x, int64_t n, float scale, float lo,      \
                         float hi, DSTT *out)                                                   \
    {                                                                                           \
        NQ_ISA_DISPATCH(isa, qz_##DST, (x, n, scale, lo, hi, out));                             \
    }                                                                                           \
    static void qz_range_##DST(int32_t qmin, int32_t qmax, float *lo, float *hi)                \
    {                                                                                           \
        *lo = (float)nq_rq_clamp64(qmin, TMIN, TMAX);                                               \
        *hi = (float)nq_rq_clamp64(qmax, TMIN, TMAX);                                               \
        if (*lo > *hi) *lo = *hi; /* min(max(y, qmin), qmax) is qmax then */                    \
    }                                                                                           \
    void nq_quantize_f32_##DST##_isa(nq_int_isa isa, const float *x, int64_t n, float scale,    \
                                     int32_t qmin, int32_t qmax, DSTT *out)                     \
    {                                                                                           \
        float lo, hi;                                                                           \
        qz_range_##DST(qmin, qmax, &lo, &hi);                                                   \
        qz_##DST(nq_int_isa_available(isa) ? isa : NQ_INT_ISA_GENERIC, x, n, scale, lo, hi,     \
                 out);                                                                          \
    }                                                                                           \
    void nq_quantize_f32_##DST(const float *x, int64_t n, float scale, int32_t qmin,            \
                               int32_t qmax, DSTT *out)                                         \
    {                                                                                           \
        float lo, hi;                                                                           \
        qz_range_##DST(qmin, qmax, &lo, &hi);                                                   \
        qz_##DST(nq_int_isa_best(), x, n, scale, lo, hi, out);                                  \
    }                                                                                           \
    void nq_quantize_f32_##DST##_per_channel(const float *x, int64_t batch, int64_t channels,   \
                                             int64_t spatial, const float *scale,               \
                                             int32_t qmin, int32_t qmax, DSTT *out)             \
    {                                                                                           \
        float lo, hi;                                                                           \
        qz_range_##DST(qmin, qmax, &lo, &hi);                                                   \
        if (spatial <= 0) return;                                                               \
        const nq_int_isa isa = nq_int_isa_best();                                               \
        for (int64_t b = 0; b < batch; b++)                                                     \
            for (int64_t c = 0; c < channels; c++) {                                            \
                int64_t off = (b * channels + c) * spatial;                                     \
                qz_##DST(isa, x + off, spatial, scale[c], lo, hi, out + off);                   \
            }                                                                                   \
    }

DEFINE_QUANTIZE_SMALL(s8, int8_t, INT8_MIN, INT8_MAX)
DEFINE_QUANTIZE_SMALL(u8, uint8_t, 0, UINT8_MAX)
DEFINE_QUANTIZE_SMALL(s16, int16_t, INT16_MIN, INT16_MAX)

/* Fake quantization: float in, float out, same rounding. */
NQ_INT_ALWAYS_INLINE void fq_loop(const float *restrict x, int64_t n, float scale, float lo, float hi,
                                  float *restrict out)
{
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] * scale;
        v = v < lo ? lo : v;
        v = v > hi ? hi : v;
        out[i] = round_even_small(v);
    }
}
static void fq_generic(const float *x, int64_t n, float scale, float lo, float hi, float *out)
{
    fq_loop(x, n, scale, lo, hi, out);
}
NQ_ISA_VARIANTS(static void fq, (const float *x, int64_t n, float scale, float lo, float hi, float *out),
                fq_loop(x, n, scale, lo, hi, out))

void nq_fake_quantize_f32_isa(nq_int_isa isa, const float *x, int64_t n, float scale, float lo, float hi,
                              float *out)
{
    NQ_ISA_DISPATCH(nq_int_isa_available(isa) ? isa : NQ_INT_ISA_GENERIC, fq, (x, n, scale, lo, hi, out));
}

void nq_fake_quantize_f32(const float *x, int64_t n, float scale, float lo, float hi, float *out)
{
    nq_fake_quantize_f32_isa(nq_int_isa_best(), x, n, scale, lo, hi, out);
}

/* int32: float32 cannot hold every int32, so compare in double (exact
 * for both the float value and the int32 bounds) and round with
 * nearbyintf; values beyond +-2^31 saturate. */
static void qz_s32(const float *restrict x, int64_t n, float scale, int32_t qmin, int32_t qmax,
                   int32_t *restrict out)
{
    if (qmin > qmax) qmin = qmax;
    for (int64_t i = 0; i < n; i++) {
        float v = x[i] * scale;
        double d = v == v ? (double)nearbyintf(v) : 0.0;
        out[i] = d <= (double)qmin ? qmin : d >= (double)qmax ? qmax : (int32_t)d;
    }
}

void nq_quantize_f32_s32(const float *x, int64_t n, float scale, int32_t qmin, int32_t qmax,
                         int32_t *out)
{
    qz_s32(x, n, scale, qmin, qmax, out);
}

void nq_quantize_f32_s32_per_channel(const float *x, int64_t batch, int64_t channels,
                                     int64_t spatial, const float *scale, int32_t qmin,
                                     int32_t qmax, int32_t *out)
{
    if (spatial <= 0) return;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t c = 0; c < channels; c++) {
            int64_t off = (b * channels + c) * spatial;
            qz_s32(x + off, spatial, scale[c], qmin, qmax, out + off);
        }
}

/* ---- dequantization -------------------------------------------------- */

#define DEFINE_DEQUANTIZE(SRC, SRCT)                                                             \
    static void dq_##SRC(const SRCT *restrict q, int64_t n, float inv_scale, float *restrict out) \
    {                                                                                           \
        for (int64_t i = 0; i < n; i++) out[i] = (float)q[i] * inv_scale;                       \
    }                                                                                           \
    void nq_dequantize_##SRC##_f32(const SRCT *q, int64_t n, float inv_scale, float *out)       \
    {                                                                                           \
        dq_##SRC(q, n, inv_scale, out);                                                         \
    }

DEFINE_DEQUANTIZE(s8, int8_t)
DEFINE_DEQUANTIZE(u8, uint8_t)
DEFINE_DEQUANTIZE(s16, int16_t)
DEFINE_DEQUANTIZE(s32, int32_t)

void nq_dequantize_s8_f32_per_channel(const int8_t *q, int64_t batch, int64_t channels,
                                      int64_t spatial, const float *inv_scale, float *out)
{
    if (spatial <= 0) return;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t c = 0; c < channels; c++) {
            int64_t off = (b * channels + c) * spatial;
            dq_s8(q + off, spatial, inv_scale[c], out + off);
        }
}

void nq_dequantize_s32_f32_per_channel(const int32_t *q, int64_t batch, int64_t channels,
                                       int64_t spatial, const float *inv_scale, float *out)
{
    if (spatial <= 0) return;
    for (int64_t b = 0; b < batch; b++)
        for (int64_t c = 0; c < channels; c++) {
            int64_t off = (b * channels + c) * spatial;
            dq_s32(q + off, spatial, inv_scale[c], out + off);
        }
}
