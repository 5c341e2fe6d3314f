/* GEMM: picks the kernel variant for the device class and the operands'
 * alignment, checks every shape, and dispatches. */
#include "internal.h"

#define SSBO VKNMT_BIND_SSBO
typedef struct gemm_push {
    uint32_t m, n, k, lda, ldb, ldc, off_a, off_b, off_c, off_bias;
    float alpha, beta;
    uint32_t has_bias, act;
    uint32_t stride_a, stride_b, stride_c;
} gemm_push;
#define PUSH sizeof(gemm_push)

static const vknmt_kernel_desc K_GEMM = {"gemm", VKNMT_SPIRV(gemm), 4, {SSBO, SSBO, SSBO, SSBO}, PUSH, 8};
static const vknmt_kernel_desc K_GEMM_VEC4 = {"gemm_vec4", VKNMT_SPIRV(gemm_vec4), 4, {SSBO, SSBO, SSBO, SSBO}, PUSH, 8};
static const vknmt_kernel_desc K_GEMM_TEXEL = {
    "gemm_texel", VKNMT_SPIRV(gemm_texel), 4, {VKNMT_BIND_TEXEL_RGBA32F, VKNMT_BIND_TEXEL_RGBA32F, SSBO, SSBO}, PUSH, 5};
static const vknmt_kernel_desc K_GEMM_TEXEL_SKINNY = {
    "gemm_texel_skinny", VKNMT_SPIRV(gemm_texel_skinny), 4, {VKNMT_BIND_TEXEL_RGBA32F, VKNMT_BIND_TEXEL_RGBA32F, SSBO, SSBO},
    PUSH, 12};
static const vknmt_kernel_desc K_GEMM_TEXEL_SCALAR = {
    "gemm_texel_scalar", VKNMT_SPIRV(gemm_texel_scalar), 4, {VKNMT_BIND_TEXEL_R32F, VKNMT_BIND_TEXEL_R32F, SSBO, SSBO},
    PUSH, 5};

/* The few-rows GEMM with up to two more products (GEMM_SUM): bindings 4-7
 * their A and B, 8 the second output (the pairwise maximum, or the softmax
 * block statistics), 9 what beta scales (C, or c_in), 10 the side
 * product's B; the push adds each product's k, lda, ldb, off_a, off_b, then
 * the second output's offset and ld, then binding 9's. */
typedef struct sum_push {
    gemm_push g;
    uint32_t more[2][5];
    uint32_t off_t, ldt, off_cin, ldcin;
} sum_push;
static const vknmt_kernel_desc K_GEMM_TEXEL_SKINNY_SUM = {
    "gemm_texel_skinny_sum",
    VKNMT_SPIRV(gemm_texel_skinny_sum),
    11,
    {VKNMT_BIND_TEXEL_RGBA32F, VKNMT_BIND_TEXEL_RGBA32F, SSBO, SSBO, VKNMT_BIND_TEXEL_RGBA32F,
     VKNMT_BIND_TEXEL_RGBA32F, VKNMT_BIND_TEXEL_RGBA32F, VKNMT_BIND_TEXEL_RGBA32F, SSBO, SSBO,
     VKNMT_BIND_TEXEL_RGBA32F},
    sizeof(sum_push),
    12};

/* Tiles of the portable storage-buffer variant: BM x BN outputs per
 * workgroup, TM x TN registers per invocation, k-steps of BK; shared memory
 * (BM + BN) * BK floats. The large tile needs 256 invocations, more than the
 * 128 Vulkan guarantees, so small devices get the 64-invocation tile. */
typedef struct ssbo_tile {
    uint32_t bm, bn, bk, tm, tn;
} ssbo_tile;
static const ssbo_tile SSBO_LARGE = {64, 64, 16, 4, 4}, SSBO_SMALL = {32, 32, 8, 4, 4};
/* CPU-class texel variant: one subgroup per workgroup, RM rows per lane,
 * TN columns per workgroup (shared/notes/lavapipe-kernels.md). With A
 * transposed in RGBA32F views a lane takes 4 rows, one texel per k-step. */
enum { TEXEL_RM = 2, TEXEL_RM_QUADS = 4, TEXEL_TN = 16 };

