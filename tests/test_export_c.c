/* The standalone C export (nnquant/export.h, docs/export.md):
 *  1. the runtime the exporter copies is the library's own code: the
 *     embedded text equals the source files, and nqrt.h compiled here
 *     computes what the library's kernels compute;
 *  2. end to end, for each example model at W8A8, W4A8 (int4 weights per
 *     channel, MSE clipping) and single shift: quantize in-process, export
 *     with the first 1000 Fashion-MNIST test images as golden inputs
 *     (100 under NQ_SANITIZED), check that golden_out.npy holds exactly
 *     what this test's own session computes, then build the project with
 *     `cc -std=c99 -Wall -Wextra -Werror -pedantic -O2` and run `make check`
 *     (every output bit-exact; in the background, overlapping the next
 *     configuration), compile it with clang when present and with
 *     arm-none-eabi-gcc for a Cortex-M4 when present (sizes printed, no
 *     soft-float calls), and check that a corrupted golden output fails
 *     `make check`. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kernels/requant_core.h"
#include "export/runtime/nqrt.h"

#include "export/c_internal.h"
#include "nnquant/data.h"
#include "nnquant/export.h"
#include "nnquant/kernels.h"
#include "nnquant/onnx.h"
#include "nnquant/ptq.h"
#include "nnquant/run.h"
#include "nqtest.h"

#define FM "/usr/share/datasets/fashion-mnist/"
#ifdef NQ_SANITIZED
enum { N_CALIB = 100, N_TEST = 100 };
#else
enum { N_CALIB = 1000, N_TEST = 1000 };
#endif
static const char *const HOST_FLAGS = "-std=c99 -Wall -Wextra -Werror -pedantic -O2";

/* ---- 1. the shared runtime ---------------------------------------------- */

static char *read_text(const char *path, size_t *n)
{
    unsigned char *buf = NULL;
    nq_error err = {0};
    if (nq_read_file(path, &buf, n, &err) != NQ_OK) return NULL;
    return (char *)buf;
}

static void test_embedded_text(void)
{
    size_t n = 0;
    char *s = read_text("src/kernels/requant_core.h", &n);
    REQUIRE(s != NULL);
    CHECK(n == nq_embed_requant_core_len && memcmp(s, nq_embed_requant_core, n) == 0);
    free(s);
    s = read_text("src/export/runtime/nqrt.h", &n);
    REQUIRE(s != NULL);
    CHECK(n == nq_embed_nqrt_len && memcmp(s, nq_embed_nqrt, n) == 0);
    free(s);
}

NQRT_DEFINE_CONV(t_conv_s8, int8_t, int8_t, NQRT_W8)
NQRT_DEFINE_CONV_RQ(t_conv_rq_u8_w4, uint8_t, uint8_t, NQRT_W4, int8_t)
NQRT_DEFINE_GEMM(t_gemm_s8, int8_t, int8_t, NQRT_W8)

static uint32_t rng = 12345u;
static int32_t rnd(int32_t lo, int32_t hi)
{
    rng = rng * 1664525u + 1013904223u;
    return lo + (int32_t)((rng >> 8) % (uint32_t)(hi - lo + 1));
}

/* nq_rq_apply against the library's vector requantization. */
static void test_requant_core(void)
{
    int32_t acc[512];
    int8_t lib[512];
    for (int t = 0; t < 200; t++) {
        nq_requant r = t % 3 ? nq_requant_from_scale(ldexp(1.0 + rnd(0, 1000) / 1000.0, -rnd(0, 40)))
                             : nq_requant_from_shift(rnd(-3, 40));
        for (int i = 0; i < 512; i++) acc[i] = i < 4 ? (i & 1 ? INT32_MAX : INT32_MIN) : rnd(-2000000, 2000000) * (i % 7 + 1);
        nq_requant_s32_to_s8(acc, 512, r, -127, 127, lib);
        int bad = 0;
        for (int i = 0; i < 512; i++) bad += nq_rq_apply(acc[i], r.mult, r.shift, -127, 127) != lib[i];
        CHECK(bad == 0);
    }
}

