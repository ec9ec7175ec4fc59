/* Private to src/kernels, src/ops and tests: float32 convolution as a GEMM
 * whose column operand is read straight from the image (im2col fused in or
 * avoided), with the 16x6 register-blocked micro-kernel of micro_f32.h.
 *
 *   Y[m, p] = bias[m] + sum_k W[m, k] * col[k, p]      (one image, one group)
 *
 * with col = im2col(X) (K = C * prod(kernel) rows, P = prod(out) columns).
 * W is packed once per forward (nq_f32_pack_a) and shared by every image
 * and thread; each call needs nq_conv_gemm_scratch() bytes of its own.
 * Variants: those of the micro-kernel (micro_f32.h). */
#ifndef NQ_KERNELS_CONV_GEMM_H
#define NQ_KERNELS_CONV_GEMM_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/micro_f32.h"
#include "nnquant/kernels.h"

/* Scratch bytes of one nq_conv_gemm_f32 call for this geometry, channel
 * count and output channel count (64-byte multiple). */
size_t nq_conv_gemm_scratch(const nq_conv_geom *g, int64_t channels, int64_t M);

/* Y[M, P] (row stride ldy) = bias + packed_w * im2col(x) for one image and
 * one group: x is [channels, in...]. bias may be NULL. scratch: 64-byte
 * aligned, nq_conv_gemm_scratch() bytes. An unavailable isa runs GENERIC. */
void nq_conv_gemm_f32(nq_f32_isa isa, const nq_conv_geom *g, int64_t channels, int64_t M,
                      const float *packed_w, const float *x, const float *bias, float *y,
                      int64_t ldy, void *scratch);

#endif
