/* The fused im2col + GEMM convolution kernel and the Winograd F(2x2, 3x3)
 * one, every variant this CPU runs, against nq_im2col_f32 + nq_sgemm_ref +
 * bias: random geometries, K blocks, blocks made of parts of long rows,
 * M not a multiple of 16, a row stride larger than P, with and without
 * bias, odd output sizes (partial Winograd tiles). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/conv_gemm.h"
#include "kernels/depthwise.h"
#include "kernels/winograd.h"
#include "nnquant/kernels.h"
#include "nqtest.h"

static unsigned rng = 2024u;
static int64_t irand(int64_t lo, int64_t hi)
{
    rng = rng * 1664525u + 1013904223u;
    return lo + (int64_t)((rng >> 8) % (unsigned)(hi - lo + 1));
}
static float frand(void)
{
    rng = rng * 1664525u + 1013904223u;
    return (float)((rng >> 8) & 0xFFFFFF) / 8388608.0f - 1.0f;
}

static void run(const nq_conv_geom *g, int64_t C, int64_t M, int with_bias, int64_t pad_ld,
                int wino)
{
    int64_t inp = 1, kp = 1, P = 1;
    for (int i = 0; i < g->nsp; i++) inp *= g->in[i], kp *= g->kernel[i], P *= g->out[i];
    const int64_t K = C * kp, ldy = P + pad_ld;
    float *x = malloc(sizeof(float) * (size_t)(C * inp + 1));
    float *w = malloc(sizeof(float) * (size_t)(M * K + 1));
    float *bias = malloc(sizeof(float) * (size_t)M);
    float *col = malloc(sizeof(float) * (size_t)(K * P + 1));
    float *ref = malloc(sizeof(float) * (size_t)(M * ldy));
    float *mag = malloc(sizeof(float) * (size_t)(M * ldy));
    float *wa = malloc(sizeof(float) * (size_t)(M * K + 1));
    float *y = malloc(sizeof(float) * (size_t)(M * ldy));
    size_t pw_floats = wino ? nq_winograd_pack_w_floats(M, C) : nq_f32_pack_a_floats(M, K);
    float *pw = aligned_alloc(64, (pw_floats * sizeof(float) + 64) / 64 * 64);
    size_t ss = wino ? nq_winograd_scratch(g, C, M) : nq_conv_gemm_scratch(g, C, M);
    void *scratch = aligned_alloc(64, ss);
    REQUIRE(x && w && bias && col && ref && y && pw && scratch && ss % 64 == 0);
    for (int64_t i = 0; i < C * inp; i++) x[i] = frand();
    for (int64_t i = 0; i < M * K; i++) w[i] = frand();
    for (int64_t i = 0; i < M; i++) bias[i] = frand();
    nq_im2col_f32(g, C, x, col);
    for (int64_t m = 0; m < M; m++)
        for (int64_t p = 0; p < ldy; p++) ref[m * ldy + p] = p < P && with_bias ? bias[m] : -7.0f;
    nq_sgemm_ref(0, 0, M, P, K, 1.0f, w, K, col, P, with_bias ? 1.0f : 0.0f, ref, ldy);
    /* sum of |products| per output: what rounding errors scale with */
    for (int64_t i = 0; i < M * K; i++) wa[i] = fabsf(w[i]);
    for (int64_t i = 0; i < K * P; i++) col[i] = fabsf(col[i]);
    for (int64_t i = 0; i < M * ldy; i++) mag[i] = 1.0f;
    nq_sgemm_ref(0, 0, M, P, K, 1.0f, wa, K, col, P, 1.0f, mag, ldy);
    if (wino) nq_winograd_pack_w(M, C, w, pw);
    else nq_f32_pack_a(M, K, w, K, pw);
    for (int isa = 0; isa < NQ_F32_ISA_COUNT; isa++) {
        if (!nq_f32_isa_available((nq_f32_isa)isa)) continue;
        for (int64_t i = 0; i < M * ldy; i++) y[i] = -7.0f;
        if (wino)
            nq_winograd_f32((nq_f32_isa)isa, g, C, M, pw, x, with_bias ? bias : NULL, y, ldy,
                            scratch);
        else
            nq_conv_gemm_f32((nq_f32_isa)isa, g, C, M, pw, x, with_bias ? bias : NULL, y, ldy,
                             scratch);
        int bad = 0;
        for (int64_t m = 0; m < M && !bad; m++)
            for (int64_t p = 0; p < ldy && !bad; p++) {
                double a = y[m * ldy + p], r = ref[m * ldy + p];
                if (!(fabs(a - r) <= 2e-6 * mag[m * ldy + p])) {
                    fprintf(stderr, "%s isa %d nsp=%d C=%lld M=%lld K=%lld P=%lld: y[%lld,%lld] = %g, "
                            "ref %g\n", wino ? "winograd" : "gemm", isa, g->nsp, (long long)C, (long long)M, (long long)K,
                            (long long)P, (long long)m, (long long)p, a, r);
                    bad = 1;
                }
            }
        CHECK(!bad);
    }
    free(x), free(w), free(bias), free(col), free(ref), free(y), free(pw), free(scratch);
    free(mag), free(wa);
}

