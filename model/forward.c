/* The forward pass recorded on the device: encoder, attention decoder,
 * deep output, and the output layer in chunks of target words (whose
 * gradient, when training, is formed and consumed chunk by chunk). */
#include "attention.h"
#include "embed.h"
#include "gru_cell.h"
#include "model_internal.h"
#include "readout.h"
#include "vknmt_kernel.h"

/* A GRU step as its two GEMMs and two elementwise kernels: hu = h U[0:2n]^T,
 * then r, z and r * h; hu_h = (r * h) U[2n:3n]^T, then h~, h'. */
static vknmt_status gru_step_gemms(vknmt_model *m, const vknmt_gru_rows_step *r)
{
    vknmt_seq *seq = m->seq;
    uint32_t b = r->st.batch, n = r->st.n;
    vknmt_status s;
    if ((s = vknmt_mm(seq, b, 2 * n, n, r->h, n, false, r->U, n, true, m->w.hu, 2 * n, 0)) ||
        (s = vknmt_gru_fwd_a(seq, &r->st, r->a, m->w.hu, r->h, r->gates, r->rh)) ||
        (s = vknmt_mm(seq, b, n, n, r->rh, n, false, vknmt_rows(r->U, 2 * n, n), n, true, m->w.hu_h, n, 0)))
        return s;
    return vknmt_gru_fwd_b(seq, &r->st, r->a, m->w.hu_h, r->gates, r->h, r->h_new);
}

vknmt_status vknmt_gru_forward_step(vknmt_model *m, const vknmt_gru_args *g, vknmt_ref a, vknmt_ref gates,
                                    vknmt_ref rh, vknmt_ref h, vknmt_ref h_new)
{
    vknmt_gru_rows_step rs = {{g->batch, g->n, g->t, g->lengths}, g->U, a, h, gates, rh, h_new, false};
    bool ran;
    vknmt_status s = vknmt_gru_rows_forward(m->seq, 1, &rs, &ran);
    return s || ran ? s : gru_step_gemms(m, &rs);
}

/* Input projections a = x W^T + b for all positions at once. */
static vknmt_status project(vknmt_model *m, vknmt_ref x, uint32_t rows, uint32_t in, const char *w, const char *bias,
                            uint32_t out, vknmt_ref y)
{
    vknmt_gemm_args g = {.m = rows, .n = out, .k = in, .trans_b = true, .alpha = 1, .a = x,
                         .b = vknmt_model_param(m, w), .c = y, .bias = vknmt_model_param(m, bias)};
    return vknmt_gemm(m->seq, &g);
}

