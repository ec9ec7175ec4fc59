/* A tiny allocation arena for building protobuf-c messages on export:
 * every piece comes from here and one call frees them all, so export
 * code needs no per-field cleanup on its error paths. */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "onnx/onnx_internal.h"

struct nq_onnx_chunk {
    nq_onnx_chunk *next;
    max_align_t data[]; /* suitably aligned for any object */
};

void *nq_onnx_arena_alloc(nq_onnx_arena *a, size_t size)
{
    if (size > SIZE_MAX - sizeof(nq_onnx_chunk)) return NULL;
    nq_onnx_chunk *c = calloc(1, sizeof *c + (size ? size : 1));
    if (c == NULL) return NULL;
    c->next = a->head;
    a->head = c;
    return c->data;
}

void *nq_onnx_arena_array(nq_onnx_arena *a, size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size) return NULL;
    return nq_onnx_arena_alloc(a, n * size);
}

char *nq_onnx_arena_strdup(nq_onnx_arena *a, const char *s)
{
    if (s == NULL) s = "";
    size_t n = strlen(s) + 1;
    char *d = nq_onnx_arena_alloc(a, n);
    if (d != NULL) memcpy(d, s, n);
    return d;
}

char *nq_onnx_arena_printf(nq_onnx_arena *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return NULL;
    char *d = nq_onnx_arena_alloc(a, (size_t)n + 1);
    if (d == NULL) return NULL;
    va_start(ap, fmt);
    vsnprintf(d, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return d;
}

void nq_onnx_arena_free(nq_onnx_arena *a)
{
    nq_onnx_chunk *c = a->head;
    while (c != NULL) {
        nq_onnx_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
}
