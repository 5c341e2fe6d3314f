/* Corpus BLEU against sacreBLEU 2.x: its published test values
 * (test/test_bleu.py, test/test_sentence_bleu.py, the README example),
 * hand-computed cases, the 13a tokenizer, and the vknmt bleu command. */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bleu.h"
#include "cli.h"
#include "harness.h"

/* ---- helpers ---- */

/* Scores `n` sentences with `k` reference streams (refs[j][i]: stream j,
 * sentence i), as sacrebleu.corpus_bleu(hyps, refs). */
static vknmt_status score_corpus(const char *const *hyps, size_t n, const char *const (*refs)[8], size_t k,
                                 bool lowercase, vknmt_bleu_score *out, char *sig, size_t sig_size, char *err,
                                 size_t err_size)
{
    vknmt_bleu_options o = {.lowercase = lowercase};
    vknmt_bleu *b;
    vknmt_status s = vknmt_bleu_create(&o, &b);
    for (size_t i = 0; s == VKNMT_OK && i < n; i++) {
        const char *r[8];
        for (size_t j = 0; j < k; j++)
            r[j] = refs[j][i];
        s = vknmt_bleu_add(b, hyps[i], r, k, err, err_size);
    }
    if (s == VKNMT_OK) {
        *out = vknmt_bleu_corpus_score(b);
        if (sig)
            vknmt_bleu_signature(b, sig, sig_size);
    }
    vknmt_bleu_destroy(b);
    return s;
}

/* One sentence, `k` references. */
static vknmt_bleu_score score1(const char *hyp, const char *const *refs, size_t k)
{
    vknmt_bleu_score r = {.score = NAN};
    vknmt_bleu *b;
    if (vknmt_bleu_create(NULL, &b) != VKNMT_OK)
        return r;
    if (vknmt_bleu_add(b, hyp, refs, k, NULL, 0) == VKNMT_OK)
        r = vknmt_bleu_corpus_score(b);
    vknmt_bleu_destroy(b);
    return r;
}

#define CHECK_COUNTS(st, c0, c1, c2, c3, t0, t1, t2, t3)                                                        \
    CHECK((st).correct[0] == (c0) && (st).correct[1] == (c1) && (st).correct[2] == (c2) &&                    \
              (st).correct[3] == (c3) && (st).total[0] == (t0) && (st).total[1] == (t1) && (st).total[2] == (t2) && \
              (st).total[3] == (t3),                                                                            \
          "counts %llu/%llu/%llu/%llu of %llu/%llu/%llu/%llu", (unsigned long long)(st).correct[0],             \
          (unsigned long long)(st).correct[1], (unsigned long long)(st).correct[2],                             \
          (unsigned long long)(st).correct[3], (unsigned long long)(st).total[0],                               \
          (unsigned long long)(st).total[1], (unsigned long long)(st).total[2], (unsigned long long)(st).total[3])

#define CHECK_LINE(score, want)                                             \
    do {                                                                    \
        char got_[256];                                                     \
        vknmt_bleu_format(&(score), got_, sizeof(got_));                    \
        CHECK(strcmp(got_, want) == 0, "got \"%s\" want \"%s\"", got_, want); \
    } while (0)

#define CHECK_TOK(line, lower, want)                                                                   \
    do {                                                                                               \
        char *got_ = NULL, err_[128] = "";                                                             \
        vknmt_status s_ = vknmt_bleu_tokenize_13a(line, strlen(line), lower, &got_, err_, sizeof(err_)); \
        bool ok_ = s_ == VKNMT_OK && strcmp(got_, want) == 0;                                          \
        char copy_[256];                                                                               \
        snprintf(copy_, sizeof(copy_), "%s", got_ ? got_ : err_);                                      \
        free(got_);                                                                                    \
        CHECK(ok_, "13a \"%s\": got \"%s\" want \"%s\"", line, copy_, want);                           \
    } while (0)

/* sacreBLEU's README example (test_bleu.py: _hyps, _refs) */
static const char *const readme_hyps[3] = {
    "The dog bit the man.",
    "It wasn't surprising.",
    "The man had just bitten him.",
};
static const char *const readme_refs[2][8] = {
    {"The dog bit the man.", "It was not unexpected.", "The man bit him first."},
    {"The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."},
};

/* ---- sacreBLEU's published values ---- */

