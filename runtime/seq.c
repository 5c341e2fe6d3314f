/* The recorder: many dispatches in one command buffer, barriers only where a
 * hazard exists, one fenced submit, GPU timestamps per region and kernel. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define SETS_PER_POOL 512
#define QUERY_CAP 8192

typedef struct access_rec {
    const vknmt_buffer *buf;
    uint64_t off, end;
    bool write;
} access_rec;

typedef struct region_rec {
    char name[64];
    uint32_t q_begin, q_end;
    double ms;
} region_rec;

typedef struct prof_rec {
    uint32_t kernel; /* index into ctx->kernels (which may move when it grows) */
    uint32_t q_begin;
} prof_rec;

struct vknmt_seq {
    vknmt_context *ctx; /* borrowed */
    VkCommandPool pool;
    VkCommandBuffer cmd;
    VkFence fence;
    VkDescriptorPool *dpools; /* owned */
    uint32_t dpool_count, dpool_cap, dpool_current;
    access_rec *acc;          /* owned: accesses since the last barrier */
    uint32_t acc_count, acc_cap;
    VkQueryPool qpool;        /* VK_NULL_HANDLE without timestamps */
    uint32_t q_used;
    region_rec *regions;      /* owned */
    uint32_t region_count, region_cap;
    int open_region;
    prof_rec *prof;           /* owned */
    uint32_t prof_count, prof_cap;
    bool recording;
    vknmt_seq_stats stats;
};

vknmt_status vknmt_seq_create(vknmt_context *ctx, vknmt_seq **out)
{
    *out = NULL;
    vknmt_seq *seq = calloc(1, sizeof(*seq));
    if (!seq)
        return VKNMT_ERR_OOM_HOST;
    seq->ctx = ctx;
    seq->open_region = -1;
    VkCommandPoolCreateInfo pci = {.sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
                                   .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
                                   .queueFamilyIndex = ctx->queue_family};
    VkResult r = vkCreateCommandPool(ctx->device, &pci, NULL, &seq->pool);
    vknmt_status s;
    if (r != VK_SUCCESS) {
        s = CTX_VK(ctx, r, "vkCreateCommandPool");
        goto fail;
    }
    VkCommandBufferAllocateInfo cai = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
                                       .commandPool = seq->pool,
                                       .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
                                       .commandBufferCount = 1};
    r = vkAllocateCommandBuffers(ctx->device, &cai, &seq->cmd);
    if (r != VK_SUCCESS) {
        s = CTX_VK(ctx, r, "vkAllocateCommandBuffers");
        goto fail;
    }
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    r = vkCreateFence(ctx->device, &fci, NULL, &seq->fence);
    if (r != VK_SUCCESS) {
        s = CTX_VK(ctx, r, "vkCreateFence");
        goto fail;
    }
    if (ctx->caps.timestamps) {
        VkQueryPoolCreateInfo qci = {.sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
                                     .queryType = VK_QUERY_TYPE_TIMESTAMP,
                                     .queryCount = QUERY_CAP};
        r = vkCreateQueryPool(ctx->device, &qci, NULL, &seq->qpool);
        if (r != VK_SUCCESS) {
            s = CTX_VK(ctx, r, "vkCreateQueryPool");
            goto fail;
        }
    }
    *out = seq;
    return VKNMT_OK;
fail:
    vknmt_seq_destroy(seq);
    return s;
}

void vknmt_seq_destroy(vknmt_seq *seq)
{
    if (!seq)
        return;
    VkDevice dev = seq->ctx->device;
    /* vknmt_seq_submit waits for its work, so nothing is in flight here. */
    if (seq->fence)
        vkDestroyFence(dev, seq->fence, NULL);
    for (uint32_t i = 0; i < seq->dpool_count; i++)
        vkDestroyDescriptorPool(dev, seq->dpools[i], NULL);
    if (seq->qpool)
        vkDestroyQueryPool(dev, seq->qpool, NULL);
    if (seq->pool)
        vkDestroyCommandPool(dev, seq->pool, NULL);
    free(seq->dpools);
    free(seq->acc);
    free(seq->regions);
    free(seq->prof);
    free(seq);
}

vknmt_context *vknmt_seq_context(vknmt_seq *seq) { return seq->ctx; }
bool vknmt_seq_recording(const vknmt_seq *seq) { return seq->recording; }

vknmt_status vknmt_seq_fail(vknmt_seq *seq, vknmt_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(seq->ctx->err, sizeof(seq->ctx->err), fmt, ap);
    va_end(ap);
    return status;
}
vknmt_seq_stats vknmt_seq_stats_get(const vknmt_seq *seq) { return seq->stats; }

