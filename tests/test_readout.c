/* Maxout, log-softmax cross-entropy and tanh backward against plain C in
 * double; the backward references against central differences first. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "internal.h" /* to force each workgroup form through the caps */
#include "readout.h"

/* ---------------------------------------------------------------- maxout */

static void maxout_ref(const double *tt, uint64_t n, double *t)
{
    for (uint64_t i = 0; i < n; i++)
        t[i] = tt[2 * i] >= tt[2 * i + 1] ? tt[2 * i] : tt[2 * i + 1];
}

static void maxout_bwd_ref(const float *tt, const float *dt, uint64_t n, double *dtt)
{
    for (uint64_t i = 0; i < n; i++) {
        bool first = tt[2 * i] >= tt[2 * i + 1];
        dtt[2 * i] = first ? dt[i] : 0;
        dtt[2 * i + 1] = first ? 0 : dt[i];
    }
}

/* d/dtt of sum dt * maxout(tt), away from ties. */
static void test_maxout_fd(th_env *env)
{
    (void)env;
    enum { N = 40 };
    float tt[2 * N], dt[N];
    double x[2 * N], t[2][N], g[2 * N], worst = 0;
    th_fill_uniform(tt, 2 * N, -2, 2);
    th_fill_uniform(dt, N, -1, 1);
    for (int i = 0; i < 2 * N; i++)
        x[i] = tt[i];
    maxout_bwd_ref(tt, dt, N, g);
    double h = 1e-6;
    for (int e = 0; e < 2 * N; e++) {
        if (fabs(x[e ^ 1] - x[e]) < 1e-3)
            continue; /* not differentiable at a tie */
        double l[2] = {0, 0};
        for (int s = 0; s < 2; s++) {
            double keep = x[e];
            x[e] += s ? -h : h;
            maxout_ref(x, N, t[s]);
            for (int i = 0; i < N; i++)
                l[s] += dt[i] * t[s][i];
            x[e] = keep;
        }
        worst = fmax(worst, fabs((l[0] - l[1]) / (2 * h) - g[e]));
    }
    CHECK(worst < 1e-8, "maxout backward reference vs finite differences: max abs error %g", worst);
}

static void check_maxout(th_env *env, uint32_t rows, uint32_t l)
{
    uint64_t n = (uint64_t)rows * l;
    float *tt = malloc(n * 8), *dt = malloc(n * 4), *t = malloc(n * 4), *dtt = malloc(n * 8);
    double *x = malloc(n * 16), *want_t = malloc(n * 8), *want_dtt = malloc(n * 16);
    CHECK(tt && dt && t && dtt && x && want_t && want_dtt, "out of memory");
    th_fill_uniform(tt, 2 * n, -3, 3);
    th_fill_uniform(dt, n, -1, 1);
    for (uint64_t i = 0; i < n; i += 3)
        tt[2 * i + 1] = tt[2 * i]; /* ties: go to the first */
    for (uint64_t i = 0; i < 2 * n; i++)
        x[i] = tt[i];
    maxout_ref(x, n, want_t);
    maxout_bwd_ref(tt, dt, n, want_dtt);
    th_gbuf gtt, gt, gdt, gdtt;
    CHECK(th_gbuf_create(env, 2 * n, &gtt) && th_gbuf_create(env, n, &gt) && th_gbuf_create(env, n, &gdt) &&
              th_gbuf_create(env, 2 * n, &gdtt),
          "buffers");
    CHECK(th_gbuf_upload(&gtt, tt) && th_gbuf_upload(&gdt, dt), "upload");
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    CHECK_OK(env, vknmt_maxout_forward(env->seq, rows, l, th_gbuf_ref(&gtt), th_gbuf_ref(&gt)));
    CHECK_OK(env, vknmt_maxout_backward(env->seq, rows, l, th_gbuf_ref(&gtt), th_gbuf_ref(&gdt), th_gbuf_ref(&gdtt)));
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    CHECK(th_gbuf_download(&gt, t) && th_gbuf_download(&gdtt, dtt), "download");
    double e1 = th_rel_err(t, want_t, n, 1e-30), e2 = th_rel_err(dtt, want_dtt, 2 * n, 1e-30);
    CHECK(e1 == 0 && e2 == 0, "maxout %ux%u: forward error %g, backward error %g (both must be exact)", rows, l, e1,
          e2);
    CHECK(th_gbuf_guards_ok(&gtt) && th_gbuf_guards_ok(&gt) && th_gbuf_guards_ok(&gdt) && th_gbuf_guards_ok(&gdtt),
          "write outside the output");
    th_gbuf_destroy(&gtt);
    th_gbuf_destroy(&gt);
    th_gbuf_destroy(&gdt);
    th_gbuf_destroy(&gdtt);
    free(tt), free(dt), free(t), free(dtt), free(x), free(want_t), free(want_dtt);
}

