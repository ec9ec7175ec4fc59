/* Unary element-wise operators: activations against libm in double, Clip
 * (attribute and input forms, integer dtypes), Identity, Dropout. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "nqtest.h"
#include "ops_testutil.h"

extern const nq_op_def nq_def_Relu, nq_def_LeakyRelu, nq_def_Sigmoid, nq_def_Tanh,
    nq_def_HardSigmoid, nq_def_HardSwish, nq_def_Sqrt, nq_def_Erf, nq_def_Clip,
    nq_def_Identity, nq_def_Dropout;

typedef double (*ref1)(double x, double alpha, double beta);
static double r_relu(double x, double a, double b) { return x < 0 ? 0 : x; }
static double r_leaky(double x, double a, double b) { return x < 0 ? a * x : x; }
static double r_sigmoid(double x, double a, double b) { return 1.0 / (1.0 + exp(-x)); }
static double r_tanh(double x, double a, double b) { return tanh(x); }
static double r_hsig(double x, double a, double b) { return fmax(0, fmin(1, a * x + b)); }
static double r_hswish(double x, double a, double b) { return x * fmax(0, fmin(1, x / 6 + 0.5)); }
static double r_sqrt(double x, double a, double b) { return sqrt(x); }
static double r_erf(double x, double a, double b) { return erf(x); }

/* Runs op on n values in [lo, hi) plus a few special ones; `alpha`/`beta`
 * are set as attributes when not NAN, `ra`/`rb` go to the reference. */
static void check_act(const nq_op_def *def, ref1 ref, float alpha, float beta, double ra,
                      double rb, float lo, float hi, int64_t n, int threads)
{
    unsigned seed = 99u;
    nq_tensor in[1], out[1] = {{0}};
    const int64_t dims[] = {n};
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 1, dims, NULL);
    float *x = in[0].data;
    for (int64_t i = 0; i < n; i++) x[i] = tt_rand(&seed, lo, hi);
    const float special[] = {0.0f, lo, hi, -3.0f, 3.0f, 0.5f};
    for (int i = 0; i < 6 && i < n; i++)
        if (special[i] >= lo && special[i] <= hi) x[i] = special[i];
    tnode nd;
    tn_init(&nd, def->name);
    if (!isnan(alpha)) tn_float(&nd, "alpha", alpha);
    if (!isnan(beta)) tn_float(&nd, "beta", beta);
    nq_error err = {0};
    nq_status s = run_op_ex(def, &nd.node, 14, 1, in, 0, 1, out, threads, &err);
    if (s != NQ_OK) fprintf(stderr, "%s: %s\n", def->name, err.msg);
    REQUIRE(s == NQ_OK);
    REQUIRE(out[0].ndim == 1 && out[0].dims[0] == n && out[0].dtype == NQ_DTYPE_FLOAT32);
    const float *y = out[0].data;
    int bad = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = ref(x[i], ra, rb);
        if (!(fabs(y[i] - e) <= 1e-6 + 1e-6 * fabs(e)) && bad++ < 5)
            fprintf(stderr, "%s: f(%.9g) = %.9g, expected %.9g\n", def->name, x[i], y[i], e);
    }
    CHECK(bad == 0);
    tt_free_all(in, 1);
    tt_free_all(out, 1);
}

static void test_activations(void)
{
    check_act(&nq_def_Relu, r_relu, NAN, NAN, 0, 0, -5, 5, 1000, 1);
    check_act(&nq_def_LeakyRelu, r_leaky, NAN, NAN, 0.01f, 0, -5, 5, 1000, 1);
    check_act(&nq_def_LeakyRelu, r_leaky, 0.1f, NAN, 0.1f, 0, -5, 5, 1000, 1);
    check_act(&nq_def_Sigmoid, r_sigmoid, NAN, NAN, 0, 0, -100, 100, 1000, 1);
    check_act(&nq_def_Sigmoid, r_sigmoid, NAN, NAN, 0, 0, -8, 8, 1000, 1);
    check_act(&nq_def_Tanh, r_tanh, NAN, NAN, 0, 0, -10, 10, 1000, 1);
    check_act(&nq_def_HardSigmoid, r_hsig, NAN, NAN, 0.2f, 0.5f, -5, 5, 1000, 1);
    check_act(&nq_def_HardSigmoid, r_hsig, 0.5f, 0.6f, 0.5f, 0.6f, -5, 5, 1000, 1);
    check_act(&nq_def_HardSwish, r_hswish, NAN, NAN, 0, 0, -6, 6, 1000, 1);
    check_act(&nq_def_Sqrt, r_sqrt, NAN, NAN, 0, 0, 0, 100, 1000, 1);
    check_act(&nq_def_Erf, r_erf, NAN, NAN, 0, 0, -4, 4, 1000, 1);
    /* large, threaded */
    check_act(&nq_def_Sigmoid, r_sigmoid, NAN, NAN, 0, 0, -8, 8, 200003, 4);
    check_act(&nq_def_LeakyRelu, r_leaky, 0.2f, NAN, 0.2f, 0, -8, 8, 200003, 3);
}

