/* Quantizer (ai.nnquant, docs/quantizer.md): every row of the semantics
 * table per-tensor and per-channel, against values computed here (hand
 * ties: float rounds half to even, integer requantization half up), the
 * integer kernels of kernels.h element by element, fake quantization
 * against the true integer path, threads, and rejected inputs. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "nnquant/kernels.h"
#include "nnquant/run.h"
#include "nqtest.h"
#include "ops_testutil.h"

extern const nq_op_def nq_def_Quantizer;

/* ---- helpers ---- */

static void tn_str(tnode *t, const char *name, const char *v)
{
    tn_add(t, name, NQ_ATTR_STRING)->s = (char *)v;
}

/* Node attributes of one test; NULL / NAN / -1 mean absent. */
typedef struct qattrs {
    const char *to;
    int round;        /* -1: absent */
    float clip_min;   /* NAN: absent */
    float clip_max;
    int64_t axis;     /* INT64_MIN: absent */
    int single_shift; /* -1: absent */
} qattrs;

static qattrs qa(const char *to)
{
    qattrs a = {to, -1, NAN, NAN, INT64_MIN, -1};
    return a;
}

static void make_node(tnode *nd, const qattrs *a)
{
    tn_init(nd, "Quantizer");
    nd->node.domain = (char *)NQ_DOMAIN;
    if (a->to) tn_str(nd, "to", a->to);
    if (a->round >= 0) tn_int(nd, "round", a->round);
    if (!isnan(a->clip_min)) tn_float(nd, "clip_min", a->clip_min);
    if (!isnan(a->clip_max)) tn_float(nd, "clip_max", a->clip_max);
    if (a->axis != INT64_MIN) tn_int(nd, "axis", a->axis);
    if (a->single_shift >= 0) tn_int(nd, "single_shift", a->single_shift);
}

/* Runs the Quantizer on x and a float32 scale of ns values (ns == 0: a
 * scalar holding sc[0]); the scale is known at plan time when known != 0. */
static nq_status run_q(const qattrs *a, const nq_tensor *x, const float *sc, int64_t ns,
                       int known, int threads, nq_tensor *out, nq_error *err)
{
    tnode nd;
    make_node(&nd, a);
    nq_tensor in[2];
    in[0] = *x;
    in[0].owns_data = 0;
    const int64_t sd[1] = {ns};
    tt_make(&in[1], NQ_DTYPE_FLOAT32, ns ? 1 : 0, sd, sc);
    nq_status s = run_op_ex(&nq_def_Quantizer, &nd.node, 1, 2, in, known ? 3u : 1u, 1, out,
                            threads, err);
    nq_tensor_free(&in[1]);
    return s;
}

/* Runs and requires success, with the output's dtype and X's shape. */
static void run_ok(const qattrs *a, const nq_tensor *x, const float *sc, int64_t ns, int threads,
                   nq_dtype want, nq_tensor *out)
{
    nq_error err = {0};
    nq_status s = run_q(a, x, sc, ns, 1, threads, out, &err);
    if (s != NQ_OK) fprintf(stderr, "Quantizer: %s\n", err.msg);
    REQUIRE(s == NQ_OK);
    REQUIRE(out->dtype == want);
    REQUIRE(out->ndim == x->ndim);
    for (int i = 0; i < x->ndim; i++) REQUIRE(out->dims[i] == x->dims[i]);
}

/* Element i of any tensor, as int64 (integers) or exact float bits. */
static int64_t geti(const nq_tensor *t, int64_t i) { return (int64_t)nq_tensor_get(t, i); }

static void make_f32(nq_tensor *t, int ndim, const int64_t *dims, const float *v)
{
    tt_make(t, NQ_DTYPE_FLOAT32, ndim, dims, v);
}

static void make_rand_f32(nq_tensor *t, int ndim, const int64_t *dims, unsigned seed, float lo,
                          float hi)
{
    tt_make(t, NQ_DTYPE_FLOAT32, ndim, dims, NULL);
    float *x = t->data;
    for (int64_t i = 0; i < nq_tensor_numel(t); i++) x[i] = tt_rand(&seed, lo, hi);
}

/* Random integers of dtype dt in [lo, hi] (through nq_tensor_set). */
static void make_rand_int(nq_tensor *t, nq_dtype dt, int ndim, const int64_t *dims, unsigned seed,
                          double lo, double hi)
{
    tt_make(t, dt, ndim, dims, NULL);
    for (int64_t i = 0; i < nq_tensor_numel(t); i++) {
        double v = floor(lo + (hi - lo + 1) * (double)tt_rand(&seed, 0.0f, 1.0f));
        nq_tensor_set(t, i, v > hi ? hi : v);
    }
}

static int64_t count_diff(const nq_tensor *a, const nq_tensor *b)
{
    int64_t bad = 0;
    REQUIRE(a->dtype == b->dtype && nq_tensor_numel(a) == nq_tensor_numel(b));
    for (int64_t i = 0; i < nq_tensor_numel(a); i++)
        if (nq_tensor_get(a, i) != nq_tensor_get(b, i) && bad++ < 5)
            fprintf(stderr, "  [%lld]: %.9g vs %.9g\n", (long long)i, nq_tensor_get(a, i),
                    nq_tensor_get(b, i));
    return bad;
}

/* ---- float -> float ---- */

