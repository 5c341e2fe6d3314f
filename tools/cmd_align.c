/* vknmt align: the attention of one translated sentence as a picture (the
 * paper's Figure 3, PNG or SVG) and as shading in the terminal. For a model
 * trained with --bpe the rows and columns are the subword units the model
 * read and wrote ("low@@ est"), not words. */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "plot.h"
#include "rnnsearch.h"
#include "source_line.h"
#include "train_files.h"

/* Line `want` (1-based) of `path`, malloc'd; NULL if the file is shorter. */
static char *read_line(const char *path, uint64_t want)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0;
    uint64_t n = 0;
    while (getline(&buf, &cap, f) >= 0)
        if (++n == want) {
            fclose(f);
            return buf;
        }
    free(buf);
    fclose(f);
    return NULL;
}

int vknmt_cmd_align(vknmt_cli *cli, int argc, char **argv)
{
    const char *model_path = NULL, *in_path = NULL, *out_path = "alignment.png", *sentence = NULL;
    uint64_t lineno = 0;
    bool ascii = false;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (!strcmp(o, "-m") || !strcmp(o, "--model"))
            model_path = vknmt_cli_value(argc, argv, &i);
        else if (!strcmp(o, "-i"))
            in_path = vknmt_cli_value(argc, argv, &i);
        else if (!strcmp(o, "--line"))
            lineno = vknmt_cli_count("align", o, vknmt_cli_value(argc, argv, &i), 1, UINT32_MAX);
        else if (!strcmp(o, "-o"))
            out_path = vknmt_cli_value(argc, argv, &i);
        else if (!strcmp(o, "--ascii"))
            ascii = true;
        else if (o[0] != '-' && !sentence)
            sentence = o;
        else {
            fprintf(stderr, "vknmt align: unknown argument %s\n", o);
            return 2;
        }
    }
    if (!model_path || (!sentence && !(in_path && lineno))) {
        fprintf(stderr, "usage: vknmt align -m MODEL [-o alignment.png|.svg] [--ascii] \"source sentence\"\n"
                        "       vknmt align -m MODEL -i FILE --line N ...\n");
        return 2;
    }
    char *text = sentence ? strdup(sentence) : read_line(in_path, lineno);
    if (!text) {
        fprintf(stderr, "vknmt align: %s has no line %llu\n", in_path ? in_path : "input", (unsigned long long)lineno);
        return 1;
    }
    char err[1024];
    int rc = 1;
    vknmt_train_resume file;
    vknmt_tokenizer *tok = NULL;
    vknmt_model *model = NULL;
    vknmt_source_line line = {0};
    vknmt_translation tr = {0};
    const char **srcw = NULL, **outw = NULL;
    if (vknmt_model_file_load(model_path, &file, err, sizeof(err))) {
        fprintf(stderr, "vknmt align: %s\n", err);
        free(text);
        return 1;
    }
    vknmt_tokenize_options to = {file.meta.lowercase, file.meta.pretokenized};
    if (vknmt_tokenizer_create(&to, &tok) ||
        !vknmt_source_line_read(tok, file.src_vocab, file.bpe, text, strlen(text), &line, err, sizeof(err))) {
        fprintf(stderr, "vknmt align: %s%s%llu: %s\n", in_path ? in_path : "the sentence", in_path ? ":" : "",
                in_path ? (unsigned long long)lineno : 0ull, line.bad ? err : "out of memory");
        goto done;
    }
    cli->cpu_inline = true; /* one sentence, greedy: VKNMT_CLI_INLINE_ROWS */
    if (!vknmt_cli_open(cli))
        goto done;
    int32_t len = (int32_t)line.ntok + 1;
    if (vknmt_model_create(cli->ctx, &file.meta.cfg, &model) || vknmt_model_params_upload(model, file.params) ||
        vknmt_model_greedy(model, 1, (uint32_t)len, line.ids, &len, NULL, &tr)) {
        fprintf(stderr, "vknmt align: %s\n", vknmt_context_errmsg(cli->ctx));
        goto done;
    }
    /* the </s> the model reads and writes count as words of the matrix */
    srcw = calloc(line.ntok + 1, sizeof(char *));
    outw = calloc(tr.len ? tr.len : 1, sizeof(char *));
    if (!srcw || !outw)
        goto done;
    for (uint32_t j = 0; j < line.ntok; j++)
        srcw[j] = line.tokens[j];
    srcw[line.ntok] = "</s>";
    for (uint32_t i = 0; i < tr.len; i++)
        outw[i] = vknmt_vocab_token(file.tgt_vocab, tr.tokens[i]);
    if (vknmt_model_config_get(model)->attention == VKNMT_ATTENTION_NONE)
        fprintf(stderr, "vknmt align: this is an RNNencdec model: it has no attention to show\n");
    else if (tr.len == 0)
        fprintf(stderr, "vknmt align: the model produced no word\n");
    else if (vknmt_plot_alignment(out_path, srcw, line.ntok + 1, outw, tr.len, tr.alpha, err, sizeof(err)) ||
             vknmt_plot_alignment_text(stdout, srcw, line.ntok + 1, outw, tr.len, tr.alpha, !ascii, err, sizeof(err)))
        fprintf(stderr, "vknmt align: %s\n", err);
    else {
        printf("alignment written to %s\n", out_path);
        rc = 0;
    }
done:
    free(srcw);
    free(outw);
    vknmt_translation_free(&tr);
    vknmt_source_line_free(&line);
    vknmt_model_destroy(model);
    vknmt_tokenizer_destroy(tok);
    vknmt_train_resume_free(&file);
    free(text);
    return rc;
}
