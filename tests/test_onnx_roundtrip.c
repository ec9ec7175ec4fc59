/* ONNX export/import round trips: a graph built with the core API (every
 * attribute kind, many dtypes, int4 packing), real models from Debian's
 * libonnx-testdata, and the Python ONNX checker on saved files. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnquant/onnx.h"
#include "nqtest.h"
#include "test_onnx_util.h"

#define TESTDATA "/usr/share/libonnx-testdata/data"

static char *dup_s(const char *s)
{
    char *d = malloc(strlen(s) + 1);
    REQUIRE(d != NULL);
    strcpy(d, s);
    return d;
}

/* Adds an initializer of `dtype` with elements v[i] (converted). */
static int add_init(nq_graph *g, const char *name, nq_dtype dtype, int ndim, const int64_t *dims,
                    const double *v)
{
    nq_tensor t;
    REQUIRE(nq_tensor_alloc(&t, dtype, ndim, dims, NULL) == NQ_OK);
    for (int64_t i = 0; i < nq_tensor_numel(&t); i++) nq_tensor_set(&t, i, v ? v[i] : (double)i * 0.37 - 1);
    int id = nq_graph_add_initializer(g, name, &t, NULL);
    REQUIRE(id >= 0);
    return id;
}

static int add_typed(nq_graph *g, const char *name, nq_dtype dt, int ndim, const int64_t *dims)
{
    int v = nq_graph_add_value(g, name, NULL);
    REQUIRE(v >= 0);
    g->values[v]->dtype = dt;
    g->values[v]->ndim = ndim;
    for (int i = 0; i < ndim; i++) g->values[v]->dims[i] = dims[i];
    return v;
}

/* Conv -> Relu, a Constant, and a custom-domain node carrying every
 * attribute kind and reading initializers of every dtype. */
