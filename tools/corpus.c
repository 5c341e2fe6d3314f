/* Reading a parallel corpus: tokenize both sides once, count the types of
 * the kept pairs, build (or take) the vocabularies, then turn the stored
 * type numbers into ids. */
#include "corpus.h"
#include "strbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pair_rec {
    uint64_t off;              /* of the source ids in ids; the target follows */
    uint32_t src_len, tgt_len; /* with </s> */
    uint64_t line;
} pair_rec;

struct vknmt_corpus {
    int32_t *ids; /* owned */
    size_t n_ids, cap_ids;
    pair_rec *pairs; /* owned */
    size_t n_pairs, cap_pairs;
    vknmt_vocab *own_src, *own_tgt;             /* owned, when built here */
    const vknmt_vocab *src_vocab, *tgt_vocab;   /* borrowed (or = own_*) */
    vknmt_corpus_stats stats;
};

static void fail(char *err, size_t err_size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void fail(char *err, size_t err_size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
}

vknmt_status vknmt_corpus_create(vknmt_corpus **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? VKNMT_OK : VKNMT_ERR_OOM_HOST;
}

void vknmt_corpus_destroy(vknmt_corpus *c)
{
    if (!c)
        return;
    free(c->ids);
    free(c->pairs);
    vknmt_vocab_destroy(c->own_src);
    vknmt_vocab_destroy(c->own_tgt);
    free(c);
}

/* Room for one more pair with `n` ids; returns the record (off, line set). */
static pair_rec *pair_new(vknmt_corpus *c, size_t n, uint64_t line)
{
    if (!vknmt_array_reserve((void **)&c->ids, &c->cap_ids, c->n_ids + n, sizeof(*c->ids)) ||
        !vknmt_array_reserve((void **)&c->pairs, &c->cap_pairs, c->n_pairs + 1, sizeof(*c->pairs)))
        return NULL;
    pair_rec *p = &c->pairs[c->n_pairs++];
    *p = (pair_rec){.off = c->n_ids, .line = line};
    return p;
}

vknmt_status vknmt_corpus_add(vknmt_corpus *c, const int32_t *src, uint32_t src_len, const int32_t *tgt,
                              uint32_t tgt_len, uint64_t line)
{
    if (src_len == 0 || tgt_len == 0)
        return VKNMT_ERR_USAGE;
    pair_rec *p = pair_new(c, (size_t)src_len + tgt_len, line);
    if (!p)
        return VKNMT_ERR_OOM_HOST;
    memcpy(c->ids + c->n_ids, src, (size_t)src_len * sizeof(*src));
    memcpy(c->ids + c->n_ids + src_len, tgt, (size_t)tgt_len * sizeof(*tgt));
    c->n_ids += (size_t)src_len + tgt_len;
    p->src_len = src_len;
    p->tgt_len = tgt_len;
    c->stats.lines = c->stats.pairs = c->n_pairs;
    c->stats.src_tokens += src_len - 1;
    c->stats.tgt_tokens += tgt_len - 1;
    return VKNMT_OK;
}

size_t vknmt_corpus_size(const vknmt_corpus *c) { return c->n_pairs; }

vknmt_pair vknmt_corpus_pair(const vknmt_corpus *c, size_t i)
{
    const pair_rec *p = &c->pairs[i];
    return (vknmt_pair){.src = c->ids + p->off,
                        .tgt = c->ids + p->off + p->src_len,
                        .src_len = p->src_len,
                        .tgt_len = p->tgt_len,
                        .line = p->line};
}

const vknmt_corpus_stats *vknmt_corpus_stats_get(const vknmt_corpus *c) { return &c->stats; }
const vknmt_vocab *vknmt_corpus_src_vocab(const vknmt_corpus *c) { return c->src_vocab; }
const vknmt_vocab *vknmt_corpus_tgt_vocab(const vknmt_corpus *c) { return c->tgt_vocab; }

/* ---- loading ---- */

/* Lines in f: newlines, plus one for a last line without its newline. */
static vknmt_status count_lines(FILE *f, const char *path, uint64_t *lines, char *err, size_t err_size)
{
    enum { CHUNK = 1 << 16 };
    char *buf = malloc(CHUNK);
    if (!buf) {
        fail(err, err_size, "out of memory");
        return VKNMT_ERR_OOM_HOST;
    }
    uint64_t n = 0, bytes = 0;
    char last = '\n';
    size_t got;
    while ((got = fread(buf, 1, CHUNK, f)) > 0) {
        for (const char *p = buf; (p = memchr(p, '\n', got - (size_t)(p - buf))) != NULL; p++)
            n++;
        bytes += got;
        last = buf[got - 1];
    }
    free(buf);
    if (ferror(f)) {
        fail(err, err_size, "%s: cannot read: %s", path, strerror(errno));
        return VKNMT_ERR_IO;
    }
    if (bytes == 0) {
        fail(err, err_size, "%s: the file is empty", path);
        return VKNMT_ERR_INPUT;
    }
    *lines = n + (last != '\n');
    rewind(f);
    return VKNMT_OK;
}

typedef struct side {
    const char *path;
    FILE *f;
    vknmt_tokenizer *tk;
    vknmt_vocab_counter *types;
    char *line;
    size_t line_cap;
    const char *const *toks;
    size_t count;
    /* with BPE: the line's units, copied out of the segmenter (shared by
     * both sides), which toks then points to */
    char *units;
    size_t units_cap;
    const char **unit_ptr;
    size_t unit_ptr_cap;
} side;

static vknmt_status side_open(side *s, const char *path, const vknmt_tokenize_options *tok, char *err,
                              size_t err_size)
{
    s->path = path;
    s->f = fopen(path, "rb");
    if (!s->f) {
        fail(err, err_size, "%s: cannot open: %s", path, strerror(errno));
        return VKNMT_ERR_IO;
    }
    if (vknmt_tokenizer_create(tok, &s->tk) != VKNMT_OK || vknmt_vocab_counter_create(&s->types) != VKNMT_OK) {
        fail(err, err_size, "out of memory");
        return VKNMT_ERR_OOM_HOST;
    }
    return VKNMT_OK;
}

static void side_close(side *s)
{
    if (s->f)
        fclose(s->f);
    vknmt_tokenizer_destroy(s->tk);
    vknmt_vocab_counter_destroy(s->types);
    free(s->line);
    free(s->units);
    free(s->unit_ptr);
}

/* Replaces the side's tokens by their subword units. */
static vknmt_status side_segment(side *s, vknmt_bpe *bpe)
{
    const char *const *units;
    size_t n, bytes = 0;
    vknmt_status st = vknmt_bpe_apply(bpe, s->toks, s->count, &units, &n, NULL);
    if (st != VKNMT_OK)
        return st;
    for (size_t i = 0; i < n; i++)
        bytes += strlen(units[i]) + 1;
    if (!vknmt_array_reserve((void **)&s->units, &s->units_cap, bytes, 1) ||
        !vknmt_array_reserve((void **)&s->unit_ptr, &s->unit_ptr_cap, n, sizeof(char *)))
        return VKNMT_ERR_OOM_HOST;
    char *p = s->units;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(units[i]) + 1;
        memcpy(p, units[i], len);
        s->unit_ptr[i] = p;
        p += len;
    }
    s->toks = s->unit_ptr;
    s->count = n;
    return VKNMT_OK;
}

