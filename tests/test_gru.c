/* The GRU cell kernels (model/gru_cell.h) against plain C in double, one
 * kernel at a time and as a whole recurrence built with vknmt_gemm, forward
 * and backward through time; the C recurrence's gradients are checked
 * against central finite differences of its own loss. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gru_cell.h"
#include "harness.h"
#include "internal.h"     /* to force the elementwise kernels' texel form off through the caps */
#include "vknmt_kernel.h" /* the few-rows kernels' device test and row limit */

enum { FWD_A, FWD_B, BWD_A, BWD_B };
static const char *const KIND_NAME[] = {"fwd_a", "fwd_b", "bwd_a", "bwd_b"};
/* Row width of each kernel argument in units of n (header argument order). */
static const uint32_t WIDTH[4][5] = {{3, 2, 1, 3, 1}, {3, 1, 3, 1, 1}, {1, 3, 1, 3, 1}, {1, 3, 1, 3, 1}};
/* Arguments a kernel writes (the others must come back bit for bit). */
static const bool WRITES[4][5] = {{0, 0, 0, 1, 1}, {0, 0, 1, 0, 1}, {0, 0, 0, 1, 1}, {0, 0, 0, 1, 1}};

static double sigm(double x) { return 1.0 / (1.0 + exp(-x)); }

/* One step of kernel `kind` in double on the header's arguments x[0..4]
 * (B rows, n units), in place, exactly as model/gru_cell.h defines it. */
static void ref_step(int kind, uint32_t B, uint32_t n, const bool *live, double *const x[5])
{
    for (uint32_t b = 0; b < B; b++)
        for (uint32_t j = 0; j < n; j++) {
            uint64_t i = (uint64_t)b * n + j, g = (uint64_t)b * 3 * n + j, u = (uint64_t)b * 2 * n + j;
            if (kind == FWD_A) { /* a, hu_rz, h -> gates (r, z), rh */
                double r = sigm(x[0][g] + x[1][u]), z = sigm(x[0][g + n] + x[1][u + n]);
                x[3][g] = r;
                x[3][g + n] = z;
                x[4][i] = r * x[2][i];
            } else if (kind == FWD_B) { /* a, hu_h, gates, h -> gates (h~), h_new */
                double hh = tanh(x[0][g + 2 * n] + x[1][i]), z = x[2][g + n], h = x[3][i];
                x[2][g + 2 * n] = hh;
                x[4][i] = live[b] ? (1 - z) * h + z * hh : h;
            } else if (kind == BWD_A) { /* dh_new, gates, h -> da (z, h~), dh */
                double d = x[0][i], z = x[1][g + n], hh = x[1][g + 2 * n], h = x[2][i];
                x[3][g + n] = live[b] ? d * (hh - h) * z * (1 - z) : 0;
                x[3][g + 2 * n] = live[b] ? d * z * (1 - hh * hh) : 0;
                x[4][i] = live[b] ? d * (1 - z) : d;
            } else { /* d_rh, gates, h -> da (r), dh += */
                double d = x[0][i], r = x[1][g];
                x[3][g] = live[b] ? d * x[2][i] * r * (1 - r) : 0;
                if (live[b])
                    x[4][i] += d * r;
            }
        }
}

/* Largest |got - want| over max(max |want|, 1) where want is a number:
 * the cell's values are O(1) and vk_tanh's (e - 1)/(e + 1) errs by an
 * absolute amount near 0, so a lone tiny element (B = n = 1) must not
 * count as a large relative error. Where want is NaN (an element the
 * kernel must not write), got must still be NaN. */
static double cmp_out(const float *got, const double *want, uint64_t n, bool *stray)
{
    double scale = 1, err = 0;
    *stray = false;
    for (uint64_t i = 0; i < n; i++)
        if (!isnan(want[i]) && fabs(want[i]) > scale)
            scale = fabs(want[i]);
    for (uint64_t i = 0; i < n; i++) {
        if (isnan(want[i])) {
            *stray |= !isnan(got[i]);
            continue;
        }
        if (!isfinite(got[i]))
            return INFINITY;
        err = fmax(err, fabs(got[i] - want[i]));
    }
    return err / scale;
}

static void fill(float *x, uint64_t count, float lo, float hi)
{
    if (isnan(lo)) { /* to be written by the kernel */
        for (uint64_t i = 0; i < count; i++)
            x[i] = NAN;
    } else {
        th_fill_uniform(x, count, lo, hi);
    }
}

/* gates [B, 3n]: r, z in (0, 1), h~ in (-1, 1) or NaN (not yet computed). */
static void fill_gates(float *x, uint32_t B, uint32_t n, bool hh_nan)
{
    for (uint64_t e = 0; e < (uint64_t)B * 3 * n; e++)
        x[e] = e % (3 * n) < 2 * n ? th_uniform(0.02f, 0.98f) : hh_nan ? NAN : th_uniform(-1, 1);
}

/* Random inputs for kernel `kind` in the header's argument order; NaN marks
 * what the kernel must write (so an unwritten element fails) or must leave
 * alone. */
static void fill_inputs(int kind, uint32_t B, uint32_t n, float *const x[5])
{
    uint64_t bn = (uint64_t)B * n;
    switch (kind) {
    case FWD_A: /* a, hu_rz, h -> gates, rh */
        fill(x[0], 3 * bn, -3, 3);
        fill(x[1], 2 * bn, -3, 3);
        fill(x[2], bn, -1, 1);
        fill(x[3], 3 * bn, NAN, 0);
        fill(x[4], bn, NAN, 0);
        break;
    case FWD_B: /* a, hu_h, gates, h -> gates (h~), h_new */
        fill(x[0], 3 * bn, -3, 3);
        fill(x[1], bn, -3, 3);
        fill_gates(x[2], B, n, true);
        fill(x[3], bn, -1, 1);
        fill(x[4], bn, NAN, 0);
        break;
    case BWD_A: /* dh_new, gates, h -> da (z, h~), dh */
        fill(x[0], bn, -2, 2);
        fill_gates(x[1], B, n, false);
        fill(x[2], bn, -1, 1);
        fill(x[3], 3 * bn, NAN, 0);
        fill(x[4], bn, NAN, 0);
        break;
    default: /* d_rh, gates, h -> da (r; z and h~ hold values to keep), dh += */
        fill(x[0], bn, -2, 2);
        fill_gates(x[1], B, n, false);
        fill(x[2], bn, -1, 1);
        fill(x[3], 3 * bn, -1, 1);
        fill(x[4], bn, -1, 1);
        for (uint64_t e = 0; e < 3 * bn; e++)
            if (e % (3 * n) < n)
                x[3][e] = NAN;
        break;
    }
}

/* Float offset in a guarded buffer that puts a tensor on a quad. */
#define QUAD_OFF ((4 - TH_GUARD % 4) % 4)

/* One kernel on random inputs against ref_step; with `quads` every tensor
 * starts on a quad (the kernels' vec4 forms, when n is a multiple of 4). */
