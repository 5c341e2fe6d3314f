/* Pool-sorted, shuffled minibatches (the rules are in batcher.h). */
#include "batcher.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct cut {
    uint32_t start, count; /* in the sorted pool */
} cut;

typedef struct keyed {
    uint32_t key, pos, pair; /* max(src_len, tgt_len), place in the shuffled order, corpus index */
} keyed;

struct vknmt_batcher {
    const vknmt_corpus *corpus; /* borrowed */
    vknmt_batcher_options opt;
    uint32_t n;          /* pairs */
    uint32_t *len_key;   /* owned [n]: max(src_len, tgt_len) of each pair */
    uint32_t *order;     /* owned [n]: this epoch's order of the pairs */
    keyed *pool;         /* owned [n]: the current pool, sorted */
    cut *cuts;           /* owned [n]: its minibatches, in emission order */
    uint32_t pool_begin, pool_end, n_cuts;
    /* the position: the next minibatch is cuts[batch] of pool `pool` */
    uint64_t seed, epoch, pool_no, batch;
    /* the delivered minibatch (owned, grown as needed) */
    int32_t *src, *tgt, *src_len, *tgt_len;
    uint32_t *pair;
    size_t src_cap, tgt_cap, rows_cap;
};

/* ---- random numbers: splitmix64 streams keyed by (seed, epoch, pool) ---- */

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t stream_key(uint64_t seed, uint64_t epoch, uint64_t tag)
{
    return mix64(mix64(mix64(seed + 0x9e3779b97f4a7c15ull) ^ epoch) ^ tag);
}

static uint64_t next_u64(uint64_t *s) { return mix64(*s += 0x9e3779b97f4a7c15ull); }

/* Uniform in [0, n), n > 0, without modulo bias. */
static uint32_t below(uint64_t *s, uint32_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t r;
    do
        r = next_u64(s);
    while (r >= limit);
    return (uint32_t)(r % n);
}

/* ---- epochs and pools ---- */

static void start_epoch(vknmt_batcher *b)
{
    for (uint32_t i = 0; i < b->n; i++)
        b->order[i] = i;
    if (!b->opt.no_shuffle) {
        uint64_t s = stream_key(b->seed, b->epoch, 0);
        for (uint32_t i = b->n - 1; i > 0; i--) { /* Fisher-Yates */
            uint32_t j = below(&s, i + 1);
            uint32_t t = b->order[i];
            b->order[i] = b->order[j];
            b->order[j] = t;
        }
    }
    b->pool_begin = b->pool_end = 0;
}

/* Where the pool that starts at `begin` of the epoch's order ends. */
static uint32_t pool_end_from(const vknmt_batcher *b, uint32_t begin)
{
    uint64_t k = b->opt.sort_k_batches;
    if (b->opt.max_tokens == 0)
        return (uint32_t)(begin + k * b->opt.batch_size < b->n ? begin + k * b->opt.batch_size : b->n);
    uint64_t budget = k * b->opt.max_tokens, sum = 0;
    uint32_t end = begin;
    while (end < b->n && sum < budget)
        sum += b->len_key[b->order[end++]];
    return end;
}

static int by_key(const void *x, const void *y)
{
    const keyed *a = x, *c = y;
    if (a->key != c->key)
        return a->key < c->key ? -1 : 1;
    return a->pos < c->pos ? -1 : a->pos > c->pos;
}

static uint32_t max_u32(uint32_t a, uint32_t b) { return a > b ? a : b; }

