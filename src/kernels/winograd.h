/* Private to src/kernels, src/ops and tests: float32 3x3 convolution by
 * Winograd F(2x2, 3x3) (Lavin & Gray, 2015): each 2x2 output tile costs 16
 * products per (input, output) channel pair instead of 36, as 16 GEMMs
 * (one per point of the 4x4 transformed tile) on the micro-kernel of
 * micro_f32.h, between an input and an output transform (additions only).
 *
 * Applies to 2-D windows with kernel 3x3, strides 1 and dilations 1 (any
 * pads). Results differ from a direct convolution by rounding only (the
 * transforms use coefficients 0, +-1 and +-1/2), a few ulps of the sum of
 * absolute products. One image and one group per call; the transformed
 * weights are computed once per forward and shared. */
#ifndef NQ_KERNELS_WINOGRAD_H
#define NQ_KERNELS_WINOGRAD_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/micro_f32.h"
#include "nnquant/kernels.h"

/* 1 if g is a 2-D 3x3 window with strides and dilations 1. */
int nq_winograd_applies(const nq_conv_geom *g);

/* Floats of the transformed weights of M output and C input channels. */
size_t nq_winograd_pack_w_floats(int64_t M, int64_t C);
/* W [M, C, 3, 3] -> the 16 matrices U_e[M, C] = (G w G^T)[e], each packed
 * as nq_f32_pack_a does. */
void nq_winograd_pack_w(int64_t M, int64_t C, const float *w, float *packed);

/* Scratch bytes of one nq_winograd_f32 call (64-byte multiple). */
size_t nq_winograd_scratch(const nq_conv_geom *g, int64_t C, int64_t M);

/* Y[M, P] (row stride ldy) = bias + conv(x) for one image and one group:
 * x is [C, H, W]; bias may be NULL; scratch 64-byte aligned. */
void nq_winograd_f32(nq_f32_isa isa, const nq_conv_geom *g, int64_t C, int64_t M,
                     const float *packed_u, const float *x, const float *bias, float *y,
                     int64_t ldy, void *scratch);

#endif
