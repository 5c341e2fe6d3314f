/* Beam search's per-sentence top-k (shaders/beam_topk.comp, from the rows'
 * softmax block statistics of vknmt_softmax_blocks) against plain C in
 * double: awkward batch, beam, vocabulary and row-stride sizes, random live
 * rows and take counts (take 0, fewer candidates than take), exact ties
 * inside and across rows and across blocks, <unk> forbidden or not, on
 * every device class the launchers tell apart (checked by the profiler's
 * per-kernel counts); with the carry, the next step's rows laid out from
 * the kernel's own choices. Outputs are poisoned and guarded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "beam_topk.h"
#include "harness.h"
#include "internal.h" /* to force each kernel form through the caps, and count the kernels that ran */

#define TOL 1e-5
/* Two reference scores closer than this (but not equal) may come out in
 * either order: the device's float scores are within ~2e-6 of the double
 * ones at these sizes (|score| < 40). Equal reference scores (designed
 * ties) must follow the index order exactly. */
#define NEAR 2e-5
/* Reference candidates kept past take, to see a near tie across it. */
#define SLACK 16
#define PAD 1e30f /* after each row and in the dead rows' hs: wins wherever it is wrongly read */

static const uint32_t BATCHES[] = {1, 3, 17};
static const uint32_t BEAMS[] = {1, 2, 5, 12};
static const uint32_t VOCABS[] = {2, 7, 1001, 4671};

/* ---------------------------------------------------------- C reference */

typedef struct topk_case {
    uint32_t batch, beam, vocab, ld;
    bool no_unk;
    uint32_t *lv;     /* [2 * batch]: live rows, then take */
    float *x, *hs;    /* [batch * beam * ld], [batch * beam] */
    uint32_t *ref_c;  /* [batch * (beam + SLACK)]: the best candidates r * vocab + v, best first */
    double *ref_s;    /* their scores */
    double *lse;      /* [batch * beam]: each live row's log-sum-exp */
    uint32_t *ref_n;  /* [batch]: how many of them */
    uint32_t *total;  /* [batch]: how many candidates the sentence has */
} topk_case;

static void case_free(topk_case *c)
{
    void *all[] = {c->lv, c->x, c->hs, c->ref_c, c->ref_s, c->lse, c->ref_n, c->total};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        free(all[i]);
    memset(c, 0, sizeof(*c));
}

static bool better(double a, uint32_t ia, double b, uint32_t ib) { return a > b || (a == b && ia < ib); }

static double row_lse(const float *x, uint32_t vocab)
{
    double m = -INFINITY, s = 0;
    for (uint32_t v = 0; v < vocab; v++)
        m = fmax(m, x[v]);
    for (uint32_t v = 0; v < vocab; v++)
        s += exp(x[v] - m);
    return m + log(s);
}

static double cand_score(const topk_case *c, uint32_t b, uint32_t cand)
{
    uint32_t r = cand / c->vocab, v = cand % c->vocab, row = b * c->beam + r;
    return (double)c->hs[row] + (double)c->x[(size_t)row * c->ld + v] - c->lse[row];
}

/* Sentence b's best take + SLACK candidates, sorted, by insertion. */
static void ref_sentence(topk_case *c, uint32_t b)
{
    uint32_t L = c->lv[b], take = c->lv[c->batch + b], cap = take + SLACK, n = 0;
    uint32_t *ic = c->ref_c + (size_t)b * (c->beam + SLACK);
    double *sc = c->ref_s + (size_t)b * (c->beam + SLACK);
    for (uint32_t r = 0; r < L; r++)
        c->lse[b * c->beam + r] = row_lse(c->x + (size_t)(b * c->beam + r) * c->ld, c->vocab);
    c->total[b] = 0;
    for (uint32_t cand = 0; cand < L * c->vocab; cand++) {
        if (c->no_unk && cand % c->vocab == 1)
            continue;
        c->total[b]++;
        double s = cand_score(c, b, cand);
        if (n == cap && !better(s, cand, sc[n - 1], ic[n - 1]))
            continue;
        uint32_t k = n < cap ? n++ : n - 1;
        for (; k > 0 && better(s, cand, sc[k - 1], ic[k - 1]); k--) {
            sc[k] = sc[k - 1];
            ic[k] = ic[k - 1];
        }
        sc[k] = s;
        ic[k] = cand;
    }
    c->ref_n[b] = n;
}

