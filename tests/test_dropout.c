/* Dropout as a training option (model/dropout.h, shaders/dropout.comp):
 * the shader's mask against the same hash in C, the device's training-step
 * loss and gradient against the float64 reference with the same mask (and
 * that reference against finite differences), P = 0 bit for bit the
 * paper's step, the dev loss untouched, and the CLI's --dropout with exact
 * resume. */
#include <stdlib.h>
#include <string.h>

#include "dropout.h"
#include "harness.h"
#include "ref_model.h"
#include "rnnsearch.h"
#include "safetensors.h"

/* ------------------------------------------------------------- the mask */

static void check_mask(th_env *env, uint32_t n, float p, uint32_t seed, uint32_t step)
{
    vknmt_dropout_key k = vknmt_dropout_key_make(p, seed, step, VKNMT_DROPOUT_SALT_READOUT);
    th_gbuf g;
    float *got = malloc((size_t)n * sizeof(float));
    CHECK(got && th_gbuf_create(env, n, &g), "buffers for %u", n);
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    CHECK_OK(env, vknmt_dropout_mask(env->seq, &k, th_gbuf_ref(&g), n));
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    CHECK(th_gbuf_download(&g, got) && th_gbuf_guards_ok(&g), "n %u: guards overwritten", n);
    uint64_t kept = 0;
    for (uint32_t i = 0; i < n; i++) {
        float want = vknmt_dropout_keep(&k, i) ? k.scale : 0.0f;
        CHECK(memcmp(&got[i], &want, 4) == 0, "n %u P %g: element %u is %g, the C hash says %g", n, (double)p, i,
              (double)got[i], (double)want);
        kept += got[i] != 0;
    }
    /* kept ~ Binomial(n, 1 - P): within 5 standard deviations (+1 for tiny n) */
    double mean = n * (1.0 - p), sd = sqrt(n * (double)p * (1.0 - p));
    CHECK(fabs((double)kept - mean) <= 5 * sd + 1, "n %u P %g: %llu kept, expected %.0f +- %.0f", n, (double)p,
          (unsigned long long)kept, mean, sd);
    CHECK(fabs(k.scale - 1.0 / (1.0 - p)) <= 1e-6 / (1.0 - p), "scale %g for P %g", (double)k.scale, (double)p);
    th_gbuf_destroy(&g);
    free(got);
}

static void test_mask_matches_c(th_env *env)
{
    static const uint32_t sizes[] = {1, 7, 1000003, 65535u * 64 + 4099}; /* the last needs a 2-D grid */
    static const float ps[] = {0.3f, 0.5f, 0.05f, 0.9f};
    for (int i = 0; i < 4 && !th_failed(); i++)
        check_mask(env, sizes[i], ps[i], 1234u + (uint32_t)i, 7u * (uint32_t)i + 1);
}

/* Different seeds, steps and sites draw different masks (each about as
 * independent as two coin tosses); the same key the same mask. */
static void test_mask_streams(th_env *env)
{
    (void)env;
    const uint32_t n = 200000;
    vknmt_dropout_key a = vknmt_dropout_key_make(0.5f, 1, 1, VKNMT_DROPOUT_SALT_READOUT);
    vknmt_dropout_key other[3] = {a, a, a};
    other[0].seed = 2;
    other[1].step = 2;
    other[2].salt = 2;
    for (int o = 0; o < 3; o++) {
        uint32_t same = 0;
        for (uint32_t i = 0; i < n; i++)
            same += vknmt_dropout_keep(&a, i) == vknmt_dropout_keep(&other[o], i);
        CHECK(fabs(same - n / 2.0) < 5 * sqrt(n / 4.0), "%s: %u of %u decisions agree",
              o == 0 ? "seed" : o == 1 ? "step" : "salt", same, n);
    }
    /* neighbouring indices are not correlated either */
    uint32_t agree = 0;
    for (uint32_t i = 0; i + 1 < n; i++)
        agree += vknmt_dropout_keep(&a, i) == vknmt_dropout_keep(&a, i + 1);
    CHECK(fabs(agree - n / 2.0) < 5 * sqrt(n / 4.0), "adjacent decisions agree %u of %u", agree, n);
}

