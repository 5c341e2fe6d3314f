/* vknmt eval: what the paper reports, per system: BLEU on all sentences, on
 * the sentences without unknown words decoded with no <unk> (the "No UNK"
 * column), BLEU by source length in buckets of 10 words (Figure 2, as a
 * table and a line plot), and the decoding speed. A system is a model
 * vknmt decodes, or translations made elsewhere (Apertium, Moses) read from
 * a file and scored the same way. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bleu.h"
#include "cli.h"
#include "plot.h"
#include "source_line.h"
#include "train_files.h"
#include "translate_lines.h"

#define MAX_SYSTEMS 8
#define BUCKETS 6 /* 0-10, 10-20, ..., 50+ source words */

/* One system under evaluation: a model vknmt decodes, or a file of
 * translations made elsewhere (e.g. Apertium) scored the same way. */
typedef struct system_eval {
    const char *label; /* --label, else the path */
    const char *model; /* -m PATH, or NULL */
    const char *hyp;   /* --hyp PATH, or NULL */
    const char *save;  /* --save-hyp PATH: the model's translations */
    char **hyps;       /* one translation per source line */
    double bleu_all, bleu_nounk, by_len[BUCKETS];
    uint32_t n_nounk, n_by_len[BUCKETS];
    double seconds;
    uint64_t out_words;
} system_eval;

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Every line has an out-of-vocabulary word? (ids of <unk> in the source, or
 * a reference word the target vocabulary lacks) */
static bool has_unk(vknmt_tokenizer *tok, vknmt_bpe *bpe, const vknmt_vocab *tv, const vknmt_source_line *src,
                    const char *ref)
{
    for (uint32_t j = 0; j < src->ntok; j++)
        if (src->ids[j] == 1)
            return true;
    const char *const *toks;
    size_t n;
    char err[64];
    if (vknmt_tokenizer_run(tok, ref, strlen(ref), &toks, &n, err, sizeof(err)) != VKNMT_OK ||
        (bpe && vknmt_bpe_apply(bpe, toks, n, &toks, &n, NULL) != VKNMT_OK)) /* --bpe: the units */
        return true;
    for (size_t i = 0; i < n; i++)
        if (vknmt_vocab_id(tv, toks[i]) == 1)
            return true;
    return false;
}

/* Decodes every line with the model (beam search), and the sentences
 * without unknown words again with no <unk>: e->hyps, e->bleu_nounk, and in
 * `clean` (when not NULL) which sentences those are. */
