/* The launcher of shaders/beam_topk.comp. */
#include "beam_topk.h"
#include "vknmt_kernel.h"

#define S VKNMT_BIND_SSBO

typedef struct topk_push {
    uint32_t off_x, off_st, off_hs, off_lv, off_pa, off_tk, off_sc, batch, beam, vocab, no_unk, ld, nblk;
    uint32_t off_si, off_so, off_ei, off_eo, nq, mq, end, start, off_qi, off_qo, aq; /* the carry's */
} topk_push;

static const vknmt_kernel_desc K_TOPK = {"beam_topk", VKNMT_SPIRV(beam_topk), 7, {S, S, S, S, S, S, S}, 52, 3};
static const vknmt_kernel_desc K_TOPK_CARRY = {
    "beam_topk_carry", VKNMT_SPIRV(beam_topk_carry), 13, {S, S, S, S, S, S, S, S, S, S, S, S, S}, sizeof(topk_push), 3};
/* CPU devices: the same with the reductions across one subgroup's lanes */
static const vknmt_kernel_desc K_TOPK_SG = {
    "beam_topk_subgroup", VKNMT_SPIRV(beam_topk_subgroup), 7, {S, S, S, S, S, S, S}, 52, 3};
static const vknmt_kernel_desc K_TOPK_CARRY_SG = {"beam_topk_carry_subgroup", VKNMT_SPIRV(beam_topk_carry_subgroup),
                                                  13, {S, S, S, S, S, S, S, S, S, S, S, S, S}, sizeof(topk_push), 3};

/* Binds the carry's rows (bindings 7-12) as quads; *ok false where any
 * starts off a quad. Without query rows bindings 11-12 are the state's,
 * and nothing is written through them. */
static vknmt_status carry_bind(vknmt_context *ctx, uint64_t bk, uint32_t vocab, const vknmt_beam_carry *c,
                               vknmt_binding *b, topk_push *p, bool *ok)
{
    bool q = c->na > 0;
    const vknmt_ref refs[6] = {c->state, c->state_out, c->emb, c->emb_out, q ? c->query : c->state,
                               q ? c->query_out : c->state};
    const uint64_t counts[6] = {bk * c->n, bk * c->n, (uint64_t)vocab * c->m, bk * c->m, bk * (q ? c->na : c->n),
                                bk * (q ? c->na : c->n)};
    uint32_t *offs[6] = {&p->off_si, &p->off_so, &p->off_ei, &p->off_eo, &p->off_qi, &p->off_qo};
    *ok = c->n % 4 == 0 && c->m % 4 == 0 && c->na % 4 == 0;
    for (int i = 0; i < 6 && *ok; i++) {
        uint8_t access = i % 2 && (i < 4 || q) ? VKNMT_WRITE : VKNMT_READ;
        vknmt_status s = vknmt_bind(ctx, refs[i], counts[i], access, S, &b[i], offs[i]);
        if (s)
            return s;
        *ok = *offs[i] % 4 == 0;
        *offs[i] /= 4;
    }
    p->nq = c->n / 4;
    p->mq = c->m / 4;
    p->aq = c->na / 4;
    p->end = c->end;
    p->start = c->start;
    return VKNMT_OK;
}