static void check_kernel(th_env *env, int kind, uint32_t B, uint32_t n, int phase, bool with_len, bool quads)
{
    const uint32_t t = 3;
    uint64_t sh = quads ? QUAD_OFF : 0; /* each tensor starts sh floats into its buffer */
    float *xs[5] = {0}, *x[5] = {0}, *gots = NULL;
    double *want[5] = {0};
    uint32_t *len = malloc(B * 4);
    bool *live = malloc(B);
    th_gbuf g[5], gl;
    bool ok = len && live;
    for (int k = 0; k < 5 && ok; k++) {
        uint64_t m = (uint64_t)B * n * WIDTH[kind][k];
        ok = (xs[k] = calloc(m + sh, 4)) && (want[k] = malloc(m * 8));
        x[k] = xs[k] + sh;
    }
    CHECK(ok && (gots = malloc(((uint64_t)B * 3 * n + sh) * 4)), "out of memory");
    float *got = gots + sh;
    for (uint32_t b = 0; b < B; b++) { /* alternate live and masked rows */
        live[b] = !with_len || (b + phase) % 2 == 0;
        len[b] = live[b] ? t + 1 + (uint32_t)(th_rand_u64() % 3) : (uint32_t)(th_rand_u64() % (t + 1));
    }
    fill_inputs(kind, B, n, x);
    for (int k = 0; k < 5; k++) {
        uint64_t m = (uint64_t)B * n * WIDTH[kind][k];
        for (uint64_t e = 0; e < m; e++)
            want[k][e] = x[k][e];
        CHECK(th_gbuf_create(env, m + sh, &g[k]) && th_gbuf_upload(&g[k], xs[k]), "buffer");
    }
    CHECK(th_gbuf_create(env, B, &gl) && th_gbuf_upload(&gl, (const float *)len), "buffer");
    ref_step(kind, B, n, live, want);

    vknmt_gru_step st = {.batch = B, .n = n, .t = t, .lengths = with_len ? th_gbuf_ref(&gl) : (vknmt_ref){0}};
    vknmt_ref r[5];
    for (int k = 0; k < 5; k++)
        r[k] = vknmt_at(g[k].buf, th_gbuf_ref(&g[k]).off + sh);
    /* the quad form of a CPU device reads arguments 0 and 1 through texel views */
    char texel_name[32], vec4_name[32];
    snprintf(texel_name, sizeof texel_name, "gru_%s_texel", KIND_NAME[kind]);
    snprintf(vec4_name, sizeof vec4_name, "gru_%s_vec4", KIND_NAME[kind]);
    uint64_t texel0 = th_kernel_calls(env, texel_name), vec40 = th_kernel_calls(env, vec4_name);
    bool profile = env->ctx->profile;
    env->ctx->profile = true; /* count the kernels that run */
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    if (kind == FWD_A)
        CHECK_OK(env, vknmt_gru_fwd_a(env->seq, &st, r[0], r[1], r[2], r[3], r[4]));
    else if (kind == FWD_B)
        CHECK_OK(env, vknmt_gru_fwd_b(env->seq, &st, r[0], r[1], r[2], r[3], r[4]));
    else if (kind == BWD_A)
        CHECK_OK(env, vknmt_gru_bwd_a(env->seq, &st, r[0], r[1], r[2], r[3], r[4]));
    else
        CHECK_OK(env, vknmt_gru_bwd_b(env->seq, &st, r[0], r[1], r[2], r[3], r[4]));
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    env->ctx->profile = profile;

    bool want_texel = quads && vknmt_cpu_texel_kernels(&env->ctx->caps);
    const char *form = want_texel ? " (quads, texel)" : quads ? " (quads)" : "";
    if (env->ctx->caps.timestamps) {
        uint64_t texel = th_kernel_calls(env, texel_name) - texel0, vec4 = th_kernel_calls(env, vec4_name) - vec40;
        CHECK(texel == (want_texel ? 1u : 0u) && vec4 == (quads && !want_texel ? 1u : 0u),
              "%s%s B=%u n=%u: %llu texel and %llu vec4 dispatches", KIND_NAME[kind], form, B, n,
              (unsigned long long)texel, (unsigned long long)vec4);
    }
    for (int k = 0; k < 5; k++) {
        uint64_t m = (uint64_t)B * n * WIDTH[kind][k];
        CHECK(th_gbuf_download(&g[k], gots), "download");
        CHECK(th_gbuf_guards_ok(&g[k]), "%s%s B=%u n=%u: write outside argument %d", KIND_NAME[kind], form, B, n, k);
        CHECK(memcmp(gots, xs[k], sh * 4) == 0, "%s%s B=%u n=%u: wrote before argument %d", KIND_NAME[kind], form, B,
              n, k);
        if (!WRITES[kind][k]) {
            CHECK(memcmp(got, x[k], m * 4) == 0, "%s%s B=%u n=%u: input %d changed", KIND_NAME[kind], form, B, n, k);
            continue;
        }
        bool stray;
        double err = cmp_out(got, want[k], m, &stray);
        CHECK(!stray, "%s%s B=%u n=%u: wrote an element of argument %d it must leave alone", KIND_NAME[kind], form, B,
              n, k);
        CHECK(err <= 2e-6, "%s%s B=%u n=%u len=%d: argument %d relative error %g > 2e-6", KIND_NAME[kind], form, B, n,
              with_len, k, err);
    }
    CHECK(th_gbuf_guards_ok(&gl), "lengths guard");
    for (int k = 0; k < 5; k++) {
        th_gbuf_destroy(&g[k]);
        free(xs[k]);
        free(want[k]);
    }
    th_gbuf_destroy(&gl);
    free(gots);
    free(len);
    free(live);
}

static void for_shapes(th_env *env, int kind)
{
    static const uint32_t Bs[] = {1, 3, 80}, ns[] = {1, 7, 33}, quad_ns[] = {4, 36};
    for (int bi = 0; bi < 3; bi++)
        for (int ni = 0; ni < 3; ni++)
            for (int phase = 0; phase < 2 && !th_failed(); phase++) /* B = 1: once live, once masked */
                check_kernel(env, kind, Bs[bi], ns[ni], phase, true, false);
    /* the quad forms twice: as the device runs them, and without texel views */
    bool texel_buffers = env->ctx->caps.texel_buffers;
    for (int form = 0; form < (texel_buffers ? 2 : 1); form++) {
        env->ctx->caps.texel_buffers = texel_buffers && form == 0;
        for (int bi = 0; bi < 3; bi++)
            for (int ni = 0; ni < 2; ni++)
                for (int phase = 0; phase < 2 && !th_failed(); phase++)
                    check_kernel(env, kind, Bs[bi], quad_ns[ni], phase, true, true);
        if (!th_failed())
            check_kernel(env, kind, 5, 12, 0, false, true);
    }
    env->ctx->caps.texel_buffers = texel_buffers;
    if (!th_failed())
        check_kernel(env, kind, 5, 9, 0, false, false); /* no lengths: every row live */
}

static void test_fwd_a(th_env *env) { for_shapes(env, FWD_A); }
static void test_fwd_b(th_env *env) { for_shapes(env, FWD_B); }
static void test_bwd_a(th_env *env) { for_shapes(env, BWD_A); }
static void test_bwd_b(th_env *env) { for_shapes(env, BWD_B); }

/* ------------------------------------------------ the whole recurrence */

typedef struct seq_shape {
    uint32_t T, B, n;
} seq_shape;