static int eval_model(system_eval *e, char **src, char **ref, uint32_t n, uint32_t beam, bool *clean_out,
                      vknmt_cli *cli)
{
    char err[1024];
    vknmt_train_resume file;
    if (vknmt_model_file_load(e->model, &file, err, sizeof(err))) {
        fprintf(stderr, "vknmt eval: %s\n", err);
        return 1;
    }
    int rc = 1;
    vknmt_tokenizer *tok = NULL;
    vknmt_model *model = NULL;
    vknmt_source_line *lines = calloc(n, sizeof(*lines)), *sub = calloc(n, sizeof(*sub));
    char **sub_hyp = calloc(n, sizeof(char *)), **sub_ref = calloc(n, sizeof(char *));
    bool *clean = calloc(n, sizeof(bool));
    e->hyps = calloc(n, sizeof(char *));
    vknmt_tokenize_options to = {file.meta.lowercase, file.meta.pretokenized};
    if (!lines || !sub || !sub_hyp || !sub_ref || !clean || !e->hyps || vknmt_tokenizer_create(&to, &tok))
        goto done;
    if (vknmt_model_create(cli->ctx, &file.meta.cfg, &model) || vknmt_model_params_upload(model, file.params)) {
        fprintf(stderr, "vknmt eval: %s: %s\n", e->model, vknmt_context_errmsg(cli->ctx));
        goto done;
    }
    for (uint32_t i = 0; i < n; i++)
        if (!vknmt_source_line_read(tok, file.src_vocab, file.bpe, src[i], strlen(src[i]), &lines[i], err,
                                    sizeof(err))) {
            if (!lines[i].bad) {
                fprintf(stderr, "vknmt eval: out of memory\n");
                goto done;
            }
            fprintf(stderr, "vknmt eval: source line %u: %s\n", i + 1, err);
        }
    for (uint32_t i = 0; i < n; i++)
        clean[i] = !lines[i].bad && !has_unk(tok, file.bpe, file.tgt_vocab, &lines[i], ref[i]);
    vknmt_beam_options opt = {.beam = beam, .nbest = 1};
    double t0 = now();
    if (vknmt_lines_translate(model, &opt, lines, n, file.tgt_vocab, file.bpe != NULL, e->hyps, &e->out_words)) {
        fprintf(stderr, "vknmt eval: %s\n", vknmt_context_errmsg(cli->ctx));
        goto done;
    }
    e->seconds = now() - t0;
    /* the no-UNK column: the clean sentences, decoded without <unk> */
    uint32_t ns = 0;
    uint64_t unused = 0;
    for (uint32_t i = 0; i < n; i++)
        if (clean[i]) {
            sub[ns] = lines[i]; /* borrowed */
            sub_ref[ns++] = ref[i];
        }
    opt.no_unk = true;
    if (vknmt_lines_translate(model, &opt, sub, ns, file.tgt_vocab, file.bpe != NULL, sub_hyp, &unused)) {
        fprintf(stderr, "vknmt eval: %s\n", vknmt_context_errmsg(cli->ctx));
        goto done;
    }
    e->n_nounk = ns;
    e->bleu_nounk = vknmt_lines_bleu(sub_hyp, sub_ref, NULL, ns);
    if (clean_out)
        memcpy(clean_out, clean, n * sizeof(bool));
    rc = 0;
done:
    for (uint32_t i = 0; lines && i < n; i++)
        vknmt_source_line_free(&lines[i]);
    free(lines);
    free(sub);
    vknmt_lines_free(sub_hyp, n);
    free(sub_ref);
    free(clean);
    vknmt_model_destroy(model);
    vknmt_tokenizer_destroy(tok);
    vknmt_train_resume_free(&file);
    return rc;
}

/* Source words per line, by the plain tokenizer (so the length buckets are
 * the same for every system); UINT32_MAX for a line that is not UTF-8. */
static bool count_source_words(char **src, uint32_t n, uint32_t *words)
{
    vknmt_tokenizer *tok;
    vknmt_tokenize_options to = {false, false};
    if (vknmt_tokenizer_create(&to, &tok))
        return false;
    for (uint32_t i = 0; i < n; i++) {
        const char *const *toks;
        size_t count;
        char err[64];
        words[i] = vknmt_tokenizer_run(tok, src[i], strlen(src[i]), &toks, &count, err, sizeof(err)) == VKNMT_OK
                       ? (uint32_t)count
                       : UINT32_MAX;
    }
    vknmt_tokenizer_destroy(tok);
    return true;
}

static void score_by_length(system_eval *e, char **ref, const uint32_t *words, uint32_t n, bool *pick)
{
    e->bleu_all = vknmt_lines_bleu(e->hyps, ref, NULL, n);
    for (int k = 0; k < BUCKETS; k++) {
        uint32_t count = 0;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t b = words[i] / 10 < BUCKETS ? words[i] / 10 : BUCKETS - 1;
            pick[i] = (int)b == k && words[i] != UINT32_MAX;
            count += pick[i];
        }
        e->n_by_len[k] = count;
        e->by_len[k] = count ? vknmt_lines_bleu(e->hyps, ref, pick, n) : NAN;
    }
}

static bool save_lines(const char *path, char **lines, uint32_t n, char *err, size_t err_size)
{
    FILE *f = fopen(path, "wb");
    bool ok = f != NULL;
    for (uint32_t i = 0; ok && i < n; i++)
        ok = fprintf(f, "%s\n", lines[i] ? lines[i] : "") >= 0;
    if (f && fclose(f))
        ok = false;
    if (!ok)
        snprintf(err, err_size, "cannot write %s", path);
    return ok;
}

