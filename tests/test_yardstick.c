/* The GEMM bench's yardstick, OpenBLAS loaded at run time (bench/openblas.c):
 * nothing links it, it multiplies as cblas_sgemm does, and a library that
 * cannot be loaded is a clear error. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "openblas.h"

/* Whether the library is mapped into this process now (/proc files have no
 * size to read them by: line by line). */
static bool openblas_mapped(void)
{
    FILE *f = fopen("/proc/self/maps", "r");
    char line[4096];
    bool found = false;
    while (f && !found && fgets(line, sizeof(line), f))
        found = strstr(line, "libopenblas") != NULL;
    if (f)
        fclose(f);
    return found;
}

static void test_sgemm(th_env *env)
{
    (void)env;
    CHECK(!openblas_mapped(), "libopenblas is mapped before the bench loads it: something links it");
    char err[512] = "";
    vknmt_openblas *blas = vknmt_openblas_open(err, sizeof(err));
    CHECK(blas, "%s", err);
    CHECK(openblas_mapped(), "loaded, but not mapped");
    CHECK(*vknmt_openblas_corename(blas), "no kernel name");
    vknmt_openblas_set_threads(blas, 1);
    /* C[M,N] = op(A) op(B) at an awkward size, every transpose, against plain C */
    enum { M = 7, N = 5, K = 13 };
    float a[M * K], b[K * N], c[M * N];
    th_fill_uniform(a, M * K, -1, 1);
    th_fill_uniform(b, K * N, -1, 1);
    for (int op = 0; op < 4 && !th_failed(); op++) {
        bool ta = op & 1, tb = op & 2;
        for (int i = 0; i < M * N; i++)
            c[i] = NAN; /* poisoned: beta is 0, every element must be written */
        vknmt_openblas_sgemm(blas, ta, tb, M, N, K, a, ta ? M : K, b, tb ? K : N, c, N);
        double worst = 0;
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double want = 0;
                for (int k = 0; k < K; k++)
                    want += (double)(ta ? a[k * M + i] : a[i * K + k]) * (tb ? b[j * K + k] : b[k * N + j]);
                double d = fabs(c[i * N + j] - want);
                worst = d > worst || d != d ? d : worst;
            }
        CHECK(worst < 1e-5, "ta %d tb %d: off by %g", ta, tb, worst);
    }
    vknmt_openblas_close(blas);
}

static void test_missing(th_env *env)
{
    (void)env;
    char err[512] = "";
    setenv("VKNMT_OPENBLAS", "/nonexistent/libopenblas-test.so", 1);
    vknmt_openblas *blas = vknmt_openblas_open(err, sizeof(err));
    unsetenv("VKNMT_OPENBLAS");
    CHECK(!blas, "a missing library loaded");
    CHECK(strstr(err, "/nonexistent/libopenblas-test.so") && strstr(err, "VKNMT_OPENBLAS"),
          "the error does not name the library: %s", err);
    vknmt_openblas_close(blas);
}

void th_register_yardstick(void)
{
    th_add("yardstick", "sgemm", test_sgemm);
    th_add("yardstick", "missing", test_missing);
}
