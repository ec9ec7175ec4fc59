/* The `nnquant` command: dispatches to one file per subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static const nq_cli_command commands[] = {
    {"info", "describe a model: inputs, outputs, ops, parameters, MACs", nq_cli_info},
    {"run", "run a model on .npy inputs and write .npy outputs", nq_cli_run},
    {"eval", "top-1 accuracy of a model on a labelled dataset", nq_cli_eval},
    {"report", "quantizability report: what PTQ does with every node", nq_cli_report},
    {"quantize", "post-training quantization to an integer network", nq_cli_quantize},
    {"compare", "per-layer SQNR and top-1 of a float model and its quantized version", nq_cli_compare},
    {"qat", "quantization-aware training (LSQ, SAT) to an integer network", nq_cli_qat},
    {"export", "standalone integer C project (--c) or QDQ ONNX (--onnx-qdq)", nq_cli_export},
};

static void usage(FILE *f)
{
    fprintf(f, "nnquant %s: quantize neural networks for integer hardware\n\n"
               "usage: nnquant COMMAND [options]   (nnquant COMMAND --help for details)\n\n"
               "commands:\n", NQ_CLI_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nexit codes: 0 ok, 1 error, 2 usage error\n"
               "environment: NQ_NUM_THREADS sets the thread count (default: all cores)\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return NQ_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return NQ_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("nnquant %s\n", NQ_CLI_VERSION);
        return NQ_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "nnquant: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return NQ_EXIT_USAGE;
}
