/* vknmt runtime: Vulkan devices, device memory, compute kernels and the
 * recorder that sequences them. Knows nothing of translation.
 *
 * Ownership: every handle is created by a *_create function and released by
 * the matching *_destroy, which accepts NULL. A handle borrows the handle it
 * was created from (a buffer borrows its context, a context its instance),
 * which must outlive it. Functions return a vknmt_status; on failure the
 * readable reason is on the context (or instance) that was passed in. */
#ifndef VKNMT_RUNTIME_H
#define VKNMT_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vknmt_status.h"

typedef struct vknmt_instance vknmt_instance;
typedef struct vknmt_context vknmt_context;
typedef struct vknmt_buffer vknmt_buffer;
typedef struct vknmt_seq vknmt_seq;

/* ---------------------------------------------------------------- devices */

typedef enum vknmt_device_type {
    VKNMT_DEVICE_OTHER = 0,
    VKNMT_DEVICE_DISCRETE,
    VKNMT_DEVICE_INTEGRATED,
    VKNMT_DEVICE_VIRTUAL,
    VKNMT_DEVICE_CPU,
} vknmt_device_type;

#define VKNMT_MAX_HEAPS 16

typedef struct vknmt_device_info {
    uint32_t index;
    char name[256];
    vknmt_device_type type;
    uint32_t vendor_id, device_id;
    char driver_name[256];    /* VkPhysicalDeviceDriverProperties */
    char driver_info[256];
    uint32_t driver_version;  /* raw VkPhysicalDeviceProperties value */
    uint32_t api_version;
    uint32_t heap_count;
    uint64_t heap_bytes[VKNMT_MAX_HEAPS];
    bool heap_device_local[VKNMT_MAX_HEAPS];
    uint32_t subgroup_size;
    uint32_t shared_memory_bytes; /* maxComputeSharedMemorySize */
    bool fp16;                    /* shaderFloat16 */
    bool int8;                    /* shaderInt8 */
} vknmt_device_info;

const char *vknmt_device_type_name(vknmt_device_type type);
const char *vknmt_vendor_name(uint32_t vendor_id);
/* Writes the driver version in the vendor's own convention. */
void vknmt_driver_version_format(uint32_t vendor_id, uint32_t version, char *out, size_t out_size);

/* --------------------------------------------------------------- instance */

typedef struct vknmt_instance_options {
    /* Enable VK_LAYER_KHRONOS_validation when it is installed; every message
     * it emits is counted (vknmt_instance_validation_count). */
    bool validation;
    /* CPU devices (Mesa's lavapipe) run each dispatch on the thread that
     * submits it instead of handing it to their worker threads: one core,
     * but no hand-off, which costs some machines 30-70 us per dispatch
     * against ~1 us inline. For work of many small dispatches (decoding one
     * sentence). Sets LP_NUM_THREADS=0 for the process unless the user has
     * set LP_NUM_THREADS; other drivers ignore it. */
    bool cpu_inline;
} vknmt_instance_options;

vknmt_status vknmt_instance_create(const vknmt_instance_options *options, vknmt_instance **out);
void vknmt_instance_destroy(vknmt_instance *inst);
const char *vknmt_instance_errmsg(const vknmt_instance *inst);
bool vknmt_instance_validation_enabled(const vknmt_instance *inst);
/* Messages the validation layer has reported so far, and the latest. */
uint32_t vknmt_instance_validation_count(const vknmt_instance *inst);
const char *vknmt_instance_validation_last(const vknmt_instance *inst);

uint32_t vknmt_instance_device_count(const vknmt_instance *inst);
const vknmt_device_info *vknmt_instance_device(const vknmt_instance *inst, uint32_t index);
/* Picks a device: `spec` is an index or a case-insensitive part of the name;
 * NULL or "" falls back to $VKNMT_DEVICE, then to the default order
 * discrete > integrated > virtual > CPU > other (lowest index first). */
