/* The device model: parameter and gradient buffers, the per-batch
 * workspace, batch upload, and one loss (+ gradient) submission. */
#include <stdlib.h>
#include <string.h>

#include "embed.h"
#include "model_internal.h"
#include "vknmt_kernel.h"

/* The logits of this many target words exist at once (rows x Vt floats):
 * the full [words x Vt] matrix would exceed storage ranges and phone memory. */
#define LOGIT_FLOATS (4u << 20)

vknmt_ref vknmt_model_param(const vknmt_model *m, const char *name)
{
    return vknmt_at(m->params, vknmt_param_find(&m->lay, name)->offset);
}

vknmt_ref vknmt_model_grad(const vknmt_model *m, const char *name)
{
    return vknmt_at(m->grads, vknmt_param_find(&m->lay, name)->offset);
}

vknmt_status vknmt_mm(vknmt_seq *seq, uint32_t m, uint32_t n, uint32_t k, vknmt_ref a, uint32_t lda, bool ta,
                      vknmt_ref b, uint32_t ldb, bool tb, vknmt_ref c, uint32_t ldc, float beta)
{
    vknmt_gemm_args g = {.m = m, .n = n, .k = k, .trans_a = ta, .trans_b = tb, .alpha = 1, .beta = beta,
                         .a = a, .b = b, .c = c, .lda = lda, .ldb = ldb, .ldc = ldc};
    return vknmt_gemm(seq, &g);
}

vknmt_status vknmt_model_create(vknmt_context *ctx, const vknmt_model_config *cfg, vknmt_model **out)
{
    *out = NULL;
    vknmt_model *m = calloc(1, sizeof(*m));
    if (!m)
        return VKNMT_ERR_OOM_HOST;
    m->ctx = ctx;
    m->cfg = *cfg;
    vknmt_param_layout_make(cfg, &m->lay);
    vknmt_status s;
    if ((s = vknmt_buffer_create(ctx, m->lay.total * 4, &m->params)) ||
        (s = vknmt_buffer_create(ctx, m->lay.total * 4, &m->grads)) || (s = vknmt_seq_create(ctx, &m->seq))) {
        vknmt_model_destroy(m);
        return s;
    }
    *out = m;
    return VKNMT_OK;
}

void vknmt_model_destroy(vknmt_model *m)
{
    if (!m)
        return;
    vknmt_seq_destroy(m->seq);
    vknmt_buffer_destroy(m->dec_work);
    vknmt_buffer_destroy(m->word_table);
    vknmt_buffer_destroy(m->panels);
    vknmt_buffer_destroy(m->train_stats);
    vknmt_buffer_destroy(m->state1);
    vknmt_buffer_destroy(m->state2);
    vknmt_buffer_destroy(m->work);
    vknmt_buffer_destroy(m->grads);
    vknmt_buffer_destroy(m->params);
    free(m);
}

const vknmt_model_config *vknmt_model_config_get(const vknmt_model *m) { return &m->cfg; }
const vknmt_param_layout *vknmt_model_layout(const vknmt_model *m) { return &m->lay; }
vknmt_seq_stats vknmt_model_last_stats(const vknmt_model *m) { return m->last_stats; }

vknmt_status vknmt_model_params_upload(vknmt_model *m, const float *flat)
{
    m->tables_fresh = false;
    return vknmt_buffer_upload(m->params, 0, flat, m->lay.total * 4);
}

vknmt_status vknmt_model_params_download(vknmt_model *m, float *flat)
{
    return vknmt_buffer_download(m->params, 0, flat, m->lay.total * 4);
}

vknmt_status vknmt_model_grads_download(vknmt_model *m, float *flat)
{
    return vknmt_buffer_download(m->grads, 0, flat, m->lay.total * 4);
}

/* Lays the workspace out for batch b, source x, target y, and sr >= b rows
 * in one decoder step (b, or beam search's hypotheses) (or, with `buf`
 * NULL, only counts the floats it needs). */
