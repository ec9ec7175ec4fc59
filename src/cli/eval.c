#include "cli/cli.h"
int nq_cli_eval(int argc, char **argv) { (void)argc; (void)argv; fprintf(stderr, "not yet\n"); return NQ_EXIT_ERROR; }
