/*
 * nnquant qat MODEL --method lsq|sat --bits N --train F --train-labels F
 *     [--val F --val-labels F] [prep] --epochs E [--batch B] [--lr LR]
 *     [--optimizer sgd|adam] -o OUT [--json]
 *
 * Quantization-aware training (include/nnquant/qat.h, train.h): inserts the
 * method's quantizers, trains E epochs (a checkpoint OUT.ckpt.onnx after
 * each), then the post-training transform gives an integer model in the
 * form of `nnquant quantize` output, saved at OUT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "nnquant/onnx.h"
#include "nnquant/ptq.h"
#include "nnquant/qdq.h"
#include "nnquant/qat.h"
#include "nnquant/train.h"

typedef struct qat_cli {
    const char *method, *optimizer, *schedule, *out, *val, *val_labels, *mode;
    int64_t bits, epochs, batch, val_limit, seed;
    double lr, momentum, weight_decay, init_alpha;
    int json, resume, fake, quiet;
} qat_cli;

typedef struct epoch_log {
    double loss, train_top1, val_top1, seconds;
} epoch_log;

typedef struct progress_ctx {
    nq_cli_progress_state bar;
    int64_t epoch, epochs;
} progress_ctx;

static int on_batch(void *user, int64_t batch, int64_t n_batches, const nq_train_stats *st)
{
    progress_ctx *p = user;
    char label[96];
    snprintf(label, sizeof label, "epoch %lld/%lld loss %.4f acc %.4f", (long long)p->epoch, (long long)p->epochs,
             st->samples ? st->loss : 0.0, st->samples ? (double)st->correct / (double)st->samples : 0.0);
    p->bar.label = label;
    nq_cli_progress(&p->bar, batch + 1, n_batches);
    p->bar.label = NULL;
    return 0;
}

/* 1 if g is a quantized model (nnquant's integer form or QDQ). */
static int is_quantized(const nq_graph *g)
{
    for (int i = 0; i < g->n_nodes; i++)
        if (strcmp(g->nodes[i]->op_type, "Quantizer") == 0) return 1;
    return nq_graph_is_qdq(g);
}

/* A quantized MODEL: the float graph it computes, and its ranges to start
 * the trained quantizers on (*ranges stays NULL for a float model). A QDQ
 * file is read as it is (its scales are the real ones), not converted to
 * the integer form as the other commands do. */
static nq_graph *start_graph(const char *model, nq_qat_ranges **ranges)
{
    nq_error err = {0};
    nq_graph *g = NULL, *f = NULL;
    if (nq_onnx_load(model, &g, &err) != NQ_OK) {
        nq_cli_fail(&err);
        return NULL;
    }
    if (!is_quantized(g)) return g;
    nq_status s = nq_qat_from_quantized(g, &f, ranges, &err);
    nq_graph_free(g);
    if (s != NQ_OK) nq_cli_fail(&err);
    return f;
}

/* The graph to train: a checkpoint (--resume) or the model with the
 * method's quantizers inserted. */
static nq_graph *training_graph(const char *model, const char *ckpt, const qat_cli *o)
{
    nq_error err = {0};
    if (o->resume) {
        if (access(ckpt, R_OK) != 0) {
            fprintf(stderr, "nnquant: --resume: no checkpoint %s (it is written after each epoch)\n", ckpt);
            return NULL;
        }
        return nq_cli_load_model(ckpt);
    }
    nq_qat_ranges *ranges = NULL;
    nq_graph *g = start_graph(model, &ranges);
    if (g == NULL) return NULL;
    nq_status s;
    if (strcmp(o->method, "lsq") == 0) {
        s = nq_lsq_setup_quantizers(g, (int)o->bits, &err);
    } else {
        nq_dorefa_mode mode = strcmp(o->mode, "default") == 0 ? NQ_DOREFA_DEFAULT : NQ_DOREFA_SYMMETRIC;
        /* BatchNorm folded first (as LSQ does), so that every bias has its
         * integer grid in training and the integer model matches */
        s = nq_prepare_network(g, &err);
        if (s == NQ_OK) s = nq_sat_insert_sat_nodes(g, 1, &err);
        if (s == NQ_OK) s = nq_sat_insert_param_quantizers(g, (int)o->bits, mode, &err);
        if (s == NQ_OK) s = nq_sat_preserve_gains(g, &err);
        if (s == NQ_OK) s = nq_sat_insert_activ_quantizers(g, (int)o->bits, (float)o->init_alpha, &err);
    }
    int set = 0, total = 0;
    if (s == NQ_OK && ranges != NULL) s = nq_qat_init_from_ranges(g, ranges, &set, &total, &err);
    if (s == NQ_OK && ranges != NULL)
        fprintf(stderr,
                "nnquant: %s is quantized: training starts from its weights; %d of %d quantizers start on its "
                "ranges (the others are initialized as from a float model)\n",
                model, set, total);
    nq_qat_ranges_free(ranges);
    if (s != NQ_OK) {
        nq_cli_fail(&err);
        nq_graph_free(g);
        return NULL;
    }
    return g;
}

