/* A float64 reference of the whole RNNsearch model (shared/spec/rnnsearch.md)
 * in plain C loops: teacher-forced loss and its exact gradient by a
 * hand-written reverse pass. Slow and simple on purpose: the yardstick the
 * GPU implementation is tested against. Checked in tests/test_refmodel.c by
 * finite differences and against the PyTorch fixtures in shared/fixtures.
 *
 * Conventions: matrices are row-major [out, in] as in the spec; every tensor
 * of a ref_model owns its data (free with ref_model_free); the functions
 * return a vknmt_status and write a readable reason into `err` on failure. */
#ifndef VKNMT_REF_MODEL_H
#define VKNMT_REF_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dropout.h"
#include "vknmt_status.h"

enum { REF_PAD = 0, REF_UNK = 1, REF_BOS = 2, REF_EOS = 3 };

typedef enum ref_readout { REF_READOUT_MAXOUT = 0, REF_READOUT_LINEAR } ref_readout;
typedef enum ref_attention { REF_ATT_ADDITIVE = 0, REF_ATT_NONE } ref_attention;

typedef struct ref_config {
    int Vs, Vt;   /* vocabularies, specials included */
    int m;        /* embedding size */
    int n;        /* GRU size (each encoder direction, and the decoder) */
    int na;       /* attention hidden size (unused with REF_ATT_NONE) */
    int l;        /* maxout units (unused with REF_READOUT_LINEAR) */
    ref_readout readout;
    ref_attention attention;
} ref_config;

#define REF_MAX_TENSORS 24

typedef struct ref_tensor {
    const char *name; /* static: the spec's name ("enc.fwd.W") */
    int ndim;         /* 1 or 2 */
    int shape[2];     /* [out, in] or [len] */
    size_t size;      /* number of elements */
    double *data;     /* owned */
} ref_tensor;

/* The spec's tensors for one configuration, in the spec's table order.
 * Holds either parameters or the gradient of the loss w.r.t. them. */
typedef struct ref_model {
    ref_config cfg;
    int count;
    ref_tensor t[REF_MAX_TENSORS];
} ref_model;

/* Allocates every tensor of `cfg`, zero-filled. VKNMT_ERR_USAGE for a bad
 * config (a size < 1, Vt <= 3, ...), VKNMT_ERR_OOM_HOST. */
vknmt_status ref_model_init(ref_model *m, const ref_config *cfg);
/* Releases the tensors; accepts a zeroed or already freed model. */
void ref_model_free(ref_model *m);
/* Tensor by spec name; NULL if this configuration has none of that name. */
ref_tensor *ref_model_param(ref_model *m, const char *name);
const ref_tensor *ref_model_cparam(const ref_model *m, const char *name);
size_t ref_model_param_count(const ref_model *m); /* total elements */
/* Loads a checkpoint (any float or integer dtype, converted to double). The
 * configuration is inferred from the shapes, as the reference does:
 * att.W absent => attention none; out.U absent => readout linear (l = 0);
 * na = n when there is no attention. Every tensor of that configuration must
 * be present with its exact shape; other tensors are ignored. */
vknmt_status ref_model_load(const char *path, ref_model *m, char *err, size_t err_size);
/* Writes the model as an F32 checkpoint with __metadata__ format=rnnsearch,
 * config={...} and the same keys one by one (shared/ref/README.md). */
vknmt_status ref_model_save_f32(const ref_model *m, const char *path, char *err, size_t err_size);

/* A batch (shared/ref/README.md, "batch file"): right-padded with 0. */
typedef struct ref_batch {
    int B, Tx, Ty;
    int32_t *src;     /* [B, Tx], owned */
    int32_t *src_len; /* [B], owned, 1..Tx */
    int32_t *tgt;     /* [B, Ty], owned: ends with </s> (3), no <s> */
    int32_t *tgt_len; /* [B], owned, 1..Ty, counting </s> */
} ref_batch;

/* Zero-filled batch of the given sizes. */
vknmt_status ref_batch_init(ref_batch *b, int B, int Tx, int Ty);
void ref_batch_free(ref_batch *b);
/* Reads src, src_len, tgt, tgt_len (any integer dtype). */
vknmt_status ref_batch_load(const char *path, ref_batch *b, char *err, size_t err_size);
/* Lengths within 1..Tx / 1..Ty, ids inside the vocabularies. */
vknmt_status ref_batch_check(const ref_batch *b, const ref_config *cfg, char *err, size_t err_size);

/* The result of a forward (and backward) pass. */
typedef struct ref_grads {
    double loss;    /* mean over sentences of the summed token NLL */
    double ce;      /* per-token cross-entropy: summed NLL / ntok */
    long ntok;      /* real target tokens (sum of tgt_len) */
    double *nll;    /* [B, Ty], owned: token NLL, 0 at padding (sized by the call) */
    int nll_B, nll_Ty;
    ref_model grad; /* d loss / d parameter, same names and shapes as the model */
} ref_grads;

/* Frees nll and grad; accepts a zeroed struct. */
void ref_grads_free(ref_grads *g);
/* Forward only: fills loss, ce, ntok and nll (grad is left untouched). */
vknmt_status ref_model_loss(const ref_model *m, const ref_batch *b, ref_grads *out, char *err, size_t err_size);
/* Forward and backward: also (re)allocates and fills out->grad. `out` must be
 * zeroed (or come from an earlier call) before the first call. */
vknmt_status ref_model_loss_grad(const ref_model *m, const ref_batch *b, ref_grads *out, char *err,
                                 size_t err_size);

/* The same with inverted dropout on the readout, as the device's training
 * step applies it (model/dropout.h): on t_i (maxout) or on the linear
 * readout's input [s_i; c_i; E y_{i-1}], element j of target word i of
 * sentence b kept (and scaled by key->scale) iff vknmt_dropout_keep(key,
 * (i * B + b) * width + j), width l or 3n + m: the device's time-major rows.
 * The mask is a fixed function of the key, so finite differences of
 * ref_model_loss_dropout hold it fixed. */
vknmt_status ref_model_loss_dropout(const ref_model *m, const ref_batch *b, const vknmt_dropout_key *key,
                                    ref_grads *out, char *err, size_t err_size);
vknmt_status ref_model_loss_grad_dropout(const ref_model *m, const ref_batch *b, const vknmt_dropout_key *key,
                                         ref_grads *out, char *err, size_t err_size);

/* The path of shared/fixtures/<file>: under $VKNMT_SHARED (set by ctest), else
 * found from this source file's location. VKNMT_ERR_USAGE if it does not fit. */
vknmt_status ref_fixture_path(const char *file, char *out, size_t out_size);

#endif