static void test_maxout(th_env *env)
{
    static const uint32_t shapes[][2] = {{1, 1}, {1, 7}, {5, 65}, {80, 256}, {3, 500}};
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]) && !th_failed(); i++)
        check_maxout(env, shapes[i][0], shapes[i][1]);
}

/* ------------------------------------------------------- log-softmax xent */

/* weight * (logsumexp(x) - x[target]) in double */
static double xent_ref(const double *x, uint32_t vocab, int32_t target, double w)
{
    if (w == 0)
        return 0;
    double m = -INFINITY, s = 0;
    for (uint32_t c = 0; c < vocab; c++)
        m = fmax(m, x[c]);
    for (uint32_t c = 0; c < vocab; c++)
        s += exp(x[c] - m);
    return w * (m + log(s) - x[target]);
}

static void xent_bwd_ref(const double *x, uint32_t vocab, int32_t target, double w, double *g)
{
    double m = -INFINITY, s = 0;
    for (uint32_t c = 0; c < vocab; c++)
        m = fmax(m, x[c]);
    for (uint32_t c = 0; c < vocab; c++)
        s += exp(x[c] - m);
    for (uint32_t c = 0; c < vocab; c++)
        g[c] = w == 0 ? 0 : w * (exp(x[c] - m) / s - ((int32_t)c == target));
}

