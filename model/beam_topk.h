/* One beam-search step's selection on the device: for each sentence, the
 * best continuations of its live hypotheses, best first. */
#ifndef VKNMT_BEAM_TOPK_H
#define VKNMT_BEAM_TOPK_H

#include <stdbool.h>

#include "vknmt_runtime.h"

/* The widest beam. The shader keeps each invocation's best `beam`
 * candidates in private arrays (its KMAX specialization constant is beam)
 * and inserts into them one at a time: made for beam-search widths, and
 * the decoder's beams stop here too. */
#define VKNMT_BEAM_TOPK_MAX_BEAM 16

/* Sentence b (b < batch) owns the rows b * beam .. b * beam + beam - 1 of
 * logits [batch * beam rows, vocab], rows ld >= vocab floats apart (the
 * ld - vocab floats after a row take no part), of their softmax block
 * statistics `stats` (vknmt_softmax_blocks of the same rows, or of
 * vknmt_gemm_softmax_blocks), and of hs [batch * beam], each row's
 * log-probability so far. The statistics give each row's log-sum-exp and
 * which blocks can hold the best candidates: only those are read.
 * live: uint32 [2 * batch]: live[b] = L, how many of the sentence's rows
 * are live (its first L, 0 <= L <= beam), then live[batch + b] = take,
 * how many candidates to choose (0 <= take <= beam). Only live rows are
 * read; their hs must be finite.
 * The candidates of sentence b are the pairs (r, v), r < L, v < vocab
 * (with no_unk, v != 1: <unk> is never chosen, the paper's "no UNK"
 * decoding), scored in float
 *   hs[b * beam + r] + log_softmax(row b * beam + r of logits)[v].
 * Slot j < take of the sentence (element b * beam + j of the int32 outputs
 * parent and token and the float output score) gets the j-th best:
 * parent = b * beam + r (the global row), token = v, and its score; equal
 * scores go in increasing r * vocab + v. When the sentence has fewer than
 * take candidates, the slots past them get parent -1 and token -1 (their
 * score is unspecified). Slots take .. beam - 1 are not written.
 * beam 0 or above VKNMT_BEAM_TOPK_MAX_BEAM, batch or vocab 0, ld < vocab
 * or indices past 32 bits fail through the sequence. */
vknmt_status vknmt_beam_topk(vknmt_seq *seq, uint32_t batch, uint32_t beam, uint32_t vocab, uint32_t ld, bool no_unk,
                             vknmt_ref logits, vknmt_ref stats, vknmt_ref hs, vknmt_ref live, vknmt_ref parent,
                             vknmt_ref token, vknmt_ref score);

/* The next step's rows, laid out by the top-k's own dispatch instead of a
 * gather of the host's tables: what beam search does while no sentence
 * leaves the batch. For each sentence b that takes candidates, its chosen
 * ones whose word is not `end` (and not -1), in order, continue in its
 * slots b * beam + 0, 1, ..: state_out's row gets state's row `parent`
 * (n floats), query_out's row query's row `parent` (na floats; na 0: no
 * query rows) and emb_out's row the embedding of its word (emb[word], m
 * floats); the slots after them idle: their own state and query rows and
 * emb[start]. A sentence that takes none lays out nothing. */
typedef struct vknmt_beam_carry {
    vknmt_ref state, state_out;  /* [batch * beam, n] each */
    vknmt_ref emb, emb_out;      /* [vocab, m], [batch * beam, m] */
    uint32_t n, m;
    uint32_t end, start;         /* words: </s> and <s> */
    vknmt_ref query, query_out;  /* [batch * beam, na] each, unless na is 0 */
    uint32_t na;
} vknmt_beam_carry;

/* vknmt_beam_topk with the carry in the same dispatch. It needs n, m and
 * na and every row on quads, and a device that binds 13 storage buffers
 * in one stage: where not, it records nothing and leaves *ran false, and
 * the caller runs vknmt_beam_topk and lays out the rows itself. end and
 * start must be words (< vocab). */
vknmt_status vknmt_beam_topk_carry(vknmt_seq *seq, uint32_t batch, uint32_t beam, uint32_t vocab, uint32_t ld,
                                   bool no_unk, vknmt_ref logits, vknmt_ref stats, vknmt_ref hs, vknmt_ref live,
                                   vknmt_ref parent, vknmt_ref token, vknmt_ref score, const vknmt_beam_carry *carry,
                                   bool *ran);

#endif
