/* The few-rows GEMM's panel layout of W (vknmt_panel_rows): the layout
 * against a plain C statement of it, every float of a poisoned buffer; and
 * each few-rows kernel that reads B in panels (one product, a sum, its
 * pairwise maximum, the softmax block statistics) bit for bit what it gives
 * with B in rows. Elsewhere (13 rows, or a device without the few-rows
 * GEMM) B in panels is refused. Awkward sizes: columns off the panel height
 * (one panel, a part of one, several), k with a tail, 1, 5 and 12 rows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "vknmt_kernel.h"

/* Rows SUM_LD apart in every operand; k of the three products: a tail and
 * whole blocks, whole quads, a tail only. */
enum { LD = 48, ROWS = VKNMT_FEW_ROWS + 1, NMAX = 78 };
static const uint32_t KS[3] = {45, 32, 7};
#define OFF4 ((4 - TH_GUARD % 4) % 4) /* a guarded buffer's first float on a quad */

/* The layout, in plain C: float e of W's row `row` in its panels. */
static uint64_t panel_index(uint32_t h, uint32_t cn, uint32_t k, uint32_t row, uint32_t e)
{
    uint32_t kq = (k + 3) / 4, sg = h / cn, r = row % h;
    return ((uint64_t)(row / h) * h * kq + (uint64_t)(e / 4) * h + (r % cn) * sg + r / cn) * 4 + e % 4;
}

typedef struct operands {
    th_gbuf ga, gb, gbias, gp[3];
    vknmt_ref a[3], b[3], p[3];
    float *wb; /* B's host copy */
} operands;

static bool operands_make(th_env *env, operands *o)
{
    memset(o, 0, sizeof(*o));
    uint64_t na = 3 * ROWS * LD, nb = 3 * NMAX * LD;
    float *ha = malloc(na * 4), hb[NMAX];
    o->wb = malloc(nb * 4);
    bool ok = ha && o->wb && th_gbuf_create(env, na + OFF4, &o->ga) && th_gbuf_create(env, nb + OFF4, &o->gb) &&
              th_gbuf_create(env, NMAX, &o->gbias);
    for (int i = 0; ok && i < 3; i++) {
        uint64_t np = vknmt_panel_floats(env->ctx, NMAX, KS[i]);
        ok = th_gbuf_create(env, (np ? np : 1) + OFF4, &o->gp[i]);
        o->a[i] = vknmt_at(o->ga.buf, th_gbuf_ref(&o->ga).off + OFF4 + i * ROWS * LD);
        o->b[i] = vknmt_at(o->gb.buf, th_gbuf_ref(&o->gb).off + OFF4 + i * NMAX * LD);
        o->p[i] = vknmt_at(o->gp[i].buf, th_gbuf_ref(&o->gp[i]).off + OFF4);
    }
    if (ok) {
        th_fill_uniform(ha, na, -1, 1);
        th_fill_uniform(o->wb, nb, -1, 1);
        th_fill_uniform(hb, NMAX, -1, 1);
        ok = vknmt_buffer_upload(o->ga.buf, o->a[0].off * 4, ha, na * 4) == VKNMT_OK &&
             vknmt_buffer_upload(o->gb.buf, o->b[0].off * 4, o->wb, nb * 4) == VKNMT_OK &&
             th_gbuf_upload(&o->gbias, hb);
    }
    free(ha);
    return ok;
}

static void operands_free(operands *o)
{
    th_gbuf_destroy(&o->ga);
    th_gbuf_destroy(&o->gb);
    th_gbuf_destroy(&o->gbias);
    for (int i = 0; i < 3; i++)
        th_gbuf_destroy(&o->gp[i]);
    free(o->wb);
}

/* Every float of B_i's panels (made from all NMAX rows) against the layout;
 * pads zeros; nothing written past the panels. */
