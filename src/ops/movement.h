/*
 * Internal helpers shared by the data-movement operators (reshape.c,
 * transpose.c, concat_split.c, slice.c, pad.c, constant.c, gather.c).
 * They move bytes, so they work for every nq_dtype (element size from
 * nq_dtype_size: 1, 2, 4 or 8 bytes).
 */
#ifndef NQ_OPS_MOVEMENT_H
#define NQ_OPS_MOVEMENT_H

#include <string.h>

#include "nnquant/ops.h"

/* Input i, or NULL when it is absent (past n_in, or an empty optional slot). */
static inline const nq_tensor *nq_mv_in(const nq_kctx *c, int i)
{
    return i < c->n_in ? c->in[i] : NULL;
}

/* Output i, or NULL when absent. */
static inline nq_tensor *nq_mv_out(const nq_kctx *c, int i)
{
    return i < c->n_out ? c->out[i] : NULL;
}

/* Copies n bytes; no-op when n == 0 or dst == src (pointers may then be NULL). */
static inline void nq_mv_copy(void *dst, const void *src, size_t n)
{
    if (n > 0 && dst != src) memmove(dst, src, n);
}

/* infer(): fails unless input i is present; returns it in *t. */
nq_status nq_mv_need_in(const nq_kctx *c, int i, const char *what, const nq_tensor **t);

/* infer(): sets dtype and shape of output i (nothing to do when the output
 * is absent). Fails on rank > NQ_MAX_DIMS or a negative dim. */
nq_status nq_mv_set_out(const nq_kctx *c, int i, nq_dtype dtype, int ndim, const int64_t *dims);

/* Reads the integer values (int32 or int64, rank 0 or 1) of input i, which
 * must be known: NQ_ERR_UNSUPPORTED naming the input when its data is NULL
 * (not known at plan time), NQ_ERR_SHAPE if it has more than `max` values. */
nq_status nq_mv_read_ints(const nq_kctx *c, int i, const char *what, int64_t *out, int max,
                          int *n);

/* Element i of an int32/int64 tensor with data. */
int64_t nq_mv_i64_at(const nq_tensor *t, int64_t i);

/* Product of dims[from..to). */
int64_t nq_mv_prod(const int64_t *dims, int from, int to);

/*
 * Strided gather-copy: dst (contiguous, shape dims[0..r)) receives, for each
 * output coordinate k, the element at src + sum(k[i] * istr[i]) (strides in
 * elements, may be negative). Adjacent axes that are contiguous in the source
 * are merged and a contiguous innermost axis is copied with memcpy.
 */
void nq_mv_strided_copy(void *dst, const void *src, size_t esize, int r, const int64_t *dims,
                        const int64_t *istr);

/* Row-major odometer over `n` axes, tracking an input and an output offset. */
typedef struct nq_mv_odo {
    int n;
    int64_t dims[NQ_MAX_DIMS], is[NQ_MAX_DIMS], os[NQ_MAX_DIMS], idx[NQ_MAX_DIMS];
    int64_t ioff, ooff;
} nq_mv_odo;

/* Advances to the next coordinate; returns 0 after the last one. */
static inline int nq_mv_odo_next(nq_mv_odo *d)
{
    for (int i = d->n - 1; i >= 0; i--) {
        d->idx[i]++;
        d->ioff += d->is[i];
        d->ooff += d->os[i];
        if (d->idx[i] < d->dims[i]) return 1;
        d->ioff -= d->is[i] * d->dims[i];
        d->ooff -= d->os[i] * d->dims[i];
        d->idx[i] = 0;
    }
    return 0;
}

#endif