static void print_system(const system_eval *e, uint32_t n, uint32_t beam, bool json)
{
    static const char *ticks[BUCKETS] = {"0-10", "10-20", "20-30", "30-40", "40-50", "50+"};
    if (json) {
        printf("{\"system\":\"%s\",\"%s\":\"%s\",", e->label, e->model ? "model" : "hyp", e->model ? e->model : e->hyp);
        if (e->model)
            printf("\"beam\":%u,\"sentences_per_s\":%.2f,\"words_per_s\":%.1f,", beam, n / e->seconds,
                   e->out_words / e->seconds);
        printf("\"sentences\":%u,\"bleu\":%.2f,", n, e->bleu_all);
        if (isnan(e->bleu_nounk))
            printf("\"bleu_no_unk\":null,");
        else
            printf("\"bleu_no_unk\":%.2f,", e->bleu_nounk);
        printf("\"no_unk_sentences\":%u,\"bleu_by_length\":[", e->n_nounk);
        for (int b = 0; b < BUCKETS; b++) {
            if (isnan(e->by_len[b]))
                printf("%snull", b ? "," : "");
            else
                printf("%s%.2f", b ? "," : "", e->by_len[b]);
        }
        printf("]}\n");
        return;
    }
    if (e->model)
        printf("%s: %s (beam %u, %u sentences)\n", e->label, e->model, beam, n);
    else
        printf("%s: %s (%u sentences)\n", e->label, e->hyp, n);
    printf("  BLEU all %.2f   no UNK ", e->bleu_all);
    if (isnan(e->bleu_nounk))
        printf("-");
    else
        printf("%.2f (%u sentences)", e->bleu_nounk, e->n_nounk);
    if (e->model)
        printf("   %.2f sentences/s, %.1f words/s", n / e->seconds, e->out_words / e->seconds);
    printf("\n  source words ");
    for (int b = 0; b < BUCKETS; b++)
        printf("%8s", ticks[b]);
    printf("\n  BLEU         ");
    for (int b = 0; b < BUCKETS; b++) {
        if (isnan(e->by_len[b]))
            printf("%8s", "-");
        else
            printf("%8.2f", e->by_len[b]);
    }
    printf("\n  sentences    ");
    for (int b = 0; b < BUCKETS; b++)
        printf("%8u", e->n_by_len[b]);
    printf("\n");
}

static const char usage_line[] =
    "usage: vknmt eval --src F --ref F -m MODEL [--label L] [--save-hyp F] [-m MODEL2 ...] [--hyp F [--label L] ...]\n"
    "                  [--beam 12] [--plot F.png] [--json]\n";

