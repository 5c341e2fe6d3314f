/* One source sentence as the decoder takes it: its words (for alignments)
 * and their ids with the final </s>, as in training. */
#ifndef VKNMT_SOURCE_LINE_H
#define VKNMT_SOURCE_LINE_H

#include <stdbool.h>
#include <stdint.h>

#include "bpe.h"
#include "rnnsearch.h"
#include "tokenize.h"
#include "vocab.h"

typedef struct vknmt_source_line {
    char **tokens;   /* owned words (with BPE: their subword units) */
    uint32_t ntok;
    int32_t *ids;    /* owned: token ids (unknown: <unk>) then </s> */
    bool bad;        /* invalid UTF-8 */
    uint32_t max_len; /* the most output tokens; 0: vknmt_default_max_len(ntok + 1) */
    /* With BPE (read with merges), else NULL and 0: */
    char **words;      /* owned: the words the units came from */
    uint32_t nwords;
    uint32_t *word_of; /* owned: tokens[j] is a piece of words[word_of[j]] */
} vknmt_source_line;

/* Tokenizes `text` (a trailing newline is dropped) with the model's
 * tokenizer and vocabulary; for a model trained with --bpe (bpe not NULL)
 * the words are then split into subword units (tokens, ids) and kept
 * (words, word_of). On invalid UTF-8 returns false with `bad` set and the
 * reason in err; false without `bad` means out of memory. */
bool vknmt_source_line_read(vknmt_tokenizer *tok, const vknmt_vocab *vocab, vknmt_bpe *bpe, char *text, size_t len,
                            vknmt_source_line *l, char *err, size_t err_size);
void vknmt_source_line_free(vknmt_source_line *l);

/* Decodes lines[0..n) (invalid or empty ones get an empty translation)
 * with greedy decoding when opt->beam is 1 (and no_unk is off), else beam
 * search; the batch must fit vknmt_model_max_decode_rows. tr has n entries,
 * n * opt->nbest with an n-best list (line k's r-th best at k * nbest + r). */
vknmt_status vknmt_source_lines_decode(vknmt_model *model, const vknmt_beam_options *opt,
                                       const vknmt_source_line *lines, uint32_t n, vknmt_translation *tr);

/* The same for any number of lines: they are decoded in batches of at most
 * `batch` lines of similar length (shortest first), since a batch pads every
 * source to its longest and runs until its last sentence ends; tr is in the
 * lines' order. A sentence's translation does not depend on its batch. */
vknmt_status vknmt_source_lines_decode_sorted(vknmt_model *model, const vknmt_beam_options *opt,
                                              const vknmt_source_line *lines, uint32_t n, uint32_t batch,
                                              vknmt_translation *tr);

/* A word-for-word dictionary for replacing <unk>: "source target" per line. */
typedef struct vknmt_dict vknmt_dict;
vknmt_status vknmt_dict_load(const char *path, vknmt_dict **out, char *err, size_t err_size);
void vknmt_dict_destroy(vknmt_dict *d);

/* The translation's words without the final </s>, detokenized (malloc'd);
 * NULL when out of memory. With `src` given, each <unk> becomes the source
 * word it attends to most (the </s> column excluded), looked up in `dict`
 * when that has it: the paper's "copy" of unknown words. */
char *vknmt_translation_text(const vknmt_translation *tr, const vknmt_vocab *tgt_vocab,
                             const vknmt_source_line *src, const vknmt_dict *dict);
/* The same for a model trained with --bpe, whose outputs are subword units:
 * the units are joined into words first (vknmt_bpe_join, so no "@@" is
 * left); with `src` given, an output word holding an <unk> unit becomes the
 * source word (whole, or its dictionary entry) that its first <unk> unit
 * attends to most. */
char *vknmt_translation_text_units(const vknmt_translation *tr, const vknmt_vocab *tgt_vocab,
                                   const vknmt_source_line *src, const vknmt_dict *dict);

#endif
