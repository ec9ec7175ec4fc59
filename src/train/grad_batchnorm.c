/* BatchNormalization in training mode (float32, per channel: axis 1).
 * Forward (batch statistics over N and the spatial dims, M elements per
 * channel):
 *   mean = sum(x) / M,  var = sum((x - mean)^2) / M   (biased, as ONNX)
 *   y = (x - mean) / sqrt(var + epsilon) * scale + B
 * and the running statistics, inputs 3 and 4, are updated in place with the
 * ONNX momentum (default 0.9; PyTorch's momentum is 1 - this):
 *   running_mean = running_mean * momentum + mean * (1 - momentum)
 *   running_var  = running_var  * momentum + var  * (1 - momentum)
 * Optional outputs 1, 2 receive the updated running mean/var (outputs 3, 4
 * of old opsets: the batch mean and variance). Inference (evaluation after
 * training) uses the running statistics: src/ops/batchnorm.c.
 * Backward, with xh = (x - mean) / sqrt(var + eps), g = dY:
 *   dB = sum(g), dscale = sum(g * xh),
 *   dx = scale / sqrt(var + eps) * (g - dB / M - xh * dscale / M).
 * The running statistics never get a gradient (no_grad inputs 3, 4). */
#include <math.h>
#include <stdlib.h>

#include "train/grad_internal.h"

typedef struct bn_state {
    float *mean, *invstd, *var;
    int64_t cap_mean, cap_invstd, cap_var;
} bn_state;

static void bn_state_free(void *p)
{
    bn_state *s = p;
    if (s == NULL) return;
    free(s->mean);
    free(s->invstd);
    free(s->var);
    free(s);
}

/* Sums in 8 independent partial sums (vectorizable), then in float. */
#define BN_LANES 8
static float sum_f32(const float *x, int64_t n)
{
    float acc[BN_LANES] = {0}, s = 0.0f;
    int64_t i = 0;
    for (; i + BN_LANES <= n; i += BN_LANES)
        for (int k = 0; k < BN_LANES; k++) acc[k] += x[i + k];
    for (; i < n; i++) s += x[i];
    for (int k = 0; k < BN_LANES; k++) s += acc[k];
    return s;
}

/* sum (x - m)^2 */
static float sqdev_f32(const float *x, int64_t n, float m)
{
    float acc[BN_LANES] = {0}, s = 0.0f;
    int64_t i = 0;
    for (; i + BN_LANES <= n; i += BN_LANES)
        for (int k = 0; k < BN_LANES; k++) acc[k] += (x[i + k] - m) * (x[i + k] - m);
    for (; i < n; i++) s += (x[i] - m) * (x[i] - m);
    for (int k = 0; k < BN_LANES; k++) s += acc[k];
    return s;
}

/* sum g * (x - m) */
static float dot_dev_f32(const float *g, const float *x, int64_t n, float m)
{
    float acc[BN_LANES] = {0}, s = 0.0f;
    int64_t i = 0;
    for (; i + BN_LANES <= n; i += BN_LANES)
        for (int k = 0; k < BN_LANES; k++) acc[k] += g[i + k] * (x[i + k] - m);
    for (; i < n; i++) s += g[i] * (x[i] - m);
    for (int k = 0; k < BN_LANES; k++) s += acc[k];
    return s;
}

/* d += k * (g - mg - (x - mean) * mx) (separate arrays: vectorizes). */
static void dx_add(const float *restrict g, const float *restrict x, float *restrict d, int64_t n,
                   float k, float mg, float mean, float mx)
{
    for (int64_t i = 0; i < n; i++) d[i] += k * (g[i] - mg - (x[i] - mean) * mx);
}

static nq_status bn_dims(const nq_gctx *c, int64_t *N, int64_t *C, int64_t *inner)
{
    if (c->n_in < 5) return nq_grad_fail(c, NQ_ERR_INVALID_ARG, "needs 5 inputs");
    const nq_tensor *x = c->in[0];
    if (x->ndim < 2) return nq_grad_fail(c, NQ_ERR_SHAPE, "input rank %d < 2", x->ndim);
    if (c->opset < 9 && nq_node_attr_int(c->node, "spatial", 1) == 0)
        return nq_grad_fail(c, NQ_ERR_UNSUPPORTED, "spatial=0 is not supported in training");
    *N = x->dims[0];
    *C = x->dims[1];
    *inner = nq_plane_size(x);
    for (int i = 0; i < 5; i++)
        if (c->in[i] == NULL || c->in[i]->dtype != NQ_DTYPE_FLOAT32 ||
            (i > 0 && nq_tensor_numel(c->in[i]) != *C))
            return nq_grad_fail(c, NQ_ERR_SHAPE, "input %d must be float32 with %lld values", i,
                                (long long)*C);
    return NQ_OK;
}

