/* fill, copy, scale, axpy, copy2d and the multiply-add chains against plain C
 * at awkward sizes and offsets. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "internal.h" /* to lower the storage range limit */

static const uint64_t sizes[] = {1, 7, 63, 64, 65, 1000, 4097, 100003, 65535ull * 64 + 1000};

typedef enum { OP_FILL, OP_COPY, OP_SCALE, OP_AXPY } op_kind;

static void run_op(th_env *env, op_kind op)
{
    for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
        uint64_t n = sizes[si];
        float *x = malloc(n * 4), *y = malloc(n * 4), *got = malloc(n * 4);
        double *want = malloc(n * 8);
        CHECK(x && y && got && want, "out of memory");
        th_fill_uniform(x, n, -2, 2);
        th_fill_uniform(y, n, -2, 2);
        float a = th_uniform(-3, 3);
        th_gbuf gx, gy;
        CHECK(th_gbuf_create(env, n, &gx) && th_gbuf_create(env, n, &gy), "buffers");
        CHECK(th_gbuf_upload(&gx, x), "upload");
        if (op == OP_SCALE || op == OP_AXPY)
            CHECK(th_gbuf_upload(&gy, y), "upload"); /* read-modify-write ops need real y */
        CHECK_OK(env, vknmt_seq_begin(env->seq));
        switch (op) {
        case OP_FILL: CHECK_OK(env, vknmt_fill(env->seq, th_gbuf_ref(&gy), n, a)); break;
        case OP_COPY: CHECK_OK(env, vknmt_copy(env->seq, th_gbuf_ref(&gx), th_gbuf_ref(&gy), n)); break;
        case OP_SCALE: CHECK_OK(env, vknmt_scale(env->seq, th_gbuf_ref(&gy), n, a)); break;
        case OP_AXPY: CHECK_OK(env, vknmt_axpy(env->seq, a, th_gbuf_ref(&gx), th_gbuf_ref(&gy), n)); break;
        }
        CHECK_OK(env, vknmt_seq_submit(env->seq));
        CHECK(th_gbuf_download(&gy, got), "download");
        for (uint64_t i = 0; i < n; i++)
            want[i] = op == OP_FILL ? a : op == OP_COPY ? x[i] : op == OP_SCALE ? (double)a * y[i]
                                                                               : (double)a * x[i] + y[i];
        /* One float rounding of each product and of the sum: the bound scales
         * with the terms, not with their (possibly cancelling) total. */
        for (uint64_t i = 0; i < n; i++) {
            double terms = op == OP_AXPY ? fabs((double)a * x[i]) + fabs(y[i]) : fabs(want[i]);
            double bound = 2.5e-7 * terms;
            CHECK(fabs(got[i] - want[i]) <= bound, "n=%llu, element %llu: %.9g, want %.9g",
                  (unsigned long long)n, (unsigned long long)i, got[i], want[i]);
        }
        CHECK(th_gbuf_guards_ok(&gx) && th_gbuf_guards_ok(&gy), "n=%llu: write outside the output", (unsigned long long)n);
        th_gbuf_destroy(&gx);
        th_gbuf_destroy(&gy);
        free(x);
        free(y);
        free(got);
        free(want);
    }
}

static void test_fill(th_env *env) { run_op(env, OP_FILL); }
static void test_copy(th_env *env) { run_op(env, OP_COPY); }
static void test_scale(th_env *env) { run_op(env, OP_SCALE); }
static void test_axpy(th_env *env) { run_op(env, OP_AXPY); }

/* An op of two operands at float offsets ox and oy of one buffer of
 * `total` random floats: axpy (n = c[0], a = a) or copy2d (rows, cols, ldx,
 * ldy = c[0..3]). */
typedef struct placed_op {
    bool copy2d;
    uint64_t ox, oy, total;
    uint32_t c[4];
    float a;
} placed_op;

/* Runs `op` with the profiler on: host gets the buffer before, got after;
 * checks that the quad kernel ran where both offsets are quads and the
 * element kernel elsewhere (told apart by the profiler's counts). */