/* Gives some of the row's values again elsewhere: its maximum twice (ties
 * at the top), sometimes on <unk>, and a few others. */
static void add_ties(float *x, uint32_t vocab)
{
    if (vocab < 3)
        return;
    uint32_t m = 0;
    for (uint32_t v = 1; v < vocab; v++)
        m = x[v] > x[m] ? v : m;
    if (th_rand_u64() % 3 == 0) { /* the best word is <unk> */
        float t = x[1];
        x[1] = x[m];
        x[m] = t;
        m = 1;
    }
    for (int i = 0; i < 2; i++)
        x[th_rand_u64() % vocab] = x[m];
    for (uint32_t i = 0; i < vocab / 16 + 1; i++)
        x[th_rand_u64() % vocab] = x[th_rand_u64() % vocab];
}

/* Fresh random inputs and the reference. Sentence 0 has one live row and
 * takes the whole beam (fewer candidates than that with a small
 * vocabulary), the last takes nothing; a sentence may repeat its row 0 as
 * row 1 (ties across rows). */
static bool case_make(topk_case *c, uint32_t batch, uint32_t beam, uint32_t vocab, uint32_t ld, bool no_unk)
{
    *c = (topk_case){.batch = batch, .beam = beam, .vocab = vocab, .ld = ld, .no_unk = no_unk};
    size_t rows = (size_t)batch * beam, kept = (size_t)batch * (beam + SLACK);
    c->lv = malloc(2 * batch * 4), c->x = malloc(rows * ld * 4), c->hs = malloc(rows * 4);
    c->ref_c = malloc(kept * 4), c->ref_s = malloc(kept * 8), c->lse = malloc(rows * 8);
    c->ref_n = malloc(batch * 4), c->total = malloc(batch * 4);
    if (!c->lv || !c->x || !c->hs || !c->ref_c || !c->ref_s || !c->lse || !c->ref_n || !c->total)
        return false;
    for (uint32_t b = 0; b < batch; b++) {
        uint32_t L = 1 + (uint32_t)(th_rand_u64() % beam), take = (uint32_t)(th_rand_u64() % (beam + 1));
        if (b == 0)
            L = 1, take = beam;
        else if (b == batch - 1)
            take = 0;
        else if (b == 1)
            L = beam, take = beam;
        c->lv[b] = L;
        c->lv[batch + b] = take;
        for (uint32_t r = 0; r < beam; r++) {
            float *x = c->x + (size_t)(b * beam + r) * ld;
            th_fill_uniform(x, vocab, -8, 8);
            add_ties(x, vocab);
            for (uint32_t v = vocab; v < ld; v++)
                x[v] = PAD;
            c->hs[b * beam + r] = r < L ? th_uniform(-5, 0) : PAD;
        }
        if (L >= 2 && th_rand_u64() % 2) {
            memcpy(c->x + (size_t)(b * beam + 1) * ld, c->x + (size_t)b * beam * ld, ld * 4);
            c->hs[b * beam + 1] = c->hs[b * beam];
        }
        ref_sentence(c, b);
    }
    return true;
}

/* ---------------------------------------------------------- kernel forms */

/* Each device class, forced through the caps the launchers tell them
 * apart by (the workgroup, the block width); residue: the logits' float
 * offset mod 4. */
typedef struct topk_form {
    const char *name;
    bool cpu_lanes, texel;
    uint32_t residue;
} topk_form;
static const topk_form FORMS[] = {{"cpu-texel", true, true, 0},
                                  {"cpu-texel-off-quad", true, true, 2},
                                  {"cpu-ssbo", true, false, 0},
                                  {"gpu-ssbo", false, false, 3}};


/* Device buffers of one case; the logits have 3 floats to spare so they can
 * start at any residue. */
typedef struct topk_bufs {
    th_gbuf x, stats, hs, lv, parent, token, score;
} topk_bufs;
#define NBUFS (sizeof(topk_bufs) / sizeof(th_gbuf))

static th_gbuf *buf_at(topk_bufs *g, size_t i) { return &((th_gbuf *)g)[i]; }

