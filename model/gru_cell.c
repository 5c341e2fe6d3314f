/* The GRU cell's elementwise kernels (shaders/gru_cell.comp): one
 * invocation per (row, unit), four variants of one shader. */
#include "gru_cell.h"

#include "vknmt_kernel.h"

#define LOCAL 64
#define SSBO VKNMT_BIND_SSBO

/* Bindings 0..4 are the op's tensors in the header's argument order
 * (shaders/gru_cell.comp lists them), binding 5 the lengths. */
#define GRU_DESC(name_, variant_) \
    {name_, VKNMT_SPIRV(variant_), 6, {SSBO, SSBO, SSBO, SSBO, SSBO, SSBO}, sizeof(gru_push), 1}

typedef struct gru_push {
    uint32_t off[5], off_len, batch, n, t, has_len;
} gru_push;

/* Each kernel a unit per invocation, and a quad of units where n and every
 * tensor's offset allow. */
typedef struct gru_kernel {
    vknmt_kernel_desc units, quads;
} gru_kernel;
static const gru_kernel K_FWD_A = {GRU_DESC("gru_fwd_a", gru_cell), GRU_DESC("gru_fwd_a_vec4", gru_fwd_a_vec4)};
static const gru_kernel K_FWD_B = {GRU_DESC("gru_fwd_b", gru_fwd_b), GRU_DESC("gru_fwd_b_vec4", gru_fwd_b_vec4)};
static const gru_kernel K_BWD_A = {GRU_DESC("gru_bwd_a", gru_bwd_a), GRU_DESC("gru_bwd_a_vec4", gru_bwd_a_vec4)};
static const gru_kernel K_BWD_B = {GRU_DESC("gru_bwd_b", gru_bwd_b), GRU_DESC("gru_bwd_b_vec4", gru_bwd_b_vec4)};

/* One tensor of a GRU op: where it is, how many units wide each of its
 * B rows is (n, 2n or 3n), and whether the kernel reads and/or writes it. */
typedef struct gru_arg {
    vknmt_ref ref;
    uint32_t width; /* in units of n */
    uint8_t access;
} gru_arg;

static vknmt_status gru_run(vknmt_seq *seq, const gru_kernel *kernel, const vknmt_gru_step *st,
                            const gru_arg args[5])
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    const vknmt_kernel_desc *k = &kernel->units;
    if (!st)
        return vknmt_seq_fail(seq, VKNMT_ERR_USAGE, "%s: no step description", k->name);
    /* The shader indexes [B, 3n] arrays with 32-bit integers. */
    uint64_t elems = (uint64_t)st->batch * 3 * st->n;
    if (st->batch == 0 || st->n == 0 || elems > UINT32_MAX)
        return vknmt_seq_fail(seq, VKNMT_ERR_SHAPE, "%s: batch %u x %u units (must be non-empty, B*3n < 2^32)",
                              k->name, st->batch, st->n);
    gru_push p = {.batch = st->batch, .n = st->n, .t = st->t, .has_len = st->lengths.buf != NULL};
    vknmt_binding b[6];
    vknmt_status s;
    for (int i = 0; i < 5; i++)
        if ((s = vknmt_bind(ctx, args[i].ref, (uint64_t)st->batch * st->n * args[i].width, args[i].access, SSBO, &b[i],
                            &p.off[i])))
            return s;
    /* Without lengths every row is live; any buffer fills the binding and
     * the kernel never reads it. */
    vknmt_ref len = p.has_len ? st->lengths : args[0].ref;
    if ((s = vknmt_bind(ctx, len, p.has_len ? st->batch : 1, VKNMT_READ, SSBO, &b[5], &p.off_len)))
        return s;
    bool quads = st->n % 4 == 0;
    for (int i = 0; i < 5; i++)
        quads = quads && p.off[i] % 4 == 0;
    if (quads) {
        k = &kernel->quads;
        p.n /= 4;
        for (int i = 0; i < 5; i++)
            p.off[i] /= 4;
    }
    uint32_t spec[1] = {LOCAL};
    vknmt_dispatch d = {.kernel = k, .spec = spec, .push = &p, .bindings = b};
    vknmt_grid_1d(((uint64_t)st->batch * p.n + LOCAL - 1) / LOCAL, d.groups);
    return vknmt_seq_dispatch(seq, &d);
}

vknmt_status vknmt_gru_fwd_a(vknmt_seq *seq, const vknmt_gru_step *st, vknmt_ref a, vknmt_ref hu_rz, vknmt_ref h,
                             vknmt_ref gates, vknmt_ref rh)
{
    const gru_arg args[5] = {{a, 3, VKNMT_READ}, {hu_rz, 2, VKNMT_READ}, {h, 1, VKNMT_READ},
                             {gates, 3, VKNMT_WRITE}, {rh, 1, VKNMT_WRITE}};
    return gru_run(seq, &K_FWD_A, st, args);
}

vknmt_status vknmt_gru_fwd_b(vknmt_seq *seq, const vknmt_gru_step *st, vknmt_ref a, vknmt_ref hu_h, vknmt_ref gates,
                             vknmt_ref h, vknmt_ref h_new)
{
    const gru_arg args[5] = {{a, 3, VKNMT_READ}, {hu_h, 1, VKNMT_READ}, {gates, 3, VKNMT_READ | VKNMT_WRITE},
                             {h, 1, VKNMT_READ}, {h_new, 1, VKNMT_WRITE}};
    return gru_run(seq, &K_FWD_B, st, args);
}

vknmt_status vknmt_gru_bwd_a(vknmt_seq *seq, const vknmt_gru_step *st, vknmt_ref dh_new, vknmt_ref gates, vknmt_ref h,
                             vknmt_ref da, vknmt_ref dh)
{
    const gru_arg args[5] = {{dh_new, 1, VKNMT_READ}, {gates, 3, VKNMT_READ}, {h, 1, VKNMT_READ},
                             {da, 3, VKNMT_WRITE}, {dh, 1, VKNMT_WRITE}};
    return gru_run(seq, &K_BWD_A, st, args);
}

vknmt_status vknmt_gru_bwd_b(vknmt_seq *seq, const vknmt_gru_step *st, vknmt_ref d_rh, vknmt_ref gates, vknmt_ref h,
                             vknmt_ref da, vknmt_ref dh)
{
    const gru_arg args[5] = {{d_rh, 1, VKNMT_READ}, {gates, 3, VKNMT_READ}, {h, 1, VKNMT_READ},
                             {da, 3, VKNMT_WRITE}, {dh, 1, VKNMT_READ | VKNMT_WRITE}};
    return gru_run(seq, &K_BWD_B, st, args);
}
