/* nnquant quantize MODEL --calib F [--calib-count N] [prep] -o OUT [options] */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "nnquant/onnx.h"
#include "nnquant/ptq.h"

typedef struct cli_log {
    nq_cli_progress_state prog;
    int verbose;
} cli_log;

static void log_line(void *user, const char *line)
{
    (void)user;
    fprintf(stderr, "%s\n", line);
}

static void progress(void *user, const char *stage, int64_t done, int64_t total)
{
    cli_log *l = user;
    l->prog.label = stage;
    nq_cli_progress(&l->prog, done, total);
}

/* int64 is a bias (and accumulator) type only. */
static int parse_dtype(const char *flag, const char *s, nq_dtype *out)
{
    if (s == NULL) return 0;
    nq_dtype t = nq_dtype_from_name(s);
    int is_bias = strcmp(flag, "--bias") == 0;
    if (t == NQ_DTYPE_UNDEFINED || t == NQ_DTYPE_BOOL || (t == NQ_DTYPE_INT64 && !is_bias) ||
        t == NQ_DTYPE_FLOAT64) {
        fprintf(stderr, "nnquant: %s expects float32, int2, int3, int4, int8, uint8, int16%s or int32, got '%s'\n",
                flag, is_bias ? ", int64" : "", s);
        return 2;
    }
    *out = t;
    return 0;
}

/* --precision NODE=DT: tags the node (and its weight quantizer) before quantization. */
static int apply_precisions(nq_graph *g, const nq_str_list *list)
{
    for (int i = 0; i < list->n; i++) {
        const char *eq = strrchr(list->v[i], '=');
        char name[256];
        nq_dtype t = NQ_DTYPE_UNDEFINED;
        if (eq == NULL || (size_t)(eq - list->v[i]) >= sizeof name || parse_dtype("--precision", eq + 1, &t)) {
            fprintf(stderr, "nnquant: --precision expects NODE=DTYPE, got '%s'\n", list->v[i]);
            return NQ_EXIT_USAGE;
        }
        memcpy(name, list->v[i], (size_t)(eq - list->v[i]));
        name[eq - list->v[i]] = '\0';
        nq_node *n = nq_graph_find_node(g, name);
        if (n == NULL) {
            fprintf(stderr, "nnquant: --precision: no node named '%s' (see nnquant info)\n", name);
            return NQ_EXIT_ERROR;
        }
        if (nq_node_set_string(n, NQ_ATTR_PRECISION, nq_dtype_name(t)) != NQ_OK) return NQ_EXIT_ERROR;
    }
    return NQ_EXIT_OK;
}

