#version 450
// vknmt-variant: reduce_sumsq SQUARE
// vknmt-variant: reduce_lanes LANES
// vknmt-variant: reduce_sumsq_lanes SQUARE LANES
// Deterministic sum (or, with -DSQUARE, sum of squares): workgroup g reduces
// x[g*chunk, min(n, (g+1)*chunk)) in a fixed order into out[g]; a second
// dispatch of one workgroup over the partials finishes, taking the square
// root when sqrt_out is set. No float atomics: same input, same bits.
// LANES (CPU devices, the workgroup one subgroup): lane t sums the quads t,
// t + SG, .. of its chunk as vec4 (off_x on a quad, chunk a multiple of 4 SG),
// then the floats after the last whole quad, and the lanes' sums meet by
// subgroupShuffleXor in a fixed tree: no shared memory and no barrier, each a
// loop over the lanes or a coroutine switch on lavapipe.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in; // power of two, <= 1024
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer O { float outv[]; };
layout(push_constant) uniform P { uint off_x, off_out, n, chunk, sqrt_out; } p;

#ifdef SQUARE
#define TERM(v) ((v) * (v))
#else
#define TERM(v) (v)
#endif

#ifdef LANES
#extension GL_KHR_shader_subgroup_shuffle : require
#include "subgroup_sum.glsl"
layout(std430, binding = 0) readonly buffer X4 { vec4 x4[]; };

void main()
{
    uint g = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    uint t = gl_LocalInvocationID.x, SG = gl_WorkGroupSize.x;
    uint begin = g * p.chunk;
    uint end = min(p.n, begin + p.chunk), qend = end / 4u;
    vec4 acc = vec4(0.0);
    for (uint q = begin / 4u + t; q < qend; q += SG)
        acc += TERM(x4[p.off_x / 4u + q]);
    float s = (acc.x + acc.y) + (acc.z + acc.w);
    if (4u * qend + t < end)
        s += TERM(x[p.off_x + 4u * qend + t]);
    s = subgroup_xor_sum(s, SG);
    if (t == 0u)
        outv[p.off_out + g] = p.sqrt_out != 0u ? sqrt(s) : s;
}
#else
shared float red[gl_WorkGroupSize.x];

void main()
{
    uint g = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    uint t = gl_LocalInvocationID.x;
    uint begin = g * p.chunk;
    uint end = min(p.n, begin + p.chunk);
    float acc = 0.0;
    for (uint i = begin + t; i < end; i += gl_WorkGroupSize.x) {
        acc += TERM(x[p.off_x + i]);
    }
    red[t] = acc;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2; s > 0; s >>= 1) {
        if (t < s)
            red[t] += red[t + s];
        barrier();
    }
    if (t == 0)
        outv[p.off_out + g] = p.sqrt_out != 0 ? sqrt(red[0]) : red[0];
}
#endif
