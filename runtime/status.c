/* Status names and the one place where VkResult becomes a vknmt_status. */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

const char *vknmt_status_name(vknmt_status s)
{
    switch (s) {
    case VKNMT_OK: return "ok";
    case VKNMT_ERR_USAGE: return "usage error";
    case VKNMT_ERR_SHAPE: return "shape mismatch";
    case VKNMT_ERR_RANGE: return "region outside buffer";
    case VKNMT_ERR_LIMIT: return "over a device limit";
    case VKNMT_ERR_INPUT: return "bad input";
    case VKNMT_ERR_IO: return "I/O error";
    case VKNMT_ERR_DEVICE: return "device error";
    case VKNMT_ERR_NO_DEVICE: return "no device";
    case VKNMT_ERR_DEVICE_LOST: return "device lost";
    case VKNMT_ERR_UNSUPPORTED: return "unsupported by the device";
    case VKNMT_ERR_TIMEOUT: return "device timeout";
    case VKNMT_ERR_OOM_HOST: return "out of host memory";
    case VKNMT_ERR_OOM_DEVICE: return "out of device memory";
    }
    return "unknown status";
}

void vknmt_errorf(char *err, size_t err_size, const char *fmt, ...)
{
    if (!err || !err_size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_size, fmt, ap);
    va_end(ap);
}

vknmt_status vknmt_fail(char *err, size_t n, vknmt_status status, const char *fmt, ...)
{
    if (!err || !n)
        return status;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
    return status;
}

const char *vknmt_vk_result_name(VkResult r)
{
    switch (r) {
#define CASE(x) case x: return #x;
    CASE(VK_SUCCESS)
    CASE(VK_NOT_READY)
    CASE(VK_TIMEOUT)
    CASE(VK_INCOMPLETE)
    CASE(VK_ERROR_OUT_OF_HOST_MEMORY)
    CASE(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    CASE(VK_ERROR_INITIALIZATION_FAILED)
    CASE(VK_ERROR_DEVICE_LOST)
    CASE(VK_ERROR_MEMORY_MAP_FAILED)
    CASE(VK_ERROR_LAYER_NOT_PRESENT)
    CASE(VK_ERROR_EXTENSION_NOT_PRESENT)
    CASE(VK_ERROR_FEATURE_NOT_PRESENT)
    CASE(VK_ERROR_INCOMPATIBLE_DRIVER)
    CASE(VK_ERROR_TOO_MANY_OBJECTS)
    CASE(VK_ERROR_FORMAT_NOT_SUPPORTED)
    CASE(VK_ERROR_FRAGMENTED_POOL)
    CASE(VK_ERROR_OUT_OF_POOL_MEMORY)
    CASE(VK_ERROR_FRAGMENTATION)
#undef CASE
    default: return "VkResult";
    }
}

vknmt_status vknmt_vk_fail(char *err, size_t n, VkResult r, const char *call)
{
    vknmt_status s;
    switch (r) {
    case VK_ERROR_OUT_OF_HOST_MEMORY: s = VKNMT_ERR_OOM_HOST; break;
    case VK_ERROR_OUT_OF_DEVICE_MEMORY:
    case VK_ERROR_OUT_OF_POOL_MEMORY:
    case VK_ERROR_FRAGMENTED_POOL:
    case VK_ERROR_TOO_MANY_OBJECTS: s = VKNMT_ERR_OOM_DEVICE; break;
    case VK_ERROR_DEVICE_LOST: s = VKNMT_ERR_DEVICE_LOST; break;
    case VK_ERROR_INCOMPATIBLE_DRIVER: s = VKNMT_ERR_NO_DEVICE; break;
    case VK_ERROR_FEATURE_NOT_PRESENT:
    case VK_ERROR_EXTENSION_NOT_PRESENT:
    case VK_ERROR_LAYER_NOT_PRESENT:
    case VK_ERROR_FORMAT_NOT_SUPPORTED: s = VKNMT_ERR_UNSUPPORTED; break;
    case VK_TIMEOUT: s = VKNMT_ERR_TIMEOUT; break;
    default: s = VKNMT_ERR_DEVICE; break;
    }
    if (r == VK_ERROR_DEVICE_LOST)
        return vknmt_fail(err, n, s, "%s: the device was lost (driver crash, reset or hang); "
                          "the context cannot be used any more", call);
    return vknmt_fail(err, n, s, "%s failed: %s (%d)", call, vknmt_vk_result_name(r), (int)r);
}