int nq_cli_quantize(int argc, char **argv)
{
    nq_cli_data d = NQ_CLI_DATA_DEFAULTS;
    const char *out = NULL, *clipping = "max", *weights = NULL, *acts = NULL, *bias = NULL;
    int64_t calib_count = 1000, bits = 0;
    nq_ptq_options o;
    nq_ptq_options_default(&o);
    int bias_corr = 0, no_bias_corr = 0, relu_ranges = 0;
    int per_channel = 0, no_cle = 0, signs = 0, single_shift = 0, fake = 0, no_fold = 0, deq = 0, no_quant = 0;
    int verbose = 0, json = 0;
    nq_str_list precisions = {0};
    const nq_opt opts[] = {
        {"--calib", NQ_OPT_STRING, &d.data, "FILE", "calibration samples (IDX or .npy, as --data elsewhere)"},
        {"--calib-count", NQ_OPT_INT, &calib_count, "N", "use the first N calibration samples (default 1000)"},
        {"--scale", NQ_OPT_FLOAT, &d.scale, "S", "preprocessing x -> (x*S - M) / D: S (default 1)"},
        {"--mean", NQ_OPT_STRING, &d.mean, "M", "mean M, or per-channel M1,M2,... (default 0)"},
        {"--std", NQ_OPT_STRING, &d.std, "D", "std D, or per-channel D1,D2,... (default 1)"},
        {"-o", NQ_OPT_STRING, &out, "OUT", "where to write the quantized model (.onnx)"},
        {"--bits", NQ_OPT_INT, &bits, "N", "shorthand: weights and activations intN (2..8, 16)"},
        {"--weights", NQ_OPT_STRING, &weights, "DT", "weight dtype (default int8)"},
        {"--acts", NQ_OPT_STRING, &acts, "DT", "activation dtype (default int8)"},
        {"--bias", NQ_OPT_STRING, &bias, "DT", "bias and accumulator dtype: int32, or int64 (the default when "
                                               "weights or activations are int16)"},
        {"--clipping", NQ_OPT_STRING, &clipping, "MODE", "activation clipping: max (default), mse, aa, kl"},
        {"--per-channel", NQ_OPT_FLAG, &per_channel, NULL, "one weight scale per output channel"},
        {"--no-cle", NQ_OPT_FLAG, &no_cle, NULL, "skip cross-layer equalization"},
        {"--optimize-signs", NQ_OPT_FLAG, &signs, NULL, "unsigned ranges for outputs known to be >= 0"},
        {"--bias-correction", NQ_OPT_FLAG, &bias_corr, NULL,
         "move biases so that each layer's mean output error on the calibration set is 0 (the default)"},
        {"--no-bias-correction", NQ_OPT_FLAG, &no_bias_corr, NULL, "skip bias correction (as the reference does)"},
        {"--bias-correction-samples", NQ_OPT_INT, &o.bias_correction_samples, "N",
         "bias correction measures on the first N calibration samples (default 256; 0: all)"},
        {"--relu-ranges", NQ_OPT_FLAG, &relu_ranges, NULL,
         "range and clipping of an output read only by Relu from max(x, 0) (finer steps; helps at 4 bits)"},
        {"--single-shift", NQ_OPT_FLAG, &single_shift, NULL, "rescale by powers of two only"},
        {"--fake-quantize", NQ_OPT_FLAG, &fake, NULL, "keep float tensors holding integer values"},
        {"--no-fold", NQ_OPT_FLAG, &no_fold, NULL, "keep weight/bias quantizers as nodes"},
        {"--dequantize", NQ_OPT_FLAG, &deq, NULL, "outputs back in float"},
        {"--no-quant", NQ_OPT_FLAG, &no_quant, NULL, "normalize and scale without rounding (debugging)"},
        {"--precision", NQ_OPT_LIST, &precisions, "NODE=DT", "precision of one node (repeatable); DT float32 keeps a Conv/Gemm/MatMul in float"},
        {"--verbose", NQ_OPT_FLAG, &verbose, NULL, "print every step and clipping value"},
        {"--json", NQ_OPT_FLAG, &json, NULL, "print one JSON object on stdout"},
    };
    const char *pos[1];
    nq_cmd_spec spec = {
        "nnquant quantize MODEL --calib F [--calib-count N] [prep] -o OUT [options]",
        "Post-training quantization: calibrates the model on samples, rewrites it into an\n"
        "integer network (Quantizer nodes, integer weights and biases) and saves it as ONNX.\n"
        "The quantized model takes the same float input as the original; run, eval and\n"
        "compare accept it as it is.",
        1, pos, opts, sizeof opts / sizeof opts[0],
        "example (int8, first 1000 training images for calibration):\n"
        "  nnquant quantize models/convnet.onnx \\\n"
        "    --calib /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz \\\n"
        "    --scale 0.00392156862745098 --clipping mse --dequantize -o convnet_int8.onnx"};
    int r = nq_args_parse(&spec, argc, argv);
    if (r) return r < 0 ? NQ_EXIT_OK : NQ_EXIT_USAGE;
    if (out == NULL || d.data == NULL) {
        fprintf(stderr, "nnquant: quantize needs --calib FILE and -o OUT\n");
        return NQ_EXIT_USAGE;
    }
    if (o.bias_correction_samples < 0) {
        fprintf(stderr, "nnquant: --bias-correction-samples must be >= 0 (0: all calibration samples)\n");
        return NQ_EXIT_USAGE;
    }
    if (bits) {
        const char *names[17] = {[2] = "int2", [3] = "int3", [4] = "int4", [8] = "int8", [16] = "int16"};
        if (bits < 2 || bits > 16 || names[bits] == NULL) {
            fprintf(stderr, "nnquant: --bits must be 2, 3, 4, 8 or 16\n");
            return NQ_EXIT_USAGE;
        }
        o.act_dtype = o.weight_dtype = nq_dtype_from_name(names[bits]);
    }
    if (parse_dtype("--weights", weights, &o.weight_dtype) || parse_dtype("--acts", acts, &o.act_dtype) ||
        parse_dtype("--bias", bias, &o.bias_dtype))
        return NQ_EXIT_USAGE;
    /* 16-bit products summed in int32 overflow in the worst case */
    if (bias == NULL && (o.weight_dtype == NQ_DTYPE_INT16 || o.act_dtype == NQ_DTYPE_INT16))
        o.bias_dtype = NQ_DTYPE_INT64;
    o.clipping = nq_clip_mode_from_name(clipping);
    if ((int)o.clipping == 0) {
        fprintf(stderr, "nnquant: --clipping expects max, mse, aa or kl, got '%s'\n", clipping);
        return NQ_EXIT_USAGE;
    }
    o.channel_wise = per_channel;
    o.equalize = !no_cle;
    o.optimize_signs = signs;
    if (bias_corr && no_bias_corr) {
        fprintf(stderr, "nnquant: --bias-correction and --no-bias-correction contradict each other\n");
        return NQ_EXIT_USAGE;
    }
    o.bias_correction = !no_bias_corr;
    o.relu_ranges = relu_ranges;
    o.single_shift = single_shift;
    o.fake_quantize = fake;
    o.fold_graph = !no_fold;
    o.dequantize = deq;
    o.no_quant = no_quant;
    o.verbose = verbose;
    cli_log lg = {{0}, verbose};
    nq_cli_progress_init(&lg.prog, "calibration", json);
    o.log = log_line;
    o.progress = progress;
    o.user = &lg;
    d.limit = calib_count;
    nq_dataset *calib = NULL;
    if ((r = nq_cli_load_data(&d, 0, &calib)) != NQ_EXIT_OK) return r;
    nq_graph *g = nq_cli_load_model(pos[0]);
    if (g == NULL) {
        nq_dataset_free(calib);
        return NQ_EXIT_ERROR;
    }
    int rc = apply_precisions(g, &precisions);
    nq_error err = {0};
    double t0 = nq_now_seconds();
    if (rc == NQ_EXIT_OK && nq_quantize_network(g, calib, &o, &err) != NQ_OK) rc = nq_cli_fail(&err);
    double t1 = nq_now_seconds();
    if (rc == NQ_EXIT_OK && nq_onnx_save(g, out, &err) != NQ_OK) rc = nq_cli_fail(&err);
    if (rc == NQ_EXIT_OK) {
        if (json) {
            printf("{\"output\": ");
            nq_cli_json_string(stdout, out);
            printf(", \"calibration_samples\": %lld, \"seconds\": %.3f, \"nodes\": %d}\n", (long long)calib->n,
                   t1 - t0, g->n_nodes);
        } else {
            fprintf(stderr, "quantized %s -> %s (%lld calibration samples, %.2f s)\n", pos[0], out,
                    (long long)calib->n, t1 - t0);
        }
    }
    nq_graph_free(g);
    nq_dataset_free(calib);
    return rc;
}
