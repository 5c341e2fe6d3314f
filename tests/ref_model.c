/* float64 reference of RNNsearch: forward and hand-written reverse pass,
 * one sentence at a time (spec: shared/spec/rnnsearch.md).
 *
 * Why one sentence at a time: with right padding, a padded encoder position
 * keeps the state (spec, "Encoder"), so the forward state at the last real
 * word is fwd_T, the backward GRU is still at 0 when it reaches the last real
 * word, padded source positions get attention weight 0 and padded target
 * positions add nothing to the loss. Running each sentence over its real
 * length only is therefore the same function, with the same gradient. */
#include "ref_model.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

static vknmt_status fail(char *err, size_t n, vknmt_status s, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static vknmt_status fail(char *err, size_t n, vknmt_status s, const char *fmt, ...)
{
    if (err && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, n, fmt, ap);
        va_end(ap);
    }
    return s;
}

/* ------------------------------------------------------------------ tensors */

static void add_shape(ref_model *m, const char *name, int d0, int d1)
{
    ref_tensor *t = &m->t[m->count++];
    t->name = name;
    t->ndim = d1 ? 2 : 1;
    t->shape[0] = d0;
    t->shape[1] = d1;
    t->size = (size_t)d0 * (size_t)(d1 ? d1 : 1);
    t->data = NULL;
}

/* The spec's parameter table for cfg, in its order. */
static void layout(ref_model *m, const ref_config *c)
{
    int n = c->n, m_ = c->m;
    m->count = 0;
    add_shape(m, "enc.emb", c->Vs, m_);
    add_shape(m, "enc.fwd.W", 3 * n, m_);
    add_shape(m, "enc.bwd.W", 3 * n, m_);
    add_shape(m, "enc.fwd.U", 3 * n, n);
    add_shape(m, "enc.bwd.U", 3 * n, n);
    add_shape(m, "enc.fwd.b", 3 * n, 0);
    add_shape(m, "enc.bwd.b", 3 * n, 0);
    add_shape(m, "dec.init.W", n, n);
    add_shape(m, "dec.init.b", n, 0);
    if (c->attention == REF_ATT_ADDITIVE) {
        add_shape(m, "att.W", c->na, n);
        add_shape(m, "att.U", c->na, 2 * n);
        add_shape(m, "att.b", c->na, 0);
        add_shape(m, "att.v", c->na, 0);
    }
    add_shape(m, "dec.emb", c->Vt, m_);
    add_shape(m, "dec.W", 3 * n, m_);
    add_shape(m, "dec.U", 3 * n, n);
    add_shape(m, "dec.C", 3 * n, 2 * n);
    add_shape(m, "dec.b", 3 * n, 0);
    if (c->readout == REF_READOUT_MAXOUT) {
        add_shape(m, "out.U", 2 * c->l, n);
        add_shape(m, "out.V", 2 * c->l, m_);
        add_shape(m, "out.C", 2 * c->l, 2 * n);
        add_shape(m, "out.b", 2 * c->l, 0);
        add_shape(m, "out.W", c->Vt, c->l);
    } else {
        add_shape(m, "out.W", c->Vt, n + 2 * n + m_);
    }
    add_shape(m, "out.bW", c->Vt, 0);
}

vknmt_status ref_model_init(ref_model *m, const ref_config *cfg)
{
    memset(m, 0, sizeof(*m));
    if (cfg->Vs < 4 || cfg->Vt < 4 || cfg->m < 1 || cfg->n < 1 ||
        (cfg->attention == REF_ATT_ADDITIVE && cfg->na < 1) || (cfg->readout == REF_READOUT_MAXOUT && cfg->l < 1) ||
        (cfg->readout != REF_READOUT_MAXOUT && cfg->readout != REF_READOUT_LINEAR) ||
        (cfg->attention != REF_ATT_ADDITIVE && cfg->attention != REF_ATT_NONE))
        return VKNMT_ERR_USAGE;
    m->cfg = *cfg;
    layout(m, cfg);
    for (int i = 0; i < m->count; i++) {
        m->t[i].data = calloc(m->t[i].size, sizeof(double));
        if (!m->t[i].data) {
            ref_model_free(m);
            return VKNMT_ERR_OOM_HOST;
        }
    }
    return VKNMT_OK;
}

void ref_model_free(ref_model *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->count; i++) {
        free(m->t[i].data);
        m->t[i].data = NULL;
    }
    m->count = 0;
}

ref_tensor *ref_model_param(ref_model *m, const char *name)
{
    for (int i = 0; i < m->count; i++)
        if (strcmp(m->t[i].name, name) == 0)
            return &m->t[i];
    return NULL;
}

const ref_tensor *ref_model_cparam(const ref_model *m, const char *name)
{
    return ref_model_param((ref_model *)m, name);
}

size_t ref_model_param_count(const ref_model *m)
{
    size_t s = 0;
    for (int i = 0; i < m->count; i++)
        s += m->t[i].size;
    return s;
}

static const vknmt_st_tensor *shape2(const vknmt_st *st, const char *name, uint64_t *d0, uint64_t *d1)
{
    const vknmt_st_tensor *t = vknmt_st_find(st, name);
    if (!t || t->ndim != 2)
        return NULL;
    *d0 = t->shape[0];
    *d1 = t->shape[1];
    return t;
}

