#version 450
// vknmt-variant: gemm_vec4 GEMM_VEC4
// vknmt-variant: gemm_texel GEMM_TEXEL
// vknmt-variant: gemm_texel_scalar GEMM_TEXEL GEMM_TEXEL_SCALAR
// vknmt-variant: gemm_texel_skinny GEMM_TEXEL_SKINNY
// vknmt-variant: gemm_texel_skinny_sum GEMM_TEXEL_SKINNY GEMM_SUM
// vknmt fp32 GEMM:  C[M,N] = act(alpha * op(A) * op(B) + beta * C + bias[n])
// Row-major. op(A) = A[M,K] (lda) if TRANS_A == 0, else A stored [K,M] (lda).
//            op(B) = B[K,N] (ldb) if TRANS_B == 0, else B stored [N,K] (ldb)  (W[out,in] of y = x W^T).
// Compile: glslangValidator -V --target-env vulkan1.1 [-DGEMM_TEXEL [-DGEMM_TEXEL_SCALAR]] [-DGEMM_VEC4]
//
// Bindings (set 0): 0 = A, 1 = B, 2 = C (std430 float, read+write), 3 = bias (std430 float, >= N, read only).
// Push constants (std430): M N K lda ldb ldc off_a off_b off_c off_bias (uint, offsets in elements),
//   alpha beta (float), has_bias act (uint; act 0 none, 1 tanh, 2 sigmoid, 3 relu), stride_a stride_b
//   stride_c (uint).  beta == 0 never reads C.
// Batches (GEMM_TEXEL and the storage-buffer variants): workgroup z computes GEMM z, whose A, B and C
//   start z * stride_a, z * stride_b, z * stride_c elements after off_a, off_b, off_c (the bias is shared);
//   groups_z = the batch. GEMM_TEXEL in RGBA32F views needs stride_a and stride_b on quads too.
// Spec constants: 0 = local_size_x, 1 = TRANS_A (0/1), 2 = TRANS_B (0/1), then per variant:
//
// ---- GEMM_TEXEL (CPU class, lavapipe/llvmpipe) -------------------------------------------------
//   A, B bound as `uniform samplerBuffer` (VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER) views:
//     default:            VK_FORMAT_R32G32B32A32_SFLOAT views. REQUIRES lda, ldb, off_a, off_b all
//                         multiples of 4, and each A/B buffer's size (and view range) padded up to a
//                         multiple of 16 bytes so the last partial row quad is addressable.
//     GEMM_TEXEL_SCALAR:  VK_FORMAT_R32_SFLOAT views, any lda/ldb/offsets (about 4x more fetches).
//   One workgroup = ONE subgroup: local_size_x must equal the subgroup size (lavapipe: 8, or 16 with
//   LP_NATIVE_VECTOR_WIDTH=512) and the device must support subgroup shuffle in compute.
//   Each invocation owns RM consecutive rows; the workgroup shares TN columns whose B values are
//   fetched once per workgroup (one texel per lane) and broadcast with subgroupShuffle.
//   id 3 = RM  rows per invocation   (default 2; lavapipe: 2, and 4 for TRANS_A in RGBA32F views, where a
//              multiple of 4 reads A a quad of rows per texel)
//   id 4 = TN  columns per workgroup (default 16, multiple of 4; lavapipe: 24, or 16 when N % 24 != 0)
//   Dispatch: groups_x = ceil(M / (local_size_x * RM)), groups_y = ceil(N / TN).
//
// ---- GEMM_TEXEL_SKINNY (CPU class, a few rows: decoding one sentence) ----------------------------
//   Only TRANS_A == 0, TRANS_B == 1 (x W^T) with M <= MR, A and B in RGBA32F texel views (the same
//   alignment rules as GEMM_TEXEL). Each invocation owns CN columns and all M rows: per 4 k-steps one
//   texel of each of its rows of W, and A's quads reach every lane by subgroupShuffle (below). The
//   tiled kernel gives 16 rows to a workgroup and so does up to 16x the work a few rows need.
//   id 3 = MR  rows (M <= MR).  id 4 = SG  the subgroup size (local_size_x a multiple of it, full
//   subgroups of consecutive invocations).  id 5 = CN  columns per invocation.
//   Dispatch: groups_x = ceil(N / (local_size_x * CN)).
//
// ---- default: SSBO variant (portable, discrete GPUs) --------------------------------------------
//   A, B bound as storage buffers of float (GEMM_VEC4: read as vec4 where possible; REQUIRES lda, ldb,
//   off_a, off_b multiples of 4). Shared-memory tiles BMxBK / BKxBN, register tile TMxTN per invocation.
//   id 3 = BM (default 64), id 4 = BN (default 64), id 5 = BK (default 16), id 6 = TM (default 4),
//   id 7 = TN (default 4).  local_size_x MUST equal (BM/TM)*(BN/TN) (default 256).
//   BM*BK and BK*BN multiples of local_size_x are fastest but not required; with GEMM_VEC4 BM, BN, BK
//   must be multiples of 4.  Typical discrete GPU (subgroup 32): BM=BN=64, BK=16, TM=TN=4, 256 threads
//   (or BM=BN=128, BK=8, TM=TN=8, 256 threads for large M,N). lavapipe: use GEMM_TEXEL instead.
//   Dispatch: groups_x = ceil(M / BM), groups_y = ceil(N / BN).

