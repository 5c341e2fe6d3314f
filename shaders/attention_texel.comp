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
// Loops over positions take several positions per step and issue their
// fetches before the arithmetic (each fetch call clobbers every vector
// register); the weighing backward kernel takes the 4 weights as one vec4
// from shared memory. The forward and the scores' gradient (BWD_DE) are one
// subgroup a row instead of a workgroup: the lanes split each row by quads
// and meet by shuffles, so they have no barrier and no shared memory (a
// barrier is a coroutine switch per subgroup, a shared-memory load a loop
// over the lanes).
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
layout(std430, binding = 6) writeonly buffer C { vec4 ctx4[]; };
layout(std430, binding = 7) readonly buffer SC { uint src_col[]; };
#elif defined(BWD_DE)
layout(std430, binding = 4) readonly buffer A { float alpha[]; };
layout(binding = 5) uniform samplerBuffer t_dctx;
layout(std430, binding = 6) buffer DE { float de[]; }; // dalpha until the end, read back by its writer
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

float hsum(vec4 a) { return (a.x + a.y) + (a.z + a.w); }

#if defined(BACKWARD) && !defined(BWD_DE)
#define WG gl_WorkGroupSize.x
shared vec4 sh4[CHUNK / 4]; // per-position weights of the current chunk
#else
#include "subgroup_sum.glsl"
float sg_sum(float x) { return subgroup_xor_sum(x, SG); } // SG a power of two (the launcher checks)

// Quad indices of positions j0 .. j0 + 3 of a row whose position 0 starts at quad `base`, `stride`
// quads apart; positions past len repeat the last one (j0 < len), their sums never kept.
ivec4 four_positions(int base, uint j0, uint len, int stride)
{
    uvec4 j = min(uvec4(j0) + uvec4(0, 1, 2, 3), uvec4(len - 1u));
    return base + ivec4(j) * stride;
}
#endif

