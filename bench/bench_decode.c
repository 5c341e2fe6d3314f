/* vknmt bench decode: greedy and beam-search decoding speed of RNNsearch
 * on the first N sentences of the test set (those the reference's corpus
 * filter keeps), beside the PyTorch reference's decoding measurement
 * (shared/ref/bench_cpu.py --no-train, bench/decode_reference.c), run in the
 * same process tree on the same sentences or as recorded in its README. The model is a preset with the
 * spec's random initialisation (vocabularies from the training corpus) or,
 * with --model, a trained model file.
 *
 * The random model never emits </s>, so, as the reference does, each test
 * sentence decodes for exactly its reference translation's length (its
 * words in test.en, plus </s>): beam search keeps all K hypotheses live for
 * as many steps as a real translation takes. A trained model ends its
 * sentences itself, as a user's does: its sentences/s is the user's figure.
 * The yardstick is the reference's tuned configuration (huge pages, one
 * torch thread), the goal; the plain one is shown beside it. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "cli.h"
#include "corpus.h"
#include "decode_reference.h"
#include "rnnsearch.h"
#include "source_line.h"
#include "train_files.h"

#define DEC_SEED 1234
#define DEC_MAX_LEN 50
#define DEC_BATCH 64
#define LAT_RUNS 15

typedef struct dec_plan {
    const char *name;
    /* shared/ref/README.md, "Measured CPU throughput" (small): sent/s of
     * greedy b=1, greedy b=80, beam 5, beam 12 (batch 1); plain = 2 torch
     * threads as asked, tuned = --thp, 1 thread. Mean 24.2 steps/sentence. */
    double plain[4], tuned[4];
} dec_plan;

static const dec_plan plans[] = {
    {"small", {7.6, 45, 4.4, 2.8}, {32.5, 245, 18.8, 11.6}},
    {"paper", {NAN, NAN, NAN, NAN}, {NAN, NAN, NAN, NAN}},
    {"other sizes", {NAN, NAN, NAN, NAN}, {NAN, NAN, NAN, NAN}}, /* a model file of neither preset's widths */
};
#define NPLANS (sizeof(plans) / sizeof(plans[0]))
#define RECORDED_STEPS 24.2

typedef struct dec_row {
    uint32_t beam, batch;
    bool ok;
    double seconds, sent_per_s, words_per_s, mean_words;
    double dispatches_per_step; /* of the last call, per word of its longest output; NAN if none */
    int ref_index;              /* into vknmt_ref_decode / the recorded figures */
} dec_row;

/* The batch of sentences timed beside batch 1: DEC_BATCH, or as many as the
 * device's decoding rows hold at this beam (at least 1). */
static uint32_t batch_of(uint32_t beam, uint32_t maxrows)
{
    if (DEC_BATCH * beam <= maxrows)
        return DEC_BATCH;
    return maxrows / beam ? maxrows / beam : 1;
}

/* A table cell of 16 characters: v as fmt, or "-" where there is no figure. */
static void cell(char out[16], const char *fmt, double v)
{
    if (isfinite(v))
        snprintf(out, 16, fmt, v);
    else
        snprintf(out, 16, "-");
}

/* Sorting helper: indices by source length (qsort has no context). */
static const vknmt_source_line *sort_lines;
static int cmp_index_len(const void *a, const void *b)
{
    uint32_t x = sort_lines[*(const uint32_t *)a].ntok, y = sort_lines[*(const uint32_t *)b].ntok;
    return (x > y) - (x < y);
}

/* Decodes lines in order (indices idx[0..n)) in chunks of `batch`; adds the
 * output words; fills the dispatches of the last call's steps (the encoder's
 * too for greedy decoding) per word of its longest output. */
