/*
 * nnquant requantization core: the one definition of how an integer
 * accumulator is rescaled (docs/numerics.md, "Requantization").
 *
 * Self-contained C99 (only <stdint.h>), static inline, no state: the
 * library's kernels (src/kernels/requant.c) include it, and the C exporter
 * copies this very file, byte for byte, into every generated project
 * (`nnquant export --c`), so that the host runtime and the exported code
 * compute the same integers.
 *
 *   nq_rq_apply(acc, mult, shift, qmin, qmax)
 *     shift >= 1: floor((acc * mult + 2^(shift-1)) / 2^shift)  (half up)
 *     shift <= 0: acc * mult * 2^-shift
 *     then clamped to [qmin, qmax]; exact for every int64 acc.
 *   mult < 0 is taken as 0, shift is clamped into [-31, 62].
 */
#ifndef NQ_REQUANT_CORE_H
#define NQ_REQUANT_CORE_H

#include <stdint.h>

#define NQ_RQ_SHIFT_MIN (-31)
#define NQ_RQ_SHIFT_MAX 62
#define NQ_RQ_P2(k) ((int64_t)1 << (k))

/* floor(x / 2^s) for 0 <= s <= 63, without relying on how >> treats
 * negative values (compilers turn this into one arithmetic shift). */
static inline int64_t nq_rq_asr64(int64_t x, int s)
{
    return x >= 0 ? x >> s : -1 - ((-1 - x) >> s);
}

static inline int64_t nq_rq_clamp64(int64_t y, int64_t lo, int64_t hi)
{
    y = y < lo ? lo : y;
    return y > hi ? hi : y;
}

/* floor((acc * M + 2^(n-1)) / 2^n) clamped to [qmin, qmax], exactly, for
 * any int64 acc, 0 <= M < 2^31, 1 <= n <= 62. acc * M needs up to 94 bits:
 * split acc = h * 2^31 + l with 0 <= l < 2^31, so that
 *   acc * M + 2^(n-1) = P * 2^31 + L,  P = h * M,  L = l * M + 2^(n-1),
 * where |P| < 2^63 and 0 <= L < 2^63. */
static inline int64_t nq_rq_rshift_exact(int64_t acc, int64_t M, int n, int64_t qmin,
                                         int64_t qmax)
{
    const int64_t h = nq_rq_asr64(acc, 31);                    /* [-2^32, 2^32) */
    const int64_t l = (int64_t)((uint64_t)acc & 0x7FFFFFFFu);  /* [0, 2^31) */
    const int64_t P = h * M;
    const int64_t L = l * M + NQ_RQ_P2(n - 1);
    int s;
    if (n >= 31) {
        /* P*2^31 + L = (P + Lh)*2^31 + Ll, 0 <= Ll < 2^31, so the floor of
         * its quotient by 2^n is floor((P + Lh) / 2^(n-31)). */
        return nq_rq_clamp64(nq_rq_asr64(P + (L >> 31), n - 31), qmin, qmax);
    }
    /* n < 31: y = P * 2^s + floor(L / 2^n), s = 31 - n in [1, 30];
     * floor(L / 2^n) < 3 * 2^60. Exact when |P| <= 2^(62-s); beyond, y is
     * above 2^62 or below -2^60, outside every int32 range. */
    s = 31 - n;
    if (P > NQ_RQ_P2(62 - s)) return qmax;
    if (P < -NQ_RQ_P2(62 - s)) return qmin;
    return nq_rq_clamp64(P * NQ_RQ_P2(s) + (L >> n), qmin, qmax);
}

/* acc * M * 2^k clamped, exactly, for any int64 acc, 0 <= M < 2^31,
 * 0 <= k <= 31. Clamping acc and the product to [INT32_MIN - 1,
 * INT32_MAX + 1] first keeps every saturated result saturated. */
static inline int64_t nq_rq_lshift_exact(int64_t acc, int64_t M, int k, int64_t qmin,
                                         int64_t qmax)
{
    const int64_t lo = (int64_t)INT32_MIN - 1, hi = (int64_t)INT32_MAX + 1;
    int64_t p = nq_rq_clamp64(acc, lo, hi) * M;  /* |p| < 2^62 */
    p = nq_rq_clamp64(p, lo, hi) * NQ_RQ_P2(k);  /* |p| < 2^63 */
    return nq_rq_clamp64(p, qmin, qmax);
}

/* The reference requantization of one accumulator (see the top). */
static inline int32_t nq_rq_apply(int64_t acc, int32_t mult, int32_t shift, int32_t qmin,
                                  int32_t qmax)
{
    const int64_t M = mult < 0 ? 0 : mult;
    const int n = shift < NQ_RQ_SHIFT_MIN ? NQ_RQ_SHIFT_MIN
                  : shift > NQ_RQ_SHIFT_MAX ? NQ_RQ_SHIFT_MAX
                                            : (int)shift;
    return (int32_t)(n >= 1 ? nq_rq_rshift_exact(acc, M, n, qmin, qmax)
                            : nq_rq_lshift_exact(acc, M, -n, qmin, qmax));
}

#endif