static void test_f2f_per_tensor(void)
{
    const float xv[] = {2.5f, -2.5f, 0.5f, 1.5f, 3.7f, -0.2f, 0.25f, -7.0f};
    const int64_t dims[] = {8};
    nq_tensor x, y;
    make_f32(&x, 1, dims, xv);
    const float one = 1.0f;
    /* round half to even (nearbyintf), no clip */
    qattrs a = qa(NULL);
    run_ok(&a, &x, &one, 0, 1, NQ_DTYPE_FLOAT32, &y);
    const float r1[] = {2, -2, 0, 2, 4, -0.0f, 0, -7};
    for (int i = 0; i < 8; i++) CHECK(((float *)y.data)[i] == r1[i]);
    nq_tensor_free(&y);
    /* scale 2, round, clip [-3, 5] */
    const float two = 2.0f;
    a = qa("float32");
    a.clip_min = -3;
    a.clip_max = 5;
    run_ok(&a, &x, &two, 1, 1, NQ_DTYPE_FLOAT32, &y); /* scale as a [1] tensor */
    const float r2[] = {5, -3, 1, 3, 5, 0, 0, -3}; /* 0.5*2=1, -0.4->-0, 0.25*2=0.5->0 */
    for (int i = 0; i < 8; i++) CHECK(((float *)y.data)[i] == r2[i]);
    nq_tensor_free(&y);
    /* pure scaling: round 0, only clip_max */
    const float q = 0.25f;
    a = qa("float32");
    a.round = 0;
    a.clip_max = 0.5f;
    run_ok(&a, &x, &q, 0, 1, NQ_DTYPE_FLOAT32, &y);
    for (int i = 0; i < 8; i++) {
        float e = xv[i] * 0.25f;
        CHECK(((float *)y.data)[i] == (e > 0.5f ? 0.5f : e));
    }
    nq_tensor_free(&y);
    nq_tensor_free(&x);
}

static void test_f2f_per_channel(void)
{
    /* [2, 3, 4], axis 1 (default) and axis -1 */
    const int64_t dims[] = {2, 3, 4};
    nq_tensor x, y;
    make_rand_f32(&x, 3, dims, 5u, -4, 4);
    const float *xv = x.data;
    const float s3[] = {1.0f, 2.0f, 0.5f}, s4[] = {3.0f, 1.0f, 0.25f, 8.0f};
    qattrs a = qa(NULL);
    a.clip_min = -5;
    a.clip_max = 6;
    run_ok(&a, &x, s3, 3, 1, NQ_DTYPE_FLOAT32, &y);
    int bad = 0;
    for (int64_t i = 0; i < 24; i++) {
        float e = nearbyintf(xv[i] * s3[(i / 4) % 3]);
        e = e < -5 ? -5 : e > 6 ? 6 : e;
        bad += ((float *)y.data)[i] != e;
    }
    CHECK(bad == 0);
    nq_tensor_free(&y);
    a = qa(NULL);
    a.axis = -1;
    a.round = 0;
    run_ok(&a, &x, s4, 4, 1, NQ_DTYPE_FLOAT32, &y);
    bad = 0;
    for (int64_t i = 0; i < 24; i++) bad += ((float *)y.data)[i] != xv[i] * s4[i % 4];
    CHECK(bad == 0);
    nq_tensor_free(&y);
    /* axis 0 */
    const float s2[] = {10.0f, 0.1f};
    a = qa(NULL);
    a.axis = 0;
    run_ok(&a, &x, s2, 2, 1, NQ_DTYPE_FLOAT32, &y);
    bad = 0;
    for (int64_t i = 0; i < 24; i++) bad += ((float *)y.data)[i] != nearbyintf(xv[i] * s2[i / 12]);
    CHECK(bad == 0);
    nq_tensor_free(&y);
    nq_tensor_free(&x);
}

/* ---- float -> integer ---- */

static void test_f2i_hand(void)
{
    const float xv[] = {0.5f, 1.5f, 2.5f, -2.5f, -0.5f, 200.0f, -200.0f, 6.5f, 7.5f, -8.4f, 3.49f};
    const int64_t dims[] = {11};
    nq_tensor x, y;
    make_f32(&x, 1, dims, xv);
    const float one = 1.0f;
    struct {
        const char *to;
        int64_t want[11];
    } cases[] = {
        {"int8", {0, 2, 2, -2, 0, 127, -128, 6, 8, -8, 3}},
        {"uint8", {0, 2, 2, 0, 0, 200, 0, 6, 8, 0, 3}},
        {"int16", {0, 2, 2, -2, 0, 200, -200, 6, 8, -8, 3}},
        {"int32", {0, 2, 2, -2, 0, 200, -200, 6, 8, -8, 3}},
        {"int64", {0, 2, 2, -2, 0, 200, -200, 6, 8, -8, 3}},
        {"int4", {0, 2, 2, -2, 0, 7, -8, 6, 7, -8, 3}},
        {"int3", {0, 2, 2, -2, 0, 3, -4, 3, 3, -4, 3}},
        {"int2", {0, 1, 1, -2, 0, 1, -2, 1, 1, -2, 1}},
        {"uint4", {0, 2, 2, 0, 0, 15, 0, 6, 8, 0, 3}},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        qattrs a = qa(cases[k].to);
        run_ok(&a, &x, &one, 0, 1, nq_dtype_from_name(cases[k].to), &y);
        int bad = 0;
        for (int i = 0; i < 11; i++)
            if (geti(&y, i) != cases[k].want[i] && bad++ < 3)
                fprintf(stderr, "%s: x=%g -> %lld, expected %lld\n", cases[k].to, xv[i],
                        (long long)geti(&y, i), (long long)cases[k].want[i]);
        CHECK(bad == 0);
        nq_tensor_free(&y);
    }
    /* x in [-1, 1] to int8 with s = 127; clip [-10.5, 20.2] -> [-10, 20] */
    const float xs[] = {-1.0f, 1.0f, 0.5f, -0.1f, 0.1f, 0.2f};
    const int64_t d6[] = {6};
    nq_tensor x6;
    make_f32(&x6, 1, d6, xs);
    const float s127 = 127.0f;
    qattrs a = qa("int8");
    run_ok(&a, &x6, &s127, 0, 1, NQ_DTYPE_INT8, &y);
    const int8_t w1[] = {-127, 127, 64, -13, 13, 25}; /* 63.5 -> 64 (even), 12.7, 25.4 */
    CHECK(memcmp(y.data, w1, 6) == 0);
    nq_tensor_free(&y);
    a.clip_min = -10.5f;
    a.clip_max = 20.2f;
    run_ok(&a, &x6, &s127, 0, 1, NQ_DTYPE_INT8, &y);
    const int8_t w2[] = {-10, 20, 20, -10, 13, 20};
    CHECK(memcmp(y.data, w2, 6) == 0);
    nq_tensor_free(&y);
    /* uint8 with clip_min beyond the type's min: stays 0 */
    a = qa("uint8");
    a.clip_min = -3;
    run_ok(&a, &x6, &s127, 0, 1, NQ_DTYPE_UINT8, &y);
    const uint8_t w3[] = {0, 127, 64, 0, 13, 25};
    CHECK(memcmp(y.data, w3, 6) == 0);
    nq_tensor_free(&y);
    nq_tensor_free(&x6);
    nq_tensor_free(&x);
}

