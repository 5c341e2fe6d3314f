/* Additive attention and the RNNencdec context: launchers for
 * shaders/attention.comp and shaders/encdec_context.comp. */
#include "attention.h"

#include "vknmt_kernel.h"

#define ATT_LOCAL 64 /* power of two; the shader's chunk is 4x this */
#define ENCDEC_LOCAL 64

#define S4 VKNMT_BIND_SSBO, VKNMT_BIND_SSBO, VKNMT_BIND_SSBO, VKNMT_BIND_SSBO

/* push constants of attention.comp: off[i] is binding i's element offset */
typedef struct att_push {
    uint32_t off[8];
    uint32_t batch, tx, na, dim;
} att_push;

static const vknmt_kernel_desc K_ATT_FWD = {"attention", VKNMT_SPIRV(attention), 7,
                                            {S4, VKNMT_BIND_SSBO, VKNMT_BIND_SSBO, VKNMT_BIND_SSBO},
                                            sizeof(att_push), 1};
static const vknmt_kernel_desc K_ATT_BWD_DV = {"attention_bwd_dv", VKNMT_SPIRV(attention_bwd_dv), 8, {S4, S4},
                                               sizeof(att_push), 1};
static const vknmt_kernel_desc K_ATT_BWD_DUH = {"attention_bwd_duh", VKNMT_SPIRV(attention_bwd_duh), 8, {S4, S4},
                                                sizeof(att_push), 1};
static const vknmt_kernel_desc K_ATT_BWD_DWS = {"attention_bwd_dws", VKNMT_SPIRV(attention_bwd_dws), 8, {S4, S4},
                                                sizeof(att_push), 1};

typedef struct encdec_push {
    uint32_t off0, off_len, off2, batch, tx, n;
} encdec_push;

static const vknmt_kernel_desc K_ENCDEC = {"encdec_context", VKNMT_SPIRV(encdec_context), 3,
                                           {VKNMT_BIND_SSBO, VKNMT_BIND_SSBO, VKNMT_BIND_SSBO},
                                           sizeof(encdec_push), 1};
static const vknmt_kernel_desc K_ENCDEC_BWD = {"encdec_context_bwd", VKNMT_SPIRV(encdec_context_bwd), 3,
                                               {VKNMT_BIND_SSBO, VKNMT_BIND_SSBO, VKNMT_BIND_SSBO},
                                               sizeof(encdec_push), 1};

/* Shader indices are 32-bit: every tensor must have fewer than 2^32 elements. */
static vknmt_status check_att_shape(vknmt_seq *seq, const vknmt_att_shape *sh, const char *op)
{
    if (!sh)
        return vknmt_seq_fail(seq, VKNMT_ERR_USAGE, "%s: no shape", op);
    if (sh->batch == 0 || sh->tx == 0 || sh->na == 0 || sh->ctx_dim == 0)
        return vknmt_seq_fail(seq, VKNMT_ERR_SHAPE, "%s: batch %u, tx %u, na %u, ctx_dim %u (all must be > 0)", op,
                              sh->batch, sh->tx, sh->na, sh->ctx_dim);
    uint64_t big = (uint64_t)sh->tx * sh->batch * (sh->na > sh->ctx_dim ? sh->na : sh->ctx_dim);
    if (big > UINT32_MAX)
        return vknmt_seq_fail(seq, VKNMT_ERR_SHAPE, "%s: %llu elements in one tensor (more than 2^32-1)", op,
                              (unsigned long long)big);
    return VKNMT_OK;
}

static void att_push_shape(att_push *p, const vknmt_att_shape *sh)
{
    p->off[7] = 0;
    p->batch = sh->batch;
    p->tx = sh->tx;
    p->na = sh->na;
    p->dim = sh->ctx_dim;
}

static vknmt_status att_dispatch(vknmt_seq *seq, const vknmt_kernel_desc *k, const att_push *p,
                                 const vknmt_binding *b, uint32_t batch)
{
    uint32_t spec[1] = {ATT_LOCAL};
    vknmt_dispatch d = {.kernel = k, .spec = spec, .push = p, .bindings = b};
    vknmt_grid_1d(batch, d.groups); /* one workgroup per batch row */
    return vknmt_seq_dispatch(seq, &d);
}

