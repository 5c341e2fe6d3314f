/* Repairs of the two texts after markup removal, each one listed in
 * shared/data/bible-es-en/README.md ("Cleaning"). */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "bible_internal.h"

/* ---- small UTF-8 helpers ---- */

static utf8proc_int32_t cp_at(const char *s, size_t len, size_t i, size_t *n)
{
    utf8proc_int32_t c = -1;
    utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)(len - i), &c);
    *n = k > 0 ? (size_t)k : 1;
    return k > 0 ? c : -1;
}

static bool cp_is_letter(utf8proc_int32_t c)
{
    if (c < 0)
        return false;
    utf8proc_category_t cat = utf8proc_category(c);
    return (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO) || cat == UTF8PROC_CATEGORY_MN;
}

/* Counts the letters of s[0..len): upper-case ones in *upper, others in
 * *lower; *accent when one carries an acute accent or a diaeresis. */
static void letters_count(const char *s, size_t len, size_t *upper, size_t *lower, bool *accent)
{
    *upper = *lower = 0;
    if (accent)
        *accent = false;
    for (size_t i = 0; i < len;) {
        size_t n;
        utf8proc_int32_t c = cp_at(s, len, i, &n);
        if (cp_is_letter(c)) {
            if (utf8proc_category(c) == UTF8PROC_CATEGORY_LU)
                ++*upper;
            else
                ++*lower;
            /* á é í ó ú (and capitals) */
            if (accent && n == 2 && (unsigned char)s[i] == 0xC3 && strchr("\xa1\xa9\xad\xb3\xba\x81\x89\x8d\x93\x9a", s[i + 1]))
                *accent = true;
        }
        i += n;
    }
}

/* Writes s[0..len) lower-cased (first letter upper-cased when `cap`) into
 * out (at least 4 * len + 1 bytes); returns the length written. */
static size_t recase(const char *s, size_t len, bool cap, char *out)
{
    size_t w = 0;
    bool first = true;
    for (size_t i = 0; i < len;) {
        size_t n;
        utf8proc_int32_t c = cp_at(s, len, i, &n);
        if (c < 0) {
            out[w++] = s[i];
        } else {
            if (cp_is_letter(c)) {
                c = first && cap ? utf8proc_toupper(utf8proc_tolower(c)) : utf8proc_tolower(c);
                first = false;
            }
            w += (size_t)utf8proc_encode_char(c, (utf8proc_uint8_t *)out + w);
        }
        i += n;
    }
    out[w] = '\0';
    return w;
}

static bool word_is(const char *w, size_t len, const char *const *list)
{
    for (; *list; list++)
        if (strlen(*list) == len && memcmp(*list, w, len) == 0)
            return true;
    return false;
}

/* ---- enclitics ---- */

/* RV1909 prints an enclitic pronoun the translators supplied as an added
 * word glued to its verb ("sáca</w><transChange>lo"): one word, "sácalo".
 * Everywhere else two glued words are two words. A verb here is told by its
 * form: an infinitive (-r), a gerund (-ndo), a plural imperative (-d), a
 * written accent (the stress mark the pronoun made necessary, "díjo",
 * "púso"), or one of the short imperatives and preterites. */
