/* ONNX import of what nnquant's exporter never writes itself: typed data
 * fields (float_data, int32_data for small ints and packed int4, int64_data,
 * double_data), external data files, IR 3 initializers listed as inputs,
 * untyped attributes, unnamed nodes, out-of-order nodes, dim_param and
 * missing dims, serialized TensorProto files. Models are crafted with the
 * small encoder of test_onnx_pbenc.h. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnquant/onnx.h"
#include "nqtest.h"
#include "test_onnx_pbenc.h"
#include "test_onnx_util.h"

static const nq_tensor *init_of(const nq_graph *g, const char *name)
{
    int v = nq_graph_find_value(g, name);
    return v >= 0 ? g->values[v]->init : NULL;
}

static void attr_untyped_int(pb *attrs, const char *name, int64_t v)
{
    pb a = {0};
    pb_str(&a, A_NAME, name);
    pb_int(&a, A_I, v);
    pb_msg(attrs, N_ATTR, &a);
}

/* IR 3 model: typed fields, an initializer listed as input, unnamed and
 * out-of-order nodes, untyped attributes, value_info with unknown dims. */
static void write_typed_model(const char *path)
{
    pb g = {0}, t = {0}, m = {0}, attrs = {0}, a = {0};
    int64_t d3 = 3, d2 = 2, d1 = 1, d0 = 0, dx[2] = {-1, 3}, dr[2] = {-1, 3};
    pb_str(&g, G_NAME, "typed");
    /* file order: Neg (named "Relu_1") before the unnamed Relu that feeds it */
    const char *neg_in[1] = {"r"}, *neg_out[1] = {"s"}, *relu_in[1] = {"x"}, *relu_out[1] = {"r"};
    pb_node(&g, "Relu_1", "Neg", 1, neg_in, 1, neg_out, NULL);
    pb_node(&g, NULL, "Relu", 1, relu_in, 1, relu_out, NULL);
    /* Constant with a typed float_data tensor, kept as a node */
    pb_str(&a, A_NAME, "value");
    pb_tensor_head(&t, NULL, 1, 1, &d2);
    pb_float(&t, T_FLOAT, 0.5f);
    pb_float(&t, T_FLOAT, -4.0f);
    pb_msg(&a, A_T, &t);
    pb_int(&a, A_TYPE, 4);
    pb_msg(&attrs, N_ATTR, &a);
    const char *cst_out[1] = {"cst"};
    pb_node(&g, NULL, "Constant", 0, NULL, 1, cst_out, &attrs);
    /* custom node: absent input, untyped attributes (IR 1 style) */
    attr_untyped_int(&attrs, "axis", -2);
    pb_str(&a, A_NAME, "mode");
    pb_str(&a, A_S, "nearest");
    pb_msg(&attrs, N_ATTR, &a);
    pb_str(&a, A_NAME, "scales");
    pb_float(&a, A_FLOATS, 2.0f);
    pb_float(&a, A_FLOATS, 0.5f);
    pb_msg(&attrs, N_ATTR, &a);
    pb_str(&a, A_NAME, "names");
    pb_str(&a, A_STRINGS, "p");
    pb_str(&a, A_STRINGS, "qq");
    pb_msg(&attrs, N_ATTR, &a);
    pb_str(&attrs, N_DOMAIN, "test.domain"); /* raw node fields may ride along */
    const char *cu_in[3] = {"s", "", "f"}, *cu_out[1] = {"u"};
    pb_node(&g, "custom", "Custom", 3, cu_in, 1, cu_out, &attrs);
    /* initializers in typed fields */
    pb_tensor_head(&t, "f", 1, 1, &d3);
    pb_float(&t, T_FLOAT, 1.5f);
    pb_float(&t, T_FLOAT, -2.0f);
    pb_float(&t, T_FLOAT, 3.0f);
    pb_msg(&g, G_INIT, &t);
    pb_tensor_head(&t, "i8", 3, 1, &d3);
    pb_int(&t, T_INT32, -128);
    pb_int(&t, T_INT32, 0);
    pb_int(&t, T_INT32, 127);
    pb_msg(&g, G_INIT, &t);
    pb_tensor_head(&t, "u8", 2, 1, &d2);
    pb_int(&t, T_INT32, 0);
    pb_int(&t, T_INT32, 255);
    pb_msg(&g, G_INIT, &t);
    pb_tensor_head(&t, "bo", 9, 1, &d2);
    pb_int(&t, T_INT32, 1);
    pb_int(&t, T_INT32, 0);
    pb_msg(&g, G_INIT, &t);
    pb_tensor_head(&t, "i16", 5, 1, &d2);
    pb_int(&t, T_INT32, -300);
    pb_int(&t, T_INT32, 300);
    pb_msg(&g, G_INIT, &t);
    pb_tensor_head(&t, "i32", 6, 1, &d1);
    pb_int(&t, T_INT32, -5);
    pb_msg(&g, G_INIT, &t);
    pb_tensor_head(&t, "i64", 7, 1, &d2);
    pb_int(&t, T_INT64, -1);
    pb_int(&t, T_INT64, (int64_t)1 << 40);
    pb_msg(&g, G_INIT, &t);
    pb_tensor_head(&t, "d", 11, 1, &d2);
    pb_double(&t, T_DOUBLE, 0.1);
    pb_double(&t, T_DOUBLE, -2.0);
    pb_msg(&g, G_INIT, &t);
    pb_tensor_head(&t, "e", 1, 1, &d0);
    pb_msg(&g, G_INIT, &t);
    /* inputs: x, and the initializer f (IR < 4 lists initializers) */
    pb_value_info(&g, G_INPUT, "x", 1, 2, dx);
    pb_value_info(&g, G_INPUT, "f", 1, 1, &d3);
    pb_value_info(&g, G_OUTPUT, "u", 1, 2, dr);
    pb_value_info(&g, G_OUTPUT, "cst", 1, 1, &d2);
    pb_value_info(&g, G_VALUE_INFO, "r", 1, 2, dr); /* dims: "N" and 3 */
    pb_value_info(&g, G_VALUE_INFO, "s", 1, -1, NULL); /* unknown rank */
    pb_model(&m, 3, 9, &g);
    pb_opset(&m, "test.domain", 1);
    REQUIRE(pb_write(path, &m));
    free(m.b);
}

