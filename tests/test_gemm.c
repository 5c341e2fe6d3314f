/* GEMM against plain C in double: awkward sizes, all four transposes,
 * offsets, leading dimensions, alpha/beta, bias and activations, batches, for every
 * kernel variant the device can run (texel-buffer CPU-class paths and the
 * portable storage-buffer path). Outputs are poisoned, buffers guarded. */
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "internal.h" /* to force each kernel variant through the caps */

typedef struct gemm_case {
    uint32_t m, n, k;
    bool ta, tb;
    uint32_t pad_a, pad_b, pad_c; /* leading dimension beyond the row */
    uint32_t off;                 /* float offset of every operand */
    float alpha, beta;
    bool bias;
    vknmt_act act;
} gemm_case;

static double act_ref(vknmt_act act, double v)
{
    switch (act) {
    case VKNMT_ACT_TANH: return tanh(v);
    case VKNMT_ACT_SIGMOID: return 1.0 / (1.0 + exp(-v));
    case VKNMT_ACT_RELU: return v > 0 ? v : 0;
    default: return v;
    }
}

/* Output element (i, j) in double. */
static double ref_at(const gemm_case *c, const float *a, const float *b, const float *c0, const float *bias,
                     uint32_t lda, uint32_t ldb, uint32_t ldc, uint32_t i, uint32_t j)
{
    double acc = 0;
    for (uint32_t p = 0; p < c->k; p++) {
        double av = c->ta ? a[(size_t)p * lda + i] : a[(size_t)i * lda + p];
        double bv = c->tb ? b[(size_t)j * ldb + p] : b[(size_t)p * ldb + j];
        acc += av * bv;
    }
    double v = c->alpha * acc;
    if (c->beta != 0)
        v += c->beta * (double)c0[(size_t)i * ldc + j];
    if (c->bias)
        v += bias[j];
    return act_ref(c->act, v);
}

static void run_case(th_env *env, const gemm_case *c, const char *variant)
{
    uint32_t a_rows = c->ta ? c->k : c->m, a_cols = c->ta ? c->m : c->k;
    uint32_t b_rows = c->tb ? c->n : c->k, b_cols = c->tb ? c->k : c->n;
    uint32_t lda = a_cols + c->pad_a, ldb = b_cols + c->pad_b, ldc = c->n + c->pad_c;
    size_t na = (size_t)a_rows * lda, nb = (size_t)b_rows * ldb, nc = (size_t)c->m * ldc;
    float *a = malloc(na * 4), *b = malloc(nb * 4), *c0 = malloc(nc * 4), *got = malloc(nc * 4),
          *bias = malloc(c->n * 4);
    CHECK(a && b && c0 && got && bias, "out of memory");
    th_fill_uniform(a, na, -1, 1);
    th_fill_uniform(b, nb, -1, 1);
    th_fill_uniform(c0, nc, -1, 1);
    th_fill_uniform(bias, c->n, -1, 1);
    /* operands sit at an offset inside larger guarded buffers */
    th_gbuf ga, gb, gc, gbias;
    CHECK(th_gbuf_create(env, na + c->off, &ga) && th_gbuf_create(env, nb + c->off, &gb) &&
              th_gbuf_create(env, nc + c->off, &gc) && th_gbuf_create(env, c->n + c->off, &gbias),
          "buffers");
    vknmt_ref ra = th_gbuf_ref(&ga), rb = th_gbuf_ref(&gb), rc = th_gbuf_ref(&gc), rbias = th_gbuf_ref(&gbias);
    ra.off += c->off;
    rb.off += c->off;
    rc.off += c->off;
    rbias.off += c->off;
    CHECK_OK(env, vknmt_buffer_upload(ga.buf, ra.off * 4, a, na * 4));
    CHECK_OK(env, vknmt_buffer_upload(gb.buf, rb.off * 4, b, nb * 4));
    CHECK_OK(env, vknmt_buffer_upload(gbias.buf, rbias.off * 4, bias, c->n * 4));
    if (c->beta != 0) {
        CHECK_OK(env, vknmt_buffer_upload(gc.buf, rc.off * 4, c0, nc * 4));
    } else { /* poisoned: beta == 0 must not read C, and unwritten elements show */
        for (size_t i = 0; i < nc; i++)
            c0[i] = NAN;
        CHECK_OK(env, vknmt_buffer_upload(gc.buf, rc.off * 4, c0, nc * 4));
    }
    vknmt_gemm_args g = {.m = c->m, .n = c->n, .k = c->k, .trans_a = c->ta, .trans_b = c->tb,
                         .alpha = c->alpha, .beta = c->beta, .a = ra, .b = rb, .c = rc,
                         .bias = c->bias ? rbias : (vknmt_ref){0}, .lda = lda, .ldb = ldb, .ldc = ldc,
                         .act = c->act};
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    CHECK_OK(env, vknmt_gemm(env->seq, &g));
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    CHECK_OK(env, vknmt_buffer_download(gc.buf, rc.off * 4, got, nc * 4));

    /* Every element is checked when the shape is small; on large shapes
     * every element must be finite (written) and whole rows and columns,
     * random and the last ones (tile edges), are checked exactly. */
    bool full = (double)c->m * c->n * c->k <= 3e7;
    double worst = 0, scale = 1e-30;
    uint32_t wi = 0, wj = 0;
    for (uint32_t i = 0; i < c->m; i++) {
        for (uint32_t j = 0; j < ldc; j++) {
            float v = got[(size_t)i * ldc + j];
            if (j >= c->n) { /* padding between rows must be untouched */
                bool same = c->beta != 0 ? v == c0[(size_t)i * ldc + j] : isnan(v);
                CHECK(same, "%s: padding (%u,%u) overwritten", variant, i, j);
                continue;
            }
            CHECK(isfinite(v), "%s: element (%u,%u) not written (%g)", variant, i, j, v);
        }
    }
    uint32_t rows[26], cols[26], nr = 0, ncol = 0;
    if (!full) {
        for (; nr < 25; nr++)
            rows[nr] = (uint32_t)(th_rand_u64() % c->m);
        rows[nr++] = c->m - 1;
        for (; ncol < 25; ncol++)
            cols[ncol] = (uint32_t)(th_rand_u64() % c->n);
        cols[ncol++] = c->n - 1;
    }
    for (uint32_t i = 0; i < c->m; i++) {
        bool row_checked = full;
        for (uint32_t r = 0; r < nr && !row_checked; r++)
            row_checked = rows[r] == i;
        for (uint32_t j = 0; j < c->n; j++) {
            bool checked = row_checked;
            for (uint32_t q = 0; q < ncol && !checked; q++)
                checked = cols[q] == j;
            if (!checked)
                continue;
            double want = ref_at(c, a, b, c0, bias, lda, ldb, ldc, i, j);
            double e = fabs(got[(size_t)i * ldc + j] - want);
            scale = fmax(scale, fabs(want));
            if (e > worst) {
                worst = e;
                wi = i;
                wj = j;
            }
        }
    }
    /* fp32 accumulation over k terms of magnitude <= 1 */
    double tol = 1e-5 * (1 + sqrt((double)c->k));
    CHECK(worst / scale <= tol, "%s %ux%ux%u %c%c: relative error %g > %g at (%u,%u)", variant, c->m, c->n, c->k,
          c->ta ? 'T' : 'N', c->tb ? 'T' : 'N', worst / scale, tol, wi, wj);
    CHECK(th_gbuf_guards_ok(&ga) && th_gbuf_guards_ok(&gb) && th_gbuf_guards_ok(&gc) && th_gbuf_guards_ok(&gbias),
          "%s %ux%ux%u: write outside the output", variant, c->m, c->n, c->k);
    th_gbuf_destroy(&ga);
    th_gbuf_destroy(&gb);
    th_gbuf_destroy(&gc);
    th_gbuf_destroy(&gbias);
    free(a);
    free(b);
    free(c0);
    free(got);
    free(bias);
}

