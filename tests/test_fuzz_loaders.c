/* Deterministic mutation fuzzing of the file loaders (ONNX import with
 * what `nnquant info` does after it, NPY, IDX, gzip, datasets): seeded,
 * bounded, reproducible; run under ASan/UBSan it must find no crash, leak
 * or undefined behaviour, and every failure must carry a message naming the
 * file (tests/fuzz_targets.h). Then one regression case per loader bug
 * the fuzzers found.
 *
 * `test_fuzz_loaders ITERATIONS SEED` runs longer campaigns (default: a
 * fixed seed and a budget that fits a sanitizer build in seconds);
 * `test_fuzz_loaders --write-seeds DIR` writes the seeds (onnx_*.onnx for
 * the ONNX target, data_*.bin for the data target). The same targets run
 * under libFuzzer: tests/fuzz/README.md. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_targets.h"
#include "nqtest.h"
#include "test_onnx_pbenc.h"
#include "test_onnx_util.h"

/* Under ASan, any allocation over 64 MiB aborts the test: the inputs here
 * are small, so a large one can only come from a corrupt size field. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) { return "max_allocation_size_mb=64"; }

/* ---- mutations ---------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
    *s = *s * 6364136223846793005u + 1442695040888963407u;
    return *s >> 17;
}

static size_t rng_below(uint64_t *s, size_t n) { return n ? (size_t)(rng_next(s) % n) : 0; }

/* One to four mutations of buf (n bytes, capacity cap) in place; returns
 * the new length. Bit flips, bytes set to boundary values, truncation,
 * inflated 1/2/4-byte length fields (either byte order), varint inflation,
 * byte insertion and deletion. `keep` leading bytes are left alone. */
static size_t mutate(unsigned char *buf, size_t n, size_t cap, size_t keep, uint64_t *s)
{
    static const unsigned char special[] = {0x00, 0xff, 0x7f, 0x80, 0x01, 0xfe};
    int rounds = 1 + (int)rng_below(s, 4);
    for (int r = 0; r < rounds && n > keep; r++) {
        size_t pos = keep + rng_below(s, n - keep);
        switch (rng_below(s, 9)) {
        case 0: buf[pos] ^= (unsigned char)(1u << rng_below(s, 8)); break;
        case 1: buf[pos] = special[rng_below(s, sizeof special)]; break;
        case 2: n = pos; break; /* truncate */
        case 3: buf[pos] = (unsigned char)(buf[pos] * 2 + 1); break;
        case 4: /* a 32-bit field: huge, big- or little-endian */
            if (pos + 4 <= n) {
                static const uint32_t v[] = {0xffffffffu, 0x7fffffffu, 0x80000000u, 0x10000u, 0};
                uint32_t x = v[rng_below(s, 5)];
                int be = (int)rng_below(s, 2);
                for (int k = 0; k < 4; k++)
                    buf[pos + k] = (unsigned char)(x >> (be ? 24 - 8 * k : 8 * k));
            }
            break;
        case 5: /* a protobuf varint made long: set continuation bits */
            for (size_t k = pos; k < n && k < pos + 1 + rng_below(s, 9); k++) buf[k] |= 0x80;
            break;
        case 6: /* insert a byte */
            if (n < cap) {
                memmove(buf + pos + 1, buf + pos, n - pos);
                buf[pos] = special[rng_below(s, sizeof special)];
                n++;
            }
            break;
        case 7: /* delete a run */
        {
            size_t len = 1 + rng_below(s, 16);
            if (len > n - pos) len = n - pos;
            memmove(buf + pos, buf + pos + len, n - pos - len);
            n -= len;
            break;
        }
        default: /* a 16-bit field made huge */
            if (pos + 2 <= n) buf[pos] = buf[pos + 1] = 0xff;
            break;
        }
    }
    return n;
}

/* ---- seeds -------------------------------------------------------------- */