/* nqrt's conv (strides, padding, groups, dilation) and gemm against direct
 * int64 loops, and the fused requantization against nq_requant_apply. */
static void test_kernels(void)
{
    enum { C = 4, H = 7, W = 6, M = 4, K = 3, G = 2 };
    int8_t x[C * H * W], w[M * (C / G) * K * K];
    uint8_t xu[C * H * W], w4[(M * (C / G) * K * K + 1) / 2];
    int32_t b[M], y[M * H * W], ref;
    int8_t yq[M * H * W];
    uint32_t acc[W];
    for (int i = 0; i < C * H * W; i++) {
        x[i] = (int8_t)rnd(-128, 127);
        xu[i] = (uint8_t)rnd(0, 255);
    }
    memset(w4, 0, sizeof w4);
    for (int i = 0; i < M * (C / G) * K * K; i++) {
        w[i] = (int8_t)rnd(-128, 127);
        int v = rnd(-8, 7);
        w4[i / 2] |= (uint8_t)((v & 15) << (4 * (i % 2)));
    }
    for (int m = 0; m < M; m++) b[m] = rnd(-100000, 100000);
    /* stride 2, dilation 2 in x, pads 1/2: output size from the ONNX formula */
    const int SH = 2, SW = 1, DH = 1, DW = 2, PT = 1, PL = 2, PB = 1, PR = 1;
    const int OH = (H + PT + PB - (DH * (K - 1) + 1)) / SH + 1;
    const int OW = (W + PL + PR - (DW * (K - 1) + 1)) / SW + 1;
    REQUIRE(OW <= W);
    const nqrt_conv p = {C, H, W, M, OH, OW, K, K, SH, SW, DH, DW, PT, PL, G};
    t_conv_s8(&p, x, w, b, acc, y);
    int32_t mult[M], shift[M];
    for (int m = 0; m < M; m++) {
        nq_requant r = nq_requant_from_scale(0.001 * (m + 1));
        mult[m] = r.mult;
        shift[m] = r.shift;
    }
    const nqrt_rq q = {1, M, OH * OW, mult, shift, -127, 127};
    t_conv_rq_u8_w4(&p, &q, xu, w4, b, acc, yq);
    int bad = 0, badq = 0;
    for (int m = 0; m < M; m++)
        for (int oy = 0; oy < OH; oy++)
            for (int ox = 0; ox < OW; ox++) {
                int64_t s = b[m], s4 = b[m];
                for (int c = 0; c < C / G; c++)
                    for (int ky = 0; ky < K; ky++)
                        for (int kx = 0; kx < K; kx++) {
                            int iy = oy * SH - PT + ky * DH, ix = ox * SW - PL + kx * DW;
                            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                            int ci = (m / (M / G)) * (C / G) + c, wi = ((m * (C / G) + c) * K + ky) * K + kx;
                            int v4 = (w4[wi / 2] >> (4 * (wi % 2))) & 15;
                            s += (int64_t)x[(ci * H + iy) * W + ix] * w[wi];
                            s4 += (int64_t)xu[(ci * H + iy) * W + ix] * (v4 >= 8 ? v4 - 16 : v4);
                        }
                const int o = (m * OH + oy) * OW + ox;
                bad += y[o] != (int32_t)s;
                nq_requant r = {mult[m], shift[m]};
                badq += yq[o] != nq_requant_apply(s4, r, -127, 127);
            }
    CHECK(bad == 0);
    CHECK(badq == 0);
    /* gemm, transB = 0 and 1 */
    int8_t gx[2 * 5], gw[5 * 3];
    int32_t gy[2 * 3];
    for (int i = 0; i < 10; i++) gx[i] = (int8_t)rnd(-128, 127);
    for (int i = 0; i < 15; i++) gw[i] = (int8_t)rnd(-128, 127);
    for (int tb = 0; tb < 2; tb++) {
        const nqrt_gemm gp = {2, 3, 5, tb};
        t_gemm_s8(&gp, gx, gw, b, gy);
        for (int i = 0; i < 2; i++)
            for (int n = 0; n < 3; n++) {
                ref = b[n];
                for (int k = 0; k < 5; k++) ref += gx[i * 5 + k] * gw[tb ? n * 5 + k : k * 3 + n];
                CHECK(gy[i * 3 + n] == ref);
            }
    }
}

