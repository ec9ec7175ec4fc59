/* The QAT operators (domain ai.nnquant, docs/qat.md): forward values of
 * LSQ (signed and unsigned ranges, uninitialized step), DoReFa (Default and
 * Symmetric modes), CGPACT, TanhClamp, ScaleAdjust, FixedQ (signed and
 * unsigned), and their backward passes: straight-through and step/alpha
 * gradients against their formulas, TanhClamp and ScaleAdjust (smooth)
 * against central finite differences; LSQ's training forward initializes
 * the step from the batch; the float Quantizer's backward; bad attributes. */
#include <math.h>
#include <string.h>

#include "nnquant/grad.h"
#include "nnquant/ops.h"
#include "nqtest.h"
#include "ops_testutil.h"

static void node_init(tnode *t, const char *op)
{
    tn_init(t, op);
    t->node.domain = (char *)NQ_DOMAIN;
    t->node.op = nq_op_find(NQ_DOMAIN, op);
    REQUIRE(t->node.op >= 0);
}

static void tn_str(tnode *t, const char *name, const char *v)
{
    tn_add(t, name, NQ_ATTR_STRING)->s = (char *)v;
}

/* Forward with every input known; out[n_out] allocated by run_op. */
static nq_status fwd(tnode *t, int n_in, nq_tensor *in, int n_out, nq_tensor *out, nq_error *e)
{
    return run_op(nq_op_get(t->node.op), &t->node, 1, n_in, in, 0xffu, n_out, out, e);
}

/* Backward: dout as given (NULL entries = none), din zeroed tensors of the
 * inputs' shapes (all wanted). */
static nq_status bwd(tnode *t, int n_in, nq_tensor *in, int n_out, nq_tensor *out, nq_tensor *dout, nq_tensor *din)
{
    const nq_grad_def *gd = nq_grad_get(t->node.op);
    REQUIRE(gd != NULL);
    nq_tensor *inp[8], *outp[8], *dinp[8];
    const nq_tensor *doutp[8];
    for (int i = 0; i < n_in; i++) {
        tt_make(&din[i], NQ_DTYPE_FLOAT32, in[i].ndim, in[i].dims, NULL);
        inp[i] = &in[i];
        dinp[i] = &din[i];
    }
    for (int k = 0; k < n_out; k++) {
        outp[k] = &out[k];
        doutp[k] = dout[k].data ? &dout[k] : NULL;
    }
    nq_error e = {0};
    void *state = NULL;
    nq_gctx c = {.node = &t->node, .opset = 1, .n_in = n_in, .in = inp, .n_out = n_out, .out = outp,
                 .dout = doutp, .din = dinp, .state = &state, .num_threads = 1, .err = &e};
    nq_status s = gd->backward(&c);
    if (s != NQ_OK) fprintf(stderr, "backward: %s\n", e.msg);
    free(state);
    return s;
}

static float *F(nq_tensor *t) { return t->data; }

