#include "train_files.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"

static vknmt_status add_meta(vknmt_st_writer *w, const vknmt_train_meta *m, const vknmt_param_layout *lay,
                             const float *params)
{
    char *sv = NULL, *tv = NULL, *merges = NULL;
    size_t sl, tl;
    char num[32];
    vknmt_status s = vknmt_params_to_writer(w, &m->cfg, lay, params);
    if (!s)
        s = vknmt_vocab_to_string(m->src_vocab, &sv, &sl);
    if (!s)
        s = vknmt_vocab_to_string(m->tgt_vocab, &tv, &tl);
    if (!s)
        s = vknmt_st_writer_set_metadata(w, "src_vocab", sv);
    if (!s)
        s = vknmt_st_writer_set_metadata(w, "tgt_vocab", tv);
    if (!s)
        s = vknmt_st_writer_set_metadata(w, "lowercase", m->lowercase ? "1" : "0");
    if (!s)
        s = vknmt_st_writer_set_metadata(w, "pretokenized", m->pretokenized ? "1" : "0");
    snprintf(num, sizeof(num), "%u", m->max_len);
    if (!s)
        s = vknmt_st_writer_set_metadata(w, "max_len", num);
    if (!s && m->bpe && !(s = vknmt_bpe_to_string(m->bpe, &merges, NULL)))
        s = vknmt_st_writer_set_metadata(w, "bpe_merges", merges);
    if (!s)
        s = vknmt_st_writer_set_metadata(w, "producer", "vknmt");
    free(sv);
    free(tv);
    free(merges);
    return s;
}

vknmt_status vknmt_train_save_model(const char *path, const vknmt_train_meta *meta, const vknmt_param_layout *lay,
                                    const float *params, char *err, size_t err_size)
{
    vknmt_st_writer *w = NULL;
    vknmt_status s = vknmt_st_writer_create(&w);
    if (!s && (s = add_meta(w, meta, lay, params)))
        snprintf(err, err_size, "%s: %s", path, vknmt_st_writer_errmsg(w));
    if (!s)
        s = vknmt_st_writer_save(w, path, err, err_size);
    vknmt_st_writer_destroy(w);
    return s;
}

vknmt_status vknmt_train_save_state(const char *path, const vknmt_train_meta *meta, const vknmt_param_layout *lay,
                                    const float *params, const float *state1, const float *state2,
                                    const vknmt_train_progress *p, char *err, size_t err_size)
{
    vknmt_st_writer *w = NULL;
    vknmt_status s = vknmt_st_writer_create(&w);
    uint64_t shape[1] = {lay->total};
    if (!s)
        s = add_meta(w, meta, lay, params);
    if (!s)
        s = vknmt_st_writer_add(w, "optim.state1", VKNMT_ST_F32, 1, shape, state1);
    if (!s)
        s = vknmt_st_writer_add(w, "optim.state2", VKNMT_ST_F32, 1, shape, state2);
    struct { const char *key; uint64_t v; } ints[] = {
        {"train.step", p->step}, {"train.updates", p->updates}, {"train.tokens", p->tokens},
        {"train.bad_validations", p->bad_validations}, {"train.data.seed", p->data.seed},
        {"train.data.epoch", p->data.epoch}, {"train.data.pool", p->data.pool}, {"train.data.batch", p->data.batch},
        {"train.data.pairs", p->data.pairs}};
    char num[40];
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]) && !s; i++) {
        snprintf(num, sizeof(num), "%" PRIu64, ints[i].v);
        s = vknmt_st_writer_set_metadata(w, ints[i].key, num);
    }
    /* %a: exact, so a resumed run compares against the same best */
    snprintf(num, sizeof(num), "%a", p->best_dev);
    if (!s)
        s = vknmt_st_writer_set_metadata(w, "train.best_dev", num);
    snprintf(num, sizeof(num), "%a", p->elapsed);
    if (!s)
        s = vknmt_st_writer_set_metadata(w, "train.elapsed", num);
    snprintf(num, sizeof(num), "%a", (double)p->dropout);
    if (!s)
        s = vknmt_st_writer_set_metadata(w, "train.dropout", num);
    if (s)
        snprintf(err, err_size, "%s: %s", path, vknmt_st_writer_errmsg(w));
    else
        s = vknmt_st_writer_save(w, path, err, err_size);
    vknmt_st_writer_destroy(w);
    return s;
}

static bool meta_u64(const vknmt_st *st, const char *key, uint64_t *out)
{
    const char *v = vknmt_st_metadata(st, key);
    char *end;
    if (!v || !*v)
        return false;
    *out = strtoull(v, &end, 10);
    return *end == '\0';
}

static bool meta_double(const vknmt_st *st, const char *key, double *out)
{
    const char *v = vknmt_st_metadata(st, key);
    char *end;
    if (!v || !*v)
        return false;
    *out = strtod(v, &end);
    return *end == '\0';
}

static float *flat_tensor(const vknmt_st *st, const char *name, uint64_t n, char *err, size_t err_size)
{
    const vknmt_st_tensor *t = vknmt_st_find(st, name);
    if (!t || t->numel != n) {
        snprintf(err, err_size, "tensor %s missing or of the wrong size", name);
        return NULL;
    }
    float *f = malloc(n * sizeof(float));
    if (f && vknmt_st_to_f32(t, f, n, err, err_size) != VKNMT_OK) {
        free(f);
        return NULL;
    }
    return f;
}

