#version 450
// vknmt-variant: embed_gather_vec4 GATHER_VEC4
// Embedding lookup: out[i, d] = table[row(ids[i]), d] for i < n, d < dim,
// where row(id) = id for id in [0, vocab) and 1 (<unk>) otherwise.
// One invocation per output element; GATHER_VEC4: per quad of one (dim and
// the offsets of table and out count quads): on CPU devices a buffer load
// costs about the same for a vec4 as for a float.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
#ifdef GATHER_VEC4
#define VEC vec4
#else
#define VEC float
#endif
layout(std430, binding = 0) readonly buffer T { VEC table[]; };
layout(std430, binding = 1) readonly buffer I { int ids[]; };
layout(std430, binding = 2) writeonly buffer O { VEC outv[]; };
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
