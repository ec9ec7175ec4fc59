/* Helpers shared by the ONNX tests: temp folders, deep graph comparison,
 * the optional Python ONNX checker. Include after defining
 * _POSIX_C_SOURCE 200809L. */
#ifndef TEST_ONNX_UTIL_H
#define TEST_ONNX_UTIL_H
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nnquant/core.h"

/* A fresh folder under $TMPDIR (or /tmp); REQUIREs success. */
static inline char *tu_mkdtemp(void)
{
    const char *base = getenv("TMPDIR");
    if (base == NULL || base[0] == '\0') base = "/tmp";
    size_t n = strlen(base) + 32;
    char *d = malloc(n);
    if (d == NULL) exit(1);
    snprintf(d, n, "%s/nq_onnx_XXXXXX", base);
    if (mkdtemp(d) == NULL) {
        perror("mkdtemp");
        exit(1);
    }
    return d;
}

/* Removes the files of a flat folder, then the folder; frees `dir`. */
static inline void tu_rmtree(char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        char path[4096];
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
    free(dir);
}

static inline char *tu_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p == NULL) exit(1);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static inline int tu_file_exists(const char *path) { return access(path, F_OK) == 0; }

static inline int tu_fail(char *why, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
    return 0;
}

static inline int tu_str_eq(const char *a, const char *b)
{
    return (a == NULL || b == NULL) ? a == b : strcmp(a, b) == 0;
}

static inline int tu_attr_equal(const nq_attr *a, const nq_attr *b)
{
    if (!tu_str_eq(a->name, b->name) || a->type != b->type) return 0;
    switch (a->type) {
    case NQ_ATTR_FLOAT: return memcmp(&a->f, &b->f, sizeof a->f) == 0;
    case NQ_ATTR_INT: return a->i == b->i;
    case NQ_ATTR_STRING: return tu_str_eq(a->s, b->s);
    case NQ_ATTR_TENSOR: return a->t && b->t && nq_tensor_equal(a->t, b->t);
    case NQ_ATTR_FLOATS:
        return a->n == b->n && (a->n == 0 || memcmp(a->floats, b->floats, sizeof(float) * (size_t)a->n) == 0);
    case NQ_ATTR_INTS:
        return a->n == b->n && (a->n == 0 || memcmp(a->ints, b->ints, sizeof(int64_t) * (size_t)a->n) == 0);
    case NQ_ATTR_STRINGS:
        if (a->n != b->n) return 0;
        for (int i = 0; i < a->n; i++)
            if (!tu_str_eq(a->strings[i], b->strings[i])) return 0;
        return 1;
    }
    return 0;
}

static inline const char *tu_vname(const nq_graph *g, int v) { return v < 0 ? "" : g->values[v]->name; }

static inline int tu_node_equal(const nq_graph *ga, const nq_node *a, const nq_graph *gb,
                                const nq_node *b, char *why, size_t n)
{
    if (!tu_str_eq(a->op_type, b->op_type) || !tu_str_eq(a->domain, b->domain))
        return tu_fail(why, n, "node '%s': op/domain differ", a->name);
    if (a->n_inputs != b->n_inputs || a->n_outputs != b->n_outputs || a->n_attrs != b->n_attrs)
        return tu_fail(why, n, "node '%s': input/output/attribute counts differ", a->name);
    for (int k = 0; k < a->n_inputs; k++)
        if (strcmp(tu_vname(ga, a->inputs[k]), tu_vname(gb, b->inputs[k])) != 0)
            return tu_fail(why, n, "node '%s': input %d differs", a->name, k);
    for (int k = 0; k < a->n_outputs; k++)
        if (strcmp(tu_vname(ga, a->outputs[k]), tu_vname(gb, b->outputs[k])) != 0)
            return tu_fail(why, n, "node '%s': output %d differs", a->name, k);
    for (int k = 0; k < a->n_attrs; k++) {
        const nq_attr *o = nq_node_attr(b, a->attrs[k].name);
        if (o == NULL || !tu_attr_equal(&a->attrs[k], o))
            return tu_fail(why, n, "node '%s': attribute '%s' differs", a->name, a->attrs[k].name);
    }
    return 1;
}