vknmt_status vknmt_att_forward(vknmt_seq *seq, const vknmt_att_shape *sh, vknmt_ref ws, vknmt_ref uh, vknmt_ref v,
                               vknmt_ref h, vknmt_ref src_len, vknmt_ref alpha, vknmt_ref ctx)
{
    vknmt_status s = check_att_shape(seq, sh, "attention");
    if (s)
        return s;
    vknmt_context *c = vknmt_seq_context(seq);
    uint64_t B = sh->batch, tx = sh->tx, na = sh->na, dim = sh->ctx_dim;
    vknmt_binding b[7];
    att_push p;
    att_push_shape(&p, sh);
    if ((s = vknmt_bind(c, ws, B * na, VKNMT_READ, VKNMT_BIND_SSBO, &b[0], &p.off[0])) ||
        (s = vknmt_bind(c, uh, tx * B * na, VKNMT_READ, VKNMT_BIND_SSBO, &b[1], &p.off[1])) ||
        (s = vknmt_bind(c, h, tx * B * dim, VKNMT_READ, VKNMT_BIND_SSBO, &b[2], &p.off[2])) ||
        (s = vknmt_bind(c, src_len, B, VKNMT_READ, VKNMT_BIND_SSBO, &b[3], &p.off[3])) ||
        (s = vknmt_bind(c, v, na, VKNMT_READ, VKNMT_BIND_SSBO, &b[4], &p.off[4])) ||
        /* alpha holds the scores before they are normalised, each read back
         * only by the invocation that wrote it: no earlier contents are read */
        (s = vknmt_bind(c, alpha, B * tx, VKNMT_WRITE, VKNMT_BIND_SSBO, &b[5], &p.off[5])) ||
        (s = vknmt_bind(c, ctx, B * dim, VKNMT_WRITE, VKNMT_BIND_SSBO, &b[6], &p.off[6])))
        return s;
    return att_dispatch(seq, &K_ATT_FWD, &p, b, sh->batch);
}

/* Three dispatches because the backward touches 11 buffers and a kernel
 * binds at most VKNMT_MAX_BINDINGS (8); all bindings are checked before the
 * first is recorded, so a bad call records nothing. */
vknmt_status vknmt_att_backward(vknmt_seq *seq, const vknmt_att_shape *sh, vknmt_ref ws, vknmt_ref uh, vknmt_ref v,
                                vknmt_ref h, vknmt_ref src_len, vknmt_ref alpha, vknmt_ref dctx, vknmt_ref dws,
                                vknmt_ref duh, vknmt_ref dh, vknmt_ref dv_part)
{
    vknmt_status s = check_att_shape(seq, sh, "attention backward");
    if (s)
        return s;
    vknmt_context *c = vknmt_seq_context(seq);
    uint64_t B = sh->batch, tx = sh->tx, na = sh->na, dim = sh->ctx_dim;
    vknmt_binding b[8];
    att_push p;
    att_push_shape(&p, sh);
    /* bindings 0..5 are shared by the three variants; 6 and 7 differ */
    vknmt_binding b_dv, b_dh, b_duh, b_dws, b_v;
    uint32_t o_dv, o_dh, o_duh, o_dws, o_v;
    if ((s = vknmt_bind(c, ws, B * na, VKNMT_READ, VKNMT_BIND_SSBO, &b[0], &p.off[0])) ||
        (s = vknmt_bind(c, uh, tx * B * na, VKNMT_READ, VKNMT_BIND_SSBO, &b[1], &p.off[1])) ||
        (s = vknmt_bind(c, h, tx * B * dim, VKNMT_READ, VKNMT_BIND_SSBO, &b[2], &p.off[2])) ||
        (s = vknmt_bind(c, src_len, B, VKNMT_READ, VKNMT_BIND_SSBO, &b[3], &p.off[3])) ||
        (s = vknmt_bind(c, alpha, B * tx, VKNMT_READ, VKNMT_BIND_SSBO, &b[4], &p.off[4])) ||
        (s = vknmt_bind(c, dctx, B * dim, VKNMT_READ, VKNMT_BIND_SSBO, &b[5], &p.off[5])) ||
        /* dv_part and dws are written whole; the shader adds chunk to chunk
         * within one dispatch, reading back only its own writes */
        (s = vknmt_bind(c, dv_part, B * na, VKNMT_WRITE, VKNMT_BIND_SSBO, &b_dv, &o_dv)) ||
        (s = vknmt_bind(c, dh, tx * B * dim, VKNMT_READ | VKNMT_WRITE, VKNMT_BIND_SSBO, &b_dh, &o_dh)) ||
        (s = vknmt_bind(c, duh, tx * B * na, VKNMT_READ | VKNMT_WRITE, VKNMT_BIND_SSBO, &b_duh, &o_duh)) ||
        (s = vknmt_bind(c, dws, B * na, VKNMT_WRITE, VKNMT_BIND_SSBO, &b_dws, &o_dws)) ||
        (s = vknmt_bind(c, v, na, VKNMT_READ, VKNMT_BIND_SSBO, &b_v, &o_v)))
        return s;

    b[6] = b_dv, p.off[6] = o_dv;
    b[7] = b_dh, p.off[7] = o_dh;
    if ((s = att_dispatch(seq, &K_ATT_BWD_DV, &p, b, sh->batch)))
        return s;
    b[6] = b_duh, p.off[6] = o_duh;
    b[7] = b_v, p.off[7] = o_v;
    if ((s = att_dispatch(seq, &K_ATT_BWD_DUH, &p, b, sh->batch)))
        return s;
    b[6] = b_dws, p.off[6] = o_dws;
    return att_dispatch(seq, &K_ATT_BWD_DWS, &p, b, sh->batch);
}

