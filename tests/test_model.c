/* The device model against the independent PyTorch implementation's
 * float64 numbers (shared/fixtures): loss and every parameter gradient. */
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "harness.h"
#include "model_internal.h" /* decoding's word table, and its switch */
#include "ref_model.h"
#include "rnnsearch.h"

static void fixture_path(char *out, size_t n, const char *name, const char *kind)
{
    snprintf(out, n, "%s/fixtures/%s.%s.safetensors", th_shared_dir(), name, kind);
}

static int32_t *ints(const vknmt_st *st, const char *name, uint64_t *count)
{
    const vknmt_st_tensor *t = vknmt_st_find(st, name);
    if (!t)
        return NULL;
    int32_t *v = malloc(t->numel * sizeof(int32_t));
    char err[256];
    if (v && vknmt_st_to_i32(t, v, t->numel, err, sizeof(err)) != VKNMT_OK) {
        free(v);
        return NULL;
    }
    *count = t->numel;
    return v;
}

/* A fixture's parameters and batch, loaded. */
typedef struct fixture {
    vknmt_model_config cfg;
    vknmt_param_layout lay;
    float *flat;
    int32_t *src, *src_len, *tgt, *tgt_len;
    vknmt_batch batch;
} fixture;

static void fixture_free(fixture *f)
{
    free(f->flat);
    free(f->src);
    free(f->src_len);
    free(f->tgt);
    free(f->tgt_len);
}

static bool fixture_load(const char *name, fixture *f, char *err, size_t n)
{
    char path[1024];
    vknmt_st *pst = NULL, *bst = NULL;
    memset(f, 0, sizeof(*f));
    fixture_path(path, sizeof(path), name, "params");
    bool ok = vknmt_st_open(path, &pst, err, n) == VKNMT_OK &&
              vknmt_params_from_st(pst, &f->cfg, &f->lay, &f->flat, err, n) == VKNMT_OK;
    fixture_path(path, sizeof(path), name, "batch");
    ok = ok && vknmt_st_open(path, &bst, err, n) == VKNMT_OK;
    uint64_t ns = 0, nsl = 0, nt = 0, ntl = 0;
    if (ok) {
        f->src = ints(bst, "src", &ns);
        f->src_len = ints(bst, "src_len", &nsl);
        f->tgt = ints(bst, "tgt", &nt);
        f->tgt_len = ints(bst, "tgt_len", &ntl);
        ok = f->src && f->src_len && f->tgt && f->tgt_len && nsl && ntl;
        if (!ok)
            snprintf(err, n, "%s: batch tensors missing", name);
    }
    if (ok)
        f->batch = (vknmt_batch){(uint32_t)nsl, (uint32_t)(ns / nsl), (uint32_t)(nt / ntl), f->src, f->src_len,
                                 f->tgt, f->tgt_len};
    vknmt_st_destroy(pst);
    vknmt_st_destroy(bst);
    return ok;
}

static void check_fixture(th_env *env, const char *name)
{
    char path[1024], err[512];
    vknmt_st *gst = NULL;
    fixture fx;
    CHECK(fixture_load(name, &fx, err, sizeof(err)), "%s", err);
    fixture_path(path, sizeof(path), name, "grads");
    CHECK(vknmt_st_open(path, &gst, err, sizeof(err)) == VKNMT_OK, "%s", err);
    const vknmt_param_layout lay = fx.lay;

    vknmt_model *model = NULL;
    CHECK_OK(env, vknmt_model_create(env->ctx, &fx.cfg, &model));
    CHECK_OK(env, vknmt_model_params_upload(model, fx.flat));
    vknmt_loss loss;
    vknmt_status s = vknmt_model_loss(model, &fx.batch, true, &loss);
    CHECK(s == VKNMT_OK, "%s: %s", name, vknmt_context_errmsg(env->ctx));
    float *grads = malloc(lay.total * sizeof(float));
    CHECK(grads, "out of memory");
    CHECK_OK(env, vknmt_model_grads_download(model, grads));

    double want_loss, want_ntok;
    CHECK(vknmt_st_to_f64(vknmt_st_find(gst, "loss"), &want_loss, 1, err, sizeof(err)) == VKNMT_OK &&
              vknmt_st_to_f64(vknmt_st_find(gst, "ntok"), &want_ntok, 1, err, sizeof(err)) == VKNMT_OK,
          "fixture loss");
    CHECK(fabs(loss.loss - want_loss) <= 1e-5 * fabs(want_loss), "%s: loss %.9g, reference %.9g", name, loss.loss,
          want_loss);
    CHECK(loss.ntok == (uint32_t)want_ntok, "%s: %u tokens, reference %g", name, loss.ntok, want_ntok);
    for (uint32_t i = 0; i < lay.count; i++) {
        const vknmt_param *p = &lay.p[i];
        char gname[64];
        snprintf(gname, sizeof(gname), "grad.%s", p->name);
        const vknmt_st_tensor *t = vknmt_st_find(gst, gname);
        CHECK(t && t->numel == vknmt_param_size(p), "%s: fixture lacks %s", name, gname);
        double *want = malloc(t->numel * sizeof(double));
        CHECK(want && vknmt_st_to_f64(t, want, t->numel, err, sizeof(err)) == VKNMT_OK, "%s", gname);
        double e = th_rel_err(grads + p->offset, want, t->numel, 1e-30);
        free(want);
        CHECK(e <= 1e-4, "%s: %s relative error %g > 1e-4", name, gname, e);
    }
    free(grads);
    fixture_free(&fx);
    vknmt_model_destroy(model);
    vknmt_st_destroy(gst);
}