/* Reads and tokenizes (and segments) line number `line` of the side. */
static vknmt_status side_read(side *s, uint64_t line, vknmt_bpe *bpe, char *err, size_t err_size)
{
    ssize_t n = getline(&s->line, &s->line_cap, s->f);
    if (n < 0) {
        fail(err, err_size, "%s:%llu: cannot read (did the file change?)", s->path, (unsigned long long)line);
        return VKNMT_ERR_IO;
    }
    char why[128];
    vknmt_status st = vknmt_tokenizer_run(s->tk, s->line, (size_t)n, &s->toks, &s->count, why, sizeof(why));
    if (st != VKNMT_OK)
        fail(err, err_size, "%s:%llu: %s", s->path, (unsigned long long)line, why);
    else if (bpe && (st = side_segment(s, bpe)) != VKNMT_OK)
        fail(err, err_size, "out of memory reading %s", s->path);
    return st;
}

/* Appends the side's type numbers and a placeholder for </s>. */
static vknmt_status side_store(side *s, vknmt_corpus *c)
{
    for (size_t i = 0; i < s->count; i++) {
        uint32_t t;
        if (vknmt_vocab_counter_add(s->types, s->toks[i], &t) != VKNMT_OK)
            return VKNMT_ERR_OOM_HOST;
        c->ids[c->n_ids++] = (int32_t)t;
    }
    c->ids[c->n_ids++] = VKNMT_TOK_EOS;
    return VKNMT_OK;
}

/* The vocabulary of a side (given, or built and owned by c), and the id of
 * every type; *map is malloc'ed. */
static vknmt_status side_vocab(const side *s, const vknmt_vocab *given, uint32_t size, vknmt_vocab **own,
                               const vknmt_vocab **used, int32_t **map)
{
    if (!given) {
        vknmt_status st = vknmt_vocab_build(s->types, size ? size : UINT32_MAX, own);
        if (st != VKNMT_OK)
            return st;
        given = *own;
    }
    *used = given;
    uint32_t n = vknmt_vocab_counter_types(s->types);
    *map = malloc(((size_t)n + 1) * sizeof(**map));
    if (!*map)
        return VKNMT_ERR_OOM_HOST;
    for (uint32_t t = 0; t < n; t++) {
        int32_t id = vknmt_vocab_id(given, vknmt_vocab_counter_token(s->types, t));
        (*map)[t] = id < VKNMT_TOK_SPECIALS ? VKNMT_TOK_UNK : id; /* "</s>" written in the text is no end */
    }
    return VKNMT_OK;
}