void main()
{
    uint b = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (b >= p.batch)
        return; // uniform across the workgroup: no barrier is skipped by part of it
    uint len = min(src_len[p.off[3] + b], p.tx);
    uint nq = p.na >> 2, dq = p.dim >> 2;
    int wsq = int((p.off[0] >> 2) + b * nq);
#ifndef BACKWARD
    uint col = p.has_col != 0u ? min(src_col[p.off[7] + b], p.src_batch - 1u) : b, cols = p.src_batch;
#else
    uint col = b, cols = p.batch, t = gl_LocalInvocationID.x;
#endif
    // quad index of UH[0,col,0] and H[0,col,0]; one position further is +stride
    int uhq = int((p.off[1] >> 2) + col * nq), uh_stride = int(cols * nq);
    int hq0 = int((p.off[2] >> 2) + col * dq), h_stride = int(cols * dq);
#ifndef BACKWARD
    // One subgroup a row (the launcher makes the workgroup one subgroup): the lanes split each row
    // of UH and H by quads and meet by shuffles, with no barrier and no shared memory.
    uint lane = gl_SubgroupInvocationID;
    uint ab = p.off[5] + b * p.tx;
    int vq = int(p.off[4] >> 2);
    // Scores, 4 positions at a time: lane l sums v . tanh(Ws + UH_j) over quads l, l + SG, ...,
    // fetching Ws and v once for the 4 positions; the lanes' sums meet by shuffles. The score of
    // position j is kept in alpha by lane j % SG, which alone reads it back.
    float m = -3.402823e38;
    for (uint j0 = 0; j0 < len; j0 += 4) {
        ivec4 u = four_positions(uhq, j0, len, uh_stride);
        vec4 a0 = vec4(0.0), a1 = vec4(0.0), a2 = vec4(0.0), a3 = vec4(0.0);
        for (uint q = lane; q < nq; q += SG) {
            vec4 w = texelFetch(t_ws, wsq + int(q)), vv = texelFetch(t_v, vq + int(q));
            vec4 x0 = texelFetch(t_uh, u.x + int(q)), x1 = texelFetch(t_uh, u.y + int(q));
            vec4 x2 = texelFetch(t_uh, u.z + int(q)), x3 = texelFetch(t_uh, u.w + int(q));
            a0 += vv * vk_tanh(w + x0);
            a1 += vv * vk_tanh(w + x1);
            a2 += vv * vk_tanh(w + x2);
            a3 += vv * vk_tanh(w + x3);
        }
        vec4 e = vec4(sg_sum(hsum(a0)), sg_sum(hsum(a1)), sg_sum(hsum(a2)), sg_sum(hsum(a3)));
        [[unroll]] for (uint i = 0; i < 4; i++) {
            uint j = j0 + i;
            if (j < len) {
                if (lane == j % SG)
                    alpha[ab + j] = e[i];
                m = max(m, e[i]);
            }
        }
    }
    float s = 0.0;
    for (uint j = lane; j < len; j += SG)
        s += exp(alpha[ab + j] - m);
    s = sg_sum(s);
    float inv = len > 0 ? 1.0 / s : 0.0;
    for (uint j = lane; j < p.tx; j += SG)
        alpha[ab + j] = j < len ? exp(alpha[ab + j] - m) * inv : 0.0;

    // ctx = sum_j alpha_j H_j: lane l owns quads l and l + SG of each block of 2 SG quads of the
    // row; the weights reach the lanes by subgroupShuffle from one load of SG of them (lane l loads
    // position jb + l, its own), summed position by position from 0. Quads past dq repeat the last
    // one and are not stored (every lane takes part in the shuffles).
    uint cq = (p.off[6] >> 2) + b * dq, whole = len / SG * SG;
    for (uint d0 = 0; d0 < dq; d0 += 2 * SG) {
        int hq = hq0 + int(min(d0 + lane, dq - 1u)), hr = hq0 + int(min(d0 + SG + lane, dq - 1u));
        vec4 acc = vec4(0.0), acd = vec4(0.0);
        for (uint jb = 0; jb < whole; jb += SG) {
            float w = alpha[ab + jb + lane];
            [[unroll]] for (uint k = 0; k < SG; k += 2) {
                int o = int(jb + k) * h_stride;
                vec4 h0 = texelFetch(t_h, hq + o), g0 = texelFetch(t_h, hr + o);
                vec4 h1 = texelFetch(t_h, hq + o + h_stride), g1 = texelFetch(t_h, hr + o + h_stride);
                float w0 = subgroupShuffle(w, k), w1 = subgroupShuffle(w, k + 1u);
                acc += w0 * h0;
                acd += w0 * g0;
                acc += w1 * h1;
                acd += w1 * g1;
            }
        }
        float w = whole + lane < len ? alpha[ab + whole + lane] : 0.0;
        for (uint j = whole; j < len; j++) {
            int o = int(j) * h_stride;
            float wj = subgroupShuffle(w, j - whole);
            acc += wj * texelFetch(t_h, hq + o);
            acd += wj * texelFetch(t_h, hr + o);
        }
        if (d0 + lane < dq)
            ctx4[cq + d0 + lane] = acc;
        if (d0 + SG + lane < dq)
            ctx4[cq + d0 + SG + lane] = acd;
    }
#elif defined(BWD_DE)
    // One subgroup a row, as the forward: dalpha_j = dctx . H_j, 4 positions at a time, lane l
    // taking quads l, l + SG, ... (dctx fetched once for the 4), the lanes' sums meeting by
    // shuffles; lane j % SG parks dalpha_j in de and alone reads it back. Then c = sum_j alpha_j
    // dalpha_j, the softmax's correction term, and de_j = alpha_j (dalpha_j - c).
    uint lane = gl_SubgroupInvocationID;
    uint ab = p.off[4] + b * p.tx, eb = p.off[6] + b * p.tx;
    int gq = int((p.off[5] >> 2) + b * dq);
    for (uint j0 = 0; j0 < len; j0 += 4) {
        ivec4 o = four_positions(hq0, j0, len, h_stride);
        vec4 s0 = vec4(0.0), s1 = vec4(0.0), s2 = vec4(0.0), s3 = vec4(0.0);
        for (uint q = lane; q < dq; q += SG) {
            vec4 g = texelFetch(t_dctx, gq + int(q));
            vec4 h0 = texelFetch(t_h, o.x + int(q)), h1 = texelFetch(t_h, o.y + int(q));
            vec4 h2 = texelFetch(t_h, o.z + int(q)), h3 = texelFetch(t_h, o.w + int(q));
            s0 += g * h0;
            s1 += g * h1;
            s2 += g * h2;
            s3 += g * h3;
        }
        vec4 da = vec4(sg_sum(hsum(s0)), sg_sum(hsum(s1)), sg_sum(hsum(s2)), sg_sum(hsum(s3)));
        [[unroll]] for (uint i = 0; i < 4; i++)
            if (j0 + i < len && lane == (j0 + i) % SG)
                de[eb + j0 + i] = da[i];
    }
    float c = 0.0;
    for (uint j = lane; j < len; j += SG)
        c += alpha[ab + j] * de[eb + j];
    c = sg_sum(c);
    for (uint j = lane; j < p.tx; j += SG)
        de[eb + j] = j < len ? alpha[ab + j] * (de[eb + j] - c) : 0.0;
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