static void check_xent(th_env *env, uint32_t rows, uint32_t vocab, float offset)
{
    uint64_t n = (uint64_t)rows * vocab;
    float *x = malloc(n * 4), *got = malloc(n * 4), *w = malloc(rows * 4), *nll = malloc(rows * 4);
    float *got2 = malloc(n * 4), *nll2 = malloc(rows * 4);
    double *xd = malloc(n * 8), *want = malloc(n * 8), *want_nll = malloc(rows * 8);
    int32_t *target = malloc(rows * 4);
    CHECK(x && got && w && nll && got2 && nll2 && xd && want && want_nll && target, "out of memory");
    th_fill_uniform(x, n, -6, 6);
    for (uint64_t i = 0; i < n; i++)
        xd[i] = x[i] += offset; /* large logits: the stored floats are the input */
    for (uint32_t r = 0; r < rows; r++) {
        target[r] = (int32_t)(th_rand_u64() % vocab);
        w[r] = th_uniform(0.25f, 2);
    }
    if (rows > 1) {
        w[1] = 0;       /* padding */
        target[1] = -1; /* never read */
    }
    for (uint32_t r = 0; r < rows; r++) {
        want_nll[r] = xent_ref(xd + (size_t)r * vocab, vocab, target[r], w[r]);
        xent_bwd_ref(xd + (size_t)r * vocab, vocab, target[r], w[r], want + (size_t)r * vocab);
    }
    /* The C backward against central differences of the C forward (row 0,
     * up to 40 columns incl. the target). */
    double h = 1e-4, worst = 0;
    for (uint32_t k = 0; k < vocab && k < 40; k++) {
        uint32_t c = k == 0 ? (uint32_t)target[0] : (uint32_t)((k * 7919ull) % vocab);
        double keep = xd[c], l[2];
        for (int s = 0; s < 2; s++) {
            xd[c] = keep + (s ? -h : h);
            l[s] = xent_ref(xd, vocab, target[0], w[0]);
        }
        xd[c] = keep;
        worst = fmax(worst, fabs((l[0] - l[1]) / (2 * h) - want[c]));
    }
    CHECK(worst < 1e-7, "xent backward reference vs finite differences (vocab %u): max abs error %g", vocab, worst);

    th_gbuf gx, gtg, gw, gn;
    CHECK(th_gbuf_create(env, n, &gx) && th_gbuf_create(env, rows, &gtg) && th_gbuf_create(env, rows, &gw) &&
              th_gbuf_create(env, rows, &gn),
          "buffers");
    CHECK(th_gbuf_upload(&gtg, (const float *)target) && th_gbuf_upload(&gw, w), "upload");
    for (int run = 0; run < 2; run++) {
        CHECK(th_gbuf_upload(&gx, x) && th_gbuf_poison(&gn), "upload");
        CHECK_OK(env, vknmt_seq_begin(env->seq));
        CHECK_OK(env, vknmt_logsoftmax_xent(env->seq, rows, vocab, vocab, th_gbuf_ref(&gx), th_gbuf_ref(&gtg),
                                            th_gbuf_ref(&gw), th_gbuf_ref(&gn)));
        CHECK_OK(env, vknmt_seq_submit(env->seq));
        CHECK(th_gbuf_download(&gx, run ? got2 : got) && th_gbuf_download(&gn, run ? nll2 : nll), "download");
    }
    /* A gradient entry is w (p - [target]), |p - [target]| <= 1, and a float
     * log-sum-exp carries ~1e-7 relative error into every p: measure against
     * the weight, not against the largest entry (a row peaked on its target
     * has entries far below w, and the float error is w-sized there too). */
    double wmax = 0;
    for (uint32_t r = 0; r < rows; r++)
        wmax = fmax(wmax, w[r]);
    double en = th_rel_err(nll, want_nll, rows, 1.0), eg = th_rel_err(got, want, n, 0.5 * wmax);
    CHECK(en < 2e-6, "xent %ux%u offset %g: nll relative error %g > 2e-6", rows, vocab, offset, en);
    CHECK(eg < 2e-6, "xent %ux%u offset %g: gradient relative error %g > 2e-6", rows, vocab, offset, eg);
    CHECK(!memcmp(got, got2, n * 4) && !memcmp(nll, nll2, rows * 4), "xent: two runs differ in their bits");
    CHECK(th_gbuf_guards_ok(&gx) && th_gbuf_guards_ok(&gtg) && th_gbuf_guards_ok(&gw) && th_gbuf_guards_ok(&gn),
          "write outside the output");

    /* Rows further apart, NaN between them: the same rows and bits, the gaps
     * 0. Layout 0: rows 3 floats apart (the scalar kernel); layout 1: rows on
     * quads at a quad offset, as training lays out its logits (the vec4
     * kernel: its sums must give the scalar kernel's bits). */
    for (int layout = 0; layout < 2 && !th_failed(); layout++) {
        uint32_t ld = layout == 0 ? vocab + 3 : (vocab + 3) / 4 * 4;
        uint64_t shift = layout == 0 ? 0 : (4 - TH_GUARD % 4) % 4; /* floats before row 0 */
        uint64_t np = shift + (uint64_t)rows * ld;
        float *xp = malloc(np * 4), *gotp = malloc(np * 4);
        th_gbuf gp;
        CHECK(xp && gotp && th_gbuf_create(env, np, &gp), "padded buffers");
        for (uint64_t i = 0; i < np; i++) {
            uint64_t j = i - shift;
            xp[i] = i < shift || j % ld >= vocab ? NAN : x[j / ld * vocab + j % ld];
        }
        CHECK(th_gbuf_upload(&gp, xp) && th_gbuf_poison(&gn), "upload");
        vknmt_ref r = th_gbuf_ref(&gp);
        /* on quads a CPU device reads through a texel view: count which ran */
        const char *quad_kernel = vknmt_cpu_texel_kernels(&env->ctx->caps) ? "logsoftmax_xent_texel"
                                                                          : "logsoftmax_xent_vec4";
        uint64_t quad_runs = th_kernel_calls(env, quad_kernel);
        bool profile = env->ctx->profile;
        env->ctx->profile = true;
        CHECK_OK(env, vknmt_seq_begin(env->seq));
        CHECK_OK(env, vknmt_logsoftmax_xent(env->seq, rows, vocab, ld, vknmt_at(r.buf, r.off + shift),
                                            th_gbuf_ref(&gtg), th_gbuf_ref(&gw), th_gbuf_ref(&gn)));
        CHECK_OK(env, vknmt_seq_submit(env->seq));
        env->ctx->profile = profile;
        quad_runs = th_kernel_calls(env, quad_kernel) - quad_runs;
        CHECK(!env->ctx->caps.timestamps || quad_runs == (layout == 1 ? 1u : 0u),
              "xent %ux%u with rows %u apart: %s ran %llu times", rows, vocab, ld, quad_kernel,
              (unsigned long long)quad_runs);
        CHECK(th_gbuf_download(&gp, gotp) && th_gbuf_download(&gn, nll2), "download");
        bool same = !memcmp(nll, nll2, rows * 4), gaps_zero = true, before_kept = !memcmp(gotp, xp, shift * 4);
        for (uint64_t i = shift; i < np; i++) {
            uint64_t j = i - shift;
            if (j % ld < vocab)
                same &= !memcmp(&gotp[i], &got[j / ld * vocab + j % ld], 4);
            else
                gaps_zero &= gotp[i] == 0;
        }
        bool guards = th_gbuf_guards_ok(&gp);
        th_gbuf_destroy(&gp);
        free(xp);
        free(gotp);
        CHECK(same, "xent %ux%u with rows %u apart: results differ from the dense layout", rows, vocab, ld);
        CHECK(gaps_zero, "xent %ux%u with rows %u apart: the gaps are not 0", rows, vocab, ld);
        CHECK(guards && before_kept, "padded (rows %u apart): write outside the output", ld);
    }
    th_gbuf_destroy(&gx);
    th_gbuf_destroy(&gtg);
    th_gbuf_destroy(&gw);
    th_gbuf_destroy(&gn);
    free(x), free(got), free(w), free(nll), free(got2), free(nll2), free(xd), free(want), free(want_nll);
    free(target);
}

