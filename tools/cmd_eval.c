/* vknmt eval: what the paper reports, per model: BLEU on all sentences, on
 * the sentences without unknown words decoded with no <unk> (the "No UNK"
 * column), BLEU by source length in buckets of 10 words (Figure 2, as a
 * table and a line plot), and the decoding speed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bleu.h"
#include "cli.h"
#include "plot.h"
#include "source_line.h"
#include "train_files.h"

#define MAX_MODELS 8
#define BUCKETS 6 /* 0-10, 10-20, ..., 50+ source words */

typedef struct model_eval {
    const char *path;
    double bleu_all, bleu_nounk, by_len[BUCKETS];
    uint32_t n_nounk, n_by_len[BUCKETS];
    double seconds;
    uint64_t out_words;
} model_eval;

static char **read_lines(const char *path, uint32_t *n, char *err, size_t err_size)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "cannot open %s", path);
        return NULL;
    }
    char **lines = NULL, *buf = NULL;
    size_t cap = 0, len = 0;
    ssize_t got;
    uint32_t count = 0;
    while ((got = getline(&buf, &cap, f)) >= 0) {
        if (count == len) {
            len = len ? 2 * len : 256;
            char **more = realloc(lines, len * sizeof(char *));
            if (!more)
                break;
            lines = more;
        }
        while (got && (buf[got - 1] == '\n' || buf[got - 1] == '\r'))
            buf[--got] = '\0';
        lines[count++] = strdup(buf);
    }
    free(buf);
    fclose(f);
    *n = count;
    return lines;
}

static void free_lines(char **l, uint32_t n)
{
    for (uint32_t i = 0; l && i < n; i++)
        free(l[i]);
    free(l);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Every line has an out-of-vocabulary word? (ids of <unk> in the source, or
 * a reference word the target vocabulary lacks) */
static bool has_unk(vknmt_tokenizer *tok, const vknmt_vocab *tv, const vknmt_source_line *src, const char *ref)
{
    for (uint32_t j = 0; j < src->ntok; j++)
        if (src->ids[j] == 1)
            return true;
    const char *const *toks;
    size_t n;
    char err[64];
    if (vknmt_tokenizer_run(tok, ref, strlen(ref), &toks, &n, err, sizeof(err)) != VKNMT_OK)
        return true;
    for (size_t i = 0; i < n; i++)
        if (vknmt_vocab_id(tv, toks[i]) == 1)
            return true;
    return false;
}

/* Translates the lines (no_unk as asked) in batches; texts[i] malloc'd. */
static int translate_all(vknmt_model *model, const vknmt_beam_options *opt, vknmt_source_line *lines, uint32_t n,
                         const vknmt_vocab *tv, char **texts, uint64_t *words, vknmt_cli *cli)
{
    uint32_t batch = vknmt_model_max_decode_rows(model) / opt->beam;
    batch = batch < 1 ? 1 : batch > 32 ? 32 : batch;
    vknmt_translation tr[32];
    for (uint32_t at = 0; at < n; at += batch) {
        uint32_t m = n - at < batch ? n - at : batch;
        if (vknmt_source_lines_decode(model, opt, lines + at, m, tr) != VKNMT_OK) {
            fprintf(stderr, "vknmt eval: %s\n", vknmt_context_errmsg(cli->ctx));
            return 1;
        }
        for (uint32_t k = 0; k < m; k++) {
            texts[at + k] = vknmt_translation_text(&tr[k], tv, NULL, NULL);
            *words += tr[k].len;
            vknmt_translation_free(&tr[k]);
        }
    }
    return 0;
}

static double bleu_of(char **hyps, char **refs, const bool *pick, uint32_t n)
{
    vknmt_bleu *b = NULL;
    vknmt_bleu_options o = {0};
    char err[256];
    if (vknmt_bleu_create(&o, &b))
        return NAN;
    uint32_t used = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (pick && !pick[i])
            continue;
        const char *r[1] = {refs[i]};
        if (vknmt_bleu_add(b, hyps[i] ? hyps[i] : "", r, 1, err, sizeof(err)) == VKNMT_OK)
            used++;
    }
    double score = used ? vknmt_bleu_corpus_score(b).score : NAN;
    vknmt_bleu_destroy(b);
    return score;
}

