/* Row softmax with a length mask: one workgroup per row. */
#include "internal.h"

static const vknmt_kernel_desc K_SOFTMAX = {"softmax", VKNMT_SPIRV(softmax), 3,
                                            {VKNMT_BIND_SSBO, VKNMT_BIND_SSBO, VKNMT_BIND_SSBO}, 24, 1};

vknmt_status vknmt_softmax_rows(vknmt_seq *seq, vknmt_ref x, vknmt_ref y, uint32_t rows, uint32_t cols,
                                vknmt_ref lengths)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    if (rows == 0 || cols == 0)
        return CTX_FAIL(ctx, VKNMT_ERR_SHAPE, "softmax: %u x %u rows", rows, cols);
    uint64_t n = (uint64_t)rows * cols;
    vknmt_binding b[3];
    struct { uint32_t off_x, off_y, off_len, rows, cols, has_len; } p;
    vknmt_status s;
    if ((s = vknmt_bind(ctx, x, n, VKNMT_READ, VKNMT_BIND_SSBO, &b[0], &p.off_x)) ||
        (s = vknmt_bind(ctx, y, n, VKNMT_WRITE, VKNMT_BIND_SSBO, &b[1], &p.off_y)))
        return s;
    p.has_len = lengths.buf != NULL;
    /* Without lengths any buffer fills the binding; the kernel never reads it. */
    if ((s = vknmt_bind(ctx, p.has_len ? lengths : vknmt_at(x.buf, x.off), p.has_len ? rows : 1, VKNMT_READ,
                        VKNMT_BIND_SSBO, &b[2], &p.off_len)))
        return s;
    p.rows = rows;
    p.cols = cols;
    /* Narrow rows (attention over a sentence) waste fewer lanes in small groups. */
    uint32_t local = cols <= 32 ? 32 : cols <= 64 ? 64 : cols <= 128 ? 128 : 256;
    uint32_t spec[1] = {local};
    vknmt_dispatch d = {.kernel = &K_SOFTMAX, .spec = spec, .push = &p, .bindings = b};
    vknmt_grid_1d(rows, d.groups);
    return vknmt_seq_dispatch(seq, &d);
}

/* Softmax block statistics: one invocation per (row, block). */
static const vknmt_kernel_desc K_SOFTMAX_BLOCKS = {"softmax_blocks", VKNMT_SPIRV(softmax_blocks), 2,
                                                   {VKNMT_BIND_SSBO, VKNMT_BIND_SSBO}, 28, 2};
enum { BLOCK_LANES_DEFAULT = 8 };

uint32_t vknmt_softmax_block_lanes(const vknmt_context *ctx)
{
    /* a subgroup of the few-rows GEMM forms a block in its epilogue */
    return vknmt_cpu_texel_kernels(&ctx->caps) ? ctx->caps.subgroup_size : BLOCK_LANES_DEFAULT;
}

uint32_t vknmt_softmax_block_count(const vknmt_context *ctx, uint32_t cols)
{
    uint32_t w = 2 * vknmt_softmax_block_lanes(ctx);
    return (uint32_t)(((uint64_t)cols + w - 1) / w);
}

vknmt_status vknmt_softmax_blocks(vknmt_seq *seq, uint32_t rows, uint32_t cols, vknmt_ref x, uint32_t ldx,
                                  vknmt_ref stats)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    uint32_t nblk = vknmt_softmax_block_count(ctx, cols);
    if (rows == 0 || cols == 0 || ldx < cols || (uint64_t)rows * ldx > UINT32_MAX ||
        (uint64_t)rows * 2 * nblk > UINT32_MAX)
        return CTX_FAIL(ctx, VKNMT_ERR_SHAPE, "softmax blocks: %u rows of %u columns, %u apart", rows, cols, ldx);
    vknmt_binding b[2];
    struct { uint32_t off_x, ldx, off_s, lds, rows, cols, nblk; } p = {0, ldx, 0, 2 * nblk, rows, cols, nblk};
    vknmt_status s;
    if ((s = vknmt_bind(ctx, x, (uint64_t)(rows - 1) * ldx + cols, VKNMT_READ, VKNMT_BIND_SSBO, &b[0], &p.off_x)) ||
        (s = vknmt_bind(ctx, stats, (uint64_t)rows * 2 * nblk, VKNMT_WRITE, VKNMT_BIND_SSBO, &b[1], &p.off_s)))
        return s;
    uint32_t spec[2] = {64, vknmt_softmax_block_lanes(ctx)};
    vknmt_dispatch d = {.kernel = &K_SOFTMAX_BLOCKS, .spec = spec, .push = &p, .bindings = b};
    vknmt_grid_1d(((uint64_t)rows * nblk + 63) / 64, d.groups);
    return vknmt_seq_dispatch(seq, &d);
}
