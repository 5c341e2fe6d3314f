/* Compute pipelines, created lazily from the embedded SPIR-V, one per kernel
 * and set of specialization constants, through a pipeline cache that is
 * persisted between runs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

static vknmt_status make_dirs(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++)
        if (*p == '/') {
            *p = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return VKNMT_ERR_IO;
            *p = '/';
        }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return VKNMT_ERR_IO;
    return VKNMT_OK;
}

/* Reads the cache file if its header names this very device and driver;
 * anything else (stale, truncated, corrupt) is ignored. */
static void *load_cache(vknmt_context *ctx, size_t *size)
{
    *size = 0;
    FILE *f = fopen(ctx->cache_path, "rb");
    if (!f)
        return NULL;
    void *data = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0)
        n = ftell(f);
    if (n >= 32 && n < (64l << 20) && fseek(f, 0, SEEK_SET) == 0 && (data = malloc((size_t)n)) &&
        fread(data, 1, (size_t)n, f) == (size_t)n) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(ctx->phys, &p);
        const uint8_t *h = data;
        uint32_t hsize, version, vendor, device;
        memcpy(&hsize, h, 4);
        memcpy(&version, h + 4, 4);
        memcpy(&vendor, h + 8, 4);
        memcpy(&device, h + 12, 4);
        if (hsize >= 32 && hsize <= (uint32_t)n && version == VK_PIPELINE_CACHE_HEADER_VERSION_ONE &&
            vendor == p.vendorID && device == p.deviceID &&
            memcmp(h + 16, p.pipelineCacheUUID, VK_UUID_SIZE) == 0) {
            fclose(f);
            *size = (size_t)n;
            return data;
        }
    }
    free(data);
    fclose(f);
    return NULL;
}

vknmt_status vknmt_pipeline_cache_open(vknmt_context *ctx, const char *dir)
{
    char base[700] = "";
    if (dir) {
        snprintf(base, sizeof(base), "%s", dir);
    } else {
        const char *xdg = getenv("XDG_CACHE_HOME");
        const char *home = getenv("HOME");
        if (xdg && *xdg)
            snprintf(base, sizeof(base), "%s/vknmt", xdg);
        else if (home && *home)
            snprintf(base, sizeof(base), "%s/.cache/vknmt", home);
    }
    ctx->cache_path[0] = '\0';
    void *data = NULL;
    size_t size = 0;
    if (base[0]) {
        VkPhysicalDeviceProperties p;
        vkGetPhysicalDeviceProperties(ctx->phys, &p);
        char uuid[2 * VK_UUID_SIZE + 1];
        for (unsigned i = 0; i < VK_UUID_SIZE; i++)
            snprintf(uuid + 2 * i, 3, "%02x", p.pipelineCacheUUID[i]);
        snprintf(ctx->cache_path, sizeof(ctx->cache_path), "%s/pipelines-%04x-%04x-%s.bin", base, p.vendorID,
                 p.deviceID, uuid);
        data = load_cache(ctx, &size);
    }
    VkPipelineCacheCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO,
                                    .initialDataSize = size,
                                    .pInitialData = data};
    VkResult r = vkCreatePipelineCache(ctx->device, &ci, NULL, &ctx->pipeline_cache);
    if (r != VK_SUCCESS && data) { /* the driver disliked the data: start empty */
        ci.initialDataSize = 0;
        ci.pInitialData = NULL;
        size = 0;
        r = vkCreatePipelineCache(ctx->device, &ci, NULL, &ctx->pipeline_cache);
    }
    free(data);
    ctx->cache_loaded_bytes = size;
    if (r != VK_SUCCESS)
        return CTX_VK(ctx, r, "vkCreatePipelineCache");
    return VKNMT_OK;
}

/* Writes the cache atomically (temporary file, then rename); a failure only
 * costs the next run its warm start. */