bool bible_es_join(void *user, const char *before, size_t before_len, const char *word, size_t word_len, bool added)
{
    static const char *const pronouns[] = {"lo", "la", "los", "las", "le", "les", "me", "te", "se", "nos", "os", NULL};
    static const char *const short_verbs[] = {"di", "vi", "he", "haz", "ve", "ten", "pon", "sal", "ven", NULL};
    static const char *const not_verbs[] = {"cuánto", "cuánta", "cuántos", "cuántas", "qué", "quién", "cuál",
                                            "cómo", "dónde", "cuándo", "él", "más", "aún", "allá", "acá", "aquí",
                                            "allí", "ahí", "así", "también", "después", "además", "según",
                                            "jamás", "quizá", "detrás", "éste", "ésta", "éstos", "éstas",
                                            "ése", "ésa", "ésos", "ésas", "aquél", "aquélla", "aquéllos",
                                            "aquéllas", NULL};
    (void)user;
    if (!added || !word_is(word, word_len, pronouns))
        return false;
    size_t start = before_len;
    while (start > 0) {
        size_t k = start - 1;
        while (k > 0 && ((unsigned char)before[k] & 0xC0) == 0x80)
            k--;
        size_t n;
        if (!cp_is_letter(cp_at(before, before_len, k, &n)))
            break;
        start = k;
    }
    const char *left = before + start;
    size_t len = before_len - start, upper, lower;
    bool accent;
    if (len == 0 || len > 40)
        return false;
    letters_count(left, len, &upper, &lower, &accent);
    /* A capital inside a sentence is a name ("Josué", "Jehová", "Dios"). */
    size_t p = start;
    while (p > 0 && before[p - 1] == ' ')
        p--;
    bool sentence_start = p == 0 || strchr(".:;!?¡¿", before[p - 1]) != NULL || (unsigned char)before[p - 1] >= 0x80;
    if (upper && !sentence_start)
        return false;
    char low[4 * 40 + 1];
    size_t ll = recase(left, len, false, low);
    if (word_is(low, ll, not_verbs))
        return false;
    bool verb = accent || word_is(low, ll, short_verbs) || low[ll - 1] == 'r' || low[ll - 1] == 'd' ||
                (ll > 3 && memcmp(low + ll - 3, "ndo", 3) == 0);
    return verb;
}

/* ---- word casing statistics ---- */

/* How often each word (lower-cased) is written in lower case and with an
 * initial capital inside a sentence. */
typedef struct case_entry {
    char *word; /* owned, lower-cased */
    uint32_t lower, capital;
} case_entry;

typedef struct case_stats {
    case_entry *e; /* owned, open addressing */
    size_t cap, count;
} case_stats;

static uint64_t str_hash(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return h;
}

static case_entry *stats_slot(case_stats *cs, const char *w, size_t n, bool insert)
{
    if (insert && (cs->count + 1) * 2 > cs->cap) {
        size_t cap = cs->cap ? cs->cap * 2 : 4096;
        case_entry *e = calloc(cap, sizeof(*e));
        if (!e)
            return NULL;
        for (size_t i = 0; i < cs->cap; i++)
            if (cs->e[i].word) {
                size_t h = str_hash(cs->e[i].word, strlen(cs->e[i].word)) & (cap - 1);
                while (e[h].word)
                    h = (h + 1) & (cap - 1);
                e[h] = cs->e[i];
            }
        free(cs->e);
        cs->e = e;
        cs->cap = cap;
    }
    if (!cs->cap)
        return NULL;
    size_t h = str_hash(w, n) & (cs->cap - 1);
    while (cs->e[h].word) {
        if (strlen(cs->e[h].word) == n && memcmp(cs->e[h].word, w, n) == 0)
            return &cs->e[h];
        h = (h + 1) & (cs->cap - 1);
    }
    if (!insert)
        return NULL;
    cs->e[h].word = malloc(n + 1);
    if (!cs->e[h].word)
        return NULL;
    memcpy(cs->e[h].word, w, n);
    cs->e[h].word[n] = '\0';
    cs->count++;
    return &cs->e[h];
}

static void stats_free(case_stats *cs)
{
    for (size_t i = 0; i < cs->cap; i++)
        free(cs->e[i].word);
    free(cs->e);
}

/* The letters of token t[0..n): offset and length of the letter run. */
static void token_letters(const char *t, size_t n, size_t *off, size_t *len)
{
    size_t a = 0, b = n, k;
    while (a < n && !cp_is_letter(cp_at(t, n, a, &k)))
        a += k;
    while (b > a) {
        size_t s = b - 1;
        while (s > a && ((unsigned char)t[s] & 0xC0) == 0x80)
            s--;
        if (cp_is_letter(cp_at(t, n, s, &k)))
            break;
        b = s;
    }
    *off = a;
    *len = b - a;
}