vknmt_status vknmt_instance_select(vknmt_instance *inst, const char *spec, uint32_t *index);

/* ---------------------------------------------------------------- context */

/* What the device can do, read once at context creation. Optional features
 * can be switched off with VKNMT_DISABLE=fp16,int8,subgroup,texel,timestamps
 * (comma separated) to bisect driver bugs; every kernel keeps a path that
 * needs none of them. */
typedef struct vknmt_caps {
    vknmt_device_info info;
    uint32_t subgroup_size;
    bool subgroup_basic;   /* subgroupBarrier, subgroupElect in compute */
    bool subgroup_arith;   /* subgroupAdd and friends in compute */
    bool subgroup_shuffle; /* subgroupShuffle, subgroupBroadcast in compute */
    bool fp16, int8;
    bool texel_buffers;    /* R32F and RGBA32F uniform texel buffers */
    bool timestamps;
    double timestamp_ns;   /* nanoseconds per timestamp tick */
    bool unified_memory;   /* device-local memory is host-visible: no staging */
    uint64_t max_storage_buffer_range;
    uint64_t max_texel_buffer_elements;
    uint64_t max_allocation_bytes;
    uint32_t max_allocation_count;
    uint64_t min_storage_offset_align;
    uint64_t min_texel_offset_align;
    uint32_t max_workgroup_invocations;
    uint32_t max_shared_memory_bytes;
    /* bindings one kernel may have (maxPerStageDescriptorStorageBuffers;
     * uniform texel buffers count against maxPerStageDescriptorSampledImages) */
    uint32_t max_storage_buffers, max_texel_buffers;
    /* Quirk: the device runs each invocation as one lane of a CPU SIMD
     * register (lavapipe/llvmpipe). Storage-buffer and shared-memory loads
     * become scalar loops over the lanes while texel fetches are branch-free
     * (shared/notes/lavapipe-kernels.md), so kernels pick their CPU-class
     * variants: texel-buffer operands, no shared-memory tiles. */
    bool quirk_cpu_lanes;
} vknmt_caps;

typedef struct vknmt_context_options {
    /* Directory of the persistent pipeline cache; NULL means
     * $XDG_CACHE_HOME/vknmt (or ~/.cache/vknmt); "" disables it. */
    const char *cache_dir;
    /* Bytes per device memory block (0: the runtime's default). */
    uint64_t block_bytes;
    /* Record a GPU timestamp pair around every dispatch and keep per-kernel
     * totals (also switched on by VKNMT_PROFILE=1). */
    bool profile;
} vknmt_context_options;

vknmt_status vknmt_context_create(vknmt_instance *inst, uint32_t device_index,
                                  const vknmt_context_options *options, vknmt_context **out);
void vknmt_context_destroy(vknmt_context *ctx);
const char *vknmt_context_errmsg(const vknmt_context *ctx);
const vknmt_caps *vknmt_context_caps(const vknmt_context *ctx);
/* Device memory held in blocks, and the largest amount ever held. */
uint64_t vknmt_context_memory_bytes(const vknmt_context *ctx);
uint64_t vknmt_context_memory_peak_bytes(const vknmt_context *ctx);
uint32_t vknmt_context_allocation_count(const vknmt_context *ctx);
/* Writes the per-kernel GPU time table kept when profiling is on. */
void vknmt_context_profile_report(const vknmt_context *ctx, FILE *out);

/* ---------------------------------------------------------------- buffers */

/* A device buffer of `bytes` bytes, suballocated from the context's blocks. */
vknmt_status vknmt_buffer_create(vknmt_context *ctx, uint64_t bytes, vknmt_buffer **out);
void vknmt_buffer_destroy(vknmt_buffer *buf);
uint64_t vknmt_buffer_size(const vknmt_buffer *buf);
/* Copies between host memory and the buffer; waits until done. Must not be
 * called while a sequence that uses the buffer is being recorded. */
