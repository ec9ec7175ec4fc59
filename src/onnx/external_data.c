/* External tensor data: TensorProto.external_data keys location / offset /
 * length, the file resolved relative to the model's folder. Locations that
 * are absolute or step out of that folder ('..') are refused. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "onnx/onnx_internal.h"

/* Decimal digits only, no sign, no overflow. */
static int parse_u64(const char *s, uint64_t *v)
{
    uint64_t n = 0;
    if (s == NULL || *s == '\0') return 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return 0;
        unsigned d = (unsigned)(*s - '0');
        if (n > (UINT64_MAX - d) / 10) return 0;
        n = n * 10 + d;
    }
    *v = n;
    return 1;
}

/* 1 if `loc` is a relative path that stays inside its base folder. */
static int location_is_safe(const char *loc)
{
    if (loc[0] == '/' || loc[0] == '\\') return 0;
    if (strchr(loc, ':') != NULL) return 0; /* "C:\..." and the like */
    const char *p = loc;
    while (*p) {
        size_t n = strcspn(p, "/\\");
        if (n == 2 && p[0] == '.' && p[1] == '.') return 0;
        p += n;
        if (*p) p++;
    }
    return 1;
}

static nq_status read_at(const char *path, const char *what, uint64_t offset, size_t len,
                         unsigned char **data, nq_error *err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return nq_error_set(err, NQ_ERR_IO, "%s: cannot open external data file '%s': %s", what,
                            path, strerror(errno));
    nq_status s = NQ_OK;
    off_t size = -1;
    if (fseeko(f, 0, SEEK_END) == 0) size = ftello(f);
    if (size < 0) {
        s = nq_error_set(err, NQ_ERR_IO, "%s: cannot read external data file '%s'", what, path);
    } else if (offset > (uint64_t)size || (uint64_t)size - offset < (uint64_t)len) {
        s = nq_error_set(err, NQ_ERR_PARSE,
                         "%s: external data file '%s' has %lld bytes, needs %zu at offset %" PRIu64,
                         what, path, (long long)size, len, offset);
    } else if (fseeko(f, (off_t)offset, SEEK_SET) != 0) {
        s = nq_error_set(err, NQ_ERR_IO, "%s: cannot seek in external data file '%s'", what, path);
    } else if ((*data = malloc(len ? len : 1)) == NULL) {
        s = nq_error_set(err, NQ_ERR_NOMEM, "%s: out of memory (%zu bytes)", what, len);
    } else if (len > 0 && fread(*data, 1, len, f) != len) {
        s = nq_error_set(err, NQ_ERR_IO, "%s: cannot read external data file '%s'", what, path);
        free(*data);
        *data = NULL;
    }
    fclose(f);
    return s;
}

nq_status nq_onnx_external_read(const Onnx__TensorProto *tp, const char *what,
                                const char *base_dir, size_t expected,
                                unsigned char **data, nq_error *err)
{
    const char *loc = NULL;
    uint64_t offset = 0, length = 0;
    int has_length = 0;
    *data = NULL;
    for (size_t i = 0; i < tp->n_external_data; i++) {
        const Onnx__StringStringEntryProto *e = tp->external_data[i];
        const char *k = e->key ? e->key : "", *v = e->value ? e->value : "";
        if (strcmp(k, "location") == 0) {
            loc = v;
        } else if (strcmp(k, "offset") == 0) {
            if (!parse_u64(v, &offset))
                return nq_error_set(err, NQ_ERR_PARSE, "%s: bad external data offset '%s'", what, v);
        } else if (strcmp(k, "length") == 0) {
            if (!parse_u64(v, &length))
                return nq_error_set(err, NQ_ERR_PARSE, "%s: bad external data length '%s'", what, v);
            has_length = 1;
        }
    }
    if (loc == NULL || loc[0] == '\0')
        return nq_error_set(err, NQ_ERR_PARSE, "%s: external data without a 'location'", what);
    if (!location_is_safe(loc))
        return nq_error_set(err, NQ_ERR_PARSE,
                            "%s: external data location '%s' is absolute or leaves the model's folder",
                            what, loc);
    if (base_dir == NULL)
        return nq_error_set(err, NQ_ERR_INVALID_ARG,
                            "%s: external data '%s' needs the model's folder (none given)", what, loc);
    if (has_length && length != (uint64_t)expected)
        return nq_error_set(err, NQ_ERR_PARSE,
                            "%s: external data length %" PRIu64 " does not match the %zu bytes of its shape",
                            what, length, expected);
    if (offset > (uint64_t)INT64_MAX)
        return nq_error_set(err, NQ_ERR_PARSE, "%s: external data offset too large", what);
    if (base_dir[0] == '\0') base_dir = ".";
    size_t lb = strlen(base_dir), ll = strlen(loc);
    char *path = malloc(lb + ll + 2);
    if (path == NULL) return nq_error_set(err, NQ_ERR_NOMEM, "%s: out of memory", what);
    memcpy(path, base_dir, lb);
    path[lb] = '/';
    memcpy(path + lb + 1, loc, ll + 1);
    nq_status s = read_at(path, what, offset, expected, data, err);
    free(path);
    return s;
}
