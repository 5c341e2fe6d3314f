/* The text pipeline: tokenizer, vocabulary, corpus reader, batcher. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batcher.h"
#include "corpus.h"
#include "harness.h"
#include "tokenize.h"
#include "vocab.h"

/* ---- helpers ---- */

/* A temporary directory and the files written into it, all removed by
 * tmp_remove whatever the test did. */
typedef struct tmpdir {
    char dir[256];
    char files[16][320];
    int n;
} tmpdir;

static bool tmp_make(tmpdir *t)
{
    t->n = 0;
    return th_make_temp_dir(t->dir, sizeof(t->dir), "text");
}

/* Writes `len` bytes into dir/name and returns the path (kept in t). */
static const char *tmp_write(tmpdir *t, const char *name, const char *data, size_t len)
{
    if (t->n == 16)
        return NULL;
    char full[sizeof(t->files[0])];
    snprintf(full, sizeof(full), "%s/%s", t->dir, name);
    char *path = t->files[t->n++];
    memcpy(path, full, sizeof(full));
    FILE *f = fopen(path, "wb");
    if (!f)
        return NULL;
    bool ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok ? path : NULL;
}

static const char *tmp_text(tmpdir *t, const char *name, const char *text)
{
    return tmp_write(t, name, text, strlen(text));
}

static void tmp_remove(tmpdir *t)
{
    for (int i = 0; i < t->n; i++)
        unlink(t->files[i]);
    rmdir(t->dir);
}

#define WITH_TMPDIR(fn)                                     \
    static void fn(th_env *env, tmpdir *t);                 \
    static void fn##_run(th_env *env)                       \
    {                                                       \
        tmpdir t;                                           \
        CHECK(tmp_make(&t), "cannot make a temp directory"); \
        fn(env, &t);                                        \
        tmp_remove(&t);                                     \
    }

/* The tokens of `line`, joined with '|', into out. */
static vknmt_status tok_join(const char *line, bool lower, bool pretok, char *out, size_t out_size, char *err,
                             size_t err_size)
{
    vknmt_tokenize_options o = {.lowercase = lower, .pretokenized = pretok};
    vknmt_tokenizer *tk;
    vknmt_status s = vknmt_tokenizer_create(&o, &tk);
    if (s != VKNMT_OK)
        return s;
    const char *const *toks;
    size_t n;
    s = vknmt_tokenizer_run(tk, line, strlen(line), &toks, &n, err, err_size);
    out[0] = '\0';
    for (size_t i = 0; s == VKNMT_OK && i < n; i++) {
        if (i)
            strncat(out, "|", out_size - strlen(out) - 1);
        strncat(out, toks[i], out_size - strlen(out) - 1);
    }
    vknmt_tokenizer_destroy(tk);
    return s;
}

#define CHECK_TOKENS(line, lower, pretok, want)                                                   \
    do {                                                                                          \
        char got_[512], err_[128] = "";                                                           \
        vknmt_status s_ = tok_join(line, lower, pretok, got_, sizeof(got_), err_, sizeof(err_)); \
        CHECK(s_ == VKNMT_OK, "tokenize \"%s\": %s", line, err_);                                 \
        CHECK(strcmp(got_, want) == 0, "tokenize \"%s\": got \"%s\" want \"%s\"", line, got_, want); \
    } while (0)

/* ---- tokenizer ---- */

static void test_tokenize_punct(th_env *env)
{
    (void)env;
    CHECK_TOKENS("¿Dónde está?", false, false, "¿|Dónde|está|?");
    CHECK_TOKENS("Y dijo Dios: Sea la luz: y fué la luz.", false, false,
                 "Y|dijo|Dios|:|Sea|la|luz|:|y|fué|la|luz|.");
    CHECK_TOKENS("¡Dios, ayúdame!", false, false, "¡|Dios|,|ayúdame|!");
    CHECK_TOKENS("Hello, world... (really)!", false, false, "Hello|,|world|.|.|.|(|really|)|!");
    CHECK_TOKENS("«Sí», dijo; [nota] well-known", false, false, "«|Sí|»|,|dijo|;|[|nota|]|well|-|known");
    CHECK_TOKENS("Don't stop: God’s Spirit, dogs' 'tis", false, false,
                 "Don't|stop|:|God’s|Spirit|,|dogs|'|'|tis");
    CHECK_TOKENS("God said, “Let there be light,” and", false, false,
                 "God|said|,|“|Let|there|be|light|,|”|and");
    CHECK_TOKENS("He said \"no\".", false, false, "He|said|\"|no|\"|.");
    CHECK_TOKENS("pi is 3.14, not 3,15. Gen 1:1 costs $5 100%", false, false,
                 "pi|is|3.14|,|not|3,15|.|Gen|1|:|1|costs|$|5|100|%");
    CHECK_TOKENS("end.3 1,a", false, false, "end|.|3|1|,|a");
    /* white space of every kind: tab, CR LF, no-break space, ideographic space, BOM */
    CHECK_TOKENS("\xEF\xBB\xBF" "a\tb\xC2\xA0" "c\xE3\x80\x80" "d\r\n", false, false, "a|b|c|d");
    CHECK_TOKENS("", false, false, "");
    CHECK_TOKENS("  \t \r\n", false, false, "");
    /* a combining mark stays with its letter even where NFC has no composite */
    CHECK_TOKENS("q\xCC\x81!", false, false, "q\xCC\x81|!");
}

