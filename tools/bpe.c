/* Byte-pair encoding: learning with incremental pair counts, applying with
 * a per-word cache, and the text form of the merges. */
#include "bpe.h"
#include "strbuf.h"
#include "u64_map.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE UINT32_MAX
static const char EOW[] = "</w>"; /* end of word, in the text form */
enum { EOW_LEN = 4 };

/* A symbol: its text and whether it ends a word. `str` is the text form,
 * the text then "</w>" when final (what ties compare, as subword-nmt). */
typedef struct symbol {
    char *str;    /* owned */
    uint32_t len; /* bytes of text, without "</w>" */
    bool final;
} symbol;

typedef struct merge {
    uint32_t a, b, ab; /* symbols */
} merge;

/* A cached segmentation: the word, then its units, each NUL-terminated, at
 * `off` in the cache arena. */
typedef struct cached {
    size_t off;
    uint32_t word_len, units;
} cached;

struct vknmt_bpe {
    symbol *sym; /* owned */
    uint32_t n_sym, cap_sym;
    uint32_t *sym_slot; /* open addressing: symbol id or NONE */
    uint32_t sym_slots; /* a power of two */
    merge *merges;      /* owned, in rank order */
    uint32_t n_merges, cap_merges;
    vknmt_u64_map rank; /* pair_key(a, b) -> the merge's rank */
    /* the segmentation cache */
    char *arena;
    size_t arena_len, arena_cap;
    cached *cache;
    uint32_t n_cache, cap_cache;
    uint32_t *cache_slot; /* NONE = empty */
    uint32_t cache_slots;
    /* vknmt_bpe_apply's results, borrowed by the caller */
    size_t *unit_off;
    const char **units;
    uint32_t *word_of;
    size_t cap_units;
};

/* ---- small helpers ---- */

