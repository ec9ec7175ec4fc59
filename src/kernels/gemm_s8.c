/* Integer GEMMs (int8/uint8/int16 inputs, int32/int64 accumulators) for
 * affine operators run as conv-as-GEMM: C[M,N] = A[M,K] * B[K,N] + bias.
 *
 * Two blocked kernel families; the drivers and packers are plain C, the
 * dot tiles are C that compilers vectorize, compiled once per x86 ISA
 * level with target attributes, and the widest level the CPU supports is
 * picked at run time:
 *  - "outer" (AVX2, AVX-512 VNNI; B as [K,N], the conv-as-GEMM case): A
 *    packed in strips of pair words (two int16 of consecutive k), B in
 *    int16 panels of 32 columns with the same pairs interleaved; the pair
 *    micro-kernels of gemm_pair.c (intrinsics) broadcast one pair word of
 *    A per row and multiply-add it into a 4 or 8 x 32 int32 tile held in
 *    registers (pmaddwd, or vpdpwssd): no transpose of B, no horizontal
 *    sums. Used at every K where it exists.
 *  - "quad" (AVX-512 VNNI; int8 weights times int8/uint8 activations, B
 *    as [K,N] or [N,K]): the same tiles on four bytes of K per 32-bit lane (vpdpbusd:
 *    unsigned bytes of B times signed bytes of A), B packed as bytes (int8
 *    offset by 128 to unsigned; each row's sums start at -128 * its weight
 *    sum), twice the products per instruction of the int16 pairs.
 *  - "dot" (every ISA; B as [N,K], and the baseline ISA): both operands
 *    packed, widened to int16, into K-contiguous panels (B transposed
 *    while packing, 8 x 8 byte blocks at a time, unless the caller passes
 *    it as [N,K]); a micro-kernel computes a 4 x 4 tile of dot products
 *    sum += a[k] * b[k], which vectorizes to pmaddwd (SSE2, AVX2) or
 *    vpdpwssd (AVX-512 VNNI).
 * int64 sums (int16 x int16) run the same int32 tiles (both families) on
 * A split into signed bytes, a = 256*hi + lo, in K blocks short enough
 * that the int32 sums are exact, widened once per block (see split_widen).
 * Integer sums are associative, so every variant equals the _ref triple
 * loop bit for bit; tests run each available variant against it.
 *
 * Accumulation is done in unsigned arithmetic: int32 results are the
 * exact sum modulo 2^32 (int64: modulo 2^64), never undefined behaviour.
 */
#include <string.h>

#include "kernels/gemm_pair.h"
#include "kernels/int_internal.h"
#include "nnquant/kernels.h"

/* Two's complement reinterpretation (int32_t/int64_t are two's complement
 * without padding by definition), free and vectorizable. */
static inline int32_t u32_to_s32(uint32_t u)
{
    int32_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}
static inline int64_t u64_to_s64(uint64_t u)
{
    int64_t v;
    memcpy(&v, &u, sizeof v);
    return v;
}

/* ---- references ------------------------------------------------------ */

#define B_AT(B, trans, ldb, k, j) ((trans) ? (B)[(j) * (ldb) + (k)] : (B)[(k) * (ldb) + (j)])

#define DEFINE_GEMM_REF(NAME, AT, BT, CT, UT, TO_SIGNED)                                         \
    void NAME(int trans_b, int64_t M, int64_t N, int64_t K, const AT *A, int64_t lda,           \
              const BT *B, int64_t ldb, const CT *bias, CT *C, int64_t ldc)                     \
    {                                                                                           \
        for (int64_t i = 0; i < M; i++)                                                         \
            for (int64_t j = 0; j < N; j++) {                                                   \
                UT s = bias ? (UT)bias[i] : 0;                                                  \
                for (int64_t k = 0; k < K; k++)                                                 \
                    s += (UT)((CT)A[i * lda + k] * (CT)B_AT(B, trans_b, ldb, k, j));            \
                C[i * ldc + j] = TO_SIGNED(s);                                                  \
            }                                                                                   \
    }

DEFINE_GEMM_REF(nq_gemm_s8s8s32_ref, int8_t, int8_t, int32_t, uint32_t, u32_to_s32)
DEFINE_GEMM_REF(nq_gemm_s8u8s32_ref, int8_t, uint8_t, int32_t, uint32_t, u32_to_s32)
DEFINE_GEMM_REF(nq_gemm_s16s16s32_ref, int16_t, int16_t, int32_t, uint32_t, u32_to_s32)
DEFINE_GEMM_REF(nq_gemm_s16s16s64_ref, int16_t, int16_t, int64_t, uint64_t, u64_to_s64)

/* ---- packing ----------------------------------------------------- */

/* Dot family: tile MR x NR; K packed in blocks of at most KC, each padded
 * with zeros to a multiple of KU (one AVX-512 vector of int16); B in
 * blocks of NC columns; A in blocks of whole strips, as many rows as fit
 * DAP int16. Stack: NC * KC + DAP int16 = 144 KiB, and 6 KiB more while
 * transposing bytes.
 * Outer family: tiles of omr (at most OMR_MAX) rows x ONR columns; K in
 * balanced blocks of at most OKC (one block while K <= OKC); A in blocks
 * of whole strips, as many rows as fit OAP pair words. Stack: OAP int32 +
 * (OKC + 1) * ONR int16 = 129 KiB. */
enum { MR = 4, NR = 4, KU = 32, KC = 768, NC = 32, DAP = 49152 };
enum { OMR_MAX = 8, ONR = NQ_PAIR_NR, OKC = 512, OAP = 24576 };
/* Quad family: tiles of QMR rows x ONR columns; K in balanced blocks of at
 * most OKQ bytes (whole quads but the last); A blocks of whole strips
 * within OAP quad words and QROWS rows. Stack: OAP int32 + OKQ * ONR bytes
 * + 2 * QROWS int32 = 130 KiB. */
enum { QMR = 8, OKQ = 1024, QROWS = 256 };

static inline int64_t round_up(int64_t x, int64_t m)
{
    return (x + m - 1) / m * m;
}

typedef void (*pack_a_fn)(const void *A, int64_t lda, int64_t i0, int64_t mr, int64_t k0,
                          int64_t kc, int64_t kcp, int16_t *ap);
typedef void (*pack_b_fn)(int trans, const void *B, int64_t ldb, int64_t k0, int64_t kc,
                          int64_t kcp, int64_t j0, int64_t nc, int16_t *bp);
typedef void (*pack_a_outer_fn)(const void *A, int64_t lda, int64_t i0, int64_t mc, int64_t omr,
                                int64_t k0, int64_t kc, uint32_t *ap);
typedef void (*pack_b_outer_fn)(const void *B, int64_t ldb, int64_t k0, int64_t kc, int64_t j0,
                                int64_t nc, int16_t *bp);

/* Dot family, A: ap[r][k] (row stride kcp) = A[i0 + r][k0 + k]; rows
 * mr..MR-1 and the columns kc..kcp-1 are zero. */
