#version 450
// Output layer loss and its gradient, one workgroup per row r of logits[rows, vocab]
// (rows ld floats apart; the ld - vocab padding columns are set to 0, so a GEMM
// that reads the gradient a quad at a time reads zeros there):
//   nll[r] = weight[r] * (logsumexp(logits[r]) - logits[r, target[r]])
//   logits[r, :] = weight[r] * (softmax(logits[r]) - onehot(target[r]))   (in place)
// The max is subtracted before exp, so large logits neither overflow nor lose
// the row. Reductions run in a fixed tree order: bitwise reproducible.
// A row of weight 0 (padding) becomes all zeros with nll 0 and never reads
// its target. A target outside [0, vocab) with a non-zero weight gives a NaN
// nll (a data error must show in the loss) and a gradient without the onehot.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in; // power of two, <= 1024
layout(std430, binding = 0) buffer X { float x[]; };
layout(std430, binding = 1) readonly buffer T { int target[]; };
layout(std430, binding = 2) readonly buffer W { float weight[]; };
layout(std430, binding = 3) writeonly buffer N { float nll[]; };
layout(push_constant) uniform P { uint off_x, off_target, off_weight, off_nll, rows, vocab, ld; } p;

shared float red[gl_WorkGroupSize.x];

float tree_max(float v)
{
    uint t = gl_LocalInvocationID.x;
    red[t] = v;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2; s > 0; s >>= 1) {
        if (t < s)
            red[t] = max(red[t], red[t + s]);
        barrier();
    }
    float r = red[0];
    barrier();
    return r;
}

float tree_sum(float v)
{
    uint t = gl_LocalInvocationID.x;
    red[t] = v;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2; s > 0; s >>= 1) {
        if (t < s)
            red[t] += red[t + s];
        barrier();
    }
    float r = red[0];
    barrier();
    return r;
}

void main()
{
    uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (row >= p.rows)
        return; // uniform across the workgroup
    uint t = gl_LocalInvocationID.x;
    uint xb = p.off_x + row * p.ld;
    for (uint c = p.vocab + t; c < p.ld; c += gl_WorkGroupSize.x)
        x[xb + c] = 0.0;
    float w = weight[p.off_weight + row];
    if (w == 0.0) { // uniform: padding rows are all zeros, nll 0
        for (uint c = t; c < p.vocab; c += gl_WorkGroupSize.x)
            x[xb + c] = 0.0;
        if (t == 0)
            nll[p.off_nll + row] = 0.0;
        return;
    }
    int tg = target[p.off_target + row];
    bool tg_ok = tg >= 0 && uint(tg) < p.vocab;
    // Read the target's logit before any invocation overwrites the row
    // (the reductions below hold barriers).
    float xt = tg_ok ? x[xb + uint(tg)] : 0.0;

    float m = -3.402823e38;
    for (uint c = t; c < p.vocab; c += gl_WorkGroupSize.x)
        m = max(m, x[xb + c]);
    m = tree_max(m);

    float s = 0.0;
    for (uint c = t; c < p.vocab; c += gl_WorkGroupSize.x)
        s += exp(x[xb + c] - m);
    s = tree_sum(s);

    if (t == 0) {
        float lse_minus_t = (m - xt) + log(s);
        nll[p.off_nll + row] = tg_ok ? w * lse_minus_t : uintBitsToFloat(0x7fc00000u);
    }
    float inv = 1.0 / s;
    for (uint c = t; c < p.vocab; c += gl_WorkGroupSize.x) {
        float v = exp(x[xb + c] - m) * inv;
        if (tg_ok && c == uint(tg))
            v -= 1.0;
        x[xb + c] = w * v;
    }
}
