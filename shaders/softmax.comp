#version 450
// Row softmax with an optional length mask: one workgroup per row.
// Row r uses columns [0, len) with len = has_len ? min(lengths[r], cols) : cols
// and writes 0 to columns [len, cols). Reductions run in a fixed tree order,
// so results are bitwise reproducible. x and y may be the same memory.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in; // power of two, <= 1024
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { float y[]; };
layout(std430, binding = 2) readonly buffer L { uint lengths[]; };
layout(push_constant) uniform P {
    uint off_x, off_y, off_len, rows, cols, has_len;
} p;

shared float red[gl_WorkGroupSize.x];

float tree_max(float v)
{
    uint t = gl_LocalInvocationID.x;
    red[t] = v;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2; s > 0; s >>= 1) {
        if (t < s)
            red[t] = max(red[t], red[t + s]);
        barrier();
    }
    float r = red[0];
    barrier();
    return r;
}

float tree_sum(float v)
{
    uint t = gl_LocalInvocationID.x;
    red[t] = v;
    barrier();
    for (uint s = gl_WorkGroupSize.x / 2; s > 0; s >>= 1) {
        if (t < s)
            red[t] += red[t + s];
        barrier();
    }
    float r = red[0];
    barrier();
    return r;
}

void main()
{
    uint row = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (row >= p.rows)
        return; // uniform across the workgroup: no barrier is skipped by part of it
    uint t = gl_LocalInvocationID.x;
    uint len = p.has_len != 0 ? min(lengths[p.off_len + row], p.cols) : p.cols;
    uint xb = p.off_x + row * p.cols, yb = p.off_y + row * p.cols;

    float m = -3.402823e38;
    for (uint c = t; c < len; c += gl_WorkGroupSize.x)
        m = max(m, x[xb + c]);
    m = tree_max(m);

    float s = 0.0;
    for (uint c = t; c < len; c += gl_WorkGroupSize.x)
        s += exp(x[xb + c] - m);
    s = tree_sum(s);

    float inv = len > 0 ? 1.0 / s : 0.0;
    // Read everything before writing: y may alias x.
    for (uint c = t; c < p.cols; c += gl_WorkGroupSize.x) {
        float v = c < len ? exp(x[xb + c] - m) * inv : 0.0;
        y[yb + c] = v;
    }
}
