/* Shared pieces of the `nnquant` command-line tool. */
#ifndef NQ_CLI_H
#define NQ_CLI_H

#include <stdio.h>

#include "nnquant/core.h"
#include "nnquant/data.h"

#define NQ_CLI_VERSION "0.1.0"

enum { NQ_EXIT_OK = 0, NQ_EXIT_ERROR = 1, NQ_EXIT_USAGE = 2 };

typedef int (*nq_cli_fn)(int argc, char **argv);
typedef struct nq_cli_command {
    const char *name;
    const char *summary;
    nq_cli_fn fn;
} nq_cli_command;

int nq_cli_info(int argc, char **argv);
int nq_cli_run(int argc, char **argv);
int nq_cli_eval(int argc, char **argv);

#endif
