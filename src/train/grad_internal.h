/* Private to src/train: helpers shared by the backward files. */
#ifndef NQ_TRAIN_GRAD_INTERNAL_H
#define NQ_TRAIN_GRAD_INTERNAL_H

#include "nnquant/grad.h"

/* dout[k] as float data, NULL if absent. */
static inline const float *nq_gd_dout(const nq_gctx *c, int k)
{
    return k < c->n_out && c->dout[k] ? (const float *)c->dout[k]->data : NULL;
}
/* din[i] as float data, NULL if not wanted. */
static inline float *nq_gd_din(const nq_gctx *c, int i)
{
    return i < c->n_in && c->din[i] ? (float *)c->din[i]->data : NULL;
}

/* Broadcast (expand) multiply-add: s has shape (ns, sdims), numpy-
 * broadcastable to (nd, ddims) (nd >= ns). For every element i of d:
 * d[i] += s[j(i)] * scale, where j(i) is the element i reads by broadcast. */
void nq_grad_expand_add(const float *s, int ns, const int64_t *sdims, float scale, float *d,
                        int nd, const int64_t *ddims);

/* Shape-preserving gradient: din[0] += dout[0] (same number of elements). */
nq_status nq_grad_pass_through(nq_gctx *c);

#endif