static void random_geom(nq_conv_geom *g, int nsp, int64_t max_in)
{
    memset(g, 0, sizeof *g);
    g->nsp = nsp;
    for (int i = 0; i < nsp; i++) {
        g->in[i] = irand(1, max_in);
        g->kernel[i] = irand(1, 3);
        g->stride[i] = irand(0, 2) ? 1 : 2;
        g->dilation[i] = irand(1, 2);
        g->pad_begin[i] = irand(0, 2);
        g->pad_end[i] = irand(0, 2);
        if (irand(0, 1)) { /* "same" geometry */
            g->stride[i] = 1;
            g->pad_end[i] = (g->kernel[i] - 1) * g->dilation[i] - g->pad_begin[i];
            if (g->pad_end[i] < 0) g->pad_begin[i] += g->pad_end[i], g->pad_end[i] = 0;
        }
        int64_t span = (g->kernel[i] - 1) * g->dilation[i] + 1;
        if (g->in[i] + g->pad_begin[i] + g->pad_end[i] < span) g->pad_end[i] = span - g->in[i];
        g->out[i] = (g->in[i] + g->pad_begin[i] + g->pad_end[i] - span) / g->stride[i] + 1;
    }
}

/* Float depthwise planes, every variant, against the definition with the
 * same roundings in the same order (bias, then each tap's product added):
 * bit for bit. Runs of up to 6 planes, 1..3 outputs per input plane. */
static void test_depthwise(void)
{
    int bad = 0;
    for (int it = 0; it < 200 && !bad; it++) {
        nq_conv_geom g;
        nq_window3 w;
        random_geom(&g, 2, it % 10 == 0 ? 60 : 16);
        g.kernel[0] = irand(1, 5), g.kernel[1] = irand(1, 5);
        for (int i = 0; i < 2; i++) { /* random_geom's out for the new kernel */
            int64_t span = (g.kernel[i] - 1) * g.dilation[i] + 1;
            if (g.in[i] + g.pad_begin[i] + g.pad_end[i] < span) g.pad_end[i] = span - g.in[i];
            g.out[i] = (g.in[i] + g.pad_begin[i] + g.pad_end[i] - span) / g.stride[i] + 1;
        }
        nq_window3_from_geom(&g, &w);
        const int64_t mg = irand(1, 3), planes = irand(1, 2 * (int)mg), in_planes = (planes - 1) / mg + 1;
        const int64_t n_in = g.in[0] * g.in[1], n_out = g.out[0] * g.out[1];
        const int64_t n_k = g.kernel[0] * g.kernel[1], has_bias = irand(0, 3) > 0;
        float *x = malloc(sizeof(float) * (size_t)(n_in * in_planes));
        float *k = malloc(sizeof(float) * (size_t)(n_k * planes)), bias[6];
        float *ref = malloc(sizeof(float) * (size_t)(n_out * planes));
        float *y = malloc(sizeof(float) * (size_t)(n_out * planes));
        REQUIRE(x && k && ref && y);
        /* every third run: signed zeros and infinities, where adding the
           padding's zeros or products would change the bits (-0 + 0 = +0,
           Inf x 0 = NaN) */
        static const float special[] = {0.0f, -0.0f, INFINITY, -INFINITY, 1.0f, -2.0f};
        const int sp = it % 3 == 1;
        for (int64_t i = 0; i < n_in * in_planes; i++) x[i] = sp ? special[irand(0, 5)] : frand();
        for (int64_t i = 0; i < n_k * planes; i++)
            k[i] = sp ? special[irand(0, 5) % 2 + 4 * irand(0, 1)] : frand();
        for (int64_t j = 0; j < planes; j++) bias[j] = !has_bias ? 0.0f : sp ? -0.0f : frand();
        for (int64_t j = 0; j < planes; j++) {
            const float *xj = x + j / mg * n_in, *kj = k + j * n_k;
            for (int64_t oh = 0; oh < g.out[0]; oh++)
                for (int64_t ow = 0; ow < g.out[1]; ow++) {
                    float acc = bias[j];
                    for (int64_t kh = 0; kh < g.kernel[0]; kh++)
                        for (int64_t kw = 0; kw < g.kernel[1]; kw++) {
                            int64_t ih = oh * g.stride[0] - g.pad_begin[0] + kh * g.dilation[0];
                            int64_t iw = ow * g.stride[1] - g.pad_begin[1] + kw * g.dilation[1];
                            if (ih < 0 || ih >= g.in[0] || iw < 0 || iw >= g.in[1]) continue;
                            float prod = kj[kh * g.kernel[1] + kw] * xj[ih * g.in[1] + iw];
                            acc += prod;
                        }
                    ref[j * n_out + oh * g.out[1] + ow] = acc;
                }
        }
        const nq_dw_f32_run run = {.n = planes, .mg = mg, .x = x, .x_plane = n_in, .w = k,
                                   .w_plane = n_k, .bias = has_bias ? bias : NULL, .y = y,
                                   .y_plane = n_out};
        for (int isa = 0; isa < NQ_F32_ISA_COUNT && !bad; isa++) {
            if (!nq_f32_isa_available((nq_f32_isa)isa)) continue;
            memset(y, 0xA5, sizeof(float) * (size_t)(n_out * planes));
            nq_dw_f32_planes((nq_f32_isa)isa, &w, &run);
            if (memcmp(y, ref, sizeof(float) * (size_t)(n_out * planes)) != 0) {
                fprintf(stderr, "depthwise f32 isa %d, %lldx%lld kernel %lldx%lld, %lld planes (mg %lld): differs\n",
                        isa, (long long)g.in[0], (long long)g.in[1], (long long)g.kernel[0],
                        (long long)g.kernel[1], (long long)planes, (long long)mg);
                bad = 1;
            }
        }
        free(x), free(k), free(ref), free(y);
    }
    CHECK(!bad);
}

