/* Relu on integers (int_ops.h): any integer dtype (int2..int4 and uint4 in
 * their int8/uint8 storage, int8, uint8, int16, int32, int64) -> the same
 * dtype, y = max(x, 0): a copy for unsigned types. Input and output may be
 * the same buffer. */
#include <string.h>

#include "ops/elemwise.h"
#include "ops/int_ops.h"

typedef void (*irelu_fn)(const void *x, void *y, int64_t n);

#define DEFINE_RELU(NAME, T)                                                                    \
    static void NAME(const void *xv, void *yv, int64_t n)                                      \
    {                                                                                          \
        const T *x = xv;                                                                       \
        T *y = yv;                                                                             \
        for (int64_t i = 0; i < n; i++) y[i] = x[i] < 0 ? 0 : x[i];                            \
    }

DEFINE_RELU(relu_s8, int8_t)
DEFINE_RELU(relu_s16, int16_t)
DEFINE_RELU(relu_s32, int32_t)
DEFINE_RELU(relu_s64, int64_t)

static void relu_u8(const void *x, void *y, int64_t n)
{
    if (x != y) memmove(y, x, (size_t)n);
}

static const irelu_fn relu_fns[] = {[NQ_ISTORE_S8] = relu_s8,   [NQ_ISTORE_U8] = relu_u8,
                                    [NQ_ISTORE_S16] = relu_s16, [NQ_ISTORE_S32] = relu_s32,
                                    [NQ_ISTORE_S64] = relu_s64};

nq_status nq_relu_int_infer(nq_kctx *c)
{
    nq_status s = nq_elem_check_io(c, 1, 1);
    if (s != NQ_OK) return s;
    nq_elem_same_shape(c, 0, c->in[0]->dtype);
    return NQ_OK;
}

typedef struct irelu_job {
    irelu_fn fn;
    const char *x;
    char *y;
    size_t es;
} irelu_job;

static void irelu_range(void *ctx, int64_t b, int64_t e)
{
    const irelu_job *j = ctx;
    j->fn(j->x + (size_t)b * j->es, j->y + (size_t)b * j->es, e - b);
}

nq_status nq_relu_int_forward(nq_kctx *c)
{
    nq_status s = nq_elem_check_io(c, 1, 1);
    if (s != NQ_OK) return s;
    const nq_tensor *x = c->in[0];
    const int64_t n = nq_tensor_numel(x);
    irelu_job j = {relu_fns[nq_istore_of(x->dtype)], x->data, c->out[0]->data,
                   nq_dtype_size(x->dtype)};
    if (n > 0 && (j.x == NULL || j.y == NULL))
        return nq_kctx_fail(c, NQ_ERR_INTERNAL, "tensor data missing");
    nq_par_range(n, NQ_PAR_GRAIN, c->num_threads, irelu_range, &j);
    return NQ_OK;
}
