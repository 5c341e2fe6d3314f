/* Token counting, vocabulary building and lookup, and the text form.
 * Both the counter and the vocabulary keep their strings in an array and
 * find them through a small open-addressing hash table (strtab). */
#include "vocab.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

static const char *const specials[VKNMT_TOK_SPECIALS] = {"<pad>", "<unk>", "<s>", "</s>"};

/* ---- strtab: strings numbered 0..n-1 in insertion order ---- */

typedef struct strtab {
    char **str;      /* owned, and each string owned */
    uint32_t n, cap;
    uint32_t *slot;  /* owned: index + 1 of the string hashed there, 0 = empty */
    uint32_t mask;   /* slot count - 1 (a power of two) */
} strtab;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

static void strtab_free(strtab *t)
{
    for (uint32_t i = 0; i < t->n; i++)
        free(t->str[i]);
    free(t->str);
    free(t->slot);
    memset(t, 0, sizeof(*t));
}

/* The index of s, or UINT32_MAX. */
static uint32_t strtab_find(const strtab *t, const char *s)
{
    if (!t->slot)
        return UINT32_MAX;
    for (uint32_t h = (uint32_t)hash_str(s) & t->mask;; h = (h + 1) & t->mask) {
        uint32_t k = t->slot[h];
        if (k == 0)
            return UINT32_MAX;
        if (strcmp(t->str[k - 1], s) == 0)
            return k - 1;
    }
}

static bool strtab_rehash(strtab *t, uint32_t slots)
{
    uint32_t *slot = calloc(slots, sizeof(*slot));
    if (!slot)
        return false;
    free(t->slot);
    t->slot = slot;
    t->mask = slots - 1;
    for (uint32_t i = 0; i < t->n; i++) {
        uint32_t h = (uint32_t)hash_str(t->str[i]) & t->mask;
        while (t->slot[h])
            h = (h + 1) & t->mask;
        t->slot[h] = i + 1;
    }
    return true;
}

/* Appends s (not present yet) and returns its index, or UINT32_MAX when out
 * of memory. Load factor at most 1/2. */
static uint32_t strtab_add(strtab *t, const char *s)
{
    if (t->n == UINT32_MAX - 1)
        return UINT32_MAX;
    if ((uint64_t)(t->n + 1) * 2 > (uint64_t)t->mask + 1 || !t->slot) {
        uint64_t slots = t->slot ? ((uint64_t)t->mask + 1) * 2 : 64;
        if (slots > (1ull << 31) || !strtab_rehash(t, (uint32_t)slots))
            return UINT32_MAX;
    }
    if (t->n == t->cap) {
        uint32_t cap = t->cap ? t->cap * 2 : 64;
        char **str = realloc(t->str, (size_t)cap * sizeof(*str));
        if (!str)
            return UINT32_MAX;
        t->str = str;
        t->cap = cap;
    }
    char *copy = strdup(s);
    if (!copy)
        return UINT32_MAX;
    t->str[t->n] = copy;
    uint32_t h = (uint32_t)hash_str(s) & t->mask;
    while (t->slot[h])
        h = (h + 1) & t->mask;
    t->slot[h] = t->n + 1;
    return t->n++;
}

/* ---- counter ---- */

struct vknmt_vocab_counter {
    strtab types;
    uint64_t *count; /* owned: [count_cap] */
    uint32_t count_cap;
};

vknmt_status vknmt_vocab_counter_create(vknmt_vocab_counter **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? VKNMT_OK : VKNMT_ERR_OOM_HOST;
}

void vknmt_vocab_counter_destroy(vknmt_vocab_counter *c)
{
    if (!c)
        return;
    strtab_free(&c->types);
    free(c->count);
    free(c);
}

vknmt_status vknmt_vocab_counter_add(vknmt_vocab_counter *c, const char *tok, uint32_t *type)
{
    uint32_t t = strtab_find(&c->types, tok);
    if (t == UINT32_MAX) {
        if (c->types.n == c->count_cap) {
            uint32_t cap = c->count_cap ? c->count_cap * 2 : 64;
            uint64_t *count = realloc(c->count, (size_t)cap * sizeof(*count));
            if (!count)
                return VKNMT_ERR_OOM_HOST;
            c->count = count;
            c->count_cap = cap;
        }
        t = strtab_add(&c->types, tok);
        if (t == UINT32_MAX)
            return VKNMT_ERR_OOM_HOST;
        c->count[t] = 0;
    }
    c->count[t]++;
    if (type)
        *type = t;
    return VKNMT_OK;
}

