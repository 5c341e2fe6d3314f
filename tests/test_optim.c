/* Adadelta and Adam with device-side clipping, against plain C in double:
 * several steps with the norm above and below the clip, a non-finite norm
 * that must change nothing but the skip counter, and window splitting. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "internal.h" /* to lower the storage range limit */
#include "optim.h"

typedef struct optim_case {
    vknmt_optim_kind kind;
    uint64_t n;
    int steps;
    int bad_step;  /* this step's norm is `bad_norm` (-1: none) */
    float bad_norm;
    uint32_t min_dispatches; /* per step: > 1 proves the windows */
    bool quads;    /* the four arrays start on a quad (the quad kernels) */
} optim_case;

/* Float offset in a guarded buffer that puts an array on a quad. */
#define QUAD_OFF ((4 - TH_GUARD % 4) % 4)

static vknmt_optim_args args_for(vknmt_optim_kind kind)
{
    vknmt_optim_args a = {.kind = kind, .clip = 1.0f, .rho = 0.95f, .eps = 1e-6f};
    if (kind == VKNMT_ADAM) {
        a.lr = 1e-3f;
        a.beta1 = 0.9f;
        a.beta2 = 0.999f;
        a.eps = 1e-8f;
    }
    return a;
}

/* One step of the reference in double: x, s1, s2 updated from g and norm. */
static void optim_ref(const vknmt_optim_args *a, uint64_t n, const float *g, float norm, double *x, double *s1,
                      double *s2)
{
    if (!isfinite(norm))
        return;
    double clip = a->clip, scale = norm > clip ? clip / norm : 1.0;
    double rho = a->rho, eps = a->eps, b1 = a->beta1, b2 = a->beta2;
    double bc1 = 1 - pow(b1, a->step), bc2 = 1 - pow(b2, a->step);
    for (uint64_t i = 0; i < n; i++) {
        double gi = g[i] * scale;
        if (a->kind == VKNMT_ADADELTA) {
            s1[i] = rho * s1[i] + (1 - rho) * gi * gi;
            double d = -sqrt(s2[i] + eps) / sqrt(s1[i] + eps) * gi;
            s2[i] = rho * s2[i] + (1 - rho) * d * d;
            x[i] += d;
        } else {
            s1[i] = b1 * s1[i] + (1 - b1) * gi;
            s2[i] = b2 * s2[i] + (1 - b2) * gi * gi;
            x[i] -= a->lr * (s1[i] / bc1) / (sqrt(s2[i] / bc2) + eps);
        }
    }
}

static void run_case(th_env *env, const optim_case *c)
{
    uint64_t n = c->n, sh = c->quads ? QUAD_OFF : 0, nb = n + sh; /* the arrays start sh floats in */
    float *xb = calloc(nb, 4), *gfull = calloc(nb, 4), *zero = calloc(nb, 4), *gotb = malloc(nb * 4);
    double *xd = malloc(n * 8), *s1 = calloc(n, 8), *s2 = calloc(n, 8);
    CHECK(xb && gfull && zero && gotb && xd && s1 && s2, "out of memory");
    float *x = xb + sh, *g = gfull + sh, *got = gotb + sh;
    th_fill_uniform(x, n, -1, 1);
    for (uint64_t i = 0; i < n; i++)
        xd[i] = x[i];
    th_gbuf gx, gg, g1, g2, gn, gs;
    CHECK(th_gbuf_create(env, nb, &gx) && th_gbuf_create(env, nb, &gg) && th_gbuf_create(env, nb, &g1) &&
              th_gbuf_create(env, nb, &g2) && th_gbuf_create(env, 1, &gn) && th_gbuf_create(env, 1, &gs),
          "buffers");
    float skipped0 = 2;
    CHECK(th_gbuf_upload(&gx, xb) && th_gbuf_upload(&g1, zero) && th_gbuf_upload(&g2, zero) &&
              th_gbuf_upload(&gs, &skipped0),
          "upload");
    vknmt_optim_args a = args_for(c->kind);
    a.n = n;
    a.param = vknmt_at(gx.buf, th_gbuf_ref(&gx).off + sh);
    a.grad = vknmt_at(gg.buf, th_gbuf_ref(&gg).off + sh);
    a.state1 = vknmt_at(g1.buf, th_gbuf_ref(&g1).off + sh);
    a.state2 = vknmt_at(g2.buf, th_gbuf_ref(&g2).off + sh);
    a.norm = th_gbuf_ref(&gn);
    a.skipped = th_gbuf_ref(&gs);
    int skips = 0;
    for (int step = 0; step < c->steps; step++) {
        /* norms 3, 0.5, 3, ...: clipped, then not */
        th_fill_uniform(g, n, -1, 1);
        double sq = 0, target = step % 2 ? 0.5 : 3.0;
        for (uint64_t i = 0; i < n; i++)
            sq += (double)g[i] * g[i];
        for (uint64_t i = 0; i < n; i++)
            g[i] = (float)(g[i] * target / sqrt(sq));
        sq = 0;
        for (uint64_t i = 0; i < n; i++)
            sq += (double)g[i] * g[i];
        float norm = (float)sqrt(sq);
        if (step == c->bad_step) {
            norm = c->bad_norm;
            skips++;
        }
        a.step = (uint32_t)step + 1;
        CHECK(th_gbuf_upload(&gg, gfull) && th_gbuf_upload(&gn, &norm), "upload");
        CHECK_OK(env, vknmt_seq_begin(env->seq));
        CHECK_OK(env, vknmt_optim_step(env->seq, &a));
        uint32_t dispatches = vknmt_seq_stats_get(env->seq).dispatches;
        CHECK_OK(env, vknmt_seq_submit(env->seq));
        CHECK(dispatches >= c->min_dispatches, "%u dispatches, want at least %u", dispatches, c->min_dispatches);
        optim_ref(&a, n, g, norm, xd, s1, s2);
    }
    const char *name = c->kind == VKNMT_ADAM ? "adam" : "adadelta";
    const double *want[3] = {xd, s1, s2};
    const th_gbuf *bufs[3] = {&gx, &g1, &g2};
    static const char *what[3] = {"param", "state1", "state2"};
    for (int k = 0; k < 3; k++) {
        CHECK(th_gbuf_download(bufs[k], gotb), "download");
        double err = th_rel_err(got, want[k], n, 1e-30);
        CHECK(err < 1e-5, "%s n=%llu%s after %d steps: %s relative error %g > 1e-5", name, (unsigned long long)n,
              c->quads ? " (quads)" : "", c->steps, what[k], err);
        CHECK(memcmp(gotb, zero, sh * 4) == 0, "%s: written before the array", name);
    }
    float skipped;
    CHECK(th_gbuf_download(&gs, &skipped), "download");
    CHECK(skipped == skipped0 + (float)skips, "%s: skipped counter %g, want %g", name, skipped, skipped0 + skips);
    CHECK(th_gbuf_guards_ok(&gx) && th_gbuf_guards_ok(&gg) && th_gbuf_guards_ok(&g1) && th_gbuf_guards_ok(&g2) &&
              th_gbuf_guards_ok(&gn) && th_gbuf_guards_ok(&gs),
          "write outside the output");
    th_gbuf_destroy(&gx);
    th_gbuf_destroy(&gg);
    th_gbuf_destroy(&g1);
    th_gbuf_destroy(&g2);
    th_gbuf_destroy(&gn);
    th_gbuf_destroy(&gs);
    free(xb), free(gfull), free(zero), free(gotb), free(xd), free(s1), free(s2);
}

