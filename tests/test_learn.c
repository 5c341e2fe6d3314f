/* The model learns: the tiny preset on a synthetic task (reverse a random
 * sequence of 5-12 symbols) falls far below chance, and the attention it
 * learns is anti-diagonal: each output word looks at its mirrored source
 * word. RNNencdec, with the same sizes, data and updates, learns more
 * slowly. The data come from a fixed seed: the test cannot flake. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "rnnsearch.h"

#define SYMBOLS 20 /* ids 4 .. 4 + SYMBOLS - 1 */
#define BATCH 32
#define MAXLEN 13  /* 12 symbols + </s> */
#define STEPS 600
#define DECAY_AT 450

typedef struct task_batch {
    int32_t src[BATCH * MAXLEN], tgt[BATCH * MAXLEN], src_len[BATCH], tgt_len[BATCH];
    vknmt_batch b;
} task_batch;

static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void make_batch(task_batch *t, uint64_t *rng)
{
    memset(t, 0, sizeof(*t));
    for (int k = 0; k < BATCH; k++) {
        int len = 5 + (int)(next(rng) % 8);
        for (int i = 0; i < len; i++) {
            int32_t sym = 4 + (int32_t)(next(rng) % SYMBOLS);
            t->src[k * MAXLEN + i] = sym;
            t->tgt[k * MAXLEN + len - 1 - i] = sym;
        }
        t->src[k * MAXLEN + len] = 3;
        t->tgt[k * MAXLEN + len] = 3;
        t->src_len[k] = t->tgt_len[k] = len + 1;
    }
    t->b = (vknmt_batch){BATCH, MAXLEN, MAXLEN, t->src, t->src_len, t->tgt, t->tgt_len};
}

/* The spec's initialisation with the non-recurrent weights 10 times larger
 * and att.v random: with the paper's scale (0.01, att.v = 0) a model this
 * small sits for thousands of steps on the solution that knows only the
 * sentence length before attention starts to work. */
static void init(const vknmt_param_layout *lay, float *flat)
{
    vknmt_params_init(lay, 1, flat);
    uint64_t rng = 99;
    for (uint32_t i = 0; i < lay->count; i++) {
        const vknmt_param *p = &lay->p[i];
        bool recurrent = !strcmp(p->name, "enc.fwd.U") || !strcmp(p->name, "enc.bwd.U") || !strcmp(p->name, "dec.U");
        for (uint64_t k = 0; k < vknmt_param_size(p) && !recurrent; k++)
            flat[p->offset + k] = !strcmp(p->name, "att.v") ? (float)((next(&rng) >> 40) * 0x1p-24 - 0.5) * 0.2f
                                                            : flat[p->offset + k] * 10;
    }
}

/* Held-out sequences decoded with beam 5: the share reversed exactly. */
static double exact_share(vknmt_model *model, const task_batch *tb)
{
    vknmt_translation out[BATCH];
    vknmt_beam_options five = {.beam = 5, .nbest = 1};
    if (vknmt_model_beam(model, BATCH, MAXLEN, tb->src, tb->src_len, &five, out) != VKNMT_OK)
        return -1;
    int exact = 0;
    for (int k = 0; k < BATCH; k++) {
        bool same = out[k].len == (uint32_t)tb->tgt_len[k];
        for (uint32_t i = 0; same && i < out[k].len; i++)
            same = out[k].tokens[i] == tb->tgt[k * MAXLEN + i];
        exact += same;
        vknmt_translation_free(&out[k]);
    }
    return (double)exact / BATCH;
}

/* Trains STEPS steps; returns the per-token loss on a held-out batch and,
 * with attention, the mean weight on the mirrored source word and the share
 * of held-out sequences that beam search reverses exactly. */
