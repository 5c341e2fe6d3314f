#version 450
// Softmax statistics of row blocks: for row r < rows of x and block k < nblk = ceil(cols / 2L),
// st[r * lds + 2k] = the maximum m of the block's columns k * 2L .. k * 2L + 2L - 1 (those < cols)
// and st[r * lds + 2k + 1] = the sum of their exp(x - m), computed as softmax_blocks.glsl lays
// out, the same bits as a GEMM's ROWSTATS epilogue with subgroups of L lanes. One invocation
// per (row, block). A row's log-sum-exp is then M + log(sum_k s_k exp(m_k - M)), M = max_k m_k,
// and the block maxima bound where its largest values lie.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
#include "softmax_blocks.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 1) const int L = 8;  // lanes of a block: a power of two, <= 64
layout(std430, binding = 0) readonly buffer X { float x[]; };
layout(std430, binding = 1) writeonly buffer S { float st[]; };
layout(push_constant) uniform P { uint off_x, ldx, off_s, lds, rows, cols, nblk; } p;

void main() {
  uint id = vk_flat_index();
  if (id >= p.rows * p.nblk)
    return;
  uint r = id / p.nblk, k = id - r * p.nblk, base = p.off_x + r * p.ldx;
  float m[L], s[L];
  for (int l = 0; l < L; l++) {
    uint c = k * 2u * uint(L) + 2u * uint(l);
    bool v0 = c < p.cols, v1 = c + 1u < p.cols;
    float x0 = 0.0, x1 = 0.0;  // a column past the row is never read
    if (v0) x0 = x[base + c];
    if (v1) x1 = x[base + c + 1u];
    sb_lane(x0, v0, x1, v1, m[l], s[l]);
  }
  for (int step = 1; step < L; step *= 2)
    for (int l = 0; l < L; l += 2 * step)
      sb_combine(m[l], s[l], m[l + step], s[l + step], m[l], s[l]);
  st[p.off_s + r * p.lds + 2u * k] = m[0];
  st[p.off_s + r * p.lds + 2u * k + 1u] = s[0];
}
