/* fill, copy, scale, axpy: one invocation per element. */
#include "internal.h"

#define LOCAL 64

static const vknmt_kernel_desc K_FILL = {"fill", VKNMT_SPIRV(fill), 1, {VKNMT_BIND_SSBO}, 12, 1};
static const vknmt_kernel_desc K_COPY = {"copy", VKNMT_SPIRV(copy), 2, {VKNMT_BIND_SSBO, VKNMT_BIND_SSBO}, 12, 1};
static const vknmt_kernel_desc K_SCALE = {"scale", VKNMT_SPIRV(scale), 1, {VKNMT_BIND_SSBO}, 12, 1};
static const vknmt_kernel_desc K_AXPY = {"axpy", VKNMT_SPIRV(axpy), 2, {VKNMT_BIND_SSBO, VKNMT_BIND_SSBO}, 16, 1};

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

vknmt_status vknmt_fill(vknmt_seq *seq, vknmt_ref y, uint64_t n, float value)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    vknmt_binding b[1];
    struct { uint32_t off_y, n; float value; } p;
    vknmt_status s = check_n(ctx, n, "fill");
    if (s || (s = vknmt_bind(ctx, y, n, VKNMT_WRITE, VKNMT_BIND_SSBO, &b[0], &p.off_y)))
        return s;
    p.n = (uint32_t)n;
    p.value = value;
    return run(seq, &K_FILL, &p, b, n);
}

vknmt_status vknmt_copy(vknmt_seq *seq, vknmt_ref x, vknmt_ref y, uint64_t n)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    vknmt_binding b[2];
    struct { uint32_t off_x, off_y, n; } p;
    vknmt_status s = check_n(ctx, n, "copy");
    if (s || (s = vknmt_bind(ctx, x, n, VKNMT_READ, VKNMT_BIND_SSBO, &b[0], &p.off_x)) ||
        (s = vknmt_bind(ctx, y, n, VKNMT_WRITE, VKNMT_BIND_SSBO, &b[1], &p.off_y)))
        return s;
    p.n = (uint32_t)n;
    return run(seq, &K_COPY, &p, b, n);
}

vknmt_status vknmt_scale(vknmt_seq *seq, vknmt_ref y, uint64_t n, float alpha)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    vknmt_binding b[1];
    struct { uint32_t off_y, n; float alpha; } p;
    vknmt_status s = check_n(ctx, n, "scale");
    if (s || (s = vknmt_bind(ctx, y, n, VKNMT_READ | VKNMT_WRITE, VKNMT_BIND_SSBO, &b[0], &p.off_y)))
        return s;
    p.n = (uint32_t)n;
    p.alpha = alpha;
    return run(seq, &K_SCALE, &p, b, n);
}

vknmt_status vknmt_axpy(vknmt_seq *seq, float alpha, vknmt_ref x, vknmt_ref y, uint64_t n)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    vknmt_binding b[2];
    struct { uint32_t off_x, off_y, n; float alpha; } p;
    vknmt_status s = check_n(ctx, n, "axpy");
    if (s || (s = vknmt_bind(ctx, x, n, VKNMT_READ, VKNMT_BIND_SSBO, &b[0], &p.off_x)) ||
        (s = vknmt_bind(ctx, y, n, VKNMT_READ | VKNMT_WRITE, VKNMT_BIND_SSBO, &b[1], &p.off_y)))
        return s;
    p.n = (uint32_t)n;
    p.alpha = alpha;
    return run(seq, &K_AXPY, &p, b, n);
}
