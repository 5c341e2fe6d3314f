/* Deep-output maxout, log-softmax cross-entropy, tanh backward. */
#include "readout.h"
#include "vknmt_kernel.h"

#define LOCAL 64

static const vknmt_kernel_desc K_MAXOUT_FWD = {"maxout", VKNMT_SPIRV(maxout), 2, {VKNMT_BIND_SSBO, VKNMT_BIND_SSBO},
                                               12, 1};
static const vknmt_kernel_desc K_MAXOUT_BWD = {"maxout_backward", VKNMT_SPIRV(maxout_backward), 3,
                                               {VKNMT_BIND_SSBO, VKNMT_BIND_SSBO, VKNMT_BIND_SSBO}, 16, 1};
#define SS VKNMT_BIND_SSBO
static const vknmt_kernel_desc K_XENT = {"logsoftmax_xent", VKNMT_SPIRV(logsoftmax_xent), 4, {SS, SS, SS, SS}, 32, 1};
/* The same sums with the logits moved a quad at a time (rows on quads). */
static const vknmt_kernel_desc K_XENT_VEC4 = {"logsoftmax_xent_vec4", VKNMT_SPIRV(logsoftmax_xent_vec4), 4,
                                              {SS, SS, SS, SS}, 32, 1};
/* ... read through a texel view of the logits (binding 4, CPU devices). */
static const vknmt_kernel_desc K_XENT_TEXEL = {"logsoftmax_xent_texel", VKNMT_SPIRV(logsoftmax_xent_texel), 5,
                                               {SS, SS, SS, SS, VKNMT_BIND_TEXEL_RGBA32F}, 32, 1};
static const vknmt_kernel_desc K_TANH_BWD = {"tanh_backward", VKNMT_SPIRV(tanh_backward), 3,
                                             {VKNMT_BIND_SSBO, VKNMT_BIND_SSBO, VKNMT_BIND_SSBO}, 16, 1};

static vknmt_status run(vknmt_seq *seq, const vknmt_kernel_desc *k, const void *push, const vknmt_binding *b,
                        uint64_t n)
{
    uint32_t spec[1] = {LOCAL};
    vknmt_dispatch d = {.kernel = k, .spec = spec, .push = push, .bindings = b};
    vknmt_grid_1d((n + LOCAL - 1) / LOCAL, d.groups);
    return vknmt_seq_dispatch(seq, &d);
}

/* The pairs tt[2i], tt[2i+1] index 2n floats: n < 2^31 keeps 2i in 32 bits. */
static vknmt_status maxout_shape(vknmt_seq *seq, uint32_t rows, uint32_t l, const char *op)
{
    if (rows == 0 || l == 0 || (uint64_t)rows * l >= (1ull << 31))
        return vknmt_seq_fail(seq, VKNMT_ERR_SHAPE, "%s: %u rows x %u units", op, rows, l);
    return VKNMT_OK;
}

vknmt_status vknmt_maxout_forward(vknmt_seq *seq, uint32_t rows, uint32_t l, vknmt_ref tt, vknmt_ref t)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    vknmt_status s = maxout_shape(seq, rows, l, "maxout_forward");
    uint64_t n = (uint64_t)rows * l;
    vknmt_binding b[2];
    struct { uint32_t off_tt, off_t, n; } p;
    if (s || (s = vknmt_bind(ctx, tt, 2 * n, VKNMT_READ, VKNMT_BIND_SSBO, &b[0], &p.off_tt)) ||
        (s = vknmt_bind(ctx, t, n, VKNMT_WRITE, VKNMT_BIND_SSBO, &b[1], &p.off_t)))
        return s;
    p.n = (uint32_t)n;
    return run(seq, &K_MAXOUT_FWD, &p, b, n);
}

vknmt_status vknmt_maxout_backward(vknmt_seq *seq, uint32_t rows, uint32_t l, vknmt_ref tt, vknmt_ref dt,
                                   vknmt_ref dtt)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    vknmt_status s = maxout_shape(seq, rows, l, "maxout_backward");
    uint64_t n = (uint64_t)rows * l;
    vknmt_binding b[3];
    struct { uint32_t off_tt, off_dt, off_dtt, n; } p;
    if (s || (s = vknmt_bind(ctx, tt, 2 * n, VKNMT_READ, VKNMT_BIND_SSBO, &b[0], &p.off_tt)) ||
        (s = vknmt_bind(ctx, dt, n, VKNMT_READ, VKNMT_BIND_SSBO, &b[1], &p.off_dt)) ||
        (s = vknmt_bind(ctx, dtt, 2 * n, VKNMT_WRITE, VKNMT_BIND_SSBO, &b[2], &p.off_dtt)))
        return s;
    p.n = (uint32_t)n;
    return run(seq, &K_MAXOUT_BWD, &p, b, n);
}