static void test_maxout_additive(th_env *env) { check_fixture(env, "tiny-maxout-additive"); }
static void test_linear_additive(th_env *env) { check_fixture(env, "tiny-linear-additive"); }
static void test_maxout_none(th_env *env) { check_fixture(env, "tiny-maxout-none"); }

/* Against the float64 C reference on random O(1) models and ragged batches
 * (batch 1 and length 1 included), every readout/attention combination,
 * at tiny and small-like shapes. */
static void check_random(th_env *env, vknmt_model_config cfg, int B, int Tx, int Ty, bool ones)
{
    char err[512];
    ref_config rc = {(int)cfg.vs, (int)cfg.vt, (int)cfg.m, (int)cfg.n, (int)cfg.na, (int)cfg.l,
                     cfg.readout == VKNMT_READOUT_MAXOUT ? REF_READOUT_MAXOUT : REF_READOUT_LINEAR,
                     cfg.attention == VKNMT_ATTENTION_ADDITIVE ? REF_ATT_ADDITIVE : REF_ATT_NONE};
    ref_model rm;
    ref_batch rb;
    CHECK(ref_model_init(&rm, &rc) == VKNMT_OK && ref_batch_init(&rb, B, Tx, Ty) == VKNMT_OK, "reference init");
    vknmt_param_layout lay;
    vknmt_param_layout_make(&cfg, &lay);
    float *flat = calloc(lay.total, sizeof(float)), *grads = malloc(lay.total * sizeof(float));
    CHECK(flat && grads, "out of memory");
    for (uint32_t i = 0; i < lay.count; i++) {
        ref_tensor *t = ref_model_param(&rm, lay.p[i].name);
        CHECK(t && t->size == vknmt_param_size(&lay.p[i]), "%s", lay.p[i].name);
        /* O(1) pre-activations exercise every nonlinearity at any width */
        float a = lay.p[i].ndim == 2 ? 1.5f / sqrtf((float)lay.p[i].cols) : 0.5f;
        for (size_t k = 0; k < t->size; k++) {
            float v = th_uniform(-a, a);
            flat[lay.p[i].offset + k] = v;
            t->data[k] = v;
        }
    }
    for (int k = 0; k < B; k++) {
        rb.src_len[k] = ones ? 1 : 1 + (int)(th_rand_u64() % (uint64_t)Tx);
        rb.tgt_len[k] = ones ? 1 : 1 + (int)(th_rand_u64() % (uint64_t)Ty);
        if (k == 0 && !ones) { /* the longest on both sides, so no column is all padding */
            rb.src_len[k] = Tx;
            rb.tgt_len[k] = Ty;
        }
        for (int t = 0; t < Tx; t++)
            rb.src[k * Tx + t] = t < rb.src_len[k] - 1 ? 4 + (int32_t)(th_rand_u64() % (cfg.vs - 4))
                                 : t == rb.src_len[k] - 1 ? 3 : 0;
        for (int t = 0; t < Ty; t++)
            rb.tgt[k * Ty + t] = t < rb.tgt_len[k] - 1 ? 1 + (int32_t)(th_rand_u64() % (cfg.vt - 1))
                                 : t == rb.tgt_len[k] - 1 ? 3 : 0;
    }
    ref_grads rg = {0};
    CHECK(ref_model_loss_grad(&rm, &rb, &rg, err, sizeof(err)) == VKNMT_OK, "reference: %s", err);
    vknmt_model *model = NULL;
    CHECK_OK(env, vknmt_model_create(env->ctx, &cfg, &model));
    CHECK_OK(env, vknmt_model_params_upload(model, flat));
    vknmt_batch batch = {(uint32_t)B, (uint32_t)Tx, (uint32_t)Ty, rb.src, rb.src_len, rb.tgt, rb.tgt_len};
    vknmt_loss loss;
    for (int run = 0; run < 2; run++) { /* a second run on the same workspace gives the same answer */
        vknmt_status s = vknmt_model_loss(model, &batch, true, &loss);
        CHECK(s == VKNMT_OK, "%s", vknmt_context_errmsg(env->ctx));
        CHECK(fabs(loss.loss - rg.loss) <= 1e-5 * fabs(rg.loss), "B=%d: loss %.9g, reference %.9g", B, loss.loss,
              rg.loss);
        CHECK_OK(env, vknmt_model_grads_download(model, grads));
        for (uint32_t i = 0; i < lay.count; i++) {
            const ref_tensor *gt = ref_model_cparam(&rg.grad, lay.p[i].name);
            double e = th_rel_err(grads + lay.p[i].offset, gt->data, gt->size, 1e-30);
            CHECK(e <= 1e-4, "%s %s B=%d Tx=%d Ty=%d run %d: grad.%s relative error %g", vknmt_readout_name(cfg.readout),
                  vknmt_attention_name(cfg.attention), B, Tx, Ty, run, lay.p[i].name, e);
        }
    }
    vknmt_model_destroy(model);
    ref_grads_free(&rg);
    ref_model_free(&rm);
    ref_batch_free(&rb);
    free(flat);
    free(grads);
}

