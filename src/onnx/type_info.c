/* TypeProto / ValueInfoProto <-> a value's dtype and shape. Unknown dims
 * (dim_param or no value) read as -1, a missing shape as rank -1. */
#include <inttypes.h>
#include <string.h>

#include "onnx/onnx_internal.h"

static const char *type_kind(const Onnx__TypeProto *tp)
{
    switch (tp->value_case) {
    case ONNX__TYPE_PROTO__VALUE_SEQUENCE_TYPE: return "a sequence";
    case ONNX__TYPE_PROTO__VALUE_MAP_TYPE: return "a map";
    case ONNX__TYPE_PROTO__VALUE_OPTIONAL_TYPE: return "an optional";
    case ONNX__TYPE_PROTO__VALUE_SPARSE_TENSOR_TYPE: return "a sparse tensor";
    default: return "a non-tensor";
    }
}

nq_status nq_onnx_type_read(const Onnx__TypeProto *tp, const char *what, nq_dtype *dtype,
                            int *ndim, int64_t *dims, nq_error *err)
{
    *dtype = NQ_DTYPE_UNDEFINED;
    *ndim = -1;
    if (tp == NULL || tp->value_case == ONNX__TYPE_PROTO__VALUE__NOT_SET) return NQ_OK;
    if (tp->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE)
        return nq_error_set(err, NQ_ERR_UNSUPPORTED, "%s has %s type (only tensors are supported)",
                            what, type_kind(tp));
    const Onnx__TypeProto__Tensor *tt = tp->tensor_type;
    if (tt->has_elem_type && tt->elem_type != ONNX__TENSOR_PROTO__DATA_TYPE__UNDEFINED) {
        *dtype = nq_onnx_dtype_to_nq(tt->elem_type);
        if (*dtype == NQ_DTYPE_UNDEFINED)
            return nq_error_set(err, NQ_ERR_UNSUPPORTED, "%s: data type %s (%" PRId32 ") is not supported",
                                what, nq_onnx_dtype_name(tt->elem_type), tt->elem_type);
    }
    const Onnx__TensorShapeProto *sp = tt->shape;
    if (sp == NULL) return NQ_OK;
    if (sp->n_dim > NQ_MAX_DIMS)
        return nq_error_set(err, NQ_ERR_UNSUPPORTED, "%s: rank %zu exceeds the maximum of %d", what,
                            sp->n_dim, NQ_MAX_DIMS);
    for (size_t i = 0; i < sp->n_dim; i++) {
        const Onnx__TensorShapeProto__Dimension *d = sp->dim[i];
        if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
            if (d->dim_value < 0)
                return nq_error_set(err, NQ_ERR_PARSE, "%s: negative dimension %" PRId64 " (dim %zu)",
                                    what, d->dim_value, i);
            dims[i] = d->dim_value;
        } else {
            dims[i] = -1;
        }
    }
    *ndim = (int)sp->n_dim;
    return NQ_OK;
}

static nq_status shape_write(const nq_value *v, nq_onnx_arena *a, Onnx__TensorShapeProto **out)
{
    Onnx__TensorShapeProto *sp = nq_onnx_arena_alloc(a, sizeof *sp);
    if (sp == NULL) return NQ_ERR_NOMEM;
    onnx__tensor_shape_proto__init(sp);
    sp->n_dim = (size_t)v->ndim;
    sp->dim = nq_onnx_arena_array(a, (size_t)v->ndim, sizeof *sp->dim);
    if (sp->dim == NULL) return NQ_ERR_NOMEM;
    for (int i = 0; i < v->ndim; i++) {
        Onnx__TensorShapeProto__Dimension *d = nq_onnx_arena_alloc(a, sizeof *d);
        if (d == NULL) return NQ_ERR_NOMEM;
        onnx__tensor_shape_proto__dimension__init(d);
        if (v->dims[i] >= 0) {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
            d->dim_value = v->dims[i];
        } else {
            d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
            d->dim_param = i == 0 ? nq_onnx_arena_strdup(a, "N")
                                  : nq_onnx_arena_printf(a, "%s_dim%d", v->name, i);
            if (d->dim_param == NULL) return NQ_ERR_NOMEM;
        }
        sp->dim[i] = d;
    }
    *out = sp;
    return NQ_OK;
}

nq_status nq_onnx_value_info_write(const nq_value *v, nq_onnx_arena *a,
                                   Onnx__ValueInfoProto **out, nq_error *err)
{
    Onnx__ValueInfoProto *vi = nq_onnx_arena_alloc(a, sizeof *vi);
    Onnx__TypeProto *tp = nq_onnx_arena_alloc(a, sizeof *tp);
    Onnx__TypeProto__Tensor *tt = nq_onnx_arena_alloc(a, sizeof *tt);
    if (vi == NULL || tp == NULL || tt == NULL) goto nomem;
    onnx__value_info_proto__init(vi);
    onnx__type_proto__init(tp);
    onnx__type_proto__tensor__init(tt);
    if ((vi->name = nq_onnx_arena_strdup(a, v->name)) == NULL) goto nomem;
    vi->type = tp;
    tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    tp->tensor_type = tt;
    if (v->dtype != NQ_DTYPE_UNDEFINED) {
        tt->has_elem_type = 1;
        tt->elem_type = nq_onnx_dtype_from_nq(v->dtype);
    }
    if (v->ndim > NQ_MAX_DIMS)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "value '%s': bad rank %d", v->name, v->ndim);
    if (v->ndim >= 0 && shape_write(v, a, &tt->shape) != NQ_OK) goto nomem;
    *out = vi;
    return NQ_OK;
nomem:
    return nq_error_set(err, NQ_ERR_NOMEM, "value '%s': out of memory", v->name);
}