/* Both workgroup forms: one subgroup per row (CPU devices, reading rows on
 * quads through a texel view) and the GPU groups of 32, 128 or 256 by
 * vocabulary, forced through the caps. */
static void test_xent(th_env *env)
{
    static const uint32_t vocabs[] = {1, 7, 100, 1000, 8003};
    static const uint32_t rows[] = {1, 5};
    vknmt_caps saved = env->ctx->caps;
    for (int form = 0; form < 2 && !th_failed(); form++) {
        env->ctx->caps.quirk_cpu_lanes = form == 0 ? saved.quirk_cpu_lanes : !saved.quirk_cpu_lanes;
        for (size_t v = 0; v < 5 && !th_failed(); v++)
            for (size_t r = 0; r < 2 && !th_failed(); r++)
                check_xent(env, rows[r], vocabs[v], 0);
    }
    env->ctx->caps = saved;
}

static void test_xent_large(th_env *env)
{
    check_xent(env, 5, 1000, 1e4f);
    if (!th_failed())
        check_xent(env, 2, 30000, -3e3f);
}

/* Huge logits must not give NaN; an out-of-range target with a weight
 * gives a NaN nll (the data error shows in the loss). */
static void test_xent_extreme(th_env *env)
{
    float x[8] = {1e30f, -1e30f, 88.0f, 1e30f, 1, 2, 3, 4}, got[8], nll[2], w[2] = {1, 1};
    int32_t tg[2] = {1, 7};
    double want[4] = {0.5, -1, 0, 0.5};
    th_gbuf gx, gt, gw, gn;
    CHECK(th_gbuf_create(env, 8, &gx) && th_gbuf_create(env, 2, &gt) && th_gbuf_create(env, 2, &gw) &&
              th_gbuf_create(env, 2, &gn),
          "buffers");
    CHECK(th_gbuf_upload(&gx, x) && th_gbuf_upload(&gt, (const float *)tg) && th_gbuf_upload(&gw, w), "upload");
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    CHECK_OK(env, vknmt_logsoftmax_xent(env->seq, 2, 4, 4, th_gbuf_ref(&gx), th_gbuf_ref(&gt), th_gbuf_ref(&gw),
                                        th_gbuf_ref(&gn)));
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    CHECK(th_gbuf_download(&gx, got) && th_gbuf_download(&gn, nll), "download");
    th_gbuf_destroy(&gx);
    th_gbuf_destroy(&gt);
    th_gbuf_destroy(&gw);
    th_gbuf_destroy(&gn);
    CHECK(th_rel_err(got, want, 4, 1e-30) < 1e-6, "grad %g %g %g %g", got[0], got[1], got[2], got[3]);
    CHECK(isfinite(nll[0]) && fabs(nll[0] - 2e30) <= 1e-6 * 2e30, "nll of huge logits %g, want 2e30", nll[0]);
    CHECK(isnan(nll[1]), "out-of-range target: nll %g, want NaN", nll[1]);
}