/* Each variant the device can run, by setting the capability flags the
 * runtime chooses by: the CPU-class texel kernels (vec4 and, for unaligned
 * operands, scalar views) and the portable storage-buffer kernels. */
typedef struct variant {
    const char *name;
    bool cpu_lanes, texel;
    uint32_t max_invocations; /* 0: the device's own */
    bool run_big;             /* also the 2400x8000x256 output layer */
} variant;

static bool native_variant; /* the variant this device picks by itself */
static bool run_big;

static void for_variants(th_env *env, void (*body)(th_env *, const char *))
{
    vknmt_caps saved = env->ctx->caps;
    const variant vs[] = {{"cpu-texel", true, true, 0, true}, {"gpu-ssbo", false, false, 0, true},
                          {"gpu-ssbo-small-tile", false, false, 128, false}};
    for (size_t v = 0; v < sizeof(vs) / sizeof(vs[0]) && !th_failed(); v++) {
        if (vs[v].texel && !(saved.texel_buffers && saved.subgroup_shuffle))
            continue;
        env->ctx->caps.quirk_cpu_lanes = vs[v].cpu_lanes;
        env->ctx->caps.texel_buffers = vs[v].texel;
        if (vs[v].max_invocations)
            env->ctx->caps.max_workgroup_invocations = vs[v].max_invocations;
        native_variant = vs[v].cpu_lanes == saved.quirk_cpu_lanes && vs[v].texel == saved.texel_buffers &&
                         !vs[v].max_invocations;
        run_big = vs[v].run_big;
        body(env, vs[v].name);
        env->ctx->caps = saved;
    }
}

/* Operand offset that puts every operand on a 4-float boundary inside its
 * guarded buffer: with 4-aligned leading dimensions too, the texel path then
 * runs its RGBA32F (vec4) kernel, the one the model uses, not the scalar one. */
#define ALIGNED_OFF ((4 - TH_GUARD % 4) % 4)

/* The last two reach the texel kernel's 4-rows-per-lane tiles (M >= 1024) with
 * a ragged last workgroup, K tails and a partial column block. */
static const uint32_t shapes[][3] = {{1, 1, 1},  {7, 13, 5},  {129, 257, 63},  {80, 768, 256},  {3, 1, 17},
                                     {1, 40, 9}, {33, 8, 4}, {1031, 21, 259}, {1030, 19, 254}};

static void body_shapes(th_env *env, const char *variant)
{
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++)
        for (int t = 0; t < 4; t++) {
            for (int aligned = 0; aligned < 2; aligned++) {
                gemm_case c = {shapes[s][0], shapes[s][1], shapes[s][2], t & 1, t >> 1, 0, 0, 0,
                               aligned ? ALIGNED_OFF : 0, 1.0f, 0.0f, false, VKNMT_ACT_NONE};
                run_case(env, &c, variant);
                if (th_failed())
                    return;
            }
        }
}

static void body_epilogue(th_env *env, const char *variant)
{
    static const vknmt_act acts[] = {VKNMT_ACT_NONE, VKNMT_ACT_TANH, VKNMT_ACT_SIGMOID, VKNMT_ACT_RELU};
    for (int a = 0; a < 4 && !th_failed(); a++)
        for (int t = 0; t < 4 && !th_failed(); t++) {
            gemm_case c = {37, 29, 19, t & 1, t >> 1, 0, 0, 0, 0, 0.75f, a % 2 ? 1.0f : 0.0f, true, acts[a]};
            run_case(env, &c, variant);
        }
}

/* Unaligned offsets and padded leading dimensions (views into bigger
 * tensors) push the texel path to its scalar fallback. */
static void body_strides(th_env *env, const char *variant)
{
    static const uint32_t pads[][4] = {{0, 0, 0, 1}, {1, 3, 2, 0}, {4, 4, 4, 4}, {5, 0, 7, 6}};
    for (int p = 0; p < 4 && !th_failed(); p++)
        for (int t = 0; t < 4 && !th_failed(); t++) {
            gemm_case c = {21, 35, 27, t & 1, t >> 1, pads[p][0], pads[p][1], pads[p][2], pads[p][3], -1.5f, 0.5f,
                           p % 2 == 0, VKNMT_ACT_NONE};
            run_case(env, &c, variant);
        }
}

/* A transposed with 4-aligned rows (the weight gradients dW = dY^T X): the
 * texel path reads A a quad of rows per texel. Row counts off the quad and
 * the workgroup, the last quad partly past M, K with a tail, both B layouts. */
static void body_a_quads(th_env *env, const char *variant)
{
    static const uint32_t sizes[][3] = {{45, 33, 7}, {1, 16, 30}, {70, 5, 1}, {4, 20, 13}, {98, 17, 64}};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]) && !th_failed(); i++)
        for (int tb = 0; tb < 2 && !th_failed(); tb++) {
            uint32_t m = sizes[i][0], n = sizes[i][1], k = sizes[i][2], b_cols = tb ? k : n;
            gemm_case c = {m, n, k, true, tb, (4 - m % 4) % 4, (4 - b_cols % 4) % 4, 0, ALIGNED_OFF + 4 * (i % 2), 1.0f,
                           i % 2 ? 0.5f : 0.0f, i == 2, VKNMT_ACT_NONE};
            run_case(env, &c, variant);
        }
}

/* x W^T with 1-12 rows in 4-aligned operands (decoding one sentence, greedy
 * or beam 5): the texel path's few-columns-per-invocation kernel, a pipeline
 * per row count (lanes past M fetch a clamped row). K with and without a tail,
 * with and without whole blocks of 8 quads and a remainder after them, N off
 * the workgroup and its columns, the epilogue (beta, bias, activations). */
