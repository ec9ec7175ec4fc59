/* The pair micro-kernels of the integer GEMMs (gemm_pair.h). */
#include "kernels/gemm_pair.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

/* AVX2: 16 ymm registers, so the 4 x 32 tile runs as two 4 x 16 halves
 * (8 accumulators, 2 B vectors, a broadcast and a product live). */
__attribute__((target("avx2"))) void nq_pair_tile4_avx2(int64_t kp, const uint32_t *ap,
                                                        const int16_t *bp, uint32_t *out)
{
    for (int half = 0; half < 2; half++) {
        const int16_t *b = bp + half * 32;
        __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00;
        __m256i c20 = c00, c21 = c00, c30 = c00, c31 = c00;
        for (int64_t p = 0; p < kp; p++, b += 2 * NQ_PAIR_NR) {
            const uint32_t *a = ap + p * 4;
            const __m256i b0 = _mm256_loadu_si256((const __m256i *)(const void *)b);
            const __m256i b1 = _mm256_loadu_si256((const __m256i *)(const void *)(b + 16));
            __m256i x = _mm256_set1_epi32((int)a[0]);
            c00 = _mm256_add_epi32(c00, _mm256_madd_epi16(x, b0));
            c01 = _mm256_add_epi32(c01, _mm256_madd_epi16(x, b1));
            x = _mm256_set1_epi32((int)a[1]);
            c10 = _mm256_add_epi32(c10, _mm256_madd_epi16(x, b0));
            c11 = _mm256_add_epi32(c11, _mm256_madd_epi16(x, b1));
            x = _mm256_set1_epi32((int)a[2]);
            c20 = _mm256_add_epi32(c20, _mm256_madd_epi16(x, b0));
            c21 = _mm256_add_epi32(c21, _mm256_madd_epi16(x, b1));
            x = _mm256_set1_epi32((int)a[3]);
            c30 = _mm256_add_epi32(c30, _mm256_madd_epi16(x, b0));
            c31 = _mm256_add_epi32(c31, _mm256_madd_epi16(x, b1));
        }
        uint32_t *o = out + half * 16;
        _mm256_storeu_si256((__m256i *)(void *)o, c00);
        _mm256_storeu_si256((__m256i *)(void *)(o + 8), c01);
        _mm256_storeu_si256((__m256i *)(void *)(o + NQ_PAIR_NR), c10);
        _mm256_storeu_si256((__m256i *)(void *)(o + NQ_PAIR_NR + 8), c11);
        _mm256_storeu_si256((__m256i *)(void *)(o + 2 * NQ_PAIR_NR), c20);
        _mm256_storeu_si256((__m256i *)(void *)(o + 2 * NQ_PAIR_NR + 8), c21);
        _mm256_storeu_si256((__m256i *)(void *)(o + 3 * NQ_PAIR_NR), c30);
        _mm256_storeu_si256((__m256i *)(void *)(o + 3 * NQ_PAIR_NR + 8), c31);
    }
}

/* AVX-512: 16 zmm accumulators (8 rows x 32 columns), vpdpwssd fusing the
 * pair products with the accumulation (wrapping, not saturating). Named
 * registers, not an array: gcc shuffles an array of vectors through
 * copies and stack stores on every iteration. */
/* ROW(0); ... ROW(7): one statement per row of an 8-row tile. */
#define NQ_ROWS8(ROW) ROW(0); ROW(1); ROW(2); ROW(3); ROW(4); ROW(5); ROW(6); ROW(7)
#define PAIR_ROW512(r)                                                                            \
    x = _mm512_set1_epi32((int)ap[r]);                                                          \
    c##r##0 = _mm512_dpwssd_epi32(c##r##0, x, b0);                                              \
    c##r##1 = _mm512_dpwssd_epi32(c##r##1, x, b1)
#define PAIR_STORE512(r)                                                                          \
    _mm512_storeu_si512((void *)(out + (r) * NQ_PAIR_NR), c##r##0);                             \
    _mm512_storeu_si512((void *)(out + (r) * NQ_PAIR_NR + 16), c##r##1)
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void
nq_pair_tile8_avx512vnni(int64_t kp, const uint32_t *ap, const int16_t *bp, uint32_t *out)
{
    __m512i c00 = _mm512_setzero_si512(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m512i c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00;
    __m512i c61 = c00, c70 = c00, c71 = c00;
    for (int64_t p = 0; p < kp; p++, ap += 8, bp += 2 * NQ_PAIR_NR) {
        const __m512i b0 = _mm512_loadu_si512((const void *)bp);
        const __m512i b1 = _mm512_loadu_si512((const void *)(bp + 32));
        __m512i x;
        NQ_ROWS8(PAIR_ROW512);
    }
    NQ_ROWS8(PAIR_STORE512);
}

/* The quad tile: the same registers and stores as the pair tile above, one
 * vpdpbusd per 4 products of K (B's unsigned bytes first, A's signed
 * broadcast second). */
#define QUAD_ROW512(r)                                                                            \
    x = _mm512_set1_epi32((int)aq[r]);                                                          \
    c##r##0 = _mm512_dpbusd_epi32(c##r##0, b0, x);                                              \
    c##r##1 = _mm512_dpbusd_epi32(c##r##1, b1, x)
__attribute__((target("avx512f,avx512bw,avx512vnni"))) void
nq_quad_tile8_avx512vnni(int64_t kq, const uint32_t *aq, const uint8_t *bq, const int32_t *init,
                         uint32_t *out)
{
    __m512i c00 = _mm512_set1_epi32(init[0]), c01 = c00, c10 = _mm512_set1_epi32(init[1]);
    __m512i c11 = c10, c20 = _mm512_set1_epi32(init[2]), c21 = c20;
    __m512i c30 = _mm512_set1_epi32(init[3]), c31 = c30, c40 = _mm512_set1_epi32(init[4]);
    __m512i c41 = c40, c50 = _mm512_set1_epi32(init[5]), c51 = c50;
    __m512i c60 = _mm512_set1_epi32(init[6]), c61 = c60, c70 = _mm512_set1_epi32(init[7]);
    __m512i c71 = c70;
    for (int64_t q = 0; q < kq; q++, aq += 8, bq += 4 * NQ_PAIR_NR) {
        const __m512i b0 = _mm512_loadu_si512((const void *)bq);
        const __m512i b1 = _mm512_loadu_si512((const void *)(bq + 64));
        __m512i x;
        NQ_ROWS8(QUAD_ROW512);
    }
    NQ_ROWS8(PAIR_STORE512);
}
#endif
