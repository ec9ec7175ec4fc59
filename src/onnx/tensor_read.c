/* TensorProto -> nq_tensor: raw_data (little-endian), typed fields
 * (float_data, int32_data, int64_data, double_data), external data, and
 * int4/uint4 unpacking (ONNX packs two per byte, low nibble first). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_internal.h"

nq_status nq_onnx_dims_read(size_t n_dims, const int64_t *dims, const char *what, int *ndim,
                            int64_t *out_dims, int64_t *numel, nq_error *err)
{
    if (n_dims > NQ_MAX_DIMS)
        return nq_error_set(err, NQ_ERR_UNSUPPORTED, "%s: rank %zu exceeds the maximum of %d",
                            what, n_dims, NQ_MAX_DIMS);
    int negative = 0, bad = nq_dims_bad((int)n_dims, dims, &negative); /* nq_tensor_init's bound */
    if (bad >= 0 && negative)
        return nq_error_set(err, NQ_ERR_PARSE, "%s: negative dimension %" PRId64 " (dim %d)", what,
                            dims[bad], bad);
    if (bad >= 0)
        return nq_error_set(err, NQ_ERR_PARSE, "%s: dimensions overflow (too many elements)", what);
    int64_t n = 1;
    for (size_t i = 0; i < n_dims; i++) {
        n *= dims[i];
        out_dims[i] = dims[i];
    }
    *ndim = (int)n_dims;
    *numel = n;
    return NQ_OK;
}

static unsigned nibble(const unsigned char *src, int64_t i)
{
    unsigned char b = src[i / 2];
    return (i & 1) ? (unsigned)(b >> 4) : (unsigned)(b & 0x0F);
}

/* Bytes in ONNX layout (already checked to be complete) -> t->data. */
static void decode_raw(const unsigned char *src, nq_tensor *t, int64_t numel)
{
    unsigned char *dst = t->data;
    switch (t->dtype) {
    case NQ_DTYPE_INT4:
        for (int64_t i = 0; i < numel; i++)
            ((int8_t *)dst)[i] = (int8_t)((int)(nibble(src, i) ^ 8u) - 8);
        break;
    case NQ_DTYPE_UINT4:
        for (int64_t i = 0; i < numel; i++) dst[i] = (unsigned char)nibble(src, i);
        break;
    case NQ_DTYPE_BOOL:
        for (int64_t i = 0; i < numel; i++) dst[i] = src[i] != 0;
        break;
    default: {
        size_t es = nq_dtype_size(t->dtype), n = (size_t)numel * es;
        if (n > 0) memcpy(dst, src, n);
        if (es > 1 && !nq_onnx_host_le())
            for (size_t k = 0; k < n; k += es)
                for (size_t a = k, b = k + es - 1; a < b; a++, b--) {
                    unsigned char tmp = dst[a];
                    dst[a] = dst[b];
                    dst[b] = tmp;
                }
        break;
    }
    }
}

/* The typed field a dtype is stored in, and how many entries it needs. */
static size_t typed_field(const Onnx__TensorProto *tp, nq_dtype dt, int64_t numel,
                          const char **field, int64_t *expected)
{
    *expected = numel;
    switch (dt) {
    case NQ_DTYPE_FLOAT32: *field = "float_data"; return tp->n_float_data;
    case NQ_DTYPE_FLOAT64: *field = "double_data"; return tp->n_double_data;
    case NQ_DTYPE_INT64: *field = "int64_data"; return tp->n_int64_data;
    case NQ_DTYPE_INT4:
    case NQ_DTYPE_UINT4: *expected = numel / 2 + (numel & 1); /* packed bytes */
    /* fall through */
    default: *field = "int32_data"; return tp->n_int32_data;
    }
}

static nq_status decode_typed(const Onnx__TensorProto *tp, const char *what, nq_tensor *t,
                              int64_t numel, nq_error *err)
{
    switch (t->dtype) {
    case NQ_DTYPE_FLOAT32:
        if (numel > 0) memcpy(t->data, tp->float_data, sizeof(float) * (size_t)numel);
        return NQ_OK;
    case NQ_DTYPE_FLOAT64:
        if (numel > 0) memcpy(t->data, tp->double_data, sizeof(double) * (size_t)numel);
        return NQ_OK;
    case NQ_DTYPE_INT64:
        if (numel > 0) memcpy(t->data, tp->int64_data, sizeof(int64_t) * (size_t)numel);
        return NQ_OK;
    default: break;
    }
    int packed = t->dtype == NQ_DTYPE_INT4 || t->dtype == NQ_DTYPE_UINT4;
    int64_t lo = -128, hi = 255, count = packed ? numel / 2 + (numel & 1) : numel;
    if (!packed) nq_dtype_int_range(t->dtype, &lo, &hi);
    unsigned char *bytes = packed ? malloc(count > 0 ? (size_t)count : 1) : NULL;
    if (packed && bytes == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "%s: out of memory", what);
    for (int64_t i = 0; i < count; i++) {
        int32_t v = tp->int32_data[i];
        if (v < lo || v > hi) {
            free(bytes);
            return nq_error_set(err, NQ_ERR_PARSE,
                                "%s: int32_data[%" PRId64 "] = %" PRId32 " is out of range for %s",
                                what, i, v, nq_dtype_name(t->dtype));
        }
        switch (t->dtype) {
        case NQ_DTYPE_INT8: ((int8_t *)t->data)[i] = (int8_t)v; break;
        case NQ_DTYPE_INT16: ((int16_t *)t->data)[i] = (int16_t)v; break;
        case NQ_DTYPE_INT32: ((int32_t *)t->data)[i] = v; break;
        case NQ_DTYPE_UINT8:
        case NQ_DTYPE_BOOL: ((uint8_t *)t->data)[i] = (uint8_t)v; break;
        default:
            if (bytes != NULL) bytes[i] = (unsigned char)(v & 0xFF);
            break;
        }
    }
    if (packed) decode_raw(bytes, t, numel);
    free(bytes);
    return NQ_OK;
}