static nq_graph *build_graph(int with_int4)
{
    nq_graph *g = nq_graph_create("roundtrip");
    REQUIRE(g != NULL);
    g->producer_name = dup_s("nnquant-test");
    if (with_int4) g->ir_version = 10;
    REQUIRE(nq_graph_set_opset(g, "", 13, NULL) == NQ_OK);
    REQUIRE(nq_graph_set_opset(g, "com.nnquant", 1, NULL) == NQ_OK);
    g->meta_keys = calloc(2, sizeof(char *));
    g->meta_values = calloc(2, sizeof(char *));
    REQUIRE(g->meta_keys && g->meta_values);
    g->meta_keys[0] = dup_s("author");
    g->meta_values[0] = dup_s("tests");
    g->meta_keys[1] = dup_s("quantization.ptq.precision");
    g->meta_values[1] = dup_s("int8");
    g->n_meta = 2;

    int64_t dx[4] = {-1, 3, 8, 8}, dw[4] = {4, 3, 3, 3}, dc[4] = {-1, 4, 8, 8};
    int x = add_typed(g, "x", NQ_DTYPE_FLOAT32, 4, dx);
    REQUIRE(nq_graph_add_input(g, x, NULL) == NQ_OK);
    int w = add_init(g, "W", NQ_DTYPE_FLOAT32, 4, dw, NULL);
    int64_t d4 = 4, d5 = 5, d3 = 3, d2 = 2, d0 = 0, d22[2] = {2, 2};
    int b = add_init(g, "B", NQ_DTYPE_FLOAT32, 1, &d4, NULL);
    int c = add_typed(g, "c", NQ_DTYPE_FLOAT32, 4, dc);
    int r = add_typed(g, "r", NQ_DTYPE_FLOAT32, 4, dc);
    int ins[3] = {x, w, b};
    nq_node *conv = nq_graph_add_node(g, "Conv", "conv1", 3, ins, 1, &c, NULL);
    REQUIRE(conv != NULL);
    int64_t ks[2] = {3, 3}, pads[4] = {1, 1, 1, 1}, st[2] = {1, 1};
    CHECK_OK(nq_node_set_ints(conv, "kernel_shape", 2, ks));
    CHECK_OK(nq_node_set_ints(conv, "pads", 4, pads));
    CHECK_OK(nq_node_set_ints(conv, "strides", 2, st));
    CHECK_OK(nq_node_set_int(conv, "group", 1));
    REQUIRE(nq_graph_add_node(g, "Relu", "relu1", 1, &c, 1, &r, NULL) != NULL);

    int k = nq_graph_add_value(g, "k", NULL);
    nq_node *cst = nq_graph_add_node(g, "Constant", "const0", 0, NULL, 1, &k, NULL);
    REQUIRE(cst != NULL);
    nq_tensor *kt = nq_tensor_new();
    REQUIRE(kt && nq_tensor_alloc(kt, NQ_DTYPE_FLOAT32, 1, &d2, NULL) == NQ_OK);
    ((float *)kt->data)[0] = 1.5f;
    ((float *)kt->data)[1] = -2.0f;
    CHECK_OK(nq_node_set_tensor(cst, "value", kt));

    double i8v[5] = {-128, -1, 0, 1, 127}, u8v[4] = {0, 1, 200, 255}, i16v[3] = {-32768, 5, 32767};
    double i32v[2] = {-2147483648.0, 2147483647.0}, i64v[3] = {-5e15, 0, 5e15}, bv[4] = {1, 0, 0, 1};
    double f64v[2] = {3.141592653589793, -1e-300};
    int cin[16], nin = 0, y, z;
    cin[nin++] = r;
    cin[nin++] = -1; /* absent optional input */
    cin[nin++] = k;
    cin[nin++] = add_init(g, "i8", NQ_DTYPE_INT8, 1, &d5, i8v);
    cin[nin++] = add_init(g, "u8", NQ_DTYPE_UINT8, 2, d22, u8v);
    cin[nin++] = add_init(g, "i16", NQ_DTYPE_INT16, 1, &d3, i16v);
    cin[nin++] = add_init(g, "i32", NQ_DTYPE_INT32, 1, &d2, i32v);
    cin[nin++] = add_init(g, "i64", NQ_DTYPE_INT64, 1, &d3, i64v);
    cin[nin++] = add_init(g, "b", NQ_DTYPE_BOOL, 1, &d4, bv);
    cin[nin++] = add_init(g, "f64", NQ_DTYPE_FLOAT64, 1, &d2, f64v);
    cin[nin++] = add_init(g, "scalar", NQ_DTYPE_FLOAT32, 0, NULL, NULL);
    cin[nin++] = add_init(g, "empty", NQ_DTYPE_FLOAT32, 1, &d0, NULL);
    if (with_int4) {
        double q4[5] = {-8, -1, 0, 3, 7}, u4[3] = {0, 9, 15};
        cin[nin++] = add_init(g, "q4", NQ_DTYPE_INT4, 1, &d5, q4);
        cin[nin++] = add_init(g, "u4", NQ_DTYPE_UINT4, 1, &d3, u4);
    }
    int64_t dy[2] = {-1, -1};
    y = add_typed(g, "y", NQ_DTYPE_FLOAT32, 2, dy);  /* dim_param "N", "y_dim1" */
    z = add_typed(g, "z", NQ_DTYPE_FLOAT32, -1, NULL); /* unknown rank: no shape */
    int couts[3] = {y, -1, z};
    nq_node *all = nq_graph_add_node(g, "AllAttrs", "all_attrs", nin, cin, 3, couts, NULL);
    REQUIRE(all != NULL);
    free(all->domain);
    all->domain = dup_s("com.nnquant");
    float fl[3] = {1.5f, -0.5f, 3e-7f};
    int64_t il[4] = {1, -2, 3, INT64_MAX};
    CHECK_OK(nq_node_set_float(all, "f", 0.25f));
    CHECK_OK(nq_node_set_int(all, "i", -7));
    CHECK_OK(nq_node_set_string(all, "s", "hello world"));
    CHECK_OK(nq_node_set_floats(all, "floats", 3, fl));
    CHECK_OK(nq_node_set_ints(all, "ints", 4, il));
    CHECK_OK(nq_node_set_ints(all, "empty_ints", 0, NULL));
    nq_tensor *at = nq_tensor_new();
    REQUIRE(at && nq_tensor_alloc(at, NQ_DTYPE_INT64, 1, &d3, NULL) == NQ_OK);
    ((int64_t *)at->data)[2] = -9;
    CHECK_OK(nq_node_set_tensor(all, "t", at));
    /* STRINGS has no setter: append through nq_attr_copy */
    char *strs[3] = {"a", "bc", ""};
    nq_attr src = {.name = "strings", .type = NQ_ATTR_STRINGS, .n = 3, .strings = strs};
    nq_attr *grown = realloc(all->attrs, sizeof(nq_attr) * (size_t)(all->n_attrs + 1));
    REQUIRE(grown != NULL);
    all->attrs = grown;
    REQUIRE(nq_attr_copy(&all->attrs[all->n_attrs], &src) == NQ_OK);
    all->n_attrs++;

    REQUIRE(nq_graph_add_output(g, r, NULL) == NQ_OK);
    REQUIRE(nq_graph_add_output(g, y, NULL) == NQ_OK);
    REQUIRE(nq_graph_validate(g, NULL) == NQ_OK);
    return g;
}