/* A GRU over T steps in double: h_{t+1} = cell(a_t, h_t) with rows masked
 * where t >= len[b]; loss = sum_t,b,k w[t,b,k] h_{t+1}[b,k]. Fills H
 * [T+1,B,n] and G [T,B,3n]; with da set also the gradients da [T,B,3n]
 * (= dloss/da), dU [3n,n] and dh0 [B,n]. Returns the loss. */
static double ref_seq(seq_shape s, const uint32_t *len, const double *a, const double *U, const double *h0,
                      const double *w, double *H, double *G, double *da, double *dU, double *dh0)
{
    uint32_t T = s.T, B = s.B, n = s.n;
    uint64_t bn = (uint64_t)B * n, b3n = 3 * bn;
    double *tmp = malloc(bn * 2 * 8), *tmp2 = malloc(bn * 8), *g = malloc(bn * 8);
    bool *live = malloc(B);
    double loss = 0;
    if (!tmp || !tmp2 || !g || !live)
        abort();
    memcpy(H, h0, bn * 8);
    for (uint32_t t = 0; t < T; t++) {
        double *Ht = H + t * bn, *Gt = G + t * b3n;
        const double *at = a + t * b3n;
        for (uint32_t b = 0; b < B; b++)
            live[b] = t < len[b];
        for (uint32_t b = 0; b < B; b++) /* hu_rz = h U[0:2n]^T */
            for (uint32_t k = 0; k < 2 * n; k++) {
                double acc = 0;
                for (uint32_t j = 0; j < n; j++)
                    acc += Ht[b * n + j] * U[k * n + j];
                tmp[b * 2 * n + k] = acc;
            }
        ref_step(FWD_A, B, n, live, (double *const[5]){(double *)at, tmp, Ht, Gt, tmp2});
        for (uint32_t b = 0; b < B; b++) /* hu_h = rh U[2n:3n]^T */
            for (uint32_t k = 0; k < n; k++) {
                double acc = 0;
                for (uint32_t j = 0; j < n; j++)
                    acc += tmp2[b * n + j] * U[(2 * n + k) * n + j];
                tmp[b * n + k] = acc;
            }
        ref_step(FWD_B, B, n, live, (double *const[5]){(double *)at, tmp, Gt, Ht, Ht + bn});
        for (uint64_t i = 0; i < bn; i++)
            loss += w[t * bn + i] * Ht[bn + i];
    }
    if (da) {
        memset(dU, 0, (uint64_t)3 * n * n * 8);
        memcpy(g, w + (uint64_t)(T - 1) * bn, bn * 8);
        for (uint32_t t = T; t-- > 0;) {
            double *Ht = H + t * bn, *Gt = G + t * b3n, *dat = da + t * b3n;
            for (uint32_t b = 0; b < B; b++)
                live[b] = t < len[b];
            ref_step(BWD_A, B, n, live, (double *const[5]){g, Gt, Ht, dat, dh0});
            for (uint32_t b = 0; b < B; b++) /* d_rh = da_h U_h */
                for (uint32_t j = 0; j < n; j++) {
                    double acc = 0;
                    for (uint32_t k = 0; k < n; k++)
                        acc += dat[b * 3 * n + 2 * n + k] * U[(2 * n + k) * n + j];
                    tmp[b * n + j] = acc;
                }
            ref_step(BWD_B, B, n, live, (double *const[5]){tmp, Gt, Ht, dat, dh0});
            for (uint32_t b = 0; b < B; b++) /* dh += da_rz U_rz */
                for (uint32_t j = 0; j < n; j++) {
                    double acc = 0;
                    for (uint32_t k = 0; k < 2 * n; k++)
                        acc += dat[b * 3 * n + k] * U[k * n + j];
                    dh0[b * n + j] += acc;
                }
            for (uint32_t k = 0; k < 3 * n; k++) /* dU += da^T [h, h, r*h] */
                for (uint32_t j = 0; j < n; j++) {
                    double acc = 0;
                    for (uint32_t b = 0; b < B; b++)
                        acc += dat[b * 3 * n + k] * Ht[b * n + j] * (k < 2 * n ? 1.0 : Gt[b * 3 * n + j]);
                    dU[k * n + j] += acc;
                }
            for (uint64_t i = 0; i < bn; i++)
                g[i] = dh0[i] + (t > 0 ? w[(t - 1) * bn + i] : 0.0);
        }
    }
    free(tmp);
    free(tmp2);
    free(g);
    free(live);
    return loss;
}

/* Central differences of ref_seq's loss in `count` sampled entries of p
 * (all when few) against the analytic gradient; returns the worst error
 * relative to max |grad|. */
static double fd_check(seq_shape s, const uint32_t *len, double *a, double *U, double *h0, const double *w, double *p,
                       uint64_t count, const double *grad, double *H, double *G)
{
    const double eps = 1e-5;
    double scale = 1e-30, err = 0;
    for (uint64_t i = 0; i < count; i++)
        scale = fmax(scale, fabs(grad[i]));
    uint64_t samples = count <= 120 ? count : 120;
    for (uint64_t q = 0; q < samples; q++) {
        uint64_t i = count <= 120 ? q : th_rand_u64() % count;
        double keep = p[i];
        p[i] = keep + eps;
        double lp = ref_seq(s, len, a, U, h0, w, H, G, NULL, NULL, NULL);
        p[i] = keep - eps;
        double lm = ref_seq(s, len, a, U, h0, w, H, G, NULL, NULL, NULL);
        p[i] = keep;
        err = fmax(err, fabs((lp - lm) / (2 * eps) - grad[i]));
    }
    return err / scale;
}

static float *to_float(const double *x, uint64_t n, float *out)
{
    for (uint64_t i = 0; i < n; i++)
        out[i] = (float)x[i];
    return out;
}

enum { S_A, S_U, S_H, S_G, S_HURZ, S_HUH, S_RH, S_DA, S_DH, S_W, S_DRH, S_LEN, S_COUNT };

/* Records the device recurrence: forward over T steps, then backward
 * through time (DH [T+1,B,n] holds dloss/dh_t; DH_0 is dloss/dh0). */
