/*
 * bench_train: float training speed (and sanity) of nnquant on one ONNX
 * classifier.
 *
 * Loads the model and the first `count` training samples (preprocessed
 * x * scale), trains `epochs` epochs over them (shuffled, batch B, SGD
 * with momentum or Adam), timing only the training loop (nq_train_epoch:
 * wall time, and the CPU time of the process, robust to other jobs on a
 * shared machine),
 * optionally evaluates on a test set and saves the trained model. Prints
 * one JSON object on stdout: seconds per epoch, batches, final running loss
 * and accuracy, test top-1.
 *
 * Usage: bench_train --model M.onnx --train IMAGES --labels LABELS
 *          [--count N (12800)] [--batch B (64)] [--epochs E (1)]
 *          [--lr LR (0.01)] [--momentum MU (0.9)] [--optimizer sgd|adam]
 *          [--threads T (1)] [--scale S (1/255)] [--seed N]
 *          [--test IMAGES --test-labels LABELS] [--save OUT.onnx]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nnquant/onnx.h"
#include "nnquant/train.h"

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void die(const char *what, const nq_error *err)
{
    fprintf(stderr, "bench_train: %s: %s\n", what, err->msg);
    exit(1);
}

int main(int argc, char **argv)
{
    const char *model = NULL, *train = NULL, *labels = NULL, *test = NULL, *test_labels = NULL,
               *save = NULL;
    nq_train_opts o;
    nq_train_opts_default(&o);
    o.num_threads = 1;
    int64_t count = 12800;
    int epochs = 1;
    float scale = 0.00392156862745098f;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL) {
            fprintf(stderr, "bench_train: %s needs a value\n", a);
            return 2;
        }
        i++;
        if (!strcmp(a, "--model")) model = v;
        else if (!strcmp(a, "--train")) train = v;
        else if (!strcmp(a, "--labels")) labels = v;
        else if (!strcmp(a, "--test")) test = v;
        else if (!strcmp(a, "--test-labels")) test_labels = v;
        else if (!strcmp(a, "--save")) save = v;
        else if (!strcmp(a, "--count")) count = atoll(v);
        else if (!strcmp(a, "--batch")) o.batch = atoll(v);
        else if (!strcmp(a, "--epochs")) epochs = atoi(v);
        else if (!strcmp(a, "--lr")) o.lr = (float)atof(v);
        else if (!strcmp(a, "--momentum")) o.momentum = (float)atof(v);
        else if (!strcmp(a, "--threads")) o.num_threads = atoi(v);
        else if (!strcmp(a, "--scale")) scale = (float)atof(v);
        else if (!strcmp(a, "--seed")) o.seed = (uint64_t)atoll(v);
        else if (!strcmp(a, "--optimizer")) o.optimizer = !strcmp(v, "adam") ? NQ_OPT_ADAM : NQ_OPT_SGD;
        else {
            fprintf(stderr, "bench_train: unknown option %s\n", a);
            return 2;
        }
    }
    if (!model || !train || !labels) {
        fprintf(stderr, "usage: bench_train --model M.onnx --train IMAGES --labels LABELS [...]\n");
        return 2;
    }
    nq_error err = {0};
    nq_graph *g = NULL;
    nq_dataset *d = NULL, *td = NULL;
    nq_preprocess prep;
    nq_preprocess_default(&prep);
    prep.scale = scale;
    if (nq_onnx_load(model, &g, &err)) die(model, &err);
    if (nq_dataset_load(train, labels, &prep, count, &d, &err)) die(train, &err);
    if (test && nq_dataset_load(test, test_labels, &prep, 0, &td, &err)) die(test, &err);
    nq_trainer *t = NULL;
    if (nq_trainer_create(g, &o, &t, &err)) die("trainer", &err);
    double secs = 0, cpu = 0;
    nq_train_stats st = {0};
    for (int e = 0; e < epochs; e++) {
        double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
        if (nq_train_epoch(t, d, NULL, NULL, &st, &err)) die("epoch", &err);
        secs += clock_s(CLOCK_MONOTONIC) - t0;
        cpu += clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    }
    printf("{\"model\": \"%s\", \"samples\": %lld, \"batch\": %lld, \"batches_per_epoch\": %lld, "
           "\"epochs\": %d, \"threads\": %d, \"seconds_per_epoch\": %.4f, \"cpu_seconds_per_epoch\": %.4f, "
           "\"last_epoch_loss\": %.5f, "
           "\"last_epoch_train_acc\": %.5f",
           model, (long long)d->n, (long long)o.batch,
           (long long)nq_train_batches_per_epoch(t, d->n), epochs, o.num_threads, secs / epochs,
           cpu / epochs,
           st.loss, st.samples ? (double)st.correct / (double)st.samples : 0.0);
    if (td) {
        nq_eval_result r;
        if (nq_trainer_evaluate(t, td, 256, &r, &err)) die("evaluate", &err);
        printf(", \"test_top1\": %.5f, \"test_samples\": %lld", r.top1, (long long)r.samples);
    }
    printf("}\n");
    if (save && nq_onnx_save(g, save, &err)) die(save, &err);
    nq_trainer_free(t);
    nq_dataset_free(d);
    nq_dataset_free(td);
    nq_graph_free(g);
    return 0;
}
