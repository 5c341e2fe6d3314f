#version 450
// Embedding lookup: out[i, d] = table[row(ids[i]), d] for i < n, d < dim,
// where row(id) = id for id in [0, vocab) and 1 (<unk>) otherwise.
// One invocation per output element.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer T { float table[]; };
layout(std430, binding = 1) readonly buffer I { int ids[]; };
layout(std430, binding = 2) writeonly buffer O { float outv[]; };
layout(push_constant) uniform P { uint off_table, off_ids, off_out, vocab, dim, n; } p;

void main()
{
    uint e = vk_flat_index();
    if (e >= p.n * p.dim)
        return;
    uint i = e / p.dim, d = e - i * p.dim;
    int id = ids[p.off_ids + i];
    uint row = (id >= 0 && uint(id) < p.vocab) ? uint(id) : 1u;
    outv[p.off_out + e] = table[p.off_table + row * p.dim + d];
}
