#version 450
// vknmt-variant: reduce_sumsq SQUARE
// Deterministic sum (or, with -DSQUARE, sum of squares): workgroup g reduces
// x[g*chunk, min(n, (g+1)*chunk)) in a fixed order into out[g]; a second
// dispatch of one workgroup over the partials finishes, taking the square
// root when sqrt_out is set. No float atomics: same input, same bits.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in; // power of two, <= 1024
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer O { float outv[]; };
layout(push_constant) uniform P { uint off_x, off_out, n, chunk, sqrt_out; } p;

shared float red[gl_WorkGroupSize.x];

void main()
{
    uint g = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    uint t = gl_LocalInvocationID.x;
    uint begin = g * p.chunk;
    uint end = min(p.n, begin + p.chunk);
    float acc = 0.0;
    for (uint i = begin + t; i < end; i += gl_WorkGroupSize.x) {
        float v = x[p.off_x + i];
#ifdef SQUARE
        acc += v * v;
#else
        acc += v;
#endif
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