static void test_typed_model(const char *dir, int python)
{
    char *path = tu_path(dir, "typed.onnx"), *out = tu_path(dir, "typed_rt.onnx"), why[256];
    write_typed_model(path);
    nq_graph *g = NULL, *back = NULL;
    nq_error err = {0};
    CHECK(nq_onnx_load(path, &g, &err) == NQ_OK);
    if (g == NULL) {
        fprintf(stderr, "%s\n", err.msg);
        exit(1);
    }
    CHECK(g->ir_version == 3 && nq_graph_opset(g, "") == 9 && strcmp(g->producer_name, "pbenc") == 0);
    CHECK(g->n_inputs == 1 && strcmp(g->values[g->inputs[0]]->name, "x") == 0);
    const nq_tensor *t = init_of(g, "f");
    CHECK(t && t->dtype == NQ_DTYPE_FLOAT32 && ((float *)t->data)[1] == -2.0f);
    t = init_of(g, "i8");
    CHECK(t && t->dtype == NQ_DTYPE_INT8 && ((int8_t *)t->data)[0] == -128 && ((int8_t *)t->data)[2] == 127);
    t = init_of(g, "u8");
    CHECK(t && t->dtype == NQ_DTYPE_UINT8 && ((uint8_t *)t->data)[1] == 255);
    t = init_of(g, "bo");
    CHECK(t && t->dtype == NQ_DTYPE_BOOL && ((uint8_t *)t->data)[0] == 1);
    t = init_of(g, "i16");
    CHECK(t && t->dtype == NQ_DTYPE_INT16 && ((int16_t *)t->data)[0] == -300);
    t = init_of(g, "i32");
    CHECK(t && t->dtype == NQ_DTYPE_INT32 && ((int32_t *)t->data)[0] == -5);
    t = init_of(g, "i64");
    CHECK(t && t->dtype == NQ_DTYPE_INT64 && ((int64_t *)t->data)[1] == (int64_t)1 << 40);
    t = init_of(g, "d");
    CHECK(t && t->dtype == NQ_DTYPE_FLOAT64 && ((double *)t->data)[0] == 0.1);
    t = init_of(g, "e");
    CHECK(t && t->ndim == 1 && t->dims[0] == 0);
    /* toposorted, unnamed nodes named uniquely, Constant kept */
    REQUIRE(g->n_nodes == 4);
    CHECK(strcmp(g->nodes[0]->op_type, "Relu") == 0 && strcmp(g->nodes[0]->name, "Relu_1_1") == 0);
    nq_node *cst = nq_graph_find_node(g, "Constant_2");
    CHECK(cst && nq_node_attr(cst, "value") && nq_node_attr(cst, "value")->t->dims[0] == 2);
    CHECK(init_of(g, "cst") == NULL);
    nq_node *cu = nq_graph_find_node(g, "custom");
    REQUIRE(cu != NULL);
    CHECK(cu->inputs[1] == -1);
    CHECK(nq_node_attr_int(cu, "axis", 0) == -2);
    CHECK(strcmp(nq_node_attr_string(cu, "mode", ""), "nearest") == 0);
    const float *sc;
    CHECK(nq_node_attr_floats(cu, "scales", &sc) == 2 && sc[1] == 0.5f);
    const nq_attr *names = nq_node_attr(cu, "names");
    CHECK(names && names->type == NQ_ATTR_STRINGS && names->n == 2 && strcmp(names->strings[1], "qq") == 0);
    const nq_value *r = g->values[nq_graph_find_value(g, "r")];
    CHECK(r->ndim == 2 && r->dims[0] == -1 && r->dims[1] == 3);
    CHECK(g->values[nq_graph_find_value(g, "s")]->ndim == -1);
    /* exported as IR 3 (initializers repeated as inputs), re-imports identically */
    CHECK_OK(nq_onnx_save(g, out, &err));
    CHECK_OK(nq_onnx_load(out, &back, &err));
    CHECK(back && tu_graph_equal(g, back, why, sizeof why));
    if (python) CHECK(tu_python_check(out));
    nq_graph_free(back);
    nq_graph_free(g);
    free(path);
    free(out);
}

