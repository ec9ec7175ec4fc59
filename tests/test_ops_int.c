/* The integer paths of Conv, Gemm, MatMul, MaxPool, GlobalMaxPool, Relu,
 * ReduceSum and Clip (src/ops/int_ops.h), bit-exact against scalar
 * references written here in int64: random shapes and geometries (1-D to
 * 3-D, groups, depthwise with channel multipliers, strides, pads,
 * dilations, auto_pad, ceil_mode, threads), int8 / uint8 / int16 inputs
 * and int4 / uint4 ranges, int8 / int4 / int16 weights, int32 and int64
 * accumulation; Conv on integer-valued floats through the float Conv gives
 * the same numbers; dtype and shape errors. */
#include <string.h>

#include "nnquant/ops.h"
#include "nqtest.h"
#include "ops_testutil.h"

extern const nq_op_def nq_def_Conv, nq_def_Gemm, nq_def_MatMul, nq_def_MaxPool,
    nq_def_GlobalMaxPool, nq_def_Relu, nq_def_ReduceSum, nq_def_Clip, nq_def_Add;

static unsigned rng = 4242u;
static int64_t irand(int64_t lo, int64_t hi)
{
    rng = rng * 1664525u + 1013904223u;
    uint64_t r = ((uint64_t)(rng >> 8) << 24) ^ (rng * 2654435761u >> 8);
    return lo + (int64_t)(r % (uint64_t)(hi - lo + 1));
}

/* Tensor of dtype dt filled with random integers in [lo, hi]. */
static void tt_rand_int(nq_tensor *t, nq_dtype dt, int ndim, const int64_t *dims, int64_t lo,
                        int64_t hi)
{
    tt_make(t, dt, ndim, dims, NULL);
    for (int64_t i = 0; i < nq_tensor_numel(t); i++) nq_tensor_set(t, i, (double)irand(lo, hi));
}

/* Element i of an integer tensor, exactly. */
static int64_t iget(const nq_tensor *t, int64_t i)
{
    switch (t->dtype) {
    case NQ_DTYPE_INT2:
    case NQ_DTYPE_INT3:
    case NQ_DTYPE_INT4:
    case NQ_DTYPE_INT8: return ((const int8_t *)t->data)[i];
    case NQ_DTYPE_UINT4:
    case NQ_DTYPE_UINT8: return ((const uint8_t *)t->data)[i];
    case NQ_DTYPE_INT16: return ((const int16_t *)t->data)[i];
    case NQ_DTYPE_INT32: return ((const int32_t *)t->data)[i];
    case NQ_DTYPE_INT64: return ((const int64_t *)t->data)[i];
    default: abort();
    }
}

static int64_t *to_i64(const nq_tensor *t)
{
    int64_t n = nq_tensor_numel(t);
    int64_t *v = malloc(sizeof(int64_t) * (size_t)(n + 1));
    REQUIRE(v != NULL);
    for (int64_t i = 0; i < n; i++) v[i] = iget(t, i);
    return v;
}

static void tn_str(tnode *t, const char *name, const char *v)
{
    tn_add(t, name, NQ_ATTR_STRING)->s = (char *)v;
}

/* Value range used for a dtype in the tests (int16 narrowed when sums
 * must fit in int32). */
static void dt_range(nq_dtype dt, int narrow16, int64_t *lo, int64_t *hi)
{
    nq_dtype_int_range(dt, lo, hi);
    if (dt == NQ_DTYPE_INT16 && narrow16) *lo = -700, *hi = 700;
}

/* ==================================================================== */
/* Conv                                                                  */
/* ==================================================================== */

typedef struct cfg {
    int nsp, autopad; /* 0 NOTSET, 1 SAME_UPPER, 2 SAME_LOWER, 3 VALID */
    int64_t N, C, M, group, in[3], k[3], s[3], d[3], pb[3], pe[3];
    int bias, threads, acc64;
    nq_dtype xdt, wdt, bdt;
} cfg;

static int64_t out_size(cfg *f, int i)
{
    return tt_window_out(f->in[i], f->k[i], f->s[i], f->d[i], f->autopad, 0, &f->pb[i], &f->pe[i]);
}

/* Direct convolution in int64. */
static void conv_ref(const cfg *f, const int64_t *x, const int64_t *w, const int64_t *b,
                     int64_t *y, const int64_t *out)
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
                        int64_t acc = b ? b[m] : 0;
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
                                        acc += x[(((n * f->C + g * Cg + ci) * in3[0] + ia) *
                                                      in3[1] + ib) * in3[2] + ic] *
                                               w[(((m * Cg + ci) * k3[0] + ka) * k3[1] + kb) *
                                                     k3[2] + kc];
                                    }
                        *y++ = acc;
                    }
}

static const char *dtn(nq_dtype t) { return nq_dtype_name(t); }

/* Builds the node of f (attributes point into f and pads). */
static void conv_node(tnode *t, cfg *f, int64_t *pads)
{
    static const char *ap_names[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};
    tn_init(t, "Conv");
    if (f->group != 1) tn_int(t, "group", f->group);
    tn_ints(t, "strides", f->nsp, f->s);
    tn_ints(t, "dilations", f->nsp, f->d);
    if (f->autopad == 0) {
        for (int i = 0; i < f->nsp; i++) pads[i] = f->pb[i], pads[f->nsp + i] = f->pe[i];
        tn_ints(t, "pads", 2 * f->nsp, pads);
    } else {
        tn_str(t, "auto_pad", ap_names[f->autopad]);
    }
    if (f->acc64) tn_str(t, "quantization.ptq.accumulationprecision", "int64");
    else if (irand(0, 1)) tn_str(t, "quantization.ptq.accumulationprecision", "int32");
}