static nq_status alloc_tensor(nq_tensor *out, nq_dtype dt, int ndim, const int64_t *dims,
                              const char *what, nq_error *err)
{
    nq_status s = nq_tensor_alloc(out, dt, ndim, dims, err);
    if (s != NQ_OK) nq_error_prefix(err, "%s", what);
    return s;
}

static nq_status read_data(const Onnx__TensorProto *tp, const char *what, const char *base_dir,
                           nq_dtype dt, int ndim, const int64_t *dims, int64_t numel,
                           nq_tensor *out, nq_error *err)
{
    char shape[128];
    int ok;
    size_t bytes = nq_onnx_raw_bytes(dt, numel, &ok);
    if (!ok) return nq_error_set(err, NQ_ERR_PARSE, "%s: tensor too large", what);
    nq_shape_str(ndim, dims, shape, sizeof shape);
    nq_status s;
    if (tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
        unsigned char *buf = NULL;
        s = nq_onnx_external_read(tp, what, base_dir, bytes, &buf, err);
        if (s == NQ_OK) s = alloc_tensor(out, dt, ndim, dims, what, err);
        if (s == NQ_OK) decode_raw(buf, out, numel);
        free(buf);
        return s;
    }
    if (tp->has_raw_data) {
        if (tp->raw_data.len != bytes)
            return nq_error_set(err, NQ_ERR_PARSE,
                                "%s: raw_data has %zu bytes, expected %zu for %s %s", what,
                                tp->raw_data.len, bytes, nq_dtype_name(dt), shape);
        s = alloc_tensor(out, dt, ndim, dims, what, err);
        if (s == NQ_OK) decode_raw(tp->raw_data.data, out, numel);
        return s;
    }
    const char *field;
    int64_t expected;
    size_t found = typed_field(tp, dt, numel, &field, &expected);
    if ((uint64_t)found != (uint64_t)expected)
        return nq_error_set(err, NQ_ERR_PARSE,
                            "%s: %s holds %zu values, expected %" PRId64 " for %s %s", what,
                            field, found, expected, nq_dtype_name(dt), shape);
    s = alloc_tensor(out, dt, ndim, dims, what, err);
    if (s == NQ_OK) s = decode_typed(tp, what, out, numel, err);
    return s;
}

nq_status nq_onnx_tensor_read(const Onnx__TensorProto *tp, const char *what,
                              const char *base_dir, nq_tensor *out, nq_error *err)
{
    memset(out, 0, sizeof *out);
    out->dtype = NQ_DTYPE_FLOAT32;
    if (!tp->has_data_type || tp->data_type == ONNX__TENSOR_PROTO__DATA_TYPE__UNDEFINED)
        return nq_error_set(err, NQ_ERR_PARSE, "%s: data type is missing", what);
    nq_dtype dt = nq_onnx_dtype_to_nq(tp->data_type);
    if (dt == NQ_DTYPE_UNDEFINED)
        return nq_error_set(err, NQ_ERR_UNSUPPORTED, "%s: data type %s (%" PRId32 ") is not supported",
                            what, nq_onnx_dtype_name(tp->data_type), tp->data_type);
    if (tp->segment != NULL)
        return nq_error_set(err, NQ_ERR_UNSUPPORTED, "%s: segmented tensors are not supported", what);
    int ndim = 0;
    int64_t dims[NQ_MAX_DIMS] = {0}, numel = 0;
    nq_status s = nq_onnx_dims_read(tp->n_dims, tp->dims, what, &ndim, dims, &numel, err);
    if (s != NQ_OK) return s;
    s = read_data(tp, what, base_dir, dt, ndim, dims, numel, out, err);
    if (s != NQ_OK) nq_tensor_free(out);
    return s;
}