static void body_skinny(th_env *env, const char *variant)
{
    static const uint32_t nk[][2] = {{1, 4}, {13, 7}, {70, 1}, {130, 256}, {5, 30}, {200, 45}, {77, 77}, {129, 64}};
    for (uint32_t m = 1; m <= VKNMT_FEW_ROWS && !th_failed(); m++)
        for (size_t i = 0; i < sizeof(nk) / sizeof(nk[0]) && !th_failed(); i++) {
            uint32_t n = nk[i][0], k = nk[i][1], pad = (4 - k % 4) % 4;
            gemm_case c = {m, n, k, false, true, pad, pad, 0, ALIGNED_OFF, 1.0f, i % 2 ? 0.5f : 0.0f, i >= 3,
                           (vknmt_act)(i % 4)};
            run_case(env, &c, variant);
        }
}

/* A sentence decodes the same alone as inside a batch only if x W^T of its
 * rows does not depend on how many rows are computed with them: the few-rows
 * kernel must give the tiled kernel's bits. */
static void test_rows_alone_equal_batch(th_env *env)
{
    enum { M = VKNMT_FEW_ROWS + 1, N = 137, K = 45, LD = 48 }; /* M rows take the tiled kernel */
    float a[M * LD], b[N * LD], big[M * N], small[VKNMT_FEW_ROWS * N];
    th_fill_uniform(a, M * LD, -1, 1);
    th_fill_uniform(b, N * LD, -1, 1);
    th_gbuf ga, gb, gc;
    CHECK(th_gbuf_create(env, M * LD + ALIGNED_OFF, &ga) && th_gbuf_create(env, N * LD + ALIGNED_OFF, &gb) &&
              th_gbuf_create(env, M * N, &gc),
          "buffers");
    vknmt_ref ra = th_gbuf_ref(&ga), rb = th_gbuf_ref(&gb);
    ra.off += ALIGNED_OFF;
    rb.off += ALIGNED_OFF;
    CHECK_OK(env, vknmt_buffer_upload(ga.buf, ra.off * 4, a, sizeof(a)));
    CHECK_OK(env, vknmt_buffer_upload(gb.buf, rb.off * 4, b, sizeof(b)));
    for (uint32_t rows = 1; rows <= VKNMT_FEW_ROWS && !th_failed(); rows++) {
        float *out[2] = {big, small};
        for (int pass = 0; pass < 2; pass++) {
            /* poisoned, so an element the pass does not write cannot keep the other's value */
            CHECK(th_gbuf_poison(&gc), "poison");
            vknmt_gemm_args g = {.m = pass ? rows : M, .n = N, .k = K, .trans_b = true, .alpha = 1, .a = ra, .b = rb,
                                 .c = th_gbuf_ref(&gc), .lda = LD, .ldb = LD};
            CHECK_OK(env, vknmt_seq_begin(env->seq));
            CHECK_OK(env, vknmt_gemm(env->seq, &g));
            CHECK_OK(env, vknmt_seq_submit(env->seq));
            CHECK_OK(env, vknmt_buffer_download(gc.buf, th_gbuf_ref(&gc).off * 4, out[pass], (pass ? rows : M) * N * 4));
        }
        CHECK(memcmp(big, small, rows * N * 4) == 0, "%u rows alone differ from the same rows among %d", rows, M);
    }
    th_gbuf_destroy(&ga);
    th_gbuf_destroy(&gb);
    th_gbuf_destroy(&gc);
}

/* vknmt_gemm_sum: 1-3 products of other widths (tails, whole blocks) summed
 * into one C with bias and beta, against the same products as a GEMM and
 * GEMMs with beta 1, bit for bit; on a CPU device 1-12 rows take one
 * dispatch, 13 rows the GEMMs. With beta, the same again scaling c_in (C's
 * old values in another buffer, C poisoned) instead of C. */
/* The products of the sum tests: A_i [SUM_ROWS, k_i] and B_i [nmax, k_i]
 * (rows SUM_LD floats apart, on quads) for i < 3, and a bias [nmax]. */
enum { SUM_LD = 48, SUM_ROWS = VKNMT_FEW_ROWS + 1 };
static const uint32_t SUM_KS[3] = {45, 32, 7}; /* a tail and whole blocks; whole; a tail only */
typedef struct sum_operands {
    th_gbuf ga, gb, gbias;
    vknmt_ref a, b;
    uint32_t nmax;
} sum_operands;

static bool sum_operands_make(th_env *env, uint32_t nmax, sum_operands *so)
{
    *so = (sum_operands){.nmax = nmax};
    uint64_t na = 3 * SUM_ROWS * SUM_LD, nb = 3 * (uint64_t)nmax * SUM_LD;
    float *host = malloc(nb * 4);
    bool ok = host && th_gbuf_create(env, na + ALIGNED_OFF, &so->ga) && th_gbuf_create(env, nb + ALIGNED_OFF, &so->gb) &&
              th_gbuf_create(env, nmax, &so->gbias);
    if (ok) {
        so->a = vknmt_at(so->ga.buf, th_gbuf_ref(&so->ga).off + ALIGNED_OFF);
        so->b = vknmt_at(so->gb.buf, th_gbuf_ref(&so->gb).off + ALIGNED_OFF);
        th_fill_uniform(host, nb, -1, 1);
        ok = vknmt_buffer_upload(so->b.buf, so->b.off * 4, host, nb * 4) == VKNMT_OK;
        th_fill_uniform(host, na, -1, 1);
        ok = ok && vknmt_buffer_upload(so->a.buf, so->a.off * 4, host, na * 4) == VKNMT_OK;
        th_fill_uniform(host, nmax, -1, 1);
        ok = ok && th_gbuf_upload(&so->gbias, host);
    }
    free(host);
    return ok;
}

static void sum_operands_free(sum_operands *so)
{
    th_gbuf_destroy(&so->ga);
    th_gbuf_destroy(&so->gb);
    th_gbuf_destroy(&so->gbias);
}

/* args[i]: m x n x k_i, x W^T, into c, with the bias or not. */
static void sum_args(const sum_operands *so, uint32_t m, uint32_t n, float alpha, float beta, bool bias, vknmt_ref c,
                     vknmt_gemm_args args[3])
{
    for (uint32_t i = 0; i < 3; i++)
        args[i] = (vknmt_gemm_args){.m = m, .n = n, .k = SUM_KS[i], .trans_b = true, .alpha = alpha, .beta = beta,
                                    .a = vknmt_at(so->a.buf, so->a.off + i * SUM_ROWS * SUM_LD),
                                    .b = vknmt_at(so->b.buf, so->b.off + i * so->nmax * SUM_LD), .c = c,
                                    .lda = SUM_LD, .ldb = SUM_LD, .bias = bias ? th_gbuf_ref(&so->gbias) : (vknmt_ref){0}};
}