static void test_sacrebleu_corpus(th_env *env)
{
    (void)env;
    vknmt_bleu_score sc;
    char sig[128], err[128] = "";
    /* test_corpus_bleu_cases: default settings -> 48.530827 (EPSILON 1e-8) */
    vknmt_status s = score_corpus(readme_hyps, 3, readme_refs, 2, false, &sc, sig, sizeof(sig), err, sizeof(err));
    CHECK(s == VKNMT_OK, "add: %s", err);
    CHECK(fabs(sc.score - 48.530827) < 1e-6, "README BLEU %.9f want 48.530827", sc.score);
    CHECK_LINE(sc, "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)");
    CHECK(strcmp(sig, "nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:" VKNMT_BLEU_SACREBLEU_VERSION) == 0,
          "signature %s", sig);
    CHECK_COUNTS(sc.stats, 14, 7, 5, 3, 17, 14, 11, 8);
    /* ('', '', '') -> 0.0: empty hypotheses are kept, not removed */
    static const char *const empty[3] = {"", "", ""};
    s = score_corpus(empty, 3, readme_refs, 2, false, &sc, NULL, 0, err, sizeof(err));
    CHECK(s == VKNMT_OK && sc.score == 0.0, "empty hypotheses: %s %.9f", err, sc.score);
    CHECK_LINE(sc, "BLEU = 0.00 0.0/0.0/0.0/0.0 (BP = 0.000 ratio = 0.000 hyp_len = 0 ref_len = 17)");
}

static void test_sacrebleu_sentence(th_env *env)
{
    (void)env;
    /* test_sentence_bleu.py, issue #98: 'exp', 13a -> 8.493 (EPSILON 1e-3);
     * every order has n-grams, so effective_order changes nothing */
    const char *ref98[1] = {"producţia de zahăr brut se exprimă în zahăr alb;"};
    vknmt_bleu_score sc = score1("Producția de zahăr primă va fi exprimată în ceea ce privește zahărul alb;", ref98, 1);
    CHECK(fabs(sc.score - 8.493) < 1e-3, "#98: %.6f want 8.493", sc.score);
    CHECK_COUNTS(sc.stats, 5, 2, 0, 0, 14, 13, 12, 11);
    /* issue #141: no match at all is 0 whatever the smoothing */
    const char *ref141[1] = {"okay thanks"};
    sc = score1("this is a cat", ref141, 1);
    CHECK(sc.score == 0.0, "#141: %.6f want 0", sc.score);
    /* test_case_statistics */
    const char *refst[1] = {"I am a symbol string sequence a a"};
    sc = score1("am I am a character sequence", refst, 1);
    CHECK_COUNTS(sc.stats, 4, 2, 1, 0, 6, 5, 4, 3);
    /* test_case_scoring: compute_bleu([9,7,5,3], [10,8,6,4], 11, 11) -> 0.8375922397 */
    vknmt_bleu_stats st = {11, 11, {9, 7, 5, 3}, {10, 8, 6, 4}};
    sc = vknmt_bleu_compute(&st);
    CHECK(fabs(sc.score / 100 - 0.8375922397) < 1e-8, "scoring %.10f", sc.score / 100);
    /* test_raw_bleu_cases: a perfect match is 1.0 */
    const char *same[1] = {"this is a test"};
    sc = score1("this is a test", same, 1);
    CHECK(fabs(sc.score - 100.0) < 1e-12, "perfect match %.12f", sc.score);
}

/* ---- hand-computed ---- */