static vknmt_status record_seq(vknmt_seq *seq, seq_shape s, const th_gbuf *gb)
{
    uint32_t T = s.T, B = s.B, n = s.n;
    uint64_t bn = (uint64_t)B * n, b3n = 3 * bn;
    vknmt_ref r[S_COUNT];
    for (int k = 0; k < S_COUNT; k++)
        r[k] = th_gbuf_ref(&gb[k]);
#define AT(k, e) vknmt_at(r[k].buf, r[k].off + (e))
    vknmt_status st = VKNMT_OK;
    for (uint32_t t = 0; t < T && !st; t++) {
        vknmt_gru_step step = {.batch = B, .n = n, .t = t, .lengths = r[S_LEN]};
        vknmt_gemm_args rz = {.m = B, .n = 2 * n, .k = n, .trans_b = true, .alpha = 1, .a = AT(S_H, t * bn),
                              .b = r[S_U], .c = r[S_HURZ], .lda = n, .ldb = n, .ldc = 2 * n};
        vknmt_gemm_args hh = {.m = B, .n = n, .k = n, .trans_b = true, .alpha = 1, .a = r[S_RH],
                              .b = AT(S_U, 2 * n * n), .c = r[S_HUH], .lda = n, .ldb = n, .ldc = n};
        if ((st = vknmt_gemm(seq, &rz)) ||
            (st = vknmt_gru_fwd_a(seq, &step, AT(S_A, t * b3n), r[S_HURZ], AT(S_H, t * bn), AT(S_G, t * b3n),
                                  r[S_RH])) ||
            (st = vknmt_gemm(seq, &hh)))
            break;
        st = vknmt_gru_fwd_b(seq, &step, AT(S_A, t * b3n), r[S_HUH], AT(S_G, t * b3n), AT(S_H, t * bn),
                             AT(S_H, (t + 1) * bn));
    }
    if (!st)
        st = vknmt_copy(seq, AT(S_W, (T - 1) * bn), AT(S_DH, T * bn), bn);
    for (uint32_t t = T; t-- > 0 && !st;) {
        vknmt_gru_step step = {.batch = B, .n = n, .t = t, .lengths = r[S_LEN]};
        vknmt_ref da = AT(S_DA, t * b3n), dh = AT(S_DH, t * bn);
        vknmt_gemm_args drh = {.m = B, .n = n, .k = n, .alpha = 1, .a = AT(S_DA, t * b3n + 2 * n),
                               .b = AT(S_U, 2 * n * n), .c = r[S_DRH], .lda = 3 * n, .ldb = n, .ldc = n};
        vknmt_gemm_args rz = {.m = B, .n = n, .k = 2 * n, .alpha = 1, .beta = 1, .a = da, .b = r[S_U], .c = dh,
                              .lda = 3 * n, .ldb = n, .ldc = n};
        if ((st = vknmt_gru_bwd_a(seq, &step, AT(S_DH, (t + 1) * bn), AT(S_G, t * b3n), AT(S_H, t * bn), da, dh)) ||
            (st = vknmt_gemm(seq, &drh)) ||
            (st = vknmt_gru_bwd_b(seq, &step, r[S_DRH], AT(S_G, t * b3n), AT(S_H, t * bn), da, dh)) ||
            (st = vknmt_gemm(seq, &rz)))
            break;
        if (t > 0)
            st = vknmt_axpy(seq, 1, AT(S_W, (t - 1) * bn), dh, bn);
    }
#undef AT
    return st;
}

static void check_seq(th_env *env, seq_shape s)
{
    uint32_t T = s.T, B = s.B, n = s.n;
    uint64_t bn = (uint64_t)B * n, b3n = 3 * bn, un = (uint64_t)3 * n * n;
    const uint64_t sizes[S_COUNT] = {T * b3n, un, (T + 1) * bn, T * b3n, 2 * bn, bn, bn, T * b3n, (T + 1) * bn,
                                     T * bn, bn, B};
    uint64_t total = 0;
    for (int k = 0; k < S_COUNT; k++)
        total += sizes[k];
    /* Host: double inputs and reference results, float copies, downloads. */
    double *d = calloc(total * 2 + un, 8);
    float *f = calloc(total, 4), *f2 = calloc(total, 4);
    CHECK(d && f && f2, "out of memory");
    double *ref[S_COUNT], *dU = d + 2 * total;
    float *hf[S_COUNT], *hf2[S_COUNT];
    uint64_t at = 0;
    for (int k = 0; k < S_COUNT; k++) {
        ref[k] = d + at;
        hf[k] = f + at;
        hf2[k] = f2 + at;
        at += sizes[k];
    }
    double *h0 = d + total; /* a spare copy region for h0 */
    uint32_t *len = malloc(B * 4);
    CHECK(len, "out of memory");
    for (uint32_t b = 0; b < B; b++) /* ragged: full, empty and in between */
        len[b] = b == 0 ? T : b == B - 1 ? 0 : (uint32_t)(th_rand_u64() % (T + 1));
    double us = 1.5 / sqrt((double)n);
    for (uint64_t i = 0; i < sizes[S_A]; i++)
        ref[S_A][i] = (float)th_uniform(-1.5f, 1.5f);
    for (uint64_t i = 0; i < un; i++)
        ref[S_U][i] = (float)(us * th_uniform(-1, 1));
    for (uint64_t i = 0; i < bn; i++)
        h0[i] = (float)th_uniform(-1, 1);
    for (uint64_t i = 0; i < sizes[S_W]; i++)
        ref[S_W][i] = (float)th_uniform(-1, 1);

    /* The C recurrence, and its gradients against finite differences. */
    ref_seq(s, len, ref[S_A], ref[S_U], h0, ref[S_W], ref[S_H], ref[S_G], ref[S_DA], dU, ref[S_DH]);
    double *H2 = calloc(sizes[S_H] + sizes[S_G], 8), *grad_copy = malloc((sizes[S_DA] + un + bn) * 8);
    CHECK(H2 && grad_copy, "out of memory");
    memcpy(grad_copy, ref[S_DA], sizes[S_DA] * 8);
    memcpy(grad_copy + sizes[S_DA], dU, un * 8);
    memcpy(grad_copy + sizes[S_DA] + un, ref[S_DH], bn * 8); /* DH_0 = dloss/dh0 */
    double e_a = fd_check(s, len, ref[S_A], ref[S_U], h0, ref[S_W], ref[S_A], sizes[S_A], grad_copy, H2,
                          H2 + sizes[S_H]);
    double e_u = fd_check(s, len, ref[S_A], ref[S_U], h0, ref[S_W], ref[S_U], un, grad_copy + sizes[S_DA], H2,
                          H2 + sizes[S_H]);
    double e_h = fd_check(s, len, ref[S_A], ref[S_U], h0, ref[S_W], h0, bn, grad_copy + sizes[S_DA] + un, H2,
                          H2 + sizes[S_H]);
    free(H2);
    free(grad_copy);
    CHECK(e_a <= 1e-7 && e_u <= 1e-7 && e_h <= 1e-7, "T=%u B=%u n=%u: C gradients vs finite differences: "
          "da %g, dU %g, dh0 %g > 1e-7", T, B, n, e_a, e_u, e_h);

    /* The device: inputs uploaded, everything else poisoned. */
    th_gbuf gb[S_COUNT];
    for (int k = 0; k < S_COUNT; k++)
        CHECK(th_gbuf_create(env, sizes[k], &gb[k]), "buffer");
    float *h_init = malloc(sizes[S_H] * 4); /* h0 then NaN */
    CHECK(h_init, "out of memory");
    for (uint64_t i = 0; i < sizes[S_H]; i++)
        h_init[i] = i < bn ? (float)h0[i] : NAN;
    CHECK(th_gbuf_upload(&gb[S_A], to_float(ref[S_A], sizes[S_A], hf[S_A])) &&
              th_gbuf_upload(&gb[S_U], to_float(ref[S_U], un, hf[S_U])) &&
              th_gbuf_upload(&gb[S_W], to_float(ref[S_W], sizes[S_W], hf[S_W])) && th_gbuf_upload(&gb[S_H], h_init) &&
              th_gbuf_upload(&gb[S_LEN], (const float *)len),
          "upload");
    static const int outs[] = {S_H, S_G, S_DA, S_DH};
    for (int run = 0; run < 2; run++) { /* twice: the bits must repeat */
        for (int k = S_G; k < S_W && run == 1; k++)
            CHECK(th_gbuf_poison(&gb[k]), "poison");
        CHECK(th_gbuf_upload(&gb[S_H], h_init), "upload");
        CHECK_OK(env, vknmt_seq_begin(env->seq));
        CHECK_OK(env, record_seq(env->seq, s, gb));
        CHECK_OK(env, vknmt_seq_submit(env->seq));
        for (int o = 0; o < 4; o++)
            CHECK(th_gbuf_download(&gb[outs[o]], (run ? hf2 : hf)[outs[o]]), "download");
    }
    for (int o = 0; o < 4; o++)
        CHECK(memcmp(hf[outs[o]], hf2[outs[o]], sizes[outs[o]] * 4) == 0, "T=%u B=%u n=%u: output %d differs "
              "between two identical runs", T, B, n, outs[o]);
    for (int k = 0; k < S_COUNT; k++)
        CHECK(th_gbuf_guards_ok(&gb[k]), "T=%u B=%u n=%u: write outside buffer %d", T, B, n, k);

    /* dU from the device's da and stored states, on the host in double. */
    double *dU_dev = calloc(un, 8);
    CHECK(dU_dev, "out of memory");
    for (uint32_t t = 0; t < T; t++)
        for (uint32_t k = 0; k < 3 * n; k++)
            for (uint32_t j = 0; j < n; j++)
                for (uint32_t b = 0; b < B; b++) {
                    double hv = hf[S_H][t * bn + b * n + j];
                    if (k >= 2 * n)
                        hv *= hf[S_G][t * b3n + b * 3 * n + j]; /* r * h */
                    dU_dev[k * n + j] += hf[S_DA][t * b3n + b * 3 * n + k] * hv;
                }
    float *dU_f = malloc(un * 4);
    CHECK(dU_f, "out of memory");
    /* Errors relative to max(max |want|, 1), as in cmp_out. */
    double e_states = th_rel_err(hf[S_H], ref[S_H], sizes[S_H], 1);
    double e_gates = th_rel_err(hf[S_G], ref[S_G], sizes[S_G], 1);
    double e_da = th_rel_err(hf[S_DA], ref[S_DA], sizes[S_DA], 1);
    double e_dh0 = th_rel_err(hf[S_DH], ref[S_DH], bn, 1);
    double e_du = th_rel_err(to_float(dU_dev, un, dU_f), dU, un, 1);
    free(dU_dev);
    free(dU_f);
    CHECK(e_states <= 1e-5 && e_gates <= 1e-5, "T=%u B=%u n=%u forward: h %g, gates %g > 1e-5", T, B, n, e_states,
          e_gates);
    CHECK(e_da <= 2e-5 && e_dh0 <= 2e-5 && e_du <= 2e-5, "T=%u B=%u n=%u backward: da %g, dh0 %g, dU %g > 2e-5", T,
          B, n, e_da, e_dh0, e_du);
    for (int k = 0; k < S_COUNT; k++)
        th_gbuf_destroy(&gb[k]);
    free(d);
    free(f);
    free(f2);
    free(len);
    free(h_init);
}

