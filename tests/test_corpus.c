/* The Bible corpus maker: the OSIS cleaner and the verse aligner on small
 * made-up input, bad dumps refused with a line that names the file and
 * line, and the whole corpus made from the installed SWORD modules checked
 * against shared/data/bible-es-en. Runs the built vknmt binary. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bible_corpus.h"
#include "harness.h"
#include "osis_text.h"
#include "verse_align.h"

/* ---- the OSIS cleaner ---- */

/* Cleans `osis` with `opt` into got (empty on failure). */
static bool clean(const char *osis, const vknmt_osis_options *opt, char *got, size_t n)
{
    char *out = NULL, err[128];
    vknmt_status s = vknmt_osis_to_text(osis, strlen(osis), opt, &out, err, sizeof(err));
    snprintf(got, n, "%s", s == VKNMT_OK ? out : "");
    free(out);
    return s == VKNMT_OK;
}

#define CHECK_CLEAN(opt, osis, want)                                                  \
    do {                                                                              \
        char got_[512];                                                               \
        CHECK(clean(osis, opt, got_, sizeof(got_)), "cleaning failed: %s", osis);     \
        CHECK(strcmp(got_, want) == 0, "%s\n  got  '%s'\n  want '%s'", osis, got_, want); \
    } while (0)

/* A join callback that joins only "lo" after "sáca". */
static bool join_lo(void *user, const char *before, size_t before_len, const char *word, size_t word_len, bool added)
{
    ++*(int *)user;
    return added && word_len == 2 && memcmp(word, "lo", 2) == 0 && before_len >= 5 &&
           memcmp(before + before_len - 5, "sáca", 5) == 0;
}

static void test_osis_clean(th_env *env)
{
    (void)env;
    vknmt_osis_options web = {.keep_psalm_titles = true};
    /* a footnote between two letters is a space; at a word's end it vanishes */
    CHECK_CLEAN(&web, "his only born<note placement=\"foot\"><reference>3:16 </reference>“only born”</note>Son, that",
                "his only born Son, that");
    CHECK_CLEAN(&web, "of faith;<note placement=\"foot\">a note</note> and whatever", "of faith; and whatever");
    CHECK_CLEAN(&web, "is sin.<note placement=\"foot\">TR adds</note>", "is sin.");
    /* <w> and other inline tags go, their words stay */
    CHECK_CLEAN(&web, "<w lemma=\"strong:G1063\">For</w> <w lemma=\"strong:G2316\">God</w> so <q marker=\"\">loved</q>",
                "For God so loved");
    CHECK_CLEAN(&web, "<w lemma=\"strong:H3068\">Yahweh</w>’s law", "Yahweh’s law");
    /* headings and speaker labels go; a psalm's canonical title stays, an
     * acrostic letter does not */
    CHECK_CLEAN(&web, "<title type=\"main\">The Creation</title><w>In</w> the beginning", "In the beginning");
    CHECK_CLEAN(&web, "<speaker>Beloved</speaker> <l level=\"1\" sID=\"x\"/>Let him kiss me", "Let him kiss me");
    CHECK_CLEAN(&web,
                "<div type=\"x-milestone\" subType=\"x-preverse\" sID=\"p1\"/><title canonical=\"true\" "
                "type=\"psalm\">A Psalm by David.</title> <lg sID=\"g\"/><l level=\"1\" sID=\"g2\"/>Yahweh, how",
                "A Psalm by David. Yahweh, how");
    CHECK_CLEAN(&web, "<title canonical=\"true\" type=\"psalm\">ALEPH</title> <l sID=\"a\"/>Blessed are",
                "Blessed are");
    CHECK_CLEAN(&web, "<title canonical=\"true\" type=\"psalm\">SIN <w>AND</w> SHIN</title> Princes", "Princes");
    vknmt_osis_options no_titles = {0};
    CHECK_CLEAN(&no_titles, "<title canonical=\"true\" type=\"psalm\">A Psalm.</title> Yahweh", "Yahweh");
    /* block tags between letters separate words */
    CHECK_CLEAN(&web, "increased<l eID=\"a\"/><l sID=\"b\"/>Many are", "increased Many are");
    /* white space collapsed and trimmed, entities decoded */
    CHECK_CLEAN(&web, "  a \t b\n\n c&amp;d  \xc2\xa0 e  ", "a b c&d e");
    /* NFC: e + combining acute -> é */
    CHECK_CLEAN(&web, "fue\xcc\x81 la luz", "fu\xc3\xa9 la luz");
    /* the glossary after the last verse goes */
    CHECK_CLEAN(&web, "saints. Amen. <div sID=\"g1\" type=\"glossary\"/> Abaddon is Hebrew", "saints. Amen.");
    /* glued words: two words unless the callback joins them */
    CHECK_CLEAN(&web, "<w>hay allí</w><transChange type=\"added\">también</transChange>", "hay allítambién");
    int asked = 0;
    vknmt_osis_options rv = {.space_glued_words = true, .join = join_lo, .join_user = &asked};
    CHECK_CLEAN(&rv, "<w>hay allí</w><transChange type=\"added\">también</transChange><w>bdelio</w>",
                "hay allí también bdelio");
    CHECK_CLEAN(&rv, "<w>sáca</w><transChange type=\"added\">lo</transChange> <w>de</w>", "sácalo de");
    CHECK(asked == 3, "join asked %d times, want 3", asked);
    /* the inner pre-verse milestone ends the verse when asked */
    vknmt_osis_options cut = {.cut_at_inner_preverse = true};
    CHECK_CLEAN(&cut, "<div type=\"x-milestone\" subType=\"x-preverse\" sID=\"a\"/>is sin. <div type=\"x-milestone\" "
                      "subType=\"x-preverse\" sID=\"b\"/>Now to him",
                "is sin.");
    /* errors: an unterminated tag, invalid UTF-8 */
    char *out = (char *)1, err[128];
    CHECK(vknmt_osis_to_text("a <w lemma=", 11, &web, &out, err, sizeof(err)) == VKNMT_ERR_INPUT && !out,
          "unterminated tag accepted");
    CHECK(vknmt_osis_to_text("a \xff b", 5, &web, &out, err, sizeof(err)) == VKNMT_ERR_INPUT && !out,
          "invalid UTF-8 accepted");
}

