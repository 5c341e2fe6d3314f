/* Beam search on the device, batched over sentences and beams (GroundHog's
 * rules, shared/spec/rnnsearch.md "Decoding"): a hypothesis that emits </s>
 * leaves the beam, which shrinks; a sentence stops when K have ended or at
 * its length limit (2 * len + 10 words unless given), when the live ones
 * join the ended. Each step is one submission over all B * K hypotheses:
 * state reordering, the decoder step, the logits and the per-sentence top-k
 * all run on the device; the host reads back K (parent, word, score)
 * triples per sentence per step and keeps the hypotheses' histories; every
 * step's attention stays on the device and is read once at the end for the
 * winners.
 *
 * The encoder runs once per sentence; s_0 is copied to the sentence's K
 * hypothesis rows, which all attend over the sentence's one copy of the
 * annotations. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "beam_topk.h"
#include "embed.h"
#include "model_internal.h"
#include "readout.h"
#include "vknmt_kernel.h"

#define MAX_BEAM 16

typedef struct hyp {
    int32_t *tokens; /* owned */
    uint32_t *rows;  /* owned: the device row whose attention emitted each token */
    uint32_t len;
    double score;
} hyp;

typedef struct sentence {
    uint32_t src_len, max_len;
    hyp live[MAX_BEAM], done[MAX_BEAM];
    uint32_t nlive, ndone;
    uint32_t live_row[MAX_BEAM]; /* the device row holding each live hypothesis's state */
} sentence;

static void hyp_free(hyp *h)
{
    free(h->tokens);
    free(h->rows);
    memset(h, 0, sizeof(*h));
}

/* parent's history + one word, emitted by device row `row`. */
static bool hyp_extend(const hyp *parent, int32_t token, double score, uint32_t row, uint32_t cap, hyp *out)
{
    out->tokens = malloc(cap * sizeof(int32_t));
    out->rows = malloc(cap * sizeof(uint32_t));
    if (!out->tokens || !out->rows)
        return false;
    memcpy(out->tokens, parent->tokens, parent->len * sizeof(int32_t));
    memcpy(out->rows, parent->rows, parent->len * sizeof(uint32_t));
    out->tokens[parent->len] = token;
    out->rows[parent->len] = row;
    out->len = parent->len + 1;
    out->score = score;
    return true;
}

/* out[r] = table[ids[r]] for r < n rows of dim floats; a one-row table is
 * repeated (the gather kernel needs two rows). */
static vknmt_status replicate(vknmt_seq *seq, vknmt_ref table, uint32_t rows, uint32_t dim, vknmt_ref ids, uint32_t n,
                              vknmt_ref out)
{
    if (rows < 2)
        return vknmt_copy2d(seq, table, 0, out, dim, n, dim);
    return vknmt_embed_gather(seq, table, rows, dim, ids, n, out);
}

/* The encoder's output for the batch's sentences: annotations and keys
 * [tx, batch, .], and for RNNencdec the fixed contexts [batch, 2n]. */
typedef struct enc_out {
    vknmt_ref h, uh, ctx;
    uint32_t batch;
} enc_out;

/* Runs the encoder once per sentence (batch rows) and gives each of a
 * sentence's `beam` hypothesis rows its s_0 (vknmt_model_prepare_decode
 * laid the workspace out). RNNencdec's contexts go to a tensor decoding
 * leaves unused (the backward pass's dh). */