/* The op equals nq_quantize_f32_* (per tensor and per channel) on random data. */
static void test_f2i_vs_kernels(void)
{
    const int64_t dims[] = {3, 5, 7, 11};
    const int64_t n = 3 * 5 * 7 * 11;
    nq_tensor x, y, e;
    make_rand_f32(&x, 4, dims, 17u, -1.5f, 1.5f);
    const float *xv = x.data;
    float sc[5];
    unsigned seed = 3u;
    for (int i = 0; i < 5; i++) sc[i] = tt_rand(&seed, 20.0f, 200.0f);
    for (int pc = 0; pc < 2; pc++) {
        const int64_t ns = pc ? 5 : 0;
        /* int8, clipped */
        qattrs a = qa("int8");
        a.clip_min = -100;
        a.clip_max = 90;
        run_ok(&a, &x, sc, ns, 1, NQ_DTYPE_INT8, &y);
        tt_make(&e, NQ_DTYPE_INT8, 4, dims, NULL);
        if (pc) nq_quantize_f32_s8_per_channel(xv, 3, 5, 77, sc, -100, 90, e.data);
        else nq_quantize_f32_s8(xv, n, sc[0], -100, 90, e.data);
        CHECK(count_diff(&y, &e) == 0);
        nq_tensor_free(&y);
        nq_tensor_free(&e);
        /* uint8 */
        a = qa("uint8");
        run_ok(&a, &x, sc, ns, 1, NQ_DTYPE_UINT8, &y);
        tt_make(&e, NQ_DTYPE_UINT8, 4, dims, NULL);
        if (pc) nq_quantize_f32_u8_per_channel(xv, 3, 5, 77, sc, 0, 255, e.data);
        else nq_quantize_f32_u8(xv, n, sc[0], 0, 255, e.data);
        CHECK(count_diff(&y, &e) == 0);
        nq_tensor_free(&y);
        nq_tensor_free(&e);
        /* int16 with a large scale */
        float big[5];
        for (int i = 0; i < 5; i++) big[i] = sc[i] * 100.0f;
        a = qa("int16");
        run_ok(&a, &x, big, ns, 1, NQ_DTYPE_INT16, &y);
        tt_make(&e, NQ_DTYPE_INT16, 4, dims, NULL);
        if (pc) nq_quantize_f32_s16_per_channel(xv, 3, 5, 77, big, INT16_MIN, INT16_MAX, e.data);
        else nq_quantize_f32_s16(xv, n, big[0], INT16_MIN, INT16_MAX, e.data);
        CHECK(count_diff(&y, &e) == 0);
        nq_tensor_free(&y);
        nq_tensor_free(&e);
        /* int32 with a huge scale (saturates) */
        for (int i = 0; i < 5; i++) big[i] = sc[i] * 2e7f;
        a = qa("int32");
        run_ok(&a, &x, big, ns, 1, NQ_DTYPE_INT32, &y);
        tt_make(&e, NQ_DTYPE_INT32, 4, dims, NULL);
        if (pc) nq_quantize_f32_s32_per_channel(xv, 3, 5, 77, big, INT32_MIN, INT32_MAX, e.data);
        else nq_quantize_f32_s32(xv, n, big[0], INT32_MIN, INT32_MAX, e.data);
        CHECK(count_diff(&y, &e) == 0);
        nq_tensor_free(&y);
        nq_tensor_free(&e);
        /* int4: the int8 kernel with range [-8, 7] */
        float small[5];
        for (int i = 0; i < 5; i++) small[i] = sc[i] / 20.0f;
        a = qa("int4");
        run_ok(&a, &x, small, ns, 1, NQ_DTYPE_INT4, &y);
        tt_make(&e, NQ_DTYPE_INT8, 4, dims, NULL);
        if (pc) nq_quantize_f32_s8_per_channel(xv, 3, 5, 77, small, -8, 7, e.data);
        else nq_quantize_f32_s8(xv, n, small[0], -8, 7, e.data);
        CHECK(memcmp(y.data, e.data, (size_t)n) == 0);
        int inrange = 1;
        for (int64_t i = 0; i < n; i++) inrange &= geti(&y, i) >= -8 && geti(&y, i) <= 7;
        CHECK(inrange);
        nq_tensor_free(&y);
        nq_tensor_free(&e);
    }
    nq_tensor_free(&x);
}

/* Fake quantization (float -> float, round, clip to the integer range) and
 * the true integer path give the same numbers: same formula. */
static void test_fake_equals_true(void)
{
    const int64_t dims[] = {4, 6, 9, 9};
    const int64_t n = 4 * 6 * 81;
    nq_tensor x, yf, yi;
    make_rand_f32(&x, 4, dims, 2024u, -2.0f, 2.0f);
    float sc[6];
    unsigned seed = 11u;
    for (int i = 0; i < 6; i++) sc[i] = tt_rand(&seed, 30.0f, 90.0f);
    struct {
        const char *to;
        float lo, hi, mul; /* mul: scales large enough that the clip is reached */
    } cases[] = {{"int8", -128, 127, 3},      {"uint8", 0, 255, 1}, {"int4", -8, 7, 0.1f},
                 {"int16", -32768, 32767, 1000}, {"int8", -50, 60, 1}};
    for (int pc = 0; pc < 2; pc++)
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
            const int64_t ns = pc ? 6 : 0;
            float s4[6];
            for (int i = 0; i < 6; i++) s4[i] = sc[i] * cases[k].mul;
            qattrs a = qa("float32");
            a.clip_min = cases[k].lo;
            a.clip_max = cases[k].hi;
            run_ok(&a, &x, s4, ns, 1, NQ_DTYPE_FLOAT32, &yf);
            a.to = cases[k].to;
            run_ok(&a, &x, s4, ns, 1, nq_dtype_from_name(cases[k].to), &yi);
            int64_t bad = 0, clipped = 0;
            for (int64_t i = 0; i < n; i++) {
                float f = ((float *)yf.data)[i];
                bad += f != (float)geti(&yi, i);
                clipped += f == cases[k].lo || f == cases[k].hi;
            }
            CHECK(bad == 0);
            if (!(clipped > 0 && clipped < n))
                fprintf(stderr, "%s pc=%d: %lld of %lld clipped\n", cases[k].to, pc,
                        (long long)clipped, (long long)n);
            CHECK(clipped > 0 && clipped < n); /* the clip was exercised */
            nq_tensor_free(&yf);
            nq_tensor_free(&yi);
        }
    nq_tensor_free(&x);
}

