#version 450
// Deterministic embedding gradient from a CSR built on the host:
//   dtable[uniq[u], d] += sum over p in [starts[u], starts[u+1]) of dout[order[p], d]
// summed in increasing p. The uniq ids are distinct, so every dtable element
// has exactly one writer: no atomics, the same batch gives the same bits.
// One invocation per (u, d). A uniq id outside [0, vocab) is skipped, and so
// is a position outside the bound dout rows / order entries.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer DO { float dout[]; };
layout(std430, binding = 1) readonly buffer OR { int order[]; };
layout(std430, binding = 2) readonly buffer ST { int starts[]; };
layout(std430, binding = 3) readonly buffer UQ { int uniq[]; };
layout(std430, binding = 4) buffer DT { float dtable[]; };
layout(push_constant) uniform P {
    uint off_dout, off_order, off_starts, off_uniq, off_dtable;
    uint dim, n_uniq, vocab, dout_rows, order_len;
} p;

void main()
{
    uint e = vk_flat_index();
    if (e >= p.n_uniq * p.dim)
        return;
    uint u = e / p.dim, d = e - u * p.dim;
    int id = uniq[p.off_uniq + u];
    if (id < 0 || uint(id) >= p.vocab)
        return;
    int b = max(starts[p.off_starts + u], 0), end = min(starts[p.off_starts + u + 1], int(p.order_len));
    float acc = 0.0;
    for (int q = b; q < end; q++) {
        int pos = order[p.off_order + uint(q)];
        if (pos >= 0 && uint(pos) < p.dout_rows)
            acc += dout[p.off_dout + uint(pos) * p.dim + d];
    }
    dtable[p.off_dtable + uint(id) * p.dim + d] += acc;
}
