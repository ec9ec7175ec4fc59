/* Bad ONNX input: every case must fail with a non-OK status and a message
 * naming the file (and the node/value where relevant), never crash or
 * leak; failed saves must leave no half-written file.
 *
 * `test_onnx_corrupt --write-corpus DIR` only writes the corrupt files
 * (.onnx and .pb files in DIR) and exits: a fixture for CLI tests, so that no
 * corrupt file needs to be committed. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nnquant/onnx.h"
#include "nqtest.h"
#include "test_onnx_pbenc.h"
#include "test_onnx_util.h"

/* A valid model: x -> Conv(W, B) -> y. raw_len: bytes of W's raw_data
 * (36 is right); w_dims: W's dims (NULL: {1,1,3,3}). */
static void valid_model(pb *m, size_t raw_len, int w_ndim, const int64_t *w_dims, int w_dtype)
{
    pb g = {0}, t = {0}, attrs = {0}, a = {0};
    int64_t dw[4] = {1, 1, 3, 3}, dx[4] = {1, 1, 5, 5}, dy[4] = {1, 1, 3, 3}, d1 = 1;
    unsigned char raw[64] = {0};
    pb_str(&g, G_NAME, "conv");
    pb_str(&a, A_NAME, "kernel_shape");
    pb_int(&a, A_INTS, 3);
    pb_int(&a, A_INTS, 3);
    pb_int(&a, A_TYPE, 7);
    pb_msg(&attrs, N_ATTR, &a);
    const char *in[3] = {"x", "W", "B"}, *out[1] = {"y"};
    pb_node(&g, "conv0", "Conv", 3, in, 1, out, &attrs);
    pb_tensor_head(&t, "W", w_dtype, w_dims ? w_ndim : 4, w_dims ? w_dims : dw);
    pb_bytes(&t, T_RAW, raw, raw_len);
    pb_msg(&g, G_INIT, &t);
    pb_tensor_head(&t, "B", 1, 1, &d1);
    pb_float(&t, T_FLOAT, 0.5f);
    pb_msg(&g, G_INIT, &t);
    pb_value_info(&g, G_INPUT, "x", 1, 4, dx);
    pb_value_info(&g, G_OUTPUT, "y", 1, 4, dy);
    pb_model(m, 8, 13, &g);
}

/* A one-node graph `op(inputs) -> y` with extra raw node fields. */
static void one_node_model(pb *m, const char *op, int nin, const char *const *in, pb *extra,
                           int in_elem)
{
    pb g = {0};
    int64_t d2 = 2;
    const char *out[1] = {"y"};
    pb_str(&g, G_NAME, "one");
    pb_node(&g, "n0", op, nin, in, 1, out, extra);
    pb_value_info(&g, G_INPUT, "x", in_elem, 1, &d2);
    pb_value_info(&g, G_OUTPUT, "y", 1, 1, &d2);
    pb_model(m, 8, 13, &g);
}

typedef struct corrupt_case {
    const char *file;
    nq_status code;      /* expected status; NQ_OK: any failure */
    const char *needle1; /* expected in the message (besides the path), or NULL */
    const char *needle2;
} corrupt_case;

