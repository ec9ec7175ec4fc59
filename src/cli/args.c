/* Option parsing and --help from one table per subcommand. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"

void nq_args_help(const nq_cmd_spec *spec)
{
    printf("usage: %s\n\n%s\n\noptions:\n", spec->usage, spec->description);
    for (int i = 0; i < spec->n_opts; i++) {
        const nq_opt *o = &spec->opts[i];
        char left[64];
        snprintf(left, sizeof left, "%s%s%s", o->name, o->metavar ? " " : "", o->metavar ? o->metavar : "");
        printf("  %-22s %s\n", left, o->help);
    }
    printf("  %-22s %s\n", "-h, --help", "show this help");
    if (spec->epilog) printf("\n%s\n", spec->epilog);
}

static int usage_error(const nq_cmd_spec *spec, const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "nnquant: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\nusage: %s\n(see --help)\n", spec->usage);
    return 2;
}

static int set_value(const nq_cmd_spec *spec, const nq_opt *o, const char *val)
{
    char *end = NULL;
    errno = 0;
    switch (o->kind) {
    case NQ_OPT_FLAG: *(int *)o->dest = 1; return 0;
    case NQ_OPT_STRING: *(const char **)o->dest = val; return 0;
    case NQ_OPT_INT: {
        long long v = strtoll(val, &end, 10);
        if (end == val || *end != '\0' || errno != 0)
            return usage_error(spec, "%s expects an integer, got '%s'", o->name, val);
        *(int64_t *)o->dest = v;
        return 0;
    }
    case NQ_OPT_FLOAT: {
        double v = strtod(val, &end);
        if (end == val || *end != '\0' || errno != 0)
            return usage_error(spec, "%s expects a number, got '%s'", o->name, val);
        *(double *)o->dest = v;
        return 0;
    }
    case NQ_OPT_LIST: {
        nq_str_list *l = o->dest;
        if (l->n >= NQ_LIST_MAX) return usage_error(spec, "too many %s options%s", o->name, "");
        l->v[l->n++] = val;
        return 0;
    }
    }
    return 2;
}

int nq_args_parse(const nq_cmd_spec *spec, int argc, char **argv)
{
    int n_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            nq_args_help(spec);
            return -1;
        }
        if (a[0] == '-' && a[1] != '\0') {
            const char *eq = strchr(a, '=');
            size_t len = eq ? (size_t)(eq - a) : strlen(a);
            const nq_opt *o = NULL;
            for (int k = 0; k < spec->n_opts && o == NULL; k++)
                if (strlen(spec->opts[k].name) == len && strncmp(spec->opts[k].name, a, len) == 0)
                    o = &spec->opts[k];
            if (o == NULL) return usage_error(spec, "unknown option '%s'%s", a, "");
            const char *val = NULL;
            if (o->kind != NQ_OPT_FLAG) {
                if (eq) val = eq + 1;
                else if (i + 1 < argc) val = argv[++i];
                else return usage_error(spec, "%s needs a value%s", o->name, "");
            } else if (eq) {
                return usage_error(spec, "%s takes no value%s", o->name, "");
            }
            int r = set_value(spec, o, val);
            if (r) return r;
        } else {
            if (n_pos >= spec->n_positional) return usage_error(spec, "unexpected argument '%s'%s", a, "");
            spec->positional[n_pos++] = a;
        }
    }
    if (n_pos < spec->n_positional) return usage_error(spec, "missing argument%s%s", "", "");
    return 0;
}
