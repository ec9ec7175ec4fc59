/* NPY reader (format versions 1.0, 2.0, 3.0; C order). */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

/* A numpy element type as read from 'descr'. */
typedef struct npy_kind {
    char kind;      /* 'b' bool, 'i' int, 'u' uint, 'f' float */
    int size;       /* bytes */
    int big_endian;
} npy_kind;

/* The nq dtype holding a numpy kind without loss (uint16 -> int32,
 * uint32/uint64 -> int64, float16 -> float32). */
static nq_dtype kind_to_dtype(npy_kind k)
{
    switch (k.kind) {
    case 'b': return k.size == 1 ? NQ_DTYPE_BOOL : NQ_DTYPE_UNDEFINED;
    case 'i':
        return k.size == 1 ? NQ_DTYPE_INT8 : k.size == 2 ? NQ_DTYPE_INT16
             : k.size == 4 ? NQ_DTYPE_INT32 : k.size == 8 ? NQ_DTYPE_INT64 : NQ_DTYPE_UNDEFINED;
    case 'u':
        return k.size == 1 ? NQ_DTYPE_UINT8 : k.size == 2 ? NQ_DTYPE_INT32
             : (k.size == 4 || k.size == 8) ? NQ_DTYPE_INT64 : NQ_DTYPE_UNDEFINED;
    case 'f':
        return (k.size == 2 || k.size == 4) ? NQ_DTYPE_FLOAT32
             : k.size == 8 ? NQ_DTYPE_FLOAT64 : NQ_DTYPE_UNDEFINED;
    default: return NQ_DTYPE_UNDEFINED;
    }
}

/* Finds the value text following 'key': in the header dict. */
static const char *dict_value(const char *h, const char *key)
{
    size_t klen = strlen(key);
    for (const char *p = h; (p = strchr(p, '\'')) != NULL; p++) {
        if (strncmp(p + 1, key, klen) == 0 && p[1 + klen] == '\'') {
            const char *q = p + 2 + klen;
            while (isspace((unsigned char)*q)) q++;
            if (*q != ':') return NULL;
            q++;
            while (isspace((unsigned char)*q)) q++;
            return q;
        }
    }
    return NULL;
}

static nq_status parse_descr(const char *v, const char *name, npy_kind *k, nq_error *err)
{
    if (v == NULL || (*v != '\'' && *v != '"'))
        return nq_error_set(err, v && *v == '[' ? NQ_ERR_UNSUPPORTED : NQ_ERR_PARSE,
                            "%s: %s", name, v && *v == '[' ? "structured NPY dtypes are not supported"
                                                          : "NPY header has no valid 'descr'");
    char q = *v++;
    const char *end = strchr(v, q);
    if (end == NULL || end - v < 2 || end - v > 8)
        return nq_error_set(err, NQ_ERR_PARSE, "%s: bad NPY 'descr'", name);
    char d[9];
    memcpy(d, v, (size_t)(end - v));
    d[end - v] = '\0';
    const char *t = d;
    k->big_endian = 0;
    if (*t == '<' || *t == '|') t++;
    else if (*t == '>') { k->big_endian = 1; t++; }
    else if (*t == '=') { k->big_endian = !nq_host_is_little_endian(); t++; }
    k->kind = *t++;
    char *stop;
    long sz = strtol(t, &stop, 10);
    k->size = (*stop == '\0' && sz > 0 && sz <= 16) ? (int)sz : 0;
    if (k->size == 1) k->big_endian = 0;
    if (*t == '\0' || k->size == 0 || kind_to_dtype(*k) == NQ_DTYPE_UNDEFINED)
        return nq_error_set(err, NQ_ERR_UNSUPPORTED,
                            "%s: NPY dtype '%s' is not supported (use float32/64, int8/16/32/64, "
                            "uint8/16/32/64 or bool)", name, d);
    return NQ_OK;
}

