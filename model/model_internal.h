/* The device model's state, shared by model.c, forward.c and backward.c. */
#ifndef VKNMT_MODEL_INTERNAL_H
#define VKNMT_MODEL_INTERNAL_H

#include "dropout.h"
#include "rnnsearch.h"

/* Every per-batch tensor, as places in one workspace buffer. Time-major:
 * a [T, B, D] tensor's row t * B + b. "Slots" tensors hold T + 1 states,
 * slot 0 the initial one. */
typedef struct vknmt_ws {
    /* integer inputs */
    vknmt_ref src, tgt_in, tgt_out;        /* int32 [X*B], [Y*B], [Y*B] */
    vknmt_ref src_len, tgt_len;            /* uint32 [B] */
    vknmt_ref src_order, src_starts, src_uniq; /* CSR of src ids */
    vknmt_ref tgt_order, tgt_starts, tgt_uniq; /* CSR of decoder input ids */
    vknmt_ref weight;                      /* [Y*B]: 1/B on real tokens, else 0 */
    vknmt_ref ones;                        /* [max(X,Y)*B] of 1: column sums by GEMM */
    /* encoder */
    vknmt_ref xemb;                        /* [X*B, m] */
    vknmt_ref a[2], gates[2], rh[2];       /* per direction: [X*B, 3n], [X*B, 3n], [X*B, n] */
    vknmt_ref hs[2];                       /* per direction: slots [(X+1)*B, n] */
    vknmt_ref h;                           /* annotations [X*B, 2n] */
    vknmt_ref uh;                          /* [X*B, na] */
    vknmt_ref hu, hu_h;                    /* step scratch [B, 2n], [B, n] */
    /* decoder */
    vknmt_ref ey;                          /* [Y*B, m] */
    vknmt_ref pe;                          /* decoding's rows of the word table [min(Y*B, 12), tw] */
    vknmt_ref adec, gdec, rhdec;           /* [Y*B, 3n], [Y*B, 3n], [Y*B, n] */
    vknmt_ref s;                           /* slots [(Y+1)*B, n] */
    vknmt_ref ws;                          /* [Y*B, na] */
    vknmt_ref alpha;                       /* [Y*B, X] */
    vknmt_ref ctx;                         /* [Y*B, 2n] */
    /* readout */
    vknmt_ref tt, t;                       /* [Y*B, 2l], [Y*B, l] (maxout); linear readout: t
                                            * is its input [Y*B, 3n+m] after dropout, tt unused */
    vknmt_ref logits;                      /* [rows_chunk, Vt], rows vknmt_logits_ld apart in training */
    vknmt_ref nll;                         /* [Y*B] */
    vknmt_ref loss, scratch;               /* [1], reduce scratch */
    /* backward */
    vknmt_ref ds;                          /* slots [(Y+1)*B, n] */
    vknmt_ref dctx, dey, dt, dtt;          /* [Y*B, 2n], [Y*B, m], [Y*B, l], [Y*B, 2l] */
    vknmt_ref dadec, dws, dvp;             /* [Y*B, 3n], [Y*B, na], [Y*B, na] */
    vknmt_ref duh, dh;                     /* [X*B, na], [X*B, 2n] */
    vknmt_ref de;                          /* [B, X]: a step's score gradient */
    vknmt_ref dhs[2], da[2];               /* per direction: [X*B, n], [X*B, 3n] */
    vknmt_ref dxemb;                       /* [X*B, m] */
    vknmt_ref dctx_sum;                    /* [B, 2n]: RNNencdec's context gradient over all steps */
    vknmt_ref tmp, drh, da0;               /* step scratch [B, n] each */
} vknmt_ws;

/* Decoding's weights in the few-rows GEMM's panels: out.W, out.U, dec.U
 * (vknmt_model_panels). */
typedef struct vknmt_weight_panels {
    vknmt_ref w, u, dec_u;
} vknmt_weight_panels;

struct vknmt_model {
    vknmt_context *ctx; /* borrowed */
    vknmt_model_config cfg;
    vknmt_param_layout lay;
    vknmt_buffer *params, *grads; /* owned */
    vknmt_buffer *work;           /* owned, sized for cap_* */
    vknmt_buffer *state1, *state2; /* owned optimiser state, made at the first train step */
    vknmt_buffer *train_stats;    /* owned: [0] grad norm, [1] skipped steps, [2..] norm scratch */
    uint64_t updates;             /* optimiser steps taken (Adam's bias correction) */
    uint64_t skipped_seen;        /* train_stats[1] after the last step */
    vknmt_buffer *dec_work;       /* owned: decoding's tokens, log-probabilities, attention */
    uint64_t dec_cap;             /* its floats */
    uint32_t cap_b, cap_x, cap_y, cap_sr; /* the workspace's shape (layout_ws) */
    uint32_t chunk_rows;          /* rows of logits at a time */
    vknmt_ws w;
    vknmt_seq *seq;               /* owned */
    vknmt_seq_stats last_stats;
    /* the batch being recorded */
    uint32_t b, x, y;
    uint32_t src_uniq_count, tgt_uniq_count; /* distinct ids in the embedding CSRs */
    bool drop_on;                 /* a training step with dropout is being recorded */
    vknmt_dropout_key drop;       /* its readout mask */
    /* owned: decoding's tables (decode_tables.c), made when first used */
    vknmt_buffer *word_table;     /* the word table */
    vknmt_buffer *panels;         /* out.W, out.U and dec.U in the few-rows GEMM's panels */
    vknmt_weight_panels panel_at; /* each one's place in it */
    bool tables_fresh;            /* they hold the current parameters' (those that serve) */
    bool no_tables;               /* tests: decode with the products and out.W instead */
};

