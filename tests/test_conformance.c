/* ONNX backend conformance: every test folder of Debian's libonnx-testdata
 * whose operators are all supported is loaded, fed its input_*.pb and
 * compared with its output_*.pb (rtol 1e-4, atol 1e-5; integers exact).
 * Prints "conformance: N passed, M failed, K skipped" and the unsupported
 * ops by frequency. Exits 1 if any supported case fails.
 * Usage: test_conformance [ROOT] [-v] [NAME_SUBSTRING] */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "nnquant/onnx.h"
#include "nnquant/ops.h"
#include "nnquant/run.h"

#define ROOT_DEFAULT "/usr/share/libonnx-testdata/data"
#define MAX_IO 32

typedef struct tally {
    char name[128];
    int count;
} tally;

typedef struct stats {
    int passed, failed, skipped;
    tally ops[512];
    int n_ops;
    tally reasons[512];
    int n_reasons;
    int verbose;
} stats;

static void count(tally *t, int *n, const char *name)
{
    for (int i = 0; i < *n; i++)
        if (strcmp(t[i].name, name) == 0) {
            t[i].count++;
            return;
        }
    if (*n < 512) {
        snprintf(t[*n].name, sizeof t[*n].name, "%s", name);
        t[(*n)++].count = 1;
    }
}

#define PATH_LEN 4096

/* out = a/b (b may hold a printf %d filled with k); 0 if it does not fit. */
static int join(char *out, const char *a, const char *b, int k)
{
    char tail[256];
    snprintf(tail, sizeof tail, b, k);
    size_t la = strlen(a), lt = strlen(tail);
    if (la + 1 + lt + 1 > PATH_LEN) return 0;
    memcpy(out, a, la);
    out[la] = '/';
    memcpy(out + la + 1, tail, lt + 1);
    return 1;
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted list of sub-folder names (caller frees). */
static int list_dirs(const char *root, char ***out)
{
    DIR *d = opendir(root);
    if (d == NULL) return 0;
    int n = 0, cap = 64;
    char **names = malloc(sizeof(char *) * (size_t)cap);
    struct dirent *e;
    while (names && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[PATH_LEN];
        if (strchr(e->d_name, '%') || !join(path, root, e->d_name, 0) || !is_dir(path)) continue;
        if (n == cap) {
            cap *= 2;
            char **grown = realloc(names, sizeof(char *) * (size_t)cap);
            if (grown == NULL) break;
            names = grown;
        }
        size_t len = strlen(e->d_name) + 1;
        names[n] = malloc(len);
        memcpy(names[n++], e->d_name, len);
    }
    closedir(d);
    qsort(names, (size_t)n, sizeof(char *), cmp_names);
    *out = names;
    return n;
}

static int compare(const nq_tensor *got, const nq_tensor *want, char *why, size_t whysz)
{
    char a[96], b[96];
    if (got->dtype != want->dtype) {
        snprintf(why, whysz, "dtype %s, expected %s", nq_dtype_name(got->dtype), nq_dtype_name(want->dtype));
        return 0;
    }
    if (!nq_tensor_same_shape(got, want)) {
        snprintf(why, whysz, "shape %s, expected %s", nq_shape_str(got->ndim, got->dims, a, sizeof a),
                 nq_shape_str(want->ndim, want->dims, b, sizeof b));
        return 0;
    }
    int64_t n = nq_tensor_numel(want);
    for (int64_t i = 0; i < n; i++) {
        double g = nq_tensor_get(got, i), w = nq_tensor_get(want, i);
        int ok;
        if (nq_dtype_is_float(want->dtype))
            ok = (isnan(g) && isnan(w)) || (isinf(w) && g == w) || fabs(g - w) <= 1e-5 + 1e-4 * fabs(w);
        else
            ok = g == w;
        if (!ok) {
            snprintf(why, whysz, "element %lld: got %.8g, expected %.8g", (long long)i, g, w);
            return 0;
        }
    }
    return 1;
}

/* Runs one data set folder; returns 1 pass, 0 fail (why filled), -1 skip (why filled). */
static int run_set(const nq_graph *g, const char *dir, char *why, size_t whysz)
{
    nq_tensor in[MAX_IO], want[MAX_IO], got[MAX_IO];
    int n_in = 0, n_out = 0, result = 1;
    memset(in, 0, sizeof in);
    memset(want, 0, sizeof want);
    memset(got, 0, sizeof got);
    nq_error err = {0};
    char path[PATH_LEN];
    for (; n_in < MAX_IO; n_in++) {
        if (!join(path, dir, "input_%d.pb", n_in) || !file_exists(path)) break;
        if (nq_onnx_load_tensor(path, &in[n_in], &err) != NQ_OK) {
            snprintf(why, whysz, "input: %s", err.msg);
            result = err.code == NQ_ERR_UNSUPPORTED ? -1 : 0;
            goto out;
        }
    }
    for (; n_out < MAX_IO; n_out++) {
        if (!join(path, dir, "output_%d.pb", n_out) || !file_exists(path)) break;
        if (nq_onnx_load_tensor(path, &want[n_out], &err) != NQ_OK) {
            snprintf(why, whysz, "output: %s", err.msg);
            result = err.code == NQ_ERR_UNSUPPORTED ? -1 : 0;
            goto out;
        }
    }
    nq_session *s = NULL;
    nq_session_opts opts = {.num_threads = 1};
    nq_status st = nq_session_create(g, &opts, &s, &err);
    if (st == NQ_OK) st = nq_session_run(s, in, n_in, got, n_out, &err);
    nq_session_free(s);
    if (st != NQ_OK) {
        snprintf(why, whysz, "%s", err.msg);
        result = st == NQ_ERR_UNSUPPORTED ? -1 : 0;
        goto out;
    }
    for (int i = 0; i < n_out && result == 1; i++) {
        char w[400];
        if (!compare(&got[i], &want[i], w, sizeof w)) {
            snprintf(why, whysz, "output %d: %s", i, w);
            result = 0;
        }
    }
out:
    for (int i = 0; i < MAX_IO; i++) {
        nq_tensor_free(&in[i]);
        nq_tensor_free(&want[i]);
        nq_tensor_free(&got[i]);
    }
    return result;
}

static void run_case(stats *st, const char *suite, const char *dir, const char *name)
{
    char path[PATH_LEN], why[600] = "";
    if (!join(path, dir, "model.onnx", 0) || !file_exists(path)) return;
    nq_graph *g = NULL;
    nq_error err = {0};
    if (nq_onnx_load(path, &g, &err) != NQ_OK) {
        if (err.code == NQ_ERR_UNSUPPORTED) {
            st->skipped++;
            count(st->reasons, &st->n_reasons, "model uses an unsupported feature (dtype/attribute)");
            if (st->verbose) printf("SKIP %s/%s: %s\n", suite, name, err.msg);
        } else {
            st->failed++;
            printf("FAIL %s/%s: load: %s\n", suite, name, err.msg);
        }
        return;
    }
    int unsupported = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const nq_node *n = g->nodes[i];
        if (nq_op_find(n->domain, n->op_type) < 0) {
            char op[128];
            snprintf(op, sizeof op, "%s%s%s", n->domain, n->domain[0] ? "." : "", n->op_type);
            if (!unsupported) count(st->ops, &st->n_ops, op);
            unsupported = 1;
        }
    }
    if (unsupported) {
        st->skipped++;
        nq_graph_free(g);
        return;
    }
    char **sets = NULL;
    int n_sets = list_dirs(dir, &sets);
    int outcome = 1;
    for (int i = 0; i < n_sets; i++) {
        if (outcome == 1 && strncmp(sets[i], "test_data_set_", 14) == 0) {
            char sd[PATH_LEN];
            outcome = join(sd, dir, sets[i], 0) ? run_set(g, sd, why, sizeof why) : 0;
        }
        free(sets[i]);
    }
    free(sets);
    nq_graph_free(g);
    if (outcome == 1) {
        st->passed++;
        if (st->verbose) printf("PASS %s/%s\n", suite, name);
    } else if (outcome < 0) {
        st->skipped++;
        count(st->reasons, &st->n_reasons, "an op reported an unsupported attribute/dtype");
        printf("SKIP %s/%s: %s\n", suite, name, why);
    } else {
        st->failed++;
        printf("FAIL %s/%s: %s\n", suite, name, why);
    }
}