static void test_adadelta(th_env *env)
{
    static const uint64_t sizes[] = {1, 63, 1000, 100003};
    for (size_t i = 0; i < 8 && !th_failed(); i++)
        run_case(env, &(optim_case){VKNMT_ADADELTA, sizes[i / 2], 4, -1, 0, 1, i % 2});
}

static void test_adam(th_env *env)
{
    static const uint64_t sizes[] = {1, 65, 1000, 100003};
    for (size_t i = 0; i < 8 && !th_failed(); i++)
        run_case(env, &(optim_case){VKNMT_ADAM, sizes[i / 2], 4, -1, 0, 1, i % 2});
}

/* More elements than one row of 65535 workgroups covers: the dispatch's
 * second dimension must be honoured (the model's 8.5 M parameters). */
static void test_large(th_env *env)
{
    run_case(env, &(optim_case){VKNMT_ADAM, 65535ull * 64 + 1000, 1, -1, 0, 1, false});
    if (!th_failed())
        run_case(env, &(optim_case){VKNMT_ADADELTA, 65535ull * 64 * 2 + 77, 1, -1, 0, 1, false});
}

/* A NaN or Inf norm: params and state untouched (the reference skips the
 * step, so any change fails), the counter +1 exactly once. */
static void test_nonfinite(th_env *env)
{
    run_case(env, &(optim_case){VKNMT_ADADELTA, 777, 3, 1, NAN, 1, false});
    if (!th_failed())
        run_case(env, &(optim_case){VKNMT_ADADELTA, 1, 2, 0, INFINITY, 1, false});
    if (!th_failed())
        run_case(env, &(optim_case){VKNMT_ADAM, 300, 3, 2, -INFINITY, 1, true});
    if (!th_failed())
        run_case(env, &(optim_case){VKNMT_ADAM, 5, 1, 0, NAN, 1, false});
}

