#version 450
// vknmt-variant: copy2d_vec4 COPY2D_VEC4
// y[r * ldy + c] = x[r * ldx + c] for r < rows, c < cols: moves a block
// between matrices of different row strides (concatenating or splitting
// feature columns). ldx = 0 repeats one row of x into every row of y.
// COPY2D_VEC4: a quad per invocation (offsets, cols and both strides count
// quads): on CPU devices a buffer load costs about the same for a vec4 as for
// a float.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
#ifdef COPY2D_VEC4
#define VEC vec4
#else
#define VEC float
#endif
layout(std430, binding = 0) readonly buffer X { VEC x[]; };
layout(std430, binding = 1) writeonly buffer Y { VEC y[]; };
layout(push_constant) uniform P { uint off_x, off_y, rows, cols, ldx, ldy; } p;

void main()
{
    uint i = vk_flat_index();
    if (i >= p.rows * p.cols)
        return;
    uint r = i / p.cols, c = i - r * p.cols;
    y[p.off_y + r * p.ldy + c] = x[p.off_x + r * p.ldx + c];
}