static uint64_t hash_bytes(const char *s, size_t n, uint64_t h)
{
    for (size_t i = 0; i < n; i++) /* FNV-1a */
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

static bool grow32(void **p, uint32_t *cap, size_t need, size_t elem)
{
    size_t c = *cap;
    if (need > UINT32_MAX / 2 || !vknmt_array_reserve(p, &c, need, elem))
        return false;
    *cap = (uint32_t)c;
    return true;
}

/* Bytes of the UTF-8 character at s (at most n); a stray byte is one. */
static size_t char_len(const char *s, size_t n)
{
    unsigned char c = (unsigned char)s[0];
    size_t k = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 1;
    if (k > n)
        return 1;
    for (size_t i = 1; i < k; i++)
        if (((unsigned char)s[i] & 0xc0) != 0x80)
            return 1;
    return k;
}

static bool is_special(const char *w)
{
    return !strcmp(w, "<pad>") || !strcmp(w, "<unk>") || !strcmp(w, "<s>") || !strcmp(w, "</s>");
}

/* ---- symbols ---- */

static uint64_t sym_hash(const char *text, size_t len, bool final) { return hash_bytes(text, len, final ? 7 : 3); }

static bool sym_rehash(vknmt_bpe *b, uint32_t slots)
{
    uint32_t *t = malloc((size_t)slots * sizeof(*t));
    if (!t)
        return false;
    memset(t, 0xff, (size_t)slots * sizeof(*t));
    for (uint32_t id = 0; id < b->n_sym; id++) {
        const symbol *s = &b->sym[id];
        size_t i = sym_hash(s->str, s->len, s->final) & (slots - 1);
        while (t[i] != NONE)
            i = (i + 1) & (slots - 1);
        t[i] = id;
    }
    free(b->sym_slot);
    b->sym_slot = t;
    b->sym_slots = slots;
    return true;
}

/* The id of (text, final), or NONE. */
static uint32_t sym_find(const vknmt_bpe *b, const char *text, size_t len, bool final)
{
    if (!b->sym_slots)
        return NONE;
    for (size_t i = sym_hash(text, len, final) & (b->sym_slots - 1);; i = (i + 1) & (b->sym_slots - 1)) {
        uint32_t id = b->sym_slot[i];
        if (id == NONE)
            return NONE;
        const symbol *s = &b->sym[id];
        if (s->final == final && s->len == len && !memcmp(s->str, text, len))
            return id;
    }
}

/* The id of (text, final), added when new; NONE when out of memory. */
static uint32_t sym_intern(vknmt_bpe *b, const char *text, size_t len, bool final)
{
    uint32_t id = sym_find(b, text, len, final);
    if (id != NONE)
        return id;
    if ((size_t)(b->n_sym + 1) * 2 > b->sym_slots && !sym_rehash(b, b->sym_slots ? 2 * b->sym_slots : 256))
        return NONE;
    if (!grow32((void **)&b->sym, &b->cap_sym, (size_t)b->n_sym + 1, sizeof(symbol)))
        return NONE;
    char *str = malloc(len + EOW_LEN + 1);
    if (!str)
        return NONE;
    memcpy(str, text, len);
    strcpy(str + len, final ? EOW : "");
    id = b->n_sym++;
    b->sym[id] = (symbol){str, (uint32_t)len, final};
    size_t i = sym_hash(text, len, final) & (b->sym_slots - 1);
    while (b->sym_slot[i] != NONE)
        i = (i + 1) & (b->sym_slots - 1);
    b->sym_slot[i] = id;
    return id;
}

/* The symbol a followed by b, as one. */
static uint32_t sym_concat(vknmt_bpe *b, uint32_t x, uint32_t y)
{
    const symbol *sx = &b->sym[x], *sy = &b->sym[y];
    size_t n = (size_t)sx->len + sy->len;
    char small[256], *buf = n <= sizeof(small) ? small : malloc(n);
    if (!buf)
        return NONE;
    memcpy(buf, sx->str, sx->len);
    memcpy(buf + sx->len, sy->str, sy->len);
    uint32_t id = sym_intern(b, buf, n, sy->final);
    if (buf != small)
        free(buf);
    return id;
}

/* ---- merges: (a, b) -> rank ---- */

static uint64_t pair_key(uint32_t a, uint32_t b) { return ((uint64_t)a << 32 | b) + 1; }

static uint32_t rank_find(const vknmt_bpe *b, uint32_t x, uint32_t y)
{
    if (x == NONE || y == NONE)
        return NONE;
    const uint32_t *r = vknmt_u64_map_find(&b->rank, pair_key(x, y));
    return r ? *r : NONE;
}

/* Appends the merge x y (a merge already there keeps its rank). */
static vknmt_status merge_add(vknmt_bpe *b, uint32_t x, uint32_t y)
{
    if (rank_find(b, x, y) != NONE)
        return VKNMT_OK;
    uint32_t xy = sym_concat(b, x, y);
    if (xy == NONE || !grow32((void **)&b->merges, &b->cap_merges, (size_t)b->n_merges + 1, sizeof(merge)))
        return VKNMT_ERR_OOM_HOST;
    uint32_t *rank = vknmt_u64_map_slot(&b->rank, pair_key(x, y), NULL);
    if (!rank)
        return VKNMT_ERR_OOM_HOST;
    *rank = b->n_merges;
    b->merges[b->n_merges++] = (merge){x, y, xy};
    return VKNMT_OK;
}

static vknmt_status bpe_create(vknmt_bpe **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? VKNMT_OK : VKNMT_ERR_OOM_HOST;
}

void vknmt_bpe_destroy(vknmt_bpe *b)
{
    if (!b)
        return;
    for (uint32_t i = 0; i < b->n_sym; i++)
        free(b->sym[i].str);
    free(b->sym);
    free(b->sym_slot);
    free(b->merges);
    vknmt_u64_map_free(&b->rank);
    free(b->arena);
    free(b->cache);
    free(b->cache_slot);
    free(b->unit_off);
    free(b->units);
    free(b->word_of);
    free(b);
}

uint32_t vknmt_bpe_merge_count(const vknmt_bpe *b) { return b->n_merges; }

void vknmt_bpe_merge_text(const vknmt_bpe *b, uint32_t rank, char *out, size_t out_size)
{
    const merge *m = &b->merges[rank];
    snprintf(out, out_size, "%s %s", b->sym[m->a].str, b->sym[m->b].str);
}

/* ---- learning ---- */

/* A word type: its current symbols at `off` in the learner's pool. */
typedef struct lword {
    size_t off;
    uint32_t len;
    uint64_t freq;
} lword;

/* An adjacent pair: its weighted count and the words that may hold it
 * (a superset: entries go stale as words change, and are checked). */
typedef struct lpair {
    uint32_t a, b;
    int64_t count;
    uint32_t *words; /* owned */
    uint32_t n_words, cap_words;
    uint32_t pushed; /* the step that last queued it */
} lpair;

/* A heap entry: the pair's count when it was queued. Counts only rise
 * through a new entry, so every live pair has an entry >= its count, and
 * the first entry popped whose count is current is the best pair. */
typedef struct hentry {
    int64_t count;
    uint32_t pair;
} hentry;

typedef struct learner {
    vknmt_bpe *b; /* borrowed: the symbols and merges being learned */
    lword *words;
    uint32_t n_words;
    uint32_t *pool;
    uint32_t *seen; /* per word: the step that last rewrote it */
    lpair *pairs;
    uint32_t n_pairs, cap_pairs;
    vknmt_u64_map pair_of; /* pair_key(a, b) -> index in pairs */
    hentry *heap;
    size_t n_heap, cap_heap;
    uint32_t *raised; /* pairs whose count rose in this step */
    size_t n_raised, cap_raised;
    uint32_t step;
} learner;

/* The pair (x, y), made when new; NONE when out of memory. */
static uint32_t pair_get(learner *l, uint32_t x, uint32_t y)
{
    bool is_new;
    uint32_t *p = vknmt_u64_map_slot(&l->pair_of, pair_key(x, y), &is_new);
    if (!p)
        return NONE;
    if (!is_new)
        return *p;
    if (!grow32((void **)&l->pairs, &l->cap_pairs, (size_t)l->n_pairs + 1, sizeof(lpair)))
        return NONE;
    *p = l->n_pairs;
    l->pairs[l->n_pairs] = (lpair){.a = x, .b = y, .pushed = UINT32_MAX};
    return l->n_pairs++;
}

/* a before b in the queue: higher count, then greater text (subword-nmt). */
static bool heap_before(const learner *l, const hentry *x, const hentry *y)
{
    if (x->count != y->count)
        return x->count > y->count;
    const lpair *p = &l->pairs[x->pair], *q = &l->pairs[y->pair];
    int c = strcmp(l->b->sym[p->a].str, l->b->sym[q->a].str);
    if (!c)
        c = strcmp(l->b->sym[p->b].str, l->b->sym[q->b].str);
    return c > 0;
}

static bool heap_push(learner *l, uint32_t pair)
{
    if (!vknmt_array_reserve((void **)&l->heap, &l->cap_heap, l->n_heap + 1, sizeof(hentry)))
        return false;
    hentry e = {l->pairs[pair].count, pair};
    size_t i = l->n_heap++;
    while (i > 0 && heap_before(l, &e, &l->heap[(i - 1) / 2])) {
        l->heap[i] = l->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    l->heap[i] = e;
    return true;
}

static hentry heap_pop(learner *l)
{
    hentry top = l->heap[0], last = l->heap[--l->n_heap];
    size_t i = 0, n = l->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && heap_before(l, &l->heap[c + 1], &l->heap[c]))
            c++;
        if (!heap_before(l, &l->heap[c], &last))
            break;
        l->heap[i] = l->heap[c];
        i = c;
    }
    if (n)
        l->heap[i] = last;
    return top;
}

