#version 450
// vknmt-variant: dropout_mask DROPOUT_MASK
// Inverted dropout (training only): element (r, c) of a rows x cols window
// of x (row stride ld) is kept with probability 1 - P and then scaled by
// 1 / (1 - P), or zeroed. Whether it is kept is a pure function of
// (seed, step, salt, mask index), mask index = r * mask_ld + mask_col0 + c,
// so the backward pass recomputes the same mask instead of storing it, a
// resumed run draws the same masks, and the readout input of the linear
// readout, kept in three tensors, is masked as one [s; c; E y] vector.
// The hash (a counter-based generator: five rounds of Wellons' "lowbias32"
// integer mixer) is written out in C in model/dropout.h; tests check one
// against the other bit for bit.
// Default variant: x[...] *= mask. DROPOUT_MASK: x[...] = mask (tests).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
#ifdef DROPOUT_MASK
layout(std430, binding = 0) writeonly buffer X { float x[]; };
#else
layout(std430, binding = 0) buffer X { float x[]; };
#endif
layout(push_constant) uniform P {
    uint off_x, n, cols, ld, mask_ld, mask_col0;
    uint seed, step, salt, threshold; // kept iff (hash >> 8) >= threshold
    float scale;
} p;

uint mix32(uint v)
{
    v ^= v >> 16;
    v *= 0x7feb352du;
    v ^= v >> 15;
    v *= 0x846ca68bu;
    v ^= v >> 16;
    return v;
}

void main()
{
    uint i = vk_flat_index();
    if (i >= p.n)
        return;
    uint r = i / p.cols, c = i - r * p.cols;
    uint h = mix32(p.seed ^ 0x9e3779b9u);
    h = mix32(h ^ p.step);
    h = mix32(h ^ p.salt);
    h = mix32(h ^ (r * p.mask_ld + p.mask_col0 + c));
    h = mix32(h + 0x6a09e667u);
    float m = (h >> 8) >= p.threshold ? p.scale : 0.0;
    uint at = p.off_x + r * p.ld + c;
#ifdef DROPOUT_MASK
    x[at] = m;
#else
    x[at] *= m;
#endif
}
