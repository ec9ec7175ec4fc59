/*
 * nnquant core: status and error messages, tensors, the graph IR.
 *
 * Conventions (see docs/ and ../shared/DESIGN.md):
 *  - Functions that can fail return nq_status and, when `err` is not NULL,
 *    fill it with a message naming the file/node/op and what is wrong.
 *    The library never prints and never exits.
 *  - The caller owns memory: every *_create/_load has a matching *_free.
 *  - Tensors are dense, row-major (C order). Layout of activations is
 *    [N, C, H, W] (or [N, C, L] for 1-D convolutions, [N, F] for features).
 *  - Sub-byte integer types (int2, int3, int4, uint4) live unpacked, one
 *    value per byte (int8_t / uint8_t) in memory.
 */
#ifndef NNQUANT_CORE_H
#define NNQUANT_CORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Status and errors                                                   */
/* ------------------------------------------------------------------ */

typedef enum nq_status {
    NQ_OK = 0,
    NQ_ERR_INVALID_ARG,  /* caller passed something wrong */
    NQ_ERR_IO,           /* file cannot be opened/read/written */
    NQ_ERR_PARSE,        /* file content is corrupt or truncated */
    NQ_ERR_UNSUPPORTED,  /* valid input we do not support (op, dtype) */
    NQ_ERR_SHAPE,        /* shapes do not fit together */
    NQ_ERR_DATA,         /* bad values (NaN/Inf, label mismatch) */
    NQ_ERR_NOMEM,        /* allocation failed */
    NQ_ERR_INTERNAL      /* invariant broken: a bug in nnquant */
} nq_status;

#define NQ_ERROR_MSG_MAX 512

/* Error context, owned by the caller (usually on the stack). */
typedef struct nq_error {
    nq_status code;
    char msg[NQ_ERROR_MSG_MAX];
} nq_error;