#define DEFINE_PACK_A(T)                                                                         \
    static void pack_a_##T(const void *Av, int64_t lda, int64_t i0, int64_t mr, int64_t k0,     \
                           int64_t kc, int64_t kcp, int16_t *ap)                                \
    {                                                                                           \
        const T *A = (const T *)Av;                                                             \
        for (int64_t r = 0; r < MR; r++, ap += kcp) {                                           \
            int64_t n = r < mr ? kc : 0;                                                        \
            const T *src = A + (i0 + r) * lda + k0;                                             \
            for (int64_t k = 0; k < n; k++) ap[k] = (int16_t)src[k];                            \
            memset(ap + n, 0, (size_t)(kcp - n) * sizeof *ap);                                  \
        }                                                                                       \
    }

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define NQ_INT_SWAR_TRANSPOSE 1
/* Transposes 8 columns of a byte matrix: tmp[c][k] (row stride ldt) =
 * src[k][c] (row stride lds) for c < 8, k < kc, by 8 x 8 blocks held in
 * eight 64-bit words (three rounds of masked swaps): about twice as fast
 * as byte-by-byte copies. Little-endian byte order assumed. */
static void transpose_8cols(const unsigned char *src, int64_t lds, int64_t kc, unsigned char *tmp,
                            int64_t ldt)
{
    int64_t k = 0;
    for (; k + 8 <= kc; k += 8) {
        uint64_t r[8], t;
        for (int i = 0; i < 8; i++) memcpy(&r[i], src + (k + i) * lds, 8);
#define SWAP_BLOCKS(a, b, sh, mask)                                                               \
    t = ((r[a] >> (sh)) ^ r[b]) & (mask), r[b] ^= t, r[a] ^= t << (sh)
        SWAP_BLOCKS(0, 1, 8, 0x00FF00FF00FF00FFu);
        SWAP_BLOCKS(2, 3, 8, 0x00FF00FF00FF00FFu);
        SWAP_BLOCKS(4, 5, 8, 0x00FF00FF00FF00FFu);
        SWAP_BLOCKS(6, 7, 8, 0x00FF00FF00FF00FFu);
        SWAP_BLOCKS(0, 2, 16, 0x0000FFFF0000FFFFu);
        SWAP_BLOCKS(1, 3, 16, 0x0000FFFF0000FFFFu);
        SWAP_BLOCKS(4, 6, 16, 0x0000FFFF0000FFFFu);
        SWAP_BLOCKS(5, 7, 16, 0x0000FFFF0000FFFFu);
        SWAP_BLOCKS(0, 4, 32, 0x00000000FFFFFFFFu);
        SWAP_BLOCKS(1, 5, 32, 0x00000000FFFFFFFFu);
        SWAP_BLOCKS(2, 6, 32, 0x00000000FFFFFFFFu);
        SWAP_BLOCKS(3, 7, 32, 0x00000000FFFFFFFFu);
#undef SWAP_BLOCKS
        for (int c = 0; c < 8; c++) memcpy(tmp + c * ldt + k, &r[c], 8);
    }
    for (; k < kc; k++)
        for (int c = 0; c < 8; c++) tmp[c * ldt + k] = src[k * lds + c];
}

/* The same for 4 columns of an int16 matrix, by 4 x 4 blocks in four
 * 64-bit words (two rounds): dst[c][k] (row stride ldd) = src[k][c]. */
static void transpose_4cols_s16(const int16_t *src, int64_t lds, int64_t kc, int16_t *dst,
                                int64_t ldd)
{
    int64_t k = 0;
    for (; k + 4 <= kc; k += 4) {
        uint64_t r[4], t;
        for (int i = 0; i < 4; i++) memcpy(&r[i], src + (k + i) * lds, 8);
        t = ((r[0] >> 16) ^ r[1]) & 0x0000FFFF0000FFFFu, r[1] ^= t, r[0] ^= t << 16;
        t = ((r[2] >> 16) ^ r[3]) & 0x0000FFFF0000FFFFu, r[3] ^= t, r[2] ^= t << 16;
        t = ((r[0] >> 32) ^ r[2]) & 0x00000000FFFFFFFFu, r[2] ^= t, r[0] ^= t << 32;
        t = ((r[1] >> 32) ^ r[3]) & 0x00000000FFFFFFFFu, r[3] ^= t, r[1] ^= t << 32;
        for (int c = 0; c < 4; c++) memcpy(dst + c * ldd + k, &r[c], 8);
    }
    for (; k < kc; k++)
        for (int c = 0; c < 4; c++) dst[c * ldd + k] = src[k * lds + c];
}
#else
#define NQ_INT_SWAR_TRANSPOSE 0
#endif

/* Dot family, B: bp[j][k] (row stride kcp) = op(B)[k0 + k][j0 + j] for
 * j < nc, rounded up to a multiple of NR with zero columns; the columns
 * kc..kcp-1 are zero. Not transposed, B is read row by row: bytes 8
 * columns at a time through transpose_8cols and a widening copy, int16
 * 4 columns at a time through transpose_4cols_s16, else four columns at a
 * time. */
