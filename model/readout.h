/* The deep output's maxout, the output layer's log-softmax with
 * cross-entropy, and tanh's backward. */
#ifndef VKNMT_READOUT_H
#define VKNMT_READOUT_H

#include "vknmt_runtime.h"

/* t[r, k] = max(tt[r, 2k], tt[r, 2k+1]) for k < l; tt [rows, 2l], t [rows, l]. */
vknmt_status vknmt_maxout_forward(vknmt_seq *seq, uint32_t rows, uint32_t l, vknmt_ref tt, vknmt_ref t);
/* dtt[r, 2k] = dt[r, k] if tt[r, 2k] >= tt[r, 2k+1] else 0, and the other
 * of the pair gets the rest (ties go to the first). dtt written whole. */
vknmt_status vknmt_maxout_backward(vknmt_seq *seq, uint32_t rows, uint32_t l, vknmt_ref tt, vknmt_ref dt,
                                   vknmt_ref dtt);

/* For each row r of logits [rows, vocab], rows ld >= vocab floats apart
 * (already including the bias):
 * nll[r] = logsumexp(logits[r]) - logits[r, target[r]], times weight[r];
 * then, in place, logits[r, :] = weight[r] * (softmax(logits[r]) - onehot(target[r])),
 * the gradient of weight[r] * nll. target int32 [rows], weight float [rows]
 * (0 for padding: its row becomes all zeros and its nll 0). nll [rows].
 * The ld - vocab columns after each row become 0. */
vknmt_status vknmt_logsoftmax_xent(vknmt_seq *seq, uint32_t rows, uint32_t vocab, uint32_t ld, vknmt_ref logits,
                                   vknmt_ref target, vknmt_ref weight, vknmt_ref nll);

/* dx[i] = dy[i] * (1 - y[i]^2) for i < n, where y = tanh(x). */
vknmt_status vknmt_tanh_backward(vknmt_seq *seq, uint64_t n, vknmt_ref y, vknmt_ref dy, vknmt_ref dx);

#endif
