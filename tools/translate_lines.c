/* Reading, translating and scoring many lines (translate_lines.h). */
#include "translate_lines.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bleu.h"

char **vknmt_lines_read(const char *path, uint32_t max_lines, uint32_t *n, char *err, size_t err_size)
{
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "cannot open %s", path);
        return NULL;
    }
    char **lines = NULL, *buf = NULL;
    size_t cap = 0, len = 0;
    ssize_t got;
    uint32_t count = 0;
    bool oom = false;
    while ((max_lines == 0 || count < max_lines) && (got = getline(&buf, &cap, f)) >= 0) {
        if (count == len) {
            len = len ? 2 * len : 256;
            char **more = realloc(lines, len * sizeof(char *));
            if (!more) {
                oom = true;
                break;
            }
            lines = more;
        }
        while (got && (buf[got - 1] == '\n' || buf[got - 1] == '\r'))
            buf[--got] = '\0';
        if (!(lines[count] = strdup(buf))) {
            oom = true;
            break;
        }
        count++;
    }
    free(buf);
    fclose(f);
    if (oom || !lines) {
        vknmt_lines_free(lines, count);
        snprintf(err, err_size, oom ? "%s: out of memory" : "%s is empty", path);
        return NULL;
    }
    *n = count;
    return lines;
}

void vknmt_lines_free(char **lines, uint32_t n)
{
    for (uint32_t i = 0; lines && i < n; i++)
        free(lines[i]);
    free(lines);
}

vknmt_status vknmt_lines_translate(vknmt_model *model, const vknmt_beam_options *opt, const vknmt_source_line *lines,
                                   uint32_t n, const vknmt_vocab *tgt_vocab, bool units, char **texts,
                                   uint64_t *words)
{
    enum { MAX_BATCH = 32 };
    uint32_t batch = vknmt_model_max_decode_rows(model) / opt->beam;
    batch = batch < 1 ? 1 : batch > MAX_BATCH ? MAX_BATCH : batch;
    size_t nb = opt->nbest > 1 ? opt->nbest : 1; /* the best of an n-best list is the translation */
    vknmt_translation *tr = calloc(n ? n * nb : 1, sizeof(*tr));
    vknmt_status s = tr ? vknmt_source_lines_decode_sorted(model, opt, lines, n, batch, tr) : VKNMT_ERR_OOM_HOST;
    for (uint32_t k = 0; k < n && !s; k++) {
        const vknmt_translation *best = &tr[k * nb];
        texts[k] = units ? vknmt_translation_text_units(best, tgt_vocab, NULL, NULL)
                         : vknmt_translation_text(best, tgt_vocab, NULL, NULL);
        *words += best->len;
        if (!texts[k])
            s = VKNMT_ERR_OOM_HOST;
    }
    for (size_t k = 0; tr && k < n * nb; k++)
        vknmt_translation_free(&tr[k]);
    free(tr);
    return s;
}

double vknmt_lines_bleu(char *const *hyps, char *const *refs, const bool *pick, uint32_t n)
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