/* ---- the aligner ---- */

/* A sentence of `len` random words a0..a29 in src and the same words as
 * b0..b29 (a made-up translation) in tgt. */
static void sentence_pair(int len, char *src, char *tgt, size_t n)
{
    size_t ls = 0, lt = 0;
    src[0] = tgt[0] = '\0';
    for (int k = 0; k < len; k++) {
        int w = (int)(th_rand_u64() % 30);
        ls += (size_t)snprintf(src + ls, n - ls, "%sa%d", k ? " " : "", w);
        lt += (size_t)snprintf(tgt + lt, n - lt, "%sb%d", k ? " " : "", w);
    }
}

static void test_verse_align(th_env *env)
{
    (void)env;
    vknmt_verse_lexicon *lex = NULL;
    CHECK(vknmt_verse_lexicon_create(&lex) == VKNMT_OK, "lexicon");
    char s[512], t[512];
    for (int i = 0; i < 200; i++) {
        sentence_pair(6 + (int)(th_rand_u64() % 8), s, t, sizeof(s));
        if (vknmt_verse_lexicon_add(lex, s, t) != VKNMT_OK)
            break;
    }
    CHECK(vknmt_verse_lexicon_build(lex) == VKNMT_OK, "lexicon build");
    /* A book of 10 verses; the source numbers them differently: its verse 4
     * holds the target's 4 and 5 (a merged bead, dropped), then everything
     * is one place earlier. */
    enum { N = 10 };
    static char src_text[N][1024], tgt_text[N][512];
    for (int i = 0; i < N; i++)
        sentence_pair(5 + (int)(th_rand_u64() % 10), src_text[i], tgt_text[i], sizeof(tgt_text[i]));
    const char *src[N], *tgt[N];
    for (int i = 0; i < N; i++)
        tgt[i] = tgt_text[i];
    strcat(src_text[3], " ");
    strcat(src_text[3], src_text[4]);
    for (int i = 0, k = 0; i < N; i++)
        if (i != 4)
            src[k++] = src_text[i];
    vknmt_verse_pair *p = NULL;
    uint32_t n = 0;
    vknmt_status st = vknmt_verse_align(lex, src, N - 1, tgt, N, &p, &n);
    vknmt_verse_lexicon_destroy(lex);
    CHECK(st == VKNMT_OK, "align: %s", vknmt_status_name(st));
    static const vknmt_verse_pair want[] = {{0, 0}, {1, 1}, {2, 2}, {4, 5}, {5, 6}, {6, 7}, {7, 8}, {8, 9}};
    bool same = n == sizeof(want) / sizeof(want[0]);
    for (uint32_t k = 0; same && k < n; k++)
        same = p[k].src == want[k].src && p[k].tgt == want[k].tgt;
    char got[256] = "";
    for (uint32_t k = 0, w = 0; k < n && w < sizeof(got) - 16; k++)
        w += (uint32_t)snprintf(got + w, sizeof(got) - w, " %u-%u", p[k].src, p[k].tgt);
    free(p);
    CHECK(same, "1-1 beads%s, want 0-0 1-1 2-2 4-5 5-6 6-7 7-8 8-9", got);
}

