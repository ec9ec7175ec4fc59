/* Helpers of the PTQ unit tests: a fixed-seed generator and small graph
 * builders (values, random initializers, inputs, Gemm nodes), one-batch runs. */
#ifndef NQ_PTQ_TESTUTIL_H
#define NQ_PTQ_TESTUTIL_H
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "nnquant/core.h"
#include "nnquant/data.h"
#include "nnquant/run.h"
#include "nqtest.h"

/* ---- fixed-seed generator (state in the caller) ---- */

typedef struct rng {
    uint64_t s;
} rng;

static inline uint64_t rng_next(rng *r) /* splitmix64 */
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}
/* uniform in [-1, 1) */
static inline float rng_sym(rng *r) { return (float)(((double)(rng_next(r) >> 11) * 0x1p-53) * 2.0 - 1.0); }

/* ---- graph building ---- */

static inline int val(nq_graph *g, const char *name)
{
    int v = nq_graph_add_value(g, name, NULL);
    REQUIRE(v >= 0);
    return v;
}

/* Initializer of random values in [-1, 1); row r (first dim) of a 2-D or
 * higher tensor is multiplied by row_gain[r % n_gain] (unbalanced ranges),
 * or, with col_gain, element (r, c) of a 2-D tensor by col_gain[c % n_gain]. */
static inline int rand_init(nq_graph *g, const char *name, int ndim, const int64_t *dims, rng *r,
                     const float *row_gain, const float *col_gain, int n_gain)
{
    nq_tensor t;
    REQUIRE(nq_tensor_alloc(&t, NQ_DTYPE_FLOAT32, ndim, dims, NULL) == NQ_OK);
    int64_t n = nq_tensor_numel(&t), per = ndim > 0 ? n / dims[0] : 1;
    for (int64_t i = 0; i < n; i++) {
        float gain = 1.0f;
        if (row_gain) gain = row_gain[(i / per) % n_gain];
        if (col_gain) gain = col_gain[(i % per) % n_gain];
        ((float *)t.data)[i] = rng_sym(r) * gain;
    }
    int v = nq_graph_add_initializer(g, name, &t, NULL);
    REQUIRE(v >= 0);
    return v;
}

static inline int add_input(nq_graph *g, const char *name, int ndim, const int64_t *dims)
{
    int x = val(g, name);
    g->values[x]->dtype = NQ_DTYPE_FLOAT32;
    g->values[x]->ndim = ndim;
    memcpy(g->values[x]->dims, dims, sizeof(int64_t) * (size_t)ndim);
    REQUIRE(nq_graph_add_input(g, x, NULL) == NQ_OK);
    return x;
}

static inline nq_node *node(nq_graph *g, const char *op, const char *name, int n_in, const int *ins, int out)
{
    nq_node *n = nq_graph_add_node(g, op, name, n_in, ins, 1, &out, NULL);
    REQUIRE(n != NULL);
    return n;
}

static inline nq_node *gemm(nq_graph *g, const char *name, int x, int w, int b, int y, int trans_b)
{
    int ins[3] = {x, w, b};
    nq_node *n = node(g, "Gemm", name, b >= 0 ? 3 : 2, ins, y);
    REQUIRE(nq_node_set_int(n, "transB", trans_b) == NQ_OK);
    return n;
}

/* x[N,4] -> fc1 -> h; z = Add(h, x); Relu; fc2 (3 outputs) -> y. Rows of
 * W1 scaled by w1_gain[4] (NULL: 1). */
static inline nq_graph *residual_graph(const char *name, uint64_t seed, const float *w1_gain)
{
    rng r = {seed};
    nq_graph *g = nq_graph_create(name);
    REQUIRE(g != NULL);
    int64_t xd[2] = {-1, 4};
    int x = add_input(g, "x", 2, xd);
    int64_t w1d[2] = {4, 4}, b1d[1] = {4}, w2d[2] = {3, 4}, b2d[1] = {3};
    int w1 = rand_init(g, "W1", 2, w1d, &r, w1_gain, NULL, w1_gain ? 4 : 0);
    int b1 = rand_init(g, "b1", 1, b1d, &r, NULL, NULL, 0);
    int w2 = rand_init(g, "W2", 2, w2d, &r, NULL, NULL, 0), b2 = rand_init(g, "b2", 1, b2d, &r, NULL, NULL, 0);
    int h = val(g, "h"), z = val(g, "z"), a = val(g, "a"), y = val(g, "y");
    gemm(g, "fc1", x, w1, b1, h, 1);
    int add_in[2] = {h, x};
    node(g, "Add", "add", 2, add_in, z);
    node(g, "Relu", "relu", 1, &z, a);
    gemm(g, "fc2", a, w2, b2, y, 1);
    REQUIRE(nq_graph_add_output(g, y, NULL) == NQ_OK);
    return g;
}

/* ---- data ---- */

#define NQ_TEST_FM "/usr/share/datasets/fashion-mnist/"

/* The first n_calib training and n_test test images of Fashion-MNIST, x/255
 * (no labels); 0 when the dataset is not installed (the test then skips). */
static inline int load_fmnist(int64_t n_calib, int64_t n_test, nq_dataset **calib, nq_dataset **test)
{
    nq_preprocess p;
    nq_preprocess_default(&p);
    p.scale = 0.00392156862745098f;
    nq_error err = {0};
    if (nq_dataset_load(NQ_TEST_FM "train-images-idx3-ubyte.gz", NULL, &p, n_calib, calib, &err) != NQ_OK ||
        nq_dataset_load(NQ_TEST_FM "t10k-images-idx3-ubyte.gz", NULL, &p, n_test, test, &err) != NQ_OK) {
        printf("skip: Fashion-MNIST not installed (%s)\n", err.msg);
        return 0;
    }
    return 1;
}

/* ---- running ---- */

/* Runs g on the whole dataset in one batch; *y: the output (caller frees). */
static inline void run_graph(const nq_graph *g, const nq_dataset *d, nq_tensor *y)
{
    nq_session *s = NULL;
    nq_error err = {0};
    nq_tensor x = {0};
    const nq_value *in = g->values[g->inputs[0]];
    nq_status st = nq_session_create(g, NULL, &s, &err);
    if (st == NQ_OK) st = nq_dataset_batch(d, 0, d->n, in->ndim, in->dims, &x, &err);
    if (st == NQ_OK) st = nq_session_run(s, &x, 1, y, 1, &err);
    if (st != NQ_OK) fprintf(stderr, "run: %s\n", err.msg);
    REQUIRE(st == NQ_OK);
    nq_tensor_free(&x);
    nq_session_free(s);
}

/* SQNR in dB of q against the reference r (same number of elements). */
static inline double sqnr_db(const nq_tensor *r, const nq_tensor *q)
{
    double num = 0, den = 0;
    for (int64_t i = 0; i < nq_tensor_numel(r); i++) {
        double e = nq_tensor_get(q, i) - nq_tensor_get(r, i);
        num += e * e;
        den += nq_tensor_get(r, i) * nq_tensor_get(r, i);
    }
    return 10 * log10(den / fmax(num, 1e-30));
}

#endif
