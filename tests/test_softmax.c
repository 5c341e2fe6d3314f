/* Row softmax with and without a length mask, against plain C in double. */
#include <math.h>
#include <stdlib.h>

#include "harness.h"

static void check_softmax(th_env *env, uint32_t rows, uint32_t cols, bool masked, bool in_place)
{
    uint64_t n = (uint64_t)rows * cols;
    float *x = malloc(n * 4), *got = malloc(n * 4);
    double *want = malloc(n * 8);
    uint32_t *len = malloc(rows * 4);
    CHECK(x && got && want && len, "out of memory");
    th_fill_uniform(x, n, -8, 8);
    for (uint32_t r = 0; r < rows; r++)
        len[r] = masked ? (uint32_t)(th_rand_u64() % (cols + 2)) : cols; /* 0 .. cols+1 */
    if (masked && rows > 1)
        len[0] = 0; /* an empty row: all zeros */
    for (uint32_t r = 0; r < rows; r++) {
        uint32_t l = len[r] < cols ? len[r] : cols;
        double m = -INFINITY, s = 0;
        for (uint32_t c = 0; c < l; c++)
            m = fmax(m, x[r * cols + c]);
        for (uint32_t c = 0; c < l; c++)
            s += exp(x[r * cols + c] - m);
        for (uint32_t c = 0; c < cols; c++)
            want[r * cols + c] = c < l ? exp(x[r * cols + c] - m) / s : 0.0;
    }
    th_gbuf gx, gy, gl;
    CHECK(th_gbuf_create(env, n, &gx) && th_gbuf_create(env, n, &gy) && th_gbuf_create(env, rows, &gl), "buffers");
    CHECK(th_gbuf_upload(&gx, x) && th_gbuf_upload(&gl, (const float *)len), "upload");
    vknmt_ref lref = masked ? th_gbuf_ref(&gl) : (vknmt_ref){0};
    const th_gbuf *out = in_place ? &gx : &gy;
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    CHECK_OK(env, vknmt_softmax_rows(env->seq, th_gbuf_ref(&gx), th_gbuf_ref(out), rows, cols, lref));
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    CHECK(th_gbuf_download(out, got), "download");
    double err = th_rel_err(got, want, n, 1e-30);
    CHECK(err <= 2e-6, "%ux%u masked=%d: relative error %g > 2e-6", rows, cols, masked, err);
    for (uint32_t r = 0; r < rows; r++) {
        uint32_t l = len[r] < cols ? len[r] : cols;
        double s = 0;
        for (uint32_t c = 0; c < cols; c++)
            s += got[r * cols + c];
        CHECK(fabs(s - (l ? 1.0 : 0.0)) < 1e-5, "row %u sums to %g", r, s);
    }
    CHECK(th_gbuf_guards_ok(&gx) && th_gbuf_guards_ok(&gy) && th_gbuf_guards_ok(&gl), "write outside the output");
    th_gbuf_destroy(&gx);
    th_gbuf_destroy(&gy);
    th_gbuf_destroy(&gl);
    free(x);
    free(got);
    free(want);
    free(len);
}

static void test_plain(th_env *env)
{
    static const uint32_t shapes[][2] = {{1, 1}, {1, 7}, {3, 33}, {13, 50}, {80, 129}, {7, 1000}, {2, 8000}};
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]) && !th_failed(); i++)
        check_softmax(env, shapes[i][0], shapes[i][1], false, false);
}

static void test_masked(th_env *env)
{
    static const uint32_t shapes[][2] = {{1, 1}, {5, 3}, {80, 50}, {17, 257}};
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]) && !th_failed(); i++)
        check_softmax(env, shapes[i][0], shapes[i][1], true, false);
}

static void test_in_place(th_env *env) { check_softmax(env, 9, 70, true, true); }

/* Huge inputs must not overflow into NaN. */
static void test_extreme(th_env *env)
{
    float x[4] = {1e30f, -1e30f, 88.0f, 1e30f}, got[4];
    double want[4] = {0.5, 0, 0, 0.5};
    th_gbuf g;
    CHECK(th_gbuf_create(env, 4, &g) && th_gbuf_upload(&g, x), "buffer");
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    CHECK_OK(env, vknmt_softmax_rows(env->seq, th_gbuf_ref(&g), th_gbuf_ref(&g), 1, 4, (vknmt_ref){0}));
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    CHECK(th_gbuf_download(&g, got), "download");
    th_gbuf_destroy(&g);
    CHECK(th_rel_err(got, want, 4, 1e-30) < 1e-6, "got %g %g %g %g", got[0], got[1], got[2], got[3]);
}

/* vknmt_softmax_blocks against plain C in double: each block's maximum
 * exactly, its sum of exp(x - max) to 1e-5, and the row's log-sum-exp from
 * the blocks to 1e-5; rows of 1 column, of a block's width and one off it,
 * ldx past cols, ties and extreme values, the statistics poisoned first and
 * guarded (exactly rows x 2 nblk floats written). */