static vknmt_status encdec(vknmt_seq *seq, const vknmt_kernel_desc *k, uint32_t batch, uint32_t tx, uint32_t n,
                           vknmt_ref in, uint64_t in_count, vknmt_ref src_len, vknmt_ref out, uint64_t out_count,
                           uint8_t out_access, const char *op)
{
    if (batch == 0 || tx == 0 || n == 0)
        return vknmt_seq_fail(seq, VKNMT_ERR_SHAPE, "%s: batch %u, tx %u, n %u (all must be > 0)", op, batch, tx, n);
    uint64_t big = (uint64_t)tx * batch * 2 * n;
    if (big > UINT32_MAX)
        return vknmt_seq_fail(seq, VKNMT_ERR_SHAPE, "%s: %llu elements in H (more than 2^32-1)", op,
                              (unsigned long long)big);
    vknmt_context *c = vknmt_seq_context(seq);
    vknmt_binding b[3];
    encdec_push p = {.batch = batch, .tx = tx, .n = n};
    vknmt_status s;
    if ((s = vknmt_bind(c, in, in_count, VKNMT_READ, VKNMT_BIND_SSBO, &b[0], &p.off0)) ||
        (s = vknmt_bind(c, src_len, batch, VKNMT_READ, VKNMT_BIND_SSBO, &b[1], &p.off_len)) ||
        (s = vknmt_bind(c, out, out_count, out_access, VKNMT_BIND_SSBO, &b[2], &p.off2)))
        return s;
    uint32_t spec[1] = {ENCDEC_LOCAL};
    vknmt_dispatch d = {.kernel = k, .spec = spec, .push = &p, .bindings = b};
    vknmt_grid_1d(((uint64_t)batch * 2 * n + ENCDEC_LOCAL - 1) / ENCDEC_LOCAL, d.groups);
    return vknmt_seq_dispatch(seq, &d);
}

vknmt_status vknmt_encdec_context(vknmt_seq *seq, uint32_t batch, uint32_t tx, uint32_t n, vknmt_ref h,
                                  vknmt_ref src_len, vknmt_ref ctx)
{
    uint64_t dim = 2 * (uint64_t)n;
    return encdec(seq, &K_ENCDEC, batch, tx, n, h, dim * tx * batch, src_len, ctx, batch * dim, VKNMT_WRITE,
                  "encdec context");
}

vknmt_status vknmt_encdec_context_backward(vknmt_seq *seq, uint32_t batch, uint32_t tx, uint32_t n,
                                           vknmt_ref dctx, vknmt_ref src_len, vknmt_ref dh)
{
    uint64_t dim = 2 * (uint64_t)n;
    return encdec(seq, &K_ENCDEC_BWD, batch, tx, n, dctx, batch * dim, src_len, dh, dim * tx * batch,
                  VKNMT_READ | VKNMT_WRITE, "encdec context backward");
}