static void test_sum_of_products(th_env *env)
{
    enum { N = 77 };
    static const uint32_t rows[] = {1, 3, 5, 9, VKNMT_FEW_ROWS, VKNMT_FEW_ROWS + 1};
    sum_operands so;
    th_gbuf gc[3];
    CHECK(sum_operands_make(env, N, &so) && th_gbuf_create(env, SUM_ROWS * N, &gc[0]) &&
              th_gbuf_create(env, SUM_ROWS * N, &gc[1]) && th_gbuf_create(env, SUM_ROWS * N, &gc[2]),
          "buffers");
    float *host = malloc(SUM_ROWS * N * 4),
          *out[3] = {malloc(SUM_ROWS * N * 4), malloc(SUM_ROWS * N * 4), malloc(SUM_ROWS * N * 4)};
    CHECK(host && out[0] && out[1] && out[2], "out of memory");
    const vknmt_caps *caps = vknmt_context_caps(env->ctx);
    for (size_t ri = 0; ri < sizeof(rows) / sizeof(rows[0]) && !th_failed(); ri++)
        for (uint32_t count = 1; count <= 3 && !th_failed(); count++)
            for (int beta = 0; beta < 2 && !th_failed(); beta++) {
                uint32_t m = rows[ri];
                vknmt_gemm_args args[3];
                sum_args(&so, m, N, 0.75f, beta ? 0.5f : 0.0f, !beta, (vknmt_ref){0}, args);
                th_fill_uniform(host, SUM_ROWS * N, -1, 1); /* both passes start from this C (beta reads it) */
                for (int pass = 0; pass < 2; pass++) {
                    CHECK(th_gbuf_upload(&gc[pass], host), "C");
                    for (uint32_t i = 0; i < 3; i++)
                        args[i].c = th_gbuf_ref(&gc[pass]);
                    CHECK_OK(env, vknmt_seq_begin(env->seq));
                    uint32_t d0 = vknmt_seq_stats_get(env->seq).dispatches;
                    if (pass == 0) {
                        CHECK_OK(env, vknmt_gemm_sum(env->seq, count, args));
                    } else {
                        CHECK_OK(env, vknmt_gemm(env->seq, &args[0]));
                        for (uint32_t i = 1; i < count; i++) {
                            vknmt_gemm_args g = args[0];
                            g.a = args[i].a, g.b = args[i].b, g.k = args[i].k, g.beta = 1, g.bias = (vknmt_ref){0};
                            CHECK_OK(env, vknmt_gemm(env->seq, &g));
                        }
                    }
                    uint32_t d = vknmt_seq_stats_get(env->seq).dispatches - d0;
                    CHECK_OK(env, vknmt_seq_submit(env->seq));
                    if (pass == 0) {
                        bool one = vknmt_cpu_texel_kernels(caps) && m <= VKNMT_FEW_ROWS &&
                                   count > 1;
                        CHECK(d == (one ? 1 : count), "%u rows, %u products: %u dispatches", m, count, d);
                    }
                    CHECK(th_gbuf_download(&gc[pass], out[pass]) && th_gbuf_guards_ok(&gc[pass]), "C");
                }
                CHECK(memcmp(out[0], out[1], m * N * 4) == 0, "%u rows, %u products, beta %d: the sum differs from "
                      "the GEMMs", m, count, beta);
                if (!beta)
                    continue;
                /* C's old values as c_in, C poisoned */
                CHECK(th_gbuf_upload(&gc[2], host) && th_gbuf_poison(&gc[0]), "c_in");
                for (uint32_t i = 0; i < 3; i++)
                    args[i].c = th_gbuf_ref(&gc[0]);
                args[0].c_in = th_gbuf_ref(&gc[2]);
                args[0].ldc_in = N;
                CHECK_OK(env, vknmt_seq_begin(env->seq));
                CHECK_OK(env, vknmt_gemm_sum(env->seq, count, args));
                CHECK_OK(env, vknmt_seq_submit(env->seq));
                CHECK(th_gbuf_download(&gc[0], out[2]) && th_gbuf_guards_ok(&gc[0]), "C");
                CHECK(memcmp(out[2], out[1], m * N * 4) == 0, "%u rows, %u products: beta scaling c_in differs from "
                      "beta scaling C", m, count);
            }
    sum_operands_free(&so);
    for (int i = 0; i < 3; i++) {
        th_gbuf_destroy(&gc[i]);
        free(out[i]);
    }
    free(host);
}

/* vknmt_gemm_sum_pairmax: the sum's pairwise column maximum (maxout), bit
 * for bit the sum's C then max(C[m, 2j], C[m, 2j + 1]); where it cannot
 * take one dispatch (not a CPU device, 13 rows, n odd) nothing is recorded.
 * With a side product of the first A (5 columns: part of a workgroup; 133:
 * two and a bit), bit for bit vknmt_gemm's, nothing written past its
 * columns, and the maximum unchanged. */
