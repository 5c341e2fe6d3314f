/* vknmt_madd_chains: the device's multiply-add ceiling (shaders/madd_chains.comp). */
#include "internal.h"

#define LOCAL 64

static const vknmt_kernel_desc K_MADD = {"madd_chains", VKNMT_SPIRV(madd_chains), 1, {VKNMT_BIND_SSBO}, 20, 1};

vknmt_status vknmt_madd_chains(vknmt_seq *seq, vknmt_ref y, uint32_t n, uint32_t iters, float a, float b)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    if (n == 0)
        return CTX_FAIL(ctx, VKNMT_ERR_SHAPE, "madd chains: no invocations");
    vknmt_binding bind[1];
    struct { uint32_t off_y, n, iters; float a, b; } p = {0, n, iters, a, b};
    vknmt_status s = vknmt_bind(ctx, y, n, VKNMT_WRITE, VKNMT_BIND_SSBO, &bind[0], &p.off_y);
    if (s)
        return s;
    uint32_t spec[1] = {LOCAL};
    vknmt_dispatch d = {.kernel = &K_MADD, .spec = spec, .push = &p, .bindings = bind};
    vknmt_grid_1d((n + LOCAL - 1) / LOCAL, d.groups);
    return vknmt_seq_dispatch(seq, &d);
}