static void test_activation_errors(void)
{
    nq_tensor in[1], out[1] = {{0}};
    tnode nd;
    tn_init(&nd, "Relu");
    nq_error err = {0};
    const int32_t v[] = {1, -2};
    tt_make(&in[0], NQ_DTYPE_INT32, 1, (const int64_t[]){2}, v);
    /* (Relu of integers is the integer path: tests/test_ops_int.c) */
    tnode sg;
    tn_init(&sg, "Sigmoid");
    CHECK(run_op(&nq_def_Sigmoid, &sg.node, 14, 1, in, 0, 1, out, &err) == NQ_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "int32") && strstr(err.msg, "Sigmoid"));
    tt_free_all(in, 1);
    tt_free_all(out, 1);
    /* NaN propagates through Relu */
    const float nanv[] = {NAN, -1.0f};
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 1, (const int64_t[]){2}, nanv);
    CHECK_OK(run_op(&nq_def_Relu, &nd.node, 14, 1, in, 0, 1, out, &err));
    CHECK(isnan(((float *)out[0].data)[0]) && ((float *)out[0].data)[1] == 0.0f);
    tt_free_all(in, 1);
    tt_free_all(out, 1);
}

/* Clip of x (float32) with bounds; lo/hi NULL = absent input. */
static void clip_f32(int64_t opset, const float *lo, const float *hi, unsigned known,
                     const float *expect)
{
    const float xv[] = {-3.0f, -1.0f, 0.0f, 0.5f, 2.0f, 7.0f, NAN};
    const int64_t d[] = {7};
    nq_tensor in[3], out[1] = {{0}};
    memset(in, 0, sizeof in);
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 1, d, xv);
    if (lo) tt_make(&in[1], NQ_DTYPE_FLOAT32, 0, NULL, lo);
    if (hi) tt_make(&in[2], NQ_DTYPE_FLOAT32, 0, NULL, hi);
    tnode nd;
    tn_init(&nd, "Clip");
    int n_in = hi ? 3 : lo ? 2 : 1;
    if (opset < 11) {
        if (lo) tn_float(&nd, "min", *lo);
        if (hi) tn_float(&nd, "max", *hi);
        n_in = 1;
    }
    nq_error err = {0};
    nq_status s = run_op(&nq_def_Clip, &nd.node, opset, n_in, in, known, 1, out, &err);
    if (s != NQ_OK) fprintf(stderr, "clip: %s\n", err.msg);
    CHECK(s == NQ_OK);
    if (s == NQ_OK) {
        const float *y = out[0].data;
        for (int i = 0; i < 6; i++) CHECK_NEAR(y[i], expect[i], 0);
        CHECK(isnan(y[6]));
    }
    tt_free_all(in, 3);
    tt_free_all(out, 1);
}

static void test_clip(void)
{
    const float m1 = -1.0f, p2 = 2.0f, p5 = 5.0f, m5 = -5.0f;
    const float both[] = {-1, -1, 0, 0.5f, 2, 2};
    const float only_hi[] = {-3, -1, 0, 0.5f, 2, 2};
    const float only_lo[] = {-1, -1, 0, 0.5f, 2, 7};
    const float none[] = {-3, -1, 0, 0.5f, 2, 7};
    const float inverted[] = {-5, -5, -5, -5, -5, -5};
    clip_f32(13, &m1, &p2, 0, both);        /* bounds unknown at infer */
    clip_f32(13, &m1, &p2, 6, both);        /* bounds known at infer */
    clip_f32(11, NULL, &p2, 0, only_hi);
    clip_f32(13, &m1, NULL, 0, only_lo);
    clip_f32(13, NULL, NULL, 0, none);
    clip_f32(13, &p5, &m5, 0, inverted);    /* min > max: all max */
    clip_f32(6, &m1, &p2, 0, both);         /* attributes */
    clip_f32(6, NULL, &p2, 0, only_hi);
    clip_f32(6, NULL, NULL, 0, none);

    /* int8 with only max, as test_clip_default_int8_max */
    const int8_t xv[] = {-128, -5, 0, 5, 127};
    const int8_t hi = 0;
    nq_tensor in[3], out[1] = {{0}};
    memset(in, 0, sizeof in);
    tt_make(&in[0], NQ_DTYPE_INT8, 1, (const int64_t[]){5}, xv);
    tt_make(&in[2], NQ_DTYPE_INT8, 0, NULL, &hi);
    tnode nd;
    tn_init(&nd, "Clip");
    nq_error err = {0};
    CHECK_OK(run_op(&nq_def_Clip, &nd.node, 13, 3, in, 0, 1, out, &err));
    const int8_t *y = out[0].data;
    CHECK(out[0].dtype == NQ_DTYPE_INT8);
    CHECK(y[0] == -128 && y[1] == -5 && y[2] == 0 && y[3] == 0 && y[4] == 0);
    tt_free_all(out, 1);
    /* int64 with both */
    tt_free_all(in, 3);
    const int64_t xl[] = {INT64_MIN, -5, 0, 5, INT64_MAX}, lol = -4, hil = 4;
    tt_make(&in[0], NQ_DTYPE_INT64, 1, (const int64_t[]){5}, xl);
    tt_make(&in[1], NQ_DTYPE_INT64, 0, NULL, &lol);
    tt_make(&in[2], NQ_DTYPE_INT64, 0, NULL, &hil);
    CHECK_OK(run_op(&nq_def_Clip, &nd.node, 13, 3, in, 0, 1, out, &err));
    const int64_t *yl = out[0].data;
    CHECK(yl[0] == -4 && yl[1] == -4 && yl[2] == 0 && yl[3] == 4 && yl[4] == 4);
    tt_free_all(out, 1);
    /* bound of another dtype / not a scalar */
    tt_free_all(in + 2, 1);
    const float hf = 1.0f;
    tt_make(&in[2], NQ_DTYPE_FLOAT32, 0, NULL, &hf);
    CHECK(run_op(&nq_def_Clip, &nd.node, 13, 3, in, 0, 1, out, &err) == NQ_ERR_INVALID_ARG);
    tt_free_all(in + 2, 1);
    const int64_t two[] = {1, 2};
    tt_make(&in[2], NQ_DTYPE_INT64, 1, (const int64_t[]){2}, two);
    CHECK(run_op(&nq_def_Clip, &nd.node, 13, 3, in, 0, 1, out, &err) == NQ_ERR_SHAPE);
    tt_free_all(in, 3);
    tt_free_all(out, 1);
}