static vknmt_status decode_all(vknmt_model *model, const vknmt_beam_options *opt, const vknmt_source_line *lines,
                               const uint32_t *idx, uint32_t n, uint32_t batch, uint64_t *words, double *disp_step)
{
    vknmt_source_line *chunk = malloc((size_t)batch * sizeof(*chunk));
    vknmt_translation *tr = calloc(batch, sizeof(*tr));
    if (!chunk || !tr) {
        free(chunk);
        free(tr);
        return VKNMT_ERR_OOM_HOST;
    }
    vknmt_status s = VKNMT_OK;
    for (uint32_t k = 0; k < n && !s; k += batch) {
        uint32_t b = n - k < batch ? n - k : batch;
        for (uint32_t i = 0; i < b; i++)
            chunk[i] = lines[idx[k + i]];
        s = vknmt_source_lines_decode(model, opt, chunk, b, tr);
        uint32_t maxlen = 0;
        for (uint32_t i = 0; i < b; i++) {
            *words += tr[i].len;
            maxlen = tr[i].len > maxlen ? tr[i].len : maxlen;
            vknmt_translation_free(&tr[i]);
        }
        if (!s && disp_step && maxlen)
            *disp_step = (double)vknmt_model_last_stats(model).dispatches / maxlen;
    }
    free(chunk);
    free(tr);
    return s;
}

/* What is timed: a model on the device and the sentences it decodes. */
typedef struct dec_setup {
    vknmt_model *model;
    vknmt_source_line *lines; /* n, each with at least one token */
    uint32_t n;
    uint64_t src_words;
    uint32_t ref_limited;      /* lines decoded for their reference's length */
    char **src_text, **ref_text; /* with reference translations: each line and its reference, for the
                                  * PyTorch reference to decode the same sentences */
    char what[PATH_MAX + 128]; /* one line saying which model */
} dec_setup;

/* The first nsent non-empty lines of `test`, read with the model's
 * tokenizer, vocabulary and BPE merges (NULL: words). With `ref` (the
 * test's reference translations, line by line), only the lines the PyTorch
 * reference's corpus filter keeps, each with its length limit its
 * reference's words plus </s>, as the reference decodes, and both texts
 * kept for it. */
static bool read_test_lines(const char *test, const char *ref, int nsent, const vknmt_tokenize_options *to,
                            const vknmt_vocab *vocab, vknmt_bpe *bpe, dec_setup *su)
{
    vknmt_tokenizer *tok = NULL;
    char err[512];
    FILE *f = fopen(test, "r"), *rf = ref ? fopen(ref, "r") : NULL;
    su->lines = calloc((size_t)nsent, sizeof(*su->lines));
    if (rf) {
        su->src_text = calloc((size_t)nsent, sizeof(char *));
        su->ref_text = calloc((size_t)nsent, sizeof(char *));
    }
    bool ok = su->lines && (!rf || (su->src_text && su->ref_text)) && !vknmt_tokenizer_create(to, &tok);
    char *buf = NULL, *rbuf = NULL;
    size_t cap = 0, rcap = 0;
    ssize_t len;
    while (ok && f && su->n < (uint32_t)nsent && (len = getline(&buf, &cap, f)) >= 0) {
        uint32_t limit = rf && getline(&rbuf, &rcap, rf) >= 0 ? (uint32_t)vknmt_count_words(rbuf) + 1 : 0;
        if (rf && (limit < 2 || limit > VKNMT_REF_MAX_TGT_WORDS + 1 ||
                   vknmt_count_words(buf) > VKNMT_REF_MAX_SRC_WORDS))
            continue;
        vknmt_source_line l;
        if (!vknmt_source_line_read(tok, vocab, bpe, buf, (size_t)len, &l, err, sizeof(err)) || !l.ntok) {
            vknmt_source_line_free(&l);
            continue;
        }
        if (rf) {
            buf[strcspn(buf, "\r\n")] = '\0';
            rbuf[strcspn(rbuf, "\r\n")] = '\0';
            su->src_text[su->n] = strdup(buf);
            su->ref_text[su->n] = strdup(rbuf);
            if (!su->src_text[su->n] || !su->ref_text[su->n]) {
                free(su->src_text[su->n]);
                free(su->ref_text[su->n]);
                su->src_text[su->n] = su->ref_text[su->n] = NULL;
                vknmt_source_line_free(&l);
                ok = false;
                continue;
            }
        }
        l.max_len = limit > 1 ? limit : 0;
        su->src_words += l.ntok;
        su->ref_limited += l.max_len > 0;
        su->lines[su->n++] = l;
    }
    free(buf);
    free(rbuf);
    if (f)
        fclose(f);
    if (rf)
        fclose(rf);
    vknmt_tokenizer_destroy(tok);
    if (!ok)
        fprintf(stderr, "vknmt bench decode: out of memory reading %s\n", test);
    else if (!su->n)
        fprintf(stderr, "vknmt bench decode: no sentence read from %s\n", test);
    return ok && su->n > 0;
}

