#version 450
// vknmt-variant: embed_gather_vec4 GATHER_VEC4
// vknmt-variant: embed_gather2_vec4 GATHER_VEC4 GATHER2
// Embedding lookup: out[i, d] = table[row(ids[i]), d] for i < n, d < dim,
// where row(id) = id for id in [0, vocab) and 1 (<unk>) otherwise.
// One invocation per output element; GATHER_VEC4: per quad of one (dim and
// the offsets of table and out count quads): on CPU devices a buffer load
// costs about the same for a vec4 as for a float. GATHER2: two lookups in
// one dispatch (a decoding step's state reorder and word embeddings): the
// first n * dim elements from bindings 0-2 and push p, then the second's
// from bindings 3-5 and q.
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
struct Lookup { uint off_table, off_ids, off_out, vocab, dim, n; };
#ifdef GATHER2
layout(std430, binding = 3) readonly buffer T2 { VEC table2[]; };
layout(std430, binding = 4) readonly buffer I2 { int ids2[]; };
layout(std430, binding = 5) writeonly buffer O2 { VEC outv2[]; };
layout(push_constant) uniform P { Lookup p, q; };
#else
layout(push_constant) uniform P { Lookup p; };
#endif

uint row_of(int id, uint vocab) { return (id >= 0 && uint(id) < vocab) ? uint(id) : 1u; }

void main()
{
    uint e = vk_flat_index();
#ifdef GATHER2
    if (e >= p.n * p.dim) {
        e -= p.n * p.dim;
        if (e >= q.n * q.dim)
            return;
        uint i = e / q.dim, d = e - i * q.dim;
        outv2[q.off_out + e] = table2[q.off_table + row_of(ids2[q.off_ids + i], q.vocab) * q.dim + d];
        return;
    }
#else
    if (e >= p.n * p.dim)
        return;
#endif
    uint i = e / p.dim, d = e - i * p.dim;
    outv[p.off_out + e] = table[p.off_table + row_of(ids[p.off_ids + i], p.vocab) * p.dim + d];
}