static void test_tokenize_modes(th_env *env)
{
    (void)env;
    CHECK_TOKENS("¿Dónde está?  Dios,", false, true, "¿Dónde|está?|Dios,");
    CHECK_TOKENS("ÑANDÚ Ésta ÇA ΣΟΦΊΑ Don't", true, false, "ñandú|ésta|ça|σοφία|don't");
    CHECK_TOKENS("¿DÓNDE?", true, true, "¿dónde?");
    /* NFC: a decomposed é (e + U+0301) is the composed one */
    char a[64], b[64], err[128];
    CHECK(tok_join("caf\x65\xCC\x81 Ñ", false, false, a, sizeof(a), err, sizeof(err)) == VKNMT_OK, "%s", err);
    CHECK(tok_join("caf\xC3\xA9 N\xCC\x83", false, false, b, sizeof(b), err, sizeof(err)) == VKNMT_OK, "%s", err);
    CHECK(strcmp(a, "caf\xC3\xA9|\xC3\x91") == 0 && strcmp(b, a) == 0, "NFC: \"%s\" vs \"%s\"", a, b);
}

static void test_tokenize_invalid(th_env *env)
{
    (void)env;
    static const char *const bad[] = {
        "ab\xC3(",              /* truncated sequence */
        "\xC0\xAF",             /* overlong '/' */
        "x \xED\xA0\x80 y",     /* a UTF-16 surrogate */
        "\xF4\x90\x80\x80",     /* past U+10FFFF */
        "\xFF",                 /* never valid */
        "caf\xE9",              /* Latin-1, the common mistake */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char got[64], err[128] = "";
        vknmt_status s = tok_join(bad[i], false, false, got, sizeof(got), err, sizeof(err));
        CHECK(s == VKNMT_ERR_INPUT, "case %zu: status %s", i, vknmt_status_name(s));
        CHECK(strstr(err, "invalid UTF-8"), "case %zu: message \"%s\"", i, err);
    }
    char got[64], err[128] = "";
    tok_join("ab\xC3(", false, false, got, sizeof(got), err, sizeof(err));
    CHECK(strstr(err, "byte 3"), "the message names the byte: \"%s\"", err);
}

static void check_detok(const char *const *toks, size_t n, const char *want)
{
    char *got;
    CHECK(vknmt_detokenize(toks, n, &got) == VKNMT_OK, "detokenize");
    bool ok = strcmp(got, want) == 0;
    if (!ok)
        th_fail_at(__FILE__, __LINE__, "detokenize: got \"%s\" want \"%s\"", got, want);
    free(got);
}

static void test_detokenize(th_env *env)
{
    (void)env;
    const char *a[] = {"¿", "Dónde", "está", "?", "Dijo", ":", "«", "hola", "»", ",", "(", "sí", ")", "."};
    check_detok(a, sizeof(a) / sizeof(a[0]), "¿Dónde está? Dijo: «hola», (sí).");
    if (th_failed())
        return;
    const char *b[] = {"He", "said", ",", "\"", "hi", "there", "\"", "and", "“", "bye", "”", "!"};
    check_detok(b, sizeof(b) / sizeof(b[0]), "He said, \"hi there\" and “bye”!");
    if (th_failed())
        return;
    check_detok(NULL, 0, "");
    if (th_failed())
        return;
    /* tokenize then detokenize gives the line back for ordinary text */
    const char *line = "¡Mira! Él dijo: «Ve, hijo mío» (Gen 1:1), pero no 3.14 veces.";
    vknmt_tokenizer *tk;
    CHECK(vknmt_tokenizer_create(NULL, &tk) == VKNMT_OK, "create");
    const char *const *toks;
    size_t n;
    char err[128];
    vknmt_status s = vknmt_tokenizer_run(tk, line, strlen(line), &toks, &n, err, sizeof(err));
    if (s == VKNMT_OK)
        check_detok(toks, n, "¡Mira! Él dijo: «Ve, hijo mío» (Gen 1: 1), pero no 3.14 veces.");
    vknmt_tokenizer_destroy(tk);
    CHECK(s == VKNMT_OK, "%s", err);
}

/* ---- vocabulary ---- */

static vknmt_vocab *vocab_of(const char *text, uint32_t size)
{
    vknmt_vocab_counter *c;
    if (vknmt_vocab_counter_create(&c) != VKNMT_OK)
        return NULL;
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", text);
    for (char *save, *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save))
        vknmt_vocab_counter_add(c, w, NULL);
    vknmt_vocab *v = NULL;
    vknmt_vocab_build(c, size, &v);
    vknmt_vocab_counter_destroy(c);
    return v;
}

