/* nq_quantize_network: every PTQ step in the reference order. */
#include <stdio.h>
#include <string.h>

#include "core/core_internal.h"
#include "ptq/ptq_internal.h"

void nq_ptq_options_default(nq_ptq_options *o)
{
    memset(o, 0, sizeof *o);
    o->act_dtype = NQ_DTYPE_INT8;
    o->weight_dtype = NQ_DTYPE_INT8;
    o->bias_dtype = NQ_DTYPE_INT32;
    o->clipping = NQ_CLIP_MAX;
    o->fold_graph = 1;
    o->equalize = 1;
    o->cle_target_delta = 0.01;
    o->batch = 64;
    o->bias_correction = 1; /* not in the reference: an nnquant extension, on by default */
    o->bias_correction_samples = 256;
}

/* Logs a finished step with its wall time (verbose only). */
static void say(const nq_ptq_options *o, const char *step, double t0)
{
    if (o->verbose && o->log) {
        char line[128];
        snprintf(line, sizeof line, "ptq: %-34s %7.3f s", step, nq_now_seconds() - t0);
        o->log(o->user, line);
    }
}

nq_status nq_quantize_network(nq_graph *g, const nq_dataset *calib, const nq_ptq_options *o, nq_error *err)
{
    nq_ptq_options dflt;
    if (o == NULL) {
        nq_ptq_options_default(&dflt);
        o = &dflt;
    }
    nq_ranges ranges = {0};
    int pairs = 0;
    nq_status s = nq_ops_resolve(g, err);
#define STEP(name, call)                  \
    if (s == NQ_OK) {                     \
        double t0_ = nq_now_seconds();             \
        s = (call);                       \
        if (s == NQ_OK) say(o, name, t0_); \
    }
    STEP("check_architecture", nq_check_architecture(g, err));
    STEP("prepare_network", nq_prepare_network(g, err));
    if (o->equalize) {
        STEP("cross_layer_equalization", nq_cross_layer_equalization(g, o->cle_target_delta, &pairs, err));
        if (s == NQ_OK && o->verbose && o->log) {
            char line[128];
            snprintf(line, sizeof line, "ptq: cross_layer_equalization: %d layer pair%s equalized", pairs,
                     pairs == 1 ? "" : "s");
            o->log(o->user, line);
        }
        /* recorded so that compare can equalize the float model the same way */
        char delta[32];
        snprintf(delta, sizeof delta, "%.17g", o->cle_target_delta);
        if (s == NQ_OK && pairs > 0) s = nq_graph_set_meta(g, NQ_META_CLE_DELTA, delta, err);
    }
    STEP("insert_scaling_nodes", nq_insert_scaling_nodes(g, o->channel_wise, err));
    STEP("auto_assign_node_precision",
         nq_auto_assign_node_precision(g, o->act_dtype, o->weight_dtype, o->bias_dtype, err));
    STEP("normalize_parameters", nq_normalize_parameters(g, o->channel_wise, err));
    STEP("compute_ranges", nq_compute_ranges(g, calib, 1, o, &ranges, err));
    STEP("adjust_ranges", nq_adjust_ranges(g, o->clipping, &ranges, calib, o, err));
    STEP("normalize_activations", nq_normalize_activations(g, &ranges, err));
    nq_graph *ref = NULL; /* the float graph bias correction compares with */
    if (o->bias_correction && !o->no_quant) STEP("clone_for_bias_correction", nq_graph_clone(g, &ref, err));
    STEP("quantize_normalized_network",
         nq_quantize_normalized_network(g, &ranges, o->no_quant, o->optimize_signs, err));
    if (ref != NULL) STEP("bias_correction", nq_bias_correction(g, ref, calib, o, NULL, err));
    nq_graph_free(ref);
    if (o->dequantize) STEP("perform_dequantization", nq_perform_dequantization(g, err));
    if (o->single_shift) {
        STEP("insert_compensation_nodes", nq_insert_compensation_nodes(g, o->no_quant, err));
        STEP("perform_single_shift_approximation", nq_perform_single_shift_approximation(g, err));
    }
    if (!o->fake_quantize) STEP("cast_quantized_network", nq_cast_quantized_network(g, o->single_shift, err));
    if (o->fold_graph) STEP("fold_producer_quantizers", nq_fold_producer_quantizers(g, err));
#undef STEP
    nq_ranges_free(&ranges);
    return s;
}