static void test_lsq(void)
{
    nq_error e = {0};
    tnode t;
    node_init(&t, "LSQ");
    int64_t range[2] = {-2, 3};
    tn_ints(&t, "range", 2, range);
    const float xs[10] = {-2.0f, -0.3f, 0.26f, 0.74f, 5.0f, 0.1f, -0.8f, 1.2f, 0.6f, -0.2f};
    const float step = 0.5f;
    int64_t dims[2] = {2, 5};
    nq_tensor in[2], out[1], dout[1], din[2];
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 2, dims, xs);
    tt_make(&in[1], NQ_DTYPE_FLOAT32, 0, NULL, &step);
    CHECK_OK(fwd(&t, 2, in, 1, out, &e));
    /* x/s = -4 -0.6 0.52 1.48 10 | 0.2 -1.6 2.4 1.2 -0.4 -> clamp [-2, 3], round half even */
    const float want[10] = {-1.0f, -0.5f, 0.5f, 0.5f, 1.5f, 0.0f, -1.0f, 1.0f, 0.5f, 0.0f};
    for (int i = 0; i < 10; i++) CHECK_NEAR(F(&out[0])[i], want[i], 1e-7);
    /* backward: dx = g inside (lo, hi); ds = sum g (round(v) - v | lo | hi) / sqrt(N Qp) */
    float g[10];
    for (int i = 0; i < 10; i++) g[i] = 0.1f * (float)(i + 1);
    tt_make(&dout[0], NQ_DTYPE_FLOAT32, 2, dims, g);
    CHECK_OK(bwd(&t, 2, in, 1, out, dout, din));
    double ds = 0;
    for (int i = 0; i < 10; i++) {
        double v = xs[i] / step, term = v <= -2 ? -2 : v >= 3 ? 3 : nearbyint(v) - v;
        ds += g[i] * term;
        CHECK_NEAR(F(&din[0])[i], (v > -2 && v < 3) ? g[i] : 0.0, 1e-7);
    }
    CHECK_NEAR(F(&din[1])[0], ds / sqrt(5.0 * 3.0), 1e-5); /* activations: N = 5 per sample */
    tt_free_all(din, 2);
    /* as a weight: N = all 10 elements */
    tn_int(&t, "weight", 1);
    CHECK_OK(bwd(&t, 2, in, 1, out, dout, din));
    CHECK_NEAR(F(&din[1])[0], ds / sqrt(10.0 * 3.0), 1e-5);
    tt_free_all(din, 2);
    tt_free_all(out, 1);
    /* unsigned range [0, 15] */
    tnode u;
    node_init(&u, "LSQ");
    int64_t ur[2] = {0, 15};
    tn_ints(&u, "range", 2, ur);
    CHECK_OK(fwd(&u, 2, in, 1, out, &e));
    CHECK_NEAR(F(&out[0])[0], 0.0, 0);    /* negative -> 0 */
    CHECK_NEAR(F(&out[0])[4], 5.0, 1e-6); /* 10 steps */
    CHECK_NEAR(F(&out[0])[7], 1.0, 1e-6); /* 2.4 -> 2 */
    tt_free_all(out, 1);
    /* training forward: step 0 -> 2 mean|x| / sqrt(Qp) from this batch */
    *F(&in[1]) = 0.0f;
    CHECK_OK(fwd(&u, 2, in, 1, out, &e)); /* uninitialized: identity */
    CHECK_NEAR(F(&out[0])[1], xs[1], 0);
    double mean = 0;
    for (int i = 0; i < 10; i++) mean += fabs(xs[i]) / 10.0;
    const nq_grad_def *gd = nq_grad_get(u.node.op);
    nq_tensor *inp[2] = {&in[0], &in[1]}, *outp[1] = {&out[0]};
    nq_gctx c = {.node = &u.node, .opset = 1, .n_in = 2, .in = inp, .n_out = 1, .out = outp, .num_threads = 1, .err = &e};
    REQUIRE(gd->forward_train != NULL);
    CHECK_OK(gd->forward_train(&c));
    CHECK_NEAR(*F(&in[1]), 2.0 * mean / sqrt(15.0), 1e-6);
    tt_free_all(out, 1);
    /* a bad range */
    tnode b;
    node_init(&b, "LSQ");
    int64_t br[2] = {3, 3};
    tn_ints(&b, "range", 2, br);
    CHECK(fwd(&b, 2, in, 1, out, &e) == NQ_ERR_INVALID_ARG && strstr(e.msg, "range") != NULL);
    tt_free_all(dout, 1);
    tt_free_all(in, 2);
}