static void bufs_destroy(topk_bufs *g)
{
    for (size_t i = 0; i < NBUFS; i++)
        th_gbuf_destroy(buf_at(g, i));
}

static bool bufs_make(th_env *env, const topk_case *c, topk_bufs *g)
{
    memset(g, 0, sizeof(*g));
    uint64_t rows = (uint64_t)c->batch * c->beam;
    /* the statistics of the narrowest blocks any form makes (subgroups of 4) */
    const uint64_t n[NBUFS] = {rows * c->ld + 3, rows * 2 * ((c->vocab + 7) / 8), rows, 2 * c->batch, rows, rows, rows};
    for (size_t i = 0; i < NBUFS; i++)
        if (!th_gbuf_create(env, n[i], buf_at(g, i)))
            return false;
    return th_gbuf_upload(&g->hs, c->hs) && th_gbuf_upload(&g->lv, (const float *)c->lv);
}

static bool bufs_guards_ok(topk_bufs *g)
{
    for (size_t i = 0; i < NBUFS; i++)
        if (!th_gbuf_guards_ok(buf_at(g, i)))
            return false;
    return true;
}

/* Runs the statistics and the top-k in form f on poisoned outputs; caps
 * and profiling restored whatever happens. stats_calls / topk_calls:
 * dispatches of each kernel made. */
static vknmt_status launch(th_env *env, const topk_case *c, topk_bufs *g, const topk_form *f, uint64_t *stats_calls,
                           uint64_t *topk_calls)
{
    uint64_t shift = (f->residue + 4 - g->x.guard % 4) % 4;
    vknmt_ref x = vknmt_at(g->x.buf, g->x.guard + shift);
    if (vknmt_buffer_upload(x.buf, x.off * 4, c->x, (uint64_t)c->batch * c->beam * c->ld * 4) ||
        !th_gbuf_poison(&g->parent) || !th_gbuf_poison(&g->token) || !th_gbuf_poison(&g->score))
        return VKNMT_ERR_DEVICE;
    vknmt_caps saved = env->ctx->caps;
    bool profile = env->ctx->profile;
    env->ctx->caps.quirk_cpu_lanes = f->cpu_lanes;
    env->ctx->caps.texel_buffers = f->texel;
    env->ctx->profile = true;
    /* CPU devices reduce across one subgroup's lanes */
    const char *topk = f->cpu_lanes && saved.subgroup_shuffle ? "beam_topk_subgroup" : "beam_topk";
    uint64_t t0 = th_kernel_calls(env, "softmax_blocks"), s0 = th_kernel_calls(env, topk);
    vknmt_status s = vknmt_seq_begin(env->seq);
    if (!s)
        s = vknmt_softmax_blocks(env->seq, c->batch * c->beam, c->vocab, x, c->ld, th_gbuf_ref(&g->stats));
    if (!s)
        s = vknmt_beam_topk(env->seq, c->batch, c->beam, c->vocab, c->ld, c->no_unk, x, th_gbuf_ref(&g->stats),
                            th_gbuf_ref(&g->hs), th_gbuf_ref(&g->lv), th_gbuf_ref(&g->parent),
                            th_gbuf_ref(&g->token), th_gbuf_ref(&g->score));
    vknmt_status s2 = vknmt_seq_recording(env->seq) ? vknmt_seq_submit(env->seq) : VKNMT_OK;
    *stats_calls = th_kernel_calls(env, "softmax_blocks") - t0;
    *topk_calls = th_kernel_calls(env, topk) - s0;
    env->ctx->caps = saved;
    env->ctx->profile = profile;
    return s ? s : s2;
}

/* ------------------------------------------------------------ checking */

typedef struct topk_out {
    int32_t *parent, *token;
    float *score;
} topk_out;

/* The run of reference candidates around position j joined by gaps under
 * NEAR: [*lo, *hi]; true when all of its gaps are 0 (exact ties, ordered
 * by index) or it is j alone. */
static bool near_run(const double *sc, uint32_t n, uint32_t j, uint32_t *lo, uint32_t *hi)
{
    bool exact = true;
    for (*lo = j; *lo > 0 && sc[*lo - 1] - sc[*lo] < NEAR; (*lo)--)
        exact &= sc[*lo - 1] == sc[*lo];
    for (*hi = j; *hi + 1 < n && sc[*hi] - sc[*hi + 1] < NEAR; (*hi)++)
        exact &= sc[*hi] == sc[*hi + 1];
    return exact;
}

