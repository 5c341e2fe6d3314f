#version 450
// y[i] = alpha * x[i] + y[i] for i < n.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) buffer Y { float y[]; };
layout(push_constant) uniform P { uint off_x; uint off_y; uint n; float alpha; } p;

void main()
{
    uint i = vk_flat_index();
    if (i < p.n)
        y[p.off_y + i] += p.alpha * x[p.off_x + i];
}