/* Adds `delta` to the count of (x, y) in word w; a rise notes w in the
 * pair's word list and queues the pair at the end of the step. */
static bool pair_add(learner *l, uint32_t x, uint32_t y, int64_t delta, uint32_t w)
{
    uint32_t p = pair_get(l, x, y);
    if (p == NONE)
        return false;
    lpair *q = &l->pairs[p];
    q->count += delta;
    if (delta <= 0)
        return true;
    if (!q->n_words || q->words[q->n_words - 1] != w) {
        if (!grow32((void **)&q->words, &q->cap_words, (size_t)q->n_words + 1, sizeof(uint32_t)))
            return false;
        q->words[q->n_words++] = w;
    }
    if (q->pushed != l->step) {
        q->pushed = l->step;
        if (!vknmt_array_reserve((void **)&l->raised, &l->cap_raised, l->n_raised + 1, sizeof(uint32_t)))
            return false;
        l->raised[l->n_raised++] = p;
    }
    return true;
}

/* Merges every x y in word w, left to right, keeping the counts of the
 * pairs around each merge exact. */
static bool word_merge(learner *l, uint32_t w, uint32_t x, uint32_t y, uint32_t xy)
{
    lword *wd = &l->words[w];
    uint32_t *s = l->pool + wd->off, n = wd->len, out = 0;
    int64_t f = (int64_t)wd->freq;
    for (uint32_t i = 0; i < n;) {
        if (i + 1 < n && s[i] == x && s[i + 1] == y) {
            /* s[out-1] is the (possibly merged) left neighbour */
            if (out > 0 && (!pair_add(l, s[out - 1], x, -f, w) || !pair_add(l, s[out - 1], xy, f, w)))
                return false;
            if (i + 2 < n && (!pair_add(l, y, s[i + 2], -f, w) || !pair_add(l, xy, s[i + 2], f, w)))
                return false;
            if (!pair_add(l, x, y, -f, w))
                return false;
            s[out++] = xy;
            i += 2;
        } else {
            s[out++] = s[i++];
        }
    }
    wd->len = out;
    return true;
}