static void test_identity_dropout(void)
{
    const int64_t xl[] = {1, -2, 3, INT64_MAX, 5, 6};
    const int64_t d23[] = {2, 3};
    nq_tensor in[3], out[2];
    memset(in, 0, sizeof in);
    memset(out, 0, sizeof out);
    tnode nd;
    tn_init(&nd, "Identity");
    nq_error err = {0};
    tt_make(&in[0], NQ_DTYPE_INT64, 2, d23, xl);
    CHECK_OK(run_op(&nq_def_Identity, &nd.node, 16, 1, in, 0, 1, out, &err));
    CHECK(out[0].dtype == NQ_DTYPE_INT64 && out[0].ndim == 2 && out[0].dims[1] == 3);
    CHECK(memcmp(out[0].data, xl, sizeof xl) == 0);
    tt_free_all(in, 3);
    tt_free_all(out, 2);

    /* Dropout opset 13, with mask and ratio */
    const float xf[] = {1, -2, 3, 4, 5, 6}, ratio = 0.5f;
    tn_init(&nd, "Dropout");
    tn_int(&nd, "seed", 0);
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 2, d23, xf);
    tt_make(&in[1], NQ_DTYPE_FLOAT32, 0, NULL, &ratio);
    CHECK_OK(run_op(&nq_def_Dropout, &nd.node, 13, 2, in, 0, 2, out, &err));
    CHECK(out[0].dtype == NQ_DTYPE_FLOAT32 && memcmp(out[0].data, xf, sizeof xf) == 0);
    CHECK(out[1].dtype == NQ_DTYPE_BOOL && out[1].ndim == 2 && out[1].dims[0] == 2);
    for (int i = 0; i < 6; i++) CHECK(((uint8_t *)out[1].data)[i] == 1);
    tt_free_all(out, 2);
    /* mask absent */
    tt_absent(&out[1]);
    CHECK_OK(run_op(&nq_def_Dropout, &nd.node, 13, 1, in, 0, 2, out, &err));
    CHECK(out[1].data == NULL && memcmp(out[0].data, xf, sizeof xf) == 0);
    tt_free_all(out, 2);
    /* opset 7: the mask has x's dtype */
    memset(out, 0, sizeof out);
    tn_init(&nd, "Dropout");
    tn_float(&nd, "ratio", 0.2f);
    CHECK_OK(run_op(&nq_def_Dropout, &nd.node, 7, 1, in, 0, 2, out, &err));
    CHECK(out[1].dtype == NQ_DTYPE_FLOAT32 && ((float *)out[1].data)[5] == 1.0f);
    tt_free_all(out, 2);
    /* training_mode: false runs, true known at infer or at forward is unsupported */
    const uint8_t f = 0, t = 1;
    tt_make(&in[2], NQ_DTYPE_BOOL, 0, NULL, &f);
    CHECK_OK(run_op(&nq_def_Dropout, &nd.node, 13, 3, in, 6, 1, out, &err));
    tt_free_all(out, 2);
    tt_free_all(in + 2, 1);
    tt_make(&in[2], NQ_DTYPE_BOOL, 0, NULL, &t);
    CHECK(run_op(&nq_def_Dropout, &nd.node, 13, 3, in, 6, 1, out, &err) == NQ_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "training_mode") != NULL);
    tt_free_all(out, 2);
    CHECK(run_op(&nq_def_Dropout, &nd.node, 13, 3, in, 0, 1, out, &err) == NQ_ERR_UNSUPPORTED);
    tt_free_all(in, 3);
    tt_free_all(out, 2);
}

int main(void)
{
    test_activations();
    test_activation_errors();
    test_clip();
    test_identity_dropout();
    TEST_MAIN_END();
}
