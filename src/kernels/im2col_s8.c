/* im2col for elements of any size (int8/uint8, int16, ...): the loop
 * structure of the float im2col (src/kernels/im2col.c: ranks 1..3 as 3-D
 * with leading unit dims, one column-matrix row per kernel tap, a
 * one-copy fast path for stride-1 "same" rows) with the element size as a
 * parameter, compiled once per common size so that short rows are plain
 * loads and stores. Padding is all-zero bytes (integer 0: zero points are
 * 0). See int_internal.h for nq_im2col_bytes_rows. */
#include <string.h>

#include "kernels/int_internal.h"
#include "kernels/window3.h"
#include "nnquant/kernels.h"

/* Copies n elements of es bytes from src (element stride `stride`) to dst
 * (contiguous); es is a constant once inlined, so each fixed-size memcpy
 * is one load and one store (and, unlike a cast to uint32_t *, valid for
 * any element type under strict aliasing); strides 1 and 2 are constants
 * too, so that those loops vectorize. */
NQ_INT_ALWAYS_INLINE void copy_elems(unsigned char *dst, const unsigned char *src, int64_t n,
                                     int64_t stride, size_t es)
{
#define COPY_N(ES)                                                                               \
    do {                                                                                        \
        if (stride == 1)                                                                        \
            for (int64_t o = 0; o < n; o++) memcpy(dst + (ES) * o, src + (ES) * o, (ES));       \
        else if (stride == 2) /* a constant stride: vectorized */                               \
            for (int64_t o = 0; o < n; o++) memcpy(dst + (ES) * o, src + (ES) * o * 2, (ES));   \
        else                                                                                    \
            for (int64_t o = 0; o < n; o++)                                                     \
                memcpy(dst + (ES) * o, src + (ES) * o * stride, (ES));                          \
    } while (0)
    switch (es) {
    case 1: COPY_N(1); break;
    case 2: COPY_N(2); break;
    case 4: COPY_N(4); break;
    case 8: COPY_N(8); break;
    default:
        if (stride == 1)
            memcpy(dst, src, (size_t)n * es);
        else
            for (int64_t o = 0; o < n; o++)
                memcpy(dst + (size_t)o * es, src + (size_t)(o * stride) * es, es);
    }
#undef COPY_N
}

/* Zeroes n elements: one store for the borders of one element that
 * padding leaves on every row (a loop would become a memset call each). */
NQ_INT_ALWAYS_INLINE void zero_elems(unsigned char *dst, int64_t n, size_t es)
{
    if (n == 1)
        memset(dst, 0, es);
    else if (n > 1)
        memset(dst, 0, (size_t)n * es);
}

/* Rows [r0, r1) of one tap when output and input rows have the same
 * length and the strides along the last two dims are 1: consecutive
 * output rows read consecutive input rows, so the valid part of each
 * od-plane run is one copy, then the [0, lo) and [hi, W) borders of every
 * row are zeroed (as tap_rows_contig in im2col.c). */
NQ_INT_ALWAYS_INLINE void tap_rows_contig(const nq_window3 *w, const unsigned char *img,
                                          unsigned char *dst, int64_t r0, int64_t r1,
                                          int64_t kd, int64_t kh, int64_t off_w, int64_t lo,
                                          int64_t hi, size_t es)
{
    const int64_t W = w->out[2], OH = w->out[1], H = w->in[1];
    for (int64_t r = r0; r < r1;) {
        const int64_t od = r / OH, a = r % OH;
        const int64_t n = (r1 - r < OH - a) ? r1 - r : OH - a; /* rows of this od plane */
        unsigned char *out = dst + (size_t)((r - r0) * W) * es;
        const int64_t id = od * w->s[0] - w->pb[0] + kd * w->d[0];
        const int64_t shift = kh * w->d[1] - w->pb[1]; /* ih = oh + shift */
        int64_t va = a > -shift ? a : -shift, vb = a + n < H - shift ? a + n : H - shift;
        if (id < 0 || id >= w->in[0] || va >= vb || hi <= lo) va = vb = a;
        if (va > a) memset(out, 0, (size_t)((va - a) * W) * es);
        if (a + n > vb)
            memset(out + (size_t)((vb - a) * W) * es, 0, (size_t)((a + n - vb) * W) * es);
        if (vb > va) {
            unsigned char *blk = out + (size_t)((va - a) * W) * es;
            const unsigned char *src = img + (size_t)((id * H + va + shift) * W) * es;
            memcpy(blk + (size_t)lo * es, src + (size_t)(lo + off_w) * es,
                   (size_t)((vb - va - 1) * W + hi - lo) * es);
            for (int64_t i = 0; i < vb - va; i++) {
                unsigned char *row = blk + (size_t)(i * W) * es;
                zero_elems(row, lo, es);
                zero_elems(row + (size_t)hi * es, W - hi, es);
            }
        }
        r += n;
    }
}

/* One column-matrix row: tap (kd, kh, kw) of the channel image img,
 * output rows [r0, r1), written to dst ((r1 - r0) * out[2] elements). */
