/*
 * nnquant runtime: execution plans and sessions.
 *
 * A session owns a plan for a graph: topological order, shapes for the
 * batch size at hand (the first dimension of the inputs may change between
 * runs; the plan is rebuilt when input shapes change), one activation arena
 * whose buffers are reused by liveness, and scratch for the kernels.
 * Observers see every node output during a run (calibration uses them).
 * Without observers, an element-wise node (BatchNormalization, Relu, Clip,
 * LeakyRelu, ...) whose input only it reads, made by a float Conv, runs
 * inside that Conv on each image as soon as it is computed: same bytes out,
 * one pass less over memory, and no arena buffer for the value between.
 */
#ifndef NNQUANT_RUN_H
#define NNQUANT_RUN_H

#include "nnquant/core.h"
#include "nnquant/data.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nq_session nq_session;

/* Called after each node runs, once per output value. The tensor is only
 * valid during the call. An observer may change its values in place (not
 * its shape or dtype) when the node computes it (not for a node that only
 * reshapes or forwards its input): the nodes that run later read the
 * change (bias correction uses this). Return non-zero to abort the run
 * (NQ_ERR_DATA). */
typedef int (*nq_observer_fn)(void *user, const nq_graph *g, const nq_node *node,
                              int value, const nq_tensor *t);

typedef struct nq_session_opts {
    int num_threads;  /* 0: NQ_NUM_THREADS from the environment, else all cores */
} nq_session_opts;

/* The session keeps a pointer to g (not a copy): g must outlive it and not
 * change while it exists. Ops are resolved; unsupported ops fail here. */
nq_status nq_session_create(const nq_graph *g, const nq_session_opts *opts,
                            nq_session **out, nq_error *err);
void nq_session_free(nq_session *s);

/* Runs the graph. inputs[i] feeds graph input i (dtype must match, shape
 * must match the declared shape except for dynamic dims). On success
 * outputs[i] receives an owned copy of graph output i (caller frees with
 * nq_tensor_free). */
nq_status nq_session_run(nq_session *s, const nq_tensor *inputs, int n_inputs,
                         nq_tensor *outputs, int n_outputs, nq_error *err);

/* Adds an observer (at most 8). */
nq_status nq_session_add_observer(nq_session *s, nq_observer_fn fn, void *user,
                                  nq_error *err);
void nq_session_clear_observers(nq_session *s);

/* Bytes of the activation arena of the current plan (0 before the first run). */
size_t nq_session_arena_bytes(const nq_session *s);
int nq_session_num_threads(const nq_session *s);

/* Default thread count: NQ_NUM_THREADS if set and valid, else online cores. */
int nq_default_num_threads(void);

/* Static shape inference: fills the dtype and shape of every value of g.
 * With batch > 0, the dynamic first dimension of the inputs is taken as
 * `batch` and every shape, the inputs' included, becomes concrete (the graph
 * then only accepts that batch size: use it on a copy); with batch 0, the
 * inputs keep their declared shapes and dimensions that follow the batch
 * size are recorded as dynamic (-1). Used by `info`, export and passes. */
nq_status nq_graph_infer_shapes(nq_graph *g, int64_t batch, nq_error *err);

/* Constant folding: nodes whose inputs are all constants (or Shape of a
 * value of known shape) are computed and replaced by initializers. */
nq_status nq_graph_fold_constants(nq_graph *g, nq_error *err);

/* Multiply-accumulates of one node for the shapes currently recorded in g
 * (run nq_graph_infer_shapes first): Conv, ConvTranspose, Gemm, MatMul;
 * 0 for other ops or unknown shapes. */
int64_t nq_node_macs(const nq_graph *g, const nq_node *n);

/* Top-1 evaluation of a classifier (graph with one input and one output
 * [N, classes]) over a labelled dataset, `batch` samples at a time.
 * progress (may be NULL) is called after every batch. */
typedef void (*nq_progress_fn)(void *user, int64_t done, int64_t total);
typedef struct nq_eval_result {
    int64_t samples;
    int64_t correct;
    double top1;       /* correct / samples */
    double seconds;    /* wall time of the runs */
} nq_eval_result;
nq_status nq_evaluate(nq_session *s, const nq_graph *g, const nq_dataset *d, int64_t batch,
                      nq_progress_fn progress, void *user, nq_eval_result *r, nq_error *err);

/* Index of the largest of t's elements [offset, offset+n) (first on ties);
 * any numeric dtype (quantized models may output integers). */
int64_t nq_argmax(const nq_tensor *t, int64_t offset, int64_t n);

#ifdef __cplusplus
}
#endif
#endif