vknmt_status ref_model_load(const char *path, ref_model *m, char *err, size_t n)
{
    memset(m, 0, sizeof(*m));
    vknmt_st *st;
    vknmt_status s = vknmt_st_open(path, &st, err, n);
    if (s)
        return s;
    ref_config c = {0};
    uint64_t a, b;
    if (!shape2(st, "enc.emb", &a, &b)) {
        s = fail(err, n, VKNMT_ERR_INPUT, "%s: no 2-D tensor \"enc.emb\"", path);
        goto close;
    }
    c.Vs = (int)a;
    c.m = (int)b;
    if (!shape2(st, "enc.fwd.U", &a, &b)) {
        s = fail(err, n, VKNMT_ERR_INPUT, "%s: no 2-D tensor \"enc.fwd.U\"", path);
        goto close;
    }
    c.n = (int)b;
    if (!shape2(st, "dec.emb", &a, &b)) {
        s = fail(err, n, VKNMT_ERR_INPUT, "%s: no 2-D tensor \"dec.emb\"", path);
        goto close;
    }
    c.Vt = (int)a;
    c.attention = vknmt_st_find(st, "att.W") ? REF_ATT_ADDITIVE : REF_ATT_NONE;
    c.na = c.n;
    if (c.attention == REF_ATT_ADDITIVE && shape2(st, "att.W", &a, &b))
        c.na = (int)a;
    c.readout = vknmt_st_find(st, "out.U") ? REF_READOUT_MAXOUT : REF_READOUT_LINEAR;
    c.l = 0;
    if (c.readout == REF_READOUT_MAXOUT && shape2(st, "out.W", &a, &b))
        c.l = (int)b;
    s = ref_model_init(m, &c);
    if (s) {
        s = fail(err, n, s, "%s: inferred configuration is unusable (Vs %d Vt %d m %d n %d na %d l %d)", path, c.Vs,
                 c.Vt, c.m, c.n, c.na, c.l);
        goto close;
    }
    for (int i = 0; i < m->count; i++) {
        ref_tensor *t = &m->t[i];
        const vknmt_st_tensor *f = vknmt_st_find(st, t->name);
        if (!f) {
            s = fail(err, n, VKNMT_ERR_INPUT, "%s: tensor \"%s\" is missing", path, t->name);
            goto free_model;
        }
        bool ok = (int)f->ndim == t->ndim && f->shape[0] == (uint64_t)t->shape[0] &&
                  (t->ndim == 1 || f->shape[1] == (uint64_t)t->shape[1]);
        if (!ok) {
            s = fail(err, n, VKNMT_ERR_INPUT, "%s: tensor \"%s\" has the wrong shape (want [%d%s%.0d])", path,
                     t->name, t->shape[0], t->ndim == 2 ? ", " : "", t->ndim == 2 ? t->shape[1] : 0);
            goto free_model;
        }
        s = vknmt_st_to_f64(f, t->data, t->size, err, n);
        if (s)
            goto free_model;
    }
    vknmt_st_destroy(st);
    return VKNMT_OK;

free_model:
    ref_model_free(m);
close:
    vknmt_st_destroy(st);
    return s;
}

vknmt_status ref_model_save_f32(const ref_model *m, const char *path, char *err, size_t n)
{
    vknmt_st_writer *w;
    vknmt_status s = vknmt_st_writer_create(&w);
    if (s)
        return fail(err, n, s, "%s: cannot create a writer", path);
    const ref_config *c = &m->cfg;
    const char *ro = c->readout == REF_READOUT_MAXOUT ? "maxout" : "linear";
    const char *at = c->attention == REF_ATT_ADDITIVE ? "additive" : "none";
    char cfg[512], num[32];
    snprintf(cfg, sizeof(cfg),
             "{\"Vs\": %d, \"Vt\": %d, \"attention\": \"%s\", \"l\": %d, \"m\": %d, \"n\": %d, \"na\": %d, "
             "\"readout\": \"%s\"}",
             c->Vs, c->Vt, at, c->l, c->m, c->n, c->na, ro);
    s = vknmt_st_writer_set_metadata(w, "format", "rnnsearch");
    if (!s)
        s = vknmt_st_writer_set_metadata(w, "config", cfg);
    const char *keys[] = {"Vs", "Vt", "m", "n", "na", "l"};
    const int vals[] = {c->Vs, c->Vt, c->m, c->n, c->na, c->l};
    for (int i = 0; !s && i < 6; i++) {
        snprintf(num, sizeof(num), "%d", vals[i]);
        s = vknmt_st_writer_set_metadata(w, keys[i], num);
    }
    if (!s)
        s = vknmt_st_writer_set_metadata(w, "readout", ro);
    if (!s)
        s = vknmt_st_writer_set_metadata(w, "attention", at);
    for (int i = 0; !s && i < m->count; i++) {
        const ref_tensor *t = &m->t[i];
        float *f = malloc(t->size * sizeof(float));
        if (!f) {
            s = VKNMT_ERR_OOM_HOST;
            break;
        }
        for (size_t k = 0; k < t->size; k++)
            f[k] = (float)t->data[k];
        uint64_t shape[2] = {(uint64_t)t->shape[0], (uint64_t)t->shape[1]};
        s = vknmt_st_writer_add(w, t->name, VKNMT_ST_F32, (uint32_t)t->ndim, shape, f);
        free(f);
    }
    if (s)
        s = fail(err, n, s, "%s: %s", path, vknmt_st_writer_errmsg(w));
    else
        s = vknmt_st_writer_save(w, path, err, n);
    vknmt_st_writer_destroy(w);
    return s;
}

