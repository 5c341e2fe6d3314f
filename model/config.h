/* The model's configuration: sizes from a preset, every one overridable. */
#ifndef VKNMT_CONFIG_H
#define VKNMT_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "vknmt_status.h"

typedef enum vknmt_readout { VKNMT_READOUT_MAXOUT = 0, VKNMT_READOUT_LINEAR = 1 } vknmt_readout;
typedef enum vknmt_attention { VKNMT_ATTENTION_ADDITIVE = 0, VKNMT_ATTENTION_NONE = 1 } vknmt_attention;

typedef struct vknmt_model_config {
    uint32_t vs, vt; /* vocabularies, specials included */
    uint32_t m;      /* word embedding */
    uint32_t n;      /* GRU units (each direction, and the decoder) */
    uint32_t na;     /* alignment hidden units */
    uint32_t l;      /* maxout units */
    vknmt_readout readout;
    vknmt_attention attention;
} vknmt_model_config;

/* "tiny", "small" or "paper" (shared/spec/rnnsearch.md); VKNMT_ERR_USAGE otherwise. */
vknmt_status vknmt_config_preset(const char *name, vknmt_model_config *out);
const char *vknmt_readout_name(vknmt_readout r);
const char *vknmt_attention_name(vknmt_attention a);
/* Every size >= 1 and the vocabularies hold the four specials. */
vknmt_status vknmt_config_check(const vknmt_model_config *c, char *err, size_t err_size);

#endif