static void conv_case(cfg *f)
{
    int64_t xd[5] = {f->N, f->C}, wd[5] = {f->M, f->C / f->group}, bd[1] = {f->M}, out[3];
    int64_t pads[6];
    for (int i = 0; i < f->nsp; i++) xd[2 + i] = f->in[i], wd[2 + i] = f->k[i];
    tnode t;
    conv_node(&t, f, pads);
    for (int i = 0; i < f->nsp; i++) out[i] = out_size(f, i);
    /* int16 with an int32 accumulator: values small enough to fit */
    const int narrow = !f->acc64;
    int64_t xlo, xhi, wlo, whi;
    dt_range(f->xdt, narrow, &xlo, &xhi);
    dt_range(f->wdt, narrow, &wlo, &whi);
    nq_tensor in[3], o[1];
    tt_rand_int(&in[0], f->xdt, 2 + f->nsp, xd, xlo, xhi);
    tt_rand_int(&in[1], f->wdt, 2 + f->nsp, wd, wlo, whi);
    tt_rand_int(&in[2], f->bdt, 1, bd, -100000, 100000);
    nq_error err = {0};
    nq_status s = run_op_ex(&nq_def_Conv, &t.node, 11, f->bias ? 3 : 2, in, 6, 1, o, f->threads,
                            &err);
    CHECK(s == NQ_OK);
    if (s != NQ_OK) {
        fprintf(stderr, "%s\n", err.msg);
    } else {
        int64_t n_out = f->N * f->M;
        CHECK(o[0].dtype == (f->acc64 ? NQ_DTYPE_INT64 : NQ_DTYPE_INT32));
        CHECK(o[0].ndim == 2 + f->nsp && o[0].dims[0] == f->N && o[0].dims[1] == f->M);
        for (int i = 0; i < f->nsp; i++) {
            CHECK(o[0].dims[2 + i] == out[i]);
            n_out *= out[i];
        }
        int64_t *x = to_i64(&in[0]), *w = to_i64(&in[1]), *b = f->bias ? to_i64(&in[2]) : NULL;
        int64_t *ref = malloc(sizeof(int64_t) * (size_t)(n_out + 1));
        conv_ref(f, x, w, b, ref, out);
        int bad = 0;
        for (int64_t i = 0; i < n_out && !bad; i++)
            if (iget(&o[0], i) != ref[i]) {
                fprintf(stderr,
                        "conv nsp=%d N=%lld C=%lld M=%lld g=%lld ap=%d thr=%d x=%s w=%s acc64=%d: "
                        "y[%lld]=%lld ref %lld\n",
                        f->nsp, (long long)f->N, (long long)f->C, (long long)f->M,
                        (long long)f->group, f->autopad, f->threads, dtn(f->xdt), dtn(f->wdt),
                        f->acc64, (long long)i, (long long)iget(&o[0], i), (long long)ref[i]);
                bad = 1;
            }
        CHECK(!bad);
        free(x), free(w), free(b), free(ref);
    }
    tt_free_all(in, 3);
    tt_free_all(o, 1);
}

static const nq_dtype x_types[] = {NQ_DTYPE_INT8, NQ_DTYPE_UINT8, NQ_DTYPE_INT4, NQ_DTYPE_UINT4,
                                   NQ_DTYPE_INT16};
static const nq_dtype w_types[] = {NQ_DTYPE_INT8, NQ_DTYPE_INT4, NQ_DTYPE_INT16};

static void pick_types(cfg *f)
{
    f->xdt = x_types[irand(0, 4)];
    f->wdt = w_types[irand(0, 2)];
    if (f->xdt != NQ_DTYPE_INT16 && f->wdt == NQ_DTYPE_INT16 && irand(0, 1))
        f->wdt = NQ_DTYPE_INT8;
    f->acc64 = irand(0, 5) == 0;
    f->bdt = f->acc64 && irand(0, 1) ? NQ_DTYPE_INT64 : NQ_DTYPE_INT32;
}

static void conv_random(int it)
{
    cfg f;
    memset(&f, 0, sizeof f);
    f.nsp = (int)irand(1, 3);
    f.group = irand(0, 2) == 0 ? irand(2, 4) : 1;
    f.C = f.group * irand(1, 3);
    f.M = f.group * irand(1, 3);
    if (it % 5 == 0) f.C = f.group, f.nsp = (int)irand(1, 2); /* depthwise */
    f.N = irand(1, 3);
    if (it % 7 == 0) f.N = irand(4, 9);
    f.autopad = irand(0, 3) == 0 ? (int)irand(1, 3) : 0;
    f.bias = (int)irand(0, 1);
    f.threads = (int)irand(1, 3);
    pick_types(&f);
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
    if (it % 11 == 0) /* pointwise: X is its own column matrix */
        for (int i = 0; i < f.nsp; i++)
            f.k[i] = 1, f.s[i] = 1, f.pb[i] = f.pe[i] = 0, f.autopad = 0;
    conv_case(&f);
}

static void conv_2d(cfg *f, int64_t N, int64_t C, int64_t M, int64_t group, int64_t hw,
                    int64_t k, int64_t s, int64_t p)
{
    memset(f, 0, sizeof *f);
    f->nsp = 2, f->N = N, f->C = C, f->M = M, f->group = group, f->bias = 1, f->threads = 1;
    f->k[2] = 1;
    for (int j = 0; j < 2; j++)
        f->in[j] = hw, f->k[j] = k, f->s[j] = s, f->d[j] = 1, f->pb[j] = f->pe[j] = p;
    f->xdt = NQ_DTYPE_INT8, f->wdt = NQ_DTYPE_INT8, f->bdt = NQ_DTYPE_INT32;
}

