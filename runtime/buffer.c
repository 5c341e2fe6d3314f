/* Device buffers, host transfers and texel views. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define STAGING_CHUNK (64ull << 20)

vknmt_status vknmt_buffer_create(vknmt_context *ctx, uint64_t bytes, vknmt_buffer **out)
{
    *out = NULL;
    if (bytes == 0)
        return CTX_FAIL(ctx, VKNMT_ERR_USAGE, "buffer of 0 bytes");
    vknmt_buffer *buf = calloc(1, sizeof(*buf));
    if (!buf)
        return VKNMT_ERR_OOM_HOST;
    buf->ctx = ctx;
    buf->size = bytes;
    /* Texel views cover whole RGBA32F texels: round up so a view of the
     * buffer's tail stays inside the VkBuffer. */
    buf->vk_size = (bytes + 15) / 16 * 16;
    VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                              .size = buf->vk_size,
                              .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT |
                                       VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                                       VK_BUFFER_USAGE_TRANSFER_DST_BIT |
                                       (ctx->caps.texel_buffers ? VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT : 0),
                              .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkResult r = vkCreateBuffer(ctx->device, &bci, NULL, &buf->buffer);
    if (r != VK_SUCCESS) {
        free(buf);
        return CTX_VK(ctx, r, "vkCreateBuffer");
    }
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(ctx->device, buf->buffer, &req);
    vknmt_status s = vknmt_mem_alloc(ctx, &req, &buf->slot);
    if (s)
        goto fail_buffer;
    r = vkBindBufferMemory(ctx->device, buf->buffer, buf->slot.block->memory, buf->slot.off);
    if (r != VK_SUCCESS) {
        s = CTX_VK(ctx, r, "vkBindBufferMemory");
        goto fail_memory;
    }
    if (buf->slot.block->mapped)
        buf->mapped = buf->slot.block->mapped + buf->slot.off;
    *out = buf;
    return VKNMT_OK;

fail_memory:
    vknmt_mem_free(ctx, &buf->slot);
fail_buffer:
    vkDestroyBuffer(ctx->device, buf->buffer, NULL);
    free(buf);
    return s;
}

void vknmt_buffer_destroy(vknmt_buffer *buf)
{
    if (!buf)
        return;
    vknmt_context *ctx = buf->ctx;
    for (uint32_t i = 0; i < buf->view_count; i++)
        vkDestroyBufferView(ctx->device, buf->views[i].view, NULL);
    free(buf->views);
    vkDestroyBuffer(ctx->device, buf->buffer, NULL);
    vknmt_mem_free(ctx, &buf->slot);
    free(buf);
}

uint64_t vknmt_buffer_size(const vknmt_buffer *buf) { return buf->size; }

static vknmt_status ensure_staging(vknmt_context *ctx, uint64_t bytes)
{
    if (ctx->staging_bytes >= bytes)
        return VKNMT_OK;
    if (ctx->staging) {
        vkDestroyBuffer(ctx->device, ctx->staging, NULL);
        vkFreeMemory(ctx->device, ctx->staging_memory, NULL);
        ctx->staging = VK_NULL_HANDLE;
        ctx->staging_memory = VK_NULL_HANDLE;
        ctx->staging_bytes = 0;
    }
    VkBufferCreateInfo bci = {.sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
                              .size = bytes,
                              .usage = VK_BUFFER_USAGE_TRANSFER_SRC_BIT | VK_BUFFER_USAGE_TRANSFER_DST_BIT,
                              .sharingMode = VK_SHARING_MODE_EXCLUSIVE};
    VkResult r = vkCreateBuffer(ctx->device, &bci, NULL, &ctx->staging);
    if (r != VK_SUCCESS)
        return CTX_VK(ctx, r, "vkCreateBuffer (staging)");
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(ctx->device, ctx->staging, &req);
    VkPhysicalDeviceMemoryProperties mp;
    vkGetPhysicalDeviceMemoryProperties(ctx->phys, &mp);
    const VkMemoryPropertyFlags want = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT | VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    uint32_t type = UINT32_MAX;
    for (uint32_t i = 0; i < mp.memoryTypeCount && type == UINT32_MAX; i++)
        if ((req.memoryTypeBits & (1u << i)) && (mp.memoryTypes[i].propertyFlags & want) == want)
            type = i;
    if (type == UINT32_MAX)
        return CTX_FAIL(ctx, VKNMT_ERR_UNSUPPORTED, "no host-visible memory for staging");
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                               .allocationSize = req.size,
                               .memoryTypeIndex = type};
    r = vkAllocateMemory(ctx->device, &ai, NULL, &ctx->staging_memory);
    if (r == VK_SUCCESS)
        r = vkBindBufferMemory(ctx->device, ctx->staging, ctx->staging_memory, 0);
    void *p = NULL;
    if (r == VK_SUCCESS)
        r = vkMapMemory(ctx->device, ctx->staging_memory, 0, VK_WHOLE_SIZE, 0, &p);
    if (r != VK_SUCCESS)
        return CTX_VK(ctx, r, "staging memory");
    ctx->staging_mapped = p;
    ctx->staging_bytes = bytes;
    return VKNMT_OK;
}

