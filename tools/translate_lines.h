/* Many sentences at once, as vknmt eval and vknmt train --valid-bleu use
 * them: a text file's lines, their translations in batches, corpus BLEU. */
#ifndef VKNMT_TRANSLATE_LINES_H
#define VKNMT_TRANSLATE_LINES_H

#include <stdbool.h>
#include <stdint.h>

#include "source_line.h"

/* The lines of a text file without their line ends (at most max_lines when
 * that is not 0), each malloc'd; NULL with the reason in err. */
char **vknmt_lines_read(const char *path, uint32_t max_lines, uint32_t *n, char *err, size_t err_size);
void vknmt_lines_free(char **lines, uint32_t n);

/* Translates lines[0..n) in batches that fit the model; texts[i] is the
 * detokenized translation (malloc'd; units joined into words when `units`,
 * a --bpe model) and *words grows by the output tokens. An error leaves its
 * message on the model's context. */
vknmt_status vknmt_lines_translate(vknmt_model *model, const vknmt_beam_options *opt, const vknmt_source_line *lines,
                                   uint32_t n, const vknmt_vocab *tgt_vocab, bool units, char **texts,
                                   uint64_t *words);

/* sacreBLEU-compatible corpus BLEU of hyps against one reference each, over
 * the lines with pick[i] (all when pick is NULL); NAN when none is scored. */
double vknmt_lines_bleu(char *const *hyps, char *const *refs, const bool *pick, uint32_t n);

#endif