/* ------------------------------------------------------------------- batches */

vknmt_status ref_batch_init(ref_batch *b, int B, int Tx, int Ty)
{
    memset(b, 0, sizeof(*b));
    if (B < 1 || Tx < 1 || Ty < 1)
        return VKNMT_ERR_USAGE;
    b->B = B;
    b->Tx = Tx;
    b->Ty = Ty;
    b->src = calloc((size_t)B * (size_t)Tx, sizeof(int32_t));
    b->tgt = calloc((size_t)B * (size_t)Ty, sizeof(int32_t));
    b->src_len = calloc((size_t)B, sizeof(int32_t));
    b->tgt_len = calloc((size_t)B, sizeof(int32_t));
    if (!b->src || !b->tgt || !b->src_len || !b->tgt_len) {
        ref_batch_free(b);
        return VKNMT_ERR_OOM_HOST;
    }
    return VKNMT_OK;
}

void ref_batch_free(ref_batch *b)
{
    if (!b)
        return;
    free(b->src);
    free(b->tgt);
    free(b->src_len);
    free(b->tgt_len);
    memset(b, 0, sizeof(*b));
}

vknmt_status ref_batch_load(const char *path, ref_batch *b, char *err, size_t n)
{
    memset(b, 0, sizeof(*b));
    vknmt_st *st;
    vknmt_status s = vknmt_st_open(path, &st, err, n);
    if (s)
        return s;
    const vknmt_st_tensor *src = vknmt_st_find(st, "src"), *tgt = vknmt_st_find(st, "tgt");
    const vknmt_st_tensor *sl = vknmt_st_find(st, "src_len"), *tl = vknmt_st_find(st, "tgt_len");
    if (!src || !tgt || !sl || !tl || src->ndim != 2 || tgt->ndim != 2 || sl->ndim != 1 || tl->ndim != 1 ||
        src->shape[0] != tgt->shape[0] || sl->shape[0] != src->shape[0] || tl->shape[0] != src->shape[0] ||
        src->shape[0] > 1u << 24 || src->shape[1] > 1u << 24 || tgt->shape[1] > 1u << 24) {
        s = fail(err, n, VKNMT_ERR_INPUT,
                 "%s: want src [B,Tx], src_len [B], tgt [B,Ty], tgt_len [B] with one B", path);
        goto close;
    }
    s = ref_batch_init(b, (int)src->shape[0], (int)src->shape[1], (int)tgt->shape[1]);
    if (s) {
        s = fail(err, n, s, "%s: empty or too large batch", path);
        goto close;
    }
    s = vknmt_st_to_i32(src, b->src, src->numel, err, n);
    if (!s)
        s = vknmt_st_to_i32(tgt, b->tgt, tgt->numel, err, n);
    if (!s)
        s = vknmt_st_to_i32(sl, b->src_len, sl->numel, err, n);
    if (!s)
        s = vknmt_st_to_i32(tl, b->tgt_len, tl->numel, err, n);
    if (s)
        ref_batch_free(b);
close:
    vknmt_st_destroy(st);
    return s;
}

vknmt_status ref_batch_check(const ref_batch *b, const ref_config *c, char *err, size_t n)
{
    for (int k = 0; k < b->B; k++) {
        int sl = b->src_len[k], tl = b->tgt_len[k];
        if (sl < 1 || sl > b->Tx || tl < 1 || tl > b->Ty)
            return fail(err, n, VKNMT_ERR_INPUT, "batch sentence %d: lengths %d/%d outside 1..%d/1..%d", k, sl, tl,
                        b->Tx, b->Ty);
        for (int j = 0; j < sl; j++) {
            int id = b->src[(size_t)k * b->Tx + j];
            if (id < 0 || id >= c->Vs)
                return fail(err, n, VKNMT_ERR_INPUT, "batch sentence %d: source id %d at %d outside 0..%d", k, id,
                            j, c->Vs - 1);
        }
        for (int i = 0; i < tl; i++) {
            int id = b->tgt[(size_t)k * b->Ty + i];
            if (id < 0 || id >= c->Vt)
                return fail(err, n, VKNMT_ERR_INPUT, "batch sentence %d: target id %d at %d outside 0..%d", k, id,
                            i, c->Vt - 1);
        }
    }
    return VKNMT_OK;
}

/* ------------------------------------------------------------- linear algebra */

/* y += W x, W [rows, cols] */
static void mv(const double *W, int rows, int cols, const double *x, double *y)
{
    for (int i = 0; i < rows; i++) {
        double s = 0;
        const double *w = W + (size_t)i * cols;
        for (int j = 0; j < cols; j++)
            s += w[j] * x[j];
        y[i] += s;
    }
}