static void test_vocab_build(th_env *env)
{
    (void)env;
    vknmt_vocab_counter *c;
    CHECK(vknmt_vocab_counter_create(&c) == VKNMT_OK, "create");
    uint32_t t = 99;
    vknmt_vocab_counter_add(c, "z", &t);
    vknmt_vocab_counter_add(c, "y", NULL);
    vknmt_vocab_counter_add(c, "z", &t);
    bool ok = t == 0 && vknmt_vocab_counter_types(c) == 2 && vknmt_vocab_counter_count(c, 0) == 2 &&
              strcmp(vknmt_vocab_counter_token(c, 1), "y") == 0;
    vknmt_vocab_counter_destroy(c);
    vknmt_vocab_counter_destroy(NULL);
    CHECK(ok, "counter types and counts");

    /* counts: b 3, a 2, then c, d, e once each: ties by first occurrence */
    vknmt_vocab *v = vocab_of("c b a b d a b e <unk>", 100);
    CHECK(v, "build");
    static const char *const want[] = {"<pad>", "<unk>", "<s>", "</s>", "b", "a", "c", "d", "e"};
    uint32_t n = vknmt_vocab_size(v);
    bool order = n == 9;
    for (uint32_t i = 0; order && i < n; i++)
        order = strcmp(vknmt_vocab_token(v, (int32_t)i), want[i]) == 0;
    int32_t unk = vknmt_vocab_id(v, "zebra"), b = vknmt_vocab_id(v, "b"), eos = vknmt_vocab_id(v, "</s>");
    const char *oob = vknmt_vocab_token(v, 9), *neg = vknmt_vocab_token(v, -1);
    vknmt_vocab_destroy(v);
    vknmt_vocab_destroy(NULL);
    CHECK(order, "order of %u entries", n);
    CHECK(unk == VKNMT_TOK_UNK && b == 4 && eos == VKNMT_TOK_EOS, "ids: unk %d b %d eos %d", unk, b, eos);
    CHECK(!oob && !neg, "ids out of range give NULL");

    v = vocab_of("c b a b d a b e", 6); /* the top 2 */
    CHECK(v, "build");
    n = vknmt_vocab_size(v);
    int32_t a = vknmt_vocab_id(v, "a"), cc = vknmt_vocab_id(v, "c");
    vknmt_vocab_destroy(v);
    CHECK(n == 6 && a == 5 && cc == VKNMT_TOK_UNK, "top-K: size %u, a %d, c %d", n, a, cc);
    v = vocab_of("a", 3);
    CHECK(!v, "a size below the specials is refused");
}

WITH_TMPDIR(test_vocab_files)
static void test_vocab_files(th_env *env, tmpdir *t)
{
    (void)env;
    char err[512] = "";
    vknmt_vocab *v = vocab_of("Dios dijo sea la luz y fue la luz ¿ ?", 100), *w = NULL, *x = NULL;
    CHECK(v, "build");
    char *text = NULL, *text2 = NULL;
    size_t len = 0;
    const char *path = tmp_text(t, "v.txt", "");
    bool ok = path && vknmt_vocab_to_string(v, &text, &len) == VKNMT_OK &&
              vknmt_vocab_from_string(text, len, "metadata", &w, err, sizeof(err)) == VKNMT_OK &&
              vknmt_vocab_save(v, path, err, sizeof(err)) == VKNMT_OK &&
              vknmt_vocab_load(path, &x, err, sizeof(err)) == VKNMT_OK &&
              vknmt_vocab_to_string(x, &text2, NULL) == VKNMT_OK;
    bool same = ok && vknmt_vocab_size(w) == vknmt_vocab_size(v) && strcmp(text, text2) == 0 &&
                strncmp(text, "<pad>\n<unk>\n<s>\n</s>\nla\nluz\n", 27) == 0 && vknmt_vocab_id(x, "¿") > 3;
    free(text);
    free(text2);
    vknmt_vocab_destroy(v);
    vknmt_vocab_destroy(w);
    vknmt_vocab_destroy(x);
    CHECK(ok, "round trip: %s", err);
    CHECK(same, "round trip changed the vocabulary");

    /* no final newline, CRLF: accepted */
    const char *crlf = "<pad>\r\n<unk>\r\n<s>\r\n</s>\r\nhola";
    CHECK(vknmt_vocab_from_string(crlf, strlen(crlf), "m", &w, err, sizeof(err)) == VKNMT_OK, "%s", err);
    int32_t id = vknmt_vocab_id(w, "hola");
    vknmt_vocab_destroy(w);
    CHECK(id == 4, "hola is %d", id);

    static const struct {
        const char *text, *line, *why;
    } bad[] = {
        {"<pad>\n<unk>\n<s>\n</s>\na\nb\na\n", ":7:", "duplicate"},
        {"<unk>\n<pad>\n<s>\n</s>\n", ":1:", "first four"},
        {"<pad>\n<unk>\n<s>\n</s>\na\n\nb\n", ":6:", "empty line"},
        {"<pad>\n<unk>\n<s>\n</s>\na b\n", ":5:", "white space"},
        {"<pad>\n<unk>\n<s>\n</s>\n\xC3\n", ":5:", "invalid UTF-8"},
        {"<pad>\n<unk>\n", ":3:", "too short"},
        {"", ":1:", "too short"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char name[32];
        snprintf(name, sizeof(name), "bad%zu.txt", i);
        const char *p = tmp_text(t, name, bad[i].text);
        CHECK(p, "write %s", name);
        err[0] = '\0';
        vknmt_status s = vknmt_vocab_load(p, &w, err, sizeof(err));
        CHECK(s == VKNMT_ERR_INPUT && !w, "case %zu: status %s", i, vknmt_status_name(s));
        CHECK(strstr(err, p) && strstr(err, bad[i].line) && strstr(err, bad[i].why), "case %zu: \"%s\"", i, err);
    }
    err[0] = '\0';
    CHECK(vknmt_vocab_load("/nonexistent/vocab.txt", &w, err, sizeof(err)) == VKNMT_ERR_IO &&
              strstr(err, "/nonexistent/vocab.txt"),
          "missing file: \"%s\"", err);
}

/* ---- corpus ---- */

static vknmt_status load(const char *s, const char *t, uint32_t max_len, vknmt_corpus **c, char *err,
                         size_t err_size)
{
    vknmt_corpus_options o = {.max_len = max_len};
    err[0] = '\0';
    return vknmt_corpus_load(s, t, &o, c, err, err_size);
}

WITH_TMPDIR(test_corpus_errors)
static void test_corpus_errors(th_env *env, tmpdir *t)
{
    (void)env;
    char err[512];
    vknmt_corpus *c = NULL;
    const char *good = tmp_text(t, "good.es", "uno\ndos\ntres\n");
    const char *good_en = tmp_text(t, "good.en", "one\ntwo\nthree"); /* no final newline: still 3 lines */
    const char *empty = tmp_text(t, "empty.en", "");
    const char *short_en = tmp_text(t, "short.en", "one\ntwo\n");
    const char *bad_en = tmp_text(t, "bad.en", "one\ntwo\nth\xC3ree\n");
    CHECK(good && good_en && empty && short_en && bad_en, "writing the files");

    vknmt_status s = load(good, good_en, 0, &c, err, sizeof(err));
    size_t n = s == VKNMT_OK ? vknmt_corpus_size(c) : 0;
    vknmt_corpus_destroy(c);
    CHECK(s == VKNMT_OK && n == 3, "good files: %s", err);

    char missing[300];
    snprintf(missing, sizeof(missing), "%s/missing.es", t->dir);
    s = load(missing, good_en, 0, &c, err, sizeof(err));
    CHECK(s == VKNMT_ERR_IO && !c && strstr(err, missing), "missing: %s \"%s\"", vknmt_status_name(s), err);
    s = load(good, t->dir, 0, &c, err, sizeof(err)); /* a directory: unreadable as text */
    CHECK(s == VKNMT_ERR_IO && !c && strstr(err, t->dir), "unreadable: %s \"%s\"", vknmt_status_name(s), err);
    s = load(good, empty, 0, &c, err, sizeof(err));
    CHECK(s == VKNMT_ERR_INPUT && !c && strstr(err, empty) && strstr(err, "empty"), "empty: \"%s\"", err);
    s = load(good, short_en, 0, &c, err, sizeof(err));
    CHECK(s == VKNMT_ERR_INPUT && !c && strstr(err, good) && strstr(err, short_en) && strstr(err, " 3 ") &&
              strstr(err, " 2"),
          "unequal: \"%s\"", err);
    s = load(good, bad_en, 0, &c, err, sizeof(err));
    char where[340];
    snprintf(where, sizeof(where), "%s:3", bad_en);
    CHECK(s == VKNMT_ERR_INPUT && !c && strstr(err, where) && strstr(err, "UTF-8"), "invalid: \"%s\"", err);
    CHECK(!strchr(err, '\n'), "one line: \"%s\"", err);
}

static bool ids_are(const int32_t *ids, uint32_t len, const vknmt_vocab *v, const char *words)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", words);
    uint32_t i = 0;
    for (char *save, *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save), i++)
        if (i >= len || ids[i] != vknmt_vocab_id(v, w))
            return false;
    return i + 1 == len && ids[i] == VKNMT_TOK_EOS;
}

