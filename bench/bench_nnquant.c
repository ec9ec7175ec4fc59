/*
 * bench_nnquant: float inference throughput of nnquant on one ONNX model.
 *
 * Loads the model, creates a session with the requested thread count,
 * feeds random inputs (uniform [0,1), fixed seed) with the requested batch
 * size, runs `warmup` untimed iterations, then `reps` repetitions of
 * `iters` timed iterations each, and prints one JSON object on stdout:
 * the median (and min/max) milliseconds per batch over the repetitions and
 * the matching images per second. When --iters is 0 (default) the
 * iteration count is chosen so that one repetition lasts about --min-time
 * seconds (same rule as ort_bench.js). Besides wall time, the CPU time of
 * the process (all threads) per batch is reported ("cpu_ms_per_batch",
 * median): on a shared machine, time slices lost to other jobs inflate wall
 * time but not CPU time ("thread_cpu_ms_per_batch": the calling thread only).
 *
 * --profile adds a per-node breakdown ("profile": time of each node in ms
 * per batch, measured in an extra timed pass after the main measurement):
 * an observer takes a timestamp after every node, so a node's time is the
 * time since the previous node finished (the first node also carries the
 * run's entry cost: input checks and copy). With one thread the clock is
 * the thread's CPU time (robust to other jobs on the machine), else wall
 * time ("clock"). "total_ms" is the wall time per run with the observer.
 *
 * Usage: bench_nnquant --model M.onnx [--threads T] [--batch B]
 *                      [--warmup W] [--iters I] [--reps R]
 *                      [--min-time S] [--seed N] [--profile]
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nnquant/core.h"
#include "nnquant/onnx.h"
#include "nnquant/run.h"

#ifdef NQ_BENCH_OPENBLAS
char *openblas_get_corename(void); /* OpenBLAS: kernel set picked at run time */
static const char *blas_name(void) { return openblas_get_corename(); }
#else
static const char *blas_name(void) { return "none (portable GEMM)"; }
#endif

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
static double now_s(void) { return clock_s(CLOCK_MONOTONIC); }
/* CPU time of the whole process (all threads, user + system). */
static double cpu_s(void) { return clock_s(CLOCK_PROCESS_CPUTIME_ID); }
/* CPU time of the calling thread. */
static double thread_cpu_s(void) { return clock_s(CLOCK_THREAD_CPUTIME_ID); }

/* splitmix64: fixed-seed, platform-independent random numbers. */
static uint64_t rng_next(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* ---- per-node profile through an observer ------------------------- */
typedef struct prof {
    const nq_graph *g;
    int cpu_clock;    /* 1: calling thread's CPU time (single thread), 0: wall time */
    double last;      /* time of the previous node's end (or of the run's start) */
    int last_node;    /* index of the last node seen in this run (-1: none) */
    double *node_s;   /* accumulated seconds per node index */
} prof;

static int prof_observe(void *user, const nq_graph *g, const nq_node *node, int value,
                        const nq_tensor *t)
{
    prof *p = user;
    (void)value;
    (void)t;
    int idx = nq_graph_node_index(g, node);
    if (idx < 0 || idx == p->last_node) return 0; /* later outputs of the same node */
    double now = p->cpu_clock ? thread_cpu_s() : now_s();
    p->node_s[idx] += now - p->last;
    p->last = now;
    p->last_node = idx;
    return 0;
}

/* Median of v[0..n) (sorted copy left in tmp). */
static double median(const double *v, double *tmp, int n)
{
    memcpy(tmp, v, (size_t)n * sizeof *tmp);
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_double);
    return n % 2 ? tmp[n / 2] : 0.5 * (tmp[n / 2 - 1] + tmp[n / 2]);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_nnquant --model M.onnx [--threads T] [--batch B] [--warmup W]\n"
               "                     [--iters I] [--reps R] [--min-time S] [--seed N]\n"
               "                     [--profile]\n"
               "  threads 0 = nnquant default (NQ_NUM_THREADS, else all cores)\n");
}

/* Writes s as a JSON string literal (escapes quotes, backslashes, controls). */
static void json_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') printf("\\%c", c);
        else if (c < 0x20) printf("\\u%04x", c);
        else putchar(c);
    }
    putchar('"');
}

