/* ONNX TensorProto.DataType <-> nq_dtype, one table each way. */
#include <stdint.h>
#include <string.h>

#include "onnx/onnx_internal.h"

/* Every ONNX code, for messages (index = code). */
static const char *const onnx_names[] = {
    "UNDEFINED", "FLOAT",  "UINT8",         "INT8",           "UINT16",     "INT16",
    "INT32",     "INT64",  "STRING",        "BOOL",           "FLOAT16",    "DOUBLE",
    "UINT32",    "UINT64", "COMPLEX64",     "COMPLEX128",     "BFLOAT16",   "FLOAT8E4M3FN",
    "FLOAT8E4M3FNUZ",      "FLOAT8E5M2",    "FLOAT8E5M2FNUZ", "UINT4",      "INT4",
    "FLOAT4E2M1",
};

/* ONNX code -> nq_dtype (UNDEFINED: not supported). */
static const nq_dtype to_nq[] = {
    [ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT] = NQ_DTYPE_FLOAT32,
    [ONNX__TENSOR_PROTO__DATA_TYPE__UINT8] = NQ_DTYPE_UINT8,
    [ONNX__TENSOR_PROTO__DATA_TYPE__INT8] = NQ_DTYPE_INT8,
    [ONNX__TENSOR_PROTO__DATA_TYPE__INT16] = NQ_DTYPE_INT16,
    [ONNX__TENSOR_PROTO__DATA_TYPE__INT32] = NQ_DTYPE_INT32,
    [ONNX__TENSOR_PROTO__DATA_TYPE__INT64] = NQ_DTYPE_INT64,
    [ONNX__TENSOR_PROTO__DATA_TYPE__BOOL] = NQ_DTYPE_BOOL,
    [ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE] = NQ_DTYPE_FLOAT64,
    [NQ_ONNX_TYPE_UINT4] = NQ_DTYPE_UINT4,
    [NQ_ONNX_TYPE_INT4] = NQ_DTYPE_INT4,
};

/* nq_dtype -> ONNX code. */
static const int32_t from_nq[NQ_DTYPE_COUNT] = {
    [NQ_DTYPE_FLOAT32] = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT,
    [NQ_DTYPE_INT2] = ONNX__TENSOR_PROTO__DATA_TYPE__INT8,
    [NQ_DTYPE_INT3] = ONNX__TENSOR_PROTO__DATA_TYPE__INT8,
    [NQ_DTYPE_INT4] = NQ_ONNX_TYPE_INT4,
    [NQ_DTYPE_UINT4] = NQ_ONNX_TYPE_UINT4,
    [NQ_DTYPE_INT8] = ONNX__TENSOR_PROTO__DATA_TYPE__INT8,
    [NQ_DTYPE_UINT8] = ONNX__TENSOR_PROTO__DATA_TYPE__UINT8,
    [NQ_DTYPE_INT16] = ONNX__TENSOR_PROTO__DATA_TYPE__INT16,
    [NQ_DTYPE_INT32] = ONNX__TENSOR_PROTO__DATA_TYPE__INT32,
    [NQ_DTYPE_INT64] = ONNX__TENSOR_PROTO__DATA_TYPE__INT64,
    [NQ_DTYPE_BOOL] = ONNX__TENSOR_PROTO__DATA_TYPE__BOOL,
    [NQ_DTYPE_FLOAT64] = ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE,
};

#define COUNT_OF(a) ((int32_t)(sizeof(a) / sizeof((a)[0])))

nq_dtype nq_onnx_dtype_to_nq(int32_t onnx_type)
{
    if (onnx_type < 0 || onnx_type >= COUNT_OF(to_nq)) return NQ_DTYPE_UNDEFINED;
    return to_nq[onnx_type];
}

int32_t nq_onnx_dtype_from_nq(nq_dtype t)
{
    if ((unsigned)t >= NQ_DTYPE_COUNT) return 0;
    return from_nq[t];
}

const char *nq_onnx_dtype_name(int32_t onnx_type)
{
    if (onnx_type < 0 || onnx_type >= COUNT_OF(onnx_names)) return "unknown";
    return onnx_names[onnx_type];
}

size_t nq_onnx_raw_bytes(nq_dtype t, int64_t numel, int *ok)
{
    *ok = 1;
    if (numel < 0) {
        *ok = 0;
        return 0;
    }
    if (t == NQ_DTYPE_INT4 || t == NQ_DTYPE_UINT4) {
        uint64_t b = (uint64_t)numel / 2 + (uint64_t)(numel & 1);
        if (b > SIZE_MAX) *ok = 0;
        return *ok ? (size_t)b : 0;
    }
    size_t es = nq_dtype_size(t);
    if (es == 0 || (uint64_t)numel > SIZE_MAX / es) {
        *ok = 0;
        return 0;
    }
    return (size_t)numel * es;
}

int nq_onnx_host_le(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}