/* In place on a 2-D window: the window's elements times the mask of
 * index r * mask_ld + col0 + c, the gaps between its rows untouched. */
static void test_apply_window(th_env *env)
{
    const uint32_t rows = 37, cols = 13, ld = 20, mask_ld = 50, col0 = 9, n = (rows - 1) * ld + cols;
    vknmt_dropout_key k = vknmt_dropout_key_make(0.4f, 99, 5, VKNMT_DROPOUT_SALT_READOUT);
    float *x = malloc(n * sizeof(float)), *got = malloc(n * sizeof(float));
    th_gbuf g;
    CHECK(x && got && th_gbuf_create(env, n, &g), "buffers");
    th_fill_uniform(x, n, -2, 2);
    CHECK(th_gbuf_upload(&g, x), "upload");
    vknmt_dropout_window win = {rows, cols, ld, mask_ld, col0};
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    CHECK_OK(env, vknmt_dropout_apply(env->seq, &k, th_gbuf_ref(&g), &win));
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    CHECK(th_gbuf_download(&g, got) && th_gbuf_guards_ok(&g), "guards");
    uint32_t zeros = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t r = i / ld, c = i % ld;
        float want = x[i];
        if (c < cols)
            want = x[i] * (vknmt_dropout_keep(&k, r * mask_ld + col0 + c) ? k.scale : 0.0f);
        zeros += c < cols && want == 0;
        CHECK(memcmp(&got[i], &want, 4) == 0, "element %u (row %u col %u): %g, want %g", i, r, c, (double)got[i],
              (double)want);
    }
    CHECK(zeros > 0 && zeros < rows * cols, "%u of %u dropped", zeros, rows * cols);
    th_gbuf_destroy(&g);
    free(x);
    free(got);
}

/* --------------------------------------------- the model against the reference */

/* A random O(1) model and a ragged batch, in both the device's and the
 * reference's form. */
typedef struct problem {
    vknmt_model_config cfg;
    vknmt_param_layout lay;
    ref_model rm;
    ref_batch rb;
    float *flat;
    vknmt_batch batch;
} problem;

static ref_config ref_cfg(const vknmt_model_config *cfg)
{
    ref_config rc = {(int)cfg->vs, (int)cfg->vt, (int)cfg->m, (int)cfg->n, (int)cfg->na, (int)cfg->l,
                     cfg->readout == VKNMT_READOUT_MAXOUT ? REF_READOUT_MAXOUT : REF_READOUT_LINEAR,
                     cfg->attention == VKNMT_ATTENTION_ADDITIVE ? REF_ATT_ADDITIVE : REF_ATT_NONE};
    return rc;
}

static void problem_free(problem *p)
{
    ref_model_free(&p->rm);
    ref_batch_free(&p->rb);
    free(p->flat);
}