static void test_dorefa(void)
{
    nq_error e = {0};
    const float xs[6] = {-1.2f, -0.9f, 0.0f, 0.2f, 0.3f, 0.5f};
    int64_t dims[1] = {6};
    nq_tensor in[1], out[1], dout[1], din[1];
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 1, dims, xs);
    /* Default, R = 3: y = 2 round(3 (x+1) / 2) / 3 - 1, levels -1, -1/3, 1/3, 1 */
    tnode d;
    node_init(&d, "DoReFa");
    tn_int(&d, "range", 3);
    CHECK_OK(fwd(&d, 1, in, 1, out, &e));
    const float wd[6] = {-1.0f, -1.0f, 1.0f / 3, 1.0f / 3, 1.0f / 3, 1.0f / 3};
    for (int i = 0; i < 6; i++) CHECK_NEAR(F(&out[0])[i], wd[i], 1e-6);
    tt_free_all(out, 1);
    /* Symmetric, R = 15: H = 7, y = round(7 x) / 7 (zero is a level) */
    tnode s;
    node_init(&s, "DoReFa");
    tn_int(&s, "range", 15);
    tn_str(&s, "mode", "symmetric");
    CHECK_OK(fwd(&s, 1, in, 1, out, &e));
    const float ws[6] = {-1.0f, -6.0f / 7, 0.0f, 1.0f / 7, 2.0f / 7, 4.0f / 7}; /* 3.5 -> 4 (half to even) */
    for (int i = 0; i < 6; i++) CHECK_NEAR(F(&out[0])[i], ws[i], 1e-6);
    /* backward: straight through on [-1, 1] */
    float g[6] = {1, 2, 3, 4, 5, 6};
    tt_make(&dout[0], NQ_DTYPE_FLOAT32, 1, dims, g);
    CHECK_OK(bwd(&s, 1, in, 1, out, dout, din));
    for (int i = 0; i < 6; i++) CHECK_NEAR(F(&din[0])[i], i == 0 ? 0.0 : g[i], 0);
    tt_free_all(din, 1);
    tt_free_all(out, 1);
    tnode bad;
    node_init(&bad, "DoReFa");
    tn_str(&bad, "mode", "asymmetric");
    CHECK(fwd(&bad, 1, in, 1, out, &e) == NQ_ERR_INVALID_ARG && strstr(e.msg, "mode") != NULL);
    tt_free_all(dout, 1);
    tt_free_all(in, 1);
}

static void test_cgpact(void)
{
    nq_error e = {0};
    tnode t;
    node_init(&t, "CGPACT");
    tn_int(&t, "range", 3);
    const float xs[5] = {-1.0f, 0.5f, 1.0f, 2.5f, 0.2f}, alpha = 2.0f;
    int64_t dims[1] = {5};
    nq_tensor in[2], out[1], dout[1], din[2];
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 1, dims, xs);
    tt_make(&in[1], NQ_DTYPE_FLOAT32, 0, NULL, &alpha);
    CHECK_OK(fwd(&t, 2, in, 1, out, &e));
    /* round(clamp(x, 0, 2) * 3 / 2) * 2 / 3 */
    const float want[5] = {0.0f, 2.0f / 3, 4.0f / 3, 2.0f, 0.0f};
    for (int i = 0; i < 5; i++) CHECK_NEAR(F(&out[0])[i], want[i], 1e-6);
    float g[5] = {1, 2, 3, 4, 5};
    tt_make(&dout[0], NQ_DTYPE_FLOAT32, 1, dims, g);
    CHECK_OK(bwd(&t, 2, in, 1, out, dout, din));
    double da = 0;
    for (int i = 0; i < 5; i++) {
        int inside = xs[i] >= 0 && xs[i] < alpha;
        CHECK_NEAR(F(&din[0])[i], inside ? g[i] : 0.0, 0);
        da += xs[i] >= alpha ? g[i] : inside ? g[i] * (want[i] - xs[i]) / alpha : 0.0;
    }
    CHECK_NEAR(F(&din[1])[0], da, 1e-5);
    tt_free_all(din, 2);
    tt_free_all(out, 1);
    const float zero = 0.0f;
    memcpy(in[1].data, &zero, sizeof zero);
    CHECK(fwd(&t, 2, in, 1, out, &e) == NQ_ERR_DATA && strstr(e.msg, "alpha") != NULL);
    tt_free_all(out, 1); /* allocated before the forward failed */
    tt_free_all(dout, 1);
    tt_free_all(in, 2);
}

/* L = sum r0_i y_i + r1 * out1, its analytic gradient against central
 * differences in every input element. */