static void setup_free(dec_setup *su)
{
    for (uint32_t i = 0; su->lines && i < su->n; i++)
        vknmt_source_line_free(&su->lines[i]);
    for (uint32_t i = 0; su->src_text && su->ref_text && i < su->n; i++) {
        free(su->src_text[i]);
        free(su->ref_text[i]);
    }
    free(su->lines);
    free(su->src_text);
    free(su->ref_text);
    vknmt_model_destroy(su->model);
    memset(su, 0, sizeof(*su));
}

/* The preset with the spec's random initialisation and vocabularies from
 * the training corpus; 0 or 1 (said on stderr). */
static int setup_random(vknmt_context *ctx, const char *preset, const char *src, const char *tgt, const char *test,
                        const char *test_ref, int nsent, dec_setup *su)
{
    memset(su, 0, sizeof(*su));
    vknmt_model_config cfg;
    char err[512];
    if (vknmt_config_preset(preset, &cfg)) {
        fprintf(stderr, "vknmt bench decode: no preset %s\n", preset);
        return 1;
    }
    vknmt_corpus_options co = {.tok = {.lowercase = false, .pretokenized = true},
                               .max_len = DEC_MAX_LEN,
                               .src_vocab_size = cfg.vs,
                               .tgt_vocab_size = cfg.vt};
    vknmt_corpus *corpus = NULL;
    if (vknmt_corpus_load(src, tgt, &co, &corpus, err, sizeof(err))) {
        fprintf(stderr, "vknmt bench decode: corpus: %s\n", err);
        return 1;
    }
    bool ok = read_test_lines(test, test_ref, nsent, &co.tok, vknmt_corpus_src_vocab(corpus), NULL, su);
    vknmt_corpus_destroy(corpus);
    vknmt_status s = ok ? vknmt_model_create(ctx, &cfg, &su->model) : VKNMT_ERR_USAGE;
    if (!s) {
        const vknmt_param_layout *lay = vknmt_model_layout(su->model);
        float *flat = malloc(lay->total * sizeof(float));
        if (!flat)
            s = VKNMT_ERR_OOM_HOST;
        else {
            vknmt_params_init(lay, DEC_SEED, flat);
            s = vknmt_model_params_upload(su->model, flat);
        }
        free(flat);
    }
    if (s) {
        if (ok)
            fprintf(stderr, "vknmt bench decode: %s: %s\n", preset, vknmt_context_errmsg(ctx));
        setup_free(su);
        return 1;
    }
    snprintf(su->what, sizeof(su->what), "preset %s, spec random init (seed %d), vocabularies from %s", preset,
             DEC_SEED, src);
    return 0;
}

/* A model file written by vknmt train, with its own vocabularies, tokenizer
 * settings and BPE merges; 0 or 1 (said on stderr). */
static int setup_file(vknmt_context *ctx, const vknmt_train_resume *file, const char *path, const char *test,
                      int nsent, dec_setup *su)
{
    memset(su, 0, sizeof(*su));
    vknmt_tokenize_options to = {file->meta.lowercase, file->meta.pretokenized};
    if (!read_test_lines(test, NULL, nsent, &to, file->meta.src_vocab, file->bpe, su) ||
        vknmt_model_create(ctx, &file->meta.cfg, &su->model) || vknmt_model_params_upload(su->model, file->params)) {
        if (su->n)
            fprintf(stderr, "vknmt bench decode: %s: %s\n", path, vknmt_context_errmsg(ctx));
        setup_free(su);
        return 1;
    }
    const vknmt_model_config *c = &file->meta.cfg;
    snprintf(su->what, sizeof(su->what), "trained model %s (Vs %u, Vt %u, m %u, n %u, na %u, l %u%s)", path, c->vs,
             c->vt, c->m, c->n, c->na, c->l, file->bpe ? ", subword units" : "");
    return 0;
}

