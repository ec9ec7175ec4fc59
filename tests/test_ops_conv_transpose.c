/* ConvTranspose against a direct scatter loop on random shapes (1-D/2-D/3-D,
 * groups, strides, pads, dilations, output_padding, output_shape, auto_pad,
 * threads), plus the ONNX spec examples' shapes and shape errors. */
#include <math.h>
#include <string.h>

#include "nnquant/ops.h"
#include "nqtest.h"
#include "ops_testutil.h"

extern const nq_op_def nq_def_ConvTranspose;
static unsigned rng = 4242u;
static int64_t irand(int64_t lo, int64_t hi)
{
    rng = rng * 1664525u + 1013904223u;
    return lo + (int64_t)((rng >> 8) % (unsigned)(hi - lo + 1));
}

typedef struct cfg {
    int nsp, autopad; /* 0 NOTSET, 1 SAME_UPPER, 2 SAME_LOWER, 3 VALID */
    int64_t N, C, Mg, group, in[3], k[3], s[3], d[3], pb[3], pe[3], opad[3], oshape[3];
    int bias, has_opad, has_oshape, threads;
} cfg;

static int64_t fdiv2(int64_t a) { return a >= 0 ? a / 2 : -((-a + 1) / 2); }

/* Output size and begin pad as the ONNX spec defines them. */
static int64_t out_size(const cfg *f, int i, int64_t *pb)
{
    int64_t full = f->s[i] * (f->in[i] - 1) + f->opad[i] + (f->k[i] - 1) * f->d[i] + 1;
    if (f->has_oshape || f->autopad == 1 || f->autopad == 2) {
        int64_t out = f->has_oshape ? f->oshape[i] : f->in[i] * f->s[i];
        int64_t tot = full - out;
        *pb = f->autopad == 1 ? fdiv2(tot) : tot - fdiv2(tot);
        return out;
    }
    *pb = f->autopad == 3 ? 0 : f->pb[i];
    return full - (f->autopad == 3 ? 0 : f->pb[i] + f->pe[i]);
}

static void convt_ref(const cfg *f, const float *x, const float *w, const float *b, float *y,
                      const int64_t *out, const int64_t *pb)
{
    int64_t i3[3] = {1, 1, 1}, o3[3] = {1, 1, 1}, k3[3] = {1, 1, 1}, s3[3] = {1, 1, 1},
            d3[3] = {1, 1, 1}, p3[3] = {0, 0, 0};
    int lead = 3 - f->nsp;
    for (int i = 0; i < f->nsp; i++) {
        i3[lead + i] = f->in[i], o3[lead + i] = out[i], k3[lead + i] = f->k[i];
        s3[lead + i] = f->s[i], d3[lead + i] = f->d[i], p3[lead + i] = pb[i];
    }
    int64_t M = f->Mg * f->group, Cg = f->C / f->group, op = o3[0] * o3[1] * o3[2];
    double *acc = calloc((size_t)(f->N * M * op), sizeof(double));
    for (int64_t n = 0; n < f->N; n++)
        for (int64_t m = 0; m < M; m++)
            for (int64_t i = 0; i < op; i++) acc[(n * M + m) * op + i] = b ? b[m] : 0.0;
    for (int64_t n = 0; n < f->N; n++)
        for (int64_t c = 0; c < f->C; c++)
            for (int64_t a = 0; a < i3[0]; a++)
                for (int64_t bb = 0; bb < i3[1]; bb++)
                    for (int64_t cc = 0; cc < i3[2]; cc++) {
                        double xv = x[(((n * f->C + c) * i3[0] + a) * i3[1] + bb) * i3[2] + cc];
                        for (int64_t m = 0; m < f->Mg; m++)
                            for (int64_t ka = 0; ka < k3[0]; ka++)
                                for (int64_t kb = 0; kb < k3[1]; kb++)
                                    for (int64_t kc = 0; kc < k3[2]; kc++) {
                                        int64_t ya = a * s3[0] - p3[0] + ka * d3[0];
                                        int64_t yb = bb * s3[1] - p3[1] + kb * d3[1];
                                        int64_t yc = cc * s3[2] - p3[2] + kc * d3[2];
                                        if (ya < 0 || yb < 0 || yc < 0 || ya >= o3[0] ||
                                            yb >= o3[1] || yc >= o3[2])
                                            continue;
                                        int64_t oc = (c / Cg) * f->Mg + m;
                                        double wv = w[(((c * f->Mg + m) * k3[0] + ka) * k3[1] + kb) *
                                                          k3[2] + kc];
                                        acc[(n * M + oc) * op + (ya * o3[1] + yb) * o3[2] + yc] +=
                                            xv * wv;
                                    }
                    }
    for (int64_t i = 0; i < f->N * M * op; i++) y[i] = (float)acc[i];
    free(acc);
}