static nq_status bn_forward_train(nq_gctx *c)
{
    int64_t N, C, inner;
    nq_status st = bn_dims(c, &N, &C, &inner);
    if (st) return st;
    bn_state *s = *c->state;
    if (s == NULL && (s = *c->state = calloc(1, sizeof *s)) == NULL)
        return nq_grad_fail(c, NQ_ERR_NOMEM, "out of memory");
    if ((st = nq_grad_reserve(c, &s->mean, &s->cap_mean, C)) ||
        (st = nq_grad_reserve(c, &s->invstd, &s->cap_invstd, C)) ||
        (st = nq_grad_reserve(c, &s->var, &s->cap_var, C)))
        return st;
    const float *x = c->in[0]->data, *scale = c->in[1]->data, *bias = c->in[2]->data;
    float *rmean = c->in[3]->data, *rvar = c->in[4]->data, *y = c->out[0]->data;
    const double eps = nq_node_attr_float(c->node, "epsilon", 1e-5f);
    const float mom = nq_node_attr_float(c->node, "momentum", 0.9f);
    const double M = (double)(N * inner);
    if (M <= 0) return nq_grad_fail(c, NQ_ERR_SHAPE, "empty batch");
    for (int64_t ch = 0; ch < C; ch++) {
        double sum = 0.0;
        for (int64_t n = 0; n < N; n++) sum += sum_f32(x + (n * C + ch) * inner, inner);
        const float mean = (float)(sum / M);
        double sq = 0.0;
        for (int64_t n = 0; n < N; n++) sq += sqdev_f32(x + (n * C + ch) * inner, inner, mean);
        const double var = sq / M;
        const float invstd = (float)(1.0 / sqrt(var + eps));
        s->mean[ch] = mean;
        s->var[ch] = (float)var;
        s->invstd[ch] = invstd;
        const float a = invstd * scale[ch], b = bias[ch] - mean * a;
        for (int64_t n = 0; n < N; n++) {
            const float *xp = x + (n * C + ch) * inner;
            float *yp = y + (n * C + ch) * inner;
            for (int64_t i = 0; i < inner; i++) yp[i] = xp[i] * a + b;
        }
        rmean[ch] = rmean[ch] * mom + mean * (1.0f - mom);
        rvar[ch] = rvar[ch] * mom + (float)var * (1.0f - mom);
    }
    const float *extra[5] = {NULL, rmean, rvar, s->mean, s->var};
    for (int k = 1; k < c->n_out && k < 5; k++)
        if (c->out[k] && nq_tensor_numel(c->out[k]) == C)
            for (int64_t ch = 0; ch < C; ch++) ((float *)c->out[k]->data)[ch] = extra[k][ch];
    return NQ_OK;
}

static nq_status bn_backward(nq_gctx *c)
{
    const float *g = nq_gd_dout(c, 0);
    if (g == NULL) return NQ_OK;
    int64_t N, C, inner;
    nq_status st = bn_dims(c, &N, &C, &inner);
    if (st) return st;
    const bn_state *s = *c->state;
    if (s == NULL || s->cap_mean < C)
        return nq_grad_fail(c, NQ_ERR_INTERNAL, "backward without a training forward");
    const float *x = c->in[0]->data, *scale = c->in[1]->data;
    float *dx = nq_gd_din(c, 0), *dscale = nq_gd_din(c, 1), *dbias = nq_gd_din(c, 2);
    const float M = (float)(N * inner);
    for (int64_t ch = 0; ch < C; ch++) {
        const float mean = s->mean[ch], invstd = s->invstd[ch];
        double sg = 0.0, sgx = 0.0;
        for (int64_t n = 0; n < N; n++) {
            const float *xp = x + (n * C + ch) * inner, *gp = g + (n * C + ch) * inner;
            sg += sum_f32(gp, inner);
            sgx += dot_dev_f32(gp, xp, inner, mean);
        }
        const float db = (float)sg, ds = (float)(sgx * invstd);
        if (dbias) dbias[ch] += db;
        if (dscale) dscale[ch] += ds;
        if (dx == NULL) continue;
        const float k = scale[ch] * invstd, mg = db / M, mx = ds / M * invstd;
        for (int64_t n = 0; n < N; n++) {
            const int64_t off = (n * C + ch) * inner;
            dx_add(g + off, x + off, dx + off, inner, k, mg, mean, mx);
        }
    }
    return NQ_OK;
}

const nq_grad_def nq_grad_BatchNormalization = {.forward_train = bn_forward_train,
                                                .backward = bn_backward,
                                                .state_free = bn_state_free,
                                                .no_grad = (1u << 3) | (1u << 4)};
