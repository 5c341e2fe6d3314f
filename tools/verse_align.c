/* The verse aligner (verse_align.h). */
#include "verse_align.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "u64_map.h"

/* Partners kept per word, and the least Dice coefficient that counts. */
#define LEX_TOP 3
#define LEX_MIN_DICE 0.15
/* Half width of the DP band around the diagonal, in verses: renumberings
 * move verses by at most a few places (RV1909 Job 40: five). */
#define BAND 24
/* Bead scores (per verse covered, see bead_score). */
#define SKIP_SCORE (-0.4)
#define MERGE_PENALTY 1.2
#define LENGTH_WEIGHT 0.5
#define LENGTH_SMOOTH 20.0

/* A word is hashed, not stored: 64-bit FNV-1a of its lower-cased code
 * points; a collision would only blur the lexicon a little. */
static uint64_t word_hash_step(uint64_t h, utf8proc_int32_t c)
{
    for (int k = 0; k < 4; k++) {
        h ^= (uint64_t)((c >> (8 * k)) & 0xFF);
        h *= 0x100000001b3ull;
    }
    return h;
}

/* The hashes of the words of `text` (repeats included): *out malloc'd
 * (NULL with *n = 0 when there is none); false when out of memory. */
static bool word_hashes(const char *text, uint64_t **out, uint32_t *n)
{
    size_t len = strlen(text), cap = 0, count = 0;
    uint64_t *w = NULL, h = 0xcbf29ce484222325ull;
    bool in_word = false;
    *out = NULL;
    *n = 0;
    for (size_t i = 0; i <= len;) {
        utf8proc_int32_t c = -1;
        utf8proc_ssize_t k = 1;
        if (i < len)
            k = utf8proc_iterate((const utf8proc_uint8_t *)text + i, (utf8proc_ssize_t)(len - i), &c);
        if (k <= 0)
            k = 1;
        utf8proc_category_t cat = c >= 0 ? utf8proc_category(c) : UTF8PROC_CATEGORY_CN;
        bool word_char = c >= 0 && ((cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) ||
                                    cat == UTF8PROC_CATEGORY_ND || cat == UTF8PROC_CATEGORY_MN);
        if (word_char) {
            h = word_hash_step(h, utf8proc_tolower(c));
            in_word = true;
        } else if (in_word) {
            if (count == cap) {
                cap = cap ? cap * 2 : 32;
                uint64_t *p = realloc(w, cap * sizeof(*w));
                if (!p) {
                    free(w);
                    return false;
                }
                w = p;
            }
            w[count++] = h | 1; /* never 0, the empty key */
            h = 0xcbf29ce484222325ull;
            in_word = false;
        }
        i += (size_t)k;
    }
    *out = w;
    *n = (uint32_t)count;
    return true;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Sorts w[0..n) and drops repeats; returns the new count. */
static uint32_t sort_unique(uint32_t *w, uint32_t n)
{
    if (n)
        qsort(w, n, sizeof(*w), cmp_u32);
    uint32_t u = 0;
    for (uint32_t i = 0; i < n; i++)
        if (u == 0 || w[u - 1] != w[i])
            w[u++] = w[i];
    return u;
}

/* The distinct words of `text` as ids of `ids` (a map hash -> id + 1, new
 * words numbered from *next_id on), sorted, in *out (malloc'd); false when
 * out of memory. */
static bool verse_words(const char *text, vknmt_u64_map *ids, uint32_t *next_id, uint32_t **out, uint32_t *n)
{
    uint64_t *hashes;
    *out = NULL;
    if (!word_hashes(text, &hashes, n))
        return false;
    uint32_t *w = malloc((*n ? *n : 1) * sizeof(*w));
    for (uint32_t k = 0; w && k < *n; k++) {
        uint32_t *slot = vknmt_u64_map_slot(ids, hashes[k], NULL);
        if (!slot) {
            free(w);
            w = NULL;
            break;
        }
        if (!*slot)
            *slot = ++*next_id;
        w[k] = *slot - 1;
    }
    free(hashes);
    if (!w)
        return false;
    *n = sort_unique(w, *n);
    *out = w;
    return true;
}

/* ---- the lexicon ---- */

typedef struct lex_side {
    vknmt_u64_map ids;     /* word hash -> id + 1 */
    uint32_t nwords;
    uint32_t *df;    /* owned: verses (pairs) with the word, by id */
    size_t df_cap;
    /* owned, after build: partners[id * LEX_TOP + k] + 1 in the other side
     * (0: none) */
    uint32_t *partners;
} lex_side;

struct vknmt_verse_lexicon {
    lex_side side[2];
    vknmt_u64_map pairs; /* (src id + 1) << 32 | (tgt id + 1) -> co-occurrences */
    bool built;
};

vknmt_status vknmt_verse_lexicon_create(vknmt_verse_lexicon **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? VKNMT_OK : VKNMT_ERR_OOM_HOST;
}

void vknmt_verse_lexicon_destroy(vknmt_verse_lexicon *lex)
{
    if (!lex)
        return;
    for (int s = 0; s < 2; s++) {
        vknmt_u64_map_free(&lex->side[s].ids);
        free(lex->side[s].df);
        free(lex->side[s].partners);
    }
    vknmt_u64_map_free(&lex->pairs);
    free(lex);
}

static bool df_count(lex_side *side, const uint32_t *w, uint32_t n)
{
    if (side->nwords > side->df_cap) {
        size_t cap = side->df_cap ? side->df_cap : 1024;
        while (cap < side->nwords)
            cap *= 2;
        uint32_t *df = realloc(side->df, cap * sizeof(*df));
        if (!df)
            return false;
        memset(df + side->df_cap, 0, (cap - side->df_cap) * sizeof(*df));
        side->df = df;
        side->df_cap = cap;
    }
    for (uint32_t i = 0; i < n; i++)
        side->df[w[i]]++;
    return true;
}

vknmt_status vknmt_verse_lexicon_add(vknmt_verse_lexicon *lex, const char *src, const char *tgt)
{
    if (lex->built)
        return VKNMT_ERR_USAGE;
    uint32_t ns = 0, nt = 0, *ws = NULL, *wt = NULL;
    bool ok = verse_words(src, &lex->side[0].ids, &lex->side[0].nwords, &ws, &ns) &&
              verse_words(tgt, &lex->side[1].ids, &lex->side[1].nwords, &wt, &nt) && df_count(&lex->side[0], ws, ns) && df_count(&lex->side[1], wt, nt);
    for (uint32_t i = 0; ok && i < ns; i++)
        for (uint32_t j = 0; ok && j < nt; j++) {
            uint32_t *c = vknmt_u64_map_slot(&lex->pairs, (uint64_t)(ws[i] + 1) << 32 | (wt[j] + 1), NULL);
            ok = c != NULL;
            if (c)
                ++*c;
        }
    free(ws);
    free(wt);
    return ok ? VKNMT_OK : VKNMT_ERR_OOM_HOST;
}

/* Offers `partner` with Dice `d` to the top list of one word. */
static void top_offer(uint32_t *top, float *dice, uint32_t partner, float d)
{
    int k = LEX_TOP - 1;
    if (d <= dice[k])
        return;
    while (k > 0 && dice[k - 1] < d) {
        top[k] = top[k - 1];
        dice[k] = dice[k - 1];
        k--;
    }
    top[k] = partner + 1;
    dice[k] = d;
}

vknmt_status vknmt_verse_lexicon_build(vknmt_verse_lexicon *lex)
{
    if (lex->built)
        return VKNMT_ERR_USAGE;
    float *dice[2] = {NULL, NULL};
    for (int s = 0; s < 2; s++) {
        size_t n = (size_t)lex->side[s].nwords * LEX_TOP + 1;
        lex->side[s].partners = calloc(n, sizeof(uint32_t));
        dice[s] = malloc(n * sizeof(float));
        if (!lex->side[s].partners || !dice[s]) {
            free(dice[0]);
            free(dice[1]);
            return VKNMT_ERR_OOM_HOST;
        }
        for (size_t i = 0; i < n; i++)
            dice[s][i] = (float)LEX_MIN_DICE;
    }
    for (size_t h = 0; h < lex->pairs.cap; h++) {
        uint64_t key = lex->pairs.keys[h];
        uint32_t c = lex->pairs.vals[h];
        if (!key || c < 2)
            continue;
        uint32_t a = (uint32_t)(key >> 32) - 1, b = (uint32_t)key - 1;
        float d = 2.0f * (float)c / (float)(lex->side[0].df[a] + lex->side[1].df[b]);
        top_offer(lex->side[0].partners + (size_t)a * LEX_TOP, dice[0] + (size_t)a * LEX_TOP, b, d);
        top_offer(lex->side[1].partners + (size_t)b * LEX_TOP, dice[1] + (size_t)b * LEX_TOP, a, d);
    }
    free(dice[0]);
    free(dice[1]);
    vknmt_u64_map_free(&lex->pairs); /* the counts are not needed any more */
    lex->built = true;
    return VKNMT_OK;
}

/* ---- the dynamic program ---- */

/* One verse as the aligner sees it. */
typedef struct verse_info {
    uint32_t *words;    /* owned: distinct known word ids (its side's numbering), sorted */
    uint32_t nwords;
    double norm;        /* words counted when normalising: nwords, or all words if none is known */
    uint32_t *partners; /* owned: distinct partner ids in the other side, sorted */
    uint32_t npartners;
    double chars;       /* length in bytes, at least 1 */
} verse_info;

static bool verse_info_make(const vknmt_verse_lexicon *lex, int s, const char *text, verse_info *v)
{
    *v = (verse_info){.chars = (double)strlen(text) + 1};
    if (!lex)
        return true;
    const lex_side *side = &lex->side[s];
    uint64_t *hashes;
    uint32_t n;
    if (!word_hashes(text, &hashes, &n))
        return false;
    v->words = malloc((n ? n : 1) * sizeof(uint32_t));
    v->partners = malloc(((size_t)n * LEX_TOP + 1) * sizeof(uint32_t));
    if (!v->words || !v->partners) {
        free(hashes);
        return false;
    }
    for (uint32_t k = 0; k < n; k++) {
        const uint32_t *id = vknmt_u64_map_find(&side->ids, hashes[k]);
        if (!id)
            continue;
        v->words[v->nwords++] = *id - 1;
        for (int p = 0; p < LEX_TOP; p++) {
            uint32_t q = side->partners[(size_t)(*id - 1) * LEX_TOP + p];
            if (q)
                v->partners[v->npartners++] = q - 1;
        }
    }
    free(hashes);
    v->nwords = sort_unique(v->words, v->nwords);
    v->npartners = sort_unique(v->partners, v->npartners);
    /* a verse of unknown words still counts its words for normalising */
    v->norm = v->nwords ? v->nwords : n;
    return true;
}

static uint32_t intersect(const uint32_t *a, uint32_t na, const uint32_t *b, uint32_t nb)
{
    uint32_t i = 0, j = 0, c = 0;
    while (i < na && j < nb) {
        if (a[i] < b[j])
            i++;
        else if (a[i] > b[j])
            j++;
        else {
            c++;
            i++;
            j++;
        }
    }
    return c;
}

/* Lexical links between verse a (source) and b (target). */
static double links(const verse_info *a, const verse_info *b)
{
    if (!a->partners || !b->partners)
        return 0;
    return (double)intersect(a->partners, a->npartners, b->words, b->nwords) +
           (double)intersect(b->partners, b->npartners, a->words, a->nwords);
}

typedef struct dp_ctx {
    const verse_info *s, *t;
    uint32_t ns, nt;
    double ratio; /* mean source / target length */
    bool lexical;
} dp_ctx;

/* The score of the bead source [i0, i1) x target [j0, j1), both non-empty:
 * per verse covered, the share of words with a lexicon partner on the other
 * side minus a length-ratio penalty. */
static double bead_score(const dp_ctx *c, uint32_t i0, uint32_t i1, uint32_t j0, uint32_t j1)
{
    double l = 0, words = 0, cs = 0, ct = 0;
    for (uint32_t i = i0; i < i1; i++) {
        cs += c->s[i].chars;
        words += c->s[i].norm;
        for (uint32_t j = j0; j < j1; j++)
            l += links(&c->s[i], &c->t[j]);
    }
    for (uint32_t j = j0; j < j1; j++) {
        ct += c->t[j].chars;
        words += c->t[j].norm;
    }
    double overlap = c->lexical && words > 0 ? l / words : 0.5;
    /* short verses vary more in relative length: smoothed */
    double len_pen = LENGTH_WEIGHT * fabs(log((cs + LENGTH_SMOOTH) / (ct * c->ratio + LENGTH_SMOOTH)));
    double n = (double)(i1 - i0 + j1 - j0);
    return n * (overlap - len_pen) - (n > 2 ? MERGE_PENALTY : 0);
}

static void verse_infos_free(verse_info *v, uint32_t n)
{
    for (uint32_t i = 0; v && i < n; i++) {
        free(v[i].words);
        free(v[i].partners);
    }
    free(v);
}

vknmt_status vknmt_verse_align(const vknmt_verse_lexicon *lex, const char *const *src, uint32_t ns,
                               const char *const *tgt, uint32_t nt, vknmt_verse_pair **pairs, uint32_t *npairs)
{
    *pairs = NULL;
    *npairs = 0;
    if (lex && !lex->built)
        return VKNMT_ERR_USAGE;
    if (ns == 0 || nt == 0)
        return VKNMT_OK; /* nothing to pair */
    vknmt_status st = VKNMT_ERR_OOM_HOST;
    verse_info *vs = calloc(ns + 1, sizeof(*vs)), *vt = calloc(nt + 1, sizeof(*vt));
    double *score = NULL;
    uint8_t *back = NULL;
    if (!vs || !vt)
        goto free_infos;
    double cs = 0, ct = 0;
    for (uint32_t i = 0; i < ns; i++) {
        if (!verse_info_make(lex, 0, src[i], &vs[i]))
            goto free_infos;
        cs += vs[i].chars;
    }
    for (uint32_t j = 0; j < nt; j++) {
        if (!verse_info_make(lex, 1, tgt[j], &vt[j]))
            goto free_infos;
        ct += vt[j].chars;
    }
    dp_ctx c = {.s = vs, .t = vt, .ns = ns, .nt = nt, .ratio = ns && nt ? (cs / ns) / (ct / nt) : 1,
                .lexical = lex != NULL};
    /* Band: row i holds columns lo(i) .. lo(i) + W - 1. */
    const uint32_t W = 2 * BAND + 1;
    size_t cells = (size_t)(ns + 1) * W;
    score = malloc(cells * sizeof(*score));
    back = malloc(cells);
    if (!score || !back)
        goto free_dp;
#define LO(i) ((int64_t)((uint64_t)(i) * nt / ns) - BAND)
#define CELL(i, j) ((size_t)(i) * W + (size_t)((int64_t)(j) - LO(i)))
#define IN_BAND(i, j) ((int64_t)(j) >= LO(i) && (int64_t)(j) < LO(i) + (int64_t)W && (j) <= nt)
    static const uint8_t moves[5][2] = {{1, 1}, {1, 0}, {0, 1}, {2, 1}, {1, 2}};
    for (uint32_t i = 0; i <= ns; i++) {
        for (int64_t jj = LO(i) < 0 ? 0 : LO(i); jj < LO(i) + (int64_t)W && jj <= nt; jj++) {
            uint32_t j = (uint32_t)jj;
            size_t cell = CELL(i, j);
            score[cell] = -INFINITY;
            back[cell] = 0xFF;
            if (i == 0 && j == 0) {
                score[cell] = 0;
                continue;
            }
            for (int m = 0; m < 5; m++) {
                uint32_t di = moves[m][0], dj = moves[m][1];
                if (di > i || dj > j || !IN_BAND(i - di, j - dj))
                    continue;
                double prev = score[CELL(i - di, j - dj)];
                if (prev == -INFINITY)
                    continue;
                double s = di && dj ? bead_score(&c, i - di, i, j - dj, j) : SKIP_SCORE;
                if (prev + s > score[cell]) {
                    score[cell] = prev + s;
                    back[cell] = (uint8_t)m;
                }
            }
        }
    }
    if (!IN_BAND(ns, nt) || back[CELL(ns, nt)] == 0xFF) {
        st = VKNMT_ERR_INPUT;
        goto free_dp;
    }
    vknmt_verse_pair *out = malloc(((ns < nt ? ns : nt) + 1) * sizeof(*out));
    if (!out)
        goto free_dp;
    uint32_t n = 0;
    for (uint32_t i = ns, j = nt; i || j;) {
        uint8_t m = back[CELL(i, j)];
        if (m == 0)
            out[n++] = (vknmt_verse_pair){i - 1, j - 1};
        i -= moves[m][0];
        j -= moves[m][1];
    }
    for (uint32_t k = 0; k < n / 2; k++) {
        vknmt_verse_pair t = out[k];
        out[k] = out[n - 1 - k];
        out[n - 1 - k] = t;
    }
#undef LO
#undef CELL
#undef IN_BAND
    *pairs = out;
    *npairs = n;
    st = VKNMT_OK;
free_dp:
    free(score);
    free(back);
free_infos:
    verse_infos_free(vs, ns);
    verse_infos_free(vt, nt);
    return st;
}