/* A token ends a sentence ("hijo." "tierra:" would not). */
static bool ends_sentence(const char *t, size_t n)
{
    return n && strchr(".!?", t[n - 1]);
}

static bool stats_add_verse(case_stats *cs, const char *text)
{
    bool start = true;
    for (const char *t = text; *t;) {
        size_t n = strcspn(t, " "), off, len, up, low;
        token_letters(t, n, &off, &len);
        if (len && len <= 40) {
            letters_count(t + off, len, &up, &low, NULL);
            if (!start && up <= 1 && low) { /* lower case, or a capital inside a sentence */
                char w[4 * 40 + 1];
                size_t wl = recase(t + off, len, false, w);
                case_entry *e = stats_slot(cs, w, wl, true);
                if (!e)
                    return false;
                if (up)
                    e->capital++;
                else
                    e->lower++;
            }
        }
        start = ends_sentence(t, n);
        t += n;
        while (*t == ' ')
            t++;
    }
    return true;
}

/* ---- RV1909 ---- */

/* The letter names that head the stanzas of Ps 119 in RV1909. */
static void strip_acrostic(char *text)
{
    static const char *const letters[] = {"ALEPH", "BETH", "GIMEL", "DALETH", "HE", "VAU", "ZAIN", "CHETH",
                                          "TETH", "JOD", "CAPH", "LAMED", "MEM", "NUN", "SAMECH", "AIN",
                                          "PE", "TZADDI", "COPH", "KOPH", "RESH", "SIN", "SCHIN", "TAU", NULL};
    size_t n = strcspn(text, " ");
    size_t core = n && text[n - 1] == '.' ? n - 1 : n;
    if (!text[n] || !word_is(text, core, letters))
        return;
    memmove(text, text + n + 1, strlen(text + n + 1) + 1);
}

/* The subscription RV1909 adds after the last "Amén." of an epistle
 * ("Escrita de Roma á los Efesios por Tichîco."): not verse text. */
static void cut_subscription(char *text)
{
    char *last = NULL;
    for (char *p = strstr(text, "Amén."); p; p = strstr(p + 1, "Amén."))
        last = p;
    if (last && last[strlen("Amén.")] == ' ')
        last[strlen("Amén.")] = '\0';
}

/* The first word(s) of a chapter are printed in capitals ("Y ACONTECIÓ",
 * "¡OH Jehová", "Y Á SUS discípulos"): the first run of all-capital words
 * (a one-letter word joins the run that follows it) is given the case each
 * word has elsewhere (a capital inside a sentence more often than not: a
 * name, "Jehová"); the run's first word keeps a capital where a sentence or
 * a quotation starts. */