static void run_placed(th_env *env, const placed_op *op, float *host, float *got)
{
    const char *quad = op->copy2d ? "copy2d_vec4" : "axpy_vec4", *elem = op->copy2d ? "copy2d" : "axpy";
    th_fill_uniform(host, op->total, -2, 2);
    vknmt_buffer *buf;
    CHECK_OK(env, vknmt_buffer_create(env->ctx, op->total * 4, &buf));
    CHECK_OK(env, vknmt_buffer_upload(buf, 0, host, op->total * 4));
    uint64_t q0 = th_kernel_calls(env, quad), e0 = th_kernel_calls(env, elem);
    bool profile = env->ctx->profile;
    env->ctx->profile = true;
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    vknmt_ref x = vknmt_at(buf, op->ox), y = vknmt_at(buf, op->oy);
    CHECK_OK(env, op->copy2d ? vknmt_copy2d(env->seq, x, op->c[2], y, op->c[3], op->c[0], op->c[1])
                             : vknmt_axpy(env->seq, op->a, x, y, op->c[0]));
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    env->ctx->profile = profile;
    CHECK_OK(env, vknmt_buffer_download(buf, 0, got, op->total * 4));
    vknmt_buffer_destroy(buf);
    bool quads = op->ox % 4 == 0 && op->oy % 4 == 0;
    uint64_t q = th_kernel_calls(env, quad) - q0, e = th_kernel_calls(env, elem) - e0;
    CHECK(!env->ctx->caps.timestamps || (q == (quads ? 1u : 0u) && e == (quads ? 0u : 1u)),
          "%s, x at %llu, y at %llu: %llu quad and %llu element dispatches", elem, (unsigned long long)op->ox,
          (unsigned long long)op->oy, (unsigned long long)q, (unsigned long long)e);
}

/* axpy a quad per invocation: n and both operands on quads, between
 * elements that must keep their values; one operand off its quad takes the
 * element kernel. */
static void test_axpy_quads(th_env *env)
{
    static const uint64_t ns[] = {4, 64, 1000, 4100};
    static const uint64_t placements[][2] = {{8, 4}, {4, 8}, {8, 5}}; /* float offsets of x and y */
    for (size_t ni = 0; ni < 4 && !th_failed(); ni++)
        for (size_t pi = 0; pi < 3 && !th_failed(); pi++) {
            uint64_t n = ns[ni], ox = placements[pi][0], oy = n + 16 + placements[pi][1];
            placed_op op = {false, ox, oy, oy + n + 8, {(uint32_t)n}, th_uniform(-3, 3)};
            float *host = malloc(op.total * 4), *got = malloc(op.total * 4);
            CHECK(host && got, "out of memory");
            run_placed(env, &op, host, got);
            for (uint64_t i = 0; i < op.total; i++) { /* one rounding of each term (fused or not), the rest kept */
                bool in_y = i >= oy && i < oy + n;
                double ax = in_y ? (double)op.a * host[i - oy + ox] : 0, want = host[i] + ax;
                double bound = in_y ? 2.5e-7 * (fabs(ax) + fabs(host[i])) : 0;
                CHECK(fabs(got[i] - want) <= bound, "n=%llu x at %llu, y at %llu, element %llu: %.9g, want %.9g",
                      (unsigned long long)n, (unsigned long long)ox, (unsigned long long)oy, (unsigned long long)i,
                      got[i], want);
            }
            free(host);
            free(got);
        }
}

/* An unaligned float offset into a shared buffer (the runtime aligns the
 * binding down and passes the rest to the kernel). */
