/* Private to src/kernels and tests: the vector-ISA variants behind the
 * integer kernels of kernels.h (GEMM, requantize, quantize), so that tests
 * can run every variant this CPU supports against the references (the
 * public functions pick the best one at run time). The variants are the
 * same C compiled with different target attributes: integer results are
 * identical by construction, and the tests check it. */
#ifndef NQ_KERNELS_INT_INTERNAL_H
#define NQ_KERNELS_INT_INTERNAL_H

#include <stdint.h>

#include "nnquant/kernels.h"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define NQ_INT_X86 1
#define NQ_INT_ALWAYS_INLINE static inline __attribute__((always_inline))
#define NQ_INT_TARGET_AVX2 __attribute__((target("avx2")))
#define NQ_INT_TARGET_AVX512VNNI \
    __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni")))
#else
#define NQ_INT_X86 0
#define NQ_INT_ALWAYS_INLINE static inline
#endif

/* NQ_ISA_VARIANTS(DECL, PARAMS, CALL) defines DECL_avx2 and
 * DECL_avx512vnni with the given body on x86; NQ_ISA_DISPATCH calls the
 * variant for isa (assumed available), else DECL_generic. */
#if NQ_INT_X86
#define NQ_ISA_VARIANTS(DECL, PARAMS, CALL)                                                      \
    NQ_INT_TARGET_AVX2 DECL##_avx2 PARAMS { CALL; }                                             \
    NQ_INT_TARGET_AVX512VNNI DECL##_avx512vnni PARAMS { CALL; }
#define NQ_ISA_DISPATCH(isa, NAME, ARGS)                                                         \
    do {                                                                                        \
        switch (isa) {                                                                          \
        case NQ_INT_ISA_AVX512VNNI: NAME##_avx512vnni ARGS; break;                              \
        case NQ_INT_ISA_AVX2: NAME##_avx2 ARGS; break;                                          \
        default: NAME##_generic ARGS; break;                                                    \
        }                                                                                       \
    } while (0)
#else
#define NQ_ISA_VARIANTS(DECL, PARAMS, CALL)
#define NQ_ISA_DISPATCH(isa, NAME, ARGS) ((void)(isa), NAME##_generic ARGS)
#endif

typedef enum nq_int_isa {
    NQ_INT_ISA_GENERIC = 0,   /* the compiler's baseline (SSE2 on x86-64) */
    NQ_INT_ISA_AVX2 = 1,      /* x86-64 AVX2 */
    NQ_INT_ISA_AVX512VNNI = 2, /* x86-64 AVX-512 F/BW/VL/DQ + VNNI (Cascade Lake, Zen 4 on) */
    NQ_INT_ISA_COUNT
} nq_int_isa;

/* 1 if the variant is compiled in and this CPU runs it. */
int nq_int_isa_available(nq_int_isa isa);
/* The widest available variant (what the public functions use). */
nq_int_isa nq_int_isa_best(void);
const char *nq_int_isa_name(nq_int_isa isa);

/* GEMM kernel family (gemm_s8.c): AUTO picks quad for 8-bit operands
 * where the ISA has it, else outer (pairs; B as [K,N]) where the ISA has
 * it, else dot. DOT, OUTER and QUAD force one (each falls back, QUAD to
 * OUTER, OUTER to DOT, where the ISA or the operands have none, or for
 * OUTER, B is transposed), so that tests cover all of them on every shape. */
typedef enum nq_int_gemm_family {
    NQ_INT_GEMM_AUTO = 0,
    NQ_INT_GEMM_DOT = 1,
    NQ_INT_GEMM_OUTER = 2,
    NQ_INT_GEMM_QUAD = 3,
    NQ_INT_GEMM_FAMILIES
} nq_int_gemm_family;

/* As the public functions, with the variant chosen by the caller (an
 * unavailable one falls back to NQ_INT_ISA_GENERIC). */
