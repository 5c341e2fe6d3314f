#include "source_line.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void free_strings(char **s, uint32_t n)
{
    for (uint32_t i = 0; s && i < n; i++)
        free(s[i]);
    free(s);
}

void vknmt_source_line_free(vknmt_source_line *l)
{
    free_strings(l->tokens, l->ntok);
    free(l->ids);
    free_strings(l->words, l->nwords);
    free(l->word_of);
    memset(l, 0, sizeof(*l));
}

/* Splits the line's words into subword units and keeps the words; false
 * means out of memory (the line is then freed). */
static bool apply_bpe(vknmt_source_line *l, vknmt_bpe *bpe, const vknmt_vocab *vocab)
{
    if (l->bad || !l->ntok || l->words)
        return true;
    const char *const *units;
    const uint32_t *word_of;
    size_t n;
    if (vknmt_bpe_apply(bpe, (const char *const *)l->tokens, l->ntok, &units, &n, &word_of) != VKNMT_OK ||
        n > UINT32_MAX - 1) {
        vknmt_source_line_free(l);
        return false;
    }
    char **toks = calloc(n, sizeof(char *));
    int32_t *ids = malloc((n + 1) * sizeof(int32_t));
    uint32_t *wo = malloc(n * sizeof(uint32_t));
    bool ok = toks && ids && wo;
    for (size_t j = 0; ok && j < n; j++) {
        ok = (toks[j] = strdup(units[j])) != NULL;
        ids[j] = vknmt_vocab_id(vocab, units[j]);
        wo[j] = word_of[j];
    }
    if (!ok) {
        free_strings(toks, (uint32_t)n);
        free(ids);
        free(wo);
        vknmt_source_line_free(l);
        return false;
    }
    ids[n] = 3; /* </s> */
    free(l->ids);
    l->words = l->tokens;
    l->nwords = l->ntok;
    l->tokens = toks;
    l->ntok = (uint32_t)n;
    l->ids = ids;
    l->word_of = wo;
    return true;
}

bool vknmt_source_line_read(vknmt_tokenizer *tok, const vknmt_vocab *vocab, vknmt_bpe *bpe, char *text, size_t len,
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
    return !bpe || apply_bpe(l, bpe, vocab);
}

vknmt_status vknmt_source_lines_decode(vknmt_model *model, const vknmt_beam_options *opt,
                                       const vknmt_source_line *lines, uint32_t n, vknmt_translation *tr)
{
    uint32_t nb = opt->nbest > 1 ? opt->nbest : 1;
    memset(tr, 0, (size_t)n * nb * sizeof(*tr));
    uint32_t live = 0, tx = 1;
    for (uint32_t k = 0; k < n; k++)
        if (!lines[k].bad && lines[k].ntok) {
            live++;
            tx = lines[k].ntok + 1 > tx ? lines[k].ntok + 1 : tx;
        }
    if (!live)
        return VKNMT_OK;
    int32_t *src = calloc((size_t)live * tx, sizeof(int32_t)), *len = calloc(live, sizeof(int32_t));
    uint32_t *limit = calloc(live, sizeof(uint32_t));
    vknmt_translation *got = calloc((size_t)live * nb, sizeof(*got));
    vknmt_status s = src && len && limit && got ? VKNMT_OK : VKNMT_ERR_OOM_HOST;
    for (uint32_t k = 0, i = 0; k < n && !s; k++)
        if (!lines[k].bad && lines[k].ntok) {
            memcpy(src + (size_t)i * tx, lines[k].ids, (lines[k].ntok + 1) * sizeof(int32_t));
            limit[i] = lines[k].max_len;
            len[i++] = (int32_t)lines[k].ntok + 1;
        }
    vknmt_beam_options bo = *opt;
    bo.max_len = limit;
    if (!s)
        s = opt->beam == 1 && !opt->no_unk && nb == 1 ? vknmt_model_greedy(model, live, tx, src, len, limit, got)
                                                      : vknmt_model_beam(model, live, tx, src, len, &bo, got);
    for (uint32_t k = 0, i = 0; k < n && !s; k++)
        if (!lines[k].bad && lines[k].ntok) {
            memcpy(&tr[(size_t)k * nb], &got[(size_t)i * nb], nb * sizeof(*got)); /* ownership moves */
            i++;
        }
    free(src);
    free(len);
    free(limit);
    free(got);
    return s;
}

