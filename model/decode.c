/* Greedy decoding on the device: one encoder pass for the batch, then every
 * output position recorded into the same submission, each step's argmax
 * feeding the next step's embedding lookup on the device. The host reads
 * back the tokens, their log-probabilities and the attention once. */
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "embed.h"
#include "model_internal.h"
#include "readout.h"
#include "vknmt_kernel.h"

#define S VKNMT_BIND_SSBO
static const vknmt_kernel_desc K_ARGMAX = {"argmax", VKNMT_SPIRV(argmax), 5, {S, S, S, S, S}, 32, 1};

/* ids[r] = argmax of logits row r, logprob[r] = its log-softmax, and ey's
 * row r that word's row of emb [vocab, dim] (the next step's input: no
 * gather of its own). */
static vknmt_status argmax_rows(vknmt_seq *seq, uint32_t rows, uint32_t vocab, vknmt_ref logits, vknmt_ref ids,
                                vknmt_ref logprob, vknmt_ref emb, uint32_t dim, vknmt_ref ey)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    vknmt_binding b[5];
    struct { uint32_t off_x, off_ids, off_lp, rows, vocab, off_e, off_ey, dim; } p = {0, 0, 0, rows, vocab, 0, 0, dim};
    vknmt_status s;
    if ((s = vknmt_bind(ctx, logits, (uint64_t)rows * vocab, VKNMT_READ, S, &b[0], &p.off_x)) ||
        (s = vknmt_bind(ctx, ids, rows, VKNMT_WRITE, S, &b[1], &p.off_ids)) ||
        (s = vknmt_bind(ctx, logprob, rows, VKNMT_WRITE, S, &b[2], &p.off_lp)) ||
        (s = vknmt_bind(ctx, emb, (uint64_t)vocab * dim, VKNMT_READ, S, &b[3], &p.off_e)) ||
        (s = vknmt_bind(ctx, ey, (uint64_t)rows * dim, VKNMT_WRITE, S, &b[4], &p.off_ey)))
        return s;
    /* CPU devices: one subgroup per row (see beam_topk.c) */
    const vknmt_caps *caps = vknmt_context_caps(ctx);
    uint32_t spec[1] = {caps->quirk_cpu_lanes ? caps->subgroup_size : 256};
    vknmt_dispatch d = {.kernel = &K_ARGMAX, .spec = spec, .push = &p, .bindings = b};
    vknmt_grid_1d(rows, d.groups);
    return vknmt_seq_dispatch(seq, &d);
}

bool vknmt_model_query_folds(const vknmt_model *m, uint32_t rows)
{
    const vknmt_model_config *c = &m->cfg;
    return c->attention == VKNMT_ATTENTION_ADDITIVE && c->readout == VKNMT_READOUT_MAXOUT &&
           rows <= VKNMT_FEW_ROWS && vknmt_cpu_texel_kernels(vknmt_context_caps(vknmt_seq_context(m->seq)));
}