#define DEFINE_PACK_B(T)                                                                         \
    static void pack_b_##T(int trans, const void *Bv, int64_t ldb, int64_t k0, int64_t kc,      \
                           int64_t kcp, int64_t j0, int64_t nc, int16_t *bp)                    \
    {                                                                                           \
        const T *B = (const T *)Bv;                                                             \
        const int64_t ncp = round_up(nc, NR);                                                   \
        int64_t j = 0;                                                                          \
        if (!trans && sizeof(T) == 1 && NQ_INT_SWAR_TRANSPOSE) {                                \
            T tmp[8 * KC];                                                                      \
            for (; j + 8 <= nc; j += 8) {                                                       \
                transpose_8cols((const unsigned char *)(B + k0 * ldb + j0 + j), ldb, kc,        \
                                (unsigned char *)tmp, KC);                                      \
                for (int c = 0; c < 8; c++) {                                                   \
                    int16_t *d = bp + (j + c) * kcp;                                            \
                    const T *q = tmp + c * KC;                                                  \
                    for (int64_t k = 0; k < kc; k++) d[k] = (int16_t)q[k];                      \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
        if (!trans && sizeof(T) == 2 && NQ_INT_SWAR_TRANSPOSE) {                                \
            for (; j + 4 <= nc; j += 4)                                                         \
                transpose_4cols_s16((const int16_t *)(const void *)(B + k0 * ldb + j0 + j), ldb, \
                                    kc, bp + j * kcp, kcp);                                     \
        }                                                                                       \
        if (trans) {                                                                            \
            for (; j < nc; j++) {                                                               \
                const T *src = B + (j0 + j) * ldb + k0;                                         \
                int16_t *d = bp + j * kcp;                                                      \
                for (int64_t k = 0; k < kc; k++) d[k] = (int16_t)src[k];                        \
            }                                                                                   \
        } else {                                                                                \
            for (; j + 4 <= nc; j += 4) {                                                       \
                int16_t *d0 = bp + j * kcp, *d1 = d0 + kcp, *d2 = d1 + kcp, *d3 = d2 + kcp;     \
                const T *src = B + k0 * ldb + j0 + j;                                           \
                for (int64_t k = 0; k < kc; k++, src += ldb) {                                  \
                    d0[k] = (int16_t)src[0];                                                    \
                    d1[k] = (int16_t)src[1];                                                    \
                    d2[k] = (int16_t)src[2];                                                    \
                    d3[k] = (int16_t)src[3];                                                    \
                }                                                                               \
            }                                                                                   \
            for (; j < nc; j++) {                                                               \
                const T *src = B + k0 * ldb + j0 + j;                                           \
                int16_t *d = bp + j * kcp;                                                      \
                for (int64_t k = 0; k < kc; k++, src += ldb) d[k] = (int16_t)*src;              \
            }                                                                                   \
        }                                                                                       \
        for (j = 0; j < nc; j++)                                                                \
            memset(bp + j * kcp + kc, 0, (size_t)(kcp - kc) * sizeof *bp);                     \
        memset(bp + nc * kcp, 0, (size_t)((ncp - nc) * kcp) * sizeof *bp);                      \
    }

/* Outer family, A: rows i0..i0+mc-1 in strips of omr rows, strip s at
 * ap + s*kp*omr (kp = ceil(kc/2) pairs of K) holding the pair words of
 * gemm_pair.h, ap[p*omr + r] = A[i0 + s*omr + r][k0 + 2p, k0 + 2p + 1];
 * rows past mc (up to a whole strip) and the odd K block's last high half
 * are zero. Each row is first widened into a contiguous int16 row (a loop
 * that vectorizes), then its pairs stored with the strip's stride. */
static inline uint32_t pair_word(int16_t lo, int16_t hi)
{
    return (uint32_t)(uint16_t)lo | (uint32_t)(uint16_t)hi << 16;
}
static inline void store_pairs(const int16_t *row, int64_t kp, int64_t stride, uint32_t *dst)
{
    for (int64_t p = 0; p < kp; p++) dst[p * stride] = pair_word(row[2 * p], row[2 * p + 1]);
}
#define DEFINE_PACK_A_OUTER(T)                                                                   \
    static void pack_a_outer_##T(const void *Av, int64_t lda, int64_t i0, int64_t mc,           \
                                 int64_t omr, int64_t k0, int64_t kc, uint32_t *ap)             \
    {                                                                                           \
        const T *A = (const T *)Av;                                                             \
        const int64_t kp = (kc + 1) / 2;                                                        \
        int16_t row[OKC + 1];                                                                   \
        for (int64_t s = 0; s < mc; s += omr, ap += kp * omr)                                   \
            for (int64_t r = 0; r < omr; r++) {                                                 \
                const int64_t n = s + r < mc ? kc : 0;                                          \
                const T *src = n ? A + (i0 + s + r) * lda + k0 : NULL;                          \
                for (int64_t k = 0; k < n; k++) row[k] = (int16_t)src[k];                       \
                memset(row + n, 0, (size_t)(2 * kp - n) * sizeof *row);                     \
                store_pairs(row, kp, omr, ap + r);                                              \
            }                                                                                   \
    }

/* Outer family, B: the pair panel of gemm_pair.h, bp[(p*ONR + c)*2 + h] =
 * B[k0 + 2p + h][j0 + c] for c < nc and 2p + h < kc, else zero. */
#define DEFINE_PACK_B_OUTER(T)                                                                   \
    static void pack_b_outer_##T(const void *Bv, int64_t ldb, int64_t k0, int64_t kc,           \
                                 int64_t j0, int64_t nc, int16_t *bp)                           \
    {                                                                                           \
        const T *B = (const T *)Bv;                                                             \
        for (int64_t k = 0; k < kc; k += 2, bp += 2 * ONR) {                                    \
            const T *s0 = B + (k0 + k) * ldb + j0;                                              \
            const T *s1 = k + 1 < kc ? s0 + ldb : NULL;                                         \
            if (nc == ONR && s1) {                                                              \
                for (int64_t c = 0; c < ONR; c++)                                               \
                    bp[2 * c] = (int16_t)s0[c], bp[2 * c + 1] = (int16_t)s1[c];                 \
            } else {                                                                            \
                for (int64_t c = 0; c < ONR; c++) {                                             \
                    bp[2 * c] = c < nc ? (int16_t)s0[c] : 0;                                    \
                    bp[2 * c + 1] = c < nc && s1 ? (int16_t)s1[c] : 0;                          \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
    }

/* Quad family, A (int8): rows i0..i0+mc-1 in strips of QMR rows, strip s
 * at aq + s*kq*QMR (kq = ceil(kc/4) quads of K) holding the quad words of
 * gemm_pair.h, aq[q*QMR + r] = A[i0 + s*QMR + r][k0 + 4q .. k0 + 4q + 3]
 * (byte h: k0 + 4q + h); rows past mc (up to a whole strip) and the bytes
 * past kc are zero. sums[row - i0] = the row's weight sum over the block
 * (0 past mc): the tiles start at -offset * sums, which cancels B's offset
 * (|sum| <= 2^7 * OKQ: no overflow). */
static void pack_a_quad(const int8_t *A, int64_t lda, int64_t i0, int64_t mc, int64_t k0,
                        int64_t kc, uint32_t *aq, int32_t *sums)
{
    const int64_t kq = (kc + 3) / 4;
    unsigned char row[OKQ + 3];
    for (int64_t s = 0; s < mc; s += QMR, aq += kq * QMR)
        for (int64_t r = 0; r < QMR; r++) {
            const int64_t n = s + r < mc ? kc : 0;
            const int8_t *src = n ? A + (i0 + s + r) * lda + k0 : NULL;
            int32_t sum = 0;
            for (int64_t k = 0; k < n; k++) sum += src[k];
            if (n) memcpy(row, src, (size_t)n);
            memset(row + n, 0, (size_t)(4 * kq - n));
            sums[s + r] = sum;
            for (int64_t q = 0; q < kq; q++) {
                uint32_t w;
                memcpy(&w, row + 4 * q, sizeof w); /* byte h at bits 8h: x86 is little-endian */
                aq[q * QMR + r] = w;
            }
        }
}

/* Quad family, B: the byte panel of gemm_pair.h, bq[(q*ONR + c)*4 + h] =
 * op(B)[k0 + 4q + h][j0 + c] XOR OFF (int8: + 128 as unsigned) for c < nc
 * and 4q + h < kc, else zero. B given as [N,K] (trans) is copied four
 * bytes at a time, column by column. */
#define DEFINE_PACK_B_QUAD(T, OFF)                                                               \
    static void pack_b_quad_##T(int trans, const void *Bv, int64_t ldb, int64_t k0, int64_t kc, \
                                int64_t j0, int64_t nc, uint8_t *bq)                            \
    {                                                                                           \
        const T *B = (const T *)Bv;                                                             \
        if (trans) {                                                                            \
            const int64_t kq = (kc + 3) / 4;                                                    \
            for (int64_t c = 0; c < ONR; c++) {                                                 \
                const T *s = c < nc ? B + (j0 + c) * ldb + k0 : NULL;                           \
                for (int64_t q = 0; q < kq; q++)                                                \
                    for (int64_t h = 0; h < 4; h++)                                             \
                        bq[(q * ONR + c) * 4 + h] =                                             \
                            s && 4 * q + h < kc ? (uint8_t)((uint8_t)s[4 * q + h] ^ (OFF)) : 0; \
            }                                                                                   \
            return;                                                                             \
        }                                                                                       \
        for (int64_t k = 0; k < kc; k += 4, bq += 4 * ONR) {                                    \
            const T *s = B + (k0 + k) * ldb + j0;                                               \
            if (nc == ONR && k + 4 <= kc) {                                                     \
                for (int64_t c = 0; c < ONR; c++)                                               \
                    for (int64_t h = 0; h < 4; h++)                                             \
                        bq[4 * c + h] = (uint8_t)((uint8_t)s[h * ldb + c] ^ (OFF));             \
            } else {                                                                            \
                for (int64_t c = 0; c < ONR; c++)                                               \
                    for (int64_t h = 0; h < 4; h++)                                             \
                        bq[4 * c + h] = c < nc && k + h < kc                                    \
                                            ? (uint8_t)((uint8_t)s[h * ldb + c] ^ (OFF))        \
                                            : 0;                                                \
            }                                                                                   \
        }                                                                                       \
    }

DEFINE_PACK_A(int8_t)
DEFINE_PACK_A(int16_t)
DEFINE_PACK_B(int8_t)
DEFINE_PACK_B(uint8_t)
DEFINE_PACK_B(int16_t)
DEFINE_PACK_A_OUTER(int8_t)
DEFINE_PACK_A_OUTER(int16_t)
DEFINE_PACK_B_OUTER(int8_t)
DEFINE_PACK_B_OUTER(uint8_t)
DEFINE_PACK_B_OUTER(int16_t)
DEFINE_PACK_B_QUAD(int8_t, 0x80u)
DEFINE_PACK_B_QUAD(uint8_t, 0u)

/* int16 A for int64 sums (see split_widen): a = 256*hi + lo with lo in
 * [-128, 127], hi in [-128, 128]: v = a + 32768, hi = round(a / 256) (ties
 * up), in 16-bit lane arithmetic that vectorizes on the baseline ISA. */
static inline int16_t split_hi(int16_t a)
{
    const uint16_t v = (uint16_t)((uint16_t)a ^ 0x8000u);
    return (int16_t)((v >> 8) + ((v >> 7) & 1) - 128);
}
static inline int16_t split_lo(int16_t a)
{
    const uint16_t v = (uint16_t)a;
    return (int16_t)((v & 255) - ((v & 128) << 1));
}

/* Dot family, split A: rows in pairs, packed as hi(2p), hi(2p+1), lo(2p),
 * lo(2p+1) (row stride kcp, 2*MR rows), zero outside the mr x kc block. */
static void pack_a_split_int16_t(const void *Av, int64_t lda, int64_t i0, int64_t mr, int64_t k0,
                                 int64_t kc, int64_t kcp, int16_t *ap)
{
    const int16_t *A = (const int16_t *)Av;
    for (int64_t r = 0; r < MR; r++) {
        int16_t *hi = ap + (r / 2 * 4 + r % 2) * kcp, *lo = hi + 2 * kcp;
        const int64_t n = r < mr ? kc : 0;
        const int16_t *src = A + (i0 + r) * lda + k0;
        for (int64_t k = 0; k < n; k++) hi[k] = split_hi(src[k]), lo[k] = split_lo(src[k]);
        memset(hi + n, 0, (size_t)(kcp - n) * sizeof *hi);
        memset(lo + n, 0, (size_t)(kcp - n) * sizeof *lo);
    }
}

/* Outer family, split A: strips of omr packed rows holding omr/2 rows of
 * A, the pair words of their hi (packed row r) and lo (packed row
 * omr/2 + r) halves. */
static void pack_a_outer_split_int16_t(const void *Av, int64_t lda, int64_t i0, int64_t mc,
                                       int64_t omr, int64_t k0, int64_t kc, uint32_t *ap)
{
    const int16_t *A = (const int16_t *)Av;
    const int64_t h = omr / 2, kp = (kc + 1) / 2;
    int16_t hi[OKC + 1], lo[OKC + 1];
    for (int64_t s = 0; s < mc; s += h, ap += kp * omr)
        for (int64_t r = 0; r < h; r++) {
            const int64_t n = s + r < mc ? kc : 0;
            const int16_t *src = n ? A + (i0 + s + r) * lda + k0 : NULL;
            for (int64_t k = 0; k < n; k++) hi[k] = split_hi(src[k]), lo[k] = split_lo(src[k]);
            memset(hi + n, 0, (size_t)(2 * kp - n) * sizeof *hi);
            memset(lo + n, 0, (size_t)(2 * kp - n) * sizeof *lo);
            store_pairs(hi, kp, omr, ap + r);
            store_pairs(lo, kp, omr, ap + h + r);
        }
}

typedef void (*pack_b_quad_fn)(int trans, const void *B, int64_t ldb, int64_t k0, int64_t kc,
                               int64_t j0, int64_t nc, uint8_t *bq);

/* One operand-type combination: its packers (quad: 8-bit only, with B's
 * offset to unsigned bytes). */
typedef struct gemm_types {
    pack_a_fn pack_a;
    pack_b_fn pack_b;
    pack_a_outer_fn pack_a_outer;
    pack_b_outer_fn pack_b_outer;
    pack_b_quad_fn pack_b_quad;
    int32_t quad_offset;
} gemm_types;

static const gemm_types types_s8s8 = {pack_a_int8_t, pack_b_int8_t, pack_a_outer_int8_t,
                                      pack_b_outer_int8_t, pack_b_quad_int8_t, 128};
static const gemm_types types_s8u8 = {pack_a_int8_t, pack_b_uint8_t, pack_a_outer_int8_t,
                                      pack_b_outer_uint8_t, pack_b_quad_uint8_t, 0};
static const gemm_types types_s16s16 = {pack_a_int16_t, pack_b_int16_t, pack_a_outer_int16_t,
                                        pack_b_outer_int16_t, NULL, 0};
/* int64 sums: A split (see split_widen). */
static const gemm_types types_s16s16_split = {pack_a_split_int16_t, pack_b_int16_t,
                                              pack_a_outer_split_int16_t, pack_b_outer_int16_t,
                                              NULL, 0};

/* ---- micro-kernels --------------------------------------------------- */

/* Dot family: out[r][c] = sum_k a_r[k] * b_c[k] (mod 2^32) over kcp int16
 * (a multiple of KU), a_r = ap + r*kcp, b_c = bp + c*kcp: ROWS x 4
 * independent reductions, each vectorized as a dot product. */
NQ_INT_ALWAYS_INLINE void dot_2x4_s32(int64_t kcp, const int16_t *ap, const int16_t *bp,
                                      uint32_t *out)
{
    const int16_t *a0 = ap, *a1 = ap + kcp;
    const int16_t *b0 = bp, *b1 = bp + kcp, *b2 = bp + 2 * kcp, *b3 = bp + 3 * kcp;
    uint32_t s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
    for (int64_t k = 0; k < kcp; k++) {
        s00 += (uint32_t)(a0[k] * b0[k]);
        s01 += (uint32_t)(a0[k] * b1[k]);
        s02 += (uint32_t)(a0[k] * b2[k]);
        s03 += (uint32_t)(a0[k] * b3[k]);
        s10 += (uint32_t)(a1[k] * b0[k]);
        s11 += (uint32_t)(a1[k] * b1[k]);
        s12 += (uint32_t)(a1[k] * b2[k]);
        s13 += (uint32_t)(a1[k] * b3[k]);
    }
    out[0] = s00, out[1] = s01, out[2] = s02, out[3] = s03;
    out[4] = s10, out[5] = s11, out[6] = s12, out[7] = s13;
}

NQ_INT_ALWAYS_INLINE void dot_4x4_s32(int64_t kcp, const int16_t *ap, const int16_t *bp,
                                      uint32_t *out)
{
    const int16_t *a0 = ap, *a1 = ap + kcp, *a2 = ap + 2 * kcp, *a3 = ap + 3 * kcp;
    const int16_t *b0 = bp, *b1 = bp + kcp, *b2 = bp + 2 * kcp, *b3 = bp + 3 * kcp;
    uint32_t s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
    uint32_t s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
    for (int64_t k = 0; k < kcp; k++) {
        s00 += (uint32_t)(a0[k] * b0[k]);
        s01 += (uint32_t)(a0[k] * b1[k]);
        s02 += (uint32_t)(a0[k] * b2[k]);
        s03 += (uint32_t)(a0[k] * b3[k]);
        s10 += (uint32_t)(a1[k] * b0[k]);
        s11 += (uint32_t)(a1[k] * b1[k]);
        s12 += (uint32_t)(a1[k] * b2[k]);
        s13 += (uint32_t)(a1[k] * b3[k]);
        s20 += (uint32_t)(a2[k] * b0[k]);
        s21 += (uint32_t)(a2[k] * b1[k]);
        s22 += (uint32_t)(a2[k] * b2[k]);
        s23 += (uint32_t)(a2[k] * b3[k]);
        s30 += (uint32_t)(a3[k] * b0[k]);
        s31 += (uint32_t)(a3[k] * b1[k]);
        s32 += (uint32_t)(a3[k] * b2[k]);
        s33 += (uint32_t)(a3[k] * b3[k]);
    }
    out[0] = s00, out[1] = s01, out[2] = s02, out[3] = s03;
    out[4] = s10, out[5] = s11, out[6] = s12, out[7] = s13;
    out[8] = s20, out[9] = s21, out[10] = s22, out[11] = s23;
    out[12] = s30, out[13] = s31, out[14] = s32, out[15] = s33;
}

/* A dot tile: out[r*NR + c] for the MR x NR block; rows >= mr may be left
 * uncomputed (their packed A rows are zero anyway). */
typedef void (*dot_s32_fn)(int64_t kcp, const int16_t *ap, const int16_t *bp, int64_t mr,
                           uint32_t *out);
typedef void (*dot_s64_fn)(int64_t kcp, const int16_t *ap, const int16_t *bp, int64_t mr,
                           uint64_t *out);
/* An outer tile of the ISA's strip height: out[r*ONR + c] (int64: the
 * int32 sums of a strip of split A, see store_split_s64). */
typedef void (*outer_s32_fn)(int64_t kp, const uint32_t *ap, const int16_t *bp, uint32_t *out);
/* A quad tile of QMR rows (gemm_pair.h). */
typedef void (*quad_s32_fn)(int64_t kq, const uint32_t *aq, const uint8_t *bq, const int32_t *init,
                            uint32_t *out);

/* int64 dot tiles from the ISA's int32 ones on split A (pack_a_split_int16_t):
 * |hi * b| and |lo * b| are at most 2^22, so over kcp <= KC64 (480 * 2^22 <
 * 2^31) the int32 dot tiles hold the exact sums of the hi and lo rows, and
 * sum a*b = 256 * sum hi*b + sum lo*b is formed once per K block in int64.
 * t: n sums of hi rows, then the n matching sums of lo rows. */
enum { KC64 = 480 };
/* Its column blocks: twice as wide as NC; stack NC64 * KC64 + DAP int16
 * = 156 KiB. */
enum { NC64 = 64 };
_Static_assert(DAP >= MR * KC && DAP >= 2 * MR * KC64, "an A block holds at least one strip");
_Static_assert((int)KC64 <= (int)OKC, "outer K blocks of split A fit the packing rows");
NQ_INT_ALWAYS_INLINE void split_widen(const uint32_t *t, int n, uint64_t *out)
{
    for (int i = 0; i < n; i++)
        out[i] = (uint64_t)(int64_t)u32_to_s32(t[i]) * 256u +
                 (uint64_t)(int64_t)u32_to_s32(t[n + i]);
}

/* Baseline and AVX2 (16 vector registers): 4x4 dot tiles as two 2x4
 * passes, 8 accumulators each; AVX-512 (32 registers): one 4x4 pass. */
NQ_INT_ALWAYS_INLINE void dot_4x4_s32_by2(int64_t kcp, const int16_t *ap, const int16_t *bp,
                                          uint32_t *out)
{
    dot_2x4_s32(kcp, ap, bp, out);
    dot_2x4_s32(kcp, ap + 2 * kcp, bp, out + 2 * NR);
}

/* An ISA's tiles from its 4x4 one (TILE4, inlined): int32, and int64 where
 * each row pair of the split A is one 4 x NR int32 tile, widened in place
 * (no round trip through a called function's stores). */
#define DEFINE_DOT(SUFFIX, ATTR, TILE4)                                                          \
    ATTR static void dot_s32_##SUFFIX(int64_t kcp, const int16_t *ap, const int16_t *bp,        \
                                      int64_t mr, uint32_t *out)                                \
    {                                                                                           \
        if (mr > 2)                                                                             \
            TILE4(kcp, ap, bp, out);                                                            \
        else                                                                                    \
            dot_2x4_s32(kcp, ap, bp, out);                                                      \
    }                                                                                           \
    ATTR static void dot_s64_##SUFFIX(int64_t kcp, const int16_t *ap, const int16_t *bp,        \
                                      int64_t mr, uint64_t *out)                                \
    {                                                                                           \
        uint32_t t[MR * NR];                                                                    \
        TILE4(kcp, ap, bp, t);                                                                  \
        split_widen(t, 2 * NR, out);                                                            \
        if (mr > 2) {                                                                           \
            TILE4(kcp, ap + 4 * kcp, bp, t);                                                    \
            split_widen(t, 2 * NR, out + 2 * NR);                                               \
        }                                                                                       \
    }

DEFINE_DOT(generic, , dot_4x4_s32_by2)
#if NQ_INT_X86
DEFINE_DOT(avx2, NQ_INT_TARGET_AVX2, dot_4x4_s32_by2)
DEFINE_DOT(avx512vnni, NQ_INT_TARGET_AVX512VNNI, dot_4x4_s32)

/* Stores an outer tile of split A: row r's sums of the hi halves at
 * t + r*ONR, of the lo halves lo rows further; C gets 256 * hi + lo (see
 * split_widen) plus the bias on the first K block, else plus C, formed in
 * int64 as it is stored. Compiled per ISA: the baseline has no vector
 * sign extension. */
typedef void (*store_split_fn)(const uint32_t *t, int64_t lo, int64_t rows, int64_t cols,
                               int first, const int64_t *bias, int64_t *C, int64_t ldc);
NQ_INT_ALWAYS_INLINE void store_split_s64(const uint32_t *t, int64_t lo, int64_t rows,
                                          int64_t cols, int first, const int64_t *bias,
                                          int64_t *C, int64_t ldc)
{
    for (int64_t r = 0; r < rows; r++, t += ONR, C += ldc) {
        const uint32_t *tl = t + lo * ONR;
        uint64_t *c = (uint64_t *)(void *)C;
        if (first) {
            const uint64_t add = bias ? (uint64_t)bias[r] : 0;
            for (int64_t q = 0; q < cols; q++)
                c[q] = (uint64_t)(int64_t)u32_to_s32(t[q]) * 256u +
                       (uint64_t)(int64_t)u32_to_s32(tl[q]) + add;
        } else {
            for (int64_t q = 0; q < cols; q++)
                c[q] += (uint64_t)(int64_t)u32_to_s32(t[q]) * 256u +
                        (uint64_t)(int64_t)u32_to_s32(tl[q]);
        }
    }
}
/* Outer tiles (gemm_pair.c): 4 x 32 on AVX2, 8 x 32 on AVX-512. */
static void outer_s32_avx2(int64_t kp, const uint32_t *ap, const int16_t *bp, uint32_t *out)
{
    nq_pair_tile4_avx2(kp, ap, bp, out);
}
static void outer_s32_avx512vnni(int64_t kp, const uint32_t *ap, const int16_t *bp, uint32_t *out)
{
    nq_pair_tile8_avx512vnni(kp, ap, bp, out);
}
#define DEFINE_STORE_SPLIT(SUFFIX, ATTR)                                                          \
    ATTR static void store_split_s64_##SUFFIX(const uint32_t *t, int64_t lo, int64_t rows,     \
                                              int64_t cols, int first, const int64_t *bias,     \
                                              int64_t *C, int64_t ldc)                          \
    {                                                                                           \
        store_split_s64(t, lo, rows, cols, first, bias, C, ldc);                                \
    }
