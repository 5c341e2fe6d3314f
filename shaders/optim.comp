#version 450
// vknmt-variant: optim_adam OPTIM_ADAM
// vknmt-variant: optim_vec4 OPTIM_VEC4
// vknmt-variant: optim_adam_vec4 OPTIM_ADAM OPTIM_VEC4
// One optimiser update over a window of a flat parameter buffer, with
// global-norm clipping decided here from the norm on the device (the host
// never reads the gradient): g <- g * clip / norm when norm > clip (clip > 0).
// A non-finite norm (a NaN/Inf gradient) leaves params and state untouched;
// the first invocation of the dispatch that has count_skip set (the first
// window's) adds 1 to `skipped`: one writer, no atomics.
// Default variant, Adadelta (spec "Objective and training", lr 1):
//   E[g2] = rho E[g2] + (1-rho) g^2; d = -sqrt(E[d2]+eps)/sqrt(E[g2]+eps) g;
//   E[d2] = rho E[d2] + (1-rho) d^2; x += d.        state1 = E[g2], state2 = E[d2]
// OPTIM_ADAM: m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
//   x -= lr (m / bc1) / (sqrt(v / bc2) + eps), bc = 1 - b^step (from the host).
// OPTIM_VEC4: each invocation updates a quad (offsets and n count quads), the
// same operations per element: on CPU devices a buffer load costs about the
// same for a vec4 as for a float.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
#ifdef OPTIM_VEC4
#define VEC vec4
#else
#define VEC float
#endif
layout(std430, binding = 0) buffer X { VEC x[]; };
layout(std430, binding = 1) readonly buffer G { VEC g[]; };
layout(std430, binding = 2) buffer S1 { VEC s1[]; };
layout(std430, binding = 3) buffer S2 { VEC s2[]; };
layout(std430, binding = 4) readonly buffer NM { float norm[]; };
layout(std430, binding = 5) buffer SK { float skipped[]; };
layout(push_constant) uniform P {
    uint off_x, off_g, off_s1, off_s2, off_norm, off_skip, n, count_skip;
    float clip, rho, eps, lr, beta1, beta2, bc1, bc2;
} p;

void main()
{
    uint i = vk_flat_index();
    float nrm = norm[p.off_norm];
    // Exponent all ones: Inf or NaN. Tested on the bits, which no
    // fast-math rewrite of isnan/isinf can drop.
    if ((floatBitsToUint(nrm) & 0x7f800000u) == 0x7f800000u) {
        if (i == 0 && p.count_skip != 0)
            skipped[p.off_skip] += 1.0;
        return;
    }
    if (i >= p.n)
        return;
    float scale = (p.clip > 0.0 && nrm > p.clip) ? p.clip / nrm : 1.0;
    VEC gi = g[p.off_g + i] * scale;
    VEC a = s1[p.off_s1 + i], b = s2[p.off_s2 + i];
#ifdef OPTIM_ADAM
    a = p.beta1 * a + (1.0 - p.beta1) * gi;
    b = p.beta2 * b + (1.0 - p.beta2) * gi * gi;
    x[p.off_x + i] -= p.lr * (a / p.bc1) / (sqrt(b / p.bc2) + p.eps);
#else
    a = p.rho * a + (1.0 - p.rho) * gi * gi;
    VEC d = -sqrt(b + p.eps) / sqrt(a + p.eps) * gi;
    b = p.rho * b + (1.0 - p.rho) * d * d;
    x[p.off_x + i] += d;
#endif
    s1[p.off_s1 + i] = a;
    s2[p.off_s2 + i] = b;
}
