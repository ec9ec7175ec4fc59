/* Float32 GEMM: OpenBLAS when available, else a cache-blocked portable
 * loop; nq_sgemm_ref is the plain triple loop both are tested against. */
#include <string.h>

#include "kernels/gemm_internal.h"
#include "nnquant/kernels.h"

#ifdef NQ_HAVE_OPENBLAS
#include <cblas.h>
#include <limits.h>
#endif

/* Element (i, j) of op(X) for a row-major X with leading dimension ld. */
#define OP_AT(X, trans, ld, i, j) ((trans) ? (X)[(j) * (ld) + (i)] : (X)[(i) * (ld) + (j)])

void nq_sgemm_ref(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                  const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                  float *C, int64_t ldc)
{
    for (int64_t i = 0; i < M; i++) {
        for (int64_t j = 0; j < N; j++) {
            double acc = 0.0;
            for (int64_t k = 0; k < K; k++)
                acc += (double)OP_AT(A, trans_a, lda, i, k) * (double)OP_AT(B, trans_b, ldb, k, j);
            float *c = &C[i * ldc + j];
            /* beta == 0 means "C is not read" (it may hold NaN). */
            *c = (float)(alpha * acc + (beta == 0.0f ? 0.0 : (double)beta * *c));
        }
    }
}

/* ---- portable blocked GEMM ----------------------------------------- */

enum { MR = 4, NR = 16, MC = 64, KC = 128, NC = 128 };

static void scale_c(int64_t M, int64_t N, float beta, float *C, int64_t ldc)
{
    if (beta == 1.0f) return;
    for (int64_t i = 0; i < M; i++) {
        float *c = C + i * ldc;
        if (beta == 0.0f) memset(c, 0, (size_t)N * sizeof *c);
        else
            for (int64_t j = 0; j < N; j++) c[j] *= beta;
    }
}

/* Packs op(A)[i0:i0+mc, k0:k0+kc] * alpha into MR-row panels: ap[p][k][r]. */
static void pack_a(int trans, const float *A, int64_t lda, int64_t i0, int64_t k0, int64_t mc,
                   int64_t kc, float alpha, float *ap)
{
    for (int64_t p = 0; p < mc; p += MR) {
        for (int64_t k = 0; k < kc; k++)
            for (int64_t r = 0; r < MR; r++)
                *ap++ = p + r < mc ? alpha * OP_AT(A, trans, lda, i0 + p + r, k0 + k) : 0.0f;
    }
}

/* Packs op(B)[k0:k0+kc, j0:j0+nc] into NR-column panels: bp[p][k][c]. */
static void pack_b(int trans, const float *B, int64_t ldb, int64_t k0, int64_t j0, int64_t kc,
                   int64_t nc, float *bp)
{
    for (int64_t p = 0; p < nc; p += NR) {
        int64_t w = nc - p < NR ? nc - p : NR;
        for (int64_t k = 0; k < kc; k++) {
            if (!trans && w == NR) {
                memcpy(bp, B + (k0 + k) * ldb + j0 + p, NR * sizeof *bp);
            } else {
                for (int64_t c = 0; c < NR; c++)
                    bp[c] = c < w ? OP_AT(B, trans, ldb, k0 + k, j0 + p + c) : 0.0f;
            }
            bp += NR;
        }
    }
}

/* C[0:mr, 0:nr] += ap (MR x kc panel) * bp (kc x NR panel). */
static void micro_kernel(int64_t kc, const float *ap, const float *bp, float *C, int64_t ldc,
                         int64_t mr, int64_t nr)
{
    float acc[MR][NR];
    memset(acc, 0, sizeof acc);
    for (int64_t k = 0; k < kc; k++) {
        const float *a = ap + k * MR, *b = bp + k * NR;
        for (int r = 0; r < MR; r++)
            for (int c = 0; c < NR; c++) acc[r][c] += a[r] * b[c];
    }
    for (int64_t r = 0; r < mr; r++)
        for (int64_t c = 0; c < nr; c++) C[r * ldc + c] += acc[r][c];
}