static bool problem_make(problem *p, vknmt_model_config cfg, int B, int Tx, int Ty)
{
    memset(p, 0, sizeof(*p));
    p->cfg = cfg;
    ref_config rc = ref_cfg(&cfg);
    if (ref_model_init(&p->rm, &rc) != VKNMT_OK || ref_batch_init(&p->rb, B, Tx, Ty) != VKNMT_OK)
        return false;
    vknmt_param_layout_make(&cfg, &p->lay);
    p->flat = calloc(p->lay.total, sizeof(float));
    if (!p->flat)
        return false;
    for (uint32_t i = 0; i < p->lay.count; i++) {
        ref_tensor *t = ref_model_param(&p->rm, p->lay.p[i].name);
        if (!t || t->size != vknmt_param_size(&p->lay.p[i]))
            return false;
        float a = p->lay.p[i].ndim == 2 ? 1.5f / sqrtf((float)p->lay.p[i].cols) : 0.5f;
        for (size_t k = 0; k < t->size; k++)
            t->data[k] = p->flat[p->lay.p[i].offset + k] = th_uniform(-a, a);
    }
    ref_batch *rb = &p->rb;
    for (int k = 0; k < B; k++) {
        rb->src_len[k] = k == 0 ? Tx : 1 + (int)(th_rand_u64() % (uint64_t)Tx);
        rb->tgt_len[k] = k == 0 ? Ty : 1 + (int)(th_rand_u64() % (uint64_t)Ty);
        for (int t = 0; t < Tx; t++)
            rb->src[k * Tx + t] = t < rb->src_len[k] - 1 ? 4 + (int32_t)(th_rand_u64() % (cfg.vs - 4))
                                  : t == rb->src_len[k] - 1 ? 3 : 0;
        for (int t = 0; t < Ty; t++)
            rb->tgt[k * Ty + t] = t < rb->tgt_len[k] - 1 ? 1 + (int32_t)(th_rand_u64() % (cfg.vt - 1))
                                  : t == rb->tgt_len[k] - 1 ? 3 : 0;
    }
    p->batch = (vknmt_batch){(uint32_t)B, (uint32_t)Tx, (uint32_t)Ty, rb->src, rb->src_len, rb->tgt, rb->tgt_len};
    return true;
}

/* The reference model's parameters set to the device's (after an update). */
static void problem_set_params(problem *p, const float *flat)
{
    for (uint32_t i = 0; i < p->lay.count; i++) {
        ref_tensor *t = ref_model_param(&p->rm, p->lay.p[i].name);
        for (size_t k = 0; k < t->size; k++)
            t->data[k] = flat[p->lay.p[i].offset + k];
    }
}

/* Two training steps with dropout: each step's loss and gradient (the
 * optimiser only reads it) equal the reference's with the mask of that
 * update number, and differ from the ones without dropout. */
static void check_train_steps(th_env *env, vknmt_model_config cfg, int B, int Tx, int Ty, float p)
{
    char err[512];
    problem pr;
    CHECK(problem_make(&pr, cfg, B, Tx, Ty), "problem");
    vknmt_model *model = NULL;
    float *grads = malloc(pr.lay.total * sizeof(float)), *params = malloc(pr.lay.total * sizeof(float));
    CHECK(grads && params, "out of memory");
    CHECK_OK(env, vknmt_model_create(env->ctx, &cfg, &model));
    CHECK_OK(env, vknmt_model_params_upload(model, pr.flat));
    vknmt_train_options opt = vknmt_train_defaults();
    opt.optimizer = VKNMT_ADAM;
    /* Adam's first step moves every weight by lr in one direction: small,
     * or 256-wide layers saturate and step 2 checks cancellation, not dropout */
    opt.lr = 1e-4f;
    opt.dropout = p;
    opt.dropout_seed = 0xC0FFEEu;
    const char *ro = vknmt_readout_name(cfg.readout), *at = vknmt_attention_name(cfg.attention);
    for (uint32_t step = 1; step <= 2; step++) {
        CHECK_OK(env, vknmt_model_params_download(model, params));
        problem_set_params(&pr, params);
        vknmt_dropout_key key = vknmt_dropout_key_make(p, opt.dropout_seed, step, VKNMT_DROPOUT_SALT_READOUT);
        ref_grads rg = {0}, plain = {0};
        CHECK(ref_model_loss_grad_dropout(&pr.rm, &pr.rb, &key, &rg, err, sizeof(err)) == VKNMT_OK &&
                  ref_model_loss_grad(&pr.rm, &pr.rb, &plain, err, sizeof(err)) == VKNMT_OK,
              "reference: %s", err);
        vknmt_step_result r;
        vknmt_status s = vknmt_model_train_step(model, &pr.batch, &opt, &r);
        CHECK(s == VKNMT_OK && !r.skipped, "train step: %s", vknmt_context_errmsg(env->ctx));
        CHECK(vknmt_model_updates(model) == step, "updates %llu", (unsigned long long)vknmt_model_updates(model));
        CHECK(fabs(r.loss.loss - rg.loss) <= 1e-5 * fabs(rg.loss), "%s %s step %u: loss %.9g, reference %.9g", ro, at,
              step, r.loss.loss, rg.loss);
        CHECK_OK(env, vknmt_model_grads_download(model, grads));
        /* the mask matters: without it the output layer's gradient is another */
        const vknmt_param *ow = vknmt_param_find(&pr.lay, "out.W");
        const ref_tensor *pw = ref_model_cparam(&plain.grad, "out.W");
        double off = th_rel_err(grads + ow->offset, pw->data, pw->size, 1e-30);
        CHECK(off > 1e-2, "%s %s: grad.out.W with dropout is within %g of the one without", ro, at, off);
        for (uint32_t i = 0; i < pr.lay.count; i++) {
            const ref_tensor *gt = ref_model_cparam(&rg.grad, pr.lay.p[i].name);
            double e = th_rel_err(grads + pr.lay.p[i].offset, gt->data, gt->size, 1e-30);
            CHECK(e <= 1e-4, "%s %s B=%d P=%g step %u: grad.%s relative error %g", ro, at, B, (double)p, step,
                  pr.lay.p[i].name, e);
        }
        ref_grads_free(&rg);
        ref_grads_free(&plain);
    }
    vknmt_model_destroy(model);
    problem_free(&pr);
    free(grads);
    free(params);
}

