#include "checkpoint.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static const vknmt_st_tensor *matrix(const vknmt_st *st, const char *name)
{
    const vknmt_st_tensor *t = vknmt_st_find(st, name);
    return t && t->ndim == 2 ? t : NULL;
}

vknmt_status vknmt_params_from_st(const vknmt_st *st, vknmt_model_config *cfg, vknmt_param_layout *lay,
                                  float **flat, char *err, size_t err_size)
{
    *flat = NULL;
    const vknmt_st_tensor *emb = matrix(st, "enc.emb"), *demb = matrix(st, "dec.emb"), *u = matrix(st, "enc.fwd.U");
    if (!emb || !demb || !u) {
        snprintf(err, err_size, "not an RNNsearch parameter file: enc.emb, dec.emb or enc.fwd.U missing or not 2-D");
        return VKNMT_ERR_INPUT;
    }
    vknmt_model_config c = {.vs = (uint32_t)emb->shape[0], .m = (uint32_t)emb->shape[1],
                            .vt = (uint32_t)demb->shape[0], .n = (uint32_t)u->shape[1]};
    const vknmt_st_tensor *attw = matrix(st, "att.W"), *outu = matrix(st, "out.U");
    c.attention = attw ? VKNMT_ATTENTION_ADDITIVE : VKNMT_ATTENTION_NONE;
    c.na = attw ? (uint32_t)attw->shape[0] : 1;
    c.readout = outu ? VKNMT_READOUT_MAXOUT : VKNMT_READOUT_LINEAR;
    c.l = outu ? (uint32_t)outu->shape[0] / 2 : 1;
    vknmt_status s = vknmt_config_check(&c, err, err_size);
    if (s)
        return s;
    vknmt_param_layout_make(&c, lay);
    float *f = calloc(lay->total, sizeof(float));
    if (!f)
        return VKNMT_ERR_OOM_HOST;
    for (uint32_t i = 0; i < lay->count; i++) {
        const vknmt_param *p = &lay->p[i];
        const vknmt_st_tensor *t = vknmt_st_find(st, p->name);
        bool shape_ok = t && t->ndim == p->ndim && t->shape[0] == p->rows && (p->ndim == 1 || t->shape[1] == p->cols);
        if (!shape_ok) {
            if (t && p->ndim == 2)
                snprintf(err, err_size, "tensor %s: shape does not fit the others (expected [%u, %u])", p->name,
                         p->rows, p->cols);
            else if (t)
                snprintf(err, err_size, "tensor %s: shape does not fit the others (expected [%u])", p->name, p->rows);
            else
                snprintf(err, err_size, "tensor %s is missing", p->name);
            free(f);
            return VKNMT_ERR_INPUT;
        }
        if ((s = vknmt_st_to_f32(t, f + p->offset, vknmt_param_size(p), err, err_size))) {
            free(f);
            return s;
        }
    }
    *cfg = c;
    *flat = f;
    return VKNMT_OK;
}

vknmt_status vknmt_params_to_writer(vknmt_st_writer *w, const vknmt_model_config *c, const vknmt_param_layout *lay,
                                    const float *flat)
{
    vknmt_status s = VKNMT_OK;
    for (uint32_t i = 0; i < lay->count && !s; i++) {
        const vknmt_param *p = &lay->p[i];
        uint64_t shape[2] = {p->rows, p->cols};
        s = vknmt_st_writer_add(w, p->name, VKNMT_ST_F32, p->ndim, shape, flat + p->offset);
    }
    char config[256], v[7][32];
    snprintf(config, sizeof(config),
             "{\"Vs\":%u,\"Vt\":%u,\"m\":%u,\"n\":%u,\"na\":%u,\"l\":%u,\"readout\":\"%s\",\"attention\":\"%s\"}",
             c->vs, c->vt, c->m, c->n, c->na, c->l, vknmt_readout_name(c->readout), vknmt_attention_name(c->attention));
    const char *keys[7] = {"Vs", "Vt", "m", "n", "na", "l", NULL};
    uint32_t vals[6] = {c->vs, c->vt, c->m, c->n, c->na, c->l};
    for (int i = 0; i < 6 && !s; i++) {
        snprintf(v[i], sizeof(v[i]), "%u", vals[i]);
        s = vknmt_st_writer_set_metadata(w, keys[i], v[i]);
    }
    if (!s)
        s = vknmt_st_writer_set_metadata(w, "readout", vknmt_readout_name(c->readout));
    if (!s)
        s = vknmt_st_writer_set_metadata(w, "attention", vknmt_attention_name(c->attention));
    if (!s)
        s = vknmt_st_writer_set_metadata(w, "config", config);
    if (!s)
        s = vknmt_st_writer_set_metadata(w, "format", "rnnsearch");
    return s;
}
