/* nnquant export QUANT (--c DIR [--golden X.npy] | --onnx-qdq OUT) [--json] */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "nnquant/export.h"
#include "nnquant/qdq.h"

/* numpy writes float64 by default: accept it for the float input. */
static int load_golden(const char *path, nq_tensor *t)
{
    nq_error err = {0};
    if (nq_npy_load(path, t, &err) != NQ_OK) return nq_cli_fail(&err);
    if (t->dtype == NQ_DTYPE_FLOAT64) {
        nq_tensor f = {0};
        if (nq_tensor_alloc(&f, NQ_DTYPE_FLOAT32, t->ndim, t->dims, &err) != NQ_OK)
            return nq_cli_fail(&err);
        for (int64_t i = 0; i < nq_tensor_numel(t); i++)
            ((float *)f.data)[i] = (float)((const double *)t->data)[i];
        nq_tensor_free(t);
        *t = f;
    }
    return NQ_EXIT_OK;
}

static int export_c(const char *model, const nq_graph *g, const char *dir, const char *golden,
                    int json)
{
    nq_export_c_opts o;
    nq_export_c_opts_default(&o);
    nq_tensor gin = {0};
    if (golden) {
        int rc = load_golden(golden, &gin);
        if (rc) return rc;
        o.golden_in = &gin;
    }
    nq_export_c_info info;
    nq_deploy_stats ds;
    nq_error err = {0};
    nq_status st = nq_export_c(g, dir, &o, &info, &err);
    if (st == NQ_OK) st = nq_deploy_stats_compute(g, &ds, &err);
    nq_tensor_free(&gin);
    if (st != NQ_OK) return nq_cli_fail(&err);
    fprintf(stderr,
            "nnquant: exported %s to %s/: %d layers, %d kernels, %lld golden vector(s)%s\n"
            "  arena (static RAM): %zu bytes\n"
            "  const data: %zu bytes, code: ~%zu bytes (estimate), flash ~%zu bytes\n"
            "  MACs per inference: %lld\n"
            "  check: make -C %s check\n",
            model, dir, info.n_layers, info.n_kernels, (long long)info.n_golden,
            golden ? "" : " (synthesized: see --help)", info.arena_bytes, info.weight_bytes,
            ds.code_bytes, ds.flash_bytes, (long long)info.macs, dir);
    if (json) {
        printf("{\"model\": ");
        nq_cli_json_string(stdout, model);
        printf(", \"format\": \"c\", \"dir\": ");
        nq_cli_json_string(stdout, dir);
        printf(", \"arena_bytes\": %zu, \"weight_bytes\": %zu, \"code_bytes_estimate\": %zu, "
               "\"flash_bytes_estimate\": %zu, \"macs\": %lld, \"layers\": %d, \"kernels\": %d, "
               "\"golden_vectors\": %lld, \"float_free\": %s, \"files\": [",
               info.arena_bytes, info.weight_bytes, ds.code_bytes, ds.flash_bytes,
               (long long)info.macs, info.n_layers, info.n_kernels, (long long)info.n_golden,
               info.float_free ? "true" : "false");
        static const char *const files[] = {
            "Makefile", "model.h", "model.c", "kernels.c", "kernels.h", "nqrt.h",
            "nq_requant_core.h", "weights.c", "weights.h", "model_float.c", "model_float.h",
            "golden.c", "golden.h", "test_main.c", "golden_in.npy", "golden_out.npy"};
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", dir, files[i]);
            printf("%s", i ? ", " : "");
            nq_cli_json_string(stdout, path);
        }
        printf("]}\n");
    }
    nq_deploy_stats_free(&ds);
    return NQ_EXIT_OK;
}

static int export_qdq(const char *model, const nq_graph *g, const char *out, int json)
{
    nq_error err = {0};
    if (nq_export_qdq(g, out, &err) != NQ_OK) return nq_cli_fail(&err);
    fprintf(stderr, "nnquant: exported %s as QDQ ONNX to %s\n", model, out);
    if (json) {
        printf("{\"model\": ");
        nq_cli_json_string(stdout, model);
        printf(", \"format\": \"onnx-qdq\", \"output\": ");
        nq_cli_json_string(stdout, out);
        printf("}\n");
    }
    return NQ_EXIT_OK;
}

int nq_cli_export(int argc, char **argv)
{
    const char *c_dir = NULL, *golden = NULL, *qdq = NULL;
    int json = 0;
    const nq_opt opts[] = {
        {"--c", NQ_OPT_STRING, &c_dir, "DIR", "write a standalone C99 project into DIR"},
        {"--golden", NQ_OPT_STRING, &golden, "X.npy",
         "golden inputs for --c: float32/float64 samples [N, ...] (default: 4 synthesized)"},
        {"--onnx-qdq", NQ_OPT_STRING, &qdq, "OUT", "write standard QDQ ONNX (QuantizeLinear/DequantizeLinear)"},
        {"--json", NQ_OPT_FLAG, &json, NULL, "print one JSON object on stdout (sizes, arena, paths)"},
    };
    const char *pos[1];
    nq_cmd_spec spec = {
        "nnquant export QUANT (--c DIR [--golden X.npy] | --onnx-qdq OUT) [--json]",
        "Exports a quantized model (from nnquant quantize; true integers).\n\n"
        "--c DIR writes a self-contained C99 project (docs/export.md): model.h (API),\n"
        "model.c, kernels.c, weights.c (int4 packed two per byte), a Makefile and the\n"
        "golden vectors. model_run() takes the integer input (the input quantizer's\n"
        "output) and writes the integer outputs; one static activation arena (size\n"
        "printed), no malloc; model.c, kernels.c and weights.c use no floating point\n"
        "(model_float.c holds the optional float wrappers). `make -C DIR check` runs\n"
        "the model on the golden vectors and exits 0 only if every output is bit-exact.\n"
        "Golden vectors: the samples of --golden X.npy, or by default 4 inputs\n"
        "synthesized deterministically (uniform in the float range the input quantizer\n"
        "represents, fixed seed); their outputs come from nnquant's runtime (as\n"
        "`nnquant run`). DIR/golden_in.npy and DIR/golden_out.npy hold them as .npy.\n\n"
        "--onnx-qdq OUT writes the standard QuantizeLinear/DequantizeLinear form.\n"
        "Progress and a summary go to stderr.",
        1, pos, opts, sizeof opts / sizeof opts[0],
        "example:\n  nnquant export q.onnx --c q_c --golden x.npy && make -C q_c check"};
    int r = nq_args_parse(&spec, argc, argv);
    if (r) return r < 0 ? NQ_EXIT_OK : NQ_EXIT_USAGE;
    if ((c_dir != NULL) == (qdq != NULL)) {
        fprintf(stderr, "nnquant: export needs exactly one of --c DIR and --onnx-qdq OUT\n"
                        "usage: %s\n(see --help)\n", spec.usage);
        return NQ_EXIT_USAGE;
    }
    if (golden != NULL && c_dir == NULL) {
        fprintf(stderr, "nnquant: --golden goes with --c\nusage: %s\n(see --help)\n", spec.usage);
        return NQ_EXIT_USAGE;
    }
    nq_graph *g = nq_cli_load_model(pos[0]);
    if (g == NULL) return NQ_EXIT_ERROR;
    int rc = c_dir ? export_c(pos[0], g, c_dir, golden, json) : export_qdq(pos[0], g, qdq, json);
    nq_graph_free(g);
    return rc;
}