/* int4 in int32_data (one packed byte per entry), uint4 in raw_data. */
static void test_int4_import(const char *dir)
{
    pb g = {0}, t = {0}, m = {0};
    int64_t d3 = 3;
    pb_str(&g, G_NAME, "int4");
    pb_tensor_head(&t, "q4", 22, 1, &d3);
    pb_int(&t, T_INT32, 0x78); /* -8, 7 */
    pb_int(&t, T_INT32, 0x0F); /* -1 */
    pb_msg(&g, G_INIT, &t);
    pb_tensor_head(&t, "u4", 21, 1, &d3);
    const unsigned char raw[2] = {0x21, 0x03};
    pb_bytes(&t, T_RAW, raw, 2);
    pb_msg(&g, G_INIT, &t);
    pb_model(&m, 10, 21, &g);
    nq_graph *gr = NULL;
    nq_error err = {0};
    CHECK(nq_onnx_load_buffer(m.b, m.n, dir, &gr, &err) == NQ_OK);
    if (gr != NULL) {
        const nq_tensor *q = init_of(gr, "q4"), *u = init_of(gr, "u4");
        CHECK(q && q->dtype == NQ_DTYPE_INT4 && ((int8_t *)q->data)[0] == -8 &&
              ((int8_t *)q->data)[1] == 7 && ((int8_t *)q->data)[2] == -1);
        CHECK(u && u->dtype == NQ_DTYPE_UINT4 && ((uint8_t *)u->data)[0] == 1 &&
              ((uint8_t *)u->data)[1] == 2 && ((uint8_t *)u->data)[2] == 3);
    } else {
        fprintf(stderr, "%s\n", err.msg);
    }
    nq_graph_free(gr);
    free(m.b);
}

/* A model whose initializer w [3] lives in an external file. */
static void write_external_model(const char *path, const char *loc, const char *offset,
                                 const char *length)
{
    pb g = {0}, t = {0}, m = {0}, kv = {0};
    int64_t d3 = 3;
    pb_str(&g, G_NAME, "ext");
    pb_tensor_head(&t, "w", 1, 1, &d3);
    pb_str(&kv, KV_KEY, "location");
    pb_str(&kv, KV_VALUE, loc);
    pb_msg(&t, T_EXTERNAL, &kv);
    if (offset) {
        pb_str(&kv, KV_KEY, "offset");
        pb_str(&kv, KV_VALUE, offset);
        pb_msg(&t, T_EXTERNAL, &kv);
    }
    if (length) {
        pb_str(&kv, KV_KEY, "length");
        pb_str(&kv, KV_VALUE, length);
        pb_msg(&t, T_EXTERNAL, &kv);
    }
    pb_int(&t, T_LOCATION, 1);
    pb_msg(&g, G_INIT, &t);
    pb_value_info(&g, G_OUTPUT, "w", 1, 1, &d3);
    pb_model(&m, 8, 13, &g);
    REQUIRE(pb_write(path, &m));
    free(m.b);
}

static void expect_ext_error(const char *dir, const char *loc, const char *off, const char *len,
                             const char *needle)
{
    char *path = tu_path(dir, "ext_bad.onnx");
    write_external_model(path, loc, off, len);
    nq_graph *g = NULL;
    nq_error err = {0};
    CHECK(nq_onnx_load(path, &g, &err) != NQ_OK && g == NULL);
    CHECK(strstr(err.msg, path) != NULL && strstr(err.msg, "initializer 'w'") != NULL);
    if (strstr(err.msg, needle) == NULL) {
        fprintf(stderr, "expected '%s' in: %s\n", needle, err.msg);
        CHECK(0);
    }
    free(path);
}