vknmt_status vknmt_model_record_encoder(vknmt_model *m)
{
    const vknmt_model_config *c = &m->cfg;
    vknmt_ws *w = &m->w;
    vknmt_seq *seq = m->seq;
    uint32_t b = m->b, x = m->x, n = c->n, xb = x * b;
    vknmt_status s = vknmt_embed_gather(seq, vknmt_model_param(m, "enc.emb"), c->vs, c->m, w->src, xb, w->xemb);
    static const char *wn[2] = {"enc.fwd.W", "enc.bwd.W"}, *bn[2] = {"enc.fwd.b", "enc.bwd.b"},
                      *un[2] = {"enc.fwd.U", "enc.bwd.U"};
    for (int d = 0; d < 2 && !s; d++)
        s = project(m, w->xemb, xb, c->m, wn[d], bn[d], 3 * n, w->a[d]);
    /* forward direction: slot 0 is h_0 = 0, slot t+1 the state after word t;
     * backward: slot x is 0, slot t the state after reading back to word t. */
    if (s || (s = vknmt_fill(seq, w->hs[0], (uint64_t)b * n, 0)) ||
        (s = vknmt_fill(seq, vknmt_rows(w->hs[1], xb, n), (uint64_t)b * n, 0)))
        return s;
    vknmt_ref U[2] = {vknmt_model_param(m, un[0]), vknmt_model_param(m, un[1])};
    /* both directions over the whole sentence in one dispatch where the few-rows kernels serve */
    vknmt_gru_rows_dir dirs[2];
    for (int d = 0; d < 2; d++)
        dirs[d] = (vknmt_gru_rows_dir){{b, n, 0, w->src_len}, x, d == 1, U[d],
                                       w->a[d], w->hs[d], w->gates[d], w->rh[d]};
    bool whole;
    if ((s = vknmt_gru_rows_sequence(seq, 2, dirs, &whole)))
        return s;
    for (uint32_t i = 0; i < x && !s && !whole; i++) {
        /* both directions' steps, in two dispatches where the few-rows kernels serve */
        vknmt_gru_rows_step rs[2];
        for (int d = 0; d < 2; d++) {
            uint32_t t = d == 0 ? i : x - 1 - i;
            rs[d] = (vknmt_gru_rows_step){{b, n, t, w->src_len},
                                          U[d],
                                          vknmt_rows(w->a[d], (uint64_t)t * b, 3 * n),
                                          vknmt_rows(w->hs[d], (uint64_t)(d == 0 ? t : t + 1) * b, n),
                                          vknmt_rows(w->gates[d], (uint64_t)t * b, 3 * n),
                                          vknmt_rows(w->rh[d], (uint64_t)t * b, n),
                                          vknmt_rows(w->hs[d], (uint64_t)(d == 0 ? t + 1 : t) * b, n),
                                          false};
        }
        bool ran;
        if ((s = vknmt_gru_rows_forward(seq, 2, rs, &ran)) || ran)
            continue;
        for (int d = 0; d < 2 && !s; d++)
            s = gru_step_gemms(m, &rs[d]);
    }
    /* annotations h_j = [fwd_j; bwd_j] */
    if (s || (s = vknmt_copy2d(seq, vknmt_rows(w->hs[0], b, n), n, w->h, 2 * n, xb, n)) ||
        (s = vknmt_copy2d(seq, w->hs[1], n, vknmt_at(w->h.buf, w->h.off + n), 2 * n, xb, n)))
        return s;
    /* s_0 = tanh(dec.init.W bwd_1 + dec.init.b) */
    vknmt_gemm_args g0 = {.m = b, .n = n, .k = n, .trans_b = true, .alpha = 1, .a = w->hs[1],
                          .b = vknmt_model_param(m, "dec.init.W"), .c = w->s,
                          .bias = vknmt_model_param(m, "dec.init.b"), .act = VKNMT_ACT_TANH};
    if ((s = vknmt_gemm(seq, &g0)))
        return s;
    if (c->attention == VKNMT_ATTENTION_ADDITIVE) /* att.U h_j + att.b, once per batch */
        s = project(m, w->h, xb, 2 * n, "att.U", "att.b", c->na, w->uh);
    return s;
}

static vknmt_status decoder(vknmt_model *m)
{
    const vknmt_model_config *c = &m->cfg;
    vknmt_ws *w = &m->w;
    vknmt_seq *seq = m->seq;
    uint32_t b = m->b, x = m->x, y = m->y, n = c->n, yb = y * b;
    vknmt_status s = vknmt_embed_gather(seq, vknmt_model_param(m, "dec.emb"), c->vt, c->m, w->tgt_in, yb, w->ey);
    if (s || (s = project(m, w->ey, yb, c->m, "dec.W", "dec.b", 3 * n, w->adec)))
        return s;
    bool att = c->attention == VKNMT_ATTENTION_ADDITIVE;
    if (!att) { /* one context for every step: c = [fwd_T; bwd_1] */
        if ((s = vknmt_encdec_context(seq, b, x, n, w->h, w->src_len, w->ctx)) ||
            (y > 1 && (s = vknmt_copy2d(seq, w->ctx, 0, vknmt_rows(w->ctx, b, 2 * n), b * 2 * n, y - 1, b * 2 * n))) ||
            (s = vknmt_mm(seq, yb, 3 * n, 2 * n, w->ctx, 2 * n, false, vknmt_model_param(m, "dec.C"), 2 * n, true,
                          w->adec, 3 * n, 1)))
            return s;
    }
    for (uint32_t i = 0; i < y && !s; i++) {
        vknmt_dec_step d = {i, vknmt_rows(w->s, (uint64_t)i * b, n), vknmt_rows(w->s, (uint64_t)(i + 1) * b, n),
                            vknmt_rows(w->adec, (uint64_t)i * b, 3 * n), vknmt_rows(w->gdec, (uint64_t)i * b, 3 * n),
                            vknmt_rows(w->rhdec, (uint64_t)i * b, n), vknmt_rows(w->ws, (uint64_t)i * b, c->na),
                            vknmt_rows(w->alpha, (uint64_t)i * b, x), vknmt_rows(w->ctx, (uint64_t)i * b, 2 * n),
                            {0}, 0, NULL, {0}, false};
        s = vknmt_decoder_step(m, &d);
    }
    return s;
}