/* dx += W^T dy */
static void mtv(const double *W, int rows, int cols, const double *dy, double *dx)
{
    for (int i = 0; i < rows; i++) {
        const double *w = W + (size_t)i * cols;
        for (int j = 0; j < cols; j++)
            dx[j] += w[j] * dy[i];
    }
}

/* G += dy x^T */
static void outer(double *G, int rows, int cols, const double *dy, const double *x)
{
    for (int i = 0; i < rows; i++) {
        double *g = G + (size_t)i * cols;
        for (int j = 0; j < cols; j++)
            g[j] += dy[i] * x[j];
    }
}

static void axpy(int n, double a, const double *x, double *y)
{
    for (int i = 0; i < n; i++)
        y[i] += a * x[i];
}

static double sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* The paper's GRU (spec, "GRU cell"). a [3n] = input projection incl. bias,
 * gate order r, z, h~; h [n] previous state; U [3n, n]. Keeps r, z, h~. */
static void gru_fwd(const double *a, const double *h, const double *U, int n, double *r, double *z, double *hh,
                    double *out, double *q)
{
    for (int i = 0; i < n; i++) {
        double sr = a[i], sz = a[n + i];
        const double *ur = U + (size_t)i * n, *uz = U + (size_t)(n + i) * n;
        for (int j = 0; j < n; j++) {
            sr += ur[j] * h[j];
            sz += uz[j] * h[j];
        }
        r[i] = sigmoid(sr);
        z[i] = sigmoid(sz);
        q[i] = r[i] * h[i];
    }
    for (int i = 0; i < n; i++) {
        double s = a[2 * n + i];
        const double *uh = U + (size_t)(2 * n + i) * n;
        for (int j = 0; j < n; j++)
            s += uh[j] * q[j];
        hh[i] = tanh(s);
        out[i] = (1 - z[i]) * h[i] + z[i] * hh[i];
    }
}

/* Reverse of gru_fwd: given dout, writes da [3n], adds to dh [n] and dU. */
static void gru_bwd(const double *h, const double *U, int n, const double *r, const double *z, const double *hh,
                    const double *dout, double *da, double *dh, double *dU, double *q, double *dq)
{
    double *dar = da, *daz = da + n, *dah = da + 2 * n;
    for (int i = 0; i < n; i++) {
        q[i] = r[i] * h[i];
        dq[i] = 0;
        dah[i] = dout[i] * z[i] * (1 - hh[i] * hh[i]);
        daz[i] = dout[i] * (hh[i] - h[i]) * z[i] * (1 - z[i]);
        dh[i] += dout[i] * (1 - z[i]);
    }
    outer(dU + (size_t)2 * n * n, n, n, dah, q);
    mtv(U + (size_t)2 * n * n, n, n, dah, dq);
    for (int i = 0; i < n; i++) {
        dar[i] = dq[i] * h[i] * r[i] * (1 - r[i]);
        dh[i] += dq[i] * r[i];
    }
    outer(dU, 2 * n, n, da, h);
    mtv(U, 2 * n, n, da, dh);
}

/* ------------------------------------------------------------ forward/backward */

/* The parameters (or gradients) by role. */
typedef struct roles {
    double *enc_emb, *eW[2], *eU[2], *eb[2], *initW, *initb;
    double *attW, *attU, *attb, *attv;
    double *dec_emb, *dW, *dU, *dC, *db;
    double *oU, *oV, *oC, *ob, *oW, *obW;
} roles;

static double *get(const ref_model *m, const char *name)
{
    const ref_tensor *t = ref_model_cparam(m, name);
    return t ? t->data : NULL;
}

static roles roles_of(const ref_model *m)
{
    roles r = {
        .enc_emb = get(m, "enc.emb"),
        .eW = {get(m, "enc.fwd.W"), get(m, "enc.bwd.W")},
        .eU = {get(m, "enc.fwd.U"), get(m, "enc.bwd.U")},
        .eb = {get(m, "enc.fwd.b"), get(m, "enc.bwd.b")},
        .initW = get(m, "dec.init.W"),
        .initb = get(m, "dec.init.b"),
        .attW = get(m, "att.W"),
        .attU = get(m, "att.U"),
        .attb = get(m, "att.b"),
        .attv = get(m, "att.v"),
        .dec_emb = get(m, "dec.emb"),
        .dW = get(m, "dec.W"),
        .dU = get(m, "dec.U"),
        .dC = get(m, "dec.C"),
        .db = get(m, "dec.b"),
        .oU = get(m, "out.U"),
        .oV = get(m, "out.V"),
        .oC = get(m, "out.C"),
        .ob = get(m, "out.b"),
        .oW = get(m, "out.W"),
        .obW = get(m, "out.bW"),
    };
    return r;
}

