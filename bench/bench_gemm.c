/* vknmt bench gemm: device GEMM beside OpenBLAS cblas_sgemm, same process. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "openblas.h"
#include "vknmt_kernel.h" /* VKNMT_FEW_ROWS */

#define TARGET_SECONDS 0.4
#define RUNS 3

typedef vknmt_bench_shape shape;

/* The shapes: the model's output layer (2400x8000x256: 30 sentences
 * x 80 words by an 8000-word vocabulary), a decoder step's gate GEMM
 * (80x768x256), awkward sizes, the classic squares, and the weight gradients
 * of training (dW = dY^T X: op TN, K = the batch's tokens), and the few
 * rows of decoding one sentence (1 row greedy, K rows with beam K). */
static const shape shapes[] = {
    {1, 1, 1, "1x1x1"},
    {7, 13, 5, "awkward"},
    {129, 257, 63, "awkward"},
    {1, 768, 256, "gates, one sentence"},
    {1, 8000, 256, "logits, one sentence"},
    {5, 8000, 256, "logits, beam 5"},
    {5, 8000, 512, "deep output, beam 5"},
    {12, 768, 256, "gates, beam 12"},
    {80, 768, 256, "decoder gates"},
    {80, 3000, 256, "small vocab slice"},
    {2400, 8000, 256, "output layer"},
    {1024, 1024, 1024, "square"},
    {2048, 2048, 2048, "square"},
    {2400, 256, 8000, "output input grad"},
    {8000, 256, 2400, "output weight grad"},
    {768, 256, 2400, "gate weight grad"},
};

/* op(A) op(B): NN, NT (B is W[out,in]) and TN (A is dY[tokens,out]); NTp
 * is NT with W in the few-rows GEMM's panels (vknmt_panel_rows), where a
 * few-rows GEMM serves (decoding's output layer reads out.W so). */
static const char *const ops[] = {"NN", "NT", "TN", "NTp"};

double vknmt_bench_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Median seconds per call of `reps` device GEMMs recorded in one sequence. */
static vknmt_status time_device(vknmt_context *ctx, vknmt_seq *seq, const vknmt_gemm_args *g, int reps,
                                double *secs)
{
    double t[RUNS];
    for (int r = 0; r < RUNS; r++) {
        vknmt_status s = vknmt_seq_begin(seq);
        for (int i = 0; i < reps && s == VKNMT_OK; i++)
            s = vknmt_gemm(seq, g);
        if (s)
            return s;
        double t0 = vknmt_bench_now();
        if ((s = vknmt_seq_submit(seq)))
            return s;
        t[r] = (vknmt_bench_now() - t0) / reps;
    }
    (void)ctx;
    qsort(t, RUNS, sizeof(double), vknmt_bench_cmp_double);
    *secs = t[RUNS / 2];
    return VKNMT_OK;
}

/* The device's multiply-add ceiling (vknmt_madd_chains): 2^18 invocations,
 * enough to fill a large GPU, and steps doubled until a dispatch takes
 * 0.1 s; the median of RUNS dispatches. */
static vknmt_status time_ceiling(vknmt_context *ctx, vknmt_seq *seq, double *gflops)
{
    const uint32_t n = 1u << 18;
    vknmt_buffer *buf = NULL;
    vknmt_status s = vknmt_buffer_create(ctx, (uint64_t)n * 4, &buf);
    uint32_t iters = 16;
    double t[RUNS] = {0};
    for (int r = 0; r < RUNS && s == VKNMT_OK;) {
        if ((s = vknmt_seq_begin(seq)) || (s = vknmt_madd_chains(seq, vknmt_at(buf, 0), n, iters, 0.9f, 0.01f)))
            break;
        double t0 = vknmt_bench_now();
        if ((s = vknmt_seq_submit(seq)))
            break;
        t[r] = vknmt_bench_now() - t0;
        if (t[r] < 0.1 && iters < (1u << 24))
            iters *= 2; /* calibrating: this run does not count */
        else
            r++;
    }
    vknmt_buffer_destroy(buf);
    if (s)
        return s;
    qsort(t, RUNS, sizeof(double), vknmt_bench_cmp_double);
    *gflops = 2.0 * VKNMT_MADD_CHAINS * n * iters / t[RUNS / 2] * 1e-9;
    return VKNMT_OK;
}

