/* Runtime internals shared by the files of runtime/. Not for model code. */
#ifndef VKNMT_INTERNAL_H
#define VKNMT_INTERNAL_H

#include <volk.h>

#include "vknmt_kernel.h"
#include "vknmt_runtime.h"

/* Records the message on `err` (size `n`) and returns `status`. */
vknmt_status vknmt_fail(char *err, size_t n, vknmt_status status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define CTX_FAIL(ctx, status, ...) vknmt_fail((ctx)->err, sizeof((ctx)->err), (status), __VA_ARGS__)
/* Maps a failed VkResult to a status, naming the call that failed. */
vknmt_status vknmt_vk_fail(char *err, size_t n, VkResult r, const char *call);
#define CTX_VK(ctx, r, call) vknmt_vk_fail((ctx)->err, sizeof((ctx)->err), (r), (call))
const char *vknmt_vk_result_name(VkResult r);
/* ASan builds: keeps every loaded library (the driver) mapped until exit; see sanitizer_pin.c. */
void vknmt_pin_loaded_libraries(void);
/* vknmt_instance_options.cpu_inline: LP_NUM_THREADS=0 unless the user set
 * it (lavapipe reads it when it enumerates its device); false if setenv fails. */
bool vknmt_cpu_inline_env(void);

/* ------------------------------------------------------------ instance */

struct vknmt_instance {
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger; /* VK_NULL_HANDLE without validation */
    bool validation;
    uint32_t device_count;
    VkPhysicalDevice *physical;         /* owned, device_count entries */
    vknmt_device_info *infos;           /* owned, device_count entries */
    uint32_t validation_count;
    char validation_last[1024];
    char err[1024];
};

bool vknmt_device_has_extension(VkPhysicalDevice phys, const char *name);

/* Grows *arr (of *cap elements of `size` bytes) so it holds count + 1. */
bool vknmt_grow(void **arr, uint32_t *cap, uint32_t count, size_t size);
/* Ends `cmd`, submits it with `fence`, waits, and resets the fence. */
vknmt_status vknmt_submit_wait(vknmt_context *ctx, VkCommandBuffer cmd, VkFence fence);

/* --------------------------------------------------------------- memory */

typedef struct vknmt_span {
    uint64_t off, size;
} vknmt_span;

typedef struct vknmt_block {
    VkDeviceMemory memory;
    uint64_t size;
    uint8_t *mapped;    /* persistent mapping, NULL when not host-visible */
    vknmt_span *free;   /* owned: free ranges sorted by offset */
    uint32_t free_count, free_cap;
    uint64_t used;
    bool dedicated;     /* made for one oversized request; freed when empty */
} vknmt_block;

typedef struct vknmt_mem_slot {
    vknmt_block *block; /* borrowed from the context's block list */
    uint64_t off, size;
} vknmt_mem_slot;

vknmt_status vknmt_mem_alloc(vknmt_context *ctx, const VkMemoryRequirements *req, vknmt_mem_slot *out);
void vknmt_mem_free(vknmt_context *ctx, vknmt_mem_slot *slot);
void vknmt_mem_destroy_all(vknmt_context *ctx);

/* -------------------------------------------------------------- buffers */

typedef struct vknmt_texel_view {
    VkBufferView view;
    VkFormat format;
    uint64_t off, range; /* bytes */
} vknmt_texel_view;

struct vknmt_buffer {
    vknmt_context *ctx;      /* borrowed */
    VkBuffer buffer;
    uint64_t size;           /* as asked for */
    uint64_t vk_size;        /* rounded up to 16 bytes for texel views */
    vknmt_mem_slot slot;
    uint8_t *mapped;         /* into the block's mapping, or NULL */
    vknmt_texel_view *views; /* owned cache of texel views */
    uint32_t view_count, view_cap;
};

/* `count` floats (at least one) at ref lie inside ref's buffer, which is of
 * this context; else the error, recorded on the context. */
vknmt_status vknmt_region_check(vknmt_context *ctx, vknmt_ref ref, uint64_t count);
vknmt_status vknmt_buffer_texel_view(vknmt_buffer *buf, VkFormat format, uint64_t off,
                                     uint64_t range, VkBufferView *out);

/* ------------------------------------------------------------ pipelines */

typedef struct vknmt_pipeline {
    uint32_t spec[VKNMT_MAX_SPEC];
    VkPipeline pipeline;
    struct vknmt_pipeline *next; /* owned */
} vknmt_pipeline;

typedef struct vknmt_kernel_state {
    const vknmt_kernel_desc *desc;
    VkDescriptorSetLayout set_layout;
    VkPipelineLayout layout;
    vknmt_pipeline *variants; /* owned list */
    double gpu_ms;            /* profiling totals */
    uint64_t calls;
} vknmt_kernel_state;

/* The state of kernel `k` in this context, made on first use. */
vknmt_status vknmt_kernel_state_get(vknmt_context *ctx, const vknmt_kernel_desc *k, vknmt_kernel_state **out);
vknmt_status vknmt_pipeline_get(vknmt_context *ctx, vknmt_kernel_state *ks, const uint32_t *spec,
                                VkPipeline *pipeline);
vknmt_status vknmt_pipeline_cache_open(vknmt_context *ctx, const char *dir);
void vknmt_pipelines_destroy(vknmt_context *ctx);

/* -------------------------------------------------------------- context */

struct vknmt_context {
    vknmt_instance *inst; /* borrowed */
    VkPhysicalDevice phys;
    VkDevice device;
    VkQueue queue;
    uint32_t queue_family;
    vknmt_caps caps;

    /* memory */
    uint32_t memory_type;
    uint64_t heap_bytes;
    uint64_t block_bytes;
    vknmt_block **blocks; /* owned */
    uint32_t block_count, block_cap;
    uint64_t held_bytes, peak_bytes;

    /* host transfers when memory is not host-visible */
    VkCommandPool xfer_pool;
    VkCommandBuffer xfer_cmd;
    VkFence xfer_fence;
    VkBuffer staging;
    VkDeviceMemory staging_memory;
    uint8_t *staging_mapped;
    uint64_t staging_bytes;

    /* pipelines */
    VkPipelineCache pipeline_cache;
    char cache_path[1024]; /* "" when not persisted */
    size_t cache_loaded_bytes;
    vknmt_kernel_state *kernels; /* owned: every kernel used so far */
    uint32_t kernel_count, kernel_cap;

    bool profile;
    char err[1024];
};

vknmt_status vknmt_caps_read(vknmt_context *ctx);

#endif
