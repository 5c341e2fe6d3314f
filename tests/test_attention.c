/* Additive attention and the RNNencdec context, forward and backward,
 * against plain C in double; the C backward against central finite
 * differences of the C forward. The device checks run on every kernel form
 * (CPU-class texel kernels, whole and windowed views; storage-buffer
 * kernels) and check, by the profiler's per-kernel counts, that each call
 * ran the form it must, fallbacks included. */
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "harness.h"
#include "internal.h" /* to force each kernel form through the caps, and count the kernels that ran */

/* B x Tx x na x 2n: batch 1, source length 1, sizes off the workgroup */
static const uint32_t SHAPES[][4] = {
    {1, 1, 4, 6},  {1, 1, 33, 70}, {1, 9, 4, 70}, {1, 9, 33, 6},  {5, 1, 4, 70}, {5, 1, 33, 6},
    {5, 9, 4, 6},  {5, 9, 33, 70}, {1, 1, 4, 70}, {1, 9, 4, 6},   {5, 1, 4, 6},  {5, 9, 33, 6},
    {1, 9, 33, 70}, {5, 9, 4, 70}, {5, 1, 33, 70}, {1, 1, 33, 6},
};
#define NSHAPES (sizeof(SHAPES) / sizeof(SHAPES[0]))
/* na and 2n multiples of 4, which the texel kernels need (SHAPES: never
 * both, so there they fall back); last the small preset's row sizes. */
static const uint32_t QUAD_SHAPES[][4] = {
    {1, 1, 4, 4}, {1, 9, 8, 4}, {5, 1, 4, 8}, {5, 9, 36, 72}, {1, 9, 36, 8}, {6, 5, 12, 68}, {4, 31, 256, 512},
};
#define NQUAD_SHAPES (sizeof(QUAD_SHAPES) / sizeof(QUAD_SHAPES[0]))

static vknmt_att_shape shape_of(const uint32_t s[4]) { return (vknmt_att_shape){s[0], s[1], s[2], s[3], 0}; }

/* ---------------------------------------------------------- C references */

static uint32_t eff_len(uint32_t len, uint32_t tx) { return len < tx ? len : tx; }

static void ref_forward(const vknmt_att_shape *sh, const uint32_t *len, const double *ws, const double *uh,
                        const double *v, const double *h, double *alpha, double *ctx)
{
    uint32_t B = sh->batch, T = sh->tx, na = sh->na, D = sh->ctx_dim;
    for (uint32_t b = 0; b < B; b++) {
        uint32_t L = eff_len(len[b], T);
        double *a = alpha + (size_t)b * T, m = -INFINITY, s = 0;
        for (uint32_t j = 0; j < L; j++) {
            double e = 0;
            for (uint32_t k = 0; k < na; k++)
                e += v[k] * tanh(ws[b * na + k] + uh[((size_t)j * B + b) * na + k]);
            a[j] = e;
            m = fmax(m, e);
        }
        for (uint32_t j = 0; j < L; j++)
            s += exp(a[j] - m);
        for (uint32_t j = 0; j < T; j++)
            a[j] = j < L ? exp(a[j] - m) / s : 0.0;
        for (uint32_t d = 0; d < D; d++) {
            double c = 0;
            for (uint32_t j = 0; j < L; j++)
                c += a[j] * h[((size_t)j * B + b) * D + d];
            ctx[(size_t)b * D + d] = c;
        }
    }
}

/* dws, dv_part written; duh, dh added to. */
static void ref_backward(const vknmt_att_shape *sh, const uint32_t *len, const double *ws, const double *uh,
                         const double *v, const double *h, const double *alpha, const double *dctx, double *dws,
                         double *duh, double *dh, double *dv_part)
{
    uint32_t B = sh->batch, T = sh->tx, na = sh->na, D = sh->ctx_dim;
    for (uint32_t b = 0; b < B; b++) {
        uint32_t L = eff_len(len[b], T);
        const double *a = alpha + (size_t)b * T, *g = dctx + (size_t)b * D;
        double c = 0;
        for (uint32_t j = 0; j < L; j++) {
            double da = 0;
            for (uint32_t d = 0; d < D; d++)
                da += g[d] * h[((size_t)j * B + b) * D + d];
            c += a[j] * da;
        }
        for (uint32_t k = 0; k < na; k++)
            dws[b * na + k] = dv_part[b * na + k] = 0;
        for (uint32_t j = 0; j < L; j++) {
            double da = 0;
            for (uint32_t d = 0; d < D; d++)
                da += g[d] * h[((size_t)j * B + b) * D + d];
            double de = a[j] * (da - c);
            for (uint32_t k = 0; k < na; k++) {
                size_t i = ((size_t)j * B + b) * na + k;
                double u = tanh(ws[b * na + k] + uh[i]);
                double gu = de * (1 - u * u) * v[k];
                duh[i] += gu;
                dws[b * na + k] += gu;
                dv_part[b * na + k] += de * u;
            }
            for (uint32_t d = 0; d < D; d++)
                dh[((size_t)j * B + b) * D + d] += a[j] * g[d];
        }
    }
}

static void ref_encdec(uint32_t B, uint32_t T, uint32_t n, const uint32_t *len, const double *h, double *ctx)
{
    for (uint32_t b = 0; b < B; b++)
        for (uint32_t d = 0; d < 2 * n; d++) {
            uint32_t j = d < n ? eff_len(len[b], T) - 1 : 0;
            ctx[b * 2 * n + d] = h[((size_t)j * B + b) * 2 * n + d];
        }
}

static void ref_encdec_backward(uint32_t B, uint32_t T, uint32_t n, const uint32_t *len, const double *dctx, double *dh)
{
    for (uint32_t b = 0; b < B; b++)
        for (uint32_t d = 0; d < 2 * n; d++) {
            uint32_t j = d < n ? eff_len(len[b], T) - 1 : 0;
            dh[((size_t)j * B + b) * 2 * n + d] += dctx[b * 2 * n + d];
        }
}

/* ------------------------------------------------------------ test data */

/* One attention problem: float inputs for the device, the same in double. */
typedef struct att_data {
    vknmt_att_shape sh;
    size_t n_ws, n_uh, n_v, n_h, n_a, n_c;
    uint32_t *len;
    float *ws, *uh, *v, *h, *dctx, *alpha, *duh0, *dh0;
    double *ws_d, *uh_d, *v_d, *h_d, *dctx_d, *alpha_d, *ctx_d;
} att_data;