WITH_TMPDIR(test_corpus_skips)
static void test_corpus_skips(th_env *env, tmpdir *t)
{
    (void)env;
    const char *es = tmp_text(t, "s.es", "¿Dónde está?\n\nuno dos\nmuy largo de verdad sí\n  \t\nLa luz.\n");
    const char *en = tmp_text(t, "s.en", "Where is it?\nnothing\n\nvery long\nnada\nThe light.\n");
    const char *es_sp = tmp_text(t, "sp.es", "a </s> <pad> <s> <unk> b\n");
    const char *en_sp = tmp_text(t, "sp.en", "x\n");
    CHECK(es && en && es_sp && en_sp, "writing the files");
    char err[512];
    vknmt_corpus *c = NULL;
    vknmt_corpus_options sp = {.tok.pretokenized = true};
    CHECK(vknmt_corpus_load(es_sp, en_sp, &sp, &c, err, sizeof(err)) == VKNMT_OK, "%s", err);
    vknmt_pair q = vknmt_corpus_pair(c, 0);
    bool unk = q.src_len == 7 && q.src[1] == 1 && q.src[2] == 1 && q.src[3] == 1 && q.src[4] == 1 && q.src[6] == 3 &&
               q.src[0] > 3 && q.src[5] > 3;
    vknmt_corpus_destroy(c);
    CHECK(unk, "specials written in the text become <unk>");
    vknmt_corpus_options o = {.max_len = 4, .tok.lowercase = true};
    CHECK(vknmt_corpus_load(es, en, &o, &c, err, sizeof(err)) == VKNMT_OK, "%s", err);
    const vknmt_corpus_stats *st = vknmt_corpus_stats_get(c);
    vknmt_corpus_stats got = *st;
    vknmt_pair p0 = vknmt_corpus_pair(c, 0), p1 = vknmt_corpus_pair(c, got.pairs > 1 ? 1 : 0);
    const vknmt_vocab *sv = vknmt_corpus_src_vocab(c), *tv = vknmt_corpus_tgt_vocab(c);
    bool ids = got.pairs == 2 && p0.line == 1 && p1.line == 6 && p0.src_len == 5 && p0.tgt_len == 5 &&
               ids_are(p0.src, p0.src_len, sv, "¿ dónde está ?") && ids_are(p0.tgt, p0.tgt_len, tv, "where is it ?") &&
               ids_are(p1.src, p1.src_len, sv, "la luz .") && ids_are(p1.tgt, p1.tgt_len, tv, "the light .");
    bool vocab = vknmt_vocab_size(sv) == 4 + 7 && vknmt_vocab_id(sv, "muy") == VKNMT_TOK_UNK; /* kept pairs only */

    /* the same files with given vocabularies: unknown words become <unk> */
    vknmt_vocab *small = vocab_of("la ?", 10);
    vknmt_corpus *c2 = NULL;
    vknmt_corpus_options o2 = {.max_len = 4, .tok.lowercase = true, .src_vocab = small, .tgt_vocab = tv};
    vknmt_status s2 = vknmt_corpus_load(es, en, &o2, &c2, err, sizeof(err));
    bool given = false;
    if (s2 == VKNMT_OK) {
        vknmt_pair q = vknmt_corpus_pair(c2, 1);
        given = vknmt_corpus_src_vocab(c2) == small && q.src_len == 4 && q.src[0] == 4 && q.src[1] == 1 &&
                q.src[2] == 1 && q.src[3] == VKNMT_TOK_EOS && vknmt_corpus_stats_get(c2)->src_unk == 5;
    }
    vknmt_corpus_destroy(c2);
    vknmt_vocab_destroy(small);
    vknmt_corpus_destroy(c);
    CHECK(got.lines == 6 && got.skipped_empty == 3 && got.skipped_long == 1,
          "lines %llu, empty %llu, long %llu", (unsigned long long)got.lines,
          (unsigned long long)got.skipped_empty, (unsigned long long)got.skipped_long);
    CHECK(got.src_tokens == 7 && got.tgt_tokens == 7 && got.src_unk == 0, "token counts");
    CHECK(ids, "pairs, lines and ids");
    CHECK(vocab, "the vocabulary counts kept pairs only");
    CHECK(s2 == VKNMT_OK && given, "given vocabularies: %s", err);

    /* nothing left: an error, not an empty corpus */
    const char *e1 = tmp_text(t, "e.es", "\n\n"), *e2 = tmp_text(t, "e.en", "a\nb\n");
    CHECK(vknmt_corpus_load(e1, e2, &o, &c, err, sizeof(err)) == VKNMT_ERR_INPUT && !c && strstr(err, "no pair"),
          "all skipped: \"%s\"", err);
}

