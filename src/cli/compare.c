/* nnquant compare FLOAT QUANT --data F [--labels F] [prep] [--limit N] [--json] */
#include <math.h>
#include <stdio.h>

#include "cli/cli.h"
#include "nnquant/ptq.h"

int nq_cli_compare(int argc, char **argv)
{
    nq_cli_data d = NQ_CLI_DATA_DEFAULTS;
    int64_t batch = 64;
    int json = 0;
    const nq_opt opts[] = {
        NQ_CLI_DATA_OPTS(d),
        {"--batch", NQ_OPT_INT, &batch, "B", "samples per run (default 64)"},
        {"--json", NQ_OPT_FLAG, &json, NULL, "print one JSON object on stdout"},
    };
    const char *pos[2];
    nq_cmd_spec spec = {
        "nnquant compare FLOAT QUANT --data F [--labels F] [prep] [--limit N] [--json]",
        "Runs a float model and its quantized version on the same samples and prints, for\n"
        "every quantized layer, the signal-to-quantization-noise ratio (SQNR, dB) between the\n"
        "float activation and the quantized one brought back to float units; then the top-1\n"
        "of both models (with --labels) and how often their top-1 predictions agree.",
        2, pos, opts, sizeof opts / sizeof opts[0], NULL};
    int r = nq_args_parse(&spec, argc, argv);
    if (r) return r < 0 ? NQ_EXIT_OK : NQ_EXIT_USAGE;
    if (d.limit == 0) d.limit = 1000;
    nq_dataset *ds = NULL;
    if ((r = nq_cli_load_data(&d, 0, &ds)) != NQ_EXIT_OK) return r;
    nq_graph *f = nq_cli_load_model(pos[0]), *q = f ? nq_cli_load_model(pos[1]) : NULL;
    nq_error err = {0};
    nq_compare_result res = {0};
    int rc = f && q ? NQ_EXIT_OK : NQ_EXIT_ERROR;
    if (rc == NQ_EXIT_OK && nq_compare_layers(f, q, ds, batch, 0, &res, &err) != NQ_OK) rc = nq_cli_fail(&err);
    if (rc == NQ_EXIT_OK && json) {
        printf("{\"samples\": %lld, \"agreement\": %.4f", (long long)res.samples,
               res.samples ? (double)res.agree / (double)res.samples : 0.0);
        if (ds->labels)
            printf(", \"float_top1\": %.4f, \"quant_top1\": %.4f", (double)res.float_correct / (double)res.samples,
                   (double)res.quant_correct / (double)res.samples);
        printf(", \"layers\": [");
        for (int i = 0; i < res.n_layers; i++) {
            printf("%s{\"name\": ", i ? ", " : "");
            nq_cli_json_string(stdout, res.layers[i].name);
            printf(", \"dtype\": \"%s\", \"sqnr_db\": ", res.layers[i].dtype);
            if (isfinite(res.layers[i].sqnr_db)) printf("%.2f}", res.layers[i].sqnr_db);
            else printf("null}");
        }
        printf("]}\n");
    } else if (rc == NQ_EXIT_OK) {
        printf("%-40s %-8s %10s\n", "layer (float value)", "dtype", "SQNR dB");
        for (int i = 0; i < res.n_layers; i++)
            printf("%-40s %-8s %10.2f\n", res.layers[i].name, res.layers[i].dtype, res.layers[i].sqnr_db);
        printf("samples: %lld, top-1 agreement: %.2f%%\n", (long long)res.samples,
               res.samples ? 100.0 * (double)res.agree / (double)res.samples : 0.0);
        if (ds->labels)
            printf("top-1: float %.2f%%, quantized %.2f%% (drop %.2f pt)\n",
                   100.0 * (double)res.float_correct / (double)res.samples,
                   100.0 * (double)res.quant_correct / (double)res.samples,
                   100.0 * (double)(res.float_correct - res.quant_correct) / (double)res.samples);
    }
    nq_compare_result_free(&res);
    nq_graph_free(f);
    nq_graph_free(q);
    nq_dataset_free(ds);
    return rc;
}