typedef struct seed {
    unsigned char *b;
    size_t n;
} seed;

static seed seed_of(pb *p)
{
    seed s = {p->b, p->n};
    memset(p, 0, sizeof *p);
    return s;
}

static seed seed_bytes(const void *d, size_t n)
{
    seed s = {malloc(n ? n : 1), n};
    REQUIRE(s.b != NULL);
    memcpy(s.b, d, n);
    return s;
}

/* x[1,1,5,5] -> Conv(W[1,1,3,3], B) -> Relu -> Reshape([1,-1]) -> Gemm -> y */
static seed onnx_seed_convnet(void)
{
    pb g = {0}, t = {0}, attrs = {0}, a = {0}, m = {0};
    int64_t dw[4] = {1, 1, 3, 3}, dx[4] = {1, 1, 5, 5}, d1 = 1, d2 = 2, dg[2] = {2, 9},
            dy[2] = {1, 2}, shape[2] = {1, -1};
    float w[18] = {0};
    pb_str(&g, G_NAME, "fz");
    pb_str(&a, A_NAME, "kernel_shape");
    pb_int(&a, A_INTS, 3);
    pb_int(&a, A_INTS, 3);
    pb_int(&a, A_TYPE, 7);
    pb_msg(&attrs, N_ATTR, &a);
    pb_str(&a, A_NAME, "pads");
    for (int i = 0; i < 4; i++) pb_int(&a, A_INTS, 0);
    pb_int(&a, A_TYPE, 7);
    pb_msg(&attrs, N_ATTR, &a);
    const char *cin[3] = {"x", "W", "B"}, *cout[1] = {"c"}, *rin[1] = {"c"}, *rout[1] = {"r"},
               *sin[2] = {"r", "shape"}, *sout[1] = {"f"}, *gin[3] = {"f", "G", "GB"},
               *gout[1] = {"y"};
    pb_node(&g, "conv", "Conv", 3, cin, 1, cout, &attrs);
    pb_node(&g, "relu", "Relu", 1, rin, 1, rout, NULL);
    pb_node(&g, "reshape", "Reshape", 2, sin, 1, sout, NULL);
    pb_str(&a, A_NAME, "transB");
    pb_int(&a, A_I, 1);
    pb_int(&a, A_TYPE, 2);
    pb_msg(&attrs, N_ATTR, &a);
    pb_node(&g, "gemm", "Gemm", 3, gin, 1, gout, &attrs);
    pb_tensor_head(&t, "W", 1, 4, dw);
    pb_bytes(&t, T_RAW, w, 36);
    pb_msg(&g, G_INIT, &t);
    pb_tensor_head(&t, "B", 1, 1, &d1);
    pb_float(&t, T_FLOAT, 0.5f);
    pb_msg(&g, G_INIT, &t);
    pb_tensor_head(&t, "shape", 7, 1, &d2);
    pb_int(&t, T_INT64, shape[0]);
    pb_int(&t, T_INT64, shape[1]);
    pb_msg(&g, G_INIT, &t);
    pb_tensor_head(&t, "G", 1, 2, dg);
    pb_bytes(&t, T_RAW, w, sizeof w);
    pb_msg(&g, G_INIT, &t);
    pb_tensor_head(&t, "GB", 1, 1, &d2);
    pb_bytes(&t, T_RAW, w, 8);
    pb_msg(&g, G_INIT, &t);
    pb_value_info(&g, G_INPUT, "x", 1, 4, dx);
    pb_value_info(&g, G_OUTPUT, "y", 1, 2, dy);
    pb_model(&m, 8, 13, &g);
    return seed_of(&m);
}

/* x[N,4] -> QuantizeLinear -> DequantizeLinear -> MaxPool-free chain of
 * Transpose, Concat, Slice, Pad, Softmax: a QDQ model with more ops. */