/* The Bible corpus of the demo loads, quickly. */
static void test_corpus_bible(th_env *env)
{
    (void)env;
    char root[512], es[600], en[600];
    const char *shared = getenv("VKNMT_SHARED");
    if (shared && *shared) {
        snprintf(root, sizeof(root), "%s", shared);
    } else {
        snprintf(root, sizeof(root), "%s", __FILE__);
        char *slash = strrchr(root, '/');
        snprintf(slash ? slash : root, sizeof(root) - (size_t)(slash ? slash - root : 0), "/../../shared");
    }
    snprintf(es, sizeof(es), "%s/data/bible-es-en/train.es", root);
    snprintf(en, sizeof(en), "%s/data/bible-es-en/train.en", root);
    if (access(es, R_OK) != 0 || access(en, R_OK) != 0) {
        printf("     (text/bible: %s not found, nothing checked)\n", es);
        return;
    }
    vknmt_corpus_options o = {.max_len = 50, .src_vocab_size = 8000, .tgt_vocab_size = 8000};
    vknmt_corpus *c;
    char err[512];
    CHECK(vknmt_corpus_load(es, en, &o, &c, err, sizeof(err)) == VKNMT_OK, "%s", err);
    vknmt_corpus_stats st = *vknmt_corpus_stats_get(c);
    uint32_t vs = vknmt_vocab_size(vknmt_corpus_src_vocab(c)), vt = vknmt_vocab_size(vknmt_corpus_tgt_vocab(c));
    vknmt_batcher *b = NULL;
    vknmt_batcher_options bo = {.seed = 1};
    vknmt_status s = vknmt_batcher_create(c, &bo, &b, err, sizeof(err));
    uint64_t seen = 0;
    vknmt_minibatch batch;
    while (s == VKNMT_OK && (s = vknmt_batcher_next(b, &batch)) == VKNMT_OK && batch.epoch == 0)
        seen += batch.size;
    vknmt_batcher_destroy(b);
    vknmt_corpus_destroy(c);
    printf("     (bible train: %llu lines, %llu pairs, %llu over 50 tokens, %llu empty, unk %.2f%% / %.2f%%)\n",
           (unsigned long long)st.lines, (unsigned long long)st.pairs, (unsigned long long)st.skipped_long,
           (unsigned long long)st.skipped_empty, 100.0 * (double)st.src_unk / (double)st.src_tokens,
           100.0 * (double)st.tgt_unk / (double)st.tgt_tokens);
    CHECK(st.lines == 27050 && st.skipped_empty == 0 && st.pairs + st.skipped_long == st.lines,
          "counts: %llu lines, %llu pairs, %llu long", (unsigned long long)st.lines, (unsigned long long)st.pairs,
          (unsigned long long)st.skipped_long);
    CHECK(st.pairs > 20000, "only %llu pairs of 50 tokens or fewer", (unsigned long long)st.pairs);
    CHECK(vs == 8000 && vt == 8000, "vocabulary sizes %u %u", vs, vt);
    CHECK(s == VKNMT_OK && seen == st.pairs, "one epoch gave %llu pairs", (unsigned long long)seen);
}

