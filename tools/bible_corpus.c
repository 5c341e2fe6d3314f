/* The Bible corpus maker (bible_corpus.h): read both dumps, clean every
 * verse, repair, learn a lexicon from the verses keyed alike, align each
 * book, write the splits. */
#include "bible_corpus.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bible_internal.h"
#include "osis_text.h"
#include "tokenize.h"
#include "verse_align.h"

struct vknmt_bible {
    /* owned, `count` each: the reference, both texts, the split */
    char **ref, **src, **tgt;
    vknmt_bible_split *split;
    size_t count, cap;
};

/* ---- cleaning ---- */

static void verses_free(bible_verse *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i].text);
    free(v);
}

/* Every entry of `imp` as plain text (empty when nothing is left). */
static vknmt_status verses_clean(const bible_imp *imp, const vknmt_osis_options *opt, bible_verse **out, char *err,
                                 size_t err_size)
{
    bible_verse *v = calloc(imp->count ? imp->count : 1, sizeof(*v));
    *out = NULL;
    if (!v) {
        snprintf(err, err_size, "out of memory");
        return VKNMT_ERR_OOM_HOST;
    }
    for (size_t i = 0; i < imp->count; i++) {
        const bible_entry *e = &imp->entry[i];
        char why[160];
        vknmt_status st = vknmt_osis_to_text(e->osis, e->len, opt, &v[i].text, why, sizeof(why));
        if (st != VKNMT_OK) {
            snprintf(err, err_size, "%s:%llu: %s", imp->name, (unsigned long long)e->line + 1, why);
            verses_free(v, imp->count);
            return st;
        }
        v[i].book = e->book;
        v[i].chapter = e->chapter;
        v[i].verse = e->verse;
        v[i].line = e->line;
    }
    *out = v;
    return VKNMT_OK;
}

/* ---- the corpus ---- */

static bool corpus_add(vknmt_bible *b, const bible_verse *s, const bible_verse *t)
{
    if (b->count == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 4096;
        char **ref = realloc(b->ref, cap * sizeof(*ref));
        if (ref)
            b->ref = ref;
        char **src = realloc(b->src, cap * sizeof(*src));
        if (src)
            b->src = src;
        char **tgt = realloc(b->tgt, cap * sizeof(*tgt));
        if (tgt)
            b->tgt = tgt;
        vknmt_bible_split *split = realloc(b->split, cap * sizeof(*split));
        if (split)
            b->split = split;
        if (!ref || !src || !tgt || !split)
            return false;
        b->cap = cap;
    }
    char ref[64];
    snprintf(ref, sizeof(ref), "%s %u:%u", bible_books[t->book].osis, t->chapter, t->verse);
    size_t i = b->count;
    b->ref[i] = strdup(ref);
    b->src[i] = strdup(s->text);
    b->tgt[i] = strdup(t->text);
    b->split[i] = bible_books[t->book].split;
    b->count++;
    return b->ref[i] && b->src[i] && b->tgt[i];
}

/* The lexicon from the verse pairs with the same key, both non-empty. The
 * dumps are in canonical order, so one merge walk finds them. */
static vknmt_status lexicon_learn(const bible_verse *s, size_t ns, const bible_verse *t, size_t nt,
                                  vknmt_verse_lexicon **out)
{
    vknmt_status st = vknmt_verse_lexicon_create(out);
    for (size_t i = 0, j = 0; st == VKNMT_OK && i < ns && j < nt;) {
        long d = s[i].book != t[j].book       ? (long)s[i].book - t[j].book
                 : s[i].chapter != t[j].chapter ? (long)s[i].chapter - (long)t[j].chapter
                                                : (long)s[i].verse - (long)t[j].verse;
        if (d < 0) {
            i++;
        } else if (d > 0) {
            j++;
        } else {
            if (s[i].text[0] && t[j].text[0])
                st = vknmt_verse_lexicon_add(*out, s[i].text, t[j].text);
            i++;
            j++;
        }
    }
    if (st == VKNMT_OK)
        st = vknmt_verse_lexicon_build(*out);
    return st;
}

