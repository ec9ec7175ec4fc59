/* Conv against a direct convolution loop on random shapes (1-D/2-D/3-D,
 * groups incl. depthwise, strides, pads, dilations, auto_pad, batching and
 * threads), plus shape errors. */
#include <math.h>
#include <string.h>

#include "nnquant/ops.h"
#include "nqtest.h"
#include "ops_testutil.h"

extern const nq_op_def nq_def_Conv;
static unsigned rng = 777u;
static int64_t irand(int64_t lo, int64_t hi)
{
    rng = rng * 1664525u + 1013904223u;
    return lo + (int64_t)((rng >> 8) % (unsigned)(hi - lo + 1));
}

typedef struct cfg {
    int nsp, autopad; /* 0 NOTSET, 1 SAME_UPPER, 2 SAME_LOWER, 3 VALID */
    int64_t N, C, M, group, in[3], k[3], s[3], d[3], pb[3], pe[3];
    int bias, kshape_attr, threads;
} cfg;

static int64_t out_size(cfg *f, int i)
{
    return tt_window_out(f->in[i], f->k[i], f->s[i], f->d[i], f->autopad, 0, &f->pb[i], &f->pe[i]);
}

/* y = conv; mag = sum of |products| per output (what rounding scales with). */
static void conv_ref(cfg *f, const float *x, const float *w, const float *b, float *y,
                     double *mag, const int64_t *out)
{
    int64_t in3[3] = {1, 1, 1}, o3[3] = {1, 1, 1}, k3[3] = {1, 1, 1}, s3[3] = {1, 1, 1},
            d3[3] = {1, 1, 1}, p3[3] = {0, 0, 0};
    int lead = 3 - f->nsp;
    for (int i = 0; i < f->nsp; i++) {
        in3[lead + i] = f->in[i], o3[lead + i] = out[i], k3[lead + i] = f->k[i];
        s3[lead + i] = f->s[i], d3[lead + i] = f->d[i], p3[lead + i] = f->pb[i];
    }
    int64_t Cg = f->C / f->group, Mg = f->M / f->group;
    for (int64_t n = 0; n < f->N; n++)
        for (int64_t m = 0; m < f->M; m++)
            for (int64_t a = 0; a < o3[0]; a++)
                for (int64_t bb = 0; bb < o3[1]; bb++)
                    for (int64_t cc = 0; cc < o3[2]; cc++) {
                        double acc = b ? b[m] : 0.0, am = b ? fabs(b[m]) : 0.0;
                        int64_t g = m / Mg;
                        for (int64_t ci = 0; ci < Cg; ci++)
                            for (int64_t ka = 0; ka < k3[0]; ka++)
                                for (int64_t kb = 0; kb < k3[1]; kb++)
                                    for (int64_t kc = 0; kc < k3[2]; kc++) {
                                        int64_t ia = a * s3[0] - p3[0] + ka * d3[0];
                                        int64_t ib = bb * s3[1] - p3[1] + kb * d3[1];
                                        int64_t ic = cc * s3[2] - p3[2] + kc * d3[2];
                                        if (ia < 0 || ib < 0 || ic < 0 || ia >= in3[0] ||
                                            ib >= in3[1] || ic >= in3[2])
                                            continue;
                                        double xv = x[(((n * f->C + g * Cg + ci) * in3[0] + ia) *
                                                           in3[1] + ib) * in3[2] + ic];
                                        double wv = w[(((m * Cg + ci) * k3[0] + ka) * k3[1] + kb) *
                                                          k3[2] + kc];
                                        acc += xv * wv;
                                        am += fabs(xv * wv);
                                    }
                        *y++ = (float)acc;
                        *mag++ = am;
                    }
}