static void test_layout(th_env *env)
{
    operands o;
    CHECK(operands_make(env, &o), "operands");
    uint32_t h = vknmt_panel_height(env->ctx);
    bool cpu = vknmt_cpu_texel_kernels(vknmt_context_caps(env->ctx));
    CHECK(cpu == (h != 0), "panel height %u on a device %s the few-rows GEMM", h, cpu ? "with" : "without");
    static const uint32_t ns[] = {1, 7, NMAX};
    for (int i = 0; i < 3 && !th_failed(); i++)
        for (size_t ni = 0; ni < sizeof(ns) / sizeof(ns[0]) && !th_failed(); ni++) {
            uint32_t n = ns[ni], k = KS[i];
            uint64_t np = vknmt_panel_floats(env->ctx, n, k);
            CHECK_OK(env, vknmt_seq_begin(env->seq));
            vknmt_status st = vknmt_panel_rows(env->seq, o.b[i], LD, n, k, o.p[i]);
            CHECK_OK(env, vknmt_seq_submit(env->seq));
            if (!h) {
                CHECK(np == 0 && st == VKNMT_ERR_UNSUPPORTED, "panels on a device without the few-rows GEMM: %s",
                      vknmt_status_name(st));
                break;
            }
            CHECK(st == VKNMT_OK, "panel rows %u x %u: %s", n, k, vknmt_status_name(st));
            CHECK(np == (uint64_t)(n + h - 1) / h * h * ((k + 3) / 4 * 4), "%u x %u: %llu floats", n, k,
                  (unsigned long long)np);
            float *got = malloc(o.gp[i].n * 4), *want = malloc(np * 4);
            CHECK(got && want, "out of memory");
            CHECK(th_gbuf_download(&o.gp[i], got) && th_gbuf_guards_ok(&o.gp[i]), "download");
            for (uint64_t x = 0; x < np; x++)
                want[x] = 0;
            for (uint32_t r = 0; r < n; r++)
                for (uint32_t e = 0; e < k; e++)
                    want[panel_index(h, VKNMT_FEW_ROWS_COLS, k, r, e)] = o.wb[i * NMAX * LD + r * LD + e];
            CHECK(memcmp(got + OFF4, want, np * 4) == 0, "%u x %u: the panels differ from the layout", n, k);
            for (uint64_t x = OFF4 + np; x < o.gp[i].n; x++)
                CHECK(isnan(got[x]), "%u x %u: written past the panels at %llu", n, k, (unsigned long long)x);
            CHECK(th_gbuf_poison(&o.gp[i]), "poison");
            CHECK_OK(env, vknmt_seq_begin(env->seq)); /* panels off a quad: refused, nothing recorded */
            st = vknmt_panel_rows(env->seq, o.b[i], LD, n, k, vknmt_at(o.p[i].buf, o.p[i].off + 1));
            CHECK(st == VKNMT_ERR_SHAPE && vknmt_seq_stats_get(env->seq).dispatches == 0, "panels off a quad: %s",
                  vknmt_status_name(st));
            CHECK_OK(env, vknmt_seq_submit(env->seq));
            free(got);
            free(want);
        }
    operands_free(&o);
}

/* args[i]: m x n x k_i, x W^T into c, with the bias; B_i in panels where
 * bit i of panels is set. */
static void make_args(const operands *o, uint32_t m, uint32_t n, uint32_t panels, vknmt_ref c, vknmt_gemm_args args[3])
{
    for (uint32_t i = 0; i < 3; i++) {
        bool p = panels >> i & 1;
        args[i] = (vknmt_gemm_args){.m = m, .n = n, .k = KS[i], .trans_b = true, .alpha = 0.75f, .a = o->a[i],
                                    .b = p ? o->p[i] : o->b[i], .c = c, .lda = LD, .ldb = p ? 0 : LD,
                                    .bias = th_gbuf_ref(&o->gbias), .b_panels = p};
    }
}

/* One few-rows dispatch into C (and T: the maximum or the statistics). */
typedef enum kind { ONE, SUM, PAIRMAX, ROWSTATS } kind;
static vknmt_status run_kind(th_env *env, kind kd, vknmt_gemm_args *args, vknmt_ref t, bool *ran)
{
    *ran = true;
    switch (kd) {
    case ONE: return vknmt_gemm(env->seq, &args[0]);
    case SUM: return vknmt_gemm_sum(env->seq, 3, args);
    case PAIRMAX: return vknmt_gemm_sum_pairmax(env->seq, 2, args, t, 0, NULL, ran);
    default: return vknmt_gemm_softmax_blocks(env->seq, &args[0], t, ran);
    }
}