static void map_ids(int32_t *ids, uint32_t len, const int32_t *map, uint64_t *unk)
{
    for (uint32_t i = 0; i + 1 < len; i++) {
        ids[i] = map[ids[i]];
        *unk += ids[i] == VKNMT_TOK_UNK;
    }
}

static vknmt_status read_pairs(side *s, side *t, const vknmt_corpus_options *opt, vknmt_corpus *c, char *err,
                               size_t err_size)
{
    vknmt_corpus_stats *st = &c->stats;
    for (uint64_t line = 1; line <= st->lines; line++) {
        vknmt_status r = side_read(s, line, opt->bpe, err, err_size);
        if (r == VKNMT_OK)
            r = side_read(t, line, opt->bpe, err, err_size);
        if (r != VKNMT_OK)
            return r;
        if (s->count == 0 || t->count == 0) {
            st->skipped_empty++;
            continue;
        }
        if (opt->max_len && (s->count > opt->max_len || t->count > opt->max_len)) {
            st->skipped_long++;
            continue;
        }
        pair_rec *p = pair_new(c, s->count + t->count + 2, line);
        if (!p || side_store(s, c) != VKNMT_OK || side_store(t, c) != VKNMT_OK) {
            fail(err, err_size, "out of memory reading %s", s->path);
            return VKNMT_ERR_OOM_HOST;
        }
        p->src_len = (uint32_t)s->count + 1;
        p->tgt_len = (uint32_t)t->count + 1;
        st->src_tokens += s->count;
        st->tgt_tokens += t->count;
    }
    st->pairs = c->n_pairs;
    if (st->pairs == 0) {
        fail(err, err_size, "%s, %s: no pair left of %llu lines (%llu with an empty side, %llu longer than %u tokens)",
             s->path, t->path, (unsigned long long)st->lines, (unsigned long long)st->skipped_empty,
             (unsigned long long)st->skipped_long, opt->max_len);
        return VKNMT_ERR_INPUT;
    }
    return VKNMT_OK;
}

static vknmt_status finish_ids(const side *s, const side *t, const vknmt_corpus_options *opt, vknmt_corpus *c,
                               char *err, size_t err_size)
{
    int32_t *smap = NULL, *tmap = NULL;
    vknmt_status r = side_vocab(s, opt->src_vocab, opt->src_vocab_size, &c->own_src, &c->src_vocab, &smap);
    if (r == VKNMT_OK)
        r = side_vocab(t, opt->tgt_vocab, opt->tgt_vocab_size, &c->own_tgt, &c->tgt_vocab, &tmap);
    if (r == VKNMT_OK) {
        for (size_t i = 0; i < c->n_pairs; i++) {
            pair_rec *p = &c->pairs[i];
            map_ids(c->ids + p->off, p->src_len, smap, &c->stats.src_unk);
            map_ids(c->ids + p->off + p->src_len, p->tgt_len, tmap, &c->stats.tgt_unk);
        }
    } else if (r == VKNMT_ERR_USAGE) {
        fail(err, err_size, "a vocabulary size must be at least 4 (the specials)");
    } else {
        fail(err, err_size, "out of memory building the vocabularies");
    }
    free(smap);
    free(tmap);
    return r;
}

vknmt_status vknmt_corpus_load(const char *src_path, const char *tgt_path, const vknmt_corpus_options *opt,
                               vknmt_corpus **out, char *err, size_t err_size)
{
    *out = NULL;
    side s = {0}, t = {0};
    vknmt_corpus *c = NULL;
    uint64_t tgt_lines = 0;
    vknmt_status r = side_open(&s, src_path, &opt->tok, err, err_size);
    if (r == VKNMT_OK)
        r = side_open(&t, tgt_path, &opt->tok, err, err_size);
    if (r == VKNMT_OK && vknmt_corpus_create(&c) != VKNMT_OK) {
        fail(err, err_size, "out of memory");
        r = VKNMT_ERR_OOM_HOST;
    }
    if (r == VKNMT_OK)
        r = count_lines(s.f, src_path, &c->stats.lines, err, err_size);
    if (r == VKNMT_OK)
        r = count_lines(t.f, tgt_path, &tgt_lines, err, err_size);
    if (r == VKNMT_OK && tgt_lines != c->stats.lines) {
        fail(err, err_size, "%s has %llu lines but %s has %llu: the files must be line-aligned", src_path,
             (unsigned long long)c->stats.lines, tgt_path, (unsigned long long)tgt_lines);
        r = VKNMT_ERR_INPUT;
    }
    if (r == VKNMT_OK)
        r = read_pairs(&s, &t, opt, c, err, err_size);
    if (r == VKNMT_OK)
        r = finish_ids(&s, &t, opt, c, err, err_size);
    side_close(&s);
    side_close(&t);
    if (r != VKNMT_OK) {
        vknmt_corpus_destroy(c);
        return r;
    }
    *out = c;
    return VKNMT_OK;
}
