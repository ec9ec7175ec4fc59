/* Helpers shared by the element-wise operator files (see elemwise.h). */
#include "ops/elemwise.h"

void nq_par_range(int64_t n, int64_t grain, int num_threads, nq_range_fn fn, void *ctx)
{
    if (n <= 0) return;
    if (grain < 1) grain = 1;
    int64_t nt = n / grain;
    if (nt > num_threads) nt = num_threads;
    if (nt <= 1) {
        fn(ctx, 0, n);
        return;
    }
#ifdef NQ_HAVE_OPENMP
#pragma omp parallel for num_threads((int)nt) schedule(static)
    for (int64_t t = 0; t < nt; t++)
        fn(ctx, n * t / nt, n * (t + 1) / nt);
#else
    fn(ctx, 0, n);
#endif
}

nq_status nq_elem_check_io(const nq_kctx *c, int min_in, int max_in)
{
    if (c->n_in < min_in || c->n_in > max_in)
        return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "expects %d to %d inputs, got %d", min_in,
                            max_in, c->n_in);
    for (int i = 0; i < min_in; i++)
        if (c->in[i] == NULL)
            return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "required input %d is missing", i);
    if (c->n_out < 1 || c->out[0] == NULL)
        return nq_kctx_fail(c, NQ_ERR_INVALID_ARG, "output 0 is missing");
    return NQ_OK;
}

void nq_elem_same_shape(const nq_kctx *c, int k, nq_dtype dtype)
{
    const nq_tensor *x = c->in[0];
    nq_tensor *y = c->out[k];
    y->dtype = dtype;
    y->ndim = x->ndim;
    for (int i = 0; i < x->ndim; i++) y->dims[i] = x->dims[i];
}