static void for_combinations(th_env *env, vknmt_model_config cfg, int B, int Tx, int Ty)
{
    for (int r = 0; r < 2 && !th_failed(); r++)
        for (int a = 0; a < 2 && !th_failed(); a++) {
            cfg.readout = (vknmt_readout)r;
            cfg.attention = (vknmt_attention)a;
            check_random(env, cfg, B, Tx, Ty, false);
            if (!th_failed())
                check_random(env, cfg, 1, 1, 1, true); /* batch 1, length 1 */
        }
}

static void test_random_tiny(th_env *env)
{
    vknmt_model_config cfg;
    vknmt_config_preset("tiny", &cfg);
    for_combinations(env, cfg, 7, 9, 8);
    if (!th_failed()) /* targets longer than sources (dec.emb's gradient once went astray there) */
        for_combinations(env, cfg, 6, 4, 11);
}

static void test_random_small_shapes(th_env *env)
{
    /* the small preset's widths (256), a smaller vocabulary to keep it quick */
    vknmt_model_config cfg;
    vknmt_config_preset("small", &cfg);
    cfg.vs = cfg.vt = 301;
    for_combinations(env, cfg, 5, 6, 5);
}

/* A training step moves every parameter by Adam's first update,
 * -lr * g / (|g| + eps), from the gradient vknmt_model_loss computes. */
static void test_train_step_update(th_env *env)
{
    char err[512];
    fixture fx;
    CHECK(fixture_load("tiny-maxout-additive", &fx, err, sizeof(err)), "%s", err);
    const vknmt_param_layout lay = fx.lay;
    const float *p0 = fx.flat;
    const vknmt_batch batch = fx.batch;
    vknmt_model *model = NULL;
    CHECK_OK(env, vknmt_model_create(env->ctx, &fx.cfg, &model));
    CHECK_OK(env, vknmt_model_params_upload(model, p0));
    float *g = malloc(lay.total * 4), *p1 = malloc(lay.total * 4);
    vknmt_loss loss;
    CHECK_OK(env, vknmt_model_loss(model, &batch, true, &loss));
    CHECK_OK(env, vknmt_model_grads_download(model, g));
    vknmt_train_options opt = vknmt_train_defaults();
    opt.optimizer = VKNMT_ADAM;
    opt.lr = 0.01f;
    opt.clip = 0; /* no clipping: the update is -lr g / (|g| + eps) */
    vknmt_step_result r;
    CHECK_OK(env, vknmt_model_train_step(model, &batch, &opt, &r));
    CHECK_OK(env, vknmt_model_params_download(model, p1));
    CHECK(fabs(r.loss.loss - loss.loss) < 1e-6 * loss.loss, "the step's loss %g, the loss %g", r.loss.loss, loss.loss);
    double worst = 0;
    for (uint64_t i = 0; i < lay.total; i++) {
        double want = p0[i] - 0.01 * g[i] / (fabs(g[i]) + 1e-8); /* Adam eps 1e-8 */
        worst = fmax(worst, fabs(p1[i] - want));
    }
    CHECK(worst < 1e-6, "parameters off Adam's first step by %g", worst);
    free(g);
    free(p1);
    fixture_free(&fx);
    vknmt_model_destroy(model);
}