vknmt_status vknmt_buffer_upload(vknmt_buffer *buf, uint64_t offset, const void *data, uint64_t bytes);
vknmt_status vknmt_buffer_download(const vknmt_buffer *buf, uint64_t offset, void *data, uint64_t bytes);

/* A float tensor's place: a buffer and an offset counted in floats. */
typedef struct vknmt_ref {
    vknmt_buffer *buf; /* borrowed */
    uint64_t off;      /* in elements of 4 bytes */
} vknmt_ref;

static inline vknmt_ref vknmt_at(vknmt_buffer *buf, uint64_t off)
{
    vknmt_ref r = {buf, off};
    return r;
}

/* -------------------------------------------------------------- sequences */

/* A sequence records many dispatches into one command buffer. Each dispatch
 * declares what it reads and writes; the sequence places a barrier only
 * where a read-after-write, write-after-read or write-after-write hazard
 * exists. Submit runs it and waits. */
vknmt_status vknmt_seq_create(vknmt_context *ctx, vknmt_seq **out);
void vknmt_seq_destroy(vknmt_seq *seq);
vknmt_status vknmt_seq_begin(vknmt_seq *seq);
vknmt_status vknmt_seq_submit(vknmt_seq *seq);
/* Between begin and submit. */
bool vknmt_seq_recording(const vknmt_seq *seq);
/* Named GPU-timed regions (need caps.timestamps); read after submit. */
vknmt_status vknmt_seq_region_begin(vknmt_seq *seq, const char *name);
vknmt_status vknmt_seq_region_end(vknmt_seq *seq);
/* Milliseconds of the named region(s) in the last submitted run; < 0 if none. */
double vknmt_seq_region_ms(const vknmt_seq *seq, const char *name);

typedef struct vknmt_seq_stats {
    uint32_t dispatches; /* recorded since begin */
    uint32_t barriers;   /* placed since begin */
    uint32_t fills;      /* buffer fills (transfer commands) recorded since begin */
} vknmt_seq_stats;
vknmt_seq_stats vknmt_seq_stats_get(const vknmt_seq *seq);

/* ------------------------------------------------------------------- ops
 * All ops record into a sequence in the recording state. Tensors are
 * row-major fp32. Every op checks shapes against the buffers and the
 * device limits and returns VKNMT_ERR_* without recording on a bad call. */

typedef enum vknmt_act {
    VKNMT_ACT_NONE = 0,
    VKNMT_ACT_TANH = 1,
    VKNMT_ACT_SIGMOID = 2,
    VKNMT_ACT_RELU = 3,
} vknmt_act;

/* C[M,N] = act(alpha * op(A) op(B) + beta * C + bias[N]).
 * op(A) is A[M,K] (lda) or, with trans_a, A stored [K,M]; op(B) is B[K,N]
 * (ldb) or, with trans_b, B stored [N,K]: the W[out,in] of y = x W^T.
 * beta == 0 never reads C. bias.buf NULL means no bias. lda/ldb/ldc of 0
 * mean "packed" (the row length). */
typedef struct vknmt_gemm_args {
    uint32_t m, n, k;
    bool trans_a, trans_b;
    float alpha, beta;
    vknmt_ref a, b, c, bias;
    uint32_t lda, ldb, ldc;
    vknmt_act act;
    /* With c_in.buf set, beta scales c_in [m, n] (rows ldc_in apart, 0:
     * n), which must not overlap C, instead of C's old values. */
    vknmt_ref c_in;
    uint32_t ldc_in;
    /* A batch of `batch` GEMMs of this shape in one dispatch (0 or 1: one):
     * GEMM z reads A and B and writes C starting z * stride_a, stride_b,
     * stride_c elements after a, b and c (the bias is shared). No two of
     * them may write the same element of C: each C is a block (stride_c at
     * least its extent) or a row of an interleaving (stride_c >= n, ldc at
     * least (batch - 1) * stride_c + n). Not with c_in. */
    uint32_t batch;
    uint32_t stride_a, stride_b, stride_c;
    /* B (x W^T's W, [n, k]) is in the few-rows panel layout that
     * vknmt_panel_rows writes (ldb ignored): only where the product is a
     * few-rows dispatch (CPU devices, at most 12 rows); elsewhere
     * VKNMT_ERR_UNSUPPORTED. The same bits as W in rows. */
    bool b_panels;
} vknmt_gemm_args;
vknmt_status vknmt_gemm(vknmt_seq *seq, const vknmt_gemm_args *args);