/* A parameter's (or its gradient's) place; the name must exist. */
vknmt_ref vknmt_model_param(const vknmt_model *m, const char *name);
vknmt_ref vknmt_model_grad(const vknmt_model *m, const char *name);
/* A ref `rows` rows of `dim` floats further on. */
static inline vknmt_ref vknmt_rows(vknmt_ref r, uint64_t rows, uint64_t dim)
{
    return vknmt_at(r.buf, r.off + rows * dim);
}

/* Training's logits (and their gradient) have rows this many floats apart:
 * Vt rounded up to a quad, so the GEMMs reading them take the quad (vec4,
 * RGBA32F) paths. A vocabulary of odd size (a BPE model's) sent them to the
 * scalar kernels: a quarter of such a step on lavapipe. */
static inline uint32_t vknmt_logits_ld(const vknmt_model_config *c) { return (c->vt + 3u) & ~3u; }
/* n floats rounded up to whole quads: where the next tensor of a buffer starts
 * on one, as the CPU-class kernels' RGBA32F views need, whatever the batch. */
static inline uint64_t vknmt_quads(uint64_t n) { return (n + 3) / 4 * 4; }

/* Sentence k's decoding length limit: max_len[k] when given and not 0,
 * else the paper's (vknmt_default_max_len). */
static inline uint32_t vknmt_decode_limit(const uint32_t *max_len, const int32_t *src_len, uint32_t k)
{
    return max_len && max_len[k] ? max_len[k] : vknmt_default_max_len((uint32_t)src_len[k]);
}

/* C = alpha op(A) op(B) + beta C, with explicit leading dimensions. */
vknmt_status vknmt_mm(vknmt_seq *seq, uint32_t m, uint32_t n, uint32_t k, vknmt_ref a, uint32_t lda, bool ta,
                      vknmt_ref b, uint32_t ldb, bool tb, vknmt_ref c, uint32_t ldc, float beta);

/* One GRU time step forward (through the recurrent GEMMs) and backward;
 * shared by the encoder's two directions and the decoder. */
typedef struct vknmt_gru_args {
    uint32_t batch, n, t;
    vknmt_ref U;       /* [3n, n] */
    vknmt_ref lengths; /* uint32 [batch] */
} vknmt_gru_args;
vknmt_status vknmt_gru_forward_step(vknmt_model *m, const vknmt_gru_args *g, vknmt_ref a, vknmt_ref gates,
                                    vknmt_ref rh, vknmt_ref h, vknmt_ref h_new);
/* Writes da [B, 3n] and the gradient reaching h into m->w.tmp. */
vknmt_status vknmt_gru_backward_step(vknmt_model *m, const vknmt_gru_args *g, vknmt_ref dh_new, vknmt_ref gates,
                                     vknmt_ref h, vknmt_ref da);

/* Checks and uploads a batch into a workspace shaped for it. */
vknmt_status vknmt_model_prepare(vknmt_model *m, const vknmt_batch *bt);
/* Checks a source batch and shapes the workspace for beam search: the
 * encoder's tensors for batch x tx, one decoder step's for batch x rows_per
 * rows (each sentence's hypotheses; m->y = rows_per). Uploads nothing. */
vknmt_status vknmt_model_prepare_decode(vknmt_model *m, uint32_t batch, uint32_t tx, uint32_t rows_per,
                                        const int32_t *src, const int32_t *src_len);
/* The encoder: annotations H, UH = att.U H + att.b, and s_0 in slot 0 of s. */
vknmt_status vknmt_model_record_encoder(vknmt_model *m);

/* One decoder step i for the whole batch: (additive attention: Ws = att.W
 * s_prev, alpha and ctx, then a += ctx dec.C^T;) then the GRU from s_prev to
 * s_new. `a` already holds dec.W E y_{i-1} + dec.b (+ dec.C c without attention). */
typedef struct vknmt_dec_step {
    uint32_t t;
    vknmt_ref s_prev, s_new, a, gates, rh, ws, alpha, ctx;
    /* Beam search: row b attends over column src_col[b] of w->h and w->uh,
     * which hold src_batch sentences (0: row b over column b). */
    vknmt_ref src_col;
    uint32_t src_batch;
    /* Decoding: this step's input projection into a (dec.W E y + dec.b),
     * recorded here as one sum with dec.C c (either attention); NULL in the
     * training pass, whose a holds every step's projection already. With
     * b.buf NULL, a holds dec.W E y itself (the word table's rows). */
    const vknmt_gemm_args *proj;
    /* Decoding with the context products (vknmt_model_context_products):
     * their columns of w->h's layout; the attention then weighs them instead
     * of the annotations, into ctx [B, width], and a = proj + ctx[:, 0:3n]. */
    vknmt_ref hc;
    /* Decoding: ws already holds att.W s_prev (the last step's
     * vknmt_model_step_logits computed it), so no query product here. */
    bool query_ready;
} vknmt_dec_step;
vknmt_status vknmt_decoder_step(vknmt_model *m, const vknmt_dec_step *d);

