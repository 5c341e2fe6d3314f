/* The kernel table: each embedded SPIR-V variant with its interface. */
#include "kernels.h"
#include "vknmt_spirv.h"

#define SPIRV(n) .code = vknmt_spirv_##n, .code_size = &vknmt_spirv_##n##_size
#define SSBO VKNMT_BIND_SSBO
#define TEX4 VKNMT_BIND_TEXEL_RGBA32F
#define TEX1 VKNMT_BIND_TEXEL_R32F

static const vknmt_kernel_desc table[VKNMT_KERNEL_COUNT] = {
    [VKNMT_K_FILL] = {"fill", SPIRV(fill), 1, {SSBO}, 12, 1},
    [VKNMT_K_COPY] = {"copy", SPIRV(copy), 2, {SSBO, SSBO}, 12, 1},
    [VKNMT_K_SCALE] = {"scale", SPIRV(scale), 1, {SSBO}, 12, 1},
    [VKNMT_K_AXPY] = {"axpy", SPIRV(axpy), 2, {SSBO, SSBO}, 16, 1},
    [VKNMT_K_SOFTMAX] = {"softmax", SPIRV(softmax), 3, {SSBO, SSBO, SSBO}, 24, 1},
    [VKNMT_K_REDUCE_SUM] = {"reduce_sum", SPIRV(reduce_sum), 2, {SSBO, SSBO}, 20, 1},
    [VKNMT_K_REDUCE_SUMSQ] = {"reduce_sumsq", SPIRV(reduce_sumsq), 2, {SSBO, SSBO}, 20, 1},
    [VKNMT_K_GEMM] = {"gemm", SPIRV(gemm), 4, {SSBO, SSBO, SSBO, SSBO}, 56, 8},
    [VKNMT_K_GEMM_VEC4] = {"gemm_vec4", SPIRV(gemm_vec4), 4, {SSBO, SSBO, SSBO, SSBO}, 56, 8},
    [VKNMT_K_GEMM_TEXEL] = {"gemm_texel", SPIRV(gemm_texel), 4, {TEX4, TEX4, SSBO, SSBO}, 56, 5},
    [VKNMT_K_GEMM_TEXEL_SCALAR] = {"gemm_texel_scalar", SPIRV(gemm_texel_scalar), 4, {TEX1, TEX1, SSBO, SSBO}, 56, 5},
};

const vknmt_kernel_desc *vknmt_kernel_get(vknmt_kernel k) { return &table[k]; }