static void learner_free(learner *l)
{
    for (uint32_t i = 0; i < l->n_pairs; i++)
        free(l->pairs[i].words);
    free(l->pairs);
    free(l->words);
    free(l->pool);
    free(l->seen);
    vknmt_u64_map_free(&l->pair_of);
    free(l->heap);
    free(l->raised);
}

/* Splits every word type into characters, counts all pairs. */
static vknmt_status learner_init(learner *l, const vknmt_vocab_counter *c)
{
    uint32_t types = vknmt_vocab_counter_types(c);
    size_t chars = 0;
    for (uint32_t t = 0; t < types; t++)
        chars += strlen(vknmt_vocab_counter_token(c, t));
    l->words = malloc(((size_t)types + 1) * sizeof(lword));
    l->pool = malloc((chars + 1) * sizeof(uint32_t));
    l->seen = calloc((size_t)types + 1, sizeof(uint32_t));
    if (!l->words || !l->pool || !l->seen)
        return VKNMT_ERR_OOM_HOST;
    size_t at = 0;
    for (uint32_t t = 0; t < types; t++) {
        const char *w = vknmt_vocab_counter_token(c, t);
        size_t n = strlen(w);
        if (!n || is_special(w))
            continue;
        lword *wd = &l->words[l->n_words];
        *wd = (lword){.off = at, .len = 0, .freq = vknmt_vocab_counter_count(c, t)};
        for (size_t i = 0; i < n;) {
            size_t k = char_len(w + i, n - i);
            uint32_t id = sym_intern(l->b, w + i, k, i + k == n);
            if (id == NONE)
                return VKNMT_ERR_OOM_HOST;
            l->pool[at + wd->len++] = id;
            i += k;
        }
        at += wd->len;
        const uint32_t *s = l->pool + wd->off;
        for (uint32_t i = 0; i + 1 < wd->len; i++)
            if (!pair_add(l, s[i], s[i + 1], (int64_t)wd->freq, l->n_words))
                return VKNMT_ERR_OOM_HOST;
        l->n_words++;
    }
    for (size_t i = 0; i < l->n_raised; i++)
        if (!heap_push(l, l->raised[i]))
            return VKNMT_ERR_OOM_HOST;
    l->n_raised = 0;
    return VKNMT_OK;
}

