/* The GRU cell's elementwise kernels (shaders/gru_cell.comp): one
 * invocation per (row, unit), four variants of one shader. */
#include "gru_cell.h"

#include <stddef.h>
#include <string.h>

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

/* Each kernel a unit per invocation, a quad of units where n and every
 * tensor's offset allow, and (CPU devices) the quad form reading bindings
 * 0 and 1 through texel views. */
#define TEXEL VKNMT_BIND_TEXEL_RGBA32F
#define GRU_TEXEL_DESC(name_, variant_)                                                                       \
    {name_, VKNMT_SPIRV(variant_), 6, {TEXEL, TEXEL, SSBO, SSBO, SSBO, SSBO}, sizeof(gru_push), 1}
typedef struct gru_kernel {
    vknmt_kernel_desc units, quads, texel;
} gru_kernel;
static const gru_kernel K_FWD_A = {GRU_DESC("gru_fwd_a", gru_cell), GRU_DESC("gru_fwd_a_vec4", gru_fwd_a_vec4),
                                   GRU_TEXEL_DESC("gru_fwd_a_texel", gru_fwd_a_texel)};
static const gru_kernel K_FWD_B = {GRU_DESC("gru_fwd_b", gru_fwd_b), GRU_DESC("gru_fwd_b_vec4", gru_fwd_b_vec4),
                                   GRU_TEXEL_DESC("gru_fwd_b_texel", gru_fwd_b_texel)};
static const gru_kernel K_BWD_A = {GRU_DESC("gru_bwd_a", gru_bwd_a), GRU_DESC("gru_bwd_a_vec4", gru_bwd_a_vec4),
                                   GRU_TEXEL_DESC("gru_bwd_a_texel", gru_bwd_a_texel)};
