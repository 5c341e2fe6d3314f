/* Inverted dropout: the key, and the kernel's two variants. */
#include "dropout.h"

#include <math.h>

#include "vknmt_kernel.h"

#define LOCAL 64

static const vknmt_kernel_desc K_DROPOUT = {"dropout", VKNMT_SPIRV(dropout), 1, {VKNMT_BIND_SSBO}, 44, 1};
static const vknmt_kernel_desc K_DROPOUT_MASK = {"dropout_mask", VKNMT_SPIRV(dropout_mask), 1, {VKNMT_BIND_SSBO},
                                                 44, 1};

typedef struct dropout_push {
    uint32_t off_x, n, cols, ld, mask_ld, mask_col0;
    uint32_t seed, step, salt, threshold;
    float scale;
} dropout_push;

vknmt_dropout_key vknmt_dropout_key_make(float p, uint32_t seed, uint32_t step, uint32_t salt)
{
    /* ceil(P * 2^24) of the 2^24 values of (hash >> 8) are dropped (P < 1
     * keeps at least one), and the scale is exactly 1 / P(kept). */
    double t = ceil((double)p * 16777216.0);
    uint32_t thr = (uint32_t)(t < 0 ? 0 : t > 16777215.0 ? 16777215.0 : t);
    vknmt_dropout_key k = {seed, step, salt, thr, (float)(16777216.0 / (16777216.0 - thr))};
    return k;
}

static vknmt_status run(vknmt_seq *seq, const vknmt_kernel_desc *kd, const vknmt_dropout_key *k, vknmt_ref x,
                        uint64_t count, const vknmt_dropout_window *win, uint8_t access)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    uint64_t n = (uint64_t)win->rows * win->cols;
    if (n == 0 || n > UINT32_MAX || win->ld < win->cols ||
        (uint64_t)(win->rows - 1) * win->mask_ld + win->mask_col0 + win->cols > (uint64_t)UINT32_MAX + 1)
        return vknmt_seq_fail(seq, VKNMT_ERR_SHAPE, "dropout: %u x %u window (ld %u, mask ld %u + %u)", win->rows,
                              win->cols, win->ld, win->mask_ld, win->mask_col0);
    dropout_push p = {0, (uint32_t)n, win->cols, win->ld, win->mask_ld, win->mask_col0,
                      k->seed, k->step, k->salt, k->threshold, k->scale};
    vknmt_binding b[1];
    vknmt_status s = vknmt_bind(ctx, x, count, access, VKNMT_BIND_SSBO, &b[0], &p.off_x);
    if (s)
        return s;
    uint32_t spec[1] = {LOCAL};
    vknmt_dispatch d = {.kernel = kd, .spec = spec, .push = &p, .bindings = b};
    vknmt_grid_1d((n + LOCAL - 1) / LOCAL, d.groups);
    return vknmt_seq_dispatch(seq, &d);
}

vknmt_status vknmt_dropout_apply(vknmt_seq *seq, const vknmt_dropout_key *k, vknmt_ref x,
                                 const vknmt_dropout_window *win)
{
    uint64_t count = win->rows ? (uint64_t)(win->rows - 1) * win->ld + win->cols : 0;
    return run(seq, &K_DROPOUT, k, x, count, win, VKNMT_READ | VKNMT_WRITE);
}

vknmt_status vknmt_dropout_mask(vknmt_seq *seq, const vknmt_dropout_key *k, vknmt_ref out, uint32_t n)
{
    vknmt_dropout_window win = {1, n, n, n, 0};
    return run(seq, &K_DROPOUT_MASK, k, out, n, &win, VKNMT_WRITE);
}