int main(int argc, char **argv)
{
    const char *model = NULL;
    int threads = 1, warmup = 5, iters = 0, reps = 7;
    long batch = 1;
    double min_time = 0.3;
    uint64_t seed = 42;
    int profile = 0;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "--profile")) {
            profile = 1;
            continue;
        }
        if (v == NULL) {
            fprintf(stderr, "bench_nnquant: %s needs a value\n", a);
            usage(stderr);
            return 2;
        }
        if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--threads")) threads = atoi(v);
        else if (!strcmp(a, "--batch")) batch = atol(v);
        else if (!strcmp(a, "--warmup")) warmup = atoi(v);
        else if (!strcmp(a, "--iters")) iters = atoi(v);
        else if (!strcmp(a, "--reps")) reps = atoi(v);
        else if (!strcmp(a, "--min-time")) min_time = atof(v);
        else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 10);
        else {
            fprintf(stderr, "bench_nnquant: unknown option %s\n", a);
            usage(stderr);
            return 2;
        }
        i++;
    }
    if (model == NULL || threads < 0 || batch < 1 || warmup < 0 || iters < 0 || reps < 1 ||
        min_time <= 0) {
        usage(stderr);
        return 2;
    }

    nq_error err = {0};
    nq_graph *g = NULL;
    nq_session *s = NULL;
    nq_tensor in = {0}, out = {0};
    double *rep_ms = NULL;
    prof pr = {0};
    int rc = 1;

    if (nq_onnx_load(model, &g, &err) != NQ_OK) goto fail;
    if (g->n_inputs != 1 || g->n_outputs < 1) {
        fprintf(stderr, "bench_nnquant: %s: expected 1 input and >= 1 output (got %d, %d)\n",
                model, g->n_inputs, g->n_outputs);
        goto done;
    }
    const nq_value *iv = g->values[g->inputs[0]];
    if (iv->ndim < 1 || (iv->dtype != NQ_DTYPE_FLOAT32 && iv->dtype != NQ_DTYPE_UNDEFINED)) {
        fprintf(stderr, "bench_nnquant: %s: input '%s' must be float32 with a known rank\n",
                model, iv->name);
        goto done;
    }
    int64_t dims[NQ_MAX_DIMS];
    dims[0] = batch;
    for (int d = 1; d < iv->ndim; d++) {
        if (iv->dims[d] < 1) {
            fprintf(stderr, "bench_nnquant: %s: input dim %d is dynamic; only the batch may be\n",
                    model, d);
            goto done;
        }
        dims[d] = iv->dims[d];
    }
    if (nq_tensor_alloc(&in, NQ_DTYPE_FLOAT32, iv->ndim, dims, &err) != NQ_OK) goto fail;
    float *x = in.data;
    int64_t n = nq_tensor_numel(&in);
    for (int64_t i = 0; i < n; i++) x[i] = (float)((rng_next(&seed) >> 40) * (1.0 / 16777216.0));

    nq_session_opts opts = {.num_threads = threads};
    if (nq_session_create(g, &opts, &s, &err) != NQ_OK) goto fail;
    /* Only output 0 is collected (the benchmarked models have one). */
    const int n_out = 1;

    /* Warm-up (the first run also builds the plan for this batch size). */
    double t0 = now_s();
    int w_done = 0;
    for (int i = 0; i < (warmup > 0 ? warmup : 1); i++, w_done++) {
        if (nq_session_run(s, &in, 1, &out, n_out, &err) != NQ_OK) goto fail;
        nq_tensor_free(&out);
    }
    double warm_per_iter = (now_s() - t0) / w_done;
    if (iters == 0) {
        double it = ceil(min_time / (warm_per_iter > 1e-9 ? warm_per_iter : 1e-9));
        iters = it < 1 ? 1 : it > 1e6 ? 1000000 : (int)it;
    }

    rep_ms = malloc((size_t)reps * 3 * sizeof *rep_ms);
    double *sorted = malloc((size_t)reps * sizeof *sorted);
    if (rep_ms == NULL || sorted == NULL) {
        free(sorted);
        fprintf(stderr, "bench_nnquant: out of memory\n");
        goto done;
    }
    double *rep_cpu = rep_ms + reps, *rep_tcpu = rep_ms + 2 * reps;
    for (int r = 0; r < reps; r++) {
        double t = now_s(), tc = cpu_s(), tt = thread_cpu_s();
        for (int i = 0; i < iters; i++) {
            if (nq_session_run(s, &in, 1, &out, n_out, &err) != NQ_OK) {
                free(sorted);
                goto fail;
            }
            nq_tensor_free(&out);
        }
        rep_ms[r] = (now_s() - t) * 1e3 / iters;
        rep_cpu[r] = (cpu_s() - tc) * 1e3 / iters;
        rep_tcpu[r] = (thread_cpu_s() - tt) * 1e3 / iters;
    }
    double prof_total_s = 0.0;
    if (profile) {
        pr.g = g;
        /* one thread: all the work runs on this thread, so its CPU time
         * ignores time slices lost to other jobs; else wall time */
        pr.cpu_clock = nq_session_num_threads(s) == 1;
        pr.node_s = calloc((size_t)g->n_nodes + 1, sizeof *pr.node_s);
        if (pr.node_s == NULL ||
            nq_session_add_observer(s, prof_observe, &pr, &err) != NQ_OK) {
            free(sorted);
            if (pr.node_s == NULL) err.code = NQ_ERR_NOMEM;
            goto fail;
        }
        /* one untimed run with the observer, then iters * reps timed ones */
        for (int i = 0; i <= iters * reps; i++) {
            if (i == 1) memset(pr.node_s, 0, (size_t)g->n_nodes * sizeof *pr.node_s);
            double t = now_s();
            pr.last = pr.cpu_clock ? thread_cpu_s() : t;
            pr.last_node = -1;
            if (nq_session_run(s, &in, 1, &out, n_out, &err) != NQ_OK) {
                free(sorted);
                goto fail;
            }
            nq_tensor_free(&out);
            if (i > 0) prof_total_s += now_s() - t;
        }
        nq_session_clear_observers(s);
    }
    double cpu_med = median(rep_cpu, sorted, reps), tcpu_med = median(rep_tcpu, sorted, reps);
    double med = median(rep_ms, sorted, reps); /* leaves rep_ms sorted in `sorted` */

    printf("{\"runtime\": \"nnquant\", \"model\": ");
    json_str(model);
    printf(", \"threads\": %d, \"session_threads\": %d, \"batch\": %ld, \"warmup\": %d, "
           "\"iters\": %d, \"reps\": %d, \"ms_per_batch\": %.6f, \"ms_min\": %.6f, "
           "\"ms_max\": %.6f, \"images_per_s\": %.3f, \"arena_bytes\": %zu, \"rep_ms\": [",
           threads, nq_session_num_threads(s), batch, w_done, iters, reps, med, sorted[0],
           sorted[reps - 1], (double)batch * 1e3 / med, nq_session_arena_bytes(s));
    for (int r = 0; r < reps; r++) printf("%s%.6f", r ? ", " : "", rep_ms[r]);
    printf("], \"cpu_ms_per_batch\": %.6f, \"thread_cpu_ms_per_batch\": %.6f, \"rep_cpu_ms\": [",
           cpu_med, tcpu_med);
    for (int r = 0; r < reps; r++) printf("%s%.6f", r ? ", " : "", rep_cpu[r]);
    printf("], \"blas\": ");
    json_str(blas_name());
    if (profile) {
        double runs = (double)iters * reps, sum = 0.0;
        for (int i = 0; i < g->n_nodes; i++) sum += pr.node_s[i];
        printf(", \"profile\": {\"clock\": \"%s\", \"runs\": %.0f, \"total_ms\": %.6f, "
               "\"nodes_ms\": %.6f, \"nodes\": [",
               pr.cpu_clock ? "thread_cpu" : "wall", runs, prof_total_s * 1e3 / runs,
               sum * 1e3 / runs);
        for (int i = 0; i < g->n_nodes; i++) {
            const nq_node *nd = g->nodes[i];
            printf("%s{\"node\": ", i ? ", " : "");
            json_str(nd->name ? nd->name : "");
            printf(", \"op\": ");
            json_str(nd->op_type);
            printf(", \"ms\": %.6f, \"pct\": %.2f}", pr.node_s[i] * 1e3 / runs,
                   sum > 0 ? 100.0 * pr.node_s[i] / sum : 0.0);
        }
        printf("]}");
    }
    printf("}\n");
    free(sorted);
    rc = 0;
    goto done;

fail:
    fprintf(stderr, "bench_nnquant: %s: %s: %s\n", model, nq_status_name(err.code), err.msg);
done:
    free(rep_ms);
    free(pr.node_s);
    nq_tensor_free(&out);
    nq_tensor_free(&in);
    if (s != NULL) nq_session_free(s);
    if (g != NULL) nq_graph_free(g);
    return rc;
}