/* ---- the command ---- */

static char dir[64];

static int run(const char *args, char *err, size_t n) { return th_run_vknmt(dir, args, err, n); }

static bool make_dir(void) { return th_make_temp_dir(dir, sizeof(dir), "corpus"); }

static void remove_dir(void) { th_remove_dir(dir); }

static bool write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return false;
    bool ok = fputs(text, f) >= 0;
    return fclose(f) == 0 && ok;
}

static void test_bad_imp(th_env *env)
{
    (void)env;
    CHECK(make_dir(), "temporary directory");
    char good[128], bad[128], args[512], err[2048];
    snprintf(good, sizeof(good), "%s/good.imp", dir);
    snprintf(bad, sizeof(bad), "%s/bad.imp", dir);
    static const char *const bad_texts[] = {
        /* a garbage key on line 5 */
        "$$$[ Module Heading ]\n\n$$$Genesis 1:1\nIn the beginning.\n$$$Genesis one:two\nThe earth.\n",
        /* an unterminated tag on line 4 */
        "$$$[ Module Heading ]\n\n$$$Genesis 1:1\nIn the <w lemma=\"strong:H7225\" beginning.\n",
        /* text before any key, line 1 */
        "In the beginning.\n$$$Genesis 1:1\nIn the beginning.\n",
    };
    static const char *const want_line[] = {":5:", ":4:", ":1:"};
    CHECK(write_text(good, "$$$Genesis 1:1\nEN el principio.\n"), "write");
    for (int k = 0; k < 3 && !th_failed(); k++) {
        CHECK(write_text(bad, bad_texts[k]), "write");
        snprintf(args, sizeof(args), "corpus bible --out %s/out --src-imp %s --tgt-imp %s", dir, good, bad);
        int rc = run(args, err, sizeof(err));
        char *nl = strchr(err, '\n');
        CHECK(rc != 0 && rc != 128, "bad dump %d: exit status %d", k, rc);
        CHECK(nl && nl[1] == '\0', "bad dump %d: not one line: '%s'", k, err);
        CHECK(strstr(err, bad) && strstr(err, want_line[k]), "bad dump %d: message names no file and line: %s", k,
              err);
    }
    /* a missing dump */
    snprintf(args, sizeof(args), "corpus bible --out %s/out --src-imp %s/none.imp --tgt-imp %s", dir, dir, good);
    int rc = run(args, err, sizeof(err));
    CHECK(rc != 0 && rc != 128 && strstr(err, "none.imp"), "missing dump: status %d, %s", rc, err);
    remove_dir();
}

/* ---- the whole corpus against the shared one ---- */

typedef struct lines {
    char *text; /* owned */
    char **line; /* owned, into text */
    size_t count;
} lines;

static bool lines_read(const char *path, lines *l)
{
    *l = (lines){0};
    size_t size;
    if (!(l->text = th_read_file(path, &size)))
        return false;
    for (size_t i = 0; i < size; i++)
        l->count += l->text[i] == '\n';
    l->line = malloc((l->count + 1) * sizeof(char *));
    if (!l->line)
        return false;
    char *p = l->text;
    for (size_t i = 0; i < l->count; i++) {
        l->line[i] = p;
        p = strchr(p, '\n');
        *p++ = '\0';
    }
    return true;
}