static int by_count(const void *a, const void *b)
{
    const tally *x = a, *y = b;
    return y->count != x->count ? y->count - x->count : strcmp(x->name, y->name);
}

int main(int argc, char **argv)
{
    const char *root = ROOT_DEFAULT, *filter = NULL;
    static stats st;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-v") == 0) st.verbose = 1;
        else if (is_dir(argv[i])) root = argv[i];
        else filter = argv[i];
    }
    if (!is_dir(root)) {
        printf("conformance: %s not found (install Debian's libonnx-testdata)\n", root);
        return 1;
    }
    const char *suites[] = {"node", "pytorch-converted", "pytorch-operator", "simple"};
    for (size_t s = 0; s < sizeof suites / sizeof suites[0]; s++) {
        char sdir[PATH_LEN];
        if (!join(sdir, root, suites[s], 0)) continue;
        char **cases = NULL;
        int n = list_dirs(sdir, &cases);
        for (int i = 0; i < n; i++) {
            if (filter == NULL || strstr(cases[i], filter) != NULL) {
                char cdir[PATH_LEN];
                if (join(cdir, sdir, cases[i], 0)) run_case(&st, suites[s], cdir, cases[i]);
            }
            free(cases[i]);
        }
        free(cases);
    }
    qsort(st.ops, (size_t)st.n_ops, sizeof(tally), by_count);
    printf("unsupported ops by frequency (cases skipped):");
    for (int i = 0; i < st.n_ops; i++) printf("%s %s %d", i ? "," : "", st.ops[i].name, st.ops[i].count);
    printf("\n");
    for (int i = 0; i < st.n_reasons; i++) printf("also skipped: %d case(s): %s\n", st.reasons[i].count, st.reasons[i].name);
    printf("conformance: %d passed, %d failed, %d skipped (unsupported ops)\n", st.passed, st.failed, st.skipped);
    return st.failed > 0 || st.passed == 0;
}
