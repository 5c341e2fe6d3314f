/* OpenBLAS, the GEMM yardstick of `vknmt bench gemm`, loaded at run time:
 * the vknmt command neither links it nor needs it installed, and its
 * thread pool (which spins on sched_yield after each call) exists only in
 * a process that benchmarks against it. */
#ifndef VKNMT_OPENBLAS_H
#define VKNMT_OPENBLAS_H

#include <stdbool.h>
#include <stddef.h>

typedef struct vknmt_openblas vknmt_openblas;

/* Loads libopenblas.so.0 (Debian's libopenblas0), or the library
 * $VKNMT_OPENBLAS names; NULL with the reason in err when it cannot. OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE, read as
 * it loads, should be what the caller wants by then. */
vknmt_openblas *vknmt_openblas_open(char *err, size_t err_size);
void vknmt_openblas_close(vknmt_openblas *blas);

/* Row-major C[M,N] = A B (or its transposes, lda/ldb as cblas_sgemm). */
void vknmt_openblas_sgemm(const vknmt_openblas *blas, bool ta, bool tb, int m, int n, int k, const float *a, int lda,
                          const float *b, int ldb, float *c, int ldc);
void vknmt_openblas_set_threads(const vknmt_openblas *blas, int threads);
/* The kernel family it chose for this CPU, e.g. "Cooperlake". */
const char *vknmt_openblas_corename(const vknmt_openblas *blas);

#endif