static void fd_check(const char *op, int ndim, const int64_t *dims, const float *xs)
{
    nq_error e = {0};
    tnode t;
    node_init(&t, op);
    nq_tensor in[1], out[2], dout[2], din[1];
    tt_make(&in[0], NQ_DTYPE_FLOAT32, ndim, dims, xs);
    int64_t n = nq_tensor_numel(&in[0]), one = 1;
    CHECK_OK(fwd(&t, 1, in, 2, out, &e));
    float *r0 = malloc(sizeof(float) * (size_t)n), r1 = 0.7f;
    unsigned st = 5;
    for (int64_t i = 0; i < n; i++) r0[i] = tt_rand(&st, -1.0f, 1.0f);
    tt_make(&dout[0], NQ_DTYPE_FLOAT32, ndim, dims, r0);
    tt_make(&dout[1], NQ_DTYPE_FLOAT32, 1, &one, &r1);
    CHECK_OK(bwd(&t, 1, in, 2, out, dout, din));
    tt_free_all(out, 2);
    double worst = 0;
    for (int64_t i = 0; i < n; i++) {
        float keep = F(&in[0])[i];
        double l[2];
        for (int k = 0; k < 2; k++) {
            F(&in[0])[i] = keep + (k ? -1e-3f : 1e-3f);
            CHECK_OK(fwd(&t, 1, in, 2, out, &e));
            double sum = r1 * F(&out[1])[0];
            for (int64_t j = 0; j < n; j++) sum += (double)r0[j] * F(&out[0])[j];
            l[k] = sum;
            tt_free_all(out, 2);
        }
        F(&in[0])[i] = keep;
        double fd = (l[0] - l[1]) / 2e-3, an = F(&din[0])[i];
        worst = fmax(worst, fabs(fd - an) / fmax(1.0, fabs(fd)));
    }
    if (worst > 2e-2) fprintf(stderr, "%s: finite differences differ by %g\n", op, worst);
    CHECK(worst <= 2e-2);
    free(r0);
    tt_free_all(din, 1);
    tt_free_all(dout, 2);
    tt_free_all(in, 1);
}

static void test_tanhclamp_scaleadjust(void)
{
    nq_error e = {0};
    const float xs[6] = {-2.0f, -0.5f, 0.0f, 0.25f, 1.0f, 0.7f};
    int64_t dims[2] = {2, 3}, one = 1;
    nq_tensor in[1], out[2];
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 2, dims, xs);
    tnode t;
    node_init(&t, "TanhClamp");
    (void)one;
    CHECK_OK(fwd(&t, 1, in, 2, out, &e));
    double m = tanh(2.0);
    CHECK_NEAR(F(&out[1])[0], m, 1e-6);
    for (int i = 0; i < 6; i++) CHECK_NEAR(F(&out[0])[i], tanh(xs[i]) / m, 1e-6);
    CHECK_NEAR(F(&out[0])[0], -1.0, 1e-6);
    tt_free_all(out, 2);
    /* ScaleAdjust on a [4, 3, 2, 2] weight: y = x / sqrt(n_out Var), n_out = 4*2*2 */
    int64_t wd[4] = {4, 3, 2, 2};
    float w[48];
    unsigned st = 11;
    for (int i = 0; i < 48; i++) w[i] = tt_rand(&st, -0.5f, 0.8f);
    nq_tensor win[1];
    tt_make(&win[0], NQ_DTYPE_FLOAT32, 4, wd, w);
    tnode s;
    node_init(&s, "ScaleAdjust");
    CHECK_OK(fwd(&s, 1, win, 2, out, &e));
    double mu = 0, var = 0;
    for (int i = 0; i < 48; i++) mu += w[i] / 48.0;
    for (int i = 0; i < 48; i++) var += (w[i] - mu) * (w[i] - mu) / 48.0;
    double k = 1.0 / sqrt(16.0 * var);
    CHECK_NEAR(F(&out[1])[0], k, 1e-5);
    for (int i = 0; i < 48; i++) CHECK_NEAR(F(&out[0])[i], w[i] * k, 1e-5);
    tt_free_all(out, 2);
    tt_free_all(win, 1);
    tt_free_all(in, 1);
    fd_check("TanhClamp", 2, dims, xs);
    fd_check("ScaleAdjust", 4, wd, w);
}

