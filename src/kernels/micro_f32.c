/* Float32 micro-kernels shared by the convolution kernels (micro_f32.h):
 * a 16 (rows of A: output channels) x 6 (columns: positions) tile, per k
 * two 8-float loads of the packed A panel and 6 broadcasts from b + off[k].
 * GENERIC is plain C (the reference); AVX2 keeps the 12 accumulators in
 * registers and transposes them in registers for the stores. */
#include <string.h>

#include "kernels/micro_f32.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define NQ_F32_X86 1
#include <immintrin.h>
#define NQ_TARGET_AVX2 __attribute__((target("avx2,fma")))
#else
#define NQ_F32_X86 0
#endif

enum { MR = NQ_F32_MR, NR = NQ_F32_NR };

int nq_f32_isa_available(nq_f32_isa isa)
{
    switch (isa) {
    case NQ_F32_ISA_GENERIC: return 1;
#if NQ_F32_X86
    case NQ_F32_ISA_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
    default: return 0;
    }
}

nq_f32_isa nq_f32_isa_best(void)
{
    return nq_f32_isa_available(NQ_F32_ISA_AVX2) ? NQ_F32_ISA_AVX2 : NQ_F32_ISA_GENERIC;
}

size_t nq_f32_pack_a_floats(int64_t M, int64_t K)
{
    return (size_t)((M + MR - 1) / MR * MR * K);
}

void nq_f32_pack_a(int64_t M, int64_t K, const float *w, int64_t ldw, float *packed)
{
    for (int64_t m0 = 0; m0 < M; m0 += MR)
        for (int64_t k = 0; k < K; k++)
            for (int64_t i = 0; i < MR; i++)
                *packed++ = m0 + i < M ? w[(m0 + i) * ldw + k] : 0.0f;
}

/* ---- micro-kernels ---- */

static void micro_generic(int64_t kc, const float *a, const float *b, const int64_t *off,
                          const nq_f32_out *o, int64_t q0, int64_t mr, int64_t nr)
{
    float acc[NR][MR];
    memset(acc, 0, sizeof acc);
    for (int64_t k = 0; k < kc; k++, a += MR) {
        const float *bk = b + off[k];
        for (int j = 0; j < NR; j++)
            for (int i = 0; i < MR; i++) acc[j][i] += a[i] * bk[j];
    }
    for (int64_t j = 0; j < nr; j++) {
        const int64_t q = q0 + j, r = q / o->wp, col = q - r * o->wp;
        if (col >= o->ow) continue;
        float *d = o->trans ? o->y + q * o->ldy : o->y + r * o->ow + col;
        const int64_t step = o->trans ? 1 : o->ldy;
        for (int64_t i = 0; i < mr; i++)
            d[i * step] = (o->first ? (o->bias ? o->bias[i] : 0.0f) : d[i * step]) + acc[j][i];
    }
}

