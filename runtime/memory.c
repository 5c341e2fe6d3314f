/* Device memory: a few large vkAllocateMemory blocks, suballocated first-fit.
 * Drivers limit the number of allocations (maxMemoryAllocationCount, 4096 on
 * many GPUs) and each one is slow, so tensors never get their own. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

static vknmt_status span_insert(vknmt_block *b, uint32_t at, vknmt_span s)
{
    if (!vknmt_grow((void **)&b->free, &b->free_cap, b->free_count, sizeof(*b->free)))
        return VKNMT_ERR_OOM_HOST;
    memmove(&b->free[at + 1], &b->free[at], (b->free_count - at) * sizeof(*b->free));
    b->free[at] = s;
    b->free_count++;
    return VKNMT_OK;
}

static void span_remove(vknmt_block *b, uint32_t at)
{
    memmove(&b->free[at], &b->free[at + 1], (b->free_count - at - 1) * sizeof(*b->free));
    b->free_count--;
}

/* Takes `size` bytes aligned to `align` from the block; false if none fit. */
static bool block_take(vknmt_block *b, uint64_t size, uint64_t align, uint64_t *off, vknmt_status *s)
{
    *s = VKNMT_OK;
    for (uint32_t i = 0; i < b->free_count; i++) {
        vknmt_span f = b->free[i];
        uint64_t start = align_up(f.off, align);
        if (start + size > f.off + f.size)
            continue;
        uint64_t tail = f.off + f.size - (start + size);
        if (start > f.off) {
            b->free[i].size = start - f.off; /* keep the head */
            if (tail)
                *s = span_insert(b, i + 1, (vknmt_span){start + size, tail});
        } else if (tail) {
            b->free[i] = (vknmt_span){start + size, tail};
        } else {
            span_remove(b, i);
        }
        if (*s)
            return false;
        *off = start;
        b->used += size;
        return true;
    }
    return false;
}

static vknmt_status block_new(vknmt_context *ctx, uint64_t size, bool dedicated, vknmt_block **out)
{
    if (ctx->block_count >= ctx->caps.max_allocation_count)
        return CTX_FAIL(ctx, VKNMT_ERR_OOM_DEVICE, "device memory: the driver's limit of %u allocations is reached",
                        ctx->caps.max_allocation_count);
    if (ctx->held_bytes + size > ctx->heap_bytes)
        return CTX_FAIL(ctx, VKNMT_ERR_OOM_DEVICE,
                        "device memory: %llu MiB more would exceed the %llu MiB heap (%llu MiB held)",
                        (unsigned long long)(size >> 20), (unsigned long long)(ctx->heap_bytes >> 20),
                        (unsigned long long)(ctx->held_bytes >> 20));
    if (!vknmt_grow((void **)&ctx->blocks, &ctx->block_cap, ctx->block_count, sizeof(*ctx->blocks)))
        return VKNMT_ERR_OOM_HOST;
    vknmt_block *b = calloc(1, sizeof(*b));
    if (!b)
        return VKNMT_ERR_OOM_HOST;
    VkMemoryAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
                               .allocationSize = size,
                               .memoryTypeIndex = ctx->memory_type};
    VkResult r = vkAllocateMemory(ctx->device, &ai, NULL, &b->memory);
    if (r != VK_SUCCESS) {
        free(b);
        vknmt_status s = CTX_VK(ctx, r, "vkAllocateMemory");
        if (s == VKNMT_ERR_OOM_DEVICE || s == VKNMT_ERR_OOM_HOST)
            return CTX_FAIL(ctx, VKNMT_ERR_OOM_DEVICE, "device memory: the driver refused a block of %llu MiB (%s)",
                            (unsigned long long)(size >> 20), vknmt_vk_result_name(r));
        return s;
    }
    if (ctx->caps.unified_memory) {
        void *p = NULL;
        r = vkMapMemory(ctx->device, b->memory, 0, VK_WHOLE_SIZE, 0, &p);
        if (r != VK_SUCCESS) {
            vkFreeMemory(ctx->device, b->memory, NULL);
            free(b);
            return CTX_VK(ctx, r, "vkMapMemory");
        }
        b->mapped = p;
    }
    b->size = size;
    b->dedicated = dedicated;
    vknmt_status s = span_insert(b, 0, (vknmt_span){0, size});
    if (s) {
        vkFreeMemory(ctx->device, b->memory, NULL);
        free(b);
        return s;
    }
    ctx->blocks[ctx->block_count++] = b;
    ctx->held_bytes += size;
    if (ctx->held_bytes > ctx->peak_bytes)
        ctx->peak_bytes = ctx->held_bytes;
    *out = b;
    return VKNMT_OK;
}