static double *to_double(const float *x, size_t n)
{
    double *y = malloc(n * sizeof(double));
    if (y)
        for (size_t i = 0; i < n; i++)
            y[i] = x[i];
    return y;
}

static void att_data_free(att_data *d)
{
    void *all[] = {d->len,  d->ws,   d->uh,   d->v,    d->h,      d->dctx, d->alpha, d->duh0,   d->dh0,
                   d->ws_d, d->uh_d, d->v_d,  d->h_d,  d->dctx_d, d->alpha_d, d->ctx_d};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        free(all[i]);
    memset(d, 0, sizeof(*d));
}

static void ragged_lengths(uint32_t *len, uint32_t B, uint32_t T)
{
    for (uint32_t b = 0; b < B; b++)
        len[b] = 1 + (uint32_t)(th_rand_u64() % T);
    if (B > 1) { /* both ends of the range */
        len[0] = T;
        len[B - 1] = 1;
    }
}

/* Fresh random inputs; alpha is the reference softmax rounded to float, the
 * C backward uses that same rounded alpha. */
static bool att_data_make(att_data *d, vknmt_att_shape sh)
{
    memset(d, 0, sizeof(*d));
    d->sh = sh;
    size_t B = sh.batch, T = sh.tx, na = sh.na, D = sh.ctx_dim;
    d->n_ws = B * na, d->n_uh = T * B * na, d->n_v = na, d->n_h = T * B * D, d->n_a = B * T, d->n_c = B * D;
    d->len = malloc(B * 4);
    d->ws = malloc(d->n_ws * 4), d->uh = malloc(d->n_uh * 4), d->v = malloc(d->n_v * 4), d->h = malloc(d->n_h * 4);
    d->dctx = malloc(d->n_c * 4), d->alpha = malloc(d->n_a * 4), d->duh0 = malloc(d->n_uh * 4);
    d->dh0 = malloc(d->n_h * 4);
    d->alpha_d = malloc(d->n_a * 8), d->ctx_d = malloc(d->n_c * 8);
    if (!d->len || !d->ws || !d->uh || !d->v || !d->h || !d->dctx || !d->alpha || !d->duh0 || !d->dh0 ||
        !d->alpha_d || !d->ctx_d)
        return false;
    ragged_lengths(d->len, sh.batch, sh.tx);
    th_fill_uniform(d->ws, d->n_ws, -1, 1);
    th_fill_uniform(d->uh, d->n_uh, -1, 1);
    th_fill_uniform(d->v, d->n_v, -1, 1);
    th_fill_uniform(d->h, d->n_h, -1, 1);
    th_fill_uniform(d->dctx, d->n_c, -1, 1);
    th_fill_uniform(d->duh0, d->n_uh, -0.5f, 0.5f);
    th_fill_uniform(d->dh0, d->n_h, -0.5f, 0.5f);
    d->ws_d = to_double(d->ws, d->n_ws), d->uh_d = to_double(d->uh, d->n_uh), d->v_d = to_double(d->v, d->n_v);
    d->h_d = to_double(d->h, d->n_h), d->dctx_d = to_double(d->dctx, d->n_c);
    if (!d->ws_d || !d->uh_d || !d->v_d || !d->h_d || !d->dctx_d)
        return false;
    ref_forward(&d->sh, d->len, d->ws_d, d->uh_d, d->v_d, d->h_d, d->alpha_d, d->ctx_d);
    for (size_t i = 0; i < d->n_a; i++)
        d->alpha[i] = (float)d->alpha_d[i];
    return true;
}

/* Device buffers of one problem; outputs stay NaN-poisoned until written. */
typedef struct att_bufs {
    th_gbuf ws, uh, v, h, len, alpha, ctx, dctx, dws, duh, dh, dv, de;
} att_bufs;

static th_gbuf *bufs_all(att_bufs *g, size_t i) { return &((th_gbuf *)g)[i]; }
#define NBUFS (sizeof(att_bufs) / sizeof(th_gbuf))

static void att_bufs_destroy(att_bufs *g)
{
    for (size_t i = 0; i < NBUFS; i++)
        th_gbuf_destroy(bufs_all(g, i));
}

/* Float offset mod 4 of each buffer's data (att_bufs order): the texel
 * kernels need quad-aligned operands. th_gbuf_create puts data at float
 * TH_GUARD (67, residue 3); gbuf_create_at moves it. */
static uint32_t residue[NBUFS] = {3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3};
/* The buffers each call reads or writes a quad at a time in the texel form:
 * all but src_len, alpha and the scores' gradient de. */
#define FWD_QUADS 0x04fu /* ws uh v h ctx */
#define BWD_QUADS 0xb8fu /* ws uh v h dctx dws duh dv */

/* A guarded buffer of n floats whose data starts at float 64 + r (r < 4),
 * guards of that many floats on both sides. */
static bool gbuf_create_at(th_env *env, uint64_t n, uint32_t r, th_gbuf *g)
{
    if (!th_gbuf_create(env, n + 8, g))
        return false;
    uint64_t total = n + 8 + 2 * TH_GUARD;
    uint32_t *all = malloc(total * 4);
    bool ok = all && vknmt_buffer_download(g->buf, 0, all, 4) == VKNMT_OK; /* word 0 is the sentinel */
    for (uint64_t i = 1; ok && i < total; i++)
        all[i] = all[0];
    ok = ok && vknmt_buffer_upload(g->buf, 0, all, total * 4) == VKNMT_OK;
    free(all);
    g->guard = 64 + r;
    g->n = n;
    return ok && th_gbuf_poison(g);
}

static bool att_bufs_make(th_env *env, const att_data *d, att_bufs *g)
{
    memset(g, 0, sizeof(*g));
    const uint64_t n[NBUFS] = {d->n_ws, d->n_uh, d->n_v,  d->n_h,  d->sh.batch, d->n_a, d->n_c,
                               d->n_c,  d->n_ws, d->n_uh, d->n_h, d->n_ws,     d->n_a};
    for (size_t i = 0; i < NBUFS; i++)
        if (!gbuf_create_at(env, n[i], residue[i], bufs_all(g, i)))
            return false;
    return th_gbuf_upload(&g->ws, d->ws) && th_gbuf_upload(&g->uh, d->uh) && th_gbuf_upload(&g->v, d->v) &&
           th_gbuf_upload(&g->h, d->h) && th_gbuf_upload(&g->len, (const float *)d->len) &&
           th_gbuf_upload(&g->dctx, d->dctx);
}