vknmt_status vknmt_decoder_step(vknmt_model *m, const vknmt_dec_step *d)
{
    const vknmt_model_config *c = &m->cfg;
    vknmt_ws *w = &m->w;
    vknmt_seq *seq = m->seq;
    uint32_t b = m->b, n = c->n;
    vknmt_status s;
    bool att = c->attention == VKNMT_ATTENTION_ADDITIVE;
    uint32_t pw = d->hc.buf ? vknmt_model_context_width(m) : 0; /* weighing the context products */
    if (att) {
        vknmt_att_shape sh = {b, m->x, c->na, pw ? pw : 2 * n, d->src_batch};
        if ((!d->query_ready && (s = vknmt_mm(seq, b, c->na, n, d->s_prev, n, false, vknmt_model_param(m, "att.W"), n,
                                               true, d->ws, c->na, 0))) ||
            (s = vknmt_att_forward(seq, &sh, d->ws, w->uh, vknmt_model_param(m, "att.v"), pw ? d->hc : w->h,
                                   w->src_len, d->src_col, d->alpha, d->ctx)))
            return s;
    }
    vknmt_ref dec_u = vknmt_model_param(m, "dec.U");
    if (pw) { /* a = dec.W E y + (dec.C c, weighed) + dec.b: in the GRU's dispatches for a few rows */
        vknmt_gemm_args g = *d->proj;
        vknmt_gru_proj gp = {g.a, g.b, g.bias, d->ctx, g.k, g.lda, g.ldb, pw};
        vknmt_gru_rows_step rs = {{b, n, d->t, w->tgt_len}, dec_u, d->a, d->s_prev, d->gates, d->rh, d->s_new,
                                  false};
        vknmt_weight_panels wp = vknmt_model_panels(m, b); /* dec.U in panels, where they serve */
        if (wp.dec_u.buf) {
            rs.U = wp.dec_u;
            rs.u_panels = true;
        }
        bool ran;
        if ((s = vknmt_gru_rows_forward_proj(seq, &rs, &gp, &ran)) || ran)
            return s;
        if (!g.b.buf)
            return vknmt_seq_fail(seq, VKNMT_ERR_UNSUPPORTED, "decoder step: the word table's rows without the "
                                  "few-rows GRU");
        g.beta = 1;
        g.c_in = d->ctx;
        g.ldc_in = pw;
        if ((s = vknmt_gemm_sum(seq, 1, &g)))
            return s;
    } else if (d->proj || att) {
        /* a (+)= dec.C c. Decoding: a = (dec.W E y + dec.b) + dec.C c, the training pass's order of adds,
         * one dispatch for a few rows. */
        vknmt_ref dec_c = vknmt_model_param(m, "dec.C");
        if (d->proj) {
            vknmt_gemm_args sum[2] = {*d->proj, {.k = 2 * n, .trans_b = true, .a = d->ctx, .b = dec_c, .lda = 2 * n}};
            s = vknmt_gemm_sum(seq, 2, sum);
        } else {
            s = vknmt_mm(seq, b, 3 * n, 2 * n, d->ctx, 2 * n, false, dec_c, 2 * n, true, d->a, 3 * n, 1);
        }
        if (s)
            return s;
    }
    vknmt_gru_args g = {b, n, d->t, dec_u, w->tgt_len};
    return vknmt_gru_forward_step(m, &g, d->a, d->gates, d->rh, d->s_prev, d->s_new);
}

uint32_t vknmt_model_context_width(const vknmt_model *m)
{
    const vknmt_model_config *c = &m->cfg;
    bool usable = c->attention == VKNMT_ATTENTION_ADDITIVE && c->readout == VKNMT_READOUT_MAXOUT;
    return usable ? 3 * c->n + 2 * c->l : 0;
}

vknmt_status vknmt_model_context_products(vknmt_model *m, vknmt_ref hc)
{
    const vknmt_model_config *c = &m->cfg;
    uint32_t xb = m->x * m->b, n = c->n, pw = vknmt_model_context_width(m);
    if (!pw)
        return vknmt_seq_fail(m->seq, VKNMT_ERR_USAGE, "context products: the model has no attention or no maxout");
    vknmt_gemm_args g = {.m = xb, .n = 3 * n, .k = 2 * n, .trans_b = true, .alpha = 1, .a = m->w.h,
                         .b = vknmt_model_param(m, "dec.C"), .c = hc, .ldc = pw};
    vknmt_status s = vknmt_gemm(m->seq, &g);
    g.n = 2 * c->l;
    g.b = vknmt_model_param(m, "out.C");
    g.c = vknmt_at(hc.buf, hc.off + 3 * n);
    return s ? s : vknmt_gemm(m->seq, &g);
}