/* ---- 2. end to end -------------------------------------------------------- */

typedef struct config {
    const char *name;
    nq_dtype weights;
    int per_channel, single_shift;
    nq_clip_mode clip;
} config;

static const config configs[] = {
    {"W8A8", NQ_DTYPE_INT8, 0, 0, NQ_CLIP_MAX},
    {"W4A8", NQ_DTYPE_INT4, 1, 0, NQ_CLIP_MSE},
    {"single-shift", NQ_DTYPE_INT8, 0, 1, NQ_CLIP_MAX},
};

/* system() of a printf-formatted command line. */
static int run(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int r = system(cmd);
    return r;
}

static int have(const char *tool)
{
    return run("command -v %s >/dev/null 2>&1", tool) == 0;
}

/* The session's outputs for the test images (batches of 100). */
static nq_tensor session_outputs(const nq_graph *g, const nq_dataset *d)
{
    nq_tensor all = {0};
    nq_session *s = NULL;
    nq_error err = {0};
    REQUIRE(nq_session_create(g, NULL, &s, &err) == NQ_OK);
    for (int64_t b = 0; b < d->n; b += 100) {
        nq_tensor x = {0}, y = {0};
        REQUIRE(nq_dataset_batch(d, b, 100, g->values[g->inputs[0]]->ndim,
                                 g->values[g->inputs[0]]->dims, &x, &err) == NQ_OK);
        REQUIRE(nq_session_run(s, &x, 1, &y, 1, &err) == NQ_OK);
        if (all.data == NULL) {
            int64_t dims[2] = {d->n, y.dims[1]};
            REQUIRE(nq_tensor_alloc(&all, y.dtype, 2, dims, &err) == NQ_OK);
        }
        memcpy((char *)all.data + (size_t)b * nq_tensor_nbytes(&y) / 100, y.data, nq_tensor_nbytes(&y));
        nq_tensor_free(&x);
        nq_tensor_free(&y);
    }
    nq_session_free(s);
    return all;
}

/* Replaces the first value of model_golden_out0 in dir/golden.c. */
static int corrupt_golden(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/golden.c", dir);
    size_t n = 0;
    char *s = read_text(path, &n);
    if (s == NULL) return 0;
    char *p = strstr(s, "model_golden_out0[");
    p = p ? strstr(p, "{\n") : NULL;
    int ok = 0;
    if (p) {
        p += 2;
        while (*p == ' ') p++;
        long v = strtol(p, NULL, 10);
        char *end = p + strspn(p, "-0123456789");
        char num[16];
        snprintf(num, sizeof num, "%d", v == 0 ? 1 : 0); /* one byte changed, in range */
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(s, 1, (size_t)(p - s), f);
            fputs(num, f);
            fputs(end, f);
            ok = fclose(f) == 0;
        }
    }
    free(s);
    return ok;
}

static void arm_size(const char *dir, const char *label, const nq_export_c_info *info)
{
    char cmd[1024], line[512];
    snprintf(cmd, sizeof cmd,
             "cd %s && arm-none-eabi-size -t arm_model.o arm_kernels.o arm_weights.o | tail -1", dir);
    FILE *f = popen(cmd, "r");
    REQUIRE(f != NULL);
    long text = -1, data = -1, bss = -1;
    if (fgets(line, sizeof line, f)) sscanf(line, "%ld %ld %ld", &text, &data, &bss);
    pclose(f);
    printf("  %-22s Cortex-M4 -Os: flash (text+rodata) %ld B, data %ld B, RAM (bss) %ld B; "
           "arena %zu B\n", label, text, data, bss, info->arena_bytes);
    CHECK(text > (long)info->weight_bytes);
    CHECK(bss == (long)info->arena_bytes); /* the arena is the only static RAM */
    /* no floating point: soft-float helpers would appear as undefined symbols */
    CHECK(run("cd %s && arm-none-eabi-nm -u arm_model.o arm_kernels.o arm_weights.o | "
              "grep -Eq '__aeabi_(f|d|[iul]+2[fd])'", dir) != 0);
}