static double train(th_env *env, vknmt_attention att, double *mirrored, double *exact)
{
    vknmt_model_config cfg;
    vknmt_config_preset("tiny", &cfg);
    cfg.attention = att;
    vknmt_model *model = NULL;
    if (vknmt_model_create(env->ctx, &cfg, &model) != VKNMT_OK)
        return NAN;
    const vknmt_param_layout *lay = vknmt_model_layout(model);
    float *flat = malloc(lay->total * 4);
    task_batch *tb = malloc(sizeof(*tb));
    float *alpha = malloc((size_t)MAXLEN * BATCH * MAXLEN * 4);
    if (!flat || !tb || !alpha) {
        free(flat);
        free(tb);
        free(alpha);
        vknmt_model_destroy(model);
        return NAN;
    }
    init(lay, flat);
    vknmt_status s = vknmt_model_params_upload(model, flat);
    vknmt_train_options opt = vknmt_train_defaults();
    opt.optimizer = VKNMT_ADAM; /* a test must converge in a few hundred steps */
    opt.lr = 0.01f;
    uint64_t rng = 7;
    for (int i = 0; i < STEPS && s == VKNMT_OK; i++) {
        /* Adam at 0.01 is at the edge of stability for this model: without
         * the lower rate for the last steps, a loss spike near the end left
         * 3 of 4 data seeds at 78-81 % exact (any kernel's summation order
         * moves where the spikes fall); with it all 4 reached 100 %. */
        if (i == DECAY_AT)
            opt.lr = 0.002f;
        make_batch(tb, &rng);
        vknmt_step_result r;
        s = vknmt_model_train_step(model, &tb->b, &opt, &r);
    }
    uint64_t held_out = 12345;
    make_batch(tb, &held_out);
    vknmt_loss loss = {NAN, NAN, 0};
    if (s == VKNMT_OK)
        s = vknmt_model_loss(model, &tb->b, false, &loss);
    if (s == VKNMT_OK && att == VKNMT_ATTENTION_ADDITIVE && vknmt_model_alignment_download(model, alpha) == VKNMT_OK) {
        double mass = 0;
        int count = 0;
        for (int k = 0; k < BATCH; k++) {
            int len = tb->src_len[k] - 1; /* symbols, without </s> */
            for (int i = 0; i < len; i++, count++)
                mass += alpha[((size_t)i * BATCH + k) * MAXLEN + (len - 1 - i)];
        }
        *mirrored = mass / count;
        *exact = exact_share(model, tb);
    }
    free(flat);
    free(tb);
    free(alpha);
    vknmt_model_destroy(model);
    return s == VKNMT_OK ? loss.ce : NAN;
}

static void test_reverse(th_env *env)
{
    double chance = log(SYMBOLS + 1.0), mirrored = 0, unused = 0, exact = 0, unused2 = 0;
    double ce_att = train(env, VKNMT_ATTENTION_ADDITIVE, &mirrored, &exact);
    CHECK(isfinite(ce_att), "RNNsearch training failed: %s", vknmt_context_errmsg(env->ctx));
    double ce_encdec = train(env, VKNMT_ATTENTION_NONE, &unused, &unused2);
    CHECK(isfinite(ce_encdec), "RNNencdec training failed: %s", vknmt_context_errmsg(env->ctx));
    printf("     reverse task after %d steps: RNNsearch %.3f nats/token (attention on the mirrored word %.2f, "
           "%.0f%% of held-out sequences reversed exactly by beam 5), RNNencdec %.3f; chance %.3f\n", STEPS, ce_att,
           mirrored, 100 * exact, ce_encdec, chance);
    CHECK(ce_att < 0.05 * chance, "RNNsearch per-token loss %.3f, chance %.3f", ce_att, chance);
    CHECK(mirrored > 0.7, "attention on the mirrored source word %.2f <= 0.7", mirrored);
    /* 100% on lavapipe since Adam got its own eps (1e-8); 75% with 1e-6 */
    CHECK(exact >= 0.9, "beam 5 reversed only %.0f%% of held-out sequences exactly", 100 * exact);
    CHECK(ce_encdec > 2 * ce_att, "RNNencdec (%.3f) learned about as fast as RNNsearch (%.3f)", ce_encdec, ce_att);
}

void th_register_learn(void) { th_add("learn", "reverse_task", test_reverse); }
