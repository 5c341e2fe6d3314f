/* The launcher of shaders/beam_topk.comp. */
#include "beam_topk.h"
#include "vknmt_kernel.h"

#define S VKNMT_BIND_SSBO

static const vknmt_kernel_desc K_TOPK = {"beam_topk", VKNMT_SPIRV(beam_topk), 7, {S, S, S, S, S, S, S}, 52, 3};

vknmt_status vknmt_beam_topk(vknmt_seq *seq, uint32_t batch, uint32_t beam, uint32_t vocab, uint32_t ld, bool no_unk,
                             vknmt_ref logits, vknmt_ref stats, vknmt_ref hs, vknmt_ref live, vknmt_ref parent,
                             vknmt_ref token, vknmt_ref score)
{
    vknmt_context *ctx = vknmt_seq_context(seq);
    const vknmt_caps *caps = vknmt_context_caps(ctx);
    uint64_t bk = (uint64_t)batch * beam;
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
    vknmt_binding b[7];
    struct { uint32_t off_x, off_st, off_hs, off_lv, off_pa, off_tk, off_sc, batch, beam, vocab, no_unk, ld, nblk; } p;
    vknmt_status s;
    if ((s = vknmt_bind(ctx, logits, (bk - 1) * ld + vocab, VKNMT_READ, S, &b[0], &p.off_x)) ||
        (s = vknmt_bind(ctx, stats, bk * 2 * nblk, VKNMT_READ, S, &b[1], &p.off_st)) ||
        (s = vknmt_bind(ctx, hs, bk, VKNMT_READ, S, &b[2], &p.off_hs)) ||
        (s = vknmt_bind(ctx, live, 2 * (uint64_t)batch, VKNMT_READ, S, &b[3], &p.off_lv)) ||
        (s = vknmt_bind(ctx, parent, bk, VKNMT_WRITE, S, &b[4], &p.off_pa)) ||
        (s = vknmt_bind(ctx, token, bk, VKNMT_WRITE, S, &b[5], &p.off_tk)) ||
        (s = vknmt_bind(ctx, score, bk, VKNMT_WRITE, S, &b[6], &p.off_sc)))
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
    vknmt_dispatch d = {.kernel = &K_TOPK, .spec = spec, .push = &p, .bindings = b};
    vknmt_grid_1d(batch, d.groups);
    return vknmt_seq_dispatch(seq, &d);
}