static void test_hand_smoothing(th_env *env)
{
    (void)env;
    /* 1-grams 4/5, 2-grams ab bc: 2/4, 3-grams abc: 1/3, 4-grams 0/2 ->
     * 'exp' gives the first zero order 100 / (2 * 2) */
    const char *r1[1] = {"a b c x e"};
    vknmt_bleu_score sc = score1("a b c d e", r1, 1);
    double want = pow(80.0 * 50.0 * (100.0 / 3.0) * 25.0, 0.25);
    CHECK(fabs(sc.score - want) < 1e-9, "one zero order: %.9f want %.9f", sc.score, want);
    CHECK_LINE(sc, "BLEU = 42.73 80.0/50.0/33.3/25.0 (BP = 1.000 ratio = 1.000 hyp_len = 5 ref_len = 5)");
    /* two zero orders: 100 / (2 * 3) then 100 / (4 * 2) */
    const char *r2[1] = {"a b y c d"};
    sc = score1("a b x c d", r2, 1);
    want = pow(80.0 * 50.0 * (100.0 / 6.0) * 12.5, 0.25);
    CHECK(fabs(sc.score - want) < 1e-9, "two zero orders: %.9f want %.9f", sc.score, want);
    /* zero matches: 0, precisions 0, BP still reported */
    const char *r3[1] = {"x y"};
    sc = score1("a b c", r3, 1);
    CHECK_LINE(sc, "BLEU = 0.00 0.0/0.0/0.0/0.0 (BP = 1.000 ratio = 1.500 hyp_len = 3 ref_len = 2)");
    /* no 4-gram in the hypotheses: sacreBLEU stops at that order and the
     * score is 0 although lower orders match (the smoothed 3-gram shows) */
    const char *r4[2] = {"the cat", "the the big dog"};
    sc = score1("the the the", r4, 2);
    CHECK(sc.score == 0.0, "no 4-grams: %.9f", sc.score);
    /* clipping takes the largest count in any one reference ("the" x2 in
     * the second); lengths 2 and 4 tie around 3: the shorter wins */
    CHECK_COUNTS(sc.stats, 2, 1, 0, 0, 3, 2, 1, 0);
    CHECK(sc.stats.ref_len == 2, "closest ref len %llu want 2", (unsigned long long)sc.stats.ref_len);
    CHECK_LINE(sc, "BLEU = 0.00 66.7/50.0/50.0/0.0 (BP = 1.000 ratio = 1.500 hyp_len = 3 ref_len = 2)");
}

static void test_hand_lengths(th_env *env)
{
    (void)env;
    /* brevity penalty exp(1 - 8/4) */
    const char *r1[1] = {"a b c d e f g h"};
    vknmt_bleu_score sc = score1("a b c d", r1, 1);
    CHECK(fabs(sc.score - 100.0 * exp(-1.0)) < 1e-9 && fabs(sc.bp - exp(-1.0)) < 1e-15, "BP: %.9f %.9f", sc.score,
          sc.bp);
    CHECK_LINE(sc, "BLEU = 36.79 100.0/100.0/100.0/100.0 (BP = 0.368 ratio = 0.500 hyp_len = 4 ref_len = 8)");
    /* the closest reference: 5 beats 8 for a 4-token hypothesis */
    const char *r2[2] = {"a b c d e f g h", "a b c d e"};
    sc = score1("a b c d", r2, 2);
    CHECK(sc.stats.ref_len == 5 && fabs(sc.bp - exp(1.0 - 5.0 / 4.0)) < 1e-15, "closest: ref_len %llu bp %.9f",
          (unsigned long long)sc.stats.ref_len, sc.bp);
    /* an empty hypothesis: BP 0 */
    const char *r3[1] = {"a b"};
    sc = score1("", r3, 1);
    CHECK_LINE(sc, "BLEU = 0.00 0.0/0.0/0.0/0.0 (BP = 0.000 ratio = 0.000 hyp_len = 0 ref_len = 2)");
    /* white space only is empty too, after rstrip */
    sc = score1(" \t\xC2\xA0", r3, 1);
    CHECK(sc.stats.hyp_len == 0, "blank hypothesis has %llu tokens", (unsigned long long)sc.stats.hyp_len);
    /* corpus statistics are sums over sentences, not averages */
    vknmt_bleu *b;
    CHECK(vknmt_bleu_create(NULL, &b) == VKNMT_OK, "create");
    const char *ra[1] = {"a b c d e"}, *rb[1] = {"x y z"};
    vknmt_status s1 = vknmt_bleu_add(b, "a b c d e", ra, 1, NULL, 0);
    vknmt_status s2 = vknmt_bleu_add(b, "x y", rb, 1, NULL, 0);
    vknmt_bleu_stats st = vknmt_bleu_get_stats(b);
    uint64_t n = vknmt_bleu_sentences(b);
    vknmt_bleu_destroy(b);
    CHECK(s1 == VKNMT_OK && s2 == VKNMT_OK && n == 2, "add");
    CHECK(st.hyp_len == 7 && st.ref_len == 8, "lengths %llu %llu", (unsigned long long)st.hyp_len,
          (unsigned long long)st.ref_len);
    CHECK_COUNTS(st, 7, 5, 3, 2, 7, 5, 3, 2);
}