void nq_requant_s32_to_s8_isa(nq_int_isa isa, const int32_t *acc, int64_t n, nq_requant r,
                              int32_t qmin, int32_t qmax, int8_t *out);
void nq_requant_s32_to_u8_isa(nq_int_isa isa, const int32_t *acc, int64_t n, nq_requant r,
                              int32_t qmin, int32_t qmax, uint8_t *out);
void nq_requant_s32_to_s16_isa(nq_int_isa isa, const int32_t *acc, int64_t n, nq_requant r,
                               int32_t qmin, int32_t qmax, int16_t *out);
void nq_requant_s32_to_s32_isa(nq_int_isa isa, const int32_t *acc, int64_t n, nq_requant r,
                               int32_t qmin, int32_t qmax, int32_t *out);
void nq_requant_s64_to_s8_isa(nq_int_isa isa, const int64_t *acc, int64_t n, nq_requant r,
                              int32_t qmin, int32_t qmax, int8_t *out);
void nq_requant_s64_to_u8_isa(nq_int_isa isa, const int64_t *acc, int64_t n, nq_requant r,
                              int32_t qmin, int32_t qmax, uint8_t *out);
void nq_requant_s64_to_s16_isa(nq_int_isa isa, const int64_t *acc, int64_t n, nq_requant r,
                               int32_t qmin, int32_t qmax, int16_t *out);
void nq_requant_s64_to_s32_isa(nq_int_isa isa, const int64_t *acc, int64_t n, nq_requant r,
                               int32_t qmin, int32_t qmax, int32_t *out);
void nq_quantize_f32_s8_isa(nq_int_isa isa, const float *x, int64_t n, float scale,
                            int32_t qmin, int32_t qmax, int8_t *out);
void nq_quantize_f32_u8_isa(nq_int_isa isa, const float *x, int64_t n, float scale,
                            int32_t qmin, int32_t qmax, uint8_t *out);
void nq_quantize_f32_s16_isa(nq_int_isa isa, const float *x, int64_t n, float scale,
                             int32_t qmin, int32_t qmax, int16_t *out);

void nq_fake_quantize_f32_isa(nq_int_isa isa, const float *x, int64_t n, float scale, float lo, float hi,
                              float *out);
void nq_gemm_s8s8s32_isa(nq_int_isa isa, nq_int_gemm_family fam, int trans_b, int64_t M,
                         int64_t N, int64_t K, const int8_t *A, int64_t lda, const int8_t *B,
                         int64_t ldb, const int32_t *bias, int32_t *C, int64_t ldc);
void nq_gemm_s8u8s32_isa(nq_int_isa isa, nq_int_gemm_family fam, int trans_b, int64_t M,
                         int64_t N, int64_t K, const int8_t *A, int64_t lda, const uint8_t *B,
                         int64_t ldb, const int32_t *bias, int32_t *C, int64_t ldc);
void nq_gemm_s16s16s32_isa(nq_int_isa isa, nq_int_gemm_family fam, int trans_b, int64_t M,
                           int64_t N, int64_t K, const int16_t *A, int64_t lda, const int16_t *B,
                           int64_t ldb, const int32_t *bias, int32_t *C, int64_t ldc);
void nq_gemm_s16s16s64_isa(nq_int_isa isa, nq_int_gemm_family fam, int trans_b, int64_t M,
                           int64_t N, int64_t K, const int16_t *A, int64_t lda, const int16_t *B,
                           int64_t ldb, const int64_t *bias, int64_t *C, int64_t ldc);

/* nq_im2col_bytes writing only output rows [r0, r1) (an output row: one
 * index of the flattened leading output dims), column-matrix row k at
 * dst + k*ld elements (ld >= (r1 - r0) * out_last): the contract of
 * nq_im2col_f32_rows (window3.h), for tiles of an image or several images
 * side by side in one GEMM operand. */
void nq_im2col_bytes_rows(const nq_conv_geom *g, int64_t channels, size_t elem_size,
                          const void *src, void *dst, int64_t ld, int64_t r0, int64_t r1);

#endif
