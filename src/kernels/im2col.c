/* im2col for 1-D, 2-D and 3-D windows (zero padding). 1-D and 2-D geometries
 * are handled as 3-D ones with leading unit dims, so that one loop nest with
 * a contiguous inner row (memcpy for stride 1) serves every rank. */
#include <string.h>

#include "kernels/window3.h"
#include "nnquant/kernels.h"

void nq_window3_from_geom(const nq_conv_geom *g, nq_window3 *w)
{
    int lead = NQ_MAX_SPATIAL - g->nsp;
    for (int i = 0; i < NQ_MAX_SPATIAL; i++) {
        int s = i - lead;
        int on = s >= 0;
        w->in[i] = on ? g->in[s] : 1;
        w->out[i] = on ? g->out[s] : 1;
        w->k[i] = on ? g->kernel[s] : 1;
        w->s[i] = on ? g->stride[s] : 1;
        w->d[i] = on ? g->dilation[s] : 1;
        w->pb[i] = on ? g->pad_begin[s] : 0;
    }
}

void nq_window_row_range(int64_t n_out, int64_t n_in, int64_t stride, int64_t offset,
                         int64_t *lo, int64_t *hi)
{
    /* Valid output positions o satisfy 0 <= o*stride + offset < n_in. */
    int64_t l = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
    int64_t h = n_in - offset <= 0 ? 0 : (n_in - offset - 1) / stride + 1;
    if (h > n_out) h = n_out;
    if (l > h) l = h;
    *lo = l;
    *hi = h;
}

/* dst[o] = src[o*stride + offset] for o in [lo, hi), 0 elsewhere in [0, n_out).
 * Plain loops: rows are short (tens of floats), where memcpy calls cost more. */
static inline void gather_row(const float *src, float *dst, int64_t n_out, int64_t stride,
                              int64_t offset, int64_t lo, int64_t hi)
{
    int64_t o = 0;
    for (; o < lo; o++) dst[o] = 0.0f;
    if (stride == 1) {
        const float *s = src + offset;
        for (; o < hi; o++) dst[o] = s[o];
    } else {
        const float *s = src + offset;
        for (; o < hi; o++) dst[o] = s[o * stride];
    }
    for (; o < n_out; o++) dst[o] = 0.0f;
}

void nq_im2col_f32(const nq_conv_geom *g, int64_t channels, const float *src, float *dst)
{
    int64_t rows = 1, cols = g->out[g->nsp - 1];
    for (int i = 0; i + 1 < g->nsp; i++) rows *= g->out[i];
    nq_im2col_f32_rows(g, channels, src, dst, rows * cols, 0, rows);
}

/* Rows [r0, r1) of one kernel tap when output and input rows have the same
 * length and both strides along the last two dims are 1 ("same" convs):
 * consecutive output rows then read consecutive input rows, so the valid
 * part of each od-plane run is one memcpy, followed by zeroing the [0, lo)
 * and [hi, W) border columns of every row. */
static void tap_rows_contig(const nq_window3 *w, const float *img, float *dst, int64_t r0,
                            int64_t r1, int64_t kd, int64_t kh, int64_t off_w, int64_t lo,
                            int64_t hi)
{
    const int64_t W = w->out[2], OH = w->out[1], H = w->in[1];
    for (int64_t r = r0; r < r1;) {
        const int64_t od = r / OH, a = r % OH;
        const int64_t n = (r1 - r < OH - a) ? r1 - r : OH - a; /* rows of this od plane */
        float *out = dst + (r - r0) * W;
        const int64_t id = od * w->s[0] - w->pb[0] + kd * w->d[0];
        const int64_t shift = kh * w->d[1] - w->pb[1]; /* ih = oh + shift */
        int64_t va = a > -shift ? a : -shift, vb = a + n < H - shift ? a + n : H - shift;
        if (id < 0 || id >= w->in[0] || va >= vb || hi <= lo) va = vb = a;
        memset(out, 0, (size_t)((va - a) * W) * sizeof *out);
        memset(out + (vb - a) * W, 0, (size_t)((a + n - vb) * W) * sizeof *out);
        if (vb > va) {
            float *blk = out + (va - a) * W;
            const float *src = img + (id * H + va + shift) * W;
            memcpy(blk + lo, src + lo + off_w, (size_t)((vb - va - 1) * W + hi - lo) * sizeof *blk);
            for (int64_t i = 0; i < vb - va; i++) {
                float *row = blk + i * W;
                for (int64_t o = 0; o < lo; o++) row[o] = 0.0f;
                for (int64_t o = hi; o < W; o++) row[o] = 0.0f;
            }
        }
        r += n;
    }
}

