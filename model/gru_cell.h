/* The paper's GRU cell (reset before the recurrent product) around the
 * recurrent GEMMs, forward and backward, with the padding mask:
 *   r  = sigma(a_r + U_r h)        z = sigma(a_z + U_z h)
 *   h~ = tanh(a_h + U_h (r * h))   h' = (1 - z) h + z h~
 *   masked (t >= len[b]): h' = h
 * One time step for a batch of B rows of n units. `a` [B, 3n] is the input
 * projection W x + b (gate order r, z, h~); `gates` [B, 3n] keeps r, z, h~
 * for the backward pass. A forward step is
 *   GEMM hu_rz = h U[0:2n]^T ; fwd_a ; GEMM hu_h = rh U[2n:3n]^T ; fwd_b. */
#ifndef VKNMT_GRU_CELL_H
#define VKNMT_GRU_CELL_H

#include <stdbool.h>

#include "vknmt_runtime.h"

typedef struct vknmt_gru_step {
    uint32_t batch, n;
    uint32_t t;          /* time index compared with lengths[b] for the mask */
    vknmt_ref lengths;   /* uint32 [batch] */
} vknmt_gru_step;

/* gates[:, 0:2n] = sigma(a[:, 0:2n] + hu_rz); rh = r * h.
 * a [B,3n], hu_rz [B,2n], h [B,n] -> gates [B,3n] (r, z), rh [B,n]. */
vknmt_status vknmt_gru_fwd_a(vknmt_seq *seq, const vknmt_gru_step *st, vknmt_ref a, vknmt_ref hu_rz, vknmt_ref h,
                             vknmt_ref gates, vknmt_ref rh);

/* gates[:, 2n:3n] = h~ = tanh(a[:, 2n:3n] + hu_h); h_new = masked (1-z) h + z h~.
 * a [B,3n], hu_h [B,n], gates [B,3n], h [B,n] -> gates (h~), h_new [B,n]. */
vknmt_status vknmt_gru_fwd_b(vknmt_seq *seq, const vknmt_gru_step *st, vknmt_ref a, vknmt_ref hu_h,
                             vknmt_ref gates, vknmt_ref h, vknmt_ref h_new);

/* The whole forward step for a few rows (decoding one sentence) in two
 * dispatches instead of four: each recurrent product with the cell's
 * arithmetic as its epilogue (shaders/gru_rows.comp), the same bits as the
 * GEMM + fwd_a + GEMM + fwd_b path. U [3n, n]; writes gates, rh, h_new.
 * count 2: two independent steps of the same batch, n and lengths (the
 * encoder's directions, t differing) in the same two dispatches; each of
 * their tensors (U, a, h, ...) in one buffer for both.
 * On devices or shapes it does not serve (not a CPU device, over 12 rows,
 * n or a tensor off a quad) it records nothing and leaves *ran false. */
typedef struct vknmt_gru_rows_step {
    vknmt_gru_step st;
    vknmt_ref U, a, h, gates, rh, h_new;
    /* U is in the few-rows GEMM's panels as vknmt_gru_u_panels lays it out
     * (a fetch reads adjacent memory): then refused, VKNMT_ERR_UNSUPPORTED,
     * where the few-rows kernels do not serve. The same bits. */
    bool u_panels;
} vknmt_gru_rows_step;
vknmt_status vknmt_gru_rows_forward(vknmt_seq *seq, uint32_t count, const vknmt_gru_rows_step *steps, bool *ran);

/* U [3n, n] in two sets of the few-rows GEMM's panels (vknmt_panel_rows):
 * rows 0..2n-1 (r and z), then rows 2n..3n-1 (the candidate), as each of
 * the step's two dispatches reads its rows. vknmt_gru_u_panel_floats: the
 * floats they take (0 where there are no panels). */
uint64_t vknmt_gru_u_panel_floats(const vknmt_context *ctx, uint32_t n);
vknmt_status vknmt_gru_u_panels(vknmt_seq *seq, vknmt_ref U, uint32_t n, vknmt_ref panels);

/* One such step (decoding) that also makes its input projection in the
 * same two dispatches: a = x W^T + add + bias, x [batch, k] (rows ldx
 * apart, 0: k), W [3n, k] (ldw, 0: k), bias [3n], add [batch, 3n] (ld_add,
 * 0: 3n), the bits of vknmt_gemm_sum of x W^T with beta 1 on add (c_in)
 * and the bias; step->a is not read. With w.buf NULL, x holds x W^T itself
 * ([batch, 3n], rows ldx apart; k unused): read instead of computed.
 * Where it does not serve (as above, or x, W off quads) it records nothing. */
typedef struct vknmt_gru_proj {
    vknmt_ref x, w, bias, add;
    uint32_t k, ldx, ldw, ld_add;
} vknmt_gru_proj;
vknmt_status vknmt_gru_rows_forward_proj(vknmt_seq *seq, const vknmt_gru_rows_step *step, const vknmt_gru_proj *proj,
                                         bool *ran);

/* A GRU over a whole sequence for a few rows (encoding one sentence) in one
 * dispatch (shaders/gru_seq.comp): the steps of vknmt_gru_rows_forward one
 * after another, the same bits, without a dispatch pair per position.
 * A direction runs `steps` positions t = 0 .. steps - 1 (reverse: steps - 1
 * down to 0) of st.batch rows (st.t unused): a and gates [steps * batch, 3n]
 * and rh [steps * batch, n] at position t's rows, hs [(steps + 1) * batch, n]
 * the states: forward reads slot t and writes t + 1, reverse reads t + 1
 * and writes t; slot 0 (reverse: slot steps) holds h_0. count 2: both
 * directions at once, each of their tensors in one buffer for both. Where
 * it does not serve (as vknmt_gru_rows_forward, or the state of every row
 * over the device's shared memory) it records nothing, *ran false. */
typedef struct vknmt_gru_rows_dir {
    vknmt_gru_step st;
    uint32_t steps;
    bool reverse;
    vknmt_ref U, a, hs, gates, rh;
} vknmt_gru_rows_dir;
vknmt_status vknmt_gru_rows_sequence(vknmt_seq *seq, uint32_t count, const vknmt_gru_rows_dir *dirs, bool *ran);

/* From dh_new [B,n] (the whole gradient reaching h'), gates, h:
 * da[:, n:2n] = dz * z(1-z), da[:, 2n:3n] = dh~ * (1 - h~^2) with
 * dh~ = dh_new z, dz = dh_new (h~ - h); dh = dh_new (1 - z) (direct path);
 * masked rows: da = 0, dh = dh_new. da [B,3n] (r part written by bwd_b). */
vknmt_status vknmt_gru_bwd_a(vknmt_seq *seq, const vknmt_gru_step *st, vknmt_ref dh_new, vknmt_ref gates,
                             vknmt_ref h, vknmt_ref da, vknmt_ref dh);

/* With d_rh [B,n] = da[:, 2n:3n] U_h (a GEMM): da[:, 0:n] = d_rh * h * r(1-r),
 * dh += d_rh * r; masked rows: da[:, 0:n] = 0, dh unchanged. Then the caller
 * adds da[:, 0:2n] U[0:2n] into dh with a GEMM (beta = 1). */
vknmt_status vknmt_gru_bwd_b(vknmt_seq *seq, const vknmt_gru_step *st, vknmt_ref d_rh, vknmt_ref gates,
                             vknmt_ref h, vknmt_ref da, vknmt_ref dh);

#endif
