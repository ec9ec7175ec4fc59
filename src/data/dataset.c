/* Datasets: samples + labels from IDX/NPY files, and batching for a model input. */
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

nq_data_format nq_data_sniff(const unsigned char *buf, size_t size)
{
    if (size >= 6 && memcmp(buf, "\x93NUMPY", 6) == 0) return NQ_DATA_FORMAT_NPY;
    if (size >= 4 && buf[0] == 0 && buf[1] == 0 && buf[3] >= 1 &&
        (buf[2] == 0x08 || buf[2] == 0x09 || (buf[2] >= 0x0B && buf[2] <= 0x0E)))
        return NQ_DATA_FORMAT_IDX;
    return NQ_DATA_FORMAT_UNKNOWN;
}

/* Bytes that hold the first `limit` entries, or SIZE_MAX for the whole
 * file; *total: the entries in the file (-1 when read whole). */
static size_t bytes_needed(const char *path, int64_t limit, int64_t *total)
{
    *total = -1;
    if (limit <= 0) return SIZE_MAX;
    unsigned char *head;
    size_t size, need = 0;
    /* 64 KiB + 12 holds any NPY header (and every IDX header) */
    if (nq_read_file_head(path, (1u << 16) + 12, &head, &size, NULL) != NQ_OK) return SIZE_MAX;
    nq_data_format f = nq_data_sniff(head, size);
    if (f == NQ_DATA_FORMAT_NPY) need = nq_npy_prefix_bytes(head, size, limit, total);
    else if (f == NQ_DATA_FORMAT_IDX) need = nq_idx_prefix_bytes(head, size, limit, total);
    free(head);
    if (need == 0) *total = -1;
    return need > 0 ? need : SIZE_MAX;
}

nq_status nq_array_load(const char *path, int64_t limit, nq_tensor *out, int64_t *n_total,
                        nq_data_format *format, nq_error *err)
{
    unsigned char *buf;
    size_t size;
    int64_t total;
    nq_status s = nq_read_file_head(path, bytes_needed(path, limit, &total), &buf, &size, err);
    if (s != NQ_OK) return s;
    nq_data_format f = nq_data_sniff(buf, size);
    if (format != NULL) *format = f;
    if (f == NQ_DATA_FORMAT_NPY) s = nq_npy_parse(buf, size, path, limit, out, err);
    else if (f == NQ_DATA_FORMAT_IDX) s = nq_idx_parse(buf, size, path, limit, out, err);
    else {
        unsigned char b[4] = {0, 0, 0, 0};
        memcpy(b, buf, size < 4 ? size : 4);
        s = nq_error_set(err, NQ_ERR_PARSE, "%s: unknown data format (neither NPY nor IDX; "
                         "first bytes %02x %02x %02x %02x, %zu bytes)", path, b[0], b[1], b[2],
                         b[3], size);
    }
    free(buf);
    if (s == NQ_OK && n_total != NULL) *n_total = total >= 0 ? total : out->ndim ? out->dims[0] : 1;
    return s;
}

/* Loads labels as int64 [n_keep] after checking count and values. */
static nq_status load_labels(const char *path, int64_t n_samples, int64_t n_keep,
                             const char *data_path, int64_t **out, nq_error *err)
{
    nq_tensor t;
    memset(&t, 0, sizeof t);
    int64_t n_labels;
    nq_status s = nq_array_load(path, n_keep, &t, &n_labels, NULL, err);
    if (s != NQ_OK) return s;
    char sh[128];
    nq_shape_str(t.ndim, t.dims, sh, sizeof sh);
    int64_t lo, hi;
    if (!nq_dtype_int_range(t.dtype, &lo, &hi) || t.dtype == NQ_DTYPE_BOOL)
        s = nq_error_set(err, NQ_ERR_UNSUPPORTED, "%s: labels must be integers, got %s",
                         path, nq_dtype_name(t.dtype));
    else if (!(t.ndim == 1 || (t.ndim == 2 && t.dims[1] == 1)))
        s = nq_error_set(err, NQ_ERR_SHAPE, "%s: labels must be shaped [N] (or [N,1]), got %s",
                         path, sh);
    else if (n_labels != n_samples)
        s = nq_error_set(err, NQ_ERR_DATA, "%s: %lld labels but %s has %lld samples", path,
                         (long long)n_labels, data_path, (long long)n_samples);
    int64_t *lab = NULL;
    if (s == NQ_OK) {
        lab = malloc((size_t)(n_keep ? n_keep : 1) * sizeof *lab);
        if (lab == NULL) s = nq_error_set(err, NQ_ERR_NOMEM, "%s: out of memory", path);
    }
    for (int64_t i = 0; s == NQ_OK && i < n_keep; i++) {
        /* int64 read directly: a double cannot hold every int64 exactly */
        lab[i] = t.dtype == NQ_DTYPE_INT64 ? ((const int64_t *)t.data)[i]
                                           : (int64_t)nq_tensor_get(&t, i);
        if (lab[i] < 0)
            s = nq_error_set(err, NQ_ERR_DATA, "%s: label %lld is negative (%lld)", path,
                             (long long)i, (long long)lab[i]);
    }
    nq_tensor_free(&t);
    if (s != NQ_OK) {
        free(lab);
        return s;
    }
    *out = lab;
    return NQ_OK;
}