/* The first source sentence decoded greedily and with beam 3, with
 * decoding's tables (the word table and out.W's panels, where they serve)
 * and without (the products, out.W itself): the same tokens, score and
 * attention bits. */
static void decodes_agree(th_env *env, vknmt_model *model, const vknmt_batch *b, const char *when)
{
    for (uint32_t beam = 1; beam <= 3 && !th_failed(); beam += 2) {
        vknmt_translation t[2];
        for (int pass = 0; pass < 2; pass++) {
            model->no_tables = pass == 1;
            vknmt_beam_options o = {.beam = beam, .nbest = 1};
            vknmt_status s = beam == 1 ? vknmt_model_greedy(model, 1, b->tx, b->src, b->src_len, NULL, &t[pass])
                                       : vknmt_model_beam(model, 1, b->tx, b->src, b->src_len, &o, &t[pass]);
            CHECK(s == VKNMT_OK, "%s: %s", when, vknmt_context_errmsg(env->ctx));
        }
        model->no_tables = false;
        CHECK(t[0].len == t[1].len && t[0].len > 0 && memcmp(t[0].tokens, t[1].tokens, t[0].len * 4) == 0 &&
                  memcmp(&t[0].logprob, &t[1].logprob, sizeof(double)) == 0 &&
                  memcmp(t[0].alpha, t[1].alpha, (size_t)t[0].len * t[0].src_len * 4) == 0,
              "%s, beam %u: the tables' translation differs from the products' (%u / %u words, %.9g / %.9g)",
              when, beam, t[0].len, t[1].len, t[0].logprob, t[1].logprob);
        vknmt_translation_free(&t[0]);
        vknmt_translation_free(&t[1]);
    }
}

/* Decoding's tables hold the current parameters': made at the first
 * decode, made again after a training step and after an upload (a stale
 * table would decode with the old embeddings' products, stale panels with
 * the old out.W). */
static void test_tables_follow_parameters(th_env *env)
{
    char err[512];
    fixture fx;
    CHECK(fixture_load("tiny-maxout-additive", &fx, err, sizeof(err)), "%s", err);
    vknmt_model *model = NULL;
    CHECK_OK(env, vknmt_model_create(env->ctx, &fx.cfg, &model));
    CHECK_OK(env, vknmt_model_params_upload(model, fx.flat));
    bool serves = vknmt_model_tables_serve(model, 1), panels = vknmt_model_panels_serve(model, 1);
    decodes_agree(env, model, &fx.batch, "loaded");
    CHECK(model->tables_fresh == (serves || panels) && (model->word_table != NULL) == serves &&
              (model->panels != NULL) == panels,
          "the word table (%s) or out.W's panels (%s) made where they do not serve, or not where they do",
          serves ? "serves" : "does not serve", panels ? "serve" : "do not serve");
    vknmt_train_options opt = vknmt_train_defaults();
    opt.optimizer = VKNMT_ADAM;
    opt.lr = 0.05f;
    vknmt_step_result r;
    CHECK_OK(env, vknmt_model_train_step(model, &fx.batch, &opt, &r));
    decodes_agree(env, model, &fx.batch, "after a training step");
    CHECK_OK(env, vknmt_model_params_upload(model, fx.flat));
    decodes_agree(env, model, &fx.batch, "uploaded again");
    fixture_free(&fx);
    vknmt_model_destroy(model);
}

void th_register_model(void)
{
    th_add("model", "fixture_maxout_additive", test_maxout_additive);
    th_add("model", "fixture_linear_additive", test_linear_additive);
    th_add("model", "fixture_maxout_none", test_maxout_none);
    th_add("model", "random_tiny_all_variants", test_random_tiny);
    th_add("model", "train_step_update", test_train_step_update);
    th_add("model", "tables_follow_parameters", test_tables_follow_parameters);
    th_add("model", "random_small_shapes_all_variants", test_random_small_shapes);
}
