/* A word tokenizer for plain UTF-8 text in any language, and its inverse
 * for output. One line in, a list of tokens out.
 *
 * vknmt_tokenizer_run does, in order:
 *  1. validates UTF-8 (overlong forms, surrogates and values past U+10FFFF
 *     are invalid too) -> VKNMT_ERR_INPUT, "invalid UTF-8 at byte N" (1-based);
 *  2. NFC-normalises (utf8proc: COMPOSE | STABLE), so a decomposed "e"+U+0301
 *     and a composed U+00E9 give the same token;
 *  3. lowercases every code point (utf8proc_tolower) when asked;
 *  4. splits on white space: categories Zs, Zl, Zp, Cc (tab, CR, LF, NUL ...)
 *     and U+FEFF (a byte-order mark left at the start of a file);
 *  5. unless `pretokenized`, splits punctuation and symbols (categories P*
 *     and S*) from words, each such character its own token:
 *     "¿Dónde está?" -> ¿ Dónde está ?    "Dios," -> Dios ,
 *     with two exceptions that keep a word whole (choice):
 *       - an apostrophe (U+0027 or U+2019) between two letters stays inside
 *         the word: "don't", "God’s", "l'homme" are one token each; a leading
 *         or trailing apostrophe ("'tis", "dogs'") is split off as a quote;
 *       - a '.' or ',' between two decimal digits stays inside the number:
 *         "3.14", "1,000", "2,5" are one token each.
 *     Hyphens, slashes and colons always split ("well-known" -> well - known,
 *     "1:1" -> 1 : 1), as Moses' tokenizer in its aggressive mode.
 *     Combining marks (M*) always stay with the character before them.
 *
 * In `pretokenized` mode steps 1-4 still run, and tokens are exactly the
 * white-space separated pieces. */
#ifndef VKNMT_TOKENIZE_H
#define VKNMT_TOKENIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vknmt_status.h"

typedef struct vknmt_tokenize_options {
    bool lowercase;    /* lowercase every code point after NFC */
    bool pretokenized; /* split on white space only */
} vknmt_tokenize_options;

typedef struct vknmt_tokenizer vknmt_tokenizer;

/* `opt` may be NULL (defaults: no lowercasing, full tokenization). */
vknmt_status vknmt_tokenizer_create(const vknmt_tokenize_options *opt, vknmt_tokenizer **out);
void vknmt_tokenizer_destroy(vknmt_tokenizer *tk);

/* Tokenizes `len` bytes of `line` (no terminating NUL needed; a trailing
 * newline is white space). On success *tokens points to *count
 * NUL-terminated UTF-8 tokens, borrowed: valid until the next run or destroy.
 * Errors: VKNMT_ERR_INPUT (invalid UTF-8), VKNMT_ERR_OOM_HOST; the reason
 * goes to err (without file or line: the caller knows those). */
vknmt_status vknmt_tokenizer_run(vknmt_tokenizer *tk, const char *line, size_t len, const char *const **tokens,
                                 size_t *count, char *err, size_t err_size);

/* Joins tokens into one malloc'ed line (*out, the caller frees): one space
 * between tokens, except (best effort, choice)
 *  - none before a closing mark: , . ; : ! ? % ) ] } … and any character of
 *    category Pe (close) or Pf (final quote, e.g. » ” ’);
 *  - none after an opening mark: ¿ ¡ and any character of category Ps
 *    (open: ( [ {) or Pi (initial quote, e.g. « “ ‘);
 *  - straight quotes " and ' alternate: the 1st, 3rd ... opens (no space
 *    after), the 2nd, 4th ... closes (no space before).
 * Only single-character tokens are treated as marks. Languages that use
 * « » the other way round, or put a space before ! and ? (French), get the
 * Spanish/English convention. */
vknmt_status vknmt_detokenize(const char *const *tokens, size_t count, char **out);

/* Words of a pre-tokenized line: runs of characters other than space, tab,
 * CR and LF. */
uint64_t vknmt_count_words(const char *line);

#endif