static uint64_t layout_ws(vknmt_model *m, vknmt_buffer *buf, uint32_t b, uint32_t x, uint32_t y, uint32_t sr)
{
    const vknmt_model_config *c = &m->cfg;
    uint64_t at = 0, xb = (uint64_t)x * b, yb = (uint64_t)y * b, n = c->n;
    vknmt_ws *w = &m->w;
#define TAKE(field, count)                                   \
    do {                                                     \
        w->field = vknmt_at(buf, at);                        \
        at += ((uint64_t)(count) + 63) / 64 * 64;            \
    } while (0)
    /* What beam search indexes per hypothesis row takes sr >= b rows: the
     * lengths, src_order (its row-to-sentence table), the GRU's recurrent
     * products hu and hu_h. */
    TAKE(src, xb);
    TAKE(tgt_in, yb);
    TAKE(tgt_out, yb);
    TAKE(src_len, sr);
    TAKE(tgt_len, sr);
    TAKE(src_order, xb > sr ? xb : sr);
    TAKE(src_starts, xb + 1);
    TAKE(src_uniq, xb);
    TAKE(tgt_order, yb);
    TAKE(tgt_starts, yb + 1);
    TAKE(tgt_uniq, yb);
    TAKE(weight, yb);
    TAKE(ones, (x > y ? xb : yb));
    TAKE(xemb, xb * c->m);
    for (int d = 0; d < 2; d++) {
        TAKE(a[d], xb * 3 * n);
        TAKE(gates[d], xb * 3 * n);
        TAKE(rh[d], xb * n);
        TAKE(hs[d], (xb + b) * n);
        TAKE(dhs[d], xb * n);
        /* The backward pass never reads the input projections, only the
         * gates: their gradient takes their place. */
        w->da[d] = w->a[d];
    }
    TAKE(h, xb * 2 * n);
    TAKE(uh, xb * c->na);
    TAKE(hu, (uint64_t)sr * 2 * n);
    TAKE(hu_h, (uint64_t)sr * n);
    TAKE(ey, yb * c->m);
    TAKE(pe, (yb < VKNMT_FEW_ROWS ? yb : VKNMT_FEW_ROWS) * (uint64_t)vknmt_word_table_width(m));
    TAKE(adec, yb * 3 * n);
    TAKE(gdec, yb * 3 * n);
    TAKE(rhdec, yb * n);
    TAKE(s, (yb + b) * n);
    TAKE(ws, yb * c->na);
    TAKE(alpha, yb * x);
    TAKE(ctx, yb * 2 * n);
    bool maxout = c->readout == VKNMT_READOUT_MAXOUT;
    TAKE(tt, maxout ? yb * 2 * c->l : 0);
    TAKE(t, maxout ? yb * c->l : yb * (3 * n + c->m)); /* linear: the readout input, for dropout */
    TAKE(logits, (uint64_t)m->chunk_rows * vknmt_logits_ld(c));
    TAKE(nll, yb);
    TAKE(loss, 1);
    TAKE(scratch, vknmt_reduce_scratch_elems(yb));
    TAKE(ds, (yb + b) * n);
    TAKE(dctx, yb * 2 * n);
    TAKE(dey, yb * c->m);
    TAKE(dt, yb * c->l);
    TAKE(dtt, yb * 2 * c->l);
    w->dadec = w->adec; /* as the encoder's: adec is not read backward */
    TAKE(dws, yb * c->na);
    TAKE(dvp, yb * c->na);
    TAKE(duh, xb * c->na);
    TAKE(de, xb);
    TAKE(dh, xb * 2 * n);
    TAKE(dxemb, xb * c->m);
    TAKE(dctx_sum, (uint64_t)b * 2 * n);
    TAKE(tmp, (uint64_t)b * n);
    TAKE(drh, (uint64_t)b * n);
    TAKE(da0, (uint64_t)b * n);
#undef TAKE
    return at;
}

/* Makes the workspace big enough for the batch; it only ever grows, so
 * steps after the first allocate nothing. */
