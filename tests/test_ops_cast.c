/* Cast: every supported (source, target) pair on values all types hold,
 * then the edge semantics (truncation, saturation, wrap, bool, NaN) and
 * unsupported targets. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "nqtest.h"
#include "ops_testutil.h"

extern const nq_op_def nq_def_Cast;

typedef struct tinfo {
    nq_dtype dt;
    int onnx; /* TensorProto.DataType */
} tinfo;

static const tinfo types[] = {
    {NQ_DTYPE_FLOAT32, 1}, {NQ_DTYPE_FLOAT64, 11}, {NQ_DTYPE_INT8, 3},  {NQ_DTYPE_UINT8, 2},
    {NQ_DTYPE_INT16, 5},   {NQ_DTYPE_INT32, 6},    {NQ_DTYPE_INT64, 7}, {NQ_DTYPE_BOOL, 9},
};
#define NTYPES 8

static void put(nq_dtype dt, void *p, int64_t i, double v)
{
    switch (dt) { /* test-side only */
    case NQ_DTYPE_FLOAT32: ((float *)p)[i] = (float)v; break;
    case NQ_DTYPE_FLOAT64: ((double *)p)[i] = v; break;
    case NQ_DTYPE_INT8: ((int8_t *)p)[i] = (int8_t)v; break;
    case NQ_DTYPE_UINT8: case NQ_DTYPE_BOOL: ((uint8_t *)p)[i] = (uint8_t)v; break;
    case NQ_DTYPE_INT16: ((int16_t *)p)[i] = (int16_t)v; break;
    case NQ_DTYPE_INT32: ((int32_t *)p)[i] = (int32_t)v; break;
    case NQ_DTYPE_INT64: ((int64_t *)p)[i] = (int64_t)v; break;
    default: abort();
    }
}

static double get(nq_dtype dt, const void *p, int64_t i)
{
    switch (dt) {
    case NQ_DTYPE_FLOAT32: return ((const float *)p)[i];
    case NQ_DTYPE_FLOAT64: return ((const double *)p)[i];
    case NQ_DTYPE_INT8: return ((const int8_t *)p)[i];
    case NQ_DTYPE_UINT8: case NQ_DTYPE_BOOL: return ((const uint8_t *)p)[i];
    case NQ_DTYPE_INT16: return ((const int16_t *)p)[i];
    case NQ_DTYPE_INT32: return ((const int32_t *)p)[i];
    case NQ_DTYPE_INT64: return (double)((const int64_t *)p)[i];
    default: abort();
    }
}

static nq_status cast(const nq_tensor *x, int64_t to, nq_tensor *out, int threads,
                      nq_error *err)
{
    tnode nd;
    tn_init(&nd, "Cast");
    tn_int(&nd, "to", to);
    memset(out, 0, sizeof *out);
    return run_op_ex(&nq_def_Cast, &nd.node, 13, 1, x, 0, 1, out, threads, err);
}

static void test_all_pairs(void)
{
    const double vals[] = {0, 1, 2, 5, 100, 127, 0, 1};
    for (int s = 0; s < NTYPES; s++) {
        for (int d = 0; d < NTYPES; d++) {
            nq_tensor x, y;
            tt_make(&x, types[s].dt, 2, (const int64_t[]){2, 4}, NULL);
            for (int i = 0; i < 8; i++)
                put(types[s].dt, x.data, i,
                    types[s].dt == NQ_DTYPE_BOOL ? (vals[i] != 0) : vals[i]);
            nq_error err = {0};
            nq_status st = cast(&x, types[d].onnx, &y, 1, &err);
            if (st != NQ_OK) fprintf(stderr, "%s -> %s: %s\n", nq_dtype_name(types[s].dt),
                                     nq_dtype_name(types[d].dt), err.msg);
            CHECK(st == NQ_OK);
            if (st == NQ_OK) {
                CHECK(y.dtype == types[d].dt && y.ndim == 2 && y.dims[1] == 4);
                for (int i = 0; i < 8; i++) {
                    double in = get(x.dtype, x.data, i);
                    double e = types[d].dt == NQ_DTYPE_BOOL ? (in != 0) : in;
                    CHECK_NEAR(get(y.dtype, y.data, i), e, 0);
                }
            }
            nq_tensor_free(&x);
            nq_tensor_free(&y);
        }
    }
}