DEFINE_STORE_SPLIT(avx2, NQ_INT_TARGET_AVX2)
DEFINE_STORE_SPLIT(avx512vnni, NQ_INT_TARGET_AVX512VNNI)
#endif

/* ---- ISA table and dispatch ------------------------------------------ */

typedef struct int_isa_impl {
    const char *name;
    dot_s32_fn dot_s32;
    dot_s64_fn dot_s64;
    outer_s32_fn outer_s32; /* NULL: no outer family (no pmaddwd kernel) */
    store_split_fn store_split; /* the outer family's int64 store */
    int64_t outer_rows;     /* its strip height, <= OMR_MAX */
    quad_s32_fn quad_s32;   /* NULL: no quad family (no byte dot product) */
} int_isa_impl;

/* The outer family (broadcast pairs of A, no transpose of B, no
 * horizontal sums) wins at every K measured on an AVX-512 VNNI (Zen 4)
 * machine: the dot family serves B given as [N,K] and the baseline ISA. */
static const int_isa_impl isa_impls[NQ_INT_ISA_COUNT] = {
    [NQ_INT_ISA_GENERIC] = {"generic", dot_s32_generic, dot_s64_generic, NULL, NULL, 0, NULL},
#if NQ_INT_X86
    [NQ_INT_ISA_AVX2] = {"avx2", dot_s32_avx2, dot_s64_avx2, outer_s32_avx2,
                         store_split_s64_avx2, 4, NULL},
    [NQ_INT_ISA_AVX512VNNI] = {"avx512vnni", dot_s32_avx512vnni, dot_s64_avx512vnni,
                               outer_s32_avx512vnni, store_split_s64_avx512vnni, 8,
                               nq_quad_tile8_avx512vnni},
#else
    [NQ_INT_ISA_AVX2] = {"avx2", NULL, NULL, NULL, NULL, 0, NULL},
    [NQ_INT_ISA_AVX512VNNI] = {"avx512vnni", NULL, NULL, NULL, NULL, 0, NULL},
#endif
};