layout(local_size_x_id = 0) in;
layout(constant_id = 1) const int TRANS_A = 0;
layout(constant_id = 2) const int TRANS_B = 0;

layout(std430, set = 0, binding = 2) buffer CBuf { float Cm[]; };
layout(std430, set = 0, binding = 3) readonly buffer BiasBuf { float biasv[]; };

layout(push_constant, std430) uniform PC {
  uint M, N, K, lda, ldb, ldc, off_a, off_b, off_c, off_bias;
  float alpha, beta;
  uint has_bias, act;
  uint stride_a, stride_b, stride_c;  // a batch of GEMMs (the tiled variants): see OFF_A
#ifdef GEMM_SUM
  uint K1, lda1, ldb1, off_a1, off_b1, K2, lda2, ldb2, off_a2, off_b2, off_t, ldt, off_cin, ldcin;
#endif
} pc;

#extension GL_EXT_control_flow_attributes : enable
#define UNR [[unroll]]

#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

float act1(float v) {
  if (pc.act == 1u) v = vk_tanh(v);
  else if (pc.act == 2u) v = vk_sigmoid(v);
  else if (pc.act == 3u) v = max(v, 0.0);
  return v;
}

// This workgroup's GEMM of a batch: its operands' offsets.
#define OFF_A (pc.off_a + gl_WorkGroupID.z * pc.stride_a)
#define OFF_B (pc.off_b + gl_WorkGroupID.z * pc.stride_b)
#define OFF_C (pc.off_c + gl_WorkGroupID.z * pc.stride_c)

#if defined(GEMM_TEXEL_SKINNY)
// =================================================================================================
layout(set = 0, binding = 0) uniform samplerBuffer tA;
layout(set = 0, binding = 1) uniform samplerBuffer tB;
// PANEL (bit i: product i's B, i < 3; not the side product's): B in the few-rows panel layout (see
// gemm_skinny.glsl), its ldb K on quads; every invocation then owns columns CN * j + c.
layout(constant_id = 11) const int PANEL = 0;
#ifdef GEMM_SUM
// GEMM_SUM: NSUM (0-2) more products added to the first's result, each as a GEMM with beta 1 would:
// v = alpha * (A1 B1^T) + v, then A2 B2^T (act none). Bindings 4, 5 = A1, B1 and 6, 7 = A2, B2.
// PAIRMAX (CN 2): each invocation owns columns 2j, 2j + 1 and writes, instead of C, the maxout
// T[m, j] = max(v[m, 2j], v[m, 2j + 1]) (maxout.comp's choice: the first when >=) to binding 8
// (off_t, ldt); groups_x = ceil(N / 2 / local_size_x).
// ROWSTATS (CN 2, NSUM 0, act none): each invocation owns columns 2j, 2j + 1, writes C, and each
// subgroup's 2 * SG columns are a block of softmax_blocks.glsl whose (max, sum) goes to binding 8,
// row m's block k at off_t + m * ldt + 2k: the bits softmax_blocks.comp gives with L = SG.
layout(constant_id = 6) const int NSUM = 1;
layout(constant_id = 7) const int PAIRMAX = 0;
layout(constant_id = 8) const int ROWSTATS = 0;
layout(std430, set = 0, binding = 8) writeonly buffer TBuf { float Tm[]; };
// beta scales Cin (binding 9: off_cin, ldcin), which may be C itself or another matrix.
layout(std430, set = 0, binding = 9) readonly buffer CinBuf { float Cin[]; };
// SIDE (PAIRMAX only): the workgroups past the pairs' compute a second product of the same A,
// S = A Bs^T (Bs [SIDE_N, K] in binding 10 from SIDE_OFF_B, rows SIDE_LDB apart), into C (off_c, ldc),
// which PAIRMAX leaves unwritten: alpha 1, nothing added, the bits of the plain few-rows GEMM.
// Its shape rides in the push fields the few-rows kernels never use (they take no batches).
layout(constant_id = 9) const int SIDE = 0;
layout(set = 0, binding = 10) uniform samplerBuffer tS;
// GIVEN (bit 0: product 1, bit 1: product 2): that product is not computed but read, the matrix
// [M, N] itself in its A binding from off_a, rows lda apart (both on quads); its B is unused.
layout(constant_id = 10) const int GIVEN = 0;
#define SIDE_N pc.stride_a
#define SIDE_OFF_B pc.stride_b
#define SIDE_LDB pc.stride_c
layout(set = 0, binding = 4) uniform samplerBuffer tA1;
layout(set = 0, binding = 5) uniform samplerBuffer tB1;
layout(set = 0, binding = 6) uniform samplerBuffer tA2;
layout(set = 0, binding = 7) uniform samplerBuffer tB2;
#endif
#include "gemm_skinny.glsl"
#include "softmax_blocks.glsl"

