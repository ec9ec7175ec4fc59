/*
 * nnquant ONNX <-> graph.
 *
 * Import reads an ONNX ModelProto (protobuf, via protobuf-c generated at
 * build time from Debian's onnx.proto): graph inputs/outputs with their
 * types and shapes, initializers (raw_data or typed fields, and external
 * data files resolved relative to the model's folder), nodes with all
 * attribute types, opset imports and metadata. Op support is not checked
 * here (see nq_ops_resolve); import only checks the file is well formed.
 * Export writes the graph back as a valid ModelProto that re-imports to
 * an identical graph. Writes go to a temporary file renamed into place,
 * so a failed export never leaves a half-written file.
 */
#ifndef NNQUANT_ONNX_H
#define NNQUANT_ONNX_H

#include "nnquant/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Loads a model file. Errors name the file and what is wrong. */
nq_status nq_onnx_load(const char *path, nq_graph **out, nq_error *err);
/* Loads from memory; base_dir (may be NULL) resolves external data. */
nq_status nq_onnx_load_buffer(const void *buf, size_t size, const char *base_dir,
                              nq_graph **out, nq_error *err);
/* Saves a graph as ONNX (atomically: temp file + rename). */
nq_status nq_onnx_save(const nq_graph *g, const char *path, nq_error *err);
/* Serializes to a malloc'ed buffer (caller frees). */
nq_status nq_onnx_save_buffer(const nq_graph *g, void **buf, size_t *size, nq_error *err);
/* Reads a serialized TensorProto file (as in ONNX test folders: input_0.pb). */
nq_status nq_onnx_load_tensor(const char *path, nq_tensor *out, nq_error *err);

#ifdef __cplusplus
}
#endif
#endif
