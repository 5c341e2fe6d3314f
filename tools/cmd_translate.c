/* vknmt translate: one sentence per line in, one translation per line out,
 * in input order, decoded on the device in batches of similar lengths. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "rnnsearch.h"
#include "tokenize.h"
#include "source_line.h"
#include "train_files.h"

typedef enum { ALIGN_NONE, ALIGN_HARD, ALIGN_SOFT } align_mode;

typedef struct translator {
    vknmt_train_resume file;
    vknmt_tokenizer *tok;
    vknmt_model *model;
    align_mode align;
    bool scores;
    vknmt_beam_options opt;
    bool replace_unk;
    vknmt_dict *dict; /* owned, or NULL */
    FILE *out;
    uint32_t batch; /* sentences decoded together (--batch, within the model's rows) */
} translator;

/* Lines read before decoding, in batches: enough to sort by length into
 * batches of similar sentences, few enough to keep output flowing. */
enum { WINDOW_BATCHES = 8 };

/* Moses/Marian hard alignment: " src-out" index pairs, each output token
 * with the source token it attends to most. With BPE the pairs are between
 * words (as the text is), each pair once. */
static void write_hard_alignment(translator *t, const vknmt_source_line *l, const vknmt_translation *tr,
                                 uint32_t nout)
{
    uint32_t *out_word = NULL, *pairs = NULL, np = 0;
    if (t->file.bpe && nout) {
        const char **units = calloc(nout, sizeof(char *));
        char **words = NULL;
        size_t nw;
        out_word = malloc(nout * sizeof(uint32_t));
        pairs = malloc(2 * (size_t)nout * sizeof(uint32_t));
        for (uint32_t i = 0; units && i < nout; i++)
            units[i] = vknmt_vocab_token(t->file.tgt_vocab, tr->tokens[i]);
        bool ok = units && out_word && pairs && !vknmt_bpe_join(units, nout, &words, &nw, out_word);
        free(units);
        free(words);
        if (!ok) { /* out of memory: unit indices rather than nothing */
            free(out_word);
            free(pairs);
            out_word = pairs = NULL;
        }
    }
    for (uint32_t i = 0; i < nout && l->ntok; i++) {
        uint32_t best = 0;
        for (uint32_t j = 1; j < l->ntok; j++)
            if (tr->alpha[(size_t)i * tr->src_len + j] > tr->alpha[(size_t)i * tr->src_len + best])
                best = j;
        uint32_t sw = best, ow = i;
        if (out_word) {
            sw = l->word_of ? l->word_of[best] : best;
            ow = out_word[i];
            bool seen = false;
            for (uint32_t k = 0; k < np && !seen; k++)
                seen = pairs[2 * k] == sw && pairs[2 * k + 1] == ow;
            if (seen)
                continue;
            pairs[2 * np] = sw;
            pairs[2 * np++ + 1] = ow;
        }
        fprintf(t->out, " %u-%u", sw, ow);
    }
    free(out_word);
    free(pairs);
}

static void write_translation(translator *t, const vknmt_source_line *l, const vknmt_translation *tr)
{
    uint32_t nout = tr->len && tr->tokens[tr->len - 1] == 3 ? tr->len - 1 : tr->len;
    const vknmt_source_line *copy_from = t->replace_unk ? l : NULL;
    char *text = t->file.bpe ? vknmt_translation_text_units(tr, t->file.tgt_vocab, copy_from, t->dict)
                             : vknmt_translation_text(tr, t->file.tgt_vocab, copy_from, t->dict);
    if (t->align == ALIGN_SOFT) {
        cJSON *o = cJSON_CreateObject(), *src = cJSON_AddArrayToObject(o, "source"),
              *outw = cJSON_AddArrayToObject(o, "output"), *al = cJSON_AddArrayToObject(o, "alignment");
        cJSON_AddStringToObject(o, "translation", text ? text : "");
        for (uint32_t j = 0; j < l->ntok; j++)
            cJSON_AddItemToArray(src, cJSON_CreateString(l->tokens[j]));
        for (uint32_t i = 0; i < nout; i++)
            cJSON_AddItemToArray(outw, cJSON_CreateString(vknmt_vocab_token(t->file.tgt_vocab, tr->tokens[i])));
        /* rows: output words (and </s>); columns: source words (and </s>);
         * with BPE both are subword units, as the model saw them */
        for (uint32_t i = 0; i < tr->len; i++) {
            cJSON *row = cJSON_CreateArray();
            for (uint32_t j = 0; j < tr->src_len; j++)
                cJSON_AddItemToArray(row, cJSON_CreateNumber((double)tr->alpha[(size_t)i * tr->src_len + j]));
            cJSON_AddItemToArray(al, row);
        }
        if (t->scores)
            cJSON_AddNumberToObject(o, "score", tr->logprob);
        char *js = cJSON_PrintUnformatted(o);
        fprintf(t->out, "%s\n", js ? js : "{}");
        cJSON_free(js);
        cJSON_Delete(o);
    } else {
        if (t->scores && t->opt.nbest <= 1)
            fprintf(t->out, "%.6f\t", tr->logprob);
        fputs(text ? text : "", t->out);
        if (t->align == ALIGN_HARD) {
            fputs(" |||", t->out);
            write_hard_alignment(t, l, tr, nout);
        }
        if (t->opt.nbest > 1)
            fprintf(t->out, " ||| %.6f", tr->logprob);
        fputc('\n', t->out);
    }
    free(text);
}