#ifdef GEMM_SUM
// acc[c][m] = P[m, n0 + c * cs] of a given product P (columns past N read column N - 1).
void given_product(samplerBuffer t, uint off, uint ld, uint n0, uint cs) {
  UNR for (int c = 0; c < CN; c++) {
    uint n = min(n0 + uint(c) * cs, pc.N - 1u);
    UNR for (int m = 0; m < MR; m++) {
      uint at = off + uint(min(m, int(pc.M) - 1)) * ld + n;
      acc[c][m] = texelFetch(t, int(at >> 2))[int(at & 3u)];
    }
  }
}

// Side workgroup g: columns n0 + c * local of S, as the plain few-rows kernel lays them out.
void side_product(uint g) {
  uint n0, cs;
  skinny_columns(g, false, n0, cs);
  skinny_accumulate(tA, tS, n0, cs, SIDE_N, pc.off_a, SIDE_OFF_B, int(pc.K), pc.lda, SIDE_LDB, false);
  UNR for (int c = 0; c < CN; c++) {
    uint n = n0 + uint(c) * cs;
    UNR for (int m = 0; m < MR; m++)
      if (m < int(pc.M) && n < SIDE_N) Cm[pc.off_c + uint(m) * pc.ldc + n] = acc[c][m];
  }
}
#endif