static vknmt_status ensure_ws(vknmt_model *m, uint32_t b, uint32_t x, uint32_t y, uint32_t sr)
{
    m->chunk_rows = LOGIT_FLOATS / m->cfg.vt;
    if (m->chunk_rows == 0)
        m->chunk_rows = 1;
    if (m->chunk_rows > y * b)
        m->chunk_rows = y * b;
    if (m->work && b <= m->cap_b && x <= m->cap_x && y <= m->cap_y && sr <= m->cap_sr) {
        layout_ws(m, m->work, b, x, y, sr);
        return VKNMT_OK;
    }
    uint32_t nb = b > m->cap_b ? b : m->cap_b, nx = x > m->cap_x ? x : m->cap_x, ny = y > m->cap_y ? y : m->cap_y,
             nsr = sr > m->cap_sr ? sr : m->cap_sr;
    uint32_t keep = m->chunk_rows;
    m->chunk_rows = LOGIT_FLOATS / m->cfg.vt ? LOGIT_FLOATS / m->cfg.vt : 1;
    if (m->chunk_rows > ny * nb)
        m->chunk_rows = ny * nb;
    uint64_t floats = layout_ws(m, NULL, nb, nx, ny, nsr);
    vknmt_buffer_destroy(m->work);
    m->work = NULL;
    vknmt_status s = vknmt_buffer_create(m->ctx, floats * 4, &m->work);
    if (s)
        return s;
    m->cap_b = nb;
    m->cap_x = nx;
    m->cap_y = ny;
    m->cap_sr = nsr;
    m->chunk_rows = keep;
    layout_ws(m, m->work, b, x, y, sr);
    return VKNMT_OK;
}

static vknmt_status upload_ints(vknmt_ref at, const int32_t *v, uint64_t n)
{
    return vknmt_buffer_upload(at.buf, at.off * 4, v, n * 4);
}

/* Converts the batch to the device's time-major layout with the decoder's
 * inputs (<s>, then the target shifted), loss weights and embedding CSRs. */
static vknmt_status upload_batch(vknmt_model *m, const vknmt_batch *bt)
{
    uint32_t b = bt->batch, x = bt->tx, y = bt->ty;
    uint64_t xb = (uint64_t)x * b, yb = (uint64_t)y * b, most = xb > yb ? xb : yb;
    /* order, uniq and starts serve both CSRs: room for the longer side (a
     * target longer than its source overlapped them before) */
    int32_t *ints = malloc((xb + 2 * yb + 3 * most + 1) * sizeof(int32_t));
    float *f = malloc((yb + (x > y ? xb : yb)) * sizeof(float));
    if (!ints || !f) {
        free(ints);
        free(f);
        return VKNMT_ERR_OOM_HOST;
    }
    int32_t *src = ints, *tin = src + xb, *tout = tin + yb, *order = tout + yb, *uniq = order + most,
            *starts = uniq + most;
    float *weight = f, *ones = f + yb;
    for (uint32_t t = 0; t < x; t++)
        for (uint32_t k = 0; k < b; k++)
            src[t * b + k] = bt->src[(size_t)k * x + t];
    for (uint32_t i = 0; i < y; i++)
        for (uint32_t k = 0; k < b; k++) {
            int real = (int32_t)i < bt->tgt_len[k];
            tin[i * b + k] = i == 0 ? 2 : real ? bt->tgt[(size_t)k * y + i - 1] : 0;
            tout[i * b + k] = bt->tgt[(size_t)k * y + i];
            weight[i * b + k] = real ? 1.0f / (float)b : 0.0f;
        }
    uint64_t nones = x > y ? xb : yb;
    for (uint64_t i = 0; i < nones; i++)
        ones[i] = 1.0f;
    const vknmt_ws *w = &m->w;
    uint32_t nu = 0;
    vknmt_status s;
    if ((s = upload_ints(w->src, src, xb)) || (s = upload_ints(w->tgt_in, tin, yb)) ||
        (s = upload_ints(w->tgt_out, tout, yb)) || (s = upload_ints(w->src_len, bt->src_len, b)) ||
        (s = upload_ints(w->tgt_len, bt->tgt_len, b)) ||
        (s = vknmt_buffer_upload(w->weight.buf, w->weight.off * 4, weight, yb * 4)) ||
        (s = vknmt_buffer_upload(w->ones.buf, w->ones.off * 4, ones, nones * 4)))
        goto done;
    /* <pad> (0) rows get no gradient: skip them in the scatter. */
    vknmt_embed_csr(src, (uint32_t)xb, 0, order, uniq, starts, &nu);
    if ((s = upload_ints(w->src_order, order, xb)) || (s = upload_ints(w->src_uniq, uniq, nu ? nu : 1)) ||
        (s = upload_ints(w->src_starts, starts, nu + 1)))
        goto done;
    m->src_uniq_count = nu;
    vknmt_embed_csr(tin, (uint32_t)yb, 0, order, uniq, starts, &nu);
    if ((s = upload_ints(w->tgt_order, order, yb)) || (s = upload_ints(w->tgt_uniq, uniq, nu ? nu : 1)) ||
        (s = upload_ints(w->tgt_starts, starts, nu + 1)))
        goto done;
    m->tgt_uniq_count = nu;
done:
    free(ints);
    free(f);
    return s;
}

