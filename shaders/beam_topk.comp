#version 450
// vknmt-variant: beam_topk_carry BEAM_CARRY
// vknmt-variant: beam_topk_subgroup TOPK_SUBGROUP
// vknmt-variant: beam_topk_carry_subgroup TOPK_SUBGROUP BEAM_CARRY
// One beam-search step's selection for sentence b (one workgroup each):
// candidates are (live row r, word v) with score hs[r] + x[r][v] - lse[r]
// (x[r] - lse[r] = log_softmax(x[r])) over the sentence's live rows
// r = b*K .. b*K + live[b] - 1; the best take[b] of them, best first (ties:
// the smaller r * vocab + v), go to slots b*K .. b*K + take[b] - 1 of parent
// (global row), token and score. With no_unk, the word <unk> (1) is never a
// candidate. Rows of x are ld floats apart.
// Each row comes with its softmax block statistics st (softmax_blocks.comp:
// blocks of BW columns, (maximum, sum of exp(x - maximum)), 2 * nblk floats
// a row), so no pass reads a whole row:
//  1. lse[r] from the blocks' statistics.
//  2. A bound: the take-th best block score hs[r] + max_k - lse[r] among
//     each invocation's two best blocks (at most the take-th best of all
//     blocks). Those take blocks hold take distinct candidates scoring at
//     least that much, so every candidate of the best take scores at least
//     the bound, and so does its block's maximum.
//  3. Only blocks scoring at least the bound are read: each invocation keeps
//     its own best KMAX while scanning them, then take rounds pick the best
//     head across invocations: fixed order, same bits.
// With no_unk, block 0 (which holds <unk>) gives no bound and is always read.
// TOPK_SUBGROUP (the workgroup is one subgroup: CPU devices): the reductions go across lanes by
// subgroupShuffleXor in the same tree, so the same bits, without shared memory or barriers (on
// lavapipe each barrier is a coroutine switch and each shared-memory access a loop over the lanes).
// BEAM_CARRY: the same workgroup then lays out the sentence's rows for the next step, as the host does
// while no sentence leaves the batch: the chosen candidates that are not the end word, in order, take
// the first slots, each with its parent's row of `state` and its word's row of `emb`; the slots after
// them idle on their own state row and the start word. Rows are quads (nq = n / 4, mq = m / 4).
// With aq > 0 each slot also gets its parent's row of `query` (aq quads: the attention's query for the
// next step, computed from every row's new state in this step), idle slots their own.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#ifdef TOPK_SUBGROUP
#extension GL_KHR_shader_subgroup_shuffle : require
#endif
layout(local_size_x_id = 0) in; // power of two, <= 1024
layout(constant_id = 1) const uint KMAX = 16;
layout(constant_id = 2) const uint BW = 16;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer ST { float st[]; };
layout(std430, binding = 2) readonly buffer HS { float hs[]; };
layout(std430, binding = 3) readonly buffer LV { uint live[]; };   // [B] then take [B]
layout(std430, binding = 4) writeonly buffer PA { int parent[]; };
layout(std430, binding = 5) writeonly buffer TK { int token[]; };
layout(std430, binding = 6) writeonly buffer SC { float score[]; };
#ifdef BEAM_CARRY
layout(std430, binding = 7) readonly buffer SI { vec4 state[]; };
layout(std430, binding = 8) writeonly buffer SO { vec4 state_out[]; };
layout(std430, binding = 9) readonly buffer EI { vec4 emb[]; };
layout(std430, binding = 10) writeonly buffer EO { vec4 emb_out[]; };
layout(std430, binding = 11) readonly buffer QI { vec4 query[]; };
layout(std430, binding = 12) writeonly buffer QO { vec4 query_out[]; };
#endif
layout(push_constant) uniform P {
    uint off_x, off_st, off_hs, off_lv, off_pa, off_tk, off_sc, batch, beam, vocab, no_unk, ld, nblk;
#ifdef BEAM_CARRY
    uint off_si, off_so, off_ei, off_eo, nq, mq, end_word, start_word; // offsets in quads
    uint off_qi, off_qo, aq;
#endif
} p;

const float NONE = -3.402823e38;
const uint NO_INDEX = 0xffffffffu;
shared float red_v[gl_WorkGroupSize.x];
shared uint red_i[gl_WorkGroupSize.x];
shared float lse[KMAX];
shared uint wins[KMAX]; // the candidates chosen, best first

