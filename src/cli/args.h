/* A small table-driven option parser: one table per subcommand gives the
 * spelling, the kind, where the value goes and the help line, so that
 * parsing and --help never disagree. */
#ifndef NQ_CLI_ARGS_H
#define NQ_CLI_ARGS_H

#include <stdint.h>

typedef enum nq_opt_kind {
    NQ_OPT_FLAG,    /* int *: set to 1 */
    NQ_OPT_STRING,  /* const char **: last one wins */
    NQ_OPT_INT,     /* int64_t * */
    NQ_OPT_FLOAT,   /* double * */
    NQ_OPT_LIST     /* nq_str_list *: repeatable */
} nq_opt_kind;

#define NQ_LIST_MAX 32
typedef struct nq_str_list {
    int n;
    const char *v[NQ_LIST_MAX];
} nq_str_list;

typedef struct nq_opt {
    const char *name;   /* "--data" */
    nq_opt_kind kind;
    void *dest;
    const char *metavar; /* "FILE" (NULL for flags) */
    const char *help;
} nq_opt;

typedef struct nq_cmd_spec {
    const char *usage;       /* "nnquant eval MODEL --data F ..." */
    const char *description; /* a paragraph */
    int n_positional;        /* required positional arguments */
    const char **positional; /* filled with argv pointers */
    const nq_opt *opts;
    int n_opts;
    const char *epilog;      /* examples, may be NULL */
} nq_cmd_spec;

/* Parses argv (argv[0] is the subcommand name). Returns -1 when --help was
 * printed (exit 0), 0 on success, 2 on a usage error (message printed). */
int nq_args_parse(const nq_cmd_spec *spec, int argc, char **argv);
void nq_args_help(const nq_cmd_spec *spec);

#endif