static void test_products(th_env *env)
{
    if (!vknmt_cpu_texel_kernels(vknmt_context_caps(env->ctx)))
        return; /* no panels here: test_layout and test_refused check that */
    operands o;
    uint32_t tmax = 2 * vknmt_softmax_block_count(env->ctx, NMAX); /* statistics, or NMAX / 2 maxima */
    tmax = tmax > NMAX / 2 ? tmax : NMAX / 2;
    th_gbuf gc[2], gt[2];
    CHECK(operands_make(env, &o), "operands");
    for (int i = 0; i < 2; i++)
        CHECK(th_gbuf_create(env, ROWS * NMAX, &gc[i]) && th_gbuf_create(env, ROWS * tmax, &gt[i]), "buffers");
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    for (int i = 0; i < 3; i++)
        CHECK_OK(env, vknmt_panel_rows(env->seq, o.b[i], LD, NMAX, KS[i], o.p[i]));
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    float *out[2] = {malloc(ROWS * NMAX * 4), malloc(ROWS * NMAX * 4)},
          *tt[2] = {malloc(ROWS * tmax * 4), malloc(ROWS * tmax * 4)};
    CHECK(out[0] && out[1] && tt[0] && tt[1], "out of memory");
    /* kind, rows, columns, which products' B are in panels (each a pipeline of its own) */
    static const struct { kind kd; uint32_t m, n, panels; } cases[] = {
        {ONE, 1, 77, 1},      {ONE, VKNMT_FEW_ROWS, 77, 1},      {SUM, 5, 77, 7},      {SUM, VKNMT_FEW_ROWS, 16, 5},
        {PAIRMAX, 5, NMAX, 3}, {PAIRMAX, 1, NMAX, 2}, {ROWSTATS, 5, 77, 1}, {ROWSTATS, VKNMT_FEW_ROWS, 3, 1}};
    for (size_t ci = 0; ci < sizeof(cases) / sizeof(cases[0]) && !th_failed(); ci++) {
        uint32_t m = cases[ci].m, n = cases[ci].n;
        for (int pass = 0; pass < 2; pass++) { /* 0: panels, 1: rows */
            vknmt_gemm_args args[3];
            make_args(&o, m, n, pass ? 0 : cases[ci].panels, th_gbuf_ref(&gc[pass]), args);
            CHECK(th_gbuf_poison(&gc[pass]) && th_gbuf_poison(&gt[pass]), "poison");
            bool ran;
            CHECK_OK(env, vknmt_seq_begin(env->seq));
            uint32_t d0 = vknmt_seq_stats_get(env->seq).dispatches;
            vknmt_status st = run_kind(env, cases[ci].kd, args, th_gbuf_ref(&gt[pass]), &ran);
            uint32_t d = vknmt_seq_stats_get(env->seq).dispatches - d0;
            CHECK_OK(env, vknmt_seq_submit(env->seq));
            CHECK(st == VKNMT_OK && ran && d == 1, "case %zu, %u rows, pass %d: %s, ran %d, %u dispatches", ci, m,
                  pass, vknmt_status_name(st), ran, d);
            CHECK(th_gbuf_download(&gc[pass], out[pass]) && th_gbuf_guards_ok(&gc[pass]) &&
                      th_gbuf_download(&gt[pass], tt[pass]) && th_gbuf_guards_ok(&gt[pass]),
                  "case %zu, %u rows, pass %d: written outside C or T", ci, m, pass);
        }
        /* bytes compared whole: NaN (unwritten) where one pass wrote and the other did not differs too */
        CHECK(memcmp(out[0], out[1], ROWS * NMAX * 4) == 0, "case %zu, %u rows: C differs with B in panels", ci,
              m);
        CHECK(memcmp(tt[0], tt[1], ROWS * tmax * 4) == 0, "case %zu, %u rows: T differs with B in panels", ci, m);
        if (cases[ci].kd != PAIRMAX)
            for (uint32_t x = 0; x < m * n; x++)
                CHECK(!isnan(out[0][x]), "case %zu, %u rows: C[%u] unwritten", ci, m, x);
    }
    operands_free(&o);
    for (int i = 0; i < 2; i++) {
        th_gbuf_destroy(&gc[i]);
        th_gbuf_destroy(&gt[i]);
        free(out[i]);
        free(tt[i]);
    }
}

/* B in panels where the product is not a few-rows dispatch: 13 rows, or a
 * device without the few-rows GEMM. Refused, nothing recorded. */
static void test_refused(th_env *env)
{
    operands o;
    th_gbuf gc;
    CHECK(operands_make(env, &o) && th_gbuf_create(env, ROWS * NMAX, &gc), "operands");
    bool cpu = vknmt_cpu_texel_kernels(vknmt_context_caps(env->ctx));
    static const uint32_t rows[] = {5, ROWS};
    for (int ri = 0; ri < 2 && !th_failed(); ri++) {
        vknmt_gemm_args args[3];
        make_args(&o, rows[ri], 77, 7, th_gbuf_ref(&gc), args);
        bool want = cpu && rows[ri] <= VKNMT_FEW_ROWS;
        for (uint32_t count = 1; count <= 3; count++) {
            CHECK_OK(env, vknmt_seq_begin(env->seq));
            vknmt_status st = vknmt_gemm_sum(env->seq, count, args);
            uint32_t d = vknmt_seq_stats_get(env->seq).dispatches;
            CHECK_OK(env, vknmt_seq_submit(env->seq));
            CHECK(want ? st == VKNMT_OK && d == 1 : st == VKNMT_ERR_UNSUPPORTED && d == 0,
                  "%u rows, %u products in panels: %s, %u dispatches", rows[ri], count, vknmt_status_name(st), d);
        }
    }
    operands_free(&o);
    th_gbuf_destroy(&gc);
}

void th_register_panels(void)
{
    th_add("panels", "layout", test_layout);
    th_add("panels", "products_equal_rows", test_products);
    th_add("panels", "refused_elsewhere", test_refused);
}