static void test_sequence(th_env *env)
{
    static const seq_shape shapes[] = {{1, 1, 1}, {1, 3, 7}, {6, 1, 7}, {6, 5, 33}, {6, 80, 7}};
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]) && !th_failed(); i++)
        check_seq(env, shapes[i]);
}

/* The few-rows forward step (two dispatches, the cell as the products'
 * epilogue) against the four-dispatch path, bit for bit: gates, rh and
 * h_new, masked rows included, outputs poisoned and guarded; with `steps`
 * 2, two steps of other weights and times in the same buffers (the
 * encoder's directions) in the same two dispatches. Where the device's caps
 * allow it, it must run for 1-12 rows on quads; never for 13. */
enum { R_A, R_U, R_H, R_HURZ, R_HUH, R_LEN, R_G1, R_RH1, R_HN1, R_G2, R_RH2, R_HN2, R_COUNT };

static vknmt_ref quad_ref(const th_gbuf *g)
{
    vknmt_ref r = th_gbuf_ref(g);
    return vknmt_at(r.buf, r.off + (4 - r.off % 4) % 4);
}

/* Why the n floats at got (in guarded buffer g) are not bit for bit those at
 * want, or NULL; a and b take n floats each. */
static const char *outputs_differ(const th_gbuf *g, vknmt_ref got, vknmt_ref want, uint64_t n, float *a, float *b)
{
    if (!th_gbuf_guards_ok(g))
        return "written outside";
    if (vknmt_buffer_download(got.buf, got.off * 4, a, n * 4) ||
        vknmt_buffer_download(want.buf, want.off * 4, b, n * 4))
        return "download failed";
    return memcmp(a, b, n * 4) ? "different bits" : NULL;
}

static void check_rows_step(th_env *env, uint32_t B, uint32_t n, bool with_len, uint32_t steps)
{
    uint64_t bn = (uint64_t)B * n;
    /* one tensor's floats per step; each buffer holds `steps` of them */
    const uint64_t sizes[R_COUNT] = {3 * bn, 3 * (uint64_t)n * n, bn, 2 * bn, bn, B, 3 * bn, bn, bn, 3 * bn, bn, bn};
    th_gbuf g[R_COUNT] = {0};
    vknmt_ref r[R_COUNT];
    uint64_t most = 2 * 3 * (bn > (uint64_t)n * n ? bn : (uint64_t)n * n); /* the largest buffer */
    float *host = malloc(most * 4), *h2 = malloc(most * 4);
    bool ok = host && h2;
    for (int k = 0; k < R_COUNT && ok; k++)
        ok = th_gbuf_create(env, steps * sizes[k] + 3, &g[k]);
    CHECK(ok, "out of memory");
    for (int k = 0; k < R_COUNT; k++)
        r[k] = quad_ref(&g[k]);
#define AT(k, i) vknmt_at(r[k].buf, r[k].off + (i) * sizes[k])
    for (int k = R_A; k <= R_H; k++) {
        th_fill_uniform(host, steps * sizes[k], k == R_U ? -0.5f : -2, k == R_U ? 0.5f : 2);
        CHECK_OK(env, vknmt_buffer_upload(r[k].buf, r[k].off * 4, host, steps * sizes[k] * 4));
    }
    uint32_t *len = (uint32_t *)host;
    for (uint32_t b = 0; b < B; b++)
        len[b] = b % 2 ? 2 : 3; /* at t = 2 odd rows are masked, at t = 1 none */
    CHECK_OK(env, vknmt_buffer_upload(r[R_LEN].buf, r[R_LEN].off * 4, len, B * 4));
    vknmt_gru_rows_step rs[2];
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    for (uint32_t i = 0; i < steps; i++) {
        vknmt_gru_step st = {.batch = B, .n = n, .t = 2 - i, .lengths = with_len ? r[R_LEN] : (vknmt_ref){0}};
        vknmt_gemm_args rz = {.m = B, .n = 2 * n, .k = n, .trans_b = true, .alpha = 1, .a = AT(R_H, i),
                              .b = AT(R_U, i), .c = r[R_HURZ]};
        vknmt_gemm_args hh = {.m = B, .n = n, .k = n, .trans_b = true, .alpha = 1, .a = AT(R_RH1, i),
                              .b = vknmt_at(r[R_U].buf, AT(R_U, i).off + 2 * (uint64_t)n * n), .c = r[R_HUH]};
        CHECK_OK(env, vknmt_gemm(env->seq, &rz));
        CHECK_OK(env, vknmt_gru_fwd_a(env->seq, &st, AT(R_A, i), r[R_HURZ], AT(R_H, i), AT(R_G1, i), AT(R_RH1, i)));
        CHECK_OK(env, vknmt_gemm(env->seq, &hh));
        CHECK_OK(env, vknmt_gru_fwd_b(env->seq, &st, AT(R_A, i), r[R_HUH], AT(R_G1, i), AT(R_H, i), AT(R_HN1, i)));
        rs[i] = (vknmt_gru_rows_step){st, AT(R_U, i), AT(R_A, i), AT(R_H, i), AT(R_G2, i), AT(R_RH2, i), AT(R_HN2, i),
                                      false};
    }
#undef AT
    bool ran = false;
    CHECK_OK(env, vknmt_gru_rows_forward(env->seq, steps, rs, &ran));
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    const vknmt_caps *caps = vknmt_context_caps(env->ctx);
    bool want = vknmt_cpu_texel_kernels(caps) && B <= VKNMT_FEW_ROWS && n % 4 == 0;
    CHECK(ran == want, "B=%u n=%u: the few-rows step %s", B, n, ran ? "ran where it must not" : "did not run");
    for (int k = R_G2; ran && k <= R_HN2 && !th_failed(); k++) {
        const char *why = outputs_differ(&g[k], r[k], r[k - 3], steps * sizes[k], h2, host);
        CHECK(!why, "B=%u n=%u len=%d steps=%u: output %d (gates, rh, h_new) against the four-dispatch step: %s", B,
              n, with_len, steps, k - R_G2, why);
    }
    for (int k = 0; k < R_COUNT; k++)
        th_gbuf_destroy(&g[k]);
    free(host);
    free(h2);
}

