/* Private to src/kernels, src/ops and tests: depthwise convolution of
 * output planes (one input channel and its kernel each), float and integer,
 * row by row: y = bias, then for each kernel tap the output positions whose
 * input falls inside the row (nq_window_row_range) add w[tap] * x in one
 * vectorizable loop; small 2-D planes (up to 16 KiB a buffer) in the
 * stride-phase form, one loop a tap over the whole plane, with the same
 * sums (depthwise.c). Each is compiled once per ISA level and run with the
 * level the caller picks (an unavailable one: the generic). */
#ifndef NQ_KERNELS_DEPTHWISE_H
#define NQ_KERNELS_DEPTHWISE_H

#include <stdint.h>

#include "kernels/int_internal.h"
#include "kernels/micro_f32.h"
#include "kernels/window3.h"

/* Float planes of one geometry: output plane j (0 <= j < n) reads input
 * plane x + (j / mg) * x_plane (mg outputs per input: the channel
 * multiplier), kernel w + j * w_plane and bias[j] (0 with bias NULL), and
 * is written at y + j * y_plane; plane 0 is the first output of its input
 * (mg >= 1). Products and sums rounded one at a time,
 * in the same order on every ISA (AVX2 without FMA), so every variant
 * gives the same bits. */
typedef struct nq_dw_f32_run {
    int64_t n, mg;
    const float *x;
    int64_t x_plane;
    const float *w;
    int64_t w_plane;
    const float *bias;
    float *y;
    int64_t y_plane;
} nq_dw_f32_run;
void nq_dw_f32_planes(nq_f32_isa isa, const nq_window3 *w, const nq_dw_f32_run *r);

/* Integer: x int8, uint8 or int16 and w int8 or int16 as stored, y int32
 * (acc64: int64), exact modulo 2^32 (2^64). */
typedef enum nq_dw_int_type { NQ_DW_INT_S8 = 0, NQ_DW_INT_U8 = 1, NQ_DW_INT_S16 = 2 } nq_dw_int_type;
void nq_dw_int_plane(nq_int_isa isa, int acc64, nq_dw_int_type xt, nq_dw_int_type wt,
                     const nq_window3 *w, const void *x, const void *wts, int64_t bias, void *y);

#endif