static void test_offsets(th_env *env)
{
    const uint64_t n = 37, total = 200;
    float host[200], got[200];
    th_fill_uniform(host, total, -1, 1);
    vknmt_buffer *buf;
    CHECK_OK(env, vknmt_buffer_create(env->ctx, total * 4, &buf));
    CHECK_OK(env, vknmt_buffer_upload(buf, 0, host, total * 4));
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    CHECK_OK(env, vknmt_copy(env->seq, vknmt_at(buf, 3), vknmt_at(buf, 101), n));
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    CHECK_OK(env, vknmt_buffer_download(buf, 0, got, total * 4));
    vknmt_buffer_destroy(buf);
    for (uint64_t i = 0; i < total; i++) {
        float want = i >= 101 && i < 101 + n ? host[i - 101 + 3] : host[i];
        CHECK(got[i] == want, "element %llu: %g, want %g", (unsigned long long)i, got[i], want);
    }
}

/* Buffers over the storage range go in windows: same results. */
static void test_windows(th_env *env)
{
    vknmt_caps saved = env->ctx->caps;
    env->ctx->caps.max_storage_buffer_range = 64 * 4 * 3; /* windows of 192 floats */
    for (int op = OP_FILL; op <= OP_AXPY && !th_failed(); op++)
        run_op(env, (op_kind)op);
    env->ctx->caps = saved;
}

static void test_copy2d(th_env *env)
{
    static const uint32_t cases[][4] = {{1, 1, 1, 1}, {5, 3, 7, 4}, {33, 70, 70, 140}, {9, 13, 0, 20}};
    for (int c = 0; c < 4 && !th_failed(); c++) {
        uint32_t rows = cases[c][0], cols = cases[c][1], ldx = cases[c][2], ldy = cases[c][3];
        uint64_t nx = ldx ? (uint64_t)rows * ldx : cols, ny = (uint64_t)rows * ldy;
        float *x = malloc(nx * 4), *y = malloc(ny * 4), *got = malloc(ny * 4);
        double *want = malloc(ny * 8);
        CHECK(x && y && got && want, "out of memory");
        th_fill_uniform(x, nx, -1, 1);
        th_fill_uniform(y, ny, -1, 1);
        for (uint64_t i = 0; i < ny; i++)
            want[i] = y[i];
        for (uint32_t r = 0; r < rows; r++)
            for (uint32_t k = 0; k < cols; k++)
                want[(size_t)r * ldy + k] = x[(size_t)r * ldx + k];
        th_gbuf gx, gy;
        CHECK(th_gbuf_create(env, nx, &gx) && th_gbuf_create(env, ny, &gy), "buffers");
        CHECK(th_gbuf_upload(&gx, x) && th_gbuf_upload(&gy, y), "upload");
        CHECK_OK(env, vknmt_seq_begin(env->seq));
        CHECK_OK(env, vknmt_copy2d(env->seq, th_gbuf_ref(&gx), ldx, th_gbuf_ref(&gy), ldy, rows, cols));
        CHECK_OK(env, vknmt_seq_submit(env->seq));
        CHECK(th_gbuf_download(&gy, got), "download");
        CHECK(th_rel_err(got, want, ny, 1e-30) == 0, "%ux%u ldx %u ldy %u: wrong copy", rows, cols, ldx, ldy);
        CHECK(th_gbuf_guards_ok(&gx) && th_gbuf_guards_ok(&gy), "write outside the output");
        th_gbuf_destroy(&gx);
        th_gbuf_destroy(&gy);
        free(x);
        free(y);
        free(got);
        free(want);
    }
}

/* copy2d a quad per invocation: the block, its strides and both offsets on
 * quads (ldx 0 included), inside a buffer whose other elements must keep
 * their values; one offset off its quad takes the element kernel. */