static const corrupt_case cases[] = {
    {"empty.onnx", NQ_ERR_PARSE, "empty file", NULL},
    {"random.onnx", NQ_OK, NULL, NULL},
    {"truncated.onnx", NQ_ERR_PARSE, "protobuf parse failed", NULL},
    {"bad_raw_size.onnx", NQ_ERR_PARSE, "initializer 'W'", "raw_data has 8 bytes, expected 36"},
    {"negative_dim.onnx", NQ_ERR_PARSE, "initializer 'W'", "negative dimension"},
    {"huge_dims.onnx", NQ_ERR_PARSE, "initializer 'W'", "overflow"},
    {"rank9.onnx", NQ_ERR_UNSUPPORTED, "initializer 'W'", "rank 9"},
    {"missing_initializer.onnx", NQ_ERR_PARSE, "node 'n0' (Conv)", "input 'W' is not defined"},
    {"float16_initializer.onnx", NQ_ERR_UNSUPPORTED, "initializer 'W'", "FLOAT16"},
    {"string_input.onnx", NQ_ERR_UNSUPPORTED, "graph input 'x'", "STRING"},
    {"graph_attribute.onnx", NQ_ERR_UNSUPPORTED, "node 'n0' (If)", "attribute 'then_branch'"},
    {"no_graph.onnx", NQ_ERR_PARSE, "no graph", NULL},
    {"typed_count.onnx", NQ_ERR_PARSE, "initializer 'B'", "float_data holds 2 values, expected 1"},
    {"int8_range.onnx", NQ_ERR_PARSE, "initializer 'q'", "out of range for int8"},
    {"undefined_output.onnx", NQ_ERR_PARSE, "graph output 'nope'", NULL},
    {"duplicate_output.onnx", NQ_ERR_PARSE, "output 'y' is already defined", NULL},
    {"cycle.onnx", NQ_ERR_PARSE, "cycle", NULL},
    {"tensor_not_model.onnx", NQ_ERR_PARSE, NULL, NULL},
};
#define N_CASES (sizeof cases / sizeof cases[0])

static void write_corpus(const char *dir)
{
    pb m = {0}, x = {0}, t = {0};
    char *p;
#define EMIT(name) do { p = tu_path(dir, name); REQUIRE(pb_write(p, &m)); free(p); free(m.b); \
        memset(&m, 0, sizeof m); } while (0)
    EMIT("empty.onnx");
    uint64_t s = 0x9E3779B97F4A7C15u;
    for (int i = 0; i < 1000; i++) {
        s = s * 6364136223846793005u + 1442695040888963407u;
        unsigned char c = (unsigned char)(s >> 56);
        pb_put(&m, &c, 1);
    }
    EMIT("random.onnx");
    valid_model(&m, 36, 0, NULL, 1);
    m.n /= 2;
    EMIT("truncated.onnx");
    valid_model(&m, 8, 0, NULL, 1);
    EMIT("bad_raw_size.onnx");
    int64_t neg[4] = {1, -1, 3, 3}, huge[4] = {1 << 30, 1 << 30, 1 << 30, 1 << 30}, r9[9] = {1, 1, 1, 1, 1, 1, 1, 3, 3};
    valid_model(&m, 36, 4, neg, 1);
    EMIT("negative_dim.onnx");
    valid_model(&m, 36, 4, huge, 1);
    EMIT("huge_dims.onnx");
    valid_model(&m, 36, 9, r9, 1);
    EMIT("rank9.onnx");
    valid_model(&m, 18, 0, NULL, 10);
    EMIT("float16_initializer.onnx");
    const char *conv_in[2] = {"x", "W"}, *relu_in[1] = {"x"}, *if_in[1] = {"x"};
    one_node_model(&m, "Conv", 2, conv_in, NULL, 1);
    EMIT("missing_initializer.onnx");
    one_node_model(&m, "Relu", 1, relu_in, NULL, 8);
    EMIT("string_input.onnx");
    pb a = {0}, sub = {0};
    pb_str(&sub, G_NAME, "branch");
    pb_str(&a, A_NAME, "then_branch");
    pb_msg(&a, A_G, &sub);
    pb_int(&a, A_TYPE, 5);
    pb_msg(&x, N_ATTR, &a);
    one_node_model(&m, "If", 1, if_in, &x, 9);
    EMIT("graph_attribute.onnx");
    pb_int(&m, M_IR_VERSION, 8);
    EMIT("no_graph.onnx");
    /* B with two float_data values for one element */
    int64_t d1 = 1;
    pb g = {0};
    pb_str(&g, G_NAME, "g");
    pb_tensor_head(&t, "B", 1, 1, &d1);
    pb_float(&t, T_FLOAT, 1.0f);
    pb_float(&t, T_FLOAT, 2.0f);
    pb_msg(&g, G_INIT, &t);
    pb_model(&m, 8, 13, &g);
    EMIT("typed_count.onnx");
    pb_str(&g, G_NAME, "g");
    pb_tensor_head(&t, "q", 3, 1, &d1);
    pb_int(&t, T_INT32, 300);
    pb_msg(&g, G_INIT, &t);
    pb_model(&m, 8, 13, &g);
    EMIT("int8_range.onnx");
    pb_str(&g, G_NAME, "g");
    pb_value_info(&g, G_OUTPUT, "nope", 1, 1, &d1);
    pb_model(&m, 8, 13, &g);
    EMIT("undefined_output.onnx");
    const char *xin[1] = {"x"}, *yout[1] = {"y"}, *yin[1] = {"y"}, *zout[1] = {"z"};
    pb_str(&g, G_NAME, "g");
    pb_node(&g, "a", "Relu", 1, xin, 1, yout, NULL);
    pb_node(&g, "b", "Neg", 1, xin, 1, yout, NULL);
    pb_value_info(&g, G_INPUT, "x", 1, 1, &d1);
    pb_model(&m, 8, 13, &g);
    EMIT("duplicate_output.onnx");
    pb_str(&g, G_NAME, "g");
    pb_node(&g, "a", "Relu", 1, yin, 1, zout, NULL);
    const char *zin[1] = {"z"};
    pb_node(&g, "b", "Neg", 1, zin, 1, yout, NULL);
    pb_model(&m, 8, 13, &g);
    EMIT("cycle.onnx");
    pb_tensor_head(&m, "t", 1, 1, &d1);
    pb_float(&m, T_FLOAT, 1.0f);
    EMIT("tensor_not_model.onnx");
    /* serialized tensors for nq_onnx_load_tensor */
    pb_tensor_head(&m, "t", 1, 1, &d1);
    pb_bytes(&m, T_RAW, "abc", 3);
    EMIT("bad_tensor.pb");
    pb_tensor_head(&m, "t", 8, 1, &d1);
    pb_bytes(&m, 6, "abc", 3);
    EMIT("string_tensor.pb");