/* ConvNet / ResNet / MobileNet shapes, every operand type, threads; an
 * image of several column tiles; a depthwise layer with a multiplier. */
static void conv_fixed(void)
{
    cfg f;
    static const nq_dtype xs[] = {NQ_DTYPE_INT8, NQ_DTYPE_UINT8, NQ_DTYPE_INT16};
    for (int i = 0; i < 3; i++)
        for (int th = 1; th <= 2; th++) {
            conv_2d(&f, 2, 16, 32, 1, 14, 3, 1, 1);
            f.xdt = xs[i], f.wdt = i == 2 ? NQ_DTYPE_INT16 : NQ_DTYPE_INT8, f.threads = th;
            conv_case(&f);
            conv_2d(&f, 1, 32, 8, 1, 9, 1, 1, 0); /* pointwise, one image, two threads */
            f.xdt = xs[i], f.threads = th;
            conv_case(&f);
        }
    conv_2d(&f, 3, 1, 16, 1, 28, 3, 1, 1); /* first layer, K = 9 */
    f.xdt = NQ_DTYPE_UINT8;
    conv_case(&f);
    conv_2d(&f, 2, 16, 8, 1, 120, 3, 1, 1); /* 120 rows of 2 KiB taps: several tiles */
    f.threads = 2;
    conv_case(&f);
    conv_2d(&f, 2, 8, 16, 8, 15, 3, 2, 1); /* depthwise x2, stride 2 */
    f.xdt = NQ_DTYPE_UINT8;
    conv_case(&f);
    conv_2d(&f, 2, 8, 8, 2, 10, 3, 1, 1); /* int16 x int16, int64 sums near 2^40 */
    f.xdt = f.wdt = NQ_DTYPE_INT16, f.acc64 = 1, f.bdt = NQ_DTYPE_INT64, f.threads = 2;
    conv_case(&f);
}

/* The float Conv on the same integer values computes the same sums
 * (exactly: |sums| stay far below 2^24; channels stay below the float
 * Conv's Winograd threshold, whose transforms would round). */
static void conv_vs_float(void)
{
    static const int64_t shapes[][6] = {
        /* N, C, M, group, hw, k */
        {2, 4, 6, 1, 9, 3}, {3, 3, 8, 1, 12, 3}, {1, 8, 8, 8, 7, 3}, {2, 6, 4, 2, 8, 1},
        {4, 2, 32, 1, 10, 3}, {2, 5, 5, 1, 6, 5}};
    for (int c = 0; c < 6; c++)
        for (int u = 0; u < 2; u++) {
            const int64_t *sh = shapes[c];
            int64_t xd[4] = {sh[0], sh[1], sh[4], sh[4]};
            int64_t wd[4] = {sh[2], sh[1] / sh[3], sh[5], sh[5]};
            int64_t bd[1] = {sh[2]}, pads[4] = {1, 1, 1, 1}, strides[2] = {1, 1};
            tnode t;
            tn_init(&t, "Conv");
            tn_int(&t, "group", sh[3]);
            tn_ints(&t, "pads", 4, pads);
            tn_ints(&t, "strides", 2, strides);
            nq_tensor qi[3], fi[3], qo[1], fo[1];
            tt_rand_int(&qi[0], u ? NQ_DTYPE_UINT8 : NQ_DTYPE_INT8, 4, xd, u ? 0 : -128, 127);
            tt_rand_int(&qi[1], NQ_DTYPE_INT8, 4, wd, -128, 127);
            tt_rand_int(&qi[2], NQ_DTYPE_INT32, 1, bd, -5000, 5000);
            for (int j = 0; j < 3; j++) {
                tt_make(&fi[j], NQ_DTYPE_FLOAT32, qi[j].ndim, qi[j].dims, NULL);
                for (int64_t i = 0; i < nq_tensor_numel(&qi[j]); i++)
                    ((float *)fi[j].data)[i] = (float)iget(&qi[j], i);
            }
            nq_error err = {0};
            CHECK_OK(run_op(&nq_def_Conv, &t.node, 11, 3, qi, 6, 1, qo, &err));
            CHECK_OK(run_op(&nq_def_Conv, &t.node, 11, 3, fi, 6, 1, fo, &err));
            CHECK(qo[0].dtype == NQ_DTYPE_INT32 && fo[0].dtype == NQ_DTYPE_FLOAT32);
            CHECK(nq_tensor_numel(&qo[0]) == nq_tensor_numel(&fo[0]));
            int bad = 0;
            for (int64_t i = 0; i < nq_tensor_numel(&qo[0]) && !bad; i++)
                bad = (float)iget(&qo[0], i) != ((const float *)fo[0].data)[i];
            CHECK(!bad);
            tt_free_all(qi, 3), tt_free_all(fi, 3), tt_free_all(qo, 1), tt_free_all(fo, 1);
        }
}

static nq_status conv_try(nq_dtype xdt, nq_dtype wdt, nq_dtype bdt, const char *acc, char *msg,
                          nq_dtype *ydt)
{
    int64_t xd[4] = {1, 2, 5, 5}, wd[4] = {3, 2, 3, 3}, bd[1] = {3};
    tnode t;
    tn_init(&t, "Conv");
    if (acc) tn_str(&t, "quantization.ptq.accumulationprecision", acc);
    nq_tensor in[3], o[1];
    tt_make(&in[0], xdt, 4, xd, NULL);
    tt_make(&in[1], wdt, 4, wd, NULL);
    if (bdt != NQ_DTYPE_UNDEFINED) tt_make(&in[2], bdt, 1, bd, NULL);
    else memset(&in[2], 0, sizeof in[2]);
    nq_error err = {0};
    nq_status s = run_op(&nq_def_Conv, &t.node, 13, 3, in, 6, 1, o, &err);
    strcpy(msg, err.msg);
    *ydt = s == NQ_OK ? o[0].dtype : NQ_DTYPE_UNDEFINED;
    tt_free_all(in, 3);
    tt_free_all(o, 1);
    return s;
}

