#version 450
// A GRU over a whole sequence in one dispatch, for a few rows (M <= MR: encoding one sentence) on
// CPU devices: workgroup y runs direction y's steps one after another, the state kept in shared
// memory between them. Each step is gru_rows.comp's two halves with a workgroup barrier between,
// the same operations in the same order (the recurrent products of gemm_skinny.glsl, in k order,
// then the cell), so the states are the same bits as those of a step per dispatch pair, or of the
// four-dispatch path a batch takes. A step per dispatch costs two hand-offs to the device's
// worker threads (tens of microseconds each on a CPU device); here both directions run at once
// and hand off once.
//   step s, time t = t0 + s * dt:  base  r, z = sigma(a_t[0:2n] + h U[0:2n]^T) -> gates_t; rh = r * h
//                                  then  h~ = tanh(a_t[2n:3n] + rh U[2n:3n]^T) -> gates_t;
//                                        h' = live ? (1 - z) h + z h~ : h, live = t < lengths[row]
//   reading h from slot t + hp of hs and writing h' to slot t + hn (forward 0, 1; backward 1, 0).
// Per position t the tensors are [M, 3n] (a, gates), [M, n] (rh, an hs slot), all rows of a
// direction in one buffer from its offset. Bindings: 0 U's rows (RGBA32F texel view), 1 a,
// 2 hs (read once, then written), 3 gates, 4 rh, 5 lengths (storage buffers).
// Spec constants: 0 local_size_x (a multiple of SG), 3 MR = M, 4 SG, 5 CN, 6 NS = n (a multiple
// of 4). Shared memory: 3 * MR * NS floats. Dispatch: groups (1, directions, 1).
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"
layout(local_size_x_id = 0) in;
layout(constant_id = 6) const int NS = 4;

struct Dir {
  uint off_u, off_in, off_h, off_gates, off_rh;  // elements; off_u on a quad
  uint t0;
  int dt;
  uint hp, hn;
};
layout(push_constant, std430) uniform PC {
  uint M, n, steps, off_len, has_len;
  Dir at[2];
} pc;

layout(set = 0, binding = 0) uniform samplerBuffer tU;
layout(std430, set = 0, binding = 1) readonly buffer In { float a_in[]; };
layout(std430, set = 0, binding = 2) buffer HS { float hs[]; };
layout(std430, set = 0, binding = 3) writeonly buffer G { float gates[]; };
layout(std430, set = 0, binding = 4) writeonly buffer RH { float rhv[]; };
layout(std430, set = 0, binding = 5) readonly buffer L { uint lengths[]; };

vec4 fetch_a(int q);
#define SKINNY_FETCH_A(t, q) fetch_a(q)
#include "gemm_skinny.glsl"

// The products' A: rows of h at quad 0, rows of rh after them; z of the step apart.
shared vec4 sh_a[2 * MR * (NS / 4)];
shared float sh_z[MR * NS];
vec4 fetch_a(int q) { return sh_a[q]; }

float h_at(uint i) { return sh_a[i >> 2][i & 3u]; }

void main() {
  Dir d = pc.at[min(gl_WorkGroupID.y, 1u)];
  uint i = gl_LocalInvocationID.x, local = gl_WorkGroupSize.x, per = local * uint(CN);
  uint n = pc.n, M = pc.M, mn = M * n, rh0 = uint(MR) * n;  // rh0: rh's first element in sh_a
  for (uint e = i; e < mn; e += local) sh_a[e >> 2][e & 3u] = hs[d.off_h + (d.t0 + d.hp) * mn + e];
  barrier();
  for (uint s = 0; s < pc.steps; s++) {
    uint t = uint(int(d.t0) + int(s) * d.dt);
    uint pa = d.off_in + t * 3u * mn, pg = d.off_gates + t * 3u * mn;
    for (uint cb = 0; cb < 2u * n; cb += per) {
      uint n0 = cb + i;
      skinny_accumulate(tU, tU, n0, local, 2u * n, 0u, d.off_u, int(n), n, n, false);
      UNR for (int m = 0; m < MR; m++) {
        UNR for (int c = 0; c < CN; c++) {
          uint j = n0 + uint(c) * local, row3 = uint(m) * 3u * n, row = uint(m) * n;
          if (j < 2u * n) {
            float g = vk_sigmoid(a_in[pa + row3 + j] + acc[c][m]);
            gates[pg + row3 + j] = g;
            if (j < n) {
              float rh = g * h_at(row + j);
              rhv[d.off_rh + t * mn + row + j] = rh;
              sh_a[(rh0 + row + j) >> 2][j & 3u] = rh;
            } else {
              sh_z[row + j - n] = g;
            }
          }
        }
      }
    }
    barrier();
    for (uint cb = 0; cb < n; cb += per) {
      uint n0 = cb + i;
      skinny_accumulate(tU, tU, n0, local, n, rh0, d.off_u + 2u * n * n, int(n), n, n, false);
      UNR for (int m = 0; m < MR; m++) {
        bool live = pc.has_len == 0u || t < lengths[pc.off_len + uint(m)];
        UNR for (int c = 0; c < CN; c++) {
          uint j = n0 + uint(c) * local, row3 = uint(m) * 3u * n, row = uint(m) * n;
          if (j < n) {
            float hh = vk_tanh(a_in[pa + row3 + 2u * n + j] + acc[c][m]);
            float z = sh_z[row + j], h = h_at(row + j);
            gates[pg + row3 + 2u * n + j] = hh;
            float h_new = live ? (1.0 - z) * h + z * hh : h;
            hs[d.off_h + (t + d.hn) * mn + row + j] = h_new;
            sh_a[(row + j) >> 2][j & 3u] = h_new;  // only this invocation reads element j of h in this half
          }
        }
      }
    }
    barrier();
  }
}