void nq_sgemm_portable(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                       const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                       float *C, int64_t ldc)
{
    if (M <= 0 || N <= 0) return;
    scale_c(M, N, beta, C, ldc);
    if (K <= 0 || alpha == 0.0f) return;
    float ap[MC * KC];
    float bp[KC * NC];
    for (int64_t j0 = 0; j0 < N; j0 += NC) {
        int64_t nc = N - j0 < NC ? N - j0 : NC;
        for (int64_t k0 = 0; k0 < K; k0 += KC) {
            int64_t kc = K - k0 < KC ? K - k0 : KC;
            pack_b(trans_b, B, ldb, k0, j0, kc, nc, bp);
            for (int64_t i0 = 0; i0 < M; i0 += MC) {
                int64_t mc = M - i0 < MC ? M - i0 : MC;
                pack_a(trans_a, A, lda, i0, k0, mc, kc, alpha, ap);
                for (int64_t jp = 0; jp < nc; jp += NR) {
                    int64_t nr = nc - jp < NR ? nc - jp : NR;
                    for (int64_t ip = 0; ip < mc; ip += MR) {
                        int64_t mr = mc - ip < MR ? mc - ip : MR;
                        micro_kernel(kc, ap + ip * kc, bp + jp * kc,
                                     C + (i0 + ip) * ldc + j0 + jp, ldc, mr, nr);
                    }
                }
            }
        }
    }
}

/* ---- dispatch ------------------------------------------------------ */

/* One thread's GEMM: OpenBLAS (kept single-threaded: threads come from our
 * OpenMP regions only, so that two pools never spin against each other),
 * else the portable loop. */
static void sgemm_1(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                    const float *A, int64_t lda, const float *B, int64_t ldb, float beta,
                    float *C, int64_t ldc)
{
#ifdef NQ_HAVE_OPENBLAS
    /* cblas reports bad leading dimensions by printing (xerbla): never pass one. */
    int64_t a_cols = trans_a ? M : K, b_cols = trans_b ? K : N;
    if (M <= INT_MAX && N <= INT_MAX && K <= INT_MAX && lda <= INT_MAX && ldb <= INT_MAX &&
        ldc <= INT_MAX && lda >= a_cols && ldb >= b_cols && ldc >= N) {
        /* OpenBLAS's setting is process-wide: only written when it is not 1
         * yet, so that calls from parallel regions do not race on it. */
        if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
        cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                    trans_b ? CblasTrans : CblasNoTrans, (int)M, (int)N, (int)K, alpha, A,
                    (int)lda, B, (int)ldb, beta, C, (int)ldc);
        return;
    }
#endif
    nq_sgemm_portable(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

/* Below this many multiply-adds a GEMM is not worth splitting over threads. */
#define NQ_SGEMM_SPLIT_MACS (1 << 20)

void nq_sgemm(int trans_a, int trans_b, int64_t M, int64_t N, int64_t K, float alpha,
              const float *A, int64_t lda, const float *B, int64_t ldb, float beta, float *C,
              int64_t ldc, int num_threads)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
#ifdef NQ_HAVE_OPENMP
    /* Several threads: independent column (or row) blocks of C, a multiple
     * of 16 wide, one single-threaded GEMM each. */
    if (num_threads > 1 && (double)M * (double)N * (double)K >= NQ_SGEMM_SPLIT_MACS) {
        const int by_cols = N >= M;
        const int64_t dim = by_cols ? N : M;
        int64_t chunk = (dim + num_threads - 1) / num_threads;
        chunk = (chunk + 15) / 16 * 16;
        const int64_t pieces = (dim + chunk - 1) / chunk;
#pragma omp parallel for num_threads(num_threads) schedule(static)
        for (int64_t t = 0; t < pieces; t++) {
            const int64_t lo = t * chunk, n = dim - lo < chunk ? dim - lo : chunk;
            if (by_cols)
                sgemm_1(trans_a, trans_b, M, n, K, alpha, A, lda,
                        trans_b ? B + lo * ldb : B + lo, ldb, beta, C + lo, ldc);
            else
                sgemm_1(trans_a, trans_b, n, N, K, alpha, trans_a ? A + lo : A + lo * lda, lda,
                        B, ldb, beta, C + lo * ldc, ldc);
        }
        return;
    }
#endif
    (void)num_threads;
    sgemm_1(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