static void test_built_graph(const char *dir, int python)
{
    char why[256] = "";
    for (int with_int4 = 0; with_int4 <= 1; with_int4++) {
        nq_graph *g = build_graph(with_int4), *back = NULL;
        char *path = tu_path(dir, with_int4 ? "built_int4.onnx" : "built.onnx");
        nq_error err = {0};
        CHECK(nq_onnx_save(g, path, &err) == NQ_OK);
        if (err.code) fprintf(stderr, "save: %s\n", err.msg);
        CHECK(nq_onnx_load(path, &back, &err) == NQ_OK);
        if (err.code) fprintf(stderr, "load: %s\n", err.msg);
        REQUIRE(back != NULL);
        if (!tu_graph_equal(g, back, why, sizeof why)) {
            fprintf(stderr, "built graph (int4=%d) round trip: %s\n", with_int4, why);
            CHECK(0);
        }
        /* export is deterministic: save(load(save(g))) == save(g) */
        void *b1 = NULL, *b2 = NULL;
        size_t n1 = 0, n2 = 0;
        CHECK_OK(nq_onnx_save_buffer(g, &b1, &n1, NULL));
        CHECK_OK(nq_onnx_save_buffer(back, &b2, &n2, NULL));
        CHECK(n1 == n2 && n1 > 0 && memcmp(b1, b2, n1) == 0);
        if (with_int4) {
            /* raw_data (field 9) of q4 {-8,-1,0,3,7}: 0xF8 0x30 0x07; u4 {0,9,15}: 0x90 0x0F */
            const unsigned char q4[5] = {0x4A, 3, 0xF8, 0x30, 0x07}, u4[4] = {0x4A, 2, 0x90, 0x0F};
            int fq = 0, fu = 0;
            for (size_t i = 0; i + 5 <= n1; i++) {
                fq |= memcmp((unsigned char *)b1 + i, q4, 5) == 0;
                fu |= memcmp((unsigned char *)b1 + i, u4, 4) == 0;
            }
            CHECK(fq && fu);
            const nq_value *v = back->values[nq_graph_find_value(back, "q4")];
            CHECK(v->init && v->init->dtype == NQ_DTYPE_INT4 && ((int8_t *)v->init->data)[0] == -8 &&
                  ((int8_t *)v->init->data)[4] == 7);
        }
        free(b1);
        free(b2);
        if (python && !with_int4) CHECK(tu_python_check(path));
        nq_graph_free(back);
        nq_graph_free(g);
        free(path);
    }
}

/* Loads a model, saves it, reloads it, compares; optionally checks the
 * saved file with Python and the test tensors with nq_onnx_load_tensor. */
