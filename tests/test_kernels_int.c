/* Integer kernels, bit-exact: requantization parameters and rounding
 * (docs/numerics.md) on hand-computed cases and on golden vectors made by
 * tests/golden/gen_int_golden.py; the vector requantize/quantize loops and
 * every GEMM variant this CPU runs against the scalar references; im2col
 * of any element size against a naive loop and against nq_im2col_f32. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "golden/int_kernels_golden.h"
#include "kernels/int_internal.h"
#include "kernels/depthwise.h"
#include "nnquant/kernels.h"
#include "nqtest.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint64_t rnd64(void) /* xorshift64* */
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1Du;
}
static int64_t irand(int64_t lo, int64_t hi) /* [lo, hi], hi - lo < 2^63 */
{
    return lo + (int64_t)(rnd64() % (uint64_t)(hi - lo + 1));
}
static int64_t rnd_i64(void)
{
    uint64_t u = rnd64();
    return u <= (uint64_t)INT64_MAX ? (int64_t)u : -(int64_t)(~u) - 1;
}

/* ---- (a) nq_requant_from_scale -------------------------------------- */

static void check_scale(double m, int32_t mult, int32_t shift, nq_requant_range range)
{
    nq_requant r;
    nq_requant_range got = nq_requant_from_scale_checked(m, &r);
    nq_requant r2 = nq_requant_from_scale(m);
    if (r.mult != mult || r.shift != shift || got != range || r2.mult != mult ||
        r2.shift != shift) {
        fprintf(stderr, "from_scale(%a): {%d, %d} range %d, expected {%d, %d} range %d\n", m,
                (int)r.mult, (int)r.shift, (int)got, (int)mult, (int)shift, (int)range);
        nqt_failures++;
    }
}

static void test_from_scale(void)
{
    /* numerics.md: m = M * 2^-n, M in [2^30, 2^31) */
    check_scale(0.5, 1 << 30, 31, NQ_REQUANT_EXACT);
    check_scale(0.75, 1610612736, 31, NQ_REQUANT_EXACT); /* 0.75 * 2^31 */
    check_scale(1.0, 1 << 30, 30, NQ_REQUANT_EXACT);
    check_scale(3.0, 1610612736, 29, NQ_REQUANT_EXACT);
    check_scale(0.5 + 0x1p-32, (1 << 30) + 1, 31, NQ_REQUANT_EXACT);   /* tie: away from 0 */
    check_scale(1.0 - 0x1p-40, 1 << 30, 30, NQ_REQUANT_EXACT);         /* rounds to 2^31 */
    check_scale(0x1p-32, 1 << 30, 62, NQ_REQUANT_EXACT);               /* smallest exact */
    check_scale(0x1p-40, 1 << 22, 62, NQ_REQUANT_UNDERFLOW);           /* tiny */
    check_scale(0x1p-80, 0, 62, NQ_REQUANT_UNDERFLOW);
    check_scale(0x1p30 * (1 - 0x1p-20), INT32_MAX - 2047, 1, NQ_REQUANT_EXACT);
    check_scale(0x1p30, INT32_MAX, 1, NQ_REQUANT_OVERFLOW);
    check_scale(INFINITY, INT32_MAX, 1, NQ_REQUANT_OVERFLOW);
    check_scale(0.0, 0, 62, NQ_REQUANT_INVALID);
    check_scale(-2.0, 0, 62, NQ_REQUANT_INVALID);
    check_scale(NAN, 0, 62, NQ_REQUANT_INVALID);
    for (size_t i = 0; i < NELEM(golden_from_scale); i++) {
        const golden_scale *g = &golden_from_scale[i];
        check_scale(g->m, g->mult, g->shift, (nq_requant_range)g->range);
    }
    /* relative error of an exact conversion <= 2^-31 */
    for (int i = 0; i < 10000; i++) {
        double m = ldexp(1.0 + (double)(rnd64() >> 11) * 0x1p-53, (int)irand(-32, 29));
        nq_requant r;
        CHECK(nq_requant_from_scale_checked(m, &r) == NQ_REQUANT_EXACT);
        CHECK(r.mult >= (1 << 30) && r.shift >= 1 && r.shift <= 62);
        CHECK(fabs(nq_requant_to_double(r) - m) <= m * 0x1p-31);
    }
    /* single shift */
    nq_requant s = nq_requant_from_shift(7);
    CHECK(s.mult == 1 && s.shift == 7);
    s = nq_requant_from_shift(-3);
    CHECK(s.mult == 1 && s.shift == -3);
    CHECK(nq_requant_from_shift(100).shift == NQ_REQUANT_SHIFT_MAX);
    CHECK(nq_requant_from_shift(-100).shift == NQ_REQUANT_SHIFT_MIN);
    CHECK(nq_requant_to_double(nq_requant_from_shift(-3)) == 8.0);
    CHECK(nq_requant_to_double(nq_requant_from_scale(0.75)) == 0.75);
}

/* ---- (b) nq_requant_apply ------------------------------------------- */

static void check_apply(int64_t acc, int32_t mult, int32_t shift, int32_t qmin, int32_t qmax,
                        int32_t y)
{
    nq_requant r = {mult, shift};
    int32_t got = nq_requant_apply(acc, r, qmin, qmax);
    if (got != y) {
        fprintf(stderr, "apply(%lld, {%d, %d}, [%d, %d]) = %d, expected %d\n", (long long)acc,
                (int)mult, (int)shift, (int)qmin, (int)qmax, (int)got, (int)y);
        nqt_failures++;
    }
}

#ifdef __SIZEOF_INT128__
/* An independent evaluation of the formula in 128-bit arithmetic. */
static int32_t apply_i128(int64_t acc, int32_t mult, int32_t shift, int32_t qmin, int32_t qmax)
{
    __int128 y = (__int128)acc * mult;
    if (shift >= 1)
        y = (y + ((__int128)1 << (shift - 1))) >> shift; /* gcc/clang: arithmetic */
    else
        y *= (__int128)1 << -shift;
    if (y < qmin) y = qmin;
    if (y > qmax) y = qmax;
    return (int32_t)y;
}
#endif