/* One merge operation; *done when no pair occurs twice. */
static vknmt_status learner_step(learner *l, bool *done)
{
    *done = true;
    uint32_t best = NONE;
    while (l->n_heap) {
        hentry e = heap_pop(l);
        int64_t now = l->pairs[e.pair].count;
        if (e.count == now) {
            best = e.pair;
            break;
        }
        if (now > 0 && !heap_push(l, e.pair)) /* its count fell: requeue as it is */
            return VKNMT_ERR_OOM_HOST;
    }
    if (best == NONE || l->pairs[best].count < 2)
        return VKNMT_OK;
    *done = false;
    l->step++;
    uint32_t x = l->pairs[best].a, y = l->pairs[best].b, rank = rank_find(l->b, x, y);
    /* A pair merged before comes back when a later merge spells one of its
     * symbols again ("a bc" then "ab c" both make "abc"): merge it in the
     * words as the first time, without a second rank (apply would ignore it). */
    if (rank == NONE) {
        vknmt_status s = merge_add(l->b, x, y);
        if (s)
            return s;
        rank = l->b->n_merges - 1;
    }
    uint32_t xy = l->b->merges[rank].ab;
    /* pair_add may move l->pairs: hold the list, not the pair */
    uint32_t *list = l->pairs[best].words, n = l->pairs[best].n_words;
    l->pairs[best].words = NULL;
    l->pairs[best].n_words = l->pairs[best].cap_words = 0;
    for (uint32_t k = 0; k < n; k++) {
        uint32_t w = list[k];
        if (l->seen[w] == l->step)
            continue;
        l->seen[w] = l->step;
        const uint32_t *sw = l->pool + l->words[w].off;
        bool has = false;
        for (uint32_t i = 0; i + 1 < l->words[w].len && !has; i++)
            has = sw[i] == x && sw[i + 1] == y;
        if (has && !word_merge(l, w, x, y, xy)) {
            free(list);
            return VKNMT_ERR_OOM_HOST;
        }
    }
    free(list);
    for (size_t i = 0; i < l->n_raised; i++)
        if (l->pairs[l->raised[i]].count > 0 && !heap_push(l, l->raised[i]))
            return VKNMT_ERR_OOM_HOST;
    l->n_raised = 0;
    return VKNMT_OK;
}

vknmt_status vknmt_bpe_learn(const vknmt_vocab_counter *words, uint32_t merges, vknmt_bpe **out)
{
    *out = NULL;
    if (merges == 0)
        return VKNMT_ERR_USAGE;
    learner l = {0};
    vknmt_status s = bpe_create(&l.b);
    if (!s)
        s = learner_init(&l, words);
    bool done = false;
    while (!s && !done && l.b->n_merges < merges)
        s = learner_step(&l, &done);
    learner_free(&l);
    if (s) {
        vknmt_bpe_destroy(l.b);
        return s;
    }
    *out = l.b;
    return VKNMT_OK;
}

