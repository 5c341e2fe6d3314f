#version 450
// vknmt-variant: maxout_backward MAXOUT_BACKWARD
// Maxout over pairs (the deep output, spec "Deep output with maxout"):
//   forward:  t[r, k] = max(tt[r, 2k], tt[r, 2k+1])
//   backward: dtt[r, 2k] = tt[r, 2k] >= tt[r, 2k+1] ? dt[r, k] : 0, and the
//             other of the pair gets the rest (ties go to the first).
// One invocation per (r, k); idx = r * l + k, pair at 2 * idx.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer TT { float tt[]; };
#ifdef MAXOUT_BACKWARD
layout(std430, binding = 1) readonly buffer DT { float dt[]; };
layout(std430, binding = 2) writeonly buffer DTT { float dtt[]; };
layout(push_constant) uniform P { uint off_tt, off_dt, off_dtt, n; } p;
#else
layout(std430, binding = 1) writeonly buffer T { float t[]; };
layout(push_constant) uniform P { uint off_tt, off_t, n; } p;
#endif

void main()
{
    uint i = vk_flat_index();
    if (i >= p.n)
        return;
    float a = tt[p.off_tt + 2 * i], b = tt[p.off_tt + 2 * i + 1];
#ifdef MAXOUT_BACKWARD
    float g = dt[p.off_dt + i];
    bool first = a >= b;
    dtt[p.off_dtt + 2 * i] = first ? g : 0.0;
    dtt[p.off_dtt + 2 * i + 1] = first ? 0.0 : g;
#else
    t[p.off_t + i] = a >= b ? a : b;
#endif
}