static void test_apply(void)
{
    const nq_requant half = nq_requant_from_scale(0.5), q75 = nq_requant_from_scale(0.75);
    const nq_requant one = nq_requant_from_scale(1.0);
    /* ties round half up, toward +infinity */
    check_apply(1, half.mult, half.shift, -128, 127, 1);    /*  0.5 ->  1 */
    check_apply(-1, half.mult, half.shift, -128, 127, 0);   /* -0.5 ->  0 */
    check_apply(3, half.mult, half.shift, -128, 127, 2);    /*  1.5 ->  2 */
    check_apply(-3, half.mult, half.shift, -128, 127, -1);  /* -1.5 -> -1 */
    check_apply(5, half.mult, half.shift, -128, 127, 3);    /*  2.5 ->  3 */
    check_apply(-5, half.mult, half.shift, -128, 127, -2);  /* -2.5 -> -2 */
    check_apply(2, q75.mult, q75.shift, -128, 127, 2);      /*  1.5 ->  2 */
    check_apply(-2, q75.mult, q75.shift, -128, 127, -1);    /* -1.5 -> -1 */
    check_apply(10, q75.mult, q75.shift, -128, 127, 8);     /*  7.5 ->  8 */
    check_apply(-10, q75.mult, q75.shift, -128, 127, -7);   /* -7.5 -> -7 */
    check_apply(7, q75.mult, q75.shift, -128, 127, 5);      /*  5.25 -> 5 */
    check_apply(-7, q75.mult, q75.shift, -128, 127, -5);    /* -5.25 -> -5 */
    /* saturation */
    check_apply(200, one.mult, one.shift, -128, 127, 127);
    check_apply(-200, one.mult, one.shift, -128, 127, -128);
    check_apply(300, one.mult, one.shift, 0, 255, 255);
    check_apply(-3, one.mult, one.shift, 0, 255, 0);
    check_apply(9, one.mult, one.shift, -8, 7, 7);
    check_apply(5, one.mult, one.shift, 10, 3, 3); /* qmin > qmax: min(max(y, qmin), qmax) */
    /* int64 extremes: exact, no overflow */
    check_apply(INT64_MAX, one.mult, one.shift, INT32_MIN, INT32_MAX, INT32_MAX);
    check_apply(INT64_MIN, one.mult, one.shift, INT32_MIN, INT32_MAX, INT32_MIN);
    check_apply(INT64_MAX, 1 << 30, 62, INT32_MIN, INT32_MAX, INT32_MAX); /* 2^31 - 2^-32 */
    check_apply(INT64_MIN, 1 << 30, 62, INT32_MIN, INT32_MAX, INT32_MIN); /* -2^31 exactly */
    check_apply(INT64_MAX, 1 << 30, 62, -128, 127, 127);
    check_apply(INT64_C(1) << 40, 1 << 30, 62, INT32_MIN, INT32_MAX, 256);
    check_apply(-(INT64_C(1) << 40) - (INT64_C(1) << 31), 1 << 30, 62, INT32_MIN, INT32_MAX,
                -256); /* -256.5 -> -256 */
    check_apply(INT64_MAX, INT32_MAX, 1, INT32_MIN, INT32_MAX, INT32_MAX);
    check_apply(INT64_MIN, INT32_MAX, 1, INT32_MIN, INT32_MAX, INT32_MIN);
    check_apply(INT32_MIN, INT32_MAX, 1, INT32_MIN, INT32_MAX, INT32_MIN);
    /* (2^31-1)^2 / 2^62 = 1 - 2^-30 + 2^-62 */
    check_apply(INT32_MAX, INT32_MAX, 62, INT32_MIN, INT32_MAX, 1);
    check_apply(INT32_MAX, 1 << 30, 62, INT32_MIN, INT32_MAX, 0);   /* 0.5 - 2^-32 */
    /* single shift and left shifts */
    check_apply(12, 1, 3, -128, 127, 2);     /* 1.5 -> 2 */
    check_apply(-12, 1, 3, -128, 127, -1);   /* -1.5 -> -1 */
    check_apply(5, 1, -3, -128, 127, 40);
    check_apply(-5, 1, -3, -128, 127, -40);
    check_apply(7, 3, 0, -128, 127, 21);
    check_apply(INT32_MIN, 1, -31, INT32_MIN, INT32_MAX, INT32_MIN);
    check_apply(INT64_MAX, INT32_MAX, -31, INT32_MIN, INT32_MAX, INT32_MAX);
    check_apply(INT64_MIN, INT32_MAX, -31, INT32_MIN, INT32_MAX, INT32_MIN);
    check_apply(0, INT32_MAX, -31, -5, 5, 0);
    /* out-of-range fields: negative mult acts as 0, shift clamped */
    check_apply(1000, -5, 3, -128, 127, 0);
    check_apply(INT64_MAX, 1, 200, INT32_MIN, INT32_MAX, 2); /* shift 62: 2^63 / 2^62 */
    check_apply(3, 1, -200, INT32_MIN, INT32_MAX, INT32_MAX);  /* shift -31: 3 * 2^31 */
    /* golden vectors (exact Python integers) */
    for (size_t i = 0; i < NELEM(golden_requant_apply); i++) {
        const golden_apply *g = &golden_requant_apply[i];
        check_apply(g->acc, g->mult, g->shift, g->qmin, g->qmax, g->y);
    }
#ifdef __SIZEOF_INT128__
    /* random: every field, int32 and int64 accumulators, vs 128-bit */
    for (int i = 0; i < 200000; i++) {
        int64_t acc = (i & 1) ? rnd_i64() : irand(INT32_MIN, INT32_MAX);
        if (i % 7 == 0) acc /= INT64_C(1) << irand(0, 62);
        int32_t mult = (int32_t)(i % 3 ? irand(1 << 30, INT32_MAX) : irand(0, INT32_MAX));
        int32_t shift = (int32_t)irand(NQ_REQUANT_SHIFT_MIN, NQ_REQUANT_SHIFT_MAX);
        int32_t qmin = i % 5 ? (int32_t)irand(INT32_MIN, 0) : INT32_MIN;
        int32_t qmax = i % 5 ? (int32_t)irand(0, INT32_MAX) : INT32_MAX;
        check_apply(acc, mult, shift, qmin, qmax, apply_i128(acc, mult, shift, qmin, qmax));
        if (nqt_failures > 20) break;
    }
#endif
}

/* ---- requantize vectors: every ISA, per tensor and per channel ------- */

static int32_t clampi(int64_t v, int64_t lo, int64_t hi)
{
    return (int32_t)(v < lo ? lo : v > hi ? hi : v);
}

/* The expected output: apply with [qmin, qmax] intersected with the type. */
static int32_t expect_rq(int64_t acc, nq_requant r, int32_t qmin, int32_t qmax, int64_t tmin,
                         int64_t tmax)
{
    return nq_requant_apply(acc, r, clampi(qmin, tmin, tmax), clampi(qmax, tmin, tmax));
}

static nq_requant random_requant(int i)
{
    switch (i % 6) {
    case 0: return nq_requant_from_shift((int)irand(-8, 40));
    case 1: return nq_requant_from_shift((int)irand(NQ_REQUANT_SHIFT_MIN, NQ_REQUANT_SHIFT_MAX));
    default: {
        nq_requant r = {(int32_t)irand(1 << 30, INT32_MAX), (int32_t)irand(1, 62)};
        if (i % 6 == 2) r.shift = (int32_t)irand(8, 24); /* typical */
        return r;
    }
    }
}

static void fill_acc32(int32_t *acc, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        switch (i % 5) {
        case 0: acc[i] = (int32_t)irand(INT32_MIN, INT32_MAX); break;
        case 1: acc[i] = (int32_t)irand(-100000, 100000); break;
        case 2: acc[i] = (int32_t)irand(-300, 300); break;
        case 3: acc[i] = i % 2 ? INT32_MAX : INT32_MIN; break;
        default: acc[i] = (int32_t)irand(-(1 << 24), 1 << 24); break;
        }
    }
}

#define CHECK_RQ_ARRAY(what, got, acc, n, rfor, qmin, qmax, tmin, tmax)                          \
    do {                                                                                        \
        for (int64_t i_ = 0; i_ < (n); i_++) {                                                  \
            int32_t e_ = expect_rq((acc)[i_], rfor, qmin, qmax, tmin, tmax);                    \
            if ((int64_t)(got)[i_] != e_) {                                                     \
                fprintf(stderr, "%s[%lld]: acc %lld {%d, %d} [%d, %d] -> %lld, expected %d\n",  \
                        what, (long long)i_, (long long)(acc)[i_], (int)(rfor).mult,            \
                        (int)(rfor).shift, (int)(qmin), (int)(qmax), (long long)(got)[i_],      \
                        (int)e_);                                                               \
                nqt_failures++;                                                                 \
                break;                                                                          \
            }                                                                                   \
        }                                                                                       \
    } while (0)

