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
