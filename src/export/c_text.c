/* Text buffers for the C exporter: printf into memory, then one atomic
 * write per file (nq_write_file_atomic). */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "export/c_internal.h"
#include "nnquant/data.h"

static int grow(cx_text *t, size_t need)
{
    if (t->oom) return 0;
    if (t->n + need + 1 <= t->cap) return 1;
    size_t cap = t->cap ? t->cap : 4096;
    while (cap < t->n + need + 1) cap *= 2;
    char *s = realloc(t->s, cap);
    if (s == NULL) {
        t->oom = 1;
        return 0;
    }
    t->s = s;
    t->cap = cap;
    return 1;
}

void cx_printf(cx_text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !grow(t, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(t->s + t->n, (size_t)n + 1, fmt, ap);
    va_end(ap);
    t->n += (size_t)n;
}

void cx_write_raw(cx_text *t, const void *buf, size_t n)
{
    if (!grow(t, n)) return;
    memcpy(t->s + t->n, buf, n);
    t->n += n;
    t->s[t->n] = '\0';
}

void cx_print_ints(cx_text *t, const int64_t *v, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        cx_printf(t, "%s%lld%s", i % 16 == 0 ? "    " : "", (long long)v[i],
                  i + 1 == n ? "\n" : i % 16 == 15 ? ",\n" : ", ");
}

nq_status cx_text_save(cx_text *t, const char *dir, const char *name, nq_error *err)
{
    nq_status st = NQ_OK;
    if (t->oom) {
        st = nq_error_set(err, NQ_ERR_NOMEM, "out of memory writing %s", name);
    } else {
        size_t len = strlen(dir) + strlen(name) + 2;
        char *path = malloc(len);
        if (path == NULL) {
            st = nq_error_set(err, NQ_ERR_NOMEM, "out of memory");
        } else {
            snprintf(path, len, "%s/%s", dir, name);
            st = nq_write_file_atomic(path, t->s ? t->s : "", t->n, err);
            free(path);
        }
    }
    free(t->s);
    memset(t, 0, sizeof *t);
    return st;
}