/* Scratch for one sentence of at most T source and S target words. */
typedef struct work {
    /* encoder, per direction: states and gates [T, n] */
    double *eh[2], *er[2], *ez[2], *ehh[2];
    double *H;           /* [T, 2n] annotations */
    double *K;           /* [T, na] att.U h_j + att.b */
    double *u;           /* [S, T, na] tanh(K_j + att.W s_{i-1}) */
    double *alpha;       /* [S, T] */
    double *s;           /* [S+1, n]: s_0 .. s_S */
    double *dr, *dz, *dhh; /* decoder gates [S, n] */
    double *c;           /* [S, 2n] contexts */
    double *tt;          /* [S, 2l] maxout pre-activations */
    double *t;           /* [S, l] maxout outputs, or [S, 3n+m] linear readout input */
    int *arg;            /* [S, l] 0 or 1: which of the pair won */
    double *p;           /* [S, Vt] probabilities */
    /* backward */
    double *dH, *dK, *dcfix;
    double *zero, *a, *q, *q2, *vec, *dvec, *dl, *dtt, *ds, *dsp, *dc, *dey, *da, *datt, *e;
    double *block;       /* owned: everything above points into it */
    int *iblock;         /* owned: arg */
} work;

static bool work_alloc(work *w, const ref_config *c, int T, int S)
{
    size_t n = (size_t)c->n, na = (size_t)(c->attention == REF_ATT_ADDITIVE ? c->na : 1), l = (size_t)c->l;
    size_t lin = 3 * n + (size_t)c->m, V = (size_t)c->Vt, Tn = (size_t)T, Sn = (size_t)S;
    size_t tw = c->readout == REF_READOUT_MAXOUT ? l : lin;
    size_t big = 3 * n + lin + V + 2 * l + na + Tn; /* bound on every scratch vector */
    size_t total = 8 * Tn * n + Tn * 2 * n + Tn * na + Sn * Tn * na + Sn * Tn + (Sn + 1) * n + 3 * Sn * n +
                   Sn * 2 * n + Sn * 2 * l + Sn * tw + Sn * V + Tn * 2 * n + Tn * na + 2 * n + 16 * big;
    memset(w, 0, sizeof(*w));
    w->block = calloc(total, sizeof(double));
    w->iblock = calloc(Sn * l + 1, sizeof(int));
    if (!w->block || !w->iblock) {
        free(w->block);
        free(w->iblock);
        return false;
    }
    double *p = w->block;
#define TAKE(field, count) (w->field = p, p += (count))
    for (int d = 0; d < 2; d++) {
        TAKE(eh[d], Tn * n);
        TAKE(er[d], Tn * n);
        TAKE(ez[d], Tn * n);
        TAKE(ehh[d], Tn * n);
    }
    TAKE(H, Tn * 2 * n);
    TAKE(K, Tn * na);
    TAKE(u, Sn * Tn * na);
    TAKE(alpha, Sn * Tn);
    TAKE(s, (Sn + 1) * n);
    TAKE(dr, Sn * n);
    TAKE(dz, Sn * n);
    TAKE(dhh, Sn * n);
    TAKE(c, Sn * 2 * n);
    TAKE(tt, Sn * 2 * l);
    TAKE(t, Sn * tw);
    TAKE(p, Sn * V);
    TAKE(dH, Tn * 2 * n);
    TAKE(dK, Tn * na);
    TAKE(dcfix, 2 * n);
    TAKE(zero, big);
    TAKE(a, big);
    TAKE(q, big);
    TAKE(q2, big);
    TAKE(vec, big);
    TAKE(dvec, big);
    TAKE(dl, big);
    TAKE(dtt, big);
    TAKE(ds, big);
    TAKE(dsp, big);
    TAKE(dc, big);
    TAKE(dey, big);
    TAKE(da, big);
    TAKE(datt, big);
    TAKE(e, big);
#undef TAKE
    w->arg = w->iblock;
    return true;
}

static void work_free(work *w)
{
    free(w->block);
    free(w->iblock);
}

/* Dropout on the readout of sentence `b` of a batch of `B` (NULL: none). */
typedef struct drop_ctx {
    const vknmt_dropout_key *key;
    int b, B;
} drop_ctx;

/* Multiplies v[0..width) of target word i by its mask (the forward's
 * values, and on the way back their gradient). */
static void drop_apply(const drop_ctx *d, int i, int width, double *v)
{
    if (!d->key)
        return;
    uint32_t base = (uint32_t)(((uint64_t)i * (uint64_t)d->B + (uint64_t)d->b) * (uint64_t)width);
    for (int j = 0; j < width; j++)
        v[j] *= vknmt_dropout_keep(d->key, base + (uint32_t)j) ? (double)d->key->scale : 0.0;
}

/* One sentence: returns its summed NLL and writes the token NLLs to nll[0..S).
 * With G, adds scale * d(summed NLL)/d(param) to G. */
