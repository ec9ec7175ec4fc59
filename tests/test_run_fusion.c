/* Fusion of element-wise nodes into the Conv before them (plan.c): which
 * nodes fuse (BatchNormalization, Clip, Relu, LeakyRelu after a Conv whose
 * output only they read; not a Conv output read twice or that is a graph
 * output), and a fused run gives the same bytes as the unfused run (a
 * session with an observer never fuses) on every Conv path: GEMM-fused,
 * Winograd, im2col, pointwise and depthwise, one and two threads. */
#include <string.h>

#include "nnquant/ops.h"
#include "ptq_testutil.h"
#include "run/run_internal.h"

/* A constant initializer of n values lo + (hi - lo) * u, u uniform in [0, 1). */
static int const_init(nq_graph *g, const char *name, int64_t n, float lo, float hi, rng *r)
{
    nq_tensor t;
    REQUIRE(nq_tensor_alloc(&t, NQ_DTYPE_FLOAT32, 1, &n, NULL) == NQ_OK);
    for (int64_t i = 0; i < n; i++)
        ((float *)t.data)[i] = lo + (hi - lo) * (rng_sym(r) * 0.5f + 0.5f);
    int v = nq_graph_add_initializer(g, name, &t, NULL);
    REQUIRE(v >= 0);
    return v;
}

static nq_node *conv(nq_graph *g, const char *name, int x, int m, int c, int k, int group,
                     int stride, int bias, int y, rng *r)
{
    char wn[32], bn[32];
    snprintf(wn, sizeof wn, "%s.W", name);
    snprintf(bn, sizeof bn, "%s.B", name);
    int64_t wd[4] = {m, c / group, k, k};
    int ins[3] = {x, rand_init(g, wn, 4, wd, r, NULL, NULL, 0), bias ? const_init(g, bn, m, -1, 1, r) : -1};
    nq_node *n = node(g, "Conv", name, bias ? 3 : 2, ins, y);
    int64_t pads[4] = {k / 2, k / 2, k / 2, k / 2}, strides[2] = {stride, stride};
    REQUIRE(nq_node_set_ints(n, "pads", 4, pads) == NQ_OK);
    REQUIRE(nq_node_set_ints(n, "strides", 2, strides) == NQ_OK);
    REQUIRE(nq_node_set_int(n, "group", group) == NQ_OK);
    return n;
}

static void batchnorm(nq_graph *g, const char *name, int x, int c, int y, rng *r)
{
    char pn[4][32];
    const char *what[4] = {"scale", "bias", "mean", "var"};
    for (int i = 0; i < 4; i++) snprintf(pn[i], sizeof pn[i], "%s.%s", name, what[i]);
    int ins[5] = {x, const_init(g, pn[0], c, 0.5f, 2, r), const_init(g, pn[1], c, -1, 1, r),
                  const_init(g, pn[2], c, -0.5f, 0.5f, r), const_init(g, pn[3], c, 0.1f, 3, r)};
    node(g, "BatchNormalization", name, 5, ins, y);
}

/* x[N,4,9,7] -> c1 (3x3, K 36: GEMM-fused) -> BN -> Clip[0, 1.5]
 * -> c2 (depthwise 3x3, stride 2) -> BN -> Relu -> c3 (pointwise, 16) -> LeakyRelu
 * -> c4 (3x3, 16 -> 16: Winograd) read by Relu and Add (not fused)
 * -> c5 (pointwise, 5), a graph output, read by Sigmoid (not fused) -> y. */
static nq_graph *chain(void)
{
    rng r = {42};
    nq_graph *g = nq_graph_create("fusion");
    REQUIRE(g != NULL);
    int64_t xd[4] = {-1, 4, 9, 7};
    int x = add_input(g, "x", 4, xd);
    const char *names[] = {"c1", "b1", "k1", "c2", "b2", "r2", "c3", "l3", "c4", "r4", "z", "c5", "y"};
    int v[13];
    for (int i = 0; i < 13; i++) v[i] = val(g, names[i]);
    conv(g, "conv1", x, 8, 4, 3, 1, 1, 1, v[0], &r);
    batchnorm(g, "bn1", v[0], 8, v[1], &r);
    int clip_in[3] = {v[1], const_init(g, "lo", 1, 0, 0, &r), const_init(g, "hi", 1, 1.5f, 1.5f, &r)};
    node(g, "Clip", "clip1", 3, clip_in, v[2]);
    conv(g, "conv2", v[2], 8, 8, 3, 8, 2, 1, v[3], &r);
    batchnorm(g, "bn2", v[3], 8, v[4], &r);
    node(g, "Relu", "relu2", 1, &v[4], v[5]);
    conv(g, "conv3", v[5], 16, 8, 1, 1, 1, 0, v[6], &r);
    REQUIRE(nq_node_set_float(node(g, "LeakyRelu", "leaky3", 1, &v[6], v[7]), "alpha", 0.1f) == NQ_OK);
    conv(g, "conv4", v[7], 16, 16, 3, 1, 1, 1, v[8], &r);
    node(g, "Relu", "relu4", 1, &v[8], v[9]);
    int add_in[2] = {v[8], v[9]};
    node(g, "Add", "add", 2, add_in, v[10]);
    conv(g, "conv5", v[10], 5, 16, 1, 1, 1, 1, v[11], &r);
    node(g, "Sigmoid", "sig", 1, &v[11], v[12]);
    REQUIRE(nq_graph_add_output(g, v[11], NULL) == NQ_OK);
    REQUIRE(nq_graph_add_output(g, v[12], NULL) == NQ_OK);
    REQUIRE(nq_graph_set_opset(g, "", 13, NULL) == NQ_OK);
    REQUIRE(nq_ops_resolve(g, NULL) == NQ_OK);
    return g;
}