static void test_references(th_env *env)
{
    (void)env;
    char sig[128], err[128] = "";
    vknmt_bleu *b;
    CHECK(vknmt_bleu_create(NULL, &b) == VKNMT_OK, "create");
    /* an empty reference is left out (sacreBLEU's variable references) */
    const char *r1[2] = {"", "a b c d"}, *r2[2] = {"a b", "a b c"}, *r3[2] = {"", ""};
    vknmt_status s1 = vknmt_bleu_add(b, "a b c d", r1, 2, err, sizeof(err));
    vknmt_bleu_stats st1 = vknmt_bleu_get_stats(b);
    vknmt_bleu_signature(b, sig, sizeof(sig));
    bool one = strncmp(sig, "nrefs:1|", 8) == 0;
    vknmt_status s2 = vknmt_bleu_add(b, "a b", r2, 2, err, sizeof(err));
    vknmt_bleu_signature(b, sig, sizeof(sig));
    bool var = strncmp(sig, "nrefs:var|", 10) == 0;
    vknmt_status s3 = vknmt_bleu_add(b, "a", r3, 2, err, sizeof(err));
    bool names = strstr(err, "empty") != NULL;
    vknmt_bleu_stats st3 = vknmt_bleu_get_stats(b);
    vknmt_status s4 = vknmt_bleu_add(b, "a", r3, 0, NULL, 0);
    vknmt_bleu_destroy(b);
    CHECK(s1 == VKNMT_OK && s2 == VKNMT_OK, "add: %s", err);
    CHECK(st1.ref_len == 4 && one, "empty reference counted: ref_len %llu, %s", (unsigned long long)st1.ref_len, sig);
    CHECK(var, "signature %s, want nrefs:var", sig);
    CHECK(s3 == VKNMT_ERR_INPUT && names, "all references empty: %s (%s)", vknmt_status_name(s3), err);
    CHECK(st3.hyp_len == 6 && st3.ref_len == 6, "a failed add changed the statistics");
    CHECK(s4 == VKNMT_ERR_USAGE, "no references: %s", vknmt_status_name(s4));
}

static void test_lowercase(th_env *env)
{
    (void)env;
    const char *upper[3] = {"THE DOG BIT THE MAN.", "IT WASN'T SURPRISING.", "THE MAN HAD JUST BITTEN HIM."};
    vknmt_bleu_score sc;
    char sig[128], err[128] = "";
    vknmt_status s = score_corpus(upper, 3, readme_refs, 2, true, &sc, sig, sizeof(sig), err, sizeof(err));
    CHECK(s == VKNMT_OK, "%s", err);
    CHECK(fabs(sc.score - 48.530827) < 1e-6, "lowercased: %.9f", sc.score);
    CHECK(strstr(sig, "|case:lc|") != NULL, "signature %s", sig);
    /* case-sensitive by default: only "." and "," ... match */
    s = score_corpus(upper, 3, readme_refs, 2, false, &sc, sig, sizeof(sig), err, sizeof(err));
    CHECK(s == VKNMT_OK, "%s", err);
    CHECK_LINE(sc, "BLEU = 3.65 17.6/3.6/2.3/1.6 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)");
    CHECK(strstr(sig, "|case:mixed|") != NULL, "signature %s", sig);
    /* Python's str.lower(): final sigma, dotted capital I -> i + U+0307 */
    CHECK_TOK("ΣΑΣ İZMİR", true, "σας i\xCC\x87zmi\xCC\x87r");
    CHECK_TOK("ΣΑΣ", false, "ΣΑΣ");
}

/* ---- the 13a tokenizer ---- */

static void test_tokenize_13a(th_env *env)
{
    (void)env;
    CHECK_TOK("Hello, world! (really)", false, "Hello , world ! ( really )");
    /* '.' and ',' stay between digits; '-' splits only after a digit */
    CHECK_TOK("3.14 and 1,000. 2-3 x-y 10-20", false, "3.14 and 1,000 . 2 - 3 x-y 10 - 20");
    CHECK_TOK("e.g. U.S.A. $5.00,a 1.a a.1", false, "e . g . U . S . A . $ 5.00 , a 1 . a a . 1");
    /* entities, <skipped>; the apostrophe is never split */
    CHECK_TOK("&quot;a&quot; &amp;lt; b&gt;c <skipped>d", false, "\" a \" < b > c d");
    /* only ASCII punctuation splits: ¿ — « » … stay inside words */
    CHECK_TOK("¿Qué? —dijo «él»… don't", false, "¿Qué ? —dijo «él»… don't");
    /* Python's rstrip() and split(): no-break and ideographic spaces too */
    CHECK_TOK("end.\xC2\xA0\xE3\x80\x80 ", false, "end .");
    CHECK_TOK("a\xE2\x80\x83" "b\x1c" "c", false, "a b c");
    /* a line ending in '-' joins the next; other line breaks are spaces */
    CHECK_TOK("wait-\nfor\nit", false, "waitfor it");
    CHECK_TOK("", false, "");
    CHECK_TOK(" \t ", false, "");
}