int nq_int_isa_available(nq_int_isa isa)
{
    switch (isa) {
    case NQ_INT_ISA_GENERIC: return 1;
#if NQ_INT_X86
    case NQ_INT_ISA_AVX2: return __builtin_cpu_supports("avx2") != 0;
    case NQ_INT_ISA_AVX512VNNI:
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
               __builtin_cpu_supports("avx512vnni");
#endif
    default: return 0;
    }
}

nq_int_isa nq_int_isa_best(void)
{
    for (int i = NQ_INT_ISA_COUNT - 1; i > 0; i--)
        if (nq_int_isa_available((nq_int_isa)i)) return (nq_int_isa)i;
    return NQ_INT_ISA_GENERIC;
}

const char *nq_int_isa_name(nq_int_isa isa)
{
    return (unsigned)isa < NQ_INT_ISA_COUNT ? isa_impls[isa].name : "unknown";
}

static const int_isa_impl *isa_impl(nq_int_isa isa)
{
    if (!nq_int_isa_available(isa)) isa = NQ_INT_ISA_GENERIC;
    return &isa_impls[isa];
}

/* ---- drivers --------------------------------------------------------- */

/* Stores a tile: rows x cols of t (row stride tld) into C, as bias + t on
 * the first K block and C + t on the next ones, in unsigned arithmetic. */