/* Sets err (if not NULL) with a printf-style message; returns `code`. */
nq_status nq_error_set(nq_error *err, nq_status code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* Prepends "prefix: " to an existing message (adds context on the way up). */
nq_status nq_error_prefix(nq_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
const char *nq_status_name(nq_status s);

/* ------------------------------------------------------------------ */
/* Data types                                                          */
/* ------------------------------------------------------------------ */

typedef enum nq_dtype {
    NQ_DTYPE_UNDEFINED = 0,
    NQ_DTYPE_FLOAT32,
    NQ_DTYPE_INT2,   /* unpacked in int8_t, range [-2, 1] */
    NQ_DTYPE_INT3,   /* unpacked in int8_t, range [-4, 3] */
    NQ_DTYPE_INT4,   /* unpacked in int8_t, range [-8, 7] */
    NQ_DTYPE_UINT4,  /* unpacked in uint8_t, range [0, 15] */
    NQ_DTYPE_INT8,
    NQ_DTYPE_UINT8,
    NQ_DTYPE_INT16,
    NQ_DTYPE_INT32,
    NQ_DTYPE_INT64,
    NQ_DTYPE_BOOL,   /* uint8_t 0/1 */
    NQ_DTYPE_FLOAT64,
    NQ_DTYPE_COUNT
} nq_dtype;

/* Bytes per element in memory (sub-byte types: 1). 0 for UNDEFINED. */
size_t nq_dtype_size(nq_dtype t);
/* Lower-case name: "float32", "int4", ... */
const char *nq_dtype_name(nq_dtype t);
/* Parses a name as printed by nq_dtype_name; NQ_DTYPE_UNDEFINED if unknown. */
nq_dtype nq_dtype_from_name(const char *name);
/* Value range of an integer dtype (for float types returns 0 and leaves outputs). */
int nq_dtype_int_range(nq_dtype t, int64_t *min, int64_t *max);
/* 1 for NQ_DTYPE_FLOAT32 / FLOAT64. */
int nq_dtype_is_float(nq_dtype t);

/* ------------------------------------------------------------------ */
/* Tensors                                                             */
/* ------------------------------------------------------------------ */

#define NQ_MAX_DIMS 8

/*
 * A dense tensor. Plain struct: fields may be read freely.
 * `data` is owned by the tensor when `owns_data` is non-zero (then
 * nq_tensor_free releases it); otherwise it is a view into memory that
 * someone else owns (a runtime arena, a caller buffer).
 * A scalar has ndim == 0 and one element.
 */
typedef struct nq_tensor {
    nq_dtype dtype;
    int ndim;
    int64_t dims[NQ_MAX_DIMS];
    void *data;
    int owns_data;
} nq_tensor;

/* Number of elements (product of dims; 1 for a scalar). */
int64_t nq_tensor_numel(const nq_tensor *t);
/* Bytes of data (numel * dtype size). */
size_t nq_tensor_nbytes(const nq_tensor *t);
/* The shape bound of every tensor: each dim >= 0 and the product of the
 * non-zero dims at most INT64_MAX / 16, so that no product of any subset of
 * dims (element counts, per-sample sizes, strides, byte counts) overflows,
 * even when a zero dim makes the tensor empty. Returns -1 if dims[0..ndim)
 * meet it, else the index of the first dim that does not (*negative: 1 if
 * that dim is < 0, 0 if the product grows too large). */
int nq_dims_bad(int ndim, const int64_t *dims, int *negative);
/* Sets dtype and shape (no allocation). Fails if ndim > NQ_MAX_DIMS or the
 * dims break nq_dims_bad's bound. */
nq_status nq_tensor_init(nq_tensor *t, nq_dtype dtype, int ndim, const int64_t *dims,
                         nq_error *err);
/* Sets dtype and shape and allocates zeroed, owned storage. */
nq_status nq_tensor_alloc(nq_tensor *t, nq_dtype dtype, int ndim, const int64_t *dims,
                          nq_error *err);
/* Deep copy into `dst` (which must not hold owned data). */
nq_status nq_tensor_copy(nq_tensor *dst, const nq_tensor *src, nq_error *err);
/* Frees owned data and resets the struct to an empty float32 scalar view. */
void nq_tensor_free(nq_tensor *t);
/* Heap-allocated tensor helpers (for graph initializers and attributes). */
nq_tensor *nq_tensor_new(void);
void nq_tensor_delete(nq_tensor *t); /* frees data (if owned) and the struct */
/* 1 if same dtype, shape and bytes. */
int nq_tensor_equal(const nq_tensor *a, const nq_tensor *b);
/* Same dtype and shape. */
int nq_tensor_same_shape(const nq_tensor *a, const nq_tensor *b);
/* Reads element i (flat index) of any dtype as double / writes a double
 * (rounded to nearest, ties away, and saturated for integer types). */
double nq_tensor_get(const nq_tensor *t, int64_t i);
void nq_tensor_set(nq_tensor *t, int64_t i, double v);
/* "[1,3,28,28]" into buf; returns buf. */
const char *nq_shape_str(int ndim, const int64_t *dims, char *buf, size_t size);

/* ------------------------------------------------------------------ */
/* Attributes                                                          */
/* ------------------------------------------------------------------ */

typedef enum nq_attr_type {
    NQ_ATTR_FLOAT = 1,
    NQ_ATTR_INT,
    NQ_ATTR_STRING,
    NQ_ATTR_TENSOR,
    NQ_ATTR_FLOATS,
    NQ_ATTR_INTS,
    NQ_ATTR_STRINGS
} nq_attr_type;

typedef struct nq_attr {
    char *name;
    nq_attr_type type;
    float f;         /* NQ_ATTR_FLOAT */
    int64_t i;       /* NQ_ATTR_INT */
    char *s;         /* NQ_ATTR_STRING (NUL-terminated; raw bytes kept as is) */
    nq_tensor *t;    /* NQ_ATTR_TENSOR (owned) */
    int n;           /* element count for FLOATS / INTS / STRINGS */
    float *floats;
    int64_t *ints;
    char **strings;
} nq_attr;

/* ------------------------------------------------------------------ */
/* Graph                                                               */
/* ------------------------------------------------------------------ */

/*
 * A graph is nodes plus SSA values, as in ONNX. A value is produced by at
 * most one node; a value with `init` set is a constant producer
 * (an ONNX initializer: weights, biases, scales). Values are referred to
 * by their index in graph->values; indices are stable (values are never
 * removed except by nq_graph_compact). Nodes are kept in a list whose
 * order is a valid topological order after nq_graph_toposort().
 *
 * The struct is visible so that passes can iterate; mutate it through the
 * functions below so that invariants (producer links, names) hold.
 */
typedef struct nq_node nq_node;

typedef struct nq_value {
    char *name;
    nq_dtype dtype;       /* NQ_DTYPE_UNDEFINED if unknown */
    int ndim;             /* -1 if the rank is unknown */
    int64_t dims[NQ_MAX_DIMS]; /* -1 for a dynamic/unknown dim */
    nq_tensor *init;      /* constant data (owned), or NULL */
    nq_node *producer;    /* node producing it, or NULL (input/initializer) */
    int is_input;         /* graph input (fed at run time) */
    int is_output;        /* graph output */
} nq_value;

struct nq_node {
    char *name;
    char *op_type;        /* "Conv", "Relu", ... */
    char *domain;         /* "" for the default ONNX domain */
    int op;               /* nq_op_id resolved by nq_ops_resolve, -1 if unknown */
    int n_inputs;
    int *inputs;          /* value indices; -1 marks an absent optional input; change
                             them with nq_node_set_input(s) (the graph indexes them) */
    int n_outputs;
    int *outputs;         /* value indices; -1 marks an absent optional output */
    int n_attrs;
    nq_attr *attrs;
    int pos;              /* private to the core: where the node last was in g->nodes */
};

typedef struct nq_opset {
    char *domain;         /* "" or "ai.onnx" for the default domain */
    int64_t version;
} nq_opset;

typedef struct nq_graph {
    char *name;
    int n_values, cap_values;
    nq_value **values;
    int n_nodes, cap_nodes;
    nq_node **nodes;
    int n_inputs;         /* graph inputs in order (value indices; no initializers) */
    int *inputs;
    int n_outputs;        /* graph outputs in order (value indices) */
    int *outputs;
    int n_opsets;
    nq_opset *opsets;
    int64_t ir_version;
    char *producer_name;
    /* model metadata_props (key/value), kept through import/export */
    int n_meta;
    char **meta_keys;
    char **meta_values;
    /* private to the core: name -> value / node hash indexes, kept by the
     * nq_graph_* functions (rename values and nodes through them too) */
    struct nq_name_index *value_names, *node_names;
    /* private to the core: value -> consuming nodes, kept by the nq_graph_*
     * and nq_node_set_input(s) functions */
    struct nq_use_index *uses;
} nq_graph;

nq_graph *nq_graph_create(const char *name);
/* Model metadata (ONNX metadata_props): sets or replaces a key; returns the
 * value or NULL. */
nq_status nq_graph_set_meta(nq_graph *g, const char *key, const char *value, nq_error *err);
const char *nq_graph_meta(const nq_graph *g, const char *key);
void nq_graph_free(nq_graph *g);
/* Deep copy. */
nq_status nq_graph_clone(const nq_graph *g, nq_graph **out, nq_error *err);

/* Opset version for a domain ("" = default ONNX domain); 0 if not imported. */
int64_t nq_graph_opset(const nq_graph *g, const char *domain);
nq_status nq_graph_set_opset(nq_graph *g, const char *domain, int64_t version, nq_error *err);

/* Values. Names must be unique (NULL -> a fresh name is generated). */
int nq_graph_add_value(nq_graph *g, const char *name, nq_error *err); /* -1 on failure */
int nq_graph_find_value(const nq_graph *g, const char *name);         /* -1 if absent */
/* Adds a constant value holding `t` (ownership of *t moves into the graph). */
int nq_graph_add_initializer(nq_graph *g, const char *name, nq_tensor *t, nq_error *err);
nq_status nq_graph_add_input(nq_graph *g, int value, nq_error *err);
nq_status nq_graph_add_output(nq_graph *g, int value, nq_error *err);
/* Fresh unique name built from a prefix ("conv1_out" -> "conv1_out_1"...). Caller frees. */
char *nq_graph_unique_name(const nq_graph *g, const char *prefix);

/* Nodes. The node is appended to the list; inputs/outputs are value
 * indices (-1 = absent). Sets producer links of outputs. Returns NULL on failure. */
nq_node *nq_graph_add_node(nq_graph *g, const char *op_type, const char *name,
                           int n_inputs, const int *inputs,
                           int n_outputs, const int *outputs, nq_error *err);
int nq_graph_node_index(const nq_graph *g, const nq_node *n); /* -1 if absent */
nq_node *nq_graph_find_node(const nq_graph *g, const char *name);

/* Attributes (the node keeps copies). Setting an existing name replaces it. */
nq_status nq_node_set_int(nq_node *n, const char *name, int64_t v);
nq_status nq_node_set_float(nq_node *n, const char *name, float v);
nq_status nq_node_set_string(nq_node *n, const char *name, const char *v);
nq_status nq_node_set_ints(nq_node *n, const char *name, int count, const int64_t *v);
nq_status nq_node_set_floats(nq_node *n, const char *name, int count, const float *v);
/* Takes ownership of t. */
nq_status nq_node_set_tensor(nq_node *n, const char *name, nq_tensor *t);
const nq_attr *nq_node_attr(const nq_node *n, const char *name); /* NULL if absent */
int64_t nq_node_attr_int(const nq_node *n, const char *name, int64_t dflt);
float nq_node_attr_float(const nq_node *n, const char *name, float dflt);
const char *nq_node_attr_string(const nq_node *n, const char *name, const char *dflt);
/* Returns count (0 if absent) and points *v at the stored array. */
int nq_node_attr_ints(const nq_node *n, const char *name, const int64_t **v);
int nq_node_attr_floats(const nq_node *n, const char *name, const float **v);
nq_status nq_node_remove_attr(nq_node *n, const char *name);
/* Deep-copies an attribute into a fresh struct (used by clone/import). */
nq_status nq_attr_copy(nq_attr *dst, const nq_attr *src);
void nq_attr_clear(nq_attr *a);

/* Topology. */
/* Sorts nodes so that every node comes after the producers of its inputs.
 * Fails (naming a node) on a cycle or on a value used but never defined. */
nq_status nq_graph_toposort(nq_graph *g, nq_error *err);
/* Nodes consuming value v, in graph order, each once: fills up to `max`
 * pointers, returns the total count. Answered from an index that the
 * nq_graph_* functions and nq_node_set_input(s) keep; after changing node
 * inputs any other way, call nq_graph_invalidate_uses. */
int nq_graph_consumers(const nq_graph *g, int v, nq_node **out, int max);
/* Input k of n now reads value v (-1: absent); NQ_ERR_INVALID_ARG for a bad k or v. */
nq_status nq_node_set_input(nq_graph *g, nq_node *n, int k, int v);
/* Replaces all of n's inputs by ids[0..count). */
nq_status nq_node_set_inputs(nq_graph *g, nq_node *n, int count, const int *ids, nq_error *err);
/* Forgets the consumer index (rebuilt on the next query). */
void nq_graph_invalidate_uses(nq_graph *g);
/* Checks invariants: unique value names, producer links, defined inputs. */
nq_status nq_graph_validate(const nq_graph *g, nq_error *err);

/* Rewrite API: every PTQ/QAT pass is built from these. */
/* Inserts a node with one input and one output after value v: the new node
 * reads v and writes a fresh value; every former consumer of v (and the
 * graph output slot, if v was an output) now reads the fresh value. A graph
 * output keeps its name: the fresh value takes it and v is renamed.
 * Extra inputs (e.g. scale constants) may be passed in `extra` (n_extra of them). */
nq_node *nq_graph_insert_after(nq_graph *g, int v, const char *op_type, const char *name,
                               int n_extra, const int *extra, nq_error *err);
/* Inserts a node on one edge only: `consumer`'s input slot `input` (reading
 * value v) now reads the output of a new node that reads v (plus `extra`
 * inputs). Other consumers of v are untouched. The node is placed right
 * before `consumer` in the node list. */
nq_node *nq_graph_insert_on_edge(nq_graph *g, nq_node *consumer, int input, const char *op_type,
                                 const char *name, int n_extra, const int *extra, nq_error *err);
/* Removes a single-data-path node (input 0 -> output 0): consumers of its
 * output are rewired to its input 0. The node is freed. */
nq_status nq_graph_remove_node(nq_graph *g, nq_node *n, nq_error *err);
/* Rewires every use of value `from` (node inputs and graph outputs) to `to`. */
void nq_graph_replace_uses(nq_graph *g, int from, int to);
/* Deletes a node without rewiring (its outputs lose their producer). */
void nq_graph_delete_node(nq_graph *g, nq_node *n);
/* Removes nodes whose outputs are unused (and not graph outputs), and
 * values referenced by nobody; renumbers values. */
nq_status nq_graph_compact(nq_graph *g, nq_error *err);

#ifdef __cplusplus
}
#endif
#endif
