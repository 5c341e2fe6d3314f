/* GEMM: picks the kernel variant for the device class and the operands'
 * alignment, checks every shape, and dispatches. */
#include "internal.h"

#define SSBO VKNMT_BIND_SSBO
static const vknmt_kernel_desc K_GEMM = {"gemm", VKNMT_SPIRV(gemm), 4, {SSBO, SSBO, SSBO, SSBO}, 56, 8};
static const vknmt_kernel_desc K_GEMM_VEC4 = {"gemm_vec4", VKNMT_SPIRV(gemm_vec4), 4, {SSBO, SSBO, SSBO, SSBO}, 56, 8};
static const vknmt_kernel_desc K_GEMM_TEXEL = {
    "gemm_texel", VKNMT_SPIRV(gemm_texel), 4, {VKNMT_BIND_TEXEL_RGBA32F, VKNMT_BIND_TEXEL_RGBA32F, SSBO, SSBO}, 56, 5};
static const vknmt_kernel_desc K_GEMM_TEXEL_SKINNY = {
    "gemm_texel_skinny", VKNMT_SPIRV(gemm_texel_skinny), 4, {VKNMT_BIND_TEXEL_RGBA32F, VKNMT_BIND_TEXEL_RGBA32F, SSBO, SSBO},
    56, 6};
static const vknmt_kernel_desc K_GEMM_TEXEL_SCALAR = {
    "gemm_texel_scalar", VKNMT_SPIRV(gemm_texel_scalar), 4, {VKNMT_BIND_TEXEL_R32F, VKNMT_BIND_TEXEL_R32F, SSBO, SSBO},
    56, 5};

typedef struct gemm_push {
    uint32_t m, n, k, lda, ldb, ldc, off_a, off_b, off_c, off_bias;
    float alpha, beta;
    uint32_t has_bias, act;
} gemm_push;

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
/* x W^T with at most SKINNY_ROWS rows (decoding one sentence: greedy, or
 * beam 5): SKINNY_COLS columns per invocation, SKINNY_LOCAL invocations per
 * workgroup, a pipeline per row count (rounding 5 rows up to 8 cost ~25 %).
 * Measured on lavapipe with one column per invocation: 30-40 % less time
 * than the tiled kernel at 1-4 rows, 1.4x faster at 5 rows (output layer
 * 5x4671x512), on a par at 12 and slower at 16 (the tiled kernel then
 * wastes few of its 16 rows); two columns (bench/RESULTS.md) are 1.6-2.5x
 * faster again. */
enum { SKINNY_ROWS = 8, SKINNY_LOCAL = 64, SKINNY_COLS = 2 };

/* Elements spanned by a rows x cols matrix with leading dimension ld. */
static uint64_t extent(uint32_t rows, uint32_t cols, uint32_t ld) { return (uint64_t)(rows - 1) * ld + cols; }

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

    bool texel = caps->quirk_cpu_lanes && caps->texel_buffers && caps->subgroup_shuffle &&
                 caps->subgroup_size >= 4 && caps->subgroup_size <= 64;
    vknmt_binding b[4];
    vknmt_status s;
    vknmt_bind_type in_type = VKNMT_BIND_SSBO;
    const vknmt_kernel_desc *k = &K_GEMM;
    if (texel) {
        /* Whole-buffer views: the float offset stays the element offset. */
        bool aligned = p.lda % 4 == 0 && p.ldb % 4 == 0 && g->a.off % 4 == 0 && g->b.off % 4 == 0;
        in_type = aligned ? VKNMT_BIND_TEXEL_RGBA32F : VKNMT_BIND_TEXEL_R32F;
        k = aligned ? &K_GEMM_TEXEL : &K_GEMM_TEXEL_SCALAR;
    }
    if ((s = vknmt_bind(ctx, g->a, extent(a_rows, a_cols, p.lda), VKNMT_READ, in_type, &b[0], &p.off_a)) ||
        (s = vknmt_bind(ctx, g->b, extent(b_rows, b_cols, p.ldb), VKNMT_READ, in_type, &b[1], &p.off_b)))
        return s;
    if (texel && in_type == VKNMT_BIND_TEXEL_RGBA32F && (p.off_a % 4 || p.off_b % 4)) {
        /* a windowed view (huge buffer) left a misaligned remainder */
        in_type = VKNMT_BIND_TEXEL_R32F;
        k = &K_GEMM_TEXEL_SCALAR;
        if ((s = vknmt_bind(ctx, g->a, extent(a_rows, a_cols, p.lda), VKNMT_READ, in_type, &b[0], &p.off_a)) ||
            (s = vknmt_bind(ctx, g->b, extent(b_rows, b_cols, p.ldb), VKNMT_READ, in_type, &b[1], &p.off_b)))
            return s;
    }
    uint8_t c_access = VKNMT_WRITE | (g->beta != 0 ? VKNMT_READ : 0);
    if ((s = vknmt_bind(ctx, g->c, extent(g->m, g->n, p.ldc), c_access, VKNMT_BIND_SSBO, &b[2], &p.off_c)))
        return s;
    /* Without a bias the binding still needs a buffer; the kernel ignores it. */
    if ((s = vknmt_bind(ctx, p.has_bias ? g->bias : g->c, p.has_bias ? g->n : 1, VKNMT_READ, VKNMT_BIND_SSBO, &b[3],
                        &p.off_bias)))
        return s;

    uint32_t spec[8] = {0, g->trans_a, g->trans_b};
    vknmt_dispatch d = {.spec = spec, .push = &p, .bindings = b};
    uint64_t gx, gy;
    if (k == &K_GEMM_TEXEL && !g->trans_a && g->trans_b && g->m <= SKINNY_ROWS) {
        k = &K_GEMM_TEXEL_SKINNY;
        spec[0] = SKINNY_LOCAL;
        spec[3] = g->m;
        spec[4] = caps->subgroup_size;
        spec[5] = SKINNY_COLS;
        gx = (g->n + SKINNY_LOCAL * SKINNY_COLS - 1) / (SKINNY_LOCAL * SKINNY_COLS);
        gy = 1;
    } else if (texel) {
        spec[0] = caps->subgroup_size;
        uint32_t rm = g->trans_a && k == &K_GEMM_TEXEL ? TEXEL_RM_QUADS : TEXEL_RM;
        spec[3] = rm;
        spec[4] = TEXEL_TN;
        gx = (g->m + caps->subgroup_size * rm - 1) / (caps->subgroup_size * rm);
        gy = (g->n + TEXEL_TN - 1) / TEXEL_TN;
    } else {
        bool vec4 = p.lda % 4 == 0 && p.ldb % 4 == 0 && p.off_a % 4 == 0 && p.off_b % 4 == 0;
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
    d.groups[2] = 1;
    return vknmt_seq_dispatch(seq, &d);
}
