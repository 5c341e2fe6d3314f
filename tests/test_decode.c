/* Greedy decoding on the device against the PyTorch reference's beam-1
 * outputs in shared/fixtures (tokens, summed log-probability, attention),
 * and the same sentence alone or inside a batch giving the same bits. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "harness.h"
#include "internal.h" /* the profiler's switch: count the kernels a decode ran */
#include "rnnsearch.h"
#include "vknmt_kernel.h"

static vknmt_model *load_model(th_env *env, const char *name)
{
    char path[1024], err[512];
    snprintf(path, sizeof(path), "%s/fixtures/%s.params.safetensors", th_shared_dir(), name);
    vknmt_st *st = NULL;
    vknmt_model_config cfg;
    vknmt_param_layout lay;
    float *flat = NULL;
    vknmt_model *model = NULL;
    if (vknmt_st_open(path, &st, err, sizeof(err)) == VKNMT_OK &&
        vknmt_params_from_st(st, &cfg, &lay, &flat, err, sizeof(err)) == VKNMT_OK &&
        vknmt_model_create(env->ctx, &cfg, &model) == VKNMT_OK && vknmt_model_params_upload(model, flat) != VKNMT_OK) {
        vknmt_model_destroy(model);
        model = NULL;
    }
    free(flat);
    vknmt_st_destroy(st);
    return model;
}

/* The fixture's beam-search cases and its model on the device. */
static bool open_fixture(th_env *env, const char *name, cJSON **root, vknmt_model **model)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/fixtures/%s.beam.json", th_shared_dir(), name);
    char *text = th_read_file(path, NULL);
    *root = text ? cJSON_Parse(text) : NULL;
    free(text);
    *model = *root ? load_model(env, name) : NULL;
    if (!*model) {
        cJSON_Delete(*root);
        *root = NULL;
    }
    return *model != NULL;
}

/* The kernels a decoding step must not add, and one it adds once (greedy's output layer): */
static const char *const STEP_KERNELS[3] = {"embed_gather", "embed_gather_vec4", "gemm_texel_skinny"};

/* Dispatches of each STEP_KERNELS kernel while decoding one sentence alone (beam 0: greedily) to its first
 * word ([0]) and to its whole output of `words` ([1]), counted by the profiler: what the steps add;
 * *counted false on a device without timestamps (nothing counted). */
static void step_calls(th_env *env, vknmt_model *model, const int32_t *src, int32_t len, uint32_t beam,
                       uint32_t words, uint64_t calls[2][3], bool *counted)
{
    *counted = false;
    if (!vknmt_context_caps(env->ctx)->timestamps)
        return;
    for (uint32_t i = 0, one = 1; i < 2 && !th_failed(); i++) {
        bool profile = env->ctx->profile;
        env->ctx->profile = true;
        for (int j = 0; j < 3; j++)
            calls[i][j] = th_kernel_calls(env, STEP_KERNELS[j]);
        vknmt_translation t;
        vknmt_status s = beam ? vknmt_model_beam(model, 1, (uint32_t)len, src, &len,
                                                 &(vknmt_beam_options){.beam = beam, .nbest = 1,
                                                                       .max_len = i ? NULL : &one},
                                                 &t)
                              : vknmt_model_greedy(model, 1, (uint32_t)len, src, &len, i ? NULL : &one, &t);
        for (int j = 0; j < 3; j++)
            calls[i][j] = th_kernel_calls(env, STEP_KERNELS[j]) - calls[i][j];
        env->ctx->profile = profile;
        CHECK(s == VKNMT_OK && t.len == (i ? words : 1), "%s", vknmt_context_errmsg(env->ctx));
        vknmt_translation_free(&t);
    }
    *counted = true;
}

/* Whether the model's decoding steps compute the next step's query in the deep output's dispatch. */
static bool query_folds(th_env *env, const vknmt_model *model)
{
    const vknmt_model_config *cfg = vknmt_model_config_get(model);
    return cfg->attention == VKNMT_ATTENTION_ADDITIVE && cfg->readout == VKNMT_READOUT_MAXOUT &&
           vknmt_cpu_texel_kernels(vknmt_context_caps(env->ctx));
}