static bool att_bufs_guards_ok(const att_bufs *g)
{
    for (size_t i = 0; i < NBUFS; i++)
        if (!th_gbuf_guards_ok(&((const th_gbuf *)g)[i]))
            return false;
    return true;
}

static vknmt_status run_forward(th_env *env, const att_data *d, att_bufs *g)
{
    vknmt_status s = vknmt_seq_begin(env->seq);
    if (!s)
        s = vknmt_att_forward(env->seq, &d->sh, th_gbuf_ref(&g->ws), th_gbuf_ref(&g->uh), th_gbuf_ref(&g->v),
                              th_gbuf_ref(&g->h), th_gbuf_ref(&g->len), (vknmt_ref){0}, th_gbuf_ref(&g->alpha),
                              th_gbuf_ref(&g->ctx));
    if (!s)
        s = vknmt_seq_submit(env->seq);
    return s;
}

/* Backward from the reference alpha, onto duh0 and dh0: the scores' path and
 * the weighted sum's path (vknmt_att_backward_context for this one step). */
static vknmt_status run_backward(th_env *env, const att_data *d, att_bufs *g)
{
    if (!th_gbuf_upload(&g->alpha, d->alpha) || !th_gbuf_upload(&g->duh, d->duh0) || !th_gbuf_upload(&g->dh, d->dh0))
        return VKNMT_ERR_DEVICE;
    vknmt_status s = vknmt_seq_begin(env->seq);
    if (!s)
        s = vknmt_att_backward(env->seq, &d->sh, th_gbuf_ref(&g->ws), th_gbuf_ref(&g->uh), th_gbuf_ref(&g->v),
                               th_gbuf_ref(&g->h), th_gbuf_ref(&g->len), th_gbuf_ref(&g->alpha),
                               th_gbuf_ref(&g->dctx), th_gbuf_ref(&g->de), th_gbuf_ref(&g->dws),
                               th_gbuf_ref(&g->duh), th_gbuf_ref(&g->dv));
    if (!s)
        s = vknmt_att_backward_context(env->seq, d->sh.batch, d->sh.tx, 1, d->sh.ctx_dim, th_gbuf_ref(&g->alpha),
                                       th_gbuf_ref(&g->dctx), th_gbuf_ref(&g->dh));
    if (!s)
        s = vknmt_seq_submit(env->seq);
    return s;
}

static float *download(const th_gbuf *g)
{
    float *x = malloc(g->n * 4);
    if (x && !th_gbuf_download(g, x)) {
        free(x);
        return NULL;
    }
    return x;
}

/* ---------------------------------------------------------- kernel forms */

/* Each form the launcher can pick, forced through the caps it picks by.
 * windowed: a maxTexelBufferElements smaller than the buffers, so texel
 * views cover parts of buffers at aligned offsets. */
typedef struct att_path {
    const char *name;
    bool cpu_lanes, texel, windowed;
} att_path;
static const att_path PATHS[] = {{"cpu-texel", true, true, false},
                                 {"cpu-texel-windowed", true, true, true},
                                 {"cpu-ssbo", true, false, false},
                                 {"gpu-ssbo", false, false, false}};
static const att_path *path; /* the forced form; NULL outside for_paths */
#define PATH_NAME (path ? path->name : "native")


/* Dispatches so far of the texel [0] and storage-buffer [1] forms, counted
 * by the profiler (timestamps) per kernel name. */
static void att_calls(const th_env *env, bool backward, uint64_t out[2])
{
    static const char *const names[2][2][2] = {
        {{"attention_texel"}, {"attention"}},
        {{"attention_texel_bwd_de", "attention_texel_bwd"}, {"attention_bwd_de", "attention_bwd"}}};
    for (int f = 0; f < 2; f++) {
        out[f] = 0;
        for (int i = 0; i < 2; i++)
            if (names[backward][f][i])
                out[f] += th_kernel_calls(env, names[backward][f][i]);
    }
}

/* The form the launcher must pick for this shape and these buffers. */
static bool want_texel(vknmt_att_shape sh, uint32_t quads)
{
    if (!path || !path->texel || sh.na % 4 || sh.ctx_dim % 4)
        return false;
    for (size_t i = 0; i < NBUFS; i++)
        if ((quads >> i & 1) && residue[i] % 4)
            return false;
    return true;
}

/* A call ran all its dispatches (1 forward, 2 backward) in the form it must. */
static void check_form(th_env *env, vknmt_att_shape sh, bool backward, const uint64_t before[2])
{
    if (!path || !env->ctx->caps.timestamps)
        return; /* nothing counted */
    uint64_t after[2], n = backward ? 2 : 1;
    att_calls(env, backward, after);
    bool texel = want_texel(sh, backward ? BWD_QUADS : FWD_QUADS);
    CHECK(after[0] - before[0] == (texel ? n : 0) && after[1] - before[1] == (texel ? 0 : n),
          "%s B%u Tx%u na%u 2n%u %s: %llu texel and %llu storage-buffer dispatches, want %llu %s", PATH_NAME,
          sh.batch, sh.tx, sh.na, sh.ctx_dim, backward ? "backward" : "forward",
          (unsigned long long)(after[0] - before[0]), (unsigned long long)(after[1] - before[1]),
          (unsigned long long)n, texel ? "texel" : "storage-buffer");
}

/* windowed: views of at most the largest operand plus the view alignment,
 * so the largest buffers (guards included) no longer fit whole. */
static void limit_texels(th_env *env, const att_data *d)
{
    if (!path || !path->windowed)
        return;
    size_t big = d->n_uh > d->n_h ? d->n_uh : d->n_h;
    env->ctx->caps.max_texel_buffer_elements = big / 4 + env->ctx->caps.min_texel_offset_align / 4 + 1;
}

/* Runs body once per form the device can run (profiling on, to count the
 * kernels), operands on quads for the texel forms and off them (float
 * offset 67) for the others; restores the caps. */
static void for_paths(th_env *env, void (*body)(th_env *))
{
    vknmt_caps saved = env->ctx->caps;
    bool profile = env->ctx->profile;
    for (size_t i = 0; i < sizeof(PATHS) / sizeof(PATHS[0]) && !th_failed(); i++) {
        if (PATHS[i].texel && !saved.texel_buffers)
            continue;
        path = &PATHS[i];
        env->ctx->caps.quirk_cpu_lanes = path->cpu_lanes;
        env->ctx->caps.texel_buffers = path->texel;
        env->ctx->profile = true;
        for (size_t j = 0; j < NBUFS; j++)
            residue[j] = path->texel ? 0 : 3;
        body(env);
        env->ctx->caps = saved;
        env->ctx->profile = profile;
    }
    path = NULL;
    for (size_t j = 0; j < NBUFS; j++)
        residue[j] = 3;
}