static void for_combinations(th_env *env, vknmt_model_config cfg, int B, int Tx, int Ty)
{
    for (int r = 0; r < 2 && !th_failed(); r++)
        for (int a = 0; a < 2 && !th_failed(); a++) {
            cfg.readout = (vknmt_readout)r;
            cfg.attention = (vknmt_attention)a;
            check_train_steps(env, cfg, B, Tx, Ty, 0.3f);
        }
}

static void test_device_tiny(th_env *env)
{
    vknmt_model_config cfg;
    vknmt_config_preset("tiny", &cfg);
    for_combinations(env, cfg, 7, 9, 8);
    if (!th_failed())
        check_train_steps(env, cfg, 3, 4, 5, 0.75f); /* targets longer than sources */
}

static void test_device_small(th_env *env)
{
    vknmt_model_config cfg;
    vknmt_config_preset("small", &cfg);
    cfg.vs = cfg.vt = 301;
    for_combinations(env, cfg, 5, 6, 5);
}

#define FD_FLOOR 1e-3

/* The reference with dropout against central differences, mask fixed. */
static void test_reference_fd(th_env *env)
{
    (void)env;
    char err[256];
    for (int ro = 0; ro < 2 && !th_failed(); ro++) {
        vknmt_model_config cfg = {.vs = 13, .vt = 13, .m = 5, .n = 6, .na = 4, .l = 5,
                                  .readout = (vknmt_readout)ro, .attention = VKNMT_ATTENTION_ADDITIVE};
        problem pr;
        CHECK(problem_make(&pr, cfg, 3, 4, 5), "problem");
        vknmt_dropout_key key = vknmt_dropout_key_make(0.4f, 77, 3, VKNMT_DROPOUT_SALT_READOUT);
        ref_grads g = {0}, tmp = {0}, plain = {0};
        CHECK(ref_model_loss_grad_dropout(&pr.rm, &pr.rb, &key, &g, err, sizeof(err)) == VKNMT_OK &&
                  ref_model_loss_grad(&pr.rm, &pr.rb, &plain, err, sizeof(err)) == VKNMT_OK,
              "%s", err);
        const double h = 1e-5;
        double worst = 0;
        const char *where = "";
        for (int i = 0; i < pr.rm.count; i++) {
            ref_tensor *t = &pr.rm.t[i];
            const ref_tensor *gt = &g.grad.t[i];
            double gmax = 0, dmax = 0;
            for (size_t k = 0; k < t->size; k++) {
                double x = t->data[k];
                t->data[k] = x + h;
                ref_model_loss_dropout(&pr.rm, &pr.rb, &key, &tmp, err, sizeof(err));
                double lp = tmp.loss;
                t->data[k] = x - h;
                ref_model_loss_dropout(&pr.rm, &pr.rb, &key, &tmp, err, sizeof(err));
                double lm = tmp.loss;
                t->data[k] = x;
                gmax = fmax(gmax, fabs(gt->data[k]));
                dmax = fmax(dmax, fabs((lp - lm) / (2 * h) - gt->data[k]));
            }
            /* Central differences in float64 with h = 1e-5 carry ~1e-10 of
             * their own rounding and truncation error: a tensor whose
             * gradient is smaller than FD_FLOOR is measured against it (a
             * wrong mask or scale errs by the gradient's own size). */
            double e = dmax / fmax(gmax, FD_FLOOR);
            if (!(e <= worst)) {
                worst = e;
                where = t->name;
            }
        }
        /* the masked gradient is not the plain one (out.W sees the mask) */
        const ref_tensor *a = ref_model_cparam(&g.grad, "out.W"), *b = ref_model_cparam(&plain.grad, "out.W");
        double diff = 0;
        for (size_t k = 0; k < a->size; k++)
            diff = fmax(diff, fabs(a->data[k] - b->data[k]));
        ref_grads_free(&g);
        ref_grads_free(&tmp);
        ref_grads_free(&plain);
        problem_free(&pr);
        CHECK(worst < 1e-6, "%s: finite differences differ by %.3g in %s", ro ? "linear" : "maxout", worst, where);
        CHECK(diff > 1e-6, "%s: dropout left grad.out.W as it was", ro ? "linear" : "maxout");
    }
}

