/* Additive attention and the RNNencdec context: launchers for
 * shaders/attention.comp (any device), shaders/attention_texel.comp (CPU
 * class: texel-buffer operands, chosen from the caps) and
 * shaders/encdec_context.comp. */
#include "attention.h"

#include <string.h>

#include "vknmt_kernel.h"

#define ATT_LOCAL 64 /* power of two; the shader's chunk is 4x this */
/* CPU-class texel kernels (shaders/attention_texel.comp): invocations per
 * workgroup of the weighing backward (a power of two; the others are one
 * subgroup a row) and its positions per shared-memory chunk (a multiple of
 * both it and 4). */
#define ATT_TEXEL_LOCAL 64
#define ATT_TEXEL_CHUNK 256
#define ENCDEC_LOCAL 64

#define SS VKNMT_BIND_SSBO
#define T4 VKNMT_BIND_TEXEL_RGBA32F
#define S4 SS, SS, SS, SS

/* push constants of attention.comp: off[i] is binding i's element offset */
typedef struct att_push {
    uint32_t off[8];
    uint32_t batch, tx, na, dim, src_batch, has_col;
} att_push;

static const vknmt_kernel_desc K_ATT_FWD = {"attention", VKNMT_SPIRV(attention), 8, {S4, S4},
                                            sizeof(att_push), 1};
static const vknmt_kernel_desc K_ATT_BWD_DE = {"attention_bwd_de", VKNMT_SPIRV(attention_bwd_de), 8, {S4, S4},
                                               sizeof(att_push), 1};
static const vknmt_kernel_desc K_ATT_BWD = {"attention_bwd", VKNMT_SPIRV(attention_bwd), 8, {S4, S4},
                                            sizeof(att_push), 1};
/* The same interfaces with Ws, UH, H, v and dctx as RGBA32F texel views. */
static const vknmt_kernel_desc K_ATT_TEXEL_FWD = {"attention_texel", VKNMT_SPIRV(attention_texel), 8,
                                                  {T4, T4, T4, SS, T4, SS, SS, SS}, sizeof(att_push), 3};
static const vknmt_kernel_desc K_ATT_TEXEL_BWD_DE = {"attention_texel_bwd_de", VKNMT_SPIRV(attention_texel_bwd_de), 8,
                                                     {T4, T4, T4, SS, SS, T4, SS, T4}, sizeof(att_push), 3};
static const vknmt_kernel_desc K_ATT_TEXEL_BWD = {"attention_texel_bwd", VKNMT_SPIRV(attention_texel_bwd), 8,
                                                  {T4, T4, SS, SS, SS, SS, SS, T4}, sizeof(att_push), 3};

/* One attention kernel in its two forms; quads: the bindings the texel form
 * reads or writes a vec4 at a time, whose element offsets must be multiples
 * of 4 (all but src_len, alpha and de); texel_local: the texel form's
 * workgroup size, 0 for one subgroup a row. */
typedef struct att_kernel {
    const vknmt_kernel_desc *ssbo, *texel;
    uint32_t quads, texel_local;
} att_kernel;

static const att_kernel ATT_FWD = {&K_ATT_FWD, &K_ATT_TEXEL_FWD, 0x57, 0}; /* ws uh h v ctx */
static const att_kernel ATT_BWD[2] = {{&K_ATT_BWD_DE, &K_ATT_TEXEL_BWD_DE, 0xa7, 0},           /* ws uh h dctx v */
                                      {&K_ATT_BWD, &K_ATT_TEXEL_BWD, 0xf3, ATT_TEXEL_LOCAL}}; /* ws uh dv_part dws duh v */

/* One binding's operand: `count` floats at `ref`. */
typedef struct att_arg {
    vknmt_ref ref;
    uint64_t count;
    uint8_t access;
} att_arg;

typedef struct encdec_push {
    uint32_t off0, off_len, off2, batch, tx, n;
} encdec_push;

static const vknmt_kernel_desc K_ENCDEC = {"encdec_context", VKNMT_SPIRV(encdec_context), 3, {SS, SS, SS},
                                           sizeof(encdec_push), 1};
static const vknmt_kernel_desc K_ENCDEC_BWD = {"encdec_context_bwd", VKNMT_SPIRV(encdec_context_bwd), 3, {SS, SS, SS},
                                               sizeof(encdec_push), 1};

/* Shader indices are 32-bit: every tensor must have fewer than 2^32 elements. */
static vknmt_status check_att_shape(vknmt_seq *seq, const vknmt_att_shape *sh, const char *op)
{
    if (!sh)
        return vknmt_seq_fail(seq, VKNMT_ERR_USAGE, "%s: no shape", op);
    if (sh->batch == 0 || sh->tx == 0 || sh->na == 0 || sh->ctx_dim == 0)
        return vknmt_seq_fail(seq, VKNMT_ERR_SHAPE, "%s: batch %u, tx %u, na %u, ctx_dim %u (all must be > 0)", op,
                              sh->batch, sh->tx, sh->na, sh->ctx_dim);
    uint64_t cols = sh->src_batch > sh->batch ? sh->src_batch : sh->batch;
    uint64_t big = (uint64_t)sh->tx * cols * (sh->na > sh->ctx_dim ? sh->na : sh->ctx_dim);
    if (big > UINT32_MAX)
        return vknmt_seq_fail(seq, VKNMT_ERR_SHAPE, "%s: %llu elements in one tensor (more than 2^32-1)", op,
                              (unsigned long long)big);
    return VKNMT_OK;
}