/* Float -> float on integral values requantizes as integer -> integer
 * does (ties half up), other values take the float product (ties half to
 * even), element by element; on random accumulators, fake quantization of
 * the integers as floats equals the integer path bit for bit. */
static void test_f2f_integral(void)
{
    const float xv[] = {5, -5, 3, -3, 7, 2.5f, -2.5f, 0, 1e10f, -6};
    const int64_t dims[] = {10};
    nq_tensor x, y;
    make_f32(&x, 1, dims, xv);
    const float half = 0.5f;
    qattrs a = qa("float32");
    a.clip_min = -100;
    a.clip_max = 100;
    run_ok(&a, &x, &half, 0, 1, NQ_DTYPE_FLOAT32, &y);
    /* 2.5 -> 3, -2.5 -> -2, 1.5 -> 2, -1.5 -> -1, 3.5 -> 4 (integers, half up);
     * 1.25 -> 1, -1.25 -> -1 (floats); 1e10 is beyond int32: float, then clipped */
    const float w[] = {3, -2, 2, -1, 4, 1, -1, 0, 100, -3};
    for (int i = 0; i < 10; i++) {
        if (((float *)y.data)[i] != w[i]) fprintf(stderr, "f2f integral [%d]: %g, expected %g\n", i, ((float *)y.data)[i], w[i]);
        CHECK(((float *)y.data)[i] == w[i]);
    }
    nq_tensor_free(&y);
    nq_tensor_free(&x);

    const int64_t d4[] = {3, 5, 7, 11};
    const int64_t n = 3 * 5 * 7 * 11;
    nq_tensor xi, xf, yf, yi;
    make_rand_int(&xi, NQ_DTYPE_INT32, 4, d4, 77u, -300000, 300000);
    for (int64_t i = 0; i < n; i += 3) nq_tensor_set(&xi, i, 2160.0 * (double)(2 * ((i / 3) % 11) - 11));
    tt_make(&xf, NQ_DTYPE_FLOAT32, 4, d4, NULL);
    for (int64_t i = 0; i < n; i++) ((float *)xf.data)[i] = (float)geti(&xi, i);
    float sc[5];
    unsigned seed = 5u;
    for (int k = 0; k < 5; k++) sc[k] = tt_rand(&seed, 1e-4f, 1e-3f);
    sc[0] = 23.0f / 4320.0f; /* 2160 * odd * sc[0] rounds to an exact half in float32 */
    for (int pc = 0; pc < 2; pc++) {
        qattrs b = qa("float32");
        b.clip_min = -128;
        b.clip_max = 127;
        if (pc) b.axis = 1;
        run_ok(&b, &xf, sc, pc ? 5 : 0, 1, NQ_DTYPE_FLOAT32, &yf);
        b.to = "int8";
        run_ok(&b, &xi, sc, pc ? 5 : 0, 1, NQ_DTYPE_INT8, &yi);
        int64_t bad = 0;
        for (int64_t i = 0; i < n; i++) bad += ((float *)yf.data)[i] != (float)geti(&yi, i);
        CHECK(bad == 0);
        nq_tensor_free(&yf);
        nq_tensor_free(&yi);
    }
    nq_tensor_free(&xi);
    nq_tensor_free(&xf);
}

/* ---- integer -> integer ---- */

static void test_i2i_hand(void)
{
    /* ties round half up (toward +inf) */
    const int32_t xv[] = {1, 3, 5, -1, -3, -5, 6, -6, 1000, -1000, 7, 0};
    const int64_t dims[] = {12};
    nq_tensor x, y;
    tt_make(&x, NQ_DTYPE_INT32, 1, dims, xv);
    const float half = 0.5f;
    qattrs a = qa("int8");
    run_ok(&a, &x, &half, 0, 1, NQ_DTYPE_INT8, &y);
    const int8_t w1[] = {1, 2, 3, 0, -1, -2, 3, -3, 127, -128, 4, 0};
    CHECK(memcmp(y.data, w1, 12) == 0);
    nq_tensor_free(&y);
    /* single shift: 0.25 = 2^-2 */
    const float quarter = 0.25f;
    a.single_shift = 1;
    run_ok(&a, &x, &quarter, 0, 1, NQ_DTYPE_INT8, &y);
    const int8_t w2[] = {0, 1, 1, 0, -1, -1, 2, -1, 127, -128, 2, 0}; /* 6/4=1.5->2, -1.5->-1 */
    CHECK(memcmp(y.data, w2, 12) == 0);
    nq_tensor_free(&y);
    /* single shift, left: 4 = 2^2, int16 output, clip [-20, 30] */
    const float four = 4.0f;
    a = qa("int16");
    a.single_shift = 1;
    a.clip_min = -20.5f;
    a.clip_max = 30.9f;
    run_ok(&a, &x, &four, 0, 1, NQ_DTYPE_INT16, &y);
    const int16_t w3[] = {4, 12, 20, -4, -12, -20, 24, -20, 30, -20, 28, 0};
    CHECK(memcmp(y.data, w3, sizeof w3) == 0);
    nq_tensor_free(&y);
    /* uint8 and int4 */
    a = qa("uint8");
    run_ok(&a, &x, &half, 0, 1, NQ_DTYPE_UINT8, &y);
    const uint8_t w4[] = {1, 2, 3, 0, 0, 0, 3, 0, 255, 0, 4, 0};
    CHECK(memcmp(y.data, w4, 12) == 0);
    nq_tensor_free(&y);
    a = qa("int4");
    run_ok(&a, &x, &half, 0, 1, NQ_DTYPE_INT4, &y);
    const int8_t w5[] = {1, 2, 3, 0, -1, -2, 3, -3, 7, -8, 4, 0};
    CHECK(memcmp(y.data, w5, 12) == 0);
    nq_tensor_free(&y);
    nq_tensor_free(&x);
    /* int8 input, per channel [2, 3] axis 1, scales {0.5, 0.25, 3} -> int32 */
    const int8_t x8[] = {3, -6, 5, -128, 127, -43};
    const int64_t d2[] = {2, 3};
    tt_make(&x, NQ_DTYPE_INT8, 2, d2, x8);
    const float s3[] = {0.5f, 0.25f, 3.0f};
    a = qa("int32");
    run_ok(&a, &x, s3, 3, 1, NQ_DTYPE_INT32, &y);
    const int32_t w6[] = {2, -1, 15, -64, 32, -129}; /* 1.5->2, -1.5->-1, 127/4=31.75->32 */
    CHECK(memcmp(y.data, w6, sizeof w6) == 0);
    nq_tensor_free(&y);
    nq_tensor_free(&x);
}

