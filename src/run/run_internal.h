/* Private structures of the runtime: execution plans. */
#ifndef NQ_RUN_INTERNAL_H
#define NQ_RUN_INTERNAL_H

#include "nnquant/ops.h"
#include "nnquant/run.h"

typedef enum nq_slot_kind {
    NQ_SLOT_UNUSED = 0,
    NQ_SLOT_CONST,   /* known at plan time: initializer, folded value, small int input */
    NQ_SLOT_INPUT,   /* graph input fed at run time (data points into the caller's tensor) */
    NQ_SLOT_ACT,     /* computed at run time, lives in the arena */
    NQ_SLOT_FUSED    /* made and consumed inside one fused step: never stored */
} nq_slot_kind;

/* Nodes fused after one step at most (Conv + BatchNormalization + Relu). */
enum { NQ_MAX_FUSED = 4 };

typedef struct nq_slot {
    nq_slot_kind kind;
    nq_tensor t;       /* shape/dtype; data: view (owns_data only for folded values) */
    size_t offset;     /* NQ_SLOT_ACT: byte offset in the arena */
    int def_step;      /* step producing it (-1 for inputs) */
    int last_step;     /* last step reading it (n_steps for graph outputs) */
} nq_slot;

typedef struct nq_step {
    const nq_node *node;
    const nq_op_def *def;
    size_t scratch;
    const nq_tensor **in;  /* n_inputs pointers into slots (NULL = absent) */
    nq_tensor **out;       /* out[0]: the last fused node's output when n_epi > 0 */
    int n_epi;             /* nodes fused after this one, applied in place to out[0] */
    nq_fused epi[NQ_MAX_FUSED];
} nq_step;

typedef struct nq_plan {
    int n_values;
    nq_slot *slots;
    int n_steps;
    nq_step *steps;
    size_t arena_bytes, scratch_bytes;
    void *arena, *scratch;
    /* what the plan was made for: the inputs' dtype/shape, and the data of
     * small integer inputs that planning treated as known */
    int n_inputs;
    nq_tensor *keys;
    int fuse;        /* element-wise nodes were fused into their producers */
    int *uses;       /* while building: input slots reading each value, +1 per graph output */
} nq_plan;

/* Builds a plan for the given inputs (shapes; data is read only for small
 * integer inputs treated as known). With `allocate` 0, no arena is made
 * (shape inference only). With `fuse`, a node with an epilogue (nq_op_def)
 * whose input 0 only it reads, made by a step that takes epilogues, runs
 * inside that step: the value between them is never stored, and no
 * observer could see it. */
nq_status nq_plan_build(const nq_graph *g, const nq_tensor *inputs, int n_inputs,
                        int num_threads, int allocate, int fuse, nq_plan **out, nq_error *err);
void nq_plan_free(nq_plan *p);
/* 1 if the plan was made for inputs of these shapes (and small-int data). */
int nq_plan_matches(const nq_plan *p, const nq_tensor *inputs, int n_inputs);

/* Runs infer() (and forward() when `run`) of one node on explicit tensors.
 * Outputs receive owned storage when `run`. Scratch is allocated here (plan
 * time only, never on the hot path). */
nq_status nq_exec_node(const nq_graph *g, const nq_node *n, const nq_tensor *const *in,
                       nq_tensor *const *out, int run, int num_threads, nq_error *err);

/* 1 if a graph input of this dtype/size is treated as known at plan time. */
int nq_input_is_small_int(const nq_tensor *t);

#endif