static void check_greedy(th_env *env, const char *name)
{
    cJSON *root = NULL;
    vknmt_model *model = NULL;
    CHECK(open_fixture(env, name, &root, &model), "%s: fixture: %s", name, vknmt_context_errmsg(env->ctx));
    bool att = vknmt_model_config_get(model)->attention == VKNMT_ATTENTION_ADDITIVE;

    /* every beam-1 case, decoded together in one padded batch */
    const cJSON *cases = cJSON_GetObjectItem(root, "cases"), *c;
    const cJSON *picked[16];
    uint32_t nb = 0, tx = 0;
    cJSON_ArrayForEach(c, cases)
    {
        if (cJSON_GetObjectItem(c, "beam")->valueint == 1 && nb < 16) {
            picked[nb++] = c;
            uint32_t l = (uint32_t)cJSON_GetArraySize(cJSON_GetObjectItem(c, "src"));
            tx = l > tx ? l : tx;
        }
    }
    CHECK(nb >= 2, "%s: %u beam-1 cases", name, nb);
    int32_t *src = calloc((size_t)nb * tx, sizeof(int32_t)), src_len[16];
    for (uint32_t k = 0; k < nb; k++) {
        const cJSON *s = cJSON_GetObjectItem(picked[k], "src");
        src_len[k] = cJSON_GetArraySize(s);
        for (int32_t t = 0; t < src_len[k]; t++)
            src[(size_t)k * tx + t] = cJSON_GetArrayItem(s, t)->valueint;
    }
    vknmt_translation out[16], alone;
    vknmt_status s = vknmt_model_greedy(model, nb, tx, src, src_len, NULL, out);
    CHECK(s == VKNMT_OK, "%s: %s", name, vknmt_context_errmsg(env->ctx));
    for (uint32_t k = 0; k < nb && !th_failed(); k++) {
        const cJSON *toks = cJSON_GetObjectItem(picked[k], "tokens");
        double want_lp = cJSON_GetObjectItem(picked[k], "logprob")->valuedouble;
        uint32_t wl = (uint32_t)cJSON_GetArraySize(toks);
        CHECK(out[k].len == wl, "%s case %u: %u tokens, reference %u", name, k, out[k].len, wl);
        for (uint32_t i = 0; i < wl; i++)
            CHECK(out[k].tokens[i] == cJSON_GetArrayItem(toks, (int)i)->valueint, "%s case %u: token %u differs", name,
                  k, i);
        CHECK(fabs(out[k].logprob - want_lp) < 1e-4, "%s case %u: logprob %.6f, reference %.6f", name, k,
              out[k].logprob, want_lp);
        const cJSON *al = cJSON_GetObjectItem(picked[k], "alignment");
        double worst = 0;
        for (uint32_t i = 0; i < wl && att; i++) {
            const cJSON *row = cJSON_GetArrayItem(al, (int)i);
            double sum = 0;
            for (uint32_t j = 0; j < out[k].src_len; j++) {
                double got = out[k].alpha[(size_t)i * out[k].src_len + j];
                worst = fmax(worst, fabs(got - cJSON_GetArrayItem(row, (int)j)->valuedouble));
                sum += got;
            }
            CHECK(fabs(sum - 1) < 1e-5, "%s case %u: attention row %u sums to %g", name, k, i, sum);
        }
        CHECK(worst < 1e-4, "%s case %u: attention off by %g", name, k, worst);
        /* alone: the same bits as inside the batch */
        s = vknmt_model_greedy(model, 1, (uint32_t)src_len[k], src + (size_t)k * tx, &src_len[k], NULL, &alone);
        CHECK(s == VKNMT_OK, "%s", vknmt_context_errmsg(env->ctx));
        bool same = alone.len == out[k].len && fabs(alone.logprob - out[k].logprob) == 0 &&
                    memcmp(alone.tokens, out[k].tokens, alone.len * 4) == 0 &&
                    memcmp(alone.alpha, out[k].alpha, (size_t)alone.len * alone.src_len * 4) == 0;
        vknmt_translation_free(&alone);
        CHECK(same, "%s case %u: alone and in a batch differ", name, k);
    }
    /* each step's word embedding comes with the last step's argmax, and (on CPU devices, for a few rows,
     * the maxout readout) its attention query with the last step's deep output: the embedding gather runs
     * as often for one word as for the whole output, and the plain few-rows GEMM once more a word (the
     * output layer) */
    bool fold = query_folds(env, model);
    uint64_t calls[2][3];
    bool counted = false;
    if (out[0].len >= 2)
        step_calls(env, model, src, src_len[0], 0, out[0].len, calls, &counted);
    for (int j = 0; j < 3 && counted && !th_failed(); j++)
        CHECK(calls[1][j] - calls[0][j] == (j < 2 ? 0 : out[0].len - 1) || (j == 2 && !fold),
              "%s: %s ran %llu times for one word, %llu for %u", name, STEP_KERNELS[j],
              (unsigned long long)calls[0][j], (unsigned long long)calls[1][j], out[0].len);
    /* a length limit per sentence (0: the default) cuts each output to a
     * prefix of the unlimited one */
    uint32_t limit[16];
    for (uint32_t k = 0; k < nb; k++)
        limit[k] = k == 0 ? 0 : out[k].len > 1 ? out[k].len / 2 : 1;
    vknmt_translation cut[16];
    s = vknmt_model_greedy(model, nb, tx, src, src_len, limit, cut);
    CHECK(s == VKNMT_OK, "%s", vknmt_context_errmsg(env->ctx));
    for (uint32_t k = 0; k < nb && !th_failed(); k++) {
        uint32_t want = limit[k] && limit[k] < out[k].len ? limit[k] : out[k].len;
        CHECK(cut[k].len == want && memcmp(cut[k].tokens, out[k].tokens, want * 4) == 0 &&
                  memcmp(cut[k].alpha, out[k].alpha, (size_t)want * out[k].src_len * 4) == 0,
              "%s case %u: limit %u gave %u tokens, not the first %u of the unlimited output", name, k, limit[k],
              cut[k].len, want);
    }
    for (uint32_t k = 0; k < nb; k++)
        vknmt_translation_free(&cut[k]);
    for (uint32_t k = 0; k < nb; k++)
        vknmt_translation_free(&out[k]);
    free(src);
    vknmt_model_destroy(model);
    cJSON_Delete(root);
}