static nq_status parse_shape(const char *v, const char *name, int *ndim, int64_t *dims,
                             nq_error *err)
{
    if (v == NULL || *v != '(')
        return nq_error_set(err, NQ_ERR_PARSE, "%s: NPY header has no valid 'shape'", name);
    v++;
    *ndim = 0;
    for (;;) {
        while (isspace((unsigned char)*v)) v++;
        if (*v == ')') return NQ_OK;
        if (!isdigit((unsigned char)*v))
            return nq_error_set(err, NQ_ERR_PARSE, "%s: bad NPY 'shape'", name);
        if (*ndim >= NQ_MAX_DIMS)
            return nq_error_set(err, NQ_ERR_UNSUPPORTED, "%s: NPY array has more than %d dims",
                                name, NQ_MAX_DIMS);
        char *stop;
        long long d = strtoll(v, &stop, 10);
        if (d < 0 || d > ((int64_t)1 << 40))
            return nq_error_set(err, NQ_ERR_PARSE, "%s: bad NPY dimension %lld", name, d);
        dims[(*ndim)++] = d;
        v = stop;
        while (isspace((unsigned char)*v)) v++;
        if (*v == 'L') v++; /* python 2 long suffix */
        if (*v == ',') v++;
        else if (*v != ')')
            return nq_error_set(err, NQ_ERR_PARSE, "%s: bad NPY 'shape'", name);
    }
}

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0x1f) bits = sign | 0x7f800000u | (man << 13);
    else if (exp != 0) bits = sign | ((exp + 112) << 23) | (man << 13);
    else if (man == 0) bits = sign;
    else { /* subnormal half -> normal float */
        exp = 113;
        while (!(man & 0x400)) { man <<= 1; exp--; }
        bits = sign | (exp << 23) | ((man & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* Converts the raw payload `src` (numpy kind k, n elements, already in host
 * byte order) into the nq dtype of out. */
static nq_status convert(const unsigned char *src, npy_kind k, int64_t n, nq_tensor *out,
                         const char *name, nq_error *err)
{
    if (nq_dtype_size(out->dtype) == (size_t)k.size && !(k.kind == 'u' && k.size == 8)) {
        memcpy(out->data, src, (size_t)n * (size_t)k.size);
        return NQ_OK;
    }
    for (int64_t i = 0; i < n; i++) {
        const unsigned char *p = src + (size_t)i * (size_t)k.size;
        if (k.kind == 'f') { /* float16 */
            uint16_t h;
            memcpy(&h, p, 2);
            ((float *)out->data)[i] = half_to_float(h);
        } else if (k.size == 2) {
            uint16_t u;
            memcpy(&u, p, 2);
            ((int32_t *)out->data)[i] = u;
        } else if (k.size == 4) {
            uint32_t u;
            memcpy(&u, p, 4);
            ((int64_t *)out->data)[i] = u;
        } else {
            uint64_t u;
            memcpy(&u, p, 8);
            if (u > (uint64_t)INT64_MAX)
                return nq_error_set(err, NQ_ERR_DATA, "%s: uint64 value at index %lld does not fit "
                                    "int64", name, (long long)i);
            ((int64_t *)out->data)[i] = (int64_t)u;
        }
    }
    return NQ_OK;
}

/* Parses the NPY header: kind, shape and the offset of the data. */
static nq_status npy_header(const unsigned char *buf, size_t size, const char *name, npy_kind *k,
                            int *ndim, int64_t *dims, size_t *data_off, nq_error *err)
{
    if (size < 10 || memcmp(buf, "\x93NUMPY", 6) != 0)
        return nq_error_set(err, NQ_ERR_PARSE, "%s: not an NPY file (bad magic)", name);
    int major = buf[6];
    size_t hlen, hstart;
    if (major == 1) {
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (size < 12) return nq_error_set(err, NQ_ERR_PARSE, "%s: truncated NPY header", name);
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
        hstart = 12;
    } else {
        return nq_error_set(err, NQ_ERR_UNSUPPORTED, "%s: NPY format version %d.%d not supported",
                            name, major, buf[7]);
    }
    if (hlen > size - hstart)
        return nq_error_set(err, NQ_ERR_PARSE, "%s: truncated NPY header (%zu bytes announced, "
                            "file has %zu)", name, hlen, size);
    char *h = malloc(hlen + 1);
    if (h == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "%s: out of memory", name);
    memcpy(h, buf + hstart, hlen);
    h[hlen] = '\0';

    nq_status s = parse_descr(dict_value(h, "descr"), name, k, err);
    if (s == NQ_OK) s = parse_shape(dict_value(h, "shape"), name, ndim, dims, err);
    const char *fo = dict_value(h, "fortran_order");
    if (s == NQ_OK && fo == NULL)
        s = nq_error_set(err, NQ_ERR_PARSE, "%s: NPY header has no 'fortran_order'", name);
    if (s == NQ_OK && strncmp(fo, "True", 4) == 0) {
        int big = 0; /* Fortran order equals C order when at most one dim exceeds 1 */
        for (int i = 0; i < *ndim; i++) big += dims[i] > 1;
        if (big > 1)
            s = nq_error_set(err, NQ_ERR_UNSUPPORTED, "%s: Fortran-ordered NPY arrays are not "
                             "supported (save with numpy.ascontiguousarray)", name);
    }
    free(h);
    *data_off = hstart + hlen;
    return s;
}

size_t nq_npy_prefix_bytes(const unsigned char *buf, size_t size, int64_t limit, int64_t *total)
{
    npy_kind k = {0};
    int ndim = 0;
    int64_t dims[NQ_MAX_DIMS];
    size_t off;
    if (limit <= 0 || npy_header(buf, size, "", &k, &ndim, dims, &off, NULL) != NQ_OK ||
        ndim < 1 || limit >= dims[0])
        return 0;
    *total = dims[0];
    size_t per = (size_t)k.size;
    for (int i = 1; i < ndim; i++) per *= (size_t)dims[i];
    return off + (size_t)limit * per;
}

nq_status nq_npy_parse(const unsigned char *buf, size_t size, const char *name, int64_t limit,
                       nq_tensor *out, nq_error *err)
{
    npy_kind k = {0};
    int ndim = 0;
    int64_t dims[NQ_MAX_DIMS];
    size_t off;
    nq_status s = npy_header(buf, size, name, &k, &ndim, dims, &off, err);
    if (s != NQ_OK) return s;
    int prefix = limit > 0 && ndim >= 1 && limit < dims[0];
    if (prefix) dims[0] = limit;

    nq_dtype dt = kind_to_dtype(k);
    s = nq_tensor_init(out, dt, ndim, dims, err);
    if (s != NQ_OK) return nq_error_prefix(err, "%s", name);
    int64_t n = nq_tensor_numel(out);
    size_t payload = (size_t)n * (size_t)k.size, have = size - off;
    if (have < payload) {
        char sh[128];
        return nq_error_set(err, NQ_ERR_PARSE, "%s: truncated NPY data: shape %s needs %zu bytes, "
                            "file has %zu", name, nq_shape_str(ndim, dims, sh, sizeof sh),
                            payload, have);
    }
    if (have > payload && !prefix)
        return nq_error_set(err, NQ_ERR_PARSE, "%s: NPY file has %zu bytes after the data of its "
                            "shape (header and size disagree)", name, have - payload);
    unsigned char *src = (unsigned char *)buf + off;
    unsigned char *tmp = NULL;
    if (k.big_endian == nq_host_is_little_endian() && k.size > 1) {
        tmp = malloc(payload ? payload : 1);
        if (tmp == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "%s: out of memory", name);
        memcpy(tmp, src, payload);
        nq_byteswap(tmp, (size_t)n, (size_t)k.size);
        src = tmp;
    }
    s = nq_tensor_alloc(out, dt, ndim, dims, err);
    if (s == NQ_OK) s = convert(src, k, n, out, name, err);
    free(tmp);
    if (s != NQ_OK) nq_tensor_free(out);
    return s;
}

nq_status nq_npy_load(const char *path, nq_tensor *out, nq_error *err)
{
    if (path == NULL || out == NULL)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "nq_npy_load: NULL argument");
    unsigned char *buf;
    size_t size;
    nq_status s = nq_read_file(path, &buf, &size, err);
    if (s != NQ_OK) return s;
    s = nq_npy_parse(buf, size, path, 0, out, err);
    free(buf);
    return s;
}