/* Maxout deep output: t~ = out.U s_i + out.V E y_{i-1} + out.C c_i + out.b. */
static vknmt_status deep_output(vknmt_model *m)
{
    const vknmt_model_config *c = &m->cfg;
    vknmt_ws *w = &m->w;
    uint32_t yb = m->y * m->b, n = c->n, l2 = 2 * c->l;
    vknmt_gemm_args g = {.m = yb, .n = l2, .k = n, .trans_b = true, .alpha = 1, .a = vknmt_rows(w->s, m->b, n),
                         .b = vknmt_model_param(m, "out.U"), .c = w->tt, .bias = vknmt_model_param(m, "out.b")};
    vknmt_status s;
    if ((s = vknmt_gemm(m->seq, &g)) ||
        (s = vknmt_mm(m->seq, yb, l2, c->m, w->ey, c->m, false, vknmt_model_param(m, "out.V"), c->m, true, w->tt, l2,
                      1)) ||
        (s = vknmt_mm(m->seq, yb, l2, 2 * n, w->ctx, 2 * n, false, vknmt_model_param(m, "out.C"), 2 * n, true, w->tt,
                      l2, 1)) ||
        (s = vknmt_maxout_forward(m->seq, yb, c->l, w->tt, w->t)))
        return s;
    if (!m->drop_on)
        return VKNMT_OK;
    vknmt_dropout_window win = {yb, c->l, c->l, c->l, 0};
    return vknmt_dropout_apply(m->seq, &m->drop, w->t, &win);
}

/* Dropout with the linear readout: its input [s_i; c_i; E y_{i-1}] copied
 * into w->t and masked there as one vector per word (s, c and E y also
 * feed the recurrence, which keeps them whole). */
static vknmt_status linear_readout_input(vknmt_model *m)
{
    const vknmt_model_config *c = &m->cfg;
    vknmt_ws *w = &m->w;
    vknmt_seq *seq = m->seq;
    uint32_t yb = m->y * m->b, n = c->n, lin = 3 * n + c->m;
    vknmt_status s;
    if ((s = vknmt_copy2d(seq, vknmt_rows(w->s, m->b, n), n, w->t, lin, yb, n)) ||
        (s = vknmt_copy2d(seq, w->ctx, 2 * n, vknmt_at(w->t.buf, w->t.off + n), lin, yb, 2 * n)) ||
        (s = vknmt_copy2d(seq, w->ey, c->m, vknmt_at(w->t.buf, w->t.off + 3 * n), lin, yb, c->m)))
        return s;
    vknmt_dropout_window win = {yb, lin, lin, lin, 0};
    return vknmt_dropout_apply(seq, &m->drop, w->t, &win);
}

/* The same masks on the gradients the output layer sent to s, c and E y. */
static vknmt_status linear_readout_input_backward(vknmt_model *m)
{
    const vknmt_model_config *c = &m->cfg;
    vknmt_ws *w = &m->w;
    uint32_t yb = m->y * m->b, n = c->n, lin = 3 * n + c->m;
    vknmt_dropout_window ws = {yb, n, n, lin, 0}, wc = {yb, 2 * n, 2 * n, lin, n}, we = {yb, c->m, c->m, lin, 3 * n};
    vknmt_status s;
    if ((s = vknmt_dropout_apply(m->seq, &m->drop, vknmt_rows(w->ds, m->b, n), &ws)) ||
        (s = vknmt_dropout_apply(m->seq, &m->drop, w->dctx, &wc)))
        return s;
    return vknmt_dropout_apply(m->seq, &m->drop, w->dey, &we);
}

/* Logits for rows [r0, r0 + rows) of the target words, their loss, and
 * (training) their gradient's use: d(out.W), d(out.bW) and what flows into
 * the readout's inputs. */
