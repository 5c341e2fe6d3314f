/* Minibatches for training, as the paper and GroundHog (sort_k_batches=20):
 *
 *   at each epoch start the corpus is shuffled (choice: a seeded permutation
 *   of all pairs, new each epoch); the shuffled order is cut into pools of
 *   sort_k_batches minibatches' worth of pairs; a pool is sorted by
 *   max(src_len, tgt_len) (ties keep the shuffled order), cut into
 *   minibatches, and the minibatches are emitted in a shuffled order; then
 *   the next pool; after the last pool (possibly smaller, as may be its last
 *   minibatch) the next epoch starts. Every pair is in exactly one minibatch
 *   per epoch.
 *
 * Sentence mode (max_tokens = 0): minibatches of batch_size pairs, the pool
 * is sort_k_batches * batch_size pairs.
 * Token mode (max_tokens > 0): a minibatch is cut so that its padded size
 * count * max over its pairs of max(src_len, tgt_len) stays <= max_tokens
 * (a single pair over the limit gets a minibatch of its own); the pool takes
 * pairs until their summed max(src_len, tgt_len) reaches
 * sort_k_batches * max_tokens. batch_size, when not 0, also caps the count.
 *
 * Every random choice comes from a splitmix64 stream keyed by (seed, epoch)
 * for the permutation and (seed, epoch, pool) for the minibatch order, so the
 * position (epoch, pool, minibatch) is the whole state: see
 * vknmt_batcher_get_state. */
#ifndef VKNMT_BATCHER_H
#define VKNMT_BATCHER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "corpus.h"
#include "vknmt_status.h"

typedef struct vknmt_batcher_options {
    uint32_t batch_size;     /* sentence mode: 0 = 80 (paper); token mode: cap, 0 = none */
    uint32_t max_tokens;     /* 0 = sentence mode */
    uint32_t sort_k_batches; /* 0 = 20 (GroundHog); 1 = sort within each minibatch only */
    uint64_t seed;
    bool no_shuffle;         /* keep corpus order and emit pool minibatches in order */
} vknmt_batcher_options;

/* One minibatch, row-major, right-padded with <pad> (0). Arrays are
 * borrowed from the batcher: valid until its next call of next/set_state. */
typedef struct vknmt_minibatch {
    uint32_t size;          /* B sentences */
    uint32_t src_T, tgt_T;  /* Tx = max src_len, Ty = max tgt_len */
    const int32_t *src;     /* [B, Tx], each row ending with </s> then 0s */
    const int32_t *src_len; /* [B], </s> included */
    const int32_t *tgt;     /* [B, Ty], ending with </s>, no <s> */
    const int32_t *tgt_len; /* [B] */
    const uint32_t *pair;   /* [B] the pairs' indices in the corpus */
    uint64_t epoch;         /* 0-based epoch the minibatch belongs to */
} vknmt_minibatch;

/* The exact position of a batcher: restore it with set_state in a batcher
 * made with the same options over the same corpus, and the same minibatches
 * follow. `pairs` is checked against the corpus; `seed` is adopted. */
typedef struct vknmt_batcher_state {
    uint64_t seed;
    uint64_t epoch; /* of the next minibatch */
    uint64_t pool;  /* within the epoch */
    uint64_t batch; /* within the pool, in emission order */
    uint64_t pairs; /* corpus size */
} vknmt_batcher_state;

typedef struct vknmt_batcher vknmt_batcher;

/* `corpus` is borrowed and must outlive the batcher. Errors: VKNMT_ERR_USAGE
 * (an empty corpus), VKNMT_ERR_OOM_HOST, with the reason in err. */
vknmt_status vknmt_batcher_create(const vknmt_corpus *corpus, const vknmt_batcher_options *opt,
                                  vknmt_batcher **out, char *err, size_t err_size);
void vknmt_batcher_destroy(vknmt_batcher *b);

/* The next minibatch (epochs follow each other without end). */
vknmt_status vknmt_batcher_next(vknmt_batcher *b, vknmt_minibatch *out);

void vknmt_batcher_get_state(const vknmt_batcher *b, vknmt_batcher_state *st);
/* Errors: VKNMT_ERR_USAGE when the state does not fit this corpus and these
 * options (pair count, pool or minibatch out of range), with the reason in
 * err; the batcher then keeps its position. */
vknmt_status vknmt_batcher_set_state(vknmt_batcher *b, const vknmt_batcher_state *st, char *err, size_t err_size);

#endif