/* One copy between the staging buffer and `buf`, waited for. */
static vknmt_status staged_copy(vknmt_context *ctx, const vknmt_buffer *buf, uint64_t off, uint64_t bytes,
                                bool to_device)
{
    VkResult r = vkResetCommandBuffer(ctx->xfer_cmd, 0);
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    if (r == VK_SUCCESS)
        r = vkBeginCommandBuffer(ctx->xfer_cmd, &bi);
    if (r != VK_SUCCESS)
        return CTX_VK(ctx, r, "vkBeginCommandBuffer (transfer)");
    VkBufferCopy region = {.srcOffset = to_device ? 0 : off, .dstOffset = to_device ? off : 0, .size = bytes};
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT};
    vkCmdPipelineBarrier(ctx->xfer_cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &mb, 0, NULL, 0, NULL);
    if (to_device)
        vkCmdCopyBuffer(ctx->xfer_cmd, ctx->staging, buf->buffer, 1, &region);
    else
        vkCmdCopyBuffer(ctx->xfer_cmd, buf->buffer, ctx->staging, 1, &region);
    VkMemoryBarrier hb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_SHADER_READ_BIT};
    vkCmdPipelineBarrier(ctx->xfer_cmd, VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &hb, 0, NULL,
                         0, NULL);
    return vknmt_submit_wait(ctx, ctx->xfer_cmd, ctx->xfer_fence);
}

static vknmt_status check_range(const vknmt_buffer *buf, uint64_t off, uint64_t bytes, const char *what)
{
    if (off > buf->size || bytes > buf->size - off)
        return CTX_FAIL(buf->ctx, VKNMT_ERR_RANGE, "%s of %llu bytes at offset %llu: buffer holds %llu", what,
                        (unsigned long long)bytes, (unsigned long long)off, (unsigned long long)buf->size);
    return VKNMT_OK;
}

vknmt_status vknmt_buffer_upload(vknmt_buffer *buf, uint64_t off, const void *data, uint64_t bytes)
{
    vknmt_status s = check_range(buf, off, bytes, "upload");
    if (s || bytes == 0)
        return s;
    if (buf->mapped) {
        memcpy(buf->mapped + off, data, bytes);
        return VKNMT_OK;
    }
    vknmt_context *ctx = buf->ctx;
    for (uint64_t done = 0; done < bytes;) {
        uint64_t n = bytes - done < STAGING_CHUNK ? bytes - done : STAGING_CHUNK;
        if ((s = ensure_staging(ctx, n)))
            return s;
        memcpy(ctx->staging_mapped, (const uint8_t *)data + done, n);
        if ((s = staged_copy(ctx, buf, off + done, n, true)))
            return s;
        done += n;
    }
    return VKNMT_OK;
}

vknmt_status vknmt_buffer_download(const vknmt_buffer *buf, uint64_t off, void *data, uint64_t bytes)
{
    vknmt_status s = check_range(buf, off, bytes, "download");
    if (s || bytes == 0)
        return s;
    if (buf->mapped) {
        memcpy(data, buf->mapped + off, bytes);
        return VKNMT_OK;
    }
    vknmt_context *ctx = buf->ctx;
    for (uint64_t done = 0; done < bytes;) {
        uint64_t n = bytes - done < STAGING_CHUNK ? bytes - done : STAGING_CHUNK;
        if ((s = ensure_staging(ctx, n)) || (s = staged_copy(ctx, buf, off + done, n, false)))
            return s;
        memcpy((uint8_t *)data + done, ctx->staging_mapped, n);
        done += n;
    }
    return VKNMT_OK;
}

vknmt_status vknmt_buffer_texel_view(vknmt_buffer *buf, VkFormat format, uint64_t off, uint64_t range,
                                     VkBufferView *out)
{
    for (uint32_t i = 0; i < buf->view_count; i++) {
        const vknmt_texel_view *v = &buf->views[i];
        if (v->format == format && v->off == off && v->range == range) {
            *out = v->view;
            return VKNMT_OK;
        }
    }
    vknmt_context *ctx = buf->ctx;
    if (!vknmt_grow((void **)&buf->views, &buf->view_cap, buf->view_count, sizeof(*buf->views)))
        return VKNMT_ERR_OOM_HOST;
    VkBufferViewCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO,
                                 .buffer = buf->buffer,
                                 .format = format,
                                 .offset = off,
                                 .range = range};
    VkBufferView view;
    VkResult r = vkCreateBufferView(ctx->device, &ci, NULL, &view);
    if (r != VK_SUCCESS)
        return CTX_VK(ctx, r, "vkCreateBufferView");
    buf->views[buf->view_count++] = (vknmt_texel_view){view, format, off, range};
    *out = view;
    return VKNMT_OK;
}

