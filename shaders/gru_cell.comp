#version 450
// vknmt-variant: gru_fwd_b GRU_FWD_B
// vknmt-variant: gru_bwd_a GRU_BWD_A
// vknmt-variant: gru_bwd_b GRU_BWD_B
// vknmt-variant: gru_fwd_a_vec4 GRU_VEC4
// vknmt-variant: gru_fwd_b_vec4 GRU_FWD_B GRU_VEC4
// vknmt-variant: gru_bwd_a_vec4 GRU_BWD_A GRU_VEC4
// vknmt-variant: gru_bwd_b_vec4 GRU_BWD_B GRU_VEC4
// vknmt-variant: gru_fwd_a_texel GRU_VEC4 GRU_TEXEL
// vknmt-variant: gru_fwd_b_texel GRU_FWD_B GRU_VEC4 GRU_TEXEL
// vknmt-variant: gru_bwd_a_texel GRU_BWD_A GRU_VEC4 GRU_TEXEL
// vknmt-variant: gru_bwd_b_texel GRU_BWD_B GRU_VEC4 GRU_TEXEL
// The elementwise halves of the paper's GRU cell (spec/rnnsearch.md; reset
// applied before the recurrent product) around the recurrent GEMMs, for one
// time step of B rows of n units; model/gru_cell.h defines each variant.
// One invocation per (row b, unit j); gate order r, z, h~ along [B, 3n].
// A row is masked (h' = h) when has_len != 0 and t >= lengths[b].
// GRU_VEC4: one invocation per quad of units (n, the offsets and j count
// quads; every tensor starts on a quad): on CPU devices a buffer load costs
// about the same for a vec4 as for a float.
// GRU_TEXEL (with GRU_VEC4, CPU devices): bindings 0 and 1, read-only in every
// variant, come through RGBA32F uniform texel views: a fetch instead of a
// storage-buffer load's loop over the lanes (shared/notes/lavapipe-kernels.md).
//
//   base       (fwd_a): 0 a, 1 hu_rz [B,2n], 2 h, 3 gates (writes r, z), 4 rh
//   GRU_FWD_B  (fwd_b): 0 a, 1 hu_h [B,n], 2 gates (reads z, writes h~), 3 h, 4 h_new
//   GRU_BWD_A  (bwd_a): 0 dh_new, 1 gates, 2 h, 3 da (writes z, h~ parts), 4 dh (=)
//   GRU_BWD_B  (bwd_b): 0 d_rh, 1 gates, 2 h, 3 da (writes r part), 4 dh (+=)
// Every element is read and written by its own invocation only, so no
// ordering between invocations matters and results are deterministic.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
#ifdef GRU_VEC4
#define VEC vec4
#else
#define VEC float
#endif
#ifdef GRU_TEXEL
layout(binding = 0) uniform samplerBuffer t0;
layout(binding = 1) uniform samplerBuffer t1;
#define B0(i) texelFetch(t0, int(i))
#define B1(i) texelFetch(t1, int(i))
#else
layout(std430, binding = 0) readonly buffer B0 { VEC b0[]; };
layout(std430, binding = 1) readonly buffer B1 { VEC b1[]; };
#define B0(i) b0[i]
#define B1(i) b1[i]
#endif
layout(std430, binding = 2) buffer B2 { VEC b2[]; };
layout(std430, binding = 3) buffer B3 { VEC b3[]; };
layout(std430, binding = 4) buffer B4 { VEC b4[]; };
layout(std430, binding = 5) readonly buffer L { uint lengths[]; };
layout(push_constant) uniform P {
    uint off0, off1, off2, off3, off4, off_len, batch, n, t, has_len;
} p;

void main()
{
    uint i = vk_flat_index(); // b * n + j: the index into [B, n] arrays
    if (i >= p.batch * p.n)
        return;
    uint n = p.n, b = i / n, j = i - b * n;
    uint g = b * 3u * n + j; // the r column j of row b in [B, 3n] arrays
    bool live = p.has_len == 0u || p.t < lengths[p.off_len + b];
#if defined(GRU_FWD_B)
    VEC hh = vk_tanh(B0(p.off0 + g + 2u * n) + B1(p.off1 + i));
    VEC z = b2[p.off2 + g + n];
    VEC h = b3[p.off3 + i];
    b2[p.off2 + g + 2u * n] = hh;
    b4[p.off4 + i] = live ? (1.0 - z) * h + z * hh : h;
#elif defined(GRU_BWD_A)
    VEC dhn = B0(p.off0 + i);
    VEC z = B1(p.off1 + g + n), hh = B1(p.off1 + g + 2u * n);
    VEC h = b2[p.off2 + i];
    VEC da_z = VEC(0.0), da_h = VEC(0.0), dh = dhn;
    if (live) {
        da_z = dhn * (hh - h) * z * (1.0 - z);
        da_h = dhn * z * (1.0 - hh * hh);
        dh = dhn * (1.0 - z);
    }
    b3[p.off3 + g + n] = da_z;
    b3[p.off3 + g + 2u * n] = da_h;
    b4[p.off4 + i] = dh;
#elif defined(GRU_BWD_B)
    VEC da_r = VEC(0.0);
    if (live) {
        VEC drh = B0(p.off0 + i);
        VEC r = B1(p.off1 + g);
        da_r = drh * b2[p.off2 + i] * r * (1.0 - r);
        b4[p.off4 + i] += drh * r;
    }
    b3[p.off3 + g] = da_r;
#else
    uint u = b * 2u * n + j; // column j of row b in hu_rz [B, 2n]
    VEC r = vk_sigmoid(B0(p.off0 + g) + B1(p.off1 + u));
    VEC z = vk_sigmoid(B0(p.off0 + g + n) + B1(p.off1 + u + n));
    b3[p.off3 + g] = r;
    b3[p.off3 + g + n] = z;
    b4[p.off4 + i] = r * b2[p.off2 + i];
#endif
}