static vknmt_status encode_once(vknmt_model *m, uint32_t batch, uint32_t tx, uint32_t beam, const int32_t *src,
                                const int32_t *src_len, vknmt_ref hc, enc_out *e)
{
    vknmt_ws *w = &m->w;
    uint32_t bk = batch * beam, n = m->cfg.n;
    int32_t *tm = malloc(((size_t)tx * batch + bk) * sizeof(int32_t));
    if (!tm)
        return VKNMT_ERR_OOM_HOST;
    int32_t *sid = tm + (size_t)tx * batch;
    for (uint32_t t = 0; t < tx; t++)
        for (uint32_t b = 0; b < batch; b++)
            tm[t * batch + b] = src[(size_t)b * tx + t];
    for (uint32_t r = 0; r < bk; r++)
        sid[r] = (int32_t)(r / beam);
    /* an index table in a tensor decoding leaves unused: an embedding CSR */
    vknmt_status s;
    if ((s = vknmt_buffer_upload(w->src.buf, w->src.off * 4, tm, (uint64_t)tx * batch * 4)) ||
        (s = vknmt_buffer_upload(w->src_len.buf, w->src_len.off * 4, src_len, batch * 4)) ||
        (s = vknmt_buffer_upload(w->tgt_order.buf, w->tgt_order.off * 4, sid, bk * 4))) {
        free(tm);
        return s;
    }
    free(tm);
    m->b = batch;
    *e = (enc_out){w->h, w->uh, w->dh, batch};
    s = vknmt_seq_begin(m->seq);
    if (!s)
        s = vknmt_model_record_encoder(m);
    if (!s && hc.buf)
        s = vknmt_model_context_products(m, hc);
    if (!s)
        s = replicate(m->seq, w->s, batch, n, w->tgt_order, bk, w->ds);
    if (!s)
        s = vknmt_copy(m->seq, w->ds, w->s, (uint64_t)bk * n);
    if (!s && m->cfg.attention == VKNMT_ATTENTION_NONE)
        s = vknmt_encdec_context(m->seq, batch, tx, n, w->h, w->src_len, e->ctx);
    vknmt_status s2 = vknmt_seq_recording(m->seq) ? vknmt_seq_submit(m->seq) : VKNMT_OK;
    return s ? s : s2;
}

/* Gives the hypothesis rows of `packed` sentences (sentence pos[k] on rows
 * k * beam .. k * beam + beam - 1) their source: the encoder column each
 * row attends over (w->src_order, a tensor decoding leaves unused), its
 * length, and for RNNencdec its fixed context. The annotations themselves
 * are not copied: every hypothesis of a sentence reads the sentence's one
 * copy. Uploads the tables now and records into the open submission. */
static vknmt_status lay_out_rows(vknmt_model *m, const enc_out *e, uint32_t beam, const uint32_t *pos,
                                 uint32_t packed, const int32_t *src_len, int32_t *scratch)
{
    vknmt_ws *w = &m->w;
    uint32_t rows = packed * beam;
    int32_t *len = scratch + rows;
    for (uint32_t k = 0; k < packed; k++)
        for (uint32_t j = 0; j < beam; j++) {
            scratch[k * beam + j] = (int32_t)pos[k];
            len[k * beam + j] = src_len[pos[k]];
        }
    vknmt_status s;
    if ((s = vknmt_buffer_upload(w->src_order.buf, w->src_order.off * 4, scratch, (uint64_t)rows * 4)) ||
        (s = vknmt_buffer_upload(w->src_len.buf, w->src_len.off * 4, len, rows * 4)))
        return s;
    if (m->cfg.attention == VKNMT_ATTENTION_NONE)
        return replicate(m->seq, e->ctx, e->batch, 2 * m->cfg.n, w->src_order, rows, w->ctx);
    return VKNMT_OK;
}

static double hyp_key(const hyp *h, float length_alpha)
{
    return length_alpha > 0 ? h->score / pow((double)h->len, length_alpha) : h->score;
}