vknmt_status vknmt_seq_begin(vknmt_seq *seq)
{
    vknmt_context *ctx = seq->ctx;
    if (seq->recording)
        return CTX_FAIL(ctx, VKNMT_ERR_USAGE, "sequence already recording");
    VkResult r = vkResetCommandBuffer(seq->cmd, 0);
    if (r != VK_SUCCESS)
        return CTX_VK(ctx, r, "vkResetCommandBuffer");
    for (uint32_t i = 0; i < seq->dpool_count; i++) {
        r = vkResetDescriptorPool(ctx->device, seq->dpools[i], 0);
        if (r != VK_SUCCESS)
            return CTX_VK(ctx, r, "vkResetDescriptorPool");
    }
    seq->dpool_current = 0;
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
                                   .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT};
    r = vkBeginCommandBuffer(seq->cmd, &bi);
    if (r != VK_SUCCESS)
        return CTX_VK(ctx, r, "vkBeginCommandBuffer");
    if (seq->qpool)
        vkCmdResetQueryPool(seq->cmd, seq->qpool, 0, QUERY_CAP);
    /* Host writes (uploads) before the submit are made visible by the submit
     * itself; nothing to wait for at the start. */
    seq->acc_count = 0;
    seq->q_used = 0;
    seq->region_count = 0;
    seq->open_region = -1;
    seq->prof_count = 0;
    seq->stats = (vknmt_seq_stats){0};
    seq->recording = true;
    return VKNMT_OK;
}

/* The commands of a sequence: dispatches and buffer fills (transfers). */
#define SEQ_STAGES (VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT)
#define SEQ_ACCESS (VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT)

static void barrier(vknmt_seq *seq)
{
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER, .srcAccessMask = SEQ_ACCESS,
                          .dstAccessMask = SEQ_ACCESS};
    vkCmdPipelineBarrier(seq->cmd, SEQ_STAGES, SEQ_STAGES, 0, 1, &mb, 0, NULL, 0, NULL);
    seq->acc_count = 0;
    seq->stats.barriers++;
}

/* A hazard: this access overlaps an earlier one since the last barrier and
 * at least one of the two writes. */
static bool hazard(const vknmt_seq *seq, const vknmt_binding *b)
{
    bool write = b->access & VKNMT_WRITE;
    uint64_t end = b->hz_off + b->hz_size;
    for (uint32_t i = 0; i < seq->acc_count; i++) {
        const access_rec *a = &seq->acc[i];
        if (a->buf == b->buf && a->off < end && b->hz_off < a->end && (write || a->write))
            return true;
    }
    return false;
}

/* Waits for earlier commands when `b` overlaps what they touch (a write on
 * either side), then notes b's access. */
static vknmt_status note_access(vknmt_seq *seq, const vknmt_binding *b, uint32_t count)
{
    bool conflict = false;
    for (uint32_t i = 0; i < count && !conflict; i++)
        conflict = hazard(seq, &b[i]);
    if (conflict)
        barrier(seq);
    for (uint32_t i = 0; i < count; i++) {
        if (!vknmt_grow((void **)&seq->acc, &seq->acc_cap, seq->acc_count, sizeof(access_rec)))
            return VKNMT_ERR_OOM_HOST;
        seq->acc[seq->acc_count++] =
            (access_rec){b[i].buf, b[i].hz_off, b[i].hz_off + b[i].hz_size, (b[i].access & VKNMT_WRITE) != 0};
    }
    return VKNMT_OK;
}

static vknmt_status alloc_set(vknmt_seq *seq, VkDescriptorSetLayout layout, VkDescriptorSet *set)
{
    vknmt_context *ctx = seq->ctx;
    for (;;) {
        if (seq->dpool_current == seq->dpool_count) {
            if (!vknmt_grow((void **)&seq->dpools, &seq->dpool_cap, seq->dpool_count, sizeof(VkDescriptorPool)))
                return VKNMT_ERR_OOM_HOST;
            VkDescriptorPoolSize sizes[2] = {
                {VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, SETS_PER_POOL * 4},
                {VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, SETS_PER_POOL * 2}};
            VkDescriptorPoolCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO,
                                             .maxSets = SETS_PER_POOL,
                                             .poolSizeCount = ctx->caps.texel_buffers ? 2 : 1,
                                             .pPoolSizes = sizes};
            VkResult r = vkCreateDescriptorPool(ctx->device, &ci, NULL, &seq->dpools[seq->dpool_count]);
            if (r != VK_SUCCESS)
                return CTX_VK(ctx, r, "vkCreateDescriptorPool");
            seq->dpool_count++;
        }
        VkDescriptorSetAllocateInfo ai = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO,
                                          .descriptorPool = seq->dpools[seq->dpool_current],
                                          .descriptorSetCount = 1,
                                          .pSetLayouts = &layout};
        VkResult r = vkAllocateDescriptorSets(ctx->device, &ai, set);
        if (r == VK_SUCCESS)
            return VKNMT_OK;
        if (r != VK_ERROR_OUT_OF_POOL_MEMORY && r != VK_ERROR_FRAGMENTED_POOL)
            return CTX_VK(ctx, r, "vkAllocateDescriptorSets");
        seq->dpool_current++; /* this pool is full: the next one */
    }
}