/* Sentence b: slot j < take holds the reference's j-th candidate (parent,
 * token exact; score to TOL), or one of the run of near-equal candidates
 * around it; either way the slots follow the kernel's own order on its
 * float scores exactly; -1, -1 past the last candidate; slots past take
 * still poisoned. */
static void check_sentence(const topk_case *c, const topk_out *o, uint32_t b, const char *form)
{
    uint32_t K = c->beam, take = c->lv[c->batch + b], n = c->ref_n[b], total = c->total[b];
    const uint32_t *ic = c->ref_c + (size_t)b * (K + SLACK);
    const double *sc = c->ref_s + (size_t)b * (K + SLACK);
    char what[128];
    snprintf(what, sizeof(what), "%s B%u K%u V%u ld%u%s sentence %u (live %u take %u)", form, c->batch, K, c->vocab,
             c->ld, c->no_unk ? " no_unk" : "", b, c->lv[b], take);
    uint32_t prev = 0;
    for (uint32_t j = 0; j < K; j++) {
        uint32_t slot = b * K + j;
        int32_t pa = o->parent[slot], tk = o->token[slot];
        float s = o->score[slot];
        if (j >= take) {
            uint32_t bits[3];
            memcpy(&bits[0], &pa, 4), memcpy(&bits[1], &tk, 4), memcpy(&bits[2], &s, 4);
            CHECK(isnan(s) && bits[0] == bits[2] && bits[1] == bits[2], "%s: slot %u past take was written (%d %d %g)",
                  what, j, pa, tk, s);
            continue;
        }
        if (j >= total) {
            CHECK(pa == -1 && tk == -1, "%s: slot %u of %u candidates holds %d %d, want -1 -1", what, j, total, pa, tk);
            continue;
        }
        CHECK(pa >= (int32_t)(b * K) && pa < (int32_t)(b * K + c->lv[b]) && tk >= 0 && tk < (int32_t)c->vocab,
              "%s: slot %u holds parent %d token %d, not a live row's word", what, j, pa, tk);
        CHECK(!(c->no_unk && tk == 1), "%s: slot %u holds <unk>", what, j);
        uint32_t cand = ((uint32_t)pa - b * K) * c->vocab + (uint32_t)tk;
        double want = cand_score(c, b, cand);
        CHECK(fabs(s - want) <= TOL * fmax(1, fabs(want)), "%s: slot %u score %.9g, want %.9g", what, j, s, want);
        uint32_t lo, hi;
        bool exact = near_run(sc, n, j, &lo, &hi);
        CHECK(hi + 1 < n || n == total, "%s: near ties past the reference's %u (raise SLACK)", what, n);
        if (exact) {
            CHECK(cand == ic[j], "%s: slot %u holds row %u word %u (%.9g), want row %u word %u (%.9g)", what, j,
                  cand / c->vocab, cand % c->vocab, s, ic[j] / c->vocab, ic[j] % c->vocab, sc[j]);
        } else {
            bool in = false;
            for (uint32_t i = lo; i <= hi; i++)
                in |= cand == ic[i];
            CHECK(in, "%s: slot %u holds row %u word %u (%.9g), not one of the near-equal best %u..%u", what, j,
                  cand / c->vocab, cand % c->vocab, s, lo, hi);
        }
        if (j > 0) { /* the kernel's order: higher float score, then the smaller index */
            float ps = o->score[slot - 1];
            CHECK(ps > s || (ps == s && prev < cand), "%s: slots %u, %u out of order (%.9g #%u, %.9g #%u)", what, j - 1,
                  j, ps, prev, s, cand);
        }
        prev = cand;
    }
}

