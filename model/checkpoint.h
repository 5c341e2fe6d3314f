/* Parameters in and out of .safetensors files with the spec's tensor names. */
#ifndef VKNMT_CHECKPOINT_H
#define VKNMT_CHECKPOINT_H

#include "params.h"
#include "safetensors.h"

/* Infers the configuration from the tensors' shapes, as the spec allows
 * (att.W absent: attention none; out.U absent: readout linear), checks that
 * every tensor of that configuration is there with its shape, and fills a
 * new flat buffer (free() it) in the layout's order. Tensors not in the
 * spec are ignored. */
vknmt_status vknmt_params_from_st(const vknmt_st *st, vknmt_model_config *cfg, vknmt_param_layout *lay,
                                  float **flat, char *err, size_t err_size);

/* Adds every parameter of the flat buffer under its spec name (F32) and
 * the configuration to the writer's metadata: "format" = "rnnsearch",
 * "config" = {"Vs":..,"Vt":..,"m":..,"n":..,"na":..,"l":..,"readout":..,
 * "attention":..} and the same keys one by one, as shared/ref reads them. */
vknmt_status vknmt_params_to_writer(vknmt_st_writer *w, const vknmt_model_config *cfg,
                                    const vknmt_param_layout *lay, const float *flat);

#endif