static void timestamp(vknmt_seq *seq, uint32_t *q)
{
    *q = seq->q_used++;
    vkCmdWriteTimestamp(seq->cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, seq->qpool, *q);
}

vknmt_status vknmt_seq_dispatch(vknmt_seq *seq, const vknmt_dispatch *d)
{
    vknmt_context *ctx = seq->ctx;
    if (!seq->recording)
        return CTX_FAIL(ctx, VKNMT_ERR_USAGE, "dispatch outside vknmt_seq_begin/submit");
    const vknmt_kernel_desc *kd = d->kernel;
    for (uint32_t i = 0; i < kd->binding_count; i++) {
        const vknmt_binding *b = &d->bindings[i];
        bool texel = kd->bindings[i] != VKNMT_BIND_SSBO;
        if (!b->buf || texel != (b->format != 0))
            return CTX_FAIL(ctx, VKNMT_ERR_USAGE, "%s: binding %u does not match the kernel's layout", kd->name, i);
    }
    for (int i = 0; i < 3; i++)
        if (d->groups[i] == 0 || d->groups[i] > 65535)
            return CTX_FAIL(ctx, VKNMT_ERR_LIMIT, "%s: %u workgroups along axis %d", kd->name, d->groups[i], i);
    vknmt_kernel_state *ks;
    VkPipeline pipeline;
    vknmt_status s = vknmt_kernel_state_get(ctx, kd, &ks);
    if (s || (s = vknmt_pipeline_get(ctx, ks, d->spec, &pipeline)))
        return s;
    uint32_t ks_index = (uint32_t)(ks - ctx->kernels);
    VkDescriptorSet set;
    if ((s = alloc_set(seq, ks->set_layout, &set)))
        return s;

    VkWriteDescriptorSet writes[VKNMT_MAX_BINDINGS];
    VkDescriptorBufferInfo infos[VKNMT_MAX_BINDINGS];
    VkBufferView views[VKNMT_MAX_BINDINGS];
    for (uint32_t i = 0; i < kd->binding_count; i++) {
        const vknmt_binding *b = &d->bindings[i];
        writes[i] = (VkWriteDescriptorSet){.sType = VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET,
                                           .dstSet = set,
                                           .dstBinding = i,
                                           .descriptorCount = 1};
        if (kd->bindings[i] == VKNMT_BIND_SSBO) {
            infos[i] = (VkDescriptorBufferInfo){b->buf->buffer, b->off, b->range};
            writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
            writes[i].pBufferInfo = &infos[i];
        } else {
            if ((s = vknmt_buffer_texel_view(b->buf, (VkFormat)b->format, b->off, b->range, &views[i])))
                return s;
            writes[i].descriptorType = VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER;
            writes[i].pTexelBufferView = &views[i];
        }
    }
    vkUpdateDescriptorSets(ctx->device, kd->binding_count, writes, 0, NULL);

    if ((s = note_access(seq, d->bindings, kd->binding_count)))
        return s;

    bool timed = ctx->profile && seq->qpool && seq->q_used + 2 <= QUERY_CAP &&
                 vknmt_grow((void **)&seq->prof, &seq->prof_cap, seq->prof_count, sizeof(prof_rec));
    uint32_t q0 = 0, q1;
    if (timed)
        timestamp(seq, &q0);
    vkCmdBindPipeline(seq->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline);
    vkCmdBindDescriptorSets(seq->cmd, VK_PIPELINE_BIND_POINT_COMPUTE, ks->layout, 0, 1, &set, 0, NULL);
    if (kd->push_bytes)
        vkCmdPushConstants(seq->cmd, ks->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, kd->push_bytes, d->push);
    vkCmdDispatch(seq->cmd, d->groups[0], d->groups[1], d->groups[2]);
    if (timed) {
        timestamp(seq, &q1);
        seq->prof[seq->prof_count++] = (prof_rec){ks_index, q0};
    }
    seq->stats.dispatches++;
    return VKNMT_OK;
}

vknmt_status vknmt_seq_fill(vknmt_seq *seq, vknmt_ref y, uint64_t n, uint32_t word)
{
    vknmt_context *ctx = seq->ctx;
    if (!seq->recording)
        return CTX_FAIL(ctx, VKNMT_ERR_USAGE, "fill: not recording (call vknmt_seq_begin)");
    if (n == 0)
        return CTX_FAIL(ctx, VKNMT_ERR_SHAPE, "fill of 0 floats");
    vknmt_status s = vknmt_region_check(ctx, y, n);
    if (s)
        return s;
    vknmt_binding b = {.buf = y.buf, .access = VKNMT_WRITE, .hz_off = y.off * 4, .hz_size = n * 4};
    if ((s = note_access(seq, &b, 1)))
        return s;
    vkCmdFillBuffer(seq->cmd, y.buf->buffer, y.off * 4, n * 4, word);
    seq->stats.fills++;
    return VKNMT_OK;
}