void main() {
#ifdef GEMM_SUM
  uint local = gl_WorkGroupSize.x, j = gl_WorkGroupID.x * local + gl_LocalInvocationID.x;  // PAIRMAX: its pair
  if (SIDE != 0 && PAIRMAX != 0) {  // the whole workgroup takes one branch
    uint pair_groups = (pc.N / 2u + local - 1u) / local;
    if (gl_WorkGroupID.x >= pair_groups) {
      side_product(gl_WorkGroupID.x - pair_groups);
      return;
    }
  }
  const bool adjacent = PANEL != 0 || PAIRMAX != 0 || ROWSTATS != 0;  // (PAIRMAX and ROWSTATS: CN 2)
#else
  const bool adjacent = PANEL != 0;
#endif
  uint n0, cs;
  skinny_columns(gl_WorkGroupID.x, adjacent, n0, cs);
  skinny_accumulate(tA, tB, n0, cs, pc.N, pc.off_a, pc.off_b, int(pc.K), pc.lda, pc.ldb, (PANEL & 1) != 0);
  int M = int(pc.M);
  float v[CN][MR];
  UNR for (int c = 0; c < CN; c++) {
    uint n = n0 + uint(c) * cs;
    UNR for (int m = 0; m < MR; m++) {
      v[c][m] = pc.alpha * acc[c][m];
      if (m < M && n < pc.N) {
        uint idx = pc.off_c + uint(m) * pc.ldc + n;
#ifdef GEMM_SUM
        if (pc.beta != 0.0) v[c][m] += pc.beta * Cin[pc.off_cin + uint(m) * pc.ldcin + n];
#else
        if (pc.beta != 0.0) v[c][m] += pc.beta * Cm[idx];
#endif
        if (pc.has_bias != 0u) v[c][m] += biasv[pc.off_bias + n];
      }
    }
  }
#ifdef GEMM_SUM
  if (NSUM >= 1) {
    if ((GIVEN & 1) != 0) given_product(tA1, pc.off_a1, pc.lda1, n0, cs);
    else skinny_accumulate(tA1, tB1, n0, cs, pc.N, pc.off_a1, pc.off_b1, int(pc.K1), pc.lda1, pc.ldb1,
                           (PANEL & 2) != 0);
    UNR for (int c = 0; c < CN; c++) UNR for (int m = 0; m < MR; m++) v[c][m] = pc.alpha * acc[c][m] + v[c][m];
  }
  if (NSUM >= 2) {
    if ((GIVEN & 2) != 0) given_product(tA2, pc.off_a2, pc.lda2, n0, cs);
    else skinny_accumulate(tA2, tB2, n0, cs, pc.N, pc.off_a2, pc.off_b2, int(pc.K2), pc.lda2, pc.ldb2,
                           (PANEL & 4) != 0);
    UNR for (int c = 0; c < CN; c++) UNR for (int m = 0; m < MR; m++) v[c][m] = pc.alpha * acc[c][m] + v[c][m];
  }
  if (ROWSTATS != 0) {
    uint blk = j / uint(SG);
    UNR for (int m = 0; m < MR; m++) {
      bool v0 = n0 < pc.N, v1 = n0 + 1u < pc.N;
      float bm = sb_lane_max(v[0][m], v0, v[1][m], v1);
      for (uint step = 1u; step < uint(SG); step *= 2u)  // every lane gets the block's maximum
        bm = max(bm, subgroupShuffleXor(bm, step));
      float bs = sb_lane_sum(v[0][m], v0, v[1][m], v1, bm);
      for (uint step = 1u; step < uint(SG); step *= 2u)
        bs = bs + subgroupShuffleXor(bs, step);
      if (gl_SubgroupInvocationID == 0u && m < M && blk * 2u * uint(SG) < pc.N) {
        Tm[pc.off_t + uint(m) * pc.ldt + 2u * blk] = bm;
        Tm[pc.off_t + uint(m) * pc.ldt + 2u * blk + 1u] = bs;
      }
    }
  }
  if (PAIRMAX != 0) {
    UNR for (int m = 0; m < MR; m++)
      if (m < M && n0 + 1u < pc.N) Tm[pc.off_t + uint(m) * pc.ldt + j] = v[0][m] >= v[1][m] ? v[0][m] : v[1][m];
    return;
  }
#endif
  UNR for (int c = 0; c < CN; c++) {
    uint n = n0 + uint(c) * cs;
    UNR for (int m = 0; m < MR; m++)
      if (m < M && n < pc.N) Cm[pc.off_c + uint(m) * pc.ldc + n] = act1(v[c][m]);
  }
}

#elif defined(GEMM_TEXEL)
// =================================================================================================
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require

layout(constant_id = 3) const int RM = 2;
layout(constant_id = 4) const int TN = 16;

layout(set = 0, binding = 0) uniform samplerBuffer tA;
layout(set = 0, binding = 1) uniform samplerBuffer tB;
layout(std430, set = 0, binding = 2) buffer CBuf4 { vec4 C4[]; };  // alias of binding 2

const int SG = int(gl_WorkGroupSize.x);
const int BF = (TN + SG - 1) / SG;  // B fetches per lane per 4-k block
const int TQ = TN / 4;
// With A stored [K,M] (TRANS_A) in an RGBA32F view and RM a multiple of 4, each lane's rows come a
// quad per texel: RM/4 fetches per k instead of RM scalar ones (the weight-gradient GEMMs).
#ifdef GEMM_TEXEL_SCALAR
#define A_QUADS false
#else
#define A_QUADS (TRANS_A == 1 && RM % 4 == 0)
#endif