#undef EMIT
}

static void test_corpus(const char *dir)
{
    for (size_t i = 0; i < N_CASES; i++) {
        char *path = tu_path(dir, cases[i].file);
        nq_graph dummy, *g = &dummy; /* must be reset to NULL */
        nq_error err = {0};
        nq_status s = nq_onnx_load(path, &g, &err);
        int good = s != NQ_OK && g == NULL && err.code == s && strstr(err.msg, path) != NULL &&
                   (cases[i].code == NQ_OK || s == cases[i].code) &&
                   (!cases[i].needle1 || strstr(err.msg, cases[i].needle1)) &&
                   (!cases[i].needle2 || strstr(err.msg, cases[i].needle2));
        if (!good) {
            fprintf(stderr, "%s: status %d, message: %s\n", cases[i].file, (int)s, err.msg);
            CHECK(0);
        }
        if (s == NQ_OK && g != NULL) nq_graph_free(g);
        free(path);
    }
    const char *tensors[3] = {"bad_tensor.pb", "string_tensor.pb", "empty.onnx"};
    for (int i = 0; i < 3; i++) {
        char *path = tu_path(dir, tensors[i]);
        nq_tensor t;
        nq_error err = {0};
        CHECK(nq_onnx_load_tensor(path, &t, &err) != NQ_OK && strstr(err.msg, path) != NULL);
        CHECK(t.data == NULL);
        free(path);
    }
}

static void test_paths(const char *dir)
{
    nq_graph *g = NULL;
    nq_error err = {0};
    char *missing = tu_path(dir, "does_not_exist.onnx");
    CHECK(nq_onnx_load(missing, &g, &err) == NQ_ERR_IO && g == NULL && strstr(err.msg, missing));
    CHECK(nq_onnx_load(dir, &g, &err) == NQ_ERR_IO && strstr(err.msg, dir)); /* a folder */
    nq_tensor t;
    CHECK(nq_onnx_load_tensor(missing, &t, &err) == NQ_ERR_IO && strstr(err.msg, missing));
    free(missing);
}