/* -------------------------------------------------------------- forward */

#define TOL 1e-5
/* dws and dv are sums over positions of de[j] (1 - u^2) v, and the de[j] sum
 * to exactly 0: when u varies little over j the result is a small remainder
 * of cancelling fp32 terms, so relative to its own size it is looser. */
#define TOL_SUMS 5e-5

static void check_forward(th_env *env, vknmt_att_shape sh)
{
    att_data d;
    att_bufs g;
    CHECK(att_data_make(&d, sh), "out of memory");
    CHECK(att_bufs_make(env, &d, &g), "buffers");
    limit_texels(env, &d);
    uint64_t before[2];
    att_calls(env, false, before);
    CHECK_OK(env, run_forward(env, &d, &g));
    check_form(env, sh, false, before);
    float *alpha = download(&g.alpha), *ctx = download(&g.ctx);
    CHECK(alpha && ctx, "download");
    double ea = th_rel_err(alpha, d.alpha_d, d.n_a, 1e-30), ec = th_rel_err(ctx, d.ctx_d, d.n_c, 1e-30);
    bool pad_zero = true;
    for (uint32_t b = 0; b < sh.batch; b++)
        for (uint32_t j = d.len[b]; j < sh.tx; j++)
            pad_zero &= alpha[b * sh.tx + j] == 0.0f;
    bool guards = att_bufs_guards_ok(&g);
    free(alpha);
    free(ctx);
    att_bufs_destroy(&g);
    att_data_free(&d);
    CHECK(ea <= TOL, "%s B%u Tx%u na%u 2n%u: alpha relative error %g > %g", PATH_NAME, sh.batch, sh.tx, sh.na,
          sh.ctx_dim, ea, TOL);
    CHECK(ec <= TOL, "%s B%u Tx%u na%u 2n%u: ctx relative error %g > %g", PATH_NAME, sh.batch, sh.tx, sh.na,
          sh.ctx_dim, ec, TOL);
    CHECK(pad_zero, "%s B%u Tx%u: padding got weight", PATH_NAME, sh.batch, sh.tx);
    CHECK(guards, "%s B%u Tx%u na%u 2n%u: write outside an output", PATH_NAME, sh.batch, sh.tx, sh.na, sh.ctx_dim);
}

static void body_forward(th_env *env)
{
    for (size_t i = 0; i < NSHAPES && !th_failed(); i++)
        check_forward(env, shape_of(SHAPES[i]));
    for (size_t i = 0; i < NQUAD_SHAPES && !th_failed(); i++)
        check_forward(env, shape_of(QUAD_SHAPES[i]));
}

static void test_forward(th_env *env) { for_paths(env, body_forward); }

/* ------------------------------------------------------------- backward */

static void check_backward(th_env *env, vknmt_att_shape sh)
{
    att_data d;
    att_bufs g;
    CHECK(att_data_make(&d, sh), "out of memory");
    CHECK(att_bufs_make(env, &d, &g), "buffers");
    double *dws = malloc(d.n_ws * 8), *dv = malloc(d.n_ws * 8), *duh = to_double(d.duh0, d.n_uh),
           *dh = to_double(d.dh0, d.n_h), *alpha_f = to_double(d.alpha, d.n_a);
    CHECK(dws && dv && duh && dh && alpha_f, "out of memory");
    ref_backward(&sh, d.len, d.ws_d, d.uh_d, d.v_d, d.h_d, alpha_f, d.dctx_d, dws, duh, dh, dv);
    limit_texels(env, &d);
    uint64_t before[2];
    att_calls(env, true, before);
    CHECK_OK(env, run_backward(env, &d, &g));
    check_form(env, sh, true, before);
    float *gdws = download(&g.dws), *gdv = download(&g.dv), *gduh = download(&g.duh), *gdh = download(&g.dh);
    CHECK(gdws && gdv && gduh && gdh, "download");
    /* dws and dv sum Tx terms of the size of duh's increments: measure them
     * against that, not against their own (possibly cancelled) size */
    double term = 1e-30;
    for (size_t i = 0; i < d.n_uh; i++)
        term = fmax(term, fabs(duh[i] - (double)d.duh0[i]));
    double e_ws = th_rel_err(gdws, dws, d.n_ws, term * sh.tx), e_v = th_rel_err(gdv, dv, d.n_ws, term * sh.tx);
    double e_uh = th_rel_err(gduh, duh, d.n_uh, 1e-30), e_h = th_rel_err(gdh, dh, d.n_h, 1e-30);
    /* padded positions: left exactly as they were */
    bool pad_kept = true;
    for (uint32_t j = 0; j < sh.tx; j++)
        for (uint32_t b = 0; b < sh.batch; b++) {
            if (j < d.len[b])
                continue;
            size_t r = (size_t)j * sh.batch + b;
            pad_kept &= memcmp(gduh + r * sh.na, d.duh0 + r * sh.na, sh.na * 4) == 0;
            pad_kept &= memcmp(gdh + r * sh.ctx_dim, d.dh0 + r * sh.ctx_dim, sh.ctx_dim * 4) == 0;
        }
    bool guards = att_bufs_guards_ok(&g);
    void *tofree[] = {dws, dv, duh, dh, alpha_f, gdws, gdv, gduh, gdh};
    for (size_t i = 0; i < sizeof(tofree) / sizeof(tofree[0]); i++)
        free(tofree[i]);
    att_bufs_destroy(&g);
    att_data_free(&d);
    CHECK(e_ws <= TOL_SUMS && e_v <= TOL_SUMS && e_uh <= TOL && e_h <= TOL,
          "%s B%u Tx%u na%u 2n%u: relative errors dws %g dv %g (> %g?) duh %g dh %g (> %g?)", PATH_NAME, sh.batch,
          sh.tx, sh.na, sh.ctx_dim, e_ws, e_v, TOL_SUMS, e_uh, e_h, TOL);
    CHECK(pad_kept, "%s B%u Tx%u: a padded position's gradient changed", PATH_NAME, sh.batch, sh.tx);
    CHECK(guards, "%s B%u Tx%u na%u 2n%u: write outside an output", PATH_NAME, sh.batch, sh.tx, sh.na,
          sh.ctx_dim);
}