static void test_requant_vectors(void)
{
    enum { N = 1037 };
    int32_t *acc = malloc(sizeof(int32_t) * N);
    int64_t *acc64 = malloc(sizeof(int64_t) * N);
    int8_t *o8 = malloc(N);
    uint8_t *u8 = malloc(N);
    int16_t *o16 = malloc(sizeof(int16_t) * N);
    int32_t *o32 = malloc(sizeof(int32_t) * N);
    REQUIRE(acc && acc64 && o8 && u8 && o16 && o32);
    static const int32_t ranges[][2] = {{-128, 127}, {0, 255}, {-8, 7}, {-32768, 32767},
                                        {INT32_MIN, INT32_MAX}, {-1000, 1000}, {5, -5}};
    for (int t = 0; t < 60; t++) {
        fill_acc32(acc, N);
        /* int64 values beyond int32: every third one, or (odd t) a few, so
         * that the vector loops see both mixed chunks and int32-only ones */
        for (int64_t i = 0; i < N; i++)
            acc64[i] = i % (t % 2 ? 401 : 3) == 0 ? rnd_i64() / (INT64_C(1) << irand(0, 62))
                                                  : acc[i];
        nq_requant r = random_requant(t);
        const int32_t qmin = ranges[t % NELEM(ranges)][0], qmax = ranges[t % NELEM(ranges)][1];
        for (int isa = 0; isa < NQ_INT_ISA_COUNT; isa++) {
            if (!nq_int_isa_available((nq_int_isa)isa)) continue;
            int64_t n = N - irand(0, 40); /* odd lengths, vector tails */
            /* every output type of one accumulator type SRC (array ACC) */
#define CHECK_RQ_ISA(SRC, ACC)                                                                   \
    do {                                                                                        \
        nq_requant_##SRC##_to_s8_isa((nq_int_isa)isa, ACC, n, r, qmin, qmax, o8);               \
        CHECK_RQ_ARRAY(#SRC "_to_s8", o8, ACC, n, r, qmin, qmax, INT8_MIN, INT8_MAX);           \
        nq_requant_##SRC##_to_u8_isa((nq_int_isa)isa, ACC, n, r, qmin, qmax, u8);               \
        CHECK_RQ_ARRAY(#SRC "_to_u8", u8, ACC, n, r, qmin, qmax, 0, UINT8_MAX);                 \
        nq_requant_##SRC##_to_s16_isa((nq_int_isa)isa, ACC, n, r, qmin, qmax, o16);             \
        CHECK_RQ_ARRAY(#SRC "_to_s16", o16, ACC, n, r, qmin, qmax, INT16_MIN, INT16_MAX);       \
        nq_requant_##SRC##_to_s32_isa((nq_int_isa)isa, ACC, n, r, qmin, qmax, o32);             \
        CHECK_RQ_ARRAY(#SRC "_to_s32", o32, ACC, n, r, qmin, qmax, INT32_MIN, INT32_MAX);       \
    } while (0)
            CHECK_RQ_ISA(s32, acc);
            CHECK_RQ_ISA(s64, acc64);
#undef CHECK_RQ_ISA
        }
        nq_requant_s32_to_s8(acc, N, r, qmin, qmax, o8);
        CHECK_RQ_ARRAY("s32_to_s8 (best)", o8, acc, (int64_t)N, r, qmin, qmax, INT8_MIN, INT8_MAX);
        nq_requant_s64_to_s8(acc64, N, r, qmin, qmax, o8);
        CHECK_RQ_ARRAY("s64_to_s8", o8, acc64, (int64_t)N, r, qmin, qmax, INT8_MIN, INT8_MAX);
        nq_requant_s64_to_u8(acc64, N, r, qmin, qmax, u8);
        CHECK_RQ_ARRAY("s64_to_u8", u8, acc64, (int64_t)N, r, qmin, qmax, 0, UINT8_MAX);
        nq_requant_s64_to_s16(acc64, N, r, qmin, qmax, o16);
        CHECK_RQ_ARRAY("s64_to_s16", o16, acc64, (int64_t)N, r, qmin, qmax, INT16_MIN, INT16_MAX);
        nq_requant_s64_to_s32(acc64, N, r, qmin, qmax, o32);
        CHECK_RQ_ARRAY("s64_to_s32", o32, acc64, (int64_t)N, r, qmin, qmax, INT32_MIN, INT32_MAX);
    }

    /* per channel: [batch 3, channels 5, spatial 67] */
    enum { PB = 3, PC = 5, PS = 67 };
    nq_requant rc[PC];
    for (int c = 0; c < PC; c++) rc[c] = random_requant(c + 1);
    fill_acc32(acc, PB * PC * PS);
    for (int64_t i = 0; i < PB * PC * PS; i++) acc64[i] = i % 4 ? acc[i] : rnd_i64();
#define CHECK_PC(FN, OUT, ACC, TMIN, TMAX)                                                       \
    do {                                                                                        \
        memset(OUT, 0x5A, sizeof(*(OUT)) * PB * PC * PS);                                       \
        FN(ACC, PB, PC, PS, rc, -100, 100, OUT);                                                \
        for (int b = 0; b < PB; b++)                                                            \
            for (int c = 0; c < PC; c++) {                                                      \
                int64_t off = ((int64_t)b * PC + c) * PS;                                       \
                CHECK_RQ_ARRAY(#FN, (OUT) + off, (ACC) + off, (int64_t)PS, rc[c], -100, 100,    \
                               TMIN, TMAX);                                                     \
            }                                                                                   \
    } while (0)
    CHECK_PC(nq_requant_s32_to_s8_per_channel, o8, acc, INT8_MIN, INT8_MAX);
    CHECK_PC(nq_requant_s32_to_u8_per_channel, u8, acc, 0, UINT8_MAX);
    CHECK_PC(nq_requant_s32_to_s16_per_channel, o16, acc, INT16_MIN, INT16_MAX);
    CHECK_PC(nq_requant_s32_to_s32_per_channel, o32, acc, INT32_MIN, INT32_MAX);
    CHECK_PC(nq_requant_s64_to_s8_per_channel, o8, acc64, INT8_MIN, INT8_MAX);
    CHECK_PC(nq_requant_s64_to_u8_per_channel, u8, acc64, 0, UINT8_MAX);
    CHECK_PC(nq_requant_s64_to_s16_per_channel, o16, acc64, INT16_MIN, INT16_MAX);
    CHECK_PC(nq_requant_s64_to_s32_per_channel, o32, acc64, INT32_MIN, INT32_MAX);
#undef CHECK_PC

    /* golden per-channel case */
    nq_requant gr[GOLDEN_PC_CHANNELS];
    for (int c = 0; c < GOLDEN_PC_CHANNELS; c++) gr[c] = nq_requant_from_scale(golden_pc_scale[c]);
    nq_requant_s32_to_s8_per_channel(golden_pc_acc, GOLDEN_PC_BATCH, GOLDEN_PC_CHANNELS,
                                     GOLDEN_PC_SPATIAL, gr, -128, 127, o8);
    CHECK(memcmp(o8, golden_pc_out, sizeof golden_pc_out) == 0);

    /* n <= 0 writes nothing */
    o8[0] = 42;
    nq_requant_s32_to_s8(acc, 0, gr[0], -128, 127, o8);
    nq_requant_s32_to_s8(acc, -5, gr[0], -128, 127, o8);
    nq_requant_s32_to_s8_per_channel(acc, 2, 2, 0, gr, -128, 127, o8);
    CHECK(o8[0] == 42);
    free(acc), free(acc64), free(o8), free(u8), free(o16), free(o32);
}

/* ---- float quantization / dequantization ----------------------------- */

/* numerics.md, with C's nearbyintf: clamp(round_half_even(x * s)). */
static int32_t expect_q(float x, float scale, int32_t qmin, int32_t qmax, int64_t tmin,
                        int64_t tmax)
{
    int64_t lo = clampi(qmin, tmin, tmax), hi = clampi(qmax, tmin, tmax);
    float v = x * scale;
    double d = isnan(v) ? 0.0 : (double)nearbyintf(v);
    if (d < (double)lo) d = (double)lo;
    if (d > (double)hi) d = (double)hi;
    return (int32_t)d;
}

#define CHECK_Q_ARRAY(what, got, x, n, scale, qmin, qmax, tmin, tmax)                            \
    do {                                                                                        \
        for (int64_t i_ = 0; i_ < (n); i_++) {                                                  \
            int32_t e_ = expect_q((x)[i_], scale, qmin, qmax, tmin, tmax);                      \
            if ((int64_t)(got)[i_] != e_) {                                                     \
                fprintf(stderr, "%s[%lld]: x %a * %a in [%d, %d] -> %lld, expected %d\n", what, \
                        (long long)i_, (double)(x)[i_], (double)(scale), (int)(qmin),           \
                        (int)(qmax), (long long)(got)[i_], (int)e_);                            \
                nqt_failures++;                                                                 \
                break;                                                                          \
            }                                                                                   \
        }                                                                                       \
    } while (0)

static void test_quantize(void)
{
    /* golden vectors (numpy float32 product, np.rint) */
    int32_t g32[GOLDEN_Q_N];
    int8_t g8[GOLDEN_Q_N];
    uint8_t gu8[GOLDEN_Q_N];
    int16_t g16[GOLDEN_Q_N];
    for (int c = 0; c < GOLDEN_Q_CASES; c++) {
        const golden_q *g = &golden_quantize[c];
        const char *t = g->type;
        for (int i = 0; i < GOLDEN_Q_N; i++) g32[i] = INT32_MIN + 12345;
        if (!strcmp(t, "s8")) {
            nq_quantize_f32_s8(golden_q_x, GOLDEN_Q_N, g->scale, g->qmin, g->qmax, g8);
            for (int i = 0; i < GOLDEN_Q_N; i++) g32[i] = g8[i];
        } else if (!strcmp(t, "u8")) {
            nq_quantize_f32_u8(golden_q_x, GOLDEN_Q_N, g->scale, g->qmin, g->qmax, gu8);
            for (int i = 0; i < GOLDEN_Q_N; i++) g32[i] = gu8[i];
        } else if (!strcmp(t, "s16")) {
            nq_quantize_f32_s16(golden_q_x, GOLDEN_Q_N, g->scale, g->qmin, g->qmax, g16);
            for (int i = 0; i < GOLDEN_Q_N; i++) g32[i] = g16[i];
        } else {
            nq_quantize_f32_s32(golden_q_x, GOLDEN_Q_N, g->scale, g->qmin, g->qmax, g32);
        }
        for (int i = 0; i < GOLDEN_Q_N; i++)
            if (g32[i] != g->y[i]) {
                fprintf(stderr, "golden quantize %s scale %a: x[%d] = %a -> %d, expected %d\n", t,
                        (double)g->scale, i, (double)golden_q_x[i], (int)g32[i], (int)g->y[i]);
                nqt_failures++;
                break;
            }
    }

    /* a sweep over float bit patterns (every exponent, both signs, NaN,
     * inf) and all exact halves in range, every ISA variant */
    enum { N = 1 << 14 };
    float *x = malloc(sizeof(float) * N);
    int8_t *o8 = malloc(N);
    uint8_t *u8 = malloc(N);
    int16_t *o16 = malloc(sizeof(int16_t) * N);
    int32_t *o32 = malloc(sizeof(int32_t) * N);
    float *fq = malloc(sizeof(float) * N);
    REQUIRE(x && o8 && u8 && o16 && o32 && fq);
    static const float scales[] = {1.0f, 0.5f, 3.0f, 1e-3f, 127.0f / 6.0f, 1e6f};
    static const int32_t ranges[][2] = {{-128, 127}, {0, 255}, {-8, 7}, {-32768, 32767},
                                        {INT32_MIN, INT32_MAX}, {9, -9}};
    for (int pass = 0; pass < 68; pass++) {
        if (pass < 64) {
            for (int i = 0; i < N; i++) {
                uint32_t bits = (uint32_t)pass * 67108864u + (uint32_t)i * 4093u + (uint32_t)pass;
                memcpy(&x[i], &bits, sizeof bits);
            }
        } else {
            for (int i = 0; i < N; i++)
                x[i] = (float)(i - N / 2) * 0.5f + (float)(pass - 64) * 256.0f;
        }
        const float s = scales[pass % NELEM(scales)];
        const int32_t qmin = ranges[pass % NELEM(ranges)][0];
        const int32_t qmax = ranges[pass % NELEM(ranges)][1];
        for (int isa = 0; isa < NQ_INT_ISA_COUNT; isa++) {
            if (!nq_int_isa_available((nq_int_isa)isa)) continue;
            nq_quantize_f32_s8_isa((nq_int_isa)isa, x, N, s, qmin, qmax, o8);
            CHECK_Q_ARRAY("quantize s8", o8, x, (int64_t)N, s, qmin, qmax, INT8_MIN, INT8_MAX);
            nq_quantize_f32_u8_isa((nq_int_isa)isa, x, N, s, qmin, qmax, u8);
            CHECK_Q_ARRAY("quantize u8", u8, x, (int64_t)N, s, qmin, qmax, 0, UINT8_MAX);
            nq_quantize_f32_s16_isa((nq_int_isa)isa, x, N, s, qmin, qmax, o16);
            CHECK_Q_ARRAY("quantize s16", o16, x, (int64_t)N, s, qmin, qmax, INT16_MIN, INT16_MAX);
        }
        nq_quantize_f32_s32(x, N, s, qmin, qmax, o32);
        CHECK_Q_ARRAY("quantize s32", o32, x, (int64_t)N, s, qmin, qmax, INT32_MIN, INT32_MAX);
        /* fake quantization against clamp(nearbyintf(x * s)), bounds within +-2^22 */
        const float flo = qmin < -4194304 ? -4194304.0f : (float)qmin, fhi = qmax > 4194304 ? 4194304.0f : (float)qmax;
        for (int isa = 0; isa < NQ_INT_ISA_COUNT && flo <= fhi; isa++) {
            if (!nq_int_isa_available((nq_int_isa)isa)) continue;
            nq_fake_quantize_f32_isa((nq_int_isa)isa, x, N, s, flo, fhi, fq);
            for (int i = 0; i < N; i++) {
                float r = nearbyintf(x[i] * s);
                r = r < flo ? flo : (r > fhi ? fhi : r);
                if (!(fq[i] == r || (isnan(fq[i]) && isnan(r)))) {
                    fprintf(stderr, "fake quantize isa %d: x = %a, s = %g -> %a, expected %a\n", isa, (double)x[i],
                            (double)s, (double)fq[i], (double)r);
                    nqt_failures++;
                    break;
                }
            }
        }
    }

    /* per channel: [2, 3, 101] */
    enum { PB = 2, PC = 3, PS = 101 };
    const float pcs[PC] = {0.25f, 10.0f, 1.0f / 3.0f};
    for (int i = 0; i < PB * PC * PS; i++) x[i] = (float)irand(-40000, 40000) * 0.125f;
#define CHECK_QPC(FN, OUT, TMIN, TMAX)                                                           \
    do {                                                                                        \
        FN(x, PB, PC, PS, pcs, -20000, 20000, OUT);                                             \
        for (int b = 0; b < PB; b++)                                                            \
            for (int c = 0; c < PC; c++) {                                                      \
                int64_t off = ((int64_t)b * PC + c) * PS;                                       \
                CHECK_Q_ARRAY(#FN, (OUT) + off, x + off, (int64_t)PS, pcs[c], -20000, 20000,    \
                              TMIN, TMAX);                                                      \
            }                                                                                   \
    } while (0)
    CHECK_QPC(nq_quantize_f32_s8_per_channel, o8, INT8_MIN, INT8_MAX);
    CHECK_QPC(nq_quantize_f32_u8_per_channel, u8, 0, UINT8_MAX);
    CHECK_QPC(nq_quantize_f32_s16_per_channel, o16, INT16_MIN, INT16_MAX);
    CHECK_QPC(nq_quantize_f32_s32_per_channel, o32, INT32_MIN, INT32_MAX);
#undef CHECK_QPC

    /* dequantize: (float)q * inv_scale, bit for bit */
    float *f = malloc(sizeof(float) * N);
    REQUIRE(f);
    for (int i = 0; i < 1000; i++) {
        o8[i] = (int8_t)irand(INT8_MIN, INT8_MAX);
        u8[i] = (uint8_t)irand(0, UINT8_MAX);
        o16[i] = (int16_t)irand(INT16_MIN, INT16_MAX);
        o32[i] = (int32_t)irand(INT32_MIN, INT32_MAX);
    }
    const float inv = 0.0371f;
    int bad = 0;
    nq_dequantize_s8_f32(o8, 1000, inv, f);
    for (int i = 0; i < 1000; i++) bad += f[i] != (float)o8[i] * inv;
    nq_dequantize_u8_f32(u8, 1000, inv, f);
    for (int i = 0; i < 1000; i++) bad += f[i] != (float)u8[i] * inv;
    nq_dequantize_s16_f32(o16, 1000, inv, f);
    for (int i = 0; i < 1000; i++) bad += f[i] != (float)o16[i] * inv;
    nq_dequantize_s32_f32(o32, 1000, inv, f);
    for (int i = 0; i < 1000; i++) bad += f[i] != (float)o32[i] * inv;
    const float invs[4] = {0.5f, 0.01f, 3.0f, 1e-6f};
    nq_dequantize_s8_f32_per_channel(o8, 5, 4, 50, invs, f);
    for (int i = 0; i < 1000; i++) bad += f[i] != (float)o8[i] * invs[(i / 50) % 4];
    nq_dequantize_s32_f32_per_channel(o32, 5, 4, 50, invs, f);
    for (int i = 0; i < 1000; i++) bad += f[i] != (float)o32[i] * invs[(i / 50) % 4];
    CHECK(bad == 0);
    free(x), free(o8), free(u8), free(o16), free(o32), free(f), free(fq);
}

/* ---- (c) GEMMs against the references --------------------------------- */

typedef enum { G_S8S8, G_S8U8, G_S16S32, G_S16S64, G_KINDS } gemm_kind;
static const char *const kind_names[G_KINDS] = {"s8s8s32", "s8u8s32", "s16s16s32", "s16s16s64"};

/* Fills a buffer of `count` elements of the kind's A or B type; mode 1
 * puts the most negative value everywhere (largest products, int32 wrap).
 * int16 only: mode 2 draws from values at the edges of the range and of
 * the s64 kernels' high/low byte split (a = 256*hi + lo, lo in [-128, 127]);
 * mode 3 puts -32640 (lo = -128, hi = -127) in A and -32768 in B. */
static void fill_operand(gemm_kind kind, int is_b, void *p, int64_t count, int mode)
{
    if (kind == G_S8S8 || (kind == G_S8U8 && !is_b)) {
        int8_t *v = p;
        for (int64_t i = 0; i < count; i++)
            v[i] = mode ? INT8_MIN : (int8_t)irand(INT8_MIN, INT8_MAX);
    } else if (kind == G_S8U8) {
        uint8_t *v = p;
        for (int64_t i = 0; i < count; i++) v[i] = mode ? UINT8_MAX : (uint8_t)irand(0, UINT8_MAX);
    } else {
        static const int16_t edges[] = {INT16_MIN, INT16_MAX, -32640, 32640, 32639, -32641,
                                        -129, -128, 127, 128, -1, 0, 255, -256};
        int16_t *v = p;
        for (int64_t i = 0; i < count; i++)
            v[i] = mode == 1   ? INT16_MIN
                   : mode == 2 ? edges[irand(0, (int64_t)NELEM(edges) - 1)]
                   : mode == 3 ? (is_b ? INT16_MIN : -32640)
                               : (int16_t)irand(INT16_MIN, INT16_MAX);
    }
}

/* Bytes per A element (B: uint8 for s8u8, else the same as A). */
static size_t elem_size(gemm_kind kind)
{
    return (kind == G_S8S8 || kind == G_S8U8) ? 1 : 2;
}

/* ref: the _ref loop; else isa < 0: the public entry point; else that
 * ISA variant and kernel family. */
static void run_gemm(gemm_kind kind, int isa, nq_int_gemm_family fam, int ref, int tb, int64_t M,
                     int64_t N, int64_t K, const void *A, int64_t lda, const void *B, int64_t ldb,
                     const void *bias, void *C, int64_t ldc)
{
    const nq_int_isa is = (nq_int_isa)isa;
    switch (kind) {
    case G_S8S8:
        if (ref) nq_gemm_s8s8s32_ref(tb, M, N, K, A, lda, B, ldb, bias, C, ldc);
        else if (isa < 0) nq_gemm_s8s8s32(tb, M, N, K, A, lda, B, ldb, bias, C, ldc);
        else nq_gemm_s8s8s32_isa(is, fam, tb, M, N, K, A, lda, B, ldb, bias, C, ldc);
        break;
    case G_S8U8:
        if (ref) nq_gemm_s8u8s32_ref(tb, M, N, K, A, lda, B, ldb, bias, C, ldc);
        else if (isa < 0) nq_gemm_s8u8s32(tb, M, N, K, A, lda, B, ldb, bias, C, ldc);
        else nq_gemm_s8u8s32_isa(is, fam, tb, M, N, K, A, lda, B, ldb, bias, C, ldc);
        break;
    case G_S16S32:
        if (ref) nq_gemm_s16s16s32_ref(tb, M, N, K, A, lda, B, ldb, bias, C, ldc);
        else if (isa < 0) nq_gemm_s16s16s32(tb, M, N, K, A, lda, B, ldb, bias, C, ldc);
        else nq_gemm_s16s16s32_isa(is, fam, tb, M, N, K, A, lda, B, ldb, bias, C, ldc);
        break;
    default:
        if (ref) nq_gemm_s16s16s64_ref(tb, M, N, K, A, lda, B, ldb, bias, C, ldc);
        else if (isa < 0) nq_gemm_s16s16s64(tb, M, N, K, A, lda, B, ldb, bias, C, ldc);
        else nq_gemm_s16s16s64_isa(is, fam, tb, M, N, K, A, lda, B, ldb, bias, C, ldc);
        break;
    }
}

/* One case: every available ISA (and the dispatching entry point) against
 * the reference, including that C's padding columns are left alone. */
static int check_gemm(gemm_kind kind, int tb, int64_t M, int64_t N, int64_t K, int64_t pad,
                      int with_bias, int mode)
{
    const size_t ea = elem_size(kind), eb = elem_size(kind);
    const size_t ec = kind == G_S16S64 ? 8 : 4;
    const int64_t lda = K + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    const int64_t brows = tb ? N : K;
    unsigned char *A = malloc(ea * (size_t)(M * lda) + 1);
    unsigned char *B = malloc(eb * (size_t)(brows * ldb) + 1);
    unsigned char *bias = malloc(ec * (size_t)M + 1);
    unsigned char *R = malloc(ec * (size_t)(M * ldc) + 1);
    unsigned char *C = malloc(ec * (size_t)(M * ldc) + 1);
    REQUIRE(A && B && bias && R && C);
    fill_operand(kind, 0, A, M * lda, mode);
    fill_operand(kind, 1, B, brows * ldb, mode);
    for (int64_t i = 0; i < M; i++) {
        if (ec == 8) {
            int64_t v = irand(-(INT64_C(1) << 50), INT64_C(1) << 50);
            memcpy(bias + 8 * i, &v, 8);
        } else {
            int32_t v = (int32_t)irand(INT32_MIN, INT32_MAX);
            memcpy(bias + 4 * i, &v, 4);
        }
    }
    const void *bp = with_bias ? bias : NULL;
    memset(R, 0xA5, ec * (size_t)(M * ldc));
    run_gemm(kind, 0, NQ_INT_GEMM_AUTO, 1, tb, M, N, K, A, lda, B, ldb, bp, R, ldc);
    int ok = 1;
    static const char *const fam_names[NQ_INT_GEMM_FAMILIES] = {"auto", "dot", "outer", "quad"};
    for (int isa = -1; isa < NQ_INT_ISA_COUNT && ok; isa++) {
        if (isa >= 0 && !nq_int_isa_available((nq_int_isa)isa)) continue;
        for (int fam = 0; fam < (isa < 0 ? 1 : NQ_INT_GEMM_FAMILIES) && ok; fam++) {
            memset(C, 0xA5, ec * (size_t)(M * ldc));
            run_gemm(kind, isa, (nq_int_gemm_family)fam, 0, tb, M, N, K, A, lda, B, ldb, bp, C,
                     ldc);
            if (memcmp(C, R, ec * (size_t)(M * ldc)) != 0) {
                fprintf(stderr, "gemm %s isa %s family %s trans_b %d M %lld N %lld K %lld "
                        "pad %lld bias %d mode %d: differs from _ref\n", kind_names[kind],
                        isa < 0 ? "best" : nq_int_isa_name((nq_int_isa)isa), fam_names[fam], tb,
                        (long long)M, (long long)N, (long long)K, (long long)pad, with_bias,
                        mode);
                ok = 0;
            }
        }
    }
    /* int8 weights packed beforehand (where this CPU has the kernel) */
    const size_t pb = (kind == G_S8S8 || kind == G_S8U8) && !tb ? nq_gemm_s8_packed_a_bytes(M, K) : 0;
    if (ok && pb > 0) {
        unsigned char *P = malloc(pb);
        REQUIRE(P != NULL);
        memset(P, 0xA5, pb);
        nq_gemm_s8_pack_a(M, K, (const int8_t *)A, lda, P);
        memset(C, 0xA5, ec * (size_t)(M * ldc));
        if (kind == G_S8S8) nq_gemm_s8s8s32_packed(M, N, K, P, (const int8_t *)B, ldb, (const int32_t *)bp, (int32_t *)(void *)C, ldc);
        else nq_gemm_s8u8s32_packed(M, N, K, P, (const uint8_t *)B, ldb, (const int32_t *)bp, (int32_t *)(void *)C, ldc);
        if (memcmp(C, R, ec * (size_t)(M * ldc)) != 0) {
            fprintf(stderr, "gemm %s packed A M %lld N %lld K %lld pad %lld bias %d mode %d: differs "
                    "from _ref\n", kind_names[kind], (long long)M, (long long)N, (long long)K,
                    (long long)pad, with_bias, mode);
            ok = 0;
        }
        free(P);
    }
    free(A), free(B), free(bias), free(R), free(C);
    return ok;
}

/* The reference against a plain int64 sum on a few values (the reference
 * itself must be right: modulo 2^32 for int32 results). */
static void test_gemm_ref(void)
{
    const int8_t A[2 * 3] = {1, -2, 3, -128, -128, -128};
    const int8_t B[3 * 2] = {4, -5, 6, 7, -128, 127};
    const int32_t bias[2] = {10, -20};
    int32_t C[4];
    nq_gemm_s8s8s32_ref(0, 2, 2, 3, A, 3, B, 2, bias, C, 2);
    CHECK(C[0] == 10 + 4 - 12 - 384 && C[1] == 10 - 5 - 14 + 381);
    CHECK(C[2] == -20 + -128 * (4 + 6 - 128) && C[3] == -20 + -128 * (-5 + 7 + 127));
    const int16_t a16[4] = {INT16_MIN, INT16_MIN, INT16_MIN, INT16_MIN};
    int32_t c32;
    int64_t c64;
    nq_gemm_s16s16s32_ref(1, 1, 1, 4, a16, 4, a16, 4, NULL, &c32, 1); /* 4 * 2^30 = 2^32 */
    CHECK(c32 == 0);
    nq_gemm_s16s16s32_ref(1, 1, 1, 2, a16, 4, a16, 4, NULL, &c32, 1); /* 2^31 wraps */
    CHECK(c32 == INT32_MIN);
    nq_gemm_s16s16s64_ref(1, 1, 1, 4, a16, 4, a16, 4, NULL, &c64, 1);
    CHECK(c64 == INT64_C(1) << 32);
}

static void test_gemm(void)
{
    test_gemm_ref();
    /* shapes around the blocking sizes, each run with both kernel
     * families: dot tiles 4x4, K blocks of <= 768 padded to 32, 32-column
     * B blocks, A blocks of up to 49152 / (4 or 8 * K block) strips (150 x
     * 768 and 70 x 1500: several); outer tiles 4 or 8 x 32 on pairs of K
     * (odd K padded), K blocks of <= 512 (int64: 480), A blocks of up to
     * 24576 / ceil(K block / 2) pair words per row (150 x 768 and 70 x
     * 1500: several; AUTO: outer wherever B is [K,N]); quad tiles 8 x 32
     * on quads of K (8-bit), K blocks of <= 1024, A blocks of <= 256 rows
     * (300 x 2100, 520 x 100: several), and with A packed beforehand. */
    static const int64_t shapes[][3] = {
        {1, 1, 1},     {1, 1, 7},      {3, 5, 1},     {4, 4, 32},    {5, 33, 31},
        {8, 32, 64},   {9, 31, 33},    {13, 70, 27},  {32, 784, 9},  {17, 65, 256},
        {16, 40, 257}, {33, 67, 511},  {12, 9, 512},  {7, 35, 768},  {6, 37, 769},
        {5, 3, 2000},  {2, 45, 1537},  {64, 1, 300},  {1, 100, 300}, {40, 36, 100},
        {3, 129, 5},   {23, 20, 600},  {9, 33, 4608}, {100, 9, 200},  {20, 37, 1025},
        {150, 37, 768}, {70, 45, 1500}, {300, 33, 2100}, {520, 17, 100}};
    int failed = 0;
    for (size_t s = 0; s < NELEM(shapes) && !failed; s++)
        for (int kind = 0; kind < G_KINDS && !failed; kind++)
            for (int tb = 0; tb < 2 && !failed; tb++) {
                int64_t M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
                if (!check_gemm((gemm_kind)kind, tb, M, N, K, (int64_t)(s % 3), (int)(s % 2),
                                0))
                    failed = 1;
            }
    /* random shapes */
    for (int i = 0; i < 40 && !failed; i++) {
        int64_t M = irand(1, 24), N = irand(1, 70), K = i % 4 ? irand(1, 600) : irand(1, 1600);
        if (!check_gemm((gemm_kind)(i % G_KINDS), (int)irand(0, 1), M, N, K, irand(0, 5),
                        (int)irand(0, 1), 0))
            failed = 1;
    }
    /* extreme values: every product the largest, int32 sums wrapping
     * (s8: K * 2^14 > 2^31 from K = 131073; s16: pairs of 2^30) */
    for (int kind = 0; kind < G_KINDS && !failed; kind++)
        for (int tb = 0; tb < 2 && !failed; tb++) {
            static const int64_t ks[] = {1, 2, 3, 4, 5, 64, 300, 1000};
            for (size_t i = 0; i < NELEM(ks) && !failed; i++)
                if (!check_gemm((gemm_kind)kind, tb, 9, 37, ks[i], 1, 1, 1)) failed = 1;
        }
    /* int16: edge values and the int64 kernels' K blocks (<= 480 products
     * of at most 2^22 summed in int32, then widened) */
    for (int kind = G_S16S32; kind <= G_S16S64 && !failed; kind++)
        for (int mode = 1; mode <= 3 && !failed; mode++) {
            static const int64_t ks[] = {31, 479, 480, 481, 512, 961, 3000};
            for (size_t i = 0; i < NELEM(ks) && !failed; i++)
                if (!check_gemm((gemm_kind)kind, (int)(i % 2), 6, 9, ks[i], (int64_t)(i % 3),
                                (int)(i % 2), mode))
                    failed = 1;
        }
    if (!failed && !check_gemm(G_S8S8, 0, 2, 5, 140000, 0, 1, 1)) failed = 1;
    if (!failed && !check_gemm(G_S8S8, 1, 2, 5, 140000, 0, 0, 1)) failed = 1;
    if (failed) nqt_failures++;

    /* M, N <= 0 write nothing; K = 0 gives the bias */
    int32_t c[6] = {1, 2, 3, 4, 5, 6};
    const int8_t a1 = 1;
    const int32_t bias[2] = {-7, 9};
    nq_gemm_s8s8s32(0, 0, 3, 4, &a1, 4, &a1, 3, NULL, c, 3);
    nq_gemm_s8s8s32(0, 2, 0, 4, &a1, 4, &a1, 3, NULL, c, 3);
    CHECK(c[0] == 1 && c[5] == 6);
    nq_gemm_s8s8s32(0, 2, 3, 0, &a1, 1, &a1, 3, bias, c, 3);
    CHECK(c[0] == -7 && c[2] == -7 && c[3] == 9 && c[5] == 9);
    nq_gemm_s8s8s32(0, 2, 3, 0, &a1, 1, &a1, 3, NULL, c, 3);
    CHECK(c[0] == 0 && c[5] == 0);

    /* golden (numpy int64) */
    enum { GM = GOLDEN_GEMM_M, GN = GOLDEN_GEMM_N, GK = GOLDEN_GEMM_K };
    int32_t c32[GM * GN];
    int64_t c64[GM * GN];
    int8_t bt8[GN * GK];
    for (int k = 0; k < GK; k++)
        for (int j = 0; j < GN; j++) bt8[j * GK + k] = golden_gemm_b8[k * GN + j];
    for (int isa = -1; isa < NQ_INT_ISA_COUNT; isa++) {
        if (isa >= 0 && !nq_int_isa_available((nq_int_isa)isa)) continue;
        nq_int_isa is = isa < 0 ? nq_int_isa_best() : (nq_int_isa)isa;
        const nq_int_gemm_family au = NQ_INT_GEMM_AUTO;
        nq_gemm_s8s8s32_isa(is, au, 0, GM, GN, GK, golden_gemm_a8, GK, golden_gemm_b8, GN,
                            golden_gemm_bias, c32, GN);
        CHECK(memcmp(c32, golden_gemm_s8s8, sizeof c32) == 0);
        nq_gemm_s8s8s32_isa(is, au, 1, GM, GN, GK, golden_gemm_a8, GK, bt8, GK, golden_gemm_bias,
                            c32, GN);
        CHECK(memcmp(c32, golden_gemm_s8s8, sizeof c32) == 0);
        nq_gemm_s8u8s32_isa(is, au, 0, GM, GN, GK, golden_gemm_a8, GK, golden_gemm_u8, GN,
                            golden_gemm_bias, c32, GN);
        CHECK(memcmp(c32, golden_gemm_s8u8, sizeof c32) == 0);
        nq_gemm_s16s16s32_isa(is, au, 0, GM, GN, GK, golden_gemm_a16, GK, golden_gemm_b16, GN,
                              golden_gemm_bias, c32, GN);
        CHECK(memcmp(c32, golden_gemm_s16s16s32, sizeof c32) == 0);
        nq_gemm_s16s16s64_isa(is, au, 0, GM, GN, GK, golden_gemm_a16, GK, golden_gemm_b16, GN,
                              golden_gemm_bias64, c64, GN);
        CHECK(memcmp(c64, golden_gemm_s16s16s64, sizeof c64) == 0);
    }
    nq_gemm_s8s8s32_ref(0, GM, GN, GK, golden_gemm_a8, GK, golden_gemm_b8, GN, golden_gemm_bias,
                        c32, GN);
    CHECK(memcmp(c32, golden_gemm_s8s8, sizeof c32) == 0);
    nq_gemm_s16s16s64_ref(0, GM, GN, GK, golden_gemm_a16, GK, golden_gemm_b16, GN,
                          golden_gemm_bias64, c64, GN);
    CHECK(memcmp(c64, golden_gemm_s16s16s64, sizeof c64) == 0);
}

/* ---- (d) im2col -------------------------------------------------------- */

static void geom_make(nq_conv_geom *g, int nsp, const int64_t *in, const int64_t *k,
                      const int64_t *s, const int64_t *d, const int64_t *pb, const int64_t *pe)
{
    memset(g, 0, sizeof *g);
    g->nsp = nsp;
    for (int i = 0; i < nsp; i++) {
        g->in[i] = in[i], g->kernel[i] = k[i], g->stride[i] = s[i], g->dilation[i] = d[i];
        g->pad_begin[i] = pb[i], g->pad_end[i] = pe[i];
        g->out[i] = (in[i] + pb[i] + pe[i] - d[i] * (k[i] - 1) - 1) / s[i] + 1;
    }
}

/* The definition, one element at a time. */
static void im2col_naive(const nq_conv_geom *g, int64_t channels, size_t es,
                         const unsigned char *src, unsigned char *dst)
{
    int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, k[3] = {1, 1, 1}, s[3] = {1, 1, 1},
            d[3] = {1, 1, 1}, pb[3] = {0, 0, 0};
    for (int i = 0; i < g->nsp; i++) {
        int j = 3 - g->nsp + i;
        in[j] = g->in[i], out[j] = g->out[i], k[j] = g->kernel[i], s[j] = g->stride[i];
        d[j] = g->dilation[i], pb[j] = g->pad_begin[i];
    }
    int64_t row = 0;
    for (int64_t c = 0; c < channels; c++)
        for (int64_t a = 0; a < k[0]; a++)
            for (int64_t b = 0; b < k[1]; b++)
                for (int64_t e = 0; e < k[2]; e++, row++) {
                    int64_t col = 0;
                    for (int64_t o0 = 0; o0 < out[0]; o0++)
                        for (int64_t o1 = 0; o1 < out[1]; o1++)
                            for (int64_t o2 = 0; o2 < out[2]; o2++, col++) {
                                int64_t i0 = o0 * s[0] - pb[0] + a * d[0];
                                int64_t i1 = o1 * s[1] - pb[1] + b * d[1];
                                int64_t i2 = o2 * s[2] - pb[2] + e * d[2];
                                unsigned char *q =
                                    dst + (size_t)(row * out[0] * out[1] * out[2] + col) * es;
                                if (i0 < 0 || i0 >= in[0] || i1 < 0 || i1 >= in[1] || i2 < 0 ||
                                    i2 >= in[2])
                                    memset(q, 0, es);
                                else
                                    memcpy(q,
                                           src + (size_t)(((c * in[0] + i0) * in[1] + i1) * in[2] +
                                                          i2) * es,
                                           es);
                            }
                }
}

static void test_im2col(void)
{
    /* golden 2-D int8 case */
    nq_conv_geom g;
    const int64_t gin[2] = {GOLDEN_I2C_H, GOLDEN_I2C_W}, gk[2] = {GOLDEN_I2C_KH, GOLDEN_I2C_KW};
    const int64_t gs[2] = {GOLDEN_I2C_SH, GOLDEN_I2C_SW}, gd[2] = {GOLDEN_I2C_DH, GOLDEN_I2C_DW};
    const int64_t gpb[2] = {GOLDEN_I2C_PH0, GOLDEN_I2C_PW0};
    const int64_t gpe[2] = {GOLDEN_I2C_PH1, GOLDEN_I2C_PW1};
    geom_make(&g, 2, gin, gk, gs, gd, gpb, gpe);
    CHECK(g.out[0] == GOLDEN_I2C_OH && g.out[1] == GOLDEN_I2C_OW);
    int8_t gdst[sizeof golden_i2c_dst];
    nq_im2col_s8(&g, GOLDEN_I2C_C, golden_i2c_src, gdst);
    CHECK(memcmp(gdst, golden_i2c_dst, sizeof gdst) == 0);

    /* random geometries, ranks 1..3, element sizes 1, 2, 3, 4, 8 */
    static const size_t sizes[] = {1, 2, 3, 4, 8};
    for (int t = 0; t < 300; t++) {
        int nsp = 1 + t % 3;
        int64_t in[3], k[3], s[3], d[3], pb[3], pe[3];
        int ok_geom = 1;
        for (int i = 0; i < nsp; i++) {
            in[i] = irand(1, nsp == 3 ? 6 : 12), k[i] = irand(1, 4), s[i] = irand(1, 3);
            d[i] = irand(1, 3), pb[i] = irand(0, 3), pe[i] = irand(0, 3);
            if (in[i] + pb[i] + pe[i] < d[i] * (k[i] - 1) + 1) ok_geom = 0;
        }
        if (!ok_geom) continue;
        geom_make(&g, nsp, in, k, s, d, pb, pe);
        int64_t channels = irand(1, 3), in_n = channels, out_n = channels;
        for (int i = 0; i < nsp; i++) in_n *= in[i], out_n *= k[i] * g.out[i];
        const size_t es = sizes[t % NELEM(sizes)];
        unsigned char *src = malloc((size_t)in_n * es), *dst = malloc((size_t)out_n * es + 1);
        unsigned char *ref = malloc((size_t)out_n * es + 1);
        REQUIRE(src && dst && ref);
        for (int64_t i = 0; i < in_n * (int64_t)es; i++) src[i] = (unsigned char)irand(1, 255);
        memset(dst, 0xEE, (size_t)out_n * es + 1);
        im2col_naive(&g, channels, es, src, ref);
        if (es == 1)
            nq_im2col_s8(&g, channels, (const int8_t *)src, (int8_t *)dst);
        else if (es == 2 && t % 2)
            nq_im2col_s16(&g, channels, (const int16_t *)(const void *)src, (int16_t *)(void *)dst);
        else
            nq_im2col_bytes(&g, channels, es, src, dst);
        if (memcmp(dst, ref, (size_t)out_n * es) != 0 || dst[out_n * (int64_t)es] != 0xEE) {
            fprintf(stderr, "im2col rank %d es %zu t %d: differs from the naive loop\n", nsp, es,
                    t);
            nqt_failures++;
        }
        { /* rows [r0, r1) at a leading dimension: slices of the full result */
            int64_t out_last = g.out[nsp - 1], rows = out_n / channels / out_last;
            for (int i = 0; i < nsp; i++) rows /= k[i];
            const int64_t r0 = irand(0, rows - 1), r1 = irand(r0 + 1, rows);
            const int64_t ld = (r1 - r0) * out_last + irand(0, 3);
            const int64_t krows = out_n / (rows * out_last);
            unsigned char *part = malloc((size_t)(krows * ld) * es);
            REQUIRE(part);
            memset(part, 0xEE, (size_t)(krows * ld) * es);
            nq_im2col_bytes_rows(&g, channels, es, src, part, ld, r0, r1);
            int bad = 0;
            for (int64_t q = 0; q < krows && !bad; q++) {
                bad |= memcmp(part + (size_t)(q * ld) * es,
                              ref + (size_t)(q * rows * out_last + r0 * out_last) * es,
                              (size_t)((r1 - r0) * out_last) * es) != 0;
                for (int64_t b = (r1 - r0) * out_last * (int64_t)es; b < ld * (int64_t)es; b++)
                    bad |= part[q * ld * (int64_t)es + b] != 0xEE;
            }
            if (bad) {
                fprintf(stderr, "im2col rows [%lld, %lld) ld %lld rank %d es %zu: wrong\n",
                        (long long)r0, (long long)r1, (long long)ld, nsp, es);
                nqt_failures++;
            }
            free(part);
        }
        if (es == 4) { /* the float im2col gives the same bytes */
            float *fs = malloc((size_t)in_n * 4), *fd = malloc((size_t)out_n * 4);
            REQUIRE(fs && fd);
            for (int64_t i = 0; i < in_n; i++) fs[i] = (float)irand(-1000, 1000) * 0.25f;
            nq_im2col_f32(&g, channels, fs, fd);
            nq_im2col_bytes(&g, channels, 4, fs, dst);
            CHECK(memcmp(dst, fd, (size_t)out_n * 4) == 0);
            free(fs), free(fd);
        }
        free(src), free(dst), free(ref);
    }
    /* wide rows (the vector loops of strides 1 and 2, the column-wise
     * border zeroing): 3x3 kernels, pads 1 and 2, every element size */
    for (size_t e = 0; e < NELEM(sizes); e++)
        for (int t = 0; t < 4; t++) {
            const int64_t in[2] = {9, 61}, k[2] = {3, 3}, s[2] = {1 + t % 2, 1 + t % 2};
            const int64_t d[2] = {1, 1}, p[2] = {1 + t / 2, 1 + t / 2};
            geom_make(&g, 2, in, k, s, d, p, p);
            const int64_t channels = 2, in_n = channels * in[0] * in[1];
            const int64_t out_n = channels * 9 * g.out[0] * g.out[1];
            const size_t es = sizes[e];
            unsigned char *src = malloc((size_t)in_n * es), *dst = malloc((size_t)out_n * es);
            unsigned char *ref = malloc((size_t)out_n * es);
            REQUIRE(src && dst && ref);
            for (int64_t i = 0; i < in_n * (int64_t)es; i++) src[i] = (unsigned char)irand(1, 255);
            memset(dst, 0xEE, (size_t)out_n * es);
            im2col_naive(&g, channels, es, src, ref);
            nq_im2col_bytes(&g, channels, es, src, dst);
            if (memcmp(dst, ref, (size_t)out_n * es) != 0) {
                fprintf(stderr, "im2col wide rows es %zu stride %lld pad %lld: wrong\n", es,
                        (long long)s[0], (long long)p[0]);
                nqt_failures++;
            }
            free(src), free(dst), free(ref);
        }
}

/* ---- (e) depthwise planes against the definition ------------------------ */

/* Element i of a plane of type t, widened. */
static int64_t dw_elem(nq_dw_int_type t, const void *p, int64_t i)
{
    return t == NQ_DW_INT_S16 ? ((const int16_t *)p)[i]
           : t == NQ_DW_INT_U8 ? ((const uint8_t *)p)[i]
                               : ((const int8_t *)p)[i];
}

/* y at every output position of a 3-D window (leading unit dims), from the
 * definition in uint64 (exact modulo 2^64). */
static void dw_reference(const nq_window3 *w, nq_dw_int_type xt, const void *x,
                         nq_dw_int_type wt, const void *wts, int64_t bias, uint64_t *y)
{
    for (int64_t od = 0, o = 0; od < w->out[0]; od++)
        for (int64_t oh = 0; oh < w->out[1]; oh++)
            for (int64_t ow = 0; ow < w->out[2]; ow++, o++) {
                uint64_t acc = (uint64_t)bias;
                for (int64_t kd = 0, t = 0; kd < w->k[0]; kd++)
                    for (int64_t kh = 0; kh < w->k[1]; kh++)
                        for (int64_t kw = 0; kw < w->k[2]; kw++, t++) {
                            const int64_t id = od * w->s[0] - w->pb[0] + kd * w->d[0];
                            const int64_t ih = oh * w->s[1] - w->pb[1] + kh * w->d[1];
                            const int64_t iw = ow * w->s[2] - w->pb[2] + kw * w->d[2];
                            if (id < 0 || id >= w->in[0] || ih < 0 || ih >= w->in[1] ||
                                iw < 0 || iw >= w->in[2])
                                continue;
                            acc += (uint64_t)(dw_elem(wt, wts, t) *
                                              dw_elem(xt, x, (id * w->in[1] + ih) * w->in[2] + iw));
                        }
                y[o] = acc;
            }
}

/* Every ISA variant, type combination and accumulator on random
 * geometries (ranks 1..3, strides, dilations, pads), random and extreme
 * operands (mode 1: the most negative values, sums wrapping in int32). */
static void test_dw_int(void)
{
    static const nq_dw_int_type xts[] = {NQ_DW_INT_S8, NQ_DW_INT_U8, NQ_DW_INT_S16};
    static const nq_dw_int_type wts[] = {NQ_DW_INT_S8, NQ_DW_INT_S16};
    int bad = 0, runs = 0;
    for (int t = 0; t < 240 && !bad; t++) {
        const int nsp = 1 + t % 3, mode = t % 7 == 0;
        int64_t in[3], k[3], s[3], d[3], pb[3], pe[3];
        int ok_geom = 1;
        for (int i = 0; i < nsp; i++) {
            in[i] = irand(1, nsp == 3 ? 7 : i == nsp - 1 ? 70 : 12), k[i] = irand(1, 5);
            s[i] = irand(1, 3), d[i] = irand(1, 2), pb[i] = irand(0, 2), pe[i] = irand(0, 2);
            if (in[i] + pb[i] + pe[i] < d[i] * (k[i] - 1) + 1) ok_geom = 0;
        }
        if (!ok_geom) continue;
        nq_conv_geom g;
        nq_window3 w;
        geom_make(&g, nsp, in, k, s, d, pb, pe);
        nq_window3_from_geom(&g, &w);
        int64_t n_in = 1, n_out = 1, n_k = 1;
        for (int i = 0; i < 3; i++) n_in *= w.in[i], n_out *= w.out[i], n_k *= w.k[i];
        int16_t *x = malloc(sizeof(int16_t) * (size_t)n_in);
        int16_t *wk = malloc(sizeof(int16_t) * (size_t)n_k);
        uint64_t *ref = malloc(sizeof(uint64_t) * (size_t)n_out);
        uint64_t *y = malloc(sizeof(uint64_t) * (size_t)n_out);
        REQUIRE(x && wk && ref && y);
        const nq_dw_int_type xt = xts[t % 3], wt = wts[(t / 3) % 2];
        const int acc64 = (t / 6) % 2;
        for (int64_t i = 0; i < n_in; i++) {
            const int64_t v = mode ? (xt == NQ_DW_INT_S16 ? INT16_MIN : xt == NQ_DW_INT_U8 ? 255 : INT8_MIN)
                                   : irand(xt == NQ_DW_INT_U8 ? 0 : xt == NQ_DW_INT_S16 ? INT16_MIN : INT8_MIN,
                                           xt == NQ_DW_INT_U8 ? 255 : xt == NQ_DW_INT_S16 ? INT16_MAX : INT8_MAX);
            if (xt == NQ_DW_INT_S16) x[i] = (int16_t)v;
            else if (xt == NQ_DW_INT_U8) ((uint8_t *)x)[i] = (uint8_t)v;
            else ((int8_t *)x)[i] = (int8_t)v;
        }
        for (int64_t i = 0; i < n_k; i++) {
            const int64_t v = mode ? (wt == NQ_DW_INT_S16 ? INT16_MIN : INT8_MIN)
                                   : (i % 5 == 4 ? 0 : irand(wt == NQ_DW_INT_S16 ? INT16_MIN : INT8_MIN,
                                                             wt == NQ_DW_INT_S16 ? INT16_MAX : INT8_MAX));
            if (wt == NQ_DW_INT_S16) wk[i] = (int16_t)v;
            else ((int8_t *)wk)[i] = (int8_t)v;
        }
        const int64_t bias = acc64 ? irand(-(INT64_C(1) << 40), INT64_C(1) << 40)
                                   : irand(INT32_MIN, INT32_MAX);
        dw_reference(&w, xt, x, wt, wk, bias, ref);
        for (int isa = 0; isa < NQ_INT_ISA_COUNT && !bad; isa++) {
            if (!nq_int_isa_available((nq_int_isa)isa)) continue;
            memset(y, 0xA5, sizeof(uint64_t) * (size_t)n_out);
            nq_dw_int_plane((nq_int_isa)isa, acc64, xt, wt, &w, x, wk, bias, y);
            for (int64_t o = 0; o < n_out && !bad; o++) {
                const uint64_t got = acc64 ? y[o] : ((const uint32_t *)(const void *)y)[o];
                const uint64_t want = acc64 ? ref[o] : (uint32_t)ref[o];
                if (got != want) {
                    fprintf(stderr, "depthwise isa %s x %d w %d acc64 %d rank %d: output %lld "
                            "differs\n", nq_int_isa_name((nq_int_isa)isa), (int)xt, (int)wt,
                            acc64, nsp, (long long)o);
                    bad = 1;
                }
            }
            runs++;
        }
        free(x), free(wk), free(ref), free(y);
    }
    CHECK(!bad);
    CHECK(runs > 200);
}

int main(void)
{
    printf("integer ISA variants:");
    for (int i = 0; i < NQ_INT_ISA_COUNT; i++)
        if (nq_int_isa_available((nq_int_isa)i)) printf(" %s", nq_int_isa_name((nq_int_isa)i));
    printf(" (best: %s)\n", nq_int_isa_name(nq_int_isa_best()));
    test_from_scale();
    test_apply();
    test_requant_vectors();
    test_quantize();
    test_gemm();
    test_im2col();
    test_dw_int();
    TEST_MAIN_END();
}
