/* Every backward of src/train/ against central finite differences
 * (tests/grad_testutil.h), over small random shapes and attribute
 * combinations.
 * Tolerances: the forward runs in float32 and the loss L = sum r*y is
 * summed in double; with inputs and r in [-1, 1] and at most a few hundred
 * outputs, the rounding of L is below ~1e-5, so a central difference with
 * step eps has a rounding error below ~1e-5 / eps: 1e-3 for eps = 1e-2
 * (linear ops, where the difference is otherwise exact) and 1e-2 relative
 * at worst for eps = 1e-3 (smooth non-linear ops: the truncation error,
 * O(eps^2), is far below). Hence atol 2e-3 + rtol 1e-2 (and atol 5e-3 for
 * eps = 1e-3). Non-smooth ops (Relu, Clip, MaxPool) get inputs spaced
 * further apart than eps from each other and from the kinks. */
#include "grad_testutil.h"
#include "nqtest.h"

static unsigned seed = 2024u;

static void mk(nq_tensor *t, int ndim, const int64_t *dims, float lo, float hi)
{
    tt_make(t, NQ_DTYPE_FLOAT32, ndim, dims, NULL);
    gt_fill(t, &seed, lo, hi);
}

static void mk_i64(nq_tensor *t, int n, const int64_t *v)
{
    int64_t d[1] = {n};
    tt_make(t, NQ_DTYPE_INT64, 1, d, v);
}

static void mk_scalar(nq_tensor *t, float v)
{
    tt_make(t, NQ_DTYPE_FLOAT32, 0, NULL, &v);
}

static int check(tnode *t, int64_t opset, int n_in, nq_tensor *in, unsigned known,
                 unsigned mask, double eps, const char *label)
{
    gt_opts o = gt_default_opts();
    o.eps = eps;
    if (eps < 1e-2) o.atol = 5e-3;
    o.max_elems = 60;
    int f = gt_check(&t->node, opset, n_in, in, known, mask, 1, &o, label);
    tt_free_all(in, n_in);
    return f;
}

/* ---- Conv ---- */
typedef struct conv_case {
    int nsp;
    int64_t N, C, M, group, in[3], k[3], s[3], d[3], pads[6];
    int bias, autopad;
    const char *label;
} conv_case;