static void body_backward(th_env *env)
{
    for (size_t i = 0; i < NSHAPES && !th_failed(); i++)
        check_backward(env, shape_of(SHAPES[i]));
    for (size_t i = 0; i < NQUAD_SHAPES && !th_failed(); i++)
        check_backward(env, shape_of(QUAD_SHAPES[i]));
}

static void test_backward(th_env *env) { for_paths(env, body_backward); }

/* Source longer than the kernels' chunk of positions (4 x 64, 256). */
static void body_long_source(th_env *env)
{
    const vknmt_att_shape shapes[] = {{3, 300, 5, 7, 0}, {3, 300, 8, 12, 0}};
    for (size_t i = 0; i < 2 && !th_failed(); i++) {
        check_forward(env, shapes[i]);
        if (!th_failed())
            check_backward(env, shapes[i]);
    }
}

static void test_long_source(th_env *env) { for_paths(env, body_long_source); }

/* One operand at a time off a quad (float offset 1 or 2 mod 4): the texel
 * forms must fall back to the storage-buffer kernels when that operand is
 * one they read by quads, and not for src_len or alpha; results exact
 * either way. */
static void body_offsets(th_env *env)
{
    vknmt_att_shape sh = {5, 9, 8, 12, 0};
    uint32_t r0 = residue[0];
    for (size_t i = 0; i < NBUFS && !th_failed(); i++) {
        residue[i] = 1 + (uint32_t)(i & 1);
        check_forward(env, sh);
        if (!th_failed())
            check_backward(env, sh);
        residue[i] = r0;
    }
}

static void test_offsets(th_env *env) { for_paths(env, body_offsets); }

/* Beam search's rows: row b attends over column col[b] of S source columns
 * (several rows per column, S = 1, a column no row reads). Against the C
 * reference on the annotations copied out to one column per row, and bit
 * for bit against the device's own forward on that copy. */
static void check_column_map(th_env *env, vknmt_att_shape sh)
{
    uint32_t B = sh.batch, S = sh.src_batch, T = sh.tx, na = sh.na, D = sh.ctx_dim;
    att_data d; /* the copied-out problem: B columns */
    att_bufs g;
    vknmt_att_shape wide = sh;
    wide.src_batch = 0;
    CHECK(att_data_make(&d, wide), "out of memory");
    uint32_t *col = malloc(B * 4);
    float *uhc = malloc((size_t)T * S * na * 4), *hc = malloc((size_t)T * S * D * 4);
    CHECK(col && uhc && hc, "out of memory");
    for (uint32_t b = 0; b < B; b++)
        col[b] = (uint32_t)(th_rand_u64() % S);
    col[0] = S - 1;
    th_fill_uniform(uhc, (size_t)T * S * na, -1, 1);
    th_fill_uniform(hc, (size_t)T * S * D, -1, 1);
    for (uint32_t j = 0; j < T; j++)
        for (uint32_t b = 0; b < B; b++) {
            memcpy(d.uh + ((size_t)j * B + b) * na, uhc + ((size_t)j * S + col[b]) * na, na * 4);
            memcpy(d.h + ((size_t)j * B + b) * D, hc + ((size_t)j * S + col[b]) * D, D * 4);
        }
    for (size_t i = 0; i < d.n_uh; i++)
        d.uh_d[i] = d.uh[i];
    for (size_t i = 0; i < d.n_h; i++)
        d.h_d[i] = d.h[i];
    ref_forward(&d.sh, d.len, d.ws_d, d.uh_d, d.v_d, d.h_d, d.alpha_d, d.ctx_d);
    CHECK(att_bufs_make(env, &d, &g), "buffers");
    CHECK_OK(env, run_forward(env, &d, &g)); /* on the copy */
    float *alpha_w = download(&g.alpha), *ctx_w = download(&g.ctx);
    CHECK(alpha_w && ctx_w, "download");

    th_gbuf guh, gh, gcol;
    CHECK(gbuf_create_at(env, (uint64_t)T * S * na, residue[1], &guh) &&
              gbuf_create_at(env, (uint64_t)T * S * D, residue[3], &gh) && gbuf_create_at(env, B, 3, &gcol),
          "buffers");
    CHECK(th_gbuf_upload(&guh, uhc) && th_gbuf_upload(&gh, hc) && th_gbuf_upload(&gcol, (const float *)col) &&
              th_gbuf_poison(&g.alpha) && th_gbuf_poison(&g.ctx),
          "upload");
    uint64_t before[2];
    att_calls(env, false, before);
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    CHECK_OK(env, vknmt_att_forward(env->seq, &sh, th_gbuf_ref(&g.ws), th_gbuf_ref(&guh), th_gbuf_ref(&g.v),
                                    th_gbuf_ref(&gh), th_gbuf_ref(&g.len), th_gbuf_ref(&gcol), th_gbuf_ref(&g.alpha),
                                    th_gbuf_ref(&g.ctx)));
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    check_form(env, sh, false, before);
    float *alpha = download(&g.alpha), *ctx = download(&g.ctx);
    CHECK(alpha && ctx, "download");
    double ea = th_rel_err(alpha, d.alpha_d, d.n_a, 1e-30), ec = th_rel_err(ctx, d.ctx_d, d.n_c, 1e-30);
    bool same = memcmp(alpha, alpha_w, d.n_a * 4) == 0 && memcmp(ctx, ctx_w, d.n_c * 4) == 0;
    bool guards = att_bufs_guards_ok(&g) && th_gbuf_guards_ok(&guh) && th_gbuf_guards_ok(&gh) &&
                  th_gbuf_guards_ok(&gcol);
    free(alpha);
    free(ctx);
    free(alpha_w);
    free(ctx_w);
    free(col);
    free(uhc);
    free(hc);
    th_gbuf_destroy(&guh);
    th_gbuf_destroy(&gh);
    th_gbuf_destroy(&gcol);
    att_bufs_destroy(&g);
    att_data_free(&d);
    CHECK(ea <= TOL && ec <= TOL, "%s B%u S%u Tx%u na%u 2n%u: alpha / ctx relative error %g / %g > %g", PATH_NAME, B,
          S, T, na, D, ea, ec, TOL);
    CHECK(same, "%s B%u S%u Tx%u: mapped columns differ from the same columns copied out", PATH_NAME, B, S, T);
    CHECK(guards, "%s B%u S%u Tx%u: write outside an output", PATH_NAME, B, S, T);
}