/* Rows per lane of the texel GEMM. Four rows share each broadcast B value
 * between twice the multiply-adds of two, at the price of twice the
 * accumulators on the stack and 32-row workgroups. Measured on lavapipe
 * (bench/RESULTS.md): 4 rows are 4-20 % faster from 512 rows for x W^T up
 * to K 1024 and for untransposed B at K 256; slower at 80 rows, for x W^T at
 * K 2400 and for untransposed B from K 512. */
static uint32_t texel_rows_per_lane(const vknmt_gemm_args *g, bool a_quads)
{
    if (a_quads)
        return TEXEL_RM_QUADS;
    if (g->m >= 512 && g->k <= (g->trans_b ? 1024u : 256u))
        return 4;
    return TEXEL_RM;
}
/* x W^T with at most VKNMT_FEW_ROWS rows (decoding one sentence: greedy,
 * or beam 5): the few-rows kernel, a pipeline per row count (rounding 5 rows
 * up to 8 cost ~25 %). Measured on lavapipe with one column per invocation:
 * 30-40 % less time than the tiled kernel at 1-4 rows, 1.4x faster at 5
 * rows (output layer 5x4671x512), on a par at 12 and slower at 16 (the tiled
 * kernel then wastes few of its 16 rows); two columns (bench/RESULTS.md)
 * are 1.6-2.5x faster again; with them, 9-12 rows (beam 12 on one
 * sentence) took 15-20 % less decoding kernel time than the tiled kernels
 * and their separate epilogue dispatches (2026-12-05). */

bool vknmt_cpu_texel_kernels(const vknmt_caps *caps)
{
    return caps->quirk_cpu_lanes && caps->texel_buffers && caps->subgroup_shuffle && caps->subgroup_size >= 4 &&
           caps->subgroup_size <= VKNMT_FEW_ROWS_LOCAL;
}

/* Elements spanned by a rows x cols matrix with leading dimension ld. */
static uint64_t extent(uint32_t rows, uint32_t cols, uint32_t ld) { return (uint64_t)(rows - 1) * ld + cols; }

/* Product i > 0 of a sum as the GEMM that adds it to C. */
static vknmt_gemm_args sum_term(const vknmt_gemm_args *args, uint32_t i)
{
    vknmt_gemm_args g = args[0];
    g.a = args[i].a;
    g.b = args[i].b;
    g.k = args[i].k;
    g.trans_a = args[i].trans_a;
    g.trans_b = args[i].trans_b;
    g.lda = args[i].lda;
    g.ldb = args[i].ldb;
    g.beta = 1;
    g.bias = (vknmt_ref){0};
    g.c_in = (vknmt_ref){0};
    return g;
}

/* What a few-rows GEMM writes besides or instead of C. */
typedef enum few_rows_extra { EXTRA_NONE, EXTRA_PAIRMAX, EXTRA_ROWSTATS } few_rows_extra;

/* x W^T of a few rows in one dispatch: one GEMM, or a sum of up to three
 * products into C, or (EXTRA_PAIRMAX) as the maximum of each pair of its
 * columns into *xo instead, with side (or NULL) a second product of args[0]'s
 * A into side->c, or (EXTRA_ROWSTATS, one product) into C and its rows'
 * softmax block statistics into *xo; *ran false (nothing recorded) where it
 * does not serve: not a CPU device, over VKNMT_FEW_ROWS rows, a transposed A
 * or a B not transposed, operands off quads, a batch. The caller has
 * checked the shapes and activation. */
