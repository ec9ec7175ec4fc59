/* nq_sgemm (OpenBLAS or portable) and the portable blocked GEMM against
 * nq_sgemm_ref; nq_im2col_f32 against a naive reference. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/gemm_internal.h"
#include "kernels/window3.h"
#include "nnquant/kernels.h"
#include "nqtest.h"

static unsigned rng = 12345u;
static float frand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xFFFFFF) / 8388608.0f - 1.0f;
}
static int64_t irand(int64_t lo, int64_t hi) /* [lo, hi] */
{
    rng = rng * 1664525u + 1013904223u;
    return lo + (int64_t)((rng >> 8) % (unsigned)(hi - lo + 1));
}

#define AT(X, tr, ld, i, j) ((tr) ? (X)[(j) * (ld) + (i)] : (X)[(i) * (ld) + (j)])

/* Compares C against the reference with a tolerance relative to the sum of
 * absolute products (what float accumulation can lose). */
static int check_gemm(int which, int ta, int tb, int64_t M, int64_t N, int64_t K, float alpha,
                      float beta, int64_t pad, int threads)
{
    int64_t lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    int64_t arows = ta ? K : M, brows = tb ? N : K;
    float *A = malloc(sizeof(float) * (size_t)(arows * lda + 1));
    float *B = malloc(sizeof(float) * (size_t)(brows * ldb + 1));
    float *C0 = malloc(sizeof(float) * (size_t)(M * ldc + 1));
    float *C = malloc(sizeof(float) * (size_t)(M * ldc + 1));
    float *R = malloc(sizeof(float) * (size_t)(M * ldc + 1));
    REQUIRE(A && B && C0 && C && R);
    for (int64_t i = 0; i < arows * lda; i++) A[i] = frand();
    for (int64_t i = 0; i < brows * ldb; i++) B[i] = frand();
    for (int64_t i = 0; i < M * ldc; i++) C0[i] = beta == 0.0f ? NAN : frand();
    memcpy(C, C0, sizeof(float) * (size_t)(M * ldc));
    memcpy(R, C0, sizeof(float) * (size_t)(M * ldc));
    if (which == 0) nq_sgemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads);
    else nq_sgemm_portable(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    nq_sgemm_ref(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, R, ldc);
    int bad = 0;
    for (int64_t i = 0; i < M && !bad; i++)
        for (int64_t j = 0; j < ldc && !bad; j++) {
            if (j >= N) { /* padding columns untouched */
                if (memcmp(&C[i * ldc + j], &C0[i * ldc + j], sizeof(float)) != 0) bad = 1;
                continue;
            }
            double mag = beta == 0.0f ? 0.0 : fabs((double)beta * C0[i * ldc + j]);
            for (int64_t k = 0; k < K; k++)
                mag += fabs((double)alpha * AT(A, ta, lda, i, k) * AT(B, tb, ldb, k, j));
            double d = fabs((double)C[i * ldc + j] - (double)R[i * ldc + j]);
            if (!(d <= 1e-5 * mag + 1e-30)) {
                fprintf(stderr, "%s ta=%d tb=%d M=%lld N=%lld K=%lld a=%g b=%g pad=%lld: C[%lld,%lld] "
                        "= %g, ref %g\n", which ? "portable" : "nq_sgemm", ta, tb, (long long)M,
                        (long long)N, (long long)K, alpha, beta, (long long)pad, (long long)i,
                        (long long)j, C[i * ldc + j], R[i * ldc + j]);
                bad = 1;
            }
        }
    free(A), free(B), free(C0), free(C), free(R);
    return !bad;
}

