#version 450
// One beam-search step's selection for sentence b (one workgroup each):
// candidates are (live row r, word v) with score hs[r] + log_softmax(x[r])[v]
// over the sentence's live rows r = b*K .. b*K + live[b] - 1; the best
// take[b] of them, best first (ties: the smaller r * vocab + v), go to
// slots b*K .. b*K + take[b] - 1 of parent (global row), token and score.
// Each invocation keeps its own best KMAX while scanning, then take[b]
// rounds pick the best head across invocations: fixed order, same bits.
// With no_unk, the word <unk> (1) is never a candidate.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in; // power of two, <= 1024
layout(constant_id = 1) const uint KMAX = 16;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer HS { float hs[]; };
layout(std430, binding = 2) readonly buffer LV { uint live[]; };   // [B] then take [B]
layout(std430, binding = 3) writeonly buffer PA { int parent[]; };
layout(std430, binding = 4) writeonly buffer TK { int token[]; };
layout(std430, binding = 5) writeonly buffer SC { float score[]; };
layout(push_constant) uniform P { uint off_x, off_hs, off_lv, off_pa, off_tk, off_sc, batch, beam, vocab, no_unk; } p;

shared float red_v[gl_WorkGroupSize.x];
shared uint red_i[gl_WorkGroupSize.x];
shared float lse[KMAX];

bool better(float a, uint ia, float b, uint ib) { return a > b || (a == b && ia < ib); }

void main()
{
    uint b = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (b >= p.batch)
        return; // uniform across the workgroup
    uint t = gl_LocalInvocationID.x, WG = gl_WorkGroupSize.x;
    uint nlive = min(live[p.off_lv + b], p.beam), take = min(live[p.off_lv + p.batch + b], p.beam);
    // log-sum-exp of each live row
    for (uint r = 0; r < nlive; r++) {
        uint base = p.off_x + (b * p.beam + r) * p.vocab;
        float m = -3.402823e38;
        for (uint v = t; v < p.vocab; v += WG)
            m = max(m, x[base + v]);
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
        for (uint v = t; v < p.vocab; v += WG)
            sum += exp(x[base + v] - m);
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
    uint n = nlive * p.vocab;
    for (uint c = t; c < n && take > 0; c += WG) {
        uint r = c / p.vocab, v = c - r * p.vocab;
        if (p.no_unk != 0 && v == 1u)
            continue; // <unk> forbidden (the paper's "no UNK" decoding)
        float sc = hs[p.off_hs + b * p.beam + r] + x[p.off_x + (b * p.beam + r) * p.vocab + v] - lse[r];
        if (!better(sc, c, bs[take - 1], bi[take - 1]))
            continue;
        uint k = take - 1;
        while (k > 0 && better(sc, c, bs[k - 1], bi[k - 1])) {
            bs[k] = bs[k - 1];
            bi[k] = bi[k - 1];
            k--;
        }
        bs[k] = sc;
        bi[k] = c;
    }
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
