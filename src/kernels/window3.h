/* Private to src/kernels and src/ops: a window geometry promoted to 3-D
 * (leading unit dims), used by im2col, col2im and the pooling loops. */
#ifndef NQ_KERNELS_WINDOW3_H
#define NQ_KERNELS_WINDOW3_H

#include <stdint.h>

#include "nnquant/kernels.h"

typedef struct nq_window3 {
    int64_t in[NQ_MAX_SPATIAL], out[NQ_MAX_SPATIAL], k[NQ_MAX_SPATIAL];
    int64_t s[NQ_MAX_SPATIAL], d[NQ_MAX_SPATIAL], pb[NQ_MAX_SPATIAL];
} nq_window3;

void nq_window3_from_geom(const nq_conv_geom *g, nq_window3 *w);

/* Output positions o in [*lo, *hi) (clipped to [0, n_out)) are those with
 * 0 <= o*stride + offset < n_in. stride >= 1. */
void nq_window_row_range(int64_t n_out, int64_t n_in, int64_t stride, int64_t offset,
                         int64_t *lo, int64_t *hi);

/* The row loops of the direct window kernels (depthwise convolution,
 * pooling): runs the statements given after YROW for each output row
 * (od, oh) whose input row for the tap (kd, kh) lies inside the input (the
 * others fall in the padding), with XROW (the element offset of that input
 * row) and YROW (of the output row) declared. */
#define NQ_WINDOW3_TAP_ROWS(w, kd, kh, XROW, YROW, ...)                                         \
    for (int64_t nq_od_ = 0; nq_od_ < (w)->out[0]; nq_od_++) {                                  \
        const int64_t nq_id_ = nq_od_ * (w)->s[0] - (w)->pb[0] + (kd) * (w)->d[0];              \
        if (nq_id_ < 0 || nq_id_ >= (w)->in[0]) continue;                                       \
        for (int64_t nq_oh_ = 0; nq_oh_ < (w)->out[1]; nq_oh_++) {                              \
            const int64_t nq_ih_ = nq_oh_ * (w)->s[1] - (w)->pb[1] + (kh) * (w)->d[1];          \
            if (nq_ih_ < 0 || nq_ih_ >= (w)->in[1]) continue;                                   \
            const int64_t XROW = (nq_id_ * (w)->in[1] + nq_ih_) * (w)->in[2];                   \
            const int64_t YROW = (nq_od_ * (w)->out[1] + nq_oh_) * (w)->out[2];                 \
            __VA_ARGS__                                                                         \
        }                                                                                       \
    }

/* Part of nq_im2col_f32: only the output positions of output rows [r0, r1),
 * where an output row is one index of the flattened leading output dims
 * (all but the last), i.e. columns [r0*out_last, r1*out_last) of the full
 * column matrix. Row k of the result is written at dst + k*ld
 * (ld >= (r1 - r0) * out_last), so that tiles of an image, or several
 * images side by side, can form one GEMM operand. */
void nq_im2col_f32_rows(const nq_conv_geom *g, int64_t channels, const float *src, float *dst,
                        int64_t ld, int64_t r0, int64_t r1);

/* One row of the column matrix: kernel tap (kd, kh, kw) of one channel
 * image `img`, output rows [r0, r1), written to dst ((r1 - r0) * out[2]
 * floats, zero where the tap falls in the padding). */
void nq_im2col_tap_f32(const nq_window3 *w, const float *img, int64_t kd, int64_t kh,
                       int64_t kw, int64_t r0, int64_t r1, float *dst);

#endif
