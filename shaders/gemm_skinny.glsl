// x W^T for a few rows (M <= MR): the accumulation of the CPU-class few-rows GEMM (gemm.comp's
// GEMM_TEXEL_SKINNY, and gru_rows.comp with the GRU cell as its epilogue). The includer declares
// `layout(local_size_x_id = 0) in;` first, and a push-constant block `pc` with uint M (the rows).
// skinny_accumulate(A, B, n0, cstride, ncols, off_a, off_b, K, lda, ldb, panel), A [M, K] and B [ncols, K]
// RGBA32F texel views (offsets and leading dimensions in elements, on quads), leaves in acc[c][m] the sum
// over k of A[m, k] * B[n0 + c * cstride, k], scalar, in k order: bit for bit what the tiled
// kernel computes, so a sentence decodes the same alone as inside a batch.
// An includer may define SKINNY_FETCH_A(t, q) (A's quad q, e.g. from shared memory: tA is then unused).
// panel (a constant): B in panels of CN * SG rows (shaders/panel_rows.comp; ldb is then K on quads), quad
// q of a panel's row CN * l + c at texel P * q + c * SG + l: a subgroup whose lane l owns columns
// CN * l + c of a panel (cstride 1) fetches 8 adjacent texels where rows would be 8 rows apart.

#ifndef VKNMT_GEMM_SKINNY_GLSL
#define VKNMT_GEMM_SKINNY_GLSL
#ifndef SKINNY_FETCH_A
#define SKINNY_FETCH_A(t, q) texelFetch(t, q)
#endif
#extension GL_EXT_control_flow_attributes : enable
#ifndef UNR
#define UNR [[unroll]]
#endif
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
layout(constant_id = 3) const int MR = 4;
layout(constant_id = 4) const int SG = 8;
layout(constant_id = 5) const int CN = 2;

// A texel fetch costs the same for 8 different addresses as for one, and its call clobbers every
// vector register. Per block of SG quads of k, lane l fetches quad l of each row of A (MR fetches for
// SG * MR quads) and subgroupShuffle hands quad j to every lane; each invocation owns CN columns, so
// one A quad serves CN * 4 multiply-adds per row. The B quads of QB k-quads are fetched before their
// multiply-adds. Outside whole blocks (K % (4 * SG) != 0), lane l fetches a quad of row l instead.
const int AF = (MR + SG - 1) / SG;
const int QB = 4;
float acc[CN][MR];
int bq[CN];    // quad index of the start of each column's row of B
int arow[MR];  // ... of row m of A
int aq[AF];    // ... of this lane's rows of A: f * SG + lane

void madd(int c, int m, vec4 am, vec4 b) {
  UNR for (int kk = 0; kk < 4; kk++) acc[c][m] += am[kk] * b[kk];
}

// A whole block of SG quads starting at quad q0.
void kblock_whole(samplerBuffer tA, samplerBuffer tB, int q0, int qs) {
  vec4 ar[MR];
  int lane = int(gl_SubgroupInvocationID);
  UNR for (int m = 0; m < MR; m++) ar[m] = SKINNY_FETCH_A(tA, arow[m] + q0 + lane);
  UNR for (int j0 = 0; j0 < SG; j0 += QB) {
    vec4 b[QB][CN];
    UNR for (int j = 0; j < QB; j++) UNR for (int c = 0; c < CN; c++)
      b[j][c] = texelFetch(tB, bq[c] + (q0 + j0 + j) * qs);
    UNR for (int j = 0; j < QB; j++) UNR for (int m = 0; m < MR; m++) {
      vec4 am = subgroupShuffle(ar[m], uint(j0 + j));
      UNR for (int c = 0; c < CN; c++) madd(c, m, am, b[j][c]);
    }
  }
}

// One quad q (a tail past K adds zeros: selected, so what lies beyond cannot leak, NaN * 0).
void kquad(samplerBuffer tA, samplerBuffer tB, int q, int K, bool tail, int qs) {
  vec4 b[CN], a[AF];
  UNR for (int c = 0; c < CN; c++) b[c] = texelFetch(tB, bq[c] + q * qs);
  UNR for (int f = 0; f < AF; f++) a[f] = SKINNY_FETCH_A(tA, aq[f] + q);
  if (tail) {
    bvec4 in_k = lessThan(ivec4(0, 1, 2, 3), ivec4(K & 3));
    UNR for (int c = 0; c < CN; c++) b[c] = mix(vec4(0.0), b[c], in_k);
    UNR for (int f = 0; f < AF; f++) a[f] = mix(vec4(0.0), a[f], in_k);
  }
  UNR for (int m = 0; m < MR; m++) {
    vec4 am = MR == 1 ? a[0] : subgroupShuffle(a[m / SG], uint(m % SG));  // one row: every lane has it
    UNR for (int c = 0; c < CN; c++) madd(c, m, am, b[c]);
  }
}

// The columns invocation j = g * local_size_x + local id of workgroup g owns, as skinny_accumulate's n0
// and cstride: adjacent, CN * j + c (what B in panels, the pairwise maximum and the block statistics
// need), or g * local_size_x * CN + local id + c * local_size_x (a subgroup's lanes on consecutive rows of
// B for each c).
void skinny_columns(uint g, bool adjacent, out uint n0, out uint cs) {
  uint local = gl_WorkGroupSize.x, id = gl_LocalInvocationID.x;
  n0 = adjacent ? uint(CN) * (g * local + id) : g * local * uint(CN) + id;
  cs = adjacent ? 1u : local;
}

// Columns n0 + c * cstride (local_size_x: a subgroup's lanes read consecutive rows of B for each c;
// 1: adjacent columns); columns past ncols read row ncols - 1 (their sums are the caller's to discard).
void skinny_accumulate(samplerBuffer tA, samplerBuffer tB, uint n0, uint cstride, uint ncols, uint off_a, uint off_b, int K,
                       uint lda, uint ldb, bool panel) {
  int M = int(pc.M), lane = int(gl_SubgroupInvocationID);
  const int P = CN * SG, qs = panel ? P : 1;
  UNR for (int c = 0; c < CN; c++) {
    uint n = min(n0 + uint(c) * cstride, ncols - 1u);
    if (panel) bq[c] = int(off_b >> 2) + int(n) / P * P * int(ldb >> 2) + int(n) % CN * SG + int(n) % P / CN;
    else bq[c] = int((off_b + n * ldb) >> 2);
  }
  UNR for (int m = 0; m < MR; m++) arow[m] = int((off_a + uint(min(m, M - 1)) * lda) >> 2);
  UNR for (int f = 0; f < AF; f++) aq[f] = int((off_a + uint(min(f * SG + lane, M - 1)) * lda) >> 2);
  UNR for (int c = 0; c < CN; c++) UNR for (int m = 0; m < MR; m++) acc[c][m] = 0.0;
  int nq = K >> 2, q = 0;
  for (; q + SG <= nq; q += SG) kblock_whole(tA, tB, q, qs);
  for (; q < nq; q++) kquad(tA, tB, q, K, false, qs);
  if ((K & 3) != 0) kquad(tA, tB, nq, K, true, qs);
}

#endif