static void lines_free(lines *l)
{
    free(l->text);
    free(l->line);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* "es\ten" for every line pair, sorted (malloc'd strings). */
static char **pairs_make(const lines *es, const lines *en)
{
    char **p = calloc(es->count + 1, sizeof(char *));
    for (size_t i = 0; p && i < es->count; i++) {
        size_t a = strlen(es->line[i]), b = strlen(en->line[i]);
        p[i] = malloc(a + b + 2);
        if (!p[i])
            return p;
        memcpy(p[i], es->line[i], a);
        p[i][a] = '\t';
        memcpy(p[i] + a + 1, en->line[i], b + 1);
    }
    if (p)
        qsort(p, es->count, sizeof(char *), cmp_str);
    return p;
}

static void pairs_free(char **p, size_t n)
{
    for (size_t i = 0; p && i < n; i++)
        free(p[i]);
    free(p);
}

static void test_bible_corpus(th_env *env)
{
    (void)env;
    CHECK(make_dir(), "temporary directory");
    char args[512], err[4096];
    snprintf(args, sizeof(args), "corpus bible --out %s/out", dir);
    int rc = run(args, err, sizeof(err));
    CHECK(rc == 0, "vknmt corpus bible: status %d: %s", rc, err);
    static const char *const splits[] = {"train", "dev", "test"};
    for (int s = 0; s < 3 && !th_failed(); s++) {
        char path[512];
        lines mine[3], shared[2];
        static const char *const ext[3] = {"es", "en", "ref"};
        bool ok = true;
        for (int k = 0; k < 3; k++) {
            snprintf(path, sizeof(path), "%s/out/%s.%s", dir, splits[s], ext[k]);
            ok = lines_read(path, &mine[k]) && ok;
        }
        for (int k = 0; k < 2; k++) {
            snprintf(path, sizeof(path), "%s/data/bible-es-en/%s.%s", th_shared_dir(), splits[s], ext[k]);
            ok = lines_read(path, &shared[k]) && ok;
        }
        size_t n = mine[0].count, m = shared[0].count, found = 0, wrong_book = 0;
        const char *wrong = "";
        bool counts = ok && mine[1].count == n && mine[2].count == n && shared[1].count == m && n > 0;
        char **mp = NULL, **sp = NULL;
        if (counts) {
            /* every reference of this split names a book of this split */
            for (size_t i = 0; i < n; i++) {
                char book[16];
                if (sscanf(mine[2].line[i], "%15s", book) != 1 || vknmt_bible_book_split(book) != s) {
                    wrong_book++;
                    wrong = mine[2].line[i];
                }
            }
            mp = pairs_make(&mine[0], &mine[1]);
            sp = pairs_make(&shared[0], &shared[1]);
            for (size_t i = 0; mp && sp && i < m; i++)
                found += bsearch(&sp[i], mp, n, sizeof(char *), cmp_str) != NULL;
        }
        pairs_free(mp, n);
        pairs_free(sp, m);
        for (int k = 0; k < 3; k++)
            lines_free(&mine[k]);
        for (int k = 0; k < 2; k++)
            lines_free(&shared[k]);
        CHECK(ok, "%s: files missing", splits[s]);
        CHECK(counts, "%s: line counts of .es/.en/.ref differ or are 0", splits[s]);
        CHECK(wrong_book == 0, "%s: %zu verses of other splits' books (%s)", splits[s], wrong_book, wrong);
        double pct = 100.0 * (double)found / (double)m;
        printf("     %s: %zu of %zu shared pairs found identically (%.3f%%), %zu pairs made\n", splits[s], found, m,
               pct, n);
        CHECK(pct >= 99.0, "%s: only %.3f%% of the shared pairs found", splits[s], pct);
    }
    remove_dir();
}

void th_register_corpus(void)
{
    th_add("corpus", "osis_clean", test_osis_clean);
    th_add("corpus", "verse_align", test_verse_align);
    th_add("corpus", "bad_imp", test_bad_imp);
    th_add("corpus", "bible_corpus", test_bible_corpus);
}