uint32_t vknmt_vocab_counter_types(const vknmt_vocab_counter *c) { return c->types.n; }

const char *vknmt_vocab_counter_token(const vknmt_vocab_counter *c, uint32_t t)
{
    return t < c->types.n ? c->types.str[t] : NULL;
}

uint64_t vknmt_vocab_counter_count(const vknmt_vocab_counter *c, uint32_t t)
{
    return t < c->types.n ? c->count[t] : 0;
}

/* ---- vocabulary ---- */

struct vknmt_vocab {
    strtab tokens; /* index = id */
};

void vknmt_vocab_destroy(vknmt_vocab *v)
{
    if (!v)
        return;
    strtab_free(&v->tokens);
    free(v);
}

static vknmt_status vocab_with_specials(vknmt_vocab **out)
{
    *out = NULL;
    vknmt_vocab *v = calloc(1, sizeof(*v));
    if (!v)
        return VKNMT_ERR_OOM_HOST;
    for (int i = 0; i < VKNMT_TOK_SPECIALS; i++)
        if (strtab_add(&v->tokens, specials[i]) == UINT32_MAX) {
            vknmt_vocab_destroy(v);
            return VKNMT_ERR_OOM_HOST;
        }
    *out = v;
    return VKNMT_OK;
}

typedef struct ranked {
    uint64_t count;
    uint32_t type;
} ranked;

static int by_count_then_first(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return x->type < y->type ? -1 : x->type > y->type;
}

vknmt_status vknmt_vocab_build(const vknmt_vocab_counter *c, uint32_t size, vknmt_vocab **out)
{
    *out = NULL;
    if (size < VKNMT_TOK_SPECIALS)
        return VKNMT_ERR_USAGE;
    uint32_t n = c->types.n;
    ranked *r = malloc(((size_t)n + 1) * sizeof(*r));
    if (!r)
        return VKNMT_ERR_OOM_HOST;
    for (uint32_t t = 0; t < n; t++)
        r[t] = (ranked){c->count[t], t};
    qsort(r, n, sizeof(*r), by_count_then_first);
    vknmt_vocab *v;
    vknmt_status s = vocab_with_specials(&v);
    for (uint32_t i = 0; s == VKNMT_OK && i < n && v->tokens.n < size; i++) {
        const char *tok = c->types.str[r[i].type];
        if (strtab_find(&v->tokens, tok) == UINT32_MAX && strtab_add(&v->tokens, tok) == UINT32_MAX)
            s = VKNMT_ERR_OOM_HOST;
    }
    free(r);
    if (s != VKNMT_OK) {
        vknmt_vocab_destroy(v);
        return s;
    }
    *out = v;
    return VKNMT_OK;
}

uint32_t vknmt_vocab_size(const vknmt_vocab *v) { return v->tokens.n; }

int32_t vknmt_vocab_id(const vknmt_vocab *v, const char *tok)
{
    uint32_t i = strtab_find(&v->tokens, tok);
    return i == UINT32_MAX ? VKNMT_TOK_UNK : (int32_t)i;
}

const char *vknmt_vocab_token(const vknmt_vocab *v, int32_t id)
{
    return id >= 0 && (uint32_t)id < v->tokens.n ? v->tokens.str[id] : NULL;
}

/* ---- text form ---- */

vknmt_status vknmt_vocab_to_string(const vknmt_vocab *v, char **out, size_t *len)
{
    *out = NULL;
    size_t total = 1;
    for (uint32_t i = 0; i < v->tokens.n; i++)
        total += strlen(v->tokens.str[i]) + 1;
    char *s = malloc(total);
    if (!s)
        return VKNMT_ERR_OOM_HOST;
    size_t at = 0;
    for (uint32_t i = 0; i < v->tokens.n; i++) {
        size_t n = strlen(v->tokens.str[i]);
        memcpy(s + at, v->tokens.str[i], n);
        at += n;
        s[at++] = '\n';
    }
    s[at] = '\0';
    *out = s;
    if (len)
        *len = at;
    return VKNMT_OK;
}