NQ_INT_ALWAYS_INLINE void im2col_tap(const nq_window3 *w, const unsigned char *img, int64_t kd,
                                     int64_t kh, int64_t kw, int64_t r0, int64_t r1,
                                     unsigned char *dst, size_t es)
{
    const int64_t out_row = w->out[2];
    const int64_t off_w = kw * w->d[2] - w->pb[2];
    int64_t lo, hi;
    nq_window_row_range(out_row, w->in[2], w->s[2], off_w, &lo, &hi);
    if (w->s[1] == 1 && w->s[2] == 1 && w->out[2] == w->in[2]) {
        tap_rows_contig(w, img, dst, r0, r1, kd, kh, off_w, lo, hi, es);
        return;
    }
    int64_t od = r0 / w->out[1], oh = r0 % w->out[1];
    for (int64_t r = r0; r < r1; r++, dst += (size_t)out_row * es) {
        const int64_t id = od * w->s[0] - w->pb[0] + kd * w->d[0];
        const int64_t ih = oh * w->s[1] - w->pb[1] + kh * w->d[1];
        if (id < 0 || id >= w->in[0] || ih < 0 || ih >= w->in[1]) {
            memset(dst, 0, (size_t)out_row * es);
        } else {
            const unsigned char *row = img + (size_t)((id * w->in[1] + ih) * w->in[2]) * es;
            zero_elems(dst, lo, es);
            if (hi > lo)
                copy_elems(dst + (size_t)lo * es, row + (size_t)(lo * w->s[2] + off_w) * es,
                           hi - lo, w->s[2], es);
            zero_elems(dst + (size_t)hi * es, out_row - hi, es);
        }
        if (++oh == w->out[1]) oh = 0, od++;
    }
}

NQ_INT_ALWAYS_INLINE void im2col_rows(const nq_conv_geom *g, int64_t channels, const void *src,
                                      void *dst, int64_t ld, int64_t r0, int64_t r1, size_t es)
{
    nq_window3 w;
    nq_window3_from_geom(g, &w);
    const int64_t in_plane = w.in[0] * w.in[1] * w.in[2];
    const unsigned char *s = (const unsigned char *)src;
    unsigned char *d = (unsigned char *)dst;
    for (int64_t c = 0; c < channels; c++)
        for (int64_t kd = 0; kd < w.k[0]; kd++)
            for (int64_t kh = 0; kh < w.k[1]; kh++)
                for (int64_t kw = 0; kw < w.k[2]; kw++, d += (size_t)ld * es)
                    im2col_tap(&w, s + (size_t)(c * in_plane) * es, kd, kh, kw, r0, r1, d, es);
}

static void im2col_rows_1(const nq_conv_geom *g, int64_t ch, const void *s, void *d, int64_t ld,
                          int64_t r0, int64_t r1)
{
    im2col_rows(g, ch, s, d, ld, r0, r1, 1);
}
static void im2col_rows_2(const nq_conv_geom *g, int64_t ch, const void *s, void *d, int64_t ld,
                          int64_t r0, int64_t r1)
{
    im2col_rows(g, ch, s, d, ld, r0, r1, 2);
}
static void im2col_rows_4(const nq_conv_geom *g, int64_t ch, const void *s, void *d, int64_t ld,
                          int64_t r0, int64_t r1)
{
    im2col_rows(g, ch, s, d, ld, r0, r1, 4);
}
static void im2col_rows_8(const nq_conv_geom *g, int64_t ch, const void *s, void *d, int64_t ld,
                          int64_t r0, int64_t r1)
{
    im2col_rows(g, ch, s, d, ld, r0, r1, 8);
}

void nq_im2col_bytes_rows(const nq_conv_geom *g, int64_t channels, size_t elem_size,
                          const void *src, void *dst, int64_t ld, int64_t r0, int64_t r1)
{
    switch (elem_size) {
    case 1: im2col_rows_1(g, channels, src, dst, ld, r0, r1); break;
    case 2: im2col_rows_2(g, channels, src, dst, ld, r0, r1); break;
    case 4: im2col_rows_4(g, channels, src, dst, ld, r0, r1); break;
    case 8: im2col_rows_8(g, channels, src, dst, ld, r0, r1); break;
    default: im2col_rows(g, channels, src, dst, ld, r0, r1, elem_size); break;
    }
}

void nq_im2col_bytes(const nq_conv_geom *g, int64_t channels, size_t elem_size, const void *src,
                     void *dst)
{
    int64_t rows = 1, cols = g->out[g->nsp - 1];
    for (int i = 0; i + 1 < g->nsp; i++) rows *= g->out[i];
    nq_im2col_bytes_rows(g, channels, elem_size, src, dst, rows * cols, 0, rows);
}

void nq_im2col_s8(const nq_conv_geom *g, int64_t channels, const int8_t *src, int8_t *dst)
{
    nq_im2col_bytes(g, channels, sizeof *src, src, dst);
}

void nq_im2col_s16(const nq_conv_geom *g, int64_t channels, const int16_t *src, int16_t *dst)
{
    nq_im2col_bytes(g, channels, sizeof *src, src, dst);
}
