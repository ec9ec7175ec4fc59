/* NPY writer: format version 1.0, C order, little-endian. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

/* numpy descr per nq dtype; sub-byte types are stored unpacked as int8/uint8. */
static const char *const npy_descr[NQ_DTYPE_COUNT] = {
    [NQ_DTYPE_FLOAT32] = "<f4", [NQ_DTYPE_FLOAT64] = "<f8",
    [NQ_DTYPE_INT2] = "|i1",    [NQ_DTYPE_INT3] = "|i1",
    [NQ_DTYPE_INT4] = "|i1",    [NQ_DTYPE_UINT4] = "|u1",
    [NQ_DTYPE_INT8] = "|i1",    [NQ_DTYPE_UINT8] = "|u1",
    [NQ_DTYPE_INT16] = "<i2",   [NQ_DTYPE_INT32] = "<i4",
    [NQ_DTYPE_INT64] = "<i8",   [NQ_DTYPE_BOOL] = "|b1",
};

nq_status nq_npy_save(const char *path, const nq_tensor *t, nq_error *err)
{
    if (path == NULL || t == NULL)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "nq_npy_save: NULL argument");
    if ((unsigned)t->dtype >= NQ_DTYPE_COUNT || npy_descr[t->dtype] == NULL)
        return nq_error_set(err, NQ_ERR_UNSUPPORTED, "%s: cannot save dtype %s as NPY", path,
                            nq_dtype_name(t->dtype));
    if (t->ndim < 0 || t->ndim > NQ_MAX_DIMS)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "%s: bad tensor rank %d", path, t->ndim);
    size_t nbytes = nq_tensor_nbytes(t);
    if (nbytes > 0 && t->data == NULL)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "%s: tensor has no data", path);

    char dict[64 + 24 * NQ_MAX_DIMS];
    int len = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (",
                       npy_descr[t->dtype]);
    for (int i = 0; i < t->ndim; i++)
        len += snprintf(dict + len, sizeof dict - (size_t)len, "%lld,%s", (long long)t->dims[i],
                        i + 1 < t->ndim ? " " : "");
    if (t->ndim > 1) len--; /* "(2, 3)" not "(2, 3,)"; a 1-d shape keeps "(5,)" */
    len += snprintf(dict + len, sizeof dict - (size_t)len, "), }");

    /* magic(6) + version(2) + header length(2) + dict + padding + '\n', multiple of 64 */
    size_t pre = 10, total = ((pre + (size_t)len + 1 + 63) / 64) * 64;
    unsigned char *buf = malloc(total + nbytes);
    if (buf == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "%s: out of memory", path);
    size_t hlen = total - pre;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    memcpy(buf + pre, dict, (size_t)len);
    memset(buf + pre + len, ' ', total - pre - (size_t)len - 1);
    buf[total - 1] = '\n';
    if (nbytes > 0) {
        memcpy(buf + total, t->data, nbytes);
        if (!nq_host_is_little_endian())
            nq_byteswap(buf + total, (size_t)nq_tensor_numel(t), nq_dtype_size(t->dtype));
    }
    nq_status s = nq_write_file_atomic(path, buf, total + nbytes, err);
    free(buf);
    return s;
}