int main(void)
{
    printf("conv GEMM variants:");
    for (int isa = 0; isa < NQ_F32_ISA_COUNT; isa++)
        if (nq_f32_isa_available((nq_f32_isa)isa)) printf(" %d", isa);
    printf(" (best %d)\n", (int)nq_f32_isa_best());
    nq_conv_geom g;
    for (int it = 0; it < 150; it++) {
        int nsp = (int)irand(1, 3);
        random_geom(&g, nsp, nsp == 3 ? 7 : 20);
        run(&g, irand(1, 6), irand(1, 40), (int)irand(0, 1), irand(0, 3), 0);
    }
    random_geom(&g, 2, 12);
    run(&g, 60, 20, 1, 0, 0); /* K up to 540: two K blocks (tiled) */
    random_geom(&g, 1, 10);
    g.in[0] = 3000, g.kernel[0] = 3, g.stride[0] = 1, g.dilation[0] = 1;
    g.pad_begin[0] = 1, g.pad_end[0] = 0, g.out[0] = 2999;
    run(&g, 40, 17, 1, 5, 0); /* long 1-D rows: blocks are parts of one row */
    memset(&g, 0, sizeof g); /* the ConvNet's conv4 */
    g.nsp = 2;
    for (int i = 0; i < 2; i++)
        g.in[i] = g.out[i] = 14, g.kernel[i] = 3, g.stride[i] = g.dilation[i] = 1,
        g.pad_begin[i] = g.pad_end[i] = 1;
    run(&g, 64, 64, 1, 0, 0);
    run(&g, 64, 64, 1, 0, 1);
    for (int it = 0; it < 120; it++) { /* Winograd: 3x3, strides/dilations 1, any pads */
        memset(&g, 0, sizeof g);
        g.nsp = 2;
        for (int i = 0; i < 2; i++) {
            g.in[i] = irand(1, it % 10 == 0 ? 40 : 13);
            g.kernel[i] = 3, g.stride[i] = g.dilation[i] = 1;
            g.pad_begin[i] = irand(0, 2), g.pad_end[i] = irand(0, 2);
            if (g.in[i] + g.pad_begin[i] + g.pad_end[i] < 3) g.pad_end[i] = 3 - g.in[i] - g.pad_begin[i] + irand(0, 1);
            g.out[i] = g.in[i] + g.pad_begin[i] + g.pad_end[i] - 2;
        }
        run(&g, irand(1, 20), irand(1, 40), (int)irand(0, 1), irand(0, 3), 1);
    }
    test_depthwise();
    TEST_MAIN_END();
}
