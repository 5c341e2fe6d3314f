/* copy, scale, axpy: one invocation per element (axpy: per quad where n and
 * both operands' offsets allow), in windows of the device's storage range;
 * copy2d (per quad where the block and its strides allow); fill, a transfer
 * command (vkCmdFillBuffer writes memory at memset speed on CPU devices, 40x
 * the shader's); the multiply-add chains of the device's ceiling, one
 * invocation per output. */
#include <string.h>

#include "internal.h"

#define LOCAL 64

static const vknmt_kernel_desc K_COPY = {"copy", VKNMT_SPIRV(copy), 2, {VKNMT_BIND_SSBO, VKNMT_BIND_SSBO}, 12, 1};
static const vknmt_kernel_desc K_SCALE = {"scale", VKNMT_SPIRV(scale), 1, {VKNMT_BIND_SSBO}, 12, 1};
static const vknmt_kernel_desc K_COPY2D = {"copy2d", VKNMT_SPIRV(copy2d), 2, {VKNMT_BIND_SSBO, VKNMT_BIND_SSBO}, 24, 1};
static const vknmt_kernel_desc K_COPY2D_VEC4 = {"copy2d_vec4", VKNMT_SPIRV(copy2d_vec4), 2,
                                                {VKNMT_BIND_SSBO, VKNMT_BIND_SSBO}, 24, 1};
static const vknmt_kernel_desc K_AXPY = {"axpy", VKNMT_SPIRV(axpy), 2, {VKNMT_BIND_SSBO, VKNMT_BIND_SSBO}, 16, 1};
static const vknmt_kernel_desc K_AXPY_VEC4 = {"axpy_vec4", VKNMT_SPIRV(axpy_vec4), 2, {VKNMT_BIND_SSBO, VKNMT_BIND_SSBO},
                                              16, 1};
static const vknmt_kernel_desc K_MADD = {"madd_chains", VKNMT_SPIRV(madd_chains), 1, {VKNMT_BIND_SSBO}, 20, 1};

static vknmt_status check_n(vknmt_context *ctx, uint64_t n, const char *op)
{
    if (n == 0 || n > UINT32_MAX)
        return CTX_FAIL(ctx, VKNMT_ERR_SHAPE, "%s: %llu elements (must be 1 .. 2^32-1)", op, (unsigned long long)n);
    return VKNMT_OK;
}

static vknmt_status run(vknmt_seq *seq, const vknmt_kernel_desc *k, const void *push, const vknmt_binding *b, uint64_t n)
{
    uint32_t spec[1] = {LOCAL};
    vknmt_dispatch d = {.kernel = k, .spec = spec, .push = push, .bindings = b};
    vknmt_grid_1d((n + LOCAL - 1) / LOCAL, d.groups);
    return vknmt_seq_dispatch(seq, &d);
}

/* Floats per window: the storage range less what aligning a binding's
 * start down may add, a multiple of 64. */
static uint64_t window(vknmt_context *ctx)
{
    return (ctx->caps.max_storage_buffer_range - ctx->caps.min_storage_offset_align) / 4 / 64 * 64;
}

static vknmt_status copy1(vknmt_seq *seq, vknmt_ref x, vknmt_ref y, uint64_t n)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    vknmt_binding b[2];
    struct { uint32_t off_x, off_y, n; } p;
    vknmt_status s;
    if ((s = vknmt_bind(ctx, x, n, VKNMT_READ, VKNMT_BIND_SSBO, &b[0], &p.off_x)) ||
        (s = vknmt_bind(ctx, y, n, VKNMT_WRITE, VKNMT_BIND_SSBO, &b[1], &p.off_y)))
        return s;
    p.n = (uint32_t)n;
    return run(seq, &K_COPY, &p, b, n);
}

static vknmt_status scale1(vknmt_seq *seq, vknmt_ref y, uint64_t n, float alpha)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    vknmt_binding b[1];
    struct { uint32_t off_y, n; float alpha; } p;
    vknmt_status s = vknmt_bind(ctx, y, n, VKNMT_READ | VKNMT_WRITE, VKNMT_BIND_SSBO, &b[0], &p.off_y);
    if (s)
        return s;
    p.n = (uint32_t)n;
    p.alpha = alpha;
    return run(seq, &K_SCALE, &p, b, n);
}