/* ---- batcher ---- */

/* Pair i has source tokens 4 + i and target tokens 5 + i, lengths from
 * th_rand (plus </s>). */
static vknmt_corpus *synthetic(uint32_t n, uint32_t max_len)
{
    vknmt_corpus *c;
    if (vknmt_corpus_create(&c) != VKNMT_OK)
        return NULL;
    int32_t *s = malloc((max_len + 1) * sizeof(*s)), *t = malloc((max_len + 1) * sizeof(*t));
    for (uint32_t i = 0; s && t && i < n; i++) {
        uint32_t ls = 1 + (uint32_t)(th_rand_u64() % max_len), lt = 1 + (uint32_t)(th_rand_u64() % max_len);
        for (uint32_t k = 0; k < ls; k++)
            s[k] = (int32_t)(4 + i);
        for (uint32_t k = 0; k < lt; k++)
            t[k] = (int32_t)(5 + i);
        s[ls] = t[lt] = VKNMT_TOK_EOS;
        if (vknmt_corpus_add(c, s, ls + 1, t, lt + 1, i + 1) != VKNMT_OK) {
            vknmt_corpus_destroy(c);
            c = NULL;
            break;
        }
    }
    free(s);
    free(t);
    return c;
}

/* Checks the padded arrays of one batch against the corpus: "" or a reason. */
static const char *batch_problem(const vknmt_corpus *c, const vknmt_minibatch *b)
{
    uint32_t tx = 0, ty = 0;
    for (uint32_t r = 0; r < b->size; r++) {
        vknmt_pair p = vknmt_corpus_pair(c, b->pair[r]);
        if ((uint32_t)b->src_len[r] != p.src_len || (uint32_t)b->tgt_len[r] != p.tgt_len)
            return "lengths";
        tx = tx > p.src_len ? tx : p.src_len;
        ty = ty > p.tgt_len ? ty : p.tgt_len;
        for (uint32_t k = 0; k < b->src_T; k++) {
            int32_t want = k + 1 < p.src_len ? (int32_t)(4 + b->pair[r]) : k + 1 == p.src_len ? VKNMT_TOK_EOS : 0;
            if (b->src[(size_t)r * b->src_T + k] != want)
                return "source ids or padding";
        }
        for (uint32_t k = 0; k < b->tgt_T; k++) {
            int32_t want = k + 1 < p.tgt_len ? (int32_t)(5 + b->pair[r]) : k + 1 == p.tgt_len ? VKNMT_TOK_EOS : 0;
            if (b->tgt[(size_t)r * b->tgt_T + k] != want)
                return "target ids or padding";
        }
    }
    if (tx != b->src_T || ty != b->tgt_T)
        return "Tx or Ty is not the longest sentence";
    return "";
}

static uint32_t key_of(const vknmt_corpus *c, uint32_t i)
{
    vknmt_pair p = vknmt_corpus_pair(c, i);
    return p.src_len > p.tgt_len ? p.src_len : p.tgt_len;
}

/* Two epochs: every pair once per epoch, padding, sizes, the pool order. */
static void run_epochs(const vknmt_corpus *c, const vknmt_batcher_options *o)
{
    uint32_t n = (uint32_t)vknmt_corpus_size(c);
    uint8_t *seen = calloc(n, 1);
    CHECK(seen, "out of memory");
    vknmt_batcher *b;
    char err[256];
    CHECK(vknmt_batcher_create(c, o, &b, err, sizeof(err)) == VKNMT_OK, "%s", err);
    uint64_t epoch = 0, pool = 0, short_batches = 0, batches = 0;
    uint32_t pool_lo[1024], pool_hi[1024], n_in_pool = 0; /* key range of each batch of the pool */
    const char *problem = "";
    for (;;) {
        vknmt_minibatch bt;
        vknmt_batcher_state st; /* after next: the pool of the batch just given */
        if (vknmt_batcher_next(b, &bt) != VKNMT_OK) {
            problem = "next failed";
            break;
        }
        vknmt_batcher_get_state(b, &st);
        if (bt.epoch != epoch || st.pool != pool) { /* the pool ended: its batches must not overlap */
            for (uint32_t i = 0; i < n_in_pool && !*problem; i++)
                for (uint32_t j = 0; j < n_in_pool; j++)
                    if (i != j && pool_lo[i] < pool_lo[j] && pool_hi[i] > pool_lo[j])
                        problem = "a pool's batches are not cut from one sorted order";
            n_in_pool = 0;
            pool = st.pool;
        }
        if (bt.epoch != epoch) {
            for (uint32_t i = 0; i < n && !*problem; i++)
                if (seen[i] != 1)
                    problem = "a pair is missing from an epoch";
            if (*problem || bt.epoch == 2)
                break;
            if (bt.epoch != epoch + 1 || st.pool != 0) {
                problem = "epoch numbering";
                break;
            }
            memset(seen, 0, n);
            epoch = bt.epoch;
        }
        if (*problem)
            break;
        problem = batch_problem(c, &bt);
        if (*problem)
            break;
        batches++;
        uint32_t lo = UINT32_MAX, hi = 0, prev = 0;
        for (uint32_t r = 0; r < bt.size; r++) {
            uint32_t i = bt.pair[r], k = key_of(c, i);
            if (i >= n || seen[i]++)
                problem = "a pair twice in one epoch";
            if (k < prev)
                problem = "a batch is not sorted by length";
            prev = k;
            lo = k < lo ? k : lo;
            hi = k > hi ? k : hi;
        }
        if (o->max_tokens == 0) {
            if (bt.size > o->batch_size)
                problem = "batch too large";
            short_batches += bt.size < o->batch_size;
        } else if (bt.size > 1 && (uint64_t)bt.size * hi > o->max_tokens) {
            problem = "batch over the token budget";
        }
        if (n_in_pool < 1024) {
            pool_lo[n_in_pool] = lo;
            pool_hi[n_in_pool++] = hi;
        }
        if (*problem)
            break;
    }
    vknmt_batcher_destroy(b);
    free(seen);
    CHECK(!*problem, "epoch %llu: %s", (unsigned long long)epoch, problem);
    if (o->max_tokens == 0) {
        uint64_t pools = (n + (uint64_t)o->batch_size * o->sort_k_batches - 1) / (o->batch_size * o->sort_k_batches);
        CHECK(short_batches <= 2 * pools, "%llu short batches for %llu pools", (unsigned long long)short_batches,
              (unsigned long long)pools);
    }
}

