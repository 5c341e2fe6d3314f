/* Corpus BLEU, computed exactly as sacreBLEU 2.x computes it with its
 * defaults (metrics/bleu.py, tokenizers/tokenizer_13a.py; the signature
 * names version 2.5.1, whose BLEU code is unchanged since 2.0):
 *   BLEU(tokenize='13a', lowercase=False, smooth_method='exp',
 *        max_ngram_order=4, effective_order=False)
 * so that a score printed by vknmt can be compared with published ones.
 *
 * Per sentence (vknmt_bleu_add):
 *  1. the text must be valid UTF-8 (as Python's strict decoder: overlong
 *     forms, surrogates and values past U+10FFFF are invalid);
 *  2. with `lowercase`, Python's str.lower(): full lowercase mapping
 *     (U+0130 -> "i" U+0307, a final capital sigma -> U+03C2), the rest by
 *     utf8proc_tolower;
 *  3. Python's rstrip() (Unicode white space as str.isspace: also U+00A0,
 *     U+2000..U+200A, U+3000 ...);
 *  4. the 13a tokenizer of mteval-v13a.pl: remove "<skipped>", join "-\n",
 *     "\n" -> " ", &quot; &amp; &lt; &gt; -> " & < > (in that order), then
 *     split off ASCII punctuation and symbols (all of !"#$%&()*+/:;<=>?@[\]^_`{|}~),
 *     '.' and ',' unless both neighbours are digits (exactly: the regexes
 *     ([^0-9])([.,]) and ([.,])([^0-9]), applied one after the other), and
 *     '-' after a digit. Only ASCII is split: "¿Qué" and "a—b" stay one
 *     token each, as in sacreBLEU. The apostrophe is never split ("don't");
 *  5. tokens are the pieces between Python white space; n-grams of orders
 *     1..4. Clipped matches use, for every n-gram, the largest count in any
 *     one reference; the effective reference length is the reference length
 *     closest to the hypothesis length, ties to the shorter.
 * A reference that is the empty string is left out of that sentence (as
 * sacreBLEU does, for a variable number of references); a sentence whose
 * references are all empty is VKNMT_ERR_INPUT.
 *
 * Score (vknmt_bleu_compute): corpus sums of matches and totals per order,
 * precisions p_n = 100 * matches / total; 'exp' smoothing (mteval-v13a,
 * Chen & Cherry 2014 method 3): the k-th order with zero matches gets
 * p_n = 100 / (2^k * total); BLEU = BP * exp(mean of log p_n), with
 * BP = exp(1 - ref_len / hyp_len) when hyp_len < ref_len (0 when
 * hyp_len = 0), else 1. No match at all, or an order with no n-gram in the
 * hypotheses, gives BLEU 0. */
#ifndef VKNMT_BLEU_H
#define VKNMT_BLEU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vknmt_status.h"

#define VKNMT_BLEU_ORDER 4
/* the sacreBLEU release whose behaviour and signature are mimicked */
#define VKNMT_BLEU_SACREBLEU_VERSION "2.5.1"

typedef struct vknmt_bleu_options {
    bool lowercase; /* case:lc in the signature; default case:mixed */
} vknmt_bleu_options;

/* Sufficient statistics, summed over sentences. */
typedef struct vknmt_bleu_stats {
    uint64_t hyp_len; /* hypothesis tokens */
    uint64_t ref_len; /* effective reference tokens */
    uint64_t correct[VKNMT_BLEU_ORDER]; /* clipped n-gram matches, n = 1..4 */
    uint64_t total[VKNMT_BLEU_ORDER];   /* hypothesis n-grams */
} vknmt_bleu_stats;

typedef struct vknmt_bleu_score {
    double score;                        /* 0..100 */
    double precisions[VKNMT_BLEU_ORDER]; /* percent, smoothed */
    double bp;                           /* brevity penalty */
    double ratio;                        /* hyp_len / ref_len, 0 when ref_len = 0 */
    vknmt_bleu_stats stats;
} vknmt_bleu_score;

/* An accumulator of corpus statistics. */
typedef struct vknmt_bleu vknmt_bleu;

/* `opt` may be NULL (defaults: case-sensitive). */
vknmt_status vknmt_bleu_create(const vknmt_bleu_options *opt, vknmt_bleu **out);
void vknmt_bleu_destroy(vknmt_bleu *b);

/* Adds one sentence: the hypothesis and its `nrefs` >= 1 references, all
 * NUL-terminated UTF-8. Errors: VKNMT_ERR_USAGE (nrefs = 0, NULL text),
 * VKNMT_ERR_INPUT ("hypothesis: invalid UTF-8 at byte N" or "reference K:
 * ..." with K and N 1-based; every reference empty), VKNMT_ERR_OOM_HOST.
 * A failed call leaves the statistics as they were. */
vknmt_status vknmt_bleu_add(vknmt_bleu *b, const char *hyp, const char *const *refs, size_t nrefs, char *err,
                            size_t err_size);

/* The statistics so far, and the number of sentences added. */
vknmt_bleu_stats vknmt_bleu_get_stats(const vknmt_bleu *b);
uint64_t vknmt_bleu_sentences(const vknmt_bleu *b);

/* The score of `stats` (sacreBLEU's BLEU.compute_bleu with 'exp'). */
vknmt_bleu_score vknmt_bleu_compute(const vknmt_bleu_stats *stats);
/* The score of everything added so far. */
vknmt_bleu_score vknmt_bleu_corpus_score(const vknmt_bleu *b);

/* sacreBLEU's printed score, e.g.
 *   BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)
 * into out (truncated to out_size, always NUL-terminated); returns the
 * length the full line has, as snprintf. */
int vknmt_bleu_format(const vknmt_bleu_score *s, char *out, size_t out_size);

/* The signature, e.g. nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.5.1
 * (nrefs:var when sentences had different numbers of non-empty references,
 * nrefs:0 before any sentence). Returns as vknmt_bleu_format. */
int vknmt_bleu_signature(const vknmt_bleu *b, char *out, size_t out_size);

/* Steps 1-4 above on `len` bytes of `line`: the tokens joined by single
 * spaces, malloc'ed into *out (the caller frees). Errors: VKNMT_ERR_INPUT
 * ("invalid UTF-8 at byte N"), VKNMT_ERR_OOM_HOST. */
vknmt_status vknmt_bleu_tokenize_13a(const char *line, size_t len, bool lowercase, char **out, char *err,
                                     size_t err_size);

#endif