/* The non-empty verses of `book` in v[*pos..), from *pos on (advanced past
 * the book). */
static size_t book_verses(const bible_verse *v, size_t n, size_t *pos, int book, const bible_verse **list,
                          const char **text)
{
    size_t k = 0;
    while (*pos < n && v[*pos].book < book)
        ++*pos;
    for (; *pos < n && v[*pos].book == book; ++*pos)
        if (v[*pos].text[0]) {
            list[k] = &v[*pos];
            text[k++] = v[*pos].text;
        }
    return k;
}

static vknmt_status align_books(vknmt_bible *b, const vknmt_verse_lexicon *lex, const bible_verse *s, size_t ns,
                                const bible_verse *t, size_t nt, char *err, size_t err_size)
{
    vknmt_status st = VKNMT_ERR_OOM_HOST;
    const bible_verse **ls = malloc((ns + 1) * sizeof(*ls)), **lt = malloc((nt + 1) * sizeof(*lt));
    const char **ts = malloc((ns + 1) * sizeof(*ts)), **tt = malloc((nt + 1) * sizeof(*tt));
    if (!ls || !lt || !ts || !tt)
        goto free_lists;
    size_t ps = 0, pt = 0;
    for (int book = 0; book < BIBLE_BOOKS; book++) {
        size_t ks = book_verses(s, ns, &ps, book, ls, ts), kt = book_verses(t, nt, &pt, book, lt, tt);
        vknmt_verse_pair *pairs;
        uint32_t np;
        st = vknmt_verse_align(lex, ts, (uint32_t)ks, tt, (uint32_t)kt, &pairs, &np);
        if (st != VKNMT_OK) {
            snprintf(err, err_size, "%s: %s", bible_books[book].osis,
                     st == VKNMT_ERR_OOM_HOST ? "out of memory" : "the verses could not be aligned");
            goto free_lists;
        }
        for (uint32_t k = 0; k < np; k++)
            if (!corpus_add(b, ls[pairs[k].src], lt[pairs[k].tgt])) {
                free(pairs);
                st = VKNMT_ERR_OOM_HOST;
                snprintf(err, err_size, "out of memory");
                goto free_lists;
            }
        free(pairs);
    }
    st = VKNMT_OK;
free_lists:
    if (st == VKNMT_ERR_OOM_HOST)
        snprintf(err, err_size, "out of memory");
    free(ls);
    free(lt);
    free(ts);
    free(tt);
    return st;
}

vknmt_status vknmt_bible_build(const vknmt_bible_options *opt, vknmt_bible **out, char *err, size_t err_size)
{
    static const vknmt_bible_options defaults = {0};
    *out = NULL;
    if (!opt)
        opt = &defaults;
    const char *src_module = opt->src_module ? opt->src_module : "spaRV1909eb";
    const char *tgt_module = opt->tgt_module ? opt->tgt_module : "engWEB2015eb";
    bible_imp si = {0}, ti = {0};
    bible_verse *sv = NULL, *tv = NULL;
    vknmt_verse_lexicon *lex = NULL;
    vknmt_bible *b = NULL;
    vknmt_status st = bible_imp_read(opt->src_imp, src_module, &si, err, err_size);
    if (st != VKNMT_OK)
        return st;
    st = bible_imp_read(opt->tgt_imp, tgt_module, &ti, err, err_size);
    if (st != VKNMT_OK)
        goto free_src_imp;

    vknmt_osis_options so = {.keep_psalm_titles = true, .space_glued_words = true, .join = bible_es_join};
    vknmt_osis_options to = {.keep_psalm_titles = true, .cut_at_inner_preverse = true};
    st = verses_clean(&si, &so, &sv, err, err_size);
    if (st != VKNMT_OK)
        goto free_tgt_imp;
    st = verses_clean(&ti, &to, &tv, err, err_size);
    if (st != VKNMT_OK)
        goto free_src_verses;
    st = bible_es_repair(sv, si.count);
    if (st != VKNMT_OK) {
        snprintf(err, err_size, "out of memory");
        goto free_tgt_verses;
    }
    bible_en_repair(tv, ti.count);

    st = lexicon_learn(sv, si.count, tv, ti.count, &lex);
    if (st != VKNMT_OK) {
        snprintf(err, err_size, "out of memory");
        goto free_lexicon;
    }
    b = calloc(1, sizeof(*b));
    if (!b) {
        st = VKNMT_ERR_OOM_HOST;
        snprintf(err, err_size, "out of memory");
        goto free_lexicon;
    }
    st = align_books(b, lex, sv, si.count, tv, ti.count, err, err_size);
    if (st != VKNMT_OK) {
        vknmt_bible_destroy(b);
        b = NULL;
    }
    *out = b;
free_lexicon:
    vknmt_verse_lexicon_destroy(lex);
free_tgt_verses:
    verses_free(tv, ti.count);
free_src_verses:
    verses_free(sv, si.count);
free_tgt_imp:
    bible_imp_free(&ti);
free_src_imp:
    bible_imp_free(&si);
    return st;
}