/* The few-rows GEMM's panel layout of W [n, k] (rows ldw apart): rows in
 * panels of vknmt_panel_height, stored so that a subgroup's fetch of a quad
 * of k for all its columns reads adjacent memory (runtime/ops_panel.c).
 * vknmt_panel_floats: the floats it takes (0 on devices without the
 * few-rows GEMM, whose height is 0); vknmt_panel_rows writes it there
 * (starting on a quad, as the GEMM reads it). */
uint32_t vknmt_panel_height(const vknmt_context *ctx);
uint64_t vknmt_panel_floats(const vknmt_context *ctx, uint32_t n, uint32_t k);
vknmt_status vknmt_panel_rows(vknmt_seq *seq, vknmt_ref w, uint32_t ldw, uint32_t n, uint32_t k, vknmt_ref panels);

/* count (1-3) products summed into one C, as args[0]'s GEMM followed by a
 * GEMM with beta 1 for each next product: C = alpha op(A_i) op(B_i) + C.
 * args[i > 0] give a, b, k, trans_a, trans_b, lda, ldb; their other fields
 * are args[0]'s. With count > 1, act must be none. On CPU devices x W^T of
 * at most 12 rows is one dispatch (the few-rows GEMM), elsewhere `count`
 * GEMMs: the same bits either way. A given product (args[i > 0] with b.buf
 * NULL: a holds A_i B_i itself, [m, n], rows lda apart (0: n), on quads) is
 * added as the product would be; only in that one dispatch (elsewhere
 * VKNMT_ERR_UNSUPPORTED): decoding reads a word's product from a table. */
vknmt_status vknmt_gemm_sum(vknmt_seq *seq, uint32_t count, const vknmt_gemm_args *args);

/* The same sum (act none) in the same dispatch, written not to C but as the
 * maximum of each pair of its columns: out[m, j] = max(C[m, 2j], C[m, 2j+1])
 * (the first when equal), out rows ldo apart (0: n / 2). With side (NULL:
 * none), a second GEMM of the sum's first A in the same dispatch:
 * side->c = side->a side->b^T (x W^T; a, m, k and lda those of args[0];
 * alpha 1, beta 0, no bias or activation), the bits vknmt_gemm gives; beta
 * must then scale c_in, not C. Only where vknmt_gemm_sum takes one dispatch,
 * n is even and the side's B is on quads; elsewhere it records nothing and
 * leaves *ran false, and the caller sums, takes the maximum and runs the
 * side GEMM itself. */
vknmt_status vknmt_gemm_sum_pairmax(vknmt_seq *seq, uint32_t count, const vknmt_gemm_args *args, vknmt_ref out,
                                    uint32_t ldo, const vknmt_gemm_args *side, bool *ran);

/* One GEMM (act none) that also writes its rows' softmax block statistics
 * (vknmt_softmax_blocks) to stats, in the same dispatch: the same bits as
 * the GEMM followed by vknmt_softmax_blocks. Only where the few-rows GEMM
 * serves (CPU devices, at most 12 rows of x W^T on quads); elsewhere it
 * records nothing and leaves *ran false. */
vknmt_status vknmt_gemm_softmax_blocks(vknmt_seq *seq, const vknmt_gemm_args *g, vknmt_ref stats, bool *ran);

/* Elementwise ops over n floats; buffers larger than the device's storage
 * range are processed in windows. */
