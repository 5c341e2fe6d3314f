#version 450
// y[i] = value for i < n.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P { uint off_y; uint n; float value; } p;

void main()
{
    uint i = vk_flat_index();
    if (i < p.n)
        y[p.off_y + i] = p.value;
}
