/* The backward pass recorded on the device, after the forward pass has
 * already turned the logits into their gradient chunk by chunk. Weight
 * gradients are formed after each recurrence as single GEMMs over all time
 * steps (sum_t da_t^T h_{t-1}), so no step accumulates into a shared
 * buffer in an order that could vary. */
#include "attention.h"
#include "embed.h"
#include "gru_cell.h"
#include "model_internal.h"
#include "readout.h"

vknmt_status vknmt_gru_backward_step(vknmt_model *m, const vknmt_gru_args *g, vknmt_ref dh_new, vknmt_ref gates,
                                     vknmt_ref h, vknmt_ref da)
{
    vknmt_seq *seq = m->seq;
    uint32_t b = g->batch, n = g->n;
    vknmt_gru_step st = {b, n, g->t, g->lengths};
    vknmt_ref da_h = vknmt_at(da.buf, da.off + 2 * n);
    vknmt_status s;
    /* d(r*h) = da_h U_h; then dr; then dh += [da_r, da_z] U[0:2n]. */
    if ((s = vknmt_gru_bwd_a(seq, &st, dh_new, gates, h, da, m->w.tmp)) ||
        (s = vknmt_mm(seq, b, n, n, da_h, 3 * n, false, vknmt_rows(g->U, 2 * n, n), n, false, m->w.drh, n, 0)) ||
        (s = vknmt_gru_bwd_b(seq, &st, m->w.drh, gates, h, da, m->w.tmp)))
        return s;
    return vknmt_mm(seq, b, n, 2 * n, da, 3 * n, false, g->U, n, false, m->w.tmp, n, 1);
}

/* dW += da^T x over rows, db += column sums, for a GRU's gate inputs;
 * dU += [da_r da_z]^T h_prev and da_h^T (r * h_prev). */
static vknmt_status gru_weight_grads(vknmt_model *m, uint32_t rows, vknmt_ref da, vknmt_ref x, uint32_t in,
                                     vknmt_ref h_prev, vknmt_ref rh, const char *wname, const char *bname,
                                     const char *uname)
{
    vknmt_seq *seq = m->seq;
    uint32_t n = m->cfg.n;
    vknmt_ref dU = vknmt_model_grad(m, uname);
    vknmt_status s;
    if ((s = vknmt_mm(seq, 3 * n, in, rows, da, 3 * n, true, x, in, false, vknmt_model_grad(m, wname), in, 1)) ||
        (s = vknmt_mm(seq, 1, 3 * n, rows, m->w.ones, rows, false, da, 3 * n, false, vknmt_model_grad(m, bname),
                      3 * n, 1)) ||
        (s = vknmt_mm(seq, 2 * n, n, rows, da, 3 * n, true, h_prev, n, false, dU, n, 1)))
        return s;
    return vknmt_mm(seq, n, n, rows, vknmt_at(da.buf, da.off + 2 * n), 3 * n, true, rh, n, false,
                    vknmt_rows(dU, 2 * n, n), n, 1);
}

static vknmt_status readout_backward(vknmt_model *m)
{
    const vknmt_model_config *c = &m->cfg;
    vknmt_ws *w = &m->w;
    vknmt_seq *seq = m->seq;
    uint32_t b = m->b, yb = m->y * b, n = c->n, l2 = 2 * c->l;
    if (c->readout == VKNMT_READOUT_LINEAR)
        return VKNMT_OK; /* the output chunks already wrote ds, dctx, dey */
    vknmt_ref s1 = vknmt_rows(w->s, b, n);
    vknmt_dropout_window win = {yb, c->l, c->l, c->l, 0};
    vknmt_status s;
    /* dt reached the masked t: the mask again gives the gradient of t */
    if ((m->drop_on && (s = vknmt_dropout_apply(seq, &m->drop, w->dt, &win))) ||
        (s = vknmt_maxout_backward(seq, yb, c->l, w->tt, w->dt, w->dtt)) ||
        (s = vknmt_mm(seq, l2, n, yb, w->dtt, l2, true, s1, n, false, vknmt_model_grad(m, "out.U"), n, 1)) ||
        (s = vknmt_mm(seq, l2, c->m, yb, w->dtt, l2, true, w->ey, c->m, false, vknmt_model_grad(m, "out.V"), c->m,
                      1)) ||
        (s = vknmt_mm(seq, l2, 2 * n, yb, w->dtt, l2, true, w->ctx, 2 * n, false, vknmt_model_grad(m, "out.C"),
                      2 * n, 1)) ||
        (s = vknmt_mm(seq, 1, l2, yb, w->ones, yb, false, w->dtt, l2, false, vknmt_model_grad(m, "out.b"), l2, 1)) ||
        (s = vknmt_mm(seq, yb, n, l2, w->dtt, l2, false, vknmt_model_param(m, "out.U"), n, false,
                      vknmt_rows(w->ds, b, n), n, 0)) ||
        (s = vknmt_mm(seq, yb, c->m, l2, w->dtt, l2, false, vknmt_model_param(m, "out.V"), c->m, false, w->dey, c->m,
                      0)))
        return s;
    return vknmt_mm(seq, yb, 2 * n, l2, w->dtt, l2, false, vknmt_model_param(m, "out.C"), 2 * n, false, w->dctx,
                    2 * n, 0);
}