/* Orders the ended hypotheses best first (ties: the one that ended first). */
static void rank(const sentence *st, float length_alpha, uint32_t *order)
{
    for (uint32_t i = 0; i < st->ndone; i++) {
        uint32_t j = i;
        double k = hyp_key(&st->done[i], length_alpha);
        while (j > 0 && hyp_key(&st->done[order[j - 1]], length_alpha) < k) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
}

/* Whether no live hypothesis can reach the n-best any more: without length
 * normalisation a score only falls as words are added (each adds a
 * log-probability <= 0), so once the nbest-th ended hypothesis scores above
 * every live one, decoding on changes none of the n best. */
static bool settled(const sentence *st, uint32_t nbest, float length_alpha)
{
    if (length_alpha > 0 || st->ndone < nbest || st->nlive == 0)
        return false;
    uint32_t order[MAX_BEAM];
    rank(st, length_alpha, order);
    double kth = st->done[order[nbest - 1]].score, live = -INFINITY;
    for (uint32_t j = 0; j < st->nlive; j++)
        live = st->live[j].score > live ? st->live[j].score : live;
    return kth > live;
}

static vknmt_status beam_search(vknmt_model *m, uint32_t batch, uint32_t tx, const int32_t *src,
                                const int32_t *src_len, const vknmt_beam_options *o, bool no_unk,
                                vknmt_translation *out)
{
    uint32_t beam = o->beam, nbest = o->nbest > 1 ? o->nbest : 1;
    float length_alpha = o->length_alpha;
    memset(out, 0, (size_t)batch * nbest * sizeof(*out));
    memset(out, 0, batch * sizeof(*out));
    const vknmt_model_config *c = &m->cfg;
    if (batch == 0 || tx == 0)
        return vknmt_seq_fail(m->seq, VKNMT_ERR_SHAPE, "beam: empty batch");
    if (beam < 1 || beam > MAX_BEAM || nbest > beam)
        return vknmt_seq_fail(m->seq, VKNMT_ERR_USAGE, "beam size %u (n-best %u): must be 1 .. %u, n-best <= beam",
                              beam, nbest, MAX_BEAM);
    uint32_t bk = batch * beam, steps = 0;
    sentence *sts = calloc(batch, sizeof(sentence));
    float *hs = malloc(bk * sizeof(float)), *scores = malloc(bk * sizeof(float)),
          *alpha = NULL; /* every step's attention, read back once at the end */
    int32_t *ints = malloc((size_t)bk * 4 * sizeof(int32_t));
    uint32_t *lv = malloc(2 * (size_t)batch * sizeof(uint32_t)), *pos = malloc(batch * sizeof(uint32_t));
    int32_t *lay = malloc(2 * (size_t)bk * sizeof(int32_t)); /* lay_out_rows' index tables */
    vknmt_status s = VKNMT_OK;
    if (!sts || !hs || !scores || !ints || !lv || !pos || !lay) {
        s = VKNMT_ERR_OOM_HOST;
        goto done;
    }
    for (uint32_t b = 0; b < batch; b++) {
        sts[b].src_len = (uint32_t)src_len[b];
        sts[b].max_len = vknmt_decode_limit(o->max_len, src_len, b);
        steps = sts[b].max_len > steps ? sts[b].max_len : steps;
        sts[b].nlive = 1; /* the empty hypothesis */
        sts[b].live_row[0] = b * beam;
        sts[b].live[0].tokens = malloc(sizeof(int32_t));
        sts[b].live[0].rows = malloc(sizeof(uint32_t));
        if (!sts[b].live[0].tokens || !sts[b].live[0].rows) {
            s = VKNMT_ERR_OOM_HOST;
            goto done;
        }
    }
    if ((s = vknmt_model_prepare_decode(m, batch, tx, beam, src, src_len)))
        goto done;
    if (m->chunk_rows < bk) {
        s = vknmt_seq_fail(m->seq, VKNMT_ERR_LIMIT, "beam: %u hypotheses over the %u rows of logits at once", bk,
                           m->chunk_rows);
        goto done;
    }
    /* device inputs and outputs of a step: y, parent, live/take, hs; parent', token', score';
     * the attention of every step [steps, bk, tx]; the logits' block statistics [bk, 2 nblk] */
    uint64_t nstat = 2 * (uint64_t)vknmt_softmax_block_count(m->ctx, c->vt);
    /* the context products [tx * batch, pw], a step's weighed ones [bk, pw] and the next step's attention
     * queries of every row [bk, na] (the top-k carries them to the continuing hypotheses' slots) */
    uint32_t pw = vknmt_model_context_width(m);
    bool fold_any = vknmt_model_query_folds(m, 1); /* whether a step may have few enough rows */
    uint64_t at_hc = vknmt_quads(7 * (uint64_t)bk + 2 * batch + (uint64_t)steps * bk * tx + bk * nstat);
    uint64_t n_hc = vknmt_quads((uint64_t)tx * batch * pw), at_q = at_hc + n_hc + vknmt_quads((uint64_t)bk * pw);
    uint64_t need = at_q + (fold_any ? (uint64_t)bk * c->na : 0);
    if (need > m->dec_cap) {
        vknmt_buffer_destroy(m->dec_work);
        m->dec_work = NULL;
        m->dec_cap = 0;
        if ((s = vknmt_buffer_create(m->ctx, need * 4, &m->dec_work)))
            goto done;
        m->dec_cap = need;
    }
    vknmt_ref y = vknmt_at(m->dec_work, 0), par = vknmt_at(m->dec_work, bk), hsr = vknmt_at(m->dec_work, 2 * (uint64_t)bk),
              lvr = vknmt_at(m->dec_work, 3 * (uint64_t)bk), opa = vknmt_at(m->dec_work, 3 * (uint64_t)bk + 2 * batch),
              otk = vknmt_at(opa.buf, opa.off + bk), osc = vknmt_at(opa.buf, opa.off + 2 * (uint64_t)bk),
              oal = vknmt_at(opa.buf, opa.off + 3 * (uint64_t)bk),
              stats = vknmt_at(oal.buf, oal.off + (uint64_t)steps * bk * tx),
              hc = vknmt_at(m->dec_work, at_hc), pctx = vknmt_at(hc.buf, hc.off + n_hc),
              qs = fold_any ? vknmt_at(m->dec_work, at_q) : (vknmt_ref){0};
    if (!pw)
        hc = pctx = (vknmt_ref){0};
    for (uint32_t r = 0; r < bk; r++)
        ints[r] = (int32_t)steps; /* the decoder's GRU never masks a step */
    enc_out enc;
    /* steps on a few rows read their words' products from the word table (the top-k copies its rows)
     * and their weights in panels */
    vknmt_ref table = {0};
    if ((s = vknmt_buffer_upload(m->w.tgt_len.buf, m->w.tgt_len.off * 4, ints, bk * 4)) ||
        (s = vknmt_model_decode_tables(m, 1, &table)) ||
        (s = encode_once(m, batch, tx, beam, src, src_len, hc, &enc)))
        goto done;

    /* Only the sentences still decoding take device rows: sentence pos[k]'s
     * hypotheses are on rows k * beam .. (k + 1) * beam - 1 of the `packed`
     * sentences laid out. Whenever a sentence has ended the rest are laid
     * out again (two small tables), so a batch whose sentences end at
     * different lengths does not run its longest sentence's steps for all of
     * them. A hypothesis's state moves with the parent gather every step
     * anyway. */
    vknmt_ws *w = &m->w;
    uint32_t n = c->n, steps_run = 0, packed = batch, rows_before = bk, ld = vknmt_logits_ld(c);
    bool carried = false; /* whether the last top-k laid out the next step's rows */
    bool queried = false; /* ... and their attention queries */
    vknmt_seq_stats total = {0}; /* the steps' (the encoder's not) */
    for (uint32_t b = 0; b < batch; b++)
        pos[b] = b;
    for (uint32_t step = 0; step < steps; step++) {
        uint32_t nlive = 0;
        for (uint32_t k = 0; k < packed; k++)
            nlive += sts[pos[k]].nlive > 0;
        if (!nlive)
            break;
        bool lay_out = step == 0 || nlive < packed;
        if (nlive < packed) {
            uint32_t kept = 0;
            for (uint32_t k = 0; k < packed; k++)
                if (sts[pos[k]].nlive)
                    pos[kept++] = pos[k];
            packed = kept;
        }
        uint32_t rows = packed * beam;
        /* this step's inputs: each sentence's live hypotheses in its first slots;
         * parents are rows of the previous step's layout */
        for (uint32_t k = 0; k < packed; k++) {
            sentence *st = &sts[pos[k]];
            lv[k] = st->nlive;
            lv[packed + k] = st->nlive ? beam - st->ndone : 0;
            for (uint32_t j = 0; j < beam; j++) {
                uint32_t slot = k * beam + j;
                bool alive = j < st->nlive;
                ints[slot] = alive && st->live[j].len ? st->live[j].tokens[st->live[j].len - 1] : 2; /* <s> first */
                ints[bk + slot] = (int32_t)(alive ? st->live_row[j] : slot);
                hs[slot] = alive ? (float)st->live[j].score : -INFINITY;
            }
        }
        /* the previous step's top-k laid this step's rows out unless sentences left */
        bool gather = lay_out || !carried;
        if ((gather && (s = vknmt_buffer_upload(y.buf, y.off * 4, ints, 2 * (uint64_t)bk * 4))) ||
            (s = vknmt_buffer_upload(hsr.buf, hsr.off * 4, hs, rows * 4)) ||
            (s = vknmt_buffer_upload(lvr.buf, lvr.off * 4, lv, 2 * (uint64_t)packed * 4)) ||
            (s = vknmt_seq_begin(m->seq)))
            goto done;
        if (lay_out && (s = lay_out_rows(m, &enc, beam, pos, packed, src_len, lay))) {
            vknmt_seq_submit(m->seq);
            goto done;
        }
        m->b = rows;
        /* rows as many as the last step's when it carried: the same choice, so its rows fit */
        vknmt_step_words sw = vknmt_model_step_words(m, rows, table);
        /* for a few rows the deep output computes every row's next query and the top-k carries them */
        bool fold = vknmt_model_query_folds(m, rows);
        vknmt_dec_step d = {step,   w->ds, w->s, w->adec, w->gdec, w->rhdec, w->ws, vknmt_rows(oal, (uint64_t)step * bk, tx),
                            pw ? pctx : w->ctx, w->src_order, batch, &sw.proj, hc, queried && !gather};
        /* reorder: each slot continues the state of its parent row (into ds,
         * the backward pass's, which decoding leaves unused) */
        vknmt_lookup reorder = {w->s, rows_before, n, par, rows, w->ds},
                     words = {sw.source, c->vt, sw.dim, y, rows, sw.xin};
        vknmt_beam_carry next = {w->s, w->ds, sw.source, sw.xin, n, sw.dim, 3, 2, qs, w->ws, fold ? c->na : 0};
        if ((gather && (s = rows_before > 1 ? vknmt_embed_gather2(m->seq, &reorder, &words)
                                            : vknmt_copy(m->seq, w->s, w->ds, n))) || /* one row: its own parent */
            (gather && rows_before == 1 &&
             (s = vknmt_embed_gather(m->seq, sw.source, c->vt, sw.dim, y, rows, sw.xin))) ||
            (s = vknmt_decoder_step(m, &d)) ||
            (s = vknmt_model_step_logits(m, w->s, ld, stats, pctx, fold ? qs : (vknmt_ref){0}, sw.pe)) ||
            (s = vknmt_beam_topk_carry(m->seq, packed, beam, c->vt, ld, no_unk, w->logits, stats, hsr, lvr, opa, otk,
                                       osc, &next, &carried)) ||
            (!carried && (s = vknmt_beam_topk(m->seq, packed, beam, c->vt, ld, no_unk, w->logits, stats, hsr, lvr,
                                              opa, otk, osc)))) {
            vknmt_seq_submit(m->seq);
            goto done;
        }
        queried = fold && carried;
        vknmt_seq_stats rec = vknmt_seq_stats_get(m->seq);
        total.dispatches += rec.dispatches;
        total.barriers += rec.barriers;
        total.fills += rec.fills;
        if ((s = vknmt_seq_submit(m->seq)) ||
            (s = vknmt_buffer_download(opa.buf, opa.off * 4, ints, 2 * (uint64_t)bk * 4)) ||
            (s = vknmt_buffer_download(osc.buf, osc.off * 4, scores, rows * 4)))
            goto done;
        steps_run = step + 1;
        rows_before = rows;
        /* ended hypotheses leave the beam; the rest are the next step's */
        for (uint32_t k = 0; k < packed; k++) {
            sentence *st = &sts[pos[k]];
            if (!st->nlive)
                continue;
            hyp next[MAX_BEAM];
            uint32_t next_row[MAX_BEAM], nnext = 0, take = lv[packed + k];
            for (uint32_t j = 0; j < take; j++) {
                uint32_t slot = k * beam + j;
                int32_t prow = ints[slot], tok = ints[bk + slot];
                if (prow < 0 || tok < 0)
                    continue; /* fewer candidates than asked for */
                const hyp *parent = &st->live[(uint32_t)prow - k * beam];
                hyp h = {0};
                if (!hyp_extend(parent, tok, scores[slot], (uint32_t)prow, st->max_len, &h)) {
                    hyp_free(&h);
                    s = VKNMT_ERR_OOM_HOST;
                    goto done;
                }
                if (tok == 3) {
                    st->done[st->ndone++] = h;
                } else {
                    next_row[nnext] = (uint32_t)prow;
                    next[nnext++] = h;
                }
            }
            for (uint32_t j = 0; j < st->nlive; j++)
                hyp_free(&st->live[j]);
            /* the rows that computed the chosen parents hold their new states */
            for (uint32_t j = 0; j < nnext; j++) {
                st->live[j] = next[j];
                st->live_row[j] = next_row[j];
            }
            st->nlive = nnext;
            if (st->ndone >= beam || step + 1 >= st->max_len || (!o->exhaustive && settled(st, nbest, length_alpha))) {
                for (uint32_t j = 0; j < st->nlive && st->ndone < MAX_BEAM; j++)
                    st->done[st->ndone++] = st->live[j];
                st->nlive = 0;
            }
        }
    }
    m->last_stats = total;
    if (c->attention == VKNMT_ATTENTION_ADDITIVE && steps_run) {
        alpha = malloc((size_t)steps_run * bk * tx * sizeof(float));
        if (!alpha || (s = vknmt_buffer_download(oal.buf, oal.off * 4, alpha, (uint64_t)steps_run * bk * tx * 4))) {
            s = s ? s : VKNMT_ERR_OOM_HOST;
            goto done;
        }
    }
    for (uint32_t b = 0; b < batch * nbest; b++) {
        uint32_t order[MAX_BEAM], r = b % nbest;
        const sentence *st = &sts[b / nbest];
        rank(st, length_alpha, order);
        const hyp *h = r < st->ndone ? &st->done[order[r]] : NULL;
        vknmt_translation *t = &out[b];
        t->src_len = st->src_len;
        if (!h)
            continue;
        t->len = h->len;
        t->logprob = h->score;
        t->tokens = malloc((h->len ? h->len : 1) * sizeof(int32_t));
        t->alpha = calloc((size_t)h->len * t->src_len + 1, sizeof(float));
        if (!t->tokens || !t->alpha) {
            s = VKNMT_ERR_OOM_HOST;
            break;
        }
        memcpy(t->tokens, h->tokens, h->len * sizeof(int32_t));
        for (uint32_t i = 0; alpha && i < h->len; i++) /* token i's attention: step i, its row */
            memcpy(t->alpha + (size_t)i * t->src_len, alpha + ((size_t)i * bk + h->rows[i]) * tx,
                   t->src_len * sizeof(float));
    }
done:
    for (uint32_t b = 0; sts && b < batch; b++) {
        for (uint32_t j = 0; j < sts[b].nlive; j++)
            hyp_free(&sts[b].live[j]);
        for (uint32_t j = 0; j < sts[b].ndone; j++)
            hyp_free(&sts[b].done[j]);
    }
    if (s)
        for (uint32_t b = 0; b < batch * nbest; b++)
            vknmt_translation_free(&out[b]);
    free(sts);
    free(hs);
    free(scores);
    free(alpha);
    free(ints);
    free(lv);
    free(pos);
    free(lay);
    return s;
}

vknmt_status vknmt_model_beam(vknmt_model *m, uint32_t batch, uint32_t tx, const int32_t *src, const int32_t *src_len,
                              const vknmt_beam_options *o, vknmt_translation *out)
{
    vknmt_status s = beam_search(m, batch, tx, src, src_len, o, o->no_unk, out);
    if (s || !o->no_unk)
        return s;
    /* "no UNK" decoding that ended no hypothesis: allow <unk> after all */
    uint32_t nb = o->nbest > 1 ? o->nbest : 1;
    vknmt_translation again[MAX_BEAM];
    for (uint32_t b = 0; b < batch && !s; b++) {
        const vknmt_translation *w = &out[b * nb];
        if (w->len && w->tokens[w->len - 1] == 3)
            continue;
        s = beam_search(m, 1, tx, src + (size_t)b * tx, &src_len[b], o, false, again);
        for (uint32_t r = 0; r < nb && !s; r++) {
            vknmt_translation_free(&out[b * nb + r]);
            out[b * nb + r] = again[r];
        }
    }
    return s;
}
