/* Benchmarks of the vknmt command (vknmt bench ...). */
#ifndef VKNMT_BENCH_H
#define VKNMT_BENCH_H

#include <stdbool.h>
#include <stdio.h>

#include "vknmt_runtime.h"

/* Called before any bench: drops OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE from
 * the environment (unless VKNMT_KEEP_OPENBLAS_CORETYPE is set) so the
 * OpenBLAS yardstick, loaded later, runs its best kernels. */
void vknmt_bench_prepare(void);

typedef struct vknmt_bench_shape {
    uint32_t m, n, k;
    const char *what;
} vknmt_bench_shape;

/* GEMM on the device vs cblas_sgemm, one line per shape and transpose: the
 * n_only shapes of `only`, or (n_only 0) the built-in list. */
int vknmt_bench_gemm(vknmt_context *ctx, const vknmt_bench_shape *only, size_t n_only, bool json, FILE *out);

typedef struct vknmt_bench_train_options {
    bool json;
    bool reference;      /* run shared/ref/bench_cpu.py now, else use its recorded figures */
    const char *preset;  /* "small", "paper", "all" or NULL (= all) */
    int steps;           /* timed steps; 0 = the preset's default (small 12, paper 3) */
    const char *src, *tgt; /* corpus files; NULL = shared/data/bible-es-en/train.{es,en} */
} vknmt_bench_train_options;

/* RNNsearch training steps at batch 80 on the real corpus, one line per
 * preset, beside the PyTorch reference. Each preset after the first runs in
 * a fresh context (cli->ctx is replaced) so its memory peak is its own. */
typedef struct vknmt_cli vknmt_cli;
int vknmt_bench_train(vknmt_cli *cli, const vknmt_bench_train_options *opt, FILE *out);

typedef struct vknmt_bench_decode_options {
    bool json;
    bool reference;     /* run shared/ref/bench_cpu.py --no-train now, else its recorded figures */
    const char *preset; /* "small" (NULL), "paper" or "all" */
    int sentences;      /* first N test sentences; 0 = 200 */
    const char *test;   /* NULL = shared/data/bible-es-en/test.es */
    const char *model;  /* a model file written by vknmt train instead of a preset's random init (NULL) */
    bool latency_only;  /* only the one-sentence latencies */
} vknmt_bench_decode_options;

/* Greedy and beam (1, 5, 12) decoding at batch 1 and 64 plus the latency of
 * one 25-word sentence, beside the reference's decoding figures. */
int vknmt_bench_decode(vknmt_cli *cli, const vknmt_bench_decode_options *opt, FILE *out);

/* qsort comparator for doubles, ascending. */
int vknmt_bench_cmp_double(const void *a, const void *b);
/* Writes `s` as a JSON string (quoted and escaped, by cJSON). */
void vknmt_bench_json_string(FILE *out, const char *s);

/* Regular file / directory exists. */
bool vknmt_bench_is_file(const char *path);
bool vknmt_bench_is_dir(const char *path);
/* shared/ (the corpus, the reference): $VKNMT_SHARED, else beside the
 * checkout of the binary, else ./shared or ../shared. */
bool vknmt_bench_find_shared(char *out, size_t size);
/* A number in JSON: printf'd with fmt, or null when not finite. */
void vknmt_bench_json_number(FILE *out, double v, const char *fmt);

/* Wall-clock seconds from a monotonic clock. */
double vknmt_bench_now(void);

#endif
