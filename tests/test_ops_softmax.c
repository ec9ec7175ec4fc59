/* Softmax / LogSoftmax: axis rules before and from opset 13, stability on
 * large inputs, against a double-precision reference. */
#include <math.h>
#include <string.h>

#include "nqtest.h"
#include "ops_testutil.h"

extern const nq_op_def nq_def_Softmax, nq_def_LogSoftmax;

#define NO_AXIS (-100)

/* Runs the op on x of the given shape; the test states the expected
 * [outer, len, inner] split (what the normalization runs over). */
static void check(const nq_op_def *def, int is_log, int64_t opset, int64_t axis, int ndim,
                  const int64_t *dims, int64_t outer, int64_t len, int64_t inner, float scale,
                  int threads)
{
    unsigned seed = 7u;
    nq_tensor in[1], out[1] = {{0}};
    tt_make(&in[0], NQ_DTYPE_FLOAT32, ndim, dims, NULL);
    float *x = in[0].data;
    int64_t n = nq_tensor_numel(&in[0]);
    REQUIRE(n == outer * len * inner);
    for (int64_t i = 0; i < n; i++) x[i] = tt_rand(&seed, -scale, scale);
    tnode nd;
    tn_init(&nd, def->name);
    if (axis != NO_AXIS) tn_int(&nd, "axis", axis);
    nq_error err = {0};
    nq_status s = run_op_ex(def, &nd.node, opset, 1, in, 0, 1, out, threads, &err);
    if (s != NQ_OK) fprintf(stderr, "%s: %s\n", def->name, err.msg);
    REQUIRE(s == NQ_OK);
    REQUIRE(out[0].ndim == ndim && out[0].dtype == NQ_DTYPE_FLOAT32);
    const float *y = out[0].data;
    int bad = 0;
    for (int64_t o = 0; o < outer; o++) {
        for (int64_t i = 0; i < inner; i++) {
            const int64_t base = o * len * inner + i;
            double m = -INFINITY, sum = 0;
            for (int64_t k = 0; k < len; k++) m = fmax(m, x[base + k * inner]);
            for (int64_t k = 0; k < len; k++) sum += exp(x[base + k * inner] - m);
            for (int64_t k = 0; k < len; k++) {
                double v = x[base + k * inner] - m;
                double e = is_log ? v - log(sum) : exp(v) / sum;
                double got = y[base + k * inner];
                if (!(fabs(got - e) <= 1e-5 + 1e-5 * fabs(e)) && bad++ < 5)
                    fprintf(stderr, "%s axis %lld: y = %.9g, expected %.9g\n", def->name,
                            (long long)axis, got, e);
            }
        }
    }
    CHECK(bad == 0);
    tt_free_all(in, 1);
    tt_free_all(out, 1);
}

static void test_axes(void)
{
    const int64_t s345[] = {3, 4, 5}, s13[] = {1, 3};
    for (int lg = 0; lg < 2; lg++) {
        const nq_op_def *def = lg ? &nq_def_LogSoftmax : &nq_def_Softmax;
        /* opset 13: one axis */
        check(def, lg, 13, 0, 3, s345, 1, 3, 20, 3, 1);
        check(def, lg, 13, 1, 3, s345, 3, 4, 5, 3, 1);
        check(def, lg, 13, 2, 3, s345, 12, 5, 1, 3, 1);
        check(def, lg, 13, -1, 3, s345, 12, 5, 1, 3, 1);
        check(def, lg, 13, -3, 3, s345, 1, 3, 20, 3, 1);
        check(def, lg, 13, NO_AXIS, 3, s345, 12, 5, 1, 3, 1);
        check(def, lg, 13, NO_AXIS, 2, s13, 1, 3, 1, 3, 1);
        /* opset < 13: coerced to 2-D at axis (default 1) */
        check(def, lg, 11, NO_AXIS, 3, s345, 3, 20, 1, 3, 1);
        check(def, lg, 11, 0, 3, s345, 1, 60, 1, 3, 1);
        check(def, lg, 11, 2, 3, s345, 12, 5, 1, 3, 1);
        check(def, lg, 11, -1, 3, s345, 12, 5, 1, 3, 1);
        check(def, lg, 1, NO_AXIS, 2, s13, 1, 3, 1, 3, 1);
        /* large inputs do not overflow */
        check(def, lg, 13, NO_AXIS, 3, s345, 12, 5, 1, 10000, 1);
        check(def, lg, 13, 1, 3, s345, 3, 4, 5, 10000, 1);
        /* big, threaded */
        check(def, lg, 13, -1, 2, (const int64_t[]){300, 1000}, 300, 1000, 1, 5, 4);
        check(def, lg, 13, 1, 4, (const int64_t[]){4, 32, 40, 40}, 4, 32, 1600, 5, 3);
    }
}

static void test_special(void)
{
    /* exact values: softmax([1000, 1001, 1002]) */
    const float xv[] = {1000.0f, 1001.0f, 1002.0f, 3.0f};
    nq_tensor in[1], out[1] = {{0}};
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 2, (const int64_t[]){2, 2}, xv);
    tnode nd;
    tn_init(&nd, "Softmax");
    nq_error err = {0};
    CHECK_OK(run_op(&nq_def_Softmax, &nd.node, 13, 1, in, 0, 1, out, &err));
    const float *y = out[0].data;
    CHECK_NEAR(y[0], 1.0 / (1.0 + exp(1.0)), 1e-6);
    CHECK_NEAR(y[1], exp(1.0) / (1.0 + exp(1.0)), 1e-6);
    CHECK_NEAR(y[2], 1.0, 1e-6);
    CHECK_NEAR(y[3], 0.0, 1e-6);
    tt_free_all(out, 1);
    /* LogSoftmax of large numbers keeps its precision (test_logsoftmax_large_number) */
    const float big[] = {10000.0f, 10001.0f, 10002.0f, 10003.0f};
    tt_free_all(in, 1);
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 2, (const int64_t[]){1, 4}, big);
    CHECK_OK(run_op(&nq_def_LogSoftmax, &nd.node, 13, 1, in, 0, 1, out, &err));
    double lse = log(exp(-3.0) + exp(-2.0) + exp(-1.0) + 1.0);
    for (int i = 0; i < 4; i++) CHECK_NEAR(((float *)out[0].data)[i], i - 3 - lse, 1e-6);
    tt_free_all(out, 1);
    /* axis out of range */
    tn_int(&nd, "axis", 2);
    CHECK(run_op(&nq_def_Softmax, &nd.node, 13, 1, in, 0, 1, out, &err) == NQ_ERR_INVALID_ARG);
    CHECK(strstr(err.msg, "axis") != NULL);
    tt_free_all(in, 1);
    tt_free_all(out, 1);
    /* float32 only */
    const int32_t iv[] = {1, 2};
    tt_make(&in[0], NQ_DTYPE_INT32, 1, (const int64_t[]){2}, iv);
    CHECK(run_op(&nq_def_LogSoftmax, &nd.node, 13, 1, in, 0, 1, out, &err) ==
          NQ_ERR_UNSUPPORTED);
    tt_free_all(in, 1);
    tt_free_all(out, 1);
}

int main(void)
{
    test_axes();
    test_special();
    TEST_MAIN_END();
}