static void test_invalid_utf8(th_env *env)
{
    (void)env;
    vknmt_bleu *b;
    char err[128] = "";
    CHECK(vknmt_bleu_create(NULL, &b) == VKNMT_OK, "create");
    const char *ok[2] = {"a b", "a c"}, *bad_ref[2] = {"a b", "\xC0\xAF"}, *surrogate[1] = {"x \xED\xA0\x80"};
    vknmt_status s1 = vknmt_bleu_add(b, "a \xFF", ok, 2, err, sizeof(err));
    bool hyp_named = strcmp(err, "hypothesis: invalid UTF-8 at byte 3") == 0;
    char err1[128];
    snprintf(err1, sizeof(err1), "%s", err);
    vknmt_status s2 = vknmt_bleu_add(b, "a b", bad_ref, 2, err, sizeof(err));
    bool ref_named = strcmp(err, "reference 2: invalid UTF-8 at byte 1") == 0;
    vknmt_status s3 = vknmt_bleu_add(b, "a b", surrogate, 1, NULL, 0);
    uint64_t n = vknmt_bleu_sentences(b);
    vknmt_bleu_stats st = vknmt_bleu_get_stats(b);
    vknmt_bleu_destroy(b);
    CHECK(s1 == VKNMT_ERR_INPUT && hyp_named, "bad hypothesis: %s \"%s\"", vknmt_status_name(s1), err1);
    CHECK(s2 == VKNMT_ERR_INPUT && ref_named, "overlong reference: %s \"%s\"", vknmt_status_name(s2), err);
    CHECK(s3 == VKNMT_ERR_INPUT, "surrogate: %s", vknmt_status_name(s3));
    CHECK(n == 0 && st.hyp_len == 0 && st.total[0] == 0, "failed adds changed the statistics");
    char *out = NULL;
    CHECK(vknmt_bleu_tokenize_13a("ab\xE2\x82", 5, false, &out, err, sizeof(err)) == VKNMT_ERR_INPUT && !out,
          "truncated sequence accepted");
}

/* ---- vknmt bleu ---- */

typedef struct cmd_run {
    char dir[256];
    char path[6][320];
    int files;
    char out[1024], err[1024];
    int rc;
} cmd_run;

static const char *cmd_file(cmd_run *c, const char *name, const char *text)
{
    char full[sizeof(c->path[0])];
    snprintf(full, sizeof(full), "%s/%s", c->dir, name);
    char *p = c->path[c->files++];
    memcpy(p, full, sizeof(full));
    FILE *f = fopen(p, "wb");
    if (!f)
        return NULL;
    bool ok = fwrite(text, 1, strlen(text), f) == strlen(text);
    return fclose(f) == 0 && ok ? p : NULL;
}

static void slurp(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(buf, 1, size - 1, f) : 0;
    buf[n] = '\0';
    if (f)
        fclose(f);
}

/* Runs vknmt_cmd_bleu in-process with stdout and stderr (and stdin, when
 * `in` is a path) redirected to files of c's directory. */
static bool cmd_exec(cmd_run *c, const char *in, int argc, char **argv)
{
    char out_path[320], err_path[320];
    snprintf(out_path, sizeof(out_path), "%s/stdout", c->dir);
    snprintf(err_path, sizeof(err_path), "%s/stderr", c->dir);
    fflush(stdout);
    fflush(stderr);
    int fo = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600), fe = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int fi = in ? open(in, O_RDONLY) : -1;
    int so = dup(1), se = dup(2), si = in ? dup(0) : -1;
    if (fo < 0 || fe < 0 || so < 0 || se < 0 || (in && (fi < 0 || si < 0)))
        return false;
    dup2(fo, 1);
    dup2(fe, 2);
    if (in) {
        dup2(fi, 0);
        clearerr(stdin);
    }
    c->rc = vknmt_cmd_bleu(NULL, argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(so, 1);
    dup2(se, 2);
    if (in) {
        dup2(si, 0);
        clearerr(stdin);
        close(si);
        close(fi);
    }
    close(so);
    close(se);
    close(fo);
    close(fe);
    slurp(out_path, c->out, sizeof(c->out));
    slurp(err_path, c->err, sizeof(c->err));
    unlink(out_path);
    unlink(err_path);
    return true;
}

