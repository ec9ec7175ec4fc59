/* Private to src/kernels: the "pair" micro-kernels of the integer GEMMs'
 * outer family (gemm_s8.c), written with x86 intrinsics.
 *
 * Layout, for kp pairs of K (k = 2p, 2p + 1; an odd K block is padded
 * with a zero column):
 *  - A strip: ap[p * rows + r] is one 32-bit word holding the int16 pair
 *    (A[r][2p] in the low half, A[r][2p + 1] in the high half);
 *  - B panel: bp[(p * NQ_PAIR_NR + c) * 2 + h] = B[2p + h][c], NQ_PAIR_NR
 *    columns per panel.
 * A tile is out[r * NQ_PAIR_NR + c] = sum_p sum_h a[r][2p+h] * b[2p+h][c]
 * modulo 2^32: one broadcast of A's word and a pmaddwd (vpdpwssd with
 * AVX-512 VNNI) per 8 or 16 outputs and pair of K, with no horizontal
 * sums. Integer sums are exact modulo 2^32 in any order, so the results
 * equal the reference loops bit for bit (pmaddwd's one wrap, at
 * (-32768)^2 * 2, is the same modulo 2^32). */
#ifndef NQ_KERNELS_GEMM_PAIR_H
#define NQ_KERNELS_GEMM_PAIR_H

#include <stdint.h>

enum { NQ_PAIR_NR = 32 };

/* The "quad" micro-kernel of 8-bit operands (AVX-512 VNNI's vpdpbusd,
 * unsigned bytes times signed bytes, four products per 32-bit lane), for kq
 * quads of K (k = 4q .. 4q + 3; a last partial quad padded with zero
 * weights):
 *  - A strip: aq[q * 8 + r] is one 32-bit word holding the int8 A[r][4q + h]
 *    in byte h;
 *  - B panel: bq[(q * NQ_PAIR_NR + c) * 4 + h] = B[4q + h][c] as an unsigned
 *    byte (int8 activations arrive offset by 128, the caller subtracts
 *    128 * the row's weight sum through init);
 *  - out[r * NQ_PAIR_NR + c] = init[r] + sum_q sum_h a * b, modulo 2^32 (the
 *    non-saturating vpdpbusd wraps like the reference). */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* 8 x NQ_PAIR_NR tile, AVX-512 F/BW + VNNI. */
void nq_quad_tile8_avx512vnni(int64_t kq, const uint32_t *aq, const uint8_t *bq,
                              const int32_t *init, uint32_t *out);
/* 4 x NQ_PAIR_NR tile, AVX2. */
void nq_pair_tile4_avx2(int64_t kp, const uint32_t *ap, const int16_t *bp, uint32_t *out);
/* 8 x NQ_PAIR_NR tile, AVX-512 F/BW + VNNI. */
void nq_pair_tile8_avx512vnni(int64_t kp, const uint32_t *ap, const int16_t *bp, uint32_t *out);
#endif

#endif