static const gru_kernel K_BWD_B = {GRU_DESC("gru_bwd_b", gru_bwd_b), GRU_DESC("gru_bwd_b_vec4", gru_bwd_b_vec4),
                                   GRU_TEXEL_DESC("gru_bwd_b_texel", gru_bwd_b_texel)};

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
    /* CPU devices: the two read-only operands (bindings 0 and 1) through
     * RGBA32F texel views, a fetch instead of a storage-buffer load's loop
     * over the lanes, where views of them fit */
    bool texel = vknmt_cpu_texel_kernels(vknmt_context_caps(ctx)) && st->n % 4 == 0;
    for (int i = 0; i < 2 && texel; i++)
        texel = vknmt_texel_view_fits(ctx, args[i].ref, (uint64_t)st->batch * st->n * args[i].width, TEXEL);
    for (int i = 0; i < 5; i++)
        if ((s = vknmt_bind(ctx, args[i].ref, (uint64_t)st->batch * st->n * args[i].width, args[i].access,
                            texel && i < 2 ? TEXEL : SSBO, &b[i], &p.off[i])))
            return s;
    /* Without lengths every row is live; any buffer fills the binding and
     * the kernel never reads it. */
    vknmt_ref len = p.has_len ? st->lengths : args[0].ref;
    if ((s = vknmt_bind(ctx, len, p.has_len ? st->batch : 1, VKNMT_READ, SSBO, &b[5], &p.off_len)))
        return s;
    bool quads = st->n % 4 == 0;
    for (int i = 0; i < 5; i++)
        quads = quads && p.off[i] % 4 == 0;
    if (texel && !quads) { /* a view left an operand off its quad: storage buffers after all */
        texel = false;
        for (int i = 0; i < 2; i++)
            if ((s = vknmt_bind(ctx, args[i].ref, (uint64_t)st->batch * st->n * args[i].width, args[i].access, SSBO,
                                &b[i], &p.off[i])))
                return s;
        quads = st->n % 4 == 0;
        for (int i = 0; i < 5; i++)
            quads = quads && p.off[i] % 4 == 0;
    }
    if (quads) {
        k = texel ? &kernel->texel : &kernel->quads;
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
 * with the cell's arithmetic as its epilogue, launched as the few-rows GEMM
 * (VKNMT_FEW_ROWS_*). */
#define TEXEL VKNMT_BIND_TEXEL_RGBA32F
typedef struct rows_step_push {
    uint32_t off_a, off_b, off_in, off_h, off_gates, off_out, t;
} rows_step_push;
typedef struct rows_push {
    uint32_t m, n_cols, k, lda, ldb, n, off_len, has_len;
    rows_step_push at[2];
    uint32_t kp, ldx, ldw, off_x, off_w, off_bias, off_add, ld_add; /* GRU_PROJ only */
} rows_push;
enum { ROWS_PUSH_PLAIN = offsetof(rows_push, kp) };
static const vknmt_kernel_desc K_ROWS_A = {
    "gru_rows", VKNMT_SPIRV(gru_rows), 7, {TEXEL, TEXEL, SSBO, SSBO, SSBO, SSBO, SSBO}, ROWS_PUSH_PLAIN, 8};
static const vknmt_kernel_desc K_ROWS_B = {
    "gru_rows_b", VKNMT_SPIRV(gru_rows_b), 7, {TEXEL, TEXEL, SSBO, SSBO, SSBO, SSBO, SSBO}, ROWS_PUSH_PLAIN, 8};
/* with the input projection (GRU_PROJ): x, W, bias, add */
#define PROJ_BINDINGS TEXEL, TEXEL, SSBO, SSBO, SSBO, SSBO, SSBO, TEXEL, TEXEL, SSBO, SSBO
static const vknmt_kernel_desc K_ROWS_A_PROJ = {
    "gru_rows_proj", VKNMT_SPIRV(gru_rows_proj), 11, {PROJ_BINDINGS}, sizeof(rows_push), 8};
static const vknmt_kernel_desc K_ROWS_B_PROJ = {
    "gru_rows_b_proj", VKNMT_SPIRV(gru_rows_b_proj), 11, {PROJ_BINDINGS}, sizeof(rows_push), 8};

/* Where a GRU step's half of U starts in U (the first: r and z, rows
 * 0..2n-1; the second: the candidate's, rows 2n..3n-1) and the floats it
 * spans, U in rows or in vknmt_gru_u_panels' two panel sets. */
static void u_half(const vknmt_context *ctx, uint32_t n, bool second, bool panels, uint64_t *at, uint64_t *count)
{
    uint32_t rows = second ? n : 2 * n;
    uint64_t first = panels ? vknmt_panel_floats(ctx, 2 * n, n) : 2 * (uint64_t)n * n;
    *at = second ? first : 0;
    *count = panels ? vknmt_panel_floats(ctx, rows, n) : (uint64_t)rows * n;
}

/* Binds one tensor of every step (refs x[i], `count` floats each, all in
 * one buffer) as one binding spanning them; off[i * stride] gets step i's
 * offset inside it. */
static vknmt_status bind_span(vknmt_context *ctx, uint32_t steps, const vknmt_ref *x, uint64_t count, uint8_t access,
                              vknmt_bind_type type, vknmt_binding *b, uint32_t *off, size_t stride)
{
    uint64_t lo = x[0].off, hi = x[0].off + count;
    for (uint32_t i = 1; i < steps; i++) { /* the caller has checked they share x[0].buf */
        lo = x[i].off < lo ? x[i].off : lo;
        hi = x[i].off + count > hi ? x[i].off + count : hi;
    }
    uint32_t base;
    vknmt_status s = vknmt_bind(ctx, vknmt_at(x[0].buf, lo), hi - lo, access, type, b, &base);
    for (uint32_t i = 0; i < steps && !s; i++)
        off[i * stride] = base + (uint32_t)(x[i].off - lo);
    return s;
}

/* Whether the few-rows kernels serve these steps on this device. */
static bool rows_usable(const vknmt_caps *caps, uint32_t count, const vknmt_gru_rows_step *steps)
{
    const vknmt_gru_step *st = &steps[0].st;
    if (!vknmt_cpu_texel_kernels(caps) || count < 1 || count > 2 || st->batch == 0 || st->batch > VKNMT_FEW_ROWS ||
        st->n == 0 || st->n % 4)
        return false;
    for (uint32_t i = 0; i < count; i++) {
        const vknmt_gru_rows_step *x = &steps[i];
        if (x->st.batch != st->batch || x->st.n != st->n || x->st.lengths.buf != st->lengths.buf ||
            x->st.lengths.off != st->lengths.off || x->h.off % 4 || x->rh.off % 4 || x->U.off % 4 ||
            x->U.buf != steps[0].U.buf || x->u_panels != steps[0].u_panels || x->a.buf != steps[0].a.buf ||
            x->h.buf != steps[0].h.buf || x->gates.buf != steps[0].gates.buf || x->rh.buf != steps[0].rh.buf ||
            x->h_new.buf != steps[0].h_new.buf)
            return false;
    }
    return true;
}

/* Binds one half's tensors for every step: its product's A (h, or rh for
 * the second half) and U's rows (0..2n-1, or 2n..3n-1) as texel views, then
 * a, h, gates, out (rh, or h_new), lengths. *aligned: every texel offset on
 * a quad. */
static vknmt_status rows_bind(vknmt_context *ctx, uint32_t count, const vknmt_gru_rows_step *steps, bool second,
                              vknmt_binding b[7], rows_push *p, bool *aligned)
{
    const vknmt_gru_step *st = &steps[0].st;
    uint64_t bn = (uint64_t)st->batch * st->n;
    uint64_t u_at, u_count;
    u_half(ctx, st->n, second, steps[0].u_panels, &u_at, &u_count);
    vknmt_ref x[2] = {0}, u[2] = {0}, a[2] = {0}, h[2] = {0}, g[2] = {0}, out[2] = {0};
    for (uint32_t i = 0; i < count; i++) {
        x[i] = second ? steps[i].rh : steps[i].h;
        u[i] = vknmt_at(steps[i].U.buf, steps[i].U.off + u_at);
        a[i] = steps[i].a;
        h[i] = steps[i].h;
        g[i] = steps[i].gates;
        out[i] = second ? steps[i].h_new : steps[i].rh;
    }
    size_t stride = sizeof(rows_step_push) / sizeof(uint32_t);
    vknmt_status s;
    if ((s = bind_span(ctx, count, x, bn, VKNMT_READ, TEXEL, &b[0], &p->at[0].off_a, stride)) ||
        (s = bind_span(ctx, count, u, u_count, VKNMT_READ, TEXEL, &b[1], &p->at[0].off_b, stride)) ||
        (s = bind_span(ctx, count, a, 3 * bn, VKNMT_READ, SSBO, &b[2], &p->at[0].off_in, stride)) ||
        (s = bind_span(ctx, count, h, bn, VKNMT_READ, SSBO, &b[3], &p->at[0].off_h, stride)) ||
        (s = bind_span(ctx, count, g, 3 * bn, second ? VKNMT_READ | VKNMT_WRITE : VKNMT_WRITE, SSBO, &b[4],
                       &p->at[0].off_gates, stride)) ||
        (s = bind_span(ctx, count, out, bn, VKNMT_WRITE, SSBO, &b[5], &p->at[0].off_out, stride)) ||
        (s = vknmt_bind(ctx, p->has_len ? st->lengths : a[0], p->has_len ? st->batch : 1, VKNMT_READ, SSBO, &b[6],
                        &p->off_len)))
        return s;
    *aligned = true;
    for (uint32_t i = 0; i < count; i++)
        *aligned = *aligned && p->at[i].off_a % 4 == 0 && p->at[i].off_b % 4 == 0;
    return VKNMT_OK;
}

/* Binds the projection's x, W, bias and add (bindings 7-10 of both halves)
 * and fills its push fields; *ok false where the views are off quads. */
static vknmt_status proj_bind(vknmt_context *ctx, uint32_t rows, uint32_t n, const vknmt_gru_proj *pj,
                              vknmt_binding b[4], rows_push *p, bool *ok)
{
    uint64_t three = 3 * (uint64_t)n;
    bool given = !pj->w.buf; /* x is x W^T: its k is 3n, and W binds x again */
    uint32_t k = given ? (uint32_t)three : pj->k;
    p->kp = k;
    p->ldx = pj->ldx ? pj->ldx : k;
    p->ldw = given ? p->ldx : pj->ldw ? pj->ldw : k;
    p->ld_add = pj->ld_add ? pj->ld_add : (uint32_t)three;
    *ok = false;
    if (k == 0 || p->ldx < k || p->ldw < k || p->ld_add < three || p->ldx % 4 || p->ldw % 4)
        return VKNMT_OK;
    vknmt_status s;
    if ((s = vknmt_bind(ctx, pj->x, (uint64_t)(rows - 1) * p->ldx + k, VKNMT_READ, TEXEL, &b[0], &p->off_x)) ||
        (s = vknmt_bind(ctx, given ? pj->x : pj->w, given ? 1 : (three - 1) * p->ldw + k, VKNMT_READ, TEXEL, &b[1],
                        &p->off_w)) ||
        (s = vknmt_bind(ctx, pj->bias, three, VKNMT_READ, SSBO, &b[2], &p->off_bias)) ||
        (s = vknmt_bind(ctx, pj->add, (uint64_t)(rows - 1) * p->ld_add + three, VKNMT_READ, SSBO, &b[3], &p->off_add)))
        return s;
    *ok = p->off_x % 4 == 0 && p->off_w % 4 == 0;
    return VKNMT_OK;
}

static vknmt_status rows_forward(vknmt_seq *seq, uint32_t count, const vknmt_gru_rows_step *steps,
                                 const vknmt_gru_proj *pj, bool *ran)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    const vknmt_caps *caps = vknmt_context_caps(ctx);
    *ran = false;
    if (!rows_usable(caps, count, steps) || (pj && count != 1))
        return VKNMT_OK;
    const vknmt_gru_step *st = &steps[0].st;
    uint32_t n = st->n;
    rows_push pa = {.m = st->batch, .n_cols = 2 * n, .k = n, .lda = n, .ldb = n, .n = n,
                    .has_len = st->lengths.buf != NULL};
    for (uint32_t i = 0; i < count; i++)
        pa.at[i].t = steps[i].st.t;
    vknmt_binding ba[11], bb[11];
    bool ok_a, ok_b, ok_p = true;
    vknmt_status s;
    if (pj && ((s = proj_bind(ctx, st->batch, n, pj, &ba[7], &pa, &ok_p)) || !ok_p))
        return s;
    rows_push pb = pa;
    pb.n_cols = n;
    if ((s = rows_bind(ctx, count, steps, false, ba, &pa, &ok_a)) ||
        (s = rows_bind(ctx, count, steps, true, bb, &pb, &ok_b)) || !ok_a || !ok_b)
        return s;
    memcpy(&bb[7], &ba[7], 4 * sizeof(ba[7]));
    uint32_t spec[8] = {VKNMT_FEW_ROWS_LOCAL, 0, 0, st->batch, caps->subgroup_size, VKNMT_FEW_ROWS_COLS,
                        pj && !pj->w.buf, steps[0].u_panels};
    uint32_t per_group = VKNMT_FEW_ROWS_LOCAL * VKNMT_FEW_ROWS_COLS;
    vknmt_dispatch d = {.kernel = pj ? &K_ROWS_A_PROJ : &K_ROWS_A, .spec = spec, .push = &pa, .bindings = ba,
                        .groups = {(2 * n + per_group - 1) / per_group, count, 1}};
    if ((s = vknmt_seq_dispatch(seq, &d)))
        return s;
    d = (vknmt_dispatch){.kernel = pj ? &K_ROWS_B_PROJ : &K_ROWS_B, .spec = spec, .push = &pb, .bindings = bb,
                         .groups = {(n + per_group - 1) / per_group, count, 1}};
    if ((s = vknmt_seq_dispatch(seq, &d)))
        return s;
    *ran = true;
    return VKNMT_OK;
}