/* One step on the same inputs, whole and by windows: the same bits. */
static void check_windows_bitwise(th_env *env, vknmt_optim_kind kind, uint64_t n, uint64_t small_range)
{
    float *init = malloc(n * 4 * 4), *got[2] = {malloc(n * 4 * 3), malloc(n * 4 * 3)};
    CHECK(init && got[0] && got[1], "out of memory");
    th_fill_uniform(init, 2 * n, -1, 1);                /* x, g */
    th_fill_uniform(init + 2 * n, 2 * n, 0.001f, 0.01f); /* state: positive (v, E[g2], E[d2]) */
    float norm = 1.7f;
    vknmt_caps saved = env->ctx->caps;
    for (int r = 0; r < 2; r++) {
        th_gbuf gb, gn, gs;
        float zero = 0;
        CHECK(th_gbuf_create(env, 4 * n, &gb) && th_gbuf_create(env, 1, &gn) && th_gbuf_create(env, 1, &gs),
              "buffers");
        CHECK(th_gbuf_upload(&gb, init) && th_gbuf_upload(&gn, &norm) && th_gbuf_upload(&gs, &zero), "upload");
        vknmt_optim_args a = args_for(kind);
        vknmt_ref base = th_gbuf_ref(&gb);
        a.n = n;
        a.step = 3;
        a.param = base;
        a.grad = vknmt_at(base.buf, base.off + n);
        a.state1 = vknmt_at(base.buf, base.off + 2 * n);
        a.state2 = vknmt_at(base.buf, base.off + 3 * n);
        a.norm = th_gbuf_ref(&gn);
        a.skipped = th_gbuf_ref(&gs);
        if (r)
            env->ctx->caps.max_storage_buffer_range = small_range;
        CHECK_OK(env, vknmt_seq_begin(env->seq));
        vknmt_status s = vknmt_optim_step(env->seq, &a);
        uint32_t dispatches = vknmt_seq_stats_get(env->seq).dispatches;
        env->ctx->caps = saved;
        CHECK_OK(env, s);
        CHECK_OK(env, vknmt_seq_submit(env->seq));
        CHECK(r == 0 || dispatches > 1, "%u dispatch(es): no windows", dispatches);
        float *all = malloc(4 * n * 4);
        CHECK(all && th_gbuf_download(&gb, all), "download");
        memcpy(got[r], all, n * 4);
        memcpy(got[r] + n, all + 2 * n, 2 * n * 4);
        CHECK(memcmp(all + n, init + n, n * 4) == 0, "gradient changed");
        CHECK(th_gbuf_guards_ok(&gb) && th_gbuf_guards_ok(&gn) && th_gbuf_guards_ok(&gs), "write outside");
        free(all);
        th_gbuf_destroy(&gb);
        th_gbuf_destroy(&gn);
        th_gbuf_destroy(&gs);
    }
    CHECK(memcmp(got[0], got[1], n * 4 * 3) == 0, "windowed and whole updates differ in their bits");
    free(init), free(got[0]), free(got[1]);
}

/* Storage range lowered to about 4 KiB (windows of ~1000 floats): the same
 * answer as the reference and, bit for bit, as one dispatch; a skipped step
 * still counts once. */
static void test_windows(th_env *env)
{
    enum { N = 5003 };
    uint64_t small = 4096 + 100;
    vknmt_caps saved = env->ctx->caps;
    env->ctx->caps.max_storage_buffer_range = small;
    run_case(env, &(optim_case){VKNMT_ADADELTA, N, 3, -1, 0, 5, false});
    if (!th_failed())
        run_case(env, &(optim_case){VKNMT_ADAM, N, 3, -1, 0, 5, true});
    if (!th_failed())
        run_case(env, &(optim_case){VKNMT_ADADELTA, N, 3, 1, NAN, 5, false});
    if (!th_failed())
        run_case(env, &(optim_case){VKNMT_ADAM, N, 2, 0, INFINITY, 5, false});
    env->ctx->caps = saved;
    if (!th_failed())
        check_windows_bitwise(env, VKNMT_ADADELTA, N, small);
    if (!th_failed())
        check_windows_bitwise(env, VKNMT_ADAM, N, small);
}

static void test_shapes(th_env *env)
{
    vknmt_buffer *b;
    CHECK_OK(env, vknmt_buffer_create(env->ctx, 4096, &b));
    vknmt_optim_args a = args_for(VKNMT_ADAM);
    a.param = a.grad = a.state1 = a.state2 = a.norm = a.skipped = vknmt_at(b, 0);
    a.step = 1;
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    vknmt_status s0 = vknmt_optim_step(env->seq, &a); /* n = 0 */
    a.n = 10;
    a.step = 0;
    vknmt_status s1 = vknmt_optim_step(env->seq, &a); /* Adam's step is 1-based */
    a.step = 1;
    a.n = 2000; /* beyond the buffer */
    vknmt_status s2 = vknmt_optim_step(env->seq, &a);
    vknmt_seq_stats st = vknmt_seq_stats_get(env->seq);
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    vknmt_buffer_destroy(b);
    CHECK(s0 == VKNMT_ERR_SHAPE, "n = 0: %s", vknmt_status_name(s0));
    CHECK(s1 == VKNMT_ERR_USAGE, "step 0: %s", vknmt_status_name(s1));
    CHECK(s2 == VKNMT_ERR_RANGE, "outside the buffer: %s", vknmt_status_name(s2));
    CHECK(st.dispatches == 0, "%u dispatches recorded by failing calls", st.dispatches);
}

void th_register_optim(void)
{
    th_add("optim", "adadelta", test_adadelta);
    th_add("optim", "adam", test_adam);
    th_add("optim", "beyond_65535_workgroups", test_large);
    th_add("optim", "nonfinite_norm", test_nonfinite);
    th_add("optim", "windows", test_windows);
    th_add("optim", "shapes", test_shapes);
}