static void run_case(cfg *f)
{
    static const char *ap_names[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};
    int64_t xd[5] = {f->N, f->C}, wd[5] = {f->M, f->C / f->group}, bd[1] = {f->M}, out[3];
    int64_t pads[6];
    for (int i = 0; i < f->nsp; i++) {
        xd[2 + i] = f->in[i], wd[2 + i] = f->k[i];
        pads[i] = f->pb[i], pads[f->nsp + i] = f->pe[i];
    }
    tnode t;
    tn_init(&t, "Conv");
    if (f->group != 1 || irand(0, 1)) tn_int(&t, "group", f->group);
    tn_ints(&t, "strides", f->nsp, f->s);
    tn_ints(&t, "dilations", f->nsp, f->d);
    if (f->kshape_attr) tn_ints(&t, "kernel_shape", f->nsp, f->k);
    if (f->autopad == 0) tn_ints(&t, "pads", 2 * f->nsp, pads);
    else {
        nq_attr *a = tn_add(&t, "auto_pad", NQ_ATTR_STRING);
        a->s = (char *)ap_names[f->autopad];
    }
    for (int i = 0; i < f->nsp; i++) out[i] = out_size(f, i);
    nq_tensor in[3], o[1];
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 2 + f->nsp, xd, NULL);
    tt_make(&in[1], NQ_DTYPE_FLOAT32, 2 + f->nsp, wd, NULL);
    tt_make(&in[2], NQ_DTYPE_FLOAT32, 1, bd, NULL);
    for (int j = 0; j < 3; j++) {
        float *p = in[j].data;
        for (int64_t i = 0; i < nq_tensor_numel(&in[j]); i++) p[i] = tt_rand(&rng, -1.0f, 1.0f);
    }
    nq_error err = {0};
    nq_status s = run_op_ex(&nq_def_Conv, &t.node, 11, f->bias ? 3 : 2, in, 2, 1, o, f->threads,
                            &err);
    CHECK(s == NQ_OK);
    if (s != NQ_OK) {
        fprintf(stderr, "%s\n", err.msg);
    } else {
        int64_t n_out = f->N * f->M;
        CHECK(o[0].ndim == 2 + f->nsp && o[0].dims[0] == f->N && o[0].dims[1] == f->M);
        for (int i = 0; i < f->nsp; i++) {
            CHECK(o[0].dims[2 + i] == out[i]);
            n_out *= out[i];
        }
        float *ref = malloc(sizeof(float) * (size_t)(n_out + 1));
        double *mag = malloc(sizeof(double) * (size_t)(n_out + 1));
        conv_ref(f, in[0].data, in[1].data, f->bias ? in[2].data : NULL, ref, mag, out);
        const float *y = o[0].data;
        int bad = 0;
        for (int64_t i = 0; i < n_out && !bad; i++)
            if (!(fabs((double)y[i] - ref[i]) <= 2e-6 * mag[i] + 1e-7)) {
                fprintf(stderr, "nsp=%d N=%lld C=%lld M=%lld g=%lld ap=%d thr=%d: y[%lld]=%g ref %g\n",
                        f->nsp, (long long)f->N, (long long)f->C, (long long)f->M,
                        (long long)f->group, f->autopad, f->threads, (long long)i, y[i], ref[i]);
                bad = 1;
            }
        CHECK(!bad);
        free(ref);
        free(mag);
    }
    tt_free_all(in, 3);
    tt_free_all(o, 1);
}

static void random_case(int it)
{
    cfg f;
    memset(&f, 0, sizeof f);
    f.nsp = (int)irand(1, 3);
    f.group = irand(0, 2) == 0 ? irand(2, 4) : 1;
    f.C = f.group * irand(1, 3);
    f.M = f.group * irand(1, 3);
    if (it % 7 == 0) f.C = f.group, f.nsp = 2; /* depthwise */
    f.N = irand(1, 3);
    if (it % 5 == 0) f.N = irand(4, 12); /* batched GEMM path */
    f.autopad = irand(0, 3) == 0 ? (int)irand(1, 3) : 0;
    f.bias = (int)irand(0, 1);
    f.kshape_attr = (int)irand(0, 1);
    f.threads = (int)irand(1, 2);
    for (int i = 0; i < 3; i++) f.k[i] = 1;
    for (int i = 0; i < f.nsp; i++) {
        f.in[i] = irand(1, f.nsp == 3 ? 6 : 12);
        f.k[i] = irand(1, 3);
        f.s[i] = irand(1, 3);
        f.d[i] = irand(1, 2);
        f.pb[i] = irand(0, 2);
        f.pe[i] = irand(0, 2);
        int64_t room = f.in[i] + f.pb[i] + f.pe[i] - (f.k[i] - 1) * f.d[i] - 1;
        if (room < 0) f.pe[i] -= room;
        if (f.autopad == 3 && f.in[i] < (f.k[i] - 1) * f.d[i] + 1) f.d[i] = 1, f.k[i] = 1;
    }
    if (it % 11 == 0) /* pointwise */
        for (int i = 0; i < f.nsp; i++) f.k[i] = 1, f.s[i] = 1, f.pb[i] = f.pe[i] = 0, f.autopad = 0;
    run_case(&f);
}

/* The ConvNet shapes of the benchmark, batched and threaded. */
static void convnet_cases(void)
{
    static const int64_t sh[][4] = {{1, 32, 28, 3}, {32, 32, 28, 3}, {32, 64, 14, 3}, {64, 64, 7, 3}};
    for (int i = 0; i < 4; i++)
        for (int th = 1; th <= 2; th++) {
            cfg f;
            memset(&f, 0, sizeof f);
            f.nsp = 2, f.N = 5, f.C = sh[i][0], f.M = sh[i][1], f.group = 1, f.bias = 1;
            f.threads = th;
            f.k[2] = 1;
            for (int j = 0; j < 2; j++)
                f.in[j] = sh[i][2], f.k[j] = sh[i][3], f.s[j] = f.d[j] = 1, f.pb[j] = f.pe[j] = 1;
            run_case(&f);
        }
}