void nq_im2col_tap_f32(const nq_window3 *w, const float *img, int64_t kd, int64_t kh,
                       int64_t kw, int64_t r0, int64_t r1, float *dst)
{
    const int64_t out_row = w->out[2];
    const int64_t off_w = kw * w->d[2] - w->pb[2];
    int64_t lo, hi;
    nq_window_row_range(out_row, w->in[2], w->s[2], off_w, &lo, &hi);
    if (w->s[1] == 1 && w->s[2] == 1 && w->out[2] == w->in[2]) {
        tap_rows_contig(w, img, dst, r0, r1, kd, kh, off_w, lo, hi);
        return;
    }
    int64_t od = r0 / w->out[1], oh = r0 % w->out[1];
    for (int64_t r = r0; r < r1; r++, dst += out_row) {
        const int64_t id = od * w->s[0] - w->pb[0] + kd * w->d[0];
        const int64_t ih = oh * w->s[1] - w->pb[1] + kh * w->d[1];
        if (id < 0 || id >= w->in[0] || ih < 0 || ih >= w->in[1])
            memset(dst, 0, (size_t)out_row * sizeof *dst);
        else
            gather_row(img + (id * w->in[1] + ih) * w->in[2], dst, out_row, w->s[2], off_w, lo,
                       hi);
        if (++oh == w->out[1]) oh = 0, od++;
    }
}

void nq_im2col_f32_rows(const nq_conv_geom *g, int64_t channels, const float *src, float *dst,
                        int64_t ld, int64_t r0, int64_t r1)
{
    nq_window3 w;
    nq_window3_from_geom(g, &w);
    const int64_t in_plane = w.in[0] * w.in[1] * w.in[2];
    for (int64_t c = 0; c < channels; c++)
        for (int64_t kd = 0; kd < w.k[0]; kd++)
            for (int64_t kh = 0; kh < w.k[1]; kh++)
                for (int64_t kw = 0; kw < w.k[2]; kw++, dst += ld)
                    nq_im2col_tap_f32(&w, src + c * in_plane, kd, kh, kw, r0, r1, dst);
}

/* dst[o*stride + offset] += src[o] where that lies in [0, n_dst). */
static void scatter_row(const float *src, int64_t n_src, float *dst, int64_t n_dst, int64_t stride,
                        int64_t offset)
{
    int64_t lo, hi;
    nq_window_row_range(n_src, n_dst, stride, offset, &lo, &hi);
    float *d = dst + lo * stride + offset;
    if (stride == 1)
        for (int64_t o = lo; o < hi; o++) d[o - lo] += src[o];
    else
        for (int64_t o = lo; o < hi; o++, d += stride) *d += src[o];
}

void nq_col2im_add_f32(const nq_conv_geom *geom, int64_t channels, const float *col, float *img)
{
    nq_window3 w;
    nq_window3_from_geom(geom, &w);
    const int64_t in_plane = w.in[0] * w.in[1] * w.in[2], row = w.out[2];
    for (int64_t ch = 0; ch < channels; ch++, img += in_plane)
        for (int64_t kd = 0; kd < w.k[0]; kd++)
            for (int64_t kh = 0; kh < w.k[1]; kh++)
                for (int64_t kw = 0; kw < w.k[2]; kw++) {
                    const int64_t off_w = kw * w.d[2] - w.pb[2];
                    for (int64_t od = 0; od < w.out[0]; od++) {
                        const int64_t id = od * w.s[0] - w.pb[0] + kd * w.d[0];
                        for (int64_t oh = 0; oh < w.out[1]; oh++, col += row) {
                            const int64_t ih = oh * w.s[1] - w.pb[1] + kh * w.d[1];
                            if (id < 0 || id >= w.in[0] || ih < 0 || ih >= w.in[1]) continue;
                            scatter_row(col, row, img + (id * w.in[1] + ih) * w.in[2], w.in[2],
                                        w.s[2], off_w);
                        }
                    }
                }
}