static vknmt_status check_batch(vknmt_model *m, const vknmt_batch *bt)
{
    if (!bt->batch || !bt->tx || !bt->ty)
        return vknmt_seq_fail(m->seq, VKNMT_ERR_SHAPE, "empty batch (%u x %u / %u)", bt->batch, bt->tx, bt->ty);
    for (uint32_t k = 0; k < bt->batch; k++) {
        if (bt->src_len[k] < 1 || (uint32_t)bt->src_len[k] > bt->tx || bt->tgt_len[k] < 1 ||
            (uint32_t)bt->tgt_len[k] > bt->ty)
            return vknmt_seq_fail(m->seq, VKNMT_ERR_INPUT, "sentence %u: lengths %d/%d outside 1..%u/%u", k,
                                  bt->src_len[k], bt->tgt_len[k], bt->tx, bt->ty);
        for (uint32_t t = 0; t < bt->tx; t++) {
            int32_t id = bt->src[(size_t)k * bt->tx + t];
            if (id < 0 || (uint32_t)id >= m->cfg.vs)
                return vknmt_seq_fail(m->seq, VKNMT_ERR_INPUT, "sentence %u: source id %d outside the vocabulary", k,
                                      id);
        }
        for (uint32_t t = 0; t < bt->ty; t++) {
            int32_t id = bt->tgt[(size_t)k * bt->ty + t];
            if (id < 0 || (uint32_t)id >= m->cfg.vt)
                return vknmt_seq_fail(m->seq, VKNMT_ERR_INPUT, "sentence %u: target id %d outside the vocabulary", k,
                                      id);
        }
    }
    return VKNMT_OK;
}

vknmt_status vknmt_model_prepare(vknmt_model *m, const vknmt_batch *bt)
{
    vknmt_status s = check_batch(m, bt);
    if (s || (s = ensure_ws(m, bt->batch, bt->tx, bt->ty, bt->batch)) || (s = upload_batch(m, bt)))
        return s;
    m->b = bt->batch;
    m->x = bt->tx;
    m->y = bt->ty;
    return VKNMT_OK;
}

