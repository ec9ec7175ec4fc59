/* The gradient table: one entry per nq_op_id that has a backward, each
 * defined in its family file (src/train/grad_<family>.c, src/qat/). */
#include <stddef.h>

#include "nnquant/grad.h"

/* Operators with a backward. To add one: define `const nq_grad_def
 * nq_grad_<Op>` and add one `X(<Op>) \` line to this list. */
#define NQ_GRAD_OPS(X) \
    X(Conv) \
    X(Gemm) \
    X(MatMul) \
    X(Add) \
    X(Sub) \
    X(Mul) \
    X(Div) \
    X(Relu) \
    X(Clip) \
    X(LeakyRelu) \
    X(Sigmoid) \
    X(Tanh) \
    X(MaxPool) \
    X(AveragePool) \
    X(GlobalAveragePool) \
    X(BatchNormalization) \
    X(Flatten) \
    X(Reshape) \
    X(Squeeze) \
    X(Unsqueeze) \
    X(Identity) \
    X(Dropout) \
    X(Concat) \
    X(Softmax) \
    X(LogSoftmax) \
    X(ReduceSum) \
    X(ReduceMean) \
    X(LSQ) \
    X(DoReFa) \
    X(CGPACT) \
    X(TanhClamp) \
    X(ScaleAdjust) \
    X(FixedQ) \
    X(Quantizer) \
    /* QAT operators (src/qat/): add their X(<Op>) \ lines just above this comment */

#define NQ_GRAD_EXTERN(name) extern const nq_grad_def nq_grad_##name;
NQ_GRAD_OPS(NQ_GRAD_EXTERN)
#undef NQ_GRAD_EXTERN

static const nq_grad_def *const grad_table[NQ_OP_COUNT] = {
#define NQ_GRAD_ENTRY(name) [NQ_OP_##name] = &nq_grad_##name,
    NQ_GRAD_OPS(NQ_GRAD_ENTRY)
#undef NQ_GRAD_ENTRY
};

const nq_grad_def *nq_grad_get(int op)
{
    if (op < 0 || op >= NQ_OP_COUNT) return NULL;
    return grad_table[op];
}