void vknmt_bible_destroy(vknmt_bible *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->count; i++) {
        free(b->ref[i]);
        free(b->src[i]);
        free(b->tgt[i]);
    }
    free(b->ref);
    free(b->src);
    free(b->tgt);
    free(b->split);
    free(b);
}

size_t vknmt_bible_size(const vknmt_bible *b)
{
    return b->count;
}

vknmt_bible_pair vknmt_bible_pair_at(const vknmt_bible *b, size_t i)
{
    return (vknmt_bible_pair){.ref = b->ref[i], .src = b->src[i], .tgt = b->tgt[i], .split = b->split[i]};
}

/* ---- writing ---- */

/* Writes the lines of one split and side into dir/name through a temporary
 * file, fsync and rename: a reader sees the old file or the whole new one. */
static vknmt_status write_file(const vknmt_bible *b, vknmt_bible_split split, char *const *lines, const char *dir,
                               const char *name, char *err, size_t err_size)
{
    char path[4096], tmp[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, name);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        return VKNMT_ERR_IO;
    }
    FILE *f = fdopen(fd, "w");
    if (!f) {
        snprintf(err, err_size, "%s: %s", path, strerror(errno));
        close(fd);
        unlink(tmp);
        return VKNMT_ERR_IO;
    }
    bool ok = true;
    for (size_t i = 0; ok && i < b->count; i++)
        if (b->split[i] == split)
            ok = fputs(lines[i], f) >= 0 && fputc('\n', f) != EOF;
    ok = ok && fflush(f) == 0 && fsync(fd) == 0;
    int saved = errno;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, err_size, "%s: %s", path, strerror(ok ? errno : saved));
        unlink(tmp);
        return VKNMT_ERR_IO;
    }
    return VKNMT_OK;
}

vknmt_status vknmt_bible_write(const vknmt_bible *b, const char *dir, vknmt_bible_split_stats *stats, char *err,
                               size_t err_size)
{
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
        snprintf(err, err_size, "%s: %s", dir, strerror(errno));
        return VKNMT_ERR_IO;
    }
    static const char *const ext[3] = {"es", "en", "ref"};
    char *const *side[3] = {b->src, b->tgt, b->ref};
    for (int s = 0; s < VKNMT_BIBLE_SPLITS; s++) {
        vknmt_bible_split_stats st = {0};
        for (size_t i = 0; i < b->count; i++)
            if (b->split[i] == (vknmt_bible_split)s) {
                st.pairs++;
                st.src_words += vknmt_count_words(b->src[i]);
                st.tgt_words += vknmt_count_words(b->tgt[i]);
            }
        for (int k = 0; k < 3; k++) {
            char name[64];
            snprintf(name, sizeof(name), "%s.%s", vknmt_bible_split_name((vknmt_bible_split)s), ext[k]);
            vknmt_status r = write_file(b, (vknmt_bible_split)s, side[k], dir, name, err, err_size);
            if (r != VKNMT_OK)
                return r;
        }
        if (stats)
            stats[s] = st;
    }
    /* the renames are durable once the directory is */
    int dfd = open(dir, O_RDONLY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return VKNMT_OK;
}