static seed onnx_seed_qdq(void)
{
    pb g = {0}, t = {0}, attrs = {0}, a = {0}, m = {0};
    int64_t dx[2] = {-1, 4}, d0 = 0, d1 = 1;
    pb_str(&g, G_NAME, "fzq");
    const char *qin[3] = {"x", "s", "z"}, *qout[1] = {"q"}, *din[3] = {"q", "s", "z"},
               *dout[1] = {"d"}, *tin[1] = {"d"}, *tout[1] = {"t"}, *cin[2] = {"t", "t"},
               *cout[1] = {"c"}, *smin[1] = {"c"}, *smout[1] = {"y"};
    pb_node(&g, "q", "QuantizeLinear", 3, qin, 1, qout, NULL);
    pb_node(&g, "dq", "DequantizeLinear", 3, din, 1, dout, NULL);
    pb_str(&a, A_NAME, "perm");
    pb_int(&a, A_INTS, 1);
    pb_int(&a, A_INTS, 0);
    pb_int(&a, A_TYPE, 7);
    pb_msg(&attrs, N_ATTR, &a);
    pb_node(&g, "tr", "Transpose", 1, tin, 1, tout, &attrs);
    pb_str(&a, A_NAME, "axis");
    pb_int(&a, A_I, 1);
    pb_int(&a, A_TYPE, 2);
    pb_msg(&attrs, N_ATTR, &a);
    pb_node(&g, "cat", "Concat", 2, cin, 1, cout, &attrs);
    pb_str(&a, A_NAME, "axis");
    pb_int(&a, A_I, -1);
    pb_int(&a, A_TYPE, 2);
    pb_msg(&attrs, N_ATTR, &a);
    pb_node(&g, "sm", "Softmax", 1, smin, 1, smout, &attrs);
    pb_tensor_head(&t, "s", 1, 0, &d0);
    pb_float(&t, T_FLOAT, 0.1f);
    pb_msg(&g, G_INIT, &t);
    pb_tensor_head(&t, "z", 3, 0, &d0);
    pb_int(&t, T_INT32, 0);
    pb_msg(&g, G_INIT, &t);
    pb_value_info(&g, G_INPUT, "x", 1, 2, dx);
    pb_value_info(&g, G_OUTPUT, "y", 1, -1, &d1);
    pb_model(&m, 8, 13, &g);
    return seed_of(&m);
}

static void put_be32(unsigned char *p, uint32_t v)
{
    for (int k = 0; k < 4; k++) p[k] = (unsigned char)(v >> (24 - 8 * k));
}

/* Data seeds carry the fz_data mode byte first. */
static seed data_seed_idx(unsigned char mode, int type, int rank, const uint32_t *dims,
                          size_t elem)
{
    unsigned char b[256] = {mode, 0, 0, (unsigned char)type, (unsigned char)rank};
    size_t n = 5, count = 1;
    for (int i = 0; i < rank; i++, n += 4) {
        put_be32(b + n, dims[i]);
        count *= dims[i];
    }
    for (size_t i = 0; i < count * elem && n < sizeof b; i++) b[n++] = (unsigned char)(i * 7 % 10);
    return seed_bytes(b, n);
}

static seed data_seed_npy(unsigned char mode, const char *descr, const char *shape, size_t bytes,
                          int major)
{
    char dict[200];
    int dl = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                      descr, shape);
    size_t pre = major == 1 ? 10 : 12, hl = (size_t)dl + 1;
    while ((pre + hl) % 16) hl++;
    unsigned char b[512] = {mode, 0x93, 'N', 'U', 'M', 'P', 'Y', (unsigned char)major, 0};
    size_t n = 9;
    b[n++] = (unsigned char)(hl & 0xff);
    b[n++] = (unsigned char)(hl >> 8);
    if (major != 1) {
        b[n++] = 0;
        b[n++] = 0;
    }
    memcpy(b + n, dict, (size_t)dl);
    memset(b + n + dl, ' ', hl - (size_t)dl - 1);
    n += hl;
    b[n - 1] = '\n';
    for (size_t i = 0; i < bytes && n < sizeof b; i++) b[n++] = (unsigned char)(i % 3);
    return seed_bytes(b, n);
}