/* Beam search (K = 1 and 5) against every reference case, each sentence
 * alone and all cases of one K together in a batch. */
static void check_beam(th_env *env, const char *name)
{
    cJSON *root = NULL;
    vknmt_model *model = NULL;
    CHECK(open_fixture(env, name, &root, &model), "%s: fixture: %s", name, vknmt_context_errmsg(env->ctx));
    bool att = vknmt_model_config_get(model)->attention == VKNMT_ATTENTION_ADDITIVE;
    bool fold = query_folds(env, model);
    static const uint32_t beams[2] = {1, 5};
    uint32_t saved_disp = 0; /* dispatches the early stop saved */
    for (int bi = 0; bi < 2 && !th_failed(); bi++) {
        const cJSON *c, *picked[16];
        uint32_t nb = 0, tx = 0;
        cJSON_ArrayForEach(c, cJSON_GetObjectItem(root, "cases"))
        {
            if ((uint32_t)cJSON_GetObjectItem(c, "beam")->valueint == beams[bi] && nb < 16) {
                picked[nb++] = c;
                uint32_t l = (uint32_t)cJSON_GetArraySize(cJSON_GetObjectItem(c, "src"));
                tx = l > tx ? l : tx;
            }
        }
        int32_t *src = calloc((size_t)nb * tx, sizeof(int32_t)), src_len[16];
        for (uint32_t k = 0; k < nb; k++) {
            const cJSON *sj = cJSON_GetObjectItem(picked[k], "src");
            src_len[k] = cJSON_GetArraySize(sj);
            for (int32_t t = 0; t < src_len[k]; t++)
                src[(size_t)k * tx + t] = cJSON_GetArrayItem(sj, t)->valueint;
        }
        vknmt_translation all[16];
        vknmt_beam_options plain = {.beam = beams[bi], .nbest = 1};
        vknmt_status s = vknmt_model_beam(model, nb, tx, src, src_len, &plain, all);
        CHECK(s == VKNMT_OK, "%s beam %u: %s", name, beams[bi], vknmt_context_errmsg(env->ctx));
        for (uint32_t k = 0; k < nb && !th_failed(); k++) {
            vknmt_translation one;
            s = vknmt_model_beam(model, 1, (uint32_t)src_len[k], src + (size_t)k * tx, &src_len[k],
                                 &(vknmt_beam_options){.beam = beams[bi], .nbest = 1}, &one);
            CHECK(s == VKNMT_OK, "%s", vknmt_context_errmsg(env->ctx));
            /* the top-k lays out each next step's rows, and on CPU devices each next step's attention query
             * rides in the deep output's dispatch: the gathers and the plain few-rows GEMM run as often for
             * one word as for the whole output (the encoder's, s_0's, the first step's) */
            uint64_t calls[2][3];
            bool counted = false;
            if (one.len >= 2)
                step_calls(env, model, src + (size_t)k * tx, src_len[k], beams[bi], one.len, calls, &counted);
            for (int j = 0; j < 3 && counted && !th_failed(); j++)
                CHECK(calls[0][j] == calls[1][j] || (j == 2 && !fold), "%s K=%u case %u: %s ran %llu times for one "
                      "word, %llu for %u", name, beams[bi], k, STEP_KERNELS[j], (unsigned long long)calls[0][j],
                      (unsigned long long)calls[1][j], one.len);
            const cJSON *toks = cJSON_GetObjectItem(picked[k], "tokens"), *al = cJSON_GetObjectItem(picked[k], "alignment");
            double want_lp = cJSON_GetObjectItem(picked[k], "logprob")->valuedouble;
            uint32_t wl = (uint32_t)cJSON_GetArraySize(toks);
            const vknmt_translation *got[2] = {&all[k], &one};
            for (int g = 0; g < 2 && !th_failed(); g++) {
                const vknmt_translation *o = got[g];
                const char *how = g ? "alone" : "in a batch";
                CHECK(o->len == wl, "%s K=%u case %u %s: %u tokens, reference %u", name, beams[bi], k, how, o->len, wl);
                for (uint32_t i = 0; i < wl; i++)
                    CHECK(o->tokens[i] == cJSON_GetArrayItem(toks, (int)i)->valueint,
                          "%s K=%u case %u %s: token %u differs", name, beams[bi], k, how, i);
                CHECK(fabs(o->logprob - want_lp) < 1e-4, "%s K=%u case %u %s: logprob %.6f, reference %.6f", name,
                      beams[bi], k, how, o->logprob, want_lp);
                double worst = 0;
                for (uint32_t i = 0; i < wl && att; i++)
                    for (uint32_t j = 0; j < o->src_len; j++)
                        worst = fmax(worst, fabs(o->alpha[(size_t)i * o->src_len + j] -
                                                 cJSON_GetArrayItem(cJSON_GetArrayItem(al, (int)i), (int)j)->valuedouble));
                CHECK(worst < 1e-4, "%s K=%u case %u %s: attention off by %g", name, beams[bi], k, how, worst);
            }
            /* the returned score is minus the model's loss of that output */
            int32_t out_len = (int32_t)one.len;
            vknmt_batch lb = {1, (uint32_t)src_len[k], one.len, src + (size_t)k * tx, &src_len[k], one.tokens, &out_len};
            vknmt_loss loss;
            CHECK(vknmt_model_loss(model, &lb, false, &loss) == VKNMT_OK, "%s", vknmt_context_errmsg(env->ctx));
            CHECK(fabs(loss.loss + one.logprob) < 1e-4, "%s K=%u case %u: score %.6f but loss %.6f", name, beams[bi], k,
                  one.logprob, loss.loss);
            vknmt_translation_free(&one);
        }
        /* "no UNK" decoding: no <unk> in what it returns; with K = 1, where the
         * unrestricted search chose none it changes nothing (with K > 1 a
         * hypothesis with <unk> may have held a slot of the beam) */
        vknmt_translation nounk[16];
        s = vknmt_model_beam(model, nb, tx, src, src_len, &(vknmt_beam_options){.beam = beams[bi], .no_unk = true, .nbest = 1}, nounk);
        CHECK(s == VKNMT_OK, "%s", vknmt_context_errmsg(env->ctx));
        for (uint32_t k = 0; k < nb && !th_failed(); k++) {
            bool had_unk = false, has_unk = false, ended = nounk[k].len && nounk[k].tokens[nounk[k].len - 1] == 3;
            for (uint32_t i = 0; i < all[k].len; i++)
                had_unk |= all[k].tokens[i] == 1;
            for (uint32_t i = 0; i < nounk[k].len; i++)
                has_unk |= nounk[k].tokens[i] == 1;
            CHECK(!has_unk || !ended, "%s K=%u case %u: <unk> in a no-UNK output", name, beams[bi], k);
            CHECK(had_unk || beams[bi] > 1 || (nounk[k].len == all[k].len && nounk[k].logprob == all[k].logprob),
                  "%s K=%u case %u: no-UNK changed an output without <unk>", name, beams[bi], k);
            vknmt_translation_free(&nounk[k]);
        }
        /* a length limit per sentence: no output longer; with K = 1 the
         * unlimited output's prefix */
        uint32_t limit[16];
        for (uint32_t k = 0; k < nb; k++)
            limit[k] = all[k].len > 1 ? all[k].len / 2 : 1;
        vknmt_translation cut[16];
        s = vknmt_model_beam(model, nb, tx, src, src_len,
                             &(vknmt_beam_options){.beam = beams[bi], .nbest = 1, .max_len = limit}, cut);
        CHECK(s == VKNMT_OK, "%s", vknmt_context_errmsg(env->ctx));
        for (uint32_t k = 0; k < nb && !th_failed(); k++) {
            uint32_t want = limit[k] < all[k].len ? limit[k] : all[k].len;
            CHECK(cut[k].len >= 1 && cut[k].len <= limit[k], "%s K=%u case %u: %u tokens, limit %u", name, beams[bi],
                  k, cut[k].len, limit[k]);
            CHECK(beams[bi] > 1 || (cut[k].len == want && memcmp(cut[k].tokens, all[k].tokens, want * 4) == 0),
                  "%s K=1 case %u: limit %u did not give the unlimited output's prefix", name, k, limit[k]);
        }
        for (uint32_t k = 0; k < nb; k++)
            vknmt_translation_free(&cut[k]);
        /* n-best: the first is the winner, then best first */
        if (beams[bi] > 1) {
            vknmt_translation nbl[16 * 3];
            vknmt_beam_options three = {.beam = beams[bi], .nbest = 3};
            s = vknmt_model_beam(model, nb, tx, src, src_len, &three, nbl);
            CHECK(s == VKNMT_OK, "%s", vknmt_context_errmsg(env->ctx));
            for (uint32_t k = 0; k < nb && !th_failed(); k++) {
                CHECK(nbl[k * 3].len == all[k].len && nbl[k * 3].logprob == all[k].logprob, "%s case %u: n-best head",
                      name, k);
                for (uint32_t r = 1; r < 3; r++)
                    CHECK(nbl[k * 3 + r].len == 0 || nbl[k * 3 + r].logprob <= nbl[k * 3 + r - 1].logprob,
                          "%s case %u: n-best not in order", name, k);
            }
            for (uint32_t k = 0; k < nb * 3; k++)
                vknmt_translation_free(&nbl[k]);
        }
        /* stopping a sentence once no live hypothesis can reach its n best
         * returns what decoding on until `beam` have ended returns, bit for bit */
        for (uint32_t nbest = 1; nbest <= 3 && beams[bi] > 1 && !th_failed(); nbest += 2) {
            vknmt_translation r[2][16 * 3];
            uint32_t disp[2];
            for (int e = 0; e < 2; e++) {
                s = vknmt_model_beam(model, nb, tx, src, src_len, &(vknmt_beam_options){.beam = beams[bi], .nbest = nbest, .exhaustive = e},
                                     r[e]);
                CHECK(s == VKNMT_OK, "%s", vknmt_context_errmsg(env->ctx));
                disp[e] = vknmt_model_last_stats(model).dispatches;
            }
            for (uint32_t k = 0; k < nb * nbest && !th_failed(); k++) {
                const vknmt_translation *a = &r[0][k], *x = &r[1][k];
                CHECK(a->len == x->len && memcmp(a->tokens, x->tokens, a->len * 4) == 0 && a->logprob == x->logprob &&
                          memcmp(a->alpha, x->alpha, (size_t)a->len * a->src_len * 4) == 0,
                      "%s K=%u n-best %u: output %u differs from the exhaustive search's", name, beams[bi], nbest, k);
            }
            CHECK(disp[0] <= disp[1] && disp[0] > 0, "%s K=%u: %u dispatches stopping early, %u exhaustive", name,
                  beams[bi], disp[0], disp[1]);
            saved_disp += disp[1] - disp[0];
            for (int e = 0; e < 2; e++)
                for (uint32_t k = 0; k < nb * nbest; k++)
                    vknmt_translation_free(&r[e][k]);
        }
        for (uint32_t k = 0; k < nb; k++)
            vknmt_translation_free(&all[k]);
        free(src);
    }
    vknmt_model_destroy(model);
    cJSON_Delete(root);
    CHECK(saved_disp > 0, "%s: stopping early saved no step", name);
}

static void test_beam_maxout_additive(th_env *env) { check_beam(env, "tiny-maxout-additive"); }
static void test_beam_linear_additive(th_env *env) { check_beam(env, "tiny-linear-additive"); }
static void test_beam_maxout_none(th_env *env) { check_beam(env, "tiny-maxout-none"); }

static void test_maxout_additive(th_env *env) { check_greedy(env, "tiny-maxout-additive"); }
static void test_linear_additive(th_env *env) { check_greedy(env, "tiny-linear-additive"); }
static void test_maxout_none(th_env *env) { check_greedy(env, "tiny-maxout-none"); }

void th_register_decode(void)
{
    th_add("decode", "greedy_maxout_additive", test_maxout_additive);
    th_add("decode", "greedy_linear_additive", test_linear_additive);
    th_add("decode", "greedy_maxout_none", test_maxout_none);
    th_add("decode", "beam_maxout_additive", test_beam_maxout_additive);
    th_add("decode", "beam_linear_additive", test_beam_linear_additive);
    th_add("decode", "beam_maxout_none", test_beam_maxout_none);
}