static double sentence(const ref_config *c, const roles *P, const int32_t *src, int T, const int32_t *tgt, int S,
                       double *nll, const roles *G, double scale, work *w, const drop_ctx *drop)
{
    const int n = c->n, m = c->m, na = c->na, l = c->l, V = c->Vt, n2 = 2 * n, n3 = 3 * n;
    const bool att = c->attention == REF_ATT_ADDITIVE, maxout = c->readout == REF_READOUT_MAXOUT;
    const int lin = n3 + m;

    /* encoder: forward j = 0..T-1, backward j = T-1..0, from 0 */
    for (int d = 0; d < 2; d++)
        for (int k = 0; k < T; k++) {
            int j = d == 0 ? k : T - 1 - k;
            const double *prev = k == 0 ? w->zero : w->eh[d] + (size_t)(d == 0 ? j - 1 : j + 1) * n;
            const double *x = P->enc_emb + (size_t)src[j] * m;
            memcpy(w->a, P->eb[d], sizeof(double) * n3);
            mv(P->eW[d], n3, m, x, w->a);
            size_t o = (size_t)j * n;
            gru_fwd(w->a, prev, P->eU[d], n, w->er[d] + o, w->ez[d] + o, w->ehh[d] + o, w->eh[d] + o, w->q);
        }
    for (int j = 0; j < T; j++) {
        memcpy(w->H + (size_t)j * n2, w->eh[0] + (size_t)j * n, sizeof(double) * n);
        memcpy(w->H + (size_t)j * n2 + n, w->eh[1] + (size_t)j * n, sizeof(double) * n);
    }
    const double *bwd1 = w->eh[1], *fwdT = w->eh[0] + (size_t)(T - 1) * n;

    /* s_0 = tanh(dec.init.W bwd_1 + dec.init.b) */
    memcpy(w->s, P->initb, sizeof(double) * n);
    mv(P->initW, n, n, bwd1, w->s);
    for (int i = 0; i < n; i++)
        w->s[i] = tanh(w->s[i]);

    if (att)
        for (int j = 0; j < T; j++) {
            double *k = w->K + (size_t)j * na;
            memcpy(k, P->attb, sizeof(double) * na);
            mv(P->attU, na, n2, w->H + (size_t)j * n2, k);
        }

    double total = 0;
    for (int i = 0; i < S; i++) {
        const int yp = i ? tgt[i - 1] : REF_BOS;
        const double *ey = P->dec_emb + (size_t)yp * m;
        const double *sp = w->s + (size_t)i * n;
        double *sn = w->s + (size_t)(i + 1) * n, *ci = w->c + (size_t)i * n2;

        /* context */
        if (att) {
            double *qa = w->q2, *al = w->alpha + (size_t)i * T;
            memset(qa, 0, sizeof(double) * na);
            mv(P->attW, na, n, sp, qa);
            double emax = -INFINITY;
            for (int j = 0; j < T; j++) {
                double *u = w->u + ((size_t)i * T + j) * na, e = 0;
                const double *k = w->K + (size_t)j * na;
                for (int h = 0; h < na; h++) {
                    u[h] = tanh(k[h] + qa[h]);
                    e += P->attv[h] * u[h];
                }
                al[j] = e;
                if (e > emax)
                    emax = e;
            }
            double z = 0;
            for (int j = 0; j < T; j++)
                z += (al[j] = exp(al[j] - emax));
            memset(ci, 0, sizeof(double) * n2);
            for (int j = 0; j < T; j++) {
                al[j] /= z;
                axpy(n2, al[j], w->H + (size_t)j * n2, ci);
            }
        } else {
            memcpy(ci, fwdT, sizeof(double) * n);
            memcpy(ci + n, bwd1, sizeof(double) * n);
        }

        /* decoder GRU: gates get dec.W E y_{i-1} + dec.C c_i + dec.b */
        memcpy(w->a, P->db, sizeof(double) * n3);
        mv(P->dW, n3, m, ey, w->a);
        mv(P->dC, n3, n2, ci, w->a);
        size_t o = (size_t)i * n;
        gru_fwd(w->a, sp, P->dU, n, w->dr + o, w->dz + o, w->dhh + o, sn, w->q);

        /* readout from the new state s_i */
        double *lg = w->p + (size_t)i * V;
        memcpy(lg, P->obW, sizeof(double) * V);
        if (maxout) {
            double *tt = w->tt + (size_t)i * 2 * l, *t = w->t + (size_t)i * l;
            int *arg = w->arg + (size_t)i * l;
            memcpy(tt, P->ob, sizeof(double) * 2 * l);
            mv(P->oU, 2 * l, n, sn, tt);
            mv(P->oV, 2 * l, m, ey, tt);
            mv(P->oC, 2 * l, n2, ci, tt);
            for (int k = 0; k < l; k++) {
                arg[k] = tt[2 * k + 1] > tt[2 * k];
                t[k] = tt[2 * k + arg[k]];
            }
            drop_apply(drop, i, l, t);
            mv(P->oW, V, l, t, lg);
        } else {
            double *v = w->t + (size_t)i * lin;
            memcpy(v, sn, sizeof(double) * n);
            memcpy(v + n, ci, sizeof(double) * n2);
            memcpy(v + n3, ey, sizeof(double) * m);
            drop_apply(drop, i, lin, v);
            mv(P->oW, V, lin, v, lg);
        }
        double lmax = -INFINITY, z = 0;
        for (int k = 0; k < V; k++)
            if (lg[k] > lmax)
                lmax = lg[k];
        for (int k = 0; k < V; k++)
            z += exp(lg[k] - lmax);
        double lse = lmax + log(z);
        nll[i] = lse - lg[tgt[i]];
        total += nll[i];
        for (int k = 0; k < V; k++)
            lg[k] = exp(lg[k] - lse);
    }
    if (!G)
        return total;

    /* ---------------- reverse pass ---------------- */
    memset(w->dH, 0, sizeof(double) * (size_t)T * n2);
    if (att)
        memset(w->dK, 0, sizeof(double) * (size_t)T * na);
    memset(w->dcfix, 0, sizeof(double) * n2);
    double *ds = w->ds; /* d/d s_{i+1}, carried from step i+1 */
    memset(ds, 0, sizeof(double) * n);
    for (int i = S - 1; i >= 0; i--) {
        const int yp = i ? tgt[i - 1] : REF_BOS;
        const double *ey = P->dec_emb + (size_t)yp * m;
        const double *sp = w->s + (size_t)i * n, *sn = w->s + (size_t)(i + 1) * n, *ci = w->c + (size_t)i * n2;
        double *dl = w->dl, *dc = w->dc, *dey = w->dey;
        memset(dc, 0, sizeof(double) * n2);
        memset(dey, 0, sizeof(double) * m);

        /* softmax cross-entropy */
        const double *pr = w->p + (size_t)i * V;
        for (int k = 0; k < V; k++)
            dl[k] = scale * pr[k];
        dl[tgt[i]] -= scale;
        axpy(V, 1, dl, G->obW);

        /* readout */
        if (maxout) {
            const double *t = w->t + (size_t)i * l;
            const int *arg = w->arg + (size_t)i * l;
            double *dt = w->dvec, *dtt = w->dtt;
            outer(G->oW, V, l, dl, t);
            memset(dt, 0, sizeof(double) * l);
            mtv(P->oW, V, l, dl, dt);
            drop_apply(drop, i, l, dt);
            memset(dtt, 0, sizeof(double) * 2 * l);
            for (int k = 0; k < l; k++)
                dtt[2 * k + arg[k]] = dt[k];
            axpy(2 * l, 1, dtt, G->ob);
            outer(G->oU, 2 * l, n, dtt, sn);
            outer(G->oV, 2 * l, m, dtt, ey);
            outer(G->oC, 2 * l, n2, dtt, ci);
            mtv(P->oU, 2 * l, n, dtt, ds);
            mtv(P->oV, 2 * l, m, dtt, dey);
            mtv(P->oC, 2 * l, n2, dtt, dc);
        } else {
            const double *v = w->t + (size_t)i * lin;
            double *dv = w->dvec;
            outer(G->oW, V, lin, dl, v);
            memset(dv, 0, sizeof(double) * lin);
            mtv(P->oW, V, lin, dl, dv);
            drop_apply(drop, i, lin, dv);
            axpy(n, 1, dv, ds);
            axpy(n2, 1, dv + n, dc);
            axpy(m, 1, dv + n3, dey);
        }

        /* decoder GRU */
        double *dsp = w->dsp, *da = w->da;
        memset(dsp, 0, sizeof(double) * n);
        size_t o = (size_t)i * n;
        gru_bwd(sp, P->dU, n, w->dr + o, w->dz + o, w->dhh + o, ds, da, dsp, G->dU, w->q, w->q2);
        axpy(n3, 1, da, G->db);
        outer(G->dW, n3, m, da, ey);
        outer(G->dC, n3, n2, da, ci);
        mtv(P->dW, n3, m, da, dey);
        mtv(P->dC, n3, n2, da, dc);
        axpy(m, 1, dey, G->dec_emb + (size_t)yp * m);

        /* context */
        if (att) {
            const double *al = w->alpha + (size_t)i * T;
            double *dal = w->e, *dq = w->datt, sum = 0;
            for (int j = 0; j < T; j++) {
                const double *h = w->H + (size_t)j * n2;
                double d = 0;
                for (int k = 0; k < n2; k++)
                    d += dc[k] * h[k];
                dal[j] = d;
                sum += al[j] * d;
                axpy(n2, al[j], dc, w->dH + (size_t)j * n2);
            }
            memset(dq, 0, sizeof(double) * na);
            for (int j = 0; j < T; j++) {
                double de = al[j] * (dal[j] - sum);
                const double *u = w->u + ((size_t)i * T + j) * na;
                double *dk = w->dK + (size_t)j * na;
                for (int h = 0; h < na; h++) {
                    G->attv[h] += de * u[h];
                    double dpre = de * P->attv[h] * (1 - u[h] * u[h]);
                    dk[h] += dpre;
                    dq[h] += dpre;
                }
            }
            outer(G->attW, na, n, dq, sp);
            mtv(P->attW, na, n, dq, dsp);
        } else {
            axpy(n2, 1, dc, w->dcfix);
        }
        memcpy(ds, dsp, sizeof(double) * n); /* now d/d s_i */
    }

    /* s_0 */
    double *dpre = w->dvec;
    for (int k = 0; k < n; k++)
        dpre[k] = ds[k] * (1 - w->s[k] * w->s[k]);
    outer(G->initW, n, n, dpre, bwd1);
    axpy(n, 1, dpre, G->initb);
    mtv(P->initW, n, n, dpre, w->dH + n); /* bwd_1 is the second half of h_1 */

    if (att)
        for (int j = 0; j < T; j++) {
            const double *dk = w->dK + (size_t)j * na;
            outer(G->attU, na, n2, dk, w->H + (size_t)j * n2);
            axpy(na, 1, dk, G->attb);
            mtv(P->attU, na, n2, dk, w->dH + (size_t)j * n2);
        }
    else {
        axpy(n, 1, w->dcfix, w->dH + (size_t)(T - 1) * n2);
        axpy(n, 1, w->dcfix + n, w->dH + n);
    }

    /* encoder, each direction in reverse of its order */
    for (int d = 0; d < 2; d++) {
        double *carry = w->dsp, *dh = w->ds, *da = w->da;
        memset(carry, 0, sizeof(double) * n);
        for (int k = T - 1; k >= 0; k--) {
            int j = d == 0 ? k : T - 1 - k;
            const double *prev = k == 0 ? w->zero : w->eh[d] + (size_t)(d == 0 ? j - 1 : j + 1) * n;
            const double *x = P->enc_emb + (size_t)src[j] * m;
            for (int i = 0; i < n; i++)
                dh[i] = w->dH[(size_t)j * n2 + (size_t)d * n + i] + carry[i];
            memset(carry, 0, sizeof(double) * n);
            size_t o = (size_t)j * n;
            gru_bwd(prev, P->eU[d], n, w->er[d] + o, w->ez[d] + o, w->ehh[d] + o, dh, da, carry, G->eU[d], w->q,
                    w->q2);
            axpy(n3, 1, da, G->eb[d]);
            outer(G->eW[d], n3, m, da, x);
            mtv(P->eW[d], n3, m, da, G->enc_emb + (size_t)src[j] * m);
        }
    }
    return total;
}

