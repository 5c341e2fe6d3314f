/* The Vulkan instance, the validation layer, and what each device is. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define VALIDATION_LAYER "VK_LAYER_KHRONOS_validation"

const char *vknmt_device_type_name(vknmt_device_type type)
{
    switch (type) {
    case VKNMT_DEVICE_DISCRETE: return "discrete";
    case VKNMT_DEVICE_INTEGRATED: return "integrated";
    case VKNMT_DEVICE_VIRTUAL: return "virtual";
    case VKNMT_DEVICE_CPU: return "cpu";
    default: return "other";
    }
}

const char *vknmt_vendor_name(uint32_t vendor_id)
{
    switch (vendor_id) {
    case 0x1002: return "AMD";
    case 0x1010: return "ImgTec";
    case 0x106B: return "Apple";
    case 0x10DE: return "NVIDIA";
    case 0x13B5: return "ARM";
    case 0x14E4: return "Broadcom";
    case 0x5143: return "Qualcomm";
    case 0x8086: return "Intel";
    case 0x10005: return "Mesa";
    default: return "unknown";
    }
}

void vknmt_driver_version_format(uint32_t vendor_id, uint32_t v, char *out, size_t out_size)
{
    if (vendor_id == 0x10DE) /* NVIDIA packs 10.8.8.6 bits */
        snprintf(out, out_size, "%u.%u.%u.%u", v >> 22, (v >> 14) & 0xff, (v >> 6) & 0xff, v & 0x3f);
    else
        snprintf(out, out_size, "%u.%u.%u", VK_API_VERSION_MAJOR(v), VK_API_VERSION_MINOR(v),
                 VK_API_VERSION_PATCH(v));
}

static VKAPI_ATTR VkBool32 VKAPI_CALL on_validation(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                   VkDebugUtilsMessageTypeFlagsEXT types,
                                                   const VkDebugUtilsMessengerCallbackDataEXT *data,
                                                   void *user)
{
    (void)severity;
    (void)types;
    vknmt_instance *inst = user;
    inst->validation_count++;
    snprintf(inst->validation_last, sizeof(inst->validation_last), "%s",
                 data && data->pMessage ? data->pMessage : "(no text)");
    return VK_FALSE;
}

static bool has_layer(const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0)
        return false;
    VkLayerProperties *props = calloc(n, sizeof(*props));
    if (!props)
        return false;
    bool found = false;
    if (vkEnumerateInstanceLayerProperties(&n, props) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++)
            found |= strcmp(props[i].layerName, name) == 0;
    free(props);
    return found;
}

static bool has_instance_extension(const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateInstanceExtensionProperties(NULL, &n, NULL) != VK_SUCCESS || n == 0)
        return false;
    VkExtensionProperties *props = calloc(n, sizeof(*props));
    if (!props)
        return false;
    bool found = false;
    if (vkEnumerateInstanceExtensionProperties(NULL, &n, props) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++)
            found |= strcmp(props[i].extensionName, name) == 0;
    free(props);
    return found;
}

bool vknmt_device_has_extension(VkPhysicalDevice phys, const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateDeviceExtensionProperties(phys, NULL, &n, NULL) != VK_SUCCESS || n == 0)
        return false;
    VkExtensionProperties *props = calloc(n, sizeof(*props));
    if (!props)
        return false;
    bool found = false;
    if (vkEnumerateDeviceExtensionProperties(phys, NULL, &n, props) == VK_SUCCESS)
        for (uint32_t i = 0; i < n; i++)
            found |= strcmp(props[i].extensionName, name) == 0;
    free(props);
    return found;
}

static vknmt_device_type map_type(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return VKNMT_DEVICE_DISCRETE;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return VKNMT_DEVICE_INTEGRATED;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return VKNMT_DEVICE_VIRTUAL;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return VKNMT_DEVICE_CPU;
    default: return VKNMT_DEVICE_OTHER;
    }
}

