/* File entry points: nq_onnx_load and nq_onnx_load_tensor. Every error
 * message starts with the file's path. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnquant/onnx.h"
#include "onnx/onnx_internal.h"

nq_status nq_onnx_read_file(const char *path, unsigned char **buf, size_t *size, nq_error *err)
{
    *buf = NULL;
    *size = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return nq_error_set(err, NQ_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    unsigned char *b = malloc(cap);
    nq_status s = NQ_OK;
    while (b != NULL) {
        if (len == cap) {
            if (cap > SIZE_MAX / 2) {
                s = nq_error_set(err, NQ_ERR_NOMEM, "%s: file too large", path);
                break;
            }
            unsigned char *nb = realloc(b, cap * 2);
            if (nb == NULL) break;
            b = nb;
            cap *= 2;
        }
        size_t got = fread(b + len, 1, cap - len, f);
        len += got;
        if (got == 0) {
            if (ferror(f)) s = nq_error_set(err, NQ_ERR_IO, "%s: read error: %s", path, strerror(errno));
            break;
        }
    }
    if (b == NULL || (s == NQ_OK && len == cap && !feof(f)))
        s = nq_error_set(err, NQ_ERR_NOMEM, "%s: out of memory reading the file", path);
    fclose(f);
    if (s != NQ_OK) {
        free(b);
        return s;
    }
    *buf = b;
    *size = len;
    return NQ_OK;
}

char *nq_onnx_dirname(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t n = slash == NULL ? 0 : (slash == path ? 1 : (size_t)(slash - path));
    char *d = malloc(n + 2);
    if (d == NULL) return NULL;
    if (n == 0) {
        strcpy(d, ".");
    } else {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

nq_status nq_onnx_load(const char *path, nq_graph **out, nq_error *err)
{
    if (out != NULL) *out = NULL;
    if (path == NULL || out == NULL)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "nq_onnx_load: NULL argument");
    unsigned char *buf;
    size_t size;
    nq_status s = nq_onnx_read_file(path, &buf, &size, err);
    if (s != NQ_OK) return s;
    char *dir = nq_onnx_dirname(path);
    if (dir == NULL)
        s = nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    else
        s = nq_onnx_load_buffer(buf, size, dir, out, err);
    if (s != NQ_OK) nq_error_prefix(err, "%s", path);
    free(dir);
    free(buf);
    return s;
}

nq_status nq_onnx_load_tensor(const char *path, nq_tensor *out, nq_error *err)
{
    if (path == NULL || out == NULL)
        return nq_error_set(err, NQ_ERR_INVALID_ARG, "nq_onnx_load_tensor: NULL argument");
    memset(out, 0, sizeof *out);
    out->dtype = NQ_DTYPE_FLOAT32;
    unsigned char *buf;
    size_t size;
    nq_status s = nq_onnx_read_file(path, &buf, &size, err);
    if (s != NQ_OK) return s;
    Onnx__TensorProto *tp = NULL;
    char *dir = NULL;
    if (size == 0) {
        s = nq_error_set(err, NQ_ERR_PARSE, "empty file (0 bytes)");
    } else if ((tp = onnx__tensor_proto__unpack(NULL, size, buf)) == NULL) {
        s = nq_error_set(err, NQ_ERR_PARSE, "not a valid ONNX TensorProto (protobuf parse failed)");
    } else if ((dir = nq_onnx_dirname(path)) == NULL) {
        s = nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
    } else {
        char what[300];
        snprintf(what, sizeof what, "tensor '%s'", tp->name && tp->name[0] ? tp->name : "(unnamed)");
        s = nq_onnx_tensor_read(tp, what, dir, out, err);
    }
    if (s != NQ_OK) nq_error_prefix(err, "%s", path);
    if (tp != NULL) onnx__tensor_proto__free_unpacked(tp, NULL);
    free(dir);
    free(buf);
    return s;
}