vknmt_status vknmt_model_step_logits(vknmt_model *m, vknmt_ref s_new, uint32_t ld, vknmt_ref stats, vknmt_ref pctx,
                                     vknmt_ref query, vknmt_ref pe)
{
    const vknmt_model_config *c = &m->cfg;
    vknmt_ws *w = &m->w;
    vknmt_seq *seq = m->seq;
    uint32_t b = m->b, n = c->n, v = c->vt;
    vknmt_ref W = vknmt_model_param(m, "out.W");
    /* the next step's attention query: the same A as the deep output's first product */
    vknmt_gemm_args q = {.m = b, .n = c->na, .k = n, .trans_b = true, .alpha = 1, .a = s_new,
                         .b = query.buf ? vknmt_model_param(m, "att.W") : (vknmt_ref){0}, .c = query};
    vknmt_status s;
    if (c->readout == VKNMT_READOUT_MAXOUT) {
        uint32_t l2 = 2 * c->l;
        /* t~ = out.U s + out.b + out.V E y + out.C c: the training pass's three GEMMs */
        vknmt_gemm_args g[3] = {
            {.m = b, .n = l2, .k = n, .trans_b = true, .alpha = 1, .a = s_new, .b = vknmt_model_param(m, "out.U"),
             .c = w->tt, .bias = vknmt_model_param(m, "out.b")},
            {.k = c->m, .trans_b = true, .a = w->ey, .b = vknmt_model_param(m, "out.V")},
            {.k = 2 * n, .trans_b = true, .a = w->ctx, .b = vknmt_model_param(m, "out.C")}};
        vknmt_weight_panels panels = vknmt_model_panels(m, b); /* out.U and out.W in panels */
        if (panels.u.buf) {
            g[0].b = panels.u;
            g[0].b_panels = true;
        }
        if (pe.buf) /* out.V E y given: the word table's rows */
            g[1] = (vknmt_gemm_args){.a = vknmt_at(pe.buf, pe.off + vknmt_word_table_out_col(m)),
                                     .lda = vknmt_word_table_width(m)};
        vknmt_gemm_args o = {.m = b, .n = v, .k = c->l, .trans_b = true, .alpha = 1, .a = w->t,
                             .b = panels.w.buf ? panels.w : W, .c = w->logits, .ldc = ld,
                             .bias = vknmt_model_param(m, "out.bW"), .b_panels = panels.w.buf != NULL};
        uint32_t count = 3;
        if (pctx.buf) { /* out.C c_i weighed from the context products */
            g[0].beta = 1;
            g[0].c_in = vknmt_at(pctx.buf, pctx.off + 3 * n);
            g[0].ldc_in = vknmt_model_context_width(m);
            count = 2;
        }
        bool ran; /* the maxout and the query too, for a few rows: one dispatch */
        if ((s = vknmt_gemm_sum_pairmax(seq, count, g, w->t, c->l, query.buf ? &q : NULL, &ran)) ||
            (!ran && (pe.buf || panels.u.buf) &&
             (s = vknmt_seq_fail(seq, VKNMT_ERR_UNSUPPORTED, "deep output: the word table's rows or out.U's panels "
                                 "without the few-rows sum"))) ||
            (!ran && ((s = vknmt_gemm_sum(seq, count, g)) || (s = vknmt_maxout_forward(seq, b, c->l, w->tt, w->t)) ||
                      (query.buf && (s = vknmt_gemm(seq, &q))))))
            return s;
        /* the statistics too, for a few rows: in the output layer's dispatch */
        if (stats.buf && ((s = vknmt_gemm_softmax_blocks(seq, &o, stats, &ran)) || ran))
            return s;
        if ((s = vknmt_gemm(seq, &o)))
            return s;
        return stats.buf ? vknmt_softmax_blocks(seq, b, v, w->logits, ld, stats) : VKNMT_OK;
    }
    uint32_t ldw = 3 * n + c->m;
    vknmt_gemm_args g = {.m = b, .n = v, .k = n, .trans_b = true, .alpha = 1, .a = s_new, .b = W, .ldb = ldw,
                         .c = w->logits, .ldc = ld, .bias = vknmt_model_param(m, "out.bW")};
    if ((s = vknmt_gemm(seq, &g)) ||
        (s = vknmt_mm(seq, b, v, 2 * n, w->ctx, 2 * n, false, vknmt_at(W.buf, W.off + n), ldw, true, w->logits, ld, 1)))
        return s;
    if ((s = vknmt_mm(seq, b, v, c->m, w->ey, c->m, false, vknmt_at(W.buf, W.off + 3 * n), ldw, true, w->logits, ld,
                      1)))
        return s;
    return stats.buf ? vknmt_softmax_blocks(seq, b, v, w->logits, ld, stats) : VKNMT_OK;
}

/* Steps recorded per submission. Between submissions the host checks whether
 * every sentence has ended: a trained model ends most sentences near their
 * source length, well before the 2 * len + 10 limit the batch would otherwise
 * run to. A round trip costs far less than a step (~20 dispatches). */
enum { STEPS_PER_SUBMIT = 4 };

/* Marks the sentences that emitted </s> or reached their limit in steps
 * [from, to) (tok row i + 1 holds step i's word); true once all have. */
static bool greedy_ended(const int32_t *tok, uint32_t batch, const int32_t *src_len, const uint32_t *max_len,
                         uint32_t from, uint32_t to, bool *ended)
{
    bool all = true;
    for (uint32_t k = 0; k < batch; k++) {
        uint32_t limit = vknmt_decode_limit(max_len, src_len, k);
        for (uint32_t i = from; i < to && !ended[k]; i++)
            ended[k] = i >= limit || tok[(size_t)(i + 1) * batch + k] == 3;
        ended[k] = ended[k] || to >= limit;
        all = all && ended[k];
    }
    return all;
}

