/* The few-rows GEMM's panel layout of a weight matrix W [n, k] (x W^T): rows
 * in panels of VKNMT_FEW_ROWS_COLS x subgroup rows, each panel stored quad of
 * k by quad of k in the order the kernel's lanes own its rows, so that one
 * texel fetch of a subgroup reads adjacent memory (shaders/panel_rows.comp
 * has the layout). In the row layout each fetch reads 16 bytes of 8 rows a
 * row apart, 8 cache lines and as many streams for the prefetcher; on
 * lavapipe that costs a third of the output layer's time once W outgrows
 * the cache (bench/RESULTS.md). */
#include "internal.h"

#define LOCAL 64

static const vknmt_kernel_desc K_PANEL_ROWS = {"panel_rows", VKNMT_SPIRV(panel_rows), 2,
                                               {VKNMT_BIND_SSBO, VKNMT_BIND_SSBO}, 36, 1};

uint32_t vknmt_panel_height(const vknmt_context *ctx)
{
    return vknmt_cpu_texel_kernels(&ctx->caps) ? VKNMT_FEW_ROWS_COLS * ctx->caps.subgroup_size : 0;
}

uint64_t vknmt_panel_floats(const vknmt_context *ctx, uint32_t n, uint32_t k)
{
    uint64_t h = vknmt_panel_height(ctx);
    return h ? (n + h - 1) / h * h * ((k + 3ull) / 4 * 4) : 0;
}

vknmt_status vknmt_panel_rows(vknmt_seq *seq, vknmt_ref w, uint32_t ldw, uint32_t n, uint32_t k, vknmt_ref panels)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    uint64_t total = vknmt_panel_floats(ctx, n, k);
    if (n == 0 || k == 0 || ldw < k)
        return CTX_FAIL(ctx, VKNMT_ERR_SHAPE, "panel rows: %u x %u rows, ld %u", n, k, ldw);
    if (total == 0)
        return CTX_FAIL(ctx, VKNMT_ERR_UNSUPPORTED, "panel rows: the few-rows GEMM does not serve this device");
    if (total > UINT32_MAX)
        return CTX_FAIL(ctx, VKNMT_ERR_LIMIT, "panel rows: %llu floats", (unsigned long long)total);
    vknmt_binding b[2];
    struct { uint32_t off_x, off_y, n, k, ldx, kq, rows_per_panel, cn, texels; } p = {
        0, 0, n, k, ldw, (k + 3) / 4, vknmt_panel_height(ctx), VKNMT_FEW_ROWS_COLS, (uint32_t)(total / 4)};
    vknmt_status s;
    if ((s = vknmt_bind(ctx, w, (uint64_t)(n - 1) * ldw + k, VKNMT_READ, VKNMT_BIND_SSBO, &b[0], &p.off_x)) ||
        (s = vknmt_bind(ctx, panels, total, VKNMT_WRITE, VKNMT_BIND_SSBO, &b[1], &p.off_y)))
        return s;
    if (p.off_y % 4)
        return CTX_FAIL(ctx, VKNMT_ERR_SHAPE, "panel rows: the panels start off a quad");
    p.off_y /= 4;
    uint32_t spec[1] = {LOCAL};
    vknmt_dispatch d = {.kernel = &K_PANEL_ROWS, .spec = spec, .push = &p, .bindings = b};
    vknmt_grid_1d((p.texels + LOCAL - 1) / LOCAL, d.groups);
    return vknmt_seq_dispatch(seq, &d);
}
