#version 450
// dx[i] = dy[i] * (1 - y[i]^2) for i < n, where y = tanh(x).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer Y { float y[]; };
layout(std430, binding = 1) readonly buffer DY { float dy[]; };
layout(std430, binding = 2) writeonly buffer DX { float dx[]; };
layout(push_constant) uniform P { uint off_y, off_dy, off_dx, n; } p;

void main()
{
    uint i = vk_flat_index();
    if (i >= p.n)
        return;
    float v = y[p.off_y + i];
    // (1 - v)(1 + v): no cancellation in 1 - v^2 where |v| is near 1
    dx[p.off_dx + i] = dy[p.off_dy + i] * ((1.0 - v) * (1.0 + v));
}