vknmt_status vknmt_mem_alloc(vknmt_context *ctx, const VkMemoryRequirements *req, vknmt_mem_slot *out)
{
    memset(out, 0, sizeof(*out));
    if (!(req->memoryTypeBits & (1u << ctx->memory_type)))
        return CTX_FAIL(ctx, VKNMT_ERR_UNSUPPORTED, "buffer cannot live in the chosen memory type");
    if (req->size > ctx->caps.max_allocation_bytes)
        return CTX_FAIL(ctx, VKNMT_ERR_OOM_DEVICE,
                        "device memory: %llu bytes exceed maxMemoryAllocationSize (%llu)",
                        (unsigned long long)req->size, (unsigned long long)ctx->caps.max_allocation_bytes);
    uint64_t align = req->alignment ? req->alignment : 1;
    vknmt_status s;
    uint64_t off;
    for (uint32_t i = 0; i < ctx->block_count; i++) {
        vknmt_block *b = ctx->blocks[i];
        if (b->dedicated)
            continue;
        if (block_take(b, req->size, align, &off, &s)) {
            *out = (vknmt_mem_slot){b, off, req->size};
            return VKNMT_OK;
        }
        if (s)
            return s;
    }
    bool dedicated = req->size > ctx->block_bytes;
    vknmt_block *b = NULL;
    s = block_new(ctx, dedicated ? req->size : ctx->block_bytes, dedicated, &b);
    if (s)
        return s;
    if (!block_take(b, req->size, align, &off, &s))
        return s ? s : CTX_FAIL(ctx, VKNMT_ERR_OOM_DEVICE, "device memory: a new block could not hold the request");
    *out = (vknmt_mem_slot){b, off, req->size};
    return VKNMT_OK;
}

static void block_release(vknmt_context *ctx, uint32_t index)
{
    vknmt_block *b = ctx->blocks[index];
    if (b->mapped)
        vkUnmapMemory(ctx->device, b->memory);
    vkFreeMemory(ctx->device, b->memory, NULL);
    ctx->held_bytes -= b->size;
    free(b->free);
    free(b);
    ctx->blocks[index] = ctx->blocks[--ctx->block_count];
}

void vknmt_mem_free(vknmt_context *ctx, vknmt_mem_slot *slot)
{
    vknmt_block *b = slot->block;
    if (!b)
        return;
    uint32_t at = 0;
    while (at < b->free_count && b->free[at].off < slot->off)
        at++;
    bool merge_prev = at > 0 && b->free[at - 1].off + b->free[at - 1].size == slot->off;
    bool merge_next = at < b->free_count && slot->off + slot->size == b->free[at].off;
    if (merge_prev && merge_next) {
        b->free[at - 1].size += slot->size + b->free[at].size;
        span_remove(b, at);
    } else if (merge_prev) {
        b->free[at - 1].size += slot->size;
    } else if (merge_next) {
        b->free[at].off = slot->off;
        b->free[at].size += slot->size;
    } else if (span_insert(b, at, (vknmt_span){slot->off, slot->size}) != VKNMT_OK) {
        /* Out of host memory while freeing: the range is leaked until the
         * context is destroyed, which is safe. */
    }
    b->used -= slot->size;
    if (b->dedicated && b->used == 0)
        for (uint32_t i = 0; i < ctx->block_count; i++)
            if (ctx->blocks[i] == b) {
                block_release(ctx, i);
                break;
            }
    memset(slot, 0, sizeof(*slot));
}

void vknmt_mem_destroy_all(vknmt_context *ctx)
{
    while (ctx->block_count)
        block_release(ctx, ctx->block_count - 1);
    free(ctx->blocks);
    ctx->blocks = NULL;
    ctx->block_cap = 0;
}
