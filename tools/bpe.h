/* Subword units by byte-pair encoding (Sennrich, Haddow and Birch 2016,
 * "Neural Machine Translation of Rare Words with Subword Units"), learned
 * jointly on both sides of the training text after tokenization.
 *
 * Conventions, as subword-nmt (codes format version 0.2):
 *  - a word is split into characters (Unicode code points) and its last
 *    character carries the end-of-word marker "</w>": "low" -> l o w</w>;
 *  - each merge operation joins the most frequent adjacent pair of symbols,
 *    counted over word types weighted by their frequency; every occurrence in
 *    a word is merged left to right ("a a a" -> "aa a");
 *  - ties go to the pair that is greatest in byte order, first symbol first
 *    ("</w>" included), as subword-nmt's max over (count, pair): the result
 *    depends on the data only, never on a hash table or the machine;
 *  - learning stops early when no pair occurs twice;
 *  - applying a word repeats: merge the adjacent pair with the earliest merge
 *    operation, until no adjacent pair is a merge; characters never seen in
 *    learning stay single characters;
 *  - the units of a word are written with "@@" after every unit but the
 *    last ("lowest" -> "low@@ est"), and joined back by gluing a unit that
 *    ends in "@@" (the marker removed) to the next one.
 *
 * A word that spells a special token (<pad>, <unk>, <s>, </s>) is never
 * split, so it still becomes <unk> in the vocabulary as without BPE.
 * Limitation: in --pretokenized text a word ending in "@@" or containing
 * "</w>" is not told apart from the markers (the tokenizer otherwise splits
 * '@', '<', '/' and '>' into tokens of their own).
 *
 * The merges' text form (what a checkpoint keeps under `bpe_merges`) is a
 * subword-nmt codes file: "#version: 0.2" then one merge per line, the two
 * symbols separated by one space, in the order they were learned. */
#ifndef VKNMT_BPE_H
#define VKNMT_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "tokenize.h"
#include "vknmt_status.h"
#include "vocab.h"

typedef struct vknmt_bpe vknmt_bpe;

/* Learns up to `merges` operations from word types and their counts (a
 * counter of tokens, e.g. every token of both training files). Errors:
 * VKNMT_ERR_USAGE (merges == 0), VKNMT_ERR_OOM_HOST. */
vknmt_status vknmt_bpe_learn(const vknmt_vocab_counter *words, uint32_t merges, vknmt_bpe **out);

/* Tokenizes every line of the files with `tok` (as the corpus reader does)
 * and learns from all their tokens together. Errors: VKNMT_ERR_IO,
 * VKNMT_ERR_INPUT (invalid UTF-8, "FILE:LINE: reason" in err),
 * VKNMT_ERR_USAGE, VKNMT_ERR_OOM_HOST. */
vknmt_status vknmt_bpe_learn_files(const char *const *paths, size_t n_paths, const vknmt_tokenize_options *tok,
                                   uint32_t merges, vknmt_bpe **out, char *err, size_t err_size);

void vknmt_bpe_destroy(vknmt_bpe *b);

/* The number of merge operations (may be below what was asked for). */
uint32_t vknmt_bpe_merge_count(const vknmt_bpe *b);
/* Merge `rank` (< merge_count) in its text form, e.g. "lo w</w>", written
 * into out (NUL-terminated, truncated to out_size). */
void vknmt_bpe_merge_text(const vknmt_bpe *b, uint32_t rank, char *out, size_t out_size);

/* The text form, malloc'ed (the caller frees), NUL-terminated, *len bytes
 * (len may be NULL). */
vknmt_status vknmt_bpe_to_string(const vknmt_bpe *b, char **out, size_t *len);
/* Parses the text form (the "#version" line and a '\r' before each '\n' are
 * optional). A line that is not two symbols, or whose first symbol ends a
 * word, is VKNMT_ERR_INPUT with "NAME:LINE: reason" in err. A merge given
 * twice keeps its first rank. */
vknmt_status vknmt_bpe_from_string(const char *text, size_t len, const char *name, vknmt_bpe **out, char *err,
                                   size_t err_size);

/* Segments the words of one line into units (with their "@@" markers).
 * *units (*n_units of them) and *word_of (may be NULL: for each unit, the
 * index of its word) are borrowed from b until its next call. Segmentations
 * are cached per word, so b is not const: one thread at a time.
 * Errors: VKNMT_ERR_OOM_HOST. */
vknmt_status vknmt_bpe_apply(vknmt_bpe *b, const char *const *words, size_t n_words, const char *const **units,
                             size_t *n_units, const uint32_t **word_of);

/* Joins units back into words: a unit ending in "@@" glues (without the
 * marker) to the next; a last unit ending in "@@" just loses the marker, so
 * no marker is ever left. *words is one malloc'ed block (the caller frees
 * *words alone) of *n_words NUL-terminated words; word_of (n_units entries,
 * may be NULL) receives each unit's word index. Works without merges: the
 * markers are the whole convention. */
vknmt_status vknmt_bpe_join(const char *const *units, size_t n_units, char ***words, size_t *n_words,
                            uint32_t *word_of);

#endif
