/* What the parts of the Bible corpus maker share (bible_corpus.h is the
 * public face): the book table, the mod2imp dump reader, the per-text
 * repairs. */
#ifndef VKNMT_BIBLE_INTERNAL_H
#define VKNMT_BIBLE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bible_corpus.h"

/* ---- bible_books.c ---- */

typedef struct bible_book {
    const char *sword; /* the name in mod2imp keys ("I Samuel") */
    const char *osis;  /* the OSIS id ("1Sam") */
    vknmt_bible_split split;
    bool subscription; /* RV1909 appends a subscription to its last verse */
} bible_book;

#define BIBLE_BOOKS 66
extern const bible_book bible_books[BIBLE_BOOKS];

/* The index of the book named `name` (len bytes) in mod2imp keys; -1 for a
 * book outside the 66 (WEB's deuterocanon). */
int bible_book_find(const char *name, size_t len);

/* ---- bible_imp.c ---- */

/* One verse entry of a dump. */
typedef struct bible_entry {
    int book;               /* index in bible_books */
    uint32_t chapter, verse; /* as keyed; both >= 1 */
    const char *osis;       /* borrowed from the dump: the raw OSIS */
    size_t len;
    uint64_t line;          /* of its key line */
} bible_entry;

typedef struct bible_imp {
    char name[256];     /* the file, or "mod2imp MODULE", for messages */
    char *data;         /* owned: the whole dump */
    bible_entry *entry; /* owned: the entries of the 66 books, in file order */
    size_t count;
} bible_imp;

/* Reads the dump at `path`, or (path NULL) runs `mod2imp module`. Keys
 * other than "$$$[ ... ]" headings must be "$$$BOOK C:V"; entries of books
 * outside the 66, and chapter or verse 0 (introductions), are skipped. */
vknmt_status bible_imp_read(const char *path, const char *module, bible_imp *imp, char *err, size_t err_size);
void bible_imp_free(bible_imp *imp);

/* ---- bible_fixes.c ---- */

/* A verse's cleaned text in one translation (owned), its key. */
typedef struct bible_verse {
    int book;
    uint32_t chapter, verse;
    uint64_t line;
    char *text;
} bible_verse;

/* The enclitic-pronoun test for RV1909's glued words (vknmt_osis_join_fn). */
bool bible_es_join(void *user, const char *before, size_t before_len, const char *word, size_t word_len, bool added);

/* The RV1909 repairs on all verses (in file order): Ps 119's acrostic
 * letters and the epistle subscriptions removed, all-caps chapter openings
 * re-cased by the casing the word has elsewhere. */
vknmt_status bible_es_repair(bible_verse *v, size_t n);
/* The WEB repairs: Matt 23:13 and 23:14 swapped back. */
void bible_en_repair(bible_verse *v, size_t n);

#endif