static void run_case(const cfg *f)
{
    static const char *ap_names[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};
    int64_t M = f->Mg * f->group;
    int64_t xd[5] = {f->N, f->C}, wd[5] = {f->C, f->Mg}, bd[1] = {M}, out[3], pb[3], pads[6];
    for (int i = 0; i < f->nsp; i++) {
        xd[2 + i] = f->in[i], wd[2 + i] = f->k[i];
        pads[i] = f->pb[i], pads[f->nsp + i] = f->pe[i];
        out[i] = out_size(f, i, &pb[i]);
    }
    tnode t;
    tn_init(&t, "ConvTranspose");
    tn_int(&t, "group", f->group);
    tn_ints(&t, "strides", f->nsp, f->s);
    tn_ints(&t, "dilations", f->nsp, f->d);
    if (f->has_opad) tn_ints(&t, "output_padding", f->nsp, f->opad);
    if (f->has_oshape) tn_ints(&t, "output_shape", f->nsp, f->oshape);
    if (f->autopad == 0) tn_ints(&t, "pads", 2 * f->nsp, pads);
    else tn_add(&t, "auto_pad", NQ_ATTR_STRING)->s = (char *)ap_names[f->autopad];
    nq_tensor in[3], o[1];
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 2 + f->nsp, xd, NULL);
    tt_make(&in[1], NQ_DTYPE_FLOAT32, 2 + f->nsp, wd, NULL);
    tt_make(&in[2], NQ_DTYPE_FLOAT32, 1, bd, NULL);
    for (int j = 0; j < 3; j++) {
        float *p = in[j].data;
        for (int64_t i = 0; i < nq_tensor_numel(&in[j]); i++) p[i] = tt_rand(&rng, -1.0f, 1.0f);
    }
    nq_error err = {0};
    nq_status s = run_op_ex(&nq_def_ConvTranspose, &t.node, 11, f->bias ? 3 : 2, in, 2, 1, o,
                            f->threads, &err);
    CHECK(s == NQ_OK);
    if (s != NQ_OK) {
        fprintf(stderr, "%s\n", err.msg);
    } else {
        int64_t n_out = f->N * M;
        CHECK(o[0].ndim == 2 + f->nsp && o[0].dims[0] == f->N && o[0].dims[1] == M);
        for (int i = 0; i < f->nsp; i++) {
            CHECK(o[0].dims[2 + i] == out[i]);
            n_out *= out[i];
        }
        float *ref = malloc(sizeof(float) * (size_t)(n_out + 1));
        convt_ref(f, in[0].data, in[1].data, f->bias ? in[2].data : NULL, ref, out, pb);
        const float *y = o[0].data;
        int bad = 0;
        for (int64_t i = 0; i < n_out && !bad; i++)
            if (!(fabs((double)y[i] - ref[i]) <= 1e-4)) {
                fprintf(stderr, "nsp=%d g=%lld ap=%d: y[%lld]=%g ref %g\n", f->nsp,
                        (long long)f->group, f->autopad, (long long)i, y[i], ref[i]);
                bad = 1;
            }
        CHECK(!bad);
        free(ref);
    }
    tt_free_all(in, 3);
    tt_free_all(o, 1);
}

