/* GEMM kernels side by side, one thread: float (nq_sgemm: OpenBLAS when
 * built with it) against the integer GEMMs on the same shapes, in one run.
 * Shapes: the im2col GEMMs of the example ConvNet's layers (one image:
 * M = output channels, N = output pixels, K = input channels * 9) and a
 * square one. Prints GMAC/s (median of REPS timed rounds) and each integer
 * kernel's time relative to float.
 *   bench_gemm [REPS]          (bench/README.md) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nnquant/kernels.h"

typedef struct shape {
    const char *name;
    int64_t M, N, K;
} shape;

static const shape shapes[] = {
    {"convnet conv2", 32, 784, 288},
    {"convnet conv3", 64, 196, 288},
    {"convnet conv4", 64, 196, 576},
    {"square 256", 256, 256, 256},
};

enum { K_F32, K_S8, K_S16_32, K_S16_64, N_KERNELS };
static const char *const kernel_names[N_KERNELS] = {"f32", "s8s8s32", "s16s16s32", "s16s16s64"};

typedef struct bufs {
    float *af, *bf, *cf;
    int8_t *a8, *b8;
    int16_t *a16, *b16;
    int32_t *c32;
    int64_t *c64;
} bufs;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void run(int kernel, const shape *s, bufs *b)
{
    switch (kernel) {
    case K_F32:
        nq_sgemm(0, 0, s->M, s->N, s->K, 1.0f, b->af, s->K, b->bf, s->N, 0.0f, b->cf, s->N, 1);
        break;
    case K_S8:
        nq_gemm_s8s8s32(0, s->M, s->N, s->K, b->a8, s->K, b->b8, s->N, NULL, b->c32, s->N);
        break;
    case K_S16_32:
        nq_gemm_s16s16s32(0, s->M, s->N, s->K, b->a16, s->K, b->b16, s->N, NULL, b->c32, s->N);
        break;
    default:
        nq_gemm_s16s16s64(0, s->M, s->N, s->K, b->a16, s->K, b->b16, s->N, NULL, b->c64, s->N);
        break;
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median seconds per call over reps rounds of at least 0.1 s each. */
static double time_kernel(int kernel, const shape *s, bufs *b, int reps)
{
    double t[64];
    for (int i = 0; i < 3; i++) run(kernel, s, b); /* warm-up */
    for (int r = 0; r < reps; r++) {
        int64_t calls = 0;
        double t0 = now(), el = 0;
        do {
            run(kernel, s, b);
            calls++;
            el = now() - t0;
        } while (el < 0.1);
        t[r] = el / (double)calls;
    }
    qsort(t, (size_t)reps, sizeof t[0], cmp_double);
    return t[reps / 2];
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 5;
    if (reps < 1 || reps > 64) {
        fprintf(stderr, "usage: bench_gemm [REPS (1..64)]\n");
        return 2;
    }
    printf("| shape (M x N x K) | kernel | GMAC/s | time / f32 |\n|---|---|---:|---:|\n");
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        const shape *s = &shapes[i];
        size_t na = (size_t)(s->M * s->K), nb = (size_t)(s->K * s->N), nc = (size_t)(s->M * s->N);
        bufs b = {malloc(na * 4), malloc(nb * 4), malloc(nc * 4), malloc(na), malloc(nb),
                  malloc(na * 2), malloc(nb * 2), malloc(nc * 4), malloc(nc * 8)};
        if (!b.af || !b.bf || !b.cf || !b.a8 || !b.b8 || !b.a16 || !b.b16 || !b.c32 || !b.c64) {
            fprintf(stderr, "out of memory\n");
            return 1;
        }
        srand(1);
        for (size_t k = 0; k < na; k++) {
            int v = rand() % 255 - 127;
            b.af[k] = (float)v, b.a8[k] = (int8_t)v, b.a16[k] = (int16_t)(v * 257);
        }
        for (size_t k = 0; k < nb; k++) {
            int v = rand() % 255 - 127;
            b.bf[k] = (float)v, b.b8[k] = (int8_t)v, b.b16[k] = (int16_t)(v * 257);
        }
        double tf = 0, macs = (double)s->M * (double)s->N * (double)s->K;
        for (int k = 0; k < N_KERNELS; k++) {
            double t = time_kernel(k, s, &b, reps);
            if (k == K_F32) tf = t;
            printf("| %s (%lld x %lld x %lld) | %s | %.1f | %.2fx |\n", s->name, (long long)s->M, (long long)s->N,
                   (long long)s->K, kernel_names[k], macs / t * 1e-9, t / tf);
        }
        free(b.af), free(b.bf), free(b.cf), free(b.a8), free(b.b8);
        free(b.a16), free(b.b16), free(b.c32), free(b.c64);
    }
    return 0;
}
