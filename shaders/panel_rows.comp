#version 450
// The few-rows GEMM's panel layout of B [n, k] (x W^T's W; runtime/ops_panel.c): rows in panels of
// P = CN * SG, each panel stored quad of k by quad of k, the P texels of quad q in the order in which
// the kernel's lanes own them: lane l's column c is the panel's row CN * l + c, at slot c * SG + l.
// Elements past k in a row's last quad, and rows past n in the last panel, are zeros.
// One invocation per texel of the panels (a once-per-parameters copy).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer Y { vec4 y[]; };
// off_y and texels count quads; kq = k's quads
layout(push_constant) uniform P { uint off_x, off_y, n, k, ldx, kq, rows_per_panel, cn, texels; } p;

void main()
{
    uint t = vk_flat_index();
    if (t >= p.texels)
        return;
    uint per_panel = p.rows_per_panel * p.kq;
    uint panel = t / per_panel, rem = t - panel * per_panel;
    uint q = rem / p.rows_per_panel, slot = rem - q * p.rows_per_panel;
    uint sg = p.rows_per_panel / p.cn, c = slot / sg, lane = slot - c * sg;
    uint row = panel * p.rows_per_panel + p.cn * lane + c, at = p.off_x + row * p.ldx + 4u * q;
    vec4 v = vec4(0.0);
    if (row < p.n)
        for (uint e = 0u; e < 4u; e++)
            if (4u * q + e < p.k)
                v[e] = x[at + e];
    y[p.off_y + t] = v;
}
