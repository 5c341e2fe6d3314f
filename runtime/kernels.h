/* The table of compute kernels: one entry per embedded SPIR-V variant, with
 * the interface the runtime checks every dispatch against. */
#ifndef VKNMT_KERNELS_H
#define VKNMT_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#define VKNMT_MAX_SPEC 8
#define VKNMT_MAX_BINDINGS 8

typedef enum vknmt_bind_type {
    VKNMT_BIND_SSBO = 0,       /* std430 storage buffer */
    VKNMT_BIND_TEXEL_R32F,     /* uniform samplerBuffer, one float per texel */
    VKNMT_BIND_TEXEL_RGBA32F,  /* uniform samplerBuffer, vec4 per texel */
} vknmt_bind_type;

typedef enum vknmt_kernel {
    VKNMT_K_FILL,
    VKNMT_K_COPY,
    VKNMT_K_SCALE,
    VKNMT_K_AXPY,
    VKNMT_K_SOFTMAX,
    VKNMT_K_REDUCE_SUM,
    VKNMT_K_REDUCE_SUMSQ,
    VKNMT_K_GEMM,
    VKNMT_K_GEMM_VEC4,
    VKNMT_K_GEMM_TEXEL,
    VKNMT_K_GEMM_TEXEL_SCALAR,
    VKNMT_KERNEL_COUNT
} vknmt_kernel;

typedef struct vknmt_kernel_desc {
    const char *name;
    const uint32_t *code;
    const size_t *code_size;
    uint32_t binding_count;
    vknmt_bind_type bindings[VKNMT_MAX_BINDINGS];
    uint32_t push_bytes;
    uint32_t spec_count; /* spec constants 0..spec_count-1, all 32-bit */
} vknmt_kernel_desc;

const vknmt_kernel_desc *vknmt_kernel_get(vknmt_kernel k);

#endif
