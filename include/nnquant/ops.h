/*
 * nnquant operators: one table entry per operator, indexed by nq_op_id.
 *
 * Each operator family lives in its own file under src/ops/ and defines
 * `const nq_op_def nq_def_<Op>` for each of its operators. An entry gives
 * shape inference (infer) and the forward kernel (forward); scratch() says
 * how many bytes of scratch the forward needs (NULL = none). Kernels never
 * allocate: outputs are allocated by the runtime from the shapes infer()
 * wrote, and scratch comes in the context.
 *
 * Every opset form of an operator (attribute vs. input arguments, e.g.
 * Squeeze axes before/after opset 13, Clip min/max before/after opset 11)
 * is handled by the operator itself, reading ctx->opset when needed.
 */
#ifndef NNQUANT_OPS_H
#define NNQUANT_OPS_H

#include "nnquant/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NQ_OP_LIST(X) \
    X(Conv) X(ConvTranspose) X(Gemm) X(MatMul) \
    X(Add) X(Sub) X(Mul) X(Div) X(Pow) \
    X(Relu) X(LeakyRelu) X(PRelu) X(Clip) X(Sigmoid) X(Tanh) \
    X(HardSigmoid) X(HardSwish) X(Softmax) X(LogSoftmax) \
    X(Sqrt) X(Erf) X(Identity) X(Dropout) X(Cast) X(ReduceMean) \
    X(MaxPool) X(AveragePool) X(GlobalAveragePool) X(GlobalMaxPool) \
    X(BatchNormalization) \
    X(Flatten) X(Reshape) X(Transpose) X(Concat) X(Split) X(Slice) X(Pad) \
    X(Squeeze) X(Unsqueeze) X(Constant) X(Shape) X(Gather) X(ReduceSum) X(ReduceMax) \
    X(Quantizer) \
    X(QuantizeLinear) X(DequantizeLinear) \
    X(LSQ) X(DoReFa) X(CGPACT) X(TanhClamp) X(ScaleAdjust) X(FixedQ)

/* The custom domain of nnquant's own operators (docs/quantizer.md). */
#define NQ_DOMAIN "ai.nnquant"

typedef enum nq_op_id {
#define NQ_OP_ENUM(name) NQ_OP_##name,
    NQ_OP_LIST(NQ_OP_ENUM)
#undef NQ_OP_ENUM
    NQ_OP_COUNT
} nq_op_id;

/*
 * Kernel context, filled by the runtime for one node.
 *  in[i]  : input tensors; NULL for an absent optional input. During
 *           infer(), in[i]->data is NULL unless the value is known at plan
 *           time (an initializer or a folded constant); an op that needs
 *           the values of an input (Reshape's shape, Slice's starts...)
 *           reports NQ_ERR_UNSUPPORTED when they are not known.
 *  out[i] : output tensors; NULL for an absent optional output. infer()
 *           sets dtype, ndim and dims; forward() writes into out[i]->data,
 *           already allocated with that shape.
 */
struct nq_fused;

typedef struct nq_kctx {
    const nq_node *node;
    int64_t opset;           /* opset version of the node's domain */
    int n_in;
    const nq_tensor *const *in;
    int n_out;
    nq_tensor *const *out;
    void *scratch;           /* forward(): scratch() bytes, 64-byte aligned */
    size_t scratch_size;
    int num_threads;         /* threads the kernel may use (>= 1) */
    nq_error *err;
    /* Nodes fused after this one (only for an op with takes_epilogues):
     * forward() applies them, in order, to each part of out[0] it has
     * finished, with nq_kctx_epilogues. */
    const struct nq_fused *epi;
    int n_epi;
} nq_kctx;

/* An op that can run in place on the output of the node before it, while
 * that output is still in cache (Conv+BatchNormalization+Relu in one pass).
 * A plane is one (sample, channel) pair of the [N, C, ...] input: the
 * product of dims[2:] consecutive values (1 for rank 2).
 *  fusable(c): at plan time, after infer(), 1 if this node's form can be
 *           applied plane by plane (float32, output shape = input shape).
 *  apply(c, y, p0, p1): computes the node on planes [p0, p1) of y in place,
 *           on one thread, with exactly the operations forward() does (same
 *           order: the result is bit-identical). It reads only the node's
 *           other (constant) inputs and attributes, never in[0]->data. */
typedef struct nq_epilogue_def {
    int (*fusable)(const nq_kctx *c);
    void (*apply)(const nq_kctx *c, float *y, int64_t p0, int64_t p1);
} nq_epilogue_def;

/* One fused node: its epilogue and its context (inputs, attributes). */
typedef struct nq_fused {
    const nq_epilogue_def *def;
    nq_kctx c;
} nq_fused;

/* Applies c's fused nodes, in order, to planes [p0, p1) of y. */
void nq_kctx_epilogues(const nq_kctx *c, float *y, int64_t p0, int64_t p1);
/* Values per plane of a [N, C, ...] tensor (1 for rank <= 2). */
int64_t nq_plane_size(const nq_tensor *t);

typedef struct nq_op_def {
    const char *name;        /* ONNX op_type */
    nq_status (*infer)(nq_kctx *c);
    nq_status (*forward)(nq_kctx *c);
    size_t (*scratch)(const nq_kctx *c);  /* called after infer; may be NULL */
    /* 1 if the outputs depend only on input shapes (Shape): the runtime can
     * then compute them at plan time even when input data is unknown. */
    int shape_only;
    /* NULL for the default ONNX domain, else e.g. NQ_DOMAIN. */
    const char *domain;
    /* Non-NULL if the node can be fused after its producer (see above). */
    const nq_epilogue_def *epilogue;
    /* 1 if forward() applies c->epi to its float32 out[0] (Conv). */
    int takes_epilogues;
} nq_op_def;

/* Table lookup; NULL if the id is out of range. */
const nq_op_def *nq_op_get(int id);
/* Id for an ONNX (domain, op_type); -1 if unsupported. The default domain
 * is "" or "ai.onnx". */
int nq_op_find(const char *domain, const char *op_type);
/* Resolves node->op for every node of g. Fails naming every unsupported
 * op (with counts) if any node is unsupported. */
nq_status nq_ops_resolve(nq_graph *g, nq_error *err);

/* Helpers shared by op implementations (src/ops/common.c). */
/* Error naming the node and op: "node 'conv1' (Conv): <message>". */
nq_status nq_kctx_fail(const nq_kctx *c, nq_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Numpy-style multidirectional broadcast of two shapes. */
nq_status nq_broadcast_shape(int na, const int64_t *a, int nb, const int64_t *b,
                             int *nout, int64_t *out);
/* Normalizes a possibly negative axis against rank; -1 if out of range. */
int nq_norm_axis(int64_t axis, int rank);
/* Softmax/LogSoftmax: splits x's shape into [outer, len, inner] by the axis
 * rules of the opset (before 13: the axis and everything after it). Returns
 * the normalized axis, or the attribute's value when it is out of range. */
int64_t nq_softmax_split(const nq_node *node, int64_t opset, const nq_tensor *x, int64_t *outer,
                         int64_t *len, int64_t *inner);
/* Reads an integer tensor (int32/int64) of known data into int64 values. */
int nq_tensor_to_i64(const nq_tensor *t, int64_t *out, int max);

#ifdef __cplusplus
}
#endif
#endif