enum { SIDE_NMAX = 133, SIDE_LDC = 140 };
static void test_sum_pairmax(th_env *env)
{
    static const uint32_t rows[] = {1, 5, VKNMT_FEW_ROWS, VKNMT_FEW_ROWS + 1}, ns[] = {78, 77}, sides[] = {0, 5, 133};
    sum_operands so;
    th_gbuf gc, gt, gsb, gs[2];
    CHECK(sum_operands_make(env, 78, &so) && th_gbuf_create(env, SUM_ROWS * 78, &gc) &&
              th_gbuf_create(env, SUM_ROWS * 50, &gt) && th_gbuf_create(env, SIDE_NMAX * SUM_LD + ALIGNED_OFF, &gsb) &&
              th_gbuf_create(env, SUM_ROWS * SIDE_LDC, &gs[0]) && th_gbuf_create(env, SUM_ROWS * SIDE_LDC, &gs[1]),
          "buffers");
    float *c = malloc(SUM_ROWS * 78 * 4), *t = malloc(SUM_ROWS * 50 * 4), *sb = malloc(SIDE_NMAX * SUM_LD * 4),
          *sc[2] = {malloc(SUM_ROWS * SIDE_LDC * 4), malloc(SUM_ROWS * SIDE_LDC * 4)};
    CHECK(c && t && sb && sc[0] && sc[1], "out of memory");
    th_fill_uniform(sb, SIDE_NMAX * SUM_LD, -1, 1);
    vknmt_ref side_b = vknmt_at(gsb.buf, th_gbuf_ref(&gsb).off + ALIGNED_OFF);
    CHECK(vknmt_buffer_upload(side_b.buf, side_b.off * 4, sb, SIDE_NMAX * SUM_LD * 4) == VKNMT_OK, "side B");
    const vknmt_caps *caps = vknmt_context_caps(env->ctx);
    for (size_t ri = 0; ri < sizeof(rows) / sizeof(rows[0]) && !th_failed(); ri++)
        for (size_t ni = 0; ni < 2 && !th_failed(); ni++)
            for (uint32_t count = 1; count <= 3 && !th_failed(); count++)
                for (size_t si = 0; si < sizeof(sides) / sizeof(sides[0]) && !th_failed(); si++) {
                    uint32_t m = rows[ri], n = ns[ni], ldt = 50, side_n = sides[si];
                    vknmt_gemm_args args[3];
                    sum_args(&so, m, n, 1, 0, true, th_gbuf_ref(&gc), args);
                    vknmt_gemm_args side[2];
                    for (int i = 0; i < 2; i++)
                        side[i] = (vknmt_gemm_args){.m = m, .n = side_n, .k = args[0].k, .trans_b = true, .alpha = 1,
                                                    .a = args[0].a, .lda = SUM_LD, .b = side_b,
                                                    .ldb = SUM_LD, .c = th_gbuf_ref(&gs[i]), .ldc = SIDE_LDC};
                    CHECK(th_gbuf_poison(&gt) && th_gbuf_poison(&gs[0]) && th_gbuf_poison(&gs[1]), "poison");
                    bool ran = true;
                    CHECK_OK(env, vknmt_seq_begin(env->seq));
                    CHECK_OK(env, vknmt_gemm_sum_pairmax(env->seq, count, args, th_gbuf_ref(&gt), ldt,
                                                         side_n ? &side[0] : NULL, &ran));
                    uint32_t d = vknmt_seq_stats_get(env->seq).dispatches;
                    CHECK_OK(env, vknmt_gemm_sum(env->seq, count, args)); /* the same sum into C */
                    if (side_n)
                        CHECK_OK(env, vknmt_gemm(env->seq, &side[1])); /* the same side product */
                    CHECK_OK(env, vknmt_seq_submit(env->seq));
                    bool want = vknmt_cpu_texel_kernels(caps) && m <= VKNMT_FEW_ROWS && n % 2 == 0;
                    CHECK(ran == want && d == (want ? 1u : 0u), "%u rows, n %u, %u products, side %u: ran %d, %u "
                          "dispatches", m, n, count, side_n, ran, d);
                    if (!ran)
                        continue;
                    CHECK(th_gbuf_download(&gc, c) && th_gbuf_download(&gt, t) && th_gbuf_guards_ok(&gt), "download");
                    for (uint32_t r = 0; r < m && !th_failed(); r++)
                        for (uint32_t j = 0; j < n / 2 && !th_failed(); j++) {
                            float a = c[r * n + 2 * j], b = c[r * n + 2 * j + 1], want_t = a >= b ? a : b;
                            CHECK(memcmp(&t[r * ldt + j], &want_t, 4) == 0, "%u rows, %u products: T[%u, %u] %g, "
                                  "want %g", m, count, r, j, t[r * ldt + j], want_t);
                        }
                    for (uint32_t r = 0; r < m && !th_failed(); r++) /* past n / 2 in each row: untouched */
                        for (uint32_t j = n / 2; j < ldt && r * ldt + j < SUM_ROWS * 50; j++)
                            CHECK(isnan(t[r * ldt + j]), "%u rows: T[%u, %u] written past its %u columns", m, r, j,
                                  n / 2);
                    if (!side_n)
                        continue;
                    for (int i = 0; i < 2; i++)
                        CHECK(th_gbuf_download(&gs[i], sc[i]) && th_gbuf_guards_ok(&gs[i]), "side download");
                    for (uint32_t r = 0; r < SUM_ROWS && !th_failed(); r++)
                        for (uint32_t j = 0; j < SIDE_LDC && !th_failed(); j++) {
                            float got = sc[0][r * SIDE_LDC + j];
                            if (r < m && j < side_n)
                                CHECK(memcmp(&got, &sc[1][r * SIDE_LDC + j], 4) == 0, "%u rows, side %u: S[%u, %u] "
                                      "%g, the GEMM's %g", m, side_n, r, j, got, sc[1][r * SIDE_LDC + j]);
                            else
                                CHECK(isnan(got), "%u rows, side %u: S[%u, %u] written outside the product", m,
                                      side_n, r, j);
                        }
                }
    /* a side B off a quad: nothing recorded; a side product of another A, or with beta scaling C (the
     * side's binding): refused */
    vknmt_gemm_args args[3];
    sum_args(&so, 5, 78, 1, 0, true, th_gbuf_ref(&gc), args);
    vknmt_gemm_args side = {.m = 5, .n = 5, .k = args[0].k, .trans_b = true, .alpha = 1, .a = args[0].a,
                            .lda = SUM_LD, .b = vknmt_at(side_b.buf, side_b.off + 1), .ldb = SUM_LD,
                            .c = th_gbuf_ref(&gs[0])};
    bool ran = true;
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    CHECK_OK(env, vknmt_gemm_sum_pairmax(env->seq, 1, args, th_gbuf_ref(&gt), 50, &side, &ran));
    CHECK(!ran && vknmt_seq_stats_get(env->seq).dispatches == 0, "a side B off a quad was taken");
    side.b = side_b;
    side.a = args[1].a;
    CHECK(vknmt_gemm_sum_pairmax(env->seq, 1, args, th_gbuf_ref(&gt), 50, &side, &ran) == VKNMT_ERR_USAGE && !ran,
          "a side product of another A was taken");
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    side.a = args[0].a;
    args[0].beta = 1;
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    CHECK(vknmt_gemm_sum_pairmax(env->seq, 1, args, th_gbuf_ref(&gt), 50, &side, &ran) == VKNMT_ERR_USAGE && !ran,
          "a side product with beta scaling C was taken");
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    sum_operands_free(&so);
    th_gbuf_destroy(&gc);
    th_gbuf_destroy(&gt);
    th_gbuf_destroy(&gsb);
    th_gbuf_destroy(&gs[0]);
    th_gbuf_destroy(&gs[1]);
    free(c);
    free(t);
    free(sb);
    free(sc[0]);
    free(sc[1]);
}

/* A given product (b.buf NULL: A is the product itself, as decoding reads
 * a word table's rows): the sum, and its pairwise maximum, bit for bit what
 * the computed product gives, the given matrix made by the tiled GEMM of 13
 * rows (as the table is). Elsewhere, or off a quad, the sum refuses it. */