static void read_info(VkPhysicalDevice phys, uint32_t index, vknmt_device_info *info)
{
    VkPhysicalDeviceProperties props;
    vkGetPhysicalDeviceProperties(phys, &props);
    bool v12 = props.apiVersion >= VK_API_VERSION_1_2;

    VkPhysicalDeviceDriverProperties driver = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    VkPhysicalDeviceSubgroupProperties subgroup = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceProperties2 props2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2,
                                          .pNext = &subgroup};
    if (v12 || vknmt_device_has_extension(phys, VK_KHR_DRIVER_PROPERTIES_EXTENSION_NAME))
        subgroup.pNext = &driver;
    vkGetPhysicalDeviceProperties2(phys, &props2);

    VkPhysicalDeviceShaderFloat16Int8Features f16 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
    VkPhysicalDeviceFeatures2 feats = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
    if (v12 || vknmt_device_has_extension(phys, VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME))
        feats.pNext = &f16;
    vkGetPhysicalDeviceFeatures2(phys, &feats);

    VkPhysicalDeviceMemoryProperties mem;
    vkGetPhysicalDeviceMemoryProperties(phys, &mem);

    memset(info, 0, sizeof(*info));
    info->index = index;
    snprintf(info->name, sizeof(info->name), "%s", props.deviceName);
    info->type = map_type(props.deviceType);
    info->vendor_id = props.vendorID;
    info->device_id = props.deviceID;
    snprintf(info->driver_name, sizeof(info->driver_name), "%s", driver.driverName);
    snprintf(info->driver_info, sizeof(info->driver_info), "%s", driver.driverInfo);
    info->driver_version = props.driverVersion;
    info->api_version = props.apiVersion;
    info->heap_count = mem.memoryHeapCount < VKNMT_MAX_HEAPS ? mem.memoryHeapCount : VKNMT_MAX_HEAPS;
    for (uint32_t i = 0; i < info->heap_count; i++) {
        info->heap_bytes[i] = mem.memoryHeaps[i].size;
        info->heap_device_local[i] = mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT;
    }
    info->subgroup_size = subgroup.subgroupSize;
    info->shared_memory_bytes = props.limits.maxComputeSharedMemorySize;
    info->fp16 = f16.shaderFloat16;
    info->int8 = f16.shaderInt8;
}

bool vknmt_cpu_inline_env(void) { return getenv("LP_NUM_THREADS") || setenv("LP_NUM_THREADS", "0", 0) == 0; }

vknmt_status vknmt_instance_create(const vknmt_instance_options *options, vknmt_instance **out)
{
    *out = NULL;
    vknmt_instance *inst = calloc(1, sizeof(*inst));
    if (!inst)
        return VKNMT_ERR_OOM_HOST;
    *out = inst; /* the caller reads the message from it even on failure */

    if (options->cpu_inline && !vknmt_cpu_inline_env())
        return vknmt_fail(inst->err, sizeof(inst->err), VKNMT_ERR_OOM_HOST, "cannot set LP_NUM_THREADS");

    VkResult r = volkInitialize();
    if (r != VK_SUCCESS)
        return vknmt_fail(inst->err, sizeof(inst->err), VKNMT_ERR_NO_DEVICE,
                          "no Vulkan loader found (install libvulkan1 and a driver, e.g. "
                          "mesa-vulkan-drivers for the CPU)");

    uint32_t loader = volkGetInstanceVersion();
    uint32_t api = loader >= VK_API_VERSION_1_3 ? VK_API_VERSION_1_3
                 : loader >= VK_API_VERSION_1_2 ? VK_API_VERSION_1_2 : VK_API_VERSION_1_1;
    if (loader < VK_API_VERSION_1_1)
        return vknmt_fail(inst->err, sizeof(inst->err), VKNMT_ERR_NO_DEVICE,
                          "the Vulkan loader is older than 1.1");

    const char *layers[1];
    uint32_t layer_count = 0;
    const char *exts[2];
    uint32_t ext_count = 0;
    VkInstanceCreateFlags flags = 0;
    if (options && options->validation && has_layer(VALIDATION_LAYER) &&
        has_instance_extension(VK_EXT_DEBUG_UTILS_EXTENSION_NAME)) {
        layers[layer_count++] = VALIDATION_LAYER;
        exts[ext_count++] = VK_EXT_DEBUG_UTILS_EXTENSION_NAME;
        inst->validation = true;
    }
    if (has_instance_extension(VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME)) {
        exts[ext_count++] = VK_KHR_PORTABILITY_ENUMERATION_EXTENSION_NAME;
        flags |= VK_INSTANCE_CREATE_ENUMERATE_PORTABILITY_BIT_KHR;
    }

    VkApplicationInfo app = {.sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
                             .pApplicationName = "vknmt",
                             .applicationVersion = VK_MAKE_API_VERSION(0, 0, 1, 0),
                             .pEngineName = "vknmt",
                             .apiVersion = api};
    VkDebugUtilsMessengerCreateInfoEXT dbg = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = on_validation,
        .pUserData = inst};
    VkInstanceCreateInfo ci = {.sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
                               .pNext = inst->validation ? &dbg : NULL,
                               .flags = flags,
                               .pApplicationInfo = &app,
                               .enabledLayerCount = layer_count,
                               .ppEnabledLayerNames = layers,
                               .enabledExtensionCount = ext_count,
                               .ppEnabledExtensionNames = exts};
    r = vkCreateInstance(&ci, NULL, &inst->instance);
    if (r != VK_SUCCESS)
        return vknmt_vk_fail(inst->err, sizeof(inst->err), r, "vkCreateInstance");
    volkLoadInstanceOnly(inst->instance);

    if (inst->validation) {
        r = vkCreateDebugUtilsMessengerEXT(inst->instance, &dbg, NULL, &inst->messenger);
        if (r != VK_SUCCESS)
            return vknmt_vk_fail(inst->err, sizeof(inst->err), r, "vkCreateDebugUtilsMessengerEXT");
    }

    uint32_t n = 0;
    r = vkEnumeratePhysicalDevices(inst->instance, &n, NULL);
    if (r != VK_SUCCESS)
        return vknmt_vk_fail(inst->err, sizeof(inst->err), r, "vkEnumeratePhysicalDevices");
    if (n == 0)
        return vknmt_fail(inst->err, sizeof(inst->err), VKNMT_ERR_NO_DEVICE,
                          "no Vulkan device found (for the CPU, install mesa-vulkan-drivers)");
    inst->physical = calloc(n, sizeof(*inst->physical));
    inst->infos = calloc(n, sizeof(*inst->infos));
    if (!inst->physical || !inst->infos)
        return VKNMT_ERR_OOM_HOST;
    r = vkEnumeratePhysicalDevices(inst->instance, &n, inst->physical);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE)
        return vknmt_vk_fail(inst->err, sizeof(inst->err), r, "vkEnumeratePhysicalDevices");
    inst->device_count = n;
    for (uint32_t i = 0; i < n; i++)
        read_info(inst->physical[i], i, &inst->infos[i]);
    vknmt_pin_loaded_libraries();
    return VKNMT_OK;
}

