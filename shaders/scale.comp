#version 450
// y[i] = alpha * y[i] for i < n.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) buffer Y { float y[]; };
layout(push_constant) uniform P { uint off_y; uint n; float alpha; } p;

void main()
{
    uint i = vk_flat_index();
    if (i < p.n)
        y[p.off_y + i] *= p.alpha;
}
