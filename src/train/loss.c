/* Softmax cross-entropy, fused and numerically stable:
 *   loss = mean_n ( log(sum_k exp(z_nk - m_n)) + m_n - z_n,y_n ),  m_n = max_k z_nk
 *   dloss/dz_nk = (softmax(z_n)_k - [k == y_n]) / N */
#include <math.h>

#include "train/train_internal.h"

nq_status nq_train_xent(const float *logits, int64_t N, int64_t K, const int64_t *labels,
                        float *grad, double *loss, int64_t *correct, nq_error *err)
{
    double total = 0.0;
    int64_t hits = 0;
    const float invn = N > 0 ? 1.0f / (float)N : 0.0f;
    for (int64_t n = 0; n < N; n++) {
        const float *z = logits + n * K;
        float *gz = grad + n * K;
        const int64_t y = labels[n];
        if (y < 0 || y >= K)
            return nq_error_set(err, NQ_ERR_DATA, "label %lld of sample %lld is outside [0, %lld)",
                                (long long)y, (long long)n, (long long)K);
        int64_t best = 0;
        float m = z[0];
        for (int64_t k = 1; k < K; k++)
            if (z[k] > m) m = z[k], best = k;
        if (!isfinite(m))
            return nq_error_set(err, NQ_ERR_DATA, "logits of sample %lld are not finite (loss diverged?)",
                                (long long)n);
        double sum = 0.0;
        for (int64_t k = 0; k < K; k++) {
            const float e = expf(z[k] - m);
            gz[k] = e;
            sum += e;
        }
        const float inv = (float)(1.0 / sum);
        for (int64_t k = 0; k < K; k++) gz[k] = gz[k] * inv * invn;
        gz[y] -= invn;
        total += log(sum) + (double)m - (double)z[y];
        hits += best == y;
    }
    *loss = N > 0 ? total / (double)N : 0.0;
    *correct = hits;
    return NQ_OK;
}