static void save_cache(vknmt_context *ctx)
{
    if (!ctx->cache_path[0] || !ctx->pipeline_cache)
        return;
    size_t n = 0;
    if (vkGetPipelineCacheData(ctx->device, ctx->pipeline_cache, &n, NULL) != VK_SUCCESS || n == 0 ||
        n == ctx->cache_loaded_bytes)
        return;
    void *data = malloc(n);
    if (!data)
        return;
    char dir[1024], tmp[1100];
    snprintf(dir, sizeof(dir), "%s", ctx->cache_path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = '\0';
    snprintf(tmp, sizeof(tmp), "%s.%ld.tmp", ctx->cache_path, (long)getpid());
    if (vkGetPipelineCacheData(ctx->device, ctx->pipeline_cache, &n, data) == VK_SUCCESS &&
        (!slash || make_dirs(dir) == VKNMT_OK)) {
        FILE *f = fopen(tmp, "wb");
        if (f) {
            bool ok = fwrite(data, 1, n, f) == n;
            ok &= fclose(f) == 0;
            if (!ok || rename(tmp, ctx->cache_path) != 0)
                remove(tmp);
        }
    }
    free(data);
}

void vknmt_pipelines_destroy(vknmt_context *ctx)
{
    save_cache(ctx);
    for (uint32_t k = 0; k < ctx->kernel_count; k++) {
        vknmt_kernel_state *ks = &ctx->kernels[k];
        for (vknmt_pipeline *p = ks->variants, *next; p; p = next) {
            next = p->next;
            vkDestroyPipeline(ctx->device, p->pipeline, NULL);
            free(p);
        }
        ks->variants = NULL;
        if (ks->layout)
            vkDestroyPipelineLayout(ctx->device, ks->layout, NULL);
        if (ks->set_layout)
            vkDestroyDescriptorSetLayout(ctx->device, ks->set_layout, NULL);
        ks->layout = VK_NULL_HANDLE;
        ks->set_layout = VK_NULL_HANDLE;
    }
    free(ctx->kernels);
    ctx->kernels = NULL;
    ctx->kernel_count = ctx->kernel_cap = 0;
    if (ctx->pipeline_cache)
        vkDestroyPipelineCache(ctx->device, ctx->pipeline_cache, NULL);
    ctx->pipeline_cache = VK_NULL_HANDLE;
}

static vknmt_status make_layout(vknmt_context *ctx, vknmt_kernel_state *ks)
{
    const vknmt_kernel_desc *d = ks->desc;
    VkDescriptorSetLayoutBinding b[VKNMT_MAX_BINDINGS];
    for (uint32_t i = 0; i < d->binding_count; i++)
        b[i] = (VkDescriptorSetLayoutBinding){
            .binding = i,
            .descriptorType = d->bindings[i] == VKNMT_BIND_SSBO ? VK_DESCRIPTOR_TYPE_STORAGE_BUFFER
                                                                : VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER,
            .descriptorCount = 1,
            .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT};
    VkDescriptorSetLayoutCreateInfo sci = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                           .bindingCount = d->binding_count,
                                           .pBindings = b};
    VkResult r = vkCreateDescriptorSetLayout(ctx->device, &sci, NULL, &ks->set_layout);
    if (r != VK_SUCCESS)
        return CTX_VK(ctx, r, "vkCreateDescriptorSetLayout");
    VkPushConstantRange pc = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = d->push_bytes};
    VkPipelineLayoutCreateInfo lci = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
                                      .setLayoutCount = 1,
                                      .pSetLayouts = &ks->set_layout,
                                      .pushConstantRangeCount = d->push_bytes ? 1 : 0,
                                      .pPushConstantRanges = &pc};
    r = vkCreatePipelineLayout(ctx->device, &lci, NULL, &ks->layout);
    if (r != VK_SUCCESS)
        return CTX_VK(ctx, r, "vkCreatePipelineLayout");
    return VKNMT_OK;
}

/* Storage and texel bindings of k. */
static void kernel_binding_counts(const vknmt_kernel_desc *k, uint32_t *storage, uint32_t *texel)
{
    *storage = *texel = 0;
    for (uint32_t i = 0; i < k->binding_count && i < VKNMT_MAX_BINDINGS; i++)
        if (k->bindings[i] == VKNMT_BIND_SSBO)
            (*storage)++;
        else
            (*texel)++;
}