static void test_conv(void)
{
    static const conv_case cases[] = {
        {2, 2, 3, 4, 1, {6, 6}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 1, 0, "conv 3x3 pad1"},
        {2, 2, 2, 3, 1, {7, 6}, {3, 2}, {2, 1}, {2, 1}, {0, 1, 1, 0}, 0, 0, "conv stride2 dil2 asym"},
        {2, 1, 4, 6, 2, {5, 5}, {3, 2}, {1, 2}, {1, 1}, {1, 0, 0, 1}, 1, 0, "conv group2"},
        {2, 2, 3, 3, 3, {6, 6}, {3, 3}, {2, 2}, {1, 1}, {1, 1, 1, 1}, 1, 0, "conv depthwise s2"},
        {2, 2, 4, 8, 4, {5, 5}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 0, 0, "conv depthwise x2"},
        {2, 2, 5, 3, 1, {4, 4}, {1, 1}, {1, 1}, {1, 1}, {0, 0, 0, 0}, 1, 0, "conv 1x1"},
        {2, 1, 3, 2, 1, {5, 6}, {3, 3}, {2, 2}, {1, 1}, {0}, 1, 1, "conv SAME_UPPER s2"},
        {1, 2, 3, 2, 1, {9}, {3}, {2}, {2}, {2, 1}, 1, 0, "conv 1-D"},
        {3, 1, 2, 2, 1, {4, 4, 3}, {2, 3, 2}, {1, 2, 1}, {1, 1, 1}, {1, 0, 0, 0, 1, 1}, 1, 0,
         "conv 3-D"},
        /* 3x3 stride 1 with >= 16 channels: the Winograd input gradient */
        {2, 1, 16, 16, 1, {6, 5}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 1, 0, "conv wino pad1"},
        {2, 2, 16, 32, 1, {5, 7}, {3, 3}, {1, 1}, {1, 1}, {0, 2, 2, 1}, 1, 0, "conv wino asym pads"},
        {2, 1, 32, 32, 2, {4, 4}, {3, 3}, {1, 1}, {1, 1}, {1, 1, 1, 1}, 0, 0, "conv wino group2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const conv_case *c = &cases[i];
        tnode t;
        tn_init(&t, "Conv");
        tn_ints(&t, "kernel_shape", c->nsp, c->k);
        tn_ints(&t, "strides", c->nsp, c->s);
        tn_ints(&t, "dilations", c->nsp, c->d);
        if (c->autopad) tn_add(&t, "auto_pad", NQ_ATTR_STRING)->s = (char *)"SAME_UPPER";
        else tn_ints(&t, "pads", 2 * c->nsp, c->pads);
        tn_int(&t, "group", c->group);
        int64_t xd[5] = {c->N, c->C}, wd[5] = {c->M, c->C / c->group}, bd[1] = {c->M};
        for (int k = 0; k < c->nsp; k++) xd[2 + k] = c->in[k], wd[2 + k] = c->k[k];
        nq_tensor in[3];
        mk(&in[0], 2 + c->nsp, xd, -1, 1);
        mk(&in[1], 2 + c->nsp, wd, -1, 1);
        if (c->bias) mk(&in[2], 1, bd, -1, 1);
        CHECK(check(&t, 13, c->bias ? 3 : 2, in, 0, 7u, 1e-2, c->label) == 0);
    }
}

/* ---- Gemm / MatMul ---- */
static void test_gemm(void)
{
    static const int64_t cshapes[4][3] = {{1, 0, 0}, {2, 0, 0}, {2, 1, 0}, {0, 0, 0}};
    for (int ta = 0; ta < 2; ta++)
        for (int tb = 0; tb < 2; tb++)
            for (int cs = 0; cs < 4; cs++) {
                const int64_t M = 3, N = 4, K = 5;
                tnode t;
                tn_init(&t, "Gemm");
                tn_int(&t, "transA", ta);
                tn_int(&t, "transB", tb);
                tn_float(&t, "alpha", 0.7f);
                tn_float(&t, "beta", cs == 3 ? 1.0f : 1.3f);
                int64_t ad[2] = {ta ? K : M, ta ? M : K}, bd[2] = {tb ? N : K, tb ? K : N};
                nq_tensor in[3];
                mk(&in[0], 2, ad, -1, 1);
                mk(&in[1], 2, bd, -1, 1);
                int nc = cs == 3 ? 2 : 3;
                if (cs == 0) mk(&in[2], 1, (int64_t[]){N}, -1, 1);
                if (cs == 1) mk(&in[2], 2, (int64_t[]){M, N}, -1, 1);
                if (cs == 2) mk(&in[2], 2, (int64_t[]){1, N}, -1, 1);
                (void)cshapes;
                char label[64];
                snprintf(label, sizeof label, "gemm tA%d tB%d C%d", ta, tb, cs);
                CHECK(check(&t, 13, nc, in, 0, 7u, 1e-2, label) == 0);
            }
}

static void test_matmul(void)
{
    static const int64_t shapes[][2][5] = {
        {{2, 3, 4}, {2, 4, 5}},          /* rank, dims... encoded below */
    };
    (void)shapes;
    struct { int na; int64_t a[4]; int nb; int64_t b[4]; const char *label; } cases[] = {
        {2, {3, 4}, 2, {4, 5}, "matmul 2d"},
        {3, {2, 3, 4}, 2, {4, 5}, "matmul 3d x 2d"},
        {4, {2, 1, 3, 4}, 3, {3, 4, 2}, "matmul batch broadcast"},
        {1, {4}, 2, {4, 3}, "matmul 1d x 2d"},
        {3, {2, 3, 4}, 1, {4}, "matmul 3d x 1d"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tnode t;
        tn_init(&t, "MatMul");
        nq_tensor in[2];
        mk(&in[0], cases[i].na, cases[i].a, -1, 1);
        mk(&in[1], cases[i].nb, cases[i].b, -1, 1);
        CHECK(check(&t, 13, 2, in, 0, 3u, 1e-2, cases[i].label) == 0);
    }
}

/* ---- binary ---- */
static void test_binary(void)
{
    static const char *ops[] = {"Add", "Sub", "Mul", "Div"};
    struct { int na; int64_t a[4]; int nb; int64_t b[4]; } shapes[] = {
        {3, {2, 3, 4}, 3, {2, 3, 4}},
        {3, {2, 3, 4}, 2, {3, 1}},
        {2, {3, 1}, 3, {2, 1, 4}},
        {4, {2, 3, 2, 2}, 0, {0}},
        {1, {4}, 3, {2, 3, 4}},
    };
    for (int o = 0; o < 4; o++)
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            tnode t;
            tn_init(&t, ops[o]);
            nq_tensor in[2];
            mk(&in[0], shapes[s].na, shapes[s].a, -1, 1);
            if (o == 3) mk(&in[1], shapes[s].nb, shapes[s].b, 0.5f, 2.0f);
            else mk(&in[1], shapes[s].nb, shapes[s].b, -1, 1);
            char label[64];
            snprintf(label, sizeof label, "%s shapes %d", ops[o], (int)s);
            CHECK(check(&t, 13, 2, in, 0, 3u, o == 3 ? 1e-3 : 1e-2, label) == 0);
        }
}

/* ---- activations ---- */
static void spaced(nq_tensor *t, int ndim, const int64_t *dims)
{
    tt_make(t, NQ_DTYPE_FLOAT32, ndim, dims, NULL);
    gt_fill_distinct(t, &seed, 0.05f);
    float *p = t->data;
    for (int64_t i = 0; i < nq_tensor_numel(t); i++) p[i] += 0.025f; /* off 0 and the bounds */
}

static void test_activations(void)
{
    const int64_t d[3] = {2, 3, 5};
    static const char *smooth[] = {"Sigmoid", "Tanh", "LeakyRelu", "Relu"};
    for (int i = 0; i < 4; i++) {
        tnode t;
        tn_init(&t, smooth[i]);
        if (i == 2) tn_float(&t, "alpha", 0.2f);
        nq_tensor in[1];
        spaced(&in[0], 3, d);
        CHECK(check(&t, 13, 1, in, 0, 1u, 1e-3, smooth[i]) == 0);
    }
    { /* Clip with input bounds (opset 13), also min only */
        for (int both = 0; both < 2; both++) {
            tnode t;
            tn_init(&t, "Clip");
            nq_tensor in[3];
            spaced(&in[0], 3, d);
            mk_scalar(&in[1], -0.3f);
            if (both) mk_scalar(&in[2], 0.4f);
            CHECK(check(&t, 13, both ? 3 : 2, in, 6u, 1u, 1e-3, both ? "clip min max" : "clip min") == 0);
        }
    }
    { /* Clip with attributes (opset 6) */
        tnode t;
        tn_init(&t, "Clip");
        tn_float(&t, "min", 0.0f);
        tn_float(&t, "max", 0.3f);
        nq_tensor in[1];
        spaced(&in[0], 3, d);
        CHECK(check(&t, 6, 1, in, 0, 1u, 1e-3, "clip attrs") == 0);
    }
}

/* ---- pools ---- */
typedef struct pool_case {
    const char *op;
    int nsp;
    int64_t in[3], k[3], s[3], pads[6];
    int ceil, incl;
    const char *label;
} pool_case;

static void test_pools(void)
{
    static const pool_case cases[] = {
        {"MaxPool", 2, {6, 6}, {2, 2}, {2, 2}, {0}, 0, 0, "maxpool 2x2s2"},
        {"MaxPool", 2, {7, 5}, {3, 3}, {2, 2}, {1, 1, 1, 1}, 0, 0, "maxpool 3x3s2 pad1"},
        {"MaxPool", 2, {7, 7}, {2, 2}, {2, 2}, {0}, 1, 0, "maxpool ceil"},
        {"MaxPool", 1, {9}, {3}, {2}, {1, 0}, 0, 0, "maxpool 1-D"},
        {"AveragePool", 2, {6, 6}, {2, 2}, {2, 2}, {0}, 0, 0, "avgpool 2x2s2"},
        {"AveragePool", 2, {5, 6}, {3, 3}, {2, 1}, {1, 1, 1, 1}, 0, 0, "avgpool pad excl"},
        {"AveragePool", 2, {5, 6}, {3, 3}, {2, 1}, {1, 1, 1, 1}, 0, 1, "avgpool pad incl"},
        {"AveragePool", 2, {7, 7}, {3, 3}, {2, 2}, {0}, 1, 0, "avgpool ceil"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const pool_case *c = &cases[i];
        tnode t;
        tn_init(&t, c->op);
        tn_ints(&t, "kernel_shape", c->nsp, c->k);
        tn_ints(&t, "strides", c->nsp, c->s);
        tn_ints(&t, "pads", 2 * c->nsp, c->pads);
        if (c->ceil) tn_int(&t, "ceil_mode", 1);
        if (c->incl) tn_int(&t, "count_include_pad", 1);
        int64_t xd[5] = {2, 3};
        for (int k = 0; k < c->nsp; k++) xd[2 + k] = c->in[k];
        nq_tensor in[1];
        spaced(&in[0], 2 + c->nsp, xd);
        CHECK(check(&t, 13, 1, in, 0, 1u, 1e-3, c->label) == 0);
    }
    tnode t;
    tn_init(&t, "GlobalAveragePool");
    nq_tensor in[1];
    mk(&in[0], 4, (int64_t[]){2, 3, 4, 5}, -1, 1);
    CHECK(check(&t, 13, 1, in, 0, 1u, 1e-2, "global avgpool") == 0);
}

/* ---- BatchNormalization (training mode) ---- */
static void test_batchnorm(void)
{
    struct { int nd; int64_t d[4]; } shapes[] = {{4, {3, 2, 4, 4}}, {2, {6, 3}}, {3, {2, 4, 5}}};
    for (size_t s = 0; s < 3; s++) {
        tnode t;
        tn_init(&t, "BatchNormalization");
        tn_float(&t, "epsilon", 1e-3f);
        int64_t C[1] = {shapes[s].d[1]};
        nq_tensor in[5];
        mk(&in[0], shapes[s].nd, shapes[s].d, -1, 2);
        mk(&in[1], 1, C, 0.5f, 1.5f);
        mk(&in[2], 1, C, -1, 1);
        mk(&in[3], 1, C, -1, 1);
        mk(&in[4], 1, C, 0.5f, 1.5f);
        char label[64];
        snprintf(label, sizeof label, "batchnorm train shape %d", (int)s);
        CHECK(check(&t, 15, 5, in, 0, 7u, 1e-3, label) == 0);
    }
}

/* Running statistics follow the ONNX momentum rule. */
static void test_batchnorm_running(void)
{
    tnode t;
    tn_init(&t, "BatchNormalization");
    tn_float(&t, "momentum", 0.8f);
    const float x[8] = {1, 2, 3, 4, 10, 20, 30, 40}; /* [2, 2, 2]: channel 0 = 1,2,10,20 */
    const float one[2] = {1, 1}, zero[2] = {0, 0}, rm[2] = {1, -1}, rv[2] = {2, 3};
    nq_tensor in[5];
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 3, (int64_t[]){2, 2, 2}, x);
    tt_make(&in[1], NQ_DTYPE_FLOAT32, 1, (int64_t[]){2}, one);
    tt_make(&in[2], NQ_DTYPE_FLOAT32, 1, (int64_t[]){2}, zero);
    tt_make(&in[3], NQ_DTYPE_FLOAT32, 1, (int64_t[]){2}, rm);
    tt_make(&in[4], NQ_DTYPE_FLOAT32, 1, (int64_t[]){2}, rv);
    gt_opts o = gt_default_opts();
    gt_run r;
    memset(&r, 0, sizeof r);
    int op = nq_op_find("", "BatchNormalization");
    r.node = &t.node;
    r.def = nq_op_get(op);
    r.gdef = nq_grad_get(op);
    r.opset = 15;
    r.n_in = 5;
    r.n_out = 1;
    r.in = in;
    r.o = &o;
    r.out_present[0] = 1;
    float rvec[8] = {0};
    CHECK(!isnan(gt_forward(&r, rvec)));
    /* channel 0: mean 8.25, biased var = mean of squares - mean^2 */
    const double m0 = (1 + 2 + 10 + 20) / 4.0, v0 = (1 + 4 + 100 + 400) / 4.0 - m0 * m0;
    const double m1 = (3 + 4 + 30 + 40) / 4.0, v1 = (9 + 16 + 900 + 1600) / 4.0 - m1 * m1;
    const float *RM = in[3].data, *RV = in[4].data;
    CHECK_NEAR(RM[0], 1 * 0.8 + m0 * 0.2, 1e-4);
    CHECK_NEAR(RM[1], -1 * 0.8 + m1 * 0.2, 1e-4);
    CHECK_NEAR(RV[0], 2 * 0.8 + v0 * 0.2, 1e-3);
    CHECK_NEAR(RV[1], 3 * 0.8 + v1 * 0.2, 1e-3);
    const float *y = r.out[0].data;
    CHECK_NEAR(y[0], (1 - m0) / sqrt(v0 + 1e-5), 1e-5);
    nq_tensor_free(&r.out[0]);
    r.gdef->state_free(r.state);
    free(r.scratch);
    tt_free_all(in, 5);
}

/* ---- data movement, softmax, reductions ---- */
static void test_movement(void)
{
    {
        tnode t;
        tn_init(&t, "Flatten");
        tn_int(&t, "axis", 1);
        nq_tensor in[1];
        mk(&in[0], 4, (int64_t[]){2, 3, 2, 2}, -1, 1);
        CHECK(check(&t, 13, 1, in, 0, 1u, 1e-2, "flatten") == 0);
    }
    {
        tnode t;
        tn_init(&t, "Reshape");
        nq_tensor in[2];
        mk(&in[0], 3, (int64_t[]){2, 3, 4}, -1, 1);
        mk_i64(&in[1], 2, (int64_t[]){4, -1});
        CHECK(check(&t, 13, 2, in, 2u, 1u, 1e-2, "reshape") == 0);
    }
    for (int axis = 0; axis < 3; axis++) {
        tnode t;
        tn_init(&t, "Concat");
        tn_int(&t, "axis", axis == 2 ? -1 : axis);
        nq_tensor in[3];
        int64_t a[3] = {2, 3, 2}, b[3] = {2, 3, 2}, c[3] = {2, 3, 2};
        a[axis] = 1, b[axis] = 2, c[axis] = 3;
        mk(&in[0], 3, a, -1, 1);
        mk(&in[1], 3, b, -1, 1);
        mk(&in[2], 3, c, -1, 1);
        char label[32];
        snprintf(label, sizeof label, "concat axis %d", axis);
        CHECK(check(&t, 13, 3, in, 0, 7u, 1e-2, label) == 0);
    }
}

static void test_softmax(void)
{
    struct { const char *op; int64_t opset, axis; int has_axis; const char *label; } cases[] = {
        {"Softmax", 13, -1, 0, "softmax axis -1"},
        {"Softmax", 13, 1, 1, "softmax axis 1"},
        {"Softmax", 11, 1, 0, "softmax opset 11 coerced"},
        {"LogSoftmax", 13, -1, 0, "logsoftmax axis -1"},
        {"LogSoftmax", 13, 0, 1, "logsoftmax axis 0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tnode t;
        tn_init(&t, cases[i].op);
        if (cases[i].has_axis) tn_int(&t, "axis", cases[i].axis);
        nq_tensor in[1];
        mk(&in[0], 3, (int64_t[]){2, 3, 4}, -2, 2);
        CHECK(check(&t, cases[i].opset, 1, in, 0, 1u, 1e-3, cases[i].label) == 0);
    }
}

static void test_reduce(void)
{
    {
        tnode t;
        tn_init(&t, "ReduceSum");
        tn_int(&t, "keepdims", 0);
        nq_tensor in[2];
        mk(&in[0], 3, (int64_t[]){2, 3, 4}, -1, 1);
        mk_i64(&in[1], 1, (int64_t[]){1});
        CHECK(check(&t, 13, 2, in, 2u, 1u, 1e-2, "reducesum axes input") == 0);
    }
    {
        static const int64_t axes[2] = {0, 2};
        tnode t;
        tn_init(&t, "ReduceMean");
        tn_ints(&t, "axes", 2, axes);
        nq_tensor in[1];
        mk(&in[0], 3, (int64_t[]){2, 3, 4}, -1, 1);
        CHECK(check(&t, 13, 1, in, 0, 1u, 1e-2, "reducemean axes attr") == 0);
    }
    {
        tnode t;
        tn_init(&t, "ReduceMean");
        nq_tensor in[1];
        mk(&in[0], 3, (int64_t[]){2, 3, 4}, -1, 1);
        CHECK(check(&t, 18, 1, in, 0, 1u, 1e-2, "reducemean all") == 0);
    }
}

/* The checker can fail: a wrong gradient (Relu's, with the mask reversed;
 * Gemm's, with alpha ignored) must be caught. */
static nq_status bad_relu_backward(nq_gctx *c)
{
    const float *g = c->dout[0]->data, *y = c->out[0]->data;
    float *d = c->din[0]->data;
    for (int64_t i = 0; i < nq_tensor_numel(c->din[0]); i++) d[i] += y[i] > 0 ? 0.0f : g[i];
    return NQ_OK;
}

static void test_checker_fails(void)
{
    const nq_grad_def *real = nq_grad_get(nq_op_find("", "Relu"));
    REQUIRE(real != NULL);
    nq_grad_def bad = *real;
    bad.backward = bad_relu_backward;
    gt_opts o = gt_default_opts();
    o.eps = 1e-3;
    o.gdef = &bad;
    tnode t;
    tn_init(&t, "Relu");
    nq_tensor in[1];
    spaced(&in[0], 1, (int64_t[]){16});
    fprintf(stderr, "(mismatches expected below: a broken Relu backward)\n");
    CHECK(gt_check(&t.node, 13, 1, in, 0, 1u, 1, &o, "broken relu") > 0);
    tt_free_all(in, 1);
    /* Gemm with alpha 0.5: the correct entry passes, so a gradient off by
     * a factor 2 would not (checked by the relative tolerance) */
    tnode tg;
    tn_init(&tg, "Gemm");
    tn_float(&tg, "alpha", 0.5f);
    nq_tensor gi[2];
    mk(&gi[0], 2, (int64_t[]){2, 3}, -1, 1);
    mk(&gi[1], 2, (int64_t[]){3, 2}, -1, 1);
    o = gt_default_opts();
    CHECK(gt_check(&tg.node, 13, 2, gi, 0, 3u, 1, &o, "gemm alpha") == 0);
    tt_free_all(gi, 2);
}

int main(void)
{
    test_conv();
    test_gemm();
    test_matmul();
    test_binary();
    test_activations();
    test_pools();
    test_batchnorm();
    test_batchnorm_running();
    test_movement();
    test_softmax();
    test_reduce();
    test_checker_fails();
    TEST_MAIN_END();
}
