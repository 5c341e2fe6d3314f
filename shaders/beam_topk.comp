#version 450
// vknmt-variant: beam_topk_texel TOPK_TEXEL
// One beam-search step's selection for sentence b (one workgroup each):
// candidates are (live row r, word v) with score hs[r] + log_softmax(x[r])[v]
// over the sentence's live rows r = b*K .. b*K + live[b] - 1; the best
// take[b] of them, best first (ties: the smaller r * vocab + v), go to
// slots b*K .. b*K + take[b] - 1 of parent (global row), token and score.
// Each invocation keeps its own best KMAX while scanning, then take[b]
// rounds pick the best head across invocations: fixed order, same bits.
// With no_unk, the word <unk> (1) is never a candidate. Rows of x are ld
// floats apart. TOPK_TEXEL (CPU devices): x is read a quad at a time through
// an RGBA32F texel view (rows and off_x on quads; the ld - vocab padding is
// never a candidate): a texel fetch is branch-free there, a buffer load a
// loop over the lanes.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in; // power of two, <= 1024
layout(constant_id = 1) const uint KMAX = 16;
#ifdef TOPK_TEXEL
layout(binding = 0) uniform samplerBuffer t_x;
#else
layout(std430, binding = 0) readonly buffer X { float x[]; };
#endif
layout(std430, binding = 1) readonly buffer HS { float hs[]; };
layout(std430, binding = 2) readonly buffer LV { uint live[]; };   // [B] then take [B]
layout(std430, binding = 3) writeonly buffer PA { int parent[]; };
layout(std430, binding = 4) writeonly buffer TK { int token[]; };
layout(std430, binding = 5) writeonly buffer SC { float score[]; };
layout(push_constant) uniform P { uint off_x, off_hs, off_lv, off_pa, off_tk, off_sc, batch, beam, vocab, no_unk, ld; } p;

shared float red_v[gl_WorkGroupSize.x];
shared uint red_i[gl_WorkGroupSize.x];
shared float lse[KMAX];

bool better(float a, uint ia, float b, uint ib) { return a > b || (a == b && ia < ib); }

// lavapipe runs the body of an `if` under a lane mask even when no lane
// takes it, but skips a loop no lane enters: ONCE(c) runs its body only when
// some lane's c holds. Most candidates are no better than any lane's worst.
#define ONCE(c) for (uint once_ = 0u; once_ < ((c) ? 1u : 0u); once_++)

// Candidate (score SC, index C) into this invocation's sorted best `take`
// (a macro: a function would copy the arrays in and out).
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

void main()
{
    uint b = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (b >= p.batch)
        return; // uniform across the workgroup
    uint t = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
    uint nlive = min(live[p.off_lv + b], p.beam), take = min(live[p.off_lv + p.batch + b], p.beam);
    // log-sum-exp of each live row
    for (uint r = 0; r < nlive; r++) {
        uint base = p.off_x + (b * p.beam + r) * p.ld;
        float m = -3.402823e38;
#ifdef TOPK_TEXEL
        uint nq = (p.vocab + 3u) / 4u;
        for (uint q = t; q < nq; q += WG) {
            vec4 e = texelFetch(t_x, int(base / 4u + q));
            for (uint j = 0; j < 4u; j++)
                if (4u * q + j < p.vocab)
                    m = max(m, e[j]);
        }
#else
        for (uint v = t; v < p.vocab; v += WG)
            m = max(m, x[base + v]);
#endif
        red_v[t] = m;
        barrier();
        for (uint s = WG / 2; s > 0; s >>= 1) {
            if (t < s)
                red_v[t] = max(red_v[t], red_v[t + s]);
            barrier();
        }
        m = red_v[0];
        barrier();
        float sum = 0.0;
#ifdef TOPK_TEXEL
        for (uint q = t; q < nq; q += WG) {
            vec4 e = texelFetch(t_x, int(base / 4u + q));
            for (uint j = 0; j < 4u; j++)
                if (4u * q + j < p.vocab)
                    sum += exp(e[j] - m);
        }
#else
        for (uint v = t; v < p.vocab; v += WG)
            sum += exp(x[base + v] - m);
#endif
        red_v[t] = sum;
        barrier();
        for (uint s = WG / 2; s > 0; s >>= 1) {
            if (t < s)
                red_v[t] += red_v[t + s];
            barrier();
        }
        if (t == 0)
            lse[r] = m + log(red_v[0]);
        barrier();
    }
    // this invocation's best KMAX candidates, sorted best first
    float bs[KMAX];
    uint bi[KMAX];
    for (uint k = 0; k < KMAX; k++) {
        bs[k] = -3.402823e38;
        bi[k] = 0xffffffffu;
    }
#ifdef TOPK_TEXEL
    // row by row: hs and lse are read once per row (a storage or shared load is a loop over the lanes)
    uint nq = (p.vocab + 3u) / 4u;
    for (uint r = 0; r < nlive && take > 0; r++) {
      float h = hs[p.off_hs + b * p.beam + r], l = lse[r];
      int xq = int((p.off_x + (b * p.beam + r) * p.ld) / 4u);
      for (uint q = t; q < nq; q += WG) {
        vec4 e = texelFetch(t_x, xq + int(q));
        for (uint j = 0; j < 4u; j++) {
            uint v = 4u * q + j;
            // past the vocabulary, or <unk> forbidden (the paper's "no UNK" decoding): never a candidate
            bool ok = v < p.vocab && (p.no_unk == 0 || v != 1u);
            CONSIDER(ok ? h + e[j] - l : uintBitsToFloat(0xff800000u), r * p.vocab + v); // -inf
        }
      }
    }
#else
    uint n = nlive * p.vocab;
    for (uint c = t; c < n && take > 0; c += WG) {
        uint r = c / p.vocab, v = c - r * p.vocab;
        if (p.no_unk != 0 && v == 1u)
            continue; // <unk> forbidden (the paper's "no UNK" decoding)
        CONSIDER(hs[p.off_hs + b * p.beam + r] + x[p.off_x + (b * p.beam + r) * p.ld + v] - lse[r], c);
    }
#endif
    // take rounds: the best head across invocations wins and is popped
    uint head = 0;
    for (uint j = 0; j < take; j++) {
        red_v[t] = head < take ? bs[head] : -3.402823e38;
        red_i[t] = head < take ? bi[head] : 0xffffffffu;
        barrier();
        for (uint s = WG / 2; s > 0; s >>= 1) {
            if (t < s && better(red_v[t + s], red_i[t + s], red_v[t], red_i[t])) {
                red_v[t] = red_v[t + s];
                red_i[t] = red_i[t + s];
            }
            barrier();
        }
        uint win = red_i[0];
        float wsc = red_v[0];
        barrier();
        if (head < take && bi[head] == win && win != 0xffffffffu)
            head++;
        if (t == 0) {
            uint slot = b * p.beam + j;
            uint r = win / p.vocab;
            parent[p.off_pa + slot] = win == 0xffffffffu ? -1 : int(b * p.beam + r);
            token[p.off_tk + slot] = win == 0xffffffffu ? -1 : int(win - r * p.vocab);
            score[p.off_sc + slot] = wsc;
        }
    }
}
