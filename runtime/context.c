/* A context: one logical device with its queue, memory and pipelines. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Small enough that a mostly empty block costs little beside the big
 * dedicated buffers (the paper preset's worst batch fits lavapipe's 2 GiB
 * heap by 28 MiB with 64 MiB blocks, not with 256), big enough that the
 * allocation count stays far below any driver's limit. */
#define DEFAULT_BLOCK_BYTES (64ull << 20)
#define FENCE_TIMEOUT_NS (600ull * 1000 * 1000 * 1000)

bool vknmt_grow(void **arr, uint32_t *cap, uint32_t count, size_t size)
{
    if (count < *cap)
        return true;
    uint32_t n = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, n * size);
    if (!p)
        return false;
    *arr = p;
    *cap = n;
    return true;
}

vknmt_status vknmt_submit_wait(vknmt_context *ctx, VkCommandBuffer cmd, VkFence fence)
{
    VkResult r = vkEndCommandBuffer(cmd);
    if (r != VK_SUCCESS)
        return CTX_VK(ctx, r, "vkEndCommandBuffer");
    VkSubmitInfo si = {.sType = VK_STRUCTURE_TYPE_SUBMIT_INFO, .commandBufferCount = 1, .pCommandBuffers = &cmd};
    r = vkQueueSubmit(ctx->queue, 1, &si, fence);
    if (r != VK_SUCCESS)
        return CTX_VK(ctx, r, "vkQueueSubmit");
    /* A bounded wait: a hung device becomes an error, not a hang. */
    r = vkWaitForFences(ctx->device, 1, &fence, VK_TRUE, FENCE_TIMEOUT_NS);
    if (r != VK_SUCCESS)
        return CTX_VK(ctx, r, "vkWaitForFences");
    r = vkResetFences(ctx->device, 1, &fence);
    if (r != VK_SUCCESS)
        return CTX_VK(ctx, r, "vkResetFences");
    return VKNMT_OK;
}

static bool find_compute_queue(VkPhysicalDevice phys, uint32_t *family)
{
    uint32_t n = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(phys, &n, NULL);
    VkQueueFamilyProperties *qf = calloc(n ? n : 1, sizeof(*qf));
    if (!qf)
        return false;
    vkGetPhysicalDeviceQueueFamilyProperties(phys, &n, qf);
    bool found = false;
    for (uint32_t i = 0; i < n && !found; i++)
        if (qf[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
            *family = i;
            found = true;
        }
    free(qf);
    return found;
}

/* Unified-memory devices (CPUs, integrated and mobile GPUs) have a memory
 * type that is both device-local and host-visible covering their main heap:
 * use it and map blocks directly. Elsewhere use plain device-local memory
 * and stage transfers. */
static vknmt_status choose_memory_type(vknmt_context *ctx)
{
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(ctx->phys, &mp);
    const VkMemoryPropertyFlags local = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    const VkMemoryPropertyFlags host = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    int best_local = -1, best_unified = -1;
    for (uint32_t i = 0; i < mp.memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = mp.memoryTypes[i].propertyFlags;
        uint64_t heap = mp.memoryHeaps[mp.memoryTypes[i].heapIndex].size;
        if ((f & local) != local)
            continue;
        if (best_local < 0 || heap > mp.memoryHeaps[mp.memoryTypes[best_local].heapIndex].size)
            best_local = (int)i;
        if ((f & host) == host &&
            (best_unified < 0 || heap > mp.memoryHeaps[mp.memoryTypes[best_unified].heapIndex].size))
            best_unified = (int)i;
    }
    if (best_local < 0)
        return CTX_FAIL(ctx, VKNMT_ERR_UNSUPPORTED, "the device has no device-local memory type");
    uint64_t local_heap = mp.memoryHeaps[mp.memoryTypes[best_local].heapIndex].size;
    /* A small host-visible window (e.g. 256 MiB BAR on a discrete GPU) is no
     * unified memory: require it to be the device's largest local heap. */
    if (best_unified >= 0 && mp.memoryHeaps[mp.memoryTypes[best_unified].heapIndex].size >= local_heap) {
        ctx->memory_type = (uint32_t)best_unified;
        ctx->caps.unified_memory = true;
    } else {
        ctx->memory_type = (uint32_t)best_local;
        ctx->caps.unified_memory = false;
    }
    ctx->heap_bytes = mp.memoryHeaps[mp.memoryTypes[ctx->memory_type].heapIndex].size;
    return VKNMT_OK;
}

static vknmt_status create_device(vknmt_context *ctx)
{
    float priority = 1.0f;
    VkDeviceQueueCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
                                   .queueFamilyIndex = ctx->queue_family,
                                   .queueCount = 1,
                                   .pQueuePriorities = &priority};
    const char *exts[2];
    uint32_t ext_count = 0;
    bool v12 = ctx->caps.info.api_version >= VK_API_VERSION_1_2;
    bool f16_ext = !v12 && vknmt_device_has_extension(ctx->phys, VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME);
    if (f16_ext)
        exts[ext_count++] = VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME;
    if (vknmt_device_has_extension(ctx->phys, "VK_KHR_portability_subset"))
        exts[ext_count++] = "VK_KHR_portability_subset";

    VkPhysicalDeviceShaderFloat16Int8Features f16 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES,
        .shaderFloat16 = ctx->caps.fp16,
        .shaderInt8 = ctx->caps.int8};
    VkPhysicalDeviceFeatures2 feats = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    if ((v12 || f16_ext) && (ctx->caps.fp16 || ctx->caps.int8))
        feats.pNext = &f16;
    else
        ctx->caps.fp16 = ctx->caps.int8 = false;

    VkDeviceCreateInfo dci = {.sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
                              .pNext = &feats,
                              .queueCreateInfoCount = 1,
                              .pQueueCreateInfos = &qci,
                              .enabledExtensionCount = ext_count,
                              .ppEnabledExtensionNames = exts};
    VkResult r = vkCreateDevice(ctx->phys, &dci, NULL, &ctx->device);
    if (r != VK_SUCCESS)
        return CTX_VK(ctx, r, "vkCreateDevice");
    volkLoadDevice(ctx->device);
    vkGetDeviceQueue(ctx->device, ctx->queue_family, 0, &ctx->queue);

    VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                   .queueFamilyIndex = ctx->queue_family};
    r = vkCreateCommandPool(ctx->device, &pci, NULL, &ctx->xfer_pool);
    if (r != VK_SUCCESS)
        return CTX_VK(ctx, r, "vkCreateCommandPool");
    VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                       .commandPool = ctx->xfer_pool,
                                       .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                       .commandBufferCount = 1};
    r = vkAllocateCommandBuffers(ctx->device, &cai, &ctx->xfer_cmd);
    if (r != VK_SUCCESS)
        return CTX_VK(ctx, r, "vkAllocateCommandBuffers");
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    r = vkCreateFence(ctx->device, &fci, NULL, &ctx->xfer_fence);
    if (r != VK_SUCCESS)
        return CTX_VK(ctx, r, "vkCreateFence");
    return VKNMT_OK;
}