static void test_sum_given(th_env *env)
{
    enum { N = 78, LDP = 80 };
    /* rows, products, which are given (bit i - 1: product i): each a pipeline of its own */
    static const uint32_t cases[][3] = {{1, 2, 1}, {5, 3, 2}, {VKNMT_FEW_ROWS, 3, 3}};
    sum_operands so;
    th_gbuf gp, gc[2], gt[2];
    CHECK(sum_operands_make(env, N, &so) && th_gbuf_create(env, 2 * SUM_ROWS * LDP + ALIGNED_OFF + 1, &gp) &&
              th_gbuf_create(env, SUM_ROWS * N, &gc[0]) && th_gbuf_create(env, SUM_ROWS * N, &gc[1]) &&
              th_gbuf_create(env, SUM_ROWS * N / 2, &gt[0]) && th_gbuf_create(env, SUM_ROWS * N / 2, &gt[1]),
          "buffers");
    float *out[2] = {malloc(SUM_ROWS * N * 4), malloc(SUM_ROWS * N * 4)};
    CHECK(out[0] && out[1], "out of memory");
    bool cpu = vknmt_cpu_texel_kernels(vknmt_context_caps(env->ctx));
    /* products 1 and 2 of all 13 rows, made as the word table is: P_i [13, N], rows LDP apart */
    vknmt_gemm_args args[3], given[3];
    sum_args(&so, SUM_ROWS, N, 1, 0, false, (vknmt_ref){0}, args);
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    for (uint32_t i = 1; i < 3; i++) {
        vknmt_gemm_args g = args[i];
        g.c = vknmt_at(gp.buf, th_gbuf_ref(&gp).off + ALIGNED_OFF + (i - 1) * SUM_ROWS * LDP);
        g.ldc = LDP;
        CHECK_OK(env, vknmt_gemm(env->seq, &g));
    }
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]) && !th_failed(); ci++) {
        uint32_t m = cases[ci][0], count = cases[ci][1], mask = cases[ci][2];
        sum_args(&so, m, N, 0.75f, 0, true, (vknmt_ref){0}, args);
        memcpy(given, args, sizeof(args));
        for (uint32_t i = 1; i < count; i++)
            if (mask >> (i - 1) & 1)
                given[i] = (vknmt_gemm_args){
                    .a = vknmt_at(gp.buf, th_gbuf_ref(&gp).off + ALIGNED_OFF + (i - 1) * SUM_ROWS * LDP),
                    .lda = LDP};
        for (int pass = 0; pass < 2; pass++) {
            vknmt_gemm_args *g = pass ? args : given;
            for (uint32_t i = 0; i < 3; i++)
                g[i].c = th_gbuf_ref(&gc[pass]);
            CHECK(th_gbuf_poison(&gc[pass]) && th_gbuf_poison(&gt[pass]), "poison");
            bool ran = false;
            CHECK_OK(env, vknmt_seq_begin(env->seq));
            vknmt_status st = vknmt_gemm_sum(env->seq, count, g);
            if (st == VKNMT_OK)
                st = vknmt_gemm_sum_pairmax(env->seq, count, g, th_gbuf_ref(&gt[pass]), 0, NULL, &ran);
            CHECK_OK(env, vknmt_seq_submit(env->seq));
            if (pass == 0 && !cpu) { /* no one dispatch: refused */
                CHECK(st == VKNMT_ERR_UNSUPPORTED, "a given product off the few-rows kernel: %s",
                      vknmt_status_name(st));
                break;
            }
            CHECK(st == VKNMT_OK && ran == cpu, "%u rows, %u products: %s", m, count, vknmt_status_name(st));
        }
        if (!cpu)
            continue;
        for (int pass = 0; pass < 2; pass++)
            CHECK(th_gbuf_download(&gc[pass], out[pass]) && th_gbuf_guards_ok(&gc[pass]), "C");
        CHECK(memcmp(out[0], out[1], SUM_ROWS * N * 4) == 0, "%u rows, %u products, given %u: the sum "
              "differs from the computed one", m, count, mask);
        for (int pass = 0; pass < 2; pass++)
            CHECK(th_gbuf_download(&gt[pass], out[pass]) && th_gbuf_guards_ok(&gt[pass]), "T");
        CHECK(memcmp(out[0], out[1], SUM_ROWS * N / 2 * 4) == 0, "%u rows, %u products, given %u: the "
              "maxout differs from the computed one", m, count, mask);
    }
    /* a given product off a quad: not the one dispatch, refused */
    sum_args(&so, 5, N, 1, 0, false, th_gbuf_ref(&gc[0]), args);
    args[1] = (vknmt_gemm_args){.a = vknmt_at(gp.buf, th_gbuf_ref(&gp).off + ALIGNED_OFF + 1), .lda = LDP};
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    vknmt_status st = vknmt_gemm_sum(env->seq, 2, args);
    CHECK(st == VKNMT_ERR_UNSUPPORTED && vknmt_seq_stats_get(env->seq).dispatches == 0,
          "a given product off a quad: %s", vknmt_status_name(st));
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    sum_operands_free(&so);
    th_gbuf_destroy(&gp);
    for (int i = 0; i < 2; i++) {
        th_gbuf_destroy(&gc[i]);
        th_gbuf_destroy(&gt[i]);
        free(out[i]);
    }
}

/* vknmt_gemm_softmax_blocks: C and its rows' softmax block statistics in
 * one dispatch, bit for bit the GEMM then vknmt_softmax_blocks; where the
 * few-rows GEMM does not serve (not a CPU device, 13 rows) nothing is
 * recorded. Columns of 1, a block's width and off it, many blocks. */
static void test_gemm_softmax_blocks(th_env *env)
{
    enum { NMAX = 301 };
    uint32_t w = 2 * vknmt_softmax_block_lanes(env->ctx);
    const uint32_t rows[] = {1, 5, VKNMT_FEW_ROWS, VKNMT_FEW_ROWS + 1}, ns[] = {1, w - 1, w, w + 1, NMAX};
    uint32_t smax = 2 * vknmt_softmax_block_count(env->ctx, NMAX);
    sum_operands so;
    th_gbuf gc[2], gs[2];
    CHECK(sum_operands_make(env, NMAX, &so), "operands");
    for (int i = 0; i < 2; i++)
        CHECK(th_gbuf_create(env, SUM_ROWS * NMAX, &gc[i]) && th_gbuf_create(env, SUM_ROWS * smax, &gs[i]), "buffers");
    float *c[2] = {malloc(SUM_ROWS * NMAX * 4), malloc(SUM_ROWS * NMAX * 4)},
          *st[2] = {malloc(SUM_ROWS * smax * 4), malloc(SUM_ROWS * smax * 4)};
    CHECK(c[0] && c[1] && st[0] && st[1], "out of memory");
    const vknmt_caps *caps = vknmt_context_caps(env->ctx);
    for (size_t ri = 0; ri < 4 && !th_failed(); ri++)
        for (size_t ni = 0; ni < 5 && !th_failed(); ni++) {
            uint32_t m = rows[ri], n = ns[ni], ns2 = 2 * vknmt_softmax_block_count(env->ctx, n);
            vknmt_gemm_args args[2][3];
            for (int i = 0; i < 2; i++) {
                sum_args(&so, m, n, 1, 0, true, th_gbuf_ref(&gc[i]), args[i]);
                CHECK(th_gbuf_poison(&gc[i]) && th_gbuf_poison(&gs[i]), "poison");
            }
            bool ran = false;
            CHECK_OK(env, vknmt_seq_begin(env->seq));
            CHECK_OK(env, vknmt_gemm_softmax_blocks(env->seq, &args[0][0], th_gbuf_ref(&gs[0]), &ran));
            uint32_t d = vknmt_seq_stats_get(env->seq).dispatches;
            CHECK_OK(env, vknmt_gemm(env->seq, &args[1][0]));
            CHECK_OK(env, vknmt_softmax_blocks(env->seq, m, n, th_gbuf_ref(&gc[1]), n, th_gbuf_ref(&gs[1])));
            CHECK_OK(env, vknmt_seq_submit(env->seq));
            bool want = vknmt_cpu_texel_kernels(caps) && m <= VKNMT_FEW_ROWS;
            CHECK(ran == want && d == (want ? 1u : 0u), "%u rows, n %u: ran %d, %u dispatches", m, n, ran, d);
            if (!ran)
                continue;
            for (int i = 0; i < 2; i++)
                CHECK(th_gbuf_download(&gc[i], c[i]) && th_gbuf_download(&gs[i], st[i]) && th_gbuf_guards_ok(&gs[i]),
                      "download");
            CHECK(memcmp(c[0], c[1], (uint64_t)m * n * 4) == 0, "%u rows, n %u: C differs from the GEMM's", m, n);
            CHECK(memcmp(st[0], st[1], (uint64_t)m * ns2 * 4) == 0, "%u rows, n %u: the statistics differ from "
                  "vknmt_softmax_blocks'", m, n);
            for (uint64_t i = (uint64_t)m * ns2; i < SUM_ROWS * (uint64_t)smax; i++)
                CHECK(isnan(st[0][i]), "%u rows, n %u: statistics written past %u rows of %u", m, n, m, ns2);
        }
    sum_operands_free(&so);
    for (int i = 0; i < 2; i++) {
        th_gbuf_destroy(&gc[i]);
        th_gbuf_destroy(&gs[i]);
        free(c[i]);
        free(st[i]);
    }
}

