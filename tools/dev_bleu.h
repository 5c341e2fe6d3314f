/* BLEU on the first lines of a dev set, scored from inside training
 * (vknmt train --valid-bleu N): greedy translations, detokenized, against
 * the raw reference lines, as vknmt eval scores. */
#ifndef VKNMT_DEV_BLEU_H
#define VKNMT_DEV_BLEU_H

#include "train_files.h"

typedef struct vknmt_dev_bleu vknmt_dev_bleu;

/* The first max_lines (> 0) pairs of the two files, the source side read as
 * the model's training data (meta's tokenizer settings and vocabularies,
 * and bpe when the model has merges). */
vknmt_status vknmt_dev_bleu_create(const char *src_path, const char *ref_path, uint32_t max_lines,
                                   const vknmt_train_meta *meta, vknmt_bpe *bpe, vknmt_dev_bleu **out, char *err,
                                   size_t err_size);
void vknmt_dev_bleu_destroy(vknmt_dev_bleu *d);
uint32_t vknmt_dev_bleu_lines(const vknmt_dev_bleu *d);

/* Translates the lines greedily with the model as it is now and scores
 * them; an error leaves its message on the model's context. */
vknmt_status vknmt_dev_bleu_score(vknmt_dev_bleu *d, vknmt_model *model, double *bleu);

#endif