static void test_copy2d_quads(th_env *env)
{
    static const uint32_t cases[][4] = {{1, 4, 4, 4}, {33, 8, 12, 16}, {9, 4, 0, 8}, {5, 68, 136, 72}};
    static const uint64_t placements[][2] = {{4, 8}, {8, 4}, {4, 9}}; /* float offsets of x and y */
    for (int c = 0; c < 4 && !th_failed(); c++)
        for (int pl = 0; pl < 3 && !th_failed(); pl++) {
            uint32_t rows = cases[c][0], cols = cases[c][1], ldx = cases[c][2], ldy = cases[c][3];
            uint64_t nx = ldx ? (uint64_t)rows * ldx : cols, ny = (uint64_t)rows * ldy;
            uint64_t ox = placements[pl][0], oy = ox + nx + placements[pl][1];
            placed_op op = {true, ox, oy, oy + ny + 8, {rows, cols, ldx, ldy}, 0};
            float *host = malloc(op.total * 4), *got = malloc(op.total * 4);
            CHECK(host && got, "out of memory");
            run_placed(env, &op, host, got);
            for (uint64_t i = 0; i < op.total; i++) {
                uint64_t e = i - oy, r = e / ldy, k = e % ldy;
                float want = i >= oy && i < oy + ny && k < cols ? host[ox + r * ldx + k] : host[i];
                CHECK(got[i] == want, "%ux%u ldx %u ldy %u, x at %llu, y at %llu: element %llu is %g, want %g", rows,
                      cols, ldx, ldy, (unsigned long long)ox, (unsigned long long)oy, (unsigned long long)i, got[i],
                      want);
            }
            free(host);
            free(got);
        }
}

/* vknmt_madd_chains: each invocation's chains, summed, against float64; the
 * chains contract towards b / (1 - a), so fused or separate multiply-adds
 * both stay within a few float roundings of the magnitudes. */
static void test_madd_chains(th_env *env)
{
    static const uint32_t ns[] = {1, 63, 65, 1000, 4097};
    static const uint32_t iters[] = {0, 1, 7, 300};
    for (size_t ni = 0; ni < sizeof(ns) / sizeof(ns[0]); ni++)
        for (size_t ti = 0; ti < sizeof(iters) / sizeof(iters[0]); ti++) {
            uint32_t n = ns[ni];
            float a = th_uniform(0.5f, 0.99f), b = th_uniform(-1, 1), *got = malloc(n * 4);
            CHECK(got, "out of memory");
            th_gbuf gy;
            CHECK(th_gbuf_create(env, n, &gy), "buffers");
            CHECK_OK(env, vknmt_seq_begin(env->seq));
            CHECK_OK(env, vknmt_madd_chains(env->seq, th_gbuf_ref(&gy), n, iters[ti], a, b));
            CHECK_OK(env, vknmt_seq_submit(env->seq));
            CHECK(th_gbuf_download(&gy, got), "download");
            for (uint32_t i = 0; i < n && !th_failed(); i++) {
                double want = 0, mag = 0;
                for (int c = 0; c < VKNMT_MADD_CHAINS; c++) {
                    double x = (double)(i % 1024) / 1024 + c / 32.0;
                    for (uint32_t t = 0; t < iters[ti]; t++)
                        x = x * a + b;
                    want += x;
                    mag += fabs(x) + fabs(b / (1.0 - a));
                }
                CHECK(fabs(got[i] - want) <= 2e-6 * mag, "n %u, %u steps, a %g, b %g, invocation %u: %.9g, want %.9g",
                      n, iters[ti], a, b, i, got[i], want);
            }
            CHECK(th_gbuf_guards_ok(&gy), "n %u: write outside the output", n);
            th_gbuf_destroy(&gy);
            free(got);
        }
    th_gbuf gy;
    CHECK(th_gbuf_create(env, 1, &gy), "buffers");
    CHECK(vknmt_madd_chains(env->seq, th_gbuf_ref(&gy), 0, 1, 0.5f, 1) == VKNMT_ERR_SHAPE, "n 0 accepted");
    th_gbuf_destroy(&gy);
}

void th_register_elementwise(void)
{
    th_add("elementwise", "fill", test_fill);
    th_add("elementwise", "copy", test_copy);
    th_add("elementwise", "scale", test_scale);
    th_add("elementwise", "axpy", test_axpy);
    th_add("elementwise", "axpy_quads", test_axpy_quads);
    th_add("elementwise", "unaligned_offsets", test_offsets);
    th_add("elementwise", "windows", test_windows);
    th_add("elementwise", "copy2d", test_copy2d);
    th_add("elementwise", "copy2d_quads", test_copy2d_quads);
    th_add("elementwise", "madd_chains", test_madd_chains);
}