/* P = 0 is the paper's step bit for bit: the gradient of vknmt_model_loss,
 * and the same update whatever the dropout seed; vknmt_model_loss (the dev
 * loss) never drops anything, before or after a step with dropout. */
static void test_p0_and_dev_loss(th_env *env)
{
    vknmt_model_config cfg;
    vknmt_config_preset("tiny", &cfg);
    for (int r = 0; r < 2 && !th_failed(); r++) {
        cfg.readout = (vknmt_readout)r;
        problem pr;
        CHECK(problem_make(&pr, cfg, 6, 7, 6), "problem");
        uint64_t total = pr.lay.total;
        float *g0 = malloc(total * 4), *g1 = malloc(total * 4), *p1 = malloc(total * 4), *p2 = malloc(total * 4);
        CHECK(g0 && g1 && p1 && p2, "out of memory");
        vknmt_model *a = NULL, *b = NULL;
        CHECK_OK(env, vknmt_model_create(env->ctx, &cfg, &a));
        CHECK_OK(env, vknmt_model_create(env->ctx, &cfg, &b));
        CHECK_OK(env, vknmt_model_params_upload(a, pr.flat));
        CHECK_OK(env, vknmt_model_params_upload(b, pr.flat));
        vknmt_loss l0, l1;
        CHECK_OK(env, vknmt_model_loss(a, &pr.batch, true, &l0));
        CHECK_OK(env, vknmt_model_grads_download(a, g0));
        vknmt_train_options o0 = vknmt_train_defaults(), o1 = o0;
        CHECK(o0.dropout == 0.0f && o0.dropout_seed == 0, "defaults: dropout %g seed %u", (double)o0.dropout,
              o0.dropout_seed);
        o1.dropout_seed = 987654321u; /* P = 0: the seed must not matter */
        vknmt_step_result ra, rb;
        CHECK_OK(env, vknmt_model_train_step(a, &pr.batch, &o0, &ra));
        CHECK_OK(env, vknmt_model_grads_download(a, g1));
        CHECK(ra.loss.loss == l0.loss, "P=0 step loss %.9g, vknmt_model_loss %.9g", ra.loss.loss, l0.loss);
        CHECK(memcmp(g0, g1, total * 4) == 0, "P=0: the step's gradient is not vknmt_model_loss's bit for bit");
        CHECK_OK(env, vknmt_model_train_step(b, &pr.batch, &o1, &rb));
        CHECK_OK(env, vknmt_model_params_download(a, p1));
        CHECK_OK(env, vknmt_model_params_download(b, p2));
        CHECK(memcmp(p1, p2, total * 4) == 0 && ra.grad_norm == rb.grad_norm, "P=0 steps differ with the seed");

        /* dev loss: unchanged by a dropout step that moves nothing (Adam, lr 0) */
        vknmt_model *c = NULL;
        CHECK_OK(env, vknmt_model_create(env->ctx, &cfg, &c));
        CHECK_OK(env, vknmt_model_params_upload(c, pr.flat));
        CHECK_OK(env, vknmt_model_loss(c, &pr.batch, false, &l0));
        vknmt_train_options od = vknmt_train_defaults();
        od.optimizer = VKNMT_ADAM;
        od.lr = 0;
        od.dropout = 0.5f;
        od.dropout_seed = 5;
        vknmt_step_result rd;
        CHECK_OK(env, vknmt_model_train_step(c, &pr.batch, &od, &rd));
        /* the same deterministic computation but for the masks: any difference is the masks' (by how much
         * depends on the random problem: 4e-5 relative for test seed 1796414818) */
        CHECK(fabs(rd.loss.loss - l0.loss) > 1e-6 * l0.loss, "the dropout step's loss %.9g is the plain one %.9g",
              rd.loss.loss, l0.loss);
        CHECK_OK(env, vknmt_model_loss(c, &pr.batch, false, &l1));
        CHECK(l1.loss == l0.loss, "dev loss %.9g after a dropout step, %.9g before", l1.loss, l0.loss);
        CHECK_OK(env, vknmt_model_loss(c, &pr.batch, true, &l1));
        CHECK_OK(env, vknmt_model_grads_download(c, g1));
        CHECK(l1.loss == l0.loss && memcmp(g0, g1, total * 4) == 0,
              "vknmt_model_loss's gradient changed after a dropout step");
        /* a probability of 1 or more (or NaN) is refused */
        od.dropout = 1.0f;
        CHECK(vknmt_model_train_step(c, &pr.batch, &od, &rd) == VKNMT_ERR_USAGE, "dropout 1 accepted");
        od.dropout = NAN;
        CHECK(vknmt_model_train_step(c, &pr.batch, &od, &rd) == VKNMT_ERR_USAGE, "dropout NaN accepted");
        vknmt_model_destroy(a);
        vknmt_model_destroy(b);
        vknmt_model_destroy(c);
        problem_free(&pr);
        free(g0);
        free(g1);
        free(p1);
        free(p2);
    }
}