#define DEFINE_STORE_TILE(NAME, CT, UT, TO_SIGNED)                                                \
    static void NAME(const UT *t, int64_t tld, int64_t rows, int64_t cols, int first,           \
                     const CT *bias, CT *C, int64_t ldc)                                        \
    {                                                                                           \
        for (int64_t r = 0; r < rows; r++, t += tld, C += ldc) {                                \
            if (first) {                                                                        \
                UT add = bias ? (UT)bias[r] : 0;                                                \
                for (int64_t q = 0; q < cols; q++) C[q] = TO_SIGNED(t[q] + add);                \
            } else {                                                                            \
                for (int64_t q = 0; q < cols; q++) C[q] = TO_SIGNED(t[q] + (UT)C[q]);           \
            }                                                                                   \
        }                                                                                       \
    }

DEFINE_STORE_TILE(store_tile_s32, int32_t, uint32_t, u32_to_s32)
DEFINE_STORE_TILE(store_tile_s64, int64_t, uint64_t, u64_to_s64)

/* Dot family. Loop nest: blocks of A rows (whole MR-row strips, balanced
 * over M, as many as fit DAP int16 packed), K blocks (balanced, at most
 * KMAX), the block's strips packed once (in APR rows each: MR, or 2*MR
 * split), NMAX-column blocks of B, MR-row strips, NR-column tiles. A is
 * packed once per K block while M fits one block (64 rows at K blocks of
 * 768, or 384 with the split A; more with shorter ones), B once per block
 * of A rows. */