/* U in panels has no other path: where the kernels do not serve, refused. */
static vknmt_status rows_forward_or_refuse(vknmt_seq *seq, uint32_t count, const vknmt_gru_rows_step *steps,
                                           const vknmt_gru_proj *pj, bool *ran)
{
    vknmt_status s = rows_forward(seq, count, steps, pj, ran);
    if (!s && !*ran && steps[0].u_panels)
        return vknmt_seq_fail(seq, VKNMT_ERR_UNSUPPORTED, "gru: U in panels where the few-rows kernels do not serve");
    return s;
}

vknmt_status vknmt_gru_rows_forward(vknmt_seq *seq, uint32_t count, const vknmt_gru_rows_step *steps, bool *ran)
{
    return rows_forward_or_refuse(seq, count, steps, NULL, ran);
}

vknmt_status vknmt_gru_rows_forward_proj(vknmt_seq *seq, const vknmt_gru_rows_step *step, const vknmt_gru_proj *proj,
                                         bool *ran)
{
    return rows_forward_or_refuse(seq, 1, step, proj, ran);
}

uint64_t vknmt_gru_u_panel_floats(const vknmt_context *ctx, uint32_t n)
{
    uint64_t at, count;
    u_half(ctx, n, true, true, &at, &count);
    return at + count;
}