static void conv_errors(void)
{
    char msg[NQ_ERROR_MSG_MAX];
    nq_dtype y;
    const nq_dtype I8 = NQ_DTYPE_INT8, U8 = NQ_DTYPE_UINT8, I16 = NQ_DTYPE_INT16,
                   I32 = NQ_DTYPE_INT32, I64 = NQ_DTYPE_INT64, F32 = NQ_DTYPE_FLOAT32,
                   NONE = NQ_DTYPE_UNDEFINED;
    CHECK(conv_try(I8, I8, I32, NULL, msg, &y) == NQ_OK && y == I32);
    CHECK(conv_try(U8, NQ_DTYPE_INT4, NONE, NULL, msg, &y) == NQ_OK && y == I32);
    CHECK(conv_try(I16, I16, I32, "int64", msg, &y) == NQ_OK && y == I64);
    CHECK(conv_try(I16, I16, I64, "int64", msg, &y) == NQ_OK && y == I64);
    CHECK(conv_try(I8, I8, I32, "int64", msg, &y) == NQ_OK && y == I64);
    CHECK(conv_try(I8, F32, I32, NULL, msg, &y) == NQ_ERR_UNSUPPORTED);
    CHECK(strstr(msg, "weights of dtype float32") != NULL && strstr(msg, "test_node") != NULL);
    CHECK(conv_try(I8, U8, I32, NULL, msg, &y) == NQ_ERR_UNSUPPORTED);
    CHECK(conv_try(I8, I8, F32, NULL, msg, &y) == NQ_ERR_UNSUPPORTED);
    CHECK(strstr(msg, "bias of dtype float32") != NULL);
    CHECK(conv_try(I8, I8, I64, NULL, msg, &y) == NQ_ERR_UNSUPPORTED); /* int64 bias, int32 acc */
    CHECK(conv_try(I32, I8, I32, NULL, msg, &y) == NQ_ERR_UNSUPPORTED);
    CHECK(strstr(msg, "int32") != NULL);
    CHECK(conv_try(I8, I8, I32, "float32", msg, &y) == NQ_ERR_UNSUPPORTED);
    CHECK(strstr(msg, "accumulationprecision") != NULL);
    CHECK(conv_try(F32, I8, NONE, NULL, msg, &y) == NQ_ERR_UNSUPPORTED); /* the float path's */
}

/* ==================================================================== */
/* Gemm and MatMul                                                       */
/* ==================================================================== */

/* y[i][j] = sum_k x(i,k) w(k,j) (+ c(i,j)) in int64. */
static void gemm_ref(int64_t M, int64_t N, int64_t K, const int64_t *x, int ta, const int64_t *w,
                     int tb, const int64_t *c, int64_t crs, int64_t ccs, int64_t *y)
{
    for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
            int64_t s = c ? c[i * crs + j * ccs] : 0;
            for (int64_t k = 0; k < K; k++)
                s += x[ta ? k * M + i : i * K + k] * w[tb ? j * K + k : k * N + j];
            y[i * N + j] = s;
        }
}

static int check_exact(const nq_tensor *y, const int64_t *ref, int64_t n, const char *what)
{
    for (int64_t i = 0; i < n; i++)
        if (iget(y, i) != ref[i]) {
            fprintf(stderr, "%s: y[%lld] = %lld, expected %lld\n", what, (long long)i,
                    (long long)iget(y, i), (long long)ref[i]);
            return 0;
        }
    return 1;
}

static void gemm_case(int64_t M, int64_t N, int64_t K, int ta, int tb, int cshape, nq_dtype xdt,
                      nq_dtype wdt, int acc64, int threads)
{
    tnode t;
    tn_init(&t, "Gemm");
    if (ta) tn_int(&t, "transA", 1);
    if (tb) tn_int(&t, "transB", 1);
    if (irand(0, 1)) tn_float(&t, "alpha", 1.0f);
    if (acc64) tn_str(&t, "quantization.ptq.accumulationprecision", "int64");
    int64_t xd[2] = {ta ? K : M, ta ? M : K}, wd[2] = {tb ? N : K, tb ? K : N};
    /* C: 0 none, 1 [N], 2 [1,N], 3 [M,N], 4 [M,1], 5 scalar */
    int64_t cd[2] = {1, 1}, crs = 0, ccs = 0;
    int cnd = 0;
    switch (cshape) {
    case 1: cnd = 1, cd[0] = N, ccs = 1; break;
    case 2: cnd = 2, cd[1] = N, ccs = 1; break;
    case 3: cnd = 2, cd[0] = M, cd[1] = N, crs = N, ccs = 1; break;
    case 4: cnd = 2, cd[0] = M, crs = 1; break;
    case 5: cnd = 0; break;
    }
    int64_t xlo, xhi, wlo, whi;
    dt_range(xdt, !acc64, &xlo, &xhi);
    dt_range(wdt, !acc64, &wlo, &whi);
    nq_tensor in[3], o[1];
    tt_rand_int(&in[0], xdt, 2, xd, xlo, xhi);
    tt_rand_int(&in[1], wdt, 2, wd, wlo, whi);
    tt_rand_int(&in[2], acc64 && irand(0, 1) ? NQ_DTYPE_INT64 : NQ_DTYPE_INT32, cnd, cd, -99999,
                99999);
    nq_error err = {0};
    nq_status s =
        run_op_ex(&nq_def_Gemm, &t.node, 13, cshape ? 3 : 2, in, 6, 1, o, threads, &err);
    CHECK(s == NQ_OK);
    if (s == NQ_OK) {
        CHECK(o[0].dtype == (acc64 ? NQ_DTYPE_INT64 : NQ_DTYPE_INT32));
        CHECK(o[0].ndim == 2 && o[0].dims[0] == M && o[0].dims[1] == N);
        int64_t *x = to_i64(&in[0]), *w = to_i64(&in[1]), *c = cshape ? to_i64(&in[2]) : NULL;
        int64_t *ref = malloc(sizeof(int64_t) * (size_t)(M * N + 1));
        gemm_ref(M, N, K, x, ta, w, tb, c, crs, ccs, ref);
        if (!check_exact(&o[0], ref, M * N, "gemm")) {
            fprintf(stderr, "  M=%lld N=%lld K=%lld ta=%d tb=%d c=%d x=%s w=%s acc64=%d\n",
                    (long long)M, (long long)N, (long long)K, ta, tb, cshape, dtn(xdt), dtn(wdt),
                    acc64);
            CHECK(0);
        }
        free(x), free(w), free(c), free(ref);
    } else {
        fprintf(stderr, "%s\n", err.msg);
    }
    tt_free_all(in, 3);
    tt_free_all(o, 1);
}

