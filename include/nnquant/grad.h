/*
 * nnquant gradients: the per-operator backward passes used by the trainer
 * (include/nnquant/train.h), one table entry per nq_op_id.
 *
 * Each operator family with a backward lives in src/train/grad_<family>.c
 * (the QAT operators in src/qat/) and defines `const nq_grad_def
 * nq_grad_<Op>`; src/train/grad_registry.c lists them. An operator without
 * an entry can still appear in a trained graph where no gradient has to
 * cross it (Shape, Constant, a Reshape's shape computation...).
 *
 * Contract (float32 only: every tensor that carries a gradient is float32,
 * and a gradient has exactly the shape and dtype of its value):
 *
 *  - Forward in training mode. The trainer runs every node once per batch,
 *    in topological order, keeping all activations alive until the
 *    backward. For a node whose entry has forward_train, the trainer calls
 *    it instead of the inference forward (nq_op_def.forward); otherwise it
 *    calls the inference forward. Outputs are allocated by the trainer with
 *    the shapes the op's infer() gave (as for inference). forward_train may
 *    update in place the inputs the op documents as running state (e.g.
 *    BatchNormalization's running mean/var, a QAT quantizer's step size
 *    initialized from the first batch): those are the graph's initializer
 *    tensors, so the update is what a saved model will contain.
 *
 *  - Backward. Called once per batch in reverse topological order, after
 *    the forward of the same batch, with the same in/out tensors (their data
 *    unchanged since the forward). dout[k] is dLoss/dout[k], or NULL when
 *    no gradient reaches output k (the backward is not called at all when
 *    every dout is NULL). din[i] is where dLoss/din[i] must be ADDED
 *    (accumulate, never overwrite: a value read by several nodes, or by one
 *    node twice, sums their contributions; the trainer zeroes each gradient
 *    buffer once per batch, before the first backward that adds into it); din[i] is NULL when no gradient is wanted for input i
 *    (non-float input, absent input, frozen or constant non-learnable
 *    tensor, graph input, or an input masked by no_grad) and the backward
 *    must then skip that work (e.g. the first Conv computes no col2im).
 *
 *  - Learnable parameters. A float32 initializer is trained when at least
 *    one node reads it through an input not masked by its entry's no_grad,
 *    and the caller did not freeze it (nq_trainer_freeze). No other marking
 *    is needed: a QAT operator's step size or clipping alpha is learnable
 *    simply by being a float initializer input of a node with an entry.
 *
 *  - Per-node state. *state is a per-node pointer owned by the trainer,
 *    NULL before the first call. forward_train and backward may allocate it
 *    (e.g. saved batch statistics, masks, buffers reused across batches) and
 *    keep it across batches; the trainer releases it with state_free (or
 *    free() when state_free is NULL) when it is freed. The batch size may
 *    change between batches (last partial batch): state sized by shape must
 *    check and grow.
 *
 *  - Scratch. c->scratch holds max(op scratch(), entry scratch()) bytes,
 *    64-byte aligned, valid during one call only (shared by all nodes).
 *
 *  - Threads: c->num_threads >= 1 (pass to nq_sgemm). Errors: return a
 *    status and fill c->err via nq_grad_fail (names node and op).
 *
 * Testing: tests/grad_testutil.h checks one node's backward against
 * central finite differences (gt_check); tests/test_grad_ops.c uses it.
 */
#ifndef NNQUANT_GRAD_H
#define NNQUANT_GRAD_H

#include "nnquant/core.h"
#include "nnquant/ops.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Context of one node's training forward or backward. */
typedef struct nq_gctx {
    const nq_node *node;
    int64_t opset;              /* opset version of the node's domain */
    int n_in;
    nq_tensor *const *in;       /* forward inputs (NULL = absent). Read-only
                                   except the running-state inputs an op
                                   documents (forward_train only). */
    int n_out;
    nq_tensor *const *out;      /* forward outputs (NULL = absent). Written by
                                   forward_train; read-only in backward. */
    /* backward only (NULL in forward_train): */
    const nq_tensor *const *dout; /* n_out entries; NULL = no gradient */
    nq_tensor *const *din;        /* n_in entries; NULL = not wanted; ADD into */
    void **state;               /* per-node state, see the contract above */
    int64_t step;               /* optimizer steps done before this batch
                                   (0 on the very first batch of a training;
                                   restored when resuming from a checkpoint) */
    void *scratch;
    size_t scratch_size;
    int num_threads;            /* >= 1 */
    nq_error *err;
} nq_gctx;

typedef struct nq_grad_def {
    /* Training-mode forward; NULL: the inference forward is used. */
    nq_status (*forward_train)(nq_gctx *c);
    /* Backward; required. */
    nq_status (*backward)(nq_gctx *c);
    /* Scratch bytes for forward_train and backward, called once the shapes
     * are known (dout/din NULL, state NULL); NULL = none. */
    size_t (*scratch)(const nq_gctx *c);
    /* Releases *state; NULL: free(). */
    void (*state_free)(void *state);
    /* Bit i set: input i never receives a gradient and is never trained
     * (shape inputs, BN running mean/var, Clip bounds). */
    unsigned no_grad;
} nq_grad_def;

/* Table lookup by nq_op_id; NULL if the op has no backward. */
const nq_grad_def *nq_grad_get(int op);

/* ---- helpers for backward implementations (src/train/grad_common.c) ---- */

/* Error naming the node and op: "node 'conv1' (Conv) backward: <message>". */
nq_status nq_grad_fail(const nq_gctx *c, nq_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* The inference-kernel context of the same node (to call nq_op_def.forward
 * from a forward_train): same inputs, outputs, scratch, threads, err. */
nq_kctx nq_gctx_kctx(const nq_gctx *c);

/* Broadcast reduction: g has shape (ng, gdims) (the broadcast result),
 * d has shape (nd, ddims) which numpy-broadcasts to gdims (right-aligned,
 * nd <= ng). Adds to d the sum of g over the broadcast dimensions:
 * d[j] += sum over the elements i of g that j broadcasts to of g[i] * scale. */
void nq_grad_reduce_broadcast(const float *g, int ng, const int64_t *gdims, float scale,
                              float *d, int nd, const int64_t *ddims);

/* Grows a per-node float buffer kept in state-owned memory: if *cap < n,
 * reallocates *buf to n floats (contents lost) and sets *cap. Returns
 * NQ_ERR_NOMEM (with c->err filled) on failure. */
nq_status nq_grad_reserve(const nq_gctx *c, float **buf, int64_t *cap, int64_t n);

#ifdef __cplusplus
}
#endif
#endif
