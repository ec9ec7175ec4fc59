/* A minimal protobuf *encoder* for the ONNX tests: it crafts small models
 * that nnquant's exporter would never write (typed data fields, external
 * data, wrong sizes, unsupported types) so that the importer can be tested
 * on them. Field numbers are those of onnx.proto. Test code only: it
 * aborts the test on allocation failure. */
#ifndef TEST_ONNX_PBENC_H
#define TEST_ONNX_PBENC_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pb {
    unsigned char *b;
    size_t n, cap;
} pb;

/* onnx.proto field numbers used by the tests */
enum {
    M_IR_VERSION = 1, M_PRODUCER = 2, M_GRAPH = 7, M_OPSET = 8, M_META = 14,
    G_NODE = 1, G_NAME = 2, G_INIT = 5, G_INPUT = 11, G_OUTPUT = 12, G_VALUE_INFO = 13,
    N_INPUT = 1, N_OUTPUT = 2, N_NAME = 3, N_OP = 4, N_ATTR = 5, N_DOMAIN = 7,
    A_NAME = 1, A_F = 2, A_I = 3, A_S = 4, A_T = 5, A_G = 6, A_FLOATS = 7, A_INTS = 8,
    A_STRINGS = 9, A_TYPE = 20,
    T_DIMS = 1, T_DTYPE = 2, T_FLOAT = 4, T_INT32 = 5, T_INT64 = 7, T_NAME = 8, T_RAW = 9,
    T_DOUBLE = 10, T_EXTERNAL = 13, T_LOCATION = 14,
    V_NAME = 1, V_TYPE = 2, TY_TENSOR = 1, TY_SEQUENCE = 4, TT_ELEM = 1, TT_SHAPE = 2,
    SH_DIM = 1, D_VALUE = 1, D_PARAM = 2, OS_DOMAIN = 1, OS_VERSION = 2, KV_KEY = 1,
    KV_VALUE = 2
};

static inline void pb_put(pb *p, const void *d, size_t n)
{
    if (p->n + n > p->cap) {
        size_t cap = p->cap ? p->cap : 64;
        while (cap < p->n + n) cap *= 2;
        unsigned char *b = realloc(p->b, cap);
        if (b == NULL) {
            fprintf(stderr, "pbenc: out of memory\n");
            exit(1);
        }
        p->b = b;
        p->cap = cap;
    }
    if (n > 0) memcpy(p->b + p->n, d, n);
    p->n += n;
}

static inline void pb_varint(pb *p, uint64_t v)
{
    unsigned char c;
    do {
        c = (unsigned char)(v & 0x7F);
        v >>= 7;
        if (v) c |= 0x80;
        pb_put(p, &c, 1);
    } while (v);
}

static inline void pb_tag(pb *p, int field, int wire) { pb_varint(p, ((uint64_t)field << 3) | (uint64_t)wire); }
static inline void pb_int(pb *p, int field, int64_t v)
{
    pb_tag(p, field, 0);
    pb_varint(p, (uint64_t)v); /* negative ints take 10 bytes, as in protobuf */
}
static inline void pb_bytes(pb *p, int field, const void *d, size_t n)
{
    pb_tag(p, field, 2);
    pb_varint(p, n);
    pb_put(p, d, n);
}
static inline void pb_str(pb *p, int field, const char *s) { pb_bytes(p, field, s, strlen(s)); }
static inline void pb_float(pb *p, int field, float f)
{
    unsigned char b[4];
    uint32_t u;
    memcpy(&u, &f, 4);
    for (int i = 0; i < 4; i++) b[i] = (unsigned char)(u >> (8 * i));
    pb_tag(p, field, 5);
    pb_put(p, b, 4);
}
static inline void pb_double(pb *p, int field, double f)
{
    unsigned char b[8];
    uint64_t u;
    memcpy(&u, &f, 8);
    for (int i = 0; i < 8; i++) b[i] = (unsigned char)(u >> (8 * i));
    pb_tag(p, field, 1);
    pb_put(p, b, 8);
}
/* Appends `sub` as a nested message and frees it. */
static inline void pb_msg(pb *p, int field, pb *sub)
{
    pb_bytes(p, field, sub->b, sub->n);
    free(sub->b);
    memset(sub, 0, sizeof *sub);
}

/* Helpers for whole ONNX pieces. */
static inline void pb_opset(pb *m, const char *domain, int64_t version)
{
    pb o = {0};
    pb_str(&o, OS_DOMAIN, domain);
    pb_int(&o, OS_VERSION, version);
    pb_msg(m, M_OPSET, &o);
}

/* ValueInfoProto with a tensor type; ndim < 0: no shape; dims[i] < 0:
 * dim_param "N" (i == 0) or no value. */
static inline void pb_value_info(pb *g, int field, const char *name, int elem, int ndim,
                          const int64_t *dims)
{
    pb v = {0}, ty = {0}, tt = {0}, sh = {0};
    pb_str(&v, V_NAME, name);
    pb_int(&tt, TT_ELEM, elem);
    if (ndim >= 0) {
        for (int i = 0; i < ndim; i++) {
            pb d = {0};
            if (dims[i] >= 0)
                pb_int(&d, D_VALUE, dims[i]);
            else if (i == 0)
                pb_str(&d, D_PARAM, "N");
            pb_msg(&sh, SH_DIM, &d);
        }
        pb_msg(&tt, TT_SHAPE, &sh);
    }
    pb_msg(&ty, TY_TENSOR, &tt);
    pb_msg(&v, V_TYPE, &ty);
    pb_msg(g, field, &v);
}

/* TensorProto header: name, dtype, dims (data fields are added by the caller). */
static inline void pb_tensor_head(pb *t, const char *name, int dtype, int ndim, const int64_t *dims)
{
    for (int i = 0; i < ndim; i++) pb_int(t, T_DIMS, dims[i]);
    pb_int(t, T_DTYPE, dtype);
    if (name) pb_str(t, T_NAME, name);
}

/* A node with string inputs/outputs ("" = absent). */
static inline void pb_node(pb *g, const char *name, const char *op, int nin, const char *const *in,
                    int nout, const char *const *out, pb *attrs /* may be NULL */)
{
    pb n = {0};
    for (int i = 0; i < nin; i++) pb_str(&n, N_INPUT, in[i]);
    for (int i = 0; i < nout; i++) pb_str(&n, N_OUTPUT, out[i]);
    if (name) pb_str(&n, N_NAME, name);
    pb_str(&n, N_OP, op);
    if (attrs != NULL && attrs->n > 0) pb_put(&n, attrs->b, attrs->n);
    if (attrs != NULL) {
        free(attrs->b);
        memset(attrs, 0, sizeof *attrs);
    }
    pb_msg(g, G_NODE, &n);
}

/* ModelProto around a graph (freed). */
static inline void pb_model(pb *m, int64_t ir, int64_t opset, pb *graph)
{
    pb_int(m, M_IR_VERSION, ir);
    pb_str(m, M_PRODUCER, "pbenc");
    pb_msg(m, M_GRAPH, graph);
    pb_opset(m, "", opset);
}

static inline int pb_write(const char *path, const pb *p)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) return 0;
    size_t w = p->n ? fwrite(p->b, 1, p->n, f) : 0;
    return fclose(f) == 0 && w == p->n;
}

#endif