vknmt_status vknmt_model_prepare_decode(vknmt_model *m, uint32_t batch, uint32_t tx, uint32_t rows_per,
                                        const int32_t *src, const int32_t *src_len)
{
    if (!batch || !tx || !rows_per)
        return vknmt_seq_fail(m->seq, VKNMT_ERR_SHAPE, "empty decoding batch (%u x %u, %u rows each)", batch, tx,
                              rows_per);
    for (uint32_t k = 0; k < batch; k++) {
        if (src_len[k] < 1 || (uint32_t)src_len[k] > tx)
            return vknmt_seq_fail(m->seq, VKNMT_ERR_INPUT, "sentence %u: length %d outside 1..%u", k, src_len[k], tx);
        for (uint32_t t = 0; t < tx; t++) {
            int32_t id = src[(size_t)k * tx + t];
            if (id < 0 || (uint32_t)id >= m->cfg.vs)
                return vknmt_seq_fail(m->seq, VKNMT_ERR_INPUT, "sentence %u: source id %d outside the vocabulary", k,
                                      id);
        }
    }
    vknmt_status s = ensure_ws(m, batch, tx, rows_per, batch * rows_per);
    if (s)
        return s;
    m->b = batch;
    m->x = tx;
    m->y = rows_per;
    return VKNMT_OK;
}

/* Uploads the batch and opens the sequence with the forward pass (and
 * backward pass) recorded and the loss summed on the device. */
static vknmt_status record_loss(vknmt_model *m, const vknmt_batch *bt, bool backward)
{
    vknmt_status s = vknmt_model_prepare(m, bt);
    if (s || (s = vknmt_seq_begin(m->seq)))
        return s;
    if (backward)
        s = vknmt_fill(m->seq, vknmt_at(m->grads, 0), m->lay.total, 0.0f);
    if (!s)
        s = vknmt_model_record_forward(m, backward);
    if (!s && backward)
        s = vknmt_model_record_backward(m);
    if (!s)
        s = vknmt_sum(m->seq, m->w.nll, (uint64_t)m->y * m->b, m->w.loss, m->w.scratch);
    return s;
}

/* Submits (also a sequence an error cut short) and reads the loss. */
static vknmt_status finish_loss(vknmt_model *m, const vknmt_batch *bt, vknmt_status recorded, vknmt_loss *out)
{
    m->last_stats = vknmt_seq_stats_get(m->seq);
    vknmt_status s = vknmt_seq_recording(m->seq) ? vknmt_seq_submit(m->seq) : VKNMT_OK;
    if (recorded)
        return recorded;
    if (s)
        return s;
    float loss;
    if ((s = vknmt_buffer_download(m->w.loss.buf, m->w.loss.off * 4, &loss, 4)))
        return s;
    uint32_t ntok = 0;
    for (uint32_t k = 0; k < bt->batch; k++)
        ntok += (uint32_t)bt->tgt_len[k];
    out->loss = loss;
    out->ntok = ntok;
    out->ce = loss * bt->batch / ntok;
    return VKNMT_OK;
}

vknmt_status vknmt_model_loss(vknmt_model *m, const vknmt_batch *bt, bool backward, vknmt_loss *out)
{
    return finish_loss(m, bt, record_loss(m, bt, backward), out);
}

vknmt_train_options vknmt_train_defaults(void)
{
    vknmt_train_options o = {VKNMT_ADADELTA, 1.0f, 0.95f, 1e-6f, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 0};
    return o;
}

static vknmt_status ensure_train_state(vknmt_model *m)
{
    if (m->state1)
        return VKNMT_OK;
    vknmt_status s;
    uint64_t scratch = vknmt_reduce_scratch_elems(m->lay.total);
    if ((s = vknmt_buffer_create(m->ctx, m->lay.total * 4, &m->state1)) ||
        (s = vknmt_buffer_create(m->ctx, m->lay.total * 4, &m->state2)) ||
        (s = vknmt_buffer_create(m->ctx, (2 + scratch) * 4, &m->train_stats)))
        return s;
    float zero[2] = {0, 0};
    if ((s = vknmt_buffer_upload(m->train_stats, 0, zero, sizeof(zero))) || (s = vknmt_seq_begin(m->seq)) ||
        (s = vknmt_fill(m->seq, vknmt_at(m->state1, 0), m->lay.total, 0)) ||
        (s = vknmt_fill(m->seq, vknmt_at(m->state2, 0), m->lay.total, 0)))
        return s;
    return vknmt_seq_submit(m->seq);
}

