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

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* 4 x NQ_PAIR_NR tile, AVX2. */
void nq_pair_tile4_avx2(int64_t kp, const uint32_t *ap, const int16_t *bp, uint32_t *out);
/* 8 x NQ_PAIR_NR tile, AVX-512 F/BW + VNNI. */
void nq_pair_tile8_avx512vnni(int64_t kp, const uint32_t *ap, const int16_t *bp, uint32_t *out);
#endif

#endif