static void check_case(th_env *env, const topk_case *c, topk_bufs *g, const topk_form *f)
{
    uint64_t stats_calls, topk_calls;
    CHECK_OK(env, launch(env, c, g, f, &stats_calls, &topk_calls));
    if (env->ctx->caps.timestamps)
        CHECK(stats_calls == 1 && topk_calls == 1, "%s ld %u: %llu statistics and %llu top-k dispatches", f->name,
              c->ld, (unsigned long long)stats_calls, (unsigned long long)topk_calls);
    uint64_t rows = (uint64_t)c->batch * c->beam;
    topk_out o = {malloc(rows * 4), malloc(rows * 4), malloc(rows * 4)};
    bool ok = o.parent && o.token && o.score && th_gbuf_download(&g->parent, (float *)o.parent) &&
              th_gbuf_download(&g->token, (float *)o.token) && th_gbuf_download(&g->score, o.score);
    for (uint32_t b = 0; ok && b < c->batch && !th_failed(); b++)
        check_sentence(c, &o, b, f->name);
    free(o.parent), free(o.token), free(o.score);
    CHECK(ok, "download");
    CHECK(bufs_guards_ok(g), "%s B%u K%u V%u ld%u: write outside an output", f->name, c->batch, c->beam, c->vocab,
          c->ld);
}

/* ------------------------------------------------------------ the carry */

/* The carry's tensors: rows of n, m and na floats (na 0: no query rows,
 * query_out one row that must stay poisoned); each device buffer holds one
 * float before its quad-aligned data (still poisoned after the run). */
typedef struct carry_bufs {
    uint32_t n, m, na, end, start;
    float *state, *emb, *query; /* the inputs, [rows, n], [vocab, m] and [rows, na] */
    th_gbuf g[6];               /* state, state_out, emb, emb_out, query, query_out */
} carry_bufs;

static vknmt_ref carry_ref(const carry_bufs *cb, int i) { return vknmt_at(cb->g[i].buf, cb->g[i].guard + 1); }

static bool carry_make(th_env *env, const topk_case *c, uint32_t n, uint32_t m, uint32_t na, carry_bufs *cb)
{
    uint64_t rows = (uint64_t)c->batch * c->beam;
    /* the end word: sentence 1's best choice where it has one, so a chosen
     * candidate is passed over */
    uint32_t s1 = c->batch > 1 ? 1 : 0, end = c->ref_n[s1] ? c->ref_c[(size_t)s1 * (c->beam + SLACK)] % c->vocab : 0;
    *cb = (carry_bufs){.n = n, .m = m, .na = na, .end = end, .start = (end + 1) % c->vocab};
    uint64_t qw = na ? na : 1;
    cb->state = malloc(rows * n * 4);
    cb->emb = malloc((size_t)c->vocab * m * 4);
    cb->query = malloc(rows * qw * 4);
    const uint64_t count[6] = {rows * n, rows * n, (uint64_t)c->vocab * m, rows * m, rows * qw, rows * qw};
    bool ok = cb->state && cb->emb && cb->query;
    for (int i = 0; i < 6 && ok; i++)
        ok = th_gbuf_create(env, count[i] + 1, &cb->g[i]) && th_gbuf_poison(&cb->g[i]);
    if (!ok)
        return false;
    th_fill_uniform(cb->state, rows * n, -1, 1);
    th_fill_uniform(cb->emb, (uint64_t)c->vocab * m, -1, 1);
    th_fill_uniform(cb->query, rows * qw, -1, 1);
    vknmt_ref st = carry_ref(cb, 0), em = carry_ref(cb, 2), q = carry_ref(cb, 4);
    return vknmt_buffer_upload(st.buf, st.off * 4, cb->state, rows * n * 4) == VKNMT_OK &&
           vknmt_buffer_upload(em.buf, em.off * 4, cb->emb, (uint64_t)c->vocab * m * 4) == VKNMT_OK &&
           vknmt_buffer_upload(q.buf, q.off * 4, cb->query, rows * qw * 4) == VKNMT_OK;
}

static void carry_free(carry_bufs *cb)
{
    for (int i = 0; i < 6; i++)
        th_gbuf_destroy(&cb->g[i]);
    free(cb->state), free(cb->emb), free(cb->query);
}

/* The first float of a laid-out row that is not the wanted row's, bit for
 * bit (or, where nothing may be written, not NaN); -1 when none. */
static int row_mismatch(const float *got, const float *want, uint32_t width, bool written)
{
    for (uint32_t i = 0; i < width; i++)
        if (written ? memcmp(&got[i], &want[i], 4) != 0 : !isnan(got[i]))
            return (int)i;
    return -1;
}

