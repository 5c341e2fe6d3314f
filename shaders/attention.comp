#version 450
// vknmt-variant: attention_bwd_de BACKWARD BWD_DE
// vknmt-variant: attention_bwd BACKWARD
// Additive attention for one decoder step (spec/rnnsearch.md, "Attention"):
//   u[j,k]  = tanh(Ws[b,k] + UH[j,b,k])      e[j] = sum_k v[k] u[j,k]
//   alpha   = softmax over j < len of e       ctx[b,d] = sum_j alpha[j] H[j,b,d]
// One workgroup per batch row b: it alone writes alpha[b,:], ctx[b,:] and the
// b-slices of the gradients, so no two workgroups touch the same element and
// every sum runs in a fixed order (no atomics: same input, same bits).
//
// The backward needs 11 buffers, more than a dispatch may bind (8), so it is
// two dispatches, the scores' gradient de [B,Tx] passing between them:
//   BWD_DE : de[b,j] = alpha[j] (dalpha[j] - sum_i alpha[i] dalpha[i]),
//            dalpha[j] = dctx . H[j,b] (0 for j >= len)
//   default: with u recomputed once (cheap next to the GEMMs around attention)
//            dv_part[b,k] = sum_j de[j] u[j,k]
//            dws[b,k]     = v[k] sum_j de[j] (1 - u^2)
//            duh[j,b,k]  += de[j] (1 - u^2) v[k]
// Positions j >= len are never read for scores and their gradients are left
// untouched (they are exactly zero). The weighted sum's own path to H,
// dH[j,b,:] += alpha[j] dctx[b,:], is a product over all steps at once
// (vknmt_att_backward_context), not a read-modify-write of dH every step.
//
// Layout: Ws [B,na], UH [Tx,B,na], v [na], H [Tx,B,dim], src_len uint [B],
// alpha and de [B,Tx], ctx and dctx [B,dim], dv_part and dws [B,na].
// Offsets in elements in push constants.
// The forward also takes src_col uint [B] (binding 7), and UH, H [Tx,S,.]
// with S = src_batch columns (below).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in; // power of two, <= 1024

layout(std430, binding = 0) readonly buffer WS { float ws[]; };
layout(std430, binding = 1) readonly buffer UHB { float uh[]; };
layout(std430, binding = 3) readonly buffer L { uint src_len[]; };
#ifndef BACKWARD
layout(std430, binding = 2) readonly buffer HB { float h[]; };
layout(std430, binding = 4) readonly buffer V { float v[]; };
layout(std430, binding = 5) buffer A { float alpha[]; }; // also holds own scores before normalising
layout(std430, binding = 6) buffer C { float ctx[]; }; // chunk partial sums read back by their writer
layout(std430, binding = 7) readonly buffer SC { uint src_col[]; };
#elif defined(BWD_DE)
layout(std430, binding = 2) readonly buffer HB { float h[]; };
layout(std430, binding = 4) readonly buffer A { float alpha[]; };
layout(std430, binding = 5) readonly buffer DC { float dctx[]; };
layout(std430, binding = 6) writeonly buffer DE { float de[]; };
#else
layout(std430, binding = 2) readonly buffer DE { float de[]; };
layout(std430, binding = 4) buffer DV { float dv_part[]; }; // chunk partial sums read back by their writer
layout(std430, binding = 5) buffer DW { float dws[]; };     // ditto
layout(std430, binding = 6) buffer DU { float duh[]; };
layout(std430, binding = 7) readonly buffer V { float v[]; };
#endif

// off[i] is the element offset of binding i. The forward's row b attends over
// column col(b) of UH and H, which hold src_batch columns: col(b) = b, or with
// has_col src_col[b] (beam search: a sentence's hypotheses share its
// annotations); src_len is per row.
layout(push_constant) uniform P {
    uint off[8];
    uint batch, tx, na, dim, src_batch, has_col;
} p;

#define WG gl_WorkGroupSize.x
// Positions are handled in chunks of CHUNK through shared memory. CHUNK is a
// multiple of WG, so the invocation that owns position j (j % WG == t) owns
// it in its chunk too.
#define CHUNK (4 * gl_WorkGroupSize.x)
shared float red[gl_WorkGroupSize.x];
shared float sh[CHUNK];

float tree_sum(float x)
{
    uint t = gl_LocalInvocationID.x;
    red[t] = x;
    barrier();
    for (uint s = WG / 2; s > 0; s >>= 1) {
        if (t < s)
            red[t] += red[t + s];
        barrier();
    }
    float r = red[0];
    barrier();
    return r;
}

