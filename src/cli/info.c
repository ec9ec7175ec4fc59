/* nnquant info MODEL [--json] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "nnquant/export.h"
#include "nnquant/ops.h"
#include "nnquant/run.h"

typedef struct op_count {
    const char *op;
    int n;
} op_count;

typedef struct model_summary {
    op_count *ops; /* one per distinct operator, in order of first use */
    int n_ops;
    int64_t params, param_bytes, macs;
    int shapes_ok;
    char shape_error[NQ_ERROR_MSG_MAX];
} model_summary;

/* Fills *m; 0 when out of memory. */
static int summarize(nq_graph *g, model_summary *m)
{
    memset(m, 0, sizeof *m);
    m->ops = malloc(sizeof *m->ops * (size_t)(g->n_nodes > 0 ? g->n_nodes : 1));
    if (m->ops == NULL) return 0;
    for (int i = 0; i < g->n_nodes; i++) {
        int k = 0;
        while (k < m->n_ops && strcmp(m->ops[k].op, g->nodes[i]->op_type) != 0) k++;
        if (k == m->n_ops) m->ops[m->n_ops++] = (op_count){g->nodes[i]->op_type, 0};
        m->ops[k].n++;
    }
    for (int v = 0; v < g->n_values; v++)
        if (g->values[v]->init != NULL) {
            m->params += nq_tensor_numel(g->values[v]->init);
            m->param_bytes += (int64_t)nq_tensor_nbytes(g->values[v]->init);
        }
    nq_error err = {0};
    m->shapes_ok = nq_graph_infer_shapes(g, 1, &err) == NQ_OK;
    if (!m->shapes_ok) snprintf(m->shape_error, sizeof m->shape_error, "%s", err.msg);
    for (int i = 0; m->shapes_ok && i < g->n_nodes; i++) m->macs += nq_node_macs(g, g->nodes[i]);
    return 1;
}

static void print_json_values(const nq_graph *g, const int *ids, int n)
{
    printf("[");
    for (int i = 0; i < n; i++) {
        const nq_value *v = g->values[ids[i]];
        printf("%s{\"name\": ", i ? ", " : "");
        nq_cli_json_string(stdout, v->name);
        printf(", \"dtype\": \"%s\", \"shape\": ", nq_dtype_name(v->dtype));
        if (v->ndim < 0) { /* rank unknown */
            printf("null}");
            continue;
        }
        printf("[");
        for (int d = 0; d < v->ndim; d++) printf("%s%lld", d ? ", " : "", (long long)v->dims[d]);
        printf("]}");
    }
    printf("]");
}

static void print_json(const char *path, const nq_graph *g, const model_summary *m)
{
    printf("{\"model\": ");
    nq_cli_json_string(stdout, path);
    printf(", \"opset\": %lld, \"inputs\": ", (long long)nq_graph_opset(g, ""));
    print_json_values(g, g->inputs, g->n_inputs);
    printf(", \"outputs\": ");
    print_json_values(g, g->outputs, g->n_outputs);
    printf(", \"nodes\": %d, \"ops\": {", g->n_nodes);
    for (int k = 0; k < m->n_ops; k++) {
        printf("%s", k ? ", " : "");
        nq_cli_json_string(stdout, m->ops[k].op);
        printf(": %d", m->ops[k].n);
    }
    printf("}, \"parameters\": %lld, \"parameter_bytes\": %lld, ", (long long)m->params,
           (long long)m->param_bytes);
    if (m->shapes_ok) {
        printf("\"macs\": %lld}\n", (long long)m->macs);
    } else {
        printf("\"macs\": null, \"shape_error\": ");
        nq_cli_json_string(stdout, m->shape_error);
        printf("}\n");
    }
}

static void print_values(const char *title, const nq_graph *g, const int *ids, int n)
{
    printf("%s:\n", title);
    for (int i = 0; i < n; i++) {
        const nq_value *v = g->values[ids[i]];
        char shape[128];
        printf("  %-20s %-8s %s\n", v->name, nq_dtype_name(v->dtype),
               nq_shape_str(v->ndim, v->dims, shape, sizeof shape));
    }
}

