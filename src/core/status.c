/* Status codes and error messages (kept in the caller's nq_error, never global). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "nnquant/core.h"

static const char *const status_names[] = {
    [NQ_OK] = "ok",
    [NQ_ERR_INVALID_ARG] = "invalid argument",
    [NQ_ERR_IO] = "I/O error",
    [NQ_ERR_PARSE] = "parse error",
    [NQ_ERR_UNSUPPORTED] = "unsupported",
    [NQ_ERR_SHAPE] = "shape error",
    [NQ_ERR_DATA] = "bad data",
    [NQ_ERR_NOMEM] = "out of memory",
    [NQ_ERR_INTERNAL] = "internal error",
};

const char *nq_status_name(nq_status s)
{
    if ((unsigned)s >= sizeof status_names / sizeof status_names[0]) return "unknown status";
    return status_names[s];
}

nq_status nq_error_set(nq_error *err, nq_status code, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

nq_status nq_error_prefix(nq_error *err, const char *fmt, ...)
{
    if (err == NULL) return NQ_OK;
    char prefix[NQ_ERROR_MSG_MAX], old[NQ_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    old[sizeof old - 1] = '\0';
    size_t lp = strlen(prefix), lo = strlen(old), cap = sizeof err->msg - 1, at = 0;
    if (lp > cap) lp = cap;
    memcpy(err->msg, prefix, lp);
    at = lp;
    if (at + 2 <= cap) {
        memcpy(err->msg + at, ": ", 2);
        at += 2;
    }
    if (lo > cap - at) lo = cap - at;
    memcpy(err->msg + at, old, lo);
    err->msg[at + lo] = '\0';
    return err->code;
}
