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

/* The few-rows forward step (shaders/gru_rows.comp): each recurrent product
 * with the cell's arithmetic as its epilogue. Sizes as the few-rows GEMM's
 * (runtime/ops_gemm.c): a workgroup of ROWS_LOCAL invocations, 2 columns
 * each, a pipeline per row count. */
enum { ROWS_MAX = 8, ROWS_LOCAL = 64, ROWS_COLS = 2 };
#define TEXEL VKNMT_BIND_TEXEL_RGBA32F
typedef struct rows_push {
    uint32_t m, n_cols, k, lda, ldb, off_a, off_b, off_in, off_h, off_gates, off_out, off_len, n, t, has_len;
} rows_push;
static const vknmt_kernel_desc K_ROWS_A = {
    "gru_rows", VKNMT_SPIRV(gru_rows), 7, {TEXEL, TEXEL, SSBO, SSBO, SSBO, SSBO, SSBO}, sizeof(rows_push), 6};
static const vknmt_kernel_desc K_ROWS_B = {
    "gru_rows_b", VKNMT_SPIRV(gru_rows_b), 7, {TEXEL, TEXEL, SSBO, SSBO, SSBO, SSBO, SSBO}, sizeof(rows_push), 6};

/* Binds one half's tensors: x (h or rh) and U's rows as texel views, then
 * a, h, gates, out, lengths. False (nothing recorded) when a texel view's
 * offset is off a quad. */
static vknmt_status rows_bind(vknmt_context *ctx, const vknmt_gru_step *st, vknmt_ref x, vknmt_ref u, uint32_t u_rows,
                              vknmt_ref a, vknmt_ref h, vknmt_ref gates, uint8_t gates_access, vknmt_ref out,
                              vknmt_binding b[7], rows_push *p, bool *aligned)
{
    uint64_t bn = (uint64_t)st->batch * st->n;
    vknmt_ref len = p->has_len ? st->lengths : a;
    vknmt_status s;
    if ((s = vknmt_bind(ctx, x, bn, VKNMT_READ, TEXEL, &b[0], &p->off_a)) ||
        (s = vknmt_bind(ctx, u, (uint64_t)u_rows * st->n, VKNMT_READ, TEXEL, &b[1], &p->off_b)) ||
        (s = vknmt_bind(ctx, a, 3 * bn, VKNMT_READ, SSBO, &b[2], &p->off_in)) ||
        (s = vknmt_bind(ctx, h, bn, VKNMT_READ, SSBO, &b[3], &p->off_h)) ||
        (s = vknmt_bind(ctx, gates, 3 * bn, gates_access, SSBO, &b[4], &p->off_gates)) ||
        (s = vknmt_bind(ctx, out, bn, VKNMT_WRITE, SSBO, &b[5], &p->off_out)) ||
        (s = vknmt_bind(ctx, len, p->has_len ? st->batch : 1, VKNMT_READ, SSBO, &b[6], &p->off_len)))
        return s;
    *aligned = p->off_a % 4 == 0 && p->off_b % 4 == 0;
    return VKNMT_OK;
}

vknmt_status vknmt_gru_rows_forward(vknmt_seq *seq, const vknmt_gru_step *st, vknmt_ref U, vknmt_ref a, vknmt_ref h,
                                    vknmt_ref gates, vknmt_ref rh, vknmt_ref h_new, bool *ran)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    const vknmt_caps *caps = vknmt_context_caps(ctx);
    uint32_t n = st->n;
    *ran = false;
    if (!caps->quirk_cpu_lanes || !caps->texel_buffers || !caps->subgroup_shuffle || caps->subgroup_size < 4 ||
        caps->subgroup_size > ROWS_LOCAL || ROWS_LOCAL % caps->subgroup_size || st->batch == 0 ||
        st->batch > ROWS_MAX || n == 0 || n % 4 || h.off % 4 || rh.off % 4 || U.off % 4)
        return VKNMT_OK;
    rows_push pa = {.m = st->batch, .n_cols = 2 * n, .k = n, .lda = n, .ldb = n, .n = n, .t = st->t,
                    .has_len = st->lengths.buf != NULL};
    rows_push pb = pa;
    pb.n_cols = n;
    vknmt_binding ba[7], bb[7];
    bool ok_a, ok_b;
    vknmt_status s;
    if ((s = rows_bind(ctx, st, h, U, 2 * n, a, h, gates, VKNMT_WRITE, rh, ba, &pa, &ok_a)) ||
        (s = rows_bind(ctx, st, rh, vknmt_at(U.buf, U.off + 2 * (uint64_t)n * n), n, a, h, gates,
                       VKNMT_READ | VKNMT_WRITE, h_new, bb, &pb, &ok_b)) ||
        !ok_a || !ok_b)
        return s;
    uint32_t spec[6] = {ROWS_LOCAL, 0, 0, st->batch, caps->subgroup_size, ROWS_COLS};
    uint32_t per_group = ROWS_LOCAL * ROWS_COLS;
    vknmt_dispatch d = {.kernel = &K_ROWS_A, .spec = spec, .push = &pa, .bindings = ba,
                        .groups = {(2 * n + per_group - 1) / per_group, 1, 1}};
    if ((s = vknmt_seq_dispatch(seq, &d)))
        return s;
    d = (vknmt_dispatch){.kernel = &K_ROWS_B, .spec = spec, .push = &pb, .bindings = bb,
                         .groups = {(n + per_group - 1) / per_group, 1, 1}};
    if ((s = vknmt_seq_dispatch(seq, &d)))
        return s;
    *ran = true;
    return VKNMT_OK;
}