/* One decoding step's logits [B, Vt] (in w->logits, rows ld floats apart)
 * from s_i (s_new), w->ctx and w->ey; with stats.buf set also their softmax
 * block statistics there (vknmt_softmax_blocks). With pctx.buf set (the
 * context products' step, vknmt_dec_step.hc), out.C c_i is its columns 3n..
 * instead of a product of w->ctx. With query.buf set (the maxout readout;
 * the linear one ignores it), also the next step's attention query att.W
 * s_i [B, na] there: in the deep output's dispatch where
 * vknmt_model_query_folds (one dispatch a step fewer). With pe.buf set
 * (vknmt_model_tables_serve), out.V E y is read from the word table's rows
 * there instead of multiplied from w->ey. */
vknmt_status vknmt_model_step_logits(vknmt_model *m, vknmt_ref s_new, uint32_t ld, vknmt_ref stats, vknmt_ref pctx,
                                     vknmt_ref query, vknmt_ref pe);
/* Whether vknmt_model_step_logits computes the query in the deep output's
 * dispatch for `rows` rows (elsewhere a step's own query product costs the
 * same, and stays at the step's start where beam search need not carry it). */
bool vknmt_model_query_folds(const vknmt_model *m, uint32_t rows);

/* Decoding's word table [Vt, tw]: row y holds dec.W E y (columns 0..3n-1)
 * and, from column vknmt_word_table_out_col, out.V E y (2l). tw is 0 where
 * no table serves (a GPU, no attention or maxout, off quads, over 64 MB). */
uint32_t vknmt_word_table_width(const vknmt_model *m);
static inline uint32_t vknmt_word_table_out_col(const vknmt_model *m) { return (uint32_t)vknmt_quads(3 * m->cfg.n); }
/* Whether a decoding step of `rows` rows reads its words' products from the
 * table (rows of it in w->pe) instead of multiplying w->ey. */
bool vknmt_model_tables_serve(const vknmt_model *m, uint32_t rows);
/* Decoding's tables made from the current parameters where they serve a
 * step of `rows` rows and are not (records and submits a sequence of its
 * own: call outside one): the word table (into *table; buf NULL where it
 * does not serve) and the weights' panels. */
vknmt_status vknmt_model_decode_tables(vknmt_model *m, uint32_t rows, vknmt_ref *table);
/* Whether a step of `rows` rows can read its weights in the few-rows
 * GEMM's panels (vknmt_panel_rows) instead of in rows, and the panels it
 * reads: out.W (the output layer), out.U (the deep output's first product)
 * and dec.U (the GRU's, as vknmt_gru_u_panels lays it out); bufs NULL where
 * they do not serve or are not fresh (then the parameters themselves). */
bool vknmt_model_panels_serve(const vknmt_model *m, uint32_t rows);
vknmt_weight_panels vknmt_model_panels(const vknmt_model *m, uint32_t rows);
/* A decoding step's words: the rows each word brings (source [Vt, dim]:
 * dec.emb, or the word table where it serves the step's rows, when `table`
 * is that table) go to xin, the gather's, argmax's or top-k carry's
 * output; proj is the step's input projection into w->adec (dec.W E y +
 * dec.b; with the table, dec.W E y given: b.buf NULL); pe the table rows
 * for vknmt_model_step_logits (buf NULL without). */
typedef struct vknmt_step_words {
    vknmt_ref source, xin, pe;
    uint32_t dim;
    vknmt_gemm_args proj;
} vknmt_step_words;
vknmt_step_words vknmt_model_step_words(const vknmt_model *m, uint32_t rows, vknmt_ref table);

/* Decoding's context products: dec.C c_i and out.C c_i, with c_i = sum_j
 * alpha_ij h_j, are sum_j alpha_ij (dec.C h_j) and sum_j alpha_ij (out.C h_j),
 * so each annotation's products [dec.C h_j; out.C h_j] are made once per
 * sentence (two GEMMs of all positions) and a step weighs them (tx terms
 * each) instead of multiplying 2n-long contexts (2n terms each). Width
 * 3n + 2l; 0 where they do not apply (no attention, the linear readout). */
uint32_t vknmt_model_context_width(const vknmt_model *m);
/* Records hc [X * B, width] = [h dec.C^T, h out.C^T] from w->h. */
vknmt_status vknmt_model_context_products(vknmt_model *m, vknmt_ref hc);

vknmt_status vknmt_model_record_forward(vknmt_model *m, bool backward);
vknmt_status vknmt_model_record_backward(vknmt_model *m);

#endif