static int eval_model(const char *path, char **src, char **ref, uint32_t n, uint32_t beam, model_eval *out,
                      vknmt_cli *cli)
{
    char err[1024];
    vknmt_train_resume file;
    if (vknmt_model_file_load(path, &file, err, sizeof(err))) {
        fprintf(stderr, "vknmt eval: %s\n", err);
        return 1;
    }
    int rc = 1;
    vknmt_tokenizer *tok = NULL;
    vknmt_model *model = NULL;
    vknmt_source_line *lines = calloc(n, sizeof(*lines));
    char **hyps = calloc(n, sizeof(char *)), **hyps_nounk = calloc(n, sizeof(char *));
    bool *clean = calloc(n, sizeof(bool)), *bucket = calloc(n, sizeof(bool));
    vknmt_tokenize_options to = {file.meta.lowercase, file.meta.pretokenized};
    if (!lines || !hyps || !hyps_nounk || !clean || !bucket || vknmt_tokenizer_create(&to, &tok))
        goto done;
    if (vknmt_model_create(cli->ctx, &file.meta.cfg, &model) || vknmt_model_params_upload(model, file.params)) {
        fprintf(stderr, "vknmt eval: %s: %s\n", path, vknmt_context_errmsg(cli->ctx));
        goto done;
    }
    for (uint32_t i = 0; i < n; i++)
        if (!vknmt_source_line_read(tok, file.src_vocab, src[i], strlen(src[i]), &lines[i], err, sizeof(err)) &&
            lines[i].bad)
            fprintf(stderr, "vknmt eval: source line %u: %s\n", i + 1, err);
    for (uint32_t i = 0; i < n; i++)
        clean[i] = !lines[i].bad && !has_unk(tok, file.tgt_vocab, &lines[i], ref[i]);
    memset(out, 0, sizeof(*out));
    out->path = path;
    vknmt_beam_options opt = {beam, 0, false, 1};
    double t0 = now();
    if (translate_all(model, &opt, lines, n, file.tgt_vocab, hyps, &out->out_words, cli))
        goto done;
    out->seconds = now() - t0;
    /* the no-UNK column: the clean sentences, decoded without <unk> */
    vknmt_source_line *sub = calloc(n, sizeof(*sub));
    char **sub_hyp = calloc(n, sizeof(char *)), **sub_ref = calloc(n, sizeof(char *));
    uint32_t ns = 0;
    uint64_t unused = 0;
    for (uint32_t i = 0; sub && i < n; i++)
        if (clean[i]) {
            sub[ns] = lines[i]; /* borrowed */
            sub_ref[ns++] = ref[i];
        }
    opt.no_unk = true;
    int bad = !sub || !sub_hyp || !sub_ref || translate_all(model, &opt, sub, ns, file.tgt_vocab, sub_hyp, &unused, cli);
    out->n_nounk = ns;
    out->bleu_nounk = bad ? NAN : bleu_of(sub_hyp, sub_ref, NULL, ns);
    free_lines(sub_hyp, ns);
    free(sub_ref);
    free(sub);
    if (bad)
        goto done;
    out->bleu_all = bleu_of(hyps, ref, NULL, n);
    for (int k = 0; k < BUCKETS; k++) {
        uint32_t count = 0;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t b = lines[i].ntok / 10 < BUCKETS ? lines[i].ntok / 10 : BUCKETS - 1;
            bucket[i] = (int)b == k && !lines[i].bad;
            count += bucket[i];
        }
        out->n_by_len[k] = count;
        out->by_len[k] = count ? bleu_of(hyps, ref, bucket, n) : NAN;
    }
    rc = 0;
done:
    for (uint32_t i = 0; lines && i < n; i++)
        vknmt_source_line_free(&lines[i]);
    free(lines);
    free_lines(hyps, n);
    free(hyps_nounk);
    free(clean);
    free(bucket);
    vknmt_model_destroy(model);
    vknmt_tokenizer_destroy(tok);
    vknmt_train_resume_free(&file);
    return rc;
}