vknmt_status vknmt_region_check(vknmt_context *ctx, vknmt_ref ref, uint64_t count)
{
    if (!ref.buf)
        return CTX_FAIL(ctx, VKNMT_ERR_USAGE, "missing buffer");
    if (ref.buf->ctx != ctx)
        return CTX_FAIL(ctx, VKNMT_ERR_USAGE, "buffer belongs to another context");
    uint64_t need = count ? count : 1;
    if (ref.off > ref.buf->size / 4 || need > ref.buf->size / 4 - ref.off)
        return CTX_FAIL(ctx, VKNMT_ERR_RANGE,
                        "region of %llu floats at float offset %llu lies outside a buffer of %llu floats",
                        (unsigned long long)need, (unsigned long long)ref.off,
                        (unsigned long long)(ref.buf->size / 4));
    return VKNMT_OK;
}

static uint64_t texel_bytes(vknmt_bind_type type) { return type == VKNMT_BIND_TEXEL_RGBA32F ? 16 : 4; }

static uint64_t texel_max_bytes(const vknmt_context *ctx, vknmt_bind_type type)
{
    return ctx->caps.max_texel_buffer_elements * texel_bytes(type);
}

/* The bytes a texel view of `count` floats at ref covers: the whole buffer
 * (one cached view) when the device allows a view that large, else a window
 * from the region's start aligned down. */
static void texel_window(const vknmt_context *ctx, vknmt_ref ref, uint64_t count, vknmt_bind_type type,
                         uint64_t *off, uint64_t *range)
{
    uint64_t texel = texel_bytes(type), first = ref.off * 4, end = (ref.off + count) * 4;
    uint64_t whole = ref.buf->vk_size / texel * texel;
    if (whole <= texel_max_bytes(ctx, type)) {
        *off = 0;
        *range = whole;
        return;
    }
    uint64_t a = ctx->caps.min_texel_offset_align;
    a = a % texel ? a * texel : a;
    *off = first / a * a;
    *range = (end - *off + texel - 1) / texel * texel;
}

bool vknmt_texel_view_fits(const vknmt_context *ctx, vknmt_ref ref, uint64_t count, vknmt_bind_type type)
{
    if (!ref.buf)
        return true; /* vknmt_bind reports it */
    uint64_t off, range;
    texel_window(ctx, ref, count ? count : 1, type, &off, &range);
    return range <= texel_max_bytes(ctx, type);
}

vknmt_status vknmt_bind(vknmt_context *ctx, vknmt_ref ref, uint64_t count, uint8_t access, vknmt_bind_type type,
                        vknmt_binding *b, uint32_t *elem_off)
{
    memset(b, 0, sizeof(*b));
    vknmt_status s = vknmt_region_check(ctx, ref, count);
    if (s)
        return s;
    uint64_t need = count ? count : 1;
    uint64_t first = ref.off * 4, end = (ref.off + need) * 4;
    b->buf = ref.buf;
    b->access = access;
    b->hz_off = first;
    b->hz_size = end - first;
    if (type == VKNMT_BIND_SSBO) {
        uint64_t a = ctx->caps.min_storage_offset_align;
        b->off = first / a * a;
        b->range = end - b->off;
        if (b->range > ctx->caps.max_storage_buffer_range)
            return CTX_FAIL(ctx, VKNMT_ERR_LIMIT,
                            "a storage region of %llu bytes exceeds the device's maxStorageBufferRange (%llu)",
                            (unsigned long long)b->range, (unsigned long long)ctx->caps.max_storage_buffer_range);
    } else {
        if (!ctx->caps.texel_buffers)
            return CTX_FAIL(ctx, VKNMT_ERR_UNSUPPORTED, "texel buffers are not available");
        b->format = type == VKNMT_BIND_TEXEL_RGBA32F ? VK_FORMAT_R32G32B32A32_SFLOAT : VK_FORMAT_R32_SFLOAT;
        texel_window(ctx, ref, need, type, &b->off, &b->range);
        if (b->range > texel_max_bytes(ctx, type))
            return CTX_FAIL(ctx, VKNMT_ERR_LIMIT,
                            "a texel region of %llu bytes exceeds the device's maxTexelBufferElements (%llu)",
                            (unsigned long long)b->range, (unsigned long long)ctx->caps.max_texel_buffer_elements);
    }
    *elem_off = (uint32_t)((first - b->off) / 4);
    if ((first - b->off) / 4 > UINT32_MAX)
        return CTX_FAIL(ctx, VKNMT_ERR_LIMIT, "offset too large for a 32-bit index");
    return VKNMT_OK;
}