static void test_batcher_epochs(th_env *env)
{
    (void)env;
    vknmt_corpus *c = synthetic(1000, 60);
    CHECK(c, "corpus");
    vknmt_batcher_options o = {.batch_size = 16, .sort_k_batches = 4, .seed = 7};
    run_epochs(c, &o);
    o = (vknmt_batcher_options){.batch_size = 80, .sort_k_batches = 20, .seed = 8}; /* one pool, 1000 < 1600 */
    if (!th_failed())
        run_epochs(c, &o);
    o = (vknmt_batcher_options){.batch_size = 7, .sort_k_batches = 1, .seed = 9, .no_shuffle = true};
    if (!th_failed())
        run_epochs(c, &o);
    o = (vknmt_batcher_options){.max_tokens = 500, .sort_k_batches = 5, .seed = 10};
    if (!th_failed())
        run_epochs(c, &o);
    o = (vknmt_batcher_options){.max_tokens = 30, .batch_size = 3, .seed = 11}; /* pairs over the budget alone */
    if (!th_failed())
        run_epochs(c, &o);
    vknmt_corpus_destroy(c);
}

static void test_batcher_sizes(th_env *env)
{
    (void)env;
    vknmt_corpus *c = synthetic(100, 10);
    CHECK(c, "corpus");
    /* 100 pairs, B 16, pools of 32: 32+32+32+4 -> batches 16,16 x3 and one of 4 */
    vknmt_batcher_options o = {.batch_size = 16, .sort_k_batches = 2, .seed = 3};
    vknmt_batcher *b;
    char err[256];
    vknmt_status s = vknmt_batcher_create(c, &o, &b, err, sizeof(err));
    uint32_t sizes[8], count = 0;
    vknmt_minibatch bt;
    while (s == VKNMT_OK && (s = vknmt_batcher_next(b, &bt)) == VKNMT_OK && bt.epoch == 0 && count < 8)
        sizes[count++] = bt.size;
    vknmt_batcher_destroy(b);
    vknmt_batcher_destroy(NULL);
    uint32_t full = 0, four = 0;
    for (uint32_t i = 0; i < count; i++) {
        full += sizes[i] == 16;
        four += sizes[i] == 4;
    }
    CHECK(s == VKNMT_OK && count == 7 && full == 6 && four == 1, "%u batches, %u of 16, %u of 4", count, full, four);

    vknmt_corpus *empty;
    CHECK(vknmt_corpus_create(&empty) == VKNMT_OK, "create");
    s = vknmt_batcher_create(empty, &o, &b, err, sizeof(err));
    vknmt_corpus_destroy(empty);
    vknmt_corpus_destroy(c);
    CHECK(s == VKNMT_ERR_USAGE && !b, "an empty corpus is refused");
}

/* A hash of the next `n` batches. */
static uint64_t batches_hash(vknmt_batcher *b, uint32_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (uint32_t i = 0; i < n; i++) {
        vknmt_minibatch bt;
        if (vknmt_batcher_next(b, &bt) != VKNMT_OK)
            return 0;
        uint64_t v[3] = {bt.size, bt.src_T, bt.tgt_T};
        for (int k = 0; k < 3; k++)
            h = (h ^ v[k]) * 0x100000001b3ull;
        for (uint32_t r = 0; r < bt.size; r++)
            h = (h ^ bt.pair[r]) * 0x100000001b3ull;
        for (size_t k = 0; k < (size_t)bt.size * bt.src_T; k++)
            h = (h ^ (uint32_t)bt.src[k]) * 0x100000001b3ull;
    }
    return h;
}