bool vknmt_kernel_fits(const vknmt_caps *caps, const vknmt_kernel_desc *k)
{
    uint32_t storage, texel;
    kernel_binding_counts(k, &storage, &texel);
    return storage <= caps->max_storage_buffers && texel <= caps->max_texel_buffers;
}

vknmt_status vknmt_kernel_state_get(vknmt_context *ctx, const vknmt_kernel_desc *k, vknmt_kernel_state **out)
{
    /* A linear scan: a model uses a few dozen kernels. */
    for (uint32_t i = 0; i < ctx->kernel_count; i++)
        if (ctx->kernels[i].desc == k) {
            *out = &ctx->kernels[i];
            return VKNMT_OK;
        }
    if (k->binding_count > VKNMT_MAX_BINDINGS || k->spec_count > VKNMT_MAX_SPEC || k->push_bytes > 128)
        return CTX_FAIL(ctx, VKNMT_ERR_USAGE, "kernel %s: interface over the runtime's limits", k->name);
    /* once per kernel: its interface is fixed, and so are the device's limits */
    if (!vknmt_kernel_fits(&ctx->caps, k)) {
        uint32_t storage, texel;
        kernel_binding_counts(k, &storage, &texel);
        return CTX_FAIL(ctx, VKNMT_ERR_UNSUPPORTED,
                        "kernel %s binds %u storage and %u texel buffers; the device allows %u and %u a stage", k->name,
                        storage, texel, ctx->caps.max_storage_buffers, ctx->caps.max_texel_buffers);
    }
    if (!vknmt_grow((void **)&ctx->kernels, &ctx->kernel_cap, ctx->kernel_count, sizeof(*ctx->kernels)))
        return VKNMT_ERR_OOM_HOST;
    vknmt_kernel_state *ks = &ctx->kernels[ctx->kernel_count];
    memset(ks, 0, sizeof(*ks));
    ks->desc = k;
    vknmt_status s = make_layout(ctx, ks);
    if (s)
        return s;
    ctx->kernel_count++;
    *out = ks;
    return VKNMT_OK;
}

vknmt_status vknmt_pipeline_get(vknmt_context *ctx, vknmt_kernel_state *ks, const uint32_t *spec,
                                VkPipeline *pipeline)
{
    const vknmt_kernel_desc *d = ks->desc;
    uint32_t values[VKNMT_MAX_SPEC] = {0};
    memcpy(values, spec, d->spec_count * sizeof(uint32_t));
    for (vknmt_pipeline *p = ks->variants; p; p = p->next)
        if (memcmp(p->spec, values, sizeof(values)) == 0) {
            *pipeline = p->pipeline;
            return VKNMT_OK;
        }
    vknmt_pipeline *p = calloc(1, sizeof(*p));
    if (!p)
        return VKNMT_ERR_OOM_HOST;
    memcpy(p->spec, values, sizeof(values));
    VkShaderModuleCreateInfo mci = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
                                    .codeSize = *d->code_size,
                                    .pCode = d->code};
    VkShaderModule module;
    VkResult r = vkCreateShaderModule(ctx->device, &mci, NULL, &module);
    if (r != VK_SUCCESS) {
        free(p);
        return CTX_VK(ctx, r, "vkCreateShaderModule");
    }
    VkSpecializationMapEntry entries[VKNMT_MAX_SPEC];
    for (uint32_t i = 0; i < d->spec_count; i++)
        entries[i] = (VkSpecializationMapEntry){.constantID = i, .offset = 4 * i, .size = 4};
    VkSpecializationInfo si = {.mapEntryCount = d->spec_count,
                               .pMapEntries = entries,
                               .dataSize = 4 * d->spec_count,
                               .pData = values};
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                  .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = module,
                  .pName = "main",
                  .pSpecializationInfo = d->spec_count ? &si : NULL},
        .layout = ks->layout};
    r = vkCreateComputePipelines(ctx->device, ctx->pipeline_cache, 1, &ci, NULL, &p->pipeline);
    vkDestroyShaderModule(ctx->device, module, NULL);
    if (r != VK_SUCCESS) {
        free(p);
        return CTX_VK(ctx, r, "vkCreateComputePipelines");
    }
    p->next = ks->variants;
    ks->variants = p;
    *pipeline = p->pipeline;
    return VKNMT_OK;
}