vknmt_status vknmt_bpe_learn_files(const char *const *paths, size_t n_paths, const vknmt_tokenize_options *tok,
                                   uint32_t merges, vknmt_bpe **out, char *err, size_t err_size)
{
    *out = NULL;
    vknmt_tokenizer *tk = NULL;
    vknmt_vocab_counter *c = NULL;
    char *line = NULL;
    size_t cap = 0;
    vknmt_status s = vknmt_tokenizer_create(tok, &tk);
    if (!s)
        s = vknmt_vocab_counter_create(&c);
    if (s)
        vknmt_errorf(err, err_size, "out of memory");
    for (size_t k = 0; k < n_paths && !s; k++) {
        FILE *f = fopen(paths[k], "rb");
        if (!f) {
            vknmt_errorf(err, err_size, "%s: cannot open: %s", paths[k], strerror(errno));
            s = VKNMT_ERR_IO;
            break;
        }
        ssize_t got;
        uint64_t lineno = 0;
        while (!s && (got = getline(&line, &cap, f)) >= 0) {
            const char *const *toks;
            size_t n;
            char why[128];
            lineno++;
            if ((s = vknmt_tokenizer_run(tk, line, (size_t)got, &toks, &n, why, sizeof(why)))) {
                vknmt_errorf(err, err_size, "%s:%llu: %s", paths[k], (unsigned long long)lineno, why);
                break;
            }
            for (size_t i = 0; i < n && !s; i++)
                if ((s = vknmt_vocab_counter_add(c, toks[i], NULL)))
                    vknmt_errorf(err, err_size, "out of memory");
        }
        if (!s && ferror(f)) {
            vknmt_errorf(err, err_size, "%s: cannot read: %s", paths[k], strerror(errno));
            s = VKNMT_ERR_IO;
        }
        fclose(f);
    }
    if (!s && (s = vknmt_bpe_learn(c, merges, out)))
        vknmt_errorf(err, err_size, s == VKNMT_ERR_USAGE ? "the number of merges must be positive" : "out of memory");
    free(line);
    vknmt_vocab_counter_destroy(c);
    vknmt_tokenizer_destroy(tk);
    return s;
}

/* ---- the text form ---- */

static const char VERSION_LINE[] = "#version: 0.2";

vknmt_status vknmt_bpe_to_string(const vknmt_bpe *b, char **out, size_t *len)
{
    size_t n = sizeof(VERSION_LINE) + 1;
    for (uint32_t r = 0; r < b->n_merges; r++)
        n += strlen(b->sym[b->merges[r].a].str) + strlen(b->sym[b->merges[r].b].str) + 2;
    char *t = malloc(n), *p = t;
    if (!t)
        return VKNMT_ERR_OOM_HOST;
    p += sprintf(p, "%s\n", VERSION_LINE);
    for (uint32_t r = 0; r < b->n_merges; r++)
        p += sprintf(p, "%s %s\n", b->sym[b->merges[r].a].str, b->sym[b->merges[r].b].str);
    *out = t;
    if (len)
        *len = (size_t)(p - t);
    return VKNMT_OK;
}

/* The symbol spelled by text[0..n) in the text form ("x</w>" ends a word). */
static uint32_t sym_parse(vknmt_bpe *b, const char *text, size_t n)
{
    bool final = n > EOW_LEN && !memcmp(text + n - EOW_LEN, EOW, EOW_LEN);
    return sym_intern(b, text, final ? n - EOW_LEN : n, final);
}

vknmt_status vknmt_bpe_from_string(const char *text, size_t len, const char *name, vknmt_bpe **out, char *err,
                                   size_t err_size)
{
    *out = NULL;
    vknmt_bpe *b = NULL;
    vknmt_status s = bpe_create(&b);
    uint64_t lineno = 0;
    for (size_t at = 0; !s && at < len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len, n = end - at;
        const char *l = text + at;
        at = end + 1;
        lineno++;
        if (n && l[n - 1] == '\r')
            n--;
        if (lineno == 1 && n >= 9 && !memcmp(l, "#version:", 9))
            continue;
        const char *sp = memchr(l, ' ', n);
        size_t n1 = sp ? (size_t)(sp - l) : n, n2 = sp ? n - n1 - 1 : 0;
        if (!sp || !n1 || !n2 || memchr(sp + 1, ' ', n2) || memchr(l, '\t', n)) {
            vknmt_errorf(err, err_size, "%s:%llu: expected two symbols separated by one space", name,
                         (unsigned long long)lineno);
            s = VKNMT_ERR_INPUT;
            break;
        }
        uint32_t x = sym_parse(b, l, n1), y = sym_parse(b, sp + 1, n2);
        if (x == NONE || y == NONE) {
            s = VKNMT_ERR_OOM_HOST;
        } else if (b->sym[x].final) {
            vknmt_errorf(err, err_size, "%s:%llu: the first symbol ends a word (</w>)", name,
                         (unsigned long long)lineno);
            s = VKNMT_ERR_INPUT;
        } else {
            s = merge_add(b, x, y);
        }
        if (s == VKNMT_ERR_OOM_HOST)
            vknmt_errorf(err, err_size, "out of memory");
    }
    if (s) {
        vknmt_bpe_destroy(b);
        return s;
    }
    *out = b;
    return VKNMT_OK;
}

