/* Private helpers shared by the element-wise operator files (binary.c,
 * unary.c, softmax.c, reduce.c, cast.c). Not part of the public API. */
#ifndef NQ_OPS_ELEMWISE_H
#define NQ_OPS_ELEMWISE_H

#include <stdint.h>

#include "nnquant/ops.h"

/* Smallest amount of element work worth a thread. */
#define NQ_PAR_GRAIN ((int64_t)32768)

typedef void (*nq_range_fn)(void *ctx, int64_t begin, int64_t end);

/* Calls fn(ctx, begin, end) over disjoint ranges covering [0, n), on up to
 * num_threads threads (OpenMP builds) when each range gets at least `grain`
 * items; otherwise one call on the calling thread. Does nothing if n <= 0. */
void nq_par_range(int64_t n, int64_t grain, int num_threads, nq_range_fn fn, void *ctx);

/* Common checks of infer(): at least `min_in` inputs with the first
 * `min_in` present, and output 0 present. Fails with a clear message. */
nq_status nq_elem_check_io(const nq_kctx *c, int min_in, int max_in);

/* Output k gets the dtype and shape of input 0 (or the given dtype). */
void nq_elem_same_shape(const nq_kctx *c, int k, nq_dtype dtype);

/* Reductions (reduce.c, reduce_int.c): which input dims to reduce, or a
 * no-op. Axes are the attribute `axes` before opset `axes_input_since`,
 * an optional int64 input 1 (known at plan time) from it; no axes reduces
 * every dim unless noop_with_empty_axes=1. */
typedef struct nq_reduce_axes {
    int noop;
    int red[NQ_MAX_DIMS];
} nq_reduce_axes;
nq_status nq_reduce_read_axes(const nq_kctx *c, int64_t axes_input_since, nq_reduce_axes *ra);

#endif