static void random_case(void)
{
    cfg f;
    memset(&f, 0, sizeof f);
    f.nsp = (int)irand(1, 3);
    f.group = irand(0, 2) == 0 ? irand(2, 3) : 1;
    f.C = f.group * irand(1, 3);
    f.Mg = irand(1, 3);
    f.N = irand(1, 3);
    f.autopad = irand(0, 3) == 0 ? (int)irand(1, 3) : 0;
    f.bias = (int)irand(0, 1);
    f.threads = (int)irand(1, 2);
    f.has_opad = irand(0, 2) == 0;
    f.has_oshape = f.autopad != 3 && irand(0, 3) == 0;
    for (int i = 0; i < f.nsp; i++) {
        f.in[i] = irand(1, f.nsp == 3 ? 4 : 7);
        f.k[i] = irand(1, 3);
        f.s[i] = irand(1, 3);
        f.d[i] = irand(1, 2);
        f.pb[i] = irand(0, 1);
        f.pe[i] = irand(0, 1);
        f.opad[i] = f.has_opad ? irand(0, f.s[i] - 1) : 0;
        int64_t full = f.s[i] * (f.in[i] - 1) + f.opad[i] + (f.k[i] - 1) * f.d[i] + 1;
        if (full - f.pb[i] - f.pe[i] < 1) f.pb[i] = f.pe[i] = 0;
        f.oshape[i] = full + irand(-1, 1);
        if (f.oshape[i] < 1) f.oshape[i] = 1;
    }
    run_case(&f);
}

/* Shapes of the ONNX backend tests test_convtranspose_*. */
static void onnx_examples(void)
{
    cfg f;
    memset(&f, 0, sizeof f);
    f.nsp = 2, f.N = 1, f.C = 1, f.Mg = 2, f.group = 1, f.threads = 1;
    for (int i = 0; i < 2; i++) f.in[i] = 3, f.k[i] = 3, f.s[i] = 1, f.d[i] = 1;
    cfg a = f; /* test_convtranspose_autopad_same */
    a.autopad = 1, a.s[0] = a.s[1] = 2;
    run_case(&a);
    cfg b = f; /* test_convtranspose_output_shape */
    b.s[0] = 3, b.s[1] = 2, b.has_oshape = 1, b.oshape[0] = 10, b.oshape[1] = 8;
    run_case(&b);
    cfg c = b; /* test_convtranspose_kernel_shape */
    c.has_opad = 1, c.opad[0] = c.opad[1] = 1;
    run_case(&c);
    cfg d = f; /* test_convtranspose_pads */
    d.s[0] = 3, d.s[1] = 2, d.pb[0] = d.pe[0] = 1, d.pb[1] = d.pe[1] = 2;
    run_case(&d);
}

static void error_cases(void)
{
    tnode t;
    tn_init(&t, "ConvTranspose");
    tn_int(&t, "group", 2);
    int64_t xd[4] = {1, 4, 3, 3}, wd[4] = {3, 2, 3, 3};
    nq_tensor in[2], o[1];
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 4, xd, NULL);
    tt_make(&in[1], NQ_DTYPE_FLOAT32, 4, wd, NULL);
    nq_error err = {0};
    CHECK(run_op(&nq_def_ConvTranspose, &t.node, 11, 2, in, 2, 1, o, &err) == NQ_ERR_SHAPE);
    CHECK(strstr(err.msg, "channel") != NULL);
    tt_free_all(in, 2);
}

int main(void)
{
    for (int it = 0; it < 300; it++) random_case();
    onnx_examples();
    error_cases();
    TEST_MAIN_END();
}