static void test_external_data(const char *dir)
{
    char *bin = tu_path(dir, "weights.bin"), *path = tu_path(dir, "ext.onnx");
    float vals[3] = {1.0f, -2.5f, 3.25f};
    pb b = {0};
    const char pad[16] = "0123456789abcdef";
    pb_put(&b, pad, 16);
    for (int i = 0; i < 3; i++) { /* little-endian */
        uint32_t u;
        memcpy(&u, &vals[i], 4);
        unsigned char le[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16),
                               (unsigned char)(u >> 24)};
        pb_put(&b, le, 4);
    }
    REQUIRE(pb_write(bin, &b));
    write_external_model(path, "weights.bin", "16", "12");
    nq_graph *g = NULL;
    nq_error err = {0};
    CHECK(nq_onnx_load(path, &g, &err) == NQ_OK);
    const nq_tensor *w = g ? init_of(g, "w") : NULL;
    CHECK(w && ((float *)w->data)[0] == 1.0f && ((float *)w->data)[2] == 3.25f);
    if (!w) fprintf(stderr, "%s\n", err.msg);
    /* exported inline (raw_data), re-imports identically */
    void *buf = NULL;
    size_t n = 0;
    nq_graph *back = NULL;
    char why[256];
    if (g) CHECK_OK(nq_onnx_save_buffer(g, &buf, &n, NULL));
    if (buf) CHECK_OK(nq_onnx_load_buffer(buf, n, NULL, &back, NULL));
    CHECK(back && tu_graph_equal(g, back, why, sizeof why));
    nq_graph_free(back);
    nq_graph_free(g);
    free(buf);
    /* from memory, external data needs a base folder */
    unsigned char *mb = NULL;
    FILE *f = fopen(path, "rb");
    REQUIRE(f != NULL);
    mb = malloc(4096);
    size_t mn = fread(mb, 1, 4096, f);
    fclose(f);
    g = NULL;
    CHECK(nq_onnx_load_buffer(mb, mn, NULL, &g, &err) != NQ_OK && g == NULL);
    CHECK(nq_onnx_load_buffer(mb, mn, dir, &g, &err) == NQ_OK && g != NULL);
    nq_graph_free(g);
    free(mb);
    expect_ext_error(dir, "../weights.bin", NULL, NULL, "leaves the model's folder");
    expect_ext_error(dir, "a/../../weights.bin", NULL, NULL, "leaves the model's folder");
    expect_ext_error(dir, "/etc/passwd", NULL, NULL, "absolute");
    expect_ext_error(dir, "weights.bin", "16", "8", "does not match");
    expect_ext_error(dir, "weights.bin", "20", NULL, "needs 12 at offset 20");
    expect_ext_error(dir, "weights.bin", "-4", NULL, "bad external data offset");
    expect_ext_error(dir, "missing.bin", NULL, NULL, "cannot open");
    expect_ext_error(dir, "", NULL, NULL, "without a 'location'");
    free(bin);
    free(path);
    free(b.b);
}

static void test_load_tensor(const char *dir)
{
    const char *in0 = "/usr/share/libonnx-testdata/data/node/test_conv_with_strides_padding/"
                      "test_data_set_0/input_0.pb";
    nq_tensor t;
    nq_error err = {0};
    if (tu_file_exists(in0)) {
        CHECK(nq_onnx_load_tensor(in0, &t, &err) == NQ_OK);
        CHECK(t.dtype == NQ_DTYPE_FLOAT32 && t.ndim == 4 && t.dims[2] == 7 && t.dims[3] == 5);
        CHECK(t.data && ((float *)t.data)[34] == 34.0f);
        nq_tensor_free(&t);
    }
    pb tp = {0};
    int64_t dims[2] = {2, 2};
    pb_tensor_head(&tp, "ints", 7, 2, dims);
    for (int i = 0; i < 4; i++) pb_int(&tp, T_INT64, i - 2);
    char *path = tu_path(dir, "t.pb");
    REQUIRE(pb_write(path, &tp));
    CHECK(nq_onnx_load_tensor(path, &t, &err) == NQ_OK);
    CHECK(t.dtype == NQ_DTYPE_INT64 && ((int64_t *)t.data)[0] == -2 && ((int64_t *)t.data)[3] == 1);
    nq_tensor_free(&t);
    free(tp.b);
    free(path);
}

int main(void)
{
    char *dir = tu_mkdtemp();
    int python = tu_have_python_onnx();
    if (!python) printf("note: /usr/bin/python3 cannot import onnx; checker step skipped\n");
    test_typed_model(dir, python);
    test_int4_import(dir);
    test_external_data(dir);
    test_load_tensor(dir);
    tu_rmtree(dir);
    TEST_MAIN_END();
}
