#version 450
// vknmt-variant: gru_rows_b GRU_ROWS_B
// vknmt-variant: gru_rows_proj GRU_PROJ
// vknmt-variant: gru_rows_b_proj GRU_ROWS_B GRU_PROJ
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
// GRU_PROJ (decoding, one step): the input projection of the step's columns is made here too,
// a = x W^T + add + bias (the few-rows GEMM sum's order: the product, then add, then the bias),
// instead of being read from binding 2: bindings 7 x and 8 W (texel views; W's rows 0..3n-1),
// 9 bias [3n], 10 add (rows ld_add apart), all [M, 3n]-wide in the cell's column order.
// With GIVEN (decoding from a table of every word's projection) binding 7 holds x W^T itself
// ([M, 3n], rows ldx apart, on quads): read, not computed; W is unused.
// PANEL: binding 1 holds this half's rows of U in the few-rows GEMM's panel layout (gemm_skinny.glsl;
// off_b its start, ldb n), and every invocation owns columns CN * j + c, as the panels lay them out.
// Spec constants: 0 local_size_x (a multiple of SG), 3 MR, 4 SG (the subgroup size), 5 CN, 6 GIVEN,
// 7 PANEL.
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
#ifdef GRU_PROJ
  uint kp, ldx, ldw, off_x, off_w, off_bias, off_add, ld_add;
#endif
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
#ifdef GRU_PROJ
layout(set = 0, binding = 7) uniform samplerBuffer tX;
layout(set = 0, binding = 8) uniform samplerBuffer tW;
layout(std430, set = 0, binding = 9) readonly buffer PB { float pbias[]; };
layout(std430, set = 0, binding = 10) readonly buffer PAdd { float padd[]; };
#endif
#include "gemm_skinny.glsl"
#ifdef GRU_PROJ
layout(constant_id = 6) const int GIVEN = 0;
#endif
layout(constant_id = 7) const int PANEL = 0;

#ifdef GRU_ROWS_B
const uint HALF = 2u;  // this half's columns start at 2n of the cell's 3n
#else
const uint HALF = 0u;
#endif

void main() {
  uint n0, cs;
  skinny_columns(gl_WorkGroupID.x, PANEL != 0, n0, cs);
  Step st = pc.at[min(gl_WorkGroupID.y, 1u)];
  uint n = pc.n;
  float av[CN][MR];  // the input projection of this invocation's columns
#ifdef GRU_PROJ
  if (GIVEN != 0) {
    UNR for (int c = 0; c < CN; c++) UNR for (int m = 0; m < MR; m++) {
      uint at = pc.off_x + uint(min(m, int(pc.M) - 1)) * pc.ldx + HALF * n + min(n0 + uint(c) * cs, pc.N - 1u);
      acc[c][m] = texelFetch(tX, int(at >> 2))[int(at & 3u)];
    }
  } else {
    skinny_accumulate(tX, tW, n0, cs, pc.N, pc.off_x, pc.off_w + HALF * n * pc.ldw, int(pc.kp), pc.ldx, pc.ldw, false);
  }
  UNR for (int c = 0; c < CN; c++) UNR for (int m = 0; m < MR; m++) {
    uint j = HALF * n + n0 + uint(c) * cs;
    av[c][m] = 1.0 * acc[c][m];
    if (m < int(pc.M) && n0 + uint(c) * cs < pc.N) {
      av[c][m] += 1.0 * padd[pc.off_add + uint(m) * pc.ld_add + j];
      av[c][m] += pbias[pc.off_bias + j];
    }
  }
#else
  UNR for (int c = 0; c < CN; c++) UNR for (int m = 0; m < MR; m++) {
    uint j = n0 + uint(c) * cs;
    av[c][m] = 0.0;
    if (m < int(pc.M) && j < pc.N) av[c][m] = a_in[st.off_in + uint(m) * 3u * n + HALF * n + j];
  }
#endif
  skinny_accumulate(tA, tB, n0, cs, pc.N, st.off_a, st.off_b, int(pc.K), pc.lda, pc.ldb, PANEL != 0);
  UNR for (int m = 0; m < MR; m++) {
    if (m < int(pc.M)) {
      uint row3 = uint(m) * 3u * n, row = uint(m) * n;
#ifdef GRU_ROWS_B
      bool live = pc.has_len == 0u || st.t < lengths[pc.off_len + uint(m)];
#endif
      UNR for (int c = 0; c < CN; c++) {
        uint j = n0 + uint(c) * cs;
        if (j < pc.N) {
#ifdef GRU_ROWS_B
          float hh = vk_tanh(av[c][m] + acc[c][m]);
          float z = gates[st.off_gates + row3 + n + j];
          float h = h_prev[st.off_h + row + j];
          gates[st.off_gates + row3 + 2u * n + j] = hh;
          outv[st.off_out + row + j] = live ? (1.0 - z) * h + z * hh : h;
#else
          float g = vk_sigmoid(av[c][m] + acc[c][m]);
          gates[st.off_gates + row3 + j] = g;
          if (j < n)
            outv[st.off_out + row + j] = g * h_prev[st.off_h + row + j];
#endif
        }
      }
    }
  }
}