// Everything below indexes A/B in ELEMENTS; fetch4 reads elements e..e+3 (e % 4 == 0 in vec4 mode).
#ifdef GEMM_TEXEL_SCALAR
int lastA, lastB;
vec4 fetchA4(int e) {
  return vec4(texelFetch(tA, min(e, lastA)).x, texelFetch(tA, min(e + 1, lastA)).x,
              texelFetch(tA, min(e + 2, lastA)).x, texelFetch(tA, min(e + 3, lastA)).x);
}
vec4 fetchB4(int e) {
  return vec4(texelFetch(tB, min(e, lastB)).x, texelFetch(tB, min(e + 1, lastB)).x,
              texelFetch(tB, min(e + 2, lastB)).x, texelFetch(tB, min(e + 3, lastB)).x);
}
float fetchA1(int e) { return texelFetch(tA, min(e, lastA)).x; }
#else
vec4 fetchA4(int e) { return texelFetch(tA, e >> 2); }
vec4 fetchB4(int e) { return texelFetch(tB, e >> 2); }
float fetchA1(int e) { return texelFetch(tA, e >> 2)[e & 3]; }
#endif

vec4 acc[RM][TQ];
int ia[RM];  // element index of A row start (TRANS_A=0) or of A[0][m] (TRANS_A=1)
int ib[BF];  // element index of this lane's B texel(s) at k-block 0

// lavapipe executes both sides of an `if` under a lane mask, but really skips a loop whose
// uniform trip count is 0: ONCE(c) { ... } runs its body only when c holds.
#define ONCE(c) for (uint once_ = 0u; once_ < ((c) ? 1u : 0u); once_++)

vec4 act4(vec4 v) {
  ONCE(pc.act == 1u) { v = vk_tanh(v); }
  ONCE(pc.act == 2u) { v = vk_sigmoid(v); }
  ONCE(pc.act == 3u) { v = max(v, vec4(0.0)); }
  return v;
}

// A block is 4 k-steps. On lavapipe every RGBA32F texelFetch is a call into its sampling code, and a
// call clobbers every vector register: what lives across one (the accumulators, earlier fetches)
// goes to the stack. So a loop trip makes both blocks' fetch calls first and then both blocks'
// multiply-adds (the same k order per accumulator, so the same bits): the accumulators' trips to the
// stack are halved. Measured: +0-12 % on the model's shapes; four blocks a trip was no better, nor
// the multiply-adds column quad by column quad.
vec4 av[2][RM];
vec4 bv[2][BF];

void kfetch(int s, int kb, uint l, bool tail) {
  int K = int(pc.K);
  if (TRANS_A == 0) {
    UNR for (int r = 0; r < RM; r++) av[s][r] = fetchA4(ia[r] + kb * 4);
  } else if (A_QUADS) {
    // A stored [K,M]: one texel holds 4 of this lane's consecutive rows at one k.
    int lda = int(pc.lda);
    UNR for (int i = 0; i < RM / 4; i++)
      UNR for (int kk = 0; kk < 4; kk++) {
        int k = tail ? min(kb * 4 + kk, K - 1) : kb * 4 + kk;
        vec4 t = fetchA4(ia[i] + k * lda);
        UNR for (int e = 0; e < 4; e++) av[s][i * 4 + e][kk] = t[e];
      }
  } else {
    int lda = int(pc.lda);
    UNR for (int r = 0; r < RM; r++)
      UNR for (int kk = 0; kk < 4; kk++) {
        int k = tail ? min(kb * 4 + kk, K - 1) : kb * 4 + kk;
        av[s][r][kk] = fetchA1(ia[r] + k * lda);
      }
  }
  UNR for (int j = 0; j < BF; j++) {
    if (TRANS_B == 1) {
      bv[s][j] = fetchB4(ib[j] + kb * 4);
    } else {
      int ldb = int(pc.ldb);
      if (tail) {
        int t = int(l) + SG * j;
        int k = min(kb * 4 + (t & 3), K - 1);
        bv[s][j] = fetchB4(ib[j] + (k - (t & 3)) * ldb);
      } else {
        bv[s][j] = fetchB4(ib[j] + kb * 4 * ldb);
      }
    }
  }
  if (tail) {
    UNR for (int kk = 0; kk < 4; kk++)
      if (kb * 4 + kk >= K) { UNR for (int r = 0; r < RM; r++) av[s][r][kk] = 0.0; }
  }
}

