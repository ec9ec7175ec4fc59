/* Private to src/kernels and tests: the float32 register-blocked
 * micro-kernel behind the convolution kernels (conv_gemm.h, winograd.h),
 * its variants and the packing of its A operand.
 *
 * A tile is MR = 16 rows of A (output channels) by NR = 6 columns
 * (positions): C[i][j] = sum_k A[k][i] * b[off[k] + j], A packed in panels
 * of 16 rows ([K][16] per panel, see nq_f32_pack_a), the B values of k at
 * b + off[k] (any layout: a column tile, a padded image, a transformed
 * block). The results go to Y through an nq_f32_out map. */
#ifndef NQ_KERNELS_MICRO_F32_H
#define NQ_KERNELS_MICRO_F32_H

#include <stddef.h>
#include <stdint.h>

enum { NQ_F32_MR = 16, NQ_F32_NR = 6 };

typedef enum nq_f32_isa {
    NQ_F32_ISA_GENERIC = 0, /* plain C: the reference of the others */
    NQ_F32_ISA_AVX2 = 1,    /* x86-64 AVX2 + FMA */
    NQ_F32_ISA_COUNT
} nq_f32_isa;

/* 1 if the variant is compiled in and this CPU runs it. */
int nq_f32_isa_available(nq_f32_isa isa);
/* AVX2 when available, else GENERIC. */
nq_f32_isa nq_f32_isa_best(void);

/* Floats of a packed A[M, K]: M rounded up to 16, times K. */
size_t nq_f32_pack_a_floats(int64_t M, int64_t K);
/* Packs A[M, K] (row stride lda) into 16-row panels [ceil(M/16)][K][16],
 * zero-padded. */
void nq_f32_pack_a(int64_t M, int64_t K, const float *a, int64_t lda, float *packed);

/* Where a tile's results go. Column q = q0 + j of a tile lies in row
 * q / wp, column q % wp of the block; columns >= ow are junk (dropped); a
 * kept one goes to y + (q / wp) * ow + q % wp + i * ldy for tile row i
 * (wp == ow: no junk, y + q + i * ldy). With trans, rows are contiguous
 * instead: y + q * ldy + i (wp == ow required).
 * first: Y = bias[i] (or 0) + result, else Y += result. */
typedef struct nq_f32_out {
    float *y;
    int64_t ldy, wp, ow;
    const float *bias;
    int first;
    int trans;
} nq_f32_out;

/* One tile: a = packed panel (kc x 16), columns q0 .. q0 + nr - 1 of the
 * block (b already points at column q0), rows 0 .. mr - 1 stored. */
typedef void (*nq_f32_micro_fn)(int64_t kc, const float *a, const float *b, const int64_t *off,
                                const nq_f32_out *o, int64_t q0, int64_t mr, int64_t nr);

/* The variant's micro-kernel (GENERIC if unavailable). */
nq_f32_micro_fn nq_f32_micro(nq_f32_isa isa);

#endif
