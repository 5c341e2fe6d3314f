/* The PyTorch reference's decoding figures for vknmt bench decode:
 * shared/ref/bench_cpu.py --no-train, run as a child process. */
#ifndef VKNMT_DECODE_REFERENCE_H
#define VKNMT_DECODE_REFERENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Sentences/s and target steps/s of greedy batch 1, greedy batch B, beam 5
 * and beam 12 (batch 1). */
typedef struct vknmt_ref_decode {
    double sent[4], steps[4];
    bool ok;
} vknmt_ref_decode;

/* The reference's own corpus filter (bench_cpu.py read_corpus): a pair it
 * keeps has 1..50 source words and 1..49 target words (then </s>). */
enum { VKNMT_REF_MAX_SRC_WORDS = 50, VKNMT_REF_MAX_TGT_WORDS = 49 };

/* Runs bench_cpu.py in ref_dir on `n` sentences drawn from data_dir's
 * train.{es,en}, greedy batches of `batch`; `tuned`: --thp --threads 1
 * (huge pages, one torch thread), else --threads 2. Its output goes to
 * stderr, prefixed; r->ok says whether it exited well with its greedy and
 * beam figures read. */
void vknmt_ref_decode_run(const char *ref_dir, const char *data_dir, const char *preset, int n, int batch, bool tuned,
                          vknmt_ref_decode *r);

/* Keeps in `best` the faster of its figures and `other`'s, figure by figure. */
void vknmt_ref_decode_best(vknmt_ref_decode *best, const vknmt_ref_decode *other);

/* A fresh folder (under $TMPDIR or /tmp) whose train.es and train.en are
 * exactly these n pairs, so that the reference, given it as --data with
 * --decode-n n, decodes the very sentences we do, each for its target's
 * length. Every pair must pass the reference's filter above. Writes the
 * folder's path into dir; false (said on stderr) on failure. */
bool vknmt_ref_data_create(char *dir, size_t cap, const char *const *src, const char *const *tgt, uint32_t n);
/* Removes what vknmt_ref_data_create made. */
void vknmt_ref_data_remove(const char *dir);

#endif