static vknmt_status decoder_backward(vknmt_model *m)
{
    const vknmt_model_config *c = &m->cfg;
    vknmt_ws *w = &m->w;
    vknmt_seq *seq = m->seq;
    uint32_t b = m->b, x = m->x, y = m->y, yb = y * b, xb = x * b, n = c->n;
    bool att = c->attention == VKNMT_ATTENTION_ADDITIVE;
    vknmt_att_shape sh = {b, x, c->na, 2 * n, 0};
    vknmt_status s;
    if ((s = vknmt_fill(seq, w->ds, (uint64_t)b * n, 0)) || (s = vknmt_fill(seq, w->dh, (uint64_t)xb * 2 * n, 0)) ||
        (att && (s = vknmt_fill(seq, w->duh, (uint64_t)xb * c->na, 0))))
        return s;
    for (uint32_t i = y; i-- > 0;) {
        vknmt_ref ds_i = vknmt_rows(w->ds, (uint64_t)i * b, n);
        vknmt_ref da_i = vknmt_rows(w->dadec, (uint64_t)i * b, 3 * n);
        vknmt_ref dctx_i = vknmt_rows(w->dctx, (uint64_t)i * b, 2 * n);
        vknmt_gru_args g = {b, n, i, vknmt_model_param(m, "dec.U"), w->tgt_len};
        if ((s = vknmt_gru_backward_step(m, &g, vknmt_rows(w->ds, (uint64_t)(i + 1) * b, n),
                                         vknmt_rows(w->gdec, (uint64_t)i * b, 3 * n),
                                         vknmt_rows(w->s, (uint64_t)i * b, n), da_i)) ||
            (s = vknmt_axpy(seq, 1.0f, w->tmp, ds_i, (uint64_t)b * n)) ||
            (s = vknmt_mm(seq, b, 2 * n, 3 * n, da_i, 3 * n, false, vknmt_model_param(m, "dec.C"), 2 * n, false,
                          dctx_i, 2 * n, 1)))
            return s;
        if (!att)
            continue;
        vknmt_ref ws_i = vknmt_rows(w->ws, (uint64_t)i * b, c->na), dws_i = vknmt_rows(w->dws, (uint64_t)i * b, c->na);
        if ((s = vknmt_att_backward(seq, &sh, ws_i, w->uh, vknmt_model_param(m, "att.v"), w->h, w->src_len,
                                    vknmt_rows(w->alpha, (uint64_t)i * b, x), dctx_i, w->de, dws_i, w->duh,
                                    vknmt_rows(w->dvp, (uint64_t)i * b, c->na))) ||
            (s = vknmt_mm(seq, b, n, c->na, dws_i, c->na, false, vknmt_model_param(m, "att.W"), n, false, ds_i, n, 1)))
            return s;
    }
    /* the context's path to the annotations and weight gradients, over all steps */
    if (att &&
        ((s = vknmt_att_backward_context(seq, b, x, y, 2 * n, w->alpha, w->dctx, w->dh)) ||
         (s = vknmt_mm(seq, c->na, n, yb, w->dws, c->na, true, w->s, n, false, vknmt_model_grad(m, "att.W"), n, 1)) ||
         (s = vknmt_mm(seq, 1, c->na, yb, w->ones, yb, false, w->dvp, c->na, false, vknmt_model_grad(m, "att.v"),
                       c->na, 1))))
        return s;
    if ((s = gru_weight_grads(m, yb, w->dadec, w->ey, c->m, w->s, w->rhdec, "dec.W", "dec.b", "dec.U")) ||
        (s = vknmt_mm(seq, 3 * n, 2 * n, yb, w->dadec, 3 * n, true, w->ctx, 2 * n, false, vknmt_model_grad(m, "dec.C"),
                      2 * n, 1)) ||
        (s = vknmt_mm(seq, yb, c->m, 3 * n, w->dadec, 3 * n, false, vknmt_model_param(m, "dec.W"), c->m, false, w->dey,
                      c->m, 1)))
        return s;
    if (m->tgt_uniq_count &&
        (s = vknmt_embed_scatter_add(seq, w->dey, c->m, w->tgt_order, w->tgt_starts, w->tgt_uniq, m->tgt_uniq_count,
                                     vknmt_model_grad(m, "dec.emb"), c->vt)))
        return s;
    /* s_0 = tanh(dec.init.W bwd_1 + b) */
    if ((s = vknmt_tanh_backward(seq, (uint64_t)b * n, w->s, w->ds, w->da0)) ||
        (s = vknmt_mm(seq, n, n, b, w->da0, n, true, w->hs[1], n, false, vknmt_model_grad(m, "dec.init.W"), n, 1)) ||
        (s = vknmt_mm(seq, 1, n, b, w->ones, b, false, w->da0, n, false, vknmt_model_grad(m, "dec.init.b"), n, 1)))
        return s;
    if (att) { /* UH = att.U h_j + att.b */
        if ((s = vknmt_mm(seq, c->na, 2 * n, xb, w->duh, c->na, true, w->h, 2 * n, false, vknmt_model_grad(m, "att.U"),
                          2 * n, 1)) ||
            (s = vknmt_mm(seq, 1, c->na, xb, w->ones, xb, false, w->duh, c->na, false, vknmt_model_grad(m, "att.b"),
                          c->na, 1)))
            return s;
        return vknmt_mm(seq, xb, 2 * n, c->na, w->duh, c->na, false, vknmt_model_param(m, "att.U"), 2 * n, false, w->dh,
                        2 * n, 1);
    }
    /* RNNencdec: the one context's gradient, summed over the steps */
    if ((s = vknmt_mm(seq, 1, b * 2 * n, y, w->ones, y, false, w->dctx, b * 2 * n, false, w->dctx_sum, b * 2 * n, 0)))
        return s;
    return vknmt_encdec_context_backward(seq, b, x, n, w->dctx_sum, w->src_len, w->dh);
}