// this invocation's best candidates so far, sorted best first
float bs[KMAX];
uint bi[KMAX];

bool better(float a, uint ia, float b, uint ib) { return a > b || (a == b && ia < ib); }

// lavapipe runs the body of an `if` under a lane mask even when no lane
// takes it, but skips a loop no lane enters: ONCE(c) runs its body only when
// some lane's c holds. Most candidates are no better than any lane's worst.
#define ONCE(c) for (uint once_ = 0u; once_ < ((c) ? 1u : 0u); once_++)

// Candidate (score SC, index C) into the best `take` (a macro: a function
// would copy the arrays in and out).
#define CONSIDER(SC, C)                                                  \
    {                                                                    \
        float sc_ = (SC);                                                \
        uint c_ = (C);                                                   \
        ONCE(better(sc_, c_, bs[take - 1], bi[take - 1])) {              \
            uint k = take - 1;                                           \
            while (k > 0 && better(sc_, c_, bs[k - 1], bi[k - 1])) {     \
                bs[k] = bs[k - 1];                                       \
                bi[k] = bi[k - 1];                                       \
                k--;                                                     \
            }                                                            \
            bs[k] = sc_;                                                 \
            bi[k] = c_;                                                  \
        }                                                                \
    }

void clear_best()
{
    for (uint k = 0; k < KMAX; k++) {
        bs[k] = NONE;
        bi[k] = NO_INDEX;
    }
}

// The workgroup's reduction of v (max, or sum) in a fixed tree: every invocation gets the result.
float reduce(float v, bool is_max)
{
#ifdef TOPK_SUBGROUP
    // lane t adds lane t ^ s's part at each level: lane 0's sums are the tree's below, and each
    // pair of lanes adds the same two parts, so every lane ends with lane 0's bits
    for (uint s = gl_WorkGroupSize.x / 2; s > 0; s >>= 1) {
        float o = subgroupShuffleXor(v, s);
        v = is_max ? max(v, o) : v + o;
    }
    return v;
#else
    uint t = gl_LocalInvocationID.x;
    red_v[t] = v;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2; s > 0; s >>= 1) {
        if (t < s)
            red_v[t] = is_max ? max(red_v[t], red_v[t + s]) : red_v[t] + red_v[t + s];
        barrier();
    }
    float r = red_v[0];
    barrier();
    return r;
#endif
}

// take rounds: the best head across invocations wins and is popped; with
// `slot0` != NO_INDEX the j-th winner goes to slot slot0 + j of the outputs,
// its index read as r * vocab + v. Returns the last winner's score.
float pop_rounds(uint take, uint slot0, uint row0)
{
    uint t = gl_LocalInvocationID.x, head = 0;
    float last = NONE;
    for (uint j = 0; j < take; j++) {
        float v = head < take ? bs[head] : NONE;
        uint i = head < take ? bi[head] : NO_INDEX;
#ifdef TOPK_SUBGROUP
        for (uint s = gl_WorkGroupSize.x / 2; s > 0; s >>= 1) { // every lane ends with the best
            float ov = subgroupShuffleXor(v, s);
            uint oi = subgroupShuffleXor(i, s);
            if (better(ov, oi, v, i)) {
                v = ov;
                i = oi;
            }
        }
        uint win = i;
        last = v;
        if (t == 0)
            wins[j] = win;
#else
        red_v[t] = v;
        red_i[t] = i;
        barrier();
        for (uint s = gl_WorkGroupSize.x / 2; s > 0; s >>= 1) {
            if (t < s && better(red_v[t + s], red_i[t + s], red_v[t], red_i[t])) {
                red_v[t] = red_v[t + s];
                red_i[t] = red_i[t + s];
            }
            barrier();
        }
        uint win = red_i[0];
        last = red_v[0];
        if (t == 0)
            wins[j] = win;
        barrier();
#endif
        if (head < take && bi[head] == win && win != NO_INDEX)
            head++;
        if (slot0 != NO_INDEX && t == 0) {
            uint r = win / p.vocab;
            parent[p.off_pa + slot0 + j] = win == NO_INDEX ? -1 : int(row0 + r);
            token[p.off_tk + slot0 + j] = win == NO_INDEX ? -1 : int(win - r * p.vocab);
            score[p.off_sc + slot0 + j] = last;
        }
    }
    return last;
}

