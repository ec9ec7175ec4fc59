/*
 * nnquant datasets: IDX (optionally gzip'ed) and NPY files, labels,
 * preprocessing x -> (x * scale - mean) / std, batching.
 */
#ifndef NNQUANT_DATA_H
#define NNQUANT_DATA_H

#include "nnquant/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NQ_MAX_CHANNELS 16

/* Preprocessing applied to every value: (x * scale - mean[c]) / std[c].
 * n_mean / n_std are 1 (all channels) or the channel count (dim 1 of a
 * sample shaped [C, ...]). */
typedef struct nq_preprocess {
    float scale;                  /* default 1 */
    int n_mean;
    float mean[NQ_MAX_CHANNELS];  /* default 0 */
    int n_std;
    float std[NQ_MAX_CHANNELS];   /* default 1 */
} nq_preprocess;

void nq_preprocess_default(nq_preprocess *p);
/* Parses "0.5" or "0.485,0.456,0.406" into values; returns count or -1. */
int nq_parse_float_list(const char *s, float *out, int max);

/* A dataset: samples as float32 [N, ...] after preprocessing, and labels
 * (int64 [N]) when a labels file was given. */
typedef struct nq_dataset {
    nq_tensor samples;   /* float32, dims[0] = N */
    int64_t *labels;     /* NULL if none */
    int64_t n;
} nq_dataset;

/* Loads data (IDX or NPY, by content: NPY magic "\x93NUMPY", IDX magic
 * 0x0000 + type + rank, gzip by magic 1f 8b) and optional labels.
 * limit > 0 keeps the first `limit` samples. Fails on NaN/Inf, label count
 * mismatch, unsupported dtype, truncated files. */
nq_status nq_dataset_load(const char *data_path, const char *labels_path,
                          const nq_preprocess *prep, int64_t limit,
                          nq_dataset **out, nq_error *err);
void nq_dataset_free(nq_dataset *d);

/* Makes a batch for a model input of shape `in_ndim`/`in_dims` (first dim
 * is the batch): copies samples [start, start+count) into `batch` (a view
 * into the dataset when layouts match is not used; always a fresh owned
 * tensor). The sample shape must have the same element count as the model
 * input without its batch dim (28x28 feeds [N,1,28,28] or [N,784]). */
nq_status nq_dataset_batch(const nq_dataset *d, int64_t start, int64_t count,
                           int in_ndim, const int64_t *in_dims,
                           nq_tensor *batch, nq_error *err);

/* NPY I/O (C order, little-endian; float32, float64, int8, uint8, int16,
 * int32, int64, bool). */
nq_status nq_npy_load(const char *path, nq_tensor *out, nq_error *err);
nq_status nq_npy_save(const char *path, const nq_tensor *t, nq_error *err);
/* IDX I/O (reads gzip or plain; ubyte, byte, short, int, float, double). */
nq_status nq_idx_load(const char *path, nq_tensor *out, nq_error *err);

/* Reads a whole file, transparently gunzipping (caller frees *buf). */
nq_status nq_read_file(const char *path, unsigned char **buf, size_t *size, nq_error *err);
/* The same, stopping after `max` bytes of content (decompressed bytes for
 * gzip): *size <= max. */
nq_status nq_read_file_head(const char *path, size_t max, unsigned char **buf, size_t *size,
                            nq_error *err);
/* Writes atomically (temp file + rename). */
nq_status nq_write_file_atomic(const char *path, const void *buf, size_t size, nq_error *err);

#ifdef __cplusplus
}
#endif
#endif