/* A serialized TensorProto (for nq_onnx_load_tensor), mode byte first. */
static seed data_seed_tensor_pb(int dtype, int typed)
{
    pb t = {0};
    int64_t dims[2] = {2, 2};
    unsigned char mode = 0;
    pb_put(&t, &mode, 1);
    pb_tensor_head(&t, "t", dtype, 2, dims);
    if (typed) {
        for (int i = 0; i < 4; i++) pb_int(&t, T_INT32, i);
    } else {
        static const unsigned char raw[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
        pb_bytes(&t, T_RAW, raw, sizeof raw);
    }
    return seed_of(&t);
}

/* ---- campaigns ---------------------------------------------------------- */

static void campaign(const seed *seeds, int n_seeds, long iters, uint64_t rs, size_t keep,
                     void (*target)(const unsigned char *, size_t, const char *),
                     const char *arg)
{
    size_t cap = 0;
    for (int i = 0; i < n_seeds; i++)
        if (seeds[i].n + 64 > cap) cap = seeds[i].n + 64;
    unsigned char *buf = malloc(cap);
    REQUIRE(buf != NULL);
    for (long it = 0; it < iters; it++) {
        const seed *sd = &seeds[it % n_seeds];
        memcpy(buf, sd->b, sd->n);
        size_t n = it < n_seeds ? sd->n : mutate(buf, sd->n, cap, keep, &rs);
        target(buf, n, arg);
    }
    free(buf);
}

static void onnx_target(const unsigned char *d, size_t n, const char *base_dir)
{
    fz_onnx(d, n, base_dir);
}

/* The ONNX seeds: two crafted models, and models/mlp.onnx when found. */
static int onnx_seeds(seed *out)
{
    unsigned char *buf;
    size_t n;
    int k = 0;
    out[k++] = onnx_seed_convnet();
    out[k++] = onnx_seed_qdq();
    if (nq_read_file("models/mlp.onnx", &buf, &n, NULL) == NQ_OK) out[k++] = (seed){buf, n};
    return k;
}

#define N_DATA_SEEDS 22

static int data_seeds(seed *out)
{
    const uint32_t d3[3] = {3, 4, 4}, d1[1] = {6}, d2[2] = {2, 3};
    seed seeds[N_DATA_SEEDS] = {
        data_seed_idx(0, 0x08, 3, d3, 1),  data_seed_idx(1, 0x08, 3, d3, 1),
        data_seed_idx(3, 0x08, 3, d3, 1),  data_seed_idx(8, 0x08, 1, d1, 1),
        data_seed_idx(9, 0x08, 1, d1, 1),  data_seed_idx(0, 0x0D, 2, d2, 4),
        data_seed_idx(0, 0x0E, 2, d2, 8),  data_seed_idx(0, 0x0B, 2, d2, 2),
        data_seed_idx(10, 0x0C, 1, d1, 4),
        data_seed_npy(0, "<f4", "(2, 3)", 24, 1), data_seed_npy(1, "<f4", "(3, 2, 2)", 48, 1),
        data_seed_npy(4, ">f8", "(2, 3)", 48, 2), data_seed_npy(0, "<f2", "(2, 3)", 12, 3),
        data_seed_npy(8, "<i8", "(6,)", 48, 1),   data_seed_npy(10, "<u8", "(6, 1)", 48, 1),
        data_seed_npy(3, "|u1", "(3, 2)", 6, 1),  data_seed_npy(0, "<u2", "(2, 3)", 12, 1),
        data_seed_npy(0, "|b1", "(2, 3)", 6, 1),  data_seed_npy(9, ">u4", "(6,)", 24, 1),
        data_seed_tensor_pb(1, 0),                data_seed_tensor_pb(3, 1),
        data_seed_tensor_pb(22, 1),
    };
    memcpy(out, seeds, sizeof seeds);
    return N_DATA_SEEDS;
}

static void fuzz_onnx(long iters, uint64_t rs, const char *dir)
{
    seed seeds[3];
    int n_seeds = onnx_seeds(seeds);
    campaign(seeds, n_seeds, iters, rs, 0, onnx_target, dir);
    for (int i = 0; i < n_seeds; i++) free(seeds[i].b);
}

static void fuzz_data(long iters, uint64_t rs, const char *dir)
{
    seed seeds[N_DATA_SEEDS];
    int n_seeds = data_seeds(seeds);
    char *path = tu_path(dir, "fuzz.bin");
    campaign(seeds, n_seeds, iters, rs, 1, fz_data, path);
    /* the mode byte too: gzip on/off, limits, labels */
    campaign(seeds, n_seeds, iters / 8, rs ^ 0x5bd1e995u, 0, fz_data, path);
    free(path);
    for (int i = 0; i < n_seeds; i++) free(seeds[i].b);
}

/* Writes seeds[0..n) as DIR/<prefix>_<i>.<ext> and frees them. */
static void write_seed_files(const char *dir, const char *prefix, const char *ext, seed *seeds, int n)
{
    char name[64];
    for (int i = 0; i < n; i++) {
        snprintf(name, sizeof name, "%s_%d.%s", prefix, i, ext);
        char *path = tu_path(dir, name);
        REQUIRE(fz_write(path, seeds[i].b, seeds[i].n, 0));
        free(path);
        free(seeds[i].b);
    }
}

/* --write-seeds DIR: the seeds as files, for libFuzzer (tests/fuzz/README.md). */
static void write_seeds(const char *dir)
{
    seed seeds[N_DATA_SEEDS];
    write_seed_files(dir, "onnx", "onnx", seeds, onnx_seeds(seeds));
    write_seed_files(dir, "data", "bin", seeds, data_seeds(seeds));
}

/* ---- regressions -------------------------------------------------------- */

/* Loads a model that must import, then fails QDQ conversion with `needle`
 * in the message. */
static void expect_qdq_fail(pb *m, const char *needle)
{
    nq_graph *g = NULL;
    nq_error err = {0};
    REQUIRE(nq_onnx_load_buffer(m->b, m->n, NULL, &g, &err) == NQ_OK);
    CHECK(nq_graph_is_qdq(g));
    nq_status s = nq_qdq_import(g, &err);
    if (s == NQ_OK || strstr(err.msg, needle) == NULL) {
        fprintf(stderr, "QDQ import: status %d, message '%s', expected '%s'\n", (int)s, err.msg,
                needle);
        CHECK(0);
    }
    nq_graph_free(g);
    free(m->b);
    memset(m, 0, sizeof *m);
}

/* Graph "g": x -> QuantizeLinear -> q -> DequantizeLinear -> d, then node
 * `name` (op, reading `in`) -> y, and the scale initializer s = 0.5. */
static void qdq_then(pb *g, pb *t, const char *name, const char *op, int n_in, const char **in)
{
    const char *q_in[2] = {"x", "s"}, *q_out[1] = {"q"}, *dq_in[2] = {"q", "s"}, *dq_out[1] = {"d"};
    const char *out[1] = {"y"};
    int64_t d0 = 0;
    pb_str(g, G_NAME, "g");
    pb_node(g, "q", "QuantizeLinear", 2, q_in, 1, q_out, NULL);
    pb_node(g, "dq", "DequantizeLinear", 2, dq_in, 1, dq_out, NULL);
    pb_node(g, name, op, n_in, in, 1, out, NULL);
    pb_tensor_head(t, "s", 1, 0, &d0);
    pb_float(t, T_FLOAT, 0.5f);
    pb_msg(g, G_INIT, t);
}

/* QDQ import read values[-1] for an absent ("") data input or weight, and
 * scale[0] of an empty scale (fuzz: heap-buffer-overflow in do_node); by
 * review, the same for GlobalAveragePool and empty Clip bounds. */
static void test_qdq_absent_inputs(void)
{
    pb g = {0}, t = {0}, m = {0};
    int64_t d0 = 0, d2[2] = {1, 2};
    /* DequantizeLinear("", s) */
    const char *dq_in[2] = {"", "s"}, *dq_out[1] = {"y"};
    pb_str(&g, G_NAME, "g");
    pb_node(&g, "dq", "DequantizeLinear", 2, dq_in, 1, dq_out, NULL);
    pb_tensor_head(&t, "s", 1, 0, &d0);
    pb_float(&t, T_FLOAT, 0.5f);
    pb_msg(&g, G_INIT, &t);
    pb_model(&m, 8, 13, &g);
    expect_qdq_fail(&m, "missing data input");
    /* QuantizeLinear(x, s[0]) */
    const char *q_in[2] = {"x", "s"}, *q_out[1] = {"q"}, *dq2_in[2] = {"q", "s"};
    pb_str(&g, G_NAME, "g");
    pb_node(&g, "q", "QuantizeLinear", 2, q_in, 1, q_out, NULL);
    pb_node(&g, "dq", "DequantizeLinear", 2, dq2_in, 1, dq_out, NULL);
    pb_tensor_head(&t, "s", 1, 1, &d0);
    pb_msg(&g, G_INIT, &t);
    pb_value_info(&g, G_INPUT, "x", 1, 2, d2);
    pb_model(&m, 8, 13, &g);
    expect_qdq_fail(&m, "scale is empty");
    /* MatMul(DQ(Q(x)), "") */
    const char *mm_in[2] = {"d", ""};
    qdq_then(&g, &t, "mm", "MatMul", 2, mm_in);
    pb_value_info(&g, G_INPUT, "x", 1, 2, d2);
    pb_model(&m, 8, 13, &g);
    expect_qdq_fail(&m, "weights/bias must come from DequantizeLinear");
    /* GlobalAveragePool("", DQ(Q(x))) read the shape of values[-1] */
    const char *gap_in[2] = {"", "d"};
    qdq_then(&g, &t, "gap", "GlobalAveragePool", 2, gap_in);
    pb_value_info(&g, G_INPUT, "x", 1, 2, d2);
    pb_model(&m, 8, 13, &g);
    expect_qdq_fail(&m, "'gap'");
    /* Clip(DQ(Q(x)), lo[0], hi) read lo[0] of an empty bound */
    const char *clip_in[3] = {"d", "lo", "s"};
    qdq_then(&g, &t, "clip", "Clip", 3, clip_in);
    pb_tensor_head(&t, "lo", 1, 1, &d0);
    pb_msg(&g, G_INIT, &t);
    pb_value_info(&g, G_INPUT, "x", 1, 2, d2);
    pb_model(&m, 8, 13, &g);
    expect_qdq_fail(&m, "Clip bounds must be constants with one value");
}

/* A one-node opset-11 model x[2,4] -> op -> outputs, with one FLOATS
 * attribute `attr` where the op wants INTS: shape inference must fail with
 * a message, not read the missing integer list. */
static void expect_attr_type_fail(const char *op, const char *attr, int n_out)
{
    pb g = {0}, attrs = {0}, a = {0}, m = {0};
    int64_t dx[2] = {2, 4};
    const char *in[1] = {"x"}, *out[2] = {"y", "z"};
    pb_str(&g, G_NAME, "g");
    pb_str(&a, A_NAME, attr);
    pb_float(&a, A_FLOATS, 1.0f);
    pb_float(&a, A_FLOATS, 1.0f);
    pb_int(&a, A_TYPE, 6); /* FLOATS */
    pb_msg(&attrs, N_ATTR, &a);
    pb_node(&g, "n", op, 1, in, n_out, out, &attrs);
    pb_value_info(&g, G_INPUT, "x", 1, 2, dx);
    pb_model(&m, 6, 11, &g);
    nq_graph *gr = NULL;
    nq_error err = {0};
    REQUIRE(nq_onnx_load_buffer(m.b, m.n, NULL, &gr, &err) == NQ_OK);
    nq_status s = nq_graph_infer_shapes(gr, 1, &err);
    if (s == NQ_OK || strstr(err.msg, "must be a list of integers") == NULL) {
        fprintf(stderr, "%s with FLOATS '%s': status %d, message '%s'\n", op, attr, (int)s, err.msg);
        CHECK(0);
    }
    nq_graph_free(gr);
    free(m.b);
}

/* Unsqueeze/Squeeze 'axes' and Split 'split' (opset < 13) were read as
 * integer lists whatever their type (fuzz: NULL dereference). */
static void test_attr_types(void)
{
    expect_attr_type_fail("Unsqueeze", "axes", 1);
    expect_attr_type_fail("Squeeze", "axes", 1);
    expect_attr_type_fail("Split", "split", 2);
}

/* A Constant node whose output is absent ("") was folded at plan time
 * and wrote through a NULL output (fuzz: NULL dereference). */
static void test_node_without_output(void)
{
    pb g = {0}, attrs = {0}, a = {0}, m = {0};
    const char *out[1] = {""};
    pb_str(&g, G_NAME, "g");
    pb_str(&a, A_NAME, "value_float");
    pb_float(&a, A_F, 1.0f);
    pb_int(&a, A_TYPE, 1);
    pb_msg(&attrs, N_ATTR, &a);
    pb_node(&g, "c", "Constant", 0, NULL, 1, out, &attrs);
    pb_model(&m, 8, 13, &g);
    nq_graph *gr = NULL;
    nq_error err = {0};
    REQUIRE(nq_onnx_load_buffer(m.b, m.n, NULL, &gr, &err) == NQ_OK);
    CHECK(nq_graph_infer_shapes(gr, 1, &err) != NQ_OK && strstr(err.msg, "'c' (Constant)") &&
          strstr(err.msg, "no (first) output"));
    CHECK(nq_graph_fold_constants(gr, &err) != NQ_OK && strstr(err.msg, "no (first) output"));
    nq_graph_free(gr);
    free(m.b);
}

/* Empty tensors whose other dims multiply past int64 (an initializer
 * [0, 2^62, 2^62, 4], IDX [1, 0, 2^32-1 x3], NPY (1, 0, 2^40, 2^40)) were
 * accepted, and Flatten's shape inference overflowed (fuzz: UBSan signed
 * overflow). Now refused on load. */
static void test_empty_huge_dims(const char *dir)
{
    pb g = {0}, t = {0}, m = {0};
    int64_t dw[4] = {0, (int64_t)1 << 62, (int64_t)1 << 62, 4};
    const char *in[1] = {"W"}, *out[1] = {"y"};
    pb_str(&g, G_NAME, "g");
    pb_node(&g, "f", "Flatten", 1, in, 1, out, NULL);
    pb_tensor_head(&t, "W", 1, 4, dw);
    pb_bytes(&t, T_RAW, "", 0);
    pb_msg(&g, G_INIT, &t);
    pb_model(&m, 8, 13, &g);
    nq_graph *gr = NULL;
    nq_error err = {0};
    CHECK(nq_onnx_load_buffer(m.b, m.n, NULL, &gr, &err) == NQ_ERR_PARSE && gr == NULL);
    CHECK(strstr(err.msg, "initializer 'W'") && strstr(err.msg, "overflow"));
    free(m.b);

    static const unsigned char idx[] = {0, 0, 0x08, 5, 0, 0, 0, 1, 0, 0, 0, 0, 0xff, 0xff, 0xff,
                                        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    char *path = tu_path(dir, "huge.idx");
    REQUIRE(fz_write(path, idx, sizeof idx, 0));
    nq_tensor x;
    CHECK(nq_idx_load(path, &x, &err) != NQ_OK && strstr(err.msg, path) &&
          strstr(err.msg, "too large"));
    free(path);
    seed npy = data_seed_npy(0, "<f4", "(1, 0, 1099511627776, 1099511627776)", 0, 1);
    path = tu_path(dir, "huge.npy");
    REQUIRE(fz_write(path, npy.b + 1, npy.n - 1, 0));
    CHECK(nq_npy_load(path, &x, &err) != NQ_OK && strstr(err.msg, path) &&
          strstr(err.msg, "too large"));
    free(path);
    free(npy.b);
}

/* A gzip file of 120 KiB whose trailer claims 96 MiB of content: the
 * ISIZE guess was trusted up to deflate's 1032x ratio and allocated it all
 * up front (the file is then refused anyway: the length check fails). */
static void test_gzip_isize(const char *dir)
{
    size_t n = 120 * 1024;
    unsigned char *raw = malloc(n);
    REQUIRE(raw != NULL);
    uint64_t rs = 99;
    for (size_t i = 0; i < n; i++) raw[i] = (unsigned char)rng_next(&rs);
    raw[0] = raw[1] = 0; /* an IDX-like start, not that it matters */
    char *path = tu_path(dir, "isize.gz");
    REQUIRE(fz_write(path, raw, n, 1));
    FILE *f = fopen(path, "r+b");
    REQUIRE(f != NULL && fseek(f, -4, SEEK_END) == 0);
    const unsigned char isize[4] = {0, 0, 0, 6}; /* 96 MiB, little-endian */
    REQUIRE(fwrite(isize, 1, 4, f) == 4 && fclose(f) == 0);
    unsigned char *buf = NULL;
    size_t size = 0;
    nq_error err = {0};
    CHECK(nq_read_file(path, &buf, &size, &err) == NQ_ERR_PARSE && buf == NULL);
    CHECK(strstr(err.msg, path) && strstr(err.msg, "corrupt gzip"));
    free(path);
    free(raw);
}

/* An IDX file of 2^31 samples shaped [0, 5]: no bytes of data, but the
 * dataset loop ran over every empty sample (fuzz: timeout). */
static void test_empty_samples(const char *dir)
{
    static const unsigned char idx[] = {0, 0, 0x08, 3, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5};
    char *path = tu_path(dir, "empty_samples.idx");
    REQUIRE(fz_write(path, idx, sizeof idx, 0));
    nq_dataset *d = NULL;
    nq_error err = {0};
    CHECK(nq_dataset_load(path, NULL, NULL, 0, &d, &err) == NQ_ERR_SHAPE && d == NULL);
    CHECK(strstr(err.msg, path) != NULL && strstr(err.msg, "no values") != NULL);
    nq_tensor t;
    CHECK_OK(nq_idx_load(path, &t, NULL)); /* an empty array is still a valid IDX file */
    CHECK(nq_tensor_numel(&t) == 0);
    nq_tensor_free(&t);
    free(path);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0) {
        write_seeds(argv[2]);
        return 0;
    }
    long iters = argc > 1 ? strtol(argv[1], NULL, 10) : 5000;
    uint64_t rs = argc > 2 ? strtoull(argv[2], NULL, 10) : 20261206u;
    char *dir = tu_mkdtemp();
    fuzz_onnx(iters, rs, dir);
    fuzz_data(iters, rs, dir);
    test_qdq_absent_inputs();
    test_empty_samples(dir);
    test_attr_types();
    test_node_without_output();
    test_empty_huge_dims(dir);
    test_gzip_isize(dir);
    tu_rmtree(dir);
    TEST_MAIN_END();
}