int vknmt_cmd_eval(vknmt_cli *cli, int argc, char **argv)
{
    system_eval sys[MAX_SYSTEMS];
    const char *src_path = NULL, *ref_path = NULL, *plot_path = NULL;
    uint32_t ns_sys = 0, beam = 12;
    bool json = false;
    memset(sys, 0, sizeof(sys));
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        bool is_model = !strcmp(o, "-m") || !strcmp(o, "--model");
        if (is_model || !strcmp(o, "--hyp")) {
            if (ns_sys == MAX_SYSTEMS) {
                fprintf(stderr, "vknmt eval: at most %d systems\n", MAX_SYSTEMS);
                return 2;
            }
            const char *path = vknmt_cli_value(argc, argv, &i);
            sys[ns_sys].label = path;
            *(is_model ? &sys[ns_sys].model : &sys[ns_sys].hyp) = path;
            ns_sys++;
        } else if (!strcmp(o, "--label") || !strcmp(o, "--save-hyp")) {
            const char *v = vknmt_cli_value(argc, argv, &i);
            if (!ns_sys || (o[2] == 's' && !sys[ns_sys - 1].model)) {
                fprintf(stderr, "vknmt eval: %s belongs after the -m%s it names\n", o, o[2] == 's' ? "" : " or --hyp");
                return 2;
            }
            *(o[2] == 'l' ? &sys[ns_sys - 1].label : &sys[ns_sys - 1].save) = v;
        } else if (!strcmp(o, "--src"))
            src_path = vknmt_cli_value(argc, argv, &i);
        else if (!strcmp(o, "--ref"))
            ref_path = vknmt_cli_value(argc, argv, &i);
        else if (!strcmp(o, "--plot"))
            plot_path = vknmt_cli_value(argc, argv, &i);
        else if (!strcmp(o, "--beam"))
            beam = (uint32_t)vknmt_cli_count("eval", o, vknmt_cli_value(argc, argv, &i), 1, 16);
        else if (!strcmp(o, "--json"))
            json = true;
        else {
            fprintf(stderr, "vknmt eval: unknown argument %s\n", o);
            return 2;
        }
    }
    if (!ns_sys || !src_path || !ref_path) {
        fputs(usage_line, stderr);
        return 2;
    }
    char err[1024];
    uint32_t n = 0, nr = 0;
    char **src = vknmt_lines_read(src_path, 0, &n, err, sizeof(err)), **ref = src ? vknmt_lines_read(ref_path, 0, &nr, err, sizeof(err)) : NULL;
    uint32_t *words = NULL;
    bool *clean = NULL, *pick = NULL, have_clean = false, opened = false;
    int rc = 1;
    if (!src || !ref) {
        fprintf(stderr, "vknmt eval: %s\n", err);
        goto done;
    }
    if (n != nr || n == 0) {
        fprintf(stderr, "vknmt eval: %s has %u lines but %s has %u\n", src_path, n, ref_path, nr);
        goto done;
    }
    words = calloc(n, sizeof(*words));
    clean = calloc(n, sizeof(*clean));
    pick = calloc(n, sizeof(*pick));
    if (!words || !clean || !pick || !count_source_words(src, n, words)) {
        fprintf(stderr, "vknmt eval: out of memory\n");
        goto done;
    }
    for (uint32_t k = 0; k < ns_sys; k++) {
        system_eval *e = &sys[k];
        if (e->model) {
            if (!opened && !(opened = vknmt_cli_open(cli)))
                goto done;
            if (eval_model(e, src, ref, n, beam, have_clean ? NULL : clean, cli))
                goto done;
            have_clean = true;
            if (e->save && !save_lines(e->save, e->hyps, n, err, sizeof(err))) {
                fprintf(stderr, "vknmt eval: %s\n", err);
                goto done;
            }
        } else {
            uint32_t nh = 0;
            if (!(e->hyps = vknmt_lines_read(e->hyp, 0, &nh, err, sizeof(err)))) {
                fprintf(stderr, "vknmt eval: %s\n", err);
                goto done;
            }
            if (nh != n) {
                fprintf(stderr, "vknmt eval: %s has %u lines but %s has %u\n", e->hyp, nh, src_path, n);
                vknmt_lines_free(e->hyps, nh);
                e->hyps = NULL;
                goto done;
            }
        }
    }
    /* Translations made elsewhere: their "no UNK" score is on the sentences
     * the first model knows every word of (they cannot be decoded again). */
    for (uint32_t k = 0; k < ns_sys; k++) {
        system_eval *e = &sys[k];
        if (!e->model) {
            e->bleu_nounk = NAN;
            if (have_clean) {
                e->n_nounk = 0;
                for (uint32_t i = 0; i < n; i++)
                    e->n_nounk += clean[i];
                e->bleu_nounk = vknmt_lines_bleu(e->hyps, ref, clean, n);
            }
        }
        score_by_length(e, ref, words, n, pick);
        print_system(e, n, beam, json);
    }
    if (plot_path) {
        static const char *ticks[BUCKETS] = {"0-10", "10-20", "20-30", "30-40", "40-50", "50+"};
        double values[MAX_SYSTEMS * BUCKETS];
        const char *names[MAX_SYSTEMS];
        for (uint32_t k = 0; k < ns_sys; k++) {
            names[k] = sys[k].label;
            memcpy(values + k * BUCKETS, sys[k].by_len, sizeof(sys[k].by_len));
        }
        if (vknmt_plot_lines(plot_path, "BLEU by sentence length", "source sentence length (words)", "BLEU", ticks,
                             BUCKETS, names, ns_sys, values, err, sizeof(err))) {
            fprintf(stderr, "vknmt eval: %s\n", err);
            goto done;
        }
        if (!json)
            printf("BLEU by length plotted in %s\n", plot_path);
    }
    rc = 0;
done:
    for (uint32_t k = 0; k < ns_sys; k++)
        vknmt_lines_free(sys[k].hyps, sys[k].hyps ? n : 0);
    free(words);
    free(clean);
    free(pick);
    vknmt_lines_free(src, n);
    vknmt_lines_free(ref, nr);
    return rc;
}