/* Slot j of sentence b lays out the j-th of the kernel's own choices that
 * is a word and not the end word (its parent's state and query rows, its
 * word's embedding), or idles (its own state and query rows, the start
 * word): bit for bit. A sentence that takes nothing, the float before each
 * buffer's data, and query_out without query rows stay poisoned. */
static void check_carry(const topk_case *c, const topk_out *o, const carry_bufs *cb, const float *so, const float *eo,
                        const float *qo, const char *form)
{
    uint32_t K = c->beam, n = cb->n, m = cb->m, na = cb->na;
    for (uint32_t b = 0; b < c->batch && !th_failed(); b++) {
        uint32_t take = c->lv[c->batch + b], next = 0;
        for (uint32_t j = 0; j < K && !th_failed(); j++) {
            uint32_t slot = b * K + j, row = slot, word = cb->start;
            while (next < take && (o->token[b * K + next] < 0 || (uint32_t)o->token[b * K + next] == cb->end))
                next++;
            if (next < take) {
                row = (uint32_t)o->parent[b * K + next];
                word = (uint32_t)o->token[b * K + next];
                next++;
            }
            int bs = row_mismatch(so + 1 + (size_t)slot * n, cb->state + (size_t)row * n, n, take > 0),
                be = row_mismatch(eo + 1 + (size_t)slot * m, cb->emb + (size_t)word * m, m, take > 0),
                bq = na ? row_mismatch(qo + 1 + (size_t)slot * na, cb->query + (size_t)row * na, na, take > 0)
                        : row_mismatch(qo + 1 + slot, cb->query, 1, false);
            CHECK(bs < 0 && be < 0 && bq < 0,
                  "%s B%u K%u V%u carry: sentence %u (take %u) slot %u: state float %d, embedding float %d, query "
                  "float %d (of %u) not row %u's and word %u's",
                  form, c->batch, K, c->vocab, b, take, j, bs, be, bq, na, row, word);
        }
    }
    CHECK(isnan(so[0]) && isnan(eo[0]) && isnan(qo[0]), "%s carry: wrote before its rows", form);
}

/* The top-k with the carry in form f: the same choices as without (checked
 * as there), and the rows laid out from them. */
static void check_carry_case(th_env *env, const topk_case *c, topk_bufs *g, carry_bufs *cb, const topk_form *f)
{
    uint64_t shift = (f->residue + 4 - g->x.guard % 4) % 4, rows = (uint64_t)c->batch * c->beam;
    vknmt_ref x = vknmt_at(g->x.buf, g->x.guard + shift);
    CHECK(vknmt_buffer_upload(x.buf, x.off * 4, c->x, rows * c->ld * 4) == VKNMT_OK && th_gbuf_poison(&g->parent) &&
              th_gbuf_poison(&g->token) && th_gbuf_poison(&g->score) && th_gbuf_poison(&cb->g[1]) &&
              th_gbuf_poison(&cb->g[3]) && th_gbuf_poison(&cb->g[5]),
          "upload");
    vknmt_caps saved = env->ctx->caps;
    env->ctx->caps.quirk_cpu_lanes = f->cpu_lanes;
    env->ctx->caps.texel_buffers = f->texel;
    vknmt_beam_carry cy = {carry_ref(cb, 0), carry_ref(cb, 1), carry_ref(cb, 2), carry_ref(cb, 3), cb->n, cb->m,
                           cb->end, cb->start, carry_ref(cb, 4), carry_ref(cb, 5), cb->na};
    bool ran = false;
    vknmt_status s = vknmt_seq_begin(env->seq);
    if (!s)
        s = vknmt_softmax_blocks(env->seq, (uint32_t)rows, c->vocab, x, c->ld, th_gbuf_ref(&g->stats));
    if (!s)
        s = vknmt_beam_topk_carry(env->seq, c->batch, c->beam, c->vocab, c->ld, c->no_unk, x, th_gbuf_ref(&g->stats),
                                  th_gbuf_ref(&g->hs), th_gbuf_ref(&g->lv), th_gbuf_ref(&g->parent),
                                  th_gbuf_ref(&g->token), th_gbuf_ref(&g->score), &cy, &ran);
    vknmt_status s2 = vknmt_seq_recording(env->seq) ? vknmt_seq_submit(env->seq) : VKNMT_OK;
    env->ctx->caps = saved;
    CHECK_OK(env, s ? s : s2);
    CHECK(ran, "%s: the carry did not run on quads", f->name);
    topk_out o = {malloc(rows * 4), malloc(rows * 4), malloc(rows * 4)};
    float *so = malloc((rows * cb->n + 1) * 4), *eo = malloc((rows * cb->m + 1) * 4),
          *qo = malloc((rows * (cb->na ? cb->na : 1) + 1) * 4);
    bool ok = o.parent && o.token && o.score && so && eo && qo && th_gbuf_download(&g->parent, (float *)o.parent) &&
              th_gbuf_download(&g->token, (float *)o.token) && th_gbuf_download(&g->score, o.score) &&
              th_gbuf_download(&cb->g[1], so) && th_gbuf_download(&cb->g[3], eo) && th_gbuf_download(&cb->g[5], qo);
    char form[64];
    snprintf(form, sizeof(form), "%s (carry)", f->name);
    for (uint32_t b = 0; ok && b < c->batch && !th_failed(); b++)
        check_sentence(c, &o, b, form);
    if (ok && !th_failed())
        check_carry(c, &o, cb, so, eo, qo, f->name);
    free(o.parent), free(o.token), free(o.score), free(so), free(eo), free(qo);
    CHECK(ok, "download");
    for (int i = 0; i < 6; i++)
        CHECK(th_gbuf_guards_ok(&cb->g[i]), "%s carry: write outside buffer %d", f->name, i);
    CHECK(bufs_guards_ok(g), "%s carry: write outside an output", f->name);
}