static vknmt_status axpy1(vknmt_seq *seq, float alpha, vknmt_ref x, vknmt_ref y, uint64_t n)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    vknmt_binding b[2];
    struct { uint32_t off_x, off_y, n; float alpha; } p;
    vknmt_status s;
    if ((s = vknmt_bind(ctx, x, n, VKNMT_READ, VKNMT_BIND_SSBO, &b[0], &p.off_x)) ||
        (s = vknmt_bind(ctx, y, n, VKNMT_READ | VKNMT_WRITE, VKNMT_BIND_SSBO, &b[1], &p.off_y)))
        return s;
    p.n = (uint32_t)n;
    p.alpha = alpha;
    if (n % 4 == 0 && p.off_x % 4 == 0 && p.off_y % 4 == 0) { /* quads */
        p.n /= 4;
        p.off_x /= 4;
        p.off_y /= 4;
        return run(seq, &K_AXPY_VEC4, &p, b, n / 4);
    }
    return run(seq, &K_AXPY, &p, b, n);
}

static vknmt_ref shift(vknmt_ref r, uint64_t by) { return vknmt_at(r.buf, r.off + by); }

vknmt_status vknmt_fill(vknmt_seq *seq, vknmt_ref y, uint64_t n, float value)
{
    uint32_t word;
    memcpy(&word, &value, sizeof(word));
    return vknmt_seq_fill(seq, y, n, word);
}

vknmt_status vknmt_copy(vknmt_seq *seq, vknmt_ref x, vknmt_ref y, uint64_t n)
{
    vknmt_status s = check_n(vknmt_seq_context(seq), n, "copy");
    uint64_t w = window(vknmt_seq_context(seq));
    for (uint64_t d = 0; d < n && !s; d += w)
        s = copy1(seq, shift(x, d), shift(y, d), n - d < w ? n - d : w);
    return s;
}

vknmt_status vknmt_scale(vknmt_seq *seq, vknmt_ref y, uint64_t n, float alpha)
{
    vknmt_status s = check_n(vknmt_seq_context(seq), n, "scale");
    uint64_t w = window(vknmt_seq_context(seq));
    for (uint64_t d = 0; d < n && !s; d += w)
        s = scale1(seq, shift(y, d), n - d < w ? n - d : w, alpha);
    return s;
}

vknmt_status vknmt_axpy(vknmt_seq *seq, float alpha, vknmt_ref x, vknmt_ref y, uint64_t n)
{
    vknmt_status s = check_n(vknmt_seq_context(seq), n, "axpy");
    uint64_t w = window(vknmt_seq_context(seq));
    for (uint64_t d = 0; d < n && !s; d += w)
        s = axpy1(seq, alpha, shift(x, d), shift(y, d), n - d < w ? n - d : w);
    return s;
}

vknmt_status vknmt_copy2d(vknmt_seq *seq, vknmt_ref x, uint32_t ldx, vknmt_ref y, uint32_t ldy, uint32_t rows,
                          uint32_t cols)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    if (rows == 0 || cols == 0 || ldy < cols || (ldx && ldx < cols) || (uint64_t)rows * cols > UINT32_MAX)
        return CTX_FAIL(ctx, VKNMT_ERR_SHAPE, "copy2d: %u x %u block, ldx %u, ldy %u", rows, cols, ldx, ldy);
    vknmt_binding b[2];
    struct { uint32_t off_x, off_y, rows, cols, ldx, ldy; } p = {0, 0, rows, cols, ldx, ldy};
    vknmt_status s;
    if ((s = vknmt_bind(ctx, x, (uint64_t)(ldx ? rows - 1 : 0) * ldx + cols, VKNMT_READ, VKNMT_BIND_SSBO, &b[0],
                        &p.off_x)) ||
        (s = vknmt_bind(ctx, y, (uint64_t)(rows - 1) * ldy + cols, VKNMT_WRITE, VKNMT_BIND_SSBO, &b[1], &p.off_y)))
        return s;
    if ((p.off_x | p.off_y | cols | ldx | ldy) % 4 == 0) { /* quads */
        p.off_x /= 4;
        p.off_y /= 4;
        p.cols /= 4;
        p.ldx /= 4;
        p.ldy /= 4;
        return run(seq, &K_COPY2D_VEC4, &p, b, (uint64_t)rows * p.cols);
    }
    return run(seq, &K_COPY2D, &p, b, (uint64_t)rows * cols);
}

vknmt_status vknmt_madd_chains(vknmt_seq *seq, vknmt_ref y, uint32_t n, uint32_t iters, float a, float b)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    vknmt_binding bind[1];
    struct { uint32_t off_y, n, iters; float a, b; } p = {0, n, iters, a, b};
    vknmt_status s;
    if ((s = check_n(ctx, n, "madd chains")) ||
        (s = vknmt_bind(ctx, y, n, VKNMT_WRITE, VKNMT_BIND_SSBO, &bind[0], &p.off_y)))
        return s;
    return run(seq, &K_MADD, &p, bind, n);
}