static void test_command(th_env *env)
{
    (void)env;
    cmd_run *c = calloc(1, sizeof(*c));
    CHECK(c, "out of memory");
    if (!th_make_temp_dir(c->dir, sizeof(c->dir), "bleu")) {
        free(c);
        CHECK(false, "cannot make a temp directory");
    }
    /* CRLF and a missing final newline read as sacreBLEU reads them */
    const char *r1 = cmd_file(c, "ref1.txt", "The dog bit the man.\r\nIt was not unexpected.\nThe man bit him first.");
    const char *r2 = cmd_file(c, "ref2.txt", "The dog had bit the man.\nNo one was surprised.\nThe man had bitten the dog.\n");
    const char *hyp = cmd_file(c, "hyp.txt", "The dog bit the man.\nIt wasn't surprising.\nThe man had just bitten him.\n");
    const char *shrt = cmd_file(c, "short.txt", "The dog bit the man.\nIt wasn't surprising.\n");
    const char *bad = cmd_file(c, "bad.txt", "The dog bit the man.\nIt \xC3\x28 was\nx\n");
    bool files = r1 && r2 && hyp && shrt && bad;
    static const char want[] = "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)\n"
                               "nrefs:2|case:mixed|eff:no|tok:13a|smooth:exp|version:" VKNMT_BLEU_SACREBLEU_VERSION "\n";
    char *a1[] = {"bleu", "-r", (char *)r1, "-r", (char *)r2, "-i", (char *)hyp};
    bool ran1 = files && cmd_exec(c, NULL, 7, a1);
    bool ok1 = ran1 && c->rc == 0 && strcmp(c->out, want) == 0;
    char got1[2 * sizeof(c->out)];
    snprintf(got1, sizeof(got1), "%s%s", c->out, c->err);
    /* the hypotheses from standard input */
    char *a2[] = {"bleu", "-r", (char *)r1, "-r", (char *)r2};
    bool ok2 = files && cmd_exec(c, hyp, 5, a2) && c->rc == 0 && strcmp(c->out, want) == 0;
    char *a3[] = {"bleu", "-r", (char *)r1, "-i", (char *)shrt, "-lc"};
    bool ran3 = files && cmd_exec(c, NULL, 6, a3);
    bool ok3 = ran3 && c->rc == 1 && !c->out[0] && strstr(c->err, "short.txt has 2 lines but") &&
               strstr(c->err, "ref1.txt has 3") && strchr(c->err, '\n') == c->err + strlen(c->err) - 1;
    char got3[1024];
    snprintf(got3, sizeof(got3), "%s", c->err);
    char *a4[] = {"bleu", "-r", (char *)r1, "-i", (char *)bad};
    bool ran4 = files && cmd_exec(c, NULL, 5, a4);
    bool ok4 = ran4 && c->rc == 1 && strstr(c->err, "bad.txt:2: invalid UTF-8 at byte 4");
    char got4[1024];
    snprintf(got4, sizeof(got4), "%s", c->err);
    char *a5[] = {"bleu", "-i", (char *)hyp};
    bool ok5 = files && cmd_exec(c, NULL, 3, a5) && c->rc == 2 && strstr(c->err, "usage");
    for (int i = 0; i < c->files; i++)
        unlink(c->path[i]);
    rmdir(c->dir);
    free(c);
    CHECK(files, "cannot write the test files");
    CHECK(ok1, "two references: got \"%s\"", got1);
    CHECK(ok2, "standard input");
    CHECK(ok3, "line counts: \"%s\"", got3);
    CHECK(ok4, "invalid UTF-8: \"%s\"", got4);
    CHECK(ok5, "no reference: not a usage error");
}

void th_register_bleu(void)
{
    th_add("bleu", "sacrebleu_corpus", test_sacrebleu_corpus);
    th_add("bleu", "sacrebleu_sentence", test_sacrebleu_sentence);
    th_add("bleu", "hand_smoothing", test_hand_smoothing);
    th_add("bleu", "hand_lengths", test_hand_lengths);
    th_add("bleu", "references", test_references);
    th_add("bleu", "lowercase", test_lowercase);
    th_add("bleu", "tokenize_13a", test_tokenize_13a);
    th_add("bleu", "invalid_utf8", test_invalid_utf8);
    th_add("bleu", "command", test_command);
}