static vknmt_status few_rows(vknmt_seq *seq, uint32_t count, const vknmt_gemm_args *args, few_rows_extra extra,
                             const vknmt_ref *xo, uint32_t ldxo, const vknmt_gemm_args *side, bool *ran)
{
    bool pm = extra == EXTRA_PAIRMAX;
    vknmt_context *ctx = vknmt_seq_context(seq);
    const vknmt_caps *caps = &ctx->caps;
    const vknmt_gemm_args *g0 = &args[0];
    *ran = false;
    if (!vknmt_cpu_texel_kernels(caps) || g0->m == 0 || g0->m > VKNMT_FEW_ROWS || g0->n == 0 ||
        (pm && (g0->n % 2 || VKNMT_FEW_ROWS_COLS != 2)))
        return VKNMT_OK;
    sum_push p = {.g = {.m = g0->m, .n = g0->n, .k = g0->k, .ldc = g0->ldc ? g0->ldc : g0->n, .alpha = g0->alpha,
                        .beta = g0->beta, .has_bias = g0->bias.buf != NULL, .act = (uint32_t)g0->act}};
    uint32_t k[3], lda[3], ldb[3], given = 0, panels = 0, *off_a[3] = {&p.g.off_a, &p.more[0][3], &p.more[1][3]},
                                              *off_b[3] = {&p.g.off_b, &p.more[0][4], &p.more[1][4]};
    for (uint32_t i = 0; i < count; i++) {
        const vknmt_gemm_args *g = &args[i];
        if (i > 0 && !g->b.buf) { /* a given product: A is [m, n] itself */
            given |= 1u << (i - 1);
            k[i] = 0;
            lda[i] = ldb[i] = g->lda ? g->lda : g0->n;
            if (lda[i] < g0->n)
                return CTX_FAIL(ctx, VKNMT_ERR_SHAPE, "gemm sum: given product's lda %u shorter than %u columns",
                                lda[i], g0->n);
            if (lda[i] % 4 || g->a.off % 4)
                return VKNMT_OK;
            continue;
        }
        k[i] = g->k;
        lda[i] = g->lda ? g->lda : g->k;
        ldb[i] = g->b_panels ? (g->k + 3) / 4 * 4 : g->ldb ? g->ldb : g->k;
        panels |= (uint32_t)g->b_panels << i;
        if (g->trans_a || !g->trans_b || g->k == 0 || lda[i] % 4 || ldb[i] % 4 || g->a.off % 4 || g->b.off % 4 ||
            lda[i] < g->k || ldb[i] < g->k || g->batch > 1)
            return VKNMT_OK;
    }
    if (p.g.ldc < g0->n)
        return CTX_FAIL(ctx, VKNMT_ERR_SHAPE, "gemm sum: ldc %u shorter than %u columns", p.g.ldc, g0->n);
    vknmt_binding b[11];
    vknmt_status s;
    for (uint32_t i = 0; i < 3; i++) {
        uint32_t j = i < count ? i : count - 1; /* unused pairs bind the last product again */
        uint32_t scratch, *oa = i < count ? off_a[i] : &scratch, *ob = i < count ? off_b[i] : &scratch;
        vknmt_binding *ba = i == 0 ? &b[0] : &b[2 + 2 * i], *bb = i == 0 ? &b[1] : &b[3 + 2 * i];
        bool gv = j > 0 && (given >> (j - 1) & 1); /* its B binds A again: a binding needs a buffer */
        uint64_t b_count = gv                 ? 1
                           : args[j].b_panels ? vknmt_panel_floats(ctx, g0->n, k[j])
                                              : extent(g0->n, k[j], ldb[j]);
        if ((s = vknmt_bind(ctx, args[j].a, extent(g0->m, gv ? g0->n : k[j], lda[j]), VKNMT_READ,
                            VKNMT_BIND_TEXEL_RGBA32F, ba, oa)) ||
            (s = vknmt_bind(ctx, gv ? args[j].a : args[j].b, b_count, VKNMT_READ, VKNMT_BIND_TEXEL_RGBA32F, bb, ob)))
            return s;
        if (i < count && (*oa % 4 || *ob % 4))
            return VKNMT_OK; /* a windowed view left a misaligned remainder */
    }
    for (uint32_t i = 1; i < count; i++) {
        p.more[i - 1][0] = k[i];
        p.more[i - 1][1] = lda[i];
        p.more[i - 1][2] = ldb[i];
    }
    p.g.k = k[0];
    p.g.lda = lda[0];
    p.g.ldb = ldb[0];
    /* pairmax never writes C (still bound: a binding needs a buffer); beta reads C or c_in */
    bool cin = g0->c_in.buf != NULL;
    uint8_t c_access = pm ? VKNMT_READ : VKNMT_WRITE | (g0->beta != 0 && !cin ? VKNMT_READ : 0);
    /* the side product takes binding 2 (C, which the pairwise maximum leaves unwritten) and 10 */
    uint32_t side_ldb = side ? (side->ldb ? side->ldb : side->k) : 0, side_ldc = side ? (side->ldc ? side->ldc : side->n) : 0;
    if (side && (side_ldb % 4 || side->b.off % 4 || side_ldb < side->k))
        return VKNMT_OK;
    if ((s = vknmt_bind(ctx, side ? side->b : g0->b, side ? extent(side->n, side->k, side_ldb) : 1, VKNMT_READ,
                        VKNMT_BIND_TEXEL_RGBA32F, &b[10], &p.g.stride_b)))
        return s;
    if (side && p.g.stride_b % 4)
        return VKNMT_OK;
    p.g.stride_a = side ? side->n : 0;
    p.g.stride_c = side_ldb;
    p.ldcin = cin ? (g0->ldc_in ? g0->ldc_in : g0->n) : p.g.ldc;
    if (p.ldcin < g0->n)
        return CTX_FAIL(ctx, VKNMT_ERR_SHAPE, "gemm sum: ldc_in %u shorter than %u columns", p.ldcin, g0->n);
    /* the second output's width: pairs, or two floats per block */
    uint32_t xw = pm ? g0->n / 2 : 2 * vknmt_softmax_block_count(ctx, g0->n);
    p.ldt = ldxo ? ldxo : xw;
    if (side)
        p.g.ldc = side_ldc;
    if ((s = side ? vknmt_bind(ctx, side->c, extent(g0->m, side->n, side_ldc), VKNMT_WRITE, VKNMT_BIND_SSBO, &b[2],
                               &p.g.off_c)
                  : vknmt_bind(ctx, g0->c, extent(g0->m, g0->n, p.g.ldc), c_access, VKNMT_BIND_SSBO, &b[2], &p.g.off_c)) ||
        (s = vknmt_bind(ctx, p.g.has_bias ? g0->bias : g0->c, p.g.has_bias ? g0->n : 1, VKNMT_READ, VKNMT_BIND_SSBO,
                        &b[3], &p.g.off_bias)) ||
        (s = vknmt_bind(ctx, xo ? *xo : g0->c, xo ? extent(g0->m, xw, p.ldt) : 1, xo ? VKNMT_WRITE : VKNMT_READ,
                        VKNMT_BIND_SSBO, &b[8], &p.off_t)) ||
        (s = vknmt_bind(ctx, cin ? g0->c_in : g0->c, g0->beta != 0 ? extent(g0->m, g0->n, p.ldcin) : 1, VKNMT_READ,
                        VKNMT_BIND_SSBO, &b[9], &p.off_cin)))
        return s;
    uint32_t spec[12] = {VKNMT_FEW_ROWS_LOCAL, 0, 1, g0->m, caps->subgroup_size, VKNMT_FEW_ROWS_COLS, count - 1,
                         pm, extra == EXTRA_ROWSTATS, side != NULL, given, panels};
    uint32_t per_group = VKNMT_FEW_ROWS_LOCAL * (pm ? 1 : VKNMT_FEW_ROWS_COLS), cols = pm ? g0->n / 2 : g0->n;
    uint32_t side_per_group = VKNMT_FEW_ROWS_LOCAL * VKNMT_FEW_ROWS_COLS;
    /* one product into C: the plain kernel, whose push is the sum's first part */
    vknmt_dispatch d = {.kernel = count == 1 && extra == EXTRA_NONE && !cin ? &K_GEMM_TEXEL_SKINNY
                                                                          : &K_GEMM_TEXEL_SKINNY_SUM,
                        .spec = spec, .push = &p, .bindings = b,
                        .groups = {(cols + per_group - 1) / per_group +
                                       (side ? (side->n + side_per_group - 1) / side_per_group : 0),
                                   1, 1}};
    if ((s = vknmt_seq_dispatch(seq, &d)))
        return s;
    *ran = true;
    return VKNMT_OK;
}

