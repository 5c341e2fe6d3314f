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
