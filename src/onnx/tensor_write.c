/* nq_tensor -> TensorProto, always as little-endian raw_data. int4/uint4
 * are packed two per byte (low nibble first); int2/int3 are written as
 * INT8 (ONNX has no such types). On a little-endian host the bytes of
 * other dtypes are referenced in place, not copied. */
#include <stdint.h>
#include <string.h>

#include "onnx/onnx_internal.h"

static void pack_nibbles(const nq_tensor *t, int64_t numel, unsigned char *dst)
{
    const unsigned char *src = t->data;
    for (int64_t i = 0; i < numel; i++) {
        unsigned v = (unsigned)src[i] & 0x0Fu; /* two's complement low nibble for int4 */
        if (i & 1)
            dst[i / 2] |= (unsigned char)(v << 4);
        else
            dst[i / 2] = (unsigned char)v;
    }
}

nq_status nq_onnx_tensor_write(const nq_tensor *t, const char *name, nq_onnx_arena *a,
                               Onnx__TensorProto *tp, nq_error *err)
{
    const char *what = name ? name : "tensor";
    onnx__tensor_proto__init(tp);
    int32_t code = nq_onnx_dtype_from_nq(t->dtype);
    if (code == 0)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "tensor '%s': undefined dtype", what);
    if (t->ndim < 0 || t->ndim > NQ_MAX_DIMS)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "tensor '%s': bad rank %d", what, t->ndim);
    for (int i = 0; i < t->ndim; i++)
        if (t->dims[i] < 0)
            return nq_error_set(err, NQ_ERR_INVALID_ARG, "tensor '%s': negative dimension", what);
    int64_t numel = nq_tensor_numel(t);
    int ok;
    size_t bytes = nq_onnx_raw_bytes(t->dtype, numel, &ok);
    if (!ok) return nq_error_set(err, NQ_ERR_INVALID_ARG, "tensor '%s': too large", what);
    if (bytes > 0 && t->data == NULL)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "tensor '%s': no data", what);

    if (name != NULL && (tp->name = nq_onnx_arena_strdup(a, name)) == NULL) goto nomem;
    tp->has_data_type = 1;
    tp->data_type = code;
    tp->n_dims = (size_t)t->ndim;
    if (t->ndim > 0) {
        tp->dims = nq_onnx_arena_array(a, (size_t)t->ndim, sizeof(int64_t));
        if (tp->dims == NULL) goto nomem;
        memcpy(tp->dims, t->dims, sizeof(int64_t) * (size_t)t->ndim);
    }
    tp->has_raw_data = 1;
    tp->raw_data.len = bytes;
    size_t es = nq_dtype_size(t->dtype);
    int packed = t->dtype == NQ_DTYPE_INT4 || t->dtype == NQ_DTYPE_UINT4;
    if (bytes == 0) {
        tp->raw_data.data = NULL;
    } else if (!packed && (es == 1 || nq_onnx_host_le())) {
        tp->raw_data.data = (uint8_t *)t->data; /* packing only reads it */
    } else {
        unsigned char *d = nq_onnx_arena_alloc(a, bytes);
        if (d == NULL) goto nomem;
        if (packed) {
            pack_nibbles(t, numel, d);
        } else {
            memcpy(d, t->data, bytes);
            for (size_t k = 0; k < bytes; k += es) /* big-endian host */
                for (size_t x = k, y = k + es - 1; x < y; x++, y--) {
                    unsigned char tmp = d[x];
                    d[x] = d[y];
                    d[y] = tmp;
                }
        }
        tp->raw_data.data = d;
    }
    return NQ_OK;
nomem:
    return nq_error_set(err, NQ_ERR_NOMEM, "tensor '%s': out of memory", what);
}
