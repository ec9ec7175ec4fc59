/*
 * Private helpers of the ONNX layer (src/onnx/): protobuf-c messages
 * (generated at build time from onnx.proto) <-> nnquant core structures.
 *
 * Import helpers fill caller-owned core structures and clean up after
 * themselves on failure. Export helpers build protobuf-c messages whose
 * memory all comes from one nq_onnx_arena (freed in one call); they may
 * point into the graph (tensor bytes, attribute arrays) without copying,
 * so the graph must outlive the packed message.
 */
#ifndef NQ_ONNX_INTERNAL_H
#define NQ_ONNX_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "nnquant/core.h"
#include "onnx.pb-c.h"

/* TensorProto.DataType codes newer than Debian's onnx.proto (ONNX 1.16+). */
#define NQ_ONNX_TYPE_UINT4 21
#define NQ_ONNX_TYPE_INT4 22
/* Opset written for the default domain when a graph imports none. */
#define NQ_ONNX_DEFAULT_OPSET 13
/* IR version that introduced int4/uint4 (written when such tensors appear). */
#define NQ_ONNX_IR_VERSION_INT4 10

/* ---- dtype_map.c ---------------------------------------------------- */
/* ONNX TensorProto.DataType -> nq_dtype; NQ_DTYPE_UNDEFINED if unsupported. */
nq_dtype nq_onnx_dtype_to_nq(int32_t onnx_type);
/* nq_dtype -> ONNX code used on export (int2/int3 are widened to INT8,
 * ONNX having no such types); 0 for NQ_DTYPE_UNDEFINED. */
int32_t nq_onnx_dtype_from_nq(nq_dtype t);
/* "FLOAT16", "STRING", ...; "unknown" for codes we do not know. */
const char *nq_onnx_dtype_name(int32_t onnx_type);
/* Bytes that `numel` elements of `t` take in ONNX raw_data (int4/uint4
 * packed two per byte). Returns 0 and sets *ok = 0 on overflow. */
size_t nq_onnx_raw_bytes(nq_dtype t, int64_t numel, int *ok);
/* 1 if the host is little-endian (raw_data byte order). */
int nq_onnx_host_le(void);

/* ---- tensor_read.c -------------------------------------------------- */
/* Converts a TensorProto into `out` (fresh, owned data). `what` names the
 * tensor in messages ("initializer 'W'"). base_dir (may be NULL) resolves
 * external data. `out` must not hold owned data; on failure it is left
 * empty. */
nq_status nq_onnx_tensor_read(const Onnx__TensorProto *tp, const char *what,
                              const char *base_dir, nq_tensor *out, nq_error *err);
/* Checks an ONNX dims list and copies it; numel receives the element count. */
nq_status nq_onnx_dims_read(size_t n_dims, const int64_t *dims, const char *what,
                            int *ndim, int64_t *out_dims, int64_t *numel, nq_error *err);

/* ---- external_data.c ------------------------------------------------ */
/* Reads the `expected` bytes of an external-data tensor into a fresh
 * malloc'ed buffer (*data, caller frees). */
nq_status nq_onnx_external_read(const Onnx__TensorProto *tp, const char *what,
                                const char *base_dir, size_t expected,
                                unsigned char **data, nq_error *err);

/* ---- arena.c -------------------------------------------------------- */
typedef struct nq_onnx_chunk nq_onnx_chunk;
typedef struct nq_onnx_arena {
    nq_onnx_chunk *head;
} nq_onnx_arena;
/* Zeroed memory, NULL when out of memory. */
void *nq_onnx_arena_alloc(nq_onnx_arena *a, size_t size);
/* Zeroed array of n elements of `size` bytes (overflow-checked). */
void *nq_onnx_arena_array(nq_onnx_arena *a, size_t n, size_t size);
char *nq_onnx_arena_strdup(nq_onnx_arena *a, const char *s);
char *nq_onnx_arena_printf(nq_onnx_arena *a, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void nq_onnx_arena_free(nq_onnx_arena *a);

/* ---- tensor_write.c ------------------------------------------------- */
/* Fills *tp (initialized here) with t as raw_data; name may be NULL. */
nq_status nq_onnx_tensor_write(const nq_tensor *t, const char *name, nq_onnx_arena *a,
                               Onnx__TensorProto *tp, nq_error *err);

/* ---- type_info.c ---------------------------------------------------- */
/* Reads a TypeProto (may be NULL: unknown) into dtype/rank/dims. */
nq_status nq_onnx_type_read(const Onnx__TypeProto *tp, const char *what, nq_dtype *dtype,
                            int *ndim, int64_t *dims, nq_error *err);
/* Builds a ValueInfoProto for a value (its dtype and shape, -1 dims as
 * dim_param "N" for dim 0 and "<name>_dim<k>" otherwise). */
nq_status nq_onnx_value_info_write(const nq_value *v, nq_onnx_arena *a,
                                   Onnx__ValueInfoProto **out, nq_error *err);

/* ---- attr.c --------------------------------------------------------- */
/* AttributeProto -> nq_attr (zeroed first; cleared on failure). `node`
 * names the node in messages ("node 'conv1' (Conv)"). */
nq_status nq_onnx_attr_read(const Onnx__AttributeProto *ap, const char *node,
                            const char *base_dir, nq_attr *out, nq_error *err);
nq_status nq_onnx_attr_write(const nq_attr *at, nq_onnx_arena *a,
                             Onnx__AttributeProto **out, nq_error *err);

/* ---- node_read.c ---------------------------------------------------- */
/* Adds the nodes of `gp` to g (values for their outputs included), with
 * attributes; names unnamed nodes uniquely. */
nq_status nq_onnx_nodes_read(const Onnx__GraphProto *gp, const char *base_dir, nq_graph *g,
                             nq_error *err);

/* ---- proto_read.c --------------------------------------------------- */
/* Import of an unpacked model. */
nq_status nq_onnx_model_read(const Onnx__ModelProto *m, const char *base_dir, nq_graph **out,
                             nq_error *err);

/* ---- file_read.c ---------------------------------------------------- */
/* Reads a whole file into a malloc'ed buffer; messages name the path. */
nq_status nq_onnx_read_file(const char *path, unsigned char **buf, size_t *size, nq_error *err);
/* Folder of a path ("." if none); caller frees. NULL when out of memory. */
char *nq_onnx_dirname(const char *path);

#endif