void ref_grads_free(ref_grads *g)
{
    if (!g)
        return;
    free(g->nll);
    g->nll = NULL;
    g->nll_B = g->nll_Ty = 0;
    ref_model_free(&g->grad);
}

static vknmt_status run(const ref_model *m, const ref_batch *b, ref_grads *out, bool backward,
                        const vknmt_dropout_key *key, char *err, size_t n)
{
    vknmt_status s = ref_batch_check(b, &m->cfg, err, n);
    if (s)
        return s;
    if (!out->nll || out->nll_B != b->B || out->nll_Ty != b->Ty) {
        free(out->nll);
        out->nll = calloc((size_t)b->B * (size_t)b->Ty, sizeof(double));
        if (!out->nll)
            return fail(err, n, VKNMT_ERR_OOM_HOST, "out of memory");
        out->nll_B = b->B;
        out->nll_Ty = b->Ty;
    }
    memset(out->nll, 0, sizeof(double) * (size_t)b->B * (size_t)b->Ty);
    if (backward) {
        ref_model_free(&out->grad);
        s = ref_model_init(&out->grad, &m->cfg);
        if (s)
            return fail(err, n, s, "cannot allocate the gradient");
    }
    int T = 1, S = 1;
    for (int k = 0; k < b->B; k++) {
        if (b->src_len[k] > T)
            T = b->src_len[k];
        if (b->tgt_len[k] > S)
            S = b->tgt_len[k];
    }
    work w;
    if (!work_alloc(&w, &m->cfg, T, S))
        return fail(err, n, VKNMT_ERR_OOM_HOST, "out of memory");
    roles P = roles_of(m), G = {0};
    if (backward)
        G = roles_of(&out->grad);
    double total = 0;
    long ntok = 0;
    for (int k = 0; k < b->B; k++) {
        drop_ctx d = {key, k, b->B};
        total += sentence(&m->cfg, &P, b->src + (size_t)k * b->Tx, b->src_len[k], b->tgt + (size_t)k * b->Ty,
                          b->tgt_len[k], out->nll + (size_t)k * b->Ty, backward ? &G : NULL, 1.0 / b->B, &w, &d);
        ntok += b->tgt_len[k];
    }
    work_free(&w);
    out->loss = total / b->B;
    out->ce = total / (double)ntok;
    out->ntok = ntok;
    return VKNMT_OK;
}

