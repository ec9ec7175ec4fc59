/* Private to src/train: the trainer's structures. */
#ifndef NQ_TRAIN_INTERNAL_H
#define NQ_TRAIN_INTERNAL_H

#include "nnquant/grad.h"
#include "nnquant/ops.h"
#include "nnquant/train.h"

typedef enum tv_kind {
    TV_UNUSED = 0,
    TV_INIT,    /* graph initializer: t points at the graph's tensor */
    TV_INPUT,   /* graph input: t->data points at the batch */
    TV_ACT      /* computed by a node (owned buffer in `own`) */
} tv_kind;

typedef struct tvalue {
    tv_kind kind;
    nq_tensor *t;     /* the tensor nodes read and write */
    nq_tensor own;    /* TV_INPUT / TV_ACT storage */
    size_t cap;       /* bytes allocated in own.data */
    int is_static;    /* known without the batch and not trained: computed once per plan */
    int trainable;    /* a parameter (TV_INIT) */
    int frozen;
    int needs_grad;
    int grad_zeroed;  /* grad zeroed (or written) in the current backward */
    nq_tensor grad;   /* float32, shape of t, when needs_grad */
    size_t grad_cap;
} tvalue;

typedef struct tnode {
    const nq_node *n;
    const nq_op_def *def;
    const nq_grad_def *gdef;
    void *state;
    int is_static;
    int backward;            /* has an input that needs a gradient */
    nq_tensor **in, **out;   /* n_inputs / n_outputs pointers (NULL = absent) */
    const nq_tensor **dout;
    nq_tensor **din;
} tnode;

struct nq_trainer {
    nq_graph *g;
    nq_train_opts o;
    int threads;
    int n_values;
    tvalue *v;
    int n_nodes;
    tnode *nodes;
    int n_params;
    int *params;             /* value indices of the parameters */
    float **opt_a, **opt_b;  /* optimizer buffers per parameter (SGD: a = velocity; Adam: m, v) */
    int64_t step, epoch;
    int planned;             /* plan valid for `plan_dims` */
    int plan_ndim;
    int64_t plan_dims[NQ_MAX_DIMS];
    void *scratch;
    size_t scratch_size;
    float *dlogits;          /* loss gradient scratch, [N, classes] */
    size_t dlogits_cap;
    int64_t *perm;           /* epoch permutation */
    int64_t perm_n;
    nq_tensor xbatch;        /* shuffled batch */
    int64_t *lbatch;
};

/* trainer.c: marks which values need a gradient (parameters not frozen,
 * and what depends on them). Fails when a gradient would have to cross an
 * operator without a backward. */
nq_status nq_train_grad_flags(nq_trainer *t, nq_error *err);

/* loss.c: mean softmax cross-entropy of logits [N, K] against labels;
 * writes dL/dlogits (mean over the batch) into grad; counts top-1 hits. */
nq_status nq_train_xent(const float *logits, int64_t N, int64_t K, const int64_t *labels,
                        float *grad, double *loss, int64_t *correct, nq_error *err);

/* optim.c: one optimizer step over every trainable parameter; allocates
 * the buffers on first use. */
nq_status nq_train_optimize(nq_trainer *t, nq_error *err);
/* Floats of optimizer state per parameter element (SGD with momentum 1,
 * plain SGD 0, Adam 2). */
int nq_train_state_per_elem(const nq_train_opts *o);
nq_status nq_train_alloc_state(nq_trainer *t, nq_error *err);

#endif
