/* Shared pieces of the `nnquant` command-line tool. */
#ifndef NQ_CLI_H
#define NQ_CLI_H

#include <stdio.h>

#include "core/core_internal.h"
#include "nnquant/core.h"
#include "nnquant/data.h"
#include "cli/args.h"

#define NQ_CLI_VERSION "0.1.0"

enum { NQ_EXIT_OK = 0, NQ_EXIT_ERROR = 1, NQ_EXIT_USAGE = 2 };

typedef int (*nq_cli_fn)(int argc, char **argv);
typedef struct nq_cli_command {
    const char *name;
    const char *summary;
    nq_cli_fn fn;
} nq_cli_command;

/* Data arguments shared by eval, quantize, compare, qat (see CLI.md). */
typedef struct nq_cli_data {
    const char *data, *labels, *mean, *std;
    double scale;
    int64_t limit;
} nq_cli_data;
#define NQ_CLI_DATA_DEFAULTS {NULL, NULL, NULL, NULL, 1.0, 0}
#define NQ_CLI_DATA_OPTS(d) \
    {"--data", NQ_OPT_STRING, &(d).data, "FILE", "samples: IDX (*-idx3-ubyte[.gz]) or .npy [N,...] (float32/uint8/int8)"}, \
    {"--labels", NQ_OPT_STRING, &(d).labels, "FILE", "labels: IDX (*-idx1-ubyte[.gz]) or .npy int array [N]"}, \
    {"--scale", NQ_OPT_FLOAT, &(d).scale, "S", "preprocessing x -> (x*S - M) / D: S (default 1)"}, \
    {"--mean", NQ_OPT_STRING, &(d).mean, "M", "mean M, or per-channel M1,M2,... (default 0)"}, \
    {"--std", NQ_OPT_STRING, &(d).std, "D", "std D, or per-channel D1,D2,... (default 1)"}, \
    {"--limit", NQ_OPT_INT, &(d).limit, "N", "use the first N samples only"}

typedef struct nq_cli_progress_state {
    const char *label;
    int enabled;
    double start, last;
} nq_cli_progress_state;

/* Prints "nnquant: error: <msg>" on stderr and returns NQ_EXIT_ERROR. */
int nq_cli_fail(const nq_error *err);
/* Loads an ONNX model; prints the error and returns NULL on failure. */
nq_graph *nq_cli_load_model(const char *path);
/* Loads --data/--labels with preprocessing; returns an exit code. */
int nq_cli_load_data(const nq_cli_data *d, int need_labels, nq_dataset **out);
/* A progress bar on stderr, shown only when stderr is a terminal. */
void nq_cli_progress_init(nq_cli_progress_state *p, const char *label, int quiet);
void nq_cli_progress(void *user, int64_t done, int64_t total);
void nq_cli_json_string(FILE *f, const char *s);

int nq_cli_info(int argc, char **argv);
int nq_cli_run(int argc, char **argv);
int nq_cli_eval(int argc, char **argv);
int nq_cli_quantize(int argc, char **argv);
int nq_cli_report(int argc, char **argv);
int nq_cli_compare(int argc, char **argv);
int nq_cli_qat(int argc, char **argv);
int nq_cli_export(int argc, char **argv);

#endif
