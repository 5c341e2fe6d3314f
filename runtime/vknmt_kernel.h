/* Writing a kernel on the vknmt runtime: a descriptor of the shader's
 * interface, bindings that say what each dispatch reads and writes, and the
 * dispatch call. Used by runtime/ops_*.c and by model code for the model's
 * own kernels; the recorder checks every dispatch against its descriptor
 * and places the barriers. */
#ifndef VKNMT_KERNEL_H
#define VKNMT_KERNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vknmt_runtime.h"
#include "vknmt_spirv.h" /* generated: vknmt_spirv_<variant>[] for every shader variant */

#define VKNMT_MAX_SPEC 12
#define VKNMT_MAX_BINDINGS 16

/* The CPU-class texel kernels (gemm.comp's GEMM_TEXEL variants and every
 * user of shaders/gemm_skinny.glsl): CPU devices whose texel buffers and
 * subgroup shuffles they need, subgroups of 4-64 lanes. */
bool vknmt_cpu_texel_kernels(const vknmt_caps *caps);
/* gemm_skinny.glsl's launch shape, shared by its users: at most
 * VKNMT_FEW_ROWS rows (a pipeline per row count), workgroups of
 * VKNMT_FEW_ROWS_LOCAL invocations, VKNMT_FEW_ROWS_COLS columns each. */
enum { VKNMT_FEW_ROWS = 12, VKNMT_FEW_ROWS_LOCAL = 64, VKNMT_FEW_ROWS_COLS = 2 };

typedef enum vknmt_bind_type {
    VKNMT_BIND_SSBO = 0,       /* std430 storage buffer */
    VKNMT_BIND_TEXEL_R32F,     /* uniform samplerBuffer, one float per texel */
    VKNMT_BIND_TEXEL_RGBA32F,  /* uniform samplerBuffer, vec4 per texel */
} vknmt_bind_type;

/* One SPIR-V variant's interface. Define descriptors as static const
 * objects: the runtime keys its pipelines by their address. */
typedef struct vknmt_kernel_desc {
    const char *name;
    const uint32_t *code;
    const size_t *code_size;
    uint32_t binding_count;    /* bindings 0..binding_count-1 of set 0 */
    vknmt_bind_type bindings[VKNMT_MAX_BINDINGS];
    uint32_t push_bytes;
    uint32_t spec_count;       /* spec constants 0..spec_count-1, all 32-bit */
} vknmt_kernel_desc;

/* Whether the device can bind k's interface in one stage (small GPUs
 * allow as few as 4 storage buffers): a launcher with another way checks
 * before choosing k; any other kernel over the limits fails as it is
 * dispatched. */
bool vknmt_kernel_fits(const vknmt_caps *caps, const vknmt_kernel_desc *k);

#define VKNMT_SPIRV(variant) .code = vknmt_spirv_##variant, .code_size = &vknmt_spirv_##variant##_size

enum { VKNMT_READ = 1, VKNMT_WRITE = 2 };

typedef struct vknmt_binding {
    vknmt_buffer *buf;
    uint64_t off, range;      /* bytes bound (aligned as the binding type needs) */
    int format;               /* VkFormat of a texel binding, 0 for storage */
    uint64_t hz_off, hz_size; /* bytes actually touched: for hazard tracking */
    uint8_t access;           /* VKNMT_READ | VKNMT_WRITE */
} vknmt_binding;

/* Describes `count` floats (or 32-bit ints) at `ref` for a binding of
 * `type`; `*elem_off` is what the kernel must add to its indices because the
 * bound offset was aligned down. Checks the region against the buffer and
 * the device's range limits. */
/* Whether vknmt_bind's texel view of `type` for `count` floats at ref stays
 * within the device's maxTexelBufferElements (the region itself is
 * vknmt_bind's to check): a launcher asks before choosing a texel form. */
bool vknmt_texel_view_fits(const vknmt_context *ctx, vknmt_ref ref, uint64_t count, vknmt_bind_type type);
vknmt_status vknmt_bind(vknmt_context *ctx, vknmt_ref ref, uint64_t count, uint8_t access,
                        vknmt_bind_type type, vknmt_binding *b, uint32_t *elem_off);

typedef struct vknmt_dispatch {
    const vknmt_kernel_desc *kernel;
    const uint32_t *spec;          /* kernel->spec_count values */
    const void *push;              /* kernel->push_bytes */
    const vknmt_binding *bindings; /* kernel->binding_count */
    uint32_t groups[3];
} vknmt_dispatch;

vknmt_status vknmt_seq_dispatch(vknmt_seq *seq, const vknmt_dispatch *d);
/* Sets n floats at y to the 32-bit pattern `word` with vkCmdFillBuffer: a
 * transfer command, ordered against dispatches like one. */
vknmt_status vknmt_seq_fill(vknmt_seq *seq, vknmt_ref y, uint64_t n, uint32_t word);
vknmt_context *vknmt_seq_context(vknmt_seq *seq);
/* Records a failure message on the sequence's context and returns status. */
vknmt_status vknmt_seq_fail(vknmt_seq *seq, vknmt_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Splits `groups` workgroups over x and y within every device's limits;
 * shaders rebuild the flat index with vk_flat_index() (common.glsl). */
void vknmt_grid_1d(uint64_t groups, uint32_t out[3]);

#endif
