#include "source_line.h"

#include <stdlib.h>
#include <string.h>

void vknmt_source_line_free(vknmt_source_line *l)
{
    for (uint32_t i = 0; l->tokens && i < l->ntok; i++)
        free(l->tokens[i]);
    free(l->tokens);
    free(l->ids);
    memset(l, 0, sizeof(*l));
}

bool vknmt_source_line_read(vknmt_tokenizer *tok, const vknmt_vocab *vocab, char *text, size_t len,
                            vknmt_source_line *l, char *err, size_t err_size)
{
    memset(l, 0, sizeof(*l));
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        text[--len] = '\0';
    const char *const *toks;
    size_t n;
    if (vknmt_tokenizer_run(tok, text, len, &toks, &n, err, err_size) != VKNMT_OK) {
        l->bad = true;
        return false;
    }
    l->tokens = calloc(n ? n : 1, sizeof(char *));
    l->ids = malloc((n + 1) * sizeof(int32_t));
    if (!l->tokens || !l->ids) {
        vknmt_source_line_free(l);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        l->tokens[i] = strdup(toks[i]);
        l->ntok = (uint32_t)i + 1;
        if (!l->tokens[i]) {
            vknmt_source_line_free(l);
            return false;
        }
        l->ids[i] = vknmt_vocab_id(vocab, toks[i]);
    }
    l->ids[n] = 3; /* </s> */
    return true;
}

vknmt_status vknmt_source_lines_decode(vknmt_model *model, const vknmt_beam_options *opt,
                                       const vknmt_source_line *lines, uint32_t n, vknmt_translation *tr)
{
    memset(tr, 0, n * sizeof(*tr));
    uint32_t live = 0, tx = 1;
    for (uint32_t k = 0; k < n; k++)
        if (!lines[k].bad && lines[k].ntok) {
            live++;
            tx = lines[k].ntok + 1 > tx ? lines[k].ntok + 1 : tx;
        }
    if (!live)
        return VKNMT_OK;
    int32_t *src = calloc((size_t)live * tx, sizeof(int32_t)), *len = calloc(live, sizeof(int32_t));
    vknmt_translation *got = calloc(live, sizeof(*got));
    vknmt_status s = src && len && got ? VKNMT_OK : VKNMT_ERR_OOM_HOST;
    for (uint32_t k = 0, i = 0; k < n && !s; k++)
        if (!lines[k].bad && lines[k].ntok) {
            memcpy(src + (size_t)i * tx, lines[k].ids, (lines[k].ntok + 1) * sizeof(int32_t));
            len[i++] = (int32_t)lines[k].ntok + 1;
        }
    if (!s)
        s = opt->beam == 1 && !opt->no_unk ? vknmt_model_greedy(model, live, tx, src, len, got)
                                           : vknmt_model_beam(model, live, tx, src, len, opt, got);
    for (uint32_t k = 0, i = 0; k < n && !s; k++)
        if (!lines[k].bad && lines[k].ntok)
            tr[k] = got[i++]; /* ownership moves */
    free(src);
    free(len);
    free(got);
    return s;
}

char *vknmt_translation_text(const vknmt_translation *tr, const vknmt_vocab *tgt_vocab)
{
    uint32_t nout = tr->len && tr->tokens[tr->len - 1] == 3 ? tr->len - 1 : tr->len;
    const char **words = calloc(nout ? nout : 1, sizeof(char *));
    char *text = NULL;
    if (!words)
        return NULL;
    for (uint32_t i = 0; i < nout; i++)
        words[i] = vknmt_vocab_token(tgt_vocab, tr->tokens[i]);
    if (vknmt_detokenize(words, nout, &text) != VKNMT_OK)
        text = NULL;
    free(words);
    return text;
}