vknmt_status vknmt_gemm(vknmt_seq *seq, const vknmt_gemm_args *g)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    const vknmt_caps *caps = &ctx->caps;
    if (g->m == 0 || g->n == 0 || g->k == 0)
        return CTX_FAIL(ctx, VKNMT_ERR_SHAPE, "gemm: empty shape %ux%ux%u", g->m, g->n, g->k);
    if ((unsigned)g->act > VKNMT_ACT_RELU)
        return CTX_FAIL(ctx, VKNMT_ERR_USAGE, "gemm: unknown activation %d", (int)g->act);
    uint32_t a_rows = g->trans_a ? g->k : g->m, a_cols = g->trans_a ? g->m : g->k;
    uint32_t b_rows = g->trans_b ? g->n : g->k, b_cols = g->trans_b ? g->k : g->n;
    gemm_push p = {.m = g->m, .n = g->n, .k = g->k,
                   .lda = g->lda ? g->lda : a_cols, .ldb = g->ldb ? g->ldb : b_cols, .ldc = g->ldc ? g->ldc : g->n,
                   .alpha = g->alpha, .beta = g->beta, .has_bias = g->bias.buf != NULL, .act = (uint32_t)g->act};
    if (p.lda < a_cols || p.ldb < b_cols || p.ldc < g->n)
        return CTX_FAIL(ctx, VKNMT_ERR_SHAPE, "gemm: leading dimensions %u/%u/%u shorter than rows of %u/%u/%u",
                        p.lda, p.ldb, p.ldc, a_cols, b_cols, g->n);
    uint32_t batch = g->batch ? g->batch : 1;
    if (batch > 1) {
        uint64_t sc = g->stride_c, last = (uint64_t)(batch - 1) * sc;
        if (g->c_in.buf)
            return CTX_FAIL(ctx, VKNMT_ERR_USAGE, "gemm: a batch of %u with c_in", batch);
        if (batch > 65535)
            return CTX_FAIL(ctx, VKNMT_ERR_LIMIT, "gemm: a batch of %u (at most 65535)", batch);
        if (sc < g->n || (sc < extent(g->m, g->n, p.ldc) && p.ldc < last + g->n))
            return CTX_FAIL(ctx, VKNMT_ERR_SHAPE, "gemm: a batch of %u whose C overlap (stride %u, ldc %u, %ux%u)",
                            batch, g->stride_c, p.ldc, g->m, g->n);
        p.stride_a = g->stride_a;
        p.stride_b = g->stride_b;
        p.stride_c = g->stride_c;
    }

    if (batch == 1 && !g->trans_a && g->trans_b && g->m <= VKNMT_FEW_ROWS) {
        bool ran;
        vknmt_status s = few_rows(seq, 1, g, EXTRA_NONE, NULL, 0, NULL, &ran);
        if (s || ran)
            return s;
    }
    if (g->b_panels)
        return CTX_FAIL(ctx, VKNMT_ERR_UNSUPPORTED, "gemm: B in panels where the product is not a few-rows dispatch");
    if (g->c_in.buf && g->beta != 0) { /* the kernels below scale C: c_in goes there first */
        vknmt_status s = vknmt_copy2d(seq, g->c_in, g->ldc_in ? g->ldc_in : g->n, g->c, p.ldc, g->m, g->n);
        if (s)
            return s;
    }
    uint64_t a_count = (uint64_t)(batch - 1) * p.stride_a + extent(a_rows, a_cols, p.lda),
             b_count = (uint64_t)(batch - 1) * p.stride_b + extent(b_rows, b_cols, p.ldb);
    bool texel = vknmt_cpu_texel_kernels(caps);
    vknmt_binding b[4];
    vknmt_status s;
    vknmt_bind_type in_type = VKNMT_BIND_SSBO;
    const vknmt_kernel_desc *k = &K_GEMM;
    if (texel) {
        /* Whole-buffer views: the float offset stays the element offset. */
        bool aligned = p.lda % 4 == 0 && p.ldb % 4 == 0 && g->a.off % 4 == 0 && g->b.off % 4 == 0 &&
                       p.stride_a % 4 == 0 && p.stride_b % 4 == 0;
        in_type = aligned ? VKNMT_BIND_TEXEL_RGBA32F : VKNMT_BIND_TEXEL_R32F;
        k = aligned ? &K_GEMM_TEXEL : &K_GEMM_TEXEL_SCALAR;
        /* operands too large for a texel view take the storage-buffer kernel */
        if (!vknmt_texel_view_fits(ctx, g->a, a_count, in_type) ||
            !vknmt_texel_view_fits(ctx, g->b, b_count, in_type)) {
            texel = false;
            in_type = VKNMT_BIND_SSBO;
            k = &K_GEMM;
        }
    }
    if ((s = vknmt_bind(ctx, g->a, a_count, VKNMT_READ, in_type, &b[0], &p.off_a)) ||
        (s = vknmt_bind(ctx, g->b, b_count, VKNMT_READ, in_type, &b[1], &p.off_b)))
        return s;
    if (texel && in_type == VKNMT_BIND_TEXEL_RGBA32F && (p.off_a % 4 || p.off_b % 4)) {
        /* a windowed view (huge buffer) left a misaligned remainder */
        in_type = VKNMT_BIND_TEXEL_R32F;
        k = &K_GEMM_TEXEL_SCALAR;
        if ((s = vknmt_bind(ctx, g->a, a_count, VKNMT_READ, in_type, &b[0], &p.off_a)) ||
            (s = vknmt_bind(ctx, g->b, b_count, VKNMT_READ, in_type, &b[1], &p.off_b)))
            return s;
    }
    uint8_t c_access = VKNMT_WRITE | (g->beta != 0 ? VKNMT_READ : 0);
    if ((s = vknmt_bind(ctx, g->c, (uint64_t)(batch - 1) * p.stride_c + extent(g->m, g->n, p.ldc), c_access,
                        VKNMT_BIND_SSBO, &b[2], &p.off_c)))
        return s;
    /* Without a bias the binding still needs a buffer; the kernel ignores it. */
    if ((s = vknmt_bind(ctx, p.has_bias ? g->bias : g->c, p.has_bias ? g->n : 1, VKNMT_READ, VKNMT_BIND_SSBO, &b[3],
                        &p.off_bias)))
        return s;

    uint32_t spec[8] = {0, g->trans_a, g->trans_b};
    vknmt_dispatch d = {.spec = spec, .push = &p, .bindings = b};
    uint64_t gx, gy;
    if (texel) {
        spec[0] = caps->subgroup_size;
        uint32_t rm = texel_rows_per_lane(g, g->trans_a && k == &K_GEMM_TEXEL);
        spec[3] = rm;
        spec[4] = TEXEL_TN;
        gx = (g->m + caps->subgroup_size * rm - 1) / (caps->subgroup_size * rm);
        gy = (g->n + TEXEL_TN - 1) / TEXEL_TN;
    } else {
        bool vec4 = p.lda % 4 == 0 && p.ldb % 4 == 0 && p.off_a % 4 == 0 && p.off_b % 4 == 0 &&
                    p.stride_a % 4 == 0 && p.stride_b % 4 == 0;
        k = vec4 ? &K_GEMM_VEC4 : &K_GEMM;
        ssbo_tile t = SSBO_LARGE;
        if (caps->max_workgroup_invocations < (t.bm / t.tm) * (t.bn / t.tn) ||
            caps->max_shared_memory_bytes < (t.bm + t.bn) * t.bk * 4)
            t = SSBO_SMALL;
        spec[0] = (t.bm / t.tm) * (t.bn / t.tn);
        spec[3] = t.bm;
        spec[4] = t.bn;
        spec[5] = t.bk;
        spec[6] = t.tm;
        spec[7] = t.tn;
        gx = (g->m + t.bm - 1) / t.bm;
        gy = (g->n + t.bn - 1) / t.bn;
    }
    if (gx > 65535 || gy > 65535)
        return CTX_FAIL(ctx, VKNMT_ERR_LIMIT, "gemm: %ux%u output needs too many workgroups", g->m, g->n);
    d.kernel = k;
    d.groups[0] = (uint32_t)gx;
    d.groups[1] = (uint32_t)gy;
    d.groups[2] = batch;
    return vknmt_seq_dispatch(seq, &d);
}