static void test_rows_step(th_env *env)
{
    static const uint32_t Bs[] = {1, 3, 5, 9, VKNMT_FEW_ROWS, VKNMT_FEW_ROWS + 1}, ns[] = {4, 20, 132};
    for (size_t bi = 0; bi < 5; bi++)
        for (size_t ni = 0; ni < 3 && !th_failed(); ni++)
            for (int with_len = 0; with_len < 2 && !th_failed(); with_len++)
                for (uint32_t steps = 1; steps <= 2 && !th_failed(); steps++)
                    check_rows_step(env, Bs[bi], ns[ni], with_len, steps);
}

/* The few-rows step that makes its own input projection (decoding's
 * a = x W^T + add + bias) against that sum (vknmt_gemm_sum, beta 1 on add as
 * c_in) then the four-dispatch step, bit for bit: gates, rh, h_new, rows
 * masked, outputs poisoned and guarded; add's rows 3n + 4 apart. Where the
 * device's caps allow it, it must run for 1-12 rows; never for 13. Where it
 * runs, again with x W^T given (made by the GEMM) instead of x and W, and
 * (1, 5 and 12 rows) then with U in panels too (refused at 13 rows). */
enum { P_X, P_W, P_BIAS, P_ADD, P_U, P_H, P_LEN, P_A, P_HURZ, P_HUH, P_G1, P_RH1, P_HN1, P_G2, P_RH2, P_HN2, P_COUNT };

static void check_rows_proj(th_env *env, uint32_t B, uint32_t n, uint32_t k, bool panels)
{
    uint64_t bn = (uint64_t)B * n, lda = 3 * (uint64_t)n + 4;
    const uint64_t sizes[P_COUNT] = {(uint64_t)B * k, 3 * (uint64_t)n * k, 3 * (uint64_t)n, B * lda,
                                     3 * (uint64_t)n * n, bn, B, 3 * bn, 2 * bn, bn, 3 * bn, bn, bn, 3 * bn, bn, bn};
    th_gbuf g[P_COUNT] = {0};
    vknmt_ref r[P_COUNT];
    uint64_t most = 0;
    for (int i = 0; i < P_COUNT; i++)
        most = sizes[i] > most ? sizes[i] : most;
    float *host = malloc(most * 4), *h2 = malloc(most * 4);
    bool ok = host && h2;
    for (int i = 0; i < P_COUNT && ok; i++)
        ok = th_gbuf_create(env, sizes[i] + 3, &g[i]);
    CHECK(ok, "out of memory");
    for (int i = 0; i < P_COUNT; i++)
        r[i] = quad_ref(&g[i]);
    for (int i = P_X; i <= P_H; i++) {
        th_fill_uniform(host, sizes[i], i == P_W || i == P_U ? -0.5f : -2, i == P_W || i == P_U ? 0.5f : 2);
        CHECK_OK(env, vknmt_buffer_upload(r[i].buf, r[i].off * 4, host, sizes[i] * 4));
    }
    uint32_t *len = (uint32_t *)host;
    for (uint32_t b = 0; b < B; b++)
        len[b] = b % 2 ? 2 : 3; /* at t = 2 odd rows are masked */
    CHECK_OK(env, vknmt_buffer_upload(r[P_LEN].buf, r[P_LEN].off * 4, len, B * 4));
    vknmt_gru_step st = {.batch = B, .n = n, .t = 2, .lengths = r[P_LEN]};
    vknmt_gemm_args proj = {.m = B, .n = 3 * n, .k = k, .trans_b = true, .alpha = 1, .beta = 1, .a = r[P_X],
                            .b = r[P_W], .c = r[P_A], .bias = r[P_BIAS], .c_in = r[P_ADD], .ldc_in = (uint32_t)lda};
    vknmt_gemm_args rz = {.m = B, .n = 2 * n, .k = n, .trans_b = true, .alpha = 1, .a = r[P_H], .b = r[P_U],
                          .c = r[P_HURZ]};
    vknmt_gemm_args hh = {.m = B, .n = n, .k = n, .trans_b = true, .alpha = 1, .a = r[P_RH1],
                          .b = vknmt_at(r[P_U].buf, r[P_U].off + 2 * (uint64_t)n * n), .c = r[P_HUH]};
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    CHECK_OK(env, vknmt_gemm_sum(env->seq, 1, &proj));
    CHECK_OK(env, vknmt_gemm(env->seq, &rz));
    CHECK_OK(env, vknmt_gru_fwd_a(env->seq, &st, r[P_A], r[P_HURZ], r[P_H], r[P_G1], r[P_RH1]));
    CHECK_OK(env, vknmt_gemm(env->seq, &hh));
    CHECK_OK(env, vknmt_gru_fwd_b(env->seq, &st, r[P_A], r[P_HUH], r[P_G1], r[P_H], r[P_HN1]));
    uint32_t d0 = vknmt_seq_stats_get(env->seq).dispatches;
    vknmt_gru_rows_step rs = {st, r[P_U], r[P_A], r[P_H], r[P_G2], r[P_RH2], r[P_HN2], false};
    vknmt_gru_proj gp = {r[P_X], r[P_W], r[P_BIAS], r[P_ADD], k, 0, 0, (uint32_t)lda};
    bool ran = false;
    CHECK_OK(env, vknmt_gru_rows_forward_proj(env->seq, &rs, &gp, &ran));
    uint32_t d = vknmt_seq_stats_get(env->seq).dispatches - d0;
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    bool want = vknmt_cpu_texel_kernels(vknmt_context_caps(env->ctx)) && B <= VKNMT_FEW_ROWS && n % 4 == 0;
    CHECK(ran == want && d == (want ? 2u : 0u), "B=%u n=%u k=%u: ran %d in %u dispatches", B, n, k, ran, d);
    for (int i = P_G2; ran && i <= P_HN2 && !th_failed(); i++) {
        const char *why = outputs_differ(&g[i], r[i], r[i - 3], sizes[i], h2, host);
        CHECK(!why, "B=%u n=%u k=%u: output %d (gates, rh, h_new) against the projection and the four-dispatch step: "
              "%s", B, n, k, i - P_G2, why);
    }
    if (!ran)
        goto done;
    /* x W^T given (a word table's rows, rows 3n apart), made by the GEMM: the same bits again */
    vknmt_gemm_args xw = {.m = B, .n = 3 * n, .k = k, .trans_b = true, .alpha = 1, .a = r[P_X], .b = r[P_W],
                          .c = r[P_A]};
    gp = (vknmt_gru_proj){r[P_A], {0}, r[P_BIAS], r[P_ADD], 0, 3 * n, 0, (uint32_t)lda};
    for (int i = P_G2; i <= P_HN2; i++)
        CHECK(th_gbuf_poison(&g[i]), "poison");
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    CHECK_OK(env, vknmt_gemm(env->seq, &xw));
    CHECK_OK(env, vknmt_gru_rows_forward_proj(env->seq, &rs, &gp, &ran));
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    CHECK(ran, "B=%u n=%u k=%u: the given projection did not run", B, n, k);
    for (int i = P_G2; i <= P_HN2 && !th_failed(); i++) {
        const char *why = outputs_differ(&g[i], r[i], r[i - 3], sizes[i], h2, host);
        CHECK(!why, "B=%u n=%u k=%u: output %d (gates, rh, h_new) from the given projection against the four-dispatch "
              "step: %s", B, n, k, i - P_G2, why);
    }
    if (panels) {
        /* and with U in panels (vknmt_gru_u_panels), as decoding reads dec.U: the same bits; 13 rows refused */
        th_gbuf gu;
        CHECK(th_gbuf_create(env, vknmt_gru_u_panel_floats(env->ctx, n) + 3, &gu), "panels");
        rs.U = quad_ref(&gu);
        rs.u_panels = true;
        for (int i = P_G2; i <= P_HN2; i++)
            CHECK(th_gbuf_poison(&g[i]), "poison");
        CHECK_OK(env, vknmt_seq_begin(env->seq));
        CHECK_OK(env, vknmt_gru_u_panels(env->seq, r[P_U], n, rs.U));
        CHECK_OK(env, vknmt_gemm(env->seq, &xw));
        CHECK_OK(env, vknmt_gru_rows_forward_proj(env->seq, &rs, &gp, &ran));
        rs.st.batch = VKNMT_FEW_ROWS + 1;
        bool ran13 = true;
        vknmt_status s13 = vknmt_gru_rows_forward_proj(env->seq, &rs, &gp, &ran13);
        CHECK_OK(env, vknmt_seq_submit(env->seq));
        CHECK(ran && !ran13 && s13 == VKNMT_ERR_UNSUPPORTED, "B=%u n=%u k=%u: U in panels ran %d, at 13 rows %s", B, n,
              k, ran, vknmt_status_name(s13));
        for (int i = P_G2; i <= P_HN2 && !th_failed(); i++) {
            const char *why = outputs_differ(&g[i], r[i], r[i - 3], sizes[i], h2, host);
            CHECK(!why, "B=%u n=%u k=%u: output %d (gates, rh, h_new) with U in panels against the four-dispatch "
                  "step: %s", B, n, k, i - P_G2, why);
        }
        th_gbuf_destroy(&gu);
    }
done:
    for (int i = 0; i < P_COUNT; i++)
        th_gbuf_destroy(&g[i]);
    free(host);
    free(h2);
}