static void body_column_map(th_env *env)
{
    const vknmt_att_shape shapes[] = {{5, 9, 4, 6, 2},  {10, 7, 8, 12, 3}, {1, 1, 33, 70, 1},
                                      {12, 9, 36, 72, 1}, {7, 300, 8, 12, 4}};
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]) && !th_failed(); i++)
        check_column_map(env, shapes[i]);
}

static void test_column_map(th_env *env) { for_paths(env, body_column_map); }

/* ------------------------------------------------- finite differences (C) */

/* loss = sum_b,d w[b,d] ctx[b,d], so dctx = w. */
static double loss_of(const att_data *d, const double *w, double *alpha, double *ctx)
{
    ref_forward(&d->sh, d->len, d->ws_d, d->uh_d, d->v_d, d->h_d, alpha, ctx);
    double l = 0;
    for (size_t i = 0; i < d->n_c; i++)
        l += w[i] * ctx[i];
    return l;
}

/* max |fd - analytic| / max |analytic| over every element of x */
static double fd_err(att_data *d, double *x, size_t n, const double *an, const double *w, double *alpha, double *ctx)
{
    const double eps = 1e-5;
    double err = 0, scale = 1e-30;
    for (size_t i = 0; i < n; i++) {
        double x0 = x[i];
        x[i] = x0 + eps;
        double lp = loss_of(d, w, alpha, ctx);
        x[i] = x0 - eps;
        double lm = loss_of(d, w, alpha, ctx);
        x[i] = x0;
        err = fmax(err, fabs((lp - lm) / (2 * eps) - an[i]));
        scale = fmax(scale, fabs(an[i]));
    }
    return err / scale;
}

static void check_gradient(vknmt_att_shape sh)
{
    att_data d;
    CHECK(att_data_make(&d, sh), "out of memory");
    size_t nw = d.n_ws;
    double *dws = malloc(nw * 8), *dvp = malloc(nw * 8), *dv = calloc(d.n_v, 8), *duh = calloc(d.n_uh, 8),
           *dh = calloc(d.n_h, 8), *alpha = malloc(d.n_a * 8), *ctx = malloc(d.n_c * 8);
    CHECK(dws && dvp && dv && duh && dh && alpha && ctx, "out of memory");
    /* exact alpha of the double forward; dctx is the loss weight */
    ref_backward(&sh, d.len, d.ws_d, d.uh_d, d.v_d, d.h_d, d.alpha_d, d.dctx_d, dws, duh, dh, dvp);
    for (uint32_t b = 0; b < sh.batch; b++)
        for (uint32_t k = 0; k < sh.na; k++)
            dv[k] += dvp[b * sh.na + k];
    double e_ws = fd_err(&d, d.ws_d, d.n_ws, dws, d.dctx_d, alpha, ctx);
    double e_uh = fd_err(&d, d.uh_d, d.n_uh, duh, d.dctx_d, alpha, ctx);
    double e_v = fd_err(&d, d.v_d, d.n_v, dv, d.dctx_d, alpha, ctx);
    double e_h = fd_err(&d, d.h_d, d.n_h, dh, d.dctx_d, alpha, ctx);
    void *tofree[] = {dws, dvp, dv, duh, dh, alpha, ctx};
    for (size_t i = 0; i < sizeof(tofree) / sizeof(tofree[0]); i++)
        free(tofree[i]);
    att_data_free(&d);
    /* central differences at eps 1e-5 in double: truncation and rounding
     * reach ~5e-7 of the largest entry when the sums over positions cancel
     * (B = 1); a wrong formula is off by O(1) */
    CHECK(e_ws <= 2e-6 && e_uh <= 2e-6 && e_v <= 2e-6 && e_h <= 2e-6,
          "B%u Tx%u na%u 2n%u: C backward vs finite differences: dws %g duh %g dv %g dh %g > 2e-6", sh.batch,
          sh.tx, sh.na, sh.ctx_dim, e_ws, e_uh, e_v, e_h);
}

static void test_gradient(th_env *env)
{
    (void)env;
    for (size_t i = 0; i < NSHAPES && !th_failed(); i++)
        check_gradient(shape_of(SHAPES[i]));
}

/* --------------------------------------------------------- determinism */

static bool same_bits(const th_gbuf *g, const float *first)
{
    float *x = download(g);
    bool same = x && memcmp(x, first, g->n * 4) == 0;
    free(x);
    return same;
}

static void check_deterministic(th_env *env, vknmt_att_shape sh)
{
    att_data d;
    att_bufs g;
    CHECK(att_data_make(&d, sh), "out of memory");
    CHECK(att_bufs_make(env, &d, &g), "buffers");
    limit_texels(env, &d);
    th_gbuf *outs[] = {&g.alpha, &g.ctx, &g.dws, &g.duh, &g.dh, &g.dv};
    float *first[6] = {0};
    bool same = true;
    for (int run = 0; run < 2; run++) {
        for (int i = 0; i < 6; i++)
            CHECK(th_gbuf_poison(outs[i]), "poison");
        CHECK_OK(env, run_forward(env, &d, &g));
        for (int i = 0; i < 2; i++) /* before the backward replaces alpha with the reference one */
            CHECK(run ? (same &= same_bits(outs[i], first[i]), true) : (first[i] = download(outs[i])) != NULL,
                  "download");
        CHECK_OK(env, run_backward(env, &d, &g));
        for (int i = 2; i < 6; i++)
            CHECK(run ? (same &= same_bits(outs[i], first[i]), true) : (first[i] = download(outs[i])) != NULL,
                  "download");
    }
    for (int i = 0; i < 6; i++)
        free(first[i]);
    att_bufs_destroy(&g);
    att_data_free(&d);
    CHECK(same, "%s B%u Tx%u na%u 2n%u: two runs gave different bits", PATH_NAME, sh.batch, sh.tx, sh.na,
          sh.ctx_dim);
}

static void body_deterministic(th_env *env)
{
    check_deterministic(env, (vknmt_att_shape){5, 9, 33, 70, 0});
    if (!th_failed())
        check_deterministic(env, (vknmt_att_shape){5, 9, 36, 72, 0});
}

static void test_deterministic(th_env *env) { for_paths(env, body_deterministic); }

/* ------------------------------------------------------ RNNencdec context */