// The multiply-adds of blocks 0 .. NB-1 fetched by kfetch (block s at k-block kb0 + s).
void kmath(int NB, int kb0, bool tail) {
  int K = int(pc.K);
  UNR for (int s = 0; s < NB; s++) {
    UNR for (int kk = 0; kk < 4; kk++) {
      UNR for (int q = 0; q < TQ; q++) {
        vec4 b;
        UNR for (int e = 0; e < 4; e++) {
          int cc = q * 4 + e;
          int slot = TRANS_B == 1 ? cc : (cc & ~3) + kk;  // which lane-texel holds B[k][n0+cc]
          int comp = TRANS_B == 1 ? kk : (cc & 3);
          b[e] = subgroupShuffle(bv[s][slot / SG][comp], uint(slot % SG));
        }
        if (tail) b = ((kb0 + s) * 4 + kk < K) ? b : vec4(0.0);  // select, so NaN padding cannot leak
        UNR for (int r = 0; r < RM; r++) acc[r][q] += av[s][r][kk] * b;
      }
    }
  }
}

void main() {
  uint l = gl_LocalInvocationID.x;
  uint m0 = gl_WorkGroupID.x * uint(SG * RM);
  uint n0 = gl_WorkGroupID.y * uint(TN);
#ifdef GEMM_TEXEL_SCALAR
  lastA = textureSize(tA) - 1;
  lastB = textureSize(tB) - 1;
#endif
  UNR for (int r = 0; r < RM; r++) UNR for (int q = 0; q < TQ; q++) acc[r][q] = vec4(0.0);
  if (A_QUADS) {
    UNR for (int i = 0; i < RM / 4; i++) {
      uint m = m0 + l * uint(RM) + uint(4 * i);
      if (m >= pc.M) m = (pc.M - 1u) & ~3u;  // clamped quads: results discarded
      ia[i] = int(OFF_A + m);
    }
  } else {
    UNR for (int r = 0; r < RM; r++) {
      uint m = min(m0 + l * uint(RM) + uint(r), pc.M - 1u);  // clamped rows: results discarded
      ia[r] = int(TRANS_A == 0 ? OFF_A + m * pc.lda : OFF_A + m);
    }
  }
  UNR for (int j = 0; j < BF; j++) {
    uint t = l + uint(SG * j);
    if (TRANS_B == 1) {
      uint n = min(n0 + t, pc.N - 1u);
      ib[j] = int(OFF_B + n * pc.ldb);
    } else {  // texel t holds B[k0 + t%4][n0 + 4*(t/4) .. +3]
      uint n = min(n0 + (t >> 2) * 4u, pc.N - 1u);
#ifndef GEMM_TEXEL_SCALAR
      n &= ~3u;
#endif
      ib[j] = int(OFF_B + (t & 3u) * pc.ldb + n);
    }
  }
  int nfull = int(pc.K / 4u);
  // Two blocks a trip: lavapipe blends every loop-carried value (the RM * TN accumulators) under the
  // lanes' loop mask once per trip. Measured: the output layer's weight gradient (TN 8000x256x2400)
  // 30 -> 41-44 GF/s, other shapes within noise; four blocks a trip was no better.
  int kb = 0;
  for (; kb + 2 <= nfull; kb += 2) {
    kfetch(0, kb, l, false);
    kfetch(1, kb + 1, l, false);
    kmath(2, kb, false);
  }
  ONCE(kb < nfull) { kfetch(0, kb, l, false); kmath(1, kb, false); }
  ONCE((pc.K & 3u) != 0u) { kfetch(0, nfull, l, true); kmath(1, nfull, true); }

  // Epilogue: non-unrolled loops keep the code small (it runs once per workgroup).
  uint mb = m0 + l * uint(RM);
  bool fast = ((OFF_C | pc.ldc) & 3u) == 0u && n0 + uint(TN) <= pc.N;
  vec4 tmp[RM * TQ];
  UNR for (int r = 0; r < RM; r++) UNR for (int q = 0; q < TQ; q++) tmp[r * TQ + q] = acc[r][q];
  int nfast = fast ? RM * TQ : 0;
  [[dont_unroll]] for (int i = 0; i < nfast; i++) {
    int r = i / TQ, q = i - r * TQ;
    uint m = mb + uint(r), n = n0 + uint(q * 4);
    if (m < pc.M) {
      vec4 v = pc.alpha * tmp[i];
      uint idx = (OFF_C + m * pc.ldc + n) >> 2;
      ONCE(pc.beta != 0.0) v += pc.beta * C4[idx];
      ONCE(pc.has_bias != 0u) v += vec4(biasv[pc.off_bias + n], biasv[pc.off_bias + n + 1u],
                                        biasv[pc.off_bias + n + 2u], biasv[pc.off_bias + n + 3u]);
      C4[idx] = act4(v);
    }
  }
  int nslow = fast ? 0 : RM * TN;
  [[dont_unroll]] for (int i = 0; i < nslow; i++) {
    int r = i / TN, c = i - r * TN;
    uint m = mb + uint(r), n = n0 + uint(c);
    if (m < pc.M && n < pc.N) {
      float v = pc.alpha * tmp[r * TQ + (c >> 2)][c & 3];
      uint idx = OFF_C + m * pc.ldc + n;
      ONCE(pc.beta != 0.0) v += pc.beta * Cm[idx];
      ONCE(pc.has_bias != 0u) v += biasv[pc.off_bias + n];
      Cm[idx] = act4(vec4(v)).x;
    }
  }
}