static void test_rows_proj(th_env *env)
{
    static const uint32_t Bs[] = {1, 3, 5, 9, VKNMT_FEW_ROWS, VKNMT_FEW_ROWS + 1}, ns[] = {4, 20, 132}, ks[] = {16, 36};
    for (size_t bi = 0; bi < 5; bi++)
        for (size_t ni = 0; ni < 3 && !th_failed(); ni++)
            for (size_t ki = 0; ki < 2 && !th_failed(); ki++)
                check_rows_proj(env, Bs[bi], ns[ni], ks[ki], bi % 2 == 0); /* 1, 5, 12 rows: a pipeline each */
}

/* The whole sequence in one dispatch against the four-dispatch step at
 * every position, bit for bit: both directions (forward, and reverse from
 * the last slot) at once, from random states h_0, rows of three lengths
 * masked, every slot, gate and rh poisoned first and guarded. Where the
 * device's caps allow it, it must run for 1-12 rows on quads; never for 13. */
enum { Q_A, Q_U, Q_LEN, Q_HURZ, Q_HUH, Q_HS1, Q_G1, Q_RH1, Q_HS2, Q_G2, Q_RH2, Q_COUNT };

static void check_rows_sequence(th_env *env, uint32_t B, uint32_t n, uint32_t T, bool with_len)
{
    uint64_t bn = (uint64_t)B * n;
    /* one direction's floats; each buffer but the scratch holds two */
    const uint64_t sizes[Q_COUNT] = {3 * bn * T, 3 * (uint64_t)n * n, B,      2 * bn, bn,
                                     bn * (T + 1), 3 * bn * T, bn * T, bn * (T + 1), 3 * bn * T, bn * T};
    th_gbuf g[Q_COUNT] = {0};
    vknmt_ref r[Q_COUNT];
    uint64_t most = 2 * (sizes[Q_A] > sizes[Q_U] ? sizes[Q_A] : sizes[Q_U]);
    float *host = malloc(most * 4), *h2 = malloc(most * 4);
    bool ok = host && h2;
    for (int k = 0; k < Q_COUNT && ok; k++)
        ok = th_gbuf_create(env, 2 * sizes[k] + 3, &g[k]);
    CHECK(ok, "out of memory");
    for (int k = 0; k < Q_COUNT; k++)
        r[k] = quad_ref(&g[k]);
    /* tensor k of direction d at position (or slot) i */
#define AT(k, d, i)                                                                                                    \
    vknmt_at(r[k].buf, r[k].off + (d) * sizes[k] + (uint64_t)(i) * (sizes[k] / (k == Q_HS1 || k == Q_HS2 ? T + 1 : T)))
    for (int k = Q_A; k <= Q_U; k++) {
        th_fill_uniform(host, 2 * sizes[k], k == Q_U ? -0.5f : -2, k == Q_U ? 0.5f : 2);
        CHECK_OK(env, vknmt_buffer_upload(r[k].buf, r[k].off * 4, host, 2 * sizes[k] * 4));
    }
    for (uint32_t d = 0; d < 2; d++) { /* h_0: slot 0 forward, slot T reverse */
        th_fill_uniform(host, bn, -1, 1);
        for (int k = Q_HS1; k <= Q_HS2; k += Q_HS2 - Q_HS1) {
            vknmt_ref h0 = AT(k, d, d ? T : 0);
            CHECK_OK(env, vknmt_buffer_upload(h0.buf, h0.off * 4, host, bn * 4));
        }
    }
    uint32_t *len = (uint32_t *)host;
    for (uint32_t b = 0; b < B; b++)
        len[b] = T - b % 3 > 0 ? T - b % 3 : 1; /* full, one short, two short */
    CHECK_OK(env, vknmt_buffer_upload(r[Q_LEN].buf, r[Q_LEN].off * 4, len, B * 4));
    vknmt_ref lengths = with_len ? r[Q_LEN] : (vknmt_ref){0};
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    vknmt_gru_rows_dir dirs[2];
    for (uint32_t d = 0; d < 2; d++) {
        for (uint32_t i = 0; i < T; i++) {
            uint32_t t = d ? T - 1 - i : i;
            vknmt_gru_step st = {.batch = B, .n = n, .t = t, .lengths = lengths};
            vknmt_ref h = AT(Q_HS1, d, d ? t + 1 : t), h_new = AT(Q_HS1, d, d ? t : t + 1), U = AT(Q_U, d, 0);
            vknmt_gemm_args rz = {.m = B, .n = 2 * n, .k = n, .trans_b = true, .alpha = 1, .a = h, .b = U,
                                  .c = r[Q_HURZ]};
            vknmt_gemm_args hh = {.m = B, .n = n, .k = n, .trans_b = true, .alpha = 1, .a = AT(Q_RH1, d, t),
                                  .b = vknmt_at(U.buf, U.off + 2 * (uint64_t)n * n), .c = r[Q_HUH]};
            CHECK_OK(env, vknmt_gemm(env->seq, &rz));
            CHECK_OK(env, vknmt_gru_fwd_a(env->seq, &st, AT(Q_A, d, t), r[Q_HURZ], h, AT(Q_G1, d, t), AT(Q_RH1, d, t)));
            CHECK_OK(env, vknmt_gemm(env->seq, &hh));
            CHECK_OK(env, vknmt_gru_fwd_b(env->seq, &st, AT(Q_A, d, t), r[Q_HUH], AT(Q_G1, d, t), h, h_new));
        }
        dirs[d] = (vknmt_gru_rows_dir){{B, n, 0, lengths}, T, d == 1, AT(Q_U, d, 0), AT(Q_A, d, 0),
                                       AT(Q_HS2, d, 0), AT(Q_G2, d, 0), AT(Q_RH2, d, 0)};
    }
#undef AT
    bool ran = false;
    CHECK_OK(env, vknmt_gru_rows_sequence(env->seq, 2, dirs, &ran));
    vknmt_seq_stats stats = vknmt_seq_stats_get(env->seq);
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    const vknmt_caps *caps = vknmt_context_caps(env->ctx);
    bool want = vknmt_cpu_texel_kernels(caps) && B <= VKNMT_FEW_ROWS && n % 4 == 0 &&
                3 * bn * 4 <= caps->max_shared_memory_bytes;
    CHECK(ran == want, "B=%u n=%u T=%u: the sequence kernel %s", B, n, T,
          ran ? "ran where it must not" : "did not run");
    CHECK(stats.dispatches == 4 * 2 * T + ran, "B=%u n=%u T=%u: %u dispatches, want %u", B, n, T, stats.dispatches,
          4 * 2 * T + ran);
    for (int k = Q_HS2; ran && k <= Q_RH2 && !th_failed(); k++) {
        const char *why = outputs_differ(&g[k], r[k], r[k - 3], 2 * sizes[k], h2, host);
        CHECK(!why, "B=%u n=%u T=%u len=%d: output %d (states, gates, rh) against the four-dispatch steps: %s", B, n,
              T, with_len, k - Q_HS2, why);
    }
    for (int k = 0; k < Q_COUNT; k++)
        th_gbuf_destroy(&g[k]);
    free(host);
    free(h2);
}

