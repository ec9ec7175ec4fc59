/*
 * Transpose (perm; default reverses the axes). The permutation is first
 * simplified (size-1 axes dropped, axes contiguous in both layouts merged),
 * so NCHW <-> NHWC becomes a batch of 2-D transposes. Those run in 32x32
 * tiles; a permutation that keeps the innermost axis copies whole rows.
 */
#include "movement.h"

#define TP_TILE 32

#define TP_DEF_TILED(NAME, T)                                                             \
    static void NAME(void *dst, const void *src, int64_t na, int64_t nb, int64_t ostr_a,   \
                     int64_t istr_b)                                                      \
    {                                                                                     \
        T *o = (T *)dst;                                                                  \
        const T *x = (const T *)src;                                                      \
        for (int64_t a0 = 0; a0 < na; a0 += TP_TILE) {                                    \
            int64_t a1 = a0 + TP_TILE < na ? a0 + TP_TILE : na;                           \
            for (int64_t b0 = 0; b0 < nb; b0 += TP_TILE) {                                \
                int64_t b1 = b0 + TP_TILE < nb ? b0 + TP_TILE : nb;                       \
                for (int64_t a = a0; a < a1; a++) {                                       \
                    T *orow = o + a * ostr_a;                                             \
                    const T *xcol = x + a;                                                \
                    for (int64_t b = b0; b < b1; b++) orow[b] = xcol[b * istr_b];         \
                }                                                                         \
            }                                                                             \
        }                                                                                 \
    }
TP_DEF_TILED(tiled_u8, uint8_t)
TP_DEF_TILED(tiled_u16, uint16_t)
TP_DEF_TILED(tiled_u32, uint32_t)
TP_DEF_TILED(tiled_u64, uint64_t)

typedef void (*tiled_fn)(void *, const void *, int64_t, int64_t, int64_t, int64_t);

/* Reads perm (or the default reversal) and checks it; fills perm[0..r). */
static nq_status read_perm(const nq_kctx *c, int r, int *perm)
{
    const int64_t *p;
    int n = nq_node_attr_ints(c->node, "perm", &p);
    if (n == 0) {
        for (int i = 0; i < r; i++) perm[i] = r - 1 - i;
        return NQ_OK;
    }
    if (n != r)
        return nq_kctx_fail(c, NQ_ERR_SHAPE, "perm has %d entries for an input of rank %d", n, r);
    int seen[NQ_MAX_DIMS] = {0};
    for (int i = 0; i < r; i++) {
        if (p[i] < 0 || p[i] >= r || seen[p[i]])
            return nq_kctx_fail(c, NQ_ERR_SHAPE, "perm is not a permutation of 0..%d", r - 1);
        seen[p[i]] = 1;
        perm[i] = (int)p[i];
    }
    return NQ_OK;
}

static nq_status transpose_infer(nq_kctx *c)
{
    const nq_tensor *x;
    nq_status s = nq_mv_need_in(c, 0, "data", &x);
    if (s != NQ_OK) return s;
    int perm[NQ_MAX_DIMS];
    s = read_perm(c, x->ndim, perm);
    if (s != NQ_OK) return s;
    int64_t dims[NQ_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++) dims[i] = x->dims[perm[i]];
    return nq_mv_set_out(c, 0, x->dtype, x->ndim, dims);
}

static nq_status transpose_forward(nq_kctx *c)
{
    const nq_tensor *x = c->in[0];
    nq_tensor *y = c->out[0];
    int r = x->ndim, perm[NQ_MAX_DIMS];
    nq_status s = read_perm(c, r, perm);
    if (s != NQ_OK) return s;
    size_t esize = nq_dtype_size(x->dtype);
    if (nq_tensor_numel(x) == 0) return NQ_OK;

    /* Simplified problem: output dims d[0..k) (contiguous in the output),
     * input stride st[i] (elements) of each output axis. */
    int64_t istr[NQ_MAX_DIMS], d[NQ_MAX_DIMS], st[NQ_MAX_DIMS];
    int k = 0;
    if (r > 0) istr[r - 1] = 1;
    for (int i = r - 2; i >= 0; i--) istr[i] = istr[i + 1] * x->dims[i + 1];
    for (int i = 0; i < r; i++) {
        int64_t dim = x->dims[perm[i]], stride = istr[perm[i]];
        if (dim == 1) continue;
        if (k > 0 && st[k - 1] == stride * dim) {
            d[k - 1] *= dim;
            st[k - 1] = stride;
        } else {
            d[k] = dim;
            st[k] = stride;
            k++;
        }
    }
    if (k == 0 || st[k - 1] == 1) { /* identity after merging, or whole rows */
        nq_mv_strided_copy(y->data, x->data, esize, k, d, st);
        return NQ_OK;
    }
    tiled_fn fn = esize == 1 ? tiled_u8 : esize == 2 ? tiled_u16 : esize == 4 ? tiled_u32
                : esize == 8 ? tiled_u64 : NULL;
    int j = 0; /* the output axis that is contiguous in the input */
    while (j < k && st[j] != 1) j++;
    if (fn == NULL || j == k) {
        nq_mv_strided_copy(y->data, x->data, esize, k, d, st);
        return NQ_OK;
    }
    int64_t ostr[NQ_MAX_DIMS];
    ostr[k - 1] = 1;
    for (int i = k - 2; i >= 0; i--) ostr[i] = ostr[i + 1] * d[i + 1];
    nq_mv_odo it = {0};
    for (int i = 0; i < k - 1; i++) {
        if (i == j) continue;
        it.dims[it.n] = d[i];
        it.is[it.n] = st[i];
        it.os[it.n] = ostr[i];
        it.n++;
    }
    const int64_t es = (int64_t)esize;
    do {
        fn((char *)y->data + it.ooff * es, (const char *)x->data + it.ioff * es, d[j], d[k - 1],
           ostr[j], st[k - 1]);
    } while (nq_mv_odo_next(&it));
    return NQ_OK;
}

const nq_op_def nq_def_Transpose = {.name = "Transpose", .infer = transpose_infer, .forward = transpose_forward};
