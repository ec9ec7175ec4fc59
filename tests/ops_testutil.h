/* Helpers for operator unit tests: a node built by hand (attributes in a
 * fixed array, no graph needed), tensors from literal values, and one call
 * that runs infer(), allocates the outputs and runs forward(). */
#ifndef NQ_OPS_TESTUTIL_H
#define NQ_OPS_TESTUTIL_H
#include <stdlib.h>
#include <string.h>

#include "nnquant/ops.h"

#define TN_MAX_ATTRS 8

typedef struct tnode {
    nq_node node;
    nq_attr attrs[TN_MAX_ATTRS];
} tnode;

static inline void tn_init(tnode *t, const char *op_type)
{
    memset(t, 0, sizeof *t);
    t->node.name = (char *)"test_node";
    t->node.op_type = (char *)op_type;
    t->node.domain = (char *)"";
    t->node.op = -1;
    t->node.attrs = t->attrs;
}

static inline nq_attr *tn_add(tnode *t, const char *name, nq_attr_type type)
{
    if (t->node.n_attrs >= TN_MAX_ATTRS) abort();
    nq_attr *a = &t->attrs[t->node.n_attrs++];
    memset(a, 0, sizeof *a);
    a->name = (char *)name;
    a->type = type;
    return a;
}
static inline void tn_int(tnode *t, const char *name, int64_t v) { tn_add(t, name, NQ_ATTR_INT)->i = v; }
static inline void tn_float(tnode *t, const char *name, float v) { tn_add(t, name, NQ_ATTR_FLOAT)->f = v; }
/* The array must outlive the node. */
static inline void tn_ints(tnode *t, const char *name, int n, const int64_t *v)
{
    nq_attr *a = tn_add(t, name, NQ_ATTR_INTS);
    a->n = n;
    a->ints = (int64_t *)v;
}

/* Allocates t with dtype/shape and copies `vals` (numel elements of the
 * dtype's C type) in, if vals is not NULL. */
static inline void tt_make(nq_tensor *t, nq_dtype dt, int ndim, const int64_t *dims, const void *vals)
{
    static const int64_t none[1] = {1};
    memset(t, 0, sizeof *t);
    if (nq_tensor_alloc(t, dt, ndim, dims ? dims : none, NULL) != NQ_OK) abort();
    if (vals) memcpy(t->data, vals, nq_tensor_nbytes(t));
}

/* Runs op `def` on node `n` at `opset`: infer() sees the data of the inputs
 * whose bit is set in `known` (constants) and only the shape of the others;
 * outputs are then allocated and forward() runs with every input's data.
 * Outputs must be freed by the caller (nq_tensor_free). Returns the first
 * failing status (err holds the message). */
static inline nq_status run_op_ex(const nq_op_def *def, const nq_node *n, int64_t opset, int n_in,
                           const nq_tensor *in, unsigned known, int n_out, nq_tensor *out,
                           int threads, nq_error *err)
{
    nq_tensor shape_only[8];
    const nq_tensor *inp[8] = {0};
    nq_tensor *outp[8] = {0};
    if (n_in > 8 || n_out > 8) abort();
    for (int i = 0; i < n_in; i++) {
        if (in[i].dtype == NQ_DTYPE_UNDEFINED) continue; /* absent optional input */
        shape_only[i] = in[i];
        if (!(known & (1u << i))) shape_only[i].data = NULL;
        shape_only[i].owns_data = 0;
        inp[i] = &shape_only[i];
    }
    for (int i = 0; i < n_out; i++) {
        if (out[i].dtype == NQ_DTYPE_UNDEFINED && out[i].ndim == -1) continue; /* absent */
        memset(&out[i], 0, sizeof out[i]);
        outp[i] = &out[i];
    }
    nq_kctx c = {.node = n, .opset = opset, .n_in = n_in, .in = inp, .n_out = n_out, .out = outp,
                 .num_threads = threads, .err = err};
    nq_status s = def->infer(&c);
    if (s != NQ_OK) return s;
    for (int i = 0; i < n_out; i++) {
        if (!outp[i]) continue;
        nq_tensor shape = out[i];
        s = nq_tensor_alloc(&out[i], shape.dtype, shape.ndim, shape.dims, err);
        if (s != NQ_OK) return s;
    }
    for (int i = 0; i < n_in; i++)
        if (inp[i]) shape_only[i].data = in[i].data;
    void *scratch = NULL;
    size_t ssize = def->scratch ? def->scratch(&c) : 0;
    if (ssize) {
        scratch = aligned_alloc(64, (ssize + 63) / 64 * 64);
        if (!scratch) abort();
    }
    c.scratch = scratch;
    c.scratch_size = ssize;
    s = def->forward(&c);
    free(scratch);
    return s;
}

static inline nq_status run_op(const nq_op_def *def, const nq_node *n, int64_t opset, int n_in,
                        const nq_tensor *in, unsigned known, int n_out, nq_tensor *out,
                        nq_error *err)
{
    return run_op_ex(def, n, opset, n_in, in, known, n_out, out, 1, err);
}

/* Marks an output slot as absent (an optional output not requested). */
static inline void tt_absent(nq_tensor *t)
{
    memset(t, 0, sizeof *t);
    t->ndim = -1;
}

static inline void tt_free_all(nq_tensor *t, int n)
{
    for (int i = 0; i < n; i++)
        if (t[i].owns_data) nq_tensor_free(&t[i]);
}

/* Deterministic pseudo-random floats in [lo, hi). */
static inline float tt_rand(unsigned *state, float lo, float hi)
{
    *state = *state * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)((*state >> 8) & 0xFFFFFF) / 16777216.0f;
}

/* Reference output size of one spatial dim of a conv/pool window, as the
 * ONNX spec says; resolves pb/pe for auto_pad (0 NOTSET, 1 SAME_UPPER,
 * 2 SAME_LOWER, 3 VALID). ceil_mode is pooling's (0 for Conv). */
static inline int64_t tt_window_out(int64_t in, int64_t k, int64_t s, int64_t d, int autopad,
                                    int ceil_mode, int64_t *pb, int64_t *pe)
{
    int64_t span = (k - 1) * d + 1;
    if (autopad == 1 || autopad == 2) {
        int64_t o = (in + s - 1) / s;
        int64_t tot = (o - 1) * s + span - in;
        if (tot < 0) tot = 0;
        *pb = autopad == 1 ? tot / 2 : tot - tot / 2;
        *pe = tot - *pb;
        return o;
    }
    if (autopad == 3) *pb = *pe = 0;
    int64_t room = in + *pb + *pe - span;
    int64_t o = (ceil_mode ? (room + s - 1) / s : room / s) + 1;
    if (ceil_mode && (o - 1) * s >= in + *pb) o--;
    return o;
}

#endif