/* The host check (`make check`, the slow part: the model over every
 * golden vector) runs in the background while the next configuration is
 * quantized; finish() waits for it. */
typedef struct pending {
    char dir[64], label[64];
    int64_t n;
    int corrupt;
} pending;

static void finish(pending *pd)
{
    if (pd->dir[0] == '\0') return;
    char path[128];
    snprintf(path, sizeof path, "%s/check.rc", pd->dir);
    FILE *f = NULL;
    const struct timespec tick = {0, 10000000}; /* 10 ms, up to 10 minutes */
    for (int t = 0; t < 60000 && (f = fopen(path, "r")) == NULL; t++) nanosleep(&tick, NULL);
    int rc = -1;
    if (f) {
        if (fscanf(f, "%d", &rc) != 1) rc = -1;
        fclose(f);
    }
    if (rc != 0) run("cat %s/check.log >&2", pd->dir);
    CHECK(rc == 0);
    printf("  %-22s %lld of %lld golden vectors bit-exact in the C build (make check)\n", pd->label,
           rc == 0 ? (long long)pd->n : 0LL, (long long)pd->n);
    if (pd->corrupt) { /* a changed golden output byte fails the check */
        CHECK(corrupt_golden(pd->dir));
        CHECK(run("make -s -C %s check CC=cc CFLAGS='%s' >/dev/null 2>&1", pd->dir, HOST_FLAGS) != 0);
    }
    run("rm -rf %s", pd->dir);
    pd->dir[0] = '\0';
}

static void export_one(const char *model, const config *cf, const nq_dataset *calib,
                       const nq_dataset *test, int corrupt, int use_clang, int use_arm,
                       pending *pd)
{
    char label[64], path[256];
    snprintf(label, sizeof label, "%s %s", model, cf->name);
    snprintf(path, sizeof path, "models/%s.onnx", model);
    nq_graph *g = NULL;
    nq_error err = {0};
    REQUIRE(nq_onnx_load(path, &g, &err) == NQ_OK);
    nq_ptq_options o;
    nq_ptq_options_default(&o);
    o.weight_dtype = cf->weights;
    o.channel_wise = cf->per_channel;
    o.single_shift = cf->single_shift;
    o.clipping = cf->clip;
    nq_status st = nq_quantize_network(g, calib, &o, &err);
    if (st != NQ_OK) fprintf(stderr, "%s: %s\n", label, err.msg);
    REQUIRE(st == NQ_OK);
    nq_tensor ref = session_outputs(g, test);

    char dir[] = "/tmp/nq_export_test_XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL);
    nq_export_c_opts eo;
    nq_export_c_opts_default(&eo);
    eo.golden_in = &test->samples;
    nq_export_c_info info;
    st = nq_export_c(g, dir, &eo, &info, &err);
    if (st != NQ_OK) fprintf(stderr, "%s: export: %s\n", label, err.msg);
    CHECK(st == NQ_OK);
    if (st == NQ_OK) {
        CHECK(info.n_golden == test->n);
        CHECK(info.float_free == 1);
        /* the golden outputs are this session's outputs */
        nq_tensor gout = {0};
        snprintf(path, sizeof path, "%s/golden_out.npy", dir);
        CHECK_OK(nq_npy_load(path, &gout, NULL));
        CHECK(nq_tensor_equal(&gout, &ref));
        nq_tensor_free(&gout);
        printf("  %-22s exported: arena %zu B, const %zu B, %d layers\n", label, info.arena_bytes,
               info.weight_bytes, info.n_layers);
        /* host build and bit-exact check, in the background */
        finish(pd);
        CHECK(run("(make -s -C %s check CC=cc CFLAGS='%s' >%s/check.log 2>&1; echo $? >%s/rc.tmp; mv %s/rc.tmp %s/check.rc) &",
                  dir, HOST_FLAGS, dir, dir, dir, dir) == 0);
        snprintf(pd->dir, sizeof pd->dir, "%s", dir);
        snprintf(pd->label, sizeof pd->label, "%s", label);
        pd->n = test->n;
        pd->corrupt = corrupt;
        /* other compilers: object files of their own, beside the check */
        if (use_clang)
            CHECK(run("cd %s && for f in model kernels weights model_float; do clang %s -c $f.c "
                      "-o clang_$f.o || exit 1; done", dir, HOST_FLAGS) == 0);
        if (use_arm) {
            CHECK(run("cd %s && for f in model kernels weights; do arm-none-eabi-gcc "
                      "-mcpu=cortex-m4 -mthumb -Os -std=c99 -Wall -Wextra -Werror -pedantic "
                      "-c $f.c -o arm_$f.o || exit 1; done", dir) == 0);
            arm_size(dir, label, &info);
        }
    } else {
        run("rm -rf %s", dir);
    }
    nq_tensor_free(&ref);
    nq_graph_free(g);
}

