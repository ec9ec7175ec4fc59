/*
 * nnquant training: a trainer that fine-tunes a classifier graph in place
 * (float or with QAT operators in the loop) with softmax cross-entropy,
 * SGD (momentum, weight decay) or Adam, a learning-rate schedule, shuffled
 * mini-batches, and checkpoints. Design and formulas: docs/training.md.
 *
 *   nq_train_opts o;
 *   nq_train_opts_default(&o);            // SGD, lr 0.01, momentum 0.9, batch 64
 *   nq_trainer *t;
 *   nq_trainer_create(g, &o, &t, &err);   // g: one input, one [N, classes] output
 *   for (int e = 0; e < epochs; e++) {
 *       nq_train_epoch(t, train_set, progress, user, &res, &err);
 *       nq_trainer_save_checkpoint(t, "ckpt.onnx", &err);
 *   }
 *   nq_trainer_free(t);                   // g keeps the trained parameters
 *
 * What is trained: every float32 initializer read by a node through an
 * input that its gradient entry does not mark no_grad (include/nnquant/
 * grad.h): Conv/Gemm weights and biases, BatchNormalization scale and bias,
 * QAT step sizes and clipping alphas... minus those frozen with
 * nq_trainer_freeze. Updates go into the graph's initializer tensors, so the
 * graph can be saved (nq_onnx_save) or evaluated (nq_trainer_evaluate) at
 * any time; BatchNormalization's running mean/var are updated in place by
 * its training forward.
 */
#ifndef NNQUANT_TRAIN_H
#define NNQUANT_TRAIN_H

#include <stdint.h>

#include "nnquant/core.h"
#include "nnquant/data.h"
#include "nnquant/run.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nq_optimizer {
    NQ_OPT_SGD = 0,  /* v = momentum * v + (g + wd * w)  (v = g + wd*w on the first step)
                        w -= lr * v                        (PyTorch SGD, dampening 0) */
    NQ_OPT_ADAM      /* g += wd * w; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
                        w -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
                        (PyTorch Adam, t = step + 1) */
} nq_optimizer;

typedef enum nq_lr_schedule {
    NQ_LR_CONSTANT = 0, /* lr */
    NQ_LR_STEP,         /* lr * gamma^floor(step / step_size) */
    NQ_LR_COSINE        /* lr_min + (lr - lr_min) * (1 + cos(pi * min(step, T) / T)) / 2,
                           T = total_steps */
} nq_lr_schedule;

/* Options. The schedule is evaluated per optimizer step (one batch):
 * `step` counts the steps done before the current one, from 0. To change
 * the rate per epoch instead, give step_size (or total_steps) as a
 * multiple of the batches per epoch (nq_train_batches_per_epoch). */
typedef struct nq_train_opts {
    nq_optimizer optimizer;
    float lr;             /* default 0.01 */
    float momentum;       /* SGD; default 0.9 (0 = plain SGD) */
    float weight_decay;   /* L2 coefficient added to the gradient; default 0 */
    float beta1, beta2;   /* Adam; default 0.9, 0.999 */
    float adam_eps;       /* Adam; default 1e-8 */
    nq_lr_schedule schedule; /* default constant */
    int64_t step_size;    /* NQ_LR_STEP: steps between decays (>= 1) */
    float gamma;          /* NQ_LR_STEP: decay factor; default 0.1 */
    int64_t total_steps;  /* NQ_LR_COSINE: T (>= 1) */
    float lr_min;         /* NQ_LR_COSINE: final rate; default 0 */
    int64_t batch;        /* samples per batch; default 64 */
    uint64_t seed;        /* shuffling; default 1 */
    int shuffle;          /* default 1; 0 = dataset order */
    int num_threads;      /* 0: nq_default_num_threads() */
} nq_train_opts;

void nq_train_opts_default(nq_train_opts *o);

/* The learning rate at optimizer step `step` (see nq_lr_schedule). */
double nq_train_lr(const nq_train_opts *o, int64_t step);

typedef struct nq_trainer nq_trainer;

