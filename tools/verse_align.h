/* Verse alignment of one book in two translations whose verse numbers do not
 * always agree: a dynamic program over the verse sequences (beads 1-1, 1-2,
 * 2-1, 1-0, 0-1) scored by a word-translation lexicon learnt from the data
 * (Dice coefficients of verse co-occurrence) and the length ratio; only the
 * 1-1 beads are returned. */
#ifndef VKNMT_VERSE_ALIGN_H
#define VKNMT_VERSE_ALIGN_H

#include <stddef.h>
#include <stdint.h>

#include "vknmt_status.h"

typedef struct vknmt_verse_lexicon vknmt_verse_lexicon;

vknmt_status vknmt_verse_lexicon_create(vknmt_verse_lexicon **out);
void vknmt_verse_lexicon_destroy(vknmt_verse_lexicon *lex);
/* One pair of verses believed parallel (the same key in both texts); words
 * are lower-cased runs of letters and digits. Call before _build. */
vknmt_status vknmt_verse_lexicon_add(vknmt_verse_lexicon *lex, const char *src, const char *tgt);
/* Keeps, for every word, its few best partners by Dice coefficient. */
vknmt_status vknmt_verse_lexicon_build(vknmt_verse_lexicon *lex);

typedef struct vknmt_verse_pair {
    uint32_t src, tgt; /* indices into the two verse arrays */
} vknmt_verse_pair;

/* Aligns src[0..ns) with tgt[0..nt) (the non-empty verses of one book, in
 * order) using the built lexicon (NULL: lengths only). *pairs (malloc'd,
 * *npairs entries, in order) receives the 1-1 beads. */
vknmt_status vknmt_verse_align(const vknmt_verse_lexicon *lex, const char *const *src, uint32_t ns,
                               const char *const *tgt, uint32_t nt, vknmt_verse_pair **pairs, uint32_t *npairs);

#endif