nq_status nq_dataset_load(const char *data_path, const char *labels_path,
                          const nq_preprocess *prep, int64_t limit,
                          nq_dataset **out, nq_error *err)
{
    if (data_path == NULL || out == NULL)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "nq_dataset_load: NULL argument");
    *out = NULL;
    nq_tensor raw;
    memset(&raw, 0, sizeof raw);
    int64_t n_all;
    nq_status s = nq_array_load(data_path, limit, &raw, &n_all, NULL, err);
    if (s != NQ_OK) return s;
    char sh[128];
    nq_shape_str(raw.ndim, raw.dims, sh, sizeof sh);
    if (raw.ndim < 1 || raw.dims[0] == 0)
        s = nq_error_set(err, NQ_ERR_SHAPE, "%s: no samples (shape %s; expected [N, ...])",
                         data_path, sh);
    else if (nq_tensor_numel(&raw) == 0) /* else N (up to 2^32 in IDX) empty samples */
        s = nq_error_set(err, NQ_ERR_SHAPE, "%s: samples have no values (shape %s)", data_path, sh);
    else if (raw.dtype == NQ_DTYPE_BOOL)
        s = nq_error_set(err, NQ_ERR_UNSUPPORTED, "%s: boolean samples are not supported",
                         data_path);
    int64_t n = raw.ndim >= 1 ? raw.dims[0] : 0;
    nq_dataset *d = NULL;
    if (s == NQ_OK) {
        d = calloc(1, sizeof *d);
        if (d == NULL) s = nq_error_set(err, NQ_ERR_NOMEM, "%s: out of memory", data_path);
    }
    if (s == NQ_OK) s = nq_preprocess_apply(&raw, n, prep, data_path, &d->samples, err);
    nq_tensor_free(&raw);
    if (s == NQ_OK && labels_path != NULL)
        s = load_labels(labels_path, n_all, n, data_path, &d->labels, err);
    if (s != NQ_OK) {
        nq_dataset_free(d);
        return s;
    }
    d->n = n;
    *out = d;
    return NQ_OK;
}

void nq_dataset_free(nq_dataset *d)
{
    if (d == NULL) return;
    nq_tensor_free(&d->samples);
    free(d->labels);
    free(d);
}

nq_status nq_dataset_batch(const nq_dataset *d, int64_t start, int64_t count,
                           int in_ndim, const int64_t *in_dims,
                           nq_tensor *batch, nq_error *err)
{
    if (d == NULL || batch == NULL || (in_ndim > 0 && in_dims == NULL))
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "nq_dataset_batch: NULL argument");
    if (start < 0 || count <= 0 || start > d->n || count > d->n - start)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "batch [%lld, %lld) is outside the dataset "
                            "(%lld samples)", (long long)start, (long long)(start + count),
                            (long long)d->n);
    const nq_tensor *sm = &d->samples;
    int64_t per = 1;
    for (int i = 1; i < sm->ndim; i++) per *= sm->dims[i];
    char ssh[128], msh[128];
    nq_shape_str(sm->ndim, sm->dims, ssh, sizeof ssh);
    nq_shape_str(in_ndim, in_dims, msh, sizeof msh);
    if (in_ndim < 1 || in_ndim > NQ_MAX_DIMS)
        return nq_error_set(err, NQ_ERR_SHAPE, "model input %s has no batch dim", msh);
    /* per-sample dims of the model; one unknown (<= 0) dim is inferred */
    int64_t dims[NQ_MAX_DIMS], known = 1;
    int unknown = -1, n_unknown = 0;
    dims[0] = count;
    for (int i = 1; i < in_ndim; i++) {
        dims[i] = in_dims[i];
        if (in_dims[i] <= 0) {
            unknown = i;
            n_unknown++;
        } else {
            known *= in_dims[i];
        }
    }
    if (n_unknown == 1 && known > 0 && per % known == 0) {
        dims[unknown] = per / known;
        known = per;
    }
    if (n_unknown > 1 || known != per)
        return nq_error_set(err, NQ_ERR_SHAPE, "samples %s (%lld values each) do not fit model "
                            "input %s (%s%lld values per sample)", ssh, (long long)per, msh,
                            n_unknown ? "unknown dims, " : "", (long long)known);
    nq_status s = nq_tensor_alloc(batch, NQ_DTYPE_FLOAT32, in_ndim, dims, err);
    if (s != NQ_OK) return s;
    memcpy(batch->data, (const float *)sm->data + start * per,
           (size_t)(count * per) * sizeof(float));
    return NQ_OK;
}