static void gemm_tests(void)
{
    for (int it = 0; it < 120; it++) {
        int acc64 = irand(0, 5) == 0;
        nq_dtype xdt = x_types[irand(0, 4)], wdt = w_types[irand(0, 2)];
        gemm_case(irand(1, 9), irand(1, 40), irand(1, 300), (int)irand(0, 1), (int)irand(0, 1),
                  (int)irand(0, 5), xdt, wdt, acc64, (int)irand(1, 2));
    }
    /* an FC layer of a ConvNet, batched, big enough for two threads */
    gemm_case(64, 128, 1568, 0, 1, 1, NQ_DTYPE_UINT8, NQ_DTYPE_INT8, 0, 2);
    gemm_case(64, 10, 128, 0, 1, 1, NQ_DTYPE_INT8, NQ_DTYPE_INT4, 0, 1);
    /* errors */
    char msg[NQ_ERROR_MSG_MAX];
    int64_t xd[2] = {2, 3}, wd[2] = {3, 4}, cd[1] = {4};
    nq_tensor in[3], o[1];
    nq_error err = {0};
    tt_make(&in[0], NQ_DTYPE_INT8, 2, xd, NULL);
    tt_make(&in[1], NQ_DTYPE_INT8, 2, wd, NULL);
    tt_make(&in[2], NQ_DTYPE_INT32, 1, cd, NULL);
    tnode t;
    tn_init(&t, "Gemm");
    tn_float(&t, "alpha", 2.0f);
    CHECK(run_op(&nq_def_Gemm, &t.node, 13, 3, in, 6, 1, o, &err) == NQ_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "alpha") != NULL);
    tn_init(&t, "Gemm");
    tn_float(&t, "beta", 0.5f);
    CHECK(run_op(&nq_def_Gemm, &t.node, 13, 3, in, 6, 1, o, &err) == NQ_ERR_UNSUPPORTED);
    CHECK(run_op(&nq_def_Gemm, &t.node, 13, 2, in, 6, 1, o, &err) == NQ_OK); /* no C: beta unused */
    tt_free_all(o, 1);
    tn_init(&t, "Gemm");
    tn_int(&t, "transB", 1);
    CHECK(run_op(&nq_def_Gemm, &t.node, 13, 3, in, 6, 1, o, &err) == NQ_ERR_SHAPE);
    snprintf(msg, sizeof msg, "%s", err.msg);
    CHECK(strstr(msg, "inner dims") != NULL);
    tt_free_all(in, 3);
}

static void matmul_case(int xnd, const int64_t *xd, int wnd, const int64_t *wd, nq_dtype xdt,
                        nq_dtype wdt, int threads)
{
    tnode t;
    tn_init(&t, "MatMul");
    nq_tensor in[2], o[1];
    int64_t xlo, xhi, wlo, whi;
    dt_range(xdt, 1, &xlo, &xhi);
    dt_range(wdt, 1, &wlo, &whi);
    tt_rand_int(&in[0], xdt, xnd, xd, xlo, xhi);
    tt_rand_int(&in[1], wdt, wnd, wd, wlo, whi);
    nq_error err = {0};
    nq_status s = run_op_ex(&nq_def_MatMul, &t.node, 13, 2, in, 2, 1, o, threads, &err);
    CHECK(s == NQ_OK);
    if (s == NQ_OK) {
        const int64_t K = xd[xnd - 1], N = wnd == 1 ? 1 : wd[wnd - 1];
        const int64_t M = nq_tensor_numel(&in[0]) / (K ? K : 1);
        /* expected shape: numpy's */
        int64_t want[NQ_MAX_DIMS];
        int nd = 0;
        for (int i = xnd > 2 ? xnd - 2 : 0; i < wnd - 2; i++) want[nd++] = 1;
        for (int i = 0; i < xnd - 1; i++) want[nd++] = xd[i];
        if (wnd > 1) want[nd++] = N;
        CHECK(o[0].dtype == NQ_DTYPE_INT32 && o[0].ndim == nd);
        for (int i = 0; i < nd && i < o[0].ndim; i++) CHECK(o[0].dims[i] == want[i]);
        int64_t *x = to_i64(&in[0]), *w = to_i64(&in[1]);
        int64_t *ref = malloc(sizeof(int64_t) * (size_t)(M * N + 1));
        gemm_ref(M, N, K, x, 0, w, 0, NULL, 0, 0, ref);
        CHECK(check_exact(&o[0], ref, M * N, "matmul"));
        free(x), free(w), free(ref);
    } else {
        fprintf(stderr, "%s\n", err.msg);
    }
    tt_free_all(in, 2);
    tt_free_all(o, 1);
}