void vknmt_instance_destroy(vknmt_instance *inst)
{
    if (!inst)
        return;
    if (inst->messenger)
        vkDestroyDebugUtilsMessengerEXT(inst->instance, inst->messenger, NULL);
    if (inst->instance)
        vkDestroyInstance(inst->instance, NULL);
    free(inst->physical);
    free(inst->infos);
    free(inst);
}

const char *vknmt_instance_errmsg(const vknmt_instance *inst)
{
    return inst ? inst->err : "out of host memory";
}

bool vknmt_instance_validation_enabled(const vknmt_instance *inst) { return inst->validation; }
uint32_t vknmt_instance_validation_count(const vknmt_instance *inst) { return inst->validation_count; }
const char *vknmt_instance_validation_last(const vknmt_instance *inst) { return inst->validation_last; }
uint32_t vknmt_instance_device_count(const vknmt_instance *inst) { return inst->device_count; }

const vknmt_device_info *vknmt_instance_device(const vknmt_instance *inst, uint32_t index)
{
    return index < inst->device_count ? &inst->infos[index] : NULL;
}

static int type_rank(vknmt_device_type t)
{
    switch (t) {
    case VKNMT_DEVICE_DISCRETE: return 0;
    case VKNMT_DEVICE_INTEGRATED: return 1;
    case VKNMT_DEVICE_VIRTUAL: return 2;
    case VKNMT_DEVICE_CPU: return 3;
    default: return 4;
    }
}

static bool contains_nocase(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++) {
        size_t i = 0;
        while (i < n && hay[i] && tolower((unsigned char)hay[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return true;
    }
    return n == 0;
}

vknmt_status vknmt_instance_select(vknmt_instance *inst, const char *spec, uint32_t *index)
{
    const char *source = "--device";
    if (!spec || !*spec) {
        spec = getenv("VKNMT_DEVICE");
        source = "VKNMT_DEVICE";
    }
    if (spec && *spec) {
        char *end = NULL;
        unsigned long i = strtoul(spec, &end, 10);
        if (end && *end == '\0') {
            if (i >= inst->device_count)
                return vknmt_fail(inst->err, sizeof(inst->err), VKNMT_ERR_NO_DEVICE,
                                  "%s %s: no such device (there are %u; see 'vknmt devices')",
                                  source, spec, inst->device_count);
            *index = (uint32_t)i;
            return VKNMT_OK;
        }
        for (uint32_t d = 0; d < inst->device_count; d++)
            if (contains_nocase(inst->infos[d].name, spec)) {
                *index = d;
                return VKNMT_OK;
            }
        return vknmt_fail(inst->err, sizeof(inst->err), VKNMT_ERR_NO_DEVICE,
                          "%s '%s': no device name contains it (see 'vknmt devices')", source, spec);
    }
    uint32_t best = 0;
    for (uint32_t d = 1; d < inst->device_count; d++)
        if (type_rank(inst->infos[d].type) < type_rank(inst->infos[best].type))
            best = d;
    *index = best;
    return VKNMT_OK;
}
