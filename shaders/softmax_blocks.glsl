// Softmax statistics of a block of a row (softmax_blocks.comp, and gemm.comp's ROWSTATS epilogue,
// which must give the same bits): a block is 2L adjacent columns, lane l < L of it holding columns
// 2l and 2l + 1 (those past the row take no part). The block's maximum m is exact in any order;
// lane l's part of the sum is exp(x_2l - m) + exp(x_2l+1 - m), and the parts add in a pairwise
// tree, lane l with lane l + step (step 1, 2, .. L/2), the lower one first: lane 0 ends with the
// block's sum of exp(x - m).
#ifndef VKNMT_SOFTMAX_BLOCKS_GLSL
#define VKNMT_SOFTMAX_BLOCKS_GLSL

const float SB_NONE = -3.402823466e38;  // a column past the row: no maximum, no term

float sb_lane_max(float x0, bool v0, float x1, bool v1) { return max(v0 ? x0 : SB_NONE, v1 ? x1 : SB_NONE); }

float sb_lane_sum(float x0, bool v0, float x1, bool v1, float m) {
  return (v0 ? exp(x0 - m) : 0.0) + (v1 ? exp(x1 - m) : 0.0);
}

#endif