static void matmul_tests(void)
{
    for (int it = 0; it < 60; it++) {
        int64_t xd[4], wd[3];
        int xnd = (int)irand(1, 4), wnd = (int)irand(1, 3);
        for (int i = 0; i < xnd; i++) xd[i] = irand(1, 5);
        int64_t K = irand(1, 70);
        xd[xnd - 1] = K;
        if (wnd == 1) wd[0] = K;
        else {
            for (int i = 0; i < wnd - 2; i++) wd[i] = 1;
            wd[wnd - 2] = K, wd[wnd - 1] = irand(1, 20);
        }
        matmul_case(xnd, xd, wnd, wd, x_types[irand(0, 4)], w_types[irand(0, 2)],
                    (int)irand(1, 2));
    }
    int64_t xd[3] = {4, 16, 256}, wd[2] = {256, 96};
    matmul_case(3, xd, 2, wd, NQ_DTYPE_UINT8, NQ_DTYPE_INT8, 2);
    /* batched weights are not supported */
    int64_t bw[3] = {2, 256, 3};
    nq_tensor in[2], o[1];
    nq_error err = {0};
    tt_make(&in[0], NQ_DTYPE_INT8, 3, xd, NULL);
    tt_make(&in[1], NQ_DTYPE_INT8, 3, bw, NULL);
    tnode t;
    tn_init(&t, "MatMul");
    CHECK(run_op(&nq_def_MatMul, &t.node, 13, 2, in, 2, 1, o, &err) == NQ_ERR_UNSUPPORTED);
    CHECK(strstr(err.msg, "batched") != NULL);
    tt_free_all(in, 2);
}

/* ==================================================================== */
/* MaxPool, GlobalMaxPool                                                */
/* ==================================================================== */

static void maxpool_case(int nsp, int64_t N, int64_t C, const int64_t *in, const int64_t *k,
                         const int64_t *s, const int64_t *d, const int64_t *pb, const int64_t *pe,
                         int ceil, nq_dtype dt, int threads)
{
    int64_t xd[5] = {N, C}, pads[6], out[3] = {1, 1, 1};
    for (int i = 0; i < nsp; i++) {
        xd[2 + i] = in[i];
        pads[i] = pb[i], pads[nsp + i] = pe[i];
        int64_t span = (k[i] - 1) * d[i] + 1, room = in[i] + pb[i] + pe[i] - span;
        out[i] = (ceil ? (room + s[i] - 1) / s[i] : room / s[i]) + 1;
        if (ceil && (out[i] - 1) * s[i] >= in[i] + pb[i]) out[i]--;
    }
    tnode t;
    tn_init(&t, "MaxPool");
    tn_ints(&t, "kernel_shape", nsp, k);
    tn_ints(&t, "strides", nsp, s);
    tn_ints(&t, "dilations", nsp, d);
    tn_ints(&t, "pads", 2 * nsp, pads);
    if (ceil) tn_int(&t, "ceil_mode", 1);
    int64_t lo, hi;
    nq_dtype_int_range(dt, &lo, &hi);
    if (dt == NQ_DTYPE_INT64) lo = -(INT64_C(1) << 40), hi = INT64_C(1) << 40;
    nq_tensor x[1], o[1];
    tt_rand_int(&x[0], dt, 2 + nsp, xd, lo, hi);
    if (irand(0, 1)) /* the type's minimum in the data */
        nq_tensor_set(&x[0], 0, (double)lo);
    nq_error err = {0};
    nq_status st = run_op_ex(&nq_def_MaxPool, &t.node, 12, 1, x, 0, 1, o, threads, &err);
    CHECK(st == NQ_OK);
    if (st == NQ_OK) {
        CHECK(o[0].dtype == dt);
        int64_t i3[3] = {1, 1, 1}, o3[3] = {1, 1, 1}, k3[3] = {1, 1, 1}, s3[3] = {1, 1, 1},
                d3[3] = {1, 1, 1}, p3[3] = {0, 0, 0};
        int lead = 3 - nsp, bad = 0;
        for (int i = 0; i < nsp; i++) {
            CHECK(o[0].dims[2 + i] == out[i]);
            i3[lead + i] = in[i], o3[lead + i] = out[i], k3[lead + i] = k[i];
            s3[lead + i] = s[i], d3[lead + i] = d[i], p3[lead + i] = pb[i];
        }
        int64_t *xv = to_i64(&x[0]), oi = 0;
        int64_t tmin;
        nq_dtype_int_range(dt, &tmin, NULL);
        for (int64_t pl = 0; pl < N * C; pl++)
            for (int64_t a = 0; a < o3[0]; a++)
                for (int64_t b = 0; b < o3[1]; b++)
                    for (int64_t c = 0; c < o3[2]; c++, oi++) {
                        int64_t m = tmin;
                        for (int64_t ka = 0; ka < k3[0]; ka++)
                            for (int64_t kb = 0; kb < k3[1]; kb++)
                                for (int64_t kc = 0; kc < k3[2]; kc++) {
                                    int64_t ia = a * s3[0] - p3[0] + ka * d3[0];
                                    int64_t ib = b * s3[1] - p3[1] + kb * d3[1];
                                    int64_t ic = c * s3[2] - p3[2] + kc * d3[2];
                                    if (ia < 0 || ib < 0 || ic < 0 || ia >= i3[0] ||
                                        ib >= i3[1] || ic >= i3[2])
                                        continue;
                                    int64_t v = xv[((pl * i3[0] + ia) * i3[1] + ib) * i3[2] + ic];
                                    m = v > m ? v : m;
                                }
                        if (!bad && iget(&o[0], oi) != m) {
                            fprintf(stderr, "maxpool %s nsp=%d: y[%lld] = %lld, expected %lld\n",
                                    dtn(dt), nsp, (long long)oi, (long long)iget(&o[0], oi),
                                    (long long)m);
                            bad = 1;
                        }
                    }
        CHECK(!bad);
        free(xv);
    } else {
        fprintf(stderr, "%s\n", err.msg);
    }
    tt_free_all(x, 1);
    tt_free_all(o, 1);
}

