/* Row softmax with and without a length mask, against plain C in double. */
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

void th_register_softmax(void)
{
    th_add("softmax", "plain", test_plain);
    th_add("softmax", "masked", test_masked);
    th_add("softmax", "in_place", test_in_place);
    th_add("softmax", "extreme_values", test_extreme);
}
