/* Benchmarks of the vknmt command (vknmt bench ...). */
#ifndef VKNMT_BENCH_H
#define VKNMT_BENCH_H

#include <stdbool.h>
#include <stdio.h>

#include "vknmt_runtime.h"

/* Called with the whole command line before anything else: re-executes the
 * process without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE so the OpenBLAS
 * yardstick runs its best kernels. Returns only if no re-exec happened. */
void vknmt_bench_prepare(char **argv);

/* GEMM on the device vs cblas_sgemm, one line per shape and transpose. */
int vknmt_bench_gemm(vknmt_context *ctx, bool json, FILE *out);

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

/* qsort comparator for doubles, ascending. */
int vknmt_bench_cmp_double(const void *a, const void *b);
/* Writes `s` as a JSON string (quoted and escaped, by cJSON). */
void vknmt_bench_json_string(FILE *out, const char *s);

/* Wall-clock seconds from a monotonic clock. */
double vknmt_bench_now(void);

#endif