static const nq_dtype pool_types[] = {NQ_DTYPE_INT8,  NQ_DTYPE_UINT8, NQ_DTYPE_INT16,
                                      NQ_DTYPE_INT32, NQ_DTYPE_INT64, NQ_DTYPE_INT4,
                                      NQ_DTYPE_UINT4};

static void pool_tests(void)
{
    for (int it = 0; it < 150; it++) {
        int nsp = (int)irand(1, 3);
        int64_t in[3], k[3], s[3], d[3], pb[3], pe[3];
        for (int i = 0; i < nsp; i++) {
            in[i] = irand(1, nsp == 3 ? 6 : 11);
            k[i] = irand(1, 3), s[i] = irand(1, 3), d[i] = irand(1, 2);
            pb[i] = irand(0, k[i] - 1), pe[i] = irand(0, k[i] - 1);
            int64_t room = in[i] + pb[i] + pe[i] - (k[i] - 1) * d[i] - 1;
            if (room < 0) pe[i] -= room;
        }
        maxpool_case(nsp, irand(1, 3), irand(1, 4), in, k, s, d, pb, pe, (int)irand(0, 1),
                     pool_types[irand(0, 6)], (int)irand(1, 2));
    }
    /* 2x2 stride 2 (odd size: last column dropped), 3x3 stride 2 padded */
    int64_t in[2] = {7, 9}, k2[2] = {2, 2}, s2[2] = {2, 2}, d1[2] = {1, 1}, z[2] = {0, 0},
            k3[2] = {3, 3}, p1[2] = {1, 1};
    for (int i = 0; i < 7; i++) {
        maxpool_case(2, 2, 3, in, k2, s2, d1, z, z, 0, pool_types[i], 1);
        maxpool_case(2, 2, 3, in, k3, s2, d1, p1, p1, 1, pool_types[i], 2);
    }
    /* a window wholly in the padding gives the type's minimum */
    {
        int64_t xi[1] = {2}, kk[1] = {1}, ss[1] = {1}, dd[1] = {1}, pp[1] = {1};
        maxpool_case(1, 1, 1, xi, kk, ss, dd, pp, pp, 0, NQ_DTYPE_INT4, 1);
    }
    /* GlobalMaxPool */
    for (int i = 0; i < 7; i++) {
        int64_t xd[4] = {2, 3, 4, 5};
        nq_tensor x[1], o[1];
        int64_t lo, hi;
        nq_dtype_int_range(pool_types[i], &lo, &hi);
        if (pool_types[i] == NQ_DTYPE_INT64) lo = -1000000, hi = 1000000;
        tt_rand_int(&x[0], pool_types[i], 4, xd, lo, hi);
        tnode t;
        tn_init(&t, "GlobalMaxPool");
        nq_error err = {0};
        CHECK_OK(run_op(&nq_def_GlobalMaxPool, &t.node, 13, 1, x, 0, 1, o, &err));
        CHECK(o[0].dtype == pool_types[i] && o[0].ndim == 4 && o[0].dims[2] == 1 &&
              o[0].dims[3] == 1);
        for (int64_t p = 0; p < 6; p++) {
            int64_t m = lo;
            for (int64_t j = 0; j < 20; j++) {
                int64_t v = iget(&x[0], p * 20 + j);
                m = v > m ? v : m;
            }
            CHECK(iget(&o[0], p) == m);
        }
        tt_free_all(x, 1);
        tt_free_all(o, 1);
    }
}

/* ==================================================================== */
/* Relu, Clip, Add                                                       */
/* ==================================================================== */

static void relu_clip_tests(void)
{
    for (int i = 0; i < 7; i++) {
        nq_dtype dt = pool_types[i];
        int64_t lo, hi, xd[2] = {3, 50};
        nq_dtype_int_range(dt, &lo, &hi);
        if (dt == NQ_DTYPE_INT64) lo = -(INT64_C(1) << 50), hi = INT64_C(1) << 50;
        nq_tensor x[3], o[1];
        tt_rand_int(&x[0], dt, 2, xd, lo, hi);
        tnode t;
        tn_init(&t, "Relu");
        nq_error err = {0};
        CHECK_OK(run_op_ex(&nq_def_Relu, &t.node, 14, 1, x, 0, 1, o, 2, &err));
        CHECK(o[0].dtype == dt && o[0].ndim == 2 && o[0].dims[1] == 50);
        for (int64_t j = 0; j < 150; j++) {
            int64_t v = iget(&x[0], j);
            CHECK(iget(&o[0], j) == (v < 0 ? 0 : v));
        }
        tt_free_all(o, 1);
        /* Clip with bounds as constant inputs of the same dtype */
        int64_t blo = lo / 3, bhi = hi / 2;
        tt_make(&x[1], dt, 0, NULL, NULL);
        tt_make(&x[2], dt, 0, NULL, NULL);
        nq_tensor_set(&x[1], 0, (double)blo);
        nq_tensor_set(&x[2], 0, (double)bhi);
        tn_init(&t, "Clip");
        CHECK_OK(run_op(&nq_def_Clip, &t.node, 13, 3, x, 6, 1, o, &err));
        CHECK(o[0].dtype == dt);
        for (int64_t j = 0; j < 150; j++) {
            int64_t v = iget(&x[0], j);
            CHECK(iget(&o[0], j) == (v < blo ? blo : v > bhi ? bhi : v));
        }
        tt_free_all(x, 3);
        tt_free_all(o, 1);
    }
    /* int32 + int32 (a residual join of accumulators), broadcast per channel */
    int64_t ad[4] = {2, 3, 2, 2}, bd[4] = {1, 3, 1, 1};
    nq_tensor x[2], o[1];
    tt_rand_int(&x[0], NQ_DTYPE_INT32, 4, ad, -1000000, 1000000);
    tt_rand_int(&x[1], NQ_DTYPE_INT32, 4, bd, -1000000, 1000000);
    tnode t;
    tn_init(&t, "Add");
    nq_error err = {0};
    CHECK_OK(run_op(&nq_def_Add, &t.node, 14, 2, x, 0, 1, o, &err));
    CHECK(o[0].dtype == NQ_DTYPE_INT32);
    for (int64_t j = 0; j < 24; j++)
        CHECK(iget(&o[0], j) == iget(&x[0], j) + iget(&x[1], j / 4 % 3));
    tt_free_all(x, 2);
    tt_free_all(o, 1);
}