/* Whether the model has the preset's widths (vocabulary sizes may differ). */
static bool same_widths(const vknmt_model_config *c, const char *preset)
{
    vknmt_model_config p;
    return !vknmt_config_preset(preset, &p) && c->m == p.m && c->n == p.n && c->na == p.na && c->l == p.l &&
           c->readout == p.readout && c->attention == p.attention;
}

int vknmt_bench_decode(vknmt_cli *cli, const vknmt_bench_decode_options *o, FILE *out)
{
    char shared[PATH_MAX] = "", src[PATH_MAX + 32], tgt[PATH_MAX + 32], test[PATH_MAX + 32],
         test_ref[PATH_MAX + 32] = "", data_dir[PATH_MAX + 32], ref_dir[PATH_MAX + 8];
    bool have_shared = vknmt_bench_find_shared(shared, sizeof(shared));
    snprintf(data_dir, sizeof(data_dir), "%s/data/bible-es-en", shared);
    snprintf(src, sizeof(src), "%s/data/bible-es-en/train.es", shared);
    snprintf(tgt, sizeof(tgt), "%s/data/bible-es-en/train.en", shared);
    if (o->test)
        snprintf(test, sizeof(test), "%s", o->test);
    else {
        snprintf(test, sizeof(test), "%s/data/bible-es-en/test.es", shared);
        snprintf(test_ref, sizeof(test_ref), "%s/data/bible-es-en/test.en", shared);
    }
    if (o->test && !vknmt_bench_is_file(o->test)) {
        fprintf(stderr, "vknmt bench decode: %s: not a readable file (--test)\n", o->test);
        return 1;
    }
    if ((!o->model && (!vknmt_bench_is_file(src) || !vknmt_bench_is_file(tgt))) || !vknmt_bench_is_file(test)) {
        fprintf(stderr, "vknmt bench decode: corpus not found (%s%s%s%s%s): set VKNMT_SHARED to the shared/ folder\n",
                o->model ? "" : src, o->model ? "" : ", ", o->model ? "" : tgt, o->model ? "" : ", ", test);
        return 1;
    }
    snprintf(ref_dir, sizeof(ref_dir), "%s/ref", shared);
    if (o->reference && (!have_shared || !vknmt_bench_is_dir(ref_dir))) {
        fprintf(stderr, "vknmt bench decode: --reference needs shared/ref (set VKNMT_SHARED)\n");
        return 1;
    }
    vknmt_train_resume file = {0};
    char err[512];
    if (o->model && vknmt_model_file_load(o->model, &file, err, sizeof(err))) {
        fprintf(stderr, "vknmt bench decode: %s\n", err);
        return 1;
    }
    /* a model file runs once, under the preset of its widths (the reference's figures) */
    size_t model_plan = NPLANS - 1;
    for (size_t pi = 0; o->model && pi + 1 < NPLANS; pi++)
        if (same_widths(&file.meta.cfg, plans[pi].name))
            model_plan = pi;
    if (o->model && o->reference && !o->latency_only && model_plan == NPLANS - 1) {
        fprintf(stderr,
                "vknmt bench decode: --reference: %s has neither the small nor the paper preset's sizes, the only "
                "models the reference builds\n",
                o->model);
        vknmt_train_resume_free(&file);
        return 1;
    }
    int nsent = o->sentences > 0 ? o->sentences : 200;
    int rc = 0, ran = 0;
    for (size_t pi = 0; pi < NPLANS && !rc; pi++) {
        const dec_plan *p = &plans[pi];
        const char *want = o->preset ? o->preset : "small";
        if (o->model ? pi != model_plan : strcmp(want, "all") != 0 && strcmp(want, p->name) != 0)
            continue;
        if (ran++) {
            uint32_t index = vknmt_context_caps(cli->ctx)->info.index;
            vknmt_context_destroy(cli->ctx);
            cli->ctx = NULL;
            if (vknmt_context_create(cli->inst, index, NULL, &cli->ctx) != VKNMT_OK) {
                fprintf(stderr, "vknmt bench decode: cannot reopen device %u\n", index);
                return 1;
            }
        }
        vknmt_context *ctx = cli->ctx;
        const vknmt_caps *caps = vknmt_context_caps(ctx);
        dec_setup su;
        if (o->model ? setup_file(ctx, &file, o->model, test, nsent, &su)
                     : setup_random(ctx, p->name, src, tgt, test, *test_ref ? test_ref : NULL, nsent, &su)) {
            rc = 1;
            break;
        }
        vknmt_model *model = su.model;
        vknmt_source_line *lines = su.lines;
        uint32_t n = su.n;
        vknmt_status s = VKNMT_OK;
        uint32_t *order = malloc(n * sizeof(uint32_t)), *sorted = malloc(n * sizeof(uint32_t));
        for (uint32_t i = 0; order && sorted && i < n; i++)
            order[i] = sorted[i] = i;
        sort_lines = lines;
        if (sorted)
            qsort(sorted, n, sizeof(uint32_t), cmp_index_len);
        if (!order || !sorted)
            s = VKNMT_ERR_OOM_HOST;

        uint32_t maxrows = s ? 0 : vknmt_model_max_decode_rows(model);
        static const uint32_t beams[3] = {1, 5, 12};
        /* the reference's greedy batch: ours */
        uint32_t rb = batch_of(1, maxrows);
        /* The yardstick: the reference tuned (the goal), run before and after ours, the faster of the two
         * kept (this machine's speed drifts by minutes); plain beside it. With the test's references it
         * decodes our very sentences (a folder of them as its corpus), else random training sentences. */
        vknmt_ref_decode ref = {0}, plain = {0};
        char ref_data[PATH_MAX] = "";
        bool run_ref = o->reference && !o->latency_only && !s, same_sentences = false;
        if (run_ref) {
            same_sentences = su.src_text && vknmt_ref_data_create(ref_data, sizeof(ref_data),
                                                                  (const char *const *)su.src_text,
                                                                  (const char *const *)su.ref_text, n);
            vknmt_ref_decode_run(ref_dir, same_sentences ? ref_data : data_dir, p->name,
                                 same_sentences ? (int)n : nsent, (int)rb, true, &ref);
        }
        dec_row rows[6];
        int nrows = 0;
        for (int bi = 0; bi < 3 && !s && !o->latency_only; bi++)
            for (int wi = 0; wi < 2 && !s; wi++) {
                uint32_t beam = beams[bi], batch = wi == 0 ? 1 : batch_of(beam, maxrows);
                if (wi == 1 && batch == 1)
                    continue;
                dec_row *r = &rows[nrows++];
                memset(r, 0, sizeof(*r));
                r->beam = beam;
                r->batch = batch;
                r->dispatches_per_step = NAN;
                r->ref_index = beam == 1 ? (batch == 1 ? 0 : 1) : beam == 5 ? 2 : 3;
                vknmt_beam_options bo = {.beam = beam};
                const uint32_t *idx = batch == 1 ? order : sorted;
                uint64_t words = 0;
                /* warm-up: one call of the batch's size (pipelines, buffers) */
                uint32_t wn = batch < n ? batch : n;
                if ((s = decode_all(model, &bo, lines, idx + (n - wn), wn, batch, &words, NULL)))
                    break;
                words = 0;
                double t0 = vknmt_bench_now();
                s = decode_all(model, &bo, lines, idx, n, batch, &words, &r->dispatches_per_step);
                double dt = vknmt_bench_now() - t0;
                if (s)
                    break;
                r->ok = true;
                r->seconds = dt;
                r->sent_per_s = n / dt;
                r->words_per_s = (double)words / dt;
                r->mean_words = (double)words / n;
                fprintf(stderr, "  %s beam %2u batch %2u: %u sentences, %llu words, %.2fs\n", p->name, beam, batch, n,
                        (unsigned long long)words, dt);
            }

        /* latency of one sentence: the first of 24..26 words, else (a short test file) the first nearest to 25 */
        int lat_line = -1, lat_off = INT_MAX;
        for (uint32_t i = 0; i < n && lat_off > 0; i++) {
            int off = abs((int)lines[i].ntok - 25) - 1; /* 24..26: 0 or less */
            if (lines[i].ntok > 0 && (off < 0 ? 0 : off) < lat_off) {
                lat_line = (int)i;
                lat_off = off < 0 ? 0 : off;
            }
        }
        /* median and best of LAT_RUNS: the best is what a quiet machine gives */
        double lat_ms[3] = {NAN, NAN, NAN}, lat_best[3] = {NAN, NAN, NAN}, lat_words[3] = {0};
        for (int bi = 0; bi < 3 && !s && lat_line >= 0; bi++) {
            vknmt_beam_options bo = {.beam = beams[bi]};
            double ms[LAT_RUNS];
            uint32_t one = (uint32_t)lat_line;
            uint64_t words = 0;
            if ((s = decode_all(model, &bo, lines, &one, 1, 1, &words, NULL)))
                break;
            for (int k = 0; k < LAT_RUNS && !s; k++) {
                words = 0;
                double t0 = vknmt_bench_now();
                s = decode_all(model, &bo, lines, &one, 1, 1, &words, NULL);
                ms[k] = (vknmt_bench_now() - t0) * 1e3;
            }
            qsort(ms, LAT_RUNS, sizeof(double), vknmt_bench_cmp_double);
            lat_ms[bi] = ms[LAT_RUNS / 2];
            lat_best[bi] = ms[0];
            lat_words[bi] = (double)words;
        }
        if (s) {
            fprintf(stderr, "vknmt bench decode: %s: %s: %s\n", p->name, vknmt_status_name(s),
                    vknmt_context_errmsg(ctx));
            rc = 1;
        }

        bool measured = false;
        if (run_ref && !s) {
            const char *dir = same_sentences ? ref_data : data_dir;
            int rn = same_sentences ? (int)n : nsent;
            vknmt_ref_decode again;
            vknmt_ref_decode_run(ref_dir, dir, p->name, rn, (int)rb, true, &again);
            vknmt_ref_decode_best(&ref, &again);
            vknmt_ref_decode_run(ref_dir, dir, p->name, rn, (int)rb, false, &plain);
            measured = ref.ok && plain.ok;
            if (!measured)
                rc = 1;
        } else
            for (int i = 0; i < 4; i++) {
                ref.sent[i] = p->tuned[i];
                ref.steps[i] = p->tuned[i] * RECORDED_STEPS;
                plain.sent[i] = p->plain[i];
                plain.steps[i] = p->plain[i] * RECORDED_STEPS;
            }
        vknmt_ref_data_remove(ref_data);

        /* how a CPU device ran the dispatches (vknmt_instance_options.cpu_inline) */
        const char *lp = getenv("LP_NUM_THREADS");
        const char *dispatch = !caps->quirk_cpu_lanes                        ? "device"
                               : cli->cpu_inline || (lp && strcmp(lp, "0") == 0) ? "inline"
                                                                                   : "worker threads";
        if (o->json) {
            for (int i = 0; i < nrows; i++) {
                const dec_row *r = &rows[i];
                double rs = ref.sent[r->ref_index], rw = ref.steps[r->ref_index];
                fprintf(out, "{\"bench\":\"decode\",\"device\":");
                vknmt_bench_json_string(out, caps->info.name);
                fprintf(out, ",\"model\":");
                vknmt_bench_json_string(out, o->model ? o->model : "random");
                fprintf(out, ",\"preset\":\"%s\",\"sentences\":%u,\"beam\":%u,\"batch\":%u,\"ok\":%s", p->name, n,
                        r->beam, r->batch, r->ok ? "true" : "false");
                fprintf(out, ",\"seconds\":%.3f,\"sent_per_s\":%.3f,\"words_per_s\":%.1f,\"mean_out_words\":%.2f",
                        r->seconds, r->sent_per_s, r->words_per_s, r->mean_words);
                fprintf(out, ",\"dispatches_per_step\":");
                vknmt_bench_json_number(out, r->dispatches_per_step, "%.1f");
                fprintf(out, ",\"reference\":\"%s\",\"reference_same_sentences\":%s,\"reference_sent_per_s\":",
                        measured ? "measured" : isfinite(p->tuned[0]) ? "recorded" : "none",
                        measured && same_sentences ? "true" : "false");
                vknmt_bench_json_number(out, rs, "%.3f");
                fprintf(out, ",\"reference_words_per_s\":");
                vknmt_bench_json_number(out, rw, "%.1f");
                fprintf(out, ",\"ratio_sent\":");
                vknmt_bench_json_number(out, r->sent_per_s / rs, "%.4f");
                fprintf(out, ",\"ratio_words\":");
                vknmt_bench_json_number(out, r->words_per_s / rw, "%.4f");
                fprintf(out, ",\"reference_config\":\"tuned\",\"plain_sent_per_s\":");
                vknmt_bench_json_number(out, plain.sent[r->ref_index], "%.3f");
                fprintf(out, ",\"plain_words_per_s\":");
                vknmt_bench_json_number(out, plain.steps[r->ref_index], "%.1f");
                fprintf(out, ",\"ratio_words_plain\":");
                vknmt_bench_json_number(out, r->words_per_s / plain.steps[r->ref_index], "%.4f");
                fprintf(out, ",\"ref_length_limits\":%s}\n", su.ref_limited ? "true" : "false");
            }
            for (int bi = 0; bi < 3; bi++) {
                fprintf(out, "{\"bench\":\"decode_latency\",\"device\":");
                vknmt_bench_json_string(out, caps->info.name);
                fprintf(out, ",\"preset\":\"%s\",\"dispatch\":\"%s\",\"beam\":%u,\"src_words\":%d,"
                             "\"out_words\":%.0f,\"runs\":%d,\"median_ms\":",
                        p->name, dispatch, beams[bi], lat_line >= 0 ? (int)lines[lat_line].ntok : 0, lat_words[bi],
                        LAT_RUNS);
                vknmt_bench_json_number(out, lat_ms[bi], "%.1f");
                fprintf(out, ",\"best_ms\":");
                vknmt_bench_json_number(out, lat_best[bi], "%.1f");
                fprintf(out, "}\n");
            }
        } else if (o->latency_only) {
            if (lat_line >= 0)
                fprintf(out,
                        "latency, one %u-word sentence, median (best) of %d, %s dispatch%s: greedy %.1f (%.1f) ms, "
                        "beam 5 %.1f (%.1f) ms, beam 12 %.1f (%.1f) ms (%.0f / %.0f / %.0f output words)\n",
                        lines[lat_line].ntok, LAT_RUNS, dispatch,
                        strcmp(dispatch, "inline") == 0 ? " (vknmt translate's choice for greedy)" : "", lat_ms[0],
                        lat_best[0], lat_ms[1], lat_best[1],
                        lat_ms[2], lat_best[2], lat_words[0], lat_words[1], lat_words[2]);
        } else {
            fprintf(out, "device: %s (%s %s)\n", caps->info.name, caps->info.driver_name, caps->info.driver_info);
            fprintf(out, "%s; first %u sentences of %s%s (mean %.1f source tokens)\n", su.what, n, test,
                    su.src_text ? " that the reference's filter keeps (<= 50 words, references of 1-49)" : "",
                    (double)su.src_words / n);
            if (!o->model && su.ref_limited)
                fprintf(out, "the random model never emits </s>: as in the reference, each sentence decodes for exactly\n"
                             "its reference translation's length (%u of %u lines: test.en words + </s>)\n",
                        su.ref_limited, n);
            else if (!o->model)
                fprintf(out, "NOTE: the random model never emits </s>: each sentence here decodes 2*len+10 words; the\n"
                             "reference decodes each for exactly its reference length (~24 words). Compare words/s.\n");
            fprintf(out, "reference: shared/ref/bench_cpu.py --no-train (PyTorch), tuned (--thp, 1 thread; ref s/s, "
                         "ref w/s, x sent, x word) and plain (2 threads; x plain, per word), %s\n",
                    !measured && !isfinite(p->tuned[0])
                        ? "none recorded for these sizes (--reference runs it for the small and paper presets)"
                    : !measured      ? "as recorded in shared/ref/README.md (another run; greedy batch row there is b=80)"
                    : same_sentences ? "measured in this run on the same sentences, tuned before and after ours "
                                       "(the faster kept)"
                                     : "measured in this run on random train sentences, tuned before and after ours "
                                       "(the faster kept)");
            fprintf(out, "%4s %5s %8s %9s %9s %8s %8s %9s %9s %7s %7s %7s\n", "beam", "batch", "sent/s", "words/s",
                    "out w/s.", "ms/sent", "disp/st", "ref s/s", "ref w/s", "x sent", "x word", "x plain");
            for (int i = 0; i < nrows; i++) {
                const dec_row *r = &rows[i];
                double rs = ref.sent[r->ref_index], rw = ref.steps[r->ref_index];
                if (!r->ok) {
                    fprintf(out, "%4u %5u FAILED\n", r->beam, r->batch);
                    continue;
                }
                /* no reference figures for a model of other sizes: dashes, not nan */
                char disp[16], rcol[5][16];
                cell(disp, "%.1f", r->dispatches_per_step);
                cell(rcol[0], "%.2f", rs);
                cell(rcol[1], "%.0f", rw);
                cell(rcol[2], "%.2fx", r->sent_per_s / rs);
                cell(rcol[3], "%.2fx", r->words_per_s / rw);
                cell(rcol[4], "%.2fx", r->words_per_s / plain.steps[r->ref_index]);
                fprintf(out, "%4u %5u %8.2f %9.0f %9.1f %8.1f %8s %9s %9s %7s %7s %7s%s\n", r->beam, r->batch,
                        r->sent_per_s, r->words_per_s, r->mean_words, 1e3 / r->sent_per_s, disp, rcol[0], rcol[1],
                        rcol[2], rcol[3], rcol[4], r->batch > 1 && r->beam > 1 && isfinite(rs) ? " (ref: batch 1)" : "");
            }
            if (lat_line >= 0)
                fprintf(out,
                        "latency, one %u-word sentence (test line %d of the kept ones), median (best) of %d, %s "
                        "dispatch: greedy %.1f (%.1f) ms, beam 5 %.1f (%.1f) ms, beam 12 %.1f (%.1f) ms "
                        "(%.0f / %.0f / %.0f output words)\n",
                        lines[lat_line].ntok, lat_line + 1, LAT_RUNS, dispatch, lat_ms[0], lat_best[0], lat_ms[1],
                        lat_best[1], lat_ms[2], lat_best[2], lat_words[0], lat_words[1], lat_words[2]);
            if (isfinite(p->tuned[0]))
                fprintf(out,
                        "recorded in shared/ref/README.md (~%.1f words a sentence): tuned greedy b=1 %.1f, b=80 %.0f, "
                        "beam 5 %.1f, beam 12 %.1f sent/s; plain %.1f, %.0f, %.1f, %.1f\n",
                        RECORDED_STEPS, p->tuned[0], p->tuned[1], p->tuned[2], p->tuned[3], p->plain[0], p->plain[1],
                        p->plain[2], p->plain[3]);
        }
        fflush(out);
        free(order);
        free(sorted);
        setup_free(&su);
    }
    vknmt_train_resume_free(&file);
    return rc;
}