/* y[i] == nq_requant_apply(x[i], r[c], lo, hi) for random data, every input
 * dtype, several outputs, per tensor and per channel (pc 1: [2, 4, 3, 37]
 * on axis 1; pc 2: [222, 4] on the last axis, as after a fully connected
 * layer), with and without single shift. */
static void check_requant(nq_dtype src, double xlo, double xhi, const char *to, int single,
                          int pc, float clip_lo, float clip_hi, unsigned seed)
{
    const int64_t dims[] = {2, 4, 3, 37}, dims_last[] = {222, 4};
    nq_tensor x, y;
    if (pc == 2) make_rand_int(&x, src, 2, dims_last, seed, xlo, xhi);
    else make_rand_int(&x, src, 4, dims, seed, xlo, xhi);
    float sc[4];
    for (int i = 0; i < 4; i++) {
        float s = tt_rand(&seed, 1e-4f, 2.0f);
        sc[i] = single ? ldexpf(1.0f, (int)floorf(tt_rand(&seed, -20.0f, 4.0f))) : s;
    }
    qattrs a = qa(to);
    a.single_shift = single;
    a.clip_min = clip_lo;
    a.clip_max = clip_hi;
    run_ok(&a, &x, sc, pc ? 4 : 0, 1, nq_dtype_from_name(to), &y);
    int64_t tmin, tmax;
    nq_dtype_int_range(y.dtype, &tmin, &tmax);
    int32_t lo = (int32_t)tmin, hi = (int32_t)tmax;
    if (!isnan(clip_lo) && ceilf(clip_lo) > lo) lo = (int32_t)ceilf(clip_lo);
    if (!isnan(clip_hi) && floorf(clip_hi) < hi) hi = (int32_t)floorf(clip_hi);
    int64_t bad = 0, n = nq_tensor_numel(&x);
    for (int64_t i = 0; i < n; i++) {
        float s = sc[pc == 2 ? i % 4 : pc ? (i / 111) % 4 : 0];
        nq_requant r = nq_requant_from_scale(s);
        int64_t e = nq_requant_apply(geti(&x, i), r, lo, hi);
        if (single) {
            int ex;
            frexpf(s, &ex);
            int64_t e2 = nq_requant_apply(geti(&x, i), nq_requant_from_shift(1 - ex), lo, hi);
            bad += e2 != e; /* a power of two: both forms agree */
        }
        if (geti(&y, i) != e && bad++ < 5)
            fprintf(stderr, "%s->%s: x=%lld s=%g -> %lld, expected %lld\n", nq_dtype_name(src), to,
                    (long long)geti(&x, i), s, (long long)geti(&y, i), (long long)e);
    }
    CHECK(bad == 0);
    nq_tensor_free(&y);
    nq_tensor_free(&x);
}

static void test_i2i_vs_apply(void)
{
    const char *outs[] = {"int8", "uint8", "int16", "int32", "int4", "uint4", "int2"};
    unsigned seed = 1000u;
    for (int pc = 0; pc < 3; pc++)
        for (int single = 0; single < 2; single++)
            for (size_t k = 0; k < sizeof outs / sizeof outs[0]; k++) {
                check_requant(NQ_DTYPE_INT32, -1e6, 1e6, outs[k], single, pc, NAN, NAN, seed++);
                check_requant(NQ_DTYPE_INT32, INT32_MIN, INT32_MAX, outs[k], single, pc, NAN, NAN,
                              seed++);
                check_requant(NQ_DTYPE_INT64, -1e12, 1e12, outs[k], single, pc, NAN, NAN, seed++);
                check_requant(NQ_DTYPE_INT64, -3e3, 3e3, outs[k], single, pc, -5.5f, 40.0f,
                              seed++);
                check_requant(NQ_DTYPE_INT8, -128, 127, outs[k], single, pc, NAN, NAN, seed++);
                check_requant(NQ_DTYPE_UINT8, 0, 255, outs[k], single, pc, NAN, 9.0f, seed++);
                check_requant(NQ_DTYPE_INT16, -32768, 32767, outs[k], single, pc, NAN, NAN,
                              seed++);
                check_requant(NQ_DTYPE_INT4, -8, 7, outs[k], single, pc, NAN, NAN, seed++);
                check_requant(NQ_DTYPE_UINT4, 0, 15, outs[k], single, pc, NAN, NAN, seed++);
            }
}

/* ---- integer -> float ---- */