static void body_output_layer(th_env *env, const char *variant)
{
    /* The model's output layer: 2400 target words x 8000-word vocabulary.
     * All transposes on the device's own variant; the model's NT layout on
     * the others (the GPU kernel on a CPU device runs at ~2 GF/s). */
    if (!run_big)
        return;
    for (int t = native_variant ? 0 : 2; t < 4 && !th_failed(); t += native_variant ? 1 : 4) {
        gemm_case c = {2400, 8000, 256, t & 1, t >> 1, 0, 0, 0, ALIGNED_OFF, 1.0f, 0.0f, t == 2, VKNMT_ACT_NONE};
        run_case(env, &c, variant);
    }
}

/* A batch of GEMMs in one dispatch, each checked against its own
 * reference. Layout 0: each GEMM's operands are blocks `gap` floats apart;
 * layout 1: the GEMMs' rows interleave (row r of GEMM z at r * batch *
 * width + z * width: the attention's [steps, batch, .] tensors), with
 * widths on and off quads. Every float of C outside the batch's outputs
 * keeps its poison (beta 0) or its value (beta 1). */
static void run_batch(th_env *env, const char *variant, uint32_t batch, uint32_t m, uint32_t n, uint32_t k, bool ta,
                      bool tb, int layout, uint32_t gap, float beta)
{
    uint32_t a_rows = ta ? k : m, a_cols = ta ? m : k, b_rows = tb ? n : k, b_cols = tb ? k : n;
    uint32_t lda, ldb, ldc, sa, sb, sc;
    if (layout == 0) {
        lda = a_cols, ldb = b_cols, ldc = n;
        sa = a_rows * lda + gap, sb = b_rows * ldb + gap, sc = m * ldc + gap;
    } else {
        sa = a_cols + gap, sb = b_cols + gap, sc = n + gap;
        lda = batch * sa, ldb = batch * sb, ldc = batch * sc;
    }
    size_t na = (size_t)(batch - 1) * sa + (size_t)(a_rows - 1) * lda + a_cols,
           nb = (size_t)(batch - 1) * sb + (size_t)(b_rows - 1) * ldb + b_cols,
           nc = (size_t)(batch - 1) * sc + (size_t)(m - 1) * ldc + n;
    float *a = malloc(na * 4), *b = malloc(nb * 4), *c0 = malloc(nc * 4), *got = malloc(nc * 4), *bias = malloc(n * 4);
    bool *in_c = calloc(nc, 1);
    th_gbuf ga = {0}, gb = {0}, gc = {0}, gbias = {0};
    bool ok = a && b && c0 && got && bias && in_c && th_gbuf_create(env, na + ALIGNED_OFF, &ga) &&
              th_gbuf_create(env, nb + ALIGNED_OFF, &gb) && th_gbuf_create(env, nc + ALIGNED_OFF, &gc) &&
              th_gbuf_create(env, n, &gbias);
    CHECK(ok, "out of memory");
    th_fill_uniform(a, na, -1, 1);
    th_fill_uniform(b, nb, -1, 1);
    th_fill_uniform(bias, n, -1, 1);
    if (beta != 0)
        th_fill_uniform(c0, nc, -1, 1);
    else
        for (size_t i = 0; i < nc; i++)
            c0[i] = NAN;
    vknmt_ref ra = vknmt_at(ga.buf, ga.guard + ALIGNED_OFF), rb = vknmt_at(gb.buf, gb.guard + ALIGNED_OFF),
              rc = vknmt_at(gc.buf, gc.guard + ALIGNED_OFF);
    CHECK_OK(env, vknmt_buffer_upload(ra.buf, ra.off * 4, a, na * 4));
    CHECK_OK(env, vknmt_buffer_upload(rb.buf, rb.off * 4, b, nb * 4));
    CHECK_OK(env, vknmt_buffer_upload(rc.buf, rc.off * 4, c0, nc * 4));
    CHECK(th_gbuf_upload(&gbias, bias), "upload");
    vknmt_gemm_args g = {.m = m, .n = n, .k = k, .trans_a = ta, .trans_b = tb, .alpha = 0.5f, .beta = beta,
                         .a = ra, .b = rb, .c = rc, .bias = th_gbuf_ref(&gbias), .lda = lda, .ldb = ldb, .ldc = ldc,
                         .batch = batch, .stride_a = sa, .stride_b = sb, .stride_c = sc};
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    CHECK_OK(env, vknmt_gemm(env->seq, &g));
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    CHECK_OK(env, vknmt_buffer_download(rc.buf, rc.off * 4, got, nc * 4));
    gemm_case c = {m, n, k, ta, tb, 0, 0, 0, 0, 0.5f, beta, true, VKNMT_ACT_NONE};
    double tol = 1e-5 * (1 + sqrt((double)k));
    for (uint32_t z = 0; z < batch && !th_failed(); z++)
        for (uint32_t i = 0; i < m && !th_failed(); i++)
            for (uint32_t j = 0; j < n && !th_failed(); j++) {
                size_t at = (size_t)z * sc + (size_t)i * ldc + j;
                in_c[at] = true;
                double want = ref_at(&c, a + (size_t)z * sa, b + (size_t)z * sb, c0 + (size_t)z * sc, bias, lda, ldb,
                                     ldc, i, j);
                CHECK(fabs(got[at] - want) <= tol * fmax(1, fabs(want)),
                      "%s batch %u of %ux%ux%u %c%c layout %d gap %u: GEMM %u (%u,%u) = %.9g, want %.9g", variant,
                      batch, m, n, k, ta ? 'T' : 'N', tb ? 'T' : 'N', layout, gap, z, i, j, got[at], want);
            }
    for (size_t i = 0; i < nc && !th_failed(); i++)
        CHECK(in_c[i] || memcmp(&got[i], &c0[i], 4) == 0, "%s batch %u layout %d: float %zu of C outside the outputs "
              "written", variant, batch, layout, i);
    CHECK(th_gbuf_guards_ok(&ga) && th_gbuf_guards_ok(&gb) && th_gbuf_guards_ok(&gc) && th_gbuf_guards_ok(&gbias),
          "%s batch %u: write outside the output", variant, batch);
    th_gbuf_destroy(&ga), th_gbuf_destroy(&gb), th_gbuf_destroy(&gc), th_gbuf_destroy(&gbias);
    free(a), free(b), free(c0), free(got), free(bias), free(in_c);
}