vknmt_status vknmt_model_greedy(vknmt_model *m, uint32_t batch, uint32_t tx, const int32_t *src,
                                const int32_t *src_len, const uint32_t *max_len, vknmt_translation *out)
{
    memset(out, 0, batch * sizeof(*out));
    const vknmt_model_config *c = &m->cfg;
    if (batch == 0 || tx == 0)
        return vknmt_seq_fail(m->seq, VKNMT_ERR_SHAPE, "greedy: empty batch");
    uint32_t steps = 0;
    for (uint32_t k = 0; k < batch; k++) {
        uint32_t limit = src_len[k] >= 1 ? vknmt_decode_limit(max_len, src_len, k) : 0;
        steps = limit > steps ? limit : steps;
    }
    /* a placeholder target: the workspace's decoder rows are one step */
    int32_t *dummy = malloc(batch * 2 * sizeof(int32_t));
    if (!dummy)
        return VKNMT_ERR_OOM_HOST;
    for (uint32_t k = 0; k < batch; k++) {
        dummy[k] = 3;
        dummy[batch + k] = 1;
    }
    vknmt_batch bt = {batch, tx, 1, src, src_len, dummy, dummy + batch};
    vknmt_status s = vknmt_model_prepare(m, &bt);
    free(dummy);
    if (s)
        return s;
    if (m->chunk_rows < batch)
        return vknmt_seq_fail(m->seq, VKNMT_ERR_LIMIT, "greedy: batch %u over the %u rows of logits at once", batch,
                              m->chunk_rows);
    /* ids [(steps + 1) * B] (row 0 is <s>), logprob [steps * B], alpha [steps * B * tx], the context
     * products [tx * B, pw] and a step's weighed ones [B, pw] */
    uint32_t pw = vknmt_model_context_width(m);
    uint64_t n_ids = (uint64_t)(steps + 1) * batch, n_lp = (uint64_t)steps * batch, n_al = n_lp * tx;
    uint64_t at_hc = vknmt_quads(n_ids + n_lp + n_al), n_hc = vknmt_quads((uint64_t)tx * batch * pw);
    uint64_t need = at_hc + n_hc + (uint64_t)batch * pw;
    if (need > m->dec_cap) {
        vknmt_buffer_destroy(m->dec_work);
        m->dec_work = NULL;
        m->dec_cap = 0;
        if ((s = vknmt_buffer_create(m->ctx, need * 4, &m->dec_work)))
            return s;
        m->dec_cap = need;
    }
    vknmt_ref ids = vknmt_at(m->dec_work, 0), lp = vknmt_at(m->dec_work, n_ids),
              al = vknmt_at(m->dec_work, n_ids + n_lp), hc = vknmt_at(m->dec_work, at_hc),
              pctx = vknmt_at(m->dec_work, at_hc + n_hc);
    uint32_t *host = malloc((size_t)batch * sizeof(uint32_t));
    int32_t *tok = malloc(n_ids * sizeof(int32_t));
    bool *ended = calloc(batch, sizeof(bool));
    if (!host || !tok || !ended) {
        free(host);
        free(tok);
        free(ended);
        return VKNMT_ERR_OOM_HOST;
    }
    for (uint32_t k = 0; k < batch; k++)
        host[k] = 2; /* <s> */
    s = vknmt_buffer_upload(ids.buf, ids.off * 4, host, batch * 4);
    for (uint32_t k = 0; k < batch; k++)
        host[k] = steps; /* the decoder's GRU never masks a step here */
    if (!s)
        s = vknmt_buffer_upload(m->w.tgt_len.buf, m->w.tgt_len.off * 4, host, batch * 4);
    free(host);

    vknmt_ws *w = &m->w;
    uint32_t b = batch, n = c->n, ran = 0, checked = 0;
    bool att = c->attention == VKNMT_ATTENTION_ADDITIVE;
    bool fold = vknmt_model_query_folds(m, b); /* each step computes the next one's query: see step_logits */
    /* a word's row for the next step, which the argmax copies: its embedding, or for a few rows its row
     * of the word table (its products, read instead of multiplied); a few rows also read their weights in panels */
    vknmt_ref table = {0};
    if (!s)
        s = vknmt_model_decode_tables(m, b, &table);
    vknmt_step_words sw = vknmt_model_step_words(m, b, table);
    vknmt_seq_stats total = {0};
    if (!s)
        s = vknmt_seq_begin(m->seq);
    if (!s)
        s = vknmt_model_record_encoder(m);
    if (!s && pw)
        s = vknmt_model_context_products(m, hc);
    if (!s && !att)
        s = vknmt_encdec_context(m->seq, b, tx, n, w->h, w->src_len, w->ctx);
    while (ran < steps && !s) {
        uint32_t i = ran;
        vknmt_dec_step d = {i, vknmt_rows(w->s, (uint64_t)(i % 2) * b, n), vknmt_rows(w->s, (uint64_t)((i + 1) % 2) * b, n),
                            w->adec, w->gdec, w->rhdec, w->ws, vknmt_rows(al, (uint64_t)i * b, tx), pw ? pctx : w->ctx,
                            {0}, 0, &sw.proj, pw ? hc : (vknmt_ref){0}, fold && i > 0};
        /* <s>'s rows; each later step's come with the last step's choice */
        if ((i == 0 && (s = vknmt_embed_gather(m->seq, sw.source, c->vt, sw.dim, vknmt_rows(ids, i, b), b, sw.xin))) ||
            (s = vknmt_decoder_step(m, &d)) ||
            (s = vknmt_model_step_logits(m, d.s_new, c->vt, (vknmt_ref){0}, pw ? pctx : (vknmt_ref){0},
                                         fold && i + 1 < steps ? w->ws : (vknmt_ref){0}, sw.pe)) ||
            (s = argmax_rows(m->seq, b, c->vt, w->logits, vknmt_rows(ids, i + 1, b), vknmt_rows(lp, i, b), sw.source,
                             sw.dim, sw.xin)))
            break;
        ran++;
        if (ran % STEPS_PER_SUBMIT && ran < steps)
            continue;
        /* a submission ends here: stop once every sentence has ended */
        vknmt_seq_stats st = vknmt_seq_stats_get(m->seq);
        total.dispatches += st.dispatches;
        total.barriers += st.barriers;
        total.fills += st.fills;
        if ((s = vknmt_seq_submit(m->seq)) ||
            (s = vknmt_buffer_download(ids.buf, (ids.off + (uint64_t)(checked + 1) * b) * 4,
                                       tok + (size_t)(checked + 1) * b, (uint64_t)(ran - checked) * b * 4)))
            break;
        if (greedy_ended(tok, b, src_len, max_len, checked, ran, ended))
            break;
        checked = ran;
        if (ran < steps)
            s = vknmt_seq_begin(m->seq);
    }
    m->last_stats = total;
    if (vknmt_seq_recording(m->seq)) { /* an error left a submission open */
        vknmt_status s2 = vknmt_seq_submit(m->seq);
        s = s ? s : s2;
    }
    free(ended);
    if (s) {
        free(tok);
        return s;
    }

    n_lp = (uint64_t)ran * batch;
    n_al = n_lp * tx;
    float *lps = malloc(n_lp * sizeof(float)), *alpha = att ? malloc(n_al * sizeof(float)) : NULL;
    if (!lps || (att && !alpha))
        s = VKNMT_ERR_OOM_HOST;
    if (!s)
        s = vknmt_buffer_download(lp.buf, lp.off * 4, lps, n_lp * 4);
    if (!s && att)
        s = vknmt_buffer_download(al.buf, al.off * 4, alpha, n_al * 4);
    for (uint32_t k = 0; k < batch && !s; k++) {
        uint32_t limit = vknmt_decode_limit(max_len, src_len, k), len = 0, sl = (uint32_t)src_len[k];
        limit = limit < ran ? limit : ran; /* ran stops only once every sentence has ended */
        double sum = 0;
        while (len < limit) {
            int32_t t = tok[(size_t)(len + 1) * batch + k];
            sum += lps[(size_t)len * batch + k];
            len++;
            if (t == 3)
                break;
        }
        vknmt_translation *o = &out[k];
        o->len = len;
        o->logprob = sum;
        o->src_len = sl;
        o->tokens = malloc(len * sizeof(int32_t));
        o->alpha = calloc((size_t)len * sl, sizeof(float));
        if (!o->tokens || !o->alpha) {
            s = VKNMT_ERR_OOM_HOST;
            break;
        }
        for (uint32_t i = 0; i < len; i++) {
            o->tokens[i] = tok[(size_t)(i + 1) * batch + k];
            if (att)
                memcpy(o->alpha + (size_t)i * sl, alpha + ((size_t)i * batch + k) * tx, sl * sizeof(float));
        }
    }
    free(tok);
    free(lps);
    free(alpha);
    if (s)
        for (uint32_t k = 0; k < batch; k++)
            vknmt_translation_free(&out[k]);
    return s;
}

void vknmt_translation_free(vknmt_translation *t)
{
    free(t->tokens);
    free(t->alpha);
    memset(t, 0, sizeof(*t));
}
