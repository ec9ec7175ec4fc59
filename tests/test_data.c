/* Data layer: IDX / NPY / gzip reading, NPY writing, preprocessing,
 * batching and the error paths (NaN, truncation, label mismatch...). */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "nnquant/data.h"
#include "nqtest.h"

static char dir[64];

static const char *tmp_path(const char *name)
{
    static char buf[4][256]; /* test-only scratch, rotated */
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void write_bytes(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    REQUIRE(f != NULL);
    REQUIRE(fwrite(p, 1, n, f) == n);
    fclose(f);
}

static void write_gz(const char *path, const void *p, size_t n, const char *mode)
{
    gzFile g = gzopen(path, mode);
    REQUIRE(g != NULL);
    REQUIRE(gzwrite(g, p, (unsigned)n) == (int)n);
    gzclose(g);
}

/* IDX header: 00 00 type rank, dims big-endian. Returns header length. */
static size_t idx_header(unsigned char *b, int type, int rank, const uint32_t *dims)
{
    b[0] = b[1] = 0;
    b[2] = (unsigned char)type;
    b[3] = (unsigned char)rank;
    for (int i = 0; i < rank; i++) {
        b[4 + 4 * i] = (unsigned char)(dims[i] >> 24);
        b[5 + 4 * i] = (unsigned char)(dims[i] >> 16);
        b[6 + 4 * i] = (unsigned char)(dims[i] >> 8);
        b[7 + 4 * i] = (unsigned char)dims[i];
    }
    return 4 + 4 * (size_t)rank;
}

/* A hand-made NPY v1.0 file: header dict + raw payload. */
static void write_npy_raw(const char *path, const char *dict, const void *data, size_t n, int major)
{
    unsigned char buf[4096];
    size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
    size_t total = ((pre + dl + 1 + 63) / 64) * 64, hlen = total - pre;
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (unsigned char)major;
    buf[7] = 0;
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    if (major != 1) buf[10] = buf[11] = 0;
    memcpy(buf + pre, dict, dl);
    memset(buf + pre + dl, ' ', total - pre - dl - 1);
    buf[total - 1] = '\n';
    REQUIRE(total + n <= sizeof buf);
    memcpy(buf + total, data, n);
    write_bytes(path, buf, total + n);
}

/* 3 images 2x2 ubyte and 3 labels, as IDX (plain and gzip). */
static void make_idx_set(void)
{
    unsigned char b[64];
    uint32_t d3[3] = {3, 2, 2}, d1[1] = {3};
    size_t h = idx_header(b, 0x08, 3, d3);
    for (int i = 0; i < 12; i++) b[h + i] = (unsigned char)(i * 20);
    b[h + 11] = 255;
    write_bytes(tmp_path("img-idx3-ubyte"), b, h + 12);
    write_gz(tmp_path("img-idx3-ubyte.gz"), b, h + 12, "wb");
    /* truncated: one byte missing */
    write_bytes(tmp_path("trunc-idx3-ubyte"), b, h + 11);
    /* oversized: header says 2 images, data holds 3 */
    uint32_t d3s[3] = {2, 2, 2};
    idx_header(b, 0x08, 3, d3s);
    write_bytes(tmp_path("over-idx3-ubyte"), b, h + 12);
    /* truncated gzip stream */
    idx_header(b, 0x08, 3, d3);
    write_gz(tmp_path("full.gz"), b, h + 12, "wb");
    unsigned char *gz;
    size_t gzn;
    nq_error e = {0};
    FILE *f = fopen(tmp_path("full.gz"), "rb");
    REQUIRE(f != NULL);
    unsigned char raw[256];
    gzn = fread(raw, 1, sizeof raw, f);
    fclose(f);
    gz = raw;
    write_bytes(tmp_path("trunc-idx3-ubyte.gz"), gz, gzn - 6);
    (void)e;

    unsigned char l[16];
    h = idx_header(l, 0x08, 1, d1);
    l[h] = 7; l[h + 1] = 0; l[h + 2] = 9;
    write_bytes(tmp_path("lab-idx1-ubyte"), l, h + 3);
    write_gz(tmp_path("lab-idx1-ubyte.gz"), l, h + 3, "wb");
    uint32_t d2[1] = {2};
    h = idx_header(l, 0x08, 1, d2);
    write_bytes(tmp_path("lab2-idx1-ubyte"), l, h + 2);
    /* bad magic */
    l[0] = 1;
    write_bytes(tmp_path("bad-idx1-ubyte"), l, h + 2);
}

static void test_idx(void)
{
    make_idx_set();
    nq_preprocess p;
    nq_preprocess_default(&p);
    p.scale = 1.0f / 255.0f;
    const char *imgs[2] = {tmp_path("img-idx3-ubyte"), tmp_path("img-idx3-ubyte.gz")};
    const char *labs[2] = {tmp_path("lab-idx1-ubyte"), tmp_path("lab-idx1-ubyte.gz")};
    for (int k = 0; k < 2; k++) {
        nq_dataset *d = NULL;
        nq_error e = {0};
        CHECK(nq_dataset_load(imgs[k], labs[k], &p, 0, &d, &e) == NQ_OK);
        REQUIRE(d != NULL);
        CHECK(d->n == 3);
        CHECK(d->samples.dtype == NQ_DTYPE_FLOAT32 && d->samples.ndim == 3);
        CHECK(d->samples.dims[0] == 3 && d->samples.dims[1] == 2 && d->samples.dims[2] == 2);
        const float *x = d->samples.data;
        CHECK_NEAR(x[0], 0.0, 0);
        CHECK_NEAR(x[5], 100.0 / 255.0, 1e-7);
        CHECK_NEAR(x[11], 1.0, 1e-7);
        CHECK(d->labels[0] == 7 && d->labels[1] == 0 && d->labels[2] == 9);
        nq_dataset_free(d);
    }
    /* raw IDX load keeps the dtype */
    nq_tensor t;
    nq_error e = {0};
    CHECK_OK(nq_idx_load(imgs[1], &t, &e));
    CHECK(t.dtype == NQ_DTYPE_UINT8 && t.ndim == 3 && ((uint8_t *)t.data)[11] == 255);
    nq_tensor_free(&t);

    /* big-endian int16 / int32 / float / double payloads */
    unsigned char b[64];
    uint32_t d1[1] = {2};
    size_t h = idx_header(b, 0x0B, 1, d1);
    memcpy(b + h, "\xff\xfe\x01\x02", 4); /* -2, 258 */
    write_bytes(tmp_path("s16-idx1"), b, h + 4);
    CHECK_OK(nq_idx_load(tmp_path("s16-idx1"), &t, &e));
    CHECK(t.dtype == NQ_DTYPE_INT16 && ((int16_t *)t.data)[0] == -2 && ((int16_t *)t.data)[1] == 258);
    nq_tensor_free(&t);
    h = idx_header(b, 0x0C, 1, d1);
    memcpy(b + h, "\xff\xff\xff\xfd\x00\x01\x00\x00", 8); /* -3, 65536 */
    write_bytes(tmp_path("s32-idx1"), b, h + 8);
    CHECK_OK(nq_idx_load(tmp_path("s32-idx1"), &t, &e));
    CHECK(t.dtype == NQ_DTYPE_INT32 && ((int32_t *)t.data)[0] == -3 && ((int32_t *)t.data)[1] == 65536);
    nq_tensor_free(&t);
    h = idx_header(b, 0x0D, 1, d1);
    memcpy(b + h, "\x3f\xc0\x00\x00\xc0\x20\x00\x00", 8); /* 1.5, -2.5 */
    write_bytes(tmp_path("f32-idx1"), b, h + 8);
    CHECK_OK(nq_idx_load(tmp_path("f32-idx1"), &t, &e));
    CHECK(t.dtype == NQ_DTYPE_FLOAT32 && ((float *)t.data)[0] == 1.5f && ((float *)t.data)[1] == -2.5f);
    nq_tensor_free(&t);
    h = idx_header(b, 0x0E, 1, d1);
    memcpy(b + h, "\x3f\xf8\x00\x00\x00\x00\x00\x00\x7f\xf8\x00\x00\x00\x00\x00\x00", 16);
    write_bytes(tmp_path("f64nan-idx1"), b, h + 16); /* 1.5, NaN */
    CHECK_OK(nq_idx_load(tmp_path("f64nan-idx1"), &t, &e));
    CHECK(t.dtype == NQ_DTYPE_FLOAT64 && ((double *)t.data)[0] == 1.5);
    nq_tensor_free(&t);
    nq_dataset *d = NULL;
    CHECK(nq_dataset_load(tmp_path("f64nan-idx1"), NULL, NULL, 0, &d, &e) == NQ_ERR_DATA);
    CHECK(strstr(e.msg, "f64nan-idx1") && strstr(e.msg, "sample 1") && strstr(e.msg, "NaN"));
    CHECK(d == NULL);
}

static void expect_fail(const char *data, const char *labels, const nq_preprocess *p,
                        nq_status want, const char *s1, const char *s2, int line)
{
    nq_dataset *d = NULL;
    nq_error e = {0};
    nq_status s = nq_dataset_load(data, labels, p, 0, &d, &e);
    if (s != want || d != NULL || (s1 && !strstr(e.msg, s1)) || (s2 && !strstr(e.msg, s2))) {
        fprintf(stderr, "line %d: status %d (want %d), msg '%s'\n", line, (int)s, (int)want, e.msg);
        nqt_failures++;
    }
    nq_dataset_free(d);
}
#define EXPECT_FAIL(data, labels, p, want, s1, s2) expect_fail(data, labels, p, want, s1, s2, __LINE__)

static void test_errors(void)
{
    EXPECT_FAIL(tmp_path("trunc-idx3-ubyte"), NULL, NULL, NQ_ERR_PARSE, "trunc-idx3-ubyte", "truncated");
    EXPECT_FAIL(tmp_path("over-idx3-ubyte"), NULL, NULL, NQ_ERR_PARSE, "over-idx3-ubyte", "[2,2,2]");
    EXPECT_FAIL(tmp_path("trunc-idx3-ubyte.gz"), NULL, NULL, NQ_ERR_PARSE, "trunc-idx3-ubyte.gz",
                "gzip");
    EXPECT_FAIL(tmp_path("bad-idx1-ubyte"), NULL, NULL, NQ_ERR_PARSE, "bad-idx1-ubyte", NULL);
    EXPECT_FAIL(tmp_path("img-idx3-ubyte"), tmp_path("lab2-idx1-ubyte"), NULL, NQ_ERR_DATA,
                "lab2-idx1-ubyte", "2 labels");
    EXPECT_FAIL(tmp_path("no-such-file"), NULL, NULL, NQ_ERR_IO, "no-such-file", NULL);
    EXPECT_FAIL(tmp_path("img-idx3-ubyte"), tmp_path("missing-labels"), NULL, NQ_ERR_IO,
                "missing-labels", NULL);
    write_bytes(tmp_path("empty"), "", 0);
    EXPECT_FAIL(tmp_path("empty"), NULL, NULL, NQ_ERR_PARSE, "empty", "unknown data format");
    write_bytes(tmp_path("text.txt"), "hello world", 11);
    EXPECT_FAIL(tmp_path("text.txt"), NULL, NULL, NQ_ERR_PARSE, "text.txt", NULL);

    /* NPY float samples with NaN / Inf (sample index named) */
    float x[6] = {0, 1, 2, 3, 4, 5};
    x[4] = NAN;
    write_npy_raw(tmp_path("nan.npy"), "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }",
                  x, sizeof x, 1);
    EXPECT_FAIL(tmp_path("nan.npy"), NULL, NULL, NQ_ERR_DATA, "nan.npy", "sample 2 contains NaN");
    x[4] = 4;
    x[1] = -INFINITY;
    write_npy_raw(tmp_path("inf.npy"), "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }",
                  x, sizeof x, 1);
    EXPECT_FAIL(tmp_path("inf.npy"), NULL, NULL, NQ_ERR_DATA, "sample 0 contains Inf", NULL);
    x[1] = 1;
    write_npy_raw(tmp_path("ok.npy"), "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }",
                  x, sizeof x, 1);
    /* truncated payload, header/size disagreement */
    write_npy_raw(tmp_path("trunc.npy"), "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }",
                  x, sizeof x - 4, 1);
    EXPECT_FAIL(tmp_path("trunc.npy"), NULL, NULL, NQ_ERR_PARSE, "trunc.npy", "truncated");
    write_npy_raw(tmp_path("over.npy"), "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
                  x, sizeof x, 1);
    EXPECT_FAIL(tmp_path("over.npy"), NULL, NULL, NQ_ERR_PARSE, "over.npy", NULL);
    write_bytes(tmp_path("hdr.npy"), "\x93NUMPY\x01\x00\xff\x00{'descr'", 17);
    EXPECT_FAIL(tmp_path("hdr.npy"), NULL, NULL, NQ_ERR_PARSE, "hdr.npy", "truncated");
    /* Fortran order, unsupported dtypes */
    write_npy_raw(tmp_path("fortran.npy"), "{'descr': '<f4', 'fortran_order': True, 'shape': (3, 2), }",
                  x, sizeof x, 1);
    EXPECT_FAIL(tmp_path("fortran.npy"), NULL, NULL, NQ_ERR_UNSUPPORTED, "fortran.npy", "Fortran");
    write_npy_raw(tmp_path("complex.npy"), "{'descr': '<c8', 'fortran_order': False, 'shape': (3,), }",
                  x, sizeof x, 1);
    EXPECT_FAIL(tmp_path("complex.npy"), NULL, NULL, NQ_ERR_UNSUPPORTED, "complex.npy", "<c8");
    write_npy_raw(tmp_path("struct.npy"), "{'descr': [('a', '<f4')], 'fortran_order': False, "
                  "'shape': (6,), }", x, sizeof x, 1);
    EXPECT_FAIL(tmp_path("struct.npy"), NULL, NULL, NQ_ERR_UNSUPPORTED, "struct.npy", "structured");

    /* labels: negative, float, wrong shape */
    int32_t lneg[3] = {1, -4, 2};
    write_npy_raw(tmp_path("lneg.npy"), "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }",
                  lneg, sizeof lneg, 1);
    EXPECT_FAIL(tmp_path("ok.npy"), tmp_path("lneg.npy"), NULL, NQ_ERR_DATA, "lneg.npy",
                "label 1 is negative");
    float lf[3] = {1, 2, 3};
    write_npy_raw(tmp_path("lf.npy"), "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }",
                  lf, sizeof lf, 1);
    EXPECT_FAIL(tmp_path("ok.npy"), tmp_path("lf.npy"), NULL, NQ_ERR_UNSUPPORTED, "lf.npy",
                "integers");
    int32_t l2d[6] = {0};
    write_npy_raw(tmp_path("l2d.npy"), "{'descr': '<i4', 'fortran_order': False, 'shape': (3, 2), }",
                  l2d, sizeof l2d, 1);
    EXPECT_FAIL(tmp_path("ok.npy"), tmp_path("l2d.npy"), NULL, NQ_ERR_SHAPE, "l2d.npy", "[3,2]");

    /* bad preprocessing options */
    nq_preprocess p;
    nq_preprocess_default(&p);
    p.std[0] = 0;
    EXPECT_FAIL(tmp_path("ok.npy"), NULL, &p, NQ_ERR_INVALID_ARG, "std", NULL);
    nq_preprocess_default(&p);
    p.n_mean = 3;
    EXPECT_FAIL(tmp_path("img-idx3-ubyte"), NULL, &p, NQ_ERR_SHAPE, "[3,2,2]", "channels");
    EXPECT_FAIL(tmp_path("ok.npy"), NULL, &p, NQ_ERR_SHAPE, "[3,2]", "channel");
}

/* Every proper prefix of a valid file is rejected cleanly (no crash, no leak). */
static void test_prefixes(const char *name)
{
    unsigned char *buf, *raw;
    size_t n;
    nq_error e = {0};
    FILE *f = fopen(tmp_path(name), "rb");
    REQUIRE(f != NULL);
    raw = malloc(1 << 16);
    REQUIRE(raw != NULL);
    n = fread(raw, 1, 1 << 16, f);
    fclose(f);
    for (size_t len = 0; len < n; len++) {
        write_bytes(tmp_path("prefix"), raw, len);
        nq_dataset *d = NULL;
        nq_status s = nq_dataset_load(tmp_path("prefix"), NULL, NULL, 0, &d, &e);
        if (s != NQ_ERR_PARSE || d != NULL) {
            fprintf(stderr, "%s cut at %zu bytes: status %d, '%s'\n", name, len, (int)s, e.msg);
            nqt_failures++;
        }
        nq_dataset_free(d);
    }
    /* and the whole file loads */
    write_bytes(tmp_path("prefix"), raw, n);
    CHECK_OK(nq_read_file(tmp_path("prefix"), &buf, &n, &e));
    free(buf);
    free(raw);
}

static void test_npy(void)
{
    nq_error e = {0};
    nq_tensor t, u;
    /* round trip of every dtype numpy has (sub-byte types come back as int8/uint8) */
    for (int dt = 1; dt < NQ_DTYPE_COUNT; dt++) {
        int64_t dims[3] = {2, 3, 1};
        CHECK_OK(nq_tensor_alloc(&t, (nq_dtype)dt, 3, dims, &e));
        int64_t lo = 0, hi = 1;
        nq_dtype_int_range((nq_dtype)dt, &lo, &hi);
        for (int i = 0; i < 6; i++)
            nq_tensor_set(&t, i, nq_dtype_is_float((nq_dtype)dt) ? i * 0.25 - 0.5 : (i % 2 ? hi : lo));
        const char *path = tmp_path("rt.npy");
        CHECK_OK(nq_npy_save(path, &t, &e));
        CHECK_OK(nq_npy_load(path, &u, &e));
        nq_dtype want = dt == NQ_DTYPE_INT2 || dt == NQ_DTYPE_INT3 || dt == NQ_DTYPE_INT4
                            ? NQ_DTYPE_INT8 : dt == NQ_DTYPE_UINT4 ? NQ_DTYPE_UINT8 : (nq_dtype)dt;
        CHECK(u.dtype == want);
        CHECK(u.ndim == 3 && u.dims[0] == 2 && u.dims[1] == 3 && u.dims[2] == 1);
        CHECK(u.data != NULL && memcmp(u.data, t.data, nq_tensor_nbytes(&t)) == 0);
        nq_tensor_free(&t);
        nq_tensor_free(&u);
    }
    /* scalar and 1-d shapes, header text as numpy writes it, 64-byte alignment */
    int64_t d1[1] = {5};
    CHECK_OK(nq_tensor_alloc(&t, NQ_DTYPE_FLOAT32, 1, d1, &e));
    CHECK_OK(nq_npy_save(tmp_path("v.npy"), &t, &e));
    unsigned char *buf;
    size_t n;
    CHECK_OK(nq_read_file(tmp_path("v.npy"), &buf, &n, &e));
    CHECK(n == 128 + 20 && strstr((char *)buf + 10, "'shape': (5,)") && buf[127] == '\n');
    free(buf);
    nq_tensor_free(&t);
    CHECK_OK(nq_tensor_alloc(&t, NQ_DTYPE_INT64, 0, NULL, &e));
    ((int64_t *)t.data)[0] = -42;
    CHECK_OK(nq_npy_save(tmp_path("s.npy"), &t, &e));
    CHECK_OK(nq_npy_load(tmp_path("s.npy"), &u, &e));
    CHECK(u.ndim == 0 && u.dtype == NQ_DTYPE_INT64 && ((int64_t *)u.data)[0] == -42);
    nq_tensor_free(&t);
    nq_tensor_free(&u);

    /* big-endian data, unsigned labels widened, version 2.0 header, 1-d Fortran */
    unsigned char be[8] = {0x3f, 0xc0, 0, 0, 0xc0, 0x20, 0, 0};
    write_npy_raw(tmp_path("be.npy"), "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }",
                  be, 8, 2);
    CHECK_OK(nq_npy_load(tmp_path("be.npy"), &t, &e));
    CHECK(t.dtype == NQ_DTYPE_FLOAT32 && ((float *)t.data)[0] == 1.5f && ((float *)t.data)[1] == -2.5f);
    nq_tensor_free(&t);
    uint16_t u16[3] = {1, 65535, 3};
    write_npy_raw(tmp_path("u16.npy"), "{'descr': '<u2', 'fortran_order': True, 'shape': (3,), }",
                  u16, sizeof u16, 1);
    CHECK_OK(nq_npy_load(tmp_path("u16.npy"), &t, &e));
    CHECK(t.dtype == NQ_DTYPE_INT32 && ((int32_t *)t.data)[1] == 65535);
    nq_tensor_free(&t);
    uint16_t f16[2] = {0x3c00, 0xc100}; /* 1.0, -2.5 */
    write_npy_raw(tmp_path("f16.npy"), "{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }",
                  f16, sizeof f16, 1);
    CHECK_OK(nq_npy_load(tmp_path("f16.npy"), &t, &e));
    CHECK(t.dtype == NQ_DTYPE_FLOAT32 && ((float *)t.data)[0] == 1.0f && ((float *)t.data)[1] == -2.5f);
    nq_tensor_free(&t);
    uint64_t big[1] = {UINT64_MAX};
    write_npy_raw(tmp_path("u64.npy"), "{'descr': '<u8', 'fortran_order': False, 'shape': (1,), }",
                  big, sizeof big, 1);
    CHECK(nq_npy_load(tmp_path("u64.npy"), &t, &e) == NQ_ERR_DATA);
    /* cannot save undefined dtype; atomic write into a missing folder fails cleanly */
    memset(&t, 0, sizeof t);
    CHECK(nq_npy_save(tmp_path("x.npy"), &t, &e) == NQ_ERR_UNSUPPORTED);
    CHECK_OK(nq_tensor_alloc(&t, NQ_DTYPE_FLOAT32, 1, d1, &e));
    CHECK(nq_npy_save(tmp_path("nodir/x.npy"), &t, &e) == NQ_ERR_IO && strstr(e.msg, "nodir/x.npy"));
    nq_tensor_free(&t);
}

static void test_npy_dataset(void)
{
    nq_error e = {0};
    /* uint8 [2,3,1,2] samples, 3 channels, per-channel mean/std; int64 labels */
    uint8_t x[12];
    for (int i = 0; i < 12; i++) x[i] = (uint8_t)(i * 10);
    write_npy_raw(tmp_path("u8.npy"), "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3, 1, 2), }",
                  x, sizeof x, 1);
    int64_t lab[2] = {3, 1000};
    write_npy_raw(tmp_path("l64.npy"), "{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }",
                  lab, sizeof lab, 1);
    nq_preprocess p;
    nq_preprocess_default(&p);
    p.scale = 0.5f;
    CHECK(nq_parse_float_list("1,2,3", p.mean, NQ_MAX_CHANNELS) == 3);
    p.n_mean = 3;
    CHECK(nq_parse_float_list("2, 4 ,8", p.std, NQ_MAX_CHANNELS) == 3);
    p.n_std = 3;
    nq_dataset *d = NULL;
    CHECK_OK(nq_dataset_load(tmp_path("u8.npy"), tmp_path("l64.npy"), &p, 0, &d, &e));
    REQUIRE(d != NULL);
    const float *y = d->samples.data;
    for (int i = 0; i < 12; i++) {
        int c = (i / 2) % 3;
        double want = (x[i] * 0.5 - (c + 1)) / (c == 0 ? 2 : c == 1 ? 4 : 8);
        CHECK_NEAR(y[i], want, 1e-6);
    }
    CHECK(d->labels[0] == 3 && d->labels[1] == 1000);
    nq_dataset_free(d);

    /* limit: smaller keeps a prefix, larger clamps */
    CHECK_OK(nq_dataset_load(tmp_path("u8.npy"), tmp_path("l64.npy"), NULL, 1, &d, &e));
    CHECK(d && d->n == 1 && d->samples.dims[0] == 1 && d->labels[0] == 3);
    nq_dataset_free(d);
    CHECK_OK(nq_dataset_load(tmp_path("u8.npy"), tmp_path("l64.npy"), NULL, 100, &d, &e));
    CHECK(d && d->n == 2);
    nq_dataset_free(d);

    /* int8 and float64 samples, gzip'ed NPY, labels from a gzip'ed NPY */
    int8_t xi[4] = {-128, -1, 0, 127};
    write_npy_raw(tmp_path("i8.npy"), "{'descr': '|i1', 'fortran_order': False, 'shape': (4,), }",
                  xi, sizeof xi, 1);
    CHECK_OK(nq_dataset_load(tmp_path("i8.npy"), NULL, NULL, 0, &d, &e));
    CHECK(d && d->n == 4 && ((float *)d->samples.data)[0] == -128.0f);
    nq_dataset_free(d);
    nq_tensor t;
    int64_t dims[2] = {2, 2};
    CHECK_OK(nq_tensor_alloc(&t, NQ_DTYPE_FLOAT64, 2, dims, &e));
    double *dv = t.data;
    dv[0] = 0.1; dv[1] = -2; dv[2] = 3; dv[3] = 1e6;
    CHECK_OK(nq_npy_save(tmp_path("f64.npy"), &t, &e));
    nq_tensor_free(&t);
    unsigned char *raw;
    size_t n;
    CHECK_OK(nq_read_file(tmp_path("f64.npy"), &raw, &n, &e));
    write_gz(tmp_path("f64.npy.gz"), raw, n, "wb");
    free(raw);
    uint8_t lu[2] = {5, 6};
    write_npy_raw(tmp_path("lu.npy"), "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 1), }",
                  lu, sizeof lu, 1);
    CHECK_OK(nq_dataset_load(tmp_path("f64.npy.gz"), tmp_path("lu.npy"), NULL, 0, &d, &e));
    CHECK(d && d->n == 2 && d->labels[1] == 6);
    if (d) {
        CHECK_NEAR(((float *)d->samples.data)[0], 0.1, 1e-7);
        CHECK_NEAR(((float *)d->samples.data)[3], 1e6, 0);
    }
    nq_dataset_free(d);
    /* float64 too large for float32 */
    CHECK_OK(nq_tensor_alloc(&t, NQ_DTYPE_FLOAT64, 2, dims, &e));
    ((double *)t.data)[2] = 1e300;
    CHECK_OK(nq_npy_save(tmp_path("huge.npy"), &t, &e));
    nq_tensor_free(&t);
    EXPECT_FAIL(tmp_path("huge.npy"), NULL, NULL, NQ_ERR_DATA, "sample 1", "float32 range");
}

static void test_batch(void)
{
    nq_error e = {0};
    /* 4 samples of 784 values */
    nq_tensor t;
    int64_t dims[3] = {4, 28, 28};
    CHECK_OK(nq_tensor_alloc(&t, NQ_DTYPE_FLOAT32, 3, dims, &e));
    for (int i = 0; i < 4 * 784; i++) ((float *)t.data)[i] = (float)i;
    CHECK_OK(nq_npy_save(tmp_path("b.npy"), &t, &e));
    nq_tensor_free(&t);
    nq_dataset *d = NULL;
    CHECK_OK(nq_dataset_load(tmp_path("b.npy"), NULL, NULL, 0, &d, &e));
    REQUIRE(d != NULL);
    nq_tensor b;
    int64_t nchw[4] = {1, 1, 28, 28}, flat[2] = {-1, 784}, dyn[4] = {-1, 1, -1, 28};
    CHECK_OK(nq_dataset_batch(d, 1, 2, 4, nchw, &b, &e));
    CHECK(b.ndim == 4 && b.dims[0] == 2 && b.dims[1] == 1 && b.dims[3] == 28 && b.owns_data);
    CHECK(((float *)b.data)[0] == 784.0f && ((float *)b.data)[2 * 784 - 1] == 3 * 784 - 1);
    nq_tensor_free(&b);
    CHECK_OK(nq_dataset_batch(d, 3, 1, 2, flat, &b, &e));
    CHECK(b.ndim == 2 && b.dims[0] == 1 && b.dims[1] == 784 && ((float *)b.data)[0] == 3 * 784);
    nq_tensor_free(&b);
    CHECK_OK(nq_dataset_batch(d, 0, 4, 4, dyn, &b, &e));
    CHECK(b.dims[0] == 4 && b.dims[2] == 28);
    nq_tensor_free(&b);
    int64_t bad[4] = {1, 3, 32, 32};
    CHECK(nq_dataset_batch(d, 0, 1, 4, bad, &b, &e) == NQ_ERR_SHAPE);
    CHECK(strstr(e.msg, "[4,28,28]") && strstr(e.msg, "[1,3,32,32]"));
    CHECK(nq_dataset_batch(d, 3, 2, 4, nchw, &b, &e) == NQ_ERR_INVALID_ARG);
    CHECK(nq_dataset_batch(d, -1, 1, 4, nchw, &b, &e) == NQ_ERR_INVALID_ARG);
    nq_dataset_free(d);
}

static void test_parse_and_io(void)
{
    float v[4];
    CHECK(nq_parse_float_list("0.5", v, 4) == 1 && v[0] == 0.5f);
    CHECK(nq_parse_float_list("0.485,0.456,0.406", v, 4) == 3 && v[2] == 0.406f);
    CHECK(nq_parse_float_list("-1e-3", v, 4) == 1 && v[0] == -1e-3f);
    CHECK(nq_parse_float_list("", v, 4) == -1);
    CHECK(nq_parse_float_list("1,,2", v, 4) == -1);
    CHECK(nq_parse_float_list("1,", v, 4) == -1);
    CHECK(nq_parse_float_list("abc", v, 4) == -1);
    CHECK(nq_parse_float_list("1x", v, 4) == -1);
    CHECK(nq_parse_float_list("nan", v, 4) == -1);
    CHECK(nq_parse_float_list("1,2,3,4,5", v, 4) == -1);
    CHECK(nq_parse_float_list(NULL, v, 4) == -1);

    nq_error e = {0};
    const char *p = tmp_path("atomic.bin");
    CHECK_OK(nq_write_file_atomic(p, "first", 5, &e));
    CHECK_OK(nq_write_file_atomic(p, "second!", 7, &e));
    unsigned char *buf;
    size_t n;
    CHECK_OK(nq_read_file(p, &buf, &n, &e));
    CHECK(n == 7 && memcmp(buf, "second!", 7) == 0);
    free(buf);
    CHECK(nq_write_file_atomic(tmp_path("nodir/a.bin"), "x", 1, &e) == NQ_ERR_IO);
    CHECK(nq_read_file(tmp_path("nodir"), &buf, &n, &e) == NQ_ERR_IO);
    CHECK(nq_read_file(dir, &buf, &n, &e) == NQ_ERR_IO); /* a directory */
    /* two concatenated gzip members read as one stream */
    write_gz(tmp_path("multi.gz"), "hello ", 6, "wb");
    write_gz(tmp_path("multi.gz"), "world", 5, "ab");
    CHECK_OK(nq_read_file(tmp_path("multi.gz"), &buf, &n, &e));
    CHECK(n == 11 && memcmp(buf, "hello world", 11) == 0);
    free(buf);
    /* a larger gzip payload (grows the output buffer several times) */
    size_t big = 3u << 20;
    unsigned char *src = malloc(big);
    REQUIRE(src != NULL);
    for (size_t i = 0; i < big; i++) src[i] = (unsigned char)(i * 7 + (i >> 12));
    write_gz(tmp_path("big.gz"), src, big, "wb");
    CHECK_OK(nq_read_file(tmp_path("big.gz"), &buf, &n, &e));
    CHECK(n == big && memcmp(buf, src, big) == 0);
    free(buf);
    free(src);
}

static void test_fashion_mnist(void)
{
    const char *img = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
    const char *lab = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
    if (access(img, R_OK) != 0 || access(lab, R_OK) != 0) {
        printf("skip: Fashion-MNIST not installed (%s)\n", img);
        return;
    }
    nq_preprocess p;
    nq_preprocess_default(&p);
    p.scale = 0.00392156862745098f;
    nq_dataset *d = NULL;
    nq_error e = {0};
    CHECK_OK(nq_dataset_load(img, lab, &p, 0, &d, &e));
    REQUIRE(d != NULL);
    CHECK(d->n == 10000);
    CHECK(d->samples.ndim == 3 && d->samples.dims[1] == 28 && d->samples.dims[2] == 28);
    CHECK(d->labels[0] == 9 && d->labels[1] == 2); /* ankle boot, pullover */
    float lo = 1e9f, hi = -1e9f;
    int64_t hist[10] = {0};
    for (int64_t i = 0; i < 10000 * 784; i++) {
        float v = ((float *)d->samples.data)[i];
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    for (int64_t i = 0; i < d->n; i++)
        if (d->labels[i] >= 0 && d->labels[i] < 10) hist[d->labels[i]]++;
    for (int c = 0; c < 10; c++) CHECK(hist[c] == 1000);
    CHECK(lo == 0.0f && hi == 1.0f);
    nq_tensor b;
    int64_t in[4] = {-1, 1, 28, 28};
    CHECK_OK(nq_dataset_batch(d, 9990, 10, 4, in, &b, &e));
    CHECK(b.dims[0] == 10 && memcmp(b.data, (float *)d->samples.data + 9990 * 784, 10 * 784 * 4) == 0);
    nq_tensor_free(&b);
    nq_dataset_free(d);
    CHECK_OK(nq_dataset_load(img, lab, &p, 100, &d, &e));
    REQUIRE(d != NULL);
    CHECK(d->n == 100 && d->samples.dims[0] == 100);
    /* the reference input of the example models (scripts/train_examples.py,
     * PyTorch's x / 255) is what --scale 1/255 makes of the same images */
    nq_tensor ref, rl;
    if (nq_npy_load("models/ref/input.npy", &ref, &e) == NQ_OK) {
        CHECK(ref.dtype == NQ_DTYPE_FLOAT32 && ref.ndim == 4 && ref.dims[0] == 16 && ref.dims[1] == 1);
        for (int64_t i = 0; i < 16 * 784; i++)
            CHECK_NEAR(((float *)ref.data)[i], ((float *)d->samples.data)[i], 1.2e-7);
        nq_tensor_free(&ref);
        CHECK_OK(nq_npy_load("models/ref/labels.npy", &rl, &e));
        for (int64_t i = 0; i < 16 && rl.data; i++) CHECK(((int64_t *)rl.data)[i] == d->labels[i]);
        nq_tensor_free(&rl);
    } else {
        printf("skip: models/ref/input.npy not found (%s)\n", e.msg);
    }
    nq_dataset_free(d);
}

/* limit reads only the samples it keeps: a file cut right after them loads
 * with the limit (and not without), values equal a full load's, and a
 * label count that disagrees with the samples is still reported. */
static void test_limited_reads(void)
{
    nq_error e = {0};
    nq_dataset *full = NULL, *d = NULL;
    CHECK_OK(nq_dataset_load(tmp_path("img-idx3-ubyte.gz"), tmp_path("lab-idx1-ubyte.gz"), NULL, 0,
                             &full, &e));
    REQUIRE(full != NULL && full->n == 3);
    for (int64_t lim = 1; lim <= 3; lim++) {
        CHECK_OK(nq_dataset_load(tmp_path("img-idx3-ubyte.gz"), tmp_path("lab-idx1-ubyte.gz"), NULL,
                                 lim, &d, &e));
        REQUIRE(d != NULL);
        CHECK(d->n == lim && d->samples.dims[0] == lim);
        CHECK(memcmp(d->samples.data, full->samples.data, (size_t)lim * 4 * sizeof(float)) == 0);
        CHECK(memcmp(d->labels, full->labels, (size_t)lim * sizeof(int64_t)) == 0);
        nq_dataset_free(d);
        d = NULL;
    }
    /* 3 labels for 3 images: a limit does not hide a 2-label file */
    CHECK(nq_dataset_load(tmp_path("img-idx3-ubyte.gz"), tmp_path("lab2-idx1-ubyte"), NULL, 1, &d,
                          &e) == NQ_ERR_DATA && d == NULL);
    /* a file holding the header and the first image only */
    unsigned char b[64];
    uint32_t d3[3] = {3, 2, 2};
    size_t h = idx_header(b, 0x08, 3, d3);
    memset(b + h, 9, 4);
    write_gz(tmp_path("cut-idx3-ubyte.gz"), b, h + 4, "wb");
    CHECK_OK(nq_dataset_load(tmp_path("cut-idx3-ubyte.gz"), NULL, NULL, 1, &d, &e));
    CHECK(d != NULL && d->n == 1 && ((float *)d->samples.data)[3] == 9.0f);
    nq_dataset_free(d);
    d = NULL;
    CHECK(nq_dataset_load(tmp_path("cut-idx3-ubyte.gz"), NULL, NULL, 2, &d, &e) == NQ_ERR_PARSE);
    CHECK(nq_dataset_load(tmp_path("cut-idx3-ubyte.gz"), NULL, NULL, 0, &d, &e) == NQ_ERR_PARSE);
    /* the same for NPY: shape (3, 2) int8, file cut after the first row */
    int8_t x[6] = {1, 2, 3, 4, 5, 6};
    write_npy_raw(tmp_path("cut.npy"), "{'descr': '|i1', 'fortran_order': False, 'shape': (3, 2), }",
                  x, 2, 1);
    CHECK_OK(nq_dataset_load(tmp_path("cut.npy"), NULL, NULL, 1, &d, &e));
    CHECK(d != NULL && d->n == 1 && ((float *)d->samples.data)[1] == 2.0f);
    nq_dataset_free(d);
    d = NULL;
    CHECK(nq_dataset_load(tmp_path("cut.npy"), NULL, NULL, 0, &d, &e) == NQ_ERR_PARSE);
    nq_dataset_free(full);
}

static void cleanup(void)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", dir);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/nq_test_data_XXXXXX");
    REQUIRE(mkdtemp(dir) != NULL);
    test_idx();
    test_errors();
    test_prefixes("img-idx3-ubyte");
    test_prefixes("img-idx3-ubyte.gz");
    test_prefixes("ok.npy");
    test_npy();
    test_npy_dataset();
    test_limited_reads();
    test_batch();
    test_parse_and_io();
    test_fashion_mnist();
    cleanup();
    TEST_MAIN_END();
}