/* Sorts the pool [pool_begin, pool_end), cuts and orders its minibatches. */
static void build_pool(vknmt_batcher *b)
{
    uint32_t m = b->pool_end - b->pool_begin;
    for (uint32_t i = 0; i < m; i++) {
        uint32_t p = b->order[b->pool_begin + i];
        b->pool[i] = (keyed){b->len_key[p], i, p};
    }
    qsort(b->pool, m, sizeof(*b->pool), by_key);
    b->n_cuts = 0;
    for (uint32_t i = 0; i < m;) {
        uint32_t count = 1, longest = b->pool[i].key;
        if (b->opt.max_tokens == 0) {
            count = m - i < b->opt.batch_size ? m - i : b->opt.batch_size;
        } else {
            while (i + count < m && (b->opt.batch_size == 0 || count < b->opt.batch_size)) {
                uint32_t l = max_u32(longest, b->pool[i + count].key);
                if ((uint64_t)(count + 1) * l > b->opt.max_tokens)
                    break;
                longest = l;
                count++;
            }
        }
        b->cuts[b->n_cuts++] = (cut){i, count};
        i += count;
    }
    if (!b->opt.no_shuffle) {
        uint64_t s = stream_key(b->seed, b->epoch, b->pool_no + 1);
        for (uint32_t i = b->n_cuts - 1; i > 0; i--) {
            uint32_t j = below(&s, i + 1);
            cut t = b->cuts[i];
            b->cuts[i] = b->cuts[j];
            b->cuts[j] = t;
        }
    }
    b->batch = 0;
}

static void next_pool(vknmt_batcher *b)
{
    if (b->pool_end == b->n) {
        b->epoch++;
        b->pool_no = 0;
        start_epoch(b);
    } else {
        b->pool_no++;
    }
    b->pool_begin = b->pool_end;
    b->pool_end = pool_end_from(b, b->pool_begin);
    build_pool(b);
}

/* Puts the batcher at (seed, epoch, pool, batch); false when out of range. */
static bool seek(vknmt_batcher *b, uint64_t seed, uint64_t epoch, uint64_t pool, uint64_t batch)
{
    b->seed = seed;
    b->epoch = epoch;
    start_epoch(b);
    for (b->pool_no = 0;; b->pool_no++) {
        b->pool_end = pool_end_from(b, b->pool_begin);
        if (b->pool_no == pool)
            break;
        if (b->pool_end == b->n)
            return false;
        b->pool_begin = b->pool_end;
    }
    build_pool(b);
    b->batch = batch;
    return batch <= b->n_cuts;
}

/* ---- the handle ---- */

vknmt_status vknmt_batcher_create(const vknmt_corpus *corpus, const vknmt_batcher_options *opt,
                                  vknmt_batcher **out, char *err, size_t err_size)
{
    *out = NULL;
    size_t n = vknmt_corpus_size(corpus);
    if (n == 0 || n > UINT32_MAX / 2) {
        snprintf(err, err_size, "cannot batch a corpus of %zu pairs", n);
        return VKNMT_ERR_USAGE;
    }
    vknmt_batcher *b = calloc(1, sizeof(*b));
    if (!b)
        goto oom;
    b->corpus = corpus;
    b->opt = *opt;
    if (b->opt.max_tokens == 0 && b->opt.batch_size == 0)
        b->opt.batch_size = 80;
    if (b->opt.sort_k_batches == 0)
        b->opt.sort_k_batches = 20;
    b->n = (uint32_t)n;
    b->len_key = malloc(n * sizeof(*b->len_key));
    b->order = malloc(n * sizeof(*b->order));
    b->pool = malloc(n * sizeof(*b->pool));
    b->cuts = malloc(n * sizeof(*b->cuts));
    if (!b->len_key || !b->order || !b->pool || !b->cuts)
        goto oom;
    for (uint32_t i = 0; i < b->n; i++) {
        vknmt_pair p = vknmt_corpus_pair(corpus, i);
        b->len_key[i] = max_u32(p.src_len, p.tgt_len);
    }
    seek(b, opt->seed, 0, 0, 0);
    *out = b;
    return VKNMT_OK;
oom:
    vknmt_batcher_destroy(b);
    snprintf(err, err_size, "out of memory");
    return VKNMT_ERR_OOM_HOST;
}

void vknmt_batcher_destroy(vknmt_batcher *b)
{
    if (!b)
        return;
    free(b->len_key);
    free(b->order);
    free(b->pool);
    free(b->cuts);
    free(b->src);
    free(b->tgt);
    free(b->src_len);
    free(b->tgt_len);
    free(b->pair);
    free(b);
}

