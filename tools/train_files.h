/* The files `vknmt train` writes in its output folder, each atomically:
 *   model.safetensors        the spec's tensors, the configuration, both
 *                            vocabularies, the tokenizer settings and (with
 *                            --bpe) the merges in __metadata__ (what
 *                            translate and the reference tools read);
 *   best.safetensors         the same for the best dev cross-entropy so far;
 *   train_state.safetensors  the parameters again plus the optimiser state
 *                            (optim.state1, optim.state2) and the position
 *                            in the data: everything --resume needs, in one
 *                            file so it can never be half-updated. */
#ifndef VKNMT_TRAIN_FILES_H
#define VKNMT_TRAIN_FILES_H

#include <stdbool.h>

#include "batcher.h"
#include "bpe.h"
#include "params.h"
#include "rnnsearch.h"
#include "safetensors.h"
#include "vocab.h"

typedef struct vknmt_train_meta {
    vknmt_model_config cfg;
    const vknmt_vocab *src_vocab, *tgt_vocab; /* borrowed */
    bool lowercase, pretokenized;
    uint32_t max_len;
    /* borrowed; NULL: a word-level model. Written as `bpe_merges` (the
     * merges' text form, see bpe.h) in every file; a file without that key
     * is a word-level model. */
    const vknmt_bpe *bpe;
} vknmt_train_meta;

/* Where training stands, saved with the optimiser state. */
typedef struct vknmt_train_progress {
    uint64_t step;              /* minibatches done */
    uint64_t updates;           /* optimiser updates (skipped steps excluded) */
    uint64_t tokens;            /* target tokens trained on */
    double elapsed;             /* training seconds so far */
    double best_dev;            /* best dev cross-entropy (INFINITY: none yet) */
    uint64_t bad_validations;   /* validations since the best */
    vknmt_batcher_state data;   /* the batcher's position */
    float dropout;              /* --dropout (`train.dropout`; absent in older files: 0) */
} vknmt_train_progress;

/* Writes a model file (model.safetensors or best.safetensors). */
vknmt_status vknmt_train_save_model(const char *path, const vknmt_train_meta *meta, const vknmt_param_layout *lay,
                                    const float *params, char *err, size_t err_size);

/* Writes train_state.safetensors. */
vknmt_status vknmt_train_save_state(const char *path, const vknmt_train_meta *meta, const vknmt_param_layout *lay,
                                    const float *params, const float *state1, const float *state2,
                                    const vknmt_train_progress *prog, char *err, size_t err_size);

/* Reads train_state.safetensors: configuration, vocabularies and merges
 * (new, the caller destroys them), flat parameters and optimiser state (malloc'd),
 * progress. A corrupt, truncated or foreign file is refused. */
typedef struct vknmt_train_resume {
    vknmt_train_meta meta;
    vknmt_vocab *src_vocab, *tgt_vocab;
    vknmt_bpe *bpe; /* the merges, or NULL (meta.bpe borrows it) */
    vknmt_param_layout lay;
    float *params, *state1, *state2;
    vknmt_train_progress prog;
} vknmt_train_resume;
vknmt_status vknmt_train_load_state(const char *path, vknmt_train_resume *out, char *err, size_t err_size);
void vknmt_train_resume_free(vknmt_train_resume *r);

/* Reads a model file written by vknmt train (model.safetensors,
 * best.safetensors or train_state.safetensors) for translation: the
 * configuration, vocabularies, tokenizer settings and BPE merges from its
 * metadata, and
 * the flat parameters. Free with vknmt_train_resume_free (the optimiser
 * state stays NULL). */
vknmt_status vknmt_model_file_load(const char *path, vknmt_train_resume *out, char *err, size_t err_size);

#endif