static int check_options(const qat_cli *o, const nq_cli_data *d)
{
    if (o->out == NULL || d->data == NULL || d->labels == NULL || o->method == NULL || o->bits == 0 ||
        o->epochs < 0) {
        fprintf(stderr, "nnquant: qat needs MODEL, --method, --bits, --train, --train-labels, --epochs and -o\n");
        return NQ_EXIT_USAGE;
    }
    if (strcmp(o->method, "lsq") != 0 && strcmp(o->method, "sat") != 0) {
        fprintf(stderr, "nnquant: --method expects lsq or sat, got '%s'\n", o->method);
        return NQ_EXIT_USAGE;
    }
    if (o->bits < 2 || o->bits > 8) {
        fprintf(stderr, "nnquant: --bits must be in 2..8\n");
        return NQ_EXIT_USAGE;
    }
    if (o->epochs < 1 || o->batch < 1 || !(o->lr > 0) || o->momentum < 0 || o->weight_decay < 0 ||
        !(o->init_alpha > 0)) {
        fprintf(stderr, "nnquant: --epochs, --batch, --lr and --init-alpha must be positive\n");
        return NQ_EXIT_USAGE;
    }
    if (strcmp(o->optimizer, "sgd") != 0 && strcmp(o->optimizer, "adam") != 0) {
        fprintf(stderr, "nnquant: --optimizer expects sgd or adam, got '%s'\n", o->optimizer);
        return NQ_EXIT_USAGE;
    }
    if (strcmp(o->schedule, "cosine") != 0 && strcmp(o->schedule, "constant") != 0) {
        fprintf(stderr, "nnquant: --schedule expects cosine or constant, got '%s'\n", o->schedule);
        return NQ_EXIT_USAGE;
    }
    if (strcmp(o->mode, "default") != 0 && strcmp(o->mode, "symmetric") != 0) {
        fprintf(stderr, "nnquant: --dorefa-mode expects default or symmetric, got '%s'\n", o->mode);
        return NQ_EXIT_USAGE;
    }
    if ((o->val == NULL) != (o->val_labels == NULL)) {
        fprintf(stderr, "nnquant: --val and --val-labels go together\n");
        return NQ_EXIT_USAGE;
    }
    return NQ_EXIT_OK;
}

static void print_json(const qat_cli *o, const char *model, const epoch_log *ep, int64_t first, int64_t n_ep,
                       double fake_top1, double int_top1, double seconds)
{
    printf("{\"model\": ");
    nq_cli_json_string(stdout, model);
    printf(", \"output\": ");
    nq_cli_json_string(stdout, o->out);
    printf(", \"method\": \"%s\", \"bits\": %lld, \"epochs\": [", o->method, (long long)o->bits);
    for (int64_t e = first; e < n_ep; e++) {
        printf("%s{\"epoch\": %lld, \"loss\": %.6f, \"train_top1\": %.6f", e > first ? ", " : "", (long long)e + 1,
               ep[e].loss, ep[e].train_top1);
        if (ep[e].val_top1 >= 0) printf(", \"val_top1\": %.6f", ep[e].val_top1);
        printf(", \"seconds\": %.3f}", ep[e].seconds);
    }
    printf("]");
    if (fake_top1 >= 0) printf(", \"fake_quantized_top1\": %.6f, \"top1\": %.6f", fake_top1, int_top1);
    printf(", \"seconds\": %.3f}\n", seconds);
}