/* Why `tok` (len bytes, no NUL inside counted) is no valid token, or NULL. */
static const char *token_problem(const char *tok, size_t len)
{
    if (len == 0)
        return "empty line";
    for (size_t i = 0; i < len;) {
        int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate((const uint8_t *)tok + i, (utf8proc_ssize_t)(len - i), &cp);
        if (n <= 0)
            return "invalid UTF-8";
        utf8proc_category_t c = utf8proc_category(cp);
        if (c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP ||
            c == UTF8PROC_CATEGORY_CC)
            return "white space or a control character inside a token";
        i += (size_t)n;
    }
    return NULL;
}

vknmt_status vknmt_vocab_from_string(const char *text, size_t len, const char *name, vknmt_vocab **out, char *err,
                                     size_t err_size)
{
    *out = NULL;
    vknmt_vocab *v = calloc(1, sizeof(*v));
    char *tok = malloc(len + 1);
    vknmt_status s = v && tok ? VKNMT_OK : VKNMT_ERR_OOM_HOST;
    if (s != VKNMT_OK)
        snprintf(err, err_size, "%s: out of memory", name);
    size_t line = 0;
    for (size_t at = 0; s == VKNMT_OK && at < len;) {
        line++;
        const char *nl = memchr(text + at, '\n', len - at);
        size_t n = nl ? (size_t)(nl - (text + at)) : len - at;
        size_t next = at + n + (nl ? 1 : 0);
        if (n > 0 && text[at + n - 1] == '\r')
            n--;
        memcpy(tok, text + at, n);
        tok[n] = '\0';
        at = next;
        const char *problem = memchr(tok, '\0', n) ? "NUL byte inside a token" : token_problem(tok, n);
        if (!problem && line <= VKNMT_TOK_SPECIALS && strcmp(tok, specials[line - 1]) != 0)
            problem = "the first four lines must be <pad> <unk> <s> </s>";
        if (!problem && strtab_find(&v->tokens, tok) != UINT32_MAX)
            problem = "duplicate token";
        if (problem) {
            snprintf(err, err_size, "%s:%zu: %s", name, line, problem);
            s = VKNMT_ERR_INPUT;
        } else if (strtab_add(&v->tokens, tok) == UINT32_MAX) {
            snprintf(err, err_size, "%s: out of memory", name);
            s = VKNMT_ERR_OOM_HOST;
        }
    }
    if (s == VKNMT_OK && line < VKNMT_TOK_SPECIALS) {
        snprintf(err, err_size, "%s:%zu: too short: a vocabulary starts with <pad> <unk> <s> </s>", name, line + 1);
        s = VKNMT_ERR_INPUT;
    }
    free(tok);
    if (s != VKNMT_OK) {
        vknmt_vocab_destroy(v);
        return s;
    }
    *out = v;
    return VKNMT_OK;
}

vknmt_status vknmt_vocab_save(const vknmt_vocab *v, const char *path, char *err, size_t err_size)
{
    char *text;
    size_t len;
    if (vknmt_vocab_to_string(v, &text, &len) != VKNMT_OK) {
        snprintf(err, err_size, "%s: out of memory", path);
        return VKNMT_ERR_OOM_HOST;
    }
    vknmt_status s = VKNMT_OK;
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(text, 1, len, f) != len) {
        snprintf(err, err_size, "%s: cannot write: %s", path, strerror(errno));
        s = VKNMT_ERR_IO;
    }
    if (f && fclose(f) != 0 && s == VKNMT_OK) {
        snprintf(err, err_size, "%s: cannot write: %s", path, strerror(errno));
        s = VKNMT_ERR_IO;
    }
    free(text);
    return s;
}

vknmt_status vknmt_vocab_load(const char *path, vknmt_vocab **out, char *err, size_t err_size)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_size, "%s: cannot open: %s", path, strerror(errno));
        return VKNMT_ERR_IO;
    }
    char *text = NULL;
    size_t len = 0, cap = 0;
    vknmt_status s = VKNMT_OK;
    for (;;) {
        if (len == cap) {
            size_t ncap = cap ? cap * 2 : 1 << 16;
            char *t = realloc(text, ncap);
            if (!t) {
                snprintf(err, err_size, "%s: out of memory", path);
                s = VKNMT_ERR_OOM_HOST;
                break;
            }
            text = t;
            cap = ncap;
        }
        size_t n = fread(text + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) {
                snprintf(err, err_size, "%s: cannot read", path);
                s = VKNMT_ERR_IO;
            }
            break;
        }
    }
    fclose(f);
    if (s == VKNMT_OK)
        s = vknmt_vocab_from_string(text, len, path, out, err, err_size);
    free(text);
    return s;
}