typedef struct len_at {
    uint32_t len, at;
} len_at;

/* shortest first; equal lengths in input order, so the batches are the same every run */
static int cmp_len_at(const void *pa, const void *pb)
{
    const len_at *a = pa, *b = pb;
    if (a->len != b->len)
        return (a->len > b->len) - (a->len < b->len);
    return (a->at > b->at) - (a->at < b->at);
}

vknmt_status vknmt_source_lines_decode_sorted(vknmt_model *model, const vknmt_beam_options *opt,
                                              const vknmt_source_line *lines, uint32_t n, uint32_t batch,
                                              vknmt_translation *tr)
{
    uint32_t nb = opt->nbest > 1 ? opt->nbest : 1;
    memset(tr, 0, (size_t)n * nb * sizeof(*tr));
    if (!n)
        return VKNMT_OK;
    batch = batch < 1 ? 1 : batch;
    len_at *order = malloc((size_t)n * sizeof(*order));
    vknmt_source_line *chunk = malloc((size_t)batch * sizeof(*chunk));
    vknmt_translation *got = malloc((size_t)batch * nb * sizeof(*got));
    vknmt_status s = order && chunk && got ? VKNMT_OK : VKNMT_ERR_OOM_HOST;
    for (uint32_t k = 0; k < n && !s; k++)
        order[k] = (len_at){lines[k].bad ? 0 : lines[k].ntok, k};
    if (!s)
        qsort(order, n, sizeof(*order), cmp_len_at);
    for (uint32_t at = 0; at < n && !s; at += batch) {
        uint32_t m = n - at < batch ? n - at : batch;
        for (uint32_t k = 0; k < m; k++)
            chunk[k] = lines[order[at + k].at];
        if ((s = vknmt_source_lines_decode(model, opt, chunk, m, got)))
            break;
        for (uint32_t k = 0; k < m; k++) /* ownership moves */
            memcpy(&tr[(size_t)order[at + k].at * nb], &got[(size_t)k * nb], nb * sizeof(*got));
    }
    if (s)
        for (size_t k = 0; k < (size_t)n * nb; k++)
            vknmt_translation_free(&tr[k]);
    free(order);
    free(chunk);
    free(got);
    return s;
}

struct vknmt_dict {
    vknmt_vocab_counter *src; /* borrowed as a string -> index map */
    char **tgt;               /* owned, by the source word's index */
    uint32_t count, cap;
};

vknmt_status vknmt_dict_load(const char *path, vknmt_dict **out, char *err, size_t err_size)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "cannot open the dictionary %s", path);
        return VKNMT_ERR_IO;
    }
    vknmt_dict *d = calloc(1, sizeof(*d));
    vknmt_status s = d ? vknmt_vocab_counter_create(&d->src) : VKNMT_ERR_OOM_HOST;
    char *line = NULL;
    size_t cap = 0;
    uint64_t lineno = 0;
    while (!s && getline(&line, &cap, f) >= 0) {
        lineno++;
        char *save = NULL, *a = strtok_r(line, " \t\r\n", &save), *b = a ? strtok_r(NULL, " \t\r\n", &save) : NULL;
        if (!a)
            continue; /* blank line */
        if (!b || strtok_r(NULL, " \t\r\n", &save)) {
            snprintf(err, err_size, "%s:%llu: expected \"source target\"", path, (unsigned long long)lineno);
            s = VKNMT_ERR_INPUT;
            break;
        }
        uint32_t type;
        if ((s = vknmt_vocab_counter_add(d->src, a, &type)))
            break;
        if (type < d->count)
            continue; /* the first entry of a word wins */
        if (type >= d->cap) {
            uint32_t nc = d->cap ? 2 * d->cap : 256;
            char **t = realloc(d->tgt, nc * sizeof(char *));
            if (!t) {
                s = VKNMT_ERR_OOM_HOST;
                break;
            }
            d->tgt = t;
            d->cap = nc;
        }
        d->tgt[type] = strdup(b);
        d->count = type + 1;
    }
    free(line);
    fclose(f);
    if (s) {
        vknmt_dict_destroy(d);
        return s;
    }
    *out = d;
    return VKNMT_OK;
}