static vknmt_status encoder_backward(vknmt_model *m)
{
    const vknmt_model_config *c = &m->cfg;
    vknmt_ws *w = &m->w;
    vknmt_seq *seq = m->seq;
    uint32_t b = m->b, x = m->x, xb = x * b, n = c->n;
    static const char *wn[2] = {"enc.fwd.W", "enc.bwd.W"}, *bn[2] = {"enc.fwd.b", "enc.bwd.b"},
                      *un[2] = {"enc.fwd.U", "enc.bwd.U"};
    vknmt_status s;
    /* split d(annotations); bwd_1 also fed s_0 */
    if ((s = vknmt_copy2d(seq, w->dh, 2 * n, w->dhs[0], n, xb, n)) ||
        (s = vknmt_copy2d(seq, vknmt_at(w->dh.buf, w->dh.off + n), 2 * n, w->dhs[1], n, xb, n)) ||
        (s = vknmt_mm(seq, b, n, n, w->da0, n, false, vknmt_model_param(m, "dec.init.W"), n, false, w->dhs[1], n, 1)))
        return s;
    for (uint32_t i = 0; i < x; i++) {
        for (int d = 0; d < 2; d++) {
            /* reverse of the forward order: fwd from the end, bwd from the start */
            uint32_t t = d == 0 ? x - 1 - i : i;
            vknmt_gru_args g = {b, n, t, vknmt_model_param(m, un[d]), w->src_len};
            vknmt_ref h = vknmt_rows(w->hs[d], (uint64_t)(d == 0 ? t : t + 1) * b, n);
            if ((s = vknmt_gru_backward_step(m, &g, vknmt_rows(w->dhs[d], (uint64_t)t * b, n),
                                             vknmt_rows(w->gates[d], (uint64_t)t * b, 3 * n), h,
                                             vknmt_rows(w->da[d], (uint64_t)t * b, 3 * n))))
                return s;
            bool more = d == 0 ? t > 0 : t + 1 < x; /* h_0 and h_{T+1} are constants */
            uint32_t prev = d == 0 ? t - 1 : t + 1;
            if (more && (s = vknmt_axpy(seq, 1.0f, w->tmp, vknmt_rows(w->dhs[d], (uint64_t)prev * b, n),
                                        (uint64_t)b * n)))
                return s;
        }
    }
    for (int d = 0; d < 2; d++) {
        vknmt_ref h_prev = vknmt_rows(w->hs[d], d == 0 ? 0 : b, n);
        if ((s = gru_weight_grads(m, xb, w->da[d], w->xemb, c->m, h_prev, w->rh[d], wn[d], bn[d], un[d])) ||
            (s = vknmt_mm(seq, xb, c->m, 3 * n, w->da[d], 3 * n, false, vknmt_model_param(m, wn[d]), c->m, false,
                          w->dxemb, c->m, d ? 1.0f : 0.0f)))
            return s;
    }
    if (!m->src_uniq_count)
        return VKNMT_OK;
    return vknmt_embed_scatter_add(seq, w->dxemb, c->m, w->src_order, w->src_starts, w->src_uniq, m->src_uniq_count,
                                   vknmt_model_grad(m, "enc.emb"), c->vs);
}

vknmt_status vknmt_model_record_backward(vknmt_model *m)
{
    vknmt_status s;
    if ((s = readout_backward(m)) || (s = decoder_backward(m)))
        return s;
    return encoder_backward(m);
}
