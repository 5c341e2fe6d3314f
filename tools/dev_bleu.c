/* Dev-set BLEU during training (dev_bleu.h). */
#include "dev_bleu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "translate_lines.h"

struct vknmt_dev_bleu {
    vknmt_source_line *src; /* owned, n */
    char **ref;             /* owned, n */
    char **hyp;             /* owned, n: the last translations */
    uint32_t n;
    const vknmt_vocab *tgt_vocab; /* borrowed */
    bool units;                   /* the model's outputs are subword units */
};

vknmt_status vknmt_dev_bleu_create(const char *src_path, const char *ref_path, uint32_t max_lines,
                                   const vknmt_train_meta *meta, vknmt_bpe *bpe, vknmt_dev_bleu **out, char *err,
                                   size_t err_size)
{
    *out = NULL;
    vknmt_dev_bleu *d = calloc(1, sizeof(*d));
    if (!d)
        return VKNMT_ERR_OOM_HOST;
    d->tgt_vocab = meta->tgt_vocab;
    d->units = bpe != NULL;
    uint32_t ns = 0;
    char **src = vknmt_lines_read(src_path, max_lines, &ns, err, err_size);
    vknmt_tokenizer *tok = NULL;
    vknmt_tokenize_options to = {meta->lowercase, meta->pretokenized};
    vknmt_status s = VKNMT_ERR_INPUT;
    if (!src || !(d->ref = vknmt_lines_read(ref_path, max_lines, &d->n, err, err_size)))
        goto done;
    if (d->n != ns) {
        snprintf(err, err_size, "%s has %u lines but %s has %u", src_path, ns, ref_path, d->n);
        goto done;
    }
    s = VKNMT_ERR_OOM_HOST;
    if (!(d->src = calloc(d->n, sizeof(*d->src))) || !(d->hyp = calloc(d->n, sizeof(char *))) ||
        vknmt_tokenizer_create(&to, &tok))
        goto done;
    for (uint32_t i = 0; i < d->n; i++) {
        vknmt_source_line *l = &d->src[i];
        char why[256];
        /* An invalid line stays empty (bad) and translates to nothing. */
        if (!vknmt_source_line_read(tok, meta->src_vocab, bpe, src[i], strlen(src[i]), l, why, sizeof(why)) &&
            !l->bad)
            goto done;
    }
    s = VKNMT_OK;
done:
    vknmt_tokenizer_destroy(tok);
    vknmt_lines_free(src, ns);
    if (s) {
        if (s == VKNMT_ERR_OOM_HOST)
            snprintf(err, err_size, "out of memory reading the dev set for BLEU");
        vknmt_dev_bleu_destroy(d);
        return s;
    }
    *out = d;
    return VKNMT_OK;
}

void vknmt_dev_bleu_destroy(vknmt_dev_bleu *d)
{
    if (!d)
        return;
    for (uint32_t i = 0; d->src && i < d->n; i++)
        vknmt_source_line_free(&d->src[i]);
    free(d->src);
    vknmt_lines_free(d->ref, d->n);
    vknmt_lines_free(d->hyp, d->n);
    free(d);
}

uint32_t vknmt_dev_bleu_lines(const vknmt_dev_bleu *d) { return d->n; }

vknmt_status vknmt_dev_bleu_score(vknmt_dev_bleu *d, vknmt_model *model, double *bleu)
{
    for (uint32_t i = 0; i < d->n; i++) {
        free(d->hyp[i]);
        d->hyp[i] = NULL;
    }
    vknmt_beam_options opt = {.beam = 1, .nbest = 1};
    uint64_t words = 0;
    vknmt_status s = vknmt_lines_translate(model, &opt, d->src, d->n, d->tgt_vocab, d->units, d->hyp, &words);
    if (s)
        return s;
    *bleu = vknmt_lines_bleu(d->hyp, d->ref, NULL, d->n);
    return VKNMT_OK;
}
