#version 450
// vknmt-variant: encdec_context_bwd BACKWARD
// RNNencdec's fixed context (spec/rnnsearch.md, "RNNencdec baseline"):
//   ctx[b] = [fwd state at j = len-1 ; bwd state at j = 0]
//          = [H[len-1, b, 0:n] ; H[0, b, n:2n]],   len = clamp(src_len[b], 1, Tx)
// BACKWARD adds dctx back into those places of dH. One invocation per element
// of ctx [B, 2n]: every one reads or updates a different element.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
#ifndef BACKWARD
layout(std430, binding = 0) readonly buffer HB { float h[]; };
layout(std430, binding = 1) readonly buffer L { uint src_len[]; };
layout(std430, binding = 2) writeonly buffer C { float ctx[]; };
#else
layout(std430, binding = 0) readonly buffer DC { float dctx[]; };
layout(std430, binding = 1) readonly buffer L { uint src_len[]; };
layout(std430, binding = 2) buffer DH { float dh[]; };
#endif
layout(push_constant) uniform P { uint off0, off_len, off2, batch, tx, n; } p;

void main()
{
    uint i = vk_flat_index();
    uint dim = 2 * p.n;
    if (i >= p.batch * dim)
        return;
    uint b = i / dim, d = i % dim;
    uint len = clamp(src_len[p.off_len + b], 1u, p.tx);
    uint j = d < p.n ? len - 1 : 0;
    uint hi = (j * p.batch + b) * dim + d;
#ifndef BACKWARD
    ctx[p.off2 + i] = h[p.off0 + hi];
#else
    dh[p.off2 + hi] += dctx[p.off0 + i];
#endif
}