static int train_and_save(nq_graph *g, const char *model, const char *ckpt, const qat_cli *o,
                          const nq_dataset *train, const nq_dataset *val)
{
    nq_error err = {0};
    nq_train_opts to;
    nq_train_opts_default(&to);
    to.optimizer = strcmp(o->optimizer, "adam") == 0 ? NQ_OPT_ADAM : NQ_OPT_SGD;
    to.lr = (float)o->lr;
    to.momentum = (float)o->momentum;
    to.weight_decay = (float)o->weight_decay;
    to.batch = o->batch;
    to.seed = (uint64_t)o->seed;
    nq_trainer *t = NULL;
    if (nq_trainer_create(g, &to, &t, &err) != NQ_OK) return nq_cli_fail(&err);
    int64_t per_epoch = nq_train_batches_per_epoch(t, train->n);
    if (strcmp(o->schedule, "cosine") == 0) {
        to.schedule = NQ_LR_COSINE;
        to.total_steps = per_epoch * o->epochs;
        nq_trainer_free(t);
        if (nq_trainer_create(g, &to, &t, &err) != NQ_OK) return nq_cli_fail(&err);
    }
    if (o->resume && nq_trainer_resume(t, ckpt, &err) != NQ_OK) {
        nq_trainer_free(t);
        return nq_cli_fail(&err);
    }
    int64_t first = nq_trainer_epoch_count(t);
    epoch_log *ep = calloc((size_t)o->epochs + 1, sizeof *ep);
    if (ep == NULL) return NQ_EXIT_ERROR;
    if (o->resume) fprintf(stderr, "resuming from %s at epoch %lld\n", ckpt, (long long)first + 1);
    double t0 = nq_now_seconds();
    int rc = NQ_EXIT_OK;
    for (int64_t e = first; e < o->epochs && rc == NQ_EXIT_OK; e++) {
        progress_ctx pc = {{0}, e + 1, o->epochs};
        nq_cli_progress_init(&pc.bar, "epoch", o->quiet);
        nq_train_stats st = {0};
        double te = nq_now_seconds();
        if (nq_train_epoch(t, train, on_batch, &pc, &st, &err) != NQ_OK) {
            rc = nq_cli_fail(&err);
            break;
        }
        ep[e].loss = st.loss;
        ep[e].train_top1 = st.samples ? (double)st.correct / (double)st.samples : 0.0;
        ep[e].val_top1 = -1;
        nq_eval_result vr;
        if (val && nq_trainer_evaluate(t, val, 256, &vr, &err) != NQ_OK) {
            rc = nq_cli_fail(&err);
            break;
        }
        if (val) ep[e].val_top1 = vr.top1;
        ep[e].seconds = nq_now_seconds() - te;
        fprintf(stderr, "epoch %lld/%lld: loss %.4f train top-1 %.4f", (long long)e + 1, (long long)o->epochs,
                ep[e].loss, ep[e].train_top1);
        if (val) fprintf(stderr, " val top-1 (fake-quantized) %.4f", ep[e].val_top1);
        fprintf(stderr, " (%.1f s)\n", ep[e].seconds);
        if (nq_trainer_save_checkpoint(t, ckpt, &err) != NQ_OK) rc = nq_cli_fail(&err);
    }
    nq_trainer_free(t);
    double fake_top1 = -1, int_top1 = -1;
    nq_graph *fq = NULL;
    if (rc == NQ_EXIT_OK && val && nq_graph_clone(g, &fq, &err) != NQ_OK) rc = nq_cli_fail(&err);
    nq_status s = NQ_OK;
    if (rc == NQ_EXIT_OK) {
        s = strcmp(o->method, "lsq") == 0 ? nq_lsq_post_training_transform(g, !o->fake, &err)
                                          : nq_sat_post_training_transform(g, !o->fake, &err);
        if (s != NQ_OK) rc = nq_cli_fail(&err);
    }
    if (rc == NQ_EXIT_OK && nq_onnx_save(g, o->out, &err) != NQ_OK) rc = nq_cli_fail(&err);
    if (rc == NQ_EXIT_OK && val) { /* the final model against the trained (fake-quantized) one */
        nq_session *sf = NULL, *sq = NULL;
        nq_eval_result rf, rq;
        if (nq_session_create(fq, NULL, &sf, &err) != NQ_OK || nq_evaluate(sf, fq, val, 256, NULL, NULL, &rf, &err) != NQ_OK ||
            nq_session_create(g, NULL, &sq, &err) != NQ_OK || nq_evaluate(sq, g, val, 256, NULL, NULL, &rq, &err) != NQ_OK)
            rc = nq_cli_fail(&err);
        else {
            fake_top1 = rf.top1;
            int_top1 = rq.top1;
            fprintf(stderr, "val top-1: fake-quantized %.4f, %s model %.4f\n", fake_top1,
                    o->fake ? "fake-quantized PTQ-form" : "integer", int_top1);
        }
        nq_session_free(sf);
        nq_session_free(sq);
    }
    nq_graph_free(fq);
    if (rc == NQ_EXIT_OK) {
        fprintf(stderr, "wrote %s (checkpoint %s)\n", o->out, ckpt);
        if (o->json) print_json(o, model, ep, first, o->epochs, fake_top1, int_top1, nq_now_seconds() - t0);
    }
    free(ep);
    return rc;
}

