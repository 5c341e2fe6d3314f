/* The Spanish->English Bible corpus made from Debian's SWORD modules:
 * Reina-Valera 1909 (spaRV1909eb, package sword-text-sparv) and the World
 * English Bible (engWEB2015eb, sword-text-web), dumped by mod2imp
 * (libsword-utils), cleaned of markup, aligned verse by verse and split by
 * whole books, as shared/data/bible-es-en/README.md describes. */
#ifndef VKNMT_BIBLE_CORPUS_H
#define VKNMT_BIBLE_CORPUS_H

#include <stddef.h>
#include <stdint.h>

#include "vknmt_status.h"

typedef enum vknmt_bible_split {
    VKNMT_BIBLE_TRAIN = 0,
    VKNMT_BIBLE_DEV = 1,
    VKNMT_BIBLE_TEST = 2,
    VKNMT_BIBLE_HELD_OUT = 3, /* kept for another team's evaluation: never written */
} vknmt_bible_split;

#define VKNMT_BIBLE_SPLITS 3 /* the written ones: train, dev, test */

typedef struct vknmt_bible_options {
    /* mod2imp dumps to read, or NULL: run `mod2imp MODULE` */
    const char *src_imp, *tgt_imp;
    /* SWORD modules (NULL: spaRV1909eb, engWEB2015eb) */
    const char *src_module, *tgt_module;
} vknmt_bible_options;

/* One aligned verse; the strings are borrowed from the corpus. */
typedef struct vknmt_bible_pair {
    const char *ref; /* OSIS book id, chapter:verse in KJV numbering ("Jonah 1:17") */
    const char *src, *tgt;
    vknmt_bible_split split;
} vknmt_bible_pair;

typedef struct vknmt_bible_split_stats {
    uint64_t pairs, src_words, tgt_words; /* words: runs of non-space */
} vknmt_bible_split_stats;

typedef struct vknmt_bible vknmt_bible;

/* Reads both texts (running mod2imp where no dump is given), cleans and
 * aligns them. Failures, with a one-line reason in err:
 *   VKNMT_ERR_IO    mod2imp is missing or fails (module not installed), a
 *                   dump cannot be read;
 *   VKNMT_ERR_INPUT a dump is malformed ("FILE:LINE: ...") or holds no
 *                   verse;
 *   VKNMT_ERR_OOM_HOST. */
vknmt_status vknmt_bible_build(const vknmt_bible_options *opt, vknmt_bible **out, char *err, size_t err_size);
void vknmt_bible_destroy(vknmt_bible *b);

/* All aligned verses in canonical order, held-out books included. */
size_t vknmt_bible_size(const vknmt_bible *b);
vknmt_bible_pair vknmt_bible_pair_at(const vknmt_bible *b, size_t i);

/* Writes DIR/{train,dev,test}.{es,en,ref} (DIR is created if missing), each
 * file through a temporary, fsync and rename; the held-out books go nowhere.
 * stats (may be NULL) receives VKNMT_BIBLE_SPLITS entries. */
vknmt_status vknmt_bible_write(const vknmt_bible *b, const char *dir, vknmt_bible_split_stats *stats, char *err,
                               size_t err_size);

/* The split of a book by its OSIS id ("Gen", "1Thess"); -1 if unknown. */
int vknmt_bible_book_split(const char *osis_id);
/* "train", "dev", "test", "held-out". */
const char *vknmt_bible_split_name(vknmt_bible_split s);

#endif
