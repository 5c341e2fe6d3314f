/* Vocabularies: token <-> id, with the four specials of the spec at fixed
 * ids, built from token counts, stored as UTF-8 text one token per line in
 * id order (the same text in a file or in a checkpoint's metadata). */
#ifndef VKNMT_VOCAB_H
#define VKNMT_VOCAB_H

#include <stddef.h>
#include <stdint.h>

#include "vknmt_status.h"

/* spec/rnnsearch.md, "Special token ids" */
enum {
    VKNMT_TOK_PAD = 0, /* <pad> */
    VKNMT_TOK_UNK = 1, /* <unk> */
    VKNMT_TOK_BOS = 2, /* <s> */
    VKNMT_TOK_EOS = 3, /* </s> */
    VKNMT_TOK_SPECIALS = 4,
};

/* ---- counting ---- */

/* Distinct tokens ("types") with their counts, numbered 0, 1, 2 ... in order
 * of first occurrence. */
typedef struct vknmt_vocab_counter vknmt_vocab_counter;

vknmt_status vknmt_vocab_counter_create(vknmt_vocab_counter **out);
void vknmt_vocab_counter_destroy(vknmt_vocab_counter *c);
/* Counts one occurrence of `tok` (NUL-terminated); *type (may be NULL)
 * receives its type number. */
vknmt_status vknmt_vocab_counter_add(vknmt_vocab_counter *c, const char *tok, uint32_t *type);
uint32_t vknmt_vocab_counter_types(const vknmt_vocab_counter *c);
/* Type t's token (borrowed) and count; t < types. */
const char *vknmt_vocab_counter_token(const vknmt_vocab_counter *c, uint32_t t);
uint64_t vknmt_vocab_counter_count(const vknmt_vocab_counter *c, uint32_t t);

/* ---- the vocabulary ---- */

typedef struct vknmt_vocab vknmt_vocab;

/* The `size` - 4 most frequent types after the four specials, so that the
 * vocabulary holds at most `size` entries in all (the spec's Vs and Vt count
 * the specials); fewer when the counter has fewer types. Order (choice):
 * count descending, ties by first occurrence, so the result is deterministic
 * and does not depend on the hash table. Tokens equal to a special's name are
 * not counted twice. size < 4 -> VKNMT_ERR_USAGE. */
vknmt_status vknmt_vocab_build(const vknmt_vocab_counter *c, uint32_t size, vknmt_vocab **out);
void vknmt_vocab_destroy(vknmt_vocab *v);

uint32_t vknmt_vocab_size(const vknmt_vocab *v);
/* The id of `tok`, or VKNMT_TOK_UNK when it is not in the vocabulary. */
int32_t vknmt_vocab_id(const vknmt_vocab *v, const char *tok);
/* The token of `id` (borrowed), or NULL when out of range. */
const char *vknmt_vocab_token(const vknmt_vocab *v, int32_t id);

/* The text form: every token followed by '\n', in id order. *out is
 * malloc'ed (the caller frees), NUL-terminated, *len bytes (len may be NULL). */
vknmt_status vknmt_vocab_to_string(const vknmt_vocab *v, char **out, size_t *len);
/* Parses the text form (the final '\n' and a '\r' before each '\n' are
 * optional). Checked: valid UTF-8, the four specials first and in order,
 * no empty line, no white space inside a token, no duplicate. A failure is
 * VKNMT_ERR_INPUT with "NAME:LINE: reason" in err; `name` says where the text
 * came from (a file name, "checkpoint metadata"). */
vknmt_status vknmt_vocab_from_string(const char *text, size_t len, const char *name, vknmt_vocab **out, char *err,
                                     size_t err_size);

/* The text form to or from a file. I/O failures are VKNMT_ERR_IO, naming the
 * file; load validates as vknmt_vocab_from_string. */
vknmt_status vknmt_vocab_save(const vknmt_vocab *v, const char *path, char *err, size_t err_size);
vknmt_status vknmt_vocab_load(const char *path, vknmt_vocab **out, char *err, size_t err_size);

#endif
