#version 450
// vknmt-variant: gru_rows_b GRU_ROWS_B
// One forward step of the paper's GRU cell (gru_cell.comp's formulas) for a
// few rows (M <= MR: decoding one sentence), on CPU devices: each recurrent
// product is the few-rows GEMM of gemm_skinny.glsl with the cell's
// arithmetic as its epilogue, two dispatches instead of gru_cell.c's four.
// Every value is computed with the same operations in the same order as the
// GEMM + fwd_a + GEMM + fwd_b path (the products' sums in k order, then
// a + hu), so a sentence's states are the same bits alone as in a batch.
//   base        hu = h U[0:2n]^T, columns j < 2n:  g = sigma(a[j] + hu[j]) -> gates[j]
//               (r, then z); for j < n also rh[j] = r * h[j]
//   GRU_ROWS_B  hu = rh U[2n:3n]^T, columns j < n: h~ = tanh(a[2n + j] + hu[j]) -> gates[2n + j],
//               h_new[j] = live ? (1 - z) h + z h~ : h, z = gates[n + j]
// Bindings: 0 A (h, or rh) and 1 B (U's rows) as RGBA32F texel views; 2 a [M, 3n], 3 h [M, n],
// 4 gates [M, 3n], 5 out (rh, or h_new) [M, n], 6 lengths [M] (storage buffers). A row is masked
// when has_len != 0 and t >= lengths[row].
// Workgroup row y < 2 is one of two independent steps of the same shape (the encoder's two
// directions) in the same buffers: its offsets (elements) and t are at[y].
// Spec constants: 0 local_size_x (a multiple of SG), 3 MR, 4 SG (the subgroup size), 5 CN.
// Dispatch: groups_x = ceil(N / (local_size_x * CN)), N = 2n (base) or n; groups_y = the steps.
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;

struct Step {
  uint off_a, off_b;                          // the product's A and B (gemm_skinny.glsl)
  uint off_in, off_h, off_gates, off_out, t;  // the cell's tensors, and the time index
};
layout(push_constant, std430) uniform PC {
  uint M, N, K, lda, ldb, n, off_len, has_len;
  Step at[2];
} pc;

layout(std430, set = 0, binding = 2) readonly buffer In { float a_in[]; };
layout(std430, set = 0, binding = 3) readonly buffer H { float h_prev[]; };
#ifdef GRU_ROWS_B
layout(std430, set = 0, binding = 4) buffer G { float gates[]; };
#else
layout(std430, set = 0, binding = 4) writeonly buffer G { float gates[]; };
#endif
layout(std430, set = 0, binding = 5) writeonly buffer O { float outv[]; };
layout(std430, set = 0, binding = 6) readonly buffer L { uint lengths[]; };

layout(set = 0, binding = 0) uniform samplerBuffer tA;
layout(set = 0, binding = 1) uniform samplerBuffer tB;
#include "gemm_skinny.glsl"

void main() {
  uint local = gl_WorkGroupSize.x, n0 = gl_WorkGroupID.x * local * uint(CN) + gl_LocalInvocationID.x;
  Step st = pc.at[min(gl_WorkGroupID.y, 1u)];
  skinny_accumulate(tA, tB, n0, local, st.off_a, st.off_b, int(pc.K), pc.lda, pc.ldb);
  uint n = pc.n;
  UNR for (int m = 0; m < MR; m++) {
    if (m < int(pc.M)) {
      uint row3 = uint(m) * 3u * n, row = uint(m) * n;
#ifdef GRU_ROWS_B
      bool live = pc.has_len == 0u || st.t < lengths[pc.off_len + uint(m)];
#endif
      UNR for (int c = 0; c < CN; c++) {
        uint j = n0 + uint(c) * local;
        if (j < pc.N) {
#ifdef GRU_ROWS_B
          float hh = vk_tanh(a_in[st.off_in + row3 + 2u * n + j] + acc[c][m]);
          float z = gates[st.off_gates + row3 + n + j];
          float h = h_prev[st.off_h + row + j];
          gates[st.off_gates + row3 + 2u * n + j] = hh;
          outv[st.off_out + row + j] = live ? (1.0 - z) * h + z * hh : h;
#else
          float g = vk_sigmoid(a_in[st.off_in + row3 + j] + acc[c][m]);
          gates[st.off_gates + row3 + j] = g;
          if (j < n)
            outv[st.off_out + row + j] = g * h_prev[st.off_h + row + j];
#endif
        }
      }
    }
  }
}
