/* RNNsearch (and RNNencdec) on the device: parameters, one training batch's
 * loss and exact gradient, recorded as one submission. */
#ifndef VKNMT_RNNSEARCH_H
#define VKNMT_RNNSEARCH_H

#include <stdbool.h>

#include "config.h"
#include "params.h"
#include "vknmt_runtime.h"

typedef struct vknmt_model vknmt_model;

/* A batch as the reference tools write it: batch-major, right-padded with
 * 0; tgt ends with </s> (3) and has no <s>; lengths >= 1 count </s>. */
typedef struct vknmt_batch {
    uint32_t batch, tx, ty;
    const int32_t *src;     /* [batch, tx] */
    const int32_t *src_len; /* [batch] */
    const int32_t *tgt;     /* [batch, ty] */
    const int32_t *tgt_len; /* [batch] */
} vknmt_batch;

typedef struct vknmt_loss {
    double loss;   /* mean over sentences of the summed token NLL */
    double ce;     /* per target token */
    uint32_t ntok; /* target tokens, </s> included */
} vknmt_loss;

vknmt_status vknmt_model_create(vknmt_context *ctx, const vknmt_model_config *cfg, vknmt_model **out);
void vknmt_model_destroy(vknmt_model *model);
const vknmt_model_config *vknmt_model_config_get(const vknmt_model *model);
const vknmt_param_layout *vknmt_model_layout(const vknmt_model *model);

/* The flat parameter buffer (vknmt_param_layout order) to and from the host. */
vknmt_status vknmt_model_params_upload(vknmt_model *model, const float *flat);
vknmt_status vknmt_model_params_download(vknmt_model *model, float *flat);
vknmt_status vknmt_model_grads_download(vknmt_model *model, float *flat);

/* Loss of the batch and, with `backward`, the gradient of the loss in the
 * device's gradient buffer: forward and backward in one submission; the
 * host reads back the loss alone. */
vknmt_status vknmt_model_loss(vknmt_model *model, const vknmt_batch *batch, bool backward, vknmt_loss *out);

#include "optim.h"

typedef struct vknmt_train_options {
    vknmt_optim_kind optimizer; /* VKNMT_ADADELTA (paper) or VKNMT_ADAM */
    float clip;                 /* global gradient norm (paper: 1) */
    float rho, eps;             /* Adadelta (paper: 0.95, 1e-6) */
    float lr, beta1, beta2;     /* Adam */
    float adam_eps;             /* Adam's own (Kingma & Ba: 1e-8); clipped gradients of
                                   millions of weights are far below Adadelta's 1e-6 */
    float dropout;              /* 0 <= P < 1 (paper: 0, none). Inverted dropout on the
                                   deep output t_i (maxout), or on the linear readout's
                                   input [s_i; c_i; E y_{i-1}], in training steps only */
    uint32_t dropout_seed;      /* the masks are a function of (seed, update number, index) */
} vknmt_train_options;

/* The paper's settings: Adadelta rho 0.95, eps 1e-6, clip 1, no dropout
 * (Adam: lr 1e-3, betas 0.9 and 0.999, eps 1e-8). */
vknmt_train_options vknmt_train_defaults(void);

typedef struct vknmt_step_result {
    vknmt_loss loss;
    double grad_norm; /* before clipping */
    bool skipped;     /* the gradient was not finite: no update */
} vknmt_step_result;

/* One training step: loss, gradient, global-norm clipping and the
 * optimiser's update, all recorded into one submission; the host reads
 * back the loss, the norm and whether the step was skipped. */
vknmt_status vknmt_model_train_step(vknmt_model *model, const vknmt_batch *batch, const vknmt_train_options *opt,
                                    vknmt_step_result *out);
/* Optimiser state (two flat buffers of the parameters' layout) and the
 * number of updates made, for checkpoints that resume exactly. */
uint64_t vknmt_model_updates(const vknmt_model *model);
vknmt_status vknmt_model_optim_download(vknmt_model *model, float *state1, float *state2);
vknmt_status vknmt_model_optim_upload(vknmt_model *model, const float *state1, const float *state2,
                                      uint64_t updates);

/* The attention weights of the last loss computation: alpha[(i * B + b) * Tx + j]
 * for output word i of sentence b and source word j (additive attention). */
vknmt_status vknmt_model_alignment_download(vknmt_model *model, float *alpha);

/* One decoded sentence. */
typedef struct vknmt_translation {
    uint32_t len;     /* output tokens, the final </s> included when it ended */
    int32_t *tokens;  /* owned, [len] */
    double logprob;   /* summed log-probability of the tokens */
    uint32_t src_len;
    float *alpha;     /* owned, [len, src_len]: row i is the attention used for token i
                       * (zeros for RNNencdec) */
} vknmt_translation;

/* Greedy decoding of a batch of sources (batch-major [batch, tx], padded
 * with 0; lengths count the final </s>): each sentence stops at </s> or at
 * its length limit, max_len[k] tokens (max_len NULL or max_len[k] 0: the
 * paper's 2 * src_len + 10). `out` has `batch` entries; free each with
 * vknmt_translation_free. */
vknmt_status vknmt_model_greedy(vknmt_model *model, uint32_t batch, uint32_t tx, const int32_t *src,
                                const int32_t *src_len, const uint32_t *max_len, vknmt_translation *out);
void vknmt_translation_free(vknmt_translation *t);

/* The paper's length limit of a sentence's output: 2 * src_len + 10 tokens
 * (src_len counting the final </s>); decoding's default. */
static inline uint32_t vknmt_default_max_len(uint32_t src_len) { return 2u * src_len + 10u; }

/* How many hypotheses (sentences x beam) one decoding call takes: the
 * logits of that many rows exist at once. */
uint32_t vknmt_model_max_decode_rows(const vknmt_model *model);

/* Beam search with `beam` hypotheses per sentence (1 .. 16; the paper: 12)
 * over a batch, GroundHog's rules (shared/spec/rnnsearch.md): an ended
 * hypothesis leaves the beam, which shrinks; a sentence stops when `beam`
 * have ended or at its length limit (max_len). The winner has the highest
 * summed log-probability, or with length_alpha > 0 the highest
 * logprob / len^alpha. */
typedef struct vknmt_beam_options {
    uint32_t beam;      /* 1 .. 16; the paper: 12 */
    float length_alpha; /* 0: summed log-probability; else divided by len^alpha */
    bool no_unk;        /* never emit <unk> (the paper's "no UNK" decoding), unless
                         * then no hypothesis of a sentence ends */
    uint32_t nbest;     /* 0 or 1: the winner; N <= beam: the N best ended
                         * hypotheses, best first, in out[b * N + r] (len 0 if
                         * fewer ended) */
    bool exhaustive;    /* run every sentence until `beam` hypotheses have ended
                         * (or its length limit). Otherwise, without length
                         * normalisation, a sentence stops as soon as its N-th
                         * best ended hypothesis scores above every live one:
                         * the same N best, since words only lower a score */
    const uint32_t *max_len; /* per sentence, the most words (live hypotheses then
                              * join the ended); NULL or 0: 2 * src_len + 10 */
} vknmt_beam_options;
vknmt_status vknmt_model_beam(vknmt_model *model, uint32_t batch, uint32_t tx, const int32_t *src,
                              const int32_t *src_len, const vknmt_beam_options *opt, vknmt_translation *out);

/* Dispatches and barriers of the last vknmt_model_loss, or of the last
 * decoding call's steps (greedy, beam). */
vknmt_seq_stats vknmt_model_last_stats(const vknmt_model *model);

#endif