/* The texel kernels: only on CPU-class devices (on GPUs the SSBO kernels
 * are the ones measured) with subgroup shuffles in whole quads of lanes
 * that fill the workgroup (so a power of two, which the forward's shuffle
 * sums need), for quad-sized rows, and when the largest texel
 * operand fits a view with room for the view's alignment. Offsets are
 * checked once bound. */
static bool att_texel_wanted(const vknmt_caps *caps, const vknmt_att_shape *sh)
{
    if (!caps->quirk_cpu_lanes || !caps->texel_buffers || !caps->subgroup_shuffle || caps->subgroup_size < 4 ||
        caps->subgroup_size % 4 || ATT_TEXEL_LOCAL % caps->subgroup_size || sh->na % 4 || sh->ctx_dim % 4)
        return false;
    uint64_t cols = sh->src_batch > sh->batch ? sh->src_batch : sh->batch;
    uint64_t quads = cols * sh->tx * (sh->na > sh->ctx_dim ? sh->na : sh->ctx_dim) / 4;
    return quads + caps->min_texel_offset_align / 4 + 1 <= caps->max_texel_buffer_elements;
}

/* Binds the operands of kernels ks[0..n) (args[i] for ks[i]) in their texel
 * forms when wanted and every quad operand starts on a quad, else in their
 * storage-buffer forms; sets k[i] to the form chosen. Records nothing. */
static vknmt_status att_prepare(vknmt_context *c, const vknmt_att_shape *sh, const att_kernel *ks, uint32_t n,
                                const att_arg (*args)[VKNMT_MAX_BINDINGS], vknmt_binding (*b)[VKNMT_MAX_BINDINGS],
                                att_push *p, const vknmt_kernel_desc **k)
{
    for (int texel = att_texel_wanted(vknmt_context_caps(c), sh); texel >= 0; texel--) {
        bool quads = true;
        for (uint32_t i = 0; i < n; i++) {
            k[i] = texel ? ks[i].texel : ks[i].ssbo;
            p[i] = (att_push){.batch = sh->batch, .tx = sh->tx, .na = sh->na, .dim = sh->ctx_dim,
                              .src_batch = sh->src_batch ? sh->src_batch : sh->batch, .has_col = sh->src_batch != 0};
            for (uint32_t j = 0; j < k[i]->binding_count; j++) {
                vknmt_status s = vknmt_bind(c, args[i][j].ref, args[i][j].count, args[i][j].access,
                                            k[i]->bindings[j], &b[i][j], &p[i].off[j]);
                if (s)
                    return s;
                if (ks[i].quads >> j & 1)
                    quads &= p[i].off[j] % 4 == 0;
            }
        }
        if (!texel || quads)
            return VKNMT_OK;
    }
    return VKNMT_OK; /* not reached: the storage-buffer pass returns */
}

/* Records kernel ks in form k (one of ks's two, as att_prepare chose). */
static vknmt_status att_dispatch(vknmt_seq *seq, const att_kernel *ks, const vknmt_kernel_desc *k, const att_push *p,
                                 const vknmt_binding *b, uint32_t batch)
{
    uint32_t sg = vknmt_context_caps(vknmt_seq_context(seq))->subgroup_size;
    uint32_t local = k != ks->texel ? ATT_LOCAL : ks->texel_local ? ks->texel_local : sg;
    uint32_t spec[3] = {local, ATT_TEXEL_CHUNK, sg}; /* the storage-buffer forms read only the first */
    vknmt_dispatch d = {.kernel = k, .spec = spec, .push = p, .bindings = b};
    vknmt_grid_1d(batch, d.groups); /* one workgroup per batch row */
    return vknmt_seq_dispatch(seq, &d);
}

