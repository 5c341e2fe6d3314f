/* vknmt grad: the loss and gradient of one batch, computed on the device,
 * written in the format of shared/ref/check_grads.py so the two can be
 * compared tensor by tensor (shared/ref/compare_grads.py). */
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cli.h"
#include "rnnsearch.h"

static int32_t *read_ints(const vknmt_st *st, const char *file, const char *name, uint32_t ndim, uint64_t *shape)
{
    const vknmt_st_tensor *t = vknmt_st_find(st, name);
    if (!t || t->ndim != ndim) {
        fprintf(stderr, "vknmt grad: %s: tensor '%s' missing or not %u-D\n", file, name, ndim);
        return NULL;
    }
    int32_t *v = malloc(t->numel * sizeof(int32_t) + 1);
    char err[512];
    if (!v || vknmt_st_to_i32(t, v, t->numel, err, sizeof(err)) != VKNMT_OK) {
        fprintf(stderr, "vknmt grad: %s: %s\n", file, v ? err : "out of memory");
        free(v);
        return NULL;
    }
    memcpy(shape, t->shape, ndim * sizeof(uint64_t));
    return v;
}

int vknmt_cmd_grad(vknmt_cli *cli, int argc, char **argv)
{
    const char *model_path = NULL, *batch_path = NULL, *out_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--model") == 0 || strcmp(argv[i], "-m") == 0)
            model_path = vknmt_cli_value(argc, argv, &i);
        else if (strcmp(argv[i], "--batch") == 0)
            batch_path = vknmt_cli_value(argc, argv, &i);
        else if (strcmp(argv[i], "--out") == 0 || strcmp(argv[i], "-o") == 0)
            out_path = vknmt_cli_value(argc, argv, &i);
        else {
            fprintf(stderr, "vknmt grad: unknown argument %s\n", argv[i]);
            return 2;
        }
    }
    if (!model_path || !batch_path || !out_path) {
        fprintf(stderr, "usage: vknmt grad --model PARAMS.safetensors --batch BATCH.safetensors --out GRADS.safetensors\n");
        return 2;
    }
    int rc = 1;
    char err[1024];
    vknmt_st *pst = NULL, *bst = NULL;
    vknmt_st_writer *wr = NULL;
    vknmt_model *model = NULL;
    float *flat = NULL, *grads = NULL;
    int32_t *src = NULL, *src_len = NULL, *tgt = NULL, *tgt_len = NULL;
    vknmt_model_config cfg;
    vknmt_param_layout lay;
    if (vknmt_st_open(model_path, &pst, err, sizeof(err)) || vknmt_params_from_st(pst, &cfg, &lay, &flat, err, sizeof(err))) {
        fprintf(stderr, "vknmt grad: %s: %s\n", model_path, err);
        goto done;
    }
    if (vknmt_st_open(batch_path, &bst, err, sizeof(err))) {
        fprintf(stderr, "vknmt grad: %s\n", err);
        goto done;
    }
    uint64_t ss[2], sl[1], ts[2], tl[1];
    if (!(src = read_ints(bst, batch_path, "src", 2, ss)) || !(src_len = read_ints(bst, batch_path, "src_len", 1, sl)) ||
        !(tgt = read_ints(bst, batch_path, "tgt", 2, ts)) || !(tgt_len = read_ints(bst, batch_path, "tgt_len", 1, tl)))
        goto done;
    if (ss[0] != sl[0] || ts[0] != sl[0] || tl[0] != sl[0]) {
        fprintf(stderr, "vknmt grad: %s: src, src_len, tgt and tgt_len disagree on the batch size\n", batch_path);
        goto done;
    }
    vknmt_batch batch = {(uint32_t)ss[0], (uint32_t)ss[1], (uint32_t)ts[1], src, src_len, tgt, tgt_len};
    if (!vknmt_cli_open(cli))
        goto done;
    vknmt_loss loss;
    vknmt_status s = vknmt_model_create(cli->ctx, &cfg, &model);
    if (!s)
        s = vknmt_model_params_upload(model, flat);
    if (!s)
        s = vknmt_model_loss(model, &batch, true, &loss);
    grads = malloc(lay.total * sizeof(float));
    if (!s && !grads)
        s = VKNMT_ERR_OOM_HOST;
    if (!s)
        s = vknmt_model_grads_download(model, grads);
    if (s) {
        fprintf(stderr, "vknmt grad: %s: %s\n", batch_path, vknmt_context_errmsg(cli->ctx));
        goto done;
    }
    double scalars[3] = {loss.loss, loss.ce, (double)loss.ntok};
    static const char *scalar_names[3] = {"loss", "ce", "ntok"};
    uint64_t one = 1;
    char names[VKNMT_MAX_PARAMS][64];
    if (vknmt_st_writer_create(&wr))
        goto done;
    for (uint32_t i = 0; i < lay.count && !s; i++) {
        const vknmt_param *p = &lay.p[i];
        uint64_t shape[2] = {p->rows, p->cols};
        snprintf(names[i], sizeof(names[i]), "grad.%s", p->name);
        s = vknmt_st_writer_add(wr, names[i], VKNMT_ST_F32, p->ndim, shape, grads + p->offset);
    }
    for (int i = 0; i < 3 && !s; i++)
        s = vknmt_st_writer_add(wr, scalar_names[i], VKNMT_ST_F64, 1, &one, &scalars[i]);
    char config[256];
    snprintf(config, sizeof(config),
             "{\"Vs\":%u,\"Vt\":%u,\"m\":%u,\"n\":%u,\"na\":%u,\"l\":%u,\"readout\":\"%s\",\"attention\":\"%s\"}", cfg.vs,
             cfg.vt, cfg.m, cfg.n, cfg.na, cfg.l, vknmt_readout_name(cfg.readout), vknmt_attention_name(cfg.attention));
    if (!s)
        s = vknmt_st_writer_set_metadata(wr, "config", config);
    if (!s)
        s = vknmt_st_writer_set_metadata(wr, "source", "vknmt grad (fp32, device)");
    if (s || vknmt_st_writer_save(wr, out_path, err, sizeof(err))) {
        fprintf(stderr, "vknmt grad: %s: %s\n", out_path, s ? vknmt_st_writer_errmsg(wr) : err);
        goto done;
    }
    printf("loss %.9g  ce %.9g  ntok %u  (%s, %s readout, %s attention)\n", loss.loss, loss.ce, loss.ntok,
           vknmt_context_caps(cli->ctx)->info.name, vknmt_readout_name(cfg.readout),
           vknmt_attention_name(cfg.attention));
    rc = 0;
done:
    vknmt_st_writer_destroy(wr);
    vknmt_model_destroy(model);
    vknmt_st_destroy(pst);
    vknmt_st_destroy(bst);
    free(flat);
    free(grads);
    free(src);
    free(src_len);
    free(tgt);
    free(tgt_len);
    return rc;
}
