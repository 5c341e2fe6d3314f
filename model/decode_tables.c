/* Decoding's tables: what a decoding step on a few rows reads instead of
 * what it would compute or read slowly, made once per parameter version.
 *
 * The word table: for every target word y, the two products of its
 * embedding a decoding step makes, dec.W E y (the GRU's input projection)
 * and out.V E y (the deep output's), made by two GEMMs over the whole
 * vocabulary. A step on a few rows then reads its words' rows (the top-k or
 * the argmax copies them as it copied the embeddings) instead of
 * multiplying: 1.6 M of a small beam-5 step's 14 M multiply-adds. Each
 * entry is the sum over k in k order that the step's few-rows product would
 * make, so the bits do not change.
 *
 * The weights in panels (vknmt_panel_rows): out.W, out.U and dec.U, which
 * the output layer's, the deep output's and the GRU's few-rows kernels then
 * read a fetch from adjacent memory instead of from 8 rows apart; the same
 * values in the same order, so again the same bits. */
#include "gru_cell.h"
#include "model_internal.h"
#include "vknmt_kernel.h"

/* Tables larger than this are not made: on CPU devices (where they serve)
 * the small preset's is 41 MB; the paper preset's would be 480 MB. */
#define WORD_TABLE_BYTES (64ull << 20)

uint32_t vknmt_word_table_width(const vknmt_model *m)
{
    const vknmt_model_config *c = &m->cfg;
    uint64_t width = vknmt_quads(3 * (uint64_t)c->n) + vknmt_quads(2 * (uint64_t)c->l);
    /* where both products are few-rows dispatches that can read a given product (the GRU's needs n on quads) */
    bool serves = vknmt_model_query_folds(m, 1) && c->n % 4 == 0;
    return serves && width * c->vt * 4 <= WORD_TABLE_BYTES ? (uint32_t)width : 0;
}

bool vknmt_model_tables_serve(const vknmt_model *m, uint32_t rows)
{
    return !m->no_tables && rows <= VKNMT_FEW_ROWS && vknmt_word_table_width(m) != 0;
}

vknmt_step_words vknmt_model_step_words(const vknmt_model *m, uint32_t rows, vknmt_ref table)
{
    const vknmt_model_config *c = &m->cfg;
    const vknmt_ws *w = &m->w;
    vknmt_step_words sw = {vknmt_model_param(m, "dec.emb"), w->ey, {0}, c->m,
                           {.m = rows, .n = 3 * c->n, .k = c->m, .trans_b = true, .alpha = 1, .a = w->ey,
                            .b = vknmt_model_param(m, "dec.W"), .c = w->adec, .bias = vknmt_model_param(m, "dec.b")}};
    if (table.buf && vknmt_model_tables_serve(m, rows)) {
        sw.source = table;
        sw.xin = sw.pe = sw.proj.a = w->pe;
        sw.dim = sw.proj.lda = vknmt_word_table_width(m);
        sw.proj.b = (vknmt_ref){0};
    }
    return sw;
}

/* The weights in panels, one after another in one buffer: out.W's, out.U's,
 * dec.U's (their places in buf, and in *floats the floats they take). Only where their products are few-rows dispatches (the maxout
 * readout and attention; A, t [rows, l] and s [rows, n], on quads) and
 * they fit one storage binding (the paper preset's are 73 MB). */
static vknmt_weight_panels panels_at(const vknmt_model *m, vknmt_buffer *buf, uint64_t *floats)
{
    const vknmt_context *ctx = vknmt_seq_context(m->seq);
    uint64_t w = vknmt_panel_floats(ctx, m->cfg.vt, m->cfg.l), u = vknmt_panel_floats(ctx, 2 * m->cfg.l, m->cfg.n);
    *floats = w + u + vknmt_gru_u_panel_floats(ctx, m->cfg.n);
    return (vknmt_weight_panels){vknmt_at(buf, 0), vknmt_at(buf, w), vknmt_at(buf, w + u)};
}

static uint64_t panel_floats(const vknmt_model *m)
{
    uint64_t floats;
    panels_at(m, NULL, &floats);
    return floats;
}

bool vknmt_model_panels_serve(const vknmt_model *m, uint32_t rows)
{
    const vknmt_model_config *c = &m->cfg;
    uint64_t bytes = 4 * panel_floats(m);
    return !m->no_tables && vknmt_model_query_folds(m, rows) && c->l % 4 == 0 && c->n % 4 == 0 &&
           vknmt_panel_height(vknmt_seq_context(m->seq)) != 0 &&
           bytes <= vknmt_context_caps(vknmt_seq_context(m->seq))->max_storage_buffer_range;
}

/* Made only where they serve a step of at most VKNMT_FEW_ROWS rows: what
 * a step checks is that they are made, fresh, and not switched off. */
vknmt_weight_panels vknmt_model_panels(const vknmt_model *m, uint32_t rows)
{
    if (!m->tables_fresh || !m->panels || m->no_tables || rows > VKNMT_FEW_ROWS)
        return (vknmt_weight_panels){{0}, {0}, {0}};
    return m->panel_at;
}

vknmt_status vknmt_model_decode_tables(vknmt_model *m, uint32_t rows, vknmt_ref *table)
{
    const vknmt_model_config *c = &m->cfg;
    uint32_t tw = vknmt_word_table_width(m);
    bool words = vknmt_model_tables_serve(m, rows), panels = vknmt_model_panels_serve(m, rows);
    vknmt_status s;
    *table = (vknmt_ref){0};
    if (words && !m->word_table && (s = vknmt_buffer_create(m->ctx, (uint64_t)c->vt * tw * 4, &m->word_table)))
        return s;
    if (panels && !m->panels) {
        uint64_t floats;
        if ((s = vknmt_buffer_create(m->ctx, 4 * panel_floats(m), &m->panels)))
            return s;
        m->panel_at = panels_at(m, m->panels, &floats);
    }
    if (words)
        *table = vknmt_at(m->word_table, 0);
    if (m->tables_fresh || (!words && !panels))
        return VKNMT_OK;
    if ((s = vknmt_seq_begin(m->seq)))
        return s;
    if (words) {
        vknmt_gemm_args g = {.m = c->vt, .n = 3 * c->n, .k = c->m, .trans_b = true, .alpha = 1,
                             .a = vknmt_model_param(m, "dec.emb"), .b = vknmt_model_param(m, "dec.W"), .c = *table,
                             .ldc = tw};
        vknmt_gemm_args v = g;
        v.n = 2 * c->l;
        v.b = vknmt_model_param(m, "out.V");
        v.c = vknmt_at(m->word_table, vknmt_word_table_out_col(m));
        if ((s = vknmt_gemm(m->seq, &g)) == VKNMT_OK)
            s = vknmt_gemm(m->seq, &v);
    }
    if (!s && panels) {
        vknmt_weight_panels p = m->panel_at;
        if ((s = vknmt_panel_rows(m->seq, vknmt_model_param(m, "out.W"), c->l, c->vt, c->l, p.w)) == VKNMT_OK &&
            (s = vknmt_panel_rows(m->seq, vknmt_model_param(m, "out.U"), c->n, 2 * c->l, c->n, p.u)) == VKNMT_OK)
            s = vknmt_gru_u_panels(m->seq, vknmt_model_param(m, "dec.U"), c->n, p.dec_u);
    }
    if (s) {
        vknmt_seq_submit(m->seq);
        return s;
    }
    if ((s = vknmt_seq_submit(m->seq)))
        return s;
    m->tables_fresh = true;
    return VKNMT_OK;
}
