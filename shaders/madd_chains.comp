#version 450
// The device's fp32 multiply-add rate as its compiler builds it: each invocation runs MADD_CHAINS
// independent chains x <- x * a + b for `iters` steps in registers (no memory traffic in the loop) and
// writes the sum of its chains: 2 * MADD_CHAINS * iters flops per invocation. A GPU compiler fuses
// each step into one FMA; lavapipe (Mesa 22.3) emits a multiply and an add, so this is the ceiling
// any of its kernels can reach (vknmt bench gemm prints it beside the GEMMs).
// Chain c of invocation i starts at x = (i % 1024) / 1024 + c / 32; with |a| < 1 the chains converge
// to b / (1 - a), so the result is well conditioned whether or not the steps are fused.
// MADD_CHAINS must match VKNMT_MADD_CHAINS in runtime/vknmt_runtime.h: 24 (in a lavapipe probe, 16
// chains ran at two thirds of the rate of 24-28, and 32 were no faster).
#extension GL_GOOGLE_include_directive : require
#extension GL_EXT_control_flow_attributes : require
#include "common.glsl"
layout(local_size_x_id = 0) in;

layout(std430, binding = 0) writeonly buffer Y { float y[]; };
layout(push_constant) uniform P {
    uint off_y, n, iters;
    float a, b;
} p;

const int QUADS = 6;  // MADD_CHAINS / 4

void main()
{
    // No early return: lavapipe would then select every step's result under the lanes' mask.
    uint i = vk_flat_index();
    float x0 = float(i & 1023u) * (1.0 / 1024.0);
    vec4 x[QUADS];
    [[unroll]] for (int q = 0; q < QUADS; q++)
        x[q] = vec4(x0) + vec4(float(4 * q), float(4 * q + 1), float(4 * q + 2), float(4 * q + 3)) * (1.0 / 32.0);
    // Eight steps unrolled per trip: lavapipe blends a loop's assignments under the lanes' loop mask
    // once per trip, and a blend a step would cost a third more instructions than the multiply-adds.
    uint t = 0u;
    for (; t + 8u <= p.iters; t += 8u) {
        [[unroll]] for (int u = 0; u < 8; u++)
            [[unroll]] for (int q = 0; q < QUADS; q++)
                x[q] = x[q] * p.a + p.b;
    }
    for (; t < p.iters; t++) {
        [[unroll]] for (int q = 0; q < QUADS; q++)
            x[q] = x[q] * p.a + p.b;
    }
    float s = 0.0;
    [[unroll]] for (int q = 0; q < QUADS; q++)
        s += (x[q].x + x[q].y) + (x[q].z + x[q].w);
    if (i < p.n)
        y[p.off_y + i] = s;
}