vknmt_status vknmt_gemm_sum(vknmt_seq *seq, uint32_t count, const vknmt_gemm_args *args)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    if (count < 1 || count > 3)
        return CTX_FAIL(ctx, VKNMT_ERR_USAGE, "gemm sum: %u products (1 to 3)", count);
    if (count > 1 && args[0].act != VKNMT_ACT_NONE)
        return CTX_FAIL(ctx, VKNMT_ERR_USAGE, "gemm sum: an activation on a sum of %u products", count);
    bool ran = false;
    vknmt_status s = count > 1 ? few_rows(seq, count, args, EXTRA_NONE, NULL, 0, NULL, &ran) : VKNMT_OK;
    if (s || ran)
        return s;
    for (uint32_t i = 1; i < count; i++)
        if (!args[i].b.buf || args[i].b_panels)
            return CTX_FAIL(ctx, VKNMT_ERR_UNSUPPORTED, "gemm sum: a %s where the sum is not one dispatch",
                            args[i].b_panels ? "B in panels" : "given product");
    s = vknmt_gemm(seq, &args[0]);
    for (uint32_t i = 1; i < count && !s; i++) {
        vknmt_gemm_args g = sum_term(args, i);
        s = vknmt_gemm(seq, &g);
    }
    return s;
}

vknmt_status vknmt_gemm_sum_pairmax(vknmt_seq *seq, uint32_t count, const vknmt_gemm_args *args, vknmt_ref out,
                                    uint32_t ldo, const vknmt_gemm_args *side, bool *ran)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    *ran = false;
    if (count < 1 || count > 3)
        return CTX_FAIL(ctx, VKNMT_ERR_USAGE, "gemm sum: %u products (1 to 3)", count);
    if (args[0].act != VKNMT_ACT_NONE)
        return CTX_FAIL(ctx, VKNMT_ERR_USAGE, "gemm sum: an activation before the pairwise maximum");
    if (side) {
        const vknmt_gemm_args *g0 = &args[0];
        uint32_t lda0 = g0->lda ? g0->lda : g0->k, lda = side->lda ? side->lda : side->k;
        if (side->a.buf != g0->a.buf || side->a.off != g0->a.off || side->m != g0->m || side->k != g0->k ||
            lda != lda0 || side->trans_a || !side->trans_b || side->n == 0 || side->alpha != 1 || side->beta != 0 ||
            side->bias.buf || side->c_in.buf || side->act != VKNMT_ACT_NONE || side->batch > 1 || side->b_panels)
            return CTX_FAIL(ctx, VKNMT_ERR_USAGE, "gemm sum: the side product must be x W^T of the sum's first A "
                            "(alpha 1, no beta, bias or activation)");
        if (g0->beta != 0 && !g0->c_in.buf)
            return CTX_FAIL(ctx, VKNMT_ERR_USAGE, "gemm sum: a side product with beta scaling C (use c_in)");
        if ((side->ldc ? side->ldc : side->n) < side->n)
            return CTX_FAIL(ctx, VKNMT_ERR_SHAPE, "gemm sum: side ldc %u shorter than %u columns", side->ldc, side->n);
    }
    return few_rows(seq, count, args, EXTRA_PAIRMAX, &out, ldo, side, ran);
}

vknmt_status vknmt_gemm_softmax_blocks(vknmt_seq *seq, const vknmt_gemm_args *g, vknmt_ref stats, bool *ran)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    *ran = false;
    if (g->m == 0 || g->n == 0 || g->k == 0)
        return CTX_FAIL(ctx, VKNMT_ERR_SHAPE, "gemm softmax blocks: empty shape %ux%ux%u", g->m, g->n, g->k);
    if (g->act != VKNMT_ACT_NONE)
        return CTX_FAIL(ctx, VKNMT_ERR_USAGE, "gemm softmax blocks: an activation before the statistics");
    /* the epilogue's blocks are subgroups: only where they are the device's blocks */
    if (vknmt_softmax_block_lanes(ctx) != ctx->caps.subgroup_size)
        return VKNMT_OK;
    return few_rows(seq, 1, g, EXTRA_ROWSTATS, &stats, 0, NULL, ran);
}