static int count_calls(void *user, const nq_graph *g, const nq_node *n, int value, const nq_tensor *t)
{
    (void)g, (void)n, (void)value, (void)t;
    ++*(int *)user;
    return 0;
}

/* Runs g on x: outputs y[2]; with observe, through an observer (unfused),
 * which must see every node's output. */
static void run(const nq_graph *g, const nq_tensor *x, int threads, int observe, nq_tensor *y)
{
    nq_session_opts o = {threads};
    nq_session *s = NULL;
    nq_error err = {0};
    int calls = 0;
    REQUIRE(nq_session_create(g, &o, &s, &err) == NQ_OK);
    if (observe) REQUIRE(nq_session_add_observer(s, count_calls, &calls, &err) == NQ_OK);
    nq_status st = nq_session_run(s, x, 1, y, 2, &err);
    if (st != NQ_OK) fprintf(stderr, "run: %s\n", err.msg);
    REQUIRE(st == NQ_OK);
    if (observe) CHECK(calls == g->n_nodes);
    nq_session_free(s);
}

/* One session: fused, then with an observer (the plan is rebuilt unfused:
 * the observer sees every node), then without it again: the same bytes. */
static void check_switch(const nq_graph *g, const nq_tensor *x)
{
    nq_session *s = NULL;
    nq_error err = {0};
    nq_tensor y[3][2] = {{{0}}};
    int calls = 0;
    REQUIRE(nq_session_create(g, NULL, &s, &err) == NQ_OK);
    REQUIRE(nq_session_run(s, x, 1, y[0], 2, &err) == NQ_OK);
    REQUIRE(nq_session_add_observer(s, count_calls, &calls, &err) == NQ_OK);
    REQUIRE(nq_session_run(s, x, 1, y[1], 2, &err) == NQ_OK);
    CHECK(calls == g->n_nodes);
    nq_session_clear_observers(s);
    REQUIRE(nq_session_run(s, x, 1, y[2], 2, &err) == NQ_OK);
    CHECK(calls == g->n_nodes);
    for (int r = 1; r < 3; r++)
        for (int k = 0; k < 2; k++) {
            CHECK(memcmp(y[r][k].data, y[0][k].data,
                         (size_t)nq_tensor_numel(&y[0][k]) * sizeof(float)) == 0);
        }
    for (int r = 0; r < 3; r++)
        for (int k = 0; k < 2; k++) nq_tensor_free(&y[r][k]);
    nq_session_free(s);
}

/* The plan fuses BN+Clip into c1, BN+Relu into c2, LeakyRelu into c3,
 * nothing into c4 or c5: 13 nodes in 8 steps, the fused values never stored. */
static void check_plan(const nq_graph *g, const nq_tensor *x)
{
    nq_plan *p = NULL;
    nq_error err = {0};
    REQUIRE(nq_plan_build(g, x, 1, 1, 1, 1, &p, &err) == NQ_OK);
    CHECK(p->n_steps == 8);
    const int want[8] = {2, 2, 1, 0, 0, 0, 0, 0};
    for (int s = 0; s < p->n_steps && s < 8; s++) CHECK(p->steps[s].n_epi == want[s]);
    const char *fused[] = {"c1", "b1", "c2", "b2", "c3"}, *stored[] = {"k1", "r2", "l3", "c4", "c5"};
    for (int i = 0; i < 5; i++) {
        CHECK(p->slots[nq_graph_find_value(g, fused[i])].kind == NQ_SLOT_FUSED);
        CHECK(p->slots[nq_graph_find_value(g, stored[i])].kind == NQ_SLOT_ACT);
    }
    nq_plan_free(p);
    REQUIRE(nq_plan_build(g, x, 1, 1, 1, 0, &p, &err) == NQ_OK);
    CHECK(p->n_steps == g->n_nodes);
    nq_plan_free(p);
}

int main(void)
{
    nq_graph *g = chain();
    rng r = {7};
    for (int64_t batch = 1; batch <= 3; batch += 2) {
        int64_t xd[4] = {batch, 4, 9, 7};
        nq_tensor x;
        REQUIRE(nq_tensor_alloc(&x, NQ_DTYPE_FLOAT32, 4, xd, NULL) == NQ_OK);
        for (int64_t i = 0; i < nq_tensor_numel(&x); i++) ((float *)x.data)[i] = 2 * rng_sym(&r);
        if (batch == 1) check_plan(g, &x);
        check_switch(g, &x);
        for (int threads = 1; threads <= 2; threads++) {
            nq_tensor fused[2] = {{0}}, plain[2] = {{0}};
            run(g, &x, threads, 0, fused);
            run(g, &x, threads, 1, plain);
            for (int k = 0; k < 2; k++) {
                REQUIRE(nq_tensor_same_shape(&fused[k], &plain[k]));
                size_t bytes = (size_t)nq_tensor_numel(&plain[k]) * sizeof(float);
                if (memcmp(fused[k].data, plain[k].data, bytes) != 0) {
                    fprintf(stderr, "batch %lld, %d thread(s), output %d: fused != unfused\n",
                            (long long)batch, threads, k);
                    nqt_failures++;
                }
                nq_tensor_free(&fused[k]);
                nq_tensor_free(&plain[k]);
            }
        }
        nq_tensor_free(&x);
    }
    nq_graph_free(g);
    TEST_MAIN_END();
}