/* --deploy: the C export's footprint (nnquant/export.h). */
static int print_deploy(const char *path, const nq_graph *g, int json)
{
    nq_deploy_stats d;
    nq_error err = {0};
    if (nq_deploy_stats_compute(g, &d, &err) != NQ_OK) return nq_cli_fail(&err);
    if (json) {
        printf("{\"model\": ");
        nq_cli_json_string(stdout, path);
        printf(", \"flash_bytes\": %zu, \"weight_bytes\": %zu, \"code_bytes_estimate\": %zu, "
               "\"ram_arena_bytes\": %zu, \"io_bytes\": %zu, \"macs\": %lld, \"layers\": [",
               d.flash_bytes, d.weight_bytes, d.code_bytes, d.arena_bytes, d.io_bytes,
               (long long)d.macs);
        for (int i = 0; i < d.n_layers; i++) {
            const nq_deploy_layer *l = &d.layers[i];
            printf("%s{\"name\": ", i ? ", " : "");
            nq_cli_json_string(stdout, l->name);
            printf(", \"op\": ");
            nq_cli_json_string(stdout, l->op);
            printf(", \"dtype\": \"%s\", \"shape\": [", nq_dtype_name(l->dtype));
            for (int k = 0; k < l->ndim; k++) printf("%s%lld", k ? ", " : "", (long long)l->dims[k]);
            printf("], \"macs\": %lld, \"weight_bytes\": %zu}", (long long)l->macs, l->weight_bytes);
        }
        printf("]}\n");
    } else {
        printf("deploy (nnquant export --c, batch 1): %s\n", path);
        printf("  flash: %zu bytes (const data %zu + code ~%zu, estimate)\n", d.flash_bytes,
               d.weight_bytes, d.code_bytes);
        printf("  RAM: %zu bytes of static arena (+ %zu bytes of caller input/output)\n",
               d.arena_bytes, d.io_bytes);
        printf("  MACs per inference: %lld (%.2f M)\n", (long long)d.macs, (double)d.macs / 1e6);
        printf("  %-4s %-32s %-14s %-18s %-8s %12s %12s\n", "#", "node", "op", "output", "dtype",
               "MACs", "weight B");
        for (int i = 0; i < d.n_layers; i++) {
            const nq_deploy_layer *l = &d.layers[i];
            char shape[96];
            printf("  %-4d %-32.32s %-14s %-18s %-8s %12lld %12zu%s\n", i, l->name, l->op,
                   nq_shape_str(l->ndim, l->dims, shape, sizeof shape), nq_dtype_name(l->dtype),
                   (long long)l->macs, l->weight_bytes, l->alias ? "  (no code)" : "");
        }
    }
    nq_deploy_stats_free(&d);
    return NQ_EXIT_OK;
}

int nq_cli_info(int argc, char **argv)
{
    int json = 0, deploy = 0;
    const nq_opt opts[] = {
        {"--json", NQ_OPT_FLAG, &json, NULL, "print one JSON object on stdout"},
        {"--deploy", NQ_OPT_FLAG, &deploy, NULL,
         "footprint of `export --c` (quantized models): flash, RAM arena, MACs per layer"},
    };
    const char *pos[1];
    nq_cmd_spec spec = {
        "nnquant info MODEL [--deploy] [--json]",
        "Describes a model: inputs and outputs (dtype, shape; '?' is a dynamic dimension,\n"
        "-1 in --json; [?] an unknown rank, null in --json),\n"
        "node count by operator, parameter count and size, and multiply-accumulates (MACs)\n"
        "per inference (batch 1; counted for Conv, ConvTranspose, Gemm and MatMul).\n"
        "A model whose shapes cannot be inferred is still described (MACs unknown, and\n"
        "a warning on stderr); the exit status is 0 whenever the model loads.",
        1, pos, opts, sizeof opts / sizeof opts[0], NULL};
    int r = nq_args_parse(&spec, argc, argv);
    if (r) return r < 0 ? NQ_EXIT_OK : NQ_EXIT_USAGE;
    nq_graph *g = nq_cli_load_model(pos[0]);
    if (g == NULL) return NQ_EXIT_ERROR;
    if (deploy) {
        int rc = print_deploy(pos[0], g, json);
        nq_graph_free(g);
        return rc;
    }
    /* keep the declared input/output shapes for display (inference fills batch 1) */
    nq_graph *shaped = NULL;
    nq_error err = {0};
    if (nq_graph_clone(g, &shaped, &err) != NQ_OK) {
        nq_graph_free(g);
        return nq_cli_fail(&err);
    }
    model_summary m;
    if (!summarize(shaped, &m)) {
        nq_graph_free(shaped);
        nq_graph_free(g);
        nq_error_set(&err, NQ_ERR_NOMEM, "out of memory");
        return nq_cli_fail(&err);
    }
    /* a model whose shapes cannot be inferred is still described (exit 0),
     * but it will not run: say so on stderr too */
    if (!m.shapes_ok) fprintf(stderr, "nnquant info: warning: shape inference failed: %s\n", m.shape_error);
    if (json) {
        print_json(pos[0], g, &m);
    } else {
        printf("model: %s (opset %lld%s%s)\n", pos[0], (long long)nq_graph_opset(g, ""),
               g->producer_name ? ", from " : "", g->producer_name ? g->producer_name : "");
        print_values("inputs", g, g->inputs, g->n_inputs);
        print_values("outputs", g, g->outputs, g->n_outputs);
        printf("nodes: %d (", g->n_nodes);
        for (int k = 0; k < m.n_ops; k++) printf("%s%s %d", k ? ", " : "", m.ops[k].op, m.ops[k].n);
        printf(")\nparameters: %lld (%.1f KiB)\n", (long long)m.params, (double)m.param_bytes / 1024.0);
        if (m.shapes_ok) printf("MACs per inference: %lld (%.2f M)\n", (long long)m.macs, (double)m.macs / 1e6);
        else printf("MACs per inference: unknown (%s)\n", m.shape_error);
    }
    free(m.ops);
    nq_graph_free(shaped);
    nq_graph_free(g);
    return NQ_EXIT_OK;
}