/* ==================================================================== */
/* ReduceSum                                                             */
/* ==================================================================== */

static void reducesum_case(int nd, const int64_t *dims, int n_axes, const int64_t *axes, int keep,
                           int64_t opset, nq_dtype dt, int noop)
{
    tnode t;
    tn_init(&t, "ReduceSum");
    if (!keep) tn_int(&t, "keepdims", 0);
    if (noop) tn_int(&t, "noop_with_empty_axes", 1);
    int64_t axd[1] = {n_axes};
    nq_tensor in[2], o[1];
    int64_t lo, hi;
    nq_dtype_int_range(dt, &lo, &hi);
    if (dt == NQ_DTYPE_INT32) lo = -1000000, hi = 1000000;
    if (dt == NQ_DTYPE_INT64) lo = -(INT64_C(1) << 50), hi = INT64_C(1) << 50;
    tt_rand_int(&in[0], dt, nd, dims, lo, hi);
    int n_in = 1;
    if (opset >= 13) {
        tt_make(&in[1], NQ_DTYPE_INT64, 1, axd, axes);
        n_in = n_axes > 0 || irand(0, 1) ? 2 : 1;
    } else {
        memset(&in[1], 0, sizeof in[1]);
        if (n_axes) tn_ints(&t, "axes", n_axes, axes);
    }
    nq_error err = {0};
    nq_status s = run_op(&nq_def_ReduceSum, &t.node, opset, n_in, in, 2, 1, o, &err);
    CHECK(s == NQ_OK);
    if (s != NQ_OK) {
        fprintf(stderr, "%s\n", err.msg);
    } else {
        CHECK(o[0].dtype == (dt == NQ_DTYPE_INT64 ? NQ_DTYPE_INT64 : NQ_DTYPE_INT32));
        int red[NQ_MAX_DIMS] = {0};
        for (int i = 0; i < n_axes; i++) red[(axes[i] + nd) % nd] = 1;
        if (n_axes == 0)
            for (int i = 0; i < nd; i++) red[i] = !noop;
        int ond = 0;
        for (int i = 0; i < nd; i++) ond += !red[i] || keep;
        CHECK(o[0].ndim == ond);
        int64_t ny = nq_tensor_numel(&o[0]), nx = nq_tensor_numel(&in[0]);
        int64_t *ref = calloc((size_t)ny + 1, sizeof(int64_t));
        for (int64_t i = 0; i < nx; i++) {
            int64_t rem = i, oi = 0, step = 1;
            for (int d = nd - 1; d >= 0; d--) {
                int64_t c = rem % dims[d];
                rem /= dims[d];
                if (!red[d]) oi += c * step, step *= dims[d];
            }
            ref[oi] += iget(&in[0], i);
        }
        CHECK(check_exact(&o[0], ref, ny, "reducesum"));
        free(ref);
    }
    tt_free_all(in, 2);
    tt_free_all(o, 1);
}

static void reducesum_tests(void)
{
    static const nq_dtype dts[] = {NQ_DTYPE_INT8,  NQ_DTYPE_UINT8, NQ_DTYPE_INT16,
                                   NQ_DTYPE_INT32, NQ_DTYPE_INT64, NQ_DTYPE_INT4};
    for (int it = 0; it < 120; it++) {
        int nd = (int)irand(1, 4);
        int64_t dims[4], axes[4];
        for (int i = 0; i < nd; i++) dims[i] = irand(1, 6);
        int n_axes = 0;
        for (int i = 0; i < nd; i++)
            if (irand(0, 1)) axes[n_axes++] = irand(0, 1) ? i : i - nd;
        reducesum_case(nd, dims, n_axes, axes, (int)irand(0, 1), irand(0, 1) ? 13 : 11,
                       dts[irand(0, 5)], n_axes == 0 && irand(0, 1));
    }
    /* a per-channel sum of a big uint8 map: 255 * 4096 needs int32 */
    int64_t dims[4] = {2, 3, 64, 64}, axes[2] = {2, 3};
    reducesum_case(4, dims, 2, axes, 1, 13, NQ_DTYPE_UINT8, 0);
}

int main(void)
{
    for (int it = 0; it < 300; it++) conv_random(it);
    conv_fixed();
    conv_vs_float();
    conv_errors();
    gemm_tests();
    matmul_tests();
    pool_tests();
    relu_clip_tests();
    reducesum_tests();
    TEST_MAIN_END();
}