static inline int tu_value_equal(const nq_value *a, const nq_value *b, char *why, size_t n)
{
    if (a->dtype != b->dtype || a->ndim != b->ndim)
        return tu_fail(why, n, "value '%s': dtype/rank %d/%d vs %d/%d", a->name, (int)a->dtype,
                       a->ndim, (int)b->dtype, b->ndim);
    for (int i = 0; i < a->ndim; i++)
        if (a->dims[i] != b->dims[i]) return tu_fail(why, n, "value '%s': dim %d differs", a->name, i);
    if ((a->init == NULL) != (b->init == NULL) || (a->init && !nq_tensor_equal(a->init, b->init)))
        return tu_fail(why, n, "value '%s': initializer differs", a->name);
    if (a->is_input != b->is_input || a->is_output != b->is_output)
        return tu_fail(why, n, "value '%s': input/output flags differ", a->name);
    if ((a->producer == NULL) != (b->producer == NULL) ||
        (a->producer && !tu_str_eq(a->producer->name, b->producer->name)))
        return tu_fail(why, n, "value '%s': producer differs", a->name);
    return 1;
}

/* Deep comparison by names (value and node order may differ). */
static inline int tu_graph_equal(const nq_graph *a, const nq_graph *b, char *why, size_t n)
{
    if (!tu_str_eq(a->name, b->name)) return tu_fail(why, n, "graph names differ");
    if (a->ir_version != b->ir_version) return tu_fail(why, n, "ir_version differs");
    if (!tu_str_eq(a->producer_name, b->producer_name)) return tu_fail(why, n, "producer differs");
    if (a->n_opsets != b->n_opsets) return tu_fail(why, n, "opset counts differ");
    for (int i = 0; i < a->n_opsets; i++)
        if (nq_graph_opset(b, a->opsets[i].domain) != a->opsets[i].version)
            return tu_fail(why, n, "opset '%s' differs", a->opsets[i].domain);
    if (a->n_meta != b->n_meta) return tu_fail(why, n, "metadata counts differ");
    for (int i = 0; i < a->n_meta; i++)
        if (!tu_str_eq(a->meta_keys[i], b->meta_keys[i]) || !tu_str_eq(a->meta_values[i], b->meta_values[i]))
            return tu_fail(why, n, "metadata %d differs", i);
    if (a->n_values != b->n_values)
        return tu_fail(why, n, "value counts differ: %d vs %d", a->n_values, b->n_values);
    for (int i = 0; i < a->n_values; i++) {
        int j = nq_graph_find_value(b, a->values[i]->name);
        if (j < 0) return tu_fail(why, n, "value '%s' missing", a->values[i]->name);
        if (!tu_value_equal(a->values[i], b->values[j], why, n)) return 0;
    }
    if (a->n_inputs != b->n_inputs || a->n_outputs != b->n_outputs)
        return tu_fail(why, n, "graph input/output counts differ");
    for (int i = 0; i < a->n_inputs; i++)
        if (strcmp(tu_vname(a, a->inputs[i]), tu_vname(b, b->inputs[i])) != 0)
            return tu_fail(why, n, "graph input %d differs", i);
    for (int i = 0; i < a->n_outputs; i++)
        if (strcmp(tu_vname(a, a->outputs[i]), tu_vname(b, b->outputs[i])) != 0)
            return tu_fail(why, n, "graph output %d differs", i);
    if (a->n_nodes != b->n_nodes) return tu_fail(why, n, "node counts differ");
    for (int i = 0; i < a->n_nodes; i++) {
        const nq_node *o = nq_graph_find_node(b, a->nodes[i]->name);
        if (o == NULL) return tu_fail(why, n, "node '%s' missing", a->nodes[i]->name);
        if (!tu_node_equal(a, a->nodes[i], b, o, why, n)) return 0;
    }
    return 1;
}

/* 1 if /usr/bin/python3 can import onnx (the Debian python3-onnx). */
static inline int tu_have_python_onnx(void)
{
    return system("/usr/bin/python3 -c 'import onnx' >/dev/null 2>&1") == 0;
}

/* Runs onnx.checker.check_model on a file; 1 if it passes. */
static inline int tu_python_check(const char *path)
{
    char cmd[4600];
    snprintf(cmd, sizeof cmd,
             "/usr/bin/python3 -c 'import onnx, sys; onnx.checker.check_model(onnx.load(sys.argv[1]))' '%s'",
             path);
    return system(cmd) == 0;
}

#endif
