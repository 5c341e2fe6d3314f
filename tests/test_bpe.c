/* Subword units (tools/bpe.c): merges worked out by hand, a naive learner
 * as reference, determinism, segmentation and joining on real text, the
 * merges in the checkpoints, translation and exact resume with --bpe. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bpe.h"
#include "harness.h"
#include "safetensors.h"
#include "source_line.h"
#include "tokenize.h"
#include "vocab.h"

/* ---- helpers ---- */

/* A counter holding `word` `count` times, for each pair of the list. */
static vknmt_vocab_counter *counter_of(const char *const *words, const int *counts, int n)
{
    vknmt_vocab_counter *c = NULL;
    if (vknmt_vocab_counter_create(&c))
        return NULL;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < counts[i]; k++)
            if (vknmt_vocab_counter_add(c, words[i], NULL)) {
                vknmt_vocab_counter_destroy(c);
                return NULL;
            }
    return c;
}

/* The units of one word joined with ' ' into out. */
static bool segment_word(vknmt_bpe *b, const char *word, char *out, size_t n)
{
    const char *const *units;
    size_t count;
    if (vknmt_bpe_apply(b, &word, 1, &units, &count, NULL))
        return false;
    out[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        if (i)
            strncat(out, " ", n - strlen(out) - 1);
        strncat(out, units[i], n - strlen(out) - 1);
    }
    return true;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* ---- learning ---- */

/* Sennrich et al.'s example plus two words seen once. Worked by hand:
 *   (e,s) and (s,t</w>) both 9: the greater pair wins, s t</w>; then
 *   e st</w> 9; l o 7; a three-way tie at 6 (n e, e w, w est</w>): w est</w>;
 *   n e beats e west</w>; ne west</w>; lo w</w> 5; at 3 w i > i d > d est</w>;
 *   wi d; wid est</w>; at 2 w e > lo w > e r</w>; we r</w>; lo wer</w>;
 *   then every word is one symbol. "xq" and "zq" (once each) never merge. */
static const char *const HAND_WORDS[] = {"low", "lower", "newest", "widest", "xq", "zq"};
static const int HAND_COUNTS[] = {5, 2, 6, 3, 1, 1};
static const char *const HAND_MERGES[] = {"s t</w>", "e st</w>", "l o",    "w est</w>", "n e",
                                          "ne west</w>", "lo w</w>", "w i", "wi d",      "wid est</w>",
                                          "w e",      "we r</w>",  "lo wer</w>"};

static void test_hand_merges(th_env *env)
{
    (void)env;
    vknmt_vocab_counter *c = counter_of(HAND_WORDS, HAND_COUNTS, 6);
    CHECK(c, "counter");
    vknmt_bpe *b = NULL;
    CHECK(vknmt_bpe_learn(c, 100, &b) == VKNMT_OK, "learn");
    uint32_t n = vknmt_bpe_merge_count(b);
    char got[64], seg[128];
    bool ok = n == 13;
    for (uint32_t r = 0; ok && r < n; r++) {
        vknmt_bpe_merge_text(b, r, got, sizeof(got));
        ok = strcmp(got, HAND_MERGES[r]) == 0;
        if (!ok)
            th_fail_at(__FILE__, __LINE__, "merge %u: got '%s', want '%s'", r + 1, got, HAND_MERGES[r]);
    }
    CHECK(ok || th_failed(), "%u merges learned, 13 expected (it should stop when no pair occurs twice)", n);
    if (th_failed())
        goto done;
    /* applying: "lowest" -> l o w e s t</w> -> ... -> lo west</w> */
    CHECK(segment_word(b, "lowest", seg, sizeof(seg)) && !strcmp(seg, "lo@@ west"), "lowest -> '%s'", seg);
    CHECK(segment_word(b, "newest", seg, sizeof(seg)) && !strcmp(seg, "newest"), "newest -> '%s'", seg);
    CHECK(segment_word(b, "xq", seg, sizeof(seg)) && !strcmp(seg, "x@@ q"), "xq -> '%s'", seg);
    CHECK(segment_word(b, "<unk>", seg, sizeof(seg)) && !strcmp(seg, "<unk>"), "a special is kept whole: '%s'", seg);
    vknmt_bpe_destroy(b);
    b = NULL;
    /* asking for fewer stops there */
    CHECK(vknmt_bpe_learn(c, 3, &b) == VKNMT_OK && vknmt_bpe_merge_count(b) == 3, "3 merges");
    vknmt_bpe_merge_text(b, 2, got, sizeof(got));
    CHECK(!strcmp(got, "l o"), "3rd merge '%s'", got);
    CHECK(segment_word(b, "lowest", seg, sizeof(seg)) && !strcmp(seg, "lo@@ w@@ est"), "lowest -> '%s'", seg);
    vknmt_bpe_destroy(b);
    b = NULL;
    CHECK(vknmt_bpe_learn(c, 0, &b) == VKNMT_ERR_USAGE && !b, "0 merges must be refused");
done:
    vknmt_bpe_destroy(b);
    vknmt_vocab_counter_destroy(c);
}

/* The learner the paper prints, without any bookkeeping: recount every pair
 * each step, symbols as strings with "</w>" inside. */
#define NAIVE_MAX 12
typedef struct nword {
    char sym[NAIVE_MAX][64];
    int n;
    int freq;
} nword;

static int naive_learn(nword *w, int nw, int merges, char out[][130])
{
    int done = 0;
    static char pa[4096][64], pb[4096][64];
    static int pc[4096];
    while (done < merges) {
        int np = 0;
        for (int i = 0; i < nw; i++)
            for (int k = 0; k + 1 < w[i].n; k++) {
                int p = 0;
                while (p < np && (strcmp(pa[p], w[i].sym[k]) || strcmp(pb[p], w[i].sym[k + 1])))
                    p++;
                if (p == np) {
                    strcpy(pa[np], w[i].sym[k]);
                    strcpy(pb[np], w[i].sym[k + 1]);
                    pc[np++] = 0;
                }
                pc[p] += w[i].freq;
            }
        int best = -1;
        for (int p = 0; p < np; p++) {
            int c = best < 0 ? 1 : pc[p] != pc[best] ? (pc[p] > pc[best] ? 1 : -1) : strcmp(pa[p], pa[best]);
            if (!c)
                c = strcmp(pb[p], pb[best]);
            if (c > 0)
                best = p;
        }
        if (best < 0 || pc[best] < 2)
            break;
        snprintf(out[done++], 130, "%s %s", pa[best], pb[best]);
        char a[64], b[64];
        strcpy(a, pa[best]);
        strcpy(b, pb[best]);
        for (int i = 0; i < nw; i++) {
            int o = 0;
            for (int k = 0; k < w[i].n;) {
                if (k + 1 < w[i].n && !strcmp(w[i].sym[k], a) && !strcmp(w[i].sym[k + 1], b)) {
                    size_t la = strlen(a), lb = strlen(b); /* words are short: la + lb < 64 */
                    memcpy(w[i].sym[o], a, la);
                    memcpy(w[i].sym[o++] + la, b, lb + 1);
                    k += 2;
                } else {
                    if (o != k)
                        strcpy(w[i].sym[o], w[i].sym[k]);
                    o++, k++;
                }
            }
            w[i].n = o;
        }
    }
    return done;
}

/* Random words over a, b, c, é (two bytes) with random counts: the fast
 * learner gives exactly the naive one's merges, ties and all. */
static void test_naive_reference(th_env *env)
{
    (void)env;
    static const char *alpha[4] = {"a", "b", "c", "\xC3\xA9"};
    for (int round = 0; round < 20; round++) {
        nword w[40];
        char words[40][40];
        int counts[40], nw = 0;
        const char *ptrs[40];
        while (nw < 40) {
            int len = 1 + (int)(th_rand_u64() % 8);
            words[nw][0] = '\0';
            w[nw].n = len;
            for (int k = 0; k < len; k++) {
                const char *ch = alpha[th_rand_u64() % 4];
                strcat(words[nw], ch);
                snprintf(w[nw].sym[k], 64, "%s%s", ch, k + 1 == len ? "</w>" : "");
            }
            bool dup = false;
            for (int i = 0; i < nw; i++)
                dup |= !strcmp(words[i], words[nw]);
            if (dup)
                continue;
            counts[nw] = w[nw].freq = 1 + (int)(th_rand_u64() % 5);
            ptrs[nw] = words[nw];
            nw++;
        }
        static char want[200][130];
        int nwant = naive_learn(w, nw, 200, want);
        vknmt_vocab_counter *c = counter_of(ptrs, counts, nw);
        vknmt_bpe *b = NULL;
        CHECK(c && vknmt_bpe_learn(c, 200, &b) == VKNMT_OK, "learn");
        uint32_t n = vknmt_bpe_merge_count(b);
        char got[130];
        int bad = -1;
        for (uint32_t r = 0; bad < 0 && r < n && (int)r < nwant; r++) {
            vknmt_bpe_merge_text(b, r, got, sizeof(got));
            if (strcmp(got, want[r]))
                bad = (int)r;
        }
        if (bad >= 0)
            th_fail_at(__FILE__, __LINE__, "round %d, merge %d: got '%s', naive '%s'", round, bad + 1, got, want[bad]);
        else if ((int)n != nwant)
            th_fail_at(__FILE__, __LINE__, "round %d: %u merges, naive %d", round, n, nwant);
        /* the final symbols of the naive run are the fast segmentation */
        for (int i = 0; i < nw && !th_failed(); i++) {
            char seg[512], naive[512] = "";
            for (int k = 0; k < w[i].n; k++) {
                size_t l = strlen(w[i].sym[k]);
                if (k + 1 == w[i].n)
                    w[i].sym[k][l - 4] = '\0'; /* drop </w> */
                snprintf(naive + strlen(naive), sizeof(naive) - strlen(naive), "%s%s%s", k ? " " : "", w[i].sym[k],
                         k + 1 < w[i].n ? "@@" : "");
            }
            if (!segment_word(b, words[i], seg, sizeof(seg)) || strcmp(seg, naive))
                th_fail_at(__FILE__, __LINE__, "round %d: '%s' segments to '%s', learning left '%s'", round, words[i],
                           seg, naive);
        }
        vknmt_bpe_destroy(b);
        vknmt_vocab_counter_destroy(c);
        if (th_failed())
            return;
    }
}

/* The same counts in another order, and the text form read back, give the
 * same merges and the same segmentations. */
static void test_determinism(th_env *env)
{
    (void)env;
    const char *words[60];
    char buf[60][16];
    int counts[60], rev_counts[60];
    const char *rev[60];
    for (int i = 0; i < 60; i++) {
        int len = 2 + (int)(th_rand_u64() % 6);
        for (int k = 0; k < len; k++)
            buf[i][k] = "abcdeo"[th_rand_u64() % 6];
        buf[i][len] = '\0';
        words[i] = buf[i];
        counts[i] = 1 + (int)(th_rand_u64() % 9);
    }
    for (int i = 0; i < 60; i++) {
        rev[i] = words[59 - i];
        rev_counts[i] = counts[59 - i];
    }
    vknmt_vocab_counter *c1 = counter_of(words, counts, 60), *c2 = counter_of(rev, rev_counts, 60);
    vknmt_bpe *b1 = NULL, *b2 = NULL, *b3 = NULL;
    char *t1 = NULL, *t2 = NULL, *t3 = NULL, err[256] = "";
    size_t l1 = 0;
    bool ok = c1 && c2 && !vknmt_bpe_learn(c1, 40, &b1) && !vknmt_bpe_learn(c2, 40, &b2) &&
              !vknmt_bpe_to_string(b1, &t1, &l1) && !vknmt_bpe_to_string(b2, &t2, NULL);
    if (!ok)
        th_fail_at(__FILE__, __LINE__, "learn");
    else if (strcmp(t1, t2))
        th_fail_at(__FILE__, __LINE__, "the order of the words changed the merges:\n%s\nvs\n%s", t1, t2);
    else if (strncmp(t1, "#version: 0.2\n", 14) || vknmt_bpe_merge_count(b1) < 10)
        th_fail_at(__FILE__, __LINE__, "text form: %s", t1);
    else if (vknmt_bpe_from_string(t1, l1, "test", &b3, err, sizeof(err)) || vknmt_bpe_to_string(b3, &t3, NULL) ||
             strcmp(t1, t3) || vknmt_bpe_merge_count(b3) != vknmt_bpe_merge_count(b1))
        th_fail_at(__FILE__, __LINE__, "read back: %s", err);
    for (int i = 0; i < 60 && !th_failed(); i++) {
        char s1[128], s3[128];
        if (!segment_word(b1, words[i], s1, sizeof(s1)) || !segment_word(b3, words[i], s3, sizeof(s3)) ||
            strcmp(s1, s3))
            th_fail_at(__FILE__, __LINE__, "'%s': '%s' learned, '%s' read back", words[i], s1, s3);
    }
    free(t1);
    free(t2);
    free(t3);
    vknmt_bpe_destroy(b1);
    vknmt_bpe_destroy(b2);
    vknmt_bpe_destroy(b3);
    vknmt_vocab_counter_destroy(c1);
    vknmt_vocab_counter_destroy(c2);
}

static void test_text_form_errors(th_env *env)
{
    (void)env;
    static const struct { const char *text; const char *want; } cases[] = {
        {"#version: 0.2\na b\nabc\n", "t:3:"},
        {"a b\nx</w> y\n", "t:2:"},
        {"a  b\n", "t:1:"},
        {"a b c\n", "t:1:"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        vknmt_bpe *b = NULL;
        char err[256] = "";
        vknmt_status s = vknmt_bpe_from_string(cases[i].text, strlen(cases[i].text), "t", &b, err, sizeof(err));
        CHECK(s == VKNMT_ERR_INPUT && !b && strstr(err, cases[i].want), "'%s': %s", cases[i].text, err);
    }
    /* CRLF, no version line, a duplicate (keeps its first rank), no final newline */
    const char *ok = "l o\r\nlo w</w>\r\nl o\nw e";
    vknmt_bpe *b = NULL;
    char err[256] = "", seg[64];
    CHECK(vknmt_bpe_from_string(ok, strlen(ok), "t", &b, err, sizeof(err)) == VKNMT_OK, "%s", err);
    CHECK(vknmt_bpe_merge_count(b) == 3, "%u merges", vknmt_bpe_merge_count(b));
    CHECK(segment_word(b, "low", seg, sizeof(seg)) && !strcmp(seg, "low"), "low -> '%s'", seg);
    CHECK(segment_word(b, "lower", seg, sizeof(seg)) && !strcmp(seg, "lo@@ we@@ r"), "lower -> '%s'", seg);
    vknmt_bpe_destroy(b);
}

static void test_join(th_env *env)
{
    (void)env;
    static const char *units[] = {"the", "lo@@", "west", "un@@", "known@@"};
    char **words = NULL;
    size_t n = 0;
    uint32_t word_of[5];
    CHECK(vknmt_bpe_join(units, 5, &words, &n, word_of) == VKNMT_OK, "join");
    bool ok = n == 3 && !strcmp(words[0], "the") && !strcmp(words[1], "lowest") && !strcmp(words[2], "unknown") &&
              word_of[0] == 0 && word_of[1] == 1 && word_of[2] == 1 && word_of[3] == 2 && word_of[4] == 2;
    free(words);
    CHECK(ok, "joined into %zu words", n);
    CHECK(vknmt_bpe_join(units, 0, &words, &n, NULL) == VKNMT_OK && n == 0, "nothing to join");
    free(words);
}

/* The text of a --bpe model's output: units joined into words, and an
 * output word holding <unk> replaced by the whole source word its <unk>
 * attends to most (or that word's dictionary entry). */
static void test_translation_text(th_env *env)
{
    (void)env;
    const char *vt = "<pad>\n<unk>\n<s>\n</s>\nthe\nlo@@\nwest\nun@@\n";
    char err[256];
    vknmt_vocab *v = NULL;
    CHECK(vknmt_vocab_from_string(vt, strlen(vt), "test", &v, err, sizeof(err)) == VKNMT_OK, "%s", err);
    /* source words la casa Juanito, units la ca@@ sa Juan@@ ito */
    char *words[3] = {strdup("la"), strdup("casa"), strdup("Juanito")};
    char *units[5] = {strdup("la"), strdup("ca@@"), strdup("sa"), strdup("Juan@@"), strdup("ito")};
    uint32_t word_of[5] = {0, 1, 1, 2, 2};
    int32_t ids[6] = {4, 1, 1, 1, 1, 3};
    vknmt_source_line src = {.tokens = units, .ntok = 5, .ids = ids, .words = words, .nwords = 3, .word_of = word_of};
    /* output: the lo@@ west un@@ <unk> </s>; the <unk> (row 4) looks at "ito" */
    int32_t out[6] = {4, 5, 6, 7, 1, 3};
    float alpha[6 * 6] = {0};
    for (int i = 0; i < 6; i++)
        alpha[i * 6 + (i < 5 ? i : 5)] = 1;
    static const float row4[6] = {0.1f, 0.05f, 0.1f, 0.1f, 0.25f, 0.4f}; /* the </s> column never counts */
    memcpy(alpha + 4 * 6, row4, sizeof(row4));
    vknmt_translation tr = {6, out, -1.0, 6, alpha};
    char *text = vknmt_translation_text_units(&tr, v, NULL, NULL);
    bool ok = text && !strcmp(text, "the lowest un<unk>");
    if (!ok)
        th_fail_at(__FILE__, __LINE__, "joined: '%s'", text ? text : "(null)");
    free(text);
    text = ok ? vknmt_translation_text_units(&tr, v, &src, NULL) : NULL;
    if (ok && !(text && !strcmp(text, "the lowest Juanito")))
        th_fail_at(__FILE__, __LINE__, "replaced: '%s'", text ? text : "(null)");
    free(text);
    for (int i = 0; i < 3; i++)
        free(words[i]);
    for (int i = 0; i < 5; i++)
        free(units[i]);
    vknmt_vocab_destroy(v);
}

/* ---- on the Bible ---- */

/* Learns 8000 merges on both sides of the Bible training text (27,000 verse
 * pairs, 1.6 M words), timed; then every word of dev.es (another part of
 * the Bible) segments into units that join back into the same words, and
 * words of characters never seen split into characters and join back. */
static void test_bible(th_env *env)
{
    (void)env;
    char es[512], en[512], dev[512];
    snprintf(es, sizeof(es), "%s/data/bible-es-en/train.es", th_shared_dir());
    snprintf(en, sizeof(en), "%s/data/bible-es-en/train.en", th_shared_dir());
    snprintf(dev, sizeof(dev), "%s/data/bible-es-en/dev.es", th_shared_dir());
    const char *paths[2] = {es, en};
    vknmt_tokenize_options to = {.lowercase = false, .pretokenized = false};
    vknmt_bpe *b = NULL;
    char err[512] = "";
    double t0 = now();
    CHECK(vknmt_bpe_learn_files(paths, 2, &to, 8000, &b, err, sizeof(err)) == VKNMT_OK, "%s", err);
    double secs = now() - t0;
    printf("    bpe: 8000 merges on train.es + train.en (tokenizing included) in %.2f s\n", secs);
    CHECK(vknmt_bpe_merge_count(b) == 8000, "%u merges", vknmt_bpe_merge_count(b));
    CHECK(secs < 30, "learning took %.1f s", secs); /* a few seconds expected; 30 for a loaded machine */
    vknmt_tokenizer *tk = NULL;
    FILE *f = fopen(dev, "rb");
    CHECK(f && vknmt_tokenizer_create(&to, &tk) == VKNMT_OK, "cannot read %s", dev);
    char *line = NULL;
    size_t cap = 0, words = 0, units_total = 0, split = 0, lineno = 0;
    ssize_t got;
    while ((got = getline(&line, &cap, f)) >= 0 && !th_failed()) {
        lineno++;
        const char *const *toks, *const *units;
        const uint32_t *word_of;
        size_t n, nu, nw;
        char **joined = NULL;
        if (vknmt_tokenizer_run(tk, line, (size_t)got, &toks, &n, err, sizeof(err)) ||
            vknmt_bpe_apply(b, toks, n, &units, &nu, &word_of) ||
            vknmt_bpe_join(units, nu, &joined, &nw, NULL)) {
            th_fail_at(__FILE__, __LINE__, "dev.es:%zu: %s", lineno, err);
            break;
        }
        bool same = nw == n;
        for (size_t i = 0; same && i < n; i++)
            same = !strcmp(joined[i], toks[i]);
        for (size_t u = 0; same && u < nu; u++) { /* "@@" on every unit but a word's last */
            size_t l = strlen(units[u]);
            bool last = u + 1 == nu || word_of[u + 1] != word_of[u];
            same = l > (last ? 0 : 2) && (l >= 2 && !strcmp(units[u] + l - 2, "@@")) == !last;
        }
        for (size_t u = 0; u + 1 < nu; u++)
            split += word_of[u + 1] == word_of[u];
        free(joined);
        if (!same)
            th_fail_at(__FILE__, __LINE__, "dev.es:%zu does not round-trip", lineno);
        words += n;
        units_total += nu;
    }
    free(line);
    if (f)
        fclose(f);
    printf("    bpe: dev.es %zu words -> %zu units\n", words, units_total);
    if (!th_failed() && (words < 20000 || split == 0 || units_total > 2 * words))
        th_fail_at(__FILE__, __LINE__, "%zu words, %zu units: implausible", words, units_total);
    /* frequent words are whole; unseen characters split into characters */
    char seg[128];
    if (!th_failed() && (!segment_word(b, "Dios", seg, sizeof(seg)) || strcmp(seg, "Dios")))
        th_fail_at(__FILE__, __LINE__, "Dios -> '%s'", seg);
    if (!th_failed() && (!segment_word(b, "\xE2\x98\x83\xE2\x98\x85\xE2\x98\x83", seg, sizeof(seg)) ||
                         strcmp(seg, "\xE2\x98\x83@@ \xE2\x98\x85@@ \xE2\x98\x83")))
        th_fail_at(__FILE__, __LINE__, "unseen characters -> '%s'", seg);
    const char *mixed[2] = {"\xE2\x98\x83" "casa", "z"};
    const char *const *units;
    size_t nu, nw = 0;
    char **joined = NULL;
    if (!th_failed() && (vknmt_bpe_apply(b, mixed, 2, &units, &nu, NULL) ||
                         vknmt_bpe_join(units, nu, &joined, &nw, NULL) || nw != 2 ||
                         strcmp(joined[0], mixed[0]) || strcmp(joined[1], "z") || strcmp(units[0], "\xE2\x98\x83@@")))
        th_fail_at(__FILE__, __LINE__, "a word with an unseen character does not round-trip");
    free(joined);
    vknmt_tokenizer_destroy(tk);
    vknmt_bpe_destroy(b);
}

/* ---- the command line ---- */

static char dir[64];

/* Sentences of made-up words of 1-4 syllables, and their "translation"
 * (reversed, another syllable set): 50 merges leave many words in pieces. */
static bool write_corpus(const char *src, const char *tgt, int lines)
{
    static const char *ssyl[8] = {"ka", "lo", "mi", "ne", "ru", "so", "ti", "ve"};
    static const char *tsyl[8] = {"ba", "de", "fo", "gu", "ha", "ji", "pe", "wo"};
    FILE *s = fopen(src, "w"), *t = fopen(tgt, "w");
    if (!s || !t)
        return false;
    for (int i = 0; i < lines; i++) {
        int len = 1 + (int)(th_rand_u64() % 8), w[8][4], wl[8];
        for (int k = 0; k < len; k++) {
            wl[k] = 1 + (int)(th_rand_u64() % 4);
            fputs(k ? " " : "", s);
            for (int j = 0; j < wl[k]; j++)
                fputs(ssyl[w[k][j] = (int)(th_rand_u64() % 8)], s);
        }
        for (int k = len - 1; k >= 0; k--) {
            fputs(k < len - 1 ? " " : "", t);
            for (int j = 0; j < wl[k]; j++)
                fputs(tsyl[w[k][j]], t);
        }
        fputc('\n', s);
        fputc('\n', t);
    }
    return fclose(s) == 0 && fclose(t) == 0;
}

static int run(const char *args, char *err, size_t n) { return th_run_vknmt(dir, args, err, n); }

static bool cli_setup(void)
{
    if (!th_make_temp_dir(dir, sizeof(dir), "bpe"))
        return false;
    char src[128], tgt[128];
    snprintf(src, sizeof(src), "%s/train.src", dir);
    snprintf(tgt, sizeof(tgt), "%s/train.tgt", dir);
    return write_corpus(src, tgt, 300);
}

static void cli_cleanup(void) { th_remove_dir(dir); }

/* The metadata value `key` of a file, malloc'd, or NULL. */
static char *meta_of(const char *path, const char *key)
{
    vknmt_st *st = NULL;
    char err[512];
    if (vknmt_st_open(path, &st, err, sizeof(err)))
        return NULL;
    const char *v = vknmt_st_metadata(st, key);
    char *copy = v ? strdup(v) : NULL;
    vknmt_st_destroy(st);
    return copy;
}

#define COMMON "train --preset tiny --batch 16 --quiet --src %s/train.src --tgt %s/train.tgt"

static void test_cli_train_translate(th_env *env)
{
    (void)env;
    CHECK(cli_setup(), "temporary corpus");
    char args[1024], err[4096], path[160], out[160];
    /* bad values: one clear line, usage status */
    static const char *bad[] = {"0", "-5", "abc", "12x", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(args, sizeof(args), COMMON " --steps 1 --bpe '%s' --out %s/x", dir, dir, bad[i], dir);
        int rc = run(args, err, sizeof(err));
        char *nl = strchr(err, '\n');
        CHECK(rc == 2 && strstr(err, "--bpe") && nl && !nl[1], "--bpe '%s': rc %d, %s", bad[i], rc, err);
    }
    snprintf(args, sizeof(args), "train --help 2>&1 | grep -q -- '--bpe N'");
    CHECK(run(args, err, sizeof(err)) == 0, "--bpe missing from train --help");
    /* train with 50 merges: the merges in all three files, the same */
    snprintf(args, sizeof(args), COMMON " --steps 3 --bpe 50 --out %s/m", dir, dir, dir);
    CHECK(run(args, err, sizeof(err)) == 0, "train --bpe 50: %s", err);
    static const char *files[3] = {"model", "best", "train_state"};
    char *merges[3] = {NULL, NULL, NULL};
    for (int k = 0; k < 3; k++) {
        snprintf(path, sizeof(path), "%s/m/%s.safetensors", dir, files[k]);
        merges[k] = meta_of(path, "bpe_merges");
    }
    vknmt_bpe *b = NULL;
    char why[256] = "";
    bool ok = merges[0] && merges[1] && merges[2] && !strcmp(merges[0], merges[1]) && !strcmp(merges[0], merges[2]) &&
              !vknmt_bpe_from_string(merges[0], strlen(merges[0]), "bpe_merges", &b, why, sizeof(why)) &&
              vknmt_bpe_merge_count(b) == 50;
    for (int k = 0; k < 3; k++)
        free(merges[k]);
    vknmt_bpe_destroy(b);
    CHECK(ok, "bpe_merges missing, different between the files, or not 50 merges: %s", why);
    /* the source vocabulary holds units, some with the marker */
    snprintf(path, sizeof(path), "%s/m/model.safetensors", dir);
    char *sv = meta_of(path, "src_vocab");
    ok = sv && strstr(sv, "@@\n");
    free(sv);
    CHECK(ok, "no subword unit in the source vocabulary");
    /* translate: no marker left in the text, even with a word of unseen
     * characters (units of <unk>) and --replace-unk */
    snprintf(path, sizeof(path), "%s/in.txt", dir);
    FILE *f = fopen(path, "w");
    CHECK(f, "write");
    fputs("kalo mineru sokati\nvevevevevevelo\n\xE2\x98\x83\xE2\x98\x85 kaka\n", f);
    fclose(f);
    snprintf(out, sizeof(out), "%s/out.txt", dir);
    static const char *modes[3] = {"--beam 2", "--beam 1 --replace-unk", "--beam 1 --alignment hard"};
    static const unsigned src_words[3] = {3, 1, 3}; /* "☃★" is two symbols, two tokens */
    for (int m = 0; m < 3; m++) {
        snprintf(args, sizeof(args), "translate -m %s/m/model.safetensors -i %s -o %s %s", dir, path, out, modes[m]);
        CHECK(run(args, err, sizeof(err)) == 0, "translate %s: %s", modes[m], err);
        f = fopen(out, "r");
        char line[4096];
        int n = 0;
        bool clean = true;
        while (f && fgets(line, sizeof(line), f)) {
            n++;
            clean &= strstr(line, "@@") == NULL;
            char *bars = strstr(line, "|||");
            clean &= (m == 2) == (bars != NULL);
            unsigned out_words = 0;
            for (char *p = line; bars && p < bars; p++)
                out_words += *p != ' ' && (p == line || p[-1] == ' ');
            for (char *p = bars ? bars + 3 : NULL; p && *p && *p != '\n';) {
                unsigned sw, tw;
                int used;
                if (sscanf(p, " %u-%u%n", &sw, &tw, &used) != 2)
                    break;
                clean &= sw < src_words[n - 1] && tw < out_words; /* words, not units */
                p += used;
            }
        }
        if (f)
            fclose(f);
        CHECK(n == 3 && clean, "translate %s: %d lines, marker or unit index left: %d", modes[m], n, !clean);
    }
    /* soft alignment: the units the model read */
    snprintf(args, sizeof(args), "translate -m %s/m/model.safetensors -i %s -o %s --alignment soft", dir, path, out);
    CHECK(run(args, err, sizeof(err)) == 0, "translate soft: %s", err);
    f = fopen(out, "r");
    char line[8192] = "";
    CHECK(f && fgets(line, sizeof(line), f) && fgets(line, sizeof(line), f), "no soft output");
    fclose(f);
    CHECK(strstr(line, "@@\"") && strstr(line, "\"translation\":"), "soft alignment of vevevevevevelo: %s", line);
    /* eval: the references are split into units too when looking for
     * unknown words, so every sentence is clean (as words, hardly any is) */
    snprintf(args, sizeof(args),
             "eval -m %s/m/model.safetensors --src %s/train.src --ref %s/train.tgt --beam 1 --json > %s/eval.json", dir,
             dir, dir, dir);
    CHECK(run(args, err, sizeof(err)) == 0, "eval: %s", err);
    snprintf(path, sizeof(path), "%s/eval.json", dir);
    f = fopen(path, "r");
    CHECK(f && fgets(line, sizeof(line), f), "no eval output");
    fclose(f);
    CHECK(strstr(line, "\"no_unk_sentences\":300"), "eval with --bpe: %s", line);
    /* a model without --bpe has no merges */
    snprintf(args, sizeof(args), COMMON " --steps 1 --out %s/w", dir, dir, dir);
    CHECK(run(args, err, sizeof(err)) == 0, "train: %s", err);
    snprintf(path, sizeof(path), "%s/w/model.safetensors", dir);
    char *none = meta_of(path, "bpe_merges");
    ok = none == NULL;
    free(none);
    CHECK(ok, "a word-level model has bpe_merges");
    cli_cleanup();
}

/* 8 steps == 4 steps + resume + 4 steps, bit for bit. The resumed half asks
 * for other merges (--bpe 7): the state's must win, or the ids would move. */
static void test_cli_resume(th_env *env)
{
    (void)env;
    CHECK(cli_setup(), "temporary corpus");
    char args[1024], err[4096];
    snprintf(args, sizeof(args), COMMON " --bpe 60 --steps 8 --out %s/straight", dir, dir, dir);
    CHECK(run(args, err, sizeof(err)) == 0, "straight run: %s", err);
    snprintf(args, sizeof(args), COMMON " --bpe 60 --steps 4 --out %s/resumed", dir, dir, dir);
    CHECK(run(args, err, sizeof(err)) == 0, "first half: %s", err);
    snprintf(args, sizeof(args), COMMON " --bpe 7 --steps 8 --resume --out %s/resumed", dir, dir, dir);
    CHECK(run(args, err, sizeof(err)) == 0, "resumed half: %s", err);
    char a[128], b[128];
    snprintf(a, sizeof(a), "%s/straight/train_state.safetensors", dir);
    snprintf(b, sizeof(b), "%s/resumed/train_state.safetensors", dir);
    vknmt_st *x = NULL, *y = NULL;
    char e2[512];
    CHECK(vknmt_st_open(a, &x, e2, sizeof(e2)) == VKNMT_OK, "%s", e2);
    bool same = vknmt_st_open(b, &y, e2, sizeof(e2)) == VKNMT_OK && vknmt_st_count(x) == vknmt_st_count(y);
    char differs[128] = "the tensor count";
    for (size_t i = 0; same && i < vknmt_st_count(x); i++) {
        const vknmt_st_tensor *t = vknmt_st_at(x, i), *u = vknmt_st_find(y, t->name);
        same = u && u->nbytes == t->nbytes && memcmp(u->data, t->data, t->nbytes) == 0;
        if (!same)
            snprintf(differs, sizeof(differs), "tensor %s", t->name);
    }
    static const char *keys[4] = {"bpe_merges", "src_vocab", "tgt_vocab", "train.step"};
    for (int k = 0; k < 4 && same; k++) {
        const char *v = vknmt_st_metadata(x, keys[k]), *w = vknmt_st_metadata(y, keys[k]);
        same = v && w && !strcmp(v, w);
        if (!same)
            snprintf(differs, sizeof(differs), "metadata %s", keys[k]);
    }
    vknmt_st_destroy(x);
    vknmt_st_destroy(y);
    CHECK(same, "the resumed run differs from the straight one: %s", differs);
    cli_cleanup();
}

void th_register_bpe(void)
{
    th_add("bpe", "hand_merges", test_hand_merges);
    th_add("bpe", "naive_reference", test_naive_reference);
    th_add("bpe", "determinism", test_determinism);
    th_add("bpe", "text_form_errors", test_text_form_errors);
    th_add("bpe", "join", test_join);
    th_add("bpe", "translation_text", test_translation_text);
    th_add("bpe", "bible", test_bible);
    th_add("bpe", "cli_train_translate", test_cli_train_translate);
    th_add("bpe", "cli_resume", test_cli_resume);
}
