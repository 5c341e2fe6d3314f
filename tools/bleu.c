/* Corpus BLEU as sacreBLEU 2.x computes it (see bleu.h). Each step follows
 * the Python code it mirrors; the comments name it. */
#include "bleu.h"
#include "strbuf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

struct vknmt_bleu {
    bool lowercase;
    vknmt_bleu_stats stats;
    uint64_t sentences;
    size_t nrefs_min, nrefs_max; /* non-empty references per sentence */
};

/* ---- growable byte buffers (strbuf.h) ---- */

static void buf_swap(vknmt_strbuf *a, vknmt_strbuf *b)
{
    vknmt_strbuf t = *a;
    *a = *b;
    *b = t;
}

/* ---- Python's notion of characters ---- */

/* str.isspace(): bidirectional class WS, B or S, or category Zs. */
static bool py_isspace(utf8proc_int32_t c)
{
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

/* The code point at s[i] (valid UTF-8 assumed) and its length in bytes. */
static utf8proc_int32_t cp_at(const char *s, size_t len, size_t i, size_t *n)
{
    utf8proc_int32_t c = 0;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
    *n = k > 0 ? (size_t)k : 1;
    return c;
}

/* Bytes 0..len-1 are valid UTF-8 (strict: utf8proc rejects overlong forms,
 * surrogates and values past U+10FFFF), else the 0-based offset of the
 * first bad byte. */
static bool utf8_valid(const char *s, size_t len, size_t *bad)
{
    for (size_t i = 0; i < len;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
        if (k <= 0 || c < 0) {
            *bad = i;
            return false;
        }
        i += (size_t)k;
    }
    return true;
}

/* Unicode "Cased": Lu, Ll, Lt, any character with a case mapping (Ⓐ, Ⅰ),
 * and the Other_Lowercase letters without one (ª º ʰ ...; DerivedCoreProperties
 * ranges, utf8proc has no such property). Only the final-sigma rule asks. */
static bool is_cased(utf8proc_int32_t c)
{
    static const utf8proc_int32_t other_lower[][2] = {
        {0xAA, 0xAA},     {0xBA, 0xBA},     {0x2B0, 0x2B8},   {0x2C0, 0x2C1},   {0x2E0, 0x2E4},
        {0x345, 0x345},   {0x37A, 0x37A},   {0x10FC, 0x10FC}, {0x1D2C, 0x1D6A}, {0x1D78, 0x1D78},
        {0x1D9B, 0x1DBF}, {0x2071, 0x2071}, {0x207F, 0x207F}, {0x2090, 0x209C}, {0x2170, 0x217F},
        {0x24D0, 0x24E9}, {0x2C7C, 0x2C7D}, {0xA69C, 0xA69D}, {0xA770, 0xA770}, {0xA7F8, 0xA7F9},
        {0xAB5C, 0xAB5F},
    };
    utf8proc_category_t cat = utf8proc_category(c);
    if (cat == UTF8PROC_CATEGORY_LU || cat == UTF8PROC_CATEGORY_LL || cat == UTF8PROC_CATEGORY_LT ||
        utf8proc_tolower(c) != c || utf8proc_toupper(c) != c)
        return true;
    for (size_t i = 0; i < sizeof(other_lower) / sizeof(other_lower[0]); i++)
        if (c >= other_lower[i][0] && c <= other_lower[i][1])
            return true;
    return false;
}

/* Unicode "Case_Ignorable": Mn Me Cf Lm Sk and the Word_Break classes
 * MidLetter, MidNumLet and Single_Quote. */
static bool is_case_ignorable(utf8proc_int32_t c)
{
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_SK:
        return true;
    default:
        break;
    }
    static const utf8proc_int32_t mid[] = {0x27,   0x2E,   0x3A,   0xB7,   0x387,  0x55F,  0x5F4,  0x2018, 0x2019,
                                           0x2024, 0x2027, 0xFE13, 0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A};
    for (size_t i = 0; i < sizeof(mid) / sizeof(mid[0]); i++)
        if (c == mid[i])
            return true;
    return false;
}

/* Python's str.lower() of valid UTF-8 s[0..len), appended to out: full
 * mappings (SpecialCasing: U+0130 -> i U+0307; Final_Sigma, as CPython's
 * handle_capital_sigma), else the simple mapping. */
