/* Adadelta and Adam over one flat parameter buffer, clipping on the device,
 * window by window when the buffers exceed the device's storage range. */
#include <math.h>

#include "optim.h"
#include "vknmt_kernel.h"

#define LOCAL 64

#define SSBO VKNMT_BIND_SSBO
#define OPTIM_DESC(name_, variant_) {name_, VKNMT_SPIRV(variant_), 6, {SSBO, SSBO, SSBO, SSBO, SSBO, SSBO}, 64, 1}
static const vknmt_kernel_desc K_ADADELTA = OPTIM_DESC("optim_adadelta", optim);
static const vknmt_kernel_desc K_ADAM = OPTIM_DESC("optim_adam", optim_adam);
/* The same a quad per invocation, where the four arrays start on quads. */
static const vknmt_kernel_desc K_ADADELTA_VEC4 = OPTIM_DESC("optim_vec4", optim_vec4);
static const vknmt_kernel_desc K_ADAM_VEC4 = OPTIM_DESC("optim_adam_vec4", optim_adam_vec4);

typedef struct optim_push {
    uint32_t off_x, off_g, off_s1, off_s2, off_norm, off_skip, n, count_skip;
    float clip, rho, eps, lr, beta1, beta2, bc1, bc2;
} optim_push;

static vknmt_ref shifted(vknmt_ref r, uint64_t by) { return vknmt_at(r.buf, r.off + by); }

vknmt_status vknmt_optim_step(vknmt_seq *seq, const vknmt_optim_args *a)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    if (a->n == 0)
        return vknmt_seq_fail(seq, VKNMT_ERR_SHAPE, "optim_step: no parameters");
    if (a->kind != VKNMT_ADADELTA && a->kind != VKNMT_ADAM)
        return vknmt_seq_fail(seq, VKNMT_ERR_USAGE, "optim_step: unknown optimiser %d", (int)a->kind);
    if (a->kind == VKNMT_ADAM && a->step == 0)
        return vknmt_seq_fail(seq, VKNMT_ERR_USAGE, "optim_step: Adam's step is 1-based");
    /* A window's binding starts at an offset aligned down, which may add up
     * to one alignment unit in front of it. */
    const vknmt_caps *caps = vknmt_context_caps(ctx);
    uint64_t range = caps->max_storage_buffer_range, slack = caps->min_storage_offset_align;
    uint64_t window = range > slack ? (range - slack) / 4 / LOCAL * LOCAL : 0;
    if (window > (uint64_t)UINT32_MAX / LOCAL * LOCAL)
        window = (uint64_t)UINT32_MAX / LOCAL * LOCAL;
    if (window == 0)
        return vknmt_seq_fail(seq, VKNMT_ERR_LIMIT, "optim_step: storage range of %llu bytes is too small",
                              (unsigned long long)range);

    optim_push p = {0};
    p.clip = a->clip;
    p.eps = a->eps;
    if (a->kind == VKNMT_ADAM) {
        p.lr = a->lr;
        p.beta1 = a->beta1;
        p.beta2 = a->beta2;
        p.bc1 = (float)(1.0 - pow(a->beta1, (double)a->step));
        p.bc2 = (float)(1.0 - pow(a->beta2, (double)a->step));
    } else {
        p.rho = a->rho;
    }
    bool adam = a->kind == VKNMT_ADAM;
    uint32_t spec[1] = {LOCAL};
    vknmt_status s = VKNMT_OK;
    for (uint64_t done = 0; done < a->n && s == VKNMT_OK;) {
        uint64_t len = a->n - done < window ? a->n - done : window;
        bool first = done == 0;
        vknmt_binding b[6];
        if ((s = vknmt_bind(ctx, shifted(a->param, done), len, VKNMT_READ | VKNMT_WRITE, SSBO, &b[0],
                            &p.off_x)) ||
            (s = vknmt_bind(ctx, shifted(a->grad, done), len, VKNMT_READ, SSBO, &b[1], &p.off_g)) ||
            (s = vknmt_bind(ctx, shifted(a->state1, done), len, VKNMT_READ | VKNMT_WRITE, SSBO, &b[2],
                            &p.off_s1)) ||
            (s = vknmt_bind(ctx, shifted(a->state2, done), len, VKNMT_READ | VKNMT_WRITE, SSBO, &b[3],
                            &p.off_s2)) ||
            (s = vknmt_bind(ctx, a->norm, 1, VKNMT_READ, SSBO, &b[4], &p.off_norm)) ||
            /* Only the first window may count a skipped step. */
            (s = vknmt_bind(ctx, a->skipped, 1, first ? VKNMT_READ | VKNMT_WRITE : VKNMT_READ, SSBO,
                            &b[5], &p.off_skip)))
            break;
        /* Quads when the four arrays start on one; a tail of 1-3 floats
         * is the next window, in floats. */
        bool quads = len >= 4 && (p.off_x | p.off_g | p.off_s1 | p.off_s2) % 4 == 0;
        uint64_t items = quads ? len / 4 : len;
        if (quads) {
            p.off_x /= 4;
            p.off_g /= 4;
            p.off_s1 /= 4;
            p.off_s2 /= 4;
        }
        p.n = (uint32_t)items;
        p.count_skip = first;
        const vknmt_kernel_desc *k = quads ? (adam ? &K_ADAM_VEC4 : &K_ADADELTA_VEC4) : (adam ? &K_ADAM : &K_ADADELTA);
        vknmt_dispatch d = {.kernel = k, .spec = spec, .push = &p, .bindings = b};
        vknmt_grid_1d((items + LOCAL - 1) / LOCAL, d.groups);
        s = vknmt_seq_dispatch(seq, &d);
        done += quads ? items * 4 : len;
    }
    return s;
}