/* The parameters, vocabularies and text settings every model file has. */
static bool load_common(const vknmt_st *st, vknmt_train_resume *r, char *why, size_t n)
{
    if (vknmt_params_from_st(st, &r->meta.cfg, &r->lay, &r->params, why, n))
        return false;
    const char *sv = vknmt_st_metadata(st, "src_vocab"), *tv = vknmt_st_metadata(st, "tgt_vocab");
    if (!sv || !tv) {
        snprintf(why, n, "no vocabularies in the metadata (not written by vknmt train?)");
        return false;
    }
    if (vknmt_vocab_from_string(sv, strlen(sv), "src_vocab", &r->src_vocab, why, n) ||
        vknmt_vocab_from_string(tv, strlen(tv), "tgt_vocab", &r->tgt_vocab, why, n))
        return false;
    if (vknmt_vocab_size(r->src_vocab) != r->meta.cfg.vs || vknmt_vocab_size(r->tgt_vocab) != r->meta.cfg.vt) {
        snprintf(why, n, "vocabulary sizes %u/%u do not match the embeddings (%u/%u)", vknmt_vocab_size(r->src_vocab),
                 vknmt_vocab_size(r->tgt_vocab), r->meta.cfg.vs, r->meta.cfg.vt);
        return false;
    }
    r->meta.src_vocab = r->src_vocab;
    r->meta.tgt_vocab = r->tgt_vocab;
    uint64_t lc, pt, ml;
    if (!meta_u64(st, "lowercase", &lc) || !meta_u64(st, "pretokenized", &pt) || !meta_u64(st, "max_len", &ml)) {
        snprintf(why, n, "tokenizer settings missing from the metadata");
        return false;
    }
    r->meta.lowercase = lc != 0;
    r->meta.pretokenized = pt != 0;
    r->meta.max_len = (uint32_t)ml;
    const char *merges = vknmt_st_metadata(st, "bpe_merges");
    if (merges && vknmt_bpe_from_string(merges, strlen(merges), "bpe_merges", &r->bpe, why, n))
        return false;
    r->meta.bpe = r->bpe;
    return true;
}

/* Opens `path` and reads what a model file and a training state share; *st
 * stays open for the rest. A file that lacks it gets "PATH: <what>: why". */
static vknmt_status open_common(const char *path, const char *what, vknmt_train_resume *r, vknmt_st **st, char *err,
                                size_t err_size)
{
    memset(r, 0, sizeof(*r));
    char why[512] = "";
    vknmt_status s = vknmt_st_open(path, st, err, err_size);
    if (s)
        return s;
    if (!load_common(*st, r, why, sizeof(why))) {
        snprintf(err, err_size, "%s: %s: %s", path, what, why);
        vknmt_train_resume_free(r);
        vknmt_st_destroy(*st);
        *st = NULL;
        return VKNMT_ERR_INPUT;
    }
    return VKNMT_OK;
}

vknmt_status vknmt_model_file_load(const char *path, vknmt_train_resume *r, char *err, size_t err_size)
{
    vknmt_st *st = NULL;
    vknmt_status s = open_common(path, "not a usable vknmt model", r, &st, err, err_size);
    vknmt_st_destroy(st);
    return s;
}

vknmt_status vknmt_train_load_state(const char *path, vknmt_train_resume *r, char *err, size_t err_size)
{
    vknmt_st *st = NULL;
    char why[512] = "";
    vknmt_status s = open_common(path, "cannot resume from it", r, &st, err, err_size);
    if (s)
        return s;
    s = VKNMT_ERR_INPUT;
    if (!(r->state1 = flat_tensor(st, "optim.state1", r->lay.total, why, sizeof(why))) ||
        !(r->state2 = flat_tensor(st, "optim.state2", r->lay.total, why, sizeof(why))))
        goto bad;
    vknmt_train_progress *p = &r->prog;
    if (!meta_u64(st, "train.step", &p->step) || !meta_u64(st, "train.updates", &p->updates) ||
        !meta_u64(st, "train.tokens", &p->tokens) || !meta_u64(st, "train.bad_validations", &p->bad_validations) ||
        !meta_u64(st, "train.data.seed", &p->data.seed) || !meta_u64(st, "train.data.epoch", &p->data.epoch) ||
        !meta_u64(st, "train.data.pool", &p->data.pool) || !meta_u64(st, "train.data.batch", &p->data.batch) ||
        !meta_u64(st, "train.data.pairs", &p->data.pairs) || !meta_double(st, "train.best_dev", &p->best_dev) ||
        !meta_double(st, "train.elapsed", &p->elapsed)) {
        snprintf(why, sizeof(why), "training metadata missing or malformed (not written by vknmt train?)");
        goto bad;
    }
    double dropout = 0; /* files from before --dropout trained without it */
    if (vknmt_st_metadata(st, "train.dropout") &&
        (!meta_double(st, "train.dropout", &dropout) || !(dropout >= 0 && dropout < 1))) {
        snprintf(why, sizeof(why), "train.dropout is not a probability below 1");
        goto bad;
    }
    p->dropout = (float)dropout;
    vknmt_st_destroy(st);
    return VKNMT_OK;
bad:
    snprintf(err, err_size, "%s: cannot resume from it: %s", path, why);
    vknmt_st_destroy(st);
    vknmt_train_resume_free(r);
    return s;
}

void vknmt_train_resume_free(vknmt_train_resume *r)
{
    vknmt_vocab_destroy(r->src_vocab);
    vknmt_vocab_destroy(r->tgt_vocab);
    vknmt_bpe_destroy(r->bpe);
    free(r->params);
    free(r->state1);
    free(r->state2);
    memset(r, 0, sizeof(*r));
}
