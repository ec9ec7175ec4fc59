/* nnquant eval MODEL --data F --labels F [prep] [--limit N] [--batch B] [--json] */
#include <stdio.h>

#include "cli/cli.h"
#include "nnquant/run.h"

int nq_cli_eval(int argc, char **argv)
{
    const char *model = NULL;
    nq_cli_data d = NQ_CLI_DATA_DEFAULTS;
    int64_t batch = 64;
    int json = 0, quiet = 0;
    const nq_opt opts[] = {
        NQ_CLI_DATA_OPTS(d),
        {"--batch", NQ_OPT_INT, &batch, "B", "samples per run (default 64)"},
        {"--json", NQ_OPT_FLAG, &json, NULL, "print one JSON object on stdout"},
        {"--quiet", NQ_OPT_FLAG, &quiet, NULL, "no progress bar"},
    };
    const char *pos[1];
    nq_cmd_spec spec = {
        "nnquant eval MODEL --data F --labels F [--scale S] [--mean M] [--std D] [--limit N] [--json]",
        "Top-1 accuracy of a classifier (one input, output [N, classes]) on a labelled dataset,\n"
        "and its throughput in images per second. Works on float and quantized models alike.",
        1, pos, opts, sizeof opts / sizeof opts[0],
        "example (Fashion-MNIST test set, pixels scaled to [0,1]):\n"
        "  nnquant eval models/convnet.onnx \\\n"
        "    --data /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz \\\n"
        "    --labels /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz --scale 0.00392156862745098"};
    int r = nq_args_parse(&spec, argc, argv);
    if (r) return r < 0 ? NQ_EXIT_OK : NQ_EXIT_USAGE;
    model = pos[0];
    if (batch < 1) {
        fprintf(stderr, "nnquant: --batch must be at least 1\n");
        return NQ_EXIT_USAGE;
    }
    nq_dataset *ds = NULL;
    if ((r = nq_cli_load_data(&d, 1, &ds)) != NQ_EXIT_OK) return r;
    nq_graph *g = nq_cli_load_model(model);
    if (g == NULL) {
        nq_dataset_free(ds);
        return NQ_EXIT_ERROR;
    }
    nq_error err = {0};
    nq_session *s = NULL;
    nq_eval_result res;
    nq_cli_progress_state prog;
    nq_cli_progress_init(&prog, "eval", quiet || json);
    nq_status st = nq_session_create(g, NULL, &s, &err);
    if (st == NQ_OK) st = nq_evaluate(s, g, ds, batch, nq_cli_progress, &prog, &res, &err);
    nq_session_free(s);
    nq_graph_free(g);
    nq_dataset_free(ds);
    if (st != NQ_OK) return nq_cli_fail(&err);
    double ips = res.seconds > 0 ? (double)res.samples / res.seconds : 0.0;
    if (json)
        printf("{\"top1\": %.4f, \"correct\": %lld, \"samples\": %lld, \"images_per_s\": %.1f}\n", res.top1,
               (long long)res.correct, (long long)res.samples, ips);
    else
        printf("top-1: %.2f%% (%lld/%lld)  %.0f images/s\n", 100.0 * res.top1, (long long)res.correct,
               (long long)res.samples, ips);
    return NQ_EXIT_OK;
}