int nq_cli_qat(int argc, char **argv)
{
    nq_cli_data d = NQ_CLI_DATA_DEFAULTS;
    qat_cli o = {.optimizer = "adam", .schedule = "cosine", .mode = "symmetric", .epochs = -1, .batch = 64,
                 .lr = 1e-3, .momentum = 0.9, .seed = 1, .init_alpha = 8.0};
    const nq_opt opts[] = {
        {"--method", NQ_OPT_STRING, &o.method, "M", "lsq (Learned Step Size Quantization) or sat (DoReFa + CG-PACT + "
                                                    "scale adjustment)"},
        {"--bits", NQ_OPT_INT, &o.bits, "N", "bits of weights and activations, 2..8 (graph input and output: 8)"},
        {"--train", NQ_OPT_STRING, &d.data, "FILE", "training samples: IDX (*-idx3-ubyte[.gz]) or .npy"},
        {"--train-labels", NQ_OPT_STRING, &d.labels, "FILE", "training labels: IDX or .npy"},
        {"--val", NQ_OPT_STRING, &o.val, "FILE", "validation samples (top-1 after each epoch and of the result)"},
        {"--val-labels", NQ_OPT_STRING, &o.val_labels, "FILE", "validation labels"},
        {"--scale", NQ_OPT_FLOAT, &d.scale, "S", "preprocessing x -> (x*S - M) / D: S (default 1)"},
        {"--mean", NQ_OPT_STRING, &d.mean, "M", "mean M, or per-channel M1,M2,... (default 0)"},
        {"--std", NQ_OPT_STRING, &d.std, "D", "std D, or per-channel D1,D2,... (default 1)"},
        {"--limit", NQ_OPT_INT, &d.limit, "N", "train on the first N samples only (default all)"},
        {"--val-limit", NQ_OPT_INT, &o.val_limit, "N", "validate on the first N samples only (default all)"},
        {"--epochs", NQ_OPT_INT, &o.epochs, "E", "training epochs (required, >= 1)"},
        {"--batch", NQ_OPT_INT, &o.batch, "B", "samples per batch (default 64)"},
        {"--lr", NQ_OPT_FLOAT, &o.lr, "LR", "learning rate (default 1e-3)"},
        {"--optimizer", NQ_OPT_STRING, &o.optimizer, "OPT", "adam (default) or sgd"},
        {"--momentum", NQ_OPT_FLOAT, &o.momentum, "M", "SGD momentum (default 0.9)"},
        {"--weight-decay", NQ_OPT_FLOAT, &o.weight_decay, "WD", "L2 weight decay (default 0)"},
        {"--schedule", NQ_OPT_STRING, &o.schedule, "S", "learning-rate schedule: cosine to 0 over all epochs "
                                                        "(default) or constant"},
        {"--seed", NQ_OPT_INT, &o.seed, "S", "shuffling seed (default 1)"},
        {"--dorefa-mode", NQ_OPT_STRING, &o.mode, "M", "sat: DoReFa weight mode, symmetric (default) or default"},
        {"--init-alpha", NQ_OPT_FLOAT, &o.init_alpha, "A", "sat: initial CG-PACT clipping alpha (default 8)"},
        {"-o", NQ_OPT_STRING, &o.out, "OUT", "the quantized model (.onnx); checkpoints go to OUT.ckpt.onnx"},
        {"--resume", NQ_OPT_FLAG, &o.resume, NULL, "continue from OUT.ckpt.onnx (same options) instead of starting "
                                                   "over"},
        {"--fake-quantize", NQ_OPT_FLAG, &o.fake, NULL, "save the PTQ-form model before the integer cast"},
        {"--json", NQ_OPT_FLAG, &o.json, NULL, "print one JSON object on stdout"},
    };
    const char *pos[1];
    nq_cmd_spec spec = {
        "nnquant qat MODEL --method lsq|sat --bits N --train F --train-labels F [--val F --val-labels F]\n"
        "       [prep] --epochs E [--batch B] [--lr LR] [--optimizer sgd|adam] -o OUT [--json]",
        "Quantization-aware training: inserts the method's quantizers into the float model\n"
        "(lsq: learned step sizes on weights and activations; sat: TanhClamp + DoReFa +\n"
        "ScaleAdjust on weights, CG-PACT on activations), trains E epochs with softmax\n"
        "cross-entropy on shuffled mini-batches, and turns the result into an integer model\n"
        "of the same form as `nnquant quantize` output (run, eval, compare and export accept\n"
        "it). After each epoch the training graph is saved to OUT.ckpt.onnx (with its\n"
        "optimizer state OUT.ckpt.onnx.optim.npy); --resume continues from it. Without\n"
        "--resume, training starts over and overwrites the checkpoint. Progress (loss and\n"
        "accuracy) goes to stderr.\n\n"
        "MODEL may be a PTQ result (`nnquant quantize` output, or a QDQ model): training then\n"
        "starts from its weights (BatchNorm folded, CLE applied) and its quantizers start on\n"
        "its clipping ranges (LSQ step = range / Qp, CG-PACT alpha = range) instead of being\n"
        "initialized from data.",
        1, pos, opts, sizeof opts / sizeof opts[0],
        "example (W4A4 LSQ, 2 epochs):\n"
        "  FM=/usr/share/datasets/fashion-mnist\n"
        "  nnquant qat models/convnet.onnx --method lsq --bits 4 --epochs 2 \\\n"
        "    --train $FM/train-images-idx3-ubyte.gz --train-labels $FM/train-labels-idx1-ubyte.gz \\\n"
        "    --val $FM/t10k-images-idx3-ubyte.gz --val-labels $FM/t10k-labels-idx1-ubyte.gz \\\n"
        "    --scale 0.00392156862745098 -o convnet_lsq4.onnx"};
    int r = nq_args_parse(&spec, argc, argv);
    if (r) return r < 0 ? NQ_EXIT_OK : NQ_EXIT_USAGE;
    if ((r = check_options(&o, &d)) != NQ_EXIT_OK) return r;
    o.quiet = o.json;
    char ckpt[4096];
    if (snprintf(ckpt, sizeof ckpt, "%s.ckpt.onnx", o.out) >= (int)sizeof ckpt) {
        fprintf(stderr, "nnquant: -o path too long\n");
        return NQ_EXIT_USAGE;
    }
    nq_dataset *train = NULL, *val = NULL;
    if ((r = nq_cli_load_data(&d, 1, &train)) != NQ_EXIT_OK) return r;
    if (o.val) {
        nq_cli_data vd = d;
        vd.data = o.val;
        vd.labels = o.val_labels;
        vd.limit = o.val_limit;
        if ((r = nq_cli_load_data(&vd, 1, &val)) != NQ_EXIT_OK) {
            nq_dataset_free(train);
            return r;
        }
    }
    nq_graph *g = training_graph(pos[0], ckpt, &o);
    r = g ? train_and_save(g, pos[0], ckpt, &o, train, val) : NQ_EXIT_ERROR;
    nq_graph_free(g);
    nq_dataset_free(train);
    nq_dataset_free(val);
    return r;
}