static nq_status roundtrip_model(const char *mdir, const char *tmp, int python, int verbose)
{
    char path[1024], why[256] = "";
    snprintf(path, sizeof path, "%s/model.onnx", mdir);
    nq_graph *g = NULL, *back = NULL;
    nq_error err = {0};
    nq_status s = nq_onnx_load(path, &g, &err);
    if (s != NQ_OK) {
        if (verbose) fprintf(stderr, "%s\n", err.msg);
        CHECK(strstr(err.msg, path) != NULL);
        return s;
    }
    CHECK(nq_graph_validate(g, NULL) == NQ_OK);
    char *out = tu_path(tmp, "rt.onnx");
    CHECK_OK(nq_onnx_save(g, out, &err));
    CHECK_OK(nq_onnx_load(out, &back, &err));
    if (back == NULL || !tu_graph_equal(g, back, why, sizeof why)) {
        fprintf(stderr, "%s: round trip differs: %s %s\n", path, why, err.msg);
        CHECK(0);
    }
    if (python) CHECK(tu_python_check(out));
    snprintf(path, sizeof path, "%s/test_data_set_0/input_0.pb", mdir);
    if (tu_file_exists(path) && g->n_inputs > 0) {
        nq_tensor t;
        s = nq_onnx_load_tensor(path, &t, &err);
        const nq_value *in = g->values[g->inputs[0]];
        if (s == NQ_OK) {
            CHECK(t.dtype == in->dtype && t.ndim == in->ndim);
            nq_tensor_free(&t);
        } else {
            CHECK(s == NQ_ERR_UNSUPPORTED && strstr(err.msg, path) != NULL);
        }
    }
    unlink(out);
    free(out);
    nq_graph_free(back);
    nq_graph_free(g);
    return NQ_OK;
}

static void test_selected_models(const char *tmp, int python)
{
    static const char *const models[] = {
        "node/test_conv_with_strides_padding", "node/test_constant", "node/test_gemm_all_attributes",
        "node/test_maxpool_2d_pads", "node/test_batchnorm_epsilon", "node/test_dequantizelinear",
        "node/test_qlinearconv", "node/test_lstm_defaults", "pytorch-converted/test_Conv2d",
        "pytorch-operator/test_operator_conv", "simple/test_single_relu_model",
    };
    char mdir[512];
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        snprintf(mdir, sizeof mdir, "%s/%s", TESTDATA, models[i]);
        if (!tu_file_exists(mdir)) {
            printf("note: %s not installed, skipped\n", models[i]);
            continue;
        }
        nq_status s = roundtrip_model(mdir, tmp, python, 1);
        if (s != NQ_OK) fprintf(stderr, "%s: status %d\n", models[i], (int)s);
        CHECK(s == NQ_OK);
    }
}

/* Every model of the test data: loads or fails as UNSUPPORTED, never worse. */
static void test_all_models(const char *tmp)
{
    static const char *const sets[] = {"node", "pytorch-converted", "pytorch-operator", "simple"};
    int ok = 0, unsupported = 0;
    for (size_t k = 0; k < sizeof sets / sizeof sets[0]; k++) {
        char sdir[512], mdir[1024];
        snprintf(sdir, sizeof sdir, "%s/%s", TESTDATA, sets[k]);
        DIR *d = opendir(sdir);
        if (d == NULL) continue;
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') continue;
            snprintf(mdir, sizeof mdir, "%s/%s", sdir, e->d_name);
            nq_status s = roundtrip_model(mdir, tmp, 0, 0);
            if (s == NQ_OK) {
                ok++;
            } else if (s == NQ_ERR_UNSUPPORTED) {
                unsupported++;
            } else {
                roundtrip_model(mdir, tmp, 0, 1);
                fprintf(stderr, "%s: unexpected status %d\n", mdir, (int)s);
                CHECK(0);
            }
        }
        closedir(d);
    }
    printf("test data: %d models round-tripped, %d refused as unsupported\n", ok, unsupported);
    if (ok + unsupported > 0) CHECK(ok > unsupported);
}

int main(void)
{
    char *tmp = tu_mkdtemp();
    int python = tu_have_python_onnx();
    if (!python) printf("note: /usr/bin/python3 cannot import onnx; checker step skipped\n");
    test_built_graph(tmp, python);
    if (tu_file_exists(TESTDATA)) {
        test_selected_models(tmp, python);
        test_all_models(tmp);
    } else {
        printf("note: %s not installed; test-data round trips skipped\n", TESTDATA);
    }
    tu_rmtree(tmp);
    TEST_MAIN_END();
}