vknmt_status vknmt_context_create(vknmt_instance *inst, uint32_t device_index,
                                  const vknmt_context_options *options, vknmt_context **out)
{
    *out = NULL;
    if (device_index >= inst->device_count)
        return vknmt_fail(inst->err, sizeof(inst->err), VKNMT_ERR_NO_DEVICE,
                          "device %u does not exist (there are %u)", device_index, inst->device_count);
    vknmt_context *ctx = calloc(1, sizeof(*ctx));
    if (!ctx)
        return VKNMT_ERR_OOM_HOST;
    *out = ctx; /* the caller reads the message from it even on failure */
    ctx->inst = inst;
    ctx->phys = inst->physical[device_index];
    ctx->caps.info = inst->infos[device_index];
    const char *prof = getenv("VKNMT_PROFILE");
    ctx->profile = (options && options->profile) || (prof && *prof && strcmp(prof, "0") != 0);
    ctx->block_bytes = options && options->block_bytes ? options->block_bytes : DEFAULT_BLOCK_BYTES;

    if (!find_compute_queue(ctx->phys, &ctx->queue_family))
        return CTX_FAIL(ctx, VKNMT_ERR_UNSUPPORTED, "device '%s' has no compute queue", ctx->caps.info.name);
    vknmt_status s = vknmt_caps_read(ctx);
    if (s)
        return s;
    if (!ctx->caps.timestamps)
        ctx->profile = false;
    if ((s = choose_memory_type(ctx)) || (s = create_device(ctx)))
        return s;
    if (ctx->block_bytes > ctx->caps.max_allocation_bytes)
        ctx->block_bytes = ctx->caps.max_allocation_bytes;
    return vknmt_pipeline_cache_open(ctx, options ? options->cache_dir : NULL);
}

void vknmt_context_destroy(vknmt_context *ctx)
{
    if (!ctx)
        return;
    if (ctx->device) {
        vkDeviceWaitIdle(ctx->device);
        vknmt_pipelines_destroy(ctx);
        if (ctx->staging)
            vkDestroyBuffer(ctx->device, ctx->staging, NULL);
        if (ctx->staging_memory)
            vkFreeMemory(ctx->device, ctx->staging_memory, NULL);
        if (ctx->xfer_fence)
            vkDestroyFence(ctx->device, ctx->xfer_fence, NULL);
        if (ctx->xfer_pool)
            vkDestroyCommandPool(ctx->device, ctx->xfer_pool, NULL);
        vknmt_mem_destroy_all(ctx);
        vkDestroyDevice(ctx->device, NULL);
    }
    free(ctx);
}

const char *vknmt_context_errmsg(const vknmt_context *ctx) { return ctx ? ctx->err : "out of host memory"; }
const vknmt_caps *vknmt_context_caps(const vknmt_context *ctx) { return &ctx->caps; }
uint64_t vknmt_context_memory_bytes(const vknmt_context *ctx) { return ctx->held_bytes; }
uint64_t vknmt_context_memory_peak_bytes(const vknmt_context *ctx) { return ctx->peak_bytes; }
uint32_t vknmt_context_allocation_count(const vknmt_context *ctx) { return ctx->block_count; }

void vknmt_context_profile_report(const vknmt_context *ctx, FILE *out)
{
    if (!ctx->profile)
        return;
    double total = 0;
    for (uint32_t k = 0; k < ctx->kernel_count; k++)
        total += ctx->kernels[k].gpu_ms;
    fprintf(out, "%-24s %10s %12s %10s %7s\n", "kernel", "calls", "total ms", "mean us", "share");
    for (uint32_t k = 0; k < ctx->kernel_count; k++) {
        const vknmt_kernel_state *ks = &ctx->kernels[k];
        if (!ks->calls)
            continue;
        fprintf(out, "%-24s %10llu %12.3f %10.1f %6.1f%%\n", ks->desc->name,
                (unsigned long long)ks->calls, ks->gpu_ms, 1000.0 * ks->gpu_ms / (double)ks->calls,
                total > 0 ? 100.0 * ks->gpu_ms / total : 0.0);
    }
    fprintf(out, "%-24s %10s %12.3f\n", "total", "", total);
}
