#version 450
// vknmt-variant: attention_texel_bwd_de BACKWARD BWD_DE
// vknmt-variant: attention_texel_bwd BACKWARD
// The CPU-class (lavapipe) form of shaders/attention.comp: the same three
// kernels, the same equations, bindings, push constants and workgroup per
// batch row (read that file's header first), with two changes that matter
// on a device whose lanes are SIMD slots of one CPU core
// (shared/notes/lavapipe-kernels.md):
//  * the read-only operands Ws, UH, H, v and dctx come through RGBA32F
//    uniform texel buffers, four k (or d) per fetch: a storage-buffer load
//    there is a branchy loop of ~200 instructions per subgroup, a texel
//    fetch a branch-free ~45, for uniform and divergent addresses alike;
//  * every loop over k or d gives each lane a quad (vec4) of k or d, so the
//    lanes of a subgroup fetch neighbouring texels and the read-modify-write
//    outputs (ctx, dv_part, dws, duh) move as vec4 through their SSBOs.
// Loops over positions take 4 positions per step and issue the 4 fetches
// before the arithmetic (each fetch call clobbers every vector register);
// the backward kernels take the 4 weights as one vec4 from shared memory, the
// forward's weighted sum from one load of a subgroup's worth, shuffled.
// REQUIRES na % 4 == 0, dim % 4 == 0 and every element offset except those of
// src_len and alpha a multiple of 4 (model/attention.c checks, and falls
// back to shaders/attention.comp otherwise). Sums run in a fixed order per
// element and no element has two writers: same input, same bits.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#extension GL_EXT_control_flow_attributes : enable
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
layout(local_size_x_id = 0) in; // power of two, <= 1024, a multiple of SG
// Positions per chunk through shared memory: a multiple of local_size_x and of 4.
layout(constant_id = 1) const uint CHUNK = 256;
// The subgroup size: a multiple of 4, subgroups of consecutive invocations.
layout(constant_id = 2) const uint SG = 8;

layout(binding = 0) uniform samplerBuffer t_ws;
layout(binding = 1) uniform samplerBuffer t_uh;
layout(std430, binding = 3) readonly buffer L { uint src_len[]; };
#if !defined(BACKWARD) || defined(BWD_DE)
layout(binding = 2) uniform samplerBuffer t_h;
#else
layout(std430, binding = 2) readonly buffer DE { float de[]; };
#endif
#ifndef BACKWARD
layout(binding = 4) uniform samplerBuffer t_v;
layout(std430, binding = 5) buffer A { float alpha[]; }; // also holds own scores before normalising
layout(std430, binding = 6) buffer C { vec4 ctx4[]; };   // chunk partial sums read back by their writer
layout(std430, binding = 7) readonly buffer SC { uint src_col[]; };
#elif defined(BWD_DE)
layout(std430, binding = 4) readonly buffer A { float alpha[]; };
layout(binding = 5) uniform samplerBuffer t_dctx;
layout(std430, binding = 6) writeonly buffer DE { float de[]; };
#else
layout(std430, binding = 4) buffer DV { vec4 dv4[]; }; // chunk partial sums read back by their writer
layout(std430, binding = 5) buffer DW { vec4 dws4[]; }; // ditto
layout(std430, binding = 6) buffer DU { vec4 duh4[]; };
layout(binding = 7) uniform samplerBuffer t_v;
#endif

// off[i] is the element offset of binding i (a multiple of 4 for texel and vec4 bindings).
layout(push_constant) uniform P {
    uint off[8];
    uint batch, tx, na, dim, src_batch, has_col;
} p;

#define WG gl_WorkGroupSize.x
shared float red[gl_WorkGroupSize.x];
shared vec4 sh4[CHUNK / 4]; // per-position weights of the current chunk

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

float hsum(vec4 a) { return (a.x + a.y) + (a.z + a.w); }

#ifdef BWD_DE
// dalpha[j] = dctx[b,:] . H[j,b,:]
float dalpha(uint b, uint j)
{
    uint dq = p.dim >> 2;
    int hq = int((p.off[2] >> 2) + (j * p.batch + b) * dq), cq = int((p.off[5] >> 2) + b * dq);
    vec4 s = vec4(0.0);
    for (int q = 0; q < int(dq); q++) {
        vec4 hh = texelFetch(t_h, hq + q);
        vec4 g = texelFetch(t_dctx, cq + q);
        s += g * hh;
    }
    return hsum(s);
}
#endif