/* Prepares training of g in place (g must outlive the trainer; the caller
 * still frees it). Resolves ops, sorts the nodes, finds the parameters.
 * Fails if g has not one input and one output, or if a gradient would have
 * to cross an operator without a backward (naming it). */
nq_status nq_trainer_create(nq_graph *g, const nq_train_opts *o, nq_trainer **out,
                            nq_error *err);
void nq_trainer_free(nq_trainer *t);

/* Excludes the initializer `name` from training (before the first step).
 * Fails if it is not a parameter. */
nq_status nq_trainer_freeze(nq_trainer *t, const char *name, nq_error *err);

/* Parameters, in graph value order: count, name, value index, and the
 * gradient of the last batch (float32, the parameter's shape; valid until
 * the next step). */
int nq_trainer_num_params(const nq_trainer *t);
const char *nq_trainer_param_name(const nq_trainer *t, int i);
const nq_tensor *nq_trainer_param_grad(const nq_trainer *t, int i);

/* Statistics of one batch or a run of batches. */
typedef struct nq_train_stats {
    double loss;          /* mean cross-entropy per sample */
    int64_t correct;      /* top-1 hits (training-mode outputs) */
    int64_t samples;
} nq_train_stats;

/* Forward (training mode) and backward of one batch, without the update:
 * x is a batch fed to the graph input, labels[i] in [0, classes). Fills the
 * parameter gradients (of the mean loss over the batch). */
nq_status nq_trainer_compute_grads(nq_trainer *t, const nq_tensor *x, const int64_t *labels,
                                   nq_train_stats *st, nq_error *err);
/* nq_trainer_compute_grads, then one optimizer step (step counter + 1). */
nq_status nq_trainer_step(nq_trainer *t, const nq_tensor *x, const int64_t *labels,
                          nq_train_stats *st, nq_error *err);

/* Batches per epoch for a dataset of n samples (the last one may be
 * smaller): ceil(n / batch). */
int64_t nq_train_batches_per_epoch(const nq_trainer *t, int64_t n);

/* Called after every batch with the batch index (from 0), the batch count
 * and the running statistics of the epoch so far. Return non-zero to stop
 * the epoch (the call then fails with NQ_ERR_DATA, the steps done stay). */
typedef int (*nq_train_progress_fn)(void *user, int64_t batch, int64_t n_batches,
                                    const nq_train_stats *running);

/* One epoch over d (labels required): the samples in the order of a
 * permutation drawn from (seed, epoch number), or in order when shuffle is
 * 0, in batches of opts.batch; one optimizer step per batch. The epoch
 * counter then increases. `r` (may be NULL) gets the epoch's statistics. */
nq_status nq_train_epoch(nq_trainer *t, const nq_dataset *d, nq_train_progress_fn progress,
                         void *user, nq_train_stats *r, nq_error *err);

/* Counters: optimizer steps and epochs done (restored by resume). */
int64_t nq_trainer_step_count(const nq_trainer *t);
int64_t nq_trainer_epoch_count(const nq_trainer *t);

/* Top-1 of the graph in inference mode (BatchNormalization with its running
 * statistics) over d: a fresh session on the trained graph + nq_evaluate. */
nq_status nq_trainer_evaluate(nq_trainer *t, const nq_dataset *d, int64_t batch,
                              nq_eval_result *r, nq_error *err);

/* Checkpoint: the graph as ONNX at `path` (metadata_props nnquant.train.*:
 * step, epoch, seed, optimizer, parameter count) and the optimizer state
 * at `path`.optim.npy (float32, every parameter's buffers concatenated in
 * parameter order: SGD velocity; Adam m then v). Both written atomically.
 * To resume: load the ONNX (nq_onnx_load), create a trainer on it with the
 * same options, call nq_trainer_resume with the same path (it restores the
 * step and epoch counters, the shuffling seed and the optimizer state, and
 * fails if the optimizer or the parameter sizes differ); training then
 * continues bit-identically to an uninterrupted run (checkpoints are taken
 * between epochs). */
nq_status nq_trainer_save_checkpoint(nq_trainer *t, const char *path, nq_error *err);
nq_status nq_trainer_resume(nq_trainer *t, const char *path, nq_error *err);

#ifdef __cplusplus
}
#endif
#endif