static void test_batcher_resume(th_env *env)
{
    (void)env;
    vknmt_corpus *c = synthetic(500, 30);
    CHECK(c, "corpus");
    const vknmt_batcher_options modes[2] = {{.batch_size = 10, .sort_k_batches = 4, .seed = 42},
                                            {.max_tokens = 200, .sort_k_batches = 3, .seed = 42}};
    char err[256];
    for (int m = 0; m < 2 && !th_failed(); m++) {
        vknmt_batcher *a = NULL, *b = NULL, *d = NULL;
        vknmt_batcher_options other = modes[m];
        other.seed = 43;
        bool made = vknmt_batcher_create(c, &modes[m], &a, err, sizeof(err)) == VKNMT_OK &&
                    vknmt_batcher_create(c, &modes[m], &b, err, sizeof(err)) == VKNMT_OK &&
                    vknmt_batcher_create(c, &other, &d, err, sizeof(err)) == VKNMT_OK;
        uint64_t ha = made ? batches_hash(a, 150) : 0, hb = made ? batches_hash(b, 150) : 1;
        uint64_t hd = made ? batches_hash(d, 150) : 0;
        vknmt_batcher_destroy(a);
        vknmt_batcher_destroy(b);
        vknmt_batcher_destroy(d);
        CHECK(made, "%s", err);
        CHECK(ha == hb && ha != 0, "mode %d: the same seed gives different batches", m);
        CHECK(hd != ha, "mode %d: another seed gives the same batches", m);

        /* stop after k batches, restore into a fresh batcher (different seed
         * in its options: the state's seed wins), compare what follows;
         * k = 4 ends the first pool in sentence mode, 50 and 97 lie across
         * the first epoch's end */
        static const uint32_t ks[] = {0, 1, 4, 37, 50, 97, 130};
        for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
            vknmt_batcher *x = NULL, *y = NULL;
            made = vknmt_batcher_create(c, &modes[m], &x, err, sizeof(err)) == VKNMT_OK &&
                   vknmt_batcher_create(c, &other, &y, err, sizeof(err)) == VKNMT_OK;
            vknmt_batcher_state st = {0};
            vknmt_status s = VKNMT_ERR_USAGE;
            uint64_t hx = 0, hy = 1;
            if (made) {
                batches_hash(x, ks[i]);
                vknmt_batcher_get_state(x, &st);
                s = vknmt_batcher_set_state(y, &st, err, sizeof(err));
                hx = batches_hash(x, 80);
                hy = batches_hash(y, 80);
            }
            vknmt_batcher_destroy(x);
            vknmt_batcher_destroy(y);
            CHECK(made && s == VKNMT_OK, "mode %d, k %u: %s", m, ks[i], err);
            CHECK(hx == hy, "mode %d: resuming after %u batches (epoch %llu pool %llu batch %llu) differs", m,
                  ks[i], (unsigned long long)st.epoch, (unsigned long long)st.pool, (unsigned long long)st.batch);
        }
    }

    /* states that do not fit are refused, and the batcher keeps its place */
    vknmt_batcher *x = NULL, *y = NULL;
    CHECK(vknmt_batcher_create(c, &modes[0], &x, err, sizeof(err)) == VKNMT_OK &&
              vknmt_batcher_create(c, &modes[0], &y, err, sizeof(err)) == VKNMT_OK,
          "%s", err);
    batches_hash(x, 3);
    batches_hash(y, 3);
    vknmt_batcher_state st;
    vknmt_batcher_get_state(x, &st);
    vknmt_batcher_state wrong_pairs = st, wrong_pool = st, wrong_batch = st;
    wrong_pairs.pairs = 499;
    wrong_pool.pool = 13; /* 500 pairs / 40 per pool = 13 pools: 0..12 */
    wrong_batch.batch = 5;
    vknmt_status s1 = vknmt_batcher_set_state(x, &wrong_pairs, err, sizeof(err));
    bool names = strstr(err, "499") != NULL;
    vknmt_status s2 = vknmt_batcher_set_state(x, &wrong_pool, err, sizeof(err));
    vknmt_status s3 = vknmt_batcher_set_state(x, &wrong_batch, err, sizeof(err));
    uint64_t hx = batches_hash(x, 20), hy = batches_hash(y, 20);
    vknmt_batcher_destroy(x);
    vknmt_batcher_destroy(y);
    vknmt_corpus_destroy(c);
    CHECK(s1 == VKNMT_ERR_USAGE && names, "wrong pair count: %s", vknmt_status_name(s1));
    CHECK(s2 == VKNMT_ERR_USAGE && s3 == VKNMT_ERR_USAGE, "out-of-range states: %s %s", vknmt_status_name(s2),
          vknmt_status_name(s3));
    CHECK(hx == hy, "a refused state moved the batcher");
}

void th_register_text(void)
{
    th_add("text", "tokenize_punct", test_tokenize_punct);
    th_add("text", "tokenize_modes", test_tokenize_modes);
    th_add("text", "tokenize_invalid", test_tokenize_invalid);
    th_add("text", "detokenize", test_detokenize);
    th_add("text", "vocab_build", test_vocab_build);
    th_add("text", "vocab_files", test_vocab_files_run);
    th_add("text", "corpus_errors", test_corpus_errors_run);
    th_add("text", "corpus_skips", test_corpus_skips_run);
    th_add("text", "corpus_bible", test_corpus_bible);
    th_add("text", "batcher_epochs", test_batcher_epochs);
    th_add("text", "batcher_sizes", test_batcher_sizes);
    th_add("text", "batcher_resume", test_batcher_resume);
}