static void check_blocks(th_env *env, uint32_t rows, uint32_t cols, uint32_t ldx)
{
    uint32_t nblk = vknmt_softmax_block_count(env->ctx, cols), w = 2 * vknmt_softmax_block_lanes(env->ctx);
    uint64_t nx = (uint64_t)rows * ldx, ns = (uint64_t)rows * 2 * nblk;
    float *x = malloc(nx * 4), *st = malloc(ns * 4);
    th_gbuf gx, gs;
    CHECK(x && st && th_gbuf_create(env, nx, &gx) && th_gbuf_create(env, ns, &gs), "buffers");
    th_fill_uniform(x, nx, -30, 30);
    for (uint32_t r = 0; r < rows; r++) {
        float *row = x + (uint64_t)r * ldx;
        if (cols > 2)
            row[cols - 1] = row[th_rand_u64() % cols]; /* a tie, maybe across blocks */
        if (r % 3 == 2)
            row[th_rand_u64() % cols] = 80; /* dominates its row */
        for (uint32_t c = cols; c < ldx; c++)
            row[c] = 1e30f; /* not a column: wins wherever it is wrongly read */
    }
    CHECK(th_gbuf_upload(&gx, x), "upload");
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    CHECK_OK(env, vknmt_softmax_blocks(env->seq, rows, cols, th_gbuf_ref(&gx), ldx, th_gbuf_ref(&gs)));
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    CHECK(th_gbuf_download(&gs, st) && th_gbuf_guards_ok(&gs), "statistics");
    for (uint32_t r = 0; r < rows && !th_failed(); r++) {
        const float *row = x + (uint64_t)r * ldx, *sr = st + (uint64_t)r * 2 * nblk;
        double lse_m = -INFINITY, lse_s = 0, M = -INFINITY, S = 0;
        for (uint32_t c = 0; c < cols; c++)
            lse_m = fmax(lse_m, row[c]);
        for (uint32_t c = 0; c < cols; c++)
            lse_s += exp(row[c] - lse_m);
        for (uint32_t k = 0; k < nblk && !th_failed(); k++) {
            float m = -INFINITY;
            double sum = 0;
            uint32_t end = (k + 1) * w < cols ? (k + 1) * w : cols;
            for (uint32_t c = k * w; c < end; c++)
                m = fmaxf(m, row[c]);
            for (uint32_t c = k * w; c < end; c++)
                sum += exp((double)row[c] - m);
            CHECK(sr[2 * k] == m, "%u x %u (ld %u): row %u block %u maximum %g, want %g", rows, cols, ldx, r, k,
                  sr[2 * k], m);
            CHECK(fabs(sr[2 * k + 1] - sum) <= 1e-5 * sum, "%u x %u: row %u block %u sum %.9g, want %.9g", rows, cols,
                  r, k, sr[2 * k + 1], sum);
            M = fmax(M, sr[2 * k]);
        }
        for (uint32_t k = 0; k < nblk; k++)
            S += sr[2 * k + 1] * exp(sr[2 * k] - M);
        double got = M + log(S), want = lse_m + log(lse_s);
        CHECK(fabs(got - want) <= 1e-5 * fmax(1, fabs(want)), "%u x %u: row %u log-sum-exp %.9g, want %.9g", rows,
              cols, r, got, want);
    }
    th_gbuf_destroy(&gx);
    th_gbuf_destroy(&gs);
    free(x);
    free(st);
}

static void test_blocks(th_env *env)
{
    uint32_t w = 2 * vknmt_softmax_block_lanes(env->ctx);
    const uint32_t rows[] = {1, 3, 17}, cols[] = {1, 2, w - 1, w, w + 1, 1001};
    for (size_t r = 0; r < 3 && !th_failed(); r++)
        for (size_t c = 0; c < 6 && !th_failed(); c++)
            for (uint32_t pad = 0; pad < 6 && !th_failed(); pad += 5)
                check_blocks(env, rows[r], cols[c], cols[c] + pad);
    vknmt_buffer *b;
    CHECK_OK(env, vknmt_buffer_create(env->ctx, 4096, &b));
    vknmt_ref r = vknmt_at(b, 0);
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    vknmt_status s1 = vknmt_softmax_blocks(env->seq, 0, 5, r, 5, r), s2 = vknmt_softmax_blocks(env->seq, 2, 5, r, 4, r),
                 s3 = vknmt_softmax_blocks(env->seq, 2, 1000, r, 1000, r);
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    vknmt_buffer_destroy(b);
    CHECK(s1 == VKNMT_ERR_SHAPE && s2 == VKNMT_ERR_SHAPE && s3 == VKNMT_ERR_RANGE, "bad calls: %s %s %s",
          vknmt_status_name(s1), vknmt_status_name(s2), vknmt_status_name(s3));
}

void th_register_softmax(void)
{
    th_add("softmax", "plain", test_plain);
    th_add("softmax", "masked", test_masked);
    th_add("softmax", "in_place", test_in_place);
    th_add("softmax", "extreme_values", test_extreme);
    th_add("softmax", "row_blocks", test_blocks);
}