static void test_edges(void)
{
    nq_error err = {0};
    nq_tensor x, y;
    /* float -> int: truncation toward zero, saturation, NaN -> 0 */
    const float fv[] = {-2.7f, 2.7f, -0.5f, 300.0f, -300.0f, NAN, 1e20f, -1e20f, 127.9f};
    tt_make(&x, NQ_DTYPE_FLOAT32, 1, (const int64_t[]){9}, fv);
    CHECK_OK(cast(&x, 3, &y, 1, &err)); /* int8 */
    const int8_t e8[] = {-2, 2, 0, 127, -128, 0, 127, -128, 127};
    CHECK(memcmp(y.data, e8, sizeof e8) == 0);
    nq_tensor_free(&y);
    CHECK_OK(cast(&x, 2, &y, 1, &err)); /* uint8 */
    const uint8_t eu8[] = {0, 2, 0, 255, 0, 0, 255, 0, 127};
    CHECK(memcmp(y.data, eu8, sizeof eu8) == 0);
    nq_tensor_free(&y);
    CHECK_OK(cast(&x, 7, &y, 1, &err)); /* int64 */
    const int64_t *y64 = y.data;
    CHECK(y64[0] == -2 && y64[1] == 2 && y64[3] == 300 && y64[5] == 0);
    CHECK(y64[6] == INT64_MAX && y64[7] == INT64_MIN);
    nq_tensor_free(&y);
    CHECK_OK(cast(&x, 9, &y, 1, &err)); /* bool: NaN -> true */
    const uint8_t eb[] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    CHECK(memcmp(y.data, eb, sizeof eb) == 0);
    nq_tensor_free(&y);
    nq_tensor_free(&x);
    const float zeros[] = {0.0f, -0.0f, 1e-30f};
    tt_make(&x, NQ_DTYPE_FLOAT32, 1, (const int64_t[]){3}, zeros);
    CHECK_OK(cast(&x, 9, &y, 1, &err));
    const uint8_t ez[] = {0, 0, 1};
    CHECK(memcmp(y.data, ez, sizeof ez) == 0);
    nq_tensor_free(&y);
    nq_tensor_free(&x);

    /* integer narrowing wraps */
    const int32_t iv[] = {200, -129, 65536 + 7, -1};
    tt_make(&x, NQ_DTYPE_INT32, 1, (const int64_t[]){4}, iv);
    CHECK_OK(cast(&x, 3, &y, 1, &err));
    const int8_t ew[] = {-56, 127, 7, -1};
    CHECK(memcmp(y.data, ew, sizeof ew) == 0);
    nq_tensor_free(&y);
    CHECK_OK(cast(&x, 2, &y, 1, &err));
    const uint8_t ewu[] = {200, 127, 7, 255};
    CHECK(memcmp(y.data, ewu, sizeof ewu) == 0);
    nq_tensor_free(&y);
    nq_tensor_free(&x);
    const int64_t lv[] = {((int64_t)1 << 32) + 5, (int64_t)1 << 53, -3};
    tt_make(&x, NQ_DTYPE_INT64, 1, (const int64_t[]){3}, lv);
    CHECK_OK(cast(&x, 6, &y, 1, &err));
    CHECK(((int32_t *)y.data)[0] == 5 && ((int32_t *)y.data)[2] == -3);
    nq_tensor_free(&y);
    CHECK_OK(cast(&x, 11, &y, 1, &err));
    CHECK(((double *)y.data)[1] == 9007199254740992.0);
    nq_tensor_free(&y);
    nq_tensor_free(&x);

    /* float64 -> float32 rounds to nearest */
    const double dv[] = {0.1, 1e300, 16777217.0};
    tt_make(&x, NQ_DTYPE_FLOAT64, 1, (const int64_t[]){3}, dv);
    CHECK_OK(cast(&x, 1, &y, 1, &err));
    CHECK(((float *)y.data)[0] == 0.1f && isinf(((float *)y.data)[1]));
    CHECK(((float *)y.data)[2] == 16777216.0f);
    nq_tensor_free(&y);
    nq_tensor_free(&x);
}

