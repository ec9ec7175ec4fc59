/* Private helpers of the data layer: parsing arrays from memory buffers. */
#ifndef NQ_DATA_INTERNAL_H
#define NQ_DATA_INTERNAL_H
#include <stddef.h>

#include "nnquant/data.h"

/* Container formats recognised by their first bytes. */
typedef enum nq_data_format {
    NQ_DATA_FORMAT_UNKNOWN = 0,
    NQ_DATA_FORMAT_NPY,
    NQ_DATA_FORMAT_IDX
} nq_data_format;

nq_data_format nq_data_sniff(const unsigned char *buf, size_t size);

/* Parse an NPY / IDX file held in memory into a fresh owned tensor.
 * `name` (the file path) is used in error messages. limit > 0 keeps the
 * first `limit` entries of the first dimension, and then the buffer may be
 * a prefix of the file holding at least those (see *_prefix_bytes). */
nq_status nq_npy_parse(const unsigned char *buf, size_t size, const char *name, int64_t limit,
                       nq_tensor *out, nq_error *err);
nq_status nq_idx_parse(const unsigned char *buf, size_t size, const char *name, int64_t limit,
                       nq_tensor *out, nq_error *err);
/* Bytes from the start of the file that hold the header and the first
 * `limit` entries, from a buffer holding at least the header; 0 when that
 * is not smaller than the whole array or the header does not parse.
 * *total receives the entries of the first dimension in the file. */
size_t nq_npy_prefix_bytes(const unsigned char *buf, size_t size, int64_t limit, int64_t *total);
size_t nq_idx_prefix_bytes(const unsigned char *buf, size_t size, int64_t limit, int64_t *total);

/* Reads any array file (NPY or IDX, gzip'ed or not), by content.
 * limit > 0 reads only the first `limit` entries of the first dimension
 * (the rest of the file is neither decompressed nor checked). *n_total
 * (optional) receives the number of entries in the file.
 * *format (optional) receives the container format. */
nq_status nq_array_load(const char *path, int64_t limit, nq_tensor *out, int64_t *n_total,
                        nq_data_format *format, nq_error *err);

/* Applies preprocessing and converts `src` (any numeric dtype, C order,
 * dims[0] = N) into the float32 tensor `dst` (fresh, owned), keeping only the
 * first `n` samples. Checks finiteness of float input; errors name `name`
 * and the sample index. */
nq_status nq_preprocess_apply(const nq_tensor *src, int64_t n, const nq_preprocess *prep,
                              const char *name, nq_tensor *dst, nq_error *err);

/* 1 if the host stores multi-byte integers little-endian. */
int nq_host_is_little_endian(void);
/* Reverses the bytes of each of `count` elements of `elem` bytes, in place. */
void nq_byteswap(void *data, size_t count, size_t elem);

#endif