vknmt_status vknmt_gru_u_panels(vknmt_seq *seq, vknmt_ref U, uint32_t n, vknmt_ref panels)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    vknmt_status s = VKNMT_OK;
    for (int half = 0; half < 2 && !s; half++) {
        uint64_t from, to, count;
        u_half(ctx, n, half, false, &from, &count);
        u_half(ctx, n, half, true, &to, &count);
        s = vknmt_panel_rows(seq, vknmt_at(U.buf, U.off + from), n, half ? n : 2 * n, n,
                             vknmt_at(panels.buf, panels.off + to));
    }
    return s;
}

/* The whole sequence in one dispatch (shaders/gru_seq.comp). */
typedef struct seq_dir_push {
    uint32_t off_u, off_in, off_h, off_gates, off_rh, t0;
    int32_t dt;
    uint32_t hp, hn;
} seq_dir_push;
typedef struct seq_push {
    uint32_t m, n, steps, off_len, has_len;
    seq_dir_push at[2];
} seq_push;
static const vknmt_kernel_desc K_SEQ = {
    "gru_seq", VKNMT_SPIRV(gru_seq), 6, {TEXEL, SSBO, SSBO, SSBO, SSBO, SSBO}, sizeof(seq_push), 7};

vknmt_status vknmt_gru_rows_sequence(vknmt_seq *seq, uint32_t count, const vknmt_gru_rows_dir *dirs, bool *ran)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    const vknmt_caps *caps = vknmt_context_caps(ctx);
    *ran = false;
    const vknmt_gru_step *st = &dirs[0].st;
    uint32_t steps = dirs[0].steps, n = st->n;
    uint64_t bn = (uint64_t)st->batch * n;
    /* h, rh and z of every row in shared memory; 32-bit indices */
    if (!vknmt_cpu_texel_kernels(caps) || count < 1 || count > 2 || st->batch == 0 || st->batch > VKNMT_FEW_ROWS ||
        n == 0 || n % 4 || steps == 0 || 3 * bn * 4 > caps->max_shared_memory_bytes ||
        3 * bn * (steps + 1) > UINT32_MAX)
        return VKNMT_OK;
    for (uint32_t i = 0; i < count; i++) {
        const vknmt_gru_rows_dir *x = &dirs[i];
        if (x->st.batch != st->batch || x->st.n != n || x->steps != steps || x->st.lengths.buf != st->lengths.buf ||
            x->st.lengths.off != st->lengths.off || x->U.buf != dirs[0].U.buf || x->a.buf != dirs[0].a.buf ||
            x->hs.buf != dirs[0].hs.buf || x->gates.buf != dirs[0].gates.buf || x->rh.buf != dirs[0].rh.buf)
            return VKNMT_OK;
    }
    seq_push p = {.m = st->batch, .n = n, .steps = steps, .has_len = st->lengths.buf != NULL};
    vknmt_ref u[2] = {0}, a[2] = {0}, hs[2] = {0}, g[2] = {0}, rh[2] = {0};
    for (uint32_t i = 0; i < count; i++) {
        u[i] = dirs[i].U;
        a[i] = dirs[i].a;
        hs[i] = dirs[i].hs;
        g[i] = dirs[i].gates;
        rh[i] = dirs[i].rh;
        bool rev = dirs[i].reverse;
        p.at[i].t0 = rev ? steps - 1 : 0;
        p.at[i].dt = rev ? -1 : 1;
        p.at[i].hp = rev;
        p.at[i].hn = !rev;
    }
    size_t stride = sizeof(seq_dir_push) / sizeof(uint32_t);
    vknmt_binding b[6];
    vknmt_status s;
    if ((s = bind_span(ctx, count, u, 3 * (uint64_t)n * n, VKNMT_READ, TEXEL, &b[0], &p.at[0].off_u, stride)) ||
        (s = bind_span(ctx, count, a, 3 * bn * steps, VKNMT_READ, SSBO, &b[1], &p.at[0].off_in, stride)) ||
        (s = bind_span(ctx, count, hs, bn * (steps + 1), VKNMT_READ | VKNMT_WRITE, SSBO, &b[2], &p.at[0].off_h,
                       stride)) ||
        (s = bind_span(ctx, count, g, 3 * bn * steps, VKNMT_WRITE, SSBO, &b[3], &p.at[0].off_gates, stride)) ||
        (s = bind_span(ctx, count, rh, bn * steps, VKNMT_WRITE, SSBO, &b[4], &p.at[0].off_rh, stride)) ||
        (s = vknmt_bind(ctx, p.has_len ? st->lengths : a[0], p.has_len ? st->batch : 1, VKNMT_READ, SSBO, &b[5],
                        &p.off_len)))
        return s;
    for (uint32_t i = 0; i < count; i++)
        if (p.at[i].off_u % 4)
            return VKNMT_OK; /* U off a quad */
    uint32_t spec[7] = {VKNMT_FEW_ROWS_LOCAL, 0, 0, st->batch, caps->subgroup_size, VKNMT_FEW_ROWS_COLS, n};
    vknmt_dispatch d = {.kernel = &K_SEQ, .spec = spec, .push = &p, .bindings = b, .groups = {1, count, 1}};
    if ((s = vknmt_seq_dispatch(seq, &d)))
        return s;
    *ran = true;
    return VKNMT_OK;
}