void main()
{
    uint b = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (b >= p.batch)
        return; // uniform across the workgroup
    uint t = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x, row0 = b * p.beam;
    uint nlive = min(live[p.off_lv + b], p.beam), take = min(live[p.off_lv + p.batch + b], p.beam);
    if (take == 0)
        return; // uniform
    // 1. each live row's log-sum-exp from its blocks
    for (uint r = 0; r < nlive; r++) {
        uint base = p.off_st + (row0 + r) * 2u * p.nblk;
        float m = NONE;
        for (uint k = t; k < p.nblk; k += WG)
            m = max(m, st[base + 2u * k]);
        m = reduce(m, true);
        float sum = 0.0;
        for (uint k = t; k < p.nblk; k += WG)
            sum += st[base + 2u * k + 1u] * exp(st[base + 2u * k] - m);
        sum = reduce(sum, false);
        if (t == 0)
            lse[r] = m + log(sum);
    }
    barrier(); // lse
    // 2. the bound: the take-th best of the invocations' two best block scores each, kept in
    //    registers (an insertion into the sorted arrays costs far more on a CPU device). Those are
    //    distinct blocks, so this is at most the take-th best block score, which is all step 3
    //    needs; with take above twice the workgroup, no bound.
    float b1 = NONE, b2 = NONE;
    for (uint r = 0; r < nlive; r++) {
        float h = hs[p.off_hs + row0 + r], l = lse[r];
        uint base = p.off_st + (row0 + r) * 2u * p.nblk;
        for (uint k = t; k < p.nblk; k += WG) {
            float sc = (p.no_unk == 0 || k != 0) ? h + st[base + 2u * k] - l : NONE;
            b2 = max(b2, min(b1, sc));
            b1 = max(b1, sc);
        }
    }
    clear_best();
    bs[0] = b1;
    bi[0] = 2u * t;
    if (KMAX > 1u) { // beam 1 keeps one
        bs[1] = b2;
        bi[1] = 2u * t + 1u;
    }
    float bound = take <= min(KMAX, 2u) * WG ? pop_rounds(take, NO_INDEX, row0) : NONE;
    // 3. the candidates of the blocks that reach it
    clear_best();
    for (uint r = 0; r < nlive; r++) {
        float h = hs[p.off_hs + row0 + r], l = lse[r];
        uint base = p.off_st + (row0 + r) * 2u * p.nblk, xrow = p.off_x + (row0 + r) * p.ld;
        for (uint k = t; k < p.nblk; k += WG) {
            bool read = (p.no_unk != 0 && k == 0) || h + st[base + 2u * k] - l >= bound;
            ONCE(read) {
                for (uint c = 0; c < BW; c++) {
                    uint v = k * BW + c;
                    // past the vocabulary, or <unk> forbidden (the paper's "no UNK" decoding): never a candidate
                    if (read && v < p.vocab && (p.no_unk == 0 || v != 1u))
                        CONSIDER(h + x[xrow + v] - l, r * p.vocab + v);
                }
            }
        }
    }
    pop_rounds(take, row0, row0);
#ifdef BEAM_CARRY
    barrier(); // wins
    uint next = 0; // the chosen candidates passed over so far (uniform)
    for (uint j = 0; j < p.beam; j++) {
        while (next < take && (wins[next] == NO_INDEX || wins[next] % p.vocab == p.end_word))
            next++;
        uint row = row0 + j, word = p.start_word;
        if (next < take) {
            row = row0 + wins[next] / p.vocab;
            word = wins[next] % p.vocab;
            next++;
        }
        for (uint q = t; q < p.nq; q += WG)
            state_out[p.off_so + (row0 + j) * p.nq + q] = state[p.off_si + row * p.nq + q];
        for (uint q = t; q < p.mq; q += WG)
            emb_out[p.off_eo + (row0 + j) * p.mq + q] = emb[p.off_ei + word * p.mq + q];
        for (uint q = t; q < p.aq; q += WG)
            query_out[p.off_qo + (row0 + j) * p.aq + q] = query[p.off_qi + row * p.aq + q];
    }
#endif
}