static void check_encdec(th_env *env, uint32_t B, uint32_t T, uint32_t n)
{
    size_t nh = (size_t)T * B * 2 * n, nc = (size_t)B * 2 * n;
    uint32_t *len = malloc(B * 4);
    float *h = malloc(nh * 4), *dctx = malloc(nc * 4), *dh0 = malloc(nh * 4), *got_c = malloc(nc * 4),
          *got_h = malloc(nh * 4);
    double *want_c = malloc(nc * 8), *want_h = NULL, *h_d = NULL, *dctx_d = NULL;
    CHECK(len && h && dctx && dh0 && got_c && got_h && want_c, "out of memory");
    ragged_lengths(len, B, T);
    th_fill_uniform(h, nh, -1, 1);
    th_fill_uniform(dctx, nc, -1, 1);
    th_fill_uniform(dh0, nh, -1, 1);
    CHECK((h_d = to_double(h, nh)) && (dctx_d = to_double(dctx, nc)) && (want_h = to_double(dh0, nh)), "oom");
    ref_encdec(B, T, n, len, h_d, want_c);
    ref_encdec_backward(B, T, n, len, dctx_d, want_h);

    th_gbuf gh, gl, gc, gdc, gdh;
    CHECK(th_gbuf_create(env, nh, &gh) && th_gbuf_create(env, B, &gl) && th_gbuf_create(env, nc, &gc) &&
              th_gbuf_create(env, nc, &gdc) && th_gbuf_create(env, nh, &gdh),
          "buffers");
    CHECK(th_gbuf_upload(&gh, h) && th_gbuf_upload(&gl, (const float *)len) && th_gbuf_upload(&gdc, dctx) &&
              th_gbuf_upload(&gdh, dh0),
          "upload");
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    CHECK_OK(env, vknmt_encdec_context(env->seq, B, T, n, th_gbuf_ref(&gh), th_gbuf_ref(&gl), th_gbuf_ref(&gc)));
    CHECK_OK(env, vknmt_encdec_context_backward(env->seq, B, T, n, th_gbuf_ref(&gdc), th_gbuf_ref(&gl),
                                                th_gbuf_ref(&gdh)));
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    CHECK(th_gbuf_download(&gc, got_c) && th_gbuf_download(&gdh, got_h), "download");
    double ec = th_rel_err(got_c, want_c, nc, 1e-30), eh = th_rel_err(got_h, want_h, nh, 1e-30);
    bool guards = th_gbuf_guards_ok(&gh) && th_gbuf_guards_ok(&gl) && th_gbuf_guards_ok(&gc) &&
                  th_gbuf_guards_ok(&gdc) && th_gbuf_guards_ok(&gdh);
    th_gbuf_destroy(&gh), th_gbuf_destroy(&gl), th_gbuf_destroy(&gc), th_gbuf_destroy(&gdc), th_gbuf_destroy(&gdh);
    void *tofree[] = {len, h, dctx, dh0, got_c, got_h, want_c, want_h, h_d, dctx_d};
    for (size_t i = 0; i < sizeof(tofree) / sizeof(tofree[0]); i++)
        free(tofree[i]);
    /* a copy is exact; an add is one fp32 rounding */
    CHECK(ec == 0, "B%u Tx%u n%u: ctx relative error %g (a copy must be exact)", B, T, n, ec);
    CHECK(eh <= 1e-7, "B%u Tx%u n%u: dh relative error %g > 1e-7", B, T, n, eh);
    CHECK(guards, "B%u Tx%u n%u: write outside an output", B, T, n);
}

static void test_encdec(th_env *env)
{
    static const uint32_t shapes[][3] = {{1, 1, 3}, {1, 9, 35}, {5, 1, 3}, {5, 9, 35}, {7, 4, 1}};
    for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]) && !th_failed(); i++)
        check_encdec(env, shapes[i][0], shapes[i][1], shapes[i][2]);
}

/* The C encdec backward against finite differences of the C forward: it is
 * linear, so this checks that it adds into exactly the places read. */
static void test_encdec_gradient(th_env *env)
{
    (void)env;
    enum { B = 3, T = 4, N = 2 };
    uint32_t len[B] = {4, 1, 3};
    double h[T * B * 2 * N], w[B * 2 * N], dh[T * B * 2 * N] = {0}, ctx[B * 2 * N], err = 0;
    for (size_t i = 0; i < T * B * 2 * N; i++)
        h[i] = th_uniform(-1, 1);
    for (size_t i = 0; i < B * 2 * N; i++)
        w[i] = th_uniform(-1, 1);
    ref_encdec_backward(B, T, N, len, w, dh);
    for (size_t i = 0; i < T * B * 2 * N; i++) {
        double l[2], x0 = h[i];
        for (int s = 0; s < 2; s++) {
            h[i] = x0 + (s ? -1e-3 : 1e-3);
            ref_encdec(B, T, N, len, h, ctx);
            l[s] = 0;
            for (size_t c = 0; c < B * 2 * N; c++)
                l[s] += w[c] * ctx[c];
        }
        h[i] = x0;
        err = fmax(err, fabs((l[0] - l[1]) / 2e-3 - dh[i]));
    }
    CHECK(err <= 1e-9, "encdec backward vs finite differences: %g", err);
}

/* ------------------------------------------------------------ bad calls */

/* vknmt_att_backward_context over several steps against plain loops, at
 * awkward sizes (batch 1, one step, odd Tx and dim, a paper-sized batch).
 * dh is read, so it starts random instead of poisoned and must end as
 * dh + sum_i alpha_i^T dctx_i; guards catch writes outside it. */
