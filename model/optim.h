/* Optimisers over one flat parameter buffer, with global-norm clipping
 * decided on the device: the host never reads the gradient. */
#ifndef VKNMT_OPTIM_H
#define VKNMT_OPTIM_H

#include "vknmt_runtime.h"

typedef enum vknmt_optim_kind { VKNMT_ADADELTA = 0, VKNMT_ADAM = 1 } vknmt_optim_kind;

typedef struct vknmt_optim_args {
    vknmt_optim_kind kind;
    uint64_t n;          /* parameters */
    vknmt_ref param, grad;
    vknmt_ref state1, state2; /* Adadelta: E[g^2], E[d^2]; Adam: m, v (n floats each) */
    vknmt_ref norm;      /* one float: the gradient's global L2 norm (vknmt_norm2) */
    vknmt_ref skipped;   /* one float, +1 when the norm is not finite and nothing is updated */
    float clip;          /* g <- g * clip / norm when norm > clip (paper: 1) */
    float rho, eps;      /* Adadelta: 0.95, 1e-6 */
    float lr, beta1, beta2; /* Adam (eps shared) */
    uint32_t step;       /* Adam: 1-based step for bias correction */
} vknmt_optim_args;

/* One update of every parameter. Works on buffers larger than the device's
 * storage range by windows. Adadelta (the paper, lr 1):
 *   E[g2] = rho E[g2] + (1-rho) g^2; d = -sqrt(E[d2]+eps)/sqrt(E[g2]+eps) g;
 *   E[d2] = rho E[d2] + (1-rho) d^2; x += d.
 * A non-finite norm leaves params and state untouched and adds 1 to skipped. */
vknmt_status vknmt_optim_step(vknmt_seq *seq, const vknmt_optim_args *a);

#endif