void main()
{
    uint b = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (b >= p.batch)
        return; // uniform across the workgroup: no barrier is skipped by part of it
    uint t = gl_LocalInvocationID.x;
    uint len = min(src_len[p.off[3] + b], p.tx);
    uint nq = p.na >> 2, dq = p.dim >> 2;
    int wsq = int((p.off[0] >> 2) + b * nq);
#ifndef BACKWARD
    uint col = p.has_col != 0u ? min(src_col[p.off[7] + b], p.src_batch - 1u) : b, cols = p.src_batch;
#else
    uint col = b, cols = p.batch;
#endif
    // quad index of UH[0,col,0] and H[0,col,0]; one position further is +stride
    int uhq = int((p.off[1] >> 2) + col * nq), uh_stride = int(cols * nq);
    int hq0 = int((p.off[2] >> 2) + col * dq), h_stride = int(cols * dq);
#ifndef BACKWARD
    uint ab = p.off[5] + b * p.tx;
    int vq = int(p.off[4] >> 2);
    // Scores of own positions, parked in alpha (read back only by their writer).
    float m = -3.402823e38;
    for (uint j = t; j < len; j += WG) {
        int uq = uhq + int(j) * uh_stride;
        vec4 acc = vec4(0.0);
        for (int q = 0; q < int(nq); q++) {
            vec4 x = texelFetch(t_uh, uq + q);
            vec4 w = texelFetch(t_ws, wsq + q);
            vec4 vv = texelFetch(t_v, vq + q);
            acc += vv * vk_tanh(w + x);
        }
        float e = hsum(acc);
        alpha[ab + j] = e;
        m = max(m, e);
    }
    m = tree_max(m);
    float s = 0.0;
    for (uint j = t; j < len; j += WG)
        s += exp(alpha[ab + j] - m);
    s = tree_sum(s);
    float inv = len > 0 ? 1.0 / s : 0.0;

    uint cq = (p.off[6] >> 2) + b * dq;
    for (uint c0 = 0; c0 < p.tx; c0 += CHUNK) {
        uint c1 = min(c0 + CHUNK, p.tx);
        for (uint j = c0 + t; j < c1; j += WG) {
            float a = j < len ? exp(alpha[ab + j] - m) * inv : 0.0;
            alpha[ab + j] = a;
        }
        barrier();
        // The weights reach the lanes by subgroupShuffle from one load of SG of them (a shared-memory
        // load is a loop over the lanes); the sums run in the same order as 4 positions at a time
        // from c0, then one at a time. Lanes past dq repeat the last quad and store nothing (every
        // lane of the subgroup takes part in the shuffles).
        uint cend = clamp(len, c0, c1), lane = gl_SubgroupInvocationID, whole = c0 + (cend - c0) / SG * SG;
        for (uint d0 = 0; d0 < dq; d0 += WG) {
            uint d = min(d0 + t, dq - 1u);
            vec4 acc = c0 == 0 ? vec4(0.0) : ctx4[cq + d];
            int hq = hq0 + int(d);
            for (uint jb = c0; jb < whole; jb += SG) {
                float w = alpha[ab + jb + lane];
                [[unroll]] for (uint k = 0; k < SG; k += 4) {
                    int hj = hq + int(jb + k) * h_stride;
                    vec4 h0 = texelFetch(t_h, hj);
                    vec4 h1 = texelFetch(t_h, hj + h_stride);
                    vec4 h2 = texelFetch(t_h, hj + 2 * h_stride);
                    vec4 h3 = texelFetch(t_h, hj + 3 * h_stride);
                    acc += subgroupShuffle(w, k) * h0;
                    acc += subgroupShuffle(w, k + 1u) * h1;
                    acc += subgroupShuffle(w, k + 2u) * h2;
                    acc += subgroupShuffle(w, k + 3u) * h3;
                }
            }
            float w = whole + lane < cend ? alpha[ab + whole + lane] : 0.0;
            uint j = whole;
            for (; j + 4 <= cend; j += 4) {
                vec4 h0 = texelFetch(t_h, hq + int(j) * h_stride);
                vec4 h1 = texelFetch(t_h, hq + int(j + 1) * h_stride);
                vec4 h2 = texelFetch(t_h, hq + int(j + 2) * h_stride);
                vec4 h3 = texelFetch(t_h, hq + int(j + 3) * h_stride);
                acc += subgroupShuffle(w, j - whole) * h0;
                acc += subgroupShuffle(w, j - whole + 1u) * h1;
                acc += subgroupShuffle(w, j - whole + 2u) * h2;
                acc += subgroupShuffle(w, j - whole + 3u) * h3;
            }
            for (; j < cend; j++)
                acc += subgroupShuffle(w, j - whole) * texelFetch(t_h, hq + int(j) * h_stride);
            if (d0 + t < dq)
                ctx4[cq + d] = acc;
        }
        barrier();
    }
#elif defined(BWD_DE)
    uint ab = p.off[4] + b * p.tx;
    // sum_i alpha[i] dalpha[i], the softmax's correction term; dalpha of the
    // first chunk is kept (by the position's owner) for its de.
    float c = 0.0;
    for (uint j = t; j < len; j += WG) {
        float da = dalpha(b, j);
        if (j < CHUNK)
            sh4[j >> 2][j & 3] = da;
        c += alpha[ab + j] * da;
    }
    c = tree_sum(c);
    for (uint j = t; j < p.tx; j += WG) {
        float a = j < len ? alpha[ab + j] : 0.0;
        float da = j >= len ? 0.0 : j < CHUNK ? sh4[j >> 2][j & 3] : dalpha(b, j);
        de[p.off[6] + b * p.tx + j] = a * (da - c);
    }
#else
    int vq = int(p.off[7] >> 2);
    uint db = p.off[2] + b * p.tx;
    for (uint c0 = 0; c0 < p.tx; c0 += CHUNK) {
        uint c1 = min(c0 + CHUNK, p.tx);
        for (uint j = c0 + t; j < c1; j += WG)
            sh4[(j - c0) >> 2][(j - c0) & 3] = de[db + j];
        barrier();
        uint cend = min(c1, len);
        for (uint kq = t; kq < nq; kq += WG) {
            vec4 w = texelFetch(t_ws, wsq + int(kq)), vv = texelFetch(t_v, vq + int(kq));
            int uq = uhq + int(kq);
            uint o = b * nq + kq, oq = (p.off[6] >> 2) + o, o_stride = p.batch * nq;
            vec4 adv = c0 == 0 ? vec4(0.0) : dv4[(p.off[4] >> 2) + o];
            vec4 adw = c0 == 0 ? vec4(0.0) : dws4[(p.off[5] >> 2) + o];
            uint j = c0;
            for (; j + 4 <= cend; j += 4) {
                vec4 x0 = texelFetch(t_uh, uq + int(j) * uh_stride);
                vec4 x1 = texelFetch(t_uh, uq + int(j + 1) * uh_stride);
                vec4 x2 = texelFetch(t_uh, uq + int(j + 2) * uh_stride);
                vec4 x3 = texelFetch(t_uh, uq + int(j + 3) * uh_stride);
                vec4 e = sh4[(j - c0) >> 2];
                vec4 u0 = vk_tanh(w + x0), u1 = vk_tanh(w + x1), u2 = vk_tanh(w + x2), u3 = vk_tanh(w + x3);
                adv += e.x * u0;
                adv += e.y * u1;
                adv += e.z * u2;
                adv += e.w * u3;
                adw += e.x * (1.0 - u0 * u0);
                adw += e.y * (1.0 - u1 * u1);
                adw += e.z * (1.0 - u2 * u2);
                adw += e.w * (1.0 - u3 * u3);
                duh4[oq + j * o_stride] += e.x * (1.0 - u0 * u0) * vv;
                duh4[oq + (j + 1) * o_stride] += e.y * (1.0 - u1 * u1) * vv;
                duh4[oq + (j + 2) * o_stride] += e.z * (1.0 - u2 * u2) * vv;
                duh4[oq + (j + 3) * o_stride] += e.w * (1.0 - u3 * u3) * vv;
            }
            for (; j < cend; j++) {
                vec4 u = vk_tanh(w + texelFetch(t_uh, uq + int(j) * uh_stride));
                float e = sh4[(j - c0) >> 2][(j - c0) & 3];
                adv += e * u;
                adw += e * (1.0 - u * u);
                duh4[oq + j * o_stride] += e * (1.0 - u * u) * vv;
            }
            // dws holds the unscaled sum between chunks; v[k] scales it once.
            if (c0 + CHUNK >= p.tx)
                adw *= vv;
            dv4[(p.off[4] >> 2) + o] = adv;
            dws4[(p.off[5] >> 2) + o] = adw;
        }
        barrier();
    }
#endif
}