static bool py_lower(const char *s, size_t len, vknmt_strbuf *out)
{
    for (size_t i = 0; i < len;) {
        size_t n;
        utf8proc_int32_t c = cp_at(s, len, i, &n), lc;
        if (c == 0x130) {
            if (!vknmt_strbuf_put(out, "i\xCC\x87", 3))
                return false;
            i += n;
            continue;
        }
        if (c == 0x3A3) {
            /* \p{cased}\p{case-ignorable}* U+03A3 !(\p{case-ignorable}*\p{cased}) */
            bool final = false;
            size_t j = i;
            while (j > 0) {
                size_t k = j - 1, m;
                while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80)
                    k--;
                utf8proc_int32_t p = cp_at(s, len, k, &m);
                j = k;
                if (!is_case_ignorable(p)) {
                    final = is_cased(p);
                    break;
                }
            }
            for (size_t k = i + n; final && k < len;) {
                size_t m;
                utf8proc_int32_t q = cp_at(s, len, k, &m);
                if (!is_case_ignorable(q)) {
                    final = !is_cased(q);
                    break;
                }
                k += m;
            }
            lc = final ? 0x3C2 : 0x3C3;
        } else {
            lc = utf8proc_tolower(c);
        }
        utf8proc_uint8_t enc[4];
        utf8proc_ssize_t k = utf8proc_encode_char(lc, enc);
        if (!vknmt_strbuf_put(out, (const char *)enc, (size_t)k))
            return false;
        i += n;
    }
    return true;
}

