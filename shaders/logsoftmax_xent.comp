#version 450
// vknmt-variant: logsoftmax_xent_vec4 XENT_VEC4
// vknmt-variant: logsoftmax_xent_texel XENT_VEC4 XENT_TEXEL
// Output layer loss and its gradient, one workgroup per row r of logits[rows, vocab]
// (rows ld floats apart; the ld - vocab padding columns are set to 0, so a GEMM
// that reads the gradient a quad at a time reads zeros there):
//   nll[r] = weight[r] * (logsumexp(logits[r]) - logits[r, target[r]])
//   logits[r, :] = weight[r] * (softmax(logits[r]) - onehot(target[r]))   (in place)
// The max is subtracted before exp, so large logits neither overflow nor lose
// the row. Reductions run in a fixed tree order: bitwise reproducible.
// Invocation t owns the column quads q = t, t + size, ... (columns 4q .. 4q+3
// below vocab) and adds them in column order. XENT_VEC4 (ld and off_x
// multiples of 4) moves each quad as one vec4, which lavapipe loads in one
// pass over the lanes instead of four; the sums, hence the bits, are the same.
// XENT_TEXEL (with XENT_VEC4, CPU devices): the reads come through an RGBA32F
// texel view of the same logits (binding 4, quad offset off_xt), a fetch
// instead of a storage-buffer load's loop over the lanes; each invocation
// reads its quads before it overwrites them, and no other invocation touches
// them, so the view never sees a value this dispatch wrote.
// A row of weight 0 (padding) becomes all zeros with nll 0 and never reads
// its target. A target outside [0, vocab) with a non-zero weight gives a NaN
// nll (a data error must show in the loss) and a gradient without the onehot.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in; // power of two, <= 1024
layout(std430, binding = 0) buffer X { float x[]; };
layout(std430, binding = 0) buffer X4 { vec4 x4[]; }; // alias of binding 0
layout(std430, binding = 1) readonly buffer T { int target[]; };
layout(std430, binding = 2) readonly buffer W { float weight[]; };
layout(std430, binding = 3) writeonly buffer N { float nll[]; };
layout(push_constant) uniform P { uint off_x, off_target, off_weight, off_nll, rows, vocab, ld, off_xt; } p;
#ifdef XENT_TEXEL
layout(binding = 4) uniform samplerBuffer tx;
#endif

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

// Quad q of the row at xb: columns past vocab read as -FLT_MAX, so exp gives
// them 0 (NaN padding cannot leak: a select, not arithmetic).
vec4 load_quad(uint xb, uint q)
{
    uint c = 4u * q;
#ifdef XENT_VEC4
    bvec4 in_row = lessThan(uvec4(c) + uvec4(0, 1, 2, 3), uvec4(p.vocab));
#ifdef XENT_TEXEL
    return mix(vec4(-3.402823e38), texelFetch(tx, int(((xb - p.off_x + p.off_xt) >> 2) + q)), in_row);
#else
    return mix(vec4(-3.402823e38), x4[(xb >> 2) + q], in_row);
#endif
#else
    vec4 v;
    for (uint e = 0; e < 4u; e++)
        v[e] = c + e < p.vocab ? x[xb + c + e] : -3.402823e38;
    return v;
#endif
}

void store_quad(uint xb, uint q, vec4 v)
{
#ifdef XENT_VEC4
    x4[(xb >> 2) + q] = v;
#else
    uint c = 4u * q;
    for (uint e = 0; e < 4u; e++)
        if (c + e < p.vocab)
            x[xb + c + e] = v[e];
#endif
}

void main()
{
    uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (row >= p.rows)
        return; // uniform across the workgroup
    uint t = gl_LocalInvocationID.x, wg = gl_WorkGroupSize.x;
    uint xb = p.off_x + row * p.ld;
    uint nq = (p.vocab + 3u) / 4u;
#ifdef XENT_VEC4
    uint nq_all = p.ld / 4u; // the padding quads are written as zeros below
#else
    uint nq_all = nq;
    for (uint c = p.vocab + t; c < p.ld; c += wg)
        x[xb + c] = 0.0;
#endif
    float w = weight[p.off_weight + row];
    if (w == 0.0) { // uniform: padding rows are all zeros, nll 0
        for (uint q = t; q < nq_all; q += wg)
            store_quad(xb, q, vec4(0.0));
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
    for (uint q = t; q < nq; q += wg) {
        vec4 v = load_quad(xb, q);
        m = max(max(max(m, v.x), v.y), max(v.z, v.w));
    }
    m = tree_max(m);

    float s = 0.0;
    for (uint q = t; q < nq; q += wg) {
        vec4 e = exp(load_quad(xb, q) - m); // 0 past vocab
        s += e.x;
        s += e.y;
        s += e.z;
        s += e.w;
    }
    s = tree_sum(s);

    if (t == 0) {
        float lse_minus_t = (m - xt) + log(s);
        nll[p.off_nll + row] = tg_ok ? w * lse_minus_t : uintBitsToFloat(0x7fc00000u);
    }
    float inv = 1.0 / s;
    for (uint q = t; q < nq_all; q += wg) {
        vec4 v = exp(load_quad(xb, q) - m) * inv;
        uint c = 4u * q;
        if (tg_ok && uint(tg) >= c && uint(tg) < c + 4u)
            v[uint(tg) - c] -= 1.0;
        store_quad(xb, q, w * v);
    }
}