float tree_max(float x)
{
    uint t = gl_LocalInvocationID.x;
    red[t] = x;
    barrier();
    for (uint s = WG / 2; s > 0; s >>= 1) {
        if (t < s)
            red[t] = max(red[t], red[t + s]);
        barrier();
    }
    float r = red[0];
    barrier();
    return r;
}

#ifdef BWD_DE
// dalpha[j] = dctx[b,:] . H[j,b,:]
float dalpha(uint b, uint j)
{
    uint hb = p.off[2] + (j * p.batch + b) * p.dim, cb = p.off[5] + b * p.dim;
    float s = 0.0;
    for (uint d = 0; d < p.dim; d++)
        s += dctx[cb + d] * h[hb + d];
    return s;
}
#endif

void main()
{
    uint b = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (b >= p.batch)
        return; // uniform across the workgroup: no barrier is skipped by part of it
    uint t = gl_LocalInvocationID.x;
    uint len = min(src_len[p.off[3] + b], p.tx);
    uint wsb = p.off[0] + b * p.na;
#ifndef BACKWARD
    uint col = p.has_col != 0u ? min(src_col[p.off[7] + b], p.src_batch - 1u) : b;
    uint ab = p.off[5] + b * p.tx;
    // Scores of own positions, parked in alpha (read back only by their writer).
    float m = -3.402823e38;
    for (uint j = t; j < len; j += WG) {
        uint ub = p.off[1] + (j * p.src_batch + col) * p.na;
        float e = 0.0;
        for (uint k = 0; k < p.na; k++)
            e += v[p.off[4] + k] * vk_tanh(ws[wsb + k] + uh[ub + k]);
        alpha[ab + j] = e;
        m = max(m, e);
    }
    m = tree_max(m);
    float s = 0.0;
    for (uint j = t; j < len; j += WG)
        s += exp(alpha[ab + j] - m);
    s = tree_sum(s);
    float inv = len > 0 ? 1.0 / s : 0.0;

    uint cb = p.off[6] + b * p.dim;
    for (uint c0 = 0; c0 < p.tx; c0 += CHUNK) {
        uint c1 = min(c0 + CHUNK, p.tx);
        for (uint j = c0 + t; j < c1; j += WG) {
            float a = j < len ? exp(alpha[ab + j] - m) * inv : 0.0;
            alpha[ab + j] = a;
            sh[j - c0] = a;
        }
        barrier();
        uint cend = min(c1, len);
        for (uint d = t; d < p.dim; d += WG) {
            float acc = c0 == 0 ? 0.0 : ctx[cb + d];
            for (uint j = c0; j < cend; j++)
                acc += sh[j - c0] * h[p.off[2] + (j * p.src_batch + col) * p.dim + d];
            ctx[cb + d] = acc;
        }
        barrier();
    }
#elif defined(BWD_DE)
    uint ab = p.off[4] + b * p.tx;
    // sum_i alpha[i] dalpha[i], the softmax's correction term
    float c = 0.0;
    for (uint j = t; j < len; j += WG)
        c += alpha[ab + j] * dalpha(b, j);
    c = tree_sum(c);
    for (uint j = t; j < p.tx; j += WG)
        de[p.off[6] + b * p.tx + j] = j < len ? alpha[ab + j] * (dalpha(b, j) - c) : 0.0;
#else
    uint db = p.off[2] + b * p.tx;
    for (uint c0 = 0; c0 < p.tx; c0 += CHUNK) {
        uint c1 = min(c0 + CHUNK, p.tx);
        for (uint j = c0 + t; j < c1; j += WG)
            sh[j - c0] = de[db + j];
        barrier();
        uint cend = min(c1, len);
        for (uint k = t; k < p.na; k += WG) {
            float w = ws[wsb + k], vk = v[p.off[7] + k];
            uint o = b * p.na + k;
            float adv = c0 == 0 ? 0.0 : dv_part[p.off[4] + o], adw = c0 == 0 ? 0.0 : dws[p.off[5] + o];
            for (uint j = c0; j < cend; j++) {
                uint i = (j * p.batch + b) * p.na + k;
                float u = vk_tanh(w + uh[p.off[1] + i]);
                adv += sh[j - c0] * u;
                adw += sh[j - c0] * (1.0 - u * u);
                duh[p.off[6] + i] += sh[j - c0] * (1.0 - u * u) * vk;
            }
            // dws holds the unscaled sum between chunks; v[k] scales it once.
            if (c0 + CHUNK >= p.tx)
                adw *= vk;
            dv_part[p.off[4] + o] = adv;
            dws[p.off[5] + o] = adw;
        }
        barrier();
    }
#endif
}
