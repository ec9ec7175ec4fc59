/* Node attributes: typed values stored by name, copied in and owned by the node. */
#include <stdlib.h>
#include <string.h>

#include "nnquant/core.h"
#include "core/core_internal.h"

void nq_attr_clear(nq_attr *a)
{
    free(a->name);
    free(a->s);
    nq_tensor_delete(a->t);
    free(a->floats);
    free(a->ints);
    if (a->strings != NULL)
        for (int i = 0; i < a->n; i++) free(a->strings[i]);
    free(a->strings);
    memset(a, 0, sizeof *a);
}

nq_status nq_attr_copy(nq_attr *dst, const nq_attr *src)
{
    memset(dst, 0, sizeof *dst);
    dst->type = src->type;
    dst->f = src->f;
    dst->i = src->i;
    dst->n = src->n;
    dst->name = nq_strdup(src->name);
    if (dst->name == NULL) goto fail;
    if (src->s != NULL && (dst->s = nq_strdup(src->s)) == NULL) goto fail;
    if (src->t != NULL) {
        dst->t = nq_tensor_new();
        if (dst->t == NULL || nq_tensor_copy(dst->t, src->t, NULL) != NQ_OK) goto fail;
    }
    if (src->floats != NULL && src->n > 0) {
        if ((dst->floats = malloc(sizeof(float) * (size_t)src->n)) == NULL) goto fail;
        memcpy(dst->floats, src->floats, sizeof(float) * (size_t)src->n);
    }
    if (src->ints != NULL && src->n > 0) {
        if ((dst->ints = malloc(sizeof(int64_t) * (size_t)src->n)) == NULL) goto fail;
        memcpy(dst->ints, src->ints, sizeof(int64_t) * (size_t)src->n);
    }
    if (src->strings != NULL && src->n > 0) {
        if ((dst->strings = calloc((size_t)src->n, sizeof(char *))) == NULL) goto fail;
        for (int i = 0; i < src->n; i++)
            if ((dst->strings[i] = nq_strdup(src->strings[i])) == NULL) goto fail;
    }
    return NQ_OK;
fail:
    nq_attr_clear(dst);
    return NQ_ERR_NOMEM;
}

static nq_attr *find(const nq_node *n, const char *name)
{
    for (int i = 0; i < n->n_attrs; i++)
        if (strcmp(n->attrs[i].name, name) == 0) return &n->attrs[i];
    return NULL;
}

/* Returns a cleared slot named `name` (replacing an existing one). */
static nq_attr *slot(nq_node *n, const char *name, nq_attr_type type)
{
    nq_attr *a = find(n, name);
    if (a != NULL) {
        nq_attr_clear(a);
    } else {
        nq_attr *grown = realloc(n->attrs, sizeof(nq_attr) * (size_t)(n->n_attrs + 1));
        if (grown == NULL) return NULL;
        n->attrs = grown;
        a = &n->attrs[n->n_attrs++];
        memset(a, 0, sizeof *a);
    }
    a->type = type;
    a->name = nq_strdup(name);
    if (a->name == NULL) {
        /* keep the node consistent: drop the empty slot */
        *a = n->attrs[--n->n_attrs];
        return NULL;
    }
    return a;
}

nq_status nq_node_set_int(nq_node *n, const char *name, int64_t v)
{
    nq_attr *a = slot(n, name, NQ_ATTR_INT);
    if (a == NULL) return NQ_ERR_NOMEM;
    a->i = v;
    return NQ_OK;
}

nq_status nq_node_set_float(nq_node *n, const char *name, float v)
{
    nq_attr *a = slot(n, name, NQ_ATTR_FLOAT);
    if (a == NULL) return NQ_ERR_NOMEM;
    a->f = v;
    return NQ_OK;
}

nq_status nq_node_set_string(nq_node *n, const char *name, const char *v)
{
    char *copy = nq_strdup(v);
    if (copy == NULL) return NQ_ERR_NOMEM;
    nq_attr *a = slot(n, name, NQ_ATTR_STRING);
    if (a == NULL) {
        free(copy);
        return NQ_ERR_NOMEM;
    }
    a->s = copy;
    return NQ_OK;
}

nq_status nq_node_set_ints(nq_node *n, const char *name, int count, const int64_t *v)
{
    int64_t *copy = malloc(sizeof(int64_t) * (size_t)(count > 0 ? count : 1));
    if (copy == NULL) return NQ_ERR_NOMEM;
    if (count > 0) memcpy(copy, v, sizeof(int64_t) * (size_t)count);
    nq_attr *a = slot(n, name, NQ_ATTR_INTS);
    if (a == NULL) {
        free(copy);
        return NQ_ERR_NOMEM;
    }
    a->ints = copy;
    a->n = count;
    return NQ_OK;
}

nq_status nq_node_set_floats(nq_node *n, const char *name, int count, const float *v)
{
    float *copy = malloc(sizeof(float) * (size_t)(count > 0 ? count : 1));
    if (copy == NULL) return NQ_ERR_NOMEM;
    if (count > 0) memcpy(copy, v, sizeof(float) * (size_t)count);
    nq_attr *a = slot(n, name, NQ_ATTR_FLOATS);
    if (a == NULL) {
        free(copy);
        return NQ_ERR_NOMEM;
    }
    a->floats = copy;
    a->n = count;
    return NQ_OK;
}

nq_status nq_node_set_tensor(nq_node *n, const char *name, nq_tensor *t)
{
    nq_attr *a = slot(n, name, NQ_ATTR_TENSOR);
    if (a == NULL) return NQ_ERR_NOMEM;
    a->t = t;
    return NQ_OK;
}

const nq_attr *nq_node_attr(const nq_node *n, const char *name) { return find(n, name); }

int64_t nq_node_attr_int(const nq_node *n, const char *name, int64_t dflt)
{
    const nq_attr *a = find(n, name);
    return a != NULL && a->type == NQ_ATTR_INT ? a->i : dflt;
}

float nq_node_attr_float(const nq_node *n, const char *name, float dflt)
{
    const nq_attr *a = find(n, name);
    return a != NULL && a->type == NQ_ATTR_FLOAT ? a->f : dflt;
}

const char *nq_node_attr_string(const nq_node *n, const char *name, const char *dflt)
{
    const nq_attr *a = find(n, name);
    return a != NULL && a->type == NQ_ATTR_STRING ? a->s : dflt;
}

int nq_node_attr_ints(const nq_node *n, const char *name, const int64_t **v)
{
    const nq_attr *a = find(n, name);
    if (a == NULL || a->type != NQ_ATTR_INTS) {
        *v = NULL;
        return 0;
    }
    *v = a->ints;
    return a->n;
}

int nq_node_attr_floats(const nq_node *n, const char *name, const float **v)
{
    const nq_attr *a = find(n, name);
    if (a == NULL || a->type != NQ_ATTR_FLOATS) {
        *v = NULL;
        return 0;
    }
    *v = a->floats;
    return a->n;
}

nq_status nq_node_remove_attr(nq_node *n, const char *name)
{
    nq_attr *a = find(n, name);
    if (a == NULL) return NQ_OK;
    nq_attr_clear(a);
    *a = n->attrs[--n->n_attrs];
    return NQ_OK;
}
