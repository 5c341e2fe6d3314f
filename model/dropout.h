/* Inverted dropout on the device (training only; shaders/dropout.comp):
 * an element is kept with probability 1 - P and scaled by 1 / (1 - P), or
 * zeroed. The mask is never stored: it is a pure function of (seed, step,
 * salt, mask index) recomputed wherever it is needed (forward, and the
 * gradient on the way back), so it costs no device memory and a resumed run
 * draws the same masks. */
#ifndef VKNMT_DROPOUT_H
#define VKNMT_DROPOUT_H

#include <stdbool.h>
#include <stdint.h>

#include "vknmt_runtime.h"

/* Where a mask is used: each site draws its own numbers. */
enum { VKNMT_DROPOUT_SALT_READOUT = 1 };

typedef struct vknmt_dropout_key {
    uint32_t seed, step, salt;
    uint32_t threshold; /* kept iff (hash >> 8) >= threshold: P in units of 2^-24, rounded up */
    float scale;        /* 1 / (1 - threshold / 2^24), i.e. 1 / (1 - P) */
} vknmt_dropout_key;

/* The key for probability p (0 <= p < 1). */
vknmt_dropout_key vknmt_dropout_key_make(float p, uint32_t seed, uint32_t step, uint32_t salt);

/* Wellons' lowbias32 mixer (a bijection of 32-bit words). */
static inline uint32_t vknmt_dropout_mix32(uint32_t v)
{
    v ^= v >> 16;
    v *= 0x7feb352du;
    v ^= v >> 15;
    v *= 0x846ca68bu;
    v ^= v >> 16;
    return v;
}

/* The shader's hash, in C: the reference the tests compare it with. */
static inline uint32_t vknmt_dropout_hash(const vknmt_dropout_key *k, uint32_t index)
{
    uint32_t h = vknmt_dropout_mix32(k->seed ^ 0x9e3779b9u);
    h = vknmt_dropout_mix32(h ^ k->step);
    h = vknmt_dropout_mix32(h ^ k->salt);
    h = vknmt_dropout_mix32(h ^ index);
    return vknmt_dropout_mix32(h + 0x6a09e667u);
}

static inline bool vknmt_dropout_keep(const vknmt_dropout_key *k, uint32_t index)
{
    return (vknmt_dropout_hash(k, index) >> 8) >= k->threshold;
}

/* A rows x cols window of x (row stride ld floats) times the mask, in
 * place; element (r, c) uses mask index r * mask_ld + mask_col0 + c. */
typedef struct vknmt_dropout_window {
    uint32_t rows, cols, ld;
    uint32_t mask_ld, mask_col0;
} vknmt_dropout_window;
vknmt_status vknmt_dropout_apply(vknmt_seq *seq, const vknmt_dropout_key *k, vknmt_ref x,
                                 const vknmt_dropout_window *win);
/* out[i] = the multiplier of mask index i (scale or 0), i < n: for tests. */
vknmt_status vknmt_dropout_mask(vknmt_seq *seq, const vknmt_dropout_key *k, vknmt_ref out, uint32_t n);

#endif
