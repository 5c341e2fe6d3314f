/* The capabilities struct: limits, optional features and quirks, read once. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* True when `name` is listed in VKNMT_DISABLE (comma separated). */
static bool disabled(const char *name)
{
    const char *list = getenv("VKNMT_DISABLE");
    if (!list)
        return false;
    size_t n = strlen(name);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, name, n) == 0)
            return true;
        if (!end)
            break;
        p = end + 1;
    }
    return false;
}

static bool texel_format_ok(VkPhysicalDevice phys, VkFormat f)
{
    VkFormatProperties fp;
    vkGetPhysicalDeviceFormatProperties(phys, f, &fp);
    return fp.bufferFeatures & VK_FORMAT_FEATURE_UNIFORM_TEXEL_BUFFER_BIT;
}

vknmt_status vknmt_caps_read(vknmt_context *ctx)
{
    vknmt_caps *c = &ctx->caps;
    VkPhysicalDeviceSubgroupProperties sg = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &sg};
    vkGetPhysicalDeviceProperties2(ctx->phys, &p2);
    const VkPhysicalDeviceLimits *lim = &p2.properties.limits;

    c->subgroup_size = sg.subgroupSize;
    bool sg_compute = (sg.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) && !disabled("subgroup");
    c->subgroup_basic = sg_compute && (sg.supportedOperations & VK_SUBGROUP_FEATURE_BASIC_BIT);
    c->subgroup_arith = sg_compute && (sg.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
    c->subgroup_shuffle = sg_compute && (sg.supportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT) &&
                          (sg.supportedOperations & VK_SUBGROUP_FEATURE_BALLOT_BIT);
    c->fp16 = c->info.fp16 && !disabled("fp16");
    c->int8 = c->info.int8 && !disabled("int8");
    c->texel_buffers = texel_format_ok(ctx->phys, VK_FORMAT_R32_SFLOAT) &&
                       texel_format_ok(ctx->phys, VK_FORMAT_R32G32B32A32_SFLOAT) &&
                       !disabled("texel");

    uint32_t nq = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(ctx->phys, &nq, NULL);
    VkQueueFamilyProperties *qf = calloc(nq, sizeof(*qf));
    if (!qf)
        return VKNMT_ERR_OOM_HOST;
    vkGetPhysicalDeviceQueueFamilyProperties(ctx->phys, &nq, qf);
    c->timestamps = ctx->queue_family < nq && qf[ctx->queue_family].timestampValidBits > 0 &&
                    !disabled("timestamps");
    free(qf);
    c->timestamp_ns = lim->timestampPeriod;

    c->max_storage_buffer_range = lim->maxStorageBufferRange;
    c->max_texel_buffer_elements = lim->maxTexelBufferElements;
    c->max_allocation_count = lim->maxMemoryAllocationCount;
    c->min_storage_offset_align = lim->minStorageBufferOffsetAlignment;
    c->min_texel_offset_align = lim->minTexelBufferOffsetAlignment;
    c->max_workgroup_invocations = lim->maxComputeWorkGroupInvocations;
    c->max_shared_memory_bytes = lim->maxComputeSharedMemorySize;
    c->max_storage_buffers = lim->maxPerStageDescriptorStorageBuffers;
    c->max_texel_buffers = lim->maxPerStageDescriptorSampledImages;

    VkPhysicalDeviceMaintenance3Properties m3 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceProperties2 p3 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &m3};
    vkGetPhysicalDeviceProperties2(ctx->phys, &p3);
    c->max_allocation_bytes = m3.maxMemoryAllocationSize;

    /* Every CPU-type device we know of (lavapipe, SwiftShader) maps lanes to
     * SIMD registers; the quirk is keyed on the type, never on a vendor ID. */
    c->quirk_cpu_lanes = c->info.type == VKNMT_DEVICE_CPU;
    return VKNMT_OK;
}
