/* OpenBLAS through dlopen (see openblas.h). */
#include "openblas.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

/* The CBLAS standard's enumerators (cblas.h), passed as the unsigned int
 * that GCC and Clang give an enumeration without negative values. */
enum { CBLAS_ROW_MAJOR = 101, CBLAS_NO_TRANS = 111, CBLAS_TRANS = 112 };

typedef void sgemm_fn(unsigned order, unsigned ta, unsigned tb, int m, int n, int k, float alpha, const float *a,
                      int lda, const float *b, int ldb, float beta, float *c, int ldc);

struct vknmt_openblas {
    void *lib;
    sgemm_fn *sgemm;
    void (*set_threads)(int);
    char *(*corename)(void);
};

vknmt_openblas *vknmt_openblas_open(char *err, size_t err_size)
{
    const char *chosen = getenv("VKNMT_OPENBLAS"), *names[2] = {"libopenblas.so.0", "libopenblas.so"};
    bool own = chosen && *chosen;
    if (own)
        names[0] = chosen;
    void *lib = NULL;
    for (size_t i = 0; i < (own ? 1u : 2u) && !lib; i++)
        lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        const char *why = dlerror();
        snprintf(err, err_size, "OpenBLAS, the yardstick, cannot be loaded (%s): apt-get install libopenblas0%s",
                 why ? why : names[0], own ? ", or fix VKNMT_OPENBLAS" : "");
        return NULL;
    }
    vknmt_openblas *b = calloc(1, sizeof(*b));
    if (b) {
        b->lib = lib;
        /* POSIX: a void * from dlsym converts to a function pointer */
        *(void **)&b->sgemm = dlsym(lib, "cblas_sgemm");
        *(void **)&b->set_threads = dlsym(lib, "openblas_set_num_threads");
        *(void **)&b->corename = dlsym(lib, "openblas_get_corename");
    }
    if (!b || !b->sgemm || !b->set_threads || !b->corename) {
        snprintf(err, err_size, "%s", b ? "libopenblas.so.0 lacks cblas_sgemm or openblas_*: not OpenBLAS?"
                                         : "out of memory");
        free(b);
        dlclose(lib);
        return NULL;
    }
    return b;
}

void vknmt_openblas_close(vknmt_openblas *blas)
{
    if (!blas)
        return;
    dlclose(blas->lib);
    free(blas);
}

void vknmt_openblas_sgemm(const vknmt_openblas *blas, bool ta, bool tb, int m, int n, int k, const float *a, int lda,
                          const float *b, int ldb, float *c, int ldc)
{
    blas->sgemm(CBLAS_ROW_MAJOR, ta ? CBLAS_TRANS : CBLAS_NO_TRANS, tb ? CBLAS_TRANS : CBLAS_NO_TRANS, m, n, k, 1.0f,
                a, lda, b, ldb, 0.0f, c, ldc);
}

void vknmt_openblas_set_threads(const vknmt_openblas *blas, int threads) { blas->set_threads(threads); }

const char *vknmt_openblas_corename(const vknmt_openblas *blas) { return blas->corename(); }