vknmt_status vknmt_seq_region_begin(vknmt_seq *seq, const char *name)
{
    vknmt_context *ctx = seq->ctx;
    if (!seq->recording || seq->open_region >= 0)
        return CTX_FAIL(ctx, VKNMT_ERR_USAGE, "region '%s': not recording, or a region is open", name);
    if (!seq->qpool)
        return CTX_FAIL(ctx, VKNMT_ERR_UNSUPPORTED, "the device has no timestamps");
    if (seq->q_used + 2 > QUERY_CAP)
        return CTX_FAIL(ctx, VKNMT_ERR_LIMIT, "too many timed regions in one sequence");
    if (!vknmt_grow((void **)&seq->regions, &seq->region_cap, seq->region_count, sizeof(region_rec)))
        return VKNMT_ERR_OOM_HOST;
    region_rec *rr = &seq->regions[seq->region_count];
    snprintf(rr->name, sizeof(rr->name), "%s", name);
    timestamp(seq, &rr->q_begin);
    seq->open_region = (int)seq->region_count++;
    return VKNMT_OK;
}

vknmt_status vknmt_seq_region_end(vknmt_seq *seq)
{
    if (!seq->recording || seq->open_region < 0)
        return CTX_FAIL(seq->ctx, VKNMT_ERR_USAGE, "no open region");
    timestamp(seq, &seq->regions[seq->open_region].q_end);
    seq->open_region = -1;
    return VKNMT_OK;
}

double vknmt_seq_region_ms(const vknmt_seq *seq, const char *name)
{
    double ms = -1;
    for (uint32_t i = 0; i < seq->region_count; i++)
        if (strcmp(seq->regions[i].name, name) == 0)
            ms = (ms < 0 ? 0 : ms) + seq->regions[i].ms;
    return ms;
}

static vknmt_status read_timestamps(vknmt_seq *seq)
{
    vknmt_context *ctx = seq->ctx;
    if (!seq->q_used)
        return VKNMT_OK;
    uint64_t *t = malloc(seq->q_used * sizeof(uint64_t));
    if (!t)
        return VKNMT_ERR_OOM_HOST;
    VkResult r = vkGetQueryPoolResults(ctx->device, seq->qpool, 0, seq->q_used, seq->q_used * sizeof(uint64_t), t,
                                       sizeof(uint64_t), VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT);
    if (r != VK_SUCCESS) {
        free(t);
        return CTX_VK(ctx, r, "vkGetQueryPoolResults");
    }
    double tick_ms = ctx->caps.timestamp_ns * 1e-6;
    for (uint32_t i = 0; i < seq->region_count; i++)
        seq->regions[i].ms = (double)(t[seq->regions[i].q_end] - t[seq->regions[i].q_begin]) * tick_ms;
    for (uint32_t i = 0; i < seq->prof_count; i++) {
        vknmt_kernel_state *ks = &ctx->kernels[seq->prof[i].kernel];
        ks->gpu_ms += (double)(t[seq->prof[i].q_begin + 1] - t[seq->prof[i].q_begin]) * tick_ms;
        ks->calls++;
    }
    free(t);
    return VKNMT_OK;
}

vknmt_status vknmt_seq_submit(vknmt_seq *seq)
{
    vknmt_context *ctx = seq->ctx;
    if (!seq->recording)
        return CTX_FAIL(ctx, VKNMT_ERR_USAGE, "submit without vknmt_seq_begin");
    if (seq->open_region >= 0)
        vknmt_seq_region_end(seq);
    seq->recording = false;
    /* Make every write visible to the host (downloads, mapped reads). */
    VkMemoryBarrier mb = {.sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
                          .srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                          .dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_TRANSFER_READ_BIT};
    vkCmdPipelineBarrier(seq->cmd, SEQ_STAGES, VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1,
                         &mb, 0, NULL, 0, NULL);
    vknmt_status s = vknmt_submit_wait(ctx, seq->cmd, seq->fence);
    if (s)
        return s;
    return read_timestamps(seq);
}

void vknmt_grid_1d(uint64_t groups, uint32_t out[3])
{
    /* 65535 is the smallest maxComputeWorkGroupCount a device may have. */
    uint64_t x = groups < 65535 ? groups : 65535;
    out[0] = (uint32_t)(x ? x : 1);
    out[1] = (uint32_t)((groups + out[0] - 1) / out[0]);
    if (out[1] == 0)
        out[1] = 1;
    out[2] = 1;
}