/* ---- applying ---- */

typedef struct span {
    uint32_t start, end, id;
} span;

static bool cache_rehash(vknmt_bpe *b, uint32_t slots)
{
    uint32_t *t = malloc((size_t)slots * sizeof(*t));
    if (!t)
        return false;
    memset(t, 0xff, (size_t)slots * sizeof(*t));
    for (uint32_t e = 0; e < b->n_cache; e++) {
        size_t i = hash_bytes(b->arena + b->cache[e].off, b->cache[e].word_len, 5) & (slots - 1);
        while (t[i] != NONE)
            i = (i + 1) & (slots - 1);
        t[i] = e;
    }
    free(b->cache_slot);
    b->cache_slot = t;
    b->cache_slots = slots;
    return true;
}

/* Appends n bytes to the arena. */
static bool arena_put(vknmt_bpe *b, const char *s, size_t n)
{
    if (!vknmt_array_reserve((void **)&b->arena, &b->arena_cap, b->arena_len + n, 1))
        return false;
    memcpy(b->arena + b->arena_len, s, n);
    b->arena_len += n;
    return true;
}

/* Segments `word` into the cache; *e receives its entry. */
static vknmt_status segment(vknmt_bpe *b, const char *word, uint32_t *e)
{
    size_t n = strlen(word);
    if (n > UINT32_MAX / 2)
        return VKNMT_ERR_OOM_HOST;
    uint64_t h = hash_bytes(word, n, 5);
    if (b->cache_slots)
        for (size_t i = h & (b->cache_slots - 1); b->cache_slot[i] != NONE; i = (i + 1) & (b->cache_slots - 1)) {
            const cached *c = &b->cache[b->cache_slot[i]];
            if (c->word_len == n && !memcmp(b->arena + c->off, word, n)) {
                *e = b->cache_slot[i];
                return VKNMT_OK;
            }
        }
    span small[64], *sp = n <= 64 ? small : malloc(n * sizeof(span));
    if (!sp)
        return VKNMT_ERR_OOM_HOST;
    uint32_t k = 0;
    if (is_special(word)) {
        sp[k++] = (span){0, (uint32_t)n, NONE};
    } else {
        for (uint32_t i = 0; i < n;) {
            uint32_t c = (uint32_t)char_len(word + i, n - i);
            sp[k++] = (span){i, i + c, sym_find(b, word + i, c, i + c == n)};
            i += c;
        }
    }
    for (;;) { /* merge the earliest-learned adjacent pair, everywhere */
        uint32_t best = NONE;
        for (uint32_t i = 0; i + 1 < k; i++) {
            uint32_t r = rank_find(b, sp[i].id, sp[i + 1].id);
            best = r < best ? r : best;
        }
        if (best == NONE)
            break;
        const merge *m = &b->merges[best];
        uint32_t out = 0;
        for (uint32_t i = 0; i < k;) {
            if (i + 1 < k && sp[i].id == m->a && sp[i + 1].id == m->b) {
                sp[out++] = (span){sp[i].start, sp[i + 1].end, m->ab};
                i += 2;
            } else {
                sp[out++] = sp[i++];
            }
        }
        k = out;
    }
    bool ok = grow32((void **)&b->cache, &b->cap_cache, (size_t)b->n_cache + 1, sizeof(cached)) &&
              ((size_t)(b->n_cache + 1) * 2 <= b->cache_slots ||
               cache_rehash(b, b->cache_slots ? 2 * b->cache_slots : 1024));
    cached c = {b->arena_len, (uint32_t)n, k};
    ok = ok && arena_put(b, word, n);
    for (uint32_t i = 0; i < k && ok; i++)
        ok = arena_put(b, word + sp[i].start, sp[i].end - sp[i].start) && arena_put(b, "@@", i + 1 < k ? 2 : 0) &&
             arena_put(b, "", 1);
    if (sp != small)
        free(sp);
    if (!ok)
        return VKNMT_ERR_OOM_HOST;
    *e = b->n_cache;
    b->cache[b->n_cache++] = c;
    size_t i = h & (b->cache_slots - 1);
    while (b->cache_slot[i] != NONE)
        i = (i + 1) & (b->cache_slots - 1);
    b->cache_slot[i] = *e;
    return VKNMT_OK;
}