static vknmt_status topk(vknmt_seq *seq, uint32_t batch, uint32_t beam, uint32_t vocab, uint32_t ld, bool no_unk,
                         vknmt_ref logits, vknmt_ref stats, vknmt_ref hs, vknmt_ref live, vknmt_ref parent,
                         vknmt_ref token, vknmt_ref score, const vknmt_beam_carry *carry, bool *ran)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    const vknmt_caps *caps = vknmt_context_caps(ctx);
    uint64_t bk = (uint64_t)batch * beam;
    *ran = false;
    /* the shader indexes logits and candidates (r * vocab + v) in 32 bits,
     * 0xffffffff meaning none, and writes parents as int32 */
    if (batch == 0 || beam == 0 || vocab == 0 || ld < vocab || bk > INT32_MAX || bk * ld > UINT32_MAX)
        return vknmt_seq_fail(seq, VKNMT_ERR_SHAPE, "beam_topk: batch %u x beam %u rows of %u words, %u apart", batch,
                              beam, vocab, ld);
    if (beam > VKNMT_BEAM_TOPK_MAX_BEAM)
        return vknmt_seq_fail(seq, VKNMT_ERR_LIMIT, "beam_topk: beam %u (at most %u)", beam,
                              VKNMT_BEAM_TOPK_MAX_BEAM);
    uint32_t nblk = vknmt_softmax_block_count(ctx, vocab);
    if (bk * 2 * nblk > UINT32_MAX)
        return vknmt_seq_fail(seq, VKNMT_ERR_SHAPE, "beam_topk: %llu rows of %u blocks", (unsigned long long)bk, nblk);
    if (carry && (carry->end >= vocab || carry->start >= vocab || carry->n == 0 || carry->m == 0 ||
                  bk * carry->n > UINT32_MAX || bk * carry->m > UINT32_MAX || (uint64_t)vocab * carry->m > UINT32_MAX ||
                  bk * carry->na > UINT32_MAX))
        return vknmt_seq_fail(seq, VKNMT_ERR_SHAPE,
                              "beam_topk: carry of rows %u, %u and %u wide, words %u and %u of %u", carry->n, carry->m,
                              carry->na, carry->end, carry->start, vocab);
    /* CPU devices: one subgroup per sentence, its reductions by shuffles, without barriers */
    bool sg = caps->quirk_cpu_lanes && caps->subgroup_shuffle;
    const vknmt_kernel_desc *kd = carry ? (sg ? &K_TOPK_CARRY_SG : &K_TOPK_CARRY) : (sg ? &K_TOPK_SG : &K_TOPK);
    if (carry && !vknmt_kernel_fits(caps, kd))
        return VKNMT_OK; /* thirteen storage buffers: more than some small GPUs bind */
    vknmt_binding b[13];
    topk_push p = {0};
    vknmt_status s;
    if ((s = vknmt_bind(ctx, logits, (bk - 1) * ld + vocab, VKNMT_READ, S, &b[0], &p.off_x)) ||
        (s = vknmt_bind(ctx, stats, bk * 2 * nblk, VKNMT_READ, S, &b[1], &p.off_st)) ||
        (s = vknmt_bind(ctx, hs, bk, VKNMT_READ, S, &b[2], &p.off_hs)) ||
        (s = vknmt_bind(ctx, live, 2 * (uint64_t)batch, VKNMT_READ, S, &b[3], &p.off_lv)) ||
        (s = vknmt_bind(ctx, parent, bk, VKNMT_WRITE, S, &b[4], &p.off_pa)) ||
        (s = vknmt_bind(ctx, token, bk, VKNMT_WRITE, S, &b[5], &p.off_tk)) ||
        (s = vknmt_bind(ctx, score, bk, VKNMT_WRITE, S, &b[6], &p.off_sc)))
        return s;
    bool ok = true;
    if (carry && ((s = carry_bind(ctx, bk, vocab, carry, &b[7], &p, &ok)) || !ok))
        return s;
    p.batch = batch;
    p.beam = beam;
    p.vocab = vocab;
    p.no_unk = no_unk;
    p.ld = ld;
    p.nblk = nblk;
    /* CPU devices: one subgroup per sentence. A barrier there switches
     * between the workgroup's subgroups in turn, and the reductions hold
     * dozens: 256 invocations cost 2.9x the time of 8 (beam 5, batch 64). */
    uint32_t spec[3] = {caps->quirk_cpu_lanes ? caps->subgroup_size : 256, beam, 2 * vknmt_softmax_block_lanes(ctx)};
    vknmt_dispatch d = {.kernel = kd, .spec = spec, .push = &p, .bindings = b};
    vknmt_grid_1d(batch, d.groups);
    if ((s = vknmt_seq_dispatch(seq, &d)))
        return s;
    *ran = true;
    return VKNMT_OK;
}

vknmt_status vknmt_beam_topk(vknmt_seq *seq, uint32_t batch, uint32_t beam, uint32_t vocab, uint32_t ld, bool no_unk,
                             vknmt_ref logits, vknmt_ref stats, vknmt_ref hs, vknmt_ref live, vknmt_ref parent,
                             vknmt_ref token, vknmt_ref score)
{
    bool ran;
    return topk(seq, batch, beam, vocab, ld, no_unk, logits, stats, hs, live, parent, token, score, NULL, &ran);
}

vknmt_status vknmt_beam_topk_carry(vknmt_seq *seq, uint32_t batch, uint32_t beam, uint32_t vocab, uint32_t ld,
                                   bool no_unk, vknmt_ref logits, vknmt_ref stats, vknmt_ref hs, vknmt_ref live,
                                   vknmt_ref parent, vknmt_ref token, vknmt_ref score, const vknmt_beam_carry *carry,
                                   bool *ran)
{
    return topk(seq, batch, beam, vocab, ld, no_unk, logits, stats, hs, live, parent, token, score, carry, ran);
}