static void test_i2f(void)
{
    const int8_t x8[] = {-128, -1, 0, 1, 64, 127};
    const int64_t d[] = {2, 3};
    nq_tensor x, y;
    tt_make(&x, NQ_DTYPE_INT8, 2, d, x8);
    const float s = 1.0f / 127.0f;
    qattrs a = qa(NULL); /* round defaults to 0 for dequantization */
    run_ok(&a, &x, &s, 0, 1, NQ_DTYPE_FLOAT32, &y);
    float e[6];
    nq_dequantize_s8_f32(x8, 6, s, e);
    CHECK(memcmp(y.data, e, sizeof e) == 0);
    CHECK(((float *)y.data)[5] == 127.0f * s);
    nq_tensor_free(&y);
    /* explicit round=0, clip, per channel on axis 1 */
    const float s3[] = {0.5f, 2.0f, 0.1f};
    a.round = 0;
    a.clip_min = -10;
    a.clip_max = 100;
    run_ok(&a, &x, s3, 3, 1, NQ_DTYPE_FLOAT32, &y);
    const float w[] = {-10, -2, 0, 0.5f, 100, 127.0f * 0.1f};
    CHECK(memcmp(y.data, w, sizeof w) == 0);
    nq_tensor_free(&y);
    nq_tensor_free(&x);
    /* every integer input dtype, per tensor and per channel */
    const nq_dtype srcs[] = {NQ_DTYPE_INT8, NQ_DTYPE_UINT8, NQ_DTYPE_INT16, NQ_DTYPE_INT32,
                             NQ_DTYPE_INT64, NQ_DTYPE_INT4, NQ_DTYPE_UINT4, NQ_DTYPE_INT2};
    const int64_t dims[] = {3, 4, 5};
    const float sc[] = {0.013f, 3.5f, 1e-3f, 0.75f};
    for (size_t k = 0; k < sizeof srcs / sizeof srcs[0]; k++)
        for (int pc = 0; pc < 2; pc++) {
            int64_t lo, hi;
            nq_dtype_int_range(srcs[k], &lo, &hi);
            if (srcs[k] == NQ_DTYPE_INT64) lo = -((int64_t)1 << 40), hi = (int64_t)1 << 40;
            make_rand_int(&x, srcs[k], 3, dims, 77u + (unsigned)k, (double)lo, (double)hi);
            a = qa("float32");
            a.round = 0;
            run_ok(&a, &x, sc, pc ? 4 : 0, 1, NQ_DTYPE_FLOAT32, &y);
            int bad = 0;
            for (int64_t i = 0; i < 60; i++) {
                float ev = (float)geti(&x, i) * sc[pc ? (i / 5) % 4 : 0];
                bad += ((float *)y.data)[i] != ev;
            }
            CHECK(bad == 0);
            nq_tensor_free(&y);
            nq_tensor_free(&x);
        }
}

/* ---- threads, shapes, registry ---- */

static void test_threads(void)
{
    const int64_t dims[] = {3, 7, 101, 97}; /* ~205k elements */
    nq_tensor x, xi, y1, y4;
    make_rand_f32(&x, 4, dims, 9u, -3, 3);
    make_rand_int(&xi, NQ_DTYPE_INT32, 4, dims, 10u, -1e5, 1e5);
    float sc[7];
    unsigned seed = 5u;
    for (int i = 0; i < 7; i++) sc[i] = tt_rand(&seed, 0.001f, 50.0f);
    const char *tos[] = {"float32", "int8", "int4"};
    for (int pc = 0; pc < 2; pc++) {
        for (int k = 0; k < 3; k++) {
            qattrs a = qa(tos[k]);
            run_ok(&a, &x, sc, pc ? 7 : 0, 1, nq_dtype_from_name(tos[k]), &y1);
            run_ok(&a, &x, sc, pc ? 7 : 0, 4, nq_dtype_from_name(tos[k]), &y4);
            CHECK(count_diff(&y1, &y4) == 0);
            nq_tensor_free(&y1);
            nq_tensor_free(&y4);
        }
        qattrs a = qa("int16");
        run_ok(&a, &xi, sc, pc ? 7 : 0, 1, NQ_DTYPE_INT16, &y1);
        run_ok(&a, &xi, sc, pc ? 7 : 0, 3, NQ_DTYPE_INT16, &y4);
        CHECK(count_diff(&y1, &y4) == 0);
        nq_tensor_free(&y1);
        nq_tensor_free(&y4);
    }
    nq_tensor_free(&x);
    nq_tensor_free(&xi);
}

static void test_shapes(void)
{
    nq_tensor x, y;
    /* a scalar X, per-tensor */
    const float v = 2.5f, s = 3.0f;
    make_f32(&x, 0, NULL, &v);
    qattrs a = qa("int8");
    run_ok(&a, &x, &s, 0, 1, NQ_DTYPE_INT8, &y);
    CHECK(y.ndim == 0 && geti(&y, 0) == 8); /* 7.5 -> 8 (even) */
    nq_tensor_free(&y);
    nq_tensor_free(&x);
    /* an empty X, per channel */
    const int64_t d0[] = {0, 3};
    tt_make(&x, NQ_DTYPE_FLOAT32, 2, d0, NULL);
    const float s3[] = {1, 2, 3};
    run_ok(&a, &x, s3, 3, 1, NQ_DTYPE_INT8, &y);
    CHECK(nq_tensor_numel(&y) == 0);
    nq_tensor_free(&y);
    nq_tensor_free(&x);
    /* channel axis last with inner size 1 ([N, F] activations) */
    const int64_t d2[] = {5, 3};
    make_rand_int(&x, NQ_DTYPE_INT32, 2, d2, 4u, -1000, 1000);
    a = qa("int8");
    a.axis = 1;
    const float s3b[] = {0.1f, 0.02f, 0.5f};
    run_ok(&a, &x, s3b, 3, 1, NQ_DTYPE_INT8, &y);
    int bad = 0;
    for (int64_t i = 0; i < 15; i++)
        bad += geti(&y, i) !=
               nq_requant_apply(geti(&x, i), nq_requant_from_scale(s3b[i % 3]), -128, 127);
    CHECK(bad == 0);
    nq_tensor_free(&y);
    nq_tensor_free(&x);
}

static void test_registry(void)
{
    int id = nq_op_find(NQ_DOMAIN, "Quantizer");
    CHECK(id == NQ_OP_Quantizer);
    CHECK(nq_op_get(id) == &nq_def_Quantizer);
    CHECK(nq_op_find("", "Quantizer") == -1);
    CHECK(nq_op_find("ai.onnx", "Quantizer") == -1);
}

