/* Additive attention for one decoder step, over a batch, and the
 * RNNencdec fixed context. Layouts are time-major: H [Tx, B, 2n] holds the
 * annotations h_j = [fwd_j; bwd_j], UH [Tx, B, na] = att.U h_j + att.b
 * (computed once per batch), Ws [B, na] = att.W s_{i-1}. src_len uint32 [B]
 * (>= 1); positions j >= src_len[b] get weight 0. */
#ifndef VKNMT_ATTENTION_H
#define VKNMT_ATTENTION_H

#include "vknmt_runtime.h"

typedef struct vknmt_att_shape {
    uint32_t batch, tx, na, ctx_dim; /* ctx_dim = 2n */
    uint32_t src_batch;              /* forward only: columns S of H and UH with a column map; 0: none */
} vknmt_att_shape;

/* e[b,j] = v . tanh(Ws[b] + UH[j,c]); alpha[b,:] = masked softmax_j(e[b,:]);
 * ctx[b] = sum_j alpha[b,j] H[j,c]. alpha [B, Tx], ctx [B, 2n]. The column
 * c is b, or with src_batch S > 0 src_col[b] (uint32 [B], each < S) of H
 * [Tx, S, 2n] and UH [Tx, S, na]: beam search's hypotheses of one sentence
 * attend over its one copy of the annotations. src_col.buf is NULL exactly
 * when src_batch is 0. */
vknmt_status vknmt_att_forward(vknmt_seq *seq, const vknmt_att_shape *sh, vknmt_ref ws, vknmt_ref uh, vknmt_ref v,
                               vknmt_ref h, vknmt_ref src_len, vknmt_ref src_col, vknmt_ref alpha, vknmt_ref ctx);

/* Backward of vknmt_att_forward's scores given dctx [B, 2n] and its alpha:
 * dws [B, na] = d(Ws) (written), duh [Tx, B, na] += d(UH), dv_part [B, na] =
 * each row's share of d(v) (written; the caller sums rows over steps and
 * batch); de [B, Tx] is scratch (the scores' gradient, left there).
 * tanh(Ws + UH) is recomputed, not stored. Two dispatches (eleven buffers
 * are more than one kernel may bind). The scores reach H only through UH
 * (the caller adds duh att.U into dH once for all steps); the weighted
 * sum's own path is vknmt_att_backward_context's. */
vknmt_status vknmt_att_backward(vknmt_seq *seq, const vknmt_att_shape *sh, vknmt_ref ws, vknmt_ref uh, vknmt_ref v,
                                vknmt_ref h, vknmt_ref src_len, vknmt_ref alpha, vknmt_ref dctx, vknmt_ref de,
                                vknmt_ref dws, vknmt_ref duh, vknmt_ref dv_part);

/* The weighted sum's path to the annotations over `steps` decoder steps:
 * dh[j, b, :] += sum_i alpha[i, b, j] dctx[i, b, :], with alpha [steps, B,
 * Tx] (zero past each source length, as the forward writes it), dctx
 * [steps, B, dim] and dh [Tx, B, dim]: per batch row a GEMM alpha_b^T dctx_b
 * (Tx x dim x steps), the B of them one batched dispatch, instead of a
 * read-modify-write of all of dh every step (on lavapipe that was 7 % of a
 * training step). */
vknmt_status vknmt_att_backward_context(vknmt_seq *seq, uint32_t batch, uint32_t tx, uint32_t steps, uint32_t dim,
                                        vknmt_ref alpha, vknmt_ref dctx, vknmt_ref dh);

/* RNNencdec: ctx[b] = [fwd state at j = src_len[b]-1 ; bwd state at j = 0],
 * i.e. H[len-1, b, 0:n] and H[0, b, n:2n]. ctx [B, 2n]. */
vknmt_status vknmt_encdec_context(vknmt_seq *seq, uint32_t batch, uint32_t tx, uint32_t n, vknmt_ref h,
                                  vknmt_ref src_len, vknmt_ref ctx);
/* dh[len-1, b, 0:n] += dctx[b, 0:n]; dh[0, b, n:2n] += dctx[b, n:2n]. */
vknmt_status vknmt_encdec_context_backward(vknmt_seq *seq, uint32_t batch, uint32_t tx, uint32_t n,
                                           vknmt_ref dctx, vknmt_ref src_len, vknmt_ref dh);

#endif
