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

/* Wall-clock seconds from a monotonic clock. */
double vknmt_bench_now(void);

#endif