/* ---- in a graph: quantize -> requantize (per channel, scratch) -> dequantize ---- */

static nq_node *add_quantizer(nq_graph *g, int x, int scale, int y, const char *to, int round)
{
    const int in[2] = {x, scale};
    nq_node *n = nq_graph_add_node(g, "Quantizer", NULL, 2, in, 1, &y, NULL);
    REQUIRE(n != NULL);
    char *dom = malloc(sizeof NQ_DOMAIN);
    REQUIRE(dom != NULL);
    memcpy(dom, NQ_DOMAIN, sizeof NQ_DOMAIN);
    free(n->domain);
    n->domain = dom;
    REQUIRE(nq_node_set_string(n, "to", to) == NQ_OK);
    if (round >= 0) REQUIRE(nq_node_set_int(n, "round", round) == NQ_OK);
    return n;
}

static int add_scale(nq_graph *g, const char *name, int64_t ns, const float *v)
{
    nq_tensor t; /* its data moves into the graph */
    tt_make(&t, NQ_DTYPE_FLOAT32, 1, &ns, v);
    int id = nq_graph_add_initializer(g, name, &t, NULL);
    REQUIRE(id >= 0);
    return id;
}

static void test_graph_chain(void)
{
    const int64_t dims[] = {2, 3, 5};
    const float sq[] = {60.0f, 100.0f, 25.0f};   /* float -> int8 */
    const float sr[] = {0.06f, 0.05f, 0.3f};     /* int8 -> int4 */
    const float sd[] = {0.25f, 0.2f, 0.125f};    /* int4 -> float */
    nq_graph *g = nq_graph_create("quantizer_chain");
    REQUIRE(g != NULL);
    REQUIRE(nq_graph_set_opset(g, NQ_DOMAIN, 1, NULL) == NQ_OK);
    int x = nq_graph_add_value(g, "x", NULL);
    REQUIRE(x >= 0);
    g->values[x]->dtype = NQ_DTYPE_FLOAT32;
    g->values[x]->ndim = 3;
    memcpy(g->values[x]->dims, dims, sizeof dims);
    REQUIRE(nq_graph_add_input(g, x, NULL) == NQ_OK);
    int q = nq_graph_add_value(g, "q", NULL), r = nq_graph_add_value(g, "r", NULL);
    int y = nq_graph_add_value(g, "y", NULL);
    add_quantizer(g, x, add_scale(g, "sq", 3, sq), q, "int8", -1);
    add_quantizer(g, q, add_scale(g, "sr", 3, sr), r, "int4", -1);
    add_quantizer(g, r, add_scale(g, "sd", 3, sd), y, "float32", 0);
    REQUIRE(nq_graph_add_output(g, y, NULL) == NQ_OK);

    nq_tensor in, out = {0};
    make_rand_f32(&in, 3, dims, 8u, -1.2f, 1.2f);
    nq_error err = {0};
    nq_session *s = NULL;
    nq_session_opts opts = {.num_threads = 1};
    nq_status st = nq_session_create(g, &opts, &s, &err);
    if (st == NQ_OK) st = nq_session_run(s, &in, 1, &out, 1, &err);
    if (st != NQ_OK) fprintf(stderr, "graph: %s\n", err.msg);
    CHECK(st == NQ_OK);
    if (st == NQ_OK) {
        CHECK(out.dtype == NQ_DTYPE_FLOAT32 && nq_tensor_numel(&out) == 30);
        int bad = 0;
        for (int64_t i = 0; i < 30; i++) {
            int64_t c = (i / 5) % 3;
            float v = nearbyintf(((float *)in.data)[i] * sq[c]);
            int64_t qi = v < -128 ? -128 : v > 127 ? 127 : (int64_t)v;
            int64_t ri = nq_requant_apply(qi, nq_requant_from_scale(sr[c]), -8, 7);
            bad += ((float *)out.data)[i] != (float)ri * sd[c];
        }
        CHECK(bad == 0);
    }
    nq_session_free(s);
    nq_tensor_free(&out);
    nq_tensor_free(&in);
    nq_graph_free(g);
}

/* ---- rejected inputs ---- */

static nq_status run_err(const qattrs *a, const nq_tensor *x, const float *sc, int64_t ns,
                         int known, const char *want_in_msg)
{
    nq_error err = {0};
    nq_tensor y = {0};
    nq_status s = run_q(a, x, sc, ns, known, 1, &y, &err);
    if (s != NQ_OK && want_in_msg && strstr(err.msg, want_in_msg) == NULL) {
        fprintf(stderr, "message '%s' lacks '%s'\n", err.msg, want_in_msg);
        s = NQ_ERR_INTERNAL;
    }
    if (y.owns_data) nq_tensor_free(&y);
    return s;
}

