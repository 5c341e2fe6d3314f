// Softmax statistics of a block of a row (softmax_blocks.comp, and gemm.comp's ROWSTATS epilogue,
// which must give the same bits): a block is 2L adjacent columns, lane l < L of it holding columns
// 2l and 2l + 1. Each lane's (m, s) = (max, sum of exp(x - m)) over its columns (those past the
// row take no part), then the lanes combine in a pairwise tree, lane l with lane l + step
// (step 1, 2, .. L/2), the lower one's value first: lane 0 ends with the block's.
#ifndef VKNMT_SOFTMAX_BLOCKS_GLSL
#define VKNMT_SOFTMAX_BLOCKS_GLSL

const float SB_NONE = -3.402823466e38;  // a column past the row: no maximum, no term

void sb_lane(float x0, bool v0, float x1, bool v1, out float m, out float s) {
  m = max(v0 ? x0 : SB_NONE, v1 ? x1 : SB_NONE);
  s = (v0 ? exp(x0 - m) : 0.0) + (v1 ? exp(x1 - m) : 0.0);
}

void sb_combine(float m1, float s1, float m2, float s2, out float m, out float s) {
  m = max(m1, m2);
  s = s1 * exp(m1 - m) + s2 * exp(m2 - m);
}

#endif