#define DEFINE_GEMM_DOT(NAME, CT, UT, TILE_T, STORE, APR, KMAX, NMAX)                            \
    static void NAME(TILE_T tile, const gemm_types *ty, int trans_b, int64_t M, int64_t N,       \
                     int64_t K, const void *A, int64_t lda, const void *B, int64_t ldb,         \
                     const CT *bias, CT *C, int64_t ldc)                                        \
    {                                                                                           \
        int16_t bp[(NMAX) * (KMAX)];                                                            \
        int16_t ap[DAP];                                                                        \
        UT t[MR * NR];                                                                          \
        const int64_t nkb = (K + (KMAX) - 1) / (KMAX);                                          \
        const int64_t kcb = round_up((K + nkb - 1) / nkb, KU);                                  \
        const int64_t strips = (M + MR - 1) / MR, smax = DAP / ((APR) * kcb);                   \
        const int64_t nmb = (strips + smax - 1) / smax;                                         \
        const int64_t mcb = (strips + nmb - 1) / nmb * MR;                                      \
        for (int64_t i1 = 0; i1 < M; i1 += mcb) {                                               \
            const int64_t mc = M - i1 < mcb ? M - i1 : mcb;                                     \
            for (int64_t k0 = 0; k0 < K; k0 += kcb) {                                           \
                const int64_t kc = K - k0 < kcb ? K - k0 : kcb;                                 \
                const int64_t kcp = round_up(kc, KU);                                           \
                for (int64_t i0 = 0; i0 < mc; i0 += MR)                                         \
                    ty->pack_a(A, lda, i1 + i0, mc - i0 < MR ? mc - i0 : MR, k0, kc, kcp,       \
                               ap + i0 / MR * (APR) * kcp);                                     \
                for (int64_t j0 = 0; j0 < N; j0 += (NMAX)) {                                    \
                    const int64_t nc = N - j0 < (NMAX) ? N - j0 : (NMAX);                       \
                    ty->pack_b(trans_b, B, ldb, k0, kc, kcp, j0, nc, bp);                       \
                    for (int64_t i0 = 0; i0 < mc; i0 += MR) {                                   \
                        const int64_t mr = mc - i0 < MR ? mc - i0 : MR;                         \
                        const int16_t *as = ap + i0 / MR * (APR) * kcp;                         \
                        for (int64_t jj = 0; jj < nc; jj += NR) {                               \
                            const int64_t nr = nc - jj < NR ? nc - jj : NR;                     \
                            tile(kcp, as, bp + jj * kcp, mr, t);                                \
                            STORE(t, NR, mr, nr, k0 == 0, bias ? bias + i1 + i0 : NULL,         \
                                  C + (i1 + i0) * ldc + j0 + jj, ldc);                          \
                        }                                                                       \
                    }                                                                           \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
    }

DEFINE_GEMM_DOT(gemm_dot_s32, int32_t, uint32_t, dot_s32_fn, store_tile_s32, MR, KC, NC)
DEFINE_GEMM_DOT(gemm_dot_s64, int64_t, uint64_t, dot_s64_fn, store_tile_s64, 2 * MR, KC64, NC64)

/* Outer family (B is [K,N]). Loop nest: K blocks (at most KMAX), blocks
 * of A rows (packed once per K block), ONR-column panels of B (packed once
 * per A block), strips of sr = omr / SPLIT rows of A (SPLIT 2: split A,
 * the tile's hi rows, then its lo rows), each stored by STORE(t, sr, ...)
 * (the split one: sr = where the lo rows start) or STORE(t, ONR, ...). */
#define DEFINE_GEMM_OUTER(NAME, CT, KMAX, SPLIT, STORE)                                          \
    static void NAME(const int_isa_impl *im, const gemm_types *ty, int64_t M, int64_t N,        \
                     int64_t K, const void *A, int64_t lda, const void *B, int64_t ldb,         \
                     const CT *bias, CT *C, int64_t ldc)                                        \
    {                                                                                           \
        uint32_t ap[OAP];                                                                       \
        int16_t bp[(OKC + 1) * ONR];                                                            \
        uint32_t t[OMR_MAX * ONR];                                                              \
        const int64_t omr = im->outer_rows, sr = omr / (SPLIT);                                 \
        const int64_t nkb = (K + (KMAX) - 1) / (KMAX);                                          \
        const int64_t kcb = (K + nkb - 1) / nkb;                                                \
        for (int64_t k0 = 0; k0 < K; k0 += kcb) {                                               \
            const int64_t kc = K - k0 < kcb ? K - k0 : kcb, kp = (kc + 1) / 2;                  \
            /* rows per A block: whole strips within OAP, balanced over M */                    \
            const int64_t mmax = OAP / kp / omr * sr;                                           \
            const int64_t nmb = (M + mmax - 1) / mmax;                                          \
            const int64_t mcb = round_up((M + nmb - 1) / nmb, sr);                              \
            for (int64_t i0 = 0; i0 < M; i0 += mcb) {                                           \
                const int64_t mc = M - i0 < mcb ? M - i0 : mcb;                                 \
                ty->pack_a_outer(A, lda, i0, mc, omr, k0, kc, ap);                              \
                for (int64_t j0 = 0; j0 < N; j0 += ONR) {                                       \
                    const int64_t nc = N - j0 < ONR ? N - j0 : ONR;                             \
                    ty->pack_b_outer(B, ldb, k0, kc, j0, nc, bp);                               \
                    for (int64_t s = 0; s < mc; s += sr) {                                      \
                        const int64_t rows = mc - s < sr ? mc - s : sr;                         \
                        im->outer_s32(kp, ap + s * (SPLIT) * kp, bp, t);                        \
                        STORE(t, (SPLIT) == 2 ? sr : ONR, rows, nc, k0 == 0,                    \
                              bias ? bias + i0 + s : NULL,                                      \
                              C + (i0 + s) * ldc + j0, ldc);                                    \
                    }                                                                           \
                }                                                                               \
            }                                                                                   \
        }                                                                                       \
    }

DEFINE_GEMM_OUTER(gemm_outer_s32, int32_t, OKC, 1, store_tile_s32)
DEFINE_GEMM_OUTER(gemm_outer_s64, int64_t, KC64, 2, im->store_split)

/* The quad family's K blocks (at most OKQ, balanced, whole quads but the
 * last) and its rows rounded up to whole strips. */
static void quad_blocking(int64_t M, int64_t K, int64_t *kcb, int64_t *m8)
{
    const int64_t nkb = (K + OKQ - 1) / OKQ;
    *kcb = round_up((K + nkb - 1) / nkb, 4);
    *m8 = round_up(M, QMR);
}

/* Quad family (8-bit operands; B as [K,N] or [N,K]). Loop nest as the
 * outer one: K blocks, blocks of A rows (packed once per K block, with
 * their weight sums; or read from A packed beforehand, see
 * nq_gemm_s8_pack_a), ONR-column byte panels of B (packed once per A
 * block), QMR-row strips. */
static void gemm_quad_s32(const int_isa_impl *im, const gemm_types *ty, int trans_b, int64_t M,
                          int64_t N, int64_t K, const int8_t *A, int64_t lda,
                          const uint32_t *packed, const void *B, int64_t ldb, const int32_t *bias,
                          int32_t *C, int64_t ldc)
{
    uint32_t aq_buf[OAP];
    uint8_t bq[OKQ * ONR];
    int32_t sums[QROWS], init[QROWS];
    uint32_t t[QMR * ONR];
    int64_t kcb, m8;
    quad_blocking(M, K, &kcb, &m8);
    const int32_t *psums = packed ? (const int32_t *)(const void *)(packed + m8 * ((K + 3) / 4)) : NULL;
    for (int64_t k0 = 0; k0 < K; k0 += kcb) {
        const int64_t kc = K - k0 < kcb ? K - k0 : kcb, kq = (kc + 3) / 4;
        int64_t mmax = packed ? QROWS : OAP / kq / QMR * QMR;
        if (mmax > QROWS) mmax = QROWS;
        const int64_t nmb = (M + mmax - 1) / mmax;
        const int64_t mcb = round_up((M + nmb - 1) / nmb, QMR);
        for (int64_t i0 = 0; i0 < M; i0 += mcb) {
            const int64_t mc = M - i0 < mcb ? M - i0 : mcb, mc8 = round_up(mc, QMR);
            const uint32_t *aq = aq_buf;
            if (packed) {
                aq = packed + m8 * (k0 / 4) + i0 * kq;
                memcpy(sums, psums + (k0 / kcb) * m8 + i0, sizeof *sums * (size_t)mc8);
            } else {
                pack_a_quad(A, lda, i0, mc, k0, kc, aq_buf, sums);
            }
            for (int64_t r = 0; r < mc8; r++) init[r] = -ty->quad_offset * sums[r];
            for (int64_t j0 = 0; j0 < N; j0 += ONR) {
                const int64_t nc = N - j0 < ONR ? N - j0 : ONR;
                ty->pack_b_quad(trans_b, B, ldb, k0, kc, j0, nc, bq);
                for (int64_t s = 0; s < mc; s += QMR) {
                    const int64_t rows = mc - s < QMR ? mc - s : QMR;
                    im->quad_s32(kq, aq + s * kq, bq, init + s, t);
                    store_tile_s32(t, ONR, rows, nc, k0 == 0, bias ? bias + i0 + s : NULL,
                                   C + (i0 + s) * ldc + j0, ldc);
                }
            }
        }
    }
}

/* C = bias (or 0) when there is nothing to sum. */
#define DEFINE_FILL_BIAS(NAME, CT)                                                                \
    static void NAME(int64_t M, int64_t N, const CT *bias, CT *C, int64_t ldc)                   \
    {                                                                                           \
        for (int64_t i = 0; i < M; i++)                                                         \
            for (int64_t j = 0; j < N; j++) C[i * ldc + j] = bias ? bias[i] : 0;                \
    }

DEFINE_FILL_BIAS(fill_bias_s32, int32_t)
DEFINE_FILL_BIAS(fill_bias_s64, int64_t)

static void gemm_s32(nq_int_isa isa, nq_int_gemm_family fam, const gemm_types *ty, int trans_b,
                     int64_t M, int64_t N, int64_t K, const void *A, int64_t lda, const void *B,
                     int64_t ldb, const int32_t *bias, int32_t *C, int64_t ldc)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        fill_bias_s32(M, N, bias, C, ldc);
        return;
    }
    const int_isa_impl *im = isa_impl(isa);
    if (im->quad_s32 && ty->pack_b_quad && (fam == NQ_INT_GEMM_AUTO || fam == NQ_INT_GEMM_QUAD))
        gemm_quad_s32(im, ty, trans_b, M, N, K, A, lda, NULL, B, ldb, bias, C, ldc);
    else if (!trans_b && im->outer_s32 && fam != NQ_INT_GEMM_DOT)
        gemm_outer_s32(im, ty, M, N, K, A, lda, B, ldb, bias, C, ldc);
    else
        gemm_dot_s32(im->dot_s32, ty, trans_b, M, N, K, A, lda, B, ldb, bias, C, ldc);
}

/* ---- public entry points --------------------------------------------- */

void nq_gemm_s8s8s32_isa(nq_int_isa isa, nq_int_gemm_family fam, int trans_b, int64_t M,
                         int64_t N, int64_t K, const int8_t *A, int64_t lda, const int8_t *B,
                         int64_t ldb, const int32_t *bias, int32_t *C, int64_t ldc)
{
    gemm_s32(isa, fam, &types_s8s8, trans_b, M, N, K, A, lda, B, ldb, bias, C, ldc);
}

void nq_gemm_s8u8s32_isa(nq_int_isa isa, nq_int_gemm_family fam, int trans_b, int64_t M,
                         int64_t N, int64_t K, const int8_t *A, int64_t lda, const uint8_t *B,
                         int64_t ldb, const int32_t *bias, int32_t *C, int64_t ldc)
{
    gemm_s32(isa, fam, &types_s8u8, trans_b, M, N, K, A, lda, B, ldb, bias, C, ldc);
}

void nq_gemm_s16s16s32_isa(nq_int_isa isa, nq_int_gemm_family fam, int trans_b, int64_t M,
                           int64_t N, int64_t K, const int16_t *A, int64_t lda, const int16_t *B,
                           int64_t ldb, const int32_t *bias, int32_t *C, int64_t ldc)
{
    gemm_s32(isa, fam, &types_s16s16, trans_b, M, N, K, A, lda, B, ldb, bias, C, ldc);
}

void nq_gemm_s16s16s64_isa(nq_int_isa isa, nq_int_gemm_family fam, int trans_b, int64_t M,
                           int64_t N, int64_t K, const int16_t *A, int64_t lda, const int16_t *B,
                           int64_t ldb, const int64_t *bias, int64_t *C, int64_t ldc)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0) {
        fill_bias_s64(M, N, bias, C, ldc);
        return;
    }
    const int_isa_impl *im = isa_impl(isa);
    if (!trans_b && im->outer_s32 && fam != NQ_INT_GEMM_DOT)
        gemm_outer_s64(im, &types_s16s16_split, M, N, K, A, lda, B, ldb, bias, C, ldc);
    else
        gemm_dot_s64(im->dot_s64, &types_s16s16_split, trans_b, M, N, K, A, lda, B, ldb, bias, C,
                     ldc);
}