static char *recase_opening(const char *text, case_stats *cs)
{
    enum { MAX_TOKENS = 80 };
    size_t start[MAX_TOKENS], len[MAX_TOKENS], nt = 0, total = strlen(text);
    for (size_t i = 0; i < total && nt < MAX_TOKENS;) {
        size_t n = strcspn(text + i, " ");
        start[nt] = i;
        len[nt++] = n;
        i += n;
        while (text[i] == ' ')
            i++;
    }
    /* the run [first, last) */
    size_t first = nt, last = nt;
    for (size_t k = 0; k < nt && first == nt; k++) {
        size_t off, ll, up, low;
        token_letters(text + start[k], len[k], &off, &ll);
        letters_count(text + start[k] + off, ll, &up, &low, NULL);
        if (up >= 2 && low == 0 && ll <= 40)
            first = k;
    }
    if (first == nt)
        return strdup(text);
    for (last = first; last < nt; last++) {
        size_t off, ll, up, low;
        token_letters(text + start[last], len[last], &off, &ll);
        letters_count(text + start[last] + off, ll, &up, &low, NULL);
        if (!(up >= 1 && low == 0 && ll <= 40))
            break;
    }
    while (first > 0) {
        size_t off, ll, up, low;
        token_letters(text + start[first - 1], len[first - 1], &off, &ll);
        letters_count(text + start[first - 1] + off, ll, &up, &low, NULL);
        bool opens = first - 1 == 0 || ends_sentence(text + start[first - 2], len[first - 2]);
        if (up != 1 || low != 0 || opens)
            break;
        first--;
    }
    char *out = malloc(4 * total + 1);
    if (!out)
        return NULL;
    size_t w = 0;
    memcpy(out, text, start[first]);
    w = start[first];
    for (size_t k = first; k < last; k++) {
        size_t off, ll, up, low;
        const char *t = text + start[k];
        token_letters(t, len[k], &off, &ll);
        letters_count(t + off, ll, &up, &low, NULL);
        bool capital;
        if (k == first) {
            capital = k == 0 || off > 0 || ends_sentence(text + start[k - 1], len[k - 1]) ||
                      text[start[k - 1] + len[k - 1] - 1] == ':';
        } else {
            capital = ends_sentence(text + start[k - 1], len[k - 1]);
        }
        char lowered[4 * 40 + 1];
        size_t lw = recase(t + off, ll, false, lowered);
        const case_entry *e = stats_slot(cs, lowered, lw, false);
        capital = capital || (e && e->capital > e->lower);
        memcpy(out + w, t, off);
        w += off;
        w += recase(t + off, ll, capital, out + w);
        memcpy(out + w, t + off + ll, len[k] - off - ll);
        w += len[k] - off - ll;
        size_t next = k + 1 < nt ? start[k + 1] : total;
        memcpy(out + w, text + start[k] + len[k], next - start[k] - len[k]);
        w += next - start[k] - len[k];
    }
    size_t rest = last < nt ? start[last] : total;
    memcpy(out + w, text + rest, total - rest);
    w += total - rest;
    out[w] = '\0';
    return out;
}

vknmt_status bible_es_repair(bible_verse *v, size_t n)
{
    case_stats cs = {0};
    vknmt_status st = VKNMT_ERR_OOM_HOST;
    int psalms = bible_book_find("Psalms", 6);
    for (size_t i = 0; i < n; i++) {
        if (v[i].book == psalms && v[i].chapter == 119)
            strip_acrostic(v[i].text);
        /* the last non-empty verse of a book with a subscription */
        if (bible_books[v[i].book].subscription && v[i].text[0]) {
            size_t j = i + 1;
            while (j < n && v[j].book == v[i].book && !v[j].text[0])
                j++;
            if (j == n || v[j].book != v[i].book)
                cut_subscription(v[i].text);
        }
    }
    for (size_t i = 0; i < n; i++)
        if (!stats_add_verse(&cs, v[i].text))
            goto free_stats;
    bool seen = false; /* a non-empty verse of this chapter came before */
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || v[i - 1].book != v[i].book || v[i - 1].chapter != v[i].chapter)
            seen = false;
        if (!v[i].text[0] || seen)
            continue;
        seen = true;
        char *text = recase_opening(v[i].text, &cs);
        if (!text)
            goto free_stats;
        free(v[i].text);
        v[i].text = text;
    }
    st = VKNMT_OK;
free_stats:
    stats_free(&cs);
    return st;
}

void bible_en_repair(bible_verse *v, size_t n)
{
    int matt = bible_book_find("Matthew", 7);
    for (size_t i = 0; i + 1 < n; i++)
        if (v[i].book == matt && v[i].chapter == 23 && v[i].verse == 13 && v[i + 1].book == matt &&
            v[i + 1].chapter == 23 && v[i + 1].verse == 14) {
            /* WEB prints 23:14 before 23:13 (the order of its text base) */
            char *t = v[i].text;
            v[i].text = v[i + 1].text;
            v[i + 1].text = t;
        }
}
