/* Pieces shared by subcommands: model and data loading, progress, JSON. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "nnquant/onnx.h"
#include "nnquant/qdq.h"

int nq_cli_fail(const nq_error *err)
{
    fprintf(stderr, "nnquant: error: %s\n", err->msg[0] ? err->msg : nq_status_name(err->code));
    return NQ_EXIT_ERROR;
}

nq_graph *nq_cli_load_model(const char *path)
{
    nq_graph *g = NULL;
    nq_error err = {0};
    if (nq_onnx_load(path, &g, &err) != NQ_OK) {
        nq_cli_fail(&err);
        return NULL;
    }
    if (nq_graph_is_qdq(g)) { /* QuantizeLinear/DequantizeLinear: run it in integers */
        if (nq_qdq_import(g, &err) != NQ_OK) {
            nq_graph_free(g);
            nq_cli_fail(&err);
            return NULL;
        }
        fprintf(stderr, "nnquant: %s is a QDQ model: converted to nnquant's integer form\n", path);
    }
    return g;
}

int nq_cli_load_data(const nq_cli_data *d, int need_labels, nq_dataset **out)
{
    nq_error err = {0};
    nq_preprocess prep;
    nq_preprocess_default(&prep);
    *out = NULL;
    if (d->data == NULL) {
        fprintf(stderr, "nnquant: --data FILE is required\n");
        return NQ_EXIT_USAGE;
    }
    if (need_labels && d->labels == NULL) {
        fprintf(stderr, "nnquant: --labels FILE is required\n");
        return NQ_EXIT_USAGE;
    }
    prep.scale = (float)d->scale;
    if (!isfinite(d->scale)) {
        fprintf(stderr, "nnquant: --scale must be a finite number\n");
        return NQ_EXIT_USAGE;
    }
    if (d->mean && (prep.n_mean = nq_parse_float_list(d->mean, prep.mean, NQ_MAX_CHANNELS)) < 1) {
        fprintf(stderr, "nnquant: --mean expects a number or a comma-separated list, got '%s'\n", d->mean);
        return NQ_EXIT_USAGE;
    }
    if (d->std && (prep.n_std = nq_parse_float_list(d->std, prep.std, NQ_MAX_CHANNELS)) < 1) {
        fprintf(stderr, "nnquant: --std expects a number or a comma-separated list, got '%s'\n", d->std);
        return NQ_EXIT_USAGE;
    }
    for (int i = 0; i < prep.n_std; i++)
        if (prep.std[i] == 0.0f) {
            fprintf(stderr, "nnquant: --std must not be zero\n");
            return NQ_EXIT_USAGE;
        }
    if (d->limit < 0) {
        fprintf(stderr, "nnquant: --limit must be positive\n");
        return NQ_EXIT_USAGE;
    }
    if (nq_dataset_load(d->data, d->labels, &prep, d->limit, out, &err) != NQ_OK) return nq_cli_fail(&err);
    return NQ_EXIT_OK;
}

void nq_cli_progress(void *user, int64_t done, int64_t total)
{
    nq_cli_progress_state *p = user;
    if (p == NULL || !p->enabled || total <= 0) return;
    double now = nq_now_seconds();
    if (done < total && now - p->last < 0.1) return;
    p->last = now;
    int width = 30, filled = (int)(width * done / total);
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
    bar[width] = '\0';
    double el = now - p->start;
    fprintf(stderr, "\r%s [%s] %lld/%lld  %.1fs", p->label, bar, (long long)done, (long long)total, el);
    if (done >= total) fprintf(stderr, "\n");
    fflush(stderr);
}

void nq_cli_progress_init(nq_cli_progress_state *p, const char *label, int quiet)
{
    p->label = label;
    p->enabled = !quiet && isatty(STDERR_FILENO);
    p->start = p->last = nq_now_seconds();
}

void nq_cli_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}
