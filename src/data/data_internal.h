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

/* Parse a whole NPY / IDX file held in memory into a fresh owned tensor.
 * `name` (the file path) is used in error messages. */
nq_status nq_npy_parse(const unsigned char *buf, size_t size, const char *name,
                       nq_tensor *out, nq_error *err);
nq_status nq_idx_parse(const unsigned char *buf, size_t size, const char *name,
                       nq_tensor *out, nq_error *err);

/* Reads any array file (NPY or IDX, gzip'ed or not), by content.
 * *format (optional) receives the container format. */
nq_status nq_array_load(const char *path, nq_tensor *out, nq_data_format *format,
                        nq_error *err);

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