static bool fit(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return true;
    void *q = realloc(*p, need * elem);
    if (!q)
        return false;
    *p = q;
    *cap = need;
    return true;
}

static bool fit_rows(vknmt_batcher *b, size_t rows)
{
    if (rows <= b->rows_cap)
        return true;
    int32_t *sl = realloc(b->src_len, rows * sizeof(*sl));
    if (sl)
        b->src_len = sl;
    int32_t *tl = realloc(b->tgt_len, rows * sizeof(*tl));
    if (tl)
        b->tgt_len = tl;
    uint32_t *pr = realloc(b->pair, rows * sizeof(*pr));
    if (pr)
        b->pair = pr;
    if (!sl || !tl || !pr)
        return false;
    b->rows_cap = rows;
    return true;
}

vknmt_status vknmt_batcher_next(vknmt_batcher *b, vknmt_minibatch *out)
{
    memset(out, 0, sizeof(*out));
    if (b->batch >= b->n_cuts)
        next_pool(b);
    cut c = b->cuts[b->batch];
    uint32_t tx = 0, ty = 0;
    for (uint32_t r = 0; r < c.count; r++) {
        vknmt_pair p = vknmt_corpus_pair(b->corpus, b->pool[c.start + r].pair);
        tx = max_u32(tx, p.src_len);
        ty = max_u32(ty, p.tgt_len);
    }
    if (!fit_rows(b, c.count) || !fit((void **)&b->src, &b->src_cap, (size_t)c.count * tx, sizeof(*b->src)) ||
        !fit((void **)&b->tgt, &b->tgt_cap, (size_t)c.count * ty, sizeof(*b->tgt)))
        return VKNMT_ERR_OOM_HOST;
    memset(b->src, 0, (size_t)c.count * tx * sizeof(*b->src));
    memset(b->tgt, 0, (size_t)c.count * ty * sizeof(*b->tgt));
    for (uint32_t r = 0; r < c.count; r++) {
        uint32_t i = b->pool[c.start + r].pair;
        vknmt_pair p = vknmt_corpus_pair(b->corpus, i);
        memcpy(b->src + (size_t)r * tx, p.src, p.src_len * sizeof(*p.src));
        memcpy(b->tgt + (size_t)r * ty, p.tgt, p.tgt_len * sizeof(*p.tgt));
        b->src_len[r] = (int32_t)p.src_len;
        b->tgt_len[r] = (int32_t)p.tgt_len;
        b->pair[r] = i;
    }
    *out = (vknmt_minibatch){.size = c.count,
                         .src_T = tx,
                         .tgt_T = ty,
                         .src = b->src,
                         .src_len = b->src_len,
                         .tgt = b->tgt,
                         .tgt_len = b->tgt_len,
                         .pair = b->pair,
                         .epoch = b->epoch};
    b->batch++;
    return VKNMT_OK;
}

void vknmt_batcher_get_state(const vknmt_batcher *b, vknmt_batcher_state *st)
{
    *st = (vknmt_batcher_state){b->seed, b->epoch, b->pool_no, b->batch, b->n};
}

vknmt_status vknmt_batcher_set_state(vknmt_batcher *b, const vknmt_batcher_state *st, char *err, size_t err_size)
{
    if (st->pairs != b->n) {
        snprintf(err, err_size, "the saved batcher state is for %llu pairs, the corpus has %u",
                 (unsigned long long)st->pairs, b->n);
        return VKNMT_ERR_USAGE;
    }
    vknmt_batcher_state old;
    vknmt_batcher_get_state(b, &old);
    if (!seek(b, st->seed, st->epoch, st->pool, st->batch)) {
        snprintf(err, err_size, "the saved batcher state (epoch %llu, pool %llu, batch %llu) is out of range "
                 "for this corpus and these options", (unsigned long long)st->epoch,
                 (unsigned long long)st->pool, (unsigned long long)st->batch);
        seek(b, old.seed, old.epoch, old.pool, old.batch);
        return VKNMT_ERR_USAGE;
    }
    return VKNMT_OK;
}
