/* nnquant run MODEL --input X.npy [...] --output Y.npy [...] */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "nnquant/run.h"

/* numpy writes float64 by default: accept it for a float32 input. */
static int to_model_dtype(nq_tensor *t, const nq_value *v, const char *path)
{
    if (v->dtype == NQ_DTYPE_UNDEFINED || v->dtype == t->dtype) return NQ_EXIT_OK;
    if (v->dtype == NQ_DTYPE_FLOAT32 && t->dtype == NQ_DTYPE_FLOAT64) {
        nq_tensor f = {0};
        if (nq_tensor_alloc(&f, NQ_DTYPE_FLOAT32, t->ndim, t->dims, NULL) != NQ_OK) return NQ_EXIT_ERROR;
        for (int64_t i = 0; i < nq_tensor_numel(t); i++) ((float *)f.data)[i] = (float)((double *)t->data)[i];
        nq_tensor_free(t);
        *t = f;
        return NQ_EXIT_OK;
    }
    fprintf(stderr, "nnquant: error: %s holds %s data but input '%s' takes %s\n", path,
            nq_dtype_name(t->dtype), v->name, nq_dtype_name(v->dtype));
    return NQ_EXIT_ERROR;
}

int nq_cli_run(int argc, char **argv)
{
    nq_str_list ins = {0}, outs = {0};
    const nq_opt opts[] = {
        {"--input", NQ_OPT_LIST, &ins, "X.npy", "an input, in the model's input order (repeat for each)"},
        {"--output", NQ_OPT_LIST, &outs, "Y.npy", "where to write an output, in the model's output order"},
    };
    const char *pos[1];
    nq_cmd_spec spec = {
        "nnquant run MODEL --input X.npy [--input X2.npy ...] --output Y.npy [--output Y2.npy ...]",
        "Runs the model once on .npy inputs (dtype and shape as the model declares; float64\n"
        "files feed float32 inputs) and writes every output as .npy. Any batch size works\n"
        "when the model's batch dimension is dynamic.",
        1, pos, opts, sizeof opts / sizeof opts[0], NULL};
    int r = nq_args_parse(&spec, argc, argv);
    if (r) return r < 0 ? NQ_EXIT_OK : NQ_EXIT_USAGE;
    nq_graph *g = nq_cli_load_model(pos[0]);
    if (g == NULL) return NQ_EXIT_ERROR;
    if (ins.n != g->n_inputs || outs.n != g->n_outputs) {
        fprintf(stderr, "nnquant: %s has %d input(s) and %d output(s); got %d --input and %d --output\n",
                pos[0], g->n_inputs, g->n_outputs, ins.n, outs.n);
        for (int i = 0; i < g->n_inputs; i++) fprintf(stderr, "  input %d: %s\n", i, g->values[g->inputs[i]]->name);
        for (int i = 0; i < g->n_outputs; i++) fprintf(stderr, "  output %d: %s\n", i, g->values[g->outputs[i]]->name);
        nq_graph_free(g);
        return NQ_EXIT_USAGE;
    }
    nq_tensor in[NQ_LIST_MAX], out[NQ_LIST_MAX];
    memset(in, 0, sizeof in);
    memset(out, 0, sizeof out);
    nq_error err = {0};
    nq_session *s = NULL;
    int rc = NQ_EXIT_OK;
    for (int i = 0; i < ins.n && rc == NQ_EXIT_OK; i++) {
        if (nq_npy_load(ins.v[i], &in[i], &err) != NQ_OK) rc = nq_cli_fail(&err);
        else rc = to_model_dtype(&in[i], g->values[g->inputs[i]], ins.v[i]);
    }
    if (rc == NQ_EXIT_OK && (nq_session_create(g, NULL, &s, &err) != NQ_OK ||
                             nq_session_run(s, in, ins.n, out, outs.n, &err) != NQ_OK))
        rc = nq_cli_fail(&err);
    for (int i = 0; i < outs.n && rc == NQ_EXIT_OK; i++)
        if (nq_npy_save(outs.v[i], &out[i], &err) != NQ_OK) rc = nq_cli_fail(&err);
    for (int i = 0; i < NQ_LIST_MAX; i++) {
        nq_tensor_free(&in[i]);
        nq_tensor_free(&out[i]);
    }
    nq_session_free(s);
    nq_graph_free(g);
    return rc;
}