static void test_unsupported(void)
{
    nq_error err = {0};
    nq_tensor x, y;
    const float fv[] = {1, 2};
    tt_make(&x, NQ_DTYPE_FLOAT32, 1, (const int64_t[]){2}, fv);
    CHECK(cast(&x, 10, &y, 1, &err) == NQ_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "FLOAT16") != NULL);
    CHECK(cast(&x, 8, &y, 1, &err) == NQ_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "STRING") != NULL);
    CHECK(cast(&x, 22, &y, 1, &err) == NQ_ERR_UNSUPPORTED);
    CHECK(cast(&x, 12, &y, 1, &err) == NQ_ERR_UNSUPPORTED);
    CHECK(cast(&x, 999, &y, 1, &err) == NQ_ERR_UNSUPPORTED);
    CHECK(cast(&x, -1, &y, 1, &err) == NQ_ERR_UNSUPPORTED);
    CHECK(cast(&x, 0, &y, 1, &err) == NQ_ERR_UNSUPPORTED);
    tnode nd;
    tn_init(&nd, "Cast");
    memset(&y, 0, sizeof y);
    CHECK(run_op(&nq_def_Cast, &nd.node, 13, 1, &x, 0, 1, &y, &err) == NQ_ERR_INVALID_ARG);
    CHECK(strstr(err.msg, "'to'") != NULL);
    /* Cast-1: `to` as a type name */
    tn_init(&nd, "Cast");
    nq_attr *a = tn_add(&nd, "to", NQ_ATTR_STRING);
    a->s = (char *)"INT32";
    CHECK_OK(run_op(&nq_def_Cast, &nd.node, 1, 1, &x, 0, 1, &y, &err));
    CHECK(y.dtype == NQ_DTYPE_INT32 && ((int32_t *)y.data)[1] == 2);
    nq_tensor_free(&y);
    a->s = (char *)"FLOAT16";
    CHECK(run_op(&nq_def_Cast, &nd.node, 1, 1, &x, 0, 1, &y, &err) == NQ_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "FLOAT16") != NULL);
    a->s = (char *)"NOPE";
    CHECK(run_op(&nq_def_Cast, &nd.node, 1, 1, &x, 0, 1, &y, &err) == NQ_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "NOPE") != NULL);
    nq_tensor_free(&x);
    const int8_t i4[] = {1, -2};
    tt_make(&x, NQ_DTYPE_INT4, 1, (const int64_t[]){2}, i4);
    CHECK(cast(&x, 1, &y, 1, &err) == NQ_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "int4") != NULL);
    nq_tensor_free(&x);
}

static void test_threads(void)
{
    const int64_t n = 300007;
    nq_tensor x, y;
    tt_make(&x, NQ_DTYPE_FLOAT32, 1, &n, NULL);
    unsigned seed = 1;
    float *xv = x.data;
    for (int64_t i = 0; i < n; i++) xv[i] = tt_rand(&seed, -1000, 1000);
    nq_error err = {0};
    CHECK_OK(cast(&x, 6, &y, 4, &err));
    int bad = 0;
    for (int64_t i = 0; i < n; i++) bad += ((int32_t *)y.data)[i] != (int32_t)truncf(xv[i]);
    CHECK(bad == 0);
    nq_tensor_free(&y);
    nq_tensor_free(&x);
}

int main(void)
{
    test_all_pairs();
    test_edges();
    test_unsupported();
    test_threads();
    TEST_MAIN_END();
}