#else
// =================================================================================================
// Portable SSBO variant: shared-memory tiles + TMxTN register tile per invocation.
layout(constant_id = 3) const int BM = 64;
layout(constant_id = 4) const int BN = 64;
layout(constant_id = 5) const int BK = 16;
layout(constant_id = 6) const int TM = 4;
layout(constant_id = 7) const int TN = 4;

layout(std430, set = 0, binding = 0) readonly buffer ABuf { float Af[]; };
layout(std430, set = 0, binding = 1) readonly buffer BBuf { float Bf[]; };
#ifdef GEMM_VEC4
layout(std430, set = 0, binding = 0) readonly buffer ABuf4 { vec4 A4[]; };
layout(std430, set = 0, binding = 1) readonly buffer BBuf4 { vec4 B4[]; };
#endif

const int WG = int(gl_WorkGroupSize.x);
const int NTX = BN / TN;  // invocations along n; invocation (tx, ty) owns rows ty + i*(BM/TM), cols tx + j*NTX
const int NTY = BM / TM;

shared float As[BK * BM];  // As[k*BM + m]
shared float Bs[BK * BN];  // Bs[k*BN + n]

// Load element (row, col) of a row-major matrix with bounds check (zero outside).
float ldA(uint row, uint col, uint nrow, uint ncol) {
  return (row < nrow && col < ncol) ? Af[OFF_A + row * pc.lda + col] : 0.0;
}
float ldB(uint row, uint col, uint nrow, uint ncol) {
  return (row < nrow && col < ncol) ? Bf[OFF_B + row * pc.ldb + col] : 0.0;
}

