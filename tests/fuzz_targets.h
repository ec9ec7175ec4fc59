/* Fuzz targets for the file loaders, shared by the deterministic ctest
 * (test_fuzz_loaders.c) and the libFuzzer driver (fuzz/libfuzzer_loaders.c).
 * Each target takes arbitrary bytes and must never crash, leak or trip a
 * sanitizer; a failure must come with a message. Include after defining
 * _POSIX_C_SOURCE 200809L. */
#ifndef FUZZ_TARGETS_H
#define FUZZ_TARGETS_H
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "nnquant/data.h"
#include "nnquant/onnx.h"
#include "nnquant/qdq.h"
#include "nnquant/run.h"

/* A failed call must say what is wrong (and, with a path, name it). */
static inline void fz_check_error(nq_status s, const nq_error *err, const char *path)
{
    if (s == NQ_OK) return;
    if (err->code != s || err->msg[0] == '\0' || (path != NULL && strstr(err->msg, path) == NULL)) {
        fprintf(stderr, "fuzz: status %d with message '%s' (code %d)%s%s\n", (int)s, err->msg,
                (int)err->code, path ? ", expected the path " : "", path ? path : "");
        abort();
    }
}

/* ONNX model bytes: import, then what `nnquant info` does with the graph
 * (QDQ conversion, shape inference at batch 1, MACs), and a save/reload. */
static inline void fz_onnx(const unsigned char *data, size_t size, const char *base_dir)
{
    nq_graph *g = NULL;
    nq_error err = {0};
    nq_status s = nq_onnx_load_buffer(data, size, base_dir, &g, &err);
    fz_check_error(s, &err, NULL);
    if (s != NQ_OK) {
        if (g != NULL) abort(); /* must stay NULL on failure */
        return;
    }
    if (nq_graph_is_qdq(g)) {
        memset(&err, 0, sizeof err);
        s = nq_qdq_import(g, &err);
        fz_check_error(s, &err, NULL);
    }
    nq_graph *shaped = NULL;
    if (s == NQ_OK && nq_graph_clone(g, &shaped, &err) == NQ_OK) {
        memset(&err, 0, sizeof err);
        s = nq_graph_infer_shapes(shaped, 1, &err);
        fz_check_error(s, &err, NULL);
        for (int i = 0; s == NQ_OK && i < shaped->n_nodes; i++)
            (void)nq_node_macs(shaped, shaped->nodes[i]);
        nq_graph_free(shaped);
    }
    void *out = NULL;
    size_t n = 0;
    memset(&err, 0, sizeof err);
    if (nq_onnx_save_buffer(g, &out, &n, &err) == NQ_OK) {
        nq_graph *back = NULL;
        memset(&err, 0, sizeof err);
        s = nq_onnx_load_buffer(out, n, base_dir, &back, &err);
        fz_check_error(s, &err, NULL);
        nq_graph_free(back);
    }
    free(out);
    nq_graph_free(g);
}

static inline int fz_write(const char *path, const unsigned char *data, size_t size, int gzip)
{
    /* a fresh file each time: ext4 flushes a truncated-and-rewritten one */
    unlink(path);
    if (gzip) {
        gzFile f = gzopen(path, "wb1");
        if (f == NULL) return 0;
        int ok = size == 0 || gzwrite(f, data, (unsigned)size) == (int)size;
        return gzclose(f) == Z_OK && ok;
    }
    FILE *f = fopen(path, "wb");
    if (f == NULL) return 0;
    int ok = size == 0 || fwrite(data, 1, size, f) == size;
    return fclose(f) == 0 && ok;
}

/* Data file bytes. The first byte picks the variant: bit 0 gzip the rest,
 * bits 1-2 the sample limit (0, 1, 3, 1000), bit 3 also load the file as
 * labels. Loads it with nq_npy_load, nq_idx_load, nq_onnx_load_tensor (a
 * serialized TensorProto) and nq_dataset_load. */
static inline void fz_data(const unsigned char *data, size_t size, const char *path)
{
    if (size == 0) return;
    unsigned mode = data[0];
    static const int64_t limits[4] = {0, 1, 3, 1000};
    if (!fz_write(path, data + 1, size - 1, mode & 1)) {
        perror(path);
        abort();
    }
    nq_tensor t;
    nq_error err = {0};
    nq_status s = nq_npy_load(path, &t, &err);
    fz_check_error(s, &err, path);
    if (s == NQ_OK) nq_tensor_free(&t);
    memset(&err, 0, sizeof err);
    s = nq_idx_load(path, &t, &err);
    fz_check_error(s, &err, path);
    if (s == NQ_OK) nq_tensor_free(&t);
    memset(&err, 0, sizeof err);
    s = nq_onnx_load_tensor(path, &t, &err); /* as ONNX test folders' input_0.pb */
    fz_check_error(s, &err, path);
    if (s == NQ_OK) nq_tensor_free(&t);
    nq_preprocess prep;
    nq_preprocess_default(&prep);
    nq_dataset *d = NULL;
    memset(&err, 0, sizeof err);
    s = nq_dataset_load(path, (mode & 8) ? path : NULL, &prep, limits[(mode >> 1) & 3], &d, &err);
    fz_check_error(s, &err, path);
    if (s == NQ_OK) {
        int64_t in_dims[2] = {1, -1};
        nq_tensor batch;
        memset(&err, 0, sizeof err);
        if (nq_dataset_batch(d, 0, 1, 2, in_dims, &batch, &err) == NQ_OK) nq_tensor_free(&batch);
    }
    nq_dataset_free(d);
}

#endif
