/* Private to src/ops: attributes and output sizes of sliding-window
 * operators (Conv, ConvTranspose, MaxPool, AveragePool). */
#ifndef NQ_OPS_WINDOW_H
#define NQ_OPS_WINDOW_H

#include "nnquant/kernels.h"
#include "nnquant/ops.h"

typedef enum nq_auto_pad {
    NQ_AUTO_PAD_NOTSET,
    NQ_AUTO_PAD_SAME_UPPER,
    NQ_AUTO_PAD_SAME_LOWER,
    NQ_AUTO_PAD_VALID
} nq_auto_pad;

/* Fills g->nsp, g->in (from `in`), kernel, stride, dilation and explicit
 * pads from the node's attributes, and *ap from auto_pad. The kernel comes
 * from kernel_shape, else from `wkernel` (the weight's spatial dims; NULL
 * for pools, where kernel_shape is required); when both exist they must
 * agree. Errors name the node and the attribute. */
nq_status nq_window_read(const nq_kctx *c, int nsp, const int64_t *in, const int64_t *wkernel,
                         nq_conv_geom *g, nq_auto_pad *ap);

/* Output spatial size of a convolution or pooling window (g->out), with the
 * pads of SAME_UPPER / SAME_LOWER / VALID resolved into g. ceil_mode as in
 * pooling (a last window starting in the end padding is dropped). Fails if
 * a window does not fit in the padded input. */
nq_status nq_window_out(const nq_kctx *c, nq_conv_geom *g, nq_auto_pad ap, int ceil_mode);

/* Reads "auto_pad"; fails on an unknown value. */
nq_status nq_window_auto_pad(const nq_kctx *c, nq_auto_pad *ap);

/* The shape of a convolution, shared by the float and integer Conv:
 * X [N, C, spatial...], W [M, C/group, kernel...], optional B [M]. */
typedef struct nq_conv_shape {
    nq_conv_geom g;
    int64_t N, C, M, group, Cg, Mg; /* channels in/out, and per group */
    int64_t kprod, in_plane, out_plane, K; /* K = Cg * kprod */
    int pointwise;  /* 1x1, stride 1, no pad: X is its own column matrix */
} nq_conv_shape;

/* Checks ranks, groups, channels and bias, reads the window attributes and
 * fills s. Dtypes are the caller's business. */
nq_status nq_conv_shape_read(const nq_kctx *c, const nq_tensor *x, const nq_tensor *w,
                             const nq_tensor *b, nq_conv_shape *s);

#endif
