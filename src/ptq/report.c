/* The quantizability report: what PTQ does with every node. */
#include <string.h>

#include "ptq/ptq_internal.h"

static const char *const support_names[] = {
    [NQ_PTQ_SUPPORT_INTEGER] = "integer",
    [NQ_PTQ_SUPPORT_FOLDED] = "folded",
    [NQ_PTQ_SUPPORT_REWRITTEN] = "rewritten",
    [NQ_PTQ_SUPPORT_NONE] = "unsupported",
    [NQ_PTQ_SUPPORT_FLOAT] = "float",
};

const char *nq_ptq_support_name(nq_ptq_support s)
{
    return (unsigned)s < sizeof support_names / sizeof support_names[0] ? support_names[s] : "?";
}

static const struct {
    nq_ptq_kind kind;
    nq_ptq_support support;
    const char *note;
} kind_notes[] = {
    {NQ_PTQ_AFFINE, NQ_PTQ_SUPPORT_INTEGER, "integer weights and bias, int32 accumulator, then a scaling node"},
    {NQ_PTQ_SUM, NQ_PTQ_SUPPORT_INTEGER, "integer sum, then a scaling node"},
    {NQ_PTQ_JOIN, NQ_PTQ_SUPPORT_INTEGER, "branches rescaled to a common scale (maximum), then a scaling node"},
    {NQ_PTQ_PASS, NQ_PTQ_SUPPORT_INTEGER, "runs on integers unchanged"},
    {NQ_PTQ_CLIP, NQ_PTQ_SUPPORT_INTEGER, "bounds rescaled to the integer domain"},
    {NQ_PTQ_QUANTIZER, NQ_PTQ_SUPPORT_INTEGER, "already a quantizer"},
    {NQ_PTQ_FLOAT, NQ_PTQ_SUPPORT_FLOAT,
     "no integer form: runs in float, its input dequantized, its output quantized again where integer nodes read it"},
};

static const struct {
    const char *op;
    nq_ptq_support support;
    const char *note;
} prepared[] = {
    {"BatchNormalization", NQ_PTQ_SUPPORT_FOLDED, "folded into the preceding Conv/Gemm"},
    {"Identity", NQ_PTQ_SUPPORT_FOLDED, "removed"},
    {"Dropout", NQ_PTQ_SUPPORT_FOLDED, "removed (inference)"},
    {"Constant", NQ_PTQ_SUPPORT_FOLDED, "folded into an initializer"},
    {"GlobalAveragePool", NQ_PTQ_SUPPORT_REWRITTEN, "ReduceSum (integer) + scaling by 1/(H*W)"},
};

int nq_quantizability_report(const nq_graph *g, nq_report_entry *entries)
{
    int bad = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        const nq_node *n = g->nodes[i];
        nq_report_entry *e = &entries[i];
        e->node = n;
        e->support = NQ_PTQ_SUPPORT_NONE;
        e->note = "no integer implementation: PTQ cannot quantize this graph";
        for (size_t k = 0; k < sizeof prepared / sizeof prepared[0]; k++)
            if (strcmp(n->op_type, prepared[k].op) == 0 && (n->domain == NULL || n->domain[0] == '\0')) {
                e->support = prepared[k].support;
                e->note = prepared[k].note;
            }
        nq_ptq_kind kind = nq_ptq_kind_of(n);
        for (size_t k = 0; k < sizeof kind_notes / sizeof kind_notes[0]; k++)
            if (kind_notes[k].kind == kind) {
                e->support = kind_notes[k].support;
                e->note = kind_notes[k].note;
            }
        bad += e->support == NQ_PTQ_SUPPORT_NONE;
    }
    return bad;
}
