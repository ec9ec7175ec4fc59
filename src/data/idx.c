/* IDX reader (the MNIST format): magic 00 00 <type> <rank>, big-endian
 * uint32 dims, then big-endian data. */
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"

typedef struct idx_type {
    unsigned char code;
    nq_dtype dtype;
    const char *name;
} idx_type;

static const idx_type idx_types[] = {
    {0x08, NQ_DTYPE_UINT8, "ubyte"}, {0x09, NQ_DTYPE_INT8, "byte"},
    {0x0B, NQ_DTYPE_INT16, "short"}, {0x0C, NQ_DTYPE_INT32, "int"},
    {0x0D, NQ_DTYPE_FLOAT32, "float"}, {0x0E, NQ_DTYPE_FLOAT64, "double"},
};

static const idx_type *find_type(unsigned char code)
{
    for (size_t i = 0; i < sizeof idx_types / sizeof idx_types[0]; i++)
        if (idx_types[i].code == code) return &idx_types[i];
    return NULL;
}

size_t nq_idx_prefix_bytes(const unsigned char *buf, size_t size, int64_t limit, int64_t *total)
{
    if (limit <= 0 || size < 4 || buf[3] == 0 || buf[3] > NQ_MAX_DIMS) return 0;
    const idx_type *ty = find_type(buf[2]);
    size_t rank = buf[3], hdr = 4 + 4 * rank;
    if (ty == NULL || size < hdr) return 0;
    size_t per = nq_dtype_size(ty->dtype);
    int64_t n = 0;
    for (size_t i = 0; i < rank; i++) {
        const unsigned char *p = buf + 4 + 4 * i;
        size_t d = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3];
        if (i == 0) n = (int64_t)d;
        else per *= d;
    }
    *total = n;
    return limit < n ? hdr + (size_t)limit * per : 0;
}

nq_status nq_idx_parse(const unsigned char *buf, size_t size, const char *name, int64_t limit,
                       nq_tensor *out, nq_error *err)
{
    if (size < 4)
        return nq_error_set(err, NQ_ERR_PARSE, "%s: truncated IDX file (%zu bytes)", name, size);
    const idx_type *ty = find_type(buf[2]);
    int rank = buf[3];
    if (buf[0] != 0 || buf[1] != 0 || ty == NULL || rank == 0)
        return nq_error_set(err, NQ_ERR_PARSE, "%s: bad IDX magic %02x %02x %02x %02x", name,
                            buf[0], buf[1], buf[2], buf[3]);
    if (rank > NQ_MAX_DIMS)
        return nq_error_set(err, NQ_ERR_UNSUPPORTED, "%s: IDX rank %d (at most %d supported)",
                            name, rank, NQ_MAX_DIMS);
    size_t hdr = 4 + 4 * (size_t)rank;
    if (size < hdr)
        return nq_error_set(err, NQ_ERR_PARSE, "%s: truncated IDX header (%zu bytes, rank %d)",
                            name, size, rank);
    int64_t dims[NQ_MAX_DIMS];
    for (int i = 0; i < rank; i++) {
        const unsigned char *p = buf + 4 + 4 * i;
        dims[i] = (int64_t)p[0] << 24 | (int64_t)p[1] << 16 | (int64_t)p[2] << 8 | p[3];
    }
    int prefix = limit > 0 && limit < dims[0];
    if (prefix) dims[0] = limit;
    nq_status s = nq_tensor_init(out, ty->dtype, rank, dims, err);
    if (s != NQ_OK) return nq_error_prefix(err, "%s", name);
    size_t need = nq_tensor_nbytes(out), have = size - hdr;
    char sh[128];
    if (have < need || (have > need && !prefix))
        return nq_error_set(err, NQ_ERR_PARSE, "%s: %s IDX %s data: header dims %s need %zu "
                            "bytes, file has %zu", name, have < need ? "truncated" : "oversized",
                            ty->name, nq_shape_str(rank, dims, sh, sizeof sh), need, have);
    s = nq_tensor_alloc(out, ty->dtype, rank, dims, err);
    if (s != NQ_OK) return nq_error_prefix(err, "%s", name);
    if (need > 0) {
        memcpy(out->data, buf + hdr, need);
        if (nq_host_is_little_endian())
            nq_byteswap(out->data, (size_t)nq_tensor_numel(out), nq_dtype_size(ty->dtype));
    }
    return NQ_OK;
}

nq_status nq_idx_load(const char *path, nq_tensor *out, nq_error *err)
{
    if (path == NULL || out == NULL)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "nq_idx_load: NULL argument");
    unsigned char *buf;
    size_t size;
    nq_status s = nq_read_file(path, &buf, &size, err);
    if (s != NQ_OK) return s;
    s = nq_idx_parse(buf, size, path, 0, out, err);
    free(buf);
    return s;
}