static vknmt_status output_chunk(vknmt_model *m, uint32_t r0, uint32_t rows, bool backward)
{
    const vknmt_model_config *c = &m->cfg;
    vknmt_ws *w = &m->w;
    vknmt_seq *seq = m->seq;
    uint32_t n = c->n, v = c->vt, b = m->b, ldl = vknmt_logits_ld(c);
    vknmt_ref W = vknmt_model_param(m, "out.W"), dW = vknmt_model_grad(m, "out.W");
    vknmt_ref s_rows = vknmt_rows(w->s, (uint64_t)b + r0, n);
    vknmt_status s;
    /* The readout's inputs, as (activation, its gradient, width, column of out.W). */
    struct { vknmt_ref x, dx; uint32_t dim, col, ld; } in[3];
    uint32_t nin, ldw;
    if (c->readout == VKNMT_READOUT_MAXOUT) {
        nin = 1;
        ldw = c->l;
        in[0].x = vknmt_rows(w->t, r0, c->l);
        in[0].dx = vknmt_rows(w->dt, r0, c->l);
        in[0].dim = c->l;
        in[0].col = 0;
        in[0].ld = c->l;
    } else { /* out.W on [s_i; c_i; E y_{i-1}] */
        nin = 3;
        ldw = 3 * n + c->m;
        in[0].x = s_rows;
        in[0].dx = vknmt_rows(w->ds, (uint64_t)b + r0, n);
        in[0].dim = n;
        in[0].col = 0;
        in[1].x = vknmt_rows(w->ctx, r0, 2 * n);
        in[1].dx = vknmt_rows(w->dctx, r0, 2 * n);
        in[1].dim = 2 * n;
        in[1].col = n;
        in[2].x = vknmt_rows(w->ey, r0, c->m);
        in[2].dx = vknmt_rows(w->dey, r0, c->m);
        in[2].dim = c->m;
        in[2].col = 3 * n;
        for (uint32_t i = 0; i < 3; i++)
            in[i].ld = in[i].dim;
        if (m->drop_on) /* the masked copy of the three (linear_readout_input) */
            for (uint32_t i = 0; i < 3; i++) {
                in[i].x = vknmt_at(w->t.buf, w->t.off + (uint64_t)r0 * ldw + in[i].col);
                in[i].ld = ldw;
            }
    }
    for (uint32_t i = 0; i < nin; i++) {
        vknmt_gemm_args g = {.m = rows, .n = v, .k = in[i].dim, .trans_b = true, .alpha = 1, .beta = i ? 1.0f : 0.0f,
                             .a = in[i].x, .lda = in[i].ld, .b = vknmt_at(W.buf, W.off + in[i].col), .ldb = ldw,
                             .c = w->logits, .ldc = ldl,
                             .bias = i ? (vknmt_ref){0} : vknmt_model_param(m, "out.bW")};
        if ((s = vknmt_gemm(seq, &g)))
            return s;
    }
    if ((s = vknmt_logsoftmax_xent(seq, rows, v, ldl, w->logits, vknmt_rows(w->tgt_out, r0, 1),
                                   vknmt_rows(w->weight, r0, 1), vknmt_rows(w->nll, r0, 1))))
        return s;
    if (!backward)
        return VKNMT_OK;
    /* w->logits now holds d(loss)/d(logits) */
    for (uint32_t i = 0; i < nin; i++) {
        vknmt_ref wcol = vknmt_at(W.buf, W.off + in[i].col), dwcol = vknmt_at(dW.buf, dW.off + in[i].col);
        if ((s = vknmt_mm(seq, rows, in[i].dim, v, w->logits, ldl, false, wcol, ldw, false, in[i].dx, in[i].dim, 0)) ||
            (s = vknmt_mm(seq, v, in[i].dim, rows, w->logits, ldl, true, in[i].x, in[i].ld, false, dwcol, ldw, 1)))
            return s;
    }
    return vknmt_mm(seq, 1, v, rows, w->ones, rows, false, w->logits, ldl, false, vknmt_model_grad(m, "out.bW"), v, 1);
}

vknmt_status vknmt_model_record_forward(vknmt_model *m, bool backward)
{
    vknmt_status s;
    if ((s = vknmt_model_record_encoder(m)) || (s = decoder(m)))
        return s;
    bool maxout = m->cfg.readout == VKNMT_READOUT_MAXOUT;
    if (maxout && (s = deep_output(m)))
        return s;
    if (!maxout && m->drop_on && (s = linear_readout_input(m)))
        return s;
    uint32_t yb = m->y * m->b;
    for (uint32_t r0 = 0; r0 < yb && !s; r0 += m->chunk_rows)
        s = output_chunk(m, r0, yb - r0 < m->chunk_rows ? yb - r0 : m->chunk_rows, backward);
    if (!s && backward && !maxout && m->drop_on)
        s = linear_readout_input_backward(m);
    return s;
}