/* Rows off quads (a width, or a row's start): nothing recorded, *ran
 * false; words past the vocabulary fail. */
static void test_carry_refused(th_env *env)
{
    vknmt_buffer *b;
    CHECK_OK(env, vknmt_buffer_create(env->ctx, 4096, &b));
    vknmt_ref r = vknmt_at(b, 0), r1 = vknmt_at(b, 1);
    vknmt_beam_carry wide6 = {r, r, r, r, 6, 8, 3, 2, r, r, 0}, off = {r, r1, r, r, 8, 8, 3, 2, r, r, 0},
                     word = {r, r, r, r, 8, 8, 10, 2, r, r, 0},
                     query6 = {r, r, r, r, 8, 8, 3, 2, r, r, 6}, query_off = {r, r, r, r, 8, 8, 3, 2, r, r1, 8},
                     query8 = {r, r, r, r, 8, 8, 3, 2, r, r, 8};
    bool ran[5] = {true, true, true, true, true};
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    vknmt_status s[6] = {
        vknmt_beam_topk_carry(env->seq, 2, 2, 10, 10, false, r, r, r, r, r, r, r, &wide6, &ran[0]),
        vknmt_beam_topk_carry(env->seq, 2, 2, 10, 10, false, r, r, r, r, r, r, r, &off, &ran[1]),
        vknmt_beam_topk_carry(env->seq, 2, 2, 10, 10, false, r, r, r, r, r, r, r, &word, &(bool){false}),
        vknmt_beam_topk_carry(env->seq, 2, 2, 10, 10, false, r, r, r, r, r, r, r, &query6, &ran[2]),
        vknmt_beam_topk_carry(env->seq, 2, 2, 10, 10, false, r, r, r, r, r, r, r, &query_off, &ran[3]),
        VKNMT_OK,
    };
    vknmt_caps saved = env->ctx->caps;
    env->ctx->caps.max_storage_buffers = 12; /* otherwise a carry that runs */
    s[5] = vknmt_beam_topk_carry(env->seq, 2, 2, 10, 10, false, r, r, r, r, r, r, r, &query8, &ran[4]);
    env->ctx->caps = saved;
    uint32_t recorded = vknmt_seq_stats_get(env->seq).dispatches;
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    vknmt_buffer_destroy(b);
    CHECK(s[0] == VKNMT_OK && !ran[0], "rows of 6 floats: %s, ran %d", vknmt_status_name(s[0]), ran[0]);
    CHECK(s[1] == VKNMT_OK && !ran[1], "a row off its quad: %s, ran %d", vknmt_status_name(s[1]), ran[1]);
    CHECK(s[2] == VKNMT_ERR_SHAPE, "end word past the vocabulary: %s", vknmt_status_name(s[2]));
    CHECK(s[3] == VKNMT_OK && !ran[2], "query rows of 6 floats: %s, ran %d", vknmt_status_name(s[3]), ran[2]);
    CHECK(s[5] == VKNMT_OK && !ran[4], "13 storage buffers on a device that binds 12: %s, ran %d",
          vknmt_status_name(s[5]), ran[4]);
    CHECK(s[4] == VKNMT_OK && !ran[3], "query rows off their quad: %s, ran %d", vknmt_status_name(s[4]), ran[3]);
    CHECK(recorded == 0, "%u dispatches recorded by refused calls", recorded);
}

