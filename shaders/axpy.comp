#version 450
// vknmt-variant: axpy_vec4 AXPY_VEC4
// y[i] = alpha * x[i] + y[i] for i < n.
// AXPY_VEC4: a quad per invocation (offsets and n count quads; both operands
// start on a quad): on CPU devices a buffer load costs about the same for a
// vec4 as for a float. The same operation per element, so the same bits.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
#ifdef AXPY_VEC4
#define VEC vec4
#else
#define VEC float
#endif
layout(std430, binding = 0) readonly buffer X { VEC x[]; };
layout(std430, binding = 1) buffer Y { VEC y[]; };
layout(push_constant) uniform P { uint off_x; uint off_y; uint n; float alpha; } p;

void main()
{
    uint i = vk_flat_index();
    if (i < p.n)
        y[p.off_y + i] += p.alpha * x[p.off_x + i];
}
