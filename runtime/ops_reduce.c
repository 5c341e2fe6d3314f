/* Deterministic sum and L2 norm: fixed-order partial sums per workgroup,
 * then one workgroup over the partials. */
#include "internal.h"

#define LOCAL 256
#define CHUNK 8192

static const vknmt_kernel_desc K_SUM = {"reduce_sum", VKNMT_SPIRV(reduce), 2, {VKNMT_BIND_SSBO, VKNMT_BIND_SSBO}, 20, 1};
static const vknmt_kernel_desc K_SUMSQ = {"reduce_sumsq", VKNMT_SPIRV(reduce_sumsq), 2,
                                          {VKNMT_BIND_SSBO, VKNMT_BIND_SSBO}, 20, 1};
/* CPU devices: a subgroup a workgroup, quads, shuffles (shaders/reduce.comp) */
static const vknmt_kernel_desc K_SUM_LANES = {"reduce_lanes", VKNMT_SPIRV(reduce_lanes), 2,
                                              {VKNMT_BIND_SSBO, VKNMT_BIND_SSBO}, 20, 1};
static const vknmt_kernel_desc K_SUMSQ_LANES = {"reduce_sumsq_lanes", VKNMT_SPIRV(reduce_sumsq_lanes), 2,
                                                {VKNMT_BIND_SSBO, VKNMT_BIND_SSBO}, 20, 1};

uint64_t vknmt_reduce_scratch_elems(uint64_t n) { return n > CHUNK ? (n + CHUNK - 1) / CHUNK : 1; }

static vknmt_status pass(vknmt_seq *seq, const vknmt_kernel_desc *k, vknmt_ref x, uint64_t n, uint32_t chunk, vknmt_ref out,
                         uint64_t groups, bool sqrt_out)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    vknmt_binding b[2];
    struct { uint32_t off_x, off_out, n, chunk, sqrt_out; } p;
    vknmt_status s;
    if ((s = vknmt_bind(ctx, x, n, VKNMT_READ, VKNMT_BIND_SSBO, &b[0], &p.off_x)) ||
        (s = vknmt_bind(ctx, out, groups, VKNMT_WRITE, VKNMT_BIND_SSBO, &b[1], &p.off_out)))
        return s;
    p.n = (uint32_t)n;
    p.chunk = chunk;
    p.sqrt_out = sqrt_out;
    uint32_t spec[1] = {LOCAL};
    /* CPU devices: one subgroup a workgroup where x starts on a quad */
    const vknmt_caps *caps = &ctx->caps;
    if (caps->quirk_cpu_lanes && caps->subgroup_shuffle && caps->subgroup_size >= 4 && p.off_x % 4 == 0 &&
        chunk % (4 * caps->subgroup_size) == 0) {
        k = k == &K_SUMSQ ? &K_SUMSQ_LANES : &K_SUM_LANES;
        spec[0] = caps->subgroup_size;
    }
    vknmt_dispatch d = {.kernel = k, .spec = spec, .push = &p, .bindings = b};
    vknmt_grid_1d(groups, d.groups);
    return vknmt_seq_dispatch(seq, &d);
}

static vknmt_status reduce(vknmt_seq *seq, const vknmt_kernel_desc *k, vknmt_ref x, uint64_t n, vknmt_ref out,
                           vknmt_ref scratch, bool sqrt_out, const char *op)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    if (n == 0 || n > UINT32_MAX)
        return CTX_FAIL(ctx, VKNMT_ERR_SHAPE, "%s: %llu elements (must be 1 .. 2^32-1)", op, (unsigned long long)n);
    if (n <= CHUNK)
        return pass(seq, k, x, n, CHUNK, out, 1, sqrt_out);
    uint64_t groups = vknmt_reduce_scratch_elems(n);
    if (!scratch.buf)
        return CTX_FAIL(ctx, VKNMT_ERR_USAGE, "%s: %llu elements need a scratch of %llu floats", op,
                        (unsigned long long)n, (unsigned long long)groups);
    /* A flat parameter buffer can exceed the largest storage binding: reduce
     * it window by window (whole chunks each), partials side by side. */
    uint64_t window = (ctx->caps.max_storage_buffer_range - ctx->caps.min_storage_offset_align) / 4 / CHUNK * CHUNK;
    vknmt_status s = VKNMT_OK;
    for (uint64_t done = 0; done < n && s == VKNMT_OK; done += window) {
        uint64_t len = n - done < window ? n - done : window;
        s = pass(seq, k, vknmt_at(x.buf, x.off + done), len, CHUNK, vknmt_at(scratch.buf, scratch.off + done / CHUNK),
                 (len + CHUNK - 1) / CHUNK, false);
    }
    if (s)
        return s;
    return pass(seq, &K_SUM, scratch, groups, (uint32_t)groups, out, 1, sqrt_out);
}

vknmt_status vknmt_sum(vknmt_seq *seq, vknmt_ref x, uint64_t n, vknmt_ref out, vknmt_ref scratch)
{
    return reduce(seq, &K_SUM, x, n, out, scratch, false, "sum");
}

vknmt_status vknmt_norm2(vknmt_seq *seq, vknmt_ref x, uint64_t n, vknmt_ref out, vknmt_ref scratch)
{
    return reduce(seq, &K_SUMSQ, x, n, out, scratch, true, "norm2");
}