/* Truncations and byte flips of a valid model: no crash (ASan/valgrind
 * watch), and whatever loads must save and load again. */
static void test_fuzz(void)
{
    pb m = {0};
    valid_model(&m, 36, 0, NULL, 1);
    int failed = 0;
    for (size_t n = 0; n < m.n; n++) {
        nq_graph *g = NULL;
        if (nq_onnx_load_buffer(m.b, n, ".", &g, NULL) != NQ_OK) failed++;
        nq_graph_free(g);
    }
    CHECK(failed > (int)m.n * 9 / 10);
    unsigned char *buf = malloc(m.n);
    REQUIRE(buf != NULL);
    uint64_t s = 12345;
    for (int it = 0; it < 3000; it++) {
        memcpy(buf, m.b, m.n);
        for (int k = 0; k < 1 + it % 4; k++) {
            s = s * 6364136223846793005u + 1442695040888963407u;
            buf[(s >> 33) % m.n] ^= (unsigned char)(1u << ((s >> 20) & 7));
        }
        nq_graph *g = NULL, *back = NULL;
        if (nq_onnx_load_buffer(buf, m.n, ".", &g, NULL) == NQ_OK) {
            void *out = NULL;
            size_t on = 0;
            CHECK_OK(nq_onnx_save_buffer(g, &out, &on, NULL));
            CHECK_OK(nq_onnx_load_buffer(out, on, NULL, &back, NULL));
            free(out);
        }
        nq_graph_free(back);
        nq_graph_free(g);
    }
    free(buf);
    free(m.b);
}

/* A failed save leaves the previous file intact and no temp file behind. */
static void test_failed_save(const char *dir)
{
    pb m = {0};
    valid_model(&m, 36, 0, NULL, 1);
    nq_graph *g = NULL, *bad = nq_graph_create("bad");
    nq_error err = {0};
    REQUIRE(nq_onnx_load_buffer(m.b, m.n, NULL, &g, NULL) == NQ_OK);
    char *sub = tu_path(dir, "save");
    REQUIRE(mkdir(sub, 0755) == 0);
    char *path = tu_path(sub, "model.onnx"), *nodir = tu_path(sub, "nodir/model.onnx");
    CHECK_OK(nq_onnx_save(g, path, NULL));
    /* an invalid graph: a node reads a value nobody defines */
    int v = nq_graph_add_value(bad, "ghost", NULL), o = nq_graph_add_value(bad, "o", NULL);
    REQUIRE(nq_graph_add_node(bad, "Relu", "r", 1, &v, 1, &o, NULL) != NULL);
    CHECK(nq_onnx_save(bad, path, &err) != NQ_OK && strstr(err.msg, path) && strstr(err.msg, "ghost"));
    nq_graph *back = NULL;
    char why[256];
    CHECK(nq_onnx_load(path, &back, NULL) == NQ_OK && tu_graph_equal(g, back, why, sizeof why));
    CHECK(nq_onnx_save(g, nodir, &err) == NQ_ERR_IO && strstr(err.msg, nodir));
    tu_rmtree(sub); /* rmdir fails if a temp file was left behind */
    struct stat st;
    char *again = tu_path(dir, "save");
    CHECK(stat(again, &st) != 0);
    free(again);
    nq_graph_free(back);
    nq_graph_free(bad);
    nq_graph_free(g);
    free(path);
    free(nodir);
    free(m.b);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-corpus") == 0) {
        write_corpus(argv[2]);
        return 0;
    }
    char *dir = tu_mkdtemp();
    write_corpus(dir);
    test_corpus(dir);
    test_paths(dir);
    test_fuzz();
    test_failed_save(dir);
    tu_rmtree(dir);
    TEST_MAIN_END();
}