static void test_fixedq(void)
{
    nq_error e = {0};
    const float xs[4] = {-5.0f, -1.26f, 0.3f, 3.6f};
    int64_t dims[1] = {4};
    nq_tensor in[1], out[1], dout[1], din[1];
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 1, dims, xs);
    tnode t;
    node_init(&t, "FixedQ"); /* signed 4 bits, span 4: step 0.5, [-8, 7] steps */
    tn_int(&t, "nb_bits", 4);
    tn_float(&t, "span", 4.0f);
    CHECK_OK(fwd(&t, 1, in, 1, out, &e));
    const float want[4] = {-4.0f, -1.5f, 0.5f, 3.5f};
    for (int i = 0; i < 4; i++) CHECK_NEAR(F(&out[0])[i], want[i], 1e-7);
    float g[4] = {1, 2, 3, 4};
    tt_make(&dout[0], NQ_DTYPE_FLOAT32, 1, dims, g);
    CHECK_OK(bwd(&t, 1, in, 1, out, dout, din));
    const float wg[4] = {0, 2, 3, 0}; /* -10 and 7.2 steps saturate */
    for (int i = 0; i < 4; i++) CHECK_NEAR(F(&din[0])[i], wg[i], 0);
    tt_free_all(din, 1);
    tt_free_all(out, 1);
    tnode u;
    node_init(&u, "FixedQ"); /* unsigned 4 bits, span 4: step 0.25, [0, 15] */
    tn_int(&u, "nb_bits", 4);
    tn_float(&u, "span", 4.0f);
    tn_int(&u, "is_output_unsigned", 1);
    CHECK_OK(fwd(&u, 1, in, 1, out, &e));
    const float wu[4] = {0.0f, 0.0f, 0.25f, 3.5f};
    for (int i = 0; i < 4; i++) CHECK_NEAR(F(&out[0])[i], wu[i], 1e-7);
    tt_free_all(out, 1);
    tnode d;
    node_init(&d, "FixedQ"); /* defaults: 8 bits, span 4 -> step 1/32 */
    CHECK_OK(fwd(&d, 1, in, 1, out, &e));
    CHECK_NEAR(F(&out[0])[0], -4.0, 0);
    CHECK_NEAR(F(&out[0])[3], 3.59375, 1e-7); /* 115.2 -> 115 */
    tt_free_all(out, 1);
    tnode b;
    node_init(&b, "FixedQ");
    tn_float(&b, "span", -1.0f);
    CHECK(fwd(&b, 1, in, 1, out, &e) == NQ_ERR_INVALID_ARG && strstr(e.msg, "span") != NULL);
    tt_free_all(dout, 1);
    tt_free_all(in, 1);
}

static void test_quantizer_backward(void)
{
    nq_error e = {0};
    tnode t;
    tn_init(&t, "Quantizer");
    t.node.domain = (char *)NQ_DOMAIN;
    t.node.op = NQ_OP_Quantizer;
    tn_int(&t, "round", 0);
    tn_float(&t, "clip_max", 1.0f);
    const float xs[3] = {0.5f, 1.0f, 4.0f}, sc = 0.5f;
    int64_t dims[1] = {3};
    nq_tensor in[2], out[1], dout[1], din[2];
    tt_make(&in[0], NQ_DTYPE_FLOAT32, 1, dims, xs);
    tt_make(&in[1], NQ_DTYPE_FLOAT32, 0, NULL, &sc);
    CHECK_OK(fwd(&t, 2, in, 1, out, &e));
    float g[3] = {1, 1, 1};
    tt_make(&dout[0], NQ_DTYPE_FLOAT32, 1, dims, g);
    CHECK_OK(bwd(&t, 2, in, 1, out, dout, din));
    CHECK_NEAR(F(&din[0])[0], 0.5, 0); /* y = 0.25: inside */
    CHECK_NEAR(F(&din[0])[1], 0.5, 0); /* y = 0.5 */
    CHECK_NEAR(F(&din[0])[2], 0.0, 0); /* y = 2 clipped to 1 */
    CHECK_NEAR(F(&din[1])[0], 0.0, 0); /* the scale is not trained */
    tt_free_all(din, 2);
    tt_free_all(out, 1);
    tt_free_all(dout, 1);
    tt_free_all(in, 2);
}

int main(void)
{
    test_lsq();
    test_dorefa();
    test_cgpact();
    test_tanhclamp_scaleadjust();
    test_fixedq();
    test_quantizer_backward();
    TEST_MAIN_END();
}