/* y[i] = value, i < n */
vknmt_status vknmt_fill(vknmt_seq *seq, vknmt_ref y, uint64_t n, float value);
/* y[i] = x[i] */
vknmt_status vknmt_copy(vknmt_seq *seq, vknmt_ref x, vknmt_ref y, uint64_t n);
/* y[i] = alpha * y[i] */
vknmt_status vknmt_scale(vknmt_seq *seq, vknmt_ref y, uint64_t n, float alpha);
/* y[i] = alpha * x[i] + y[i] */
vknmt_status vknmt_axpy(vknmt_seq *seq, float alpha, vknmt_ref x, vknmt_ref y, uint64_t n);

/* y[r * ldy + c] = x[r * ldx + c] for r < rows, c < cols (ldx 0 repeats
 * one row of x); x and y must not overlap. */
vknmt_status vknmt_copy2d(vknmt_seq *seq, vknmt_ref x, uint32_t ldx, vknmt_ref y, uint32_t ldy, uint32_t rows,
                          uint32_t cols);

/* Row softmax of x[rows, cols] into y (may alias x). With lengths.buf set
 * (uint32 per row, read from that buffer), row r uses its first
 * min(lengths[r], cols) columns and writes 0 to the rest; a row of length 0
 * is all zeros. */
vknmt_status vknmt_softmax_rows(vknmt_seq *seq, vknmt_ref x, vknmt_ref y, uint32_t rows,
                                uint32_t cols, vknmt_ref lengths);

/* Softmax statistics of row blocks, for a log-sum-exp and a top-k that
 * need not read a whole row again: a block is 2L adjacent columns (L =
 * vknmt_softmax_block_lanes, the device's subgroup on CPU devices, so a
 * GEMM's epilogue can form them: vknmt_gemm_softmax_blocks), row r's
 * nblk = vknmt_softmax_block_count(cols) blocks; stats [rows, 2 nblk]:
 * block k's maximum m and sum of exp(x - m) over its columns (those < cols)
 * at 2k, 2k + 1, summed in a fixed pairwise order (shaders/softmax_blocks.glsl).
 * x rows ldx >= cols floats apart. */
uint32_t vknmt_softmax_block_lanes(const vknmt_context *ctx);
uint32_t vknmt_softmax_block_count(const vknmt_context *ctx, uint32_t cols);
vknmt_status vknmt_softmax_blocks(vknmt_seq *seq, uint32_t rows, uint32_t cols, vknmt_ref x, uint32_t ldx,
                                  vknmt_ref stats);

/* out[0] = sum x[i] and out[0] = sqrt(sum x[i]^2), i < n, in a fixed order:
 * the same input gives the same bits every run (no float atomics). `scratch`
 * needs vknmt_reduce_scratch_elems(n) floats. */
uint64_t vknmt_reduce_scratch_elems(uint64_t n);
vknmt_status vknmt_sum(vknmt_seq *seq, vknmt_ref x, uint64_t n, vknmt_ref out, vknmt_ref scratch);
vknmt_status vknmt_norm2(vknmt_seq *seq, vknmt_ref x, uint64_t n, vknmt_ref out, vknmt_ref scratch);

/* The device's fp32 multiply-add rate as its compiler builds it: invocation
 * i < n runs VKNMT_MADD_CHAINS chains x <- x * a + b, chain c from
 * x = (i % 1024) / 1024 + c / 32, `iters` steps in registers, and writes the
 * sum of its chains (in chain order, pairs first) to y[i]:
 * 2 * VKNMT_MADD_CHAINS * iters flops an invocation. On lavapipe, which
 * emits no fused multiply-add, the ceiling of every kernel (vknmt bench gemm). */
enum { VKNMT_MADD_CHAINS = 24 };
vknmt_status vknmt_madd_chains(vknmt_seq *seq, vknmt_ref y, uint32_t n, uint32_t iters, float a, float b);

#endif