/* Decodes the non-empty, valid lines of a window in batches of similar
 * lengths and writes all of them in input order. */
static int flush(translator *t, vknmt_source_line *lines, uint32_t n, uint64_t first_line, vknmt_cli *cli)
{
    uint32_t nb = t->opt.nbest > 1 ? t->opt.nbest : 1;
    vknmt_translation *tr = calloc((size_t)n * nb, sizeof(*tr));
    if (!tr || vknmt_source_lines_decode_sorted(t->model, &t->opt, lines, n, t->batch, tr) != VKNMT_OK) {
        fprintf(stderr, "vknmt translate: %s\n", tr ? vknmt_context_errmsg(cli->ctx) : "out of memory");
        free(tr);
        return 1;
    }
    for (uint32_t k = 0; k < n; k++)
        for (uint32_t r = 0; r < nb; r++) {
            vknmt_translation *x = &tr[(size_t)k * nb + r];
            if (nb > 1 && (r == 0 || x->len)) /* Moses n-best: line ||| words ||| score */
                fprintf(t->out, "%llu ||| ", (unsigned long long)(first_line + k));
            if (nb == 1 || r == 0 || x->len)
                write_translation(t, &lines[k], x);
            vknmt_translation_free(x);
        }
    free(tr);
    return 0;
}