/* str.replace(from, to): non-overlapping, left to right. */
static bool replace_all(const vknmt_strbuf *in, const char *from, const char *to, vknmt_strbuf *out)
{
    size_t fl = strlen(from), tl = strlen(to);
    out->len = 0;
    if (!vknmt_strbuf_reserve(out, in->len))
        return false;
    out->p[0] = '\0';
    for (size_t i = 0; i < in->len;) {
        if (in->len - i >= fl && memcmp(in->p + i, from, fl) == 0) {
            if (!vknmt_strbuf_put(out, to, tl))
                return false;
            i += fl;
        } else {
            if (!vknmt_strbuf_putc(out, in->p[i]))
                return false;
            i++;
        }
    }
    return true;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_dot_comma(char c) { return c == '.' || c == ','; }

/* The class [\{-\~\[-\` -\&\(-\+\:-\@\/] of tokenizer_re.py. */
static bool is_13a_symbol(char ch)
{
    unsigned char c = (unsigned char)ch;
    return (c >= '{' && c <= '~') || (c >= '[' && c <= '`') || (c >= ' ' && c <= '&') || (c >= '(' && c <= '+') ||
           (c >= ':' && c <= '@') || c == '/';
}

/* The four regex substitutions of TokenizerRegexp, each a left-to-right
 * scan over non-overlapping matches as re.sub does. They run on bytes: the
 * only class that matches non-ASCII, [^0-9], then matches the first or
 * last byte of a multi-byte character, which gives the same output and the
 * same resumption point as matching the whole character. */
static bool regex_passes(vknmt_strbuf *a, vknmt_strbuf *b)
{
    /* ([\{-\~\[-\` -\&\(-\+\:-\@\/]) -> ' \1 ' */
    b->len = 0;
    for (size_t i = 0; i < a->len; i++) {
        char c = a->p[i];
        bool ok = is_13a_symbol(c) ? vknmt_strbuf_putc(b, ' ') && vknmt_strbuf_putc(b, c) && vknmt_strbuf_putc(b, ' ') : vknmt_strbuf_putc(b, c);
        if (!ok)
            return false;
    }
    buf_swap(a, b);
    /* ([^0-9])([\.,]) -> '\1 \2 ' */
    b->len = 0;
    for (size_t i = 0; i < a->len;) {
        if (i + 1 < a->len && !is_digit(a->p[i]) && is_dot_comma(a->p[i + 1])) {
            char t[4] = {a->p[i], ' ', a->p[i + 1], ' '};
            if (!vknmt_strbuf_put(b, t, 4))
                return false;
            i += 2;
        } else if (!vknmt_strbuf_putc(b, a->p[i++])) {
            return false;
        }
    }
    buf_swap(a, b);
    /* ([\.,])([^0-9]) -> ' \1 \2' */
    b->len = 0;
    for (size_t i = 0; i < a->len;) {
        if (i + 1 < a->len && is_dot_comma(a->p[i]) && !is_digit(a->p[i + 1])) {
            char t[4] = {' ', a->p[i], ' ', a->p[i + 1]};
            if (!vknmt_strbuf_put(b, t, 4))
                return false;
            i += 2;
        } else if (!vknmt_strbuf_putc(b, a->p[i++])) {
            return false;
        }
    }
    buf_swap(a, b);
    /* ([0-9])(-) -> '\1 \2 ' */
    b->len = 0;
    for (size_t i = 0; i < a->len;) {
        if (i + 1 < a->len && is_digit(a->p[i]) && a->p[i + 1] == '-') {
            char t[4] = {a->p[i], ' ', '-', ' '};
            if (!vknmt_strbuf_put(b, t, 4))
                return false;
            i += 2;
        } else if (!vknmt_strbuf_putc(b, a->p[i++])) {
            return false;
        }
    }
    buf_swap(a, b);
    return true;
}

/* ' '.join(s.split()) of valid UTF-8 into out. */
static bool py_split_join(const vknmt_strbuf *in, vknmt_strbuf *out)
{
    out->len = 0;
    if (!vknmt_strbuf_reserve(out, in->len))
        return false;
    out->p[0] = '\0';
    bool in_word = false;
    for (size_t i = 0; i < in->len;) {
        size_t n;
        utf8proc_int32_t c = cp_at(in->p, in->len, i, &n);
        if (py_isspace(c)) {
            in_word = false;
        } else {
            if (!in_word && out->len && !vknmt_strbuf_putc(out, ' '))
                return false;
            in_word = true;
            if (!vknmt_strbuf_put(out, in->p + i, n))
                return false;
        }
        i += n;
    }
    return true;
}

/* BLEU._preprocess_segment: lower() when asked, rstrip(), Tokenizer13a. */
static vknmt_status tokenize_13a(const char *line, size_t len, bool lowercase, vknmt_strbuf *out, char *err, size_t err_size)
{
    size_t bad;
    if (!utf8_valid(line, len, &bad)) {
        vknmt_errorf(err, err_size, "invalid UTF-8 at byte %zu", bad + 1);
        return VKNMT_ERR_INPUT;
    }
    vknmt_status s = VKNMT_ERR_OOM_HOST;
    vknmt_strbuf a = {0}, b = {0};
    if (lowercase ? !py_lower(line, len, &a) : !vknmt_strbuf_put(&a, line, len))
        goto free_bufs;
    /* rstrip(): drop trailing white space, one code point at a time */
    while (a.len) {
        size_t k = a.len - 1, n;
        while (k > 0 && ((unsigned char)a.p[k] & 0xC0) == 0x80)
            k--;
        if (!py_isspace(cp_at(a.p, a.len, k, &n)))
            break;
        a.len = k;
    }
    static const char *const rep[][2] = {
        {"<skipped>", ""}, {"-\n", ""}, {"\n", " "}, {"&quot;", "\""}, {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"},
    };
    for (size_t r = 0; r < sizeof(rep) / sizeof(rep[0]); r++) {
        if (!replace_all(&a, rep[r][0], rep[r][1], &b))
            goto free_bufs;
        buf_swap(&a, &b);
    }
    /* " {} ".format(line) only matters to the regexes at the edges */
    b.len = 0;
    if (!vknmt_strbuf_putc(&b, ' ') || !vknmt_strbuf_put(&b, a.p ? a.p : "", a.len) || !vknmt_strbuf_putc(&b, ' '))
        goto free_bufs;
    buf_swap(&a, &b);
    if (!regex_passes(&a, &b) || !py_split_join(&a, out))
        goto free_bufs;
    s = VKNMT_OK;
free_bufs:
    free(a.p);
    free(b.p);
    return s;
}

vknmt_status vknmt_bleu_tokenize_13a(const char *line, size_t len, bool lowercase, char **out, char *err,
                                     size_t err_size)
{
    if (!out)
        return VKNMT_ERR_USAGE;
    *out = NULL;
    if (!line && len)
        return VKNMT_ERR_USAGE;
    vknmt_strbuf o = {0};
    vknmt_status s = tokenize_13a(line ? line : "", len, lowercase, &o, err, err_size);
    if (s == VKNMT_OK && !o.p && !vknmt_strbuf_reserve(&o, 0))
        s = VKNMT_ERR_OOM_HOST;
    if (s != VKNMT_OK) {
        free(o.p);
        return s;
    }
    o.p[o.len] = '\0';
    *out = o.p;
    return VKNMT_OK;
}

/* ---- n-gram counts ---- */

/* An n-gram is a run of consecutive tokens, so a slice of the tokenized
 * line (tokens hold no space, so equal bytes mean the same n-gram). */
typedef struct ngram {
    const char *p; /* borrowed: into the tokenized line */
    size_t len;
    uint64_t count;
    int order; /* 1..4 */
} ngram;

static int ngram_cmp(const void *x, const void *y)
{
    const ngram *a = x, *b = y;
    if (a->len != b->len)
        return a->len < b->len ? -1 : 1;
    return memcmp(a->p, b->p, a->len);
}

/* extract_all_word_ngrams(line, 1, 4): the distinct n-grams of the
 * tokenized line `t` with their counts, sorted by ngram_cmp, malloc'ed into
 * *out; *ntok tokens. */
static bool count_ngrams(const vknmt_strbuf *t, ngram **out, size_t *nout, uint64_t *ntok)
{
    *out = NULL;
    *nout = 0;
    size_t n = 0;
    for (size_t i = 0; i < t->len; i++)
        n += t->p[i] == ' ';
    n = t->len ? n + 1 : 0;
    *ntok = n;
    if (!n)
        return true;
    size_t *start = malloc(n * sizeof(size_t)), *end = malloc(n * sizeof(size_t));
    ngram *g = malloc(n * VKNMT_BLEU_ORDER * sizeof(ngram));
    if (!start || !end || !g) {
        free(start);
        free(end);
        free(g);
        return false;
    }
    size_t k = 0;
    start[0] = 0;
    for (size_t i = 0; i < t->len; i++)
        if (t->p[i] == ' ') {
            end[k++] = i;
            start[k] = i + 1;
        }
    end[k] = t->len;
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        for (int o = 1; o <= VKNMT_BLEU_ORDER && i + (size_t)o <= n; o++)
            g[m++] = (ngram){t->p + start[i], end[i + (size_t)o - 1] - start[i], 1, o};
    free(start);
    free(end);
    qsort(g, m, sizeof(ngram), ngram_cmp);
    size_t u = 0;
    for (size_t i = 0; i < m; i++) {
        if (u && ngram_cmp(&g[u - 1], &g[i]) == 0)
            g[u - 1].count++;
        else
            g[u++] = g[i];
    }
    *out = g;
    *nout = u;
    return true;
}

static uint64_t ngram_find(const ngram *g, size_t n, const ngram *key)
{
    const ngram *hit = n ? bsearch(key, g, n, sizeof(ngram), ngram_cmp) : NULL;
    return hit ? hit->count : 0;
}

/* ---- the accumulator ---- */

vknmt_status vknmt_bleu_create(const vknmt_bleu_options *opt, vknmt_bleu **out)
{
    if (!out)
        return VKNMT_ERR_USAGE;
    *out = NULL;
    vknmt_bleu *b = calloc(1, sizeof(*b));
    if (!b)
        return VKNMT_ERR_OOM_HOST;
    b->lowercase = opt && opt->lowercase;
    *out = b;
    return VKNMT_OK;
}

void vknmt_bleu_destroy(vknmt_bleu *b) { free(b); }

vknmt_status vknmt_bleu_add(vknmt_bleu *b, const char *hyp, const char *const *refs, size_t nrefs, char *err,
                            size_t err_size)
{
    if (!b || !hyp || !refs || !nrefs) {
        vknmt_errorf(err, err_size, "vknmt_bleu_add: needs a hypothesis and at least one reference");
        return VKNMT_ERR_USAGE;
    }
    for (size_t r = 0; r < nrefs; r++)
        if (!refs[r]) {
            vknmt_errorf(err, err_size, "vknmt_bleu_add: reference %zu is NULL", r + 1);
            return VKNMT_ERR_USAGE;
        }
    char why[128];
    vknmt_status s;
    vknmt_strbuf htok = {0}, rtok = {0}; /* the tokenized hypothesis and reference: hg and rg point into them */
    ngram *hg = NULL, *rg = NULL;
    size_t nh = 0, nr = 0, used = 0;
    uint64_t hyp_len = 0, ref_len = 0, closest_diff = 0, *best = NULL;
    s = tokenize_13a(hyp, strlen(hyp), b->lowercase, &htok, why, sizeof(why));
    if (s == VKNMT_ERR_INPUT)
        vknmt_errorf(err, err_size, "hypothesis: %s", why);
    if (s != VKNMT_OK)
        goto free_all;
    s = VKNMT_ERR_OOM_HOST;
    if (!count_ngrams(&htok, &hg, &nh, &hyp_len) || !(best = calloc(nh ? nh : 1, sizeof(uint64_t))))
        goto free_all;
    /* BLEU._extract_reference_info and _get_closest_ref_len, over the
     * non-empty references (Metric._cache_references drops "" ones) */
    for (size_t r = 0; r < nrefs; r++) {
        if (refs[r][0] == '\0')
            continue;
        rtok.len = 0;
        s = tokenize_13a(refs[r], strlen(refs[r]), b->lowercase, &rtok, why, sizeof(why));
        if (s == VKNMT_ERR_INPUT)
            vknmt_errorf(err, err_size, "reference %zu: %s", r + 1, why);
        if (s != VKNMT_OK)
            goto free_all;
        s = VKNMT_ERR_OOM_HOST;
        uint64_t len;
        free(rg);
        rg = NULL;
        if (!count_ngrams(&rtok, &rg, &nr, &len))
            goto free_all;
        uint64_t diff = len > hyp_len ? len - hyp_len : hyp_len - len;
        if (!used || diff < closest_diff || (diff == closest_diff && len < ref_len)) {
            closest_diff = diff;
            ref_len = len;
        }
        for (size_t i = 0; i < nh; i++) {
            uint64_t c = ngram_find(rg, nr, &hg[i]);
            if (c > best[i])
                best[i] = c;
        }
        used++;
    }
    if (!used) {
        vknmt_errorf(err, err_size, "every reference is empty");
        s = VKNMT_ERR_INPUT;
        goto free_all;
    }
    vknmt_bleu_stats *st = &b->stats;
    st->hyp_len += hyp_len;
    st->ref_len += ref_len;
    for (size_t i = 0; i < nh; i++) {
        int o = hg[i].order - 1;
        st->total[o] += hg[i].count;
        st->correct[o] += hg[i].count < best[i] ? hg[i].count : best[i];
    }
    if (!b->sentences || used < b->nrefs_min)
        b->nrefs_min = used;
    if (!b->sentences || used > b->nrefs_max)
        b->nrefs_max = used;
    b->sentences++;
    s = VKNMT_OK;
free_all:
    free(best);
    free(rg);
    free(hg);
    free(rtok.p);
    free(htok.p);
    return s;
}

vknmt_bleu_stats vknmt_bleu_get_stats(const vknmt_bleu *b) { return b->stats; }

uint64_t vknmt_bleu_sentences(const vknmt_bleu *b) { return b->sentences; }

/* my_log of sacrebleu/utils.py: log(0) is -9999999999, not -inf. */
static double my_log(double x) { return x == 0.0 ? -9999999999.0 : log(x); }

vknmt_bleu_score vknmt_bleu_compute(const vknmt_bleu_stats *stats)
{
    vknmt_bleu_score r = {0};
    r.stats = *stats;
    double sys = (double)stats->hyp_len, ref = (double)stats->ref_len;
    r.ratio = stats->ref_len ? sys / ref : 0.0;
    if (stats->hyp_len < stats->ref_len)
        r.bp = stats->hyp_len > 0 ? exp(1.0 - ref / sys) : 0.0;
    else
        r.bp = 1.0;
    bool any = false;
    for (int n = 0; n < VKNMT_BLEU_ORDER; n++)
        any = any || stats->correct[n];
    if (!any) /* sacreBLEU #141: no match at all is 0, smoothing or not */
        return r;
    double smooth = 1.0;
    for (int n = 0; n < VKNMT_BLEU_ORDER; n++) {
        if (stats->total[n] == 0)
            break;
        if (stats->correct[n] == 0) {
            smooth *= 2.0;
            r.precisions[n] = 100.0 / (smooth * (double)stats->total[n]);
        } else {
            r.precisions[n] = 100.0 * (double)stats->correct[n] / (double)stats->total[n];
        }
    }
    double sum = 0.0;
    for (int n = 0; n < VKNMT_BLEU_ORDER; n++)
        sum += my_log(r.precisions[n]);
    r.score = r.bp * exp(sum / VKNMT_BLEU_ORDER);
    return r;
}

vknmt_bleu_score vknmt_bleu_corpus_score(const vknmt_bleu *b) { return vknmt_bleu_compute(&b->stats); }

int vknmt_bleu_format(const vknmt_bleu_score *s, char *out, size_t out_size)
{
    return snprintf(out, out_size,
                    "BLEU = %.2f %.1f/%.1f/%.1f/%.1f (BP = %.3f ratio = %.3f hyp_len = %llu ref_len = %llu)",
                    s->score, s->precisions[0], s->precisions[1], s->precisions[2], s->precisions[3], s->bp, s->ratio,
                    (unsigned long long)s->stats.hyp_len, (unsigned long long)s->stats.ref_len);
}

int vknmt_bleu_signature(const vknmt_bleu *b, char *out, size_t out_size)
{
    char nrefs[32];
    if (b->nrefs_min != b->nrefs_max)
        snprintf(nrefs, sizeof(nrefs), "var");
    else
        snprintf(nrefs, sizeof(nrefs), "%zu", b->nrefs_min);
    return snprintf(out, out_size, "nrefs:%s|case:%s|eff:no|tok:13a|smooth:exp|version:%s", nrefs,
                    b->lowercase ? "lc" : "mixed", VKNMT_BLEU_SACREBLEU_VERSION);
}