/* Room for `need` units in the three result arrays. */
static bool units_room(vknmt_bpe *b, size_t need)
{
    if (need <= b->cap_units)
        return true;
    size_t cap = b->cap_units ? 2 * b->cap_units : 256;
    while (cap < need)
        cap *= 2;
    size_t *off = realloc(b->unit_off, cap * sizeof(*off));
    if (off)
        b->unit_off = off;
    uint32_t *wo = realloc(b->word_of, cap * sizeof(*wo));
    if (wo)
        b->word_of = wo;
    const char **u = realloc(b->units, cap * sizeof(*u));
    if (u)
        b->units = u;
    if (!off || !wo || !u)
        return false;
    b->cap_units = cap;
    return true;
}

vknmt_status vknmt_bpe_apply(vknmt_bpe *b, const char *const *words, size_t n_words, const char *const **units,
                             size_t *n_units, const uint32_t **word_of)
{
    size_t n = 0;
    for (size_t w = 0; w < n_words; w++) {
        uint32_t e;
        vknmt_status s = segment(b, words[w], &e);
        if (s)
            return s;
        const cached *c = &b->cache[e];
        if (!units_room(b, n + c->units))
            return VKNMT_ERR_OOM_HOST;
        size_t off = c->off + c->word_len;
        for (uint32_t i = 0; i < c->units; i++) {
            b->unit_off[n] = off; /* the arena may still move: offsets until the end */
            b->word_of[n++] = (uint32_t)w;
            off += strlen(b->arena + off) + 1;
        }
    }
    for (size_t i = 0; i < n; i++)
        b->units[i] = b->arena + b->unit_off[i];
    *units = b->units;
    *n_units = n;
    if (word_of)
        *word_of = b->word_of;
    return VKNMT_OK;
}

vknmt_status vknmt_bpe_join(const char *const *units, size_t n_units, char ***words, size_t *n_words,
                            uint32_t *word_of)
{
    size_t bytes = 0;
    for (size_t i = 0; i < n_units; i++)
        bytes += strlen(units[i]) + 1;
    /* at most one word per unit: the pointers, then the text */
    char **w = malloc(n_units * sizeof(char *) + bytes + 1);
    if (!w)
        return VKNMT_ERR_OOM_HOST;
    char *p = (char *)(w + n_units), *start = p;
    size_t nw = 0;
    for (size_t i = 0; i < n_units; i++) {
        size_t len = strlen(units[i]);
        bool more = len >= 2 && !memcmp(units[i] + len - 2, "@@", 2);
        if (more)
            len -= 2;
        memcpy(p, units[i], len);
        p += len;
        if (word_of)
            word_of[i] = (uint32_t)nw;
        if (!more || i + 1 == n_units) {
            if (p == start) { /* a word of markers only: nothing to keep */
                if (word_of)
                    word_of[i] = nw ? (uint32_t)nw - 1 : 0;
                continue;
            }
            *p++ = '\0';
            w[nw++] = start;
            start = p;
        }
    }
    *words = w;
    *n_words = nw;
    return VKNMT_OK;
}