/* ----------------------------------------------------------------- the CLI */

static char dir[64];

static int run(const char *args, char *err, size_t n) { return th_run_vknmt(dir, args, err, n); }

static int lines_of(const char *text)
{
    int n = 0;
    for (const char *p = text; *p; p++)
        n += *p == '\n';
    return n;
}

#define COMMON "train --preset tiny --batch 16 --quiet --src %s/train.src --tgt %s/train.tgt"

static void test_cli(th_env *env)
{
    (void)env;
    CHECK(th_make_temp_dir(dir, sizeof(dir), "dropout") && th_write_reverse_corpus(dir, 200), "temporary corpus");
    char args[1024], err[4096], why[256] = "", a[160], b[160];
    /* 4 steps, resume (with the value given again, and without it), 4 more == 8 straight */
    snprintf(args, sizeof(args), COMMON " --dropout 0.3 --steps 8 --out %s/straight", dir, dir, dir);
    CHECK(run(args, err, sizeof(err)) == 0, "straight run: %s", err);
    for (int again = 0; again < 2 && !th_failed(); again++) {
        snprintf(args, sizeof(args), COMMON " --dropout 0.3 --steps 4 --out %s/resumed%d", dir, dir, dir, again);
        CHECK(run(args, err, sizeof(err)) == 0, "first half: %s", err);
        snprintf(args, sizeof(args), COMMON " %s --steps 8 --resume --out %s/resumed%d", dir, dir,
                 again ? "--dropout 0.3" : "", dir, again);
        CHECK(run(args, err, sizeof(err)) == 0, "resumed half: %s", err);
        snprintf(a, sizeof(a), "%s/straight/train_state.safetensors", dir);
        snprintf(b, sizeof(b), "%s/resumed%d/train_state.safetensors", dir, again);
        CHECK(th_same_safetensors(a, b, why, sizeof(why)), "resumed run (%s --dropout) differs from the straight one: %s",
              again ? "with" : "without", why);
    }
    /* the value is in the state, and dropout changed the training */
    vknmt_st *st = NULL;
    CHECK(vknmt_st_open(a, &st, err, sizeof(err)) == VKNMT_OK, "%s", err);
    const char *v = vknmt_st_metadata(st, "train.dropout");
    double saved = v ? strtod(v, NULL) : -1;
    vknmt_st_destroy(st);
    CHECK(saved == (double)0.3f, "train.dropout is %s", v ? v : "missing");
    snprintf(args, sizeof(args), COMMON " --steps 8 --out %s/plain", dir, dir, dir);
    CHECK(run(args, err, sizeof(err)) == 0, "run without dropout: %s", err);
    snprintf(b, sizeof(b), "%s/plain/train_state.safetensors", dir);
    CHECK(!th_same_safetensors(a, b, why, sizeof(why)), "--dropout 0.3 trained exactly as without dropout");
    /* resuming with another value is refused in one line */
    snprintf(args, sizeof(args), COMMON " --dropout 0.5 --steps 9 --resume --out %s/straight", dir, dir, dir);
    CHECK(run(args, err, sizeof(err)) == 2 && strstr(err, "--dropout") && lines_of(err) == 1,
          "resume with another --dropout: %s", err);
    /* bad values: one line, exit 2 */
    static const char *bad[] = {"1.5", "abc", "1", "-0.1", "nan", "0.3x"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(args, sizeof(args), COMMON " --dropout %s --steps 1 --out %s/bad", dir, dir, bad[i], dir);
        CHECK(run(args, err, sizeof(err)) == 2 && strstr(err, "--dropout") && lines_of(err) == 1,
              "--dropout %s: %s", bad[i], err);
    }
    /* listed in --help; shown at the start */
    snprintf(args, sizeof(args), "train --help");
    CHECK(run(args, err, sizeof(err)) == 0 && strstr(err, "--dropout P"), "--help: %s", err);
    snprintf(args, sizeof(args),
             "train --preset tiny --batch 16 --src %s/train.src --tgt %s/train.tgt --dropout 0.25 --steps 1 --out %s/shown",
             dir, dir, dir);
    CHECK(run(args, err, sizeof(err)) == 0 && strstr(err, "dropout 0.25"), "startup line: %s", err);
    th_remove_dir(dir);
}

void th_register_dropout(void)
{
    th_add("dropout", "mask_matches_c_hash", test_mask_matches_c);
    th_add("dropout", "mask_streams_independent", test_mask_streams);
    th_add("dropout", "apply_window_in_place", test_apply_window);
    th_add("dropout", "reference_finite_differences", test_reference_fd);
    th_add("dropout", "p0_bit_exact_and_dev_loss", test_p0_and_dev_loss);
    th_add("dropout", "device_vs_reference_tiny", test_device_tiny);
    th_add("dropout", "device_vs_reference_small_shapes", test_device_small);
    th_add("dropout", "cli_resume_and_errors", test_cli);
}
