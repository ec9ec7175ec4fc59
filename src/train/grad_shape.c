/* Backward of the operators that only move or relabel data without
 * changing the element order: Flatten, Reshape, Squeeze, Unsqueeze,
 * Identity, Dropout (inference behaviour: identity; no random dropping in
 * training). The gradient passes through unchanged. */
#include "train/grad_internal.h"

const nq_grad_def nq_grad_Flatten = {.backward = nq_grad_pass_through};
const nq_grad_def nq_grad_Reshape = {.backward = nq_grad_pass_through, .no_grad = 1u << 1};
const nq_grad_def nq_grad_Squeeze = {.backward = nq_grad_pass_through, .no_grad = 1u << 1};
const nq_grad_def nq_grad_Unsqueeze = {.backward = nq_grad_pass_through, .no_grad = 1u << 1};
const nq_grad_def nq_grad_Identity = {.backward = nq_grad_pass_through};
const nq_grad_def nq_grad_Dropout = {.backward = nq_grad_pass_through,
                                     .no_grad = (1u << 1) | (1u << 2)};