int vknmt_cmd_eval(vknmt_cli *cli, int argc, char **argv)
{
    const char *models[MAX_MODELS], *src_path = NULL, *ref_path = NULL, *plot_path = NULL;
    uint32_t nm = 0, beam = 12;
    bool json = false;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if ((!strcmp(o, "-m") || !strcmp(o, "--model")) && nm < MAX_MODELS)
            models[nm++] = vknmt_cli_value(argc, argv, &i);
        else if (!strcmp(o, "--src"))
            src_path = vknmt_cli_value(argc, argv, &i);
        else if (!strcmp(o, "--ref"))
            ref_path = vknmt_cli_value(argc, argv, &i);
        else if (!strcmp(o, "--plot"))
            plot_path = vknmt_cli_value(argc, argv, &i);
        else if (!strcmp(o, "--beam"))
            beam = (uint32_t)strtoul(vknmt_cli_value(argc, argv, &i), NULL, 10);
        else if (!strcmp(o, "--json"))
            json = true;
        else {
            fprintf(stderr, "vknmt eval: unknown argument %s\n", o);
            return 2;
        }
    }
    if (!nm || !src_path || !ref_path || beam < 1 || beam > 16) {
        fprintf(stderr, "usage: vknmt eval -m MODEL [-m MODEL2 ...] --src F --ref F [--beam 12] [--plot F.png] [--json]\n");
        return 2;
    }
    char err[1024];
    uint32_t ns = 0, nr = 0;
    char **src = read_lines(src_path, &ns, err, sizeof(err)), **ref = src ? read_lines(ref_path, &nr, err, sizeof(err)) : NULL;
    int rc = 1;
    model_eval ev[MAX_MODELS];
    if (!src || !ref) {
        fprintf(stderr, "vknmt eval: %s\n", err);
        goto done;
    }
    if (ns != nr || ns == 0) {
        fprintf(stderr, "vknmt eval: %s has %u lines but %s has %u\n", src_path, ns, ref_path, nr);
        goto done;
    }
    if (!vknmt_cli_open(cli))
        goto done;
    for (uint32_t k = 0; k < nm; k++)
        if (eval_model(models[k], src, ref, ns, beam, &ev[k], cli))
            goto done;
    static const char *ticks[BUCKETS] = {"0-10", "10-20", "20-30", "30-40", "40-50", "50+"};
    for (uint32_t k = 0; k < nm; k++) {
        model_eval *e = &ev[k];
        if (json) {
            printf("{\"model\":\"%s\",\"beam\":%u,\"sentences\":%u,\"bleu\":%.2f,\"bleu_no_unk\":%.2f,"
                   "\"no_unk_sentences\":%u,\"sentences_per_s\":%.2f,\"words_per_s\":%.1f,\"bleu_by_length\":[",
                   e->path, beam, ns, e->bleu_all, e->bleu_nounk, e->n_nounk, ns / e->seconds,
                   e->out_words / e->seconds);
            for (int b = 0; b < BUCKETS; b++) {
                if (isnan(e->by_len[b]))
                    printf("%snull", b ? "," : "");
                else
                    printf("%s%.2f", b ? "," : "", e->by_len[b]);
            }
            printf("]}\n");
        } else {
            printf("%s (beam %u, %u sentences)\n", e->path, beam, ns);
            printf("  BLEU all %.2f   no UNK %.2f (%u sentences)   %.2f sentences/s, %.1f words/s\n", e->bleu_all,
                   e->bleu_nounk, e->n_nounk, ns / e->seconds, e->out_words / e->seconds);
            printf("  source words ");
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
    }
    if (plot_path) {
        double values[MAX_MODELS * BUCKETS];
        const char *names[MAX_MODELS];
        for (uint32_t k = 0; k < nm; k++) {
            names[k] = ev[k].path;
            memcpy(values + k * BUCKETS, ev[k].by_len, sizeof(ev[k].by_len));
        }
        if (vknmt_plot_lines(plot_path, "BLEU by sentence length", "source sentence length (words)", "BLEU", ticks,
                             BUCKETS, names, nm, values, err, sizeof(err))) {
            fprintf(stderr, "vknmt eval: %s\n", err);
            goto done;
        }
        if (!json)
            printf("BLEU by length plotted in %s\n", plot_path);
    }
    rc = 0;
done:
    free_lines(src, ns);
    free_lines(ref, nr);
    return rc;
}