vknmt_status vknmt_model_train_step(vknmt_model *m, const vknmt_batch *bt, const vknmt_train_options *opt,
                                    vknmt_step_result *out)
{
    if (!(opt->dropout >= 0.0f && opt->dropout < 1.0f))
        return vknmt_seq_fail(m->seq, VKNMT_ERR_USAGE, "dropout %g outside [0, 1)", (double)opt->dropout);
    vknmt_status s = ensure_train_state(m);
    if (s)
        return s;
    /* P = 0 records exactly the paper's step: no dropout dispatch at all. */
    m->drop_on = opt->dropout > 0.0f;
    m->drop = vknmt_dropout_key_make(opt->dropout, opt->dropout_seed, (uint32_t)(m->updates + 1),
                                     VKNMT_DROPOUT_SALT_READOUT);
    s = record_loss(m, bt, true);
    m->drop_on = false;
    vknmt_ref norm = vknmt_at(m->train_stats, 0), skipped = vknmt_at(m->train_stats, 1);
    if (!s)
        s = vknmt_norm2(m->seq, vknmt_at(m->grads, 0), m->lay.total, norm, vknmt_at(m->train_stats, 2));
    vknmt_optim_args a = {.kind = opt->optimizer, .n = m->lay.total, .param = vknmt_at(m->params, 0),
                          .grad = vknmt_at(m->grads, 0), .state1 = vknmt_at(m->state1, 0),
                          .state2 = vknmt_at(m->state2, 0), .norm = norm, .skipped = skipped, .clip = opt->clip,
                          .rho = opt->rho, .eps = opt->optimizer == VKNMT_ADAM ? opt->adam_eps : opt->eps,
                          .lr = opt->lr, .beta1 = opt->beta1, .beta2 = opt->beta2,
                          .step = (uint32_t)(m->updates + 1)};
    if (!s)
        s = vknmt_optim_step(m->seq, &a);
    m->tables_fresh = false;
    if ((s = finish_loss(m, bt, s, &out->loss)))
        return s;
    float st[2];
    if ((s = vknmt_buffer_download(m->train_stats, 0, st, sizeof(st))))
        return s;
    out->grad_norm = st[0];
    out->skipped = (uint64_t)st[1] != m->skipped_seen;
    m->skipped_seen = (uint64_t)st[1];
    if (!out->skipped)
        m->updates++;
    return VKNMT_OK;
}

uint64_t vknmt_model_updates(const vknmt_model *m) { return m->updates; }

vknmt_status vknmt_model_optim_download(vknmt_model *m, float *state1, float *state2)
{
    vknmt_status s = ensure_train_state(m);
    if (s || (s = vknmt_buffer_download(m->state1, 0, state1, m->lay.total * 4)))
        return s;
    return vknmt_buffer_download(m->state2, 0, state2, m->lay.total * 4);
}

vknmt_status vknmt_model_optim_upload(vknmt_model *m, const float *state1, const float *state2, uint64_t updates)
{
    vknmt_status s = ensure_train_state(m);
    if (s || (s = vknmt_buffer_upload(m->state1, 0, state1, m->lay.total * 4)) ||
        (s = vknmt_buffer_upload(m->state2, 0, state2, m->lay.total * 4)))
        return s;
    m->updates = updates;
    return VKNMT_OK;
}

vknmt_status vknmt_model_alignment_download(vknmt_model *m, float *alpha)
{
    if (m->cfg.attention != VKNMT_ATTENTION_ADDITIVE || !m->work)
        return vknmt_seq_fail(m->seq, VKNMT_ERR_USAGE, "no attention weights: RNNencdec, or nothing computed yet");
    return vknmt_buffer_download(m->w.alpha.buf, m->w.alpha.off * 4, alpha, (uint64_t)m->y * m->b * m->x * 4);
}

uint32_t vknmt_model_max_decode_rows(const vknmt_model *m)
{
    uint32_t rows = LOGIT_FLOATS / m->cfg.vt;
    return rows ? rows : 1;
}
