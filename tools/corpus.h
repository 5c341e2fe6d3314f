/* A parallel corpus in memory: for every kept sentence pair the token ids of
 * both sides, each ending with </s> (the spec: the source too, as GroundHog),
 * and the pair's line number in the files. */
#ifndef VKNMT_CORPUS_H
#define VKNMT_CORPUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpe.h"
#include "tokenize.h"
#include "vknmt_status.h"
#include "vocab.h"

typedef struct vknmt_corpus_options {
    vknmt_tokenize_options tok; /* the same for both sides */
    /* Pairs with more than max_len tokens (not counting </s>) on either side
     * are skipped; 0 = no limit. The paper: 50. */
    uint32_t max_len;
    /* Given vocabularies (borrowed, must outlive the corpus), or NULL: then
     * built from the kept pairs of this corpus with at most this many entries,
     * specials included (the spec's Vs, Vt; 0 = no limit). */
    const vknmt_vocab *src_vocab, *tgt_vocab;
    uint32_t src_vocab_size, tgt_vocab_size;
    /* Subword units (borrowed, must outlive the load; NULL: words): every
     * tokenized line of both sides is segmented before anything else, so
     * vocabularies, ids and max_len count units. */
    vknmt_bpe *bpe;
} vknmt_corpus_options;

typedef struct vknmt_corpus_stats {
    uint64_t lines;         /* lines in each file */
    uint64_t pairs;         /* pairs kept */
    uint64_t skipped_empty; /* pairs with no token on one side or both */
    uint64_t skipped_long;  /* pairs over max_len on one side or both */
    uint64_t src_tokens, tgt_tokens; /* in kept pairs, </s> not counted */
    uint64_t src_unk, tgt_unk;       /* of those, mapped to <unk> */
} vknmt_corpus_stats;

typedef struct vknmt_pair {
    const int32_t *src, *tgt; /* borrowed from the corpus */
    uint32_t src_len, tgt_len; /* including the final </s> */
    uint64_t line;             /* 1-based line number in both files */
} vknmt_pair;

typedef struct vknmt_corpus vknmt_corpus;

/* Reads two line-aligned UTF-8 files. A token that spells a special
 * ("<pad>", "<s>", "</s>", "<unk>") becomes <unk>: only the reader places
 * the specials. Failures, with a one-line reason
 * naming the file (and line) in err:
 *   VKNMT_ERR_IO    a file is missing or unreadable;
 *   VKNMT_ERR_INPUT a file is empty, the line counts differ (both given),
 *                   invalid UTF-8 ("FILE:LINE: invalid UTF-8 at byte N"),
 *                   or no pair is left after skipping;
 *   VKNMT_ERR_USAGE a vocabulary size below 4. */
vknmt_status vknmt_corpus_load(const char *src_path, const char *tgt_path, const vknmt_corpus_options *opt,
                               vknmt_corpus **out, char *err, size_t err_size);

/* An empty corpus without vocabularies, filled by vknmt_corpus_add (for
 * tests, and for pairs made elsewhere). */
vknmt_status vknmt_corpus_create(vknmt_corpus **out);
/* Appends a pair of id sequences, copied as given (the caller adds </s>).
 * Both lengths must be at least 1. */
vknmt_status vknmt_corpus_add(vknmt_corpus *c, const int32_t *src, uint32_t src_len, const int32_t *tgt,
                              uint32_t tgt_len, uint64_t line);
void vknmt_corpus_destroy(vknmt_corpus *c);

size_t vknmt_corpus_size(const vknmt_corpus *c);
/* Pair i < size. */
vknmt_pair vknmt_corpus_pair(const vknmt_corpus *c, size_t i);
const vknmt_corpus_stats *vknmt_corpus_stats_get(const vknmt_corpus *c);
/* The vocabularies used (borrowed: the given ones, or the corpus's own,
 * which live as long as it does); NULL for a corpus made by create. */
const vknmt_vocab *vknmt_corpus_src_vocab(const vknmt_corpus *c);
const vknmt_vocab *vknmt_corpus_tgt_vocab(const vknmt_corpus *c);

#endif