static void test_errors(void)
{
    const int64_t d[] = {2, 3, 4};
    nq_tensor x, xi;
    make_rand_f32(&x, 3, d, 1u, -1, 1);
    make_rand_int(&xi, NQ_DTYPE_INT32, 3, d, 2u, -100, 100);
    const float one = 1.0f, s3[] = {1, 2, 3}, s4[] = {1, 2, 3, 4};
    qattrs a = qa("int8");
    CHECK(run_err(&a, &x, &one, 0, 1, NULL) == NQ_OK);
    /* scale not known at plan time */
    CHECK(run_err(&a, &x, &one, 0, 0, "plan time") == NQ_ERR_UNSUPPORTED);
    /* bad scale values */
    const float neg = -2.0f, zero = 0.0f, inf = INFINITY, nan = NAN;
    CHECK(run_err(&a, &x, &neg, 0, 1, "positive finite") == NQ_ERR_INVALID_ARG);
    CHECK(run_err(&a, &x, &zero, 0, 1, "positive finite") == NQ_ERR_INVALID_ARG);
    CHECK(run_err(&a, &x, &inf, 0, 1, "positive finite") == NQ_ERR_INVALID_ARG);
    CHECK(run_err(&a, &x, &nan, 0, 1, "positive finite") == NQ_ERR_INVALID_ARG);
    const float s3neg[] = {1, -1, 2};
    CHECK(run_err(&a, &x, s3neg, 3, 1, "scale[1]") == NQ_ERR_INVALID_ARG);
    /* per-channel size */
    CHECK(run_err(&a, &x, s3, 3, 1, NULL) == NQ_OK);
    CHECK(run_err(&a, &x, s4, 4, 1, "per-channel scale has 4") == NQ_ERR_SHAPE);
    a.axis = 2;
    CHECK(run_err(&a, &x, s4, 4, 1, NULL) == NQ_OK);
    CHECK(run_err(&a, &x, s3, 3, 1, "along axis 2") == NQ_ERR_SHAPE);
    a.axis = 3;
    CHECK(run_err(&a, &x, s3, 3, 1, "out of range") == NQ_ERR_INVALID_ARG);
    a.axis = -3;
    CHECK(run_err(&a, &x, s3, 2, 1, NULL) == NQ_OK);
    /* round=0 with an integer output (float and integer input) */
    a = qa("int8");
    a.round = 0;
    CHECK(run_err(&a, &x, &one, 0, 1, "round=0") == NQ_ERR_INVALID_ARG);
    CHECK(run_err(&a, &xi, &one, 0, 1, "round=0") == NQ_ERR_INVALID_ARG);
    /* round=1 with dequantization */
    a = qa("float32");
    a.round = 1;
    CHECK(run_err(&a, &xi, &one, 0, 1, "round=1") == NQ_ERR_INVALID_ARG);
    a.round = 2;
    CHECK(run_err(&a, &x, &one, 0, 1, "'round'") == NQ_ERR_INVALID_ARG);
    /* `to` */
    a = qa("int9");
    CHECK(run_err(&a, &x, &one, 0, 1, "int9") == NQ_ERR_INVALID_ARG);
    a = qa("int64"); /* from a float only (biases of int64 accumulators) */
    CHECK(run_err(&a, &xi, &one, 0, 1, "int64") == NQ_ERR_UNSUPPORTED);
    a = qa("float64");
    CHECK(run_err(&a, &x, &one, 0, 1, NULL) == NQ_ERR_UNSUPPORTED);
    a = qa("bool");
    CHECK(run_err(&a, &xi, &one, 0, 1, NULL) == NQ_ERR_UNSUPPORTED);
    /* clip range */
    a = qa("int8");
    a.clip_min = 5;
    a.clip_max = 4;
    CHECK(run_err(&a, &x, &one, 0, 1, "clip_min") == NQ_ERR_INVALID_ARG);
    a.clip_min = 200;
    a.clip_max = 300;
    CHECK(run_err(&a, &x, &one, 0, 1, "holds no value") == NQ_ERR_INVALID_ARG);
    a.clip_min = 2.2f;
    a.clip_max = 2.8f;
    CHECK(run_err(&a, &x, &one, 0, 1, "holds no value") == NQ_ERR_INVALID_ARG);
    /* single_shift with a scale that is not a power of two; shifts out of range */
    a = qa("int8");
    a.single_shift = 1;
    const float s3p2[] = {0.5f, 0.25f, 0.3f};
    CHECK(run_err(&a, &xi, s3p2, 3, 1, "power of two") == NQ_ERR_INVALID_ARG);
    const float tiny = ldexpf(1.0f, -70);
    CHECK(run_err(&a, &xi, &tiny, 0, 1, "shift") == NQ_ERR_UNSUPPORTED);
    /* requantization factor too large */
    a = qa("int32");
    const float huge = 2e9f;
    CHECK(run_err(&a, &xi, &huge, 0, 1, "too large") == NQ_ERR_UNSUPPORTED);
    CHECK(run_err(&a, &x, &huge, 0, 1, NULL) == NQ_OK); /* float input: no fixed point */
    nq_tensor_free(&xi);
    /* input and scale dtypes, scale rank */
    tt_make(&xi, NQ_DTYPE_FLOAT64, 3, d, NULL);
    CHECK(run_err(&a, &xi, &one, 0, 1, "float64") == NQ_ERR_UNSUPPORTED);
    nq_tensor_free(&xi);
    {
        tnode nd;
        qattrs q = qa("int8");
        make_node(&nd, &q);
        nq_tensor in[2], out[1] = {{0}};
        in[0] = x;
        in[0].owns_data = 0;
        const int32_t si = 3;
        tt_make(&in[1], NQ_DTYPE_INT32, 0, NULL, &si);
        nq_error err = {0};
        CHECK(run_op(&nq_def_Quantizer, &nd.node, 1, 2, in, 3u, 1, out, &err) ==
              NQ_ERR_INVALID_ARG);
        CHECK(strstr(err.msg, "float32") != NULL);
        nq_tensor_free(&in[1]);
        const int64_t d2[] = {3, 1};
        const float s31[] = {1, 2, 3};
        tt_make(&in[1], NQ_DTYPE_FLOAT32, 2, d2, s31);
        CHECK(run_op(&nq_def_Quantizer, &nd.node, 1, 2, in, 3u, 1, out, &err) == NQ_ERR_SHAPE);
        nq_tensor_free(&in[1]);
        /* one input only */
        CHECK(run_op(&nq_def_Quantizer, &nd.node, 1, 1, in, 1u, 1, out, &err) ==
              NQ_ERR_INVALID_ARG);
        /* `to` given as an integer */
        tnode nd2;
        tn_init(&nd2, "Quantizer");
        tn_int(&nd2, "to", 3);
        tt_make(&in[1], NQ_DTYPE_FLOAT32, 0, NULL, &one);
        CHECK(run_op(&nq_def_Quantizer, &nd2.node, 1, 2, in, 3u, 1, out, &err) ==
              NQ_ERR_INVALID_ARG);
        nq_tensor_free(&in[1]);
    }
    nq_tensor_free(&x);
}

int main(void)
{
    test_registry();
    test_f2f_per_tensor();
    test_f2f_per_channel();
    test_f2i_hand();
    test_f2i_vs_kernels();
    test_fake_equals_true();
    test_f2f_integral();
    test_i2i_hand();
    test_i2i_vs_apply();
    test_i2f();
    test_threads();
    test_shapes();
    test_graph_chain();
    test_errors();
    TEST_MAIN_END();
}