int vknmt_cmd_translate(vknmt_cli *cli, int argc, char **argv)
{
    const char *model_path = NULL, *in_path = NULL, *out_path = NULL;
    uint32_t batch = 32, beam = 12;
    float length_alpha = 0;
    bool no_unk = false;
    uint32_t nbest = 1;
    long max_len = 0; /* --max-len: 0 = the paper's 2 * source length + 10 */
    const char *dict_path = NULL;
    translator t = {.align = ALIGN_NONE};
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "-m") || !strcmp(o, "--model"))
            model_path = vknmt_cli_value(argc, argv, &i);
        else if (!strcmp(o, "-i") || !strcmp(o, "--input"))
            in_path = vknmt_cli_value(argc, argv, &i);
        else if (!strcmp(o, "-o") || !strcmp(o, "--output"))
            out_path = vknmt_cli_value(argc, argv, &i);
        else if (!strcmp(o, "--batch"))
            batch = (uint32_t)vknmt_cli_count("translate", o, vknmt_cli_value(argc, argv, &i), 1, 1000000);
        else if (!strcmp(o, "--beam")) /* 1 is greedy */
            beam = (uint32_t)vknmt_cli_count("translate", o, vknmt_cli_value(argc, argv, &i), 1, 16);
        else if (!strcmp(o, "--length-penalty"))
            length_alpha = (float)vknmt_cli_real("translate", o, vknmt_cli_value(argc, argv, &i), 0, 10);
        else if (!strcmp(o, "--max-len")) /* output tokens */
            max_len = (long)vknmt_cli_count("translate", o, vknmt_cli_value(argc, argv, &i), 1, 100000);
        else if (!strcmp(o, "--nbest"))
            nbest = (uint32_t)vknmt_cli_count("translate", o, vknmt_cli_value(argc, argv, &i), 1, 16);
        else if (!strcmp(o, "--no-unk"))
            no_unk = true;
        else if (!strcmp(o, "--replace-unk"))
            t.replace_unk = true;
        else if (!strcmp(o, "--unk-dict"))
            dict_path = vknmt_cli_value(argc, argv, &i);
        else if (!strcmp(o, "--scores"))
            t.scores = true;
        else if (!strcmp(o, "--alignment")) {
            const char *v = vknmt_cli_value(argc, argv, &i);
            if (strcmp(v, "hard") && strcmp(v, "soft")) {
                fprintf(stderr, "vknmt translate: --alignment is hard or soft\n");
                return 2;
            }
            t.align = strcmp(v, "hard") ? ALIGN_SOFT : ALIGN_HARD;
        } else {
            fprintf(stderr, "vknmt translate: unknown argument %s\n", o);
            return 2;
        }
    }
    if (!model_path) {
        fprintf(stderr, "usage: vknmt translate -m MODEL [--beam K] [--nbest N] [--length-penalty A] [--no-unk] [--replace-unk]\n"
                        "                       [--unk-dict F] [--batch N] [--max-len N] [-i FILE] [-o FILE]\n"
                        "                       [--alignment hard|soft] [--scores]\n");
        return 2;
    }
    if (nbest > beam) {
        fprintf(stderr, "vknmt translate: --nbest %u: must be 1 .. the beam size (%u)\n", nbest, beam);
        return 2;
    }
    t.opt = (vknmt_beam_options){.beam = beam, .length_alpha = length_alpha, .no_unk = no_unk, .nbest = nbest};
    char err[1024];
    if (dict_path && vknmt_dict_load(dict_path, &t.dict, err, sizeof(err))) {
        fprintf(stderr, "vknmt translate: %s\n", err);
        return 1;
    }
    t.replace_unk |= t.dict != NULL;
    if (vknmt_model_file_load(model_path, &t.file, err, sizeof(err))) {
        fprintf(stderr, "vknmt translate: %s\n", err);
        vknmt_dict_destroy(t.dict);
        return 1;
    }
    FILE *in = in_path ? fopen(in_path, "rb") : stdin;
    t.out = out_path ? fopen(out_path, "w") : stdout;
    int rc = 0;
    if (!in || !t.out) {
        fprintf(stderr, "vknmt translate: cannot open %s\n", !in ? in_path : out_path);
        rc = 1;
        goto done;
    }
    vknmt_tokenize_options to = {t.file.meta.lowercase, t.file.meta.pretokenized};
    /* Few rows at a time (a terminal decodes each line alone) are many small
     * dispatches: a CPU device runs them faster on one thread than handing
     * each to its worker threads. */
    cli->cpu_inline |= (uint64_t)beam * (isatty(fileno(in)) ? 1 : batch) <= VKNMT_CLI_INLINE_ROWS;
    if (vknmt_tokenizer_create(&to, &t.tok) || !vknmt_cli_open(cli) ||
        vknmt_model_create(cli->ctx, &t.file.meta.cfg, &t.model) ||
        vknmt_model_params_upload(t.model, t.file.params)) {
        if (cli->ctx)
            fprintf(stderr, "vknmt translate: %s\n", vknmt_context_errmsg(cli->ctx));
        rc = 1;
        goto done;
    }
    uint32_t rows = vknmt_model_max_decode_rows(t.model) / beam;
    t.batch = batch < rows ? batch : rows ? rows : 1;
    /* someone typing at a terminal gets each line's translation at once */
    uint32_t window = isatty(fileno(in)) ? 1 : t.batch * WINDOW_BATCHES;
    vknmt_source_line *lines = calloc(window, sizeof(vknmt_source_line));
    char *buf = NULL;
    size_t cap = 0;
    ssize_t got;
    uint32_t n = 0;
    uint64_t lineno = 0;
    bool progress = in_path && isatty(STDERR_FILENO);
    bool bad_input = false;
    while (lines && rc == 0 && (got = getline(&buf, &cap, in)) >= 0) {
        lineno++;
        char err2[256];
        if (!vknmt_source_line_read(t.tok, t.file.src_vocab, t.file.bpe, buf, (size_t)got, &lines[n], err2,
                                    sizeof(err2))) {
            if (!lines[n].bad) {
                fprintf(stderr, "vknmt translate: out of memory\n");
                rc = 1;
                break;
            }
            fprintf(stderr, "vknmt translate: %s:%llu: %s (an empty line is written for it)\n",
                    in_path ? in_path : "stdin", (unsigned long long)lineno, err2);
            bad_input = true;
        }
        /* the tighter of --max-len and the paper's limit (0) */
        lines[n].max_len =
            max_len && (uint32_t)max_len < vknmt_default_max_len(lines[n].ntok + 1) ? (uint32_t)max_len : 0;
        if (++n == window) {
            rc = flush(&t, lines, n, lineno - n, cli);
            for (uint32_t k = 0; k < n; k++)
                vknmt_source_line_free(&lines[k]);
            n = 0;
            fflush(t.out);
            if (progress)
                fprintf(stderr, "\r\033[Ktranslated %llu lines", (unsigned long long)lineno);
        }
    }
    if (lines && rc == 0 && n)
        rc = flush(&t, lines, n, lineno - n, cli);
    for (uint32_t k = 0; lines && k < n; k++)
        vknmt_source_line_free(&lines[k]);
    if (progress)
        fprintf(stderr, "\r\033[Ktranslated %llu lines\n", (unsigned long long)lineno);
    free(lines);
    free(buf);
    if (!rc && bad_input)
        rc = 1; /* every other line was translated; the bad ones were named */
done:
    if (in && in != stdin)
        fclose(in);
    if (t.out && t.out != stdout)
        fclose(t.out);
    vknmt_model_destroy(t.model);
    vknmt_tokenizer_destroy(t.tok);
    vknmt_train_resume_free(&t.file);
    vknmt_dict_destroy(t.dict);
    return rc;
}