#if NQ_F32_X86
/* In-register 8x8 transpose: out[i] lane j = in[j] lane i. */
NQ_TARGET_AVX2 static inline void transpose8(const __m256 in[8], __m256 out[8])
{
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(in[i], in[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(in[i], in[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; i++) {
        out[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
        out[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
    }
}

NQ_TARGET_AVX2 static void micro_avx2(int64_t kc, const float *a, const float *b,
                                      const int64_t *off, const nq_f32_out *o, int64_t q0,
                                      int64_t mr, int64_t nr)
{
    __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
    __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    for (int64_t k = 0; k < kc; k++, a += MR) {
        const float *bk = b + off[k];
        const __m256 a0 = _mm256_loadu_ps(a), a1 = _mm256_loadu_ps(a + 8);
        __m256 bj = _mm256_broadcast_ss(bk);
        c00 = _mm256_fmadd_ps(a0, bj, c00);
        c01 = _mm256_fmadd_ps(a1, bj, c01);
        bj = _mm256_broadcast_ss(bk + 1);
        c10 = _mm256_fmadd_ps(a0, bj, c10);
        c11 = _mm256_fmadd_ps(a1, bj, c11);
        bj = _mm256_broadcast_ss(bk + 2);
        c20 = _mm256_fmadd_ps(a0, bj, c20);
        c21 = _mm256_fmadd_ps(a1, bj, c21);
        bj = _mm256_broadcast_ss(bk + 3);
        c30 = _mm256_fmadd_ps(a0, bj, c30);
        c31 = _mm256_fmadd_ps(a1, bj, c31);
        bj = _mm256_broadcast_ss(bk + 4);
        c40 = _mm256_fmadd_ps(a0, bj, c40);
        c41 = _mm256_fmadd_ps(a1, bj, c41);
        bj = _mm256_broadcast_ss(bk + 5);
        c50 = _mm256_fmadd_ps(a0, bj, c50);
        c51 = _mm256_fmadd_ps(a1, bj, c51);
    }
    if (o->trans) { /* column j = 16 consecutive floats at y + (q0 + j) * ldy */
        const __m256 acc[NR][2] = {{c00, c01}, {c10, c11}, {c20, c21},
                                   {c30, c31}, {c40, c41}, {c50, c51}};
        const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)mr), lane);
        const __m256i m1 = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)mr - 8), lane);
        for (int64_t j = 0; j < nr; j++) {
            float *d = o->y + (q0 + j) * o->ldy;
            __m256 v0 = acc[j][0], v1 = acc[j][1];
            if (!o->first) {
                v0 = _mm256_add_ps(v0, _mm256_maskload_ps(d, m0));
                v1 = _mm256_add_ps(v1, _mm256_maskload_ps(d + 8, m1));
            } else if (o->bias) {
                v0 = _mm256_add_ps(v0, _mm256_maskload_ps(o->bias, m0));
                v1 = _mm256_add_ps(v1, _mm256_maskload_ps(o->bias + 8, m1));
            }
            if (mr == MR) {
                _mm256_storeu_ps(d, v0);
                _mm256_storeu_ps(d + 8, v1);
            } else {
                _mm256_maskstore_ps(d, m0, v0);
                _mm256_maskstore_ps(d + 8, m1, v1);
            }
        }
        return;
    }
    /* columns j -> rows m: rows[m] lane j = Y[m][j] */
    const __m256 z = _mm256_setzero_ps();
    const __m256 lo_in[8] = {c00, c10, c20, c30, c40, c50, z, z};
    const __m256 hi_in[8] = {c01, c11, c21, c31, c41, c51, z, z};
    __m256 rows[16];
    transpose8(lo_in, rows);
    transpose8(hi_in, rows + 8);
    /* store lanes [0, nr) as runs of kept columns (usually one run) */
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for (int64_t j = 0; j < nr;) {
        /* no junk (wp == ow): position q is at y + q, one run */
        const int64_t q = q0 + j, r = o->wp == o->ow ? 0 : q / o->wp, col = q - r * o->wp;
        if (o->wp != o->ow && col >= o->ow) { /* junk columns up to the row end */
            j += o->wp - col;
            continue;
        }
        const int64_t len = o->wp == o->ow || nr - j < o->ow - col ? nr - j : o->ow - col;
        const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)len), lane);
        const __m256i shift = _mm256_add_epi32(lane, _mm256_set1_epi32((int)j));
        float *d = o->y + r * o->ow + col;
        for (int64_t i = 0; i < mr; i++, d += o->ldy) {
            __m256 v = j ? _mm256_permutevar8x32_ps(rows[i], shift) : rows[i];
            if (!o->first) v = _mm256_add_ps(v, _mm256_maskload_ps(d, mask));
            else if (o->bias) v = _mm256_add_ps(v, _mm256_broadcast_ss(o->bias + i));
            _mm256_maskstore_ps(d, mask, v);
        }
        j += len;
    }
}
#endif


nq_f32_micro_fn nq_f32_micro(nq_f32_isa isa)
{
#if NQ_F32_X86
    if (isa == NQ_F32_ISA_AVX2 && nq_f32_isa_available(isa)) return micro_avx2;
#else
    (void)isa;
#endif
    return micro_generic;
}