/* ---------------------------------------------------------------- tests */

/* Every batch x beam x vocabulary, rows vocab and a quad-rounded vocab
 * apart, each on every form; <unk> allowed or not in turn. With rows vocab
 * apart also with the carry (rows of 12 and 8 floats, query rows of 20 or
 * none in turn; the end word is a word some sentence chooses). */
static void test_sizes(th_env *env)
{
    uint32_t turn = 0;
    for (size_t i = 0; i < 3 && !th_failed(); i++)
        for (size_t j = 0; j < 4 && !th_failed(); j++)
            for (size_t k = 0; k < 4 && !th_failed(); k++)
                for (int quad = 0; quad < 2 && !th_failed(); quad++) {
                    uint32_t vocab = VOCABS[k], ld = quad ? (vocab + 3) / 4 * 4 : vocab;
                    topk_case c;
                    topk_bufs g = {0};
                    carry_bufs cb = {0};
                    bool ok = case_make(&c, BATCHES[i], BEAMS[j], vocab, ld, turn++ % 2) && bufs_make(env, &c, &g) &&
                              (quad || carry_make(env, &c, 12, 8, turn % 3 ? 20 : 0, &cb));
                    for (size_t f = 0; ok && f < sizeof(FORMS) / sizeof(FORMS[0]) && !th_failed(); f++)
                        if (!FORMS[f].texel || env->ctx->caps.texel_buffers) {
                            check_case(env, &c, &g, &FORMS[f]);
                            if (!quad && !th_failed())
                                check_carry_case(env, &c, &g, &cb, &FORMS[f]);
                        }
                    carry_free(&cb);
                    bufs_destroy(&g);
                    case_free(&c);
                    CHECK(ok, "out of memory");
                }
}

static void test_shapes(th_env *env)
{
    vknmt_buffer *b;
    CHECK_OK(env, vknmt_buffer_create(env->ctx, 4096, &b));
    vknmt_ref r = vknmt_at(b, 0);
    CHECK_OK(env, vknmt_seq_begin(env->seq));
    vknmt_status s[6] = {
        vknmt_beam_topk(env->seq, 0, 2, 10, 10, false, r, r, r, r, r, r, r),
        vknmt_beam_topk(env->seq, 2, 0, 10, 10, false, r, r, r, r, r, r, r),
        vknmt_beam_topk(env->seq, 2, 2, 0, 0, false, r, r, r, r, r, r, r),
        vknmt_beam_topk(env->seq, 2, 2, 10, 9, false, r, r, r, r, r, r, r), /* rows closer than their length */
        vknmt_beam_topk(env->seq, 1, VKNMT_BEAM_TOPK_MAX_BEAM + 1, 10, 10, false, r, r, r, r, r, r, r),
        vknmt_beam_topk(env->seq, 2, 2, 1000, 1000, false, r, r, r, r, r, r, r),
    };
    CHECK_OK(env, vknmt_seq_submit(env->seq));
    vknmt_buffer_destroy(b);
    for (int i = 0; i < 4; i++)
        CHECK(s[i] == VKNMT_ERR_SHAPE, "call %d: %s, want VKNMT_ERR_SHAPE", i, vknmt_status_name(s[i]));
    CHECK(s[4] == VKNMT_ERR_LIMIT, "beam over the limit: %s", vknmt_status_name(s[4]));
    CHECK(s[5] == VKNMT_ERR_RANGE, "logits beyond the buffer: %s", vknmt_status_name(s[5]));
}

void th_register_beam_topk(void)
{
    th_add("beam_topk", "sizes", test_sizes);
    th_add("beam_topk", "shapes", test_shapes);
    th_add("beam_topk", "carry_refused", test_carry_refused);
}
