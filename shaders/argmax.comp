#version 450
// Greedy choice per row of logits [rows, vocab]: ids[row] = argmax (the
// smallest index among equal maxima) and logprob[row] = its log-softmax,
// -log(sum_v exp(x_v - max)). One workgroup per row; fixed-order tree
// reductions, so the same logits give the same bits. The workgroup then
// copies the chosen word's embedding row (emb [vocab, dim]) to row `row` of
// ey: the next greedy step's input, as embed_gather.comp would (an id
// outside the vocabulary, from logits with no number above -FLT_MAX,
// takes <unk>'s row).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in; // power of two, <= 1024
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer I { int ids[]; };
layout(std430, binding = 2) writeonly buffer L { float logprob[]; };
layout(std430, binding = 3) readonly buffer E { float emb[]; };
layout(std430, binding = 4) writeonly buffer EY { float ey[]; };
layout(push_constant) uniform P { uint off_x, off_ids, off_lp, rows, vocab, off_e, off_ey, dim; } p;

shared float red_v[gl_WorkGroupSize.x];
shared uint red_i[gl_WorkGroupSize.x];

void main()
{
    uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (row >= p.rows)
        return; // uniform across the workgroup
    uint t = gl_LocalInvocationID.x, base = p.off_x + row * p.vocab;
    float best = -3.402823e38;
    uint arg = 0xffffffffu;
    for (uint v = t; v < p.vocab; v += gl_WorkGroupSize.x) {
        float e = x[base + v];
        if (e > best) { // strictly greater: the first (smallest) index wins
            best = e;
            arg = v;
        }
    }
    red_v[t] = best;
    red_i[t] = arg;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2; s > 0; s >>= 1) {
        if (t < s) {
            float ov = red_v[t + s];
            uint oi = red_i[t + s];
            if (ov > red_v[t] || (ov == red_v[t] && oi < red_i[t])) {
                red_v[t] = ov;
                red_i[t] = oi;
            }
        }
        barrier();
    }
    float m = red_v[0];
    uint am = red_i[0];
    barrier();
    float sum = 0.0;
    for (uint v = t; v < p.vocab; v += gl_WorkGroupSize.x)
        sum += exp(x[base + v] - m);
    red_v[t] = sum;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2; s > 0; s >>= 1) {
        if (t < s)
            red_v[t] += red_v[t + s];
        barrier();
    }
    if (t == 0) {
        ids[p.off_ids + row] = int(am);
        logprob[p.off_lp + row] = -log(red_v[0]);
    }
    uint word = am < p.vocab ? am : 1u;
    for (uint q = t; q < p.dim; q += gl_WorkGroupSize.x)
        ey[p.off_ey + row * p.dim + q] = emb[p.off_e + word * p.dim + q];
}