static void test_gemm(void)
{
    static const float alphas[] = {1.0f, 0.5f, -2.0f, 0.0f};
    static const float betas[] = {0.0f, 1.0f, 0.35f};
    /* fixed shapes around the blocking sizes, then random ones */
    static const int64_t shapes[][3] = {{1, 1, 1}, {4, 16, 128}, {5, 17, 129}, {64, 128, 128},
                                        {65, 129, 257}, {3, 300, 7}, {32, 784, 288},
                                        {1, 513, 33}, {70, 1, 70}, {7, 9, 0}};
    for (int w = 0; w < 2; w++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
            for (int t = 0; t < 4; t++)
                CHECK(check_gemm(w, t & 1, t >> 1, shapes[s][0], shapes[s][1], shapes[s][2],
                                 alphas[s % 4], betas[s % 3], (int64_t)(s % 3), 1 + (int)(s % 2)));
    for (int it = 0; it < 150; it++) {
        int64_t M = irand(1, 90), N = irand(1, 200), K = irand(1, 300);
        CHECK(check_gemm(it & 1, (int)irand(0, 1), (int)irand(0, 1), M, N, K,
                         alphas[irand(0, 3)], betas[irand(0, 2)], irand(0, 5), (int)irand(1, 2)));
    }
}

/* ---- im2col ---- */
static void im2col_naive(const nq_conv_geom *g, int64_t C, const float *src, float *dst)
{
    int64_t kp = 1, op = 1;
    for (int i = 0; i < g->nsp; i++) kp *= g->kernel[i], op *= g->out[i];
    for (int64_t c = 0; c < C; c++)
        for (int64_t k = 0; k < kp; k++)
            for (int64_t o = 0; o < op; o++) {
                int64_t kr = k, orr = o, idx = 0, ok = 1;
                int64_t kc[3], oc[3];
                for (int i = g->nsp - 1; i >= 0; i--) {
                    kc[i] = kr % g->kernel[i], kr /= g->kernel[i];
                    oc[i] = orr % g->out[i], orr /= g->out[i];
                }
                for (int i = 0; i < g->nsp; i++) {
                    int64_t p = oc[i] * g->stride[i] - g->pad_begin[i] + kc[i] * g->dilation[i];
                    if (p < 0 || p >= g->in[i]) ok = 0;
                    idx = idx * g->in[i] + p;
                }
                int64_t inp = 1;
                for (int i = 0; i < g->nsp; i++) inp *= g->in[i];
                dst[(c * kp + k) * op + o] = ok ? src[c * inp + idx] : 0.0f;
            }
}

static void test_im2col(void)
{
    for (int it = 0; it < 300; it++) {
        nq_conv_geom g;
        memset(&g, 0, sizeof g);
        g.nsp = (int)irand(1, 3);
        int64_t inp = 1, kp = 1, op = 1, C = irand(1, 3);
        for (int i = 0; i < g.nsp; i++) {
            g.in[i] = irand(1, g.nsp == 3 ? 6 : 11);
            g.kernel[i] = irand(1, 4);
            g.stride[i] = irand(1, 3);
            g.dilation[i] = irand(1, 2);
            g.pad_begin[i] = irand(0, 2);
            g.pad_end[i] = irand(0, 2);
            if (it % 3 == 0) { /* "same" geometry: im2col's contiguous path */
                g.stride[i] = 1;
                g.pad_end[i] = (g.kernel[i] - 1) * g.dilation[i] - g.pad_begin[i];
                if (g.pad_end[i] < 0) g.pad_begin[i] += g.pad_end[i], g.pad_end[i] = 0;
            }
            int64_t room = g.in[i] + g.pad_begin[i] + g.pad_end[i] - (g.kernel[i] - 1) * g.dilation[i] - 1;
            if (room < 0) g.pad_end[i] -= room;
            g.out[i] = (g.in[i] + g.pad_begin[i] + g.pad_end[i] - (g.kernel[i] - 1) * g.dilation[i] - 1) /
                           g.stride[i] + 1;
            inp *= g.in[i], kp *= g.kernel[i], op *= g.out[i];
        }
        float *src = malloc(sizeof(float) * (size_t)(C * inp));
        float *a = malloc(sizeof(float) * (size_t)(C * kp * op));
        float *b = malloc(sizeof(float) * (size_t)(C * kp * op));
        REQUIRE(src && a && b);
        for (int64_t i = 0; i < C * inp; i++) src[i] = frand();
        for (int64_t i = 0; i < C * kp * op; i++) a[i] = NAN;
        nq_im2col_f32(&g, C, src, a);
        im2col_naive(&g, C, src, b);
        CHECK(memcmp(a, b, sizeof(float) * (size_t)(C * kp * op)) == 0);
        /* a band of output rows, as conv tiles use it */
        int64_t last = g.out[g.nsp - 1], rows = op / last;
        int64_t r0 = irand(0, rows - 1), r1 = irand(r0 + 1, rows), cols = (r1 - r0) * last;
        for (int64_t i = 0; i < C * kp * op; i++) a[i] = NAN;
        nq_im2col_f32_rows(&g, C, src, a, cols, r0, r1);
        int same = 1;
        for (int64_t k = 0; k < C * kp; k++)
            if (memcmp(a + k * cols, b + k * op + r0 * last, sizeof(float) * (size_t)cols)) same = 0;
        CHECK(same);
        free(src), free(a), free(b);
    }
}

int main(void)
{
    test_gemm();
    test_im2col();
    TEST_MAIN_END();
}
