/* Helpers of the QAT tests: Fashion-MNIST loading, step-size initialization
 * without the trainer, top-1 predictions and agreement of two graphs. */
#ifndef NQ_QAT_TESTUTIL_H
#define NQ_QAT_TESTUTIL_H
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nnquant/data.h"
#include "nnquant/onnx.h"
#include "nnquant/run.h"
#include "nqtest.h"

#define QT_FM "/usr/share/datasets/fashion-mnist/"

/* test images, and training images for the short trainings */
#ifdef NQ_SANITIZED
#define N_IMAGES 300
#define N_TRAIN 128
#else
#define N_IMAGES 1000
#define N_TRAIN 512
#endif

static inline const nq_node *producer(const nq_graph *g, int v)
{
    return g->values[v]->producer;
}

static inline nq_dataset *qt_load(const char *images, const char *labels, int64_t limit)
{
    nq_preprocess p;
    nq_preprocess_default(&p);
    p.scale = 0.00392156862745098f;
    nq_dataset *d = NULL;
    nq_error e = {0};
    if (nq_dataset_load(images, labels, &p, limit, &d, &e) != NQ_OK) {
        fprintf(stderr, "load: %s\n", e.msg);
        exit(1);
    }
    return d;
}

static inline nq_graph *qt_model(const char *path)
{
    nq_graph *g = NULL;
    nq_error e = {0};
    if (nq_onnx_load(path, &g, &e) != NQ_OK) {
        fprintf(stderr, "%s: %s\n", path, e.msg);
        exit(1);
    }
    return g;
}

typedef struct qt_stats {
    double *mean_abs;
    int n;
} qt_stats;

static int qt_observe(void *user, const nq_graph *g, const nq_node *node, int value, const nq_tensor *t)
{
    (void)g;
    (void)node;
    qt_stats *s = user;
    if (value < s->n && t->dtype == NQ_DTYPE_FLOAT32) {
        double sum = 0;
        int64_t n = nq_tensor_numel(t);
        for (int64_t i = 0; i < n; i++) sum += fabs(((const float *)t->data)[i]);
        s->mean_abs[value] = sum / (double)(n ? n : 1);
    }
    return 0;
}

/* Sets every uninitialized step size of the quantizers of `op` (input 1,
 * scale by attribute range hi) to 2 mean|x| / sqrt(hi) from the float
 * statistics of one batch, as the first training forward does. */
static inline void qt_init_steps(nq_graph *g, const nq_dataset *d, const char *op)
{
    nq_error e = {0};
    qt_stats st = {calloc((size_t)g->n_values + 1, sizeof(double)), g->n_values};
    nq_session *s = NULL;
    REQUIRE(nq_session_create(g, NULL, &s, &e) == NQ_OK);
    REQUIRE(nq_session_add_observer(s, qt_observe, &st, &e) == NQ_OK);
    const nq_value *in = g->values[g->inputs[0]];
    nq_tensor x, y;
    int64_t n = d->n < 256 ? d->n : 256;
    REQUIRE(nq_dataset_batch(d, 0, n, in->ndim, in->dims, &x, &e) == NQ_OK);
    qt_observe(&st, g, NULL, g->inputs[0], &x);
    REQUIRE(nq_session_run(s, &x, 1, &y, 1, &e) == NQ_OK);
    nq_tensor_free(&x);
    nq_tensor_free(&y);
    nq_session_free(s);
    for (int i = 0; i < g->n_nodes; i++) {
        nq_node *q = g->nodes[i];
        if (strcmp(q->op_type, op) != 0) continue;
        const int64_t *r = NULL;
        REQUIRE(nq_node_attr_ints(q, "range", &r) == 2);
        nq_tensor *step = g->values[q->inputs[1]]->init;
        if (step == NULL || *(float *)step->data > 0) continue; /* computed, or set */
        const nq_tensor *w = g->values[q->inputs[0]]->init;
        double m = st.mean_abs[q->inputs[0]];
        if (w != NULL) {
            m = 0;
            for (int64_t k = 0; k < nq_tensor_numel(w); k++) m += fabs(((const float *)w->data)[k]);
            m /= (double)nq_tensor_numel(w);
        }
        *(float *)step->data = (float)(2.0 * m / sqrt((double)r[1]));
    }
    free(st.mean_abs);
}

/* Top-1 class of every sample (caller frees). */
static inline int64_t *qt_predict(const nq_graph *g, const nq_dataset *d)
{
    nq_error e = {0};
    nq_session *s = NULL;
    if (nq_session_create(g, NULL, &s, &e) != NQ_OK) {
        fprintf(stderr, "session: %s\n", e.msg);
        exit(1);
    }
    int64_t *pred = calloc((size_t)d->n + 1, sizeof(int64_t));
    const nq_value *in = g->values[g->inputs[0]];
    for (int64_t b = 0; b < d->n; b += 250) {
        int64_t n = d->n - b < 250 ? d->n - b : 250;
        nq_tensor x, y;
        REQUIRE(nq_dataset_batch(d, b, n, in->ndim, in->dims, &x, &e) == NQ_OK);
        if (nq_session_run(s, &x, 1, &y, 1, &e) != NQ_OK) {
            fprintf(stderr, "run: %s\n", e.msg);
            exit(1);
        }
        int64_t c = y.dims[1];
        for (int64_t i = 0; i < n; i++) pred[b + i] = nq_argmax(&y, i * c, c);
        nq_tensor_free(&x);
        nq_tensor_free(&y);
    }
    nq_session_free(s);
    return pred;
}

static inline double qt_accuracy(const int64_t *pred, const nq_dataset *d)
{
    int64_t ok = 0;
    for (int64_t i = 0; i < d->n; i++) ok += pred[i] == d->labels[i];
    return (double)ok / (double)d->n;
}

static inline double qt_agreement(const int64_t *a, const int64_t *b, int64_t n)
{
    int64_t ok = 0;
    for (int64_t i = 0; i < n; i++) ok += a[i] == b[i];
    return (double)ok / (double)n;
}

static inline int qt_count_op(const nq_graph *g, const char *op)
{
    int c = 0;
    for (int i = 0; i < g->n_nodes; i++) c += strcmp(g->nodes[i]->op_type, op) == 0;
    return c;
}
#endif