void vknmt_dict_destroy(vknmt_dict *d)
{
    if (!d)
        return;
    for (uint32_t i = 0; i < d->count; i++)
        free(d->tgt[i]);
    free(d->tgt);
    vknmt_vocab_counter_destroy(d->src);
    free(d);
}

/* The dictionary's translation of `word`, or NULL. */
static const char *dict_lookup(const vknmt_dict *d, const char *word)
{
    for (uint32_t i = 0; d && i < d->count; i++) /* linear: only <unk> words are looked up */
        if (strcmp(vknmt_vocab_counter_token(d->src, i), word) == 0)
            return d->tgt[i];
    return NULL;
}

/* The source word output token i attends to most (the </s> column
 * excluded), as a whole word, or through the dictionary. */
static const char *copied_word(const vknmt_translation *tr, uint32_t i, const vknmt_source_line *src,
                               const vknmt_dict *dict)
{
    const float *row = tr->alpha + (size_t)i * tr->src_len;
    uint32_t best = 0;
    for (uint32_t j = 1; j < src->ntok && j < tr->src_len; j++)
        if (row[j] > row[best])
            best = j;
    const char *word = src->words ? src->words[src->word_of[best]] : src->tokens[best];
    const char *copy = dict_lookup(dict, word);
    return copy ? copy : word;
}

char *vknmt_translation_text_units(const vknmt_translation *tr, const vknmt_vocab *tgt_vocab,
                                   const vknmt_source_line *src, const vknmt_dict *dict)
{
    uint32_t nout = tr->len && tr->tokens[tr->len - 1] == 3 ? tr->len - 1 : tr->len;
    const char **units = calloc(nout ? nout : 1, sizeof(char *));
    uint32_t *word_of = calloc(nout ? nout : 1, sizeof(uint32_t));
    char **words = NULL, *text = NULL;
    size_t nw = 0;
    if (!units || !word_of)
        goto done;
    for (uint32_t i = 0; i < nout; i++)
        units[i] = vknmt_vocab_token(tgt_vocab, tr->tokens[i]);
    if (vknmt_bpe_join(units, nout, &words, &nw, word_of) != VKNMT_OK)
        goto done;
    /* the first <unk> unit of a word picks the source word for all of it */
    const char **out = (const char **)units; /* reused: nw <= nout */
    for (size_t w = 0; w < nw; w++)
        out[w] = words[w];
    for (uint32_t i = nout; src && src->ntok && tr->alpha && i-- > 0;)
        if (tr->tokens[i] == 1 && word_of[i] < nw)
            out[word_of[i]] = copied_word(tr, i, src, dict);
    if (vknmt_detokenize(out, nw, &text) != VKNMT_OK)
        text = NULL;
done:
    free(units);
    free(word_of);
    free(words);
    return text;
}

char *vknmt_translation_text(const vknmt_translation *tr, const vknmt_vocab *tgt_vocab,
                             const vknmt_source_line *src, const vknmt_dict *dict)
{
    uint32_t nout = tr->len && tr->tokens[tr->len - 1] == 3 ? tr->len - 1 : tr->len;
    const char **words = calloc(nout ? nout : 1, sizeof(char *));
    char *text = NULL;
    if (!words)
        return NULL;
    for (uint32_t i = 0; i < nout; i++) {
        words[i] = vknmt_vocab_token(tgt_vocab, tr->tokens[i]);
        if (src && tr->tokens[i] == 1 && src->ntok && tr->alpha)
            words[i] = copied_word(tr, i, src, dict);
    }
    if (vknmt_detokenize(words, nout, &text) != VKNMT_OK)
        text = NULL;
    free(words);
    return text;
}
