#include "config.h"

#include <stdio.h>
#include <string.h>

vknmt_status vknmt_config_preset(const char *name, vknmt_model_config *out)
{
    static const struct {
        const char *name;
        vknmt_model_config c;
    } presets[] = {
        {"tiny", {64, 64, 16, 32, 32, 16, VKNMT_READOUT_MAXOUT, VKNMT_ATTENTION_ADDITIVE}},
        {"small", {8000, 8000, 256, 256, 256, 256, VKNMT_READOUT_MAXOUT, VKNMT_ATTENTION_ADDITIVE}},
        {"paper", {30000, 30000, 620, 1000, 1000, 500, VKNMT_READOUT_MAXOUT, VKNMT_ATTENTION_ADDITIVE}},
    };
    for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++)
        if (strcmp(name, presets[i].name) == 0) {
            *out = presets[i].c;
            return VKNMT_OK;
        }
    return VKNMT_ERR_USAGE;
}

const char *vknmt_readout_name(vknmt_readout r) { return r == VKNMT_READOUT_LINEAR ? "linear" : "maxout"; }
const char *vknmt_attention_name(vknmt_attention a) { return a == VKNMT_ATTENTION_NONE ? "none" : "additive"; }

vknmt_status vknmt_config_check(const vknmt_model_config *c, char *err, size_t err_size)
{
    if (c->vs < 4 || c->vt < 4) {
        snprintf(err, err_size, "vocabularies of %u and %u words: each needs the 4 specials", c->vs, c->vt);
        return VKNMT_ERR_USAGE;
    }
    if (!c->m || !c->n || !c->na || !c->l) {
        snprintf(err, err_size, "model sizes must be >= 1 (m %u, n %u, na %u, l %u)", c->m, c->n, c->na, c->l);
        return VKNMT_ERR_USAGE;
    }
    return VKNMT_OK;
}
