/* The GEMM bench's yardstick, OpenBLAS loaded at run time (bench/openblas.c):
 * nothing links it, it multiplies as cblas_sgemm does, and a library that
 * cannot be loaded is a clear error. And the bench itself on small shapes. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
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

/* vknmt bench gemm --json on tiny shapes: a line for every shape and op,
 * each product right; NTp (W in panels) only where the few-rows GEMM serves,
 * so a K off quads is timed NN/NT/TN only instead of failing the run. */
static void test_bench_gemm(th_env *env)
{
    const vknmt_bench_shape shapes[] = {{1, 1, 1, "one"}, {3, 20, 8, "few rows"}, {2, 9, 6, "K off quads"}};
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    CHECK(out, "open_memstream");
    int rc = vknmt_bench_gemm(env->ctx, shapes, 3, true, out);
    fclose(out);
    CHECK(rc == 0, "bench gemm failed: %s", vknmt_context_errmsg(env->ctx));
    const char *want[] = {"1 NN", "1 NT", "1 TN", "3 NN", "3 NT", "3 TN", "3 NTp", "2 NN", "2 NT", "2 TN"};
    size_t lines = 0;
    for (char *line = strtok(text, "\n"); line && !th_failed(); line = strtok(NULL, "\n"), lines++) {
        cJSON *j = cJSON_Parse(line);
        const cJSON *shape = cJSON_GetObjectItem(j, "shape"), *op = cJSON_GetObjectItem(j, "op"),
                    *err = cJSON_GetObjectItem(j, "rel_err");
        CHECK(cJSON_IsArray(shape) && cJSON_IsString(op) && cJSON_IsNumber(err), "line %zu: %s", lines + 1, line);
        char got[32];
        snprintf(got, sizeof(got), "%d %s", cJSON_GetArrayItem(shape, 0)->valueint, op->valuestring);
        CHECK(lines < sizeof(want) / sizeof(want[0]) && !strcmp(got, want[lines]), "line %zu is %s", lines + 1, got);
        CHECK(err->valuedouble < 1e-4, "%s: rel. err. %g", got, err->valuedouble);
        cJSON_Delete(j);
    }
    CHECK(lines == sizeof(want) / sizeof(want[0]), "%zu lines", lines);
    free(text);
}

void th_register_yardstick(void)
{
    th_add("yardstick", "sgemm", test_sgemm);
    th_add("yardstick", "missing", test_missing);
    th_add("yardstick", "bench_gemm", test_bench_gemm);
}