/* Batches of 1, 2, 5 and 7 GEMMs of awkward shapes (one row, one column,
 * K 1, tiles' tails), all four transposes, both layouts, widths on quads
 * (the texel path's vec4 views) and off them. */
static void body_batched(th_env *env, const char *variant)
{
    static const uint32_t shapes_b[][4] = {{2, 7, 13, 5}, {5, 33, 8, 4}, {7, 1, 40, 9}, {1, 19, 12, 31}, {5, 4, 1, 1}};
    for (size_t i = 0; i < sizeof(shapes_b) / sizeof(shapes_b[0]) && !th_failed(); i++)
        for (int t = 0; t < 4 && !th_failed(); t++)
            for (int layout = 0; layout < 2 && !th_failed(); layout++) {
                const uint32_t *sh = shapes_b[i];
                uint32_t gap = (uint32_t)(i + t + layout) % 2 ? 3 : 0;
                run_batch(env, variant, sh[0], sh[1], sh[2], sh[3], t & 1, t >> 1, layout, gap, t % 2 ? 1.0f : 0.0f);
            }
}

static void test_shapes(th_env *env) { for_variants(env, body_shapes); }
static void test_batched(th_env *env) { for_variants(env, body_batched); }
static void test_epilogue(th_env *env) { for_variants(env, body_epilogue); }
static void test_strides(th_env *env) { for_variants(env, body_strides); }
static void test_a_quads(th_env *env) { for_variants(env, body_a_quads); }
static void test_skinny(th_env *env) { for_variants(env, body_skinny); }
static void test_output_layer(th_env *env) { for_variants(env, body_output_layer); }

static void test_bad_shapes(th_env *env)
{
    vknmt_buffer *a, *b, *c;
    CHECK_OK(env, vknmt_buffer_create(env->ctx, 6 * 4, &a));
    CHECK_OK(env, vknmt_buffer_create(env->ctx, 12 * 4, &b));
    CHECK_OK(env, vknmt_buffer_create(env->ctx, 8 * 4, &c));
    vknmt_gemm_args g = {.m = 2, .n = 4, .k = 3, .alpha = 1, .a = vknmt_at(a, 0), .b = vknmt_at(b, 0),
                         .c = vknmt_at(c, 0)};
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    vknmt_status ok = vknmt_gemm(env->seq, &g);
    vknmt_gemm_args bad = g;
    bad.n = 5; /* B and C too small */
    vknmt_status s1 = vknmt_gemm(env->seq, &bad);
    bad = g;
    bad.lda = 2; /* leading dimension shorter than a row */
    vknmt_status s2 = vknmt_gemm(env->seq, &bad);
    bad = g;
    bad.k = 0;
    vknmt_status s3 = vknmt_gemm(env->seq, &bad);
    bad = g;
    bad.bias = vknmt_at(a, 4); /* bias needs 4 floats, 2 remain */
    vknmt_status s4 = vknmt_gemm(env->seq, &bad);
    bad = g;
    bad.act = (vknmt_act)9;
    vknmt_status s5 = vknmt_gemm(env->seq, &bad);
    /* batches: C of one GEMM overlapping the next's, c_in, too many */
    bad = g;
    bad.m = 1, bad.n = 2, bad.k = 1, bad.batch = 2, bad.stride_c = 1;
    vknmt_status s6 = vknmt_gemm(env->seq, &bad);
    bad.stride_c = 2, bad.m = 2, bad.ldc = 2; /* rows of the first meet the second's */
    vknmt_status s7 = vknmt_gemm(env->seq, &bad);
    bad = g;
    bad.batch = 2, bad.stride_c = 8, bad.c_in = vknmt_at(a, 0), bad.beta = 1;
    vknmt_status s8 = vknmt_gemm(env->seq, &bad);
    bad = g;
    bad.batch = 65536;
    vknmt_status s9 = vknmt_gemm(env->seq, &bad);
    bad = g;
    bad.batch = 2, bad.stride_c = 8; /* the second C past the buffer */
    vknmt_status s10 = vknmt_gemm(env->seq, &bad);
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    vknmt_buffer_destroy(a);
    vknmt_buffer_destroy(b);
    vknmt_buffer_destroy(c);
    CHECK(ok == VKNMT_OK, "good call: %s", vknmt_status_name(ok));
    CHECK(s1 == VKNMT_ERR_RANGE, "too small: %s", vknmt_status_name(s1));
    CHECK(s2 == VKNMT_ERR_SHAPE, "short lda: %s", vknmt_status_name(s2));
    CHECK(s3 == VKNMT_ERR_SHAPE, "k = 0: %s", vknmt_status_name(s3));
    CHECK(s4 == VKNMT_ERR_RANGE, "short bias: %s", vknmt_status_name(s4));
    CHECK(s5 == VKNMT_ERR_USAGE, "bad activation: %s", vknmt_status_name(s5));
    CHECK(s6 == VKNMT_ERR_SHAPE && s7 == VKNMT_ERR_SHAPE, "overlapping batch outputs: %s, %s",
          vknmt_status_name(s6), vknmt_status_name(s7));
    CHECK(s8 == VKNMT_ERR_USAGE, "batch with c_in: %s", vknmt_status_name(s8));
    CHECK(s9 == VKNMT_ERR_LIMIT, "batch of 65536: %s", vknmt_status_name(s9));
    CHECK(s10 == VKNMT_ERR_RANGE, "batch past the buffer: %s", vknmt_status_name(s10));
}

void th_register_gemm(void)
{
    th_add("gemm", "shapes_and_transposes", test_shapes);
    th_add("gemm", "alpha_beta_bias_act", test_epilogue);
    th_add("gemm", "offsets_and_strides", test_strides);
    th_add("gemm", "batched", test_batched);
    th_add("gemm", "transposed_a_quads", test_a_quads);
    th_add("gemm", "few_rows_x_wt", test_skinny);
    th_add("gemm", "rows_alone_equal_batch", test_rows_alone_equal_batch);
    th_add("gemm", "sum_of_products", test_sum_of_products);
    th_add("gemm", "sum_pairmax", test_sum_pairmax);
    th_add("gemm", "sum_given", test_sum_given);
    th_add("gemm", "softmax_blocks_epilogue", test_gemm_softmax_blocks);
    th_add("gemm", "output_layer_2400x8000x256", test_output_layer);
    th_add("gemm", "bad_shapes", test_bad_shapes);
}