static void test_rows_sequence(th_env *env)
{
    static const uint32_t Bs[] = {1, 3, VKNMT_FEW_ROWS, VKNMT_FEW_ROWS + 1}, ns[] = {4, 20, 132}, Ts[] = {1, 2, 7};
    for (size_t bi = 0; bi < 4; bi++)
        for (size_t ni = 0; ni < 3 && !th_failed(); ni++)
            for (size_t ti = 0; ti < 3 && !th_failed(); ti++)
                for (int with_len = 0; with_len < 2 && !th_failed(); with_len++)
                    check_rows_sequence(env, Bs[bi], ns[ni], Ts[ti], with_len);
}

static void test_bad_calls(th_env *env)
{
    /* Plain buffers, exactly the size of a [4, 3*5] tensor and 4 lengths. */
    vknmt_buffer *g, *gl;
    CHECK_OK(env, vknmt_buffer_create(env->ctx, 3 * 4 * 5 * 4, &g));
    CHECK_OK(env, vknmt_buffer_create(env->ctx, 4 * 4, &gl));
    vknmt_ref r = vknmt_at(g, 0);
    vknmt_gru_step st = {.batch = 4, .n = 5, .t = 0, .lengths = vknmt_at(gl, 0)};
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    vknmt_gru_step bad = st;
    bad.batch = 0;
    vknmt_status s1 = vknmt_gru_fwd_a(env->seq, &bad, r, r, r, r, r);
    bad = st;
    bad.n = 0;
    vknmt_status s2 = vknmt_gru_bwd_b(env->seq, &bad, r, r, r, r, r);
    bad = st;
    bad.n = 6; /* [4, 18] no longer fits */
    vknmt_status s3 = vknmt_gru_fwd_b(env->seq, &bad, r, r, r, r, r);
    bad = st;
    bad.batch = 5; /* lengths has 4 entries */
    bad.n = 4;
    vknmt_status s4 = vknmt_gru_bwd_a(env->seq, &bad, r, r, r, r, r);
    vknmt_status s5 = vknmt_gru_bwd_a(env->seq, NULL, r, r, r, r, r);
    vknmt_seq_stats stats = vknmt_seq_stats_get(env->seq);
    vknmt_status ok = vknmt_gru_fwd_a(env->seq, &st, r, r, vknmt_at(g, 40), r, vknmt_at(g, 40)); /* fits */
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    vknmt_buffer_destroy(g);
    vknmt_buffer_destroy(gl);
    CHECK(ok == VKNMT_OK, "good call: %s", vknmt_status_name(ok));
    CHECK(s1 == VKNMT_ERR_SHAPE && s2 == VKNMT_ERR_SHAPE, "empty shapes: %s %s", vknmt_status_name(s1),
          vknmt_status_name(s2));
    CHECK(s3 == VKNMT_ERR_RANGE && s4 == VKNMT_ERR_RANGE, "short buffers: %s %s", vknmt_status_name(s3),
          vknmt_status_name(s4));
    CHECK(s5 == VKNMT_ERR_USAGE, "no step: %s", vknmt_status_name(s5));
    CHECK(stats.dispatches == 0, "bad calls recorded %u dispatches", stats.dispatches);
}

void th_register_gru(void)
{
    th_add("gru", "fwd_a", test_fwd_a);
    th_add("gru", "fwd_b", test_fwd_b);
    th_add("gru", "bwd_a", test_bwd_a);
    th_add("gru", "bwd_b", test_bwd_b);
    th_add("gru", "sequence", test_sequence);
    th_add("gru", "rows_step", test_rows_step);
    th_add("gru", "rows_step_projection", test_rows_proj);
    th_add("gru", "rows_sequence", test_rows_sequence);
    th_add("gru", "bad_calls", test_bad_calls);
}
