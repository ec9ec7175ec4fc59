/* nnquant report MODEL [--json]: the quantizability report. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "nnquant/ops.h"
#include "nnquant/ptq.h"

int nq_cli_report(int argc, char **argv)
{
    int json = 0;
    const nq_opt opts[] = {{"--json", NQ_OPT_FLAG, &json, NULL, "print one JSON object on stdout"}};
    const char *pos[1];
    nq_cmd_spec spec = {"nnquant report MODEL [--json]",
                        "Quantizability report: for every node, whether post-training quantization runs it\n"
                        "in integers, folds or rewrites it, keeps it in float (Sigmoid, Softmax, ...: its\n"
                        "input dequantized, its output quantized again where integer nodes read it), or\n"
                        "cannot handle it. Exit code 0 when the whole model can be quantized, 1 otherwise.",
                        1, pos, opts, 1, NULL};
    int r = nq_args_parse(&spec, argc, argv);
    if (r) return r < 0 ? NQ_EXIT_OK : NQ_EXIT_USAGE;
    nq_graph *g = nq_cli_load_model(pos[0]);
    if (g == NULL) return NQ_EXIT_ERROR;
    nq_ops_resolve(g, NULL); /* unknown ops simply report as unsupported */
    nq_report_entry *e = calloc((size_t)g->n_nodes + 1, sizeof *e);
    if (e == NULL) {
        nq_graph_free(g);
        return NQ_EXIT_ERROR;
    }
    int bad = nq_quantizability_report(g, e);
    if (json) {
        printf("{\"model\": ");
        nq_cli_json_string(stdout, pos[0]);
        printf(", \"quantizable\": %s, \"unsupported\": %d, \"nodes\": [", bad ? "false" : "true", bad);
        for (int i = 0; i < g->n_nodes; i++) {
            printf("%s{\"name\": ", i ? ", " : "");
            nq_cli_json_string(stdout, e[i].node->name);
            printf(", \"op\": ");
            nq_cli_json_string(stdout, e[i].node->op_type);
            printf(", \"support\": \"%s\", \"note\": ", nq_ptq_support_name(e[i].support));
            nq_cli_json_string(stdout, e[i].note);
            printf("}");
        }
        printf("]}\n");
    } else {
        printf("%-36s %-20s %-12s %s\n", "node", "op", "support", "note");
        for (int i = 0; i < g->n_nodes; i++)
            printf("%-36s %-20s %-12s %s\n", e[i].node->name, e[i].node->op_type,
                   nq_ptq_support_name(e[i].support), e[i].note);
        if (bad) printf("%d node%s cannot be quantized\n", bad, bad > 1 ? "s" : "");
        else printf("the whole model can be quantized\n");
    }
    free(e);
    nq_graph_free(g);
    return bad ? NQ_EXIT_ERROR : NQ_EXIT_OK;
}