void main() {
  uint tid = gl_LocalInvocationID.x;
  uint tx = tid % uint(NTX), ty = tid / uint(NTX);
  uint m0 = gl_WorkGroupID.x * uint(BM), n0 = gl_WorkGroupID.y * uint(BN);
  float acc[TM][TN];
  UNR for (int i = 0; i < TM; i++) UNR for (int j = 0; j < TN; j++) acc[i][j] = 0.0;

  for (uint k0 = 0u; k0 < pc.K; k0 += uint(BK)) {
    // ---- A tile (BM x BK) -> As[k][m]; read along the contiguous dimension ----
#ifdef GEMM_VEC4
    for (uint e = tid; e < uint(BM * BK / 4); e += uint(WG)) {
      if (TRANS_A == 0) {  // contiguous along k
        uint kk = (e % uint(BK / 4)) * 4u, mm = e / uint(BK / 4);
        uint m = m0 + mm, k = k0 + kk;
        vec4 v;
        if (m < pc.M && k + 3u < pc.K) v = A4[(OFF_A + m * pc.lda + k) >> 2];
        else v = vec4(ldA(m, k, pc.M, pc.K), ldA(m, k + 1u, pc.M, pc.K), ldA(m, k + 2u, pc.M, pc.K), ldA(m, k + 3u, pc.M, pc.K));
        UNR for (int c = 0; c < 4; c++) As[(kk + uint(c)) * uint(BM) + mm] = v[c];
      } else {  // A stored [K,M]: contiguous along m
        uint mm = (e % uint(BM / 4)) * 4u, kk = e / uint(BM / 4);
        uint m = m0 + mm, k = k0 + kk;
        vec4 v;
        if (k < pc.K && m + 3u < pc.M) v = A4[(OFF_A + k * pc.lda + m) >> 2];
        else v = vec4(ldA(k, m, pc.K, pc.M), ldA(k, m + 1u, pc.K, pc.M), ldA(k, m + 2u, pc.K, pc.M), ldA(k, m + 3u, pc.K, pc.M));
        UNR for (int c = 0; c < 4; c++) As[kk * uint(BM) + mm + uint(c)] = v[c];
      }
    }
    for (uint e = tid; e < uint(BK * BN / 4); e += uint(WG)) {
      if (TRANS_B == 0) {  // B[K,N]: contiguous along n
        uint nn = (e % uint(BN / 4)) * 4u, kk = e / uint(BN / 4);
        uint n = n0 + nn, k = k0 + kk;
        vec4 v;
        if (k < pc.K && n + 3u < pc.N) v = B4[(OFF_B + k * pc.ldb + n) >> 2];
        else v = vec4(ldB(k, n, pc.K, pc.N), ldB(k, n + 1u, pc.K, pc.N), ldB(k, n + 2u, pc.K, pc.N), ldB(k, n + 3u, pc.K, pc.N));
        UNR for (int c = 0; c < 4; c++) Bs[kk * uint(BN) + nn + uint(c)] = v[c];
      } else {  // B stored [N,K]: contiguous along k
        uint kk = (e % uint(BK / 4)) * 4u, nn = e / uint(BK / 4);
        uint n = n0 + nn, k = k0 + kk;
        vec4 v;
        if (n < pc.N && k + 3u < pc.K) v = B4[(OFF_B + n * pc.ldb + k) >> 2];
        else v = vec4(ldB(n, k, pc.N, pc.K), ldB(n, k + 1u, pc.N, pc.K), ldB(n, k + 2u, pc.N, pc.K), ldB(n, k + 3u, pc.N, pc.K));
        UNR for (int c = 0; c < 4; c++) Bs[(kk + uint(c)) * uint(BN) + nn] = v[c];
      }
    }
#else
    for (uint e = tid; e < uint(BM * BK); e += uint(WG)) {
      uint mm, kk;
      float v;
      if (TRANS_A == 0) { kk = e % uint(BK); mm = e / uint(BK); v = ldA(m0 + mm, k0 + kk, pc.M, pc.K); }
      else              { mm = e % uint(BM); kk = e / uint(BM); v = ldA(k0 + kk, m0 + mm, pc.K, pc.M); }
      As[kk * uint(BM) + mm] = v;
    }
    for (uint e = tid; e < uint(BK * BN); e += uint(WG)) {
      uint nn, kk;
      float v;
      if (TRANS_B == 0) { nn = e % uint(BN); kk = e / uint(BN); v = ldB(k0 + kk, n0 + nn, pc.K, pc.N); }
      else              { kk = e % uint(BK); nn = e / uint(BK); v = ldB(n0 + nn, k0 + kk, pc.N, pc.K); }
      Bs[kk * uint(BN) + nn] = v;
    }
#endif
    barrier();
    UNR for (int kk = 0; kk < BK; kk++) {
      float a[TM], b[TN];
      UNR for (int i = 0; i < TM; i++) a[i] = As[kk * BM + int(ty) + i * NTY];
      UNR for (int j = 0; j < TN; j++) b[j] = Bs[kk * BN + int(tx) + j * NTX];
      UNR for (int i = 0; i < TM; i++) UNR for (int j = 0; j < TN; j++) acc[i][j] = fma(a[i], b[j], acc[i][j]);
    }
    barrier();
  }

  UNR for (int i = 0; i < TM; i++) {
    uint m = m0 + ty + uint(i * NTY);
    UNR for (int j = 0; j < TN; j++) {
      uint n = n0 + tx + uint(j * NTX);
      if (m < pc.M && n < pc.N) {
        uint idx = OFF_C + m * pc.ldc + n;
        float v = pc.alpha * acc[i][j];
        if (pc.beta != 0.0) v += pc.beta * Cm[idx];
        if (pc.has_bias != 0u) v += biasv[pc.off_bias + n];
        Cm[idx] = act1(v);
      }
    }
  }
}
#endif
