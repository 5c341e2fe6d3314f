/* Plain text of one verse of a SWORD module dumped as raw OSIS (mod2imp):
 * markup removed, footnotes and headings dropped, NFC, single spaces. */
#ifndef VKNMT_OSIS_TEXT_H
#define VKNMT_OSIS_TEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "vknmt_status.h"

/* Asked where two letters are separated only by inline tags (RV1909's
 * "hijo</w><transChange>á"): `before` is the plain text so far (it ends
 * with the letters of the word on the left), `word` the letters on the
 * right, `added` true when those are all the text of a <transChange>
 * element that starts there (one word the translators added:
 * "<transChange>lo</transChange>"). Returns true to
 * join the two into one word (an enclitic pronoun: "sáca" + "lo"), false to
 * put a space between. */
typedef bool (*vknmt_osis_join_fn)(void *user, const char *before, size_t before_len, const char *word,
                                   size_t word_len, bool added);

typedef struct vknmt_osis_options {
    /* Keep the text of <title canonical="true" type="psalm"> (a psalm's
     * heading, part of the Hebrew text), unless it is one upper-case word
     * (the letter names of Ps 119's acrostic). Other titles always go. */
    bool keep_psalm_titles;
    /* Two letters separated only by inline tags (<w>, <transChange>, ...)
     * belong to two words: a space goes between them unless `join` (may be
     * NULL) says otherwise. Off: the tags just vanish (WEB: "<w>God</w>s"
     * would stay one word). */
    bool space_glued_words;
    vknmt_osis_join_fn join;
    void *join_user; /* borrowed, passed to join */
    /* A pre-verse milestone after some text begins material that belongs
     * to another verse (WEB prints the Rom 16:25-27 doxology inside
     * Rom 14:23): the text ends there. */
    bool cut_at_inner_preverse;
} vknmt_osis_options;

/* Converts `len` bytes of OSIS to plain text (*out, malloc'd, NUL-ended; ""
 * when nothing is left). Removes every tag; drops <note> (footnotes and
 * cross-references), <title> (but see keep_psalm_titles), <speaker> and
 * everything from a glossary/introduction/front-matter <div> on; decodes
 * the XML entities; a dropped element or a block tag (<l>, <lb>, <div>, ...)
 * between two letters becomes a space, elsewhere it just vanishes; then NFC,
 * every run of white space becomes one space, trimmed.
 * VKNMT_ERR_INPUT (reason in err) for an unterminated tag or invalid UTF-8,
 * VKNMT_ERR_OOM_HOST when out of memory; *out is NULL on failure. */
vknmt_status vknmt_osis_to_text(const char *osis, size_t len, const vknmt_osis_options *opt, char **out, char *err,
                                size_t err_size);

/* Every run of Unicode white space in `s` becomes one ASCII space, leading
 * and trailing runs go; in place. */
void vknmt_text_squeeze_spaces(char *s);

#endif
