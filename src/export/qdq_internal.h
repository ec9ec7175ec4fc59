/* Private helpers shared by the QDQ export and import (src/export/qdq_*.c). */
#ifndef NQ_QDQ_INTERNAL_H
#define NQ_QDQ_INTERNAL_H

#include "nnquant/ops.h"
#include "nnquant/qdq.h"

/* A fresh value named after `base` (made unique); -1 on failure. */
int nq_qdq_new_value(nq_graph *g, const char *base, nq_error *err);
/* Adds v's name, dtype and shape to g as a graph input; its index or -1. */
int nq_qdq_add_input_like(nq_graph *g, const nq_value *v, nq_error *err);
/* A constant of n values (n == 1 with ndim 0: a scalar, else 1-D [n])
 * from doubles, converted to dtype (float32 or an integer type). */
int nq_qdq_const(nq_graph *g, const char *base, nq_dtype dtype, int64_t n, int ndim,
                 const double *vals, nq_error *err);
/* A node with a generated unique name built from `base`. */
nq_node *nq_qdq_node(nq_graph *g, const char *op_type, const char *base, int n_in, const int *in,
                     int n_out, const int *out, nq_error *err);
/* Replaces *field (a malloc'ed string: node domain, producer name) by a copy
 * of value. */
nq_status nq_qdq_set_string(char **field, const char *value, nq_error *err);
/* Copies src's attributes to dst, except those named "quantization.*". */
nq_status nq_qdq_copy_attrs(nq_node *dst, const nq_node *src, nq_error *err);
/* The constant behind input slot i of n (NULL if absent or not constant). */
const nq_tensor *nq_qdq_const_input(const nq_graph *g, const nq_node *n, int i);
/* Output-channel axis of an affine node's weight: Conv 0, Gemm with transB
 * 0, otherwise (Gemm, MatMul [K, N]) 1. */
int nq_qdq_weight_axis(const nq_node *n);

#endif