vknmt_status ref_model_loss(const ref_model *m, const ref_batch *b, ref_grads *out, char *err, size_t n)
{
    return run(m, b, out, false, NULL, err, n);
}

vknmt_status ref_model_loss_grad(const ref_model *m, const ref_batch *b, ref_grads *out, char *err, size_t n)
{
    return run(m, b, out, true, NULL, err, n);
}

vknmt_status ref_model_loss_dropout(const ref_model *m, const ref_batch *b, const vknmt_dropout_key *key,
                                    ref_grads *out, char *err, size_t n)
{
    return run(m, b, out, false, key, err, n);
}

vknmt_status ref_model_loss_grad_dropout(const ref_model *m, const ref_batch *b, const vknmt_dropout_key *key,
                                         ref_grads *out, char *err, size_t n)
{
    return run(m, b, out, true, key, err, n);
}

vknmt_status ref_fixture_path(const char *file, char *out, size_t n)
{
    const char *shared = getenv("VKNMT_SHARED");
    int k;
    if (shared && shared[0]) {
        k = snprintf(out, n, "%s/fixtures/%s", shared, file);
    } else {
        /* this file is <root>/main/tests/ref_model.c; shared/ is <root>/shared */
        const char *self = __FILE__, *slash = strrchr(self, '/');
        int dir = slash ? (int)(slash - self) : 1;
        k = snprintf(out, n, "%.*s/../../shared/fixtures/%s", dir, slash ? self : ".", file);
    }
    return k > 0 && (size_t)k < n ? VKNMT_OK : VKNMT_ERR_USAGE;
}