static void check_context_steps(th_env *env, uint32_t B, uint32_t T, uint32_t Y, uint32_t D)
{
    size_t na = (size_t)Y * B * T, nc = (size_t)Y * B * D, nh = (size_t)T * B * D;
    float *alpha = malloc(na * 4), *dctx = malloc(nc * 4), *dh0 = malloc(nh * 4), *got = malloc(nh * 4);
    double *want = malloc(nh * 8);
    th_gbuf ga = {0}, gc = {0}, gh = {0};
    CHECK(alpha && dctx && dh0 && got && want, "out of memory");
    th_fill_uniform(alpha, na, 0, 1);
    th_fill_uniform(dctx, nc, -1, 1);
    th_fill_uniform(dh0, nh, -1, 1);
    for (size_t j = 0; j < T; j++)
        for (size_t b = 0; b < B; b++)
            for (size_t d = 0; d < D; d++) {
                double acc = dh0[(j * B + b) * D + d];
                for (size_t i = 0; i < Y; i++)
                    acc += (double)alpha[(i * B + b) * T + j] * dctx[(i * B + b) * D + d];
                want[(j * B + b) * D + d] = acc;
            }
    bool ok = th_gbuf_create(env, na, &ga) && th_gbuf_create(env, nc, &gc) && th_gbuf_create(env, nh, &gh) &&
              th_gbuf_upload(&ga, alpha) && th_gbuf_upload(&gc, dctx) && th_gbuf_upload(&gh, dh0);
    vknmt_status s = ok ? vknmt_seq_begin(env->seq) : VKNMT_ERR_DEVICE;
    if (!s)
        s = vknmt_att_backward_context(env->seq, B, T, Y, D, th_gbuf_ref(&ga), th_gbuf_ref(&gc), th_gbuf_ref(&gh));
    if (!s)
        s = vknmt_seq_submit(env->seq);
    ok = !s && th_gbuf_download(&gh, got);
    double e = ok ? th_rel_err(got, want, nh, 1e-30) : 1;
    bool guards = th_gbuf_guards_ok(&ga) && th_gbuf_guards_ok(&gc) && th_gbuf_guards_ok(&gh);
    th_gbuf_destroy(&ga);
    th_gbuf_destroy(&gc);
    th_gbuf_destroy(&gh);
    void *tofree[] = {alpha, dctx, dh0, got, want};
    for (size_t i = 0; i < sizeof(tofree) / sizeof(tofree[0]); i++)
        free(tofree[i]);
    CHECK_OK(env, s);
    CHECK(e <= TOL && guards, "context backward B%u Tx%u steps%u dim%u: relative error %g (> %g?), guards %s", B, T,
          Y, D, e, TOL, guards ? "intact" : "overwritten");
}

static void test_context_steps(th_env *env)
{
    static const uint32_t cases[][4] = {{1, 1, 1, 1}, {3, 7, 5, 13}, {5, 17, 9, 12}, {80, 12, 11, 64}};
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]) && !th_failed(); c++)
        check_context_steps(env, cases[c][0], cases[c][1], cases[c][2], cases[c][3]);
}

static void test_bad_calls(th_env *env)
{
    vknmt_buffer *a;
    CHECK_OK(env, vknmt_buffer_create(env->ctx, 4096 * 4, &a));
    vknmt_ref r = vknmt_at(a, 0);
    vknmt_att_shape ok = {2, 3, 4, 6, 0}, zero_b = {0, 3, 4, 6, 0}, zero_t = {2, 0, 4, 6, 0},
                    zero_na = {2, 3, 0, 6, 0}, zero_d = {2, 3, 4, 0, 0}, big = {2, 3, 4, 1000, 0},
                    mapped = {2, 3, 4, 6, 2}, big_map = {2, 3, 4, 6, 1000};
    vknmt_ref none = {0};
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    vknmt_status s[13];
    s[0] = vknmt_att_forward(env->seq, &zero_b, r, r, r, r, r, none, r, r);
    s[1] = vknmt_att_forward(env->seq, &zero_t, r, r, r, r, r, none, r, r);
    s[2] = vknmt_att_backward(env->seq, &zero_na, r, r, r, r, r, r, r, r, r, r, r);
    s[3] = vknmt_att_backward(env->seq, &zero_d, r, r, r, r, r, r, r, r, r, r, r);
    s[4] = vknmt_encdec_context(env->seq, 2, 3, 0, r, r, r);
    s[5] = vknmt_encdec_context_backward(env->seq, 0, 3, 4, r, r, r);
    /* H needs 3*2*1000 floats, the buffer has 4096 */
    s[6] = vknmt_att_forward(env->seq, &big, r, r, r, r, r, none, r, r);
    /* only the last of the backward's outputs is out of range: nothing recorded */
    s[7] = vknmt_att_backward(env->seq, &ok, r, r, r, r, r, r, r, r, r, r, vknmt_at(a, 4090));
    s[8] = vknmt_encdec_context_backward(env->seq, 2, 3, 4, r, r, vknmt_at(a, 4050));
    /* UH of 3 positions x 1000 source columns x 4 does not fit either */
    s[9] = vknmt_att_forward(env->seq, &big_map, r, r, r, r, r, r, r, r);
    /* a column count without a map, a map without a count */
    s[10] = vknmt_att_forward(env->seq, &mapped, r, r, r, r, r, none, r, r);
    s[11] = vknmt_att_forward(env->seq, &ok, r, r, r, r, r, r, r, r);
    /* the map must hold a column for every row */
    s[12] = vknmt_att_forward(env->seq, &mapped, r, r, r, r, r, vknmt_at(a, 4095), r, r);
    /* the context's path: no steps; a dh one float short (the last row's
     * GEMM of the batch would be the one to overrun) */
    vknmt_status sc[2] = {vknmt_att_backward_context(env->seq, 2, 3, 0, 6, r, r, r),
                          vknmt_att_backward_context(env->seq, 2, 3, 4, 6, r, r, vknmt_at(a, 4096 - 3 * 2 * 6 + 1))};
    vknmt_seq_stats st = vknmt_seq_stats_get(env->seq);
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    vknmt_buffer_destroy(a);
    CHECK(sc[0] == VKNMT_ERR_SHAPE && sc[1] == VKNMT_ERR_RANGE, "context backward: %s, %s",
          vknmt_status_name(sc[0]), vknmt_status_name(sc[1]));
    for (int i = 0; i < 6; i++)
        CHECK(s[i] == VKNMT_ERR_SHAPE, "zero size %d: %s", i, vknmt_status_name(s[i]));
    for (int i = 6; i < 10; i++)
        CHECK(s[i] == VKNMT_ERR_RANGE, "out of range %d: %s", i, vknmt_status_name(s[i]));
    CHECK(s[10] == VKNMT_ERR_USAGE && s[11] == VKNMT_ERR_USAGE, "map and column count apart: %s, %s",
          vknmt_status_name(s[10]), vknmt_status_name(s[11]));
    CHECK(s[12] == VKNMT_ERR_RANGE, "a map shorter than the rows: %s", vknmt_status_name(s[12]));
    CHECK(st.dispatches == 0, "bad calls recorded %u dispatches", st.dispatches);
}

void th_register_attention(void)
{
    th_add("attention", "forward", test_forward);
    th_add("attention", "backward", test_backward);
    th_add("attention", "gradient_vs_finite_differences", test_gradient);
    th_add("attention", "long_source", test_long_source);
    th_add("attention", "operand_offsets", test_offsets);
    th_add("attention", "column_map", test_column_map);
    th_add("attention", "deterministic", test_deterministic);
    th_add("attention", "encdec_context", test_encdec);
    th_add("attention", "encdec_gradient", test_encdec_gradient);
    th_add("attention", "context_backward_steps", test_context_steps);
    th_add("attention", "bad_calls", test_bad_calls);
}
