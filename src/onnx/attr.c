/* AttributeProto <-> nq_attr. Supported kinds: FLOAT, INT, STRING, TENSOR,
 * FLOATS, INTS, STRINGS; GRAPH(S), TENSORS, SPARSE_TENSOR(S) and
 * TYPE_PROTO(S) are refused as unsupported, naming node and attribute. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_internal.h"

typedef Onnx__AttributeProto__AttributeType attr_type;

static const char *attr_type_name(attr_type t)
{
    switch (t) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH: return "GRAPH";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS: return "GRAPHS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS: return "TENSORS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR: return "SPARSE_TENSOR";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSORS: return "SPARSE_TENSORS";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO: return "TYPE_PROTO";
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTOS: return "TYPE_PROTOS";
    default: return "unknown";
    }
}

/* Old models may omit `type`: infer it from the field that is set. */
static attr_type infer_type(const Onnx__AttributeProto *ap)
{
    if (ap->has_type && ap->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED) return ap->type;
    if (ap->has_f) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
    if (ap->has_i) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
    if (ap->has_s) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
    if (ap->t) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
    if (ap->g) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPH;
    if (ap->sparse_tensor) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__SPARSE_TENSOR;
    if (ap->tp) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TYPE_PROTO;
    if (ap->n_floats) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
    if (ap->n_ints) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    if (ap->n_strings) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS;
    if (ap->n_tensors) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSORS;
    if (ap->n_graphs) return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__GRAPHS;
    return ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED;
}

/* Bytes -> NUL-terminated copy (an embedded NUL ends the string). */
static char *bytes_dup(const ProtobufCBinaryData *b)
{
    char *s = malloc(b->len + 1);
    if (s == NULL) return NULL;
    if (b->len > 0) memcpy(s, b->data, b->len);
    s[b->len] = '\0';
    return s;
}

static nq_status read_value(const Onnx__AttributeProto *ap, attr_type type, const char *what,
                            const char *base_dir, nq_attr *out, nq_error *err)
{
    switch (type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT:
        out->type = NQ_ATTR_FLOAT;
        out->f = ap->f;
        return NQ_OK;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT:
        out->type = NQ_ATTR_INT;
        out->i = ap->i;
        return NQ_OK;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
        out->type = NQ_ATTR_STRING;
        return (out->s = bytes_dup(&ap->s)) ? NQ_OK : NQ_ERR_NOMEM;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR:
        out->type = NQ_ATTR_TENSOR;
        if (ap->t == NULL)
            return nq_error_set(err, NQ_ERR_PARSE, "%s: TENSOR attribute without a tensor", what);
        if ((out->t = nq_tensor_new()) == NULL) return NQ_ERR_NOMEM;
        return nq_onnx_tensor_read(ap->t, what, base_dir, out->t, err);
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
        out->type = NQ_ATTR_FLOATS;
        if (ap->n_floats > INT_MAX) break;
        out->n = (int)ap->n_floats;
        if ((out->floats = malloc(sizeof(float) * (ap->n_floats ? ap->n_floats : 1))) == NULL)
            return NQ_ERR_NOMEM;
        if (ap->n_floats) memcpy(out->floats, ap->floats, sizeof(float) * ap->n_floats);
        return NQ_OK;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
        out->type = NQ_ATTR_INTS;
        if (ap->n_ints > INT_MAX) break;
        out->n = (int)ap->n_ints;
        if ((out->ints = malloc(sizeof(int64_t) * (ap->n_ints ? ap->n_ints : 1))) == NULL)
            return NQ_ERR_NOMEM;
        if (ap->n_ints) memcpy(out->ints, ap->ints, sizeof(int64_t) * ap->n_ints);
        return NQ_OK;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS:
        out->type = NQ_ATTR_STRINGS;
        if (ap->n_strings > INT_MAX) break;
        if ((out->strings = calloc(ap->n_strings ? ap->n_strings : 1, sizeof(char *))) == NULL)
            return NQ_ERR_NOMEM;
        for (size_t k = 0; k < ap->n_strings; k++) {
            if ((out->strings[k] = bytes_dup(&ap->strings[k])) == NULL) return NQ_ERR_NOMEM;
            out->n = (int)k + 1; /* so that nq_attr_clear frees what was copied */
        }
        return NQ_OK;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__UNDEFINED:
        return nq_error_set(err, NQ_ERR_PARSE, "%s: attribute has no type and no value", what);
    default:
        return nq_error_set(err, NQ_ERR_UNSUPPORTED, "%s: attributes of type %s are not supported",
                            what, attr_type_name(type));
    }
    return nq_error_set(err, NQ_ERR_PARSE, "%s: too many values", what);
}