vknmt_status vknmt_att_forward(vknmt_seq *seq, const vknmt_att_shape *sh, vknmt_ref ws, vknmt_ref uh, vknmt_ref v,
                               vknmt_ref h, vknmt_ref src_len, vknmt_ref src_col, vknmt_ref alpha, vknmt_ref ctx)
{
    vknmt_status s = check_att_shape(seq, sh, "attention");
    if (s)
        return s;
    if ((sh->src_batch != 0) != (src_col.buf != NULL))
        return vknmt_seq_fail(seq, VKNMT_ERR_USAGE, "attention: src_batch %u %s a column map", sh->src_batch,
                              sh->src_batch ? "without" : "with");
    uint64_t B = sh->batch, S = sh->src_batch ? sh->src_batch : B, tx = sh->tx, na = sh->na, dim = sh->ctx_dim;
    /* alpha holds the scores before they are normalised, each read back only
     * by the invocation that wrote it: no earlier contents are read. Without
     * a column map the kernel reads none; src_len stands in. */
    const att_arg args[1][VKNMT_MAX_BINDINGS] = {{{ws, B * na, VKNMT_READ},
                                                  {uh, tx * S * na, VKNMT_READ},
                                                  {h, tx * S * dim, VKNMT_READ},
                                                  {src_len, B, VKNMT_READ},
                                                  {v, na, VKNMT_READ},
                                                  {alpha, B * tx, VKNMT_WRITE},
                                                  {ctx, B * dim, VKNMT_WRITE},
                                                  {src_col.buf ? src_col : src_len, B, VKNMT_READ}}};
    vknmt_binding b[1][VKNMT_MAX_BINDINGS];
    att_push p;
    const vknmt_kernel_desc *k;
    if ((s = att_prepare(vknmt_seq_context(seq), sh, &ATT_FWD, 1, args, b, &p, &k)))
        return s;
    return att_dispatch(seq, &ATT_FWD, k, &p, b[0], sh->batch);
}

/* Two dispatches because the backward touches 11 buffers and a kernel
 * binds at most 8: the scores' gradient de, then everything that weighs it;
 * all bindings are checked before the first is recorded, so a bad call
 * records nothing. */
vknmt_status vknmt_att_backward(vknmt_seq *seq, const vknmt_att_shape *sh, vknmt_ref ws, vknmt_ref uh, vknmt_ref v,
                                vknmt_ref h, vknmt_ref src_len, vknmt_ref alpha, vknmt_ref dctx, vknmt_ref de,
                                vknmt_ref dws, vknmt_ref duh, vknmt_ref dv_part)
{
    vknmt_status s = check_att_shape(seq, sh, "attention backward");
    if (s)
        return s;
    uint64_t B = sh->batch, tx = sh->tx, na = sh->na, dim = sh->ctx_dim;
    /* dv_part and dws are written whole; the shaders add chunk to chunk
     * within one dispatch, reading back only their own writes. */
    const att_arg args[2][VKNMT_MAX_BINDINGS] = {{{ws, B * na, VKNMT_READ},
                                                  {uh, tx * B * na, VKNMT_READ},
                                                  {h, tx * B * dim, VKNMT_READ},
                                                  {src_len, B, VKNMT_READ},
                                                  {alpha, B * tx, VKNMT_READ},
                                                  {dctx, B * dim, VKNMT_READ},
                                                  {de, B * tx, VKNMT_WRITE},
                                                  {v, na, VKNMT_READ}},
                                                 {{ws, B * na, VKNMT_READ},
                                                  {uh, tx * B * na, VKNMT_READ},
                                                  {de, B * tx, VKNMT_READ},
                                                  {src_len, B, VKNMT_READ},
                                                  {dv_part, B * na, VKNMT_WRITE},
                                                  {dws, B * na, VKNMT_WRITE},
                                                  {duh, tx * B * na, VKNMT_READ | VKNMT_WRITE},
                                                  {v, na, VKNMT_READ}}};
    vknmt_binding b[2][VKNMT_MAX_BINDINGS];
    att_push p[2];
    const vknmt_kernel_desc *k[2];
    if ((s = att_prepare(vknmt_seq_context(seq), sh, ATT_BWD, 2, args, b, p, k)))
        return s;
    for (int i = 0; i < 2; i++)
        if ((s = att_dispatch(seq, &ATT_BWD[i], k[i], &p[i], b[i], sh->batch)))
            return s;
    return VKNMT_OK;
}

vknmt_status vknmt_att_backward_context(vknmt_seq *seq, uint32_t batch, uint32_t tx, uint32_t steps, uint32_t dim,
                                        vknmt_ref alpha, vknmt_ref dctx, vknmt_ref dh)
{
    const char *op = "attention context backward";
    if (batch == 0 || tx == 0 || steps == 0 || dim == 0)
        return vknmt_seq_fail(seq, VKNMT_ERR_SHAPE, "%s: batch %u, tx %u, steps %u, dim %u (all must be > 0)", op,
                              batch, tx, steps, dim);
    uint64_t B = batch;
    uint64_t st = (uint64_t)steps * (tx > dim ? tx : dim), td = (uint64_t)tx * dim;
    if (B * (st > td ? st : td) > UINT32_MAX) /* 32-bit shader indices */
        return vknmt_seq_fail(seq, VKNMT_ERR_SHAPE, "%s: a tensor of more than 2^32-1 elements", op);
    /* One GEMM per batch row, all in one dispatch: row b's operands start b
     * rows into each [., B, .] tensor: alpha_b is stored [steps, Tx] (A
     * transposed), dctx_b [steps, dim], dh_b [Tx, dim]. */
    vknmt_gemm_args g = {.m = tx, .n = dim, .k = steps, .trans_a = true, .alpha = 1, .beta = 1, .a = alpha,
                         .b = dctx, .c = dh, .lda = batch * tx, .ldb = batch * dim, .ldc = batch * dim,
                         .batch = batch, .stride_a = tx, .stride_b = dim, .stride_c = dim};
    return vknmt_gemm(seq, &g);
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