static void test_models(void)
{
    nq_preprocess prep;
    nq_preprocess_default(&prep);
    prep.scale = 0.00392156862745098f;
    nq_dataset *calib = NULL, *test = NULL;
    nq_error err = {0};
    if (nq_dataset_load(FM "train-images-idx3-ubyte.gz", NULL, &prep, N_CALIB, &calib, &err) != NQ_OK ||
        nq_dataset_load(FM "t10k-images-idx3-ubyte.gz", NULL, &prep, N_TEST, &test, &err) != NQ_OK) {
        fprintf(stderr, "Fashion-MNIST not available (%s): end-to-end export skipped\n", err.msg);
        nq_dataset_free(calib);
        return;
    }
    REQUIRE(have("cc") && have("make"));
    const int use_clang = have("clang"), use_arm = have("arm-none-eabi-gcc");
    if (!use_clang) printf("clang not found: clang build skipped\n");
    if (!use_arm) printf("arm-none-eabi-gcc not found: Cortex-M4 build skipped\n");
    static const char *const models[] = {"convnet", "resnet", "mobilenet", "mlp"};
    pending pd;
    memset(&pd, 0, sizeof pd);
    for (size_t m = 0; m < sizeof models / sizeof models[0]; m++)
        for (size_t c = 0; c < sizeof configs / sizeof configs[0]; c++)
            export_one(models[m], &configs[c], calib, test, m == 3 && c == 0, use_clang, use_arm,
                       &pd);
    finish(&pd);
    nq_dataset_free(calib);
    nq_dataset_free(test);
}

/* An unsupported model fails cleanly, naming the problem. */
static void test_errors(void)
{
    nq_graph *g = NULL;
    nq_error err = {0};
    REQUIRE(nq_onnx_load("models/mlp.onnx", &g, &err) == NQ_OK);
    char dir[] = "/tmp/nq_export_test_XXXXXX";
    REQUIRE(mkdtemp(dir) != NULL);
    CHECK(nq_export_c(g, dir, NULL, NULL, &err) == NQ_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "Quantizer") != NULL);
    nq_deploy_stats d;
    CHECK(nq_deploy_stats_compute(g, &d, &err) == NQ_ERR_UNSUPPORTED);
    run("rm -rf %s", dir);
    nq_graph_free(g);
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* progress lines as they come */
    test_embedded_text();
    test_requant_core();
    test_kernels();
    test_errors();
    test_models();
    TEST_MAIN_END();
}