/* Prepacked A: per K block of quad_blocking, its quad words for all m8
 * rows (strips of QMR) at word m8 * k0 / 4, then every block's row sums. */
size_t nq_gemm_s8_packed_a_bytes(int64_t M, int64_t K)
{
    if (M <= 0 || K <= 0 || isa_impl(nq_int_isa_best())->quad_s32 == NULL) return 0;
    int64_t kcb, m8;
    quad_blocking(M, K, &kcb, &m8);
    return sizeof(uint32_t) * (size_t)(m8 * ((K + 3) / 4) + (K + kcb - 1) / kcb * m8);
}

void nq_gemm_s8_pack_a(int64_t M, int64_t K, const int8_t *A, int64_t lda, void *packed)
{
    int64_t kcb, m8;
    quad_blocking(M, K, &kcb, &m8);
    uint32_t *words = packed;
    int32_t *sums = (int32_t *)(void *)(words + m8 * ((K + 3) / 4));
    for (int64_t k0 = 0; k0 < K; k0 += kcb)
        pack_a_quad(A, lda, 0, M, k0, K - k0 < kcb ? K - k0 : kcb, words + m8 * (k0 / 4),
                    sums + k0 / kcb * m8);
}

#define DEFINE_GEMM_PACKED(NAME, BT, TYPES)                                                        \
    void NAME(int64_t M, int64_t N, int64_t K, const void *packed_a, const BT *B, int64_t ldb,  \
              const int32_t *bias, int32_t *C, int64_t ldc)                                     \
    {                                                                                           \
        if (M <= 0 || N <= 0) return;                                                          \
        if (K <= 0) {                                                                           \
            fill_bias_s32(M, N, bias, C, ldc);                                                  \
            return;                                                                             \
        }                                                                                       \
        gemm_quad_s32(isa_impl(nq_int_isa_best()), &(TYPES), 0, M, N, K, NULL, 0, packed_a, B,  \
                      ldb, bias, C, ldc);                                                       \
    }
DEFINE_GEMM_PACKED(nq_gemm_s8s8s32_packed, int8_t, types_s8s8)
DEFINE_GEMM_PACKED(nq_gemm_s8u8s32_packed, uint8_t, types_s8u8)

void nq_gemm_s8s8s32(int trans_b, int64_t M, int64_t N, int64_t K, const int8_t *A, int64_t lda,
                     const int8_t *B, int64_t ldb, const int32_t *bias, int32_t *C, int64_t ldc)
{
    nq_gemm_s8s8s32_isa(nq_int_isa_best(), NQ_INT_GEMM_AUTO, trans_b, M, N, K, A, lda, B, ldb,
                        bias, C, ldc);
}

void nq_gemm_s8u8s32(int trans_b, int64_t M, int64_t N, int64_t K, const int8_t *A, int64_t lda,
                     const uint8_t *B, int64_t ldb, const int32_t *bias, int32_t *C, int64_t ldc)
{
    nq_gemm_s8u8s32_isa(nq_int_isa_best(), NQ_INT_GEMM_AUTO, trans_b, M, N, K, A, lda, B, ldb,
                        bias, C, ldc);
}

void nq_gemm_s16s16s32(int trans_b, int64_t M, int64_t N, int64_t K, const int16_t *A,
                       int64_t lda, const int16_t *B, int64_t ldb, const int32_t *bias,
                       int32_t *C, int64_t ldc)
{
    nq_gemm_s16s16s32_isa(nq_int_isa_best(), NQ_INT_GEMM_AUTO, trans_b, M, N, K, A, lda, B, ldb,
                          bias, C, ldc);
}

void nq_gemm_s16s16s64(int trans_b, int64_t M, int64_t N, int64_t K, const int16_t *A,
                       int64_t lda, const int16_t *B, int64_t ldb, const int64_t *bias,
                       int64_t *C, int64_t ldc)
{
    nq_gemm_s16s16s64_isa(nq_int_isa_best(), NQ_INT_GEMM_AUTO, trans_b, M, N, K, A, lda, B, ldb,
                          bias, C, ldc);
}