nq_status nq_onnx_attr_read(const Onnx__AttributeProto *ap, const char *node,
                            const char *base_dir, nq_attr *out, nq_error *err)
{
    memset(out, 0, sizeof *out);
    const char *name = ap->name ? ap->name : "";
    if (name[0] == '\0') return nq_error_set(err, NQ_ERR_PARSE, "%s: attribute without a name", node);
    size_t wl = strlen(node) + strlen(name) + 32;
    char *what = malloc(wl);
    if (what == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "%s: out of memory", node);
    snprintf(what, wl, "%s: attribute '%s'", node, name);
    nq_status s;
    if (ap->ref_attr_name != NULL && ap->ref_attr_name[0] != '\0')
        s = nq_error_set(err, NQ_ERR_UNSUPPORTED, "%s refers to function attribute '%s' (not supported)",
                         what, ap->ref_attr_name);
    else if ((out->name = malloc(strlen(name) + 1)) == NULL)
        s = NQ_ERR_NOMEM;
    else {
        memcpy(out->name, name, strlen(name) + 1);
        s = read_value(ap, infer_type(ap), what, base_dir, out, err);
    }
    if (s == NQ_ERR_NOMEM) nq_error_set(err, s, "%s: out of memory", what);
    if (s != NQ_OK) nq_attr_clear(out);
    free(what);
    return s;
}

nq_status nq_onnx_attr_write(const nq_attr *at, nq_onnx_arena *a, Onnx__AttributeProto **out,
                             nq_error *err)
{
    Onnx__AttributeProto *ap = nq_onnx_arena_alloc(a, sizeof *ap);
    if (ap == NULL) goto nomem;
    onnx__attribute_proto__init(ap);
    if ((ap->name = nq_onnx_arena_strdup(a, at->name)) == NULL) goto nomem;
    ap->has_type = 1;
    size_t n = at->n > 0 ? (size_t)at->n : 0;
    switch (at->type) {
    case NQ_ATTR_FLOAT:
        ap->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT;
        ap->has_f = 1;
        ap->f = at->f;
        break;
    case NQ_ATTR_INT:
        ap->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        ap->has_i = 1;
        ap->i = at->i;
        break;
    case NQ_ATTR_STRING:
        ap->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
        ap->has_s = 1;
        ap->s.data = (uint8_t *)(at->s ? at->s : "");
        ap->s.len = strlen((const char *)ap->s.data);
        break;
    case NQ_ATTR_TENSOR: {
        ap->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR;
        if (at->t == NULL)
            return nq_error_set(err, NQ_ERR_INVALID_ARG, "attribute '%s': no tensor", at->name);
        if ((ap->t = nq_onnx_arena_alloc(a, sizeof *ap->t)) == NULL) goto nomem;
        nq_status s = nq_onnx_tensor_write(at->t, NULL, a, ap->t, err);
        if (s != NQ_OK) {
            nq_error_prefix(err, "attribute '%s'", at->name);
            return s;
        }
        break;
    }
    case NQ_ATTR_FLOATS:
        ap->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS;
        ap->n_floats = at->floats ? n : 0;
        ap->floats = at->floats;
        break;
    case NQ_ATTR_INTS:
        ap->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
        ap->n_ints = at->ints ? n : 0;
        ap->ints = at->ints;
        break;
    case NQ_ATTR_STRINGS:
        ap->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRINGS;
        ap->n_strings = at->strings ? n : 0;
        if ((ap->strings = nq_onnx_arena_array(a, ap->n_strings, sizeof *ap->strings)) == NULL)
            goto nomem;
        for (size_t k = 0; k < ap->n_strings; k++) {
            ap->strings[k].data = (uint8_t *)(at->strings[k] ? at->strings[k] : "");
            ap->strings[k].len = strlen((const char *)ap->strings[k].data);
        }
        break;
    default:
        return nq_error_set(err, NQ_ERR_INTERNAL, "attribute '%s': unknown type %d", at->name,
                            (int)at->type);
    }
    *out = ap;
    return NQ_OK;
nomem:
    return nq_error_set(err, NQ_ERR_NOMEM, "attribute '%s': out of memory", at->name);
}
