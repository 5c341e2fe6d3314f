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
  float x0[L], x1[L], m = SB_NONE, s[L];
  for (int l = 0; l < L; l++) {
    uint c = k * 2u * uint(L) + 2u * uint(l);
    x0[l] = 0.0;  // a column past the row is never read
    x1[l] = 0.0;
    if (c < p.cols) x0[l] = x[base + c];
    if (c + 1u < p.cols) x1[l] = x[base + c + 1u];
    m = max(m, sb_lane_max(x0[l], c < p.cols, x1[l], c + 1u < p.cols));
  }
  for (int l = 0; l < L; l++) {
    uint c = k * 2u * uint(L) + 2u * uint(l);
    s[l] = sb_lane_sum(x0[l], c < p.cols, x1[l], c + 1u < p.cols, m);
  }
  for (int step = 1; step < L; step *= 2)
    for (int l = 0; l < L; l += 2 * step)
      s[l] = s[l] + s[l + step];
  st[p.off_s + r * p.lds + 2u * k] = m;
  st[p.off_s + r * p.lds + 2u * k + 1u] = s[0];
}