vknmt_status vknmt_logsoftmax_xent(vknmt_seq *seq, uint32_t rows, uint32_t vocab, uint32_t ld, vknmt_ref logits,
                                   vknmt_ref target, vknmt_ref weight, vknmt_ref nll)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    if (rows == 0 || vocab == 0 || ld < vocab || (uint64_t)rows * ld > UINT32_MAX)
        return vknmt_seq_fail(seq, VKNMT_ERR_SHAPE, "logsoftmax_xent: %u rows x %u vocabulary, rows %u apart", rows,
                              vocab, ld);
    vknmt_binding b[5];
    struct { uint32_t off_x, off_target, off_weight, off_nll, rows, vocab, ld, off_xt; } p = {0};
    vknmt_status s;
    if ((s = vknmt_bind(ctx, logits, (uint64_t)rows * ld, VKNMT_READ | VKNMT_WRITE, VKNMT_BIND_SSBO, &b[0],
                        &p.off_x)) ||
        (s = vknmt_bind(ctx, target, rows, VKNMT_READ, VKNMT_BIND_SSBO, &b[1], &p.off_target)) ||
        (s = vknmt_bind(ctx, weight, rows, VKNMT_READ, VKNMT_BIND_SSBO, &b[2], &p.off_weight)) ||
        (s = vknmt_bind(ctx, nll, rows, VKNMT_WRITE, VKNMT_BIND_SSBO, &b[3], &p.off_nll)))
        return s;
    p.rows = rows;
    p.vocab = vocab;
    p.ld = ld;
    /* On CPU devices one subgroup per row (see beam_topk.c: barriers
     * switch between a workgroup's subgroups); elsewhere small vocabularies
     * (tests, toy models) waste fewer lanes in small groups. */
    const vknmt_caps *caps = vknmt_context_caps(ctx);
    uint32_t spec[1] = {caps->quirk_cpu_lanes ? caps->subgroup_size
                        : vocab <= 32         ? 32
                        : vocab <= 128        ? 128
                                              : 256};
    bool quads = p.ld % 4 == 0 && p.off_x % 4 == 0;
    /* CPU devices: the reads through a texel view of the same logits */
    bool texel = quads && vknmt_cpu_texel_kernels(caps) &&
                 vknmt_texel_view_fits(ctx, logits, (uint64_t)rows * ld, VKNMT_BIND_TEXEL_RGBA32F);
    if (texel && (s = vknmt_bind(ctx, logits, (uint64_t)rows * ld, VKNMT_READ, VKNMT_BIND_TEXEL_RGBA32F, &b[4],
                                 &p.off_xt)))
        return s;
    texel = texel && p.off_xt % 4 == 0;
    vknmt_dispatch d = {.kernel = texel ? &K_XENT_TEXEL : quads ? &K_XENT_VEC4 : &K_XENT, .spec = spec, .push = &p,
                        .bindings = b};
    vknmt_grid_1d(rows, d.groups);
    return vknmt_seq_dispatch(seq, &d);
}

vknmt_status vknmt_tanh_backward(vknmt_seq *seq, uint64_t n, vknmt_ref y, vknmt_ref dy, vknmt_ref dx)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    if (n == 0 || n > UINT32_MAX)
        return vknmt_seq_fail(seq, VKNMT_ERR_SHAPE, "tanh_backward: %llu elements (must be 1 .. 2^32-1)",
                              (unsigned long long)n);
    vknmt_binding b[3];
    struct { uint32_t off_y, off_dy, off_dx, n; } p;
    vknmt_status s;
    if ((s = vknmt_bind(ctx, y, n, VKNMT_READ, VKNMT_BIND_SSBO, &b[0], &p.off_y)) ||
        (s = vknmt_bind(ctx, dy, n, VKNMT_READ, VKNMT_BIND_SSBO, &b[1], &p.off_dy)) ||
        (s = vknmt_bind(ctx, dx, n, VKNMT_WRITE, VKNMT_BIND_SSBO, &b[2], &p.off_dx)))
        return s;
    p.n = (uint32_t)n;
    return run(seq, &K_TANH_BWD, &p, b, n);
}
