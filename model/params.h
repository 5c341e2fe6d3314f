/* The parameters as one flat fp32 buffer: the spec's tensors in a fixed
 * order, each at an offset aligned to 64 floats (256 bytes, the largest
 * storage-offset alignment devices ask for), so clipping is one norm and the
 * optimiser one pass over the whole buffer. */
#ifndef VKNMT_PARAMS_H
#define VKNMT_PARAMS_H

#include <stdint.h>

#include "config.h"

#define VKNMT_MAX_PARAMS 24

typedef struct vknmt_param {
    const char *name; /* the spec's name, e.g. "enc.fwd.W" */
    uint32_t ndim;    /* 1 or 2 */
    uint32_t rows, cols; /* [rows, cols]; a vector is [rows] with cols 1 */
    uint64_t offset;  /* floats into the flat buffer */
} vknmt_param;

typedef struct vknmt_param_layout {
    uint32_t count;
    vknmt_param p[VKNMT_MAX_PARAMS];
    uint64_t total; /* floats, padding included */
} vknmt_param_layout;

void vknmt_param_layout_make(const vknmt_model_config *c, vknmt_param_layout *out);
/* The named parameter, or NULL when this configuration has none of it. */
const vknmt_param *vknmt_param_find(const vknmt_param_layout *lay, const char *name);
static inline uint64_t vknmt_param_size(const vknmt_param *p) { return (uint64_t)p->rows * p->cols; }

/* The spec's initialisation into a host copy of the flat buffer (padding
 * zero): GRU recurrent matrices orthogonal per gate block, att.W and att.U
 * N(0, 0.001^2), att.v and biases 0, every other weight N(0, 0.01^2).
 * Deterministic for a seed. */
void vknmt_params_init(const vknmt_param_layout *lay, uint64_t seed, float *flat);

#endif