static double time_blas(const vknmt_openblas *blas, const shape *sh, bool ta, bool tb, const float *a,
                        const float *b, float *c, int reps)
{
    double t[RUNS];
    for (int r = 0; r < RUNS; r++) {
        double t0 = vknmt_bench_now();
        for (int i = 0; i < reps; i++)
            vknmt_openblas_sgemm(blas, ta, tb, (int)sh->m, (int)sh->n, (int)sh->k, a, ta ? (int)sh->m : (int)sh->k, b,
                                 tb ? (int)sh->k : (int)sh->n, c, (int)sh->n);
        t[r] = (vknmt_bench_now() - t0) / reps;
    }
    qsort(t, RUNS, sizeof(double), vknmt_bench_cmp_double);
    return t[RUNS / 2];
}

int vknmt_bench_gemm(vknmt_context *ctx, const vknmt_bench_shape *only, size_t n_only, bool json, FILE *out)
{
    const vknmt_caps *caps = vknmt_context_caps(ctx);
    char err[512];
    vknmt_openblas *blas = vknmt_openblas_open(err, sizeof(err));
    if (!blas) {
        fprintf(stderr, "vknmt bench gemm: %s\n", err);
        return 1;
    }
    int threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    vknmt_openblas_set_threads(blas, threads);
    const char *corename = vknmt_openblas_corename(blas);
    vknmt_seq *seq = NULL;
    double ceiling = 0;
    vknmt_status s = vknmt_seq_create(ctx, &seq);
    if (s == VKNMT_OK)
        s = time_ceiling(ctx, seq, &ceiling);
    if (!json && s == VKNMT_OK) {
        fprintf(out, "device: %s (%s %s)\n", caps->info.name, caps->info.driver_name, caps->info.driver_info);
        fprintf(out, "ceiling: %.1f GF/s, fp32 multiply-adds in registers (%d chains an invocation) as the driver "
                "compiles them\n", ceiling, VKNMT_MADD_CHAINS);
        fprintf(out, "yardstick: OpenBLAS cblas_sgemm, %d threads, kernel %s\n", threads, corename);
        fprintf(out, "%-16s %-3s %10s %8s %10s %7s %9s  %s\n", "M x N x K", "op", "GF/s", "ceiling", "OpenBLAS",
                "ratio", "rel.err", "what");
    }
    int rc = 0;
    const shape *list = n_only ? only : shapes;
    size_t n_list = n_only ? n_only : sizeof(shapes) / sizeof(shapes[0]);
    for (size_t si = 0; si < n_list && s == VKNMT_OK; si++) {
        const shape *sh = &list[si];
        size_t na = (size_t)sh->m * sh->k, nb = (size_t)sh->k * sh->n, nc = (size_t)sh->m * sh->n;
        float *a = malloc(na * 4), *b = malloc(nb * 4), *c = malloc(nc * 4), *dev = malloc(nc * 4);
        vknmt_buffer *ba = NULL, *bb = NULL, *bc = NULL, *bp = NULL;
        /* panels only where the few-rows GEMM serves: it reads A's rows on quads */
        uint64_t np = sh->m <= VKNMT_FEW_ROWS && sh->k % 4 == 0 ? vknmt_panel_floats(ctx, sh->n, sh->k) : 0;
        if (!a || !b || !c || !dev) {
            s = VKNMT_ERR_OOM_HOST;
            goto next;
        }
        srand(7);
        for (size_t i = 0; i < na; i++)
            a[i] = (float)rand() / RAND_MAX - 0.5f;
        for (size_t i = 0; i < nb; i++)
            b[i] = (float)rand() / RAND_MAX - 0.5f;
        if ((s = vknmt_buffer_create(ctx, na * 4, &ba)) || (s = vknmt_buffer_create(ctx, nb * 4, &bb)) ||
            (s = vknmt_buffer_create(ctx, nc * 4, &bc)) || (s = vknmt_buffer_upload(ba, 0, a, na * 4)) ||
            (s = vknmt_buffer_upload(bb, 0, b, nb * 4)))
            goto next;
        if (np && ((s = vknmt_buffer_create(ctx, np * 4, &bp)) || (s = vknmt_seq_begin(seq)) ||
                   (s = vknmt_panel_rows(seq, vknmt_at(bb, 0), sh->k, sh->n, sh->k, vknmt_at(bp, 0))) ||
                   (s = vknmt_seq_submit(seq))))
            goto next;
        for (int op = 0; op < (np ? 4 : 3) && s == VKNMT_OK; op++) {
            /* A and B hold the same numbers either way; transposed means read
             * as [K,M] or [N,K]. */
            bool ta = op == 2, tb = op == 1 || op == 3;
            vknmt_gemm_args g = {.m = sh->m, .n = sh->n, .k = sh->k, .trans_a = ta, .trans_b = tb, .alpha = 1, .beta = 0,
                                 .a = vknmt_at(ba, 0), .b = vknmt_at(op == 3 ? bp : bb, 0), .c = vknmt_at(bc, 0),
                                 .b_panels = op == 3};
            double flops = 2.0 * sh->m * sh->n * sh->k, t_dev, t_blas;
            if ((s = time_device(ctx, seq, &g, 1, &t_dev)))
                break;
            int reps = (int)fmin(50, fmax(1, TARGET_SECONDS / fmax(t_dev, 1e-6)));
            if ((s = time_device(ctx, seq, &g, reps, &t_dev)) || (s = vknmt_buffer_download(bc, 0, dev, nc * 4)))
                break;
            t_blas = time_blas(blas, sh, ta, tb, a, b, c, 1);
            t_blas = time_blas(blas, sh, ta, tb, a, b, c,
                               (int)fmin(200, fmax(1, TARGET_SECONDS / fmax(t_blas, 1e-7))));
            double err = 0, scale = 1e-30;
            for (size_t i = 0; i < nc; i++) {
                err = fmax(err, fabs((double)dev[i] - c[i]));
                scale = fmax(scale, fabs(c[i]));
            }
            if (!(err / scale < 1e-4))
                rc = 1; /* a wrong answer is no benchmark */
            double gf = flops / t_dev * 1e-9, gf_blas = flops / t_blas * 1e-9;
            if (json) {
                fprintf(out, "{\"bench\":\"gemm\",\"device\":");
                vknmt_bench_json_string(out, caps->info.name);
                fprintf(out, ",\"driver\":");
                vknmt_bench_json_string(out, caps->info.driver_name);
                fprintf(out, ",\"driver_info\":");
                vknmt_bench_json_string(out, caps->info.driver_info);
                fprintf(out,
                        ",\"shape\":[%u,%u,%u],\"op\":\"%s\",\"gflops\":%.2f,\"openblas_gflops\":%.2f,"
                        "\"ratio\":%.4f,\"ceiling_gflops\":%.2f,\"of_ceiling\":%.4f,\"openblas_kernel\":\"%s\","
                        "\"openblas_threads\":%d,\"ms\":%.4f,\"dispatches\":1,\"min_bytes\":%zu,\"rel_err\":%.2e}\n",
                        sh->m, sh->n, sh->k, ops[op], gf, gf_blas, gf / gf_blas, ceiling, gf / ceiling, corename,
                        threads, t_dev * 1e3, (na + nb + nc) * 4, err / scale);
            } else {
                char dims[32];
                snprintf(dims, sizeof(dims), "%ux%ux%u", sh->m, sh->n, sh->k);
                fprintf(out, "%-16s %-3s %10.2f %7.1f%% %10.2f %6.1f%% %9.1e  %s\n", dims, ops[op], gf,
                        100 * gf / ceiling, gf_blas, 100 * gf / gf_blas, err / scale, sh->what);
            }
            fflush(out);
        }
    next:
        vknmt_buffer_destroy(ba);
        vknmt_buffer_destroy(bb);
        vknmt_buffer_destroy(bc);
        vknmt_buffer_destroy(bp);
        free(a);
        free(b);
        free(c);
        free(dev);
    }
    if (s != VKNMT_OK) {
        fprintf(stderr, "vknmt bench gemm: %s\n", vknmt_context_errmsg(ctx));
        rc = 1;
    }
    vknmt_seq_destroy(seq);
    vknmt_openblas_close(blas);
    return rc;
}