/* ----------------------------------------------------------------- tanh */

static void test_tanh_fd(th_env *env)
{
    (void)env;
    double worst = 0, h = 1e-5;
    for (int i = 0; i < 100; i++) {
        double x = th_uniform(-4, 4), dy = th_uniform(-1, 1), y = tanh(x);
        double fd = dy * (tanh(x + h) - tanh(x - h)) / (2 * h);
        worst = fmax(worst, fabs(fd - dy * (1 - y * y)));
    }
    CHECK(worst < 1e-9, "tanh backward reference vs finite differences: max abs error %g", worst);
}

static void check_tanh(th_env *env, uint64_t n)
{
    float *y = malloc(n * 4), *dy = malloc(n * 4), *got = malloc(n * 4);
    double *want = malloc(n * 8);
    CHECK(y && dy && got && want, "out of memory");
    for (uint64_t i = 0; i < n; i++)
        y[i] = (float)tanh(th_uniform(-5, 5));
    th_fill_uniform(dy, n, -2, 2);
    for (uint64_t i = 0; i < n; i++)
        want[i] = (double)dy[i] * (1 - (double)y[i] * y[i]);
    th_gbuf gy, gdy, gdx;
    CHECK(th_gbuf_create(env, n, &gy) && th_gbuf_create(env, n, &gdy) && th_gbuf_create(env, n, &gdx), "buffers");
    CHECK(th_gbuf_upload(&gy, y) && th_gbuf_upload(&gdy, dy), "upload");
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    CHECK_OK(env, vknmt_tanh_backward(env->seq, n, th_gbuf_ref(&gy), th_gbuf_ref(&gdy), th_gbuf_ref(&gdx)));
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    CHECK(th_gbuf_download(&gdx, got), "download");
    double err = th_rel_err(got, want, n, 1e-30);
    CHECK(err < 1e-6, "tanh_backward n=%llu: relative error %g > 1e-6", (unsigned long long)n, err);
    CHECK(th_gbuf_guards_ok(&gy) && th_gbuf_guards_ok(&gdy) && th_gbuf_guards_ok(&gdx), "write outside the output");
    th_gbuf_destroy(&gy);
    th_gbuf_destroy(&gdy);
    th_gbuf_destroy(&gdx);
    free(y), free(dy), free(got), free(want);
}

static void test_tanh(th_env *env)
{
    static const uint64_t sizes[] = {1, 63, 65, 10007};
    for (size_t i = 0; i < 4 && !th_failed(); i++)
        check_tanh(env, sizes[i]);
}

static void test_shapes(th_env *env)
{
    vknmt_buffer *b;
    CHECK_OK(env, vknmt_buffer_create(env->ctx, 4096, &b));
    vknmt_ref r = vknmt_at(b, 0);
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    vknmt_status s[7] = {
        vknmt_maxout_forward(env->seq, 0, 4, r, r),
        vknmt_maxout_backward(env->seq, 3, 0, r, r, r),
        vknmt_logsoftmax_xent(env->seq, 0, 10, 10, r, r, r, r),
        vknmt_logsoftmax_xent(env->seq, 2, 0, 0, r, r, r, r),
        vknmt_tanh_backward(env->seq, 0, r, r, r),
        vknmt_logsoftmax_xent(env->seq, 2, 10, 9, r, r, r, r), /* rows closer than their length */
        vknmt_logsoftmax_xent(env->seq, 2, 1000, 1000, r, r, r, r),
    };
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    vknmt_buffer_destroy(b);
    for (int i = 0; i < 6; i++)
        CHECK(s[i] == VKNMT_ERR_SHAPE, "call %d: %s, want VKNMT_ERR_SHAPE", i, vknmt_status_name(s[i]));
    CHECK(s[6] == VKNMT_ERR_RANGE, "logits beyond the buffer: %s", vknmt_status_name(s[6]));
}

void th_register_readout(void)
{
    th_add("readout", "maxout_reference_fd", test_maxout_fd);
    th_add("readout", "maxout", test_maxout);
    th_add("readout", "xent", test_xent);
    th_add("readout", "xent_large_logits", test_xent_large);
    th_add("readout", "xent_extreme", test_xent_extreme);
    th_add("readout", "tanh_reference_fd", test_tanh_fd);
    th_add("readout", "tanh_backward", test_tanh);
    th_add("readout", "shapes", test_shapes);
}