/* Big enough for im2col to run in several tiles (and 3-D in one row each). */
static void tiled_cases(void)
{
    cfg f;
    memset(&f, 0, sizeof f);
    f.nsp = 2, f.N = 2, f.C = 16, f.M = 8, f.group = 1, f.bias = 1, f.threads = 1;
    f.k[2] = 1;
    for (int j = 0; j < 2; j++) f.in[j] = 70, f.k[j] = 3, f.s[j] = f.d[j] = 1, f.pb[j] = f.pe[j] = 0;
    f.in[1] = 90, f.pb[1] = 2, f.s[0] = 2;
    run_case(&f);
    f.group = 2, f.M = 4, f.threads = 2;
    run_case(&f);
}

/* Shapes for the Winograd path (3x3, strides/dilations 1, >= 16 channels
 * per group): odd sizes, asymmetric pads, two groups, threads. */
static void winograd_cases(void)
{
    for (int it = 0; it < 8; it++) {
        cfg f;
        memset(&f, 0, sizeof f);
        f.nsp = 2, f.N = irand(1, 3), f.group = it % 3 == 0 ? 2 : 1, f.bias = it % 2;
        f.C = f.group * irand(16, 20), f.M = f.group * irand(16, 24), f.threads = 1 + it % 2;
        f.autopad = it == 5 ? 1 : 0;
        f.k[2] = 1;
        for (int j = 0; j < 2; j++) {
            f.in[j] = irand(3, 15), f.k[j] = 3, f.s[j] = f.d[j] = 1;
            f.pb[j] = irand(0, 2), f.pe[j] = irand(0, 2);
        }
        run_case(&f);
    }
}

static nq_status try_shapes(int ndx, const int64_t *xd, int ndw, const int64_t *wd, int64_t nb,
                            int64_t group, char *msg)
{
    tnode t;
    tn_init(&t, "Conv");
    tn_int(&t, "group", group);
    nq_tensor in[3], o[1];
    int64_t bd[1] = {nb};
    tt_make(&in[0], NQ_DTYPE_FLOAT32, ndx, xd, NULL);
    tt_make(&in[1], NQ_DTYPE_FLOAT32, ndw, wd, NULL);
    tt_make(&in[2], NQ_DTYPE_FLOAT32, 1, bd, NULL);
    nq_error err = {0};
    nq_status s = run_op(&nq_def_Conv, &t.node, 13, nb ? 3 : 2, in, 0, 1, o, &err);
    strcpy(msg, err.msg);
    tt_free_all(in, 3);
    tt_free_all(o, 1);
    return s;
}

static void error_cases(void)
{
    char msg[NQ_ERROR_MSG_MAX];
    int64_t x[4] = {1, 4, 5, 5}, w[4] = {6, 3, 3, 3}, w2[4] = {6, 2, 3, 3}, w5[4] = {5, 2, 3, 3};
    CHECK(try_shapes(4, x, 4, w, 0, 1, msg) == NQ_ERR_SHAPE); /* channel mismatch */
    CHECK(strstr(msg, "channel") != NULL && strstr(msg, "test_node") != NULL);
    CHECK(try_shapes(4, x, 4, w2, 0, 2, msg) == NQ_OK);
    CHECK(try_shapes(4, x, 4, w2, 0, 3, msg) == NQ_ERR_SHAPE); /* group does not divide */
    CHECK(try_shapes(4, x, 4, w5, 0, 2, msg) == NQ_ERR_SHAPE); /* M % group */
    CHECK(try_shapes(4, x, 3, w2, 0, 2, msg) == NQ_ERR_SHAPE); /* rank mismatch */
    CHECK(try_shapes(2, x, 2, w2, 0, 1, msg) == NQ_ERR_SHAPE); /* rank 2 */
    CHECK(try_shapes(4, x, 4, w2, 5, 2, msg) == NQ_ERR_SHAPE); /* bias size */
    int64_t xs[4] = {1, 4, 2, 2};
    CHECK(try_shapes(4, xs, 4, w2, 0, 2, msg) == NQ_ERR_SHAPE); /* kernel > input */
    int64_t x6[6] = {1, 1, 2, 2, 2, 2}, w6[6] = {1, 1, 1, 1, 1, 1};
    CHECK(try_shapes(6, x6, 6, w6, 0, 1, msg) == NQ_ERR_UNSUPPORTED); /* 4 spatial dims */
}

int main(void)
{
    for (int it = 0; it < 400; it++) random_case(it);
    convnet_cases();
    tiled_cases();
    winograd_cases();
    error_cases();
    TEST_MAIN_END();
}
