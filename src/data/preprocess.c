/* Preprocessing x -> (x * scale - mean[c]) / std[c] and its option parsing. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

void nq_preprocess_default(nq_preprocess *p)
{
    if (p == NULL) return;
    memset(p, 0, sizeof *p);
    p->scale = 1.0f;
    p->n_mean = 1;
    p->mean[0] = 0.0f;
    p->n_std = 1;
    p->std[0] = 1.0f;
}

int nq_parse_float_list(const char *s, float *out, int max)
{
    if (s == NULL || out == NULL || max <= 0) return -1;
    int n = 0;
    const char *p = s;
    for (;;) {
        char *end;
        errno = 0;
        double v = strtod(p, &end);
        if (end == p || errno == ERANGE || !isfinite(v) || fabs(v) > 3.4e38) return -1;
        if (n >= max) return -1;
        out[n++] = (float)v;
        p = end;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '\0') return n;
        if (*p != ',') return -1;
        p++;
    }
}

/* Reads `count` elements of t starting at flat index `off` as doubles. */
static void load_row(const nq_tensor *t, int64_t off, int64_t count, double *dst)
{
    switch (t->dtype) {
#define NQ_ROW(DT, ctype) case DT: { const ctype *p = (const ctype *)t->data + off; \
        for (int64_t j = 0; j < count; j++) dst[j] = (double)p[j]; } break;
    NQ_ROW(NQ_DTYPE_FLOAT32, float)
    NQ_ROW(NQ_DTYPE_FLOAT64, double)
    NQ_ROW(NQ_DTYPE_INT16, int16_t)
    NQ_ROW(NQ_DTYPE_INT32, int32_t)
    NQ_ROW(NQ_DTYPE_INT64, int64_t)
    NQ_ROW(NQ_DTYPE_INT8, int8_t)
    NQ_ROW(NQ_DTYPE_INT2, int8_t)
    NQ_ROW(NQ_DTYPE_INT3, int8_t)
    NQ_ROW(NQ_DTYPE_INT4, int8_t)
#undef NQ_ROW
    default: { /* one-byte unsigned: uint8, uint4, bool */
        const uint8_t *p = (const uint8_t *)t->data + off;
        for (int64_t j = 0; j < count; j++) dst[j] = (double)p[j];
    }
    }
}

/* Checks the options against the sample shape; returns the channel count
 * used by per-channel lists (1 when both lists have a single value). */
static nq_status check_prep(const nq_preprocess *p, const nq_tensor *src, const char *name,
                            int64_t *channels, nq_error *err)
{
    if (!isfinite(p->scale))
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "preprocessing scale is not finite");
    if (p->n_mean < 0 || p->n_mean > NQ_MAX_CHANNELS || p->n_std < 0 || p->n_std > NQ_MAX_CHANNELS)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "preprocessing: mean/std lists hold 1 to %d "
                            "values (got %d and %d)", NQ_MAX_CHANNELS, p->n_mean, p->n_std);
    for (int i = 0; i < p->n_mean; i++)
        if (!isfinite(p->mean[i]))
            return nq_error_set(err, NQ_ERR_INVALID_ARG, "preprocessing mean %d is not finite", i);
    for (int i = 0; i < p->n_std; i++)
        if (!isfinite(p->std[i]) || p->std[i] == 0.0f)
            return nq_error_set(err, NQ_ERR_INVALID_ARG, "preprocessing std %d is %g (must be "
                                "finite and non-zero)", i, (double)p->std[i]);
    *channels = 1;
    int k = p->n_mean > 1 ? p->n_mean : p->n_std > 1 ? p->n_std : 1;
    if (k == 1) return NQ_OK;
    char sh[128];
    nq_shape_str(src->ndim, src->dims, sh, sizeof sh);
    if (p->n_mean > 1 && p->n_std > 1 && p->n_mean != p->n_std)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "preprocessing: %d mean values but %d std "
                            "values", p->n_mean, p->n_std);
    if (src->ndim < 3)
        return nq_error_set(err, NQ_ERR_SHAPE, "%s: %d per-channel mean/std values, but samples "
                            "%s have no channel dim (per-channel lists need [N,C,...])", name, k, sh);
    if (src->dims[1] != k)
        return nq_error_set(err, NQ_ERR_SHAPE, "%s: %d per-channel mean/std values, but samples "
                            "%s have %lld channels (dim 1)", name, k, sh, (long long)src->dims[1]);
    *channels = k;
    return NQ_OK;
}

nq_status nq_preprocess_apply(const nq_tensor *src, int64_t n, const nq_preprocess *prep,
                              const char *name, nq_tensor *dst, nq_error *err)
{
    nq_preprocess def;
    if (prep == NULL) {
        nq_preprocess_default(&def);
        prep = &def;
    }
    if (src->ndim < 1 || n < 0 || n > src->dims[0])
        return nq_error_set(err, NQ_ERR_INTERNAL, "%s: bad sample range", name);
    int64_t channels;
    nq_status s = check_prep(prep, src, name, &channels, err);
    if (s != NQ_OK) return s;
    int64_t per = 1;
    for (int i = 1; i < src->ndim; i++) per *= src->dims[i];
    int64_t inner = channels > 1 ? per / channels : per;
    int64_t dims[NQ_MAX_DIMS];
    memcpy(dims, src->dims, sizeof dims);
    dims[0] = n;
    s = nq_tensor_alloc(dst, NQ_DTYPE_FLOAT32, src->ndim, dims, err);
    if (s != NQ_OK) return nq_error_prefix(err, "%s", name);
    double *row = malloc((size_t)(per ? per : 1) * sizeof *row);
    if (row == NULL) {
        nq_tensor_free(dst);
        return nq_error_set(err, NQ_ERR_NOMEM, "%s: out of memory", name);
    }
    int is_float = nq_dtype_is_float(src->dtype);
    float *out = dst->data;
    for (int64_t i = 0; i < n && s == NQ_OK; i++) {
        load_row(src, i * per, per, row);
        for (int64_t j = 0; j < per; j++) {
            double x = row[j];
            if (is_float && !isfinite(x)) {
                s = nq_error_set(err, NQ_ERR_DATA, "%s: sample %lld contains %s (element %lld of "
                                 "the sample)", name, (long long)i, isnan(x) ? "NaN" : "Inf",
                                 (long long)j);
                break;
            }
            int64_t c = channels > 1 ? (j / inner) % channels : 0;
            double m = prep->n_mean > 1 ? prep->mean[c] : prep->n_mean == 1 ? prep->mean[0] : 0.0;
            double d = prep->n_std > 1 ? prep->std[c] : prep->n_std == 1 ? prep->std[0] : 1.0;
            float y = (float)((x * (double)prep->scale - m) / d);
            if (!isfinite(y)) {
                s = nq_error_set(err, NQ_ERR_DATA, "%s: sample %lld element %lld (%g) is out of "
                                 "float32 range after preprocessing", name, (long long)i,
                                 (long long)j, x);
                break;
            }
            out[i * per + j] = y;
        }
    }
    free(row);
    if (s != NQ_OK) nq_tensor_free(dst);
    return s;
}
